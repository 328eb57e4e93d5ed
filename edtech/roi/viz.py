"""Plotly figures of the Tool ROI page (pure: frames in, figures out; the board report reuses them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from edtech.core.charts import PALETTE, layout
from edtech.evidence import effects

LABEL_COLORS = {  # the one palette (core.charts): evidence strength, colour-vision-deficiency safe
    effects.LABEL_MODERATE: PALETTE["good"], effects.LABEL_PROMISING: PALETTE["light"],
    effects.LABEL_RATIONALE: PALETTE["warn"], effects.LABEL_NONE: PALETTE["neutral"],
    effects.LABEL_NEGATIVE: PALETTE["bad"], effects.LABEL_INSUFFICIENT: PALETTE["muted"],
    effects.LABEL_INCONCLUSIVE: PALETTE["purple"],
}


QUADRANT_LABEL_FONT = 11        # px
QUADRANT_LABEL_GAP = 20         # px between two labels' baselines (a line of 11 px text is ~14 px tall)
QUADRANT_MARGIN = dict(l=60, r=200, t=70, b=130)   # right: the label column; bottom: axis title and legend
QUADRANT_LABEL_CHARS = 26


def log_ticks(low: float, high: float) -> tuple[list[float], list[str]]:
    """Tick values at 1-2-5 of each decade between 10**low and 10**high (log10 bounds), as dollars: a log
    axis shows these and nothing else (plotly's own log ticks print every digit of a short range)."""
    values = [m * 10.0 ** d for d in range(int(np.floor(low)) - 1, int(np.ceil(high)) + 1) for m in (1, 2, 5)]
    values = [v for v in values if 10.0 ** low <= v <= 10.0 ** high]
    return values, [f"${v:,.0f}" if v >= 1 else f"${v:g}" for v in values]


def spread_labels(wanted: list[float], low: float, high: float, gap: float) -> list[float]:
    """Positions as close to `wanted` as possible, in the same order, at least `gap` apart and inside
    [low + gap/2, high - gap/2] (feasible when len(wanted) * gap <= high - low: the caller sizes for it)."""
    order = np.argsort(wanted, kind="stable")
    pos = np.asarray(wanted, dtype=float)[order]
    if not len(pos):
        return []
    pos[0] = max(pos[0], low + gap / 2)
    for i in range(1, len(pos)):          # push up what sits too close above its neighbour
        pos[i] = max(pos[i], pos[i - 1] + gap)
    pos[-1] = min(pos[-1], high - gap / 2)
    for i in range(len(pos) - 2, -1, -1):  # then down from the top, so nothing leaves the plot
        pos[i] = min(pos[i], pos[i + 1] - gap)
    out = np.empty_like(pos)
    out[order] = pos
    return out.tolist()


def _short(name: str, limit: int = QUADRANT_LABEL_CHARS) -> str:
    name = str(name)
    return name if len(name) <= limit else name[: limit - 1].rstrip() + "…"


def quadrant(board: pd.DataFrame) -> go.Figure:
    """Cost per active user (x, log, $ ticks at 1-2-5) vs effect size (y); bubble area = annual spend;
    colour = evidence. Tool names sit in a column right of the plot, each joined to its bubble by a thin
    line and spaced at least QUADRANT_LABEL_GAP px apart, so no two labels ever overlap."""
    fig = go.Figure()
    cost = pd.to_numeric(board["cost_per_active_user"], errors="coerce")
    t = board[cost.notna() & np.isfinite(cost) & (cost > 0)].copy()
    t["effect_plot"] = pd.to_numeric(t["effect_size"], errors="coerce").fillna(0.0)
    spend = t["annual_cost"].fillna(0.0).to_numpy(dtype=float)
    size = 12 + 48 * np.sqrt(spend / spend.max()) if len(t) and spend.max() > 0 else np.full(len(t), 14.0)
    t["_size"] = size
    for label, grp in t.groupby("evidence_label", sort=False):
        measured = grp["effect_size"].notna()
        fig.add_trace(go.Scatter(
            x=grp["cost_per_active_user"], y=grp["effect_plot"], mode="markers", name=label,
            text=grp["tool_name"],
            marker=dict(size=grp["_size"], color=LABEL_COLORS.get(label, PALETTE["neutral"]), opacity=0.75,
                        symbol=["circle" if m else "circle-open" for m in measured], line=dict(width=1)),
            customdata=np.column_stack([grp["annual_cost"], grp["effect_size"].fillna(np.nan), grp["utilization"]]),
            hovertemplate="<b>%{text}</b><br>$%{x:,.0f} per active student<br>effect %{customdata[1]:.2f} SD"
                          "<br>spend $%{customdata[0]:,.0f}<br>utilization %{customdata[2]:.0%}<extra></extra>"))
    plot_px = 300
    if len(t):
        low, high = np.log10(t["cost_per_active_user"].min()), np.log10(t["cost_per_active_user"].max())
        x_low, x_high = low - 0.3, high + 0.3
        tickvals, ticktext = log_ticks(x_low, x_high)
        fig.update_xaxes(range=[x_low, x_high], tickvals=tickvals, ticktext=ticktext)
        fig.add_hline(y=0, line_color=PALETTE["neutral"], line_width=1)
        # shapes on a log axis are placed in log10 units
        median = float(t["cost_per_active_user"].median())
        fig.add_vline(x=float(np.log10(median)), line_dash="dot", line_color=PALETTE["neutral"],
                      annotation_text=f"median ${median:,.0f}", annotation_position="top")
        # the label column: the plot is tall enough for every label at the gap, with room to spare
        plot_px = max(300, QUADRANT_LABEL_GAP * (len(t) + 2))
        # equal effects (every unmeasured tool sits at 0): the cheaper bubble takes the higher label, so
        # their label lines never cross
        t = t.sort_values(["effect_plot", "cost_per_active_user"], ascending=[True, False], kind="stable")
        y = t["effect_plot"].to_numpy(dtype=float)
        pad = max(0.1, 0.1 * float(y.max() - y.min()))
        y_low, y_high = min(float(y.min()), 0.0) - pad, max(float(y.max()), 0.0) + pad
        gap = QUADRANT_LABEL_GAP * (y_high - y_low) / plot_px
        label_y = spread_labels(list(y), y_low, y_high, gap)
        edge = 10.0 ** x_high
        line_x: list[float | None] = []
        line_y: list[float | None] = []
        for (_, r), ly in zip(t.iterrows(), label_y, strict=True):
            line_x += [float(r["cost_per_active_user"]), edge, None]
            line_y += [float(r["effect_plot"]), ly, None]
            fig.add_annotation(x=1.0, xref="paper", xanchor="left", xshift=6, y=ly, yref="y", yanchor="middle",
                               text=_short(r["tool_name"]), showarrow=False,
                               font=dict(size=QUADRANT_LABEL_FONT), name="tool_label")
        fig.add_trace(go.Scatter(x=line_x, y=line_y, mode="lines", line=dict(color=PALETTE["muted"], width=0.7),
                                 hoverinfo="skip", showlegend=False, name="label lines"))
        fig.data = (fig.data[-1], *fig.data[:-1])  # the lines behind the bubbles
        fig.update_yaxes(range=[y_low, y_high])
    fig.update_xaxes(title="Annual cost per active student ($, log scale)", type="log", minor=dict(ticks="", showgrid=False))
    fig.update_yaxes(title="Effect size (SD; hollow = not measured)")
    height = plot_px + QUADRANT_MARGIN["t"] + QUADRANT_MARGIN["b"]
    layout(fig, "Cost vs effect: top-left is the sweet spot (bubble = annual spend)", height=height)
    fig.update_layout(margin=QUADRANT_MARGIN,
                      # below the axis title (75 px under the plot), whatever the plot's height
                      legend=dict(orientation="h", x=0, xanchor="left", y=-75 / plot_px, yanchor="top"))
    fig.update_xaxes(automargin=False)
    fig.update_yaxes(automargin=True)
    return fig


def weekly_active(weekly: pd.DataFrame, seats: float | None = None) -> go.Figure:
    """Students active each week and in the trailing 4 weeks, against seats."""
    fig = go.Figure()
    fig.add_scatter(x=weekly["week_start"], y=weekly["active_users"], name="active that week",
                    mode="lines", line=dict(color=PALETTE["accent"]))
    fig.add_scatter(x=weekly["week_start"], y=weekly["active_4wk"], name="active in the trailing 4 weeks",
                    mode="lines", line=dict(color=PALETTE["good"], dash="dash"))
    if seats:
        fig.add_hline(y=seats, line_color=PALETTE["bad"], line_dash="dot", annotation_text=f"{int(seats):,} seats")
    fig.update_xaxes(title="Week")
    fig.update_yaxes(title="Students", rangemode="tozero")
    return layout(fig, "Weekly active students")


def school_breakdown(schools: pd.DataFrame) -> go.Figure:
    """Per school: utilization of its (allocated) seats, with the share meeting dosage."""
    s = schools.sort_values("utilization", ascending=True, na_position="first")
    fig = go.Figure()
    fig.add_bar(y=s["school_name"], x=s["utilization"].fillna(0) * 100, orientation="h", name="seats used",
                marker_color=PALETTE["accent"], customdata=s[["active_users", "seats"]].to_numpy(),
                hovertemplate="%{y}<br>%{x:.0f}% (%{customdata[0]:,} of %{customdata[1]:,.0f} seats)<extra></extra>")
    fig.add_bar(y=s["school_name"], x=s["fidelity_share"].fillna(0) * 100, orientation="h",
                name="licensed students meeting dosage", marker_color=PALETTE["good"])
    fig.add_vline(x=80, line_dash="dot", line_color=PALETTE["neutral"], annotation_text="80% fidelity")
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="% of seats")
    return layout(fig, "By school: seats used and dosage met", height=max(300, 40 * len(s) + 100))


def dosage_distribution(students: pd.DataFrame, recommended_minutes: float | None) -> go.Figure:
    """Histogram of users' average weekly minutes (over weeks used), with the 80% dosage line."""
    fig = go.Figure()
    for met, name, color in ((True, "met dosage", PALETTE["good"]), (False, "below dosage", PALETTE["warn"]),
                             (None, "no vendor dosage", PALETTE["neutral"])):
        if met is None:
            grp = students[students["dosage_met"].isna()]
        else:
            grp = students[students["dosage_met"].fillna(not met).astype(bool) == met]
        if len(grp):
            fig.add_histogram(x=grp["avg_weekly_minutes"], name=name, marker_color=color, nbinsx=40)
    if recommended_minutes and not pd.isna(recommended_minutes):
        fig.add_vline(x=0.8 * recommended_minutes, line_dash="dot", line_color=PALETTE["bad"],
                      annotation_text=f"80% of {recommended_minutes:.0f} min/week")
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="Average minutes per week used")
    fig.update_yaxes(title="Students", rangemode="tozero")
    return layout(fig, "Dosage: minutes per week of each student who used it")


def effect_forest(rows: pd.DataFrame) -> go.Figure:
    """Each estimate (naive gap, adjusted, matched, below dosage) with its 95% CI."""
    fig = go.Figure()
    items = []
    for _, r in rows.iterrows():
        name = r.get("assessment") or "assessment"
        for prefix, label in (("adjusted_", "adjusted (regression)"), ("matched_", "matched comparison"),
                              ("below_", "below-dosage users")):
            est = r.get(prefix + "effect_size")
            if est is not None and not pd.isna(est):
                items.append((f"{name}: {label}", est, r.get(prefix + "effect_ci_low"), r.get(prefix + "effect_ci_high")))
        gap = r.get("descriptive_gap")
        if gap is not None and not pd.isna(gap):
            items.append((f"{name}: unadjusted gap", gap, None, None))
    if items:
        names = [i[0] for i in items]
        est = np.array([i[1] for i in items], dtype=float)
        low = np.array([np.nan if i[2] is None else i[2] for i in items], dtype=float)
        high = np.array([np.nan if i[3] is None else i[3] for i in items], dtype=float)
        fig.add_scatter(x=est, y=names, mode="markers", marker=dict(size=11, color=PALETTE["accent"]),
                        error_x=dict(type="data", symmetric=False, array=np.nan_to_num(high - est),
                                     arrayminus=np.nan_to_num(est - low)),
                        hovertemplate="%{y}: %{x:.3f} SD<extra></extra>", showlegend=False)
    fig.add_vline(x=0, line_color=PALETTE["neutral"])
    fig.update_xaxes(title="Effect size (SD units), 95% interval")
    return layout(fig, "Effect estimates", height=max(260, 45 * len(items) + 120))
