"""Benchmark of the demo generator: time and peak memory per size.

Each size runs in a fresh subprocess (so peak RSS is that size's own) and measures:
generating one day in memory (``generate_snapshot``), writing it as a snapshot
(``write_snapshot``) and writing it as AWS VPC flow-log text (``write_aws_vpc_logs``).

    python benchmarks/bench_demo.py            # 1M and 10M records
    python benchmarks/bench_demo.py --quick    # 100k and 1M
    python benchmarks/bench_demo.py --sizes 200000 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _one(n: int, write: bool) -> dict:
    sys.path.insert(0, str(REPO))
    from toolkit.demo import DemoConfig, generate_snapshot, write_aws_vpc_logs
    from toolkit.snapshot import write_snapshot

    out: dict = {"records": n}
    t, c = time.perf_counter(), _cpu()
    snap = generate_snapshot(DemoConfig(seed=1, days=1, flows_per_day=n), 1)
    out["generate_s"] = time.perf_counter() - t
    out["generate_cpu_s"] = _cpu() - c
    out["rss_after_generate_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    if write:
        with tempfile.TemporaryDirectory() as tmp:
            t, c = time.perf_counter(), _cpu()
            write_snapshot(snap, Path(tmp) / "snap")
            out["write_snapshot_s"] = time.perf_counter() - t
            out["write_snapshot_cpu_s"] = _cpu() - c
            t, c = time.perf_counter(), _cpu()
            log = write_aws_vpc_logs(snap, Path(tmp) / "day1.log")
            out["write_aws_text_s"] = time.perf_counter() - t
            out["write_aws_text_cpu_s"] = _cpu() - c
            out["aws_text_mb"] = log.stat().st_size / 1e6
    out["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="sizes 100k and 1M")
    parser.add_argument("--sizes", type=int, nargs="*", help="record counts to run")
    parser.add_argument("--no-write", action="store_true", help="only time generation")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_one(args.child, not args.no_write)))
        return
    sizes = args.sizes or ([100_000, 1_000_000] if args.quick else [1_000_000, 10_000_000])
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}")
    rows = []
    for n in sizes:
        cmd = [sys.executable, __file__, "--child", str(n)] + (["--no-write"] if args.no_write
                                                                else [])
        rows.append(json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                              check=True).stdout))
        r = rows[-1]
        nan = float("nan")
        print(f"{n:>12,} records: generate {r['generate_s']:6.1f} s wall / "
              f"{r['generate_cpu_s']:6.1f} s CPU; write snapshot "
              f"{r.get('write_snapshot_s', nan):6.1f} s / {r.get('write_snapshot_cpu_s', nan):6.1f}"
              f" s CPU; AWS text {r.get('write_aws_text_s', nan):6.1f} s / "
              f"{r.get('write_aws_text_cpu_s', nan):6.1f} s CPU ({r.get('aws_text_mb', 0):,.0f} "
              f"MB); peak RSS {r['rss_after_generate_gib']:.2f} GiB after generating, "
              f"{r['peak_rss_gib']:.2f} GiB in all; load {os.getloadavg()[0]:.1f}")
    if len(rows) > 1:
        a, b = rows[0], rows[-1]
        print(f"growth x{b['records'] / a['records']:.0f} records: generate CPU time "
              f"x{b['generate_cpu_s'] / a['generate_cpu_s']:.1f}, peak RSS "
              f"x{b['peak_rss_gib'] / a['peak_rss_gib']:.1f}")


if __name__ == "__main__":
    main()
