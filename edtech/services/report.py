"""Board report use cases: build the report from the database, export PDF / PPTX / renewal memos,
the `report` command and the timing benchmark."""

from __future__ import annotations

import io
import math
import time
import zipfile
from collections.abc import Callable
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from edtech.budget import projection as budget
from edtech.core import rules
from edtech.core.district import District
from edtech.report import assemble as report
from edtech.report import interventions as intervention_report
from edtech.report import memo, render
from edtech.report import pdf as report_pdf
from edtech.report import slides as report_pptx
from edtech.roi import engine as roi
from edtech.roi import figures
from edtech.services import adoption as adoption_service
from edtech.services import budget as budget_service
from edtech.services import decisions as decision_service
from edtech.services import interventions as interventions_service
from edtech.services import overview as overview_service
from edtech.services import roadmap as roadmap_service
from edtech.services import workspace
from edtech.store import data, models

FORMATS = ("pdf", "pptx")
UNUSABLE_MODEL = "No usable model"
RenderError = render.RenderError
is_safe_memo_name = memo.is_safe_file_name  # for the CLI's memo writer


# --------------------------------------------------------------------------- at-risk scores
def risk_scores(engine: Engine, district: District) -> tuple[report.RiskScores | None, str | None]:
    """Per-student risk from the published at-risk model version, or (None, why not).

    The version is loaded by the at-risk capability (`edtech.services.risk.load_version`: its signature
    is checked before anything is parsed, then every type against the exact allowlist); a version that
    is unsigned, altered or holds other types is not used: the section says there is no usable model.
    It is applied to this district's (or scope's) latest cohort without per-student reasons: the report
    only needs the risk to count flagged students by school and grade.
    """
    from edtech.services import risk as risk_service

    return _scored_by_published(engine, lambda load: _score(load(), risk_service.district_table(district)))


def _score(bundle: dict[str, Any], table: pd.DataFrame) -> pd.DataFrame | None:
    """student_id and risk of the table's latest cohort (None: no indicators to score)."""
    from edtech.services import risk as risk_service

    if table.empty:
        return None
    return risk_service.score_table(bundle, table, with_reasons=False)


# the report's at-risk part: the published version's scores of the district's latest cohort and their counts by
# school and grade, stored per version of the data the student table reads and of the published model
RISK_PART = "report_risk"


def _risk_to_bytes(scored: tuple[pd.DataFrame, pd.DataFrame] | None) -> bytes:
    if scored is None:
        return workspace.frames_to_bytes({}, {"empty": True})
    scores, counts = scored
    return workspace.frames_to_bytes({"scores": scores, "counts": counts}, {"empty": False})


def _risk_from_bytes(payload: bytes) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    frames, meta = workspace.frames_from_bytes(payload)
    return None if meta["empty"] else (frames["scores"], frames["counts"])


def district_risk(ws: workspace.Workspace, load: Callable[[], dict[str, Any]]
                  ) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """The whole district's (student_id, risk) by the published version and `report.at_risk_counts` of them,
    computed from the at-risk capability's student table (its usage columns from the stored per-student totals,
    never the weekly rows) by the first process after an import or a publish, read back by every later one.
    None when there are no indicators to score. `load`: the published version's bundle, loaded only when the
    part is computed (a stored part is read back without deserializing the model)."""
    from edtech.services import risk as risk_service

    def compute() -> tuple[pd.DataFrame, pd.DataFrame] | None:
        scored = _score(load(), risk_service.scope_feature_table(ws, None))
        if scored is None:
            return None
        scores = scored[["student_id", "risk"]].reset_index(drop=True)
        return scores, report.at_risk_counts(scores, ws.whole.students, ws.whole.schools)

    return ws.stored(RISK_PART, risk_service.WORKLIST_READS, compute, _risk_to_bytes, _risk_from_bytes)


def workspace_risk(ws: workspace.Workspace) -> tuple[report.RiskScores | None, str | None]:
    """`risk_scores` of the workspace's scope without reading the weekly usage, from the stored district part
    (`district_risk`): a coordinator's are their students' scores and their schools' counts (students are
    flagged within their school, so the counts are the district's rows; risk is a district fact, as on the
    At-risk page's worklist)."""
    def scored(load: Callable[[], dict[str, Any]]) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
        stored = district_risk(ws, load)
        if stored is None:
            return None, None
        scores, counts = stored
        if ws.scope is None:
            return scores, counts
        students = ws.whole.students
        mine = set(students.loc[students["school_id"].isin(ws.scope), "student_id"].astype(str))
        scores = scores[scores["student_id"].astype(str).isin(mine)].reset_index(drop=True)
        if scores.empty:  # no indicator rows of the scope's students: nothing to score (as for a district)
            return None, None
        return scores, counts[counts["school_id"].isin(ws.scope)].reset_index(drop=True)

    return _scored_by_published(ws.engine, scored)


def _scored_by_published(engine: Engine, score: Any) -> tuple[report.RiskScores | None, str | None]:
    """The published version checked, then `score(load)` -> scores (or (scores, counts)), or why not. The
    signature is checked first (cheap: nothing parsed); `load()` returns the bundle, deserialized (and its
    types checked) only when a caller needs the model, not when its scores are read back from storage."""
    from edtech.services import risk as risk_service

    try:
        published = risk_service.published_version(engine)
        stored = published is not None or not risk_service.model_versions(engine).empty
    except Exception:  # noqa: BLE001 - an old database without the table or columns: no model
        published, stored = None, False
    if published is None:
        note = risk_service.NO_PUBLISHED
        return None, (note[0].upper() + note[1:] + "." if stored else report.NO_MODEL_NOTE)
    created = pd.to_datetime(published.get("created_at"), errors="coerce")
    label = (f"version {published['id']} ({published.get('model_name', '')}, target `{published.get('target', '')}`"
             + (f", trained {created:%Y-%m-%d}" if pd.notna(created) else "") + ")")
    try:
        risk_service.verify_version(engine, published["id"])
    except risk_service.ModelArtifactRefused as exc:
        return None, f"{UNUSABLE_MODEL}: {exc}"
    try:
        scored = score(lambda: risk_service.load_version(engine, published["id"]))
        scored, counts = scored if isinstance(scored, tuple) else (scored, None)
        if scored is None:
            return None, f"A model is stored ({label}) but there are no early-warning indicators to score."
    except risk_service.ModelArtifactRefused as exc:  # types outside the allowlist, found when loaded
        return None, f"{UNUSABLE_MODEL}: {exc}"
    except Exception as exc:  # noqa: BLE001 - the report must still be produced, saying why
        return None, f"The published at-risk model ({label}) could not score the current data: {exc}"
    if "student_id" not in scored.columns or scored.empty:
        return None, f"The published at-risk model ({label}) returned no scores for the current students."
    return report.RiskScores(scores=scored[["student_id", "risk"]].reset_index(drop=True), model_label=label,
                             outcome=str(published.get("target") or ""), counts=counts), None


def model_note(rep: report.BoardReport) -> str | None:
    """Why the report shows no at-risk counts (no model, none published, no usable model), else None."""
    sec = rep.section("at_risk")
    if rep.risk_counts is not None or sec is None or not sec.paragraphs:
        return None
    return sec.paragraphs[0]


def unusable_model(rep: report.BoardReport) -> str | None:
    """The refusal, when the published model version was not genuine (the command line warns with it)."""
    note = model_note(rep)
    return note if note and note.startswith(UNUSABLE_MODEL) else None


# --------------------------------------------------------------------------- building
def scenario_spec(engine: Engine, name: str | None) -> budget.Scenario:
    """A saved scenario by name, else the proposal that follows the director's recorded decisions, else
    the default proposal (right-size every license)."""
    if not name:
        return budget.scenario_from_dict(budget_service.opening_proposal(engine))
    spec = data.load_scenario(engine, name)
    if spec is None:
        known = ", ".join(data.list_scenarios(engine)) or "none saved yet"
        raise KeyError(f"no saved scenario named {name!r} (saved: {known})")
    return budget.scenario_from_dict(spec)


def district_label(district: District) -> str:
    """The fictional sample's name when it is loaded, else the district id."""
    ids = district.schools["district_id"].dropna().unique() if len(district.schools) else []
    if len(ids) == 1 and ids[0] == "D042":
        from edtech.sample.generate import DISTRICT_NAME

        return DISTRICT_NAME
    return f"District {ids[0]}" if len(ids) == 1 else "District"


_EMPTY_BOARD = pd.DataFrame(columns=roi.SCORE_COLUMNS)
# "decisions": the director's decisions feed the summary and the proposal (its version token is "0" until
# `store.data.data_versions` reports one)
READS = ("table:*", "setting:roi_weights", "setting:roi_outcome_choice", "scenarios", "models", "decisions",
         "setting:roadmap_snapshots")  # the roadmap section: its edits reset that setting


def decisions_in_scope(ws: workspace.Workspace) -> pd.DataFrame:
    """The director's latest decision per tool, for the tools on the scope's scoreboard (district facts, like
    the engine's recommendations), with the tool's name."""
    latest = decision_service.latest_decisions(ws.engine)
    names = ws.board[["tool_id", "tool_name"]] if len(ws.board) else pd.DataFrame(columns=["tool_id", "tool_name"])
    return latest.merge(names.astype({"tool_id": str}), on="tool_id", how="inner")


def build_report(ws: workspace.Workspace, *, scenario: str | None = None, sections: list[str] | None = None,
                 min_n: int | None = None) -> report.BoardReport:
    """The board report of the workspace's scope: the same scoreboard, key figures and budget inputs
    every other surface uses."""
    engine = ws.engine
    risk, note = workspace_risk(ws) if sections is None or "at_risk" in sections \
        or "summary" in sections else (None, None)
    try:
        imports = data.import_history(engine)
    except Exception:  # noqa: BLE001
        imports = None
    # the scoreboard and budget are computed only for the sections that state them
    uses_board = sections is None or bool({"summary", "kpis", "roi", "budget"} & set(sections))
    board = ws.board if uses_board else _EMPTY_BOARD
    decided = decisions_in_scope(ws) if uses_board else None
    return report.build_board_report(
        ws.district, scenario=scenario_spec(engine, scenario), scoreboard=board, decisions=decided,
        budget_inputs=budget_service.inputs_for(ws) if uses_board else None, risk=risk, risk_note=note, sections=sections,
        min_n=min_n, district_name=district_label(ws.whole), imports=imports,
        figures=overview_service.key_figures(ws) if uses_board else None,
        roadmap=roadmap_service.for_board(roadmap_service.roadmap(ws)) if sections is None or "roadmap" in sections else None,
        adoption_usage=adoption_usage(ws) if sections is None or "adoption" in sections else None,
        sources=source_counts(ws) if sections is None or "sources" in sections else None,
        **intervention_parts(ws) if sections is None or "interventions" in sections else {})


# the adoption tables the report and the memos state: school x tool rows, students active per school, the weekly
# trend, cut from the stored adoption report and stored apart (a few hundred rows: the report's first open does
# not read the report's per-student rows)
ADOPTION_PART = "report_adoption"


def district_adoption(ws: workspace.Workspace) -> dict[str, pd.DataFrame]:
    """The whole district's `schools`, `active` (school_id, active) and `weekly` tables, stored per data version."""
    def compute() -> dict[str, pd.DataFrame]:
        adopted = adoption_service.district_report(ws)
        active = report.AdoptionUsage.active_per_school(adopted.student_usage)
        return {"schools": adopted.schools, "weekly": adopted.weekly,
                "active": pd.DataFrame({"school_id": active.index.astype(str), "active": active.to_numpy()})}

    return ws.stored(ADOPTION_PART, adoption_service.READS, compute, lambda frames: workspace.frames_to_bytes(frames, {}),
                     lambda payload: workspace.frames_from_bytes(payload)[0])


def scope_adoption(ws: workspace.Workspace) -> dict[str, pd.DataFrame]:
    """`district_adoption` cut to the scope's schools (as the adoption report's scope rows are cut)."""
    frames = district_adoption(ws)
    if ws.scope is None:
        return frames
    return {name: frame[frame["school_id"].isin(ws.scope)].reset_index(drop=True) for name, frame in frames.items()}


def adoption_usage(ws: workspace.Workspace) -> report.AdoptionUsage:
    """The adoption section's inputs: the stored adoption report's tables (from the usage summaries; the Adoption
    page's figures), the scope's rows; the students rostered per school from the stored per-school counts (the
    Overview's), so neither the roster nor the per-student rows are read."""
    frames = scope_adoption(ws)
    counts = overview_service.school_students(ws)
    counts = counts[counts["school_id"].notna()]
    enrolled = pd.Series(counts["students"].to_numpy(), index=counts["school_id"].astype(str).to_numpy())
    active = pd.Series(frames["active"]["active"].to_numpy(), index=frames["active"]["school_id"].to_numpy())
    return report.AdoptionUsage(frames["schools"], active, enrolled)


# the tables of the sources section and the columns their span is read from (assemble.SourceStats)
SOURCE_TABLES: dict[str, tuple[Any, str | None, str | None]] = {
    "schools": (models.School, None, None), "students": (models.Student, None, None),
    "tools": (models.Tool, None, None), "licenses": (models.License, "start_date", "end_date"),
    "usage": (models.Usage, "week_start", "week_start"), "usage_aggregate": (models.UsageAggregate, "date", "date"),
    "assessments": (models.Assessment, "test_date", "test_date"), "indicators": (models.Indicator, "as_of", "as_of"),
    "devices": (models.Device, "purchase_date", "purchase_date"), "pd_sessions": (models.PDSession, "date", "date"),
    "funding": (models.Funding, "fiscal_year", "fiscal_year")}
# a coordinator's slice holds every other table already (`restrict_district`): only these are counted for a scope
STUDENT_SOURCES = ("usage", "assessments", "indicators")


def source_counts(ws: workspace.Workspace) -> dict[str, report.SourceStats]:
    """Rows and span of the sources section's tables, counted by the database instead of read: the district's
    usage from the weekly summary (`summary_week`), every other table by one aggregate query; for a scope, the
    large per-student tables of its schools' students (as `restrict_district` cuts them)."""
    stats: dict[str, report.SourceStats] = {}
    if ws.scope is None:
        weeks = ws.usage_weeks
        weeks = weeks[weeks["usage_rows"] > 0]
        stats["usage"] = report.SourceStats(int(weeks["usage_rows"].sum()),
                                            weeks["week_start"].min() if len(weeks) else None,
                                            weeks["week_start"].max() if len(weeks) else None)
    names = SOURCE_TABLES if ws.scope is None else STUDENT_SOURCES
    roster = models.Student.__table__
    students = sa.select(roster.c.student_id).where(roster.c.school_id.in_(sorted(ws.scope or ())))
    with ws.engine.connect() as conn:
        for name in names:
            if name in stats:
                continue
            model, first_col, last_col = SOURCE_TABLES[name]
            table = model.__table__
            columns = [sa.func.count()]
            if first_col:
                columns += [sa.func.min(table.c[first_col]), sa.func.max(table.c[last_col])]
            query = sa.select(*columns).select_from(table)
            if ws.scope is not None:
                query = query.where(table.c.student_id.in_(students))
            n_rows, *span = conn.execute(query).one()
            first, last = span or (None, None)
            if name != "funding":  # dates (a fiscal year stays a number)
                first, last = (None if v is None else pd.Timestamp(v) for v in (first, last))
            stats[name] = report.SourceStats(int(n_rows), first, last)
    return stats


def intervention_parts(ws: workspace.Workspace) -> dict[str, Any]:
    """The interventions section's input: the same evaluation the Interventions page and `interventions evaluate`
    use (default outcome and flag run), or why it could not be computed (the report is still produced)."""
    try:
        return {"interventions": interventions_service.evaluate_interventions(ws)}
    except Exception as exc:  # noqa: BLE001 - the report must still be produced, saying why
        return {"interventions": None, "interventions_note": f"The interventions could not be evaluated: {exc}"}


def report_for(ws: workspace.Workspace, sections: tuple[str, ...], scenario: str | None,
               min_n: int) -> report.BoardReport:
    return build_report(ws, scenario=scenario, sections=list(sections), min_n=min_n)


def memo_files(ws: workspace.Workspace, min_n: int | None = None) -> dict[str, bytes]:
    """The renewal memos of the workspace's scope (file name -> one-page PDF), from the stored adoption tables
    (`scope_adoption`, computed from the usage summaries: the weekly rows are not read)."""
    adopted = scope_adoption(ws)
    return renewal_memos(ws.district, ws.board, min_n=min_n, school_rows=adopted["schools"], weekly=adopted["weekly"])


def memos_for(ws: workspace.Workspace, min_n: int) -> bytes:
    """The renewal memos of the workspace's scope as one zip (b'' when no tool is due)."""
    files = memo_files(ws, min_n)
    return memos_zip(files) if files else b""


def _cell(value: Any, min_n: int, *, count: bool = False) -> Any:
    """A JSON cell; a student count under the threshold is {"value": null, "display": "<N"}."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if count and value < min_n:
        return {"value": None, "display": f"<{min_n}"}
    return value.item() if hasattr(value, "item") else value


def report_figures(ws: workspace.Workspace, *, scenario: str | None = None,
                   min_n: int | None = None) -> dict[str, Any]:
    """Every number the board report states (data contract v2 `report --format json`)."""
    min_n = int(rules.suppression_threshold() if min_n is None else min_n)
    rep = build_report(ws, scenario=scenario, min_n=min_n)
    k = overview_service.key_figures(ws)
    board = figures.licensed(ws.board)
    per_tool = {str(r.tool_id): round(float(r.right_size_savings), 2) for r in board.itertuples()}
    cmp = rep.budget
    savings: dict[str, Any] = {
        "buffer": rules.RIGHT_SIZE_BUFFER, "per_tool": per_tool,
        "per_year_today": round(sum(per_tool.values()), 2),
        "if_recommendations_followed_per_year": round(float(k["savings_if_followed_per_year"]), 2),
        "total": None, "year1": None, "horizon_years": None, "scenario": None}
    if cmp is not None:
        summary = cmp.scenario.summary
        savings.update(total=round(float(summary["total_savings"]), 2), year1=round(float(summary["year1_savings"]), 2),
                       horizon_years=len(cmp.scenario.years), scenario=cmp.scenario.scenario.name,
                       sunsets=cmp.sunsets)
    key = {name: (_cell(value, min_n, count=name in ("students_using_tools",)) if not isinstance(value, (list, dict))
                  else value) for name, value in k.items() if name != "underused_tool_names"}
    at_risk: dict[str, Any] = {"model": None, "flagged": None, "by_school": [], "note": model_note(rep)}
    if rep.risk_counts is not None:
        counts = rep.risk_counts
        at_risk = {"model": rep.risk_label, "flagged": _cell(int(counts["flagged"].sum()), min_n, count=True),
                   "by_school": [{"school_id": r.school_id, "flagged": _cell(int(r.flagged), min_n, count=True)}
                                 for r in counts.groupby("school_id", as_index=False)["flagged"].sum().itertuples()]}
    return {
        "as_of": ws.as_of.date().isoformat(), "scope": sorted(ws.scope) if ws.scope else None,
        "summary": decision_summary(k["recommendations"], decisions_in_scope(ws), figures.licensed(ws.board)),
        "savings": savings, "key_figures": key, "at_risk": at_risk,
        "interventions": None if rep.interventions is None else intervention_report.suppressed_json(
            interventions_service.evaluation_json(rep.interventions), min_n),
        "roadmap": roadmap_service.roadmap_json(ws, board=True),
        "suppression_threshold": min_n,
    }


def decision_summary(recommendations: dict[str, int], decided: pd.DataFrame,
                     licensed_board: pd.DataFrame) -> dict[str, Any]:
    """`summary` of `report --format json`: the engine's recommendations (licensed tools) and, apart, the
    director's decisions (tools per decision code, and each decided tool with both)."""
    recommended = dict(zip(licensed_board["tool_id"].astype(str), licensed_board["recommendation"], strict=True)) \
        if len(licensed_board) else {}
    return {
        "recommendations": recommendations,
        "decisions": decision_service.decision_counts(decided),
        "decided_tools": [{"tool_id": r.tool_id, "tool_name": r.tool_name, "decision": r.decision,
                           "seats": None if pd.isna(r.seats) else int(r.seats), "decided_by": r.decided_by,
                           "decided_at": pd.Timestamp(r.decided_at).isoformat(),
                           "recommendation": recommended.get(r.tool_id)}
                          for r in decided.itertuples()],
    }


def chart_images(rep: report.BoardReport) -> dict[str, bytes]:
    """Every chart of the report as PNG (one browser, batch). Raises render.RenderError."""
    charts = rep.charts()
    if not charts:
        return {}
    pngs = render.render_many([c.figure for c in charts], height=[c.height for c in charts])
    return {c.key: png for c, png in zip(charts, pngs, strict=True)}


def export(rep: report.BoardReport, fmt: str, pngs: dict[str, bytes] | None = None) -> bytes:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}")
    pngs = chart_images(rep) if pngs is None else pngs
    return report_pdf.build_pdf(rep, pngs) if fmt == "pdf" else report_pptx.build_pptx(rep, pngs)


def renewal_memos(district: District, scoreboard: pd.DataFrame, min_n: int | None = None, *,
                  school_rows: pd.DataFrame | None = None, weekly: pd.DataFrame | None = None) -> dict[str, bytes]:
    """File name -> one-page PDF, for each tool flagged 'renewal due' (rules.renewal_due). `school_rows` and
    `weekly`: the adoption report's tables (`memo.build_memos`), else computed from the weekly rows."""
    memos = memo.build_memos(district, scoreboard, min_n=min_n, school_rows=school_rows, weekly=weekly)
    if not memos:
        return {}
    pngs = render.render_many([m.trend_figure for m in memos], width=1000, height=memo.TREND_PX_H)
    # safe, distinct names: one file per tool due, whatever its id or name says
    names = memo.memo_file_names(memos)
    return {name: memo.memo_pdf(m, png) for name, m, png in zip(names, memos, pngs, strict=True)}


def memos_zip(files: dict[str, bytes]) -> bytes:
    """The memos as one zip of flat entries; a name that is not a plain memo file name is refused."""
    unsafe = [name for name in files if not memo.is_safe_file_name(name)]
    if unsafe:
        raise ValueError(f"refusing zip entries that are not plain memo file names: {unsafe!r}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return buffer.getvalue()


# --------------------------------------------------------------------------- benchmark
def bench_report(n_students: int = 6000, seed: int = 2025) -> dict[str, Any]:
    """Seconds to produce the board report (scoring, sections, charts, PDF and PPTX) for the
    6,000-student sample district, whatever `n_students` the bench asks for (target < 20 s)."""
    from edtech.sample.generate import DISTRICT_NAME, generate_district

    district = generate_district(n_students=6000, seed=seed).district
    started = time.perf_counter()
    board = roi.score_tools(district)
    scored = time.perf_counter()
    rep = report.build_board_report(district, scoreboard=board, district_name=DISTRICT_NAME)
    built = time.perf_counter()
    pngs = chart_images(rep)
    rendered = time.perf_counter()
    pdf = report_pdf.build_pdf(rep, pngs)
    pptx = report_pptx.build_pptx(rep, pngs)
    done = time.perf_counter()
    return {
        "n_students": 6000, "requested_n_students": n_students, "charts": len(pngs),
        "roi_seconds": round(scored - started, 2), "sections_seconds": round(built - scored, 2),
        "charts_seconds": round(rendered - built, 2), "files_seconds": round(done - rendered, 2),
        "report_seconds": round(done - started, 2), "pdf_kb": round(len(pdf) / 1024), "pptx_kb": round(len(pptx) / 1024),
        "target_seconds": 20.0,
    }
