"""The README documents what a newcomer needs (in the spirit of Datasette's doc tests)."""

from __future__ import annotations

import re

from edtech.cli import parser as cli
from edtech.core import config
from edtech.ingest import contract as ct
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def test_every_command_is_documented():
    missing = [c for c in cli.COMMANDS if not re.search(rf"python -m edtech (--db \S+ )?{c}\b", README)]
    assert not missing, f"README does not show: {missing}"


def test_the_two_commands_and_the_pages_folder_are_explained():
    assert "make run" in README and "make test" in README
    assert "app_pages/" in README and "pages/" in README


def test_every_setting_is_documented():
    for env in ("EDTECH_DATABASE_URL", "EDTECH_UPLOAD_LIMIT_MB", "EDTECH_SUPPRESS_MIN"):
        assert env in README
    assert config.UPLOAD_LIMIT_MB == 200 or "EDTECH_UPLOAD_LIMIT_MB" in README


def test_every_contract_table_is_named():
    missing = [k for k in ct.KINDS if k not in README]
    assert not missing, missing


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_architecture_doc_names_every_package():
    """docs/architecture.md matches the tree: every edtech sub-package and ui module is described."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    packages = [p.name for p in (ROOT / "edtech").iterdir() if (p / "__init__.py").exists()]
    missing = [p for p in packages if f"{p}/" not in doc]
    missing += [p.name for p in (ROOT / "ui").glob("*.py") if p.stem != "__init__" and p.name not in doc]
    assert not missing, f"docs/architecture.md does not describe: {missing}"


def test_readme_shows_the_generated_scenario_schema():
    """The schema in the README is the one `scenario schema` prints today (regenerate it when this fails)."""
    import json

    from edtech.budget.projection import scenario_json_schema

    shown = README.split("<!-- scenario-schema:start -->", 1)[1].split("<!-- scenario-schema:end -->", 1)[0]
    shown = shown.strip().removeprefix("```json").removesuffix("```")
    assert json.loads(shown) == scenario_json_schema()
