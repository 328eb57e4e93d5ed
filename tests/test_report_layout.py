"""Board packet layout (issue 14): slide tables short and large, the summary as bullets, nothing off a slide;
PDF pages without half-empty gaps, the scoreboard on its chart's page; the at-risk wording from the
published model version only."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
from pptx import Presentation
from pptx.oxml.ns import qn
from pypdf import PdfReader

from edtech.report import assemble as report
from edtech.report import pdf as report_pdf
from edtech.report import slides
from edtech.roi import engine as roi
from edtech.sample.generate import DISTRICT_NAME, generate_district
from edtech.services import report as report_service

MIN_N = 10
SLIDE_BOTTOM = 6858000


def _png(width: int = 1200, height: int = 500) -> bytes:
    """A stand-in chart image (layout tests of a synthetic report need no browser)."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (width, height), "white")
    ImageDraw.Draw(img).rectangle([40, 40, width - 40, height - 40], outline="black", width=6)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def built():
    district = generate_district(n_students=1500, seed=2025).district
    board = roi.score_tools(district)
    rep = report.build_board_report(district, scoreboard=board, district_name=DISTRICT_NAME, min_n=MIN_N, draws=300)
    try:
        pngs = report_service.chart_images(rep)
    except report_service.RenderError:
        pngs = {c.key: _png(1200, c.height) for c in rep.charts()}
    pdf, layout = report_pdf.build_pdf_layout(rep, pngs)
    return {"report": rep, "pngs": pngs, "pptx": slides.build_pptx(rep, pngs), "pdf": pdf, "layout": layout}


def _extra_section_report(base: report.BoardReport) -> report.BoardReport:
    """The sample's report plus a section of a kind the layout has never seen (a 17-row, 9-column table,
    KPI tiles, long paragraphs, two charts): layout must be generic."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "Student group": [f"Group {i} with a fairly long descriptive name" for i in range(17)],
        "Intervention": ["Small-group tutoring, three times a week" if i % 2 else "Mentoring" for i in range(17)],
        **{f"Measure {j}": [f"{v:,.0f}" for v in rng.integers(10, 5000, 17)] for j in range(1, 7)},
        "Status": ["on track" if i % 3 else "needs attention from the coordinator" for i in range(17)]})
    extra = report.Section(
        "interventions_test", "Interventions (test section)",
        paragraphs=["Who is served: " + "A long paragraph about who is served and why. " * 12,
                    "What changed: " + "Progress was measured every two weeks. " * 10],
        kpis=[report.Kpi(f"Figure {i}", f"{i * 11}%", "a note under the tile") for i in range(7)],
        tables=[report.ReportTable("Interventions by student group", frame, note="A note under the table.")],
        charts=[report.ReportChart("extra_chart", "A tall chart", None, "Caption of the tall chart.", height=700),
                report.ReportChart("extra_chart2", "A short chart", None, "", height=380)],
        notes=["How the interventions were counted."])
    return dataclasses.replace(base, sections=[*base.sections[:-1], extra, base.sections[-1]])


# --------------------------------------------------------------------------- PowerPoint
def _main_pieces(pptx: bytes) -> list[dict]:
    return [p for p in slides.slide_tables(pptx) if not p["title"].startswith("Appendix")]


def _check_tables(pptx: bytes, rep: report.BoardReport) -> None:
    pieces = slides.slide_tables(pptx)
    assert pieces
    for p in pieces:
        assert p["sizes"] and min(s for s in p["sizes"] if s is not None) >= 14, p["title"]
        assert None not in p["sizes"], p["title"]
    main = _main_pieces(pptx)
    assert all(len(p["rows"]) <= slides.MAX_MAIN_ROWS for p in main)
    assert len(main) == len(rep.tables())
    # the appendix comes after every main slide, and together they hold every cell of every table
    appendix_slides = [p["slide"] for p in pieces if p["title"].startswith("Appendix")]
    assert not appendix_slides or min(appendix_slides) > max(p["slide"] for p in main)
    frames = slides.table_frames(pptx)
    assert len(frames) == len(rep.tables())
    for t, shown in zip(rep.tables(), frames, strict=True):
        expected = t.frame.astype(str).reset_index(drop=True)
        assert list(shown.columns) == list(expected.columns), t.title
        assert shown.to_numpy().tolist() == expected.to_numpy().tolist(), t.title
        if len(t.frame) > slides.MAX_MAIN_ROWS:
            assert any(p["title"].startswith(f"Appendix: {t.title}") for p in pieces), t.title


def _check_fit(pptx: bytes) -> None:
    prs = Presentation(io.BytesIO(pptx))
    for number, slide in enumerate(prs.slides, start=1):
        for shape in slide.shapes:
            assert shape.left >= 0 and shape.left + shape.width <= prs.slide_width, (number, shape.name)
            assert shape.top + shape.height <= prs.slide_height, (number, shape.name)
            if shape.has_text_frame and shape.text_frame.text and shape != slide.shapes.title:
                assert len(shape.text_frame.text) < 1000, (number, shape.name)
                # the text, wrapped paragraph by paragraph at its size in the shape's width, ends inside the
                # slide, and inside the shape (a tile, a caption box)
                need = _text_need(shape)
                assert shape.top + need <= prs.slide_height, (number, shape.name)
                assert need <= shape.height * 1.1 + 12700 * 6, (number, shape.name, need / 12700, shape.height / 12700)
        for shape in slide.shapes:
            if getattr(shape, "has_table", False) and shape.has_table:
                widths = [c.width for c in shape.table.columns]
                height = sum(slides.row_height([cell.text for cell in row.cells], widths, 14, bold=i == 0)
                             for i, row in enumerate(shape.table.rows))
                assert shape.top + height <= prs.slide_height - slides.BOTTOM + 1, (number, shape.name)


def _text_need(shape) -> int:
    """EMU height the shape's text needs: each paragraph wrapped at its largest run's size (DejaVu widths,
    wider than the slide's font), line spacing 1.2, its space after, and the frame's margins."""
    frame = shape.text_frame
    width_pt = (shape.width - (frame.margin_left or 91440) - (frame.margin_right or 91440)) / 12700
    need_pt = ((frame.margin_top or 45720) + (frame.margin_bottom or 45720)) / 12700
    for para in frame.paragraphs:
        sizes = [r.font.size.pt for r in para.runs if r.font.size is not None]
        size = max(sizes, default=18.0)
        indent = size if para._p.pPr is not None and para._p.pPr.find(qn("a:buChar")) is not None else 0
        lines = slides.wrapped_lines(para.text, width_pt - indent, size) if para.text else 1
        need_pt += lines * size * slides.LINE_SPACING + (para.space_after.pt if para.space_after is not None else 0)
    return int(need_pt * 12700)


def test_slide_tables_are_short_large_and_complete(built):
    _check_tables(built["pptx"], built["report"])
    # the 10-tool scoreboard and the 12-school table did not fit on one slide each: appendix slides exist
    titles = [s["title"] for s in slides.slide_texts(built["pptx"])]
    assert any(t.startswith("Appendix: ROI scoreboard") for t in titles)
    assert any(t.startswith("Appendix: Adoption by school") for t in titles)
    # the main slide says where the rest is
    main = next(s for s in slides.slide_texts(built["pptx"]) if s["title"] == "ROI scoreboard (best first)")
    assert "full table is in the appendix (slide" in main["text"]


def test_nothing_overflows_a_slide(built):
    _check_fit(built["pptx"])


def test_summary_is_bullets_with_the_full_text_in_the_notes(built):
    rep = built["report"]
    prs = Presentation(io.BytesIO(built["pptx"]))
    summary_slides = [s for s in prs.slides if s.shapes.title.text.startswith("Executive summary")]
    assert summary_slides
    paragraphs = []
    for slide in summary_slides:
        box = next(sh for sh in slide.shapes if sh.name == "bullets")
        for para in box.text_frame.paragraphs:
            p_pr = para._p.pPr
            assert p_pr is not None and p_pr.find(qn("a:buChar")) is not None, para.text
            assert len(para.text) <= 200, para.text
            assert all(r.font.size.pt >= 18 for r in para.runs)
            paragraphs.append(para.text)
        notes = slide.notes_slide.notes_text_frame.text
        assert rep.section("summary").paragraphs[0] in notes
    assert len(paragraphs) == len(rep.section("summary").paragraphs)
    assert [p.split(":")[0] for p in paragraphs] == [p.split(":")[0] for p in rep.section("summary").paragraphs]


def test_bullet_text_keeps_whole_sentences():
    text = "What is used: 64% of seats were used. 3 tools are underused (A, B, C). Another sentence follows here."
    assert slides.bullet_text(text, limit=80) == "What is used: 64% of seats were used. 3 tools are underused (A, B, C)."
    long = "Lead: " + ", ".join(f"item number {i}" for i in range(40)) + "."
    cut = slides.bullet_text(long, limit=120)
    assert len(cut) <= 121 and cut.endswith("…")


def test_any_section_is_laid_out(built):
    rep = _extra_section_report(built["report"])
    pngs = {**built["pngs"], "extra_chart": _png(1200, 700), "extra_chart2": _png(1200, 380)}
    pptx = slides.build_pptx(rep, pngs)
    _check_tables(pptx, rep)
    _check_fit(pptx)
    titles = [s["title"] for s in slides.slide_texts(pptx)]
    assert any(t.startswith("Appendix: Interventions by student group") for t in titles)
    assert sum(t.startswith("Interventions (test section)") for t in titles) >= 2  # tiles (7 → two slides), text
    content, layout = report_pdf.build_pdf_layout(rep, pngs)
    _check_pdf(content, layout)
    assert layout.pages_of("chart", "extra_chart")[0] in layout.pages_of("table", "Interventions by student group")


# --------------------------------------------------------------------------- PDF
def _check_pdf(content: bytes, layout: report_pdf.PdfLayout) -> None:
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == layout.pages
    fill = layout.fill()
    short = [(i + 1, round(f, 2)) for i, f in enumerate(fill[:-1]) if f < 0.3]
    assert short == [], f"pages with less than 30% content: {short}"
    # the layout log agrees with the file: every page with a chart block holds an image
    for b in layout.blocks:
        if b.kind == "chart":
            assert len(reader.pages[b.page - 1].images) >= 1, b.key


def test_pdf_pages_are_full_and_the_scoreboard_is_with_its_chart(built):
    content, layout = built["pdf"], built["layout"]
    _check_pdf(content, layout)
    assert 4 <= layout.pages <= 12
    table_pages = layout.pages_of("table", "ROI scoreboard (best first)")
    chart_pages = layout.pages_of("chart", "roi_utilization")
    assert len(chart_pages) == 1 and chart_pages[0] in table_pages
    # the same, read from the file: the page that prints the scoreboard's title carries the chart image
    reader = PdfReader(io.BytesIO(content))
    page = next(p for p in reader.pages if "ROI scoreboard (best first)" in (p.extract_text() or ""))
    assert len(page.images) >= 1
    # sections flow: no section starts a page that the previous one left mostly empty
    assert layout.pages < len(built["report"].sections) + 3


def test_pdf_fill_check_can_fail():
    """A layout that leaves a page a fifth full is caught."""
    layout = report_pdf.PdfLayout(blocks=[
        report_pdf.PlacedBlock("text", "a", 1, report_pdf.MARGIN, 1, report_pdf.MARGIN + 30),
        report_pdf.PlacedBlock("chart", "b", 2, report_pdf.MARGIN, 2, 180)], pages=2)
    assert layout.fill()[0] < 0.3


# --------------------------------------------------------------------------- the published model only
def test_report_uses_only_the_published_version_and_its_outcome_words(sample_db_url):
    from edtech.risk import model as risk
    from edtech.services import risk as risk_service
    from edtech.services.workspace import Workspace
    from edtech.store import data

    engine = data.make_engine(sample_db_url)
    district = data.load_district(engine)
    table = risk_service.district_table(district)
    result = risk.evaluate_risk(table, risk_service.DEFAULT_DISTRICT_TARGET, kinds=("logistic",), importance=False)
    first = risk_service.save_version(engine, risk_service.TrainedRisk(result=result, table=table, card=""))
    rep = report_service.build_report(Workspace(engine), sections=["summary", "at_risk"])
    assert rep.risk_counts is None  # stored but not published: not used
    assert "version" not in " ".join(rep.section("at_risk").notes)
    risk_service.publish_version(engine, first)
    # an exploratory run on another outcome, stored later but not published
    explored = dataclasses.replace(result, target="gpa < 2")
    second = risk_service.save_version(engine, risk_service.TrainedRisk(result=explored, table=table, card=""))
    assert second > first
    rep = report_service.build_report(Workspace(engine), sections=["summary", "at_risk"])
    words = " ".join([*rep.section("at_risk").paragraphs, *rep.section("summary").paragraphs])
    assert f"version {first}" in " ".join(rep.section("at_risk").notes)
    assert "being off track next term" in words and "GPA" not in words
    # once the director publishes the other outcome, the prose follows it
    risk_service.publish_version(engine, second)
    rep = report_service.build_report(Workspace(engine), sections=["summary", "at_risk"])
    words = " ".join([*rep.section("at_risk").paragraphs, *rep.section("summary").paragraphs])
    assert f"version {second}" in " ".join(rep.section("at_risk").notes)
    assert "a GPA below 2" in words and "off track" not in words
    engine.dispose()
