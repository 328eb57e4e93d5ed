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


def dash_text(values: pd.Series, formatter) -> pd.Series:
    """Formatted text with an em dash for a missing value (a grid never shows None or nan)."""
    return values.map(lambda v: components.EM_DASH if v is None or (not isinstance(v, str) and pd.isna(v))
                      else formatter(v))


def number_or_dash(values: pd.Series, formatter) -> pd.Series:
    """Numbers (the grid sorts them and formats them by its column config) unless one is missing: then
    text formatted by the same rule, with an em dash."""
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers.astype(float) if numbers.notna().all() else dash_text(numbers, formatter)


def capitalized(text: object) -> str:
    text = str(text)
    return text[:1].upper() + text[1:]


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

# ---------------------------------------------------------------- decision table
st.subheader("What to keep, cut or change")
st.caption("Rows follow the ROI rank: the 0–100 score is the weighted mean of each tool's percentile rank on "
           f"{', '.join(components.WEIGHT_LABELS.values()).lower()} (the saved weights). A tool whose score rests "
           "on under half of the weight — no evidence or cost-effectiveness yet — ranks after every tool scored on "
           "at least half, even with a higher score; "
           "tools without a score come last. **Recommendation** is the analysis's; **Decision** is the director's "
           "recorded decision. Savings are a year at today's prices if the recommendation is followed.")
shown = cache.board_with_decisions(shown)
show_all = st.toggle("Show all columns", key="roi_all_columns",
                     help="Rank, ROI score, effect, dosage, seats, users, unit costs, category, badges and "
                          "who decided when.")


table = pd.DataFrame({
    "Tool": shown["tool_name"],
    "Recommendation": dash_text(shown["recommendation"], capitalized),
    "Decision": shown["decision_text"].replace("", components.EM_DASH),
    "Annual cost": number_or_dash(shown["annual_cost"], components.money),
    "Savings if followed": number_or_dash(shown["savings_if_followed"], components.money),
    "Evidence": dash_text(shown["evidence_label"], str),
    "Utilization": number_or_dash(shown["utilization"], components.pct),
})
config = {
    "Tool": st.column_config.TextColumn("Tool", pinned=True),
    "Recommendation": st.column_config.TextColumn("Recommendation", help="The analysis's recommendation "
                                                  "(reason in the drill-down below)."),
    "Decision": st.column_config.TextColumn("Decision", help="The director's latest recorded decision; "
                                            "— when none is recorded."),
    "Annual cost": st.column_config.NumberColumn("Annual cost", format="dollar", step=1),
    "Savings if followed": st.column_config.NumberColumn("Savings if followed", format="dollar", step=1,
                                                         help="A year at today's prices: right-size savings "
                                                              "(peak + 10% buffer) or the whole license for a "
                                                              "sunset; nothing for renew, renegotiate, "
                                                              "consolidate or study."),
    "Evidence": st.column_config.TextColumn("Evidence"),
    "Utilization": st.column_config.NumberColumn("Utilization", format="percent", step=0.01,
                                                 help=components.DEFINITIONS["utilization"]),
}
if show_all:
    detail_columns = pd.DataFrame({
        "Rank": dash_text(shown["rank"], lambda v: int(v)),
        "ROI score": number_or_dash(shown["roi_score"], lambda v: f"{v:.0f}"),
        "Effect (SD)": dash_text(shown["effect_size"], lambda v: f"{v:+.2f}"),
        "Dosage met": number_or_dash(shown["dosage_met_share"], components.pct),
        "Seats": number_or_dash(shown["seats"], components.count),
        "Active users": number_or_dash(shown["active_users"], components.count),
        "Cost per active user": number_or_dash(shown["cost_per_active_user"], components.money),
        "Cost per 0.1 SD": number_or_dash(shown["cost_per_0_1_sd"], components.money),
        "Category": dash_text(shown["category"], str),
        "Badges": shown["flags"].map(lambda fl: [BADGE.get(f, f) for f in fl] if isinstance(fl, list) else []),
        "Score based on": shown["score_parts_missing"].map(lambda m: "all parts" if not m else f"missing: {m}"),
        "Decided by": dash_text(shown["decided_by"], str),
        "Decided on": dash_text(shown["decided_at"], lambda v: f"{pd.Timestamp(v):%Y-%m-%d}"),
        "Decision note": dash_text(shown["decision_note"].replace("", None), str),
    })
    table = pd.concat([table, detail_columns], axis=1)
    if SUPPRESS:
        table = components.suppress_small(table, ["Active users"], MIN_N)
    config |= {
        "Rank": st.column_config.TextColumn("Rank", help="ROI rank (see the caption above)."),
        "ROI score": st.column_config.ProgressColumn("ROI score", min_value=0, max_value=100, format="%.0f"),
        "Dosage met": st.column_config.NumberColumn("Dosage met", format="percent", step=0.01,
                                                    help=components.DEFINITIONS["dosage_met"]),
        "Seats": st.column_config.NumberColumn("Seats", format="localized", step=1),
        "Active users": st.column_config.NumberColumn("Active users", format="localized", step=1),
        "Cost per active user": st.column_config.NumberColumn("Cost per active user", format="dollar", step=1),
        "Cost per 0.1 SD": st.column_config.NumberColumn("Cost per 0.1 SD", format="dollar", step=1,
                                                         help=components.DEFINITIONS["cost_per_0_1_sd"]),
        "Badges": st.column_config.ListColumn("Badges"),
    }
components.table(table, hide_index=True, width="stretch", key="roi_scoreboard", column_config=config)
if state.can(state.Action.EXPORT_AGGREGATES):  # a viewer exports nothing
    d1, d2 = st.columns(2)
    d1.download_button("Download scoreboard (CSV)", cache.roi_export_csv(shown), file_name="tool_roi.csv", mime="text/csv", key="roi_download",
        icon=":material/download:")
    d2.download_button("Download decisions (CSV)", cache.decisions_csv(shown), file_name="tool_decisions.csv",
                       mime="text/csv", key="roi_decisions_download", icon=":material/download:")

# ---------------------------------------------------------------- record a decision (director only)
if state.can(state.Action.RECORD_DECISION):
    with st.expander("Record a decision", icon=":material/gavel:", expanded=bool(st.session_state.get("roi_decided"))):
        done = st.session_state.pop("roi_decided", None)
        if done:
            st.success(done)
        names = dict(zip(shown["tool_id"], shown["tool_name"], strict=True))
        if names:
            labels = cache.decision_labels()
            picked = st.selectbox("Tool", list(names), key="roi_decision_tool", format_func=lambda t: names[t])
            tool = shown.set_index("tool_id").loc[picked]
            st.markdown(f"The analysis recommends: **{components.escape(capitalized(tool['recommendation']))}**. "
                        f"{components.escape(tool['recommendation_reason'])}")
            engine_kind = str(tool["recommendation"]).split()[0].lower().replace("right-size", "right_size")
            with st.form(f"roi_decision_form_{picked}"):
                kind = st.selectbox("Decision", list(labels), format_func=labels.get, key=f"roi_decision_kind_{picked}",
                                    index=list(labels).index(engine_kind) if engine_kind in labels else 0)
                current_seats = int(tool["seats"]) if pd.notna(tool["seats"]) else 0
                suggested = tool["right_size_seats"]
                suggested = int(suggested) if pd.notna(suggested) else max(current_seats - 1, 0)
                seats = st.number_input(f"Seats to keep (right-size; today {current_seats:,})", min_value=0,
                                        value=min(suggested, max(current_seats - 1, 0)), step=1,
                                        key=f"roi_decision_seats_{picked}",
                                        help="Used only for a right-size decision. The default is the analysis's "
                                             "right-size seats: peak 4-week use plus a 10% buffer.")
                note = st.text_area("Note", key=f"roi_decision_note_{picked}", max_chars=2000,
                                    placeholder="Why, and what happens next (optional)")
                submitted = st.form_submit_button("Record decision", icon=":material/gavel:", key="roi_decision_save")
            if submitted:
                refused = cache.record_decision(picked, kind, int(seats) if kind == "right_size" else None, note)
                if refused:
                    st.error(components.escape(refused))
                else:
                    st.session_state["roi_decided"] = f"Recorded: {components.escape(names[picked])} — {labels[kind]}."
                    st.rerun()

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
