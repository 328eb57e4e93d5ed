"""Sample district, issue 16: an outside early-warning system's risk flags, the MTSS interventions that followed,
progress-monitoring probes, and the planted truths behind them (documented in data/samples/README.md).

Called once from `generate.generate_district`, right after the spring scores are drawn and before the assessment
rows are built, so the planted intervention effect enters the spring scores every other part of the sample uses.
It draws from its own random stream (`default_rng([seed, 16])`): every other table of the sample is unchanged
except the spring scores of the students a working intervention served.

What is planted (all in `truths["interventions"]`):
- **Flags**: "district EWS 2025" scores every student on 2025-10-06 (after the fall MAP window) with
  risk = sigmoid(a - 1.1 * fall_z + N(0, 0.9)), fall_z = mean within-grade z of the fall MAP Math and Reading
  scores, the noise standing for prior-year records the sample does not export; flagged = risk >= 0.30.
- **Reading mentoring** (Tier 2, 60 min a week): offered to weak readers (fall Reading z < -0.8) with
  probability 0.45 whatever their flag, starting 2025-09-22 to 2025-10-17; **no effect** on anything.
  8% decline within three weeks, 4% move away.
- **Math small-group tutoring**: the district's protocol for flagged students not already in reading mentoring.
  Take-up is partial (a school-level probability of 0.45-0.80 for flagged students, 0.05 for unflagged referrals),
  so a fuzzy regression discontinuity at the cut-off is estimable. Tier 3 (150 min a week, $1,150) above risk
  0.6, else Tier 2 (90 min a week, $640). 85% of flagged starters begin within 27 days of the flag (served within
  30 days), the rest 35-70 days after. **Effect +0.20 SD** (0.20 x the within-grade SD of the spring MAP Math
  score before the effect, in whole points by unbiased stochastic rounding) on the spring MAP Math score of every
  tutored student. Nobody declines it.
- Because a student receives at most one intervention and reading mentoring is smooth in risk, the fuzzy RDD
  (treatment = received an intervention after the flag and before the spring test, outcome = spring MAP Math)
  estimates the tutoring effect itself at the cut-off: `truths["interventions"]["rdd"]`.
- **Progress monitoring**: four weekly baseline probes before the start, then one every two weeks until the end
  (or late May when ongoing). Math CBM: level 10 + 4 x grade + 5 x z, slope 0.35 a week before, +0.50 a week
  during tutoring (individual SD 0.10), noise SD 1.5. Oral reading fluency: 20 + 12 x grade + 15 x z, 0.9 a week
  before, +0 during mentoring, noise SD 4. Goal = baseline level + 0.75 (CBM) or 1.5 (ORF) a week x planned weeks.
  exit_reason met_goal when the last probe reached the goal, else other (declined / moved as drawn; 10% ongoing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STREAM = (16, 3)  # own random stream default_rng([seed, *STREAM]); why 3: data/samples/README.md (issue 16)
EWS_SOURCE = "district EWS 2025"
FLAG_DATE = pd.Timestamp("2025-10-06")
CUTOFF = 0.30
TARGET_FLAGGED_SHARE = 0.15
RISK_SLOPE, RISK_NOISE_SD = -1.1, 0.9
TIER3_ABOVE = 0.6
SPRING_TEST = pd.Timestamp("2026-05-11")
PROBES_UNTIL = pd.Timestamp("2026-05-25")
HOLIDAYS = tuple(pd.Timestamp(d) for d in ("2025-11-24", "2025-12-22", "2025-12-29", "2026-03-23"))

MATH = "Math small-group tutoring"
READING = "Reading mentoring"
# name -> planted facts (effect on the spring score of `assessment`, in SD units of that score before the effect)
SPECS = {
    MATH: dict(subject="math", assessment="MAP Math", planted_sd=0.20, measure="Math CBM",
               level=(10.0, 4.0, 5.0), slope_before=0.35, slope_change=0.50, slope_sd=0.10, noise_sd=1.5,
               goal_rate=0.75, weeks=(14, 21), tiers={2: (90, 640.0), 3: (150, 1150.0)}),
    READING: dict(subject="ela", assessment="MAP Reading", planted_sd=0.0, measure="ORF",
                  level=(20.0, 12.0, 15.0), slope_before=0.9, slope_change=0.0, slope_sd=0.10, noise_sd=4.0,
                  goal_rate=1.5, weeks=(14, 23), tiers={2: (60, 310.0)}),
}
READING_Z_BELOW, READING_OFFER = -0.8, 0.45
TAKE_UP_RANGE, REFERRAL_RATE = (0.45, 0.80), 0.05
LATE_START_SHARE = 0.15
DECLINE_SHARE, MOVE_SHARE, ONGOING_SHARE = 0.08, 0.04, 0.10


@dataclass
class PlantedSupports:
    interventions: pd.DataFrame
    risk_flags: pd.DataFrame
    progress_monitoring: pd.DataFrame
    truths: dict


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _within_grade_sd(values: np.ndarray, grade: np.ndarray) -> float:
    counts = np.bincount(grade, minlength=13)
    means = np.bincount(grade, values, 13) / np.maximum(counts, 1)
    return float(np.std(values - means[grade], ddof=1))


def _pooled_sd(values: np.ndarray, cells: np.ndarray) -> float:
    """Pooled SD within cells (one degree of freedom per non-empty cell): methods v2's standardizer."""
    codes = np.unique(cells, return_inverse=True)[1].reshape(-1)
    counts = np.bincount(codes)
    means = np.bincount(codes, values) / counts
    return float(np.sqrt(np.sum((values - means[codes]) ** 2) / (values.size - counts.size)))


def _school_days(rng: np.random.Generator, start: pd.Timestamp, low: int, high: int, n: int) -> pd.DatetimeIndex:
    """Start dates `low`..`high` days after `start`, moved to the Monday of their week, never a holiday week."""
    days = start + pd.to_timedelta(rng.integers(low, high + 1, n), unit="D")
    monday = days - pd.to_timedelta(days.day_of_week, unit="D")
    return pd.DatetimeIndex([d + pd.Timedelta(days=7) if d in HOLIDAYS else d for d in monday])


def plant(seed: int, student_ids: np.ndarray, grade: np.ndarray, school: np.ndarray, school_ids: np.ndarray,
          zf: dict[str, np.ndarray], spring: dict[str, np.ndarray]) -> PlantedSupports:
    """Flags, interventions and probes for the generated students; adds the tutoring effect to `spring` in place."""
    rng = np.random.default_rng([seed, *STREAM])
    n = len(student_ids)
    fall_z = (zf["math"] + zf["ela"]) / 2.0

    # ---------------- the outside EWS: risk score and flag at the cut-off
    latent = RISK_SLOPE * fall_z + rng.normal(0.0, RISK_NOISE_SD, n)
    # intercept so that about 15% are flagged (bisection on the share over the cut-off)
    lo, hi = -8.0, 4.0
    for _ in range(50):
        mid = (lo + hi) / 2
        if (_sigmoid(mid + latent) >= CUTOFF).mean() < TARGET_FLAGGED_SHARE:
            lo = mid
        else:
            hi = mid
    intercept = round((lo + hi) / 2, 4)
    risk = np.round(_sigmoid(intercept + latent), 3)
    flagged = risk >= CUTOFF
    risk_flags = pd.DataFrame({"student_id": student_ids, "flag_date": FLAG_DATE, "source": EWS_SOURCE,
                               "risk": risk, "cutoff": CUTOFF, "flagged": flagged})

    # ---------------- who gets what (at most one intervention per student)
    reading = (zf["ela"] < READING_Z_BELOW) & (rng.random(n) < READING_OFFER)
    take_up_school = rng.uniform(*TAKE_UP_RANGE, len(school_ids))
    p_math = np.where(flagged, take_up_school[school], REFERRAL_RATE)
    math = ~reading & (rng.random(n) < p_math)

    # ---------------- the planted effect on the spring MAP Math score (before the assessment rows are built)
    sd_before = _within_grade_sd(spring["math"], grade)
    points = round(SPECS[MATH]["planted_sd"] * sd_before, 2)
    whole, frac = int(np.floor(points)), points - np.floor(points)
    added = np.where(math, whole + (rng.random(n) < frac), 0)
    spring["math"] = spring["math"] + added

    rows, probe_cols = [], {"student_id": [], "measure": [], "date": [], "score": [], "goal": []}
    facts: dict[str, dict] = {}
    for name, chosen in ((READING, reading), (MATH, math)):
        spec = SPECS[name]
        idx = np.flatnonzero(chosen)
        m = len(idx)
        if name == READING:
            start = _school_days(rng, pd.Timestamp("2025-09-22"), 0, 25, m)
        else:
            late = rng.random(m) < LATE_START_SHARE
            on_time = _school_days(rng, FLAG_DATE, 3, 27, m)
            later = _school_days(rng, FLAG_DATE, 35, 70, m)
            referral = _school_days(rng, FLAG_DATE, 0, 90, m)
            start = pd.DatetimeIndex(np.where(flagged[idx], np.where(late, later, on_time), referral))
        tiers = np.where((name == MATH) & (risk[idx] > TIER3_ABOVE), 3, 2)
        minutes = np.array([spec["tiers"][t][0] for t in tiers], dtype=float)
        cost = np.array([spec["tiers"][t][1] for t in tiers])
        planned = rng.integers(spec["weeks"][0], spec["weeks"][1] + 1, m)
        u = rng.random(m)
        declined = (name == READING) & (u < DECLINE_SHARE)
        moved = (name == READING) & (u >= DECLINE_SHARE) & (u < DECLINE_SHARE + MOVE_SHARE)
        ongoing = (~declined & ~moved) & (rng.random(m) < ONGOING_SHARE)
        weeks_done = np.where(declined, rng.integers(1, 4, m), np.where(moved, rng.integers(4, 10, m), planned))
        end = start + pd.to_timedelta(weeks_done * 7, unit="D")
        # progress monitoring: planted level, slopes, goal, probes
        a, b, c = spec["level"]
        z = zf[spec["subject"]][idx]
        level = np.round(a + b * grade[idx] + c * z, 1).clip(min=2.0)
        before = spec["slope_before"] + rng.normal(0.0, spec["slope_sd"], m)
        during = before + spec["slope_change"] + rng.normal(0.0, spec["slope_sd"], m)
        goal = np.round(level + spec["goal_rate"] * planned, 0)
        last_probe = np.full(m, np.nan)
        on_track_true = np.zeros(m, dtype=bool)
        for j in range(m):
            s = start[j]
            stop = PROBES_UNTIL if ongoing[j] else min(PROBES_UNTIL, end[j])
            dates = [s - pd.Timedelta(days=7 * k) for k in (4, 3, 2, 1)]
            d = s
            while d <= stop:
                dates.append(d)
                d = d + pd.Timedelta(days=14)
            dates = [x for x in dates if x not in HOLIDAYS]
            t = np.array([(x - s).days / 7.0 for x in dates])
            truth = level[j] + np.where(t < 0, before[j] * t, during[j] * t)
            score = np.round(truth + rng.normal(0.0, spec["noise_sd"], len(t)), 0).clip(min=0)
            last_probe[j] = score[-1]
            horizon = max(planned[j], (stop - s).days / 7.0) if ongoing[j] else weeks_done[j]
            on_track_true[j] = level[j] + during[j] * horizon >= goal[j]
            probe_cols["student_id"] += [student_ids[idx[j]]] * len(dates)
            probe_cols["measure"] += [spec["measure"]] * len(dates)
            probe_cols["date"] += dates
            probe_cols["score"] += score.tolist()
            probe_cols["goal"] += [goal[j]] * len(dates)
        exit_reason = np.where(declined, "declined", np.where(moved, "moved",
                               np.where(last_probe >= goal, "met_goal", "other"))).astype(object)
        exit_reason[ongoing] = None
        end_dates = pd.Series(end, dtype="datetime64[ns]").where(~ongoing, pd.NaT)
        staff = [f"I{school[i] + 1:02d}{'M' if name == MATH else 'R'}{k % 3 + 1}" for k, i in enumerate(idx)]
        rows.append(pd.DataFrame({
            "student_id": student_ids[idx], "intervention": name, "start_date": start, "end_date": end_dates,
            "tier": tiers, "minutes_per_week": minutes, "staff_id": staff, "tool_id": None, "cost_per_student": cost,
            "goal": [f"{spec['measure']} {int(g)} by week {p}" for g, p in zip(goal, planned, strict=True)],
            "exit_reason": exit_reason,
        }))
        # served (data contract): active on the flag date or starting within 30 days after it
        start_v = start.to_numpy()
        active = (start_v <= FLAG_DATE.to_datetime64()) & (end_dates.isna().to_numpy()
                                                         | (end.to_numpy() >= FLAG_DATE.to_datetime64()))
        soon = (start_v > FLAG_DATE.to_datetime64()) & (start_v <= (FLAG_DATE + pd.Timedelta(days=30)).to_datetime64())
        facts[name] = {"served_30": int((flagged[idx] & (active | soon)).sum()), "on_track_true": on_track_true,
                       "declined": declined, "ongoing": int(ongoing.sum()),
                       "tiers": {str(t): int((tiers == t).sum()) for t in sorted(set(tiers.tolist()))}}

    interventions = pd.concat(rows, ignore_index=True).sort_values(["start_date", "student_id"]).reset_index(drop=True)
    progress = pd.DataFrame(probe_cols).sort_values(["student_id", "date"]).reset_index(drop=True)
    truths = _truths(grade, spring, reading, math, flagged, risk, intercept, points, take_up_school, school_ids,
                     facts)
    return PlantedSupports(interventions, risk_flags, progress, truths)


def _truths(grade: np.ndarray, spring: dict[str, np.ndarray], reading: np.ndarray, math: np.ndarray,
            flagged: np.ndarray, risk: np.ndarray, intercept: float, points: float, take_up_school: np.ndarray,
            school_ids: np.ndarray, facts: dict) -> dict:
    none = ~reading & ~math
    per = {}
    for name, chosen in ((MATH, math), (READING, reading)):
        spec = SPECS[name]
        post = spring[spec["subject"]]
        treated = chosen.copy()
        treated[np.flatnonzero(chosen)[facts[name]["declined"]]] = False  # declined = below dosage (own group)
        compared = treated | none
        pts = points if name == MATH else 0.0
        sd_v2 = _pooled_sd(post[compared], grade[compared] * 2 + treated[compared])
        per[name] = {
            "assessment": spec["assessment"], "subject": spec["subject"], "planted_sd": spec["planted_sd"],
            "points": pts, "sd_units": round(pts / sd_v2, 4),
            "n_served": int(chosen.sum()), "n_treated": int(treated.sum()),
            "n_declined": int(facts[name]["declined"].sum()), "n_ongoing": facts[name]["ongoing"],
            "tiers": facts[name]["tiers"],
            "minutes_per_week": {str(t): v[0] for t, v in spec["tiers"].items()},
            "cost_per_student": {str(t): v[1] for t, v in spec["tiers"].items()},
            "measure": spec["measure"], "slope_before_per_week": spec["slope_before"],
            "slope_change_per_week": spec["slope_change"], "goal_rate_per_week": spec["goal_rate"],
            "share_on_track_true": round(float(facts[name]["on_track_true"].mean()), 4),
            "flagged_served_30d": facts[name]["served_30"],
        }
    sd_all = _within_grade_sd(spring["math"], grade)
    near = np.abs(risk - CUTOFF) <= 0.05
    return {
        "source": EWS_SOURCE, "flag_date": FLAG_DATE.date().isoformat(), "cutoff": CUTOFF,
        "risk_formula": (f"risk = sigmoid({intercept} + ({RISK_SLOPE})*fall_z + N(0, {RISK_NOISE_SD}^2)), fall_z = "
                         "mean within-grade z of the fall MAP Math and Reading scores; flagged = risk >= cutoff"),
        "n_scored": int(len(risk)), "n_flagged": int(flagged.sum()),
        "take_up": {"flagged_by_school": {str(s): round(float(p), 3) for s, p in zip(school_ids, take_up_school,
                                                                                  strict=True)},
                    "unflagged_referral": REFERRAL_RATE, "late_start_share": LATE_START_SHARE,
                    "reading_offer": f"fall Reading z < {READING_Z_BELOW}: probability {READING_OFFER}, any flag"},
        "flagged_served_30d": per[MATH]["flagged_served_30d"] + per[READING]["flagged_served_30d"],
        "interventions": per,
        "rdd": {"outcome": "MAP Math", "window": "spring", "effect_points": points,
                "effect_sd": round(points / sd_all, 4),
                "sd": "pooled within-grade SD of the spring MAP Math score over every student",
                "treatment": "received an intervention after the flag (or active on it) and before the spring test",
                "first_stage_jump_near_cutoff": round(float(
                    (math | reading)[near & flagged].mean() - (math | reading)[near & ~flagged].mean()), 4)},
        "at_most_one_intervention_per_student": True,
    }
