"""What a user sees on a page is presentable (issue 14): `assert_presentable(at)` after `AppTest.run()`.

Checked on every element the run rendered (all tabs and expanders: AppTest keeps their content):

- grids (`st.dataframe`, `st.table`): each shown header is the label the user reads (the column_config
  label when set, otherwise the column name; hidden columns and a hidden index are skipped) and has no
  `_`, is not a bare lowercase identifier ("gap", "before"); no cell is missing (the grid draws a null as
  "None") or shows `None`/`nan`/`NaN`/`NaT`/`<NA>`/`inf`; no cell is a raw snake_case code (`title_iv_a`);
  a float column without a format shows at most 2 decimals (not `256.2087`); no cell starts with the
  formula guard's apostrophe (`'+0.32 (…)`: write such figures with components.signs_as_text); a column
  whose header says it lists codes on purpose ("Column", "Field", "Code", "… in your file") may show them;
- texts (markdown, captions, headings, alerts, metrics and their help, widget labels, options and help,
  tab and expander labels, chart texts): no `None`/`nan`/`NaT`/`<NA>`/`inf` shown as a value, no raw JSON or
  Python dict, no glyph Debian Chromium cannot draw (emoji and pictographs; `:material/name:` icons are fine);
- no exception element, no `st.json` and no `st.code` block (raw output).

`problems(at)` returns the findings as text (one per problem, naming the element), for tests that want them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

import pandas as pd

from edtech.core.format import VOCABULARY

MATERIAL_ICON = re.compile(r":material/[a-z0-9_]+:")
# ranges Debian Chromium (fonts-dejavu/liberation, no emoji font) draws as empty boxes, or that only
# exist to ask for an emoji presentation (variation selector 16, zero-width joiner, keycap)
_NO_GLYPH_RANGES = (
    (0x1F000, 0x1FAFF),  # mahjong/cards, enclosed alphanumerics, flags, pictographs, emoticons, transport, ...
    (0x2600, 0x27BF),  # miscellaneous symbols and dingbats
    (0x2B00, 0x2BFF),  # miscellaneous symbols and arrows (stars, big arrows)
    (0xFE00, 0xFE0F),  # variation selectors (FE0F = emoji presentation)
    (0x200D, 0x200D),  # zero-width joiner (emoji sequences)
    (0x20E3, 0x20E3),  # combining keycap
    (0x231A, 0x231B), (0x23E9, 0x23F3), (0x23F8, 0x23FA),  # watch, hourglass, media buttons
    (0xE000, 0xF8FF),  # private use area
    (0x1FB00, 0x1FBFF),  # symbols for legacy computing
    (0xE0000, 0xE007F),  # tags (flag sequences)
)
# a missing value printed as text: NaN/NaT/<NA>/inf anywhere as a token, "None" unless it starts a
# sentence ("None of the tools ..."), "nan" as a word
_MISSING_TOKEN = re.compile(r"(?<![A-Za-z0-9_])(?:nan|NaN|NaT|<NA>|-?inf|Infinity|None(?! [a-z]))(?![A-Za-z0-9_])")
_RAW_JSON = re.compile(r"[{\[]\s*[\"'][^\"'\n]{1,80}[\"']\s*:")
_SNAKE_CODE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)+$")
_BARE_IDENTIFIER = re.compile(r"^[a-z][a-z0-9]*$")
_MISSING_CELL_TEXTS = {"none", "nan", "nat", "<na>", "null", "inf", "-inf", "infinity"}
_INDEX = "_index"
# stored codes that have words (edtech.core.format.VOCABULARY): shown as they are stored, they are raw codes
_KNOWN_CODES = frozenset(code for words in VOCABULARY.values() for code in words)
# the CSV-injection guard's apostrophe ("'+0.32 (…)"): text that starts with a sign or "=" is shown with it
_GUARD_APOSTROPHE = re.compile(r"^'[=+\-@]")
# a column that lists codes on purpose (the file's column names a user must write, a code list)
_CODES_ON_PURPOSE = re.compile(r"\b(column|columns|field|fields|code|codes)\b|in (the|your) file", re.IGNORECASE)


def unsupported_glyphs(text: str) -> list[str]:
    """The characters of `text` that Debian Chromium cannot draw (as U+XXXX), material icon names removed."""
    found = []
    for ch in MATERIAL_ICON.sub("", text):
        cp = ord(ch)
        if any(lo <= cp <= hi for lo, hi in _NO_GLYPH_RANGES):
            found.append(f"U+{cp:04X}")
    return found


def missing_tokens(text: str) -> list[str]:
    """Missing values printed as text in `text` (`None`, `nan`, `NaT`, `<NA>`, `inf`)."""
    return _MISSING_TOKEN.findall(MATERIAL_ICON.sub("", text))


def _text_problems(where: str, text: Any, *, json_too: bool = True) -> list[str]:
    if text is None:
        return []
    text = str(text)
    out = []
    if bad := missing_tokens(text):
        out.append(f"{where}: shows {sorted(set(bad))} in {text[:160]!r}")
    if bad := unsupported_glyphs(text):
        out.append(f"{where}: glyph(s) {sorted(set(bad))} Debian Chromium cannot draw in {text[:160]!r}")
    if json_too and _RAW_JSON.search(text):
        out.append(f"{where}: raw JSON/dict in {text[:160]!r}")
    return out


def _walk(at: Any) -> Iterator[Any]:
    """Every node of the rendered tree (main area and sidebar, inside tabs, columns and expanders)."""
    yield from at._tree


def _shown_columns(frame: pd.DataFrame, config: dict[str, Any], order: list[str]) -> list[tuple[Any, str]]:
    """(column, the header the user reads) for each visible data column."""
    shown = []
    for i, col in enumerate(frame.columns):
        cfg = config.get(str(col), config.get(f"_pos:{i}", {})) or {}
        if cfg.get("hidden") or (order and str(col) not in order):
            continue
        label = cfg.get("label")
        shown.append((col, str(label) if label not in (None, "") else str(col)))
    return shown


def _cell_is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        return bool(pd.isna(value)) if not isinstance(value, list | tuple | dict) else False
    except (TypeError, ValueError):
        return False


def _decimals(value: float) -> int:
    text = f"{value:.10f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


def _header_problems(where: str, header: str) -> list[str]:
    out = []
    if "_" in MATERIAL_ICON.sub("", header):
        out.append(f"{where}: header {header!r} contains '_'")
    elif _BARE_IDENTIFIER.match(header):
        out.append(f"{where}: header {header!r} is a raw column name")
    out += _text_problems(f"{where} header", header, json_too=False)
    return out


def grid_problems(where: str, frame: pd.DataFrame, config: dict[str, Any] | None = None,
                  order: Iterable[str] | None = None) -> list[str]:
    """Problems of one grid as the user sees it: `frame` with its column config and column order."""
    config, order = dict(config or {}), list(order or [])
    out: list[str] = []
    index_cfg = config.get(_INDEX, {}) or {}
    index_hidden = index_cfg.get("hidden") is True or (
        index_cfg.get("hidden") is None and isinstance(frame.index, pd.RangeIndex))
    columns: list[tuple[str, pd.Series, dict[str, Any]]] = []
    if not index_hidden:
        names = [n for n in frame.index.names if n is not None]
        label = index_cfg.get("label") or (", ".join(map(str, names)) if names else "")
        if label:
            out += _header_problems(where, str(label))
        columns.append((f"index {label or '(unnamed)'}", frame.index.to_series(), index_cfg))
    for col, header in _shown_columns(frame, config, order):
        out += _header_problems(where, header)
        values = frame[col]
        if isinstance(values, pd.DataFrame):  # duplicate column names: the first is what is checked
            values = values.iloc[:, 0]
        columns.append((header, values, config.get(str(col), {}) or {}))
    for header, values, cfg in columns:
        col_where = f"{where} column {header!r}"
        missing = [i for i, v in enumerate(values) if _cell_is_missing(v)]
        if missing:
            out.append(f"{col_where}: {len(missing)} empty cell(s) (drawn as 'None'), first at row {missing[0]}")
        texts = [v for v in values if isinstance(v, str)]
        shown_missing = sorted({v for v in texts if v.strip().lower() in _MISSING_CELL_TEXTS})
        if shown_missing:
            out.append(f"{col_where}: cells show {shown_missing}")
        codes = [] if _CODES_ON_PURPOSE.search(header) else sorted(
            {v for v in texts if _SNAKE_CODE.match(v.strip()) or v.strip() in _KNOWN_CODES})
        if codes:
            out.append(f"{col_where}: raw codes {codes[:5]} (map them to words)")
        guarded = sorted({v for v in texts if _GUARD_APOSTROPHE.match(v)})
        if guarded:
            out.append(f"{col_where}: cells start with the formula guard's apostrophe {guarded[:3]} "
                       "(text starting with + - = @; write a signed figure another way)")
        for v in texts:
            if glyphs := unsupported_glyphs(v):
                out.append(f"{col_where}: glyph(s) {sorted(set(glyphs))} in cell {v[:60]!r}")
                break
            if _RAW_JSON.search(v):
                out.append(f"{col_where}: raw JSON/dict in cell {v[:60]!r}")
                break
        fmt = (cfg.get("type_config") or {}).get("format") if isinstance(cfg, dict) else None
        if pd.api.types.is_float_dtype(values.dtype) and not fmt:
            finite = [float(v) for v in values if not _cell_is_missing(v) and math.isfinite(float(v))]
            if finite and max(_decimals(v) for v in finite) > 2:
                sample = next(v for v in finite if _decimals(v) > 2)
                out.append(f"{col_where}: unformatted numbers with more than 2 decimals (e.g. {sample!r}); "
                           "give the column a format")
        if pd.api.types.is_float_dtype(values.dtype) and any(
                isinstance(v, float) and math.isinf(v) for v in values):
            out.append(f"{col_where}: infinite values")
    return out


def _dataframe_problems(node: Any, where: str) -> list[str]:
    proto = node.proto
    config = json.loads(proto.columns) if getattr(proto, "columns", "") else {}
    order = list(getattr(proto, "column_order", []) or [])
    frame = node.value
    heads = [h for _, h in _shown_columns(frame, config, order)][:3]
    return grid_problems(f"{where} [{', '.join(heads)}{', ...' if len(frame.columns) > 3 else ''}]",
                         frame, config, order)


def _chart_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k in {"template", "bdata", "dtype", "shape"}:
                continue  # the theme's defaults and binary-encoded arrays are not shown as text
            yield from _chart_strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for v in value:
            yield from _chart_strings(v, path)
    elif isinstance(value, str):
        yield path, value


def _chart_problems(node: Any, where: str) -> list[str]:
    spec = getattr(node.proto, "spec", "") or ""
    try:
        figure = json.loads(spec) if spec else {}
    except ValueError:
        return []
    out = []
    for path, text in _chart_strings(figure):
        if path.endswith(("hovertemplate", "texttemplate", "legendgroup", "uid", "font.family", "tickformat",
                          "hoverformat", "customdata")):
            continue
        if bad := unsupported_glyphs(text):
            out.append(f"{where} {path}: glyph(s) {sorted(set(bad))} in {text[:80]!r}")
        elif text.strip().lower() in _MISSING_CELL_TEXTS or (
                path.endswith(("text", "name", "title")) and missing_tokens(text)):
            out.append(f"{where} {path}: shows {text[:80]!r}")
    return out[:10]


def _label(node: Any) -> str:
    for attr in ("label", "key"):
        try:
            value = getattr(node, attr, None)
        except Exception:  # noqa: BLE001 - some nodes compute attributes lazily from their proto
            value = None
        if value:
            return f"{node.type} {str(value)[:50]!r}"
    return str(getattr(node, "type", "element"))


def problems(at: Any, *, allow_code: bool = False) -> list[str]:
    """Every presentation problem on the page `at` last rendered (empty when presentable)."""
    out: list[str] = []
    for node in _walk(at):
        ty = getattr(node, "type", "")
        where = _label(node)
        proto = getattr(node, "proto", None)
        if ty == "exception":
            out.append(f"exception: {getattr(node, 'message', '')[:300]}")
        elif ty in {"dataframe", "arrow_data_frame"}:
            out += _dataframe_problems(node, where)
        elif ty == "table":
            out += grid_problems(where, node.value)
        elif ty == "json":
            out.append(f"{where}: raw JSON block (st.json) shown to the user")
        elif ty == "code" and not allow_code:
            out.append(f"{where}: code block (st.code) shown to the user: {str(node.value)[:80]!r}")
        elif ty in {"plotly_chart"}:
            out += _chart_problems(node, where)
        elif ty in {"markdown", "caption", "latex", "divider", "text", "heading", "title", "header", "subheader"}:
            out += _text_problems(where, getattr(node, "value", None))
        elif ty in {"error", "warning", "info", "success", "alert"}:
            out += _text_problems(where, getattr(node, "value", None))
            out += _text_problems(f"{where} icon", getattr(node, "icon", None), json_too=False)
        elif ty == "metric":
            for part in ("label", "value", "delta"):
                out += _text_problems(f"{where} {part}", getattr(node, part, None))
            out += _text_problems(f"{where} help", getattr(proto, "help", None))
        elif ty in {"tab", "expander", "status"}:
            out += _text_problems(where, getattr(node, "label", None), json_too=False)
            out += _text_problems(f"{where} icon", getattr(proto, "icon", None), json_too=False)
        elif proto is not None and hasattr(proto, "label"):  # widgets, buttons, page links
            out += _text_problems(where, getattr(proto, "label", None), json_too=False)
            out += _text_problems(f"{where} help", getattr(proto, "help", None))
            out += _text_problems(f"{where} icon", getattr(proto, "icon", None), json_too=False)
            options = getattr(proto, "options", None)
            if options is not None and not isinstance(options, str):
                for option in list(options)[:500]:
                    text = option if isinstance(option, str) else getattr(option, "label", "")
                    out += _text_problems(f"{where} option", text, json_too=False)
    return out


def assert_presentable(at: Any, context: str = "", *, allow_code: bool = False) -> None:
    """Fail with the list of presentation problems on the page `at` last rendered (see the module doc)."""
    found = problems(at, allow_code=allow_code)
    assert not found, f"{context}: {len(found)} presentation problem(s):\n  " + "\n  ".join(found[:60])
