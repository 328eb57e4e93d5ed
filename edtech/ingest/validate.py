"""Check a table of text against the contract and produce typed rows plus a readable error report."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from edtech.ingest import contract as ct
from edtech.ingest.parsing import parse_column

EXAMPLES_PER_PROBLEM = 20

FIXES = {
    "is required but blank": "fill in the value or remove the row",
    "is negative": "minutes, costs and counts cannot be negative; correct the value",
    "is above the maximum": "a single row cannot exceed this; split it or correct the value",
    "is not a number": "write a plain number such as 12.5 (no text or units)",
    "is not a whole number": "write a whole number",
    "is not a date": "write dates as YYYY-MM-DD (2025-09-08) or MM/DD/YYYY",
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
}


def fix_for(reason: str) -> str:
    return next((fix for key, fix in FIXES.items() if reason.startswith(key)), "correct the value")


@dataclass
class Issue:
    line: int | None
    column: str | None
    value: str | None
    reason: str
    fix: str = ""

    def text(self, file_name: str = "") -> str:
        where = f"{file_name} " if file_name else ""
        where += f"line {self.line}" if self.line is not None else "file"
        col = f", column {self.column}" if self.column else ""
        val = f" = {self.value!r}" if self.value is not None else ""
        return f"{where}{col}{val}: {self.reason} — {self.fix or fix_for(self.reason)}"


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
                self.examples.append(Issue(int(lines[pos]), column, None if pd.isna(v) else str(v), str(reason),
                                           fix_for(str(reason))))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0

    def summary_lines(self, file_name: str = "") -> list[str]:
        lines = [i.text(file_name) for i in sorted(self.examples, key=lambda i: (i.line or 0, i.column or ""))]
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


def validate_chunk(raw: pd.DataFrame, table: ct.Table, mapping: dict[str, str],
                   refs: dict[str, set[str]], log: IssueLog, *, skip_unknown_refs: bool = False,
                   scales: dict[str, float] | None = None) -> CheckedChunk:
    """Typed frame (contract column names, plus kept extra columns as text) for one chunk.

    `raw.index` holds spreadsheet line numbers. Invalid cells go to `log`; the caller decides
    (all or nothing) whether to write anything. With skip_unknown_refs, rows whose IDs are
    unknown are dropped and counted instead of reported as errors.
    """
    lines = raw.index.to_numpy()
    out = pd.DataFrame(index=raw.index)
    bad_rows = np.zeros(len(raw), dtype=bool)
    skip_rows = np.zeros(len(raw), dtype=bool)
    for header, name in mapping.items():
        col = table.column(name)
        scales = {} if scales is None else scales
        parsed = parse_column(raw[header], col, scales.get(name))
        if parsed.percent_scale is not None:  # later chunks of the file keep the first chunk's scale
            scales[name] = parsed.percent_scale
        if parsed.bad.any():
            mask = parsed.bad.to_numpy()
            bad_rows |= mask
            log.add_many(lines[mask], name, raw[header][mask], parsed.reasons[mask])
        values = parsed.values
        if col.references and col.references in refs:
            known = refs[col.references]
            present = values.notna() & ~parsed.bad
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
    return CheckedChunk(out[keep] if skip_rows.any() else out, int((bad_rows & keep).sum()), int(skip_rows.sum()))
