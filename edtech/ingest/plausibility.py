"""Implausible dates (contract v2): after the import date, or before 1 July of the year before the
file's first school year. Such rows are imported, with a warning that names them; the data's as-of
date (rules.data_as_of) never moves for them.

A file arrives in chunks, and its first school year is known only at its end, so `DateCheck` keeps
a count and a few example lines per school year and names the implausible ones when the file ends.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from edtech.core import rules

# the date of each table that records when something happened (contract dates such as a license's
# end, a device's update expiry or a grant's expiry lie in the future by design and are not checked)
OBSERVED_DATE = {"usage": "date", "usage_aggregate": "date", "pd_sessions": "date",
                 "assessments": "test_date", "indicators": "as_of"}
EXAMPLES = 5


@dataclass
class DateCheck:
    """Collects one file's observed dates chunk by chunk; `warning()` names the implausible ones."""

    column: str
    imported_on: dt.date = field(default_factory=dt.date.today)
    per_year: Counter = field(default_factory=Counter)
    year_examples: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    late: int = 0
    late_examples: list[tuple[int, str]] = field(default_factory=list)

    @classmethod
    def for_table(cls, kind: str) -> DateCheck | None:
        column = OBSERVED_DATE.get(kind)
        return cls(column) if column else None

    def add(self, typed: pd.DataFrame, raw: pd.DataFrame, mapping: dict[str, str]) -> None:
        """`typed`: validated rows (index = file line); `raw`: the chunk's text, for the examples."""
        if self.column not in typed.columns:
            return
        dates = pd.to_datetime(typed[self.column]).dropna()
        if dates.empty:
            return
        header = next((h for h, name in mapping.items() if name == self.column), None)
        text = raw[header].reindex(dates.index) if header in raw.columns else dates.dt.strftime("%Y-%m-%d")
        late = dates > pd.Timestamp(self.imported_on)
        self.late += int(late.sum())
        for line in dates.index[late][: max(0, EXAMPLES - len(self.late_examples))]:
            self.late_examples.append((int(line), str(text.loc[line])))
        in_time = dates[~late]
        years = rules.school_year_of(in_time)
        self.per_year.update(years.value_counts().to_dict())
        for year, lines in years.groupby(years.to_numpy()).groups.items():
            kept = self.year_examples.setdefault(int(year), [])
            for line in list(lines)[: max(0, EXAMPLES - len(kept))]:
                kept.append((int(line), str(text.loc[line])))

    def warning(self) -> str | None:
        """One warning naming the implausible dates (count and example lines), or None."""
        first = rules.first_school_year(set(self.per_year))
        parts, examples, total = [], [], self.late
        if self.late:
            parts.append(f"{self.late:,} after the import date {self.imported_on:%Y-%m-%d}")
            examples += self.late_examples
        if first is not None:
            since = rules.plausible_since(first)
            early_years = sorted(y for y in self.per_year if rules.school_year_start(y) < since)
            early = sum(self.per_year[y] for y in early_years)
            if early:
                total += early
                parts.append(f"{early:,} before {since:%Y-%m-%d} (a year before the file's first school year, "
                             f"{first}-{(first + 1) % 100:02d})")
                examples += [e for y in early_years for e in self.year_examples[y]]
        if not total:
            return None
        named = sorted(examples)[:EXAMPLES]
        shown = ", ".join(f"line {line} ({value})" for line, value in named)
        more = f" and {total - len(named):,} more" if total > len(named) else ""
        return (f"{total:,} implausible {self.column} value(s): {'; '.join(parts)} — {shown}{more}. "
                "They were imported but never move the data's as-of date; check them in the source file")
