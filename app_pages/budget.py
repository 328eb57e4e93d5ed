"""Budget scenarios: baseline vs up to four what-ifs, levers that recompute at once, uncertainty."""

from __future__ import annotations

import copy
from typing import Any

import streamlit as st

from edtech.budget import projection as budget
from edtech.budget import viz as viz_budget
from edtech.budget.optimize import OPTION_LABELS, optimize_plan
from edtech.core.privacy import suppress_small
from edtech.services import budget as budget_service
from ui import budget_cache, cache, state
from ui.components import empty_state, money

SCENARIOS_KEY = "budget_scenarios"  # name -> spec dict (the working set, at most four)
LOADED_KEY = "budget_loaded_for"  # which scenario's values the lever widgets currently hold
PLAN_KEY = "budget_plan"
NOTICE_KEY = "budget_notice"
NONE = "—"

st.title("Budget scenarios")
if empty_state("the budget"):
    st.stop()

scope = state.current_scope()
inputs = budget_cache.get_budget_inputs(scope)
if inputs.is_empty:
    st.info("No licenses, devices, PD or funding in the data yet, so there is no budget to project. "
            "Import licenses and funding on the Data page.", icon=":material/info:")
    st.stop()

engine = cache.get_engine()
tool_names = {t.tool_id: t.name for t in inputs.tools}
tool_ids = list(tool_names)
schools = sorted(inputs.enrollment["school_id"].astype(str).unique()) if len(inputs.enrollment) else []
grades = sorted(inputs.enrollment["grade_level"].astype(str).unique(),
                key=lambda g: (not g.isdigit(), int(g) if g.isdigit() else 0, g)) if len(inputs.enrollment) else []


def default_spec(name: str) -> dict[str, Any]:
    return budget.Scenario(name=name, horizon_years=3).to_dict()


def unique_name(base: str) -> str:
    taken = set(st.session_state[SCENARIOS_KEY])
    name, i = base, 2
    while name in taken:
        name, i = f"{base} {i}", i + 1
    return name


if SCENARIOS_KEY not in st.session_state:
    st.session_state[SCENARIOS_KEY] = {"Scenario 1": default_spec("Scenario 1")}
if st.session_state.get("budget_active") not in st.session_state[SCENARIOS_KEY]:
    st.session_state["budget_active"] = next(iter(st.session_state[SCENARIOS_KEY]))


# ---------------------------------------------------------------- widgets <-> spec

def load_widgets(spec: dict[str, Any]) -> None:
    """Put a scenario's values into the lever widgets (before they are drawn)."""
    a, lv = spec["assumptions"], spec["levers"]
    ss = st.session_state
    ss["budget_horizon"] = int(spec["horizon_years"])
    ss["budget_escalator"] = round(100 * a["escalator"], 2)
    ss["budget_enrollment"] = round(100 * a["enrollment_change"], 2)
    ss["budget_discount"] = round(100 * a["discount_rate"], 2)
    ss["budget_refresh"] = int(lv["refresh_cycle_years"] or a["refresh_cycle_years"])
    ss["budget_right_size_all"] = bool(lv["right_size_all"])
    ss["budget_right_size_tools"] = [t for t in lv["right_size_tools"] if t in tool_names]
    ss["budget_buffer"] = round(100 * lv["right_size_buffer"], 2)
    ss["budget_sunset_roi"] = float(lv["sunset_below_roi"] or 0.0)
    ss["budget_sunset_tools"] = [t for t in lv["sunset_tools"] if t in tool_names]
    ss["budget_must_keep"] = [t for t in lv["must_keep"] if t in tool_names]
    ss["budget_pd_invest"] = float(lv["pd_investment_per_year"])
    ss["budget_save_name"] = spec["name"]
    ss[LOADED_KEY] = spec["name"]


def spec_from_widgets(previous: dict[str, Any]) -> dict[str, Any]:
    """The active scenario as the widgets now say (expansions and purchases are edited by buttons)."""
    ss = st.session_state
    spec = copy.deepcopy(previous)
    base_cycle = spec["assumptions"]["refresh_cycle_years"]
    spec["horizon_years"] = int(ss["budget_horizon"])
    spec["assumptions"].update(escalator=ss["budget_escalator"] / 100, enrollment_change=ss["budget_enrollment"] / 100,
                               discount_rate=ss["budget_discount"] / 100)
    spec["levers"].update(
        refresh_cycle_years=None if int(ss["budget_refresh"]) == base_cycle else int(ss["budget_refresh"]),
        right_size_all=bool(ss["budget_right_size_all"]), right_size_tools=list(ss["budget_right_size_tools"]),
        right_size_buffer=ss["budget_buffer"] / 100,
        sunset_below_roi=float(ss["budget_sunset_roi"]) if ss["budget_sunset_roi"] > 0 else None,
        sunset_tools=list(ss["budget_sunset_tools"]), must_keep=list(ss["budget_must_keep"]),
        pd_investment_per_year=float(ss["budget_pd_invest"]),
    )
    return spec


def activate(name: str) -> None:
    st.session_state["budget_active"] = name
    load_widgets(st.session_state[SCENARIOS_KEY][name])


def add_scenario(spec: dict[str, Any]) -> None:
    scenarios = st.session_state[SCENARIOS_KEY]
    if len(scenarios) >= budget_service.MAX_COMPARED:
        st.session_state[NOTICE_KEY] = ("warning", f"At most {budget_service.MAX_COMPARED} scenarios side by side: "
                                                   "remove one from the comparison first.")
        return
    spec["name"] = unique_name(spec["name"])
    scenarios[spec["name"]] = spec
    activate(spec["name"])


# ---------------------------------------------------------------- button callbacks (run before widgets draw)

def on_new() -> None:
    add_scenario(default_spec("Scenario"))


def on_duplicate() -> None:
    active = st.session_state["budget_active"]
    spec = copy.deepcopy(st.session_state[SCENARIOS_KEY][active])
    spec["name"] = f"{active} (copy)"
    add_scenario(spec)


def on_remove() -> None:
    scenarios = st.session_state[SCENARIOS_KEY]
    active = st.session_state["budget_active"]
    if len(scenarios) == 1:
        st.session_state[NOTICE_KEY] = ("warning", "Keep at least one scenario to edit.")
        return
    scenarios.pop(active, None)
    activate(next(iter(scenarios)))


def on_switch() -> None:
    load_widgets(st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]])


def on_save() -> None:
    scenarios = st.session_state[SCENARIOS_KEY]
    active = st.session_state["budget_active"]
    name = (st.session_state.get("budget_save_name") or active).strip() or active
    spec = copy.deepcopy(scenarios[active])
    spec["name"] = name
    if name != active:  # saving under a new name renames the working copy
        if name in scenarios:
            st.session_state[NOTICE_KEY] = ("warning", f"“{name}” is already in the comparison: pick another name.")
            return
        scenarios.pop(active)
        scenarios[name] = spec
        st.session_state["budget_active"] = name
        st.session_state[LOADED_KEY] = name
    budget_service.save_scenario(engine, spec)
    st.session_state[NOTICE_KEY] = ("success", f"Saved “{name}”.")


def on_load() -> None:
    name = st.session_state.get("budget_load_name")
    try:
        spec = budget_service.load_saved_scenario(engine, name) if name else None
    except budget.ScenarioError as exc:
        st.session_state[NOTICE_KEY] = ("error", f"“{name}” cannot be loaded: {exc}")
        return
    if spec is None:
        st.session_state[NOTICE_KEY] = ("warning", "Pick a saved scenario to load.")
        return
    scenarios = st.session_state[SCENARIOS_KEY]
    if name in scenarios:
        scenarios[name] = spec
        activate(name)
    else:
        add_scenario(spec)


def on_delete_saved() -> None:
    name = st.session_state.get("budget_load_name")
    if name:
        budget_service.delete_saved_scenario(engine, name)
        st.session_state[NOTICE_KEY] = ("success", f"Deleted saved scenario “{name}”.")


def on_add_expansion() -> None:
    tool = st.session_state.get("budget_expand_tool")
    if not tool or tool == NONE:
        return
    spec = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    spec["levers"]["expansions"].append({"tool_id": tool, "schools": list(st.session_state["budget_expand_schools"]),
                                         "grades": list(st.session_state["budget_expand_grades"]),
                                         "extra_seats": None, "start_fiscal_year": None})


def on_add_purchase() -> None:
    spec = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    amount = float(st.session_state.get("budget_purchase_amount") or 0)
    if amount <= 0:
        return
    spec["levers"]["one_off_purchases"].append({
        "name": st.session_state.get("budget_purchase_name") or "Purchase",
        "fiscal_year": int(st.session_state["budget_purchase_fy"]), "amount": amount,
        "category": st.session_state["budget_purchase_category"], "funding_source": "general"})


def on_clear_additions() -> None:
    spec = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    spec["levers"]["expansions"] = []
    spec["levers"]["one_off_purchases"] = []


def on_apply_plan() -> None:
    plan = st.session_state.get(PLAN_KEY)
    if plan is None or not plan.feasible:
        return
    active = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    scenario = budget.scenario_from_dict(active)
    spec = budget.Scenario(name=f"Optimized ({st.session_state['budget_opt_cut']:.0f}% cut)",
                           horizon_years=scenario.horizon_years, start_fiscal_year=scenario.start_fiscal_year,
                           assumptions=scenario.assumptions, levers=plan.to_levers(scenario.levers)).to_dict()
    add_scenario(spec)


# ---------------------------------------------------------------- scenario manager

if st.session_state.get(LOADED_KEY) != st.session_state["budget_active"]:
    load_widgets(st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]])

notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    getattr(st, notice[0])(notice[1])

saved = budget_service.saved_scenarios(engine)
top = st.columns([2, 1, 1, 1])
top[0].selectbox("Scenario being edited", list(st.session_state[SCENARIOS_KEY]), key="budget_active",
                 on_change=on_switch)
top[1].button("New", key="budget_new", on_click=on_new, icon=":material/add:", width="stretch")
top[2].button("Duplicate", key="budget_duplicate", on_click=on_duplicate, icon=":material/content_copy:",
              width="stretch")
top[3].button("Remove", key="budget_remove", on_click=on_remove, icon=":material/close:", width="stretch",
              help="Take it out of the comparison (a saved copy stays saved).")
with st.expander("Save, load or delete saved scenarios", icon=":material/save:"):
    c = st.columns([2, 1, 2, 1, 1])
    c[0].text_input("Save as", key="budget_save_name")
    c[1].button("Save", key="budget_save", on_click=on_save, type="primary", width="stretch")
    c[2].selectbox("Saved scenarios", saved, key="budget_load_name", index=0 if saved else None,
                   placeholder="none saved yet")
    c[3].button("Load", key="budget_load", on_click=on_load, width="stretch", disabled=not saved)
    c[4].button("Delete", key="budget_delete_saved", on_click=on_delete_saved, width="stretch", disabled=not saved)

active_name = st.session_state["budget_active"]
active_spec = st.session_state[SCENARIOS_KEY][active_name]

# ---------------------------------------------------------------- levers

with st.container(border=True):
    st.markdown(f"**Levers and assumptions of “{active_name}”** — every change recomputes at once")
    c = st.columns(4)
    c[0].slider("Horizon (fiscal years)", 1, budget.MAX_HORIZON, key="budget_horizon")
    c[1].number_input("Price escalator, % a year", -10.0, 50.0, step=0.5, key="budget_escalator",
                      help="For contracts without their own escalator; contract escalators are kept.")
    c[2].number_input("Enrollment change, % a year", -20.0, 20.0, step=0.5, key="budget_enrollment",
                      help="Scales seats (so license cost) and students served.")
    c[3].number_input("Discount rate, %", 0.0, 20.0, step=0.5, key="budget_discount",
                      help="r of the capital recovery factor that annualizes devices.")
    c = st.columns(4)
    c[0].checkbox("Right-size every tool", key="budget_right_size_all",
                  help="Seats → peak 30-day active users × (1 + buffer); never more than today.")
    c[1].multiselect("…or right-size these", tool_ids, key="budget_right_size_tools", format_func=tool_names.get,
                     disabled=st.session_state["budget_right_size_all"])
    c[2].number_input("Right-size buffer, %", 0.0, 100.0, step=5.0, key="budget_buffer")
    c[3].slider("Device refresh cycle (years)", 3, 8, key="budget_refresh",
                help="Devices are also replaced at their auto-update expiration (AUE).")
    c = st.columns(4)
    c[0].number_input("Sunset tools with ROI score below (0 = off)", 0.0, 100.0, step=5.0, key="budget_sunset_roi")
    c[1].multiselect("Sunset these tools", tool_ids, key="budget_sunset_tools", format_func=tool_names.get)
    c[2].multiselect("Must keep", tool_ids, key="budget_must_keep", format_func=tool_names.get,
                     help="Never sunset (also binding for the optimizer).")
    c[3].number_input("Extra PD investment, $ a year", 0.0, 10_000_000.0, step=5_000.0, key="budget_pd_invest")
    with st.expander("Expand a tool, add one-off purchases"):
        e = st.columns([2, 2, 2, 1])
        e[0].selectbox("Expand tool", [NONE, *tool_ids], key="budget_expand_tool",
                       format_func=lambda t: tool_names.get(t, t))
        e[1].multiselect("to schools (none = all)", schools, key="budget_expand_schools")
        e[2].multiselect("and grades (none = all)", grades, key="budget_expand_grades")
        e[3].button("Add", key="budget_add_expansion", on_click=on_add_expansion, width="stretch")
        years_now = [inputs.current_fy + k for k in range(budget.MAX_HORIZON)]
        p = st.columns([2, 1, 1, 1, 1])
        p[0].text_input("Purchase", value="Interactive panels", key="budget_purchase_name")
        p[1].selectbox("Fiscal year", years_now, key="budget_purchase_fy")
        p[2].number_input("Amount, $", 0.0, 100_000_000.0, step=1_000.0, key="budget_purchase_amount")
        p[3].selectbox("Category", list(budget.SPEND_CATEGORIES), key="budget_purchase_category")
        p[4].button("Add", key="budget_add_purchase", on_click=on_add_purchase, width="stretch")
        added = [f"Expand {tool_names.get(x['tool_id'], x['tool_id'])} "
                 f"({', '.join(x['schools']) or 'all schools'}; grades {', '.join(x['grades']) or 'all'})"
                 for x in active_spec["levers"]["expansions"]]
        added += [f"{x['name']}: {money(x['amount'])} in FY{x['fiscal_year']} ({x['category']})"
                  for x in active_spec["levers"]["one_off_purchases"]]
        if added:
            st.markdown("\n".join(f"- {line}" for line in added))
            st.button("Clear expansions and purchases", key="budget_clear_additions", on_click=on_clear_additions)

active_spec = spec_from_widgets(active_spec)
st.session_state[SCENARIOS_KEY][active_name] = active_spec

# ---------------------------------------------------------------- results

try:
    results = [budget_cache.get_scenario_result(scope, spec) for spec in st.session_state[SCENARIOS_KEY].values()]
except budget.ScenarioError as exc:
    st.error(f"This scenario cannot be projected: {exc}")
    st.stop()
active_result = next(r for r in results if r.scenario.name == active_name)
baseline_spec = active_result.scenario.baseline().to_dict()
baseline_result = budget_cache.get_scenario_result(scope, baseline_spec)
compared = [baseline_result, *results]

st.subheader("Baseline and scenarios side by side")
cols = st.columns(len(compared))
for col, r in zip(cols, compared, strict=True):
    s = r.projection.summary
    with col:
        st.markdown(f"**{r.scenario.name}**")
        st.metric("Total spend", money(s["total_spend"]),
                  delta=None if r is baseline_result or abs(s["total_savings"]) < 0.5
                  else f"{-s['total_savings']:+,.0f} $ vs baseline",
                  delta_color="inverse")
        st.metric("Funding gap", money(s["total_gap"]),
                  help="Σ over years of spend above available funding (expiring grants included).")
        st.metric("Expected impact", f"{s['expected_impact']:,.0f}",
                  help="Σ effect size × students at dosage over the horizon (SD × students); tools without an "
                       "effect estimate count 0.")
table = budget_service.comparison_table(compared)
st.dataframe(table, hide_index=True, key="budget_compare_table", column_config={
    c: st.column_config.NumberColumn(format="dollar") for c in
    ("total_spend", "savings_vs_baseline", "year1_savings", "available_funding", "total_gap", "spend_p10",
     "spend_p90")})
st.plotly_chart(viz_budget.scenario_comparison_figure([r.projection for r in compared]), key="budget_compare_fig")

d = st.columns(2)
d[0].download_button("Download CSV", budget_service.to_csv_bytes(compared), file_name="budget_scenarios.csv",
                     mime="text/csv", key="budget_download_csv", icon=":material/download:")
d[1].download_button("Download Excel", budget_service.to_excel_bytes(compared), file_name="budget_scenarios.xlsx",
                     mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     key="budget_download_xlsx", icon=":material/table:")

st.subheader(f"“{active_name}” in detail")
tabs = st.tabs(["Per year", "Savings", "Uncertainty", "Funding and cliff", "Per tool", "Optimizer",
                "How this is computed"])
with tabs[0]:
    st.plotly_chart(viz_budget.spend_by_category_figure(active_result.projection), key="budget_spend_fig")
    st.dataframe(budget.projection_table(active_result.projection), hide_index=True, key="budget_year_table")
with tabs[1]:
    st.plotly_chart(viz_budget.savings_waterfall_figure(active_result.savings), key="budget_waterfall")
with tabs[2]:
    bands = active_result.bands.bands
    st.caption(f"Monte Carlo, {active_result.bands.draws:,} draws: escalators ± "
               f"{active_result.scenario.assumptions.escalator_sd:.0%}, enrollment change ± "
               f"{active_result.scenario.assumptions.enrollment_sd:.0%} a year, effects within their 95% CIs.")
    u = st.columns(2)
    u[0].plotly_chart(viz_budget.fan_chart_figure(bands, "spend"), key="budget_fan_spend")
    u[1].plotly_chart(viz_budget.fan_chart_figure(bands, "impact"), key="budget_fan_impact")
with tabs[3]:
    st.plotly_chart(viz_budget.funding_by_source_figure(active_result.projection), key="budget_funding_fig")
    gaps = active_result.projection.by_year.loc[active_result.projection.by_year["gap"] > 0.005]
    for row in gaps.itertuples():
        st.warning(f"FY{row.fiscal_year}: spend exceeds available funding by {money(row.gap)}.",
                   icon=":material/warning:")
    st.dataframe(active_result.projection.by_source.round(2), hide_index=True, key="budget_source_table")
with tabs[4]:
    per_tool = active_result.projection.by_tool.round(2)
    if not state.can_see_students():  # board view: small counts shown as <10
        per_tool = suppress_small(per_tool, ["students_at_dosage"], mask_cols=["expected_impact"])
    st.dataframe(per_tool, hide_index=True, key="budget_tool_table")
with tabs[5]:
    st.markdown("Choose **keep / right-size / expand / sunset** per tool to maximize expected impact under a cap "
                "on tool spend over the horizon (must-keep tools are never sunset; expand is offered for the "
                "expansions added to this scenario).")
    o = st.columns([2, 1])
    o[0].slider("Cut tool spend by, %", 0, 60, 10, step=5, key="budget_opt_cut")
    if o[1].button("Optimize", key="budget_optimize", type="primary", width="stretch"):
        st.session_state[PLAN_KEY] = optimize_plan(inputs, active_result.scenario,
                                                   cut_share=st.session_state["budget_opt_cut"] / 100)
    plan = st.session_state.get(PLAN_KEY)
    if plan is not None:
        (st.success if plan.feasible else st.error)(plan.message)
        if plan.feasible:
            shown = plan.table.assign(option=plan.table["option"].map(OPTION_LABELS))
            st.dataframe(shown[["tool_name", "option", "seats_year1", "cost", "saving", "impact", "explanation"]],
                         hide_index=True, key="budget_plan_table")
            st.button("Compare this plan as a new scenario", key="budget_apply_plan", on_click=on_apply_plan)
with tabs[6]:
    st.markdown(budget.__doc__.split("\n\n", 1)[1])
    st.markdown("Savings by lever are attributed in order (right-size, sunset, expand, refresh, PD, one-offs), "
                "each measured with the earlier levers already applied, so they add up to the total.")
    st.json(active_spec, expanded=False)
