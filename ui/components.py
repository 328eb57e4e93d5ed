"""Small shared pieces of UI: the empty-database welcome, number formatting, and the one way pages
show data values: `escape` for markdown, `table` for grids, `chart` for plotly figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from edtech.adoption.engine import ACTIVE_USER_RULE, FRL_BAND_RULE, SEAT_ALLOCATION_RULE  # noqa: F401
from edtech.adoption.equity import LOW_COVERAGE, OLD_DEVICE_SHARE, REFRESH_YEARS, suppressed_equity  # noqa: F401
from edtech.core.charts import escape_figure
from edtech.core.format import EM_DASH, count, money, pct, signed_money  # noqa: F401 - re-exported for pages
from edtech.core.privacy import suppress_small  # noqa: F401
from edtech.core.rules import DEFINITIONS, RENEWAL_WINDOW_DAYS, suppression_threshold  # noqa: F401
from edtech.core.safe_text import (  # noqa: F401 - the one rule for data values, for pages
    defang_markdown,
    escape_code,
    escape_markdown,
    grid_frame,
    neutralize_frame,
)
from edtech.core.scope import SCOPE_HELP  # noqa: F401
from edtech.evidence.effects import DECISION_THRESHOLD  # noqa: F401
from edtech.report.assemble import SECTION_KEYS, SECTION_TITLES  # noqa: F401
from edtech.roi.engine import DEFAULT_WEIGHTS, WEIGHT_LABELS  # noqa: F401
from ui import cache, nav, state


def escape(value: object) -> str:
    """A data value inside anything Streamlit renders as markdown (text, captions, alerts, labels,
    help): shown literally, never a link, image, emphasis or formula."""
    return escape_markdown(value)


def displayable(frame: pd.DataFrame | Mapping[str, Any], column_config: Mapping[str, Any] | None = None,
                column_order: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame a grid receives and its column config: only the shown columns (hidden ones are
    dropped, not hidden: the browser could show and export them), formula-like text neutralized
    (the grid's own "Download as CSV" exports cells raw), and mixed columns (numbers and '<10'
    privacy labels) as text, so the browser shows them as they are instead of failing to convert
    the column to numbers."""
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    out, config = grid_frame(frame, column_config, column_order)
    for i in range(out.shape[1]):
        values = out.iloc[:, i]
        if values.dtype == object:
            kinds = {type(v) for v in values.dropna()}
            if str in kinds and len(kinds) > 1:
                out.isetitem(i, values.map(lambda v: "" if v is None or (not isinstance(v, str) and pd.isna(v))
                                           else (v if isinstance(v, str) else f"{v:,.0f}" if float(v).is_integer()
                                                 else f"{v:,.2f}")))
    return out, config


def table(frame: pd.DataFrame | Mapping[str, Any], *, column_config: Mapping[str, Any] | None = None,
          column_order: Sequence[str] | None = None, where: Any = None, **kw: Any) -> None:
    """Every grid of the app: st.dataframe of `displayable(frame)` (in `where`, a column or container)."""
    shown, config = displayable(frame, column_config, column_order)
    if kw.get("hide_index"):  # a hidden index can be shown again in the browser: send 0..n-1 only
        shown = shown.reset_index(drop=True)
    (where or st).dataframe(shown, column_config=config or None, **kw)


def chart(fig: Any, *, where: Any = None, **kw: Any) -> None:
    """Every plotly chart of the app: the figure with its texts escaped (names from data are text)."""
    (where or st).plotly_chart(escape_figure(fig), **kw)


def load_sample_button(key: str) -> None:
    """One click to a realistic district, through the real importer."""
    if not state.can(state.Action.IMPORT_DISTRICT):  # the sample writes district-wide tables
        return
    if st.button("Load the sample district", key=key, type="primary", icon=":material/rocket_launch:"):
        from edtech.services.dataset import load_sample_district

        bar = st.progress(0.0, text="Loading the sample district…")
        reports = load_sample_district(cache.get_engine(), progress=lambda f, m: bar.progress(min(f, 1.0), text=m),
                                       principal=state.current_principal())
        bar.progress(1.0, text="Done")
        bad = [r for r in reports if not r.ok]
        if bad:
            st.error("\n\n".join(escape(line) for r in bad for line in r.error_lines()[:5]))
        else:
            st.success(f"Loaded {sum(r.rows_stored for r in reports):,} rows from {len(reports)} files.")
            st.rerun()


def empty_state(what: str = "this page") -> bool:
    """Show a friendly start screen when there is no data; returns True when the caller should stop."""
    district = cache.get_whole()
    if not district.is_empty:
        return False
    st.info(f"There is no district data yet, so {what} has nothing to show.", icon=":material/info:")
    if not state.can(state.Action.IMPORT):  # board members and viewers: nothing to load themselves
        st.markdown("Ask the director's office to load the district's data.")
        return True
    st.markdown("Start with the **sample district** (12 schools, 6,000 students, a school year of usage) "
                "or upload your own files on the **Data** page.")
    c1, c2 = st.columns([1, 3])
    with c1:
        load_sample_button(key=f"empty_load_{what.replace(' ', '_')}")
    with c2:
        nav.link("app_pages/data.py", "Upload your data", ":material/upload_file:")
    return True


def scope_or_stop(page: str, what: str):
    """The current role's scope for a page that needs data and (for a coordinator) schools; otherwise a
    friendly start screen or a prompt, and the page stops here."""
    if empty_state(page) or require_scope(what):
        st.stop()
    return state.current_scope()


def require_scope(what: str) -> bool:
    """A coordinator whose account has no (known) school sees a hint; returns True when the page should stop."""
    scope = state.current_scope()
    if scope is not None and not scope:
        st.info(f"No schools are assigned to your account yet, so there are no {what} to show. "
                "Ask your director to assign your schools (Admin page).", icon=":material/school:")
        return True
    return False
