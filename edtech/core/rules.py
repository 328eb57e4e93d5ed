"""The product's shared rules, each defined exactly once (methods.md v2 sections 1, 3 and 5).

Every surface (pages, CLI JSON, board report, memos, budget, optimizer) calls these; a rule that
appears anywhere else is a bug. Pure: pandas/numpy in, values out; imports nothing else of ours
except `edtech.core.config` for the one configurable threshold.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from edtech.core import config

# ---------------------------------------------------------------- thresholds (methods.md section 1)
DOSAGE_SHARE = 0.8             # the two 80s of the 80/80 rule: minutes per week and weeks
FIDELITY_THRESHOLD = 0.8       # a school "implements with fidelity" when >= 80% of licensed students met dosage
UNDERUSED_BELOW = 0.5          # utilization < 50%
OVER_DEPLOYED_ABOVE = 1.0      # utilization > 100%
UNEVEN_SPREAD = 0.40           # spread of school utilizations > 40 points
CONCENTRATION_SHARE = 0.8      # > 80% of use ...
CONCENTRATION_SCHOOLS = 0.2    # ... in <= 20% of schools
RENEWAL_WINDOW_DAYS = 90       # renewal due within 90 days
WEEKS_IN_30_DAYS = 4           # usage is weekly: "30 days" = the 4 weeks whose Monday is within 30 days

# ---------------------------------------------------------------- interventions (methods.md v2 section 6)
SERVED_WITHIN_DAYS = 30        # a flagged student is served when a support is active on the flag date or starts <= 30 days after
PROGRESS_CYCLE_WEEKS = 12      # an ongoing support's trend is judged at max(last probe, start + 12 weeks) (a Tier 2 cycle)

# ---------------------------------------------------------------- cost assumptions (sections 3 and 5)
RIGHT_SIZE_BUFFER = 0.10       # right-size to peak_active_30d x (1 + 10%), everywhere (v2)
PD_HOURLY_RATE = 50.0          # loaded rate for PD hours recorded without a cost
DISCOUNT_RATE = 0.03           # capital recovery factor's r
DEVICE_LIFE_YEARS = 5.0        # useful life / refresh cycle of a device
DEFAULT_ESCALATOR = 0.03       # price escalator at renewal when a contract names none

# Floating-point sums make "exactly 80%" land a hair below 0.8 x minutes; a rule stated with >= must hold there.
_TOL = 1e-9

ACTIVE_USER_RULE = ("Active user = a distinct student with at least one session or more than 0 minutes in the "
                    "window (vendors disagree on what counts as use; this is ours).")
DEFINITIONS = {
    "active_user": "a distinct student with at least one session or more than 0 minutes in the window",
    "active_7d": "active in the last ISO week of data (the 7 days ending at the data's as-of date)",
    "active_30d": "active in a week whose Monday is within the 30 days ending at the as-of date (4 weeks)",
    "active_contract_year": "active in any week from the contract start to the as-of date",
    "peak_active_30d": "largest number of distinct students active in any trailing 4-week window of the contract year",
    "utilization": "contract-year active users / seats",
    "dosage_met": "average weekly minutes (over weeks used) >= 80% of the vendor's minutes/week, over >= 80% of "
                  "its recommended weeks (80/80 rule, per student)",
    "fidelity": "share of a school's licensed students (its seats, or its users when more) who met dosage; "
                "a school implements with fidelity at >= 80%",
    "idle_license_value": "max(0, seats - peak_active_30d) x annual cost / seats",
    "right_size": "seats = peak_active_30d x (1 + 10% buffer), rounded up, never above today's seats; savings at "
                  "today's price per seat",
    "ingredients_cost": "license + PD (session cost, or hours x loaded rate) + internal staff time + "
                        "annualized devices attributable (capital recovery factor)",
    "cost_per_0_1_sd": "ingredients cost per student at dosage / effect size x 0.1",
    "academic_roi": "effect (SD) x students who met dosage / ingredients cost x 1,000",
    "vetted": "a signed data-privacy agreement and WCAG 2.x AA accessibility",
    "renewal_due": "the contract in force ends within the next 90 days",
    "served_30d": "a flagged student with an intervention active on the flag date or starting within 30 days after it",
    "on_track": "the OLS trend of the progress-monitoring scores since the start reaches the goal by the end date "
                "(ongoing: by the last probe or the end of a 12-week cycle, whichever is later)",
    "scope_share": "a coordinator's seats and spend = their schools' own licenses plus their share of each "
                   "district-wide license, by the share of the students rostered in the tool's grade band",
}


# ---------------------------------------------------------------- privacy threshold
def suppression_threshold() -> int:
    """Cells under this many students are shown as '<N' on board-facing outputs (EDTECH_SUPPRESS_MIN, 5-30)."""
    return int(min(30, max(5, config.SUPPRESS_MIN)))


# ---------------------------------------------------------------- usage
def is_active_row(usage: pd.DataFrame) -> pd.Series:
    """Usage rows that count as use: >= 1 session or > 0 minutes."""
    return (usage["sessions"].fillna(0) >= 1) | (usage["minutes"].fillna(0) > 0)


def week_overlaps(week_start: pd.Series, start: pd.Series | pd.Timestamp, end: pd.Series | pd.Timestamp) -> pd.Series:
    """A stored week counts in a window when any of its seven days falls inside [start, end]."""
    inside = (week_start + pd.Timedelta(days=6) >= start) & (week_start <= end)
    return inside.fillna(False).astype(bool) if isinstance(inside, pd.Series) else inside


# ---------------------------------------------------------------- the data's as-of date (contract v2)
SCHOOL_YEAR_START_MONTH = 7    # a school year runs 1 July - 30 June and is named by the year it starts in


def school_year_of(dates: pd.Series) -> pd.Series:
    """The school year of each date, as the calendar year it starts in (2025-09-08 -> 2025 = 2025-26)."""
    dates = pd.to_datetime(dates)
    return dates.dt.year - (dates.dt.month < SCHOOL_YEAR_START_MONTH).astype("int64")


def first_school_year(years: set[int] | list[int]) -> int | None:
    """A file's first school year: walking back from its latest school year while the year before is
    present too, so a stray typo year (1999 in a 2024-26 file) is not where the file starts."""
    present = set(int(y) for y in years)
    if not present:
        return None
    year = max(present)
    while year - 1 in present:
        year -= 1
    return year


def school_year_start(year: int) -> pd.Timestamp:
    """1 July of the school year named `year`."""
    return pd.Timestamp(year=int(year), month=SCHOOL_YEAR_START_MONTH, day=1)


def plausible_since(first_year: int) -> pd.Timestamp:
    """Dates before 1 July of the year before the file's first school year are implausible (contract v2)."""
    return school_year_start(first_year - 1)


def data_as_of(usage_weeks: pd.Series, *, last_usage_import: pd.Timestamp | None = None) -> pd.Timestamp:
    """THE data's "today" (contract v2): the end of the latest plausible usage week, else today.

    A week is plausible when it starts on or before the day usage was last imported (a row dated after
    its import, like a stray 2050-01-02, never moves the date); without an import on record (a generated
    district) the cutoff is today. Every 7/30-day window, fiscal year 1, the indicators' default as_of
    and every surface ask this function (through `District.as_of` or the store's `data_as_of`)."""
    cutoff = pd.Timestamp(last_usage_import if last_usage_import is not None else pd.Timestamp.today()).normalize()
    weeks = pd.Series(usage_weeks)
    if not pd.api.types.is_datetime64_any_dtype(weeks):  # e.g. dates read back from SQL as text or date objects
        weeks = pd.to_datetime(weeks)
    weeks = weeks.dropna()
    plausible = weeks[weeks <= cutoff]
    if plausible.empty:
        return pd.Timestamp.today().normalize()
    return pd.Timestamp(plausible.max()).normalize() + pd.Timedelta(days=6)


def active_in_trailing_weeks(student_codes: np.ndarray, weeks: np.ndarray, n_students: int,
                             n_weeks: int) -> np.ndarray:
    """Per student x week (bool, n_students x n_weeks): active in that week or the WEEKS_IN_30_DAYS - 1
    weeks before it (the trailing 4-week window of peak_active_30d). Input: one active row per
    (student code, week index >= 0). Its column sums are the distinct students active in each
    trailing 4-week window; a sum over a group of students' rows (a school) is that group's count."""
    active = np.zeros((n_students, n_weeks), dtype=bool)
    active[student_codes, weeks] = True
    trailing = active.copy()
    for lag in range(1, WEEKS_IN_30_DAYS):
        trailing[:, lag:] |= active[:, :-lag]
    return trailing


def utilization(active_users: pd.Series | float, seats: pd.Series | float) -> pd.Series | float:
    """Contract-year active users / seats; unknown (NaN) without seats."""
    if isinstance(seats, pd.Series):
        return active_users / seats.where(seats > 0)
    return float(active_users) / float(seats) if seats and seats > 0 else math.nan


def dosage_met(avg_weekly_minutes: pd.Series | float, weeks_used: pd.Series | float,
               recommended_minutes: pd.Series | float, recommended_weeks: pd.Series | float,
               share: float = DOSAGE_SHARE) -> pd.Series | bool:
    """80/80 rule per student: avg minutes over weeks used >= 80% of the recommended minutes/week
    and weeks used >= 80% of the recommended weeks. Exactly 80% meets it. Missing guidance -> NA."""
    met = ((avg_weekly_minutes >= share * recommended_minutes - _TOL)
           & (weeks_used >= share * recommended_weeks - _TOL))
    if isinstance(met, pd.Series):
        unknown = pd.isna(recommended_minutes) | pd.isna(recommended_weeks)
        return met.astype("boolean").mask(unknown, pd.NA)
    if pd.isna(recommended_minutes) or pd.isna(recommended_weeks):
        return pd.NA
    return bool(met)


def implements_with_fidelity(fidelity_share: pd.Series) -> pd.Series:
    """NA when the share is unknown (no vendor dosage), else share >= 80%."""
    return (fidelity_share >= FIDELITY_THRESHOLD - _TOL).astype("boolean").mask(fidelity_share.isna(), pd.NA)


# ---------------------------------------------------------------- contracts
def current_licenses(licenses: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The contract rows that describe each tool today, decided per tool: rows in force on `as_of`;
    else its most recently started rows (an ended contract still describes the tool); else, when all
    its contracts lie in the future, its first ones."""
    if licenses.empty:
        return licenses.copy()
    as_of = pd.Timestamp(as_of)
    in_force = (licenses["start_date"] <= as_of) & (licenses["end_date"] >= as_of)
    rest = licenses[~licenses["tool_id"].isin(set(licenses.loc[in_force, "tool_id"]))]
    started = rest[rest["start_date"] <= as_of]
    latest = started.groupby("tool_id")["start_date"].transform("max")
    fallback = started[started["start_date"] == latest]
    future = rest[~rest["tool_id"].isin(set(fallback["tool_id"]))]
    first = future.groupby("tool_id")["start_date"].transform("min")
    return pd.concat([licenses[in_force], fallback, future[future["start_date"] == first]], ignore_index=True)


def contract_year_start(contract_start: pd.Series, as_of: pd.Timestamp) -> pd.Series:
    """Start of each tool's contract-year window: its contract start, or the 365 days to `as_of` when the
    tool has no contract or its contract has not started yet."""
    year_back = pd.Timestamp(as_of) - pd.Timedelta(days=364)
    start = pd.to_datetime(contract_start).astype("datetime64[ns]").fillna(year_back)
    return start.where(start <= as_of, year_back)


def renewal_due(days_to_renewal: pd.Series | float) -> pd.Series | bool:
    """The contract in force ends within the next 90 days (an ended contract is not 'due', it has lapsed)."""
    return (days_to_renewal >= 0) & (days_to_renewal <= RENEWAL_WINDOW_DAYS)


def is_vetted(privacy_status: pd.Series | object, accessibility: pd.Series | object) -> pd.Series | bool:
    """Signed data-privacy agreement and WCAG AA (methods.md section 1 'unvetted' is its negation)."""
    if isinstance(privacy_status, pd.Series):
        return (privacy_status.astype("object") == "signed_dpa") & (pd.Series(accessibility).astype("object")
                                                                     == "wcag_aa").to_numpy()
    return privacy_status == "signed_dpa" and accessibility == "wcag_aa"


# ---------------------------------------------------------------- flags
def is_underused(util: pd.Series | float) -> pd.Series | bool:
    """Utilization known and < 50% (a tool without seats is not 'underused', it is unlicensed)."""
    if isinstance(util, pd.Series):
        return util.notna() & (util < UNDERUSED_BELOW)
    return bool(pd.notna(util) and util < UNDERUSED_BELOW)


def is_over_deployed(util: pd.Series | float) -> pd.Series | bool:
    if isinstance(util, pd.Series):
        return util.notna() & (util > OVER_DEPLOYED_ABOVE)
    return bool(pd.notna(util) and util > OVER_DEPLOYED_ABOVE)


def is_uneven(spread: float) -> bool:
    return bool(pd.notna(spread) and spread > UNEVEN_SPREAD)


def is_concentrated(use_by_school: pd.Series | np.ndarray, n_schools: int) -> bool:
    """> 80% of the use in at most 20% of the district's `n_schools` (at least one school). A district
    fact: always called with the whole district's schools, never a coordinator's."""
    use = np.sort(np.asarray(use_by_school, dtype=float))[::-1]
    total = use.sum()
    if total <= 0 or n_schools < 2:
        return False
    top = max(1, int(math.floor(CONCENTRATION_SCHOOLS * n_schools)))
    return bool(use[:top].sum() > CONCENTRATION_SHARE * total)


# ---------------------------------------------------------------- costs
def capital_recovery_factor(rate: float, years: float) -> float:
    """A/P = r(1+r)^n / ((1+r)^n - 1); 1/n when r = 0."""
    if years <= 0:
        raise ValueError("years must be positive")
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def device_life_years(purchase_date: pd.Series, auto_update_expiration: pd.Series,
                      default_life: float = DEVICE_LIFE_YEARS) -> pd.Series:
    """Useful life in years: the refresh cycle, capped at the auto-update expiration (AUE), at least 1 year."""
    life = pd.Series(float(default_life), index=purchase_date.index, dtype="float64")
    to_aue = (auto_update_expiration - purchase_date).dt.days / 365.25
    return life.where(~(to_aue < life), to_aue).clip(lower=1.0)


def pd_cost(cost: pd.Series, hours: pd.Series, rate: float = PD_HOURLY_RATE) -> pd.Series:
    """PD cost of each record: its recorded cost, else hours x the loaded hourly rate."""
    return cost.where(cost.notna(), hours.fillna(0.0) * rate).astype("float64")


def idle_license_value(seats: float, peak_active: float, annual_cost: float) -> float:
    if not seats or seats <= 0:
        return math.nan
    return max(0.0, float(seats) - float(peak_active)) * float(annual_cost) / float(seats)


def right_size_seats(peak_active_30d: float, seats: float | None = None, buffer: float = RIGHT_SIZE_BUFFER) -> int:
    """Seats after right-sizing: peak 30-day users x (1 + buffer), rounded up, never more than today's."""
    target = int(math.ceil(float(peak_active_30d) * (1.0 + buffer) - _TOL))
    if seats is not None and pd.notna(seats):
        target = min(target, int(seats))
    return max(target, 0)


def right_size_savings(seats: float, peak_active_30d: float, annual_cost: float,
                       buffer: float = RIGHT_SIZE_BUFFER) -> float:
    """Annual savings of right-sizing at today's price per seat (the one figure every surface quotes)."""
    if not seats or seats <= 0 or pd.isna(annual_cost):
        return 0.0
    keep = right_size_seats(peak_active_30d, seats, buffer)
    return (float(seats) - keep) * float(annual_cost) / float(seats)


def escalated(amount: float, escalator: float, years: int) -> float:
    """An annual price after `years` renewals at `escalator` per year."""
    return float(amount) * (1.0 + float(escalator)) ** int(years)
