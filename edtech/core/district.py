"""The in-memory shape of a district: one typed DataFrame per contract table.

Every analysis module takes a `District` (or some of its frames); `edtech.data.load_district`
builds one from the database and `edtech.samples.generate_district` builds one from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import pandas as pd

# column -> pandas dtype of the canonical frame; "object" columns hold str or None
FRAME_COLUMNS: dict[str, dict[str, str]] = {
    "schools": {
        "school_id": "object", "school_name": "object", "level": "object", "enrollment": "Int64",
        "frl_pct": "float64", "title_i": "boolean", "district_id": "object",
    },
    "students": {
        "student_id": "object", "school_id": "object", "grade_level": "object", "frl": "boolean",
        "ell": "boolean", "iep": "boolean", "gender": "object", "race_ethnicity": "object",
    },
    "tools": {
        "tool_id": "object", "tool_name": "object", "vendor": "object", "category": "object",
        "subject": "object", "grade_band": "object", "recommended_minutes_per_week": "float64",
        "recommended_weeks": "Int64", "privacy_status": "object", "accessibility": "object",
        "coppa_basis": "object", "interoperability": "object", "instructional_rating": "float64",
    },
    "licenses": {
        "tool_id": "object", "school_id": "object", "seats": "int64", "annual_cost": "float64",
        "start_date": "datetime64[ns]", "end_date": "datetime64[ns]", "funding_source": "object",
        "price_escalator_pct": "float64", "auto_renew": "boolean", "pd_hours": "float64",
        "pd_cost": "float64", "internal_cost": "float64",
    },
    "usage": {
        "student_id": "object", "tool_id": "object", "week_start": "datetime64[ns]",
        "minutes": "float64", "sessions": "int64",
    },
    "usage_aggregate": {
        "tool_id": "object", "school_id": "object", "district_id": "object",
        "date": "datetime64[ns]", "active_users": "float64", "minutes": "float64",
        "pct_access": "float64", "engagement_index": "float64",
    },
    "assessments": {
        "student_id": "object", "assessment": "object", "window": "object", "score": "float64",
        "test_date": "datetime64[ns]", "subject": "object", "proficient": "boolean",
    },
    "indicators": {
        "student_id": "object", "as_of": "datetime64[ns]", "attendance_rate": "float64",
        "days_absent": "float64", "gpa": "float64", "course_failures": "float64",
        "behavior_incidents": "float64", "suspensions": "float64", "credits_earned": "float64",
    },
    "devices": {
        "device_id": "object", "device_type": "object", "purchase_date": "datetime64[ns]",
        "purchase_cost": "float64", "school_id": "object", "status": "object",
        "auto_update_expiration": "datetime64[ns]", "assigned_student_id": "object", "model": "object",
    },
    "pd_sessions": {
        "staff_id": "object", "school_id": "object", "date": "datetime64[ns]", "hours": "float64",
        "tool_id": "object", "topic": "object", "cost": "float64",
    },
    "funding": {
        "fiscal_year": "int64", "source": "object", "amount": "float64", "restricted_to": "object",
        "expires": "datetime64[ns]",
    },
}


def empty_frame(name: str) -> pd.DataFrame:
    """An empty canonical frame with the right columns and dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in FRAME_COLUMNS[name].items()})


def conform_frame(name: str, df: pd.DataFrame) -> pd.DataFrame:
    """Cast a frame to the canonical dtypes, adding missing columns; extra columns are kept."""
    out = df.copy()
    for col, dtype in FRAME_COLUMNS[name].items():
        if col not in out.columns:
            out[col] = pd.Series([None] * len(out), index=out.index, dtype="object")
        if dtype == "object":
            s = out[col].astype("object")
            out[col] = s.where(s.notna(), None)
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

    @property
    def as_of(self) -> pd.Timestamp:
        """The data's 'today': end of the last usage week (or today when there is no usage)."""
        if len(self.usage):
            return pd.Timestamp(self.usage["week_start"].max()) + pd.Timedelta(days=6)
        return pd.Timestamp.today().normalize()

    @property
    def is_empty(self) -> bool:
        return len(self.tools) == 0 and len(self.students) == 0 and len(self.schools) == 0

    def table_names(self) -> list[str]:
        return [f.name for f in fields(self)]
