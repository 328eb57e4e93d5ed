"""Use case "how is each school adopting its tools?" (page `app_pages/adoption.py`, CLI `adoption`)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy.engine import Engine

from edtech.adoption import engine as adoption
from edtech.adoption import equity, viz
from edtech.core.access import SYSTEM, Action, Principal
from edtech.core.district import District
from edtech.core.scope import Scope, restrict_district
from edtech.roi.engine import UsageSummary
from edtech.services import workspace

# the columns the CLI prints, in order
CLI_COLUMNS = ["school_id", "school_name", "tool_id", "tool_name", "licensed_students", "active_users",
               "utilization", "dosage_met", "dosage_met_share", "fidelity", "implements_with_fidelity",
               "district_median_utilization", "similar_median_utilization", "similar_schools", "frl_band", "level"]


@dataclass
class AdoptionReport:
    """Everything the adoption page shows, computed once per data version for the district (stored in the
    database: `adoption_report`) and cut to a scope (`scope_report`)."""

    district: District               # the tables the page reads (for a scope: their rows; see `scope_district`)
    schools: pd.DataFrame            # school × tool adoption table
    tool_totals: pd.DataFrame        # per tool, reconciles with edtech.roi
    weekly: pd.DataFrame             # week × school × tool active users
    concentration: pd.DataFrame
    pd_change: pd.DataFrame
    access_cells: pd.DataFrame       # offered student × tool pairs added up per school × tool × subgroup flags
    access_reach: pd.DataFrame       # distinct students offered any tool per school × flags (equity.access_cells)
    equity_quartile: pd.DataFrame
    equity_subgroup: pd.DataFrame
    devices: pd.DataFrame
    device_rows: pd.DataFrame        # device inventory rows per school_id (blank: assigned through a student)
    dosage_bins: pd.DataFrame        # students per school × tool × bin of the dosage histogram
    aggregate_top: pd.DataFrame
    aggregate_weekly: pd.DataFrame
    aggregate_total: pd.DataFrame
    aggregate_shift: pd.DataFrame
    aggregate_marker: pd.Timestamp | None
    # the student × tool rows, read when first asked for (`student_usage`): only one school's views need them
    student_usage_source: Callable[[], pd.DataFrame] = field(repr=False, compare=False)

    @cached_property
    def student_usage(self) -> pd.DataFrame:
        """Student × tool in the contract year (never shown as names unless allowed)."""
        return self.student_usage_source()

    @property
    def has_aggregate(self) -> bool:
        return not self.district.usage_aggregate.empty

    @property
    def aggregate_level(self) -> str:
        return adoption.aggregate_level(self.district.usage_aggregate) if self.has_aggregate else ""

    @property
    def has_devices(self) -> bool:
        """A device inventory is loaded (for a scope: rows of its schools), without reading it."""
        return bool(self.device_rows["rows"].sum() > 0)

    @property
    def has_offers(self) -> bool:
        """Some student is offered a licensed tool (the equity tables have rows)."""
        return not self.access_cells.empty

    @property
    def offered_tools(self) -> list[str]:
        return sorted(set(self.access_cells["tool_id"]))

    @property
    def access(self) -> pd.DataFrame:
        """The offered student × tool pairs with `active` / `dosage_met`, built on demand: they grow with
        students × tools, so no page builds them (the equity tables come from `access_cells`)."""
        return equity.student_access(self.district.students, self.district.tools,
                                     self.schools[["school_id", "tool_id", "licensed_students"]], self.student_usage)


ACTIVE_USER_RULE = adoption.ACTIVE_USER_RULE
SEAT_ALLOCATION_RULE = adoption.SEAT_ALLOCATION_RULE
READS = tuple(f"table:{t}" for t in ("schools", "students", "tools", "licenses", "usage", "devices", "pd_sessions",
                                     "usage_aggregate"))
# the tables a report's district carries: what the page and the one-school views read (never the raw usage)
PAGE_TABLES = ("schools", "students", "tools", "licenses", "devices", "pd_sessions", "usage_aggregate")


def student_usage_of(district: District, summary: UsageSummary | None = None) -> pd.DataFrame:
    """The student × tool rows of the contract year, from the database's summaries when given."""
    if summary is not None:
        return adoption.student_tool_usage(district, summary.student_tool, summary.school_weeks)
    return adoption.student_tool_usage(district)


def build_report(district: District, pd_weeks: int = 6, top_n: int = 10,
                 summary: UsageSummary | None = None) -> AdoptionReport:
    """Compute every adoption table for the whole district (a scope selects from it: `scope_report`);
    usage from the database's summaries when given (`Workspace.summary`), else the raw weekly rows."""
    per = student_usage_of(district, summary)
    if summary is not None:
        weekly = adoption.weekly_trend_from_summary(summary.school_weeks)
    else:
        weekly = adoption.weekly_trend(district.usage, district.students)
    schools = adoption.school_tool_adoption(district, per)
    seats = schools[["school_id", "tool_id", "licensed_students"]]
    # the pairs are built once here and kept only as their cells
    cells, reach = equity.access_cells(equity.student_access(district.students, district.tools, seats, per),
                                       district.students)
    agg = district.usage_aggregate
    marker = None
    if len(agg):
        # the spring-2020 school closures, when the data covers them; else no marker
        lo, hi = agg["date"].min(), agg["date"].max()
        marker = adoption.SCHOOL_CLOSURE_2020 if lo < adoption.SCHOOL_CLOSURE_2020 < hi else None
    top = adoption.aggregate_top_products(agg, district.tools, n=top_n)
    return AdoptionReport(
        district=district, student_usage_source=lambda: per, schools=schools, tool_totals=adoption.tool_totals(schools),
        weekly=weekly, concentration=adoption.use_concentration(per, district.schools),
        pd_change=adoption.pd_usage_change(district.pd_sessions, weekly, weeks=pd_weeks),
        access_cells=cells, access_reach=reach,
        equity_quartile=equity.frl_quartile_table(cells, reach, district.schools),
        equity_subgroup=equity.subgroup_table(cells, reach),
        devices=equity.device_coverage(district.devices, district.students, district.schools, district.as_of),
        device_rows=district.devices.groupby("school_id", dropna=False).size().rename("rows").reset_index(),
        dosage_bins=adoption.dosage_bins(per),
        aggregate_top=top,
        aggregate_weekly=adoption.aggregate_weekly_trend(agg, top["tool_id"].tolist()),
        aggregate_total=adoption.aggregate_engagement_total(agg),
        aggregate_shift=(adoption.aggregate_shift(agg, top["tool_id"].tolist(), marker)
                         if marker is not None else pd.DataFrame(columns=["tool_id", "before", "after", "change"])),
        aggregate_marker=marker)


def scope_district(whole: District, scope: Scope) -> District:
    """The scope's slice of the tables the adoption page reads (`PAGE_TABLES`, cut by the one scope rule);
    the raw weekly usage and the other tables are not read: a coordinator's view comes from the stored
    district report (`student_usage`, `weekly`), so it never scans the weekly rows."""
    if scope is None:
        return whole
    return restrict_district(District(**{t: getattr(whole, t) for t in PAGE_TABLES}, fixed_as_of=whole.as_of), scope)


def scope_report(full: AdoptionReport, scope: frozenset[str] | None, district: District) -> AdoptionReport:
    """A coordinator's rows of the district report: their schools' rows; medians, similar-school
    comparisons, concentration and FRL quartiles stay district facts (edtech.core.scope)."""
    if scope is None:
        return full

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["school_id"].isin(scope)].reset_index(drop=True) if "school_id" in frame else frame

    schools = mine(full.schools)
    cells, reach = equity.cells_of(full.access_cells, full.access_reach, frozenset(scope))
    return replace(
        full, district=district, student_usage_source=lambda: mine(full.student_usage), schools=schools,
        tool_totals=adoption.tool_totals(schools), weekly=mine(full.weekly), pd_change=mine(full.pd_change),
        access_cells=cells.reset_index(drop=True), access_reach=reach.reset_index(drop=True),
        equity_quartile=equity.frl_quartile_table(cells, reach, full.district.schools),
        equity_subgroup=equity.subgroup_table(cells, reach), devices=mine(full.devices),
        device_rows=mine(full.device_rows), dosage_bins=mine(full.dosage_bins))


# the report's frames kept in the database (`summary_parts`); its district is the reader's, and its student ×
# tool rows are a part of their own, read only by the views that need them (a school's, the offered pairs)
_STORED_FRAMES = ("schools", "tool_totals", "weekly", "concentration", "pd_change", "access_cells",
                  "access_reach", "equity_quartile", "equity_subgroup", "devices", "device_rows", "dosage_bins",
                  "aggregate_top", "aggregate_weekly", "aggregate_total", "aggregate_shift")


def report_to_bytes(report: AdoptionReport) -> bytes:
    marker = None if report.aggregate_marker is None else str(report.aggregate_marker)
    return workspace.frames_to_bytes({name: getattr(report, name) for name in _STORED_FRAMES},
                                     {"aggregate_marker": marker})


def report_from_bytes(payload: bytes, district: District, student_usage: Callable[[], pd.DataFrame]) -> AdoptionReport:
    frames, meta = workspace.frames_from_bytes(payload)
    # Parquet gives lists back as arrays
    frames["concentration"]["top_schools"] = frames["concentration"]["top_schools"].map(
        lambda v: list(v) if v is not None else [])
    marker = meta["aggregate_marker"]
    return AdoptionReport(district=district, **{name: frames[name] for name in _STORED_FRAMES},
                          aggregate_marker=None if marker is None else pd.Timestamp(marker),
                          student_usage_source=student_usage)


def _students_to_bytes(frame: pd.DataFrame) -> bytes:
    return workspace.frames_to_bytes({"student_usage": frame}, {})


def _students_from_bytes(payload: bytes) -> pd.DataFrame:
    return workspace.frames_from_bytes(payload)[0]["student_usage"]


def district_report(ws: workspace.Workspace) -> AdoptionReport:
    """The whole district's adoption report: computed by the first process after an import and stored,
    read back by every later one (`Workspace.stored`; registered in services.precompute)."""
    whole = ws.whole

    def student_usage(compute: Callable[[], pd.DataFrame] | None = None) -> pd.DataFrame:
        return ws.stored("adoption_students", READS, compute or (lambda: student_usage_of(whole, ws.summary)),
                         _students_to_bytes, _students_from_bytes)

    def compute() -> AdoptionReport:
        report = build_report(whole, summary=ws.summary)
        student_usage(lambda: report.student_usage)  # stored with it
        return report

    return ws.stored("adoption", READS, compute, report_to_bytes,
                     lambda payload: report_from_bytes(payload, whole, student_usage))


def precompute(ws: workspace.Workspace) -> AdoptionReport:
    """The stored parts of the district report and its figures (services.precompute, after an import)."""
    report = district_report(ws)
    report.student_usage  # noqa: B018 - read (or computed and stored) now, not by the first school view
    district_figures(ws)
    return report


def adoption_report(ws: workspace.Workspace) -> AdoptionReport:
    """The adoption report of the workspace's scope: the district report's rows of the scope's schools."""
    return scope_report(district_report(ws), ws.scope, scope_district(ws.whole, ws.scope))


def load_report(engine: Engine, scope: frozenset[str] | None = None, principal: Principal = SYSTEM) -> AdoptionReport:
    return adoption_report(workspace.Workspace(engine, scope, principal=principal))


@dataclass
class SchoolView:
    """What the adoption page draws for one school (or all of the scope's): figures and tables."""

    trend: go.Figure
    dosage: go.Figure
    devices: go.Figure
    not_using: pd.DataFrame
    aggregate: dict[str, go.Figure]


def _draw_figures(report: AdoptionReport, school_id: str | None) -> dict[str, go.Figure]:
    """The figures of the page's view of one school (or every school of the report)."""
    tools = report.district.tools
    weekly = report.weekly if school_id is None else report.weekly[report.weekly["school_id"] == school_id]
    devices = report.devices if school_id is None else report.devices[report.devices["school_id"] == school_id]
    figures = {"trend": viz.weekly_trend_lines(weekly, tools),
               "dosage": viz.dosage_distribution(adoption.dosage_histogram(report.dosage_bins, school_id), tools),
               "devices": viz.device_coverage_bars(devices)}
    if report.has_aggregate:
        label = "US school closures (13 Mar 2020)" if report.aggregate_marker is not None else ""
        figures |= {
            "aggregate:top": viz.aggregate_top_products(report.aggregate_top),
            "aggregate:trend": viz.aggregate_trend(report.aggregate_weekly, report.aggregate_top,
                                                   report.aggregate_marker, label),
            "aggregate:total": viz.aggregate_engagement_total(report.aggregate_total, report.aggregate_marker, label)}
    return figures


def _heatmap(report: AdoptionReport, value: str) -> go.Figure:
    return viz.adoption_heatmap(report.schools, value, f"{value.title()} by school and tool")


HEATMAP_VALUES = ("utilization", "fidelity")


def draw_district_figures(report: AdoptionReport) -> dict[str, go.Figure]:
    """Every figure of the district's view (`district_figures` stores them)."""
    return {**_draw_figures(report, None), **{f"heatmap:{v}": _heatmap(report, v) for v in HEATMAP_VALUES},
            "equity": viz.frl_quartile_bars(report.equity_quartile)}


def _figures_to_bytes(figures: dict[str, go.Figure]) -> bytes:
    return json.dumps({name: fig.to_json() for name, fig in figures.items()}).encode()


def _figures_from_bytes(payload: bytes) -> dict[str, go.Figure]:
    # the JSON of figures plotly built and checked: read back without checking every property again
    return {name: go.Figure(json.loads(spec), _validate=False) for name, spec in json.loads(payload).items()}


def district_figures(ws: workspace.Workspace) -> dict[str, go.Figure]:
    """The figures of the district's view (every school, every tool, both heatmap colours), drawn once per
    data version and stored like the report: a cold open of the page draws none of them (plotly's figure
    building was most of its cost). A scope's or one school's figures are drawn from the report's rows."""
    return ws.stored("adoption_figures", READS, lambda: draw_district_figures(district_report(ws)), _figures_to_bytes,
                     _figures_from_bytes)


def school_view(ws: workspace.Workspace, school_id: str | None) -> SchoolView:
    report = adoption_report(ws)
    figures = district_figures(ws) if ws.scope is None and school_id is None else _draw_figures(report, school_id)
    return SchoolView(
        trend=figures["trend"], dosage=figures["dosage"], devices=figures["devices"],
        not_using=(adoption.not_using_by_grade(report.district, report.student_usage, school_id)
                   if school_id is not None else pd.DataFrame()),
        aggregate={name.removeprefix("aggregate:"): fig for name, fig in figures.items()
                   if name.startswith("aggregate:")})


def heatmap(ws: workspace.Workspace, value: str) -> go.Figure:
    """The scope's schools × tools coloured by `value` ("utilization" or "fidelity")."""
    if ws.scope is None and value in HEATMAP_VALUES:
        return district_figures(ws)[f"heatmap:{value}"]
    return _heatmap(adoption_report(ws), value)


def equity_view(ws: workspace.Workspace, tool_id: str | None) -> tuple[pd.DataFrame, pd.DataFrame, go.Figure]:
    """(by FRL quartile, by subgroup, quartile chart) for one tool or all (None); quartiles are district-wide."""
    report = adoption_report(ws)
    cells, reach = equity.cells_of(report.access_cells, report.access_reach, tool_id=tool_id)
    by_quartile = equity.frl_quartile_table(cells, reach, ws.whole.schools)
    by_subgroup = equity.subgroup_table(cells, reach)
    chart = (district_figures(ws)["equity"] if ws.scope is None and tool_id is None
             else viz.frl_quartile_bars(by_quartile))
    return by_quartile, by_subgroup, chart


def not_using_students(ws: workspace.Workspace, school_id: str) -> pd.DataFrame:
    """Students of one school (in scope) not using each tool they are offered (roles that see students only;
    a school outside the principal's scope yields no rows)."""
    ws.require(Action.VIEW_STUDENTS)
    if ws.scope is not None and school_id not in ws.scope:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("student_id", "grade_level", "tool_id")})
    report = adoption_report(ws)
    return adoption.not_using_students(report.district, report.student_usage, school_id)


def pd_figure(ws: workspace.Workspace, row: int, title: str) -> go.Figure:
    """Before/after chart of the PD event at position `row` of the report's pd_change table."""
    report = adoption_report(ws)
    ev = report.pd_change.iloc[row]
    window = adoption.pd_weekly_window(report.weekly, ev["school_id"], ev["tool_id"], ev["pd_date"])
    return viz.pd_before_after(window, title)


def school_table(report: AdoptionReport, school_id: str | None = None) -> pd.DataFrame:
    """The school × tool rows (of one school, or all) with the CLI's columns."""
    rows = report.schools if school_id is None else report.schools[report.schools["school_id"] == school_id]
    return rows[CLI_COLUMNS].reset_index(drop=True)


def bench_adoption(n_students: int = 50000, seed: int = 2025) -> dict[str, float]:
    """Seconds to build the district adoption report and one school's slice (generation not counted)."""
    import time

    from edtech.core.scope import restrict_district
    from edtech.sample.generate import generate_district

    district = generate_district(n_students=n_students, seed=seed).district
    started = time.perf_counter()
    full = build_report(district)
    built = time.perf_counter()
    school = frozenset({str(district.schools["school_id"].iloc[0])})
    scope_report(full, school, restrict_district(district, school))
    done = time.perf_counter()
    return {"n_students": float(n_students), "district_report_seconds": round(built - started, 3),
            "school_slice_seconds": round(done - built, 3)}


__all__ = ["AdoptionReport", "build_report", "load_report", "school_table"]
