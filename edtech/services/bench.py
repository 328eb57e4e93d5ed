"""`python -m edtech bench`: speed and memory figures (targets live here, not in timed tests)."""

from __future__ import annotations

import functools
import importlib
import json
import resource
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from edtech.core import config
from edtech.store import data

MB = 1 << 20


def write_usage_file(path: Path, student_ids: list[str], tool_ids: list[str], n_rows: int, seed: int = 7) -> None:
    """The friendly shape: daily usage as an export gives it, each student × tool pair logging on a run
    of school days (so about five rows fold into a week), written in blocks."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2025-08-18", "2026-06-05").strftime("%Y-%m-%d").to_numpy()
    run = 60  # school days per student × tool pair
    block_pairs = 10_000
    with path.open("w") as fh:
        fh.write("student_id,tool_id,date,minutes\n")
        written = 0
        while written < n_rows:
            pairs = min(block_pairs, -(-(n_rows - written) // run))
            start = rng.integers(0, len(days) - run, pairs)
            frame = pd.DataFrame({
                "student_id": np.repeat(rng.choice(student_ids, pairs), run),
                "tool_id": np.repeat(rng.choice(tool_ids, pairs), run),
                "date": days[(start[:, None] + np.arange(run)).ravel()],
                "minutes": rng.integers(1, 60, pairs * run),
            }).head(n_rows - written)
            frame.to_csv(fh, header=False, index=False)
            written += len(frame)


def write_random_usage_file(path: Path, student_ids: list[str], tool_ids: list[str], n_rows: int,
                            seed: int = 11) -> None:
    """The unfriendly shape (issue 13): every row's student, tool and school day drawn at random, so
    almost nothing folds into a week and neighbouring rows are far apart in the table's key."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2025-08-18", "2026-06-05").strftime("%Y-%m-%d").to_numpy()
    students, tools = np.asarray(student_ids, dtype=object), np.asarray(tool_ids, dtype=object)
    block = 200_000
    with path.open("w") as fh:
        fh.write("student_id,tool_id,date,minutes\n")
        for start in range(0, n_rows, block):
            n = min(block, n_rows - start)
            pd.DataFrame({"student_id": rng.choice(students, n), "tool_id": rng.choice(tools, n),
                          "date": rng.choice(days, n), "minutes": rng.integers(1, 60, n)},
                         ).to_csv(fh, header=False, index=False)


USAGE_SHAPES = {"bench_shape": write_usage_file, "random_shape": write_random_usage_file}


# A child's peak memory: VmHWM belongs to the process image, so unlike ru_maxrss (kept across exec,
# so at least the parent's size at fork) it is the child's own.
_PEAK_MB = ("def peak_mb():\n"
            "    import resource\n"
            "    try:\n"
            "        with open('/proc/self/status') as fh:\n"
            "            return next(int(x.split()[1]) for x in fh if x.startswith('VmHWM:')) / 1024\n"
            "    except OSError:\n"
            "        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n")


def _import_in_child(db_url: str, path: Path) -> dict:
    """Import in a fresh process so its peak memory is the import's own."""
    code = (
        _PEAK_MB +
        "import json, time, sys\n"
        "from edtech.store import data\n"
        f"e = data.make_engine({db_url!r})\n"
        "t = time.perf_counter()\n"
        f"r = data.import_file(e, 'usage', {str(path)!r})\n"
        "s = time.perf_counter() - t\n"
        "print(json.dumps({'ok': r.ok, 'rows_read': r.rows_read, 'rows_stored': r.rows_stored, 'seconds': s,"
        " 'notes': r.notes, 'peak_rss_mb': peak_mb()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=config.ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


# The floor an import is measured against, in a fresh process on a copy of the same database: pandas
# parses the file, sums it to weekly rows, and a raw executemany upserts them sorted (minutes and
# sessions only), with the app's SQLite settings. No checks, no days, no line numbers.
_FLOOR_CODE = _PEAK_MB + """
import json, sqlite3, sys, time
import pandas as pd
db, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
frame = pd.read_csv(path, dtype={"student_id": str, "tool_id": str, "date": str, "minutes": "float64"})
day = pd.to_datetime(frame["date"], format="%Y-%m-%d")
frame["week_start"] = (day - pd.to_timedelta(day.dt.day_of_week, unit="D")).dt.strftime("%Y-%m-%d")
frame["sessions"] = (frame["minutes"] > 0).astype("int64")
weekly = (frame.groupby(["student_id", "tool_id", "week_start"], sort=True)
          .agg(minutes=("minutes", "sum"), sessions=("sessions", "sum")).reset_index())
parsed = time.perf_counter()
con = sqlite3.connect(db, timeout=30)
for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "temp_store=MEMORY", "cache_size=-32000"):
    con.execute("PRAGMA " + pragma)
rows = list(zip(weekly["student_id"].tolist(), weekly["tool_id"].tolist(), weekly["week_start"].tolist(),
                weekly["minutes"].tolist(), weekly["sessions"].tolist()))
con.executemany("INSERT INTO usage (student_id, tool_id, week_start, minutes, sessions) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (student_id, tool_id, week_start) DO UPDATE SET minutes = excluded.minutes, "
                "sessions = excluded.sessions", rows)
con.commit()
con.close()
done = time.perf_counter()
print(json.dumps({"seconds": done - started, "parse_aggregate_s": parsed - started, "upsert_s": done - parsed,
                  "weekly_rows": len(weekly), "peak_rss_mb": peak_mb()}))
"""


def _floor_in_child(db_path: Path, path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", _FLOOR_CODE, str(db_path), str(path)], capture_output=True,
                         text=True, check=True, cwd=config.ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_import(n_rows: int = 2_000_000) -> dict:
    """Usage import of n_rows in each file shape (`bench_shape`: runs of school days per student ×
    tool, which fold about five rows into a week; `random_shape`: nothing folds), into a copy of the
    sample district: rows/s end to end and peak memory, beside the floor measured in the same run
    (`ratio` = import / floor; the aim is at most 1.5), and the same for n_rows/4 to show that memory
    does not grow with the file."""
    import shutil

    from edtech.services.dataset import load_sample_district

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        base = tmp_path / "base.db"
        engine = data.make_engine(f"sqlite:///{base}")
        load_sample_district(engine)
        students = data.read_table(engine, "students")["student_id"].tolist()
        tools = data.read_table(engine, "tools")["tool_id"].tolist()
        engine.dispose()  # the last connection checkpoints the WAL: the file alone is the database
        for shape, write in USAGE_SHAPES.items():
            figures: dict = {}
            for rows in (n_rows, n_rows // 4):
                path = tmp_path / f"{shape}_{rows}.csv"
                write(path, students, tools, rows)
                import_db, floor_db = tmp_path / "import.db", tmp_path / "floor.db"
                shutil.copy(base, import_db)
                shutil.copy(base, floor_db)
                child = _import_in_child(f"sqlite:///{import_db}", path)
                floor = _floor_in_child(floor_db, path)
                entry = {"rows": rows, "file_mb": round(path.stat().st_size / 1e6, 1), "ok": child["ok"],
                         "seconds": round(child["seconds"], 2),
                         "rows_per_s": round(child["rows_read"] / child["seconds"]),
                         "peak_rss_mb": round(child["peak_rss_mb"]), "weekly_rows_stored": child["rows_stored"],
                         "notes": child["notes"], "floor_s": round(floor["seconds"], 2),
                         "floor_parse_aggregate_s": round(floor["parse_aggregate_s"], 2),
                         "floor_upsert_s": round(floor["upsert_s"], 2),
                         "floor_peak_rss_mb": round(floor["peak_rss_mb"]),
                         "ratio": round(child["seconds"] / floor["seconds"], 2)}
                for leftover in (path, import_db, floor_db):
                    leftover.unlink()
                if rows == n_rows:
                    figures.update(entry)
                else:
                    figures["quarter_file"] = entry
            results[shape] = figures
    return results


# --------------------------------------------------------------------------- zip bombs (issue 12)
@dataclass
class ZipMember:
    """A zip member written without ever being held: `head`, `unit` `repeats` times, then `tail`.
    `declared_size` / `declared_packed` forge the sizes its headers state (a bomb that under-declares)."""

    name: str
    head: bytes = b""
    unit: bytes = b""
    repeats: int = 0
    tail: bytes = b""
    declared_size: int | None = None
    declared_packed: int | None = None


def _deflate_piece(piece: bytes) -> bytes:
    # a full flush ends the piece on a byte boundary with no history, so copies chain into one valid stream
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(piece) + compressor.flush(zlib.Z_FULL_FLUSH)


@functools.lru_cache(maxsize=4)
def _member_crc(head: bytes, unit: bytes, repeats: int, tail: bytes) -> int:
    # the one pass over the whole member (a second per GB): bombs that differ only in their headers share it
    crc = zlib.crc32(head)
    for _ in range(repeats):
        crc = zlib.crc32(unit, crc)
    return zlib.crc32(tail, crc)


def write_zip(path: Path, members: list[ZipMember]) -> None:
    """A deflate zip whose members may be far bigger than memory: each piece is compressed once and its
    bytes repeated, so a 1 GB member of one repeated 1 MB block takes a second and a few MB to write."""
    central = []
    with path.open("wb") as fh:
        for m in members:
            name = m.name.encode()
            size = len(m.head) + len(m.unit) * m.repeats + len(m.tail)
            crc = _member_crc(m.head, m.unit, m.repeats, m.tail)
            head, unit, tail = _deflate_piece(m.head), _deflate_piece(m.unit), _deflate_piece(m.tail) + b"\x03\x00"
            packed = len(head) + len(unit) * m.repeats + len(tail)
            if size >= 1 << 32 or packed >= 1 << 32:
                raise ValueError("members of 4 GB or more need zip64, which this writer does not do")
            declared = (m.declared_packed if m.declared_packed is not None else packed,
                        m.declared_size if m.declared_size is not None else size)
            offset = fh.tell()
            fh.write(struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 33, crc, *declared, len(name), 0) + name)
            fh.write(head)
            for _ in range(m.repeats):
                fh.write(unit)
            fh.write(tail)
            central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, 8, 0, 33, crc, *declared,
                                       len(name), 0, 0, 0, 0, 0, offset) + name)
        directory = b"".join(central)
        start = fh.tell()
        fh.write(directory)
        fh.write(struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), start, 0))


def csv_bomb_member(name: str = "usage.csv", member_mb: int = 1024, **declared: int) -> ZipMember:
    """A usage CSV of `member_mb` MB: the header, then lines of "0" (1 GB deflates to about 1 MB)."""
    unit = b"0\n" * (MB // 2)
    return ZipMember(name, head=b"student_id,tool_id,date,minutes\n", unit=unit, repeats=member_mb * MB // len(unit),
                     **declared)


_MEASURING_CHILD = """
import json

def _kb(key):
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(key + ":"))

def measure(action):
    \"\"\"Run action(); the rise of this process's peak RSS during it over its RSS just before, in MB.\"\"\"
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak (VmHWM) to the current RSS
    except OSError:
        pass  # the earlier peak stays in: the rise can only be overstated
    before = _kb("VmRSS")
    value = action()
    peak = _kb("VmHWM")
    return {"rss_before_mb": round(before / 1024, 1), "peak_mb": round(peak / 1024, 1),
            "rise_mb": round((peak - before) / 1024, 1), "value": value}

"""


def run_measuring_child(code: str, timeout: float = 600, data_cap_mb: int = 3072) -> object:
    """Run `code` in a fresh Python (so other work does not disturb its memory) with `measure(action)`
    defined; `code` sets `result` (anything JSON), which is returned. Linux only (/proc).

    The child's data segment is capped (`data_cap_mb`; about 1.3 GB of it is address space pyarrow
    reserves at import) so that a regression ends in a MemoryError, not in the machine's OOM killer."""
    script = _MEASURING_CHILD + code + "\nprint(json.dumps(result))\n"

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_cap_mb * MB, data_cap_mb * MB))

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                         cwd=config.ROOT, preexec_fn=cap)
    if out.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_zip_bomb(member_mb: int = 1024) -> dict:
    """A ~1 MB zip holding a 1 GB CSV, uploaded as the Data page does (preview, then import): refused,
    and the peak memory rise over the level just before the upload (target: at most 50 MB)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bomb.zip"
        write_zip(path, [csv_bomb_member(member_mb=member_mb)])
        db_url = f"sqlite:///{Path(tmp) / 'bomb.db'}"
        started = time.perf_counter()
        figures = run_measuring_child(
            "from pathlib import Path\n"
            "from edtech.services import uploads\n"
            "from edtech.store import data\n"
            f"engine = data.make_engine({db_url!r})\n"
            "data.init_db(engine)\n"
            f"blob = Path({str(path)!r}).read_bytes()\n"
            "def upload():\n"
            "    files = [data.UploadFile('bomb.zip', blob)]\n"
            "    problems = [p.problem for p in uploads.preview_upload(files)]\n"
            "    reports = data.import_upload(engine, files)\n"
            "    return {'refused': bool(problems[0]) and not any(r.ok for r in reports),\n"
            "            'rows_stored': sum(r.rows_stored for r in reports)}\n"
            "result = measure(upload)\n")
        figures.update(zip_mb=round(path.stat().st_size / 1e6, 2), member_mb=member_mb,
                       seconds=round(time.perf_counter() - started, 1))
    return figures


# --------------------------------------------------------------------------- scale (issue 15)
# Every page of the app, opened as the app opens it (AppTest, signed in as a director): cold = the first
# run in a new process (empty in-process caches; the database's summaries present and a model published),
# warm = the same page again in that process. A page = what renders on open, without exports.
SCALE_SEED = 2025
BENCH_ACCOUNT = "bench-director@bench.example"


def app_pages() -> list[str]:
    """The `app_pages` file stems (the JSON keys of the page figures)."""
    return sorted(p.stem for p in (config.ROOT / "app_pages").glob("*.py") if not p.stem.startswith("_"))


def _secret_key() -> dict[str, str]:
    """The signing key of every bench process: the model `_train` signs must verify in the page runs."""
    import os

    return {"EDTECH_SECRET_KEY": os.environ.get("EDTECH_SECRET_KEY", "bench-secret-key")}


def _child(code: str, timeout: float = 7200, env: dict[str, str] | None = None) -> dict:
    """Run `code` in a fresh Python at the project root; its last stdout line is JSON."""
    import os

    script = _PEAK_MB + code
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                         cwd=config.ROOT, env={**os.environ, **_secret_key(), **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"a bench process failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _generate_files(n_students: int, folder: Path) -> dict:
    """A generated district of n_students as contract CSV files (in a child: its memory is freed)."""
    return _child(
        "import json, time\n"
        "from pathlib import Path\n"
        "from edtech.ingest import contract as ct\n"
        "from edtech.sample import generate as samples\n"
        "t = time.perf_counter()\n"
        f"district = samples.generate_district(n_students={n_students}, seed={SCALE_SEED}).district\n"
        "rows = {}\n"
        # one table's text alive at a time: all of them at once is about 10 GB at 500,000 students
        "for kind in sorted(samples.CSV_TABLES.values(), key=lambda k: ct.TABLES[k].order):\n"
        "    frame = samples.to_contract_frame(district, kind)\n"
        f"    frame.to_csv(Path({str(folder)!r}) / f'{{ct.TABLES[kind].order:02d}}_{{kind}}.csv', index=False)\n"
        "    rows[kind] = len(frame)\n"
        "    del frame\n"
        "print(json.dumps({'rows': rows, 'seconds': time.perf_counter() - t, 'peak_rss_mb': peak_mb()}))\n")


def _import_files(db_url: str, folder: Path) -> dict:
    """Every CSV through the real importer (what `python -m edtech import` runs), one file per
    transaction with its summaries; then a director account for the page runs."""
    return _child(
        "import datetime as dt, json, time\n"
        "from pathlib import Path\n"
        "from sqlmodel import Session\n"
        "from edtech.store import data\n"
        "from edtech.store.models import Account\n"
        f"engine = data.make_engine({db_url!r})\n"
        "data.init_db(engine)\n"
        "rows, per_file, started, cpu = 0, {}, time.perf_counter(), time.process_time()\n"
        f"for path in sorted(Path({str(folder)!r}).glob('*.csv')):\n"
        "    kind = path.stem.split('_', 1)[1]\n"
        "    t = time.perf_counter()\n"
        "    report = data.import_file(engine, kind, path, user='bench')\n"
        "    if not report.ok:\n"
        "        raise SystemExit(f'{kind}: ' + '; '.join(report.error_lines()[:5]))\n"
        "    rows += report.rows_read\n"
        "    per_file[kind] = {'rows': report.rows_read, 'stored': report.rows_stored,"
        " 'seconds': round(time.perf_counter() - t, 2)}\n"
        "seconds, cpu = time.perf_counter() - started, time.process_time() - cpu\n"
        "with Session(engine) as session:\n"
        f"    if session.get(Account, {BENCH_ACCOUNT!r}) is None:\n"
        "        now = dt.datetime.now(dt.UTC)\n"
        f"        session.add(Account(email={BENCH_ACCOUNT!r}, name='Bench director', role='director',"
        " created_at=now, updated_at=now, schools=''))\n"
        "        session.commit()\n"
        "print(json.dumps({'seconds': seconds, 'cpu_s': cpu, 'rows': rows, 'files': per_file,"
        " 'peak_rss_mb': peak_mb()}))\n")


def _train(db_url: str) -> dict:
    """Train and publish the district's at-risk model (cold pages find a model already published)."""
    return _child(
        "import json, time\n"
        "from edtech.services import risk, workspace\n"
        f"engine = workspace.open_engine({db_url!r})\n"
        "t = time.perf_counter()\n"
        "risk.train_and_publish(engine, workspace.Workspace(engine).whole)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_rss_mb': peak_mb()}))\n")


def _store_analysis(db_url: str) -> dict:
    """The first use after an import: compute the district-wide parts (ROI analysis, adoption, at-risk
    scores…; `services.precompute`) and store them (summary_parts); what the first page open after an
    import pays, reported apart from the cold page times."""
    return _child(
        "import json, time\n"
        "from edtech.services import precompute, workspace\n"
        f"engine = workspace.open_engine({db_url!r})\n"
        "t, c = time.perf_counter(), time.process_time()\n"
        "parts = precompute.precompute(engine)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'cpu_s': time.process_time() - c,"
        " 'parts': parts, 'peak_rss_mb': peak_mb()}))\n")


_PAGE_CODE = """
import json, os, sys, time
from streamlit.testing.v1 import AppTest
import plotly.graph_objects, sklearn.ensemble  # noqa: F401 - a running server has its modules loaded
import ui.cache  # noqa: F401
import streamlit as st
pages, account, app, separate = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4] == "1"
result = {}
for page in pages:
    if separate:
        # every page cold: the in-process caches emptied and the peak reset before it (module imports,
        # a process cost, stay: a server has them loaded)
        st.cache_data.clear()
        st.cache_resource.clear()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            pass
    at = AppTest.from_file(app, default_timeout=3600)
    at.user = {"is_logged_in": True, "email": account, "name": "Bench director", "iss": "bench", "sub": account}
    at.switch_page(f"app_pages/{page}.py")
    t, c = time.perf_counter(), time.process_time()
    at.run()
    cold, cold_cpu = time.perf_counter() - t, time.process_time() - c
    if at.exception:  # recorded, not fatal: the other pages are still measured
        result[page] = {"error": str(at.exception)[:2000]}
        continue
    # an error box (no account, no access, no data) is a page that did not do its work: never a figure
    shown = [str(e.value)[:300] for e in at.error]
    if shown:
        result[page] = {"error": "the page showed: " + " | ".join(shown)}
        continue
    # warm: the median of three reruns (an occasional full garbage collection adds ~0.2 s to one rerun in
    # several; its cost is reported apart as warm_cpu_max_s)
    reruns = []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        at.run()
        reruns.append((time.perf_counter() - t, time.process_time() - c))
    warm, warm_cpu = sorted(r[0] for r in reruns)[1], sorted(r[1] for r in reruns)[1]
    warm_cpu_max = max(r[1] for r in reruns)
    # CPU seconds of this process beside the wall clock: on a shared machine the wall clock also
    # counts the time spent waiting for a core (the database server's own CPU is not in them)
    result[page] = {"cold_s": round(cold, 3), "warm_s": round(warm, 3), "cold_cpu_s": round(cold_cpu, 3),
                    "warm_cpu_s": round(warm_cpu, 3), "warm_cpu_max_s": round(warm_cpu_max, 3),
                    "peak_rss_mb": round(peak_mb())}
result["peak_rss_mb"] = round(peak_mb())
print(json.dumps(result))
"""


def _open_pages(db_url: str, pages: list[str], separate: bool = False) -> dict:
    """Open `pages` one after another in one new process: with `separate`, each page cold (in-process
    caches emptied and the peak memory reset before it), else the caches kept (a server that has shown
    every page)."""
    return _child_args(_PAGE_CODE, [json.dumps(pages), BENCH_ACCOUNT, str(config.ROOT / "app.py"),
                                    "1" if separate else "0"], env={"EDTECH_DATABASE_URL": db_url})


def _child_args(code: str, args: list[str], env: dict[str, str] | None = None, timeout: float = 7200) -> dict:
    import os

    out = subprocess.run([sys.executable, "-c", _PEAK_MB + code, *args], capture_output=True, text=True,
                         timeout=timeout, cwd=config.ROOT,
                         env={**os.environ, **_secret_key(), **(env or {})})
    if out.returncode != 0:
        raise RuntimeError(f"a bench process failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class ThrowawayPostgres:
    """A PostgreSQL server in a temp directory (initdb/pg_ctl of Debian's postgresql package, as the tests
    start one: durability off, socket in the directory; as root the commands run as `postgres`)."""

    def __init__(self) -> None:
        import glob
        import os
        import shutil
        import socket

        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda b: int(b.split("/")[-2].split(".")[0]))
        if not bins:
            raise RuntimeError("no PostgreSQL server binaries: apt-get install postgresql, or pass --pg-url")
        self.pgbin = bins[-1]
        self.tmp = tempfile.mkdtemp(prefix="edtech-bench-pg.")
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(self.tmp, "postgres", "postgres")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        data_dir = f"{self.tmp}/data"
        self._run(f"{self.pgbin}/initdb", "-D", data_dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self._run(f"{self.pgbin}/pg_ctl", "-D", data_dir, "-l", f"{self.tmp}/server.log", "-w", "-t", "60", "-o",
                  f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.tmp} -c fsync=off "
                  "-c synchronous_commit=off -c full_page_writes=off -c shared_buffers=256MB "
                  "-c max_wal_size=4GB", "start")

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, text=True, timeout=120)

    def create_database(self, name: str) -> str:
        self._run(f"{self.pgbin}/createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name)
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        import shutil

        try:
            self._run(f"{self.pgbin}/pg_ctl", "-D", f"{self.tmp}/data", "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _fresh_pg_database(pg_url: str, name: str) -> str:
    """A new empty database `name` on the server of pg_url (dropped first if it exists)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(pg_url)
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _table_sizes(db_url: str) -> tuple[dict[str, int], dict[str, float]]:
    """Rows of the usage table and the summaries; on PostgreSQL also their size with indexes (MB)."""
    from sqlalchemy import text

    engine = data.make_engine(db_url)
    rows: dict[str, int] = {}
    sizes: dict[str, float] = {}
    try:
        with engine.connect() as conn:
            for table in ("usage", "summary_student_tool_year", "summary_school_tool_week", "summary_week",
                          "students", "assessments"):
                rows[table] = int(conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar())
                if data.is_postgres(conn):
                    sizes[table] = round(conn.execute(text(f"SELECT pg_total_relation_size('\"{table}\"')"))
                                         .scalar() / MB, 1)
    finally:
        engine.dispose()
    return rows, sizes


def bench_scale_one(n_students: int, backend: str, db_url: str, folder: Path, pages: list[str]) -> dict:
    """Import the generated files into db_url, train, then every page cold (own process) and warm."""
    imported = _import_files(db_url, folder)
    trained = _train(db_url)
    figures: dict = {"import_s": round(imported["seconds"], 2),
                     "import_rows_per_s": round(imported["rows"] / imported["seconds"]),
                     "import_rows": imported["rows"], "import_cpu_s": round(imported["cpu_s"], 2),
                     "import_peak_rss_mb": round(imported["peak_rss_mb"]),
                     "import_files": imported["files"], "train_s": round(trained["seconds"], 2), "pages": {}}
    stored = _store_analysis(db_url)
    figures["analysis_after_import"] = {k: (round(v, 2) if isinstance(v, float) else v) for k, v in stored.items()}
    figures["table_rows"], figures["table_mb"] = _table_sizes(db_url)
    # one process, every page cold in turn (a new process per page measured the same on a quiet machine
    # but costs the module imports nine times over on a shared one)
    opened = _open_pages(db_url, pages, separate=True)
    figures["pages"] = {page: opened.get(page, {"error": "not opened"}) for page in pages}
    # the server's memory after every page has been opened once (its caches hold them all)
    every = _open_pages(db_url, pages)
    figures["peak_rss_mb"] = every["peak_rss_mb"]
    figures["peak_rss_mb_one_page_max"] = max((p.get("peak_rss_mb", 0) for p in figures["pages"].values()), default=0)
    return figures


def bench_scale(sizes: list[int], pg_url: str | None = None, backends: tuple[str, ...] = ("sqlite", "postgresql"),
                pages: list[str] | None = None, files: Path | None = None) -> dict:
    """`scale.<N>.<sqlite|postgresql>`: generate, import through the importer, time every page (issue 15).
    `files`: keep the generated CSVs in files/<N> and reuse them in a later run (generation is not timed)."""
    pages = pages or app_pages()
    results: dict = {}
    server = None
    try:
        for n in sizes:
            results[str(n)] = {}
            with tempfile.TemporaryDirectory(prefix=f"edtech-scale-{n}.") as tmp:
                folder = (Path(files) / str(n)) if files else Path(tmp) / "files"
                if not (folder / "done.json").exists():
                    folder.mkdir(parents=True, exist_ok=True)
                    generated = _generate_files(n, folder)
                    (folder / "done.json").write_text(json.dumps(generated))
                generated = json.loads((folder / "done.json").read_text())
                results[str(n)]["generated_rows"] = generated["rows"]
                for backend in backends:
                    if backend == "sqlite":
                        url = f"sqlite:///{Path(tmp) / 'scale.db'}"
                    else:
                        if pg_url is None and server is None:
                            server = ThrowawayPostgres()
                        url = (_fresh_pg_database(pg_url, f"edtech_scale_{n}") if pg_url
                               else server.create_database(f"edtech_scale_{n}"))
                    results[str(n)][backend] = bench_scale_one(n, backend, url, folder, pages)
                    if backend == "sqlite":
                        results[str(n)][backend]["db_mb"] = round((Path(tmp) / "scale.db").stat().st_size / MB)
    finally:
        if server is not None:
            server.stop()
    return results


BENCH_HOOKS = [  # (module, function, label): capabilities add their own figures
    ("edtech.services.roi", "bench_roi", "roi"),
    ("edtech.services.adoption", "bench_adoption", "adoption"),
    ("edtech.services.risk", "bench_risk", "risk"),
    ("edtech.services.risk", "bench_risk_evaluate", "risk_evaluate"),
    ("edtech.services.budget", "bench_budget", "budget"),
    ("edtech.services.report", "bench_report", "report"),
    ("edtech.services.bench", "bench_zip_bomb", "zip_bomb"),
]


def run_bench(n_rows: int, students: int | list[int], only: set[str] | None = None, *, pg_url: str | None = None,
              backends: tuple[str, ...] = ("sqlite", "postgresql"), pages: list[str] | None = None,
              files: Path | None = None) -> dict:
    import os

    sizes = students if isinstance(students, list) else [students]
    students = sizes[0]
    report: dict = {"machine": {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                                "load_average_1m": round(os.getloadavg()[0], 2)}}
    started = time.perf_counter()
    if not only or "scale" in only:
        report["scale"] = bench_scale(sizes, pg_url, backends, pages, files)
    if not only or "import" in only:
        report["import"] = bench_import(n_rows)
    for module_name, func_name, label in BENCH_HOOKS:
        if only and label not in only:
            continue
        # a hook that names nothing is a bug in this table, not a capability to skip quietly
        func = getattr(importlib.import_module(module_name), func_name)
        kwargs = {"n_students": students} if "n_students" in func.__code__.co_varnames else {}
        report[label] = func(**kwargs)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    report["peak_rss_mb_this_process"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return report


