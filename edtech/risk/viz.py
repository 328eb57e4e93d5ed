"""Plotly figure builders for the at-risk model (pure: DataFrames in, go.Figure out)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go

from edtech.core.charts import PALETTE, QUALITATIVE, finish, series_style


def calibration_figure(bins: pd.DataFrame) -> go.Figure:
    """Predicted vs observed rate per risk bin; the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line={"dash": "dash", "color": PALETTE["neutral"]}))
    fig.add_trace(go.Scatter(x=bins["predicted"], y=bins["observed"], mode="lines+markers", name="model",
                             line={"color": PALETTE["accent"]},
                             customdata=bins["n"], hovertemplate="predicted %{x:.0%}<br>observed %{y:.0%}"
                             "<br>%{customdata} students<extra></extra>"))
    top = float(max(bins["predicted"].max(), bins["observed"].max(), 0.1)) if len(bins) else 1.0
    fig.update_layout(xaxis={"title": "predicted risk", "tickformat": ".0%", "range": [0, min(1, top * 1.1)]},
                      yaxis={"title": "observed share at risk", "tickformat": ".0%", "range": [0, min(1, top * 1.1)]})
    return finish(fig, "Calibration: predicted vs observed (out-of-sample)", height=400)


def pr_figure(curve: pd.DataFrame, k: float, baselines: dict[str, dict[str, Any]] | None = None) -> go.Figure:
    """Precision and recall by share of students flagged, with the capacity line and baseline points."""
    fig = go.Figure()
    for i, name in enumerate(("precision", "recall")):
        style = series_style(i)
        fig.add_trace(go.Scatter(x=curve["share_flagged"], y=curve[name], mode="lines", name=name,
                                 line={"color": style["color"], "dash": style["dash"]}))
    fig.add_vline(x=k, line_dash="dot", line_color=PALETTE["neutral"], annotation_text=f"capacity {k:.0%}")
    shown = [(n, b) for n, b in (baselines or {}).items()
             if b.get("available") and b.get("precision_at_k") is not None]
    for i, (name, base) in enumerate(shown, start=2):
        style = series_style(i)
        fig.add_trace(go.Scatter(x=[k], y=[base["precision_at_k"]], mode="markers",
                                 marker={"size": 11, "color": QUALITATIVE[i % len(QUALITATIVE)],
                                         "symbol": style["symbol"]},
                                 name=f"{name.replace('_', ' ')} precision at {k:.0%}"))
    fig.update_layout(xaxis={"title": "share of students flagged", "tickformat": ".0%", "range": [0, 1]},
                      yaxis={"title": "", "tickformat": ".0%", "range": [0, 1.02]})
    return finish(fig, "Precision and recall by share of students flagged", height=420)


def importance_figure(importance: pd.DataFrame, top: int = 12) -> go.Figure:
    """Permutation importance (drop in ROC AUC when a column is shuffled, held-out fold)."""
    shown = importance.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=shown["importance"], y=shown["feature"], orientation="h",
                           marker_color=PALETTE["accent"], error_x={"type": "data", "array": shown["std"]}))
    fig.update_layout(xaxis={"title": "drop in ROC AUC when shuffled"})
    return finish(fig, "What the model relies on (permutation importance)", height=max(250, 28 * len(shown) + 90),
                  legend=False)
