"""Benchmark: importing AWS VPC flow logs into a snapshot, side by side with DuckDB and the
pyarrow CSV parse floor.

    python benchmarks/bench_flow_import.py            # 10M records (~1.2 GB), then 30M
    python benchmarks/bench_flow_import.py --quick    # 1M and 3M records
    python benchmarks/bench_flow_import.py --sizes 10000000

For every size it writes one text file of default-format (v2) records, then times, each in
a fresh subprocess (so peak RSS is per contender):

- ``kseg``: ``import_flows(..., "aws-vpc")`` into an empty snapshot (parse, normalise,
  canonicalise IPs, write zstd Parquet parts, commit);
- ``duckdb``: ``COPY (SELECT * FROM read_csv(...)) TO 'x.parquet'`` (typed columns);
- ``pyarrow``: ``pyarrow.csv.open_csv`` streaming over the file, nothing else (the floor).

The input is one day of the demo generator (``toolkit.demo.stream_aws_vpc_logs``, scale 36:
about 3,000 pods on 216 nodes), written as default-format (v2) text.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def write_aws_text(path: Path, n: int, seed: int = 7, scale: int = 36) -> None:
    """``n`` default-format (v2) VPC flow records of one demo day (a few thousand pods),
    streamed by the demo generator ~1M records at a time (the day also ends with a few
    NODATA/SKIPDATA status lines, as real logs do; kseg counts them as skipped)."""
    from toolkit.demo import DemoConfig, stream_aws_vpc_logs

    stream_aws_vpc_logs(DemoConfig(seed=seed, days=1, flows_per_day=n, scale=scale), 1, path,
                        version=2)


RUNNERS = {
    "kseg": """
import sys, json, time
from toolkit.snapshot import Snapshot, write_snapshot
from toolkit.collect.flows import import_flows
src, work = sys.argv[1], sys.argv[2]
write_snapshot(Snapshot.from_frames(cluster="bench"), work + "/snap")
t = time.perf_counter()
s = import_flows([src], work + "/snap", "aws-vpc")
print(json.dumps({"seconds": time.perf_counter() - t, "rows": s.imported}))
""",
    "duckdb": """
import sys, json, time, duckdb
src, work = sys.argv[1], sys.argv[2]
con = duckdb.connect()
t = time.perf_counter()
con.execute(f\"\"\"COPY (SELECT * FROM read_csv('{src}', delim=' ', header=true,
    nullstr='-', columns={{'version':'INTEGER','account_id':'VARCHAR','interface_id':'VARCHAR',
    'srcaddr':'VARCHAR','dstaddr':'VARCHAR','srcport':'INTEGER','dstport':'INTEGER',
    'protocol':'INTEGER','packets':'BIGINT','bytes':'BIGINT','start':'BIGINT','end':'BIGINT',
    'action':'VARCHAR','log_status':'VARCHAR'}})) TO '{work}/duck.parquet'
    (FORMAT parquet, COMPRESSION zstd)\"\"\")
rows = con.execute(f"SELECT count(*) FROM '{work}/duck.parquet'").fetchone()[0]
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))
""",
    "pyarrow": """
import sys, json, time
import pyarrow as pa, pyarrow.csv as pacsv
src, work = sys.argv[1], sys.argv[2]
t = time.perf_counter()
ints = {c: pa.int64() for c in ("srcport dstport protocol packets bytes start end").split()}
reader = pacsv.open_csv(src, read_options=pacsv.ReadOptions(block_size=64 << 20),
    parse_options=pacsv.ParseOptions(delimiter=" "),
    convert_options=pacsv.ConvertOptions(column_types=ints, null_values=["-"]))
rows = sum(b.num_rows for b in reader)
print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))
""",
}


#: Peak resident memory (VmHWM: this process only, unlike ru_maxrss which a child inherits
#: from its parent) and CPU seconds (user + system, all threads): on a shared machine the CPU
#: time is steadier than the wall time.
PEAK = """
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
cpu = os.times()
print(json.dumps({"peak_mib": int(hwm) / 1024, "cpu": cpu.user + cpu.system}))
"""


def run_one(name: str, src: Path, work: Path) -> dict:
    """Run one contender in a fresh process; return seconds, rows and peak RSS (MiB)."""
    code = ("import json, os, sys\n" + RUNNERS[name] + PEAK)
    folder = Path(tempfile.mkdtemp(dir=work, prefix=name))
    proc = subprocess.run([sys.executable, "-c", code, str(src), str(folder)], cwd=REPO,
                          capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stderr}")
    result: dict = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    subprocess.run(["rm", "-rf", str(folder)], check=False)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M and 3M records")
    parser.add_argument("--sizes", type=int, nargs="*", help="record counts to run")
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temp dir)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated inputs in --workdir and reuse them")
    args = parser.parse_args()
    sizes = args.sizes or ([1_000_000, 3_000_000] if args.quick else [10_000_000, 30_000_000])
    work = Path(args.workdir or tempfile.mkdtemp(prefix="kseg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    results = []
    for n in sizes:
        src = work / f"aws-{n}.log"
        t = time.perf_counter()
        if not (args.keep and src.exists()):
            write_aws_text(src, n)
        size_mb = src.stat().st_size / 1e6
        print(f"\n{n:,} records, {size_mb:,.0f} MB of text (written in "
              f"{time.perf_counter() - t:.1f} s)", flush=True)
        row = {"records": n, "mb": size_mb}
        for name in ("pyarrow", "duckdb", "kseg"):
            res = run_one(name, src, work)
            row[name] = res
            print(f"  {name:<8} {res['seconds']:7.2f} s  cpu {res['cpu']:7.2f} s  "
                  f"{res['rows']:>12,} rows  "
                  f"peak {res['peak_mib']:7.0f} MiB  "
                  f"{n / res['seconds'] / 1e6:5.2f} M rec/s", flush=True)
        for unit in ("seconds", "cpu"):
            print(f"  {unit:<8} kseg/pyarrow {row['kseg'][unit] / row['pyarrow'][unit]:.2f}x   "
                  f"kseg/duckdb {row['kseg'][unit] / row['duckdb'][unit]:.2f}x")
        results.append(row)
        if not args.keep:
            src.unlink()
    if len(results) > 1:
        a, b = results[0], results[-1]
        for unit in ("seconds", "cpu"):
            growth = (b["kseg"][unit] / a["kseg"][unit]) / (b["records"] / a["records"])
            print(f"\nkseg {unit} per record at {b['records']:,} vs {a['records']:,}: "
                  f"{growth:.2f}x (1.00 = linear)")
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
