"""Renewal memo: one page per tool whose contract ends soon (issue 7).

For each tool due for renewal (contract end within 90 days of the data date): utilization trend,
spread across schools, right-size seat count, dosage, effect with its evidence label, vetting
status, and the recommended action with its dollar impact. Pure except `memo_pdf`, which lays
the memo out with fpdf2 (bytes out, no files).
"""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from edtech.adoption import engine as adoption
from edtech.adoption import viz as viz_adoption
from edtech.core import rules
from edtech.core.district import District
from edtech.core.format import EM_DASH, money, pct
from edtech.core.privacy import suppression_label
from edtech.evidence import effects
from edtech.report.assemble import count_cells, is_small

TREND_PX_H = 330
SLUG_MAX_CHARS = 60      # a memo's file name stays short enough for every file system and zip tool
SAFE_FILE_NAME = re.compile(r"renewal-memo-[a-z0-9]+(?:-[a-z0-9]+)*\.pdf")


@dataclass
class Memo:
    tool_id: str
    tool_name: str
    vendor: str
    contract_end: pd.Timestamp | None
    days_to_renewal: int | None
    action: str
    reason: str
    dollar_impact: str
    facts: list[tuple[str, str]]          # (label, value) rows of the fact table
    schools: pd.DataFrame                 # school spread, formatted and suppressed
    trend_figure: go.Figure
    as_of: pd.Timestamp
    min_n: int = field(default_factory=rules.suppression_threshold)
    notes: list[str] = field(default_factory=list)

    @property
    def slug(self) -> str:
        """The tool's name as a safe slug, else its id's, else "tool" (never the raw id: ids come from files)."""
        return safe_slug(self.tool_name) or safe_slug(self.tool_id) or "tool"


def safe_slug(text: object, max_chars: int = SLUG_MAX_CHARS) -> str:
    """Lower-case ASCII letters and digits joined by single dashes, at most `max_chars`; "" if nothing is left.

    Accents are folded (Café -> cafe); every other character (slashes, backslashes, dots, spaces,
    scripts without an ASCII form) becomes a dash, so a slug is never a path, a hidden file or "..".
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9]+", "-", ascii_text).strip("-").lower()
    return slug[:max_chars].rstrip("-")


def memo_file_names(memos: list[Memo]) -> list[str]:
    """One safe, distinct file name per memo, in the memos' order.

    Tools whose slugs coincide ("Math Lab", "math-lab") are numbered -2, -3 … in the order of their
    tool id, so the same data always gives the same names, whatever order the memos come in; a
    number is never one another tool's own slug already uses.
    """
    slugs = [m.slug for m in memos]
    taken = set(slugs)
    holders: set[str] = set()
    names = [""] * len(memos)
    for i in sorted(range(len(memos)), key=lambda i: (slugs[i], str(memos[i].tool_id), memos[i].tool_name, i)):
        name = slugs[i]
        if name in holders:
            n = 2
            while f"{slugs[i]}-{n}" in taken:
                n += 1
            name = f"{slugs[i]}-{n}"
            taken.add(name)
        holders.add(slugs[i])
        names[i] = f"renewal-memo-{name}.pdf"
    return names


def is_safe_file_name(name: str) -> bool:
    """A memo file name as `memo_file_names` makes them: no directory part, no dots but the extension."""
    return SAFE_FILE_NAME.fullmatch(name) is not None


def due_for_renewal(scoreboard: pd.DataFrame) -> pd.DataFrame:
    """Licensed tools flagged 'renewal due' (rules.renewal_due, the same badge as the Tool ROI page), soonest first."""
    if scoreboard.empty or "days_to_renewal" not in scoreboard.columns:
        return scoreboard.iloc[0:0]
    days = pd.to_numeric(scoreboard["days_to_renewal"], errors="coerce")
    due = scoreboard[scoreboard["flags"].map(lambda f: "renewal_due" in f) & (scoreboard["seats"] > 0)]
    return due.assign(_d=days[due.index]).sort_values(["_d", "tool_name"]).drop(columns="_d")


def dollar_impact(row: pd.Series) -> str:
    """What the recommended action is worth a year at today's prices (the figures the ROI page quotes)."""
    action = str(row["recommendation"])
    cost, seats = float(row["annual_cost"] or 0.0), int(row["seats"] or 0)
    per_seat = cost / seats if seats else 0.0
    if action.startswith("right-size"):
        n = int(row["right_size_seats"])
        return (f"Saves {money(row['right_size_savings'])} a year at today's price: {seats - n:,} fewer seats at "
                f"{money(per_seat)} a seat.")
    if action == "sunset":
        return f"Saves {money(row['savings_if_followed'])} a year at today's price (the whole license); no renewal."
    if action.startswith("consolidate"):
        return (f"Saves up to {money(cost)} a year at today's price, less the cost of any seats added to the tool "
                "that absorbs its users.")
    if action == "renegotiate":
        return f"Every 10% off the price saves {money(0.1 * cost)} a year at today's price."
    if action == "study":
        return (f"Renewing for one more year commits {money(cost)} at today's price; plan a comparison "
                "so next year's decision has evidence.")
    return f"Renewal commits {money(cost)} a year at today's price."


def _vetting(row: pd.Series) -> str:
    privacy = str(row.get("privacy_status") or "unknown").replace("_", " ")
    access = str(row.get("accessibility") or "unknown").replace("_", " ").upper().replace("WCAG ", "WCAG ")
    ok = row.get("privacy_status") == "signed_dpa" and row.get("accessibility") == "wcag_aa"
    return f"{'Vetted' if ok else 'Not fully vetted'}: privacy {privacy}; accessibility {access}; " \
           f"COPPA basis {row.get('coppa_basis') or 'unknown'}"


def _school_spread(rows: pd.DataFrame, min_n: int) -> pd.DataFrame:
    small = is_small(rows["active_users"], min_n)
    return pd.DataFrame({
        "School": rows["school_name"].astype(str).to_numpy(),
        "Seats allocated": rows["licensed_students"].map(lambda v: f"{int(v):,}").to_numpy(),
        "Active students": count_cells(rows["active_users"], min_n).to_numpy(),
        "Seats used": rows["utilization"].map(pct).where(~small, EM_DASH).to_numpy(),
        "Met dosage": count_cells(rows["dosage_met"], min_n).to_numpy(),
    })


def build_memo(district: District, row: pd.Series, school_rows: pd.DataFrame, weekly: pd.DataFrame,
               min_n: int | None = None) -> Memo:
    min_n = int(rules.suppression_threshold() if min_n is None else min_n)
    label = suppression_label(min_n)
    tool_id = row["tool_id"]
    mine = school_rows[school_rows["tool_id"] == tool_id].sort_values("utilization", ascending=False)
    util = mine.loc[mine["licensed_students"] > 0, "utilization"]
    spread = f"{util.min():.0%} to {util.max():.0%} across {len(util)} schools" if len(util) else EM_DASH
    tool_weekly = weekly[weekly["tool_id"] == tool_id]
    fig = viz_adoption.weekly_trend_lines(tool_weekly, district.tools, title=f"{row['tool_name']}: students active each week")
    fig.update_layout(showlegend=False)
    effect = (f"{row['effect_size']:+.2f} SD (95% CI {row['effect_ci_low']:+.2f} to {row['effect_ci_high']:+.2f}) "
              f"on {row['assessment']}" if pd.notna(row.get("effect_size"))
              and row["evidence_label"] != effects.LABEL_INSUFFICIENT else "not estimated")
    dosage_known = pd.to_numeric(pd.Series([row.get("dosage_known", 1)]), errors="coerce").fillna(0).iloc[0] > 0
    met = count_cells(pd.Series([row["dosage_met"]]), min_n).iloc[0]
    share = row.get("dosage_met_share")
    dosage = (f"{met} users met the recommended dosage"
              + (f" ({share:.0%} of users)" if pd.notna(share) and met != label else "")
              if dosage_known else "no vendor dosage on file")
    right_size = int(row["right_size_seats"])
    facts = [
        ("Contract", f"{int(row['seats']):,} seats, {money(row['annual_cost'])} a year"
                     + (f", ends {pd.Timestamp(row['contract_end']):%B %d, %Y}" if pd.notna(row.get("contract_end")) else "")
                     + (" (auto-renews)" if bool(row.get("auto_renew")) else "")),
        ("Utilization", f"{pct(row['utilization'])} of seats used this contract year "
                        f"({count_cells(pd.Series([row['active_users']]), min_n).iloc[0]} students)"),
        ("School spread", spread),
        ("Right-size seats", f"{right_size:,} seats (peak 4-week use "
                                  f"{count_cells(pd.Series([row['peak_active_30d']]), min_n).iloc[0]} + {rules.RIGHT_SIZE_BUFFER:.0%} buffer)"),
        ("Dosage", dosage),
        ("Effect", effect),
        ("Evidence", f"{row['evidence_label']}"),
        ("Vetting", _vetting(row)),
        ("ROI score", EM_DASH if pd.isna(row.get("roi_score")) else f"{row['roi_score']:.0f} of 100 "
                      f"(rank {int(row['rank'])})"),
    ]
    days = row.get("days_to_renewal")
    return Memo(
        tool_id=tool_id, tool_name=str(row["tool_name"]), vendor=str(row.get("vendor") or ""),
        contract_end=pd.Timestamp(row["contract_end"]) if pd.notna(row.get("contract_end")) else None,
        days_to_renewal=None if pd.isna(days) else int(days), action=str(row["recommendation"]),
        reason=str(row["recommendation_reason"]), dollar_impact=dollar_impact(row), facts=facts,
        schools=_school_spread(mine, min_n), trend_figure=fig, as_of=district.as_of, min_n=min_n,
        notes=[f"Utilization = {rules.DEFINITIONS['utilization']}; dosage: {rules.DEFINITIONS['dosage_met']}.",
               "Effect: adjusted comparison of students who met dosage with similar non-users (methods §2); "
               "evidence labels are local, ESSA-aligned, not official ratings.",
               f"Counts of fewer than {min_n} students are shown as {label}."])


def build_memos(district: District, scoreboard: pd.DataFrame, min_n: int | None = None, *,
                school_rows: pd.DataFrame | None = None, weekly: pd.DataFrame | None = None) -> list[Memo]:
    """One memo per tool due for renewal. `school_rows` (`adoption.school_tool_adoption`) and `weekly`
    (`adoption.weekly_trend`): the adoption report's tables when the caller has them (the services pass the
    stored report, computed from the usage summaries); else computed here from the district's weekly rows."""
    due = due_for_renewal(scoreboard)
    if due.empty:
        return []
    if school_rows is None:
        school_rows = adoption.school_tool_adoption(district, adoption.student_tool_usage(district))
    if weekly is None:
        weekly = adoption.weekly_trend(district.usage, district.students)
    return [build_memo(district, row, school_rows, weekly, min_n) for _, row in due.iterrows()]


# --------------------------------------------------------------------------- PDF
def memo_pdf(m: Memo, trend_png: bytes | None) -> bytes:
    """One A4 portrait page (school table font shrinks for many schools so it stays one page)."""
    from fpdf.fonts import FontFace

    from edtech.report.pdf import ACCENT, FONT, GREY, LIGHT, col_widths, new_pdf

    pdf = new_pdf(f"Renewal memo · {m.tool_name}")
    pdf.set_auto_page_break(False)
    pdf.add_page(orientation="P")
    width = 210 - 24
    pdf.set_font(FONT, "B", 17)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(width, 8, f"Renewal memo: {m.tool_name}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 9.5)
    pdf.set_text_color(*GREY)
    due = (f"contract ends {m.contract_end:%B %d, %Y} ({m.days_to_renewal} days after the data date)"
           if m.contract_end is not None else "contract end not on file")
    pdf.multi_cell(width, 5, f"{m.vendor + ' · ' if m.vendor else ''}{due} · data through {m.as_of:%B %d, %Y}",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    # recommendation box
    y = pdf.get_y()
    pdf.set_fill_color(*LIGHT)
    pdf.rect(12, y, width, 27, style="F", round_corners=True, corner_radius=2)
    pdf.set_xy(15, y + 2)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font(FONT, "B", 13)
    pdf.cell(width - 6, 7, f"Recommended: {m.action}", new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(15)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(width - 6, 4.3, m.reason, new_x="LMARGIN", new_y="NEXT")
    pdf.set_x(15)
    pdf.set_font(FONT, "B", 9)
    pdf.multi_cell(width - 6, 4.3, m.dollar_impact, new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), y + 27) + 3)
    # facts
    pdf.set_font(FONT, "", 8.8)
    with pdf.table(width=width, col_widths=(36, width - 36), align="LEFT", line_height=4.4, first_row_as_headings=False,
                   text_align=("LEFT", "LEFT"), borders_layout="HORIZONTAL_LINES", padding=(0.7, 1.2)) as tbl:
        for label, value in m.facts:
            row = tbl.row()
            row.cell(label, style=FontFace(emphasis="BOLD"))
            row.cell(value)
    pdf.ln(2)
    if trend_png is not None:
        h = width * TREND_PX_H / 1000
        pdf.image(io.BytesIO(trend_png), x=12, y=pdf.get_y(), w=width, h=h)
        pdf.set_y(pdf.get_y() + h + 2)
    # school spread: shrink the font so it always ends on this page
    room = 297 - 22 - pdf.get_y() - 12
    n = len(m.schools) + 1
    size = max(6.0, min(8.5, room / max(n, 1) / 0.62))
    pdf.set_font(FONT, "B", 9.5)
    pdf.cell(0, 5, "Spread across schools", new_x="LMARGIN", new_y="NEXT")
    if len(m.schools):
        pdf.set_font(FONT, "", size)
        widths = col_widths(pdf, m.schools, width, size)
        with pdf.table(width=width, col_widths=widths, align="LEFT", line_height=size * 0.46,
                       headings_style=FontFace(emphasis="BOLD", color=(255, 255, 255), fill_color=ACCENT),
                       text_align=["LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"], borders_layout="HORIZONTAL_LINES",
                       padding=(0.4, 1.2)) as tbl:
            tbl.row(list(m.schools.columns))
            for r in m.schools.itertuples(index=False):
                tbl.row([str(v) for v in r])
    else:
        pdf.set_font(FONT, "", 8.5)
        pdf.cell(0, 5, "No school-level seats or use on file.", new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(297 - 21)
    pdf.set_font(FONT, "", 6.8)
    pdf.set_text_color(*GREY)
    pdf.multi_cell(width, 3.2, " ".join(m.notes), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
