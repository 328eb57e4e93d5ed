"""At-risk model, methods v2 §4: leakage guards, honest recommendation, audit-only subgroups, the
configured suppression threshold, the estimator contract and the cheap design (issue 11 findings 7-10)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import average_precision_score, roc_auc_score

from edtech.risk import model as risk


# ----------------------------------------------------------------------------- tables
def _grades(n: int = 300, seed: int = 5) -> pd.DataFrame:
    """A UCI-like table: G3 drives the 0/1 `passed`, studytime and absences carry weaker signal."""
    rng = np.random.default_rng(seed)
    ability = rng.normal(0, 1, n)
    g3 = np.clip(np.round(11 + 3.5 * ability + rng.normal(0, 1.5, n)), 0, 20).astype(int)
    return pd.DataFrame({
        "id_student": np.arange(500_000, 500_000 + n),  # a numeric ID named id_*
        "school": rng.choice(["GP", "MS"], n),
        "studytime": np.clip(np.round(2 + 0.6 * ability + rng.normal(0, 0.8, n)), 1, 4),
        "absences": rng.poisson(np.exp(1.3 - 0.3 * ability)),
        "failures": rng.poisson(np.exp(-1.2 - 0.8 * ability)),
        "goout": rng.integers(1, 6, n),
        "sex": rng.choice(["F", "M"], n),
        "G3": g3,
        "passed": (g3 >= 10).astype(int),
    })


def _abc_world(n: int = 400, seed: int = 11) -> pd.DataFrame:
    """The outcome depends only on the ABC flags (chronic absence, a course failure): the rule is the
    best possible predictor, so a model cannot beat it by more than noise."""
    rng = np.random.default_rng(seed)
    attendance = np.clip(rng.normal(0.92, 0.05, n), 0.6, 1.0).round(3)
    failures = rng.poisson(0.3, n)
    flags = (attendance < 0.9).astype(int) + (failures >= 1).astype(int)
    y = (rng.random(n) < np.array([0.12, 0.45, 0.75])[flags]).astype(int)
    table = pd.DataFrame({"student_id": [f"a{i:04d}" for i in range(n)], "school_id": rng.choice(["N", "S"], n),
                          "attendance_rate": attendance, "course_failures": failures})
    for j in range(8):
        table[f"noise_{j}"] = rng.normal(0, 1, n).round(3)
    table["outcome"] = y
    return table


def _signal_only(n: int = 300, seed: int = 2) -> pd.DataFrame:
    """Signal in plain columns, but no attendance/failure/GPA/suspension column and no school."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 3))
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1 + 1.5 * x[:, 0] - x[:, 1])))).astype(int)
    return pd.DataFrame({"x1": x[:, 0].round(3), "x2": x[:, 1].round(3), "x3": x[:, 2].round(3), "y": y})


# ----------------------------------------------------------------------------- finding 7: leakage guards
@pytest.mark.parametrize("name, expected", [
    ("id", True), ("ID", True), ("student_id", True), ("id_student", True), ("studentId", True),
    ("StudentID", True), ("sourcedId", True), ("Student Number", True),
    ("paid", False), ("valid", False), ("Fedu", False), ("grid_x", False), ("kid_count", False), ("G3", False),
])
def test_id_columns_by_name(name: str, expected: bool) -> None:
    assert risk.is_id_name(name) is expected


def test_integer_or_text_unique_per_row_is_an_id_but_measurements_are_not() -> None:
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"row": rng.permutation(60) + 1000, "code": [f"c{i}" for i in range(60)],
                          "score": rng.normal(size=60), "minutes": rng.integers(0, 5, 60)})
    ids = risk.detect_id_columns(table)
    assert set(ids) == {"row", "code"}                      # float measurement and repeated ints stay
    assert risk.detect_id_columns(table.head(49)) == {}     # too few rows to call uniqueness an ID


def test_derived_target_is_excluded_and_named_and_ids_are_not_features() -> None:
    table = _grades()
    result = risk.evaluate_risk(table, "passed", kinds=("logistic",), fit_final=False, importance=False)
    assert "G3" not in result.spec.features and "id_student" not in result.spec.features
    assert [w["column"] for w in result.warnings] == ["G3"]
    assert "derived" in result.warnings[0]["reason"] and "AUC" in result.warnings[0]["reason"]
    assert result.metrics["roc_auc"] < 0.99                 # before the guard: 1.000 from G3 alone
    assert set(result.spec.features) >= {"studytime", "absences", "failures"}
    assert "sex" in result.spec.audit


def test_leakage_guard_catches_categorical_and_non_monotone_derivations() -> None:
    rng = np.random.default_rng(3)
    n = 400
    x = rng.normal(0, 1, n)
    grade = rng.choice(list("ABCDF"), n)
    y_band = (np.abs(x) > 1).astype(int)                    # not monotone in x: a rank AUC would miss it
    table = pd.DataFrame({"x": x, "grade": grade, "other": rng.normal(size=n)})
    splits = risk.make_splits(table, y_band, risk.select_features(table, []), "kfold")[1]
    assert risk.univariate_auc(table["x"], y_band, splits) >= risk.LEAKAGE_AUC
    assert abs(roc_auc_score(y_band, x) - 0.5) < 0.1
    y_grade = (grade == "F").astype(int)
    assert risk.univariate_auc(table["grade"], y_grade, splits) >= risk.LEAKAGE_AUC
    assert risk.univariate_auc(table["other"], y_grade, splits) < 0.7
    spec = risk.select_features(table, [], y=y_grade)
    assert "grade" not in spec.features and spec.warnings[0][0] == "grade"
    # no false alarm from the leave-fold-out artifact: pairs of rows with opposite outcomes per category
    y_pairs = np.tile([0, 1], 60)
    pairs = pd.Series([f"c{i // 2}" for i in range(120)])
    pair_splits = risk.make_splits(pairs.to_frame("c"), y_pairs, risk.select_features(pairs.to_frame("c"), []),
                                   "kfold")[1]
    assert risk.univariate_auc(pairs, y_pairs, pair_splits) < 0.6


def test_cli_json_names_the_derived_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edtech.cli.parser import main

    path = tmp_path / "grades.csv"
    _grades(200).to_csv(path, index=False)
    assert main(["risk", "evaluate", "--data", str(path), "--target", "passed", "--audit", "school",
                 "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["warnings"] == [{"column": "G3", "reason": out["warnings"][0]["reason"]}]
    assert "G3" not in out["features"] and "id_student" not in out["features"]
    assert out["audit_columns"] == ["school", "sex"] and "school" not in out["features"]
    assert out["roc_auc"] < 0.99


# ----------------------------------------------------------------------------- finding 8: honest recommendation
def test_metrics_are_means_over_three_seeds_with_ranges_and_the_no_information_rate() -> None:
    table = _abc_world()
    result = risk.evaluate_risk(table, "outcome", kinds=("logistic",), fit_final=False, importance=False)
    m = result.metrics
    assert result.n_seeds == 3 and "3 CV seeds" in result.range_kind
    for key in ("roc_auc", "pr_auc", "brier", "accuracy", "precision_at_k", "recall_at_k"):
        low, high = m[f"{key}_range"]
        assert low <= m[key] <= high
    assert m["roc_auc_range"][0] < m["roc_auc_range"][1]   # different fold assignments, different values
    share = table["outcome"].mean()
    assert m["no_information_rate"] == pytest.approx(max(share, 1 - share))
    below = risk.RiskResult(**{**vars(result), "metrics": dict(m, accuracy=m["no_information_rate"] - 0.002)})
    assert "not above the no-information rate" in risk.accuracy_note(below)
    assert "not above the no-information rate" in risk.model_card(below)
    assert risk.accuracy_note(risk.RiskResult(**{**vars(result), "metrics": dict(m, accuracy=0.99)})) == ""


def test_not_recommended_when_the_abc_rule_is_as_good() -> None:
    result = risk.evaluate_risk(_abc_world(), "outcome", kinds=("logistic",), fit_final=False, importance=False)
    assert result.recommended is False
    assert result.recommendation_note.startswith("not recommended: against the ABC rule")
    assert "ABC rule" in risk.recommendation_headline(result)
    summary = risk.result_summary(result)
    assert summary["recommended"] is False and set(summary["baselines"]) == {"abc_rule", "school_only"}
    for metric in ("pr_auc", "precision_at_k", "brier"):
        c = summary["comparisons"]["abc_rule"][metric]
        assert c["range"][0] <= c["difference"] <= c["range"][1]


def test_no_computable_baseline_means_not_assessed() -> None:
    result = risk.evaluate_risk(_signal_only(), "y", kinds=("logistic",), fit_final=False, importance=False)
    summary = risk.result_summary(result)
    assert summary["recommended"] is None and summary["baselines"] == {}
    assert summary["recommendation_note"].startswith("not assessed against a simple rule")
    assert set(summary["baselines_not_computed"]) == {"abc_rule", "school_only"}
    assert risk.recommendation_headline(result).startswith("Not assessed against a simple rule")
    assert "beats" not in risk.model_card(result)


def test_recommendation_rule_needs_every_metric_beyond_its_spread() -> None:
    passing = risk.compare_difference(0.05, 0.04, 0.06)        # +0.05, spread 0.02
    within = risk.compare_difference(0.01, 0.0, 0.03)          # favours the model, but by less than the spread
    worse = risk.compare_difference(-0.002, -0.003, -0.001)
    assert passing["passes"] and not within["passes"] and within["favours_model"] and not worse["favours_model"]
    good = {"pr_auc": passing, "precision_at_k": passing, "brier": passing}
    assert risk.recommendation({"abc_rule": good}, {}, "the spread")[0] is True
    verdict, note = risk.recommendation({"abc_rule": good, "school_only": {**good, "brier": worse}}, {}, "the spread")
    assert verdict is False and note == ("not recommended: against the school-only model, Brier score is worse "
                                         "(paired difference -0.002)")
    verdict, note = risk.recommendation({"abc_rule": {**good, "precision_at_k": within}}, {}, "the spread")
    assert verdict is False and "precision at k is better by only +0.010, not more than the spread (0.030)" in note
    assert risk.recommendation({}, {"abc_rule": "no column"}, "x")[0] is None


def test_temporal_validation_uses_a_bootstrap_interval() -> None:
    rng = np.random.default_rng(8)
    cohorts = []
    for as_of, shift in (("2024-01-31", 0.0), ("2025-01-31", 0.2)):
        n = 300
        attendance = np.clip(rng.normal(0.92, 0.05, n), 0.6, 1).round(3)
        gpa = np.clip(rng.normal(2.9, 0.6, n), 0, 4).round(2)
        logit = -1.2 - 20 * (attendance - 0.92) - 1.2 * (gpa - 2.9) + shift
        cohorts.append(pd.DataFrame({"student_id": [f"{as_of[:4]}-{i}" for i in range(n)], "as_of": pd.Timestamp(as_of),
                                     "school_id": rng.choice(["N", "S"], n), "attendance_rate": attendance,
                                     "gpa": gpa, "y": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)}))
    result = risk.evaluate_risk(pd.concat(cohorts, ignore_index=True), "y", kinds=("logistic",), fit_final=False,
                                importance=False)
    assert result.validation.startswith("temporal") and "200 resamples" in result.range_kind
    assert result.n_seeds == 1 and result.metrics["n"] == 300
    for key in ("roc_auc", "brier", "precision_at_k"):
        low, high = result.metrics[f"{key}_range"]
        assert low < result.metrics[key] < high
    assert result.recommended in (True, False)
    low, high = result.comparisons["abc_rule"]["brier"]["range"]
    assert low < result.comparisons["abc_rule"]["brier"]["difference"] < high


def test_weighted_metrics_match_scikit_learn_with_unit_weights() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 500)
    p = np.round(np.clip(0.3 * y + rng.random(500) * 0.7, 0, 1), 1)   # heavy ties
    rank = rng.integers(0, 3, 500).astype(float)
    got = risk.weighted_metrics(y, p, np.ones((2, 500)), k=0.1, rank_scores=rank)
    want = risk.classification_metrics(y, p, k=0.1, rank_scores=rank)
    assert got["roc_auc"][0] == pytest.approx(roc_auc_score(y, p))
    assert got["pr_auc"][1] == pytest.approx(average_precision_score(y, p))
    for key in ("brier", "log_loss", "accuracy", "precision_at_k", "recall_at_k"):
        assert got[key][0] == pytest.approx(want[key]), key
    # a resample that draws row 0 twice and drops row 1 equals the metric on that resampled table
    counts = np.ones(500)
    counts[0], counts[1] = 2, 0
    rows = np.r_[0, 0, np.arange(2, 500)]
    assert risk.weighted_metrics(y, p, counts[None, :])["roc_auc"][0] == pytest.approx(roc_auc_score(y[rows], p[rows]))


# ----------------------------------------------------------------------------- finding 9: audit-only subgroups
@pytest.mark.parametrize("name", ["race", "Race/Ethnicity", "ethnicity", "gender", "sex", "frl", "ell", "iep",
                                  "disability", "has_disability", "nationality", "age_band", "ageBand", "imd_band",
                                  "deprivation_index", "home_language", "ell_status"])
def test_subgroup_names_are_audit_only(name: str) -> None:
    assert risk.is_subgroup_name(name)


@pytest.mark.parametrize("name", ["age", "studytime", "school", "address", "grade_level", "attendance_rate", "paid",
                                  "region", "absences"])
def test_ordinary_columns_are_not_subgroups(name: str) -> None:
    assert not risk.is_subgroup_name(name)


def test_oulad_style_subgroups_and_user_marked_columns_stay_out_of_the_model() -> None:
    rng = np.random.default_rng(6)
    n = 200
    table = pd.DataFrame({"id_student": np.arange(n), "disability": rng.choice(["Y", "N"], n),
                          "nationality": rng.choice(["UK", "IE", "FR"], n), "age_band": rng.choice(["0-35", "35-55"], n),
                          "imd_band": rng.choice(["0-10%", "10-20%", "90-100%"], n), "region": rng.choice(list("ABCD"), n),
                          "studied_credits": rng.integers(30, 120, n), "x": rng.normal(size=n)})
    y = (rng.random(n) < 1 / (1 + np.exp(-table["x"]))).astype(int)
    spec = risk.select_features(table, [], audit=["Region"], y=y)
    assert set(spec.audit) == {"disability", "nationality", "age_band", "imd_band", "region"}
    assert set(spec.features) == {"studied_credits", "x"}
    with pytest.raises(risk.RiskInputError, match="--audit column 'nope'"):
        risk.select_features(table, [], audit=["nope"])


# ----------------------------------------------------------------------------- configured suppression threshold
def test_fairness_uses_the_configured_suppression_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    from edtech.core import config

    y = np.r_[np.ones(20), np.zeros(80), np.ones(20), np.zeros(80), np.ones(3), np.zeros(12)].astype(int)
    flagged = np.r_[np.ones(20), np.zeros(80), np.ones(20), np.zeros(80), np.ones(15)].astype(bool)
    audit = pd.DataFrame({"race": ["A"] * 100 + ["B"] * 100 + ["C"] * 15})
    table = risk.fairness_table(audit, y, flagged)
    assert table.loc[table["group"] == "C", "n"].iloc[0] == 15       # default threshold 10
    monkeypatch.setattr(config, "SUPPRESS_MIN", 20)
    table = risk.fairness_table(audit, y, flagged)
    assert table.loc[table["group"] == "C", "n"].iloc[0] == "<20"
    result = risk.evaluate_risk(_abc_world(200).assign(gender=["F", "M"] * 100), "outcome", kinds=("logistic",),
                                fit_final=False, importance=False)
    assert result.suppression_min == 20 and "under 20 students" in risk.model_card(result)


# ----------------------------------------------------------------------------- issue 10 item 5: the estimator
def test_risk_model_is_a_scikit_learn_estimator() -> None:
    table = _abc_world(200)
    X, y = table[["attendance_rate", "course_failures", "school_id"]], table["outcome"]
    model = risk.RiskModel(kind="logistic", categorical=("school_id",))
    with pytest.raises(NotFittedError):
        model.predict_proba(X)
    assert not [a for a in vars(model) if a.endswith("_")]                # __init__ only stores parameters
    assert model.get_params() == {"kind": "logistic", "numeric": None, "categorical": ("school_id",),
                                  "random_state": 0, "calibration_folds": 3}
    assert model.fit(X, y) is model
    fitted = {a for a in vars(model) if a.endswith("_")}
    assert {"pipeline_", "calibrator_", "classes_", "features_", "n_features_in_"} <= fitted
    p = model.predict_proba(X)
    assert p.shape == (200, 2) and np.allclose(p.sum(axis=1), 1)
    assert set(model.predict(X)) <= {0, 1}
    twin = clone(model)
    with pytest.raises(NotFittedError):
        twin.predict_proba(X)
    assert np.allclose(twin.fit(X, y).predict_proba(X), p)                  # deterministic given random_state
    arrays = risk.RiskModel(kind="hgb").fit(np.random.default_rng(0).normal(size=(120, 3)), np.tile([0, 1], 60))
    assert arrays.predict_proba(np.zeros((2, 3))).shape == (2, 2)


def test_build_risk_pipeline_returns_unfitted_pipelines_with_the_cheap_design() -> None:
    small_hgb = risk.build_risk_pipeline("hgb", ["a"], ["b"], n_rows=500)
    large_hgb = risk.build_risk_pipeline("hgb", ["a"], ["b"], n_rows=30_000)
    large_lr = risk.build_risk_pipeline("logistic", ["a"], ["b"], n_rows=30_000)
    with pytest.raises(NotFittedError):
        small_hgb.predict_proba(pd.DataFrame({"a": [1.0], "b": ["x"]}))
    assert not small_hgb[-1].early_stopping and large_hgb[-1].early_stopping      # finding 10
    assert large_lr[-1].cv == 3 and risk.build_risk_pipeline("logistic", ["a"], [], n_rows=500)[-1].cv == 5
    assert risk.IMPORTANCE_ROWS <= 2000


def test_yes_no_words_agree_with_the_importer() -> None:
    from edtech.ingest import parsing

    assert risk.TRUE_WORDS == parsing.TRUE_WORDS and risk.FALSE_WORDS == parsing.FALSE_WORDS


def test_bundles_stored_before_the_estimator_still_score() -> None:
    """Model versions saved by v1 hold {"pipeline", "calibrator", "features"}; the report must still score them."""
    table = _abc_world(200)
    result = risk.evaluate_risk(table, "outcome", kinds=("logistic",), importance=False)
    fitted = result.model
    legacy = {"pipeline": fitted.pipeline_, "calibrator": fitted.calibrator_, "kind": "logistic",
              "features": list(fitted.features_)}
    new = risk.score_students(fitted, table, result.spec, with_reasons=False)
    old = risk.score_students(legacy, table, result.spec, with_reasons=False)
    assert np.allclose(new["risk"], old["risk"])
