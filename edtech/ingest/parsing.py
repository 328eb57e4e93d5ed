"""Vectorized parsers for the contract's type rules.

Each parser takes a Series of raw text (None/NA for blank) and returns `Parsed`: the typed
values and, for every invalid cell, a reason. Values are parsed once per distinct text
(`pd.factorize`) because real exports repeat the same dates, grades and IDs many times.

Two readings are decided once per file, never per value (contract v2): the order of slash dates
(`03/04/2025` is 4 March month-first, 3 April day-first) and the decimal separator (`12.500` is
twelve and a half with '.', twelve thousand five hundred with ','). `FileReading` holds them while
the chunks of one file are parsed: forced by the user (`--date-order`, `--decimal`), else proven by
the file's first value that reads only one way, else — only when some value could be read both
ways — assumed (month-first, '.') with a warning naming the assumption and the override. A value
that reads only the other way is then an error naming both lines: a file is never half one way.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edtech.core.words import FALSE_WORDS, TRUE_WORDS
from edtech.ingest import contract as ct

GRADE_WORDS = {"pk": "PK", "prek": "PK", "pre_k": "PK", "pre-k": "PK", "k": "K", "kg": "K",
               "kindergarten": "K", "tk": "PK", "0": "K", "00": "K"}
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$")
_SLASH = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_MONEY_STRIP = re.compile(r"[\s$]")
MAX_VALUE_CHARS = 131_072   # Python's csv field limit: one rule for every reader (a longer value is an error)

DECIMALS = (".", ",")
DATE_ORDERS = ("mdy", "dmy")
ORDER_NAMES = {"mdy": "month-first (MM/DD/YYYY)", "dmy": "day-first (DD/MM/YYYY)"}
DECIMAL_NAMES = {".": "'.' (1,234.50)", ",": "',' (1.234,50)"}

# how one distinct value bears on a per-file reading
NEUTRAL, PROVES_FIRST, PROVES_SECOND, AMBIGUOUS, INVALID = 0, 1, 2, 3, 4
# numbers: first = '.', second = ','; dates: first = mdy, second = dmy
_NUMBER_CLASSES = (
    (AMBIGUOUS, re.compile(r"[+-]?[1-9]\d{0,2}[.,]\d{3}")),   # 12.500 / 12,500: a thousands group or 3 decimals
    # thousands groups start with 1-9 (0,000 is a decimal); then a decimal with the other separator
    (PROVES_FIRST, re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:,\d{3})+(?:\.\d*)?|\d*\.\d+(?:[eE][+-]?\d+)?|\d+\.)")),
    (PROVES_SECOND, re.compile(r"[+-]?(?:[1-9]\d{0,2}(?:\.\d{3})+(?:,\d*)?|\d*,\d+|\d+,)")),
)


@dataclass
class Parsed:
    values: pd.Series
    bad: pd.Series            # bool mask of invalid cells
    reasons: pd.Series        # reason text where bad (object), else None
    percent_scale: float | None = None  # 100 when a percent column was read as 0-100


def parse_date_text(text: str, order: str = "mdy") -> pd.Timestamp:
    """One date: ISO, or a slash date read in `order` (mdy or dmy)."""
    m = _ISO.match(text)
    if m:
        y, mo, d = int(m.group(1)), int(m.group(2)), int(m.group(3))
    else:
        m = _SLASH.match(text)
        if not m:
            raise ValueError("is not a date (use YYYY-MM-DD, MM/DD/YYYY or DD/MM/YYYY)")
        first, second, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        mo, d = (first, second) if order == "mdy" else (second, first)
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


# --------------------------------------------------------------------------- one column's distinct texts
def _distinct_texts(raw: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(codes per row, distinct stripped non-blank texts); code -1 = blank.

    Factorizing first means every later step works on the distinct values only: a 2-million-row
    usage file has a few thousand distinct IDs, a few hundred dates and minute values. Codes are
    in order of first appearance, so distinct text k first appears before text k + 1.
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    texts = pd.Series(np.asarray(uniques, dtype=object), dtype=object).map(lambda v: str(v).strip())
    # texts that only differed by surrounding spaces become one; blanks become -1
    codes2, distinct = pd.factorize(texts.where(texts != "", None), use_na_sentinel=True)
    remap = np.append(codes2, -1)
    return remap[np.where(codes < 0, len(codes2), codes)], np.asarray(distinct, dtype=object)


@dataclass
class ColumnTexts:
    """A column of one chunk as distinct texts, with what each text says about the file's readings."""

    name: str
    codes: np.ndarray
    texts: np.ndarray
    lines: np.ndarray          # spreadsheet line of each row
    _classes: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, raw: pd.Series, name: str) -> ColumnTexts:
        codes, texts = _distinct_texts(raw)
        return cls(name, codes, texts, raw.index.to_numpy())

    def number_texts(self, money: bool) -> np.ndarray:
        if not money:
            return self.texts
        return np.array([_MONEY_STRIP.sub("", t) for t in self.texts], dtype=object)

    def number_classes(self, money: bool) -> np.ndarray:
        key = f"number{money}"
        if key not in self._classes:
            self._classes[key] = _classify_numbers(self.number_texts(money))
        return self._classes[key]

    def date_classes(self) -> np.ndarray:
        if "date" not in self._classes:
            self._classes["date"] = _classify_dates(self.texts)
        return self._classes["date"]

    def sample(self, distinct_index: int) -> Sample:
        row = int(np.argmax(self.codes == distinct_index))
        return Sample(int(self.lines[row]), self.name, str(self.texts[distinct_index]))


def _classify_numbers(texts: np.ndarray) -> np.ndarray:
    """Per distinct number text: NEUTRAL (no separator), proves '.' or ',', AMBIGUOUS, or INVALID."""
    out = np.full(len(texts), NEUTRAL, dtype=np.int8)
    for i, text in enumerate(texts):
        if "." not in text and "," not in text:
            continue
        out[i] = next((kind for kind, pattern in _NUMBER_CLASSES if pattern.fullmatch(text)), INVALID)
    return out


def _real_date(y: int, mo: int, d: int) -> bool:
    try:
        pd.Timestamp(year=y, month=mo, day=d)
    except ValueError:
        return False
    return True


def _classify_dates(texts: np.ndarray) -> np.ndarray:
    """Per distinct date text: proves month-first or day-first (only one order is a real date), or
    AMBIGUOUS (both are, and they differ); ISO and other texts are NEUTRAL (parsed on their own)."""
    out = np.full(len(texts), NEUTRAL, dtype=np.int8)
    for i, text in enumerate(texts):
        m = _SLASH.match(text)
        if not m:
            continue
        first, second, y = int(m.group(1)), int(m.group(2)), int(m.group(3))
        if first == second:
            continue
        mdy, dmy = _real_date(y, first, second), _real_date(y, second, first)
        out[i] = AMBIGUOUS if mdy and dmy else PROVES_FIRST if mdy else PROVES_SECOND if dmy else NEUTRAL
    return out


# --------------------------------------------------------------------------- per-file readings
@dataclass(frozen=True)
class Sample:
    line: int
    column: str
    text: str

    def __str__(self) -> str:
        return f"line {self.line} ({self.column} {self.text!r})"


@dataclass
class Decision:
    """One per-file reading: forced by the user, proven by a value, or assumed (the default)."""

    choices: tuple[str, str]           # (PROVES_FIRST's choice, PROVES_SECOND's choice)
    default: str
    choice: str | None = None
    how: str = ""                      # "forced" | "proven" | "assumed" | "" (nothing needed deciding yet)
    proof: Sample | None = None        # the file's first value that reads only one way
    assumed_on: Sample | None = None   # the first value that was read under the assumption

    def __post_init__(self) -> None:
        if self.choice is not None:
            if self.choice not in self.choices:
                raise ValueError(f"{self.choice!r} is not one of {', '.join(self.choices)}")
            self.how = "forced"

    @property
    def current(self) -> str:
        return self.choice or self.default

    def observe(self, first: Sample | None, second: Sample | None, ambiguous: Sample | None) -> None:
        """Decide from one chunk's values: the earliest proof in the file wins; no proof but an
        ambiguous value: the default, assumed."""
        if self.how in ("forced", "proven"):
            return
        proofs = [(s.line, self.choices[k], s) for k, s in ((0, first), (1, second)) if s is not None]
        if proofs:
            _, choice, sample = min(proofs, key=lambda p: p[0])
            if self.how == "assumed" and choice != self.choice:
                return  # values read the other way after an assumption: errors (see conflict)
            self.choice, self.how, self.proof = choice, "proven", sample
        elif ambiguous is not None and self.how == "":
            self.choice, self.how, self.assumed_on = self.default, "assumed", ambiguous


@dataclass
class FileReading:
    """The decisions that hold for a whole file: decimal separator, date order, percent scales."""

    decimal: str | None = None         # forced '.' or ',' (--decimal); None: decided from the values
    date_order: str | None = None      # forced 'mdy' or 'dmy' (--date-order); None: decided from the values
    percent_scales: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.decimals = Decision(DECIMALS, ".", self.decimal)
        self.dates = Decision(DATE_ORDERS, "mdy", self.date_order)
        self.saw_slash_dates = False
        self.saw_separators = False

    def observe(self, columns: list[tuple[ct.Column, ColumnTexts]]) -> None:
        """Tell the reading about one chunk's columns before any of them is parsed."""
        for kind, decision in (("number", self.decimals), ("date", self.dates)):
            found: dict[int, Sample] = {}
            for col, texts in columns:
                if kind == "number" and col.type in (ct.NUMBER, ct.MONEY, ct.INT, ct.PERCENT):
                    classes = texts.number_classes(col.type == ct.MONEY)
                elif kind == "date" and col.type == ct.DATE:
                    classes = texts.date_classes()
                    self.saw_slash_dates = self.saw_slash_dates or any(_SLASH.match(t) for t in texts.texts)
                else:
                    continue
                for cls in (PROVES_FIRST, PROVES_SECOND, AMBIGUOUS):
                    hits = np.flatnonzero(classes == cls)
                    if len(hits):
                        sample = texts.sample(int(hits[0]))
                        if cls not in found or sample.line < found[cls].line:
                            found[cls] = sample
                if kind == "number" and (classes != NEUTRAL).any():
                    self.saw_separators = True
            decision.observe(found.get(PROVES_FIRST), found.get(PROVES_SECOND), found.get(AMBIGUOUS))

    # what the user is told
    def warnings(self) -> list[str]:
        out = []
        if self.dates.how == "assumed":
            s = self.dates.assumed_on
            out.append(f"dates such as {s.text!r} ({s.column}, line {s.line}) read either way and nothing in the file "
                       "says which: they were read month-first (MM/DD/YYYY); if this file writes the day first, "
                       "import it again with --date-order dmy (or choose day-first on the Data page)")
        if self.decimals.how == "assumed":
            s = self.decimals.assumed_on
            out.append(f"numbers such as {s.text!r} ({s.column}, line {s.line}) read either way and nothing in the "
                       "file says which decimal separator it uses: they were read with '.' as the decimal separator "
                       f"({s.text!r} = {_dot_value(s.text)}); if this file writes decimals with a comma "
                       "(1.234,50), import it again with --decimal , (or choose ',' on the Data page)")
        return out

    def describe(self) -> str:
        """One phrase for the import summary: how dates and numbers were read, and why."""
        parts = []
        if self.dates.how or self.saw_slash_dates:
            parts.append(f"dates read {ORDER_NAMES[self.dates.current]}{_why(self.dates, '--date-order')}")
        if self.decimals.how or self.saw_separators:
            parts.append(f"decimal separator {DECIMAL_NAMES[self.decimals.current]}{_why(self.decimals, '--decimal')}")
        return "; ".join(parts)


def _dot_value(text: str) -> str:
    try:
        return f"{float(text.replace(',', '')):g}"
    except ValueError:
        return text


def _why(decision: Decision, flag: str) -> str:
    if decision.how == "forced":
        return f" ({flag} {decision.choice})"
    if decision.how == "proven":
        return f", as {decision.proof} shows"
    if decision.how == "assumed":
        return " (assumed: the file does not say; see the warning)"
    return ""


def _conflict(decision: Decision, flag: str, names: dict[str, str]) -> str:
    """Why a value that reads only the other way is an error (the reason's tail)."""
    if decision.how == "forced":
        return f"but {flag} {decision.choice} was chosen"
    if decision.how == "proven":
        return f"but {decision.proof} reads only as {names[decision.current]}: a file uses one way"
    s = decision.assumed_on
    return (f"but earlier rows of this file were read as {names[decision.current]} ({s} reads either way); "
            f"use {flag} to say which")


# --------------------------------------------------------------------------- one column
def _numbers(texts: np.ndarray, classes: np.ndarray, decimal: str, money: bool) -> np.ndarray:
    """Float per distinct text under the file's decimal separator (NaN = not a number); thousands
    separators are accepted in money only (contract)."""
    thousands = "," if decimal == "." else "."
    series = pd.Series(texts, dtype=object)
    has_thousands = series.str.contains(thousands, regex=False).to_numpy(dtype=bool) & (classes != NEUTRAL)
    if money:
        series = series.str.replace(thousands, "", regex=False)
    if decimal == ",":
        series = series.str.replace(",", ".", regex=False)
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype="float64", copy=True)
    values[classes == INVALID] = np.nan
    if not money:
        values[has_thousands] = np.nan
    return values


def parse_column(raw: pd.Series, col: ct.Column, percent_scale: float | None = None, *,
                 reading: FileReading | None = None, texts_in: ColumnTexts | None = None) -> Parsed:
    """Parse one column by its contract type and check its bounds (on distinct values, then
    spread to rows). `percent_scale` carries the scale an earlier chunk of the same file chose.

    `reading` holds the file's decisions, already told about this chunk (`FileReading.observe`);
    without it the column is read as a file of its own.
    """
    column_texts = texts_in if texts_in is not None else ColumnTexts.of(raw, col.name)
    if reading is None:
        reading = FileReading()
        reading.observe([(col, column_texts)])
    codes, texts = column_texts.codes, column_texts.texts
    n = len(texts)
    why = np.full(n, None, dtype=object)
    t = col.type

    def per_value(parse_one: Callable[[str], object], skip: np.ndarray | None = None) -> np.ndarray:
        out = np.full(n, None, dtype=object)
        for i, text in enumerate(texts):
            if skip is not None and skip[i]:
                continue
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
        decision = reading.dates
        order = decision.current
        other = PROVES_SECOND if order == "mdy" else PROVES_FIRST
        conflicting = column_texts.date_classes() == other
        if conflicting.any():
            other_order = "dmy" if order == "mdy" else "mdy"
            why[conflicting] = (f"reads only as {ORDER_NAMES[other_order]}, "
                                + _conflict(decision, "--date-order", ORDER_NAMES))
        parsed = per_value(lambda text: parse_date_text(text, order), skip=conflicting)
        unique_values = np.array([np.datetime64("NaT", "ns") if v is None else np.datetime64(v.date(), "ns")
                                  for v in parsed], dtype="datetime64[ns]")
    elif t == ct.BOOL:
        unique_values = per_value(parse_bool_text)
    elif t == ct.GRADE:
        unique_values = per_value(parse_grade_text)
    elif t in (ct.NUMBER, ct.MONEY, ct.INT, ct.PERCENT):
        money = t == ct.MONEY
        decision = reading.decimals
        decimal = decision.current
        classes = column_texts.number_classes(money)
        unique_values = _numbers(column_texts.number_texts(money), classes, decimal, money)
        conflicting = classes == (PROVES_SECOND if decimal == "." else PROVES_FIRST)
        if conflicting.any():
            other = "," if decimal == "." else "."
            why[conflicting] = (f"uses {other!r} as the decimal separator, "
                                + _conflict(decision, "--decimal", DECIMAL_NAMES))
            unique_values[conflicting] = np.nan
        nan = np.isnan(unique_values)
        why[nan & (why == None)] = "is not a number"  # noqa: E711 - elementwise on object array
        ok = ~nan
        if t == ct.INT:
            frac = ok & (unique_values != np.floor(np.where(ok, unique_values, 0)))
            why[frac & (why == None)] = "is not a whole number"  # noqa: E711
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
    if n:
        # a value no export writes: NUL bytes (truncated by SQLite, refused by PostgreSQL) or over the csv field limit
        lengths = np.fromiter((len(x) for x in texts), dtype=np.int64, count=n)
        why[lengths > MAX_VALUE_CHARS] = f"is longer than {MAX_VALUE_CHARS:,} characters"
        nul = np.fromiter(("\x00" in x for x in texts), dtype=bool, count=n)
        why[nul] = "contains a NUL byte (\\x00)"

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
