"""Budget scenario use cases: inputs from a district and its ROI scoreboard, one scenario's full result,
the optimizer, exports, the `scenario run | example | schema` commands and the recompute benchmark."""

from __future__ import annotations

import io
import json
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.budget import projection as budget
from edtech.budget.montecarlo import DEFAULT_DRAWS, MonteCarloResult, simulate_budget
from edtech.budget.optimize import Plan, optimize_plan
from edtech.core import rules
from edtech.core.access import SYSTEM, AccessDenied, Action, Principal
from edtech.core.district import District
from edtech.core.privacy import neutralize_frame
from edtech.report.assemble import DECISIONS_PROPOSAL  # the name the report knows the director's proposal by
from edtech.report.assemble import default_scenario as default_proposal  # right-size every license
from edtech.services import audit
from edtech.services import decisions as decision_service
from edtech.store import data

# what the command line needs of the budget capability (it imports only services)
ScenarioError = budget.ScenarioError
scenario_from_dict = budget.scenario_from_dict
projection_table = budget.projection_table
scenario_json_schema = budget.scenario_json_schema
MAX_COMPARED = 4  # scenarios side by side with the baseline

# what the budget inputs read (cache keys are built from these): the tables behind the ROI scoreboard
# and the budget's own (funding, devices, PD), plus the saved settings the scoreboard depends on
READS = ("table:schools", "table:students", "table:tools", "table:licenses", "table:usage", "table:assessments",
         "table:devices", "table:pd_sessions", "table:funding", "setting:roi_weights", "setting:roi_outcome_choice")


@dataclass
class ScenarioResult:
    """Everything the page and the CLI show for one scenario."""

    scenario: budget.Scenario
    projection: budget.Projection
    savings: pd.DataFrame  # per lever (waterfall)
    bands: MonteCarloResult


def budget_inputs(district: District, board: pd.DataFrame | None) -> budget.BudgetInputs:
    """District + its ROI scoreboard (`edtech.roi.engine.score_tools`, or a Workspace's `.board`) → inputs.

    Tools, seats, cost, peak use, effects and ROI scores come from the scoreboard, so the budget quotes the
    same figures as every other surface; contract terms, devices, funding and PD come from the district."""
    return budget.inputs_from_district(district, board)


# the per-school counts the budget reads instead of the roster and the device rows (stored per data version)
ENROLLMENT_READS = ("table:students", "table:devices")


def compute_school_counts(ws: Any) -> dict[str, pd.DataFrame]:
    """District-wide: students per school and grade (`enrollment`), devices in service per school and cohort
    (`devices`): what `school_counts` stores."""
    whole = ws.whole
    return {"enrollment": budget.enrollment_of(whole.students),
            "devices": budget.device_groups(whole.devices, by=("school_id",))}


def school_counts(ws: Any) -> dict[str, pd.DataFrame]:
    """`compute_school_counts`, stored (issue 15): a cold Budget page reads a few hundred rows, not 50,000
    students and their devices; a coordinator's are cut from the district's by school."""
    from edtech.services import workspace as workspace_module

    return ws.stored("budget_school_counts", ENROLLMENT_READS, lambda: compute_school_counts(ws),
                     lambda frames: workspace_module.frames_to_bytes(frames, {}),
                     lambda payload: workspace_module.frames_from_bytes(payload)[0])


def inputs_for(workspace: Any) -> budget.BudgetInputs:
    """A Workspace's budget inputs: its scope's tables and its scoreboard (the board every surface shows); the
    same as `budget_inputs(workspace.district, workspace.board)`, from the stored per-school counts."""
    whole, scope = workspace.whole, workspace.scope
    counts = school_counts(workspace)
    enrollment, devices = counts["enrollment"], counts["devices"]
    licenses, sessions = whole.licenses, whole.pd_sessions
    if scope is not None:  # the rows of the scope's schools (edtech.core.scope.restrict_district)
        enrollment = enrollment[enrollment["school_id"].isin(scope)]
        devices = devices[devices["school_id"].isin(scope)]
        licenses = licenses[licenses["school_id"].isin(scope) | licenses["school_id"].isna()]
        sessions = sessions[sessions["school_id"].isin(scope)]
    return budget.inputs_from_parts(workspace.as_of, workspace.board, licenses=licenses, pd_sessions=sessions,
                                    funding=whole.funding, enrollment=enrollment, devices=devices)


def default_spec(name: str = "Scenario") -> dict[str, Any]:
    """A fresh scenario: 3 years from the default year 1, no levers (right-size buffer 10% when used)."""
    return budget.Scenario(name=name, horizon_years=3).to_dict()


def run_scenario(inputs: budget.BudgetInputs, spec: dict[str, Any] | budget.Scenario, *,
                 draws: int = DEFAULT_DRAWS, seed: int = 2025) -> ScenarioResult:
    """Project one scenario: per-year table, savings by lever, Monte Carlo bands."""
    scenario = spec if isinstance(spec, budget.Scenario) else budget.scenario_from_dict(spec)
    projection = budget.project_budget(inputs, scenario)
    return ScenarioResult(
        scenario=scenario, projection=projection, savings=budget.savings_by_lever(inputs, scenario),
        bands=simulate_budget(inputs, scenario, draws=draws, seed=seed, projection=projection),
    )


def plan_for(inputs: budget.BudgetInputs, spec: dict[str, Any] | budget.Scenario, cut_share: float) -> Plan:
    """The optimizer's plan for a scenario's assumptions and must-keep tools under a yearly cut."""
    scenario = spec if isinstance(spec, budget.Scenario) else budget.scenario_from_dict(spec)
    return optimize_plan(inputs, scenario, cut_share=cut_share)


def plan_scenario(plan: Plan, spec: dict[str, Any], cut_share: float) -> dict[str, Any]:
    """The plan as a new scenario spec (same horizon, year 1 and assumptions)."""
    scenario = budget.scenario_from_dict(spec)
    return budget.Scenario(name=f"Optimized ({cut_share:.0%} cut)", horizon_years=scenario.horizon_years,
                           start_fiscal_year=scenario.start_fiscal_year, assumptions=scenario.assumptions,
                           levers=plan.to_levers(scenario.levers)).to_dict()


def comparison_table(results: list[ScenarioResult]) -> pd.DataFrame:
    """One row per scenario: horizon totals people compare side by side (P10/P90 of simulated totals)."""
    rows = []
    for r in results:
        s = r.projection.summary
        band = r.bands.horizon_band("spend")
        rows.append({
            "scenario": r.scenario.name, "years": f"FY{r.projection.years[0]}–FY{r.projection.years[-1]}",
            "total_spend": s["total_spend"], "savings_vs_baseline": s["total_savings"],
            "year1_savings": s["year1_savings"], "available_funding": s["total_available_funding"],
            "total_gap": s["total_gap"], "years_with_gap": s["years_with_gap"],
            "students_at_dosage_year1": s["students_at_dosage_year1"], "expected_impact": s["expected_impact"],
            "spend_p10": band["p10"], "spend_p90": band["p90"],
        })
    return pd.DataFrame(rows)


def long_table(results: list[ScenarioResult]) -> pd.DataFrame:
    """Per scenario × fiscal year (the CSV download)."""
    frames = [budget.projection_table(r.projection).assign(scenario=r.scenario.name) for r in results]
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out[["scenario", *[c for c in out.columns if c != "scenario"]]] if len(out) else out


def to_csv_bytes(results: list[ScenarioResult]) -> bytes:
    return neutralize_frame(long_table(results)).to_csv(index=False).encode("utf-8")


def to_excel_bytes(results: list[ScenarioResult]) -> bytes:
    """Workbook: Summary, By year (all scenarios), then per scenario its sources, tools and bands."""
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        neutralize_frame(comparison_table(results)).to_excel(writer, sheet_name="Summary", index=False)
        neutralize_frame(long_table(results)).to_excel(writer, sheet_name="By year", index=False)
        for i, r in enumerate(results, start=1):
            prefix = f"S{i}"
            neutralize_frame(r.projection.by_source.round(2)).to_excel(writer, sheet_name=f"{prefix} by source",
                                                                      index=False)
            neutralize_frame(r.projection.by_tool.round(2)).to_excel(writer, sheet_name=f"{prefix} by tool",
                                                                    index=False)
            pd.concat([r.bands.bands, r.bands.totals.assign(fiscal_year="horizon")], ignore_index=True).round(2) \
                .to_excel(writer, sheet_name=f"{prefix} uncertainty", index=False)
        names = pd.DataFrame({"sheet prefix": [f"S{i}" for i in range(1, len(results) + 1)],
                              "scenario": [r.scenario.name for r in results],
                              "spec (JSON)": [json.dumps(r.scenario.to_dict()) for r in results]})
        neutralize_frame(names).to_excel(writer, sheet_name="Scenarios", index=False)
    return buffer.getvalue()


# --------------------------------------------------------------------------- words for the tables people read

# funding source codes of the funding table -> the names a board reads (an unknown code: its words, capitalized)
FUNDING_SOURCE_NAMES = {"general": "General fund", "title_i": "Title I", "title_ii": "Title II",
                        "title_ii_a": "Title II-A", "title_iii": "Title III", "title_iv": "Title IV",
                        "title_iv_a": "Title IV-A", "e_rate": "E-Rate", "esser": "ESSER", "idea": "IDEA",
                        "state": "State funds", "local": "Local funds", "grant": "Grant"}
ACTION_NAMES = {"keep": "Keep", "right_size": "Right-size", "sunset": "Sunset", "expand": "Expand",
                "right_size+expand": "Right-size and expand"}
METRIC_NAMES = {"spend": "Spend", "impact": "Expected impact"}
# every column of the budget's tables -> its header (no code names on screen)
COLUMN_LABELS = {
    "scenario": "Scenario", "years": "Years", "total_spend": "Total spend", "savings_vs_baseline": "Savings vs baseline",
    "year1_savings": "Savings in year 1", "available_funding": "Available funding", "total_gap": "Funding gap",
    "years_with_gap": "Years with a gap", "students_at_dosage_year1": "Students at dosage, year 1",
    "expected_impact": "Expected impact", "spend_p10": "Spend, low (P10)", "spend_p90": "Spend, high (P90)",
    "fiscal_year": "Fiscal year", "licenses": "Licenses", "devices": "Devices", "pd": "PD", "other": "Other",
    "gap": "Gap", "baseline_spend": "Baseline spend", "savings": "Savings", "students_at_dosage": "Students at dosage",
    "devices_refreshed": "Devices refreshed", "device_capital_outlay": "Device purchases (cash)",
    "source": "Funding source", "spend": "Spend", "available": "Available", "shortfall": "Shortfall",
    "tool_id": "Tool ID", "tool_name": "Tool", "action": "Action", "seats": "Seats", "license_spend": "License spend",
    "total": "Total", "funding_source": "Funding source", "option": "Choice", "seats_year1": "Seats, year 1",
    "cost": "Cost", "baseline_cost": "Cost if kept", "saving": "Saving", "impact": "Impact",
    "explanation": "Why", "metric": "Measure", "p10": "Low (P10)", "p50": "Median", "p90": "High (P90)",
}
MONEY_COLUMNS = frozenset({
    "total_spend", "savings_vs_baseline", "year1_savings", "available_funding", "total_gap", "spend_p10", "spend_p90",
    "licenses", "devices", "pd", "other", "gap", "baseline_spend", "savings", "device_capital_outlay", "spend",
    "available", "shortfall", "license_spend", "total", "cost", "baseline_cost", "saving"})
COUNT_COLUMNS = frozenset({"years_with_gap", "students_at_dosage_year1", "students_at_dosage", "devices_refreshed",
                           "seats", "seats_year1"})


def source_name(code: object) -> str:
    """'title_iv_a' -> 'Title IV-A', 'e_rate' -> 'E-Rate'; an unknown code reads as words ('state_grant' ->
    'State grant')."""
    text = "" if code is None or (not isinstance(code, str) and pd.isna(code)) else str(code)
    key = text.strip().lower()
    if key in FUNDING_SOURCE_NAMES:
        return FUNDING_SOURCE_NAMES[key]
    words = key.replace("_", " ").replace("-", " ").split()
    return " ".join(words).capitalize() if words else "—"


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A budget table with codes as words (funding sources, actions, choices, measures, FY labels); the
    numbers stay numbers (the grid formats them from `COLUMN_LABELS` / `MONEY_COLUMNS`)."""
    out = frame.copy()
    for col in ("source", "funding_source"):
        if col in out.columns:
            out[col] = out[col].map(source_name)
    if "action" in out.columns:
        out["action"] = out["action"].map(lambda a: ACTION_NAMES.get(str(a), str(a).replace("_", " ").capitalize()))
    if "option" in out.columns:
        out["option"] = out["option"].map(lambda a: ACTION_NAMES.get(str(a), str(a)))
    if "metric" in out.columns:
        out["metric"] = out["metric"].map(lambda m: METRIC_NAMES.get(str(m), str(m)))
    if "fiscal_year" in out.columns:
        out["fiscal_year"] = out["fiscal_year"].map(lambda y: y if isinstance(y, str) else f"FY{int(y)}")
    return out


def seat_targets_text(spec: dict[str, Any], tool_names: dict[str, str]) -> list[str]:
    """'ReadRocket: 1,200 seats (the director's decision)' per seat count a scenario carries."""
    return [f"{tool_names.get(t['tool_id'], t['tool_id'])}: {int(t['seats']):,} seats"
            for t in spec.get("levers", {}).get("right_size_seats", [])]


# --------------------------------------------------------------------------- saved scenarios

def _may_change(engine: Engine, name: str, principal: Principal) -> bool:
    """A saved scenario is changed or deleted by its owner or a director (one saved before accounts
    existed has no owner: a director's)."""
    owner = data.scenario_owner(engine, name)
    return principal.can(Action.DELETE_ANY_SCENARIO) or (owner is not None and owner == principal.email)


def save_scenario(engine: Engine, spec: dict[str, Any], principal: Principal = SYSTEM) -> str:
    """Validate and save under its name (replacing a saved one of that name, if it is theirs); returns the name."""
    principal.require(Action.SAVE_SCENARIO)
    scenario = budget.scenario_from_dict(spec)
    if scenario.name in saved_scenarios(engine) and not _may_change(engine, scenario.name, principal):
        raise AccessDenied(f"“{scenario.name}” was saved by someone else: save yours under another name.")
    data.save_scenario(engine, scenario.name, scenario.to_dict(), owner=audit.actor_name(principal))
    audit.record(engine, principal, "scenario saved", detail=scenario.name)
    return scenario.name


def saved_scenarios(engine: Engine) -> list[str]:
    # data.list_scenarios may hand back one-column rows instead of strings: normalize
    return [name if isinstance(name, str) else str(name[0]) for name in data.list_scenarios(engine)]


def load_saved_scenario(engine: Engine, name: str) -> dict[str, Any] | None:
    """A saved spec, normalized (raises ScenarioError when it no longer validates)."""
    spec = data.load_scenario(engine, name)
    return None if spec is None else budget.scenario_from_dict(spec).to_dict()


def delete_saved_scenario(engine: Engine, name: str, principal: Principal = SYSTEM) -> None:
    """Delete a saved scenario: its owner or a director."""
    principal.require(Action.SAVE_SCENARIO)
    if not _may_change(engine, name, principal):
        raise AccessDenied(f"“{name}” was saved by someone else: only they or the director can delete it.")
    data.delete_scenario(engine, name)
    audit.record(engine, principal, "scenario deleted", detail=name)


def scenario_owners(engine: Engine) -> dict[str, str | None]:
    return {name: data.scenario_owner(engine, name) for name in saved_scenarios(engine)}


# --------------------------------------------------------------------------- the director's decisions

def decisions_spec(decisions: pd.DataFrame, horizon_years: int = 3) -> dict[str, Any] | None:
    """The budget proposal that follows the director's latest decision per tool (None when none is recorded).

    right_size -> right-size the tool to the seats the director chose (`levers.right_size_seats`; the rule's
    seats, peak 4-week use + buffer, only when no count was recorded), sunset -> sunset from year 1,
    renew -> must keep; renegotiate, consolidate and study change nothing until their price or partner is
    known (the engine counts no saving for them either)."""
    if decisions is None or decisions.empty:
        return None
    latest = decisions.drop_duplicates("tool_id", keep="first")
    by_kind = {kind: sorted(latest.loc[latest["decision"] == kind, "tool_id"].astype(str))
               for kind in ("right_size", "sunset", "renew")}
    right_sized = latest[(latest["decision"] == "right_size") & latest["seats"].notna()]
    seats = [budget.SeatTarget(tool_id=str(r.tool_id), seats=int(r.seats))
             for r in right_sized.sort_values("tool_id").itertuples(index=False)]
    return budget.Scenario(name=DECISIONS_PROPOSAL, horizon_years=horizon_years, levers=budget.Levers(
        right_size_tools=by_kind["right_size"], right_size_seats=seats, sunset_tools=by_kind["sunset"],
        must_keep=by_kind["renew"])).to_dict()


def proposal_spec(engine: Engine) -> dict[str, Any] | None:
    """The proposal that follows the director's recorded decisions, else None."""
    return decisions_spec(decision_service.latest_decisions(engine))


def opening_proposal(engine: Engine) -> dict[str, Any]:
    """THE proposal the Budget page opens on and the board report quotes when no saved scenario is named:
    the director's decisions when any are recorded, else the default (right-size every license)."""
    return proposal_spec(engine) or default_proposal().to_dict()


# --------------------------------------------------------------------------- the spec, documented

def example_spec(tool_ids: list[str] | None = None, schools: list[str] | None = None,
                 sources: list[str] | None = None, first_fy: int | None = None) -> dict[str, Any]:
    """A complete, valid spec that sets every lever: tool ids, schools and funding sources of the
    database when given (most expensive tools first), else placeholders; year 1 = `first_fy`, else the
    first fiscal year that starts after today."""
    first_fy = first_fy or budget.first_year_after(pd.Timestamp.today())
    known = list(dict.fromkeys(tool_ids or [])) or ["T01", "T02", "T03", "T04", "T05"]
    # roles: right-size the two most expensive, keep and expand the third, sunset the cheapest
    tools = [*(known * 3)[:3], known[-1], known[-1]]
    grant = next((s for s in (sources or []) if "esser" in s.lower()), (sources or ["esser"])[-1])
    scenario = budget.Scenario(
        name="Example: right-size, sunset, expand, grant ends early", horizon_years=3, start_fiscal_year=first_fy,
        assumptions=budget.Assumptions(escalator=0.03, discount_rate=0.03, refresh_cycle_years=5,
                                       enrollment_change=-0.01, device_price_change=0.02,
                                       device_cost_basis="annualized", escalator_sd=0.02, enrollment_sd=0.01),
        levers=budget.Levers(
            right_size_all=False, right_size_tools=[tools[0], tools[1]], right_size_buffer=rules.RIGHT_SIZE_BUFFER,
            right_size_seats=[budget.SeatTarget(tool_id=tools[1], seats=10)],  # a director's "right-size to 10 seats"
            sunset_below_roi=20.0, sunset_tools=[tools[4]], must_keep=[tools[2]],
            expansions=[budget.Expansion(tool_id=tools[2], schools=list((schools or ["0101"])[:1]), grades=["6", "7"],
                                         extra_seats=None, start_fiscal_year=first_fy + 1)],
            refresh_cycle_years=6,
            one_off_purchases=[budget.OneOffPurchase(name="Interactive panels", fiscal_year=first_fy, amount=25_000.0,
                                                     category="devices", funding_source="general")],
            pd_investment_per_year=10_000.0,
            funding_changes=[budget.FundingChange(source=grant, ends_after=first_fy - 1),
                             budget.FundingChange(source="general", fiscal_year=first_fy + 2, amount=700_000.0)],
        ),
    )
    return scenario.to_dict()


def example_for_database(engine: Engine) -> dict[str, Any]:
    """`example_spec` with the database's tools (current contracts, most expensive first), schools and
    funding sources; year 1 = the fiscal year after the latest contract start (a cheap stand-in for the
    as-of date, which needs the usage table)."""
    data.init_db(engine)
    licenses = data.read_table(engine, "licenses")
    if licenses.empty:
        return example_spec()
    latest = licenses["start_date"].max()
    current = rules.current_licenses(licenses, latest)
    ranked = current.groupby("tool_id")["annual_cost"].sum().sort_values(ascending=False)
    schools = data.read_table(engine, "schools")["school_id"].astype(str).tolist()
    sources = sorted(data.read_table(engine, "funding")["source"].astype(str).unique())
    return example_spec([str(t) for t in ranked.index], schools, sources, budget.fiscal_year_of(latest) + 1)


# --------------------------------------------------------------------------- CLI


def inputs_from_database(engine: Engine) -> budget.BudgetInputs:
    """The director's (whole-district) inputs, through the same Workspace the app uses."""
    from edtech.services.workspace import Workspace  # the ROI analysis is imported only when needed

    data.init_db(engine)
    return inputs_for(Workspace(engine))


# --------------------------------------------------------------------------- benchmark

def bench_budget(n_students: int = 6000, seed: int = 2025, repeats: int = 5) -> dict[str, float]:
    """Milliseconds to recompute after one lever edit (projection + savings waterfall + 2,000-draw
    Monte Carlo), warm: the district's inputs are built once, as the page caches them."""
    from edtech.roi.engine import score_tools
    from edtech.sample.generate import generate_district

    started = time.perf_counter()
    district = generate_district(n_students=n_students, seed=seed).district
    inputs = budget_inputs(district, score_tools(district))
    inputs_done = time.perf_counter()
    spec = {"name": "bench", "horizon_years": 5, "levers": {"right_size_all": True, "sunset_below_roi": 30}}
    run_scenario(inputs, spec)  # warm-up
    timings = []
    for i in range(repeats):
        spec["levers"]["right_size_buffer"] = 0.05 * (i + 1)  # the lever edit
        t0 = time.perf_counter()
        run_scenario(inputs, spec)
        timings.append(time.perf_counter() - t0)
    timings.sort()
    return {
        "n_students": float(n_students), "tools": float(len(inputs.tools)),
        "device_cohorts": float(len(inputs.devices)), "draws": float(DEFAULT_DRAWS),
        "inputs_seconds": round(inputs_done - started, 3),
        "recompute_ms_median": round(1000 * timings[len(timings) // 2], 1),
        "recompute_ms_max": round(1000 * timings[-1], 1),
        "target_ms": 200.0,
    }
