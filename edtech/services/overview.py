"""Use case "what does the district (or my schools) spend, use and leave idle?" (page Overview, report KPIs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from edtech.adoption.overview import spend_by_category, weekly_active_from_counts, weekly_active_users
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


def key_figures(ws: workspace.Workspace) -> dict[str, Any]:
    """The headline figures of the workspace's scope (Overview tiles, report KPIs and summary, CLI JSON)."""
    return figures.key_figures(ws.board, ws.student_tool_year(), ws.district.students)


def overview(ws: workspace.Workspace) -> Overview:
    k = key_figures(ws)
    tools = figures.licensed(ws.board)
    notes = []
    if k["underused_tools"]:
        notes.append(f"{k['underused_tools']} tool(s) are used by fewer than half of their seats: "
                     f"{fmt.money(k['underused_spend'])} of annual spend.")
    return Overview(figures=k, tools=tools, spend_by_category=spend_by_category(tools),
                    weekly_active=weekly_active(ws), as_of=ws.as_of,
                    schools=len(ws.district.schools), notes=notes)


def weekly_active(ws: workspace.Workspace) -> pd.DataFrame:
    """Distinct active students per week: the district's from the database summary (no raw weeks read);
    a coordinator's from their students' rows."""
    if ws.scope is None:
        weeks = ws.usage_weeks
        return weekly_active_from_counts(weeks.set_index("week_start")["active_students"])
    return weekly_active_users(ws.district.usage)
