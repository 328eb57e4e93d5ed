"""Use case "what does the district (or my schools) spend, use and leave idle?" (page Overview, report KPIs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from edtech.adoption.overview import spend_by_category, weekly_active_from_counts, weekly_active_users
from edtech.core import charts
from edtech.core import format as fmt
from edtech.roi import figures
from edtech.services import workspace

READS = workspace.BOARD_READS


@dataclass
class Overview:
    figures: dict[str, Any]
    tools: pd.DataFrame                       # licensed tools of the scoreboard
    spend_by_category: pd.DataFrame           # category, annual_cost, idle_license_value
    weekly_active: pd.DataFrame               # week_start, active_users (distinct students)
    as_of: pd.Timestamp
    schools: int
    notes: list[str] = field(default_factory=list)
    # the page's three charts, drawn once with the use case (a rerun redraws them instead of rebuilding them)
    charts: dict[str, Any] = field(default_factory=dict)


# per school: students rostered and students active in a tool (from the ROI analysis' per-student rows)
SCHOOL_STUDENTS_READS = workspace.ROI_READS


def compute_school_students(ws: workspace.Workspace) -> pd.DataFrame:
    """The district's per-school student counts, from the per-student rows and the roster (what is stored)."""
    return figures.school_student_counts(ws.roi.metrics.students, ws.whole.students)


def school_students(ws: workspace.Workspace) -> pd.DataFrame:
    """Per school: `students` and `students_using_tools`, district-wide, stored per data version (issue 15):
    a cold page reads 12 rows instead of the roster and every student x tool row. A scope's rows are cut
    from it (`key_figures`)."""
    return ws.stored("school_students", SCHOOL_STUDENTS_READS, lambda: compute_school_students(ws),
                     lambda frame: workspace.frames_to_bytes({"schools": frame}, {}),
                     lambda payload: workspace.frames_from_bytes(payload)[0]["schools"])


def student_counts(ws: workspace.Workspace) -> tuple[int, int]:
    """(students, students active in a tool) of the workspace's scope: the sums over its schools."""
    counts = school_students(ws)
    if ws.scope is not None:
        counts = counts[counts["school_id"].isin(ws.scope)]
    return int(counts["students"].sum()), int(counts["students_using_tools"].sum())


def key_figures(ws: workspace.Workspace) -> dict[str, Any]:
    """The headline figures of the workspace's scope (Overview tiles, report KPIs and summary, CLI JSON)."""
    return figures.key_figures_from_counts(ws.board, *student_counts(ws))


def overview(ws: workspace.Workspace) -> Overview:
    k = key_figures(ws)
    tools = figures.licensed(ws.board)
    notes = []
    if k["underused_tools"]:
        notes.append(f"{k['underused_tools']} tool(s) are used by fewer than half of their seats: "
                     f"{fmt.money(k['underused_spend'])} of annual spend.")
    by_category, weekly = spend_by_category(tools), weekly_active(ws)
    drawn = {"utilization": charts.utilization_bar(tools), "spend": charts.spend_by_category(by_category),
             "weekly": charts.weekly_active_line(weekly) if len(weekly) else None}
    return Overview(figures=k, tools=tools, spend_by_category=by_category, weekly_active=weekly, as_of=ws.as_of,
                    schools=school_count(ws), notes=notes, charts=drawn)


def school_count(ws: workspace.Workspace) -> int:
    """Schools of the scope (the schools table is small: no student rows are read)."""
    schools = ws.whole.schools
    return int(len(schools) if ws.scope is None else schools["school_id"].isin(ws.scope).sum())


def weekly_active(ws: workspace.Workspace) -> pd.DataFrame:
    """Distinct active students per week: the district's from the database summary (no raw weeks read);
    a coordinator's from their students' rows."""
    if ws.scope is None:
        weeks = ws.usage_weeks
        return weekly_active_from_counts(weeks.set_index("week_start")["active_students"])
    return weekly_active_users(ws.district.usage)
