"""Plotly figure builders shared by the app and the board report (pure: data in, figure out).

`escape_figure` is the one gate between a figure and a screen or an image: builders pass data
values (tool, school, vendor, assessment, scenario names) into figures as they are, and every
surface that draws a figure (`ui.components.chart`, `report.render`) draws `escape_figure(fig)`,
so each text is escaped exactly once (`safe_text.escape_chart_text`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from edtech.core.safe_text import escape_chart_text

PALETTE = {"good": "#1a7f37", "warn": "#bf8700", "bad": "#cf222e", "neutral": "#57606a", "accent": "#1f6feb"}


def _escaped(node: Any, key: str = "") -> Any:
    """`node` with every string escaped, except the hover/text templates the builders write (their
    `%{…}` placeholders are filled with the escaped values) and the theme."""
    if key.endswith("template") or key == "uid":
        return node
    if isinstance(node, str):
        return escape_chart_text(node)
    if isinstance(node, dict):
        if "bdata" in node:  # a typed numeric array
            return node
        return {k: _escaped(v, k) for k, v in node.items()}
    if isinstance(node, (list, tuple)):
        return [_escaped(v, key) for v in node]
    if isinstance(node, np.ndarray) and node.dtype.kind in "OUS" and node.size:
        flat = [_escaped(v, key) for v in node.ravel().tolist()]
        if all(_same(x, y) for x, y in zip(node.ravel().tolist(), flat, strict=True)):
            return node  # nothing to escape: the same array (escape_figure then keeps the figure)
        out = np.empty(node.shape, dtype=object)
        for i, value in enumerate(flat):
            out.flat[i] = value
        return out
    return node


def escape_figure(fig: go.Figure | dict) -> go.Figure:
    """`fig` with every text (trace names, categories and tick labels, text, hover text, custom data,
    titles, annotations, legend) shown literally: plotly renders `<a href>`, `<b>`, `<br>` in all of
    them. A new figure when a text changed (the one given is never changed), else `fig` itself."""
    if not isinstance(fig, go.Figure):
        fig = go.Figure(fig)
    spec = fig.to_dict()
    escaped = _escaped(spec)
    if _same(spec, escaped):
        return fig
    # the spec comes from a valid figure and only strings changed: skip plotly's property checks
    # (ten times faster: they dominate a chart's cost on a page rerun)
    return go.Figure(escaped, _validate=False)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return a is b
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a is b or a == b


def layout(fig: go.Figure, title: str, height: int = 380) -> go.Figure:
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=50, b=10),
                      template="plotly_white", legend_title_text="")
    return fig


def utilization_bar(tools: pd.DataFrame) -> go.Figure:
    """Contract-year utilization per tool, coloured by the 50% / 100% thresholds."""
    t = tools.sort_values("utilization", ascending=True)
    colors = [PALETTE["bad"] if u < 0.5 else PALETTE["warn"] if u > 1.0 else PALETTE["good"]
              for u in t["utilization"].fillna(0)]
    fig = go.Figure(go.Bar(x=t["utilization"] * 100, y=t["tool_name"], orientation="h", marker_color=colors,
                           text=[f"{u:.0%}" for u in t["utilization"].fillna(0)], textposition="outside",
                           customdata=t[["seats", "active_users"]].to_numpy(),
                           hovertemplate="%{y}<br>%{x:.0f}% of %{customdata[0]:,} seats used"
                                         "<br>%{customdata[1]:,} active students<extra></extra>"))
    fig.add_vline(x=50, line_dash="dot", line_color=PALETTE["neutral"], annotation_text="50%: underused below",
                  annotation_position="bottom right")
    top = float((t["utilization"].fillna(0) * 100).max()) if len(t) else 100.0
    fig.update_xaxes(title="Seats used in the contract year (%)", range=[0, max(100.0, top) * 1.12])
    return layout(fig, "Utilization by tool", height=max(300, 36 * len(t) + 80))


def spend_by_category(by_cat: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_bar(x=by_cat["category"], y=by_cat["annual_cost"] - by_cat["idle_license_value"],
                name="Used seats", marker_color=PALETTE["accent"])
    fig.add_bar(x=by_cat["category"], y=by_cat["idle_license_value"], name="Idle seats", marker_color=PALETTE["bad"])
    fig.update_layout(barmode="stack")
    fig.update_yaxes(title="Annual cost ($)", tickprefix="$")
    return layout(fig, "Annual spend by category: used vs idle seats")


def weekly_active_line(weekly: pd.DataFrame) -> go.Figure:
    fig = px.area(weekly, x="week_start", y="active_users")
    fig.update_traces(line_color=PALETTE["accent"])
    fig.update_xaxes(title="Week")
    fig.update_yaxes(title="Students active that week")
    return layout(fig, "Students using any tool, by week")
