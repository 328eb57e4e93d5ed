"""KPI status (methods v2 section 7), from a KPI's monthly values, baseline, target and target date.

- direction = sign(target − baseline) (a target equal to its baseline means "hold at least that": up);
- *met* when the current (latest) value is at or past the target in that direction;
- *on track* when the least-squares line through the monthly values (≥ 3 of them) reaches the target by
  the target date;
- *at risk* otherwise (including a target date already past without the target met);
- *no data* with no value at all.

Pure: a Series indexed by month (any date in the month; the first day is the convention) in, a code out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

STATUSES = ("met", "on_track", "at_risk", "no_data")
STATUS_LABELS = {"met": "Met", "on_track": "On track", "at_risk": "At risk", "no_data": "No data"}
STATUS_ICONS = {"met": ":material/check_circle:", "on_track": ":material/trending_up:",
                "at_risk": ":material/warning:", "no_data": ":material/help:"}
MIN_TREND_POINTS = 3
STATUS_RULE = ("Met: the current value is at or past the target (in the direction from baseline to target). "
               "On track: the straight-line trend of at least 3 monthly values reaches the target by the target "
               "date. At risk: otherwise. No data: no value yet.")


@dataclass(frozen=True)
class KpiStatus:
    status: str                      # one of STATUSES
    current: float | None            # the latest monthly value
    direction: int                   # +1 up, -1 down
    projected: float | None = None   # the trend's value at the target date (when ≥ 3 values)
    points: int = 0

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]


def _finite(value: object) -> float | None:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def direction_of(baseline: float | None, target: float) -> int:
    """+1 when the target is above the baseline (or equal to it), -1 when below."""
    if baseline is None:
        return 1
    return -1 if target < baseline else 1


def monthly(values: pd.Series) -> pd.Series:
    """Finite values indexed by the first day of their month, in month order (the last value of a month kept)."""
    if values is None or len(values) == 0:
        return pd.Series(dtype="float64")
    s = pd.to_numeric(pd.Series(values), errors="coerce").astype("float64")
    s.index = pd.to_datetime(pd.Index(values.index)).to_period("M").to_timestamp()
    s = s[np.isfinite(s.to_numpy())]
    return s[~s.index.duplicated(keep="last")].sort_index()


def trend_at(series: pd.Series, when: pd.Timestamp) -> float:
    """The least-squares line through the monthly values, evaluated at `when` (x = days)."""
    x = (series.index - series.index[0]).days.to_numpy(dtype="float64")
    slope, intercept = np.polyfit(x, series.to_numpy(dtype="float64"), 1)
    return float(intercept + slope * (pd.Timestamp(when) - series.index[0]).days)


def kpi_status(values: pd.Series, *, target: float, target_date: pd.Timestamp | str,
               baseline: float | None = None) -> KpiStatus:
    """The status of one KPI from its monthly values (methods v2 section 7). A missing baseline reads as the
    first monthly value (the baseline the data gives)."""
    series = monthly(values)
    target_value = _finite(target)
    if target_value is None:
        raise ValueError("a KPI needs a numeric target")
    if series.empty:
        return KpiStatus("no_data", None, direction_of(_finite(baseline), target_value))
    base = _finite(baseline)
    direction = direction_of(series.iloc[0] if base is None else base, target_value)
    current = float(series.iloc[-1])
    if (current - target_value) * direction >= 0:
        return KpiStatus("met", current, direction, points=len(series))
    due = pd.Timestamp(target_date)
    if len(series) < MIN_TREND_POINTS:
        return KpiStatus("at_risk", current, direction, points=len(series))
    projected = trend_at(series, due)
    past_due = series.index[-1] > due.to_period("M").to_timestamp()
    on_track = not past_due and (projected - target_value) * direction >= 0
    return KpiStatus("on_track" if on_track else "at_risk", current, direction, projected, len(series))
