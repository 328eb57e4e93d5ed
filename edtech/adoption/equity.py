"""Equity of access: is use (and enough use) spread fairly across schools, subgroups and devices?

Pure: DataFrames in, DataFrames out. Groups of fewer than `SUPPRESS_MIN` students are shown as
"<10" with `edtech.privacy.suppress_small` by the `suppressed_*` helpers (the raw tables keep
numbers so they can be tested and ranked).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from edtech.adoption.engine import eligible_students
from edtech.core import rules
from edtech.core.privacy import suppress_small

GAP_POINTS = 10.0          # a subgroup or quartile 10+ points below the best group is highlighted
REFRESH_YEARS = int(rules.DEVICE_LIFE_YEARS)  # devices older than the refresh cycle are due for refresh
LOW_COVERAGE = 0.9         # fewer than 0.9 active devices per student is a coverage gap
OLD_DEVICE_SHARE = 0.25    # more than a quarter of devices past refresh or AUE is a gap
SUBGROUP_FLAGS = {"frl": "Free/reduced lunch", "ell": "English learners", "iep": "Students with an IEP"}


def _offered_pairs(students: pd.DataFrame, tools: pd.DataFrame, seats: pd.DataFrame) -> pd.DataFrame:
    """Student × tool pairs the district offers: the tool is licensed at the student's school and the
    student's grade is in the tool's grade band."""
    pairs = eligible_students(students, tools)
    pairs = pairs.merge(students[["student_id", "school_id"]], on="student_id")
    offered = seats.loc[seats["licensed_students"] > 0, ["school_id", "tool_id"]]
    return pairs.merge(offered, on=["school_id", "tool_id"])


def student_access(students: pd.DataFrame, tools: pd.DataFrame, seats: pd.DataFrame,
                   student_usage: pd.DataFrame, tool_id: str | None = None) -> pd.DataFrame:
    """One row per offered student × tool with `active` and `dosage_met` (False when not active)."""
    if tool_id is not None:
        tools = tools[tools["tool_id"] == tool_id]
    pairs = _offered_pairs(students, tools, seats)
    used = student_usage[["student_id", "tool_id", "minutes", "dosage_met"]].assign(active=True)
    pairs = pairs.merge(used, on=["student_id", "tool_id"], how="left")
    pairs["active"] = pairs["active"].fillna(False).astype(bool)
    pairs["minutes"] = pairs["minutes"].fillna(0.0).astype("float64")
    pairs["dosage_met"] = pairs["dosage_met"].astype("boolean").fillna(False).astype(bool)
    return pairs


def frl_quartile(schools: pd.DataFrame) -> pd.Series:
    """Quartile of schools by FRL share (Q1 = lowest poverty, Q4 = highest), indexed by school_id.

    Ranks break ties so that quartiles exist even with few distinct FRL values.
    """
    frl = schools.set_index("school_id")["frl_pct"].astype("float64")
    known = frl.dropna()
    if known.empty:
        return pd.Series("unknown", index=frl.index, dtype=object)
    n_bins = min(4, len(known))
    labels = [f"Q{i + 1}" for i in range(n_bins)]
    q = pd.qcut(known.rank(method="first"), n_bins, labels=labels).astype(object)
    return q.reindex(frl.index).fillna("unknown")


# the per-pair figures an equity table adds up, and the subgroup flags it splits students by
CELL_FIGURES = ["offered", "active", "dosage_met", "minutes"]


def access_cells(access: pd.DataFrame, students: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The offered student × tool pairs added up per cell, so an equity table never walks the pairs again:

    - `cells`: per school × tool (when `access` has tools) × subgroup flags (those of `students`), the
      distinct students, offered pairs, active, dosage met and minutes;
    - `reach`: per school × flags, the distinct students offered any of those tools.

    A student has one school and one value of each flag, so each is in exactly one cell of `reach` (and of
    a tool's `cells`): summing cells gives every group's distinct students exactly (issue 15: the district's
    pairs grow with students × tools; the cells with schools × tools only)."""
    flags = [f for f in SUBGROUP_FLAGS if students is not None and f in students.columns]
    a = access
    if flags:
        values = students.set_index("student_id")[flags].astype("boolean")
        a = a.assign(**{f: a["student_id"].map(values[f]) for f in flags})
    a = a.assign(active=a["active"].astype(bool), dosage_met=a["dosage_met"].astype(bool))
    cell_keys = ["school_id", *(["tool_id"] if "tool_id" in a.columns else []), *flags]
    reach_keys = ["school_id", *flags]
    cells = a.groupby(cell_keys, as_index=False, observed=True, dropna=False, sort=True).agg(
        students=("student_id", "nunique"), offered=("student_id", "size"), active=("active", "sum"),
        dosage_met=("dosage_met", "sum"), minutes=("minutes", "sum"))
    reach = a.groupby(reach_keys, as_index=False, observed=True, dropna=False, sort=True).agg(
        students=("student_id", "nunique"))
    return cells, reach


def cells_of(cells: pd.DataFrame, reach: pd.DataFrame, schools: frozenset[str] | None = None,
             tool_id: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The cells of some schools (None: all) and one tool (None: all tools): for one tool its own cells
    count its distinct students."""
    if schools is not None:
        cells = cells[cells["school_id"].isin(schools)]
        reach = reach[reach["school_id"].isin(schools)]
    if tool_id is not None:
        cells = cells[cells["tool_id"] == tool_id]
        reach = cells.drop(columns="tool_id")
    return cells, reach


def _summarize(cells: pd.DataFrame, reach: pd.DataFrame, name: str, cell_key: pd.Series,
               reach_key: pd.Series) -> pd.DataFrame:
    """Per group (`cell_key` of each cell, `reach_key` of each reach row; NA = not in any group)."""
    figures = cells[CELL_FIGURES].groupby(cell_key.rename(name), observed=True, sort=True).sum()
    students = reach["students"].groupby(reach_key.rename(name), observed=True, sort=True).sum()
    out = pd.concat([students.reindex(figures.index).fillna(0).astype("int64"), figures], axis=1).reset_index()
    out["active_share"] = out["active"] / out["offered"]
    out["dosage_met_share"] = out["dosage_met"] / out["active"].where(out["active"] > 0)
    out["minutes_per_student"] = out["minutes"] / out["offered"]
    return out


def equity_by_frl_quartile(access: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """Use and dosage by FRL quartile of schools; `gap_pts` = active share below the best quartile."""
    return frl_quartile_table(*access_cells(access), schools)


def frl_quartile_table(cells: pd.DataFrame, reach: pd.DataFrame, schools: pd.DataFrame) -> pd.DataFrame:
    """`equity_by_frl_quartile` from the cells of the pairs (`access_cells`); quartiles of `schools`."""
    quart = frl_quartile(schools)
    frl = schools.set_index("school_id")["frl_pct"]
    out = _summarize(cells, reach, "frl_quartile", cells["school_id"].map(quart).fillna("unknown"),
                     reach["school_id"].map(quart).fillna("unknown"))
    ranges = frl.groupby(quart).agg(["min", "max"])
    out["frl_range"] = out["frl_quartile"].map(
        lambda q: f"{ranges.loc[q, 'min']:.0%}–{ranges.loc[q, 'max']:.0%}" if q in ranges.index and q != "unknown" else "")
    out["schools"] = out["frl_quartile"].map(quart.value_counts()).fillna(0).astype("int64")
    out["gap_pts"] = 100 * (out["active_share"].max() - out["active_share"])
    out["gap"] = out["gap_pts"] >= GAP_POINTS
    cols = ["frl_quartile", "frl_range", "schools", "students", "offered", "active", "active_share",
            "dosage_met", "dosage_met_share", "minutes_per_student", "gap_pts", "gap"]
    return out.sort_values("frl_quartile", ignore_index=True)[cols]


def equity_by_subgroup(access: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """Use and dosage for students in / not in each flagged subgroup (frl, ell, iep) where flags exist.

    `gap_pts` = active share of the students *not* in the group minus that of the group (positive = the
    group uses it less); `gap` when the absolute difference is ≥ GAP_POINTS points.
    """
    return subgroup_table(*access_cells(access, students))


def subgroup_table(cells: pd.DataFrame, reach: pd.DataFrame) -> pd.DataFrame:
    """`equity_by_subgroup` from the cells of the pairs (`access_cells` with the students' flags)."""
    cols = ["subgroup", "label", "in_group", "students", "offered", "active", "active_share",
            "dosage_met", "dosage_met_share", "minutes_per_student", "gap_pts", "gap"]
    parts = []
    for flag, label in SUBGROUP_FLAGS.items():
        # a flag nobody offered a tool has (or no student has) gives no table
        if flag not in cells.columns or cells[flag].notna().sum() == 0:
            continue
        known = cells[cells[flag].notna()]
        reached = reach[reach[flag].notna()]
        out = _summarize(known, reached, "in_group", known[flag].astype(bool), reached[flag].astype(bool))
        shares = out.set_index("in_group")["active_share"]
        diff = 100 * (shares.get(False, np.nan) - shares.get(True, np.nan))
        out["gap_pts"] = np.where(out["in_group"], diff, np.nan)
        out["gap"] = out["in_group"] & (abs(diff) >= GAP_POINTS)
        parts.append(out.assign(subgroup=flag, label=label))
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    return pd.concat(parts, ignore_index=True).sort_values(["subgroup", "in_group"], ascending=[True, False],
                                                           ignore_index=True)[cols]


def device_coverage(devices: pd.DataFrame, students: pd.DataFrame, schools: pd.DataFrame,
                    as_of: pd.Timestamp, refresh_years: int = REFRESH_YEARS) -> pd.DataFrame:
    """Per school: active devices per student, devices past refresh age or past their AUE date.

    A device counts at a school through its `school_id`, else through its assigned student's school.
    Active = status 'active' or blank. Past refresh = purchased more than `refresh_years` years before
    as_of; past AUE = auto_update_expiration before as_of (Chromebooks stop getting updates).
    """
    cols = ["school_id", "school_name", "students", "devices", "active_devices", "devices_per_student",
            "past_refresh", "past_aue", "past_refresh_or_aue_share", "coverage_gap", "age_gap"]
    as_of = pd.Timestamp(as_of)
    student_school = students.set_index("student_id")["school_id"]
    dev = devices.copy()
    dev["school_id"] = dev["school_id"].where(dev["school_id"].notna(), dev["assigned_student_id"].map(student_school))
    status = dev["status"].astype("object").fillna("active").str.strip().str.lower()
    dev = dev[status != "retired"]
    status = status[dev.index]
    dev["active"] = status == "active"
    dev["past_refresh"] = dev["purchase_date"] < as_of - pd.DateOffset(years=refresh_years)
    dev["past_aue"] = (dev["auto_update_expiration"] < as_of).fillna(False).astype(bool)
    per = dev.groupby("school_id", as_index=False).agg(
        devices=("device_id", "size"), active_devices=("active", "sum"),
        past_refresh=("past_refresh", "sum"), past_aue=("past_aue", "sum"),
        old=("past_refresh", lambda s: int((s | dev.loc[s.index, "past_aue"]).sum())))
    counts = students.groupby("school_id").size().rename("students").reset_index()
    out = schools[["school_id", "school_name"]].merge(counts, on="school_id", how="left").merge(
        per, on="school_id", how="left")
    for c in ["students", "devices", "active_devices", "past_refresh", "past_aue", "old"]:
        out[c] = out[c].fillna(0).astype("int64")
    out["devices_per_student"] = out["active_devices"] / out["students"].where(out["students"] > 0)
    out["past_refresh_or_aue_share"] = out["old"] / out["devices"].where(out["devices"] > 0)
    out["coverage_gap"] = (out["devices_per_student"] < LOW_COVERAGE).fillna(False)
    out["age_gap"] = (out["past_refresh_or_aue_share"] > OLD_DEVICE_SHARE).fillna(False)
    return out[cols]


def suppressed_equity(table: pd.DataFrame, min_n: int | None = None) -> pd.DataFrame:
    """Equity table for display (methods §6).

    A group of fewer than `min_n` students is shown as '<min_n' with every figure about it blanked;
    in larger groups, counts of fewer than `min_n` students (e.g. 4 who met dosage) are shown as '<min_n'.
    """
    min_n = rules.suppression_threshold() if min_n is None else int(min_n)
    mask_cols = [c for c in ["offered", "active", "dosage_met", "active_share", "dosage_met_share",
                             "minutes_per_student", "gap_pts"] if c in table.columns]
    out = suppress_small(table, "students", min_n=min_n, mask_cols=mask_cols)
    small_counts = [c for c in ["active", "dosage_met"] if c in out.columns]
    return suppress_small(out, small_counts, min_n=min_n)
