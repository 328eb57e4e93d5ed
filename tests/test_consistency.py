"""One figure, one value: every number that appears on two or more surfaces (page, CLI JSON, board
report JSON/PDF text, memo) agrees, for the director and for a one-school coordinator.

Each surface is produced the way a user gets it (AppTest for pages, `python -m edtech` for JSON, the
exported PDF for the report), so a rule written twice anywhere makes this module fail.
"""

from __future__ import annotations

import io
import json

import pytest

from edtech.cli.parser import main as cli
from tests.apptest_utils import open_page

SCHOOL = "0201"   # a middle school of the sample district
SCOPES = {"director": None, "coordinator": [SCHOOL]}


def _cli_json(capsys: pytest.CaptureFixture, *args: str) -> object:
    capsys.readouterr()
    assert cli(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def _school_args(schools: list[str] | None) -> list[str]:
    return [a for s in (schools or []) for a in ("--school", s)]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _money(x: float) -> str:
    from edtech.core.format import money

    return money(x)


@pytest.fixture
def surfaces(sample_db_url, capsys, request):
    """The CLI's ROI rows and report JSON for one scope (the param), computed once per test."""
    schools = SCOPES[request.param]
    roi_rows = _cli_json(capsys, "roi", "--format", "json", "--db", sample_db_url, *_school_args(schools))
    report = _cli_json(capsys, "report", "--format", "json", "--db", sample_db_url, *_school_args(schools))
    return {"schools": schools, "roi": roi_rows, "report": report, "db": sample_db_url}


@pytest.mark.parametrize("surfaces", list(SCOPES), indirect=True)
def test_seats_spend_users_utilization_agree(surfaces):
    """Overview tiles = report key figures = the CLI's ROI rows, for the scope."""
    roi_rows = [r for r in surfaces["roi"] if r["seats"] > 0]
    k = surfaces["report"]["key_figures"]
    seats = sum(r["seats"] for r in roi_rows)
    spend = sum(r["annual_cost"] for r in roi_rows)
    users = sum(r["active_users"] for r in roi_rows)
    assert k["tools_licensed"] == len(roi_rows)
    assert k["seats"] == pytest.approx(seats)
    assert k["annual_spend"] == pytest.approx(spend)
    assert k["tool_active_users"] == pytest.approx(users)
    assert k["utilization"] == pytest.approx(users / seats)

    role = "Director" if surfaces["schools"] is None else "School coordinator"
    at = open_page("app_pages/overview.py", role=role, schools=surfaces["schools"], timeout=120)
    tiles = _metrics(at)
    assert tiles["Tools licensed"] == str(len(roi_rows))
    assert tiles["Annual spend"] == _money(spend)
    assert tiles["Seats"] == f"{seats:,}"
    assert tiles["Seat utilization"] == f"{users / seats:.0%}"
    active = k["students_using_tools"]
    assert tiles["Active students"] == (f"{active:,}" if isinstance(active, int) else active["display"])

    at = open_page("app_pages/tool_roi.py", role=role, schools=surfaces["schools"], timeout=120)
    roi_tiles = _metrics(at)
    assert roi_tiles["Annual license spend"] == _money(spend)
    assert roi_tiles["Tools"] == str(len(surfaces["roi"]))
    assert roi_tiles["Savings if followed"] == _money(sum(r["savings_if_followed"] for r in surfaces["roi"]))


@pytest.mark.parametrize("surfaces", list(SCOPES), indirect=True)
def test_right_size_savings_agree_per_tool_and_in_total(surfaces):
    """ROI reasons, CLI rows and the report JSON quote the same annual right-size savings at one buffer."""
    from edtech.core import rules

    report = surfaces["report"]
    assert report["savings"]["buffer"] == rules.RIGHT_SIZE_BUFFER
    per_tool = report["savings"]["per_tool"]
    for r in surfaces["roi"]:
        if r["seats"] <= 0:
            continue
        assert per_tool[r["tool_id"]] == pytest.approx(r["right_size_savings"], abs=0.01)
        if r["recommendation"].startswith("right-size"):
            # the reason quotes the figure (director: the district's; coordinator: the district's recommendation)
            assert "a year at today's price" in r["recommendation_reason"]
    assert report["savings"]["per_year_today"] == pytest.approx(sum(per_tool.values()), abs=0.05)


def test_report_total_equals_the_budget_right_size_scenario(sample_db_url, capsys):
    """The report's 3-year saving is the Budget page's 'right-size every tool' at the same buffer."""
    from edtech.budget import projection as budget
    from edtech.core import rules
    from edtech.services import budget as budget_service
    from edtech.services.workspace import Workspace
    from edtech.store import data

    report = _cli_json(capsys, "report", "--format", "json", "--db", sample_db_url)
    ws = Workspace(data.make_engine(sample_db_url))
    scenario = budget.scenario_from_dict({"name": "Right-size", "horizon_years": report["savings"]["horizon_years"],
                                          "levers": {"right_size_all": True,
                                                     "right_size_buffer": rules.RIGHT_SIZE_BUFFER}})
    projection = budget.project_budget(budget_service.inputs_for(ws), scenario)
    assert report["savings"]["total"] == pytest.approx(projection.summary["total_savings"], abs=0.01)
    assert report["savings"]["year1"] == pytest.approx(projection.summary["year1_savings"], abs=0.01)


def test_recommendation_counts_agree_with_rows_and_report_text(sample_db_url, capsys):
    """Counts per recommendation: report JSON = the CLI's rows = the sentence in the report's summary."""
    from edtech.roi.figures import RECOMMENDATION_KINDS
    from edtech.services import report as report_service
    from edtech.services.workspace import Workspace
    from edtech.store import data

    rows = _cli_json(capsys, "roi", "--format", "json", "--db", sample_db_url)
    report = _cli_json(capsys, "report", "--format", "json", "--db", sample_db_url)
    counts = report["summary"]["recommendations"]
    from_rows = {k: 0 for k in RECOMMENDATION_KINDS}
    for r in rows:
        if r["seats"] > 0:
            from_rows[r["recommendation"].split()[0].replace("right-size", "right_size")] += 1
    assert counts == from_rows
    rep = report_service.build_report(Workspace(data.make_engine(sample_db_url)), sections=["summary"])
    text = " ".join(rep.section("summary").paragraphs)
    for kind, n in counts.items():
        if n:
            assert f"{n} {kind.replace('_', '-')}" in text


def test_memo_quotes_the_roi_savings(sample_db_url):
    """A renewal memo's dollar impact is the ROI reason's annual figure (one number, not two)."""
    from edtech.report import memo
    from edtech.services.workspace import Workspace
    from edtech.store import data

    ws = Workspace(data.make_engine(sample_db_url))
    due = memo.due_for_renewal(ws.board)
    right_size = due[due["recommendation"].str.startswith("right-size")]
    assert len(right_size)
    for _, row in right_size.iterrows():
        figure = _money(row["right_size_savings"])
        assert figure in memo.dollar_impact(row)
        assert figure in row["recommendation_reason"]


def test_report_pdf_states_the_json_figures(sample_db_url, capsys, tmp_path):
    """The exported PDF's KPI and summary text carry the JSON's spend, utilization and counts."""
    from pypdf import PdfReader

    from edtech.core.format import pct

    report = _cli_json(capsys, "report", "--format", "json", "--db", sample_db_url)
    out = tmp_path / "r.pdf"
    assert cli(["report", "--format", "pdf", "--out", str(out), "--db", sample_db_url]) == 0
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    text = " ".join(text.split())
    k = report["key_figures"]
    assert _money(k["annual_spend"]) in text
    assert pct(k["utilization"]) in text
    assert _money(report["savings"]["year1"]) in text


def test_vetting_renewals_are_the_roi_renewal_badges(sample_db_url):
    """Vetting's 'renewal due' rows, the memo list and the ROI badge use one rule."""
    from edtech.report import memo
    from edtech.services import vetting
    from edtech.services.workspace import Workspace
    from edtech.store import data

    for scope in (None, frozenset({SCHOOL})):
        ws = Workspace(data.make_engine(sample_db_url), scope)
        badge = set(ws.board.loc[ws.board["flags"].map(lambda f: "renewal_due" in f), "tool_name"])
        assert set(vetting.vetting_inventory(ws).renewals["Tool"]) == badge
        if scope is None:
            assert set(memo.due_for_renewal(ws.board)["tool_name"]) == {
                t for t in badge if ws.board.set_index("tool_name").loc[t, "seats"] > 0}


def test_coordinator_figures_are_their_schools_part_of_the_district(sample_db_url):
    """Every school's seats and spend add up to the district's; users are the school's own."""
    from edtech.services.workspace import Workspace
    from edtech.store import data

    engine = data.make_engine(sample_db_url)
    district = Workspace(engine)
    board = district.board.set_index("tool_id")
    schools = district.whole.schools["school_id"].tolist()
    seats = spend = users = 0.0
    for school in schools:
        ws = Workspace(engine, frozenset({school}))
        ws.whole, ws.roi = district.whole, district.roi   # the same shared parts the app's cache serves
        b = ws.board
        seats += b["seats"].sum()
        spend += b["annual_cost"].sum()
        users += b["active_users"].sum()
        # never a one-school right-size: the recommendation is the district's
        assert (b.set_index("tool_id")["recommendation"] == board.loc[b["tool_id"], "recommendation"]).all()
    licensed = board[board["seats"] > 0]
    assert seats == pytest.approx(licensed["seats"].sum())
    assert spend == pytest.approx(licensed["annual_cost"].sum())
    assert users == pytest.approx(board["active_users"].sum())


def test_flagged_counts_agree_between_risk_score_and_the_report(sample_db_url, capsys):
    """One flagging rule (top k of each school, stored model): `risk score`, report JSON, by school too."""
    import pandas as pd

    assert cli(["risk", "train", "--target", "off_track_next_term", "--db", sample_db_url]) == 0
    assert cli(["risk", "publish", "1", "--db", sample_db_url]) == 0     # `risk score` and the report use it
    capsys.readouterr()
    assert cli(["risk", "score", "--format", "csv", "--db", sample_db_url]) == 0
    scored = pd.read_csv(io.StringIO(capsys.readouterr().out), dtype={"school": str})
    report = _cli_json(capsys, "report", "--format", "json", "--db", sample_db_url)
    flagged = int(scored["flagged"].sum())
    assert report["at_risk"]["flagged"] == flagged and flagged > 0
    by_school = scored.groupby("school")["flagged"].sum()
    for row in report["at_risk"]["by_school"]:
        cell = row["flagged"]
        expected = int(by_school.get(row["school_id"], 0))
        assert (cell == expected) if isinstance(cell, int) else (expected < report["suppression_threshold"])
    # the At-risk page's worklist: its "High" band is the flagged set, for the director and a one-school coordinator
    from edtech.core.access import SYSTEM, Principal, Role
    from edtech.services import risk as risk_service
    from edtech.services import workspace

    engine = workspace.open_engine(sample_db_url)
    school = str(by_school[by_school > 0].index[0])
    coordinator = Principal(email="c@test.example", role=Role.COORDINATOR, schools=frozenset({school}))
    for principal, expected in ((SYSTEM, flagged), (coordinator, int(by_school[school]))):
        listed = risk_service.worklist(workspace.Workspace(engine, principal=principal)).students
        assert int((listed["band"] == "High").sum()) == expected, principal.role
