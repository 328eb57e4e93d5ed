"""Budget scenario model: hand-computed projections, CRF, grant cliff, JSON round-trip, Monte Carlo."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from edtech.budget.montecarlo import simulate_budget
from edtech.budget.projection import (
    Assumptions,
    BudgetInputs,
    DeviceCohort,
    Expansion,
    FundingLine,
    Levers,
    OneOffPurchase,
    Scenario,
    ScenarioError,
    ToolLine,
    capital_recovery_factor,
    device_cohorts,
    fiscal_year_of,
    inputs_from_district,
    project_budget,
    savings_by_lever,
    scenario_from_dict,
    tool_lines_from_roi,
)
from edtech.core.district import District, conform_frame

CENT = 0.005


def three_year_inputs() -> BudgetInputs:
    return BudgetInputs(
        tools=[
            # $100/seat, own 5% escalator, 60 at peak -> right-sized with a 10% buffer to ceil(66) = 66 seats
            ToolLine("math", "MathApp", seats=100, annual_cost=10_000.0, peak_active=60, escalator=0.05,
                     effect=0.2, effect_ci=(0.1, 0.3), students_at_dosage=40, roi_score=80),
            # $20/seat, no contract escalator -> scenario default 3%
            ToolLine("read", "ReadApp", seats=200, annual_cost=4_000.0, peak_active=150, escalator=None,
                     effect=0.1, effect_ci=(0.0, 0.2), students_at_dosage=100, roi_score=50),
        ],
        # 50 laptops at $800 bought in FY2022: age 5 in FY2027 -> one refresh wave
        devices=[DeviceCohort("laptop", 50, 800.0, purchase_fy=2022)],
        funding=[FundingLine("general", 2026, 30_000.0)],
        pd_base=1_500.0,
        current_fy=2026,
    )


def three_year_scenario() -> Scenario:
    return Scenario(
        name="Trim math", horizon_years=3,
        assumptions=Assumptions(escalator=0.03, discount_rate=0.03, refresh_cycle_years=5, device_price_change=0.02),
        levers=Levers(right_size_tools=["math"], right_size_buffer=0.10, pd_investment_per_year=500.0),
    )


def test_capital_recovery_factor_matches_formula_and_limits() -> None:
    # A/P for r = 3%, n = 5: 0.03 * 1.03^5 / (1.03^5 - 1) = 0.2183546 (standard annuity tables: 0.21835)
    assert capital_recovery_factor(0.03, 5) == pytest.approx(0.2183545714, abs=1e-9)
    assert capital_recovery_factor(0.0, 4) == pytest.approx(0.25)
    assert capital_recovery_factor(0.10, 1) == pytest.approx(1.10)
    # present value of n payments of A at rate r gives back P
    a = 1000 * capital_recovery_factor(0.05, 7)
    assert sum(a / 1.05**k for k in range(1, 8)) == pytest.approx(1000)
    with pytest.raises(ValueError):
        capital_recovery_factor(0.03, 0)


def test_hand_computed_three_year_case_to_the_cent() -> None:
    p = project_budget(three_year_inputs(), three_year_scenario())
    y = p.by_year.set_index("fiscal_year")
    assert list(y.index) == [2026, 2027, 2028]
    # licenses: math 66 seats x $100 x 1.05^k ; read 200 x $20 x 1.03^k
    assert y.loc[2026, "licenses"] == pytest.approx(6_600.00 + 4_000.00, abs=CENT)
    assert y.loc[2027, "licenses"] == pytest.approx(6_930.00 + 4_120.00, abs=CENT)
    assert y.loc[2028, "licenses"] == pytest.approx(7_276.50 + 4_243.60, abs=CENT)
    # devices: 50 x $800 x CRF(3%, 5) = 40,000 x 0.2183546 = 8,734.18 ;
    # FY2027 wave: 50 replaced at 800 x 1.02^5 = 883.2646 -> 44,163.23 x 0.2183546 = 9,643.24
    assert y.loc[2026, "devices"] == pytest.approx(8_734.18, abs=CENT)
    assert y.loc[2027, "devices"] == pytest.approx(9_643.24, abs=CENT)
    assert y.loc[2028, "devices"] == pytest.approx(9_643.24, abs=CENT)
    assert list(y["devices_refreshed"]) == [0, 50, 0]
    assert y.loc[2027, "device_capital_outlay"] == pytest.approx(44_163.23, abs=CENT)
    # PD: base 1,500 + investment 500
    assert list(y["pd"]) == pytest.approx([2_000.0] * 3)
    assert y.loc[2026, "total_spend"] == pytest.approx(10_600.00 + 8_734.18 + 2_000.00, abs=CENT)
    assert y.loc[2027, "total_spend"] == pytest.approx(11_050.00 + 9_643.24 + 2_000.00, abs=CENT)
    assert y.loc[2028, "total_spend"] == pytest.approx(11_520.10 + 9_643.24 + 2_000.00, abs=CENT)
    # savings vs baseline: math's 34 idle seats (3,400 x 1.05^k) minus the extra 500 of PD
    assert list(y["savings"]) == pytest.approx([2_900.00, 3_070.00, 3_248.50], abs=CENT)
    # funding rolled forward flat; gap = spend - funding
    assert list(y["available_funding"]) == pytest.approx([30_000.0] * 3)
    assert y.loc[2026, "gap"] == pytest.approx(21_334.18 - 30_000.00, abs=CENT)
    # impact: 40 x 0.2 + 100 x 0.1 (right-sizing to 66 keeps all 40 students at dosage)
    assert list(y["expected_impact"]) == pytest.approx([18.0] * 3)
    assert list(y["students_at_dosage"]) == pytest.approx([140.0] * 3)
    assert p.summary["total_savings"] == pytest.approx(2_900.00 + 3_070.00 + 3_248.50, abs=CENT)


def test_aue_caps_device_life_and_brings_the_wave_forward() -> None:
    inputs = BudgetInputs(devices=[DeviceCohort("chromebook", 10, 300.0, purchase_fy=2024, aue_fy=2027)],
                          current_fy=2026)
    p = project_budget(inputs, Scenario(horizon_years=3))
    y = p.by_year.set_index("fiscal_year")
    # life = min(5, 2027 - 2024) = 3 -> annualized over 3 years, replaced in FY2027 with a 5-year life
    assert y.loc[2026, "devices"] == pytest.approx(3_000 * capital_recovery_factor(0.03, 3))
    assert y.loc[2027, "devices"] == pytest.approx(3_000 * capital_recovery_factor(0.03, 5))
    assert list(y["devices_refreshed"]) == [0, 10, 0]
    # a longer refresh cycle lowers the annualized cost of devices without an AUE
    plain = BudgetInputs(devices=[DeviceCohort("laptop", 10, 1000.0, purchase_fy=2025)], current_fy=2026)
    longer = project_budget(plain, Scenario(horizon_years=1, levers=Levers(refresh_cycle_years=7)))
    assert longer.by_year["devices"].iloc[0] == pytest.approx(10_000 * capital_recovery_factor(0.03, 7))
    assert longer.summary["year1_savings"] == pytest.approx(
        10_000 * (capital_recovery_factor(0.03, 5) - capital_recovery_factor(0.03, 7)))


def test_grant_cliff_gives_the_expected_gap() -> None:
    inputs = BudgetInputs(
        tools=[ToolLine("tutor", "Tutor", seats=1000, annual_cost=50_000.0, escalator=0.0, funding_source="esser")],
        funding=[FundingLine("esser", 2026, 50_000.0, expires=pd.Timestamp("2026-09-30")),
                 FundingLine("general", 2026, 10_000.0)],
        current_fy=2026,
    )
    p = project_budget(inputs, Scenario(horizon_years=3))
    y = p.by_year.set_index("fiscal_year")
    # FY2026 fully funded; FY2027 ESSER only until Sept 30 (92 of 365 days); FY2028 gone
    esser_2027 = 50_000 * 92 / 365
    assert list(y["available_funding"]) == pytest.approx([60_000.0, 10_000 + esser_2027, 10_000.0])
    assert list(y["gap"]) == pytest.approx([-10_000.0, 50_000 - 10_000 - esser_2027, 40_000.0])
    src = p.by_source.set_index(["fiscal_year", "source"])
    assert src.loc[(2028, "esser"), "shortfall"] == pytest.approx(50_000.0)
    assert src.loc[(2026, "esser"), "shortfall"] == pytest.approx(0.0)
    assert p.summary["years_with_gap"] == 2
    # an explicit row for a year that starts after expiry cannot be spent
    inputs.funding.append(FundingLine("esser", 2028, 20_000.0, expires=pd.Timestamp("2026-09-30")))
    y2 = project_budget(inputs, Scenario(horizon_years=3)).by_year.set_index("fiscal_year")
    assert y2.loc[2028, "available_funding"] == pytest.approx(10_000.0)


def test_right_size_everything_saves_idle_license_value_in_year_one() -> None:
    inputs = three_year_inputs()
    p = project_budget(inputs, Scenario(horizon_years=2, levers=Levers(right_size_all=True)))
    idle = sum(t.idle_license_value for t in inputs.tools)  # 40 x $100 + 50 x $20
    assert idle == pytest.approx(5_000.0)
    assert p.summary["year1_savings"] == pytest.approx(idle, abs=CENT)


def test_sunset_below_roi_respects_must_keep_and_expansion_counts_students() -> None:
    inputs = three_year_inputs()
    inputs.enrollment = pd.DataFrame({"school_id": ["s1", "s1", "s2"], "grade_level": ["3", "4", "3"],
                                      "students": [30, 20, 25]})
    sc = Scenario(horizon_years=1, levers=Levers(sunset_below_roi=60))
    assert project_budget(inputs, sc).by_year["licenses"].iloc[0] == pytest.approx(10_000.0)
    kept = Scenario(horizon_years=1, levers=Levers(sunset_below_roi=60, must_keep=["read"]))
    assert project_budget(inputs, kept).by_year["licenses"].iloc[0] == pytest.approx(14_000.0)
    grow = Scenario(horizon_years=1, levers=Levers(expansions=[Expansion("math", grades=["3"])]))
    p = project_budget(inputs, grow)
    # 55 third graders at $100; dosage rate 40/100 -> 22 more students at dosage x 0.2
    assert p.by_year["licenses"].iloc[0] == pytest.approx(14_000 + 5_500)
    assert p.by_year["expected_impact"].iloc[0] == pytest.approx(18.0 + 22 * 0.2)


def test_enrollment_change_scales_seats_and_students() -> None:
    inputs = three_year_inputs()
    sc = Scenario(horizon_years=2, assumptions=Assumptions(enrollment_change=-0.10))
    y = project_budget(inputs, sc).by_year
    assert y["licenses"].iloc[1] == pytest.approx(0.9 * (10_000 * 1.05 + 4_000 * 1.03))
    assert y["students_at_dosage"].iloc[1] == pytest.approx(0.9 * 140)
    assert y["savings"].abs().max() == pytest.approx(0.0)  # an assumption is not a saving


def test_one_off_purchases_land_in_their_year_category_and_source() -> None:
    inputs = three_year_inputs()
    sc = Scenario(horizon_years=3, levers=Levers(one_off_purchases=[
        OneOffPurchase("Panels", 2027, 12_000.0, category="devices", funding_source="e_rate")]))
    p = project_budget(inputs, sc)
    y = p.by_year.set_index("fiscal_year")
    base = project_budget(inputs, sc.baseline()).by_year.set_index("fiscal_year")
    assert y.loc[2027, "devices"] - base.loc[2027, "devices"] == pytest.approx(12_000.0)
    assert y.loc[2026, "devices"] == pytest.approx(base.loc[2026, "devices"])
    src = p.by_source.set_index(["fiscal_year", "source"])
    assert src.loc[(2027, "e_rate"), "spend"] == pytest.approx(12_000.0)


def test_savings_by_lever_sum_to_total_savings() -> None:
    inputs = three_year_inputs()
    sc = Scenario(horizon_years=3, levers=Levers(right_size_all=True, sunset_tools=["read"],
                                                 refresh_cycle_years=6, pd_investment_per_year=250.0))
    parts = savings_by_lever(inputs, sc)
    total = project_budget(inputs, sc).summary["total_savings"]
    assert parts["saving"].sum() == pytest.approx(total)
    by = parts.set_index("lever")["saving"]
    assert by["pd"] == pytest.approx(-750.0)
    assert by["refresh"] > 0 and by["right_size"] > 0 and by["sunset"] > 0


def test_scenario_json_round_trip() -> None:
    sc = Scenario(
        name="Everything", horizon_years=5, start_fiscal_year=2027,
        assumptions=Assumptions(escalator=0.04, enrollment_change=-0.01, device_cost_basis="cash"),
        levers=Levers(right_size_all=True, right_size_buffer=0.1, sunset_below_roi=30.0, sunset_tools=["x"],
                      must_keep=["y"], expansions=[Expansion("z", schools=["s1"], grades=["K", "1"])],
                      refresh_cycle_years=6, pd_investment_per_year=1234.5,
                      one_off_purchases=[OneOffPurchase("Carts", 2028, 9000.0, "devices", "e_rate")]),
    )
    text = json.dumps(sc.to_dict())
    back = Scenario.from_dict(json.loads(text))
    assert back == sc
    assert json.dumps(back.to_dict()) == text


@pytest.mark.parametrize(("spec", "fragment"), [
    ({"horizon_years": 7}, "horizon_years must be ≤ 5"),
    ({"horizon_years": "three"}, "horizon_years must be a number"),
    ({"levers": {"right_size_bufer": 0.1}}, "unknown field(s) right_size_bufer"),
    ({"assumptions": {"escalator": None}}, "assumptions.escalator must be a number"),
    ({"levers": {"one_off_purchases": [{"name": "x", "fiscal_year": 2027, "amount": 1, "category": "food"}]}},
     "category must be one of"),
    ({"levers": {"expansions": [{"schools": ["a"]}]}}, "tool_id is required"),
    ([1, 2], "scenario must be an object"),
])
def test_bad_specs_are_rejected_with_a_clear_message(spec: object, fragment: str) -> None:
    with pytest.raises(ScenarioError, match=None) as err:
        scenario_from_dict(spec)  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_monte_carlo_bands_bracket_and_collapse_without_spread() -> None:
    inputs = three_year_inputs()
    sc = three_year_scenario()
    mc = simulate_budget(inputs, sc, draws=2000, seed=7)
    bands = mc.bands
    assert (bands["p10"] <= bands["p50"] + 1e-9).all() and (bands["p50"] <= bands["p90"] + 1e-9).all()
    spend = bands[bands["metric"] == "spend"].set_index("fiscal_year")
    # year 1 has no escalator uncertainty; later years widen
    assert spend.loc[2026, "p90"] - spend.loc[2026, "p10"] < 1e-6
    assert spend.loc[2028, "p90"] - spend.loc[2028, "p10"] > spend.loc[2027, "p90"] - spend.loc[2027, "p10"] > 0
    impact = bands[bands["metric"] == "impact"]
    assert (impact["p90"] > impact["p10"]).all()
    # same seed -> same bands
    assert simulate_budget(inputs, sc, draws=2000, seed=7).bands.equals(bands)
    # no spread, no effect CI -> every band equals the deterministic projection
    still = Scenario(horizon_years=3, assumptions=Assumptions(escalator_sd=0.0, enrollment_sd=0.0),
                     levers=sc.levers)
    flat = BudgetInputs(tools=[ToolLine(t.tool_id, t.name, t.seats, t.annual_cost, peak_active=t.peak_active,
                                        escalator=t.escalator, effect=t.effect, students_at_dosage=t.students_at_dosage)
                               for t in inputs.tools], devices=inputs.devices, funding=inputs.funding,
                        pd_base=inputs.pd_base, current_fy=2026)
    fb = simulate_budget(flat, still, draws=200).bands
    assert np.allclose(fb[["p10", "p50", "p90"]].to_numpy(), fb[["deterministic"]].to_numpy())


def test_recompute_with_monte_carlo_is_fast_for_a_district_sized_input() -> None:
    rng = np.random.default_rng(0)
    tools = [ToolLine(f"t{i}", f"Tool {i}", seats=float(rng.integers(50, 3000)), annual_cost=float(rng.uniform(1e3, 1e5)),
                      peak_active=float(rng.integers(10, 50)), effect=float(rng.normal(0.1, 0.1)),
                      effect_ci=(-0.1, 0.3), students_at_dosage=20, roi_score=float(rng.uniform(0, 100)))
             for i in range(40)]
    devices = [DeviceCohort("chromebook", 500, 300.0, 2020 + i % 6) for i in range(12)]
    inputs = BudgetInputs(tools=tools, devices=devices, funding=[FundingLine("general", 2026, 1e6)], current_fy=2026)
    sc = Scenario(horizon_years=5, levers=Levers(right_size_all=True, sunset_below_roi=20))
    simulate_budget(inputs, sc)  # warm
    start = time.perf_counter()
    simulate_budget(inputs, sc, projection=project_budget(inputs, sc))
    assert time.perf_counter() - start < 1.0  # generous on a shared 2-core box; bench targets < 200 ms


def test_inputs_from_district_and_roi_adapter() -> None:
    licenses = conform_frame("licenses", pd.DataFrame({
        "tool_id": ["m", "m", "r"], "school_id": ["s1", "s2", None], "seats": [60, 40, 200],
        "annual_cost": [6000.0, 4000.0, 4000.0], "start_date": ["2025-07-01"] * 3, "end_date": ["2026-06-30"] * 3,
        "funding_source": ["title_i", "general", "esser"], "price_escalator_pct": [0.05, 0.05, None],
        "auto_renew": [True, True, False], "pd_hours": [None] * 3, "pd_cost": [500.0, None, None],
        "internal_cost": [None, None, 250.0]}))
    devices = conform_frame("devices", pd.DataFrame({
        "device_id": ["d1", "d2", "d3", "d4"], "device_type": ["chromebook"] * 4,
        "purchase_date": ["2021-08-01", "2021-09-01", "2023-08-01", "2021-08-01"],
        "purchase_cost": [300.0, 300.0, 320.0, 300.0], "school_id": ["s1"] * 4,
        "status": ["active", "active", "active", "retired"],
        "auto_update_expiration": ["2027-06-01", "2027-06-01", None, "2027-06-01"],
        "assigned_student_id": [None] * 4, "model": [None] * 4}))
    funding = conform_frame("funding", pd.DataFrame({
        "fiscal_year": [2026], "source": ["esser"], "amount": [9000.0], "restricted_to": ["licenses"],
        "expires": ["2026-09-30"]}))
    district = District(licenses=licenses, devices=devices, funding=funding)
    roi = pd.DataFrame({"tool_id": ["m", "r"], "tool_name": ["Math", "Read"], "seats": [100, 200],
                        "annual_cost": [10000.0, 4000.0], "peak_active_30d": [70, 120], "effect_size": [0.2, None],
                        "effect_ci_low": [0.1, None], "effect_ci_high": [0.3, None],
                        "dosage_met_students": [50, 0], "roi_score": [75.0, 20.0]})
    lines = {t.tool_id: t for t in tool_lines_from_roi(roi, licenses)}
    assert lines["m"].escalator == pytest.approx(0.05) and lines["r"].escalator is None
    assert lines["m"].funding_source == "title_i" and lines["r"].funding_source == "esser"
    assert lines["m"].pd_cost == 500.0 and lines["r"].other_cost == 250.0
    assert lines["m"].effect_ci == (0.1, 0.3) and lines["r"].effect is None
    assert lines["m"].idle_license_value == pytest.approx(3000.0)
    cohorts = device_cohorts(devices)
    assert sorted((c.purchase_fy, c.count, c.aue_fy) for c in cohorts) == [(2022, 2, 2027), (2024, 1, None)]
    inputs = inputs_from_district(district, roi)
    assert inputs.current_fy == fiscal_year_of(district.as_of)
    assert [f.source for f in inputs.funding] == ["esser"]
    # an empty district projects to zeros without an exception
    empty = project_budget(inputs_from_district(District()), Scenario(horizon_years=2))
    assert empty.by_year["total_spend"].sum() == 0.0


# ---------------------------------------------------------------- acceptance on the sample district

@pytest.fixture(scope="module")
def sample_inputs_and_roi():
    from edtech.roi.engine import score_tools
    from edtech.sample.generate import generate_district

    district = generate_district(n_students=6000, seed=2025).district
    scored = score_tools(district)
    return inputs_from_district(district, scored), scored


def test_sample_right_size_everything_saves_sum_of_idle_license_value(sample_inputs_and_roi) -> None:
    inputs, scored = sample_inputs_and_roi
    p = project_budget(inputs, Scenario(horizon_years=3, levers=Levers(right_size_all=True)))
    expected = float(scored["idle_license_value"].sum())
    assert expected > 0
    assert p.summary["year1_savings"] == pytest.approx(expected, abs=CENT)


def test_sample_esser_cliff_opens_a_gap_in_fy2028(sample_inputs_and_roi) -> None:
    inputs, _ = sample_inputs_and_roi
    p = project_budget(inputs, Scenario(horizon_years=3))
    src = p.by_source.set_index(["fiscal_year", "source"])
    assert src.loc[(2027, "esser"), "available"] > 0
    assert src.loc[(2028, "esser"), "available"] == 0
    assert src.loc[(2028, "esser"), "shortfall"] > 0  # ESSER-funded tools still cost money
    y = p.by_year.set_index("fiscal_year")
    assert y.loc[2028, "available_funding"] < y.loc[2027, "available_funding"]


def test_sample_optimizer_under_ten_percent_cut_keeps_most_cost_effective(sample_inputs_and_roi) -> None:
    from edtech.budget.optimize import optimize_plan

    inputs, _ = sample_inputs_and_roi
    sc = Scenario(horizon_years=1)
    for options in (("keep", "right_size", "sunset"), ("keep", "sunset")):
        plan = optimize_plan(inputs, sc, cut_share=0.10, options=options)
        assert plan.feasible and plan.total_cost <= plan.cap + 1e-6
        t = plan.table.set_index("tool_id")
        effective = t[t["baseline_impact"] > 0]
        cut = t[t["option"] == "sunset"]
        # every tool with a positive measured effect survives, and each is more cost-effective than any cut tool
        assert (effective["option"] != "sunset").all()
        if len(cut):
            cut_ce = (cut["baseline_cost"] / cut["baseline_impact"].where(cut["baseline_impact"] > 0)).fillna(np.inf)
            kept_ce = effective["baseline_cost"] / effective["baseline_impact"]
            assert kept_ce.max() < cut_ce.min()
        assert plan.total_impact >= plan.baseline_impact - 1e-9
