"""Stakeholder survey responses for the sample district (data contract v2 `feedback`).

Two survey waves (fall: from 2025-10-06, spring: from 2026-03-02) in which teachers, students
(grades 3-12) and parents rate the tools used at their school from 1 to 5; a few leave a comment.
Ratings follow the planted tool quality: a tool with a larger planted effect on learning is rated
higher by teachers (`TRUE_MEANS`), the negative-effect tool (T05 Lexicon Lane) loses its teachers
between the waves, the unvetted quiz game (T07) is loved by students and distrusted by parents, and
the digital-dust tool (T09) gets so few responses that every count of it is suppressed (< 10).

How many respond follows real use: per school and wave, teachers who use the tool (about one per
25 student users, at most 5) answer with probability 0.6; about 2% of student users in grades 3-12
(at most 25 per tool and wave); about 1% of K-8 users' parents (at most 12). Respondent IDs are
anonymous codes, never student IDs. The draws come from their own stream (`seed`, 0xFEED), so adding
this table changes no other sample file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from edtech.core.district import District, conform_frame

FALL_WAVE = pd.Timestamp("2025-10-06")
SPRING_WAVE = pd.Timestamp("2026-03-02")
WAVE_DAYS = 12              # a wave stays open 12 days
RATING_SD = 0.85            # spread of one respondent's rating around the tool's true mean
TEACHERS_PER_USERS = 25     # about one responding-eligible teacher per 25 student users at a school
MAX_TEACHERS = 5
TEACHER_RESPONSE = 0.6
STUDENT_RATE, MAX_STUDENTS = 0.02, 25
PARENT_RATE, MAX_PARENTS = 0.01, 12
COMMENT_SHARE = 0.08

# tool -> role -> (fall mean, spring mean): the true satisfaction the ratings are drawn around.
# Teachers' means follow the planted effects (T01 +0.25 SD > T02 +0.15 > T04 +0.10 > T03 0 > T05 -0.05).
TRUE_MEANS: dict[str, dict[str, tuple[float, float]]] = {
    "T01": {"teacher": (4.1, 4.3), "student": (3.8, 3.9), "parent": (4.0, 4.1)},
    "T02": {"teacher": (3.7, 3.9), "student": (3.1, 3.2), "parent": (3.6, 3.6)},
    "T03": {"teacher": (3.0, 2.9), "student": (3.2, 3.1)},
    "T04": {"teacher": (3.6, 3.7), "student": (4.0, 4.1), "parent": (3.8, 3.8)},
    "T05": {"teacher": (2.8, 1.9), "student": (2.6, 2.3), "parent": (2.8, 2.6)},
    "T06": {"teacher": (3.3, 3.4), "student": (3.2, 3.3), "parent": (3.0, 3.0)},
    "T07": {"teacher": (3.6, 3.5), "student": (4.4, 4.4), "parent": (2.7, 2.5)},
    "T08": {"teacher": (3.9, 4.0), "student": (4.2, 4.1)},
    "T09": {"teacher": (2.4, 2.2)},
    "T10": {"teacher": (3.0, 3.0), "student": (3.5, 3.4)},
}

COMMENTS = {   # (mood, role) -> what such a respondent writes
    ("low", "teacher"): ("Students get stuck and give up; I stopped assigning it after winter break.",
                         "Log-in fails on the older Chromebooks about once a week.",
                         "The content does not match our pacing guide."),
    ("low", "student"): ("It is boring and the same every day.", "It keeps logging me out."),
    ("low", "parent"): ("My child says it is boring and the same every day.",
                        "We could not get it to work at home."),
    ("mid", "teacher"): ("Fine for practice, but the reports take too long to read.",
                         "Useful some weeks; we need more training on the dashboards.",
                         "OK, though setting up classes by hand takes time."),
    ("mid", "student"): ("It is OK but some levels are too easy.", "Fine, a bit slow on my laptop."),
    ("mid", "parent"): ("Hard to tell how much it helps.", "My child uses it sometimes at home."),
    ("high", "teacher"): ("My students ask for it; the reports show me who needs help.",
                          "Easy to start and the kids stay on task.",
                          "Worth keeping: it saves me planning time every week."),
    ("high", "student"): ("I like the challenges and seeing my progress.", "Fun and it explains my mistakes."),
    ("high", "parent"): ("My child practises without being asked.", "We can see what our child worked on."),
}
TOOL_COMMENTS = {
    ("T05", "teacher", "low"): "The passages are too hard for my struggling readers and they give up.",
    ("T07", "parent", "low"): "I could not find out what data QuizBlitz collects about my child.",
    ("T07", "student", "high"): "Best part of the week, the games are fun.",
}


def _ratings(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    return np.clip(np.rint(rng.normal(mean, RATING_SD, n)), 1, 5)


def _users_by_school(district: District) -> pd.DataFrame:
    """Distinct users per tool x school (all year) and, of them, grade 3-12 and K-8 users."""
    users = district.usage[["student_id", "tool_id"]].drop_duplicates()
    students = district.students[["student_id", "school_id", "grade_level"]]
    users = users.merge(students, on="student_id", how="inner")
    grade = users["grade_level"].astype(str).replace({"K": "0"}).astype(int)
    users["g3_12"] = grade >= 3
    users["k_8"] = grade <= 8
    return users


def feedback_frame(district: District, seed: int) -> pd.DataFrame:
    """The sample's survey responses (canonical `feedback` frame), sorted by date, role, respondent."""
    rng = np.random.default_rng([seed, 0xFEED])
    users = _users_by_school(district)
    rows: list[dict] = []
    for wave, start in enumerate((FALL_WAVE, SPRING_WAVE)):
        teacher_day: dict[str, pd.Timestamp] = {}
        for tool_id, roles in TRUE_MEANS.items():
            mine = users[users["tool_id"] == tool_id]
            if mine.empty:
                continue
            per_school = mine.groupby("school_id").size().sort_index()
            if "teacher" in roles:
                for school_id, n_users in per_school.items():
                    eligible = min(MAX_TEACHERS, int(np.ceil(n_users / TEACHERS_PER_USERS)))
                    who = np.flatnonzero(rng.random(eligible) < TEACHER_RESPONSE)
                    ratings = _ratings(rng, roles["teacher"][wave], len(who))
                    for k, rating in zip(who, ratings, strict=True):
                        rid = f"TCH-{school_id}-{k + 1:02d}"   # one teacher answers a wave on one day
                        day = teacher_day.setdefault(rid, start + pd.Timedelta(days=int(rng.integers(0, WAVE_DAYS))))
                        rows.append(dict(respondent_id=rid, tool_id=tool_id, date=day, role="teacher",
                                         school_id=school_id, rating=float(rating)))
            for role, column, rate, cap in (("student", "g3_12", STUDENT_RATE, MAX_STUDENTS),
                                            ("parent", "k_8", PARENT_RATE, MAX_PARENTS)):
                if role not in roles:
                    continue
                pool = mine[mine[column]]
                n = min(cap, int(round(rate * len(pool))), len(pool))
                if n <= 0:
                    continue
                picked = pool.iloc[np.sort(rng.choice(len(pool), n, replace=False))]
                ratings = _ratings(rng, roles[role][wave], n)
                codes = rng.choice(16 ** 6, n, replace=False)
                days = rng.integers(0, WAVE_DAYS, n)
                for school_id, code, day, rating in zip(picked["school_id"], codes, days, ratings, strict=True):
                    rows.append(dict(respondent_id=f"{role[0].upper()}-{int(code):06x}", tool_id=tool_id,
                                     date=start + pd.Timedelta(days=int(day)), role=role, school_id=school_id,
                                     rating=float(rating)))
    frame = pd.DataFrame(rows, columns=["respondent_id", "tool_id", "date", "role", "school_id", "rating"])
    commented = rng.random(len(frame)) < COMMENT_SHARE
    comments: list[str | None] = []
    for has, (_, r) in zip(commented, frame.iterrows(), strict=True):
        if not has:
            comments.append(None)
            continue
        mood = "low" if r["rating"] <= 2 else ("mid" if r["rating"] == 3 else "high")
        special = TOOL_COMMENTS.get((r["tool_id"], r["role"], mood))
        pool = COMMENTS[(mood, r["role"])]
        comments.append(special or pool[int(rng.integers(0, len(pool)))])
    frame["comment"] = comments
    frame = frame.sort_values(["date", "role", "respondent_id", "tool_id"]).reset_index(drop=True)
    return conform_frame("feedback", frame)


def main(argv: list[str] | None = None) -> int:
    """Write only data/samples/feedback.csv (the other sample files stay as they are)."""
    import argparse
    from pathlib import Path

    from edtech.sample.generate import generate_district, to_contract_frames

    parser = argparse.ArgumentParser(prog="python -m edtech.sample.feedback")
    parser.add_argument("out_dir", nargs="?", default="data/samples")
    parser.add_argument("--students", type=int, default=6000)
    parser.add_argument("--seed", type=int, default=2025)
    args = parser.parse_args(argv)
    frames = to_contract_frames(generate_district(n_students=args.students, seed=args.seed).district)
    path = Path(args.out_dir) / "feedback.csv"
    frames["feedback"].to_csv(path, index=False, lineterminator="\n")
    print(f"{path}  {len(frames['feedback']):,} responses")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
