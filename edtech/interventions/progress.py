"""Progress monitoring (methods.md v2 section 6): per student, the slope of the probe scores per week before vs
during the intervention (OLS on dates), and per intervention the median slope change and the share on track.

Which probes belong to an intervention row: the student's probes of one measure (the measure with the most probes
during the row); *before* = probes dated in the 8 weeks before the start, *during* = from the start to the end date
(or every later probe when ongoing). A slope needs >= 2 probes before and >= 3 during (`MIN_BEFORE`, `MIN_DURING`).

On track (rules.DEFINITIONS["on_track"]): the OLS trend of the probes during the intervention, extended to the
target date, reaches the goal. Target date = the end date when the intervention has ended; when it is ongoing, the
last probe date or the end of a `rules.PROGRESS_CYCLE_WEEKS`-week cycle from the start, whichever is later (the
remaining weeks of the cycle). Goal = the probes' `goal` column (the last one given); higher scores are better.
Unknown (NA) without a goal or with fewer than `MIN_DURING` probes during.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from edtech.core import rules

MIN_BEFORE = 2
MIN_DURING = 3
BEFORE_WEEKS = 8
STUDENT_COLUMNS = ["student_id", "intervention", "start_date", "end_date", "measure", "n_before", "n_during",
                   "slope_before", "slope_during", "slope_change", "goal", "target_date", "projected", "on_track"]


def ols_slope(weeks: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """(intercept, slope per week) of scores on weeks; NaN when fewer than 2 distinct dates."""
    weeks = np.asarray(weeks, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if weeks.size < 2 or np.ptp(weeks) == 0:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(weeks, scores, 1)
    return float(intercept), float(slope)


def _fits(weeks: pd.Series, scores: pd.Series, keys: pd.Series) -> pd.DataFrame:
    """Per key: n, OLS intercept and slope of scores on weeks (vectorized sums; NaN slope without 2 distinct weeks)."""
    frame = pd.DataFrame({"k": keys.to_numpy(), "x": weeks.to_numpy(dtype=float), "y": scores.to_numpy(dtype=float)})
    frame["xx"], frame["xy"] = frame["x"] ** 2, frame["x"] * frame["y"]
    sums = frame.groupby("k").agg(n=("x", "size"), sx=("x", "sum"), sy=("y", "sum"), sxx=("xx", "sum"),
                                  sxy=("xy", "sum"))
    denom = sums["n"] * sums["sxx"] - sums["sx"] ** 2
    ok = denom > 1e-12 * sums["n"] ** 2
    slope = ((sums["n"] * sums["sxy"] - sums["sx"] * sums["sy"]) / denom).where(ok)
    intercept = (sums["sy"] - slope * sums["sx"]) / sums["n"]
    return pd.DataFrame({"n": sums["n"], "intercept": intercept, "slope": slope})


def student_progress(interventions: pd.DataFrame, progress_monitoring: pd.DataFrame) -> pd.DataFrame:
    """One row per intervention row: before/during slopes (per week), change, goal, projection, on track."""
    rows = interventions[["student_id", "intervention", "start_date", "end_date"]].reset_index(drop=True)
    out = rows.assign(measure=None, n_before=0, n_during=0, slope_before=np.nan, slope_during=np.nan,
                      slope_change=np.nan, goal=np.nan, target_date=pd.NaT, projected=np.nan)
    out["on_track"] = pd.array([pd.NA] * len(out), dtype="boolean")
    probes = progress_monitoring.dropna(subset=["score", "date"])
    if rows.empty or probes.empty:
        return out[STUDENT_COLUMNS]
    pairs = rows.assign(_row=np.arange(len(rows))).merge(
        probes[["student_id", "measure", "date", "score", "goal"]], on="student_id", how="inner")
    pairs["weeks"] = (pairs["date"] - pairs["start_date"]).dt.days / 7.0
    pairs["during"] = (pairs["date"] >= pairs["start_date"]) & (pairs["end_date"].isna()
                                                                | (pairs["date"] <= pairs["end_date"]))
    pairs["before"] = (pairs["weeks"] < 0) & (pairs["weeks"] >= -BEFORE_WEEKS)
    # the measure of each row: the one with the most probes during it (ties: by name)
    counts = (pairs[pairs["during"]].groupby(["_row", "measure"]).size().rename("n").reset_index()
              .sort_values(["_row", "n", "measure"], ascending=[True, False, True]).drop_duplicates("_row"))
    pairs = pairs.merge(counts[["_row", "measure"]], on=["_row", "measure"], how="inner")
    if pairs.empty:
        return out[STUDENT_COLUMNS]
    before = pairs[pairs["before"]]
    during = pairs[pairs["during"]]
    fit_before = _fits(before["weeks"], before["score"], before["_row"])
    fit_during = _fits(during["weeks"], during["score"], during["_row"])
    idx = counts["_row"].to_numpy()
    out.loc[idx, "measure"] = counts["measure"].to_numpy()
    nb = fit_before["n"].reindex(out.index).fillna(0).astype(int)
    nd = fit_during["n"].reindex(out.index).fillna(0).astype(int)
    out["n_before"], out["n_during"] = nb, nd
    out["slope_before"] = fit_before["slope"].reindex(out.index).where(nb >= MIN_BEFORE)
    slope = fit_during["slope"].reindex(out.index).where(nd >= MIN_DURING)
    intercept = fit_during["intercept"].reindex(out.index)
    out["slope_during"] = slope
    out["slope_change"] = slope - out["slope_before"]
    goal = during.dropna(subset=["goal"]).sort_values("date").groupby("_row")["goal"].last().reindex(out.index)
    last = during.groupby("_row")["date"].max().reindex(out.index)
    cycle_end = out["start_date"] + pd.Timedelta(weeks=rules.PROGRESS_CYCLE_WEEKS)
    target = out["end_date"].where(out["end_date"].notna(), np.maximum(last, cycle_end))
    weeks_to_target = (target - out["start_date"]).dt.days / 7.0
    projected = intercept + slope * weeks_to_target
    known = slope.notna() & goal.notna()
    out["goal"] = goal.where(known)
    out["target_date"] = target.where(known)
    out["projected"] = projected.where(known)
    out["on_track"] = (projected >= goal).astype("boolean").where(known, pd.NA)
    return out[STUDENT_COLUMNS]


def progress_summary(students: pd.DataFrame) -> pd.DataFrame:
    """Per intervention: students with probes, with a slope change, the median slope change (per week), and the
    share on track among those whose on-track status is known."""
    columns = ["intervention", "n_monitored", "n_slope_change", "median_slope_before", "median_slope_during",
               "median_slope_change", "n_on_track_known", "n_on_track", "share_on_track"]
    if students.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for name, part in students.groupby("intervention", sort=True):
        monitored = part[part["n_during"] > 0]
        known = part["on_track"].dropna()
        change = part["slope_change"].dropna()
        rows.append({
            "intervention": name, "n_monitored": len(monitored), "n_slope_change": len(change),
            "median_slope_before": float(part["slope_before"].median()) if part["slope_before"].notna().any() else np.nan,
            "median_slope_during": float(part["slope_during"].median()) if part["slope_during"].notna().any() else np.nan,
            "median_slope_change": float(change.median()) if len(change) else np.nan,
            "n_on_track_known": len(known), "n_on_track": int(known.astype(bool).sum()),
            "share_on_track": float(known.astype(bool).mean()) if len(known) else np.nan,
        })
    return pd.DataFrame(rows, columns=columns)
