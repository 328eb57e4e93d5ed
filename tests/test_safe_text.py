"""The one rule per surface for data values (edtech.core.safe_text): markdown, plotly text, CSV and grids.

`markdown_links` is a small model of what Streamlit's markdown (react-markdown + remark-gfm) turns into a
link or an image: inline links and images, `<…>` autolinks and raw HTML in the source, and GitHub's literal
autolinks, which remark-gfm finds in the text *after* backslash escapes are resolved
(mdast-util-gfm-autolink-literal). tests/test_hostile_names.py applies it to every page.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata

import numpy as np
import pandas as pd
import pytest

from edtech.core import safe_text
from edtech.core.charts import escape_figure, utilization_bar
from edtech.core.safe_text import (
    WORD_JOINER,
    defang_markdown,
    escape_chart_text,
    escape_code,
    escape_markdown,
    grid_frame,
    neutralize_csv_cell,
    neutralize_frame,
)

HOSTILE = [
    "[Click](https://evil.example)",
    "![pix](https://evil.example/p.png)",
    '<a href="https://evil.example">x</a>',
    "<img src=x onerror=alert(1)>",
    '=HYPERLINK("https://evil.example")',
    "+cmd|' /C calc'!A0",
    "@SUM(1)",
    "**bold**",
    "$x$",
    '<a href="javascript:alert(1)">js</a>',
    "www.evil.example",
    "renew@evil.example",
    "<https://evil.example>",
    ":red[alert] :material/home: # heading\n- item\n> quote",
    "`code` [x](https://evil.example)`",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# ------------------------------------------------------------------ a model of Streamlit's markdown links

_PUNCT = set(string.punctuation)
_URL = re.compile(r"(https?://|www(?=\.))([-.\w]+)([^ \t\r\n]*)", re.IGNORECASE | re.ASCII)
_EMAIL = re.compile(r"([-.\w+]+)@([-\w]+(?:\.[-\w]+)+)", re.ASCII)


def _chars(source: str) -> list[tuple[str, bool]]:
    """(character, literal) after backslash escapes; a code span becomes one literal space (nothing in it
    is markdown, and remark-gfm does not look for links in it)."""
    out: list[tuple[str, bool]] = []
    i = 0
    while i < len(source):
        ch = source[i]
        if ch == "\\" and i + 1 < len(source) and source[i + 1] in _PUNCT:
            out.append((source[i + 1], True))
            i += 2
            continue
        if ch == "`":
            run = len(source[i:]) - len(source[i:].lstrip("`"))
            end = source.find("`" * run, i + run)
            if end != -1:
                out.append((" ", True))
                i = end + run
                continue
        out.append((ch, False))
        i += 1
    return out


def _previous_ok(text: str, index: int, email: bool = False) -> bool:
    """remark-gfm's check before a literal autolink: start, whitespace or punctuation (not '/' for email)."""
    if index == 0:
        return True
    before = text[index - 1]
    ok = before.isspace() or before in _PUNCT or unicodedata.category(before)[0] in "PS"
    return ok and not (email and before == "/")


def markdown_links(source: str) -> list[str]:
    """What Streamlit would render from `source` as a link, image, raw HTML tag, math, or emphasis of
    the word "bold" (a description of each; empty when there is none)."""
    found: list[str] = []
    chars = _chars(source)
    plain = "".join(c for c, _ in chars)
    for i in range(len(chars) - 1):
        (a, lit_a), (b, lit_b) = chars[i], chars[i + 1]
        if a == "]" and b == "(" and not lit_a and not lit_b:
            found.append("inline link or image: " + plain[max(0, i - 30):i + 40])
        if a == "<" and not lit_a and (b.isalpha() or b in "/!?"):
            found.append("autolink or HTML: " + plain[i:i + 40])
        if a == "$" and not lit_a and b != " " and any(c == "$" and not lit for c, lit in chars[i + 2:]):
            found.append("math: " + plain[i:i + 20])
        if a == "*" and b == "*" and not lit_a and not lit_b and plain[i + 2:i + 6] == "bold":
            found.append("emphasis: " + plain[i:i + 12])
    for match in _URL.finditer(plain):
        domain = ("www" if match.group(1).lower() == "www" else "") + match.group(2)
        if _previous_ok(plain, match.start()) and len(domain.strip(".").split(".")) >= 2:
            found.append("literal autolink: " + match.group(0))
    for match in _EMAIL.finditer(plain):
        if _previous_ok(plain, match.start(), email=True) and not re.search(r"[-\d_]$", match.group(2)):
            found.append("email autolink: " + match.group(0))
    return found


def test_the_model_sees_the_links_of_raw_names() -> None:
    """The checker itself: every hostile name shown raw is caught (else the page test could not fail)."""
    caught = {name: markdown_links(f"Tool: **{name}** is due.") for name in HOSTILE}
    assert all(caught[name] for name in HOSTILE if "evil" in name or name in ("**bold**", "$x$")
               or name.startswith("<")), caught
    # and a backslash before every punctuation character is not enough: remark-gfm finds literal
    # autolinks in the text after escapes are resolved
    backslashed = "".join("\\" + c if c in _PUNCT else c for c in "[Click](https://evil.example)")
    assert [h for h in markdown_links(backslashed) if h.startswith("literal autolink")]


# ------------------------------------------------------------------ markdown


@pytest.mark.parametrize("name", HOSTILE)
def test_escaped_names_render_no_link_image_html_math_or_emphasis(name: str) -> None:
    escaped = escape_markdown(name)
    for context in ("{}", "**{}**", "- {}", "Tool {} is due: renew?", "### {}"):
        assert markdown_links(context.format(escaped)) == [], (name, context, escaped)


@pytest.mark.parametrize("name", HOSTILE)
def test_escaped_names_read_as_the_name(name: str) -> None:
    """People read the name itself: escapes resolved and the invisible joiners removed, it is the name
    (line breaks become spaces: a data value is one line)."""
    shown = "".join(c for c, _ in _chars(escape_markdown(name))).replace(WORD_JOINER, "")
    assert shown == re.sub(r"[\r\n\t]+", " ", name)


def test_escape_markdown_of_missing_values_and_numbers() -> None:
    assert escape_markdown(None) == ""
    assert escape_markdown(pd.NA) == ""
    assert escape_markdown(float("nan")) == ""
    assert escape_markdown(12.5) == "12.5"
    assert escape_markdown("Alder Creek Elementary") == "Alder Creek Elementary"


@pytest.mark.parametrize(("raw", "escaped"), [
    ("# Renew now", "\\# Renew now"), ("> quoted", "\\> quoted"), ("- item", "\\- item"), ("+ item", "\\+ item"),
    ("---", "\\---"), ("12. Cedar", "12\\. Cedar"), ("3) Birch", "3\\) Birch"),
    # not a block: left as typed
    ("-2+3", "-2+3"), ("12.5 hours", "12.5 hours"), ("Right-size all", "Right-size all"),
    ("esser: ends after FY2026", "esser: ends after FY2026"),
])
def test_a_value_cannot_start_a_heading_quote_list_or_rule(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped


@pytest.mark.parametrize(("raw", "escaped"), [
    ("student_id", "student_id"), ("_x_", "\\_x\\_"), ("a*b*c", "a\\*b\\*c"), ("~~gone~~", "\\~\\~gone\\~\\~"),
    ("R&D", "R\\&D"), ("a|b", "a\\|b"), ("{#id}", "\\{#id\\}"), ("x_", "x\\_"),
])
def test_emphasis_strike_entities_tables_escaped_intraword_underscore_kept(raw: str, escaped: str) -> None:
    assert escape_markdown(raw) == escaped


def test_defang_keeps_the_documents_markdown_and_disarms_its_values() -> None:
    card = ("# Model card for `gpa < 2`\n"
            "- Features ({n}): {features}.\n"
            "| | ROC AUC |\n|---|---|\n| **model** | 0.81 [0.80, 0.82] |\n"
            "- Flagged: race={group}: fpr").format(
        n=2, features=", ".join(f"`{c}`" for c in ["gpa", "x`[c](https://evil.example)"]), group=HOSTILE[1])
    safe = defang_markdown(card)
    assert markdown_links(safe) == []
    assert safe.startswith("# Model card for `gpa < 2`\n- Features (2): `gpa`, ")
    assert "| **model** | 0.81 \\[0.80, 0.82\\] |" in safe
    for name in HOSTILE:
        for doc in (f"- {name}", f"**{name}** and `{name}`", f"`a` {name} `b`", f"text\n{name}\n`x`"):
            assert markdown_links(defang_markdown(doc)) == [] or "bold" in name, (name, defang_markdown(doc))


def test_escape_code_is_one_code_span() -> None:
    assert escape_code("gpa") == "`gpa`"
    assert escape_code("a`b [x](https://evil.example)") == "`a'b [x](https://evil.example)`"
    assert markdown_links(escape_code("a`b [x](https://evil.example)")) == []
    assert escape_code("") == ""


# ------------------------------------------------------------------ plotly


@pytest.mark.parametrize("name", HOSTILE)
def test_chart_text_has_no_tag_and_no_javascript_scheme(name: str) -> None:
    text = escape_chart_text(name)
    assert "<" not in text and ">" not in text
    assert not re.search(r"(?i)javascript\s*:", text)


def test_chart_text_entities() -> None:
    assert escape_chart_text("R&D <b>") == "R&amp;D &lt;b&gt;"
    assert escape_chart_text(None) == ""


def _strings(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


def test_escape_figure_escapes_every_data_text_but_keeps_the_templates() -> None:
    tools = pd.DataFrame({"tool_name": HOSTILE[:4], "utilization": [0.2, 0.6, 1.2, np.nan],
                          "seats": [10, 20, 30, 40], "active_users": [2, 12, 36, 0]})
    fig = utilization_bar(tools)
    fig.update_layout(title=f"Scenario {HOSTILE[2]}")
    fig.add_annotation(text=HOSTILE[3], x=1, y=1)
    fig.add_scatter(x=[1, 2], y=[3, 4], name=HOSTILE[9], text=[HOSTILE[0], HOSTILE[2]],
                    customdata=np.array([[HOSTILE[2], 1]] * 2, dtype=object))
    raw = json.loads(fig.to_json())
    assert any("<a" in s for s in _strings(raw)), "the builder passes names as they are"
    safe = json.loads(escape_figure(fig).to_json())
    texts = [s for s in _strings(safe) if "template" not in s]
    assert not [s for s in texts if re.search(r"(?i)<a\b|<img|javascript\s*:", s)]
    # the builders' own hover templates keep their markup
    assert safe["data"][0]["hovertemplate"] == raw["data"][0]["hovertemplate"]
    assert "<br>" in safe["data"][0]["hovertemplate"]
    assert safe["layout"]["title"]["text"] == escape_chart_text(f"Scenario {HOSTILE[2]}")
    assert escape_chart_text(HOSTILE[0]) in _strings(safe["data"][0])
    # numbers stay numbers; the figure given is not changed
    assert fig.layout.title.text == f"Scenario {HOSTILE[2]}"
    assert list(escape_figure(fig).data[1].x) == [1, 2]


def test_escape_figure_keeps_a_figure_with_nothing_to_escape() -> None:
    tools = pd.DataFrame({"tool_name": ["Mathigo", "Readly"], "utilization": [0.2, 0.6], "seats": [10, 20],
                          "active_users": [2, 12]})
    fig = utilization_bar(tools)
    assert escape_figure(fig) is fig
    tools.loc[0, "tool_name"] = "R&D Math"
    escaped = escape_figure(utilization_bar(tools))
    assert list(escaped.data[0].y) == ["R&amp;D Math", "Readly"]


# ------------------------------------------------------------------ CSV and grids


@pytest.mark.parametrize("raw", ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tx", "\rx", "+1-A1", "-1)+cmd",
                                 '=HYPERLINK("https://evil.example")'])
def test_formula_like_text_is_neutralized(raw: str) -> None:
    assert neutralize_csv_cell(raw) == "'" + raw


@pytest.mark.parametrize("value", ["Mathigo", "", "'=already", 3, -4.5, None, "+0.12", "-0.05", "-$1,200", "+12%"])
def test_other_values_are_kept(value) -> None:
    assert neutralize_csv_cell(value) == value


def test_neutralize_frame_text_only_numbers_stay_numbers() -> None:
    df = pd.DataFrame({"name": ["=cmd", "ok", None], "delta": [-3, 2, 1], "mixed": ["<10", -5, "-x"],
                       "cat": pd.Categorical(["@a", "b", "@a"]), "when": pd.to_datetime(["2025-01-01"] * 3)},
                      index=pd.Index(["=i", "j", "k"]))
    out = neutralize_frame(df)
    assert out["name"].tolist()[:2] == ["'=cmd", "ok"] and pd.isna(out["name"].iloc[2])
    assert out["delta"].tolist() == [-3, 2, 1] and pd.api.types.is_integer_dtype(out["delta"])
    assert out["mixed"].tolist() == ["<10", -5, "'-x"]
    assert out["cat"].tolist() == ["'@a", "b", "'@a"]
    assert pd.api.types.is_datetime64_any_dtype(out["when"])
    assert out.index.tolist() == ["'=i", "j", "k"]
    assert df["name"].iloc[0] == "=cmd", "the frame given is not changed"


def test_neutralize_frame_column_names_and_repeated_columns() -> None:
    df = pd.DataFrame([["=a", "+b"]], columns=["x", "x"])
    out = neutralize_frame(df)
    assert out.iloc[0].tolist() == ["'=a", "'+b"]
    assert neutralize_frame(pd.DataFrame({"=sum": [1]})).columns.tolist() == ["'=sum"]


def test_grid_frame_drops_hidden_columns_server_side() -> None:
    df = pd.DataFrame({"tool": ["=x"], "student_id": ["001"], "score": [1.0], "secret": ["s"]})
    shown, config = grid_frame(df, {"student_id": None, "score": {"label": "Score"}, "_index": {"w": 1}},
                               column_order=["score", "tool", "secret", "student_id"])
    assert shown.columns.tolist() == ["score", "tool", "secret"]
    assert shown["tool"].iloc[0] == "'=x"
    assert config == {"score": {"label": "Score"}, "_index": {"w": 1}}
    shown, _ = grid_frame(df, column_order=["tool"])
    assert shown.columns.tolist() == ["tool"]
    shown, config = grid_frame(df)
    assert shown.columns.tolist() == df.columns.tolist() and config == {}


def test_privacy_module_uses_the_same_rule() -> None:
    from edtech.core import privacy

    assert privacy.neutralize_frame is safe_text.neutralize_frame
    assert privacy.neutralize_csv_cell is safe_text.neutralize_csv_cell
    assert privacy.FORMULA_PREFIXES == FORMULA_STARTS


def test_displayable_is_the_grid_path(monkeypatch) -> None:
    """The app's one grid helper: hidden columns dropped, text neutralized, mixed columns as text with a
    negative number kept as a number's text (not neutralized: it was a number)."""
    from ui import components

    df = pd.DataFrame({"Tool": ["=HYPERLINK(\"https://evil.example\")", "ok"], "Users": [-3, "<10"],
                       "student_id": ["1", "2"]}).astype({"Users": object})
    shown, config = components.displayable(df, {"student_id": None})
    assert shown.columns.tolist() == ["Tool", "Users"] and config == {}
    assert shown["Tool"].tolist() == ["'=HYPERLINK(\"https://evil.example\")", "ok"]
    assert shown["Users"].tolist() == ["-3", "<10"]
    sent = {}
    monkeypatch.setattr(components.st, "dataframe", lambda frame, **kw: sent.update(frame=frame, **kw))
    components.table(df, column_config={"student_id": None}, hide_index=True)
    assert sent["frame"].columns.tolist() == ["Tool", "Users"] and sent["hide_index"] is True
