"""The stored district adoption report (issue 15): read back equal to a recomputation from the raw weekly
rows, a coordinator's view equal to the slice of the district's, and the equity tables from the cells equal
to the offered student × tool pairs they add up."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from edtech.adoption import engine as adoption
from edtech.adoption import equity
from edtech.services import adoption as adoption_service
from edtech.services import workspace
from edtech.store import data, summaries

ONE_SCHOOL = frozenset({"0202"})
TWO_SCHOOLS = frozenset({"0101", "0202"})


def _same(got: adoption_service.AdoptionReport, want: adoption_service.AdoptionReport) -> None:
    for name in (*adoption_service._STORED_FRAMES, "student_usage"):
        pd.testing.assert_frame_equal(getattr(got, name), getattr(want, name), obj=name)
    assert got.aggregate_marker == want.aggregate_marker


def _reference_equity(pairs: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """The definition, straight on the pairs: distinct students, pairs, active, dosage met, minutes per pair."""
    out = pairs.assign(key=key).groupby("key", observed=True).agg(
        students=("student_id", "nunique"), offered=("student_id", "size"), active=("active", "sum"),
        dosage_met=("dosage_met", "sum"), minutes=("minutes", "sum"))
    out["minutes_per_student"] = out.pop("minutes") / out["offered"]
    return out.sort_index()


def test_the_stored_report_is_read_back_equal_to_a_recomputation_from_raw_rows(sample_db_url, monkeypatch) -> None:
    engine = data.make_engine(sample_db_url)
    first = adoption_service.district_report(workspace.Workspace(engine))
    token = workspace.part_token(engine, adoption_service.READS)
    for part in ("adoption", "adoption_students"):
        assert summaries.load_part(engine, part, token) is not None, f"{part} was not stored"

    # a new process reads it back: nothing is recomputed, no raw usage and no student row is read, and the
    # district's views (every school) do not read the student × tool rows either
    def must_not_run(*args, **kwargs):
        raise AssertionError("the stored adoption report was recomputed")

    monkeypatch.setattr(adoption_service, "build_report", must_not_run)
    monkeypatch.setattr(adoption_service, "student_usage_of", must_not_run)
    ws = workspace.Workspace(engine)
    again = adoption_service.district_report(ws)
    adoption_service.school_view(ws, None)
    adoption_service.equity_view(ws, None)
    adoption_service.heatmap(ws, "fidelity")
    assert "student_usage" not in again.__dict__, "the district's views read the student × tool rows"
    assert not ws.whole.loaded("usage") and not ws.whole.loaded("students") and not ws.whole.loaded("devices")
    _same(again, first)
    monkeypatch.undo()

    # the stored figures equal those recomputed from the raw weekly rows
    raw = adoption_service.build_report(data.load_district(engine))
    _same(again, raw)
    pd.testing.assert_frame_equal(again.access, raw.access)
    # and the district's figures read back are those drawn from the recomputed report
    stored = adoption_service.district_figures(workspace.Workspace(engine))
    drawn = adoption_service.draw_district_figures(raw)
    assert set(stored) == set(drawn) >= {"trend", "dosage", "devices", "heatmap:utilization", "heatmap:fidelity",
                                         "equity"}
    for name, fig in drawn.items():  # the same figure (the layout's keys may come in another order)
        assert json.loads(stored[name].to_json()) == json.loads(fig.to_json()), name
    engine.dispose()


def test_the_precompute_step_stores_the_adoption_report(sample_db_url) -> None:
    from edtech.services import precompute

    engine = data.make_engine(sample_db_url)
    timings = precompute.precompute(engine, only={"adoption"})
    assert timings["adoption"] >= 0
    token = workspace.part_token(engine, adoption_service.READS)
    for part in ("adoption", "adoption_students", "adoption_figures"):
        assert summaries.load_part(engine, part, token) is not None, part
    engine.dispose()


@pytest.mark.parametrize("scope", [ONE_SCHOOL, TWO_SCHOOLS])
def test_a_coordinators_view_is_the_slice_of_the_district_report(sample_db_url, scope) -> None:
    engine = data.make_engine(sample_db_url)
    whole = data.load_district(engine)
    full = adoption_service.build_report(whole)
    ws = workspace.Workspace(engine, scope)
    mine = adoption_service.adoption_report(ws)
    assert not ws.whole.loaded("usage"), "a coordinator's adoption view read the raw weekly usage"

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[frame["school_id"].isin(scope)].reset_index(drop=True)

    for name in ("student_usage", "schools", "weekly", "pd_change", "devices", "device_rows", "dosage_bins"):
        pd.testing.assert_frame_equal(getattr(mine, name), cut(getattr(full, name)), obj=name)
    assert full.has_devices == (not whole.devices.empty)
    assert mine.has_devices == whole.devices["school_id"].isin(scope).any()
    # district facts stay the district's
    pd.testing.assert_frame_equal(mine.concentration, full.concentration)
    assert mine.schools["district_median_utilization"].notna().any()
    # the equity tables of the scope's offered pairs (quartiles of the whole district's schools)
    pairs = cut(full.access)
    pd.testing.assert_frame_equal(mine.access, pairs)
    pd.testing.assert_frame_equal(mine.equity_quartile, equity.equity_by_frl_quartile(pairs, whole.schools))
    pd.testing.assert_frame_equal(mine.equity_subgroup, equity.equity_by_subgroup(pairs, whole.students))
    quart = equity.frl_quartile(whole.schools)
    reference = _reference_equity(pairs, pairs["school_id"].map(quart).fillna("unknown"))
    got = mine.equity_quartile.set_index("frl_quartile")[reference.columns]
    pd.testing.assert_frame_equal(got, reference, check_names=False, check_dtype=False)
    # the district's tables are untouched by the cut
    assert set(full.schools["school_id"]) > set(scope)
    engine.dispose()


def test_equity_per_tool_and_subgroup_from_the_cells_equals_the_pairs(sample_db_url) -> None:
    engine = data.make_engine(sample_db_url)
    whole = data.load_district(engine)
    report = adoption_service.build_report(whole)
    pairs = report.access
    assert len(report.access_cells) < len(pairs) / 10, "the cells do not add up the pairs"
    ws = workspace.Workspace(engine)
    quart = equity.frl_quartile(whole.schools)
    flags = whole.students.set_index("student_id")[list(equity.SUBGROUP_FLAGS)].astype("boolean")
    for tool_id in [None, *report.offered_tools]:
        by_quartile, by_subgroup, _ = adoption_service.equity_view(ws, tool_id)
        offered = pairs if tool_id is None else pairs[pairs["tool_id"] == tool_id]
        assert len(offered)
        reference = _reference_equity(offered, offered["school_id"].map(quart).fillna("unknown"))
        pd.testing.assert_frame_equal(by_quartile.set_index("frl_quartile")[reference.columns], reference,
                                      check_names=False, check_dtype=False, obj=f"quartiles of {tool_id}")
        for flag in equity.SUBGROUP_FLAGS:
            in_group = offered["student_id"].map(flags[flag])
            known = offered[in_group.notna()]
            rows = by_subgroup[by_subgroup["subgroup"] == flag]
            if known.empty:
                assert rows.empty
                continue
            reference = _reference_equity(known, in_group[in_group.notna()].astype(bool)).sort_index(ascending=False)
            pd.testing.assert_frame_equal(rows.set_index("in_group")[reference.columns], reference,
                                          check_names=False, check_dtype=False, obj=f"{flag} of {tool_id}")
    engine.dispose()


def test_the_dosage_bars_are_the_students_ratios_binned(sample_db_url) -> None:
    engine = data.make_engine(sample_db_url)
    report = adoption_service.build_report(data.load_district(engine))
    dist = adoption.dosage_distribution(report.student_usage)
    assert len(dist) > 100
    school = report.schools["school_id"].iloc[0]
    for school_id in (None, school):
        rows = dist if school_id is None else dist[dist["school_id"] == school_id]
        bars = adoption.dosage_histogram(report.dosage_bins, school_id)
        for tool_id, grp in rows.groupby("tool_id"):
            ratio = grp["dosage_ratio"].clip(upper=adoption.DOSAGE_CAP).to_numpy()
            # the bars [k/10, (k+1)/10) by plotly's rule (floor + 1e-9), the last one holding 200 % and over
            expected = np.bincount(np.floor(ratio / 0.1 + 1e-9).astype(int), minlength=21)
            got = bars[bars["tool_id"] == tool_id].set_index("bin")["students"].reindex(range(21), fill_value=0)
            assert len(expected) == 21 and got.tolist() == expected.tolist()
            assert got.sum() == len(grp)
    engine.dispose()


def test_the_dosage_chart_carries_bars_not_a_point_per_student(sample_db_url) -> None:
    from edtech.adoption import viz

    engine = data.make_engine(sample_db_url)
    report = adoption_service.build_report(data.load_district(engine))
    whole = report.district
    fig = viz.dosage_distribution(adoption.dosage_histogram(report.dosage_bins), whole.tools)
    from_students = viz.dosage_distribution(adoption.dosage_distribution(report.student_usage), whole.tools)
    hists = [t for t in fig.data if t.type == "histogram"]
    assert hists and all(t.histfunc == "sum" and len(t.x) <= 21 for t in hists)
    assert sum(sum(t.y) for t in hists) == int(report.student_usage["dosage_ratio"].notna().sum())
    assert fig.to_json() == from_students.to_json()
    engine.dispose()
