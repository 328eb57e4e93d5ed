"""The school x week summary is computed from one ordered scan of usage read in batches (issue 15):
a student's rows may be split across batches, and the result must not depend on where the cuts fall.
The trailing 4-week count is one rule (rules.active_in_trailing_weeks) for the summaries and the ROI engine."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from edtech.core import rules
from edtech.store import data, summaries
from tests.test_summaries import _apply, _check_against_scratch, _fresh

# rows of several students and tools over 12 weeks, some inactive (0 minutes, 0 sessions), some days
# before T1's contract window (it starts 2025-09-17, a Wednesday: the window's first week is not a Monday)
USAGE = [("S1", "T1", d, 20, 1) for d in (0, 3, 12, 16, 30, 44)] + \
        [("S2", "T1", d, 15, 0) for d in (9, 10, 23, 58)] + \
        [("S3", "T2", d, 0, 0) for d in (2, 40)] + [("S3", "T2", d, 5, 1) for d in (41, 60, 77)] + \
        [("S4", "T3", d, 30, 2) for d in (35, 36, 50)] + [("S5", "T1", 12, 1, 2), ("S6", "T2", 70, 9, 1)] + \
        [("S7", "T1", d, 10, 1) for d in range(0, 84, 5)] + [("S8", "T3", d, 12, 1) for d in range(1, 84, 9)]


def test_trailing_rule_is_active_in_the_week_or_the_three_before() -> None:
    rng = np.random.default_rng(3)
    for _ in range(50):
        n_students, n_weeks, n = int(rng.integers(1, 6)), int(rng.integers(1, 10)), int(rng.integers(1, 20))
        codes, weeks = rng.integers(0, n_students, n), rng.integers(0, n_weeks, n)
        marked = rules.active_in_trailing_weeks(codes, weeks, n_students, n_weeks)
        for s in range(n_students):
            for w in range(n_weeks):
                expected = any(c == s and w - rules.WEEKS_IN_30_DAYS < k <= w for c, k in zip(codes, weeks))
                assert marked[s, w] == expected


@pytest.mark.parametrize("batch", [1, 2, 7])
def test_batches_cut_anywhere_give_the_same_summaries(tmp_path, monkeypatch, batch) -> None:
    engine = data.make_engine(f"sqlite:///{tmp_path / 'stream.db'}")
    try:
        _fresh(engine)
        _apply(engine, ("usage", USAGE[: len(USAGE) // 2]))
        _apply(engine, ("usage", USAGE[len(USAGE) // 2:]))
        as_of = data.data_as_of(engine)
        summaries.rebuild_summaries(engine, as_of)
        whole = summaries.read_all(engine)
        assert len(whole["school_weeks"]) and whole["school_weeks"]["active_4wk"].max() >= 2
        monkeypatch.setattr(summaries, "STREAM_ROWS", batch)
        summaries.rebuild_summaries(engine, as_of)
        for name, frame in summaries.read_all(engine).items():
            pd.testing.assert_frame_equal(frame, whole[name], obj=name)
        # and imports maintained in small batches equal the raw figures (ROI metrics, adoption, trend)
        _fresh(engine)
        _apply(engine, ("usage", USAGE[::2]))
        _apply(engine, ("move", "S7"))
        _apply(engine, ("usage", USAGE[1::2]))
        _check_against_scratch(engine)
    finally:
        engine.dispose()
