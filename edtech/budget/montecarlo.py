"""Uncertainty of a budget scenario: Monte Carlo over escalators, enrollment and effect CIs.

Vectorized numpy (draws × tools × years, no Python loop over draws). What varies per draw:
- each tool's escalator ~ Normal(its escalator, assumptions.escalator_sd), floored at 0;
- the yearly enrollment change ~ Normal(assumption, assumptions.enrollment_sd), one per draw,
  compounded over the horizon;
- each tool's effect ~ Normal(effect, SE from its 95% CI) (tools without an estimate count 0).
Devices, PD, staff time and one-off purchases are fixed. With every spread at 0 the bands
collapse onto the deterministic projection (tested).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from edtech.budget.projection import (
    BudgetInputs,
    Projection,
    Scenario,
    enrollment_factors,
    license_spend,
    project_budget,
    tool_arrays,
)

DEFAULT_DRAWS = 2000
PERCENTILES = (10, 50, 90)


@dataclass
class MonteCarloResult:
    bands: pd.DataFrame  # fiscal_year, metric (spend | impact | gap), p10, p50, p90, deterministic
    draws: int
    seed: int


def simulate_budget(inputs: BudgetInputs, scenario: Scenario, *, draws: int = DEFAULT_DRAWS, seed: int = 2025,
                    projection: Projection | None = None) -> MonteCarloResult:
    """P10/P50/P90 per fiscal year of total spend, expected impact and gap."""
    projection = projection or project_budget(inputs, scenario)
    by_year = projection.by_year
    years = list(by_year["fiscal_year"])
    n_years = len(years)
    rng = np.random.default_rng(seed)
    arrays = tool_arrays(inputs, scenario)
    assume = scenario.assumptions
    n_tools = len(arrays.tool_ids)

    growth = assume.enrollment_change + assume.enrollment_sd * rng.standard_normal(draws)
    ef = enrollment_factors(growth, n_years)  # D × Y
    esc = np.maximum(0.0, arrays.escalator[None, :] + assume.escalator_sd * rng.standard_normal((draws, n_tools)))
    effect = arrays.effect[None, :] + arrays.effect_se[None, :] * rng.standard_normal((draws, n_tools))

    licenses = license_spend(arrays, ef, esc).sum(axis=1) if n_tools else np.zeros((draws, n_years))  # D × Y
    fixed = (by_year["total_spend"] - by_year["licenses"]).to_numpy(dtype=float)  # devices, PD, other, one-offs
    spend = licenses + fixed[None, :]
    impact = np.einsum("dt,ty,dy->dy", effect, arrays.dosage, ef) if n_tools else np.zeros((draws, n_years))
    gap = spend - by_year["available_funding"].to_numpy(dtype=float)[None, :]

    rows = []
    for metric, values, point in (("spend", spend, by_year["total_spend"]),
                                  ("impact", impact, by_year["expected_impact"]),
                                  ("gap", gap, by_year["gap"])):
        pct = np.percentile(values, PERCENTILES, axis=0)  # 3 × Y
        for j, y in enumerate(years):
            rows.append({"fiscal_year": y, "metric": metric, "p10": pct[0, j], "p50": pct[1, j], "p90": pct[2, j],
                         "deterministic": float(point.iloc[j])})
    return MonteCarloResult(bands=pd.DataFrame(rows), draws=draws, seed=seed)
