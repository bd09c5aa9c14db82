"""Benchmark ``kseg batch`` over a series of snapshots: locally and on a local Dask cluster.

Builds a series of N demo snapshots of F flow records each (D distinct generated days; the
other snapshot folders are hard-linked copies of them, so generation stays cheap while every
snapshot is analysed from scratch), then runs the real command line three or more times:

- ``kseg batch SNAP... --out local.parquet``            (one process, polars streaming)
- ``kseg batch SNAP... --out dask-N.parquet --workers N`` for N in --workers (LocalCluster)

and reports wall time, throughput (flow records per second), the peak resident memory of the
kseg process and of each Dask worker process (sampled with psutil from outside), the scaling
from 1 to 2 workers, and whether every run produced the identical summary table.

    python benchmarks/bench_batch.py                 # 30 snapshots x 100k records
    python benchmarks/bench_batch.py --quick         # 6 snapshots x 20k records
    python benchmarks/bench_batch.py --snapshots 30 --flows 2000000   # the full-size run
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import polars as pl
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_series(folder: Path, snapshots: int, flows: int, days: int) -> list[Path]:
    """Generate ``days`` demo days (cached in ``folder``) and hard-link ``snapshots`` copies."""
    from toolkit.demo import DemoConfig, write_series

    base = folder / f"base-{days}x{flows}"
    if not all((base / f"demo-day{d}" / "manifest.json").exists() for d in range(1, days + 1)):
        shutil.rmtree(base, ignore_errors=True)
        t = time.perf_counter()
        write_series(DemoConfig(seed=7, days=days, flows_per_day=flows), base)
        print(f"generated {days} day(s) x {flows:,} records in {time.perf_counter() - t:.0f} s")
    series = folder / f"series-{snapshots}x{flows}"
    shutil.rmtree(series, ignore_errors=True)
    paths = []
    for i in range(snapshots):
        target = series / f"snap-{i:03d}"
        shutil.copytree(base / f"demo-day{i % days + 1}", target, copy_function=os.link)
        paths.append(target)
    return paths


def run_measured(cmd: list[str]) -> dict:
    """Run ``cmd``; sample the RSS of it and its child processes every 0.1 s."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    stop = threading.Event()

    def sample() -> None:
        root = psutil.Process(proc.pid)
        while not stop.is_set():
            try:
                for p in [root, *root.children(recursive=True)]:
                    peaks[p.pid] = max(peaks.get(p.pid, 0), p.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    thread.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # kseg + its (waited) workers
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    stop.set()
    thread.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} ... failed ({proc.returncode}): {err[-2000:]}")
    main = peaks.pop(proc.pid, 0)
    children = sorted(peaks.values(), reverse=True)
    return {"wall": wall, "cpu": cpu, "main_mb": main / 2**20,
            "children_mb": [c / 2**20 for c in children]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--snapshots", type=int, default=30)
    parser.add_argument("--flows", type=int, default=100_000, help="records per snapshot")
    parser.add_argument("--days", type=int, default=3, help="distinct generated days")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--folder", default="/tmp/kseg-bench-batch")
    parser.add_argument("--quick", action="store_true", help="6 snapshots x 20k records")
    args = parser.parse_args()
    if args.quick:
        args.snapshots, args.flows = 6, 20_000
    folder = Path(args.folder)
    paths = build_series(folder, args.snapshots, args.flows, args.days)
    from toolkit.snapshot import load_snapshot

    total = sum(load_snapshot(p).manifest["flows"]["rows"] for p in paths)
    print(f"{len(paths)} snapshots, {total:,} flow records; machine: {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 2**30:.0f} GiB, {platform.python_version()}, "
          f"polars {pl.__version__}; load average {os.getloadavg()[0]:.1f}")
    kseg = [sys.executable, "-m", "toolkit", "batch", *map(str, paths)]
    runs = [("local", [])] + [(f"dask {n} worker(s)", ["--workers", str(n)])
                              for n in args.workers]
    results, frames = [], {}
    for name, extra in runs:
        out = folder / f"{name.split()[0]}-{extra[-1] if extra else 0}.parquet"
        r = run_measured([*kseg, "--out", str(out), *extra])
        frames[name] = pl.read_parquet(out)
        results.append((name, r))
        workers = ", ".join(f"{m:,.0f}" for m in r["children_mb"][: int(extra[-1])]) \
            if extra else "-"
        print(f"{name:18s} {r['wall']:7.1f} s wall {r['cpu']:7.1f} s cpu  "
              f"{total / r['wall']:>9,.0f} records/s  {total / r['cpu']:>9,.0f} records/cpu-s  "
              f"kseg process peak {r['main_mb']:,.0f} MB  worker peaks [{workers}] MB")
    first = next(iter(frames.values()))
    same = all(f.drop("snapshot").equals(first.drop("snapshot")) and
               f["snapshot"].to_list() == first["snapshot"].to_list() for f in frames.values())
    print(f"identical summary tables across runs: {same}")
    walls = {n: r["wall"] for n, r in results}
    if "dask 1 worker(s)" in walls and "dask 2 worker(s)" in walls:
        one, two = walls["dask 1 worker(s)"], walls["dask 2 worker(s)"]
        print(f"scaling 1 -> 2 workers: {one / two:.2f}x; 2 workers vs local: "
              f"{walls['local'] / two:.2f}x")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
