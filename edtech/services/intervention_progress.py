"""Use case "is this student's support working?" (the Interventions page's progress chart): the scope's students
with progress-monitoring probes during a support, and one student's chart (probes, goal line, trend during the
support: `edtech.interventions.viz.progress_figure`). Student level: needs Action.VIEW_STUDENTS, and only the
scope's students are ever read (filtered here by student id: the frames of a scope's slice are not all cut)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from edtech.core.access import Action
from edtech.interventions import progress, viz
from edtech.services.workspace import Workspace

READS = ("table:students", "table:schools", "table:interventions", "table:progress_monitoring")


def _in_scope(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = set(ws.district.students["student_id"].astype(str))
    given = ws.district.interventions
    probes = ws.district.progress_monitoring
    return (given[given["student_id"].astype(str).isin(ids)], probes[probes["student_id"].astype(str).isin(ids)])


def monitored_supports(ws: Workspace) -> pd.DataFrame:
    """The scope's supports with probes during them, most recent start first: student_id, school_id, grade_level,
    intervention, start_date, end_date, measure, n_during, slope_during, goal, on_track, label (for a picker)."""
    ws.require(Action.VIEW_STUDENTS)
    given, probes = _in_scope(ws)
    rows = progress.student_progress(given, probes)
    rows = rows[rows["n_during"] > 0].copy()
    info = ws.district.students[["student_id", "school_id", "grade_level"]]
    rows = rows.merge(info, on="student_id", how="left")
    rows = rows.sort_values(["start_date", "student_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    rows["label"] = [f"{r.student_id} · {r.intervention} from {pd.Timestamp(r.start_date):%Y-%m-%d}"
                     for r in rows.itertuples()]
    return rows


def progress_chart(ws: Workspace, student_id: str, intervention: str, start_date: str) -> go.Figure | None:
    """One support's progress chart (None when the student is not in the scope or has no probes during it)."""
    ws.require(Action.VIEW_STUDENTS)
    supports = monitored_supports(ws)
    start = pd.Timestamp(start_date)
    chosen = supports[(supports["student_id"].astype(str) == str(student_id))
                      & (supports["intervention"] == intervention) & (supports["start_date"] == start)]
    if chosen.empty:
        return None
    row = chosen.iloc[0]
    _, probes = _in_scope(ws)
    mine = probes[(probes["student_id"].astype(str) == str(student_id)) & (probes["measure"] == row["measure"])]
    window_start = start - pd.Timedelta(weeks=progress.BEFORE_WEEKS)
    mine = mine[mine["date"] >= window_start]
    support = {"intervention": intervention, "start_date": start, "end_date": row["end_date"],
               "target_date": row["target_date"]}
    title = f"{row['measure']}: {intervention} (student {student_id})"
    return viz.progress_figure(mine, support, title)
