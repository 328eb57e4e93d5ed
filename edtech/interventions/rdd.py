"""Does flagging help? A fuzzy regression discontinuity at the risk cut-off (methods.md v2 section 6), and the
school-only targeting baseline beside it (Perdomo et al.).

Design. Running variable x = risk - cutoff of the selected flag run; instrument Z = 1{x >= 0} (the flag);
treatment D = received an intervention after the flag (active on the flag date, or starting after it and before
the outcome's post window: a support that starts on day 45 still acts on the spring score, so counting only the
30-day "served" would inflate the ratio); outcome Y = the post score of an assessment standardized within grade
(minus the grade mean, over the pooled within-grade SD), adjusted for the pre score of the same assessment
(standardized the same way) as a covariate, which leaves the estimand unchanged when the pre score is balanced at
the cut-off (Calonico, Cattaneo, Farrell & Titiunik 2019) and shrinks the interval by about the pre-post correlation.

Estimator. Local linear on each side (slopes differ by side), triangular kernel weights (1 - |x|/h)+, estimated as
weighted two-stage least squares: Y on [1, D, x, Z*x, pre] with instruments [1, Z, x, Z*x, pre]. The coefficient of D
is the Wald ratio (jump in Y / jump in D) with the covariate; its standard error is the heteroskedasticity-robust
(HC1) sandwich of that IV regression, i.e. the delta-method SE of the ratio; the 95% CI uses t on n - 5 df.

Bandwidth h: Imbens & Kalyanaraman (2012, REStud 79(3)) MSE-optimal rule for the triangular kernel
(C_K = 3.4375), computed on the outcome net of the covariate (Y - g*pre, g from a global OLS of Y on pre, Z, x,
Z*x), with their pilot bandwidth 1.84 * S_x * N^(-1/5), cubic pilot for the third derivative, local quadratics for
the second derivatives and their regularization terms; the same h for the first stage and the reduced form
(Imbens & Lemieux 2008). Conventional CIs at an MSE-optimal h ignore the smoothing bias (CCT's robust bias
correction is not implemented): the interval is a little too narrow when the outcome curves near the cut-off.

Returns None (no estimate) when fewer than `MIN_SIDE` students with a positive weight sit on either side, or when
the jump in take-up is not there: its 95% interval includes 0 or it is under `MIN_JUMP`.
It estimates the effect of being served **for students near the cut-off only** (`CAVEAT`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

MIN_SIDE = 30
MIN_JUMP = 0.05
C_TRIANGULAR = 3.4375
CAVEAT = ("A regression discontinuity estimates the effect of being served for students whose risk score is near "
          "the cut-off only; it says nothing about students far above or below it.")


@dataclass(frozen=True)
class RddResult:
    effect_size: float        # SD units of the within-grade standardized post score
    ci_low: float
    ci_high: float
    se: float
    df: int
    bandwidth: float          # in risk-score units
    n: int                    # students with a positive kernel weight
    n_below: int
    n_above: int
    first_stage: float        # jump in the share served at the cut-off
    first_stage_se: float
    reduced_form: float       # jump in the outcome (SD) at the cut-off
    sd_outcome: float         # the pooled within-grade SD of the post score (points per SD)
    outcome: str | None = None
    cutoff: float | None = None
    covariate: str | None = "pre score"
    kernel: str = "triangular"
    bandwidth_rule: str = "Imbens-Kalyanaraman (2012)"
    caveat: str = CAVEAT

    @property
    def effect_points(self) -> float:
        return self.effect_size * self.sd_outcome


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    sw = np.sqrt(w)
    return np.linalg.lstsq(X * sw[:, None], y * sw, rcond=None)[0]


def ik_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """Imbens-Kalyanaraman (2012) MSE-optimal bandwidth for a sharp RD at x = 0, triangular kernel."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    n = x.size
    right = x >= 0
    h1 = 1.84 * x.std(ddof=1) * n ** (-0.2)
    near_l, near_r = (~right) & (x >= -h1), right & (x <= h1)
    if near_l.sum() < 3 or near_r.sum() < 3:
        return math.nan
    f0 = (near_l.sum() + near_r.sum()) / (2.0 * n * h1)
    var_l, var_r = y[near_l].var(ddof=1), y[near_r].var(ddof=1)
    # third derivative from a global cubic with a jump, on the data between the medians of each side
    lo, hi = np.median(x[~right]), np.median(x[right])
    mid = (x >= lo) & (x <= hi)
    X3 = np.column_stack([np.ones(mid.sum()), right[mid], x[mid], x[mid] ** 2, x[mid] ** 3])
    m3 = 6.0 * np.linalg.lstsq(X3, y[mid], rcond=None)[0][4]
    n_l, n_r = (~right).sum(), right.sum()
    h2_l = 3.56 * (var_l / (f0 * max(m3 ** 2, 0.01))) ** (1 / 7) * n_l ** (-1 / 7)
    h2_r = 3.56 * (var_r / (f0 * max(m3 ** 2, 0.01))) ** (1 / 7) * n_r ** (-1 / 7)

    def curvature(side: np.ndarray, h2: float) -> tuple[float, int]:
        sel = side & (np.abs(x) <= h2)
        if sel.sum() < 4:
            return 0.0, int(sel.sum())
        Xq = np.column_stack([np.ones(sel.sum()), x[sel], x[sel] ** 2])
        return 2.0 * np.linalg.lstsq(Xq, y[sel], rcond=None)[0][2], int(sel.sum())

    m2_l, n2_l = curvature(~right, h2_l)
    m2_r, n2_r = curvature(right, h2_r)
    r_l = 720.0 * var_l / (max(n2_l, 1) * h2_l ** 4)
    r_r = 720.0 * var_r / (max(n2_r, 1) * h2_r ** 4)
    h = C_TRIANGULAR * ((var_l + var_r) / (f0 * ((m2_r - m2_l) ** 2 + r_l + r_r))) ** 0.2 * n ** (-0.2)
    return float(h)


def _iv_hc1(X: np.ndarray, Zm: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted just-identified IV: coefficients and the HC1 sandwich covariance."""
    A = (Zm * w[:, None]).T @ X
    beta = np.linalg.solve(A, (Zm * w[:, None]).T @ y)
    u = y - X @ beta
    A_inv = np.linalg.inv(A)
    meat = (Zm * (w * u)[:, None]).T @ (Zm * (w * u)[:, None])
    n, k = X.shape
    return beta, A_inv @ meat @ A_inv.T * n / max(n - k, 1)


def fuzzy_rdd(running: np.ndarray, treated: np.ndarray, outcome: np.ndarray, covariate: np.ndarray | None = None,
              *, bandwidth: float | None = None, min_side: int = MIN_SIDE) -> RddResult | None:
    """Fuzzy (or sharp, when D = Z) RD at running = 0; outcome already in the units the effect is wanted in.
    `sd_outcome` of the result is 1 here (the caller scales)."""
    x = np.asarray(running, float)
    d = np.asarray(treated, float)
    y = np.asarray(outcome, float)
    cov = None if covariate is None else np.asarray(covariate, float)
    keep = np.isfinite(x) & np.isfinite(d) & np.isfinite(y) & (np.isfinite(cov) if cov is not None else True)
    x, d, y = x[keep], d[keep], y[keep]
    cov = cov[keep] if cov is not None else None
    z = (x >= 0).astype(float)
    if (z == 0).sum() < min_side or (z == 1).sum() < min_side:
        return None
    extra = [] if cov is None else [cov]
    if bandwidth is None:
        y_net = y
        if cov is not None:
            G = np.column_stack([np.ones_like(x), cov, z, x, z * x])
            y_net = y - np.linalg.lstsq(G, y, rcond=None)[0][1] * cov
        bandwidth = ik_bandwidth(x, y_net)
    if not (bandwidth and math.isfinite(bandwidth) and bandwidth > 0):
        return None
    w = np.clip(1.0 - np.abs(x) / bandwidth, 0.0, None)
    inside = w > 0
    n_below, n_above = int((inside & (z == 0)).sum()), int((inside & (z == 1)).sum())
    if n_below < min_side or n_above < min_side:
        return None
    x, d, y, z, w = x[inside], d[inside], y[inside], z[inside], w[inside]
    extra = [e[inside] for e in extra]
    base = [np.ones_like(x), x, z * x, *extra]
    exog = np.column_stack(base)
    # first stage: D on Z (with the same local linear terms), robust SE
    Xf = np.column_stack([base[0], z, *base[1:]])
    gamma, cov_f = _iv_hc1(Xf, Xf, d, w)
    jump, jump_se = float(gamma[1]), float(math.sqrt(max(cov_f[1, 1], 0.0)))
    df = int(x.size - Xf.shape[1])
    t975 = float(stats.t.ppf(0.975, max(df, 1)))
    if not (abs(jump) >= MIN_JUMP and (jump_se == 0 or abs(jump) > t975 * jump_se)):
        return None
    rf = float(_wls(Xf, y, w)[1])
    X = np.column_stack([base[0], d, *base[1:]])
    beta, cov_iv = _iv_hc1(X, Xf, y, w)
    se = float(math.sqrt(max(cov_iv[1, 1], 0.0)))
    tau = float(beta[1])
    del exog
    return RddResult(effect_size=tau, ci_low=tau - t975 * se, ci_high=tau + t975 * se, se=se, df=df,
                     bandwidth=float(bandwidth), n=int(x.size), n_below=n_below, n_above=n_above, first_stage=jump,
                     first_stage_se=jump_se, reduced_form=rf, sd_outcome=1.0,
                     covariate="pre score" if cov is not None else None)


# ---------------------------------------------------------------- the district's data

def _within_grade(values: pd.Series, grades: pd.Series) -> tuple[pd.Series, float]:
    """Values minus their grade mean over the pooled within-grade SD (and that SD)."""
    centred = values - values.groupby(grades).transform("mean")
    dof = values.size - grades.nunique()
    sd = float(math.sqrt((centred ** 2).sum() / dof)) if dof > 0 else math.nan
    return centred / sd if sd and sd > 0 else centred * math.nan, sd


def rdd_frame(flags: pd.DataFrame, interventions: pd.DataFrame, scores: pd.DataFrame, students: pd.DataFrame,
              post_date: pd.Timestamp | None) -> tuple[pd.DataFrame, float]:
    """Per scored student: x (risk - cutoff), D (received an intervention after the flag, before the outcome), y and
    pre standardized within grade; and the SD of the post score. `scores`: student_id, pre, post."""
    data = flags[["student_id", "flag_date", "risk", "cutoff"]].merge(scores, on="student_id", how="inner")
    data = data.merge(students[["student_id", "grade_level"]], on="student_id", how="inner").dropna(
        subset=["risk", "cutoff", "grade_level", "post"])
    pairs = data[["student_id", "flag_date"]].merge(interventions[["student_id", "start_date", "end_date"]],
                                                   on="student_id", how="inner")
    active = (pairs["start_date"] <= pairs["flag_date"]) & (pairs["end_date"].isna()
                                                           | (pairs["end_date"] >= pairs["flag_date"]))
    later = pairs["start_date"] > pairs["flag_date"]
    if post_date is not None:
        later &= pairs["start_date"] < post_date
    received = set(pairs.loc[(active | later).fillna(False).astype(bool), "student_id"])
    data["x"] = data["risk"] - data["cutoff"]
    data["d"] = data["student_id"].isin(received).astype(float)
    data["y"], sd = _within_grade(data["post"].astype(float), data["grade_level"])
    data["pre_z"] = _within_grade(data["pre"].astype(float), data["grade_level"])[0] if "pre" in data else np.nan
    return data, sd


def flag_discontinuity(flags: pd.DataFrame, interventions: pd.DataFrame, scores: pd.DataFrame,
                       students: pd.DataFrame, post_date: pd.Timestamp | None = None, outcome: str | None = None
                       ) -> RddResult | None:
    """The fuzzy RD of being served at the flag's cut-off on one assessment's post score (SD units)."""
    if flags.empty or scores.empty:
        return None
    data, sd = rdd_frame(flags, interventions, scores, students, post_date)
    if data.empty or not (sd > 0):
        return None
    covariate = data["pre_z"].to_numpy() if data["pre_z"].notna().all() else None
    res = fuzzy_rdd(data["x"].to_numpy(), data["d"].to_numpy(), data["y"].to_numpy(), covariate)
    if res is None:
        return None
    cutoffs = pd.unique(flags["cutoff"].dropna())
    return RddResult(**{**res.__dict__, "sd_outcome": sd, "outcome": outcome,
                        "cutoff": float(cutoffs[0]) if len(cutoffs) == 1 else None})


# ---------------------------------------------------------------- Perdomo et al.: school-only targeting

@dataclass(frozen=True)
class TargetingBaseline:
    """How well the risk score and school membership alone rank a later failure, at the flag run's capacity."""

    outcome: str              # what "failing" means
    n: int
    n_failing: int
    capacity: int             # students flagged (the supports the district had)
    auc_risk: float
    auc_school: float         # school's leave-one-out failure rate as the score
    captured_risk: float      # share of failing students among the top-`capacity` by risk
    captured_school: float    # the same when whole schools are picked by their (leave-one-out) rate


def _auc(score: np.ndarray, target: np.ndarray) -> float:
    ranks = pd.Series(score).rank(method="average").to_numpy()
    pos = target == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _captured(score: np.ndarray, target: np.ndarray, capacity: int) -> float:
    """Expected share of the failing students among the `capacity` highest scores (ties shared at random)."""
    if target.sum() == 0 or capacity <= 0:
        return math.nan
    order = pd.Series(score).rank(method="min", ascending=False).to_numpy()  # 1 = highest
    # per tie group, highest first: with "min" ranks, rank - 1 students score strictly higher, so the group gets
    # min(its size, capacity - (rank - 1)) of the places (none once they run out); one pass, no per-group scan
    ranks, group, sizes = np.unique(order, return_inverse=True, return_counts=True)
    hits = np.bincount(group, weights=np.asarray(target, dtype=float), minlength=ranks.size)
    taken = np.minimum(sizes, capacity - (ranks.astype(np.int64) - 1))
    keep = taken > 0
    # the groups' contributions added in rank order, as the loop it replaces did (same float rounding)
    got = np.cumsum(taken[keep] * (hits[keep] / sizes[keep]))
    return float((got[-1] if got.size else 0.0) / target.sum())


def bottom_quartile(scores: pd.DataFrame, students: pd.DataFrame) -> pd.Series:
    """student_id -> 1 when the post score is in the lowest quarter of the student's grade (the later failure the
    targeting baseline ranks), else 0."""
    data = scores[["student_id", "post"]].merge(students[["student_id", "grade_level"]], on="student_id")
    data = data.dropna(subset=["post", "grade_level"])
    cut = data.groupby("grade_level")["post"].transform(lambda s: s.quantile(0.25))
    return pd.Series((data["post"] <= cut).astype(int).to_numpy(),
                     index=pd.Index(data["student_id"].to_numpy(), name="student_id"))


def targeting_baseline(flags: pd.DataFrame, failing: pd.Series, students: pd.DataFrame, outcome: str
                       ) -> TargetingBaseline | None:
    """`failing`: student_id -> 0/1 later outcome. School-only score = the failure rate of the student's school
    among the other students (leave-one-out, so a student's own outcome never scores them)."""
    data = flags[["student_id", "risk", "flagged"]].merge(failing.rename("t").reset_index(), on="student_id")
    data = data.merge(students[["student_id", "school_id"]], on="student_id").dropna(subset=["risk", "t", "school_id"])
    if data.empty or data["t"].nunique() < 2:
        return None
    t = data["t"].astype(int).to_numpy()
    sums = data.groupby("school_id")["t"].transform("sum").to_numpy()
    sizes = data.groupby("school_id")["t"].transform("size").to_numpy()
    loo = np.where(sizes > 1, (sums - t) / np.maximum(sizes - 1, 1), np.nan)
    loo = np.where(np.isnan(loo), t.mean(), loo)
    capacity = int(data["flagged"].fillna(False).astype(bool).sum())
    risk = data["risk"].to_numpy(dtype=float)
    return TargetingBaseline(outcome=outcome, n=len(data), n_failing=int(t.sum()), capacity=capacity,
                             auc_risk=_auc(risk, t), auc_school=_auc(loo, t),
                             captured_risk=_captured(risk, t, capacity), captured_school=_captured(loo, t, capacity))
