"""Overview charts' inputs: weekly active students and spend by category."""

from __future__ import annotations

import pandas as pd

from edtech.core import rules


def weekly_active_users(usage: pd.DataFrame) -> pd.DataFrame:
    """Distinct students with any use per week (≥1 session or >0 minutes)."""
    active = usage[rules.is_active_row(usage)]
    return weekly_active_from_counts(active.groupby("week_start")["student_id"].nunique())


def weekly_active_from_counts(per_week: pd.Series) -> pd.DataFrame:
    """The same series from distinct active students per week (the database's summary, issue 15)."""
    counts = per_week[per_week > 0].rename("active_users").rename_axis("week_start").astype("int64")
    if counts.empty:
        return counts.reset_index()
    # weeks with no use at all (holidays) are zeros, not gaps the chart would bridge
    weeks = pd.date_range(counts.index.min(), counts.index.max(), freq="7D", name="week_start")
    return counts.reindex(weeks, fill_value=0).reset_index()


def spend_by_category(tools: pd.DataFrame) -> pd.DataFrame:
    """Annual cost and idle license value per tool category (licensed tools)."""
    if tools.empty:
        return pd.DataFrame(columns=["category", "annual_cost", "idle_license_value"])
    return (tools.assign(category=tools["category"].fillna("uncategorized"))
            .groupby("category", as_index=False)[["annual_cost", "idle_license_value"]].sum()
            .sort_values("annual_cost", ascending=False))
