"""Adoption and equity metrics: hand-made frames, the sample district, the LearnPlatform 2020 sample."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edtech.adoption import engine as A
from edtech.adoption import equity as E
from edtech.core.district import District, conform_frame

SHARED = Path(__file__).resolve().parents[2] / "shared"
LEARNPLATFORM = SHARED / "data" / "learnplatform-2020"
D = pd.Timestamp


# ------------------------------------------------------------------------------------- tiny district
def tiny_district() -> District:
    """Two elementary schools (S1 high FRL, S2 low FRL) and one middle school; one K-5 tool.

    Tool T1: recommended 30 min/week over 10 weeks -> dosage = avg ≥ 24 min over ≥ 8 weeks.
    Licenses: 4 seats at S1, 6 district-wide seats (shared by enrollment × share in grades K-5).
    """
    schools = conform_frame("schools", pd.DataFrame({
        "school_id": ["S1", "S2", "S3"], "school_name": ["One", "Two", "Three"],
        "level": ["elementary", "elementary", "middle"], "enrollment": [4, 2, 4],
        "frl_pct": [0.9, 0.2, 0.5], "title_i": [True, False, False], "district_id": ["D"] * 3}))
    students = conform_frame("students", pd.DataFrame({
        "student_id": ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
        "school_id": ["S1", "S1", "S1", "S1", "S2", "S2", "S3", "S3", "S3", "S3"],
        "grade_level": ["K", "1", "1", "5", "2", "3", "6", "7", "7", "8"],
        "frl": [True, True, True, False, False, False, True, False, None, None],
        "ell": [None] * 10, "iep": [False] * 10}))
    tools = conform_frame("tools", pd.DataFrame({
        "tool_id": ["T1", "T2"], "tool_name": ["Math K-5", "Reader"], "grade_band": ["K-5", None],
        "recommended_minutes_per_week": [30.0, None], "recommended_weeks": [10, None]}))
    licenses = conform_frame("licenses", pd.DataFrame({
        "tool_id": ["T1", "T1", "T1", "T2"], "school_id": ["S1", None, None, "S3"],
        "seats": [4, 6, 99, 4], "annual_cost": [400.0, 600.0, 1.0, 100.0],
        "start_date": [D("2024-08-01"), D("2024-08-01"), D("2023-08-01"), D("2024-08-01")],
        "end_date": [D("2025-07-31"), D("2025-07-31"), D("2024-07-31"), D("2025-07-31")]}))
    weeks = pd.date_range("2024-09-02", periods=12, freq="7D")
    rows = []
    # a: 12 weeks × 30 min -> meets dosage; b: 12 weeks × 10 min -> too few minutes;
    # c: 5 weeks × 60 min -> too few weeks; e (S2): 9 weeks × 25 min -> meets; d: sessions but 0 minutes
    for sid, n, minutes in [("a", 12, 30.0), ("b", 12, 10.0), ("c", 5, 60.0), ("e", 9, 25.0)]:
        rows += [{"student_id": sid, "tool_id": "T1", "week_start": w, "minutes": minutes, "sessions": 1}
                 for w in weeks[:n]]
    rows.append({"student_id": "d", "tool_id": "T1", "week_start": weeks[0], "minutes": 0.0, "sessions": 1})
    rows.append({"student_id": "f", "tool_id": "T1", "week_start": weeks[0], "minutes": 0.0, "sessions": 0})
    # usage before the contract year does not count
    rows.append({"student_id": "f", "tool_id": "T1", "week_start": D("2024-06-03"), "minutes": 50.0, "sessions": 1})
    rows += [{"student_id": "g", "tool_id": "T2", "week_start": w, "minutes": 15.0, "sessions": 2} for w in weeks]
    usage = conform_frame("usage", pd.DataFrame(rows))
    return District(schools=schools, students=students, tools=tools, licenses=licenses, usage=usage)


def test_grade_band_parsing():
    assert A.grades_in_band("K-5") == {"K", "1", "2", "3", "4", "5"}
    assert A.grades_in_band("9–12") == {"9", "10", "11", "12"}
    assert A.grades_in_band("PK-K") == {"PK", "K"}
    assert A.grades_in_band("6") == {"6"}
    assert A.grades_in_band(None) is None and A.grades_in_band("all") is None


def test_active_user_rule_counts_sessions_or_minutes():
    u = pd.DataFrame({"minutes": [0.0, 5.0, 0.0, np.nan], "sessions": [1, 0, 0, 0]})
    assert A.is_active_row(u).tolist() == [True, True, False, False]


def test_contract_window_uses_licenses_in_force():
    d = tiny_district()
    w = A.contract_windows(d.licenses, d.as_of).set_index("tool_id")
    assert d.as_of == D("2024-11-24")
    assert w.loc["T1", "seats"] == 10            # the expired 99-seat license is not the current contract
    assert w.loc["T1", "window_start"] == D("2024-08-01")
    assert w.loc["T1", "window_end"] == d.as_of  # year to date


def test_contract_window_falls_back_to_latest_license():
    lic = conform_frame("licenses", pd.DataFrame({
        "tool_id": ["T", "T"], "school_id": [None, None], "seats": [5, 7], "annual_cost": [1.0, 1.0],
        "start_date": [D("2022-08-01"), D("2023-08-01")], "end_date": [D("2023-07-31"), D("2024-07-31")]}))
    w = A.contract_windows(lic, D("2025-01-01"))
    assert w["seats"].tolist() == [7] and w["window_start"].iloc[0] == D("2023-08-01")
    # a tool with no license at all gets the 365 days ending at as_of
    w = A.contract_windows(lic, D("2025-01-01"), pd.DataFrame({"tool_id": ["T", "U"]})).set_index("tool_id")
    assert w.loc["U", "seats"] == 0 and w.loc["U", "window_start"] == D("2024-01-03")


def test_largest_remainder_adds_up_exactly():
    seats = A._largest_remainder(10, np.array([1.0, 1.0, 1.0]))
    assert seats.sum() == 10 and sorted(seats.tolist()) == [3, 3, 4]
    assert A._largest_remainder(5, np.array([0.0, 0.0])).sum() == 5


def test_seat_allocation_rule():
    d = tiny_district()
    lic = A.current_licenses(d.licenses, d.as_of)
    seats = A.allocate_seats(lic, d.schools, d.students, d.tools).set_index(["school_id", "tool_id"])["licensed_students"]
    # 6 district-wide T1 seats: S1 weight 4×1.0, S2 2×1.0, S3 (grades 6-8, outside K-5) 0 -> 4, 2, 0
    assert seats[("S1", "T1")] == 4 + 4
    assert seats[("S2", "T1")] == 2
    assert seats.get(("S3", "T1"), 0) == 0
    assert seats[("S3", "T2")] == 4
    assert seats.xs("T1", level="tool_id").sum() == 10


def test_dosage_80_80_rule_per_student():
    d = tiny_district()
    per = A.student_tool_usage(d).set_index(["student_id", "tool_id"])
    assert per.loc[("a", "T1"), "dosage_met"]            # 30 ≥ 24 min, 12 ≥ 8 weeks
    assert not per.loc[("b", "T1"), "dosage_met"]        # 10 < 24 min
    assert not per.loc[("c", "T1"), "dosage_met"]        # 5 < 8 weeks
    assert per.loc[("e", "T1"), "dosage_met"]            # 25 ≥ 24 min, 9 ≥ 8 weeks
    assert per.loc[("d", "T1"), "weeks_used"] == 1       # a session with 0 minutes is use
    assert ("f", "T1") not in per.index                  # 0 sessions & 0 minutes, and out-of-window use
    assert pd.isna(per.loc[("g", "T2"), "dosage_met"])   # no recommended minutes: rule not applicable


def test_school_tool_adoption_utilization_fidelity_and_comparisons():
    d = tiny_district()
    t = A.school_tool_adoption(d).set_index(["school_id", "tool_id"])
    s1 = t.loc[("S1", "T1")]
    assert (s1["licensed_students"], s1["active_users"], s1["dosage_met"]) == (8, 4, 1)
    assert s1["utilization"] == pytest.approx(0.5)
    assert s1["fidelity"] == pytest.approx(1 / 8) and not s1["implements_with_fidelity"]
    assert s1["dosage_met_share"] == pytest.approx(1 / 4)
    s2 = t.loc[("S2", "T1")]
    assert s2["utilization"] == pytest.approx(0.5) and s2["fidelity"] == pytest.approx(0.5)
    # district median of T1 utilization over S1, S2 = 0.5; S1 high FRL vs S2 low FRL: no similar school
    assert s1["district_median_utilization"] == pytest.approx(0.5)
    assert s1["similar_schools"] == 0 and pd.isna(s1["similar_median_utilization"])
    assert s1["frl_band"] == "high" and s2["frl_band"] == "low"
    s3 = t.loc[("S3", "T2")]
    assert s3["utilization"] == pytest.approx(0.25) and pd.isna(s3["fidelity"])


def test_implements_with_fidelity_at_80_percent():
    d = tiny_district()
    # S2 gets only its own 1-seat license: e meets dosage -> fidelity 1/1
    d.licenses = conform_frame("licenses", pd.DataFrame({
        "tool_id": ["T1"], "school_id": ["S2"], "seats": [1], "annual_cost": [10.0],
        "start_date": [D("2024-08-01")], "end_date": [D("2025-07-31")]}))
    t = A.school_tool_adoption(d).set_index(["school_id", "tool_id"])
    assert t.loc[("S2", "T1"), "implements_with_fidelity"]
    assert t.loc[("S1", "T1"), "licensed_students"] == 0 and pd.isna(t.loc[("S1", "T1"), "utilization"])


def test_similar_schools_median_excludes_the_school_itself():
    rows = pd.DataFrame({"tool_id": ["T"] * 4, "level": ["high"] * 3 + ["middle"],
                         "frl_band": ["mid"] * 4, "utilization": [0.2, 0.4, 0.9, 0.1]})
    sim = A._similar_medians(rows)
    assert sim["similar_median_utilization"].tolist()[:3] == pytest.approx([0.65, 0.55, 0.3])
    assert sim["similar_schools"].tolist() == [2, 2, 2, 0]


def test_weekly_trend_and_not_using_by_grade():
    d = tiny_district()
    wk = A.weekly_trend(d.usage, d.students)
    first = wk[(wk["week_start"] == D("2024-09-02")) & (wk["tool_id"] == "T1")].set_index("school_id")
    assert first.loc["S1", "active_users"] == 4 and first.loc["S2", "active_users"] == 1
    per = A.student_tool_usage(d)
    nu = A.not_using_by_grade(d, per, "S2", "T1").set_index("grade_level")
    assert nu.loc["2", "active_users"] == 1 and nu.loc["3", "not_using"] == 1
    names = A.not_using_students(d, per, "S2", "T1")
    assert names["student_id"].tolist() == ["f"]
    # a middle school is not eligible for the K-5 tool
    assert A.not_using_by_grade(d, per, "S3", "T1").empty


def test_use_concentration():
    per = pd.DataFrame({"tool_id": ["T"] * 5, "school_id": ["A", "B", "C", "D", "E"],
                        "minutes": [50.0, 40.0, 4.0, 3.0, 3.0]})
    schools = pd.DataFrame({"school_id": list("ABCDEFGHIJ")})
    c = A.use_concentration(per, schools).iloc[0]
    assert c["top_schools"] == ["A", "B"] and c["top2_share"] == pytest.approx(0.9)
    assert c["concentrated"]  # 2 of 10 schools = 20% hold 90%


def test_pd_usage_change_before_after_with_ci():
    weeks = pd.date_range("2025-01-06", periods=12, freq="7D")
    users = [2, 3, 2, 3, 2, 3, 10, 12, 11, 12, 10, 11]
    weekly = pd.DataFrame({"week_start": weeks, "school_id": "S", "tool_id": "T", "active_users": users,
                           "minutes": [u * 30.0 for u in users]})
    sessions = conform_frame("pd_sessions", pd.DataFrame({
        "staff_id": ["x", "y"], "school_id": ["S", "S"], "date": [D("2025-02-12")] * 2, "hours": [3.0, 3.0],
        "tool_id": ["T", "T"]}))
    r = A.pd_usage_change(sessions, weekly, weeks=5).iloc[0]
    assert r["pd_hours"] == 6.0 and r["weeks_before"] == 5 and r["weeks_after"] == 5
    assert r["active_before"] == pytest.approx(2.4)   # weeks 0-4 (PD week 5 excluded)
    assert r["active_after"] == pytest.approx(11.0)   # weeks 6-10: (10+12+11+12+10)/5
    assert r["ci_low"] < r["change"] < r["ci_high"] and r["ci_low"] > 0
    window = A.pd_weekly_window(weekly, "S", "T", D("2025-02-12"), weeks=2)
    assert window["period"].tolist() == ["before", "before", "PD week", "after", "after"]


# ----------------------------------------------------------------------------------------- equity
def test_frl_quartiles_and_equity_by_quartile():
    schools = pd.DataFrame({"school_id": list("ABCDEFGH"), "frl_pct": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8]})
    q = E.frl_quartile(schools)
    assert q.tolist() == ["Q1", "Q1", "Q2", "Q2", "Q3", "Q3", "Q4", "Q4"]
    access = pd.DataFrame({"student_id": [f"s{i}" for i in range(8)], "school_id": list("ABCDEFGH"),
                           "active": [True, True, True, True, True, False, False, False],
                           "dosage_met": [True, False, True, True, False, False, False, False],
                           "minutes": [10.0] * 8})
    eq = E.equity_by_frl_quartile(access, schools).set_index("frl_quartile")
    assert eq.loc["Q1", "active_share"] == 1.0 and eq.loc["Q3", "active_share"] == 0.5
    assert eq.loc["Q4", "gap_pts"] == pytest.approx(100.0) and bool(eq.loc["Q4", "gap"])
    assert eq.loc["Q1", "dosage_met_share"] == 0.5 and eq.loc["Q1", "frl_range"] == "10%–20%"


def test_equity_by_subgroup_skips_missing_flags_and_measures_gap():
    d = tiny_district()
    per = A.student_tool_usage(d)
    seats = A.allocate_seats(A.current_licenses(d.licenses, d.as_of), d.schools, d.students, d.tools)
    access = E.student_access(d.students, d.tools, seats, per, tool_id="T1")
    assert sorted(access["student_id"]) == ["a", "b", "c", "d", "e", "f"]
    sub = E.equity_by_subgroup(access, d.students)
    assert set(sub["subgroup"]) == {"frl", "iep"}        # no ell flags at all
    frl = sub[sub["subgroup"] == "frl"].set_index("in_group")
    assert frl.loc[True, "active_share"] == 1.0           # a, b, c all active
    assert frl.loc[False, "active_share"] == pytest.approx(2 / 3)  # d, e active, f not
    assert frl.loc[True, "gap_pts"] == pytest.approx(-100 / 3)
    shown = E.suppressed_equity(sub)
    assert (shown["students"] == "<10").all() and shown["active_share"].isna().all()


def test_device_coverage():
    d = tiny_district()
    devices = conform_frame("devices", pd.DataFrame({
        "device_id": ["1", "2", "3", "4", "5"], "device_type": ["chromebook"] * 5,
        "purchase_date": [D("2018-01-01"), D("2023-01-01"), D("2023-01-01"), D("2024-01-01"), D("2015-01-01")],
        "purchase_cost": [300.0] * 5, "school_id": ["S1", "S1", None, "S2", "S1"],
        "status": ["active", "repair", None, "active", "retired"],
        "auto_update_expiration": [D("2030-01-01"), D("2024-06-01"), pd.NaT, D("2031-01-01"), pd.NaT],
        "assigned_student_id": [None, None, "e", None, None]}))
    cov = E.device_coverage(devices, d.students, d.schools, d.as_of).set_index("school_id")
    assert cov.loc["S1", "devices"] == 2 and cov.loc["S1", "active_devices"] == 1   # retired one ignored
    assert cov.loc["S1", "devices_per_student"] == pytest.approx(0.25) and cov.loc["S1", "coverage_gap"]
    assert cov.loc["S1", "past_refresh"] == 1 and cov.loc["S1", "past_aue"] == 1
    assert cov.loc["S1", "past_refresh_or_aue_share"] == 1.0 and cov.loc["S1", "age_gap"]
    assert cov.loc["S2", "devices_per_student"] == pytest.approx(1.0)             # assigned student's school
    assert cov.loc["S3", "devices"] == 0 and cov.loc["S3", "coverage_gap"]


def test_empty_district_gives_empty_tables():
    d = District()
    per = A.student_tool_usage(d)
    assert per.empty and A.school_tool_adoption(d, per).empty
    assert A.weekly_trend(d.usage, d.students).empty
    assert A.pd_usage_change(d.pd_sessions, A.weekly_trend(d.usage, d.students)).empty
    assert A.aggregate_top_products(d.usage_aggregate, d.tools).empty
    assert E.device_coverage(d.devices, d.students, d.schools, d.as_of).empty


# ------------------------------------------------------------------------------- aggregate sources
def test_aggregate_top_products_and_weekly_trend_on_hand_made_rows():
    agg = conform_frame("usage_aggregate", pd.DataFrame({
        "tool_id": ["1", "1", "2", "2", "3"], "district_id": ["D"] * 5, "school_id": [None] * 5,
        "date": [D("2020-01-06"), D("2020-01-07"), D("2020-01-06"), D("2020-01-13"), D("2020-01-06")],
        "pct_access": [0.1, 0.3, 0.5, 0.7, None], "engagement_index": [1.0, 3.0, 5.0, None, 2.0]}))
    tools = pd.DataFrame({"tool_id": ["1"], "tool_name": ["One"]})
    top = A.aggregate_top_products(agg, tools, n=5)
    assert top["tool_id"].tolist() == ["2", "1"]
    assert top["avg_pct_access"].tolist() == pytest.approx([0.6, 0.2])
    assert top["tool_name"].tolist() == ["product 2", "One"]
    wk = A.aggregate_weekly_trend(agg, ["1", "2"]).set_index(["week_start", "tool_id"])["pct_access"]
    assert wk[(D("2020-01-06"), "1")] == pytest.approx(0.2) and wk[(D("2020-01-13"), "2")] == pytest.approx(0.7)
    assert A.aggregate_level(agg) == "district"


def learnplatform_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """usage_aggregate and tools built straight from the LearnPlatform CSVs (as the importer will)."""
    if not LEARNPLATFORM.exists():
        pytest.skip(f"LearnPlatform 2020 sample not found at {LEARNPLATFORM}")
    parts = []
    for path in sorted(LEARNPLATFORM.glob("[0-9]*.csv")):
        raw = pd.read_csv(path, dtype={"lp_id": str})
        parts.append(pd.DataFrame({
            "date": pd.to_datetime(raw["time"]), "tool_id": raw["lp_id"], "district_id": path.stem,
            "school_id": None, "pct_access": raw["pct_access"] / 100, "engagement_index": raw["engagement_index"]}))
    agg = conform_frame("usage_aggregate", pd.concat(parts, ignore_index=True))
    products = pd.read_csv(LEARNPLATFORM / "products_info.csv", dtype={"LP ID": str})
    tools = conform_frame("tools", pd.DataFrame({"tool_id": products["LP ID"], "tool_name": products["Product Name"]}))
    return agg, tools


def test_learnplatform_top_products_and_spring_2020_closure_jump():
    agg, tools = learnplatform_frames()
    top = A.aggregate_top_products(agg, tools, D("2020-01-01"), D("2020-12-31"), n=10)
    assert len(top) == 10 and top["avg_pct_access"].is_monotonic_decreasing
    assert top["tool_name"].iloc[0] == "Google Classroom"
    assert (top["avg_pct_access"] < 1).all()  # shares, not percents
    shift = A.aggregate_shift(agg, top["tool_id"].tolist(), A.SCHOOL_CLOSURE_2020)
    jump = shift.iloc[0]
    # Google Meet: almost no use before the closures, used by ~10% of students a day after
    assert jump["tool_id"] == "98845"
    assert jump["before"] < 0.01 and jump["after"] > 0.05
    trend = A.aggregate_weekly_trend(agg, ["98845"]).set_index("week_start")["pct_access"]
    before = trend[: D("2020-03-09")]
    assert (before.empty or before.max() < 0.01) and trend[D("2020-04-13"): D("2020-05-31")].min() > 0.05


# ------------------------------------------------------------------------------- sample district
@pytest.fixture(scope="module")
def sample():
    if importlib.util.find_spec("edtech.sample.generate") is None:
        pytest.skip("edtech.samples (sample district generator) is not in this checkout yet")
    from edtech.sample.generate import generate_district
    return generate_district(n_students=6000, seed=2025)


def test_sample_concentrated_tool_uses_two_schools(sample):
    d = sample.district
    per = A.student_tool_usage(d)
    conc = A.use_concentration(per, d.schools).set_index("tool_id")
    tool = sample.truths["concentrated"]["tool_id"]
    schools = set(sample.truths["concentrated"]["schools"])
    row = conc.loc[tool]
    assert row["top2_share"] >= 0.8 and set(row["top_schools"]) == schools
    assert row["concentrated"]


def test_sample_pd_raises_usage(sample):
    d = sample.district
    tool, school = sample.truths["pd"]["tool_id"], sample.truths["pd"]["school_id"]
    change = A.pd_usage_change(d.pd_sessions, A.weekly_trend(d.usage, d.students))
    row = change[(change["tool_id"] == tool) & (change["school_id"] == school)]
    assert len(row) >= 1 and (row["change"] > 0).any()


def test_sample_totals_reconcile_with_roi_engine(sample):
    if importlib.util.find_spec("edtech.roi.engine") is None:
        pytest.skip("edtech.roi (ROI engine) is not in this checkout yet")
    from edtech.roi import engine as roi
    d = sample.district
    mine = A.tool_totals(A.school_tool_adoption(d)).set_index("tool_id")
    theirs = roi.score_tools(d).set_index("tool_id")
    common = mine.index.intersection(theirs.index)
    assert len(common) == len(theirs)
    assert mine.loc[common, "active_users"].astype(int).tolist() == theirs.loc[common, "active_users"].astype(int).tolist()
    assert mine.loc[common, "licensed_students"].astype(int).tolist() == theirs.loc[common, "seats"].astype(int).tolist()
    assert mine.loc[common, "dosage_met"].astype(int).tolist() == theirs.loc[common, "dosage_met"].astype(int).tolist()
    assert (mine.loc[common, "minutes"] / 60).tolist() == pytest.approx(theirs.loc[common, "total_hours"].tolist())
    # per school: the same students are counted as active users and as meeting dosage
    by_school = A.school_tool_adoption(d).set_index(["tool_id", "school_id"])
    roi_schools = roi.compute_usage_metrics(d).schools
    roi_schools = roi_schools[roi_schools["active_users"] > 0].set_index(["tool_id", "school_id"])
    mine_used = by_school[by_school["active_users"] > 0]
    assert sorted(mine_used.index) == sorted(roi_schools.index)
    assert (mine_used.loc[roi_schools.index, "active_users"].to_numpy() == roi_schools["active_users"].to_numpy()).all()
    assert (mine_used.loc[roi_schools.index, "dosage_met"].to_numpy() == roi_schools["dosage_met"].to_numpy()).all()


# ------------------------------------------------------------------------------------------ CLI
def test_cli_adoption_json_and_unknown_school(sample_db_url, capsys):
    from edtech.cli.parser import main

    assert main(["--db", sample_db_url, "adoption", "--school", "0202", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and {r["school_id"] for r in rows} == {"0202"}
    assert {"licensed_students", "active_users", "utilization", "fidelity"} <= set(rows[0])
    assert main(["--db", sample_db_url, "adoption", "--school", "nope"]) == 2
    assert "unknown school nope" in capsys.readouterr().err


def test_cli_adoption_on_empty_database(empty_db_url, capsys):
    from edtech.cli.parser import main

    assert main(["--db", empty_db_url, "adoption"]) == 0
    assert "No licensed tools" in capsys.readouterr().out
