"""Budget scenario model (methods.md section 5, v2): hand-computed projections, contract-true escalation,
year 1, capital recovery with a date-precise AUE cap, grant cliff and grant changes, JSON round trip,
Monte Carlo bands of horizon totals, inputs from a district and its scoreboard."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from edtech.budget.montecarlo import simulate_budget
from edtech.budget.projection import (
    Assumptions,
    BudgetInputs,
    ContractTerm,
    DeviceCohort,
    Expansion,
    FundingChange,
    FundingLine,
    Levers,
    OneOffPurchase,
    Scenario,
    ScenarioError,
    ToolLine,
    device_cohorts,
    first_year_after,
    inputs_from_district,
    project_budget,
    renewal_schedule,
    right_size_savings_by_year,
    savings_by_lever,
    scenario_from_dict,
    tool_lines_from_board,
)
from edtech.core import rules
from edtech.core.district import District, conform_frame

CENT = 0.005
CRF5 = 0.2183545714  # A/P at r = 3%, n = 5: 0.03 × 1.03^5 / (1.03^5 − 1) (annuity tables: 0.21835)


def three_year_inputs() -> BudgetInputs:
    """Data dated in FY2026; contracts without terms are priced for FY2026 and renew on 2026-07-01."""
    return BudgetInputs(
        tools=[
            # $100/seat, own 5% escalator, 60 at peak -> right-sized with the 10% buffer to ceil(66) = 66 seats
            ToolLine("math", "MathApp", seats=100, annual_cost=10_000.0, peak_active=60, escalator=0.05,
                     effect=0.2, effect_ci=(0.1, 0.3), students_at_dosage=40, roi_score=80),
            # $20/seat, no contract escalator -> scenario default 3%
            ToolLine("read", "ReadApp", seats=200, annual_cost=4_000.0, peak_active=150, escalator=None,
                     effect=0.1, effect_ci=(0.0, 0.2), students_at_dosage=100, roi_score=50),
        ],
        # 50 laptops at $800 bought 2022-08-01: 5-year life ends 2027-08-01 (FY2028) -> one refresh wave
        devices=[DeviceCohort("laptop", 50, 800.0, purchase_date=pd.Timestamp("2022-08-01"))],
        funding=[FundingLine("general", 2026, 30_000.0)],
        pd_base=1_500.0,
        current_fy=2026,
    )


def three_year_scenario() -> Scenario:
    return Scenario(
        name="Trim math", horizon_years=3,
        assumptions=Assumptions(escalator=0.03, discount_rate=0.03, refresh_cycle_years=5, device_price_change=0.02),
        levers=Levers(right_size_tools=["math"], pd_investment_per_year=500.0),
    )


def test_year_one_is_the_first_fiscal_year_starting_after_the_data() -> None:
    # the issue's case: data through 2026-06-07 sits in FY2026, which ends 23 days later: year 1 = FY2027
    assert first_year_after(pd.Timestamp("2026-06-07")) == 2027
    assert first_year_after(pd.Timestamp("2026-12-15")) == 2028
    assert first_year_after(pd.Timestamp("2026-07-01")) == 2028  # FY2027 starts that day, not after it
    p = project_budget(three_year_inputs(), Scenario(horizon_years=2))
    assert p.years == [2027, 2028] and p.summary["first_fiscal_year"] == 2027
    picked = project_budget(three_year_inputs(), Scenario(horizon_years=2, start_fiscal_year=2026))
    assert picked.years == [2026, 2027]


def test_hand_computed_three_year_case_to_the_cent() -> None:
    p = project_budget(three_year_inputs(), three_year_scenario())
    y = p.by_year.set_index("fiscal_year")
    assert list(y.index) == [2027, 2028, 2029]
    # licenses renew 2026-07-01, so FY2027 already pays one escalation:
    # math 66 seats x $100 x 1.05^k ; read 200 x $20 x 1.03^k, k = 1, 2, 3
    assert y.loc[2027, "licenses"] == pytest.approx(6_930.00 + 4_120.00, abs=CENT)
    assert y.loc[2028, "licenses"] == pytest.approx(7_276.50 + 4_243.60, abs=CENT)
    assert y.loc[2029, "licenses"] == pytest.approx(7_640.325 + 4_370.908, abs=CENT)
    # devices: 50 x $800 x CRF(3%, 5) = 40,000 x 0.2183546 = 8,734.18 ;
    # FY2028 wave: 50 replaced at 800 x 1.02^(2028 - 2023) = 883.2646 -> 44,163.23 x 0.2183546 = 9,643.24
    assert y.loc[2027, "devices"] == pytest.approx(8_734.18, abs=CENT)
    assert y.loc[2028, "devices"] == pytest.approx(9_643.24, abs=CENT)
    assert y.loc[2029, "devices"] == pytest.approx(9_643.24, abs=CENT)
    assert list(y["devices_refreshed"]) == [0, 50, 0]
    assert y.loc[2028, "device_capital_outlay"] == pytest.approx(44_163.23, abs=CENT)
    assert list(y["pd"]) == pytest.approx([2_000.0] * 3)  # base 1,500 + investment 500
    assert y.loc[2027, "total_spend"] == pytest.approx(11_050.00 + 8_734.18 + 2_000.00, abs=CENT)
    # savings vs baseline: math's 34 idle seats (3,400 x 1.05^k) minus the extra 500 of PD
    assert list(y["savings"]) == pytest.approx([3_070.00, 3_248.50, 3_435.925], abs=CENT)
    assert list(y["available_funding"]) == pytest.approx([30_000.0] * 3)  # rolled forward flat
    assert y.loc[2027, "gap"] == pytest.approx(21_784.18 - 30_000.00, abs=CENT)
    # impact: 40 x 0.2 + 100 x 0.1 (right-sizing to 66 keeps all 40 students at dosage)
    assert list(y["expected_impact"]) == pytest.approx([18.0] * 3)
    assert p.summary["total_savings"] == pytest.approx(3_070.00 + 3_248.50 + 3_435.925, abs=CENT)


def issue_district() -> tuple[District, pd.DataFrame]:
    """Issue 11's case: data through 2027-06-07 (FY2027); one tool on two contracts 2026-07-01..2027-06-30,
    $10,000 at 3% and $5,000 at 5%."""
    licenses = conform_frame("licenses", pd.DataFrame({
        "tool_id": ["m", "m"], "school_id": ["s1", "s2"], "seats": [100, 50], "annual_cost": [10_000.0, 5_000.0],
        "start_date": ["2026-07-01"] * 2, "end_date": ["2027-06-30"] * 2, "funding_source": ["general"] * 2,
        "price_escalator_pct": [0.03, 0.05], "auto_renew": [True, True], "pd_hours": [None, None],
        "pd_cost": [None, None], "internal_cost": [None, None]}))
    board = pd.DataFrame({"tool_id": ["m"], "tool_name": ["Math"], "seats": [150], "annual_cost": [15_000.0],
                          "peak_active_30d": [150], "dosage_met": [80]})
    return District(licenses=licenses, fixed_as_of=pd.Timestamp("2027-06-07")), board


def test_escalation_compounds_from_each_contracts_terms_whatever_year_the_scenario_starts() -> None:
    district, board = issue_district()
    inputs = inputs_from_district(district, board)
    assert inputs.current_fy == 2027 and inputs.first_fy == 2028
    # both contracts renew on 2027-07-01 = the first day of FY2028, then every July 1:
    # FY2028 = 10,000 x 1.03 + 5,000 x 1.05 = 10,300 + 5,250 = 15,550.00
    # FY2029 = 10,000 x 1.03^2 + 5,000 x 1.05^2 = 10,609 + 5,512.50 = 16,121.50
    p = project_budget(inputs, Scenario(horizon_years=2))
    assert list(p.by_year["licenses"]) == pytest.approx([15_550.00, 16_121.50], abs=CENT)
    # a scenario that starts in FY2029 keeps the two renewals (the issue saw $15,000.00: escalation restarted)
    late = project_budget(inputs, Scenario(horizon_years=1, start_fiscal_year=2029))
    assert late.years == [2029]
    assert late.by_year["licenses"].iloc[0] == pytest.approx(16_121.50, abs=CENT)
    # one blended escalator (550 / 15,000 = 3.667%) would give 15,000 x 1.036667^2 = 16,120.17; pricing each
    # contract adds sum of cost x (e - 3.667%)^2 = 10,000 x 0.00667^2 + 5,000 x 0.01333^2 = $1.33
    blended = 15_000 * (1 + (300 + 250) / 15_000) ** 2
    assert blended == pytest.approx(16_120.17, abs=CENT)
    assert late.by_year["licenses"].iloc[0] - blended == pytest.approx(4 / 3, abs=CENT)


def test_multi_year_and_mid_year_contracts_renew_on_their_own_dates() -> None:
    # a 3-year contract to 2028-06-30 holds its price through FY2028, then +4%
    three = ToolLine("a", "A", seats=100, annual_cost=9_000.0,
                     contracts=(ContractTerm(9_000.0, 0.04, pd.Timestamp("2028-07-01")),))
    # a calendar-year contract ending 2026-12-31 at 5%: FY2027 pays 184 days old price, 181 days new:
    # 12,000 x (1 + 0.05 x 181/365) = 12,297.53 ; FY2028: 12,600 x (1 + 0.05 x 182/366) = 12,913.28
    calendar = ToolLine("b", "B", seats=100, annual_cost=12_000.0,
                        contracts=(ContractTerm(12_000.0, 0.05, pd.Timestamp("2027-01-01")),))
    p = project_budget(BudgetInputs(tools=[three, calendar], current_fy=2026), Scenario(horizon_years=3))
    t = p.by_tool.set_index(["tool_id", "fiscal_year"])["license_spend"]
    assert [t[("a", y)] for y in (2027, 2028, 2029)] == pytest.approx([9_000.0, 9_000.0, 9_360.0], abs=CENT)
    assert t[("b", 2027)] == pytest.approx(12_297.53, abs=CENT)
    assert t[("b", 2028)] == pytest.approx(12_913.28, abs=CENT)
    assert renewal_schedule(pd.Timestamp("2027-01-01"), (2027,)) == ((0, pytest.approx(181 / 365)),)


def test_aue_caps_device_life_to_the_day_and_brings_the_wave_forward() -> None:
    # bought 2023-08-01, AUE 2027-02-01: life = 1,280 days / 365.25 = 3.5044 years (not the 3 whole fiscal
    # years FY2024 -> FY2027); replaced in FY2027 with a 5-year life
    cohort = DeviceCohort("chromebook", 10, 300.0, purchase_date=pd.Timestamp("2023-08-01"),
                          aue=pd.Timestamp("2027-02-01"))
    p = project_budget(BudgetInputs(devices=[cohort], current_fy=2025), Scenario(horizon_years=3))
    y = p.by_year.set_index("fiscal_year")
    assert p.years == [2026, 2027, 2028]
    assert y.loc[2026, "devices"] == pytest.approx(3_000 * rules.capital_recovery_factor(0.03, 1280 / 365.25))
    assert y.loc[2027, "devices"] == pytest.approx(3_000 * CRF5)
    assert list(y["devices_refreshed"]) == [0, 10, 0]
    # a longer refresh cycle lowers the annualized cost of devices without an AUE
    plain = BudgetInputs(devices=[DeviceCohort("laptop", 10, 1000.0, purchase_date=pd.Timestamp("2025-03-01"))],
                         current_fy=2026)
    longer = project_budget(plain, Scenario(horizon_years=1, levers=Levers(refresh_cycle_years=7)))
    assert longer.by_year["devices"].iloc[0] == pytest.approx(10_000 * rules.capital_recovery_factor(0.03, 7))
    assert longer.summary["year1_savings"] == pytest.approx(
        10_000 * (CRF5 - rules.capital_recovery_factor(0.03, 7)))


def test_grant_cliff_gives_the_expected_gap() -> None:
    inputs = BudgetInputs(
        tools=[ToolLine("tutor", "Tutor", seats=1000, annual_cost=50_000.0, escalator=0.0, funding_source="esser")],
        funding=[FundingLine("esser", 2027, 50_000.0, expires=pd.Timestamp("2027-09-30")),
                 FundingLine("general", 2027, 10_000.0)],
        current_fy=2026,
    )
    p = project_budget(inputs, Scenario(horizon_years=3))
    y = p.by_year.set_index("fiscal_year")
    # FY2027 fully funded; FY2028 ESSER only until Sept 30 (92 of 366 days: FY2028 holds Feb 29); FY2029 gone
    esser_2028 = 50_000 * 92 / 366
    assert list(y["available_funding"]) == pytest.approx([60_000.0, 10_000 + esser_2028, 10_000.0])
    assert list(y["gap"]) == pytest.approx([-10_000.0, 50_000 - 10_000 - esser_2028, 40_000.0])
    src = p.by_source.set_index(["fiscal_year", "source"])
    assert src.loc[(2029, "esser"), "shortfall"] == pytest.approx(50_000.0)
    assert p.summary["years_with_gap"] == 2
    # an explicit row for a year that starts after expiry cannot be spent
    inputs.funding.append(FundingLine("esser", 2029, 20_000.0, expires=pd.Timestamp("2027-09-30")))
    y2 = project_budget(inputs, Scenario(horizon_years=3)).by_year.set_index("fiscal_year")
    assert y2.loc[2029, "available_funding"] == pytest.approx(10_000.0)


def test_funding_changes_end_a_grant_early_or_set_an_amount() -> None:
    inputs = BudgetInputs(
        tools=[ToolLine("tutor", "Tutor", seats=100, annual_cost=40_000.0, escalator=0.0, funding_source="esser")],
        funding=[FundingLine("esser", 2027, 50_000.0), FundingLine("esser", 2028, 50_000.0),
                 FundingLine("title_i", 2027, 100_000.0)],
        current_fy=2026,
    )
    spec = {"horizon_years": 3, "levers": {"funding_changes": [
        {"source": "esser", "ends_after": 2027},                      # ESSER ends a year early
        {"source": "title_i", "fiscal_year": 2028, "amount": 80_000},  # Title I cut from FY2028 (rolled forward)
    ]}}
    p = project_budget(inputs, scenario_from_dict(spec))
    src = p.by_source.pivot_table(index="fiscal_year", columns="source", values="available")
    assert list(src["esser"]) == pytest.approx([50_000.0, 0.0, 0.0])
    assert list(src["title_i"]) == pytest.approx([100_000.0, 80_000.0, 80_000.0])
    assert list(p.by_year["gap"]) == pytest.approx([-110_000.0, -40_000.0, -40_000.0])
    # the baseline keeps the funding on file; spend and savings do not move
    base = project_budget(inputs, scenario_from_dict(spec).baseline())
    assert list(base.by_year["available_funding"]) == pytest.approx([150_000.0, 150_000.0, 150_000.0])
    assert p.summary["total_savings"] == pytest.approx(0.0)
    with pytest.raises(ScenarioError, match="needs exactly one of: fiscal_year\\+amount or ends_after"):
        scenario_from_dict({"levers": {"funding_changes": [{"source": "esser", "ends_after": 2027, "amount": 5}]}})


def test_right_size_lever_equals_the_shared_rule_at_the_same_buffer() -> None:
    inputs = three_year_inputs()
    flat = replace(inputs, tools=[replace(t, escalator=0.0) for t in inputs.tools])
    sc = Scenario(horizon_years=3, levers=Levers(right_size_all=True))  # default buffer 10%
    per_tool = {t.tool_id: rules.right_size_savings(t.seats, t.peak_active, t.annual_cost, rules.RIGHT_SIZE_BUFFER)
                for t in inputs.tools}
    # math: 100 - ceil(66) = 34 idle seats x $100 = 3,400 ; read: 200 - ceil(165) = 35 x $20 = 700
    assert per_tool == pytest.approx({"math": 3_400.0, "read": 700.0})
    p = project_budget(flat, sc)
    assert p.summary["year1_savings"] == pytest.approx(4_100.0, abs=CENT)  # 0% escalators: the rule's figure
    # with escalators each year's saving = the tool's saving x its escalation factor that year
    esc = project_budget(inputs, sc).by_year["savings"]
    assert list(esc) == pytest.approx([3_400 * 1.05**k + 700 * 1.03**k for k in (1, 2, 3)], abs=CENT)
    table = right_size_savings_by_year(inputs, sc)
    assert table.groupby("fiscal_year")["saving"].sum().to_numpy() == pytest.approx(esc.to_numpy(), abs=CENT)
    assert Levers().right_size_buffer == rules.RIGHT_SIZE_BUFFER == 0.10


def test_sunset_below_roi_respects_must_keep_and_expansion_counts_students() -> None:
    inputs = replace(three_year_inputs(), tools=[replace(t, escalator=0.0) for t in three_year_inputs().tools])
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


def test_enrollment_change_compounds_from_the_datas_school_year() -> None:
    inputs = three_year_inputs()
    sc = Scenario(horizon_years=2, assumptions=Assumptions(enrollment_change=-0.10))
    y = project_budget(inputs, sc).by_year
    # FY2027 is one school year after the data's: 0.9 ; FY2028: 0.81
    assert y["licenses"].iloc[0] == pytest.approx(0.9 * (10_000 * 1.05 + 4_000 * 1.03))
    assert y["students_at_dosage"].iloc[1] == pytest.approx(0.81 * 140)
    assert y["savings"].abs().max() == pytest.approx(0.0)  # an assumption is not a saving


def test_one_off_purchases_land_in_their_year_category_and_source() -> None:
    inputs = three_year_inputs()
    sc = Scenario(horizon_years=3, levers=Levers(one_off_purchases=[
        OneOffPurchase("Panels", 2028, 12_000.0, category="devices", funding_source="e_rate")]))
    p = project_budget(inputs, sc)
    y = p.by_year.set_index("fiscal_year")
    base = project_budget(inputs, sc.baseline()).by_year.set_index("fiscal_year")
    assert y.loc[2028, "devices"] - base.loc[2028, "devices"] == pytest.approx(12_000.0)
    assert y.loc[2027, "devices"] == pytest.approx(base.loc[2027, "devices"])
    assert p.by_source.set_index(["fiscal_year", "source"]).loc[(2028, "e_rate"), "spend"] == pytest.approx(12_000.0)


def test_savings_by_lever_sum_to_total_savings() -> None:
    inputs = three_year_inputs()
    sc = Scenario(horizon_years=3, levers=Levers(right_size_all=True, sunset_tools=["read"],
                                                 refresh_cycle_years=6, pd_investment_per_year=250.0))
    parts = savings_by_lever(inputs, sc)
    assert parts["saving"].sum() == pytest.approx(project_budget(inputs, sc).summary["total_savings"])
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
                      one_off_purchases=[OneOffPurchase("Carts", 2028, 9000.0, "devices", "e_rate")],
                      funding_changes=[FundingChange("esser", ends_after=2027),
                                       FundingChange("title_i", fiscal_year=2028, amount=1.5)]),
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
    ({"levers": {"right_size_all": "yes"}}, "right_size_all must be true or false"),
    ({"levers": {"funding_changes": [{"source": "esser", "amount": 5}]}}, "needs exactly one of"),
    ([1, 2], "scenario must be an object"),
])
def test_bad_specs_are_rejected_with_a_clear_message(spec: object, fragment: str) -> None:
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(spec)  # type: ignore[arg-type]
    assert fragment in str(err.value)


def test_monte_carlo_bands_bracket_and_collapse_without_spread() -> None:
    inputs = three_year_inputs()
    sc = three_year_scenario()
    mc = simulate_budget(inputs, sc, draws=2000, seed=7)
    bands = mc.bands
    assert (bands["p10"] <= bands["p50"] + 1e-9).all() and (bands["p50"] <= bands["p90"] + 1e-9).all()
    spend = bands[bands["metric"] == "spend"].set_index("fiscal_year")
    widths = (spend["p90"] - spend["p10"]).to_numpy()
    assert 0 < widths[0] < widths[1] < widths[2]  # FY2027 already has one uncertain renewal; later years widen
    assert (bands.loc[bands["metric"] == "impact", "p90"] > bands.loc[bands["metric"] == "impact", "p10"]).all()
    assert simulate_budget(inputs, sc, draws=2000, seed=7).bands.equals(bands)  # same seed -> same bands
    still = Scenario(horizon_years=3, assumptions=Assumptions(escalator_sd=0.0, enrollment_sd=0.0), levers=sc.levers)
    flat = replace(inputs, tools=[replace(t, effect_ci=None) for t in inputs.tools])
    fb = simulate_budget(flat, still, draws=200)
    assert np.allclose(fb.bands[["p10", "p50", "p90"]].to_numpy(), fb.bands[["deterministic"]].to_numpy())
    assert np.allclose(fb.totals[["p10", "p50", "p90"]].to_numpy(), fb.totals[["deterministic"]].to_numpy())


def test_horizon_band_is_a_percentile_of_simulated_totals_not_a_sum_of_yearly_percentiles() -> None:
    # A: effect 0 +- SE 0.1 (CI +-0.196), 100 students at dosage every year. B: right-sized to 0 seats (peak 0),
    # then 100 seats from FY2028 at a dosage rate of 1: at dosage in year 2 only. Effects independent.
    # impact: year 1 = 100 a, year 2 = 100 a + 100 b -> total = 200 a + 100 b ~ Normal(0, 10 x sqrt(5)).
    # P10 of the total = -1.28155 x 22.36 = -28.66; the sum of yearly P10s would be
    # -1.28155 x (10 + 14.14) = -30.94.
    ci = (-0.1959963984540054, 0.1959963984540054)
    a = ToolLine("a", "A", seats=100, annual_cost=1_000.0, peak_active=100, effect=0.0, effect_ci=ci,
                 students_at_dosage=100)
    b = ToolLine("b", "B", seats=100, annual_cost=1_000.0, peak_active=0, effect=0.0, effect_ci=ci,
                 students_at_dosage=100)
    sc = Scenario(horizon_years=2, assumptions=Assumptions(enrollment_sd=0.0),
                  levers=Levers(right_size_tools=["b"], expansions=[Expansion("b", extra_seats=100,
                                                                              start_fiscal_year=2028)]))
    mc = simulate_budget(BudgetInputs(tools=[a, b], current_fy=2026), sc, draws=20_000, seed=3)
    band = mc.horizon_band("impact")
    z10 = 1.2815515655446004
    assert band["p10"] == pytest.approx(-z10 * 10 * np.sqrt(5), abs=1.0)
    assert band["p90"] == pytest.approx(z10 * 10 * np.sqrt(5), abs=1.0)
    yearly = mc.bands[mc.bands["metric"] == "impact"]
    assert yearly["p10"].sum() == pytest.approx(-z10 * (10 + 10 * np.sqrt(2)), abs=1.0)
    assert band["p10"] - yearly["p10"].sum() > 1.2  # the old "sum of yearly P10s" is measurably wider


def test_recompute_with_monte_carlo_is_fast_for_a_district_sized_input() -> None:
    rng = np.random.default_rng(0)
    tools = [ToolLine(f"t{i}", f"Tool {i}", seats=float(rng.integers(50, 3000)), annual_cost=float(rng.uniform(1e3, 1e5)),
                      peak_active=float(rng.integers(10, 50)), effect=float(rng.normal(0.1, 0.1)),
                      effect_ci=(-0.1, 0.3), students_at_dosage=20, roi_score=float(rng.uniform(0, 100)),
                      contracts=(ContractTerm(1.0, 0.03, pd.Timestamp("2026-07-01")),
                                 ContractTerm(2.0, 0.05, pd.Timestamp("2027-01-01"))))
             for i in range(40)]
    devices = [DeviceCohort("chromebook", 5, 300.0, pd.Timestamp(f"{2020 + i % 6}-08-{1 + i % 28:02d}"))
               for i in range(400)]
    inputs = BudgetInputs(tools=tools, devices=devices, funding=[FundingLine("general", 2026, 1e6)], current_fy=2026)
    sc = Scenario(horizon_years=5, levers=Levers(right_size_all=True, sunset_below_roi=20))
    simulate_budget(inputs, sc)  # warm
    start = time.perf_counter()
    project_budget(inputs, sc)
    savings_by_lever(inputs, sc)
    simulate_budget(inputs, sc)
    assert time.perf_counter() - start < 2.0  # generous on a shared 2-core box; bench targets < 200 ms


def test_inputs_from_district_and_scoreboard() -> None:
    licenses = conform_frame("licenses", pd.DataFrame({
        "tool_id": ["m", "m", "r"], "school_id": ["s1", "s2", None], "seats": [60, 40, 200],
        "annual_cost": [6000.0, 4000.0, 4000.0], "start_date": ["2025-07-01"] * 3, "end_date": ["2026-06-30"] * 3,
        "funding_source": ["title_i", "general", "esser"], "price_escalator_pct": [0.05, 0.05, None],
        "auto_renew": [True, True, False], "pd_hours": [None, None, 4.0], "pd_cost": [500.0, None, None],
        "internal_cost": [None, None, 250.0]}))
    devices = conform_frame("devices", pd.DataFrame({
        "device_id": ["d1", "d2", "d3", "d4"], "device_type": ["chromebook"] * 4,
        "purchase_date": ["2021-08-01", "2021-08-01", "2023-08-01", "2021-08-01"],
        "purchase_cost": [300.0, 300.0, 320.0, 300.0], "school_id": ["s1"] * 4,
        "status": ["active", "active", "active", "retired"],
        "auto_update_expiration": ["2027-06-01", "2027-06-01", None, "2027-06-01"],
        "assigned_student_id": [None] * 4, "model": [None] * 4}))
    funding = conform_frame("funding", pd.DataFrame({
        "fiscal_year": [2026], "source": ["esser"], "amount": [9000.0], "restricted_to": ["licenses"],
        "expires": ["2026-09-30"]}))
    district = District(licenses=licenses, devices=devices, funding=funding, fixed_as_of=pd.Timestamp("2026-06-07"))
    board = pd.DataFrame({"tool_id": ["m", "r", "u"], "tool_name": ["Math", "Read", "Unlicensed"],
                          "seats": [100, 200, 0], "annual_cost": [10000.0, 4000.0, 0.0], "peak_active_30d": [70, 120, 5],
                          "effect_size": [0.2, None, None], "effect_ci_low": [0.1, None, None],
                          "effect_ci_high": [0.3, None, None], "dosage_met": [50, 0, 3], "roi_score": [75.0, 20.0, 5.0],
                          "p_above": [0.9, None, None], "p_below": [0.01, None, None]})
    lines = {t.tool_id: t for t in tool_lines_from_board(board, licenses)}
    assert set(lines) == {"m", "r"}  # an unlicensed tool has nothing to budget
    m, r = lines["m"], lines["r"]
    assert [c.annual_cost for c in m.contracts] == [6000.0, 4000.0]
    assert {c.renews_on for c in m.contracts} == {pd.Timestamp("2026-07-01")}
    assert m.funding_source == "title_i" and r.funding_source == "esser"
    assert m.pd_cost == 500.0 and r.pd_cost == pytest.approx(4 * rules.PD_HOURLY_RATE)  # hours x the shared rate
    assert r.other_cost == 250.0 and r.contracts[0].escalator is None
    assert m.effect_ci == (0.1, 0.3) and r.effect is None and m.students_at_dosage == 50
    assert (m.p_above, m.p_below) == (0.9, 0.01) and r.p_below is None
    cohorts = device_cohorts(devices)
    assert sorted((c.purchase_date.year, c.count, c.aue) for c in cohorts) == [
        (2021, 2, pd.Timestamp("2027-06-01")), (2023, 1, None)]
    inputs = inputs_from_district(district, board)
    assert (inputs.current_fy, inputs.first_fy) == (2026, 2027)
    assert [f.source for f in inputs.funding] == ["esser"]
    assert project_budget(inputs_from_district(District()), Scenario(horizon_years=2)).by_year["total_spend"].sum() == 0


# ---------------------------------------------------------------- acceptance on the sample district

@pytest.fixture(scope="module")
def sample_inputs_and_board():
    from edtech.roi.engine import score_tools
    from edtech.sample.generate import generate_district
    from edtech.services.budget import budget_inputs

    district = generate_district(n_students=6000, seed=2025).district
    board = score_tools(district)
    return budget_inputs(district, board), board


def test_sample_right_size_everything_equals_the_shared_rule(sample_inputs_and_board) -> None:
    inputs, board = sample_inputs_and_board
    expected = sum(rules.right_size_savings(t.seats, t.peak_active, t.annual_cost, rules.RIGHT_SIZE_BUFFER)
                   for t in inputs.tools)
    assert expected > 0
    if "right_size_savings" in board.columns:  # the ROI reasons quote the same figure
        assert float(board["right_size_savings"].fillna(0).sum()) == pytest.approx(expected, abs=CENT)
    flat = replace(inputs, tools=[replace(t, contracts=tuple(replace(c, escalator=0.0) for c in t.contracts))
                                  for t in inputs.tools])
    sc = Scenario(horizon_years=3, levers=Levers(right_size_all=True))
    assert project_budget(flat, sc).summary["year1_savings"] == pytest.approx(expected, abs=CENT)
    # with the contracts' escalators (4-7%, all renewing 2026-07-01): year k pays each tool's (1 + e)^k
    savings = project_budget(inputs, sc).by_year["savings"].to_numpy()
    for k, value in enumerate(savings, start=1):
        by_hand = sum(rules.right_size_savings(t.seats, t.peak_active, t.annual_cost) *
                      sum(c.annual_cost * (1 + c.escalator) ** k for c in t.contracts) /
                      sum(c.annual_cost for c in t.contracts) for t in inputs.tools)
        assert value == pytest.approx(by_hand, abs=CENT)


def test_sample_esser_cliff_opens_a_gap_in_fy2028(sample_inputs_and_board) -> None:
    inputs, _ = sample_inputs_and_board
    p = project_budget(inputs, Scenario(horizon_years=3))
    assert p.years == [2027, 2028, 2029]
    src = p.by_source.set_index(["fiscal_year", "source"])
    assert src.loc[(2027, "esser"), "available"] > 0
    assert src.loc[(2028, "esser"), "available"] == 0
    assert src.loc[(2028, "esser"), "shortfall"] > 0  # ESSER-funded tools still cost money
    early = project_budget(inputs, scenario_from_dict(
        {"horizon_years": 3, "levers": {"funding_changes": [{"source": "esser", "ends_after": 2026}]}}))
    assert early.by_source.set_index(["fiscal_year", "source"]).loc[(2027, "esser"), "available"] == 0
    assert early.summary["total_gap"] >= p.summary["total_gap"]


def test_sample_optimizer_stays_under_each_years_cap_and_never_sunsets_on_noise(sample_inputs_and_board) -> None:
    from edtech.budget.optimize import decision_probabilities, optimize_plan

    inputs, board = sample_inputs_and_board
    plan = optimize_plan(inputs, Scenario(horizon_years=3), cut_share=0.10)
    assert plan.feasible and plan.years == [2027, 2028, 2029]
    assert (plan.by_year["plan"] <= plan.by_year["cap"] + 1e-6).all()
    assert plan.by_year["cap"].to_numpy() == pytest.approx(0.9 * plan.by_year["baseline"].to_numpy())
    t = plan.table.set_index("tool_id")
    # tools whose CI includes 0 (AlgebraForge's negative estimate) are not sunset for harm, and neither is a tool
    # whose effect is negative but probably smaller than the threshold (Lexicon Lane: P(effect < -t) < 80%)
    includes_zero = board[(board["effect_ci_low"] < 0) & (board["effect_ci_high"] > 0)]["tool_id"].tolist()
    assert len(includes_zero) >= 1
    small_harm = [x.tool_id for x in inputs.tools if x.effect is not None and not pd.isna(x.effect) and x.effect < 0
                  and decision_probabilities(x)[2] < 0.8]
    assert set(includes_zero) <= set(small_harm) and len(small_harm) >= 2
    for tool_id in small_harm:
        assert not t.loc[tool_id, "likely_harm"]
        assert t.loc[tool_id, "option"] != "sunset" or "to meet the cap" in t.loc[tool_id, "explanation"]
        assert decision_probabilities(next(x for x in inputs.tools if x.tool_id == tool_id))[2] < 0.8
    # the plan says how far under the cap it lands and why (right-sizing idle seats alone saves more than 10%)
    under = plan.cap - plan.total_cost
    assert under > 0 and "under the cap" in plan.why and "right-sizing idle seats saves" in plan.why
    right_sized = project_budget(inputs, Scenario(horizon_years=3, levers=plan.to_levers()))
    assert right_sized.by_tool["total"].sum() == pytest.approx(plan.total_cost)


def test_exports_carry_every_scenario_and_the_horizon_bands() -> None:
    import io

    from edtech.services.budget import comparison_table, run_scenario, to_csv_bytes, to_excel_bytes

    inputs = three_year_inputs()
    results = [run_scenario(inputs, three_year_scenario().baseline(), draws=300),
               run_scenario(inputs, three_year_scenario(), draws=300)]
    table = comparison_table(results).set_index("scenario")
    band = results[1].bands.horizon_band("spend")
    assert table.loc["Trim math", "spend_p10"] == band["p10"] and table.loc["Trim math", "spend_p90"] == band["p90"]
    assert table.loc["Trim math", "years"] == "FY2027–FY2029"
    csv = pd.read_csv(io.BytesIO(to_csv_bytes(results)))
    assert list(csv["scenario"].unique()) == ["Baseline", "Trim math"] and len(csv) == 6
    book = pd.read_excel(io.BytesIO(to_excel_bytes(results)), sheet_name=None)
    assert {"Summary", "By year", "S2 uncertainty", "Scenarios"} <= set(book)
    horizon = book["S2 uncertainty"]
    assert (horizon["fiscal_year"].astype(str) == "horizon").sum() == 3  # spend, impact, gap totals
