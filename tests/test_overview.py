"""District overview KPIs and charts (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from edtech.adoption.overview import weekly_active_users
from edtech.core import charts as viz


def test_weekly_active_users_counts_distinct_students_and_zero_fills_holidays():
    usage = pd.DataFrame({
        "student_id": ["a", "a", "b", "a", "c"],
        "tool_id": ["t1", "t2", "t1", "t1", "t1"],
        "week_start": pd.to_datetime(["2025-09-01", "2025-09-01", "2025-09-01", "2025-09-15", "2025-09-15"]),
        "minutes": [10.0, 5.0, 0.0, 3.0, 0.0],
        "sessions": [1, 1, 0, 1, 1],
    })
    weekly = weekly_active_users(usage)
    assert weekly["active_users"].tolist() == [1, 0, 2]  # b had no use; the week of 09-08 is a gap -> 0
    assert weekly["week_start"].dt.day_of_week.eq(0).all()


def test_key_figures_from_scoreboard():
    from edtech.roi.figures import key_figures

    board = pd.DataFrame({
        "tool_id": ["t1", "t2", "t3"], "tool_name": ["A", "B", "C"], "category": ["math", None, "ela"],
        "seats": [100, 50, 0], "active_users": [90, 10, 40], "utilization": [0.9, 0.2, float("nan")],
        "annual_cost": [1000.0, 500.0, 0.0], "ingredients_cost": [1100.0, 500.0, 0.0],
        "idle_license_value": [50.0, 400.0, 0.0], "effect_size": [0.2, None, None],
        "evidence_label": ["Moderate (Tier II-like)", "Insufficient data", "Insufficient data"],
        "right_size_savings": [0.0, 300.0, 0.0], "savings_if_followed": [0.0, 300.0, 0.0],
        "recommendation": ["renew", "right-size to 20 seats", "study"],
    })
    usage = pd.DataFrame({"student_id": ["s1", "s2", "s1", "x"], "tool_id": ["t1", "t1", "t2", "t1"]})
    students = pd.DataFrame({"student_id": ["s1", "s2", "s3"]})
    k = key_figures(board, usage, students)
    # the unlicensed tool (no seats) is in the catalogue, not in the spend or the underused count
    assert k["tools_licensed"] == 2
    assert k["annual_spend"] == 1500.0
    assert k["utilization"] == pytest.approx(100 / 150)
    assert k["underused_spend"] == 500.0 and k["underused_tools"] == 1
    assert k["underused_share"] == pytest.approx(1 / 3)
    assert k["students_using_tools"] == 2            # x is not one of the scope's students
    assert k["recommendations"]["right_size"] == 1 and k["recommendations"]["study"] == 0
    assert k["right_size_savings_per_year"] == 300.0


def test_spend_by_category_and_utilization_chart():
    from edtech.adoption.overview import spend_by_category

    tools = pd.DataFrame({"tool_name": ["A", "B"], "category": ["math", None], "seats": [100, 50],
                          "active_users": [90, 10], "utilization": [0.9, 0.2], "annual_cost": [1000.0, 500.0],
                          "idle_license_value": [50.0, 400.0]})
    assert set(spend_by_category(tools)["category"]) == {"math", "uncategorized"}
    fig = viz.utilization_bar(tools)
    assert list(fig.data[0].y) == ["B", "A"]          # worst first from the bottom
    assert fig.data[0].marker.color[0] == viz.PALETTE["bad"]
