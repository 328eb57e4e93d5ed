import io

import pandas as pd
import pytest

from edtech.core.privacy import neutralize_csv_cell, neutralize_frame, suppress_small


def test_suppress_small_replaces_counts_below_min_n():
    df = pd.DataFrame({"school": ["A", "B", "C", "D"], "n": [9, 10, 0, None], "mean": [1.0, 2.0, 3.0, 4.0]})
    out = suppress_small(df, ["n"], min_n=10, mask_cols=["mean"])
    assert out["n"].tolist()[:3] == ["<10", 10, "<10"]
    assert out["n"].iloc[3] is None or pd.isna(out["n"].iloc[3])
    # the mean of a suppressed group is blanked, others kept
    assert out["mean"].iloc[0] is None and out["mean"].iloc[2] is None
    assert out["mean"].iloc[1] == 2.0
    assert df["n"].iloc[0] == 9  # input untouched


def test_suppress_small_configurable_threshold_and_string_arg():
    df = pd.DataFrame({"n": [4, 5, 29, 30]})
    assert suppress_small(df, "n", min_n=5)["n"].tolist() == ["<5", 5, 29, 30]
    assert suppress_small(df, "n", min_n=30)["n"].tolist() == ["<30", "<30", "<30", 30]


def test_suppress_small_rejects_unknown_column():
    with pytest.raises(KeyError):
        suppress_small(pd.DataFrame({"n": [1]}), ["x"])


@pytest.mark.parametrize("raw", ["=1+1", "+A1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_neutralize_csv_cell_prefixes_formula_starts(raw):
    assert neutralize_csv_cell(raw) == "'" + raw


@pytest.mark.parametrize("raw", ["plain", "", "a=b", 5, -3.5, None])
def test_neutralize_csv_cell_leaves_safe_values(raw):
    assert neutralize_csv_cell(raw) == raw


def test_neutralize_frame_keeps_numbers_and_neutralizes_text():
    df = pd.DataFrame({"name": ["=HYPERLINK(\"x\")", "ok", None], "cost": [-5.0, 1.0, 2.0], "=bad": ["a", "b", "c"]})
    out = neutralize_frame(df)
    assert out["name"].iloc[0].startswith("'=")
    assert out["name"].iloc[1] == "ok"
    assert out["cost"].tolist() == [-5.0, 1.0, 2.0]
    assert "'=bad" in out.columns
    text = out.to_csv(index=False)
    assert "\n=" not in text and ",=" not in text
    back = pd.read_csv(io.StringIO(text))
    assert back["cost"].iloc[0] == -5.0
