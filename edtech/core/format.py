"""Number formatting shared by pages, reports, memos and the command line (one style everywhere)."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

EM_DASH = "—"


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        if pd.isna(value):
            return True
    except (TypeError, ValueError):
        return False
    return isinstance(value, float) and not math.isfinite(value)


def money(value: Any, decimals: int = 0) -> str:
    """$1,234 / -$1,234; a missing or infinite value is an em dash."""
    if _missing(value):
        return EM_DASH
    value = float(value)
    text = f"${abs(value):,.{decimals}f}"
    return f"-{text}" if value < 0 and round(abs(value), decimals) > 0 else text


def signed_money(value: Any, decimals: int = 0) -> str:
    """+$1,234 / -$1,234 for changes; zero has no sign."""
    if _missing(value):
        return EM_DASH
    text = money(value, decimals)
    return text if text.startswith("-") or round(float(value), decimals) == 0 else f"+{text}"


def pct(value: Any, decimals: int = 0) -> str:
    """A share 0-1 as a percent; missing is an em dash."""
    if _missing(value):
        return EM_DASH
    return f"{float(value):.{decimals}%}"


def count(value: Any) -> str:
    if _missing(value):
        return EM_DASH
    return f"{int(round(float(value))):,}"


def number(value: Any, decimals: int = 0) -> str:
    """1,234 / 1,234.5 (thousands separators, a fixed number of decimals); missing is an em dash."""
    if _missing(value):
        return EM_DASH
    return f"{float(value):,.{decimals}f}"


def minutes(value: Any) -> str:
    """Minutes as a whole number ("256 min"); missing is an em dash."""
    if _missing(value):
        return EM_DASH
    return f"{float(value):,.0f} min"


def points(value: Any, decimals: int = 0) -> str:
    """A difference of percentages in points ("12 pts"); missing is an em dash."""
    if _missing(value):
        return EM_DASH
    return f"{float(value):,.{decimals}f} pts"


def yes_no(value: Any) -> str:
    """Yes / No for a flag; missing is an em dash."""
    if _missing(value):
        return EM_DASH
    return "Yes" if bool(value) else "No"


# ---------------------------------------------------------------------------------------------
# Codes -> words: the one vocabulary of the codes the data contract, the engine and the app store
# (funding sources, recommendations, decisions, evidence, roles, pages, devices, statuses ...).
# `label_for(code, kind)` looks in the kind's words first (a code can mean different things, e.g.
# "none" as a privacy status is "No DPA"), then in the codes that mean one thing everywhere.

VOCABULARY: dict[str, dict[str, str]] = {
    "funding_source": {
        "general": "General fund", "general_fund": "General fund", "title_i": "Title I", "title_ii": "Title II",
        "title_ii_a": "Title II-A", "title_iii": "Title III", "title_iv": "Title IV", "title_iv_a": "Title IV-A",
        "esser": "ESSER", "esser_iii": "ESSER III", "e_rate": "E-Rate", "erate": "E-Rate", "grant": "Grant",
        "state": "State funds", "local": "Local funds", "idea": "IDEA", "bond": "Bond", "donation": "Donation",
        "pta": "PTA", "other": "Other",
    },
    "recommendation": {
        "renew": "Renew", "right_size": "Right-size", "renegotiate": "Renegotiate", "consolidate": "Consolidate",
        "sunset": "Sunset", "study": "Study", "keep": "Keep", "expand": "Expand",
    },
    "decision": {
        "renew": "Renew", "right_size": "Right-size", "renegotiate": "Renegotiate", "consolidate": "Consolidate",
        "sunset": "Sunset", "study": "Study",
    },
    "evidence": {
        "moderate": "Moderate (Tier II-like)", "promising": "Promising (Tier III-like)",
        "rationale": "Rationale (Tier IV-like)", "no_detectable_effect": "No detectable effect",
        "negative": "Negative", "insufficient_data": "Insufficient data", "inconclusive": "Inconclusive",
    },
    "role": {"director": "Director", "coordinator": "School coordinator", "board": "Board member", "viewer": "Viewer"},
    "page": {
        "overview": "Overview", "tool_roi": "Tool ROI", "vetting": "Vetting", "adoption": "School adoption",
        "at_risk": "At-risk students", "interventions": "Interventions", "roadmap": "Roadmap",
        "budget": "Budget scenarios", "report": "Board report", "data": "Data", "admin": "Admin",
    },
    "device_type": {
        "chromebook": "Chromebook", "laptop": "Laptop", "tablet": "Tablet", "desktop": "Desktop",
        "hotspot": "Hotspot", "panel": "Interactive panel",
    },
    "device_status": {"active": "Active", "repair": "In repair", "lost": "Lost", "retired": "Retired"},
    "school_level": {"elementary": "Elementary", "middle": "Middle", "high": "High", "k8": "K–8", "k12": "K–12",
                     "other": "Other"},
    "privacy_status": {"signed_dpa": "DPA signed", "pending": "DPA pending", "none": "No DPA",
                       "unknown": "Not known"},
    "accessibility": {"wcag_aa": "WCAG AA", "partial": "Partly accessible", "none": "Not accessible",
                      "unknown": "Not known"},
    "restricted_to": {"licenses": "Licenses only", "devices": "Devices only", "pd": "Professional learning only",
                      "any": "Any spending"},
    "budget_category": {"licenses": "Licenses", "devices": "Devices", "pd": "Professional learning",
                        "other": "Other"},
    "exit_reason": {"met_goal": "Met the goal", "moved": "Moved", "declined": "Declined", "other": "Other"},
    "respondent_role": {"teacher": "Teacher", "student": "Student", "parent": "Parent",
                        "administrator": "Administrator", "it": "IT staff"},
    "initiative_status": {"planned": "Planned", "active": "Active", "done": "Done", "dropped": "Dropped"},
    "roadmap_status": {"met": "Met", "on_track": "On track", "at_risk": "At risk", "no_data": "No data"},
    "subgroup": {"frl": "Free or reduced-price lunch", "ell": "English learners", "iep": "Students with an IEP"},
    "table": {
        "schools": "Schools", "students": "Students", "tools": "Tools", "licenses": "Licenses", "usage": "Usage",
        "usage_aggregate": "Aggregate engagement", "assessments": "Assessments", "devices": "Devices",
        "pd_sessions": "PD sessions", "funding": "Funding", "indicators": "Indicators", "enrollments": "Enrollments",
        "interventions": "Interventions", "risk_flags": "Risk flags", "progress_monitoring": "Progress monitoring",
        "feedback": "Feedback", "initiatives": "Initiatives", "kpis": "KPIs", "decisions": "Decisions",
        "outcomes": "Outcomes",
    },
    "sign_in": {"sso": "Single sign-on", "password": "Password", "demo": "Demo (no password)"},
    "import_status": {"ok": "Stored", "stored": "Stored", "rejected": "Rejected", "checked": "Checked only",
                      "failed": "Failed", "partial": "Partly stored"},
}
# codes with one meaning in every vocabulary (first kind wins; ambiguous words such as "none" stay out)
_AMBIGUOUS = {"none", "unknown", "other", "active", "partial"}
_ANY_KIND: dict[str, str] = {}
for _words in VOCABULARY.values():
    for _code, _word in _words.items():
        if _code not in _AMBIGUOUS:
            _ANY_KIND.setdefault(_code, _word)


def humanize(code: Any) -> str:
    """A code nobody gave words for, readable: "peak_active_30d" -> "Peak active 30d"."""
    if _missing(code):
        return EM_DASH
    text = " ".join(str(code).strip().replace("_", " ").split())
    return text[:1].upper() + text[1:] if text else EM_DASH


def label_for(code: Any, kind: str | None = None) -> str:
    """The words for a stored code: `label_for("title_iv_a")` -> "Title IV-A",
    `label_for("none", "privacy_status")` -> "No DPA"; an unknown code is humanized, missing is an em dash."""
    if _missing(code):
        return EM_DASH
    key = str(code).strip()
    lookup = key.lower()
    if kind is not None:
        words = VOCABULARY.get(kind)
        if words is None:
            raise KeyError(f"unknown vocabulary {kind!r}; known: {', '.join(sorted(VOCABULARY))}")
        if lookup in words:
            return words[lookup]
    if lookup in _ANY_KIND:
        return _ANY_KIND[lookup]
    # text that already reads as words ("right-size to 40 seats") only gets its capital letter
    return humanize(key)


def labels_for(values: pd.Series, kind: str | None = None) -> pd.Series:
    """`label_for` over a column (missing values become em dashes)."""
    return values.map(lambda v: label_for(v, kind)).astype(object)
