"""Zip bombs (issue 12, "no way in through data"): a 1 MB zip holding a 1 GB member, forged
directories that under-declare it, the same inside a workbook, a OneRoster and a LearnPlatform
export, and a Parquet file that decodes to a gigabyte. Each is refused as a normal import error
(exit 3, an error row with file, reason and fix), nothing is written, and the process's peak
memory rises by at most 50 MB over its level just before (measured in a fresh process).

The bombs are written by `bench.write_zip`, which repeats the compressed bytes of one block, so
neither this test nor its memory ever holds a member.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from edtech.core import config
from edtech.ingest import formats
from edtech.services.bench import MB, ZipMember, csv_bomb_member, run_measuring_child, write_zip

RISE_LIMIT_MB = 50
ORGS = b"sourcedId,status,name,type,identifier\no1,active,Lincoln Elementary,school,0101\n"
USERS = b"sourcedId,status,role,givenName,familyName,identifier,orgSourcedIds\nu1,active,student,Ann,Lee,000101,o1\n"
PRODUCTS = b"LP ID,URL,Product Name,Provider/Company Name,Sector(s),Primary Essential Function\n1000,x,Tool,Co,PreK-12,LC\n"


# --------------------------------------------------------------------------- the bombs
def _packed_size(path: Path) -> int:
    with zipfile.ZipFile(path) as zf:
        return zf.infolist()[0].compress_size


def _xlsx_bomb_members(member_mb: int = 1024) -> list[ZipMember]:
    """A real workbook (written by pandas) whose sheet is padded with `member_mb` MB of rows."""
    buffer = io.BytesIO()
    pd.DataFrame({"student_id": ["000101"], "tool_id": ["T01"], "date": ["2025-09-02"], "minutes": ["15"]}).to_excel(
        buffer, index=False)
    members = []
    with zipfile.ZipFile(buffer) as zf:
        for info in zf.infolist():
            content = zf.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                cut = content.index(b"</sheetData>")
                unit = b'<row><c t="inlineStr"><is><t>0</t></is></c></row>' * (MB // 48)
                members.append(ZipMember(info.filename, head=content[:cut], unit=unit,
                                         repeats=member_mb * MB // len(unit), tail=content[cut:]))
            else:
                members.append(ZipMember(info.filename, head=content))
    return members


def _parquet_bomb(path: Path, decoded_mb: int = 1024) -> None:
    """One text column of a 500-character value repeated: dictionary and run-length encoding keep the
    file a few KB; without the stored Arrow schema a reader decodes every row to its full text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = decoded_mb * MB // 500
    column = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int8)), pa.array(["0" * 500]))
    pq.write_table(pa.table({"student_id": column}), path, compression="zstd", store_schema=False)


@pytest.fixture(scope="module")
def bombs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bombs")
    paths = {name: root / name for name in ("bomb.zip", "forged_small.zip", "forged_at_ratio.zip", "usage.xlsx",
                                            "usage.parquet", "oneroster.zip", "learnplatform.zip", "ok.zip")}
    write_zip(paths["bomb.zip"], [csv_bomb_member()])
    # forged directories: the headers under-declare the 1 GB member, so every declared check passes
    write_zip(paths["forged_small.zip"], [csv_bomb_member(declared_size=64 * 1024)])
    write_zip(paths["forged_at_ratio.zip"],
              [csv_bomb_member(declared_size=formats.ZIP_MAX_RATIO * _packed_size(paths["bomb.zip"]))])
    write_zip(paths["usage.xlsx"], _xlsx_bomb_members())
    _parquet_bomb(paths["usage.parquet"])
    write_zip(paths["oneroster.zip"], [ZipMember("orgs.csv", head=ORGS), ZipMember("users.csv", head=USERS),
                                       csv_bomb_member("enrollments.csv")])
    write_zip(paths["learnplatform.zip"], [ZipMember("products_info.csv", head=PRODUCTS),
                                           csv_bomb_member("engagement_data/1000.csv")])
    write_zip(paths["ok.zip"], [ZipMember("schools.csv", head=b"school_id,school_name\n0101,Lincoln\n0102,Adams\n")])
    return paths


def test_the_bombs_are_what_they_claim(bombs):
    """Small files, a 1 GB member, headers that lie where they should (else the tests below prove nothing)."""
    assert bombs["bomb.zip"].stat().st_size < 1.2 * MB
    with zipfile.ZipFile(bombs["bomb.zip"]) as zf:
        info = zf.infolist()[0]
        assert info.file_size >= 1024 * MB and info.compress_size < 1.2 * MB
        with zf.open(info) as stream:  # a genuine deflate stream of the declared content
            assert stream.read(64).startswith(b"student_id,tool_id,date,minutes\n0\n0\n")
    with zipfile.ZipFile(bombs["forged_small.zip"]) as zf:
        assert zf.infolist()[0].file_size == 64 * 1024
    with zipfile.ZipFile(bombs["forged_at_ratio.zip"]) as zf:
        info = zf.infolist()[0]
        assert info.file_size <= formats.ZIP_MAX_RATIO * info.compress_size < config.UPLOAD_LIMIT_MB * MB
    assert bombs["usage.xlsx"].stat().st_size < 4 * MB and bombs["usage.parquet"].stat().st_size < MB
    small = bombs["ok.zip"].parent / "small.zip"
    write_zip(small, [csv_bomb_member(member_mb=3)])  # the writer's output reads back exactly
    with zipfile.ZipFile(small) as zf:
        content = zf.read("usage.csv")
    assert len(content) == zf.infolist()[0].file_size and content.count(b"\n") == 1 + 3 * MB // 2


# --------------------------------------------------------------------------- through the CLI and the Data page
CHILD = """
import contextlib, io
from pathlib import Path
from edtech.cli.parser import main
from edtech.core.access import Principal, Role
from edtech.services import uploads
from edtech.store import data

url, paths = {url!r}, {paths!r}
engine = data.make_engine(url)
data.init_db(engine)
director = Principal(email="director@example.org", role=Role.DIRECTOR, name="Director")

def cli(*args):
    def run():
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            code = main(["--db", url, *args])
        return {{"exit": code, "stderr": err.getvalue()[-2000:]}}
    return run

def page(name):
    def run():
        files = [data.UploadFile(name, Path(paths[name]).read_bytes())]   # what the uploader hands the page
        try:
            previews = uploads.preview_upload(files)
            reports = uploads.import_upload(engine, files, director)
        except Exception as exc:  # the page would show a traceback
            return {{"exception": repr(exc)[:300]}}
        errors = uploads.errors_frame(reports)
        return {{"problems": [p.problem for p in previews], "ok": [r.ok for r in reports],
                 "stored": sum(r.rows_stored for r in reports if r.ok),
                 "errors": errors[["file", "reason", "how_to_fix"]].astype(str).to_dict("records")}}
    return run

# warm up every path on genuine files, so the measurements below see no first-use imports
warm = [cli("import", "auto", paths["ok.zip"])(), page("ok.zip")()]
assert warm[0]["exit"] == 0 and all(warm[1]["ok"]), warm
pd_frame = __import__("pandas").DataFrame({{"school_id": ["0103"], "school_name": ["Grant"]}})
for name, write in (("schools.xlsx", pd_frame.to_excel), ("schools.parquet", pd_frame.to_parquet)):
    write(Path(paths["ok.zip"]).parent / name, index=False)
    assert cli("import", "schools", str(Path(paths["ok.zip"]).parent / name))()["exit"] == 0
    files = [data.UploadFile(name, (Path(paths["ok.zip"]).parent / name).read_bytes())]
    assert not uploads.preview_upload(files)[0].problem and all(r.ok for r in uploads.import_upload(engine, files, director))
counts, versions = data.table_counts(engine), data.data_versions(engine)

result = {{}}
for kind, name in (("auto", "bomb.zip"), ("usage", "bomb.zip"), ("auto", "forged_small.zip"),
                   ("auto", "forged_at_ratio.zip"), ("usage", "usage.xlsx"), ("usage", "usage.parquet"),
                   ("oneroster", "oneroster.zip"), ("learnplatform", "learnplatform.zip")):
    result[f"cli {{kind}} {{name}}"] = measure(cli("import", kind, paths[name]))
for name in ("bomb.zip", "forged_small.zip", "forged_at_ratio.zip", "usage.xlsx", "usage.parquet",
             "oneroster.zip", "learnplatform.zip"):
    result[f"page {{name}}"] = measure(page(name))
result["unchanged"] = data.table_counts(engine) == counts and data.data_versions(engine) == versions
"""


@pytest.fixture(scope="module")
def measured(bombs, tmp_path_factory: pytest.TempPathFactory) -> dict:
    db = tmp_path_factory.mktemp("bombdb") / "bomb.db"
    code = CHILD.format(url=f"sqlite:///{db}", paths={name: str(p) for name, p in bombs.items()})
    result = run_measuring_child(code, timeout=300)
    assert isinstance(result, dict)
    print(json.dumps({k: {"rise_mb": v["rise_mb"], "peak_mb": v["peak_mb"]} for k, v in result.items()
                      if isinstance(v, dict)}, indent=1))
    return result


def _cases(measured: dict, prefix: str) -> dict:
    return {k: v for k, v in measured.items() if k.startswith(prefix)}


def test_cli_refuses_every_bomb_with_exit_3(measured):
    cases = _cases(measured, "cli ")
    assert len(cases) == 8
    for label, case in cases.items():
        assert case["value"]["exit"] == 3, (label, case["value"]["stderr"])
        assert "rejected" in case["value"]["stderr"] or "—" in case["value"]["stderr"], label
    assert "zip bomb" in measured["cli auto bomb.zip"]["value"]["stderr"]
    assert "forged" in measured["cli auto forged_small.zip"]["value"]["stderr"]
    assert "forged" in measured["cli auto forged_at_ratio.zip"]["value"]["stderr"]


def test_data_page_refuses_every_bomb_with_an_error_row(measured):
    cases = _cases(measured, "page ")
    assert len(cases) == 7
    for label, case in cases.items():
        value = case["value"]
        assert value["problems"] and all(value["problems"]), (label, value)  # the preview says so, before Import
        assert value["ok"] and not any(value["ok"]) and value["stored"] == 0, (label, value)
        for row in value["errors"]:
            assert row["file"] and row["reason"] and row["how_to_fix"], (label, row)
    bomb = measured["page bomb.zip"]["value"]["errors"][0]
    assert bomb["file"] == "bomb.zip" and "zip bomb" in bomb["reason"] and "unzip" in bomb["how_to_fix"]


def test_nothing_is_written(measured):
    assert measured["unchanged"] is True


def test_memory_rises_at_most_50_mb(measured):
    rises = {label: case["rise_mb"] for label, case in measured.items() if isinstance(case, dict)}
    assert len(rises) == 15
    over = {label: rise for label, rise in rises.items() if rise > RISE_LIMIT_MB}
    assert not over, over


# --------------------------------------------------------------------------- the checks themselves
def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def test_actual_bytes_are_counted_whatever_the_reader_does(monkeypatch: pytest.MonkeyPatch):
    """If a reader ignored the declared size and kept inflating, the count still stops at the limit."""
    reads = []

    class Endless(io.RawIOBase):
        def read(self, n: int = -1) -> bytes:
            reads.append(n)
            return b"0" * n

    data = _zip({"usage.csv": b"student_id\n1\n"})
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: Endless())
    limit = 8 * MB
    with pytest.raises(formats.ArchiveRefused, match="more than"):
        formats.read_zip_members(data, limit=limit)
    assert sum(reads) <= 2 * formats.ZIP_READ_BLOCK  # stopped past the declared 13 bytes, not at the limit
    reads.clear()

    def declare_just_under_the_limit(info: zipfile.ZipInfo) -> bool:
        info.file_size = limit - 1
        return True

    with pytest.raises(formats.ArchiveRefused, match="more than"):
        formats.read_zip_members(data, limit=limit, wanted=declare_just_under_the_limit)
    assert limit <= sum(reads) <= limit + formats.ZIP_READ_BLOCK


def test_genuine_archives_still_read():
    repetitive = b"student_id,tool_id\n" + b"000101,T01\n" * 400_000  # 4 MB at > 100:1: under the ratio floor
    members = formats.read_zip_members(_zip({"usage.csv": repetitive, "schools.csv": b"school_id\n0101\n"}))
    assert dict(members)["usage.csv"] == repetitive
    stored = formats.read_zip_members(_zip({"a.csv": b"x\n1\n"}, zipfile.ZIP_STORED))
    assert stored == [("a.csv", b"x\n1\n")]


def test_unbounded_methods_encryption_and_limits_are_refused(monkeypatch: pytest.MonkeyPatch):
    with pytest.raises(formats.ArchiveRefused, match="standard"):  # bzip2 inflates a whole read at once
        formats.read_zip_members(_zip({"a.csv": b"x\n1\n"}, zipfile.ZIP_BZIP2))
    encrypted = bytearray(_zip({"a.csv": b"x\n1\n"}))
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = encrypted.index(signature) + flag_at
        encrypted[at] |= 0x1
    with pytest.raises(formats.ArchiveRefused, match="encrypted"):
        formats.read_zip_members(bytes(encrypted))
    monkeypatch.setattr(config, "UPLOAD_LIMIT_MB", 1)
    with pytest.raises(formats.ArchiveRefused, match="over the limit"):
        formats.read_zip_members(_zip({"a.csv": b"x\n" + bytes(range(256)) * 3000, "b.csv": b"y\n" * 400_000}))
    with pytest.raises(formats.ArchiveRefused, match="not a readable zip"):
        formats.read_zip_members(b"PK\x03\x04 truncated")
