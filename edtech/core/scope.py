"""What a scope means, defined once.

A scope is `None` (the whole district) or a frozenset of school_ids (a coordinator's schools).
Everything is computed on the whole district first; a scope then *selects* rows, so district
comparisons (medians, concentration, effects) stay district facts and a school's figures add up
to the district's. Seats and spend of a district-wide license are shared out by
`edtech.adoption.engine.allocate_seats` (the school's share of the students rostered in the
tool's grade band).
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd

from edtech.core.district import District

Scope = frozenset[str] | None

SCOPE_HELP = ("Figures are about your schools: students, usage and dosage are your schools' own; seats and "
              "spend are your schools' own licenses plus their share of each district-wide license (by the "
              "share of the students rostered in the tool's grade band); training, staff time and savings are their share "
              "pro rata to seats. Evidence, recommendations, medians and concentration are district facts, "
              "computed on the whole district.")


class ScopeError(ValueError):
    """A coordinator scope that names no school (the page asks for one; nothing is computed)."""


def scope_key(scope: Scope) -> tuple[str, ...] | None:
    """A hashable, order-free key for caches."""
    return None if scope is None else tuple(sorted(scope))


def from_key(key: tuple[str, ...] | None) -> Scope:
    return None if key is None else frozenset(key)


def check_scope(scope: Scope) -> None:
    if scope is not None and len(scope) == 0:
        raise ScopeError("Pick at least one school to see its figures.")


def restrict_district(whole: District, scope: Scope) -> District:
    """The scope's slice of the whole district: its schools and students and their rows; licenses of its
    schools plus every district-wide license (the full contract; shares come from allocation)."""
    if scope is None:
        return whole
    schools = set(scope)
    students = whole.students[whole.students["school_id"].isin(schools)]
    ids = set(students["student_id"])

    def by_student(frame: pd.DataFrame, column: str = "student_id") -> pd.DataFrame:
        return frame[frame[column].isin(ids)]

    def by_school(frame: pd.DataFrame, keep_blank: bool = False) -> pd.DataFrame:
        mask = frame["school_id"].isin(schools)
        if keep_blank:
            mask |= frame["school_id"].isna()
        return frame[mask]

    return replace(
        whole,
        schools=by_school(whole.schools), students=students, usage=by_student(whole.usage),
        assessments=by_student(whole.assessments), indicators=by_student(whole.indicators),
        licenses=by_school(whole.licenses, keep_blank=True), usage_aggregate=by_school(whole.usage_aggregate),
        devices=by_school(whole.devices), pd_sessions=by_school(whole.pd_sessions),
        interventions=by_student(whole.interventions), risk_flags=by_student(whole.risk_flags),
        progress_monitoring=by_student(whole.progress_monitoring), feedback=by_school(whole.feedback),
        fixed_as_of=whole.as_of,
    )
