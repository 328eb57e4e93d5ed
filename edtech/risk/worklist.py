"""The at-risk worklist: risk bands, reason topics, student names and the outcome in plain words.

Pure: frames in, frames and strings out. The bands are defined here once, on the one flagging rule
(`model.flag_by_school`, the top share of each school's students by calibrated risk) at multiples of
the published model's cut-off k: **High** = the top k of each school (the students the board report
counts as flagged), **Elevated** = the next k, **Watch** = the next k after that. Nested by
construction: the same ranking within a school, longer prefixes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pandas as pd

from edtech.adoption.engine import GRADE_ORDER
from edtech.risk.model import DEFAULT_K, flag_by_school, normalize_name

# (band, multiple of the cut-off k): a student is in the first band whose top share of their school holds them
BANDS: tuple[tuple[str, float], ...] = (("High", 1.0), ("Elevated", 2.0), ("Watch", 3.0))
BAND_NAMES: tuple[str, ...] = tuple(name for name, _ in BANDS)
REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
NO_REASON = "no single factor stands out"
_GRADE_RANK = {g: i for i, g in enumerate(GRADE_ORDER)}


def grade_key(grade: str) -> tuple[int, str]:
    """Sort key of a grade level: PK, K, 1 … 12, then anything else."""
    return (_GRADE_RANK.get(str(grade), len(_GRADE_RANK)), str(grade))


def band_share(k: float, multiple: float) -> float:
    """The top share of a school a band reaches down to (rounded: 3 x 0.1 must be 0.3, not 0.30000000000000004,
    or the ceiling of the flag count takes one student too many)."""
    return min(round(k * multiple, 9), 1.0)


def band_help(k: float = DEFAULT_K) -> str:
    """One sentence per band, for the page's caption and the model card's reader."""
    parts = []
    low = 0.0
    for name, multiple in BANDS:
        high = band_share(k, multiple)
        parts.append(f"{name}: {'top' if low == 0 else 'next'} {high - low:.0%} of their school by risk")
        low = high
    return "; ".join(parts) + "."


def risk_bands(scored: pd.DataFrame, k: float = DEFAULT_K) -> pd.Series:
    """The band of each scored row ("High" / "Elevated" / "Watch", NA outside them). `scored` needs `risk`
    and (for per-school flagging) `school`."""
    band = pd.Series(pd.NA, index=scored.index, dtype="string")
    for name, multiple in reversed(BANDS):  # widest first: a narrower band overrides
        flags = flag_by_school(scored, {}, band_share(k, multiple))
        band[flags.to_numpy(dtype=bool)] = name
    return band


# ---------------------------------------------------------------------------------------- reasons
_REASON_TOPICS = {
    "attendance_rate": "Attendance", "days_absent": "Attendance", "absences": "Attendance",
    "gpa": "Grades", "course_failures": "Course failures", "failures": "Course failures",
    "credits_earned": "Credits", "behavior_incidents": "Behavior", "suspensions": "Behavior",
    "usage_minutes": "Learning-tool use", "usage_weeks_active": "Learning-tool use",
    "grade_level": "Grade level",
}


def reason_topic(column: str) -> str:
    """What a reason is about, in words a filter can offer ("Attendance", "Test scores"...)."""
    norm = normalize_name(column)
    if not norm:
        return ""
    if norm in _REASON_TOPICS:
        return _REASON_TOPICS[norm]
    if norm.startswith("score_"):
        return "Test scores"
    return norm.replace("_", " ").capitalize()


# ---------------------------------------------------------------------------------------- names
_FULL_NAMES = ("student_name", "name", "full_name", "display_name")
_FIRST_NAMES = ("preferred_first_name", "first_name", "given_name", "givenname", "firstname")
_LAST_NAMES = ("last_name", "family_name", "familyname", "lastname", "surname")


def _first_column(frame: pd.DataFrame, names: Iterable[str]) -> str | None:
    by_norm = {normalize_name(c): c for c in frame.columns}
    return next((by_norm[n] for n in names if n in by_norm), None)


def student_names(students: pd.DataFrame) -> pd.Series | None:
    """"First Last" (or the full-name column) per student when the roster holds names, else None."""
    def text(col: str) -> pd.Series:
        return students[col].astype("string").str.strip().fillna("")

    full = _first_column(students, _FULL_NAMES)
    if full is not None:
        names = text(full)
    else:
        first, last = _first_column(students, _FIRST_NAMES), _first_column(students, _LAST_NAMES)
        if first is None and last is None:
            return None
        names = ((text(first) if first else "") + " " + (text(last) if last else "")).str.strip()
    if not names.str.len().gt(0).any():
        return None
    return pd.Series(names.to_numpy(), index=students["student_id"].astype("string").to_numpy())


# ---------------------------------------------------------------------------------------- the list
def build_worklist(scored: pd.DataFrame, students: pd.DataFrame, schools: pd.DataFrame,
                   k: float = DEFAULT_K) -> pd.DataFrame:
    """The students in a band, most urgent first: student_id, name (the id when the roster has no names),
    school_id, school_name, grade_level, band, risk, reason_1..3 (plain words), reason_topics (tuple).

    `scored` is `score_students(..., reason_features=True)` of the whole district's latest cohort, so the
    bands (top shares of each school) and the medians the reasons quote are district facts, the same
    for every scope that selects its rows."""
    roster = students[["student_id", "school_id", "grade_level"]].astype({"student_id": "string"})
    rows = scored.drop(columns=[c for c in ("school",) if c in scored.columns]).assign(
        student_id=scored["student_id"].astype("string"))
    rows = rows.merge(roster, on="student_id", how="inner")
    rows = rows[rows["risk"].notna()].reset_index(drop=True)
    rows["band"] = risk_bands(rows.assign(school=rows["school_id"]), k).to_numpy()
    rows = rows[rows["band"].notna()].reset_index(drop=True)
    names = student_names(students)
    rows["name"] = (rows["student_id"].map(names).fillna("") if names is not None
                    else pd.Series("", index=rows.index, dtype="string"))
    rows["name"] = rows["name"].where(rows["name"].str.len() > 0, rows["student_id"])
    school_names = dict(zip(schools["school_id"].astype("string"), schools["school_name"].astype("string"),
                            strict=False))
    rows["school_name"] = rows["school_id"].map(school_names).fillna(rows["school_id"])
    for col in REASON_COLUMNS:
        if col not in rows.columns:
            rows[col] = ""
        rows[col] = rows[col].fillna("").astype("string")
    rows["reason_1"] = rows["reason_1"].where(rows["reason_1"].str.len() > 0, NO_REASON)
    feature_cols = [f"{c}_feature" for c in REASON_COLUMNS if f"{c}_feature" in rows.columns]
    rows["reason_topics"] = [tuple(dict.fromkeys(t for t in (reason_topic(str(v)) for v in values) if t))
                             for values in rows[feature_cols].fillna("").itertuples(index=False, name=None)] \
        if feature_cols else [()] * len(rows)
    rows["_band"] = rows["band"].map({b: i for i, b in enumerate(BAND_NAMES)})
    rows = rows.sort_values(["_band", "risk"], ascending=[True, False], kind="stable")
    columns = ["student_id", "name", "school_id", "school_name", "grade_level", "band", "risk", *REASON_COLUMNS,
               "reason_topics"]
    return rows[columns].reset_index(drop=True)


# ---------------------------------------------------------------------------------------- the outcome
_OUTCOME_WORDS = {
    "off_track_next_term": "being off track next term",
    "off_track": "being off track",
    "failed_next_term": "failing a course next term",
    "course_failure_next_term": "failing a course next term",
    "fail_next_term": "failing a course next term",
    "dropped_out": "dropping out", "dropout": "dropping out",
    "chronically_absent": "being chronically absent", "chronic_absence": "being chronically absent",
    "not_graduated": "not graduating on time", "not_on_time_graduation": "not graduating on time",
}
_COMPARISON = re.compile(r"^\s*(?P<col>.+?)\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<value>.+?)\s*$")
_OP_WORDS = {"<": "below", "<=": "at or below", ">": "above", ">=": "at or above", "==": "equal to",
             "!=": "other than"}


def _column_words(column: str) -> str:
    norm = normalize_name(column)
    return {"gpa": "a GPA"}.get(norm, norm.replace("_", " "))


def outcome_phrase(target: str) -> str:
    """The outcome a model predicts, in words that follow "the estimated chance of": `off_track_next_term`
    -> "being off track next term", `gpa < 2` -> "a GPA below 2", any other 0/1 column -> its name in
    quotes ("the outcome “dropped course”")."""
    target = str(target or "").strip()
    norm = normalize_name(target)
    if norm in _OUTCOME_WORDS:
        return _OUTCOME_WORDS[norm]
    match = _COMPARISON.match(target)
    if match:
        return f"{_column_words(match['col'])} {_OP_WORDS[match['op']]} {match['value'].strip()}"
    return f"the outcome “{norm.replace('_', ' ') or 'unnamed'}”"


# ---------------------------------------------------------------------------------------- risk flags (contract v2)
FLAG_COLUMNS = ("student_id", "flag_date", "source", "risk", "cutoff", "flagged")


def flag_source(version_id: int) -> str:
    """The `source` of the risk flags a published model version writes ("model v3")."""
    return f"model v{int(version_id)}"


def risk_flag_rows(scored: pd.DataFrame, students: pd.DataFrame, k: float, flag_date: pd.Timestamp,
                   source: str) -> pd.DataFrame:
    """The `risk_flags` rows of one scoring (data contract v2): every scored student of the roster with their
    risk, `flagged` = the High band (top k of their school, `flag_by_school`: the students the worklist,
    the board report and `risk score` flag) and `cutoff` = their school's cut-off, the lowest risk flagged
    in that school (flagging is per school, so the cut-off is too; a regression discontinuity then runs
    on risk − cutoff). Pure; one row per student."""
    roster = students[["student_id", "school_id"]].astype({"student_id": "string"}).drop_duplicates("student_id")
    rows = scored[["student_id", "risk"]].assign(student_id=scored["student_id"].astype("string"))
    rows = rows.merge(roster, on="student_id", how="inner")
    rows = rows[rows["risk"].notna()].drop_duplicates("student_id").reset_index(drop=True)
    if rows.empty:
        return pd.DataFrame(columns=list(FLAG_COLUMNS))
    rows["flagged"] = flag_by_school(rows.assign(school=rows["school_id"]), {}, band_share(k, 1.0)).to_numpy(bool)
    cutoffs = rows[rows["flagged"]].groupby("school_id", observed=True)["risk"].min()
    rows["cutoff"] = rows["school_id"].map(cutoffs)
    # a school none of whose students is flagged (k rounds to nobody): its cut-off is above everyone's risk
    above = rows.groupby("school_id", observed=True)["risk"].transform("max")
    rows["cutoff"] = rows["cutoff"].fillna(above.clip(upper=1.0)).astype(float)
    rows["flag_date"] = pd.Timestamp(flag_date).normalize()
    rows["source"] = source
    return rows[list(FLAG_COLUMNS)].astype({"risk": float, "flagged": bool})


# ---------------------------------------------------------------------------------------- supports (contract v2)
NO_INTERVENTION = "—"


def _tier_words(tier: object) -> str:
    try:
        return f" (tier {int(float(tier))})" if tier is not None and not pd.isna(tier) else ""
    except (TypeError, ValueError):
        return ""


def current_interventions(interventions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """Per student, the supports in progress or planned at `as_of` (not ended before it: an assignment that
    starts later counts, so a support assigned today shows at once): student_id, intervention (text, e.g.
    "Reading tutoring (tier 2)", several joined by "; ", latest start first), n_current."""
    if interventions.empty:
        return pd.DataFrame({"student_id": pd.Series(dtype="string"), "intervention": pd.Series(dtype="string"),
                             "n_current": pd.Series(dtype="int64")})
    rows = interventions.assign(student_id=interventions["student_id"].astype("string"))
    end = pd.to_datetime(rows["end_date"], errors="coerce")
    rows = rows[end.isna() | (end >= pd.Timestamp(as_of).normalize())]
    rows = rows.sort_values("start_date", ascending=False, kind="stable")
    rows = rows.assign(text=rows["intervention"].astype(str) + [_tier_words(t) for t in rows["tier"]])
    out = rows.groupby("student_id", observed=True).agg(intervention=("text", lambda t: "; ".join(t)),
                                                        n_current=("text", "size")).reset_index()
    return out.astype({"student_id": "string", "intervention": "string"})


def with_interventions(students: pd.DataFrame, interventions: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The worklist with `intervention` (the current supports in words, NO_INTERVENTION when none) and
    `flagged_not_served` (High band with no support in progress or planned: who still needs one)."""
    current = current_interventions(interventions, as_of)
    out = students.merge(current[["student_id", "intervention"]], on="student_id", how="left")
    served = out["intervention"].notna()
    out["intervention"] = out["intervention"].fillna(NO_INTERVENTION).astype("string")
    out["flagged_not_served"] = ((out["band"] == BAND_NAMES[0]) & ~served).astype(bool)
    return out
