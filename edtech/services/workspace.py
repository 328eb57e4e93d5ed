"""The Workspace: what every use case is computed over, once, for the app and the command line alike.

A Workspace holds the engine and the scope and computes each shared part lazily and once: the whole
district, the scope's slice, the district-wide ROI analysis, the saved settings. Heavy parts come
from a `Provider`: the command line computes them directly; the app's provider serves them from its
caches (`ui/cache.py`), keyed on the versions of the parts listed in `*_READS` below.

Scope rule (edtech.core.scope): everything is computed on the whole district, then selected for the
scope, so a coordinator's figures are their schools' part of the district's and district comparisons
stay district facts.

The accessors are shaped as the summaries the scale work will keep in the database (per student x
tool x contract-year totals = `roi.metrics.students`, per tool x week active counts = `roi.metrics.weekly`,
per school x tool aggregates = `roi.metrics.schools`), so that work changes their implementation only.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import math
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from edtech.core import rules
from edtech.core.access import SYSTEM, Action, Principal, scope_for
from edtech.core.district import FRAME_COLUMNS, District
from edtech.core.scope import Scope, check_scope, restrict_district
from edtech.feedback import satisfaction
from edtech.roi import engine as roi
from edtech.store import data, summaries

# what each shared part reads (cache keys are built from these; 'table:*' = every table)
DISTRICT_READS = ("table:*",)
WEIGHTS_SETTING_KEY = "roi_weights"
OUTCOME_SETTING_KEY = "roi_outcome_choice"
ROI_TABLES = ("table:schools", "table:students", "table:tools", "table:licenses", "table:usage",
              "table:assessments", "table:devices", "table:pd_sessions")
ROI_READS = (*ROI_TABLES, f"setting:{OUTCOME_SETTING_KEY}")
# the board also reads the survey: satisfaction is an optional part of the score (weight 0 by default)
BOARD_READS = (*ROI_READS, f"setting:{WEIGHTS_SETTING_KEY}", "table:feedback")
# the usage summaries depend on the rows, the contract windows and each student's school
SUMMARY_READS = ("table:usage", "table:licenses", "table:tools", "table:students")
T = TypeVar("T")


DISTRICT_TABLES = tuple(f.name for f in dataclass_fields(District) if f.name in FRAME_COLUMNS)


class DistrictOnDemand(District):
    """The district whose tables are read from the database the first time something asks for them:
    a page reads only the tables its use case needs, and never the raw weekly usage when it reads the
    summaries (edtech.store.summaries), so its memory does not grow with the weekly rows (issue 15)."""

    def __init__(self, engine: Engine | None = None, **frames: Any) -> None:
        # dataclasses.replace (a scope's slice) passes every table and no engine
        self._engine = engine
        self._tables: dict[str, pd.DataFrame | None] = {}
        super().__init__(**{name: frames.get(name) for name in DISTRICT_TABLES}, fixed_as_of=frames.get("fixed_as_of"))

    def _table(self, name: str) -> pd.DataFrame:
        if self._tables.get(name) is None:
            self._tables[name] = data.read_table(self._engine, name)
        return self._tables[name]

    def loaded(self, name: str) -> bool:
        return self._tables.get(name) is not None


def _on_demand(name: str) -> property:
    def get(self: DistrictOnDemand) -> pd.DataFrame:
        return self._table(name)

    def put(self: DistrictOnDemand, value: pd.DataFrame | None) -> None:
        self._tables[name] = value

    return property(get, put)


for _name in DISTRICT_TABLES:
    setattr(DistrictOnDemand, _name, _on_demand(_name))


def load_district_on_demand(engine: Engine) -> District:
    """The district with no table read yet; the as-of date from the summaries' weeks (no scan)."""
    return DistrictOnDemand(engine, fixed_as_of=data.load_district(engine, tables=()).fixed_as_of)


@functools.lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """The source of the rules and engines an analysis comes from: a stored part of older code is not read."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    # the whole package: stored parts (ROI analysis, adoption, at-risk scores…) come from many engines
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def part_token(engine: Engine, reads: tuple[str, ...]) -> str:
    """The data versions of `reads` and the code fingerprint, as one token."""
    versions = data.data_versions(engine)
    key = json.dumps([code_fingerprint(), [(r, versions.get(r, "")) for r in sorted(reads)]])
    return hashlib.sha256(key.encode()).hexdigest()


_LIST_COLUMNS = {"flags": list, "_schools": set}


def frames_to_bytes(frames: dict[str, pd.DataFrame], meta: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        object_columns = {name: [c for c in frame.columns if frame[c].dtype == object] for name, frame in frames.items()}
        archive.writestr("meta.json", json.dumps({**meta, "object_columns": object_columns}, default=str))
        for name, frame in frames.items():
            frame = frame.copy()
            for col in _LIST_COLUMNS:
                if col in frame.columns:
                    # lists keep their order (flags are ordered); sets are written sorted
                    frame[col] = frame[col].map(lambda v: sorted(v) if isinstance(v, set) else
                                                list(v) if isinstance(v, (list, tuple)) else [])
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            archive.writestr(f"{name}.parquet", buffer.getvalue())
    return out.getvalue()


def frames_from_bytes(payload: bytes) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    frames: dict[str, pd.DataFrame] = {}
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        meta = json.loads(archive.read("meta.json"))
        for name in archive.namelist():
            if name.endswith(".parquet"):
                frame = pd.read_parquet(io.BytesIO(archive.read(name)))
                for col in meta["object_columns"].get(name[:-len(".parquet")], []):
                    if col not in _LIST_COLUMNS:  # pandas' own object columns (text read back as str)
                        frame[col] = frame[col].astype(object).where(frame[col].notna(), None)
                for col, kind in _LIST_COLUMNS.items():
                    if col in frame.columns:
                        frame[col] = frame[col].map(lambda v, kind=kind: kind(list(v)) if v is not None else kind())
                frames[name[:-len(".parquet")]] = frame
    return frames, meta


def roi_to_bytes(analysis: RoiAnalysis) -> bytes:
    m = analysis.metrics
    frames = {"tools": m.tools, "schools": m.schools, "students": m.students, "weekly": m.weekly,
              "effects": analysis.effects, "combined": analysis.combined}
    return frames_to_bytes(frames, {"as_of": str(m.as_of), "params": dataclasses.asdict(m.params)})


def roi_from_bytes(payload: bytes) -> RoiAnalysis:
    frames, meta = frames_from_bytes(payload)
    metrics = roi.UsageMetrics(frames["tools"], frames["schools"], frames["students"], frames["weekly"],
                               pd.Timestamp(meta["as_of"]), roi.RoiParams(**meta["params"]))
    return RoiAnalysis(metrics, frames["effects"], frames["combined"])


def board_to_bytes(board: pd.DataFrame) -> bytes:
    return frames_to_bytes({"board": board}, {})


def board_from_bytes(payload: bytes) -> pd.DataFrame:
    return frames_from_bytes(payload)[0]["board"]


@dataclass
class RoiAnalysis:
    """The district-wide heavy part of Tool ROI, computed once per data version."""

    metrics: roi.UsageMetrics
    effects: pd.DataFrame      # every tool x assessment estimate
    combined: pd.DataFrame     # per tool, before scoring


class Provider:
    """Computes a shared part directly (the command line). The app's provider (ui/cache.py) serves each
    part from a cache keyed on (database, part name, versions of `reads`). `stores` = False: the parts are of
    another district than the database's (the roadmap's past months), never read from or written to it."""

    stores = True

    def part(self, engine: Engine, name: str, reads: tuple[str, ...], compute: Callable[[], T]) -> T:
        return compute()


# ---------------------------------------------------------------- saved settings (one reader each)

def normalize_weights(weights: dict[str, Any] | None) -> dict[str, float]:
    """Known keys only, non-negative finite floats, defaults for the missing ones."""
    out = dict(roi.DEFAULT_WEIGHTS)
    for key, value in (weights or {}).items():
        if key in out or key in roi.OPTIONAL_WEIGHTS:  # an optional part is kept only once it has been set
            try:
                number = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(number) and number >= 0:
                out[key] = number
    return out


def load_weights(engine: Engine) -> dict[str, float]:
    """The saved ROI weights (methods.md section 3 defaults when none are saved)."""
    raw = data.load_setting(engine, WEIGHTS_SETTING_KEY, None)
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    return normalize_weights(raw if isinstance(raw, dict) else None)


def load_outcome_choice(engine: Engine) -> dict[str, str]:
    """Outcome assessments the director picked for tools (overrides the subject match)."""
    raw = data.load_setting(engine, OUTCOME_SETTING_KEY, None)
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if isinstance(v, str) and v}


def open_engine(url: str | None = None) -> Engine:
    """The database of `--db URL` (else EDTECH_DATABASE_URL, else the embedded SQLite file), schema ready."""
    engine = data.make_engine(url)
    data.init_db(engine)
    return engine


def school_ids(engine: Engine) -> set[str]:
    """Every school_id in the database (to check a `--school` scope)."""
    return set(data.read_table(engine, "schools")["school_id"])


# ---------------------------------------------------------------- the workspace

class Workspace:
    """Engine + principal + scope + lazily computed shared parts (each computed at most once per Workspace).

    The scope is cut to what the principal may read (`access.scope_for`): a coordinator asking for
    another school's rows gets nothing, whatever the caller passed. Use cases call `require(action)`.
    """

    def __init__(self, engine: Engine, scope: Scope = None, *, principal: Principal = SYSTEM,
                 provider: Provider | None = None) -> None:
        scope = scope_for(principal, scope)
        check_scope(scope)
        self.engine = engine
        self.principal = principal
        self.scope = scope
        self.provider = provider or Provider()

    def require(self, action: Action) -> None:
        self.principal.require(action)

    # -- data
    @cached_property
    def whole(self) -> District:
        """Every school's data (district comparisons and allocations need it even for one school)."""
        return self.provider.part(self.engine, "whole", DISTRICT_READS, lambda: load_district_on_demand(self.engine))

    @cached_property
    def summary(self) -> roi.UsageSummary:
        """The database's usage summaries, brought up to date for the current contract windows first."""
        def read() -> roi.UsageSummary:
            summaries.ensure_fresh(self.engine, self.as_of)
            return roi.UsageSummary(summaries.read_student_tool(self.engine), summaries.read_school_weeks(self.engine))
        return self.provider.part(self.engine, "usage_summary", SUMMARY_READS, read)

    @cached_property
    def usage_weeks(self) -> pd.DataFrame:
        """Per week: usage rows and distinct active students across tools (district-wide)."""
        return self.provider.part(self.engine, "usage_weeks", ("table:usage",), lambda: summaries.read_weeks(self.engine))

    @cached_property
    def district(self) -> District:
        """The scope's slice of the whole district."""
        return restrict_district(self.whole, self.scope)

    @property
    def as_of(self) -> pd.Timestamp:
        return self.whole.as_of

    # -- settings
    @cached_property
    def weights(self) -> dict[str, float]:
        return load_weights(self.engine)

    @cached_property
    def outcome_choice(self) -> dict[str, str]:
        return load_outcome_choice(self.engine)

    # -- ROI
    def compute_roi_analysis(self) -> RoiAnalysis:
        metrics, effect_rows, combined = roi.analyze_district(self.whole, outcome_choice=self.outcome_choice,
                                                              summary=self.summary)
        return RoiAnalysis(metrics, effect_rows, combined)

    @cached_property
    def roi(self) -> RoiAnalysis:
        """District-wide usage metrics, effects and per-tool combined frame (scope-independent)."""
        return self.stored("roi", ROI_READS, self.compute_roi_analysis, roi_to_bytes, roi_from_bytes)

    def stored(self, name: str, reads: tuple[str, ...], compute: Callable[[], T], dump: Callable[[T], bytes],
               load: Callable[[bytes], T]) -> T:
        """A district-wide part kept in the database (`summary_parts`) for exactly these data versions and this
        code, like the ROI analysis: the first process after an import computes and stores it, every later
        process (a cold server, another worker) reads it; within a process the provider's cache serves it.
        `dump`/`load` turn it into bytes and back (`frames_to_bytes` / `frames_from_bytes` for frames)."""
        if not self.provider.stores:
            return self.provider.part(self.engine, name, reads, compute)

        def stored_or_computed() -> T:
            token = part_token(self.engine, reads)
            payload = summaries.load_part(self.engine, name, token)
            if payload is not None:
                try:
                    return load(payload)
                except (ValueError, KeyError, OSError):
                    pass  # unreadable (another library version): computed again below
            value = compute()
            try:
                summaries.save_part(self.engine, name, token, dump(value))
            except OperationalError:
                pass  # the database is busy (an import): the next process computes it again
            return value

        return self.provider.part(self.engine, name, reads, stored_or_computed)

    def shared(self, name: str, reads: tuple[str, ...], compute: Callable[[], T]) -> T:
        """Any other district-wide part (adoption tables, report inputs…): computed once per data version."""
        return self.provider.part(self.engine, name, reads, compute)

    # -- the summaries kept in the database, shaped for the pages (computed from edtech.store.summaries)
    def student_tool_year(self) -> pd.DataFrame:
        """Per student x tool in its contract year: weeks used, minutes, dosage met (the scope's students)."""
        rows = self.roi.metrics.students
        return rows if self.scope is None else rows[rows["school_id"].isin(self.scope)]

    def tool_week_active(self) -> pd.DataFrame:
        """Per tool x week: distinct active students, trailing 4-week active, minutes (district-wide)."""
        return self.roi.metrics.weekly

    def school_tool(self) -> pd.DataFrame:
        """Per school x tool: seats (own + share), users, utilization, dosage, fidelity (the scope's schools)."""
        rows = self.roi.metrics.schools
        return rows if self.scope is None else rows[rows["school_id"].isin(self.scope)]

    def district_board(self, weights: dict[str, float] | None = None) -> pd.DataFrame:
        """Every tool scored on the whole district with `weights` (default: the saved ones, whose board is
        stored like the ROI analysis: a cold page reads it instead of scoring, issue 15)."""
        if weights is None:
            return self.stored("roi_board", BOARD_READS, lambda: self.score_district(self.weights),
                               board_to_bytes, board_from_bytes)
        return self.score_district(normalize_weights(weights))

    def score_district(self, weights: dict[str, float]) -> pd.DataFrame:
        """The district board scored from the ROI analysis and the survey (what `district_board` stores)."""
        rated = satisfaction.attach(self.roi.combined, self.whole.feedback, self.as_of, rules.suppression_threshold())
        return roi.order_scoreboard(roi.score_metrics(rated, weights))

    @cached_property
    def board(self) -> pd.DataFrame:
        """The scoreboard every surface shows: saved weights, district evidence, the scope's own figures."""
        return self.scoped_board(self.district_board())

    def scoped_board(self, district_board: pd.DataFrame) -> pd.DataFrame:
        if self.scope is None:  # the district's own board: the ROI analysis is not read (issue 15)
            return roi.scope_board(district_board, None, None)
        return roi.scope_board(district_board, self.roi.metrics, self.scope)
