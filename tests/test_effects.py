"""Outcome effects: Hedges correction, standardizers, baseline equivalence, every evidence label, estimators."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from edtech.evidence import effects as ef


def test_hedges_correction_hand_computed():
    assert ef.hedges_correction(20) == pytest.approx(1 - 3 / 71)
    assert ef.hedges_correction(20) == pytest.approx(0.957746, abs=1e-6)
    assert ef.hedges_correction(1000) == pytest.approx(1 - 3 / 3991)
    assert math.isnan(ef.hedges_correction(2))


def test_improvement_index():
    assert ef.improvement_index(0.0) == 0.0
    assert ef.improvement_index(0.25) == pytest.approx(9.87, abs=0.01)
    assert ef.improvement_index(-0.25) == pytest.approx(-9.87, abs=0.01)


def test_pooled_within_grade_sd_hand_computed():
    values = pd.Series([1.0, 3.0, 10.0, 14.0])
    grades = pd.Series(["A", "A", "B", "B"])
    # residuals -1, 1, -2, 2: sum of squares 10 over 4 - 2 degrees of freedom
    assert ef.pooled_within_grade_sd(values, grades) == pytest.approx(math.sqrt(5))


def test_standardized_difference_hand_computed():
    t, c = pd.Series([2.0, 4.0, 6.0]), pd.Series([1.0, 3.0, 5.0])  # both SD 2, difference 1
    assert ef.standardized_difference(t, c) == pytest.approx(ef.hedges_correction(6) * 0.5)


@pytest.mark.parametrize(("d", "status"), [
    (0.0, ef.BASELINE_SATISFIED), (0.05, ef.BASELINE_SATISFIED), (-0.05, ef.BASELINE_SATISFIED),
    (0.051, ef.BASELINE_ADJUST), (-0.25, ef.BASELINE_ADJUST), (0.251, ef.BASELINE_NOT),
    (float("nan"), ef.BASELINE_UNKNOWN),
])
def test_baseline_equivalence(d, status):
    assert ef.baseline_status(d) == status


def test_window_order_by_name_and_by_date():
    names = pd.DataFrame({"window": ["spring", "fall", "winter"], "test_date": pd.NaT})
    assert ef.order_windows(names) == ["fall", "winter", "spring"]
    years = pd.DataFrame({"window": ["2026-spring", "2025-fall", "2025-spring"], "test_date": pd.NaT})
    # data contract: pre < fall < winter < spring < post within a year
    assert ef.order_windows(years) == ["2025-fall", "2025-spring", "2026-spring"]
    dated = pd.DataFrame({"window": ["B", "A"], "test_date": pd.to_datetime(["2025-09-01", "2026-05-01"])})
    assert ef.order_windows(dated) == ["B", "A"]


# ---------------------------------------------------------------- evidence labels (one test per label)

def _est(effect: float, p: float, n_t: int = 400, n_c: int = 400, schools: int = 4) -> ef.EffectEstimate:
    half = 0.1
    return ef.EffectEstimate(effect=effect, ci_low=effect - half, ci_high=effect + half, p_value=p, coef=effect * 10,
                             se=0.5, sd_within=10.0, omega=0.999, n_treated=n_t, n_comparison=n_c,
                             n_schools=schools, cov_type="HC1", formula="post ~ treated + pre")


def _label(**kw) -> str:
    args = {"has_pre_post": True, "n_treated": 400, "n_comparison": 400, "adjusted": _est(0.2, 0.01),
            "matched": None, "matched_baseline": ef.BASELINE_UNKNOWN}
    args.update(kw)
    return ef.evidence_label(**args)[0]


def test_label_moderate():
    assert _label(matched=_est(0.2, 0.01, 200, 200, 3), matched_baseline=ef.BASELINE_SATISFIED) == ef.LABEL_MODERATE
    assert _label(matched=_est(0.2, 0.01, 200, 200, 3), matched_baseline=ef.BASELINE_ADJUST) == ef.LABEL_MODERATE


def test_label_moderate_needs_everything():
    # too few matched students, one school, baseline not equivalent, not significant -> only Promising
    for matched, base in [(_est(0.2, 0.01, 170, 170, 3), ef.BASELINE_SATISFIED),
                          (_est(0.2, 0.01, 200, 200, 1), ef.BASELINE_SATISFIED),
                          (_est(0.2, 0.01, 200, 200, 3), ef.BASELINE_NOT),
                          (_est(0.2, 0.20, 200, 200, 3), ef.BASELINE_SATISFIED)]:
        assert _label(matched=matched, matched_baseline=base) == ef.LABEL_PROMISING


def test_label_promising():
    assert _label(adjusted=_est(0.15, 0.001)) == ef.LABEL_PROMISING


def test_label_rationale():
    assert _label(adjusted=_est(0.1, 0.2)) == ef.LABEL_RATIONALE               # positive, not significant
    assert _label(adjusted=_est(-0.02, 0.8, 100, 100), n_treated=100, n_comparison=100) == ef.LABEL_RATIONALE


def test_label_no_detectable_effect():
    assert _label(adjusted=_est(-0.01, 0.7)) == ef.LABEL_NONE
    assert _label(adjusted=_est(0.0, 1.0)) == ef.LABEL_NONE


def test_label_negative():
    assert _label(adjusted=_est(-0.2, 0.01)) == ef.LABEL_NEGATIVE


def test_label_insufficient():
    assert _label(has_pre_post=False) == ef.LABEL_INSUFFICIENT
    assert _label(n_treated=29) == ef.LABEL_INSUFFICIENT
    assert _label(n_comparison=29) == ef.LABEL_INSUFFICIENT
    assert _label(adjusted=None) == ef.LABEL_INSUFFICIENT


# ---------------------------------------------------------------- estimators on simulated data

def _simulate(n: int = 3000, effect_points: float = 4.0, n_schools: int = 12, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grade = rng.choice(["3", "4", "5"], n)
    school = rng.choice([f"S{i:02d}" for i in range(n_schools)], n)
    pre = rng.normal(200, 15, n) + (grade == "4") * 10 + (grade == "5") * 20
    z = (pre - pre.mean()) / pre.std()
    frl = rng.random(n) < 0.4
    treated = (rng.random(n) < 1 / (1 + np.exp(-(0.8 * z - 0.3 * frl)))).astype(int)  # high achievers select in
    post = 20 + 0.9 * pre - 2 * frl + effect_points * treated + rng.normal(0, 6, n)
    return pd.DataFrame({"pre": pre, "post": post, "treated": treated, "grade": grade, "school": school,
                         "frl": frl, "ell": False, "iep": rng.random(n) < 0.1})


def test_adjusted_effect_recovers_truth_and_uses_hedges_scaling():
    sample = _simulate()
    est = ef.estimate_adjusted(sample)
    sd = ef.pooled_within_grade_sd(sample["post"], sample["grade"])
    omega = ef.hedges_correction(len(sample))
    assert est.coef - 1.96 * est.se < 4.0 < est.coef + 1.96 * est.se
    assert est.effect == pytest.approx(est.coef / sd * omega)
    assert est.ci_low < 4.0 / sd * omega < est.ci_high
    assert "cluster" in est.cov_type            # 12 schools
    assert "frl" in est.formula and "ell" not in est.formula  # ell has no variation
    few = ef.estimate_adjusted(_simulate(n_schools=4))
    assert "HC1" in few.cov_type


def test_naive_gap_biased_but_matching_balances_baseline():
    sample = _simulate()
    out = ef.analyze_outcome(sample)
    sd = ef.pooled_within_grade_sd(sample["post"], sample["grade"])
    assert out["descriptive_gap"] > 4.0 / sd + 0.3          # selection on prior achievement inflates it
    assert abs(out["matched_baseline_std_diff"]) < abs(out["baseline_std_diff_all"])
    assert abs(out["matched_baseline_std_diff"]) <= 0.05
    assert out["matched_effect_ci_low"] < 4.0 / sd < out["matched_effect_ci_high"]
    assert out["evidence_label"] == ef.LABEL_MODERATE and out["effect_method"] == "matched"


def test_null_effect_is_not_called_positive():
    out = ef.analyze_outcome(_simulate(effect_points=0.0, seed=13))
    assert out["evidence_label"] in (ef.LABEL_NONE, ef.LABEL_RATIONALE)
    assert out["effect_ci_low"] < 0 < out["effect_ci_high"]


def test_explain_effect_plain_and_detail():
    row = pd.Series({"assessment": "MAP Math", "pre_window": "fall", "post_window": "spring",
                     **ef.analyze_outcome(_simulate())})
    plain, detail = ef.explain_effect(row)
    assert "MAP Math" in plain and "standard deviations" in plain
    assert "Hedges" in detail and "post ~ treated" in detail


def test_nested_schools_and_grades_match_the_formula_model():
    """Schools nested in grade spans make grade and school dummies collinear; the treated coefficient must
    still equal the statsmodels formula fit."""
    import statsmodels.formula.api as smf

    sample = _simulate(n_schools=4, seed=3)
    sample["school"] = np.where(sample["grade"] == "5", "S_upper", np.where(sample["school"] < "S02", "S_a", "S_b"))
    est = ef.estimate_adjusted(sample)
    data = sample.assign(frl=sample["frl"].astype(float), iep=sample["iep"].astype(float))
    fit = smf.ols("post ~ treated + pre + C(grade) + C(school) + frl + iep", data).fit(cov_type="HC1")
    assert est.coef == pytest.approx(fit.params["treated"], rel=1e-8)
    assert est.se == pytest.approx(fit.bse["treated"], rel=1e-6)
