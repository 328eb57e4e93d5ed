"""Who may import which rows: the row-level rule behind `Action.IMPORT` / `Action.IMPORT_DISTRICT`.

A director imports anything. A coordinator imports only rows of the schools assigned to the account:
student-keyed rows (students, usage, assessments, indicators, interventions, risk flags, progress
monitoring) of students enrolled at those schools, and school-specific rows (licenses, devices, PD
sessions, feedback, the school's own row) of those schools; for a
row that changes something already stored, both the stored and the new school must be theirs. Tools,
funding, district-wide licenses, district aggregates and the roadmap are director-only. A file with any refused row
is rejected whole (row numbers in the report), like any invalid file.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import text
from sqlalchemy.engine import Connection

from edtech.core.access import Action, Principal
from edtech.ingest.validate import Issue, IssueLog

DIRECTOR_ONLY = frozenset({"tools", "funding", "usage_aggregate", "initiatives", "kpis"})
STUDENT_KEYED = frozenset({"students", "usage", "assessments", "indicators", "interventions", "risk_flags",
                           "progress_monitoring"})
# school-keyed tables whose stored rows can move school: key column -> table
STORED_SCHOOL = {"students": ("student_id", "students"), "devices": ("device_id", "devices")}
FIX = "Import only your schools' rows, or ask the director to import this file."


def _stored_schools(conn: Connection, table: str, key: str, ids: pd.Series) -> dict[str, str]:
    wanted = sorted({str(v) for v in ids.dropna().unique()})
    out: dict[str, str] = {}
    for start in range(0, len(wanted), 900):  # bounded IN lists (SQLite's variable limit)
        part = wanted[start:start + 900]
        names = ", ".join(f":k{i}" for i in range(len(part)))
        rows = conn.execute(text(f"SELECT {key}, school_id FROM {table} WHERE {key} IN ({names})"),
                            {f"k{i}": v for i, v in enumerate(part)})
        out.update({str(k): str(s or "") for k, s in rows})
    return out


def _refuse(issues: IssueLog, lines: pd.Index, column: str, values: pd.Series, reason: str) -> None:
    for line, value in zip(lines, values, strict=False):
        issues.add(Issue(int(line) if pd.notna(line) else None, column, None if pd.isna(value) else str(value),
                         reason, FIX))


class CoordinatorGuard:
    """The row check for one coordinator's import (see the module docstring)."""

    def __init__(self, schools: frozenset[str]) -> None:
        self.schools = schools

    def __call__(self, conn: Connection, kind: str, rows: pd.DataFrame, issues: IssueLog) -> None:
        if rows.empty:
            return
        if kind in DIRECTOR_ONLY:
            _refuse(issues, rows.index[:1], "", pd.Series([kind]), f"only the director imports the {kind} table")
            return
        mine = self.schools
        if kind in STUDENT_KEYED:
            stored = _stored_schools(conn, "students", "student_id", rows["student_id"])
            current = rows["student_id"].astype("string").map(stored)
            if kind == "students":
                new = rows["school_id"].astype("string")
                bad = ~new.isin(mine) | (current.notna() & ~current.isin(mine))
            else:
                bad = ~current.isin(mine) | current.isna()
            if bad.any():
                _refuse(issues, rows.index[bad.to_numpy()], "student_id", rows.loc[bad.to_numpy(), "student_id"],
                        "the student is not enrolled at one of your schools")
            return
        if "school_id" not in rows.columns:
            _refuse(issues, rows.index[:1], "", pd.Series([kind]), f"only the director imports the {kind} table")
            return
        school = rows["school_id"].astype("string").fillna("")
        bad = ~school.isin(mine)
        reason = "the row is not for one of your schools (a blank school_id is district-wide: director only)"
        if kind in STORED_SCHOOL:
            key, table = STORED_SCHOOL[kind]
            stored = rows[key].astype("string").map(_stored_schools(conn, table, key, rows[key]))
            bad |= stored.notna() & ~stored.isin(mine)
        if bad.any():
            _refuse(issues, rows.index[bad.to_numpy()], "school_id", school[bad], reason)


def guard_for(principal: Principal) -> CoordinatorGuard | None:
    """The row check for this principal's imports (None: a director imports anything)."""
    principal.require(Action.IMPORT)
    if principal.can(Action.IMPORT_DISTRICT):
        return None
    return CoordinatorGuard(frozenset(principal.schools))
