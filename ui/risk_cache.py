"""Cached at-risk training and scoring.

A trained model is keyed on (scope, the versions of the tables training reads, target, validation
design, extra audit-only columns). The versions come from `ui.cache.versions_key(risk_service.READS)`,
so only an import that stores students, indicators, schools, usage or assessments makes a model
stale; saving ROI weights, a scenario, a dry-run import or a model version never retrains.

Trained models are shared read-only between sessions; training runs only when the user presses
the button (the page checks `is_trained` before calling `get_training`). Scores use cache_resource.

The worklist (`worklist`) is the published version's scoring of the whole district, computed once per
(the tables it reads, the `models` token), stored in the database (a new server process reads it back)
and cut to the scope: it never trains. Whether there are indicators, the outcome picker's options and
the district table's columns come from a small stored part too (`risk_service.risk_facts`), so the
page's first open reads no student table and never the weekly usage rows.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import pandas as pd
import streamlit as st

from edtech.core.access import Action, scope_for
from edtech.core.privacy import neutralize_frame  # noqa: F401 - re-exported for the page
from edtech.risk import model as risk
from edtech.risk import viz as charts  # noqa: F401 - re-exported for the page
from edtech.risk import worklist as worklists  # noqa: F401 - re-exported for the page (bands, reasons)
from edtech.services import risk as risk_service
from ui import cache, state

DEFAULT_TARGET = risk_service.DEFAULT_DISTRICT_TARGET
ModelArtifactRefused = risk_service.ModelArtifactRefused
Worklist = risk_service.Worklist

ScopeKey = tuple[str, ...] | None
TrainingKey = tuple[ScopeKey, cache.VersionKey, str, str, tuple[str, ...]]
MAX_MODELS = 6
# Trained models per TrainingKey. A plain process-wide dict rather than st.cache_resource: training
# reports progress into page elements, which Streamlit's cache would try to replay on every hit.
_TRAINED: OrderedDict[TrainingKey, risk_service.TrainedRisk] = OrderedDict()
_LOCK = threading.Lock()


def training_key(scope: frozenset[str] | None, target: str, validation: str,
                 audit: Sequence[str] = ()) -> TrainingKey:
    """What a trained model depends on: nothing else (weights, scenarios, model versions) is in it."""
    return (cache.scope_key(scope), cache.versions_key(risk_service.READS), target, validation,
            tuple(sorted(audit)))


def _training(key: TrainingKey, progress: Callable[[float, str], None] | None = None) -> risk_service.TrainedRisk:
    with _LOCK:
        if key in _TRAINED:
            _TRAINED.move_to_end(key)
            return _TRAINED[key]
    scope_key, _, target, validation, audit = key
    # the scope's student table from the stored usage totals: the weekly usage rows are not read
    trained = risk_service.train_workspace(cache.workspace(cache.from_key(scope_key)), target,
                                           validation=validation, audit=list(audit), progress=progress)
    with _LOCK:
        _TRAINED[key] = trained
        while len(_TRAINED) > MAX_MODELS:
            _TRAINED.popitem(last=False)
    return trained


def is_trained(scope: frozenset[str] | None, target: str, validation: str, audit: Sequence[str] = ()) -> bool:
    return training_key(scope, target, validation, audit) in _TRAINED


def _allowed(scope: frozenset[str] | None) -> frozenset[str] | None:
    """The signed-in principal may train and see student rows, on (at most) their own schools."""
    principal = state.current_principal()
    principal.require(Action.TRAIN_MODEL)
    principal.require(Action.VIEW_STUDENTS)
    return scope_for(principal, scope)


def get_training(scope: frozenset[str] | None, target: str, validation: str, audit: Sequence[str] = (),
                 progress: Callable[[float, str], None] | None = None) -> risk_service.TrainedRisk:
    return _training(training_key(_allowed(scope), target, validation, audit), progress=progress)


def save_version(trained: risk_service.TrainedRisk) -> int:
    """Store a district-wide model as a signed version (metrics, data fingerprint, card, fitted model), as
    the signed-in principal (a director; anyone else gets AccessDenied) and audited."""
    return risk_service.save_version(cache.get_engine(), trained, principal=state.current_principal())


def publish_version(version: int) -> dict:
    """Make a stored version the one the board report uses (director only, audited; checked in services)."""
    return risk_service.publish_version(cache.get_engine(), version, principal=state.current_principal())


def published_version() -> dict | None:
    return risk_service.published_version(cache.get_engine())


@st.cache_resource(show_spinner="Scoring students…", max_entries=6)
def _scores(key: TrainingKey) -> pd.DataFrame:
    trained = _training(key)
    bundle = risk_service.model_bundle(trained.result)
    return risk_service.score_table(bundle, trained.table, k=risk.DEFAULT_K)


def get_scores(scope: frozenset[str] | None, target: str, validation: str, audit: Sequence[str] = ()) -> pd.DataFrame:
    """Latest-cohort students with risk and three reasons (computed once, then shared)."""
    return _scores(training_key(_allowed(scope), target, validation, audit))


def table_columns(scope: frozenset[str] | None) -> list[str]:
    """Columns of the student table the model is trained on (for the audit-column picker)."""
    return cache.use_case(risk_service.table_columns, risk_service.READS, scope)


def has_indicators(scope: frozenset[str] | None) -> bool:
    """Whether the scope holds early-warning indicators (the page's empty state), from the stored facts."""
    return cache.use_case(risk_service.has_indicators, risk_service.READS, scope)


# ---------------------------------------------------------------- the published version's worklist

def worklist(scope: frozenset[str] | None) -> risk_service.Worklist | None:
    """The scope's students to support, scored by the published version (None when none is published);
    cached on the tables scoring reads and the `models` token, per role and allowed scope."""
    return cache.use_case(risk_service.worklist, risk_service.WORKLIST_READS, scope)


def known_outcomes() -> list[str]:
    """The district's 0/1 outcome columns (default first): the outcome picker's options (stored facts)."""
    return list(cache.use_case(risk_service.risk_facts, risk_service.READS, None).outcomes)


def train_and_publish(progress: Callable[[float, str], None] | None = None) -> dict:
    """Train on the whole district's default outcome, store and publish the version, as the signed-in
    principal (a director; anyone else gets AccessDenied before training starts); audited."""
    return risk_service.train_and_publish(cache.get_engine(), cache.get_whole(), principal=state.current_principal(),
                                          progress=progress)
