"""The schema of every data-contract table, declared once.

One `TableDecl` per table says what a district's file holds (columns, aliases, logical types,
bounds, references, natural key) and how the product keeps it (stored column names, blank key
parts, importer defaults, extra columns). Everything else is generated from it:

- `edtech.ingest.contract.TABLES`: the file-facing specs the importer parses and validates with;
- `edtech.core.district.FRAME_COLUMNS`: the canonical pandas frame of each table;
- and `tests/test_schema.py` checks the SQLModel tables of `edtech.store.models` against it.

Pure: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass

# logical column types (the strings `edtech.ingest.parsing` dispatches on)
TEXT, ID, INT, NUMBER, MONEY, PERCENT, BOOL, DATE, GRADE, ENUM = (
    "text", "id", "int", "number", "money", "percent", "bool", "date", "grade", "enum")
LOGICAL_TYPES = (TEXT, ID, INT, NUMBER, MONEY, PERCENT, BOOL, DATE, GRADE, ENUM)

# the JSON column that holds a keep-extra table's unknown columns; read back as frame columns
EXTRA_COLUMN = "extra"

# pandas dtype of each logical type in a canonical frame (INT depends on nullability, below)
_FRAME_DTYPES = {TEXT: "object", ID: "object", GRADE: "object", ENUM: "object", DATE: "datetime64[ns]",
                 NUMBER: "float64", MONEY: "float64", PERCENT: "float64", BOOL: "boolean"}


@dataclass(frozen=True)
class ColumnDecl:
    """One column: the contract's rules for it and how it is stored."""

    name: str                          # the contract's (file) name
    type: str = TEXT                   # one of LOGICAL_TYPES
    required: bool = False
    aliases: tuple[str, ...] = ()      # other header spellings accepted on import
    min: float | None = None           # inclusive lower bound (exclusive with min_exclusive)
    min_exclusive: bool = False
    max: float | None = None           # inclusive upper bound
    choices: tuple[str, ...] = ()      # allowed values of an ENUM
    references: str | None = None      # table whose key this column must match
    stored_as: str | None = None       # stored and frame column name when it differs from `name`
    blank_key: bool = False            # optional key part stored as '' (SQL never treats two NULLs as one key)
    import_default: str | None = None  # what the importer stores when the value is missing (never NULL then)

    @property
    def stored_name(self) -> str:
        return self.stored_as or self.name

    @property
    def stored_nullable(self) -> bool:
        """Can the database column hold NULL? Missing blank key parts are '' and defaults are filled."""
        return not (self.required or self.blank_key or self.import_default is not None)

    @property
    def frame_dtype(self) -> str:
        """The canonical frame's pandas dtype (blank key parts come back as None, so `object`)."""
        if self.type == INT:
            # numpy int64 cannot hold a missing value: nullable integers are pandas' Int64
            return "int64" if not self.stored_nullable else "Int64"
        return _FRAME_DTYPES[self.type]


@dataclass(frozen=True)
class TableDecl:
    """One table: its columns in contract order, natural key and import order."""

    name: str
    key: tuple[str, ...]               # natural key, in contract column names (upserts replace on it)
    columns: tuple[ColumnDecl, ...]
    order: int = 0                     # import order inside a multi-file upload (referenced tables first)
    keep_extra: bool = False           # unknown columns kept, stored as JSON in EXTRA_COLUMN
    # database columns outside the contract: neither imported nor part of the canonical frame
    stored_only: tuple[ColumnDecl, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> ColumnDecl:
        return next(c for c in self.columns if c.name == name)

    @property
    def stored_key(self) -> tuple[str, ...]:
        """The natural key in stored names: the database's primary key."""
        return tuple(self.column(k).stored_name for k in self.key)

    @property
    def stored_columns(self) -> dict[str, ColumnDecl]:
        """Every database column (stored name -> declaration), the JSON extra column excluded."""
        return {c.stored_name: c for c in self.columns + self.stored_only}

    @property
    def blank_key_columns(self) -> tuple[str, ...]:
        return tuple(c.stored_name for c in self.columns if c.blank_key)

    def frame_columns(self) -> dict[str, str]:
        """Canonical frame: stored name -> pandas dtype, in contract order (extras follow when read)."""
        return {c.stored_name: c.frame_dtype for c in self.columns}


def _c(name: str, type_: str = TEXT, req: bool = False, aliases: tuple[str, ...] = (), **kw) -> ColumnDecl:
    """Compact spelling for the table list below."""
    return ColumnDecl(name, type_, req, aliases, **kw)


TABLES: dict[str, TableDecl] = {t.name: t for t in [
    TableDecl("schools", ("school_id",), (
        _c("school_id", ID, True, ("school", "site_id", "building_id", "org_id")),
        _c("school_name", TEXT, True, ("name",)),
        _c("level", ENUM, aliases=("school_level", "type"),
           choices=("elementary", "middle", "high", "k8", "k12", "other")),
        _c("enrollment", INT, aliases=("students", "student_count"), min=0),
        _c("frl_pct", PERCENT, aliases=("pct_free_reduced", "frl")),
        _c("title_i", BOOL),
        _c("district_id", ID),
    ), order=0),
    TableDecl("students", ("student_id",), (
        _c("student_id", ID, True, ("sourcedid", "user_id", "id")),
        _c("school_id", ID, True, ("school", "org"), references="schools"),
        _c("grade_level", GRADE, True, ("grade", "grades")),
        _c("frl", BOOL), _c("ell", BOOL), _c("iep", BOOL),
        _c("gender", TEXT, aliases=("sex",)),
        _c("race_ethnicity", TEXT),
    ), order=1, keep_extra=True),
    TableDecl("tools", ("tool_id",), (
        _c("tool_id", ID, True, ("lp_id", "product_id", "app_id")),
        _c("tool_name", TEXT, True, ("product_name", "name")),
        _c("vendor", TEXT, aliases=("provider", "provider_company_name")),
        _c("category", TEXT, aliases=("primary_essential_function", "function")),
        _c("subject", TEXT), _c("grade_band", TEXT),
        _c("recommended_minutes_per_week", NUMBER, aliases=("dosage_minutes",), min=0),
        _c("recommended_weeks", INT, min=0),
        _c("privacy_status", ENUM, aliases=("dpa",), choices=("signed_dpa", "pending", "none", "unknown")),
        _c("accessibility", ENUM, aliases=("vpat",), choices=("wcag_aa", "partial", "none", "unknown")),
        _c("coppa_basis", TEXT), _c("interoperability", TEXT),
        _c("instructional_rating", NUMBER, aliases=("quality",), min=1, max=5),
    ), order=2),
    TableDecl("licenses", ("tool_id", "school_id", "start_date"), (
        _c("tool_id", ID, True, references="tools"),
        _c("school_id", ID, references="schools", blank_key=True),  # blank = district-wide
        _c("seats", INT, True, ("licenses", "quantity"), min=0, min_exclusive=True),
        _c("annual_cost", MONEY, True, ("cost", "price", "amount"), min=0),
        _c("start_date", DATE, True), _c("end_date", DATE, True),
        _c("funding_source", TEXT, aliases=("fund",)),
        _c("price_escalator_pct", PERCENT, aliases=("escalator",)),
        _c("auto_renew", BOOL),
        _c("pd_hours", NUMBER, min=0), _c("pd_cost", MONEY, min=0), _c("internal_cost", MONEY, min=0),
    ), order=3),
    # Files may hold events, days or weeks; the store keeps one value per student x tool x day, in one
    # row per student x tool x ISO week (its Monday, so the contract's `date` is stored as `week_start`)
    # with a column per weekday (stored only: m0..m6 minutes, s0..s6 sessions) and the week's sums.
    TableDecl("usage", ("student_id", "tool_id", "date"), (
        _c("student_id", ID, True, ("user_id", "sourcedid"), references="students"),
        _c("tool_id", ID, True, ("app_id", "product_id", "lp_id"), references="tools"),
        _c("date", DATE, True, ("day", "week_start", "login_date", "timestamp"), stored_as="week_start"),
        _c("minutes", NUMBER, True, ("minutes_used", "time_spent_minutes", "duration_min"), min=0, max=1440),
        _c("sessions", INT, aliases=("logins", "launches"), min=0,
           import_default="1 per row with minutes > 0"),
    ), order=5,
        stored_only=tuple(_c(f"m{d}", NUMBER, min=0) for d in range(7)) + tuple(_c(f"s{d}", INT, min=0) for d in range(7))),
    TableDecl("usage_aggregate", ("tool_id", "school_id", "district_id", "date"), (
        _c("tool_id", ID, True, ("lp_id",)),
        _c("school_id", ID, blank_key=True),
        _c("district_id", ID, blank_key=True),
        _c("date", DATE, True, ("time",)),
        _c("active_users", NUMBER, min=0),
        _c("minutes", NUMBER, min=0),
        _c("pct_access", PERCENT),
        _c("engagement_index", NUMBER, min=0),
    ), order=5,
        # a column of the database only: never written by the importer and dropped on read
        stored_only=(_c("range_text", TEXT),)),
    TableDecl("assessments", ("student_id", "assessment", "window"), (
        _c("student_id", ID, True, references="students"),
        _c("assessment", TEXT, True, ("test", "test_name")),
        _c("window", TEXT, True, ("period", "term")),
        _c("score", NUMBER, True, ("scale_score", "rit")),
        _c("test_date", DATE), _c("subject", TEXT),
        _c("proficient", BOOL, aliases=("met_standard",)),
    ), order=6),
    TableDecl("indicators", ("student_id", "as_of"), (
        _c("student_id", ID, True, references="students"),
        _c("as_of", DATE, import_default="the import date"),
        _c("attendance_rate", PERCENT), _c("days_absent", NUMBER, min=0), _c("gpa", NUMBER, min=0),
        _c("course_failures", NUMBER, min=0), _c("behavior_incidents", NUMBER, min=0),
        _c("suspensions", NUMBER, min=0), _c("credits_earned", NUMBER, min=0),
    ), order=6, keep_extra=True),
    TableDecl("devices", ("device_id",), (
        _c("device_id", ID, True, ("asset_tag", "serial")),
        _c("device_type", ENUM, True, choices=("chromebook", "laptop", "tablet", "desktop", "hotspot", "panel")),
        _c("purchase_date", DATE, True), _c("purchase_cost", MONEY, True, min=0),
        _c("school_id", ID, references="schools"),
        _c("status", ENUM, choices=("active", "repair", "lost", "retired")),
        _c("auto_update_expiration", DATE, aliases=("aue",)),
        _c("assigned_student_id", ID), _c("model", TEXT),
    ), order=4),
    TableDecl("pd_sessions", ("staff_id", "date", "topic"), (
        _c("staff_id", ID, True), _c("school_id", ID, True, references="schools"),
        _c("date", DATE, True), _c("hours", NUMBER, True, min=0, min_exclusive=True),
        _c("tool_id", ID, references="tools"), _c("topic", TEXT, blank_key=True), _c("cost", MONEY, min=0),
    ), order=4),
    TableDecl("funding", ("fiscal_year", "source"), (
        _c("fiscal_year", INT, True, min=2000, max=2100), _c("source", TEXT, True),
        _c("amount", MONEY, True), _c("restricted_to", ENUM, choices=("licenses", "devices", "pd", "any")),
        _c("expires", DATE),
    ), order=4),
    # (v2) supports given to students (MTSS); served = active on the flag date or starting within 30 days
    TableDecl("interventions", ("student_id", "intervention", "start_date"), (
        _c("student_id", ID, True, references="students"),
        _c("intervention", TEXT, True, ("program", "support")),
        _c("start_date", DATE, True), _c("end_date", DATE),
        _c("tier", INT, min=1, max=3),
        _c("minutes_per_week", NUMBER, min=0),
        _c("staff_id", ID),
        _c("tool_id", ID, references="tools"),
        _c("cost_per_student", MONEY, min=0),
        _c("goal", TEXT),
        _c("exit_reason", ENUM, choices=("met_goal", "moved", "declined", "other")),
    ), order=6),
    # (v2) who was flagged, when, with which score and cut-off (a published model's scoring or an outside EWS)
    TableDecl("risk_flags", ("student_id", "flag_date", "source"), (
        _c("student_id", ID, True, references="students"),
        _c("flag_date", DATE, True, ("date",)),
        _c("source", TEXT, True),
        _c("risk", NUMBER, True, ("risk_score", "score"), min=0, max=1),
        _c("cutoff", NUMBER, True, ("threshold",), min=0, max=1),
        _c("flagged", BOOL, True),
    ), order=6),
    # (v2) repeated short measures during an intervention (e.g. oral reading fluency)
    TableDecl("progress_monitoring", ("student_id", "measure", "date"), (
        _c("student_id", ID, True, references="students"),
        _c("measure", TEXT, True),
        _c("date", DATE, True),
        _c("score", NUMBER, True),
        _c("goal", NUMBER),
    ), order=7),
    # (v2) stakeholder ratings of tools (survey exports); comments never reach aggregate-only roles
    TableDecl("feedback", ("respondent_id", "tool_id", "date"), (
        _c("respondent_id", ID, True, ("respondent",)),
        _c("tool_id", ID, True, references="tools"),
        _c("date", DATE, True, ("submitted", "submitted_at")),
        _c("role", ENUM, aliases=("respondent_role",),
           choices=("teacher", "student", "parent", "administrator", "it")),
        _c("school_id", ID, references="schools"),
        _c("rating", NUMBER, True, ("score", "stars"), min=1, max=5),
        _c("comment", TEXT, aliases=("comments",)),
    ), order=4),
    # (v2) the strategic roadmap: initiatives and their KPIs (metrics from methods v2 section 7)
    TableDecl("initiatives", ("initiative_id",), (
        _c("initiative_id", ID, True),
        _c("name", TEXT, True),
        _c("goal", TEXT), _c("owner", TEXT),
        _c("start_date", DATE, True), _c("end_date", DATE, True),
        _c("status", ENUM, choices=("planned", "active", "done", "dropped")),
        _c("scenario", TEXT),
    ), order=8),
    TableDecl("kpis", ("initiative_id", "kpi_id"), (
        _c("initiative_id", ID, True, references="initiatives"),
        _c("kpi_id", ID, True),
        _c("metric", TEXT, True),
        _c("scope", TEXT),
        _c("baseline", NUMBER),
        _c("target", NUMBER, True),
        _c("target_date", DATE, True),
    ), order=9),
]}
