"""Which tools to keep, right-size, expand or sunset under a budget cap (methods.md §5).

A 0/1 mixed-integer program solved with `scipy.optimize.milp`: one binary x[t, o] per tool t and
allowed option o, exactly one option per tool, Σ cost·x ≤ cap, must-keep tools cannot be sunset.
Costs and impacts are horizon totals from the same arrays as `project_budget` (license at the
tool's escalator and the enrollment trend, plus the contract's PD and staff time); impact =
effect × students at dosage. The objective is lexicographic (three small MILPs): first the largest
expected impact; then, among plans within a hair of it, the fewest sunsets (a tool without a
measured effect is cut only when the cap needs its money); then the cheapest, so a right-size that
loses no impact is always preferred to paying for idle seats.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp

from edtech.budget.projection import (
    BudgetInputs,
    Expansion,
    Levers,
    Scenario,
    enrollment_factors,
    license_spend,
    tool_arrays,
)

OPTIONS = ("keep", "right_size", "expand", "sunset")
OPTION_LABELS = {"keep": "Keep", "right_size": "Right-size", "expand": "Expand", "sunset": "Sunset"}
_IMPACT_TOLERANCE = 1e-7  # relative slack when fixing the optimal impact in the second stage


@dataclass
class OptionValues:
    """cost[t, o] and impact[t, o] over the horizon, allowed[t, o], plus year-1 seats."""

    tool_ids: list[str]
    names: list[str]
    cost: np.ndarray
    impact: np.ndarray
    allowed: np.ndarray
    seats_year1: np.ndarray


@dataclass
class Plan:
    feasible: bool
    message: str
    cap: float
    table: pd.DataFrame  # one row per tool: option, cost, impact, saving, explanation
    total_cost: float
    total_impact: float
    baseline_cost: float
    baseline_impact: float

    def choices(self) -> dict[str, str]:
        return dict(zip(self.table["tool_id"], self.table["option"], strict=True))

    def to_levers(self, levers: Levers | None = None) -> Levers:
        """The plan as scenario levers (so it can be saved and projected like any scenario)."""
        base = levers or Levers()
        choice = self.choices()
        expansions = [e for e in base.expansions if choice.get(e.tool_id) == "expand"]
        return replace(
            base,
            right_size_all=False,
            right_size_tools=sorted(t for t, o in choice.items() if o == "right_size"),
            sunset_below_roi=None,
            sunset_tools=sorted(t for t, o in choice.items() if o == "sunset"),
            expansions=expansions,
        )


def option_values(inputs: BudgetInputs, scenario: Scenario, *, must_keep: list[str] | None = None,
                  options: tuple[str, ...] = OPTIONS) -> OptionValues:
    """Horizon cost and impact of each option for each tool under the scenario's assumptions.

    Expand is offered only for tools with an expansion in `scenario.levers.expansions`
    (it says where to expand); sunset is not offered for must-keep tools.
    """
    keep = set(must_keep if must_keep is not None else scenario.levers.must_keep)
    n_tools = len(inputs.tools)
    n_years = scenario.horizon_years
    ef = enrollment_factors(scenario.assumptions.enrollment_change, n_years)
    cost = np.zeros((n_tools, len(OPTIONS)))
    impact = np.zeros((n_tools, len(OPTIONS)))
    seats1 = np.zeros((n_tools, len(OPTIONS)))
    for o, option in enumerate(OPTIONS):
        arrays = tool_arrays(inputs, scenario, actions={t.tool_id: option for t in inputs.tools})
        spend = license_spend(arrays, ef) + arrays.fixed_cost
        cost[:, o] = spend.sum(axis=1)
        impact[:, o] = (arrays.effect[:, None] * arrays.dosage * ef[None, :]).sum(axis=1)
        seats1[:, o] = arrays.seats[:, 0]
    expandable = {e.tool_id for e in scenario.levers.expansions}
    allowed = np.ones((n_tools, len(OPTIONS)), dtype=bool)
    for i, tool in enumerate(inputs.tools):
        allowed[i, OPTIONS.index("expand")] = tool.tool_id in expandable and "expand" in options
        allowed[i, OPTIONS.index("sunset")] = tool.tool_id not in keep and "sunset" in options
        allowed[i, OPTIONS.index("right_size")] = "right_size" in options
    return OptionValues(tool_ids=[t.tool_id for t in inputs.tools], names=[t.name for t in inputs.tools],
                        cost=cost, impact=impact, allowed=allowed, seats_year1=seats1)


def _solve(values: OptionValues, cap: float) -> tuple[np.ndarray | None, str]:
    """Lexicographic MILP: max impact, then fewest sunsets, then min cost. Option index per tool."""
    n_tools, n_opts = values.cost.shape
    idx = [(t, o) for t in range(n_tools) for o in range(n_opts) if values.allowed[t, o]]
    if not idx:
        return np.zeros(0, dtype=int), "no tools"
    cost = np.array([values.cost[t, o] for t, o in idx])
    impact = np.array([values.impact[t, o] for t, o in idx])
    is_sunset = np.array([1.0 if OPTIONS[o] == "sunset" else 0.0 for _, o in idx])
    one_per_tool = np.zeros((n_tools, len(idx)))
    for k, (t, _) in enumerate(idx):
        one_per_tool[t, k] = 1.0
    constraints = [LinearConstraint(one_per_tool, 1.0, 1.0), LinearConstraint(cost[None, :], -np.inf, cap)]
    integrality = np.ones(len(idx))
    bounds = Bounds(0, 1)
    exact = {"mip_rel_gap": 0.0}  # HiGHS stops at a 0.01% gap by default; plans must be exact

    def solve(objective: np.ndarray, extra: list[LinearConstraint]) -> np.ndarray | None:
        res = milp(objective, constraints=[*constraints, *extra], integrality=integrality, bounds=bounds,
                   options=exact)
        return None if res.status != 0 or res.x is None else np.round(res.x)

    x = solve(-impact, [])
    if x is None:
        return None, "infeasible"
    # 2) among plans with the best impact, the fewest sunsets: cut only what the cap or the evidence
    #    requires (a tool with no measured effect is unknown, not worthless, until the cap needs it)
    best = float(impact @ x)
    keep_impact = LinearConstraint(impact[None, :], best - _IMPACT_TOLERANCE * max(1.0, abs(best)), np.inf)
    x2 = solve(is_sunset, [keep_impact])
    x = x2 if x2 is not None else x  # numerically stuck: keep the stage-1 plan
    n_sunset = float(is_sunset @ x)
    # 3) then the cheapest such plan: right-size instead of paying for idle seats
    x3 = solve(cost, [keep_impact, LinearConstraint(is_sunset[None, :], -np.inf, n_sunset + 0.5)])
    x = x3 if x3 is not None else x
    choice = np.full(n_tools, -1)
    for k, (t, o) in enumerate(idx):
        if x[k] > 0.5:
            choice[t] = o
    return choice, "optimal"


def _dollars_per_tenth_sd(cost: float, impact: float) -> float:
    """Cost-effectiveness as shown to people: dollars per 0.1 SD per student (methods §3)."""
    return 0.1 * cost / impact if impact > 0 else float("inf")


def _explain(name: str, option: str, seats0: float, seats: float, cost: float, base_cost: float, impact: float,
             base_impact: float) -> str:
    saving = base_cost - cost
    if option == "sunset":
        if base_impact > 0:
            ce = _dollars_per_tenth_sd(base_cost, base_impact)
            return (f"Sunset {name}: frees ${saving:,.0f} over the horizon and gives up {base_impact:,.1f} "
                    f"SD·students of expected impact (${ce:,.0f} per 0.1 SD per student, too costly under the cap).")
        if base_impact < 0:
            return (f"Sunset {name}: frees ${saving:,.0f} over the horizon; its measured effect is negative, so "
                    f"expected impact rises by {-base_impact:,.1f} SD·students.")
        return (f"Sunset {name}: frees ${saving:,.0f} over the horizon to meet the cap; it has no measured "
                f"effect yet, so no measured impact is lost.")
    ce = _dollars_per_tenth_sd(cost, impact)
    ce_text = f"${ce:,.0f} per 0.1 SD per student" if np.isfinite(ce) else "no measured effect yet"
    if option == "right_size":
        return (f"Right-size {name} from {seats0:,.0f} to {seats:,.0f} seats: saves ${saving:,.0f} of idle seats "
                f"with no loss of students at dosage ({ce_text}).")
    if option == "expand":
        return (f"Expand {name} to {seats:,.0f} seats: costs ${-saving:,.0f} more and adds "
                f"{impact - base_impact:,.1f} SD·students ({ce_text}).")
    return f"Keep {name} at {seats:,.0f} seats: ${cost:,.0f} over the horizon for {impact:,.1f} SD·students ({ce_text})."


def optimize_plan(inputs: BudgetInputs, scenario: Scenario, *, cap: float | None = None,
                  cut_share: float | None = None, must_keep: list[str] | None = None,
                  options: tuple[str, ...] = OPTIONS) -> Plan:
    """Best option per tool under a cap on tool spend over the horizon.

    Give `cap` in dollars, or `cut_share` (0.10 = spend 10% less than keeping every tool as is).
    """
    values = option_values(inputs, scenario, must_keep=must_keep, options=options)
    keep_o = OPTIONS.index("keep")
    baseline_cost = float(values.cost[:, keep_o].sum())
    baseline_impact = float(values.impact[:, keep_o].sum())
    if cap is None:
        cap = baseline_cost * (1.0 - (cut_share or 0.0))
    choice, status = _solve(values, cap)
    if choice is None:
        cheapest = float(np.where(values.allowed, values.cost, np.inf).min(axis=1).sum())
        return Plan(feasible=False, cap=cap, table=pd.DataFrame(), total_cost=float("nan"),
                    total_impact=float("nan"), baseline_cost=baseline_cost, baseline_impact=baseline_impact,
                    message=(f"No plan fits a cap of ${cap:,.0f}: the cheapest plan that keeps the must-keep tools "
                             f"costs ${cheapest:,.0f}. Raise the cap or release a must-keep tool."))
    rows = []
    for t, o in enumerate(choice):
        option = OPTIONS[o]
        rows.append({
            "tool_id": values.tool_ids[t], "tool_name": values.names[t], "option": option,
            "seats_year1": float(values.seats_year1[t, o]), "cost": float(values.cost[t, o]),
            "baseline_cost": float(values.cost[t, keep_o]), "saving": float(values.cost[t, keep_o] - values.cost[t, o]),
            "impact": float(values.impact[t, o]), "baseline_impact": float(values.impact[t, keep_o]),
            "dollars_per_01sd": _dollars_per_tenth_sd(values.cost[t, keep_o], values.impact[t, keep_o]),
            "explanation": _explain(values.names[t], option, values.seats_year1[t, keep_o], values.seats_year1[t, o],
                                    values.cost[t, o], values.cost[t, keep_o], values.impact[t, o],
                                    values.impact[t, keep_o]),
        })
    table = pd.DataFrame(rows)
    total_cost = float(table["cost"].sum()) if len(table) else 0.0
    total_impact = float(table["impact"].sum()) if len(table) else 0.0
    return Plan(feasible=True, cap=cap, table=table, total_cost=total_cost, total_impact=total_impact,
                baseline_cost=baseline_cost, baseline_impact=baseline_impact,
                message=(f"Plan costs ${total_cost:,.0f} of a ${cap:,.0f} cap (keeping everything: "
                         f"${baseline_cost:,.0f}) for {total_impact:,.1f} SD·students of expected impact "
                         f"({baseline_impact:,.1f} keeping everything)."))


def brute_force_plan(values: OptionValues, cap: float) -> tuple[float, float, tuple[int, ...]] | None:
    """Enumerate every allowed combination (tests, ≤ 6 tools): max impact, fewest sunsets, min cost."""
    n_tools = values.cost.shape[0]
    sunset = OPTIONS.index("sunset")
    best: tuple[float, int, float, tuple[int, ...]] | None = None
    per_tool = [[o for o in range(len(OPTIONS)) if values.allowed[t, o]] for t in range(n_tools)]
    for combo in product(*per_tool):
        cost = float(sum(values.cost[t, o] for t, o in enumerate(combo)))
        if cost > cap + 1e-9:
            continue
        impact = float(sum(values.impact[t, o] for t, o in enumerate(combo)))
        cuts = sum(1 for o in combo if o == sunset)
        if best is None:
            best = (impact, cuts, cost, combo)
            continue
        tol = 1e-7 * max(1.0, abs(best[0]))
        better = (impact > best[0] + tol
                  or (abs(impact - best[0]) <= tol and (cuts < best[1] or (cuts == best[1] and cost < best[2] - 1e-9))))
        if better:
            best = (impact, cuts, cost, combo)
    return None if best is None else (best[0], best[2], best[3])


__all__ = ["OPTIONS", "Expansion", "OptionValues", "Plan", "brute_force_plan", "option_values", "optimize_plan"]
