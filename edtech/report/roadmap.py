"""The board report's roadmap section (issue 17): initiatives, each KPI's status and what changed since the
previous month's snapshot. Pure: the roadmap's frames (as `edtech.services.roadmap.roadmap` states them) in,
a `Section` out; rendered by the PDF and the slides like every other section.

A KPI is an aggregate share, ratio or effect of the district or one school. One computed over fewer students
than the suppression threshold (a small school's tool, a handful of flagged students) shows "<10" for its
baseline, current value and change (`services.roadmap.for_board` withholds them; methods v2 §8); its status
stays. The KPI's definition is in the notes.
"""

from __future__ import annotations

import pandas as pd

from edtech.core import rules
from edtech.core.format import EM_DASH
from edtech.core.privacy import suppression_label
from edtech.report.assemble import ReportChart, ReportTable, Section
from edtech.roadmap import viz
from edtech.roadmap.catalogue import METRICS, format_change, format_value, parse_metric
from edtech.roadmap.status import STATUS_LABELS, STATUS_RULE

TITLE = "Strategic roadmap"


def _date(value: object) -> str:
    return EM_DASH if value is None or pd.isna(value) else f"{pd.Timestamp(value):%b %Y}"


def roadmap_section(initiatives: pd.DataFrame | None, kpis: pd.DataFrame | None,
                    as_of: pd.Timestamp | None, min_n: int | None = None) -> Section:
    """Initiatives (dates, status, KPI tally), one line per KPI (current vs target, status, change since the
    previous month's value) and the timeline chart. KPIs marked `suppressed` show the suppression label."""
    sec = Section("roadmap", TITLE)
    min_n = int(rules.suppression_threshold() if min_n is None else min_n)
    label = suppression_label(min_n)
    if initiatives is None or initiatives.empty:
        sec.paragraphs.append("No roadmap initiatives are on file yet: the director adds them on the Roadmap page "
                              "or imports initiatives and kpis files.")
        return sec
    kpis = kpis if kpis is not None else pd.DataFrame(columns=["status"])
    small = (kpis["suppressed"].fillna(False).astype(bool) if "suppressed" in kpis
             else pd.Series(False, index=kpis.index))
    counts = kpis["status"].value_counts()
    tally = ", ".join(f"{int(counts[s])} {STATUS_LABELS[s].lower()}" for s in STATUS_LABELS if s in counts)
    sec.paragraphs.append(
        f"{len(initiatives)} initiative(s) on the roadmap with {len(kpis)} measured KPI(s): {tally or 'none yet'}. "
        "Every KPI is computed from the district's own data by the same rule as the rest of this report.")
    moved = kpis[pd.to_numeric(kpis.get("change"), errors="coerce").fillna(0).abs() > 1e-9] if len(kpis) else kpis
    if len(kpis):
        changed = [f"{r.metric_label} ({r.scope_label}) {format_change(r.change, r.unit)}" for r in moved.itertuples()]
        sec.paragraphs.append("What changed since the previous month: " + ("; ".join(changed[:6]) + "."
                                                                           if changed else "no KPI moved."))
        risky = kpis[kpis["status"] == "at_risk"]
        if len(risky):
            sec.paragraphs.append("At risk: " + "; ".join(
                f"{r.metric_label} ({r.scope_label}) is "
                f"{f'withheld (fewer than {min_n} students)' if hidden else format_value(r.current, r.unit)} "
                f"against {format_value(r.target, r.unit)} by {_date(r.target_date)}"
                for r, hidden in zip(risky.itertuples(), small[risky.index], strict=True)) + ".")
    status_words = {"planned": "Planned", "active": "Active", "done": "Done", "dropped": "Dropped"}
    sec.tables.append(ReportTable("Initiatives", pd.DataFrame({
        "Initiative": initiatives["name"].astype(str),
        "Owner": initiatives["owner"].map(lambda v: EM_DASH if v is None or pd.isna(v) else str(v)),
        "From": initiatives["start_date"].map(_date), "To": initiatives["end_date"].map(_date),
        "Status": initiatives["status"].map(lambda v: status_words.get(v, EM_DASH)),
        "Budget scenario": initiatives["scenario"].map(lambda v: EM_DASH if v is None or pd.isna(v) else str(v)),
        "KPIs met or on track": [f"{int(m + o)} of {int(n)}" if n else EM_DASH for m, o, n in
                                 zip(initiatives["met"], initiatives["on_track"], initiatives["kpis"], strict=True)],
    })))
    if len(kpis):
        names = dict(zip(initiatives["initiative_id"], initiatives["name"].astype(str), strict=True))
        sec.tables.append(ReportTable("KPIs", pd.DataFrame({
            "Initiative": kpis["initiative_id"].map(names).fillna(kpis["initiative_id"]),
            "KPI": kpis["metric_label"].astype(str), "Scope": kpis["scope_label"].astype(str),
            "Baseline": [format_value(v, u, label if h else None)
                         for v, u, h in zip(kpis["baseline"], kpis["unit"], small, strict=True)],
            "Current": [format_value(v, u, label if h else None)
                        for v, u, h in zip(kpis["current"], kpis["unit"], small, strict=True)],
            "Target": [f"{format_value(v, u)} by {_date(d)}" for v, u, d in
                       zip(kpis["target"], kpis["unit"], kpis["target_date"], strict=True)],
            "Status": kpis["status"].map(STATUS_LABELS),
            "Change since last month": [format_change(v, u, label if h else None)
                                        for v, u, h in zip(kpis["change"], kpis["unit"], small, strict=True)],
        })))
    sec.charts.append(ReportChart("roadmap_timeline", "Initiatives on the roadmap",
                                  viz.timeline_figure(initiatives, as_of, initiatives), "Each bar runs from the "
                                  "initiative's start to its end date; the dotted line is the data's date.",
                                  height=max(300, 46 * len(initiatives) + 140)))
    used = sorted({parse_metric(m)[0] for m in kpis["metric"] if _parses(m)}) if len(kpis) else []
    sec.notes += [STATUS_RULE, "Current = the value for the data's current month; change = against the previous "
                  "month's stored value."] + ([f"A KPI computed over fewer than {min_n} students shows {label} "
                                               "for its values; its status is shown."] if small.any() else []) + [f"{METRICS[k].label}: {METRICS[k].definition}." for k in used]
    return sec


def _parses(metric: str) -> bool:
    try:
        parse_metric(metric)
    except ValueError:
        return False
    return True
