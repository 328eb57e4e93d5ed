"""Plotly figure builders shared by the app and the board report (pure: data in, figure out)."""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

PALETTE = {"good": "#1a7f37", "warn": "#bf8700", "bad": "#cf222e", "neutral": "#57606a", "accent": "#1f6feb"}


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
