"""Which flagged students were served, and the funnel flagged -> served within 30 days -> on track -> met goal
(methods.md v2 section 6; data contract v2 `risk_flags`, `interventions`).

Which flags count: one scoring run, i.e. one (source, flag_date). By default the most recent run the district acted
on (a flagged student's intervention started within 30 days after it), else the most recent run (ties: the source
with the most rows, then by name). A district that imports an outside EWS and also publishes its own model thus
evaluates the run that decided the current supports, not a run scored yesterday that nobody has acted on yet (whose
"coverage" would read as a failure); `select_flag_run(source=..., flag_date=...)` picks a run explicitly and
`flag_runs` lists them for a picker.

Served (data contract): an intervention active on the flag date (started on or before it, not ended before it)
or starting within `rules.SERVED_WITHIN_DAYS` (30) days after it. Counts are returned unsuppressed: suppressing
cells under the threshold is the caller's job (the board report, the page).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from edtech.core import rules

SUBGROUPS = {"frl": "Free or reduced lunch", "ell": "English learner", "iep": "IEP",
             "race_ethnicity": "Race or ethnicity"}
FUNNEL_STAGES = ("flagged", "served_30d", "on_track", "met_goal")


@dataclass(frozen=True)
class FlagRun:
    """One scoring run of an early-warning system: its rows (one per student) and what identifies it."""

    source: str | None
    flag_date: pd.Timestamp | None
    flags: pd.DataFrame          # student_id, flag_date, source, risk, cutoff, flagged

    @property
    def flagged(self) -> pd.DataFrame:
        return self.flags[self.flags["flagged"].fillna(False).astype(bool)]


def flag_runs(risk_flags: pd.DataFrame, interventions: pd.DataFrame | None = None,
              within_days: int = rules.SERVED_WITHIN_DAYS) -> pd.DataFrame:
    """Every scoring run (source, flag_date), newest first: students scored, flagged, and flagged students with an
    intervention starting within 30 days after the flag (`n_started`: did the district act on this run?)."""
    rows = risk_flags.dropna(subset=["student_id", "flag_date", "source"])
    runs = (rows.groupby(["source", "flag_date"], observed=True)
            .agg(n=("student_id", "nunique"), n_flagged=("flagged", lambda f: int(f.fillna(False).astype(bool).sum())))
            .reset_index())
    runs["n_started"] = 0
    if interventions is not None and not interventions.empty and not runs.empty:
        flagged = rows[rows["flagged"].fillna(False).astype(bool)][["student_id", "source", "flag_date"]]
        pairs = flagged.merge(interventions[["student_id", "start_date"]], on="student_id")
        soon = (pairs["start_date"] > pairs["flag_date"]) & (
            pairs["start_date"] <= pairs["flag_date"] + pd.Timedelta(days=within_days))
        started = pairs[soon].groupby(["source", "flag_date"], observed=True)["student_id"].nunique()
        runs["n_started"] = [int(started.get((s, d), 0)) for s, d in zip(runs["source"], runs["flag_date"], strict=True)]
    return runs.sort_values(["flag_date", "n", "source"], ascending=[False, False, True]).reset_index(drop=True)


def select_flag_run(risk_flags: pd.DataFrame, source: str | None = None, interventions: pd.DataFrame | None = None,
                    flag_date: pd.Timestamp | None = None) -> FlagRun:
    """The flags that count. Default: the most recent run the district acted on (at least one flagged student's
    intervention started within 30 days after it; `interventions` given), else the most recent run. A run no
    support followed yet (a model just published) would otherwise hide the run that decided this year's supports.
    `source` / `flag_date` pick a run instead (the latest date of `source`)."""
    rows = risk_flags.dropna(subset=["student_id", "flag_date", "source"])
    if source is not None:
        rows = rows[rows["source"] == source]
    if flag_date is not None:
        rows = rows[rows["flag_date"] == pd.Timestamp(flag_date)]
    if rows.empty:
        return FlagRun(source, None, rows.iloc[0:0])
    runs = flag_runs(rows, interventions)
    acted = runs[runs["n_started"] > 0]
    chosen = (acted if len(acted) else runs).iloc[0]
    chosen_source, chosen_date = chosen["source"], pd.Timestamp(chosen["flag_date"])
    run = rows[(rows["source"] == chosen_source) & (rows["flag_date"] == chosen_date)]
    # one row per student (a re-scored student keeps the highest risk of that run)
    run = run.sort_values("risk", ascending=False).drop_duplicates("student_id").sort_values("student_id")
    return FlagRun(str(chosen_source), chosen_date, run.reset_index(drop=True))


def serving_rows(flags: pd.DataFrame, interventions: pd.DataFrame,
                 within_days: int = rules.SERVED_WITHIN_DAYS) -> pd.DataFrame:
    """Per flag row: whether it was served and by which intervention row (the earliest-starting qualifying one).

    Columns: the flag's columns + served (bool), intervention, tier, start_date, end_date, exit_reason,
    days_to_start (negative when the support was already running on the flag date)."""
    base = flags.reset_index(drop=True).assign(_flag=lambda f: np.arange(len(f)))
    cols = ["student_id", "intervention", "start_date", "end_date", "tier", "exit_reason"]
    pairs = base[["_flag", "student_id", "flag_date"]].merge(interventions[cols], on="student_id", how="inner")
    start, end, flag = pairs["start_date"], pairs["end_date"], pairs["flag_date"]
    active = (start <= flag) & (end.isna() | (end >= flag))
    soon = (start > flag) & (start <= flag + pd.Timedelta(days=within_days))
    pairs = pairs[(active | soon).fillna(False).astype(bool)].sort_values(["_flag", "start_date", "intervention"])
    first = pairs.drop_duplicates("_flag").set_index("_flag")
    out = base.join(first[["intervention", "start_date", "end_date", "tier", "exit_reason"]], on="_flag")
    out["served"] = out["intervention"].notna()
    out["days_to_start"] = (out["start_date"] - out["flag_date"]).dt.days
    return out.drop(columns="_flag")


def coverage_counts(served: pd.DataFrame) -> dict[str, float | int]:
    """Flagged students, those served within 30 days, and the share (the data-contract `coverage` object)."""
    flagged = served[served["flagged"].fillna(False).astype(bool)]
    n, k = len(flagged), int(flagged["served"].sum())
    return {"flagged": n, "served_30d": k, "share_served_30d": (k / n) if n else float("nan")}


def _group_labels(frame: pd.DataFrame, column: str) -> pd.Series:
    values = frame[column]
    if str(values.dtype) in ("boolean", "bool"):
        return values.map({True: "yes", False: "no"}).astype(object).where(values.notna(), "unknown")
    return values.astype(object).where(values.notna(), "unknown").astype(str)


def funnel_table(served: pd.DataFrame, students: pd.DataFrame, on_track: pd.DataFrame | None = None) -> pd.DataFrame:
    """The funnel flagged -> served within 30 days -> on track -> met goal, for the district and by school, tier and
    subgroup (frl, ell, iep, race_ethnicity), with counts (unsuppressed) and shares of the flagged.

    `on_track`: per student x intervention x start_date a boolean `on_track` (progress.student_progress); a served
    student counts as on track when the intervention row that served them is. met goal = that row's exit_reason is
    met_goal. Tier rows: flagged = every flagged student, the other stages those served by a support of that tier."""
    flagged = served[served["flagged"].fillna(False).astype(bool)].copy()
    if on_track is not None and not on_track.empty:
        keys = on_track[["student_id", "intervention", "start_date", "on_track"]].drop_duplicates(
            ["student_id", "intervention", "start_date"])
        flagged = flagged.merge(keys, on=["student_id", "intervention", "start_date"], how="left")
    else:
        flagged["on_track"] = pd.NA
    flagged["on_track"] = flagged["on_track"].astype("boolean").fillna(False).astype(bool) & flagged["served"]
    flagged["met_goal"] = (flagged["exit_reason"] == "met_goal").fillna(False).astype(bool) & flagged["served"]
    info = students.set_index("student_id")
    for col in ["school_id", *SUBGROUPS]:
        flagged[col] = info[col].reindex(flagged["student_id"]).to_numpy() if col in info.columns else None

    def stage_counts(part: pd.DataFrame, n_flagged: int) -> dict:
        row = {"flagged": n_flagged, "served_30d": int(part["served"].sum()),
               "on_track": int(part["on_track"].sum()), "met_goal": int(part["met_goal"].sum())}
        for stage in FUNNEL_STAGES[1:]:
            row[f"share_{stage}"] = row[stage] / n_flagged if n_flagged else float("nan")
        return row

    rows = [{"dimension": "district", "group": "all", **stage_counts(flagged, len(flagged))}]
    for col, dimension in [("school_id", "school"), *[(c, c) for c in SUBGROUPS]]:
        if col not in flagged.columns or flagged[col].isna().all():
            continue
        labels = _group_labels(flagged, col)
        for group, part in flagged.groupby(labels, sort=True):
            rows.append({"dimension": dimension, "group": str(group), **stage_counts(part, len(part))})
    served_tiers = flagged.loc[flagged["served"], "tier"]
    for tier in sorted(pd.unique(served_tiers.dropna())):
        part = flagged[flagged["served"] & (flagged["tier"] == tier)]
        rows.append({"dimension": "tier", "group": f"Tier {int(tier)}", **stage_counts(part, len(flagged))})
    if served_tiers.isna().any():
        part = flagged[flagged["served"] & flagged["tier"].isna()]
        rows.append({"dimension": "tier", "group": "tier not given", **stage_counts(part, len(flagged))})
    columns = ["dimension", "group", *FUNNEL_STAGES, *[f"share_{s}" for s in FUNNEL_STAGES[1:]]]
    return pd.DataFrame(rows, columns=columns)
