"""The in-memory shape of a district: one typed DataFrame per contract table.

Every analysis module takes a `District` (or some of its frames); `edtech.data.load_district`
builds one from the database and `edtech.samples.generate_district` builds one from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from edtech.core.rules import data_as_of
from edtech.core.schema import TABLES as SCHEMA

# table -> {column -> pandas dtype} of the canonical frame, generated from the schema declaration;
# "object" columns hold str or None, stored names are used (usage's `week_start`)
FRAME_COLUMNS: dict[str, dict[str, str]] = {name: decl.frame_columns() for name, decl in SCHEMA.items()}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in FRAME_COLUMNS[name].items()})


def _text_objects(values: pd.Series) -> pd.Series:
    """An "object" column: its values, None where missing. Text read from the database (a string dtype) is
    converted through its distinct values, so equal strings share one Python object: 2,000,000 assessment rows
    held ~60 bytes per value as separate objects, 8 bytes per row shared (500,000 students: ~400 MB less)."""
    if not isinstance(values.dtype, pd.StringDtype):
        s = values.astype("object")
        return s.where(s.notna(), None)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    shared = np.append(np.asarray(uniques, dtype=object), None)  # code -1 (missing) takes the last: None
    return pd.Series(shared[codes], index=values.index, dtype="object", name=values.name)


def conform_frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame to the canonical dtypes, adding missing columns; extra columns are kept."""
    out = df.copy()
    for col, dtype in FRAME_COLUMNS[name].items():
        if col not in out.columns:
            out[col] = pd.Series([None] * len(out), index=out.index, dtype="object")
        if dtype == "object":
            out[col] = _text_objects(out[col])
        elif dtype.startswith("datetime"):
            out[col] = pd.to_datetime(out[col]).astype("datetime64[ns]")
        else:
            out[col] = out[col].astype(dtype)
    front = list(FRAME_COLUMNS[name])
    return out[front + [c for c in out.columns if c not in FRAME_COLUMNS[name]]]


@dataclass
class District:
    """All tables of one district (or of the schools in a scope)."""

    schools: pd.DataFrame = field(default_factory=lambda: empty_frame("schools"))
    students: pd.DataFrame = field(default_factory=lambda: empty_frame("students"))
    tools: pd.DataFrame = field(default_factory=lambda: empty_frame("tools"))
    licenses: pd.DataFrame = field(default_factory=lambda: empty_frame("licenses"))
    usage: pd.DataFrame = field(default_factory=lambda: empty_frame("usage"))
    usage_aggregate: pd.DataFrame = field(default_factory=lambda: empty_frame("usage_aggregate"))
    assessments: pd.DataFrame = field(default_factory=lambda: empty_frame("assessments"))
    indicators: pd.DataFrame = field(default_factory=lambda: empty_frame("indicators"))
    devices: pd.DataFrame = field(default_factory=lambda: empty_frame("devices"))
    pd_sessions: pd.DataFrame = field(default_factory=lambda: empty_frame("pd_sessions"))
    funding: pd.DataFrame = field(default_factory=lambda: empty_frame("funding"))
    interventions: pd.DataFrame = field(default_factory=lambda: empty_frame("interventions"))
    risk_flags: pd.DataFrame = field(default_factory=lambda: empty_frame("risk_flags"))
    progress_monitoring: pd.DataFrame = field(default_factory=lambda: empty_frame("progress_monitoring"))
    feedback: pd.DataFrame = field(default_factory=lambda: empty_frame("feedback"))
    initiatives: pd.DataFrame = field(default_factory=lambda: empty_frame("initiatives"))
    kpis: pd.DataFrame = field(default_factory=lambda: empty_frame("kpis"))
    # a scope's slice keeps the district's as-of date, so its 7/30-day windows are the district's
    fixed_as_of: pd.Timestamp | None = None

    @property
    def as_of(self) -> pd.Timestamp:
        """The data's 'today' (rules.data_as_of): the end of the last plausible usage week, else today.
        `load_district` fixes it from the whole database (with the last usage import's date)."""
        if self.fixed_as_of is not None:
            return pd.Timestamp(self.fixed_as_of)
        return data_as_of(self.usage["week_start"])

    @property
    def is_empty(self) -> bool:
        return len(self.tools) == 0 and len(self.students) == 0 and len(self.schools) == 0

    def table_names(self) -> list[str]:
        return [f.name for f in fields(self) if f.name in FRAME_COLUMNS]
