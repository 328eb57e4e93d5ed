"""Outcome effect of a tool on an assessment, and how strong the evidence is (methods.md v2, section 2).

Treatment = students who met dosage; comparison = students of the same grades who did not use the
tool in the contract year; below-dosage users get their own estimate. Effects are Hedges-corrected
standardized mean differences: regression coefficient / pooled within-group, within-grade SD of the post
score (WWC), the SE and CI scaled the same way.

Two estimators (adjusted regression; the same regression on a matched sample) but ONE headline, declared
before any p-value is seen: the matched estimate when matching kept >= 50% of treated students and the matched
sample is equivalent at baseline, otherwise the adjusted one. The label, the CI, the decision probabilities and
every downstream use come from the headline; the other estimate is a robustness check only.

Inference runs on arrays through `edtech.evidence.inference.ols_cluster_inference` (CR2 cluster-robust by school
with Bell-McCaffrey t critical values, an exact reference when few schools have treated students, HC1 with t
below 10 schools); matching on a penalized-logistic propensity score and the pre score (numpy/scipy). Pure:
frames in, frames out.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special
from scipy.spatial import cKDTree
from scipy.stats import norm

from edtech.evidence import inference

LABEL_MODERATE = "Moderate (Tier II-like)"
LABEL_PROMISING = "Promising (Tier III-like)"
LABEL_RATIONALE = "Rationale (Tier IV-like)"
LABEL_NONE = "No detectable effect"
LABEL_NEGATIVE = "Negative"
LABEL_INSUFFICIENT = "Insufficient data"
LABEL_INCONCLUSIVE = "Inconclusive"
LABELS = [LABEL_MODERATE, LABEL_PROMISING, LABEL_RATIONALE, LABEL_NONE, LABEL_NEGATIVE, LABEL_INSUFFICIENT,
          LABEL_INCONCLUSIVE]
# data contract v2: the stable code automation reads beside the human label
EVIDENCE_CODES = {
    LABEL_MODERATE: "moderate", LABEL_PROMISING: "promising", LABEL_RATIONALE: "rationale",
    LABEL_NONE: "no_detectable_effect", LABEL_NEGATIVE: "negative", LABEL_INSUFFICIENT: "insufficient_data",
    LABEL_INCONCLUSIVE: "inconclusive",
}
POSITIVE_CODES = ("moderate", "promising")

BASELINE_SATISFIED = "satisfied"
BASELINE_ADJUST = "satisfied with pre-score in the model"
BASELINE_NOT = "not satisfied"
BASELINE_UNKNOWN = "unknown"

METHOD_ADJUSTED = "adjusted"
METHOD_MATCHED = "matched"
ROLE_HEADLINE = "headline"
ROLE_ROBUSTNESS = "robustness"
ROLE_BELOW = "below dosage"
ROLE_GAP = "unadjusted gap"

MIN_GROUP = 30             # fewer students than this in either group -> insufficient data
MIN_MODERATE_N = 350       # students (and >= 2 schools) needed for Moderate; fewer = underpowered
POWERED_MDE = 0.25         # a study that cannot detect 0.25 SD (80% power) is underpowered
MATCH_KEEP_SHARE = 0.5     # matched estimate is the headline only when matching kept >= 50% of treated students
DECISION_THRESHOLD = 0.05  # default "moved the needle" threshold t (SD) for the decision probabilities
CLUSTER_MIN_SCHOOLS = inference.MIN_CLUSTERS   # cluster-robust SEs need enough clusters
ALPHA = 0.05
MATCH_CALIPER = 0.25       # max distance (SD units of pre score and propensity logit) for a match
SUBGROUP_COLS = ("frl", "ell", "iep")
# an intervention's sample carries the risk score students were flagged on (methods v2 section 6: comparison students
# matched on risk and pre-score): it enters the propensity model and the regression like the subgroup flags
SCORE_COLS = ("risk",)
WINDOW_ORDER = {"pre": 0, "fall": 1, "winter": 2, "spring": 3, "post": 4}
FLAT_PRIOR_NOTE = "flat-prior approximation"

FewTreated = Literal["exact", "ibm", "bootstrap"]


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


def baseline_holds(status: str) -> bool:
    """Equivalent at baseline for an estimate with the pre-score in the model (|d| <= 0.25)."""
    return status in (BASELINE_SATISFIED, BASELINE_ADJUST)


def _codes(values: pd.Series | np.ndarray) -> np.ndarray:
    """0..L-1 integer codes of labels (integer codes pass through np.unique, the fast path of the simulation)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return np.unique(arr, return_inverse=True)[1].reshape(-1)
    return pd.factorize(arr, use_na_sentinel=False)[0]


def pooled_within_grade_sd(values: pd.Series | np.ndarray, grades: pd.Series | np.ndarray,
                           groups: pd.Series | np.ndarray | None = None) -> float:
    """WWC pooled SD within grade: SD of the values minus their grade (x group, when `groups` is given) mean,
    with one degree of freedom per non-empty cell. With `groups` = treated/comparison this is methods v2's
    standardizer: the within-group SD of both groups pooled over all grades."""
    v = np.asarray(values, dtype=float)
    cells = _codes(grades) * 2 + (np.asarray(groups, dtype=float) != 0) if groups is not None else _codes(grades)
    cells = np.unique(cells, return_inverse=True)[1].reshape(-1)
    if v.size == 0:
        return math.nan
    counts = np.bincount(cells)
    means = np.bincount(cells, weights=v) / np.maximum(counts, 1)
    dof = v.size - int((counts > 0).sum())
    return math.sqrt(float(np.sum((v - means[cells]) ** 2)) / dof) if dof > 0 else math.nan


def standardized_difference(treated: pd.Series, comparison: pd.Series) -> float:
    """Hedges g of two groups of one grade (pooled SD, small-sample corrected)."""
    n1, n0 = treated.count(), comparison.count()
    if n1 < 2 or n0 < 2:
        return math.nan
    pooled = math.sqrt(((n1 - 1) * treated.var() + (n0 - 1) * comparison.var()) / (n1 + n0 - 2))
    if pooled == 0:
        return 0.0
    return hedges_correction(n1 + n0) * (treated.mean() - comparison.mean()) / pooled


def baseline_difference(pre: pd.Series | np.ndarray, treated: pd.Series | np.ndarray,
                        grades: pd.Series | np.ndarray) -> float:
    """Baseline equivalence d (methods v2): the treated-minus-comparison pre-score difference within each grade,
    averaged with the treated students' grade weights, over the pooled within-group, within-grade SD of pre (the
    effect's standardizer), Hedges-corrected. A cross-grade SD would be 2-4x larger and understate |d|."""
    pre = np.asarray(pre, dtype=float)
    t = np.asarray(treated, dtype=float) != 0
    g = _codes(grades)
    diff_sum, weight = 0.0, 0
    for level in np.unique(g):
        in_grade = g == level
        t_here, c_here = pre[in_grade & t], pre[in_grade & ~t]
        if t_here.size and c_here.size:
            diff_sum += t_here.size * (t_here.mean() - c_here.mean())
            weight += t_here.size
    sd = pooled_within_grade_sd(pre, g, t)
    if weight == 0 or not (sd > 0):
        return math.nan if weight == 0 or math.isnan(sd) else 0.0
    return hedges_correction(int(t.sum()) + int((~t).sum())) * diff_sum / weight / sd


@dataclass
class EffectEstimate:
    """One regression estimate, already in effect-size units (effect, CI and SE all scaled by omega / SD)."""

    effect: float
    ci_low: float
    ci_high: float
    p_value: float
    coef: float            # in score points
    se: float              # in score points
    coef_ci_low: float     # the same interval in score points
    coef_ci_high: float
    df: float              # t degrees of freedom that reproduce the CI's critical value
    sd_within: float
    omega: float
    n_treated: int
    n_comparison: int
    n_schools: int
    n_treated_schools: int
    cov_type: str
    reference: str         # where the critical value comes from (inference.REFERENCE_*)
    formula: str

    @property
    def se_effect(self) -> float:
        """SE in effect-size units (the scale the CI is in)."""
        scale = self.omega / self.sd_within if self.sd_within and self.sd_within > 0 else math.nan
        return self.se * scale

    @property
    def n_total(self) -> int:
        return self.n_treated + self.n_comparison

    @property
    def significant(self) -> bool:
        """The 95% interval excludes 0 (the same critical value as p; a label never disagrees with its CI)."""
        return bool(self.ci_low > 0 or self.ci_high < 0)


@dataclass(frozen=True)
class Power:
    """How much the headline estimate can tell (methods v2: MDE at 80% power, two-sided 5%)."""

    mde: float                  # SD units
    n: int                      # students in the headline analysis
    underpowered: bool          # MDE > 0.25 SD or fewer than 350 students
    sample_to_settle: int | None  # students for MDE 0.25 (and >= 350); None when adequately powered


def power_of(estimate: EffectEstimate) -> Power:
    """MDE = (t_.975,df + t_.80,df) x SE (SD units); underpowered when MDE > 0.25 SD or n < 350; the sample that
    would settle it is n x (MDE / 0.25)^2, and never fewer than 350 students."""
    mde = inference.minimum_detectable_effect(estimate.se_effect, estimate.df, alpha=ALPHA)
    n = estimate.n_total
    underpowered = not (math.isfinite(mde) and mde <= POWERED_MDE and n >= MIN_MODERATE_N)
    settle = None
    if underpowered and math.isfinite(mde):
        settle = max(MIN_MODERATE_N, inference.sample_to_settle(n, mde, POWERED_MDE))
    return Power(mde=mde, n=n, underpowered=underpowered, sample_to_settle=settle)


def decision_probabilities(estimate: EffectEstimate | None, threshold: float = DECISION_THRESHOLD
                           ) -> dict[str, float]:
    """P(effect > t), P(|effect| <= t), P(effect < -t) in SD units: flat-prior approximation from the headline's
    scaled t (the same estimate, SE and df as its CI, so they never disagree with it)."""
    if estimate is None:
        return {"p_above": math.nan, "p_within": math.nan, "p_below": math.nan}
    return inference.decision_probabilities(estimate.effect, estimate.se_effect, estimate.df, threshold)


def _method_words(method: str | None) -> str:
    return "matched comparison" if method == METHOD_MATCHED else "adjusted regression"


def evidence_label(
    *, has_pre_post: bool, n_treated: int, n_comparison: int, headline: EffectEstimate | None,
    method: str = METHOD_ADJUSTED, baseline: str = BASELINE_UNKNOWN,
) -> tuple[str, str]:
    """ESSA-aligned local label and its one-sentence reason, from the headline estimate only (methods v2 order,
    first match wins). `method`: which estimator the headline is; `baseline`: its baseline-equivalence status."""
    if not has_pre_post:
        return LABEL_INSUFFICIENT, "No pre and post scores for this assessment."
    if n_treated < MIN_GROUP or n_comparison < MIN_GROUP:
        return LABEL_INSUFFICIENT, (f"Only {n_treated} students met dosage and {n_comparison} comparison students "
                                    f"had both scores; at least {MIN_GROUP} in each group are needed.")
    if headline is None or not math.isfinite(headline.effect):
        return LABEL_INSUFFICIENT, ("The effect could not be separated from school differences: in every school "
                                    "either all or none of the students in these grades met dosage.")
    words = _method_words(method)
    n, schools = headline.n_total, headline.n_treated_schools
    ci = f"95% interval {headline.ci_low:.2f} to {headline.ci_high:.2f} SD"
    if headline.significant and headline.effect < 0:
        return LABEL_NEGATIVE, (f"Students who met dosage scored lower than comparable non-users ({words}, {ci}, "
                                "which excludes 0).")
    if headline.significant and headline.effect > 0:
        if method == METHOD_MATCHED and baseline_holds(baseline) and n >= MIN_MODERATE_N and schools >= 2:
            return LABEL_MODERATE, (f"Matched comparison of {n} students with users in {schools} schools, "
                                    f"equivalent at baseline: positive, {ci}, which excludes 0.")
        return LABEL_PROMISING, (f"Positive in the {words} of {n} students ({ci}, which excludes 0); "
                                 "a comparison of users with non-users, not a controlled trial.")
    power = power_of(headline)
    if power.underpowered:
        too_small = (f"too small to tell: with {n} students the smallest effect it could reliably detect is "
                     f"{power.mde:.2f} SD; a sample of about {power.sample_to_settle:,} students would settle it")
        if headline.effect > 0:
            return LABEL_RATIONALE, f"The estimate is positive but the {ci} includes 0 and the study is {too_small}."
        return LABEL_INCONCLUSIVE, f"The estimate is not positive, the {ci} includes 0 and the study is {too_small}."
    return LABEL_NONE, (f"With {n} students the study could detect {power.mde:.2f} SD or more, and the {ci} "
                        "includes 0.")


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
    """Subgroup flags (and a risk score, for interventions) known for every student in the sample and varying."""
    out = []
    for col in (*SUBGROUP_COLS, *SCORE_COLS):
        if col in sample.columns:
            s = sample[col]
            if s.notna().all() and s.astype(float).nunique() > 1:
                out.append(col)
    return out



# ---------------------------------------------------------------- estimators (array level)

def design_matrix(treated: np.ndarray, pre: np.ndarray, grade: np.ndarray, school: np.ndarray,
                  controls: dict[str, np.ndarray] | None = None, *, school_dummies: bool = True
                  ) -> tuple[np.ndarray, list[str]]:
    """X for post ~ treated + pre + C(grade) + C(school) (+ controls), dummy-coded with the first level dropped;
    `treated` is column 1. Grade and school dummies may be collinear (schools nested in grade spans): the
    inference module's pseudo-inverse handles that as long as the treated coefficient is identified."""
    n = len(treated)
    cols = [np.ones(n), np.asarray(treated, dtype=float), np.asarray(pre, dtype=float)]
    terms = ["treated", "pre"]
    for name, codes, wanted in (("C(grade)", grade, True), ("C(school)", school, school_dummies)):
        levels = np.unique(codes)
        if wanted and levels.size > 1:
            cols.append((np.asarray(codes)[:, None] == levels[1:]).astype(float))
            terms.append(name)
    for name, values in (controls or {}).items():
        cols.append(np.asarray(values, dtype=float))
        terms.append(name)
    return np.column_stack(cols), terms


def estimate_from_arrays(
    post: np.ndarray, treated: np.ndarray, pre: np.ndarray, grade: np.ndarray, school: np.ndarray,
    controls: dict[str, np.ndarray] | None = None, *, sd_within: float | None = None,
    few_treated: FewTreated = "exact",
) -> EffectEstimate | None:
    """The adjusted regression on arrays (the code path pages, CLI and the coverage simulation share).

    `grade`, `school`: integer codes or labels. `sd_within`: the standardizer; default the pooled within-group,
    within-grade SD of post in this sample. A matched sample passes the full sample's SD: matching narrows the
    score range, and dividing by the narrower SD would inflate the effect.
    Returns None when either group has fewer than 2 students.
    """
    post = np.asarray(post, dtype=float)
    treated = np.asarray(treated, dtype=float)
    grade_codes, school_codes = _codes(grade), _codes(school)
    n1 = int((treated == 1).sum())
    n0 = int((treated == 0).sum())
    if n1 < 2 or n0 < 2:
        return None
    X, terms = design_matrix(treated, pre, grade_codes, school_codes, controls)
    try:
        res = inference.ols_cluster_inference(X, post, school_codes, 1, few_treated=few_treated)
    except ValueError:
        # every school is all-treated or all-comparison in these grades: school dummies absorb the effect, so
        # compare across schools instead (SEs still clustered by school)
        X, terms = design_matrix(treated, pre, grade_codes, school_codes, controls, school_dummies=False)
        try:
            res = inference.ols_cluster_inference(X, post, school_codes, 1, few_treated=few_treated)
        except ValueError:
            return None
    sd_w = pooled_within_grade_sd(post, grade_codes, treated) if sd_within is None else float(sd_within)
    omega = hedges_correction(n1 + n0)
    scale = omega / sd_w if sd_w and sd_w > 0 else math.nan
    if res.method == inference.METHOD_CR2:
        cov_type = f"CR2 cluster-robust by school ({res.n_clusters} schools, {res.n_treated_clusters} with users)"
    else:
        cov_type = f"HC1 heteroskedasticity-robust (only {res.n_clusters} schools, too few to cluster)"
    return EffectEstimate(
        effect=res.estimate * scale, ci_low=res.ci_low * scale, ci_high=res.ci_high * scale,
        p_value=res.p_value, coef=res.estimate, se=res.se, coef_ci_low=res.ci_low, coef_ci_high=res.ci_high, df=res.df, sd_within=sd_w, omega=omega,
        n_treated=n1, n_comparison=n0, n_schools=res.n_clusters, n_treated_schools=res.n_treated_clusters,
        cov_type=cov_type, reference=res.reference, formula="post ~ " + " + ".join(terms))


def estimate_adjusted(sample: pd.DataFrame, sd_within: float | None = None, *,
                      few_treated: FewTreated = "exact") -> EffectEstimate | None:
    """OLS post ~ treated + pre + C(grade) + C(school) (+ frl + ell + iep) on a frame, effect in Hedges g.

    `sample` columns: post, pre, treated (0/1), grade, school, optional frl/ell/iep (used when known for everyone
    and not constant)."""
    controls = {col: sample[col].astype(float).to_numpy() for col in _controls(sample)}
    return estimate_from_arrays(
        sample["post"].to_numpy(dtype=float), sample["treated"].to_numpy(dtype=float),
        sample["pre"].to_numpy(dtype=float), sample["grade"].to_numpy(), sample["school"].to_numpy(), controls,
        sd_within=sd_within, few_treated=few_treated)


def propensity_scores(features: np.ndarray, treated: np.ndarray, C: float = 1.0, max_iter: int = 50) -> np.ndarray:
    """P(treated | features) from an L2-penalized logistic regression (intercept unpenalized): the objective of
    scikit-learn's LogisticRegression(C=C), solved by Newton's method on the k x k Hessian, which is ~30x faster
    than the general solver for a few dozen columns and matters when thousands of districts are simulated."""
    n, k = features.shape
    Z = np.column_stack([np.ones(n), features])
    y = np.asarray(treated, dtype=float)
    penalty = np.full(k + 1, 1.0 / C)
    penalty[0] = 0.0
    def objective(w: np.ndarray) -> float:
        eta = Z @ w
        # log(1 + e^eta) - y eta, computed without overflow
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(penalty * w * w))

    w = np.zeros(k + 1)
    w[0] = math.log(max(y.mean(), 1e-6) / max(1.0 - y.mean(), 1e-6))
    current = objective(w)
    for _ in range(max_iter):
        p = special.expit(Z @ w)
        grad = Z.T @ (p - y) + penalty * w
        hess = (Z * (p * (1.0 - p))[:, None]).T @ Z + np.diag(penalty)
        step = np.linalg.solve(hess + 1e-10 * np.eye(k + 1), grad)
        # damped Newton: halve the step until the (strictly convex) objective decreases
        scale = 1.0
        while scale > 1e-6 and objective(w - scale * step) > current:
            scale /= 2.0
        w = w - scale * step
        current = objective(w)
        if np.max(np.abs(scale * step)) < 1e-8:
            break
    return special.expit(Z @ w)


def match_comparison(sample: pd.DataFrame, caliper: float = MATCH_CALIPER, k: int = 25) -> pd.DataFrame:
    """1:1 nearest-neighbour matching without replacement, within grade, on the standardized pre score
    and the logit of a propensity score (logistic regression on pre, subgroup flags and school).
    Treated students without a comparison student within `caliper` are dropped."""
    y = sample["treated"].to_numpy(dtype=float).astype(int)
    if len(np.unique(y)) < 2:
        return sample.iloc[0:0]
    school = _codes(sample["school"].to_numpy())
    pre = sample["pre"].to_numpy(dtype=float)
    columns = [(school[:, None] == np.arange(1, school.max() + 1)).astype(float), pre[:, None]]
    columns += [sample[col].astype(float).to_numpy()[:, None] for col in _controls(sample)]
    features = np.hstack(columns)
    spread = features.std(axis=0)
    features = (features - features.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    prop = propensity_scores(features, y)
    logit = np.log(np.clip(prop, 1e-6, 1 - 1e-6) / np.clip(1 - prop, 1e-6, 1))
    space = np.column_stack([(pre - pre.mean()) / (pre.std() or 1.0), (logit - logit.mean()) / (logit.std() or 1.0)])
    keep: list[int] = []
    grades = _codes(sample["grade"].to_numpy())
    for grade in np.unique(grades):
        t_idx = np.flatnonzero((grades == grade) & (y == 1))
        c_idx = np.flatnonzero((grades == grade) & (y == 0))
        if len(t_idx) == 0 or len(c_idx) == 0:
            continue
        n_neighbours = min(k, len(c_idx))
        dist, nbr = cKDTree(space[c_idx]).query(space[t_idx], k=n_neighbours)
        dist, nbr = dist.reshape(len(t_idx), n_neighbours), nbr.reshape(len(t_idx), n_neighbours)
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

def choose_headline(n_treated: int, matched: EffectEstimate | None, matched_baseline: str) -> str:
    """The headline estimator, declared before any p-value is looked at (methods v2): matched when matching kept
    >= 50% of the treated students and the matched sample is equivalent at baseline, else adjusted."""
    if (matched is not None and n_treated > 0 and matched.n_treated >= MATCH_KEEP_SHARE * n_treated
            and baseline_holds(matched_baseline)):
        return METHOD_MATCHED
    return METHOD_ADJUSTED


def analyze_outcome(sample: pd.DataFrame, below: pd.DataFrame | None = None, *,
                    threshold: float = DECISION_THRESHOLD) -> dict:
    """All estimates for one tool x assessment, with the headline, its label and its decision figures.

    `sample`: treatment (treated=1, dosage met) and comparison (treated=0) students with
    post, pre, grade, school and optional subgroup flags. `below`: below-dosage users (same columns).
    `threshold`: the "moved the needle" threshold (SD) of the decision probabilities.
    """
    n1 = int((sample["treated"] == 1).sum())
    n0 = int((sample["treated"] == 0).sum())
    out: dict = {"n_treated": n1, "n_comparison": n0, "n_below": 0 if below is None else len(below)}
    treated = sample["treated"].to_numpy(dtype=float)
    post = sample["post"].to_numpy(dtype=float)
    grade = sample["grade"].to_numpy()
    sd_w = pooled_within_grade_sd(post, grade, treated) if len(sample) > 2 else math.nan
    omega = hedges_correction(n1 + n0)
    out["descriptive_gap"] = (omega * (post[treated == 1].mean() - post[treated == 0].mean()) / sd_w
                              if n1 and n0 and sd_w and sd_w > 0 else math.nan)
    out["baseline_std_diff_all"] = baseline_difference(sample["pre"], treated, grade) if n1 and n0 else math.nan
    enough = n1 >= MIN_GROUP and n0 >= MIN_GROUP
    adjusted = estimate_adjusted(sample, sd_within=sd_w) if enough else None
    matched, matched_d, kept_share = None, math.nan, math.nan
    if enough:
        matched_sample = match_comparison(sample)
        kept = int((matched_sample["treated"] == 1).sum())
        kept_share = kept / n1
        if kept >= MIN_GROUP:
            matched = estimate_adjusted(matched_sample, sd_within=sd_w)
            # judged on the analysed (matched) sample with its own within-group, within-grade SD of pre
            matched_d = baseline_difference(matched_sample["pre"], matched_sample["treated"], matched_sample["grade"])
    below_est = None
    if below is not None and len(below) >= MIN_GROUP and n0 >= MIN_GROUP:
        comparison = sample[sample["treated"] == 0]
        below_est = estimate_adjusted(pd.concat([below.assign(treated=1), comparison], ignore_index=True),
                                      sd_within=sd_w)
    method = choose_headline(n1, matched, baseline_status(matched_d))
    headline, robustness = (matched, adjusted) if method == METHOD_MATCHED else (adjusted, matched)
    base_d = matched_d if method == METHOD_MATCHED else out["baseline_std_diff_all"]
    label, reason = evidence_label(has_pre_post=True, n_treated=n1, n_comparison=n0, headline=headline,
                                   method=method, baseline=baseline_status(base_d))
    usable = label != LABEL_INSUFFICIENT and headline is not None
    power = power_of(headline) if usable else None
    out.update({
        "evidence_label": label, "evidence_code": EVIDENCE_CODES[label], "evidence_reason": reason,
        "effect_method": method if headline is not None else None,
        "robustness_method": (METHOD_ADJUSTED if method == METHOD_MATCHED else METHOD_MATCHED)
        if robustness is not None else None,
        "baseline_std_diff": base_d, "baseline_status": baseline_status(base_d),
        "matched_baseline_std_diff": matched_d, "matched_baseline_status": baseline_status(matched_d),
        "matched_kept_share": kept_share,
        "mde": power.mde if power else math.nan,
        "sample_to_settle": power.sample_to_settle if power and power.sample_to_settle is not None else math.nan,
        "decision_threshold": float(threshold),
        **decision_probabilities(headline if usable else None, threshold),
    })
    for prefix, est in (("", headline if usable else None), ("adjusted_", adjusted), ("matched_", matched),
                        ("robustness_", robustness), ("below_", below_est)):
        _put_estimate(out, prefix, est)
    out["improvement_index"] = improvement_index(out["effect_size"])
    return out


_ESTIMATE_KEYS = {
    "effect_size": "effect", "effect_ci_low": "ci_low", "effect_ci_high": "ci_high", "p_value": "p_value",
    "effect_se": "se_effect", "effect_df": "df", "coef_points": "coef", "se_points": "se",
    "coef_ci_low_points": "coef_ci_low", "coef_ci_high_points": "coef_ci_high", "sd_within": "sd_within",
    "hedges_omega": "omega", "cov_type": "cov_type", "ci_reference": "reference", "formula": "formula",
    "n_schools": "n_schools", "n_treated_schools": "n_treated_schools", "analysis_n_treated": "n_treated",
    "analysis_n_comparison": "n_comparison",
}
_TEXT_ATTRS = ("cov_type", "reference", "formula")


def _put_estimate(out: dict, prefix: str, est: EffectEstimate | None) -> None:
    for name, attr in _ESTIMATE_KEYS.items():
        missing = None if attr in _TEXT_ATTRS else math.nan
        out[prefix + name] = getattr(est, attr) if est is not None else missing


# ---------------------------------------------------------------- all tools

EFFECT_COLUMNS = [
    "tool_id", "assessment", "pre_window", "post_window", "treatment_definition", "n_treated", "n_comparison",
    "n_below", "descriptive_gap", "effect_size", "effect_ci_low", "effect_ci_high", "p_value", "effect_method",
    "baseline_std_diff", "baseline_status", "evidence_label", "evidence_code", "evidence_reason",
    "improvement_index", "mde", "sample_to_settle", "p_above", "p_within", "p_below",
]


def _insufficient_row(reason: str) -> dict:
    return {"n_treated": 0, "n_comparison": 0, "n_below": 0, "evidence_label": LABEL_INSUFFICIENT,
            "evidence_code": EVIDENCE_CODES[LABEL_INSUFFICIENT], "evidence_reason": reason}


def estimate_tool_effects(
    students: pd.DataFrame, assessments: pd.DataFrame, tools: pd.DataFrame, per_student: pd.DataFrame,
    outcome_choice: dict[str, str] | None = None, *, threshold: float = DECISION_THRESHOLD,
) -> pd.DataFrame:
    """One row per tool x outcome assessment: the headline estimate in the main columns, the other estimator as
    `robustness_*`, every estimator also under its own prefix (`adjusted_`, `matched_`, `below_`).

    `per_student`: one row per tool x user with `dosage_met` (boolean, NA when the vendor gives no dosage).
    `outcome_choice`: tool_id -> assessment name, overriding the subject match.
    `threshold`: decision-probability threshold in SD (`with_decision_threshold` recomputes them cheaply).
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
                row.update(_insufficient_row("No pre and post scores for this assessment." if pre_w is None
                                             else "Nobody used the tool in the contract year."))
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
            row.update(analyze_outcome(sample, below, threshold=threshold))
            rows.append(row)
    frame = pd.DataFrame(rows)
    for col in EFFECT_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.Series([None] * len(frame), dtype="object")
    extra = [c for c in frame.columns if c not in EFFECT_COLUMNS]
    return frame[EFFECT_COLUMNS + extra]


def with_decision_threshold(effects: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """The same rows with P(effect > t), P(|effect| <= t), P(effect < -t) for a director-set threshold t (SD),
    from each headline's effect, SE and df (no refit)."""
    out = effects.copy()
    probs = [inference.decision_probabilities(float(e), float(s), float(d), threshold)
             if pd.notna(e) and pd.notna(s) and pd.notna(d) else
             {"p_above": math.nan, "p_within": math.nan, "p_below": math.nan}
             for e, s, d in zip(pd.to_numeric(out.get("effect_size"), errors="coerce"),
                                pd.to_numeric(out.get("effect_se"), errors="coerce"),
                                pd.to_numeric(out.get("effect_df"), errors="coerce"), strict=True)]
    for key in ("p_above", "p_within", "p_below"):
        out[key] = [p[key] for p in probs]
    out["decision_threshold"] = float(threshold)
    return out


def estimate_rows(effects: pd.DataFrame) -> pd.DataFrame:
    """Long form for display: per tool x assessment one row per estimate with `effect_role` = headline (the one
    the label, CI and every downstream figure use), robustness (the other estimator, never used for the label)
    or below dosage (students who used the tool below the recommended dosage)."""
    rows = []
    for _, r in effects.iterrows():
        for role, prefix, method in ((ROLE_HEADLINE, "", r.get("effect_method")),
                                     (ROLE_ROBUSTNESS, "robustness_", r.get("robustness_method")),
                                     (ROLE_BELOW, "below_", METHOD_ADJUSTED)):
            effect = r.get(prefix + "effect_size")
            if effect is None or pd.isna(effect):
                continue
            rows.append({"tool_id": r["tool_id"], "assessment": r.get("assessment"), "effect_role": role,
                         "effect_method": method, "effect_size": effect,
                         "effect_ci_low": r.get(prefix + "effect_ci_low"),
                         "effect_ci_high": r.get(prefix + "effect_ci_high"),
                         "n_treated": r.get(prefix + "analysis_n_treated"),
                         "n_comparison": r.get(prefix + "analysis_n_comparison")})
    return pd.DataFrame(rows, columns=["tool_id", "assessment", "effect_role", "effect_method", "effect_size",
                                       "effect_ci_low", "effect_ci_high", "n_treated", "n_comparison"])


def headline_effects(effects: pd.DataFrame) -> pd.DataFrame:
    """One row per tool: the outcome with usable evidence and the most treated students."""
    if effects.empty:
        return effects
    ranked = effects.assign(
        _usable=(effects["evidence_label"] != LABEL_INSUFFICIENT).astype(int),
        _n=pd.to_numeric(effects["n_treated"], errors="coerce").fillna(0))
    ranked = ranked.sort_values(["tool_id", "_usable", "_n"], ascending=[True, False, False])
    return ranked.drop_duplicates("tool_id").drop(columns=["_usable", "_n"]).reset_index(drop=True)


# ---------------------------------------------------------------- words

def _num(row: pd.Series, key: str) -> float:
    value = row.get(key)
    try:
        return float(value) if value is not None and not pd.isna(value) else math.nan
    except (TypeError, ValueError):
        return math.nan


def probability_text(p: float) -> str:
    """A probability in words that never rounds to certainty: '> 99%' / '< 1%' at the ends."""
    if p is None or pd.isna(p):
        return "—"
    if p > 0.995:
        return "> 99%"
    if p < 0.005:
        return "< 1%"
    return f"{p:.0%}"


def decision_sentence(row: pd.Series) -> str:
    """The three decision probabilities in words, labelled as the flat-prior approximation they are."""
    above, within, below = _num(row, "p_above"), _num(row, "p_within"), _num(row, "p_below")
    if not all(math.isfinite(p) for p in (above, within, below)):
        return ""
    t = _num(row, "decision_threshold")
    t = DECISION_THRESHOLD if not math.isfinite(t) else t
    return (f"Decision probabilities ({FLAT_PRIOR_NOTE}, threshold {t:.2f} SD): effect above +{t:.2f} SD "
            f"{probability_text(above)}, within ±{t:.2f} SD {probability_text(within)}, below −{t:.2f} SD "
            f"{probability_text(below)}.")


def _df_text(df: float) -> str:
    if not math.isfinite(df):
        return "normal reference"
    return f"{df:.1f} df" if df < 100 else f"{df:,.0f} df"


def explain_effect(row: pd.Series) -> tuple[str, str]:
    """(plain words, technical detail) for one effect row, shown in the drill-down.

    Wording rules (methods v2): the comparison is of users with non-users, so nothing here claims the tool
    causes higher scores; a CI is the range of effects compatible with the data under the model, never a statement
    of where the effect probably lies; decision probabilities are labelled as a flat-prior approximation
    (tests/test_effects_wording.py greps for the forbidden phrasings)."""
    label = row.get("evidence_label")
    g = _num(row, "effect_size")
    if label == LABEL_INSUFFICIENT or not math.isfinite(g):
        return (f"Not enough data to estimate an effect on {row.get('assessment') or 'an assessment'}: "
                f"{row.get('evidence_reason')}", "No estimate.")
    lo, hi = _num(row, "effect_ci_low"), _num(row, "effect_ci_high")
    matched = row.get("effect_method") == METHOD_MATCHED
    who = ("matched comparison students (each paired with a similar non-user of the same grade)" if matched
           else "students of the same grades who did not use the tool")
    direction = "higher" if g > 0 else "lower"
    plain = (f"Students who met the recommended dosage scored {abs(g):.2f} standard deviations {direction} on "
             f"{row['assessment']} ({row.get('post_window')}) than {who}, after accounting for their "
             f"{row.get('pre_window')} score, grade and school. 95% confidence interval: {lo:.2f} to {hi:.2f} SD "
             "(the effects compatible with these data under the model). This compares users with non-users; it is "
             "not a controlled trial, so other differences between the groups may remain. "
             f"Evidence: {label}. {row.get('evidence_reason', '')}")
    decision = decision_sentence(row)
    if decision:
        plain += " " + decision
    rob = _num(row, "robustness_effect_size")
    if math.isfinite(rob):
        plain += (f" Robustness check, not used for the label: the {_method_words(row.get('robustness_method'))} "
                  f"gives {rob:.2f} SD (95% CI {_num(row, 'robustness_effect_ci_low'):.2f} to "
                  f"{_num(row, 'robustness_effect_ci_high'):.2f}).")
    method = ("a matched comparison (each user paired with a similar non-user; chosen as the headline because "
              "matching kept at least half of the users and the groups were equivalent at baseline)" if matched
              else "a regression on every user who met dosage and every non-user (the headline whenever matching "
                   "kept under half of the users or left the groups unequal at baseline)")
    n_total = int(np.nansum([_num(row, "analysis_n_treated"), _num(row, "analysis_n_comparison")]))
    settle = _num(row, "sample_to_settle")
    power = (f"Minimum detectable effect (80% power, two-sided 5%): {_num(row, 'mde'):.3f} SD"
             + (f"; about {int(settle):,} students would bring it to {POWERED_MDE} SD." if math.isfinite(settle)
                else "."))
    detail = (f"Headline estimate, declared before looking at p: {method}. Model: `{row.get('formula')}` (OLS, "
              f"{row.get('cov_type')} standard errors; critical value from the {row.get('ci_reference')}, "
              f"{_df_text(_num(row, 'effect_df'))}). Coefficient {_num(row, 'coef_points'):.2f} points "
              f"(SE {_num(row, 'se_points'):.2f}) divided by the pooled within-group, within-grade SD of the post "
              f"score ({_num(row, 'sd_within'):.2f}) and multiplied by the Hedges correction "
              f"{_num(row, 'hedges_omega'):.4f} (1 - 3/(4N - 9), N = {n_total}): g = {g:.3f}, 95% CI "
              f"[{lo:.3f}, {hi:.3f}], p = {_num(row, 'p_value'):.3g}. {power} Baseline difference in the pre score "
              f"(same within-group, within-grade SD): {_num(row, 'baseline_std_diff'):.3f} SD "
              f"({row.get('baseline_status')}). Unadjusted gap in the post score: "
              f"{_num(row, 'descriptive_gap'):.3f} SD. Improvement index: "
              f"{_num(row, 'improvement_index'):+.1f} percentile points.")
    return plain, detail
