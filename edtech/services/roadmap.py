"""Use case "is the technology roadmap on track?" (page Roadmap, CLI `roadmap`, the board report's section).

Initiatives (data contract v2 `initiatives`) carry KPIs (`kpis`), each a metric of the catalogue
(`edtech.roadmap.catalogue`, methods v2 section 7) in a scope (the district or one school). Each catalogue
metric is ONE function below, over a `Workspace` of the KPI's scope, that reads the figure the other
surfaces show: the ROI scoreboard (`Workspace.board`: utilization, dosage share, effect, vetting fields),
the Overview's key figures (`overview.key_figures`: idle value and spend), the School adoption page's
device coverage (`adoption.equity.device_coverage`), and the interventions' coverage (methods §6).

Values are kept monthly in `kpi_snapshots`, refreshed lazily when the roadmap is read and the data changed
since the last refresh (a token of the data versions, saved as a setting): the data's current month
(the month of its as-of date) is recomputed; earlier months missing a snapshot are back-filled for the
metrics whose inputs carry dates, by running the same functions on the district as it stood at each
month's end (usage weeks ended by then, devices bought by then, PD sessions held by then; no assessment,
so effects are never back-filled); each past month's ROI analysis reads that month's usage summaries computed in
the database (`summaries.past_usage_summaries`), never the weekly rows in pandas. A snapshot of a past month, once written, is kept: it is what the
roadmap said then ("what changed since the last report").

Writes (initiatives and KPIs) are a director's (Action.EDIT_ROADMAP, checked here) and audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from edtech.adoption import equity
from edtech.core import rules
from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.district import District, empty_frame
from edtech.core.privacy import neutralize_frame
from edtech.core.scope import ScopeError
from edtech.roadmap import catalogue
from edtech.roadmap.catalogue import format_value  # noqa: F401 - re-exported for the command line
from edtech.roadmap.status import STATUS_LABELS, STATUSES, kpi_status  # noqa: F401 - labels for the command line
from edtech.roi import engine as roi_engine
from edtech.roi import figures
from edtech.services import audit, workspace
from edtech.services import overview as overview_service
from edtech.store import data, summaries
from edtech.store.models import Initiative, Kpi, KpiSnapshot

SNAPSHOT_SETTING = "roadmap_snapshots"   # the data token of the last refresh
READS = ("table:*", f"setting:{workspace.OUTCOME_SETTING_KEY}", f"setting:{SNAPSHOT_SETTING}", "scenarios")
DISTRICT = "district"
INITIATIVE_STATUSES = ("planned", "active", "done", "dropped")
INITIATIVE_COLUMNS = ["initiative_id", "name", "goal", "owner", "start_date", "end_date", "status", "scenario"]
KPI_COLUMNS = ["initiative_id", "kpi_id", "metric", "scope", "baseline", "target", "target_date"]
MAX_TEXT = 2000
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


class RoadmapError(ValueError):
    """An initiative or KPI that cannot be stored (unknown metric, school, tool; bad dates): shown as is."""


# ============================================================== the catalogue's figures (one function each)

def _tool_value(ws: workspace.Workspace, tool_id: str, column: str) -> float | None:
    """A tool's figure on the scope's ROI scoreboard (`Workspace.board`: the Tool ROI page, `roi --format json`)."""
    board = ws.board
    rows = board[board["tool_id"].astype(str) == str(tool_id)] if len(board) else board
    if rows.empty:
        return None
    return _number(rows[column].iloc[0])


def utilization(ws: workspace.Workspace, tool_id: str) -> float | None:
    """Contract-year active users ÷ seats of the tool in the scope (methods §1)."""
    return _tool_value(ws, tool_id, "utilization")


def dosage_share(ws: workspace.Workspace, tool_id: str) -> float | None:
    """Students who met dosage ÷ active users with a vendor dosage, in the scope (methods §1)."""
    return _tool_value(ws, tool_id, "dosage_met_share")


def effect(ws: workspace.Workspace, tool_id: str) -> float | None:
    """The tool's headline effect size (methods §2; a district fact in every scope)."""
    return _tool_value(ws, tool_id, "effect_size")


def vetted_share(ws: workspace.Workspace) -> float | None:
    """Share of the licensed tools' annual cost (the scope's) on tools vetted per `rules.is_vetted` (the
    Vetting page's rule, over the same scoreboard)."""
    lic = figures.licensed(ws.board)
    if lic.empty:
        return None
    spend = lic["annual_cost"].fillna(0.0)
    total = float(spend.sum())
    if total <= 0:
        return None
    vetted = rules.is_vetted(lic["privacy_status"], lic["accessibility"])
    return float(spend[vetted.to_numpy()].sum()) / total


def idle_license_share(ws: workspace.Workspace) -> float | None:
    """Idle license value ÷ annual license spend, both from the Overview's key figures."""
    k = overview_service.key_figures(ws)
    return k["idle_license_value"] / k["annual_spend"] if k["annual_spend"] else None


def device_coverage(ws: workspace.Workspace) -> pd.DataFrame:
    """Per school of the scope: the School adoption page's device table (`equity.device_coverage` on the whole
    district, the scope's rows selected, as `services.adoption.scope_report` does)."""
    whole = ws.whole
    rows = equity.device_coverage(whole.devices, whole.students, whole.schools, whole.as_of)
    return rows if ws.scope is None else rows[rows["school_id"].isin(ws.scope)]


def devices_per_student(ws: workspace.Workspace) -> float | None:
    """Active devices ÷ rostered students over the scope's schools (the device table's columns summed)."""
    rows = device_coverage(ws)
    students = float(rows["students"].sum()) if len(rows) else 0.0
    return float(rows["active_devices"].sum()) / students if students else None


def pd_hours_per_staff(ws: workspace.Workspace) -> float | None:
    """Hours of the scope's PD sessions held up to the data's as-of date ÷ distinct staff in those sessions."""
    sessions = ws.district.pd_sessions
    sessions = sessions[sessions["date"] <= ws.as_of]
    staff = sessions["staff_id"].nunique()
    return float(sessions["hours"].sum()) / staff if staff else None


def flagged_served_30d(ws: workspace.Workspace) -> float | None:
    """Share of the scope's flagged students served within 30 days (methods §6): the coverage the Interventions
    page and `interventions evaluate --format json` show (`services.interventions.evaluate_interventions`)."""
    from edtech.services import interventions as interventions_service  # its engines only when a KPI asks

    return _number(interventions_service.evaluate_interventions(ws).coverage["share_served_30d"])


FIGURES: dict[str, Callable[..., float | None]] = {
    "utilization": utilization, "dosage_share": dosage_share, "effect": effect, "vetted_share": vetted_share,
    "idle_license_share": idle_license_share, "devices_per_student": devices_per_student,
    "pd_hours_per_staff": pd_hours_per_staff, "flagged_served_30d": flagged_served_30d,
}


def metric_value(ws: workspace.Workspace, metric: str) -> float | None:
    """The current value of a catalogue metric in the workspace's scope (None = no data)."""
    return _dispatch(FIGURES, ws, metric)


def _dispatch(table: dict[str, Callable[..., Any]], ws: workspace.Workspace, metric: str) -> Any:
    """table[metric's base](ws[, tool]): a per-tool metric gets its tool, a district one does not."""
    base, tool = catalogue.parse_metric(metric)
    compute = table[base]
    return compute(ws, tool) if catalogue.METRICS[base].needs_tool else compute(ws)


def _tool_students(column: str) -> Callable[[workspace.Workspace, str], float | None]:
    return lambda ws, tool_id: _tool_value(ws, tool_id, column)


def _device_students(ws: workspace.Workspace) -> float | None:
    rows = device_coverage(ws)
    return float(rows["students"].sum()) if len(rows) else None


def _flagged_students(ws: workspace.Workspace) -> float | None:
    from edtech.services import interventions as interventions_service

    return _number(interventions_service.evaluate_interventions(ws).coverage["flagged"])


# how many students each aggregate metric is computed over (its denominator), read from the same figures
STUDENTS: dict[str, Callable[..., float | None]] = {
    "utilization": _tool_students("active_users"), "dosage_share": _tool_students("active_users"),
    "effect": _tool_students("n_treated"), "devices_per_student": _device_students,
    "flagged_served_30d": _flagged_students,
}


def metric_students(ws: workspace.Workspace, metric: str) -> int | None:
    """The number of students a metric's current value is computed over in the workspace's scope (None: the
    metric is not an aggregate over students: spend shares, PD hours per staff member)."""
    if not catalogue.METRICS[catalogue.parse_metric(metric)[0]].over_students:
        return None
    count = _dispatch(STUDENTS, ws, metric)
    return 0 if count is None else int(count)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# ============================================================== scopes and the district as it stood

def scope_of(text: Any) -> frozenset[str] | None:
    """A KPI's scope: None for the district (blank or 'district'), else one school."""
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return None
    key = str(text).strip()
    return None if key == "" or key.lower() == DISTRICT else frozenset({key})


def scope_text(text: Any) -> str:
    scope = scope_of(text)
    return DISTRICT if scope is None else next(iter(scope))


class _AsOfProvider(workspace.Provider):
    """A Workspace over the district as it stood at a month's end. The ROI analysis is computed from
    `summary`, that month's usage summaries (`summaries.past_usage_summaries`: the database's tables hold
    today's windows and weeks), else from that district's own weekly rows (the same figures either way,
    tests/test_roadmap_backfill_summaries.py); every other part from that district."""

    stores = False  # its parts are of the district as it stood then: never the database's stored parts

    def __init__(self, whole: District, outcome_choice: dict[str, str] | None = None,
                 summary: roi_engine.UsageSummary | None = None) -> None:
        self.parts: dict[str, Any] = {"whole": whole}
        self.outcome_choice = outcome_choice
        self.summary = summary

    def part(self, engine: Engine, name: str, reads: tuple[str, ...], compute: Callable[[], Any]) -> Any:
        if name == "roi" and name not in self.parts:
            self.parts[name] = workspace.RoiAnalysis(*roi_engine.analyze_district(
                self.parts["whole"], outcome_choice=self.outcome_choice, summary=self.summary))
        if name not in self.parts:  # district-wide parts: once per month, whatever the scope
            self.parts[name] = compute()
        return self.parts[name]


class _MonthWorkspace(workspace.Workspace):
    """A Workspace of a past month: the district-wide scoreboard is computed once per month for every scope."""

    @cached_property
    def board(self) -> pd.DataFrame:
        return self.scoped_board(self.provider.part(self.engine, "district_board", (), self.district_board))


def district_at(whole: District, month_end: pd.Timestamp, weeks: pd.Series | None = None) -> District:
    """The district's dated inputs up to `month_end`: usage weeks ended by then, devices bought and PD sessions
    held by then; no assessment (effects are not back-filled). Its as-of date is the end of its last usage week.

    `weeks`: the weeks holding usage (`summaries.usage_weeks`, for a district read on demand): the district
    then holds NO weekly rows (its ROI analysis reads `summaries.past_usage_summaries`) and `whole.usage` is
    not read; without it the weekly rows are cut from `whole.usage`."""
    frames = {name: getattr(whole, name) for name in whole.table_names() if name != "usage"}  # a plain District
    if weeks is None:
        usage = whole.usage[_ended_by(whole.usage["week_start"], month_end)]
        weeks = usage["week_start"]
    else:
        usage = empty_frame("usage")
    frames.update(usage=usage, devices=whole.devices[whole.devices["purchase_date"] <= month_end],
                  pd_sessions=whole.pd_sessions[whole.pd_sessions["date"] <= month_end],
                  assessments=whole.assessments.iloc[0:0])
    return District(**frames, fixed_as_of=as_of_at(weeks, month_end))


def _ended_by(week_start: pd.Series, month_end: pd.Timestamp) -> pd.Series:
    """The weeks a month's district holds: ended (week_start + 6 days) by its last day."""
    return week_start + pd.Timedelta(days=6) <= month_end


def as_of_at(weeks: pd.Series, month_end: pd.Timestamp) -> pd.Timestamp:
    """The as-of date of the district as it stood at `month_end`: the end of its last usage week (of `weeks`,
    the weeks holding usage rows), never after `month_end`."""
    weeks = pd.Series(weeks)
    weeks = weeks[_ended_by(weeks, month_end)]
    as_of = rules.data_as_of(weeks) if len(weeks) else pd.Timestamp(month_end)
    return min(pd.Timestamp(as_of), pd.Timestamp(month_end))


def month_start(when: pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(when).to_period("M").to_timestamp()


def month_end(start: pd.Timestamp) -> pd.Timestamp:
    return (pd.Timestamp(start).to_period("M") + 1).to_timestamp() - pd.Timedelta(days=1)


# ============================================================== reading the tables

def initiatives_frame(engine: Engine) -> pd.DataFrame:
    return data.read_table(engine, "initiatives")[INITIATIVE_COLUMNS]


def kpis_frame(engine: Engine) -> pd.DataFrame:
    return data.read_table(engine, "kpis")[KPI_COLUMNS]


def read_snapshots(engine: Engine) -> pd.DataFrame:
    """Every stored monthly value: initiative_id, kpi_id, month (first day), value, computed_at."""
    data.init_db(engine)
    with Session(engine) as db:
        rows = [(r.initiative_id, r.kpi_id, r.month, r.value, r.computed_at)
                for r in db.scalars(select(KpiSnapshot))]
    out = pd.DataFrame(rows, columns=["initiative_id", "kpi_id", "month", "value", "computed_at"])
    out["month"] = pd.to_datetime(out["month"])
    out["value"] = pd.to_numeric(out["value"], errors="coerce").astype("float64")
    return out


def _write_snapshots(engine: Engine, rows: list[tuple[str, str, pd.Timestamp, float | None]]) -> None:
    now = dt.datetime.now(dt.UTC)
    with Session(engine) as db:
        for initiative_id, kpi_id, month, value in rows:
            db.merge(KpiSnapshot(initiative_id=str(initiative_id), kpi_id=str(kpi_id),
                                 month=pd.Timestamp(month).date(), value=value, computed_at=now))
        db.commit()


def _data_token(engine: Engine) -> str:
    """What the snapshots depend on: every data part's version except this module's own setting."""
    versions = {k: v for k, v in data.data_versions(engine).items() if k != f"setting:{SNAPSHOT_SETTING}"}
    return hashlib.sha1(json.dumps(versions, sort_keys=True).encode()).hexdigest()[:16]


# ============================================================== snapshots

def refresh_snapshots(engine: Engine, provider: workspace.Provider | None = None, *, force: bool = False) -> bool:
    """Write the current month's value of every KPI and back-fill the earlier months that have none, when the
    data changed since the last refresh (or `force`). Returns True when it computed anything.

    Computed as the system (district facts stored for every reader; readers see only their scope's KPIs)."""
    token = _data_token(engine)
    saved = data.load_setting(engine, SNAPSHOT_SETTING, None)
    saved = saved if isinstance(saved, dict) else {}
    if not force and saved.get("token") == token and "students" in saved:  # (older databases lack the counts)
        return False
    # the last edit's time stays in the setting: its version (a cache key) differs after every edit
    mark = {"token": token, "edited": saved.get("edited")}
    kpis = kpis_frame(engine)
    if kpis.empty:
        data.save_setting(engine, SNAPSHOT_SETTING, mark)
        return False
    provider = provider or workspace.Provider()
    district_ws = workspace.Workspace(engine, None, principal=SYSTEM, provider=provider)
    whole = district_ws.whole
    if whole.is_empty:
        data.save_setting(engine, SNAPSHOT_SETTING, mark)
        return False
    current_month = month_start(whole.as_of)
    spaces: dict[frozenset[str] | None, workspace.Workspace] = {None: district_ws}

    def ws_for(scope: frozenset[str] | None) -> workspace.Workspace:
        if scope not in spaces:
            spaces[scope] = workspace.Workspace(engine, scope, principal=SYSTEM, provider=provider)
        return spaces[scope]

    rows = [(k.initiative_id, k.kpi_id, current_month, _value_or_none(lambda k=k: metric_value(
        ws_for(scope_of(k.scope)), k.metric))) for k in kpis.itertuples()]
    # the students behind each current value, from the same workspaces (the board's suppression reads them)
    mark["students"] = {_kpi_key(k.initiative_id, k.kpi_id): _value_or_none(lambda k=k: metric_students(
        ws_for(scope_of(k.scope)), k.metric)) for k in kpis.itertuples()}
    rows += _backfill(engine, kpis, whole, current_month, read_snapshots(engine), provider)
    _write_snapshots(engine, rows)
    _fill_baselines(engine)
    data.save_setting(engine, SNAPSHOT_SETTING, mark)
    return True


def _kpi_key(initiative_id: str, kpi_id: str) -> str:
    return f"{initiative_id}/{kpi_id}"


def _value_or_none(compute: Callable[[], float | None]) -> float | None:
    """A KPI whose metric, tool or school is unknown has no data (said on the page), not an error."""
    try:
        return compute()
    except (catalogue.MetricError, ScopeError, KeyError):
        return None


def _backfill(engine: Engine, kpis: pd.DataFrame, whole: District, current_month: pd.Timestamp,
              stored: pd.DataFrame, provider: workspace.Provider) -> list[tuple[str, str, pd.Timestamp, float | None]]:
    """Months before the current one without a snapshot, for metrics whose inputs carry dates: from the later
    of the initiative's start and the first usage week's month. Computed as one shared part (the app keeps it
    per data version, so copies of a database and every reader share it)."""
    weeks = _usage_weeks(engine, whole)
    if weeks.empty:
        return []
    first_month = month_start(weeks.min())
    starts = initiatives_frame(engine).set_index("initiative_id")["start_date"]
    have = set(zip(stored["initiative_id"], stored["kpi_id"], stored["month"], strict=True))
    wanted: list[tuple[pd.Timestamp, str, str, str, str | None]] = []
    for k in kpis.itertuples():
        try:
            base, _ = catalogue.parse_metric(k.metric)
        except catalogue.MetricError:
            continue
        if not catalogue.METRICS[base].backfilled:
            continue
        start = starts.get(k.initiative_id)
        begin = max(first_month, month_start(start) if start is not None and pd.notna(start) else first_month)
        for month in pd.date_range(begin, current_month, freq="MS")[:-1]:
            if (k.initiative_id, k.kpi_id, month) not in have:
                wanted.append((month, k.initiative_id, k.kpi_id, k.metric, scope_text(k.scope)))
    if not wanted:
        return []
    key = hashlib.sha1(json.dumps([(m.date().isoformat(), *rest) for m, *rest in wanted]).encode()).hexdigest()[:16]
    outcome = workspace.load_outcome_choice(engine)
    return provider.part(engine, f"roadmap_backfill:{key}", workspace.DISTRICT_READS,
                         lambda: _backfill_values(engine, whole, wanted, outcome))


def _usage_weeks(engine: Engine, whole: District) -> pd.Series:
    """The weeks holding usage rows: the database's (`summary_week`, no scan) for a district read on demand,
    whose weekly rows are never read here; else the weekly rows' own."""
    if isinstance(whole, workspace.DistrictOnDemand):
        with engine.connect() as conn:
            return summaries.usage_weeks(conn)
    return whole.usage["week_start"]


def _backfill_values(engine: Engine, whole: District, wanted: list, outcome: dict[str, str]
                     ) -> list[tuple[str, str, pd.Timestamp, float | None]]:
    """Each wanted month's values. A district read on demand: the month's ROI analysis from its usage summaries
    computed in the database (bounded memory, no weekly row in pandas); a loaded district: from its rows."""
    rows = []
    months = sorted({w[0] for w in wanted})
    if isinstance(whole, workspace.DistrictOnDemand):
        weeks = _usage_weeks(engine, whole)
        points = [(as_of_at(weeks, month_end(month)), month_end(month)) for month in months]
        usage = (roi_engine.UsageSummary(*frames) for frames in summaries.past_usage_summaries(engine, points))
    else:
        weeks, usage = None, iter([None] * len(months))
    for month, summary in zip(months, usage, strict=True):
        past = _AsOfProvider(district_at(whole, month_end(month), weeks), outcome, summary)
        spaces: dict[frozenset[str] | None, workspace.Workspace] = {}
        for _, initiative_id, kpi_id, metric, scope_key in (w for w in wanted if w[0] == month):
            scope = scope_of(scope_key)

            def compute(metric=metric, scope=scope, spaces=spaces, past=past) -> float | None:
                if scope not in spaces:
                    spaces[scope] = _MonthWorkspace(engine, scope, principal=SYSTEM, provider=past)
                return metric_value(spaces[scope], metric)

            rows.append((initiative_id, kpi_id, month, _value_or_none(compute)))
    return rows


def _fill_baselines(engine: Engine) -> None:
    """A KPI stored without a baseline (an imported file left it blank) gets its first monthly value."""
    snaps = read_snapshots(engine).dropna(subset=["value"]).sort_values("month")
    first = snaps.groupby(["initiative_id", "kpi_id"])["value"].first()
    with Session(engine) as db:
        for row in db.scalars(select(Kpi).where(Kpi.baseline.is_(None))):
            value = first.get((row.initiative_id, row.kpi_id))
            if value is not None:
                row.baseline = float(value)
                db.add(row)
        db.commit()


def invalidate(engine: Engine) -> None:
    """Make the next read refresh the snapshots (after an edit)."""
    data.save_setting(engine, SNAPSHOT_SETTING, {"token": None, "edited": dt.datetime.now(dt.UTC).isoformat()})


# ============================================================== the roadmap as read

@dataclass
class Roadmap:
    """The roadmap as the principal may read it: initiatives, their KPIs with status, monthly series."""

    initiatives: pd.DataFrame           # INITIATIVE_COLUMNS + met/on_track/at_risk/no_data/kpis
    kpis: pd.DataFrame                  # one row per visible KPI (see `kpi_rows`)
    series: dict[tuple[str, str], pd.Series]
    as_of: pd.Timestamp
    month: pd.Timestamp                 # the data's current month (the latest snapshot month)
    hidden_kpis: int = 0                # KPIs of schools outside the principal's scope
    scenarios: list[str] = field(default_factory=list)
    school_names: dict[str, str] = field(default_factory=dict)
    tool_names: dict[str, str] = field(default_factory=dict)
    suppresses: bool = False            # KPIs over fewer students than the threshold show no value (board view)
    min_n: int = field(default_factory=rules.suppression_threshold)

    @property
    def is_empty(self) -> bool:
        return self.initiatives.empty


KPI_ROW_COLUMNS = ["initiative_id", "initiative", "kpi_id", "metric", "metric_label", "unit", "scope", "scope_label",
                   "baseline", "current", "target", "target_date", "status", "projected", "months",
                   "previous", "previous_month", "change", "note", "students", "suppressed"]
SUPPRESSED_VALUES = ("baseline", "current", "projected", "previous", "change")


def roadmap(ws: workspace.Workspace) -> Roadmap:
    """The roadmap (snapshots refreshed first when the data changed) as `ws.principal` may read it: every
    initiative; KPIs of the district and of the principal's schools."""
    engine = ws.engine
    refresh_snapshots(engine, ws.provider)
    initiatives = initiatives_frame(engine).sort_values(["start_date", "name"]).reset_index(drop=True)
    kpis = kpis_frame(engine)
    visible = kpis["scope"].map(lambda s: scope_of(s) is None or ws.scope is None or scope_of(s) <= ws.scope) \
        if len(kpis) else pd.Series(dtype=bool)
    hidden = int((~visible).sum()) if len(kpis) else 0
    kpis = kpis[visible] if len(kpis) else kpis
    whole = ws.whole
    schools = dict(zip(whole.schools["school_id"].astype(str), whole.schools["school_name"].astype(str), strict=True))
    tools = dict(zip(whole.tools["tool_id"].astype(str), whole.tools["tool_name"].astype(str), strict=True))
    snaps = read_snapshots(engine)
    current_month = month_start(whole.as_of) if not whole.is_empty else month_start(pd.Timestamp.today())
    names = dict(zip(initiatives["initiative_id"], initiatives["name"], strict=True))
    rows, series = [], {}
    for k in kpis.itertuples():
        mine = snaps[(snaps["initiative_id"] == k.initiative_id) & (snaps["kpi_id"] == k.kpi_id)]
        values = mine.dropna(subset=["value"]).set_index("month")["value"].sort_index()
        values = values[values.index <= current_month]
        series[(k.initiative_id, k.kpi_id)] = values
        rows.append(kpi_row(k._asdict(), values, current_month, names.get(k.initiative_id, k.initiative_id),
                            schools, tools))
    frame = pd.DataFrame(rows, columns=KPI_ROW_COLUMNS)
    saved = data.load_setting(engine, SNAPSHOT_SETTING, None)
    counts = saved.get("students", {}) if isinstance(saved, dict) else {}
    frame["students"] = [counts.get(_kpi_key(k.initiative_id, k.kpi_id)) for k in frame.itertuples()]
    min_n = rules.suppression_threshold()
    frame["suppressed"] = [n is not None and n < min_n for n in frame["students"]]
    counts = (frame.groupby("initiative_id")["status"].value_counts().unstack(fill_value=0)
              if len(frame) else pd.DataFrame())
    for status in STATUSES:
        initiatives[status] = initiatives["initiative_id"].map(counts[status] if status in counts else {}).fillna(0) \
            .astype("int64")
    initiatives["kpis"] = initiatives[list(STATUSES)].sum(axis=1)
    view = Roadmap(initiatives=initiatives, kpis=frame, series=series, as_of=whole.as_of, month=current_month,
                   hidden_kpis=hidden, scenarios=data.list_scenarios(engine), school_names=schools, tool_names=tools)
    # roles that read aggregates only (board members, viewers) get the board's view (methods v2 §8)
    return view if ws.principal.can(Action.VIEW_STUDENTS) else for_board(view)


def for_board(view: Roadmap) -> Roadmap:
    """The roadmap as board material states it (methods v2 §8): a KPI computed over fewer students than the
    suppression threshold shows no value, change or trend (its status stays: met, on track, at risk)."""
    small = view.kpis["suppressed"].astype(bool) if len(view.kpis) else pd.Series(dtype=bool)
    if not small.any():
        return replace(view, suppresses=True)
    kpis = view.kpis.copy()
    for col in SUPPRESSED_VALUES:
        kpis[col] = kpis[col].astype("object").where(~small, None)
    hidden = set(zip(kpis.loc[small, "initiative_id"], kpis.loc[small, "kpi_id"], strict=True))
    series = {key: (values.iloc[0:0] if key in hidden else values) for key, values in view.series.items()}
    return replace(view, kpis=kpis, series=series, suppresses=True)


def kpi_row(kpi: dict[str, Any], values: pd.Series, current_month: pd.Timestamp, initiative: str,
            schools: dict[str, str], tools: dict[str, str]) -> dict[str, Any]:
    """One KPI as every surface states it: current (this month's value), status, the previous month's value."""
    unit = catalogue.unit_of(kpi["metric"])
    target = float(kpi["target"])
    baseline = _number(kpi.get("baseline"))
    note = ""
    try:
        catalogue.parse_metric(kpi["metric"])
    except catalogue.MetricError as exc:
        note = str(exc)
    current_values = values[values.index == current_month]
    current = float(current_values.iloc[-1]) if len(current_values) else None
    status = kpi_status(values if current is not None else values.iloc[0:0], target=target,
                        target_date=kpi["target_date"], baseline=baseline)
    before = values[values.index < current_month]
    previous = float(before.iloc[-1]) if len(before) else None
    scope = scope_text(kpi.get("scope"))
    if current is None and not note:
        note = "No value for the data's current month (the metric has no data in this scope)."
    return {
        "initiative_id": kpi["initiative_id"], "initiative": initiative, "kpi_id": kpi["kpi_id"],
        "metric": kpi["metric"], "metric_label": catalogue.metric_label(kpi["metric"], tools), "unit": unit,
        "scope": scope, "scope_label": "District" if scope == DISTRICT else schools.get(scope, scope),
        "baseline": baseline, "current": current, "target": target,
        "target_date": pd.Timestamp(kpi["target_date"]), "status": status.status, "projected": status.projected,
        "months": int(len(values)), "previous": previous,
        "previous_month": before.index[-1] if len(before) else None,
        "change": (current - previous) if current is not None and previous is not None else None, "note": note,
    }


def kpi_records(view: Roadmap) -> list[dict[str, Any]]:
    """`roadmap --format json` and the report JSON's `roadmap`: one dict per KPI (data contract v2 keys + extras)."""
    out = []
    for r in view.kpis.itertuples():
        out.append({
            "initiative_id": r.initiative_id, "kpi_id": r.kpi_id, "metric": r.metric, "scope": r.scope,
            "baseline": _number(r.baseline), "current": _number(r.current), "target": _number(r.target),
            "target_date": pd.Timestamp(r.target_date).date().isoformat(), "status": r.status,
            "initiative": r.initiative, "metric_label": r.metric_label, "unit": r.unit,
            "previous": _number(r.previous),
            "previous_month": None if r.previous_month is None else pd.Timestamp(r.previous_month).date().isoformat(),
            "projected": _number(r.projected), "months": int(r.months),
            # fewer students than the threshold behind the value: withheld in board material (methods v2 §8)
            "suppressed": bool(r.suppressed) and view.suppresses,
        })
    return out


def roadmap_json(ws: workspace.Workspace, *, board: bool = False) -> dict[str, Any]:
    """`{"kpis": [...], ...}` of the CLI and of `report --format json` (one function for both; `board`: the
    board's view, as the report states it)."""
    view = for_board(roadmap(ws)) if board else roadmap(ws)
    return {"as_of": view.as_of.date().isoformat(), "month": view.month.date().isoformat(),
            "kpis": kpi_records(view),
            "initiatives": [{"initiative_id": r.initiative_id, "name": r.name, "status": r.status,
                             "start_date": pd.Timestamp(r.start_date).date().isoformat(),
                             "end_date": pd.Timestamp(r.end_date).date().isoformat(),
                             "scenario": r.scenario} for r in view.initiatives.itertuples()]}


# ============================================================== edits (director only, audited)

def _clean_text(value: Any, what: str, required: bool = False) -> str | None:
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()
    if required and not text:
        raise RoadmapError(f"{what} is required.")
    if len(text) > MAX_TEXT:
        raise RoadmapError(f"{what} is longer than {MAX_TEXT:,} characters.")
    return text or None


def _check_id(value: Any, what: str) -> str:
    text = str(value or "").strip()
    if not _ID.match(text):
        raise RoadmapError(f"{what} must be 1–40 letters, digits, '.', '_' or '-' (got {text!r}).")
    return text


def _date(value: Any, what: str) -> dt.date:
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise RoadmapError(f"{what} is not a date: {value!r}.") from exc
    if pd.isna(stamp):
        raise RoadmapError(f"{what} is required.")
    return stamp.date()


def _next_id(existing: list[str], prefix: str) -> str:
    numbers = [int(m.group(1)) for e in existing if (m := re.fullmatch(rf"{prefix}(\d+)", str(e)))]
    return f"{prefix}{max(numbers, default=0) + 1:02d}"


def save_initiative(engine: Engine, values: dict[str, Any], *, principal: Principal,
                    initiative_id: str | None = None) -> str:
    """Create (no id) or update an initiative; returns its id. Director only; audited."""
    principal.require(Action.EDIT_ROADMAP)
    name = _clean_text(values.get("name"), "The name", required=True)
    start, end = _date(values.get("start_date"), "The start date"), _date(values.get("end_date"), "The end date")
    if end < start:
        raise RoadmapError("The end date is before the start date.")
    status = _clean_text(values.get("status"), "The status") or "planned"
    if status not in INITIATIVE_STATUSES:
        raise RoadmapError(f"Unknown status {status!r}: use one of {', '.join(INITIATIVE_STATUSES)}.")
    scenario = _clean_text(values.get("scenario"), "The scenario")
    if scenario and scenario not in data.list_scenarios(engine):
        raise RoadmapError(f"No saved budget scenario is named {scenario!r}.")
    data.init_db(engine)
    with Session(engine) as db:
        if initiative_id is None:
            existing = [str(i) for i in db.scalars(select(Initiative.initiative_id))]
            initiative_id = _check_id(values.get("initiative_id") or _next_id(existing, "I"), "The initiative id")
            if initiative_id in existing:
                raise RoadmapError(f"An initiative {initiative_id!r} exists already.")
            row = Initiative(initiative_id=initiative_id, name=name, start_date=start, end_date=end)
            action = "roadmap initiative created"
        else:
            row = db.get(Initiative, initiative_id)
            if row is None:
                raise RoadmapError(f"No initiative {initiative_id!r}.")
            action = "roadmap initiative edited"
        row.name, row.start_date, row.end_date, row.status, row.scenario = name, start, end, status, scenario
        row.goal = _clean_text(values.get("goal"), "The goal")
        row.owner = _clean_text(values.get("owner"), "The owner")
        db.add(row)
        db.commit()
    audit.record(engine, principal, action, detail=f"{initiative_id}: {name}")
    invalidate(engine)
    return initiative_id


def delete_initiative(engine: Engine, initiative_id: str, *, principal: Principal) -> None:
    """Delete an initiative with its KPIs and their snapshots. Director only; audited."""
    principal.require(Action.EDIT_ROADMAP)
    with Session(engine) as db:
        row = db.get(Initiative, initiative_id)
        if row is None:
            raise RoadmapError(f"No initiative {initiative_id!r}.")
        name = row.name
        db.execute(delete(KpiSnapshot).where(KpiSnapshot.initiative_id == initiative_id))
        db.execute(delete(Kpi).where(Kpi.initiative_id == initiative_id))
        db.delete(row)
        db.commit()
    audit.record(engine, principal, "roadmap initiative deleted", detail=f"{initiative_id}: {name}")
    invalidate(engine)


def check_kpi(engine: Engine, values: dict[str, Any]) -> tuple[str, str | None, float | None, float, dt.date]:
    """(metric, scope, baseline, target, target_date) of a KPI, checked against the catalogue and the data."""
    metric = str(values.get("metric") or "").strip()
    try:
        base, tool = catalogue.parse_metric(metric)
    except catalogue.MetricError as exc:
        raise RoadmapError(str(exc)) from exc
    metric = catalogue.metric_key(base, tool)
    if tool is not None and tool not in set(data.read_table(engine, "tools")["tool_id"].astype(str)):
        raise RoadmapError(f"Unknown tool {tool!r}.")
    scope = scope_of(values.get("scope"))
    if scope is not None and not scope <= workspace.school_ids(engine):
        raise RoadmapError(f"Unknown school {next(iter(scope))!r}.")
    target = _number(values.get("target"))
    if target is None:
        raise RoadmapError("The target must be a number.")
    baseline = _number(values.get("baseline"))
    if catalogue.METRICS[base].unit == "share" and not all(0 <= v <= 1 for v in (target, baseline) if v is not None):
        raise RoadmapError("A share's baseline and target are between 0 and 1 (e.g. 0.8 for 80%).")
    return metric, (None if scope is None else next(iter(scope))), baseline, target, \
        _date(values.get("target_date"), "The target date")


def save_kpi(engine: Engine, initiative_id: str, values: dict[str, Any], *, principal: Principal,
             kpi_id: str | None = None, provider: workspace.Provider | None = None) -> str:
    """Create (no id) or update a KPI of an initiative; returns its id. Without a baseline, the baseline is the
    metric's value in the data now (the same function the roadmap shows). Director only; audited."""
    principal.require(Action.EDIT_ROADMAP)
    metric, scope, baseline, target, target_date = check_kpi(engine, values)
    if baseline is None:
        baseline = metric_value(workspace.Workspace(engine, scope_of(scope), principal=SYSTEM, provider=provider),
                                metric)
    with Session(engine) as db:
        if db.get(Initiative, initiative_id) is None:
            raise RoadmapError(f"No initiative {initiative_id!r}.")
        if kpi_id is None:
            existing = [str(k) for k in db.scalars(select(Kpi.kpi_id).where(Kpi.initiative_id == initiative_id))]
            kpi_id = _check_id(values.get("kpi_id") or _next_id(existing, "K"), "The KPI id")
            if kpi_id in existing:
                raise RoadmapError(f"The initiative has a KPI {kpi_id!r} already.")
            row = Kpi(initiative_id=initiative_id, kpi_id=kpi_id, metric=metric, target=target,
                      target_date=target_date)
            action = "roadmap KPI created"
        else:
            row = db.get(Kpi, (initiative_id, kpi_id))
            if row is None:
                raise RoadmapError(f"No KPI {kpi_id!r} in initiative {initiative_id!r}.")
            if row.metric != metric or (row.scope or None) != scope:  # another figure: its history is not this one's
                db.execute(delete(KpiSnapshot).where((KpiSnapshot.initiative_id == initiative_id)
                                                     & (KpiSnapshot.kpi_id == kpi_id)))
            action = "roadmap KPI edited"
        row.metric, row.scope, row.baseline, row.target, row.target_date = metric, scope, baseline, target, target_date
        db.add(row)
        db.commit()
    audit.record(engine, principal, action,
                 detail=f"{initiative_id}/{kpi_id}: {metric} ({scope or DISTRICT}) target {target:g} by {target_date}")
    invalidate(engine)
    return kpi_id


def delete_kpi(engine: Engine, initiative_id: str, kpi_id: str, *, principal: Principal) -> None:
    principal.require(Action.EDIT_ROADMAP)
    with Session(engine) as db:
        row = db.get(Kpi, (initiative_id, kpi_id))
        if row is None:
            raise RoadmapError(f"No KPI {kpi_id!r} in initiative {initiative_id!r}.")
        db.execute(delete(KpiSnapshot).where((KpiSnapshot.initiative_id == initiative_id)
                                             & (KpiSnapshot.kpi_id == kpi_id)))
        db.delete(row)
        db.commit()
    audit.record(engine, principal, "roadmap KPI deleted", detail=f"{initiative_id}/{kpi_id}")
    invalidate(engine)


def import_csv(engine: Engine, kind: str, name: str, content: bytes, *, principal: Principal) -> data.ImportReport:
    """An initiatives or kpis CSV through the normal importer (checks, all or nothing, upsert); director only."""
    principal.require(Action.EDIT_ROADMAP)
    if kind not in ("initiatives", "kpis"):
        raise RoadmapError("Roadmap files are initiatives or kpis.")
    from edtech.services.dataset import audit_imports

    report = data.import_bytes(engine, kind, name, content, user=audit.actor_name(principal))
    audit_imports(engine, principal, [report])
    return report


def export_csv(engine: Engine, kind: str, *, principal: Principal = SYSTEM) -> bytes:
    """The initiatives or kpis table as a CSV the importer reads back (formula-like text neutralized)."""
    principal.require(Action.EXPORT_AGGREGATES)
    frame = initiatives_frame(engine) if kind == "initiatives" else kpis_frame(engine)
    if principal.scope is not None and kind == "kpis":
        frame = frame[frame["scope"].map(lambda s: scope_of(s) is None or scope_of(s) <= principal.scope)]
    out = frame.copy()
    for col in ("start_date", "end_date", "target_date"):
        if col in out:
            out[col] = pd.to_datetime(out[col]).dt.strftime("%Y-%m-%d")
    return neutralize_frame(out).to_csv(index=False).encode("utf-8")


def status_csv(view: Roadmap, *, principal: Principal = SYSTEM) -> bytes:
    """Each visible KPI with its current value and status (the CLI's records) as CSV."""
    principal.require(Action.EXPORT_AGGREGATES)
    return neutralize_frame(pd.DataFrame(kpi_records(view))).to_csv(index=False).encode("utf-8")


# ============================================================== the catalogue's pickers

OPTION_READS = ("table:tools", "table:schools")


def metric_options(ws: workspace.Workspace) -> dict[str, Any]:
    """What the page's pickers offer: catalogue metrics (key -> label, needs tool), tools and schools."""
    tools, schools = ws.whole.tools, ws.whole.schools
    return {
        "metrics": {m.key: m.label for m in catalogue.METRICS.values()},
        "needs_tool": {m.key: m.needs_tool for m in catalogue.METRICS.values()},
        "units": {m.key: m.unit for m in catalogue.METRICS.values()},
        "definitions": {m.key: m.definition for m in catalogue.METRICS.values()},
        "tools": dict(zip(tools["tool_id"].astype(str), tools["tool_name"].astype(str), strict=True)),
        "schools": dict(zip(schools["school_id"].astype(str), schools["school_name"].astype(str), strict=True)),
    }
