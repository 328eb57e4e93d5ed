"""At-risk students: an early-warning model checked against simple rules, with a fairness audit and reasons."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import cache, components, risk_cache, state
from ui.risk_cache import charts, neutralize_frame, risk

st.title("At-risk students")
if components.require_scope("their students"):
    st.stop()
scope = state.current_scope()

district = cache.get_district(scope)
if district.indicators.empty:
    st.info("No early-warning data yet. Load the sample district or upload **indicators** (attendance, grades, "
            "behavior and an outcome such as `off_track_next_term`) on the **Data** page; this page then trains and "
            "checks a model that flags students who need support.")
    st.stop()

known = set(district.indicators.columns)
default_target = risk_cache.DEFAULT_TARGET if risk_cache.DEFAULT_TARGET in known else ""
c1, c2 = st.columns([2, 1])
target = c1.text_input("Outcome to predict (a 0/1 column or a comparison such as `gpa < 2`)", value=default_target,
                       key="risk_target").strip()
validation = c2.selectbox("Validation", ["auto", "kfold", "temporal", "group"], key="risk_validation",
                          help="auto: temporal (train on earlier as_of, test on the latest) when several cohorts "
                               "exist, else stratified 5-fold. group: no school in both training and test.")
if not target:
    st.info("Type the outcome column to predict.")
    st.stop()

columns = risk_cache.table_columns(scope)
auto_audit = [c for c in columns if risk.is_subgroup_name(c)]
audit = st.multiselect(
    "Also keep out of the model (audit only)", [c for c in columns if c not in auto_audit and not risk.is_id_name(c)],
    key="risk_audit",
    help="Columns used only for the fairness audit, never as inputs. Already audit-only: "
         + (components.escape(", ".join(auto_audit)) or "none") + " (race, ethnicity, gender, sex, FRL, ELL, IEP, disability, "
         "nationality, age band, deprivation index... are always audit-only).")

already = risk_cache.is_trained(scope, target, validation, audit)
if st.button("Train and check the model", key="risk_train", type="primary") or already:
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
            if scope is None:  # a district-wide model becomes a stored version (board report, `risk score`)
                st.session_state["risk_saved_version"] = risk_cache.save_version(trained)
    except risk.RiskInputError as exc:
        st.error(f"Cannot train on this outcome: {components.escape(exc)}")
        st.stop()
else:
    st.caption("Training takes a few seconds to a minute and runs only when you press the button; "
               "the result is kept until the data changes.")
    st.stop()

result = trained.result
if st.session_state.get("risk_saved_version"):
    version = st.session_state["risk_saved_version"]
    published = risk_cache.published_version()
    live = f"version #{published['id']}" if published else "no version yet"
    st.caption(f"Stored as model version #{version} (metrics, data fingerprint, model card and the fitted model, "
               f"signed). The board report and `risk score` use the published version: {live}.")
    if (published is None or published["id"] != version) and st.button(
            f"Publish version #{version} for the board report", key="risk_publish", icon=":material/publish:"):
        risk_cache.publish_version(version)
        st.rerun()
m = result.metrics
for warning in result.warnings:
    st.warning(f"{components.escape_code(warning['column'])} {components.escape(warning['reason'])}.")
st.subheader("Does the model beat simple rules?")
spread = (f"mean over {result.n_seeds} cross-validation seeds, [min, max] in brackets" if result.n_seeds > 1
          else f"latest cohort, {result.range_kind} in brackets")
st.caption(f"{components.escape(result.validation)}; every number is out-of-sample ({spread}). Capacity k = {m['k']:.0%} of students "
           f"flagged. No-information rate {m['no_information_rate']:.1%}: the accuracy of always predicting the "
           "majority class, which any accuracy must beat.")
rows = {"model": m, **result.baselines}
table = pd.DataFrame([{"": risk.BASELINE_LABELS.get(name, name),
                       "ROC AUC": risk.format_with_range(r, "roc_auc"), "PR AUC": risk.format_with_range(r, "pr_auc"),
                       "Brier": risk.format_with_range(r, "brier"),
                       "accuracy": risk.format_with_range(r, "accuracy", pct=True),
                       "no-information rate": f"{m['no_information_rate']:.1%}",
                       "precision at k": risk.format_with_range(r, "precision_at_k", pct=True),
                       "recall at k": risk.format_with_range(r, "recall_at_k", pct=True),
                       "how": r.get("description", risk.MODEL_LABELS[result.model_kind])}
                      for name, r in rows.items()])
components.table(table, hide_index=True, width="stretch", key="risk_metrics")
if risk.accuracy_note(result):
    st.warning(components.escape(risk.accuracy_note(result)))
for name, reason in result.unavailable_baselines.items():
    st.caption(f"{components.escape(risk.BASELINE_LABELS.get(name, name))}: not computed ({components.escape(reason)}).")
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

st.subheader("Students to support")
if not state.can_see_students():
    st.info("Your role sees aggregates only; the student list is shown to roles allowed to see students.")
else:
    scores = risk_cache.get_scores(scope, target, validation, audit).copy()
    schools = sorted(scores["school"].dropna().unique()) if "school" in scores.columns else []
    cap1, cap2 = st.columns([1, 2])
    default_k = cap1.slider("Capacity: share of students each school can support", 0.01, 0.5, 0.10, 0.01,
                            key="risk_k", format="%.2f")
    capacity = {}
    if schools and cap2.toggle("Set capacity per school", key="risk_per_school"):
        with cap2.container(height=220):
            for school in schools:
                capacity[school] = st.slider(components.escape(school), 0.0, 0.5, float(default_k), 0.01,
                                             key=f"risk_k_{school}", format="%.2f")
    scores["flagged"] = risk.flag_by_school(scores, capacity, default_k)
    flagged = scores[scores["flagged"]].drop(columns=["flagged"])
    st.caption(f"{len(flagged)} of {len(scores)} students flagged (latest cohort). Reasons are what-ifs: how much "
               "the risk would drop if that value were typical, not causes. The list scores the latest cohort with the "
               "model fitted on all labelled rows, so students whose outcome was used in training get in-sample "
               "risks; the quality figures above are out-of-sample.")
    components.table(flagged, hide_index=True, width="stretch", key="risk_list",
                 column_config={"risk": st.column_config.NumberColumn(format="percent")})
    if state.can(state.Action.EXPORT_STUDENTS):
        st.download_button("Download the list (CSV)", neutralize_frame(flagged).to_csv(index=False).encode(),
                           file_name="at_risk_students.csv", mime="text/csv", key="risk_download",
                           on_click=cache.record_student_export,
                           args=("at-risk list", scope, f"{len(flagged)} flagged students"))

with st.expander("Model card"):
    # markdown with column names, groups and the typed outcome in it: no link, image or HTML can form
    st.markdown(components.defang_markdown(trained.card))
