"""Board report as PowerPoint (python-pptx, 16:9, one idea per slide).

Slides: title; executive summary; key figures (tiles); then one slide per table and one per
chart of every section. The explanation of each slide's numbers (definitions, method, the
privacy rule) is in its speaker notes, so the presenter has it and the slide stays clean.

The built-in template is 4:3: after switching to 13.333 x 7.5 in the layout placeholders stay in
the left 10 inches, so every placeholder used is moved and resized here.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

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


def _bullet(para, size: int) -> None:
    """Make `para` a real bullet (a:buChar) with a hanging indent, as PowerPoint's own bullets are."""
    from pptx.oxml.ns import qn

    p_pr = para._p.get_or_add_pPr()
    indent = int(Pt(size * 1.0))
    p_pr.set("marL", str(indent))
    p_pr.set("indent", str(-indent))
    for tag in ("a:buNone", "a:buAutoNum", "a:buChar", "a:buFont"):
        for old in p_pr.findall(qn(tag)):
            p_pr.remove(old)
    p_pr.append(p_pr.makeelement(qn("a:buFont"), {"typeface": "Arial"}))
    p_pr.append(p_pr.makeelement(qn("a:buChar"), {"char": "•"}))


# --------------------------------------------------------------------------- measuring text (DejaVu: wider than
# Calibri, so what fits measured in DejaVu fits on the slide)
_FONTS: dict[bool, object] = {}


def _font(bold: bool):
    if bold not in _FONTS:
        from PIL import ImageFont

        from edtech.report.pdf import FONT_DIR

        _FONTS[bold] = ImageFont.truetype(str(FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")), 100)
    return _FONTS[bold]


@functools.lru_cache(maxsize=20000)
def _width_100(text: str, bold: bool) -> float:
    return _font(bold).getlength(text)


def text_width_pt(text: str, size: float, bold: bool = False) -> float:
    """Width in points of `text` at `size` (words repeat across cells and rows: measured once each)."""
    return _width_100(str(text), bold) * size / 100


def wrapped_lines(text: str, width_pt: float, size: float, bold: bool = False) -> int:
    """Lines `text` takes in a box `width_pt` wide (greedy word wrap, as PowerPoint wraps)."""
    lines = 0
    for part in str(text).split("\n"):
        words = part.split(" ")
        line_w, count = 0.0, 1
        space = text_width_pt(" ", size, bold)
        for word in words:
            w = text_width_pt(word, size, bold)
            if w > width_pt:  # a word longer than the line breaks inside itself
                extra = int(w // max(width_pt, 1.0))
                count += extra + (1 if line_w else 0)
                line_w = w - extra * width_pt
                continue
            if line_w and line_w + space + w > width_pt:
                count += 1
                line_w = w
            else:
                line_w += (space if line_w else 0) + w
        lines += count
    return lines


LINE_SPACING = 1.2
TABLE_PT = 14             # every table cell on every slide
MAX_MAIN_ROWS = 6         # body rows of a table on its section's slide; the rest goes to the appendix
MAX_CELL_LINES = 2        # on a main slide a cell may wrap to two lines, no more
CELL_PAD_X = Inches(0.06)
CELL_PAD_Y = Inches(0.03)
BOTTOM = Inches(0.35)     # kept free at the bottom of every slide
TABLE_NAME = "report-table"


def row_height(cells: Sequence[str], widths: Sequence[int], size: float, bold: bool = False) -> int:
    """EMU height of a table row whose cells wrap in their columns' widths."""
    pad_pt = 2 * CELL_PAD_X / 12700
    lines = max([wrapped_lines(c, w / 12700 - pad_pt, size, bold) for c, w in zip(cells, widths, strict=True)] + [1])
    return int(Pt(lines * size * LINE_SPACING + 2 * CELL_PAD_Y / 12700 + 3))


def _natural_width(frame: pd.DataFrame, col: str, size: float) -> tuple[float, float]:
    """(width of the widest cell on one line, width of the longest word) of a column, points, with padding."""
    pad = 2 * CELL_PAD_X / 12700 + 2
    cells = [str(c) for c in frame[col]]
    body = max([text_width_pt(c, size) for c in cells] + [0.0])
    head = max([text_width_pt(w, size, True) for w in str(col).split()] + [0.0])
    word = max([text_width_pt(w, size) for c in cells for w in c.split()] + [0.0])
    return max(body, head, 18.0) + pad, max(word, head, 18.0) + pad


def _choose_columns(frame: pd.DataFrame, total_pt: float, size: float) -> list[int]:
    """Columns a main slide shows: the first (what each row is; with the rank before it when the first
    is a "#"), then the last (usually the conclusion: a recommendation, a total), then the others in order,
    as long as every cell still fits in MAX_CELL_LINES lines."""
    n = len(frame.columns)
    if n == 0:
        return []
    need = [_natural_width(frame, c, size) for c in frame.columns]
    floor = [max(word, one_line / MAX_CELL_LINES) for one_line, word in need]
    first = [0, 1] if n > 1 and str(frame.columns[0]).strip() == "#" else [0]
    order = first + ([n - 1] if n - 1 not in first else []) + [i for i in range(n) if i not in first and i != n - 1]
    chosen: list[int] = []
    for i in order:
        if not chosen or sum(floor[j] for j in chosen) + floor[i] <= total_pt:
            chosen.append(i)
    return sorted(chosen)


def _column_groups(frame: pd.DataFrame, total_pt: float, size: float) -> list[list[int]]:
    """Columns split into groups that each fit the slide width (cells up to three lines), every group
    repeating the first column so a row can be followed across slides."""
    n = len(frame.columns)
    if n == 0:
        return [[]]
    need = [_natural_width(frame, c, size) for c in frame.columns]
    floor = [max(word, one_line / 3) for one_line, word in need]
    key = [0, 1] if n > 1 and str(frame.columns[0]).strip() == "#" else [0]
    groups: list[list[int]] = []
    current = list(key)
    for i in range(len(key), n):
        if len(current) > len(key) and sum(floor[j] for j in current) + floor[i] > total_pt:
            groups.append(current)
            current = list(key)
        current.append(i)
    groups.append(current)
    return groups


def _widths(frame: pd.DataFrame, cols: list[int], total: int, size: float, lines: int = MAX_CELL_LINES) -> list[int]:
    """EMU widths of `cols` filling `total`: each column as wide as its widest cell on one line; when they do
    not fit, the widest column gives way first, never below its longest word nor below 1/`lines` of its
    one-line width (so a column of short figures is never squeezed to wrap "$31,770")."""
    need = [_natural_width(frame, frame.columns[c], size) for c in cols]
    widths = [one for one, _ in need]
    floors = [max(word, one / lines) for one, word in need]
    total_pt = total / 12700
    while sum(widths) > total_pt + 0.01:
        slack = [i for i in range(len(widths)) if widths[i] > floors[i] + 0.01]
        if not slack:
            widths = [w * total_pt / sum(widths) for w in widths]  # cannot fit: shrink all alike
            break
        widest = max(slack, key=lambda i: widths[i])
        others = [widths[i] for i in slack if i != widest]
        target = max(floors[widest], max(others, default=0.0), widths[widest] - (sum(widths) - total_pt))
        if target >= widths[widest] - 0.01:  # tied with the next widest: shrink the tied ones together
            tied = [i for i in slack if abs(widths[i] - widths[widest]) < 0.02]
            step = min((sum(widths) - total_pt) / len(tied), min(widths[i] - floors[i] for i in tied))
            if step <= 1e-6:
                break
            for i in tied:
                widths[i] -= step
            continue
        widths[widest] = target
    extra = total_pt - sum(widths)
    if extra > 0:
        widths = [w + extra * w / sum(widths) for w in widths]
    return [int(w * 12700) for w in widths]


def _numeric_columns(frame: pd.DataFrame) -> list[bool]:
    return [bool(frame[c].astype(str).str.match(r"^[-+$<\d]").mean() > 0.6) for c in frame.columns]


def _add_table(slide, frame: pd.DataFrame, rows: list[int], cols: list[int], widths: list[int], top: int,
               name: str) -> int:
    """Draw rows x cols of `frame` at TABLE_PT; row heights measured so the slide can be checked. Returns the
    table's bottom (EMU)."""
    sub = frame.iloc[rows, cols]
    header = [str(c) for c in sub.columns]
    body = [["" if v is None else str(v) for v in r] for r in sub.itertuples(index=False)]
    heights = [row_height(header, widths, TABLE_PT, bold=True)] + [row_height(r, widths, TABLE_PT) for r in body]
    shape = slide.shapes.add_table(len(body) + 1, max(len(cols), 1), LEFT, top, sum(widths), sum(heights))
    shape.name = name
    table = shape.table
    for j, w in enumerate(widths):
        table.columns[j].width = w
    for i, h in enumerate(heights):
        table.rows[i].height = h
    numeric = [_numeric_columns(frame)[c] for c in cols]
    for j, text in enumerate(header):
        _cell(table.cell(0, j), text, TABLE_PT, bold=True)
    for i, row in enumerate(body, start=1):
        for j, text in enumerate(row):
            _cell(table.cell(i, j), text, TABLE_PT, align=PP_ALIGN.RIGHT if numeric[j] else PP_ALIGN.LEFT)
    return top + sum(heights)


def _table_name(index: int, rows: list[int], cols: list[int]) -> str:
    """The table shape's name: which report table, rows and columns it shows (table_frames rebuilds from it)."""
    return f"{TABLE_NAME} {index} rows {','.join(map(str, rows))} cols {','.join(map(str, cols))}"


@dataclass
class _Appendix:
    index: int
    table: ReportTable
    sec: Section
    footnote: object | None = None   # the main slide's text frame that names the appendix slides


def _table_slide(prs: Presentation, sec: Section, t: ReportTable, index: int, lead: str | None) -> _Appendix | None:
    """The table's slide: at most MAX_MAIN_ROWS rows and the columns that fit at TABLE_PT; what is left out
    goes to the appendix (returned so the caller adds it at the end)."""
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, t.title, size=26)
    top = BODY_TOP
    if lead:
        h = text_height([lead], CONTENT_W, 16, bullets=False)
        _text_box(slide, LEFT, top - Inches(0.1), CONTENT_W, h, [lead], size=16, color=GREY)
        top += h
    frame = t.frame
    total_pt = CONTENT_W / 12700
    cols = _choose_columns(frame, total_pt, TABLE_PT)
    widths = _widths(frame, cols, CONTENT_W, TABLE_PT) if cols else []
    footnote_h = Inches(0.45)
    room = SLIDE_H - BOTTOM - footnote_h - top
    rows: list[int] = []
    used = row_height([str(frame.columns[c]) for c in cols], widths, TABLE_PT, bold=True) if cols else 0
    for i in range(min(MAX_MAIN_ROWS, len(frame))):
        h = row_height([str(frame.iat[i, c]) for c in cols], widths, TABLE_PT)
        if used + h > room and rows:
            break
        rows.append(i)
        used += h
    bottom = _add_table(slide, frame, rows, cols, widths, top, _table_name(index, rows, cols)) if cols else top
    notes = [*sec.paragraphs, t.note, *sec.notes]
    left_out = len(rows) < len(frame) or len(cols) < len(frame.columns)
    appendix = None
    if left_out or t.note:
        box = slide.shapes.add_textbox(LEFT, bottom + Inches(0.08), CONTENT_W, footnote_h)
        box.text_frame.word_wrap = True
        run = box.text_frame.paragraphs[0].add_run()
        run.text = t.note if not left_out else ""
        run.font.size = Pt(13)
        run.font.color.rgb = GREY
        if left_out:
            appendix = _Appendix(index, t, sec, footnote=(run, len(rows), len(frame), len(cols), len(frame.columns)))
    _notes(slide, notes)
    return appendix


def _appendix_slides(prs: Presentation, ap: _Appendix) -> tuple[int, int]:
    """The whole table (every row, every column) on as many slides as it takes at TABLE_PT: column groups
    that fit the width (the first column repeated), rows packed by measured height. Returns the first and
    last slide numbers (1-based)."""
    frame = ap.table.frame
    total_pt = CONTENT_W / 12700
    groups = _column_groups(frame, total_pt, TABLE_PT)
    first = len(prs.slides._sldIdLst) + 1
    parts: list[tuple[list[int], list[int], list[int]]] = []
    for cols in groups:
        widths = _widths(frame, cols, CONTENT_W, TABLE_PT, lines=3)
        head = row_height([str(frame.columns[c]) for c in cols], widths, TABLE_PT, bold=True)
        room = SLIDE_H - BOTTOM - BODY_TOP
        chunk: list[int] = []
        used = head
        for i in range(len(frame)):
            h = row_height([str(frame.iat[i, c]) for c in cols], widths, TABLE_PT)
            if chunk and used + h > room:
                parts.append((chunk, cols, widths))
                chunk, used = [], head
            chunk.append(i)
            used += h
        if chunk or not len(frame):
            parts.append((chunk, cols, widths))
    for k, (rows, cols, widths) in enumerate(parts, start=1):
        slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
        label = f"rows {rows[0] + 1}–{rows[-1] + 1} of {len(frame)}" if rows else "no rows"
        if len(groups) > 1:
            label += f", columns part {groups.index(cols) + 1} of {len(groups)}"
        _title(slide, f"Appendix: {ap.table.title} ({label})", size=22)
        _add_table(slide, frame, rows, cols, widths, BODY_TOP, _table_name(ap.index, rows, cols))
        _notes(slide, [f"Appendix {k} of {len(parts)} for “{ap.table.title}”.", ap.table.note, *ap.sec.notes])
    last = len(prs.slides._sldIdLst)
    return first, last


def text_height(paragraphs: Sequence[str], width: int, size: int, bullets: bool = True) -> int:
    """EMU height of paragraphs wrapped in a box `width` wide (bullets indent by one em)."""
    inner_pt = (width - Inches(0.2)) / 12700 - (size if bullets else 0)
    lines = sum(wrapped_lines(p, inner_pt, size) for p in paragraphs)
    return int(Pt(lines * size * LINE_SPACING + len(paragraphs) * size * 0.6 + 8))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9“\"(])")


def bullet_text(paragraph: str, limit: int = 190) -> str:
    """One bullet from a paragraph: its lead and as many whole sentences as fit in `limit` characters
    (at least the first; a first sentence longer than the limit is cut at a clause and marked …)."""
    sentences = _SENTENCE_END.split(paragraph.strip())
    out = sentences[0]
    for s in sentences[1:]:
        if len(out) + 1 + len(s) > limit:
            break
        out += " " + s
    if len(out) > limit:
        cut = max(out.rfind("; ", 0, limit), out.rfind(", ", 0, limit), out.rfind(" — ", 0, limit))
        out = (out[:cut] if cut > limit // 2 else out[: out.rfind(" ", 0, limit - 1)]).rstrip(" ,;—") + "…"
    return out


def _bullet_slides(prs: Presentation, title: str, items: Sequence[str], notes: Sequence[str],
                   bold_lead: bool = False) -> None:
    """Bullets at 20 pt (18 pt when that keeps them on one slide), continued on more slides when needed."""
    room = SLIDE_H - BODY_TOP - BOTTOM
    size = 20 if text_height(items, CONTENT_W, 20) <= room else 18
    pages: list[list[str]] = [[]]
    for item in items:
        if pages[-1] and text_height([*pages[-1], item], CONTENT_W, size) > room:
            pages.append([])
        pages[-1].append(item)
    for k, page in enumerate(pages):
        slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
        _title(slide, title + (f" ({k + 1} of {len(pages)})" if len(pages) > 1 else ""))
        box = slide.shapes.add_textbox(LEFT, BODY_TOP, CONTENT_W, text_height(page, CONTENT_W, size))
        box.name = "bullets"
        _text_box_into(box, page, size, bold_lead=bold_lead)
        _notes(slide, notes)


def _text_box_into(box, paragraphs: Sequence[str], size: int, bold_lead: bool) -> None:
    frame = box.text_frame
    frame.word_wrap = True
    for i, text in enumerate(paragraphs):
        para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
        para.space_after = Pt(size * 0.6)
        if bold_lead and ": " in text:
            lead, text = text.split(": ", 1)
            run = para.add_run()
            run.text = lead + ": "
            run.font.bold = True
            run.font.size = Pt(size)
        run = para.add_run()
        run.text = text
        run.font.size = Pt(size)
        _bullet(para, size)


def _summary_slide(prs: Presentation, sec: Section) -> None:
    """The summary as bullets (one per question, its first sentences); the full text is in the notes."""
    items = [bullet_text(p) for p in sec.paragraphs]
    _bullet_slides(prs, sec.title, items, [*sec.paragraphs, *sec.notes], bold_lead=True)


def _kpi_slide(prs: Presentation, sec: Section, kpis: Sequence[Kpi]) -> None:
    per_slide = 6
    chunks = [list(kpis[i:i + per_slide]) for i in range(0, len(kpis), per_slide)] or [[]]
    for n, chunk in enumerate(chunks):
        slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
        _title(slide, sec.title + (f" ({n + 1} of {len(chunks)})" if len(chunks) > 1 else ""))
        _kpi_tiles(slide, chunk)
        _notes(slide, [f"{k.label}: {k.value} ({k.note})." for k in chunk] + sec.notes)


def _kpi_tiles(slide, kpis: Sequence[Kpi]) -> None:
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
        value_size = 40 if len(k.value) <= 12 else 28
        for j, (text, size, bold, color) in enumerate([(k.label, 16, False, GREY), (k.value, value_size, True, None),
                                                       (k.note, 14, False, GREY)]):
            para = frame.paragraphs[0] if j == 0 else frame.add_paragraph()
            para.alignment = PP_ALIGN.CENTER
            run = para.add_run()
            run.text = text
            run.font.size = Pt(size)
            run.font.bold = bold
            run.font.color.rgb = color or RGBColor(0x11, 0x11, 0x11)


def _cell(cell, text: str, size: int, bold: bool = False, align=PP_ALIGN.LEFT) -> None:
    cell.text = text
    cell.margin_left = cell.margin_right = CELL_PAD_X
    cell.margin_top = cell.margin_bottom = CELL_PAD_Y
    para = cell.text_frame.paragraphs[0]
    para.alignment = align
    for run in para.runs:
        run.font.size = Pt(size)
        run.font.bold = bold


def _chart_slide(prs: Presentation, sec: Section, c: ReportChart, png: bytes) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[LAYOUT_TITLE_ONLY])
    _title(slide, c.title, size=26)
    caption_h = text_height([c.caption], CONTENT_W, 14, bullets=False) if c.caption else 0
    max_w, max_h = CONTENT_W, SLIDE_H - BODY_TOP - caption_h - Inches(0.3)
    ratio = c.height / CHART_PX_W
    w = max_w if max_w * ratio <= max_h else int(max_h / ratio)
    h = int(w * ratio)
    slide.shapes.add_picture(io.BytesIO(png), LEFT + int((CONTENT_W - w) / 2), BODY_TOP, width=w, height=h)
    if c.caption:
        _text_box(slide, LEFT, BODY_TOP + h + Inches(0.05), CONTENT_W, caption_h, [c.caption], size=14, color=GREY)
    _notes(slide, [c.caption, *sec.paragraphs, *sec.notes])


def _paragraph_items(sec: Section) -> list[str]:
    return [bullet_text(p) for p in sec.paragraphs]


def build_pptx(report: BoardReport, chart_pngs: dict[str, bytes] | None = None) -> bytes:
    """The report as .pptx bytes; `chart_pngs` maps chart key -> PNG (missing charts are skipped).

    Any section, generically: its KPI tiles, then each table (at most MAX_MAIN_ROWS rows at TABLE_PT, the
    columns that fit; the whole table in the appendix at the end), then each chart; a section with only
    text becomes bullets. The executive summary is bullets, its full sentences in the speaker notes."""
    pngs = chart_pngs or {}
    prs = Presentation()
    prs.slide_width, prs.slide_height = SLIDE_W, SLIDE_H
    _title_slide(prs, report)
    appendices: list[_Appendix] = []
    table_index = 0
    for sec in report.sections:
        if sec.key == "summary":
            _summary_slide(prs, sec)
            continue
        if sec.kpis:
            _kpi_slide(prs, sec, sec.kpis)
        charts = [c for c in sec.charts if c.key in pngs]
        if not sec.tables and not charts:
            if sec.paragraphs and not sec.kpis:
                _bullet_slides(prs, sec.title, _paragraph_items(sec), [*sec.paragraphs, *sec.notes])
            elif sec.kpis and sec.paragraphs:
                _bullet_slides(prs, sec.title + ": in brief", _paragraph_items(sec), [*sec.paragraphs, *sec.notes])
            continue
        # the section's point in one or two sentences above its first table (the full text is in the notes);
        # several paragraphs get their own bullets slide first
        lead = bullet_text(sec.paragraphs[0], limit=230) if len(sec.paragraphs) == 1 else None
        if len(sec.paragraphs) > 1:
            _bullet_slides(prs, sec.title, _paragraph_items(sec), [*sec.paragraphs, *sec.notes])
        for i, t in enumerate(sec.tables):
            ap = _table_slide(prs, sec, t, table_index, lead if i == 0 else None)
            table_index += 1
            if ap is not None:
                appendices.append(ap)
        for c in charts:
            _chart_slide(prs, sec, c, pngs[c.key])
    for ap in appendices:
        first, last = _appendix_slides(prs, ap)
        run, shown_rows, n_rows, shown_cols, n_cols = ap.footnote
        where = f"slide {first}" if first == last else f"slides {first}–{last}"
        parts = []
        if shown_rows < n_rows:
            parts.append(f"{shown_rows} of {n_rows} rows")
        if shown_cols < n_cols:
            parts.append(f"{shown_cols} of {n_cols} columns")
        run.text = f"Showing {' and '.join(parts)}: the full table is in the appendix ({where})."
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


def _parse_table_name(name: str) -> tuple[int, list[int], list[int]] | None:
    m = re.fullmatch(TABLE_NAME + r" (\d+) rows ([\d,]*) cols ([\d,]*)", name or "")
    if not m:
        return None
    nums = lambda text: [int(v) for v in text.split(",") if v]  # noqa: E731
    return int(m.group(1)), nums(m.group(2)), nums(m.group(3))


def slide_tables(pptx: bytes) -> list[dict]:
    """Every table piece of the deck: slide number, report-table index, rows and columns of the report
    table it shows, font sizes used, and its shape (tests check sizes, rows and fit)."""
    prs = Presentation(io.BytesIO(pptx))
    out = []
    for number, slide in enumerate(prs.slides, start=1):
        for shape in slide.shapes:
            if getattr(shape, "has_table", False) and shape.has_table:
                parsed = _parse_table_name(shape.name)
                sizes = [run.font.size.pt if run.font.size is not None else None
                         for row in shape.table.rows for cell in row.cells
                         for para in cell.text_frame.paragraphs for run in para.runs]
                out.append({"slide": number, "title": slide.shapes.title.text, "table": parsed[0] if parsed else None,
                            "rows": parsed[1] if parsed else [], "cols": parsed[2] if parsed else [],
                            "sizes": sizes, "shape": shape,
                            "cells": [[cell.text for cell in row.cells] for row in shape.table.rows]})
    return out


def table_frames(pptx: bytes) -> list[pd.DataFrame]:
    """Every report table of the deck as a DataFrame of text (header row = columns), rebuilt from its main
    slide and appendix pieces (a table too long or wide for one slide is shown in parts)."""
    pieces: dict[int, dict[tuple[int, int], str]] = {}
    headers: dict[int, dict[int, str]] = {}
    loose = []
    for piece in slide_tables(pptx):
        if piece["table"] is None:
            rows = piece["cells"]
            loose.append(pd.DataFrame(rows[1:], columns=rows[0]))
            continue
        grid = pieces.setdefault(piece["table"], {})
        head = headers.setdefault(piece["table"], {})
        for j, col in enumerate(piece["cols"]):
            head[col] = piece["cells"][0][j]
            for i, row in enumerate(piece["rows"]):
                grid[(row, col)] = piece["cells"][i + 1][j]
    frames = []
    for index in sorted(pieces):
        grid, head = pieces[index], headers[index]
        cols = sorted(head)
        n_rows = max([r for r, _ in grid] + [-1]) + 1
        frames.append(pd.DataFrame([[grid.get((r, c), "") for c in cols] for r in range(n_rows)],
                                   columns=[head[c] for c in cols]))
    return frames + loose


# --------------------------------------------------------------------------- preview image
