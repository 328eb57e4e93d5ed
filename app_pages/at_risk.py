"""At-risk students: a worklist scored by the published model version, and the model's quality on a second tab."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from ui import cache, components, interventions_cache, risk_cache, state
from ui.risk_cache import charts, neutralize_frame, risk, worklists

st.title("At-risk students")
if components.require_scope("their students"):
    st.stop()
scope = state.current_scope()

if not risk_cache.has_indicators(scope):
    st.info("No early-warning data yet. Load the sample district or upload **indicators** (attendance, grades, "
            "behavior and an outcome such as `off_track_next_term`) on the **Data** page; this page then lists "
            "the students who need support, scored by the model your director publishes.")
    st.stop()

WORKLIST_COLUMNS = {
    "name": st.column_config.TextColumn("Student"),
    "student_id": st.column_config.TextColumn("Student ID"),
    "school_name": st.column_config.TextColumn("School"),
    "grade_level": st.column_config.TextColumn("Grade"),
    "band": st.column_config.TextColumn("Risk band", help=worklists.band_help()),
    "risk": components.percent_column("Estimated risk", help="Calibrated chance of the model's outcome"),
    "reason_1": st.column_config.TextColumn("Main reason"),
    "reason_2": st.column_config.TextColumn("Second reason"),
    "reason_3": st.column_config.TextColumn("Third reason"),
    "intervention": st.column_config.TextColumn("Intervention",
                                                help="Supports in progress or planned (— : none)"),
}


def _train_and_publish_default() -> None:
    """A director's first model: the district's default outcome, stored, published, then the worklist."""
    outcomes = risk_cache.known_outcomes()
    if not outcomes:
        st.warning("The indicators hold no 0/1 outcome column (such as `off_track_next_term`) to train on; "
                   "add one on the **Data** page.")
        return
    target = outcomes[0]
    if st.button(f"Train and publish a model of {worklists.outcome_phrase(target)}", key="risk_publish_default",
                 type="primary", icon=":material/model_training:",
                 help=f"Trains on the whole district's `{target}` (about half a minute), stores the signed version "
                      "and publishes it for this worklist, the board report and `risk score`."):
        try:
            with st.status("Training the model…", expanded=True) as status:
                bar = st.progress(0.0, text="starting")
                risk_cache.train_and_publish(
                    progress=lambda share, msg: bar.progress(min(max(share, 0.0), 1.0), text=msg))
                status.update(label="Model trained and published", state="complete", expanded=False)
        except risk.RiskInputError as exc:
            st.error(f"Cannot train on this outcome: {components.escape(exc)}")
            return
        st.rerun()


def show_worklist() -> None:
    if not state.can_see_students():
        st.info("Your role sees aggregates only; the worklist is shown to roles allowed to see students.")
        return
    try:
        found = interventions_cache.worklist(scope)
    except risk_cache.ModelArtifactRefused as exc:
        st.error(f"The published model version is not usable: {components.escape(exc)}. Publish another "
                 "version on the **Model quality** tab.")
        return
    except risk.RiskInputError as exc:
        st.error(f"The published model cannot score the current students: {components.escape(exc)}")
        return
    if found is None:
        st.info("**No published model yet.** The worklist lists the students a published at-risk model flags, "
                "with the reasons for each.", icon=":material/checklist:")
        if state.can(state.Action.PUBLISH_MODEL):
            _train_and_publish_default()
        else:
            st.caption("Only the director publishes a model: ask your director to train and publish one "
                       "(the **Model quality** tab shows how a model would do on your schools).")
        return

    version = found.version
    published = pd.to_datetime(version.get("published_at"), errors="coerce")
    cohort = f", students as of {found.cohort:%Y-%m-%d}" if found.cohort is not None else ""
    st.caption(f"Scored by published model version #{version['id']}: the estimated chance of "
               f"{components.escape(found.outcome)}"
               + (f", published {published:%Y-%m-%d}" if pd.notna(published) else "")
               + f"{cohort}. {components.escape(worklists.band_help(found.k))} Reasons are what-ifs (how much the "
               "risk would drop if that value were typical for the district), not causes.")
    students = found.students
    # what every rerun shows of the whole list, derived once per worklist (150,000 rows at 500,000 students)
    counts, not_served, schools, grades, topics, has_names = cache.derived(found, "facts", lambda: _facts(students))
    tiles = st.columns(len(worklists.BAND_NAMES) + 2)
    tiles[0].metric("Students scored", f"{found.scored:,}")
    for tile, band in zip(tiles[1:-1], worklists.BAND_NAMES, strict=True):
        tile.metric(band, f"{int(counts.get(band, 0)):,}")
    tiles[-1].metric("Flagged, not served", f"{not_served:,}",
                     help="High band with no intervention in progress or planned")
    if students.empty:
        st.info("No student of your schools is in a band.")
        return

    only_unserved = st.toggle(f"Flagged, not served only ({not_served:,})", key="risk_filter_unserved",
                              help="Students in the High band with no intervention in progress or planned: who "
                                   "still needs a support.")
    f1, f2, f3, f4 = st.columns(4)
    chosen_schools = f1.multiselect("School", schools, key="risk_filter_school", placeholder="All schools")
    chosen_grades = f2.multiselect("Grade", grades, key="risk_filter_grade", placeholder="All grades")
    chosen_topics = f3.multiselect("Reason", topics, key="risk_filter_reason", placeholder="Any reason",
                                   help="Students with any of these among their top three reasons")
    chosen_bands = f4.multiselect("Risk band", list(worklists.BAND_NAMES), key="risk_filter_band",
                                  placeholder="All bands")
    shown = students
    if chosen_schools:
        shown = shown[shown["school_name"].astype(str).isin(chosen_schools)]
    if chosen_grades:
        shown = shown[shown["grade_level"].astype(str).isin(chosen_grades)]
    if chosen_topics:
        wanted = set(chosen_topics)
        shown = shown[shown["reason_topics"].map(lambda ts: bool(wanted & set(ts)))]
    if chosen_bands:
        shown = shown[shown["band"].isin(chosen_bands)]
    if only_unserved:
        shown = shown[shown["flagged_not_served"]]
    columns = [*(["name"] if has_names else []), "student_id", "school_name", "grade_level", "band", "risk",
               "intervention", *worklists.REASON_COLUMNS]
    st.caption(f"{len(shown):,} of {len(students):,} students in a band" + (" (filtered)" if len(shown) < len(students)
                                                                              else "") + ", most urgent first.")
    # the whole list made displayable once (cells neutralized), then cut to the rows the filters keep
    grid, config = cache.derived(found, "grid", lambda: components.displayable(
        students[columns], {c: WORKLIST_COLUMNS[c] for c in columns}))
    components.prepared_table(grid if len(shown) == len(students) else grid.loc[shown.index], config,
                              hide_index=True, width="stretch", key="risk_list")
    if state.can(state.Action.EXPORT_STUDENTS):
        export = shown[columns].rename(columns={c: WORKLIST_COLUMNS[c]["label"] for c in columns})
        # written when the button is pressed, not on every rerun (thousands of rows)
        st.download_button("Download the list (CSV)", lambda: neutralize_frame(export).to_csv(index=False).encode(),
                           file_name="at_risk_students.csv", mime="text/csv", key="risk_download",
                           icon=":material/download:", on_click=cache.record_student_export,
                           args=("at-risk list", scope, f"{len(shown)} students, model version {version['id']}"))
    if state.can(state.Action.ASSIGN_INTERVENTION):
        labels = cache.derived(found, "labels", lambda: _student_labels(students, has_names))
        assign_form(shown, labels)
    with st.expander(f"Model card of version #{version['id']}", icon=":material/description:"):
        # markdown with column names, groups and the outcome in it: no link, image or HTML can form
        st.markdown(components.defang_markdown(found.card) if found.card else "No model card was stored.")


NEW_NAME = "Another intervention…"
ASSIGN_OPTIONS = 1_000  # students offered in the picker: the most urgent of the list as filtered


def _facts(students: pd.DataFrame) -> tuple[pd.Series, int, list[str], list[str], list[str], bool]:
    """Band counts, flagged-not-served, the filters' choices and whether names are known, of the whole list."""
    return (students["band"].value_counts(), int(students["flagged_not_served"].sum()),
            sorted(students["school_name"].dropna().astype(str).unique()),
            sorted(students["grade_level"].dropna().astype(str).unique(), key=worklists.grade_key),
            sorted({t for ts in students["reason_topics"] for t in ts}),
            bool((students["name"] != students["student_id"]).any()))


def _student_labels(shown: pd.DataFrame, has_names: bool) -> dict[str, str]:
    """Student id -> "name (id) · school · grade g · band", column-wise (the list can hold thousands)."""
    rows = pd.DataFrame(shown.to_numpy(), columns=shown.columns, dtype=object)  # what a row of iterrows holds

    def text(col: str) -> pd.Series:
        return rows[col].map(str).astype(object)  # as an f-string writes each value

    ids = text("student_id")
    who = text("name") + " (" + ids + ")" if has_names else ids
    labels = who + " · " + text("school_name") + " · grade " + text("grade_level") + " · " + text("band")
    return dict(zip(ids, labels, strict=True))


def assign_form(shown: pd.DataFrame, all_labels: dict[str, str]) -> None:
    """Assign a support to a student of the list as shown (the service checks the role and the school);
    `all_labels`: every student of the list -> its label (`_student_labels`)."""
    done = st.session_state.pop("risk_assign_done", None)
    if done:
        st.success(done, icon=":material/check_circle:")
    with st.expander("Assign an intervention", icon=":material/support:", expanded=bool(done)):
        if shown.empty:
            st.caption("No student in the list as filtered.")
            return
        ids = shown["student_id"].astype(str).head(ASSIGN_OPTIONS)
        labels = {sid: all_labels[sid] for sid in ids}
        if len(shown) > ASSIGN_OPTIONS:
            st.caption(f"The {ASSIGN_OPTIONS:,} most urgent of the {len(shown):,} students listed: filter the list "
                       "above (school, grade, reason, band) to reach the others.")
        names = interventions_cache.intervention_names()
        with st.form("risk_assign_form", clear_on_submit=False, border=False):
            student = st.selectbox("Student", list(labels), format_func=labels.get, key="risk_assign_student",
                                   help="The students of the list as filtered above, most urgent first.")
            c1, c2 = st.columns(2)
            picked = c1.selectbox("Intervention", [*names, NEW_NAME], key="risk_assign_pick",
                                  help="The interventions already in use, or another one named below.")
            new_name = c2.text_input("Other intervention name", key="risk_assign_new", max_chars=interventions_cache.MAX_NAME,
                                     placeholder="e.g. Small-group reading",
                                     help="A new intervention: used instead of the one picked on the left.")
            c3, c4, c5 = st.columns(3)
            tier = c3.selectbox("Tier", list(interventions_cache.TIERS), index=1, key="risk_assign_tier",
                                format_func=lambda t: f"Tier {t}", help="MTSS tier: 1 universal, 2 targeted, "
                                "3 intensive.")
            start = c4.date_input("Start date", value=dt.date.today(), key="risk_assign_start", format="YYYY-MM-DD")
            minutes = c5.number_input("Minutes a week", min_value=0, max_value=7 * 24 * 60, value=60, step=15,
                                      key="risk_assign_minutes")
            c6, c7 = st.columns([1, 2])
            staff = c6.text_input("Staff", key="risk_assign_staff", max_chars=64,
                                  placeholder="Staff ID or name")
            goal = c7.text_input("Goal", key="risk_assign_goal", max_chars=interventions_cache.MAX_GOAL,
                                 placeholder="e.g. 90 words correct per minute by May")
            submitted = st.form_submit_button("Assign", type="primary", icon=":material/add_task:", key="risk_assign_submit")
        if not submitted:
            return
        # a name typed in "Other intervention name" wins over the picker (what the person just wrote)
        name = new_name.strip() or (picked if picked != NEW_NAME else "")
        stored, refused = interventions_cache.assign(student, name, tier, start, minutes, staff, goal)
        if refused:
            st.error(components.escape(refused))
            return
        verb = "Updated" if stored["updated"] else "Assigned"
        st.session_state["risk_assign_done"] = (
            f"{verb}: {components.escape(stored['intervention'])} (tier {stored['tier']}) for student "
            f"{components.escape(student)} from {stored['start_date']:%Y-%m-%d}.")
        st.rerun()


def show_quality() -> None:
    if not state.can(state.Action.TRAIN_MODEL):
        st.info("Your role does not train models.")
        return
    outcomes = risk_cache.known_outcomes()
    if not outcomes:
        st.info("The indicators hold no 0/1 outcome column (such as `off_track_next_term`) to train on.")
        return
    c1, c2 = st.columns([2, 1])
    target = c1.selectbox("Outcome to predict", outcomes, key="risk_target",
                          format_func=lambda c: f"{worklists.outcome_phrase(c)} ({c})",
                          help="The district's 0/1 outcome columns from the indicators.")
    validation = c2.selectbox("Validation", ["auto", "kfold", "temporal", "group"], key="risk_validation",
                              help="auto: temporal (train on earlier as_of, test on the latest) when several cohorts "
                                   "exist, else stratified 5-fold. group: no school in both training and test.")
    columns = risk_cache.table_columns(scope)
    auto_audit = [c for c in columns if risk.is_subgroup_name(c)]
    audit = st.multiselect(
        "Also keep out of the model (audit only)",
        [c for c in columns if c not in auto_audit and not risk.is_id_name(c)], key="risk_audit",
        help="Columns used only for the fairness audit, never as inputs. Already audit-only: "
             + (components.escape(", ".join(auto_audit)) or "none") + " (race, ethnicity, gender, sex, FRL, ELL, IEP, "
             "disability, nationality, age band, deprivation index... are always audit-only).")

    already = risk_cache.is_trained(scope, target, validation, audit)
    if not (st.button("Train and check the model", key="risk_train", type="primary") or already):
        st.caption("Training takes a few seconds to a minute and runs only when you press the button; the result "
                   "is kept until the data changes. The worklist uses only the version the director publishes.")
        return
    try:
        if already:
            trained = risk_cache.get_training(scope, target, validation, audit)
        else:
            with st.status("Training the model…", expanded=True) as status:
                bar = st.progress(0.0, text="starting")
                trained = risk_cache.get_training(
                    scope, target, validation, audit,
                    progress=lambda share, msg: bar.progress(min(max(share, 0.0), 1.0), text=msg))
                status.update(label="Model trained and checked", state="complete", expanded=False)
            if scope is None and state.can(state.Action.PUBLISH_MODEL):
                # a district-wide model becomes a stored version (not used until published)
                st.session_state["risk_saved_version"] = risk_cache.save_version(trained)
    except risk.RiskInputError as exc:
        st.error(f"Cannot train on this outcome: {components.escape(exc)}")
        return

    result = trained.result
    version = st.session_state.get("risk_saved_version")
    if version and scope is None:
        published = risk_cache.published_version()
        live = f"version #{published['id']}" if published else "no version yet"
        st.caption(f"Stored as model version #{version} (metrics, data fingerprint, model card and the fitted model, "
                   f"signed). The worklist, the board report and `risk score` use the published version: {live}.")
        if (published is None or published["id"] != version) and st.button(
                f"Publish version #{version} for the worklist and the board report", key="risk_publish",
                icon=":material/publish:"):
            risk_cache.publish_version(version)
            st.rerun()
    m = result.metrics
    for warning in result.warnings:
        st.warning(f"{components.escape_code(warning['column'])} {components.escape(warning['reason'])}.")
    st.subheader("Does the model beat simple rules?")
    spread = (f"mean over {result.n_seeds} cross-validation seeds, [min, max] in brackets" if result.n_seeds > 1
              else f"latest cohort, {result.range_kind} in brackets")
    st.caption(f"{components.escape(result.validation)}; every number is out-of-sample ({spread}). Capacity k = "
               f"{m['k']:.0%} of students flagged. No-information rate {m['no_information_rate']:.1%}: the accuracy "
               "of always predicting the majority class, which any accuracy must beat.")
    rows = {"model": m, **result.baselines}
    table = pd.DataFrame([{"": risk.BASELINE_LABELS.get(name, name),
                           "ROC AUC": risk.format_with_range(r, "roc_auc"),
                           "PR AUC": risk.format_with_range(r, "pr_auc"),
                           "Brier": risk.format_with_range(r, "brier"),
                           "Accuracy": risk.format_with_range(r, "accuracy", pct=True),
                           "No-information rate": f"{m['no_information_rate']:.1%}",
                           "Precision at k": risk.format_with_range(r, "precision_at_k", pct=True),
                           "Recall at k": risk.format_with_range(r, "recall_at_k", pct=True),
                           "how": r.get("description", risk.MODEL_LABELS[result.model_kind])}
                          for name, r in rows.items()])
    components.table(table, hide_index=True, width="stretch", key="risk_metrics")
    if risk.accuracy_note(result):
        st.warning(components.escape(risk.accuracy_note(result)))
    for name, reason in result.unavailable_baselines.items():
        st.caption(f"{components.escape(risk.BASELINE_LABELS.get(name, name))}: not computed "
                   f"({components.escape(reason)}).")
    headline = risk.recommendation_headline(result)
    if result.recommended is None:
        st.info(components.escape(headline))
    elif result.recommended:
        st.success(components.escape(headline))
    else:
        st.warning(components.escape(headline) + " Prefer the simple rule until the model does better.")

    g1, g2 = st.columns(2)
    components.chart(charts.calibration_figure(result.calibration), key="risk_calibration", where=g1)
    components.chart(charts.pr_figure(result.pr_curve, m["k"], result.baselines), key="risk_pr", where=g2)

    st.subheader("Fairness audit")
    st.caption("Selection at the top k%. Ratios compare each group with the largest one; outside 0.8–1.25 is flagged. "
               f"Groups under {result.suppression_min} students are shown as <{result.suppression_min}.")
    if result.fairness.empty:
        st.info("No subgroup columns (race/ethnicity, gender, FRL, ELL, IEP, disability, age band...) to audit; "
                "mark columns as audit-only above.")
    else:
        components.table(result.fairness, hide_index=True, width="stretch", key="risk_fairness")
        flags = risk.fairness_flags(result.fairness)
        if flags:
            st.warning("Flagged disparities: " + components.escape("; ".join(flags)))

    components.chart(charts.importance_figure(result.importance), key="risk_importance")
    with st.expander("Model card of this training run"):
        st.markdown(components.defang_markdown(trained.card))


worklist_tab, quality_tab = st.tabs(["Students to support", "Model quality"])
with worklist_tab:
    show_worklist()
with quality_tab:
    show_quality()
