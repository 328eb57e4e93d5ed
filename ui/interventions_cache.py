"""Cached interventions use cases for the pages (at-risk worklist with supports, the assign form, the
Interventions page), keyed like every use case in `ui.cache`: role, allowed scope and the versions of the
data parts each reads. An assignment is an import of one `interventions` row, so the caches that read
that table refresh on the next rerun by themselves.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from edtech.core.access import AccessDenied
from edtech.core.scope import Scope
from edtech.interventions import present, viz  # noqa: F401 - present re-exported for the pages (texts and tables)
from edtech.interventions.rdd import CAVEAT as RDD_CAVEAT  # noqa: F401 - re-exported for the page
from edtech.risk import worklist as worklists  # noqa: F401 - re-exported for the pages (NO_INTERVENTION)
from edtech.services import intervention_assign as assign_service
from edtech.services import intervention_progress as progress_service
from edtech.services import interventions as interventions_service
from ui import cache, state

TIERS = assign_service.TIERS
MAX_NAME = assign_service.MAX_NAME
MAX_GOAL = assign_service.MAX_GOAL


def worklist(scope: Scope):
    """The published version's worklist of the scope with each student's current support and who is
    flagged but not served (None when no version is published)."""
    return cache.use_case(assign_service.worklist_with_interventions, assign_service.READS, scope)


def intervention_names() -> list[str]:
    """Names of the interventions in use, most used first (the form's suggestions)."""
    return cache.use_case(assign_service.suggestions, assign_service.NAMES_READS, None)


def assign(student_id: str, intervention: str, tier: int | None, start_date: dt.date, minutes_per_week: float | None,
           staff_id: str | None, goal: str | None) -> tuple[dict[str, Any] | None, str | None]:
    """Assign as the signed-in principal (the service checks the permission and the student's school,
    validates and audits): (the stored row, None) or (None, the reason it was refused, to show as is)."""
    try:
        stored = assign_service.assign_intervention(
            cache.get_engine(), state.current_principal(), student_id, intervention, tier, start_date,
            minutes_per_week, staff_id, goal)
    except (assign_service.AssignmentError, AccessDenied) as exc:
        return None, str(exc)
    return stored, None


# ---------------------------------------------------------------- the Interventions page

def evaluation(scope: Scope, outcome: str | None = None):
    """Coverage, funnel, efficacy, progress summary, RDD and targeting baseline for the signed-in principal and
    scope: the same `evaluate_interventions` the board report and `interventions evaluate` use."""
    return cache.use_case(interventions_service.evaluate_interventions, interventions_service.READS, scope, outcome)


def funnel_figure(counts: dict[str, int | str]):
    """The funnel chart for these stage counts, kept between reruns (a rerun redraws it instead of rebuilding)."""
    return cache.figure(viz.funnel_figure, counts)


def outcome_choices() -> list[str]:
    """Assessments an intervention's effect can be measured on (the outcome picker): the district's names, kept
    in the stored evaluation part (a cold page does not read every score for them)."""
    return cache.use_case(interventions_service.outcome_choices, interventions_service.READS, None)


def monitored_supports(scope: Scope):
    """The scope's supports with progress probes (student level: roles that see students)."""
    return cache.use_case(progress_service.monitored_supports, progress_service.READS, scope)


def progress_chart(scope: Scope, student_id: str, intervention: str, start_date: str):
    return cache.use_case(progress_service.progress_chart, progress_service.READS, scope, str(student_id),
                          str(intervention), str(start_date))
