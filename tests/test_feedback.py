"""Stakeholder feedback (issue 17): satisfaction per tool and role, trend, suppression, the optional ROI weight,
comments behind READ_COMMENTS, and the Tool ROI / Vetting pages against `roi --format json`."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from edtech.core import access
from edtech.core.access import AccessDenied, Principal, Role
from edtech.evidence import effects
from edtech.feedback import satisfaction as sat
from edtech.roi import engine as roi

AS_OF = pd.Timestamp("2026-06-07")
EARLY, LATE = pd.Timestamp("2025-10-10"), pd.Timestamp("2026-03-10")   # before / inside the last six months


def _responses(tool: str, role: str, ratings: list[float], day: pd.Timestamp, school: str = "S1",
               prefix: str = "R") -> pd.DataFrame:
    return pd.DataFrame({"respondent_id": [f"{prefix}{tool}{role}{day:%m}{i}" for i in range(len(ratings))],
                         "tool_id": tool, "date": day, "role": role, "school_id": school,
                         "rating": [float(r) for r in ratings], "comment": None})


def _survey() -> pd.DataFrame:
    return pd.concat([
        _responses("T1", "teacher", [4, 5, 4, 5, 4, 5, 4, 5, 4, 5, 4, 5], EARLY),   # 12 happy in the fall
        _responses("T1", "teacher", [1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2], LATE),    # 12 unhappy in the spring
        _responses("T1", "student", [5, 5, 4, 3, 5], LATE),                          # 5: too few
        _responses("T2", "teacher", [3] * 10 + [4] * 10, LATE),
        _responses("T2", "parent", [5] * 10, LATE),
        _responses("T3", "teacher", [2] * 4, LATE),                                  # too few for anything
        _responses("T1", "teacher", [5] * 30, pd.Timestamp("2025-01-10"), prefix="old"),  # outside 12 months
    ], ignore_index=True)


# ---------------------------------------------------------------- pure aggregation

def test_by_role_mean_n_share_and_trend():
    roles = sat.by_role(_survey(), AS_OF, min_n=10).set_index(["tool_id", "role"])
    t1 = roles.loc[("T1", "teacher")]
    assert t1["n"] == 24                                   # the 2025-01 answers are outside the 12 months
    assert t1["mean_rating"] == pytest.approx(3.0)         # (4.5 * 12 + 1.5 * 12) / 24
    assert t1["share_4_5"] == pytest.approx(0.5)
    assert (t1["earlier_mean"], t1["recent_mean"]) == (pytest.approx(4.5), pytest.approx(1.5))
    assert t1["change"] == pytest.approx(-3.0)
    assert t1["change_ci_high"] < 0 and t1["trend"] == "falling"
    student = roles.loc[("T1", "student")]
    assert student["n"] == 5 and not student["enough"] and student["trend"] == "few"
    assert roles.loc[("T2", "teacher"), "trend"] == "few"  # no earlier half: no trend to tell
    assert list(roles.loc["T1"].index) == ["teacher", "student"]   # roles in the fixed order


def test_welch_interval_is_symmetric_and_covers_no_change_when_equal():
    change, low, high = sat.welch_change(np.array([3.0, 4.0, 5.0]), np.array([3.0, 4.0, 5.0]))
    assert change == 0 and low < 0 < high and low == pytest.approx(-high)
    assert all(math.isnan(x) for x in sat.welch_change(np.array([3.0]), np.array([3.0, 4.0])))


def test_tool_satisfaction_is_the_mean_of_role_means_with_enough_ratings():
    tools = sat.per_tool(sat.by_role(_survey(), AS_OF, min_n=10)).set_index("tool_id")
    assert tools.loc["T1", "satisfaction_mean"] == pytest.approx(3.0)    # the 5 students do not count
    assert tools.loc["T1", "satisfaction_n"] == 24 and tools.loc["T1", "responses"] == 29
    assert tools.loc["T2", "satisfaction_mean"] == pytest.approx((3.5 + 5.0) / 2)  # each role once
    assert tools.loc["T2", "lead_role"] == "teacher"
    assert math.isnan(tools.loc["T3", "satisfaction_mean"]) and pd.isna(tools.loc["T3", "lead_role"])


def test_suppressed_roles_hide_small_groups_and_their_statistics():
    roles = sat.suppressed_roles(sat.by_role(_survey(), AS_OF, min_n=10), 10).set_index(["tool_id", "role"])
    small = roles.loc[("T1", "student")]
    assert small["n"] == "<10" and small["mean_rating"] is None and small["share_4_5"] is None
    assert roles.loc[("T3", "teacher"), "n"] == "<10" and roles.loc[("T3", "teacher"), "mean_rating"] is None
    big = roles.loc[("T1", "teacher")]
    assert big["n"] == 24 and big["mean_rating"] == pytest.approx(3.0)
    # T2's teachers answered only in the spring: the (empty) earlier half is suppressed with its mean
    assert roles.loc[("T2", "teacher"), "earlier_n"] == "<10"


def test_summary_line_names_the_lead_role_the_trend_the_use_and_the_effect():
    roles = sat.by_role(_survey(), AS_OF, min_n=10)
    board = pd.DataFrame({"tool_id": ["T1", "T2", "T3"], "active_30d": [40, 90, 95], "peak_active_30d": [100, 100, 100],
                          "evidence_label": [effects.LABEL_NEGATIVE, effects.LABEL_INSUFFICIENT,
                                             effects.LABEL_INSUFFICIENT], "effect_size": [-0.08, np.nan, np.nan]})
    use = sat.usage_trend(board, 10).set_index("tool_id")
    assert use.loc["T1", "use_trend"] == "falling"      # 40% of peak against a median of 90%
    assert use.loc["T3", "use_trend"] == "steady"
    line = sat.summary_line(roles[roles["tool_id"] == "T1"], use.loc["T1"], board.iloc[0], 10, suppress=False)
    assert line.startswith("Teachers rate it 3.0/5 (n=24) and falling (1.5 in the last six months, 4.5 before)")
    assert "use is falling faster" in line and "-0.08 SD" in line and "Negative" in line
    few = sat.summary_line(roles[roles["tool_id"] == "T3"], use.loc["T3"], board.iloc[2], 10, suppress=True)
    assert few.startswith("Fewer than 10 ratings") and "2.0" not in few
    assert "(n=" not in few


def test_usage_trend_of_a_tool_with_few_users_is_not_told():
    board = pd.DataFrame({"tool_id": ["A", "B"], "active_30d": [2, 80], "peak_active_30d": [5, 100]})
    use = sat.usage_trend(board, 10).set_index("tool_id")
    assert use.loc["A", "use_trend"] == "few" and math.isnan(use.loc["A", "recent_share"])


# ---------------------------------------------------------------- the optional ROI weight

def _scored_inputs() -> pd.DataFrame:
    """Four tools with evidence (rankable) and one without (utilization only)."""
    rows = []
    for i, (util, eff) in enumerate([(0.95, 0.05), (0.55, 0.40), (0.75, 0.20), (0.65, 0.30)]):
        rows.append({"tool_id": f"T{i}", "tool_name": f"Tool {i}", "category": f"c{i}", "seats": 100,
                     "annual_cost": 1000.0, "utilization": util, "dosage_met_share": 0.5, "effect_size": eff,
                     "evidence_label": effects.LABEL_PROMISING, "cost_per_0_1_sd": 10.0 / eff,
                     "peak_active_30d": 90, "dosage_met": 40, "assessment": "MAP", "_schools": {"S1"}})
    rows.append({**rows[0], "tool_id": "T9", "tool_name": "Tool 9", "category": "c9", "utilization": 0.99,
                 "effect_size": np.nan, "cost_per_0_1_sd": np.nan, "dosage_met_share": np.nan,
                 "evidence_label": effects.LABEL_INSUFFICIENT})
    return pd.DataFrame(rows)


def _rated(inputs: pd.DataFrame) -> pd.DataFrame:
    survey = pd.concat([_responses("T0", "teacher", [1] * 12, LATE), _responses("T1", "teacher", [2] * 12, LATE),
                        _responses("T2", "teacher", [5] * 12, LATE), _responses("T9", "teacher", [5] * 12, LATE),
                        _responses("T3", "teacher", [5] * 3, LATE)], ignore_index=True)   # T3: too few
    return sat.attach(inputs, survey, AS_OF, 10)


def test_satisfaction_weight_zero_leaves_the_scoreboard_unchanged():
    inputs = _scored_inputs()
    before = roi.order_scoreboard(roi.score_metrics(inputs))
    after = roi.order_scoreboard(roi.score_metrics(_rated(inputs), {**roi.DEFAULT_WEIGHTS, "satisfaction": 0}))
    shared = [c for c in before.columns if c in after.columns and c != "score_satisfaction"]
    pd.testing.assert_frame_equal(before[shared], after[shared])
    assert "satisfaction" not in roi.DEFAULT_WEIGHTS and roi.OPTIONAL_WEIGHTS["satisfaction"] == 0


def test_satisfaction_weight_moves_ranks_by_rating_and_neutral_without_ratings():
    rated = _rated(_scored_inputs())
    assert rated.set_index("tool_id")["satisfaction_mean"].isna().to_dict() == {
        "T0": False, "T1": False, "T2": False, "T3": True, "T9": False}
    only = {"utilization": 1, "fidelity": 1, "effect": 1, "cost_effectiveness": 1, "satisfaction": 1000}
    out = roi.order_scoreboard(roi.score_metrics(rated, only)).set_index("tool_id")
    assert out.loc["T3", "score_satisfaction"] == roi.NEUTRAL_RANK           # too few ratings: the middle
    # among rankable tools the order is the ratings': T2 (5.0) first, T0 (1.0) last, T1 (2.0) and T3 (neutral,
    # tied at the middle rank) between
    rankable = out[out["rankable"]].sort_values("rank").index.tolist()
    assert rankable[0] == "T2" and rankable[-1] == "T0" and set(rankable[1:3]) == {"T1", "T3"}
    assert out.loc["T2", "score_satisfaction"] > out.loc["T1", "score_satisfaction"] > out.loc["T0", "score_satisfaction"]
    # ... and a well-rated tool without evidence stays unrankable (coverage counts the four method parts)
    assert not out.loc["T9", "rankable"] and out.loc["T9", "score_coverage"] == pytest.approx(0.25)
    assert out.loc["T9", "rank"] == 5
    default = roi.order_scoreboard(roi.score_metrics(rated)).set_index("tool_id")
    assert default.loc["T2", "rank"] != out.loc["T2", "rank"] or default.loc["T0", "rank"] != out.loc["T0", "rank"]


def test_saved_weights_keep_the_optional_part_only_once_set(engine):
    from edtech.services import roi as service

    assert service.load_weights(engine) == roi.DEFAULT_WEIGHTS
    service.save_weights(engine, {**roi.DEFAULT_WEIGHTS, "satisfaction": 20})
    assert service.load_weights(engine)["satisfaction"] == 20.0


# ---------------------------------------------------------------- comments: the service decides

@pytest.fixture
def small_survey_db(engine):
    from edtech.store import data

    frames = {
        "schools": pd.DataFrame({"school_id": ["S1", "S2"], "school_name": ["One School", "Two School"]}),
        "tools": pd.DataFrame({"tool_id": ["T1"], "tool_name": ["Tool One"]}),
        "feedback": pd.DataFrame({"respondent_id": ["a", "b", "c"], "tool_id": "T1",
                                  "date": ["2026-03-02", "2026-03-03", "2026-03-04"],
                                  "role": ["teacher", "parent", "student"], "school_id": ["S1", "S2", "S1"],
                                  "rating": ["2", "4", "5"], "comment": ["Too hard", "=HYPERLINK(x)", None]}),
    }
    for kind, frame in frames.items():
        report = data.import_frame(engine, kind, frame.astype(str).where(frame.notna(), None), file_name=kind)
        assert report.ok, report.error_lines()
    return engine


@pytest.mark.parametrize("role", [Role.BOARD, Role.VIEWER])
def test_comments_are_refused_to_aggregate_only_roles(small_survey_db, role):
    from edtech.services import feedback, workspace

    assert role not in access.PERMISSIONS[access.Action.READ_COMMENTS]
    ws = workspace.Workspace(small_survey_db, principal=Principal(f"{role.value}@x.example", role))
    with pytest.raises(AccessDenied):
        feedback.comments(ws)


def test_comments_for_the_director_and_a_coordinators_own_schools(small_survey_db):
    from edtech.services import feedback, workspace

    director = feedback.comments(workspace.Workspace(small_survey_db, principal=access.SYSTEM))
    assert sorted(director["comment"]) == ["=HYPERLINK(x)", "Too hard"]       # rows without a comment left out
    assert director["date"].is_monotonic_decreasing
    table = feedback.comment_table(director)
    assert list(table.columns) == ["Date", "Tool", "Respondent", "School", "Rating", "Comment"]
    assert set(table["Respondent"]) == {"Teacher", "Parent"} and set(table["Tool"]) == {"Tool One"}
    coordinator = Principal("c@x.example", Role.COORDINATOR, schools=frozenset({"S1"}))
    mine = feedback.comments(workspace.Workspace(small_survey_db, principal=coordinator))
    assert mine["comment"].tolist() == ["Too hard"] and set(mine["school_id"]) == {"S1"}


# ---------------------------------------------------------------- the sample's survey

def test_sample_ratings_follow_the_planted_quality():
    from edtech.sample.feedback import TRUE_MEANS

    survey = pd.read_csv("data/samples/feedback.csv", dtype=str, keep_default_na=False)
    assert 500 <= len(survey) <= 1200 and set(survey["role"]) == {"teacher", "student", "parent"}
    assert not survey["respondent_id"].str.fullmatch(r"\d{6}").any()      # never a student ID
    ratings = survey.assign(rating=survey["rating"].astype(float))
    teachers = ratings[ratings["role"] == "teacher"].groupby("tool_id")["rating"].mean()
    planted = {"T01": 0.25, "T02": 0.15, "T04": 0.10, "T03": 0.0, "T05": -0.05}
    assert np.corrcoef([planted[t] for t in planted], [teachers[t] for t in planted])[0, 1] > 0.7
    assert (ratings.groupby("tool_id").size()["T09"]) < 10                  # digital dust: suppressed everywhere
    assert set(TRUE_MEANS) == set(survey["tool_id"])
    assert 30 <= (survey["comment"] != "").sum() <= 120


# ---------------------------------------------------------------- pages against `roi --format json`

def _cli_roi(capsys, url: str, *extra: str) -> dict[str, dict]:
    from edtech.cli.parser import main

    capsys.readouterr()
    assert main(["--db", url, *extra, "roi", "--format", "json"]) == 0
    return {r["tool_id"]: r for r in json.loads(capsys.readouterr().out)}


def _people(at) -> pd.DataFrame:
    tables = [d.value for d in at.dataframe if "Teachers" in d.value.columns]
    assert tables, "no 'What stakeholders say' table"
    return tables[0].set_index("Tool")


def _assert_presentable(at) -> None:
    """Issue 14: no header with '_', no cell showing None / nan / NaT in any table of the page."""
    for d in at.dataframe:
        frame = d.value
        assert not [c for c in frame.columns if "_" in str(c)], list(frame.columns)
        for col in frame.columns:
            for v in frame[col]:
                if isinstance(v, (list, tuple, np.ndarray)):
                    continue
                assert not (v is None or (not isinstance(v, str) and pd.isna(v))), (col, v)
                assert str(v) not in {"None", "nan", "NaT", "<NA>"}, (col, v)


def _cell(value: object) -> str:
    return value if isinstance(value, str) else f"{value:.1f} / 5"


def test_director_pages_show_the_cli_satisfaction(sample_db_url, capsys):
    from tests.apptest_utils import open_page

    cli = _cli_roi(capsys, sample_db_url)
    names = {r["tool_name"]: r["satisfaction"] for r in cli.values()}
    assert cli["T05"]["satisfaction"]["by_role"]["teacher"]["trend"] == "falling"
    assert cli["T05"]["satisfaction"]["summary"].startswith("Teachers rate it 2.4/5 (n=30) and falling")
    assert cli["T09"]["satisfaction"]["mean"] is None and cli["T09"]["satisfaction"]["responses"] == 8
    at = open_page("app_pages/tool_roi.py", timeout=240)
    people = _people(at)
    for tool, s in names.items():
        assert _cell(people.loc[tool, "Satisfaction"]) == ("—" if s["mean"] is None else f"{s['mean']:.1f} / 5")
        teacher = s["by_role"].get("teacher")
        if teacher:
            assert people.loc[tool, "Teachers"] == f"{teacher['mean']:.1f} / 5 ({teacher['n']})"
    at.toggle(key="roi_all_columns").set_value(True).run()
    at.selectbox(key="roi_tool").set_value("T05").run()
    assert not at.exception, at.exception
    _assert_presentable(at)
    detail = at.dataframe[0].value.set_index("Tool")
    assert _cell(detail.loc["Lexicon Lane", "Satisfaction"]) == f"{cli['T05']['satisfaction']['mean']:.1f} / 5"
    assert any(m.value == cli["T05"]["satisfaction"]["summary"] for m in at.markdown)
    assert any(e.label.startswith("Comments (") for e in at.expander)
    comments = [d.value for d in at.dataframe if "Comment" in d.value.columns]
    assert comments and len(comments[0]) > 0
    at = open_page("app_pages/vetting.py", timeout=240)
    inventory = at.dataframe[0].value.set_index("Tool")
    for tool, s in names.items():
        assert _cell(inventory.loc[tool, "Satisfaction"]) == ("—" if s["mean"] is None else f"{s['mean']:.1f} / 5")
    assert any("Comment" in d.value.columns for d in at.dataframe)
    _assert_presentable(at)
    at.toggle(key="vetting_all_columns").set_value(True).run()
    _assert_presentable(at)


def test_coordinator_sees_district_satisfaction_and_only_their_schools_comments(sample_db_url):
    from tests.apptest_utils import open_page

    at = open_page("app_pages/tool_roi.py", role="School coordinator", schools=["0202"], timeout=240)
    people = _people(at)
    assert "Mathigo Adaptive Math" not in people.index          # a middle school's tools only
    assert people.loc["Lexicon Lane", "Teachers"] == "2.4 / 5 (30)"  # district-wide, like the evidence
    at = open_page("app_pages/vetting.py", role="School coordinator", schools=["0202"], timeout=240)
    comments = [d.value for d in at.dataframe if "Comment" in d.value.columns]
    assert comments and set(comments[0]["School"]) == {"Harbor View Middle"}


@pytest.mark.parametrize("role", ["Board member", "Viewer"])
def test_aggregate_only_roles_see_suppressed_satisfaction_and_no_comments(sample_db_url, role):
    from tests.apptest_utils import open_page

    at = open_page("app_pages/tool_roi.py", role=role, timeout=240)
    people = _people(at)
    assert people.loc["CodeCanvas", "Teachers"] == "<10" and people.loc["CodeCanvas", "Satisfaction"] == "<10"
    assert people.loc["Lexicon Lane", "Teachers"] == "2.4 / 5 (30)"
    at.toggle(key="roi_all_columns").set_value(True).run()
    at.selectbox(key="roi_tool").set_value("T09").run()
    assert not at.exception, at.exception
    _assert_presentable(at)
    assert at.dataframe[0].value.set_index("Tool").loc["CodeCanvas", "Satisfaction"] == "<10"
    assert not any(e.label.startswith("Comments") for e in at.expander)
    assert not any("Comment" in d.value.columns for d in at.dataframe)
    assert not any("2.5/5" in m.value for m in at.markdown)             # the 8 teachers' mean stays hidden


def test_board_cli_json_marks_suppressed_figures(sample_db_url, capsys):
    from tests.apptest_utils import account_for

    email = account_for("Board member", url=sample_db_url)
    cli = _cli_roi(capsys, sample_db_url, "--as", email)
    t09 = cli["T09"]["satisfaction"]
    assert t09["mean"] == {"value": None, "display": "<10"} and t09["n"] == {"value": None, "display": "<10"}
    assert t09["by_role"]["teacher"]["mean"] == {"value": None, "display": "<10"}
    assert cli["T05"]["satisfaction"]["n"] == 92 and cli["T05"]["satisfaction"]["mean"] == pytest.approx(2.58)


def test_sample_weight_zero_is_the_board_without_feedback_and_a_large_weight_orders_by_rating(sample_db_url):
    from edtech.services import workspace
    from edtech.store import data

    ws = workspace.Workspace(data.make_engine(sample_db_url))
    rated = ws.district_board()
    assert ws.weights.get("satisfaction", 0) == 0
    survey = ws.whole.feedback
    ws.whole.feedback = survey.iloc[0:0]
    unrated = ws.district_board()
    shared = [c for c in unrated.columns if c not in {"score_satisfaction", "satisfaction_mean", "satisfaction_n"}]
    pd.testing.assert_frame_equal(rated[shared], unrated[shared])
    ws.whole.feedback = survey
    by_rating = ws.district_board({**ws.weights, "satisfaction": 10_000}).set_index("tool_id")
    rankable = by_rating[by_rating["rankable"]].sort_values("rank")
    assert rankable["satisfaction_mean"].is_monotonic_decreasing                # T01 4.06 > T04 > T02 > T03 > T05
    assert rankable.index.tolist() == ["T01", "T04", "T02", "T03", "T05"]
    assert set(by_rating.index[by_rating["rankable"]]) == set(rated.loc[rated["rankable"], "tool_id"])
