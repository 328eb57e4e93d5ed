"""Tool ROI: which tools earn their money? Scoreboard, cost-vs-effect quadrant, drill-down per tool."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, charts, components, nav, state

# the four parts of methods.md section 3, then the optional stakeholder satisfaction (0 unless set)
WEIGHT_KEYS = {part: f"roi_w_{part}" for part in components.WEIGHT_LABELS}
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


SATISFACTION_HELP = ("Stakeholders' rating 1–5: the mean of the role means (teachers, students, parents…) over the "
                     f"last 12 months, each role with at least {MIN_N} ratings; district-wide, like the evidence.")
ROLE_FORMATS = {"Mean rating": ("%.1f / 5", lambda v: f"{v:.1f} / 5"), "Rated 4 or 5": ("percent", components.pct),
                "Last six months": ("%.1f", lambda v: f"{v:.1f}"), "Six months before": ("%.1f", lambda v: f"{v:.1f}")}
ROLE_HELP = {"Ratings": "Ratings of the last 12 months.", "Rated 4 or 5": "Share of ratings of 4 or 5.",
             "Trend": "The last six months against the six before: rising or falling only when the 95% interval "
                      "of the change excludes 0."}


def people_table(roles: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per-role satisfaction with em dashes for what is missing or suppressed; a number column stays a
    number (formatted by the grid) unless a cell is missing, then it is text formatted by the same rule."""
    out = roles.copy()
    config: dict = {c: st.column_config.TextColumn(c, help=ROLE_HELP.get(c)) for c in out.columns}
    for col, (fmt, text) in ROLE_FORMATS.items():
        if col in out.columns:
            out[col] = number_or_dash(out[col], text)
            if pd.api.types.is_float_dtype(out[col]):
                config[col] = st.column_config.NumberColumn(col, format=fmt, help=ROLE_HELP.get(col))
    out["Ratings"] = out["Ratings"].map(lambda v: v if isinstance(v, str) else f"{int(v):,}")
    return out, config


TREND_TEXT = {"falling": "falling faster than other tools", "steady": "like other tools",
              "holding": "holding up better than other tools", "few": "too few users to tell"}


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
    st.caption("Stakeholder satisfaction is optional (0 unless you set it): the percentile rank of the tool's "
               "rating (mean of the role means of the last 12 months, each role with at least "
               f"{MIN_N} ratings). A tool with fewer ratings gets the middle rank, so it is neither helped nor "
               "hurt, and satisfaction never makes a tool without evidence rankable.")
    if state.can(state.Action.SAVE_SETTINGS):
        with st.form("roi_weights_form"):
            cols = st.columns(len(WEIGHT_KEYS))
            picked = {part: col.slider(components.WEIGHT_LABELS[part], 0, 100, value=int(round(saved.get(part, 0))),
                                       step=5, key=WEIGHT_KEYS[part])
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
           f"{', '.join(components.WEIGHT_LABELS[k] for k, v in saved.items() if v > 0).lower()} (the saved weights). A tool whose score rests "
           "on under half of the weight — no evidence or cost-effectiveness yet — ranks after every tool scored on "
           "at least half, even with a higher score; "
           "tools without a score come last. **Recommendation** is the analysis's; **Decision** is the director's "
           "recorded decision. Savings are a year at today's prices if the recommendation is followed.")
shown = cache.board_with_decisions(shown)
feedback = cache.satisfaction(scope)
rated = feedback.per_tool.set_index("tool_id")


def satisfaction_cells(tool_ids: pd.Series) -> pd.Series:
    """The tool's satisfaction (mean of role means, 1-5) as a number; '<10' for aggregate-only readers when
    fewer ratings count; an em dash when there is none."""
    def cell(tid: str) -> object:
        if tid not in rated.index:
            return components.EM_DASH
        r = rated.loc[tid]
        if feedback.suppressed and r["satisfaction_n"] < MIN_N:
            return f"<{MIN_N}"
        return components.EM_DASH if pd.isna(r["satisfaction_mean"]) else float(r["satisfaction_mean"])
    cells = tool_ids.map(cell)
    return cells.astype(float) if all(isinstance(c, float) for c in cells) else cells.map(
        lambda c: f"{c:.1f} / 5" if isinstance(c, float) else c)


def ratings_cells(tool_ids: pd.Series) -> pd.Series:
    n = tool_ids.map(lambda t: int(rated.loc[t, "responses"]) if t in rated.index else 0)
    return n.map(lambda v: f"<{MIN_N}" if feedback.suppressed and v < MIN_N else f"{v:,}")

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
        "Satisfaction": satisfaction_cells(shown["tool_id"]),
        "Ratings": ratings_cells(shown["tool_id"]),
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
        "Satisfaction": st.column_config.NumberColumn("Satisfaction", format="%.1f / 5", help=SATISFACTION_HELP),
        "Ratings": st.column_config.TextColumn("Ratings", help="Stakeholder ratings of the last 12 months."),
    }
components.table(table, hide_index=True, width="stretch", key="roi_scoreboard", column_config=config)
if state.can(state.Action.EXPORT_AGGREGATES):  # a viewer exports nothing
    d1, d2 = st.columns(2)
    # built when clicked: a rerun does not write both files
    d1.download_button("Download scoreboard (CSV)", lambda board=shown: cache.roi_export_csv(board), file_name="tool_roi.csv", mime="text/csv", key="roi_download",
        icon=":material/download:")
    d2.download_button("Download decisions (CSV)", cache.decisions_csv_later(shown),
                       file_name="tool_decisions.csv",
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

components.chart(charts.roi_quadrant(shown), key="roi_quadrant")

# ---------------------------------------------------------------- stakeholder feedback beside use and effect
st.subheader("What stakeholders say")


def role_cells(tool_ids: pd.Series, role: str) -> pd.Series:
    """One role's mean rating per tool as text ("3.4 / 5"), '<10' when suppressed, an em dash when absent."""
    by = feedback.by_role.set_index(["tool_id", "role"])

    def cell(tid: str) -> str:
        if (tid, role) not in by.index:
            return components.EM_DASH
        r = by.loc[(tid, role)]
        if isinstance(r["n"], str):
            return r["n"]
        return components.EM_DASH if pd.isna(r["mean_rating"]) else f"{r['mean_rating']:.1f} / 5 ({int(r['n'])})"
    return tool_ids.map(cell)


if feedback.responses == 0:
    st.info("No stakeholder ratings yet: import a survey export (table **feedback**: respondent, tool, date, "
            "role, rating 1–5, comment) on the Data page.", icon=":material/reviews:")
else:
    people = pd.DataFrame({
        "Tool": shown["tool_name"].to_numpy(),
        "Satisfaction": satisfaction_cells(shown["tool_id"]).to_numpy(),
        "Teachers": role_cells(shown["tool_id"], "teacher").to_numpy(),
        "Students": role_cells(shown["tool_id"], "student").to_numpy(),
        "Parents": role_cells(shown["tool_id"], "parent").to_numpy(),
        "Use trend": shown["tool_id"].map(lambda t: TREND_TEXT.get(rated.loc[t, "use_trend"], components.EM_DASH)
                                          if t in rated.index else components.EM_DASH).to_numpy(),
        "Effect (SD)": dash_text(shown["effect_size"], lambda v: f"{v:+.2f}").to_numpy(),
        "Evidence": dash_text(shown["evidence_label"], str).to_numpy(),
    })
    components.table(people, hide_index=True, width="stretch", key="roi_people", column_config={
        "Tool": st.column_config.TextColumn("Tool", pinned=True),
        "Satisfaction": (st.column_config.NumberColumn("Satisfaction", format="%.1f / 5", help=SATISFACTION_HELP)
                         if pd.api.types.is_float_dtype(people["Satisfaction"])
                         else st.column_config.TextColumn("Satisfaction", help=SATISFACTION_HELP)),
        "Teachers": st.column_config.TextColumn("Teachers", help="Mean rating (number of ratings), last 12 months."),
        "Students": st.column_config.TextColumn("Students", help="Mean rating (number of ratings), last 12 months."),
        "Parents": st.column_config.TextColumn("Parents", help="Mean rating (number of ratings), last 12 months."),
        "Use trend": st.column_config.TextColumn("Use trend", help="Users of the last 30 days against the peak "
                                                 "4-week users, beside the other tools' (the scoreboard's figures)."),
    })
    st.caption(f"Ratings of the last 12 months; a role with fewer than {MIN_N} ratings is shown as <{MIN_N} to "
               "board members and viewers and does not count in the satisfaction. One line per tool, with the "
               "trend of its ratings and comments, in the drill-down's **Stakeholders** tab.")

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

tab_use, tab_schools, tab_dosage, tab_effect, tab_people = st.tabs(["Weekly use", "Schools", "Dosage", "Effect",
                                                                     "Stakeholders"])
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
        sf = detail.schools
        sf = pd.DataFrame({
            "School": sf["school_name"].to_numpy(),
            "Seats": sf["seats"].round().to_numpy(),
            "Active users": sf["active_users"].to_numpy(),
            "Utilization": number_or_dash(sf["utilization"], components.pct).to_numpy(),
            "Peak 4-week users": sf["peak_active_30d"].round().to_numpy(),
            "Met dosage": sf["dosage_met"].to_numpy(),
            "Fidelity": number_or_dash(sf["fidelity_share"], components.pct).to_numpy(),
            "With fidelity": sf["implements_with_fidelity"].map(
                lambda v: "yes" if v is True or v == 1 else ("no" if v is False or v == 0 else components.EM_DASH)
            ).to_numpy(),
            "Idle seat value": sf["idle_license_value"].to_numpy(),
        })
        if SUPPRESS:
            sf = components.suppress_small(sf, ["Active users", "Peak 4-week users", "Met dosage"], MIN_N,
                                           mask_cols=["Fidelity"])
            sf["Fidelity"] = sf["Fidelity"].map(lambda v: components.EM_DASH if v is None else v)
        components.table(sf, hide_index=True, width="stretch", key="roi_school_table", column_config={
            "Seats": st.column_config.NumberColumn("Seats", format="localized", step=1),
            "Active users": st.column_config.NumberColumn("Active users", format="localized", step=1),
            "Utilization": st.column_config.NumberColumn("Utilization", format="percent", step=0.01,
                                                         help=components.DEFINITIONS["utilization"]),
            "Peak 4-week users": st.column_config.NumberColumn("Peak 4-week users", format="localized", step=1),
            "Met dosage": st.column_config.NumberColumn("Met dosage", format="localized", step=1),
            "Fidelity": st.column_config.NumberColumn("Fidelity", format="percent", step=0.01,
                                                      help="Share of the school's licensed students who met dosage."),
            "With fidelity": st.column_config.TextColumn("With fidelity", help="80% or more met dosage."),
            "Idle seat value": st.column_config.NumberColumn("Idle seat value", format="dollar", step=1,
                                                             help=components.DEFINITIONS["idle_license_value"])})
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
    assessments = cache.assessment_names()
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

with tab_people:
    person = rated.loc[tool_id] if tool_id in rated.index else None
    summary = person["summary"] if person is not None else "No stakeholder ratings yet."
    st.markdown(components.escape(summary))
    roles = cache.satisfaction_roles(feedback, tool_id)
    if len(roles):
        grid, grid_config = people_table(roles.drop(columns=["Tool"]))
        components.table(grid, hide_index=True, width="stretch", key="roi_people_roles", column_config=grid_config)
    st.caption(f"Ratings 1–5 of the 12 months up to {feedback.window_end:%b %d, %Y}; trend = the last six months "
               "against the six before, called rising or falling only when the 95% interval of the change excludes "
               f"0. Use is the scoreboard's: users of the last 30 days against the peak 4-week users, beside the "
               "other tools (every tool falls when school ends)." if feedback.window_end is not None else
               "Import a survey export (table feedback) on the Data page to see ratings here.")
    if state.can(state.Action.READ_COMMENTS):
        notes = cache.feedback_comments(scope, tool_id)
        with st.expander(f"Comments ({len(notes)})", icon=":material/forum:"):
            if notes.empty:
                st.caption("No comments" + (" from your schools' respondents." if scope else "."))
            else:
                components.table(cache.comment_table(notes).drop(columns=["Tool"]), hide_index=True,
                                 width="stretch", key="roi_people_comments", column_config={
                                     "Rating": st.column_config.NumberColumn("Rating", format="%d / 5"),
                                     "Comment": st.column_config.TextColumn("Comment", width="large")})
                st.caption("Comments are shown only to roles that see details; never on board material."
                           + (" Your schools' respondents only." if scope else ""))

with st.expander("Definitions"):
    st.markdown("\n".join(f"- **{k.replace('_', ' ')}**: {v}" for k, v in components.DEFINITIONS.items()))
