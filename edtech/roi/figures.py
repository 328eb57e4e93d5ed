"""The headline figures every surface quotes (Overview, board report, memo, CLI JSON): one function.

Pure: a scored (and possibly scoped) scoreboard plus the per-student usage rows in, a dict out.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from edtech.core import rules
from edtech.evidence import effects
from edtech.roi.engine import recommendation_kind

POSITIVE_LABELS = (effects.LABEL_MODERATE, effects.LABEL_PROMISING)
RECOMMENDATION_KINDS = ("renew", "right_size", "renegotiate", "consolidate", "sunset", "study")


def licensed(board: pd.DataFrame) -> pd.DataFrame:
    """Tools with seats (a tool without a license is in the catalogue, not in the spend)."""
    return board[board["seats"].fillna(0) > 0] if len(board) else board


def students_using_tools(student_usage: pd.DataFrame, students: pd.DataFrame) -> int:
    """Distinct students active in any tool's contract year (the active-user rule), among `students`."""
    if student_usage.empty or students.empty:
        return 0
    return int(student_usage.loc[student_usage["student_id"].isin(set(students["student_id"])),
                                 "student_id"].nunique())


def school_student_counts(student_usage: pd.DataFrame, students: pd.DataFrame) -> pd.DataFrame:
    """Per school of the roster (a student without one under a missing school_id): `students` rostered and
    `students_using_tools`, those active in any tool's contract year. A student has one school, so a scope's
    figures are the sums over its schools (what `key_figures` counts from the per-student rows)."""
    active = set(student_usage["student_id"]) if len(student_usage) else set()
    roster = students[["student_id", "school_id"]].drop_duplicates("student_id")
    using = roster["student_id"].isin(active)
    out = (pd.DataFrame({"school_id": roster["school_id"].astype(object), "students": 1, "students_using_tools": using})
           .groupby("school_id", dropna=False, sort=True)[["students", "students_using_tools"]].sum().reset_index())
    out["school_id"] = out["school_id"].astype(object).where(out["school_id"].notna(), None)
    return out.astype({"students": "int64", "students_using_tools": "int64"})


def recommendation_counts(board: pd.DataFrame) -> dict[str, int]:
    """Tools per recommendation kind, for licensed tools (every kind present, zeros included)."""
    kinds = recommendation_kind(licensed(board)["recommendation"]) if len(board) else pd.Series(dtype=object)
    counts = kinds.value_counts()
    return {k: int(counts.get(k, 0)) for k in RECOMMENDATION_KINDS}


def key_figures(board: pd.DataFrame, student_usage: pd.DataFrame, students: pd.DataFrame) -> dict[str, Any]:
    """Spend, seats, use, idle value, evidence and recommendations, as numbers (formatting is the caller's)."""
    return key_figures_from_counts(board, int(len(students)), students_using_tools(student_usage, students))


def key_figures_from_counts(board: pd.DataFrame, n_students: int, n_using: int) -> dict[str, Any]:
    """`key_figures` with the two per-student counts already made (the sums of `school_student_counts`)."""
    lic = licensed(board)
    spend = float(lic["annual_cost"].fillna(0).sum()) if len(lic) else 0.0
    seats = float(lic["seats"].fillna(0).sum()) if len(lic) else 0.0
    tool_users = float(lic["active_users"].fillna(0).sum()) if len(lic) else 0.0
    under = lic[rules.is_underused(lic["utilization"])] if len(lic) else lic
    under_spend = float(under["annual_cost"].fillna(0).sum()) if len(under) else 0.0
    effect = pd.to_numeric(lic["effect_size"], errors="coerce") if len(lic) else pd.Series(dtype=float)
    positive = lic[lic["evidence_label"].isin(POSITIVE_LABELS) & (effect > 0)] if len(lic) else lic
    return {
        "tools_licensed": int(len(lic)),
        "annual_spend": spend,
        "ingredients_cost": float(lic["ingredients_cost"].fillna(0).sum()) if len(lic) else 0.0,
        "seats": seats,
        "tool_active_users": tool_users,
        "utilization": tool_users / seats if seats else math.nan,
        "students": int(n_students),
        "students_using_tools": int(n_using),
        "underused_tools": int(len(under)),
        "underused_tool_names": under["tool_name"].astype(str).tolist() if len(under) else [],
        "underused_spend": under_spend,
        "underused_share": under_spend / spend if spend else math.nan,
        "idle_license_value": float(lic["idle_license_value"].fillna(0).sum()) if len(lic) else 0.0,
        "tools_with_positive_evidence": int(len(positive)),
        "right_size_savings_per_year": float(lic["right_size_savings"].fillna(0).sum()) if len(lic) else 0.0,
        "savings_if_followed_per_year": float(lic["savings_if_followed"].fillna(0).sum()) if len(lic) else 0.0,
        "recommendations": recommendation_counts(board),
    }
