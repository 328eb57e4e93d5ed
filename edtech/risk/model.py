"""At-risk (early-warning) model: pure functions, DataFrames in, DataFrames/dataclasses out.

methods.md §4. The flow used by the CLI, the services and the page:

    target = parse_target(table, "G3 < 10")             # 0/1 per row (NA where unknown)
    spec = select_features(table, target_columns(table, "G3 < 10"), exclude=["G1"])
    result = evaluate_risk(table, "G3 < 10", k=0.1)      # CV, baselines, fairness, importance
    scored = score_students(result.model, table, result.spec)   # calibrated risk + 3 reasons

Every reported metric is out-of-sample: predictions come from stratified K-fold (or temporal,
or school-grouped) cross-validation and are calibrated with Platt scaling fitted on *other*
folds' out-of-fold scores. The regularization strength of the logistic model is chosen inside
each training fold (nested); the choice between logistic regression and gradient boosting is
made on the same out-of-fold predictions (calibrated log loss), a mild optimism that the model
card states.
"""

from __future__ import annotations

import hashlib
import math
import re
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from edtech.core.privacy import suppress_small
from edtech.ingest.parsing import FALSE_WORDS, TRUE_WORDS

DEFAULT_K = 0.1
DEFAULT_SEED = 0
N_FOLDS = 5
FAIR_LOW, FAIR_HIGH = 0.8, 1.25
SCHOOL_DAYS_ASSUMED = 180  # when only days_absent exists, "10% of days" = 18 days
MODEL_KINDS = ("logistic", "hgb")
L1_MAX_ROWS = 3000
MODEL_LABELS = {"logistic": "regularized logistic regression (C chosen by inner CV; L1 up to 3,000 rows, else L2)",
                "hgb": "histogram gradient boosting"}

# subgroup columns are kept for the fairness audit, never used as features unless asked
SUBGROUP_NAMES = ("race", "race_ethnicity", "ethnicity", "gender", "sex", "frl", "ell", "iep")
ID_NAMES = ("id", "student_id", "studentid", "sourcedid", "student_number", "student", "local_id", "state_id")
SCHOOL_NAMES = ("school_id", "school", "school_name")
COHORT_NAMES = ("as_of",)

_COMPARISON = re.compile(r"^\s*(?P<col>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>.+?)\s*$")
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
}


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

    Reads "5", " 5 ", "1,5" is *not* accepted (ambiguous). ID-like columns named in `keep_text`
    stay text (IDs are never numbers). Boolean words (yes/no...) become 1.0/0.0.
    """
    out = df.copy()
    keep = {normalize_name(c) for c in keep_text} | set(ID_NAMES) | set(SCHOOL_NAMES)
    for col in out.columns:
        s = out[col]
        if normalize_name(col) in keep or normalize_name(col).endswith("_id") or pd.api.types.is_numeric_dtype(s) or pd.api.types.is_datetime64_any_dtype(s):
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


# --------------------------------------------------------------------------- features


@dataclass(frozen=True)
class FeatureSpec:
    """Which columns feed the model, and which are kept aside (id, audit, cohort, dropped)."""

    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    id_column: str | None
    audit: tuple[str, ...]
    cohort: str | None
    school: str | None
    target_columns: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def detect_id_column(df: pd.DataFrame) -> str | None:
    """A column named like an ID (id, student_id, sourcedId...) or an all-unique text column."""
    named = _find_any(df, ID_NAMES)
    if named is not None:
        return named
    if len(df) < 20:
        return None
    for col in df.columns:
        s = df[col]
        if not pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_datetime64_any_dtype(s):
            if s.notna().all() and s.nunique() == len(df):
                return col
    return None


def select_features(
    df: pd.DataFrame,
    target_cols: Sequence[str],
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
) -> FeatureSpec:
    """Every non-ID column except the target, `exclude`, dates and subgroup columns.

    Subgroup columns (race, gender, sex, frl, ell, iep...) are audit-only unless named in
    `include`. Constant columns and near-unique text (free text, hidden IDs) are dropped
    with a reason.
    """
    include_norm = {normalize_name(c) for c in include}
    exclude_cols = []
    for name in exclude:
        col = find_column(df, name)
        if col is None:
            raise RiskInputError(f"--exclude column {name!r} not in the table")
        exclude_cols.append(col)
    id_col = detect_id_column(df)
    cohort = _find_any(df, COHORT_NAMES)
    school = _find_any(df, SCHOOL_NAMES)
    numeric: list[str] = []
    categorical: list[str] = []
    audit: list[str] = []
    dropped: dict[str, str] = {}
    for col in df.columns:
        norm = normalize_name(col)
        if col in target_cols:
            dropped[col] = "target"
            continue
        if col in exclude_cols:
            dropped[col] = "excluded"
            continue
        if col == id_col:
            continue
        if norm in SUBGROUP_NAMES and norm not in include_norm:
            audit.append(col)
            continue
        s = df[col]
        if col == cohort or pd.api.types.is_datetime64_any_dtype(s):
            dropped.setdefault(col, "date")
            continue
        if s.nunique(dropna=True) <= 1:
            dropped[col] = "constant"
            continue
        if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
            numeric.append(col)
        else:
            levels = s.nunique(dropna=True)
            if levels > 50 and levels > 0.5 * s.notna().sum():
                dropped[col] = "near-unique text"
                continue
            categorical.append(col)
    if not numeric and not categorical:
        raise RiskInputError("no feature columns left after removing the target, IDs and excluded columns")
    return FeatureSpec(tuple(numeric), tuple(categorical), id_col, tuple(audit), cohort, school,
                       tuple(target_cols), dropped)


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


# --------------------------------------------------------------------------- pipelines


def build_risk_pipeline(kind: str, numeric: Sequence[str], categorical: Sequence[str],
                        seed: int = DEFAULT_SEED, n_rows: int | None = None) -> Pipeline:
    """Unfitted Pipeline: ColumnTransformer (impute+scale / impute+one-hot) + classifier.

    kind "logistic": L1-regularized logistic regression whose C is chosen by an inner 5-fold CV
    on log loss (so the choice is nested inside any outer fold). L1 keeps the few strong
    predictors and drops noise columns, which matters on small tables.
    kind "hgb": HistGradientBoostingClassifier with conservative leaves and early stopping on
    large tables.
    """
    numeric_steps = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True,
                                                       keep_empty_features=True)),
                              ("scale", StandardScaler())])
    categorical_steps = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="(missing)")),
                                  ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=5,
                                                           sparse_output=False))])
    pre = ColumnTransformer([("num", numeric_steps, list(numeric)), ("cat", categorical_steps, list(categorical))],
                            remainder="drop", verbose_feature_names_out=False)
    large = (n_rows or 0) > 20000
    if kind == "logistic":
        # Small tables: L1 (liblinear) drops noise columns, which is what wins on a few hundred rows.
        # Larger tables: L2 with lbfgs, 30x faster and equally good once noise is averaged out.
        small = (n_rows or 0) <= L1_MAX_ROWS
        classifier: Any = LogisticRegressionCV(
            Cs=np.logspace(-3, 2, 11) if small else (np.logspace(-3, 1, 5) if large else np.logspace(-3, 2, 8)), l1_ratios=(1.0,) if small else (0.0,),
            solver="liblinear" if small else "lbfgs", scoring="neg_log_loss", cv=3 if large else 5,
            max_iter=1000, random_state=seed, use_legacy_attributes=False)
    elif kind == "hgb":
        classifier = HistGradientBoostingClassifier(
            learning_rate=0.08, max_iter=300 if large else 150, max_leaf_nodes=15, min_samples_leaf=20,
            l2_regularization=1.0, early_stopping=large, validation_fraction=0.1, n_iter_no_change=15,
            random_state=seed)
    else:
        raise ValueError(f"unknown model kind {kind!r}; choose from {MODEL_KINDS}")
    return Pipeline([("preprocess", pre), ("classifier", classifier)])


def _platt(scores: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Fit Platt scaling (a 1-D logistic regression on the logit of the raw score)."""
    return LogisticRegression(C=1e4, max_iter=1000).fit(_logit(scores).reshape(-1, 1), y)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype="float64"), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _apply_platt(calibrator: LogisticRegression, scores: np.ndarray) -> np.ndarray:
    return calibrator.predict_proba(_logit(scores).reshape(-1, 1))[:, 1]


def predict_risk(model: dict[str, Any], X: pd.DataFrame) -> np.ndarray:
    """Calibrated probabilities from a fitted model bundle {"pipeline", "calibrator", ...}."""
    raw = model["pipeline"].predict_proba(X)[:, 1]
    return _apply_platt(model["calibrator"], raw)


# --------------------------------------------------------------------------- metrics


def top_k_mask(scores: np.ndarray, k: float, seed: int = DEFAULT_SEED) -> np.ndarray:
    """Boolean mask of the ceil(k*n) highest scores; ties broken at random (fixed seed)."""
    scores = np.asarray(scores, dtype="float64")
    n = len(scores)
    n_flag = min(n, max(1, math.ceil(k * n))) if n else 0
    tiebreak = np.random.default_rng(seed).random(n)
    order = np.lexsort((tiebreak, -scores))
    mask = np.zeros(n, dtype=bool)
    mask[order[:n_flag]] = True
    return mask


def precision_recall_at_k(y: np.ndarray, scores: np.ndarray, k: float) -> tuple[float | None, float | None]:
    """Precision and recall among the top k share by `scores` (any ranking score)."""
    y = np.asarray(y, dtype=int)
    flagged = top_k_mask(scores, k)
    positives = int(y.sum())
    precision = float(y[flagged].mean()) if flagged.any() else None
    recall = float(y[flagged].sum() / positives) if positives else None
    return precision, recall


def classification_metrics(y: np.ndarray, p: np.ndarray, k: float = DEFAULT_K) -> dict[str, Any]:
    """ROC AUC, PR AUC (average precision), Brier, accuracy at 0.5, precision/recall at top k."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype="float64")
    both = len(np.unique(y)) == 2
    flagged = top_k_mask(p, k)
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
    """
    n = len(y)
    cohorts = df[spec.cohort] if spec.cohort else None
    if validation in ("auto", "temporal") and cohorts is not None and cohorts.nunique() >= 2:
        latest = cohorts.max()
        test = np.flatnonzero((cohorts == latest).to_numpy())
        train = np.flatnonzero((cohorts < latest).to_numpy())
        if len(np.unique(y[train])) == 2 and len(test):
            return f"temporal: trained on {cohorts[cohorts < latest].nunique()} earlier cohort(s), tested on as_of {pd.Timestamp(latest).date()}", [(train, test)]
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

    Used for both baselines: the school-only model (key = school) and the calibrated ABC rule
    (key = number of ABC flags). Rows in no test fold keep NaN.
    """
    out = np.full(len(y), np.nan)
    key_arr = keys.astype("string").fillna("(missing)").to_numpy()
    for train, test in splits:
        base = y[train].mean()
        frame = pd.DataFrame({"k": key_arr[train], "y": y[train]})
        stats = frame.groupby("k")["y"].agg(["sum", "count"])
        rate = (stats["sum"] + prior_weight * base) / (stats["count"] + prior_weight)
        out[test] = pd.Series(key_arr[test]).map(rate).fillna(base).to_numpy()
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


def _baseline_entry(y: np.ndarray, p: np.ndarray, k: float, description: str) -> dict[str, Any]:
    entry = classification_metrics(y, p, k)
    entry["available"] = True
    entry["description"] = description
    return entry


def _unavailable(reason: str) -> dict[str, Any]:
    keys = ("n", "positives", "roc_auc", "pr_auc", "brier", "log_loss", "accuracy", "k", "flagged",
            "precision_at_k", "recall_at_k")
    return {**{key: None for key in keys}, "available": False, "description": reason}


# --------------------------------------------------------------------------- fairness


def fairness_table(audit: pd.DataFrame, y: np.ndarray, flagged: np.ndarray, min_n: int = 10) -> pd.DataFrame:
    """Per subgroup: n, selection rate, FPR, FNR, precision and their ratio to the largest group.

    `flagged` is the operational decision (top k% by risk). A ratio outside [0.8, 1.25] is
    listed in `flags`. Groups with fewer than `min_n` students are suppressed (n shown as
    "<min_n", rates blanked) and never serve as reference; they are not flagged.
    """
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


def explain_students(model: dict[str, Any], X: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """Top `top` reasons per row by local perturbation.

    For each feature, the row's value is replaced by the district's typical value (median /
    most common); the drop in predicted risk is that feature's contribution. The features
    with the largest positive contributions become plain-word reasons. Honest for any model
    (linear or boosted) and costs one batched prediction per feature.
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
    reasons: list[list[str]] = []
    order = np.argsort(-contributions, axis=1)[:, :top]
    for i in range(len(X)):
        row_reasons = []
        for j in order[i]:
            if contributions[i, j] <= 0.005:  # under half a point of risk: not a reason
                break
            col = columns[j]
            row_reasons.append(describe_value(col, X.iloc[i, j], typical[col] if col in numeric else None))
        reasons.append(row_reasons)
    out = pd.DataFrame({"risk": base}, index=X.index)
    for r in range(top):
        out[f"reason_{r + 1}"] = [rs[r] if len(rs) > r else "" for rs in reasons]
    return out


# --------------------------------------------------------------------------- evaluation


@dataclass
class RiskResult:
    """Everything the CLI, page and model card show. All metrics are out-of-sample."""

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
    model: dict[str, Any] | None  # {"pipeline", "calibrator", "kind", "features"} fitted on all rows
    fingerprint: str
    n_dropped_target: int = 0
    abc_rules: list[str] = field(default_factory=list)

    @property
    def recommended(self) -> bool:
        """The model must beat every available baseline on PR AUC and precision at k."""
        for base in self.baselines.values():
            if not base.get("available"):
                continue
            for key in ("pr_auc", "precision_at_k"):
                if base.get(key) is not None and (self.metrics.get(key) or 0) <= base[key]:
                    return False
        return True


def data_fingerprint(df: pd.DataFrame) -> str:
    """sha256 over column names and row hashes: identifies the exact training data."""
    digest = hashlib.sha256("|".join(map(str, df.columns)).encode())
    digest.update(pd.util.hash_pandas_object(df.astype("string"), index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _fit_raw(kind: str, spec: FeatureSpec, X: pd.DataFrame, y: np.ndarray, seed: int) -> Pipeline:
    pipe = build_risk_pipeline(kind, spec.numeric, spec.categorical, seed=seed, n_rows=len(X))
    # One OpenMP thread on small tables: on a shared 2-core machine, oversubscribed threads made
    # a 400-row boosting fit 20x slower. Large tables get both cores.
    with warnings.catch_warnings(), threadpool_limits(limits=1 if len(X) < 20000 else 2):
        warnings.simplefilter("ignore")  # convergence chatter on tiny folds
        pipe.fit(X, y)
    return pipe


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


def evaluate_risk(
    df: pd.DataFrame,
    target: str,
    *,
    exclude: Sequence[str] = (),
    include: Sequence[str] = (),
    k: float = DEFAULT_K,
    validation: str = "auto",
    kinds: Sequence[str] = MODEL_KINDS,
    seed: int = DEFAULT_SEED,
    fit_final: bool = True,
    importance: bool = True,
    progress: Callable[[float, str], None] | None = None,
) -> RiskResult:
    """Cross-validate candidate models and the baselines on one student table.

    `df` holds one row per student (per cohort); text columns that are all numbers are read
    as numbers. Rows with an unknown target are left out (counted in `n_dropped_target`).
    """
    def step(share: float, message: str) -> None:
        if progress is not None:
            progress(share, message)

    if not 0 < k <= 1:
        raise RiskInputError("k (capacity share) must be in (0, 1]")
    if len(df) == 0:
        raise RiskInputError("the table has no rows")
    df = df.reset_index(drop=True)  # predictions are indexed by row position
    id_guess = detect_id_column(df)
    table = coerce_numeric_columns(df, keep_text=[id_guess] if id_guess else [])
    y_all = parse_target(table, target)
    known = y_all.notna().to_numpy()
    table = table.loc[known]
    y = y_all[known].astype(int).to_numpy()
    if len(y) < 20:
        raise RiskInputError(f"only {len(y)} rows with a known target; need at least 20")
    spec = select_features(table, target_columns(table, target), exclude=exclude, include=include)
    X = feature_frame(table, spec)
    description, splits = make_splits(table, y, spec, validation, seed)
    test_idx = np.concatenate([t for _, t in splits])
    is_temporal = description.startswith("temporal")

    # candidate models: raw out-of-fold scores, then calibrated
    raw_scores: dict[str, np.ndarray] = {}
    calibrated: dict[str, np.ndarray] = {}
    first_fold_models: dict[str, Pipeline] = {}
    total_steps = len(kinds) * len(splits) + 2
    done = 0
    for kind in kinds:
        raw = np.full(len(y), np.nan)
        for fold, (train, test) in enumerate(splits):
            step(done / total_steps, f"{MODEL_LABELS[kind]}: fold {fold + 1} of {len(splits)}")
            pipe = _fit_raw(kind, spec, X.iloc[train], y[train], seed)
            raw[test] = pipe.predict_proba(X.iloc[test])[:, 1]
            if fold == 0:
                first_fold_models[kind] = pipe
            done += 1
        raw_scores[kind] = raw
        if is_temporal:
            # calibrator from inner out-of-fold scores of the training cohorts only
            train, test = splits[0]
            inner_desc, inner = make_splits(table.iloc[train], y[train], spec, "kfold", seed)
            inner_raw = np.full(len(train), np.nan)
            for itrain, itest in inner:
                pipe = _fit_raw(kind, spec, X.iloc[train].iloc[itrain], y[train][itrain], seed)
                inner_raw[itest] = pipe.predict_proba(X.iloc[train].iloc[itest])[:, 1]
            cal = np.full(len(y), np.nan)
            cal[test] = _apply_platt(_platt(inner_raw, y[train]), raw[test])
            calibrated[kind] = cal
        else:
            calibrated[kind] = _cross_fitted_platt(raw, y, splits)
    y_test = y[test_idx]
    candidates = {kind: classification_metrics(y_test, calibrated[kind][test_idx], k) for kind in kinds}
    best = _choose_model(list(kinds), {kd: calibrated[kd][test_idx] for kd in kinds}, y_test)
    p_test = calibrated[best][test_idx]
    metrics = candidates[best]

    # baselines on the same rows and folds
    step(done / total_steps, "baselines")
    flags, abc_rules = abc_flags(table)
    baselines: dict[str, dict[str, Any]] = {}
    abc_score = flags.sum(axis=1).to_numpy() if abc_rules else np.zeros(len(y))
    if abc_rules:
        abc_p = _oof_group_rate(pd.Series(abc_score), y, splits)
        entry = _baseline_entry(y_test, abc_p[test_idx], k,
                                "ABC rule: number of flags among " + "; ".join(abc_rules)
                                + " (ranked by flag count; probability = out-of-fold rate per count)")
        # precision/recall at k rank students by the raw flag count, ties at random
        entry["precision_at_k"], entry["recall_at_k"] = precision_recall_at_k(y_test, abc_score[test_idx], k)
        baselines["abc_rule"] = entry
    else:
        baselines["abc_rule"] = _unavailable("no attendance, course failure, GPA or suspension column")
    school_rate = np.full(len(y), np.nan)
    if spec.school:
        school_rate = _oof_group_rate(table[spec.school], y, splits)
        baselines["school_only"] = _baseline_entry(y_test, school_rate[test_idx], k,
                                                   f"each student gets the out-of-fold base rate of their {spec.school}")
    else:
        baselines["school_only"] = _unavailable("no school column")

    flagged = top_k_mask(p_test, k)
    predictions = pd.DataFrame({"y": y_test, "risk": p_test, "abc_score": abc_score[test_idx],
                                "school_rate": school_rate[test_idx], "flagged": flagged},
                               index=table.index[test_idx])
    # audit labels from the original values (a boolean frl reads "True", not "1.0")
    audit = (df.loc[predictions.index, list(spec.audit)] if spec.audit
             else pd.DataFrame(index=predictions.index))
    fairness = fairness_table(audit, y_test, flagged)

    importance_frame = pd.DataFrame(columns=["feature", "importance", "std"])
    if importance:
        step((done + 1) / total_steps, "permutation importance")
        train, test = splits[0]
        scoring = "roc_auc" if len(np.unique(y[test])) == 2 else "neg_log_loss"
        rows = test if len(test) <= 5000 else np.random.default_rng(seed).choice(test, 5000, replace=False)
        imp = permutation_importance(first_fold_models[best], X.iloc[rows], y[rows], scoring=scoring,
                                     n_repeats=5, random_state=seed, n_jobs=1)
        importance_frame = pd.DataFrame({"feature": list(X.columns), "importance": imp.importances_mean,
                                         "std": imp.importances_std}).sort_values("importance", ascending=False,
                                                                                   ignore_index=True)
    model = None
    if fit_final:
        step((done + 1.5) / total_steps, "fitting the final model on all rows")
        pipe = _fit_raw(best, spec, X, y, seed)
        # Platt fitted on every honest (out-of-fold / out-of-time) raw score available
        calibrator = _platt(raw_scores[best][test_idx], y_test)
        model = {"pipeline": pipe, "calibrator": calibrator, "kind": best, "features": list(X.columns)}
    step(1.0, "done")
    return RiskResult(
        target=target, validation=description, model_kind=best, metrics=metrics, candidates=candidates,
        baselines=baselines, spec=spec, predictions=predictions,
        calibration=calibration_bins(y_test, p_test), pr_curve=pr_curve_frame(y_test, p_test),
        fairness=fairness, importance=importance_frame, model=model, fingerprint=data_fingerprint(df),
        n_dropped_target=int((~known).sum()), abc_rules=abc_rules)


def result_summary(result: RiskResult) -> dict[str, Any]:
    """JSON-ready summary (the CLI contract): model metrics at top level + baselines."""
    keys = ("n", "positives", "roc_auc", "pr_auc", "accuracy", "brier", "log_loss", "precision_at_k",
            "recall_at_k", "k", "flagged")
    out: dict[str, Any] = {key: result.metrics.get(key) for key in keys}
    out.update({
        "target": result.target,
        "model": result.model_kind,
        "model_description": MODEL_LABELS[result.model_kind],
        "validation": result.validation,
        "recommended": result.recommended,
        "candidates": {kind: {key: m.get(key) for key in keys} for kind, m in result.candidates.items()},
        "baselines": {name: {key: b.get(key) for key in (*keys, "available", "description")}
                      for name, b in result.baselines.items()},
        "features": result.spec.features,
        "audit_columns": list(result.spec.audit),
        "id_column": result.spec.id_column,
        "rows_without_target": result.n_dropped_target,
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


# --------------------------------------------------------------------------- scoring & card


def score_students(model: dict[str, Any], df: pd.DataFrame, spec: FeatureSpec, k: float = DEFAULT_K,
                   with_reasons: bool = True) -> pd.DataFrame:
    """Calibrated risk, rank, top-k flag (overall) and up to three plain-word reasons per row."""
    id_guess = spec.id_column
    table = coerce_numeric_columns(df, keep_text=[id_guess] if id_guess else [])
    X = feature_frame(table, spec)[model["features"]]
    if with_reasons:
        out = explain_students(model, X)
    else:
        out = pd.DataFrame({"risk": predict_risk(model, X)}, index=X.index)
    if spec.id_column:
        out.insert(0, "student_id", table[spec.id_column].astype("string").to_numpy())
    if spec.school and spec.school in table.columns:
        out.insert(1 if spec.id_column else 0, "school", table[spec.school].astype("string").to_numpy())
    out["rank"] = out["risk"].rank(ascending=False, method="first").astype(int)
    out["flagged"] = top_k_mask(out["risk"].to_numpy(), k)
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


def model_card(result: RiskResult, data_name: str = "uploaded table", date: str | None = None) -> str:
    """Markdown model card: data, target, features, metrics vs baselines, fairness, limitations."""
    date = date or pd.Timestamp.today().date().isoformat()
    m = result.metrics
    lines = [
        f"# Model card: at-risk model for `{result.target}`", "",
        f"*Generated {date}. Data fingerprint `{result.fingerprint}`.*", "",
        "## Data",
        f"- Source: {data_name}; {m['n']} students evaluated, {m['positives']} positive "
        f"({m['positives'] / max(m['n'], 1):.1%}); {result.n_dropped_target} rows without a target left out.",
        f"- Validation: {result.validation}. Every number below is out-of-sample.", "",
        "## Target", f"- `{result.target}` (1 = at risk).", "",
        "## Model",
        f"- Chosen: **{MODEL_LABELS[result.model_kind]}**, selected among "
        f"{', '.join(result.candidates)} by out-of-fold log loss (the simpler model unless another is better "
        "by more than one standard error); probabilities calibrated (Platt scaling "
        "fitted on other folds' out-of-fold scores).",
        f"- Features ({len(result.spec.features)}): {', '.join(f'`{c}`' for c in result.spec.features)}.",
        f"- Audit-only columns (not used as features): {', '.join(f'`{c}`' for c in result.spec.audit) or 'none'}.",
        f"- Left out: {', '.join(f'`{c}` ({why})' for c, why in result.spec.dropped.items()) or 'nothing'}.", "",
        f"## Performance (top {m['k']:.0%} flagged = intervention capacity)", "",
        "| | ROC AUC | PR AUC | Brier | accuracy | precision@k | recall@k |", "|---|---|---|---|---|---|---|",
    ]
    rows = [("**model**", m)] + [(name.replace("_", " "), b) for name, b in result.baselines.items()]
    for name, row in rows:
        if row.get("available") is False:
            lines.append(f"| {name} | not available: {row['description']} | | | | | |")
            continue
        lines.append(f"| {name} | {_fmt(row['roc_auc'])} | {_fmt(row['pr_auc'])} | {_fmt(row['brier'])} | "
                     f"{_fmt(row['accuracy'], True)} | {_fmt(row['precision_at_k'], True)} | {_fmt(row['recall_at_k'], True)} |")
    verdict = ("beats every available baseline on PR AUC and precision at k: recommended"
               if result.recommended else "does NOT beat every baseline: not recommended over the simple rule")
    lines += ["", f"Verdict: the model {verdict}.", "", "## Most important features (permutation, held-out fold)"]
    for r in result.importance.head(8).itertuples():
        lines.append(f"- `{r.feature}`: {r.importance:+.3f} ROC AUC when shuffled")
    flags = fairness_flags(result.fairness)
    lines += ["", "## Fairness (selection at top k; groups under 10 students suppressed)"]
    lines += [f"- Flagged disparity (ratio outside 0.8-1.25 vs the largest group): {f}" for f in flags] or \
        ["- No ratio outside 0.8-1.25 among groups with 10+ students." if result.spec.audit
         else "- No subgroup columns in the data: fairness could not be audited."]
    lines += [
        "", "## Limitations",
        "- Trained on one district's history: re-validate before use elsewhere or after policy changes.",
        "- The model ranks students for support; it is not a verdict on any student. Use it with staff judgment.",
        "- Model choice (logistic vs boosting) is made on the same folds that are reported (small optimism).",
        "- Subgroup disparities above are measured, not corrected; flagged ratios need review before use.",
        "- Reasons are local what-ifs (risk change when one value is set to the district's typical value), "
        "not causes.",
    ]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- district table


def student_feature_table(district: Any, target_column: str | None = None) -> pd.DataFrame:
    """One row per student per `as_of`: indicators + roster + usage aggregates + prior scores.

    Usage counts only weeks starting on or before the row's `as_of`; assessment scores are the
    fall (else earliest) window per assessment, taken on or before `as_of` when dated. Roster
    subgroup columns come along for the fairness audit.
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
    usage = district.usage
    as_of_values = table["as_of"].dropna().unique() if "as_of" in table.columns else []
    if len(usage):
        parts = []
        for as_of in (as_of_values if len(as_of_values) else [None]):
            u = usage if as_of is None else usage[usage["week_start"] <= as_of]
            agg = u.groupby("student_id").agg(usage_minutes=("minutes", "sum"),
                                              usage_weeks_active=("week_start", "nunique")).reset_index()
            agg["as_of"] = as_of
            parts.append(agg)
        usage_agg = pd.concat(parts, ignore_index=True)
        keys = ["student_id", "as_of"] if len(as_of_values) else ["student_id"]
        if len(as_of_values):
            usage_agg["as_of"] = pd.to_datetime(usage_agg["as_of"]).astype(table["as_of"].dtype)
        table = table.merge(usage_agg if len(as_of_values) else usage_agg.drop(columns="as_of"), on=keys, how="left")
        table[["usage_minutes", "usage_weeks_active"]] = table[["usage_minutes", "usage_weeks_active"]].fillna(0.0)
    assessments = district.assessments
    if len(assessments):
        a = assessments.copy()
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
