"""District overview: the headline numbers a director opens the app for."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from edtech.core.district import District


@dataclass
class Overview:
    kpis: dict[str, float]
    tools: pd.DataFrame                       # scoreboard subset, one row per tool
    spend_by_category: pd.DataFrame           # category, annual_cost, idle_license_value
    weekly_active: pd.DataFrame               # week_start, active_users (distinct students)
    notes: list[str] = field(default_factory=list)


def weekly_active_users(usage: pd.DataFrame) -> pd.DataFrame:
    """Distinct students with any use per week (≥1 session or >0 minutes)."""
    active = usage[(usage["minutes"] > 0) | (usage["sessions"] > 0)]
    counts = active.groupby("week_start")["student_id"].nunique().rename("active_users")
    if counts.empty:
        return counts.reset_index()
    # weeks with no use at all (holidays) are zeros, not gaps the chart would bridge
    weeks = pd.date_range(counts.index.min(), counts.index.max(), freq="7D", name="week_start")
    return counts.reindex(weeks, fill_value=0).reset_index()


def summarize_district(district: District, scoreboard: pd.DataFrame) -> Overview:
    """KPIs from the ROI scoreboard (same definitions as the Tool ROI page)."""
    if scoreboard.empty:
        return Overview(kpis={}, tools=scoreboard, spend_by_category=pd.DataFrame(
            columns=["category", "annual_cost", "idle_license_value"]), weekly_active=weekly_active_users(district.usage))
    t = scoreboard
    seats = float(t["seats"].fillna(0).sum())
    active = float(t["active_users"].fillna(0).sum())
    underused = t["utilization"].fillna(0) < 0.5
    spend = float(t["annual_cost"].fillna(0).sum())
    kpis = {
        "tools": float(len(t)),
        "annual_spend": spend,
        "seats": seats,
        "active_users": float(district.usage.loc[district.usage["minutes"] > 0, "student_id"].nunique()),
        "tool_active_users": active,
        "utilization": active / seats if seats else float("nan"),
        "underused_spend": float(t.loc[underused, "annual_cost"].fillna(0).sum()),
        "underused_share": float(t.loc[underused, "annual_cost"].fillna(0).sum()) / spend if spend else float("nan"),
        "idle_license_value": float(t["idle_license_value"].fillna(0).sum()),
        "students": float(len(district.students)),
        "schools": float(len(district.schools)),
    }
    by_cat = (t.assign(category=t["category"].fillna("uncategorized"))
              .groupby("category", as_index=False)[["annual_cost", "idle_license_value"]].sum()
              .sort_values("annual_cost", ascending=False))
    notes = []
    if kpis["underused_spend"] > 0:
        n = int(underused.sum())
        notes.append(f"{n} tool(s) are used by fewer than half of their seats: "
                     f"${kpis['underused_spend']:,.0f} of annual spend.")
    return Overview(kpis=kpis, tools=t, spend_by_category=by_cat, weekly_active=weekly_active_users(district.usage),
                    notes=notes)
