"""Tool ROI: usage, utilization, fidelity, cost, and the 0-100 score with a recommendation.

Pure: a `District` in, DataFrames out (methods.md sections 1 and 3). Outcome effects come from
`edtech.effects`. The expensive part (`compute_usage_metrics` + effects) is separated from the
cheap part (`score_metrics`: ranks, score, recommendation) so the app can re-score instantly
when the user moves the weight sliders.

Definitions (shown beside the numbers in the app, see `DEFINITIONS`):
- usage is stored per student x tool x ISO week, so time windows are whole weeks: a week belongs
  to "the last 30 days" when its Monday is within the 30 days ending at `district.as_of`
  (4 weeks); "the last 7 days" is the last week.
- peak_active_30d: for every week of the contract year, the distinct students active in that week
  or the 3 weeks before it (a trailing 4-week = 28-day window); the maximum over weeks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from edtech.adoption import engine as adoption
from edtech.core.district import District
from edtech.evidence import effects as effects_mod

# ---------------------------------------------------------------- parameters and definitions

DEFAULT_WEIGHTS: dict[str, float] = {
    "utilization": 25.0, "fidelity": 15.0, "effect": 35.0, "cost_effectiveness": 25.0,
}
WEIGHT_LABELS = {
    "utilization": "Utilization", "fidelity": "Fidelity (dosage met)",
    "effect": "Evidence-weighted effect", "cost_effectiveness": "Cost-effectiveness",
}
# how much an effect estimate counts in the score, by the strength of its evidence
EVIDENCE_WEIGHT = {
    effects_mod.LABEL_MODERATE: 1.0, effects_mod.LABEL_PROMISING: 0.8,
    effects_mod.LABEL_RATIONALE: 0.5, effects_mod.LABEL_NONE: 0.5, effects_mod.LABEL_NEGATIVE: 1.0,
}
FLAG_LABELS = {
    "underused": "Underused (< 50% of seats)",
    "over_deployed": "Over-deployed (> 100% of seats)",
    "uneven": "Uneven across schools (> 40 pt spread)",
    "concentrated": "Concentrated (> 80% of minutes in <= 20% of schools)",
    "expensive_underused": "Expensive and underused",
    "unvetted": "Unvetted (no signed DPA or not WCAG AA)",
    "renewal_due": "Renewal due within 90 days",
}
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
    "ingredients_cost": "license + PD (session cost, or hours x loaded rate) + internal staff time + "
                        "annualized devices attributable (capital recovery factor)",
    "cost_per_0_1_sd": "ingredients cost per student served / effect size x 0.1",
    "academic_roi": "effect (SD) x students who met dosage / ingredients cost x 1,000",
}
RENEWAL_WINDOW_DAYS = 90
WEEKS_IN_30_DAYS = 4


@dataclass(frozen=True)
class RoiParams:
    """Assumptions a director may change; every one is shown with the result."""

    discount_rate: float = 0.03
    device_life_years: float = 5.0
    pd_hourly_rate: float = 50.0          # loaded rate for PD hours recorded without a cost
    device_cost_share: float = 0.0        # share of an assigned device's cost charged to the tools its student uses
    right_size_buffer: float = 0.10
    dosage_share: float = 0.8             # the two 80s of the 80/80 rule
    fidelity_threshold: float = 0.8


@dataclass
class UsageMetrics:
    """Everything heavy, computed once per district version."""

    tools: pd.DataFrame                   # one row per tool
    schools: pd.DataFrame                 # one row per tool x school
    students: pd.DataFrame                # one row per tool x user: weeks, minutes, dosage_met
    weekly: pd.DataFrame                  # one row per tool x week: active users, trailing 4-week active, minutes
    as_of: pd.Timestamp
    params: RoiParams = field(default_factory=RoiParams)


# ---------------------------------------------------------------- small formulas (unit-tested)

def capital_recovery_factor(rate: float, years: float) -> float:
    """A/P = r(1+r)^n / ((1+r)^n - 1); 1/n when r = 0."""
    if years <= 0:
        raise ValueError("years must be positive")
    if rate == 0:
        return 1.0 / years
    growth = (1.0 + rate) ** years
    return rate * growth / (growth - 1.0)


def annualized_cost(price: float, rate: float, years: float) -> float:
    return float(price) * capital_recovery_factor(rate, years)


def utilization(active_users: float, seats: float) -> float:
    return float(active_users) / float(seats) if seats and seats > 0 else math.nan


def idle_license_value(seats: float, peak_active: float, annual_cost: float) -> float:
    if not seats or seats <= 0:
        return math.nan
    return max(0.0, float(seats) - float(peak_active)) * float(annual_cost) / float(seats)


def dosage_met(avg_weekly_minutes: pd.Series | float, weeks_used: pd.Series | float,
               recommended_minutes: pd.Series | float, recommended_weeks: pd.Series | float,
               share: float = 0.8) -> pd.Series | bool:
    """80/80 rule per student: avg minutes over weeks used >= 80% of the recommended minutes/week
    and weeks used >= 80% of the recommended weeks. Missing guidance -> NA (unknown)."""
    met = (avg_weekly_minutes >= share * recommended_minutes) & (weeks_used >= share * recommended_weeks)
    if isinstance(met, pd.Series):
        unknown = pd.isna(recommended_minutes) | pd.isna(recommended_weeks)
        return met.astype("boolean").mask(unknown, pd.NA)
    if pd.isna(recommended_minutes) or pd.isna(recommended_weeks):
        return pd.NA
    return bool(met)


def right_size_seats(peak_active_30d: float, buffer: float = 0.10) -> int:
    return int(math.ceil(float(peak_active_30d) * (1.0 + buffer) - 1e-9))


def percentile_rank(values: pd.Series) -> pd.Series:
    """0-1 percentile rank among non-missing values (ties share the average rank)."""
    return values.rank(pct=True, method="average")


# ---------------------------------------------------------------- contracts and devices

def current_licenses(licenses: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """License rows in force at `as_of`; for a tool with none in force, its most recent rows."""
    if licenses.empty:
        return licenses.copy()
    lic = licenses.copy()
    in_force = (lic["start_date"] <= as_of) & (lic["end_date"] >= as_of)
    tools_in_force = set(lic.loc[in_force, "tool_id"])
    rest = lic[~lic["tool_id"].isin(tools_in_force)]
    started = rest[rest["start_date"] <= as_of]
    pool = started if len(started) else rest
    latest = pool.groupby("tool_id")["start_date"].transform("max")
    fallback = pool[pool["start_date"] == latest]
    # a tool with only future contracts still needs a row
    missing = rest[~rest["tool_id"].isin(set(fallback["tool_id"]))]
    if len(missing):
        first = missing.groupby("tool_id")["start_date"].transform("min")
        fallback = pd.concat([fallback, missing[missing["start_date"] == first]])
    return pd.concat([lic[in_force], fallback], ignore_index=True)


def annualized_device_costs(devices: pd.DataFrame, as_of: pd.Timestamp, params: RoiParams) -> pd.DataFrame:
    """Per device in service: annualized cost by the capital recovery factor, with the useful life
    capped at the device's auto-update expiration (AUE) date, never below one year."""
    cols = ["device_id", "assigned_student_id", "school_id", "life_years", "annualized_cost"]
    if devices.empty:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in cols[:3] else "float64") for c in cols})
    dev = devices[~devices["status"].isin(["retired", "lost"])].copy()
    life = pd.Series(params.device_life_years, index=dev.index, dtype="float64")
    to_aue = (dev["auto_update_expiration"] - dev["purchase_date"]).dt.days / 365.25
    life = life.where(~(to_aue < life), to_aue).clip(lower=1.0)
    r = params.discount_rate
    crf = (1.0 / life) if r == 0 else r * (1 + r) ** life / ((1 + r) ** life - 1)
    dev["life_years"] = life
    dev["annualized_cost"] = dev["purchase_cost"].fillna(0.0) * crf
    return dev[cols].reset_index(drop=True)


# ---------------------------------------------------------------- the heavy computation

_TOOL_COLS = [
    "tool_id", "tool_name", "vendor", "category", "subject", "funding_sources", "seats", "annual_cost",
    "contract_start", "contract_end", "days_to_renewal", "auto_renew", "pd_cost", "internal_cost", "device_cost",
    "ingredients_cost", "active_7d", "active_30d", "active_users", "peak_active_30d", "utilization",
    "total_hours", "cost_per_seat", "cost_per_active_user", "cost_per_hour", "cost_per_student_served",
    "idle_license_value", "dosage_met", "below_dosage", "dosage_known", "dosage_met_share",
    "licensed_students", "fidelity_share", "schools_licensed", "schools_with_fidelity", "school_util_spread",
    "concentrated", "privacy_status", "accessibility", "coppa_basis", "interoperability", "instructional_rating",
    "recommended_minutes_per_week", "recommended_weeks", "flags",
]


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _contract_windows(tools: pd.DataFrame, lic_now: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per tool: contract start/end, seats, cost, funding. Tools without a license get a 365-day window."""
    out = pd.DataFrame({"tool_id": tools["tool_id"].astype("object")})
    if len(lic_now):
        agg = lic_now.groupby("tool_id").agg(
            seats=("seats", "sum"), annual_cost=("annual_cost", "sum"),
            contract_start=("start_date", "min"), contract_end=("end_date", "min"),
            internal_cost=("internal_cost", lambda s: s.fillna(0).sum()),
            auto_renew=("auto_renew", lambda s: bool(s.fillna(False).any())),
            funding_sources=("funding_source", lambda s: ", ".join(sorted({str(x) for x in s.dropna()}))),
        ).reset_index()
        out = out.merge(agg, on="tool_id", how="left")
    else:
        for col in ["seats", "annual_cost", "internal_cost"]:
            out[col] = np.nan
        out["contract_start"] = pd.NaT
        out["contract_end"] = pd.NaT
        out["auto_renew"] = None
        out["funding_sources"] = ""
    out["seats"] = out["seats"].fillna(0).astype("int64")
    out["annual_cost"] = out["annual_cost"].fillna(0.0).astype("float64")
    out["internal_cost"] = out["internal_cost"].fillna(0.0).astype("float64")
    out["funding_sources"] = out["funding_sources"].fillna("").astype("object")
    out["window_start"] = out["contract_start"].fillna(as_of - pd.Timedelta(days=364))
    out["window_start"] = out["window_start"].where(out["window_start"] <= as_of, as_of - pd.Timedelta(days=364))
    return out


def _pd_costs(district: District, lic_now: pd.DataFrame, windows: pd.DataFrame, as_of: pd.Timestamp,
              params: RoiParams) -> pd.Series:
    """PD cost per tool: recorded PD sessions in the contract window when there are any (the detailed
    record), else the license's pd_cost (or pd_hours x loaded rate)."""
    by_tool = pd.Series(0.0, index=windows["tool_id"].values)
    sessions = district.pd_sessions
    if len(sessions):
        s = sessions[sessions["tool_id"].notna()].merge(windows[["tool_id", "window_start"]], on="tool_id")
        s = s[(s["date"] >= s["window_start"]) & (s["date"] <= as_of)]
        cost = s["cost"].where(s["cost"].notna(), s["hours"].fillna(0) * params.pd_hourly_rate)
        by_tool = by_tool.add(cost.groupby(s["tool_id"]).sum(), fill_value=0.0)
    if len(lic_now):
        lic_cost = lic_now["pd_cost"].where(lic_now["pd_cost"].notna(),
                                            lic_now["pd_hours"].fillna(0) * params.pd_hourly_rate)
        lic_by_tool = lic_cost.groupby(lic_now["tool_id"]).sum()
        no_sessions = by_tool[by_tool == 0].index
        by_tool.loc[no_sessions] = lic_by_tool.reindex(no_sessions).fillna(0.0).values
    return by_tool


def compute_usage_metrics(district: District, params: RoiParams | None = None,
                          whole: District | None = None) -> UsageMetrics:
    """Per tool, per tool x school, per tool x student and per tool x week usage and cost metrics.

    `whole`: when `district` is a school scope, the whole district (its schools and students), so that
    district-wide seats and cost are shared over every school and the scope gets only its part.
    """
    params = params or RoiParams()
    as_of = district.as_of
    tools = district.tools.copy()
    if tools.empty:
        return UsageMetrics(_empty(_TOOL_COLS), _empty(["tool_id", "school_id"]),
                            _empty(["tool_id", "student_id"]), _empty(["tool_id", "week_start"]), as_of, params)
    lic_now = current_licenses(district.licenses, as_of)
    windows = _contract_windows(tools, lic_now, as_of)
    students = district.students[["student_id", "school_id", "grade_level"]]
    school_of = pd.Series(students["school_id"].values, index=students["student_id"].values)

    # ---- usage inside each tool's contract window, active rows only
    usage = district.usage
    usage = usage[(usage["sessions"] >= 1) | (usage["minutes"] > 0)]
    win_start = windows.set_index("tool_id")["window_start"]
    # a week counts when any of its days falls in the window
    usage = usage[(usage["week_start"] + pd.Timedelta(days=6) >= usage["tool_id"].map(win_start))
                  & (usage["week_start"] <= as_of)]
    usage = usage[usage["tool_id"].isin(set(tools["tool_id"]))]
    week0 = usage["week_start"].min() if len(usage) else as_of
    u = pd.DataFrame({
        "tool_id": usage["tool_id"].values,
        "student_id": usage["student_id"].values,
        "week": ((usage["week_start"] - week0).dt.days // 7).astype("int64").values,
        "minutes": usage["minutes"].fillna(0.0).values,
    })
    u["school_id"] = u["student_id"].map(school_of)
    last_week = int((as_of - pd.Timedelta(days=6) - week0).days // 7)
    # week w is within the last 30 days when its Monday is >= as_of - 29 days
    first_30d_week = int(math.ceil((as_of - pd.Timedelta(days=29) - week0).days / 7))

    # ---- per tool x student: weeks used, minutes, dosage
    per_student = u.groupby(["tool_id", "student_id"], sort=False).agg(
        weeks_used=("week", "size"), minutes=("minutes", "sum"),
        last_week=("week", "max")).reset_index()
    per_student["avg_weekly_minutes"] = per_student["minutes"] / per_student["weeks_used"]
    per_student["school_id"] = per_student["student_id"].map(school_of)
    rec = tools.set_index("tool_id")[["recommended_minutes_per_week", "recommended_weeks"]]
    # recommended weeks can not exceed the weeks the tool has been in use so far this year
    weeks_in_use = u.groupby("tool_id")["week"].nunique()
    rec_weeks = rec["recommended_weeks"].astype("float64")
    rec_weeks_eff = np.minimum(rec_weeks, weeks_in_use.reindex(rec.index).fillna(0).astype("float64"))
    rec_weeks_eff = rec_weeks_eff.where(rec_weeks.notna())
    per_student["dosage_met"] = dosage_met(
        per_student["avg_weekly_minutes"], per_student["weeks_used"],
        per_student["tool_id"].map(rec["recommended_minutes_per_week"]).astype("float64"),
        per_student["tool_id"].map(rec_weeks_eff).astype("float64"), share=params.dosage_share)
    per_student["active_7d"] = per_student["last_week"] >= last_week
    per_student["active_30d"] = per_student["last_week"] >= first_30d_week

    # ---- weekly series and trailing 4-week distinct users, per tool and per tool x school
    weekly_rows, school_peak_rows = [], []
    n_weeks = last_week + 1 if len(u) else 0
    for tool_id, grp in u.groupby("tool_id", sort=False):
        stud_codes, stud_index = pd.factorize(grp["student_id"])
        active = np.zeros((len(stud_index), n_weeks), dtype=bool)
        active[stud_codes, grp["week"].to_numpy()] = True
        csum = np.cumsum(active, axis=1, dtype=np.int32)
        lagged = np.zeros_like(csum)
        lagged[:, WEEKS_IN_30_DAYS:] = csum[:, :-WEEKS_IN_30_DAYS]
        rolling = (csum - lagged) > 0                    # active in this week or the 3 before
        minutes = np.bincount(grp["week"].to_numpy(), weights=grp["minutes"].to_numpy(), minlength=n_weeks)
        weekly_rows.append(pd.DataFrame({
            "tool_id": tool_id, "week": np.arange(n_weeks), "active_users": active.sum(axis=0),
            "active_4wk": rolling.sum(axis=0), "minutes": minutes}))
        school_codes, school_index = pd.factorize(pd.Series(stud_index).map(school_of))
        valid = school_codes >= 0
        onehot = sparse.csr_matrix((np.ones(valid.sum()), (school_codes[valid], np.flatnonzero(valid))),
                                   shape=(len(school_index), len(stud_index)))
        by_school = np.asarray(onehot @ rolling.astype(np.float64))
        school_peak_rows.append(pd.DataFrame({
            "tool_id": tool_id, "school_id": list(school_index), "peak_active_30d": by_school.max(axis=1)}))
    weekly = (pd.concat(weekly_rows, ignore_index=True) if weekly_rows
              else pd.DataFrame({"tool_id": pd.Series(dtype="object"), "week": pd.Series(dtype="int64"),
                                 "active_users": pd.Series(dtype="int64"), "active_4wk": pd.Series(dtype="int64"),
                                 "minutes": pd.Series(dtype="float64")}))
    weekly["week_start"] = week0 + pd.to_timedelta(weekly["week"] * 7, unit="D")
    weekly = weekly.merge(windows[["tool_id", "window_start"]], on="tool_id")
    weekly = weekly[weekly["week_start"] + pd.Timedelta(days=6) >= weekly["window_start"]]
    weekly = weekly.drop(columns=["week", "window_start"]).reset_index(drop=True)
    school_peak = (pd.concat(school_peak_rows, ignore_index=True) if school_peak_rows
                   else pd.DataFrame({"tool_id": pd.Series(dtype="object"), "school_id": pd.Series(dtype="object"),
                                      "peak_active_30d": pd.Series(dtype="float64")}))

    # ---- per tool x school
    school_frame = _school_frame(district, lic_now, windows, per_student, school_peak, params, whole)
    if whole is not None and len(school_frame):
        # a scope's seats and cost are its schools' share, not the district's whole contract
        in_scope = school_frame.groupby("tool_id")[["seats", "annual_cost"]].sum()
        windows = windows.copy()
        windows["seats"] = windows["tool_id"].map(in_scope["seats"]).fillna(0).round().astype("int64")
        windows["annual_cost"] = windows["tool_id"].map(in_scope["annual_cost"]).fillna(0.0)

    # ---- per tool
    t = windows.merge(tools, on="tool_id", how="left")
    g = per_student.groupby("tool_id")
    t["active_users"] = t["tool_id"].map(g.size()).fillna(0).astype("int64")
    t["active_7d"] = t["tool_id"].map(g["active_7d"].sum()).fillna(0).astype("int64")
    t["active_30d"] = t["tool_id"].map(g["active_30d"].sum()).fillna(0).astype("int64")
    t["dosage_met"] = t["tool_id"].map(g["dosage_met"].sum()).fillna(0).astype("int64")
    t["dosage_known"] = t["tool_id"].map(g["dosage_met"].count()).fillna(0).astype("int64")
    t["below_dosage"] = t["dosage_known"] - t["dosage_met"]
    t["total_hours"] = t["tool_id"].map(g["minutes"].sum() / 60.0).fillna(0.0)
    peak = weekly.groupby("tool_id")["active_4wk"].max()
    t["peak_active_30d"] = t["tool_id"].map(peak).fillna(0).astype("int64")
    t["utilization"] = [utilization(a, s) for a, s in zip(t["active_users"], t["seats"], strict=True)]
    t["idle_license_value"] = [idle_license_value(s, p, c) for s, p, c in
                               zip(t["seats"], t["peak_active_30d"], t["annual_cost"], strict=True)]
    t["days_to_renewal"] = (t["contract_end"] - as_of).dt.days

    t["pd_cost"] = t["tool_id"].map(_pd_costs(district, lic_now, windows, as_of, params)).fillna(0.0)
    t["device_cost"] = t["tool_id"].map(_device_costs(district, per_student, as_of, params)).fillna(0.0)
    t["ingredients_cost"] = t["annual_cost"] + t["pd_cost"] + t["internal_cost"] + t["device_cost"]
    seats = t["seats"].where(t["seats"] > 0)
    users = t["active_users"].where(t["active_users"] > 0)
    t["cost_per_seat"] = t["annual_cost"] / seats
    t["cost_per_active_user"] = t["annual_cost"] / users
    t["cost_per_hour"] = t["annual_cost"] / t["total_hours"].where(t["total_hours"] > 0)
    t["cost_per_student_served"] = t["ingredients_cost"] / users
    t["dosage_met_share"] = t["dosage_met"] / t["dosage_known"].where(t["dosage_known"] > 0)

    sf = school_frame
    licensed = sf.groupby("tool_id")["licensed_students"].sum()
    t["licensed_students"] = t["tool_id"].map(licensed).fillna(0.0)
    t["fidelity_share"] = t["dosage_met"] / t["licensed_students"].where(t["licensed_students"] > 0)
    covered = sf[sf["seats"] > 0]
    t["schools_licensed"] = t["tool_id"].map(covered.groupby("tool_id").size()).fillna(0).astype("int64")
    t["schools_with_fidelity"] = t["tool_id"].map(
        covered.groupby("tool_id")["implements_with_fidelity"].sum()).fillna(0).astype("int64")
    spread = covered.groupby("tool_id")["utilization"].agg(lambda s: s.max() - s.min() if s.count() >= 2 else np.nan)
    t["school_util_spread"] = t["tool_id"].map(spread)
    n_schools = max(len(district.schools), sf["school_id"].nunique())
    hours = sf.groupby("tool_id")["hours"]
    t["concentrated"] = t["tool_id"].map(hours.agg(lambda h: is_concentrated(h, n_schools))).fillna(False)
    t["flags"] = [[] for _ in range(len(t))]
    t = add_flags(t)
    for col in _TOOL_COLS:
        if col not in t.columns:
            t[col] = None
    return UsageMetrics(t[_TOOL_COLS].reset_index(drop=True), school_frame, per_student.drop(columns=["last_week"]),
                        weekly, as_of, params)


def is_concentrated(use_by_school: pd.Series | np.ndarray, n_schools: int) -> bool:
    """> 80% of the use (minutes) in at most 20% of the district's `n_schools` (at least one school);
    same rule as the adoption page (`edtech.adoption.use_concentration`)."""
    use = np.sort(np.asarray(use_by_school, dtype=float))[::-1]
    total = use.sum()
    if total <= 0:
        return False
    top = max(1, int(math.floor(0.2 * max(n_schools, 1))))
    return bool(use[:top].sum() > 0.8 * total)


def _school_frame(district: District, lic_now: pd.DataFrame, windows: pd.DataFrame, per_student: pd.DataFrame,
                  school_peak: pd.DataFrame, params: RoiParams, whole: District | None = None) -> pd.DataFrame:
    """Per tool x school: seats, users, utilization, dosage and fidelity. District-wide seats are shared
    among schools exactly as the adoption page shares them (`edtech.adoption.allocate_seats`: enrollment x
    share of the school's students in the tool's grade band), and their cost with them, so the totals
    of both pages reconcile."""
    parts = []
    if len(lic_now):
        site = lic_now[lic_now["school_id"].notna()]
        if len(site):
            parts.append(site.groupby(["tool_id", "school_id"], as_index=False).agg(
                seats=("seats", "sum"), annual_cost=("annual_cost", "sum")).assign(seats_shared=False))
        wide = lic_now[lic_now["school_id"].isna()]
        if len(wide):
            base = whole if whole is not None else district
            shared = adoption.allocate_seats(wide, base.schools, base.students, district.tools)
            shared = shared[shared["school_id"].isin(set(district.schools["school_id"]))]
            wide_tot = wide.groupby("tool_id")[["seats", "annual_cost"]].sum()
            shared = shared.rename(columns={"licensed_students": "seats"})
            shared["annual_cost"] = (shared["seats"] * shared["tool_id"].map(wide_tot["annual_cost"])
                                     / shared["tool_id"].map(wide_tot["seats"]).replace(0, np.nan)).fillna(0.0)
            parts.append(shared.assign(seats_shared=True))
    seats = (pd.concat(parts, ignore_index=True).groupby(["tool_id", "school_id"], as_index=False)
             .agg(seats=("seats", "sum"), annual_cost=("annual_cost", "sum"), seats_shared=("seats_shared", "any"))
             if parts else pd.DataFrame({"tool_id": pd.Series(dtype="object"), "school_id": pd.Series(dtype="object"),
                                         "seats": pd.Series(dtype="float64"), "annual_cost": pd.Series(dtype="float64"),
                                         "seats_shared": pd.Series(dtype="bool")}))
    seats = seats[(seats["seats"] > 0) | (seats["annual_cost"] > 0)]
    ps = per_student[per_student["school_id"].notna()]
    use = ps.groupby(["tool_id", "school_id"]).agg(
        active_users=("student_id", "size"), active_7d=("active_7d", "sum"), active_30d=("active_30d", "sum"),
        dosage_met=("dosage_met", "sum"), dosage_known=("dosage_met", "count"),
        hours=("minutes", lambda m: m.sum() / 60.0)).reset_index()
    sf = seats.merge(use, on=["tool_id", "school_id"], how="outer").merge(
        school_peak, on=["tool_id", "school_id"], how="left")
    for col in ["seats", "annual_cost", "hours", "peak_active_30d"]:
        sf[col] = sf[col].fillna(0.0).astype("float64")
    for col in ["active_users", "active_7d", "active_30d", "dosage_met", "dosage_known"]:
        sf[col] = sf[col].fillna(0).astype("int64")
    sf["seats_shared"] = sf["seats_shared"].astype("boolean").fillna(False).astype(bool)
    sf["utilization"] = sf["active_users"] / sf["seats"].where(sf["seats"] > 0)
    sf["licensed_students"] = np.maximum(sf["seats"], sf["active_users"])
    sf["fidelity_share"] = sf["dosage_met"] / sf["licensed_students"].where(sf["licensed_students"] > 0)
    sf["implements_with_fidelity"] = (sf["fidelity_share"] >= params.fidelity_threshold).fillna(False).astype(bool)
    sf["idle_license_value"] = [idle_license_value(s, p, c) for s, p, c in
                                zip(sf["seats"], sf["peak_active_30d"], sf["annual_cost"], strict=True)]
    names = district.schools.set_index("school_id")["school_name"]
    sf.insert(2, "school_name", sf["school_id"].map(names).fillna(sf["school_id"]).astype("object"))
    return sf.sort_values(["tool_id", "school_id"]).reset_index(drop=True)


def _device_costs(district: District, per_student: pd.DataFrame, as_of: pd.Timestamp,
                  params: RoiParams) -> pd.Series:
    """Annualized cost of assigned devices x device_cost_share, split across the tools each student used
    in proportion to their minutes. Zero unless the user sets a share (devices serve all instruction)."""
    if params.device_cost_share <= 0 or district.devices.empty or per_student.empty:
        return pd.Series(dtype="float64")
    dev = annualized_device_costs(district.devices, as_of, params)
    per_student_cost = dev.dropna(subset=["assigned_student_id"]).groupby("assigned_student_id")["annualized_cost"].sum()
    ps = per_student[["tool_id", "student_id", "minutes"]].copy()
    ps["share"] = ps["minutes"] / ps.groupby("student_id")["minutes"].transform("sum").where(lambda s: s > 0)
    ps["cost"] = ps["student_id"].map(per_student_cost).fillna(0.0) * ps["share"].fillna(0.0)
    return ps.groupby("tool_id")["cost"].sum() * params.device_cost_share


def add_flags(t: pd.DataFrame) -> pd.DataFrame:
    """The badges of methods.md section 1, as a list of flag keys per tool."""
    util = t["utilization"]
    cost_q3 = t["annual_cost"][t["seats"] > 0].quantile(0.75) if (t["seats"] > 0).sum() >= 4 else np.inf
    util_q1 = util.dropna().quantile(0.25) if util.notna().sum() >= 4 else -np.inf
    flags = []
    for _, r in t.iterrows():
        f = []
        if pd.notna(r["utilization"]) and r["utilization"] < 0.5:
            f.append("underused")
        if pd.notna(r["utilization"]) and r["utilization"] > 1.0:
            f.append("over_deployed")
        if pd.notna(r["school_util_spread"]) and r["school_util_spread"] > 0.40:
            f.append("uneven")
        if bool(r["concentrated"]):
            f.append("concentrated")
        if pd.notna(r["utilization"]) and r["annual_cost"] >= cost_q3 and r["utilization"] <= util_q1:
            f.append("expensive_underused")
        if r["privacy_status"] != "signed_dpa" or r["accessibility"] not in {"wcag_aa"}:
            f.append("unvetted")
        if pd.notna(r["days_to_renewal"]) and r["days_to_renewal"] <= RENEWAL_WINDOW_DAYS:
            f.append("renewal_due")
        flags.append(f)
    t["flags"] = flags
    return t


# ---------------------------------------------------------------- effects, score, recommendation

def compute_effects(district: District, metrics: UsageMetrics,
                    outcome_choice: dict[str, str] | None = None) -> pd.DataFrame:
    """Every tool x outcome-assessment effect row (edtech.effects)."""
    return effects_mod.estimate_tool_effects(district.students, district.assessments, district.tools,
                                             metrics.students, outcome_choice=outcome_choice)


def combine(metrics: UsageMetrics, effects: pd.DataFrame) -> pd.DataFrame:
    """Per-tool usage metrics joined with the headline effect and the cost-effectiveness numbers."""
    t = metrics.tools.copy()
    head = effects_mod.headline_effects(effects) if len(effects) else effects
    if len(head):
        t = t.merge(head, on="tool_id", how="left")
    for col in effects_mod.EFFECT_COLUMNS[1:]:
        if col not in t.columns:
            t[col] = None
    t["evidence_label"] = t["evidence_label"].fillna(effects_mod.LABEL_INSUFFICIENT)
    t["evidence_reason"] = t["evidence_reason"].fillna("No assessment in the tool's subject.")
    effect = pd.to_numeric(t["effect_size"], errors="coerce")
    for col in ["effect_size", "effect_ci_low", "effect_ci_high", "p_value", "baseline_std_diff",
                "descriptive_gap", "improvement_index"]:
        t[col] = pd.to_numeric(t[col], errors="coerce")
    # $ per 0.1 SD per student: only meaningful for a positive effect
    t["cost_per_0_1_sd"] = (t["cost_per_student_served"] / effect * 0.1).where(effect > 0)
    t["academic_roi_per_1000"] = (effect * t["dosage_met"] / t["ingredients_cost"].where(t["ingredients_cost"] > 0)
                                  * 1000.0)
    return t


def score_metrics(tools: pd.DataFrame, weights: dict[str, float] | None = None,
                  params: RoiParams | None = None) -> pd.DataFrame:
    """ROI score 0-100 and recommendation; cheap, so the app re-runs it on every slider move."""
    params = params or RoiParams()
    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    t = tools.copy()
    if t.empty:
        for col in ["roi_score", "score_parts_missing", "recommendation", "recommendation_reason",
                    "right_size_seats", "consolidate_with", "rank"]:
            t[col] = pd.Series(dtype="object")
        return t
    effect = pd.to_numeric(t["effect_size"], errors="coerce")
    usable = t["evidence_label"] != effects_mod.LABEL_INSUFFICIENT
    evidence_effect = (effect * t["evidence_label"].map(EVIDENCE_WEIGHT)).where(usable)
    # a non-positive effect makes the cost per unit of effect infinite: worst rank, not missing
    ce_rank_input = (-t["cost_per_0_1_sd"]).where(effect > 0, -np.inf).where(usable & effect.notna())
    parts = pd.DataFrame({
        "utilization": percentile_rank(t["utilization"].clip(upper=1.0)),
        "fidelity": percentile_rank(t["dosage_met_share"]),
        "effect": percentile_rank(evidence_effect),
        "cost_effectiveness": percentile_rank(ce_rank_input),
    }, index=t.index)
    w = pd.Series({k: float(weights.get(k, 0.0)) for k in parts.columns})
    present = parts.notna()
    weighted = (parts.fillna(0.0) * w).sum(axis=1)
    weight_present = (present * w).sum(axis=1)
    t["roi_score"] = (100.0 * weighted / weight_present.where(weight_present > 0)).round(1)
    for k in parts.columns:
        t[f"score_{k}"] = parts[k]
    t["score_parts_missing"] = [", ".join(WEIGHT_LABELS[k] for k in parts.columns if not present.at[i, k] and w[k] > 0)
                                for i in t.index]
    # a score resting on under half of the weight (e.g. utilization alone) is shown but ranked after
    # the tools whose score includes their evidence: it cannot be compared on return
    t["score_coverage"] = (weight_present / w.sum()).round(3) if w.sum() > 0 else 0.0
    t["rankable"] = t["score_coverage"] >= 0.5
    order = t.sort_values(["rankable", "roi_score"], ascending=[False, False], na_position="last").index
    t["rank"] = pd.Series(range(1, len(order) + 1), index=order).reindex(t.index).astype("Int64")
    t.loc[t["roi_score"].isna(), "rank"] = pd.NA
    t["right_size_seats"] = [right_size_seats(p, params.right_size_buffer) for p in t["peak_active_30d"]]
    consolidate = _consolidation_partners(t)
    recs = [_recommend(r, consolidate.get(r["tool_id"]), t) for _, r in t.iterrows()]
    t["recommendation"] = [r[0] for r in recs]
    t["recommendation_reason"] = [r[1] for r in recs]
    t["consolidate_with"] = [consolidate.get(x, (None,))[0] for x in t["tool_id"]]
    return t


def _consolidation_partners(t: pd.DataFrame) -> dict[str, tuple[str, str, float]]:
    """tool_id -> (partner id, partner name, school overlap) for a better-scoring tool of the same category
    whose schools cover most of this tool's schools."""
    out: dict[str, tuple[str, str, float]] = {}
    schools = t.set_index("tool_id")["_schools"] if "_schools" in t.columns else None
    if schools is None:
        return out
    for _, r in t.iterrows():
        mine = schools.get(r["tool_id"]) or set()
        if not mine or pd.isna(r["category"]):
            continue
        peers = t[(t["category"] == r["category"]) & (t["tool_id"] != r["tool_id"])
                  & (t["roi_score"].fillna(-1) > (r["roi_score"] if pd.notna(r["roi_score"]) else -1))]
        best = None
        for _, p in peers.iterrows():
            overlap = len(mine & (schools.get(p["tool_id"]) or set())) / len(mine)
            if overlap >= 0.5 and (best is None or p["roi_score"] > best[3]):
                best = (p["tool_id"], p["tool_name"], overlap, p["roi_score"])
        if best:
            out[r["tool_id"]] = best[:3]
    return out


def _recommend(r: pd.Series, partner: tuple[str, str, float] | None, t: pd.DataFrame) -> tuple[str, str]:
    """One recommendation with its one-sentence reason (order matters: the first rule that applies wins)."""
    label = r["evidence_label"]
    util = r["utilization"]
    good_evidence = label in (effects_mod.LABEL_MODERATE, effects_mod.LABEL_PROMISING)
    n = int(r["right_size_seats"])
    seats = int(r["seats"])
    if seats <= 0:
        return "study", "No license on file for this tool, so its cost and utilization can not be judged yet."
    util_txt = f"{util:.0%}" if pd.notna(util) else "no"
    if label == effects_mod.LABEL_NEGATIVE:
        return "sunset", (f"Students who met dosage scored significantly lower on {r['assessment']} than similar "
                          "non-users.")
    if pd.notna(util) and util < 0.2:
        if good_evidence and n > 0:
            return f"right-size to {n} seats", (f"Only {util_txt} of {seats} seats were used, but users benefit "
                                                f"({label}); the peak 4-week use of {int(r['peak_active_30d'])} "
                                                f"students plus a {int(round(100 * (n / max(r['peak_active_30d'], 1) - 1)))}% buffer needs {n} seats.")
        return "sunset", (f"Only {util_txt} of {seats} seats were used this contract year (digital dust) and there is "
                          "no evidence of benefit.")
    if partner and not good_evidence:
        return f"consolidate with {partner[1]}", (
            f"{partner[1]} serves the same category in {partner[2]:.0%} of this tool's schools and scores higher.")
    if pd.notna(util) and util < 0.8 and seats - n >= max(5, 0.1 * seats) and n > 0:
        return f"right-size to {n} seats", (
            f"Peak 4-week use was {int(r['peak_active_30d'])} students on {seats} seats; {n} seats "
            f"(peak + buffer) would save about ${(seats - n) * r['annual_cost'] / seats:,.0f} a year.")
    if label == effects_mod.LABEL_NONE:
        if pd.notna(util) and util < 0.5:
            return "sunset", f"Underused ({util_txt} of seats) and no detectable effect on {r['assessment']}."
        return "renegotiate", (f"Well used ({util_txt} of seats) but no detectable effect on {r['assessment']}: "
                               "negotiate the price down or replace it.")
    if not good_evidence:
        return "study", (f"{label}: run a planned comparison this year before deciding "
                         f"({int(r['dosage_met'])} students met dosage).")
    ce = t["cost_per_0_1_sd"]
    if ce.notna().sum() >= 4 and pd.notna(r["cost_per_0_1_sd"]) and r["cost_per_0_1_sd"] >= ce.quantile(0.75):
        return "renegotiate", (f"It works ({label}) but costs ${r['cost_per_0_1_sd']:,.0f} per 0.1 SD per student, "
                               "among the most expensive per unit of effect.")
    return "renew", f"{label} effect on {r['assessment']} and {util_txt} of seats used."


def _tool_schools(metrics: UsageMetrics) -> pd.Series:
    """Schools where each tool was actually used (for consolidation overlap)."""
    sf = metrics.schools
    used = sf[sf["active_users"] > 0] if len(sf) else sf
    return used.groupby("tool_id")["school_id"].agg(lambda s: set(s)) if len(used) else pd.Series(dtype="object")


def analyze_district(district: District, params: RoiParams | None = None,
                     outcome_choice: dict[str, str] | None = None, whole: District | None = None) -> tuple[UsageMetrics, pd.DataFrame, pd.DataFrame]:
    """The heavy part: (usage metrics, all effect rows, per-tool combined frame before scoring)."""
    params = params or RoiParams()
    metrics = compute_usage_metrics(district, params, whole)
    effects = (compute_effects(district, metrics, outcome_choice) if len(metrics.tools)
               else pd.DataFrame(columns=effects_mod.EFFECT_COLUMNS))
    combined = combine(metrics, effects)
    schools = _tool_schools(metrics)
    combined["_schools"] = [schools.get(x, set()) if len(schools) else set() for x in combined["tool_id"]]
    return metrics, effects, combined


SCORE_COLUMNS = [
    "rank", "tool_id", "tool_name", "category", "seats", "annual_cost", "ingredients_cost", "active_users",
    "active_30d", "active_7d", "peak_active_30d", "utilization", "idle_license_value", "cost_per_seat",
    "cost_per_active_user", "cost_per_hour", "dosage_met", "dosage_met_share", "fidelity_share", "assessment",
    "descriptive_gap", "effect_size", "effect_ci_low", "effect_ci_high", "p_value", "effect_method",
    "baseline_std_diff", "baseline_status", "evidence_label", "improvement_index", "cost_per_0_1_sd",
    "academic_roi_per_1000", "roi_score", "score_parts_missing", "recommendation", "recommendation_reason",
    "right_size_seats", "consolidate_with", "flags",
]


def score_tools(district: District, weights: dict[str, float] | None = None, params: RoiParams | None = None,
                outcome_choice: dict[str, str] | None = None, whole: District | None = None) -> pd.DataFrame:
    """Main entry: one row per tool with usage, cost, effect, evidence, ROI score and recommendation,
    sorted by ROI score (best first). All other computed columns follow `SCORE_COLUMNS`."""
    _, _, combined = analyze_district(district, params, outcome_choice, whole)
    return order_scoreboard(score_metrics(combined, weights, params))


def order_scoreboard(scored: pd.DataFrame) -> pd.DataFrame:
    front = [c for c in SCORE_COLUMNS if c in scored.columns]
    rest = [c for c in scored.columns if c not in front and not c.startswith("_")]
    out = scored[front + rest]
    if len(out):
        out = out.sort_values(["rank", "tool_name"], ascending=[True, True], na_position="last")
    return out.reset_index(drop=True)


def score_schools(district: District, params: RoiParams | None = None, whole: District | None = None) -> pd.DataFrame:
    """Per tool x school: seats (district-wide seats shared as on the adoption page), active users,
    utilization, peak 4-week users, idle value, dosage met and fidelity."""
    return compute_usage_metrics(district, params, whole).schools
