"""AppTest: the at-risk page (empty database, the Model quality tab: training behind a button, publishing for
the worklist; roles, export). The worklist itself: tests/test_at_risk_worklist.py."""

from __future__ import annotations

import json
from pathlib import Path

from streamlit.testing.v1 import AppTest

from edtech.store import data
from tests.apptest_utils import new_app, open_page

APP = str(Path(__file__).resolve().parents[1] / "app.py")
PAGE = "app_pages/at_risk.py"


def _open(role: str | None = None) -> AppTest:
    return open_page(PAGE, role)


def test_empty_database_shows_friendly_message(empty_db_url):
    at = _open()
    assert any("No early-warning data yet" in i.value for i in at.info)


def test_model_quality_tab_trains_checks_and_publishes_for_the_worklist(sample_db_url):
    at = _open()
    # no published version yet: the worklist tab says so; nothing is trained on open
    assert any("No published model yet" in i.value for i in at.info)
    assert at.selectbox(key="risk_target").value == "off_track_next_term"   # a picker of the known outcomes
    assert not at.get("plotly_chart")            # nothing trained before the button
    picker = at.multiselect(key="risk_audit")
    assert "grade_level" in picker.options and "frl" not in picker.options   # frl is audit-only already
    picker.set_value(["grade_level"]).run()
    at.button(key="risk_train").click()
    at.run(timeout=180)
    assert not at.exception, at.exception
    metrics = at.dataframe[0].value
    assert list(metrics[""]) == ["model", "ABC rule", "school-only model"]
    model, abc = metrics.iloc[0], metrics.iloc[1]

    def mean(cell: str) -> float:  # "61.0% [60.2%, 61.7%]": mean over the CV seeds, [min, max]
        return float(cell.split()[0].rstrip("%"))

    assert mean(model["Precision at k"]) > mean(abc["Precision at k"])
    assert "[" in model["ROC AUC"] and "[" in model["Accuracy"]
    # v2: the no-information rate beside accuracy, the verdict worded from the rule, no leakage on the sample
    assert model["No-information rate"].endswith("%")
    assert any("No-information rate" in c.value for c in at.caption)
    assert any(s.value.startswith("Recommended: better than the ABC rule") for s in at.success)
    assert not [w.value for w in at.warning if "predicts the target" in w.value or "treated as an ID" in w.value]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 3
    from edtech.core import rules

    threshold = rules.suppression_threshold()
    assert any(f"Groups under {threshold} students are shown as <{threshold}" in c.value for c in at.caption)
    fairness = at.dataframe[1].value
    assert {"frl", "race_ethnicity", "grade_level"} <= set(fairness["attribute"])   # the user's audit column too
    card = at.expander[-1].markdown[0].value
    assert "`grade_level`" in card.split("Audit-only columns")[1].split("\n")[0]
    assert "`grade_level`" not in card.split("- Features")[1].split("\n")[0]
    # the district-wide model is stored as a version, not used until published (issue 14)
    versions = data.list_model_versions(data.make_engine(sample_db_url))
    assert len(versions) == 1 and versions["target"].iloc[0] == "off_track_next_term"
    assert any("Stored as model version #" in c.value for c in at.caption)
    assert any("No published model yet" in i.value for i in at.info)
    at.button(key="risk_publish").click().run(timeout=180)
    assert not at.exception, at.exception
    worklist = [d.value for d in at.dataframe if {"band", "reason_1", "school_name"} <= set(d.value.columns)]
    assert len(worklist) == 1 and len(worklist[0]) > 0
    assert len(at.get("download_button")) == 1

    # The trained model is keyed on the tables training reads only (issue 10 item 4): saving weights, a
    # scenario, a dry-run import or a model version keeps it; storing indicators makes it stale.
    engine = data.make_engine(sample_db_url)
    data.save_setting(engine, "roi_weights", {"evidence": 0.5, "cost": 0.5})
    data.save_scenario(engine, "cache test", {"name": "cache test"})
    rows = data.read_table(engine, "indicators").head(3)
    text = rows.astype("string").fillna("")
    assert data.import_frame(engine, "indicators", text, file_name="check.csv", dry_run=True).ok
    data.save_model_version(engine, target="off_track_next_term", model_name="logistic", metrics={}, fingerprint="x",
                            card="", artifact=b"")
    at.run()
    assert not at.exception
    assert list(at.dataframe[-2].value[""])[0] == "model"          # shown without pressing the button again
    assert data.import_frame(engine, "indicators", text, file_name="real.csv").ok
    at.run()
    assert not at.exception
    assert not at.get("plotly_chart") and any("Training takes" in c.value for c in at.caption)
    # the worklist still comes from the published version (re-scored on the new data, never retrained)
    assert [d for d in at.dataframe if "band" in d.value.columns]


def test_board_member_cannot_open_student_list(sample_db_url):
    at = new_app(60, "Board member").run()
    # the page is not in the board member's navigation; student rows are never shown to them
    assert not at.exception
    assert not any("Students to support" in s.value for s in at.subheader)
    assert not [d for d in at.dataframe if "band" in d.value.columns]
