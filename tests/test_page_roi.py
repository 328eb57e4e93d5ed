"""AppTest of the Tool ROI and Vetting pages (entry app.py, absolute path, toolchain.md section 3)."""

from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from tests.apptest_utils import new_app


def _open(page: str) -> AppTest:
    at = new_app(60).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _first_tool(at: AppTest) -> str:
    table = at.dataframe[0].value  # the decision table is the first table; its rows follow the ROI rank
    return table["Tool"].iloc[0]


def test_empty_database_shows_a_friendly_message(empty_db_url):
    at = _open("app_pages/tool_roi.py")
    assert any("no district data yet" in i.value for i in at.info)
    at = _open("app_pages/vetting.py")
    assert any("no district data yet" in i.value for i in at.info)


def test_saved_weights_change_the_ranking_everywhere(sample_db_url):
    """The page ranks with the saved weights only (the ones the report, budget and CLI use)."""
    from edtech.services.roi import load_weights, scoreboard_for
    from edtech.store import data

    engine = data.make_engine(sample_db_url)
    at = _open("app_pages/tool_roi.py")
    before = _first_tool(at)
    for part, value in {"utilization": 100, "fidelity": 0, "effect": 0, "cost_effectiveness": 0}.items():
        at.slider(key=f"roi_w_{part}").set_value(value)
    at.button(key="roi_save_weights").click().run()
    assert not at.exception
    by_use = _first_tool(at)
    assert load_weights(engine)["utilization"] == 100.0
    assert by_use == scoreboard_for(engine).iloc[0]["tool_name"]   # the CLI's ranking is the page's
    for part, value in {"utilization": 0, "effect": 100}.items():
        at.slider(key=f"roi_w_{part}").set_value(value)
    at.button(key="roi_save_weights").click().run()
    assert not at.exception
    by_effect = _first_tool(at)
    assert by_use != by_effect and before != by_use
    assert by_effect == "Mathigo Adaptive Math"  # the largest planted effect
    assert load_weights(engine)["effect"] == 100.0


def test_drilldown_renders_effect_with_ci_and_explanation(sample_db_url):
    at = _open("app_pages/tool_roi.py")
    at.selectbox(key="roi_tool").set_value("T01").run()
    assert not at.exception
    charts = at.get("plotly_chart")
    assert len(charts) >= 5  # quadrant + weekly, schools, dosage, effects
    specs = [json.loads(c.proto.spec) for c in charts]
    assert any("Effect estimates" in json.dumps(s.get("layout", {}).get("title", "")) for s in specs)
    text = " ".join(m.value for m in at.markdown)
    assert "standard deviations" in text and "compatible" in text
    assert "likely between" not in text            # methods v2: a CI is never read as where the effect lies
    probs = [d.value for d in at.dataframe if any(str(c).startswith("P(effect >") for c in d.value.columns)]
    assert probs and probs[0].shape[0] >= 1
    assert "Hedges" in text
    assert any("Recommendation:" in m.value for m in at.markdown)


def test_filters_and_vetting(sample_db_url):
    at = _open("app_pages/tool_roi.py")
    at.multiselect(key="roi_filter_category").set_value(["ELA"]).run()
    at.toggle(key="roi_all_columns").set_value(True).run()   # the category is a detail column
    assert not at.exception
    assert set(at.dataframe[0].value["Category"]) == {"ELA"}
    at = _open("app_pages/vetting.py")
    inventory = at.dataframe[0].value
    assert inventory["Tool"].iloc[0] == "QuizBlitz"  # high use but unvetted comes first
    assert any("renewal" in s.value.lower() for s in at.subheader)


def test_coordinator_sees_only_their_schools(sample_db_url):
    at = new_app(60, "School coordinator", ["0202"]).run()
    at.switch_page("app_pages/tool_roi.py").run()
    assert not at.exception, at.exception
    at.toggle(key="roi_all_columns").set_value(True).run()   # seats are a detail column
    table = at.dataframe[0].value
    # a middle school: no K-5 tools, and seats are the school's share, not the district contract
    assert "Mathigo Adaptive Math" not in set(table["Tool"])
    assert table["Seats"].max() < 1000


def test_user_chosen_outcome_for_a_tool_without_subject_match(sample_db_url):
    at = _open("app_pages/tool_roi.py")
    at.selectbox(key="roi_tool").set_value("T08").run()   # a science tool; the sample has no science test
    assert any("No assessment matches" in i.value for i in at.info)
    at.selectbox(key="roi_outcome_T08").set_value("MAP Math").run()
    at.button(key="roi_outcome_save").click().run()
    assert not at.exception, at.exception
    assert any("MAP Math" in m.value and "standard deviations" in m.value for m in at.markdown)
    table = at.dataframe[0].value.set_index("Tool")
    assert table.loc["LabVerse Science Sims", "Evidence"] != "Insufficient data"


def test_board_member_sees_small_counts_suppressed(sample_db_url):
    at = new_app(60, "Board member").run()
    at.switch_page("app_pages/tool_roi.py").run()
    at.selectbox(key="roi_tool").set_value("T09").run()  # the digital-dust tool: a handful of users a week
    assert not at.exception, at.exception
    assert "<10" in [m.value for m in at.metric]
    titles = [json.dumps(json.loads(c.proto.spec)["layout"].get("title", "")) for c in at.get("plotly_chart")]
    assert len(titles) >= 3 and not any("Dosage:" in t for t in titles)  # no per-student histogram
