"""Board report as PDF (fpdf2, A4 landscape, embedded DejaVu Unicode font).

Page 1: title, KPI tiles and the executive summary. Then the sections flow one after the other (no
forced page break before a short section): each section's text, KPI tiles, tables, charts (PNG from
`edtech.report.render`) and, in small type, how the numbers were computed.

Layout is measured before it is placed: every block is first drawn on a scratch page to learn its
height, a table is kept on the page of the chart that follows it (the scoreboard with its chart; the
chart is shrunk a little when that makes both fit), a section heading never ends a page, and a page
is left short only when the next group cannot fit even on a fresh page. Where each block landed is
recorded (`PdfLayout`), so tests can check page fill and what shares a page.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from fpdf import FPDF
from fpdf.fonts import FontFace

from edtech.report.assemble import BoardReport, Kpi, ReportChart, ReportTable, Section

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONT = "DejaVu"
PAGE_W, PAGE_H, MARGIN = 297.0, 210.0, 12.0
CONTENT_W = PAGE_W - 2 * MARGIN
ACCENT = (31, 111, 235)
GREY = (87, 96, 106)
LIGHT = (240, 243, 247)
CHART_PX_W = 1200
TABLE_PT = 8.5      # table text (was 8); an 11-column scoreboard still fits one line a row
NOTE_PT = 8.0       # notes and captions


class FontMissingError(RuntimeError):
    pass


def add_fonts(pdf: FPDF) -> None:
    """Embed DejaVu Sans (regular, bold): Latin-1 core fonts cannot print "—", "≥" or "×"."""
    regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
    if not regular.exists() or not bold.exists():
        raise FontMissingError(f"DejaVu fonts not found in {FONT_DIR}: apt-get install fonts-dejavu-core")
    pdf.add_font(FONT, "", str(regular))
    pdf.add_font(FONT, "B", str(bold))


class _ReportPDF(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-9)
        self.set_font(FONT, "", 7)
        self.set_text_color(*GREY)
        self.cell(0, 4, f"{self.footer_text}   ·   page {self.page_no()}", align="R")
        self.set_text_color(0, 0, 0)


def new_pdf(footer: str = "") -> FPDF:
    pdf = _ReportPDF(orientation="L", unit="mm", format="A4")
    pdf.footer_text = footer
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(True, margin=13)
    add_fonts(pdf)
    pdf.set_title("EdTech board report")
    pdf.set_creator("EdTech Compass")
    return pdf


# --------------------------------------------------------------------------- building blocks
def heading(pdf: FPDF, text: str, size: float = 17) -> None:
    pdf.set_font(FONT, "B", size)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(1.5)


def paragraph(pdf: FPDF, text: str, size: float = 10.5, bold_lead: bool = False) -> None:
    """A paragraph; with bold_lead the words up to the first colon are bold ("What we spend: ...")."""
    pdf.set_font(FONT, "", size)
    if bold_lead and ": " in text:
        lead, rest = text.split(": ", 1)
        # write() flows bold and regular runs on the same lines (no markdown parsing of data text)
        pdf.set_font(FONT, "B", size)
        pdf.write(size * 0.48, f"{lead}: ")
        pdf.set_font(FONT, "", size)
        pdf.write(size * 0.48, rest)
        pdf.ln(size * 0.48)
    else:
        pdf.multi_cell(0, size * 0.48, text, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1.2)


def _fit_lines(pdf: FPDF, text: str, width: float, lines: int) -> str:
    """`text` cut (with …) so that it wraps to at most `lines` lines of `width` mm in the current font."""
    words, out, line, count = str(text).split(), [], "", 1
    for word in words:
        trial = f"{line} {word}".strip()
        if pdf.get_string_width(trial) <= width:
            line = trial
            continue
        if count == lines:
            while line and pdf.get_string_width(line + "…") > width:
                line = line[:-1]
            return " ".join([*out, line.rstrip() + "…"])
        out.append(line)
        line, count = word, count + 1
    return " ".join([*out, line])


def kpi_tiles(pdf: FPDF, kpis: Sequence[Kpi]) -> None:
    if not kpis:
        return
    gap = 3.0
    per_row = min(len(kpis), 6)
    w = (CONTENT_W - gap * (per_row - 1)) / per_row
    h = 27.0
    y = pdf.get_y()
    for i, k in enumerate(kpis):
        if i and i % per_row == 0:
            y += h + gap
        x = MARGIN + (i % per_row) * (w + gap)
        pdf.set_fill_color(*LIGHT)
        pdf.rect(x, y, w, h, style="F", round_corners=True, corner_radius=2)
        pdf.set_xy(x + 2.5, y + 2)
        pdf.set_font(FONT, "", 8.5)
        pdf.set_text_color(*GREY)
        pdf.cell(w - 5, 4, _fit_lines(pdf, k.label, w - 5, 1))
        pdf.set_xy(x + 2.5, y + 7)
        pdf.set_font(FONT, "B", 15 if len(k.value) <= 10 else 12)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(w - 5, 8, k.value)
        pdf.set_xy(x + 2.5, y + 16.5)
        pdf.set_font(FONT, "", 7.5)
        pdf.set_text_color(*GREY)
        pdf.multi_cell(w - 5, 3.5, _fit_lines(pdf, k.note, w - 5, 2), new_x="LEFT", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_xy(MARGIN, y + h + 4)


def col_widths(pdf: FPDF, frame: pd.DataFrame, total: float, size: float) -> list[float]:
    """Each column as wide as its widest cell (headers may wrap at spaces); when the sum is too wide
    the widest columns give up space first (their cells wrap), when narrow the slack is shared."""
    pad = 2.8
    pdf.set_font(FONT, "", size)
    need = []
    for col in frame.columns:
        cells = frame[col].astype(str).tolist()
        body = max([pdf.get_string_width(c) for c in cells] + [0.0])
        pdf.set_font(FONT, "B", size)
        word = max(pdf.get_string_width(w) for w in str(col).split() or [""])
        pdf.set_font(FONT, "", size)
        need.append(max(body, word, 5.0) + pad)
    widths = list(need)
    while sum(widths) > total:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        others = sorted(widths, reverse=True)
        target = max(others[1] if len(others) > 1 else others[0], widths[widest] - (sum(widths) - total))
        if target >= widths[widest]:  # all equal: shrink everything proportionally
            scale = total / sum(widths)
            return [w * scale for w in widths]
        widths[widest] = target
    extra = total - sum(widths)
    return [w + extra * w / sum(widths) for w in widths]


def table(pdf: FPDF, t: ReportTable, size: float = TABLE_PT) -> None:
    frame = t.frame
    pdf.set_font(FONT, "B", 10.5)
    pdf.multi_cell(0, 5.5, t.title, new_x="LMARGIN", new_y="NEXT")
    if frame.empty:
        paragraph(pdf, "Nothing to show.", 9)
        return
    pdf.set_font(FONT, "", size)
    widths = col_widths(pdf, frame, CONTENT_W, size)
    numeric = [bool(frame[c].astype(str).str.match(r"^[-+$<\d]").mean() > 0.6) for c in frame.columns]
    header_style = FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT)
    with pdf.table(width=CONTENT_W, col_widths=widths, align="LEFT", line_height=size * 0.52,
                   headings_style=header_style, cell_fill_color=LIGHT, cell_fill_mode="ROWS",
                   text_align=["RIGHT" if n else "LEFT" for n in numeric],
                   borders_layout="HORIZONTAL_LINES", padding=(0.8, 1.2)) as tbl:
        tbl.row([str(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            tbl.row(["" if v is None else str(v) for v in row])
    if t.note:
        muted_paragraph(pdf, t.note, NOTE_PT, 4.0)
    pdf.ln(3)


def muted_paragraph(pdf: FPDF, text: str, size: float, line_h: float) -> None:
    """A grey full-width paragraph (notes, captions, subtitles); the text colour is reset after."""
    pdf.set_font(FONT, "", size)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, line_h, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def notes(pdf: FPDF, lines: Sequence[str]) -> None:
    """'How these numbers were computed': small grey bullets (they may run onto the next page)."""
    if not lines:
        return
    pdf.set_font(FONT, "B", 9)
    pdf.set_text_color(*GREY)
    pdf.cell(0, 5, "How these numbers were computed", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", NOTE_PT)
    for line in lines:
        pdf.multi_cell(0, 3.9, f"• {line}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.ln(2)


# --------------------------------------------------------------------------- measured layout
BODY_BOTTOM = PAGE_H - 13.0     # the auto page break line (footer below it)
CHART_MIN_H = 62.0              # a chart is never shrunk below this height (mm) to share a page
CHART_MIN_SCALE = 0.6           # ... nor below this share of its natural size
HEADING_KEEP = 35.0             # a section heading needs this much room after it, else it starts a new page


@dataclass
class PlacedBlock:
    kind: str        # heading | text | kpis | table | chart | notes
    key: str         # section key, table title or chart key
    page: int        # page where it starts
    top: float       # mm
    end_page: int
    bottom: float    # mm


@dataclass
class PdfLayout:
    blocks: list[PlacedBlock] = field(default_factory=list)
    pages: int = 0

    def fill(self) -> list[float]:
        """Share of each page's body height (top margin to the page-break line) that holds content."""
        bottom = [MARGIN] * self.pages
        for b in self.blocks:
            for page in range(b.page, b.end_page + 1):
                y = b.bottom if page == b.end_page else BODY_BOTTOM
                bottom[page - 1] = max(bottom[page - 1], y)
        return [(y - MARGIN) / (BODY_BOTTOM - MARGIN) for y in bottom]

    def pages_of(self, kind: str, key: str) -> list[int]:
        return [p for b in self.blocks if b.kind == kind and b.key == key for p in range(b.page, b.end_page + 1)]


@dataclass
class _Block:
    kind: str
    key: str
    draw: Callable[[FPDF], None]
    height: float = 0.0
    chart: ReportChart | None = None
    png: bytes | None = None


class _Measurer:
    """Heights of blocks, from drawing them on one tall scratch page (same fonts, margins and width)."""

    def __init__(self) -> None:
        self.pdf = FPDF(orientation="P", unit="mm", format=(PAGE_W, 4000))
        self.pdf.set_margins(MARGIN, MARGIN, MARGIN)
        self.pdf.set_auto_page_break(True, margin=13)
        add_fonts(self.pdf)

    def height(self, draw: Callable[[FPDF], None]) -> float:
        self.pdf.add_page()
        self.pdf.set_y(MARGIN)
        draw(self.pdf)
        return self.pdf.get_y() - MARGIN


def _chart_size(c: ReportChart, max_h: float = 150.0) -> tuple[float, float]:
    h = CONTENT_W * c.height / CHART_PX_W
    return (CONTENT_W * max_h / h, max_h) if h > max_h else (CONTENT_W, h)


def _draw_chart(pdf: FPDF, c: ReportChart, png: bytes, h: float) -> None:
    w = h * CHART_PX_W / c.height
    x = MARGIN + (CONTENT_W - w) / 2
    pdf.image(io.BytesIO(png), x=x, y=pdf.get_y(), w=w, h=h)
    pdf.set_y(pdf.get_y() + h + 1)
    if c.caption:
        muted_paragraph(pdf, c.caption, 8.5, 4.2)
    pdf.ln(3)


def _caption_h(measure: _Measurer, c: ReportChart) -> float:
    return measure.height(lambda p: (muted_paragraph(p, c.caption, 8.5, 4.2) if c.caption else None, p.ln(3))) + 1


class _Flow:
    """Places groups of blocks on pages, keeping each group together when it can."""

    def __init__(self, pdf: FPDF, measure: _Measurer) -> None:
        self.pdf, self.measure = pdf, measure
        self.layout = PdfLayout()

    @property
    def room(self) -> float:
        return BODY_BOTTOM - self.pdf.get_y()

    def page_fill(self) -> float:
        return (self.pdf.get_y() - MARGIN) / (BODY_BOTTOM - MARGIN)

    def new_page(self) -> None:
        self.pdf.add_page()

    def place(self, block: _Block, chart_h: float | None = None) -> None:
        pdf = self.pdf
        page, top = pdf.page_no(), pdf.get_y()
        if block.kind == "chart" and block.chart is not None and block.png is not None:
            _draw_chart(pdf, block.chart, block.png, chart_h or _chart_size(block.chart)[1])
        else:
            block.draw(pdf)
        self.layout.blocks.append(PlacedBlock(block.kind, block.key, page, top, pdf.page_no(), pdf.get_y()))

    def _fit_chart(self, blocks: list[_Block], room: float) -> float | None:
        """The chart height (mm) that makes the group fit in `room`, when shrinking within limits does."""
        charts = [b for b in blocks if b.kind == "chart"]
        if len(charts) != 1:
            return None
        chart = charts[0]
        natural = _chart_size(chart.chart)[1]
        others = sum(b.height for b in blocks if b is not chart)
        caption = chart.height - natural
        h = room - others - caption - 0.5
        return h if h >= max(CHART_MIN_H, CHART_MIN_SCALE * natural) else None

    def group(self, blocks: list[_Block]) -> None:
        """Put `blocks` on one page: here if they fit (a chart may shrink a little), else on a fresh page
        unless this page would be left less than half full; then they are split across the break."""
        blocks = [b for b in blocks if b is not None]
        if not blocks:
            return
        total = sum(b.height for b in blocks)
        chart_h = None
        fits_here = total <= self.room
        if not fits_here:
            chart_h = self._fit_chart(blocks, self.room)
            fits_here = chart_h is not None
        if not fits_here and self.page_fill() >= 0.5:
            self.new_page()
            full = BODY_BOTTOM - MARGIN
            chart_h = None if total <= full else self._fit_chart(blocks, full)
        for b in blocks:
            if b.kind == "chart":
                natural = _chart_size(b.chart)[1]
                h = chart_h or natural
                if b.height - natural + h > self.room:  # a chart never splits: shrink it or move it
                    shrunk = self._fit_chart([b], self.room)
                    if shrunk is None:
                        self.new_page()
                    h = shrunk or min(natural, BODY_BOTTOM - MARGIN - (b.height - natural))
                self.place(b, h)
            else:
                self.place(b)

    def heading_group(self, heading: _Block, rest: list[_Block]) -> None:
        """A section's heading and text start a new page only when too little room would follow them (and
        the page is already at least a third full)."""
        intro = heading.height + sum(b.height for b in rest)
        if intro + HEADING_KEEP > self.room and self.page_fill() >= 0.33:
            self.new_page()
        for b in [heading, *rest]:
            self.place(b)


def _section_blocks(sec: Section, pngs: dict[str, bytes], measure: _Measurer) -> list[list[_Block]]:
    """The section as groups: [heading, text, KPI tiles], then each table with the chart that follows it
    (table i with chart i), the remaining tables or charts alone, and the notes."""
    def block(kind: str, key: str, draw: Callable[[FPDF], None]) -> _Block:
        return _Block(kind, key, draw, measure.height(draw))

    intro = [block("heading", sec.key, lambda p: heading(p, sec.title))]
    if sec.paragraphs:
        intro.append(block("text", sec.key, lambda p: [paragraph(p, x) for x in sec.paragraphs]))
    if sec.kpis:
        intro.append(block("kpis", sec.key, lambda p: kpi_tiles(p, sec.kpis)))
    tables = [block("table", t.title, lambda p, t=t: table(p, t)) for t in sec.tables]
    charts = []
    for c in sec.charts:
        if c.key in pngs:
            b = _Block("chart", c.key, lambda p: None, chart=c, png=pngs[c.key])
            b.height = _chart_size(c)[1] + _caption_h(measure, c)
            charts.append(b)
    groups: list[list[_Block]] = [intro]
    for i in range(max(len(tables), len(charts))):
        groups.append([x for x in (tables[i] if i < len(tables) else None, charts[i] if i < len(charts) else None)
                       if x is not None])
    return groups


def _methods_notes(pdf: FPDF, sections: Sequence[Section]) -> None:
    """Every section's 'how these numbers were computed', together at the end (small print that would
    otherwise strand a few lines at the top of a page between two sections)."""
    heading(pdf, "How the numbers were computed", 14)
    for sec in sections:
        if not sec.notes:
            continue
        pdf.set_font(FONT, "B", 9.5)
        pdf.cell(0, 5.5, sec.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(FONT, "", NOTE_PT)
        pdf.set_text_color(*GREY)
        for line in sec.notes:
            pdf.multi_cell(0, 3.9, f"• {line}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
        pdf.ln(1.5)


def build_pdf_layout(report: BoardReport, chart_pngs: dict[str, bytes] | None = None) -> tuple[bytes, PdfLayout]:
    """The whole report as PDF bytes and where each block was placed (page, top and bottom in mm)."""
    pngs = chart_pngs or {}
    pdf = new_pdf(f"{report.title} · {report.district_name} · data through {report.as_of:%Y-%m-%d}")
    measure = _Measurer()
    flow = _Flow(pdf, measure)
    pdf.add_page()
    first = [_Block("heading", "title", lambda p: (heading(p, report.title, 22),
                                                   muted_paragraph(p, f"{report.subtitle} · budget proposal: "
                                                                      f"{report.scenario_name}", 11, 5.5), p.ln(3)))]
    kpis = report.section("kpis")
    if kpis is not None:
        first.append(_Block("kpis", "kpis", lambda p: (heading(p, kpis.title, 14), kpi_tiles(p, kpis.kpis))))
    summary = report.section("summary")
    if summary is not None:
        first.append(_Block("text", "summary", lambda p: (heading(p, summary.title, 14),
                                                          [paragraph(p, x, 10.5, bold_lead=True)
                                                           for x in summary.paragraphs])))
    for b in first:
        flow.place(b)
    for sec in report.sections:
        if sec.key in ("summary", "kpis"):
            continue
        groups = _section_blocks(sec, pngs, measure)
        flow.heading_group(groups[0][0], groups[0][1:])
        for g in groups[1:]:
            flow.group(g)
    with_notes = [s for s in report.sections if s.notes]
    if with_notes:
        methods = _Block("notes", "methods", lambda p: _methods_notes(p, with_notes))
        # its heading and the first few lines stay together; the rest may run onto further pages
        if flow.room < 30 and flow.page_fill() >= 0.33:
            flow.new_page()
        flow.place(methods)
    flow.layout.pages = pdf.page_no()
    return bytes(pdf.output()), flow.layout


def build_pdf(report: BoardReport, chart_pngs: dict[str, bytes] | None = None) -> bytes:
    """The whole report as PDF bytes; `chart_pngs` maps chart key -> PNG (missing charts are skipped)."""
    return build_pdf_layout(report, chart_pngs)[0]
