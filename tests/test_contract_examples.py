"""The shared contract examples (../shared/data/contract-examples) as tests.

valid/: loaded in name order into one empty database, each accepted, rows and stored values as
expected.json says. invalid/: each, after the valid set, rejected as a whole with the expected
line and column, nothing written, exit code 3 through the CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from edtech.cli.parser import main as cli_main
from edtech.ingest import contract as ct
from edtech.store import data
from tests.conftest import ROOT

# Issue 13: a row with more values than the header is an error naming its line (never joined into the
# last column, which stored "Smith, John Elementary" half in the wrong column). The shared example
# 08_schools_formula.csv writes its formula unquoted, `0004,=HYPERLINK("http://x","click")`: its comma
# splits the row into 3 values under a 2-column header (as a spreadsheet opens it), so it is checked as
# rejected on that line; its promise (a formula-like name stays inert text) is checked on the same name
# written as CSV quotes it (test_formula_like_name_is_stored_as_text). The example should quote it.
SURPLUS_ROW_LINE = {"08_schools_formula.csv": 2}


@pytest.fixture(scope="module")
def examples(shared_dir: Path) -> tuple[Path, dict]:
    base = shared_dir / "data" / "contract-examples"
    if not (base / "expected.json").exists():
        pytest.skip(f"{base}/expected.json is absent")
    return base, json.loads((base / "expected.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def loaded(examples, tmp_path_factory: pytest.TempPathFactory):
    """The valid set imported in name order into one empty database: (db path, reports by file)."""
    base, expected = examples
    path = tmp_path_factory.mktemp("contract") / "valid.db"
    engine = data.make_engine(f"sqlite:///{path}")
    data.init_db(engine)
    reports = {name: data.import_file(engine, expected["valid"][name]["kind"], base / "valid" / name)
               for name in sorted(expected["valid"])}
    engine.dispose()
    return path, reports


def _key_of(kind: str, frame: pd.DataFrame) -> pd.Series:
    if kind == "usage":
        return (frame["student_id"] + "|" + frame["tool_id"] + "|"
                + frame["week_start"].dt.strftime("%Y-%m-%d"))
    return frame[ct.TABLES[kind].key[0]].astype(str)


def _fresh_copy(loaded, tmp_path: Path) -> str:
    import shutil

    copy = tmp_path / "copy.db"
    shutil.copy(loaded[0], copy)
    return f"sqlite:///{copy}"


def valid_names() -> list[str]:
    exp = ROOT.parent / "shared" / "data" / "contract-examples" / "expected.json"
    return sorted(json.loads(exp.read_text())["valid"]) if exp.exists() else []


def invalid_names() -> list[str]:
    exp = ROOT.parent / "shared" / "data" / "contract-examples" / "expected.json"
    return sorted(json.loads(exp.read_text())["invalid"]) if exp.exists() else []


@pytest.mark.parametrize("name", valid_names())
def test_valid_file_accepted_with_expected_rows(name: str, examples, loaded) -> None:
    _, expected = examples
    spec = expected["valid"][name]
    report = loaded[1][name]
    if name in SURPLUS_ROW_LINE:
        assert not report.ok and report.rows_stored == 0
        assert [(i.line, i.reason.startswith("has more values than the header")) for i in report.issues.examples] == [
            (SURPLUS_ROW_LINE[name], True)]
        return
    assert report.ok, report.error_lines()
    assert report.kind == spec["kind"]
    if spec["kind"] == "usage":
        assert report.rows_read == spec["rows_in"]
        assert report.rows_stored == spec["weekly_rows"]
    else:
        assert report.rows_read == spec["rows"]
        assert report.rows_stored == spec["rows"]


@pytest.mark.parametrize("name", valid_names())
def test_valid_file_stores_expected_values(name: str, examples, loaded) -> None:
    _, expected = examples
    spec = expected["valid"][name]
    checks = spec.get("checks", {})
    if not checks:
        pytest.skip(f"{name} has no value checks in expected.json")
    engine = data.make_engine(f"sqlite:///{loaded[0]}")
    frame = data.read_table(engine, spec["kind"])
    engine.dispose()
    frame = frame.set_index(_key_of(spec["kind"], frame))
    for target, value in checks.items():
        key, column = target.rsplit(".", 1)
        got = frame.loc[key, column]
        if isinstance(value, bool):
            assert not isinstance(got, str) and not pd.isna(got), (target, got)   # typed, not the text "Y"
            assert bool(got) is value, target
        elif isinstance(value, float):
            assert got == pytest.approx(value), target
        elif isinstance(value, int):
            assert not isinstance(got, str) and got == value, (target, got)
        else:
            assert got == value, (target, got)


def test_valid_set_table_counts(examples, loaded) -> None:
    _, expected = examples
    engine = data.make_engine(f"sqlite:///{loaded[0]}")
    counts = data.table_counts(engine)
    engine.dispose()
    want: dict[str, int] = {}
    for name, spec in expected["valid"].items():
        if name in SURPLUS_ROW_LINE:
            continue
        want[spec["kind"]] = want.get(spec["kind"], 0) + spec.get("weekly_rows", spec.get("rows", 0))
    for kind, n in want.items():
        assert counts[kind] == n, kind


def test_notes_of_the_valid_set(loaded) -> None:
    """The specific promises in the notes: blanks unknown, district-wide license, decoded text, inert formula."""
    engine = data.make_engine(f"sqlite:///{loaded[0]}")
    tools = data.read_table(engine, "tools").set_index("tool_id")
    assert pd.isna(tools.loc["102", "recommended_minutes_per_week"])        # blank dosage is unknown, not 0
    assert tools.loc["101", "recommended_minutes_per_week"] == 60.0
    licenses = data.read_table(engine, "licenses").set_index("tool_id")
    assert licenses.loc["101", "school_id"] is None                          # blank school = district-wide
    assert licenses.loc["101", "start_date"] == pd.Timestamp("2025-07-01")   # US date
    assert licenses.loc["102", "start_date"] == pd.Timestamp("2025-08-15")   # ISO date
    usage = data.read_table(engine, "usage").set_index(["student_id", "tool_id", "week_start"])
    zero = usage.loc[("000124", "102", pd.Timestamp("2025-09-08"))]
    assert zero["minutes"] == 0 and zero["sessions"] == 0                    # a row, not a session
    assert set(usage.index.get_level_values("week_start").day_of_week) == {0}   # Mondays
    assessments = data.read_table(engine, "assessments")
    assert "Évaluation Français" in set(assessments["assessment"])          # Windows-1252 decoded
    schools = data.read_table(engine, "schools").set_index("school_id")
    assert schools.loc["0001", "frl_pct"] == pytest.approx(0.62)            # percent 0-100 -> share
    students = data.read_table(engine, "students").set_index("student_id")
    assert list(students.index) == sorted(["000123", "000124", "000125"])     # IDs keep their zeros
    assert students.loc["000125", "grade_level"] == "7"
    engine.dispose()


def test_formula_like_name_is_stored_as_text(tmp_path: Path) -> None:
    """08_schools_formula.csv's promise, with the value quoted as CSV writes a value holding commas."""
    engine = data.make_engine(f"sqlite:///{tmp_path / 'formula.db'}")
    report = data.import_bytes(engine, "schools", "schools.csv",
                               b'school_id,school_name\n0004,"=HYPERLINK(""http://x"",""click"")"\n')
    assert report.ok, report.error_lines()
    schools = data.read_table(engine, "schools").set_index("school_id")
    assert schools.loc["0004", "school_name"] == '=HYPERLINK("http://x","click")'   # stored as text
    engine.dispose()


@pytest.mark.parametrize("name", invalid_names())
def test_invalid_file_rejected_with_line_and_column(name: str, examples, loaded, tmp_path: Path) -> None:
    base, expected = examples
    spec = expected["invalid"][name]
    url = _fresh_copy(loaded, tmp_path)
    engine = data.make_engine(url)
    before = data.table_counts(engine)
    report = data.import_file(engine, spec["kind"], base / "invalid" / name)
    assert not report.ok
    where = [(i.line, i.column) for i in report.issues.examples]
    if spec["line"] is None:
        assert where == [(None, None)]
        assert "not a text table" in report.error_lines()[0]
    else:
        assert (spec["line"], spec["column"]) in where, report.error_lines()
        text = "\n".join(report.error_lines())
        assert f"{name} line {spec['line']}, column {spec['column']}" in text
        assert " — " in text  # every message says how to fix it
    assert data.table_counts(engine) == before
    engine.dispose()


@pytest.mark.parametrize("name", invalid_names())
def test_invalid_file_exit_code_3_through_cli(name: str, examples, loaded, tmp_path: Path,
                                              capsys: pytest.CaptureFixture) -> None:
    base, expected = examples
    spec = expected["invalid"][name]
    url = _fresh_copy(loaded, tmp_path)
    engine = data.make_engine(url)
    before = data.table_counts(engine)
    code = cli_main(["--db", url, "import", spec["kind"], str(base / "invalid" / name)])
    assert code == 3
    err = capsys.readouterr().err
    if spec["line"] is not None:
        assert f"line {spec['line']}, column {spec['column']}" in err
    assert data.table_counts(engine) == before
    engine.dispose()


def test_python_dash_m_entry_point(examples, loaded, tmp_path: Path) -> None:
    """One real `python -m edtech` process (the others call cli.main in-process: same code, no start-up cost)."""
    base, expected = examples
    url = _fresh_copy(loaded, tmp_path)
    bad = subprocess.run([sys.executable, "-m", "edtech", "--db", url, "import", "usage",
                          str(base / "invalid" / "negative_minutes.csv")],
                         cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert bad.returncode == 3, bad.stderr
    assert "line 3, column minutes" in bad.stderr


def test_reimporting_a_valid_file_through_cli_changes_nothing(examples, loaded, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture) -> None:
    base, expected = examples
    url = _fresh_copy(loaded, tmp_path)
    engine = data.make_engine(url)
    before = data.read_table(engine, "usage")
    assert cli_main(["--db", url, "import", "usage", str(base / "valid" / "05_usage.csv")]) == 0
    assert "0 new" in capsys.readouterr().out
    pd.testing.assert_frame_equal(data.read_table(engine, "usage"), before)
    engine.dispose()


def test_whole_valid_folder_through_cli_auto(examples, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`import auto FOLDER` recognises each file's table from its headers and loads them in dependency order."""
    import shutil

    base, expected = examples
    folder = tmp_path / "valid"
    shutil.copytree(base / "valid", folder)
    for name in SURPLUS_ROW_LINE:
        (folder / name).unlink()
    url = f"sqlite:///{tmp_path / 'auto.db'}"
    code = cli_main(["--db", url, "import", "auto", str(folder)])
    out = capsys.readouterr()
    assert code == 0, out.err
    engine = data.make_engine(url)
    counts = data.table_counts(engine)
    engine.dispose()
    assert counts["schools"] == 2 and counts["usage"] == 3 and counts["indicators"] == 2
