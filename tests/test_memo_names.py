"""Renewal memo file names (issue 12, "no way in through data"): tool ids and names come from
imported files, so a memo's file name must be a plain safe name, one per tool due, and the CLI's
`--memos DIR` writer must never write outside DIR."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader

from edtech.cli.report import write_memos
from edtech.report import memo
from edtech.roi import engine as roi
from edtech.sample.generate import generate_district
from edtech.services import report as report_service

MIN_N = 10
PLAIN = re.compile(r"renewal-memo-[a-z0-9]+(-[a-z0-9]+)*\.pdf")

# (tool_id, tool_name): ids that are paths, names that slug alike, names with no ASCII letter at all
HOSTILE = [
    ("x/../../../evil", "数学"),            # name slugs to nothing: today the raw id became the file name
    ("..", ""),
    ("/etc/passwd", "🙂🙂"),
    ("a\\b", "a\\b"),
    ("T05", "Math Lab"),
    ("T06", "math-lab"),
    ("T07", "MATH  LAB!!"),
    (".hidden", "..."),
    ("T09", "Café Résumé"),
    ("T10", "Long " * 80),
]


def _rename_tools(district, mapping: dict[str, tuple[str, str]]):
    """The district with every tool id (in every table) and name replaced."""
    ids = {old: new for old, (new, _) in mapping.items()}
    for name in ("tools", "licenses", "usage", "usage_aggregate", "pd_sessions", "funding"):
        frame = getattr(district, name)
        if "tool_id" in frame.columns:
            frame = frame.copy()
            frame["tool_id"] = frame["tool_id"].map(lambda v: ids.get(v, v) if isinstance(v, str) else v)
            setattr(district, name, frame)
    names = {new: name for new, name in mapping.values()}
    district.tools["tool_name"] = district.tools["tool_id"].map(names).astype("object")
    return district


@pytest.fixture(scope="module")
def hostile():
    """A small sample district whose every tool is due for renewal, renamed with hostile ids and names."""
    district = generate_district(n_students=600, seed=7).district
    due_ids = memo.due_for_renewal(roi.score_tools(district))["tool_id"].tolist()
    assert len(due_ids) >= len(HOSTILE), "the sample should have every tool due (it has 10)"
    district = _rename_tools(district, dict(zip(sorted(due_ids), HOSTILE, strict=False)))
    board = roi.score_tools(district)
    return district, board


@pytest.fixture(scope="module")
def memo_files(hostile) -> dict[str, bytes]:
    district, board = hostile
    with pytest.MonkeyPatch.context() as mp:
        # names are the point here, not charts: skip the browser (memo_pdf lays out without the trend image)
        mp.setattr(report_service.render, "render_many", lambda figures, **kw: [None] * len(figures))
        return report_service.renewal_memos(district, board, min_n=MIN_N)


def test_one_plain_memo_per_tool_due(hostile, memo_files):
    _, board = hostile
    due = memo.due_for_renewal(board)
    assert len(due) == len(HOSTILE)
    assert len(memo_files) == len(due), sorted(memo_files)
    for name in memo_files:
        assert PLAIN.fullmatch(name), name
        assert "/" not in name and "\\" not in name and ".." not in name and not name.startswith(".")
        assert len(name) <= len("renewal-memo-.pdf") + memo.SLUG_MAX_CHARS + 3
    # each memo is the memo of its own tool, in the scoreboard's order
    for (name, content), (_, row) in zip(memo_files.items(), due.iterrows(), strict=True):
        text = PdfReader(io.BytesIO(content)).pages[0].extract_text()
        assert row["recommendation"] in text, name


def test_names_that_slug_alike_are_numbered_in_a_stable_order(hostile, memo_files):
    names = set(memo_files)
    assert {"renewal-memo-math-lab.pdf", "renewal-memo-math-lab-2.pdf", "renewal-memo-math-lab-3.pdf"} <= names
    assert "renewal-memo-cafe-resume.pdf" in names and "renewal-memo-a-b.pdf" in names
    # the numbering follows the tool ids, not the order the memos come in
    district, board = hostile
    memos = memo.build_memos(district, board, min_n=MIN_N)
    by_id = dict(zip([m.tool_id for m in memos], memo.memo_file_names(memos), strict=True))
    shuffled = list(reversed(memos))
    assert dict(zip([m.tool_id for m in shuffled], memo.memo_file_names(shuffled), strict=True)) == by_id
    assert by_id["T05"] == "renewal-memo-math-lab.pdf" and by_id["T07"] == "renewal-memo-math-lab-3.pdf"


def test_a_number_never_takes_another_tools_own_name():
    def fake(tool_id: str, name: str) -> memo.Memo:
        return memo.Memo(tool_id=tool_id, tool_name=name, vendor="", contract_end=None, days_to_renewal=None,
                         action="", reason="", dollar_impact="", facts=[], schools=pd.DataFrame(),
                         trend_figure=None, as_of=pd.Timestamp("2026-01-01"))  # type: ignore[arg-type]

    memos = [fake("1", "x"), fake("2", "X"), fake("3", "x-2"), fake("4", ""), fake("5", "../..")]
    names = memo.memo_file_names(memos)
    assert len(set(names)) == len(names)
    assert names[2] == "renewal-memo-x-2.pdf" and names[1] == "renewal-memo-x-3.pdf"
    assert names[3] == "renewal-memo-4.pdf" and names[4] == "renewal-memo-5.pdf"  # the id's slug
    assert memo.memo_file_names([fake("..", "数学")]) == ["renewal-memo-tool.pdf"]


def test_zip_entries_are_plain_names(memo_files):
    content = report_service.memos_zip(memo_files)
    with zipfile.ZipFile(io.BytesIO(content)) as zf:
        entries = zf.namelist()
    assert len(entries) == len(memo_files)
    assert all(PLAIN.fullmatch(e) for e in entries), entries
    with pytest.raises(ValueError, match="plain memo file names"):
        report_service.memos_zip({"renewal-memo-../../evil.pdf": b"%PDF"})


def _all_files(root: Path) -> set[Path]:
    return {Path(d) / f for d, _, files in os.walk(root) for f in files}


def test_cli_writer_writes_inside_the_folder_only(tmp_path: Path, memo_files):
    folder = tmp_path / "out" / "memos"
    written = write_memos(folder, memo_files)
    assert len(written) == len(memo_files)
    assert _all_files(tmp_path) == {folder.resolve() / name for name in memo_files}


@pytest.mark.parametrize("name", ["../evil.pdf", "renewal-memo-../../evil.pdf", "/tmp/evil.pdf", "a\\..\\b.pdf",
                                  ".renewal-memo-x.pdf", "sub/renewal-memo-x.pdf", ""])
def test_cli_writer_refuses_names_outside_the_folder(tmp_path: Path, name: str):
    folder = tmp_path / "memos"
    with pytest.raises(ValueError, match="refusing"):
        write_memos(folder, {"renewal-memo-ok.pdf": b"%PDF", name: b"%PDF"})
    assert _all_files(tmp_path) == set()  # refused before anything was written


def test_cli_writer_refuses_a_symlink_that_leads_outside(tmp_path: Path):
    folder = tmp_path / "memos"
    folder.mkdir()
    outside = tmp_path / "outside.pdf"
    (folder / "renewal-memo-x.pdf").symlink_to(outside)
    with pytest.raises(ValueError, match="refusing"):
        write_memos(folder, {"renewal-memo-x.pdf": b"%PDF"})
    assert not outside.exists()
