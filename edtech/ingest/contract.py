"""The data contract (shared/spec/data-contract.md) as data: tables, columns, aliases, types, keys."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# column types understood by edtech.parsing
TEXT, ID, INT, NUMBER, MONEY, PERCENT, BOOL, DATE, GRADE, ENUM = (
    "text", "id", "int", "number", "money", "percent", "bool", "date", "grade", "enum")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = TEXT
    required: bool = False
    aliases: tuple[str, ...] = ()
    min: float | None = None           # inclusive lower bound
    min_exclusive: bool = False
    max: float | None = None
    choices: tuple[str, ...] = ()      # for ENUM
    references: str | None = None      # table whose key this column must match


@dataclass(frozen=True)
class Table:
    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    keep_extra: bool = False           # unknown columns kept (students, indicators)
    order: int = 0                     # import order inside a multi-file upload
    extra_types: dict[str, str] = field(default_factory=dict)

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


def C(name: str, type_: str = TEXT, req: bool = False, aliases: tuple[str, ...] = (), **kw) -> Column:  # noqa: N802
    return Column(name, type_, req, aliases, **kw)


TABLES: dict[str, Table] = {t.name: t for t in [
    Table("schools", ("school_id",), (
        C("school_id", ID, True, ("school", "site_id", "building_id", "org_id")),
        C("school_name", TEXT, True, ("name",)),
        C("level", ENUM, aliases=("school_level", "type"),
          choices=("elementary", "middle", "high", "k8", "k12", "other")),
        C("enrollment", INT, aliases=("students", "student_count"), min=0),
        C("frl_pct", PERCENT, aliases=("pct_free_reduced", "frl")),
        C("title_i", BOOL),
        C("district_id", ID),
    ), order=0),
    Table("students", ("student_id",), (
        C("student_id", ID, True, ("sourcedid", "user_id", "id")),
        C("school_id", ID, True, ("school", "org"), references="schools"),
        C("grade_level", GRADE, True, ("grade", "grades")),
        C("frl", BOOL), C("ell", BOOL), C("iep", BOOL),
        C("gender", TEXT, aliases=("sex",)),
        C("race_ethnicity", TEXT),
    ), keep_extra=True, order=1),
    Table("tools", ("tool_id",), (
        C("tool_id", ID, True, ("lp_id", "product_id", "app_id")),
        C("tool_name", TEXT, True, ("product_name", "name")),
        C("vendor", TEXT, aliases=("provider", "provider_company_name")),
        C("category", TEXT, aliases=("primary_essential_function", "function")),
        C("subject", TEXT), C("grade_band", TEXT),
        C("recommended_minutes_per_week", NUMBER, aliases=("dosage_minutes",), min=0),
        C("recommended_weeks", INT, min=0),
        C("privacy_status", ENUM, aliases=("dpa",), choices=("signed_dpa", "pending", "none", "unknown")),
        C("accessibility", ENUM, aliases=("vpat",), choices=("wcag_aa", "partial", "none", "unknown")),
        C("coppa_basis", TEXT), C("interoperability", TEXT),
        C("instructional_rating", NUMBER, aliases=("quality",), min=1, max=5),
    ), order=2),
    Table("licenses", ("tool_id", "school_id", "start_date"), (
        C("tool_id", ID, True, references="tools"),
        C("school_id", ID, references="schools"),
        C("seats", INT, True, ("licenses", "quantity"), min=0, min_exclusive=True),
        C("annual_cost", MONEY, True, ("cost", "price", "amount"), min=0),
        C("start_date", DATE, True), C("end_date", DATE, True),
        C("funding_source", TEXT, aliases=("fund",)),
        C("price_escalator_pct", PERCENT, aliases=("escalator",)),
        C("auto_renew", BOOL),
        C("pd_hours", NUMBER, min=0), C("pd_cost", MONEY, min=0), C("internal_cost", MONEY, min=0),
    ), order=3),
    Table("usage", ("student_id", "tool_id", "week_start"), (
        C("student_id", ID, True, ("user_id", "sourcedid"), references="students"),
        C("tool_id", ID, True, ("app_id", "product_id", "lp_id"), references="tools"),
        C("date", DATE, True, ("day", "week_start", "login_date", "timestamp")),
        C("minutes", NUMBER, True, ("minutes_used", "time_spent_minutes", "duration_min"), min=0, max=1440),
        C("sessions", INT, aliases=("logins", "launches"), min=0),
    ), order=5),
    Table("usage_aggregate", ("tool_id", "school_id", "district_id", "date"), (
        C("tool_id", ID, True, ("lp_id",)),
        C("school_id", ID),
        C("district_id", ID),
        C("date", DATE, True, ("time",)),
        C("active_users", NUMBER, min=0),
        C("minutes", NUMBER, min=0),
        C("pct_access", PERCENT),
        C("engagement_index", NUMBER, min=0),
    ), order=5),
    Table("assessments", ("student_id", "assessment", "window"), (
        C("student_id", ID, True, references="students"),
        C("assessment", TEXT, True, ("test", "test_name")),
        C("window", TEXT, True, ("period", "term")),
        C("score", NUMBER, True, ("scale_score", "rit")),
        C("test_date", DATE), C("subject", TEXT),
        C("proficient", BOOL, aliases=("met_standard",)),
    ), order=6),
    Table("indicators", ("student_id", "as_of"), (
        C("student_id", ID, True, references="students"),
        C("as_of", DATE),
        C("attendance_rate", PERCENT), C("days_absent", NUMBER, min=0), C("gpa", NUMBER, min=0),
        C("course_failures", NUMBER, min=0), C("behavior_incidents", NUMBER, min=0),
        C("suspensions", NUMBER, min=0), C("credits_earned", NUMBER, min=0),
    ), keep_extra=True, order=6),
    Table("devices", ("device_id",), (
        C("device_id", ID, True, ("asset_tag", "serial")),
        C("device_type", ENUM, True, choices=("chromebook", "laptop", "tablet", "desktop", "hotspot", "panel")),
        C("purchase_date", DATE, True), C("purchase_cost", MONEY, True, min=0),
        C("school_id", ID, references="schools"),
        C("status", ENUM, choices=("active", "repair", "lost", "retired")),
        C("auto_update_expiration", DATE, aliases=("aue",)),
        C("assigned_student_id", ID), C("model", TEXT),
    ), order=4),
    Table("pd_sessions", ("staff_id", "date", "topic"), (
        C("staff_id", ID, True), C("school_id", ID, True, references="schools"),
        C("date", DATE, True), C("hours", NUMBER, True, min=0, min_exclusive=True),
        C("tool_id", ID, references="tools"), C("topic", TEXT), C("cost", MONEY, min=0),
    ), order=4),
    Table("funding", ("fiscal_year", "source"), (
        C("fiscal_year", INT, True, min=2000, max=2100), C("source", TEXT, True),
        C("amount", MONEY, True), C("restricted_to", ENUM, choices=("licenses", "devices", "pd", "any")),
        C("expires", DATE),
    ), order=4),
]}

KINDS = tuple(TABLES)


def normalize_header(name: object) -> str:
    """Case-insensitive, trimmed, spaces/hyphens/slashes -> `_` (contract rule)."""
    s = str(name).replace("\ufeff", "").strip().lower()
    s = re.sub(r"[\s\-/]+", "_", s)
    return s


def map_columns(headers: list[str], table: Table) -> tuple[dict[str, str], list[str]]:
    """Map the file's headers to contract columns.

    Returns ({file header: contract column}, unknown headers). The canonical name wins over an
    alias when both are present; the first of several aliases wins.
    """
    lookup: dict[str, str] = {}
    for col in table.columns:
        lookup.setdefault(col.name, col.name)
    for col in table.columns:
        for alias in col.aliases:
            lookup.setdefault(alias, col.name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    unknown: list[str] = []
    normalized = [(h, normalize_header(h)) for h in headers]
    # exact names first so that an alias never steals a column the file names canonically
    for h, n in normalized:
        if n in table.column_names and n not in taken:
            mapping[h], _ = n, taken.add(n)
    for h, n in normalized:
        if h in mapping:
            continue
        target = lookup.get(n)
        if target and target not in taken:
            mapping[h], _ = target, taken.add(target)
        else:
            unknown.append(h)
    return mapping, unknown


def guess_kind(headers: list[str]) -> str | None:
    """Best table for a set of headers (for `import auto` and multi-file uploads)."""
    best, best_score = None, 0.0
    for table in TABLES.values():
        mapping, _ = map_columns(headers, table)
        mapped = set(mapping.values())
        required = [c.name for c in table.columns if c.required]
        if not all(r in mapped for r in required):
            continue
        score = len(mapped) / max(len(headers), 1) + 0.01 * len(mapped)
        if score > best_score:
            best, best_score = table.name, score
    return best


def describe_table(kind: str) -> list[dict[str, str]]:
    """One row per column: what the Data page shows as the file format for a table."""
    table = TABLES[kind]
    rows = []
    for col in table.columns:
        rule = {ENUM: "one of " + ", ".join(col.choices), PERCENT: "share 0-1 or percent 0-100",
                MONEY: "amount ($ and thousands separators allowed)", DATE: "YYYY-MM-DD or MM/DD/YYYY",
                BOOL: "yes/no, true/false, y/n, 1/0", GRADE: "PK, K, 1-12", ID: "text ID (leading zeros kept)",
                INT: "whole number", NUMBER: "number"}.get(col.type, "text")
        if col.references:
            rule += f"; must exist in {col.references}"
        rows.append({"column": col.name, "required": "yes" if col.required else "", "format": rule,
                     "also accepted as": ", ".join(col.aliases)})
    if table.keep_extra:
        rows.append({"column": "(any other column)", "required": "", "format": "kept as a candidate feature",
                     "also accepted as": ""})
    return rows


def template_csv(kind: str) -> str:
    """A header-only CSV for a table (the Data page's download)."""
    return ",".join(c.name for c in TABLES[kind].columns) + "\n"
