"""Budget scenarios (methods.md §5): a scenario is data, a projection is a pure function of it.

`project_budget(inputs, scenario)` turns `BudgetInputs` (tool lines, device cohorts, funding,
PD) and a `Scenario` (horizon, assumptions, levers) into per-fiscal-year spend by category and
by funding source, available funding, the gap, savings vs the baseline (same assumptions, no
levers), students served at dosage and expected impact (Σ effect × students at dosage).

Conventions (shown in the app's "how this is computed"):
- Fiscal year 2026 = July 2025 – June 2026. Year 1 of a projection is priced at today's contract
  cost; each later year applies the tool's escalator (its own contract escalator, else the
  scenario default of 3%) once per year.
- Enrollment change g is compounded per year and scales per-student things: seats (so license
  cost) and students served. Devices, PD and staff time are held flat.
- Devices are annualized with the capital recovery factor over their useful life = refresh cycle,
  capped at the years to the device's AUE date; a cohort is refreshed (a "wave") in the first
  year its age reaches that life, at its purchase price (× the device price change per year).
- Funding: a row for (source, year) is available as given unless the source expired before the
  year began; after a source's last row it is rolled forward flat, pro-rated to the share of the
  year before it expires (the grant "cliff"). Gap = spend − available funding (> 0 = shortfall).
- Right-size: seats → min(seats, ceil(peak_active_30d × (1 + buffer))). Sunset: the tool's
  license, PD and staff-time lines stop from year 1. Expand: extra seats (from chosen schools ×
  grades of the enrollment table) at the tool's cost per seat, reaching dosage at the tool's
  current rate (students at dosage / seats).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd

from edtech.core.district import District
from edtech.roi.engine import (
    capital_recovery_factor,  # one definition for ROI and budgets
    current_licenses,
)

SPEND_CATEGORIES = ("licenses", "devices", "pd", "other")
DEFAULT_SOURCE = "general"
FISCAL_YEAR_START_MONTH = 7
MAX_HORIZON = 5
PD_HOURLY_RATE = 50.0  # loaded rate for PD hours recorded without a cost (as the ROI engine)


class ScenarioError(ValueError):
    """A scenario spec that cannot be projected (message says what to fix)."""


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolLine:
    """One licensed tool, as the budget needs it (narrow view of an ROI row + its license)."""

    tool_id: str
    name: str
    seats: float
    annual_cost: float
    category: str = ""
    peak_active: float = 0.0
    effect: float | None = None  # effect size (SD) of students at dosage; None = not estimated
    effect_ci: tuple[float, float] | None = None  # 95% CI of `effect`
    students_at_dosage: float = 0.0
    roi_score: float | None = None
    escalator: float | None = None  # contract escalator; None = scenario default
    funding_source: str = DEFAULT_SOURCE
    pd_cost: float = 0.0  # training tied to the contract, per year
    other_cost: float = 0.0  # internal staff time tied to the contract, per year

    @property
    def cost_per_seat(self) -> float:
        return self.annual_cost / self.seats if self.seats > 0 else 0.0

    @property
    def idle_license_value(self) -> float:
        return max(0.0, self.seats - self.peak_active) * self.cost_per_seat

    @property
    def dosage_rate(self) -> float:
        """Students at dosage per licensed seat: how expansion seats are expected to perform."""
        return min(1.0, self.students_at_dosage / self.seats) if self.seats > 0 else 0.0


@dataclass(frozen=True)
class DeviceCohort:
    """Devices bought in the same fiscal year, of one type and price, sharing an AUE year."""

    device_type: str
    count: int
    unit_cost: float
    purchase_fy: int
    aue_fy: int | None = None  # fiscal year the auto-update expiration falls in
    funding_source: str = DEFAULT_SOURCE


@dataclass(frozen=True)
class FundingLine:
    source: str
    fiscal_year: int
    amount: float
    restricted_to: str | None = None
    expires: pd.Timestamp | None = None


@dataclass
class BudgetInputs:
    """Everything a projection needs, already reduced from the district tables."""

    tools: list[ToolLine] = field(default_factory=list)
    devices: list[DeviceCohort] = field(default_factory=list)
    funding: list[FundingLine] = field(default_factory=list)
    pd_base: float = 0.0  # PD not tied to a contract, per year (trailing 12 months of sessions)
    current_fy: int = 2026
    # students per (school_id, grade_level): resolves "expand tool X to schools/grades"
    enrollment: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"school_id": [], "grade_level": [], "students": []})
    )

    @property
    def is_empty(self) -> bool:
        return not self.tools and not self.devices and not self.funding and self.pd_base == 0


# ---------------------------------------------------------------------------------------------
# Scenario (data <-> JSON dict)
# ---------------------------------------------------------------------------------------------


@dataclass
class Assumptions:
    """Facts about the world: the baseline shares them, so they do not count as savings."""

    escalator: float = 0.03  # default price escalator for contracts without their own
    discount_rate: float = 0.03  # r of the capital recovery factor
    refresh_cycle_years: int = 5  # baseline device life (capped by AUE)
    enrollment_change: float = 0.0  # per year, compounded
    device_price_change: float = 0.0  # per year, applied to refreshed devices
    device_cost_basis: str = "annualized"  # or "cash" (refresh waves paid in the year they happen)
    escalator_sd: float = 0.02  # Monte Carlo spread of each tool's escalator
    enrollment_sd: float = 0.01  # Monte Carlo spread of the yearly enrollment change


@dataclass
class Expansion:
    tool_id: str
    schools: list[str] = field(default_factory=list)  # empty = every school
    grades: list[str] = field(default_factory=list)  # empty = every grade
    extra_seats: int | None = None  # given directly, else counted from the enrollment table
    start_fiscal_year: int | None = None  # None = year 1


@dataclass
class OneOffPurchase:
    name: str
    fiscal_year: int
    amount: float
    category: str = "other"
    funding_source: str = DEFAULT_SOURCE


@dataclass
class Levers:
    """Decisions: whatever differs from the baseline because someone chose it."""

    right_size_all: bool = False
    right_size_tools: list[str] = field(default_factory=list)
    right_size_buffer: float = 0.0  # seats = peak_active_30d × (1 + buffer)
    sunset_below_roi: float | None = None
    sunset_tools: list[str] = field(default_factory=list)
    must_keep: list[str] = field(default_factory=list)  # never sunset (also for the optimizer)
    expansions: list[Expansion] = field(default_factory=list)
    refresh_cycle_years: int | None = None  # None = the assumption
    one_off_purchases: list[OneOffPurchase] = field(default_factory=list)
    pd_investment_per_year: float = 0.0

    @property
    def is_baseline(self) -> bool:
        return self == Levers()


@dataclass
class Scenario:
    name: str = "Scenario"
    horizon_years: int = 3
    start_fiscal_year: int | None = None  # None = the inputs' current fiscal year
    assumptions: Assumptions = field(default_factory=Assumptions)
    levers: Levers = field(default_factory=Levers)

    def baseline(self) -> Scenario:
        return replace(self, name="Baseline", levers=Levers())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Scenario:
        return scenario_from_dict(spec)


def _check_keys(where: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")


def _number(where: str, value: Any, *, lo: float | None = None, hi: float | None = None,
            integer: bool = False, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"{where} must be a number, got {value!r}")
    if integer:
        if float(value) != int(value):
            raise ScenarioError(f"{where} must be a whole number, got {value!r}")
        value = int(value)
    if lo is not None and value < lo:
        raise ScenarioError(f"{where} must be ≥ {lo}, got {value}")
    if hi is not None and value > hi:
        raise ScenarioError(f"{where} must be ≤ {hi}, got {value}")
    return value


def _str_list(where: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, (str, int)) for v in value):
        raise ScenarioError(f"{where} must be a list of ids")
    return [str(v) for v in value]


def _dict(where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"{where} must be an object, got {type(value).__name__}")
    return value


def scenario_from_dict(spec: dict[str, Any]) -> Scenario:
    """Validate a JSON-like dict and build a Scenario; raises ScenarioError with a clear message."""
    spec = _dict("scenario", spec)
    _check_keys("scenario", spec, {f.name for f in fields(Scenario)})
    a = _dict("assumptions", spec.get("assumptions"))
    _check_keys("assumptions", a, {f.name for f in fields(Assumptions)})
    d = Assumptions()
    basis = a.get("device_cost_basis", d.device_cost_basis)
    if basis not in ("annualized", "cash"):
        raise ScenarioError(f"assumptions.device_cost_basis must be 'annualized' or 'cash', got {basis!r}")
    assumptions = Assumptions(
        escalator=_number("assumptions.escalator", a.get("escalator", d.escalator), lo=-0.5, hi=1.0),
        discount_rate=_number("assumptions.discount_rate", a.get("discount_rate", d.discount_rate), lo=0, hi=1.0),
        refresh_cycle_years=_number("assumptions.refresh_cycle_years",
                                    a.get("refresh_cycle_years", d.refresh_cycle_years), lo=1, hi=20, integer=True),
        enrollment_change=_number("assumptions.enrollment_change",
                                  a.get("enrollment_change", d.enrollment_change), lo=-0.5, hi=0.5),
        device_price_change=_number("assumptions.device_price_change",
                                    a.get("device_price_change", d.device_price_change), lo=-0.5, hi=1.0),
        device_cost_basis=basis,
        escalator_sd=_number("assumptions.escalator_sd", a.get("escalator_sd", d.escalator_sd), lo=0, hi=0.5),
        enrollment_sd=_number("assumptions.enrollment_sd", a.get("enrollment_sd", d.enrollment_sd), lo=0, hi=0.5),
    )
    lv = _dict("levers", spec.get("levers"))
    _check_keys("levers", lv, {f.name for f in fields(Levers)})
    expansions = []
    for i, e in enumerate(lv.get("expansions") or []):
        e = _dict(f"levers.expansions[{i}]", e)
        _check_keys(f"levers.expansions[{i}]", e, {f.name for f in fields(Expansion)})
        if not e.get("tool_id"):
            raise ScenarioError(f"levers.expansions[{i}].tool_id is required")
        expansions.append(Expansion(
            tool_id=str(e["tool_id"]),
            schools=_str_list(f"levers.expansions[{i}].schools", e.get("schools")),
            grades=_str_list(f"levers.expansions[{i}].grades", e.get("grades")),
            extra_seats=_number(f"levers.expansions[{i}].extra_seats", e.get("extra_seats"), lo=0,
                                integer=True, optional=True),
            start_fiscal_year=_number(f"levers.expansions[{i}].start_fiscal_year", e.get("start_fiscal_year"),
                                      lo=1900, hi=2200, integer=True, optional=True),
        ))
    purchases = []
    for i, p in enumerate(lv.get("one_off_purchases") or []):
        p = _dict(f"levers.one_off_purchases[{i}]", p)
        _check_keys(f"levers.one_off_purchases[{i}]", p, {f.name for f in fields(OneOffPurchase)})
        category = p.get("category", "other")
        if category not in SPEND_CATEGORIES:
            raise ScenarioError(f"levers.one_off_purchases[{i}].category must be one of {', '.join(SPEND_CATEGORIES)}")
        purchases.append(OneOffPurchase(
            name=str(p.get("name") or f"purchase {i + 1}"),
            fiscal_year=_number(f"levers.one_off_purchases[{i}].fiscal_year", p.get("fiscal_year"),
                                lo=1900, hi=2200, integer=True),
            amount=_number(f"levers.one_off_purchases[{i}].amount", p.get("amount"), lo=0),
            category=category,
            funding_source=str(p.get("funding_source") or DEFAULT_SOURCE),
        ))
    dl = Levers()
    levers = Levers(
        right_size_all=bool(lv.get("right_size_all", False)),
        right_size_tools=_str_list("levers.right_size_tools", lv.get("right_size_tools")),
        right_size_buffer=_number("levers.right_size_buffer", lv.get("right_size_buffer", dl.right_size_buffer),
                                  lo=0, hi=5),
        sunset_below_roi=_number("levers.sunset_below_roi", lv.get("sunset_below_roi"), lo=0, hi=100,
                                 optional=True),
        sunset_tools=_str_list("levers.sunset_tools", lv.get("sunset_tools")),
        must_keep=_str_list("levers.must_keep", lv.get("must_keep")),
        expansions=expansions,
        refresh_cycle_years=_number("levers.refresh_cycle_years", lv.get("refresh_cycle_years"), lo=1, hi=20,
                                    integer=True, optional=True),
        one_off_purchases=purchases,
        pd_investment_per_year=_number("levers.pd_investment_per_year", lv.get("pd_investment_per_year", 0.0),
                                       lo=0),
    )
    return Scenario(
        name=str(spec.get("name") or "Scenario"),
        horizon_years=_number("horizon_years", spec.get("horizon_years", 3), lo=1, hi=MAX_HORIZON, integer=True),
        start_fiscal_year=_number("start_fiscal_year", spec.get("start_fiscal_year"), lo=1900, hi=2200,
                                  integer=True, optional=True),
        assumptions=assumptions,
        levers=levers,
    )


# ---------------------------------------------------------------------------------------------
# Small formulas
# ---------------------------------------------------------------------------------------------


def fiscal_year_of(date: pd.Timestamp) -> int:
    """Fiscal year a date falls in (FY2026 = July 2025 – June 2026)."""
    date = pd.Timestamp(date)
    return date.year + 1 if date.month >= FISCAL_YEAR_START_MONTH else date.year


def fiscal_year_bounds(fy: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first day, first day of the next fiscal year)."""
    start = pd.Timestamp(year=fy - 1, month=FISCAL_YEAR_START_MONTH, day=1)
    return start, pd.Timestamp(year=fy, month=FISCAL_YEAR_START_MONTH, day=1)


def _share_of_year_before(expires: pd.Timestamp | None, fy: int) -> float:
    """Share of fiscal year `fy` that falls on or before `expires` (1 when it never expires)."""
    if expires is None or pd.isna(expires):
        return 1.0
    start, end = fiscal_year_bounds(fy)
    available_until = pd.Timestamp(expires) + pd.Timedelta(days=1)  # the expiry day itself still counts
    return float(np.clip((available_until - start) / (end - start), 0.0, 1.0))


# ---------------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------------


@dataclass
class ToolArrays:
    """Per tool × year quantities before enrollment and escalator factors (for MC and the optimizer)."""

    tool_ids: list[str]
    action: list[str]
    seats: np.ndarray  # T × Y, licensed seats at year-1 enrollment
    dosage: np.ndarray  # T × Y, students at dosage at year-1 enrollment
    cost_per_seat: np.ndarray  # T
    escalator: np.ndarray  # T
    fixed_cost: np.ndarray  # T × Y, PD + staff time tied to the contract
    pd_cost: np.ndarray  # T × Y
    other_cost: np.ndarray  # T × Y
    effect: np.ndarray  # T, 0 where not estimated
    effect_se: np.ndarray  # T, 0 where not estimated


@dataclass
class Projection:
    """What a scenario costs and buys, per fiscal year (money in dollars, unrounded)."""

    scenario: Scenario
    years: list[int]
    by_year: pd.DataFrame  # fiscal_year, licenses, devices, pd, other, total_spend, available_funding, gap, ...
    by_source: pd.DataFrame  # fiscal_year, source, spend, available, shortfall
    by_tool: pd.DataFrame  # tool_id, tool_name, fiscal_year, action, seats, license_spend, pd, other, ...
    summary: dict[str, float]


def _years(inputs: BudgetInputs, scenario: Scenario) -> list[int]:
    start = scenario.start_fiscal_year or inputs.current_fy
    return [start + k for k in range(scenario.horizon_years)]


def expansion_seats(inputs: BudgetInputs, expansion: Expansion) -> int:
    """Extra seats an expansion buys: given directly, else students in the chosen schools × grades."""
    if expansion.extra_seats is not None:
        return int(expansion.extra_seats)
    enrol = inputs.enrollment
    if enrol is None or len(enrol) == 0:
        return 0
    mask = np.ones(len(enrol), dtype=bool)
    if expansion.schools:
        mask &= enrol["school_id"].astype(str).isin(expansion.schools).to_numpy()
    if expansion.grades:
        mask &= enrol["grade_level"].astype(str).isin(expansion.grades).to_numpy()
    return int(enrol.loc[mask, "students"].sum())


def right_sized_seats(tool: ToolLine, buffer: float) -> float:
    """min(seats, ceil(peak × (1 + buffer))): right-sizing never adds seats."""
    target = math.ceil(round(tool.peak_active * (1.0 + buffer), 9))
    return float(min(tool.seats, target))


def sunset_set(inputs: BudgetInputs, levers: Levers) -> set[str]:
    keep = set(levers.must_keep)
    out = set(levers.sunset_tools)
    if levers.sunset_below_roi is not None:
        out |= {t.tool_id for t in inputs.tools
                if t.roi_score is not None and not pd.isna(t.roi_score) and t.roi_score < levers.sunset_below_roi}
    return out - keep


def tool_arrays(inputs: BudgetInputs, scenario: Scenario, actions: dict[str, str] | None = None) -> ToolArrays:
    """Seats, dosage and costs per tool × year under the scenario's levers (or explicit `actions`).

    `actions` maps tool_id -> keep | right_size | expand | sunset (the optimizer's options);
    without it the actions follow the levers (a tool may be both right-sized and expanded).
    """
    years = _years(inputs, scenario)
    n_tools, n_years = len(inputs.tools), len(years)
    levers, assume = scenario.levers, scenario.assumptions
    seats = np.zeros((n_tools, n_years))
    dosage = np.zeros((n_tools, n_years))
    pd_cost = np.zeros((n_tools, n_years))
    other_cost = np.zeros((n_tools, n_years))
    cps = np.zeros(n_tools)
    esc = np.zeros(n_tools)
    effect = np.zeros(n_tools)
    effect_se = np.zeros(n_tools)
    action_names: list[str] = []
    sunset = sunset_set(inputs, levers)
    right_size = {t.tool_id for t in inputs.tools} if levers.right_size_all else set(levers.right_size_tools)
    expansions: dict[str, list[Expansion]] = {}
    for e in levers.expansions:
        expansions.setdefault(e.tool_id, []).append(e)
    year_arr = np.array(years)
    for i, tool in enumerate(inputs.tools):
        cps[i] = tool.cost_per_seat
        esc[i] = tool.escalator if tool.escalator is not None and not pd.isna(tool.escalator) else assume.escalator
        if tool.effect is not None and not pd.isna(tool.effect):
            effect[i] = tool.effect
            if tool.effect_ci is not None and all(not pd.isna(c) for c in tool.effect_ci):
                effect_se[i] = max(0.0, (tool.effect_ci[1] - tool.effect_ci[0]) / (2 * 1.959963984540054))
        if actions is not None:
            act = actions.get(tool.tool_id, "keep")
            do_sunset, do_right, tool_expansions = act == "sunset", act == "right_size", (
                expansions.get(tool.tool_id, []) if act == "expand" else [])
        else:
            do_sunset = tool.tool_id in sunset
            do_right = tool.tool_id in right_size
            tool_expansions = expansions.get(tool.tool_id, [])
            act = "sunset" if do_sunset else "+".join(
                [a for a, on in (("right_size", do_right), ("expand", bool(tool_expansions))) if on]) or "keep"
        action_names.append(act)
        if do_sunset:
            continue
        base_seats = right_sized_seats(tool, levers.right_size_buffer) if do_right else float(tool.seats)
        seats[i, :] = base_seats
        dosage[i, :] = min(tool.students_at_dosage, base_seats)
        pd_cost[i, :] = tool.pd_cost
        other_cost[i, :] = tool.other_cost
        for e in tool_expansions:
            extra = expansion_seats(inputs, e)
            start = e.start_fiscal_year or years[0]
            on = year_arr >= start
            seats[i, on] += extra
            dosage[i, on] += extra * tool.dosage_rate
    return ToolArrays(
        tool_ids=[t.tool_id for t in inputs.tools], action=action_names, seats=seats, dosage=dosage,
        cost_per_seat=cps, escalator=esc, fixed_cost=pd_cost + other_cost, pd_cost=pd_cost,
        other_cost=other_cost, effect=effect, effect_se=effect_se,
    )


def license_spend(arrays: ToolArrays, enrollment_factor: np.ndarray, escalator: np.ndarray | None = None) -> np.ndarray:
    """seats × cost/seat × enrollment factor × (1 + escalator)^k; broadcasts over leading draw axes.

    enrollment_factor: (..., Y); escalator: (..., T) or None for the point values.
    """
    esc = arrays.escalator if escalator is None else escalator
    k = np.arange(arrays.seats.shape[1])
    price_factor = (1.0 + esc)[..., :, None] ** k  # (..., T, Y)
    return arrays.seats * arrays.cost_per_seat[:, None] * price_factor * enrollment_factor[..., None, :]


def enrollment_factors(change: float | np.ndarray, n_years: int) -> np.ndarray:
    """(1 + g)^k for k = 0..Y−1; g may be an array of draws (returns draws × Y)."""
    g = np.asarray(change, dtype=float)
    return (1.0 + g)[..., None] ** np.arange(n_years)


def _device_rows(inputs: BudgetInputs, scenario: Scenario) -> tuple[dict[int, dict[str, float]],
                                                                     dict[tuple[int, str], float]]:
    """Per fiscal year {annualized, refreshed, capital, spend} and spend by (year, funding source)."""
    years = _years(inputs, scenario)
    assume = scenario.assumptions
    cycle = scenario.levers.refresh_cycle_years or assume.refresh_cycle_years
    annualized_basis = assume.device_cost_basis == "annualized"
    rows = {y: {"annualized": 0.0, "refreshed": 0.0, "capital": 0.0, "spend": 0.0} for y in years}
    by_source: dict[tuple[int, str], float] = {}
    for c in inputs.devices:
        life = cycle
        if c.aue_fy is not None and c.aue_fy > c.purchase_fy:
            life = min(cycle, c.aue_fy - c.purchase_fy)  # no use after it stops getting updates
        generation_fy, unit_cost = c.purchase_fy, c.unit_cost
        for y in years:
            cash = 0.0
            if y - generation_fy >= life:  # refresh wave: replaced this year, new life = the cycle
                generation_fy, life = y, cycle
                unit_cost = c.unit_cost * (1.0 + assume.device_price_change) ** (y - c.purchase_fy)
                cash = c.count * unit_cost
                rows[y]["refreshed"] += c.count
                rows[y]["capital"] += cash
            annual = c.count * unit_cost * capital_recovery_factor(assume.discount_rate, life)
            rows[y]["annualized"] += annual
            charged = annual if annualized_basis else cash
            rows[y]["spend"] += charged
            by_source[(y, c.funding_source)] = by_source.get((y, c.funding_source), 0.0) + charged
    return rows, by_source


def device_schedule(inputs: BudgetInputs, scenario: Scenario) -> pd.DataFrame:
    """Per fiscal year: annualized device cost, refresh-wave device count and capital outlay, and
    `spend` (annualized, or the capital outlay on a cash basis)."""
    rows, by_source = _device_rows(inputs, scenario)
    out = pd.DataFrame([{"fiscal_year": y, **v} for y, v in rows.items()],
                       columns=["fiscal_year", "annualized", "refreshed", "capital", "spend"])
    out.attrs["by_source"] = by_source
    return out


def total_spend_by_year(inputs: BudgetInputs, scenario: Scenario) -> np.ndarray:
    """Total spend per fiscal year without building any frame (the waterfall's many projections)."""
    years = _years(inputs, scenario)
    levers = scenario.levers
    arrays = tool_arrays(inputs, scenario)
    ef = enrollment_factors(scenario.assumptions.enrollment_change, len(years))
    total = license_spend(arrays, ef).sum(axis=0) + arrays.fixed_cost.sum(axis=0)
    rows, _ = _device_rows(inputs, scenario)
    total = total + np.array([rows[y]["spend"] for y in years]) + inputs.pd_base + levers.pd_investment_per_year
    for p in levers.one_off_purchases:
        if p.fiscal_year in years:
            total[years.index(p.fiscal_year)] += p.amount
    return total


def available_funding(inputs: BudgetInputs, years: list[int]) -> pd.DataFrame:
    """Funding by source and fiscal year (long frame: fiscal_year, source, available)."""
    rows = []
    by_source: dict[str, list[FundingLine]] = {}
    for f in inputs.funding:
        by_source.setdefault(f.source, []).append(f)
    for source, lines in by_source.items():
        last_fy = max(f.fiscal_year for f in lines)
        for y in years:
            given = [f for f in lines if f.fiscal_year == y]
            if given:
                # expired before the year began = cannot be spent; otherwise as budgeted
                amount = sum(f.amount for f in given if _share_of_year_before(f.expires, y) > 0)
            elif y > last_fy:
                latest = [f for f in lines if f.fiscal_year == last_fy]
                amount = sum(f.amount * _share_of_year_before(f.expires, y) for f in latest)
            else:  # a year before the source's first row, or a gap between rows
                amount = 0.0
            rows.append({"fiscal_year": y, "source": source, "available": float(amount)})
    return pd.DataFrame(rows, columns=["fiscal_year", "source", "available"])


def _project_core(inputs: BudgetInputs, scenario: Scenario) -> dict[str, Any]:
    years = _years(inputs, scenario)
    n_years = len(years)
    assume, levers = scenario.assumptions, scenario.levers
    arrays = tool_arrays(inputs, scenario)
    ef = enrollment_factors(assume.enrollment_change, n_years)
    lic = license_spend(arrays, ef) if inputs.tools else np.zeros((0, n_years))
    dosage = arrays.dosage * ef[None, :]
    impact = arrays.effect[:, None] * dosage
    devices = device_schedule(inputs, scenario)
    spend = {
        "licenses": lic.sum(axis=0),
        "devices": devices["spend"].to_numpy(dtype=float),
        "pd": arrays.pd_cost.sum(axis=0) + inputs.pd_base + levers.pd_investment_per_year,
        "other": arrays.other_cost.sum(axis=0),
    }
    source_spend: dict[tuple[int, str], float] = {}

    def charge(y: int, source: str, amount: float) -> None:
        source_spend[(y, source)] = source_spend.get((y, source), 0.0) + float(amount)

    for i, tool in enumerate(inputs.tools):
        for j, y in enumerate(years):
            charge(y, tool.funding_source or DEFAULT_SOURCE, lic[i, j] + arrays.fixed_cost[i, j])
    for (y, source), amount in devices.attrs["by_source"].items():
        charge(y, source, amount)
    for y in years:
        charge(y, DEFAULT_SOURCE, inputs.pd_base + levers.pd_investment_per_year)
    for p in levers.one_off_purchases:
        if p.fiscal_year in years:
            j = years.index(p.fiscal_year)
            spend[p.category] = spend[p.category].copy()
            spend[p.category][j] += p.amount
            charge(p.fiscal_year, p.funding_source or DEFAULT_SOURCE, p.amount)
    funding = available_funding(inputs, years)
    by_year = pd.DataFrame({"fiscal_year": years, **{c: np.asarray(spend[c], dtype=float) for c in SPEND_CATEGORIES}})
    by_year["total_spend"] = by_year[list(SPEND_CATEGORIES)].sum(axis=1)
    avail = funding.groupby("fiscal_year")["available"].sum() if len(funding) else pd.Series(dtype=float)
    by_year["available_funding"] = by_year["fiscal_year"].map(avail).fillna(0.0).astype(float)
    by_year["gap"] = by_year["total_spend"] - by_year["available_funding"]
    by_year["students_at_dosage"] = dosage.sum(axis=0) if len(dosage) else 0.0
    by_year["expected_impact"] = impact.sum(axis=0) if len(impact) else 0.0
    by_year["devices_refreshed"] = devices["refreshed"].to_numpy().round().astype(int)
    by_year["device_capital_outlay"] = devices["capital"].to_numpy()

    src = pd.DataFrame([{"fiscal_year": y, "source": s, "spend": v} for (y, s), v in source_spend.items()],
                       columns=["fiscal_year", "source", "spend"])
    by_source = src.merge(funding, on=["fiscal_year", "source"], how="outer")
    by_source[["spend", "available"]] = by_source[["spend", "available"]].fillna(0.0)
    by_source["shortfall"] = (by_source["spend"] - by_source["available"]).clip(lower=0.0)
    by_source = by_source.sort_values(["fiscal_year", "source"]).reset_index(drop=True)

    tool_rows = []
    for i, tool in enumerate(inputs.tools):
        for j, y in enumerate(years):
            tool_rows.append({
                "tool_id": tool.tool_id, "tool_name": tool.name, "fiscal_year": y, "action": arrays.action[i],
                "seats": float(arrays.seats[i, j] * ef[j]), "license_spend": float(lic[i, j]),
                "pd": float(arrays.pd_cost[i, j]), "other": float(arrays.other_cost[i, j]),
                "total": float(lic[i, j] + arrays.fixed_cost[i, j]),
                "students_at_dosage": float(dosage[i, j]), "expected_impact": float(impact[i, j]),
                "funding_source": tool.funding_source,
            })
    by_tool = pd.DataFrame(tool_rows, columns=[
        "tool_id", "tool_name", "fiscal_year", "action", "seats", "license_spend", "pd", "other", "total",
        "students_at_dosage", "expected_impact", "funding_source"])
    return {"years": years, "by_year": by_year, "by_source": by_source, "by_tool": by_tool}


def project_budget(inputs: BudgetInputs, scenario: Scenario) -> Projection:
    """Project a scenario over its horizon and compare it with the baseline (same assumptions, no levers)."""
    if not 1 <= scenario.horizon_years <= MAX_HORIZON:
        raise ScenarioError(f"horizon_years must be 1–{MAX_HORIZON}, got {scenario.horizon_years}")
    core = _project_core(inputs, scenario)
    base = core if scenario.levers.is_baseline else _project_core(inputs, scenario.baseline())
    by_year = core["by_year"]
    by_year["baseline_spend"] = base["by_year"]["total_spend"].to_numpy()
    by_year["savings"] = by_year["baseline_spend"] - by_year["total_spend"]
    by_year["baseline_impact"] = base["by_year"]["expected_impact"].to_numpy()
    summary = {
        "total_spend": float(by_year["total_spend"].sum()),
        "baseline_spend": float(by_year["baseline_spend"].sum()),
        "total_savings": float(by_year["savings"].sum()),
        "year1_savings": float(by_year["savings"].iloc[0]),
        "total_available_funding": float(by_year["available_funding"].sum()),
        "total_gap": float(by_year["gap"].clip(lower=0).sum()),
        "years_with_gap": int((by_year["gap"] > 0.005).sum()),
        "expected_impact": float(by_year["expected_impact"].sum()),
        "baseline_impact": float(by_year["baseline_impact"].sum()),
        "students_at_dosage_year1": float(by_year["students_at_dosage"].iloc[0]),
    }
    return Projection(scenario=scenario, years=core["years"], by_year=by_year, by_source=core["by_source"],
                      by_tool=core["by_tool"], summary=summary)


LEVER_STEPS: tuple[tuple[str, str], ...] = (
    ("right_size", "Right-size seats"),
    ("sunset", "Sunset tools"),
    ("expand", "Expand tools"),
    ("refresh", "Device refresh cycle"),
    ("pd", "PD investment"),
    ("one_off", "One-off purchases"),
)


def _levers_up_to(levers: Levers, step: int) -> Levers:
    """The levers with only the first `step` groups of LEVER_STEPS switched on."""
    names = {name for name, _ in LEVER_STEPS[:step]}
    out = Levers(must_keep=list(levers.must_keep), right_size_buffer=levers.right_size_buffer)
    if "right_size" in names:
        out.right_size_all, out.right_size_tools = levers.right_size_all, list(levers.right_size_tools)
    if "sunset" in names:
        out.sunset_below_roi, out.sunset_tools = levers.sunset_below_roi, list(levers.sunset_tools)
    if "expand" in names:
        out.expansions = list(levers.expansions)
    if "refresh" in names:
        out.refresh_cycle_years = levers.refresh_cycle_years
    if "pd" in names:
        out.pd_investment_per_year = levers.pd_investment_per_year
    if "one_off" in names:
        out.one_off_purchases = list(levers.one_off_purchases)
    return out


def savings_by_lever(inputs: BudgetInputs, scenario: Scenario) -> pd.DataFrame:
    """Horizon savings attributed to each lever group, applied in order (they sum to total savings).

    Sequential attribution: each step's saving is measured with the earlier levers already on,
    so overlaps (e.g. right-sizing a tool that is later sunset) are counted once.
    """
    previous = float(total_spend_by_year(inputs, scenario.baseline()).sum())
    baseline_total = previous
    rows = []
    for step, (name, label) in enumerate(LEVER_STEPS, start=1):
        partial = replace(scenario, levers=_levers_up_to(scenario.levers, step))
        total = total_spend_by_year(inputs, partial).sum()
        rows.append({"lever": name, "label": label, "saving": float(previous - total)})
        previous = float(total)
    out = pd.DataFrame(rows)
    out.attrs["baseline_total"] = baseline_total
    out.attrs["scenario_total"] = previous
    return out


def projection_table(projection: Projection) -> pd.DataFrame:
    """The per-year table people read (rounded to cents), for CLI and downloads."""
    cols = ["fiscal_year", *SPEND_CATEGORIES, "total_spend", "available_funding", "gap", "baseline_spend",
            "savings", "students_at_dosage", "expected_impact", "devices_refreshed", "device_capital_outlay"]
    out = projection.by_year[cols].copy()
    money = [*SPEND_CATEGORIES, "total_spend", "available_funding", "gap", "baseline_spend", "savings",
             "device_capital_outlay"]
    out[money] = out[money].round(2)
    out[["students_at_dosage", "expected_impact"]] = out[["students_at_dosage", "expected_impact"]].round(1)
    return out


# ---------------------------------------------------------------------------------------------
# Building inputs from a District (+ the ROI engine's per-tool table)
# ---------------------------------------------------------------------------------------------


def _first(row: pd.Series, names: tuple[str, ...], default: Any = None) -> Any:
    for n in names:
        if n in row.index and not pd.isna(row[n]):
            return row[n]
    return default


def _license_summary(licenses: pd.DataFrame) -> pd.DataFrame:
    """Per tool: escalator (cost-weighted), main funding source, PD cost and staff time."""
    if licenses is None or len(licenses) == 0:
        return pd.DataFrame(columns=["tool_id", "seats", "annual_cost", "escalator", "funding_source",
                                     "pd_cost", "other_cost"])
    lic = licenses.copy()
    lic["tool_id"] = lic["tool_id"].astype(str)
    lic["annual_cost"] = lic["annual_cost"].astype(float).fillna(0.0)
    rows = []
    for tool_id, g in lic.groupby("tool_id", sort=True):
        cost = g["annual_cost"]
        esc = g["price_escalator_pct"].astype(float)
        has_esc = esc.notna()
        escalator = (float((esc[has_esc] * cost[has_esc]).sum() / cost[has_esc].sum())
                     if has_esc.any() and cost[has_esc].sum() > 0 else
                     (float(esc[has_esc].mean()) if has_esc.any() else None))
        src = g.assign(src=g["funding_source"].astype(object).where(g["funding_source"].notna(), DEFAULT_SOURCE))
        main_source = str(src.groupby("src")["annual_cost"].sum().idxmax()) if len(src) else DEFAULT_SOURCE
        rows.append({
            "tool_id": tool_id, "seats": float(g["seats"].sum()), "annual_cost": float(cost.sum()),
            "escalator": escalator, "funding_source": main_source,
            "pd_cost": float(g["pd_cost"].astype(float).fillna(0).sum()),
            "other_cost": float(g["internal_cost"].astype(float).fillna(0).sum()),
        })
    return pd.DataFrame(rows)


def tool_lines_from_roi(roi: pd.DataFrame, licenses: pd.DataFrame | None = None,
                        tools: pd.DataFrame | None = None) -> list[ToolLine]:
    """Adapter: the ROI engine's per-tool table (+ license details) → ToolLines.

    Accepts the column names the ROI engine may use (peak_active_30d / peak_active, students at
    dosage under a few spellings); license escalator, funding source, PD and staff time come from
    the licenses frame because they are contract facts, not ROI results.
    """
    lic = _license_summary(licenses).set_index("tool_id") if licenses is not None else pd.DataFrame()
    cats = {}
    if tools is not None and len(tools):
        cats = dict(zip(tools["tool_id"].astype(str), tools["category"], strict=False))
    lines = []
    for _, row in roi.iterrows():
        tool_id = str(row["tool_id"])
        lrow = lic.loc[tool_id] if tool_id in lic.index else None
        seats = float(_first(row, ("seats",), lrow["seats"] if lrow is not None else 0.0))
        annual_cost = float(_first(row, ("annual_cost", "license_cost"), lrow["annual_cost"] if lrow is not None else 0.0))
        if seats <= 0 and annual_cost <= 0:
            continue  # not licensed: nothing to budget
        low, high = _first(row, ("effect_ci_low",)), _first(row, ("effect_ci_high",))
        effect = _first(row, ("effect_size", "effect"))
        roi_score = _first(row, ("roi_score",))
        category = _first(row, ("category",), cats.get(tool_id, ""))
        lines.append(ToolLine(
            tool_id=tool_id,
            name=str(_first(row, ("tool_name", "name"), tool_id)),
            category="" if category is None else str(category),
            seats=seats,
            annual_cost=annual_cost,
            peak_active=float(_first(row, ("peak_active_30d", "peak_active", "peak_active_users"), 0.0)),
            effect=None if effect is None else float(effect),
            effect_ci=None if low is None or high is None else (float(low), float(high)),
            students_at_dosage=float(_first(row, ("students_at_dosage", "dosage_met_students", "dosage_met",
                                                  "n_dosage_met", "students_dosage_met"), 0.0)),
            roi_score=None if roi_score is None else float(roi_score),
            escalator=None if lrow is None or lrow["escalator"] is None or pd.isna(lrow["escalator"])
            else float(lrow["escalator"]),
            funding_source=str(lrow["funding_source"]) if lrow is not None else DEFAULT_SOURCE,
            # the ROI engine's ingredients (PD sessions in the contract window, else license PD) when given
            pd_cost=float(_first(row, ("pd_cost",), lrow["pd_cost"] if lrow is not None else 0.0)),
            other_cost=float(_first(row, ("internal_cost",), lrow["other_cost"] if lrow is not None else 0.0)),
        ))
    return lines


def peak_active_30d(usage: pd.DataFrame) -> pd.Series:
    """Per tool: max over weeks of distinct students active in the trailing 30 days (methods §1)."""
    if usage is None or len(usage) == 0:
        return pd.Series(dtype=float)
    active = usage[(usage["minutes"].astype(float) > 0) | (usage["sessions"].astype(float) > 0)]
    weeks = np.sort(active["week_start"].unique())
    out: dict[str, float] = {}
    for tool_id, g in active.groupby("tool_id", sort=False):
        best = 0
        for w in weeks:
            end = pd.Timestamp(w) + pd.Timedelta(days=6)
            window = g[(g["week_start"] > end - pd.Timedelta(days=30)) & (g["week_start"] <= end)]
            best = max(best, window["student_id"].nunique())
        out[str(tool_id)] = float(best)
    return pd.Series(out, dtype=float)


def tool_lines_from_licenses(district: District) -> list[ToolLine]:
    """Fallback when no ROI table is available: contract facts + peak use, no effects."""
    lic = _license_summary(current_licenses(district.licenses, district.as_of))
    if len(lic) == 0:
        return []
    peaks = peak_active_30d(district.usage)
    names = dict(zip(district.tools["tool_id"].astype(str), district.tools["tool_name"], strict=False))
    roi = lic.assign(tool_name=lic["tool_id"].map(names).fillna(lic["tool_id"]),
                     peak_active_30d=lic["tool_id"].map(peaks).fillna(0.0))
    return tool_lines_from_roi(roi[["tool_id", "tool_name", "seats", "annual_cost", "peak_active_30d"]],
                               current_licenses(district.licenses, district.as_of), district.tools)


def device_cohorts(devices: pd.DataFrame) -> list[DeviceCohort]:
    """Devices in service (not retired/lost) grouped by type, purchase year, price and AUE year."""
    if devices is None or len(devices) == 0:
        return []
    d = devices[~devices["status"].astype(object).isin(["retired", "lost"])].copy()
    d = d[d["purchase_date"].notna()]
    if len(d) == 0:
        return []
    d["purchase_fy"] = [fiscal_year_of(x) for x in d["purchase_date"]]
    d["aue_fy"] = [fiscal_year_of(x) if not pd.isna(x) else -1 for x in d["auto_update_expiration"]]
    d["unit_cost"] = d["purchase_cost"].astype(float).fillna(0.0).round(2)
    d["device_type"] = d["device_type"].astype(object).where(d["device_type"].notna(), "device")
    grouped = d.groupby(["device_type", "purchase_fy", "aue_fy", "unit_cost"], sort=True).size()
    return [DeviceCohort(device_type=str(t), count=int(n), unit_cost=float(c), purchase_fy=int(p),
                         aue_fy=None if a == -1 else int(a))
            for (t, p, a, c), n in grouped.items()]


def funding_lines(funding: pd.DataFrame) -> list[FundingLine]:
    if funding is None or len(funding) == 0:
        return []
    return [FundingLine(source=str(r.source), fiscal_year=int(r.fiscal_year), amount=float(r.amount),
                        restricted_to=None if pd.isna(r.restricted_to) else str(r.restricted_to),
                        expires=None if pd.isna(r.expires) else pd.Timestamp(r.expires))
            for r in funding.itertuples(index=False)]


def inputs_from_district(district: District, roi: pd.DataFrame | None = None) -> BudgetInputs:
    """Reduce a District (+ optional ROI table) to BudgetInputs."""
    as_of = district.as_of
    tools = (tool_lines_from_roi(roi, current_licenses(district.licenses, as_of), district.tools)
             if roi is not None and len(roi) else tool_lines_from_licenses(district))
    pd_sessions = district.pd_sessions
    # PD not tied to a licensed tool (tool trainings are in the tool's line and stop if it is sunset)
    tool_ids = {t.tool_id for t in tools}
    general = ~pd_sessions["tool_id"].astype(object).isin(tool_ids)
    recent = pd_sessions[general & (pd_sessions["date"] > as_of - pd.Timedelta(days=365))
                         & (pd_sessions["date"] <= as_of)]
    cost = recent["cost"].astype(float)
    pd_base = float(cost.where(cost.notna(), recent["hours"].astype(float).fillna(0.0) * PD_HOURLY_RATE).sum())
    students = district.students
    enrollment = (students.assign(school_id=students["school_id"].astype(str),
                                  grade_level=students["grade_level"].astype(str))
                  .groupby(["school_id", "grade_level"], sort=True).size().rename("students").reset_index()
                  if len(students) else BudgetInputs().enrollment)
    return BudgetInputs(tools=tools, devices=device_cohorts(district.devices), funding=funding_lines(district.funding),
                        pd_base=pd_base, current_fy=fiscal_year_of(as_of), enrollment=enrollment)
