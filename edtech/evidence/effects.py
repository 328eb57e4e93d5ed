"""Outcome effect of a tool on an assessment, and how strong the evidence is (methods.md section 2).

Treatment = students who met dosage; comparison = students of the same grades who did not use the
tool in the contract year; below-dosage users get their own estimate. Effects are Hedges-corrected
standardized mean differences: regression coefficient / pooled within-grade SD of the post score.
Estimation uses statsmodels (OLS on a pandas dummy-coded design, cluster-robust by school with >= 10 schools) and scikit-learn
(propensity model, nearest-neighbour matching). Pure: frames in, frames out.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.stats import norm
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import NearestNeighbors

LABEL_MODERATE = "Moderate (Tier II-like)"
LABEL_PROMISING = "Promising (Tier III-like)"
LABEL_RATIONALE = "Rationale (Tier IV-like)"
LABEL_NONE = "No detectable effect"
LABEL_NEGATIVE = "Negative"
LABEL_INSUFFICIENT = "Insufficient data"
LABELS = [LABEL_MODERATE, LABEL_PROMISING, LABEL_RATIONALE, LABEL_NONE, LABEL_NEGATIVE, LABEL_INSUFFICIENT]

BASELINE_SATISFIED = "satisfied"
BASELINE_ADJUST = "satisfied with pre-score in the model"
BASELINE_NOT = "not satisfied"
BASELINE_UNKNOWN = "unknown"

MIN_GROUP = 30             # fewer students than this in either group -> insufficient data
MIN_MODERATE_N = 350       # students (and >= 2 schools) needed for the Moderate label
CLUSTER_MIN_SCHOOLS = 10   # cluster-robust SEs need enough clusters
ALPHA = 0.05
MATCH_CALIPER = 0.25       # max distance (SD units of pre score and propensity logit) for a match
SUBGROUP_COLS = ("frl", "ell", "iep")
WINDOW_ORDER = {"pre": 0, "fall": 1, "winter": 2, "spring": 3, "post": 4}


# ---------------------------------------------------------------- small formulas (unit-tested)

def hedges_correction(n_total: int) -> float:
    """Small-sample correction omega = 1 - 3 / (4N - 9) (WWC handbook)."""
    if n_total <= 2:
        return math.nan
    return 1.0 - 3.0 / (4.0 * n_total - 9.0)


def improvement_index(g: float) -> float:
    """Expected percentile-point change for an average comparison student: Phi(g) x 100 - 50."""
    return math.nan if g is None or pd.isna(g) else float(norm.cdf(g) * 100.0 - 50.0)


def baseline_status(std_diff: float) -> str:
    """WWC baseline equivalence from the standardized pre-score difference."""
    if std_diff is None or pd.isna(std_diff):
        return BASELINE_UNKNOWN
    d = abs(float(std_diff))
    if d <= 0.05:
        return BASELINE_SATISFIED
    if d <= 0.25:
        return BASELINE_ADJUST
    return BASELINE_NOT


def pooled_within_grade_sd(values: pd.Series, grades: pd.Series) -> float:
    """SD of the values minus their grade mean, with one degree of freedom per grade."""
    resid = values - values.groupby(grades).transform("mean")
    dof = len(values) - grades.nunique()
    return math.sqrt(float((resid**2).sum()) / dof) if dof > 0 else math.nan


def standardized_difference(treated: pd.Series, comparison: pd.Series) -> float:
    """Hedges g of two groups (pooled SD, small-sample corrected)."""
    n1, n0 = treated.count(), comparison.count()
    if n1 < 2 or n0 < 2:
        return math.nan
    pooled = math.sqrt(((n1 - 1) * treated.var() + (n0 - 1) * comparison.var()) / (n1 + n0 - 2))
    if pooled == 0:
        return 0.0
    return hedges_correction(n1 + n0) * (treated.mean() - comparison.mean()) / pooled


@dataclass
class EffectEstimate:
    """One regression estimate, already in effect-size units."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    coef: float            # in score points
    se: float              # in score points
    sd_within: float
    omega: float
    n_treated: int
    n_comparison: int
    n_schools: int
    cov_type: str
    formula: str

    @property
    def significant(self) -> bool:
        return bool(self.p_value < ALPHA)


def evidence_label(
    *, has_pre_post: bool, n_treated: int, n_comparison: int, adjusted: EffectEstimate | None,
    matched: EffectEstimate | None = None, matched_baseline: str = BASELINE_UNKNOWN,
) -> tuple[str, str]:
    """ESSA-aligned local label and the one-sentence reason (methods.md section 2)."""
    if not has_pre_post:
        return LABEL_INSUFFICIENT, "No pre and post scores for this assessment."
    if n_treated < MIN_GROUP or n_comparison < MIN_GROUP or adjusted is None:
        return LABEL_INSUFFICIENT, (f"Only {n_treated} students met dosage and {n_comparison} comparison students "
                                    f"had both scores; at least {MIN_GROUP} in each group are needed.")
    n_total = adjusted.n_treated + adjusted.n_comparison
    if adjusted.significant and adjusted.effect < 0:
        return LABEL_NEGATIVE, "Students who met dosage scored significantly lower than similar non-users."
    if matched is not None:
        n_matched = matched.n_treated + matched.n_comparison
        if (matched.significant and matched.effect > 0
                and matched_baseline in (BASELINE_SATISFIED, BASELINE_ADJUST)
                and n_matched >= MIN_MODERATE_N and matched.n_schools >= 2):
            return LABEL_MODERATE, (f"Matched comparison of {n_matched} students in {matched.n_schools} schools, "
                                    "equivalent at baseline, shows a positive significant effect.")
    if adjusted.significant and adjusted.effect > 0:
        return LABEL_PROMISING, "Regression with prior score and controls shows a positive significant effect."
    if adjusted.effect > 0:
        return LABEL_RATIONALE, "The estimate is positive but not statistically significant; keep studying."
    if n_total < MIN_MODERATE_N:
        return LABEL_RATIONALE, f"Only {n_total} students in the analysis; too few to rule an effect in or out."
    return LABEL_NONE, f"The 95% interval includes zero with {n_total} students in the analysis."


# ---------------------------------------------------------------- windows and samples

def order_windows(scores: pd.DataFrame) -> list[str]:
    """Windows of one assessment in time order: by median test_date when every window has dates,
    else pre < fall < winter < spring < post within a year (a leading year like `2025-fall` first)."""
    windows = list(pd.unique(scores["window"].dropna()))
    dates = scores.groupby("window")["test_date"].median()
    if len(windows) and dates.reindex(windows).notna().all():
        return sorted(windows, key=lambda w: dates[w])

    def key(w: str) -> tuple[int, int, str]:
        text = str(w).lower()
        year = re.search(r"(19|20)\d{2}", text)
        season = next((rank for name, rank in WINDOW_ORDER.items() if name in text), 9)
        return (int(year.group(0)) if year else 0, season, text)
    return sorted(windows, key=key)


def pre_post_scores(assessments: pd.DataFrame, assessment: str) -> tuple[pd.DataFrame, str | None, str | None]:
    """Per student: pre (first window) and post (last window) score of one assessment."""
    scores = assessments[assessments["assessment"] == assessment]
    windows = order_windows(scores)
    if len(windows) < 2:
        return pd.DataFrame(columns=["student_id", "pre", "post"]), None, None
    pre_w, post_w = windows[0], windows[-1]
    pre = scores[scores["window"] == pre_w].groupby("student_id")["score"].mean().rename("pre")
    post = scores[scores["window"] == post_w].groupby("student_id")["score"].mean().rename("post")
    both = pd.concat([pre, post], axis=1, join="inner").dropna().reset_index()
    both = both.rename(columns={both.columns[0]: "student_id"})
    return both, pre_w, post_w


def tool_assessments(tool_subject: str | None, assessments: pd.DataFrame) -> list[str]:
    """Assessments whose subject matches the tool's subject (case-insensitive)."""
    if tool_subject is None or pd.isna(tool_subject) or assessments.empty:
        return []
    subj = str(tool_subject).strip().lower()
    a = assessments.dropna(subset=["subject"])
    names = a.loc[a["subject"].astype(str).str.strip().str.lower() == subj, "assessment"]
    return sorted(pd.unique(names.dropna()).tolist())


def _controls(sample: pd.DataFrame) -> list[str]:
    """Subgroup flags known for every student in the sample and with some variation."""
    out = []
    for col in SUBGROUP_COLS:
        if col in sample.columns:
            s = sample[col]
            if s.notna().all() and s.astype(float).nunique() > 1:
                out.append(col)
    return out


# ---------------------------------------------------------------- estimators

def estimate_adjusted(sample: pd.DataFrame, sd_within: float | None = None) -> EffectEstimate | None:
    """OLS post ~ treated + pre + C(grade) + C(school) (+ frl + ell + iep), effect in Hedges g.

    `sample` columns: post, pre, treated (0/1), grade, school, optional frl/ell/iep.
    `sd_within`: the standardizer; default the pooled within-grade SD of post in `sample`. A matched
    sample passes the full sample's SD: matching narrows the score range, and dividing by the
    narrower SD would inflate the effect.
    """
    n1 = int((sample["treated"] == 1).sum())
    n0 = int((sample["treated"] == 0).sum())
    if n1 < 2 or n0 < 2:
        return None
    grade = sample["grade"].astype(str).to_numpy(dtype=object)
    school = sample["school"].astype(str).to_numpy(dtype=object)
    post = sample["post"].astype(float).to_numpy()
    # the same model as the formula below, with the design matrix built by pandas (dummy coding, first
    # level dropped): patsy sniffs every categorical value one by one, 10x slower at 50,000 students
    design = pd.DataFrame({"Intercept": 1.0, "treated": sample["treated"].astype(float).to_numpy(),
                           "pre": sample["pre"].astype(float).to_numpy()})
    terms = ["treated", "pre"]
    parts = [design]
    if len(set(grade)) > 1:
        terms.append("C(grade)")
        parts.append(pd.get_dummies(pd.Series(grade, name="grade"), prefix="grade", drop_first=True, dtype=float))
    school_codes, school_levels = pd.factorize(school)
    n_schools = len(school_levels)
    if n_schools > 1:
        terms.append("C(school)")
        parts.append(pd.get_dummies(pd.Series(school, name="school"), prefix="school", drop_first=True, dtype=float))
    for col in _controls(sample):
        parts.append(pd.DataFrame({col: sample[col].astype(float).to_numpy()}))
        terms.append(col)
    exog = pd.concat(parts, axis=1)
    formula = "post ~ " + " + ".join(terms)
    # pinv (statsmodels' default), not QR: schools are nested in grade spans (a middle school has only
    # grades 6-8), so grade and school dummies are collinear; the treated coefficient stays identified
    model = sm.OLS(post, exog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_schools >= CLUSTER_MIN_SCHOOLS:
            fit = model.fit(cov_type="cluster", cov_kwds={"groups": school_codes})
            cov_type = f"cluster-robust by school ({n_schools} schools)"
        else:
            fit = model.fit(cov_type="HC1")
            cov_type = "heteroskedasticity-robust (HC1)"
    coef, se = float(fit.params["treated"]), float(fit.bse["treated"])
    low, high = (float(v) for v in fit.conf_int(alpha=ALPHA).loc["treated"])
    sd_w = pooled_within_grade_sd(pd.Series(post), pd.Series(grade)) if sd_within is None else sd_within
    omega = hedges_correction(n1 + n0)
    scale = omega / sd_w if sd_w and sd_w > 0 else math.nan
    return EffectEstimate(
        effect=coef * scale, ci_low=low * scale, ci_high=high * scale, p_value=float(fit.pvalues["treated"]),
        coef=coef, se=se, sd_within=sd_w, omega=omega, n_treated=n1, n_comparison=n0,
        n_schools=n_schools, cov_type=cov_type, formula=formula)


def match_comparison(sample: pd.DataFrame, caliper: float = MATCH_CALIPER, k: int = 25) -> pd.DataFrame:
    """1:1 nearest-neighbour matching without replacement, within grade, on the standardized pre score
    and the logit of a propensity score (logistic regression on pre, subgroup flags and school).
    Treated students without a comparison student within `caliper` are dropped."""
    features = pd.get_dummies(sample[["school"]].astype(str), drop_first=True, dtype=float)
    features["pre"] = sample["pre"].astype(float)
    for col in _controls(sample):
        features[col] = sample[col].astype(float)
    X = (features - features.mean()) / features.std(ddof=0).replace(0, 1)
    y = sample["treated"].astype(int).to_numpy()
    if len(np.unique(y)) < 2:
        return sample.iloc[0:0]
    prop = LogisticRegression(max_iter=1000).fit(X.to_numpy(), y).predict_proba(X.to_numpy())[:, 1]
    logit = np.log(np.clip(prop, 1e-6, 1 - 1e-6) / np.clip(1 - prop, 1e-6, 1))
    pre = sample["pre"].astype(float).to_numpy()
    space = np.column_stack([(pre - pre.mean()) / (pre.std() or 1.0), (logit - logit.mean()) / (logit.std() or 1.0)])
    keep: list[int] = []
    grades = sample["grade"].astype(str).to_numpy()
    for grade in np.unique(grades):
        t_idx = np.flatnonzero((grades == grade) & (y == 1))
        c_idx = np.flatnonzero((grades == grade) & (y == 0))
        if len(t_idx) == 0 or len(c_idx) == 0:
            continue
        nn = NearestNeighbors(n_neighbors=min(k, len(c_idx))).fit(space[c_idx])
        dist, nbr = nn.kneighbors(space[t_idx])
        used = np.zeros(len(c_idx), dtype=bool)
        # hardest-to-match (highest propensity) first, the usual greedy order
        for row in np.argsort(-prop[t_idx], kind="stable"):
            for d, j in zip(dist[row], nbr[row], strict=True):
                if d > caliper:
                    break
                if not used[j]:
                    used[j] = True
                    keep.extend([t_idx[row], c_idx[j]])
                    break
    return sample.iloc[sorted(keep)]


# ---------------------------------------------------------------- one tool x assessment

def analyze_outcome(sample: pd.DataFrame, below: pd.DataFrame | None = None) -> dict:
    """All estimates for one tool x assessment.

    `sample`: treatment (treated=1, dosage met) and comparison (treated=0) students with
    post, pre, grade, school and optional subgroup flags. `below`: below-dosage users (same columns).
    """
    n1 = int((sample["treated"] == 1).sum())
    n0 = int((sample["treated"] == 0).sum())
    out: dict = {"n_treated": n1, "n_comparison": n0, "n_below": 0 if below is None else len(below)}
    t, c = sample[sample["treated"] == 1], sample[sample["treated"] == 0]
    sd_w = pooled_within_grade_sd(sample["post"].astype(float), sample["grade"].astype(str)) if len(sample) > 2 \
        else math.nan
    omega = hedges_correction(n1 + n0)
    out["descriptive_gap"] = (omega * (t["post"].mean() - c["post"].mean()) / sd_w
                              if n1 and n0 and sd_w and sd_w > 0 else math.nan)
    out["baseline_std_diff_all"] = standardized_difference(t["pre"], c["pre"])
    enough = n1 >= MIN_GROUP and n0 >= MIN_GROUP
    adjusted = estimate_adjusted(sample) if enough else None
    matched, matched_d, matched_sample = None, math.nan, None
    if enough:
        matched_sample = match_comparison(sample)
        if (matched_sample["treated"] == 1).sum() >= MIN_GROUP:
            matched = estimate_adjusted(matched_sample, sd_within=sd_w)
            mt = matched_sample[matched_sample["treated"] == 1]["pre"]
            mc = matched_sample[matched_sample["treated"] == 0]["pre"]
            matched_d = standardized_difference(mt, mc)
    below_est = None
    if below is not None and len(below) >= MIN_GROUP and n0 >= MIN_GROUP:
        below_est = estimate_adjusted(pd.concat([below.assign(treated=1), c], ignore_index=True), sd_within=sd_w)
    label, reason = evidence_label(has_pre_post=True, n_treated=n1, n_comparison=n0, adjusted=adjusted,
                                   matched=matched, matched_baseline=baseline_status(matched_d))
    headline, method, base_d = adjusted, "adjusted", out["baseline_std_diff_all"]
    if label == LABEL_MODERATE:
        headline, method, base_d = matched, "matched", matched_d
    out.update({
        "evidence_label": label, "evidence_reason": reason, "effect_method": method if headline else None,
        "baseline_std_diff": base_d, "baseline_status": baseline_status(base_d),
        "matched_baseline_std_diff": matched_d, "matched_baseline_status": baseline_status(matched_d),
    })
    for prefix, est in (("", headline), ("adjusted_", adjusted), ("matched_", matched), ("below_", below_est)):
        _put_estimate(out, prefix, est)
    out["improvement_index"] = improvement_index(out["effect_size"])
    return out


def _put_estimate(out: dict, prefix: str, est: EffectEstimate | None) -> None:
    keys = {"effect_size": "effect", "effect_ci_low": "ci_low", "effect_ci_high": "ci_high", "p_value": "p_value",
            "coef_points": "coef", "se_points": "se", "sd_within": "sd_within", "hedges_omega": "omega",
            "cov_type": "cov_type", "formula": "formula", "n_schools": "n_schools",
            "analysis_n_treated": "n_treated", "analysis_n_comparison": "n_comparison"}
    values = asdict(est) if est is not None else {}
    for name, attr in keys.items():
        out[prefix + name] = values.get(attr, math.nan if attr not in ("cov_type", "formula") else None)


# ---------------------------------------------------------------- all tools

EFFECT_COLUMNS = [
    "tool_id", "assessment", "pre_window", "post_window", "treatment_definition", "n_treated", "n_comparison",
    "n_below", "descriptive_gap", "effect_size", "effect_ci_low", "effect_ci_high", "p_value", "effect_method",
    "baseline_std_diff", "baseline_status", "evidence_label", "evidence_reason", "improvement_index",
]


def estimate_tool_effects(
    students: pd.DataFrame, assessments: pd.DataFrame, tools: pd.DataFrame, per_student: pd.DataFrame,
    outcome_choice: dict[str, str] | None = None,
) -> pd.DataFrame:
    """One row per tool x outcome assessment.

    `per_student`: one row per tool x user with `dosage_met` (boolean, NA when the vendor gives no dosage).
    `outcome_choice`: tool_id -> assessment name, overriding the subject match.
    """
    rows: list[dict] = []
    outcome_choice = outcome_choice or {}
    stud = students.set_index("student_id")
    base_cols = ["school_id", "grade_level", *[c for c in SUBGROUP_COLS if c in stud.columns]]
    scores_cache: dict[str, tuple[pd.DataFrame, str | None, str | None]] = {}
    for _, tool in tools.iterrows():
        tool_id = tool["tool_id"]
        chosen = outcome_choice.get(tool_id)
        names = [chosen] if chosen else tool_assessments(tool.get("subject"), assessments)
        users = per_student[per_student["tool_id"] == tool_id]
        for name in names:
            if name not in scores_cache:
                scores_cache[name] = pre_post_scores(assessments, name)
            scores, pre_w, post_w = scores_cache[name]
            row = {"tool_id": tool_id, "assessment": name, "pre_window": pre_w, "post_window": post_w}
            if pre_w is None or users.empty:
                label = LABEL_INSUFFICIENT
                row.update({"n_treated": 0, "n_comparison": 0, "n_below": 0, "evidence_label": label,
                            "evidence_reason": "No pre and post scores for this assessment." if pre_w is None
                            else "Nobody used the tool in the contract year."})
                rows.append(row)
                continue
            dosage_known = users["dosage_met"].notna().any()
            met = users["dosage_met"].fillna(False).astype(bool) if dosage_known else pd.Series(True, index=users.index)
            row["treatment_definition"] = ("met dosage (80/80 rule)" if dosage_known
                                           else "every user (the vendor gives no dosage)")
            data = scores.merge(stud[base_cols], left_on="student_id", right_index=True, how="inner")
            data = data.rename(columns={"school_id": "school", "grade_level": "grade"}).dropna(subset=["grade"])
            user_ids = set(users["student_id"])
            treated_ids = set(users.loc[met.to_numpy(), "student_id"])
            grades = set(stud.loc[stud.index.intersection(list(user_ids)), "grade_level"].dropna())
            data = data[data["grade"].isin(grades)]
            is_user = data["student_id"].isin(user_ids)
            is_treated = data["student_id"].isin(treated_ids)
            sample = pd.concat([data[is_treated].assign(treated=1), data[~is_user].assign(treated=0)],
                               ignore_index=True)
            below = data[is_user & ~is_treated]
            row.update(analyze_outcome(sample, below))
            rows.append(row)
    frame = pd.DataFrame(rows)
    for col in EFFECT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), dtype="object")
    extra = [c for c in frame.columns if c not in EFFECT_COLUMNS]
    return frame[EFFECT_COLUMNS + extra]


def headline_effects(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per tool: the outcome with usable evidence and the most treated students."""
    if effects.empty:
        return effects
    ranked = effects.assign(
        _usable=(effects["evidence_label"] != LABEL_INSUFFICIENT).astype(int),
        _n=pd.to_numeric(effects["n_treated"], errors="coerce").fillna(0))
    ranked = ranked.sort_values(["tool_id", "_usable", "_n"], ascending=[True, False, False])
    return ranked.drop_duplicates("tool_id").drop(columns=["_usable", "_n"]).reset_index(drop=True)


def explain_effect(row: pd.Series) -> tuple[str, str]:
    """(plain words, technical detail) for one effect row, shown in the drill-down."""
    label = row.get("evidence_label")
    if label == LABEL_INSUFFICIENT or pd.isna(row.get("effect_size")):
        return (f"Not enough data to estimate an effect on {row.get('assessment') or 'an assessment'}: "
                f"{row.get('evidence_reason')}", "No estimate.")
    g, lo, hi = row["effect_size"], row["effect_ci_low"], row["effect_ci_high"]
    direction = "higher" if g > 0 else "lower"
    plain = (f"Students who met the recommended dosage scored {abs(g):.2f} standard deviations {direction} on "
             f"{row['assessment']} ({row['post_window']}) than similar students of the same grades who did not use "
             f"the tool, after accounting for their {row['pre_window']} score, grade and school. The true effect is "
             f"likely between {lo:.2f} and {hi:.2f} SD. Evidence: {label}. {row.get('evidence_reason', '')}")
    method = "a matched comparison (each user paired with a similar non-user)" if row.get("effect_method") == "matched" \
        else "a regression on every user who met dosage and every non-user"
    detail = (f"Estimate from {method}. Model: `{row.get('formula')}` (OLS, {row.get('cov_type')} standard errors). "
              f"Coefficient {row.get('coef_points', math.nan):.2f} points (SE {row.get('se_points', math.nan):.2f}) "
              f"divided by the pooled within-grade SD of the post score ({row.get('sd_within', math.nan):.2f}) and "
              f"multiplied by the Hedges correction {row.get('hedges_omega', math.nan):.4f} (1 - 3/(4N - 9), "
              f"N = {int(row.get('analysis_n_treated', 0) or 0) + int(row.get('analysis_n_comparison', 0) or 0)}): "
              f"g = {g:.3f}, 95% CI [{lo:.3f}, {hi:.3f}], p = {row.get('p_value', math.nan):.3g}. "
              f"Baseline difference in the pre score: {row.get('baseline_std_diff', math.nan):.3f} SD "
              f"({row.get('baseline_status')}). Unadjusted gap in the post score: "
              f"{row.get('descriptive_gap', math.nan):.3f} SD. Improvement index: "
              f"{row.get('improvement_index', math.nan):+.1f} percentile points.")
    return plain, detail
