"""Plotly builders for budget scenarios (pure: projection/bands in, go.Figure out).

Shared by the Budget page and the board report so both draw the same charts.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from edtech.budget.projection import SPEND_CATEGORIES, Projection
from edtech.core.charts import PALETTE, QUALITATIVE, finish, money_axis, series_style
from edtech.core.format import label_for, money

CATEGORY_LABELS = {"licenses": "Licenses", "devices": "Devices (annualized)", "pd": "Professional learning",
                   "other": "Other (staff time, one-offs)"}
CATEGORY_COLORS = {"licenses": PALETTE["accent"], "devices": PALETTE["warn"], "pd": PALETTE["good"],
                   "other": PALETTE["purple"]}
GAP_COLOR = PALETTE["bad"]
LINE_COLOR = "#222222"  # funding and total-spend lines: dark, dashed or marked, legible in greyscale
BAND_FILL = "rgba(0,114,178,0.22)"  # the accent colour, translucent (one band, nothing overlaid)


def _fy_labels(years: list[int] | pd.Series) -> list[str]:
    return [f"FY{int(y)}" for y in years]


def _money_layout(fig: go.Figure, title: str, y_title: str = "Spend per fiscal year") -> go.Figure:
    """Dollar y axis from $0 with its title clear of the tick labels, the legend above the plot."""
    fig.update_layout(hovermode="x unified")
    finish(fig, title, height=460)
    fig.update_xaxes(type="category")
    return money_axis(fig, "y", y_title)


def spend_by_category_figure(projection: Projection) -> go.Figure:
    """Stacked spend per fiscal year by category, with available funding as a line."""
    by_year = projection.by_year
    x = _fy_labels(by_year["fiscal_year"])
    fig = go.Figure()
    for cat in SPEND_CATEGORIES:
        fig.add_bar(x=x, y=by_year[cat], name=CATEGORY_LABELS[cat], marker_color=CATEGORY_COLORS[cat],
                    hovertemplate="%{y:$,.0f}")
    fig.add_scatter(x=x, y=by_year["available_funding"], name="Available funding", mode="lines+markers",
                    line={"color": LINE_COLOR, "dash": "dash"}, marker={"symbol": "diamond"},
                    hovertemplate="%{y:$,.0f}")
    fig.update_layout(barmode="stack")
    return _money_layout(fig, f"{projection.scenario.name}: spend by category")


def savings_waterfall_figure(savings: pd.DataFrame, title: str = "Where the savings come from") -> go.Figure:
    """Baseline horizon spend → each lever's saving → scenario spend (from `budget.savings_by_lever`)."""
    baseline = float(savings.attrs.get("baseline_total", 0.0))
    scenario_total = float(savings.attrs.get("scenario_total", baseline - savings["saving"].sum()))
    steps = savings[savings["saving"].abs() > 0.005]
    x = ["Baseline", *steps["label"].tolist(), "Scenario"]
    y = [baseline, *(-steps["saving"]).tolist(), scenario_total]
    measure = ["absolute", *["relative"] * len(steps), "total"]
    fig = go.Figure(go.Waterfall(
        x=x, y=y, measure=measure, textposition="outside",
        decreasing={"marker": {"color": PALETTE["good"]}}, increasing={"marker": {"color": GAP_COLOR}},
        totals={"marker": {"color": PALETTE["accent"]}}, connector={"line": {"color": PALETTE["neutral"]}},
        hovertemplate="%{x}: %{y:$,.0f}<extra></extra>",
    ))
    fig.update_traces(text=[money(v) for v in y], texttemplate="%{text}", cliponaxis=False, showlegend=False)
    _money_layout(fig, title, "Spend over the horizon")
    # room above the tallest bar for its "outside" label
    top = max([baseline, scenario_total, 0.0])
    return fig.update_yaxes(range=[0, top * 1.15 if top > 0 else 1.0])


def fan_chart_figure(bands: pd.DataFrame, metric: str = "spend", title: str | None = None) -> go.Figure:
    """P10–P90 band with the P50 line and the deterministic projection (Monte Carlo bands)."""
    b = bands[bands["metric"] == metric].sort_values("fiscal_year")
    x = _fy_labels(b["fiscal_year"])
    is_money = metric in ("spend", "gap")
    fmt = "%{y:$,.0f}" if is_money else "%{y:,.1f}"
    fig = go.Figure()
    fig.add_scatter(x=x, y=b["p90"], name="P90", mode="lines", line={"width": 0}, hovertemplate=fmt,
                    showlegend=False)
    fig.add_scatter(x=x, y=b["p10"], name="P10–P90", mode="lines", line={"width": 0}, fill="tonexty",
                    fillcolor=BAND_FILL, hovertemplate=fmt)
    fig.add_scatter(x=x, y=b["p50"], name="P50 (median)", mode="lines+markers", line={"color": PALETTE["accent"]},
                    hovertemplate=fmt)
    fig.add_scatter(x=x, y=b["deterministic"], name="Projection", mode="markers",
                    marker={"color": LINE_COLOR, "symbol": "diamond", "size": 9}, hovertemplate=fmt)
    labels = {"spend": "Total spend", "impact": "Expected impact (SD × students)", "gap": "Gap vs funding"}
    title = title or f"{labels.get(metric, metric)}: P10 / P50 / P90"
    if is_money:
        return _money_layout(fig, title, labels.get(metric, metric))
    fig.update_layout(hovermode="x unified")
    finish(fig, title, height=460)
    fig.update_xaxes(type="category")
    return fig.update_yaxes(title={"text": labels.get(metric, metric), "standoff": 14}, rangemode="tozero")


def funding_by_source_figure(projection: Projection) -> go.Figure:
    """Available funding stacked by source with total spend on top: an expiring grant shows as a
    missing band and the gap years are marked in red."""
    src = projection.by_source
    years = projection.years
    x = _fy_labels(years)
    fig = go.Figure()
    if len(src):
        avail = src.pivot_table(index="fiscal_year", columns="source", values="available", aggfunc="sum")
        avail = avail.reindex(years).fillna(0.0)
        for i, source in enumerate(avail.columns):
            fig.add_bar(x=x, y=avail[source], name=label_for(source, "funding_source"), hovertemplate="%{y:$,.0f}",
                        marker_color=QUALITATIVE[i % len(QUALITATIVE)])
    by_year = projection.by_year
    fig.add_scatter(x=x, y=by_year["total_spend"], name="Total spend", mode="lines+markers",
                    line={"color": LINE_COLOR}, marker={"symbol": "diamond"}, hovertemplate="%{y:$,.0f}")
    gap = by_year["gap"]
    short = gap > 0.005
    if short.any():
        fig.add_scatter(x=[x[i] for i in range(len(x)) if short.iloc[i]], y=by_year.loc[short, "total_spend"],
                        name="Gap (spend > funding)", mode="markers+text", marker={"color": GAP_COLOR, "size": 12},
                        text=[f"gap {money(v)}" for v in gap[short]], textposition="top center",
                        hovertemplate="%{text}<extra></extra>")
    fig.update_layout(barmode="stack")
    return _money_layout(fig, f"{projection.scenario.name}: funding by source vs spend")


def scenario_comparison_figure(projections: list[Projection]) -> go.Figure:
    """Total spend per fiscal year, one line per scenario (baseline first)."""
    fig = go.Figure()
    for i, p in enumerate(projections):
        # colour, dash and marker differ: the lines stay apart on a black-and-white print
        style = series_style(i)
        fig.add_scatter(x=_fy_labels(p.by_year["fiscal_year"]), y=p.by_year["total_spend"], name=p.scenario.name,
                        mode="lines+markers", line={"color": style["color"], "dash": style["dash"], "width": 3},
                        marker={"symbol": style["symbol"], "size": 10}, hovertemplate="%{y:$,.0f}")
    return _money_layout(fig, "Total spend by scenario", "Total spend per fiscal year")
