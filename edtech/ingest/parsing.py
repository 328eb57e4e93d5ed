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

from edtech.core.words import FALSE_WORDS, TRUE_WORDS
from edtech.ingest import contract as ct

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
    percent_scale: float | None = None  # 100 when a percent column was read as 0-100



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


def _distinct_texts(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes per row, distinct stripped non-blank texts); code -1 = blank.

    Factorizing first means every later step works on the distinct values only: a 2-million-row
    usage file has a few thousand distinct IDs, a few hundred dates and minute values.
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    texts = pd.Series(np.asarray(uniques, dtype=object), dtype=object).map(lambda v: str(v).strip())
    # texts that only differed by surrounding spaces become one; blanks become -1
    codes2, distinct = pd.factorize(texts.where(texts != "", None), use_na_sentinel=True)
    remap = np.append(codes2, -1)
    return remap[np.where(codes < 0, len(codes2), codes)], np.asarray(distinct, dtype=object)


def _numbers(texts: np.ndarray, money: bool) -> np.ndarray:
    series = pd.Series(texts, dtype=object)
    if money:
        series = series.str.replace(_MONEY_STRIP, "", regex=True)
    return pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64")


def parse_column(raw: pd.Series, col: ct.Column, percent_scale: float | None = None) -> Parsed:
    """Parse one column by its contract type and check its bounds (on distinct values, then
    spread to rows). `percent_scale` carries the scale an earlier chunk of the same file chose."""
    codes, texts = _distinct_texts(raw)
    n = len(texts)
    why = np.full(n, None, dtype=object)
    t = col.type

    def per_value(parse_one: Callable[[str], object]) -> np.ndarray:
        out = np.full(n, None, dtype=object)
        for i, text in enumerate(texts):
            try:
                out[i] = parse_one(text)
            except ValueError as exc:
                why[i] = str(exc)
        return out

    if t in (ct.TEXT, ct.ID):
        unique_values: np.ndarray = texts
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
        unique_values = per_value(one)
    elif t == ct.DATE:
        parsed = per_value(parse_date_text)
        unique_values = np.array([np.datetime64("NaT", "ns") if v is None else np.datetime64(v.date(), "ns")
                                  for v in parsed], dtype="datetime64[ns]")
    elif t == ct.BOOL:
        unique_values = per_value(parse_bool_text)
    elif t == ct.GRADE:
        unique_values = per_value(parse_grade_text)
    elif t in (ct.NUMBER, ct.MONEY, ct.INT, ct.PERCENT):
        unique_values = _numbers(texts, money=t == ct.MONEY)
        nan = np.isnan(unique_values)
        why[nan] = "is not a number"
        ok = ~nan
        if t == ct.INT:
            frac = ok & (unique_values != np.floor(np.where(ok, unique_values, 0)))
            why[frac & (why == None)] = "is not a whole number"  # noqa: E711 - elementwise on object array
        if t == ct.PERCENT:
            if percent_scale is None and ok.any():
                # contract: a column with values above 1 is read as 0-100
                percent_scale = 100.0 if unique_values[ok].max() > 1 else 1.0
            if percent_scale == 1.0 and ok.any() and unique_values[ok].max() > 1:
                # a long file whose first rows were all 0-1 shares: a later value above 1 is ambiguous
                why[ok & (unique_values > 1) & (why == None)] = (  # noqa: E711
                    "is above 1 but earlier rows of this column were read as 0-1 shares")
            unique_values = unique_values / (percent_scale or 1.0)
            out = ok & ((unique_values < 0) | (unique_values > 1))
            why[out & (why == None)] = "is not a percent (0-1 or 0-100)"  # noqa: E711
        if col.min is not None and t != ct.PERCENT:
            low = ok & ((unique_values <= col.min) if col.min_exclusive else (unique_values < col.min))
            word = "must be greater than" if col.min_exclusive else "must be at least"
            msg = f"{word} {col.min:g}" if col.min != 0 or col.min_exclusive else "is negative"
            why[low & (why == None)] = msg  # noqa: E711
        if col.max is not None and t != ct.PERCENT:
            high = ok & (unique_values > col.max)
            why[high & (why == None)] = f"is above the maximum of {col.max:g}"  # noqa: E711
    else:  # pragma: no cover - contract types are closed
        raise ValueError(f"unknown column type {t}")

    take = np.where(codes < 0, n, codes)
    blank_reason = "is required but blank" if col.required else None
    reasons = pd.Series(np.append(why, blank_reason)[take], index=raw.index, dtype=object)
    bad = reasons.notna()
    if t in (ct.TEXT, ct.ID):
        # categorical with sorted categories: cheap to group, compare and sort by key
        order = np.argsort(texts, kind="stable") if n else np.array([], dtype=int)
        rank = np.empty(n, dtype=np.int64)
        rank[order] = np.arange(n)
        cat_codes = np.where(codes < 0, -1, rank[np.where(codes < 0, 0, codes)]) if n else codes
        values = pd.Series(pd.Categorical.from_codes(cat_codes, categories=pd.Index(texts[order], dtype=object)),
                           index=raw.index)
    elif t == ct.DATE:
        values = pd.Series(np.append(unique_values, np.datetime64("NaT", "ns"))[take], index=raw.index)
    elif t in (ct.NUMBER, ct.MONEY, ct.INT, ct.PERCENT):
        values = pd.Series(np.append(unique_values, np.nan)[take], index=raw.index, dtype="float64")
    elif t == ct.BOOL:
        values = pd.Series(pd.array(np.append(unique_values, None)[take], dtype="boolean"), index=raw.index)
    else:
        values = pd.Series(np.append(unique_values, None)[take], index=raw.index, dtype=object)
    return Parsed(values=values, bad=bad, reasons=reasons, percent_scale=percent_scale)
