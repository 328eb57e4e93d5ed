"""Methods v2 wording (issue 11, finding 5): no sentence reads a CI as "the true effect is likely between...", no
"raise scores" / "it works" for correlational or quasi-experimental evidence, and decision probabilities are
labelled as a flat-prior approximation. Checked on the texts built for the sample district, on the reason of every
label, and on the source strings of the report and page modules."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest

from edtech.evidence import effects as ef
from edtech.evidence import inference
from edtech.roi import engine as roi

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = re.compile(r"true effect is likely|likely between|raises? scores|\bit works\b", re.IGNORECASE)
# modules whose strings reach a director: reports and memos, pages, and the two evidence/ROI engines
SOURCES = sorted([*ROOT.glob("edtech/report/*.py"), *ROOT.glob("app_pages/*.py"),
                  ROOT / "edtech/evidence/effects.py", ROOT / "edtech/roi/engine.py"])


@pytest.fixture(scope="module")
def sample_texts() -> dict[str, list[str]]:
    from edtech.sample.generate import generate_district

    district = generate_district(6000, seed=2025).district
    _, effect_rows, combined = roi.analyze_district(district)
    board = roi.score_metrics(combined)
    explanations = [text for _, row in effect_rows.iterrows() for text in ef.explain_effect(row)]
    return {"explanations": explanations, "reasons": list(effect_rows["evidence_reason"].dropna()),
            "recommendations": list(board["recommendation_reason"].dropna())}


def _offenders(texts: list[str]) -> list[str]:
    return [t for t in texts if FORBIDDEN.search(t)]


def test_the_forbidden_pattern_catches_the_v1_sentences():
    assert FORBIDDEN.search("The true effect is likely between 0.10 and 0.30 SD.")
    assert FORBIDDEN.search("It works (Promising) but costs $12 per 0.1 SD per student.")
    assert FORBIDDEN.search("This tool raises scores by 0.2 SD.")
    assert not FORBIDDEN.search("95% confidence interval: 0.10 to 0.30 SD (the effects compatible with these data)")


def test_sample_district_texts_have_no_forbidden_wording(sample_texts):
    for kind, texts in sample_texts.items():
        assert texts, kind
        assert _offenders(texts) == [], kind


def test_decision_probabilities_are_labelled_as_a_flat_prior_approximation(sample_texts):
    plain = sample_texts["explanations"][0::2]
    with_probabilities = [t for t in plain if "Decision probabilities" in t]
    assert with_probabilities, "the sample's explanations show decision probabilities"
    assert all(ef.FLAT_PRIOR_NOTE in t for t in with_probabilities)
    for reason in sample_texts["recommendations"]:
        if "P(effect" in reason:
            assert ef.FLAT_PRIOR_NOTE in reason


def _estimate(effect: float, se_effect: float, n: int) -> ef.EffectEstimate:
    half = 1.96 * se_effect
    return ef.EffectEstimate(effect=effect, ci_low=effect - half, ci_high=effect + half, p_value=0.5, coef=effect,
                             se=se_effect, coef_ci_low=effect - half, coef_ci_high=effect + half, df=math.inf,
                             sd_within=1.0, omega=1.0, n_treated=n // 2, n_comparison=n // 2, n_schools=12,
                             n_treated_schools=6, cov_type="CR2", reference=inference.REFERENCE_BM,
                             formula="post ~ treated + pre")


def test_every_label_reason_and_explanation_has_no_forbidden_wording():
    """The sample district shows some labels only: build every label's reason and explanation."""
    cases = {ef.LABEL_MODERATE: (_estimate(0.3, 0.05, 800), ef.METHOD_MATCHED),
             ef.LABEL_PROMISING: (_estimate(0.3, 0.05, 800), ef.METHOD_ADJUSTED),
             ef.LABEL_RATIONALE: (_estimate(0.1, 0.12, 800), ef.METHOD_ADJUSTED),
             ef.LABEL_NONE: (_estimate(0.01, 0.03, 800), ef.METHOD_ADJUSTED),
             ef.LABEL_NEGATIVE: (_estimate(-0.3, 0.05, 800), ef.METHOD_ADJUSTED),
             ef.LABEL_INCONCLUSIVE: (_estimate(-0.1, 0.12, 800), ef.METHOD_ADJUSTED)}
    for expected, (estimate, method) in cases.items():
        label, reason = ef.evidence_label(has_pre_post=True, n_treated=400, n_comparison=400, headline=estimate,
                                          method=method, baseline=ef.BASELINE_SATISFIED)
        assert label == expected
        row = {"assessment": "MAP Math", "pre_window": "fall", "post_window": "spring", "evidence_label": label,
               "evidence_reason": reason, "effect_method": method}
        ef._put_estimate(row, "", estimate)
        row.update(inference.decision_probabilities(estimate.effect, estimate.se_effect, estimate.df, 0.05))
        texts = [reason, *ef.explain_effect(pd.Series(row))]
        assert _offenders(texts) == [], label
    insufficient = ef.evidence_label(has_pre_post=False, n_treated=0, n_comparison=0, headline=None)
    assert _offenders([insufficient[1]]) == []


def test_report_and_page_sources_have_no_forbidden_wording():
    """Source strings of the report, memo and page modules (and the engines). A failure names the file and line:
    the owner of that file rewords it."""
    offenders = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if FORBIDDEN.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert len(SOURCES) > 5
    assert offenders == []
