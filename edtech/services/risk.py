"""Use case "which students need support?" (page `app_pages/at_risk.py`, CLI `risk ...`).

- `evaluate_file`: cross-validated model on any student table file (CLI `risk evaluate`).
- `train_district`: student feature table from the database -> evaluation + final model;
  `save_version` stores it (metrics, data fingerprint, model card, skops artifact).
- `score_district`: a stored (or freshly trained) model scores the students with reasons.
- `bench_risk`: training time on a large sample district; `bench_risk_evaluate`: `risk evaluate`
  on a 30,000-row, 20-feature table beside a plain scikit-learn HGB 5-fold run (the floor).

`READS` names the data parts a trained district model depends on: caches key trained models on
the versions of these parts only, so saving weights, a scenario, a dry-run import or a model
version never retrains.

Artifacts are written with skops and read back only after checking that every type they
contain is on an allowlist (scikit-learn / numpy / builtins and our own estimator): never pickle.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio
from sqlalchemy.engine import Engine

from edtech.core.district import District
from edtech.risk import model as risk
from edtech.store import data

DEFAULT_DISTRICT_TARGET = "off_track_next_term"
# what the command line needs of the risk capability (it imports only services)
DEFAULT_K = risk.DEFAULT_K
RiskInputError = risk.RiskInputError
format_with_range = risk.format_with_range
result_summary = risk.result_summary
# the tables `student_feature_table` reads (schools: a scope is a set of schools)
READS = ("table:students", "table:indicators", "table:schools", "table:usage", "table:assessments")
# type-name prefixes a stored model may contain, plus our estimator and its C-search scorer by exact
# name; anything else is refused at load time
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.", "scipy.sparse.")
TRUSTED_TYPES = (f"{risk.RiskModel.__module__}.{risk.RiskModel.__qualname__}",
                 f"{risk.neg_log_loss_linear.__module__}.{risk.neg_log_loss_linear.__qualname__}")

Progress = Callable[[float, str], None]


# ------------------------------------------------------------------------------------ use cases
def read_student_file(path: str | Path) -> pd.DataFrame:
    """Any student table (CSV with any delimiter, xlsx, parquet) as text columns."""
    try:
        return data.read_raw_table(path)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - unreadable file = rejected input
        raise risk.RiskInputError(f"cannot read {path}: {exc}") from exc


def evaluate_file(path: str | Path, target: str, *, exclude: list[str] | None = None,
                  audit: list[str] | None = None, k: float = risk.DEFAULT_K, validation: str = "auto",
                  progress: Progress | None = None) -> risk.RiskResult:
    """`risk evaluate`: guards, repeated CV, baselines and fairness on any student table file."""
    table = read_student_file(path)
    return risk.evaluate_risk(table, target, exclude=exclude or [], audit=audit or [], k=k, validation=validation,
                              fit_final=False, progress=progress)


@dataclass
class TrainedRisk:
    """A district model: the evaluation, the student table it came from, and its card."""

    result: risk.RiskResult
    table: pd.DataFrame
    card: str


def district_table(district: District) -> pd.DataFrame:
    return risk.student_feature_table(district)


def train_district(district: District, target: str = DEFAULT_DISTRICT_TARGET, *, k: float = risk.DEFAULT_K,
                   validation: str = "auto", exclude: list[str] | None = None, audit: list[str] | None = None,
                   progress: Progress | None = None) -> TrainedRisk:
    """Evaluate on the district's students and fit the final model on all labelled rows."""
    table = district_table(district)
    if table.empty:
        raise risk.RiskInputError("no early-warning indicators in the database; import indicators first")
    result = risk.evaluate_risk(table, target, exclude=exclude or [], audit=audit or [], k=k, validation=validation,
                                progress=progress)
    card = risk.model_card(result, data_name=f"district database ({len(table)} indicator rows)")
    return TrainedRisk(result=result, table=table, card=card)


def model_bundle(result: risk.RiskResult) -> dict[str, Any]:
    """The stored artifact: the fitted RiskModel + the feature spec as plain values."""
    if result.model is None:
        raise ValueError("the result has no fitted model (fit_final=False)")
    spec = result.spec
    return {"model": result.model, "kind": result.model_kind, "features": risk.model_features(result.model),
            "target": result.target,
            "spec": {"numeric": list(spec.numeric), "categorical": list(spec.categorical),
                     "id_column": spec.id_column, "audit": list(spec.audit), "cohort": spec.cohort,
                     "school": spec.school, "target_columns": list(spec.target_columns)}}


def spec_from_bundle(bundle: dict[str, Any]) -> risk.FeatureSpec:
    s = bundle["spec"]
    return risk.FeatureSpec(numeric=tuple(s["numeric"]), categorical=tuple(s["categorical"]),
                            id_column=s["id_column"], audit=tuple(s["audit"]), cohort=s["cohort"],
                            school=s["school"], target_columns=tuple(s["target_columns"]))


def dumps_model(result: risk.RiskResult) -> bytes:
    return sio.dumps(model_bundle(result))


def loads_model(artifact: bytes) -> dict[str, Any]:
    """Load a skops artifact after checking every type it holds against the allowlist."""
    untrusted = sio.get_untrusted_types(data=artifact)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES) and t not in TRUSTED_TYPES]
    if refused:
        raise ValueError(f"model artifact holds types that are not trusted: {refused}")
    return sio.loads(artifact, trusted=untrusted)


def save_version(engine: Engine, trained: TrainedRisk) -> int:
    result = trained.result
    return data.save_model_version(
        engine, target=result.target, model_name=result.model_kind,
        metrics=json.loads(json.dumps(json_ready(risk.result_summary(result)), default=json_default)),
        fingerprint=result.fingerprint, card=trained.card, artifact=dumps_model(result))


def latest_cohort(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of the most recent `as_of` (the students to act on now)."""
    if "as_of" in table.columns and table["as_of"].notna().any():
        return table[table["as_of"] == table["as_of"].max()]
    return table


def score_table(bundle: dict[str, Any], table: pd.DataFrame, k: float = risk.DEFAULT_K,
                with_reasons: bool = True) -> pd.DataFrame:
    """Risk, rank, flag and reasons for the latest cohort of a student table."""
    current = latest_cohort(table)
    return risk.score_students(bundle, current, spec_from_bundle(bundle), k=k, with_reasons=with_reasons)


def score_district(engine: Engine, version_id: int | None = None, k: float = risk.DEFAULT_K,
                   scope: frozenset[str] | None = None) -> pd.DataFrame:
    versions = data.list_model_versions(engine)
    if versions.empty:
        raise risk.RiskInputError("no stored model version; run `python -m edtech risk train --target EXPR` first")
    version_id = int(versions["id"].iloc[0]) if version_id is None else int(version_id)
    bundle = loads_model(data.load_model_artifact(engine, version_id))
    table = district_table(data.load_district(engine, scope))
    if table.empty:
        raise risk.RiskInputError("no early-warning indicators in the database")
    scored = score_table(bundle, table, k=k)
    scored.insert(0, "model_version", version_id)
    return scored


def bench_risk(n_students: int = 50000, seed: int = 2025) -> dict[str, Any]:
    """Time training (5-fold CV of both candidates, baselines, importance, final fit) at scale."""
    from edtech.sample.generate import generate_district, oracle_auc

    t0 = time.perf_counter()
    sample = generate_district(n_students, seed)
    t1 = time.perf_counter()
    table = district_table(sample.district)
    t2 = time.perf_counter()
    result = risk.evaluate_risk(table, DEFAULT_DISTRICT_TARGET)
    t3 = time.perf_counter()
    return {"n_students": n_students, "generate_s": round(t1 - t0, 2), "feature_table_s": round(t2 - t1, 2),
            "train_s": round(t3 - t2, 2), "model": result.model_kind, "roc_auc": round(result.metrics["roc_auc"], 4),
            "oracle_auc": round(oracle_auc(sample), 4), "precision_at_k": round(result.metrics["precision_at_k"], 4),
            "abc_precision_at_k": result.baselines["abc_rule"].get("precision_at_k")}


def bench_table(n_rows: int = 30_000, n_features: int = 20, seed: int = 2025) -> tuple[pd.DataFrame, str]:
    """A seeded synthetic student table: `n_features` feature columns (ABC-style indicators, usage,
    scores, 4 categorical, the rest noise) + student_id, school_id, gender, race_ethnicity and a 0/1
    `failed_next_term` from a planted logistic model with school effects. Returns (table, target)."""
    if n_features < 12:
        raise ValueError("the bench table has at least 12 feature columns")
    rng = np.random.default_rng(seed)
    n = n_rows
    school = rng.integers(0, 40, n)
    attendance = np.clip(rng.beta(18, 1.5, n), 0.4, 1.0)
    failures = rng.poisson(0.35, n)
    gpa = np.clip(rng.normal(2.9, 0.7, n) - 0.3 * failures, 0, 4)
    suspensions = rng.poisson(0.08, n)
    incidents = rng.poisson(0.5, n)
    score = rng.normal(0, 1, n) + 0.6 * (gpa - 2.9)
    features: dict[str, Any] = {
        "attendance_rate": attendance.round(3), "course_failures": failures, "gpa": gpa.round(2),
        "suspensions": suspensions, "behavior_incidents": incidents,
        "credits_earned": np.clip(rng.normal(6, 1.2, n) - 0.8 * failures, 0, None).round(1),
        "usage_minutes": rng.gamma(2.0, 300, n).round(0), "score_math": score.round(2),
        "grade_level": rng.integers(6, 13, n),
        "program": rng.choice(["general", "honors", "career", "esl", "other"], n),
        "transport": rng.choice(["bus", "walk", "car"], n), "track": rng.choice([f"t{i}" for i in range(8)], n),
    }
    for j in range(n_features - len(features)):
        features[f"x{j + 1}"] = rng.normal(0, 1, n).round(3)
    noise = features.get("x1", np.zeros(n))
    logit = (-1.6 - 14 * (attendance - 0.92) + 0.7 * failures - 0.6 * (gpa - 2.9) + 0.8 * suspensions
             + 0.15 * incidents - 0.2 * score + rng.normal(0, 0.3, 40)[school] + 0.3 * noise)
    table = pd.DataFrame({
        "student_id": [f"S{i:06d}" for i in range(n)], "school_id": [f"SCH{s:02d}" for s in school],
        "gender": rng.choice(["F", "M"], n),
        "race_ethnicity": rng.choice(["Asian", "Black", "Hispanic", "White", "Multiracial"], n,
                                     p=[0.1, 0.2, 0.3, 0.35, 0.05]),
        **features,
        "failed_next_term": (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int),
    })
    return table, "failed_next_term"


def _hgb_floor_seconds(table: pd.DataFrame, features: list[str], target: str, one_thread: bool) -> float:
    """Plain scikit-learn: HistGradientBoostingClassifier() 5-fold cross_val_score on the same table."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score
    from threadpoolctl import threadpool_limits

    X = table[features].copy()
    for col in X.columns:
        if not pd.api.types.is_numeric_dtype(X[col]):
            X[col] = X[col].astype("category")  # HGB's native categorical support
    started = time.perf_counter()
    with threadpool_limits(limits=1 if one_thread else None):
        cross_val_score(HistGradientBoostingClassifier(random_state=0), X, table[target], cv=5, scoring="roc_auc")
    return time.perf_counter() - started


def bench_risk_evaluate(n_rows: int = 30_000, n_features: int = 20, seed: int = 2025,
                        default_threads_floor: bool = True) -> dict[str, Any]:
    """`risk evaluate` (CSV read, guards, nested model choice, calibration, 3 CV seeds, baselines,
    fairness, permutation importance) timed on a synthetic table, beside the floor: plain
    scikit-learn HGB 5-fold `cross_val_score` on the same rows and features. The floor is the faster
    of default threads and one thread (on a busy 2-core machine OpenMP's default can be the slower),
    so `ratio` is never flattered by a slow floor (`default_threads_floor=False` skips the default-threads
    run, which can take minutes on a busy machine). Data contract v2 `bench` key `risk_evaluate`."""
    table, target = bench_table(n_rows, n_features, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench_students.csv"
        table.to_csv(path, index=False)
        started = time.perf_counter()
        result = evaluate_file(path, target)
        seconds = time.perf_counter() - started
    features = [c for c in table.columns if c not in ("student_id", "school_id", "gender", "race_ethnicity", target)]
    floor_one = _hgb_floor_seconds(table, features, target, one_thread=True)
    floor_default = _hgb_floor_seconds(table, features, target, one_thread=False) if default_threads_floor else None
    floor = min(floor_one, floor_default or floor_one)
    return {"seconds": round(seconds, 2), "hgb_floor_s": round(floor, 2), "ratio": round(seconds / floor, 2),
            "hgb_floor_one_thread_s": round(floor_one, 2),
            "hgb_floor_default_threads_s": None if floor_default is None else round(floor_default, 2),
            "n_rows": n_rows, "n_features": len(features), "model": result.model_kind, "n_seeds": result.n_seeds,
            "roc_auc": round(result.metrics["roc_auc"], 4), "recommended": result.recommended}


def json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return str(value)


def json_ready(value: Any) -> Any:
    """Plain JSON values: NaN/inf become null (json.dumps would write the invalid token NaN), numpy
    scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


