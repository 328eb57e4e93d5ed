"""Check a table of text against the contract and produce typed rows plus a readable error report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edtech.ingest import contract as ct
from edtech.ingest.formats import ROW_PROBLEMS
from edtech.ingest.parsing import MAX_VALUE_CHARS, ColumnTexts, FileReading, parse_column

EXAMPLES_PER_PROBLEM = 20

FIXES = {
    "is required but blank": "fill in the value or remove the row",
    "is negative": "minutes, costs and counts cannot be negative; correct the value",
    "is above the maximum": "a single row cannot exceed this; split it or correct the value",
    "is not a number": "write a plain number such as 12.5 (no text or units; thousands separators only in money)",
    "is not a whole number": "write a whole number",
    "is not a date": "write dates as YYYY-MM-DD (2025-09-08), MM/DD/YYYY or DD/MM/YYYY",
    "is not a real calendar date": "check the day and month (e.g. February has 28 or 29 days)",
    "is not a yes/no value": "use true/false, yes/no, y/n, 1/0 or t/f; leave blank if unknown",
    "is not a grade": "use PK, K or 1-12 (KG, 01…12 and Kindergarten are accepted)",
    "is not one of": "use one of the listed values",
    "is not a percent": "write a share between 0 and 1 or a percent between 0 and 100",
    "is above 1 but earlier": "use one scale for the whole column (0-1 shares or 0-100 percents)",
    "is not a known": "import that table first, or check the ID (IDs are text: 00123 is not 123)",
    "must be greater than": "the value must be positive",
    "must be at least": "correct the value",
    "must be after": "check the two dates: the end must come after the start",
    "required column is missing": "add the column or rename an existing one to an accepted name",
    "needs a school_id or a district_id": "fill in the school or the district the row describes",
    "duplicate key": "the later row was kept; remove duplicate rows to silence this",
    "reads only as": "write every date of the file in one order (or as YYYY-MM-DD), or choose the order: "
                     "--date-order dmy|mdy (a choice on the Data page)",
    "uses '": "write every number of the file with one decimal separator, or choose it: --decimal , or "
              "--decimal . (a choice on the Data page)",
    "has more values than the header": "put quotes around a value that contains the delimiter "
                                       '("Smith, John Elementary"), or delete the extra values',
    "has a value longer than": 'a value this long is usually a quote (") that is never closed: check the quotes '
                               'on that line',
    "is longer than": 'a value this long is usually a quote (") that is never closed: check the quotes on that line',
    "opens a quote": 'close the quote (") or remove it; a quote inside a quoted value is written twice ("")',
    "contains a NUL byte": "remove the NUL characters (a damaged or binary export) and save the file again as CSV",
    "has a byte": "save the whole file again in one encoding (CSV UTF-8)",
    "has bytes that are not": "save the whole file again (CSV UTF-8)",
}
SHOWN_VALUE_CHARS = 100   # an error line shows at most this much of a value


def shown_value(value: object) -> str | None:
    """A value as an error line shows it: a byte that is not text as U+FFFD (the reason names it), long values cut."""
    if value is None:
        return None
    text = str(value).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if len(text) > SHOWN_VALUE_CHARS:
        text = f"{text[:SHOWN_VALUE_CHARS]}… ({len(text):,} characters)"
    return text


def fix_for(reason: str) -> str:
    return next((fix for key, fix in FIXES.items() if reason.startswith(key)), "correct the value")


@dataclass
class Issue:
    line: int | None
    column: str | None
    value: str | None
    reason: str
    fix: str = ""

    def text(self, file_name: str = "", with_fix: bool = True) -> str:
        where = f"{file_name} " if file_name else ""
        where += f"line {self.line}" if self.line is not None else "file"
        col = f", column {self.column}" if self.column else ""
        val = f" = {self.value!r}" if self.value is not None else ""
        fix = self.fix or fix_for(self.reason)
        # a reason that already ends with its fix (an unreadable file's message) does not repeat it
        tail = f" — {fix}" if with_fix and fix not in self.reason else ""
        return f"{where}{col}{val}: {self.reason}{tail}"


@dataclass
class IssueLog:
    """Keeps a few examples of each (column, reason) and counts the rest ("412 more rows: …")."""

    examples: list[Issue] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)

    def add(self, issue: Issue) -> None:
        key = (issue.column, issue.reason)
        self.counts[key] += 1
        if self.counts[key] <= EXAMPLES_PER_PROBLEM:
            issue.fix = issue.fix or fix_for(issue.reason)
            issue.value = shown_value(issue.value)
            self.examples.append(issue)

    def add_many(self, lines: np.ndarray, column: str, values: pd.Series, reasons: pd.Series) -> None:
        for reason, idx in pd.Series(lines).groupby(reasons.to_numpy()).groups.items():
            key = (column, str(reason))
            positions = list(idx)
            already = self.counts[key]
            self.counts[key] += len(positions)
            room = max(0, EXAMPLES_PER_PROBLEM - already)
            for pos in positions[:room]:
                v = values.iloc[pos]
                self.examples.append(Issue(int(lines[pos]), column, None if pd.isna(v) else shown_value(v),
                                           str(reason), fix_for(str(reason))))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def summary_lines(self, file_name: str = "") -> list[str]:
        """One line per example; each fix is said once, on the first line that needs it."""
        lines, told = [], set()
        for issue in sorted(self.examples, key=lambda i: (i.line or 0, i.column or "")):
            fix = issue.fix or fix_for(issue.reason)
            lines.append(issue.text(file_name, with_fix=fix not in told))
            told.add(fix)
        for (column, reason), n in self.counts.items():
            if n > EXAMPLES_PER_PROBLEM:
                lines.append(f"{n - EXAMPLES_PER_PROBLEM} more rows: {column} {reason}")
        return lines

    def frame(self) -> pd.DataFrame:
        rows = [{"line": i.line, "column": i.column, "value": i.value, "reason": i.reason, "how_to_fix": i.fix}
                for i in sorted(self.examples, key=lambda i: (i.line or 0, i.column or ""))]
        for (column, reason), n in self.counts.items():
            if n > EXAMPLES_PER_PROBLEM:
                rows.append({"line": None, "column": column, "value": None,
                             "reason": f"{n - EXAMPLES_PER_PROBLEM} more rows: {reason}", "how_to_fix": fix_for(reason)})
        return pd.DataFrame(rows, columns=["line", "column", "value", "reason", "how_to_fix"])


def check_headers(headers: list[str], table: ct.Table, log: IssueLog) -> tuple[dict[str, str], list[str]]:
    """Map headers; a missing required column is an error on line 1."""
    mapping, unknown = ct.map_columns(headers, table)
    mapped = set(mapping.values())
    for col in table.columns:
        if col.required and col.name not in mapped:
            names = ", ".join((col.name,) + col.aliases)
            log.add(Issue(1, col.name, None, f"required column is missing (accepted names: {names})"))
    if table.name == "usage_aggregate" and not {"school_id", "district_id"} & mapped:
        # the key is (school or district, tool, date): without either, two districts' rows collide
        log.add(Issue(1, "district_id", None, "required column is missing: usage_aggregate needs school_id or "
                      "district_id", "add a district_id (or school_id) column; a LearnPlatform export imported as "
                      "`learnplatform` takes the district from its file name (engagement_data/<district>.csv)"))
    return mapping, unknown


@dataclass
class CheckedChunk:
    frame: pd.DataFrame   # typed rows (rows with unknown references dropped when skipping)
    bad_rows: int         # rows with at least one invalid cell
    skipped: int          # rows dropped for unknown references (skip_unknown_refs)


def describe_reading(frame: pd.DataFrame, kind: str, *, decimal: str | None = None,
                     date_order: str | None = None) -> tuple[str, list[str]]:
    """How a table's dates and numbers would be read (decided from these rows, as the importer
    decides from the whole file), and the warnings that go with it: for a preview."""
    table = ct.TABLES[kind]
    mapping, _ = ct.map_columns(list(frame.columns), table)
    reading = FileReading(decimal, date_order)
    reading.observe([(table.column(name), ColumnTexts.of(frame[header], name)) for header, name in mapping.items()])
    return reading.describe(), reading.warnings()


def _blank_rows(raw: pd.DataFrame, mapping: dict[str, str], columns: dict[str, tuple[ct.Column, ColumnTexts]]) -> np.ndarray:
    """Rows with nothing in any column (blank lines, a spreadsheet's trailing ",,,"): not data, not errors."""
    blank = np.ones(len(raw), dtype=bool)
    for _, texts in columns.values():
        blank &= texts.codes < 0
    for header in raw.columns:
        if not blank.any():
            break
        if header not in mapping:  # an ignored column holding something makes the row not blank
            rest = raw[header][blank]
            blank[blank] = (rest.isna() | rest.astype("object").map(lambda v: str(v).strip() == "")).to_numpy(bool)
    return blank


def validate_chunk(raw: pd.DataFrame, table: ct.Table, mapping: dict[str, str],
                   refs: dict[str, set[str]], log: IssueLog, *, skip_unknown_refs: bool = False,
                   scales: dict[str, float] | None = None, reading: FileReading | None = None) -> CheckedChunk:
    """Typed frame (contract column names, plus kept extra columns as text) for one chunk.

    `raw.index` holds spreadsheet line numbers. Invalid cells go to `log`; the caller decides
    (all or nothing) whether to write anything. With skip_unknown_refs, rows whose IDs are
    unknown are dropped and counted instead of reported as errors. `reading` carries the
    file's decisions (decimal separator, date order, percent scales) from chunk to chunk;
    `scales` is the percent scales alone (kept for callers that carry only those). Rows the
    reader could not split into columns arrive in `raw.attrs[ROW_PROBLEMS]` and are errors;
    blank rows are skipped.
    """
    reading = FileReading() if reading is None else reading
    if scales is not None:
        reading.percent_scales = scales
    scales = reading.percent_scales
    problems = raw.attrs.pop(ROW_PROBLEMS, None) or []
    for line, column, value, reason in problems:
        log.add(Issue(line, column, value, reason))
    columns = {header: (table.column(name), ColumnTexts.of(raw[header], name)) for header, name in mapping.items()}
    blank = _blank_rows(raw, mapping, columns)
    if blank.any():
        raw = raw[~blank]
        columns = {header: (table.column(name), ColumnTexts.of(raw[header], name)) for header, name in mapping.items()}
    lines = raw.index.to_numpy()
    out = pd.DataFrame(index=raw.index)
    bad_rows = np.zeros(len(raw), dtype=bool)
    skip_rows = np.zeros(len(raw), dtype=bool)
    reading.observe(list(columns.values()))  # decimal separator and date order: decided before any value is read
    parsed = {header: parse_column(raw[header], col, scales.get(col.name), reading=reading, texts_in=texts)
              for header, (col, texts) in columns.items()}
    for header, name in mapping.items():
        col = table.column(name)
        p = parsed[header]
        if p.percent_scale is not None:  # later chunks of the file keep the first chunk's scale
            scales[name] = p.percent_scale
        if p.bad.any():
            mask = p.bad.to_numpy()
            bad_rows |= mask
            log.add_many(lines[mask], name, raw[header][mask], p.reasons[mask])
        values = p.values
        if col.references and col.references in refs:
            known = refs[col.references]
            present = values.notna() & ~p.bad
            uniques = pd.unique(values[present])
            missing = {u for u in uniques if u not in known}
            if missing:
                miss = (present & values.isin(missing)).to_numpy()
                if skip_unknown_refs:
                    skip_rows |= miss
                    out[name] = values
                    continue
                bad_rows |= miss
                reason = pd.Series(f"is not a known {col.references[:-1] if col.references.endswith('s') else col.references} id",
                                   index=raw.index)[miss]
                log.add_many(lines[miss], name, raw[header][miss], reason)
        out[name] = values
    for col in table.columns:
        if col.name not in out:
            out[col.name] = None
    if table.keep_extra:
        known_headers = set(mapping)
        for header in raw.columns:
            if header not in known_headers:
                key = ct.normalize_header(header)
                out[key] = raw[header].astype("object").where(raw[header].notna(), None)
                # kept text obeys the rules every value does (a NUL is refused by PostgreSQL)
                text = out[key].astype("string")
                reasons = pd.Series(np.where(text.str.contains("\x00", regex=False).fillna(False).to_numpy(bool),
                                             "contains a NUL byte (\\x00)",
                                             np.where(text.str.len().fillna(0).to_numpy() > MAX_VALUE_CHARS,
                                                      f"is longer than {MAX_VALUE_CHARS:,} characters", None)),
                                    index=raw.index, dtype=object)
                if reasons.notna().any():
                    mask = reasons.notna().to_numpy()
                    bad_rows |= mask
                    log.add_many(lines[mask], key, raw[header][mask], reasons[mask])
    if table.name == "licenses":
        wrong = (out["end_date"].notna() & out["start_date"].notna() & (out["end_date"] <= out["start_date"])).to_numpy()
        if wrong.any():
            header = next(h for h, n in mapping.items() if n == "end_date")
            bad_rows |= wrong
            log.add_many(lines[wrong], "end_date", raw[header][wrong],
                         pd.Series("must be after start_date", index=raw.index)[wrong])
    if table.name == "usage_aggregate":
        unplaced = (out["school_id"].isna() & out["district_id"].isna()).to_numpy()
        if unplaced.any():
            header = next((h for h, n in mapping.items() if n in ("district_id", "school_id")), None)
            bad_rows |= unplaced
            shown = raw[header][unplaced] if header is not None else pd.Series(None, index=raw.index)[unplaced]
            log.add_many(lines[unplaced], "district_id", shown,
                         pd.Series("needs a school_id or a district_id", index=raw.index)[unplaced])
    keep = ~skip_rows
    return CheckedChunk(out[keep] if skip_rows.any() else out, int((bad_rows & keep).sum()) + len(problems),
                        int(skip_rows.sum()))
