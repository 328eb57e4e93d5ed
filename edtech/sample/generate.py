"""Seeded sample district with planted, documented truths.

`generate_district(n_students, seed)` builds a realistic fictional district ("Riverbend Unified")
for school year 2025-26: schools, students, tools, licenses, weekly usage, MAP-like fall/spring
assessments, early-warning indicators, devices, PD sessions and funding. The structure is planted
so later features can be tested against known answers (see `data/samples/README.md`):

- per-tool **true effects** on the spring score of the tool's subject, applied to students who met
  the vendor dosage (80/80 rule, methods.md section 1); below-dosage users get half the effect;
- selection into use depends only on observed covariates (fall score, school, grade, frl/ell/iep),
  so the methods.md section 2 regression recovers the effects while naive gaps are biased
  (up for tools used by high achievers, down for intervention tools targeted at low achievers);
- a digital-dust tool, a tool concentrated in two schools, over-bought and right-sized tools,
  an unvetted high-use tool, a PD session followed by a usage increase, an ESSER funding cliff;
- a planted logistic risk model for `off_track_next_term` whose probabilities are kept in
  `SampleDistrict.risk_oracle`.

Everything is vectorized with numpy: 50,000 students take a few seconds.
`python -m edtech.samples data/samples` rewrites the committed sample files.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from edtech.core.district import FRAME_COLUMNS, District, conform_frame

__all__ = [
    "SampleDistrict", "generate_district", "oracle_auc", "to_contract_frame", "to_contract_frames", "write_sample_csvs",
    "dosage_status", "CSV_TABLES",
]

DISTRICT_ID = "D042"
DISTRICT_NAME = "Riverbend Unified School District (fictional)"
SCHOOL_YEAR = "2025-26"
FIRST_WEEK = pd.Timestamp("2025-08-18")
LAST_WEEK = pd.Timestamp("2026-06-01")
HOLIDAY_WEEKS = tuple(pd.Timestamp(d) for d in ("2025-11-24", "2025-12-22", "2025-12-29", "2026-03-23"))
CONTRACT_START = pd.Timestamp("2025-07-01")
CONTRACT_END = pd.Timestamp("2026-06-30")
FALL_DATE = pd.Timestamp("2025-09-15")
SPRING_DATE = pd.Timestamp("2026-05-11")
INDICATORS_AS_OF = pd.Timestamp("2026-01-31")
DAYS_ENROLLED_BY_AS_OF = 96  # instructional days from 2025-08-18 to 2026-01-31 minus holidays
RISK_TARGET = "off_track_next_term"
RISK_PREVALENCE = 0.15
GRADE_LABELS = ("K", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")

# file name -> District frame, in the order the files are written / imported
CSV_TABLES: dict[str, str] = {
    "schools.csv": "schools", "students.csv": "students", "tools.csv": "tools",
    "licenses.csv": "licenses", "usage.csv": "usage", "assessments.csv": "assessments",
    "indicators.csv": "indicators", "devices.csv": "devices", "pd_sessions.csv": "pd_sessions",
    "funding.csv": "funding", "feedback.csv": "feedback",
    "interventions.csv": "interventions", "risk_flags.csv": "risk_flags", "progress_monitoring.csv": "progress_monitoring",
    "initiatives.csv": "initiatives", "kpis.csv": "kpis",
}

# (school_id, name, level, relative size within level, frl_pct)
SCHOOLS: tuple[tuple[str, str, str, float, float], ...] = (
    ("0101", "Alder Creek Elementary", "elementary", 1.15, 0.22),
    ("0102", "Birchwood Elementary", "elementary", 0.90, 0.38),
    ("0103", "Cedar Hollow Elementary", "elementary", 1.00, 0.56),
    ("0104", "Dogwood Elementary", "elementary", 0.80, 0.68),
    ("0105", "Elm Park Elementary", "elementary", 1.10, 0.85),
    ("0106", "Fern Ridge Elementary", "elementary", 1.05, 0.45),
    ("0201", "Granite Peak Middle", "middle", 1.10, 0.30),
    ("0202", "Harbor View Middle", "middle", 1.00, 0.62),
    ("0203", "Ironwood Middle", "middle", 0.90, 0.78),
    ("0301", "Juniper Ridge High", "high", 1.15, 0.15),
    ("0302", "Kestrel Valley High", "high", 1.00, 0.52),
    ("0303", "Lakeside High", "high", 0.85, 0.74),
)
LEVEL_GRADES = {"elementary": range(0, 6), "middle": range(6, 9), "high": range(9, 13)}

# Tools. effect_sd = planted true effect on the spring score (in pooled within-grade SD units)
# for students who met dosage; use_* = logistic selection model on the within-grade z of the
# fall score of the tool's subject (zf) and flags; met_* = P(met dosage | used).
TOOL_SPECS: tuple[dict, ...] = (
    dict(tool_id="T01", tool_name="Mathigo Adaptive Math", vendor="Brightpath Learning",
         category="math practice", subject="math", grade_band="K-5", grades=range(0, 6),
         rec_min=60, rec_weeks=24, privacy="signed_dpa", access="wcag_aa",
         coppa="school consent (under 13)", interop="OneRoster 1.2; Clever SSO", rating=4.5,
         price=18.0, scope="school", funding="general", target_util=0.93, session_len=20,
         effect_sd=0.25, use=(0.3, 0.6, 0.0, 0.0, 0.0), met=(0.3, 0.5),
         selection="higher achievers use it more (teachers assign it as enrichment)"),
    dict(tool_id="T02", tool_name="Numbridge Math Intervention", vendor="Keystone Interventions",
         category="math intervention", subject="math", grade_band="6-8", grades=range(6, 9),
         rec_min=45, rec_weeks=20, privacy="signed_dpa", access="partial",
         coppa="not applicable (13+ majority)", interop="OneRoster 1.1; LTI 1.3", rating=4.0,
         price=32.0, scope="district", funding="esser", target_util=0.85, session_len=25,
         effect_sd=0.15, use=(-0.7, -1.0, 0.3, 0.3, 0.4), met=(0.3, -0.3),
         selection="targeted at low achievers (intervention block)"),
    dict(tool_id="T03", tool_name="AlgebraForge", vendor="Forge EdTech",
         category="math practice", subject="math", grade_band="9-12", grades=range(9, 13),
         rec_min=40, rec_weeks=20, privacy="signed_dpa", access="wcag_aa",
         coppa="not applicable (13+)", interop="LTI 1.3; Google SSO", rating=3.0,
         price=24.0, scope="district", funding="general", target_util=0.50, session_len=20,
         effect_sd=0.0, use=(-0.2, 0.6, 0.0, 0.0, 0.0), met=(0.0, 0.4),
         selection="higher achievers use it more (honors courses)"),
    dict(tool_id="T04", tool_name="ReadRocket", vendor="Lumen Literacy Co.",
         category="ELA", subject="ela", grade_band="K-5", grades=range(0, 6),
         rec_min=50, rec_weeks=24, privacy="signed_dpa", access="wcag_aa",
         coppa="school consent (under 13)", interop="OneRoster 1.2; Clever SSO", rating=4.0,
         price=15.0, scope="school", funding="title_i", target_util=0.88, session_len=15,
         effect_sd=0.10, use=(0.4, 0.5, 0.0, -0.3, 0.0), met=(0.3, 0.4),
         selection="stronger readers use it more (independent reading time)"),
    dict(tool_id="T05", tool_name="Lexicon Lane", vendor="Wordhouse Digital",
         category="ELA", subject="ela", grade_band="6-12", grades=range(6, 13),
         rec_min=30, rec_weeks=18, privacy="signed_dpa", access="unknown",
         coppa="not applicable (13+ majority)", interop="Google SSO", rating=2.5,
         price=12.0, scope="district", funding="title_iv_a", target_util=0.55, session_len=15,
         effect_sd=-0.05, use=(-0.4, -0.6, 0.2, 0.5, 0.2), met=(0.1, -0.2),
         selection="assigned to struggling readers"),
    dict(tool_id="T06", tool_name="ClassHub LMS", vendor="Classhub Systems",
         category="LMS", subject="none", grade_band="6-12", grades=range(6, 13),
         rec_min=None, rec_weeks=None, privacy="signed_dpa", access="wcag_aa",
         coppa="not applicable (13+ majority)", interop="OneRoster 1.2; LTI 1.3 platform; SAML SSO",
         rating=4.0, price=None, scope="district", funding="general", target_util=None,
         session_len=12),
    dict(tool_id="T07", tool_name="QuizBlitz", vendor="Blitz Games LLC",
         category="assessment", subject="none", grade_band="2-12", grades=range(2, 13),
         rec_min=None, rec_weeks=None, privacy="pending", access="partial",
         coppa="pending review", interop="none (class codes)", rating=3.0,
         price=5.0, scope="district", funding="general", target_util=0.92, session_len=10),
    dict(tool_id="T08", tool_name="LabVerse Science Sims", vendor="Verse Interactive",
         category="science", subject="science", grade_band="6-12", grades=range(6, 13),
         rec_min=30, rec_weeks=12, privacy="signed_dpa", access="partial",
         coppa="not applicable (13+ majority)", interop="LTI 1.3", rating=3.5,
         price=22.0, scope="district", funding="esser", target_util=0.40, session_len=25),
    dict(tool_id="T09", tool_name="CodeCanvas", vendor="Canvasworks Code",
         category="computer science", subject="none", grade_band="6-12", grades=range(6, 13),
         rec_min=45, rec_weeks=12, privacy="none", access="unknown",
         coppa="not documented", interop="Google SSO", rating=3.0,
         price=28.0, scope="district", funding="esser", target_util=0.03, session_len=30),
    dict(tool_id="T10", tool_name="TypeQuest Keyboarding", vendor="Questline Learning",
         category="keyboarding", subject="none", grade_band="2-5", grades=range(2, 6),
         rec_min=20, rec_weeks=16, privacy="pending", access="unknown",
         coppa="school consent (under 13)", interop="Clever SSO", rating=3.0,
         price=8.0, scope="school", funding="title_iv_a", target_util=0.42, session_len=10),
)
ASSESSMENTS = {"math": "MAP Math", "ela": "MAP Reading"}
DIGITAL_DUST_TOOL = "T09"
CONCENTRATED_TOOL, CONCENTRATED_SCHOOLS = "T08", ("0202", "0302")
RIGHT_SIZED_TOOL = "T01"
UNVETTED_HIGH_USE_TOOL = "T07"
PD_TOOL, PD_SCHOOL, PD_DATE = "T02", "0202", pd.Timestamp("2025-10-15")

# RIT-like fall means / SDs and fall->spring growth by grade (K..12)
FALL_MEAN = {"math": np.array([140, 160, 175, 188, 199, 209, 215, 221, 226, 229, 231, 233, 234.0]),
             "ela": np.array([138, 158, 172, 186, 196, 204, 209, 213, 216, 218, 219, 221, 222.0])}
FALL_SD = {"math": np.array([12, 13, 14, 14, 15, 15, 16, 16, 17, 17, 17, 18, 18.0]),
           "ela": np.array([12, 14, 15, 15, 15, 15, 15, 15, 16, 16, 16, 16, 16.0])}
GROWTH = {"math": np.array([19, 17, 14, 12, 10, 9, 7, 6, 5, 3, 2, 2, 1.0]),
          "ela": np.array([17, 15, 12, 9, 7, 6, 5, 4, 3, 2, 2, 1, 1.0])}
SPRING_RHO, SPRING_NOISE_SD = 0.88, 6.5  # spring = ... + rho * (fall - grade mean) + noise
SPRING_FLAGS = {"frl": -1.2, "ell": -1.0, "iep": -1.5}  # slower growth, in points

# planted risk model (logit scale); subgroup flags deliberately absent
RISK_COEF = {"absence_rate": 14.0, "course_failures": 0.7, "gpa_below_2_5": 1.2,
             "behavior_incidents": 0.4, "suspensions": 0.6, "fall_z": -0.7}


@dataclass
class SampleDistrict:
    """A generated district plus the truths planted in it."""

    district: District
    truths: dict
    risk_oracle: pd.DataFrame  # student_id, as_of, p_true, target


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def instruction_weeks() -> pd.DatetimeIndex:
    """Monday of every week with instruction (holiday weeks removed)."""
    weeks = pd.date_range(FIRST_WEEK, LAST_WEEK, freq="7D")
    return weeks[~weeks.isin(pd.DatetimeIndex(HOLIDAY_WEEKS))]


def _season_weights(weeks: pd.DatetimeIndex) -> np.ndarray:
    """Relative intensity of use per instruction week: ramp-up, pre-break dips, late-May drop."""
    w = np.ones(len(weeks))
    special = {"2025-08-18": 0.45, "2025-08-25": 0.7, "2025-09-01": 0.85, "2025-11-17": 0.8,
               "2025-12-15": 0.65, "2026-01-05": 0.8, "2026-03-16": 0.8, "2026-04-27": 0.85,
               "2026-05-04": 0.8, "2026-05-11": 0.8, "2026-05-18": 0.55, "2026-05-25": 0.4,
               "2026-06-01": 0.25}
    for day, value in special.items():
        w[weeks == pd.Timestamp(day)] = value
    return w


def _usage_rows(rng: np.random.Generator, users: np.ndarray, k: np.ndarray, level: np.ndarray,
                weights: np.ndarray, session_len: float) -> tuple[np.ndarray, ...]:
    """Weekly rows for `users`: k[i] distinct weeks drawn ∝ weights, mean minutes per used week = level[i].

    weights is (W,) or (len(users), W). Gumbel top-k draws weighted weeks without replacement for
    all users at once; minutes follow the same weights so busy weeks are busier.
    """
    m = len(users)
    n_weeks = weights.shape[-1]
    if m == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, np.array([], dtype=float), empty
    w = np.broadcast_to(weights, (m, n_weeks))
    keys = np.log(w) + rng.gumbel(size=(m, n_weeks))
    k = np.clip(k, 1, n_weeks)
    threshold = np.take_along_axis(np.sort(keys, axis=1), (n_weeks - k)[:, None], axis=1)
    used = keys >= threshold
    raw = np.where(used, w * rng.lognormal(0.0, 0.35, size=(m, n_weeks)), 0.0)
    minutes = raw * (level * k / raw.sum(axis=1))[:, None]
    rows, cols = np.nonzero(used)
    mins = np.clip(np.rint(minutes[rows, cols]), 1, 600)
    sessions = np.maximum(1, np.rint(mins / session_len * rng.lognormal(0, 0.25, len(mins))))
    return users[rows], cols, mins, sessions.astype(np.int64)


def _dosage_draw(rng: np.random.Generator, status: np.ndarray, rec_min: float, rec_weeks: int,
                 n_weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Weeks used and mean weekly minutes that reproduce each user's dosage status (2 met, 1 below)."""
    need_weeks = math.ceil(0.8 * rec_weeks)
    m = len(status)
    k = np.empty(m, dtype=np.int64)
    level = np.empty(m)
    met = status == 2
    k[met] = rng.integers(need_weeks, min(n_weeks, rec_weeks + 8) + 1, met.sum())
    level[met] = rec_min * rng.uniform(0.9, 1.45, met.sum())
    below = np.flatnonzero(status == 1)
    too_few_weeks = rng.random(len(below)) < 0.5  # half stop early, half use too little per week
    short, thin = below[too_few_weeks], below[~too_few_weeks]
    k[short] = rng.integers(2, need_weeks, len(short))
    level[short] = rec_min * rng.uniform(0.5, 1.2, len(short))
    k[thin] = rng.integers(need_weeks, min(n_weeks, rec_weeks + 4) + 1, len(thin))
    level[thin] = rec_min * rng.uniform(0.3, 0.7, len(thin))
    return k, level


def _seats(active: int, target_util: float, pack: int = 25) -> int:
    """Seats bought so that utilization ≈ target_util (rounded up to a whole pack)."""
    return max(pack, int(math.ceil(active / target_util / pack)) * pack)


def dosage_status(usage: pd.DataFrame, tools: pd.DataFrame) -> pd.DataFrame:
    """Per student × tool: weeks used, mean weekly minutes over weeks used, and the 80/80 dosage flag."""
    per = (usage.groupby(["student_id", "tool_id"], observed=True)
           .agg(weeks_used=("week_start", "nunique"), minutes=("minutes", "sum")).reset_index())
    per["avg_weekly_minutes"] = per["minutes"] / per["weeks_used"]
    rec = tools.set_index("tool_id")[["recommended_minutes_per_week", "recommended_weeks"]]
    per = per.join(rec, on="tool_id")
    per["dosage_met"] = ((per["avg_weekly_minutes"] >= 0.8 * per["recommended_minutes_per_week"])
                         & (per["weeks_used"] >= 0.8 * per["recommended_weeks"].astype("float64")))
    return per


def generate_district(n_students: int = 6000, seed: int = 2025) -> SampleDistrict:
    """Generate the sample district; the same (n_students, seed) always gives the same data."""
    if n_students < 200:
        raise ValueError("n_students must be at least 200 (every school needs students)")
    rng = np.random.default_rng(seed)
    weeks = instruction_weeks()
    n_weeks = len(weeks)
    season = _season_weights(weeks)

    # ---------------- schools and students ----------------
    school_ids = np.array([s[0] for s in SCHOOLS], dtype=object)
    school_level = np.array([s[2] for s in SCHOOLS])
    school_frl = np.array([s[4] for s in SCHOOLS])
    n_schools = len(SCHOOLS)
    # each grade gets about the same number of students; a grade's students split over its level's schools
    grade = rng.integers(0, 13, n_students)
    school = np.empty(n_students, dtype=np.int64)
    for level, grades in LEVEL_GRADES.items():
        idx = np.flatnonzero(np.isin(grade, list(grades)))
        members = np.flatnonzero(school_level == level)
        size = np.array([SCHOOLS[i][3] for i in members])
        school[idx] = rng.choice(members, len(idx), p=size / size.sum())
    order = np.lexsort((grade, school))  # students listed by school then grade, IDs shuffled
    grade, school = grade[order], school[order]
    width = max(6, len(str(n_students + 1000)))
    id_numbers = rng.permutation(n_students) + 1000
    student_ids = np.array([str(i).zfill(width) for i in id_numbers], dtype=object)

    frl = rng.random(n_students) < np.clip(school_frl[school] + rng.normal(0, 0.05, n_students), 0.02, 0.98)
    ell = rng.random(n_students) < np.where(frl, 0.17, 0.05)
    iep = rng.random(n_students) < 0.13
    gender = rng.choice(np.array(["F", "M", "X"], dtype=object), n_students, p=[0.49, 0.49, 0.02])
    race_probs_low = [0.48, 0.22, 0.12, 0.09, 0.06, 0.02, 0.01]  # low-FRL schools
    race_probs_high = [0.20, 0.42, 0.22, 0.06, 0.07, 0.02, 0.01]
    races = np.array(["White", "Hispanic or Latino", "Black or African American", "Asian",
                      "Two or more races", "American Indian or Alaska Native",
                      "Native Hawaiian or Pacific Islander"], dtype=object)
    mix = school_frl[school][:, None]
    race_p = (1 - mix) * np.array(race_probs_low) + mix * np.array(race_probs_high)
    race = races[(rng.random(n_students)[:, None] > np.cumsum(race_p, axis=1)).sum(axis=1).clip(0, 6)]
    languages = np.array(["Spanish", "Vietnamese", "Arabic", "Mandarin", "Somali"], dtype=object)
    home_language = np.where(ell | (rng.random(n_students) < 0.06),
                             languages[rng.choice(5, n_students, p=[0.62, 0.12, 0.1, 0.08, 0.08])],
                             "English").astype(object)

    # ---------------- fall scores (observed), latent achievement ----------------
    school_ach = -1.0 * (school_frl - 0.5) + rng.normal(0, 0.12, n_schools)
    shared = rng.normal(0, 1, n_students)
    base = school_ach[school] - 0.25 * frl - 0.35 * ell - 0.55 * iep
    fall, zf = {}, {}
    for subj in ("math", "ela"):
        z = base + 0.85 * shared + 0.53 * rng.normal(0, 1, n_students)
        fall[subj] = np.rint(FALL_MEAN[subj][grade] + FALL_SD[subj][grade] * z)
        g_mean = np.bincount(grade, fall[subj], 13) / np.maximum(np.bincount(grade, minlength=13), 1)
        dev = fall[subj] - g_mean[grade]
        g_sd = np.sqrt(np.bincount(grade, dev ** 2, 13) / np.maximum(np.bincount(grade, minlength=13), 1))
        zf[subj] = dev / np.maximum(g_sd[grade], 1e-9)

    # ---------------- tool use ----------------
    pd_week = weeks >= PD_DATE  # weeks starting after the PD Wednesday
    usage_parts: list[tuple[np.ndarray, ...]] = []
    status_by_tool: dict[str, np.ndarray] = {}
    pd_school_idx = int(np.flatnonzero(school_ids == PD_SCHOOL)[0])
    for t_i, spec in enumerate(TOOL_SPECS):
        tid = spec["tool_id"]
        eligible = np.isin(grade, list(spec["grades"]))
        school_eff = rng.normal(0, 0.3, n_schools)
        status = np.zeros(n_students, dtype=np.int8)  # 0 none, 1 below dosage, 2 met dosage
        if "effect_sd" in spec:
            a, b_z, b_frl, b_ell, b_iep = spec["use"]
            if tid == PD_TOOL:
                school_eff[pd_school_idx] += 0.6  # the trained school rolls it out more widely
            z = zf[spec["subject"]]
            p_use = _sigmoid(a + b_z * z + b_frl * frl + b_ell * ell + b_iep * iep + school_eff[school])
            p_met = _sigmoid(spec["met"][0] + spec["met"][1] * z)
            use = eligible & (rng.random(n_students) < p_use)
            met = use & (rng.random(n_students) < p_met)
            status[use] = 1
            status[met] = 2
            users = np.flatnonzero(use)
            k, level = _dosage_draw(rng, status[users], spec["rec_min"], spec["rec_weeks"], n_weeks)
        else:
            if tid == "T06":
                p_use = _sigmoid(1.1 + 0.2 * zf["ela"] + school_eff[school])
                k_range, level_mean = (6, 22), 50.0
            elif tid == "T07":
                p_use = _sigmoid(0.2 + school_eff[school])
                k_range, level_mean = (2, 11), 22.0
            elif tid == CONCENTRATED_TOOL:
                in_two = np.isin(school_ids[school], CONCENTRATED_SCHOOLS)
                p_use = np.where(in_two, 0.7, 0.02)
                k_range, level_mean = (4, 14), 30.0
            elif tid == DIGITAL_DUST_TOOL:
                p_use = np.full(n_students, 0.012)
                k_range, level_mean = (1, 5), 20.0
            else:  # T10 keyboarding
                p_use = _sigmoid(-0.6 + school_eff[school])
                k_range, level_mean = (2, 10), 15.0
            use = eligible & (rng.random(n_students) < p_use)
            status[use] = 1
            users = np.flatnonzero(use)
            k = rng.integers(k_range[0], k_range[1] + 1, len(users))
            level = level_mean * rng.lognormal(0, 0.4, len(users))
            if tid == CONCENTRATED_TOOL:
                level = np.where(np.isin(school_ids[school[users]], CONCENTRATED_SCHOOLS), level, level * 0.6)
        weights = season
        if tid == PD_TOOL:
            # after the PD date the trained school's classes use the tool far more
            at_pd_school = (school[users] == pd_school_idx)[:, None]
            boost = np.where(pd_week, 1.4, 0.45)
            weights = np.where(at_pd_school, season * boost, season)
        rows = _usage_rows(rng, users, k, level, weights, spec["session_len"])
        usage_parts.append((rows[0], np.full(len(rows[0]), t_i), rows[1], rows[2], rows[3]))
        status_by_tool[tid] = status

    u_student = np.concatenate([p[0] for p in usage_parts])
    u_tool = np.concatenate([p[1] for p in usage_parts])
    u_week = np.concatenate([p[2] for p in usage_parts])
    u_min = np.concatenate([p[3] for p in usage_parts])
    u_sess = np.concatenate([p[4] for p in usage_parts])
    tool_ids = np.array([t["tool_id"] for t in TOOL_SPECS], dtype=object)
    order = np.lexsort((id_numbers[u_student], u_tool, u_week))  # by week, tool, student id
    u_student, u_tool, u_week, u_min, u_sess = (a[order] for a in (u_student, u_tool, u_week, u_min, u_sess))
    usage = pd.DataFrame({
        "student_id": pd.Series(student_ids[u_student], dtype=object),
        "tool_id": pd.Series(tool_ids[u_tool], dtype=object),
        "week_start": weeks.values[u_week], "minutes": u_min, "sessions": u_sess,
    })
    # per student x tool totals straight from the arrays (used for seats and truths; tests recompute from frames)
    pair_key, pair_inverse = np.unique(u_tool * n_students + u_student, return_inverse=True)
    pairs = {"tool": pair_key // n_students, "student": pair_key % n_students,
             "weeks_used": np.bincount(pair_inverse), "minutes": np.bincount(pair_inverse, u_min)}
    rows = {"student": u_student, "tool": u_tool, "week": u_week, "minutes": u_min}

    # ---------------- spring scores with planted effects ----------------
    school_growth = {s: rng.normal(0, 1.5, n_schools) for s in ("math", "ela")}
    spring, points_by_tool = {}, {}
    for subj in ("math", "ela"):
        spring_base = (FALL_MEAN[subj][grade] + GROWTH[subj][grade]
                       + SPRING_RHO * (fall[subj] - FALL_MEAN[subj][grade]) + school_growth[subj][school]
                       + SPRING_FLAGS["frl"] * frl + SPRING_FLAGS["ell"] * ell + SPRING_FLAGS["iep"] * iep
                       + rng.normal(0, SPRING_NOISE_SD, n_students))
        sd_base = _pooled_within_grade_sd(spring_base, grade)
        effect = np.zeros(n_students)
        for spec in TOOL_SPECS:
            if spec.get("subject") != subj or "effect_sd" not in spec:
                continue
            pts = round(spec["effect_sd"] * sd_base, 2)
            points_by_tool[spec["tool_id"]] = pts
            st = status_by_tool[spec["tool_id"]]
            effect += np.where(st == 2, pts, np.where(st == 1, 0.5 * pts, 0.0))
        spring[subj] = np.rint(spring_base + effect)

    # (v2, issue 16) EWS flags, interventions, progress probes; adds the planted tutoring effect to spring (own stream)
    from edtech.sample import interventions as sample_interventions
    supports = sample_interventions.plant(seed, student_ids, grade, school, school_ids, zf, spring)

    # ---------------- assemble frames ----------------
    enrollment = np.bincount(school, minlength=n_schools)
    schools_df = pd.DataFrame({
        "school_id": school_ids, "school_name": [s[1] for s in SCHOOLS], "level": school_level.astype(object),
        "enrollment": enrollment, "frl_pct": school_frl, "title_i": school_frl >= 0.5,
        "district_id": DISTRICT_ID,
    })
    grade_labels = np.array(GRADE_LABELS, dtype=object)
    students_df = pd.DataFrame({
        "student_id": student_ids, "school_id": school_ids[school], "grade_level": grade_labels[grade],
        "frl": frl, "ell": ell, "iep": iep, "gender": gender, "race_ethnicity": race,
        "home_language": home_language,
    })
    tools_df = pd.DataFrame({
        "tool_id": [t["tool_id"] for t in TOOL_SPECS], "tool_name": [t["tool_name"] for t in TOOL_SPECS],
        "vendor": [t["vendor"] for t in TOOL_SPECS], "category": [t["category"] for t in TOOL_SPECS],
        "subject": [t["subject"] for t in TOOL_SPECS], "grade_band": [t["grade_band"] for t in TOOL_SPECS],
        "recommended_minutes_per_week": [np.nan if t["rec_min"] is None else float(t["rec_min"]) for t in TOOL_SPECS],
        "recommended_weeks": pd.array([t["rec_weeks"] for t in TOOL_SPECS], dtype="Int64"),
        "privacy_status": [t["privacy"] for t in TOOL_SPECS], "accessibility": [t["access"] for t in TOOL_SPECS],
        "coppa_basis": [t["coppa"] for t in TOOL_SPECS], "interoperability": [t["interop"] for t in TOOL_SPECS],
        "instructional_rating": [float(t["rating"]) for t in TOOL_SPECS],
    })
    licenses_df, utilization = _licenses(rng, pairs, school, grade, school_ids, school_frl)

    assessment_rows = []
    for subj, name in ASSESSMENTS.items():
        test_offset = rng.integers(0, 5, n_schools)[school]  # schools test on different weekdays
        for window, scores, day in (("fall", fall[subj], FALL_DATE), ("spring", spring[subj], SPRING_DATE)):
            cut = FALL_MEAN[subj][grade] + (2.0 if window == "fall" else GROWTH[subj][grade] + 2.0)
            assessment_rows.append(pd.DataFrame({
                "student_id": student_ids, "assessment": name, "window": window, "score": scores,
                "test_date": day + pd.to_timedelta(test_offset, unit="D"), "subject": subj,
                "proficient": scores >= cut,
            }))
    assessments_df = pd.concat(assessment_rows, ignore_index=True)

    indicators_df, risk_oracle, risk_truth = _indicators(rng, student_ids, grade, school, frl, ell, iep,
                                                         (zf["math"] + zf["ela"]) / 2.0)
    devices_df = _devices(rng, student_ids, grade, school, school_ids)
    pd_df = _pd_sessions(rng, school_ids, enrollment)
    funding_df = _funding(licenses_df, n_students)

    district = District(
        schools=conform_frame("schools", schools_df), students=conform_frame("students", students_df),
        tools=conform_frame("tools", tools_df), licenses=conform_frame("licenses", licenses_df),
        usage=conform_frame("usage", usage), assessments=conform_frame("assessments", assessments_df),
        indicators=conform_frame("indicators", indicators_df), devices=conform_frame("devices", devices_df),
        pd_sessions=conform_frame("pd_sessions", pd_df), funding=conform_frame("funding", funding_df),
    )
    district.interventions, district.risk_flags, district.progress_monitoring = (
        conform_frame(name, getattr(supports, name)) for name in ("interventions", "risk_flags", "progress_monitoring"))
    from edtech.sample import feedback as sample_feedback  # (v2) survey responses, their own random stream
    district.feedback = sample_feedback.feedback_frame(district, seed)
    from edtech.sample import roadmap as sample_roadmap  # (v2, issue 17) the three-year roadmap (no randomness)
    district.initiatives, district.kpis = sample_roadmap.roadmap_frames(district)
    truths = _truths(district, seed, n_students, points_by_tool, utilization, risk_truth, risk_oracle,
                     pairs=pairs, rows=rows, school=school, grade=grade, spring=spring, school_ids=school_ids,
                     status_by_tool=status_by_tool)
    truths["interventions"] = supports.truths
    return SampleDistrict(district=district, truths=truths, risk_oracle=risk_oracle)


def _pooled_within_grade_sd(values: np.ndarray, grade: np.ndarray) -> float:
    counts = np.bincount(grade, minlength=13)
    means = np.bincount(grade, values, 13) / np.maximum(counts, 1)
    return float(np.std(values - means[grade], ddof=1))


def _licenses(rng: np.random.Generator, pairs: dict, school: np.ndarray, grade: np.ndarray,
              school_ids: np.ndarray, school_frl: np.ndarray) -> tuple[pd.DataFrame, dict]:
    """FY2026 licenses sized from realized use so each tool's planted utilization holds exactly."""
    n_schools, n_tools = len(school_ids), len(TOOL_SPECS)
    active_by_tool_school = np.bincount(pairs["tool"] * n_schools + school[pairs["student"]],
                                        minlength=n_tools * n_schools).reshape(n_tools, n_schools)
    rows, utilization = [], {}
    title_i = dict(zip(school_ids, school_frl >= 0.5))
    n_students = len(school)
    for t_i, spec in enumerate(TOOL_SPECS):
        tid = spec["tool_id"]
        common = dict(tool_id=tid, start_date=CONTRACT_START, end_date=CONTRACT_END,
                      price_escalator_pct=float(rng.choice([0.03, 0.04, 0.05, 0.06, 0.07])),
                      auto_renew=bool(rng.random() < 0.5))
        pd_hours = float(rng.choice([0, 2, 4, 6])) if tid != "T07" else 0.0
        if spec["scope"] == "school":
            elem = [s for s in school_ids if s.startswith("01")]
            seats_sum, active_sum = 0, 0
            for sid in elem:
                act = int(active_by_tool_school[t_i, list(school_ids).index(sid)])
                seats = _seats(act, spec["target_util"] * rng.uniform(0.97, 1.0), pack=5)
                funding = spec["funding"] if (spec["funding"] != "title_i" or title_i[sid]) else "general"
                rows.append(dict(common, school_id=sid, seats=seats, annual_cost=round(seats * spec["price"], 2),
                                 funding_source=funding, pd_hours=pd_hours, pd_cost=pd_hours * 45.0,
                                 internal_cost=0.0))
                seats_sum += seats
                active_sum += act
            utilization[tid] = dict(seats=seats_sum, active_users=active_sum, utilization=active_sum / seats_sum)
            continue
        act = int(active_by_tool_school[t_i].sum())
        if tid == "T06":  # LMS: district-wide flat price covering every secondary student
            seats = int(math.ceil((grade >= 6).sum() / 50.0) * 50)
            cost = round(6.5 * n_students, -2)
            internal = round(0.25 * 95_000, 2)  # quarter of an LMS administrator
        else:
            seats = _seats(act, spec["target_util"])
            cost = round(seats * spec["price"], 2)
            internal = 0.0
        rows.append(dict(common, school_id=None, seats=seats, annual_cost=cost, funding_source=spec["funding"],
                         pd_hours=pd_hours, pd_cost=pd_hours * 45.0 * 4, internal_cost=internal))
        utilization[tid] = dict(seats=seats, active_users=act, utilization=act / seats)
    return pd.DataFrame(rows), utilization


def _indicators(rng: np.random.Generator, student_ids: np.ndarray, grade: np.ndarray, school: np.ndarray,
                frl: np.ndarray, ell: np.ndarray, iep: np.ndarray, fall_z: np.ndarray
                ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Early-warning indicators and an off_track_next_term label from a planted logistic model.

    The label means what each grade band can be off track for: K-5, below the reading or math benchmark
    next term; 6-12, failing a course next term (so no kindergartner "fails a course")."""
    n = len(student_ids)
    school_climate = rng.normal(0, 0.25, school.max() + 1)
    # latent disengagement: subgroups correlate with it, but only the features below enter p_true
    strain = (0.5 * frl + 0.15 * ell + 0.2 * iep - 0.35 * fall_z + school_climate[school]
              + rng.normal(0, 0.8, n))
    secondary = grade >= 6
    absence_rate = np.clip(np.exp(np.log(0.045) + 0.45 * strain + rng.normal(0, 0.35, n)), 0.0, 0.6)
    days_absent = np.rint(absence_rate * DAYS_ENROLLED_BY_AS_OF)
    attendance = np.round(1.0 - days_absent / DAYS_ENROLLED_BY_AS_OF, 4)
    gpa = np.where(secondary, np.clip(2.95 + 0.45 * fall_z - 0.3 * strain + rng.normal(0, 0.4, n), 0.0, 4.0),
                   np.nan)
    gpa = np.round(gpa, 2)
    failures = np.where(secondary, rng.poisson(np.exp(-1.4 - 1.3 * (np.nan_to_num(gpa, nan=3.0) - 2.5))),
                        np.nan)
    failures = np.where(secondary, np.minimum(failures, 6), np.nan)
    behavior = rng.poisson(np.exp(-1.3 + 0.6 * strain + 0.3 * secondary))
    suspensions = rng.binomial(behavior, 0.12)
    high = grade >= 9
    credits = np.where(high, np.maximum(0, (grade - 9) * 6.5 + 3.0 - 0.5 * np.nan_to_num(failures)
                                        + rng.choice([-0.5, 0.0, 0.5], n)), np.nan)

    gpa_gap = np.where(secondary, np.maximum(0.0, 2.5 - np.nan_to_num(gpa, nan=2.5)), 0.0)
    logit_wo_intercept = (RISK_COEF["absence_rate"] * (days_absent / DAYS_ENROLLED_BY_AS_OF)
                          + RISK_COEF["course_failures"] * np.nan_to_num(failures)
                          + RISK_COEF["gpa_below_2_5"] * gpa_gap
                          + RISK_COEF["behavior_incidents"] * behavior
                          + RISK_COEF["suspensions"] * suspensions + RISK_COEF["fall_z"] * fall_z)
    # intercept solved so the mean planted probability equals the target prevalence
    lo, hi = -12.0, 4.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if _sigmoid(mid + logit_wo_intercept).mean() < RISK_PREVALENCE:
            lo = mid
        else:
            hi = mid
    intercept = round((lo + hi) / 2, 4)
    p_true = _sigmoid(intercept + logit_wo_intercept)
    target = (rng.random(n) < p_true).astype(np.int64)
    indicators = pd.DataFrame({
        "student_id": student_ids, "as_of": INDICATORS_AS_OF, "attendance_rate": attendance,
        "days_absent": days_absent, "gpa": gpa, "course_failures": failures,
        "behavior_incidents": behavior.astype(float), "suspensions": suspensions.astype(float),
        "credits_earned": credits, RISK_TARGET: target,
    })
    oracle = pd.DataFrame({"student_id": student_ids, "as_of": INDICATORS_AS_OF, "p_true": p_true,
                           "target": target})
    c = RISK_COEF
    truth = {"intercept": intercept, "coefficients": dict(RISK_COEF),
             "target_meaning": {"K-5": "below the reading or math benchmark next term",
                                "6-12": "failed a course next term"},
             "formula": (f"logit p = {intercept} + {c['absence_rate']}*days_absent/{DAYS_ENROLLED_BY_AS_OF} "
                         f"+ {c['course_failures']}*course_failures + {c['gpa_below_2_5']}*max(0, 2.5 - gpa) "
                         f"+ {c['behavior_incidents']}*behavior_incidents + {c['suspensions']}*suspensions "
                         f"+ ({c['fall_z']})*fall_z, fall_z = mean within-grade z of the fall MAP Math and "
                         "Reading scores; gpa/course_failures count 0 when blank (K-5)")}
    return indicators, oracle, truth


# (model, device_type, purchase year, AUE date, unit cost)
DEVICE_MODELS = (
    ("Stratus C11 Chromebook", "chromebook", 2019, "2025-06-30", 259.0),
    ("Stratus C11 G2 Chromebook", "chromebook", 2020, "2026-06-30", 279.0),
    ("Orbis Flip 12 Chromebook", "chromebook", 2021, "2028-06-30", 329.0),
    ("Orbis Flip 12 G2 Chromebook", "chromebook", 2022, "2029-06-30", 339.0),
    ("Stratus C14 Chromebook", "chromebook", 2023, "2031-06-30", 309.0),
    ("Stratus C14 G2 Chromebook", "chromebook", 2024, "2033-06-30", 319.0),
    ("Orbis 360 Chromebook", "chromebook", 2025, "2035-06-30", 349.0),
)


def _devices(rng: np.random.Generator, student_ids: np.ndarray, grade: np.ndarray, school: np.ndarray,
             school_ids: np.ndarray) -> pd.DataFrame:
    """1:1 Chromebooks in grades 3-12, shared carts in K-2, plus staff laptops, panels and hotspots."""
    one_to_one = grade >= 3
    n_cart = int(np.ceil((~one_to_one).sum() / 2))  # about one cart device per two K-2 students
    cart_school = rng.choice(school[~one_to_one], n_cart) if n_cart else np.array([], dtype=np.int64)
    owners = np.flatnonzero(one_to_one)
    n_cb = len(owners) + n_cart
    cb_school = np.concatenate([school[owners], cart_school])
    assigned = np.concatenate([student_ids[owners], np.full(n_cart, None, dtype=object)])
    model_idx = rng.choice(len(DEVICE_MODELS), n_cb, p=[0.10, 0.12, 0.16, 0.16, 0.16, 0.16, 0.14])
    years = np.array([m[2] for m in DEVICE_MODELS])[model_idx]
    purchase = (pd.to_datetime(pd.Series(years).astype(str) + "-07-15")
                + pd.to_timedelta(rng.integers(0, 60, n_cb), unit="D"))
    age = 2026 - years
    p_retired = np.clip(0.01 + 0.02 * age, 0, 0.2)
    u = rng.random(n_cb)
    status = np.where(u < p_retired, "retired", np.where(u < p_retired + 0.03, "repair",
                                                         np.where(u < p_retired + 0.045, "lost", "active")))
    assigned = np.where(status == "retired", None, assigned)
    cb = pd.DataFrame({
        "device_type": "chromebook", "purchase_date": purchase.values,
        "purchase_cost": np.array([m[4] for m in DEVICE_MODELS])[model_idx],
        "school_id": school_ids[cb_school], "status": status.astype(object),
        "auto_update_expiration": pd.to_datetime(np.array([m[3] for m in DEVICE_MODELS])[model_idx]),
        "assigned_student_id": assigned, "model": np.array([m[0] for m in DEVICE_MODELS], dtype=object)[model_idx],
    })
    counts = np.bincount(school, minlength=len(school_ids))
    other = []
    for kind, per_student, model, cost in (("laptop", 1 / 16, "Verity 14 Teacher Laptop", 949.0),
                                           ("panel", 1 / 25, "ClearView 75in Interactive Panel", 3650.0),
                                           ("hotspot", 1 / 40, "LinkGo LTE Hotspot", 119.0)):
        per_school = np.maximum(1, np.rint(counts * per_student)).astype(int)
        sch = np.repeat(np.arange(len(school_ids)), per_school)
        year = rng.integers(2019, 2026, len(sch))
        other.append(pd.DataFrame({
            "device_type": kind,
            "purchase_date": pd.to_datetime(pd.Series(year).astype(str) + "-08-01").values,
            "purchase_cost": cost, "school_id": school_ids[sch],
            "status": np.where(rng.random(len(sch)) < 0.04, "repair", "active").astype(object),
            "auto_update_expiration": pd.NaT, "assigned_student_id": None, "model": model,
        }))
    devices = pd.concat([cb] + other, ignore_index=True)
    devices.insert(0, "device_id", [f"D{i:06d}" for i in range(1, len(devices) + 1)])
    return devices


PD_TOPICS = ("Classroom management", "Data-driven instruction", "Universal Design for Learning",
             "Digital citizenship", "Formative assessment strategies", "Small-group literacy")


def _pd_sessions(rng: np.random.Generator, school_ids: np.ndarray, enrollment: np.ndarray) -> pd.DataFrame:
    """General PD at every school, tool trainings, and the planted Numbridge training at Harbor View."""
    staff_per_school = np.maximum(8, np.rint(enrollment / 16)).astype(int)
    staff_start = np.concatenate([[0], np.cumsum(staff_per_school)[:-1]]) + 1
    rows = []
    dates = pd.to_datetime(["2025-08-13", "2025-09-24", "2025-11-05", "2026-01-07", "2026-02-11", "2026-04-08"])
    tool_trainings = {"T01": "0101", "T04": "0105", "T06": "0301", "T08": "0302"}
    for s_i, sid in enumerate(school_ids):
        staff = np.arange(staff_start[s_i], staff_start[s_i] + staff_per_school[s_i])
        for day in dates[rng.choice(len(dates), 3, replace=False)]:
            topic = PD_TOPICS[int(rng.integers(len(PD_TOPICS)))]
            hours = float(rng.choice([1.5, 3.0, 6.0]))
            for st in rng.choice(staff, min(len(staff), int(rng.integers(4, 12))), replace=False):
                rows.append(dict(staff_id=f"S{st:04d}", school_id=sid, date=day, hours=hours, tool_id=None,
                                 topic=topic, cost=round(hours * 40.0, 2)))
        tool = next((t for t, s in tool_trainings.items() if s == sid), None)
        planted = sid == PD_SCHOOL
        if tool or planted:
            tool = PD_TOOL if planted else tool
            name = next(t["tool_name"] for t in TOOL_SPECS if t["tool_id"] == tool)
            day = PD_DATE if planted else pd.Timestamp("2025-08-14")
            for st in rng.choice(staff, min(len(staff), 10 if planted else 6), replace=False):
                rows.append(dict(staff_id=f"S{st:04d}", school_id=sid, date=day, hours=6.0 if planted else 3.0,
                                 tool_id=tool, topic=f"{name}: implementation training",
                                 cost=450.0 if planted else 150.0))
    return pd.DataFrame(rows).sort_values(["date", "school_id", "staff_id"]).reset_index(drop=True)


def _funding(licenses: pd.DataFrame, n_students: int) -> pd.DataFrame:
    """Funding FY2026-2030; ESSER pays its licenses in FY2026-2027 only, so FY2028 has a cliff."""
    by_source = licenses.groupby("funding_source")["annual_cost"].sum()
    esser_2026 = float(by_source.get("esser", 0.0))
    rows = []
    for fy in range(2026, 2031):
        growth = 1.02 ** (fy - 2026)
        rows.append(dict(fiscal_year=fy, source="general", amount=round(115.0 * n_students * growth, -2),
                         restricted_to="any", expires=None))
        rows.append(dict(fiscal_year=fy, source="title_i",
                         amount=round(float(by_source.get("title_i", 0.0)) * 1.15 + 20.0 * n_students, -2),
                         restricted_to="any", expires=None))
        rows.append(dict(fiscal_year=fy, source="title_iv_a",
                         amount=round(float(by_source.get("title_iv_a", 0.0)) * 1.1 + 2.0 * n_students, -2),
                         restricted_to="any", expires=None))
        rows.append(dict(fiscal_year=fy, source="e_rate", amount=round(9.0 * n_students, -2),
                         restricted_to="devices", expires=None))
    for fy, factor in ((2026, 1.0), (2027, 1.05)):
        rows.append(dict(fiscal_year=fy, source="esser", amount=round(esser_2026 * factor, -2),
                         restricted_to="licenses", expires=pd.Timestamp("2026-09-30")))
    return pd.DataFrame(rows)


def _truths(district: District, seed: int, n_students: int, points_by_tool: dict, utilization: dict,
            risk_truth: dict, risk_oracle: pd.DataFrame, *, pairs: dict, rows: dict, school: np.ndarray,
            grade: np.ndarray, spring: dict, school_ids: np.ndarray, status_by_tool: dict) -> dict:
    """Everything planted, measured on the generated usage and scores (JSON-serializable).

    Works on the integer arrays behind the frames (fast at 50,000 students); the tests recompute
    the same numbers from the public frames.
    """
    n_schools = len(school_ids)
    effects = {}
    for t_i, spec in enumerate(TOOL_SPECS):
        if "effect_sd" not in spec:
            continue
        tid, subj = spec["tool_id"], spec["subject"]
        mine = pairs["tool"] == t_i
        avg = pairs["minutes"][mine] / pairs["weeks_used"][mine]
        met_pair = (avg >= 0.8 * spec["rec_min"]) & (pairs["weeks_used"][mine] >= 0.8 * spec["rec_weeks"])
        met = np.zeros(n_students, dtype=bool)
        used = np.zeros(n_students, dtype=bool)
        met[pairs["student"][mine][met_pair]] = True
        used[pairs["student"][mine]] = True
        post = spring[subj]
        pooled_sd = _pooled_within_grade_sd(post, grade)
        in_band = np.isin(grade, list(spec["grades"]))
        treated, comparison, below = in_band & met, in_band & ~used, in_band & used & ~met
        naive = float(post[treated].mean() - post[comparison].mean())
        drawn = status_by_tool[tid]
        # the usage drawn for each user must reproduce the dosage status its effect was planted on
        mismatches = int(((drawn == 2) != met).sum() + ((drawn > 0) != used).sum())
        pts = points_by_tool[tid]
        # methods.md v2 §2 standardizes by the pooled within-group, within-grade SD of post (residuals from
        # the grade x group means, over the treatment and comparison students), so the truth uses that SD
        compared = treated | comparison
        compared_sd = _pooled_within_grade_sd(post[compared], grade[compared] * 2 + treated[compared])
        effects[tid] = {
            "tool_name": spec["tool_name"], "assessment": ASSESSMENTS[subj], "subject": subj,
            "grades": spec["grade_band"], "points": pts, "sd_units": round(pts / compared_sd, 4),
            "sd_units_all_grades": round(pts / pooled_sd, 4),
            "planted_sd": spec["effect_sd"], "below_dosage_points": round(pts / 2, 3),
            "selection": spec["selection"],
            "naive_gap_points": round(naive, 3), "naive_gap_sd": round(naive / pooled_sd, 4),
            "naive_vs_truth": "overstates" if naive > pts else "understates",
            "expected_naive_vs_truth": "overstates" if spec["use"][1] > 0 else "understates",
            "n_treated": int(treated.sum()), "n_below_dosage": int(below.sum()),
            "n_comparison": int(comparison.sum()), "dosage_status_mismatches": mismatches,
        }
    tool_index = {t["tool_id"]: i for i, t in enumerate(TOOL_SPECS)}
    row_school = school[rows["student"]]
    conc_rows = rows["tool"] == tool_index[CONCENTRATED_TOOL]
    conc_minutes = np.bincount(row_school[conc_rows], rows["minutes"][conc_rows], n_schools)
    two = np.isin(school_ids, CONCENTRATED_SCHOOLS)
    conc_pairs = pairs["tool"] == tool_index[CONCENTRATED_TOOL]
    conc_users = np.bincount(school[pairs["student"][conc_pairs]], minlength=n_schools)
    weeks = instruction_weeks()
    pd_rows = (rows["tool"] == tool_index[PD_TOOL]) & (row_school == int(np.flatnonzero(school_ids == PD_SCHOOL)[0]))
    weekly = np.bincount(rows["week"][pd_rows], rows["minutes"][pd_rows], len(weeks))
    weekly_users = np.bincount(rows["week"][pd_rows], minlength=len(weeks))  # one row per student-week
    pos = int(np.searchsorted(weeks, PD_DATE))
    before, after = slice(max(0, pos - 6), pos), slice(pos, pos + 6)
    util = {t: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in d.items()} for t, d in utilization.items()}
    over_bought = [t for t, d in util.items()
                   if d["utilization"] < 0.6 and t not in (DIGITAL_DUST_TOOL, "T06")]
    tools = district.tools.set_index("tool_id")
    funding = district.funding
    esser = funding[funding["source"] == "esser"]
    return {
        "seed": seed, "n_students": n_students, "district_id": DISTRICT_ID, "district_name": DISTRICT_NAME,
        "school_year": SCHOOL_YEAR, "first_week": FIRST_WEEK.date().isoformat(),
        "last_week": LAST_WEEK.date().isoformat(),
        "holiday_weeks": [d.date().isoformat() for d in HOLIDAY_WEEKS],
        "as_of": district.as_of.date().isoformat(),
        "dosage_rule": "avg weekly minutes over weeks used >= 0.8*recommended_minutes_per_week "
                       "and weeks used >= 0.8*recommended_weeks",
        "effects": effects,
        "effect_model": ("spring = grade fall mean + grade growth + 0.88*(fall - grade fall mean) + school growth "
                         "- 1.2*frl - 1.0*ell - 1.5*iep + N(0, 6.5) + points*(dosage met) + 0.5*points*(below dosage)"),
        "utilization": util,
        "digital_dust": {"tool_id": DIGITAL_DUST_TOOL, **util[DIGITAL_DUST_TOOL]},
        "concentrated": {"tool_id": CONCENTRATED_TOOL, "schools": list(CONCENTRATED_SCHOOLS),
                         "share_of_minutes": round(float(conc_minutes[two].sum() / conc_minutes.sum()), 4),
                         "share_of_users": round(float(conc_users[two].sum() / conc_users.sum()), 4)},
        "right_sized": {"tool_id": RIGHT_SIZED_TOOL, **util[RIGHT_SIZED_TOOL]},
        "over_bought": over_bought,
        "unvetted_high_use": {"tool_id": UNVETTED_HIGH_USE_TOOL,
                              "privacy_status": tools.loc[UNVETTED_HIGH_USE_TOOL, "privacy_status"],
                              "accessibility": tools.loc[UNVETTED_HIGH_USE_TOOL, "accessibility"],
                              "active_users": util[UNVETTED_HIGH_USE_TOOL]["active_users"],
                              "share_of_students": round(util[UNVETTED_HIGH_USE_TOOL]["active_users"] / n_students, 4)},
        "pd": {"tool_id": PD_TOOL, "school_id": PD_SCHOOL, "date": PD_DATE.date().isoformat(),
               "weekly_minutes_6wk_before": round(float(weekly[before].mean()), 1),
               "weekly_minutes_6wk_after": round(float(weekly[after].mean()), 1),
               "weekly_users_6wk_before": round(float(weekly_users[before].mean()), 1),
               "weekly_users_6wk_after": round(float(weekly_users[after].mean()), 1)},
        "funding": {"esser_expires": "2026-09-30", "esser_fiscal_years": sorted(int(y) for y in esser["fiscal_year"]),
                    "esser_cliff_fiscal_year": 2028,
                    "esser_funded_tools": sorted(district.licenses.loc[district.licenses["funding_source"] == "esser",
                                                                       "tool_id"].unique().tolist()),
                    "esser_amounts": {str(int(y)): float(a) for y, a in zip(esser["fiscal_year"], esser["amount"])}},
        "devices": {"past_aue_as_of_2026_01_31": int((district.devices["auto_update_expiration"]
                                                      < INDICATORS_AS_OF).sum()),
                    "n_devices": len(district.devices)},
        "risk": {"target": RISK_TARGET, "as_of": INDICATORS_AS_OF.date().isoformat(),
                 "prevalence": round(float(risk_oracle["target"].mean()), 4),
                 "mean_p_true": round(float(risk_oracle["p_true"].mean()), 4),
                 "oracle_auc": round(_auc(risk_oracle["p_true"].to_numpy(), risk_oracle["target"].to_numpy()), 4),
                 "subgroups_in_p_true": False, **risk_truth},
    }


def _auc(score: np.ndarray, target: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged."""
    ranks = pd.Series(score).rank(method="average").to_numpy()
    pos = target == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def oracle_auc(sample: SampleDistrict) -> float:
    """ROC AUC of the planted probabilities against the drawn target: the ceiling any model can reach."""
    return _auc(sample.risk_oracle["p_true"].to_numpy(), sample.risk_oracle["target"].to_numpy())


def _text(series: pd.Series) -> pd.Series:
    """One canonical column as the text written to CSV (blank for missing)."""
    s = series
    if pd.api.types.is_datetime64_any_dtype(s):
        codes, uniques = pd.factorize(s)  # few distinct dates: format each once
        labels = np.append(uniques.strftime("%Y-%m-%d").to_numpy(dtype=object), "")
        return pd.Series(labels[codes], index=s.index, dtype=object)
    if pd.api.types.is_bool_dtype(s) or str(s.dtype) == "boolean":
        out = s.astype("boolean").map({True: "true", False: "false"}).astype(object)
        return out.where(s.notna(), "")
    if pd.api.types.is_numeric_dtype(s):
        values = s.astype("float64")
        finite = values.dropna()
        if len(finite) and np.all(np.mod(finite.to_numpy(), 1) == 0):
            out = values.astype("Int64").astype(str).astype(object)
        else:
            out = values.round(4).astype(str).astype(object)
        return out.where(values.notna(), "")
    return s.astype(object).where(s.notna(), "").astype(str).astype(object)


def to_contract_frame(district: District, name: str) -> pd.DataFrame:
    """One table with the data contract's CSV columns, every value as the text written to CSV."""
    df = getattr(district, name)
    if name == "usage":
        df = df.rename(columns={"week_start": "date"})
    cols = [("date" if (name == "usage" and c == "week_start") else c) for c in FRAME_COLUMNS[name]]
    cols += [c for c in df.columns if c not in cols]
    return pd.DataFrame({c: _text(df[c]) for c in cols})


def to_contract_frames(district: District) -> dict[str, pd.DataFrame]:
    """Frames with the data contract's CSV columns, every value as the text written to CSV.

    Holds the text of every table at once (about 10 GB at 500,000 students): a writer of large
    districts converts and writes one table at a time with `to_contract_frame`."""
    return {name: to_contract_frame(district, name) for name in CSV_TABLES.values()}


def write_sample_csvs(out_dir: Path, n_students: int = 6000, seed: int = 2025) -> dict[str, Path]:
    """Generate the district and write one CSV per contract table plus truths.json."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sample = generate_district(n_students=n_students, seed=seed)
    frames = to_contract_frames(sample.district)
    written: dict[str, Path] = {}
    for file_name, table in CSV_TABLES.items():
        path = out_dir / file_name
        frames[table].to_csv(path, index=False, lineterminator="\n")
        written[file_name] = path
    truths_path = out_dir / "truths.json"
    truths_path.write_text(json.dumps(sample.truths, indent=2) + "\n", encoding="utf-8")
    written["truths.json"] = truths_path
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edtech.samples",
                                     description="Write the seeded sample district CSVs and truths.json.")
    parser.add_argument("out_dir", nargs="?", default="data/samples")
    parser.add_argument("--students", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    written = write_sample_csvs(Path(args.out_dir), n_students=args.students, seed=args.seed)
    for path in written.values():
        print(f"{path}  {path.stat().st_size / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
