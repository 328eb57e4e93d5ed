"""School adoption and equity: how each school uses its tools, who is left out, and whether PD helped."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, components, state

SUPPRESS_MIN = components.suppression_threshold()

ALL_SCHOOLS = "All schools"
SCHOOL_KEY = "adoption_school"
QUERY_PARAM = "school"  # ?school=<school_id> makes a school's view bookmarkable

EQUITY_FIGURES = ["students", "offered", "active", "active_share", "dosage_met", "dosage_met_share",
                  "minutes_per_student", "gap_pts", "gap"]
EQUITY_COLUMNS = {
    "frl_quartile": components.text_column("FRL quartile", help="Schools by share of students with free or "
                                                               "reduced-price lunch: Q1 lowest, Q4 highest"),
    "frl_range": "FRL share", "schools": components.count_column("Schools"), "label": "Group",
    "in_group": "Students", "students": components.count_column("Students"),
    "offered": components.count_column("Tool offers", help="Student × tool pairs offered"),
    "active": components.count_column("Active", help="Offers used at least once"),
    "active_share": components.percent_column("Active share"),
    "dosage_met": components.count_column("Met dosage"),
    "dosage_met_share": components.percent_column("Met dosage (share)"),
    "minutes_per_student": components.minutes_column("Minutes per student"),
    "gap_pts": st.column_config.NumberColumn("Gap (points)", format="%.1f",
                                             help="Percentage points of active share below the comparison group"),
    "gap": components.text_column("Gap flagged"),
}
EQUITY_MISSING = {"gap_pts": "the comparison group itself, or hidden with a group under "
                             f"{SUPPRESS_MIN} students",
                  **{c: f"hidden: group under {SUPPRESS_MIN} students" for c in EQUITY_FIGURES if c != "gap_pts"}}


def _equity_table(frame: pd.DataFrame) -> pd.DataFrame:
    """An equity table for the grid: flags as words, the in/out-of-group column named, privacy labels kept."""
    out = frame.copy()
    if "gap" in out.columns:
        out["gap"] = out["gap"].map(lambda v: v if isinstance(v, str) else components.yes_no(v))
    if "in_group" in out.columns:
        out["in_group"] = out["in_group"].map(lambda v: "In the group" if v is True or v == 1 else "Others")
    if "frl_quartile" in out.columns:
        out["frl_quartile"] = out["frl_quartile"].replace({"unknown": "FRL share not known"})
    return out


st.title("School adoption")
if components.require_scope("their adoption"):
    st.stop()
scope = state.current_scope()

report = cache.adoption_report(scope)
district = report.district
if district.is_empty and not report.has_aggregate:
    st.info("No data yet. Load the sample district or upload your rosters, licenses and usage on the **Data** page; "
            "this page then shows how every school uses its tools.")
    st.stop()

# ---------------------------------------------------------------- school picker (bookmarkable)
names = dict(zip(district.schools["school_id"], district.schools["school_name"], strict=False))
options = [ALL_SCHOOLS, *sorted(names, key=lambda s: (names[s] or s))]
wanted = st.query_params.get(QUERY_PARAM)
if wanted is not None and wanted not in names:
    st.warning(f"School {components.escape(wanted)} is not among the schools you can see; showing "
               f"{ALL_SCHOOLS.lower()}.")
if SCHOOL_KEY not in st.session_state or (wanted in names and st.session_state.get("_adoption_qp") != wanted):
    # a bookmarked or edited URL wins over the last choice of this session
    st.session_state[SCHOOL_KEY] = wanted if wanted in names else ALL_SCHOOLS
    st.session_state["_adoption_qp"] = wanted
school = st.selectbox("School", options, key=SCHOOL_KEY,
                      format_func=lambda s: s if s == ALL_SCHOOLS else f"{names.get(s) or s} ({s})",
                      help="The choice is kept in the address bar (?school=…), so you can bookmark your school.")
if school == ALL_SCHOOLS:
    st.query_params.pop(QUERY_PARAM, None)
else:
    st.query_params[QUERY_PARAM] = school
st.session_state["_adoption_qp"] = None if school == ALL_SCHOOLS else school
school_id = None if school == ALL_SCHOOLS else school

with st.expander("How these numbers are computed"):
    st.markdown(f"- {components.ACTIVE_USER_RULE}\n- {components.SEAT_ALLOCATION_RULE}\n"
                "- Utilization = contract-year active users ÷ licensed students.\n"
                "- Dosage met (80/80 rule, per student): average weekly minutes over the weeks used ≥ 80% of the "
                "vendor's minutes per week, over ≥ 80% of its recommended weeks.\n"
                "- Fidelity = students who met dosage ÷ licensed students (or users, when more); a school implements "
                "with fidelity at ≥ 80%.\n"
                f"- Similar schools: same level and FRL band. {components.FRL_BAND_RULE}\n"
                "- District median, similar schools, concentration and FRL quartiles are computed on the whole "
                "district, also when you see only your schools.\n"
                f"- Groups of fewer than {SUPPRESS_MIN} students are shown as <{SUPPRESS_MIN} in the equity tables.")

tabs = st.tabs(["Schools × tools", "Trends & dosage", "Who is not using it", "Equity of access", "Devices",
                "PD → usage", "Aggregate sources"])
rows = report.schools if school_id is None else report.schools[report.schools["school_id"] == school_id]
view = cache.adoption_school_view(scope, school_id)

# ---------------------------------------------------------------- schools × tools
with tabs[0]:
    if report.schools.empty:
        st.info("No licenses or student-level usage yet. Aggregate-only sources are under **Aggregate sources**.")
    else:
        if school_id is None:
            value = st.radio("Colour by", ["utilization", "fidelity"], horizontal=True, key="adoption_heat_value",
                             format_func=str.capitalize)
            components.chart(cache.adoption_heatmap(scope, value), key="adoption_heatmap")
        else:
            cols = st.columns(3)
            cols[0].metric("Tools licensed", int((rows["licensed_students"] > 0).sum()))
            cols[1].metric("Active users (contract year)", f"{int(rows['active_users'].sum()):,}")
            fid = rows["implements_with_fidelity"].fillna(False).astype(bool).sum()
            cols[2].metric("Tools implemented with fidelity", f"{fid} of {int(rows['fidelity'].notna().sum())}")
        table = rows[["school_name", "tool_name", "licensed_students", "active_users", "utilization",
                      "district_median_utilization", "similar_median_utilization", "similar_schools",
                      "dosage_met_share", "fidelity", "implements_with_fidelity"]].copy()
        table["implements_with_fidelity"] = table["implements_with_fidelity"].map(components.yes_no)
        components.table(table, hide_index=True, key="adoption_table", column_config={
            "school_name": "School", "tool_name": "Tool",
            "licensed_students": components.count_column("Licensed students"),
            "active_users": components.count_column("Active users", help=components.ACTIVE_USER_RULE),
            "utilization": components.percent_column("Utilization", help="Active users ÷ licensed students"),
            "district_median_utilization": components.percent_column(
                "District median", help="Median utilization over every school of the district with this tool"),
            "similar_median_utilization": components.percent_column(
                "Similar schools' median", help="Median utilization of the other schools of the same level and "
                                                "FRL band"),
            "similar_schools": components.count_column("Similar schools"),
            "dosage_met_share": components.percent_column("Users meeting dosage",
                                                          help=components.DEFINITIONS["dosage_met"]),
            "fidelity": components.percent_column("Fidelity", help=components.DEFINITIONS["fidelity"]),
            "implements_with_fidelity": components.text_column("With fidelity (≥ 80%)")},
            missing={"similar_median_utilization": "no other school of the same level and FRL band has this tool",
                     "dosage_met_share": "the tool has no recommended dosage (minutes per week) in the catalog",
                     "fidelity": "the tool has no recommended dosage in the catalog",
                     "implements_with_fidelity": "the tool has no recommended dosage in the catalog",
                     "district_median_utilization": "no school has licenses for this tool",
                     "utilization": "no licensed students"})
        conc = report.concentration[report.concentration["concentrated"]]
        all_names = cache.school_names()
        for r in conc.itertuples(index=False):
            tops = ", ".join(all_names.get(s, s) for s in r.top_schools)
            tool_name = district.tools.set_index("tool_id")["tool_name"].get(r.tool_id, r.tool_id)
            st.warning(f"**{components.escape(tool_name)}** is concentrated district-wide: {r.top2_share:.0%} of its "
                       f"minutes are in {components.escape(tops)}.")

# ---------------------------------------------------------------- trends & dosage
with tabs[1]:
    components.chart(view.trend, key="adoption_trend")
    components.chart(view.dosage, key="adoption_dosage")

# ---------------------------------------------------------------- who is not using it
with tabs[2]:
    if school_id is None:
        st.info("Pick a school above to see, grade by grade, the students who have not used each tool.")
    else:
        counts = view.not_using
        if counts.empty:
            st.info("No tool is offered to this school's grades.")
        else:
            shown = counts[["tool_name", "grade_level", "eligible_students", "active_users", "not_using",
                            "not_using_share"]].copy()
            if not state.can_see_students():
                shown = components.suppress_small(shown, ["eligible_students", "active_users", "not_using"],
                                       min_n=SUPPRESS_MIN, mask_cols=["not_using_share"])
            components.table(shown, hide_index=True, key="adoption_not_using", column_config={
                "tool_name": "Tool", "grade_level": "Grade",
                "eligible_students": components.count_column("Students in the tool's grades"),
                "active_users": components.count_column("Used it"),
                "not_using": components.count_column("Not using it"),
                "not_using_share": st.column_config.ProgressColumn("Share not using", format="percent",
                                                                   min_value=0, max_value=1)},
                missing=f"hidden: fewer than {SUPPRESS_MIN} students")
            if state.can_see_students():
                with st.expander("Students who have not used a tool (for follow-up)"):
                    tool_names = district.tools.set_index("tool_id")["tool_name"]
                    names_list = cache.adoption_not_using_students(scope, school_id)
                    names_list = names_list.assign(tool_id=names_list["tool_id"].map(
                        lambda t: tool_names.get(t, t)).astype(object))  # the tool's name, under its column
                    components.table(names_list, hide_index=True, key="adoption_not_using_names",
                                     column_config={"student_id": "Student ID", "grade_level": "Grade",
                                                    "tool_id": "Tool not used"})
            else:
                st.caption("Counts only: your role does not show individual students.")

# ---------------------------------------------------------------- equity
with tabs[3]:
    if not report.has_offers:
        st.info("No licensed tools with students in their grades yet.")
    else:
        tool_names = district.tools.set_index("tool_id")["tool_name"]
        offered_tools = report.offered_tools
        pick = st.selectbox("Tool", ["All tools", *offered_tools], key="adoption_equity_tool",
                            format_func=lambda t: t if t == "All tools" else str(tool_names.get(t, t)))
        by_quartile, sub, chart = cache.adoption_equity_view(scope, None if pick == "All tools" else pick)
        components.chart(chart, key="adoption_equity_chart")
        gaps = by_quartile[by_quartile["gap"]]
        for r in gaps.itertuples(index=False):
            st.warning(f"Gap: schools in FRL quartile {components.escape(r.frl_quartile)} use it {r.gap_pts:.0f} "
                       "points less than the best quartile.")
        components.table(_equity_table(components.suppressed_equity(by_quartile, SUPPRESS_MIN)), hide_index=True,
                         key="adoption_equity_q", column_config=EQUITY_COLUMNS, missing=EQUITY_MISSING)
        if sub.empty:
            st.caption("No subgroup flags (free or reduced-price lunch, English learners, IEP) in the student file.")
        else:
            st.markdown("**By student subgroup** (gap = points by which the group's use trails the other students')")
            for r in sub[sub["gap"]].itertuples(index=False):
                st.warning(f"Gap: {components.escape(r.label)} use it {r.gap_pts:.0f} points less than other "
                           "students.")
            components.table(_equity_table(components.suppressed_equity(sub, SUPPRESS_MIN)), hide_index=True,
                             key="adoption_equity_sub", column_config=EQUITY_COLUMNS,
                             column_order=["label", "in_group", *EQUITY_FIGURES], missing=EQUITY_MISSING)

# ---------------------------------------------------------------- devices
with tabs[4]:
    cov = report.devices if school_id is None else report.devices[report.devices["school_id"] == school_id]
    if not report.has_devices:
        st.info("No device inventory loaded.")
    else:
        components.chart(view.devices, key="adoption_devices_chart")
        st.caption(f"Past refresh = bought more than {components.REFRESH_YEARS} years before {district.as_of:%Y-%m-%d}; "
                   "past AUE = no more automatic updates. Gaps: fewer than "
                   f"{components.LOW_COVERAGE} active devices per student, or more than {components.OLD_DEVICE_SHARE:.0%} old.")
        components.table(cov.assign(coverage_gap=cov["coverage_gap"].map(components.yes_no),
                                     age_gap=cov["age_gap"].map(components.yes_no)),
                         hide_index=True, key="adoption_devices_table", column_config={
                             "school_id": "School ID", "school_name": "School",
                             "students": components.count_column("Students"),
                             "devices": components.count_column("Devices"),
                             "active_devices": components.count_column("Active devices"),
                             "devices_per_student": components.decimal_column("Active devices per student",
                                                                              decimals=2),
                             "past_refresh": components.count_column(
                                 "Past refresh", help=f"Bought more than {components.REFRESH_YEARS} years ago"),
                             "past_aue": components.count_column("Past AUE",
                                                                 help="No more automatic updates"),
                             "past_refresh_or_aue_share": components.percent_column("Old (refresh or AUE)"),
                             "coverage_gap": components.text_column(
                                 "Coverage gap", help=f"Fewer than {components.LOW_COVERAGE} active devices per student"),
                             "age_gap": components.text_column(
                                 "Age gap", help=f"More than {components.OLD_DEVICE_SHARE:.0%} of devices old")},
                         missing={"devices_per_student": "no students enrolled",
                                  "past_refresh_or_aue_share": "no devices on file"})

# ---------------------------------------------------------------- PD → usage
with tabs[5]:
    change = report.pd_change if school_id is None else report.pd_change[report.pd_change["school_id"] == school_id]
    if change.empty:
        st.info("No PD session names a tool at this school.")
    else:
        tool_names = district.tools.set_index("tool_id")["tool_name"]
        labels = [f"{names.get(r.school_id, r.school_id)} · {tool_names.get(r.tool_id, r.tool_id)} · {r.pd_date:%Y-%m-%d}"
                  for r in change.itertuples(index=False)]
        choice = st.selectbox("PD session", range(len(change)), format_func=lambda i: labels[i], key="adoption_pd")
        ev = change.iloc[choice]
        row = int(report.pd_change.index.get_loc(change.index[choice]))
        components.chart(cache.adoption_pd_figure(scope, row, labels[choice]), key="adoption_pd_chart")
        cols = st.columns(3)
        no_weeks = "No usage weeks on file {} this session (the data covers {:%Y-%m-%d} to {:%Y-%m-%d})."
        first, last = report.weekly["week_start"].min(), report.weekly["week_start"].max()
        cols[0].metric("Weekly users, 6 weeks before", components.number(ev["active_before"]),
                       help=no_weeks.format("before", first, last) if pd.isna(ev["active_before"]) else
                       "Average active users per week over the 6 weeks before the session.")
        cols[1].metric("Weekly users, 6 weeks after", components.number(ev["active_after"]),
                       delta=f"{ev['change']:+,.0f}" if pd.notna(ev["change"]) else None,
                       help=no_weeks.format("after", first, last) if pd.isna(ev["active_after"]) else
                       "Average active users per week over the 6 weeks after the session.")
        ci = (f"{ev['ci_low']:+,.0f} to {ev['ci_high']:+,.0f}" if pd.notna(ev["ci_low"]) and pd.notna(ev["ci_high"])
              else components.EM_DASH)
        cols[2].metric("95% CI of the change", ci,
                       help="Welch interval over the weekly values" if ci != components.EM_DASH else
                       "Not enough weeks of usage before and after the session to compute an interval.")
        st.caption("Before/after is not proof that PD caused the change: seasons, holidays and other initiatives move "
                   "usage too. Weeks are not independent, so read the interval as a rough guide.")

# ---------------------------------------------------------------- aggregate-only sources
with tabs[6]:
    if not report.has_aggregate:
        st.info("No aggregate engagement data (e.g. a LearnPlatform export). Import one on the **Data** page.")
    else:
        agg = district.usage_aggregate
        st.caption(f"{len(agg):,} daily rows at {components.escape(report.aggregate_level)} level, "
                   f"{agg['date'].min():%Y-%m-%d} to {agg['date'].max():%Y-%m-%d}. Access = share of students with "
                   "at least one visit that day; averages are over the days each product reported.")
        components.chart(view.aggregate["top"], key="adoption_agg_top")
        components.chart(view.aggregate["trend"], key="adoption_agg_trend")
        components.chart(view.aggregate["total"], key="adoption_agg_total")
        if len(report.aggregate_shift):
            shift = report.aggregate_shift.merge(report.aggregate_top[["tool_id", "tool_name"]], on="tool_id")
            top = shift.loc[shift["change"].abs().idxmax()]  # the largest change, a rise or a drop
            st.markdown(f"Largest change after the closures: **{components.escape(top['tool_name'])}**, "
                        f"{'up' if top['change'] >= 0 else 'down'} from {components.pct(top['before'], 1)} to "
                        f"{components.pct(top['after'], 1)} of students a day (8 weeks before vs 8 weeks after).")
            components.table(shift[["tool_name", "before", "after", "change"]].assign(change=shift["change"] * 100),
                             hide_index=True, key="adoption_agg_shift",
                             column_config={
                                 "tool_name": "Product",
                                 "before": components.percent_column("Access, 8 weeks before", decimals=1),
                                 "after": components.percent_column("Access, 8 weeks after", decimals=1),
                                 "change": st.column_config.NumberColumn("Change (points)", format="%+.1f",
                                                                         help="Percentage points of students a day")},
                             missing="no days reported")
