"""Interventions engine (issue 16; methods.md v2 section 6): the sample's planted truths recovered, the 30-day served
rule at its edges, progress slopes and the on-track rule on hand-made frames, the regression discontinuity on
synthetic sharp and fuzzy designs, and the CLI's JSON keys (data contract v2).

`pytest -s tests/test_interventions_engine.py` prints planted vs recovered."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from edtech.evidence import effects as ef
from edtech.interventions import coverage as cov
from edtech.interventions import progress, rdd

D = pd.Timestamp


@pytest.fixture(scope="module")
def sample():
    from edtech.sample.generate import generate_district
    from edtech.services.interventions import compute_district_part

    s = generate_district(6000, seed=2025)
    return s, compute_district_part(s.district)


# ---------------------------------------------------------------- the sample's planted truths

def test_every_planted_intervention_effect_inside_its_95_ci(sample):
    s, part = sample
    rows = part.per_intervention.set_index("intervention")
    lines = []
    for name, truth in s.truths["interventions"]["interventions"].items():
        r = rows.loc[name]
        assert r["assessment"] == truth["assessment"]
        assert r["coef_ci_low_points"] <= truth["points"] <= r["coef_ci_high_points"], name
        truth_sd = truth["points"] * r["hedges_omega"] / r["sd_within"]
        assert r["effect_ci_low"] <= truth_sd <= r["effect_ci_high"], name
        assert r["n_treated"] == truth["n_treated"] and r["served"] == truth["n_served"]
        lines.append(f"{name}: planted {truth_sd:+.3f} SD, recovered {r['effect_size']:+.3f} "
                     f"[{r['effect_ci_low']:+.3f}, {r['effect_ci_high']:+.3f}] ({r['effect_method']}, "
                     f"{r['evidence_code']}), cost/student {r['cost_per_student']:.0f}")
    print("\n" + "\n".join(lines))


def test_labels_follow_what_was_planted(sample):
    s, part = sample
    rows = part.per_intervention.set_index("intervention")
    for name, truth in s.truths["interventions"]["interventions"].items():
        code = rows.loc[name, "evidence_code"]
        if truth["planted_sd"] == 0:
            assert code not in ef.POSITIVE_CODES, name
        else:
            assert code in ef.POSITIVE_CODES, name
        effect = rows.loc[name, "effect_size"]
        if effect > 0:     # the section-3 ratio, as for tools: only for a positive estimate
            assert rows.loc[name, "cost_per_0_1_sd"] == pytest.approx(rows.loc[name, "cost_per_student"] / effect * 0.1)
        else:
            assert math.isnan(rows.loc[name, "cost_per_0_1_sd"])
        probs = rows.loc[name, ["p_above", "p_within", "p_below"]].astype(float)
        assert probs.sum() == pytest.approx(1.0)


def test_planted_rdd_effect_inside_its_ci(sample):
    s, part = sample
    truth = s.truths["interventions"]["rdd"]
    r = part.rdd
    assert r is not None and part.rdd_outcome == truth["outcome"]
    planted = truth["effect_points"] / r.sd_outcome
    assert r.ci_low <= planted <= r.ci_high
    assert r.n_below >= rdd.MIN_SIDE and r.n_above >= rdd.MIN_SIDE and r.bandwidth > 0
    assert r.first_stage == pytest.approx(truth["first_stage_jump_near_cutoff"], abs=0.15)
    print(f"\nRDD planted {planted:+.3f} SD, estimated {r.effect_size:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}], "
          f"h = {r.bandwidth:.3f}, n = {r.n}, first stage {r.first_stage:.2f}")
    t = part.targeting
    assert t is not None and t.capacity == s.truths["interventions"]["n_flagged"]
    assert t.auc_risk > t.auc_school and t.captured_risk > t.captured_school


def test_sample_coverage_and_progress_match_the_truths(sample):
    s, part = sample
    truths = s.truths["interventions"]
    counts = cov.coverage_counts(part.served)
    assert counts["flagged"] == truths["n_flagged"]
    assert counts["served_30d"] == truths["flagged_served_30d"]
    summary = part.progress_summary.set_index("intervention")
    for name, truth in truths["interventions"].items():
        r = summary.loc[name]
        assert r["median_slope_change"] == pytest.approx(truth["slope_change_per_week"], abs=0.15), name
        assert r["share_on_track"] == pytest.approx(truth["share_on_track_true"], abs=0.06), name
    funnel = cov.funnel_table(part.served, s.district.students, part.progress_students)
    district = funnel[funnel["dimension"] == "district"].iloc[0]
    assert district["flagged"] >= district["served_30d"] >= district["on_track"]
    assert district["served_30d"] >= district["met_goal"] > 0
    schools = funnel[funnel["dimension"] == "school"]
    assert schools["flagged"].sum() == district["flagged"]
    assert {"school", "tier", "frl", "ell", "iep", "race_ethnicity"} <= set(funnel["dimension"])


# ---------------------------------------------------------------- the 30-day rule at its edges

def _flags(ids, date="2025-10-06"):
    return pd.DataFrame({"student_id": ids, "flag_date": D(date), "source": "ews", "risk": 0.5, "cutoff": 0.3,
                         "flagged": True})


def test_served_within_30_days_edges():
    flag = D("2025-10-06")
    rows = pd.DataFrame({
        "student_id": ["on_day_30", "on_day_31", "running", "ended_before", "same_day", "ended_on_flag", "none_x"],
        "intervention": "Tutoring",
        "start_date": [flag + pd.Timedelta(days=30), flag + pd.Timedelta(days=31), D("2025-09-01"), D("2025-09-01"),
                       flag, D("2025-09-01"), D("2026-01-01")],
        "end_date": [pd.NaT, pd.NaT, pd.NaT, flag - pd.Timedelta(days=1), pd.NaT, flag, pd.NaT],
        "tier": [2, 2, 3, 2, 2, 2, 2], "exit_reason": [None] * 7,
    })
    ids = ["on_day_30", "on_day_31", "running", "ended_before", "same_day", "ended_on_flag", "no_support"]
    served = cov.serving_rows(_flags(ids), rows).set_index("student_id")["served"]
    assert served.to_dict() == {"on_day_30": True, "on_day_31": False, "running": True, "ended_before": False,
                                "same_day": True, "ended_on_flag": True, "no_support": False}
    counts = cov.coverage_counts(cov.serving_rows(_flags(ids), rows))
    assert counts == {"flagged": 7, "served_30d": 4, "share_served_30d": 4 / 7}


def test_flag_run_choice_prefers_the_run_the_district_acted_on():
    old = _flags(["a", "b"], "2025-10-06")
    new = _flags(["a", "b"], "2026-01-31").assign(source="model v1")
    support = pd.DataFrame({"student_id": ["a"], "start_date": [D("2025-10-20")]})
    run = cov.select_flag_run(pd.concat([old, new]), interventions=support)
    assert (run.source, run.flag_date) == ("ews", D("2025-10-06"))
    assert cov.select_flag_run(pd.concat([old, new])).source == "model v1"       # nothing acted on: the newest
    assert cov.select_flag_run(pd.concat([old, new]), source="model v1", interventions=support).flag_date == D("2026-01-31")


# ---------------------------------------------------------------- progress slopes and the on-track rule

def _probes(student, start, weeks, before_slope, during_slope, level, goal, measure="ORF"):
    rows = []
    for w in weeks:
        slope = before_slope if w < 0 else during_slope
        rows.append({"student_id": student, "measure": measure, "date": start + pd.Timedelta(weeks=w),
                     "score": level + slope * w, "goal": goal})
    return rows


def test_progress_slopes_and_on_track_rule():
    start = D("2025-10-06")
    probes = pd.DataFrame(
        _probes("fast", start, [-3, -2, -1, 0, 2, 4, 6, 8], 0.5, 2.0, 40.0, 56.0)        # 40 + 2*10 = 60 >= 56
        + _probes("slow", start, [-3, -2, -1, 0, 2, 4, 6, 8], 0.5, 0.5, 40.0, 56.0)      # 40 + 0.5*10 = 45 < 56
        + _probes("ongoing", start, [-2, -1, 0, 2, 4], 1.0, 1.0, 10.0, 21.0)             # judged at week 12: 22
        + _probes("few", start, [-2, -1, 0, 2], 1.0, 1.0, 10.0, 21.0))
    rows = pd.DataFrame({"student_id": ["fast", "slow", "ongoing", "few"], "intervention": "Reading",
                         "start_date": start, "end_date": [start + pd.Timedelta(weeks=10)] * 2 + [pd.NaT, pd.NaT]})
    out = progress.student_progress(rows, probes).set_index("student_id")
    assert out.loc["fast", "slope_before"] == pytest.approx(0.5)
    assert out.loc["fast", "slope_during"] == pytest.approx(2.0)
    assert out.loc["fast", "slope_change"] == pytest.approx(1.5)
    assert bool(out.loc["fast", "on_track"]) and not bool(out.loc["slow", "on_track"])
    assert out.loc["ongoing", "target_date"] == start + pd.Timedelta(weeks=12)
    assert out.loc["ongoing", "projected"] == pytest.approx(22.0) and bool(out.loc["ongoing", "on_track"])
    assert pd.isna(out.loc["few", "on_track"]) and out.loc["few", "n_during"] == 2
    summary = progress.progress_summary(out.reset_index()).set_index("intervention")
    assert summary.loc["Reading", "n_on_track_known"] == 3 and summary.loc["Reading", "n_on_track"] == 2


# ---------------------------------------------------------------- the RD on synthetic designs

def _design(rng, n, effect, take_up_above, take_up_below):
    x = rng.uniform(-1, 1, n)
    pre = rng.normal(0, 1, n) + 0.3 * x
    p = np.where(x >= 0, take_up_above, take_up_below)
    d = (rng.random(n) < p).astype(float)
    y = 0.5 * x - 0.4 * x ** 2 + 0.6 * pre + effect * d + rng.normal(0, 0.6, n)
    return x, d, y, pre


@pytest.mark.parametrize("kind,above,below", [("sharp", 1.0, 0.0), ("fuzzy", 0.7, 0.1)])
def test_rdd_recovers_a_planted_effect(kind, above, below):
    x, d, y, pre = _design(np.random.default_rng(7), 4000, 0.3, above, below)
    res = rdd.fuzzy_rdd(x, d, y, pre)
    assert res is not None
    assert res.ci_low <= 0.3 <= res.ci_high, res
    assert res.first_stage == pytest.approx(above - below, abs=0.1)
    assert 0 < res.bandwidth < 2 and res.n == res.n_below + res.n_above
    no_cov = rdd.fuzzy_rdd(x, d, y)
    assert no_cov.se > res.se       # the pre-score covariate narrows the interval


def test_rdd_returns_none_without_a_jump_or_without_students():
    x, d, y, pre = _design(np.random.default_rng(8), 3000, 0.3, 0.3, 0.3)
    assert rdd.fuzzy_rdd(x, d, y, pre) is None
    x, d, y, pre = _design(np.random.default_rng(9), 40, 0.3, 1.0, 0.0)
    assert rdd.fuzzy_rdd(x, d, y, pre) is None


def test_ik_bandwidth_shrinks_with_curvature():
    rng = np.random.default_rng(3)
    x = rng.uniform(-1, 1, 5000)
    flat = rdd.ik_bandwidth(x, 0.2 * x + rng.normal(0, 1, x.size))
    curved = rdd.ik_bandwidth(x, 0.2 * x + 4 * np.where(x >= 0, x ** 2, -x ** 2) + rng.normal(0, 1, x.size))
    assert 0 < curved < flat


# ---------------------------------------------------------------- the service and the CLI on a database

@pytest.fixture(scope="module")
def small_db(tmp_path_factory):
    """A 600-student sample district's students, scores, flags, supports and probes in a fresh SQLite database."""
    from edtech.sample.generate import generate_district, to_contract_frames
    from edtech.store import data

    url = f"sqlite:///{tmp_path_factory.mktemp('iv') / 'iv.db'}"
    engine = data.make_engine(url)
    data.init_db(engine)
    frames = to_contract_frames(generate_district(n_students=600, seed=5).district)
    for kind in ("schools", "students", "tools", "assessments", "risk_flags", "interventions", "progress_monitoring"):
        report = data.import_frame(engine, kind, frames[kind], file_name=kind, user="test")
        assert report.ok, report.error_lines()
    flagged = frames["risk_flags"].loc[frames["risk_flags"]["flagged"] == "true", "student_id"]
    school = frames["students"].set_index("student_id")["school_id"].reindex(flagged).value_counts().index[0]
    yield url, engine, frames, school
    engine.dispose()


def test_scope_and_role_shape_what_the_service_returns(small_db):
    from edtech.core.access import Principal, Role
    from edtech.services.interventions import evaluate_for

    _, engine, frames, school = small_db
    director = evaluate_for(engine)
    coordinator = evaluate_for(engine, principal=Principal("c@x.org", Role.COORDINATOR, schools=frozenset({school})))
    board = evaluate_for(engine, principal=Principal("b@x.org", Role.BOARD))
    students = frames["students"].set_index("student_id")["school_id"]
    flags = frames["risk_flags"]
    flagged = flags[flags["flagged"] == "true"]
    assert director.coverage["flagged"] == len(flagged)
    assert coordinator.coverage["flagged"] == int((students.reindex(flagged["student_id"]) == school).sum()) > 0
    assert set(students.reindex(coordinator.served["student_id"])) == {school}
    # efficacy and the RD are district facts: the same for every principal
    pd.testing.assert_frame_equal(coordinator.per_intervention, director.per_intervention)
    assert board.coverage == director.coverage
    assert board.served.empty and board.progress.empty and not director.served.empty   # no student rows for the board
    district_row = coordinator.funnel[coordinator.funnel["dimension"] == "district"].iloc[0]
    assert district_row["flagged"] == coordinator.coverage["flagged"]


def test_cli_json_has_exactly_the_contract_keys(small_db, capsys):
    from edtech.cli.parser import main

    url, _, _, school = small_db
    assert main(["--db", url, "interventions", "evaluate", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"interventions", "coverage", "rdd"}
    assert set(out["coverage"]) == {"flagged", "served_30d", "share_served_30d"}
    assert out["coverage"]["flagged"] > 0
    assert out["interventions"] and all(
        set(r) == {"intervention", "served", "effect_size", "effect_ci_low", "effect_ci_high", "evidence_code",
                   "evidence_label", "cost_per_student"} for r in out["interventions"])
    assert all(r["evidence_code"] in ef.EVIDENCE_CODES.values() for r in out["interventions"])
    assert out["rdd"] is None or set(out["rdd"]) == {"effect_size", "ci_low", "ci_high", "bandwidth", "n"}
    # --outcome applies one assessment to every intervention
    assert main(["--db", url, "interventions", "evaluate", "--outcome", "MAP Reading", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["interventions"]) == len(out["interventions"])
    assert main(["--db", url, "interventions", "evaluate"]) == 0
    assert "served within 30 days" in capsys.readouterr().out
    # --as a coordinator: coverage of their school's flagged students only
    assert main(["--db", url, "user", "add", "coord@x.org", "--role", "coordinator", "--schools", school,
                 "--sso-only"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "--as", "coord@x.org", "interventions", "evaluate", "--format", "json"]) == 0
    scoped = json.loads(capsys.readouterr().out)
    assert 0 < scoped["coverage"]["flagged"] < out["coverage"]["flagged"]
    assert scoped["interventions"] == out["interventions"]
