"""At-risk (early-warning) model: pure functions, DataFrames in, DataFrames/dataclasses out.

methods.md §4 (v2). The flow used by the CLI, the services and the page:

    target = parse_target(table, "G3 < 10")             # 0/1 per row (NA where unknown)
    result = evaluate_risk(table, "G3 < 10", k=0.1)      # guards, CV over seeds, baselines, fairness
    scored = score_students(result.model, table, result.spec)   # calibrated risk + 3 reasons

Guards (v2): ID columns (by name, or an integer/text column unique per row on >= 50 rows) and
subgroup columns (race, gender, disability, age band... plus any the user names) never feed the
model; a column that alone predicts the target almost perfectly (univariate out-of-fold AUC
>= 0.98) is treated as derived from it, left out and named in `warnings`.

Every reported metric is out-of-sample: predictions come from stratified K-fold (or temporal,
or school-grouped) cross-validation and are calibrated with Platt scaling fitted on *other*
folds' out-of-fold scores. K-fold metrics are the mean over `n_seeds` (>= 3) repetitions with
different fold assignments, reported with their [min, max]; temporal validation reports the
point value with a 90% bootstrap interval over resamples of the test cohort. The model is
*recommended* only when it beats every computed baseline on PR AUC, precision at k and Brier
score by more than that spread (paired differences on the same folds).

The regularization strength of the logistic model is chosen inside each training fold (nested);
the choice between logistic regression and gradient boosting is made on the first seed's
out-of-fold predictions (k-fold: a mild optimism the model card states) or, for temporal
validation, on inner folds of the training cohorts only.

`RiskModel` is the fitted artifact: a scikit-learn estimator (`fit` returns self, fitted
attributes end in `_`) wrapping the Pipeline that `build_risk_pipeline` builds plus Platt scaling.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from edtech.core import rules
from edtech.core.privacy import suppress_small
from edtech.core.words import FALSE_WORDS, TRUE_WORDS

DEFAULT_K = 0.1
DEFAULT_SEED = 0
N_FOLDS = 5
N_SEEDS = 3                 # repeated CV: metrics are the mean and [min, max] over this many fold assignments
N_BOOTSTRAP = 200           # temporal validation: resamples of the test cohort for the 90% interval
BOOTSTRAP_LEVEL = 0.90
FAIR_LOW, FAIR_HIGH = 0.8, 1.25
SCHOOL_DAYS_ASSUMED = 180  # when only days_absent exists, "10% of days" = 18 days
MODEL_KINDS = ("logistic", "hgb")
SMALL_ROWS = 3000           # up to here: L1 logistic, 5 inner folds; above: L2, 3 inner folds, HGB early stopping
LEAKAGE_AUC = 0.98          # max(AUC, 1 - AUC) of a one-feature out-of-fold model at or above this = derived
ID_MIN_ROWS = 50            # an integer/text column unique per row is an ID only on tables this large
IMPORTANCE_ROWS = 2000      # permutation importance on a subsample of the held-out fold
MODEL_LABELS = {"logistic": "regularized logistic regression (C chosen by inner CV; L1 up to 3,000 rows, else L2)",
                "hgb": "histogram gradient boosting (early stopping above 3,000 rows)"}
BASELINE_LABELS = {"abc_rule": "ABC rule", "school_only": "school-only model"}
# the three metrics the recommendation is decided on; +1 = higher is better
DECISION_METRICS = (("pr_auc", 1, "PR AUC"), ("precision_at_k", 1, "precision at k"), ("brier", -1, "Brier score"))
METRIC_KEYS = ("roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "precision_at_k", "recall_at_k")
NOT_ASSESSED = "not assessed against a simple rule"
# The contract's yes/no words (the same sets as edtech.ingest.parsing, which a capability may not import;
# tests/test_risk_v2.py checks they agree until the words move to edtech.core).

# Subgroup columns are kept for the fairness audit only (never features unless named in `include`):
# exact normalized names, name tokens, and name fragments.
SUBGROUP_NAMES = frozenset({
    "race", "race_ethnicity", "raceethnicity", "ethnicity", "ethnic_group", "hispanic", "hispanic_latino",
    "gender", "sex", "frl", "free_reduced_lunch", "free_lunch", "lunch_status", "economically_disadvantaged",
    "low_income", "ell", "el", "lep", "english_learner", "iep", "swd", "sped", "special_education",
    "disability", "disabled", "section_504", "nationality", "citizenship", "country_of_birth", "birth_country",
    "immigrant", "immigration_status", "migrant", "homeless", "foster_care", "religion", "home_language",
    "native_language", "first_language", "age_band", "ageband", "age_group", "agegroup", "age_range",
    "deprivation", "deprivation_index", "imd", "imd_band", "imd_decile",
})
_SUBGROUP_TOKENS = frozenset({"race", "ethnicity", "gender", "sex", "frl", "ell", "lep", "iep", "swd", "disability",
                              "disabled", "nationality", "citizenship", "religion", "deprivation", "imd", "migrant",
                              "immigrant", "homeless"})
_SUBGROUP_FRAGMENTS = ("ethnic", "disabil", "nationalit", "deprivation", "age_band", "ageband", "age_group",
                       "free_reduced")
ID_NAMES = ("id", "student_id", "studentid", "sourcedid", "student_number", "student", "local_id", "state_id")
_CAMEL_ID = re.compile(r"[a-z0-9](Id|ID)$")  # studentId, sourcedId, StudentID
SCHOOL_NAMES = ("school_id", "school", "school_name")
COHORT_NAMES = ("as_of",)

_COMPARISON = re.compile(r"^\s*(?P<col>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}
Progress = Callable[[float, str], None]


class RiskInputError(ValueError):
    """The table or the target cannot support a model (CLI exit code 3)."""


# --------------------------------------------------------------------------- columns & target


def normalize_name(name: str) -> str:
    """Column-name matching rule of the data contract: case-insensitive, spaces/-// become _."""
    return re.sub(r"[\s\-/]+", "_", str(name).strip().lower())


def find_column(df: pd.DataFrame, name: str) -> str | None:
    """The column of `df` whose normalized name equals the normalized `name`, if any."""
    wanted = normalize_name(name)
    for col in df.columns:
        if normalize_name(col) == wanted:
            return col
    return None


def _find_any(df: pd.DataFrame, names: Iterable[str]) -> str | None:
    for name in names:
        col = find_column(df, name)
        if col is not None:
            return col
    return None


def coerce_numeric_columns(df: pd.DataFrame, keep_text: Iterable[str] = ()) -> pd.DataFrame:
    """Copy of `df` where text columns whose every non-blank value is a number become float.

    Reads "5", " 5 ", "1,5" is *not* accepted (ambiguous). Columns named in `keep_text` and
    columns named like IDs stay text (IDs are never numbers). Boolean words (yes/no...) become 1.0/0.0.
    """
    out = df.copy()
    keep = {normalize_name(c) for c in keep_text} | set(SCHOOL_NAMES)
    for col in out.columns:
        s = out[col]
        if (normalize_name(col) in keep or is_id_name(col) or pd.api.types.is_numeric_dtype(s)
                or pd.api.types.is_datetime64_any_dtype(s)):
            if pd.api.types.is_bool_dtype(s):
                out[col] = s.astype("Float64").astype("float64")
            continue
        text = s.astype("string").str.strip().str.strip('"').str.strip("'")
        text = text.mask(text == "")
        present = text.dropna()
        if present.empty:
            continue
        as_num = pd.to_numeric(present, errors="coerce")
        if as_num.notna().all():
            out[col] = pd.to_numeric(text, errors="coerce").astype("float64")
            continue
        lowered = present.str.lower()
        if lowered.isin(TRUE_WORDS | FALSE_WORDS).all():
            out[col] = text.str.lower().map(lambda v: 1.0 if v in TRUE_WORDS else (0.0 if v in FALSE_WORDS else np.nan),
                                            na_action="ignore").astype("float64")
    return out


def _binary_column(s: pd.Series, name: str) -> pd.Series:
    """A column holding 0/1, booleans or yes/no words -> Int64 0/1 with NA for blanks."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("Int64")
    if pd.api.types.is_numeric_dtype(s):
        values = set(pd.Series(s).dropna().unique().tolist())
        if not values <= {0, 1}:
            raise RiskInputError(
                f"target column {name!r} holds values other than 0/1 ({sorted(values)[:5]}...); "
                f"use a comparison such as '{name} < 10'")
        return pd.Series(s, dtype="Float64").astype("Int64")
    text = s.astype("string").str.strip().str.lower()
    text = text.mask(text == "")
    bad = text.notna() & ~text.isin(TRUE_WORDS | FALSE_WORDS)
    if bad.any():
        raise RiskInputError(f"target column {name!r} is not binary (e.g. {s[bad].iloc[0]!r}); "
                             f"use a comparison such as '{name} == value'")
    return text.map(lambda v: 1 if v in TRUE_WORDS else 0, na_action="ignore").astype("Int64")


def target_columns(df: pd.DataFrame, expr: str) -> list[str]:
    """Columns of `df` the target expression reads (removed from the features)."""
    m = _COMPARISON.match(expr)
    name = m.group("col") if m else expr.strip()
    col = find_column(df, name)
    if col is None:
        raise RiskInputError(f"target column {name!r} not in the table (columns: {', '.join(map(str, df.columns))})")
    return [col]


def parse_target(df: pd.DataFrame, expr: str) -> pd.Series:
    """Evaluate a target expression on `df`: Int64 Series of 0/1, NA where the input is blank.

    `expr` is a column holding 0/1, booleans or yes/no words, or a comparison
    `COL OP VALUE` with OP in < <= > >= == != (numeric when the column is, else text equality).
    """
    if not isinstance(expr, str) or not expr.strip():
        raise RiskInputError("target expression is empty")
    m = _COMPARISON.match(expr)
    if m is None:
        col = target_columns(df, expr)[0]
        return _binary_column(df[col], col).rename("target")
    col = target_columns(df, expr)[0]
    op, raw_value = m.group("op"), m.group("value").strip().strip('"').strip("'")
    s = df[col]
    number = pd.to_numeric(pd.Series([raw_value]), errors="coerce").iloc[0]
    numeric_col = coerce_numeric_columns(df[[col]])[col]
    if pd.notna(number) and pd.api.types.is_numeric_dtype(numeric_col):
        values = pd.Series(numeric_col, dtype="float64")
        result = _OPS[op](values, float(number))
        return result.astype("Int64").mask(values.isna()).rename("target")
    if op not in ("==", "!="):
        raise RiskInputError(f"cannot compare text column {col!r} with {op} {raw_value!r}")
    text = s.astype("string").str.strip()
    result = (text.str.lower() == raw_value.lower()) if op == "==" else (text.str.lower() != raw_value.lower())
    return result.astype("Int64").mask(text.isna() | (text == "")).rename("target")


# --------------------------------------------------------------------------- column roles


def is_id_name(name: str) -> bool:
    """A column named like an identifier: `id`, `*_id`, `id_*`, camelCase `*Id` or a known ID name."""
    raw = str(name).strip()
    norm = normalize_name(raw)
    return (norm in ID_NAMES or norm.endswith("_id") or norm.startswith("id_")
            or bool(_CAMEL_ID.search(raw)))


def is_subgroup_name(name: str) -> bool:
    """A column naming a protected or equity subgroup (audit-only): race, gender, disability, age band..."""
    norm = normalize_name(name)
    tokens = set(norm.split("_"))
    return (norm in SUBGROUP_NAMES or bool(tokens & _SUBGROUP_TOKENS)
            or any(fragment in norm for fragment in _SUBGROUP_FRAGMENTS))


def _unique_per_row(s: pd.Series) -> bool:
    """An integer or text column with a distinct value on every row of a table of >= ID_MIN_ROWS rows."""
    n = len(s)
    if n < ID_MIN_ROWS or s.isna().any():
        return False
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
        return False
    if pd.api.types.is_numeric_dtype(s):
        values = s.to_numpy(dtype="float64")
        if not (np.isfinite(values).all() and (values == np.round(values)).all()):
            return False  # a measurement with decimals, not an identifier
    return bool(s.nunique() == n)


def detect_id_columns(df: pd.DataFrame) -> dict[str, str]:
    """Every ID column of `df` -> why (named like an ID, or unique per row). Checked on the table as read."""
    found: dict[str, str] = {}
    for col in df.columns:
        if is_id_name(col):
            found[col] = "ID (named like an identifier)"
        elif _unique_per_row(df[col]):
            found[col] = "ID (a distinct integer or text value on every row)"
    return found


def detect_id_column(df: pd.DataFrame, ids: dict[str, str] | None = None) -> str | None:
    """The student identifier (shown beside each score): a known student-ID name, else the first
    column named like an ID that is not the school's, else the first column unique per row."""
    ids = detect_id_columns(df) if ids is None else ids
    named = _find_any(df, ID_NAMES)
    if named is not None:
        return named
    candidates = [c for c in ids if normalize_name(c) not in SCHOOL_NAMES]
    named_first = sorted(candidates, key=lambda c: "named" not in ids[c])
    return named_first[0] if named_first else None


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns feed the model, and which are kept aside (IDs, audit, cohort, dropped)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    id_column: str | None
    audit: tuple[str, ...]
    cohort: str | None
    school: str | None
    target_columns: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason
    warnings: tuple[tuple[str, str], ...] = ()              # (column, reason) the user must see

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def _stratified_splits(y: np.ndarray, seed: int, folds: int = N_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    minority = int(min(y.sum(), len(y) - y.sum()))
    folds = max(2, min(folds, minority))
    return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))


def univariate_auc(values: pd.Series, y: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """How well one column alone predicts the target: the larger of two one-feature models' ROC AUC.

    - Per-category rate, out of fold: each row gets its training folds' target rate for its category
      (numeric columns: per distinct value, or per quantile bin when there are many; blanks are a
      category of their own). Catches categorical and non-monotone derivations (y = |x| > 2).
      Its direction is learned, so its AUC is used as is: an AUC under 0.5 there is the leave-fold-out
      artifact of rare categories, not signal.
    - Numeric columns: the value itself as a score, max(AUC, 1 - AUC) (a threshold in either direction).
    """
    y = np.asarray(y, dtype=int)
    s = values.reset_index(drop=True)
    raw_auc = 0.5
    if pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
        x = pd.Series(s, dtype="Float64").to_numpy(dtype="float64", na_value=np.nan)  # nullable ints/booleans too
        present = ~np.isnan(x)
        if present.all() and len(np.unique(y)) == 2:
            raw = float(roc_auc_score(y, x))
            raw_auc = max(raw, 1 - raw)
        distinct = np.unique(x[present])
        if len(distinct) > 64:
            n_bins = int(min(64, max(10, int(present.sum()) // 10)))
            edges = np.unique(np.quantile(x[present], np.linspace(0, 1, n_bins + 1)[1:-1]))
            key = np.where(present, np.searchsorted(edges, x, side="right"), -1)
        else:
            key = np.where(present, x, np.nan)
        keys = pd.Series(key).astype("string")
    else:
        keys = s.astype("string")
    oof = _oof_group_rate(keys, y, splits, prior_weight=1.0)
    tested = ~np.isnan(oof)
    if len(np.unique(y[tested])) < 2:
        return raw_auc
    return max(float(roc_auc_score(y[tested], oof[tested])), raw_auc)


def select_features(
    df: pd.DataFrame,
    target_cols: Sequence[str],
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    audit: Sequence[str] = (),
    y: np.ndarray | None = None,
    seed: int = DEFAULT_SEED,
) -> FeatureSpec:
    """Every column except the target, IDs, `exclude`, dates and audit-only subgroup columns.

    Subgroup columns (race, gender, disability, nationality, age band, deprivation index... and
    every column named in `audit`) are audit-only unless named in `include`. Constant columns and
    near-unique text are dropped with a reason. When `y` (the 0/1 target of `df`'s rows) is given,
    any remaining column whose one-feature out-of-fold AUC reaches LEAKAGE_AUC is treated as
    derived from the target: dropped and listed in `warnings`.
    """
    def resolve(names: Sequence[str], what: str) -> list[str]:
        cols = []
        for name in names:
            col = find_column(df, name)
            if col is None:
                raise RiskInputError(f"{what} column {name!r} not in the table")
            cols.append(col)
        return cols

    include_norm = {normalize_name(c) for c in include}
    exclude_cols = resolve(exclude, "--exclude")
    audit_cols = resolve(audit, "--audit")
    ids = detect_id_columns(df)
    id_col = detect_id_column(df, ids)
    cohort = _find_any(df, COHORT_NAMES)
    school = _find_any(df, SCHOOL_NAMES)
    numeric: list[str] = []
    categorical: list[str] = []
    audit_only: list[str] = []
    dropped: dict[str, str] = {}
    notes: list[tuple[str, str]] = []
    for col in df.columns:
        norm = normalize_name(col)
        s = df[col]
        if col in target_cols:
            dropped[col] = "target"
        elif col in exclude_cols:
            dropped[col] = "excluded"
        elif col in ids:
            dropped[col] = ids[col]
            if "named" not in ids[col]:
                notes.append((str(col), "has a distinct integer or text value on every row: treated as an ID, "
                                        "not used as a feature"))
        elif col in audit_cols or (is_subgroup_name(col) and norm not in include_norm):
            audit_only.append(col)
        elif col == cohort or pd.api.types.is_datetime64_any_dtype(s):
            dropped[col] = "date"
        elif s.nunique(dropna=True) <= 1:
            dropped[col] = "constant"
        elif pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
        else:
            levels = s.nunique(dropna=True)
            if levels > 50 and levels > 0.5 * s.notna().sum():
                dropped[col] = "near-unique text"
            else:
                categorical.append(col)
    if y is not None and len(np.unique(y)) == 2:
        splits = _stratified_splits(np.asarray(y, dtype=int), seed)
        for col in [*numeric, *categorical]:
            auc = univariate_auc(df[col], np.asarray(y, dtype=int), splits)
            if auc >= LEAKAGE_AUC:
                reason = (f"alone predicts the target almost perfectly (one-feature out-of-fold AUC {auc:.3f} "
                          f">= {LEAKAGE_AUC}): treated as derived from the target and left out")
                dropped[col] = f"derived from the target (one-feature AUC {auc:.3f})"
                notes.append((str(col), reason))
        numeric = [c for c in numeric if c not in dropped]
        categorical = [c for c in categorical if c not in dropped]
    if not numeric and not categorical:
        raise RiskInputError("no feature columns left after removing the target, IDs, audit-only, excluded "
                             "and target-derived columns")
    return FeatureSpec(tuple(numeric), tuple(categorical), id_col, tuple(audit_only), cohort, school,
                       tuple(target_cols), dropped, tuple(notes))


def feature_frame(df: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model's input: numeric columns as float, categorical as object text (NaN for blank)."""
    out = pd.DataFrame(index=df.index)
    for col in spec.numeric:
        s = df[col] if col in df.columns else pd.Series(np.nan, index=df.index)
        out[col] = pd.to_numeric(pd.Series(s, dtype="object") if pd.api.types.is_bool_dtype(s) else s,
                                 errors="coerce").astype("float64")
    for col in spec.categorical:
        s = df[col] if col in df.columns else pd.Series(None, index=df.index, dtype="object")
        text = s.astype("object")
        out[col] = text.where(pd.notna(text), np.nan).map(lambda v: v if v is np.nan else str(v))
    return out


# --------------------------------------------------------------------------- pipelines and the estimator


def build_risk_pipeline(kind: str, numeric: Sequence[str], categorical: Sequence[str],
                        seed: int = DEFAULT_SEED, n_rows: int | None = None) -> Pipeline:
    """Unfitted Pipeline: ColumnTransformer (impute+scale / impute+one-hot) + classifier (raw scores).

    `n_rows` is the size of the table the design is chosen for (default: the rows it is fitted on).
    kind "logistic": regularized logistic regression whose C is chosen by an inner CV on log loss
    (so the choice is nested inside any outer fold). Up to SMALL_ROWS rows: L1 (liblinear), which drops
    noise columns on small tables, 5 inner folds; above: L2 (lbfgs), 30x faster and as good once noise
    averages out, with 3 inner folds and a 5-point C grid (the choice barely matters there).
    kind "hgb": HistGradientBoostingClassifier with conservative leaves; above SMALL_ROWS rows, early
    stopping on a 10% validation split (most of boosting's cost is iterations it does not need).
    """
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True,
                                                       keep_empty_features=True)),
                              ("scale", StandardScaler())])
    # text -> integer codes first (blank = its own code -2, unseen = -1 -> no column), then one-hot with
    # rare levels pooled: counting levels on integer codes is ~3x cheaper than on Python strings
    categorical_steps = Pipeline([("codes", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                                          encoded_missing_value=-2)),
                                  ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=5,
                                                           sparse_output=False))])
    pre = ColumnTransformer([("num", numeric_steps, list(numeric)), ("cat", categorical_steps, list(categorical))],
                            remainder="drop", verbose_feature_names_out=False)
    small = (n_rows or 0) <= SMALL_ROWS
    if kind == "logistic":
        classifier: Any = LogisticRegressionCV(
            Cs=np.logspace(-2, 1, 7) if small else np.logspace(-3, 1, 5),
            l1_ratios=(1.0,) if small else (0.0,), solver="liblinear" if small else "lbfgs",
            scoring=neg_log_loss_linear, cv=5 if small else 3, max_iter=1000, tol=1e-3 if small else 1e-4,
            random_state=seed, use_legacy_attributes=False)
    elif kind == "hgb":
        classifier = HistGradientBoostingClassifier(
            learning_rate=0.1, max_iter=100 if small else 300, max_leaf_nodes=15,
            min_samples_leaf=20, l2_regularization=1.0, early_stopping=not small, validation_fraction=0.1,
            n_iter_no_change=10, random_state=seed)
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")
    return Pipeline([("preprocess", pre), ("classifier", classifier)])


def neg_log_loss_linear(estimator: Any, X: Any, y: Any) -> float:
    """Negative log loss of a fitted binary linear model, computed from its coefficients.

    The scorer of LogisticRegressionCV's C search: the library's "neg_log_loss" re-validates its
    inputs on every call, which cost ~20x the arithmetic (75% of a small table's evaluation time).
    """
    z = np.asarray(X @ np.ravel(estimator.coef_)).ravel() + float(np.ravel(estimator.intercept_)[0])
    positive = (np.asarray(y) == estimator.classes_[-1]).astype("float64")
    return -float(np.mean(np.logaddexp(0.0, z) - positive * z))


def _fit_raw(kind: str, numeric: Sequence[str], categorical: Sequence[str], X: pd.DataFrame, y: np.ndarray,
             seed: int, design_rows: int | None = None) -> Pipeline:
    """Fit one raw-score pipeline; `design_rows` (default len(X)) picks the small/large design, so every
    fold of a table and its final model use the same design."""
    pipe = build_risk_pipeline(kind, numeric, categorical, seed=seed, n_rows=design_rows or len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on tiny folds
        pipe.fit(X, y)
    return pipe


def _platt(scores: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Fit Platt scaling (a 1-D logistic regression on the logit of the raw score)."""
    return LogisticRegression(C=1e4, max_iter=1000).fit(_logit(scores).reshape(-1, 1), y)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _apply_platt(calibrator: LogisticRegression, scores: np.ndarray) -> np.ndarray:
    return calibrator.predict_proba(_logit(scores).reshape(-1, 1))[:, 1]


class RiskModel(ClassifierMixin, BaseEstimator):
    """The at-risk classifier as a scikit-learn estimator: calibrated probabilities of the target.

    `fit(X, y)` fits the Pipeline built by `build_risk_pipeline(kind, numeric, categorical)` on all
    rows, then Platt scaling on honest scores: the out-of-fold raw scores the evaluation passes in
    (`calibration_scores` with their `calibration_y`), else its own `calibration_folds`-fold
    cross-fitted scores. `numeric=None` treats every column that is not `categorical` as numeric.
    """

    def __init__(self, kind: str = "logistic", numeric: Sequence[str] | None = None,
                 categorical: Sequence[str] = (), random_state: int = DEFAULT_SEED,
                 calibration_folds: int = 3) -> None:
        self.kind = kind
        self.numeric = numeric
        self.categorical = categorical
        self.random_state = random_state
        self.calibration_folds = calibration_folds

    def _frame(self, X: Any) -> pd.DataFrame:
        if isinstance(X, pd.DataFrame):
            return X
        array = np.asarray(X)
        return pd.DataFrame(array.reshape(len(array), -1), columns=[f"x{i}" for i in range(array.reshape(
            len(array), -1).shape[1])])

    def fit(self, X: Any, y: Any, calibration_scores: np.ndarray | None = None,
            calibration_y: np.ndarray | None = None) -> RiskModel:
        frame = self._frame(X)
        target = np.asarray(y, dtype=int)
        categorical = list(self.categorical)
        numeric = ([c for c in frame.columns if c not in categorical] if self.numeric is None
                   else list(self.numeric))
        with threadpool_limits(limits=1):  # see evaluate_risk: one OpenMP thread per fit
            pipeline = _fit_raw(self.kind, numeric, categorical, frame, target, self.random_state)
            if calibration_scores is None:
                splits = _stratified_splits(target, self.random_state, self.calibration_folds)
                scores = np.full(len(target), np.nan)
                for train, test in splits:
                    inner = _fit_raw(self.kind, numeric, categorical, frame.iloc[train], target[train],
                                     self.random_state, design_rows=len(target))
                    scores[test] = inner.predict_proba(frame.iloc[test])[:, 1]
                cal_y = target
            else:
                scores, cal_y = np.asarray(calibration_scores, dtype="float64"), np.asarray(calibration_y, dtype=int)
        self.pipeline_ = pipeline
        self.calibrator_ = _platt(scores, cal_y)
        self.classes_ = np.array([0, 1])
        self.features_ = [str(c) for c in frame.columns]
        self.n_features_in_ = len(self.features_)
        return self

    def raw_scores(self, X: Any) -> np.ndarray:
        """Uncalibrated scores of the fitted pipeline (rank-equivalent to the probabilities)."""
        check_is_fitted(self)
        frame = self._frame(X)
        return self.pipeline_.predict_proba(frame[self.features_])[:, 1]

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        p = _apply_platt(self.calibrator_, self.raw_scores(X))
        return np.column_stack([1 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


def build_risk_model(kind: str, spec: FeatureSpec, seed: int = DEFAULT_SEED) -> RiskModel:
    """An unfitted RiskModel over a feature spec's columns."""
    return RiskModel(kind=kind, numeric=tuple(spec.numeric), categorical=tuple(spec.categorical), random_state=seed)


def model_features(model: Any) -> list[str]:
    """The columns a fitted model (RiskModel or a stored bundle) reads, in order."""
    if isinstance(model, RiskModel):
        return list(model.features_)
    if isinstance(model, dict) and "model" in model:
        return list(model["model"].features_)
    return list(model["features"])  # bundle stored before RiskModel existed


def predict_risk(model: Any, X: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities from a fitted RiskModel or a stored bundle ({"model": RiskModel, ...};
    bundles stored before the estimator existed hold {"pipeline", "calibrator", ...})."""
    if isinstance(model, RiskModel):
        return model.predict_proba(X)[:, 1]
    if isinstance(model, dict) and "model" in model:
        return model["model"].predict_proba(X)[:, 1]
    raw = model["pipeline"].predict_proba(X)[:, 1]
    return _apply_platt(model["calibrator"], raw)


# --------------------------------------------------------------------------- metrics


def _top_k_order(scores: np.ndarray, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Row order by descending score, ties broken at random (fixed seed)."""
    tiebreak = np.random.default_rng(seed).random(len(scores))
    return np.lexsort((tiebreak, -np.asarray(scores, dtype="float64")))


def top_k_mask(scores: np.ndarray, k: float, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Boolean mask of the ceil(k*n) highest scores; ties broken at random (fixed seed)."""
    scores = np.asarray(scores, dtype="float64")
    n = len(scores)
    n_flag = min(n, max(1, math.ceil(k * n))) if n else 0
    mask = np.zeros(n, dtype=bool)
    mask[_top_k_order(scores, seed)[:n_flag]] = True
    return mask


def precision_recall_at_k(y: np.ndarray, scores: np.ndarray, k: float) -> tuple[float | None, float | None]:
    """Precision and recall among the top k share by `scores` (any ranking score)."""
    y = np.asarray(y, dtype=int)
    flagged = top_k_mask(scores, k)
    positives = int(y.sum())
    precision = float(y[flagged].mean()) if flagged.any() else None
    recall = float(y[flagged].sum() / positives) if positives else None
    return precision, recall


def no_information_rate(y: np.ndarray) -> float:
    """Accuracy of always predicting the majority class (what any accuracy must be compared with)."""
    y = np.asarray(y, dtype=int)
    share = float(y.mean()) if len(y) else 0.0
    return max(share, 1 - share)


def classification_metrics(y: np.ndarray, p: np.ndarray, k: float = DEFAULT_K,
                           rank_scores: np.ndarray | None = None) -> dict[str, Any]:
    """ROC AUC, PR AUC (average precision), Brier, accuracy at 0.5, precision/recall at top k.

    `rank_scores` (default `p`) decides who is in the top k (the ABC rule ranks by its flag count).
    """
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype="float64")
    both = len(np.unique(y)) == 2
    flagged = top_k_mask(p if rank_scores is None else rank_scores, k)
    positives = int(y.sum())
    return {
        "n": int(len(y)),
        "positives": positives,
        "roc_auc": float(roc_auc_score(y, p)) if both else None,
        "pr_auc": float(average_precision_score(y, p)) if both else None,
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-6, 1 - 1e-6), labels=[0, 1])),
        "accuracy": float(((p >= 0.5).astype(int) == y).mean()),
        "k": float(k),
        "flagged": int(flagged.sum()),
        "precision_at_k": float(y[flagged].mean()) if flagged.any() else None,
        "recall_at_k": float(y[flagged].sum() / positives) if positives else None,
    }


def weighted_metrics(y: np.ndarray, p: np.ndarray, weights: np.ndarray, k: float = DEFAULT_K,
                     rank_scores: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The metrics of `classification_metrics` for many resamples at once.

    `weights` is (resamples x rows): how often each row is drawn (a bootstrap resample of the
    rows is a multinomial count vector), so one sort per predictor serves every resample. With all
    weights 1 the values equal `classification_metrics` (ties count half in ROC AUC and form one
    threshold in PR AUC, as scikit-learn does).
    """
    y = np.asarray(y, dtype="float64")
    p = np.asarray(p, dtype="float64")
    W = np.atleast_2d(np.asarray(weights, dtype="float64"))
    total = W.sum(axis=1)
    pos_w, neg_w = W * y, W * (1 - y)
    P, N = pos_w.sum(axis=1), neg_w.sum(axis=1)
    out: dict[str, np.ndarray] = {}
    # ROC AUC and average precision from tied-score groups, ascending
    order = np.argsort(p, kind="stable")
    ps = p[order]
    starts = np.r_[0, np.flatnonzero(np.diff(ps)) + 1]
    gpos = np.add.reduceat(pos_w[:, order], starts, axis=1)
    gneg = np.add.reduceat(neg_w[:, order], starts, axis=1)
    neg_below = np.cumsum(gneg, axis=1) - gneg
    with np.errstate(invalid="ignore", divide="ignore"):
        out["roc_auc"] = (gpos * (neg_below + 0.5 * gneg)).sum(axis=1) / (P * N)
        tp = np.cumsum(gpos[:, ::-1], axis=1)
        fp = np.cumsum(gneg[:, ::-1], axis=1)
        precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1e-300), 0.0)
        out["pr_auc"] = (gpos[:, ::-1] * precision).sum(axis=1) / P
    out["roc_auc"] = np.where((P > 0) & (N > 0), out["roc_auc"], np.nan)
    out["pr_auc"] = np.where((P > 0) & (N > 0), out["pr_auc"], np.nan)
    pc = np.clip(p, 1e-6, 1 - 1e-6)
    out["brier"] = (W * (p - y) ** 2).sum(axis=1) / total
    out["log_loss"] = -(W * (y * np.log(pc) + (1 - y) * np.log(1 - pc))).sum(axis=1) / total
    out["accuracy"] = (W * ((p >= 0.5) == (y == 1))).sum(axis=1) / total
    # top k of each resample: walk down the ranking until ceil(k * n) draws are flagged
    ranked = _top_k_order(p if rank_scores is None else rank_scores)
    n_flag = np.maximum(1, np.ceil(k * total))
    Wr = W[:, ranked]
    before = np.cumsum(Wr, axis=1) - Wr
    taken = np.clip(n_flag[:, None] - before, 0, Wr)
    hits = (taken * y[ranked]).sum(axis=1)
    out["precision_at_k"] = hits / n_flag
    with np.errstate(invalid="ignore", divide="ignore"):
        out["recall_at_k"] = np.where(P > 0, hits / P, np.nan)
    return out


def calibration_bins(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Quantile bins of predicted risk: mean predicted vs observed rate, with counts."""
    frame = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": np.asarray(p, dtype=float)})
    bins = min(n_bins, max(1, frame["p"].nunique()))
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=bins, labels=False)
    out = frame.groupby("bin", observed=True).agg(n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    return out.reset_index(drop=True)


def pr_curve_frame(y: np.ndarray, p: np.ndarray, max_points: int = 400) -> pd.DataFrame:
    """Precision and recall at every share of students flagged (for the PR / capacity chart)."""
    from sklearn.metrics import precision_recall_curve

    p = np.asarray(p, dtype=float)
    precision, recall, thresholds = precision_recall_curve(np.asarray(y, dtype=int), p)
    # share of students at or above each threshold, vectorized (a loop is O(n^2) on 50,000 rows)
    ordered = np.sort(p)
    share = (len(p) - np.searchsorted(ordered, thresholds, side="left")) / max(len(p), 1)
    curve = pd.DataFrame({"threshold": thresholds, "precision": precision[:-1], "recall": recall[:-1],
                          "share_flagged": share})
    if len(curve) > max_points:  # enough for a chart
        curve = curve.iloc[np.unique(np.linspace(0, len(curve) - 1, max_points).astype(int))]
    return curve.reset_index(drop=True)


# --------------------------------------------------------------------------- validation splits


def make_splits(df: pd.DataFrame, y: np.ndarray, spec: FeatureSpec, validation: str = "auto",
                seed: int = DEFAULT_SEED) -> tuple[str, list[tuple[np.ndarray, np.ndarray]]]:
    """(description, [(train_idx, test_idx), ...]) for the chosen validation design.

    auto: temporal (train on earlier `as_of`, test on the latest) when several cohorts exist,
    else stratified 5-fold. "group": folds grouped by school (no school in train and test).
    `seed` shuffles the fold assignment (repeated CV uses several seeds).
    """
    n = len(y)
    cohorts = df[spec.cohort] if spec.cohort else None
    if validation in ("auto", "temporal") and cohorts is not None and cohorts.nunique() >= 2:
        latest = cohorts.max()
        test = np.flatnonzero((cohorts == latest).to_numpy())
        train = np.flatnonzero((cohorts < latest).to_numpy())
        if len(np.unique(y[train])) == 2 and len(test):
            return (f"temporal: trained on {cohorts[cohorts < latest].nunique()} earlier cohort(s), tested on "
                    f"as_of {pd.Timestamp(latest).date()}"), [(train, test)]
    if validation == "temporal":
        raise RiskInputError("temporal validation needs at least two as_of cohorts")
    minority = int(min(y.sum(), n - y.sum()))
    if minority < 2:
        raise RiskInputError(f"the target has {minority} case(s) in its smaller class; need at least 2 of each")
    folds = min(N_FOLDS, minority)
    if validation == "group":
        if not spec.school:
            raise RiskInputError("grouped validation needs a school column")
        groups = df[spec.school].astype("string").fillna("(missing)").to_numpy()
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            raise RiskInputError("grouped validation needs at least two schools")
        splitter = StratifiedGroupKFold(n_splits=min(folds, n_groups), shuffle=True, random_state=seed)
        splits = list(splitter.split(np.zeros(n), y, groups))
        return f"{len(splits)}-fold cross-validation grouped by school", splits
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return f"stratified {folds}-fold cross-validation", list(splitter.split(np.zeros(n), y))


def _oof_group_rate(keys: pd.Series, y: np.ndarray, splits: Sequence[tuple[np.ndarray, np.ndarray]],
                    prior_weight: float = 2.0) -> np.ndarray:
    """Out-of-fold positive rate of each row's group (smoothed toward the training base rate).

    Used for both baselines (key = school; key = number of ABC flags) and the leakage guard (key =
    one column's category or bin). Rows in no test fold keep NaN.
    """
    out = np.full(len(y), np.nan)
    codes, _ = pd.factorize(pd.Series(keys).astype("string").fillna("(missing)"))
    n_codes = int(codes.max()) + 1 if len(codes) else 0
    for train, test in splits:
        base = y[train].mean()
        sums = np.bincount(codes[train], weights=y[train], minlength=n_codes)
        counts = np.bincount(codes[train], minlength=n_codes)
        rate = (sums + prior_weight * base) / (counts + prior_weight)  # unseen groups: the base rate
        out[test] = rate[codes[test]]
    return out


# --------------------------------------------------------------------------- baselines


def abc_flags(df: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The ABC early-warning rule (Attendance, Behavior, Course performance) per row.

    Chronic absence: attendance_rate < 0.9, or days_absent (absences) >= 10% of days
    (days_enrolled when present, else 180 assumed). Course: >= 1 course failure, or GPA <= 2.0.
    Behavior: >= 1 suspension. Only columns that exist count; score = number of flags.
    Returns (flags frame, descriptions of the rules used).
    """
    flags = pd.DataFrame(index=df.index)
    used: list[str] = []
    attendance = find_column(df, "attendance_rate")
    absent = _find_any(df, ("days_absent", "absences"))
    days = _find_any(df, ("days_enrolled", "days_in_session", "school_days"))
    if attendance is not None:
        rate = pd.to_numeric(df[attendance], errors="coerce")
        if rate.max(skipna=True) > 1:  # 0-100 scale
            rate = rate / 100
        flags["chronic_absence"] = rate < 0.9
        used.append(f"{attendance} < 90%")
    elif absent is not None:
        count = pd.to_numeric(df[absent], errors="coerce")
        denom = pd.to_numeric(df[days], errors="coerce") if days else pd.Series(SCHOOL_DAYS_ASSUMED, index=df.index)
        flags["chronic_absence"] = count >= 0.1 * denom
        used.append(f"{absent} >= 10% of {days or f'{SCHOOL_DAYS_ASSUMED} days (assumed)'}")
    failures = _find_any(df, ("course_failures", "failures"))
    if failures is not None:
        flags["course_failure"] = pd.to_numeric(df[failures], errors="coerce") >= 1
        used.append(f"{failures} >= 1")
    gpa = find_column(df, "gpa")
    if gpa is not None:
        flags["low_gpa"] = pd.to_numeric(df[gpa], errors="coerce") <= 2.0
        used.append(f"{gpa} <= 2.0")
    suspensions = find_column(df, "suspensions")
    if suspensions is not None:
        flags["suspension"] = pd.to_numeric(df[suspensions], errors="coerce") >= 1
        used.append(f"{suspensions} >= 1")
    return flags.fillna(False).astype(bool), used


# --------------------------------------------------------------------------- fairness


def fairness_table(audit: pd.DataFrame, y: np.ndarray, flagged: np.ndarray, min_n: int | None = None) -> pd.DataFrame:
    """Per subgroup: n, selection rate, FPR, FNR, precision and their ratio to the largest group.

    `flagged` is the operational decision (top k% by risk). A ratio outside [0.8, 1.25] is
    listed in `flags`. Groups with fewer than `min_n` students (default: the configured
    suppression threshold, `rules.suppression_threshold()`) are suppressed (n shown as "<min_n",
    rates blanked) and never serve as reference; they are not flagged.
    """
    min_n = rules.suppression_threshold() if min_n is None else int(min_n)
    y = np.asarray(y, dtype=int)
    flagged = np.asarray(flagged, dtype=bool)
    metrics = ("selection_rate", "fpr", "fnr", "precision")
    rows = []
    for col in audit.columns:
        keys = audit[col].astype("string").fillna("(missing)").to_numpy()
        group_rows = []
        for value in pd.unique(keys):
            m = keys == value
            yy, ff = y[m], flagged[m]
            neg, pos, sel = int((yy == 0).sum()), int((yy == 1).sum()), int(ff.sum())
            group_rows.append({
                "attribute": str(col), "group": str(value), "n": int(m.sum()),
                "selection_rate": float(ff.mean()),
                "fpr": float((ff & (yy == 0)).sum() / neg) if neg else np.nan,
                "fnr": float((~ff & (yy == 1)).sum() / pos) if pos else np.nan,
                "precision": float(yy[ff].mean()) if sel else np.nan,
            })
        frame = pd.DataFrame(group_rows)
        eligible = frame[frame["n"] >= min_n]
        reference = eligible.loc[eligible["n"].idxmax()] if len(eligible) else None
        for metric in metrics:
            ref_value = reference[metric] if reference is not None else np.nan
            values = frame[metric].astype("float64")
            if pd.isna(ref_value):
                ratio = pd.Series(np.nan, index=frame.index)
            elif ref_value == 0:
                # reference rate 0: equal if also 0, else an unbounded disparity (flagged)
                ratio = values.map(lambda v: np.nan if pd.isna(v) else (1.0 if v == 0 else np.inf))
            else:
                ratio = values / ref_value
            frame[f"{metric}_ratio"] = ratio
        frame["reference"] = str(reference["group"]) if reference is not None else None

        def _flags(row: pd.Series) -> str:
            if row["n"] < min_n:
                return ""
            bad = [m for m in metrics if pd.notna(row[f"{m}_ratio"])
                   and not (FAIR_LOW <= row[f"{m}_ratio"] <= FAIR_HIGH)]
            return ", ".join(bad)

        frame["flags"] = frame.apply(_flags, axis=1)
        rows.append(frame.sort_values("n", ascending=False))
    if not rows:
        return pd.DataFrame(columns=["attribute", "group", "n", *metrics,
                                     *[f"{m}_ratio" for m in metrics], "reference", "flags"])
    table = pd.concat(rows, ignore_index=True)
    rate_cols = [*metrics, *[f"{m}_ratio" for m in metrics]]
    return suppress_small(table, "n", min_n=min_n, mask_cols=rate_cols)


# --------------------------------------------------------------------------- explanations


_PLAIN: dict[str, Callable[[float, float], str]] = {
    "attendance_rate": lambda v, med: f"attended {v:.0%} of days (district median {med:.0%})",
    "days_absent": lambda v, med: f"absent {v:g} days (district median {med:g})",
    "absences": lambda v, med: f"{v:g} absences (district median {med:g})",
    "course_failures": lambda v, med: f"{v:g} course failure{'s' if v != 1 else ''}",
    "failures": lambda v, med: f"{v:g} past course failure{'s' if v != 1 else ''}",
    "gpa": lambda v, med: f"GPA {v:.2f} (district median {med:.2f})",
    "suspensions": lambda v, med: f"{v:g} suspension{'s' if v != 1 else ''}",
    "behavior_incidents": lambda v, med: f"{v:g} behavior incident{'s' if v != 1 else ''} (district median {med:g})",
    "credits_earned": lambda v, med: f"{v:g} credits earned (district median {med:g})",
    "usage_minutes": lambda v, med: f"{v:,.0f} minutes on learning tools (district median {med:,.0f})",
    "usage_weeks_active": lambda v, med: f"active on learning tools {v:g} weeks (district median {med:g})",
}


def describe_value(column: str, value: Any, median: float | None) -> str:
    """One plain-words phrase for a feature value, with the district median for context."""
    label = str(column).replace("_", " ")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return f"{label} not recorded"
    if isinstance(value, (int, float, np.floating, np.integer)):
        v = float(value)
        med = float(median) if median is not None and pd.notna(median) else float("nan")
        phrase = _PLAIN.get(normalize_name(column))
        if phrase is not None:
            return phrase(v, med)
        norm = normalize_name(column)
        if norm.startswith("score_") and norm.endswith("_z_in_grade"):
            subject = label[6:-len(" z in grade")]
            side = "below" if v < 0 else "above"
            return f"{subject} score {abs(v):.1f} SD {side} the grade average"
        if norm.startswith("score_"):
            return f"{label[6:]} score {v:.0f} (district median {med:.0f})"
        return f"{label} {v:g} (district median {med:g})"
    return f"{label}: {value}"


def explain_students(model: Any, X: pd.DataFrame, top: int = 3, with_features: bool = False) -> pd.DataFrame:
    """Top `top` reasons per row by local perturbation.

    For each feature, the row's value is replaced by the district's typical value (median /
    most common); the drop in predicted risk is that feature's contribution. The features
    with the largest positive contributions become plain-word reasons. Honest for any model
    (linear or boosted) and costs one batched prediction per feature. `with_features` adds
    `reason_<r>_feature`: the column behind each reason (the worklist filters on it).
    """
    base = predict_risk(model, X)
    typical: dict[str, Any] = {}
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    for col in X.columns:
        if col in numeric:
            typical[col] = X[col].median()
        else:
            mode = X[col].mode(dropna=True)
            typical[col] = mode.iloc[0] if len(mode) else np.nan
    contributions = np.zeros((len(X), len(X.columns)))
    for j, col in enumerate(X.columns):
        changed = X.copy()
        changed[col] = typical[col]
        contributions[:, j] = base - predict_risk(model, changed)
    columns = list(X.columns)
    # each column's values as X.iloc[i, j] gives them (same scalar types), without a lookup per cell
    cells = [X.iloc[:, j].array for j in range(len(columns))]
    medians = [typical[col] if col in numeric else None for col in columns]
    reasons: list[list[str]] = []
    reason_columns: list[list[str]] = []
    order = np.argsort(-contributions, axis=1)[:, :top]
    for i in range(len(X)):
        row_reasons, row_columns = [], []
        for j in order[i]:
            if contributions[i, j] <= 0.005:  # under half a point of risk: not a reason
                break
            col = columns[j]
            row_reasons.append(describe_value(col, cells[j][i], medians[j]))
            row_columns.append(col)
        reasons.append(row_reasons)
        reason_columns.append(row_columns)
    out = pd.DataFrame({"risk": base}, index=X.index)
    for r in range(top):
        out[f"reason_{r + 1}"] = [rs[r] if len(rs) > r else "" for rs in reasons]
    if with_features:
        for r in range(top):
            out[f"reason_{r + 1}_feature"] = [rc[r] if len(rc) > r else "" for rc in reason_columns]
    return out


# --------------------------------------------------------------------------- evaluation


@dataclass
class RiskResult:
    """Everything the CLI, page and model card show. All metrics are out-of-sample.

    `metrics` and each `baselines` entry hold the metric (k-fold: mean over the CV seeds; temporal:
    the test cohort's value) and `<metric>_range` ([min, max] over the seeds, or the 90% bootstrap
    interval). `baselines` holds only the baselines that could be computed.
    """

    target: str
    validation: str
    model_kind: str
    metrics: dict[str, Any]
    candidates: dict[str, dict[str, Any]]
    baselines: dict[str, dict[str, Any]]
    spec: FeatureSpec
    predictions: pd.DataFrame  # index = evaluated rows: y, risk (out-of-sample), abc_score, school_rate, flagged
    calibration: pd.DataFrame
    pr_curve: pd.DataFrame
    fairness: pd.DataFrame
    importance: pd.DataFrame
    model: RiskModel | None  # fitted on all rows (None when fit_final=False)
    fingerprint: str
    n_dropped_target: int = 0
    abc_rules: list[str] = field(default_factory=list)
    unavailable_baselines: dict[str, str] = field(default_factory=dict)  # name -> why not computed
    comparisons: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # baseline -> metric -> diff
    recommended: bool | None = None
    recommendation_note: str = NOT_ASSESSED
    n_seeds: int = N_SEEDS
    range_kind: str = ""
    suppression_min: int = 10

    @property
    def warnings(self) -> list[dict[str, str]]:
        """Columns the user must know about (left out as derived from the target, IDs found by uniqueness)."""
        return [{"column": column, "reason": reason} for column, reason in self.spec.warnings]

    @property
    def no_information_rate(self) -> float:
        return float(self.metrics["no_information_rate"])


def data_fingerprint(df: pd.DataFrame) -> str:
    """sha256 over column names and row hashes: identifies the exact training data."""
    digest = hashlib.sha256("|".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df.astype("string"), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _cross_fitted_platt(raw: np.ndarray, y: np.ndarray,
                        splits: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Calibrate out-of-fold scores with Platt scaling fitted on the *other* folds' scores."""
    out = np.full(len(y), np.nan)
    tested = np.zeros(len(y), dtype=bool)
    for _, test in splits:
        tested[test] = True
    for _, test in splits:
        others = tested.copy()
        others[test] = False
        out[test] = _apply_platt(_platt(raw[others], y[others]), raw[test])
    return out


def _choose_model(kinds: list[str], p_by_kind: dict[str, np.ndarray], y: np.ndarray) -> str:
    """One-standard-error rule on out-of-fold log loss: the simplest candidate (first in
    `kinds`) is kept unless another is better by more than one standard error of the paired
    per-student difference. Guards against picking boosting on noise in small tables."""
    def per_row(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))

    best = kinds[0]
    for kind in kinds[1:]:
        diff = per_row(p_by_kind[best]) - per_row(p_by_kind[kind])  # > 0: `kind` is better
        se = diff.std(ddof=1) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
        if diff.mean() > se:
            best = kind
    return best


PARALLEL_FOLD_ROWS = 200_000  # above: one fold at a time (two side by side held two copies of the design matrix)


def _default_jobs(n_rows: int) -> int:
    """Fit folds side by side only where a fit is long enough to pay for it, and the district small enough that
    two folds' matrices at once stay within a server process's memory (500,000 students: ~0.4 GB more)."""
    return min(2, os.cpu_count() or 1) if SMALL_ROWS < n_rows <= PARALLEL_FOLD_ROWS else 1


def _fit_folds(kind: str, spec: FeatureSpec, X: pd.DataFrame, y: np.ndarray,
               splits: Sequence[tuple[np.ndarray, np.ndarray]], seed: int, n_jobs: int,
               on_fold: Callable[[], None], design_rows: int | None = None) -> tuple[np.ndarray, Pipeline]:
    """Raw out-of-fold scores of one model kind (NaN outside the test folds) and the first fold's pipeline.

    With n_jobs > 1 the folds are fitted in threads (boosting, BLAS and the solvers release the
    GIL); every fit uses one OpenMP/BLAS thread, so two folds share two cores without
    oversubscription. Progress is reported from the calling thread only.
    """
    def one(train: np.ndarray, test: np.ndarray) -> tuple[Pipeline, np.ndarray]:
        with threadpool_limits(limits=1):  # OpenMP thread counts are per thread: set them in the worker
            pipe = _fit_raw(kind, spec.numeric, spec.categorical, X.iloc[train], y[train], seed, design_rows)
            return pipe, pipe.predict_proba(X.iloc[test])[:, 1]

    raw = np.full(len(y), np.nan)
    first: Pipeline | None = None
    if n_jobs > 1 and len(splits) > 1:
        results: Iterable[tuple[Pipeline, np.ndarray]] = Parallel(
            n_jobs=n_jobs, backend="threading", return_as="generator")(delayed(one)(tr, te) for tr, te in splits)
    else:
        results = (one(tr, te) for tr, te in splits)
    for (_, test), (pipe, scores) in zip(splits, results, strict=True):
        raw[test] = scores
        first = pipe if first is None else first
        on_fold()
    assert first is not None
    return raw, first


def _mean_and_range(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Metrics over CV seeds: mean and [min, max] of each (counts from the first run)."""
    out: dict[str, Any] = {key: runs[0][key] for key in ("n", "positives", "k", "flagged")}
    for key in METRIC_KEYS:
        values = [r[key] for r in runs if r.get(key) is not None]
        out[key] = float(np.mean(values)) if values else None
        out[f"{key}_range"] = [float(min(values)), float(max(values))] if values else None
    return out


def _point_and_interval(point: dict[str, Any], boot: dict[str, np.ndarray]) -> dict[str, Any]:
    """Metrics of the temporal test cohort with their 90% bootstrap interval as `<metric>_range`."""
    lo_q, hi_q = (1 - BOOTSTRAP_LEVEL) / 2, 1 - (1 - BOOTSTRAP_LEVEL) / 2
    out: dict[str, Any] = {key: point[key] for key in ("n", "positives", "k", "flagged")}
    for key in METRIC_KEYS:
        out[key] = point.get(key)
        values = boot[key][np.isfinite(boot[key])]
        out[f"{key}_range"] = ([float(np.quantile(values, lo_q)), float(np.quantile(values, hi_q))]
                               if len(values) and point.get(key) is not None else None)
    return out


def compare_difference(difference: float | None, low: float | None, high: float | None) -> dict[str, Any]:
    """One paired model-minus-baseline difference (oriented so > 0 favours the model) and its spread."""
    if difference is None or low is None or high is None or not np.isfinite(difference):
        return {"difference": None, "range": None, "spread": None, "favours_model": False, "passes": False}
    spread = float(high - low)
    return {"difference": float(difference), "range": [float(low), float(high)], "spread": spread,
            "favours_model": bool(difference > 0), "passes": bool(difference > 0 and difference > spread)}


def recommendation(comparisons: dict[str, dict[str, dict[str, Any]]], unavailable: dict[str, str],
                    spread_phrase: str) -> tuple[bool | None, str]:
    """methods v2: recommended only against >= 1 computed baseline, when every decision metric passes."""
    if not comparisons:
        why = "; ".join(f"{BASELINE_LABELS.get(name, name)}: {reason}" for name, reason in unavailable.items())
        return None, f"{NOT_ASSESSED}: no baseline could be computed ({why})"
    failures = []
    for name, by_metric in comparisons.items():
        for metric, _, label in DECISION_METRICS:
            c = by_metric[metric]
            if c["passes"]:
                continue
            base = BASELINE_LABELS.get(name, name)
            if c["difference"] is None:
                failures.append(f"against the {base}, {label} could not be compared")
            elif not c["favours_model"]:
                failures.append(f"against the {base}, {label} is worse (paired difference {c['difference']:+.3f})")
            else:
                failures.append(f"against the {base}, {label} is better by only {c['difference']:+.3f}, not more "
                                f"than {spread_phrase} ({c['spread']:.3f})")
    names = " and the ".join(BASELINE_LABELS.get(n, n) for n in comparisons)
    if not failures:
        return True, (f"recommended: better than the {names} on PR AUC, precision at k and Brier score, each by "
                      f"more than {spread_phrase}")
    return False, "not recommended: " + "; ".join(failures)


def _bootstrap(y: np.ndarray, predictors: dict[str, tuple[np.ndarray, np.ndarray | None]], k: float,
               n_resamples: int, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Metrics of every predictor on the same `n_resamples` bootstrap resamples of the rows (paired)."""
    n = len(y)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_resamples, 1_000_000 // max(n, 1)))  # bound memory (~10 arrays of chunk x n)
    parts: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in predictors}
    done = 0
    while done < n_resamples:
        size = min(chunk, n_resamples - done)
        weights = rng.multinomial(n, np.full(n, 1 / n), size=size).astype("float64")
        for name, (p, rank) in predictors.items():
            parts[name].append(weighted_metrics(y, p, weights, k, rank))
        done += size
    return {name: {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}
            for name, chunks in parts.items()}


def evaluate_risk(
    df: pd.DataFrame,
    target: str,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    audit: Sequence[str] = (),
    k: float = DEFAULT_K,
    validation: str = "auto",
    kinds: Sequence[str] = MODEL_KINDS,
    seed: int = DEFAULT_SEED,
    n_seeds: int = N_SEEDS,
    n_bootstrap: int = N_BOOTSTRAP,
    fit_final: bool = True,
    importance: bool = True,
    min_n: int | None = None,
    n_jobs: int | None = None,
    progress: Progress | None = None,
) -> RiskResult:
    """Guard the columns, cross-validate the candidate models and the baselines on one student table.

    `df` holds one row per student (per cohort); text columns that are all numbers are read as
    numbers. Rows with an unknown target are left out (counted in `n_dropped_target`). `audit`
    names extra audit-only columns; `min_n` is the fairness suppression threshold (default: the
    configured one). K-fold designs are repeated over `n_seeds` (>= 3) fold assignments; temporal
    validation bootstraps the test cohort `n_bootstrap` (>= 200) times.
    """
    def step(share: float, message: str) -> None:
        if progress is not None:
            progress(min(max(share, 0.0), 1.0), message)

    if not 0 < k <= 1:
        raise RiskInputError("k (capacity share) must be in (0, 1]")
    if n_seeds < 3 or n_bootstrap < 200:
        raise ValueError("methods v2: at least 3 CV seeds and 200 bootstrap resamples")
    if len(df) == 0:
        raise RiskInputError("the table has no rows")
    min_n = rules.suppression_threshold() if min_n is None else int(min_n)
    df = df.reset_index(drop=True)  # predictions are indexed by row position
    table = coerce_numeric_columns(df)
    y_all = parse_target(table, target)
    known = y_all.notna().to_numpy()
    table = table.loc[known]
    y = y_all[known].astype(int).to_numpy()
    if len(y) < 20:
        raise RiskInputError(f"only {len(y)} rows with a known target; need at least 20")
    if len(np.unique(y)) < 2:
        raise RiskInputError("the target has one class only; need at least 2 of each")
    step(0.0, "checking columns: IDs, subgroups, columns derived from the target")
    spec = select_features(table, target_columns(table, target), exclude=exclude, include=include, audit=audit,
                           y=y, seed=seed)
    X = feature_frame(table, spec)
    description, splits = make_splits(table, y, spec, validation, seed)
    temporal = description.startswith("temporal")
    jobs = _default_jobs(len(y)) if n_jobs is None else max(1, int(n_jobs))

    flags, abc_rules = abc_flags(table)
    abc_score = flags.sum(axis=1).to_numpy(dtype="float64") if abc_rules else None
    unavailable: dict[str, str] = {}
    if abc_score is None:
        unavailable["abc_rule"] = "no attendance, course failure, GPA or suspension column"
    if not spec.school:
        unavailable["school_only"] = "no school column"
    descriptions = {
        "abc_rule": ("ABC rule: number of flags among " + "; ".join(abc_rules)
                     + " (ranked by flag count; probability = out-of-fold rate per count)"),
        "school_only": f"each student gets the out-of-fold base rate of their {spec.school}",
    }

    def baseline_predictors(fold_splits: Sequence[tuple[np.ndarray, np.ndarray]]
                            ) -> dict[str, tuple[np.ndarray, np.ndarray | None]]:
        out: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        if abc_score is not None:
            out["abc_rule"] = (_oof_group_rate(pd.Series(abc_score), y, fold_splits), abc_score)
        if spec.school:
            out["school_only"] = (_oof_group_rate(table[spec.school], y, fold_splits), None)
        return out

    inner_folds = N_FOLDS if len(y) <= SMALL_ROWS else 3
    total = (len(kinds) * (1 + inner_folds) if temporal
             else len(kinds) * len(splits) + (n_seeds - 1) * len(splits)) + 2
    done = [0]

    def fold_done(label: str) -> Callable[[], None]:
        def tick() -> None:
            done[0] += 1
            step(done[0] / total, label)
        return tick

    # One OpenMP/BLAS thread per fit: on a shared 2-core machine oversubscribed OpenMP threads made
    # boosting 3-20x slower; parallelism comes from fitting folds side by side (`_fit_folds`).
    with threadpool_limits(limits=1):
        if temporal:
            train, test = splits[0]
            eval_idx = np.sort(test)
            inner = _stratified_splits(y[train], seed, inner_folds)
            X_train, y_train = X.iloc[train], y[train]
            raw_by_kind: dict[str, np.ndarray] = {}
            models: dict[str, Pipeline] = {}
            cal_test: dict[str, np.ndarray] = {}
            inner_cal: dict[str, np.ndarray] = {}
            for kind in kinds:
                raw, models[kind] = _fit_folds(kind, spec, X, y, splits, seed, jobs,
                                               fold_done(f"{MODEL_LABELS[kind]}: earlier cohorts"), len(y))
                raw_by_kind[kind] = raw
                inner_raw, _ = _fit_folds(kind, spec, X_train, y_train, inner, seed, jobs,
                                          fold_done(f"{MODEL_LABELS[kind]}: calibration folds"), len(y))
                inner_cal[kind] = _cross_fitted_platt(inner_raw, y_train, inner)
                cal = np.full(len(y), np.nan)
                cal[test] = _apply_platt(_platt(inner_raw, y_train), raw[test])
                cal_test[kind] = cal
            best = _choose_model(list(kinds), inner_cal, y_train)  # chosen on the training cohorts only
            y_eval = y[eval_idx]
            candidates = {kind: classification_metrics(y_eval, cal_test[kind][eval_idx], k) for kind in kinds}
            p_model = cal_test[best]
            base_pred = baseline_predictors(splits)
            predictors = {"model": (p_model[eval_idx], None),
                          **{name: (p[eval_idx], None if rank is None else rank[eval_idx])
                             for name, (p, rank) in base_pred.items()}}
            step((done[0] + 0.2) / total, f"bootstrap: {n_bootstrap} resamples of the test cohort")
            point = {name: classification_metrics(y_eval, p, k, rank) for name, (p, rank) in predictors.items()}
            boot = _bootstrap(y_eval, predictors, k, n_bootstrap, seed)
            metrics = _point_and_interval(point["model"], boot["model"])
            baselines = {name: _point_and_interval(point[name], boot[name]) for name in base_pred}
            lo_q, hi_q = (1 - BOOTSTRAP_LEVEL) / 2, 1 - (1 - BOOTSTRAP_LEVEL) / 2
            comparisons: dict[str, dict[str, dict[str, Any]]] = {}
            for name in base_pred:
                comparisons[name] = {}
                for metric, sign, _ in DECISION_METRICS:
                    if point["model"][metric] is None or point[name][metric] is None:
                        comparisons[name][metric] = compare_difference(None, None, None)
                        continue
                    diffs = sign * (boot["model"][metric] - boot[name][metric])
                    diffs = diffs[np.isfinite(diffs)]
                    comparisons[name][metric] = compare_difference(
                        sign * (point["model"][metric] - point[name][metric]),
                        float(np.quantile(diffs, lo_q)) if len(diffs) else None,
                        float(np.quantile(diffs, hi_q)) if len(diffs) else None)
            range_kind = (f"{BOOTSTRAP_LEVEL:.0%} bootstrap interval over {n_bootstrap} resamples of the test cohort")
            spread_phrase = f"the width of its {BOOTSTRAP_LEVEL:.0%} bootstrap interval"
            calibration_raw, calibration_y = raw_by_kind[best][test], y[test]
            importance_model, importance_rows = models[best], test
            base_seed0 = base_pred
        else:
            eval_idx = np.arange(len(y))
            raw0: dict[str, np.ndarray] = {}
            first: dict[str, Pipeline] = {}
            for kind in kinds:
                raw0[kind], first[kind] = _fit_folds(kind, spec, X, y, splits, seed, jobs,
                                                     fold_done(f"{MODEL_LABELS[kind]}: CV seed 1 of {n_seeds}"),
                                                     len(y))
            cal0 = {kind: _cross_fitted_platt(raw0[kind], y, splits) for kind in kinds}
            best = _choose_model(list(kinds), cal0, y)
            candidates = {kind: classification_metrics(y, cal0[kind], k) for kind in kinds}
            fold_sets = [splits]
            model_p = [cal0[best]]
            for r in range(1, n_seeds):
                _, seed_splits = make_splits(table, y, spec, validation, seed + r)
                raw, _ = _fit_folds(best, spec, X, y, seed_splits, seed + r, jobs,
                                    fold_done(f"{MODEL_LABELS[best]}: CV seed {r + 1} of {n_seeds}"), len(y))
                fold_sets.append(seed_splits)
                model_p.append(_cross_fitted_platt(raw, y, seed_splits))
            runs = []
            for fold_splits, p in zip(fold_sets, model_p, strict=True):
                run = {"model": classification_metrics(y, p, k)}
                for name, (bp, rank) in baseline_predictors(fold_splits).items():
                    run[name] = classification_metrics(y, bp, k, rank)
                runs.append(run)
            metrics = _mean_and_range([run["model"] for run in runs])
            base_names = [name for name in runs[0] if name != "model"]
            baselines = {name: _mean_and_range([run[name] for run in runs]) for name in base_names}
            comparisons = {}
            for name in base_names:
                comparisons[name] = {}
                for metric, sign, _ in DECISION_METRICS:
                    diffs = [sign * (run["model"][metric] - run[name][metric]) for run in runs
                             if run["model"][metric] is not None and run[name][metric] is not None]
                    comparisons[name][metric] = (compare_difference(float(np.mean(diffs)), min(diffs), max(diffs))
                                                 if len(diffs) == len(runs) else compare_difference(None, None, None))
            range_kind = f"min-max over {n_seeds} CV seeds"
            spread_phrase = f"the spread (max - min) over {n_seeds} CV seeds"
            p_model = model_p[0]
            calibration_raw, calibration_y = raw0[best], y
            importance_model, importance_rows = first[best], splits[0][1]
            base_seed0 = baseline_predictors(splits)

        for name, entry in baselines.items():
            entry["description"] = descriptions[name]
        y_eval = y[eval_idx]
        metrics["no_information_rate"] = no_information_rate(y_eval)
        recommended, note = recommendation(comparisons, unavailable, spread_phrase)

        # seed 1 (or the temporal test cohort): the predictions behind the charts, list and fairness audit
        p_eval = p_model[eval_idx]
        flagged = top_k_mask(p_eval, k)
        abc_col = abc_score[eval_idx] if abc_score is not None else np.full(len(eval_idx), np.nan)
        school_col = (base_seed0["school_only"][0][eval_idx] if "school_only" in base_seed0
                      else np.full(len(eval_idx), np.nan))
        predictions = pd.DataFrame({"y": y_eval, "risk": p_eval, "abc_score": abc_col, "school_rate": school_col,
                                    "flagged": flagged}, index=table.index[eval_idx])
        # audit labels from the original values (a boolean frl reads "True", not "1.0")
        audit_frame = (df.loc[predictions.index, list(spec.audit)] if spec.audit
                       else pd.DataFrame(index=predictions.index))
        fairness = fairness_table(audit_frame, y_eval, flagged, min_n=min_n)

        importance_frame = pd.DataFrame(columns=["feature", "importance", "std"])
        if importance:
            step((done[0] + 0.5) / total, "permutation importance (held-out rows)")
            rows = importance_rows
            if len(rows) > IMPORTANCE_ROWS:  # a subsample ranks features as well at a fraction of the cost
                rows = np.sort(np.random.default_rng(seed).choice(rows, IMPORTANCE_ROWS, replace=False))
            scoring = "roc_auc" if len(np.unique(y[rows])) == 2 else "neg_log_loss"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = permutation_importance(importance_model, X.iloc[rows], y[rows], scoring=scoring,
                                             n_repeats=5 if len(rows) < 1000 else 3, random_state=seed, n_jobs=1)
            importance_frame = pd.DataFrame({"feature": list(X.columns), "importance": imp.importances_mean,
                                             "std": imp.importances_std}).sort_values("importance", ascending=False,
                                                                                       ignore_index=True)
        model = None
        if fit_final:
            step((done[0] + 1.5) / total, "fitting the final model on all rows")
            # Platt scaling fitted on every honest (out-of-fold / out-of-time) raw score available
            model = build_risk_model(best, spec, seed).fit(X, y, calibration_scores=calibration_raw,
                                                           calibration_y=calibration_y)
    step(1.0, "done")
    return RiskResult(
        target=target, validation=description, model_kind=best, metrics=metrics, candidates=candidates,
        baselines=baselines, spec=spec, predictions=predictions,
        calibration=calibration_bins(y_eval, p_eval), pr_curve=pr_curve_frame(y_eval, p_eval),
        fairness=fairness, importance=importance_frame, model=model, fingerprint=data_fingerprint(df),
        n_dropped_target=int((~known).sum()), abc_rules=abc_rules, unavailable_baselines=unavailable,
        comparisons=comparisons, recommended=recommended, recommendation_note=note,
        n_seeds=1 if temporal else n_seeds, range_kind=range_kind, suppression_min=min_n)


SUMMARY_KEYS = ("n", "positives", "k", "flagged", *[key for m in METRIC_KEYS for key in (m, f"{m}_range")])


def result_summary(result: RiskResult) -> dict[str, Any]:
    """JSON-ready summary (data contract v2 "risk evaluate" shape): model metrics at top level, each
    with `<metric>_range`; `no_information_rate`; `warnings`; `features`, `audit_columns`;
    `baselines` (computed ones only); `recommended` true/false/null with `recommendation_note`."""
    out: dict[str, Any] = {key: result.metrics.get(key) for key in SUMMARY_KEYS}
    out.update({
        "no_information_rate": result.metrics.get("no_information_rate"),
        "target": result.target,
        "model": result.model_kind,
        "model_description": MODEL_LABELS[result.model_kind],
        "validation": result.validation,
        "n_seeds": result.n_seeds,
        "range_kind": result.range_kind,
        "recommended": result.recommended,
        "recommendation_note": result.recommendation_note,
        "comparisons": result.comparisons,
        "warnings": result.warnings,
        "features": result.spec.features,
        "audit_columns": list(result.spec.audit),
        "excluded_columns": dict(result.spec.dropped),
        "id_column": result.spec.id_column,
        "candidates": {kind: {key: m.get(key) for key in ("n", "positives", *METRIC_KEYS)}
                       for kind, m in result.candidates.items()},
        "baselines": {name: {**{key: b.get(key) for key in SUMMARY_KEYS}, "description": b.get("description")}
                      for name, b in result.baselines.items()},
        "baselines_not_computed": dict(result.unavailable_baselines),
        "rows_without_target": result.n_dropped_target,
        "suppression_threshold": result.suppression_min,
        "fairness_flags": fairness_flags(result.fairness),
        "top_features": result.importance.head(10).to_dict(orient="records"),
        "fingerprint": result.fingerprint,
    })
    return out


def fairness_flags(fairness: pd.DataFrame) -> list[str]:
    """Human-readable list: 'sex=M: fpr' for every flagged (unsuppressed) group."""
    if fairness.empty:
        return []
    rows = fairness[fairness["flags"].astype(str) != ""]
    return [f"{r.attribute}={r.group}: {r.flags}" for r in rows.itertuples()]


def accuracy_note(result: RiskResult) -> str:
    """A warning when the model's accuracy at 0.5 is not above the no-information rate ('' otherwise)."""
    accuracy, nir = result.metrics.get("accuracy"), result.metrics.get("no_information_rate")
    if accuracy is None or nir is None or accuracy > nir:
        return ""
    return (f"The model's accuracy at 0.5 ({accuracy:.1%}) is not above the no-information rate ({nir:.1%}): "
            "judge it by its ranking (PR AUC, precision at k), not by accuracy.")


def recommendation_headline(result: RiskResult) -> str:
    """The one-line verdict every surface shows (page, model card, CLI table)."""
    if result.recommended is None:
        return ("Not assessed against a simple rule: no baseline (ABC rule, school-only model) could be "
                "computed, so nothing shows the model does better than a simple rule.")
    if result.recommended:
        return "Recommended: " + result.recommendation_note.removeprefix("recommended: ") + "."
    return "Not recommended over the simple rule: " + result.recommendation_note.removeprefix("not recommended: ") + "."


# --------------------------------------------------------------------------- scoring & card


def score_students(model: Any, df: pd.DataFrame, spec: FeatureSpec, k: float = DEFAULT_K,
                   with_reasons: bool = True, reason_features: bool = False) -> pd.DataFrame:
    """Calibrated risk, rank, flag (the top k of each school: `flag_by_school`, the one flagging rule every
    surface uses) and up to three plain-word reasons per row.

    `model` is a fitted RiskModel or a stored bundle (see `predict_risk`).
    """
    table = coerce_numeric_columns(df, keep_text=[spec.id_column] if spec.id_column else [])
    X = feature_frame(table, spec)[model_features(model)]
    if with_reasons:
        out = explain_students(model, X, with_features=reason_features)
    else:
        out = pd.DataFrame({"risk": predict_risk(model, X)}, index=X.index)
    if spec.id_column:
        out.insert(0, "student_id", table[spec.id_column].astype("string").to_numpy())
    if spec.school and spec.school in table.columns:
        out.insert(1 if spec.id_column else 0, "school", table[spec.school].astype("string").to_numpy())
    out["rank"] = out["risk"].rank(ascending=False, method="first").astype(int)
    out["flagged"] = flag_by_school(out, {}, k)
    return out.sort_values("rank")


def flag_by_school(scored: pd.DataFrame, capacity: dict[str, float], default_k: float = DEFAULT_K) -> pd.Series:
    """Top-k% flag within each school, k from `capacity` (school -> share) else `default_k`."""
    if "school" not in scored.columns:
        return pd.Series(top_k_mask(scored["risk"].to_numpy(), default_k), index=scored.index)
    flags = pd.Series(False, index=scored.index)
    for school, rows in scored.groupby("school", dropna=False, observed=True):
        share = capacity.get(str(school), default_k)
        flags.loc[rows.index] = top_k_mask(rows["risk"].to_numpy(), share) if share > 0 else False
    return flags


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.1%}" if pct else f"{value:.3f}"


def format_with_range(row: dict[str, Any], key: str, pct: bool = False) -> str:
    """'0.812 [0.808, 0.815]': a metric with its range (CV seeds) or interval (bootstrap)."""
    value, span = row.get(key), row.get(f"{key}_range")
    if value is None:
        return "n/a"
    if not span:
        return _fmt(value, pct)
    return f"{_fmt(value, pct)} [{_fmt(span[0], pct)}, {_fmt(span[1], pct)}]"


def model_card(result: RiskResult, data_name: str = "uploaded table", date: str | None = None) -> str:
    """Markdown model card: data, target, guards, metrics vs baselines, recommendation, fairness, limitations."""
    date = date or pd.Timestamp.today().date().isoformat()
    m = result.metrics
    spread = (f"the mean over {result.n_seeds} CV seeds, [min, max] in brackets" if result.n_seeds > 1
              else f"the test cohort's value, its {result.range_kind} in brackets")
    lines = [
        f"# Model card: at-risk model for `{result.target}`", "",
        f"*Generated {date}. Data fingerprint `{result.fingerprint}`.*", "",
        "## Data",
        f"- Source: {data_name}; {m['n']} students evaluated, {m['positives']} positive "
        f"({m['positives'] / max(m['n'], 1):.1%}); {result.n_dropped_target} rows without a target left out.",
        f"- Validation: {result.validation}. Every number below is out-of-sample: {spread}.", "",
        "## Target", f"- `{result.target}` (1 = at risk).", "",
        "## Model",
        f"- Chosen: **{MODEL_LABELS[result.model_kind]}**, selected among "
        f"{', '.join(result.candidates)} by out-of-fold log loss (the simpler model unless another is better "
        "by more than one standard error); probabilities calibrated (Platt scaling "
        "fitted on other folds' out-of-fold scores).",
        f"- Features ({len(result.spec.features)}): {', '.join(f'`{c}`' for c in result.spec.features)}.",
        f"- Audit-only columns (not used as features): {', '.join(f'`{c}`' for c in result.spec.audit) or 'none'}.",
        f"- Left out: {', '.join(f'`{c}` ({why})' for c, why in result.spec.dropped.items()) or 'nothing'}.", "",
    ]
    if result.warnings:
        lines += ["## Warnings"] + [f"- `{w['column']}`: {w['reason']}." for w in result.warnings] + [""]
    lines += [
        f"## Performance (top {m['k']:.0%} flagged = intervention capacity)", "",
        f"No-information rate (always predicting the majority class): **{_fmt(m['no_information_rate'], True)}**; "
        "compare every accuracy with it." + (accuracy_note(result) and f" {accuracy_note(result)}"), "",
        "| | ROC AUC | PR AUC | Brier | accuracy | precision@k | recall@k |", "|---|---|---|---|---|---|---|",
    ]
    rows = [("**model**", m)] + [(BASELINE_LABELS.get(name, name), b) for name, b in result.baselines.items()]
    shown = (("roc_auc", False), ("pr_auc", False), ("brier", False), ("accuracy", True), ("precision_at_k", True),
             ("recall_at_k", True))
    for name, row in rows:
        lines.append(f"| {name} | " + " | ".join(format_with_range(row, key, pct) for key, pct in shown) + " |")
    for name, reason in result.unavailable_baselines.items():
        lines.append(f"| {BASELINE_LABELS.get(name, name)} | not computed: {reason} | | | | | |")
    lines += ["", f"Verdict: {recommendation_headline(result)}", "",
              "## Most important features (permutation, held-out rows)"]
    for r in result.importance.head(8).itertuples():
        lines.append(f"- `{r.feature}`: {r.importance:+.3f} ROC AUC when shuffled")
    flags = fairness_flags(result.fairness)
    lines += ["", f"## Fairness (selection at top k; groups under {result.suppression_min} students suppressed)"]
    lines += [f"- Flagged disparity (ratio outside 0.8-1.25 vs the largest group): {f}" for f in flags] or \
        [f"- No ratio outside 0.8-1.25 among groups with {result.suppression_min}+ students." if result.spec.audit
         else "- No subgroup columns in the data: fairness could not be audited."]
    lines += [
        "", "## Limitations",
        "- Trained on one district's history: re-validate before use elsewhere or after policy changes.",
        "- The model ranks students for support; it is not a verdict on any student. Use it with staff judgment.",
        "- Model choice (logistic vs boosting) is made on the first seed's folds, which are also reported "
        "(small optimism; temporal validation chooses on the training cohorts only).",
        "- Subgroup disparities above are measured, not corrected; flagged ratios need review before use.",
        "- Reasons are local what-ifs (risk change when one value is set to the district's typical value), "
        "not causes.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- district table


@dataclass(frozen=True)
class UsageTotals:
    """What the student table takes from the weekly usage: per student and `as_of`, the minutes and the distinct
    weeks of the rows dated on or before it (`rows`: student_id, usage_minutes, usage_weeks_active, as_of; only
    the pairs with at least one such row, as a group-by of the rows gives; as_of None: every row, what undated
    indicators take), and the students with any usage row
    (`students`: whether the usage columns exist at all). Built from the rows (`usage_totals`) or by the database
    (services.risk), so the weekly rows need not be in memory; per student, so a scope's part is its students'."""

    rows: pd.DataFrame
    students: frozenset[str]

    def for_students(self, ids: Iterable[str]) -> UsageTotals:
        """The totals of these students only (what the rows of their usage alone would give)."""
        wanted = set(ids)
        return UsageTotals(self.rows[self.rows["student_id"].isin(wanted)].reset_index(drop=True),
                           frozenset(self.students & wanted))


def cohort_dates(indicators: pd.DataFrame) -> np.ndarray:
    """The distinct `as_of` dates of the indicator rows (each cohort counts usage up to its own date)."""
    return indicators["as_of"].dropna().unique() if "as_of" in indicators.columns else np.array([])


def usage_totals(usage: pd.DataFrame, as_of_values: Sequence[Any]) -> UsageTotals:
    """The usage totals of the weekly rows (the reference the database's aggregation must equal)."""
    parts = []
    for as_of in (as_of_values if len(as_of_values) else [None]):
        u = usage if as_of is None else usage[usage["week_start"] <= as_of]
        agg = u.groupby("student_id").agg(usage_minutes=("minutes", "sum"),
                                          usage_weeks_active=("week_start", "nunique")).reset_index()
        agg["as_of"] = as_of
        parts.append(agg)
    return UsageTotals(pd.concat(parts, ignore_index=True), frozenset(usage["student_id"].astype(str).unique()))


def student_feature_table(district: Any, target_column: str | None = None, *,
                          usage: UsageTotals | None = None) -> pd.DataFrame:
    """One row per student per `as_of`: indicators + roster + usage aggregates + prior scores.

    Usage counts only weeks starting on or before the row's `as_of`; assessment scores are the
    fall (else earliest) window per assessment, taken on or before `as_of` when dated. Roster
    subgroup columns come along for the fairness audit. `usage`: the usage totals when the weekly rows
    (`district.usage`) are not to be read (the same table either way).
    """
    indicators = district.indicators.copy()
    if indicators.empty:
        return indicators
    students = district.students
    roster_cols = [c for c in ["student_id", "school_id", "grade_level", "frl", "ell", "iep", "gender",
                               "race_ethnicity"] if c in students.columns]
    table = indicators.merge(students[roster_cols], on="student_id", how="left")
    if "grade_level" in table.columns:
        grade = table["grade_level"].astype("string").replace({"PK": "-1", "K": "0"})
        table["grade_level"] = pd.to_numeric(grade, errors="coerce")
    as_of_values = cohort_dates(table)
    if usage is None and len(district.usage):
        usage = usage_totals(district.usage, as_of_values)
    if usage is not None and usage.students:
        # dated cohorts take the totals up to their date; undated indicators the totals of every row (as_of None)
        dated = usage.rows["as_of"].notna()
        usage_agg = usage.rows[dated if len(as_of_values) else ~dated].copy()
        keys = ["student_id", "as_of"] if len(as_of_values) else ["student_id"]
        if len(as_of_values):
            usage_agg["as_of"] = pd.to_datetime(usage_agg["as_of"]).astype(table["as_of"].dtype)
        table = table.merge(usage_agg if len(as_of_values) else usage_agg.drop(columns="as_of"), on=keys, how="left")
        table[["usage_minutes", "usage_weeks_active"]] = table[["usage_minutes", "usage_weeks_active"]].fillna(0.0)
    assessments = district.assessments
    if len(assessments):
        # only the columns the scores need: the whole table copied, sorted and de-duplicated was the peak of
        # building the table at 500,000 students (2,000,000 rows)
        a = assessments[[c for c in ("student_id", "assessment", "window", "test_date", "score")
                         if c in assessments.columns]].copy()
        window = a["window"].astype("string").str.lower()
        a["_order"] = np.select([window.str.contains("pre"), window.str.contains("fall"),
                                 window.str.contains("winter"), window.str.contains("spring")], [0, 1, 2, 3], 4)
        fall = a.sort_values(["_order", "test_date"]).drop_duplicates(["student_id", "assessment"], keep="first")
        wide = fall.pivot_table(index="student_id", columns="assessment", values="score", aggfunc="mean")
        wide.columns = ["score_" + normalize_name(c) for c in wide.columns]
        table = table.merge(wide.reset_index(), on="student_id", how="left")
        if "grade_level" in table.columns:
            # scale scores rise with grade; the within-grade z says how a student stands among peers
            for col in wide.columns:
                by_grade = table.groupby("grade_level", dropna=False)[col]
                table[col + "_z_in_grade"] = (table[col] - by_grade.transform("mean")) / by_grade.transform("std")
    if target_column is not None and target_column not in table.columns:
        raise RiskInputError(f"target column {target_column!r} not among the indicators")
    return table.reset_index(drop=True)
