"""Budget scenarios (methods.md section 5, v2): a scenario is data, a projection is a pure function of it.

`project_budget(inputs, scenario)` turns `BudgetInputs` (tool lines with their contracts, device
cohorts, funding, PD) and a `Scenario` (horizon, year 1, assumptions, levers) into per-fiscal-year
spend by category and by funding source, available funding, the gap, savings vs the baseline (same
assumptions, no levers), students served at dosage and expected impact (Σ effect × students at dosage).

Conventions (shown in the app's "how this is computed"):
- Fiscal year 2026 = July 2025 – June 2026. **Year 1 is the first fiscal year that starts after the
  data's as-of date** (the year a decision taken now can still change), unless the scenario names
  another `start_fiscal_year`.
- **Escalation compounds from each contract's own terms**, whatever year the scenario starts: a
  contract's annual cost holds until its end date; it renews the next day and every 12 months after
  at its own escalator (else the scenario's default, 3%). A fiscal year with a renewal inside it pays
  the old and the new price pro rata. A tool with several contracts (per school) prices each one.
- Enrollment change g compounds per year from the data's school year and scales per-student things:
  seats (so license cost) and students served. Devices, PD and staff time are held flat.
- Devices are annualized with the capital recovery factor (r = discount rate) over their useful
  life = the refresh cycle, capped at the device's auto-update expiration (AUE) date; a cohort is
  replaced (a "wave") in the fiscal year its life ends, at its purchase price × the device price change.
- Funding: a row for (source, year) is available as given unless the source expired before the year
  began; after a source's last row it is rolled forward flat, pro-rated to the share of the year
  before it expires (the grant "cliff"). Funding changes (a grant that ends early, a new amount)
  apply on top. Gap = spend − available funding (> 0 = shortfall).
- Right-size: seats → peak 30-day active users × (1 + buffer, default 10%), rounded up, never more
  than today's (`edtech.core.rules.right_size_seats`, the rule every surface uses), or to the seat count
  the director recorded (`right_size_seats`, never above today's). Sunset: the tool's
  license, PD and staff-time lines stop from year 1. Expand: extra seats (from chosen schools × grades of
  the enrollment table) at the tool's price per seat, reaching dosage at the tool's current rate.
"""

from __future__ import annotations

import math
import typing
from dataclasses import MISSING, Field, asdict, dataclass, field, fields, is_dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from edtech.core import rules
from edtech.core.district import District

SPEND_CATEGORIES = ("licenses", "devices", "pd", "other")
DEFAULT_SOURCE = "general"
FISCAL_YEAR_START_MONTH = 7
MAX_HORIZON = 5
FIRST_FY, LAST_FY = 1900, 2200  # the validator's range for fiscal years


class ScenarioError(ValueError):
    """A scenario spec that cannot be projected (message says what to fix)."""


# ---------------------------------------------------------------------------------------------
# Fiscal years
# ---------------------------------------------------------------------------------------------


def fiscal_year_of(date: pd.Timestamp) -> int:
    """Fiscal year a date falls in (FY2026 = July 2025 – June 2026)."""
    date = pd.Timestamp(date)
    return date.year + 1 if date.month >= FISCAL_YEAR_START_MONTH else date.year


def fiscal_year_bounds(fy: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[first day, first day of the next fiscal year)."""
    start = pd.Timestamp(year=fy - 1, month=FISCAL_YEAR_START_MONTH, day=1)
    return start, pd.Timestamp(year=fy, month=FISCAL_YEAR_START_MONTH, day=1)


def first_year_after(as_of: pd.Timestamp) -> int:
    """Year 1 by default (v2): the first fiscal year that starts after the as-of date."""
    return fiscal_year_of(as_of) + 1


def _share_of_year_before(expires: pd.Timestamp | None, fy: int) -> float:
    """Share of fiscal year `fy` that falls on or before `expires` (1 when it never expires)."""
    if expires is None or pd.isna(expires):
        return 1.0
    start, end = fiscal_year_bounds(fy)
    available_until = pd.Timestamp(expires) + pd.Timedelta(days=1)  # the expiry day itself still counts
    return float(np.clip((available_until - start) / (end - start), 0.0, 1.0))


@lru_cache(maxsize=4096)
def renewal_schedule(renews_on: pd.Timestamp, years: tuple[int, ...]) -> tuple[tuple[int, float], ...]:
    """Per fiscal year (n, s): renewals on or before the year's first day, and the share of the year that
    falls after a renewal inside it (0 when none). Renewals: `renews_on`, then every 12 months.

    The year's price factor at escalator e is (1 + e)^n × (1 + s·e): the old and the new price pro rata.
    """
    out = []
    renews_on = pd.Timestamp(renews_on).normalize()
    for fy in years:
        start, end = fiscal_year_bounds(fy)
        n = 0
        while renews_on + pd.DateOffset(years=n) <= start:
            n += 1
        nxt = renews_on + pd.DateOffset(years=n)
        share = float((end - nxt) / (end - start)) if nxt < end else 0.0
        out.append((n, share))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContractTerm:
    """One contract row of a tool: its annual cost holds until it renews at its own escalator."""

    annual_cost: float
    escalator: float | None = None  # None = the scenario's default escalator
    renews_on: pd.Timestamp | None = None  # end date + 1 day; None = start of the year after the data's


@dataclass(frozen=True)
class ToolLine:
    """One licensed tool, as the budget needs it (narrow view of a scoreboard row + its contracts)."""

    tool_id: str
    name: str
    seats: float
    annual_cost: float
    category: str = ""
    peak_active: float = 0.0  # peak 30-day active users (the scoreboard's contract-year peak)
    effect: float | None = None  # headline effect size (SD) of students at dosage; None = not estimated
    effect_ci: tuple[float, float] | None = None  # 95% CI of `effect`
    students_at_dosage: float = 0.0
    roi_score: float | None = None
    escalator: float | None = None  # contract escalator when `contracts` is empty; None = scenario default
    funding_source: str = DEFAULT_SOURCE
    pd_cost: float = 0.0  # training tied to the contract, per year
    other_cost: float = 0.0  # internal staff time tied to the contract, per year
    contracts: tuple[ContractTerm, ...] = ()  # the tool's contract rows (price shares and renewal terms)
    p_above: float | None = None  # decision probabilities from the scoreboard when it has them
    p_below: float | None = None

    @property
    def cost_per_seat(self) -> float:
        return self.annual_cost / self.seats if self.seats > 0 else 0.0

    @property
    def dosage_rate(self) -> float:
        """Students at dosage per licensed seat: how expansion seats are expected to perform."""
        return min(1.0, self.students_at_dosage / self.seats) if self.seats > 0 else 0.0

    def terms(self) -> tuple[ContractTerm, ...]:
        """The contracts that price this tool (one line-level contract when none are known)."""
        return self.contracts or (ContractTerm(self.annual_cost, self.escalator, None),)


@dataclass(frozen=True)
class DeviceCohort:
    """Devices in service of one type and price, bought on one date, sharing an AUE date."""

    device_type: str
    count: int
    unit_cost: float
    purchase_date: pd.Timestamp
    aue: pd.Timestamp | None = None  # auto-update expiration: no use after it
    funding_source: str = DEFAULT_SOURCE

    @property
    def purchase_fy(self) -> int:
        return fiscal_year_of(self.purchase_date)


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
    current_fy: int = 2026  # fiscal year the data's as-of date falls in (today's prices are for it)
    # students per (school_id, grade_level): resolves "expand tool X to schools/grades"
    enrollment: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame({"school_id": [], "grade_level": [], "students": []})
    )

    @property
    def first_fy(self) -> int:
        """Default year 1: the first fiscal year that starts after the data's as-of date."""
        return self.current_fy + 1

    @property
    def is_empty(self) -> bool:
        return not self.tools and not self.devices and not self.funding and self.pd_base == 0


# ---------------------------------------------------------------------------------------------
# Scenario: dataclasses whose field metadata is the validator's table and the JSON Schema's source
# ---------------------------------------------------------------------------------------------


def _f(default: Any = MISSING, *, doc: str, factory: Any = MISSING, lo: float | None = None,
       hi: float | None = None, enum: tuple[str, ...] | None = None, example: Any = None) -> Any:
    """A scenario field: its default, its description and its bounds (read by validator and schema)."""
    meta = {"doc": doc, "lo": lo, "hi": hi, "enum": enum, "example": example}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class Assumptions:
    """Facts about the world: the baseline shares them, so they do not count as savings."""

    escalator: float = _f(rules.DEFAULT_ESCALATOR, lo=-0.5, hi=1.0,
                          doc="Price escalator a year for contracts that name none (share: 0.03 = 3%).")
    discount_rate: float = _f(rules.DISCOUNT_RATE, lo=0.0, hi=1.0,
                              doc="r of the capital recovery factor that annualizes devices (share).")
    refresh_cycle_years: int = _f(int(rules.DEVICE_LIFE_YEARS), lo=1, hi=20,
                                  doc="Baseline device life in years (capped at each device's AUE date).")
    enrollment_change: float = _f(0.0, lo=-0.5, hi=0.5,
                                  doc="Enrollment change a year, compounded from the data's school year (share).")
    device_price_change: float = _f(0.0, lo=-0.5, hi=1.0,
                                    doc="Device price change a year, applied to refreshed devices (share).")
    device_cost_basis: str = _f("annualized", enum=("annualized", "cash"),
                                doc="'annualized' (capital recovery factor) or 'cash' (a refresh wave is paid "
                                    "in the year it happens).")
    escalator_sd: float = _f(0.02, lo=0.0, hi=0.5, doc="Monte Carlo spread (SD) of each tool's escalator.")
    enrollment_sd: float = _f(0.01, lo=0.0, hi=0.5, doc="Monte Carlo spread (SD) of the yearly enrollment change.")


@dataclass
class Expansion:
    """Buy a tool for more schools or grades."""

    tool_id: str = _f(doc="Tool to expand (a tool_id of the licenses table).", example="T01")
    schools: list[str] = _f(factory=list, doc="school_ids to add; empty = every school.")
    grades: list[str] = _f(factory=list, doc="grade levels to add (PK, K, 1..12); empty = every grade.")
    extra_seats: int | None = _f(None, lo=0, doc="Seats to add; null = the students of the chosen schools × "
                                                 "grades in the enrollment table.")
    start_fiscal_year: int | None = _f(None, lo=FIRST_FY, hi=LAST_FY, doc="First fiscal year of the new seats; "
                                                                          "null = year 1.")


@dataclass
class OneOffPurchase:
    """A purchase paid once, in one fiscal year."""

    name: str = _f(doc="What is bought.", example="Interactive panels")
    fiscal_year: int = _f(lo=FIRST_FY, hi=LAST_FY, doc="Fiscal year it is paid in (FY2027 = July 2026-June 2027).")
    amount: float = _f(lo=0.0, doc="Dollars.")
    category: str = _f("other", enum=SPEND_CATEGORIES, doc="Spend category it is counted in.")
    funding_source: str = _f(DEFAULT_SOURCE, doc="Funding source it is charged to.")


@dataclass
class FundingChange:
    """End or change a funding source: `ends_after` (last fiscal year it funds), or `amount` in `fiscal_year`."""

    source: str = _f(doc="Funding source, as in the funding table (e.g. esser, title_i); a new name adds a source.")
    fiscal_year: int | None = _f(None, lo=FIRST_FY, hi=LAST_FY,
                                 doc="With `amount`: the fiscal year whose funding it replaces (later years "
                                     "without a row on file roll it forward, as any last row).")
    amount: float | None = _f(None, lo=0.0, doc="With `fiscal_year`: the source's funding that year, in dollars.")
    ends_after: int | None = _f(None, lo=FIRST_FY, hi=LAST_FY,
                                doc="The source funds nothing after this fiscal year (e.g. ESSER ends a year early).")


@dataclass
class SeatTarget:
    """A tool right-sized to a chosen seat count (the director's recorded decision) instead of the rule's."""

    tool_id: str = _f(doc="Tool to right-size (a tool_id of the licenses table).", example="T01")
    seats: int = _f(lo=0, doc="Seats to keep (never more than today's).", example=120)


# exactly one of these groups of fields must be given (validator and JSON Schema both read this table)
ONE_OF: dict[type, tuple[tuple[str, ...], ...]] = {FundingChange: (("fiscal_year", "amount"), ("ends_after",))}


@dataclass
class Levers:
    """Decisions: whatever differs from the baseline because someone chose it."""

    right_size_all: bool = _f(False, doc="Right-size every tool to peak 30-day users × (1 + buffer).")
    right_size_tools: list[str] = _f(factory=list, doc="Tools to right-size (when right_size_all is false).")
    right_size_buffer: float = _f(rules.RIGHT_SIZE_BUFFER, lo=0.0, hi=5.0,
                                  doc="Buffer above peak use (share; 0.10 = 10%, the rule every surface uses).")
    right_size_seats: list[SeatTarget] = _f(factory=list,
                                            doc="Seat counts chosen per tool (a director's right-size to N seats): a "
                                                "right-sized tool listed here keeps these seats instead of the rule's.")
    sunset_below_roi: float | None = _f(None, lo=0.0, hi=100.0,
                                        doc="Sunset tools whose ROI score is below this (0-100); null = off.")
    sunset_tools: list[str] = _f(factory=list, doc="Tools to sunset from year 1.")
    must_keep: list[str] = _f(factory=list, doc="Tools never sunset (binding for the optimizer too).")
    expansions: list[Expansion] = _f(factory=list, doc="Tools bought for more schools or grades.")
    refresh_cycle_years: int | None = _f(None, lo=1, hi=20,
                                         doc="Device refresh cycle in years; null = the assumption.")
    one_off_purchases: list[OneOffPurchase] = _f(factory=list, doc="Purchases paid once.")
    pd_investment_per_year: float = _f(0.0, lo=0.0, doc="Extra professional learning, dollars a year.")
    funding_changes: list[FundingChange] = _f(factory=list, doc="Grants that end early or change amount.")

    @property
    def is_baseline(self) -> bool:
        return self == Levers()


@dataclass
class Scenario:
    """A budget what-if: horizon, year 1, assumptions (shared with the baseline) and levers (decisions)."""

    name: str = _f("Scenario", doc="Name shown beside the baseline.")
    horizon_years: int = _f(3, lo=1, hi=MAX_HORIZON, doc=f"Fiscal years projected (1-{MAX_HORIZON}).")
    start_fiscal_year: int | None = _f(None, lo=FIRST_FY, hi=LAST_FY,
                                       doc="Year 1; null = the first fiscal year that starts after the data's "
                                           "as-of date.")
    assumptions: Assumptions = _f(factory=Assumptions, doc="Facts about the world (shared with the baseline).")
    levers: Levers = _f(factory=Levers, doc="Decisions (cleared in the baseline).")

    def baseline(self) -> Scenario:
        return replace(self, name="Baseline", levers=Levers())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> Scenario:
        return scenario_from_dict(spec)


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def _required(f: Field) -> bool:
    return f.default is MISSING and f.default_factory is MISSING


def _check_number(where: str, value: Any, tp: type, meta: dict[str, Any]) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ScenarioError(f"{where} must be a number, got {value!r}")
    if tp is int:
        if float(value) != int(value):
            raise ScenarioError(f"{where} must be a whole number, got {value!r}")
        value = int(value)
    else:
        value = float(value)
    if meta.get("lo") is not None and value < meta["lo"]:
        raise ScenarioError(f"{where} must be ≥ {meta['lo']}, got {value}")
    if meta.get("hi") is not None and value > meta["hi"]:
        raise ScenarioError(f"{where} must be ≤ {meta['hi']}, got {value}")
    return value


def _check_value(where: str, value: Any, tp: Any, meta: dict[str, Any]) -> Any:
    tp, optional = _unwrap_optional(tp)
    if value is None:
        if optional:
            return None
        raise ScenarioError(f"{where} must be a number, got None" if tp in (int, float)
                            else f"{where} is required")
    if is_dataclass(tp):
        return _from_dict(tp, value, where)
    if typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise ScenarioError(f"{where} must be a list")
        if is_dataclass(item):
            return [_from_dict(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in value):
            raise ScenarioError(f"{where} must be a list of ids")
        return [str(v) for v in value]
    if tp is bool:
        if not isinstance(value, bool):
            raise ScenarioError(f"{where} must be true or false, got {value!r}")
        return value
    if tp in (int, float):
        return _check_number(where, value, tp, meta)
    if tp is str:
        if not isinstance(value, str):
            raise ScenarioError(f"{where} must be a string, got {value!r}")
        if meta.get("enum") and value not in meta["enum"]:
            raise ScenarioError(f"{where} must be one of {', '.join(meta['enum'])}, got {value!r}")
        return value
    raise TypeError(f"no rule for {tp!r}")  # a new field type needs a rule here and in json_schema


def _from_dict(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a JSON-like dict, checking every field against its metadata."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{where} must be an object, got {type(data).__name__}")
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for f in fields(cls):
        name = f"{where}.{f.name}" if where != "scenario" else f.name
        if f.name not in data:
            if _required(f):
                raise ScenarioError(f"{name} is required")
            continue
        values[f.name] = _check_value(name, data[f.name], hints[f.name], dict(f.metadata))
    if cls in ONE_OF:
        given = [g for g in ONE_OF[cls] if all(values.get(k) is not None for k in g)]
        partly = [g for g in ONE_OF[cls] if any(values.get(k) is not None for k in g) and g not in given]
        if len(given) != 1 or partly:
            choices = " or ".join("+".join(g) for g in ONE_OF[cls])
            raise ScenarioError(f"{where} needs exactly one of: {choices}")
    return cls(**values)


def scenario_from_dict(spec: dict[str, Any]) -> Scenario:
    """Validate a JSON-like dict and build a Scenario; raises ScenarioError with a clear message."""
    return _from_dict(Scenario, spec, "scenario")


def _schema_of(tp: Any, meta: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    tp, optional = _unwrap_optional(tp)
    out: dict[str, Any]
    if is_dataclass(tp):
        defs.setdefault(tp.__name__, None)
        if defs[tp.__name__] is None:
            defs[tp.__name__] = _object_schema(tp, defs)
        out = {"$ref": f"#/$defs/{tp.__name__}"}
    elif typing.get_origin(tp) is list:
        (item,) = typing.get_args(tp)
        items = _schema_of(item, {}, defs) if is_dataclass(item) else {"type": ["string", "integer"]}
        out = {"type": "array", "items": items}
    elif tp is bool:
        out = {"type": "boolean"}
    elif tp is int:
        out = {"type": "integer"}
    elif tp is float:
        out = {"type": "number"}
    elif tp is str:
        out = {"type": "string"}
    else:
        raise TypeError(f"no schema for {tp!r}")
    if meta.get("lo") is not None:
        out["minimum"] = meta["lo"]
    if meta.get("hi") is not None:
        out["maximum"] = meta["hi"]
    if meta.get("enum"):
        out["enum"] = list(meta["enum"])
    if optional:
        out = {"anyOf": [out, {"type": "null"}]} if "$ref" in out else {**out, "type": [out["type"], "null"]}
    if meta.get("doc"):
        out["description"] = meta["doc"]
    return out


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    hints = _hints(cls)
    props = {}
    for f in fields(cls):
        prop = _schema_of(hints[f.name], dict(f.metadata), defs)
        if f.default is not MISSING:
            prop["default"] = f.default
        elif f.default_factory is not MISSING and not is_dataclass(f.default_factory):
            prop["default"] = f.default_factory()
        props[f.name] = prop
    out: dict[str, Any] = {"type": "object", "description": (cls.__doc__ or "").strip(), "properties": props,
                           "additionalProperties": False}
    required = [f.name for f in fields(cls) if _required(f)]
    if required:
        out["required"] = required
    if cls in ONE_OF:
        groups = ONE_OF[cls]
        out["oneOf"] = [{"required": list(g), "properties": {k: {"not": {"type": "null"}} for k in g},
                         "not": {"anyOf": [{"required": [k], "properties": {k: {"not": {"type": "null"}}}}
                                           for other in groups if other != g for k in other]}}
                        for g in groups]
    return out


def scenario_json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of a scenario spec, generated from the dataclasses the validator reads."""
    defs: dict[str, Any] = {}
    root = _object_schema(Scenario, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://edtech-compass.local/schemas/scenario.json",
            "title": "EdTech Compass budget scenario (python -m edtech scenario run SPEC.json)",
            **root, "$defs": {k: v for k, v in sorted(defs.items())}}


# ---------------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------------


@dataclass
class ToolArrays:
    """Per tool × year quantities of a scenario (shared by the projection, Monte Carlo and optimizer)."""

    tool_ids: list[str]
    action: list[str]
    years: list[int]
    seats: np.ndarray  # T × Y, licensed seats at today's enrollment
    dosage: np.ndarray  # T × Y, students at dosage at today's enrollment
    cost_per_seat: np.ndarray  # T, today's price per seat
    fixed_cost: np.ndarray  # T × Y, PD + staff time tied to the contract
    pd_cost: np.ndarray  # T × Y
    other_cost: np.ndarray  # T × Y
    effect: np.ndarray  # T, 0 where not estimated
    effect_se: np.ndarray  # T, 0 where not estimated
    # contracts (C of them): which tool, its share of the tool's price, escalator and renewal schedule
    contract_tool: np.ndarray  # C
    contract_weight: np.ndarray  # C
    contract_escalator: np.ndarray  # C
    renewals: np.ndarray  # C × Y, renewals on or before each year's first day
    renewal_share: np.ndarray  # C × Y, share of the year after a renewal inside it
    enrollment_years: np.ndarray  # Y, years of enrollment change since the data's school year

    def price_factor(self, escalator_shift: np.ndarray | None = None) -> np.ndarray:
        """(..., T, Y): each tool's price in each year relative to today's, its contracts weighted by cost.

        escalator_shift (..., T) moves every contract's escalator of a tool (Monte Carlo); noise never
        pushes an escalator below 0 unless the contract's own is negative."""
        esc = self.contract_escalator
        if escalator_shift is not None:
            shifted = esc + escalator_shift[..., self.contract_tool]
            esc = np.maximum(shifted, np.minimum(esc, 0.0))
        esc = np.asarray(esc)[..., None]  # (..., C, 1)
        per_contract = (1.0 + esc) ** self.renewals * (1.0 + self.renewal_share * esc)  # (..., C, Y)
        n_tools = len(self.tool_ids)
        onehot = np.zeros((n_tools, len(self.contract_tool)))
        onehot[self.contract_tool, np.arange(len(self.contract_tool))] = self.contract_weight
        return np.einsum("tc,...cy->...ty", onehot, per_contract)


@dataclass
class Projection:
    """What a scenario costs and buys, per fiscal year (money in dollars, unrounded)."""

    scenario: Scenario
    years: list[int]
    by_year: pd.DataFrame  # fiscal_year, licenses, devices, pd, other, total_spend, available_funding, gap, ...
    by_source: pd.DataFrame  # fiscal_year, source, spend, available, shortfall
    by_tool: pd.DataFrame  # tool_id, tool_name, fiscal_year, action, seats, license_spend, pd, other, ...
    summary: dict[str, float]


def scenario_years(inputs: BudgetInputs, scenario: Scenario) -> list[int]:
    """The fiscal years a scenario projects: year 1 (its own, else the inputs' default) onwards."""
    start = scenario.start_fiscal_year or inputs.first_fy
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


def sunset_set(inputs: BudgetInputs, levers: Levers) -> set[str]:
    keep = set(levers.must_keep)
    out = set(levers.sunset_tools)
    if levers.sunset_below_roi is not None:
        out |= {t.tool_id for t in inputs.tools
                if t.roi_score is not None and not pd.isna(t.roi_score) and t.roi_score < levers.sunset_below_roi}
    return out - keep


def effect_se(tool: ToolLine) -> float:
    """SE of the effect approximated from its 95% CI: (high − low) / (2 × 1.96)."""
    if tool.effect_ci is None or any(pd.isna(c) for c in tool.effect_ci):
        return 0.0
    return max(0.0, (tool.effect_ci[1] - tool.effect_ci[0]) / (2 * 1.959963984540054))


def _default_renewal(inputs: BudgetInputs) -> pd.Timestamp:
    """A contract without known terms is priced for the data's fiscal year and renews when it ends."""
    return fiscal_year_bounds(inputs.current_fy)[1]


def tool_arrays(inputs: BudgetInputs, scenario: Scenario, actions: dict[str, str] | None = None) -> ToolArrays:
    """Seats, dosage, costs and price terms per tool × year under the scenario's levers (or `actions`).

    `actions` maps tool_id -> keep | right_size | expand | sunset (the optimizer's options);
    without it the actions follow the levers (a tool may be both right-sized and expanded).
    """
    years = scenario_years(inputs, scenario)
    n_tools, n_years = len(inputs.tools), len(years)
    levers, assume = scenario.levers, scenario.assumptions
    seats = np.zeros((n_tools, n_years))
    dosage = np.zeros((n_tools, n_years))
    pd_cost = np.zeros((n_tools, n_years))
    other_cost = np.zeros((n_tools, n_years))
    cps = np.zeros(n_tools)
    effect = np.zeros(n_tools)
    se = np.zeros(n_tools)
    c_tool, c_weight, c_esc, c_n, c_s = [], [], [], [], []
    action_names: list[str] = []
    sunset = sunset_set(inputs, levers)
    right_size = {t.tool_id for t in inputs.tools} if levers.right_size_all else set(levers.right_size_tools)
    seat_targets = {t.tool_id: t.seats for t in levers.right_size_seats}
    expansions: dict[str, list[Expansion]] = {}
    for e in levers.expansions:
        expansions.setdefault(e.tool_id, []).append(e)
    year_arr = np.array(years)
    year_key = tuple(years)
    default_renewal = _default_renewal(inputs)
    for i, tool in enumerate(inputs.tools):
        cps[i] = tool.cost_per_seat
        terms = tool.terms()
        total = sum(max(0.0, t.annual_cost) for t in terms)
        for term in terms:
            c_tool.append(i)
            c_weight.append(max(0.0, term.annual_cost) / total if total > 0 else 1.0 / len(terms))
            own = term.escalator
            c_esc.append(float(own) if own is not None and not pd.isna(own) else assume.escalator)
            schedule = renewal_schedule(term.renews_on if term.renews_on is not None and not pd.isna(term.renews_on)
                                        else default_renewal, year_key)
            c_n.append([n for n, _ in schedule])
            c_s.append([s for _, s in schedule])
        if tool.effect is not None and not pd.isna(tool.effect):
            effect[i] = tool.effect
            se[i] = effect_se(tool)
        if actions is not None:
            act = actions.get(tool.tool_id, "keep")
            do_sunset, do_right = act == "sunset", act == "right_size"
            tool_expansions = expansions.get(tool.tool_id, []) if act == "expand" else []
        else:
            do_sunset = tool.tool_id in sunset
            do_right = tool.tool_id in right_size
            tool_expansions = expansions.get(tool.tool_id, [])
            act = "sunset" if do_sunset else "+".join(
                [a for a, on in (("right_size", do_right), ("expand", bool(tool_expansions))) if on]) or "keep"
        action_names.append(act)
        if do_sunset:
            continue
        if do_right and tool.tool_id in seat_targets:  # the director's seat count, never above today's
            base_seats = float(min(seat_targets[tool.tool_id], tool.seats))
        elif do_right:
            base_seats = float(rules.right_size_seats(tool.peak_active, tool.seats, levers.right_size_buffer))
        else:
            base_seats = float(tool.seats)
        seats[i, :] = base_seats
        dosage[i, :] = min(tool.students_at_dosage, base_seats)
        pd_cost[i, :] = tool.pd_cost
        other_cost[i, :] = tool.other_cost
        for e in tool_expansions:
            extra = expansion_seats(inputs, e)
            on = year_arr >= (e.start_fiscal_year or years[0])
            seats[i, on] += extra
            dosage[i, on] += extra * tool.dosage_rate
    return ToolArrays(
        tool_ids=[t.tool_id for t in inputs.tools], action=action_names, years=years, seats=seats, dosage=dosage,
        cost_per_seat=cps, fixed_cost=pd_cost + other_cost, pd_cost=pd_cost, other_cost=other_cost,
        effect=effect, effect_se=se, contract_tool=np.array(c_tool, dtype=int),
        contract_weight=np.array(c_weight, dtype=float), contract_escalator=np.array(c_esc, dtype=float),
        renewals=np.array(c_n, dtype=float).reshape(len(c_tool), n_years),
        renewal_share=np.array(c_s, dtype=float).reshape(len(c_tool), n_years),
        enrollment_years=np.maximum(0, year_arr - inputs.current_fy).astype(float),
    )


def enrollment_factors(change: float | np.ndarray, enrollment_years: np.ndarray) -> np.ndarray:
    """(1 + g)^k per year, k = years since the data's school year; g may be an array of draws (→ draws × Y)."""
    g = np.asarray(change, dtype=float)
    return (1.0 + g)[..., None] ** np.asarray(enrollment_years, dtype=float)


def license_spend(arrays: ToolArrays, enrollment_factor: np.ndarray, price_factor: np.ndarray | None = None) -> np.ndarray:
    """seats × today's price per seat × price factor × enrollment factor; broadcasts over leading draw axes.

    enrollment_factor: (..., Y); price_factor: (..., T, Y), default the point escalators."""
    pf = arrays.price_factor() if price_factor is None else price_factor
    return arrays.seats * arrays.cost_per_seat[:, None] * pf * enrollment_factor[..., None, :]


@lru_cache(maxsize=32)
def _cohort_arrays(cohorts: tuple[DeviceCohort, ...], cycle: float) -> dict[str, Any]:
    """Per cohort: useful life (`rules.device_life_years`: the cycle capped at the AUE date), the fiscal year
    that life ends in, count, price, purchase year and funding source (cached: every projection needs them)."""
    bought = pd.Series([pd.Timestamp(c.purchase_date) for c in cohorts], dtype="datetime64[ns]")
    aue = pd.Series([pd.Timestamp(c.aue) if c.aue is not None else pd.NaT for c in cohorts], dtype="datetime64[ns]")
    life = rules.device_life_years(bought, aue, default_life=cycle).to_numpy(dtype=float)
    ends = bought + pd.to_timedelta(life * 365.25, unit="D")
    sources = sorted({c.funding_source or DEFAULT_SOURCE for c in cohorts})
    return {
        "life": life,
        "wave_fy": (ends.dt.year + (ends.dt.month >= FISCAL_YEAR_START_MONTH)).to_numpy(dtype=int),
        "count": np.array([c.count for c in cohorts], dtype=float),
        "unit_cost": np.array([c.unit_cost for c in cohorts], dtype=float),
        "purchase_fy": np.array([c.purchase_fy for c in cohorts], dtype=int),
        "sources": sources,
        "source_index": np.array([sources.index(c.funding_source or DEFAULT_SOURCE) for c in cohorts], dtype=int),
    }


def device_schedule(inputs: BudgetInputs, scenario: Scenario) -> pd.DataFrame:
    """Per fiscal year: annualized device cost, refresh-wave device count and capital outlay, and
    `spend` (annualized, or the capital outlay on a cash basis); attrs["by_source"] = spend by (year, source).

    Life = `rules.device_life_years` (refresh cycle capped at the AUE date, at least a year); a cohort is
    replaced in the fiscal year its life ends, then lives a full cycle."""
    years = scenario_years(inputs, scenario)
    assume = scenario.assumptions
    cycle = float(scenario.levers.refresh_cycle_years or assume.refresh_cycle_years)
    rows = {k: np.zeros(len(years)) for k in ("annualized", "refreshed", "capital", "spend")}
    by_source: dict[tuple[int, str], float] = {}
    if inputs.devices:
        c = _cohort_arrays(tuple(inputs.devices), cycle)
        life, wave_fy, count, unit = c["life"], c["wave_fy"], c["count"], c["unit_cost"]
        cash_basis = assume.device_cost_basis == "cash"
        for j, y in enumerate(years):
            wave = y >= wave_fy
            unit = np.where(wave, c["unit_cost"] * (1.0 + assume.device_price_change) ** (y - c["purchase_fy"]), unit)
            life = np.where(wave, cycle, life)
            wave_fy = np.where(wave, y + int(round(cycle)), wave_fy)
            cash = np.where(wave, count * unit, 0.0)
            lives, where = np.unique(life, return_inverse=True)
            crf = np.array([rules.capital_recovery_factor(assume.discount_rate, v) for v in lives])[where]
            annual = count * unit * crf
            charged = cash if cash_basis else annual
            rows["annualized"][j] = annual.sum()
            rows["refreshed"][j] = count[wave].sum()
            rows["capital"][j] = cash.sum()
            rows["spend"][j] = charged.sum()
            per_source = np.bincount(c["source_index"], weights=charged, minlength=len(c["sources"]))
            for source, amount in zip(c["sources"], per_source, strict=True):
                by_source[(y, source)] = by_source.get((y, source), 0.0) + float(amount)
    out = pd.DataFrame({"fiscal_year": years, **rows})
    out.attrs["by_source"] = by_source
    return out


def _one_offs(levers: Levers, years: list[int]) -> np.ndarray:
    total = np.zeros(len(years))
    for p in levers.one_off_purchases:
        if p.fiscal_year in years:
            total[years.index(p.fiscal_year)] += p.amount
    return total


def total_spend_by_year(inputs: BudgetInputs, scenario: Scenario) -> np.ndarray:
    """Total spend per fiscal year without building any frame (the waterfall's many projections)."""
    years = scenario_years(inputs, scenario)
    levers = scenario.levers
    arrays = tool_arrays(inputs, scenario)
    ef = enrollment_factors(scenario.assumptions.enrollment_change, arrays.enrollment_years)
    total = license_spend(arrays, ef).sum(axis=0) + arrays.fixed_cost.sum(axis=0)
    devices = device_schedule(inputs, scenario)["spend"].to_numpy(dtype=float)
    return total + devices + inputs.pd_base + levers.pd_investment_per_year + _one_offs(levers, years)


def funding_lines_with_changes(funding: list[FundingLine], changes: list[FundingChange]) -> tuple[
        list[FundingLine], dict[str, int]]:
    """The funding rows after the scenario's changes, and each ended source's last fiscal year."""
    lines = list(funding)
    ends: dict[str, int] = {}
    for change in changes:
        if change.ends_after is not None:
            ends[change.source] = min(change.ends_after, ends.get(change.source, change.ends_after))
        else:
            lines = [f for f in lines if not (f.source == change.source and f.fiscal_year == change.fiscal_year)]
            lines.append(FundingLine(change.source, int(change.fiscal_year), float(change.amount)))
    return lines, ends


def available_funding(inputs: BudgetInputs, years: list[int], changes: list[FundingChange] | None = None) -> pd.DataFrame:
    """Funding by source and fiscal year (long frame: fiscal_year, source, available)."""
    lines, ends = funding_lines_with_changes(inputs.funding, changes or [])
    rows = []
    by_source: dict[str, list[FundingLine]] = {}
    for f in lines:
        by_source.setdefault(f.source, []).append(f)
    for source, source_lines in by_source.items():
        last_fy = max(f.fiscal_year for f in source_lines)
        for y in years:
            given = [f for f in source_lines if f.fiscal_year == y]
            if source in ends and y > ends[source]:
                amount = 0.0  # the grant ended (a funding change)
            elif given:
                # expired before the year began = cannot be spent; otherwise as budgeted
                amount = sum(f.amount for f in given if _share_of_year_before(f.expires, y) > 0)
            elif y > last_fy:
                latest = [f for f in source_lines if f.fiscal_year == last_fy]
                amount = sum(f.amount * _share_of_year_before(f.expires, y) for f in latest)
            else:  # a year before the source's first row, or a gap between rows
                amount = 0.0
            rows.append({"fiscal_year": y, "source": source, "available": float(amount)})
    return pd.DataFrame(rows, columns=["fiscal_year", "source", "available"])


def _project_core(inputs: BudgetInputs, scenario: Scenario) -> dict[str, Any]:
    years = scenario_years(inputs, scenario)
    n_years = len(years)
    levers = scenario.levers
    arrays = tool_arrays(inputs, scenario)
    ef = enrollment_factors(scenario.assumptions.enrollment_change, arrays.enrollment_years)
    lic = license_spend(arrays, ef) if inputs.tools else np.zeros((0, n_years))
    dosage = arrays.dosage * ef[None, :]
    impact = arrays.effect[:, None] * dosage
    devices = device_schedule(inputs, scenario)
    one_offs = {c: np.zeros(n_years) for c in SPEND_CATEGORIES}
    for p in levers.one_off_purchases:
        if p.fiscal_year in years:
            one_offs[p.category][years.index(p.fiscal_year)] += p.amount
    spend = {
        "licenses": lic.sum(axis=0) + one_offs["licenses"],
        "devices": devices["spend"].to_numpy(dtype=float) + one_offs["devices"],
        "pd": arrays.pd_cost.sum(axis=0) + inputs.pd_base + levers.pd_investment_per_year + one_offs["pd"],
        "other": arrays.other_cost.sum(axis=0) + one_offs["other"],
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
            charge(p.fiscal_year, p.funding_source or DEFAULT_SOURCE, p.amount)
    funding = available_funding(inputs, years, levers.funding_changes)
    available = {(int(y), str(src)): float(a) for y, src, a in funding.itertuples(index=False)}
    total_spend = sum(np.asarray(spend[c], dtype=float) for c in SPEND_CATEGORIES)
    funded = np.array([sum(a for (fy, _), a in available.items() if fy == y) for y in years], dtype=float)
    # built from arrays in one go: a projection is rebuilt on every lever edit
    by_year = pd.DataFrame({
        "fiscal_year": years, **{c: np.asarray(spend[c], dtype=float) for c in SPEND_CATEGORIES},
        "total_spend": total_spend, "available_funding": funded, "gap": total_spend - funded,
        "students_at_dosage": dosage.sum(axis=0) if len(dosage) else np.zeros(n_years),
        "expected_impact": impact.sum(axis=0) if len(impact) else np.zeros(n_years),
        "devices_refreshed": devices["refreshed"].to_numpy().round().astype(int),
        "device_capital_outlay": devices["capital"].to_numpy(),
    })
    keys = sorted(set(source_spend) | set(available))
    spent = np.array([source_spend.get(k, 0.0) for k in keys], dtype=float)
    got = np.array([available.get(k, 0.0) for k in keys], dtype=float)
    by_source = pd.DataFrame({"fiscal_year": np.array([k[0] for k in keys], dtype=int),
                              "source": pd.Series([k[1] for k in keys], dtype=object), "spend": spent,
                              "available": got, "shortfall": np.clip(spent - got, 0.0, None)})

    n_tools = len(inputs.tools)
    by_tool = pd.DataFrame({  # tool-major, one row per tool x year (built column-wise: it is rebuilt per edit)
        "tool_id": np.repeat([t.tool_id for t in inputs.tools], n_years).astype(object),
        "tool_name": np.repeat([t.name for t in inputs.tools], n_years).astype(object),
        "fiscal_year": np.tile(np.asarray(years, dtype=int), n_tools),
        "action": np.repeat(arrays.action, n_years).astype(object),
        "seats": (arrays.seats * ef[None, :]).ravel(),
        "license_spend": lic.ravel(),
        "pd": arrays.pd_cost.ravel(),
        "other": arrays.other_cost.ravel(),
        "total": (lic + arrays.fixed_cost).ravel(),
        "students_at_dosage": dosage.ravel(),
        "expected_impact": impact.ravel(),
        "funding_source": np.repeat([t.funding_source for t in inputs.tools], n_years).astype(object),
    })
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
        "first_fiscal_year": int(core["years"][0]),
        "last_fiscal_year": int(core["years"][-1]),
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
)  # funding changes move no spend, so they have no step


def _levers_up_to(levers: Levers, step: int) -> Levers:
    """The levers with only the first `step` groups of LEVER_STEPS switched on."""
    names = {name for name, _ in LEVER_STEPS[:step]}
    out = Levers(must_keep=list(levers.must_keep), right_size_buffer=levers.right_size_buffer)
    if "right_size" in names:
        out.right_size_all, out.right_size_tools = levers.right_size_all, list(levers.right_size_tools)
        out.right_size_seats = list(levers.right_size_seats)
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


def right_size_savings_by_year(inputs: BudgetInputs, scenario: Scenario) -> pd.DataFrame:
    """Per tool and year: what right-sizing saves = `rules.right_size_savings` (today's price per seat,
    the scenario's buffer) × that tool's price factor × the enrollment factor of the year."""
    arrays = tool_arrays(inputs, replace(scenario, levers=Levers(right_size_buffer=scenario.levers.right_size_buffer)))
    ef = enrollment_factors(scenario.assumptions.enrollment_change, arrays.enrollment_years)
    pf = arrays.price_factor()
    rows = []
    for i, tool in enumerate(inputs.tools):
        annual = rules.right_size_savings(tool.seats, tool.peak_active, tool.annual_cost,
                                          scenario.levers.right_size_buffer)
        for j, y in enumerate(arrays.years):
            rows.append({"tool_id": tool.tool_id, "fiscal_year": y, "annual_at_today_price": annual,
                         "saving": annual * pf[i, j] * ef[j]})
    return pd.DataFrame(rows, columns=["tool_id", "fiscal_year", "annual_at_today_price", "saving"])


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
# Building inputs from a District and its ROI scoreboard
# ---------------------------------------------------------------------------------------------


def _value(row: pd.Series, name: str, default: Any = None) -> Any:
    value = row.get(name, default)
    return default if value is None or (not isinstance(value, (list, tuple)) and pd.isna(value)) else value


def _contract_terms(licenses: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per tool, from its current contract rows: the contracts (cost, escalator, renewal date), the main
    funding source (largest cost) and the contracts' PD cost (`rules.pd_cost`) and staff time."""
    out: dict[str, dict[str, Any]] = {}
    if licenses is None or len(licenses) == 0:
        return out
    lic = licenses.assign(tool_id=licenses["tool_id"].astype(str),
                          annual_cost=licenses["annual_cost"].astype(float).fillna(0.0))
    lic["pd"] = rules.pd_cost(lic["pd_cost"].astype(float), lic["pd_hours"].astype(float))
    for tool_id, g in lic.groupby("tool_id", sort=True):
        contracts = tuple(
            ContractTerm(annual_cost=float(r.annual_cost),
                         escalator=None if pd.isna(r.price_escalator_pct) else float(r.price_escalator_pct),
                         renews_on=None if pd.isna(r.end_date) else pd.Timestamp(r.end_date) + pd.Timedelta(days=1))
            for r in g.itertuples(index=False))
        source = g["funding_source"].astype(object).where(g["funding_source"].notna(), DEFAULT_SOURCE)
        out[str(tool_id)] = {
            "contracts": contracts,
            "funding_source": str(g.groupby(source)["annual_cost"].sum().idxmax()),
            "pd_cost": float(g["pd"].sum()),
            "other_cost": float(g["internal_cost"].astype(float).fillna(0.0).sum()),
        }
    return out


def tool_lines_from_board(board: pd.DataFrame, licenses: pd.DataFrame | None = None) -> list[ToolLine]:
    """The ROI scoreboard (one row per tool: seats, annual_cost, peak_active_30d, effect_size and CI,
    dosage_met, roi_score, pd_cost, internal_cost, optional p_above/p_below) + the tools' current contract
    rows → ToolLines. Seats and cost are the scoreboard's (a scope's share for a coordinator); the contract
    rows give each contract's share of the price, its escalator and renewal date, and the funding source."""
    terms = _contract_terms(licenses) if licenses is not None else {}
    lines = []
    for _, row in board.iterrows():
        tool_id = str(row["tool_id"])
        seats = float(_value(row, "seats", 0.0))
        annual_cost = float(_value(row, "annual_cost", 0.0))
        if seats <= 0 and annual_cost <= 0:
            continue  # not licensed: nothing to budget
        contract = terms.get(tool_id, {})
        low, high = _value(row, "effect_ci_low"), _value(row, "effect_ci_high")
        effect, roi_score = _value(row, "effect_size"), _value(row, "roi_score")
        p_above, p_below = _value(row, "p_above"), _value(row, "p_below")
        lines.append(ToolLine(
            tool_id=tool_id,
            name=str(_value(row, "tool_name", tool_id)),
            category=str(_value(row, "category", "")),
            seats=seats,
            annual_cost=annual_cost,
            peak_active=float(_value(row, "peak_active_30d", 0.0)),
            effect=None if effect is None else float(effect),
            effect_ci=None if low is None or high is None else (float(low), float(high)),
            students_at_dosage=float(_value(row, "dosage_met", 0.0)),
            roi_score=None if roi_score is None else float(roi_score),
            funding_source=str(contract.get("funding_source", DEFAULT_SOURCE)),
            # the ROI engine's ingredients (PD in the contract window, staff time) when it has them
            pd_cost=float(_value(row, "pd_cost", contract.get("pd_cost", 0.0))),
            other_cost=float(_value(row, "internal_cost", contract.get("other_cost", 0.0))),
            contracts=contract.get("contracts", ()),
            p_above=None if p_above is None else float(p_above),
            p_below=None if p_below is None else float(p_below),
        ))
    return lines


DEVICE_GROUP_KEYS = ["device_type", "purchase_date", "aue", "unit_cost"]


def device_groups(devices: pd.DataFrame, by: tuple[str, ...] = ()) -> pd.DataFrame:
    """Devices in service (not retired/lost, with a purchase date) counted per `by` columns (e.g. school_id,
    a missing one kept) and type, purchase date, AUE date (missing: the far future) and price: `count`."""
    columns = [*by, *DEVICE_GROUP_KEYS, "count"]
    if devices is None or len(devices) == 0:
        return pd.DataFrame({c: [] for c in columns})
    d = devices[~devices["status"].astype(object).isin(["retired", "lost"])]
    d = d[d["purchase_date"].notna()]
    if len(d) == 0:
        return pd.DataFrame({c: [] for c in columns})
    d = d.assign(unit_cost=d["purchase_cost"].astype(float).fillna(0.0).round(2),
                 device_type=d["device_type"].astype(object).where(d["device_type"].notna(), "device"),
                 aue=d["auto_update_expiration"].fillna(pd.Timestamp.max.normalize()))
    return d.groupby([*by, *DEVICE_GROUP_KEYS], sort=True, dropna=False).size().rename("count").reset_index()


def cohorts_from_groups(groups: pd.DataFrame) -> list[DeviceCohort]:
    """`device_groups` rows (of any finer grouping, e.g. per school) added up into cohorts."""
    if groups is None or len(groups) == 0:
        return []
    grouped = groups.groupby(DEVICE_GROUP_KEYS, sort=True)["count"].sum()
    none = pd.Timestamp.max.normalize()
    return [DeviceCohort(device_type=str(t), count=int(n), unit_cost=float(c), purchase_date=pd.Timestamp(p),
                         aue=None if a == none else pd.Timestamp(a))
            for (t, p, a, c), n in grouped.items()]


def device_cohorts(devices: pd.DataFrame) -> list[DeviceCohort]:
    """Devices in service (not retired/lost) grouped by type, purchase date, price and AUE date."""
    return cohorts_from_groups(device_groups(devices))


def funding_lines(funding: pd.DataFrame) -> list[FundingLine]:
    if funding is None or len(funding) == 0:
        return []
    return [FundingLine(source=str(r.source), fiscal_year=int(r.fiscal_year), amount=float(r.amount),
                        restricted_to=None if pd.isna(r.restricted_to) else str(r.restricted_to),
                        expires=None if pd.isna(r.expires) else pd.Timestamp(r.expires))
            for r in funding.itertuples(index=False)]


def enrollment_of(students: pd.DataFrame) -> pd.DataFrame:
    """Students per (school_id, grade_level), as text, sorted."""
    if not len(students):
        return BudgetInputs().enrollment
    return (students.assign(school_id=students["school_id"].astype(str), grade_level=students["grade_level"].astype(str))
            .groupby(["school_id", "grade_level"], sort=True).size().rename("students").reset_index())


def inputs_from_district(district: District, board: pd.DataFrame | None = None) -> BudgetInputs:
    """Reduce a District and its ROI scoreboard to BudgetInputs (no scoreboard = no tool lines)."""
    return inputs_from_parts(district.as_of, board, licenses=district.licenses, pd_sessions=district.pd_sessions,
                             funding=district.funding, enrollment=enrollment_of(district.students),
                             devices=device_groups(district.devices))


def inputs_from_parts(as_of: pd.Timestamp, board: pd.DataFrame | None, *, licenses: pd.DataFrame,
                      pd_sessions: pd.DataFrame, funding: pd.DataFrame, enrollment: pd.DataFrame,
                      devices: pd.DataFrame) -> BudgetInputs:
    """BudgetInputs from the small tables, the enrollment per school and grade (`enrollment_of`) and the
    devices counted per cohort (`device_groups`, any finer grouping): what a page reads without the roster
    or the device rows (issue 15)."""
    current = rules.current_licenses(licenses, as_of)
    tools = tool_lines_from_board(board, current) if board is not None and len(board) else []
    sessions = pd_sessions
    # PD not tied to a licensed tool (tool trainings are in the tool's line and stop if it is sunset)
    general = ~sessions["tool_id"].astype(object).isin({t.tool_id for t in tools})
    recent = sessions[general & (sessions["date"] > as_of - pd.Timedelta(days=365)) & (sessions["date"] <= as_of)]
    pd_base = float(rules.pd_cost(recent["cost"].astype(float), recent["hours"].astype(float)).sum())
    return BudgetInputs(tools=tools, devices=cohorts_from_groups(devices), funding=funding_lines(funding),
                        pd_base=pd_base, current_fy=fiscal_year_of(as_of),
                        enrollment=enrollment.reset_index(drop=True) if len(enrollment) else BudgetInputs().enrollment)
