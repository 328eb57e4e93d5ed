"""The district-wide parts every page reads, computed and stored once after an import (issue 15).

Each part is kept in `summary_parts` for exactly the data versions it reads (`Workspace.stored`), so a new
server process reads it instead of recomputing. `precompute` computes every part that is not stored yet for
the current data: the bench runs it after the import (what the first page open after an import would pay
otherwise, reported apart from the cold page times), and `python -m edtech precompute` runs it by hand.

Each capability adds one line to `PARTS`: a name and a function of a district `Workspace` (as the system)
that reads its stored part.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from edtech.core.access import SYSTEM
from edtech.services import workspace


def _roi(ws: workspace.Workspace) -> Any:
    return ws.roi


def _adoption(ws: workspace.Workspace) -> Any:
    from edtech.services import adoption

    return adoption.precompute(ws)


def _roi_board(ws: workspace.Workspace) -> Any:
    return ws.district_board()  # the scoreboard with the saved weights


def _school_students(ws: workspace.Workspace) -> Any:
    from edtech.services import overview

    return overview.school_students(ws)


def _budget_school_counts(ws: workspace.Workspace) -> Any:
    from edtech.services import budget

    return budget.school_counts(ws)


def _risk_usage_totals(ws: workspace.Workspace) -> Any:
    from edtech.services import risk

    return risk.usage_totals(ws)


def _risk_facts(ws: workspace.Workspace) -> Any:
    from edtech.services import risk

    return risk.risk_facts(ws)


def _risk_worklist(ws: workspace.Workspace) -> Any:
    from edtech.services import risk

    return risk.stored_district_worklist(ws)


def _interventions(ws: workspace.Workspace) -> Any:
    from edtech.services import interventions

    return interventions.district_part(ws)  # the default evaluation (page, board report, roadmap KPIs)


def _report_adoption(ws: workspace.Workspace) -> Any:
    from edtech.services import report

    return report.district_adoption(ws)  # the board report's adoption tables (after the adoption report)


def _report_risk(ws: workspace.Workspace) -> Any:
    from edtech.services import report

    return report.workspace_risk(ws)  # the board report's at-risk counts (nothing stored when none is published)


def _roadmap_snapshots(ws: workspace.Workspace) -> Any:
    from edtech.services import roadmap

    return roadmap.refresh_snapshots(ws.engine, ws.provider)


PARTS: list[tuple[str, Callable[[workspace.Workspace], Any]]] = [
    ("roi", _roi),
    ("adoption", _adoption),
    ("report_adoption", _report_adoption),
    ("roi_board", _roi_board),
    ("school_students", _school_students),
    ("budget_school_counts", _budget_school_counts),
    ("risk_usage_totals", _risk_usage_totals),  # before the two below: their student table reads it
    ("risk_facts", _risk_facts),
    ("risk_worklist", _risk_worklist),  # the published version's scores and reasons (None when none is published)
    ("report_risk", _report_risk),
    ("interventions", _interventions),
    ("roadmap_snapshots", _roadmap_snapshots),  # last: its KPIs read the other parts
]


def precompute(engine: Engine, only: set[str] | None = None) -> dict[str, float]:
    """Compute (or read back) every stored part for the current data; seconds per part. A part that fails
    is reported as -1 and left to the first page that needs it (which shows its own error)."""
    ws = workspace.Workspace(engine, None, principal=SYSTEM)
    timings: dict[str, float] = {}
    for name, compute in PARTS:
        if only and name not in only:
            continue
        started = time.perf_counter()
        try:
            compute(ws)
        except Exception:  # noqa: BLE001 - one part's failure must not stop the others
            timings[name] = -1.0
            continue
        timings[name] = round(time.perf_counter() - started, 3)
    return timings
