"""The roadmap's metric catalogue (methods v2 section 7): keys, labels, units and how values read.

A KPI's `metric` is a catalogue key, with a tool for the per-tool metrics: `utilization:T01`,
`dosage_share:T01`, `effect:T01`, or one of `vetted_share`, `idle_license_share`, `devices_per_student`,
`flagged_served_30d`, `pd_hours_per_staff`. Pure: what each metric means; the services compute it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from edtech.core.format import EM_DASH


@dataclass(frozen=True)
class MetricDef:
    key: str                 # the catalogue key (before the colon)
    label: str               # words for people
    unit: str                # share (0-1, shown as %), sd, ratio, hours
    needs_tool: bool
    definition: str          # the methods' definition, shown beside the value
    backfilled: bool         # monthly values before the first snapshot come from dated inputs
    over_students: bool = False  # an aggregate over students: suppressed under the threshold on board material


METRICS: dict[str, MetricDef] = {m.key: m for m in (
    MetricDef("utilization", "Utilization", "share", True,
              "active users in the contract year ÷ seats (methods §1), the Tool ROI page's figure", True, True),
    MetricDef("dosage_share", "Dosage share", "share", True,
              "students who met the 80/80 dosage ÷ active users with a vendor dosage (methods §1)", True, True),
    MetricDef("vetted_share", "Vetted share of spend", "share", False,
              "share of licensed tools' annual cost on vetted tools (signed DPA and WCAG AA, methods §1)", False),
    MetricDef("idle_license_share", "Idle license share", "share", False,
              "idle license value ÷ annual license spend (the Overview's figures)", True),
    MetricDef("devices_per_student", "Devices per student", "ratio", False,
              "active devices ÷ rostered students (the School adoption page's device coverage)", True, True),
    MetricDef("flagged_served_30d", "Flagged students served within 30 days", "share", False,
              "of flagged students, the share with an intervention starting within 30 days (methods §6)", False, True),
    MetricDef("effect", "Effect on the tool's outcome", "sd", True,
              "the headline effect size in SD (methods §2), the Tool ROI page's figure", False, True),
    MetricDef("pd_hours_per_staff", "PD hours per staff member", "hours", False,
              "PD hours on file up to the data's date ÷ distinct staff in those sessions", True),
)}
UNIT_WORDS = {"share": "percent", "sd": "SD", "ratio": "per student", "hours": "hours"}


class MetricError(ValueError):
    """A metric text that is not in the catalogue (shown as is)."""


def parse_metric(text: str) -> tuple[str, str | None]:
    """('utilization', 'T01') from 'utilization:T01'; ('vetted_share', None). Raises MetricError."""
    raw = str(text or "").strip()
    base, _, tool = raw.partition(":")
    base, tool = base.strip().lower(), tool.strip()
    if base not in METRICS:
        raise MetricError(f"Unknown metric {raw!r}: use one of {', '.join(metric_patterns())}.")
    if METRICS[base].needs_tool and not tool:
        raise MetricError(f"The metric {base} needs a tool: {base}:TOOL_ID.")
    if not METRICS[base].needs_tool and tool:
        raise MetricError(f"The metric {base} is not per tool (got {raw!r}).")
    return base, (tool or None)


def metric_key(base: str, tool_id: str | None = None) -> str:
    return f"{base}:{tool_id}" if METRICS[base].needs_tool else base


def metric_patterns() -> list[str]:
    return [f"{m.key}:TOOL" if m.needs_tool else m.key for m in METRICS.values()]


def metric_label(metric: str, tool_names: dict[str, str] | None = None) -> str:
    """'Utilization: Mathigo Adaptive Math' (the metric text itself when it is not in the catalogue)."""
    try:
        base, tool = parse_metric(metric)
    except MetricError:
        return str(metric)
    label = METRICS[base].label
    return f"{label}: {(tool_names or {}).get(tool, tool)}" if tool else label


def unit_of(metric: str) -> str:
    try:
        return METRICS[parse_metric(metric)[0]].unit
    except MetricError:
        return "ratio"


def _missing(value: Any) -> bool:
    try:
        return value is None or not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def format_value(value: Any, unit: str, withheld: str | None = None) -> str:
    """A KPI value as people read it: 62%, +0.12 SD, 0.85 per student, 6.5 hours; missing is an em dash;
    `withheld` (the suppression label) when the value is withheld from this reader."""
    if withheld:
        return withheld
    if _missing(value):
        return EM_DASH
    v = float(value)
    if unit == "share":
        return f"{v:.0%}" if abs(v) >= 0.1 or v == 0 else f"{v:.1%}"
    if unit == "sd":
        return f"{v:+.2f} SD"
    if unit == "hours":
        return f"{v:,.1f} h"
    return f"{v:,.2f}"


def format_change(value: Any, unit: str, withheld: str | None = None) -> str:
    """A change between two values: +4 pts, -0.03 SD, +0.10, +1.5 h (`withheld` as in `format_value`)."""
    if withheld:
        return withheld
    if _missing(value):
        return EM_DASH
    v = float(value)
    if unit == "share":
        return f"{v * 100:+.0f} pts" if abs(v) >= 0.005 or v == 0 else f"{v * 100:+.1f} pts"
    if unit == "sd":
        return f"{v:+.2f} SD"
    if unit == "hours":
        return f"{v:+,.1f} h"
    return f"{v:+,.2f}"
