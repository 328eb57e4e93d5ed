"""SQLModel tables: one per contract table, plus import log, settings, scenarios and model versions.

Natural keys are primary keys so that imports are upserts (INSERT … ON CONFLICT). Nullable
parts of a natural key (a district-wide license's school) are stored as '' because SQL never
treats two NULLs as the same key; `edtech.data` turns '' back into None when reading.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, LargeBinary, Text
from sqlmodel import Field, SQLModel


class School(SQLModel, table=True):
    __tablename__ = "schools"
    school_id: str = Field(primary_key=True)
    school_name: str
    level: str | None = None
    enrollment: int | None = None
    frl_pct: float | None = None
    title_i: bool | None = None
    district_id: str | None = None


class Student(SQLModel, table=True):
    __tablename__ = "students"
    student_id: str = Field(primary_key=True)
    school_id: str = Field(index=True)
    grade_level: str
    frl: bool | None = None
    ell: bool | None = None
    iep: bool | None = None
    gender: str | None = None
    race_ethnicity: str | None = None
    extra: dict | None = Field(default=None, sa_column=Column(JSON))


class Tool(SQLModel, table=True):
    __tablename__ = "tools"
    tool_id: str = Field(primary_key=True)
    tool_name: str
    vendor: str | None = None
    category: str | None = None
    subject: str | None = None
    grade_band: str | None = None
    recommended_minutes_per_week: float | None = None
    recommended_weeks: int | None = None
    privacy_status: str | None = None
    accessibility: str | None = None
    coppa_basis: str | None = None
    interoperability: str | None = None
    instructional_rating: float | None = None


class License(SQLModel, table=True):
    __tablename__ = "licenses"
    tool_id: str = Field(primary_key=True)
    school_id: str = Field(default="", primary_key=True)  # '' = district-wide
    start_date: dt.date = Field(primary_key=True)
    seats: int
    annual_cost: float
    end_date: dt.date
    funding_source: str | None = None
    price_escalator_pct: float | None = None
    auto_renew: bool | None = None
    pd_hours: float | None = None
    pd_cost: float | None = None
    internal_cost: float | None = None


class Usage(SQLModel, table=True):
    """One value per student × tool × day, kept as one row per student × tool × ISO week (Monday).

    `m0`…`m6` are the minutes and `s0`…`s6` the sessions of Monday…Sunday (NULL = no value that day);
    `minutes` and `sessions` are the sums of the days, maintained by the same upsert that writes the
    days (edtech.store.usage_days), so readers of weekly usage read two columns and the table keeps a
    row per week. An import replaces exactly the days it holds. Rows of a database made before the
    days existed keep their weekly total as the Monday value (usage_days.keep_old_weekly_totals).
    """
    __tablename__ = "usage"
    # WITHOUT ROWID on SQLite: the natural key is the clustered index (one B-tree fewer per insert).
    # Reads go by student (the key's prefix: scope filters) or take the whole table; no secondary
    # index, which was measured to nearly triple the cost of a bulk upsert.
    __table_args__ = {"sqlite_with_rowid": False}
    student_id: str = Field(primary_key=True)
    tool_id: str = Field(primary_key=True)
    week_start: dt.date = Field(primary_key=True)
    minutes: float
    sessions: int
    m0: float | None = None
    m1: float | None = None
    m2: float | None = None
    m3: float | None = None
    m4: float | None = None
    m5: float | None = None
    m6: float | None = None
    s0: int | None = None
    s1: int | None = None
    s2: int | None = None
    s3: int | None = None
    s4: int | None = None
    s5: int | None = None
    s6: int | None = None


USAGE_DAY_MINUTES = tuple(f"m{d}" for d in range(7))   # Monday … Sunday
USAGE_DAY_SESSIONS = tuple(f"s{d}" for d in range(7))


class UsageAggregate(SQLModel, table=True):
    __tablename__ = "usage_aggregate"
    tool_id: str = Field(primary_key=True)
    school_id: str = Field(default="", primary_key=True)
    district_id: str = Field(default="", primary_key=True)
    date: dt.date = Field(primary_key=True)
    active_users: float | None = None
    minutes: float | None = None
    pct_access: float | None = None
    engagement_index: float | None = None
    range_text: str | None = None


class Assessment(SQLModel, table=True):
    __tablename__ = "assessments"
    student_id: str = Field(primary_key=True)
    assessment: str = Field(primary_key=True)
    window: str = Field(primary_key=True)
    score: float
    test_date: dt.date | None = None
    subject: str | None = None
    proficient: bool | None = None


class Indicator(SQLModel, table=True):
    __tablename__ = "indicators"
    student_id: str = Field(primary_key=True)
    as_of: dt.date = Field(primary_key=True)
    attendance_rate: float | None = None
    days_absent: float | None = None
    gpa: float | None = None
    course_failures: float | None = None
    behavior_incidents: float | None = None
    suspensions: float | None = None
    credits_earned: float | None = None
    extra: dict | None = Field(default=None, sa_column=Column(JSON))


class Device(SQLModel, table=True):
    __tablename__ = "devices"
    device_id: str = Field(primary_key=True)
    device_type: str
    purchase_date: dt.date
    purchase_cost: float
    school_id: str | None = Field(default=None, index=True)
    status: str | None = None
    auto_update_expiration: dt.date | None = None
    assigned_student_id: str | None = None
    model: str | None = None


class PDSession(SQLModel, table=True):
    __tablename__ = "pd_sessions"
    staff_id: str = Field(primary_key=True)
    date: dt.date = Field(primary_key=True)
    topic: str = Field(default="", primary_key=True)
    school_id: str = Field(index=True)
    hours: float
    tool_id: str | None = None
    cost: float | None = None


class Funding(SQLModel, table=True):
    __tablename__ = "funding"
    fiscal_year: int = Field(primary_key=True)
    source: str = Field(primary_key=True)
    amount: float
    restricted_to: str | None = None
    expires: dt.date | None = None


class ImportLog(SQLModel, table=True):
    __tablename__ = "import_log"
    id: int | None = Field(default=None, primary_key=True)
    imported_at: dt.datetime = Field(index=True)
    user: str
    kind: str
    file_name: str
    checksum: str
    status: str  # imported, rejected, dry-run
    rows_read: int = 0
    rows_stored: int = 0
    inserted: int = 0
    updated: int = 0
    rejected: int = 0
    seconds: float = 0.0
    message: str | None = Field(default=None, sa_column=Column(Text))


class Setting(SQLModel, table=True):
    __tablename__ = "settings"
    key: str = Field(primary_key=True)
    value: dict | list | float | str | None = Field(default=None, sa_column=Column(JSON))


class Scenario(SQLModel, table=True):
    __tablename__ = "scenarios"
    name: str = Field(primary_key=True)
    spec: dict = Field(sa_column=Column(JSON))
    updated_at: dt.datetime
    owner: str | None = None  # email of the account that saved it (None: saved before accounts existed)


class ModelVersion(SQLModel, table=True):
    __tablename__ = "model_versions"
    id: int | None = Field(default=None, primary_key=True)
    created_at: dt.datetime
    target: str
    model_name: str
    metrics: dict = Field(sa_column=Column(JSON))
    fingerprint: str
    card: str = Field(sa_column=Column(Text))
    artifact: bytes = Field(sa_column=Column(LargeBinary))
    signature: str | None = None      # HMAC-SHA256 of the artifact under the server secret
    published_at: dt.datetime | None = None
    published_by: str | None = None


class Account(SQLModel, table=True):
    """A person who may sign in: role and (coordinator) schools are bound to the identity here."""

    __tablename__ = "accounts"
    email: str = Field(primary_key=True)          # lower case; SSO identities match on it
    name: str = ""
    role: str                                     # director, coordinator, board, viewer
    schools: str = ""                             # comma-separated school_ids (coordinators)
    password_hash: str | None = None              # Argon2; None = single sign-on only
    demo: bool = False                            # usable only in demo mode (EDTECH_DEMO=1)
    failed_attempts: int = 0
    locked_until: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class AuditEvent(SQLModel, table=True):
    """Append-only trail: views of student-level pages, exports, imports, settings, publications."""

    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = Field(index=True)
    actor: str = Field(index=True)                # account email, or cli:<os user>
    role: str = ""
    action: str = Field(index=True)
    page: str | None = None
    scope: str | None = None                      # "district" or the comma-separated schools
    detail: str | None = Field(default=None, sa_column=Column(Text))
    session: str | None = None
    # one view row per session x page x scope x hour: a unique key makes the repeat a no-op
    dedupe_key: str | None = Field(default=None, unique=True)


class AuthSession(SQLModel, table=True):
    """A sign-in (keyed by a hash of the identity token's subject and issue time) for the idle timeout."""

    __tablename__ = "auth_sessions"
    key: str = Field(primary_key=True)
    email: str = Field(index=True)
    started_at: dt.datetime
    last_seen: dt.datetime
    ended_at: dt.datetime | None = None


class Intervention(SQLModel, table=True):
    """(v2) A support given to a student (MTSS tier 1-3)."""

    __tablename__ = "interventions"
    student_id: str = Field(primary_key=True)
    intervention: str = Field(primary_key=True)
    start_date: dt.date = Field(primary_key=True)
    end_date: dt.date | None = None
    tier: int | None = None
    minutes_per_week: float | None = None
    staff_id: str | None = None
    tool_id: str | None = None
    cost_per_student: float | None = None
    goal: str | None = None
    exit_reason: str | None = None


class RiskFlag(SQLModel, table=True):
    """(v2) Who was flagged, when, with which score and cut-off (source = model version or outside EWS)."""

    __tablename__ = "risk_flags"
    student_id: str = Field(primary_key=True)
    flag_date: dt.date = Field(primary_key=True)
    source: str = Field(primary_key=True)
    risk: float
    cutoff: float
    flagged: bool


class ProgressMeasure(SQLModel, table=True):
    """(v2) A progress-monitoring score."""

    __tablename__ = "progress_monitoring"
    student_id: str = Field(primary_key=True)
    measure: str = Field(primary_key=True)
    date: dt.date = Field(primary_key=True)
    score: float
    goal: float | None = None


class Feedback(SQLModel, table=True):
    """(v2) A stakeholder's rating of a tool."""

    __tablename__ = "feedback"
    respondent_id: str = Field(primary_key=True)
    tool_id: str = Field(primary_key=True)
    date: dt.date = Field(primary_key=True)
    role: str | None = None
    school_id: str | None = None
    rating: float
    comment: str | None = None


class Initiative(SQLModel, table=True):
    """(v2) A roadmap initiative."""

    __tablename__ = "initiatives"
    initiative_id: str = Field(primary_key=True)
    name: str
    goal: str | None = None
    owner: str | None = None
    start_date: dt.date
    end_date: dt.date
    status: str | None = None
    scenario: str | None = None


class Kpi(SQLModel, table=True):
    """(v2) A roadmap KPI: a catalogue metric in a scope, with baseline, target and target date."""

    __tablename__ = "kpis"
    initiative_id: str = Field(primary_key=True)
    kpi_id: str = Field(primary_key=True)
    metric: str
    scope: str | None = None
    baseline: float | None = None
    target: float
    target_date: dt.date


class KpiSnapshot(SQLModel, table=True):
    """(v2, methods section 7) A KPI's value for one month, written at each import and month end."""

    __tablename__ = "kpi_snapshots"
    initiative_id: str = Field(primary_key=True)
    kpi_id: str = Field(primary_key=True)
    month: dt.date = Field(primary_key=True)     # the first day of the month
    value: float | None = None
    computed_at: dt.datetime | None = None


# contract table name -> model class
TABLE_MODELS: dict[str, type[SQLModel]] = {
    "schools": School, "students": Student, "tools": Tool, "licenses": License, "usage": Usage,
    "usage_aggregate": UsageAggregate, "assessments": Assessment, "indicators": Indicator,
    "devices": Device, "pd_sessions": PDSession, "funding": Funding,
    "interventions": Intervention, "risk_flags": RiskFlag, "progress_monitoring": ProgressMeasure,
    "feedback": Feedback, "initiatives": Initiative, "kpis": Kpi,
}

# key columns stored as '' instead of NULL
BLANK_KEY_COLUMNS: dict[str, tuple[str, ...]] = {
    "licenses": ("school_id",), "usage_aggregate": ("school_id", "district_id"), "pd_sessions": ("topic",),
}


class Decision(SQLModel, table=True):
    """The director's recorded decision per tool (data contract v2 `decisions`): kept apart from the
    engine's recommendation, append-only (a new decision for a tool is a new row; the latest counts)."""

    __tablename__ = "decisions"
    tool_id: str = Field(primary_key=True)
    decided_at: dt.datetime = Field(primary_key=True)
    decision: str                                 # renew, right_size, renegotiate, consolidate, sunset, study
    seats: int | None = None                      # right_size: the seats kept
    decided_by: str                               # account email, or cli:<os user>
    note: str | None = Field(default=None, sa_column=Column(Text))
