"""`python -m edtech bench`: speed and memory figures (targets live here, not in timed tests)."""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from edtech.store import data


def write_usage_file(path: Path, student_ids: list[str], tool_ids: list[str], n_rows: int, seed: int = 7) -> None:
    """Daily usage events as an export gives them: each student × tool pair logs on a run of
    school days (so weekly storage folds about five rows into one), written in blocks."""
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


def _import_in_child(db_url: str, path: Path) -> dict:
    """Import in a fresh process so its peak memory is the import's own."""
    code = (
        "import json, resource, time, sys\n"
        "from edtech.store import data\n"
        f"e = data.make_engine({db_url!r})\n"
        "t = time.perf_counter()\n"
        f"r = data.import_file(e, 'usage', {str(path)!r})\n"
        "s = time.perf_counter() - t\n"
        "print(json.dumps({'ok': r.ok, 'rows_read': r.rows_read, 'rows_stored': r.rows_stored, 'seconds': s,"
        " 'peak_rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_import(n_rows: int = 2_000_000) -> dict:
    """Throughput (rows/s end to end) and peak memory for a usage file of n_rows, and for n_rows/4
    to show that memory does not grow with the file size."""
    from edtech.services.dataset import load_sample_district

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for rows in (n_rows // 4, n_rows):
            db_url = f"sqlite:///{tmp_path / f'bench_{rows}.db'}"
            engine = data.make_engine(db_url)
            load_sample_district(engine)
            students = data.read_table(engine, "students")["student_id"].tolist()
            tools = data.read_table(engine, "tools")["tool_id"].tolist()
            engine.dispose()
            path = tmp_path / f"usage_{rows}.csv"
            write_usage_file(path, students, tools, rows)
            child = _import_in_child(db_url, path)
            child["file_mb"] = round(path.stat().st_size / 1e6, 1)
            child["rows_per_s"] = round(child["rows_read"] / child["seconds"])
            results[f"import_{rows}_rows"] = child
    return results


BENCH_HOOKS = [  # (module, function, label): capabilities add their own figures
    ("edtech.services.roi", "bench_roi", "roi"),
    ("edtech.services.adoption", "bench_adoption", "adoption"),
    ("edtech.services.risk", "bench_risk", "risk"),
    ("edtech.services.risk", "bench_risk_evaluate", "risk_evaluate"),
    ("edtech.services.budget", "bench_budget", "budget"),
    ("edtech.services.report", "bench_report", "report"),
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


