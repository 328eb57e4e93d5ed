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

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.core import rules
from edtech.core.access import SYSTEM, Action, Principal, scope_for
from edtech.core.district import District
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


class UsageOnDemand(District):
    """The district without its raw weekly usage: the rows are read from the database the first time
    something asks for `usage` (the at-risk features, a coordinator's slice). Pages that read the
    summaries never do, so their memory does not grow with the weekly rows (issue 15)."""

    def __init__(self, engine: Engine, **frames: Any) -> None:
        self._engine = engine
        self._usage_rows: pd.DataFrame | None = None
        super().__init__(**{**frames, "usage": None})

    @property  # type: ignore[override]
    def usage(self) -> pd.DataFrame:
        if self._usage_rows is None:
            self._usage_rows = data.read_table(self._engine, "usage")
        return self._usage_rows

    @usage.setter
    def usage(self, value: pd.DataFrame | None) -> None:
        self._usage_rows = value


def load_district_on_demand(engine: Engine) -> District:
    """Every table but the raw usage (read on first use), the as-of date from the summaries' weeks."""
    district = data.load_district(engine, usage=False)
    frames = {f: getattr(district, f) for f in district.table_names() if f != "usage"}
    return UsageOnDemand(engine, **frames, fixed_as_of=district.fixed_as_of)


@dataclass
class RoiAnalysis:
    """The district-wide heavy part of Tool ROI, computed once per data version."""

    metrics: roi.UsageMetrics
    effects: pd.DataFrame      # every tool x assessment estimate
    combined: pd.DataFrame     # per tool, before scoring


class Provider:
    """Computes a shared part directly (the command line). The app's provider (ui/cache.py) serves each
    part from a cache keyed on (database, part name, versions of `reads`)."""

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
        return self.provider.part(self.engine, "roi", ROI_READS, self.compute_roi_analysis)

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
        """Every tool scored on the whole district with `weights` (default: the saved ones)."""
        w = self.weights if weights is None else normalize_weights(weights)
        rated = satisfaction.attach(self.roi.combined, self.whole.feedback, self.as_of, rules.suppression_threshold())
        return roi.order_scoreboard(roi.score_metrics(rated, w))

    @cached_property
    def board(self) -> pd.DataFrame:
        """The scoreboard every surface shows: saved weights, district evidence, the scope's own figures."""
        return self.scoped_board(self.district_board())

    def scoped_board(self, district_board: pd.DataFrame) -> pd.DataFrame:
        return roi.scope_board(district_board, self.roi.metrics, self.scope)
