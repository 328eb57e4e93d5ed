"""The Budget page opens on the proposal the board report quotes (the director's recorded decisions, else
right-size every license); a right-size decision's seat count is the seats the projection pays for; the
budget's tables read as words (human headers, funding sources by name, no None/nan)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from edtech.core.access import Principal, Role
from edtech.services import budget as budget_service
from edtech.services import decisions
from edtech.services import report as report_service
from edtech.services.workspace import Workspace
from edtech.store import data
from tests.apptest_utils import open_page

DIRECTOR = Principal(email="director@test.example", role=Role.DIRECTOR, name="Dana Director")
PAGE = "app_pages/budget.py"


@pytest.fixture(scope="module")
def sample_board(_sample_db_file):
    engine = data.make_engine(f"sqlite:///{_sample_db_file}")
    try:
        return Workspace(engine).board
    finally:
        engine.dispose()


@pytest.fixture
def sample(sample_db_url, sample_board):
    engine = data.make_engine(sample_db_url)
    yield engine, sample_board
    engine.dispose()


def _shrinkable(board: pd.DataFrame) -> pd.Series:
    """A licensed tool with enough seats to right-size well below the rule's count."""
    rows = board[(board["seats"] > 100) & (board["right_size_seats"] > 20) & (board["tool_id"] != "T09")]
    return rows.sort_values("seats", ascending=False).iloc[0]


def test_a_right_size_decision_projects_the_directors_seat_count(sample):
    engine, board = sample
    tool = _shrinkable(board)
    rule_seats = int(tool["right_size_seats"])
    chosen = rule_seats // 2  # clearly not the rule's count
    decisions.record_decision(engine, tool["tool_id"], "right_size", seats=chosen, principal=DIRECTOR, board=board)
    decisions.record_decision(engine, "T09", "sunset", principal=DIRECTOR, board=board)

    spec = budget_service.proposal_spec(engine)
    assert spec["levers"]["right_size_seats"] == [{"tool_id": tool["tool_id"], "seats": chosen}]
    inputs = budget_service.inputs_for(Workspace(engine))
    result = budget_service.run_scenario(inputs, spec, draws=50)
    baseline = budget_service.run_scenario(inputs, result.scenario.baseline(), draws=50)
    mine = result.projection.by_tool.query("tool_id == @tool.tool_id").set_index("fiscal_year")
    before = baseline.projection.by_tool.query("tool_id == @tool.tool_id").set_index("fiscal_year")
    assert (mine["seats"] == chosen).all()  # no enrollment change: the seats are the director's, every year
    # the license line pays for exactly the chosen seats at the same price per seat and escalation
    expected = before["license_spend"] * chosen / before["seats"]
    assert mine["license_spend"].to_numpy() == pytest.approx(expected.to_numpy())
    # ... which is not what the rule's seats would cost
    rule_spec = json.loads(json.dumps(spec))
    rule_spec["levers"]["right_size_seats"] = []
    by_rule = budget_service.run_scenario(inputs, rule_spec, draws=50).projection.by_tool
    assert (by_rule.query("tool_id == @tool.tool_id")["seats"] == rule_seats).all()
    assert result.projection.summary["total_spend"] < budget_service.run_scenario(
        inputs, rule_spec, draws=50).projection.summary["total_spend"]

    # the report quotes the same proposal, through the same function
    assert report_service.scenario_spec(engine, None).to_dict() == budget_service.opening_proposal(engine)
    assert budget_service.opening_proposal(engine) == spec


def test_without_decisions_the_page_and_the_report_start_from_right_sizing_every_license(sample):
    engine, _ = sample
    opening = budget_service.opening_proposal(engine)
    assert opening["levers"]["right_size_all"] and opening == report_service.scenario_spec(engine, None).to_dict()


def test_budget_page_opens_on_the_directors_decisions_in_words(sample):
    engine, board = sample
    tool = _shrinkable(board)
    chosen = int(tool["right_size_seats"]) // 2
    decisions.record_decision(engine, tool["tool_id"], "right_size", seats=chosen, principal=DIRECTOR, board=board)

    at = open_page(PAGE, timeout=90)
    assert not at.exception, at.exception
    assert at.selectbox(key="budget_active").value == budget_service.DECISIONS_PROPOSAL
    assert tool["tool_id"] in at.multiselect(key="budget_right_size_tools").value
    assert any(f"{tool['tool_name']}: {chosen:,} seats" in c.value for c in at.caption)

    per_tool = next(d.value for d in at.dataframe if "license_spend" in d.value.columns)
    shown = per_tool[(per_tool["tool_name"] == tool["tool_name"])]
    assert (shown["seats"] == chosen).all() and set(shown["action"]) == {"Right-size"}
    sources = next(d.value for d in at.dataframe if "shortfall" in d.value.columns)
    assert {"Title IV-A", "E-Rate", "General fund"} <= set(sources["source"])  # codes as names
    assert not sources["source"].str.contains("_").any()

    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    funding = next(c for c in charts if "funding by source" in c["layout"]["title"]["text"])
    legend = {t.get("name") for t in funding["data"] if t.get("name")}
    assert {"Title IV-A", "E-Rate"} <= legend and not any("_" in n for n in legend)

    for grid in at.dataframe:  # every header is a human label; no cell reads None/nan
        config = json.loads(grid.proto.columns) if grid.proto.columns else {}
        labels = [c.get("label") for c in config.values() if isinstance(c, dict) and not c.get("hidden")]
        assert labels and all(label and "_" not in label for label in labels), labels
        text = grid.value.astype(str)
        assert not text.isin(["None", "nan", "NaN", "NaT", "<NA>"]).any().any()

    # a viewer can read the director's proposal too
    viewer = open_page(PAGE, role="Viewer", timeout=90)
    assert budget_service.DECISIONS_PROPOSAL in viewer.selectbox(key="budget_view_name").options


def test_source_names_and_readable_codes():
    assert budget_service.source_name("title_iv_a") == "Title IV-A"
    assert budget_service.source_name("e_rate") == "E-Rate"
    assert budget_service.source_name("state_grant") == "State grant"
    assert budget_service.source_name(None) == "—"
    frame = pd.DataFrame({"fiscal_year": [2027], "source": ["esser"], "action": ["right_size+expand"]})
    assert budget_service.readable(frame).iloc[0].tolist() == ["FY2027", "ESSER", "Right-size and expand"]
