"""The board report's Interventions section (issue 16): aggregate only and suppressed, in the PDF (pypdf text) and
the slides (python-pptx), and the `interventions` key of `report --format json` from the same evaluation as the
page and `interventions evaluate`."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import pandas as pd
import pytest

from edtech.report import interventions as section_builder
from edtech.services import interventions as interventions_service
from edtech.services import report as report_service
from edtech.services import workspace
from edtech.store import data

TITLE = section_builder.TITLE
STUDENT_ID = re.compile(r"(?<![\w#.$,])\d{6}(?![\w.,])")   # the sample's student ids (001000…)


@pytest.fixture(scope="module")
def built(_sample_db_file):
    """The interventions-only report at a threshold of 30 (some school cells fall under it), its files, and the
    evaluation the page and the CLI use."""
    engine = data.make_engine(f"sqlite:///{_sample_db_file}")
    try:
        ws = workspace.Workspace(engine)
        rep = report_service.build_report(ws, sections=["interventions"], min_n=30)
        evaluation = interventions_service.evaluation_json(interventions_service.evaluate_interventions(ws))
        pdf, pptx = report_service.export(rep, "pdf"), report_service.export(rep, "pptx")
    finally:
        engine.dispose()
    return rep, evaluation, pdf, pptx


def _count_cells_ok(table, min_n: int) -> list[str]:
    """Every count cell is "<min_n" or a whole number of at least min_n; returns the suppressed cells."""
    hidden = []
    for column in table.count_columns:
        for cell in table.frame[column]:
            if cell == f"<{min_n}":
                hidden.append(cell)
            else:
                assert int(str(cell).replace(",", "")) >= min_n, (table.title, column, cell)
    return hidden


def test_the_section_states_coverage_what_worked_and_the_rd_suppressed(built):
    rep, evaluation, _, _ = built
    sec = rep.section("interventions")
    assert sec is not None and sec.title == TITLE
    kpis = {k.label: k.value for k in sec.kpis}
    assert kpis["Flagged"] == f"{evaluation['coverage']['flagged']:,}"
    assert kpis["Served within 30 days"] == f"{evaluation['coverage']['served_30d']:,}"
    tables = {t.title: t for t in sec.tables}
    worked = tables["What worked and what it cost"].frame.set_index("Intervention")
    for row in evaluation["interventions"]:
        assert worked.loc[row["intervention"], "Served"] == f"{row['served']:,}"
        assert worked.loc[row["intervention"], "Evidence"] == row["evidence_label"]
    hidden = _count_cells_ok(tables["Coverage by school"], 30) + _count_cells_ok(tables["What worked and what it cost"],
                                                                                 30)
    assert hidden, "nothing under 30 in the sample's school cells: the suppression check proves nothing"
    school = tables["Coverage by school"].frame
    assert (school.loc[school["Served within 30 days"] == "<30", "Share served"] == "—").all()
    text = " ".join(sec.paragraphs)
    assert "Does flagging help?" in text and "near the cut-off only" in text
    assert "school alone" in text
    assert not STUDENT_ID.findall(text + " ".join(t.frame.to_csv() for t in sec.tables))


def test_pdf_and_slides_hold_the_section_with_suppression_and_no_student_rows(built):
    from pptx import Presentation
    from pypdf import PdfReader

    _, _, pdf, pptx = built
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    assert TITLE in text and "Coverage by school" in text and "What worked and what it cost" in text
    assert "<30" in text and not STUDENT_ID.findall(text)
    slides = []
    for slide in Presentation(io.BytesIO(pptx)).slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                slides.append(shape.text_frame.text)
            if shape.has_table:
                slides += [cell.text for row in shape.table.rows for cell in row.cells]
    deck = "\n".join(slides)
    assert "Coverage by school" in deck and "What worked and what it cost" in deck
    assert "<30" in deck and not STUDENT_ID.findall(deck)


def test_suppressed_json_hides_small_counts_and_their_effects():
    evaluation = {
        "interventions": [
            {"intervention": "Tutoring", "served": 40, "effect_size": 0.2, "effect_ci_low": 0.1, "effect_ci_high": 0.3,
             "evidence_code": "moderate", "evidence_label": "Moderate (Tier II-like)", "cost_per_student": 600.0},
            {"intervention": "Mentoring", "served": 4, "effect_size": 0.9, "effect_ci_low": -0.5, "effect_ci_high": 2.0,
             "evidence_code": "insufficient", "evidence_label": "Insufficient data", "cost_per_student": 300.0}],
        "coverage": {"flagged": 50, "served_30d": 7, "share_served_30d": 0.14}, "rdd": None}
    out = section_builder.suppressed_json(evaluation, 10)
    assert out["interventions"][0] == evaluation["interventions"][0]
    small = out["interventions"][1]
    assert small["served"] == {"value": None, "display": "<10"} and small["effect_size"] is None
    assert small["cost_per_student"] == 300.0 and small["intervention"] == "Mentoring"
    assert out["coverage"] == {"flagged": 50, "served_30d": {"value": None, "display": "<10"},
                               "share_served_30d": None}
    assert out["rdd"] is None


def test_a_small_district_section_hides_every_small_cell():
    funnel = pd.DataFrame([
        {"dimension": "district", "group": "all", "flagged": 14, "served_30d": 9, "on_track": 3, "met_goal": 2},
        {"dimension": "school", "group": "A", "flagged": 12, "served_30d": 9, "on_track": 3, "met_goal": 2},
        {"dimension": "school", "group": "B", "flagged": 2, "served_30d": 0, "on_track": 0, "met_goal": 0}])
    per = pd.DataFrame([{"intervention": "Tutoring", "served": 9, "effect_size": 0.5, "effect_ci_low": 0.1,
                         "effect_ci_high": 0.9, "evidence_label": "Promising (Tier III-like)", "p_above": 0.9,
                         "p_within": 0.1, "p_below": 0.0, "cost_per_student": 500.0, "cost_per_0_1_sd": 100.0}])
    ev = SimpleNamespace(per_intervention=per, coverage={"flagged": 14, "served_30d": 9, "share_served_30d": 9 / 14},
                         funnel=funnel, rdd=None, targeting=None, flag_source="model v1",
                         flag_date=pd.Timestamp("2026-01-31"), rdd_outcome=None)
    sec = section_builder.interventions_section(ev, 10, school_names={"A": "Alder", "B": "Birch"})
    kpis = {k.label: (k.value, k.note) for k in sec.kpis}
    assert kpis["Flagged"] == ("14", "") and kpis["Served within 30 days"] == ("<10", "— of flagged")
    worked = sec.tables[0].frame.iloc[0]
    assert worked["Served"] == "<10" and worked["Effect (SD, 95% CI)"] == "—" and worked["Evidence"] == "—"
    schools = sec.tables[1].frame
    assert schools["School"].tolist() == ["Alder", "Birch"]
    assert schools.loc[1, "Flagged"] == "<10" and schools.loc[0, "Share served"] == "—"
    assert "fewer than 10" in " ".join(sec.paragraphs)
    assert "Of 14 students flagged by model v1 on 2026-01-31, <10 had a support" in sec.paragraphs[0]


def test_report_json_fills_interventions_from_the_same_evaluation(sample_db_url):
    engine = data.make_engine(sample_db_url)
    try:
        ws = workspace.Workspace(engine)
        figures = report_service.report_figures(ws, min_n=10)
        same = section_builder.suppressed_json(
            interventions_service.evaluation_json(interventions_service.evaluate_interventions(ws)), 10)
    finally:
        engine.dispose()
    assert figures["interventions"] == same
    assert figures["interventions"]["coverage"]["flagged"] > 0 and figures["interventions"]["interventions"]
