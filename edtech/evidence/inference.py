"""Standard errors, intervals and decision figures for one regression coefficient (methods.md section 2, v2).

Array-level least squares (numpy/scipy only, no formula fit) so that the same code serves a page, the CLI and a
coverage simulation with thousands of draws:

- `ols_cluster_inference`: OLS with cluster-robust CR2 (Bell-McCaffrey) variance and t critical values on the
  Bell-McCaffrey / Imbens-Kolesar degrees of freedom when there are enough clusters (schools); HC1 with t on the
  residual degrees of freedom when there are not. When fewer than 10 clusters are treated, the critical value
  comes from the exact distribution of the CR2 t-statistic under the same working model (default) or,
  optionally, from a wild cluster bootstrap (`wild_cluster_bootstrap_ci`).
- `decision_probabilities`: P(effect > t), P(|effect| <= t), P(effect < -t) from the same scaled t as the CI.
- `minimum_detectable_effect`, `sample_to_settle`: power figures for the evidence label.

References: Bell & McCaffrey (2002, Survey Methodology 28:169-181); Imbens & Kolesar (2016, REStat 98:701-712);
Pustejovsky & Tipton (2018, JBES 36:672-683) for CR2 with fixed effects; Roodman, MacKinnon, Nielsen & Webb (2019,
Stata Journal 19:4-60) for the G x G form of the wild cluster bootstrap; Webb (2023, CJE) for the 6-point weights;
Imhof (1961, Biometrika 48:419-426) for the distribution of a quadratic form in normal variables.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special, stats
from scipy.optimize import brentq

MIN_CLUSTERS = 10           # below this many clusters: HC1 with t on n - k df (methods v2)
FEW_TREATED_CLUSTERS = 10   # below this many treated clusters `few_treated` replaces the Bell-McCaffrey df
ALPHA = 0.05

METHOD_CR2 = "CR2"
METHOD_HC1 = "HC1"
# where the critical value (and df) come from
REFERENCE_BM = "t on Bell-McCaffrey df"
REFERENCE_EXACT = "exact CR2 t under the working model"
REFERENCE_BOOTSTRAP = "wild cluster bootstrap"
REFERENCE_RESIDUAL = "t on residual df"

# Gauss-Legendre nodes for Imhof's integral, mapped to (0, pi/2) and then u = tan(phi): 200 nodes match
# scipy.integrate.quad to < 1e-5 in probability for 1-40 chi-square terms whose weights span 8 orders of magnitude
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(200)
_GL_PHI = (_GL_NODES + 1.0) * math.pi / 4.0
_GL_DPHI = _GL_WEIGHTS * math.pi / 4.0

# Webb's 6-point weights: mean 0, variance 1, and 6^G distinct draws, so a wild bootstrap with a handful of
# clusters is not limited to the 2^G sign patterns of Rademacher weights.
_WEBB = np.array([-math.sqrt(1.5), -1.0, -math.sqrt(0.5), math.sqrt(0.5), 1.0, math.sqrt(1.5)])

_RANK_RTOL = 1e-11          # Gram eigenvalues below this share of the largest are zero (collinear dummies)
_SINGULAR_TOL = 1e-10       # eigenvalues of I - H_gg below this are zero (cluster fixed effects)


@dataclass(frozen=True)
class InferenceResult:
    """One coefficient with its standard error, degrees of freedom and two-sided interval."""

    estimate: float
    se: float
    df: float
    ci_low: float
    ci_high: float
    p_value: float
    method: str              # "CR2" (cluster-robust by cluster) or "HC1" (too few clusters)
    n: int
    n_clusters: int
    n_treated_clusters: int  # clusters where the coefficient's column is non-zero (treated students, for a 0/1 column)
    reference: str = REFERENCE_BM  # where the critical value comes from (REFERENCE_*); df always reproduces it


@dataclass(frozen=True)
class _LeastSquares:
    """What every variance estimator needs: fitted basis, the coefficient as a linear function of y, residuals."""

    basis: np.ndarray        # n x r orthonormal basis of the column space of X (hat matrix H = basis @ basis.T)
    weights: np.ndarray      # n-vector w with estimate = w @ y (w = X (X'X)^+ c)
    residuals: np.ndarray
    estimate: float
    rank: int


@dataclass(frozen=True)
class _ClusterBlocks:
    """Per-cluster CR2 pieces; all G x G or r x G, never n x n."""

    index: list[np.ndarray]  # row positions of each cluster
    adjusted: list[np.ndarray]  # a_g = A_g w_g
    basis_adjusted: np.ndarray  # r x G: column g = basis_g' a_g
    a_norm2: np.ndarray      # ||a_g||^2


def _least_squares(X: np.ndarray, y: np.ndarray, coef_index: int) -> _LeastSquares:
    # equilibrate columns (a pre-score in scale points beside 0/1 dummies) before judging the rank; the fitted
    # values and any identified coefficient do not depend on column scaling
    norms = np.linalg.norm(X, axis=0)
    if norms[coef_index] == 0:
        raise ValueError("the coefficient's column is all zero: the coefficient is not identified")
    norms[norms == 0] = 1.0
    Xs = X / norms
    # eigendecomposition of the k x k Gram matrix, not an SVD of the n x k design: LAPACK's SVD/QR of a tall
    # matrix slows 10-20x when the BLAS threads compete for a busy 2-core machine, a k x k eigh does not.
    # Dummy-coded grades and schools are often collinear (a middle school has only grades 6-8): eigenvalues below
    # _RANK_RTOL x the largest are dropped, i.e. the pseudo-inverse, which puts every identified coefficient where
    # statsmodels' pinv fit puts it.
    lam, V = np.linalg.eigh(Xs.T @ Xs)
    keep = lam > _RANK_RTOL * lam[-1]
    lam, V = lam[keep], V[:, keep]
    rank = int(keep.sum())
    contrast = np.zeros(X.shape[1])
    contrast[coef_index] = 1.0 / norms[coef_index]
    # identified only if the contrast lies in the row space of X (the column is not a combination of the others)
    row_space_part = V @ (V.T @ contrast)
    if np.linalg.norm(row_space_part - contrast) > 1e-6 * np.linalg.norm(contrast):
        raise ValueError("the coefficient is not identified: its column is collinear with the other columns")
    basis = Xs @ (V / np.sqrt(lam))
    # one re-orthonormalization (as in Cholesky-QR2) removes the cond^2 rounding of the Gram route
    mu, W = np.linalg.eigh(basis.T @ basis)
    basis = basis @ ((W / np.sqrt(mu)) @ W.T)
    weights = Xs @ (V @ ((V.T @ contrast) / lam))
    residuals = y - basis @ (basis.T @ y)
    return _LeastSquares(basis=basis, weights=weights, residuals=residuals, estimate=float(weights @ y), rank=rank)


def _cluster_blocks(fit: _LeastSquares, cluster_codes: np.ndarray, n_clusters: int) -> _ClusterBlocks:
    """a_g = A_g w_g with A_g = (I - H_gg)^(-1/2) (pseudo-inverse square root), without any n_g x n_g matrix.

    H_gg = Q_g Q_g' with Q_g the cluster's rows of the orthonormal basis. With Q_g'Q_g = W diag(s2) W' (r x r),
    I - H_gg has eigenvalue 1 - s2_j on u_j = Q_g W_j / sqrt(s2_j) and 1 elsewhere, so
    A_g = I + Q_g W diag((f_j - 1) / s2_j) W' Q_g' with f_j = (1 - s2_j)^(-1/2), or f_j = 0 where 1 - s2_j = 0
    (a cluster's own fixed effect: the pseudo-inverse). Cost O(n_g r^2) per cluster instead of O(n_g^3).
    """
    order = np.argsort(cluster_codes, kind="stable")
    bounds = np.searchsorted(cluster_codes[order], np.arange(n_clusters + 1))
    index, adjusted = [], []
    basis_adjusted = np.empty((fit.rank, n_clusters))
    a_norm2 = np.empty(n_clusters)
    for g in range(n_clusters):
        rows = order[bounds[g]:bounds[g + 1]]
        Qg = fit.basis[rows]
        s2, W = np.linalg.eigh(Qg.T @ Qg)
        s2 = np.clip(s2, 0.0, 1.0)
        lam = 1.0 - s2
        f = np.where(lam > _SINGULAR_TOL, 1.0 / np.sqrt(np.maximum(lam, _SINGULAR_TOL)), 0.0)
        coef = np.where(s2 > 1e-12, (f - 1.0) / np.maximum(s2, 1e-12), 0.0)
        wg = fit.weights[rows]
        ag = wg + Qg @ (W @ (coef * (W.T @ (Qg.T @ wg))))
        index.append(rows)
        adjusted.append(ag)
        basis_adjusted[:, g] = Qg.T @ ag
        a_norm2[g] = ag @ ag
    return _ClusterBlocks(index=index, adjusted=adjusted, basis_adjusted=basis_adjusted, a_norm2=a_norm2)


def _cr2_variance(fit: _LeastSquares, blocks: _ClusterBlocks) -> float:
    """V = sum_g (c'(X'X)^+ X_g' A_g e_g)^2 = sum_g (a_g' e_g)^2."""
    return float(sum((ag @ fit.residuals[rows]) ** 2 for rows, ag in zip(blocks.index, blocks.adjusted)))


def _working_gram(blocks: _ClusterBlocks) -> np.ndarray:
    """G'G where V = y' G G' y and column g of G = (I - H) a_g (a_g zero outside cluster g).

    G'G = diag(||a_g||^2) - B'B with B = basis' [a_1 ... a_G], because (I - H) is idempotent and the a_g have
    disjoint supports: a G x G matrix, no n x n or n x G product needed. Its eigenvalues are the weights of the
    chi-squares that make up the CR2 variance when errors are iid normal (the working model).
    """
    B = blocks.basis_adjusted
    return np.diag(blocks.a_norm2) - B.T @ B


def _bell_mccaffrey_df(gram: np.ndarray) -> float:
    """Satterthwaite df of the CR2 variance under the working model (Bell-McCaffrey; Imbens-Kolesar):
    tr(G'G)^2 / tr((G'G)^2)."""
    denominator = float(np.sum(gram * gram))
    if denominator <= 0:
        return math.nan
    return float(np.trace(gram)) ** 2 / denominator


def _chi2_mix_weights(gram: np.ndarray) -> np.ndarray:
    mu = np.clip(np.linalg.eigvalsh(gram), 0.0, None)
    mu = mu[mu > 1e-12 * mu.max()] if mu.size and mu.max() > 0 else mu[:0]
    return mu / mu.sum()


def _exact_tail(c: float, mu: np.ndarray) -> float:
    """P(|Z| > c sqrt(Q)), Z ~ N(0, 1) independent of Q = sum_j mu_j chi2_1 (sum mu = 1), by Imhof's (1961)
    formula for P(Z^2 - c^2 Q > 0), a quadratic form with eigenvalues 1 and -c^2 mu_j."""
    lam = np.concatenate([[1.0], -c * c * mu])
    scale = 1.0 / (c * math.sqrt(mu.max()))   # put the two largest |eigenvalues| near u = 1
    u = np.tan(_GL_PHI) * scale
    du = _GL_DPHI * scale / np.cos(_GL_PHI) ** 2
    lu = np.outer(u, lam)
    theta = 0.5 * np.arctan(lu).sum(axis=1)
    log_rho = 0.25 * np.log1p(lu * lu).sum(axis=1)
    tail = 0.5 + float(np.sum(np.sin(theta) * np.exp(-log_rho) / u * du)) / math.pi
    return min(1.0, max(0.0, tail))


def _exact_critical_value(mu: np.ndarray, alpha: float) -> float:
    """c with P(|t| > c) = alpha for t = Z / sqrt(Q): between the normal's and the t(1)'s critical values,
    since Q (mean 1) is at most as spread as one chi2_1."""
    low = float(special.ndtri(1.0 - alpha / 2.0))
    high = float(special.stdtrit(1, 1.0 - alpha / 2.0)) * 1.001
    if mu.size == 0:
        return math.nan
    if _exact_tail(low, mu) <= alpha:
        return low
    return float(brentq(lambda c: _exact_tail(c, mu) - alpha, low, high, xtol=1e-6))


def wild_cluster_bootstrap_ci(
    X: np.ndarray, y: np.ndarray, clusters: np.ndarray, coef_index: int, *, draws: int = 999, seed: int = 0,
    alpha: float = ALPHA, weights: Literal["webb", "rademacher"] = "webb",
) -> tuple[float, float, float, float]:
    """Symmetric percentile-t interval from the unrestricted wild cluster bootstrap (WCU) with CR2 studentization.

    Each draw multiplies every cluster's residuals by one weight v_g (Webb 6-point or Rademacher), refits and
    studentizes with the same CR2 variance: t* = (b* - b) / se*. The p-value is (1 + #{|t*| >= |b / se|}) /
    (draws + 1); the interval b -/+ q * se inverts it (q is about the (1 - alpha) quantile of |t*|), so the two
    never disagree.
    Unrestricted rather than restricted (WCR) because one set of draws gives the whole interval (WCR needs a
    test inversion over a grid of nulls).
    Fast form (Roodman et al. 2019): b* - b = s'v and the CR2 terms of a draw are K v, with s and K fixed G-vectors
    and G x G matrices, so 999 draws cost one G x G x draws product.

    Returns (ci_low, ci_high, p_value, critical_value).
    """
    X, y, codes, n_clusters = _validated(X, y, clusters, coef_index)
    fit = _least_squares(X, y, coef_index)
    blocks = _cluster_blocks(fit, codes, n_clusters)
    se = math.sqrt(_cr2_variance(fit, blocks))
    return _wild_bootstrap(fit, blocks, se, draws=draws, seed=seed, alpha=alpha, weights=weights)


def _wild_bootstrap(
    fit: _LeastSquares, blocks: _ClusterBlocks, se: float, *, draws: int, seed: int, alpha: float,
    weights: Literal["webb", "rademacher"],
) -> tuple[float, float, float, float]:
    n_clusters = len(blocks.index)
    e = fit.residuals
    # s_g = w_g' e_g: the coefficient moves by s'v when cluster g's residuals are multiplied by v_g
    shift = np.array([fit.weights[rows] @ e[rows] for rows in blocks.index])
    # K[h, g] = a_h' [(I - H) e^(g)]_h, e^(g) = cluster g's residuals padded with zeros
    own = np.array([ag @ e[rows] for rows, ag in zip(blocks.index, blocks.adjusted)])
    basis_resid = np.column_stack([fit.basis[rows].T @ e[rows] for rows in blocks.index])
    K = np.diag(own) - blocks.basis_adjusted.T @ basis_resid
    rng = np.random.default_rng(seed)
    if weights == "webb":
        v = rng.choice(_WEBB, size=(n_clusters, draws))
    elif weights == "rademacher":
        v = rng.choice(np.array([-1.0, 1.0]), size=(n_clusters, draws))
    else:
        raise ValueError(f"weights must be 'webb' or 'rademacher', not {weights!r}")
    se_star = np.sqrt(np.sum((K @ v) ** 2, axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t_star = np.abs(shift @ v) / se_star
    t_star = t_star[np.isfinite(t_star)]
    if se <= 0 or t_star.size == 0:
        return math.nan, math.nan, math.nan, math.nan
    t_obs = abs(fit.estimate) / se
    p_value = float((1 + np.sum(t_star >= t_obs)) / (1 + t_star.size))
    # the interval inverts that p-value: b0 is inside while at least k draws have |t*| >= |b - b0| / se,
    # k = ceil(alpha (draws + 1) - 1), so p < alpha exactly when 0 is outside the interval
    k = math.ceil(round(alpha * (t_star.size + 1) - 1, 9))
    critical = float(np.sort(t_star)[::-1][k - 1]) if k >= 1 else math.inf
    return fit.estimate - critical * se, fit.estimate + critical * se, p_value, critical


def _validated(X: np.ndarray, y: np.ndarray, clusters: np.ndarray, coef_index: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be n x k and y length n; got X {X.shape}, y {y.shape}")
    if not (0 <= coef_index < X.shape[1]):
        raise ValueError(f"coef_index {coef_index} is outside the {X.shape[1]} columns of X")
    if not (np.isfinite(X).all() and np.isfinite(y).all()):
        raise ValueError("X and y must be finite (drop missing rows first)")
    clusters = np.asarray(clusters)
    if clusters.shape != (X.shape[0],):
        raise ValueError("clusters must have one label per row of X")
    _, codes = np.unique(clusters, return_inverse=True)
    codes = codes.reshape(-1)
    return X, y, codes, int(codes.max()) + 1 if codes.size else 0


def _t_interval(estimate: float, se: float, df: float, alpha: float) -> tuple[float, float, float]:
    if not (se > 0 and df > 0):
        return math.nan, math.nan, math.nan
    q = float(special.stdtrit(df, 1.0 - alpha / 2.0))
    p = float(2.0 * special.stdtr(df, -abs(estimate) / se))
    return estimate - q * se, estimate + q * se, p


def _df_for_critical_value(critical: float, alpha: float) -> float:
    """The t df whose two-sided critical value equals `critical`, so decision probabilities and the MDE computed
    from (se, df) agree with a bootstrap or exact interval at the 1 - alpha level."""
    z = float(special.ndtri(1.0 - alpha / 2.0))
    if not math.isfinite(critical) or critical <= z:
        return math.inf
    return float(special.stdtridf(1.0 - alpha / 2.0, critical))


def ols_cluster_inference(
    X: np.ndarray, y: np.ndarray, clusters: np.ndarray, coef_index: int, *, min_clusters: int = MIN_CLUSTERS,
    few_treated: Literal["exact", "ibm", "bootstrap"] = "exact", alpha: float = ALPHA, draws: int = 999,
    seed: int = 0,
) -> InferenceResult:
    """OLS of y on X (include the intercept and any dummies in X) and inference on coefficient `coef_index`.

    - >= `min_clusters` clusters: CR2 (Bell-McCaffrey) cluster-robust SE, and t critical values on the
      Bell-McCaffrey / Imbens-Kolesar df for this coefficient, capped at G - 1.
    - fewer clusters: HC1 with t on n - rank(X) df.
    - when fewer than 10 clusters have a non-zero value in the coefficient's column (treated students sit in few
      schools), `few_treated` picks the critical value:
        "exact" (default): the exact distribution of the CR2 t-statistic under the same working model the
          Bell-McCaffrey df approximate (iid normal errors: t = Z / sqrt(sum_j mu_j chi2_1) with mu the
          eigenvalues of G'G), by Imhof's formula, still capped at G - 1 df;
        "ibm": the Bell-McCaffrey df as above;
        "bootstrap": `wild_cluster_bootstrap_ci` (CR2-studentized, Webb weights).
      `df` is then the t df with the same critical value, so decision probabilities and the MDE from (se, df)
      agree with the interval at the 1 - alpha level; `reference` says which rule was used.

    Why "exact" by default: with use in 2 of 10 schools the CR2 variance is nearly one chi2_1 plus a small floor
    from the other schools; Satterthwaite matches its mean and variance with a chi2 on ~1.05 df, whose left tail is
    far too heavy, so the t(1.05) interval covered 98.5-99.7% in tests/test_inference_coverage.py (methods v2
    asks 93-97%). The unrestricted wild bootstrap covered 80-85% there (two dominant clusters). The exact
    reference covered 95.0-95.2% when errors follow the working model and 94-97.5% in the heterogeneous variants
    tried (school-specific slopes push it up, school-specific effects down); with many treated schools it is
    close to BM anyway, and BM is what methods v2 names, so it is kept there.
    Collinear columns (grade and school dummies) are allowed; the coefficient itself must be identified.
    """
    if few_treated not in ("exact", "ibm", "bootstrap"):
        raise ValueError(f"few_treated must be 'exact', 'ibm' or 'bootstrap', not {few_treated!r}")
    X, y, codes, n_clusters = _validated(X, y, clusters, coef_index)
    n = X.shape[0]
    fit = _least_squares(X, y, coef_index)
    n_treated_clusters = int(np.unique(codes[X[:, coef_index] != 0]).size)
    shape = {"n": n, "n_clusters": n_clusters, "n_treated_clusters": n_treated_clusters}
    if n_clusters < min_clusters:
        df = float(n - fit.rank)
        if df <= 0:
            raise ValueError(f"no residual degrees of freedom: {n} rows, rank {fit.rank}")
        # HC1 = n / (n - k) * sum_i w_i^2 e_i^2 (statsmodels' HC1 with k = rank of X)
        se = math.sqrt(n / df * float(np.sum(fit.weights**2 * fit.residuals**2)))
        low, high, p = _t_interval(fit.estimate, se, df, alpha)
        return InferenceResult(fit.estimate, se, df, low, high, p, METHOD_HC1, reference=REFERENCE_RESIDUAL, **shape)

    blocks = _cluster_blocks(fit, codes, n_clusters)
    se = math.sqrt(_cr2_variance(fit, blocks))
    gram = _working_gram(blocks)
    df_cap = n_clusters - 1.0
    df = min(_bell_mccaffrey_df(gram), df_cap)
    few = n_treated_clusters < FEW_TREATED_CLUSTERS
    if few and few_treated == "bootstrap":
        low, high, p, critical = _wild_bootstrap(fit, blocks, se, draws=draws, seed=seed, alpha=alpha,
                                                 weights="webb")
        cap_critical = float(special.stdtrit(df_cap, 1.0 - alpha / 2.0))
        boot_df = _df_for_critical_value(critical, alpha)
        if critical < cap_critical:
            # never narrower than t on G - 1 df (methods v2 caps the df); p moves with the interval
            boot_df, critical = df_cap, cap_critical
            low, high = fit.estimate - critical * se, fit.estimate + critical * se
            p = max(p, _t_interval(fit.estimate, se, df_cap, alpha)[2])
        return InferenceResult(fit.estimate, se, boot_df, low, high, p, METHOD_CR2,
                               reference=REFERENCE_BOOTSTRAP, **shape)
    if few and few_treated == "exact" and se > 0:
        mu = _chi2_mix_weights(gram)
        critical = _exact_critical_value(mu, alpha)
        cap_critical = float(special.stdtrit(df_cap, 1.0 - alpha / 2.0))
        if math.isfinite(critical) and critical > cap_critical:
            t_obs = abs(fit.estimate) / se
            p = _exact_tail(t_obs, mu) if t_obs > 0 else 1.0
            return InferenceResult(fit.estimate, se, _df_for_critical_value(critical, alpha),
                                   fit.estimate - critical * se, fit.estimate + critical * se, p, METHOD_CR2,
                                   reference=REFERENCE_EXACT, **shape)
        # the G - 1 cap binds: fall through to t on G - 1 df
        df = df_cap
    low, high, p = _t_interval(fit.estimate, se, df, alpha)
    return InferenceResult(fit.estimate, se, df, low, high, p, METHOD_CR2, reference=REFERENCE_BM, **shape)


def decision_probabilities(estimate: float, se: float, df: float, threshold: float = 0.05) -> dict[str, float]:
    """P(effect > t), P(|effect| <= t), P(effect < -t) under a flat prior: effect ~ estimate + se * T(df).

    The same scaled t as the CI, so P(effect > lower 95% bound) = 0.975 exactly. An approximation labelled as
    such on the page, not a statement that the true effect lies anywhere with some probability from data alone.
    """
    if threshold < 0:
        raise ValueError("threshold must be >= 0")
    if not (math.isfinite(estimate) and math.isfinite(se) and se > 0 and df > 0):
        return {"p_above": math.nan, "p_within": math.nan, "p_below": math.nan}
    p_above = float(stats.t.sf((threshold - estimate) / se, df))
    p_below = float(stats.t.cdf((-threshold - estimate) / se, df))
    return {"p_above": p_above, "p_within": max(0.0, 1.0 - p_above - p_below), "p_below": p_below}


def minimum_detectable_effect(se: float, df: float, *, alpha: float = ALPHA, power: float = 0.80) -> float:
    """(t_{1-alpha/2, df} + t_{power, df}) x se: the smallest true effect a two-sided test finds with this power."""
    if not (math.isfinite(se) and se >= 0 and df > 0):
        return math.nan
    return float((stats.t.ppf(1.0 - alpha / 2.0, df) + stats.t.ppf(power, df)) * se)


def sample_to_settle(n: int, mde: float, target: float = 0.25) -> int:
    """Students needed for the MDE to reach `target`: n x (MDE / target)^2, rounded up (SE shrinks as 1/sqrt(n))."""
    if not (math.isfinite(mde) and target > 0):
        raise ValueError("mde must be finite and target positive")
    # round away float noise first: 100 x (0.5 / 0.25)^2 must be 400, not 401
    return int(math.ceil(round(n * (mde / target) ** 2, 9)))
