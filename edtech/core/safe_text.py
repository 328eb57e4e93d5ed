"""Data values made safe for the surface that shows them: one rule per surface, used everywhere.

Names of tools, schools, vendors, assessments, scenarios, file headers and query parameters come
from imported files and from people; they must be shown as text, never obeyed as markup.

- `escape_markdown`: for every Streamlit string rendered as markdown (st.markdown, st.caption,
  st.info/warning/error/success, metric labels and values, `help` tooltips, expander, tab and widget
  labels). A backslash goes before every character that opens markup anywhere in a line (links and
  images `[ ]`, HTML and autolinks `< >`, emphasis `* _ ~`, code `` ` ``, math `$`, entities `&`,
  tables `|`, directive attributes `{ }`) and before a value's first character when it would start a
  block (`#`, `>`, `- `, `+ `, `---`, `1. `, `1) `); an `_` between two letters or digits is left alone (it cannot
  emphasize: `student_id`). Line breaks become spaces. GitHub's *literal* autolinks (`https://…`,
  `www.…`, `name@host.tld`) are found in the text after escapes are resolved, so a backslash does
  not stop them: they are broken with an invisible word joiner.
- `escape_chart_text`: for plotly text (trace names, tick labels, hover text, titles,
  annotations), which renders a subset of HTML (`<a href>`, `<b>`, `<br>`…): `&`, `<`, `>` become
  entities and `javascript:` loses its colon. Plotly decodes the entities, so people read the name.
- `neutralize_csv_cell` / `neutralize_frame`: text cells a spreadsheet would read as a formula
  (leading =, +, -, @, tab or CR) get a leading apostrophe. The app's CSV and Excel downloads, the
  command line and the tables the app shows (Streamlit's own "Download as CSV") share this rule.
- `grid_frame`: the frame a table widget receives holds only the columns it shows, neutralized.

Pure: no streamlit, no plotly, no files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

# ---------------------------------------------------------------- markdown

WORD_JOINER = "\u2060"  # zero width, no line break: splits a URL for the autolinker, invisible to readers
_INLINE_MARKUP = frozenset("\\`*~[]<>&$|{}")  # escaped wherever they are ('_' below)
# what makes a heading, quote, list or rule of a line that starts with it
_BLOCK_START = re.compile(r"^(\s*)([#>]|[-+](?=\s|$|-)|\d+[.)](?=\s|$))")
_LINE_BREAKS = re.compile(r"[\r\n\t\v\f]+")
# what remark-gfm turns into a link in text after escapes are resolved (mdast-util-gfm-autolink-literal)
_SCHEME_SLASHES = re.compile(r"(?<=:)(?=//)")
_WWW_DOT = re.compile(r"(?i)(?<=www)(?=\.)")
_EMAIL_AT = re.compile(r"(?<=@)(?=[-\w])")


def _text(value: object) -> str:
    if value is None:
        return ""
    try:
        if pd.isna(value):  # type: ignore[arg-type]
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def _escape_char(text: str, i: int) -> str:
    ch = text[i]
    if ch in _INLINE_MARKUP:
        return "\\" + ch
    if ch == "_" and not (0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()):
        return "\\_"
    return ch


def escape_markdown(value: object) -> str:
    """A data value as literal inline text inside Streamlit markdown (None / NA: empty)."""
    text = _LINE_BREAKS.sub(" ", _text(value))
    for pattern in (_SCHEME_SLASHES, _WWW_DOT, _EMAIL_AT):
        text = pattern.sub(WORD_JOINER, text)
    escaped = "".join(_escape_char(text, i) for i in range(len(text)))
    # the marker of a block at the start: escape its last character ('\#', '\-', '1\.')
    return _BLOCK_START.sub(lambda m: m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], escaped, count=1)


_DEFANG = frozenset("[]<>&${}")  # what makes a link, an image, HTML, an entity, math or a directive
# a code span on one line, its opening run not escaped (anything the renderer might read otherwise is escaped)
_CODE_SPAN = re.compile(r"(?<![\\`])(`+)(.+?)(?<!`)\1(?!`)")


def defang_markdown(markdown: str) -> str:
    """Markdown written by the code around data values (a model card, a technical note): headings,
    lists, tables, bold and code spans stay; outside code spans no link, image, HTML, entity, math or
    directive can form and literal autolinks are broken. Prefer `escape_markdown` on each value; this
    is for a document whose values were put in by another module."""
    out: list[str] = []
    for line in str(markdown).split("\n"):
        pos = 0
        parts: list[str] = []
        for span in _CODE_SPAN.finditer(line):
            parts += [_defang_text(line[pos:span.start()]), span.group(0)]
            pos = span.end()
        parts.append(_defang_text(line[pos:]))
        out.append("".join(parts))
    return "\n".join(out)


def _defang_text(text: str) -> str:
    for pattern in (_SCHEME_SLASHES, _WWW_DOT, _EMAIL_AT):
        text = pattern.sub(WORD_JOINER, text)
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):  # an escape the author wrote stays one
            out.append(text[i:i + 2])
            i += 2
            continue
        out.append("\\" + ch if ch in _DEFANG or ch == "`" else ch)
        i += 1
    return "".join(out)


def escape_code(value: object) -> str:
    """A data value as an inline code span: nothing inside is markdown, only a backtick could end it."""
    text = _LINE_BREAKS.sub(" ", _text(value)).replace("`", "'")
    return f"`{text}`" if text.strip() else escape_markdown(text)


# ---------------------------------------------------------------- plotly

_JAVASCRIPT = re.compile(r"(?i)(javascript\s*):")


def escape_chart_text(value: object) -> str:
    """A data value as text inside a plotly figure (names, labels, hover text, titles)."""
    text = _text(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _JAVASCRIPT.sub(r"\1&#58;", text)


# ---------------------------------------------------------------- CSV and grids

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# a signed number written as text ("+0.12" SD, "-$1,200", "-5%"): a spreadsheet reads a number, nothing runs
_SIGNED_NUMBER = re.compile(r"[+-]\$?\d[\d,]*(\.\d+)?%?")


def neutralize_csv_cell(value: Any) -> Any:
    """Prefix text that a spreadsheet would evaluate as a formula with an apostrophe.

    Only strings are touched: real numbers (including negative ones) are written by the CSV
    writer as plain numbers and are safe, and so is the text of a signed number ("+0.12").
    """
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _SIGNED_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _neutralize_values(values: pd.Series | pd.Index) -> pd.Series | pd.Index:
    if pd.api.types.is_numeric_dtype(values.dtype) or pd.api.types.is_datetime64_any_dtype(values.dtype):
        return values
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype("object")
    return values.map(neutralize_csv_cell, na_action="ignore")


def neutralize_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of `df` with every text cell, the column names and a text index neutralized."""
    out = df.copy()
    for i in range(out.shape[1]):  # by position: column names may repeat
        out.isetitem(i, _neutralize_values(out.iloc[:, i]))
    out.columns = [neutralize_csv_cell(c) for c in out.columns]
    if not isinstance(out.index, pd.MultiIndex):
        out.index = _neutralize_values(out.index)
    return out


def grid_frame(frame: pd.DataFrame, column_config: Mapping[str, Any] | None = None,
               column_order: Sequence[str] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """What a table widget may receive: only the columns it shows, text cells neutralized.

    A column hidden with `column_config={col: None}` or left out of `column_order` is still sent
    to the browser, where the table menu can show it again and its "Download as CSV" exports it:
    such columns are dropped here instead. Returns the frame and the column config without the
    hidden entries.
    """
    config = dict(column_config or {})
    hidden = {name for name, cfg in config.items() if cfg is None}
    keep = [c for c in frame.columns if c not in hidden]
    if column_order is not None:
        keep = [c for c in column_order if c in set(keep)]
    dropped = set(frame.columns) - set(keep)
    shown = frame.loc[:, keep]
    return neutralize_frame(shown), {k: v for k, v in config.items() if v is not None and k not in dropped}
