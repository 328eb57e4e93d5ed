"""The interventions evaluation in words and formatted tables: one rule for the Interventions page and the board
report's section (pure: an `InterventionEvaluation`'s parts in, text and frames of text out).

Suppression (`min_n`, methods.md section 8): with a threshold, every student count under it becomes "<min_n",
and a share whose numerator is hidden is hidden too ("—"), since the share times the shown denominator would
give the count back; an effect, its interval and its decision probabilities are hidden when fewer than `min_n`
students were served. `min_n=None` = the exact figures (roles that see student records).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from edtech.core.format import EM_DASH, money, pct
from edtech.core.privacy import suppression_label
from edtech.evidence import effects as ef

FUNNEL_STAGES = ("flagged", "served_30d", "on_track", "met_goal")
STAGE_LABELS = {"flagged": "Flagged", "served_30d": "Served within 30 days", "on_track": "On track",
                "met_goal": "Met goal"}
DIMENSION_LABELS = {"school": "School", "tier": "Tier", "frl": "Free or reduced lunch", "ell": "English learner",
                    "iep": "IEP", "race_ethnicity": "Race or ethnicity"}
GROUP_WORDS = {"yes": "Yes", "no": "No", "unknown": "Not recorded", "tier not given": "Tier not given"}
EFFICACY_COLUMNS = ["Intervention", "Outcome", "Served", "Effect (SD, 95% CI)", "Evidence", "Chance it helps",
                    "Chance it is negligible", "Chance it harms", "Cost per student", "Cost per 0.1 SD",
                    "On track"]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or (
        not isinstance(value, (str, bool)) and pd.isna(value))


def count_cell(value: Any, min_n: int | None) -> str:
    """A student count as shown: "1,234", "<10" under the threshold (0 included), "—" when unknown."""
    if _missing(value):
        return EM_DASH
    n = int(round(float(value)))
    if min_n is not None and n < min_n:
        return suppression_label(min_n)
    return f"{n:,}"


def share_cell(numerator: Any, denominator: Any, min_n: int | None) -> str:
    """numerator / denominator as a percent; "—" when unknown or when the numerator is hidden."""
    if _missing(numerator) or _missing(denominator) or float(denominator) == 0:
        return EM_DASH
    if min_n is not None and (float(numerator) < min_n or float(denominator) < min_n):
        return EM_DASH
    return pct(float(numerator) / float(denominator))


MINUS = "\u2212"  # a true minus sign: a cell starting with "+" or "-" would be read as a formula (and escaped)


def signed(value: float) -> str:
    """0.21 -> '0.21', -0.07 -> '−0.07' (no leading plus or hyphen: see MINUS)."""
    text = f"{abs(float(value)):.2f}"
    return f"{MINUS}{text}" if float(value) < 0 and text != "0.00" else text


def effect_text(effect: Any, low: Any, high: Any) -> str:
    """'0.21 (0.10 to 0.32)', '−0.07 (−0.13 to −0.01)' in SD, or '—'."""
    if _missing(effect):
        return EM_DASH
    if _missing(low) or _missing(high):
        return signed(effect)
    return f"{signed(effect)} ({signed(low)} to {signed(high)})"


def outcome_text(row: pd.Series) -> str:
    assessment = row.get("assessment")
    if _missing(assessment):
        return EM_DASH
    pre, post = row.get("pre_window"), row.get("post_window")
    return f"{assessment} ({pre} to {post})" if not _missing(pre) and not _missing(post) else str(assessment)


def efficacy_table(per_intervention: pd.DataFrame, min_n: int | None = None) -> pd.DataFrame:
    """One row per intervention, every cell text (see the module docstring for suppression)."""
    rows = []
    for _, r in per_intervention.iterrows():
        served = r.get("served")
        small = min_n is not None and (_missing(served) or float(served) < min_n)
        has_effect = r.get("evidence_label") != ef.LABEL_INSUFFICIENT and not _missing(r.get("effect_size"))
        on_track = r.get("share_on_track")
        known = r.get("n_on_track_known")
        rows.append({
            "Intervention": str(r["intervention"]),
            "Outcome": outcome_text(r),
            "Served": count_cell(served, min_n),
            "Effect (SD, 95% CI)": EM_DASH if small or not has_effect else effect_text(
                r.get("effect_size"), r.get("effect_ci_low"), r.get("effect_ci_high")),
            "Evidence": EM_DASH if small else str(r.get("evidence_label") or EM_DASH),
            "Chance it helps": EM_DASH if small or not has_effect else pct(r.get("p_above")),
            "Chance it is negligible": EM_DASH if small or not has_effect else pct(r.get("p_within")),
            "Chance it harms": EM_DASH if small or not has_effect else pct(r.get("p_below")),
            "Cost per student": money(r.get("cost_per_student")),
            "Cost per 0.1 SD": EM_DASH if small else money(r.get("cost_per_0_1_sd")),
            "On track": EM_DASH if _missing(on_track) or (min_n is not None and (_missing(known) or known < min_n))
            else pct(on_track),
        })
    return pd.DataFrame(rows, columns=EFFICACY_COLUMNS)


def group_text(dimension: str, group: str, school_names: dict[str, str] | None = None) -> str:
    if dimension == "school":
        return (school_names or {}).get(str(group), str(group))
    return GROUP_WORDS.get(str(group), str(group))


def funnel_display(funnel: pd.DataFrame, dimension: str, school_names: dict[str, str] | None = None,
                   min_n: int | None = None) -> pd.DataFrame:
    """The funnel rows of one dimension ('district', 'school', 'tier', 'frl'…) as text: the group, the four
    stages and the share of the flagged served within 30 days, on track and meeting the goal."""
    part = funnel[funnel["dimension"] == dimension]
    label = DIMENSION_LABELS.get(dimension, "Students")
    rows = []
    for _, r in part.iterrows():
        rows.append({
            label: group_text(dimension, r["group"], school_names) if dimension != "district" else "All flagged",
            "Flagged": count_cell(r["flagged"], min_n),
            "Served within 30 days": count_cell(r["served_30d"], min_n),
            "Share served": share_cell(r["served_30d"], r["flagged"], min_n),
            "On track": count_cell(r["on_track"], min_n),
            "Share on track": share_cell(r["on_track"], r["flagged"], min_n),
            "Met goal": count_cell(r["met_goal"], min_n),
            "Share met goal": share_cell(r["met_goal"], r["flagged"], min_n),
        })
    return pd.DataFrame(rows, columns=[label, "Flagged", "Served within 30 days", "Share served", "On track",
                                       "Share on track", "Met goal", "Share met goal"])


def dimensions(funnel: pd.DataFrame) -> list[str]:
    """The breakdowns present, in a fixed order (school, tier, then subgroups)."""
    present = set(funnel["dimension"])
    return [d for d in DIMENSION_LABELS if d in present]


def stage_counts(funnel: pd.DataFrame) -> dict[str, int]:
    """The district (scope) row's four stage counts (zeros when there is no funnel)."""
    row = funnel[funnel["dimension"] == "district"]
    if row.empty:
        return dict.fromkeys(FUNNEL_STAGES, 0)
    return {s: int(row.iloc[0][s]) for s in FUNNEL_STAGES}


def coverage_sentence(coverage: dict[str, Any], flag_source: str | None, flag_date: Any, min_n: int | None) -> str:
    """'Of 612 students flagged by model v3 on 2026-01-31, 410 (67%) were served within 30 days.'"""
    flagged, served = coverage.get("flagged", 0), coverage.get("served_30d", 0)
    when = f" on {pd.Timestamp(flag_date):%Y-%m-%d}" if not _missing(flag_date) else ""
    who = f" by {flag_source}" if flag_source else ""
    if not flagged:
        return "No student is flagged in the latest flag run."
    share = share_cell(served, flagged, min_n)
    return (f"Of {count_cell(flagged, min_n)} students flagged{who}{when}, {count_cell(served, min_n)}"
            + (f" ({share})" if share != EM_DASH else "") + " had a support within 30 days of the flag.")


def rdd_sentence(result: Any, outcome: str | None) -> str:
    """The regression discontinuity in one sentence with its interval (or why there is none)."""
    if result is None:
        return ("No estimate: take-up does not jump at the cut-off, or too few students sit near it on either "
                "side, so the data cannot say whether flagging helped.")
    points = getattr(result, "effect_points", None)
    pts = f" (about {points:+.1f} points)" if points is not None and math.isfinite(points) else ""
    return (f"For students near the cut-off, being served changed {outcome or 'the outcome'} by "
            f"{result.effect_size:+.2f} SD{pts}, 95% CI {result.ci_low:+.2f} to {result.ci_high:+.2f} "
            f"({result.n:,} students within {result.bandwidth:.3f} of the cut-off; take-up jumps by "
            f"{result.first_stage:.0%} there).")


def targeting_sentence(baseline: Any) -> str:
    """The school-only targeting baseline beside the risk score, at the same capacity."""
    if baseline is None:
        return "No targeting baseline: the later outcome is not on file for the flagged run's students."
    return (f"With capacity for {baseline.capacity:,} students, the risk score reaches {pct(baseline.captured_risk)} "
            f"of the students who later scored in the lowest quarter (AUC {baseline.auc_risk:.2f}); choosing by "
            f"school alone would reach {pct(baseline.captured_school)} (AUC {baseline.auc_school:.2f}).")
