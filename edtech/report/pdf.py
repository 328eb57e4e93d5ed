"""Board report as PDF (fpdf2, A4 landscape, embedded DejaVu Unicode font).

Page 1: title, KPI tiles and the executive summary. Then one page (or more) per section: its
plain-language text, tables, charts (PNG from `edtech.render`) and, in small type, how the
numbers were computed.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
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


def kpi_tiles(pdf: FPDF, kpis: Sequence[Kpi]) -> None:
    if not kpis:
        return
    gap = 3.0
    w = (CONTENT_W - gap * (len(kpis) - 1)) / len(kpis)
    h = 24.0
    y = pdf.get_y()
    for i, k in enumerate(kpis):
        x = MARGIN + i * (w + gap)
        pdf.set_fill_color(*LIGHT)
        pdf.rect(x, y, w, h, style="F", round_corners=True, corner_radius=2)
        pdf.set_xy(x + 2.5, y + 2)
        pdf.set_font(FONT, "", 8)
        pdf.set_text_color(*GREY)
        pdf.cell(w - 5, 4, k.label)
        pdf.set_xy(x + 2.5, y + 7)
        pdf.set_font(FONT, "B", 15 if len(k.value) <= 10 else 12)
        pdf.set_text_color(0, 0, 0)
        pdf.cell(w - 5, 8, k.value)
        pdf.set_xy(x + 2.5, y + 16.5)
        pdf.set_font(FONT, "", 7)
        pdf.set_text_color(*GREY)
        pdf.cell(w - 5, 4, k.note[:48])
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


def table(pdf: FPDF, t: ReportTable, size: float = 8.0) -> None:
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
        muted_paragraph(pdf, t.note, 7.5, 3.8)
    pdf.ln(3)


def muted_paragraph(pdf: FPDF, text: str, size: float, line_h: float) -> None:
    """A grey full-width paragraph (notes, captions, subtitles); the text colour is reset after."""
    pdf.set_font(FONT, "", size)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(0, line_h, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


def chart(pdf: FPDF, c: ReportChart, png: bytes, max_h: float = 150.0) -> None:
    """The chart at full width (or smaller to fit max_h), on a new page when it does not fit."""
    h = CONTENT_W * c.height / CHART_PX_W
    w = CONTENT_W
    if h > max_h:
        w, h = w * max_h / h, max_h
    caption_h = 9 if c.caption else 0
    room = PAGE_H - 14 - caption_h - pdf.get_y()
    if h > room:
        if room >= max(70.0, 0.6 * h):  # shrink a little rather than leave half a page empty
            w, h = w * room / h, room
        else:
            pdf.add_page()
    x = MARGIN + (CONTENT_W - w) / 2
    pdf.image(io.BytesIO(png), x=x, y=pdf.get_y(), w=w, h=h)
    pdf.set_y(pdf.get_y() + h + 1)
    if c.caption:
        muted_paragraph(pdf, c.caption, 8, 4)
    pdf.ln(3)


def notes(pdf: FPDF, lines: Sequence[str]) -> None:
    if not lines:
        return
    if pdf.get_y() > PAGE_H - 40:
        pdf.add_page()
    pdf.set_font(FONT, "B", 8.5)
    pdf.set_text_color(*GREY)
    pdf.cell(0, 5, "How these numbers were computed", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 7.5)
    for line in lines:
        pdf.multi_cell(0, 3.7, f"• {line}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)


# --------------------------------------------------------------------------- the report
def _section_pages(pdf: FPDF, sec: Section, pngs: dict[str, bytes]) -> None:
    pdf.add_page()
    heading(pdf, sec.title)
    for p in sec.paragraphs:
        paragraph(pdf, p)
    kpi_tiles(pdf, sec.kpis)
    for t in sec.tables:
        table(pdf, t)
    for c in sec.charts:
        if c.key in pngs:
            chart(pdf, c, pngs[c.key])
    notes(pdf, sec.notes)


def build_pdf(report: BoardReport, chart_pngs: dict[str, bytes] | None = None) -> bytes:
    """The whole report as PDF bytes; `chart_pngs` maps chart key -> PNG (missing charts are skipped)."""
    pngs = chart_pngs or {}
    pdf = new_pdf(f"{report.title} · {report.district_name} · data through {report.as_of:%Y-%m-%d}")
    pdf.add_page()
    heading(pdf, report.title, 22)
    muted_paragraph(pdf, f"{report.subtitle} · budget proposal: {report.scenario_name}", 11, 5.5)
    pdf.ln(3)
    kpis = report.section("kpis")
    if kpis is not None:
        heading(pdf, kpis.title, 14)
        kpi_tiles(pdf, kpis.kpis)
    summary = report.section("summary")
    if summary is not None:
        heading(pdf, summary.title, 14)
        for p in summary.paragraphs:
            paragraph(pdf, p, 10.5, bold_lead=True)
    notes(pdf, (kpis.notes if kpis is not None else []))
    for sec in report.sections:
        if sec.key in ("summary", "kpis"):
            continue
        _section_pages(pdf, sec, pngs)
    return bytes(pdf.output())
