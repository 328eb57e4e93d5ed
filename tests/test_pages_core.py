"""AppTest: the overview and data pages on an empty and on a loaded database."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.apptest_utils import new_app, pages_for  # noqa: F401
from tests.conftest import APP  # noqa: F401


def _app() -> AppTest:
    return new_app(60)


def test_overview_empty_database_shows_start_screen(empty_db_url):
    at = _app().run()
    assert not at.exception
    assert any("no district data yet" in i.value for i in at.info)
    assert at.button(key="empty_load_the_overview")


def test_load_sample_from_empty_state(empty_db_url):
    at = _app().run()
    at.button(key="empty_load_the_overview").click().run(timeout=120)
    assert not at.exception
    assert at.metric[0].value == "10"  # ten tools in the sample district


def test_overview_on_sample_district(sample_db_url):
    at = _app().run()
    assert not at.exception
    labels = {m.label: m.value for m in at.metric}
    assert labels["Tools licensed"] == "10"
    assert labels["Annual spend"].startswith("$")
    assert len(at.get("plotly_chart")) >= 2


def test_data_page_empty_and_upload(empty_db_url):
    at = _app().run()
    at.switch_page("app_pages/data.py").run()
    assert not at.exception
    schools = b"school_id,school_name,level\n0001,Lincoln,elementary\n0002,Adams,high\n"
    at.file_uploader(key="data_files").set_value([("schools.csv", schools, "text/csv")]).run()
    assert not at.exception
    at.button(key="data_import").click().run()
    assert not at.exception
    assert any("stored 2" in s.value for s in at.success)


def test_data_page_rejects_bad_file_with_report(sample_db_url):
    at = _app().run()
    at.switch_page("app_pages/data.py").run()
    bad = b"student_id,tool_id,date,minutes\n999999,T01,2025-09-08,10\n"
    at.file_uploader(key="data_files").set_value([("usage.csv", bad, "text/csv")]).run()
    at.button(key="data_import").click().run()
    assert not at.exception
    assert any("rejected" in e.value for e in at.error)
    assert any("line 2" in m.value and "student_id" in m.value for m in at.markdown)
    assert any(b.proto.label == "Download the error report (CSV)" for b in at.get("download_button"))


def test_data_page_explains_formats_and_offers_templates(empty_db_url):
    at = _app().run()
    at.switch_page("app_pages/data.py").run()
    at.selectbox(key="data_help_kind").set_value("usage").run()
    assert not at.exception
    columns = at.dataframe[0].value["column"].tolist()
    assert columns[:4] == ["student_id", "tool_id", "date", "minutes"]
    assert any(b.proto.label.startswith("Download a usage template") for b in at.get("download_button"))
