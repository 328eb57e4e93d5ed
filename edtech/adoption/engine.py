"""School adoption: who has each tool, who uses it, and whether they use it enough (methods.md §1).

Pure: DataFrames (or a `District`) in, DataFrames out. No streamlit, no files, no database.

Definitions shared with the ROI engine (`edtech.roi`) so the totals reconcile exactly:
- **Current contract** of a tool: its licenses in force on `as_of` (start ≤ as_of ≤ end); when none
  is in force, its most recently started licenses (else its first future ones). Seats = their sum.
- **Contract year window**: from the earliest start of those licenses to `as_of` (a tool without a
  license, or whose contract starts after as_of, gets the 365 days ending at as_of). Usage is weekly,
  so a week counts when any of its days is in the window.
- **Active user** in a window: a distinct student with ≥ 1 session or > 0 minutes in it.
- **Dosage met** (student × tool, 80/80 rule): average weekly minutes over the weeks the student used
  the tool ≥ 80% of `recommended_minutes_per_week`, over ≥ 80% of `recommended_weeks` weeks (capped at
  the weeks the tool has been in use so far this year). Unknown when the vendor gives no dosage.
- **Fidelity** (school × tool): dosage-met students / licensed students (the school's seats, or its
  active users when more); a school implements with fidelity when that share is ≥ 80%.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
from scipy import stats

from edtech.core import rules
from edtech.core.district import District

ACTIVE_USER_RULE = rules.ACTIVE_USER_RULE
SEAT_ALLOCATION_RULE = (
    "Licensed students: a school license's seats count for that school. A district-wide license's seats "
    "(and cost) are shared among schools by each school's share of the students rostered in the tool's "
    "grade band (largest-remainder rounding, so the shares add up to the seats exactly).")
FRL_BAND_RULE = "FRL band: low < 40%, mid 40–75%, high ≥ 75% free/reduced-price lunch (Title I thresholds)."
DOSAGE_SHARE = rules.DOSAGE_SHARE
SCHOOL_CLOSURE_2020 = pd.Timestamp("2020-03-13")  # most US schools closed for COVID-19 around this Friday

GRADE_ORDER = ["PK", "K", *[str(g) for g in range(1, 13)]]
_GRADE_RANK = {g: i for i, g in enumerate(GRADE_ORDER)}


# --------------------------------------------------------------------------------------------- basics
is_active_row = rules.is_active_row


def frl_band(frl_pct: pd.Series) -> pd.Series:
    """low / mid / high FRL band of each school (NaN → 'unknown')."""
    bands = pd.cut(frl_pct, bins=[-np.inf, 0.40, 0.75, np.inf], right=False, labels=["low", "mid", "high"])
    return bands.astype("object").where(bands.notna(), "unknown")


def grades_in_band(grade_band: object) -> set[str] | None:
    """Grades covered by a band such as 'K-5', '6-8', '9-12', 'PK-2', 'K'; None = all grades / unknown."""
    if grade_band is None or (isinstance(grade_band, float) and math.isnan(grade_band)):
        return None
    text = str(grade_band).strip().upper().replace("–", "-").replace("TK", "PK")
    match = re.fullmatch(r"(PK|K|\d{1,2})\s*(?:-\s*(PK|K|\d{1,2}))?", text)
    if not match:
        return None
    lo = _GRADE_RANK.get(match.group(1).lstrip("0") or "0")
    hi = _GRADE_RANK.get((match.group(2) or match.group(1)).lstrip("0") or "0")
    if lo is None or hi is None or hi < lo:
        return None
    return set(GRADE_ORDER[lo:hi + 1])


def _normalize_grade(grades: pd.Series) -> pd.Series:
    text = grades.astype("object").where(grades.notna(), "").map(lambda g: str(g).strip().upper())
    return text.map(lambda g: g.lstrip("0") or ("0" if g else "")).replace({"TK": "PK", "KG": "K", "00": "K"})


def eligible_students(students: pd.DataFrame, tools: pd.DataFrame) -> pd.DataFrame:
    """Student × tool pairs where the student's grade is in the tool's grade band (all grades if unknown)."""
    if students.empty or tools.empty:
        return pd.DataFrame({"student_id": pd.Series(dtype=object), "tool_id": pd.Series(dtype=object)})
    grade = _normalize_grade(students["grade_level"])
    parts = []
    for tool_id, band in zip(tools["tool_id"], tools["grade_band"], strict=True):
        grades = grades_in_band(band)
        ids = students["student_id"] if grades is None else students.loc[grade.isin(grades).to_numpy(), "student_id"]
        parts.append(pd.DataFrame({"student_id": ids.to_numpy(), "tool_id": tool_id}))
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------------- contract window
def contract_windows(licenses: pd.DataFrame, as_of: pd.Timestamp, tools: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per tool (every licensed tool, plus every tool in `tools`): current seats, cost and the
    contract-year window (rules.current_licenses, rules.contract_year_start)."""
    as_of = pd.Timestamp(as_of)
    lic = rules.current_licenses(licenses, as_of)
    ids = pd.Index(sorted(set(lic["tool_id"]) | (set(tools["tool_id"]) if tools is not None else set())), dtype=object)
    g = lic.groupby("tool_id")
    out = pd.DataFrame({"tool_id": ids})
    out["seats"] = g["seats"].sum().reindex(ids).fillna(0).astype("int64").to_numpy()
    out["annual_cost"] = g["annual_cost"].sum().reindex(ids).fillna(0.0).astype("float64").to_numpy()
    out["window_start"] = rules.contract_year_start(g["start_date"].min().reindex(ids), as_of).to_numpy()
    out["window_end"] = as_of
    return out[["tool_id", "window_start", "window_end", "seats", "annual_cost"]]


current_licenses = rules.current_licenses


def usage_in_window(usage: pd.DataFrame, windows: pd.DataFrame) -> pd.DataFrame:
    """Active usage rows in a week that overlaps their tool's contract-year window."""
    if usage.empty or windows.empty:
        return usage.iloc[0:0].copy()
    active = usage.loc[is_active_row(usage)]
    window = windows.set_index("tool_id")
    inside = rules.week_overlaps(active["week_start"], active["tool_id"].map(window["window_start"]),
                                 active["tool_id"].map(window["window_end"]))
    return active.loc[inside]


# ------------------------------------------------------------------------------------ seat allocation
def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Integers proportional to weights that add up to total exactly."""
    if total <= 0 or len(weights) == 0:
        return np.zeros(len(weights), dtype="int64")
    weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
    if weights.sum() == 0:
        weights = np.ones(len(weights))
    exact = total * weights / weights.sum()
    base = np.floor(exact).astype("int64")
    short = int(total - base.sum())
    order = np.argsort(-(exact - base), kind="stable")
    base[order[:short]] += 1
    return base


def allocate_seats(licenses: pd.DataFrame, schools: pd.DataFrame, students: pd.DataFrame,
                   tools: pd.DataFrame) -> pd.DataFrame:
    """Licensed students per school × tool from current license rows (rule: `SEAT_ALLOCATION_RULE`)."""
    out_cols = ["school_id", "tool_id", "licensed_students"]
    if licenses.empty or schools.empty:
        return pd.DataFrame({"school_id": pd.Series(dtype=object), "tool_id": pd.Series(dtype=object),
                             "licensed_students": pd.Series(dtype="int64")})
    school_ids = schools["school_id"].to_numpy()
    enrollment = pd.to_numeric(schools["enrollment"], errors="coerce").astype("float64")
    counted = students.groupby("school_id").size().reindex(school_ids).fillna(0).to_numpy(dtype=float)
    # schools without an enrollment figure use the number of student rows
    enrollment = np.where(np.isnan(enrollment.to_numpy()), counted, enrollment.to_numpy())
    grade = _normalize_grade(students["grade_level"]) if len(students) else pd.Series(dtype=object)
    band_of = dict(zip(tools["tool_id"], tools["grade_band"], strict=False))
    parts = []
    for tool_id, lic in licenses.groupby("tool_id", sort=False):
        site = lic[lic["school_id"].notna()]
        if len(site):
            parts.append(site.groupby("school_id")["seats"].sum().rename("licensed_students")
                         .reset_index().assign(tool_id=tool_id))
        shared = int(lic.loc[lic["school_id"].isna(), "seats"].sum())
        if shared:
            grades = grades_in_band(band_of.get(tool_id))
            if not len(students):
                weights = enrollment        # no roster: share by enrollment
            elif grades is None:
                weights = counted
            else:
                weights = students["school_id"][grade.isin(grades).to_numpy()].value_counts().reindex(
                    school_ids).fillna(0).to_numpy(dtype=float)
            seats = _largest_remainder(shared, weights)
            parts.append(pd.DataFrame({"school_id": school_ids, "licensed_students": seats, "tool_id": tool_id}))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in out_cols})
    out = pd.concat(parts, ignore_index=True).groupby(["school_id", "tool_id"], as_index=False)["licensed_students"].sum()
    out["licensed_students"] = out["licensed_students"].astype("int64")
    return out[out_cols]


# ------------------------------------------------------------------------------- student × tool table
_STUDENT_TOOL_COLS = ["student_id", "tool_id", "school_id", "grade_level", "weeks_used", "minutes", "sessions",
                      "avg_weekly_minutes", "dosage_ratio", "dosage_met"]


def student_tool_usage(district: District, student_tool: pd.DataFrame | None = None,
                       school_weeks: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per student × tool used in the contract window: school, weeks used, minutes, dosage met.

    `dosage_met` is NA when the tool has no recommended minutes (the 80/80 rule cannot be applied).
    With the database's summaries (`student_tool`, `school_weeks`: edtech.store.summaries, already cut
    to each tool's window) the raw weekly rows are not read.
    """
    windows = contract_windows(district.licenses, district.as_of, district.tools)
    if student_tool is not None and school_weeks is not None:
        first_week = windows.set_index("tool_id")["window_start"] - pd.Timedelta(days=6)
        per = student_tool[student_tool["tool_id"].isin(set(windows["tool_id"]))
                           & (student_tool["first_week"] <= district.as_of)]
        per = per[["student_id", "tool_id", "weeks_used", "minutes", "sessions"]].sort_values(
            ["student_id", "tool_id"]).reset_index(drop=True)
        per["sessions"] = per["sessions"].astype("int64")
        sw = school_weeks[(school_weeks["active_users"] > 0) & (school_weeks["week_start"] <= district.as_of)]
        if len(sw):
            sw = sw[sw["week_start"] >= sw["tool_id"].map(first_week)]
        weeks_in_use = sw.groupby("tool_id")["week_start"].nunique()
    else:
        used = usage_in_window(district.usage, windows)
        per = used.groupby(["student_id", "tool_id"], as_index=False, observed=True).agg(
            weeks_used=("week_start", "nunique"), minutes=("minutes", "sum"), sessions=("sessions", "sum"))
        weeks_in_use = used.groupby("tool_id")["week_start"].nunique()
    if per.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in _STUDENT_TOOL_COLS})
    per = per.merge(district.students[["student_id", "school_id", "grade_level"]], on="student_id", how="left")
    rec = district.tools[["tool_id", "recommended_minutes_per_week", "recommended_weeks"]]
    per = per.merge(rec, on="tool_id", how="left")
    per["avg_weekly_minutes"] = per["minutes"] / per["weeks_used"]
    per["dosage_ratio"] = per["avg_weekly_minutes"] / per["recommended_minutes_per_week"]
    # early in the year a student cannot have used a tool for more weeks than it has been in use
    weeks_target = np.minimum(per["recommended_weeks"].astype("float64"),
                              per["tool_id"].map(weeks_in_use).astype("float64"))
    per["dosage_met"] = rules.dosage_met(per["avg_weekly_minutes"], per["weeks_used"],
                                         per["recommended_minutes_per_week"].astype("float64"),
                                         weeks_target.where(per["recommended_weeks"].notna()))
    return per[_STUDENT_TOOL_COLS]


# --------------------------------------------------------------------------------- school × tool view
def school_tool_adoption(district: District, student_usage: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per school × tool: licensed students, active users, utilization, minutes, dosage and fidelity,
    with the district median and the median of similar schools (same level and FRL band).

    Rows: every school × tool pair with licensed students or active users. Computed on the whole
    district (medians are district facts); a coordinator's rows are selected afterwards.
    """
    per = student_usage if student_usage is not None else student_tool_usage(district)
    lic = current_licenses(district.licenses, district.as_of)
    seats = allocate_seats(lic, district.schools, district.students, district.tools)
    cols = ["school_id", "school_name", "level", "frl_pct", "frl_band", "tool_id", "tool_name",
            "licensed_students", "active_users", "utilization", "minutes", "hours_per_active_user",
            "dosage_met", "dosage_met_share", "fidelity", "implements_with_fidelity",
            "district_median_utilization", "similar_median_utilization", "similar_schools",
            "vs_district_pts", "vs_similar_pts"]
    if seats.empty and per.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    use = per.groupby(["school_id", "tool_id"], as_index=False, observed=True).agg(
        active_users=("student_id", "nunique"), minutes=("minutes", "sum"),
        dosage_met=("dosage_met", lambda s: int(s.fillna(False).sum())),
        dosage_known=("dosage_met", lambda s: int(s.notna().sum())))
    out = seats.merge(use, on=["school_id", "tool_id"], how="outer")
    out["licensed_students"] = out["licensed_students"].fillna(0).astype("int64")
    for c in ["active_users", "dosage_met", "dosage_known"]:
        out[c] = out[c].fillna(0).astype("int64")
    out["minutes"] = out["minutes"].fillna(0.0)
    out = out.merge(district.schools[["school_id", "school_name", "level", "frl_pct"]], on="school_id", how="left")
    out = out.merge(district.tools[["tool_id", "tool_name", "recommended_minutes_per_week"]], on="tool_id", how="left")
    out["frl_band"] = frl_band(out["frl_pct"])
    # drop school × tool pairs with nothing to show (a district-wide license rounded to 0 seats, no use)
    out = out[(out["licensed_students"] > 0) | (out["active_users"] > 0)].reset_index(drop=True)
    licensed = out["licensed_students"].where(out["licensed_students"] > 0)
    out["utilization"] = out["active_users"] / licensed
    out["hours_per_active_user"] = (out["minutes"] / 60) / out["active_users"].where(out["active_users"] > 0)
    out["dosage_met_share"] = (out["dosage_met"] / out["active_users"].where(out["active_users"] > 0)).where(
        out["dosage_known"] > 0)
    # fidelity: share of licensed students meeting dosage (methods §1); an over-deployed school's
    # users count as licensed so the share stays ≤ 1; undefined without a dosage target
    fidelity_base = np.maximum(out["licensed_students"], out["active_users"])
    out["fidelity"] = (out["dosage_met"] / fidelity_base.where(fidelity_base > 0)).where(out["dosage_known"] > 0)
    out["implements_with_fidelity"] = rules.implements_with_fidelity(out["fidelity"])
    out["district_median_utilization"] = out.groupby("tool_id")["utilization"].transform("median")
    out[["similar_median_utilization", "similar_schools"]] = _similar_medians(out)
    out["vs_district_pts"] = 100 * (out["utilization"] - out["district_median_utilization"])
    out["vs_similar_pts"] = 100 * (out["utilization"] - out["similar_median_utilization"])
    out = out.sort_values(["school_id", "tool_id"], ignore_index=True)
    return out[cols]


def _similar_medians(rows: pd.DataFrame) -> pd.DataFrame:
    """Median utilization of the *other* schools with the same tool, level and FRL band."""
    med = np.full(len(rows), np.nan)
    count = np.zeros(len(rows), dtype="int64")
    level = rows["level"].astype("object").fillna("unknown")
    for _, idx in rows.groupby([rows["tool_id"], level, rows["frl_band"]], sort=False).groups.items():
        positions = rows.index.get_indexer(idx)
        values = rows["utilization"].to_numpy()[positions]
        for k, pos in enumerate(positions):
            others = np.delete(values, k)
            others = others[~np.isnan(others)]
            count[pos] = len(others)
            med[pos] = np.median(others) if len(others) else np.nan
    return pd.DataFrame({"similar_median_utilization": med, "similar_schools": count}, index=rows.index)


def tool_totals(adoption: pd.DataFrame) -> pd.DataFrame:
    """District totals per tool from the school × tool table (what must reconcile with the ROI engine)."""
    tot = adoption.groupby(["tool_id"], as_index=False, observed=True).agg(
        licensed_students=("licensed_students", "sum"), active_users=("active_users", "sum"),
        minutes=("minutes", "sum"), dosage_met=("dosage_met", "sum"))
    tot["utilization"] = tot["active_users"] / tot["licensed_students"].where(tot["licensed_students"] > 0)
    return tot


# ------------------------------------------------------------------------------------- weekly trends
def weekly_trend_from_summary(school_weeks: pd.DataFrame, school_id: str | None = None) -> pd.DataFrame:
    """`weekly_trend` from the database's school × tool × week summary (no raw weekly rows)."""
    cols = ["week_start", "school_id", "tool_id", "active_users", "minutes"]
    rows = school_weeks[(school_weeks["active_users"] > 0) & (school_weeks["school_id"] != "")]
    if school_id is not None:
        rows = rows[rows["school_id"] == school_id]
    if rows.empty:  # as weekly_trend gives it
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    out = rows.sort_values(["week_start", "school_id", "tool_id"])[cols].reset_index(drop=True)
    return out.astype({"school_id": "str", "tool_id": "str"})


def weekly_trend(usage: pd.DataFrame, students: pd.DataFrame, school_id: str | None = None) -> pd.DataFrame:
    """Weekly active users and minutes per school × tool (all weeks of data, not only the contract year)."""
    cols = ["week_start", "school_id", "tool_id", "active_users", "minutes"]
    if usage.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    active = usage.loc[is_active_row(usage), ["student_id", "tool_id", "week_start", "minutes"]]
    school = students.set_index("student_id")["school_id"]
    active = active.assign(school_id=active["student_id"].map(school))
    if school_id is not None:
        active = active[active["school_id"] == school_id]
    out = active.groupby(["week_start", "school_id", "tool_id"], as_index=False, observed=True).agg(
        active_users=("student_id", "nunique"), minutes=("minutes", "sum"))
    return out[cols]


# ------------------------------------------------------------------------------- who is not using it
def not_using_by_grade(district: District, student_usage: pd.DataFrame, school_id: str,
                       tool_id: str | None = None) -> pd.DataFrame:
    """Per tool × grade at one school: eligible students (grade in the tool's band), active, not active.

    Only tools licensed at (or used in) the school. Counts only; names come from `not_using_students`.
    """
    cols = ["tool_id", "tool_name", "grade_level", "eligible_students", "active_users", "not_using", "not_using_share"]
    pairs = _eligible_at_school(district, student_usage, school_id, tool_id)
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    out = pairs.groupby(["tool_id", "grade_level"], as_index=False, observed=True).agg(
        eligible_students=("student_id", "size"), active_users=("active", "sum"))
    out["not_using"] = out["eligible_students"] - out["active_users"]
    out["not_using_share"] = out["not_using"] / out["eligible_students"]
    out = out.merge(district.tools[["tool_id", "tool_name"]], on="tool_id", how="left")
    out["_rank"] = out["grade_level"].map(_GRADE_RANK).fillna(99)
    return out.sort_values(["tool_id", "_rank"], ignore_index=True)[cols]


def not_using_students(district: District, student_usage: pd.DataFrame, school_id: str,
                       tool_id: str | None = None) -> pd.DataFrame:
    """The eligible students at a school who did not use the tool (only for roles allowed to see students)."""
    pairs = _eligible_at_school(district, student_usage, school_id, tool_id)
    cols = ["student_id", "grade_level", "tool_id"]
    if pairs.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pairs.loc[~pairs["active"], cols].sort_values(cols, ignore_index=True)


def _eligible_at_school(district: District, student_usage: pd.DataFrame, school_id: str,
                        tool_id: str | None) -> pd.DataFrame:
    students = district.students[district.students["school_id"] == school_id]
    lic = current_licenses(district.licenses, district.as_of)
    offered = set(lic.loc[lic["school_id"].isna() | (lic["school_id"] == school_id), "tool_id"])
    offered |= set(student_usage.loc[student_usage["school_id"] == school_id, "tool_id"])
    if tool_id is not None:
        offered &= {tool_id}
    tools = district.tools[district.tools["tool_id"].isin(offered)]
    pairs = eligible_students(students, tools)
    if pairs.empty:
        return pairs.assign(grade_level=pd.Series(dtype=object), active=pd.Series(dtype=bool))
    pairs = pairs.merge(students[["student_id", "grade_level"]], on="student_id", how="left")
    used = student_usage.loc[student_usage["school_id"] == school_id, ["student_id", "tool_id"]].assign(active=True)
    pairs = pairs.merge(used, on=["student_id", "tool_id"], how="left")
    pairs["active"] = pairs["active"].fillna(False).astype(bool)
    pairs["grade_level"] = _normalize_grade(pairs["grade_level"]).replace("", "unknown")
    return pairs


# ------------------------------------------------------------------------------------- concentration
def use_concentration(student_usage: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """Per tool: share of its minutes in its top two schools and in the top 20% of schools, flag.

    Concentrated = more than 80% of the minutes in at most 20% of the district's schools (at least 1).
    """
    cols = ["tool_id", "schools_using", "top_schools", "top2_share", "top20pct_share", "concentrated"]
    if student_usage.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    n_top = max(1, math.floor(rules.CONCENTRATION_SCHOOLS * max(len(schools), 1)))
    rows = []
    by_school = student_usage.groupby(["tool_id", "school_id"], observed=True)["minutes"].sum()
    for tool_id, minutes in by_school.groupby(level=0):
        minutes = minutes.droplevel(0).sort_values(ascending=False)
        total = minutes.sum()
        share = minutes / total if total > 0 else minutes * 0
        rows.append({"tool_id": tool_id, "schools_using": int((minutes > 0).sum()),
                     "top_schools": list(minutes.index[:2]), "top2_share": float(share.iloc[:2].sum()),
                     "top20pct_share": float(share.iloc[:n_top].sum()),
                     "concentrated": rules.is_concentrated(minutes.to_numpy(), len(schools))})
    return pd.DataFrame(rows, columns=cols)


# ------------------------------------------------------------------------------------- dosage detail
def dosage_distribution(student_usage: pd.DataFrame, school_id: str | None = None) -> pd.DataFrame:
    """Per active student × tool: share of the recommended weekly minutes reached (for a histogram)."""
    per = student_usage if school_id is None else student_usage[student_usage["school_id"] == school_id]
    return per.loc[per["dosage_ratio"].notna(), ["tool_id", "school_id", "avg_weekly_minutes",
                                                 "dosage_ratio", "dosage_met"]].reset_index(drop=True)


# the dosage histogram's bars: 0–200 % of the recommended weekly minutes in steps of 10 % (higher shown at 200 %)
DOSAGE_BIN_WIDTH = 0.1
DOSAGE_CAP = 2.0


def dosage_bins(student_usage: pd.DataFrame) -> pd.DataFrame:
    """Active students per school × tool × bar of the dosage histogram (`bin` k = [k × 10 %, (k + 1) × 10 %),
    the ratio capped at 200 %): the histogram's bars without one point per student, so a chart of the whole
    district does not grow with its students (issue 15)."""
    dist = dosage_distribution(student_usage)
    cols = ["school_id", "tool_id", "bin", "students"]
    ratio = dist["dosage_ratio"].astype("float64").clip(upper=DOSAGE_CAP).to_numpy()
    # plotly's own binning rule (findBin: floor((x − start) / size + 1e-9)), so the bars are those it drew
    # from the students' ratios
    index = np.floor(ratio / DOSAGE_BIN_WIDTH + 1e-9)
    keep = index >= 0
    rows = pd.DataFrame({"school_id": dist["school_id"].to_numpy()[keep], "tool_id": dist["tool_id"].to_numpy()[keep],
                         "bin": index[keep].astype("int64")})
    if rows.empty:
        return pd.DataFrame({"school_id": pd.Series(dtype=object), "tool_id": pd.Series(dtype=object),
                             "bin": pd.Series(dtype="int64"), "students": pd.Series(dtype="int64")})
    out = rows.groupby(["school_id", "tool_id", "bin"], as_index=False, dropna=False, sort=True).size()
    return out.rename(columns={"size": "students"})[cols]


def dosage_histogram(bins: pd.DataFrame, school_id: str | None = None) -> pd.DataFrame:
    """Students per tool × bar of the dosage histogram, at one school or every school of `bins`."""
    rows = bins if school_id is None else bins[bins["school_id"] == school_id]
    return rows.groupby(["tool_id", "bin"], as_index=False, sort=True)["students"].sum()


# ------------------------------------------------------------------------------------ PD → usage
def pd_usage_change(pd_sessions: pd.DataFrame, weekly: pd.DataFrame, weeks: int = 6) -> pd.DataFrame:
    """Weekly active users at the PD school for the PD tool, `weeks` weeks before vs after the PD date.

    Before = weeks starting in [date − weeks×7 d, date); after = weeks starting in (date, date + weeks×7 d].
    The week containing the PD is left out of both. `change` = after mean − before mean with a Welch
    95% CI over the weekly values (weeks are not independent: read the CI as a rough guide).
    A change is not proof that PD caused it (seasonality, other initiatives).
    """
    cols = ["school_id", "tool_id", "pd_date", "pd_hours", "weeks_before", "weeks_after",
            "active_before", "active_after", "change", "ci_low", "ci_high", "minutes_per_user_before",
            "minutes_per_user_after"]
    sessions = pd_sessions[pd_sessions["tool_id"].notna() & pd_sessions["school_id"].notna()]
    if sessions.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    # several staff trained the same day count as one PD event
    events = sessions.groupby(["school_id", "tool_id", "date"], as_index=False)["hours"].sum()
    rows = []
    for ev in events.itertuples(index=False):
        w = weekly[(weekly["school_id"] == ev.school_id) & (weekly["tool_id"] == ev.tool_id)].set_index("week_start")
        span = pd.Timedelta(days=7 * weeks)
        pd_week = ev.date - pd.Timedelta(days=ev.date.weekday())
        all_weeks = pd.date_range(pd_week - span, pd_week + span, freq="7D")
        # weeks with no rows inside the data's range are weeks with zero users
        series = w["active_users"].reindex(all_weeks).fillna(0.0) if len(weekly) else pd.Series(0.0, index=all_weeks)
        minutes = w["minutes"].reindex(all_weeks).fillna(0.0) if len(weekly) else pd.Series(0.0, index=all_weeks)
        in_data = (all_weeks >= weekly["week_start"].min()) & (all_weeks <= weekly["week_start"].max()) \
            if len(weekly) else np.zeros(len(all_weeks), dtype=bool)
        before = series[(all_weeks < pd_week) & in_data]
        after = series[(all_weeks > pd_week) & in_data]
        low, high = _welch_ci(before.to_numpy(), after.to_numpy())
        mb, ma = minutes[before.index].sum(), minutes[after.index].sum()
        rows.append({"school_id": ev.school_id, "tool_id": ev.tool_id, "pd_date": ev.date, "pd_hours": ev.hours,
                     "weeks_before": len(before), "weeks_after": len(after),
                     "active_before": before.mean() if len(before) else np.nan,
                     "active_after": after.mean() if len(after) else np.nan,
                     "change": (after.mean() - before.mean()) if len(before) and len(after) else np.nan,
                     "ci_low": low, "ci_high": high,
                     "minutes_per_user_before": mb / before.sum() if before.sum() else np.nan,
                     "minutes_per_user_after": ma / after.sum() if after.sum() else np.nan})
    return pd.DataFrame(rows, columns=cols)


def _welch_ci(before: np.ndarray, after: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    if len(before) < 2 or len(after) < 2:
        return float("nan"), float("nan")
    va, vb = after.var(ddof=1) / len(after), before.var(ddof=1) / len(before)
    diff = after.mean() - before.mean()
    se = math.sqrt(va + vb)
    if se == 0:
        return diff, diff
    dof = (va + vb) ** 2 / ((va ** 2) / (len(after) - 1) + (vb ** 2) / (len(before) - 1))
    t = stats.t.ppf(0.5 + level / 2, dof)
    return diff - t * se, diff + t * se


def pd_weekly_window(weekly: pd.DataFrame, school_id: str, tool_id: str, pd_date: pd.Timestamp,
                     weeks: int = 6) -> pd.DataFrame:
    """Weekly active users around one PD date (weeks_from_pd < 0 before, > 0 after), for a chart."""
    pd_week = pd_date - pd.Timedelta(days=pd_date.weekday())
    span = pd.Timedelta(days=7 * weeks)
    all_weeks = pd.date_range(pd_week - span, pd_week + span, freq="7D")
    w = weekly[(weekly["school_id"] == school_id) & (weekly["tool_id"] == tool_id)].set_index("week_start")
    active = w["active_users"].reindex(all_weeks).fillna(0.0)
    out = pd.DataFrame({"week_start": all_weeks, "active_users": active.to_numpy()})
    out["weeks_from_pd"] = ((out["week_start"] - pd_week).dt.days // 7).astype(int)
    if len(weekly):
        out = out[(out["week_start"] >= weekly["week_start"].min()) & (out["week_start"] <= weekly["week_start"].max())]
    out["period"] = np.select([out["weeks_from_pd"] < 0, out["weeks_from_pd"] > 0], ["before", "after"], "PD week")
    return out.reset_index(drop=True)


# ------------------------------------------------------------------------- aggregate-only sources
def aggregate_level(usage_aggregate: pd.DataFrame) -> str:
    """'school' when rows carry a school, else 'district'."""
    return "school" if usage_aggregate["school_id"].notna().any() else "district"


def aggregate_top_products(usage_aggregate: pd.DataFrame, tools: pd.DataFrame, start: pd.Timestamp | None = None,
                           end: pd.Timestamp | None = None, n: int = 10) -> pd.DataFrame:
    """Products ranked by average pct_access over the period (mean over every unit × day reported).

    Averages the rows present: a product a district did not report on a day is not counted as 0.
    """
    cols = ["tool_id", "tool_name", "avg_pct_access", "avg_engagement_index", "days", "units"]
    agg = _aggregate_period(usage_aggregate, start, end)
    if agg.empty or agg["pct_access"].notna().sum() == 0:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    unit = agg["school_id"].where(agg["school_id"].notna(), agg["district_id"])
    out = agg.assign(unit=unit).groupby("tool_id", as_index=False, observed=True).agg(
        avg_pct_access=("pct_access", "mean"), avg_engagement_index=("engagement_index", "mean"),
        days=("date", "nunique"), units=("unit", "nunique"))
    out = out.dropna(subset=["avg_pct_access"]).nlargest(n, "avg_pct_access")
    out = out.merge(tools[["tool_id", "tool_name"]], on="tool_id", how="left")
    out["tool_name"] = out["tool_name"].where(out["tool_name"].notna(), "product " + out["tool_id"].astype(str))
    return out[cols].reset_index(drop=True)


def aggregate_weekly_trend(usage_aggregate: pd.DataFrame, tool_ids: list[str] | None = None,
                           start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Weekly mean pct_access and engagement_index per tool (mean over units and days of the ISO week)."""
    cols = ["week_start", "tool_id", "pct_access", "engagement_index"]
    agg = _aggregate_period(usage_aggregate, start, end)
    if tool_ids is not None:
        agg = agg[agg["tool_id"].isin(tool_ids)]
    if agg.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    week = agg["date"] - pd.to_timedelta(agg["date"].dt.day_of_week, unit="D")
    out = agg.assign(week_start=week).groupby(["week_start", "tool_id"], as_index=False, observed=True).agg(
        pct_access=("pct_access", "mean"), engagement_index=("engagement_index", "mean"))
    return out[cols]


def aggregate_engagement_total(usage_aggregate: pd.DataFrame, start: pd.Timestamp | None = None,
                               end: pd.Timestamp | None = None) -> pd.DataFrame:
    """Weekly engagement over all products: mean over units and days of the summed daily engagement_index
    (page loads per 1,000 students across every product), and the summed daily pct_access."""
    cols = ["week_start", "engagement_index", "pct_access_sum"]
    agg = _aggregate_period(usage_aggregate, start, end)
    if agg.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    unit = agg["school_id"].where(agg["school_id"].notna(), agg["district_id"])
    daily = agg.assign(unit=unit).groupby(["unit", "date"], as_index=False, observed=True).agg(
        engagement_index=("engagement_index", "sum"), pct_access_sum=("pct_access", "sum"))
    daily["week_start"] = daily["date"] - pd.to_timedelta(daily["date"].dt.day_of_week, unit="D")
    return daily.groupby("week_start", as_index=False).agg(
        engagement_index=("engagement_index", "mean"), pct_access_sum=("pct_access_sum", "mean"))[cols]


def aggregate_shift(usage_aggregate: pd.DataFrame, tool_ids: list[str] | None, at: pd.Timestamp,
                    weeks: int = 8, gap_days: int = 7) -> pd.DataFrame:
    """Mean daily pct_access per tool in the `weeks` weeks before `at` vs the `weeks` weeks after
    `at + gap_days` (the gap skips the chaotic changeover week), largest change first: the size of the
    change, a fall as much as a rise (sorting by the signed change named the smallest fall as the "largest
    change" when most products fell).

    A product with no rows in a period had no reported use then and counts as 0.
    """
    cols = ["tool_id", "before", "after", "change"]
    agg = usage_aggregate if tool_ids is None else usage_aggregate[usage_aggregate["tool_id"].isin(tool_ids)]
    at = pd.Timestamp(at)
    span = pd.Timedelta(days=7 * weeks)
    before = agg[(agg["date"] >= at - span) & (agg["date"] < at)]
    start_after = at + pd.Timedelta(days=gap_days)
    after = agg[(agg["date"] >= start_after) & (agg["date"] < start_after + span)]
    if before.empty and after.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    ids = pd.Index(sorted(set(agg["tool_id"].dropna())))
    out = pd.DataFrame({"tool_id": ids,
                        "before": before.groupby("tool_id")["pct_access"].mean().reindex(ids).fillna(0.0).to_numpy(),
                        "after": after.groupby("tool_id")["pct_access"].mean().reindex(ids).fillna(0.0).to_numpy()})
    out["change"] = out["after"] - out["before"]
    order = out.assign(size=out["change"].abs()).sort_values(["size", "tool_id"], ascending=[False, True],
                                                              kind="stable").index
    return out.loc[order, cols].reset_index(drop=True)


def _aggregate_period(usage_aggregate: pd.DataFrame, start: pd.Timestamp | None,
                      end: pd.Timestamp | None) -> pd.DataFrame:
    agg = usage_aggregate
    if start is not None:
        agg = agg[agg["date"] >= pd.Timestamp(start)]
    if end is not None:
        agg = agg[agg["date"] <= pd.Timestamp(end)]
    return agg
