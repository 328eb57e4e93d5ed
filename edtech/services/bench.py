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


BENCH_HOOKS = [  # (module, function, label): capabilities add their own figures
    ("edtech.services.roi", "bench_roi", "roi"),
    ("edtech.services.adoption", "bench_adoption", "adoption"),
    ("edtech.services.risk", "bench_risk", "risk"),
    ("edtech.services.risk", "bench_risk_evaluate", "risk_evaluate"),
    ("edtech.services.budget", "bench_budget", "budget"),
    ("edtech.services.report", "bench_report", "report"),
    ("edtech.services.bench", "bench_zip_bomb", "zip_bomb"),
]


def run_bench(n_rows: int, students: int, only: set[str] | None = None) -> dict:
    report: dict = {"machine": {"python": sys.version.split()[0]}}
    started = time.perf_counter()
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


