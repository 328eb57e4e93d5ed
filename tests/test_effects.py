"""Outcome effects (methods v2 section 2): standardizers, baseline equivalence, t critical values, one headline
estimator, every evidence label in the v2 order, power figures and decision probabilities.

Each issue-11 finding has a test here that fails on the v1 code: normal critical values (finding 1), a label that
is significant when either estimator is (2), baseline equivalence on the cross-grade SD (3), Rationale for a
well-powered null tool (4), decision probabilities (5)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from edtech.evidence import effects as ef
from edtech.evidence import inference

# ---------------------------------------------------------------- small formulas


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


def test_pooled_within_group_within_grade_sd_hand_computed():
    """v2 standardizer: residuals from the grade x group means, one df per cell."""
    values = np.array([1.0, 3.0, 11.0, 13.0, 10.0, 14.0, 30.0, 34.0])
    grades = np.array(["A", "A", "A", "A", "B", "B", "B", "B"])
    treated = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    # cells (A,0) 1,3 (A,1) 11,13 (B,0) 10,14 (B,1) 30,34: residuals +-1, +-1, +-2, +-2 -> SS 20 over 8 - 4 df
    assert ef.pooled_within_grade_sd(values, grades, treated) == pytest.approx(math.sqrt(5))
    # without groups the treated-comparison gap of 10 and 20 points inflates the SD
    assert ef.pooled_within_grade_sd(values, grades) > 5


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


# ---------------------------------------------------------------- finding 3: baseline equivalence, within grade

def _grade_spread_sample(shift: float = 2.9, per_cell: int = 60) -> pd.DataFrame:
    """Three grades 30 points apart; within each grade and group the pre score has SD 10 exactly and treated
    students sit `shift` points higher: d = 0.29 within grade, ~0.11 on the cross-grade SD."""
    z = np.linspace(-1.0, 1.0, per_cell)
    z = (z - z.mean()) / z.std(ddof=1) * 10.0
    rows = []
    for i, grade in enumerate(["3", "4", "5"]):
        for treated in (0, 1):
            pre = 200 + 30 * i + shift * treated + z
            rows.append(pd.DataFrame({"pre": pre, "post": pre + 5, "treated": treated, "grade": grade,
                                      "school": np.tile([f"S{k}" for k in range(4)], per_cell // 4)}))
    return pd.concat(rows, ignore_index=True)


def test_baseline_difference_uses_the_within_group_within_grade_sd():
    sample = _grade_spread_sample()
    n = len(sample)
    expected = ef.hedges_correction(n) * 2.9 / 10.0
    out = ef.analyze_outcome(sample)
    assert out["baseline_std_diff_all"] == pytest.approx(expected, rel=1e-9)   # v1: 0.11 (cross-grade SD)
    d = ef.baseline_difference(sample["pre"], sample["treated"], sample["grade"])
    assert d == pytest.approx(expected, rel=1e-9)
    assert ef.baseline_status(d) == ef.BASELINE_NOT
    # the v1 figure (pooled SD across grades) understates it about 2.6x and would call it equivalent
    cross_grade = ef.standardized_difference(sample.loc[sample["treated"] == 1, "pre"],
                                             sample.loc[sample["treated"] == 0, "pre"])
    assert cross_grade < 0.15 and ef.baseline_status(cross_grade) != ef.BASELINE_NOT


def test_baseline_difference_weights_grades_by_treated_students():
    pre = np.array([0.0, 2.0, 10.0, 12.0, 100.0, 101.0, 103.0, 104.0])
    treated = np.array([0, 0, 1, 1, 0, 0, 1, 1])
    grade = np.array(["A"] * 4 + ["B"] * 4)
    # differences 10 (A) and 3 (B), 2 treated each -> 6.5; cells' residuals +-1, +-1, +-0.5, +-0.5 -> SS 5 / 4 df
    expected = ef.hedges_correction(8) * 6.5 / math.sqrt(5 / 4)
    assert ef.baseline_difference(pre, treated, grade) == pytest.approx(expected)


# ---------------------------------------------------------------- evidence labels, v2 order (one test per label)

def _est(effect: float, se_effect: float = 0.05, df: float = 500.0, n_t: int = 400, n_c: int = 400,
         treated_schools: int = 4) -> ef.EffectEstimate:
    """An estimate whose CI is effect -/+ t(df) x SE, in SD units (sd_within 10, omega 1 -> points x 10)."""
    half = stats.t.ppf(0.975, df) * se_effect
    p = float(2 * stats.t.sf(abs(effect) / se_effect, df))
    return ef.EffectEstimate(
        effect=effect, ci_low=effect - half, ci_high=effect + half, p_value=p, coef=effect * 10, se=se_effect * 10,
        coef_ci_low=(effect - half) * 10, coef_ci_high=(effect + half) * 10, df=df, sd_within=10.0, omega=1.0,
        n_treated=n_t, n_comparison=n_c, n_schools=max(treated_schools, 4), n_treated_schools=treated_schools,
        cov_type="CR2", reference=inference.REFERENCE_BM, formula="post ~ treated + pre")


def _label(headline: ef.EffectEstimate | None = None, **kw) -> str:
    args = {"has_pre_post": True, "n_treated": 400, "n_comparison": 400,
            "headline": _est(0.2) if headline is None else headline, "method": ef.METHOD_ADJUSTED,
            "baseline": ef.BASELINE_UNKNOWN}
    args.update(kw)
    return ef.evidence_label(**args)[0]


def test_label_insufficient():
    assert _label(has_pre_post=False) == ef.LABEL_INSUFFICIENT
    assert _label(n_treated=29) == ef.LABEL_INSUFFICIENT
    assert _label(n_comparison=29) == ef.LABEL_INSUFFICIENT
    assert ef.evidence_label(has_pre_post=True, n_treated=400, n_comparison=400, headline=None)[0] \
        == ef.LABEL_INSUFFICIENT


def test_label_negative_comes_before_everything_else():
    assert _label(_est(-0.2)) == ef.LABEL_NEGATIVE
    assert _label(_est(-0.2), method=ef.METHOD_MATCHED, baseline=ef.BASELINE_SATISFIED) == ef.LABEL_NEGATIVE


def test_label_moderate():
    for baseline in (ef.BASELINE_SATISFIED, ef.BASELINE_ADJUST):
        assert _label(_est(0.2, n_t=200, n_c=200, treated_schools=3), method=ef.METHOD_MATCHED,
                      baseline=baseline) == ef.LABEL_MODERATE


def test_label_moderate_needs_everything():
    """Too few students, one school with users, baseline not equivalent, or an adjusted headline -> Promising."""
    cases = [(_est(0.2, n_t=170, n_c=170, treated_schools=3), ef.METHOD_MATCHED, ef.BASELINE_SATISFIED),
             (_est(0.2, n_t=200, n_c=200, treated_schools=1), ef.METHOD_MATCHED, ef.BASELINE_SATISFIED),
             (_est(0.2, n_t=200, n_c=200, treated_schools=3), ef.METHOD_MATCHED, ef.BASELINE_NOT),
             (_est(0.2, n_t=200, n_c=200, treated_schools=3), ef.METHOD_ADJUSTED, ef.BASELINE_SATISFIED)]
    for headline, method, baseline in cases:
        assert _label(headline, method=method, baseline=baseline) == ef.LABEL_PROMISING


def test_label_promising():
    assert _label(_est(0.15, se_effect=0.05)) == ef.LABEL_PROMISING


def test_label_rationale_only_when_underpowered():
    """Finding 4: positive and not significant is Rationale only when the study is too small to tell."""
    # MDE = (t.975 + t.80) x 0.1 = 0.28 SD > 0.25: underpowered
    label, reason = ef.evidence_label(has_pre_post=True, n_treated=400, n_comparison=400,
                                      headline=_est(0.1, se_effect=0.1))
    assert label == ef.LABEL_RATIONALE
    settle = inference.sample_to_settle(800, inference.minimum_detectable_effect(0.1, 500.0))
    assert settle == math.ceil(800 * ((stats.t.ppf(0.975, 500) + stats.t.ppf(0.8, 500)) * 0.1 / 0.25) ** 2)
    assert f"about {settle:,} students would settle it" in reason
    # fewer than 350 students is underpowered however small the MDE
    assert _label(_est(0.05, se_effect=0.04, n_t=150, n_c=150), n_treated=150, n_comparison=150) \
        == ef.LABEL_RATIONALE
    # adequately powered (MDE 0.084 SD, 800 students) and the CI includes 0: No detectable effect, even if positive
    assert _label(_est(0.04, se_effect=0.03)) == ef.LABEL_NONE


def test_label_no_detectable_effect_whatever_the_sign_of_the_noise():
    for effect in (-0.03, -0.001, 0.0, 0.001, 0.03):
        assert _label(_est(effect, se_effect=0.03)) == ef.LABEL_NONE


def test_label_inconclusive():
    assert _label(_est(-0.1, se_effect=0.1)) == ef.LABEL_INCONCLUSIVE
    assert _label(_est(0.0, se_effect=0.1)) == ef.LABEL_INCONCLUSIVE
    assert _label(_est(-0.01, se_effect=0.02, n_t=100, n_c=100), n_treated=100, n_comparison=100) \
        == ef.LABEL_INCONCLUSIVE


def test_every_label_has_a_contract_code():
    assert set(ef.EVIDENCE_CODES) == set(ef.LABELS)
    assert set(ef.EVIDENCE_CODES.values()) == {"moderate", "promising", "rationale", "no_detectable_effect",
                                                "negative", "insufficient_data", "inconclusive"}


def test_power_of_hand_computed():
    est = _est(0.0, se_effect=0.1, df=9.0, n_t=200, n_c=200)
    power = ef.power_of(est)
    mde = (stats.t.ppf(0.975, 9) + stats.t.ppf(0.8, 9)) * 0.1
    assert power.mde == pytest.approx(mde) and power.underpowered
    assert power.sample_to_settle == math.ceil(400 * (mde / 0.25) ** 2) > 400
    small = ef.power_of(_est(0.0, se_effect=0.02, n_t=100, n_c=100))   # MDE fine, but only 200 students
    assert small.underpowered and small.sample_to_settle == ef.MIN_MODERATE_N
    powered = ef.power_of(_est(0.0, se_effect=0.05))
    assert not powered.underpowered and powered.sample_to_settle is None


# ---------------------------------------------------------------- simulated districts

def _simulate(n: int = 3000, effect_points: float = 4.0, n_schools: int = 12, seed: int = 2,
              users_in: int | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grade = rng.choice(["3", "4", "5"], n)
    school = rng.choice([f"S{i:02d}" for i in range(n_schools)], n)
    pre = rng.normal(200, 15, n) + (grade == "4") * 10 + (grade == "5") * 20
    z = (pre - pre.mean()) / pre.std()
    frl = rng.random(n) < 0.4
    p_use = 1 / (1 + np.exp(-(0.8 * z - 0.3 * frl)))                    # high achievers select in
    if users_in is not None:
        p_use = np.where(np.isin(school, [f"S{i:02d}" for i in range(users_in)]), p_use, 0.0)
    treated = (rng.random(n) < p_use).astype(int)
    school_shift = rng.normal(0, 2, n_schools)[pd.factorize(school, sort=True)[0]]
    post = 20 + 0.9 * pre - 2 * frl + effect_points * treated + school_shift + rng.normal(0, 6, n)
    return pd.DataFrame({"pre": pre, "post": post, "treated": treated, "grade": grade, "school": school,
                         "frl": frl, "ell": False, "iep": rng.random(n) < 0.1})


def test_adjusted_effect_recovers_truth_and_uses_the_v2_standardizer():
    # one draw: its 95% interval misses 1 time in 20 (the slow coverage simulation measures the rate)
    sample = _simulate()
    est = ef.estimate_adjusted(sample)
    sd = ef.pooled_within_grade_sd(sample["post"], sample["grade"], sample["treated"])
    omega = ef.hedges_correction(len(sample))
    assert est.coef_ci_low < 4.0 < est.coef_ci_high
    assert est.sd_within == pytest.approx(sd)
    assert est.effect == pytest.approx(est.coef / sd * omega)
    # SE and CI scaled the same way as the estimate
    assert est.se_effect == pytest.approx(est.se / sd * omega)
    assert (est.ci_low, est.ci_high) == pytest.approx((est.coef_ci_low / sd * omega, est.coef_ci_high / sd * omega))
    assert est.ci_low < 4.0 / sd * omega < est.ci_high
    assert "frl" in est.formula and "ell" not in est.formula  # ell has no variation


def test_cluster_robust_interval_uses_t_critical_values():
    """Finding 1: with 12 schools the CI is CR2 with t on at most G - 1 = 11 df, not the normal's 1.96."""
    est = ef.estimate_adjusted(_simulate(n_schools=12))
    scale = est.effect / est.coef
    half = (est.ci_high - est.ci_low) / 2
    assert half > 1.05 * 1.959964 * est.se * scale         # t(<= 11) is at least 2.2; v1 used 1.96
    assert est.cov_type.startswith("CR2") and est.reference == inference.REFERENCE_BM
    assert 1 <= est.df <= 11
    assert half == pytest.approx(stats.t.ppf(0.975, est.df) * est.se_effect, rel=1e-9)


def test_below_ten_schools_hc1_with_t_on_residual_df():
    sample = _simulate(n_schools=4)
    est = ef.estimate_adjusted(sample)
    assert est.cov_type.startswith("HC1") and est.reference == inference.REFERENCE_RESIDUAL
    X, _ = ef.design_matrix(sample["treated"].to_numpy(), sample["pre"].to_numpy(), ef._codes(sample["grade"]),
                            ef._codes(sample["school"]),
                            {c: sample[c].astype(float).to_numpy() for c in ("frl", "iep")})
    assert est.df == len(sample) - np.linalg.matrix_rank(X)
    assert est.coef_ci_high - est.coef == pytest.approx(stats.t.ppf(0.975, est.df) * est.se, rel=1e-9)


def test_few_treated_schools_use_the_exact_reference():
    est = ef.estimate_adjusted(_simulate(n_schools=10, users_in=2, seed=4))
    assert est.n_treated_schools == 2 and est.reference == inference.REFERENCE_EXACT
    assert est.ci_high - est.effect > stats.t.ppf(0.975, 9) * est.se_effect   # wider than t on G - 1


def test_nested_schools_and_grades_match_the_formula_model():
    """Schools nested in grade spans make grade and school dummies collinear; the treated coefficient must
    still equal the statsmodels formula fit, and below 10 schools its SE is statsmodels' HC1."""
    import statsmodels.formula.api as smf

    sample = _simulate(n_schools=4, seed=3)
    sample["school"] = np.where(sample["grade"] == "5", "S_upper", np.where(sample["school"] < "S02", "S_a", "S_b"))
    est = ef.estimate_adjusted(sample)
    data = sample.assign(frl=sample["frl"].astype(float), iep=sample["iep"].astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # statsmodels notes the (intended) collinear dummies
        fit = smf.ols("post ~ treated + pre + C(grade) + C(school) + frl + iep", data).fit(cov_type="HC1")
    assert est.coef == pytest.approx(fit.params["treated"], rel=1e-8)
    assert est.se == pytest.approx(fit.bse["treated"], rel=1e-6)


def test_whole_school_use_falls_back_to_comparison_across_schools():
    sample = _simulate(n_schools=12, seed=5)
    sample["treated"] = sample["school"].isin(["S00", "S01", "S02", "S03", "S04", "S05"]).astype(int)
    est = ef.estimate_adjusted(sample)
    assert est is not None and "C(school)" not in est.formula and est.cov_type.startswith("CR2")


def test_naive_gap_biased_but_matching_balances_baseline():
    sample = _simulate()
    out = ef.analyze_outcome(sample)
    sd = ef.pooled_within_grade_sd(sample["post"], sample["grade"], sample["treated"])
    assert out["descriptive_gap"] > 4.0 / sd + 0.3          # selection on prior achievement inflates it
    assert abs(out["matched_baseline_std_diff"]) < abs(out["baseline_std_diff_all"])
    assert abs(out["matched_baseline_std_diff"]) <= 0.25
    assert out["matched_effect_ci_low"] < 4.0 / sd < out["matched_effect_ci_high"]
    assert out["matched_kept_share"] >= 0.5
    assert out["effect_method"] == ef.METHOD_MATCHED and out["robustness_method"] == ef.METHOD_ADJUSTED
    assert out["evidence_label"] == ef.LABEL_MODERATE and out["evidence_code"] == "moderate"
    assert out["effect_size"] == out["matched_effect_size"]
    assert out["robustness_effect_size"] == out["adjusted_effect_size"]


def test_well_powered_null_tool_is_no_detectable_effect_even_when_the_estimate_is_positive():
    """Finding 4 end to end: v1 called this Rationale because the noise happened to be positive."""
    out = ef.analyze_outcome(_simulate(effect_points=0.0, seed=13))
    assert out["effect_size"] > 0 and out["effect_ci_low"] < 0 < out["effect_ci_high"]   # the case in question
    assert out["evidence_label"] == ef.LABEL_NONE                                      # v1: Rationale
    assert out["mde"] <= ef.POWERED_MDE and math.isnan(out["sample_to_settle"])


def test_small_null_study_is_rationale_or_inconclusive_with_a_sample_that_would_settle_it():
    out = ef.analyze_outcome(_simulate(n=260, effect_points=0.0, seed=2, n_schools=4))
    assert out["evidence_label"] in (ef.LABEL_RATIONALE, ef.LABEL_INCONCLUSIVE)
    assert out["evidence_label"] == (ef.LABEL_RATIONALE if out["effect_size"] > 0 else ef.LABEL_INCONCLUSIVE)
    n = out["analysis_n_treated"] + out["analysis_n_comparison"]
    assert out["sample_to_settle"] == max(350, inference.sample_to_settle(n, out["mde"]))
    assert f"{int(out['sample_to_settle']):,} students would settle it" in out["evidence_reason"]


# ---------------------------------------------------------------- finding 2: one headline, declared before p

def _patched_estimates(monkeypatch, sample: pd.DataFrame, adjusted: ef.EffectEstimate,
                       matched: ef.EffectEstimate) -> None:
    """estimate_adjusted returns `adjusted` on the full sample and `matched` on the matched one."""
    full = len(sample)

    def fake(frame: pd.DataFrame, sd_within: float | None = None, **_: object) -> ef.EffectEstimate:
        return adjusted if len(frame) == full else matched
    monkeypatch.setattr(ef, "estimate_adjusted", fake)


def test_significant_robustness_estimate_never_makes_the_label(monkeypatch):
    sample = _simulate()
    kept = int((ef.match_comparison(sample)["treated"] == 1).sum())
    assert kept >= 0.5 * (sample["treated"] == 1).sum()          # matched is the declared headline here
    adjusted = _est(0.2, se_effect=0.05)                           # significant
    matched = _est(0.05, se_effect=0.05, n_t=kept, n_c=kept)       # not significant, well powered
    _patched_estimates(monkeypatch, sample, adjusted, matched)
    out = ef.analyze_outcome(sample)
    assert out["effect_method"] == ef.METHOD_MATCHED
    assert out["evidence_label"] == ef.LABEL_NONE                  # v1: Promising, from the adjusted estimate
    assert (out["effect_size"], out["effect_ci_low"], out["effect_ci_high"]) == (
        matched.effect, matched.ci_low, matched.ci_high)
    assert out["robustness_effect_size"] == adjusted.effect
    probs = inference.decision_probabilities(matched.effect, matched.se_effect, matched.df, ef.DECISION_THRESHOLD)
    assert out["p_above"] == pytest.approx(probs["p_above"])


def test_matched_estimate_is_not_the_headline_when_matching_kept_under_half(monkeypatch):
    sample = _simulate()
    treated_rows = sample.index[sample["treated"] == 1]
    few = sample.loc[list(treated_rows[: int(0.4 * len(treated_rows))]) + list(sample.index[sample["treated"] == 0])]
    monkeypatch.setattr(ef, "match_comparison", lambda frame, **_: few)
    adjusted = _est(0.03, se_effect=0.05)                          # not significant
    matched = _est(0.3, se_effect=0.05, n_t=200, n_c=200)          # significant, but from 40% of the users
    _patched_estimates(monkeypatch, sample, adjusted, matched)
    out = ef.analyze_outcome(sample)
    assert out["matched_kept_share"] == pytest.approx(0.4, abs=0.01)
    assert out["effect_method"] == ef.METHOD_ADJUSTED and out["robustness_method"] == ef.METHOD_MATCHED
    assert out["evidence_label"] == ef.LABEL_NONE                  # v1: Moderate, from the matched estimate
    assert out["effect_size"] == adjusted.effect


def test_choose_headline_rule():
    matched = _est(0.1, n_t=60, n_c=60)
    assert ef.choose_headline(100, matched, ef.BASELINE_SATISFIED) == ef.METHOD_MATCHED
    assert ef.choose_headline(100, matched, ef.BASELINE_ADJUST) == ef.METHOD_MATCHED
    assert ef.choose_headline(100, matched, ef.BASELINE_NOT) == ef.METHOD_ADJUSTED
    assert ef.choose_headline(121, matched, ef.BASELINE_SATISFIED) == ef.METHOD_ADJUSTED   # 60 < 50% of 121
    assert ef.choose_headline(100, None, ef.BASELINE_UNKNOWN) == ef.METHOD_ADJUSTED


# ---------------------------------------------------------------- finding 5: decision probabilities

@pytest.mark.parametrize("kwargs", [{"n_schools": 12}, {"n_schools": 10, "users_in": 2, "seed": 4},
                                    {"n_schools": 4}])
def test_decision_probabilities_agree_with_the_ci(kwargs):
    out = ef.analyze_outcome(_simulate(**kwargs))
    g, se, df = out["effect_size"], out["effect_se"], out["effect_df"]
    assert out["p_above"] + out["p_within"] + out["p_below"] == pytest.approx(1.0)
    assert out["p_above"] == pytest.approx(stats.t.sf((ef.DECISION_THRESHOLD - g) / se, df))
    # the CI's bounds are the 2.5% and 97.5% points of the same distribution
    at_low = inference.decision_probabilities(g, se, df, 0.0)
    shifted = inference.decision_probabilities(g - out["effect_ci_low"], se, df, 0.0)
    assert shifted["p_above"] == pytest.approx(0.975, abs=1e-6)
    assert (at_low["p_below"] < 0.025) == (out["effect_ci_low"] > 0)


def test_director_threshold_recomputes_probabilities_without_refitting():
    rows = pd.DataFrame([{**ef.analyze_outcome(_simulate()), "tool_id": "T"}])
    wider = ef.with_decision_threshold(rows, 0.2)
    assert wider.loc[0, "decision_threshold"] == 0.2
    assert wider.loc[0, "p_within"] > rows.loc[0, "p_within"]
    again = ef.with_decision_threshold(wider, ef.DECISION_THRESHOLD)
    for key in ("p_above", "p_within", "p_below"):
        assert again.loc[0, key] == pytest.approx(rows.loc[0, key])


def test_estimate_rows_name_the_role_of_each_estimate():
    row = {**ef.analyze_outcome(_simulate(), below=_simulate(n=400, seed=9).assign(treated=1)),
           "tool_id": "T", "assessment": "MAP"}
    long = ef.estimate_rows(pd.DataFrame([row]))
    assert list(long["effect_role"]) == [ef.ROLE_HEADLINE, ef.ROLE_ROBUSTNESS, ef.ROLE_BELOW]
    assert long.loc[0, "effect_method"] == row["effect_method"]
    assert long.loc[1, "effect_method"] == row["robustness_method"] != row["effect_method"]


def test_explain_effect_plain_and_detail():
    row = pd.Series({"assessment": "MAP Math", "pre_window": "fall", "post_window": "spring",
                     **ef.analyze_outcome(_simulate())})
    plain, detail = ef.explain_effect(row)
    assert "MAP Math" in plain and "standard deviations" in plain
    assert ef.FLAT_PRIOR_NOTE in plain and "Robustness check, not used for the label" in plain
    assert "Hedges" in detail and "post ~ treated" in detail and "within-group, within-grade" in detail


def test_propensity_scores_are_scikit_learns_penalized_logistic_optimum():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 12))
    y = (rng.random(600) < 1 / (1 + np.exp(-(0.8 * X[:, 0] - 0.3)))).astype(int)
    reference = LogisticRegression(max_iter=10_000, tol=1e-12).fit(X, y).predict_proba(X)[:, 1]
    assert np.abs(ef.propensity_scores(X, y) - reference).max() < 1e-6
    # perfectly separating dummies (users in 2 schools) stay finite under the penalty
    separated = np.column_stack([np.repeat([1.0, 0.0], 300), rng.normal(size=600)])
    p = ef.propensity_scores(separated, np.repeat([1, 0], 300))
    assert np.isfinite(p).all() and p[:300].min() > 0.5 > p[300:].max()
