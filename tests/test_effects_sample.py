"""Planted effects of the sample district (data/samples/truths.json) recovered by the v2 effect code: the planted
points inside the headline's 95% interval, labels that match what was planted, and the v2 columns (evidence code,
power, decision probabilities) on every scoreboard row.

`pytest -s tests/test_effects_sample.py` prints planted vs recovered."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from edtech.evidence import effects as ef
from edtech.roi import engine as roi


@pytest.fixture(scope="module")
def sample():
    from edtech.sample.generate import generate_district

    s = generate_district(6000, seed=2025)
    _, effect_rows, combined = roi.analyze_district(s.district)
    board = roi.order_scoreboard(roi.score_metrics(combined)).set_index("tool_id")
    return s.truths["effects"], effect_rows, board


def test_planted_points_inside_the_headline_interval(sample):
    truths, _, board = sample
    lines = []
    for tool_id, truth in truths.items():
        row = board.loc[tool_id]
        assert row["assessment"] == truth["assessment"]
        # in score points the truth does not depend on which SD standardizes it
        assert row["coef_ci_low_points"] <= truth["points"] <= row["coef_ci_high_points"], tool_id
        # the same truth on the v2 standardizer (pooled within-group, within-grade SD of post, Hedges-corrected)
        truth_v2 = truth["points"] * row["hedges_omega"] / row["sd_within"]
        assert row["effect_ci_low"] <= truth_v2 <= row["effect_ci_high"], tool_id
        lines.append(f"{tool_id} planted {truth['points']:+.2f} pts = {truth_v2:+.3f} SD (v2 SD; truths.json "
                     f"{truth['sd_units']:+.3f}) | recovered {row['effect_size']:+.3f} SD "
                     f"[{row['effect_ci_low']:+.3f}, {row['effect_ci_high']:+.3f}] ({row['effect_method']}, "
                     f"{row['evidence_code']}); points {row['coef_points']:+.2f} "
                     f"[{row['coef_ci_low_points']:+.2f}, {row['coef_ci_high_points']:+.2f}]")
    print("\n" + "\n".join(lines))


def test_labels_follow_what_was_planted(sample):
    truths, _, board = sample
    for tool_id, truth in truths.items():
        code = board.loc[tool_id, "evidence_code"]
        if truth["sd_units"] >= 0.1:        # 0.1 SD or more with 400+ treated students: above the MDE (~0.07-0.1)
            assert code in ef.POSITIVE_CODES, tool_id
        elif truth["points"] == 0.0:
            assert code in ("no_detectable_effect", "inconclusive", "rationale"), tool_id
        else:
            assert code not in ef.POSITIVE_CODES, tool_id


def test_scoreboard_carries_v2_evidence_columns(sample):
    _, effect_rows, board = sample
    for col in ("evidence_code", "mde", "sample_to_settle", "p_above", "p_within", "p_below"):
        assert col in ef.EFFECT_COLUMNS and col in roi.SCORE_COLUMNS and col in board.columns
    assert set(board["evidence_code"]) <= set(ef.EVIDENCE_CODES.values())
    assert (board["evidence_code"] == board["evidence_label"].map(ef.EVIDENCE_CODES)).all()
    estimated = board[board["effect_size"].notna()]
    assert len(estimated) >= 5
    total = estimated[["p_above", "p_within", "p_below"]].sum(axis=1)
    assert ((total - 1.0).abs() < 1e-9).all()
    # one headline per row: the label's interval is the headline estimator's
    for _, r in effect_rows[effect_rows["effect_size"].notna()].iterrows():
        prefix = f"{r['effect_method']}_"
        assert (r["effect_ci_low"], r["effect_ci_high"]) == (r[prefix + "effect_ci_low"], r[prefix + "effect_ci_high"])
        assert r["robustness_method"] in (ef.METHOD_ADJUSTED, ef.METHOD_MATCHED, None)
        assert r["robustness_method"] != r["effect_method"]
        assert math.isfinite(r["mde"]) and r["mde"] > 0


def test_headline_rule_applied_to_the_sample(sample):
    _, effect_rows, _ = sample
    for _, r in effect_rows[effect_rows["effect_size"].notna()].iterrows():
        matched_ok = (r["matched_kept_share"] >= ef.MATCH_KEEP_SHARE
                      and ef.baseline_holds(ef.baseline_status(r["matched_baseline_std_diff"]))
                      and not pd.isna(r["matched_effect_size"]))
        assert r["effect_method"] == (ef.METHOD_MATCHED if matched_ok else ef.METHOD_ADJUSTED)
