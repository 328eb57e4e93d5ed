"""Uncertainty of a budget scenario: Monte Carlo over escalators, enrollment and effect CIs.

Vectorized numpy (draws × tools × years, no Python loop over draws). What varies per draw:
- each tool's escalators move together by Normal(0, assumptions.escalator_sd) (never below 0 unless a
  contract's own escalator is negative), compounding from each contract's own renewal dates;
- the yearly enrollment change ~ Normal(assumption, assumptions.enrollment_sd), one per draw,
  compounded over the years since the data's school year;
- each tool's effect ~ Normal(effect, SE from its 95% CI) (tools without an estimate count 0).
Devices, PD, staff time and one-off purchases are fixed. With every spread at 0 the bands
collapse onto the deterministic projection (tested).

Bands per fiscal year are percentiles of that year's draws. **(v2)** The band of a multi-year total is
the percentile of the simulated totals (each draw summed over the horizon), never a sum of yearly
percentiles: the P10 of a sum is not the sum of P10s.
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
METRICS = ("spend", "impact", "gap")


@dataclass
class MonteCarloResult:
    bands: pd.DataFrame  # per year: fiscal_year, metric (spend | impact | gap), p10, p50, p90, deterministic
    totals: pd.DataFrame  # over the horizon: metric (spend | impact | gap), p10, p50, p90, deterministic
    draws: int
    seed: int

    def horizon_band(self, metric: str = "spend") -> dict[str, float]:
        """P10 / P50 / P90 of the horizon total of `metric` (percentiles of simulated totals)."""
        row = self.totals.set_index("metric").loc[metric]
        return {k: float(row[k]) for k in ("p10", "p50", "p90", "deterministic")}


def simulate_budget(inputs: BudgetInputs, scenario: Scenario, *, draws: int = DEFAULT_DRAWS, seed: int = 2025,
                    projection: Projection | None = None) -> MonteCarloResult:
    """P10/P50/P90 per fiscal year and over the horizon of total spend, expected impact and gap."""
    projection = projection or project_budget(inputs, scenario)
    by_year = projection.by_year
    years = list(by_year["fiscal_year"])
    n_years = len(years)
    rng = np.random.default_rng(seed)
    arrays = tool_arrays(inputs, scenario)
    assume = scenario.assumptions
    n_tools = len(arrays.tool_ids)

    growth = assume.enrollment_change + assume.enrollment_sd * rng.standard_normal(draws)
    ef = enrollment_factors(growth, arrays.enrollment_years)  # D × Y
    shift = assume.escalator_sd * rng.standard_normal((draws, n_tools))
    effect = arrays.effect[None, :] + arrays.effect_se[None, :] * rng.standard_normal((draws, n_tools))

    if n_tools:
        licenses = license_spend(arrays, ef, arrays.price_factor(shift)).sum(axis=1)  # D × Y
        impact = np.einsum("dt,ty,dy->dy", effect, arrays.dosage, ef)
    else:
        licenses = impact = np.zeros((draws, n_years))
    fixed = (by_year["total_spend"] - by_year["licenses"]).to_numpy(dtype=float)  # devices, PD, other, one-offs
    spend = licenses + fixed[None, :]
    gap = spend - by_year["available_funding"].to_numpy(dtype=float)[None, :]

    summary = projection.summary
    simulated = {"spend": (spend, by_year["total_spend"], spend.sum(axis=1), summary["total_spend"]),
                 "impact": (impact, by_year["expected_impact"], impact.sum(axis=1), summary["expected_impact"]),
                 # the horizon gap is the shortfall summed over years (surplus years do not offset it)
                 "gap": (gap, by_year["gap"], np.clip(gap, 0.0, None).sum(axis=1), summary["total_gap"])}
    rows, totals = [], []
    for metric, (values, point, total, total_point) in simulated.items():
        pct = np.percentile(values, PERCENTILES, axis=0)  # 3 × Y
        for j, y in enumerate(years):
            rows.append({"fiscal_year": y, "metric": metric, "p10": pct[0, j], "p50": pct[1, j], "p90": pct[2, j],
                         "deterministic": float(point.iloc[j])})
        tp = np.percentile(total, PERCENTILES)
        totals.append({"metric": metric, "p10": tp[0], "p50": tp[1], "p90": tp[2], "deterministic": float(total_point)})
    return MonteCarloResult(bands=pd.DataFrame(rows), totals=pd.DataFrame(totals), draws=draws, seed=seed)
