"""Board report: the analyses assembled into sections a director can present (issue 7).

Pure: a `District` (+ a chosen budget scenario, + optional at-risk scores) in, a `BoardReport`
dataclass out. The PDF (`edtech.report_pdf`), the slides (`edtech.report_pptx`) and the app's
preview (`app_pages/report.py`) all draw from the same `BoardReport`, and every chart in it is
built by the same `edtech.viz*` functions the app pages use.

Privacy (methods.md §6): every count of students below `min_n` (config.SUPPRESS_MIN, default 10)
is shown as "<10" in every table and chart label; shares computed over such a small group are
blanked. The at-risk section holds counts by school and grade only, never names or IDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from edtech.adoption import engine as adoption
from edtech.adoption import viz as viz_adoption
from edtech.budget import projection as budget
from edtech.budget import viz as viz_budget
from edtech.budget.montecarlo import MonteCarloResult, simulate_budget
from edtech.core import charts as viz
from edtech.core import rules
from edtech.core.district import District
from edtech.core.format import EM_DASH, labels_for, money, pct
from edtech.core.privacy import suppress_small, suppression_label
from edtech.evidence import effects
from edtech.roi import engine as roi
from edtech.roi import figures as roi_figures

SECTION_TITLES: dict[str, str] = {
    "summary": "Executive summary",
    "kpis": "Key figures",
    "roi": "Which tools earn their money",
    "adoption": "Adoption by school",
    "budget": "Budget scenarios",
    "at_risk": "Students who need help (aggregate)",
    "interventions": "Interventions: from a flag to a support",
    "roadmap": "Strategic roadmap",
    "sources": "Data sources and dates",
}
SECTION_KEYS: tuple[str, ...] = tuple(SECTION_TITLES)
DEFAULT_CAPACITY = 0.10  # top 10% of each school's students = intervention capacity (methods.md §4)
NO_MODEL_NOTE = "No model trained yet: train the at-risk model on the At-risk page before these counts can be shown."


# --------------------------------------------------------------------------- the dataclasses
@dataclass
class Kpi:
    label: str
    value: str
    note: str = ""


@dataclass
class ReportTable:
    """A table as shown: every cell already formatted text; `count_columns` hold student counts
    (each either "<min_n" or a whole number >= min_n) so tests can check suppression."""

    title: str
    frame: pd.DataFrame
    count_columns: tuple[str, ...] = ()
    note: str = ""


@dataclass
class ReportChart:
    key: str
    title: str
    figure: go.Figure
    caption: str = ""
    height: int = 500  # pixels at the report's 1200-pixel width


@dataclass
class Section:
    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)  # plain-language text
    kpis: list[Kpi] = field(default_factory=list)
    tables: list[ReportTable] = field(default_factory=list)
    charts: list[ReportChart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the numbers were computed (speaker notes)


@dataclass
class BoardReport:
    title: str
    district_name: str
    as_of: pd.Timestamp
    generated: pd.Timestamp
    scenario_name: str
    min_n: int
    sections: list[Section]
    scoreboard: pd.DataFrame  # the ROI engine's table the numbers come from (not shown raw)
    budget: BudgetComparison | None = None       # the proposal and its baseline (numbers of the budget section)
    risk_counts: pd.DataFrame | None = None      # flagged students by school and grade (no IDs)
    risk_label: str = ""
    interventions: Any = None                    # the InterventionEvaluation the interventions section states

    @property
    def subtitle(self) -> str:
        return (f"{self.district_name} · data through {self.as_of:%B %d, %Y} · "
                f"generated {self.generated:%B %d, %Y}")

    def section(self, key: str) -> Section | None:
        return next((s for s in self.sections if s.key == key), None)

    def tables(self) -> list[ReportTable]:
        return [t for s in self.sections for t in s.tables]

    def charts(self) -> list[ReportChart]:
        return [c for s in self.sections for c in s.charts]


@dataclass
class RiskScores:
    """Per-student calibrated risk from a trained model (kept inside the report builder: only
    counts by school and grade leave it)."""

    scores: pd.DataFrame  # student_id, risk
    model_label: str = ""  # e.g. "version 3, logistic regression, trained 2026-02-01"
    capacity: float = DEFAULT_CAPACITY
    outcome: str = ""      # the published version's target (e.g. `off_track_next_term`, `gpa < 2`)
    # `at_risk_counts` of these scores when the caller has them (the district's are stored with the scores)
    counts: pd.DataFrame | None = None

    def counts_for(self, district: District) -> pd.DataFrame:
        """Flagged students by school and grade (`at_risk_counts`), computed once; the district's roster is
        read only when the counts were not stored with the scores (500,000 students: seconds)."""
        if self.counts is None:
            self.counts = at_risk_counts(self.scores, district.students, district.schools, self.capacity)
        return self.counts

    @property
    def outcome_words(self) -> str:
        """What the model estimates the chance of, in words ("being off track next term")."""
        from edtech.risk.worklist import outcome_phrase

        return outcome_phrase(self.outcome) if self.outcome else "the outcome the model was trained on"


def count_cells(values: pd.Series, min_n: int) -> pd.Series:
    """Whole numbers with thousands separators; below min_n -> "<min_n" (0 included)."""
    frame = suppress_small(pd.DataFrame({"n": pd.to_numeric(values, errors="coerce")}), "n", min_n)
    return frame["n"].map(lambda v: v if isinstance(v, str) else (EM_DASH if v is None or pd.isna(v)
                                                                  else f"{int(round(v)):,}"))


def is_small(values: pd.Series, min_n: int) -> pd.Series:
    return (pd.to_numeric(values, errors="coerce") < min_n).fillna(False).astype(bool)


def _effect_text(row: pd.Series) -> str:
    g = row.get("effect_size")
    if row.get("evidence_label") == effects.LABEL_INSUFFICIENT or g is None or pd.isna(g):
        return EM_DASH
    return f"{g:+.2f} ({row['effect_ci_low']:+.2f} to {row['effect_ci_high']:+.2f})"


def _short_label(label: str) -> str:
    return str(label).split(" (")[0]


# --------------------------------------------------------------------------- chart suppression
def _suppress_bar_labels(fig: go.Figure, small_names: set[str], label: str) -> go.Figure:
    """The utilization bar prints each tool's share and hovers its student count: for a tool with
    fewer than min_n active students, both become the suppression label."""
    if not small_names:
        return fig
    for trace in fig.data:
        names = list(trace.y) if trace.y is not None else []
        if trace.text is not None:
            trace.text = [label if n in small_names else t for n, t in zip(names, trace.text, strict=False)]
        if trace.customdata is not None:
            trace.customdata = [[c[0], label] if n in small_names else list(c)
                                for n, c in zip(names, trace.customdata, strict=False)]
            trace.hovertemplate = "%{y}<br>%{x:.0f}% of %{customdata[0]:,} seats used<br>%{customdata[1]} active students<extra></extra>"
    return fig


def _suppress_heatmap_labels(fig: go.Figure, rows: pd.DataFrame, min_n: int, label: str) -> go.Figure:
    """School x tool cells computed over fewer than min_n active students show the label, not a share."""
    small = rows[is_small(rows["active_users"], min_n)]
    if small.empty or not fig.data or fig.data[0].type != "heatmap":
        return fig
    pairs = set(zip(small["school_name"], small["tool_name"], strict=True))
    trace = fig.data[0]
    text = [list(r) for r in trace.text]
    for i, school in enumerate(trace.y):
        for j, tool in enumerate(trace.x):
            if (school, tool) in pairs:
                text[i][j] = label
    trace.text = text
    return fig


# --------------------------------------------------------------------------- sections
def _roi_section(board: pd.DataFrame, min_n: int) -> Section:
    sec = Section("roi", SECTION_TITLES["roi"])
    if board.empty:
        sec.paragraphs.append("No tools are on file yet.")
        return sec
    label = suppression_label(min_n)
    small_active = is_small(board["active_users"], min_n)
    table = pd.DataFrame({
        "#": board["rank"].map(lambda v: EM_DASH if pd.isna(v) else str(int(v))),
        "Tool": board["tool_name"].astype(str),
        "Annual cost": board["annual_cost"].map(money),
        "Seats": board["seats"].map(lambda v: f"{int(v):,}"),
        "Active students": count_cells(board["active_users"], min_n),
        "Seats used": board["utilization"].map(pct).where(~small_active, EM_DASH),
        # tools without a vendor dosage cannot be judged on it: "n/a", not a suppressed zero
        "Met dosage": count_cells(board["dosage_met"], min_n).where(
            pd.to_numeric(board.get("dosage_known", board["dosage_met"]), errors="coerce").fillna(0) > 0, "n/a"),
        "Effect, SD (95% CI)": board.apply(_effect_text, axis=1),
        "Evidence": board["evidence_label"].map(_short_label),
        "ROI score": board["roi_score"].map(lambda v: EM_DASH if pd.isna(v) else f"{v:.0f}"),
        "Recommendation": labels_for(board["recommendation"], "recommendation"),
    })
    sec.tables.append(ReportTable("ROI scoreboard (best first)", table,
                                  count_columns=("Active students", "Met dosage"),
                                  note="Seats are licensed seats (not students); effect in standard deviations."))
    fig = _suppress_bar_labels(viz.utilization_bar(board), set(board.loc[small_active, "tool_name"]), label)
    sec.charts.append(ReportChart("roi_utilization", "Utilization by tool", fig,
                                  "Share of paid seats used at least once this contract year; the dotted line is "
                                  "the 50% underused threshold.",
                                  # 30 px a bar: short enough to share a PDF page with the scoreboard
                                  height=max(380, 30 * len(board) + 140)))
    working = board[board["evidence_label"].isin([effects.LABEL_MODERATE, effects.LABEL_PROMISING])
                    & (pd.to_numeric(board["effect_size"], errors="coerce") > 0)]
    sec.paragraphs.append(
        f"{len(board)} tools are ranked by a 0–100 ROI score that combines how much of each license is used, "
        f"how many users reach the vendor's recommended dosage, the measured effect on assessments (weighted by "
        f"the strength of its evidence) and the cost per unit of effect. {len(working)} tool(s) show a positive "
        "effect backed by Moderate or Promising local evidence.")
    sec.notes += [
        f"Utilization = {roi.DEFINITIONS['utilization']}. Active user = {roi.DEFINITIONS['active_user']}.",
        f"Met dosage: {roi.DEFINITIONS['dosage_met']}.",
        "Effect: adjusted difference in the tool's subject assessment between students who met dosage and "
        "similar non-users of the same grades (pre-score, grade, school and student groups controlled), in "
        "standard deviations with the Hedges correction; the 95% interval is shown in brackets.",
        "Evidence labels are local and ESSA-aligned (Moderate = Tier II-like, Promising = Tier III-like, "
        "Rationale = Tier IV-like); they are not official ratings.",
        "ROI score weights: " + ", ".join(f"{roi.WEIGHT_LABELS[k]} {v:.0f}%" for k, v in roi.DEFAULT_WEIGHTS.items())
        + " (percentile ranks among the district's tools; missing parts are left out and marked).",
        f"Counts of fewer than {min_n} students are shown as {label}.",
    ]
    return sec


def _school_summary(district: District, rows: pd.DataFrame, active: pd.Series, min_n: int,
                    enrolled: pd.Series | None = None) -> pd.DataFrame:
    """One line per school: enrolled students, distinct active students (`active`: per school_id), seat use,
    dosage, fidelity."""
    schools = district.schools[["school_id", "school_name", "level"]].copy()
    enrolled = district.students.groupby("school_id").size() if enrolled is None else enrolled
    agg = rows.groupby("school_id").agg(
        tools=("tool_id", "nunique"), licensed=("licensed_students", "sum"), users=("active_users", "sum"),
        dosage=("dosage_met", "sum"),
        fidelity_tools=("implements_with_fidelity", lambda s: int(s.fillna(False).astype(bool).sum())),
        fidelity_known=("fidelity", lambda s: int(s.notna().sum()))) if len(rows) else pd.DataFrame()
    schools["students"] = schools["school_id"].map(enrolled).fillna(0)
    schools["active"] = schools["school_id"].map(active).fillna(0)
    for col in ["tools", "licensed", "users", "dosage", "fidelity_tools", "fidelity_known"]:
        schools[col] = schools["school_id"].map(agg[col]).fillna(0) if len(agg) else 0
    small_students = is_small(schools["students"], min_n)
    small_active = is_small(schools["active"], min_n) | small_students
    seat_use = schools["users"] / schools["licensed"].where(schools["licensed"] > 0)
    return pd.DataFrame({
        "School": schools["school_name"].astype(str),
        "Level": labels_for(schools["level"], "school_level"),
        "Students": count_cells(schools["students"], min_n),
        "Active students": count_cells(schools["active"], min_n),
        "Share active": (schools["active"] / schools["students"].where(schools["students"] > 0)).map(pct)
        .where(~small_active, EM_DASH),
        "Tools": schools["tools"].map(lambda v: f"{int(v)}"),
        "Seats used": seat_use.map(pct).where(~is_small(schools["users"], min_n), EM_DASH),
        "Met dosage (student-tools)": count_cells(schools["dosage"], min_n),
        "Tools with fidelity": [f"{int(a)} of {int(b)}" if b else EM_DASH
                                for a, b in zip(schools["fidelity_tools"], schools["fidelity_known"], strict=True)],
    })


def _adoption_section(district: District, min_n: int, usage: AdoptionUsage | None = None) -> Section:
    sec = Section("adoption", SECTION_TITLES["adoption"])
    if usage is None:  # from the raw weekly rows (a caller without the stored adoption report)
        per = adoption.student_tool_usage(district)
        usage = AdoptionUsage(adoption.school_tool_adoption(district, per), AdoptionUsage.active_per_school(per))
    rows = usage.schools
    if rows.empty:
        sec.paragraphs.append("No licensed tools with usage yet.")
        return sec
    label = suppression_label(min_n)
    summary = _school_summary(district, rows, usage.active, min_n, usage.enrolled)
    sec.tables.append(ReportTable("Adoption by school", summary,
                                  count_columns=("Students", "Active students", "Met dosage (student-tools)")))
    heat_rows = rows.copy()
    fig = _suppress_heatmap_labels(viz_adoption.adoption_heatmap(heat_rows), heat_rows, min_n, label)
    sec.charts.append(ReportChart("adoption_heatmap", "Utilization by school and tool", fig,
                                  f"Each cell: active students ÷ seats allocated to the school. {label} marks a "
                                  f"school × tool cell with fewer than {min_n} active students.",
                                  height=max(480, 30 * rows["school_id"].nunique() + 200)))
    util = rows[rows["licensed_students"] > 0]
    spread = util.groupby("tool_name")["utilization"].agg(lambda s: s.max() - s.min())
    uneven = spread[spread.map(rules.is_uneven)].sort_values(ascending=False)
    text = (f"{rows['school_id'].nunique()} schools use {rows['tool_id'].nunique()} licensed tools. ")
    if len(uneven):
        top = uneven.index[0]
        text += (f"Use is uneven for {len(uneven)} tool(s): for {top}, seat use ranges over "
                 f"{uneven.iloc[0] * 100:.0f} percentage points between schools.")
    else:
        text += "No tool's seat use differs by more than 40 points between schools."
    sec.paragraphs.append(text)
    sec.notes += [adoption.ACTIVE_USER_RULE, adoption.SEAT_ALLOCATION_RULE,
                  "Tools with fidelity: tools where at least 80% of the school's licensed students met the "
                  "recommended dosage (only tools with a vendor dosage are counted).",
                  f"Counts of fewer than {min_n} students are shown as {label}; shares over such groups are left out."]
    return sec


@dataclass
class AdoptionUsage:
    """The adoption section's inputs: `adoption.school_tool_adoption` of the district, the distinct students active
    per school_id (from `adoption.student_tool_usage`) and the students rostered per school_id (None: counted from
    the district's roster). The services pass the stored adoption report's, computed from the usage summaries."""

    schools: pd.DataFrame
    active: pd.Series
    enrolled: pd.Series | None = None

    @staticmethod
    def active_per_school(student_usage: pd.DataFrame) -> pd.Series:
        return student_usage.groupby("school_id")["student_id"].nunique() if len(student_usage) \
            else pd.Series(dtype="int64")


@dataclass
class BudgetComparison:
    baseline: budget.Projection
    scenario: budget.Projection
    bands: MonteCarloResult
    baseline_bands: MonteCarloResult
    sunsets: list[str] = field(default_factory=list)   # tools the proposal sunsets


DECISIONS_PROPOSAL = "Director's decisions"  # the proposal built from the director's decisions (services.budget)


def default_scenario() -> budget.Scenario:
    """The proposal when none is chosen: right-size every license to its peak use + 10%."""
    return budget.scenario_from_dict({"name": "Right-size seats", "horizon_years": 3,
                                      "levers": {"right_size_all": True, "right_size_buffer": 0.10}})


def compare_budget(inputs: budget.BudgetInputs, scenario: budget.Scenario, draws: int = 2000,
                   seed: int = 2025) -> BudgetComparison:
    projection = budget.project_budget(inputs, scenario)
    base = budget.project_budget(inputs, scenario.baseline())
    return BudgetComparison(base, projection, simulate_budget(inputs, scenario, draws=draws, seed=seed,
                                                              projection=projection),
                            simulate_budget(inputs, scenario.baseline(), draws=draws, seed=seed, projection=base),
                            sorted(budget.sunset_set(inputs, scenario.levers)))


def _budget_section(cmp: BudgetComparison | None, min_n: int) -> Section:
    sec = Section("budget", SECTION_TITLES["budget"])
    if cmp is None:
        sec.paragraphs.append("No licenses, devices or funding on file: no budget projection yet.")
        return sec
    rows = []
    for proj, bands in ((cmp.baseline, cmp.baseline_bands), (cmp.scenario, cmp.bands)):
        s = proj.summary
        band = bands.horizon_band("spend")   # percentiles of simulated horizon totals (methods v2 §5)
        rows.append({
            "Scenario": proj.scenario.name,
            "Years": f"FY{proj.years[0]}–FY{proj.years[-1]}",
            "Total spend": money(s["total_spend"]),
            "Likely range (P10–P90)": f"{money(band['p10'])} – {money(band['p90'])}",
            "Savings vs baseline": money(s["total_savings"]),
            "Funding gap": money(s["total_gap"]),
            "Years with a gap": str(s["years_with_gap"]),
            "Students at dosage (year 1)": s["students_at_dosage_year1"],
            "Expected impact (SD × students)": f"{s['expected_impact']:,.0f}",
        })
    table = pd.DataFrame(rows)
    table["Students at dosage (year 1)"] = count_cells(table["Students at dosage (year 1)"], min_n)
    sec.tables.append(ReportTable("Baseline vs proposal over the horizon", table,
                                  count_columns=("Students at dosage (year 1)",)))
    years = pd.DataFrame({
        "Fiscal year": [f"FY{y}" for y in cmp.scenario.by_year["fiscal_year"]],
        "Baseline spend": cmp.baseline.by_year["total_spend"].map(money).to_numpy(),
        "Proposal spend": cmp.scenario.by_year["total_spend"].map(money).to_numpy(),
        "Savings": cmp.scenario.by_year["savings"].map(money).to_numpy(),
        "Funding available": cmp.scenario.by_year["available_funding"].map(money).to_numpy(),
        "Gap": cmp.scenario.by_year["gap"].clip(lower=0).map(money).to_numpy(),
    })
    sec.tables.append(ReportTable("Proposal by fiscal year", years))
    sec.charts.append(ReportChart("budget_compare", "Total spend by scenario",
                                  viz_budget.scenario_comparison_figure([cmp.baseline, cmp.scenario]),
                                  "Baseline = current licenses rolled forward with price escalators; the proposal "
                                  "applies the chosen levers.", height=460))
    sec.charts.append(ReportChart("budget_fan", "Uncertainty of the proposal's spend",
                                  viz_budget.fan_chart_figure(cmp.bands.bands, "spend"),
                                  f"Shaded: 80% of {cmp.bands.draws:,} simulated futures (P10–P90) over price "
                                  "escalators, enrollment and effect estimates.", height=460))
    s = cmp.scenario.summary
    sec.paragraphs.append(
        f"“{cmp.scenario.scenario.name}” costs {money(s['total_spend'])} over FY{cmp.scenario.years[0]}–"
        f"FY{cmp.scenario.years[-1]}, {money(s['total_savings'])} less than keeping everything as is "
        f"({money(s['year1_savings'])} in the first year). "
        + (f"Funding falls short by {money(s['total_gap'])} in {s['years_with_gap']} year(s)."
           if s["years_with_gap"] else "Available funding covers every year."))
    sec.notes += [
        "Baseline: current licenses rolled forward with each contract's escalator (default 3%), devices "
        "refreshed at the refresh cycle or their auto-update expiration, PD and other lines held flat.",
        "Savings = baseline spend − proposal spend, same assumptions for both.",
        "Likely range: P10 and P90 of total spend over a Monte Carlo simulation of escalators "
        "and enrollment; the point projection is the deterministic value.",
        "Expected impact = Σ effect (SD) × students at dosage; the budget engine uses the ROI engine's effects.",
    ]
    return sec


def at_risk_counts(scores: pd.DataFrame, students: pd.DataFrame, schools: pd.DataFrame,
                   capacity: float = DEFAULT_CAPACITY) -> pd.DataFrame:
    """Students flagged high-risk (top `capacity` share of each school's students by risk) counted by
    school and grade: school_name, grade_level, students, flagged. No IDs leave this function."""
    from edtech.risk.model import flag_by_school

    joined = scores[["student_id", "risk"]].merge(students[["student_id", "school_id", "grade_level"]],
                                                  on="student_id", how="inner")
    joined = joined[joined["risk"].notna()].reset_index(drop=True)
    # the one flagging rule (top k of each school), the same the worklist and `risk score` use
    joined["flagged"] = flag_by_school(joined.assign(school=joined["school_id"]), {}, capacity).to_numpy()
    out = joined.groupby(["school_id", "grade_level"], observed=True).agg(
        students=("student_id", "size"), flagged=("flagged", "sum")).reset_index()
    names = schools.set_index("school_id")["school_name"]
    out.insert(1, "school_name", out["school_id"].map(names).fillna(out["school_id"]))
    order = {g: i for i, g in enumerate(adoption.GRADE_ORDER)}
    out["_g"] = out["grade_level"].map(order).fillna(99)
    return out.sort_values(["school_id", "_g"]).drop(columns="_g").reset_index(drop=True)


HIDDEN = "·"  # a cell hidden so that a suppressed neighbour cannot be worked out from the row total


def _secondary_suppression(table: pd.DataFrame, cols: list[str], values, label: str) -> None:
    """With a row total shown, a row with exactly one "<n" cell would give it away (total − the rest):
    hide that row's next smallest shown cell as well (complementary suppression)."""
    for i in range(len(table)):
        cells = table.loc[i, cols]
        small = [c for c in cols if cells[c] == label]
        if len(small) != 1:
            continue
        shown = [(values[i][j], c) for j, c in enumerate(cols) if cells[c] not in (label, "", HIDDEN)]
        if shown:
            table.loc[i, min(shown)[1]] = HIDDEN
        else:
            table.loc[i, "Total"] = HIDDEN


def _at_risk_section(district: District, risk: RiskScores | None, note: str | None, min_n: int) -> Section:
    sec = Section("at_risk", SECTION_TITLES["at_risk"])
    label = suppression_label(min_n)
    if risk is None or risk.scores.empty:
        sec.paragraphs.append(note or NO_MODEL_NOTE)
        sec.notes.append("The at-risk counts come from the early-warning model (methods.md §4); none is stored, "
                         "so no numbers are shown rather than invented ones.")
        return sec
    counts = risk.counts_for(district)
    grades = [g for g in adoption.GRADE_ORDER if g in set(counts["grade_level"])]
    grades += sorted(set(counts["grade_level"].dropna().astype(str)) - set(grades))
    flagged = counts.pivot_table(index="school_name", columns="grade_level", values="flagged", aggfunc="sum")
    flagged = flagged.reindex(columns=grades)
    order = counts.drop_duplicates("school_name")["school_name"].tolist()
    flagged = flagged.reindex(order)
    table = pd.DataFrame({"School": flagged.index.astype(str)})
    for g in grades:
        col = flagged[g]
        cells = count_cells(col.fillna(0), min_n)
        table[f"Gr {g}"] = cells.where(col.notna(), "").to_numpy()
    totals = counts.groupby("school_name")["flagged"].sum().reindex(order)
    table["Total"] = count_cells(totals, min_n).to_numpy()
    _secondary_suppression(table, [f"Gr {g}" for g in grades], flagged.to_numpy(), label)
    sec.tables.append(ReportTable("Students flagged for support, by school and grade", table,
                                  count_columns=tuple(c for c in table.columns if c != "School"),
                                  note=f"Blank: no students in that grade. {HIDDEN} : hidden so that a {label} cell "
                                       "cannot be worked out from the school's total."))
    total = int(counts["flagged"].sum())
    n = int(counts["students"].sum())
    sec.paragraphs.append(
        f"The early-warning model ranks every student by the estimated chance of {risk.outcome_words}; "
        f"with capacity for the top {risk.capacity:.0%} in each school, {total:,} of {n:,} students are flagged "
        f"for support. Counts under {min_n} are shown as {label}; no names or IDs appear in this report.")
    sec.notes += [f"Model: {risk.model_label}." if risk.model_label else "Model: the latest stored version.",
                  f"Flagged = top {risk.capacity:.0%} of each school's students by calibrated risk (the "
                  "intervention capacity); the model's validated precision and recall at this k are on the "
                  "At-risk page and in its model card.",
                  "A flag is a prompt for staff attention, not a verdict on a student."]
    return sec


def _date_range(series: pd.Series) -> str:
    s = pd.to_datetime(series, errors="coerce").dropna()
    if s.empty:
        return EM_DASH
    lo, hi = s.min(), s.max()
    return f"{lo:%Y-%m-%d}" if lo == hi else f"{lo:%Y-%m-%d} to {hi:%Y-%m-%d}"


SOURCE_DATES = {"schools": None, "students": None, "tools": None, "licenses": "start_date", "usage": "week_start",
                "usage_aggregate": "date", "assessments": "test_date", "indicators": "as_of",
                "devices": "purchase_date", "pd_sessions": "date", "funding": "expires"}
SOURCE_LABELS = {"schools": "Schools", "students": "Student roster", "tools": "Tool catalog",
                 "licenses": "License contracts", "usage": "Tool usage (weekly)",
                 "usage_aggregate": "Aggregate engagement", "assessments": "Assessments",
                 "indicators": "Early-warning indicators", "devices": "Device inventory",
                 "pd_sessions": "Professional learning", "funding": "Funding"}


@dataclass
class SourceStats:
    """A table's stored rows and the span its dates cover, counted where the rows live, so the sources section
    need not read a table to count it: `first` / `last` are the first and last value of its date column
    (`SOURCE_DATES`; None: no date), for licenses the first start and the last end date, for funding the
    first and last fiscal year."""

    rows: int
    first: Any = None
    last: Any = None

    def covers(self, name: str) -> str:
        """The "Covers" cell of table `name` (what the section has always written)."""
        if name == "funding":
            return "FY" + " – FY".join(str(y) for y in sorted({int(self.first), int(self.last)}))
        if name == "licenses":
            return " to ".join(EM_DASH if pd.isna(day) else f"{pd.Timestamp(day):%Y-%m-%d}" for day in (self.first, self.last))
        if not SOURCE_DATES.get(name):
            return EM_DASH
        return _date_range(pd.Series([self.first, self.last], dtype="datetime64[ns]"))


def source_stats(frame: pd.DataFrame, name: str) -> SourceStats:
    """`SourceStats` of a table held in memory (the reference the database's counts must equal)."""
    def span(column: str) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
        dates = pd.to_datetime(frame[column], errors="coerce").dropna()
        return (dates.min(), dates.max()) if len(dates) else (None, None)

    if name == "funding":
        return SourceStats(len(frame), frame["fiscal_year"].min(), frame["fiscal_year"].max())
    if name == "licenses":
        return SourceStats(len(frame), span("start_date")[0], span("end_date")[1])
    date_col = SOURCE_DATES.get(name)
    return SourceStats(len(frame), *span(date_col)) if date_col else SourceStats(len(frame))


def _sources_section(district: District, imports: pd.DataFrame | None, as_of: pd.Timestamp, min_n: int,
                     stats: dict[str, SourceStats] | None = None) -> Section:
    """`stats`: the rows and dates of tables counted by the caller (the database), instead of the district's frame."""
    sec = Section("sources", SECTION_TITLES["sources"])
    rows = []
    for name, label in SOURCE_LABELS.items():
        counted = (stats or {}).get(name) or source_stats(getattr(district, name), name)
        if not counted.rows:
            continue
        dates = counted.covers(name)
        last = ""
        if imports is not None and len(imports) and "kind" in imports.columns:
            mine = imports[(imports["kind"] == name)
                           & (imports["status"] == "imported" if "status" in imports.columns else True)]
            if len(mine):
                mine = mine.assign(_when=pd.to_datetime(mine["imported_at"], errors="coerce", utc=True))
                latest = mine.sort_values("_when").iloc[-1]
                when = latest["_when"]
                last = f"{latest.get('file_name', '')}" + (f", {when:%Y-%m-%d}" if pd.notna(when) else "")
        rows.append({"Data": label, "Rows": f"{counted.rows:,}", "Covers": dates, "Last import": last or EM_DASH})
    table = pd.DataFrame(rows, columns=["Data", "Rows", "Covers", "Last import"])
    sec.tables.append(ReportTable("What this report is built from", table))
    sec.paragraphs.append(
        f"All figures use data through {as_of:%B %d, %Y} (the last week of usage on file). Definitions follow the "
        f"project's methods (usage, ROI, evidence, at-risk, budget). Any count of fewer than {min_n} students is "
        f"shown as {suppression_label(min_n)} to protect student privacy.")
    sec.notes.append("Rows are stored rows (usage is stored per student × tool × week).")
    return sec


# --------------------------------------------------------------------------- summary and KPIs
def _kpis(k: dict[str, Any], cmp: BudgetComparison | None, min_n: int) -> list[Kpi]:
    """The KPI tiles, from `edtech.roi.figures.key_figures` (the numbers the Overview page shows)."""
    if not k or not k["tools_licensed"]:
        return [Kpi("Tools licensed", "0")]
    tiles = [
        Kpi("Annual license spend", money(k["annual_spend"]), f"{k['tools_licensed']} tools"),
        Kpi("Seats used", pct(k["utilization"]), f"of {k['seats']:,.0f} paid seats"),
        Kpi("Students using tools", count_cells(pd.Series([k["students_using_tools"]]), min_n).iloc[0],
            f"of {k['students']:,} students"),
        Kpi("Idle license value", money(k["idle_license_value"]), "seats above peak 4-week use"),
        Kpi("Tools with positive evidence", f"{k['tools_with_positive_evidence']} of {k['tools_licensed']}",
            "Moderate or Promising evidence"),
    ]
    if cmp is not None:
        tiles.append(Kpi("Proposed savings, year 1", money(cmp.scenario.summary["year1_savings"]),
                         cmp.scenario.scenario.name))
    return tiles


DECISION_WORDS = {"renew": "renew", "right_size": "right-size", "renegotiate": "renegotiate",
                  "consolidate": "consolidate", "sunset": "sunset", "study": "study"}


def _decision_words(decision: str, seats: Any) -> str:
    if decision == "right_size" and seats is not None and not pd.isna(seats):
        return f"right-size to {int(seats):,} seats"
    return DECISION_WORDS.get(decision, str(decision))


def _decisions_paragraph(board: pd.DataFrame, decisions: pd.DataFrame | None, follows_decisions: bool) -> str:
    """The director's decisions, said apart from the analysis's recommendations."""
    if decisions is None or decisions.empty:
        return "What the director decided: no decision is recorded yet."
    recommended = dict(zip(board["tool_id"].astype(str), board["recommendation"].astype(str), strict=True))
    names = dict(zip(board["tool_id"].astype(str), board["tool_name"].astype(str), strict=True))
    counts = decisions["decision"].value_counts()
    count_text = ", ".join(f"{int(counts[kind])} {word}" for kind, word in DECISION_WORDS.items() if kind in counts)
    items = []
    for r in decisions.itertuples():
        said = _decision_words(r.decision, r.seats)
        rec = recommended.get(str(r.tool_id))
        differs = rec is not None and not rec.lower().startswith(DECISION_WORDS.get(r.decision, r.decision))
        name = getattr(r, "tool_name", None) or names.get(str(r.tool_id), str(r.tool_id))
        items.append(f"{name}: {said}" + (f" (the analysis recommends {rec})" if differs else ""))
    text = (f"What the director decided: the director decided for {len(decisions)} tool(s) — {count_text}. "
            + "; ".join(items) + ".")
    if follows_decisions:
        text += " The budget proposal follows these decisions (right-size at the analysis's seat rule, sunset " \
                "from year 1, renewals kept)."
    return text


def _summary(board: pd.DataFrame, k: dict[str, Any], district: District, cmp: BudgetComparison | None,
             risk: RiskScores | None, risk_note: str | None, min_n: int,
             decisions: pd.DataFrame | None = None) -> Section:
    sec = Section("summary", SECTION_TITLES["summary"])
    if board.empty or not k["tools_licensed"]:
        sec.paragraphs.append("There is no tool, license or usage data yet, so there is nothing to summarize.")
        return sec
    board = board[board["seats"] > 0]
    under = k["underused_tool_names"]
    sec.paragraphs.append(
        f"What we spend: {money(k['annual_spend'])} a year on {k['tools_licensed']} digital tools' licenses "
        f"({money(k['ingredients_cost'])} including training and staff time).")
    sec.paragraphs.append(
        f"What is used: {pct(k['utilization'])} of the {k['seats']:,.0f} seats we pay for were used "
        f"this contract year; {money(k['idle_license_value'])} of licenses sat above the busiest month's use. "
        + (f"{len(under)} tool(s) are used by fewer than half of their seats "
           f"({', '.join(under[:4])})." if under else "Every tool is used by at least half of its seats."))
    effect = pd.to_numeric(board["effect_size"], errors="coerce")
    good = board[board["evidence_label"].isin([effects.LABEL_MODERATE, effects.LABEL_PROMISING]) & (effect > 0)]
    none = board[board["evidence_label"].isin([effects.LABEL_NONE, effects.LABEL_NEGATIVE])]
    unknown = board[board["evidence_label"].isin([effects.LABEL_INSUFFICIENT, effects.LABEL_RATIONALE,
                                                  effects.LABEL_INCONCLUSIVE])]
    works = "; ".join(f"{r.tool_name} ({r.effect_size:+.2f} SD, {_short_label(r.evidence_label)} evidence)"
                      for r in good.head(4).itertuples())
    sec.paragraphs.append(
        "What the evidence shows: " + (f"{len(good)} tool(s) show a positive effect with local evidence: {works}. "
                                        if len(good) else
                          "no tool yet shows a positive effect with Moderate or Promising evidence. ")
        + (f"{len(none)} show no detectable (or a negative) effect. " if len(none) else "")
        + (f"{len(unknown)} cannot be judged yet (too little data or no matching assessment)." if len(unknown) else ""))
    if risk is not None and not risk.scores.empty:
        counts = risk.counts_for(district)
        flagged = int(counts["flagged"].sum())
        sec.paragraphs.append(
            f"Who needs help: the early-warning model flags {count_cells(pd.Series([flagged]), min_n).iloc[0]} "
            f"students (the top {risk.capacity:.0%} of each school by the chance of {risk.outcome_words}) for "
            "support; counts by school and grade "
            "are in the at-risk section, without names.")
    else:
        sec.paragraphs.append("Who needs help: " + (risk_note or NO_MODEL_NOTE))
    rec_text = ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in k["recommendations"].items() if n)
    propose = f"What the analysis recommends: per tool, {rec_text} (reasons in the ROI scoreboard). "
    follows_decisions = cmp is not None and decisions is not None and not decisions.empty \
        and cmp.scenario.scenario.name == DECISIONS_PROPOSAL
    decided = _decisions_paragraph(board, decisions, follows_decisions)
    if cmp is not None:
        s = cmp.scenario.summary
        if cmp.sunsets:
            propose += f"The budget proposal sunsets {len(cmp.sunsets)} tool(s). "
        band = cmp.bands.horizon_band("spend")
        propose += (f"The budget proposal “{cmp.scenario.scenario.name}” saves {money(s['total_savings'])} over "
                    f"FY{cmp.scenario.years[0]}–FY{cmp.scenario.years[-1]} ({money(s['year1_savings'])} in "
                    f"FY{cmp.scenario.years[0]}); total spend will likely fall between {money(band['p10'])} and "
                    f"{money(band['p90'])} (P10–P90 of simulated totals).")
    if follows_decisions:  # the proposal is the director's: said in the director's paragraph, not the analysis's
        analysis, _, budget_text = propose.partition("(reasons in the ROI scoreboard). ")
        propose, decided = analysis + "(reasons in the ROI scoreboard).", decided + " " + budget_text
    sec.paragraphs.append(propose.strip())
    sec.paragraphs.append(decided.strip())
    sec.notes.append("Each sentence is computed from the sections that follow; the speaker notes of each slide "
                     "give the definitions behind its numbers.")
    return sec


# --------------------------------------------------------------------------- assembly
def build_board_report(
    district: District,
    *,
    scenario: budget.Scenario | dict | None = None,
    scoreboard: pd.DataFrame | None = None,
    budget_inputs: budget.BudgetInputs | None = None,
    risk: RiskScores | None = None,
    risk_note: str | None = None,
    sections: Sequence[str] | None = None,
    min_n: int | None = None,
    district_name: str | None = None,
    imports: pd.DataFrame | None = None,
    generated: pd.Timestamp | None = None,
    draws: int = 2000,
    figures: dict[str, Any] | None = None,
    decisions: pd.DataFrame | None = None,
    roadmap: Any = None,
    interventions: Any = None,
    interventions_note: str | None = None,
    adoption_usage: AdoptionUsage | None = None,
    sources: dict[str, SourceStats] | None = None,
) -> BoardReport:
    """Assemble the chosen sections (default: all) for a district and a budget scenario.

    `scoreboard` is `roi.score_tools(district)` when the caller has it cached; `risk` carries
    per-student scores from a stored at-risk model (None -> "no model trained yet"); `decisions` are the
    director's latest decision per tool (`tool_id`, `tool_name`, `decision`, `seats`), said apart from the
    engine's recommendations. `adoption_usage` and `sources`: the adoption section's usage tables and the
    sources section's row counts when the caller has them from the database's summaries (the same figures
    as from the district's weekly rows, which are then not read).
    """
    min_n = int(rules.suppression_threshold() if min_n is None else min_n)
    if not 5 <= min_n <= 30:
        raise ValueError("the suppression threshold must be between 5 and 30 students")
    keys = list(SECTION_KEYS if sections is None else [k for k in SECTION_KEYS if k in set(sections)])
    unknown = set(sections or ()) - set(SECTION_KEYS)
    if unknown:
        raise ValueError(f"unknown report sections: {sorted(unknown)}; choose from {list(SECTION_KEYS)}")
    board = scoreboard if scoreboard is not None else roi.score_tools(district)
    # the headline numbers: the caller's (services: the same dict the Overview page shows), else computed here
    k = figures if figures is not None else roi_figures.key_figures(
        board, adoption.student_tool_usage(district), district.students) if {"summary", "kpis"} & set(keys) else {}
    if isinstance(scenario, dict):
        scenario = budget.scenario_from_dict(scenario)
    scenario = scenario or default_scenario()
    cmp = None
    needs_budget = {"summary", "kpis", "budget"} & set(keys)
    if needs_budget and not district.is_empty:
        inputs = budget_inputs or budget.inputs_from_district(district, board if len(board) else None)
        if not inputs.is_empty:
            cmp = compare_budget(inputs, scenario, draws=draws)
    as_of = district.as_of
    name = district_name or (str(district.schools["district_id"].dropna().iloc[0])
                             if len(district.schools) and district.schools["district_id"].notna().any()
                             else "District")
    built: list[Section] = []
    for key in keys:
        if key == "summary":
            built.append(_summary(board, k, district, cmp, risk, risk_note, min_n, decisions))
        elif key == "kpis":
            sec = Section("kpis", SECTION_TITLES["kpis"], kpis=_kpis(k, cmp, min_n))
            sec.notes = ["Annual license spend: contracts in force at the data date. Seats used: contract-year "
                         "active users ÷ seats, over all tools. Idle license value: (seats − peak 4-week users) × "
                         "cost per seat. Tools that work: positive effect with Moderate or Promising local evidence."]
            built.append(sec)
        elif key == "roi":
            built.append(_roi_section(board, min_n))
        elif key == "adoption":
            built.append(_adoption_section(district, min_n, adoption_usage))
        elif key == "budget":
            built.append(_budget_section(cmp, min_n))
        elif key == "at_risk":
            built.append(_at_risk_section(district, risk, risk_note, min_n))
        elif key == "roadmap":  # `roadmap`: edtech.services.roadmap.Roadmap (initiatives, kpis, as_of) or None
            from edtech.report.roadmap import roadmap_section

            built.append(roadmap_section(getattr(roadmap, "initiatives", None), getattr(roadmap, "kpis", None),
                                         getattr(roadmap, "as_of", as_of), min_n))
        elif key == "interventions":  # `interventions`: edtech.services.interventions.InterventionEvaluation or None
            from edtech.report.interventions import interventions_section

            names = dict(zip(district.schools["school_id"].astype(str), district.schools["school_name"].astype(str),
                             strict=False))
            built.append(interventions_section(interventions, min_n, school_names=names, note=interventions_note))
        elif key == "sources":
            built.append(_sources_section(district, imports, as_of, min_n, sources))
    return BoardReport(title="EdTech board report", district_name=name, as_of=as_of,
                       generated=generated or pd.Timestamp.today().normalize(),
                       scenario_name=scenario.name, min_n=min_n, sections=built, scoreboard=board, budget=cmp,
                       risk_counts=(risk.counts_for(district)
                                    if risk is not None and not risk.scores.empty else None),
                       risk_label=risk.model_label if risk is not None else "", interventions=interventions)
