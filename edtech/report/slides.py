"""Board report as PowerPoint (python-pptx, 16:9, one idea per slide).

Slides: title; executive summary; key figures (tiles); then one slide per table and one per
chart of every section. The explanation of each slide's numbers (definitions, method, the
privacy rule) is in its speaker notes, so the presenter has it and the slide stays clean.

The built-in template is 4:3: after switching to 13.333 x 7.5 in the layout placeholders stay in
the left 10 inches, so every placeholder used is moved and resized here.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import pandas as pd
from pptx import Presentation
from pptx.dml.color import RGBColor
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import PP_ALIGN
from pptx.util import Emu, Inches, Pt

from edtech.report.assemble import BoardReport, Kpi, ReportChart, ReportTable, Section

SLIDE_W, SLIDE_H = Emu(12192000), Emu(6858000)  # 13.333 x 7.5 in, PowerPoint's 16:9
LEFT = Inches(0.6)
CONTENT_W = SLIDE_W - 2 * LEFT
TITLE_TOP, TITLE_H = Inches(0.35), Inches(0.9)
BODY_TOP = Inches(1.35)
ACCENT = RGBColor(0x1F, 0x6F, 0xEB)
GREY = RGBColor(0x57, 0x60, 0x6A)
LIGHT = RGBColor(0xF0, 0xF3, 0xF7)
LAYOUT_TITLE, LAYOUT_TITLE_ONLY = 0, 5
CHART_PX_W = 1200


def _title(slide, text: str, size: int = 30) -> None:
    """Move the layout's title placeholder to the 16:9 width and set its text."""
    shape = slide.shapes.title
    shape.left, shape.top, shape.width, shape.height = LEFT, TITLE_TOP, CONTENT_W, TITLE_H
    shape.text = text
    para = shape.text_frame.paragraphs[0]
    para.alignment = PP_ALIGN.LEFT
    for run in para.runs:
        run.font.size = Pt(size)
        run.font.bold = True
        run.font.color.rgb = ACCENT


def _notes(slide, lines: Sequence[str]) -> None:
    slide.notes_slide.notes_text_frame.text = "\n".join(line for line in lines if line)


def _text_box(slide, left, top, width, height, paragraphs: Sequence[str], size: int = 18,
              color: RGBColor | None = None, bold_lead: bool = False) -> None:
    box = slide.shapes.add_textbox(left, top, width, height)
    frame = box.text_frame
    frame.word_wrap = True
    for i, text in enumerate(paragraphs):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        para.space_after = Pt(size * 0.6)
        if bold_lead and ": " in text:
            lead, rest = text.split(": ", 1)
            run = para.add_run()
            run.text = lead + ": "
            run.font.bold = True
            run.font.size = Pt(size)
            text = rest
        run = para.add_run()
        run.text = text
        run.font.size = Pt(size)
        if color is not None:
            run.font.color.rgb = color


def _title_slide(prs: Presentation, report: BoardReport) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE])
    title, subtitle = slide.shapes.title, slide.placeholders[1]
    title.left, title.top, title.width, title.height = LEFT, Inches(2.2), CONTENT_W, Inches(1.5)
    subtitle.left, subtitle.top, subtitle.width, subtitle.height = LEFT, Inches(3.9), CONTENT_W, Inches(1.6)
    title.text = report.title
    title.text_frame.paragraphs[0].alignment = PP_ALIGN.LEFT
    title.text_frame.paragraphs[0].runs[0].font.color.rgb = ACCENT
    title.text_frame.paragraphs[0].runs[0].font.bold = True
    title.text_frame.paragraphs[0].runs[0].font.size = Pt(44)
    subtitle.text = f"{report.district_name}\nData through {report.as_of:%B %d, %Y} · budget proposal: {report.scenario_name}"
    for para in subtitle.text_frame.paragraphs:
        para.alignment = PP_ALIGN.LEFT
        for run in para.runs:
            run.font.size = Pt(20)
            run.font.color.rgb = GREY
    _notes(slide, [f"{report.subtitle}.",
                   f"Privacy: any count of fewer than {report.min_n} students is shown as <{report.min_n}; "
                   "the report holds no student names or IDs."])


def _summary_slide(prs: Presentation, sec: Section) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, sec.title)
    size = 17 if sum(len(p) for p in sec.paragraphs) < 1100 else 15
    _text_box(slide, LEFT, BODY_TOP, CONTENT_W, SLIDE_H - BODY_TOP - Inches(0.4), sec.paragraphs, size=size,
              bold_lead=True)
    _notes(slide, sec.notes)


def _kpi_slide(prs: Presentation, sec: Section, kpis: Sequence[Kpi]) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, sec.title)
    per_row = 3
    gap = Inches(0.3)
    w = int((CONTENT_W - gap * (per_row - 1)) / per_row)
    h = Inches(2.3)
    for i, k in enumerate(kpis):
        left = LEFT + (i % per_row) * (w + gap)
        top = BODY_TOP + Inches(0.2) + (i // per_row) * (h + gap)
        tile = slide.shapes.add_shape(MSO_SHAPE.ROUNDED_RECTANGLE, left, top, w, h)
        tile.fill.solid()
        tile.fill.fore_color.rgb = LIGHT
        tile.line.fill.background()
        tile.shadow.inherit = False
        frame = tile.text_frame
        frame.word_wrap = True
        for j, (text, size, bold, color) in enumerate([(k.label, 16, False, GREY), (k.value, 40, True, None),
                                                       (k.note, 13, False, GREY)]):
            para = frame.paragraphs[0] if j == 0 else frame.add_paragraph()
            para.alignment = PP_ALIGN.CENTER
            run = para.add_run()
            run.text = text
            run.font.size = Pt(size)
            run.font.bold = bold
            run.font.color.rgb = color or RGBColor(0x11, 0x11, 0x11)
    _notes(slide, [f"{k.label}: {k.value} ({k.note})." for k in kpis] + sec.notes)


def _table_slide(prs: Presentation, sec: Section, t: ReportTable, lead: str | None) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, t.title, size=26)
    top = BODY_TOP
    if lead:
        _text_box(slide, LEFT, top - Inches(0.15), CONTENT_W, Inches(0.8), [lead], size=14, color=GREY)
        top += Inches(0.75)
    frame = t.frame
    n_rows, n_cols = len(frame) + 1, max(len(frame.columns), 1)
    size = 12 if n_rows <= 8 and n_cols <= 8 else 11 if n_rows <= 12 else 10
    row_h = Inches(0.23 + size / 100)
    height = min(row_h * n_rows, SLIDE_H - top - Inches(0.5))
    shape = slide.shapes.add_table(n_rows, n_cols, LEFT, top, CONTENT_W, height)
    table = shape.table
    for j, w in enumerate(_column_widths(frame, CONTENT_W, size)):
        table.columns[j].width = w
    for i in range(n_rows):
        table.rows[i].height = row_h
    for j, col in enumerate(frame.columns):
        _cell(table.cell(0, j), str(col), size, bold=True)
    numeric = [bool(frame[c].astype(str).str.match(r"^[-+$<\d]").mean() > 0.6) for c in frame.columns]
    for i, row in enumerate(frame.itertuples(index=False), start=1):
        for j, value in enumerate(row):
            _cell(table.cell(i, j), "" if value is None else str(value), size,
                  align=PP_ALIGN.RIGHT if numeric[j] else PP_ALIGN.LEFT)
    notes = [lead or "", t.note, *sec.notes]
    _notes(slide, notes)


def _column_widths(frame: pd.DataFrame, total: int, size: float) -> list[Emu]:
    """Each column as wide as its widest cell measured in DejaVu Sans (wider than Calibri, so it
    fits), headers wrapping at spaces; when too wide the widest columns give way first."""
    from PIL import ImageFont

    from edtech.report.pdf import FONT_DIR

    regular = ImageFont.truetype(str(FONT_DIR / "DejaVuSans.ttf"), 100)
    bold = ImageFont.truetype(str(FONT_DIR / "DejaVuSans-Bold.ttf"), 100)
    pad = 0.14 * 72  # cell margins, points
    need = []
    for col in frame.columns:
        body = max([regular.getlength(str(c)) for c in frame[col]] + [0.0]) * size / 100
        head = max([bold.getlength(w) for w in str(col).split()] + [0.0]) * size / 100
        need.append(max(body, head, 18.0) + pad)
    total_pt = total / 12700
    widths = list(need)
    while sum(widths) > total_pt:
        order = sorted(range(len(widths)), key=lambda i: widths[i], reverse=True)
        widest = order[0]
        second = widths[order[1]] if len(order) > 1 else 0.0
        target = max(second, widths[widest] - (sum(widths) - total_pt))
        if target >= widths[widest]:
            widths = [w * total_pt / sum(widths) for w in widths]
            break
        widths[widest] = target
    extra = total_pt - sum(widths)
    widths = [w + extra * w / sum(widths) for w in widths]
    return [Emu(int(w * 12700)) for w in widths]


def _cell(cell, text: str, size: int, bold: bool = False, align=PP_ALIGN.LEFT) -> None:
    cell.text = text
    cell.margin_left = cell.margin_right = Inches(0.05)
    cell.margin_top = cell.margin_bottom = Inches(0.02)
    para = cell.text_frame.paragraphs[0]
    para.alignment = align
    for run in para.runs:
        run.font.size = Pt(size)
        run.font.bold = bold


def _chart_slide(prs: Presentation, sec: Section, c: ReportChart, png: bytes) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, c.title, size=26)
    caption_h = Inches(0.6) if c.caption else 0
    max_w, max_h = CONTENT_W, SLIDE_H - BODY_TOP - caption_h - Inches(0.3)
    ratio = c.height / CHART_PX_W
    w = max_w if max_w * ratio <= max_h else int(max_h / ratio)
    h = int(w * ratio)
    slide.shapes.add_picture(io.BytesIO(png), LEFT + int((CONTENT_W - w) / 2), BODY_TOP, width=w, height=h)
    if c.caption:
        _text_box(slide, LEFT, BODY_TOP + h + Inches(0.05), CONTENT_W, caption_h, [c.caption], size=13, color=GREY)
    _notes(slide, [c.caption, *sec.paragraphs, *sec.notes])


def _message_slide(prs: Presentation, sec: Section) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, sec.title)
    _text_box(slide, LEFT, BODY_TOP + Inches(0.3), CONTENT_W, Inches(4), sec.paragraphs, size=20)
    _notes(slide, sec.notes)


def build_pptx(report: BoardReport, chart_pngs: dict[str, bytes] | None = None) -> bytes:
    """The report as .pptx bytes; `chart_pngs` maps chart key -> PNG (missing charts are skipped)."""
    pngs = chart_pngs or {}
    prs = Presentation()
    prs.slide_width, prs.slide_height = SLIDE_W, SLIDE_H
    _title_slide(prs, report)
    for sec in report.sections:
        if sec.key == "summary":
            _summary_slide(prs, sec)
            continue
        if sec.key == "kpis":
            _kpi_slide(prs, sec, sec.kpis)
            continue
        charts = [c for c in sec.charts if c.key in pngs]
        if not sec.tables and not charts:
            _message_slide(prs, sec)
            continue
        lead = sec.paragraphs[0] if sec.paragraphs and len(sec.paragraphs[0]) <= 260 else None
        for i, t in enumerate(sec.tables):
            _table_slide(prs, sec, t, lead if i == 0 else None)
        for c in charts:
            _chart_slide(prs, sec, c, pngs[c.key])
    buffer = io.BytesIO()
    prs.save(buffer)
    return buffer.getvalue()


def slide_texts(pptx: bytes) -> list[dict[str, str]]:
    """Per slide: its title, all shape text (tables included) and the notes (tests, previews)."""
    prs = Presentation(io.BytesIO(pptx))
    out = []
    for slide in prs.slides:
        parts = []
        for shape in slide.shapes:
            if shape.has_text_frame:
                parts.append(shape.text_frame.text)
            if getattr(shape, "has_table", False) and shape.has_table:
                parts.extend(cell.text for row in shape.table.rows for cell in row.cells)
        notes = slide.notes_slide.notes_text_frame.text if slide.has_notes_slide else ""
        title = slide.shapes.title.text if slide.shapes.title is not None else ""
        out.append({"title": title, "text": "\n".join(parts), "notes": notes})
    return out


def table_frames(pptx: bytes) -> list[pd.DataFrame]:
    """Every table in the deck as a DataFrame of text (header row = columns)."""
    prs = Presentation(io.BytesIO(pptx))
    frames = []
    for slide in prs.slides:
        for shape in slide.shapes:
            if getattr(shape, "has_table", False) and shape.has_table:
                rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
                frames.append(pd.DataFrame(rows[1:], columns=rows[0]))
    return frames


# --------------------------------------------------------------------------- preview image
