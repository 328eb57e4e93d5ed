"""Budget scenarios: baseline vs up to four what-ifs, levers that recompute at once, uncertainty."""

from __future__ import annotations

import copy
import json
from typing import Any

import streamlit as st

from ui import budget_cache, cache, components, state
from ui.budget_cache import model as budget
from ui.budget_cache import service as budget_service
from ui.components import empty_state, money, pct, signed_money, suppress_small, suppression_threshold

SCENARIOS_KEY = "budget_scenarios"  # name -> spec dict (the working set, at most four)
LOADED_KEY = "budget_loaded_for"  # which scenario's values the lever widgets currently hold
PLAN_KEY = "budget_plan"
NOTICE_KEY = "budget_notice"
NONE = "—"
GRANT_ENDS, GRANT_AMOUNT = "Ends after", "Amount in"
CURRENT = "Current plan (no changes)"  # what a viewer reads when nothing is saved


def md(text: str) -> str:
    """Markdown text with dollar amounts: two '$' would otherwise open a formula."""
    return text.replace("$", "\\$")


st.title("Budget scenarios")
if empty_state("the budget"):
    st.stop()

scope = state.current_scope()
data_key = budget_cache.data_key()  # the data versions, read once for this rerun
inputs = budget_cache.get_budget_inputs(scope, data_key)
if inputs.is_empty:
    st.info("No licenses, devices, PD or funding in the data yet, so there is no budget to project. "
            "Import licenses and funding on the Data page.", icon=":material/info:")
    st.stop()

engine = cache.get_engine()
editable = state.can(state.Action.EDIT_BUDGET)  # a viewer reads saved scenarios only
tool_names = {t.tool_id: t.name for t in inputs.tools}
tool_ids = list(tool_names)
schools = sorted(inputs.enrollment["school_id"].astype(str).unique()) if len(inputs.enrollment) else []
grades = sorted(inputs.enrollment["grade_level"].astype(str).unique(),
                key=lambda g: (not g.isdigit(), int(g) if g.isdigit() else 0, g)) if len(inputs.enrollment) else []


sources = sorted({f.source for f in inputs.funding})
year_choices = [inputs.current_fy + k for k in range(budget.MAX_HORIZON + 1)]  # the data's year .. +5


def fy_label(fy: int) -> str:
    default = " — default: first fiscal year after the data's date" if fy == inputs.first_fy else ""
    return f"FY{fy} (July {fy - 1}–June {fy}){default}"


def default_spec(name: str) -> dict[str, Any]:
    return budget_service.default_spec(name)


def unique_name(base: str) -> str:
    taken = set(st.session_state[SCENARIOS_KEY])
    name, i = base, 2
    while name in taken:
        name, i = f"{base} {i}", i + 1
    return name


if SCENARIOS_KEY not in st.session_state:
    # open on the proposal the board report quotes: the director's decisions, else right-size every license
    opening = budget_service.opening_proposal(engine)
    st.session_state[SCENARIOS_KEY] = {opening["name"]: opening}
if st.session_state.get("budget_active") not in st.session_state[SCENARIOS_KEY]:
    st.session_state["budget_active"] = next(iter(st.session_state[SCENARIOS_KEY]))


# ---------------------------------------------------------------- widgets <-> spec

def load_widgets(spec: dict[str, Any]) -> None:
    """Put a scenario's values into the lever widgets (before they are drawn)."""
    a, lv = spec["assumptions"], spec["levers"]
    ss = st.session_state
    ss["budget_horizon"] = int(spec["horizon_years"])
    start = spec.get("start_fiscal_year") or inputs.first_fy
    ss["budget_start_fy"] = start if start in year_choices else inputs.first_fy
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
    # year 1 follows the data (null) unless the director picked another
    spec["start_fiscal_year"] = None if int(ss["budget_start_fy"]) == inputs.first_fy else int(ss["budget_start_fy"])
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
    try:
        budget_service.save_scenario(engine, spec, state.current_principal())
    except PermissionError as exc:  # someone else's scenario of that name
        st.session_state[NOTICE_KEY] = ("error", str(exc))
        return
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
        try:
            budget_service.delete_saved_scenario(engine, name, state.current_principal())
        except PermissionError as exc:  # another person's scenario: its owner or the director deletes it
            st.session_state[NOTICE_KEY] = ("error", str(exc))
            return
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


def on_add_funding_change() -> None:
    source = st.session_state.get("budget_grant_source")
    if not source:
        return
    spec = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    year = int(st.session_state["budget_grant_fy"])
    if st.session_state["budget_grant_mode"] == GRANT_ENDS:
        change = {"source": source, "fiscal_year": None, "amount": None, "ends_after": year}
    else:
        change = {"source": source, "fiscal_year": year, "amount": float(st.session_state["budget_grant_amount"]),
                  "ends_after": None}
    spec["levers"].setdefault("funding_changes", []).append(change)


def on_clear_additions() -> None:
    spec = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    spec["levers"]["expansions"] = []
    spec["levers"]["one_off_purchases"] = []
    spec["levers"]["funding_changes"] = []


def on_apply_plan() -> None:
    plan = st.session_state.get(PLAN_KEY)
    if plan is None or not plan.feasible:
        return
    active = st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]]
    add_scenario(budget_service.plan_scenario(plan, active, st.session_state["budget_opt_cut"] / 100))


# ---------------------------------------------------------------- scenario manager

if st.session_state.get(LOADED_KEY) != st.session_state["budget_active"]:
    load_widgets(st.session_state[SCENARIOS_KEY][st.session_state["budget_active"]])

notice = st.session_state.pop(NOTICE_KEY, None)
if notice:
    getattr(st, notice[0])(components.escape(notice[1]))  # names scenarios: data

saved = budget_service.saved_scenarios(engine)
if editable:
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
else:
    proposal = budget_service.opening_proposal(engine)  # the director's decisions: what the board report quotes
    st.selectbox("Scenario", [CURRENT, proposal["name"], *[n for n in saved if n != proposal["name"]]],
                 key="budget_view_name",
                 help="Your role reads the current plan, the proposal the board report quotes and the saved "
                      "scenarios; the director and board members change them.")
    chosen = st.session_state["budget_view_name"]
    viewing = (default_spec(CURRENT) if chosen == CURRENT else proposal if chosen == proposal["name"]
               else budget_service.load_saved_scenario(engine, chosen))
    st.session_state[SCENARIOS_KEY] = {viewing["name"]: viewing}
    st.session_state["budget_active"] = viewing["name"]


active_name = st.session_state["budget_active"]
active_spec = st.session_state[SCENARIOS_KEY][active_name]

# ---------------------------------------------------------------- levers

if editable:
    with st.container(border=True):
        st.markdown(f"**Levers and assumptions of “{components.escape(active_name)}”** — every change recomputes at once")
        c = st.columns(4)
        c[0].selectbox("Year 1", year_choices, key="budget_start_fy", format_func=fy_label,
                       help="By default the first fiscal year that starts after the data's as-of date "
                            f"({inputs.first_fy}): the first year a decision taken now can change. Prices escalate "
                            "from each contract's own renewal date whatever year you start.")
        c[1].slider("Horizon (fiscal years)", 1, budget.MAX_HORIZON, key="budget_horizon")
        c[2].number_input("Price escalator, % a year", -10.0, 50.0, step=0.5, key="budget_escalator",
                          help="For contracts without their own escalator; contract escalators are kept.")
        c[3].number_input("Enrollment change, % a year", -20.0, 20.0, step=0.5, key="budget_enrollment",
                          help="Compounded from the data's school year; scales seats (so license cost) and students "
                               "served.")
        c = st.columns(4)
        c[0].number_input("Discount rate, %", 0.0, 20.0, step=0.5, key="budget_discount",
                          help="r of the capital recovery factor that annualizes devices.")
        c[1].checkbox("Right-size every tool", key="budget_right_size_all",
                      help="Seats → peak 30-day active users × (1 + buffer), rounded up; never more than today. The same "
                           "rule and default buffer (10%) as the Tool ROI reasons, the board report and the memos.")
        c[2].multiselect("…or right-size these", tool_ids, key="budget_right_size_tools", format_func=tool_names.get,
                         disabled=st.session_state["budget_right_size_all"])
        c[3].number_input("Right-size buffer, %", 0.0, 100.0, step=5.0, key="budget_buffer")
        chosen_seats = budget_service.seat_targets_text(active_spec, tool_names)
        if chosen_seats:
            st.caption("Seat counts the director chose (used while the tool is right-sized): "
                       + components.escape("; ".join(chosen_seats)) + ".")
        c = st.columns(4)
        c[0].slider("Device refresh cycle (years)", 3, 8, key="budget_refresh",
                    help="Devices are also replaced at their auto-update expiration (AUE) date.")
        c[1].number_input("Sunset tools with ROI score below (0 = off)", 0.0, 100.0, step=5.0, key="budget_sunset_roi")
        c[2].multiselect("Sunset these tools", tool_ids, key="budget_sunset_tools", format_func=tool_names.get)
        c[3].multiselect("Must keep", tool_ids, key="budget_must_keep", format_func=tool_names.get,
                         help="Never sunset (also binding for the optimizer).")
        c = st.columns(4)
        c[0].number_input("Extra PD investment, $ a year", 0.0, 10_000_000.0, step=5_000.0, key="budget_pd_invest")
        with st.expander("Expand a tool, add one-off purchases, end or change a grant"):
            e = st.columns([2, 2, 2, 1])
            e[0].selectbox("Expand tool", [NONE, *tool_ids], key="budget_expand_tool",
                           format_func=lambda t: tool_names.get(t, t))
            e[1].multiselect("to schools (none = all)", schools, key="budget_expand_schools")
            e[2].multiselect("and grades (none = all)", grades, key="budget_expand_grades")
            e[3].button("Add", key="budget_add_expansion", on_click=on_add_expansion, width="stretch")
            years_now = year_choices
            p = st.columns([2, 1, 1, 1, 1])
            p[0].text_input("Purchase", value="Interactive panels", key="budget_purchase_name")
            p[1].selectbox("Fiscal year", years_now, key="budget_purchase_fy")
            p[2].number_input("Amount, $", 0.0, 100_000_000.0, step=1_000.0, key="budget_purchase_amount")
            p[3].selectbox("Category", list(budget.SPEND_CATEGORIES), key="budget_purchase_category")
            p[4].button("Add", key="budget_add_purchase", on_click=on_add_purchase, width="stretch")
            g = st.columns([2, 1, 1, 1, 1])
            g[0].selectbox("Grant or funding source", sources, key="budget_grant_source", index=0 if sources else None,
                           placeholder="no funding on file", accept_new_options=True,
                           format_func=budget_service.source_name,
                           help="A source of the funding table (e.g. ESSER); type a new name to add a source.")
            g[1].radio("Change", [GRANT_ENDS, GRANT_AMOUNT], key="budget_grant_mode",
                       help="Ends after: the source funds nothing after that fiscal year (e.g. ESSER ends a year early). "
                            "Amount in: the source's funding that year (rolled forward to later years with no row).")
            g[2].selectbox("Fiscal year", year_choices, key="budget_grant_fy")
            g[3].number_input("Amount, $", 0.0, 100_000_000.0, step=5_000.0, key="budget_grant_amount",
                              disabled=st.session_state.get("budget_grant_mode") == GRANT_ENDS)
            g[4].button("Add", key="budget_add_grant", on_click=on_add_funding_change, width="stretch")
            added = [f"Expand {tool_names.get(x['tool_id'], x['tool_id'])} "
                     f"({', '.join(x['schools']) or 'all schools'}; grades {', '.join(x['grades']) or 'all'})"
                     for x in active_spec["levers"]["expansions"]]
            added += [f"{x['name']}: {money(x['amount'])} in FY{x['fiscal_year']} ({x['category']})"
                      for x in active_spec["levers"]["one_off_purchases"]]
            added += [f"{budget_service.source_name(x['source'])}: ends after FY{x['ends_after']}"
                      if x.get("ends_after") is not None
                      else f"{budget_service.source_name(x['source'])}: {money(x['amount'])} in FY{x['fiscal_year']}"
                      for x in active_spec["levers"].get("funding_changes", [])]
            if added:
                st.markdown("\n".join(f"- {components.escape(line)}" for line in added))
                st.button("Clear expansions, purchases and grant changes", key="budget_clear_additions",
                          on_click=on_clear_additions)

    active_spec = spec_from_widgets(active_spec)
    st.session_state[SCENARIOS_KEY][active_name] = active_spec

# ---------------------------------------------------------------- results

try:
    results = [budget_cache.get_scenario_result(scope, spec, data_key) for spec in st.session_state[SCENARIOS_KEY].values()]
except budget.ScenarioError as exc:
    st.error(f"This scenario cannot be projected: {components.escape(exc)}")
    st.stop()
active_result = next(r for r in results if r.scenario.name == active_name)
baseline_spec = active_result.scenario.baseline().to_dict()
baseline_result = budget_cache.get_scenario_result(scope, baseline_spec, data_key)
compared = [baseline_result, *results]
compared_specs = [baseline_spec, *st.session_state[SCENARIOS_KEY].values()]
if not editable and st.session_state.get("budget_view_name") == CURRENT:
    compared = [active_result]  # the current plan is the baseline: one column, not two alike
    compared_specs = [active_spec]

st.subheader("Baseline and scenarios side by side")
cols = st.columns(len(compared))
for col, r in zip(cols, compared, strict=True):
    s = r.projection.summary
    with col:
        st.markdown(f"**{components.escape(r.scenario.name)}**")
        band = r.bands.horizon_band("spend")
        st.metric(f"Total spend, FY{r.projection.years[0]}–FY{r.projection.years[-1]}", money(s["total_spend"]),
                  delta=None if r is baseline_result or abs(s["total_savings"]) < 0.5
                  else f"{signed_money(-s['total_savings'])} vs baseline",
                  delta_color="inverse",
                  help=md(f"Likely range {money(band['p10'])} – {money(band['p90'])}: P10 and P90 of the simulated "
                          "horizon totals (not a sum of yearly percentiles)."))
        if r is not baseline_result:
            st.metric(f"Savings in year 1 (FY{r.projection.years[0]})", money(s["year1_savings"]),
                      help="Baseline − scenario in the first projected year; the horizon total is above.")
        st.metric("Funding gap", money(s["total_gap"]),
                  help="Σ over years of spend above available funding (expiring grants included).")
        st.metric("Expected impact", f"{s['expected_impact']:,.0f}",
                  help="Σ effect size × students at dosage over the horizon (SD × students); tools without an "
                       "effect estimate count 0.")
budget_cache.table(budget_service.comparison_table(compared), key="budget_compare_table")
components.chart(budget_cache.get_figure("comparison", scope, compared_specs, key=data_key), key="budget_compare_fig")

if state.can(state.Action.EXPORT_AGGREGATES):  # a viewer exports nothing (st.empty() would still draw the buttons)
    d = st.columns(2)
    # built when clicked (an Excel workbook takes about a second): lever edits do not wait for it
    d[0].download_button("Download CSV", lambda: budget_service.to_csv_bytes(compared),
                         file_name="budget_scenarios.csv", mime="text/csv", key="budget_download_csv",
                         icon=":material/download:")
    d[1].download_button("Download Excel", lambda: budget_service.to_excel_bytes(compared),
                         file_name="budget_scenarios.xlsx",
                         mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                         key="budget_download_xlsx", icon=":material/table:")

st.subheader(f"“{components.escape(active_name)}” in detail")
tabs = st.tabs(["Per year", "Savings", "Uncertainty", "Funding and cliff", "Per tool", "Optimizer",
                "How this is computed"])
with tabs[0]:
    components.chart(budget_cache.get_figure("spend", scope, [active_spec], key=data_key), key="budget_spend_fig")
    budget_cache.table(budget.projection_table(active_result.projection), key="budget_year_table")
with tabs[1]:
    components.chart(budget_cache.get_figure("waterfall", scope, [active_spec], key=data_key), key="budget_waterfall")
with tabs[2]:
    bands = active_result.bands.bands
    st.caption(f"Monte Carlo, {active_result.bands.draws:,} draws: escalators ± "
               f"{active_result.scenario.assumptions.escalator_sd:.0%}, enrollment change ± "
               f"{active_result.scenario.assumptions.enrollment_sd:.0%} a year, effects within their 95% CIs.")
    totals = active_result.bands
    spend_band, impact_band = totals.horizon_band("spend"), totals.horizon_band("impact")
    st.markdown(md(f"Over FY{active_result.projection.years[0]}–FY{active_result.projection.years[-1]}: total "
                   f"spend {money(spend_band['p10'])} – {money(spend_band['p90'])} (P10–P90, median "
                   f"{money(spend_band['p50'])}); expected impact {impact_band['p10']:,.0f} – "
                   f"{impact_band['p90']:,.0f} SD × students. These are percentiles of the simulated horizon totals, "
                   "not sums of the yearly bands below."))
    u = st.columns(2)
    components.chart(budget_cache.get_figure("fan", scope, [active_spec], "spend", data_key), key="budget_fan_spend", where=u[0])
    components.chart(budget_cache.get_figure("fan", scope, [active_spec], "impact", data_key), key="budget_fan_impact",
                     where=u[1])
with tabs[3]:
    components.chart(budget_cache.get_figure("funding", scope, [active_spec], key=data_key), key="budget_funding_fig")
    gaps = active_result.projection.by_year.loc[active_result.projection.by_year["gap"] > 0.005]
    for row in gaps.itertuples():
        st.warning(md(f"FY{row.fiscal_year}: spend exceeds available funding by {money(row.gap)}."),
                   icon=":material/warning:")
    budget_cache.table(active_result.projection.by_source, key="budget_source_table")
with tabs[4]:
    per_tool = active_result.projection.by_tool.round(2)
    if not state.can_see_students():  # board view: small counts shown as "<N" (EDTECH_SUPPRESS_MIN)
        per_tool = suppress_small(per_tool, ["students_at_dosage"], min_n=suppression_threshold(),
                                  mask_cols=["expected_impact"])
    budget_cache.table(per_tool.drop(columns=["tool_id"]), key="budget_tool_table")
with tabs[5]:
    st.markdown("Choose **keep / right-size / expand / sunset** per tool to maximize expected impact under a cap "
                "(must-keep tools are never sunset; expand is offered for the expansions added to this scenario).")
    st.caption(f"The cap is a cap: cutting 10% means every fiscal year's cost of the tool lines (licenses, their PD "
               f"and staff time) is at most 90% of what keeping every tool costs that year. A tool is sunset for harm "
               f"only when P(effect < −{budget_cache.DECISION_THRESHOLD:g} SD) ≥ "
               f"{pct(budget_cache.HARM_PROBABILITY)} (flat-prior approximation); a negative estimate whose interval "
               "includes 0 counts as no effect, never as harm.")
    o = st.columns([2, 1])
    o[0].slider("Cut tool spend by, % a year", 0, 60, 10, step=5, key="budget_opt_cut", disabled=not editable)
    if o[1].button("Optimize", key="budget_optimize", type="primary", width="stretch", disabled=not editable):
        st.session_state[PLAN_KEY] = budget_cache.get_plan(scope, active_spec, st.session_state["budget_opt_cut"] / 100)
    plan = st.session_state.get(PLAN_KEY)
    if plan is not None:
        (st.success if plan.feasible else st.error)(components.escape(plan.message))
        if plan.feasible:
            st.info(components.escape(plan.why), icon=":material/info:")
            caps = plan.by_year.assign(fiscal_year=[f"FY{y}" for y in plan.by_year["fiscal_year"]])
            caps = caps.rename(columns={"fiscal_year": "Fiscal year", "baseline": "Keeping every tool", "cap": "Cap",
                                        "plan": "Plan", "under_cap": "Under the cap by"})
            for col in ("Keeping every tool", "Cap", "Plan", "Under the cap by"):
                caps[col] = caps[col].map(money)
            components.table(caps, hide_index=True, key="budget_plan_caps")
            budget_cache.table(plan.table[["tool_name", "option", "seats_year1", "cost", "saving", "impact",
                                           "explanation"]], key="budget_plan_table")
            st.button("Compare this plan as a new scenario", key="budget_apply_plan", on_click=on_apply_plan)
with tabs[6]:
    st.markdown(md(budget.__doc__.split("\n\n", 1)[1]))
    st.markdown(md(budget_cache.optimizer.__doc__.split("\n\n", 1)[1]))
    st.markdown("Savings by lever are attributed in order (right-size, sunset, expand, refresh, PD, one-offs), "
                "each measured with the earlier levers already applied, so they add up to the total.")
    if editable:  # the spec a director can re-run or edit (`python -m edtech scenario run SPEC.json`)
        st.download_button("Download this scenario as a spec file (JSON)", key="budget_spec_download",
                           data=json.dumps(active_spec, indent=2, default=str), file_name="scenario.json",
                           mime="application/json", icon=":material/download:",
                           help="Run it with `python -m edtech scenario run scenario.json`, or edit it and run again.")
