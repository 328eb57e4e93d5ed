"""Tool ROI: which tools earn their money? Scoreboard, cost-vs-effect quadrant, drill-down per tool."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from edtech.core.config import SUPPRESS_MIN
from edtech.core.privacy import suppress_small, suppression_label
from edtech.evidence import effects
from edtech.roi import engine as roi
from edtech.roi import viz
from edtech.services import roi as roi_service
from ui import components, nav, roi_cache, state

WEIGHT_KEYS = {part: f"roi_w_{part}" for part in roi.DEFAULT_WEIGHTS}
BADGE = {"underused": "🔴 underused", "over_deployed": "🟠 over-deployed", "uneven": "🟡 uneven",
         "concentrated": "🟡 concentrated", "expensive_underused": "🔴 expensive & underused",
         "unvetted": "🟠 unvetted", "renewal_due": "🔵 renewal ≤ 90 days"}

# board members see aggregates only: counts of fewer than SUPPRESS_MIN students are shown as "<10"
SUPPRESS = not state.can_see_students()


def count_text(n: float) -> str:
    return suppression_label(SUPPRESS_MIN) if SUPPRESS and n < SUPPRESS_MIN else f"{int(n):,}"


st.title("Tool ROI")
st.caption("Which tools earn their money: usage, dosage, cost, measured effect on learning, and a recommendation "
           "per tool. Evidence labels are local, ESSA-aligned judgements, not official ratings.")

if components.empty_state("the Tool ROI page"):
    st.stop()
if components.require_scope("their tools"):
    st.stop()
scope = state.current_scope()

analysis = roi_cache.get_analysis(scope)
if analysis.combined.empty:
    st.info("No tools in the data yet. Add a tools file and licenses on the **Data** page.")
    nav.link("app_pages/data.py", "Go to the Data page", ":material/upload_file:")
    st.stop()

# ---------------------------------------------------------------- weights (saved) and filters
if WEIGHT_KEYS["utilization"] not in st.session_state:
    for part, value in roi_cache.load_saved_weights().items():
        st.session_state[WEIGHT_KEYS[part]] = int(round(value))

with st.expander("ROI score weights", icon=":material/tune:"):
    st.caption("The 0–100 score is the weighted mean of each tool's percentile rank on four parts; a tool missing a "
               "part is scored on the parts it has and marked. Default 25 / 15 / 35 / 25.")
    cols = st.columns(4)
    for col, (part, key) in zip(cols, WEIGHT_KEYS.items(), strict=True):
        col.slider(roi.WEIGHT_LABELS[part], 0, 100, step=5, key=key)
    weights = {part: float(st.session_state[key]) for part, key in WEIGHT_KEYS.items()}
    b1, b2, _ = st.columns([1, 1, 3])
    if b1.button("Save weights", key="roi_save_weights", icon=":material/save:"):
        if roi_cache.save_weights(weights):
            st.success("Saved: everyone now sees the ranking with these weights.")
        else:
            st.info("Kept for this session (this database has no settings store yet).")
    if b2.button("Reset to defaults", key="roi_reset_weights"):
        for part, key in WEIGHT_KEYS.items():
            st.session_state[key] = int(roi.DEFAULT_WEIGHTS[part])
        st.rerun()
if sum(weights.values()) <= 0:
    st.warning("All weights are zero; using the defaults.")
    weights = dict(roi.DEFAULT_WEIGHTS)

board = roi_cache.get_board(scope, weights)
school_frame = analysis.metrics.schools
names = dict(zip(school_frame["school_id"], school_frame["school_name"], strict=False))
f1, f2, f3 = st.columns(3)
categories = f1.multiselect("Category", sorted(board["category"].dropna().unique()), key="roi_filter_category")
schools = f2.multiselect("School", sorted(names, key=lambda s: str(names[s])), key="roi_filter_school",
                         format_func=lambda s: names.get(s, s))
funding_options = sorted({f.strip() for fs in board["funding_sources"].dropna() for f in str(fs).split(",") if f.strip()})
funding = f3.multiselect("Funding source", funding_options, key="roi_filter_funding")

shown = board
if scope is not None:  # a coordinator sees the tools their schools license or use
    shown = shown[(shown["seats"] > 0) | (shown["active_users"] > 0)]
if categories:
    shown = shown[shown["category"].isin(categories)]
if funding:
    shown = shown[shown["funding_sources"].fillna("").map(lambda s: any(f in s.split(", ") for f in funding))]
if schools:
    at = school_frame[school_frame["school_id"].isin(schools)]
    at = at.groupby("tool_id").agg(seats_at=("seats", "sum"), users_at=("active_users", "sum"))
    at = at[(at["seats_at"] > 0) | (at["users_at"] > 0)]
    shown = shown[shown["tool_id"].isin(at.index)].copy()
    shown["utilization_at_schools"] = shown["tool_id"].map(at["users_at"] / at["seats_at"].where(at["seats_at"] > 0))

# ---------------------------------------------------------------- headline numbers
spend = float(shown["annual_cost"].sum())
idle = float(shown["idle_license_value"].fillna(0).sum())
m1, m2, m3, m4 = st.columns(4)
m1.metric("Tools", f"{len(shown)}")
m2.metric("Annual license spend", components.money(spend))
m3.metric("Idle seat value", components.money(idle), help=roi.DEFINITIONS["idle_license_value"])
m4.metric("Tools with positive evidence",
          f"{int(shown['evidence_label'].isin([effects.LABEL_MODERATE, effects.LABEL_PROMISING]).sum())}")

# ---------------------------------------------------------------- scoreboard
st.subheader("Scoreboard")
table = pd.DataFrame({
    "Rank": shown["rank"], "Tool": shown["tool_name"], "Category": shown["category"],
    "ROI score": shown["roi_score"], "Recommendation": shown["recommendation"],
    "Evidence": shown["evidence_label"], "Effect (SD)": shown["effect_size"],
    "Utilization": shown["utilization"] * 100, "Dosage met": shown["dosage_met_share"] * 100,
    "Seats": shown["seats"], "Active users": shown["active_users"], "Annual cost": shown["annual_cost"],
    "$ / active user": shown["cost_per_active_user"], "$ per 0.1 SD": shown["cost_per_0_1_sd"],
    "Badges": shown["flags"].map(lambda fl: [BADGE.get(f, f) for f in fl] if isinstance(fl, list) else []),
    "Score based on": shown["score_parts_missing"].map(lambda m: "all parts" if not m else f"missing: {m}"),
})
if SUPPRESS:
    table = suppress_small(table, ["Active users"], SUPPRESS_MIN)
if "utilization_at_schools" in shown.columns:
    table.insert(8, "Utilization (selected schools)", shown["utilization_at_schools"] * 100)
st.dataframe(
    table, hide_index=True, width="stretch", key="roi_scoreboard",
    column_config={
        "ROI score": st.column_config.ProgressColumn("ROI score", min_value=0, max_value=100, format="%.0f"),
        "Effect (SD)": st.column_config.NumberColumn(format="%+.2f"),
        "Utilization": st.column_config.NumberColumn(format="%.0f%%", help=roi.DEFINITIONS["utilization"]),
        "Utilization (selected schools)": st.column_config.NumberColumn(format="%.0f%%"),
        "Dosage met": st.column_config.NumberColumn(format="%.0f%%", help=roi.DEFINITIONS["dosage_met"]),
        "Annual cost": st.column_config.NumberColumn(format="dollar"),
        "$ / active user": st.column_config.NumberColumn(format="dollar"),
        "$ per 0.1 SD": st.column_config.NumberColumn(format="dollar", help=roi.DEFINITIONS["cost_per_0_1_sd"]),
        "Badges": st.column_config.ListColumn("Badges"),
    })
st.download_button("Download scoreboard (CSV)", roi_service.export_frame(shown).to_csv(index=False).encode(),
                   file_name="tool_roi.csv", mime="text/csv", key="roi_download", icon=":material/download:")

st.plotly_chart(viz.quadrant(shown), key="roi_quadrant")

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
detail = roi_cache.get_drilldown(scope, tool_id)

st.markdown(f"**Recommendation: {row['recommendation']}.** {row['recommendation_reason']}")
if row["flags"]:
    st.markdown(" ".join(f"`{BADGE.get(f, f)}`" for f in row["flags"]))
d1, d2, d3, d4, d5 = st.columns(5)
d1.metric("Active users (year)", count_text(row["active_users"]), help=roi.DEFINITIONS["active_contract_year"])
d2.metric("Last 30 days", count_text(row["active_30d"]), help=roi.DEFINITIONS["active_30d"])
d3.metric("Peak 4-week users", count_text(row["peak_active_30d"]), help=roi.DEFINITIONS["peak_active_30d"])
d4.metric("Utilization", components.pct(row["utilization"]), help=roi.DEFINITIONS["utilization"])
d5.metric("Ingredients cost", components.money(row["ingredients_cost"]), help=roi.DEFINITIONS["ingredients_cost"])

tab_use, tab_schools, tab_dosage, tab_effect = st.tabs(["Weekly use", "Schools", "Dosage", "Effect"])
figs = detail["figures"]
with tab_use:
    st.plotly_chart(figs["weekly"], key="roi_fig_weekly")
with tab_schools:
    if figs["schools"] is None:
        st.info("No school-level seats or use for this tool.")
    else:
        st.plotly_chart(figs["schools"], key="roi_fig_schools")
        sf = detail["schools"][["school_name", "seats", "active_users", "utilization", "peak_active_30d",
                                "dosage_met", "fidelity_share", "implements_with_fidelity", "idle_license_value"]]
        if SUPPRESS:
            sf = suppress_small(sf, ["active_users", "peak_active_30d", "dosage_met"], SUPPRESS_MIN,
                                mask_cols=["fidelity_share"])
        st.dataframe(sf, hide_index=True, width="stretch", key="roi_school_table", column_config={
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
        st.caption(roi.DEFINITIONS["dosage_met"])
    else:
        st.plotly_chart(figs["dosage"], key="roi_fig_dosage")
        st.caption(roi.DEFINITIONS["dosage_met"])
with tab_effect:
    chosen = roi_cache.outcome_choice().get(tool_id)
    assessments = sorted(components.cache.get_district(scope).assessments["assessment"].dropna().unique())
    if assessments:
        auto = "matched on the tool's subject"
        pick = st.selectbox("Outcome assessment", [auto, *assessments], key=f"roi_outcome_{tool_id}",
                            index=(assessments.index(chosen) + 1) if chosen in assessments else 0,
                            help="By default the assessment of the tool's subject; pick another when the subjects "
                                 "are named differently. The choice is saved and used in the scoreboard.")
        wanted = None if pick == auto else pick
        if wanted != chosen and st.button("Use this outcome for the tool", key="roi_outcome_save"):
            if roi_cache.save_outcome_choice(tool_id, wanted):
                st.rerun()
    if not detail["explanations"]:
        st.info(f"No assessment matches this tool's subject ({row.get('subject') or 'none'}), so no effect on "
                "learning can be estimated. Cost and usage still count in the score.")
    for plain, technical in detail["explanations"]:
        st.markdown(plain)
        with st.expander("How it was computed"):
            st.markdown(technical)
    if figs["effects"] is not None:
        st.plotly_chart(figs["effects"], key="roi_fig_effects")

with st.expander("Definitions"):
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {v}" for k, v in roi.DEFINITIONS.items()))
