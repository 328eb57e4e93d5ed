"""The sample district generator: determinism, contract shape, and every planted truth measured from the data."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf

from edtech.core.district import FRAME_COLUMNS
from edtech.sample.generate import (
    CSV_TABLES,
    HOLIDAY_WEEKS,
    dosage_status,
    generate_district,
    oracle_auc,
    to_contract_frames,
    write_sample_csvs,
)

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "samples"


@pytest.fixture(scope="module")
def small():
    """A 2,000-student district (fast) for structural checks."""
    return generate_district(n_students=2000, seed=11)


@pytest.fixture(scope="module")
def full():
    """The committed configuration: 6,000 students, seed 2025."""
    return generate_district(n_students=6000, seed=2025)


def _grades(band: str) -> list[str]:
    lo, hi = band.split("-")
    return ["K" if g == 0 else str(g) for g in range(0 if lo == "K" else int(lo), int(hi) + 1)]


def _analysis_frame(sample, tool_id: str) -> pd.DataFrame:
    """methods.md section 2 groups, computed from the frames only: dosage met (1) vs no use (0), same grades."""
    d = sample.district
    tool = d.tools.set_index("tool_id").loc[tool_id]
    status = dosage_status(d.usage, d.tools)
    status = status[status["tool_id"] == tool_id]
    met = set(status.loc[status["dosage_met"], "student_id"])
    used = set(status["student_id"])
    scores = (d.assessments[d.assessments["subject"] == tool["subject"]]
              .pivot_table(index="student_id", columns="window", values="score").reset_index())
    df = scores.merge(d.students, on="student_id")
    df = df[df["grade_level"].isin(_grades(tool["grade_band"]))]
    df = df[df["student_id"].isin(met) | ~df["student_id"].isin(used)].copy()
    df["treated"] = df["student_id"].isin(met).astype(int)
    for flag in ("frl", "ell", "iep"):
        df[flag] = df[flag].astype(int)
    return df


def test_same_seed_same_district_and_other_seed_differs():
    a, b = generate_district(1500, seed=7), generate_district(1500, seed=7)
    for name in a.district.table_names():
        pd.testing.assert_frame_equal(getattr(a.district, name), getattr(b.district, name))
    assert a.truths == b.truths
    pd.testing.assert_frame_equal(a.risk_oracle, b.risk_oracle)
    c = generate_district(1500, seed=8)
    assert not c.district.usage["minutes"].equals(a.district.usage["minutes"])


def test_frames_conform_to_canonical_columns_and_dtypes(small):
    d = small.district
    for name, columns in FRAME_COLUMNS.items():
        frame = getattr(d, name)
        assert list(frame.columns[: len(columns)]) == list(columns), name
        for col, dtype in columns.items():
            assert str(frame[col].dtype) == dtype, (name, col, frame[col].dtype)
    assert "home_language" in d.students.columns  # an extra column is kept
    assert "off_track_next_term" in d.indicators.columns
    assert len(d.students) == 2000
    assert d.schools["enrollment"].sum() == 2000
    assert d.students["student_id"].is_unique
    assert set(d.usage["student_id"]) <= set(d.students["student_id"])
    assert set(d.usage["tool_id"]) <= set(d.tools["tool_id"])
    assert (d.schools["title_i"] == (d.schools["frl_pct"] >= 0.5)).all()
    assert d.schools["level"].value_counts().to_dict() == {"elementary": 6, "middle": 3, "high": 3}


def test_contract_frames_keep_leading_zero_ids_and_round_trip_through_csv(small, tmp_path):
    frames = to_contract_frames(small.district)
    assert set(frames) == set(CSV_TABLES.values())
    assert "date" in frames["usage"].columns and "week_start" not in frames["usage"].columns
    assert frames["schools"]["school_id"].str.match(r"^0\d{3}$").all()
    assert frames["students"]["student_id"].str.match(r"^\d{6}$").all()
    assert frames["students"]["student_id"].str.startswith("0").any()
    assert set(frames["students"]["frl"]) <= {"true", "false"}
    path = tmp_path / "students.csv"
    frames["students"].to_csv(path, index=False)
    back = pd.read_csv(path, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(back, frames["students"].astype(str), check_dtype=False)


def test_usage_weeks_are_mondays_without_holidays_and_rows_have_use(small):
    usage = small.district.usage
    assert (usage["week_start"].dt.day_of_week == 0).all()
    assert not usage["week_start"].isin(pd.DatetimeIndex(HOLIDAY_WEEKS)).any()
    assert usage["week_start"].min() == pd.Timestamp("2025-08-18")
    assert usage["week_start"].max() == pd.Timestamp("2026-06-01")
    assert (usage["minutes"] > 0).all() and (usage["minutes"] % 1 == 0).all()
    assert (usage["sessions"] >= 1).all()
    assert not usage.duplicated(["student_id", "tool_id", "week_start"]).any()
    # seasonality: the first week and the last weeks are quieter than October
    weekly = usage.groupby("week_start")["minutes"].sum()
    assert weekly[pd.Timestamp("2025-08-18")] < 0.7 * weekly[pd.Timestamp("2025-10-06")]
    assert weekly[pd.Timestamp("2026-06-01")] < 0.5 * weekly[pd.Timestamp("2025-10-06")]


def test_at_most_one_tool_per_subject_and_every_dosage_group_present(small):
    d = small.district
    subject = d.usage.merge(d.tools[["tool_id", "subject"]], on="tool_id")
    for subj in ("math", "ela"):
        per_student = subject[subject["subject"] == subj].groupby("student_id")["tool_id"].nunique()
        assert per_student.max() == 1
    status = dosage_status(d.usage, d.tools)
    for tool_id in small.truths["effects"]:
        flags = status.loc[status["tool_id"] == tool_id, "dosage_met"]
        assert flags.sum() > 50 and (~flags).sum() > 50
        assert small.truths["effects"][tool_id]["dosage_status_mismatches"] == 0


def _utilization(district, tool_id: str) -> float:
    seats = district.licenses.loc[district.licenses["tool_id"] == tool_id, "seats"].sum()
    return district.usage.loc[district.usage["tool_id"] == tool_id, "student_id"].nunique() / seats


def test_license_plants_digital_dust_right_sized_and_over_bought(small):
    d, truths = small.district, small.truths
    assert _utilization(d, truths["digital_dust"]["tool_id"]) < 0.05
    assert _utilization(d, truths["right_sized"]["tool_id"]) > 0.85
    for tool_id in truths["over_bought"]:
        assert 0.3 < _utilization(d, tool_id) < 0.6
    lic = d.licenses
    per_seat = lic["annual_cost"] / lic["seats"]
    assert per_seat[lic["tool_id"] != "T06"].between(5, 40).all()
    assert lic["price_escalator_pct"].between(0.03, 0.07).all()
    assert set(lic["funding_source"]) <= {"general", "title_i", "title_iv_a", "esser"}
    unvetted = d.tools.set_index("tool_id").loc[truths["unvetted_high_use"]["tool_id"]]
    assert unvetted["privacy_status"] != "signed_dpa"
    assert truths["unvetted_high_use"]["share_of_students"] > 0.35


def test_concentrated_tool_has_most_use_in_two_schools(small):
    d, conc = small.district, small.truths["concentrated"]
    use = d.usage[d.usage["tool_id"] == conc["tool_id"]].merge(d.students[["student_id", "school_id"]])
    by_school = use.groupby("school_id")["minutes"].sum().sort_values(ascending=False)
    assert list(by_school.index[:2].sort_values()) == sorted(conc["schools"])
    assert by_school.iloc[:2].sum() / by_school.sum() >= 0.8


def test_pd_session_is_followed_by_more_use_at_that_school(small):
    d, pdt = small.district, small.truths["pd"]
    session = d.pd_sessions[(d.pd_sessions["tool_id"] == pdt["tool_id"])
                            & (d.pd_sessions["school_id"] == pdt["school_id"])]
    assert (session["date"] == pd.Timestamp(pdt["date"])).all() and len(session) > 0
    use = d.usage[d.usage["tool_id"] == pdt["tool_id"]].merge(d.students[["student_id", "school_id"]])
    at_school = use[use["school_id"] == pdt["school_id"]].groupby("week_start")["minutes"].sum()
    pd_day = pd.Timestamp(pdt["date"])
    before = at_school[(at_school.index < pd_day) & (at_school.index >= pd_day - pd.Timedelta(weeks=6))]
    after = at_school[(at_school.index > pd_day) & (at_school.index <= pd_day + pd.Timedelta(weeks=6))]
    assert after.sum() / 6 > 3 * before.sum() / 6


def test_funding_has_an_esser_cliff_and_devices_include_past_aue(small):
    d, fund = small.district, small.truths["funding"]
    esser = d.funding[d.funding["source"] == "esser"]
    assert sorted(esser["fiscal_year"]) == [2026, 2027]
    assert (esser["expires"] == pd.Timestamp("2026-09-30")).all()
    assert (esser["restricted_to"] == "licenses").all()
    assert fund["esser_cliff_fiscal_year"] == 2028
    assert set(d.funding["fiscal_year"]) == {2026, 2027, 2028, 2029, 2030}
    chromebooks = d.devices[d.devices["device_type"] == "chromebook"]
    assert (chromebooks["auto_update_expiration"] < pd.Timestamp("2026-01-31")).sum() > 50
    assert chromebooks["purchase_date"].dt.year.between(2019, 2025).all()
    assert {"active", "repair", "retired"} <= set(d.devices["status"])


def test_ols_recovers_each_planted_effect_within_its_95ci(full):
    for tool_id, truth in full.truths["effects"].items():
        df = _analysis_frame(full, tool_id)
        with warnings.catch_warnings():  # school and grade dummies overlap; `treated` stays identified
            warnings.simplefilter("ignore")
            fit = smf.ols("spring ~ treated + fall + C(grade_level) + C(school_id) + frl + ell + iep", data=df).fit()
        low, high = fit.conf_int().loc["treated"]
        assert low <= truth["points"] <= high, (tool_id, truth["points"], fit.params["treated"], low, high)
    # the zero effect is exactly zero, the positive ones are detected
    assert full.truths["effects"]["T03"]["points"] == 0.0
    # planted at 0.25 of the base spring SD; the v2 standardizer (within group and grade) is smaller
    assert full.truths["effects"]["T01"]["sd_units"] == pytest.approx(0.29, abs=0.02)
    assert full.truths["effects"]["T01"]["sd_units"] > full.truths["effects"]["T01"]["planted_sd"]


def test_naive_gap_is_biased_in_the_documented_direction(full):
    for tool_id, truth in full.truths["effects"].items():
        df = _analysis_frame(full, tool_id)
        naive = df.loc[df["treated"] == 1, "spring"].mean() - df.loc[df["treated"] == 0, "spring"].mean()
        assert naive == pytest.approx(truth["naive_gap_points"], abs=1e-3)
        if truth["expected_naive_vs_truth"] == "overstates":
            assert naive > truth["points"] + 2, tool_id
        else:
            assert naive < truth["points"] - 2, tool_id
    directions = {t["expected_naive_vs_truth"] for t in full.truths["effects"].values()}
    assert directions == {"overstates", "understates"}


def test_risk_oracle_auc_and_prevalence(full, small):
    for sample in (full, small):
        auc = oracle_auc(sample)
        assert 0.75 <= auc <= 0.92
        assert 0.12 <= sample.risk_oracle["target"].mean() <= 0.18
    oracle = full.risk_oracle.merge(full.district.indicators[["student_id", "off_track_next_term"]], on="student_id")
    assert (oracle["target"] == oracle["off_track_next_term"]).all()
    assert full.truths["risk"]["oracle_auc"] == pytest.approx(oracle_auc(full), abs=1e-4)
    # subgroup flags are not in p_true: within a narrow band of p_true, frl does not shift the label rate much
    assert not full.truths["risk"]["subgroups_in_p_true"]


def test_write_sample_csvs_writes_every_file(tmp_path):
    written = write_sample_csvs(tmp_path, n_students=400, seed=3)
    assert set(written) == set(CSV_TABLES) | {"truths.json"}
    usage = pd.read_csv(written["usage.csv"], dtype=str)
    assert list(usage.columns) == ["student_id", "tool_id", "date", "minutes", "sessions"]
    assert json.loads(written["truths.json"].read_text())["n_students"] == 400


def test_committed_samples_match_the_generator(full):
    committed = json.loads((SAMPLES_DIR / "truths.json").read_text())
    assert committed == json.loads(json.dumps(full.truths))
    students = pd.read_csv(SAMPLES_DIR / "students.csv", dtype=str, keep_default_na=False)
    assert len(students) == 6000
    assert sum(p.stat().st_size for p in SAMPLES_DIR.iterdir()) < 8.5e6


def test_student_level_numbers_are_realistic(small):
    d = small.district
    ind = d.indicators
    assert ind["attendance_rate"].between(0, 1).all()
    assert ind.loc[d.students["grade_level"].isin(["K", "1", "2", "3", "4", "5"]).to_numpy(), "gpa"].isna().all()
    assert ind["gpa"].dropna().between(0, 4).all()
    spring = d.assessments[(d.assessments["window"] == "spring") & (d.assessments["subject"] == "math")]
    assert 0.3 < spring["proficient"].mean() < 0.7
    assert np.isfinite(d.assessments["score"]).all()


def test_the_risk_label_means_something_in_every_grade_band(small):
    """A kindergartner cannot fail a course: the label says what 'off track' means per grade band."""
    meaning = small.truths["risk"]["target_meaning"]
    assert set(meaning) == {"K-5", "6-12"} and "course" not in meaning["K-5"]
    grades = small.district.students.set_index("student_id")["grade_level"]
    labelled = small.district.indicators.set_index("student_id")["off_track_next_term"]
    young = labelled[grades.reindex(labelled.index).isin(["K", "1", "2", "3", "4", "5"])]
    assert young.notna().all() and young.sum() > 0          # young students are labelled, with the K-5 meaning
