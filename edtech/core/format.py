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
