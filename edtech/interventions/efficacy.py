"""Efficacy of each intervention on a later outcome with the section-2 engine (methods.md v2 section 6).

For one intervention and one assessment (pre = its first window, post = its last: fall and spring in the sample):
- **served** (treated) = students with a row of the intervention that started before the post window's first test
  date (when dated), excluding rows that ended as `declined` or plan 0 minutes a week: those students got (almost)
  none of it and are estimated apart, like below-dosage users of a tool (section 2);
- **comparison** = students of the same grades with no intervention of any kind started before the post window
  (a student in another support is neither: their score carries that support's effect);
- both groups carry the risk score of the selected flag run (`coverage.select_flag_run`) when every one of them
  has one, so `edtech.evidence.effects.analyze_outcome` matches on the risk score and the pre-score within grade
  (the propensity model includes the risk score) and adjusts the regression for it; the headline, label, decision
  probabilities and power come from that one engine, unchanged.
Default outcome: the assessment whose subject is the intervention's subject: the subject of its `tool_id` when
given, else the first subject whose name or a synonym (math: mathematics, numeracy, algebra; ela: reading,
literacy, english, writing, phonics) appears in the intervention's name or goal text.
Cost: mean `cost_per_student` over the served rows; cost per 0.1 SD = cost per student / effect x 0.1 (only for a
positive effect), the section-3 ratio on the population the effect is estimated on.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

from edtech.evidence import effects as ef

SUBJECT_WORDS = {
    "math": ("math", "mathematics", "numeracy", "algebra", "arithmetic"),
    "ela": ("ela", "reading", "literacy", "english", "writing", "phonics", "orf"),
    "science": ("science",),
}
NOT_RECEIVED = ("declined",)
EFFICACY_COLUMNS = [
    "intervention", "assessment", "pre_window", "post_window", "served", "n_treated", "n_comparison", "n_below",
    "effect_size", "effect_ci_low", "effect_ci_high", "p_value", "effect_method", "evidence_label", "evidence_code",
    "evidence_reason", "p_above", "p_within", "p_below", "mde", "cost_per_student", "cost_per_0_1_sd",
    "tiers", "minutes_per_week",
]


def intervention_subject(name: str, goals: pd.Series, tool_subject: str | None,
                         known_subjects: list[str]) -> str | None:
    """The subject an intervention works on (see the module docstring); None when nothing says."""
    if tool_subject and str(tool_subject).strip().lower() in known_subjects:
        return str(tool_subject).strip().lower()
    text = " ".join([str(name), *[str(g) for g in goals.dropna().unique()[:20]]]).lower()
    words = set(re.findall(r"[a-z]+", text))
    for subject in known_subjects:
        synonyms = SUBJECT_WORDS.get(subject, (subject,))
        if subject in words or any(w in words for w in synonyms):
            return subject
    return None


def default_outcomes(interventions: pd.DataFrame, tools: pd.DataFrame, assessments: pd.DataFrame) -> dict[str, str]:
    """intervention -> the assessment of its subject (first by name when a subject has several)."""
    subjects = (assessments.dropna(subset=["subject"]).assign(subject=lambda a: a["subject"].astype(str).str.lower())
                .groupby("subject")["assessment"].agg(lambda s: sorted(pd.unique(s))[0]))
    tool_subject = tools.set_index("tool_id")["subject"].to_dict() if not tools.empty else {}
    out = {}
    for name, rows in interventions.groupby("intervention", sort=True):
        tool_ids = rows["tool_id"].dropna().unique()
        subject = intervention_subject(name, rows["goal"], tool_subject.get(tool_ids[0]) if len(tool_ids) else None,
                                       list(subjects.index))
        if subject is not None:
            out[name] = subjects[subject]
    return out


def _post_date(assessments: pd.DataFrame, assessment: str, post_window: str) -> pd.Timestamp | None:
    dates = assessments.loc[(assessments["assessment"] == assessment) & (assessments["window"] == post_window),
                            "test_date"].dropna()
    return pd.Timestamp(dates.min()) if len(dates) else None


def analysis_sample(name: str, assessment: str, students: pd.DataFrame, assessments: pd.DataFrame,
                    interventions: pd.DataFrame, risk: pd.Series | None = None
                    ) -> tuple[pd.DataFrame, pd.DataFrame, str | None, str | None, int]:
    """(sample with treated 0/1, below-dosage frame, pre window, post window, students served) for one
    intervention x assessment, in the columns analyze_outcome reads."""
    scores, pre_w, post_w = ef.pre_post_scores(assessments, assessment)
    rows = interventions[interventions["intervention"] == name]
    served_ids = set(rows["student_id"])
    if pre_w is None:
        return scores.iloc[0:0], scores.iloc[0:0], None, None, len(served_ids)
    post_date = _post_date(assessments, assessment, post_w)
    started = interventions if post_date is None else interventions[interventions["start_date"] < post_date]
    mine = started[started["intervention"] == name]
    not_received = (mine["exit_reason"].isin(NOT_RECEIVED).fillna(False).astype(bool)
                    | (mine["minutes_per_week"] == 0).fillna(False).astype(bool))
    treated_ids = set(mine.loc[~not_received, "student_id"])
    below_ids = set(mine.loc[not_received, "student_id"]) - treated_ids
    any_support = set(started["student_id"])
    cols = ["student_id", "school_id", "grade_level", *[c for c in ef.SUBGROUP_COLS if c in students.columns]]
    data = scores.merge(students[cols], on="student_id", how="inner")
    data = data.rename(columns={"school_id": "school", "grade_level": "grade"}).dropna(subset=["grade"])
    if risk is not None and len(risk):
        data["risk"] = data["student_id"].map(risk)
    grades = set(data.loc[data["student_id"].isin(treated_ids), "grade"])
    data = data[data["grade"].isin(grades)]
    treated = data["student_id"].isin(treated_ids)
    comparison = ~data["student_id"].isin(any_support)
    sample = pd.concat([data[treated].assign(treated=1), data[comparison].assign(treated=0)], ignore_index=True)
    if "risk" in sample.columns and sample["risk"].isna().any():
        # the risk score is used only when every student in the comparison has one (else drop it, not the students)
        sample = sample.drop(columns="risk")
    below = data[data["student_id"].isin(below_ids)].drop(columns="risk", errors="ignore")
    return sample, below, pre_w, post_w, len(served_ids)


def _cost(rows: pd.DataFrame) -> float:
    costs = pd.to_numeric(rows["cost_per_student"], errors="coerce").dropna()
    return float(costs.mean()) if len(costs) else math.nan


def intervention_effects(students: pd.DataFrame, assessments: pd.DataFrame, interventions: pd.DataFrame,
                         tools: pd.DataFrame, risk: pd.Series | None = None, outcome: str | None = None, *,
                         threshold: float = ef.DECISION_THRESHOLD) -> pd.DataFrame:
    """One row per intervention: the headline effect on `outcome` (default: its subject's assessment) with CI,
    evidence label and code, decision probabilities, cost per student and cost per 0.1 SD.

    `risk`: student_id -> risk score of the selected flag run (matched on when present)."""
    if interventions.empty:
        return pd.DataFrame(columns=EFFICACY_COLUMNS)
    defaults = default_outcomes(interventions, tools, assessments)
    rows = []
    for name, mine in interventions.groupby("intervention", sort=True):
        assessment = outcome or defaults.get(name)
        tiers = ", ".join(f"Tier {int(t)}" for t in sorted(pd.unique(mine["tier"].dropna())))
        minutes = pd.to_numeric(mine["minutes_per_week"], errors="coerce")
        row = {"intervention": name, "assessment": assessment, "served": int(mine["student_id"].nunique()),
               "cost_per_student": _cost(mine), "tiers": tiers or None,
               "minutes_per_week": float(minutes.median()) if minutes.notna().any() else math.nan}
        if assessment is None or assessment not in set(assessments["assessment"]):
            why = ("No assessment matches this intervention's subject: choose an outcome." if assessment is None
                   else f"No scores for {assessment}.")
            row.update(n_treated=0, n_comparison=0, n_below=0, evidence_label=ef.LABEL_INSUFFICIENT,
                       evidence_code=ef.EVIDENCE_CODES[ef.LABEL_INSUFFICIENT], evidence_reason=why)
            rows.append(row)
            continue
        sample, below, pre_w, post_w, _ = analysis_sample(name, assessment, students, assessments, interventions, risk)
        row.update(pre_window=pre_w, post_window=post_w)
        if pre_w is None or sample.empty or (sample["treated"] == 1).sum() == 0:
            row.update(n_treated=int((sample["treated"] == 1).sum()) if not sample.empty else 0,
                       n_comparison=int((sample["treated"] == 0).sum()) if not sample.empty else 0, n_below=len(below),
                       evidence_label=ef.LABEL_INSUFFICIENT, evidence_code=ef.EVIDENCE_CODES[ef.LABEL_INSUFFICIENT],
                       evidence_reason="No pre and post scores for this assessment." if pre_w is None
                       else "No served student has both scores.")
            rows.append(row)
            continue
        row.update(ef.analyze_outcome(sample, below if len(below) else None, threshold=threshold))
        effect = row.get("effect_size")
        row["cost_per_0_1_sd"] = (row["cost_per_student"] / effect * 0.1
                                  if effect is not None and np.isfinite(effect) and effect > 0 else math.nan)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in EFFICACY_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), dtype="object")
    return frame[EFFICACY_COLUMNS + [c for c in frame.columns if c not in EFFICACY_COLUMNS]]
