"""Board report at scale (issue 15): the report and the renewal memos read the usage summaries and the stored
parts, never the raw weekly rows, and state exactly what they stated from the raw rows (sample district)."""

from __future__ import annotations

import pandas as pd
import pytest

from edtech.core.access import SYSTEM
from edtech.report import assemble as report
from edtech.report import memo
from edtech.services import report as report_service
from edtech.services import workspace
from edtech.store import data, summaries

MIN_N = 10


def _same_sections(left: report.BoardReport, right: report.BoardReport, keys: list[str]) -> None:
    for key in keys:
        a, b = left.section(key), right.section(key)
        assert a.paragraphs == b.paragraphs and a.notes == b.notes, key
        assert [k.__dict__ for k in a.kpis] == [k.__dict__ for k in b.kpis], key
        assert len(a.tables) == len(b.tables), key
        for ta, tb in zip(a.tables, b.tables, strict=True):
            assert (ta.title, ta.note, ta.count_columns) == (tb.title, tb.note, tb.count_columns)
            pd.testing.assert_frame_equal(ta.frame, tb.frame, obj=f"{key}: {ta.title}")
        assert [(c.key, c.caption, c.height, c.figure.to_json()) for c in a.charts] == \
               [(c.key, c.caption, c.height, c.figure.to_json()) for c in b.charts], key


def test_memos_from_the_summaries_equal_the_memos_from_raw_usage(sample_db_url, monkeypatch) -> None:
    """The renewal memos built from the stored adoption report (usage summaries) state the same facts, school
    spread and weekly trend as the memos built from the raw weekly rows; the weekly rows are not read."""
    engine = data.make_engine(sample_db_url)
    report_service.district_adoption(workspace.Workspace(engine))   # computed and stored; read back below
    ws = workspace.Workspace(engine)
    board = ws.board
    adopted = report_service.scope_adoption(ws)
    from_summaries = memo.build_memos(ws.district, board, min_n=MIN_N, school_rows=adopted["schools"],
                                      weekly=adopted["weekly"])
    assert not ws.whole.loaded("usage"), "the memos read the raw weekly usage"

    from_raw = memo.build_memos(data.load_district(engine), board, min_n=MIN_N)
    assert len(from_summaries) == len(from_raw) > 0
    for new, old in zip(from_summaries, from_raw, strict=True):
        assert (new.tool_id, new.action, new.reason, new.dollar_impact, new.facts, new.notes, new.as_of) == \
               (old.tool_id, old.action, old.reason, old.dollar_impact, old.facts, old.notes, old.as_of)
        pd.testing.assert_frame_equal(new.schools, old.schools, obj=new.tool_id)
        assert new.trend_figure.to_json() == old.trend_figure.to_json(), new.tool_id
    assert memo.memo_file_names(from_summaries) == memo.memo_file_names(from_raw)
    # the service the page and `report --memos` call: the same files, still without the weekly rows
    monkeypatch.setattr(report_service.render, "render_many", lambda figures, **kw: [None] * len(figures))
    ws = workspace.Workspace(engine)
    assert list(report_service.memo_files(ws, MIN_N)) == memo.memo_file_names(from_raw)
    assert not ws.whole.loaded("usage")
    engine.dispose()


def test_report_sections_from_the_summaries_equal_the_raw_recomputation(sample_db_url) -> None:
    """The adoption and sources sections from the stored adoption report and the database's counts equal
    those computed from the district's raw frames; building them reads no weekly usage."""
    engine = data.make_engine(sample_db_url)
    ws = workspace.Workspace(engine)
    keys = ["adoption", "sources"]
    report_service.build_report(workspace.Workspace(engine), sections=keys, min_n=MIN_N)  # stores the parts
    rep = report_service.build_report(ws, sections=keys, min_n=MIN_N)  # reads them back
    assert not ws.whole.loaded("usage"), "the report read the raw weekly usage"
    raw = report.build_board_report(data.load_district(engine), scoreboard=ws.board, sections=keys, min_n=MIN_N,
                                    imports=data.import_history(engine), district_name=rep.district_name,
                                    generated=rep.generated)
    _same_sections(rep, raw, keys)
    # the database's counts: every table for the district, the per-student tables of a coordinator's students
    school = sorted(ws.whole.schools["school_id"])[0]
    for scope, names in ((None, report.SOURCE_LABELS), (frozenset({school}), report_service.STUDENT_SOURCES)):
        scoped = workspace.Workspace(engine, scope)
        counted = report_service.source_counts(scoped)
        assert set(counted) == set(names)
        for name, stats in counted.items():
            expected = report.source_stats(getattr(scoped.district, name), name)
            assert (stats.rows, stats.covers(name)) == (expected.rows, expected.covers(name)), (scope, name)
    engine.dispose()


@pytest.fixture
def published(sample_db_url):
    """The sample database with a published at-risk model (logistic: fast)."""
    from edtech.risk import model as risk
    from edtech.services import risk as risk_service

    engine = data.make_engine(sample_db_url)
    table = risk_service.district_table(data.load_district(engine))
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    version = risk_service.save_version(engine, risk_service.TrainedRisk(result=result, table=table, card=""),
                                        principal=SYSTEM)
    risk_service.publish_version(engine, version, principal=SYSTEM)
    yield engine
    engine.dispose()


def test_at_risk_counts_from_the_stored_part_equal_the_raw_scoring(published) -> None:
    """The at-risk section and the summary's sentence from the stored scores equal those from scoring the
    district in memory (raw weekly usage); the part is read back identical; a coordinator's counts are the
    district's rows of their schools."""
    engine = published
    ws = workspace.Workspace(engine)
    keys = ["at_risk"]
    rep = report_service.build_report(ws, sections=keys, min_n=MIN_N)
    assert not ws.whole.loaded("usage"), "the at-risk counts read the raw weekly usage"
    assert rep.risk_counts is not None and rep.risk_counts["flagged"].sum() > 0
    raw_district = data.load_district(engine)
    scores, note = report_service.risk_scores(engine, raw_district)
    assert note is None
    raw = report.build_board_report(raw_district, scoreboard=ws.board, sections=keys, min_n=MIN_N, risk=scores,
                                    district_name=rep.district_name, generated=rep.generated)
    _same_sections(rep, raw, keys)
    pd.testing.assert_frame_equal(rep.risk_counts, raw.risk_counts)

    # a new process reads the stored part back: the same counts
    from edtech.services import risk as risk_service

    token = workspace.part_token(engine, risk_service.WORKLIST_READS)
    assert summaries.load_part(engine, report_service.RISK_PART, token) is not None
    again = report_service.build_report(workspace.Workspace(engine), sections=keys, min_n=MIN_N)
    _same_sections(again, rep, keys)

    school = str(rep.risk_counts["school_id"].iloc[0])
    mine = report_service.build_report(workspace.Workspace(engine, frozenset({school})), sections=keys, min_n=MIN_N)
    expected = rep.risk_counts[rep.risk_counts["school_id"] == school].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine.risk_counts, expected)
