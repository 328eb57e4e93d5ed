"""Privacy helpers used by every output meant for a board, the public or a download.

- `suppress_small`: aggregates over fewer than `min_n` students are shown as "<min_n" (methods.md §6).
- `neutralize_csv_cell` / `neutralize_frame`: text cells that a spreadsheet would read as a formula
  (leading =, +, -, @, tab or CR) get a leading apostrophe so they are shown as text (CSV injection);
  the rule lives in `edtech.core.safe_text` (shared with the tables the app shows) and is re-exported here.

Pure: no streamlit, no files.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from edtech.core import rules
from edtech.core.safe_text import FORMULA_PREFIXES, neutralize_csv_cell, neutralize_frame  # noqa: F401 - one rule


def suppression_label(min_n: int | None = None) -> str:
    return f"<{int(rules.suppression_threshold() if min_n is None else min_n)}"


def suppress_small(
    df: pd.DataFrame,
    count_cols: Sequence[str] | str,
    min_n: int | None = None,
    mask_cols: Sequence[str] = (),
) -> pd.DataFrame:
    """Copy of `df` where every count below `min_n` in `count_cols` is replaced by "<min_n".

    Zero counts are suppressed too (strict reading of "fewer than 10"). Missing counts stay missing.
    `mask_cols` are statistics computed over the same small group (e.g. a mean score): on any row
    where one of the counts was suppressed they are blanked (None), because a mean over 3 students
    discloses as much as the count. Suppressed columns become object dtype (numbers and "<10").
    """
    min_n = rules.suppression_threshold() if min_n is None else int(min_n)
    if min_n < 1:
        raise ValueError("min_n must be at least 1")
    cols = [count_cols] if isinstance(count_cols, str) else list(count_cols)
    missing = [c for c in [*cols, *mask_cols] if c not in df.columns]
    if missing:
        raise KeyError(f"columns not in frame: {missing}")
    out = df.copy()
    label = suppression_label(min_n)
    any_small = pd.Series(False, index=out.index)
    for col in cols:
        values = pd.to_numeric(out[col], errors="coerce")
        small = (values < min_n).fillna(False).astype(bool)
        any_small |= small
        shown = out[col].astype("object")
        shown = shown.where(~small, label)
        out[col] = shown.where(shown.notna(), None)
    for col in mask_cols:
        masked = out[col].astype("object")
        out[col] = masked.where(~any_small, None)
    return out
