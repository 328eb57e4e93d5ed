"""Plotly figure builders for school adoption and equity (pure: DataFrames in, go.Figure out).

Shared by the app page and the board report so both draw the same chart.
"""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from edtech.adoption.engine import DOSAGE_BIN_WIDTH, DOSAGE_CAP, DOSAGE_SHARE, dosage_bins, dosage_histogram
from edtech.core.charts import PALETTE, SEQUENTIAL, finish, series_style

SMALL_MULTIPLE_COLUMNS = 3
SMALL_MULTIPLE_ROW_PX = 170


def _empty(title: str, message: str) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_layout(xaxis_visible=False, yaxis_visible=False)
    return finish(fig, title, legend=False)


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
        zmin=0, zmax=1, colorscale=SEQUENTIAL, colorbar=dict(title="", tickformat=".0%"),
        hovertemplate="%{y}<br>%{x}<br>" + value.replace("_", " ") + ": %{z:.0%}<extra></extra>"))
    return finish(fig, title, height=max(320, 28 * len(grid) + 140), legend=False)


def weekly_trend_lines(weekly: pd.DataFrame, tools: pd.DataFrame, title: str = "Weekly active users") -> go.Figure:
    """One line per tool: distinct active students per week (summed over the schools shown)."""
    if weekly.empty:
        return _empty(title, "No usage recorded")
    per = weekly.groupby(["week_start", "tool_id"], as_index=False)["active_users"].sum()
    names = _names(tools)
    fig = go.Figure()
    for i, (tool_id, grp) in enumerate(per.groupby("tool_id")):
        style = series_style(i)
        fig.add_trace(go.Scatter(x=grp["week_start"], y=grp["active_users"], mode="lines",
                                 name=names.get(tool_id, tool_id), line={"color": style["color"], "dash": style["dash"]}))
    fig.update_layout(yaxis_title="students active that week", hovermode="x unified", yaxis_rangemode="tozero")
    return finish(fig, title, height=420)


def dosage_distribution(dist: pd.DataFrame, tools: pd.DataFrame,
                        title: str = "Dosage: share of the recommended weekly minutes reached") -> go.Figure:
    """One small histogram per tool of each active student's average weekly minutes ÷ the vendor's
    recommendation: side by side, not overlaid, so every tool's shape can be read. The x axis (0–200%) is the
    same in every panel; each panel's count axis fits its tool (plotly's matched axes mis-scale histograms).

    `dist`: students per tool × bar (`engine.dosage_histogram`), or one row per student × tool with its
    `dosage_ratio` (`engine.dosage_distribution`), binned here: the chart carries the bars' counts, not a
    point per student."""
    if "dosage_ratio" in dist.columns:
        dist = dosage_histogram(dosage_bins(dist))
    if dist.empty:
        return _empty(title, "No tool with a recommended dosage has been used")
    names = _names(tools)
    groups = sorted(dist.groupby("tool_id"), key=lambda g: str(names.get(g[0], g[0])))
    cols = min(SMALL_MULTIPLE_COLUMNS, len(groups))
    rows = math.ceil(len(groups) / cols)
    fig = make_subplots(rows=rows, cols=cols,
                        subplot_titles=[_clip(str(names.get(t, t))) for t, _ in groups],
                        horizontal_spacing=0.06, vertical_spacing=min(0.16, 0.6 / rows))
    lines = []
    for i, (tool_id, grp) in enumerate(groups):
        r, c = i // cols + 1, i % cols + 1
        # one point a quarter into each bar, weighted by its students: plotly sums them into the same bars
        fig.add_trace(go.Histogram(x=(grp["bin"] + 0.25) * DOSAGE_BIN_WIDTH, y=grp["students"], histfunc="sum",
                                   name=str(names.get(tool_id, tool_id)),
                                   xbins=dict(start=0, end=DOSAGE_CAP + DOSAGE_BIN_WIDTH / 2, size=DOSAGE_BIN_WIDTH),
                                   marker_color=PALETTE["accent"], showlegend=False,
                                   hovertemplate="%{x}: %{y:,} students<extra></extra>"), row=r, col=c)
        # the dosage line of this panel, as add_vline(row, col) draws it (one layout update for every panel:
        # add_vline re-validates the whole layout each time)
        trace = fig.data[-1]
        lines.append({"type": "line", "x0": DOSAGE_SHARE, "x1": DOSAGE_SHARE, "xref": trace.xaxis, "y0": 0, "y1": 1,
                      "yref": f"{trace.yaxis} domain", "line": {"dash": "dash", "color": PALETTE["bad"]}})
    fig.update_layout(shapes=lines)
    fig.update_xaxes(tickformat=".0%", range=[0, DOSAGE_CAP + DOSAGE_BIN_WIDTH / 2])
    fig.update_yaxes(rangemode="tozero")
    for c in range(1, cols + 1):
        fig.update_xaxes(title_text="minutes ÷ recommended", row=rows, col=c)
    fig.update_yaxes(title_text="students", col=1)
    finish(fig, title + f" (dashed: {DOSAGE_SHARE:.0%}; capped at 200%)", height=90 + SMALL_MULTIPLE_ROW_PX * rows,
           legend=False)
    fig.update_annotations(font_size=12)
    return fig


def _clip(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def pd_before_after(window: pd.DataFrame, title: str) -> go.Figure:
    """Weekly active users around a PD date: bars coloured before / PD week / after, with period means."""
    if window.empty:
        return _empty(title, "No usage around this PD date")
    colors = {"before": PALETTE["muted"], "PD week": PALETTE["warn"], "after": PALETTE["accent"]}
    fig = go.Figure()
    for period, grp in window.groupby("period", sort=False):
        fig.add_trace(go.Bar(x=grp["week_start"], y=grp["active_users"], name=period,
                             marker_color=colors.get(period)))
        if period != "PD week" and len(grp):
            fig.add_trace(go.Scatter(x=grp["week_start"], y=[grp["active_users"].mean()] * len(grp), mode="lines",
                                     line=dict(color=colors.get(period), dash="dot"), name=f"mean {period}"))
    fig.update_layout(yaxis_title="students active that week", yaxis_rangemode="tozero")
    return finish(fig, title)


def frl_quartile_bars(equity: pd.DataFrame, title: str = "Use by school poverty (FRL quartile)") -> go.Figure:
    """Active share and dosage-met share by FRL quartile; quartiles with a gap drawn in red."""
    rows = equity[equity["frl_quartile"] != "unknown"]
    if rows.empty:
        return _empty(title, "No schools with an FRL share")
    labels = [f"{q} ({r})" if r else q for q, r in zip(rows["frl_quartile"], rows["frl_range"], strict=True)]
    gap = rows["gap"].fillna(False).astype(bool).to_numpy()
    fig = go.Figure()
    # one trace per meaning, so the legend shows every colour (a gap quartile is a separate, hatched series)
    for name, mask, color, pattern in (("students using it", ~gap, PALETTE["accent"], ""),
                                       ("students using it (gap vs other quartiles)", gap, PALETTE["bad"], "/")):
        if mask.any():
            fig.add_trace(go.Bar(x=[label for label, m in zip(labels, mask, strict=True) if m], y=rows["active_share"][mask],
                                 name=name, marker_color=color, marker_pattern_shape=pattern, offsetgroup="active"))
    fig.add_trace(go.Bar(x=labels, y=rows["dosage_met_share"], name="of users, met dosage",
                         marker_color=PALETTE["muted"], offsetgroup="dosage"))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_range=[0, 1],
                      xaxis_title="FRL quartile of schools (Q1 = lowest poverty)",
                      xaxis={"categoryorder": "array", "categoryarray": labels})
    return finish(fig, title)


def device_coverage_bars(coverage: pd.DataFrame, title: str = "Active devices per student") -> go.Figure:
    """Devices per student per school (red below target) with the share past refresh/AUE as a second bar."""
    rows = coverage[coverage["students"] > 0]
    if rows.empty or rows["devices"].sum() == 0:
        return _empty(title, "No device inventory loaded")
    rows = rows.sort_values("devices_per_student")
    below = rows["coverage_gap"].fillna(False).astype(bool).to_numpy()
    fig = go.Figure()
    # one trace per colour so the legend names each of them (a colour list on one trace shows only one swatch)
    for name, mask, color in (("active devices per student", ~below, PALETTE["accent"]),
                              ("active devices per student (below target)", below, PALETTE["bad"])):
        if mask.any():
            fig.add_trace(go.Bar(y=rows["school_name"][mask], x=rows["devices_per_student"][mask], orientation="h",
                                 name=name, marker_color=color, offsetgroup="devices"))
    fig.add_trace(go.Bar(y=rows["school_name"], x=rows["past_refresh_or_aue_share"], orientation="h",
                         name="share past refresh age or AUE", marker_color=PALETTE["warn"], offsetgroup="old"))
    fig.add_vline(x=1.0, line_dash="dash", line_color=PALETTE["neutral"], annotation_text="1:1",
                  annotation_position="top right")
    fig.update_layout(barmode="group", yaxis={"categoryorder": "array", "categoryarray": list(rows["school_name"])},
                      xaxis={"title": "devices per student (bars) · share past refresh (orange)", "rangemode": "tozero"})
    return finish(fig, title, height=max(320, 40 * len(rows) + 160))


def aggregate_top_products(top: pd.DataFrame, title: str = "Top products by average daily access") -> go.Figure:
    """Horizontal bars: average share of students reaching each product on a day."""
    if top.empty:
        return _empty(title, "No engagement data")
    rows = top.iloc[::-1]
    fig = go.Figure(go.Bar(y=rows["tool_name"], x=rows["avg_pct_access"], orientation="h",
                           marker_color=PALETTE["accent"], hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_layout(xaxis_tickformat=".0%", xaxis_title="average share of students with ≥ 1 visit a day",
                      xaxis_rangemode="tozero")
    return finish(fig, title, height=max(320, 30 * len(rows) + 140), legend=False)


def aggregate_trend(weekly: pd.DataFrame, tools: pd.DataFrame, marker: pd.Timestamp | None = None,
                    marker_label: str = "", value: str = "pct_access",
                    title: str = "Weekly engagement (aggregate source)") -> go.Figure:
    """Weekly mean pct_access (or engagement_index) per product, with an optional dated marker line."""
    if weekly.empty:
        return _empty(title, "No engagement data")
    if weekly[value].notna().sum() == 0:
        return _empty(title, "The engagement file has no " + ("pct_access" if value == "pct_access"
                                                               else "engagement_index") + " values")
    names = _names(tools)
    fig = go.Figure()
    for i, (tool_id, grp) in enumerate(weekly.groupby("tool_id", sort=False)):
        style = series_style(i)
        fig.add_trace(go.Scatter(x=grp["week_start"], y=grp[value], mode="lines", name=names.get(tool_id, tool_id),
                                 line={"color": style["color"], "dash": style["dash"]}))
    if marker is not None and weekly["week_start"].min() <= marker <= weekly["week_start"].max():
        # add_vline's annotation cannot place a Timestamp on a date axis: draw the line and label separately
        fig.add_shape(type="line", x0=marker, x1=marker, y0=0, y1=1, yref="paper",
                      line=dict(dash="dash", color=PALETTE["bad"]))
        # inside the plot, right of the line: above it the legend sits
        fig.add_annotation(x=marker, y=1, yref="paper", text=marker_label, showarrow=False, yanchor="top",
                           xanchor="left", xshift=4, bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(hovermode="x unified", yaxis_rangemode="tozero",
                      yaxis_tickformat=".0%" if value == "pct_access" else None,
                      yaxis_title="share of students with ≥ 1 visit a day" if value == "pct_access"
                      else "page loads per 1,000 students")
    return finish(fig, title, height=460)


def aggregate_engagement_total(total: pd.DataFrame, marker: pd.Timestamp | None = None, marker_label: str = "",
                               title: str = "All products: page loads per 1,000 students a day") -> go.Figure:
    """Weekly mean of the summed daily engagement index over every product."""
    if total.empty:
        return _empty(title, "No engagement data")
    values = pd.to_numeric(total["engagement_index"], errors="coerce")
    if values.notna().sum() == 0 or float(values.fillna(0).abs().sum()) == 0.0:
        # an export without the engagement_index column: say so instead of drawing a flat, empty line
        return _empty(title, "The engagement file has no engagement_index values (page loads per 1,000 students)")
    fig = go.Figure(go.Scatter(x=total["week_start"], y=values, mode="lines", name="all products",
                               line={"color": PALETTE["accent"]},
                               hovertemplate="week of %{x|%b %d, %Y}: %{y:,.0f} page loads per 1,000 students"
                                             "<extra></extra>"))
    if marker is not None and total["week_start"].min() <= marker <= total["week_start"].max():
        fig.add_shape(type="line", x0=marker, x1=marker, y0=0, y1=1, yref="paper",
                      line=dict(dash="dash", color=PALETTE["bad"]))
        # inside the plot, right of the line: above it the legend sits
        fig.add_annotation(x=marker, y=1, yref="paper", text=marker_label, showarrow=False, yanchor="top",
                           xanchor="left", xshift=4, bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(yaxis={"title": "page loads per 1,000 students", "rangemode": "tozero"},
                      xaxis_title="week")
    return finish(fig, title, legend=False)
