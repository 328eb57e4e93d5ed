"""Use case "is this student's support working?" (the Interventions page's progress chart): the scope's students
with progress-monitoring probes during a support, and one student's chart (probes, goal line, trend during the
support: `edtech.interventions.viz.progress_figure`). Student level: needs Action.VIEW_STUDENTS, and only the
scope's students are ever shown.

The supports and their slopes are cut from the stored district part of the evaluation
(`services.interventions.district_part`: the same `progress.student_progress` rows, each depending on its own
student's rows only), so a cold page neither reads every probe nor fits every support again; a chart reads its
one student's probes (a query on the table's key; issue 15)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from sqlalchemy import select

from edtech.core.access import Action
from edtech.core.district import conform_frame, empty_frame
from edtech.interventions import progress, viz
from edtech.services import interventions as interventions_service
from edtech.services.workspace import Workspace
from edtech.store.models import TABLE_MODELS

# the stored district part it is cut from reads these (and the tables of the evaluation)
READS = interventions_service.READS


def monitored_supports(ws: Workspace) -> pd.DataFrame:
    """The scope's supports with probes during them, most recent start first: student_id, school_id, grade_level,
    intervention, start_date, end_date, measure, n_during, slope_during, goal, on_track, label (for a picker)."""
    ws.require(Action.VIEW_STUDENTS)
    info, _, rows = interventions_service.scope_cut(interventions_service.district_part(ws), ws.scope)
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


def _student_probes(ws: Workspace, student_id: str) -> pd.DataFrame:
    """The probes of one student of the scope (the caller checked the scope): one query on the table's key, so a
    chart does not read every probe. Columns as `data.read_table` gives them (only the contract's columns)."""
    table = TABLE_MODELS["progress_monitoring"].__table__
    with ws.engine.connect() as conn:
        result = conn.execute(select(table).where(table.c.student_id == str(student_id)))
        frame = pd.DataFrame.from_records([tuple(r) for r in result.fetchall()], columns=list(result.keys()))
    if frame.empty:
        return empty_frame("progress_monitoring")
    return conform_frame("progress_monitoring", frame.drop(columns="extra", errors="ignore"))


def progress_chart(ws: Workspace, student_id: str, intervention: str, start_date: str) -> go.Figure | None:
    """One support's progress chart (None when the student is not in the scope or has no probes during it)."""
    ws.require(Action.VIEW_STUDENTS)
    _, _, rows = interventions_service.scope_cut(interventions_service.district_part(ws), ws.scope)
    start = pd.Timestamp(start_date)
    # the first matching row of `monitored_supports` (its sort is stable, so: the first in the rows' own order)
    chosen = rows[(rows["student_id"].astype(str) == str(student_id)) & (rows["intervention"] == intervention)
                  & (rows["start_date"] == start) & (rows["n_during"] > 0)]
    if chosen.empty:
        return None
    row = chosen.iloc[0]
    probes = _student_probes(ws, student_id)
    mine = probes[probes["measure"] == row["measure"]]
    window_start = start - pd.Timedelta(weeks=progress.BEFORE_WEEKS)
    mine = mine[mine["date"] >= window_start]
    support = {"intervention": intervention, "start_date": start, "end_date": row["end_date"],
               "target_date": row["target_date"]}
    title = f"{row['measure']}: {intervention} (student {student_id})"
    return viz.progress_figure(mine, support, title)
