"""Use case "is this student's support working?" (the Interventions page's progress chart): the scope's students
with progress-monitoring probes during a support, and one student's chart (probes, goal line, trend during the
support: `edtech.interventions.viz.progress_figure`). Student level: needs Action.VIEW_STUDENTS, and only the
scope's students are ever read (filtered here by student id: the frames of a scope's slice are not all cut).

The supports and their slopes are cut from the stored district part of the evaluation
(`services.interventions.district_part`, the same `progress.student_progress` rows), so a cold page neither reads
every probe nor fits every support again; a chart reads the probes of its student's school only (issue 15)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from edtech.core.access import Action
from edtech.interventions import progress, viz
from edtech.services import interventions as interventions_service
from edtech.services.workspace import Workspace
from edtech.store import data

# the stored district part it is cut from reads these (and the tables of the evaluation)
READS = interventions_service.READS


def _in_scope(ws: Workspace) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = set(ws.district.students["student_id"].astype(str))
    given = ws.district.interventions
    probes = ws.district.progress_monitoring
    return (given[given["student_id"].astype(str).isin(ids)], probes[probes["student_id"].astype(str).isin(ids)])


def monitored_supports(ws: Workspace) -> pd.DataFrame:
    """The scope's supports with probes during them, most recent start first: student_id, school_id, grade_level,
    intervention, start_date, end_date, measure, n_during, slope_during, goal, on_track, label (for a picker)."""
    ws.require(Action.VIEW_STUDENTS)
    part = interventions_service.district_part(ws)
    info = interventions_service.scope_students(part, ws.scope)
    # the district's per-support rows depend on each student's own rows only: the scope's are the district's rows
    rows = part.progress_students[part.progress_students["student_id"].isin(set(info["student_id"]))]
    rows = rows[rows["n_during"] > 0].reset_index(drop=True)
    rows = rows.merge(info[["student_id", "school_id", "grade_level"]], on="student_id", how="left")
    rows = rows.sort_values(["start_date", "student_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    rows["label"] = _labels(rows)
    return rows


def _labels(rows: pd.DataFrame) -> list[str]:
    """'student · intervention from YYYY-MM-DD' per row (vectorized; the row loop only when a start is missing)."""
    if rows.empty or rows["start_date"].isna().any():
        return [f"{r.student_id} · {r.intervention} from {pd.Timestamp(r.start_date):%Y-%m-%d}"
                for r in rows.itertuples()]
    starts = pd.to_datetime(rows["start_date"]).dt.strftime("%Y-%m-%d")
    return (rows["student_id"].astype(str) + " · " + rows["intervention"].astype(str) + " from " + starts).tolist()


def _student_probes(ws: Workspace, student_id: str, school_id: object) -> pd.DataFrame:
    """The probes of one student of the scope: read for the student's school only (not every probe)."""
    if isinstance(school_id, str) and school_id:
        probes = data.read_table(ws.engine, "progress_monitoring", frozenset({school_id}))
    else:
        probes = _in_scope(ws)[1]
    return probes[probes["student_id"].astype(str) == str(student_id)]


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
    probes = _student_probes(ws, student_id, row["school_id"])
    mine = probes[probes["measure"] == row["measure"]]
    window_start = start - pd.Timedelta(weeks=progress.BEFORE_WEEKS)
    mine = mine[mine["date"] >= window_start]
    support = {"intervention": intervention, "start_date": start, "end_date": row["end_date"],
               "target_date": row["target_date"]}
    title = f"{row['measure']}: {intervention} (student {student_id})"
    return viz.progress_figure(mine, support, title)
