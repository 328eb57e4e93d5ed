"""Optimizer (methods.md section 5, v2): MILP choice equals brute force under yearly caps; the cap is a cap
and the plan says how far under it lands and why; decision probabilities decide sunset-for-harm."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edtech.budget.optimize import (
    OPTIONS,
    brute_force_plan,
    decision_effect,
    decision_probabilities,
    optimize_plan,
    option_values,
)
from edtech.budget.projection import BudgetInputs, Expansion, Levers, Scenario, ToolLine, project_budget


def small_inputs() -> BudgetInputs:
    return BudgetInputs(tools=[
        ToolLine("a", "Alpha", seats=100, annual_cost=10_000, peak_active=70, effect=0.30, students_at_dosage=60,
                 escalator=0.0),
        ToolLine("b", "Beta", seats=300, annual_cost=9_000, peak_active=120, effect=0.05, students_at_dosage=100,
                 escalator=0.0),
        ToolLine("c", "Gamma", seats=50, annual_cost=8_000, peak_active=50, effect=0.25, students_at_dosage=45,
                 escalator=0.0),
        ToolLine("d", "Delta", seats=200, annual_cost=4_000, peak_active=20, effect=None, students_at_dosage=10,
                 escalator=0.0),
    ], current_fy=2026)


def scenario(**levers: object) -> Scenario:
    base = {"expansions": [Expansion("a", extra_seats=50), Expansion("c", extra_seats=25, start_fiscal_year=2028)]}
    base.update(levers)
    return Scenario(horizon_years=2, levers=Levers(**base))  # type: ignore[arg-type]


@pytest.mark.parametrize("cut", [0.0, 0.1, 0.3, 0.5, 0.7])
@pytest.mark.parametrize("must_keep", [[], ["b"], ["b", "d"]])
def test_milp_equals_brute_force(cut: float, must_keep: list[str]) -> None:
    inputs, sc = small_inputs(), scenario(must_keep=must_keep)
    plan = optimize_plan(inputs, sc, cut_share=cut)
    values = option_values(inputs, sc)
    best = brute_force_plan(values, plan.caps)
    if best is None:
        assert not plan.feasible
        return
    assert plan.feasible
    objective, cost, combo = best
    assert plan.total_objective == pytest.approx(objective, rel=1e-6, abs=1e-9)
    assert plan.total_cost == pytest.approx(cost, rel=1e-6, abs=1e-6)
    assert (plan.by_year["plan"] <= plan.by_year["cap"] + 1e-6).all()  # every year within its cap
    for t in must_keep:
        assert plan.choices()[t] != "sunset"
    assert [plan.choices()[t] for t in values.tool_ids] == [OPTIONS[o] for o in combo]


def test_random_cases_match_brute_force() -> None:
    rng = np.random.default_rng(11)
    for _ in range(15):
        n = int(rng.integers(1, 5))
        tools = [ToolLine(f"t{i}", f"T{i}", seats=float(rng.integers(20, 400)), annual_cost=float(rng.uniform(1e3, 3e4)),
                          peak_active=float(rng.integers(5, 20)), effect=float(rng.normal(0.05, 0.15)),
                          effect_ci=(float(rng.normal(-0.1, 0.05)), float(rng.normal(0.2, 0.05))),
                          escalator=float(rng.uniform(0, 0.08)), students_at_dosage=float(rng.integers(1, 20)))
                 for i in range(n)]
        inputs = BudgetInputs(tools=tools, current_fy=2026)
        sc = Scenario(horizon_years=3, levers=Levers(expansions=[
            Expansion("t0", extra_seats=int(rng.integers(5, 100)), start_fiscal_year=int(rng.integers(2027, 2030)))]))
        plan = optimize_plan(inputs, sc, cut_share=float(rng.uniform(0, 0.9)))
        best = brute_force_plan(option_values(inputs, sc), plan.caps)
        assert plan.feasible == (best is not None)
        if best is not None:
            assert plan.total_objective == pytest.approx(best[0], rel=1e-6, abs=1e-9)
            assert plan.total_cost == pytest.approx(best[1], rel=1e-6, abs=1e-6)


def test_no_cut_right_sizes_idle_seats_and_keeps_tools_without_effect() -> None:
    plan = optimize_plan(small_inputs(), scenario(expansions=[]), cut_share=0.0)
    choice = plan.choices()
    # right-sizing keeps every student at dosage, so it dominates keeping idle seats (buffer 10%: 77 seats)
    assert choice["a"] == "right_size" and choice["b"] == "right_size"
    assert choice["d"] == "right_size"  # no measured effect, but no cap pressure: not cut
    row = plan.table.set_index("tool_id").loc["a"]
    assert "Right-size Alpha from 100 to 77 seats" in row["explanation"]
    assert plan.total_impact == pytest.approx(plan.baseline_impact)


def test_deep_cut_keeps_the_most_cost_effective_tools() -> None:
    plan = optimize_plan(small_inputs(), Scenario(horizon_years=1), cut_share=0.6, options=("keep", "sunset"))
    kept = set(plan.table.loc[plan.table["option"] == "keep", "tool_id"])
    sunset = set(plan.table.loc[plan.table["option"] == "sunset", "tool_id"])
    # cap 0.4 x 31,000 = 12,400 fits one of a (10,000 for 18 SD-students) or c (8,000 for 11.25):
    # $ per SD-student a 556, c 711, b 1,800, d no effect -> keep a
    assert plan.cap == pytest.approx(12_400.0)
    assert kept == {"a"}
    assert {"b", "d"} <= sunset
    assert plan.table.set_index("tool_id").loc["b", "explanation"].startswith("Sunset Beta: frees $9,000")


def harm_inputs() -> BudgetInputs:
    """One year (FY2027), no escalation. Alpha has 45 idle seats; Beta's estimate is negative but its CI
    includes 0; Gamma is clearly harmful."""
    return BudgetInputs(tools=[
        ToolLine("a", "Alpha", seats=100, annual_cost=10_000.0, peak_active=50, effect=0.30, effect_ci=(0.2, 0.4),
                 students_at_dosage=40, escalator=0.0),
        ToolLine("b", "Beta", seats=100, annual_cost=10_000.0, peak_active=100, effect=-0.03,
                 effect_ci=(-0.09, 0.03), students_at_dosage=50, escalator=0.0),
        ToolLine("c", "Gamma", seats=100, annual_cost=10_000.0, peak_active=100, effect=-0.30,
                 effect_ci=(-0.40, -0.20), students_at_dosage=50, escalator=0.0),
    ], current_fy=2026)


def test_decision_probabilities_from_the_ci_when_the_scoreboard_has_none() -> None:
    beta, gamma = harm_inputs().tools[1:]
    # Beta: SE = 0.12 / (2 x 1.96) = 0.030613; P(effect < -0.05) = Phi((-0.05 + 0.03) / 0.030613) = Phi(-0.653)
    above, within, below = decision_probabilities(beta)
    assert below == pytest.approx(0.2568, abs=1e-4)
    assert above == pytest.approx(0.0045, abs=1e-4)  # 1 - Phi((0.05 + 0.03) / 0.030613) = Phi(-2.613)
    assert above + within + below == pytest.approx(1.0)
    assert decision_effect(beta) == 0.0  # negative but not likely harmful: counted as no effect
    # Gamma: SE = 0.051021; P(effect < -0.05) = Phi(4.90) = 0.9999995 -> likely harmful, its effect counts
    assert decision_probabilities(gamma)[2] == pytest.approx(1.0, abs=1e-6)
    assert decision_effect(gamma) == -0.30
    # the scoreboard's exact probabilities win when present
    exact = ToolLine("b", "Beta", seats=1, annual_cost=1.0, effect=-0.03, effect_ci=(-0.09, 0.03),
                     p_above=0.01, p_below=0.85)
    assert decision_probabilities(exact) == pytest.approx((0.01, 0.14, 0.85))
    assert decision_effect(exact) == -0.03


def test_the_cap_is_a_cap_and_the_plan_says_how_far_under_it_lands_and_why() -> None:
    plan = optimize_plan(harm_inputs(), Scenario(horizon_years=1), cut_share=0.10)
    choice = plan.choices()
    # baseline $30,000 -> cap $27,000 (90% of the same lines in the same year)
    assert plan.cap == pytest.approx(27_000.0)
    assert plan.by_year["baseline"].iloc[0] == pytest.approx(30_000.0)
    # Alpha right-sized to ceil(50 x 1.1) = 55 seats (saves $4,500, no student at dosage lost);
    # Gamma sunset for likely harm (saves $10,000); Beta KEPT: its CI includes 0, so "negative" is noise
    assert choice == {"a": "right_size", "b": "keep", "c": "sunset"}
    assert plan.total_cost == pytest.approx(15_500.0)
    assert plan.by_year["under_cap"].iloc[0] == pytest.approx(11_500.0)
    t = plan.table.set_index("tool_id")
    assert "likely harmful (P(effect < −0.05 SD) = 100%" in t.loc["c", "explanation"]
    assert "not distinguishable from 0 (P(effect < −0.05 SD) = 26%, below 80%)" in t.loc["b", "explanation"]
    assert "negative, so" not in " ".join(t["explanation"])  # the v1 wording "its measured effect is negative, so..."
    assert plan.why.startswith("The plan lands $11,500 (43%) under the cap")
    assert "right-sizing idle seats saves $4,500" in plan.why and "ending likely-harmful tools saves $10,000" in plan.why
    assert "more than the $3,000 the cap requires" in plan.why
    # when the scoreboard says Beta is likely harmful (p_below 0.85), it goes too
    inputs = harm_inputs()
    inputs.tools[1] = ToolLine(**{**inputs.tools[1].__dict__, "p_above": 0.01, "p_below": 0.85})
    assert optimize_plan(inputs, Scenario(horizon_years=1), cut_share=0.10).choices()["b"] == "sunset"


def test_every_year_is_capped_not_just_the_horizon_total() -> None:
    # X: $100/seat, expansion +30 seats from FY2028 (+$3,000 that year, +15 students at dosage x 0.2 = +3).
    # Y: 100 seats, peak 72 -> right-size to ceil(79.2) = 80 seats, saves $2,000 a year, keeps its 50 at dosage.
    inputs = BudgetInputs(tools=[
        ToolLine("x", "X", seats=100, annual_cost=10_000.0, peak_active=100, effect=0.2, students_at_dosage=50,
                 escalator=0.0),
        ToolLine("y", "Y", seats=100, annual_cost=10_000.0, peak_active=72, effect=0.1, students_at_dosage=50,
                 escalator=0.0),
    ], current_fy=2026)
    sc = Scenario(horizon_years=2, levers=Levers(expansions=[Expansion("x", extra_seats=30, start_fiscal_year=2028)]))
    values = option_values(inputs, sc)
    # "expand X + right-size Y" costs 18,000 + 21,000 = 39,000 <= 40,000 over the horizon (impact 33), but
    # FY2028 alone would be 21,000 > the 20,000 cap: not allowed. Best within every year: impact 20 + 10 = 30.
    expand, right = OPTIONS.index("expand"), OPTIONS.index("right_size")
    assert values.cost_by_year[0, expand] + values.cost_by_year[1, right] == pytest.approx([18_000.0, 21_000.0])
    plan = optimize_plan(inputs, sc, cut_share=0.0)
    assert plan.choices()["x"] != "expand" and plan.choices()["y"] == "right_size"
    assert plan.total_objective == pytest.approx(30.0)
    assert list(plan.by_year["plan"]) == pytest.approx([18_000.0, 18_000.0])
    assert "lands $4,000 (10%) under the cap" in plan.why


def test_infeasible_cap_is_explained() -> None:
    plan = optimize_plan(small_inputs(), scenario(must_keep=["a", "b", "c"]), cap=1_000.0)
    assert not plan.feasible
    assert plan.message.startswith("No plan fits a cap of $1,000 in FY2027")


def test_plan_as_levers_projects_to_the_plan_cost() -> None:
    inputs, sc = small_inputs(), scenario()
    plan = optimize_plan(inputs, sc, cut_share=0.2)
    projected = project_budget(inputs, Scenario(horizon_years=2, levers=plan.to_levers(sc.levers)))
    assert projected.by_tool["total"].sum() == pytest.approx(plan.total_cost)
    assert projected.summary["expected_impact"] == pytest.approx(plan.total_impact)
    by_year = projected.by_tool.groupby("fiscal_year")["total"].sum().to_numpy()
    assert by_year == pytest.approx(plan.by_year["plan"].to_numpy())
    assert isinstance(plan.by_year, pd.DataFrame) and (plan.by_year["under_cap"] >= -1e-6).all()
