"""Interventions use case (issue 16; methods.md v2 section 6): coverage of flagged students, progress, efficacy,
the regression discontinuity at the risk cut-off and the school-only targeting baseline, for the app, the board
report and `python -m edtech interventions evaluate` alike.

Scope (edtech.core.scope): efficacy, the RDD and the targeting baseline are district facts computed on the whole
district (like every tool's evidence); coverage, the funnel and the progress rows are the scope's students (a
coordinator sees their schools' flagged students). Student-level frames (`served`, `progress`) are filled only for
principals who may view student records (Action.VIEW_STUDENTS); aggregate counts are unsuppressed: suppressing cells
under `rules.suppression_threshold()` is the surface's job.

Stored (issue 15): the district part (everything above that does not depend on the scope, plus the attributes of
the students it covers) is kept in `summary_parts` per data version of `READS` (`Workspace.stored`, registered in
`services.precompute`), so a cold server reads it instead of re-estimating; a scope's coverage, funnel and progress
rows are cut from it by the students' schools, never computed from a separately read slice.

Which flags count: one scoring run (`coverage.select_flag_run`): the most recent (source, flag_date) the district
acted on (a flagged student's support started within 30 days after it), else the most recent run present; the
`source` / `flag_date` keywords pick another (`coverage.flag_runs` lists them).
The RDD's outcome: `outcome` when given, else the default outcome of the intervention that served the most flagged
students; its post window's first test date bounds which supports count as received.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from edtech.core.access import Action
from edtech.core.district import District
from edtech.evidence import effects as ef
from edtech.interventions import coverage as cov
from edtech.interventions import efficacy, progress, rdd
from edtech.services import workspace

READS = ("table:students", "table:schools", "table:tools", "table:assessments", "table:interventions",
         "table:risk_flags", "table:progress_monitoring")
# per covered student: what a scope cut (school), the funnel (subgroups) and the progress picker (grade) need
STUDENT_INFO = ("student_id", "school_id", "grade_level", *cov.SUBGROUPS)
CONTRACT_KEYS = ("intervention", "served", "effect_size", "effect_ci_low", "effect_ci_high", "evidence_code",
                 "evidence_label", "cost_per_student")


@dataclass
class DistrictPart:
    """The scope-independent part (computed once per data version)."""

    flag_source: str | None
    flag_date: pd.Timestamp | None
    cutoff: float | None
    per_intervention: pd.DataFrame
    progress_students: pd.DataFrame
    progress_summary: pd.DataFrame
    served: pd.DataFrame
    rdd: rdd.RddResult | None
    rdd_outcome: str | None
    targeting: rdd.TargetingBaseline | None
    # the students table's rows of every student in `served` or `progress_students` (STUDENT_INFO columns):
    # a scope's students are cut from it, so a cold page never reads the whole roster
    students: pd.DataFrame = field(default_factory=pd.DataFrame)
    outcomes: list[str] = field(default_factory=list)   # every assessment name (the outcome picker)
    # every student in `served` / `progress_students` is in the roster: the district's cut is the frames as they are
    every_student_known: bool = False
    funnel: pd.DataFrame = field(default_factory=pd.DataFrame)   # the district's funnel (scope None), as evaluated


@dataclass
class InterventionEvaluation:
    """Everything the Interventions page, the board report and the CLI show (see the module docstring)."""

    outcome: str | None                    # the requested outcome (None = each intervention's default)
    flag_source: str | None
    flag_date: pd.Timestamp | None
    cutoff: float | None
    per_intervention: pd.DataFrame         # efficacy (section-2 engine) + progress summary, one row per intervention
    coverage: dict[str, Any]               # flagged, served_30d, share_served_30d (the scope's students)
    funnel: pd.DataFrame                   # dimension, group, flagged, served_30d, on_track, met_goal, shares
    progress_summary: pd.DataFrame         # per intervention (district)
    rdd: rdd.RddResult | None
    rdd_outcome: str | None
    targeting: rdd.TargetingBaseline | None
    served: pd.DataFrame = field(default_factory=pd.DataFrame)     # per flagged-run row (student level; may be empty)
    progress: pd.DataFrame = field(default_factory=pd.DataFrame)   # per intervention row (student level; may be empty)


def _post_date(assessments: pd.DataFrame, assessment: str, window: str | None) -> pd.Timestamp | None:
    if window is None:
        return None
    dates = assessments.loc[(assessments["assessment"] == assessment) & (assessments["window"] == window),
                            "test_date"].dropna()
    return pd.Timestamp(dates.min()) if len(dates) else None


def compute_district_part(whole: District, outcome: str | None = None, source: str | None = None,
                          flag_date: pd.Timestamp | None = None) -> DistrictPart:
    """Efficacy, progress, RDD and targeting on the whole district."""
    run = cov.select_flag_run(whole.risk_flags, source, whole.interventions, flag_date)
    served = cov.serving_rows(run.flags, whole.interventions)
    risk = run.flags.set_index("student_id")["risk"] if not run.flags.empty else None
    effects = efficacy.intervention_effects(whole.students, whole.assessments, whole.interventions, whole.tools,
                                            risk, outcome)
    students_progress = progress.student_progress(whole.interventions, whole.progress_monitoring)
    summary = progress.progress_summary(students_progress)
    per = effects.merge(summary, on="intervention", how="left") if not effects.empty else effects
    rdd_outcome = outcome
    if rdd_outcome is None and served["served"].any():
        most = served.loc[served["served"] & served["flagged"].fillna(False).astype(bool), "intervention"]
        if len(most):
            defaults = efficacy.default_outcomes(whole.interventions, whole.tools, whole.assessments)
            rdd_outcome = defaults.get(most.value_counts().sort_index().sort_values(ascending=False,
                                                                                    kind="stable").index[0])
    result, baseline = None, None
    if rdd_outcome is not None and not run.flags.empty:
        scores, _, post_w = ef.pre_post_scores(whole.assessments, rdd_outcome)
        if post_w is not None:
            result = rdd.flag_discontinuity(run.flags, whole.interventions, scores, whole.students,
                                            _post_date(whole.assessments, rdd_outcome, post_w), rdd_outcome)
            failing = rdd.bottom_quartile(scores, whole.students)
            baseline = rdd.targeting_baseline(run.flags, failing, whole.students,
                                              f"{rdd_outcome} ({post_w}) in the lowest quarter of the grade")
    cutoffs = pd.unique(run.flags["cutoff"].dropna()) if not run.flags.empty else []
    covered = set(served["student_id"]) | set(students_progress["student_id"])
    info = whole.students[whole.students["student_id"].isin(covered)]
    info = info[[c for c in STUDENT_INFO if c in info.columns]].reset_index(drop=True)
    outcomes = sorted(whole.assessments["assessment"].dropna().astype(str).unique())
    part = DistrictPart(run.source, run.flag_date, float(cutoffs[0]) if len(cutoffs) == 1 else None, per,
                        students_progress, summary, served, result, rdd_outcome, baseline, info, outcomes,
                        every_student_known=covered <= set(info["student_id"]))
    # the district's funnel is what `evaluate_interventions` computes for no scope: kept, so it is not redone per page
    people, in_scope, in_scope_progress = scope_cut(part, None)
    part.funnel = cov.funnel_table(in_scope, people, in_scope_progress)
    return part


_FRAMES = ("per_intervention", "progress_students", "progress_summary", "served", "students", "funnel")


def part_to_bytes(part: DistrictPart) -> bytes:
    """The district part as Parquet frames + JSON meta (dtypes kept, so it reads back identical)."""
    frames = {name: getattr(part, name) for name in _FRAMES}
    dtypes = {name: {str(c): str(t) for c, t in frame.dtypes.items()} for name, frame in frames.items()}
    meta = {"flag_source": part.flag_source,
            "flag_date": None if part.flag_date is None else part.flag_date.isoformat(),
            "cutoff": part.cutoff, "rdd_outcome": part.rdd_outcome, "outcomes": list(part.outcomes),
            "every_student_known": bool(part.every_student_known),
            "rdd": None if part.rdd is None else dataclasses.asdict(part.rdd),
            "targeting": None if part.targeting is None else dataclasses.asdict(part.targeting),
            "dtypes": dtypes}
    return workspace.frames_to_bytes(frames, meta)


def part_from_bytes(payload: bytes) -> DistrictPart:
    frames, meta = workspace.frames_from_bytes(payload)
    for name, frame in frames.items():
        for col, dtype in meta["dtypes"][name].items():
            if dtype != "object" and str(frame[col].dtype) != dtype:
                frame[col] = frame[col].astype(dtype)   # e.g. datetime64[ns] read back in another unit
    flag_date = meta["flag_date"]
    return DistrictPart(
        meta["flag_source"], None if flag_date is None else pd.Timestamp(flag_date), meta["cutoff"],
        frames["per_intervention"], frames["progress_students"], frames["progress_summary"], frames["served"],
        None if meta["rdd"] is None else rdd.RddResult(**meta["rdd"]), meta["rdd_outcome"],
        None if meta["targeting"] is None else rdd.TargetingBaseline(**meta["targeting"]),
        frames["students"], list(meta["outcomes"]), bool(meta["every_student_known"]), frames["funnel"])


def part_name(outcome: str | None = None, source: str | None = None, flag_date: pd.Timestamp | None = None) -> str:
    """The stored part's name: `interventions` for the default evaluation, one more per outcome or flag run asked."""
    if outcome is None and source is None and flag_date is None:
        return "interventions"
    return f"interventions:{outcome or ''}:{source or ''}:{'' if flag_date is None else pd.Timestamp(flag_date).date()}"


def district_part(ws: workspace.Workspace, outcome: str | None = None, source: str | None = None,
                  flag_date: pd.Timestamp | None = None) -> DistrictPart:
    """The district part, stored per data version of READS (computed by the first process that needs it)."""
    return ws.stored(part_name(outcome, source, flag_date), READS,
                     lambda: compute_district_part(ws.whole, outcome, source, flag_date), part_to_bytes, part_from_bytes)


def scope_students(part: DistrictPart, scope: frozenset[str] | None) -> pd.DataFrame:
    """The part's covered students of the scope's schools (the scope rule of `core.scope.restrict_district`)."""
    info = part.students
    if scope is None or info.empty:
        return info
    return info[info["school_id"].isin(set(scope))]


def scope_cut(part: DistrictPart, scope: frozenset[str] | None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the scope's covered students, their flag-run rows, their support rows), cut from the district part."""
    people = scope_students(part, scope)
    if scope is None and part.every_student_known:
        return people, part.served, part.progress_students   # nothing to cut: every row's student is on the roster
    ids = people["student_id"]
    return (people, part.served[part.served["student_id"].isin(ids)],
            part.progress_students[part.progress_students["student_id"].isin(ids)])


def evaluate_interventions(ws: workspace.Workspace, outcome: str | None = None, *, source: str | None = None,
                           flag_date: pd.Timestamp | None = None) -> InterventionEvaluation:
    """The evaluation for the workspace's principal and scope (district parts computed once per data version).
    `source` / `flag_date`: evaluate that flag run instead of the default (coverage.select_flag_run)."""
    part = district_part(ws, outcome, source, flag_date)
    people, served, students_progress = scope_cut(part, ws.scope)
    funnel = part.funnel if ws.scope is None else cov.funnel_table(served, people, students_progress)
    see_students = ws.principal.can(Action.VIEW_STUDENTS)
    return InterventionEvaluation(
        outcome=outcome, flag_source=part.flag_source, flag_date=part.flag_date, cutoff=part.cutoff,
        per_intervention=part.per_intervention, coverage=cov.coverage_counts(served), funnel=funnel,
        progress_summary=part.progress_summary, rdd=part.rdd, rdd_outcome=part.rdd_outcome, targeting=part.targeting,
        served=served.reset_index(drop=True) if see_students else served.iloc[0:0],
        progress=students_progress.reset_index(drop=True) if see_students else students_progress.iloc[0:0])


def outcome_choices(ws: workspace.Workspace) -> list[str]:
    """Every assessment an intervention's effect can be measured on (the district's, from the stored part)."""
    return list(district_part(ws).outcomes)


def evaluate_for(engine, scope: frozenset[str] | None = None, principal=None, outcome: str | None = None
                 ) -> InterventionEvaluation:
    kwargs = {} if principal is None else {"principal": principal}
    return evaluate_interventions(workspace.Workspace(engine, scope, **kwargs), outcome)


def _clean(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluation_json(ev: InterventionEvaluation) -> dict[str, Any]:
    """The data-contract v2 shape of `interventions evaluate --format json` (exactly its keys)."""
    rows = [{key: _clean(r.get(key)) for key in CONTRACT_KEYS} for _, r in ev.per_intervention.iterrows()]
    for row in rows:
        if row["served"] is not None:
            row["served"] = int(row["served"])
    c = ev.coverage
    coverage = {"flagged": int(c["flagged"]), "served_30d": int(c["served_30d"]),
                "share_served_30d": _clean(float(c["share_served_30d"]))}
    result = None
    if ev.rdd is not None:
        result = {"effect_size": _clean(ev.rdd.effect_size), "ci_low": _clean(ev.rdd.ci_low),
                  "ci_high": _clean(ev.rdd.ci_high), "bandwidth": _clean(ev.rdd.bandwidth), "n": int(ev.rdd.n)}
    return {"interventions": rows, "coverage": coverage, "rdd": result}
