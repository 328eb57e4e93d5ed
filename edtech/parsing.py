"""Vectorized parsers for the contract's type rules.

Each parser takes a Series of raw text (None/NA for blank) and returns `Parsed`: the typed
values and, for every invalid cell, a reason. Values are parsed once per distinct text
(`pd.factorize`) because real exports repeat the same dates, grades and IDs many times.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from edtech import contract as ct

TRUE_WORDS = {"true", "yes", "y", "1", "t"}
FALSE_WORDS = {"false", "no", "n", "0", "f"}
GRADE_WORDS = {"pk": "PK", "prek": "PK", "pre_k": "PK", "pre-k": "PK", "k": "K", "kg": "K",
               "kindergarten": "K", "tk": "PK", "0": "K", "00": "K"}
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_MONEY_STRIP = re.compile(r"[\s$,]")


@dataclass
class Parsed:
    values: pd.Series
    bad: pd.Series            # bool mask of invalid cells
    reasons: pd.Series        # reason text where bad (object), else None


def blank_mask(raw: pd.Series) -> pd.Series:
    s = raw.astype("object")
    return s.isna() | (s.astype(str).str.strip() == "")


def _by_unique(raw: pd.Series, parse_one: Callable[[str], object], dtype: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Apply parse_one to each distinct non-blank text; returns (values, reasons)."""
    codes, uniques = pd.factorize(raw.astype("object"), use_na_sentinel=True)
    vals: list[object] = []
    why: list[object] = []
    for u in uniques:
        try:
            vals.append(parse_one(str(u).strip()))
            why.append(None)
        except ValueError as exc:
            vals.append(None)
            why.append(str(exc))
    vals_arr = np.array(vals + [None], dtype=object)
    why_arr = np.array(why + [None], dtype=object)
    idx = np.where(codes < 0, len(uniques), codes)
    values = pd.Series(vals_arr[idx], index=raw.index)
    reasons = pd.Series(why_arr[idx], index=raw.index)
    if dtype:
        values = values.astype(dtype)
    return values, reasons


def parse_date_text(text: str) -> pd.Timestamp:
    m = _ISO.match(text)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = _US.match(text)
        if not m:
            raise ValueError("is not a date (use YYYY-MM-DD or MM/DD/YYYY)")
        mo, d, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
    try:
        return pd.Timestamp(year=y, month=mo, day=d)
    except ValueError:
        raise ValueError("is not a real calendar date") from None


def parse_bool_text(text: str) -> bool:
    low = text.lower()
    if low in TRUE_WORDS:
        return True
    if low in FALSE_WORDS:
        return False
    raise ValueError("is not a yes/no value (use true/false, yes/no, y/n, 1/0, t/f)")


def parse_grade_text(text: str) -> str:
    low = text.lower().replace(" ", "")
    if low in GRADE_WORDS:
        return GRADE_WORDS[low]
    if low.isdigit() and 1 <= int(low) <= 12:
        return str(int(low))
    raise ValueError("is not a grade (PK, K, 1-12)")


def _factorized(raw: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Codes and distinct stripped texts (-1 = blank)."""
    text = raw.astype("string[pyarrow]").str.strip()
    text = text.mask(text == "")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    return codes, pd.Index(uniques)


def _numeric(raw: pd.Series, money: bool) -> tuple[pd.Series, pd.Series]:
    codes, uniques = _factorized(raw)
    texts = pd.Series(uniques.astype("object"))
    if money:
        texts = texts.str.replace(_MONEY_STRIP, "", regex=True)
    parsed = pd.to_numeric(texts, errors="coerce").to_numpy(dtype="float64")
    values = np.append(parsed, np.nan)[np.where(codes < 0, len(parsed), codes)]
    bad_unique = np.append(np.isnan(parsed), False)
    bad = bad_unique[np.where(codes < 0, len(parsed), codes)]
    reasons = pd.Series(np.where(bad, "is not a number", None), index=raw.index, dtype=object)
    return pd.Series(values, index=raw.index, dtype="float64"), reasons


def parse_column(raw: pd.Series, col: ct.Column) -> Parsed:
    """Parse one column by its contract type and check its bounds."""
    blank = blank_mask(raw)
    t = col.type
    if t in (ct.TEXT, ct.ID):
        stripped = raw.astype("string[pyarrow]").str.strip()
        values = stripped.astype("object").where(~blank, None)
        reasons = pd.Series(None, index=raw.index, dtype=object)
    elif t == ct.ENUM:
        # "K-12", "K 12" and "k12" are the same level; "Signed DPA" is signed_dpa
        squeezed = {c.replace("_", ""): c for c in col.choices}

        def one(text: str) -> str:
            low = ct.normalize_header(text)
            if low not in col.choices:
                low = squeezed.get(low.replace("_", ""), "")
            if low not in col.choices:
                raise ValueError(f"is not one of {', '.join(col.choices)}")
            return low
        values, reasons = _by_unique(raw.where(~blank, None), one)
    elif t == ct.DATE:
        values, reasons = _by_unique(raw.where(~blank, None), parse_date_text)
        values = pd.to_datetime(values).astype("datetime64[ns]")
    elif t == ct.BOOL:
        values, reasons = _by_unique(raw.where(~blank, None), parse_bool_text)
        values = values.astype("boolean")
    elif t == ct.GRADE:
        values, reasons = _by_unique(raw.where(~blank, None), parse_grade_text)
    elif t in (ct.NUMBER, ct.MONEY, ct.INT, ct.PERCENT):
        values, reasons = _numeric(raw, money=t == ct.MONEY)
        if t == ct.INT:
            frac = values.notna() & (values != np.floor(values.fillna(0)))
            reasons = reasons.mask(frac & reasons.isna(), "is not a whole number")
        if t == ct.PERCENT:
            ok = values.dropna()
            if len(ok) and ok.max() > 1:  # contract: a column with values above 1 is read as 0-100
                values = values / 100.0
            out = values.notna() & ((values < 0) | (values > 1))
            reasons = reasons.mask(out & reasons.isna(), "is not a percent (0-1 or 0-100)")
    else:  # pragma: no cover - contract types are closed
        raise ValueError(f"unknown column type {t}")
    if col.min is not None and t in (ct.NUMBER, ct.MONEY, ct.INT):
        low = (values <= col.min) if col.min_exclusive else (values < col.min)
        low = low.fillna(False).astype(bool)
        word = "must be greater than" if col.min_exclusive else "must be at least"
        msg = f"{word} {col.min:g}" if col.min != 0 or col.min_exclusive else "is negative"
        reasons = reasons.mask(low & reasons.isna(), msg)
    if col.max is not None and t in (ct.NUMBER, ct.MONEY, ct.INT):
        high = (values > col.max).fillna(False).astype(bool)
        reasons = reasons.mask(high & reasons.isna(), f"is above the maximum of {col.max:g}")
    if col.required:
        reasons = reasons.mask(blank & reasons.isna(), "is required but blank")
    bad = reasons.notna()
    return Parsed(values=values, bad=bad, reasons=reasons)
