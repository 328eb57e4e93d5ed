"""Use case "give this flagged student a support" (the at-risk page's assign form; data contract v2
`interventions`), and the worklist with each student's current support.

- `assign_intervention`: needs Action.ASSIGN_INTERVENTION and the student enrolled at one of the
  principal's schools (a coordinator asking for another school's student gets AccessDenied, here, not on
  the page); the values follow the contract's rules (tier 1–3, minutes ≥ 0 …) and are written through the
  importer (the same checks and upsert as a file, logged as an import so every cache reading
  `table:interventions` refreshes, the coordinator's row guard inside the transaction); audited.
- `worklist_with_interventions`: the published version's worklist (`services.risk.worklist`, scored once
  per data and models version) with the current support per student and who is flagged but not served.
- `intervention_names`: the names already in use (the form's suggestions).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from typing import Any

import pandas as pd
from sqlalchemy.engine import Engine

from edtech.core.access import AccessDenied, Action, Principal
from edtech.core.district import District
from edtech.risk import worklist as worklists
from edtech.services import audit
from edtech.services import risk as risk_service
from edtech.services.import_access import CoordinatorGuard
from edtech.services.workspace import Workspace
from edtech.store import data

# the worklist with supports reads what the worklist reads, plus the interventions table
READS = (*risk_service.WORKLIST_READS, "table:interventions")
NAMES_READS = ("table:interventions",)
TIERS = (1, 2, 3)
MAX_NAME = 120
MAX_GOAL = 500
MAX_STAFF = 64
MINUTES_IN_A_WEEK = 7 * 24 * 60
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class AssignmentError(ValueError):
    """Values that cannot be stored as an intervention (shown to the user as is)."""


# ------------------------------------------------------------------------------------ validation
def _text(value: Any, what: str, limit: int, *, required: bool = False) -> str | None:
    text = "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value).strip()
    if not text:
        if required:
            raise AssignmentError(f"Give the {what}.")
        return None
    if _CONTROL.search(text):
        raise AssignmentError(f"The {what} holds a control character.")
    if len(text) > limit:
        raise AssignmentError(f"The {what} is longer than {limit:,} characters.")
    return text


def _number(value: Any, what: str, *, low: float = 0.0, high: float | None = None) -> float | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AssignmentError(f"The {what} must be a number (got {value!r}).") from None
    if not math.isfinite(number) or number < low or (high is not None and number > high):
        span = f"between {low:,.0f} and {high:,.0f}" if high is not None else f"at least {low:,.0f}"
        raise AssignmentError(f"The {what} must be {span} (got {value}).")
    return number


def _date(value: Any, what: str, *, required: bool = False) -> dt.date | None:
    if value is None or (not isinstance(value, (str, dt.date)) and pd.isna(value)) or value == "":
        if required:
            raise AssignmentError(f"Give the {what}.")
        return None
    stamp = pd.to_datetime(value, errors="coerce")
    if pd.isna(stamp):
        raise AssignmentError(f"The {what} is not a date (got {value!r}).")
    return stamp.date()


def _tier(value: Any) -> int | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return None
    try:
        tier = int(str(value).strip().lower().removeprefix("tier").strip())
    except ValueError:
        raise AssignmentError(f"The tier must be 1, 2 or 3 (got {value!r}).") from None
    if tier not in TIERS:
        raise AssignmentError(f"The tier must be 1, 2 or 3 (got {value!r}).")
    return tier


def _school_of(engine: Engine, student_id: str) -> str | None:
    students = data.read_table(engine, "students")
    found = students.loc[students["student_id"].astype(str) == student_id, "school_id"]
    return None if found.empty or pd.isna(found.iloc[0]) else str(found.iloc[0])


# ------------------------------------------------------------------------------------ the write
def assign_intervention(engine: Engine, principal: Principal, student_id: str, intervention: str,
                        tier: int | str | None, start_date: dt.date | str, minutes_per_week: float | None = None,
                        staff_id: str | None = None, goal: str | None = None, *, end_date: dt.date | str | None = None,
                        tool_id: str | None = None, cost_per_student: float | None = None) -> dict[str, Any]:
    """Store one support for one student (key: student, intervention, start date: the same key again
    updates that assignment) and audit it. AccessDenied when the role may not assign or the student is not
    enrolled at one of the principal's schools; AssignmentError when a value breaks the contract's rules.
    Returns the stored values plus `school_id` and `updated` (True when the key was stored already)."""
    principal.require(Action.ASSIGN_INTERVENTION)
    student = _text(student_id, "student", MAX_STAFF, required=True)
    school = _school_of(engine, student)
    if principal.scope is not None and school not in principal.scope:
        # the same answer for another school's student and an unknown one: nothing about other schools leaks
        raise AccessDenied(f"Student {student} is not enrolled at one of your schools.")
    if school is None:
        raise AssignmentError(f"Unknown student {student!r}: interventions are assigned to rostered students.")
    row = {
        "student_id": student,
        "intervention": _text(intervention, "intervention", MAX_NAME, required=True),
        "start_date": _date(start_date, "start date", required=True),
        "end_date": _date(end_date, "end date"),
        "tier": _tier(tier),
        "minutes_per_week": _number(minutes_per_week, "minutes a week", high=MINUTES_IN_A_WEEK),
        "staff_id": _text(staff_id, "staff member", MAX_STAFF),
        "tool_id": _text(tool_id, "tool", MAX_STAFF),
        "cost_per_student": _number(cost_per_student, "cost per student"),
        "goal": _text(goal, "goal", MAX_GOAL),
    }
    if row["end_date"] is not None and row["end_date"] < row["start_date"]:
        raise AssignmentError("The end date is before the start date.")
    text = pd.DataFrame([{k: "" if v is None else (v.isoformat() if isinstance(v, dt.date) else
                                                   repr(v) if isinstance(v, float) else str(v))
                          for k, v in row.items()}])
    guard = None if principal.scope is None else CoordinatorGuard(frozenset(principal.scope))
    report = data.import_frame(engine, "interventions", text, file_name="assigned on the at-risk page",
                               user=audit.actor_name(principal), row_guard=guard)
    if not report.ok:
        raise AssignmentError("The intervention was not stored: " + "; ".join(report.error_lines()[:3]))
    updated = report.updated > 0
    detail = (f"{student}: {row['intervention']}" + (f", tier {row['tier']}" if row["tier"] else "")
              + f", from {row['start_date']:%Y-%m-%d}"
              + (f", {row['minutes_per_week']:g} min/week" if row["minutes_per_week"] is not None else "")
              + (f", staff {row['staff_id']}" if row["staff_id"] else "") + (" (updated)" if updated else ""))
    audit.record(engine, principal, "intervention assigned", scope=frozenset({school}), detail=detail)
    return {**row, "school_id": school, "updated": updated}


# ------------------------------------------------------------------------------------ reads
def intervention_names(district: District) -> list[str]:
    """The intervention names in use, most used first (the form's suggestions; district-wide program
    names, no student data)."""
    names = district.interventions["intervention"].dropna().astype(str).str.strip()
    names = names[names.str.len() > 0]
    counts = names.value_counts()
    return sorted(counts.index, key=lambda n: (-int(counts[n]), n.lower()))


def worklist_with_interventions(ws: Workspace) -> risk_service.Worklist | None:
    """The scope's worklist (None when no version is published) whose students carry `intervention` (the
    current supports in words, "—" when none) and `flagged_not_served` (High band, no support in progress
    or planned). Needs VIEW_STUDENTS (checked by the worklist)."""
    found = risk_service.worklist(ws)
    if found is None:
        return None
    students = worklists.with_interventions(found.students, ws.district.interventions, ws.as_of)
    return dataclasses.replace(found, students=students)


def suggestions(ws: Workspace) -> list[str]:
    return intervention_names(ws.whole)
