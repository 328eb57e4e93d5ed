"""The data commands of `python -m edtech` (init, demo, import) and their exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from edtech.cli.parser import main as cli_main
from edtech.core import config
from edtech.store import data


def counts(url: str) -> dict[str, int]:
    engine = data.make_engine(url)
    try:
        return data.table_counts(engine)
    finally:
        engine.dispose()


def test_importing_the_sample_usage_twice_changes_no_counts(sample_db_url: str,
                                                            capsys: pytest.CaptureFixture) -> None:
    """Acceptance: `demo`, then `import usage data/samples/usage.csv` twice leaves row counts unchanged.

    The session fixture loaded the sample district exactly as `demo` does (load_sample_district)."""
    before = counts(sample_db_url)
    assert before["usage"] > 100_000
    usage_csv = str(config.SAMPLES_DIR / "usage.csv")
    for _ in range(2):
        assert cli_main(["--db", sample_db_url, "import", "usage", usage_csv]) == 0
        assert counts(sample_db_url) == before
    out = capsys.readouterr().out
    assert "(0 new," in out


def test_demo_loads_a_generated_district_and_is_repeatable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert cli_main(["--db", url, "demo", "--students", "200", "--seed", "3"]) == 0
    first = counts(url)
    assert first["students"] == 200 and first["schools"] > 0 and first["usage"] > 0 and first["licenses"] > 0
    assert cli_main(["--db", url, "demo", "--students", "200", "--seed", "3"]) == 0
    assert counts(url) == first
    assert "stored" in capsys.readouterr().out


def test_init_is_idempotent(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    url = f"sqlite:///{tmp_path / 'init.db'}"
    assert cli_main(["--db", url, "init"]) == 0
    assert cli_main(["--db", url, "init"]) == 0
    assert counts(url)["schools"] == 0
    assert "schema ready" in capsys.readouterr().out


def test_database_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'env.db'}"
    monkeypatch.setenv("EDTECH_DATABASE_URL", url)
    assert config.database_url() == url
    assert config.database_url("sqlite:///other.db") == "sqlite:///other.db"
    csv = tmp_path / "schools.csv"
    csv.write_text("school_id,school_name\n0001,North\n")
    assert cli_main(["import", "schools", str(csv)]) == 0
    assert counts(url)["schools"] == 1


def test_usage_errors_exit_2(tmp_path: Path, empty_db_url: str, capsys: pytest.CaptureFixture) -> None:
    assert cli_main(["--db", empty_db_url, "import", "usage", str(tmp_path / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err
    csv = tmp_path / "x.csv"
    csv.write_text("a,b\n1,2\n")
    assert cli_main(["--db", empty_db_url, "import", "nonsense", str(csv)]) == 2
    assert cli_main(["--db", empty_db_url]) == 2


def test_dry_run_through_cli_writes_nothing(tmp_path: Path, empty_db_url: str) -> None:
    csv = tmp_path / "schools.csv"
    csv.write_text("school_id,school_name\n0001,North\n")
    assert cli_main(["--db", empty_db_url, "import", "schools", str(csv), "--dry-run"]) == 0
    assert counts(empty_db_url)["schools"] == 0


def test_auto_kind_by_file_name_and_unknown_file(tmp_path: Path, empty_db_url: str,
                                                 capsys: pytest.CaptureFixture) -> None:
    schools = tmp_path / "district_schools.csv"
    schools.write_text("site_id,name\n0001,North\n")
    assert cli_main(["--db", empty_db_url, "import", "auto", str(schools)]) == 0
    assert counts(empty_db_url)["schools"] == 1
    odd = tmp_path / "mystery.csv"
    odd.write_text("colour,shape\nred,round\n")
    assert cli_main(["--db", empty_db_url, "import", "auto", str(odd)]) == 3
    assert "cannot tell which table" in capsys.readouterr().err
