"""Adapters: OneRoster 1.1 / 1.2 CSV (folder and zip) and the LearnPlatform engagement export."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from edtech.cli.parser import main as cli_main
from edtech.ingest import adapters
from edtech.store import data

ORGS = (
    "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId\n"
    "D1,active,2025-01-01,Springfield USD,district,,\n"
    "0001,active,2025-01-01,Lincoln Elementary,school,LE,D1\n"
    "0002,active,2025-01-01,Adams Middle,school,AM,D1\n"
    "DEPT9,active,2025-01-01,Math Department,department,,0002\n"
)
DEMOGRAPHICS = (
    "sourcedId,status,dateLastModified,birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,"
    "nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity\n"
    "000123,active,,2018-03-01,female,false,false,false,false,true,false,false\n"
    "000124,active,,2017-05-02,male,false,true,false,false,false,false,true\n"
    "000125,active,,2012-01-09,female,false,false,true,false,true,false,false\n"
)
USERS_11 = (
    "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,givenName,familyName,grades\n"
    "000123,active,,true,0001,student,ab,Ann,Bee,KG\n"
    "000124,active,,true,0001,student,cd,Carl,Dee,01\n"
    "000125,active,,true,\"0002,0001\",student,ef,Eve,Eff,07\n"
    "T900,active,,true,0001,teacher,tt,Tom,Tee,\n"
    "000126,tobedeleted,,false,0002,student,gh,Gus,Ha,08\n"
)
USERS_12 = (
    "sourcedId,status,dateLastModified,enabledUser,username,givenName,familyName,grades\n"
    "000123,active,,true,ab,Ann,Bee,KG\n"
    "000124,active,,true,cd,Carl,Dee,01\n"
    "000125,active,,true,ef,Eve,Eff,PK\n"
    "T900,active,,true,tt,Tom,Tee,\n"
)
ROLES_12 = (
    "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId\n"
    "r1,active,,000123,primary,student,,,0001,\n"
    "r2,active,,000124,secondary,student,,,0002,\n"
    "r3,active,,000124,primary,student,,,0001,\n"
    "r4,active,,000125,primary,student,,,0002,\n"
    "r5,active,,T900,primary,teacher,,,0001,\n"
)
MANIFEST = "propertyName,value\nmanifest.version,1.0\noneroster.version,{v}\n"


def oneroster_files(version: str) -> dict[str, str]:
    files = {"manifest.csv": MANIFEST.format(v=version), "orgs.csv": ORGS, "demographics.csv": DEMOGRAPHICS,
             "enrollments.csv": "sourcedId,classSourcedId,schoolSourcedId,userSourcedId,role\n"}
    if version == "1.1":
        files["users.csv"] = USERS_11
    else:
        files["users.csv"] = USERS_12
        files["roles.csv"] = ROLES_12
    return files


def as_folder(files: dict[str, str], tmp_path: Path) -> Path:
    folder = tmp_path / "oneroster"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def as_zip(files: dict[str, str], tmp_path: Path) -> Path:
    path = tmp_path / "oneroster.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


@pytest.mark.parametrize("packaging", ["folder", "zip"])
def test_oneroster_11(engine, tmp_path: Path, packaging: str) -> None:
    files = oneroster_files("1.1")
    path = as_folder(files, tmp_path) if packaging == "folder" else as_zip(files, tmp_path)
    reports = data.import_oneroster(engine, path)
    assert [r.kind for r in reports] == ["schools", "students"]
    assert all(r.ok for r in reports), [r.error_lines() for r in reports]
    schools = data.read_table(engine, "schools").set_index("school_id")
    assert sorted(schools.index) == ["0001", "0002"]                # district and department orgs are not schools
    assert schools.loc["0002", "school_name"] == "Adams Middle"
    assert schools.loc["0001", "district_id"] == "D1"
    students = data.read_table(engine, "students").set_index("student_id")
    assert sorted(students.index) == ["000123", "000124", "000125"]  # no teacher, no tobedeleted row
    assert students.loc["000123", "grade_level"] == "K"
    assert students.loc["000124", "grade_level"] == "1"
    assert students.loc["000125", "grade_level"] == "7"
    assert students.loc["000125", "school_id"] == "0002"             # first of several orgs
    assert students.loc["000123", "gender"] == "female"
    assert students.loc["000123", "race_ethnicity"] == "White"
    assert students.loc["000124", "race_ethnicity"] == "Hispanic or Latino"
    assert students.loc["000125", "race_ethnicity"] == "Two or more races"
    assert students["frl"].isna().all()                               # OneRoster has no lunch flag
    assert any("frl" in w for w in reports[1].warnings)


@pytest.mark.parametrize("packaging", ["folder", "zip"])
def test_oneroster_12_roles(engine, tmp_path: Path, packaging: str) -> None:
    files = oneroster_files("1.2")
    path = as_folder(files, tmp_path) if packaging == "folder" else as_zip(files, tmp_path)
    reports = data.import_oneroster(engine, path)
    assert all(r.ok for r in reports), [r.error_lines() for r in reports]
    students = data.read_table(engine, "students").set_index("student_id")
    assert sorted(students.index) == ["000123", "000124", "000125"]
    assert students.loc["000124", "school_id"] == "0001"             # the primary role wins over a secondary one
    assert students.loc["000125", "grade_level"] == "PK"
    assert students.loc["000124", "race_ethnicity"] == "Hispanic or Latino"


def test_oneroster_reimport_is_idempotent_and_students_file_adds_flags(engine, tmp_path: Path) -> None:
    path = as_zip(oneroster_files("1.1"), tmp_path)
    data.import_oneroster(engine, path)
    flags = data.import_bytes(engine, "students", "flags.csv",
                              b"student_id,school_id,grade_level,frl,ell,iep\n000123,0001,K,yes,no,no\n")
    assert flags.ok
    again = data.import_oneroster(engine, path)
    assert all(r.ok and r.inserted == 0 for r in again)
    students = data.read_table(engine, "students").set_index("student_id")
    assert len(students) == 3
    assert bool(students.loc["000123", "frl"]) is True                # not wiped by the roster re-import


def test_oneroster_recognised_in_an_upload_and_through_cli(engine, tmp_path: Path, empty_db_url: str) -> None:
    files = oneroster_files("1.1")
    uploads = [data.UploadFile(name, text.encode()) for name, text in files.items()]
    reports = data.import_upload(engine, uploads)
    assert [r.kind for r in reports] == ["schools", "students"] and all(r.ok for r in reports)
    zip_path = as_zip(files, tmp_path)
    assert cli_main(["--db", empty_db_url, "import", "oneroster", str(zip_path)]) == 0


def test_oneroster_without_users_is_refused(engine, tmp_path: Path) -> None:
    folder = as_folder({"orgs.csv": ORGS}, tmp_path)
    reports = data.import_oneroster(engine, folder)
    assert len(reports) == 1 and not reports[0].ok
    assert "users.csv" in reports[0].error_lines()[0]


def test_oneroster_adapter_frames_are_text() -> None:
    frames = {Path(n).stem: pd.read_csv(io.StringIO(t), dtype=str) for n, t in oneroster_files("1.1").items()}
    adapted = adapters.from_oneroster(frames)
    assert adapted.frames["students"]["student_id"].tolist()[0] == "000123"


# --------------------------------------------------------------------------- LearnPlatform
@pytest.mark.parametrize(("text", "mid", "kept"), [
    ("[0.2, 0.4[", 0.30000000000000004, "[0.2, 0.4["),
    ("[0, 0.2[", 0.1, "[0, 0.2["),
    (" [14000, 16000[ ", 15000.0, "[14000, 16000["),
    ("[0.18, 1[", 0.59, "[0.18, 1["),
    ("NaN", None, None),
    (None, None, None),
    (float("nan"), None, None),
    ("0.3", None, None),
])
def test_parse_range(text: object, mid: float | None, kept: str | None) -> None:
    got_mid, got_range = adapters.parse_range(text)
    assert got_range == kept
    if mid is None:
        assert got_mid is None
    else:
        assert got_mid == pytest.approx(mid)


@pytest.fixture(scope="module")
def learnplatform_dir(shared_dir: Path) -> Path:
    path = shared_dir / "data" / "learnplatform-2020"
    if not (path / "products_info.csv").exists():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="module")
def learnplatform_loaded(learnplatform_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    db = tmp_path_factory.mktemp("lp") / "lp.db"
    engine = data.make_engine(f"sqlite:///{db}")
    data.init_db(engine)
    reports = data.import_learnplatform(engine, learnplatform_dir)
    yield engine, reports
    engine.dispose()


def test_learnplatform_tools_and_aggregates(learnplatform_loaded, learnplatform_dir: Path) -> None:
    engine, reports = learnplatform_loaded
    # one report per source file (errors name the file and its own lines), tables in dependency order
    engagement = sorted(p.name for p in learnplatform_dir.glob("[0-9]*.csv"))
    assert [(r.kind, r.file_name) for r in reports] == [("tools", "products_info.csv")] + [
        ("usage_aggregate", name) for name in engagement]
    assert all(r.ok for r in reports), [r.error_lines() for r in reports]
    counts = data.table_counts(engine)
    assert counts["tools"] == 372
    raw = pd.concat([pd.read_csv(p, dtype=str).assign(district=p.stem)
                     for p in sorted(learnplatform_dir.glob("[0-9]*.csv"))], ignore_index=True)
    with_id = raw[raw["lp_id"].notna()]
    assert counts["usage_aggregate"] == len(with_id.drop_duplicates(["lp_id", "time", "district"]))
    aggregates = [r for r in reports if r.kind == "usage_aggregate"]
    assert sum(r.rows_read for r in aggregates) == len(raw)          # every row of every file is read …
    assert sum(r.skipped for r in aggregates) == len(raw) - len(with_id)   # … rows without lp_id skipped, counted
    for r in aggregates:   # the district comes from the file name, and the summary says so
        assert any(f"district_id {Path(r.file_name).stem} taken from the file name" in w for w in r.warnings)
    tools = data.read_table(engine, "tools").set_index("tool_id")
    assert tools.loc["13117", "tool_name"] == "SplashLearn"
    assert tools.loc["13117", "vendor"] == "StudyPad Inc."
    assert tools.loc["13117", "category"] == "LC - Digital Learning Platforms"


def test_learnplatform_pct_access_is_a_share_and_unknown_ids_kept(learnplatform_loaded,
                                                                  learnplatform_dir: Path) -> None:
    engine, reports = learnplatform_loaded
    agg = data.read_table(engine, "usage_aggregate")
    assert agg["pct_access"].between(0, 1).all()
    first = pd.read_csv(learnplatform_dir / "1470.csv", dtype=str).iloc[0]
    row = agg[(agg["district_id"] == "1470") & (agg["tool_id"] == first["lp_id"])
              & (agg["date"] == pd.Timestamp(first["time"]))].iloc[0]
    assert row["pct_access"] == pytest.approx(float(first["pct_access"]) / 100)   # 0.67 % -> 0.0067
    assert row["engagement_index"] == pytest.approx(float(first["engagement_index"]))
    assert agg["school_id"].isna().all()
    products = set(data.read_table(engine, "tools")["tool_id"])
    unknown = set(agg["tool_id"]) - products
    assert unknown, "the sample has lp_ids missing from products_info"
    for district in ("1470", "1536"):   # warned per file, not dropped
        in_file = set(agg.loc[agg["district_id"] == district, "tool_id"]) - products
        warning = next(w for r in reports for w in r.warnings if "not in products_info" in w
                       and w.startswith(f"{district}.csv"))
        assert warning.startswith(f"{district}.csv: {len(in_file)} lp_id(s)")
    info = data.load_setting(engine, "learnplatform_districts")
    assert info["8815"]["pct_free/reduced"] == {"mid": 0.1, "range": "[0, 0.2["}


def test_learnplatform_reimport_is_idempotent(learnplatform_loaded, learnplatform_dir: Path) -> None:
    engine, _ = learnplatform_loaded
    before = data.table_counts(engine)
    products_only = {"products_info.csv": (learnplatform_dir / "products_info.csv").read_bytes()}
    reports = data.import_learnplatform(engine, products_only)
    assert all(r.ok and r.inserted == 0 for r in reports)
    assert data.table_counts(engine) == before
