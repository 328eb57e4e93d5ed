"""AppTest: the Budget page — empty database, create, edit, save, reload and compare scenarios; year 1,
the grant-change lever and the optimizer's cap explanation."""

from __future__ import annotations

import base64
import json

import numpy as np
from streamlit.testing.v1 import AppTest

from tests.apptest_utils import open_page

PAGE = "app_pages/budget.py"


def _open() -> AppTest:
    return open_page(PAGE, timeout=60)


def _frame(at: AppTest, column: str):
    """The first dataframe with this column (AppTest elements do not carry dataframe keys)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _values(array: object) -> list[float]:
    """Plotly 6+ serializes numeric arrays as {"dtype", "bdata"} (base64): decode either form."""
    if isinstance(array, dict) and "bdata" in array:
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=np.dtype(array["dtype"])).tolist()
    return list(array)  # type: ignore[call-overload]


def _metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def test_empty_database_shows_a_friendly_message(empty_db_url):
    at = _open()
    assert at.title[0].value == "Budget scenarios"
    assert any("no district data yet" in i.value for i in at.info)


def test_create_edit_save_reload_and_compare(sample_db_url):
    at = _open()
    # baseline + the report's proposal (no decision recorded: right-size every license) side by side
    headers = [m.value for m in at.markdown if m.value in ("**Baseline**", "**Right-size seats**")]
    assert headers == ["**Baseline**", "**Right-size seats**"]
    spend_before = dict(_metrics(at))
    assert at.selectbox(key="budget_active").value == "Right-size seats"
    assert at.checkbox(key="budget_right_size_all").value is True

    # edit: no right-sizing -> no savings; right-size everything again -> savings appear immediately
    at.checkbox(key="budget_right_size_all").uncheck().run()
    assert _frame(at, "savings_vs_baseline").set_index("scenario").loc["Right-size seats", "savings_vs_baseline"] == 0
    at.checkbox(key="budget_right_size_all").check().run()
    assert not at.exception, at.exception
    spend = [v for label, v in _metrics(at) if label.startswith("Total spend, FY2027–FY2029")]
    assert len(spend) == 2 and spend[0] != spend[1]
    table = _frame(at, "savings_vs_baseline")
    edited = table.set_index("scenario").loc["Right-size seats"]
    assert edited["savings_vs_baseline"] > 0 and edited["year1_savings"] > 0
    assert spend_before  # the first render had metrics too

    # save under a new name
    at.text_input(key="budget_save_name").set_value("Right-size all").run()
    at.button(key="budget_save").click().run()
    assert not at.exception, at.exception
    assert any("Saved “Right-size all”" in s.value for s in at.success)
    assert at.selectbox(key="budget_active").value == "Right-size all"

    # create a second scenario and edit it: sunset below an ROI score of 30, 5-year horizon
    at.button(key="budget_new").click().run()
    assert at.selectbox(key="budget_active").value == "Scenario"
    assert at.checkbox(key="budget_right_size_all").value is False  # fresh levers for the new scenario
    at.number_input(key="budget_sunset_roi").set_value(30.0).run()
    at.slider(key="budget_horizon").set_value(5).run()
    assert not at.exception, at.exception
    table = _frame(at, "savings_vs_baseline")
    assert list(table["scenario"]) == ["Baseline", "Right-size all", "Scenario"]
    assert table.set_index("scenario").loc["Scenario", "years"].count("FY") == 2

    # duplicate, then remove the copy
    at.button(key="budget_duplicate").click().run()
    assert at.selectbox(key="budget_active").value == "Scenario (copy)"
    assert at.number_input(key="budget_sunset_roi").value == 30.0
    at.button(key="budget_remove").click().run()
    assert "Scenario (copy)" not in at.selectbox(key="budget_active").options

    # a fresh session reloads the saved scenario from the database
    again = _open()
    assert again.selectbox(key="budget_load_name").options == ["Right-size all"]
    again.button(key="budget_load").click().run()
    assert not again.exception, again.exception
    assert again.selectbox(key="budget_active").value == "Right-size all"
    assert again.checkbox(key="budget_right_size_all").value is True
    reloaded = _frame(again, "savings_vs_baseline").set_index("scenario")
    assert reloaded.loc["Right-size all", "savings_vs_baseline"] == edited["savings_vs_baseline"]

    # charts: comparison, spend, waterfall, two fan charts, funding with the ESSER cliff
    charts = [json.loads(c.proto.spec) for c in again.get("plotly_chart")]
    assert len(charts) >= 6
    assert any(trace["type"] == "waterfall" for c in charts for trace in c["data"])
    funding = next(c for c in charts if "funding by source" in c["layout"]["title"]["text"])
    esser = next(t for t in funding["data"] if t.get("name") == "ESSER")  # funding sources by name
    esser_by_year = _values(esser["y"])
    assert esser_by_year[0] > 0 and esser_by_year[-1] == 0  # the cliff
    downloads = {b.key for b in again.get("download_button")}
    assert downloads == {"budget_download_csv", "budget_download_xlsx", "budget_spec_download"}

    # delete the saved scenario
    again.button(key="budget_delete_saved").click().run()
    assert again.selectbox(key="budget_load_name").options == []


def test_year_one_picker_and_grant_change_lever(sample_db_url):
    at = _open()
    # year 1 defaults to the first fiscal year after the data's date (2026-06-07 -> FY2027)
    assert at.selectbox(key="budget_start_fy").value == 2027
    assert _frame(at, "savings_vs_baseline").set_index("scenario").loc["Right-size seats", "years"] == \
        "FY2027–FY2029"
    # end ESSER a year early (after FY2026): the scenario loses FY2027's ESSER money, the baseline keeps it
    at.selectbox(key="budget_grant_source").set_value("esser").run()
    at.radio(key="budget_grant_mode").set_value("Ends after").run()
    at.selectbox(key="budget_grant_fy").set_value(2026).run()
    at.button(key="budget_add_grant").click().run()
    assert not at.exception, at.exception
    assert any("ESSER: ends after FY2026" in m.value for m in at.markdown)
    table = _frame(at, "available_funding").set_index("scenario")
    assert table.loc["Baseline", "available_funding"] - table.loc["Right-size seats", "available_funding"] == \
        np.float64(118_500.0)  # the FY2027 ESSER row
    # pick FY2029 as year 1: the comparison moves, escalation keeps counting from the contracts' renewals
    at.selectbox(key="budget_start_fy").set_value(2029).run()
    assert not at.exception, at.exception
    moved = _frame(at, "savings_vs_baseline").set_index("scenario")
    assert moved.loc["Right-size seats", "years"] == "FY2029–FY2031"
    assert moved.loc["Right-size seats", "total_spend"] > table.loc["Right-size seats", "total_spend"]


def test_optimizer_plan_becomes_a_scenario(sample_db_url):
    at = _open()
    at.button(key="budget_optimize").click().run()
    assert not at.exception, at.exception
    plan = _frame(at, "explanation")
    assert len(plan) == 10 and plan["explanation"].str.len().min() > 20
    caps = _frame(at, "Under the cap by")
    assert list(caps["Fiscal year"]) == ["FY2027", "FY2028", "FY2029"] and caps["Cap"].str.startswith("$").all()
    assert any("under the cap" in i.value and "Why:" in i.value for i in at.info)
    at.button(key="budget_apply_plan").click().run()
    assert at.selectbox(key="budget_active").value == "Optimized (10% cut)"
    table = _frame(at, "savings_vs_baseline").set_index("scenario")
    assert table.loc["Optimized (10% cut)", "savings_vs_baseline"] > 0


def test_board_view_suppresses_small_counts_at_the_configured_threshold(sample_db_url, monkeypatch):
    from edtech.core import config

    monkeypatch.setattr(config, "SUPPRESS_MIN", 20)  # EDTECH_SUPPRESS_MIN, not a hard-coded 10
    at = open_page(PAGE, role="Board member", timeout=60)
    per_tool = _frame(at, "license_spend")
    shown = per_tool["students_at_dosage"].astype(str)
    assert (shown == "<20").any()  # tools with no student at dosage yet
    assert not (shown == "<10").any()
    assert (per_tool.loc[shown == "<20", "expected_impact"] == "—").all()  # masked with the count
