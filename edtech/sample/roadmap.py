"""The sample district's three-year technology roadmap (data contract v2 `initiatives`, `kpis`).

What a director of Riverbend Unified would write in July 2025 for 2025-26 to 2027-28, each goal tied to a
metric of the product's catalogue (methods v2 section 7) so its progress is measured on the district's own
data, not typed by hand. Targets and dates are the plan's; baselines left blank are filled from the data
(the first monthly value on file). Which KPIs come out met, on track or at risk is not planted here: it
follows from the sample's usage, devices, PD and vetting data (see data/samples/README.md).
"""

from __future__ import annotations

import pandas as pd

from edtech.core.district import District, conform_frame

PLAN_START, PLAN_END = "2025-07-01", "2028-06-30"

# initiative_id, name, goal, owner, start, end, status, scenario
INITIATIVES = (
    ("I01", "Every grade 3–5 student at 80/80 dosage in the core math tool",
     "Students who use Mathigo Adaptive Math reach the vendor's dosage (80% of the minutes over 80% of the weeks).",
     "Director of Curriculum", PLAN_START, PLAN_END, "active", None),
    ("I02", "All tools vetted",
     "Every licensed tool has a signed data-privacy agreement and a WCAG AA accessibility report before renewal.",
     "Technology Director", PLAN_START, "2026-12-31", "active", None),
    ("I03", "1:1 devices in middle school",
     "One working device per middle-school student, refreshed before its auto-update expiration.",
     "IT Manager", PLAN_START, "2027-08-31", "active", None),
    ("I04", "Cut idle license spend in half",
     "Right-size seats to use at renewal so that idle seats cost half of what they cost at the start of the plan.",
     "Chief Business Officer", PLAN_START, PLAN_END, "active", None),
    ("I05", "Professional learning on the core tools",
     "Teachers get the training the core tools need: at least 6 hours a year per participating staff member.",
     "Director of Professional Learning", PLAN_START, "2027-06-30", "active", None),
    ("I06", "Serve flagged students within 30 days",
     "Every student the early-warning model flags starts a support within 30 days of the flag.",
     "Director of Student Services", "2026-01-01", PLAN_END, "planned", None),
)

# initiative_id, kpi_id, metric, scope, baseline, target, target_date
KPIS = (
    ("I01", "K1", "dosage_share:T01", "district", None, 0.80, "2027-06-30"),
    ("I01", "K2", "utilization:T01", "district", None, 0.85, "2026-06-30"),
    ("I01", "K3", "effect:T01", "district", 0.10, 0.20, "2028-06-30"),  # baseline: the vendor's study
    ("I02", "K1", "vetted_share", "district", None, 1.00, "2026-12-31"),
    ("I03", "K1", "devices_per_student", "0201", None, 1.00, "2027-08-31"),
    ("I03", "K2", "devices_per_student", "0202", None, 1.00, "2027-08-31"),
    ("I03", "K3", "devices_per_student", "0203", None, 1.00, "2027-08-31"),
    ("I04", "K1", "idle_license_share", "district", None, 0.35, "2027-06-30"),
    ("I05", "K1", "pd_hours_per_staff", "district", None, 5.00, "2026-12-31"),
    ("I06", "K1", "flagged_served_30d", "district", None, 0.90, "2027-06-30"),
)


def roadmap_frames(district: District) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(initiatives, kpis) as canonical frames; KPIs of schools or tools the district lacks are left out
    (a smaller generated district keeps every school and tool, so nothing is left out in practice)."""
    initiatives = pd.DataFrame(INITIATIVES, columns=["initiative_id", "name", "goal", "owner", "start_date",
                                                     "end_date", "status", "scenario"])
    kpis = pd.DataFrame(KPIS, columns=["initiative_id", "kpi_id", "metric", "scope", "baseline", "target",
                                       "target_date"])
    schools = set(district.schools["school_id"].astype(str)) | {"district"}
    tools = set(district.tools["tool_id"].astype(str))
    known = kpis["scope"].isin(schools) & kpis["metric"].map(lambda m: ":" not in m or m.split(":", 1)[1] in tools)
    kpis = kpis[known].reset_index(drop=True)
    for frame, cols in ((initiatives, ("start_date", "end_date")), (kpis, ("target_date",))):
        for col in cols:
            frame[col] = pd.to_datetime(frame[col])
    kpis["baseline"] = pd.to_numeric(kpis["baseline"], errors="coerce").astype("float64")
    return conform_frame("initiatives", initiatives), conform_frame("kpis", kpis)
