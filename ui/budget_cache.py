"""Cached budget inputs and scenario results for the Budget page (keyed on the data version)."""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from edtech.budget.projection import BudgetInputs
from edtech.services import budget as budget_service
from ui import cache


def _scope_key(scope: frozenset[str] | None) -> tuple[str, ...] | None:
    return None if scope is None else tuple(sorted(scope))


# the ROI scoring behind the inputs is the slow part (seconds); every lever edit reuses it
@st.cache_resource(show_spinner="Scoring tools for the budget…", max_entries=4)
def _inputs(scope_key: tuple[str, ...] | None, version: str) -> BudgetInputs:
    from edtech.services.roi import load_weights

    scope = None if scope_key is None else frozenset(scope_key)
    district = cache.get_district(scope)
    return budget_service.budget_inputs(district, load_weights(cache.get_engine()))


def get_budget_inputs(scope: frozenset[str] | None = None) -> BudgetInputs:
    return _inputs(_scope_key(scope), cache.data_version())


@st.cache_resource(show_spinner=False, max_entries=64)
def _result(scope_key: tuple[str, ...] | None, version: str, spec_json: str) -> budget_service.ScenarioResult:
    inputs = _inputs(scope_key, version)
    return budget_service.run_scenario(inputs, json.loads(spec_json))


def get_scenario_result(scope: frozenset[str] | None, spec: dict[str, Any]) -> budget_service.ScenarioResult:
    """Projection + waterfall + Monte Carlo for one spec (cheap, but shared across reruns)."""
    return _result(_scope_key(scope), cache.data_version(), json.dumps(spec, sort_keys=True))
