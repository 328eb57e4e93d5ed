"""A stored at-risk model version: skops bytes signed with the server secret, loaded only when genuine.

Storing: `dumps(bundle)` serializes the bundle ({"model": RiskModel, "kind", "features", "target",
"spec"}) with skops, checks that it holds only allowed types (so a model that could not be loaded
later is refused at training time, not when the board opens its report) and signs it:
HMAC-SHA256 under `derived_secret("model-artifact")` (EDTECH_SECRET_KEY, else data/.secret_key).

Loading: `loads(artifact, signature)` checks, in this order, before skops builds anything:
1. the signature (`hmac.compare_digest`): unsigned, altered or signed under another server's key
   -> refused without reading the bytes at all;
2. every type named anywhere in the artifact's schema is in `ALLOWED_TYPES`: the EXACT set of types
   the risk capability's own candidates produce (found by fitting every candidate model and its
   calibration on a small frame with numeric, categorical and missing values: `fitted_types()`,
   which a test compares with the constant, so the set cannot drift). Nothing is trusted by prefix:
   `builtins.exec`, `FunctionTransformer` or any other scikit-learn class we never store is refused.

After a scikit-learn / skops upgrade or a model change, `tests/test_model_artifacts.py` fails and shows
the regenerated constant (`allowlist_source(fitted_types())`): review the difference before pasting it.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import warnings
import zipfile
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from edtech.core import secret_key
from edtech.risk import model as risk


def _skops() -> Any:
    """skops.io, imported on first use: its import scans scikit-learn's modules (seconds), and a page that
    reads a stored worklist never loads or saves a model."""
    import skops.io as sio

    return sio

SIGNING_PURPOSE = "model-artifact"
# bound into the MAC, so a signature made for anything else under the same secret never verifies
_DOMAIN = b"edtech-compass/model-artifact/v1\n"

# Every type a stored model version may contain: the union over the candidates (logistic, HGB; the
# small- and large-table designs), their Platt calibration and the preprocessing (impute + scale,
# codes + one-hot with rare levels pooled, missing indicators), on numeric, categorical and missing
# values. tests/test_model_artifacts.py regenerates it with `fitted_types()` and requires equality.
ALLOWED_TYPES: frozenset[str] = frozenset({
    "builtins.dict",
    "builtins.int",
    "builtins.list",
    "builtins.slice",
    "builtins.str",
    "builtins.tuple",
    "edtech.risk.model.RiskModel",
    "edtech.risk.model.neg_log_loss_linear",
    "numpy.dtype",
    "numpy.float64",
    "numpy.ndarray",
    "numpy.random._generator.Generator",
    "numpy.uint64",
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.impute._base.MissingIndicator",
    "sklearn.impute._base.SimpleImputer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._logistic.LogisticRegressionCV",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._encoders.OrdinalEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
})

RETRAIN_HINT = ("retrain it: python -m edtech risk train --target EXPR, then publish the new version: "
                "python -m edtech risk publish VERSION")


class ModelArtifactRefused(Exception):
    """A stored model version that is unsigned, altered, signed under another key or holds types we never
    store. Shown to the user as is (the CLI exits 3; the board report says there is no usable model)."""

    def __init__(self, reason: str, version: int | None = None) -> None:
        self.reason = reason
        self.version = version
        which = f"model version {version}" if version is not None else "the model artifact"
        super().__init__(f"{which} was stored by an older version of EdTech Compass or altered ({reason}); "
                         f"{RETRAIN_HINT}")


# ------------------------------------------------------------------------------------ signing
def _key() -> bytes:
    return secret_key.derived_secret(SIGNING_PURPOSE).encode()


def sign(artifact: bytes) -> str:
    """Hex HMAC-SHA256 of the artifact under the server's artifact-signing secret."""
    return hmac.new(_key(), _DOMAIN + bytes(artifact), hashlib.sha256).hexdigest()


def verify(artifact: bytes, signature: str | None) -> None:
    """Raise ModelArtifactRefused unless `signature` is this server's signature of exactly these bytes."""
    if not signature:
        raise ModelArtifactRefused("it is not signed")
    if not hmac.compare_digest(sign(artifact).encode(), str(signature).strip().encode()):
        raise ModelArtifactRefused("its signature does not match: altered, or signed under another server key")


# ------------------------------------------------------------------------------------ types
def _schema_nodes(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "__class__" in node or "__module__" in node or "__loader__" in node:
            yield node
        for value in node.values():
            yield from _schema_nodes(value)
    elif isinstance(node, list):
        for value in node:
            yield from _schema_nodes(value)


def artifact_types(artifact: bytes) -> set[str]:
    """Every type name the artifact's skops schema mentions (`module.class`; a bound method also as
    `module.class.method`), read as plain JSON: nothing is imported or constructed."""
    try:
        with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ModelArtifactRefused(f"it is not a readable model artifact: {exc}") from exc
    names: set[str] = set()
    for node in _schema_nodes(schema):
        name = f"{node.get('__module__')}.{node.get('__class__')}"
        names.add(name)
        if node.get("__loader__") == "MethodNode":
            names.add(f"{name}.{(node.get('content') or {}).get('func')}")
    return names


def refused_types(artifact: bytes) -> list[str]:
    """Types in the artifact that are not exactly on the allowlist (empty = all allowed)."""
    return sorted(artifact_types(artifact) - ALLOWED_TYPES)


# ------------------------------------------------------------------------------------ the bundle
def bundle_for(model: risk.RiskModel, kind: str, target: str, spec: risk.FeatureSpec) -> dict[str, Any]:
    """The stored object: the fitted RiskModel + the feature spec as plain values."""
    return {"model": model, "kind": kind, "features": risk.model_features(model), "target": target,
            "spec": {"numeric": list(spec.numeric), "categorical": list(spec.categorical),
                     "id_column": spec.id_column, "audit": list(spec.audit), "cohort": spec.cohort,
                     "school": spec.school, "target_columns": list(spec.target_columns)}}


def spec_from_bundle(bundle: dict[str, Any]) -> risk.FeatureSpec:
    s = bundle["spec"]
    return risk.FeatureSpec(numeric=tuple(s["numeric"]), categorical=tuple(s["categorical"]),
                            id_column=s["id_column"], audit=tuple(s["audit"]), cohort=s["cohort"],
                            school=s["school"], target_columns=tuple(s["target_columns"]))


def dumps(bundle: dict[str, Any]) -> tuple[bytes, str]:
    """(skops bytes, signature). Refuses (ValueError) a bundle holding a type outside the allowlist:
    such a version could never be loaded, so it must not be stored."""
    artifact = _skops().dumps(bundle)
    outside = refused_types(artifact)
    if outside:
        raise ValueError(f"the model holds types outside the artifact allowlist {outside}: if the model code "
                         "changed on purpose, regenerate ALLOWED_TYPES (see tests/test_model_artifacts.py)")
    return artifact, sign(artifact)


def loads(artifact: bytes, signature: str | None) -> dict[str, Any]:
    """The bundle, after the signature and then every type are checked (ModelArtifactRefused otherwise).
    skops parses nothing before the signature has been verified."""
    artifact = bytes(artifact)
    verify(artifact, signature)
    outside = refused_types(artifact)
    # skops' own audit as a second opinion: whatever it does not trust by default must be allowed too
    untrusted = _skops().get_untrusted_types(data=artifact) if not outside else []
    outside += sorted(set(untrusted) - ALLOWED_TYPES)
    if outside:
        raise ModelArtifactRefused(f"it holds types that are not allowed: {', '.join(outside)}")
    bundle = _skops().loads(artifact, trusted=untrusted)
    if not isinstance(bundle, dict) or not isinstance(bundle.get("model"), risk.RiskModel):
        raise ModelArtifactRefused("it does not hold an at-risk model")
    return bundle


# ------------------------------------------------------------------------------------ the allowlist
def _type_frame(n: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray, risk.FeatureSpec]:
    """A small student table as the model sees it: numeric values (some missing, one column never
    recorded), text levels (some blank, one rare enough to be pooled) through `feature_frame`, plus a
    text column holding real NaN for blanks (what `feature_frame` documents), and a 0/1 target."""
    rng = np.random.default_rng(seed)
    attendance = rng.uniform(0.6, 1.0, n)
    failures = rng.poisson(0.5, n).astype(float)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-1.0 + 3.0 * (0.9 - attendance) + failures)))).astype(int)
    attendance[::7] = np.nan
    program = rng.choice(["general", "honors", "career", "rare"], n, p=[0.45, 0.3, 0.24, 0.01]).astype(object)
    program[::5] = None
    table = pd.DataFrame({"student_id": [f"s{i}" for i in range(n)], "attendance_rate": attendance,
                          "course_failures": failures, "never_recorded": np.nan,
                          "program": pd.Series(program, dtype="str")})
    spec = risk.FeatureSpec(numeric=("attendance_rate", "course_failures", "never_recorded"),
                            categorical=("program", "transport"), id_column="student_id", audit=(),
                            cohort=None, school=None, target_columns=("y",))
    X = risk.feature_frame(table, spec)
    transport = rng.choice(["bus", "walk", "car"], n).astype(object)
    transport[::6] = np.nan
    X["transport"] = transport
    return X, y, spec


def fitted_types() -> frozenset[str]:
    """The union of the types in the stored bundle of every candidate the risk capability can produce:
    each model kind (`MODEL_KINDS`) x the small- and large-table design (up to / above `SMALL_ROWS`
    rows), calibrated on its own cross-fitted scores (small) or on given out-of-fold scores (large, as
    the final model of `evaluate_risk` is). Numeric-only or text-only feature sets give subsets."""
    found: set[str] = set()
    for n_rows in (120, risk.SMALL_ROWS + 100):
        X, y, spec = _type_frame(n_rows)
        # large design: given out-of-fold scores (their values do not matter here, only the types)
        honest = None if n_rows <= risk.SMALL_ROWS else np.clip(y * 0.6 + 0.2, 0, 1)
        for kind in risk.MODEL_KINDS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = risk.build_risk_model(kind, spec).fit(X, y, calibration_scores=honest,
                                                              calibration_y=None if honest is None else y)
            found |= artifact_types(_skops().dumps(bundle_for(model, kind, "y", spec)))
    return frozenset(found)


def allowlist_source(types: frozenset[str]) -> str:
    """`types` written as the ALLOWED_TYPES constant (the allowlist test shows it when the set drifts)."""
    return "ALLOWED_TYPES: frozenset[str] = frozenset({\n" + "".join(f'    "{t}",\n' for t in sorted(types)) + "})"
