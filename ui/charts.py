"""The chart builders pages draw (pure functions in edtech; re-exported so pages import only `ui`)."""

from typing import Any

import pandas as pd
import streamlit as st

from edtech.adoption.viz import *  # noqa: F403
from edtech.core.charts import spend_by_category, utilization_bar, weekly_active_line  # noqa: F401
from edtech.roi import viz as roi  # noqa: F401

# the scoreboard columns the cost-vs-effect quadrant draws (its cache key)
QUADRANT_COLUMNS = ["tool_id", "tool_name", "cost_per_active_user", "effect_size", "annual_cost", "utilization",
                    "evidence_label"]


@st.cache_resource(show_spinner=False, max_entries=32)
def _quadrant(values: tuple, _board: pd.DataFrame) -> Any:
    return roi.quadrant(_board)


def roi_quadrant(board: pd.DataFrame) -> Any:
    """`roi.quadrant(board)`, built once per drawn values (rows, filters): plotly's object API costs about half
    a second for its labels, on every rerun otherwise (issue 15). Shared: draw it with `components.chart`."""
    return _quadrant(tuple(board[QUADRANT_COLUMNS].itertuples(index=False, name=None)), board)
