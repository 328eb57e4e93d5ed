"""The director's decisions per tool (data contract v2 `decisions`, issue 14): recorded by a director only,
audited, kept apart from the engine's recommendation, shown on the Tool ROI page, counted in the board
report's JSON summary and said in its prose, and the start of the budget proposal."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from edtech.cli.parser import main as cli
from edtech.core.access import SYSTEM, AccessDenied, Principal, Role
from edtech.roi import viz
from edtech.services import audit, decisions
from edtech.services import budget as budget_service
from edtech.services import report as report_service
from edtech.services.workspace import Workspace
from edtech.store import data
from tests.apptest_utils import open_page

DIRECTOR = Principal(email="director@test.example", role=Role.DIRECTOR, name="Dana Director")
DECISION_HEADERS = ["Tool", "Recommendation", "Decision", "Annual cost", "Savings if followed", "Evidence",
                    "Utilization"]


@pytest.fixture(scope="module")
def sample_board(_sample_db_file):
    """The sample's district scoreboard, computed once (every test's database is a copy of the same file)."""
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


def _right_sizable(board: pd.DataFrame) -> pd.Series:
    """A tool the rule would shrink (seats above peak use + buffer), neither of the two other decided tools."""
    rows = board[(board["right_size_seats"] < board["seats"] - 1) & ~board["tool_id"].isin(["T01", "T09"])]
    return rows.iloc[0]


def _record_three(engine, board) -> pd.Series:
    big = _right_sizable(board)
    decisions.record_decision(engine, "T09", "sunset", note="Nobody logs in", principal=DIRECTOR, board=board)
    decisions.record_decision(engine, big["tool_id"], "right-size", seats=int(big["right_size_seats"]),
                              principal=DIRECTOR, board=board)
    decisions.record_decision(engine, "T01", "renew", principal=DIRECTOR, board=board)
    return big


@pytest.mark.parametrize("role", [Role.BOARD, Role.COORDINATOR, Role.VIEWER])
def test_only_a_director_records_a_decision(sample, role):
    engine, board = sample
    someone = Principal(email=f"{role.value}@test.example", role=role, schools=frozenset({"0202"}))
    with pytest.raises(AccessDenied):
        decisions.record_decision(engine, "T09", "sunset", principal=someone, board=board)
    assert decisions.latest_decisions(engine).empty
    assert audit.read(engine, action="decision recorded").empty


def test_a_decision_is_validated_stored_audited_and_the_latest_counts(sample):
    engine, board = sample
    big = _right_sizable(board)
    current = int(big["seats"])
    refused = [dict(decision="right_size", seats=None), dict(decision="right_size", seats=current),
               dict(decision="right_size", seats=-1), dict(decision="right_size", seats=2.5),
               dict(decision="sunset", seats=10), dict(decision="cancel", seats=None)]
    for ask in refused:
        with pytest.raises(decisions.DecisionError):
            decisions.record_decision(engine, big["tool_id"], ask["decision"], seats=ask["seats"],
                                      principal=DIRECTOR, board=board)
    with pytest.raises(decisions.DecisionError, match="Unknown tool"):
        decisions.record_decision(engine, "NOPE", "renew", principal=DIRECTOR, board=board)
    assert decisions.latest_decisions(engine).empty   # nothing refused was written

    _record_three(engine, board)
    stored = decisions.record_decision(engine, "T09", "study", note="Ask the teachers first", principal=DIRECTOR,
                                       board=board)
    assert stored["decision"] == "study" and stored["decided_by"] == "director@test.example"
    latest = decisions.latest_decisions(engine).set_index("tool_id")
    assert len(decisions.all_decisions(engine)) == 4 and len(latest) == 3
    assert latest.loc["T09", "decision"] == "study"                          # the newest per tool
    assert latest.loc[big["tool_id"], "seats"] == int(big["right_size_seats"])
    assert pd.isna(latest.loc["T01", "seats"])
    assert "recommendation" not in latest.columns                            # kept apart from the engine's
    trail = audit.read(engine, action="decision recorded")
    assert len(trail) == 4 and set(trail["actor"]) == {"director@test.example"}
    assert any("T09: Sunset — Nobody logs in" == d for d in trail["detail"])
    assert any(d == f"{big['tool_id']}: Right-size to {int(big['right_size_seats']):,} seats" for d in trail["detail"])
    # the engine's recommendation is untouched by the director's decision
    assert (Workspace(engine).board["recommendation"].to_numpy() == board["recommendation"].to_numpy()).all()
    csv = decisions.export_csv(engine, board).decode()
    assert csv.splitlines()[0] == "tool_id,tool_name,decision,seats,decided_by,decided_at,note,engine_recommendation"
    assert "Ask the teachers first" in csv and len(csv.splitlines()) == 5


def test_report_summary_counts_decisions_apart_and_the_budget_proposal_follows_them(sample, capsys):
    engine, board = sample
    url = str(engine.url)
    before = budget_service.proposal_spec(engine)
    assert before is None                                                    # no decision: the default proposal
    big = _record_three(engine, board)
    spec = budget_service.proposal_spec(engine)
    assert spec["name"] == budget_service.DECISIONS_PROPOSAL
    assert spec["levers"]["sunset_tools"] == ["T09"] and spec["levers"]["right_size_tools"] == [big["tool_id"]]
    assert spec["levers"]["must_keep"] == ["T01"] and not spec["levers"]["right_size_all"]

    assert cli(["report", "--format", "json", "--db", url]) == 0
    out = json.loads(capsys.readouterr().out)
    summary = out["summary"]
    assert summary["decisions"] == {"renew": 1, "right_size": 1, "renegotiate": 0, "consolidate": 0, "sunset": 1,
                                    "study": 0}
    # the engine's counts are still the engine's: every licensed tool, whatever the director decided
    assert sum(summary["recommendations"].values()) == int((board["seats"].fillna(0) > 0).sum())
    decided = {d["tool_id"]: d for d in summary["decided_tools"]}
    assert set(decided) == {"T01", "T09", big["tool_id"]}
    assert decided["T09"]["decision"] == "sunset" and decided["T09"]["tool_name"]
    assert decided[big["tool_id"]]["seats"] == int(big["right_size_seats"])
    assert decided["T09"]["recommendation"] == board.set_index("tool_id").loc["T09", "recommendation"]
    # the proposal the report quotes is the director's
    assert out["savings"]["scenario"] == budget_service.DECISIONS_PROPOSAL
    assert out["savings"]["sunsets"] == ["T09"]
    assert out["savings"]["year1"] > 0

    rep = report_service.build_report(Workspace(engine), sections=["summary"])
    paragraphs = rep.section("summary").paragraphs
    analysis = next(p for p in paragraphs if p.startswith("What the analysis recommends"))
    director = next(p for p in paragraphs if p.startswith("What the director decided"))
    assert "the director decided for 3 tool(s)" in director and "1 renew, 1 right-size, 1 sunset" in director
    assert f"right-size to {int(big['right_size_seats']):,} seats" in director
    assert budget_service.DECISIONS_PROPOSAL in director and budget_service.DECISIONS_PROPOSAL not in analysis
    assert "director" not in analysis


def test_decisions_show_on_the_tool_roi_page_and_a_director_records_one(sample):
    engine, board = sample
    decisions.record_decision(engine, "T09", "sunset", principal=SYSTEM, board=board)
    at = open_page("app_pages/tool_roi.py", role="director")
    table = at.dataframe[0].value
    assert list(table.columns) == DECISION_HEADERS                           # fits 1440 px: seven columns
    assert table.set_index("Tool").loc[board.set_index("tool_id").loc["T09", "tool_name"], "Decision"] == "Sunset"
    assert (table["Decision"] == "—").sum() == len(table) - 1
    text_cells = table.select_dtypes(exclude="number").astype(str).to_numpy().ravel()
    assert not {"None", "nan", "<NA>", "NaN"} & set(text_cells)
    assert any("under half of the weight" in c.value for c in at.caption)  # the rank order is explained

    big = _right_sizable(board)
    at.selectbox(key="roi_decision_tool").set_value(big["tool_id"]).run()
    tool = big["tool_id"]
    assert at.number_input(key=f"roi_decision_seats_{tool}").value == int(big["right_size_seats"])
    at.selectbox(key=f"roi_decision_kind_{tool}").set_value("right_size")
    at.number_input(key=f"roi_decision_seats_{tool}").set_value(int(big["right_size_seats"]) + 1)
    at.text_area(key=f"roi_decision_note_{tool}").set_value("Keep a few spare seats")
    at.button(key="roi_decision_save").click().run()
    assert not at.exception, at.exception
    assert any("Recorded" in s.value for s in at.success)
    row = at.dataframe[0].value.set_index("Tool").loc[big["tool_name"]]
    assert row["Decision"] == f"Right-size to {int(big['right_size_seats']) + 1:,} seats"
    assert row["Recommendation"][0].isupper()                                 # the engine's, unchanged beside it
    assert decisions.latest_decisions(engine).set_index("tool_id").loc[tool, "decided_by"] == "director@test.example"

    at.toggle(key="roi_all_columns").set_value(True).run()
    wide = at.dataframe[0].value
    assert {"Rank", "ROI score", "Seats", "Category", "Decided by", "Decision note"} <= set(wide.columns)
    assert not any("_" in c for c in wide.columns)


def test_other_roles_see_decisions_but_no_form(sample):
    engine, board = sample
    decisions.record_decision(engine, "T09", "sunset", principal=SYSTEM, board=board)
    at = open_page("app_pages/tool_roi.py", role="board")
    assert "Sunset" in set(at.dataframe[0].value["Decision"])
    assert not [s for s in at.selectbox if s.key == "roi_decision_tool"]


def _crowded_board(n: int) -> pd.DataFrame:
    """`n` tools at almost the same cost and effect: every label would sit on the others."""
    rng = np.random.default_rng(1)
    return pd.DataFrame({
        "tool_id": [f"T{i:02d}" for i in range(n)], "tool_name": [f"A rather long tool name {i}" for i in range(n)],
        "cost_per_active_user": 40 + rng.normal(0, 0.5, n), "effect_size": rng.normal(0.05, 0.005, n),
        "annual_cost": rng.uniform(5_000, 90_000, n), "evidence_label": ["Promising"] * n,
        "utilization": rng.uniform(0.2, 0.9, n)})


@pytest.mark.parametrize("n", [1, 3, 14, 40])
def test_quadrant_labels_never_overlap_and_the_log_axis_has_dollar_ticks(n):
    fig = viz.quadrant(_crowded_board(n))
    labels = [a for a in fig.layout.annotations if a.name == "tool_label"]
    assert len(labels) == n
    margin = fig.layout.margin
    plot_px = fig.layout.height - margin.t - margin.b
    y_low, y_high = fig.layout.yaxis.range
    px = sorted((a.y - y_low) / (y_high - y_low) * plot_px for a in labels)
    assert all(b - a >= viz.QUADRANT_LABEL_GAP - 1e-6 for a, b in zip(px, px[1:], strict=False))
    assert all(viz.QUADRANT_LABEL_GAP / 2 - 1e-6 <= p <= plot_px - viz.QUADRANT_LABEL_GAP / 2 + 1e-6 for p in px)
    assert viz.QUADRANT_LABEL_GAP >= 1.4 * viz.QUADRANT_LABEL_FONT            # a line of text fits in the gap
    x_low, x_high = fig.layout.xaxis.range
    ticks = list(fig.layout.xaxis.tickvals)
    assert ticks and all(10 ** x_low <= v <= 10 ** x_high for v in ticks)
    assert {round(v / 10 ** np.floor(np.log10(v)), 6) for v in ticks} <= {1.0, 2.0, 5.0}
    assert all(t.startswith("$") for t in fig.layout.xaxis.ticktext)


def test_spread_labels_keeps_order_and_gap():
    wanted = [0.0, 0.0, 0.0, 1.0, 0.99, -5.0]
    out = viz.spread_labels(wanted, -1.0, 1.0, 0.2)
    order = np.argsort(wanted, kind="stable")
    placed = np.asarray(out)[order]
    assert np.all(np.diff(placed) >= 0.2 - 1e-9) and placed.min() >= -0.9 - 1e-9 and placed.max() <= 0.9 + 1e-9
