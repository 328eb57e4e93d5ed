"""Charts of the interventions capability (pure plotly builders: the app and the board report draw the same
figure): one student's progress-monitoring probes with the goal line and the trend during the support, and the
coverage funnel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from edtech.core import charts as theme
from edtech.interventions.progress import ols_slope

FUNNEL_LABELS = {"flagged": "Flagged", "served_30d": "Served within 30 days", "on_track": "On track",
                 "met_goal": "Met goal"}


def progress_figure(probes: pd.DataFrame, support: pd.Series | dict, title: str = "") -> go.Figure:
    """One student's probes of one measure (`probes`: date, score, goal) around one support (`support`:
    intervention, start_date, end_date, target_date optional): the scores, the goal as a dashed line, the
    support's period shaded, and the OLS trend of the probes during the support extended to the target date
    (the on-track rule of `progress.student_progress`)."""
    probes = probes.dropna(subset=["date", "score"]).sort_values("date")
    start = pd.Timestamp(support["start_date"])
    end = support.get("end_date") if isinstance(support, dict) else support.get("end_date")
    end = pd.Timestamp(end) if end is not None and not pd.isna(end) else None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=probes["date"], y=probes["score"], mode="lines+markers", name="Score",
                             line={"color": theme.PALETTE["accent"]},
                             hovertemplate="%{x|%Y-%m-%d}: %{y:.0f}<extra></extra>"))
    during = probes[(probes["date"] >= start) & ((probes["date"] <= end) if end is not None else True)]
    target = support.get("target_date") if isinstance(support, dict) else support.get("target_date")
    target = pd.Timestamp(target) if target is not None and not pd.isna(target) else None
    if len(during) >= 2:
        weeks = (during["date"] - start).dt.days.to_numpy(dtype=float) / 7.0
        intercept, slope = ols_slope(weeks, during["score"].to_numpy(dtype=float))
        if np.isfinite(slope):
            last = max([d for d in (target, during["date"].max()) if d is not None])
            xs = [during["date"].min(), last]
            ys = [intercept + slope * ((x - start).days / 7.0) for x in xs]
            fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=f"Trend during ({slope:+.1f} a week)",
                                     line={"dash": "dot", "color": theme.PALETTE["neutral"]},
                                     hovertemplate="%{x|%Y-%m-%d}: %{y:.0f} (trend)<extra></extra>"))
    goals = pd.to_numeric(probes.get("goal", pd.Series(dtype=float)), errors="coerce").dropna()
    if len(goals):
        fig.add_hline(y=float(goals.iloc[-1]), line_dash="dash", line_color=theme.PALETTE["good"],
                      annotation_text=f"Goal {goals.iloc[-1]:.0f}", annotation_position="top left")
    shade_end = end if end is not None else max(probes["date"].max() if len(probes) else start, start)
    fig.add_vrect(x0=start, x1=shade_end, fillcolor=theme.PALETTE["accent"], opacity=0.07, line_width=0)
    fig.add_vline(x=start, line_color=theme.PALETTE["neutral"], line_width=1)
    fig.update_layout(title=title or None, xaxis_title="Date", yaxis_title="Score", height=380,
                      legend={"orientation": "h", "yanchor": "top", "y": -0.2, "x": 0},
                      margin={"l": 60, "r": 20, "t": 50 if title else 20, "b": 80})
    return fig


def funnel_figure(counts: dict[str, int | str], title: str = "") -> go.Figure:
    """The district (or scope) funnel as horizontal bars: flagged -> served within 30 days -> on track -> met goal.
    `counts`: stage -> count or a suppression label ("<10": drawn as an empty bar with the label)."""
    stages = list(FUNNEL_LABELS)
    values = [counts.get(s) for s in stages]
    numbers = [v if isinstance(v, (int, float)) and not pd.isna(v) else 0 for v in values]
    text = [f"{v:,.0f}" if isinstance(v, (int, float)) and not pd.isna(v) else str(v or "—") for v in values]
    fig = go.Figure(go.Bar(x=numbers, y=[FUNNEL_LABELS[s] for s in stages], orientation="h", text=text,
                           textposition="outside", marker_color=theme.PALETTE["accent"], cliponaxis=False,
                           hovertemplate="%{y}: %{text}<extra></extra>"))
    fig.update_layout(title=title or None, height=260, xaxis={"rangemode": "tozero", "title": "Students"},
                      yaxis={"autorange": "reversed"}, margin={"l": 170, "r": 60, "t": 40 if title else 10, "b": 40})
    return fig
