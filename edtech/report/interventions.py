"""The board report's Interventions section and the `interventions` key of `report --format json` (issue 16):
coverage of flagged students, what worked, what it cost and whether flagging helps, aggregate only and suppressed
(every student count under `min_n` is "<min_n"; a share or effect over a hidden count is hidden), no student rows.

Pure: an `edtech.services.interventions.InterventionEvaluation` (duck-typed: its `coverage`, `funnel`,
`per_intervention`, `rdd`, `targeting`, `flag_source`, `flag_date`, `rdd_outcome`) in, a report `Section` out;
the texts and tables are the Interventions page's (`edtech.interventions.present`), so both say the same.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from edtech.core.format import money
from edtech.core.privacy import suppression_label
from edtech.interventions import present
from edtech.interventions.rdd import CAVEAT
from edtech.report.assemble import Kpi, ReportTable, Section

KEY = "interventions"
TITLE = "Interventions: from a flag to a support"
NO_DATA = ("No interventions or risk flags are on file yet: import them (interventions, risk_flags, "
           "progress_monitoring) or assign supports from the at-risk worklist.")
WORKED_COLUMNS = ["Intervention", "Served", "Effect (SD, 95% CI)", "Evidence", "Cost per student", "Cost per 0.1 SD"]
SCHOOL_COLUMNS = ["School", "Flagged", "Served within 30 days", "Share served", "Met goal"]
MAX_ROWS = 6  # rows a slide table can hold at a readable size (issue 14)


def _worked_sentence(per_intervention: pd.DataFrame, min_n: int) -> str:
    """Which supports worked and what they cost, in one sentence each (hidden when too few were served)."""
    parts = []
    for _, r in per_intervention.iterrows():
        name = str(r["intervention"])
        served = r.get("served")
        if served is None or pd.isna(served) or served < min_n:
            parts.append(f"{name}: served fewer than {min_n} students, not reported.")
            continue
        effect, label = r.get("effect_size"), str(r.get("evidence_label") or "")
        if effect is None or pd.isna(effect):
            parts.append(f"{name}: {int(served):,} students served; no estimate of its effect ({label.lower()}).")
            continue
        cost = money(r.get("cost_per_student"))
        per_tenth = r.get("cost_per_0_1_sd")
        value = (f", {money(per_tenth)} per 0.1 SD gained" if per_tenth is not None and not pd.isna(per_tenth)
                 else "")
        low, high = r.get("effect_ci_low"), r.get("effect_ci_high")
        interval = (f" (95% CI {low:+.2f} to {high:+.2f})" if low is not None and high is not None
                    and not pd.isna(low) and not pd.isna(high) else "")
        parts.append(f"{name}: {effect:+.2f} SD{interval}, evidence {label}; {int(served):,} students served at "
                     f"{cost} per student{value}.")
    return " ".join(parts)


def interventions_section(ev: Any, min_n: int, *, school_names: dict[str, str] | None = None,
                          note: str | None = None) -> Section:
    """The section (see the module docstring); `note` replaces the content when the evaluation failed."""
    sec = Section(KEY, TITLE)
    if ev is None or (ev.per_intervention.empty and ev.coverage.get("flagged", 0) == 0):
        sec.paragraphs.append(note or NO_DATA)
        sec.notes.append("Coverage and effects come from the interventions and risk-flag records; none are loaded, "
                         "so no numbers are shown rather than invented ones.")
        return sec
    counts = present.stage_counts(ev.funnel)
    sec.kpis = [Kpi(present.STAGE_LABELS[s], present.count_cell(counts[s], min_n),
                    "" if s == "flagged" else f"{present.share_cell(counts[s], counts['flagged'], min_n)} of flagged")
                for s in present.FUNNEL_STAGES]
    sec.paragraphs.append(present.coverage_sentence(ev.coverage, ev.flag_source, ev.flag_date, min_n))
    if not ev.per_intervention.empty:
        sec.paragraphs.append(_worked_sentence(ev.per_intervention, min_n))
        worked = present.efficacy_table(ev.per_intervention, min_n)[WORKED_COLUMNS]
        worked = worked.assign(_n=pd.to_numeric(ev.per_intervention["served"], errors="coerce").to_numpy())
        worked = worked.sort_values("_n", ascending=False, kind="stable").drop(columns="_n").head(MAX_ROWS)
        sec.tables.append(ReportTable("What worked and what it cost", worked.reset_index(drop=True),
                                      count_columns=("Served",),
                                      note="Effect in standard deviations of the outcome test, served students vs "
                                           "similar students not served; — : not estimated or too few served."))
    schools = present.funnel_display(ev.funnel, "school", school_names, min_n)
    if not schools.empty:
        sec.tables.append(ReportTable("Coverage by school", schools[SCHOOL_COLUMNS].reset_index(drop=True),
                                      count_columns=("Flagged", "Served within 30 days", "Met goal"),
                                      note=f"Counts under {min_n} are shown as {suppression_label(min_n)}; a share over "
                                           "a hidden count is hidden too (—)."))
    sec.paragraphs.append("Does flagging help? " + present.rdd_sentence(ev.rdd, ev.rdd_outcome)
                          + (f" {CAVEAT}" if ev.rdd is not None else ""))
    if ev.targeting is not None:
        sec.paragraphs.append(present.targeting_sentence(ev.targeting))
    sec.notes += [
        "Served: a support active on the flag date or starting within 30 days after it (data contract v2). On track: "
        "the trend of the progress probes during the support reaches the goal by its end. Met goal: the support "
        "ended with exit reason met_goal.",
        "Effects: the tool-evidence engine (methods §2) with served students against similar students not served, "
        "matched on the risk score and the pre-test within grade; cost per 0.1 SD = cost per student ÷ effect × 0.1.",
        "Does flagging help: a fuzzy regression discontinuity at the risk cut-off (local linear, triangular kernel, "
        "data-driven bandwidth); it holds for students near the cut-off only.",
        f"No student rows appear in this section; counts under {min_n} are suppressed.",
    ]
    return sec


def _cell(value: Any, min_n: int) -> Any:
    """A count as the report's JSON shows it ({"value": null, "display": "<10"} under the threshold)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if value < min_n:
        return {"value": None, "display": suppression_label(min_n)}
    return value


def suppressed_json(evaluation: dict[str, Any], min_n: int) -> dict[str, Any]:
    """`interventions evaluate --format json` (the same function's output) with the board's suppression: counts
    under `min_n` become suppressed cells, and an intervention served by fewer students keeps its name and cost
    but not its effect or evidence (null)."""
    rows = []
    for row in evaluation.get("interventions", []):
        out = dict(row)
        served = row.get("served")
        if served is not None and served < min_n:
            out["served"] = _cell(served, min_n)
            for key in ("effect_size", "effect_ci_low", "effect_ci_high", "evidence_code", "evidence_label"):
                out[key] = None
        rows.append(out)
    coverage = dict(evaluation.get("coverage") or {})
    hidden = any(coverage.get(k) is not None and coverage[k] < min_n for k in ("flagged", "served_30d"))
    coverage = {**coverage, "flagged": _cell(coverage.get("flagged"), min_n),
                "served_30d": _cell(coverage.get("served_30d"), min_n)}
    if hidden:
        coverage["share_served_30d"] = None
    return {"interventions": rows, "coverage": coverage, "rdd": evaluation.get("rdd")}
