"""Coverage of the 95% interval and the false-positive rate of the evidence label on simulated small districts
(methods.md section 2 v2; issue 11, finding 1 and "Done when" bullet 1).

Each draw is one district: 10 (or 12-20) schools of 40-80 students, three grades, a pre-score, school random
intercepts, school-specific residual SDs, pre-score slopes and treatment effects (so scores really are correlated
within a school beyond what the school dummies absorb). Treatment either (a) spreads over every school with a
probability rising with the pre-score, or (b) sits in 2 of 10 schools, where some students use the tool and the
others are comparison students (with school fixed effects, the effect is identified only from those 2 schools).

Everything runs through the product's effect code with frames and arrays in memory (no import, no formula fit):
- coverage: `edtech.evidence.effects.estimate_from_arrays`, the adjusted regression post ~ treated + pre + grade
  dummies + school dummies that builds the design matrix and calls `edtech.evidence.inference`;
- the label: `edtech.evidence.effects.analyze_outcome` on a frame (matching, the pre-declared headline, the v2
  label), counting how often a tool with no effect gets a "significant" label (Moderate, Promising or Negative).

Run with `pytest -m slow tests/test_inference_coverage.py -s` to see the measured table.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats
from threadpoolctl import threadpool_limits

from edtech.evidence import effects as ef
from edtech.evidence import inference as inf

pytestmark = pytest.mark.slow

DRAWS = 1_000          # per design (issue 11: >= 1,000)
TRUE_EFFECT = 0.2      # ~0.2 SD of post within treatment group
Z975 = float(stats.norm.ppf(0.975))
SIGNIFICANT_CODES = ("moderate", "promising", "negative")
# School-to-school spread of the pre -> post slope: scores stay correlated within a school after the school
# dummies, which the iid working model behind the df and the exact reference does not know about, and that makes
# the few-treated interval a little conservative. Measured "2 of 10" coverage over seeds 1-3 (1,000 districts
# each): slope SD 0 -> 0.949-0.971, 0.05 -> 0.950-0.975, 0.1 -> 0.963-0.975; with iid errors (the working model
# itself) 0.950 and 0.952 over 2 x 2,000 districts. "Spread over 10 schools": 0.945-0.953 at every slope SD.
SLOPE_SD = 0.05


@dataclass(frozen=True)
class SimulatedDistrict:
    post: np.ndarray
    treated: np.ndarray
    pre: np.ndarray
    grade: np.ndarray     # integer codes 0-2
    school: np.ndarray    # integer codes 0..G-1

    def design(self) -> np.ndarray:
        """The effect code's own design matrix: [1, treated, pre, grade dummies, school dummies]."""
        return ef.design_matrix(self.treated, self.pre, self.grade, self.school)[0]

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"post": self.post, "pre": self.pre, "treated": self.treated.astype(int),
                             "grade": self.grade, "school": self.school})


def simulate_district(rng: np.random.Generator, n_schools: int, treated_schools: int | None, effect: float
                      ) -> SimulatedDistrict:
    sizes = rng.integers(40, 81, n_schools)
    school = np.repeat(np.arange(n_schools), sizes)
    n = school.size
    grade = rng.integers(0, 3, n)
    pre = rng.normal(0.0, 0.3, n_schools)[school] + rng.normal(0.0, 1.0, n)
    if treated_schools is None:
        p_use = 1.0 / (1.0 + np.exp(0.5 - 0.8 * pre))
    else:
        users_school = np.isin(school, rng.choice(n_schools, treated_schools, replace=False))
        p_use = np.where(users_school, 1.0 / (1.0 + np.exp(-0.8 * pre)), 0.0)
    treated = (rng.random(n) < p_use).astype(float)
    intercept = rng.normal(0.0, 0.3, n_schools)
    slope = 0.6 + rng.normal(0.0, SLOPE_SD, n_schools)
    school_effect = effect + rng.normal(0.0, 0.05, n_schools)
    noise_sd = rng.uniform(0.6, 0.9, n_schools)
    post = (school_effect[school] * treated + slope[school] * pre + 0.15 * grade + intercept[school]
            + noise_sd[school] * rng.normal(0.0, 1.0, n))
    return SimulatedDistrict(post, treated, pre, grade, school)


def cr1(X: np.ndarray, y: np.ndarray, school: np.ndarray) -> tuple[float, float, int]:
    """What the v1 code did: statsmodels' default cluster-robust SE (CR1), to be judged against the normal."""
    n, k = X.shape
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ (X.T @ y)
    leverage = X @ bread[:, 1]
    per_school = np.bincount(school, leverage * (y - X @ beta))
    G = per_school.size
    return float(beta[1]), math.sqrt(G / (G - 1) * (n - 1) / (n - k) * float(per_school @ per_school)), G


def test_cr1_helper_is_statsmodels_cluster_se() -> None:
    d = simulate_district(np.random.default_rng(0), 10, None, TRUE_EFFECT)
    X = d.design()
    fit = sm.OLS(d.post, X).fit(cov_type="cluster", cov_kwds={"groups": d.school})
    est, se, _ = cr1(X, d.post, d.school)
    assert est == pytest.approx(fit.params[1], rel=1e-9) and se == pytest.approx(fit.bse[1], rel=1e-9)


def test_effect_code_path_is_the_inference_module_on_its_design() -> None:
    d = simulate_district(np.random.default_rng(1), 10, 2, TRUE_EFFECT)
    est = ef.estimate_from_arrays(d.post, d.treated, d.pre, d.grade, d.school)
    res = inf.ols_cluster_inference(d.design(), d.post, d.school, 1)
    assert (est.coef, est.se, est.coef_ci_low, est.coef_ci_high) == (res.estimate, res.se, res.ci_low, res.ci_high)
    assert est.reference == inf.REFERENCE_EXACT and est.n_treated_schools == 2


DESIGNS: dict[str, tuple[Callable[[np.random.Generator], int], int | None]] = {
    "use spread over 10 schools": (lambda rng: 10, None),
    "use spread over 12-20 schools": (lambda rng: int(rng.integers(12, 21)), None),
    "use in 2 of 10 schools": (lambda rng: 10, 2),
}


def run_design(name: str, seed: int, effect: float, comparisons: bool) -> dict[str, float]:
    n_schools_of, treated_schools = DESIGNS[name]
    rng = np.random.default_rng(seed)
    covered = {"default": 0, "cr2_bm": 0, "cr1_normal": 0, "cr1_t": 0, "wild_bootstrap": 0}
    counts = {"rejected": 0, "positive_significant": 0}
    references: set[str] = set()
    start = time.perf_counter()
    # one BLAS thread: thousands of tiny solves gain nothing from threads and slow badly on a shared machine
    with threadpool_limits(1):
        for draw in range(DRAWS):
            d = simulate_district(rng, n_schools_of(rng), treated_schools, effect)
            est = ef.estimate_from_arrays(d.post, d.treated, d.pre, d.grade, d.school)
            references.add(est.reference)
            covered["default"] += est.coef_ci_low <= effect <= est.coef_ci_high
            counts["rejected"] += est.p_value < 0.05
            counts["positive_significant"] += est.significant and est.coef > 0
            if comparisons:
                _compare(d, effect, draw, est.reference, covered)
    out = {key: value / DRAWS for key, value in covered.items()}
    out.update(rejected=counts["rejected"] / DRAWS, positive_significant=counts["positive_significant"] / DRAWS,
               seconds=time.perf_counter() - start)
    out["references"] = " / ".join(sorted(references))  # type: ignore[assignment]
    return out


def _compare(d: SimulatedDistrict, effect: float, draw: int, reference: str, covered: dict[str, int]) -> None:
    """The other intervals on the same draw: CR2 with BM df everywhere, the wild bootstrap, and v1's CR1."""
    X = d.design()
    if reference == inf.REFERENCE_BM:
        bm = inf.ols_cluster_inference(X, d.post, d.school, 1)
    else:
        bm = inf.ols_cluster_inference(X, d.post, d.school, 1, few_treated="ibm")
        boot = inf.ols_cluster_inference(X, d.post, d.school, 1, few_treated="bootstrap", seed=draw)
        covered["wild_bootstrap"] += boot.ci_low <= effect <= boot.ci_high
    covered["cr2_bm"] += bm.ci_low <= effect <= bm.ci_high
    est, se, G = cr1(X, d.post, d.school)
    covered["cr1_normal"] += abs(est - effect) <= Z975 * se
    covered["cr1_t"] += abs(est - effect) <= stats.t.ppf(0.975, G - 1) * se


@pytest.mark.parametrize("name", list(DESIGNS))
def test_95_percent_intervals_cover_93_to_97_percent(name: str) -> None:
    seed = 20_251 + list(DESIGNS).index(name)
    r = run_design(name, seed, TRUE_EFFECT, comparisons=True)
    boot = f"  wild bootstrap {r['wild_bootstrap']:.3f}" if treated_few(name) else ""
    print(f"\n{name} ({DRAWS} districts, {r['seconds']:.1f} s; {r['references']}): effect code {r['default']:.3f}  "
          f"CR2+BM df {r['cr2_bm']:.3f}  CR1+normal (v1) {r['cr1_normal']:.3f}  CR1+t(G-1) {r['cr1_t']:.3f}{boot}")
    assert 0.93 <= r["default"] <= 0.97, r


@pytest.mark.parametrize("name", ["use spread over 10 schools", "use in 2 of 10 schools"])
def test_a_tool_with_no_effect_is_rarely_called_significant(name: str) -> None:
    seed = 90_210 + list(DESIGNS).index(name)   # fresh districts, not the coverage draws shifted by 0.2
    r = run_design(name, seed, 0.0, comparisons=False)
    print(f"\nnull tool, adjusted estimate, {name} ({DRAWS} districts, {r['seconds']:.1f} s): p < .05 in "
          f"{r['rejected']:.3f} (positive and significant {r['positive_significant']:.3f})")
    assert r["rejected"] <= 0.07, r


@pytest.mark.parametrize("name", ["use spread over 10 schools", "use in 2 of 10 schools"])
def test_null_tool_gets_a_significant_label_at_most_7_percent_of_the_time(name: str) -> None:
    """Through analyze_outcome: matching, the headline declared before p, the v2 label. Also counts what the v1
    rule ("significant if either the matched or the adjusted estimate is") would have said on the same draws."""
    n_schools_of, treated_schools = DESIGNS[name]
    rng = np.random.default_rng(31_337 + list(DESIGNS).index(name))
    codes: dict[str, int] = {}
    either, headline_matched = 0, 0
    start = time.perf_counter()
    with threadpool_limits(1):
        for _ in range(DRAWS):
            d = simulate_district(rng, n_schools_of(rng), treated_schools, 0.0)
            out = ef.analyze_outcome(d.frame())
            codes[out["evidence_code"]] = codes.get(out["evidence_code"], 0) + 1
            headline_matched += out["effect_method"] == ef.METHOD_MATCHED
            either += any(out[f"{p}effect_ci_low"] > 0 or out[f"{p}effect_ci_high"] < 0
                          for p in ("adjusted_", "matched_") if not pd.isna(out[f"{p}effect_ci_low"]))
    significant = sum(codes.get(c, 0) for c in SIGNIFICANT_CODES) / DRAWS
    print(f"\nnull tool, label, {name} ({DRAWS} districts, {time.perf_counter() - start:.1f} s): significant label "
          f"{significant:.3f}; v1 either-estimator rule {either / DRAWS:.3f}; headline matched in "
          f"{headline_matched / DRAWS:.2f}; labels {dict(sorted(codes.items()))}")
    assert significant <= 0.07, codes


def treated_few(name: str) -> bool:
    return DESIGNS[name][1] is not None
