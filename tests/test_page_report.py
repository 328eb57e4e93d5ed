"""AppTest: the Board report page — empty database, preview, section choice, downloads, presentation mode."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.apptest_utils import open_page

PAGE = "app_pages/report.py"


def _open() -> AppTest:
    return open_page(PAGE, timeout=120)


def _headings(at: AppTest) -> list[str]:
    return [m.value.removeprefix("### ") for m in at.markdown if m.value.startswith("### ")]


def test_empty_database_shows_a_friendly_message(empty_db_url):
    at = _open()
    assert at.title[0].value == "Board report"
    assert any("no district data yet" in i.value for i in at.info)


def test_preview_sections_and_presentation_mode(sample_db_url):
    at = _open()
    assert _headings(at)[:3] == ["Executive summary", "Key figures", "Which tools earn their money"]
    assert "Students who need help (aggregate)" in _headings(at)
    assert any(m.label == "Annual license spend" for m in at.metric)
    tables = [d.value for d in at.dataframe]
    assert any("Recommendation" in t.columns for t in tables)
    assert any((t.astype(str) == "<10").any().any() for t in tables)  # suppressed cells are shown as <10

    # fewer sections -> the preview follows
    at.multiselect(key="report_sections").set_value(["summary", "budget"]).run()
    assert not at.exception, at.exception
    assert _headings(at) == ["Executive summary", "Budget scenarios"]

    # presentation mode: no controls in the main area, charts only
    at.toggle(key="report_present").set_value(True).run()
    assert not at.exception, at.exception
    # (the sidebar keeps only who is signed in and the sign-out button)
    assert len(at.multiselect) == 0 and [b.key for b in at.button] == ["sign_out"]
    assert _headings(at) == []


def test_download_pptx(sample_db_url):
    at = _open()
    at.multiselect(key="report_sections").set_value(["kpis", "budget"]).run()
    at.button(key="report_make_pptx").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert "report_download_pptx" in [b.key for b in at.get("download_button")]


def test_viewer_reads_the_report_but_prepares_no_file(sample_db_url):
    at = open_page("app_pages/report.py", role="Viewer")
    assert any(s.value == "Preview" for s in at.subheader)
    assert any("Executive summary" in m.value for m in at.markdown)
    assert not [b for b in at.button if str(b.key).startswith("report_make_")]
