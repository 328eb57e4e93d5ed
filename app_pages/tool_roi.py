"""Tool ROI: which tools earn their money? Scoreboard, cost-vs-effect quadrant, drill-down per tool."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, charts, components, nav, state

WEIGHT_KEYS = {part: f"roi_w_{part}" for part in components.DEFAULT_WEIGHTS}
BADGE = {"underused": "underused", "over_deployed": "over-deployed", "uneven": "uneven across schools",
         "concentrated": "concentrated", "expensive_underused": "expensive & underused",
         "unvetted": "unvetted", "renewal_due": "renewal within 90 days"}

# board members see aggregates only: counts of fewer than the threshold are shown as "<N"
SUPPRESS = not state.can_see_students()
MIN_N = components.suppression_threshold()


def count_text(n: float) -> str:
    return f"<{MIN_N}" if SUPPRESS and n < MIN_N else components.count(n)


st.title("Tool ROI")
st.caption("Which tools earn their money: usage, dosage, cost, measured effect on learning, and a recommendation "
           "per tool. Evidence labels are local, ESSA-aligned judgements, not official ratings.")

scope = components.scope_or_stop("the Tool ROI page", "their tools")

board = cache.roi_board(scope)
if board.empty:
    st.info("No tools in the data yet. Add a tools file and licenses on the **Data** page.")
    nav.link("app_pages/data.py", "Go to the Data page", ":material/upload_file:")
    st.stop()
if scope is not None:
    st.caption(components.SCOPE_HELP)

# ---------------------------------------------------------------- weights (saved: one ranking for everyone)
saved = cache.saved_weights()
with st.expander("ROI score weights", icon=":material/tune:"):
    st.caption("The 0–100 score is the weighted mean of each tool's percentile rank on four parts; a tool missing a "
               "part is scored on the parts it has and marked, and ranks after tools scored on at least half the "
               "weight. Default 25 / 15 / 35 / 25. Every page, the board report and the command line use the "
               "saved weights.")
    if state.can(state.Action.SAVE_SETTINGS):
        with st.form("roi_weights_form"):
            cols = st.columns(4)
            picked = {part: col.slider(components.WEIGHT_LABELS[part], 0, 100, value=int(round(saved[part])), step=5,
                                       key=WEIGHT_KEYS[part])
                      for col, part in zip(cols, WEIGHT_KEYS, strict=True)}
            b1, b2 = st.columns([1, 4])
            save = b1.form_submit_button("Save weights", icon=":material/save:", key="roi_save_weights")
            reset = b2.form_submit_button("Reset to defaults", key="roi_reset_weights")
        if save or reset:
            new = dict(components.DEFAULT_WEIGHTS) if reset else {k: float(v) for k, v in picked.items()}
            if sum(new.values()) <= 0:
                st.warning("All weights are zero: nothing saved.")
            else:
                cache.save_weights(new)
                st.rerun()
    else:
        st.markdown(" · ".join(f"{components.WEIGHT_LABELS[k]}: {v:.0f}" for k, v in saved.items()))

f1, f2 = st.columns(2)
categories = f1.multiselect("Category", sorted(board["category"].dropna().unique()), key="roi_filter_category")
funding_options = sorted({f.strip() for fs in board["funding_sources"].dropna() for f in str(fs).split(",") if f.strip()})
funding = f2.multiselect("Funding source", funding_options, key="roi_filter_funding")
shown = board
if categories:
    shown = shown[shown["category"].isin(categories)]
if funding:
    shown = shown[shown["funding_sources"].fillna("").map(lambda s: any(f in s.split(", ") for f in funding))]

# ---------------------------------------------------------------- headline numbers
spend = float(shown["annual_cost"].sum())
idle = float(shown["idle_license_value"].fillna(0).sum())
m1, m2, m3, m4 = st.columns(4)
m1.metric("Tools", f"{len(shown)}")
m2.metric("Annual license spend", components.money(spend))
m3.metric("Idle seat value", components.money(idle), help=components.DEFINITIONS["idle_license_value"])
m4.metric("Savings if followed", components.money(shown["savings_if_followed"].fillna(0).sum()),
          help="A year, at today's prices: right-size savings (peak + 10% buffer) plus sunset licenses. "
               + ("District recommendations; seats and cost above are your schools' share." if scope else ""))

# ---------------------------------------------------------------- scoreboard
st.subheader("Scoreboard")
st.caption("Ranked by ROI score; tools whose score rests on under half of the weight (no evidence or cost-"
           "effectiveness yet) rank after the others. Recommendations and savings are a year at today's prices.")
table = pd.DataFrame({
    "Rank": shown["rank"], "Tool": shown["tool_name"], "Recommendation": shown["recommendation"],
    "Annual cost": shown["annual_cost"], "Savings if followed": shown["savings_if_followed"],
    "Evidence": shown["evidence_label"],
    "Effect (SD)": shown["effect_size"].map(lambda v: components.EM_DASH if pd.isna(v) else f"{v:+.2f}"),
    "Utilization": shown["utilization"].map(components.pct),
    "ROI score": shown["roi_score"],
    "Dosage met": shown["dosage_met_share"].map(components.pct),
    "Seats": shown["seats"], "Active users": shown["active_users"],
    "$ / active user": shown["cost_per_active_user"].map(components.money),
    "$ per 0.1 SD": shown["cost_per_0_1_sd"].map(components.money),
    "Category": shown["category"].fillna(""),
    "Badges": shown["flags"].map(lambda fl: [BADGE.get(f, f) for f in fl] if isinstance(fl, list) else []),
    "Score based on": shown["score_parts_missing"].map(lambda m: "all parts" if not m else f"missing: {m}"),
})
if SUPPRESS:
    table = components.suppress_small(table, ["Active users"], MIN_N)
components.table(
    table, hide_index=True, width="stretch", key="roi_scoreboard",
    column_config={
        "ROI score": st.column_config.ProgressColumn("ROI score", min_value=0, max_value=100, format="%.0f"),
        "Utilization": st.column_config.TextColumn(help=components.DEFINITIONS["utilization"]),
        "Dosage met": st.column_config.TextColumn(help=components.DEFINITIONS["dosage_met"]),
        "Annual cost": st.column_config.NumberColumn(format="dollar"),
        "Savings if followed": st.column_config.NumberColumn(format="dollar"),
        "$ per 0.1 SD": st.column_config.TextColumn(help=components.DEFINITIONS["cost_per_0_1_sd"]),
        "Badges": st.column_config.ListColumn("Badges"),
    })
if state.can(state.Action.EXPORT_AGGREGATES):  # a viewer exports nothing
    st.download_button("Download scoreboard (CSV)", cache.roi_export_csv(shown),
                       file_name="tool_roi.csv", mime="text/csv", key="roi_download", icon=":material/download:")

components.chart(charts.roi.quadrant(shown), key="roi_quadrant")

# ---------------------------------------------------------------- drill-down
st.subheader("Drill-down")
tool_names = dict(zip(shown["tool_id"], shown["tool_name"], strict=True))
if not tool_names:
    st.info("No tool matches the filters.")
    st.stop()
if st.session_state.get("roi_tool") not in tool_names:
    st.session_state["roi_tool"] = next(iter(tool_names))
tool_id = st.selectbox("Tool", list(tool_names), key="roi_tool", format_func=lambda t: tool_names[t])
row = shown.set_index("tool_id").loc[tool_id]
threshold = st.session_state.get("roi_threshold", components.DECISION_THRESHOLD)
detail = cache.roi_drilldown(scope, tool_id, threshold)

st.markdown(f"**Recommendation{' (district)' if scope else ''}: {components.escape(row['recommendation'])}.** "
            f"{components.escape(row['recommendation_reason'])}")
if row["flags"]:
    st.markdown(" ".join(f"`{BADGE.get(f, f)}`" for f in row["flags"]))
d1, d2, d3, d4, d5 = st.columns(5)
d1.metric("Active users (year)", count_text(row["active_users"]), help=components.DEFINITIONS["active_contract_year"])
d2.metric("Last 30 days", count_text(row["active_30d"]), help=components.DEFINITIONS["active_30d"])
d3.metric("Peak 4-week users", count_text(row["peak_active_30d"]), help=components.DEFINITIONS["peak_active_30d"])
d4.metric("Utilization", components.pct(row["utilization"]), help=components.DEFINITIONS["utilization"])
d5.metric("Ingredients cost", components.money(row["ingredients_cost"]), help=components.DEFINITIONS["ingredients_cost"])

tab_use, tab_schools, tab_dosage, tab_effect = st.tabs(["Weekly use", "Schools", "Dosage", "Effect"])
figs = detail.figures
with tab_use:
    if figs["weekly"] is None:
        st.info("Weekly use is shown district-wide; see the School adoption page for your schools' weeks.")
    else:
        components.chart(figs["weekly"], key="roi_fig_weekly")
with tab_schools:
    if figs["schools"] is None:
        st.info("No school-level seats or use for this tool.")
    else:
        components.chart(figs["schools"], key="roi_fig_schools")
        sf = detail.schools[["school_name", "seats", "active_users", "utilization", "peak_active_30d",
                                "dosage_met", "fidelity_share", "implements_with_fidelity", "idle_license_value"]]
        if SUPPRESS:
            sf = components.suppress_small(sf, ["active_users", "peak_active_30d", "dosage_met"], MIN_N,
                                mask_cols=["fidelity_share"])
        components.table(sf, hide_index=True, width="stretch", key="roi_school_table", column_config={
            "utilization": st.column_config.NumberColumn(format="percent"),
            "fidelity_share": st.column_config.NumberColumn("fidelity", format="percent"),
            "seats": st.column_config.NumberColumn(format="%.0f"),
            "idle_license_value": st.column_config.NumberColumn(format="dollar")})
with tab_dosage:
    if figs["dosage"] is None:
        st.info("Nobody used this tool in the contract year.")
    elif SUPPRESS:  # a histogram of individual students' minutes is student-level detail
        st.markdown(f"{count_text(row['dosage_met'])} of {count_text(row['dosage_known'])} users with a vendor "
                    f"dosage met it ({components.pct(row['dosage_met_share'])}).")
        st.caption(components.DEFINITIONS["dosage_met"])
    else:
        components.chart(figs["dosage"], key="roi_fig_dosage")
        st.caption(components.DEFINITIONS["dosage_met"])
with tab_effect:
    chosen = cache.outcome_choice().get(tool_id)
    assessments = sorted(cache.get_whole().assessments["assessment"].dropna().unique())
    if assessments and state.can(state.Action.SAVE_SETTINGS):
        auto = "matched on the tool's subject"
        pick = st.selectbox("Outcome assessment", [auto, *assessments], key=f"roi_outcome_{tool_id}",
                            index=(assessments.index(chosen) + 1) if chosen in assessments else 0,
                            help="By default the assessment of the tool's subject; pick another when the subjects "
                                 "are named differently. The choice is saved and used in the scoreboard.")
        wanted = None if pick == auto else pick
        if wanted != chosen and st.button("Use this outcome for the tool", key="roi_outcome_save"):
            cache.save_outcome_choice(tool_id, wanted)
            st.rerun()
    st.number_input("Smallest effect that matters (SD)", min_value=0.0, max_value=1.0, step=0.01,
                    value=components.DECISION_THRESHOLD, key="roi_threshold",
                    help="The 'moved the needle' threshold t behind the probabilities P(effect > t), P(|effect| ≤ t) "
                         "and P(effect < −t): a flat-prior approximation from the estimate, its SE and the CI's "
                         "degrees of freedom, so it never disagrees with the confidence interval.")
    head = detail.effects
    if len(head) and head["p_above"].notna().any():
        probs = head[["assessment", "p_above", "p_within", "p_below"]].copy()
        for col in ("p_above", "p_within", "p_below"):
            probs[col] = probs[col].map(components.pct)
        t = f"{threshold:.2f}"
        probs.columns = ["Outcome", f"P(effect > {t})", f"P(|effect| ≤ {t})", f"P(effect < −{t})"]
        components.table(probs, hide_index=True, key="roi_probabilities")
        st.caption("Decision probabilities: flat-prior approximation from the headline estimate.")
    if not detail.explanations:
        st.info(f"No assessment matches this tool's subject ({components.escape(row.get('subject') or 'none')}), so no effect on "
                "learning can be estimated. Cost and usage still count in the score.")
    for plain, technical in detail.explanations:
        st.markdown(components.escape(plain))  # names an assessment and the evidence reason
        with st.expander("How it was computed"):
            st.markdown(components.defang_markdown(technical))  # keeps the model formula's code span
    if figs["effects"] is not None:
        components.chart(figs["effects"], key="roi_fig_effects")

with st.expander("Definitions"):
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {v}" for k, v in components.DEFINITIONS.items()))
