"""Coverage of the intervention estimator's 95% interval on simulated districts (issue 16 "Done when"; methods.md
v2 sections 2 and 6), like tests/test_inference_coverage.py does for tools.

Each draw is one small district: 10 schools of 50-90 students, three grades, a pre-score with school shifts, an
early-warning risk score built from the pre-score and noise (what the EWS saw and the analyst does not), a flag at
risk >= 0.3 with partial take-up (a school-level probability of 0.4-0.8 above the cut-off, 0.05 below), and a post
score with school intercepts, school-specific residual SDs and a planted effect of 0.2 (score points, with a
school-to-school spread) for served students. The estimate goes through exactly the product's code path for an
intervention: `edtech.evidence.effects.analyze_outcome` on a frame carrying the risk score (matching on the risk
score and the pre-score within grade, the headline declared before p, CR2 / exact-reference inference). The truth
in SD units is the planted points on the headline's own standardizer (x Hedges omega / pooled within-group SD).

Also the regression discontinuity's conventional interval on synthetic fuzzy cut-off designs (`test_rdd_interval_coverage`).

Run with `pytest -m slow tests/test_interventions_coverage_sim.py -s` to see the measured figures.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from edtech.evidence import effects as ef

pytestmark = pytest.mark.slow

DRAWS = 1_000          # methods v2 section 2 asks >= 1,000; 65-100 ms a draw (matching + CR2): 65-100 s here
EFFECT_POINTS = 0.2
CUTOFF = 0.3


def simulate(rng: np.random.Generator, effect: float) -> pd.DataFrame:
    n_schools = 10
    sizes = rng.integers(50, 91, n_schools)
    school = np.repeat(np.arange(n_schools), sizes)
    n = school.size
    grade = rng.integers(0, 3, n)
    pre = rng.normal(0.0, 0.3, n_schools)[school] + rng.normal(0.0, 1.0, n)
    risk = 1.0 / (1.0 + np.exp(-(-1.6 - 1.0 * pre + rng.normal(0.0, 0.8, n))))
    flagged = risk >= CUTOFF
    take_up = rng.uniform(0.4, 0.8, n_schools)[school]
    served = rng.random(n) < np.where(flagged, take_up, 0.05)
    school_effect = effect + rng.normal(0.0, 0.05, n_schools)
    noise_sd = rng.uniform(0.6, 0.9, n_schools)
    post = (0.6 * pre + 0.15 * grade + rng.normal(0.0, 0.3, n_schools)[school] + school_effect[school] * served
            + noise_sd[school] * rng.normal(0.0, 1.0, n))
    return pd.DataFrame({"post": post, "pre": pre, "treated": served.astype(int), "grade": grade, "school": school,
                         "risk": np.round(risk, 3)})


def test_intervention_estimator_covers_93_to_97_percent():
    rng = np.random.default_rng(16_2025)
    covered, usable, matched = 0, 0, 0
    start = time.perf_counter()
    with threadpool_limits(1):
        for _ in range(DRAWS):
            frame = simulate(rng, EFFECT_POINTS)
            out = ef.analyze_outcome(frame)
            if not np.isfinite(out["effect_size"]):
                continue
            usable += 1
            matched += out["effect_method"] == ef.METHOD_MATCHED
            truth = EFFECT_POINTS * out["hedges_omega"] / out["sd_within"]
            covered += out["effect_ci_low"] <= truth <= out["effect_ci_high"]
    seconds = time.perf_counter() - start
    share = covered / usable
    print(f"\nintervention estimator, {usable} of {DRAWS} districts estimable ({seconds:.1f} s): 95% CI covers the "
          f"planted effect in {share:.3f}; headline matched in {matched / usable:.2f}")
    assert usable >= 0.95 * DRAWS
    assert 0.93 <= share <= 0.97


RDD_DRAWS = 500


def rdd_design(rng: np.random.Generator, n: int, effect: float, curvature: float) -> tuple[np.ndarray, ...]:
    """A fuzzy cut-off design: take-up 0.6 above, 0.1 below; the outcome curves in the running variable."""
    from_cutoff = rng.uniform(-1.0, 1.0, n)
    pre = rng.normal(0.0, 1.0, n) + 0.3 * from_cutoff
    served = (rng.random(n) < np.where(from_cutoff >= 0, 0.6, 0.1)).astype(float)
    post = (0.5 * from_cutoff + curvature * from_cutoff ** 2 + 0.6 * pre + effect * served
            + rng.normal(0.0, 0.6, n))
    return from_cutoff, served, post, pre


@pytest.mark.parametrize("curvature", [-0.4, -1.5])
def test_rdd_interval_coverage(curvature: float):
    """The RD's conventional interval at the IK bandwidth (no robust bias correction, see rdd.py) on 500 fuzzy
    designs of 3,000 students: measured 0.928 and 0.926 (seed 1). Held to 0.90-0.98, not the effect
    estimator's 0.93-0.97, because smoothing bias is not corrected; the page states the RD's caveat."""
    from edtech.interventions import rdd

    rng = np.random.default_rng(1)
    covered = estimable = 0
    start = time.perf_counter()
    with threadpool_limits(1):
        for _ in range(RDD_DRAWS):
            from_cutoff, served, post, pre = rdd_design(rng, 3000, 0.3, curvature)
            res = rdd.fuzzy_rdd(from_cutoff, served, post, pre)
            if res is None:
                continue
            estimable += 1
            covered += res.ci_low <= 0.3 <= res.ci_high
    share = covered / estimable
    print(f"\nRD, curvature {curvature}: {estimable} of {RDD_DRAWS} estimable ({time.perf_counter() - start:.1f} s), "
          f"95% CI covers the planted 0.3 in {share:.3f}")
    assert estimable == RDD_DRAWS
    assert 0.90 <= share <= 0.98

