"""AppTest: the Interventions page (issue 16) for every role with the right level of detail (student-level progress
chart only for roles that see students, counts under the threshold hidden for board and viewer), its empty state,
and the page's figures equal to `interventions evaluate --format json` for the director and a one-school
coordinator (the same evaluate_interventions behind both)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from edtech.core import config
from edtech.interventions import present
from edtech.store import data
from tests.apptest_utils import account_for, open_page
from tests.conftest import ROOT
from tests.presentation_checks import assert_presentable

PAGE = "app_pages/interventions.py"
MINE = "0201"
FUNNEL = "Served within 30 days"
EFFICACY = {"Intervention", "Served", "Effect (SD, 95% CI)", "Evidence", "Cost per student"}


def _grid(at, columns: set[str]) -> pd.DataFrame:
    grids = [d.value for d in at.dataframe if columns <= set(d.value.columns)]
    assert len(grids) == 1, [list(d.value.columns) for d in at.dataframe]
    return grids[0]


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _cli_json(url: str, as_email: str | None = None) -> dict:
    cmd = [sys.executable, "-m", "edtech", "--db", url, *(["--as", as_email] if as_email else []),
           "interventions", "evaluate", "--format", "json"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _assert_page_equals_json(at, figures: dict) -> None:
    """Coverage tiles, the efficacy table and the RD estimate of the page = the CLI's JSON."""
    tiles = _metrics(at)
    assert tiles["Flagged"] == f"{figures['coverage']['flagged']:,}"
    assert tiles[FUNNEL] == f"{figures['coverage']['served_30d']:,}"
    grid = _grid(at, EFFICACY).set_index("Intervention")
    assert set(grid.index) == {r["intervention"] for r in figures["interventions"]}
    for row in figures["interventions"]:
        shown = grid.loc[row["intervention"]]
        assert shown["Served"] == f"{row['served']:,}"
        assert shown["Evidence"] == row["evidence_label"]
        assert shown["Effect (SD, 95% CI)"] == present.effect_text(row["effect_size"], row["effect_ci_low"],
                                                                   row["effect_ci_high"])
        assert shown["Cost per student"] == present.money(row["cost_per_student"])
    if figures["rdd"] is None:
        assert "Effect near the cut-off" not in tiles
    else:
        assert tiles["Effect near the cut-off"] == f"{figures['rdd']['effect_size']:+.2f} SD"


def test_empty_state_points_to_the_data_page(sample_db_url):
    import datetime as dt

    from sqlmodel import Session

    from edtech.store.models import ImportLog

    engine = data.make_engine(sample_db_url)
    try:  # the sample without its intervention records (logged like an import, so the caches see the change)
        with engine.begin() as conn:
            for table in ("interventions", "risk_flags", "progress_monitoring"):
                conn.exec_driver_sql(f"DELETE FROM {table}")
        with Session(engine) as db:
            for kind in ("interventions", "risk_flags", "progress_monitoring"):
                db.add(ImportLog(imported_at=dt.datetime.now(dt.UTC), user="test", kind=kind, file_name="cleared",
                                 checksum="", status="imported"))
            db.commit()
    finally:
        engine.dispose()
    at = open_page(PAGE, role="Director")
    assert any("No interventions or risk flags loaded yet" in i.value for i in at.info)
    assert_presentable(at, "empty state")
    assert not at.dataframe and not at.get("plotly_chart")


def test_director_sees_everything_and_the_figures_equal_the_cli_json(sample_db_url):
    figures = _cli_json(sample_db_url)
    assert figures["interventions"] and figures["coverage"]["flagged"] > 0, "the sample has no intervention records"
    at = open_page(PAGE, role="Director")
    assert_presentable(at, "director")
    _assert_page_equals_json(at, figures)
    # the funnel by school: every school of the district, exact counts
    schools = _grid(at, {"School", "Flagged", FUNNEL})
    assert len(schools) > 1 and not schools.isin(["<10"]).any().any()
    # the student-level progress chart: probes, a trend during the support and the goal line
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    progress = [c for c in charts if any(t.get("name") == "Score" for t in c["data"])]
    assert len(progress) == 1
    names = [t.get("name", "") for t in progress[0]["data"]]
    assert any(n.startswith("Trend during") for n in names)
    shapes = progress[0]["layout"].get("shapes", [])
    assert any(s.get("type") == "line" and s.get("y0") == s.get("y1") for s in shapes), "no goal line"
    # the RD with its caveat, beside the school-only baseline
    assert any("near the cut-off only" in w.value for w in at.warning)
    assert _grid(at, {"Targeting", "AUC"})["Targeting"].tolist() == ["Risk score", "School alone"]


def test_coordinator_sees_their_school_and_the_figures_equal_the_cli_json(sample_db_url):
    email = account_for("coordinator", [MINE])
    figures = _cli_json(sample_db_url, email)
    at = open_page(PAGE, role="coordinator", schools=[MINE])
    assert_presentable(at, "coordinator")
    _assert_page_equals_json(at, figures)
    engine = data.make_engine(sample_db_url)
    try:
        names = data.read_table(engine, "schools").set_index("school_id")["school_name"]
        students = data.read_table(engine, "students")
    finally:
        engine.dispose()
    schools = _grid(at, {"School", "Flagged", FUNNEL})
    assert schools["School"].tolist() == [names[MINE]]
    # the progress picker offers their school's students only
    mine = set(students.loc[students["school_id"] == MINE, "student_id"].astype(str))
    options = at.selectbox(key="interventions_progress_pick").options
    assert options and {o.split(" · ")[0] for o in options} <= mine


@pytest.mark.parametrize("role", ["board", "viewer"])
def test_aggregate_roles_get_no_student_chart_and_suppressed_counts(sample_db_url, monkeypatch, role):
    monkeypatch.setattr(config, "SUPPRESS_MIN", 30)   # a threshold some school cells fall under
    at = open_page(PAGE, role=role)
    assert_presentable(at, role)
    assert not any(k == "interventions_progress_pick" for k in [s.key for s in at.selectbox])
    assert any("aggregates only" in i.value for i in at.info)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert not any(any(t.get("name") == "Score" for t in c["data"]) for c in charts), "a student chart was drawn"
    schools = _grid(at, {"School", "Flagged", FUNNEL})
    cells = schools.drop(columns="School")
    assert cells.isin(["<30"]).any().any(), "nothing suppressed at a threshold of 30"
    for column in ("Flagged", FUNNEL, "On track", "Met goal"):   # every count shown is at least the threshold
        shown = cells[column][cells[column] != "<30"].str.replace(",", "").astype(int)
        assert (shown >= 30).all(), (column, shown.tolist())
    # a share over a hidden count is hidden too
    hidden = cells["Met goal"] == "<30"
    assert (cells.loc[hidden, "Share met goal"] == "—").all()
    assert any("shown as <30" in c.value for c in at.caption)
