"""Use case "which students need support?" (page `app_pages/at_risk.py`, CLI `risk ...`).

- `evaluate_file`: cross-validated model on any student table file (CLI `risk evaluate`).
- `train_district` / `train_workspace`: student feature table from the database -> evaluation + final model;
  `save_version` stores it (metrics, data fingerprint, model card, skops artifact).
- `feature_table`: the scope's student table, its usage columns from per-student totals the database
  aggregates (`usage_totals`, stored per data version): the weekly rows are never read into memory.
- `score_district`: a stored (or freshly trained) model scores the students with reasons.
- `worklist`: the page's list: the published version scores the whole district once per data and models
  version (bands and reasons are district facts) and the result is stored (`Workspace.stored`, part
  `risk_worklist`: a new server process reads it back), then the scope's rows are selected.
  `risk_facts` (stored): whether there are indicators, the outcome picker's options and the table's
  columns, so the page's first open reads no student table. `train_and_publish`: `demo` and the
  director's first model.
- `bench_risk`: training time on a large sample district; `bench_risk_evaluate`: `risk evaluate`
  on a 30,000-row, 20-feature table beside a plain scikit-learn HGB 5-fold run (the floor).

`READS` names the data parts a trained district model depends on: caches key trained models on
the versions of these parts only, so saving weights, a scenario, a dry-run import or a model
version never retrains.

Stored versions (`edtech.risk.artifact`): skops bytes signed with the server secret (HMAC-SHA256),
read back only when the signature matches and every type is on the exact allowlist of the types our
own candidates produce (never pickle, never a prefix). `publish_version` (director) marks the version
the board report, the worklist and `risk score` use: the most recently published one.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from edtech.core import schema
from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.district import District
from edtech.core.scope import Scope
from edtech.risk import artifact
from edtech.risk import model as risk
from edtech.risk import worklist as worklists
from edtech.services import audit
from edtech.services.workspace import DistrictOnDemand, Workspace, frames_from_bytes, frames_to_bytes
from edtech.store import data
from edtech.store.models import ModelVersion, RiskFlag, Usage

DEFAULT_DISTRICT_TARGET = "off_track_next_term"
# what the command line needs of the risk capability (it imports only services)
DEFAULT_K = risk.DEFAULT_K
RiskInputError = risk.RiskInputError
format_with_range = risk.format_with_range
result_summary = risk.result_summary
ModelArtifactRefused = artifact.ModelArtifactRefused
spec_from_bundle = artifact.spec_from_bundle
NO_PUBLISHED = "no published model version; publish one with python -m edtech risk publish N"
NO_VERSION = "no stored model version; run `python -m edtech risk train --target EXPR` first"
# the tables `student_feature_table` reads (schools: a scope is a set of schools)
READS = ("table:students", "table:indicators", "table:schools", "table:usage", "table:assessments")
# the worklist also depends on which version is published (the `models` token changes on save and publish)
WORKLIST_READS = (*READS, "models")
# the usage totals per student and cohort date: the weekly rows and the indicators' as_of dates
USAGE_TOTALS_READS = ("table:usage", "table:indicators")
# students per IN list when exact sums are taken from the rows (bounded statements on every backend)
_IN_BATCH = 500
Progress = Callable[[float, str], None]


# ------------------------------------------------------------------------------------ use cases
def read_student_file(path: str | Path) -> pd.DataFrame:
    """Any student table (CSV with any delimiter, xlsx, parquet) as text columns."""
    try:
        return data.read_raw_table(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable file = rejected input
        raise risk.RiskInputError(f"cannot read {path}: {exc}") from exc


def evaluate_file(path: str | Path, target: str, *, exclude: list[str] | None = None,
                  audit: list[str] | None = None, k: float = risk.DEFAULT_K, validation: str = "auto",
                  progress: Progress | None = None) -> risk.RiskResult:
    """`risk evaluate`: guards, repeated CV, baselines and fairness on any student table file."""
    table = read_student_file(path)
    return risk.evaluate_risk(table, target, exclude=exclude or [], audit=audit or [], k=k, validation=validation,
                              fit_final=False, progress=progress)


@dataclass
class TrainedRisk:
    """A district model: the evaluation, the student table it came from, and its card."""

    result: risk.RiskResult
    table: pd.DataFrame
    card: str


def district_table(district: District) -> pd.DataFrame:
    """The student feature table of a district held in memory (its weekly usage rows included)."""
    return risk.student_feature_table(district)


# ------------------------------------------------------------------------------------ the feature table
def database_usage_totals(engine: Engine, as_of_values: Iterable[Any]) -> risk.UsageTotals:
    """`risk.usage_totals` of the whole `usage` table, aggregated by the database in one grouped scan (SQLAlchemy
    Core: SQLite and PostgreSQL): per student, for every cohort date and for all rows, the minutes and distinct
    weeks. A student whose minutes are not all whole numbers gets the sum pandas takes over their rows in the
    order the table is read (floating-point sums depend on the order), so the totals equal the reference
    exactly."""
    u = Usage.__table__
    days: list[pd.Timestamp | None] = [None, *(pd.Timestamp(v) for v in as_of_values)]
    columns: list[Any] = [u.c.student_id]
    for i, day in enumerate(days):
        inside = None if day is None else u.c.week_start <= day.date()
        minutes = u.c.minutes if inside is None else sa.case((inside, u.c.minutes))
        week = u.c.week_start if inside is None else sa.case((inside, u.c.week_start))
        fractional = u.c.minutes != sa.cast(u.c.minutes, sa.Integer)
        columns += [sa.func.sum(minutes).label(f"m{i}"), sa.func.count(sa.distinct(week)).label(f"w{i}"),
                    sa.func.max(sa.case((fractional if inside is None else sa.and_(inside, fractional), 1),
                                        else_=0)).label(f"f{i}")]
    with engine.connect() as conn:
        result = conn.execute(select(*columns).group_by(u.c.student_id))
        frame = pd.DataFrame.from_records([tuple(r) for r in result.fetchall()], columns=list(result.keys()))
    if frame.empty:
        return risk.UsageTotals(pd.DataFrame({"student_id": pd.Series(dtype=str), "usage_minutes": pd.Series(dtype=float),
                                              "usage_weeks_active": pd.Series(dtype="int64"),
                                              "as_of": pd.Series(dtype="datetime64[ns]")}), frozenset())
    frame["student_id"] = frame["student_id"].astype(str)
    _exact_fractional_sums(engine, frame, days)
    parts = []
    for i, day in enumerate(days):
        present = frame[frame[f"w{i}"] > 0]
        parts.append(pd.DataFrame({
            "student_id": present["student_id"].to_numpy(), "usage_minutes": present[f"m{i}"].astype("float64").to_numpy(),
            "usage_weeks_active": present[f"w{i}"].astype("int64").to_numpy(),
            "as_of": pd.Series(pd.NaT if day is None else day, index=range(len(present)), dtype="datetime64[ns]")}))
    rows = pd.concat(parts, ignore_index=True).astype({"student_id": str})
    return risk.UsageTotals(rows, frozenset(frame["student_id"]))


def _exact_fractional_sums(engine: Engine, frame: pd.DataFrame, days: list[pd.Timestamp | None]) -> None:
    """Replace the database's sums of the students with non-whole minutes by pandas' sums over their rows."""
    flags = [f"f{i}" for i in range(len(days))]
    fractional = frame[flags].fillna(0).astype(int).to_numpy().any(axis=1)
    if not fractional.any():
        return  # whole minutes: every sum is exact in both
    u = Usage.__table__
    ids = frame.loc[fractional, "student_id"].tolist()
    chunks = []
    with engine.connect() as conn:
        for start in range(0, len(ids), _IN_BATCH):
            query = (select(u.c.student_id, u.c.week_start, u.c.minutes)
                     .where(u.c.student_id.in_(ids[start:start + _IN_BATCH]))
                     .order_by(u.c.student_id, u.c.tool_id, u.c.week_start))
            chunks.append(pd.DataFrame([tuple(r) for r in conn.execute(query)],
                                       columns=["student_id", "week_start", "minutes"]))
    rows = pd.concat(chunks, ignore_index=True)
    rows["student_id"] = rows["student_id"].astype(str)
    rows["week_start"] = pd.to_datetime(rows["week_start"])
    rows["minutes"] = rows["minutes"].astype("float64")
    for i, day in enumerate(days):
        inside = rows if day is None else rows[rows["week_start"] <= day]
        sums = inside.groupby("student_id")["minutes"].sum()
        frame.loc[fractional, f"m{i}"] = frame.loc[fractional, "student_id"].map(sums).to_numpy()


def _totals_to_bytes(totals: risk.UsageTotals) -> bytes:
    return frames_to_bytes({"rows": totals.rows, "students": pd.DataFrame({"student_id": sorted(totals.students)})}, {})


def _totals_from_bytes(payload: bytes) -> risk.UsageTotals:
    frames, _ = frames_from_bytes(payload)
    rows = frames["rows"].astype({"student_id": str, "usage_minutes": "float64", "usage_weeks_active": "int64"})
    return risk.UsageTotals(rows, frozenset(frames["students"]["student_id"].astype(str)))


def usage_totals(ws: Workspace) -> risk.UsageTotals:
    """The whole district's usage totals per student and cohort date (`database_usage_totals`), stored per
    version of the usage and indicators: computed by the first process after an import, read back after."""
    return ws.stored("risk_usage_totals", USAGE_TOTALS_READS,
                     lambda: database_usage_totals(ws.engine, risk.cohort_dates(ws.whole.indicators)),
                     _totals_to_bytes, _totals_from_bytes)


def scope_feature_table(ws: Workspace, scope: Scope) -> pd.DataFrame:
    """`district_table` of the scope's slice (None: the whole district) without the weekly rows: the roster,
    indicators and assessments cut as `restrict_district` cuts them (the scope's schools' students and their
    rows) and the stored usage totals of those students."""
    whole, totals = ws.whole, usage_totals(ws)
    if scope is None:
        return risk.student_feature_table(whole, usage=totals)
    students = whole.students[whole.students["school_id"].isin(set(scope))]
    ids = set(students["student_id"])
    part = SimpleNamespace(students=students, indicators=whole.indicators[whole.indicators["student_id"].isin(ids)],
                           assessments=whole.assessments[whole.assessments["student_id"].isin(ids)])
    return risk.student_feature_table(part, usage=totals.for_students(ids))


def feature_table(ws: Workspace) -> pd.DataFrame:
    """The student feature table of the workspace's scope (what training on that scope uses)."""
    return scope_feature_table(ws, ws.scope)


def district_features(engine: Engine, whole: District) -> pd.DataFrame:
    """The whole district's feature table: from the database's usage totals when `whole` reads its tables on
    demand and has not read the weekly rows (they are never read for it), else from the rows in memory."""
    if isinstance(whole, DistrictOnDemand) and not whole.loaded("usage"):
        return scope_feature_table(Workspace(engine), None)
    return district_table(whole)


def _train_table(table: pd.DataFrame, target: str, *, k: float, validation: str, exclude: list[str] | None,
                 audit: list[str] | None, progress: Progress | None) -> TrainedRisk:
    if table.empty:
        raise risk.RiskInputError("no early-warning indicators in the database; import indicators first")
    result = risk.evaluate_risk(table, target, exclude=exclude or [], audit=audit or [], k=k, validation=validation,
                                progress=progress)
    card = risk.model_card(result, data_name=f"district database ({len(table)} indicator rows)")
    return TrainedRisk(result=result, table=table, card=card)


def train_district(district: District, target: str = DEFAULT_DISTRICT_TARGET, *, k: float = risk.DEFAULT_K,
                   validation: str = "auto", exclude: list[str] | None = None, audit: list[str] | None = None,
                   progress: Progress | None = None) -> TrainedRisk:
    """Evaluate on the district's students and fit the final model on all labelled rows."""
    return _train_table(district_table(district), target, k=k, validation=validation, exclude=exclude, audit=audit,
                        progress=progress)


def train_workspace(ws: Workspace, target: str = DEFAULT_DISTRICT_TARGET, *, k: float = risk.DEFAULT_K,
                    validation: str = "auto", exclude: list[str] | None = None, audit: list[str] | None = None,
                    progress: Progress | None = None) -> TrainedRisk:
    """`train_district` on the workspace's scope, its table from `feature_table` (no weekly rows read)."""
    return _train_table(feature_table(ws), target, k=k, validation=validation, exclude=exclude, audit=audit,
                        progress=progress)


def known_outcomes(district: District) -> list[str]:
    """The outcomes a model can be trained on: the indicator columns outside the data contract's declared
    ones (an outcome such as `off_track_next_term` is an extra column) holding 0/1, booleans or yes/no with
    both values present; the district's default outcome first."""
    indicators = district.indicators
    declared = set(schema.TABLES["indicators"].column_names)
    found = []
    for col in indicators.columns:
        if col in declared or col == schema.EXTRA_COLUMN or risk.is_id_name(col) or risk.is_subgroup_name(col):
            continue
        try:
            values = risk.parse_target(indicators, col).dropna()
        except risk.RiskInputError:
            continue
        if values.nunique() == 2:
            found.append(str(col))
    return sorted(found, key=lambda c: (c != DEFAULT_DISTRICT_TARGET, c))


@dataclass
class RiskFacts:
    """What the at-risk page needs before any student row: whether there are indicators (per school, for a
    scope), the outcome picker's options and the columns of the whole district's student table."""

    indicator_rows: int
    indicator_rows_by_school: dict[str, int]
    outcomes: list[str]
    columns: list[str]


def _facts(ws: Workspace) -> RiskFacts:
    whole = ws.whole
    indicators = whole.indicators
    # a scope's indicators are its schools' students' rows (restrict_district)
    schools = indicators[["student_id"]].merge(whole.students[["student_id", "school_id"]], on="student_id",
                                               how="inner")["school_id"].dropna().astype(str).value_counts()
    return RiskFacts(indicator_rows=len(indicators), indicator_rows_by_school={s: int(n) for s, n in schools.items()},
                     outcomes=known_outcomes(whole), columns=[str(c) for c in scope_feature_table(ws, None).columns])


def risk_facts(ws: Workspace) -> RiskFacts:
    """`RiskFacts` of the whole district, stored per version of the tables the student table reads."""
    return ws.stored("risk_facts", READS, lambda: _facts(ws),
                     lambda facts: json.dumps(facts.__dict__).encode(),
                     lambda payload: RiskFacts(**json.loads(payload)))


def has_indicators(ws: Workspace) -> bool:
    """Whether the scope holds any early-warning indicator row (the page's empty state)."""
    facts = risk_facts(ws)
    if ws.scope is None:
        return facts.indicator_rows > 0
    return any(facts.indicator_rows_by_school.get(school, 0) > 0 for school in ws.scope)


def table_columns(ws: Workspace) -> list[str]:
    """Columns of the student table a model of the scope is trained on (the audit-column picker): the stored
    district facts for the whole district, the scope's own table for a coordinator (a school may lack an
    assessment or usage, and so columns)."""
    if ws.scope is None:
        return list(risk_facts(ws).columns)
    return [str(c) for c in feature_table(ws).columns]


def default_outcome(district: District) -> str | None:
    """The outcome a first model is trained on (`off_track_next_term` when the district records it)."""
    outcomes = known_outcomes(district)
    return outcomes[0] if outcomes else None


def model_bundle(result: risk.RiskResult) -> dict[str, Any]:
    """The stored artifact: the fitted RiskModel + the feature spec as plain values."""
    if result.model is None:
        raise ValueError("the result has no fitted model (fit_final=False)")
    return artifact.bundle_for(result.model, result.model_kind, result.target, result.spec)


def dumps_model(result: risk.RiskResult) -> tuple[bytes, str]:
    """(skops bytes, their signature under this server's key)."""
    return artifact.dumps(model_bundle(result))


def loads_model(blob: bytes, signature: str | None) -> dict[str, Any]:
    """The bundle, only when signed by this server and holding allowed types (else ModelArtifactRefused)."""
    return artifact.loads(blob, signature)


# ------------------------------------------------------------------------------------ versions
_VERSION_COLUMNS = ["id", "created_at", "target", "model_name", "fingerprint", "signed", "published_at",
                    "published_by"]


def _version_info(row: ModelVersion) -> dict[str, Any]:
    return {"id": int(row.id), "created_at": row.created_at, "target": row.target, "model_name": row.model_name,
            "fingerprint": row.fingerprint, "signed": bool(row.signature), "published_at": row.published_at,
            "published_by": row.published_by}


def _info_query() -> Any:
    # every column but the artifact (versions are listed without reading their bytes)
    return select(ModelVersion.id, ModelVersion.created_at, ModelVersion.target, ModelVersion.model_name,
                  ModelVersion.fingerprint, ModelVersion.signature, ModelVersion.published_at,
                  ModelVersion.published_by)


def model_versions(engine: Engine) -> pd.DataFrame:
    """Stored versions, newest first, with whether each is signed and when / by whom it was published."""
    with Session(engine) as db:
        rows = [_version_info(r) for r in db.exec(_info_query().order_by(ModelVersion.id.desc())).all()]
    return pd.DataFrame(rows, columns=_VERSION_COLUMNS)


def published_version(engine: Engine) -> dict[str, Any] | None:
    """The version the board report, the worklist and `risk score` use: the most recently published."""
    query = (_info_query().where(ModelVersion.published_at.is_not(None))
             .order_by(ModelVersion.published_at.desc(), ModelVersion.id.desc()).limit(1))
    with Session(engine) as db:
        row = db.exec(query).first()
    return None if row is None else _version_info(row)


def load_version(engine: Engine, version_id: int) -> dict[str, Any]:
    """A stored version's bundle: KeyError when there is no such version, ModelArtifactRefused when it is
    unsigned, altered, signed under another key or holds a type outside the allowlist."""
    with Session(engine) as db:
        row = db.get(ModelVersion, int(version_id))
        if row is None:
            raise KeyError(f"no model version {version_id}")
        blob, signature = bytes(row.artifact or b""), row.signature
    try:
        return artifact.loads(blob, signature)
    except ModelArtifactRefused as exc:
        raise ModelArtifactRefused(exc.reason, version=int(version_id)) from None


def save_version(engine: Engine, trained: TrainedRisk, *, principal: Principal = SYSTEM) -> int:
    """Store a trained model as a new (unpublished) version, signed; director only; audited."""
    principal.require(Action.PUBLISH_MODEL)
    result = trained.result
    blob, signature = dumps_model(result)
    row = ModelVersion(
        created_at=dt.datetime.now(dt.UTC), target=result.target, model_name=result.model_kind,
        metrics=json.loads(json.dumps(json_ready(risk.result_summary(result)), default=json_default)),
        fingerprint=result.fingerprint, card=trained.card, artifact=blob, signature=signature)
    with Session(engine) as db:
        db.add(row)
        db.commit()
        db.refresh(row)
        version = int(row.id)
    audit.record(engine, principal, "model stored",
                 detail=f"model version {version} ({result.model_kind}, target {result.target})")
    return version


def publish_version(engine: Engine, version_id: int, *, principal: Principal = SYSTEM,
                    whole: District | None = None) -> dict[str, Any]:
    """Make a stored version the one the board report, the worklist and `risk score` use (director only;
    audited). A version that would not load (unsigned, altered…) is refused, never published. The version
    then scores the district (`whole`, loaded when not given) and its risk flags are stored."""
    info = _mark_published(engine, version_id, principal)
    record_published_flags(engine, whole)  # the version now scores the district: who it flags, and when
    return info


def _mark_published(engine: Engine, version_id: int, principal: Principal) -> dict[str, Any]:
    principal.require(Action.PUBLISH_MODEL)
    load_version(engine, version_id)  # KeyError / ModelArtifactRefused before anything is written
    with Session(engine) as db:
        row = db.get(ModelVersion, int(version_id))
        row.published_at = dt.datetime.now(dt.UTC)
        row.published_by = audit.actor_name(principal)
        db.add(row)
        db.commit()
        db.refresh(row)
        info = _version_info(row)
    audit.record(engine, principal, "model published",
                 detail=f"model version {info['id']} ({info['model_name']}, target {info['target']})")
    return info


def version_details(engine: Engine, version_id: int) -> dict[str, Any]:
    """A stored version's listing plus its model card and metrics (not its artifact)."""
    with Session(engine) as db:
        row = db.get(ModelVersion, int(version_id))
        if row is None:
            raise KeyError(f"no model version {version_id}")
        return {**_version_info(row), "card": row.card or "", "metrics": dict(row.metrics or {})}


def train_and_publish(engine: Engine, district: District, target: str | None = None, *,
                      principal: Principal = SYSTEM, progress: Progress | None = None) -> dict[str, Any]:
    """Train on the whole district (default: its default outcome), store the version and publish it: what
    `demo` and the director's first visit to the at-risk page do. Director only (checked before training)."""
    principal.require(Action.PUBLISH_MODEL)
    target = target or default_outcome(district)
    if target is None:
        raise risk.RiskInputError("the indicators hold no 0/1 outcome column to predict (such as "
                                  f"{DEFAULT_DISTRICT_TARGET})")
    table = district_features(engine, district)
    trained = _train_table(table, target, k=risk.DEFAULT_K, validation="auto", exclude=None, audit=None,
                           progress=progress)
    version = save_version(engine, trained, principal=principal)
    del trained  # the evaluation's predictions and models: not needed to publish (500,000 students: ~0.5 GB)
    info = _mark_published(engine, version, principal)
    # the same feature table scores the district (a second copy was the peak of training), then is dropped
    # before the flags go through the importer (the peak at 500,000 students was both at once)
    flags = published_flags(engine, district, table)
    del table
    if flags is not None:
        _record_quietly(engine, flags)
    return info


# ------------------------------------------------------------------------------------ worklist
@dataclass
class Worklist:
    """The published version's students to support (scope's rows), its listing and card, the cut-off k."""

    version: dict[str, Any]
    card: str
    k: float
    cohort: pd.Timestamp | None
    students: pd.DataFrame        # worklists.build_worklist columns
    scored_by_school: dict[str, int]  # students scored (latest cohort, banded or not) per school of the scope

    @property
    def scored(self) -> int:
        return int(sum(self.scored_by_school.values()))

    @property
    def outcome(self) -> str:
        return worklists.outcome_phrase(self.version.get("target", ""))


def district_worklist(engine: Engine, whole: District, table: pd.DataFrame | None = None) -> Worklist | None:
    """The whole district's latest cohort scored by the published version (None when none is published):
    bands on the version's cut-off, reasons against district medians. ModelArtifactRefused when the
    version is not genuine; RiskInputError when there is nothing to score. `table`: the district's feature
    table when the caller has it (else `district_features`)."""
    published = published_version(engine)
    if published is None:
        return None
    details = version_details(engine, published["id"])
    bundle = load_version(engine, published["id"])
    table = district_features(engine, whole) if table is None else table
    if table.empty:
        raise risk.RiskInputError("no early-warning indicators in the database")
    current = latest_cohort(table)
    k = float(details["metrics"].get("k") or risk.DEFAULT_K)
    try:
        scored = risk.score_students(bundle, current, spec_from_bundle(bundle), k=k, reason_features=True)
    except (KeyError, ValueError) as exc:  # e.g. a feature the version needs is no longer in the data
        raise risk.RiskInputError(f"version {published['id']} cannot score the current data: {exc}") from exc
    students = worklists.build_worklist(scored, whole.students, whole.schools, k)
    cohort = current["as_of"].max() if "as_of" in current.columns else None
    _record_quietly(engine, worklists.risk_flag_rows(scored, whole.students, k, flag_date(cohort, whole),
                                                     worklists.flag_source(published["id"])))
    school_of = whole.students.set_index(whole.students["student_id"].astype("string"))["school_id"]
    per_school = scored["student_id"].astype("string").map(school_of).dropna().value_counts()
    info = {key: value for key, value in details.items() if key not in ("card", "metrics")}
    return Worklist(version=info, card=details["card"], k=k, cohort=None if pd.isna(cohort) else cohort,
                    students=students, scored_by_school={str(a): int(b) for a, b in per_school.items()})


_VERSION_TIMES = ("created_at", "published_at")


def worklist_to_bytes(found: Worklist | None) -> bytes:
    """The district worklist as Parquet + meta (None: no published version); `worklist_from_bytes` reads it back
    equal (the reason topics as JSON text, the version's times in ISO form)."""
    if found is None:
        return frames_to_bytes({}, {"published": False})
    students = found.students.assign(reason_topics=[json.dumps(list(t)) for t in found.students["reason_topics"]])
    version = {key: (value.isoformat() if key in _VERSION_TIMES and value is not None else value)
               for key, value in found.version.items()}
    meta = {"published": True, "version": version, "card": found.card, "k": found.k,
            "cohort": None if found.cohort is None else found.cohort.isoformat(),
            "scored_by_school": found.scored_by_school}
    return frames_to_bytes({"students": students}, meta)


def worklist_from_bytes(payload: bytes) -> Worklist | None:
    frames, meta = frames_from_bytes(payload)
    if not meta["published"]:
        return None
    students = frames["students"]
    topics = {text: tuple(json.loads(text)) for text in set(students["reason_topics"])}  # a few distinct sets
    students["reason_topics"] = [topics[text] for text in students["reason_topics"]]
    version = {key: (dt.datetime.fromisoformat(value) if key in _VERSION_TIMES and value is not None else value)
               for key, value in meta["version"].items()}
    return Worklist(version=version, card=meta["card"], k=float(meta["k"]),
                    cohort=None if meta["cohort"] is None else pd.Timestamp(meta["cohort"]), students=students,
                    scored_by_school={str(a): int(b) for a, b in meta["scored_by_school"].items()})


def stored_district_worklist(ws: Workspace) -> Worklist | None:
    """The whole district's worklist, computed once per version of the data it reads and of the published model
    (`WORKLIST_READS`: an import or a newly saved or published version makes the stored one stale, never read)
    and stored, so a new server process reads it back instead of scoring every student again."""
    return ws.stored("risk_worklist", WORKLIST_READS,
                     lambda: district_worklist(ws.engine, ws.whole, scope_feature_table(ws, None)),
                     worklist_to_bytes, worklist_from_bytes)


def verify_version(engine: Engine, version_id: int) -> None:
    """ModelArtifactRefused unless the stored version is signed by this server (the signature only: nothing is
    parsed), for a list read back from storage without loading the model that scored it."""
    with Session(engine) as db:
        row = db.get(ModelVersion, int(version_id))
        blob, signature = (b"", None) if row is None else (bytes(row.artifact or b""), row.signature)
    try:
        artifact.verify(blob, signature)
    except ModelArtifactRefused as exc:
        raise ModelArtifactRefused(exc.reason, version=int(version_id)) from None


def worklist(ws: Workspace) -> Worklist | None:
    """The scope's part of the district worklist (a Workspace `ws`; the district one computed once per
    data and models version and stored). The published version must still be genuine under this server's key
    (an altered artifact does not change the versions token). Needs VIEW_STUDENTS."""
    ws.require(Action.VIEW_STUDENTS)
    whole = stored_district_worklist(ws)
    if whole is not None:
        verify_version(ws.engine, whole.version["id"])
    if whole is None or ws.scope is None:
        return whole
    mine = whole.students[whole.students["school_id"].isin(ws.scope)].reset_index(drop=True)
    return Worklist(version=whole.version, card=whole.card, k=whole.k, cohort=whole.cohort, students=mine,
                    scored_by_school={s: n for s, n in whole.scored_by_school.items() if s in ws.scope})


def latest_cohort(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the most recent `as_of` (the students to act on now)."""
    if "as_of" in table.columns and table["as_of"].notna().any():
        return table[table["as_of"] == table["as_of"].max()]
    return table


def score_table(bundle: dict[str, Any], table: pd.DataFrame, k: float = risk.DEFAULT_K,
                with_reasons: bool = True) -> pd.DataFrame:
    """Risk, rank, flag and reasons for the latest cohort of a student table."""
    current = latest_cohort(table)
    return risk.score_students(bundle, current, spec_from_bundle(bundle), k=k, with_reasons=with_reasons)


def score_district(engine: Engine, version_id: int | None = None, k: float = risk.DEFAULT_K,
                   scope: frozenset[str] | None = None, *, principal: Principal = SYSTEM) -> pd.DataFrame:
    """The latest students scored by a stored version (default: the published one), within what the
    principal may read. RiskInputError when there is nothing to score with; ModelArtifactRefused when the
    version is not genuine."""
    principal.require(Action.VIEW_STUDENTS)
    if version_id is None:
        published = published_version(engine)
        if published is None:
            raise risk.RiskInputError(NO_PUBLISHED if not model_versions(engine).empty else NO_VERSION)
        version_id = published["id"]
    bundle = load_version(engine, int(version_id))
    ws = Workspace(engine, scope, principal=principal)
    table = feature_table(ws)
    if table.empty:
        raise risk.RiskInputError("no early-warning indicators in the database")
    scored = score_table(bundle, table, k=k)
    if ws.scope is None and published_id(engine) == int(version_id):
        # the published version scored the whole district: its flags (at the version's own cut-off k)
        record_published_flags(engine, ws.whole)
    scored.insert(0, "model_version", int(version_id))
    return scored


# ------------------------------------------------------------------------------------ risk flags (contract v2)
FLAGS_USER = "at-risk model scoring"


def published_id(engine: Engine) -> int | None:
    published = published_version(engine)
    return None if published is None else int(published["id"])


def flag_date(cohort: pd.Timestamp | None, whole: District) -> pd.Timestamp:
    """The flags' date: the as-of date of the indicators the version scored (the day the risk describes),
    else the district's as-of date."""
    return pd.Timestamp(cohort if cohort is not None and not pd.isna(cohort) else whole.as_of).normalize()


def stored_flags(engine: Engine, source: str, day: pd.Timestamp) -> pd.DataFrame:
    """The risk flags stored for one source and flag date (student_id, risk, cutoff, flagged)."""
    query = select(RiskFlag.student_id, RiskFlag.risk, RiskFlag.cutoff, RiskFlag.flagged).where(
        RiskFlag.source == source, RiskFlag.flag_date == pd.Timestamp(day).date())
    with Session(engine) as db:
        rows = db.exec(query).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["student_id", "risk", "cutoff", "flagged"])


def _same_flags(stored: pd.DataFrame, flags: pd.DataFrame) -> bool:
    if len(stored) != len(flags):
        return False
    a = stored.astype({"student_id": str}).set_index("student_id").sort_index()
    b = flags.astype({"student_id": str}).set_index("student_id").sort_index()
    if not a.index.equals(b.index):
        return False
    return (bool((a["flagged"].astype(bool).to_numpy() == b["flagged"].astype(bool).to_numpy()).all())
            and np.allclose(a["risk"].astype(float), b["risk"].astype(float), rtol=0, atol=1e-9)
            and np.allclose(a["cutoff"].astype(float), b["cutoff"].astype(float), rtol=0, atol=1e-9))


def record_flags(engine: Engine, flags: pd.DataFrame) -> int:
    """Store one scoring's risk flags (`worklists.risk_flag_rows`: one source and flag date) through the
    importer (every contract rule, logged as an import, so `table:risk_flags` readers refresh). Idempotent:
    when exactly these rows are stored already (the same version scoring the same data again) nothing is
    written and 0 is returned; else the rows stored. RuntimeError when the importer refuses them."""
    if flags.empty:
        return 0
    sources, days = flags["source"].unique(), pd.to_datetime(flags["flag_date"]).unique()
    if len(sources) != 1 or len(days) != 1:
        raise ValueError("record_flags stores one scoring (one source, one flag date) at a time")
    day = pd.Timestamp(days[0])
    if _same_flags(stored_flags(engine, str(sources[0]), day), flags):
        return 0
    text = pd.DataFrame({
        "student_id": flags["student_id"].astype(str), "flag_date": day.date().isoformat(),
        "source": str(sources[0]), "risk": flags["risk"].astype(float).map(repr),
        "cutoff": flags["cutoff"].astype(float).map(repr),
        "flagged": flags["flagged"].map(lambda v: "true" if bool(v) else "false")})
    report = data.import_frame(engine, "risk_flags", text, file_name=f"{sources[0]} scoring of {day:%Y-%m-%d}",
                               user=FLAGS_USER)
    if not report.ok:
        raise RuntimeError("risk flags refused by the importer: " + "; ".join(report.error_lines()[:3]))
    return int(report.rows_stored)


def _record_quietly(engine: Engine, flags: pd.DataFrame) -> int:
    """Flags written from a read path (the worklist): a busy database or a refusal must not hide the list;
    the next scoring writes them (idempotent)."""
    try:
        return record_flags(engine, flags)
    except (data.DatabaseBusy, RuntimeError):
        return 0


def record_published_flags(engine: Engine, whole: District | None = None) -> int:
    """The published version scores the whole district's latest cohort (no reasons: the flags need the risk
    only) and its risk flags are stored (`record_flags`); 0 when nothing is published, nothing can be
    scored, or the same flags are stored already."""
    flags = published_flags(engine, whole)
    return 0 if flags is None else _record_quietly(engine, flags)


def published_flags(engine: Engine, whole: District | None = None, table: pd.DataFrame | None = None
                    ) -> pd.DataFrame | None:
    """The risk flag rows of the published version's scoring of the district's latest cohort (None when
    nothing is published or nothing can be scored). `table`: the district's `district_features`, when known."""
    published = published_version(engine)
    if published is None:
        return None
    whole = Workspace(engine).whole if whole is None else whole
    table = district_features(engine, whole) if table is None else table
    if table.empty:
        return None
    details = version_details(engine, published["id"])
    k = float(details["metrics"].get("k") or risk.DEFAULT_K)
    current = latest_cohort(table)
    try:
        bundle = load_version(engine, published["id"])
        scored = risk.score_students(bundle, current, spec_from_bundle(bundle), k=k, with_reasons=False)
    except (KeyError, ValueError, ModelArtifactRefused):  # a version that cannot score the data flags nobody
        return None
    cohort = current["as_of"].max() if "as_of" in current.columns else None
    return worklists.risk_flag_rows(scored, whole.students, k, flag_date(cohort, whole),
                                    worklists.flag_source(published["id"]))


def bench_risk(n_students: int = 50000, seed: int = 2025) -> dict[str, Any]:
    """Time training (5-fold CV of both candidates, baselines, importance, final fit) at scale."""
    from edtech.sample.generate import generate_district, oracle_auc

    t0 = time.perf_counter()
    sample = generate_district(n_students, seed)
    t1 = time.perf_counter()
    table = district_table(sample.district)
    t2 = time.perf_counter()
    result = risk.evaluate_risk(table, DEFAULT_DISTRICT_TARGET)
    t3 = time.perf_counter()
    return {"n_students": n_students, "generate_s": round(t1 - t0, 2), "feature_table_s": round(t2 - t1, 2),
            "train_s": round(t3 - t2, 2), "model": result.model_kind, "roc_auc": round(result.metrics["roc_auc"], 4),
            "oracle_auc": round(oracle_auc(sample), 4), "precision_at_k": round(result.metrics["precision_at_k"], 4),
            "abc_precision_at_k": result.baselines["abc_rule"].get("precision_at_k")}


def bench_table(n_rows: int = 30_000, n_features: int = 20, seed: int = 2025) -> tuple[pd.DataFrame, str]:
    """A seeded synthetic student table: `n_features` feature columns (ABC-style indicators, usage,
    scores, 4 categorical, the rest noise) + student_id, school_id, gender, race_ethnicity and a 0/1
    `failed_next_term` from a planted logistic model with school effects. Returns (table, target)."""
    if n_features < 12:
        raise ValueError("the bench table has at least 12 feature columns")
    rng = np.random.default_rng(seed)
    n = n_rows
    school = rng.integers(0, 40, n)
    attendance = np.clip(rng.beta(18, 1.5, n), 0.4, 1.0)
    failures = rng.poisson(0.35, n)
    gpa = np.clip(rng.normal(2.9, 0.7, n) - 0.3 * failures, 0, 4)
    suspensions = rng.poisson(0.08, n)
    incidents = rng.poisson(0.5, n)
    score = rng.normal(0, 1, n) + 0.6 * (gpa - 2.9)
    features: dict[str, Any] = {
        "attendance_rate": attendance.round(3), "course_failures": failures, "gpa": gpa.round(2),
        "suspensions": suspensions, "behavior_incidents": incidents,
        "credits_earned": np.clip(rng.normal(6, 1.2, n) - 0.8 * failures, 0, None).round(1),
        "usage_minutes": rng.gamma(2.0, 300, n).round(0), "score_math": score.round(2),
        "grade_level": rng.integers(6, 13, n),
        "program": rng.choice(["general", "honors", "career", "esl", "other"], n),
        "transport": rng.choice(["bus", "walk", "car"], n), "track": rng.choice([f"t{i}" for i in range(8)], n),
    }
    for j in range(n_features - len(features)):
        features[f"x{j + 1}"] = rng.normal(0, 1, n).round(3)
    noise = features.get("x1", np.zeros(n))
    logit = (-1.6 - 14 * (attendance - 0.92) + 0.7 * failures - 0.6 * (gpa - 2.9) + 0.8 * suspensions
             + 0.15 * incidents - 0.2 * score + rng.normal(0, 0.3, 40)[school] + 0.3 * noise)
    table = pd.DataFrame({
        "student_id": [f"S{i:06d}" for i in range(n)], "school_id": [f"SCH{s:02d}" for s in school],
        "gender": rng.choice(["F", "M"], n),
        "race_ethnicity": rng.choice(["Asian", "Black", "Hispanic", "White", "Multiracial"], n,
                                     p=[0.1, 0.2, 0.3, 0.35, 0.05]),
        **features,
        "failed_next_term": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
    })
    return table, "failed_next_term"


def _hgb_floor_seconds(table: pd.DataFrame, features: list[str], target: str, one_thread: bool) -> float:
    """Plain scikit-learn: HistGradientBoostingClassifier() 5-fold cross_val_score on the same table."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    X = table[features].copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("category")  # HGB's native categorical support
    started = time.perf_counter()
    with threadpool_limits(limits=1 if one_thread else None):
        cross_val_score(HistGradientBoostingClassifier(random_state=0), X, table[target], cv=5, scoring="roc_auc")
    return time.perf_counter() - started


def bench_risk_evaluate(n_rows: int = 30_000, n_features: int = 20, seed: int = 2025,
                        default_threads_floor: bool = True) -> dict[str, Any]:
    """`risk evaluate` (CSV read, guards, nested model choice, calibration, 3 CV seeds, baselines,
    fairness, permutation importance) timed on a synthetic table, beside the floor: plain
    scikit-learn HGB 5-fold `cross_val_score` on the same rows and features. The floor is the faster
    of default threads and one thread (on a busy 2-core machine OpenMP's default can be the slower),
    so `ratio` is never flattered by a slow floor (`default_threads_floor=False` skips the default-threads
    run, which can take minutes on a busy machine). Data contract v2 `bench` key `risk_evaluate`."""
    table, target = bench_table(n_rows, n_features, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_students.csv"
        table.to_csv(path, index=False)
        started = time.perf_counter()
        result = evaluate_file(path, target)
        seconds = time.perf_counter() - started
    features = [c for c in table.columns if c not in ("student_id", "school_id", "gender", "race_ethnicity", target)]
    floor_one = _hgb_floor_seconds(table, features, target, one_thread=True)
    floor_default = _hgb_floor_seconds(table, features, target, one_thread=False) if default_threads_floor else None
    floor = min(floor_one, floor_default or floor_one)
    return {"seconds": round(seconds, 2), "hgb_floor_s": round(floor, 2), "ratio": round(seconds / floor, 2),
            "hgb_floor_one_thread_s": round(floor_one, 2),
            "hgb_floor_default_threads_s": None if floor_default is None else round(floor_default, 2),
            "n_rows": n_rows, "n_features": len(features), "model": result.model_kind, "n_seeds": result.n_seeds,
            "roc_auc": round(result.metrics["roc_auc"], 4), "recommended": result.recommended}


def json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return str(value)


def json_ready(value: Any) -> Any:
    """Plain JSON values: NaN/inf become null (json.dumps would write the invalid token NaN), numpy
    scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


