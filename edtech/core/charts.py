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
import plotly.graph_objects as go

from edtech.core.safe_text import escape_chart_text

# One palette for every chart (Okabe & Ito, "Color Universal Design": distinguishable with the common
# colour-vision deficiencies and in greyscale print when paired with a dash or marker symbol).
QUALITATIVE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#56B4E9", "#CC79A7",
                                "#6E6E6E", "#F0E442")
# what a colour means, from the same palette: good/bad never rely on red vs green alone (blue-green vs vermillion
# differ in lightness too)
PALETTE = {"good": "#009E73", "warn": "#E69F00", "bad": "#D55E00", "neutral": "#6E6E6E", "accent": "#0072B2",
           "light": "#56B4E9", "muted": "#B8BEC6", "purple": "#CC79A7"}
# one sequential scale for shares and intensities (cividis: perceptually even, colour-vision-deficiency safe)
SEQUENTIAL = "Cividis"
DASHES: tuple[str, ...] = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")
SYMBOLS: tuple[str, ...] = ("circle", "square", "diamond", "triangle-up", "x", "cross")
MONEY_TICKFORMAT = ",.3~s"  # $0, $250k, $1.2M: short labels, never a misleading baseline
TEMPLATE_NAME = "edtech"


# the trace types the builders draw: the template keeps only their styles (plotly copies and checks the whole
# template into every figure; plotly_white's styles for 24 trace types made that most of a small chart's cost)
TRACE_TYPES = ("bar", "scatter", "heatmap", "histogram", "waterfall")


def _template() -> go.layout.Template:
    import plotly.io as pio

    spec = pio.templates["plotly_white"].to_plotly_json()
    spec["data"] = {k: v for k, v in spec.get("data", {}).items() if k in TRACE_TYPES}
    base = go.layout.Template(spec)
    base.layout.colorway = list(QUALITATIVE)
    base.layout.colorscale = {"sequential": SEQUENTIAL, "sequentialminus": SEQUENTIAL}
    # 14 px at the report's 1,200-px width: still about 8 pt when a chart is printed at 60% on a PDF page
    base.layout.font = {"family": "DejaVu Sans, Arial, sans-serif", "size": 14}
    return base


def _register_template() -> None:
    import plotly.io as pio

    if TEMPLATE_NAME not in pio.templates:
        pio.templates[TEMPLATE_NAME] = _template()
    # every figure starts from it (one template copy per figure, not plotly's default and then this one)
    pio.templates.default = TEMPLATE_NAME


_register_template()


def series_style(i: int) -> dict[str, Any]:
    """The i-th series' colour, dash and marker symbol: lines stay apart in colour and in greyscale print."""
    return {"color": QUALITATIVE[i % len(QUALITATIVE)], "dash": DASHES[i % len(DASHES)],
            "symbol": SYMBOLS[i % len(SYMBOLS)]}


def money_axis(fig: go.Figure, axis: str = "y", title: str | None = None) -> go.Figure:
    """A dollar axis that starts at zero (a bar or line read against a cut baseline exaggerates change)."""
    spec: dict[str, Any] = {"rangemode": "tozero", "tickprefix": "$", "tickformat": MONEY_TICKFORMAT,
                            "automargin": True}
    if title is not None:
        spec["title"] = {"text": title, "standoff": 14}
    (fig.update_yaxes if axis == "y" else fig.update_xaxes)(**spec)
    return fig


def legend_rows(fig: go.Figure, width_px: int = 1000) -> int:
    """About how many lines a horizontal legend of `fig` takes at `width_px` (7 px a character + swatch)."""
    names = [str(t.name or "") for t in fig.data if t.showlegend is not False and t.name]
    if len(names) < 2 and not any(t.showlegend for t in fig.data):
        return 0  # plotly draws no legend for a single series
    rows, used = 1, 0.0
    for name in names:
        item = 7.2 * len(name) + 50
        if used and used + item > width_px:
            rows, used = rows + 1, 0.0
        used += item
    return rows


def finish(fig: go.Figure, title: str, height: int = 380, legend: bool = True) -> go.Figure:
    """The one look of every chart: the palette's template, the title top-left, a horizontal legend between
    the title and the plot (never over tick labels), axis titles pushed clear of their tick labels."""
    rows = legend_rows(fig) if legend else 0
    top = 56 + 24 * rows
    if fig.layout.template.layout.colorway != QUALITATIVE:  # a figure made before the default was set
        fig.update_layout(template=TEMPLATE_NAME)
    fig.update_layout(
        height=height,
        title={"text": title, "x": 0.01, "xanchor": "left", "y": 1.0, "yref": "container", "yanchor": "top",
               "pad": {"t": 14}},
        margin={"l": 10, "r": 20, "t": top, "b": 10},
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": 1.0, "yanchor": "bottom", "title_text": ""},
        **({} if rows else {"showlegend": False}))
    fig.update_xaxes(automargin=True, title_standoff=10)
    fig.update_yaxes(automargin=True, title_standoff=10)
    return fig


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
    """`finish` under its older name (the ROI builders call it)."""
    return finish(fig, title, height)


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
    layout(fig, "Annual spend by category: used vs idle seats")
    return money_axis(fig, "y", "Annual cost")


def weekly_active_line(weekly: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Scatter(x=weekly["week_start"], y=weekly["active_users"], mode="lines", fill="tozeroy",
                               line={"color": PALETTE["accent"]}, name="students active",
                               hovertemplate="%{x|%b %d, %Y}: %{y:,} students<extra></extra>"))
    fig.update_xaxes(title="Week")
    fig.update_yaxes(title="Students active that week", rangemode="tozero")
    return layout(fig, "Students using any tool, by week")
