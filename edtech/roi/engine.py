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
from edtech.core import format as fmt
from edtech.core import rules
from edtech.core.district import District
from edtech.evidence import effects as effects_mod

# ---------------------------------------------------------------- parameters and definitions

DEFAULT_WEIGHTS: dict[str, float] = {
    "utilization": 25.0, "fidelity": 15.0, "effect": 35.0, "cost_effectiveness": 25.0,
}
# (v2, issue 17) optional parts: weight 0 unless the director sets one, so the methods.md score is unchanged.
# Satisfaction = percentile rank of the tool's stakeholder rating (`satisfaction_mean`, from
# edtech.feedback); a tool without enough responses gets the neutral rank 0.5, so it is neither helped nor
# hurt, and the part never counts toward the coverage that decides whether a tool is rankable.
OPTIONAL_WEIGHTS: dict[str, float] = {"satisfaction": 0.0}
NEUTRAL_RANK = 0.5
METHOD_PARTS = tuple(DEFAULT_WEIGHTS)
WEIGHT_LABELS = {
    "utilization": "Utilization", "fidelity": "Fidelity (dosage met)",
    "effect": "Evidence-weighted effect", "cost_effectiveness": "Cost-effectiveness",
    "satisfaction": "Stakeholder satisfaction",
}
# how much an effect estimate counts in the score, by the strength of its evidence
EVIDENCE_WEIGHT = {
    effects_mod.LABEL_MODERATE: 1.0, effects_mod.LABEL_PROMISING: 0.8,
    effects_mod.LABEL_RATIONALE: 0.5, effects_mod.LABEL_NONE: 0.5, effects_mod.LABEL_NEGATIVE: 1.0,
    effects_mod.LABEL_INCONCLUSIVE: 0.5,
}
DEFINITIONS = rules.DEFINITIONS


@dataclass(frozen=True)
class RoiParams:
    """Assumptions a director may change; every one is shown with the result."""

    discount_rate: float = rules.DISCOUNT_RATE
    device_life_years: float = rules.DEVICE_LIFE_YEARS
    pd_hourly_rate: float = rules.PD_HOURLY_RATE  # loaded rate for PD hours recorded without a cost
    device_cost_share: float = 0.0        # share of an assigned device's cost charged to the tools its student uses
    right_size_buffer: float = rules.RIGHT_SIZE_BUFFER


@dataclass
class UsageMetrics:
    """Everything heavy, computed once per district version."""

    tools: pd.DataFrame                   # one row per tool
    schools: pd.DataFrame                 # one row per tool x school
    students: pd.DataFrame                # one row per tool x user: weeks, minutes, dosage_met
    weekly: pd.DataFrame                  # one row per tool x week: active users, trailing 4-week active, minutes
    as_of: pd.Timestamp
    params: RoiParams = field(default_factory=RoiParams)


# ---------------------------------------------------------------- small formulas

def percentile_rank(values: pd.Series) -> pd.Series:
    """0-1 percentile rank among non-missing values (ties share the average rank)."""
    return values.rank(pct=True, method="average")


# ---------------------------------------------------------------- contracts and devices

def annualized_device_costs(devices: pd.DataFrame, as_of: pd.Timestamp, params: RoiParams) -> pd.DataFrame:
    """Per device in service: annualized cost by the capital recovery factor, with the useful life
    capped at the device's auto-update expiration (AUE) date, never below one year."""
    cols = ["device_id", "assigned_student_id", "school_id", "life_years", "annualized_cost"]
    if devices.empty:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in cols[:3] else "float64") for c in cols})
    dev = devices[~devices["status"].isin(["retired", "lost"])].copy()
    life = rules.device_life_years(dev["purchase_date"], dev["auto_update_expiration"], params.device_life_years)
    crf = life.map(lambda n: rules.capital_recovery_factor(params.discount_rate, n))
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


@dataclass
class UsageSummary:
    """The usage summaries the database keeps (edtech.store.summaries), computed for the current contract
    windows: per student x tool in the window (weeks_used, minutes, sessions, first_week, last_week) and
    per school x tool x week (active_users, minutes, sessions, active_4wk = trailing 4-week distinct
    students inside the window). The engines read these instead of the raw weekly rows."""

    student_tool: pd.DataFrame
    school_weeks: pd.DataFrame


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
    out["window_start"] = rules.contract_year_start(out["contract_start"], as_of)
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
        cost = rules.pd_cost(s["cost"], s["hours"], params.pd_hourly_rate)
        by_tool = by_tool.add(cost.groupby(s["tool_id"]).sum(), fill_value=0.0)
    if len(lic_now):
        lic_cost = rules.pd_cost(lic_now["pd_cost"], lic_now["pd_hours"], params.pd_hourly_rate)
        lic_by_tool = lic_cost.groupby(lic_now["tool_id"]).sum()
        no_sessions = by_tool[by_tool == 0].index
        by_tool.loc[no_sessions] = lic_by_tool.reindex(no_sessions).fillna(0.0).values
    return by_tool


def compute_usage_metrics(district: District, params: RoiParams | None = None,
                          summary: UsageSummary | None = None) -> UsageMetrics:
    """Per tool, per tool x school, per tool x student and per tool x week usage and cost metrics, on the
    whole district (a coordinator's view is selected from the per-school rows: `scope_board`).
    With `summary` the usage figures come from the database's summaries instead of `district.usage`
    (the same figures: tests/test_summaries.py)."""
    params = params or RoiParams()
    as_of = district.as_of
    tools = district.tools.copy()
    if tools.empty:
        return UsageMetrics(_empty(_TOOL_COLS), _empty(["tool_id", "school_id"]),
                            _empty(["tool_id", "student_id"]), _empty(["tool_id", "week_start"]), as_of, params)
    lic_now = rules.current_licenses(district.licenses, as_of)
    windows = _contract_windows(tools, lic_now, as_of)
    students = district.students[["student_id", "school_id", "grade_level"]]
    school_of = pd.Series(students["school_id"].values, index=students["student_id"].values)

    if summary is None:
        per_student, weekly, school_peak, weeks_in_use, last_week, first_30d_week = _usage_parts_raw(
            district, windows, tools, school_of, as_of)
    else:
        per_student, weekly, school_peak, weeks_in_use, last_week, first_30d_week = _usage_parts_summary(
            summary, windows, tools, school_of, as_of)
    rec = tools.set_index("tool_id")[["recommended_minutes_per_week", "recommended_weeks"]]
    # recommended weeks can not exceed the weeks the tool has been in use so far this year
    rec_weeks = rec["recommended_weeks"].astype("float64")
    rec_weeks_eff = np.minimum(rec_weeks, weeks_in_use.reindex(rec.index).fillna(0).astype("float64"))
    rec_weeks_eff = rec_weeks_eff.where(rec_weeks.notna())
    per_student["dosage_met"] = rules.dosage_met(
        per_student["avg_weekly_minutes"], per_student["weeks_used"],
        per_student["tool_id"].map(rec["recommended_minutes_per_week"]).astype("float64"),
        per_student["tool_id"].map(rec_weeks_eff).astype("float64"))
    per_student["active_7d"] = per_student["last_week"] >= last_week
    per_student["active_30d"] = per_student["last_week"] >= first_30d_week

    # ---- per tool x school
    school_frame = _school_frame(district, lic_now, per_student, school_peak)

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
    t["idle_license_value"] = [rules.idle_license_value(s, p, c) for s, p, c in
                               zip(t["seats"], t["peak_active_30d"], t["annual_cost"], strict=True)]
    t["days_to_renewal"] = (t["contract_end"] - as_of).dt.days

    t["pd_cost"] = t["tool_id"].map(_pd_costs(district, lic_now, windows, as_of, params)).fillna(0.0)
    t["device_cost"] = t["tool_id"].map(_device_costs(district, per_student, as_of, params)).fillna(0.0)
    t["ingredients_cost"] = t["annual_cost"] + t["pd_cost"] + t["internal_cost"] + t["device_cost"]

    sf = school_frame
    licensed = sf.groupby("tool_id")["licensed_students"].sum()
    t["licensed_students"] = t["tool_id"].map(licensed).fillna(0.0)
    t = with_ratios(t)
    covered = sf[sf["seats"] > 0]
    t["schools_licensed"] = t["tool_id"].map(covered.groupby("tool_id").size()).fillna(0).astype("int64")
    t["schools_with_fidelity"] = t["tool_id"].map(
        covered.groupby("tool_id")["implements_with_fidelity"].sum()).fillna(0).astype("int64")
    spread = covered.groupby("tool_id")["utilization"].agg(lambda s: s.max() - s.min() if s.count() >= 2 else np.nan)
    t["school_util_spread"] = t["tool_id"].map(spread)
    n_schools = max(len(district.schools), sf["school_id"].nunique())
    hours = sf.groupby("tool_id")["hours"]
    t["concentrated"] = t["tool_id"].map(hours.agg(lambda h: rules.is_concentrated(h, n_schools))).fillna(False)
    t["flags"] = [[] for _ in range(len(t))]
    t = add_flags(t)
    for col in _TOOL_COLS:
        if col not in t.columns:
            t[col] = None
    return UsageMetrics(t[_TOOL_COLS].reset_index(drop=True), school_frame, per_student.drop(columns=["last_week"]),
                        weekly, as_of, params)


def _usage_parts_raw(district: District, windows: pd.DataFrame, tools: pd.DataFrame, school_of: pd.Series,
                     as_of: pd.Timestamp) -> tuple:
    """(per student x tool, per tool x week, per tool x school peak, weeks in use per tool, index of the
    last week, index of the first week in the last 30 days) from the raw weekly usage rows."""
    # ---- usage inside each tool's contract window, active rows only
    usage = district.usage
    usage = usage[rules.is_active_row(usage)]
    win_start = windows.set_index("tool_id")["window_start"]
    usage = usage[rules.week_overlaps(usage["week_start"], usage["tool_id"].map(win_start), as_of)]
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
    weeks_in_use = u.groupby("tool_id")["week"].nunique()

    # ---- weekly series and trailing 4-week distinct users, per tool and per tool x school
    weekly_rows, school_peak_rows = [], []
    n_weeks = last_week + 1 if len(u) else 0
    for tool_id, grp in u.groupby("tool_id", sort=False):
        stud_codes, stud_index = pd.factorize(grp["student_id"])
        week_codes = grp["week"].to_numpy()
        active = np.zeros((len(stud_index), n_weeks), dtype=bool)
        active[stud_codes, week_codes] = True
        active_users = active.sum(axis=0)                # distinct students per week
        rolling = rules.active_in_trailing_weeks(stud_codes, week_codes, len(stud_index), n_weeks)
        minutes = np.bincount(week_codes, weights=grp["minutes"].to_numpy(), minlength=n_weeks)
        weekly_rows.append(pd.DataFrame({
            "tool_id": tool_id, "week": np.arange(n_weeks), "active_users": active_users,
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

    return per_student, weekly, school_peak, weeks_in_use, last_week, first_30d_week


def _usage_parts_summary(summary: UsageSummary, windows: pd.DataFrame, tools: pd.DataFrame, school_of: pd.Series,
                         as_of: pd.Timestamp) -> tuple:
    """The same parts as `_usage_parts_raw`, from the database summaries (already cut to each tool's
    contract window): week indexes count from the first week any tool was used in its window."""
    st = summary.student_tool
    st = st[st["tool_id"].isin(set(tools["tool_id"])) & (st["first_week"] <= as_of)]
    week0 = st["first_week"].min() if len(st) else as_of
    last_week = int((as_of - pd.Timedelta(days=6) - week0).days // 7)
    first_30d_week = int(math.ceil((as_of - pd.Timedelta(days=29) - week0).days / 7))
    per_student = pd.DataFrame({
        "tool_id": st["tool_id"].astype("str").to_numpy(), "student_id": st["student_id"].astype("str").to_numpy(),
        "weeks_used": st["weeks_used"].astype("int64").to_numpy(), "minutes": st["minutes"].astype("float64").to_numpy(),
        "last_week": ((st["last_week"] - week0).dt.days // 7).astype("int64").to_numpy()})
    per_student["avg_weekly_minutes"] = per_student["minutes"] / per_student["weeks_used"]
    per_student["school_id"] = per_student["student_id"].map(school_of)
    used_tools = pd.unique(per_student["tool_id"])
    n_weeks = last_week + 1 if len(per_student) else 0
    first_week = (windows.set_index("tool_id")["window_start"] - pd.Timedelta(days=6))
    grid = pd.DataFrame({"tool_id": np.repeat(used_tools, n_weeks), "week": np.tile(np.arange(n_weeks), len(used_tools))})
    grid["week_start"] = week0 + pd.to_timedelta(grid["week"] * 7, unit="D")
    if len(grid):
        grid = grid[grid["week_start"] >= grid["tool_id"].map(first_week)]
    sw = summary.school_weeks
    sw = sw[sw["tool_id"].isin(set(used_tools))]
    if len(sw):
        sw = sw[(sw["week_start"] >= sw["tool_id"].map(first_week)) & (sw["week_start"] >= week0)
                & (sw["week_start"] <= week0 + pd.Timedelta(days=7 * max(last_week, -1)))]
    sums = sw.groupby(["tool_id", "week_start"])[["active_users", "active_4wk", "minutes"]].sum()
    weekly = grid.merge(sums.reset_index(), on=["tool_id", "week_start"], how="left")
    for col in ("active_users", "active_4wk"):
        weekly[col] = weekly[col].fillna(0).astype("int64")
    weekly["minutes"] = weekly["minutes"].fillna(0.0).astype("float64")
    weekly = weekly[["tool_id", "active_users", "active_4wk", "minutes", "week_start"]].reset_index(drop=True)
    weekly["tool_id"] = weekly["tool_id"].astype("object")
    in_school = sw[sw["school_id"] != ""]
    peak = in_school.groupby(["tool_id", "school_id"]).agg(users=("active_users", "sum"),
                                                         peak_active_30d=("active_4wk", "max")).reset_index()
    school_peak = peak[peak["users"] > 0][["tool_id", "school_id", "peak_active_30d"]].reset_index(drop=True)
    school_peak["peak_active_30d"] = school_peak["peak_active_30d"].astype("float64")
    school_peak[["tool_id", "school_id"]] = school_peak[["tool_id", "school_id"]].astype("str")
    weeks_in_use = sw[sw["active_users"] > 0].groupby("tool_id")["week_start"].nunique()
    return per_student, weekly, school_peak, weeks_in_use, last_week, first_30d_week


def _school_frame(district: District, lic_now: pd.DataFrame, per_student: pd.DataFrame,
                  school_peak: pd.DataFrame) -> pd.DataFrame:
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
            shared = adoption.allocate_seats(wide, district.schools, district.students, district.tools)
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
    sf["fidelity_share"] = sf["fidelity_share"].where(sf["dosage_known"] > 0)
    sf["implements_with_fidelity"] = rules.implements_with_fidelity(sf["fidelity_share"])
    sf["idle_license_value"] = [rules.idle_license_value(s, p, c) for s, p, c in
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
    """The badges of methods.md section 1 (rules in edtech.core.rules), as a list of flag keys per tool."""
    util = t["utilization"]
    cost_q3 = t["annual_cost"][t["seats"] > 0].quantile(0.75) if (t["seats"] > 0).sum() >= 4 else np.inf
    util_q1 = util.dropna().quantile(0.25) if util.notna().sum() >= 4 else -np.inf
    vetted = rules.is_vetted(t["privacy_status"], t["accessibility"])
    flags = []
    for i, r in t.iterrows():
        f = []
        if rules.is_underused(r["utilization"]):
            f.append("underused")
        if rules.is_over_deployed(r["utilization"]):
            f.append("over_deployed")
        if rules.is_uneven(r["school_util_spread"]):
            f.append("uneven")
        if bool(r["concentrated"]):
            f.append("concentrated")
        if pd.notna(r["utilization"]) and r["annual_cost"] >= cost_q3 and r["utilization"] <= util_q1:
            f.append("expensive_underused")
        if not bool(vetted.loc[i]):
            f.append("unvetted")
        if pd.notna(r["days_to_renewal"]) and bool(rules.renewal_due(r["days_to_renewal"])):
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
    t["evidence_code"] = t["evidence_label"].map(effects_mod.EVIDENCE_CODES)
    effect = pd.to_numeric(t["effect_size"], errors="coerce")
    for col in ["effect_size", "effect_ci_low", "effect_ci_high", "p_value", "baseline_std_diff",
                "descriptive_gap", "improvement_index", "mde", "sample_to_settle", "p_above", "p_within", "p_below"]:
        t[col] = pd.to_numeric(t[col], errors="coerce")
    # $ per 0.1 SD per student at dosage (v2: the population the effect is estimated on); positive effects only
    per_dosage = t["ingredients_cost"] / t["dosage_met"].where(t["dosage_met"] > 0)
    t["cost_per_student_at_dosage"] = per_dosage
    t["cost_per_0_1_sd"] = (per_dosage / effect * 0.1).where(effect > 0)
    t["academic_roi_per_1000"] = (effect * t["dosage_met"] / t["ingredients_cost"].where(t["ingredients_cost"] > 0)
                                  * 1000.0)
    return t


def score_metrics(tools: pd.DataFrame, weights: dict[str, float] | None = None,
                  params: RoiParams | None = None) -> pd.DataFrame:
    """ROI score 0-100 and recommendation; cheap, so the app re-runs it on every slider move."""
    params = params or RoiParams()
    weights = {**DEFAULT_WEIGHTS, **OPTIONAL_WEIGHTS, **(weights or {})}
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
        "satisfaction": satisfaction_rank(t),
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
    method_w = w[list(METHOD_PARTS)]
    method_present = (present[list(METHOD_PARTS)] * method_w).sum(axis=1)
    t["score_coverage"] = (method_present / method_w.sum()).round(3) if method_w.sum() > 0 else 0.0
    t["rankable"] = t["score_coverage"] >= 0.5
    order = t.sort_values(["rankable", "roi_score"], ascending=[False, False], na_position="last").index
    t["rank"] = pd.Series(range(1, len(order) + 1), index=order).reindex(t.index).astype("Int64")
    t.loc[t["roi_score"].isna(), "rank"] = pd.NA
    buffer = params.right_size_buffer
    t["right_size_seats"] = [rules.right_size_seats(p, s, buffer) for p, s in zip(t["peak_active_30d"], t["seats"],
                                                                                 strict=True)]
    t["right_size_savings"] = [rules.right_size_savings(s, p, c, buffer) for s, p, c in
                               zip(t["seats"], t["peak_active_30d"], t["annual_cost"], strict=True)]
    consolidate = _consolidation_partners(t)
    recs = [_recommend(r, consolidate.get(r["tool_id"]), t) for _, r in t.iterrows()]
    t["recommendation"] = [r[0] for r in recs]
    t["recommendation_reason"] = [r[1] for r in recs]
    t["consolidate_with"] = [consolidate.get(x, (None,))[0] for x in t["tool_id"]]
    t["savings_if_followed"] = savings_if_followed(t)
    return t


def satisfaction_rank(t: pd.DataFrame) -> pd.Series:
    """0-1 percentile rank of `satisfaction_mean` among the tools that have one; NEUTRAL_RANK for the others
    (no column, or too few responses: edtech.feedback leaves the mean missing then)."""
    if "satisfaction_mean" not in t.columns:
        return pd.Series(NEUTRAL_RANK, index=t.index, dtype="float64")
    return percentile_rank(pd.to_numeric(t["satisfaction_mean"], errors="coerce")).fillna(NEUTRAL_RANK)


def recommendation_kind(recommendation: pd.Series) -> pd.Series:
    """renew / right_size / renegotiate / consolidate / sunset / study (data contract v2 decision codes)."""
    first = recommendation.fillna("").astype(str).str.split().str[0].str.lower()
    return first.replace({"right-size": "right_size"})


def savings_if_followed(t: pd.DataFrame) -> list[float]:
    """Annual savings at today's prices if the recommendation is followed: the right-size saving, or the
    whole license for a sunset; nothing otherwise (renegotiation savings are not known in advance)."""
    kind = recommendation_kind(t["recommendation"])
    return [float(rs) if k == "right_size" else (float(c) if k == "sunset" else 0.0)
            for k, rs, c in zip(kind, t["right_size_savings"], t["annual_cost"], strict=True)]


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
    util_txt = fmt.pct(util) if pd.notna(util) else "no"
    saving = fmt.money(r["right_size_savings"])
    p_below, p_above = r.get("p_below"), r.get("p_above")
    threshold = r.get("decision_threshold")
    threshold = effects_mod.DECISION_THRESHOLD if threshold is None or pd.isna(threshold) else float(threshold)
    if label == effects_mod.LABEL_NEGATIVE:
        harm = (f" (P(effect < −{threshold:g} SD) = {effects_mod.probability_text(p_below)}, "
                f"{effects_mod.FLAT_PRIOR_NOTE})" if p_below is not None and pd.notna(p_below) else "")
        return "sunset", (f"Students who met dosage scored lower on {r['assessment']} than comparable non-users, "
                          f"and the 95% interval excludes 0{harm}.")
    if pd.notna(util) and util < 0.2:
        if good_evidence and n > 0:
            return f"right-size to {n} seats", (f"Only {util_txt} of {seats} seats were used, but users benefit "
                                                f"({label}); the peak 4-week use of {int(r['peak_active_30d'])} "
                                                f"students plus a {rules.RIGHT_SIZE_BUFFER:.0%} buffer needs {n} seats, "
                                                f"saving {saving} a year at today's price.")
        return "sunset", (f"Only {util_txt} of {seats} seats were used this contract year (digital dust) and there is "
                          "no evidence of benefit.")
    if partner and not good_evidence:
        return f"consolidate with {partner[1]}", (
            f"{partner[1]} serves the same category in {partner[2]:.0%} of this tool's schools and scores higher.")
    if pd.notna(util) and util < 0.8 and seats - n >= max(5, 0.1 * seats) and n > 0:
        return f"right-size to {n} seats", (
            f"Peak 4-week use was {int(r['peak_active_30d'])} students on {seats} seats; {n} seats "
            f"(peak + {rules.RIGHT_SIZE_BUFFER:.0%} buffer) would save {saving} a year at today's price.")
    if label == effects_mod.LABEL_NONE:
        if rules.is_underused(util):
            return "sunset", f"Underused ({util_txt} of seats) and no detectable effect on {r['assessment']}."
        return "renegotiate", (f"Well used ({util_txt} of seats) but no detectable effect on {r['assessment']}: "
                               "negotiate the price down or replace it.")
    if not good_evidence:
        settle = r.get("sample_to_settle")
        needed = (f"; about {int(settle):,} students in the comparison would settle it"
                  if settle is not None and pd.notna(settle) else "")
        return "study", (f"{label}: run a planned comparison this year before deciding "
                         f"({int(r['dosage_met'])} students met dosage{needed}).")
    ce = t["cost_per_0_1_sd"]
    if ce.notna().sum() >= 4 and pd.notna(r["cost_per_0_1_sd"]) and r["cost_per_0_1_sd"] >= ce.quantile(0.75):
        return "renegotiate", (f"Positive local evidence ({label}) but it costs ${r['cost_per_0_1_sd']:,.0f} per "
                               "0.1 SD per student at dosage, among the most expensive per unit of effect.")
    above = (f" (P(effect > {threshold:g} SD) = {effects_mod.probability_text(p_above)}, "
             f"{effects_mod.FLAT_PRIOR_NOTE})" if p_above is not None and pd.notna(p_above) else "")
    return "renew", f"{label} effect on {r['assessment']}{above} and {util_txt} of seats used."


def _tool_schools(metrics: UsageMetrics) -> pd.Series:
    """Schools where each tool was actually used (for consolidation overlap)."""
    sf = metrics.schools
    used = sf[sf["active_users"] > 0] if len(sf) else sf
    return used.groupby("tool_id")["school_id"].agg(lambda s: set(s)) if len(used) else pd.Series(dtype="object")


def analyze_district(district: District, params: RoiParams | None = None,
                     outcome_choice: dict[str, str] | None = None,
                     summary: UsageSummary | None = None) -> tuple[UsageMetrics, pd.DataFrame, pd.DataFrame]:
    """The heavy part, on the whole district: (usage metrics, all effect rows, per-tool frame before scoring);
    usage from `summary` when given (the database's summaries), else from `district.usage`."""
    params = params or RoiParams()
    metrics = compute_usage_metrics(district, params, summary)
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
    "baseline_std_diff", "baseline_status", "evidence_label", "evidence_code", "improvement_index", "mde",
    "sample_to_settle", "p_above", "p_within", "p_below", "cost_per_0_1_sd",
    "academic_roi_per_1000", "roi_score", "score_parts_missing", "recommendation", "recommendation_reason",
    "right_size_seats", "right_size_savings", "savings_if_followed", "consolidate_with", "flags",
]


def score_tools(district: District, weights: dict[str, float] | None = None, params: RoiParams | None = None,
                outcome_choice: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per tool with usage, cost, effect, evidence, ROI score and recommendation, sorted by ROI
    score (best first), for the whole `district`. All other computed columns follow `SCORE_COLUMNS`."""
    _, _, combined = analyze_district(district, params, outcome_choice)
    return order_scoreboard(score_metrics(combined, weights, params))


def order_scoreboard(scored: pd.DataFrame) -> pd.DataFrame:
    front = [c for c in SCORE_COLUMNS if c in scored.columns]
    rest = [c for c in scored.columns if c not in front and not c.startswith("_")]
    out = scored[front + rest]
    if len(out):
        out = out.sort_values(["rank", "tool_name"], ascending=[True, True], na_position="last")
    return out.reset_index(drop=True)


def with_ratios(t: pd.DataFrame) -> pd.DataFrame:
    """Per-tool ratios from its counts and costs (one place for the district and a coordinator's scope):
    utilization, cost per seat / active user / hour / student served, dosage share and fidelity (unknown
    when no user has a vendor dosage)."""
    seats = t["seats"].where(t["seats"] > 0)
    users = t["active_users"].where(t["active_users"] > 0)
    t["utilization"] = rules.utilization(t["active_users"], t["seats"])
    t["cost_per_seat"] = t["annual_cost"] / seats
    t["cost_per_active_user"] = t["annual_cost"] / users
    t["cost_per_hour"] = t["annual_cost"] / t["total_hours"].where(t["total_hours"] > 0)
    t["cost_per_student_served"] = t["ingredients_cost"] / users
    t["dosage_met_share"] = t["dosage_met"] / t["dosage_known"].where(t["dosage_known"] > 0)
    t["fidelity_share"] = (t["dosage_met"] / t["licensed_students"].where(t["licensed_students"] > 0)
                           ).where(t["dosage_known"] > 0)
    return t


# ---------------------------------------------------------------- a coordinator's scope

# columns recomputed from the scope's schools; everything else (evidence, score, rank, recommendation,
# contract dates, district flags) stays the district's
SCOPED_SUMS = ["seats", "annual_cost", "active_users", "active_7d", "active_30d", "dosage_met", "dosage_known",
               "peak_active_30d", "idle_license_value", "licensed_students"]


def scope_board(board: pd.DataFrame, metrics: UsageMetrics, scope: frozenset[str] | None) -> pd.DataFrame:
    """The district scoreboard seen from a coordinator's schools: seats and spend are their own licenses
    plus their share of district-wide ones; users, dosage and fidelity are their students'; evidence,
    score, recommendation and district flags are the district's (edtech.core.scope)."""
    if scope is None or board.empty:
        return board.assign(scope_share=False) if not board.empty else board
    sf = metrics.schools[metrics.schools["school_id"].isin(scope)]
    sums = sf.groupby("tool_id")[[c for c in SCOPED_SUMS if c in sf.columns]].sum()
    shared = sf.groupby("tool_id")["seats_shared"].any()
    hours = sf.groupby("tool_id")["hours"].sum()
    out = board.copy()
    district_seats = out["seats"].where(out["seats"] > 0)
    district_cost = out["annual_cost"]
    for col in sums.columns:
        out[col] = out["tool_id"].map(sums[col]).fillna(0.0)
    out["seats"] = out["seats"].round().astype("int64")
    for col in ["active_users", "active_7d", "active_30d", "dosage_met", "peak_active_30d"]:
        out[col] = out[col].round().astype("int64")
    out["scope_share"] = out["tool_id"].map(shared).fillna(False).astype(bool)
    # the scope's share of district-level costs and savings: pro rata to its seats
    share = (out["seats"] / district_seats).fillna(0.0)
    out["ingredients_cost"] = out["annual_cost"] + (board["ingredients_cost"] - district_cost).fillna(0.0) * share
    for col in ("right_size_savings", "savings_if_followed", "pd_cost", "internal_cost", "device_cost"):
        if col in out.columns:
            out[col] = board[col].fillna(0.0) * share
    out["total_hours"] = out["tool_id"].map(hours).fillna(0.0)
    out = with_ratios(out)
    # the recommendation is the district's: right-size and savings are district figures, not the scope's
    out["flags"] = [[f for f in flags if f not in ("underused", "over_deployed")]
                    + (["underused"] if rules.is_underused(u) else [])
                    + (["over_deployed"] if rules.is_over_deployed(u) else [])
                    for flags, u in zip(out["flags"], out["utilization"], strict=True)]
    return out[out["seats"].gt(0) | out["active_users"].gt(0)].reset_index(drop=True)
