"""Cached roadmap use cases for the Roadmap page (issue 17), keyed like every use case in `ui.cache`: role,
allowed scope and the versions of the parts the roadmap reads (every table, the outcome choice, the snapshot
token; an edit resets that token, so the next rerun reads the edited roadmap).
Edits run as the signed-in principal: the service refuses anyone but a director (Action.EDIT_ROADMAP).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from edtech.core.access import AccessDenied
from edtech.core.scope import Scope
from edtech.roadmap.catalogue import format_change, format_value  # noqa: F401 - re-exported for the page
from edtech.roadmap.status import STATUS_ICONS, STATUS_LABELS, STATUS_RULE  # noqa: F401 - re-exported
from edtech.roadmap.viz import INITIATIVE_STATUS_LABELS, sparkline_figure, timeline_figure  # noqa: F401
from edtech.services import roadmap as roadmap_service
from ui import cache, state

RoadmapError = roadmap_service.RoadmapError
INITIATIVE_STATUSES = roadmap_service.INITIATIVE_STATUSES
DISTRICT = roadmap_service.DISTRICT


def roadmap(scope: Scope) -> roadmap_service.Roadmap:
    """Initiatives and the KPIs the signed-in principal may read, with status and monthly series."""
    return cache.use_case(roadmap_service.roadmap, roadmap_service.READS, scope)


def options() -> dict[str, Any]:
    """The catalogue's metrics and the tool and school pickers."""
    return cache.use_case(roadmap_service.metric_options, roadmap_service.OPTION_READS, None)


def _edit(run, *args: Any, **kw: Any) -> tuple[Any, str | None]:
    """(result, None) or (None, the refusal to show as is)."""
    try:
        return run(cache.get_engine(), *args, principal=state.current_principal(), **kw), None
    except (RoadmapError, AccessDenied) as exc:
        return None, str(exc)


def save_initiative(values: dict[str, Any], initiative_id: str | None = None) -> tuple[str | None, str | None]:
    return _edit(roadmap_service.save_initiative, values, initiative_id=initiative_id)


def delete_initiative(initiative_id: str) -> str | None:
    return _edit(roadmap_service.delete_initiative, initiative_id)[1]


def save_kpi(initiative_id: str, values: dict[str, Any], kpi_id: str | None = None) -> tuple[str | None, str | None]:
    """Create or edit a KPI; without a baseline, the metric's value now (from the app's cached analyses)."""
    return _edit(roadmap_service.save_kpi, initiative_id, values, kpi_id=kpi_id, provider=cache.workspace(None).provider)


def delete_kpi(initiative_id: str, kpi_id: str) -> str | None:
    return _edit(roadmap_service.delete_kpi, initiative_id, kpi_id)[1]


def import_csv(kind: str, name: str, content: bytes):
    """(import report, None) or (None, refusal)."""
    return _edit(roadmap_service.import_csv, kind, name, content)


def export_csv_later(kind: str) -> Callable[[], bytes]:
    """The initiatives or kpis CSV built only when the download is clicked (st.download_button runs it then),
    for the principal signed in now; a rerun pays nothing for it."""
    engine, principal = cache.get_engine(), state.current_principal()
    return lambda: roadmap_service.export_csv(engine, kind, principal=principal)


def status_csv(view: roadmap_service.Roadmap) -> bytes:
    return roadmap_service.status_csv(view, principal=state.current_principal())
