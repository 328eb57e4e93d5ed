"""Cached budget inputs, scenario results and optimizer plans for the Budget page.

Keyed on (scope, the versions of the parts the budget reads: `edtech.services.budget.READS`), so an
import of an unrelated table, saving a scenario or a dry run keeps them; the scoreboard comes from the
shared Workspace (`ui.cache.workspace(scope).board`), the one every page shows. Also re-exports the
budget model and charts the page renders, so the page imports only `ui`.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from edtech.budget import optimize as optimizer  # noqa: F401 - re-exported for the page (its method text)
from edtech.budget import projection as model  # noqa: F401 - re-exported for the page
from edtech.budget import viz as charts  # noqa: F401 - re-exported for the page
from edtech.budget.optimize import DECISION_THRESHOLD, HARM_PROBABILITY, OPTION_LABELS, Plan  # noqa: F401
from edtech.core.scope import Scope, from_key, scope_key
from edtech.services import budget as service
from ui import cache

ScopeKey = tuple[str, ...] | None


# building the inputs reads the scoreboard (the slow part, shared with the ROI page); lever edits reuse it
@st.cache_resource(show_spinner="Preparing the budget…", max_entries=4)
def _inputs(scope: ScopeKey, key: cache.VersionKey) -> model.BudgetInputs:
    return service.inputs_for(cache.workspace(from_key(scope)))


def data_key() -> cache.VersionKey:
    """The versions of what the budget reads (one small query): a page computes it once per rerun and passes it
    to the calls below, instead of one query per chart and result."""
    return cache.versions_key(service.READS)


def get_budget_inputs(scope: Scope = None, key: cache.VersionKey | None = None) -> model.BudgetInputs:
    return _inputs(scope_key(scope), key or data_key())


@st.cache_resource(show_spinner=False, max_entries=64)
def _result(scope: ScopeKey, key: cache.VersionKey, spec_json: str) -> service.ScenarioResult:
    return service.run_scenario(_inputs(scope, key), json.loads(spec_json))


def get_scenario_result(scope: Scope, spec: dict[str, Any], key: cache.VersionKey | None = None
                        ) -> service.ScenarioResult:
    """Projection + waterfall + Monte Carlo for one spec (cheap, but shared across reruns)."""
    return _result(scope_key(scope), key or data_key(), _spec_key(spec))


@st.cache_resource(show_spinner="Optimizing…", max_entries=16)
def _plan(scope: ScopeKey, key: cache.VersionKey, spec_json: str, cut_share: float) -> Plan:
    return service.plan_for(_inputs(scope, key), json.loads(spec_json), cut_share)


def get_plan(scope: Scope, spec: dict[str, Any], cut_share: float) -> Plan:
    """The optimizer's plan under a yearly cut of `cut_share` for the scenario's assumptions."""
    return _plan(scope_key(scope), cache.versions_key(service.READS), json.dumps(spec, sort_keys=True),
                 float(cut_share))


def _spec_key(spec: dict[str, Any]) -> str:
    return json.dumps(spec, sort_keys=True)


# the page's charts, per kind: what each draws from the results of its specs (the first one's, or all of them)
FIGURES = {
    "comparison": lambda results, option: charts.scenario_comparison_figure([r.projection for r in results]),
    "spend": lambda results, option: charts.spend_by_category_figure(results[0].projection),
    "waterfall": lambda results, option: charts.savings_waterfall_figure(results[0].savings),
    "fan": lambda results, option: charts.fan_chart_figure(results[0].bands.bands, option),
    "funding": lambda results, option: charts.funding_by_source_figure(results[0].projection),
}


@st.cache_resource(show_spinner=False, max_entries=96)
def _figure(kind: str, scope: ScopeKey, key: cache.VersionKey, specs: tuple[str, ...], option: str) -> Any:
    return FIGURES[kind]([_result(scope, key, spec) for spec in specs], option)


def get_figure(kind: str, scope: Scope, specs: list[dict[str, Any]], option: str = "",
               key: cache.VersionKey | None = None) -> Any:
    """One of the page's charts (`FIGURES`) for the results of `specs`, built once per data version and specs:
    a lever edit or a tab switch redraws it instead of rebuilding it through plotly's object API (issue 15).
    The figure is shared (not yet escaped: `components.chart` escapes it); never change it."""
    return _figure(kind, scope_key(scope), key or data_key(), tuple(_spec_key(s) for s in specs), option)


def table(frame, *, key: str, where: Any = None) -> None:
    """A budget table as people read it: codes as words, human headers, dollars without cents, counts with
    thousands separators, an em dash where a value is missing (a numeric column with gaps becomes text)."""
    import pandas as pd

    from ui import components

    shown = service.readable(frame)
    config: dict[str, Any] = {}
    for col in shown.columns:
        label = service.COLUMN_LABELS.get(col, str(col).replace("_", " ").capitalize())
        values = shown[col]
        numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
        if numeric and values.isna().any():  # "—" instead of an empty or "None" cell
            fmt = components.money if col in service.MONEY_COLUMNS else (
                components.count if col in service.COUNT_COLUMNS else lambda v: components.EM_DASH
                if pd.isna(v) else f"{v:,.1f}")
            shown[col] = values.map(fmt)
            config[col] = st.column_config.TextColumn(label)
        elif numeric and col in service.MONEY_COLUMNS:
            shown[col] = values.round(0)
            config[col] = st.column_config.NumberColumn(label, format="$%,.0f")
        elif numeric and col in service.COUNT_COLUMNS:
            config[col] = st.column_config.NumberColumn(label, format="%,d")
        elif numeric:
            config[col] = st.column_config.NumberColumn(label, format="%,.1f")
        else:
            shown[col] = values.map(lambda v: components.EM_DASH if v is None or (not isinstance(v, str) and pd.isna(v))
                                    else v)
            config[col] = st.column_config.TextColumn(label)
    components.table(shown, hide_index=True, key=key, column_config=config, where=where)
