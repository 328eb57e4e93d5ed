"""Roadmap charts (pure builders, shared by the Roadmap page and the board report): the initiatives'
timeline and a KPI's monthly trend sparkline."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from edtech.core.charts import PALETTE, layout
from edtech.roadmap.catalogue import format_value

INITIATIVE_STATUS_LABELS = {"planned": "Planned", "active": "Active", "done": "Done", "dropped": "Dropped"}
INITIATIVE_COLORS = {"planned": PALETTE["neutral"], "active": PALETTE["accent"], "done": PALETTE["good"],
                     "dropped": "#b0b7bf"}
KPI_COLORS = {"met": PALETTE["good"], "on_track": PALETTE["accent"], "at_risk": PALETTE["bad"],
              "no_data": PALETTE["neutral"]}


def timeline_figure(initiatives: pd.DataFrame, as_of: pd.Timestamp | None = None,
                    kpi_counts: pd.DataFrame | None = None) -> go.Figure:
    """One horizontal bar per initiative from its start to its end date, coloured by its status, with the
    data's as-of date as a dotted line. `kpi_counts` (initiative_id, met, on_track, at_risk, no_data) adds
    the KPI tally to the hover text."""
    frame = initiatives.copy()
    frame["start_date"] = pd.to_datetime(frame["start_date"])
    frame["end_date"] = pd.to_datetime(frame["end_date"])
    frame = frame.sort_values(["start_date", "name"], ascending=[False, False]).reset_index(drop=True)
    status = frame["status"].astype("object").where(frame["status"].notna(), "planned").astype(str)
    tally = {}
    if kpi_counts is not None and len(kpi_counts):
        for r in kpi_counts.itertuples():
            parts = [f"{int(getattr(r, k))} {w}" for k, w in (("met", "met"), ("on_track", "on track"),
                                                              ("at_risk", "at risk"), ("no_data", "no data"))
                     if getattr(r, k, 0)]
            tally[str(r.initiative_id)] = ", ".join(parts) or "no KPI"
    fig = go.Figure()
    for code, label in INITIATIVE_STATUS_LABELS.items():
        rows = frame[status == code]
        if rows.empty:
            continue
        days = (rows["end_date"] - rows["start_date"]).dt.days.clip(lower=1)
        fig.add_bar(
            y=rows["name"].astype(str), x=days * 86_400_000, base=rows["start_date"], orientation="h", name=label,
            marker_color=INITIATIVE_COLORS[code],
            customdata=list(zip(rows["start_date"].dt.strftime("%b %Y"), rows["end_date"].dt.strftime("%b %Y"),
                                [tally.get(str(i), "no KPI") for i in rows["initiative_id"]], strict=True)),
            hovertemplate="%{y}<br>%{customdata[0]} to %{customdata[1]}<br>KPIs: %{customdata[2]}<extra></extra>")
    fig.update_layout(barmode="overlay")
    fig.update_xaxes(type="date", title="")
    fig.update_yaxes(title="", categoryorder="array", categoryarray=frame["name"].astype(str).tolist())
    if as_of is not None and len(frame):
        when = pd.Timestamp(as_of)
        # a legend entry, not an annotation: text above the plot would sit on the legend
        names = frame["name"].astype(str).tolist()
        fig.add_scatter(x=[when, when], y=[names[0], names[-1]], mode="lines", name=f"Data through {when:%b %d, %Y}",
                        line=dict(dash="dot", color=PALETTE["neutral"], width=2), hoverinfo="skip")
    return layout(fig, "Initiatives on the roadmap", height=max(260, 46 * len(frame) + 120))


def sparkline_figure(values: pd.Series, *, target: float | None = None, unit: str = "ratio",
                     status: str = "no_data", height: int = 90) -> go.Figure:
    """A KPI's monthly values as a small line (coloured by status) with its target as a dashed line; no axes."""
    s = pd.Series(values, dtype="float64").dropna().sort_index()
    color = KPI_COLORS.get(status, PALETTE["neutral"])
    scale = 100.0 if unit == "share" else 1.0
    fig = go.Figure(go.Scatter(
        x=pd.to_datetime(s.index), y=s.to_numpy() * scale, mode="lines+markers", line=dict(color=color, width=2),
        marker=dict(size=4, color=color), text=[format_value(v, unit) for v in s.to_numpy()],
        hovertemplate="%{x|%b %Y}: %{text}<extra></extra>"))
    if target is not None and pd.notna(target):
        fig.add_hline(y=float(target) * scale, line_dash="dash", line_color=PALETTE["neutral"], line_width=1)
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=4, b=0), showlegend=False)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig
