"""Every chart builder, built on the sample district and drawn to PNG (issue 14, "Charts").

Structure checks (fast, no browser): every figure has data, dollar axes start at $0, legends sit outside the
plot (above it, or below it with a reserved margin), axis titles are pushed clear of their tick labels, no
two annotations overlap (text boxes estimated in pixels from the layout), lines that must be told apart in
print differ in dash as well as colour, every legend colour is named, and the one palette is used.
Rendering (one kaleido browser, marked `slow` only if it ever exceeds the budget): each PNG is not blank.
"""

from __future__ import annotations

import io
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from edtech.adoption import viz as adoption_viz
from edtech.budget import projection as budget
from edtech.budget import viz as budget_viz
from edtech.core import charts
from edtech.risk import viz as risk_viz
from edtech.roi import viz as roi_viz

RENDER_W = 1200
LP_FILE = Path("/work/shared/data/learnplatform-2020/1470.csv")


# --------------------------------------------------------------------------- every builder's figure
@pytest.fixture(scope="module")
def workspace(_sample_db_file, tmp_path_factory):
    from edtech.services.workspace import Workspace
    from edtech.store import data

    copy = tmp_path_factory.mktemp("charts") / "sample.db"
    shutil.copy(_sample_db_file, copy)
    engine = data.make_engine(f"sqlite:///{copy}")
    yield Workspace(engine)
    engine.dispose()


def _risk_frames(district) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Calibration bins, PR curve and permutation importance of a quick out-of-sample logistic model on the
    sample's early-warning table (the full `evaluate_risk` takes a minute: its charts take the same frames)."""
    from sklearn.inspection import permutation_importance
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from edtech.risk import model as risk
    from edtech.services import risk as risk_service

    table = risk_service.district_table(district)
    y = risk.parse_target(table, risk_service.DEFAULT_DISTRICT_TARGET).to_numpy()
    numeric = table.select_dtypes("number").drop(columns=[c for c in table.columns
                                                          if c.startswith("off_track")], errors="ignore")
    X = numeric.fillna(numeric.median()).to_numpy(dtype=float)
    keep = ~pd.isna(y)
    X_train, X_test, y_train, y_test = train_test_split(X[keep], y[keep].astype(int), test_size=0.4, random_state=0)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    p = model.predict_proba(X_test)[:, 1]
    imp = permutation_importance(model, X_test, y_test, scoring="roc_auc", n_repeats=3, random_state=0)
    importance = pd.DataFrame({"feature": numeric.columns, "importance": imp.importances_mean,
                               "std": imp.importances_std}).sort_values("importance", ascending=False)
    return risk.calibration_bins(y_test, p), risk.pr_curve_frame(y_test, p), importance


@pytest.fixture(scope="module")
def figures(workspace) -> dict[str, go.Figure]:
    from edtech.adoption import engine as adoption
    from edtech.adoption.overview import spend_by_category, weekly_active_users
    from edtech.report import assemble
    from edtech.roi import figures as roi_figures
    from edtech.services import adoption as adoption_service
    from edtech.services import roi as roi_service

    ws = workspace
    district, board = ws.whole, ws.board
    tools = roi_figures.licensed(board)
    figs: dict[str, go.Figure] = {
        "core.utilization_bar": charts.utilization_bar(tools),
        "core.spend_by_category": charts.spend_by_category(spend_by_category(tools)),
        "core.weekly_active_line": charts.weekly_active_line(weekly_active_users(district.usage)),
        "roi.quadrant": roi_viz.quadrant(board),
    }
    measured = board[pd.to_numeric(board["effect_size"], errors="coerce").notna()]
    tool_id = str(measured.sort_values("annual_cost", ascending=False)["tool_id"].iloc[0])
    drill = roi_service.drilldown(ws, tool_id)
    for name, fig in drill.figures.items():
        assert fig is not None, name
        figs[f"roi.{name}"] = fig
    rep = adoption_service.build_report(district)
    figs["adoption.heatmap"] = adoption_viz.adoption_heatmap(rep.schools)
    figs["adoption.weekly_trend_lines"] = adoption_viz.weekly_trend_lines(rep.weekly, district.tools)
    figs["adoption.dosage_distribution"] = adoption_viz.dosage_distribution(
        adoption.dosage_distribution(rep.student_usage, None), district.tools)
    assert len(rep.pd_change)
    figs["adoption.pd_before_after"] = adoption_service.pd_figure(ws, 0, "Use around professional learning")
    figs["adoption.frl_quartile_bars"] = adoption_viz.frl_quartile_bars(rep.equity_quartile)
    figs["adoption.device_coverage_bars"] = adoption_viz.device_coverage_bars(rep.devices)
    inputs = budget.inputs_from_district(district, board)
    cmp = assemble.compare_budget(inputs, assemble.default_scenario(), draws=200)
    figs["budget.spend_by_category"] = budget_viz.spend_by_category_figure(cmp.scenario)
    figs["budget.savings_waterfall"] = budget_viz.savings_waterfall_figure(
        budget.savings_by_lever(inputs, cmp.scenario.scenario))
    figs["budget.fan_spend"] = budget_viz.fan_chart_figure(cmp.bands.bands, "spend")
    figs["budget.fan_impact"] = budget_viz.fan_chart_figure(cmp.bands.bands, "impact")
    figs["budget.funding_by_source"] = budget_viz.funding_by_source_figure(cmp.scenario)
    figs["budget.scenario_comparison"] = budget_viz.scenario_comparison_figure([cmp.baseline, cmp.scenario])
    calibration, curve, importance = _risk_frames(district)
    figs["risk.calibration"] = risk_viz.calibration_figure(calibration)
    figs["risk.pr"] = risk_viz.pr_figure(curve, 0.1, {"prior_year_flags": {"available": True,
                                                                          "precision_at_k": 0.3}})
    figs["risk.importance"] = risk_viz.importance_figure(importance)
    return figs


@pytest.fixture(scope="module")
def learnplatform_figures(tmp_path_factory) -> dict[str, go.Figure]:
    """The aggregate-source charts after a real LearnPlatform import (one district's engagement file)."""
    if not LP_FILE.exists():
        pytest.skip("the shared LearnPlatform sample is absent")
    from edtech.cli.parser import main
    from edtech.services import adoption as adoption_service
    from edtech.store import data

    url = f"sqlite:///{tmp_path_factory.mktemp('lp') / 'lp.db'}"
    assert main(["--db", url, "init"]) == 0
    assert main(["--db", url, "import", "learnplatform", str(LP_FILE)]) == 0
    engine = data.make_engine(url)
    try:
        district = data.load_district(engine)
    finally:
        engine.dispose()
    rep = adoption_service.build_report(district)
    marker = rep.aggregate_marker
    return {
        "adoption.aggregate_top_products": adoption_viz.aggregate_top_products(rep.aggregate_top),
        "adoption.aggregate_trend": adoption_viz.aggregate_trend(rep.aggregate_weekly, rep.aggregate_top, marker,
                                                                 "US school closures (13 Mar 2020)"),
        "adoption.aggregate_trend_engagement": adoption_viz.aggregate_trend(
            rep.aggregate_weekly, rep.aggregate_top, marker, "US school closures", value="engagement_index"),
        "adoption.aggregate_engagement_total": adoption_viz.aggregate_engagement_total(
            rep.aggregate_total, marker, "US school closures (13 Mar 2020)"),
    }


def _all(figures, learnplatform_figures) -> dict[str, go.Figure]:
    return {**figures, **learnplatform_figures}


# --------------------------------------------------------------------------- helpers
def _values(trace) -> list:
    out = []
    for attr in ("x", "y", "z"):
        v = getattr(trace, attr, None)
        if v is not None:
            out.extend(np.asarray(v, dtype=object).ravel().tolist())
    return out


def _finite_numbers(trace, attr: str) -> np.ndarray:
    v = getattr(trace, attr, None)
    if v is None:
        return np.array([])
    arr = pd.to_numeric(pd.Series(np.asarray(v, dtype=object).ravel()), errors="coerce").to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def _axes(fig: go.Figure):
    full = fig.layout
    for name in dir(full):
        if (name.startswith("xaxis") or name.startswith("yaxis")) and full[name] is not None:
            yield name, full[name]


def _is_money(axis) -> bool:
    return (axis.tickprefix or "") == "$"


def _axis_starts_at_zero(axis) -> bool:
    if axis.rangemode == "tozero":
        return True
    return axis.range is not None and axis.range[0] is not None and float(axis.range[0]) == 0.0


# --------------------------------------------------------------------------- annotation boxes (pixels)
def _fraction(value, ref: str, fig: go.Figure) -> float | None:
    """Where `value` sits along its axis, 0..1 of the plot (None when plotly alone could not tell)."""
    if ref == "paper" or ref.endswith(" domain"):
        return float(value)
    axis = fig.layout[("xaxis" if ref.startswith("x") else "yaxis") + ref[1:]]
    if axis is None:
        return None
    letter = ref[0]
    if axis.type == "category" or isinstance(value, str) and not _looks_like_date(value):
        cats = []
        for t in fig.data:
            v = getattr(t, letter, None)
            if v is not None:
                cats += [c for c in np.asarray(v, dtype=object).ravel().tolist() if c not in cats]
        if value not in cats or len(cats) < 2:
            return None
        return cats.index(value) / (len(cats) - 1)
    to_num = _to_number
    if axis.range is not None:
        lo, hi = (float(r) if not isinstance(r, str) else to_num(r) for r in axis.range)
        v = math.log10(float(value)) if axis.type == "log" and not isinstance(value, str) and value > 0 else to_num(value)
    else:
        nums = []
        for t in fig.data:
            v = getattr(t, letter, None)
            if v is not None:
                nums += [to_num(x) for x in np.asarray(v, dtype=object).ravel().tolist() if x is not None]
        nums = [n for n in nums if n is not None and math.isfinite(n)]
        if not nums:
            return None
        lo, hi = min(nums), max(nums)
        v = to_num(value)
        if axis.rangemode == "tozero":
            lo = min(lo, 0.0)
    if v is None or hi == lo:
        return None
    return (v - lo) / (hi - lo)


def _looks_like_date(value) -> bool:
    try:
        pd.Timestamp(value)
        return isinstance(value, str) and value[:4].isdigit()
    except (ValueError, TypeError):
        return False


def _to_number(value) -> float | None:
    if isinstance(value, (int, float, np.integer, np.floating)):
        return float(value)
    try:
        return pd.Timestamp(value).value / 1e9
    except (ValueError, TypeError):
        return None


def annotation_boxes(fig: go.Figure, width: int = RENDER_W) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, (x0, y0, x1, y1)) in pixels of the figure, for every annotation whose place plotly fixes from the
    layout alone; text size from the font (0.62 em a character, 1.3 em a line)."""
    height = fig.layout.height or 450
    m = fig.layout.margin
    left, right, top, bottom = (m.l or 80), (m.r or 80), (m.t or 100), (m.b or 80)
    plot_w, plot_h = width - left - right, height - top - bottom
    boxes = []
    for a in fig.layout.annotations:
        if not a.text or a.visible is False:
            continue
        fx = _fraction(a.x if a.x is not None else 0.5, a.xref or "x", fig)
        fy = _fraction(a.y if a.y is not None else 0.5, a.yref or "y", fig)
        if fx is None or fy is None:
            continue
        size = (a.font.size if a.font and a.font.size else 12)
        lines = str(a.text).split("<br>")
        w = max(len(line) for line in lines) * size * 0.62
        h = len(lines) * size * 1.3
        px = left + fx * plot_w + (a.xshift or 0)
        py = top + (1 - fy) * plot_h - (a.yshift or 0)
        xanchor = a.xanchor if a.xanchor not in (None, "auto") else "center"
        yanchor = a.yanchor if a.yanchor not in (None, "auto") else "middle"
        x0 = px - {"left": 0, "center": w / 2, "right": w}[xanchor]
        y0 = py - {"top": 0, "middle": h / 2, "bottom": h}[yanchor]
        boxes.append((str(a.text), (x0, y0, x0 + w, y0 + h)))
    return boxes


def overlapping(boxes) -> list[tuple[str, str]]:
    out = []
    for i, (ta, a) in enumerate(boxes):
        for tb, b in boxes[i + 1:]:
            dx = min(a[2], b[2]) - max(a[0], b[0])
            dy = min(a[3], b[3]) - max(a[1], b[1])
            if dx > 1 and dy > 1:
                out.append((ta, tb))
    return out


def test_overlap_detector_can_fail():
    fig = go.Figure(go.Scatter(x=[0, 1], y=[0, 1]))
    fig.update_layout(height=400, margin=dict(l=50, r=50, t=50, b=50))
    fig.add_annotation(x=0.5, y=0.5, xref="paper", yref="paper", text="a long label here", showarrow=False)
    fig.add_annotation(x=0.52, y=0.5, xref="paper", yref="paper", text="another label", showarrow=False)
    assert overlapping(annotation_boxes(fig)) != []
    fig.layout.annotations[1].y = 0.1
    assert overlapping(annotation_boxes(fig)) == []


# --------------------------------------------------------------------------- structure checks
def test_every_builder_has_data(figures, learnplatform_figures):
    figs = _all(figures, learnplatform_figures)
    assert len(figures) >= 23 and len(learnplatform_figures) == 4
    for name, fig in figs.items():
        values = [v for t in fig.data for v in _values(t) if v is not None]
        assert fig.data and values, f"{name}: no trace data"
        assert fig.layout.title.text, f"{name}: no title"


def test_engagement_charts_are_not_empty_after_a_learnplatform_import(learnplatform_figures):
    for name in ("adoption.aggregate_engagement_total", "adoption.aggregate_trend_engagement"):
        fig = learnplatform_figures[name]
        ys = np.concatenate([_finite_numbers(t, "y") for t in fig.data])
        assert len(ys) > 20 and ys.max() > 0, name
        assert "page loads per 1,000 students" in (fig.layout.yaxis.title.text or "")
    # an export without engagement_index says so instead of drawing nothing
    empty = adoption_viz.aggregate_engagement_total(pd.DataFrame({"week_start": pd.to_datetime(["2020-01-06"]),
                                                                  "engagement_index": [np.nan],
                                                                  "pct_access_sum": [0.1]}))
    assert not empty.data and "no engagement_index" in empty.layout.annotations[0].text


def test_money_axes_start_at_zero(figures, learnplatform_figures):
    money = 0
    for name, fig in _all(figures, learnplatform_figures).items():
        for axis_name, axis in _axes(fig):
            if _is_money(axis) and axis.type != "log":
                money += 1
                assert _axis_starts_at_zero(axis), f"{name}.{axis_name} is a dollar axis not starting at $0"
    assert money >= 6  # overview spend + five budget charts were checked
    # the budget spend charts are dollar axes (their data values are hundreds of thousands)
    for name in ("budget.fan_spend", "budget.scenario_comparison", "budget.spend_by_category",
                 "budget.funding_by_source", "budget.savings_waterfall", "core.spend_by_category"):
        assert _is_money(figures[name].layout.yaxis), name


def test_no_annotations_overlap(figures, learnplatform_figures):
    checked = 0
    for name, fig in _all(figures, learnplatform_figures).items():
        boxes = annotation_boxes(fig)
        checked += len(boxes)
        assert overlapping(boxes) == [], name
    assert checked >= 20  # quadrant labels, subplot titles, threshold lines


def test_legends_are_outside_the_plot_and_axis_titles_clear_of_ticks(figures, learnplatform_figures):
    for name, fig in _all(figures, learnplatform_figures).items():
        legend = fig.layout.legend
        shows_legend = fig.layout.showlegend is not False and sum(
            1 for t in fig.data if t.showlegend is not False and t.name) >= 2
        if shows_legend:
            above = legend.y is not None and legend.y >= 1 and legend.yanchor == "bottom"
            below = legend.y is not None and legend.y < 0 and legend.yanchor == "top" and (fig.layout.margin.b or 0) >= 100
            assert legend.orientation == "h" and (above or below), f"{name}: legend inside the plot"
            if above:  # room reserved between the title and the plot
                assert fig.layout.margin.t >= 56 + 24 * charts.legend_rows(fig) - 1e-9, name
        for axis_name, axis in _axes(fig):
            if axis.title and axis.title.text and axis.visible is not False:
                fixed = axis.automargin is False and name == "roi.quadrant"  # label column sized by hand
                assert axis.automargin is True or fixed, f"{name}.{axis_name}: title may sit on the tick labels"


def test_one_colour_blind_safe_palette(figures, learnplatform_figures):
    allowed = {c.lower() for c in charts.QUALITATIVE} | {c.lower() for c in charts.PALETTE.values()} \
        | {budget_viz.LINE_COLOR.lower()}
    for name, fig in _all(figures, learnplatform_figures).items():
        for t in fig.data:
            colours = []
            marker = getattr(t, "marker", None)
            if marker is not None and marker.color is not None:
                c = marker.color
                colours += [c] if isinstance(c, str) else [x for x in c if isinstance(x, str)]
            line = getattr(t, "line", None)
            if line is not None and isinstance(line.color, str):
                colours.append(line.color)
            for c in colours:
                assert c.lower() in allowed, f"{name}: colour {c} is not from the palette"
            if t.type == "heatmap":  # the one sequential scale
                from plotly.colors import get_colorscale

                assert [(round(float(a), 6), str(b)) for a, b in t.colorscale] == \
                    [(round(float(a), 6), str(b)) for a, b in get_colorscale(charts.SEQUENTIAL)], name


def test_every_legend_colour_is_named(figures):
    """A trace with one colour per bar shows only one swatch: each colour must be its own legend entry."""
    for name, fig in figures.items():
        for t in fig.data:
            marker = getattr(t, "marker", None)
            if t.type == "bar" and marker is not None and marker.color is not None \
                    and not isinstance(marker.color, str) and t.showlegend is not False and len(fig.data) > 1:
                assert len(set(marker.color)) <= 1, f"{name}: trace {t.name} hides colours from the legend"
    devices = figures["adoption.device_coverage_bars"]
    assert len({t.marker.color for t in devices.data}) == len(devices.data) >= 2


def test_scenario_lines_differ_in_dash_and_colour(figures):
    lines = [t for t in figures["budget.scenario_comparison"].data if t.mode and "lines" in t.mode]
    assert len(lines) == 2
    assert lines[0].line.color != lines[1].line.color
    assert (lines[0].line.dash or "solid") != (lines[1].line.dash or "solid")
    assert lines[0].marker.symbol != lines[1].marker.symbol


def test_dosage_is_small_multiples_not_overlaid(figures):
    fig = figures["adoption.dosage_distribution"]
    hists = [t for t in fig.data if t.type == "histogram"]
    assert len(hists) >= 2
    assert fig.layout.barmode != "overlay"
    assert len({(t.xaxis, t.yaxis) for t in hists}) == len(hists)  # one panel per tool
    assert all(t.opacity in (None, 1) for t in hists)


# --------------------------------------------------------------------------- PNGs
def _png_stats(png: bytes) -> tuple[float, int]:
    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("RGB")
    arr = np.asarray(img.resize((img.width // 4, img.height // 4)))
    non_white = float((arr.sum(axis=2) < 720).mean())
    colours = len({tuple(p) for p in arr.reshape(-1, 3)[::7]})
    return non_white, colours


@pytest.mark.slow  # ~30-60 s for 27 charts on the shared 2-core machine
def test_every_chart_renders_to_a_non_blank_png(figures, learnplatform_figures):
    import os

    from edtech.report import render

    figs = _all(figures, learnplatform_figures)
    started = time.perf_counter()
    try:
        pngs = render.render_many(list(figs.values()), width=RENDER_W,
                                  height=[int(f.layout.height or 450) for f in figs.values()], scale=1)
    except render.RenderError as exc:
        pytest.skip(f"no browser for kaleido: {exc}")
    elapsed = time.perf_counter() - started
    blank = go.Figure()
    blank.update_layout(template=charts.TEMPLATE_NAME, xaxis_visible=False, yaxis_visible=False)
    empty_ink, _ = _png_stats(render.render_png(blank, width=RENDER_W, height=400, scale=1))
    out_dir = os.environ.get("EDTECH_CHART_PNG_DIR")  # to look at them: EDTECH_CHART_PNG_DIR=/tmp/charts
    for name, png in zip(figs, pngs, strict=True):
        if out_dir:
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            (Path(out_dir) / f"{name}.png").write_bytes(png)
        assert png[:8] == b"\x89PNG\r\n\x1a\n", name
        ink, colours = _png_stats(png)
        assert ink > max(0.02, empty_ink * 3), f"{name}: the image is (almost) blank ({ink:.1%} ink)"
        assert colours >= 8, f"{name}: only {colours} colours drawn"
    assert elapsed < 120, f"rendering {len(pngs)} charts took {elapsed:.0f} s"
