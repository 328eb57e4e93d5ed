"""Plotly figure builders for the at-risk model (pure: DataFrames in, go.Figure out)."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go


def calibration_figure(bins: pd.DataFrame) -> go.Figure:
    """Predicted vs observed rate per risk bin; the diagonal is perfect calibration."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfect calibration",
                             line={"dash": "dash", "color": "#999"}))
    fig.add_trace(go.Scatter(x=bins["predicted"], y=bins["observed"], mode="lines+markers", name="model",
                             customdata=bins["n"], hovertemplate="predicted %{x:.0%}<br>observed %{y:.0%}"
                             "<br>%{customdata} students<extra></extra>"))
    top = float(max(bins["predicted"].max(), bins["observed"].max(), 0.1)) if len(bins) else 1.0
    fig.update_layout(title="Calibration: predicted vs observed (out-of-sample)",
                      xaxis={"title": "predicted risk", "tickformat": ".0%", "range": [0, min(1, top * 1.1)]},
                      yaxis={"title": "observed share at risk", "tickformat": ".0%", "range": [0, min(1, top * 1.1)]},
                      height=380, margin={"t": 50, "b": 40})
    return fig


def pr_figure(curve: pd.DataFrame, k: float, baselines: dict[str, dict[str, Any]] | None = None) -> go.Figure:
    """Precision and recall by share of students flagged, with the capacity line and baseline points."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["share_flagged"], y=curve["precision"], mode="lines", name="precision"))
    fig.add_trace(go.Scatter(x=curve["share_flagged"], y=curve["recall"], mode="lines", name="recall"))
    fig.add_vline(x=k, line_dash="dot", annotation_text=f"capacity {k:.0%}")
    for name, base in (baselines or {}).items():
        if base.get("available") and base.get("precision_at_k") is not None:
            fig.add_trace(go.Scatter(x=[k], y=[base["precision_at_k"]], mode="markers", marker={"size": 10},
                                     name=f"{name.replace('_', ' ')} precision at {k:.0%}"))
    fig.update_layout(title="Precision and recall by share of students flagged",
                      xaxis={"title": "share of students flagged", "tickformat": ".0%", "range": [0, 1]},
                      yaxis={"title": "", "tickformat": ".0%", "range": [0, 1.02]}, height=380,
                      margin={"t": 50, "b": 40})
    return fig


def importance_figure(importance: pd.DataFrame, top: int = 12) -> go.Figure:
    """Permutation importance (drop in ROC AUC when a column is shuffled, held-out fold)."""
    shown = importance.head(top).iloc[::-1]
    fig = go.Figure(go.Bar(x=shown["importance"], y=shown["feature"], orientation="h",
                           error_x={"type": "data", "array": shown["std"]}))
    fig.update_layout(title="What the model relies on (permutation importance)",
                      xaxis={"title": "drop in ROC AUC when shuffled"}, height=max(250, 28 * len(shown) + 80),
                      margin={"t": 50, "b": 40})
    return fig
