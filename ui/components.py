"""Small shared pieces of UI: the empty-database welcome, number formatting, and the one way pages
show data values: `escape` for markdown, `table` for grids, `chart` for plotly figures.

Grids (issue 14): give every shown column a human label and a unit through `column_config`, using the
column kinds below (`money_column`, `percent_column`, `count_column`, `minutes_column`, `decimal_column`,
`text_column`), so a unit reads the same on every page ($1,234; 12%; 1,234; 256 min); map stored codes to
words with `label_for(code, kind)` (edtech.core.format.VOCABULARY); pass `missing="why"` (or a dict per
column) to `table` so an empty cell shows an em dash and the header's hover says why, instead of the grid's
"None". tests/presentation_checks.py checks every page for this."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from edtech.adoption.engine import ACTIVE_USER_RULE, FRL_BAND_RULE, SEAT_ALLOCATION_RULE  # noqa: F401
from edtech.adoption.equity import LOW_COVERAGE, OLD_DEVICE_SHARE, REFRESH_YEARS, suppressed_equity  # noqa: F401
from edtech.core.charts import escape_figure
from edtech.core.format import (  # noqa: F401 - re-exported for pages
    EM_DASH,
    VOCABULARY,
    count,
    humanize,
    label_for,
    labels_for,
    minutes,
    money,
    number,
    pct,
    points,
    signed_money,
    yes_no,
)
from edtech.core.privacy import suppress_small, suppression_label  # noqa: F401
from edtech.core.rules import DEFINITIONS, RENEWAL_WINDOW_DAYS, suppression_threshold  # noqa: F401
from edtech.core.safe_text import (  # noqa: F401 - the one rule for data values, for pages
    defang_markdown,
    escape_code,
    escape_markdown,
    grid_frame,
    neutralize_csv_cell,
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
                column_order: Sequence[str] | None = None,
                missing: str | Mapping[str, str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The frame a grid receives and its column config: only the shown columns (hidden ones are
    dropped, not hidden: the browser could show and export them), formula-like text neutralized
    (the grid's own "Download as CSV" exports cells raw), and mixed columns (numbers and '<10'
    privacy labels) as text, so the browser shows them as they are instead of failing to convert
    the column to numbers."""
    frame = frame if isinstance(frame, pd.DataFrame) else pd.DataFrame(frame)
    out, config = grid_frame(frame, column_config, column_order)
    if missing is not None:
        out, config = dash_missing(out, config, missing)
    for i, name in enumerate(out.columns):
        values = out.iloc[:, i]
        if values.dtype == object:
            kinds = {type(v) for v in values.dropna()}
            if str in kinds and len(kinds) > 1:
                # numbers drawn in the column's own format ($1,234, 12%), then the column is text
                cfg = config.get(name)
                cfg = {"label": cfg} if isinstance(cfg, str) else dict(cfg or {})
                out.isetitem(i, values.map(lambda v, c=cfg: "" if _is_empty(v) else _format_like(v, c)))
                if (cfg.get("type_config") or {}).get("type") not in (None, "text"):
                    config[name] = st.column_config.TextColumn(cfg.get("label") or str(name), help=cfg.get("help"),
                                                               width=cfg.get("width"), pinned=cfg.get("pinned"))
    return out, config


# ---------------------------------------------------------------- column kinds: one format per unit

def money_column(label: str, help: str | None = None, **kw: Any) -> dict[str, Any]:
    """Dollars, whole, with thousands separators: $1,234."""
    return st.column_config.NumberColumn(label, help=help, format="dollar", step=1, **kw)


def percent_column(label: str, help: str | None = None, decimals: int = 0, **kw: Any) -> dict[str, Any]:
    """A share 0-1 shown as a percent with `decimals` decimals (0 by default): 12%."""
    return st.column_config.NumberColumn(label, help=help, format="percent", step=10.0 ** -(decimals + 2), **kw)


def count_column(label: str, help: str | None = None, **kw: Any) -> dict[str, Any]:
    """A whole number with thousands separators: 1,234."""
    return st.column_config.NumberColumn(label, help=help, format="localized", step=1, **kw)


def minutes_column(label: str, help: str | None = None, **kw: Any) -> dict[str, Any]:
    """Minutes as whole numbers (the unit belongs in the label: "Minutes per student")."""
    return st.column_config.NumberColumn(label, help=help, format="localized", step=1, **kw)


def decimal_column(label: str, help: str | None = None, decimals: int = 1, **kw: Any) -> dict[str, Any]:
    """A measure with a fixed number of decimals: 0.8."""
    return st.column_config.NumberColumn(label, help=help, format="localized", step=10.0 ** -decimals, **kw)


def text_column(label: str, help: str | None = None, **kw: Any) -> dict[str, Any]:
    return st.column_config.TextColumn(label, help=help, **kw)


def _step_decimals(step: Any) -> int | None:
    if step is None:
        return None
    text = f"{float(step):.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _is_empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, (list, tuple, dict)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _format_like(value: Any, config: Mapping[str, Any]) -> str:
    """A value as its column's format would draw it (used when the column must become text)."""
    if isinstance(value, str):
        return value
    if _is_empty(value):
        return EM_DASH
    if isinstance(value, bool):
        return yes_no(value)
    if not isinstance(value, (int, float)):
        return str(value)
    type_config = config.get("type_config") or {}
    fmt, decimals = type_config.get("format"), _step_decimals(type_config.get("step"))
    if fmt == "dollar":
        return money(value, decimals or 0)
    if fmt == "percent":
        return pct(value, max((2 if decimals is None else decimals) - 2, 0))
    if isinstance(fmt, str) and "%" in fmt:
        try:
            return fmt % value
        except (TypeError, ValueError):
            pass
    if decimals is None:
        decimals = 0 if float(value).is_integer() else 2
    return number(value, decimals)


def dash_missing(frame: pd.DataFrame, column_config: Mapping[str, Any] | None,
                 missing: str | Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Columns with empty cells as text: each value drawn in its column's format and an em dash for the
    empty ones, the reason (`missing`, or `missing[column]`) added to the header's help."""
    out, config = frame.copy(), dict(column_config or {})
    has_empty = out.isna().any(axis=0).to_numpy()  # one vectorized pass (a list in a cell is not empty)
    for i, name in enumerate(out.columns):
        if not has_empty[i]:
            continue
        values = out.iloc[:, i]
        cfg = config.get(name)
        cfg = {"label": cfg} if isinstance(cfg, str) else dict(cfg or {})
        out.isetitem(i, values.map(lambda v, c=cfg: _format_like(v, c)).astype(object))
        reason = missing.get(name) if isinstance(missing, Mapping) else missing
        note = f"{EM_DASH} = {reason}" if reason else None
        help_text = " ".join(t for t in (cfg.get("help"), note) if t)
        config[name] = st.column_config.TextColumn(cfg.get("label") or str(name), help=help_text or None,
                                                   width=cfg.get("width"), pinned=cfg.get("pinned"))
    return out, config


# a cell that starts with a signed figure ("+0.32 (+0.27 to +0.36)", "+0.20 SD by Jun 2028", "+0 pts")
_LEADING_SIGN = re.compile(r"^[+\-−]\$?\d")


def signs_as_text(frame: pd.DataFrame, names: Sequence[str] = ()) -> pd.DataFrame:
    """Text cells that start with a signed figure but are more than one number ("+0.32 (+0.27 to +0.36)")
    written with a typographic minus and without plus signs ("0.32 (0.27 to 0.36)", "−0.02 (−0.07 to 0.03)"):
    the grid's formula guard would otherwise show them behind an apostrophe. A lone signed number
    ("+0.12", "-$1,200") is kept: the guard lets it through. Columns in `names` hold names from the data
    (a tool called "+1 Math") and are left as they are."""
    def one(value: Any) -> Any:
        if not isinstance(value, str) or not _LEADING_SIGN.match(value) or neutralize_csv_cell(value) == value:
            return value  # not a signed figure, or one the guard lets through
        return re.sub(r"-(?=\$?\d)", "\u2212", re.sub(r"\+(?=\$?\d)", "", value))

    out = frame.copy()
    for i, name in enumerate(out.columns):
        if name in names:
            continue
        if out.iloc[:, i].dtype == object or pd.api.types.is_string_dtype(out.iloc[:, i].dtype):
            out.isetitem(i, out.iloc[:, i].map(one).astype(object))
    return out


def table(frame: pd.DataFrame | Mapping[str, Any], *, column_config: Mapping[str, Any] | None = None,
          column_order: Sequence[str] | None = None, where: Any = None,
          missing: str | Mapping[str, str] | None = None, **kw: Any) -> None:
    """Every grid of the app: st.dataframe of `displayable(frame)` (in `where`, a column or container).
    With `missing` (why a cell can be empty, or a dict of reasons per column), empty cells show an em dash
    instead of the grid's "None", the reason on the header's hover (see `dash_missing`)."""
    shown, config = displayable(frame, column_config, column_order, missing)
    prepared_table(shown, config, where=where, **kw)


def prepared_table(shown: pd.DataFrame, config: Mapping[str, Any], *, where: Any = None, **kw: Any) -> None:
    """A grid of rows of a frame `displayable` already prepared (a large list prepared once per result, then
    cut to the rows a filter keeps: neutralizing is per cell, so the rows of the prepared frame are the same)."""
    if kw.get("hide_index"):  # a hidden index can be shown again in the browser: send 0..n-1 only
        shown = shown.reset_index(drop=True)
    (where or st).dataframe(shown, column_config=dict(config) or None, **kw)


def chart(fig: Any, *, where: Any = None, **kw: Any) -> None:
    """Every plotly chart of the app: the figure with its texts escaped (names from data are text)."""
    (where or st).plotly_chart(fig if getattr(fig, "_escaped", False) else escape_figure(fig), **kw)


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
