"""Interventions: who was flagged and served, what worked and what it cost, each student's progress, and whether
flagging helps. Roles that see aggregates only get suppressed counts and no student-level chart."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, components, interventions_cache, nav, state

present = interventions_cache.present
DEFAULT_OUTCOME = "Each intervention's subject test"

st.title("Interventions")
scope = components.scope_or_stop("the interventions page", "interventions")
see_students = state.can_see_students()
# exact counts for roles that see student records; everyone else gets counts under the threshold hidden
min_n = None if see_students else components.suppression_threshold()

choices = interventions_cache.outcome_choices()
outcome = st.selectbox("Outcome", [None, *choices], key="interventions_outcome",
                       format_func=lambda o: DEFAULT_OUTCOME if o is None else o,
                       help="The assessment each intervention's effect is measured on (default: the assessment of "
                            "the intervention's subject, fall to spring).")
ev = interventions_cache.evaluation(scope, outcome)

if ev.per_intervention.empty and ev.coverage["flagged"] == 0:
    st.info("**No interventions or risk flags loaded yet.** Import `interventions` (who got which support, tier, "
            "start date, minutes a week), `risk_flags` (an early-warning system's flags) and `progress_monitoring` "
            "(short probes during a support) on the **Data** page, or assign supports from the at-risk worklist; a "
            "published at-risk model writes its flags by itself.", icon=":material/support:")
    if state.can(state.Action.IMPORT):
        nav.link("app_pages/data.py", "Import on the Data page", ":material/upload_file:")
        nav.link("app_pages/at_risk.py", "Open the at-risk worklist", ":material/checklist:")
    else:
        st.caption("Ask the director's office to load the district's intervention records.")
    st.stop()

school_names = cache.school_names()
coverage_tab, efficacy_tab, progress_tab, flagging_tab = st.tabs(
    ["Coverage", "What worked", "Student progress", "Does flagging help?"])

with coverage_tab:
    st.caption(components.escape(present.coverage_sentence(ev.coverage, ev.flag_source, ev.flag_date, min_n))
               + " Served: a support active on the flag date or starting within 30 days after it.")
    counts = present.stage_counts(ev.funnel)
    tiles = st.columns(4)
    for tile, stage in zip(tiles, present.FUNNEL_STAGES, strict=True):
        share = "" if stage == "flagged" else present.share_cell(counts[stage], counts["flagged"], min_n)
        tile.metric(present.STAGE_LABELS[stage], present.count_cell(counts[stage], min_n),
                    help=None if stage == "flagged" else f"{share} of the flagged students")
    shown = {s: (present.count_cell(counts[s], min_n) if min_n and counts[s] < min_n else counts[s])
             for s in present.FUNNEL_STAGES}
    components.chart(interventions_cache.funnel_figure(shown), key="interventions_funnel")
    options = present.dimensions(ev.funnel)
    if options:
        by = st.segmented_control("Break down by", options, default=options[0], key="interventions_by",
                                  format_func=lambda d: present.DIMENSION_LABELS.get(d, d)) or options[0]
        components.table(present.funnel_display(ev.funnel, by, school_names, min_n), hide_index=True,
                         width="stretch", key="interventions_funnel_table")
        if by == "tier":
            st.caption("Tier rows: every flagged student is the base; the other columns count those served by a "
                       "support of that tier.")
    if min_n:
        st.caption(f"Counts under {min_n} students are shown as <{min_n}; a share over a hidden count is hidden "
                   "too (—).")

with efficacy_tab:
    if ev.per_intervention.empty:
        st.info("No intervention records yet: the effect of each support appears once `interventions` are imported "
                "or assigned.")
    else:
        st.caption("Served students compared with similar students not served (matched on the risk score and the "
                   "pre-test within grade), with the tool-evidence engine: effect in standard deviations with its 95% "
                   "interval, evidence label, and the chance the effect is above, within or below ±"
                   f"{components.DECISION_THRESHOLD:.2f} SD. Cost per 0.1 SD = cost per student ÷ effect × 0.1 "
                   "(positive effects only).")
        components.table(present.efficacy_table(ev.per_intervention, min_n), hide_index=True, width="stretch",
                         key="interventions_efficacy")
        if scope is not None:
            st.caption("Effects are district facts: every school's served students count, as for the tools' "
                       "evidence.")

with progress_tab:
    if not see_students:
        st.info("Your role sees aggregates only; each student's progress chart is shown to roles allowed to see "
                "students. The share on track per intervention is in **What worked**.")
    else:
        supports = interventions_cache.monitored_supports(scope)
        if supports.empty:
            st.info("No progress-monitoring probes during a support for your students: import `progress_monitoring` "
                    "on the **Data** page.")
        else:
            labels = dict(zip(supports.index, supports["label"], strict=True))
            chosen = st.selectbox("Student and support", list(labels), format_func=labels.get,
                                  key="interventions_progress_pick",
                                  help="Supports with probes during them, most recent start first.")
            row = supports.loc[chosen]
            fig = interventions_cache.progress_chart(scope, row["student_id"], row["intervention"],
                                                     pd.Timestamp(row["start_date"]).date().isoformat())
            if fig is not None:
                components.chart(fig, key="interventions_progress_chart")
            track = row["on_track"]
            verdict = ("on track to the goal" if track is True or track == 1 else "not on track to the goal"
                       if track is False or track == 0 else "on-track status unknown (no goal or too few probes)")
            slope = row["slope_during"]
            st.caption(f"{components.escape(row['measure'])}: {verdict}"
                       + (f"; trend {slope:+.1f} a week during the support" if pd.notna(slope) else "")
                       + ". On track: the trend of the probes during the support, extended to its end (or the end "
                         "of a 12-week cycle), reaches the goal.")

with flagging_tab:
    if scope is not None:
        st.caption("District-wide: the cut-off and the targeting baseline are properties of the whole flag run.")
    left, right = st.columns(2)
    with left:
        st.subheader("Effect of being served at the cut-off")
        if ev.rdd is None:
            st.info(present.rdd_sentence(None, ev.rdd_outcome))
        else:
            st.metric("Effect near the cut-off", f"{ev.rdd.effect_size:+.2f} SD",
                      help="Fuzzy regression discontinuity: local linear, triangular kernel, "
                           f"{ev.rdd.bandwidth_rule} bandwidth")
            st.caption(components.escape(present.rdd_sentence(ev.rdd, ev.rdd_outcome)))
        st.warning(interventions_cache.RDD_CAVEAT, icon=":material/info:")
    with right:
        st.subheader("School-only targeting baseline")
        st.caption(components.escape(present.targeting_sentence(ev.targeting)))
        if ev.targeting is not None:
            t = ev.targeting
            components.table(pd.DataFrame({
                "Targeting": ["Risk score", "School alone"],
                "Later low scorers reached": [components.pct(t.captured_risk), components.pct(t.captured_school)],
                "AUC": [f"{t.auc_risk:.2f}", f"{t.auc_school:.2f}"]}), hide_index=True, width="stretch",
                key="interventions_targeting")
