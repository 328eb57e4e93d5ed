"""The Budget page's stored per-school counts (issue 15): the inputs built from them equal those built from
the raw roster and device rows, for the district and for a coordinator's schools."""

from __future__ import annotations

import dataclasses

import pandas as pd

from edtech.budget import projection as budget
from edtech.core.scope import restrict_district
from edtech.services import budget as budget_service
from edtech.services import workspace
from edtech.store import data, summaries

ONE_SCHOOL = frozenset({"0202"})


def _same_inputs(got: budget.BudgetInputs, want: budget.BudgetInputs) -> None:
    for f in dataclasses.fields(budget.BudgetInputs):
        if f.name == "enrollment":
            pd.testing.assert_frame_equal(got.enrollment, want.enrollment)
        else:
            assert getattr(got, f.name) == getattr(want, f.name), f.name


def test_inputs_from_the_stored_counts_equal_those_from_the_raw_rows(sample_db_url, monkeypatch) -> None:
    engine = data.make_engine(sample_db_url)
    whole = data.load_district(engine)
    for scope in (None, ONE_SCHOOL):
        ws = workspace.Workspace(engine, scope)
        got = budget_service.inputs_for(ws)
        want = budget_service.budget_inputs(restrict_district(whole, scope), ws.board)
        _same_inputs(got, want)
        assert got.devices and got.tools and len(got.enrollment)
    token = workspace.part_token(engine, budget_service.ENROLLMENT_READS)
    assert summaries.load_part(engine, "budget_school_counts", token) is not None

    # a new process reads the counts back: neither the roster nor the device rows
    def must_not_run(*args, **kwargs):
        raise AssertionError("the stored counts were recomputed")

    monkeypatch.setattr(budget_service, "compute_school_counts", must_not_run)
    ws = workspace.Workspace(engine)
    _same_inputs(budget_service.inputs_for(ws), budget_service.budget_inputs(whole, ws.board))
    assert not ws.whole.loaded("students") and not ws.whole.loaded("devices")
    engine.dispose()


def test_device_cohorts_add_up_over_schools() -> None:
    day = pd.Timestamp("2024-08-01")
    devices = pd.DataFrame({
        "school_id": ["a", "b", None, "a", "b"], "device_type": ["laptop", "laptop", None, "laptop", "tablet"],
        "purchase_date": [day, day, day, None, day], "auto_update_expiration": [None, None, day, None, day],
        "purchase_cost": [300.004, 300.0, 250.0, 300.0, None], "status": ["active", "active", "active", "active", "lost"]})
    per_school = budget.device_groups(devices, by=("school_id",))
    assert per_school["count"].sum() == 3
    assert budget.cohorts_from_groups(per_school) == budget.device_cohorts(devices)
    assert [c.count for c in budget.device_cohorts(devices)] == [1, 2]  # 'device' (type missing), 2 laptops


def test_the_precompute_step_stores_the_budget_counts(sample_db_url) -> None:
    from edtech.services import precompute

    engine = data.make_engine(sample_db_url)
    assert precompute.precompute(engine, only={"budget_school_counts"})["budget_school_counts"] >= 0
    assert summaries.load_part(engine, "budget_school_counts",
                               workspace.part_token(engine, budget_service.ENROLLMENT_READS))
    engine.dispose()
