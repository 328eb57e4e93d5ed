"""District overview KPIs and charts (pure)."""

from __future__ import annotations

import pandas as pd
import pytest

from edtech.adoption.overview import summarize_district, weekly_active_users
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


def test_summary_kpis_from_scoreboard():
    from edtech.core.district import District

    board = pd.DataFrame({
        "tool_id": ["t1", "t2"], "tool_name": ["A", "B"], "category": ["math", None],
        "seats": [100, 50], "active_users": [90, 10], "utilization": [0.9, 0.2],
        "annual_cost": [1000.0, 500.0], "idle_license_value": [50.0, 400.0],
    })
    district = District()
    ov = summarize_district(district, board)
    assert ov.kpis["annual_spend"] == 1500.0
    assert ov.kpis["utilization"] == pytest.approx(100 / 150)
    assert ov.kpis["underused_spend"] == 500.0
    assert ov.kpis["underused_share"] == pytest.approx(1 / 3)
    assert set(ov.spend_by_category["category"]) == {"math", "uncategorized"}
    fig = viz.utilization_bar(ov.tools)
    assert list(fig.data[0].y) == ["B", "A"]          # worst first from the bottom
    assert fig.data[0].marker.color[0] == viz.PALETTE["bad"]


def test_summary_of_empty_district_is_empty():
    from edtech.core.district import District

    ov = summarize_district(District(), pd.DataFrame())
    assert ov.kpis == {}
