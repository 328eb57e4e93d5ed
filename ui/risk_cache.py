"""Cached at-risk training and scoring: trained once per data version, scope, target and design.

Trained models are shared read-only between sessions; training runs only when the user presses
the button (the page checks `is_trained` before calling `get_training`). Scores use cache_resource.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import pandas as pd
import streamlit as st

from edtech.risk import model as risk
from edtech.services import risk as risk_service
from ui import cache

ScopeKey = tuple[str, ...] | None
MAX_MODELS = 6
# Trained models per (scope, data version, target, validation). A plain process-wide dict rather
# than st.cache_resource: training reports progress into page elements, which Streamlit's cache
# would try to replay on every hit. Keys carry the data version, so stale entries are never read.
_TRAINED: OrderedDict[tuple, risk_service.TrainedRisk] = OrderedDict()
_LOCK = threading.Lock()


def _key(scope: frozenset[str] | None) -> ScopeKey:
    return None if scope is None else tuple(sorted(scope))


def _version() -> str:
    """The data version without the model-version part: storing the model just trained must not
    make it look stale."""
    return cache.data_version().rsplit("|m", 1)[0]


def _training(scope_key: ScopeKey, version: str, target: str, validation: str,
              progress: Callable[[float, str], None] | None = None) -> risk_service.TrainedRisk:
    key = (scope_key, version, target, validation)
    with _LOCK:
        if key in _TRAINED:
            _TRAINED.move_to_end(key)
            return _TRAINED[key]
    scope = None if scope_key is None else frozenset(scope_key)
    trained = risk_service.train_district(cache.get_district(scope), target, validation=validation,
                                          progress=progress)
    with _LOCK:
        _TRAINED[key] = trained
        while len(_TRAINED) > MAX_MODELS:
            _TRAINED.popitem(last=False)
    return trained


def is_trained(scope: frozenset[str] | None, target: str, validation: str) -> bool:
    return (_key(scope), _version(), target, validation) in _TRAINED


def get_training(scope: frozenset[str] | None, target: str, validation: str,
                 progress: Callable[[float, str], None] | None = None) -> risk_service.TrainedRisk:
    return _training(_key(scope), _version(), target, validation, progress=progress)


@st.cache_resource(show_spinner="Scoring students…", max_entries=6)
def _scores(scope_key: ScopeKey, version: str, target: str, validation: str) -> pd.DataFrame:
    trained = _training(scope_key, version, target, validation)
    bundle = risk_service.model_bundle(trained.result)
    return risk_service.score_table(bundle, trained.table, k=risk.DEFAULT_K)


def get_scores(scope: frozenset[str] | None, target: str, validation: str) -> pd.DataFrame:
    """Latest-cohort students with risk and three reasons (computed once, then shared)."""
    return _scores(_key(scope), _version(), target, validation)


@st.cache_data(show_spinner=False, max_entries=4)
def district_table_columns(scope_key: ScopeKey, version: str) -> list[str]:
    scope = None if scope_key is None else frozenset(scope_key)
    return list(risk_service.district_table(cache.get_district(scope)).columns)
