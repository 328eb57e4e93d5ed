"""Which tools to keep, right-size, expand or sunset under a budget cap (methods.md section 5, v2).

A 0/1 mixed-integer program solved with `scipy.optimize.milp`: one binary x[t, o] per tool t and
allowed option o, exactly one option per tool, must-keep tools cannot be sunset, and **the cap is a
cap in every year**: "cut 10%" = each fiscal year's cost of the tool lines (license at each contract's
escalator and the enrollment trend, plus the contract's PD and staff time) at most 90% of the
baseline's cost for the same lines in the same year. Costs come from the same arrays as `project_budget`.

The objective is lexicographic (three small MILPs): first the largest decision impact; then, among
plans within a hair of it, the fewest sunsets (a tool is cut only when the cap needs its money or it
is likely harmful); then the cheapest, so a right-size that loses no students at dosage is preferred to
paying for idle seats. The plan states how far under the cap it lands and why.

**Decision impact (v2)** = effect × students at dosage, where a negative estimate counts only when the
tool is likely harmful: P(effect < −t) ≥ `harm_probability` (default 80%) at the decision threshold t
(default 0.05 SD). A negative estimate whose CI includes 0 counts as 0 (unknown, not harmful), so no
tool is "sunset because its effect is negative" on noise. The probabilities are the scoreboard's
(`p_below`, `p_above`: scaled t on the CI's degrees of freedom) when it has them; otherwise a normal
approximation with SE = (CI high − CI low) / (2 × 1.96). Expected impact shown beside it uses the
point estimates, as the projection does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import product

import numpy as np
import pandas as pd
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.stats import norm

from edtech.budget.projection import (
    BudgetInputs,
    Expansion,
    Levers,
    Scenario,
    ToolLine,
    effect_se,
    enrollment_factors,
    license_spend,
    tool_arrays,
)
from edtech.core.format import money, pct

OPTIONS = ("keep", "right_size", "expand", "sunset")
OPTION_LABELS = {"keep": "Keep", "right_size": "Right-size", "expand": "Expand", "sunset": "Sunset"}
DECISION_THRESHOLD = 0.05  # t, SD units: the director's "moved the needle" threshold (methods.md section 2)
HARM_PROBABILITY = 0.80  # P(effect < −t) at or above which a tool counts as likely harmful
_IMPACT_TOLERANCE = 1e-7  # relative slack when fixing the optimal objective in later stages


def decision_probabilities(tool: ToolLine, threshold: float = DECISION_THRESHOLD) -> tuple[float, float, float]:
    """(P(effect > t), P(|effect| ≤ t), P(effect < −t)); NaN without an estimate. The scoreboard's exact
    values when given, else a normal approximation with the SE implied by the 95% CI."""
    if tool.p_above is not None and tool.p_below is not None and not (pd.isna(tool.p_above) or pd.isna(tool.p_below)):
        above, below = float(tool.p_above), float(tool.p_below)
        return above, max(0.0, 1.0 - above - below), below
    if tool.effect is None or pd.isna(tool.effect):
        return math.nan, math.nan, math.nan
    se = effect_se(tool)
    if se <= 0:
        above, below = float(tool.effect > threshold), float(tool.effect < -threshold)
    else:
        above = float(norm.sf((threshold - tool.effect) / se))
        below = float(norm.cdf((-threshold - tool.effect) / se))
    return above, max(0.0, 1.0 - above - below), below


def decision_effect(tool: ToolLine, threshold: float = DECISION_THRESHOLD,
                    harm_probability: float = HARM_PROBABILITY) -> float:
    """The effect the optimizer weighs: the estimate, except that a negative one counts only when likely
    harmful (a negative estimate whose interval includes 0 is unknown, so 0)."""
    if tool.effect is None or pd.isna(tool.effect):
        return 0.0
    if tool.effect >= 0:
        return float(tool.effect)
    return float(tool.effect) if decision_probabilities(tool, threshold)[2] >= harm_probability else 0.0


@dataclass
class OptionValues:
    """cost[t, o] (horizon) and cost_by_year[t, o, y], expected and decision impact, allowed options."""

    tool_ids: list[str]
    names: list[str]
    years: list[int]
    cost: np.ndarray
    cost_by_year: np.ndarray
    impact: np.ndarray  # expected impact with the point estimates (as the projection)
    objective: np.ndarray  # decision impact (what the optimizer maximizes)
    allowed: np.ndarray
    seats_year1: np.ndarray
    p_below: np.ndarray  # P(effect < −t) per tool (NaN without an estimate)
    likely_harm: np.ndarray  # per tool


@dataclass
class Plan:
    feasible: bool
    message: str
    why: str  # how far under the cap the plan lands and why
    years: list[int]
    caps: np.ndarray  # per fiscal year
    by_year: pd.DataFrame  # fiscal_year, baseline, cap, plan, under_cap
    table: pd.DataFrame  # one row per tool: option, cost, impact, saving, explanation
    total_cost: float
    total_impact: float
    total_objective: float
    baseline_cost: float
    baseline_impact: float

    @property
    def cap(self) -> float:
        """The cap over the horizon (the sum of the yearly caps)."""
        return float(np.sum(self.caps))

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
                  options: tuple[str, ...] = OPTIONS, threshold: float = DECISION_THRESHOLD,
                  harm_probability: float = HARM_PROBABILITY) -> OptionValues:
    """Cost per year and impact of each option for each tool under the scenario's assumptions.

    Expand is offered only for tools with an expansion in `scenario.levers.expansions`
    (it says where to expand); sunset is not offered for must-keep tools.
    """
    keep = set(must_keep if must_keep is not None else scenario.levers.must_keep)
    n_tools = len(inputs.tools)
    decision = np.array([decision_effect(t, threshold, harm_probability) for t in inputs.tools])
    p_below = np.array([decision_probabilities(t, threshold)[2] for t in inputs.tools])
    cost_by_year = np.zeros((n_tools, len(OPTIONS), scenario.horizon_years))
    impact = np.zeros((n_tools, len(OPTIONS)))
    objective = np.zeros((n_tools, len(OPTIONS)))
    seats1 = np.zeros((n_tools, len(OPTIONS)))
    years: list[int] = []
    for o, option in enumerate(OPTIONS):
        arrays = tool_arrays(inputs, scenario, actions={t.tool_id: option for t in inputs.tools})
        years = arrays.years
        ef = enrollment_factors(scenario.assumptions.enrollment_change, arrays.enrollment_years)
        cost_by_year[:, o, :] = license_spend(arrays, ef) + arrays.fixed_cost
        served = (arrays.dosage * ef[None, :]).sum(axis=1)
        impact[:, o] = arrays.effect * served
        objective[:, o] = decision * served
        seats1[:, o] = arrays.seats[:, 0]
    expandable = {e.tool_id for e in scenario.levers.expansions}
    allowed = np.ones((n_tools, len(OPTIONS)), dtype=bool)
    for i, tool in enumerate(inputs.tools):
        allowed[i, OPTIONS.index("expand")] = tool.tool_id in expandable and "expand" in options
        allowed[i, OPTIONS.index("sunset")] = tool.tool_id not in keep and "sunset" in options
        allowed[i, OPTIONS.index("right_size")] = "right_size" in options
    harm = np.array([t.effect is not None and not pd.isna(t.effect) and t.effect < 0 and d < 0
                     for t, d in zip(inputs.tools, decision, strict=True)], dtype=bool)
    return OptionValues(tool_ids=[t.tool_id for t in inputs.tools], names=[t.name for t in inputs.tools],
                        years=years, cost=cost_by_year.sum(axis=2), cost_by_year=cost_by_year, impact=impact,
                        objective=objective, allowed=allowed, seats_year1=seats1, p_below=p_below,
                        likely_harm=harm)


def _solve(values: OptionValues, caps: np.ndarray) -> np.ndarray | None:
    """Lexicographic MILP: max decision impact, then fewest sunsets, then min cost. Option index per tool."""
    n_tools, n_opts = values.cost.shape
    idx = [(t, o) for t in range(n_tools) for o in range(n_opts) if values.allowed[t, o]]
    if not idx:
        return np.zeros(0, dtype=int)
    cost = np.array([values.cost[t, o] for t, o in idx])
    yearly = np.array([values.cost_by_year[t, o, :] for t, o in idx]).T  # Y × K
    objective = np.array([values.objective[t, o] for t, o in idx])
    is_sunset = np.array([1.0 if OPTIONS[o] == "sunset" else 0.0 for _, o in idx])
    one_per_tool = np.zeros((n_tools, len(idx)))
    for k, (t, _) in enumerate(idx):
        one_per_tool[t, k] = 1.0
    constraints = [LinearConstraint(one_per_tool, 1.0, 1.0),
                   LinearConstraint(yearly, -np.inf, np.asarray(caps, dtype=float) + 1e-6)]
    integrality = np.ones(len(idx))
    bounds = Bounds(0, 1)
    exact = {"mip_rel_gap": 0.0}  # HiGHS stops at a 0.01% gap by default; plans must be exact

    def solve(goal: np.ndarray, extra: list[LinearConstraint]) -> np.ndarray | None:
        res = milp(goal, constraints=[*constraints, *extra], integrality=integrality, bounds=bounds, options=exact)
        return None if res.status != 0 or res.x is None else np.round(res.x)

    x = solve(-objective, [])
    if x is None:
        return None
    # 2) among plans with the best decision impact, the fewest sunsets: cut only what the cap or the
    #    evidence requires (a tool with no measured effect is unknown, not worthless, until the cap needs it)
    best = float(objective @ x)
    keep_best = LinearConstraint(objective[None, :], best - _IMPACT_TOLERANCE * max(1.0, abs(best)), np.inf)
    x2 = solve(is_sunset, [keep_best])
    x = x2 if x2 is not None else x  # numerically stuck: keep the stage-1 plan
    n_sunset = float(is_sunset @ x)
    # 3) then the cheapest such plan: right-size instead of paying for idle seats
    x3 = solve(cost, [keep_best, LinearConstraint(is_sunset[None, :], -np.inf, n_sunset + 0.5)])
    x = x3 if x3 is not None else x
    choice = np.full(n_tools, -1)
    for k, (t, o) in enumerate(idx):
        if x[k] > 0.5:
            choice[t] = o
    return choice


def _dollars_per_tenth_sd(cost: float, impact: float) -> float:
    """Cost-effectiveness as shown to people: dollars per 0.1 SD per student at dosage (methods section 3)."""
    return 0.1 * cost / impact if impact > 0 else float("inf")


def _explain(values: OptionValues, t: int, o: int, threshold: float, harm_probability: float) -> str:
    keep_o = OPTIONS.index("keep")
    name, option = values.names[t], OPTIONS[o]
    cost, base_cost = values.cost[t, o], values.cost[t, keep_o]
    impact, base_impact = values.impact[t, o], values.impact[t, keep_o]
    seats0, seats = values.seats_year1[t, keep_o], values.seats_year1[t, o]
    saving = base_cost - cost
    p_below = values.p_below[t]
    uncertain = (f"its estimate is negative but not distinguishable from 0 (P(effect < −{threshold:g} SD) = "
                 f"{pct(p_below)}, below {pct(harm_probability)}), so it is not treated as harmful")
    if option == "sunset":
        if values.likely_harm[t]:
            return (f"Sunset {name}: likely harmful (P(effect < −{threshold:g} SD) = {pct(p_below)}, flat-prior "
                    f"approximation); frees {money(saving)} over the horizon.")
        if values.objective[t, keep_o] > 0:
            ce = _dollars_per_tenth_sd(base_cost, base_impact)
            return (f"Sunset {name}: frees {money(saving)} over the horizon to meet the cap and gives up "
                    f"{base_impact:,.1f} SD·students of expected impact ({money(ce)} per 0.1 SD per student at "
                    f"dosage, the least cost-effective under the cap).")
        reason = uncertain if base_impact < 0 else "it has no effect estimate yet"
        return f"Sunset {name}: frees {money(saving)} over the horizon to meet the cap; {reason}."
    ce = _dollars_per_tenth_sd(cost, impact)
    ce_text = f"{money(ce)} per 0.1 SD per student at dosage" if np.isfinite(ce) else "no positive effect estimate"
    if option == "right_size":
        return (f"Right-size {name} from {seats0:,.0f} to {seats:,.0f} seats: saves {money(saving)} of idle seats "
                f"with no loss of students at dosage ({ce_text}).")
    if option == "expand":
        return (f"Expand {name} to {seats:,.0f} seats: costs {money(-saving)} more and adds "
                f"{impact - base_impact:,.1f} SD·students ({ce_text}).")
    text = f"Keep {name} at {seats:,.0f} seats: {money(cost)} over the horizon for {impact:,.1f} SD·students ({ce_text})"
    if base_impact < 0 and not values.likely_harm[t]:
        text += f"; {uncertain}"
    return text + "."


def _why(table: pd.DataFrame, by_year: pd.DataFrame) -> str:
    """How far under the cap the plan lands, and which choices put it there."""
    cap, plan, base = by_year["cap"].sum(), by_year["plan"].sum(), by_year["baseline"].sum()
    under = cap - plan
    required = base - cap
    if under < 0.5:
        return f"The plan uses the cap in full ({money(plan)} of {money(cap)})."
    savings = table["saving"]
    right = float(savings[table["option"] == "right_size"].sum())
    harm = float(savings[(table["option"] == "sunset") & table["likely_harm"]].sum())
    cuts = float(savings[(table["option"] == "sunset") & ~table["likely_harm"]].sum())
    tight = by_year.loc[by_year["under_cap"].idxmin()]
    parts = [f"The plan lands {money(under)} ({pct(under / cap if cap else 0.0)}) under the cap over the horizon "
             f"(tightest year FY{int(tight['fiscal_year'])}: {money(tight['under_cap'])} under)."]
    free = right + harm
    if free > 0.5:
        what = " and ".join(x for x in (
            f"right-sizing idle seats saves {money(right)} with no student at dosage lost" if right > 0.5 else "",
            f"ending likely-harmful tools saves {money(harm)}" if harm > 0.5 else "") if x)
        parts.append(f"Why: {what}; these cost no decision impact, so the plan makes them whether or not the cap "
                     "needs them" + (f" (together more than the {money(required)} the cap requires)."
                                    if free >= required - 0.5 else "."))
    if cuts > 0.5:
        parts.append(f"Sunsets to meet the cap free {money(cuts)}: tools are cut whole, so the last cut needed in the "
                     "tightest year overshoots the cap.")
    if free <= 0.5 and cuts <= 0.5:
        parts.append("No cut was needed: keeping every tool already fits.")
    return " ".join(parts)


def optimize_plan(inputs: BudgetInputs, scenario: Scenario, *, cap: float | None = None,
                  cut_share: float | None = None, must_keep: list[str] | None = None,
                  options: tuple[str, ...] = OPTIONS, threshold: float = DECISION_THRESHOLD,
                  harm_probability: float = HARM_PROBABILITY) -> Plan:
    """Best option per tool under a cap on each year's tool spend.

    Give `cap` in dollars a year (the same for every year), or `cut_share` (0.10 = every year at most 90% of
    what keeping every tool as is costs that year).
    """
    values = option_values(inputs, scenario, must_keep=must_keep, options=options, threshold=threshold,
                           harm_probability=harm_probability)
    keep_o = OPTIONS.index("keep")
    years = values.years
    baseline_by_year = values.cost_by_year[:, keep_o, :].sum(axis=0)
    baseline_cost = float(values.cost[:, keep_o].sum())
    baseline_impact = float(values.impact[:, keep_o].sum())
    caps = (np.full(len(years), float(cap)) if cap is not None
            else baseline_by_year * (1.0 - (cut_share or 0.0)))
    cap_text = (f"{money(caps.sum())} ({pct(1 - (cut_share or 0.0))} of keeping every tool, {money(baseline_cost)}, "
                "in each year)" if cap is None else f"{money(cap)} a year")
    choice = _solve(values, caps)
    if choice is None:
        cheapest = np.where(values.allowed[:, :, None], values.cost_by_year, np.inf).min(axis=1).sum(axis=0)
        worst = int(np.argmax(cheapest - caps))
        return Plan(feasible=False, why="", years=years, caps=caps, by_year=pd.DataFrame(), table=pd.DataFrame(),
                    total_cost=math.nan, total_impact=math.nan, total_objective=math.nan,
                    baseline_cost=baseline_cost, baseline_impact=baseline_impact,
                    message=(f"No plan fits a cap of {money(caps[worst])} in FY{years[worst]}: the cheapest plan that "
                             f"keeps the must-keep tools costs {money(cheapest[worst])} that year. Raise the cap or "
                             "release a must-keep tool."))
    rows = []
    for t, o in enumerate(choice):
        rows.append({
            "tool_id": values.tool_ids[t], "tool_name": values.names[t], "option": OPTIONS[o],
            "seats_year1": float(values.seats_year1[t, o]), "cost": float(values.cost[t, o]),
            "baseline_cost": float(values.cost[t, keep_o]), "saving": float(values.cost[t, keep_o] - values.cost[t, o]),
            "impact": float(values.impact[t, o]), "baseline_impact": float(values.impact[t, keep_o]),
            "decision_impact": float(values.objective[t, o]),
            "p_effect_below_minus_t": float(values.p_below[t]), "likely_harm": bool(values.likely_harm[t]),
            "dollars_per_01sd": _dollars_per_tenth_sd(values.cost[t, keep_o], values.impact[t, keep_o]),
            "explanation": _explain(values, t, o, threshold, harm_probability),
        })
    table = pd.DataFrame(rows, columns=[
        "tool_id", "tool_name", "option", "seats_year1", "cost", "baseline_cost", "saving", "impact",
        "baseline_impact", "decision_impact", "p_effect_below_minus_t", "likely_harm", "dollars_per_01sd",
        "explanation"])
    plan_by_year = (np.array([values.cost_by_year[t, o, :] for t, o in enumerate(choice)]).sum(axis=0)
                    if len(choice) else np.zeros(len(years)))
    by_year = pd.DataFrame({"fiscal_year": years, "baseline": baseline_by_year, "cap": caps, "plan": plan_by_year})
    by_year["under_cap"] = by_year["cap"] - by_year["plan"]
    total_cost = float(table["cost"].sum())
    total_impact = float(table["impact"].sum())
    return Plan(feasible=True, years=years, caps=caps, by_year=by_year, table=table, total_cost=total_cost,
                total_impact=total_impact, total_objective=float(table["decision_impact"].sum()),
                baseline_cost=baseline_cost, baseline_impact=baseline_impact,
                why=_why(table, by_year),
                message=(f"Plan: {money(total_cost)} over FY{years[0]}–FY{years[-1]} under a cap of {cap_text}, for "
                         f"{total_impact:,.1f} SD·students of expected impact ({baseline_impact:,.1f} keeping every "
                         "tool)."))


def brute_force_plan(values: OptionValues, caps: np.ndarray) -> tuple[float, float, tuple[int, ...]] | None:
    """Enumerate every allowed combination (tests, ≤ 6 tools): every year within its cap; max decision
    impact, then fewest sunsets, then min cost. Returns (decision impact, cost, options)."""
    n_tools = values.cost.shape[0]
    sunset = OPTIONS.index("sunset")
    caps = np.asarray(caps, dtype=float)
    best: tuple[float, int, float, tuple[int, ...]] | None = None
    per_tool = [[o for o in range(len(OPTIONS)) if values.allowed[t, o]] for t in range(n_tools)]
    for combo in product(*per_tool):
        yearly = sum(values.cost_by_year[t, o, :] for t, o in enumerate(combo))
        if np.any(yearly > caps + 1e-6):
            continue
        cost = float(np.sum(yearly))
        objective = float(sum(values.objective[t, o] for t, o in enumerate(combo)))
        cuts = sum(1 for o in combo if o == sunset)
        if best is None:
            best = (objective, cuts, cost, combo)
            continue
        tol = 1e-7 * max(1.0, abs(best[0]))
        better = (objective > best[0] + tol
                  or (abs(objective - best[0]) <= tol and (cuts < best[1] or (cuts == best[1] and cost < best[2] - 1e-9))))
        if better:
            best = (objective, cuts, cost, combo)
    return None if best is None else (best[0], best[2], best[3])


__all__ = ["DECISION_THRESHOLD", "HARM_PROBABILITY", "OPTIONS", "Expansion", "OptionValues", "Plan", "brute_force_plan",
           "decision_effect", "decision_probabilities", "option_values", "optimize_plan"]
