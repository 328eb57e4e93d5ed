"""Plotly figure builders for school adoption and equity (pure: DataFrames in, go.Figure out).

Shared by the app page and the board report so both draw the same chart.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from edtech.adoption.engine import DOSAGE_SHARE

_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=50, b=10), legend_title_text="")


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False, **_LAYOUT)
    return fig


def _names(tools: pd.DataFrame) -> dict[str, str]:
    return dict(zip(tools["tool_id"], tools["tool_name"].fillna(tools["tool_id"]), strict=False))


def adoption_heatmap(adoption: pd.DataFrame, value: str = "utilization",
                     title: str = "Utilization by school and tool") -> go.Figure:
    """Schools (rows) × tools (columns) coloured by a share column (utilization, fidelity …), 0–100%."""
    rows = adoption[adoption["licensed_students"] > 0] if value == "utilization" else adoption
    if rows.empty or rows[value].notna().sum() == 0:
        return _empty(title, "No licensed tools with usage yet")
    grid = rows.pivot_table(index="school_name", columns="tool_name", values=value, aggfunc="first")
    grid = grid.sort_index(ascending=False)
    text = grid.map(lambda v: "" if pd.isna(v) else f"{v:.0%}")
    fig = go.Figure(go.Heatmap(
        z=grid.to_numpy(), x=list(grid.columns), y=list(grid.index), text=text.to_numpy(), texttemplate="%{text}",
        zmin=0, zmax=1, colorscale="RdYlGn", colorbar=dict(title="", tickformat=".0%"),
        hovertemplate="%{y}<br>%{x}<br>" + value.replace("_", " ") + ": %{z:.0%}<extra></extra>"))
    fig.update_layout(title=title, height=max(320, 28 * len(grid) + 140), **_LAYOUT)
    return fig


def weekly_trend_lines(weekly: pd.DataFrame, tools: pd.DataFrame, title: str = "Weekly active users") -> go.Figure:
    """One line per tool: distinct active students per week (summed over the schools shown)."""
    if weekly.empty:
        return _empty(title, "No usage recorded")
    per = weekly.groupby(["week_start", "tool_id"], as_index=False)["active_users"].sum()
    names = _names(tools)
    fig = go.Figure()
    for tool_id, grp in per.groupby("tool_id"):
        fig.add_trace(go.Scatter(x=grp["week_start"], y=grp["active_users"], mode="lines",
                                 name=names.get(tool_id, tool_id)))
    fig.update_layout(title=title, yaxis_title="students active that week", hovermode="x unified", **_LAYOUT)
    return fig


def dosage_distribution(dist: pd.DataFrame, tools: pd.DataFrame,
                        title: str = "Dosage: share of the recommended weekly minutes reached") -> go.Figure:
    """Histogram per tool of each active student's average weekly minutes ÷ the vendor's recommendation."""
    if dist.empty:
        return _empty(title, "No tool with a recommended dosage has been used")
    names = _names(tools)
    fig = go.Figure()
    for tool_id, grp in dist.groupby("tool_id"):
        fig.add_trace(go.Histogram(x=grp["dosage_ratio"].clip(upper=2.0), name=names.get(tool_id, tool_id),
                                   xbins=dict(start=0, end=2.05, size=0.1), opacity=0.7))
    fig.add_vline(x=DOSAGE_SHARE, line_dash="dash", annotation_text=f"{DOSAGE_SHARE:.0%} of recommended")
    fig.update_layout(title=title, barmode="overlay", xaxis_tickformat=".0%",
                      xaxis_title="average weekly minutes ÷ recommended (capped at 200%)",
                      yaxis_title="students", **_LAYOUT)
    return fig


def pd_before_after(window: pd.DataFrame, title: str) -> go.Figure:
    """Weekly active users around a PD date: bars coloured before / PD week / after, with period means."""
    if window.empty:
        return _empty(title, "No usage around this PD date")
    colors = {"before": "#9aa5b1", "PD week": "#f0b429", "after": "#2680c2"}
    fig = go.Figure()
    for period, grp in window.groupby("period", sort=False):
        fig.add_trace(go.Bar(x=grp["week_start"], y=grp["active_users"], name=period,
                             marker_color=colors.get(period)))
        if period != "PD week" and len(grp):
            fig.add_trace(go.Scatter(x=grp["week_start"], y=[grp["active_users"].mean()] * len(grp), mode="lines",
                                     line=dict(color=colors.get(period), dash="dot"), name=f"mean {period}"))
    fig.update_layout(title=title, yaxis_title="students active that week", **_LAYOUT)
    return fig


def frl_quartile_bars(equity: pd.DataFrame, title: str = "Use by school poverty (FRL quartile)") -> go.Figure:
    """Active share and dosage-met share by FRL quartile; quartiles with a gap drawn in red."""
    rows = equity[equity["frl_quartile"] != "unknown"]
    if rows.empty:
        return _empty(title, "No schools with an FRL share")
    labels = [f"{q} ({r})" if r else q for q, r in zip(rows["frl_quartile"], rows["frl_range"], strict=True)]
    colors = ["#d64545" if g else "#2680c2" for g in rows["gap"]]
    fig = go.Figure([
        go.Bar(x=labels, y=rows["active_share"], name="students using it", marker_color=colors),
        go.Bar(x=labels, y=rows["dosage_met_share"], name="of users, met dosage", marker_color="#9aa5b1")])
    fig.update_layout(title=title, barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1],
                      xaxis_title="FRL quartile of schools (Q1 = lowest poverty)", **_LAYOUT)
    return fig


def device_coverage_bars(coverage: pd.DataFrame, title: str = "Active devices per student") -> go.Figure:
    """Devices per student per school (red below target) with the share past refresh/AUE as a second bar."""
    rows = coverage[coverage["students"] > 0]
    if rows.empty or rows["devices"].sum() == 0:
        return _empty(title, "No device inventory loaded")
    rows = rows.sort_values("devices_per_student")
    colors = ["#d64545" if g else "#2680c2" for g in rows["coverage_gap"]]
    fig = go.Figure([
        go.Bar(y=rows["school_name"], x=rows["devices_per_student"], orientation="h", name="active devices per student",
               marker_color=colors),
        go.Bar(y=rows["school_name"], x=rows["past_refresh_or_aue_share"], orientation="h",
               name="share past refresh age or AUE", marker_color="#f0b429")])
    fig.add_vline(x=1.0, line_dash="dash", annotation_text="1:1")
    fig.update_layout(title=title, barmode="group", height=max(320, 40 * len(rows) + 140), **_LAYOUT)
    return fig


def aggregate_top_products(top: pd.DataFrame, title: str = "Top products by average daily access") -> go.Figure:
    """Horizontal bars: average share of students reaching each product on a day."""
    if top.empty:
        return _empty(title, "No engagement data")
    rows = top.iloc[::-1]
    fig = go.Figure(go.Bar(y=rows["tool_name"], x=rows["avg_pct_access"], orientation="h",
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_layout(title=title, xaxis_tickformat=".0%", xaxis_title="average share of students with ≥ 1 visit a day",
                      height=max(320, 30 * len(rows) + 140), **_LAYOUT)
    return fig


def aggregate_trend(weekly: pd.DataFrame, tools: pd.DataFrame, marker: pd.Timestamp | None = None,
                    marker_label: str = "", value: str = "pct_access",
                    title: str = "Weekly engagement (aggregate source)") -> go.Figure:
    """Weekly mean pct_access (or engagement_index) per product, with an optional dated marker line."""
    if weekly.empty:
        return _empty(title, "No engagement data")
    names = _names(tools)
    fig = go.Figure()
    for tool_id, grp in weekly.groupby("tool_id"):
        fig.add_trace(go.Scatter(x=grp["week_start"], y=grp[value], mode="lines", name=names.get(tool_id, tool_id)))
    if marker is not None and weekly["week_start"].min() <= marker <= weekly["week_start"].max():
        # add_vline's annotation cannot place a Timestamp on a date axis: draw the line and label separately
        fig.add_shape(type="line", x0=marker, x1=marker, y0=0, y1=1, yref="paper", line=dict(dash="dash", color="#d64545"))
        fig.add_annotation(x=marker, y=1, yref="paper", text=marker_label, showarrow=False, yanchor="bottom")
    fig.update_layout(title=title, hovermode="x unified",
                      yaxis_tickformat=".0%" if value == "pct_access" else None,
                      yaxis_title="share of students with ≥ 1 visit a day" if value == "pct_access"
                      else "page loads per 1,000 students", **_LAYOUT)
    return fig


def aggregate_engagement_total(total: pd.DataFrame, marker: pd.Timestamp | None = None, marker_label: str = "",
                               title: str = "All products: page loads per 1,000 students a day") -> go.Figure:
    """Weekly mean of the summed daily engagement index over every product."""
    if total.empty:
        return _empty(title, "No engagement data")
    fig = go.Figure(go.Scatter(x=total["week_start"], y=total["engagement_index"], mode="lines", name="all products"))
    if marker is not None and total["week_start"].min() <= marker <= total["week_start"].max():
        fig.add_shape(type="line", x0=marker, x1=marker, y0=0, y1=1, yref="paper", line=dict(dash="dash", color="#d64545"))
        fig.add_annotation(x=marker, y=1, yref="paper", text=marker_label, showarrow=False, yanchor="bottom")
    fig.update_layout(title=title, **_LAYOUT)
    return fig
