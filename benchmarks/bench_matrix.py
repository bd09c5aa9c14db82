"""Benchmark: namespace flow matrix, kseg vs DuckDB vs pandas, side by side.

    python benchmarks/bench_matrix.py [--quick] [--records 10000000 30000000] [--scale 36]
                                      [--work /tmp/kseg-bench] [--only RUN ...]

Data: the demo generator (``toolkit.demo``, seed 7; ``--scale 36`` by default: 216 nodes and
~3,000 pods, 84 pods per unit of scale) writes one day of AWS VPC records both as a snapshot
(Parquet, parts of ~1M rows) and as the raw text log, in one streaming pass
(``toolkit.demo.stream_snapshot``: ~1.7 GiB peak whatever the size). Data is cached per
scale and size in ``--work``. Each measurement (and the generation) runs in its own
subprocess so its peak memory (VmHWM) is its own. Several ``--records`` sizes run in one
invocation; each size prints its table and ratios, and at the end every run's growth from
one size to the next and the ratios side by side per size.

(a) raw log → namespace matrix, end to end: kseg = ``import_flows`` (aws-vpc) into a fresh
    snapshot holding the inventory, then ``flow_matrix``; DuckDB and pandas read the log and
    do the as-of join (pod IP ownership intervals, both sides) and the aggregation directly;
    the parse floor is pyarrow's CSV reader streaming over the log (``open_csv``).
(b) snapshot → namespace matrix: kseg ``flow_matrix`` vs DuckDB over the same Parquet files
    (ASOF JOIN on both sides + GROUP BY). Also the as-of join against a plain join: polars
    ``join`` on the address alone (no time) vs kseg's interval-segment join vs polars
    ``join_asof`` (which needs the records sorted by time).

kseg does more than the baselines (orientation, service attribution, hostNetwork ports,
address classes, coverage); the baselines do the join and the aggregation only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _peak import peak_mib  # noqa: E402 (a sibling of this script)

DEFAULT_SCALE = 36  # 216 nodes, ~3,000 pods: "a few thousand pods"


_peak_mib = peak_mib


def _generate_here(records: int, scale: int, folder: Path) -> None:
    """Write the data of one size (in a subprocess: its time and peak memory are its own)."""
    import polars as pl

    from toolkit.demo import DemoConfig, stream_snapshot
    from toolkit.snapshot import load_snapshot

    started = time.perf_counter()
    cfg = DemoConfig(seed=7, days=1, flows_per_day=records, scale=scale)
    stream_snapshot(cfg, 1, folder / "snap", aws_vpc_log=folder / "day1.log")
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info = {"seconds": round(time.perf_counter() - started, 1),
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1), "peak_mib": _peak_mib(),
            "scale": scale, "log_mib": round((folder / "day1.log").stat().st_size / 2**20)}
    snap = load_snapshot(folder / "snap")
    info.update(snap.row_counts())
    info.update(snap.pods.select(pl.col("uid").n_unique().alias("pod_count"),
                                 (~pl.col("host_network")).sum().alias("pod_ip_rows"))
                .collect().row(0, named=True))
    (folder / "generated.json").write_text(json.dumps(info))


def _generate(records: int, scale: int, work: Path) -> tuple[Path, dict]:
    """The snapshot and the text log of ``records`` records at ``scale`` (cached in work)."""
    import shutil

    folder = work / f"s{scale}-n{records}"
    done = folder / "generated.json"
    if not ((folder / "snap" / "manifest.json").exists() and done.exists()):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        cmd = [sys.executable, __file__, "--generate", str(records), "--scale", str(scale),
               "--folder", str(folder)]
        if subprocess.run(cmd).returncode != 0:
            raise SystemExit(f"generating {records:,} records at scale {scale} failed")
    return folder, json.loads(done.read_text())


def _data_summary(info: dict) -> str:
    """What the measured data holds: records, nodes, pods, pod IP rows, log size, cost."""
    return (f"data: scale {info['scale']}: {info['nodes']} nodes, {info['pod_count']:,} pods "
            f"({info['pod_ip_rows']:,} pod IP rows), {info['services']} services, "
            f"{info['flows']:,} records; log {info['log_mib']:,} MiB; generated in "
            f"{info['seconds']} s (CPU {info['cpu_seconds']} s, peak {info['peak_mib']} MiB)")


# ---- single measurements (each runs in a fresh subprocess) ----------------------------------

def _pods_table(snap_dir: Path):
    import polars as pl

    from toolkit.snapshot import load_snapshot

    pods = load_snapshot(snap_dir).pods.filter(~pl.col("host_network") & pl.col("ip")
                                               .is_not_null())
    return pods.select("ip", "namespace", "valid_from", "valid_to").collect()


def run_kseg_snapshot(folder: Path) -> dict:
    import toolkit.core as core
    from toolkit.snapshot import load_snapshot

    m = core.flow_matrix(load_snapshot(folder / "snap"), src="namespace", dst="namespace")
    return {"rows": m.frame.height, "bytes": int(m.frame["bytes"].sum())}


def run_kseg_end_to_end(folder: Path) -> dict:
    import shutil

    import toolkit.core as core
    from toolkit.collect.flows.importer import import_flows
    from toolkit.snapshot import Snapshot, load_snapshot, write_snapshot

    target = folder / "e2e"
    shutil.rmtree(target, ignore_errors=True)
    base = load_snapshot(folder / "snap")
    inventory = {n: t for n, t in base.tables.items() if n not in ("flows", "flow_truth")}
    write_snapshot(Snapshot.from_frames(cluster=base.cluster, **inventory), target)
    import_flows([folder / "day1.log"], target, "aws-vpc")
    m = core.flow_matrix(load_snapshot(target), src="namespace", dst="namespace")
    return {"rows": m.frame.height, "bytes": int(m.frame["bytes"].sum())}


_DUCK_SQL = """
WITH f AS (SELECT src_ip, dst_ip, "start", bytes FROM {source}),
s AS (SELECT f.*, p.namespace AS sns, p.valid_to AS sto FROM f
      ASOF LEFT JOIN pods p ON f.src_ip = p.ip AND f."start" >= p.valid_from),
d AS (SELECT s.*, q.namespace AS dns, q.valid_to AS dto FROM s
      ASOF LEFT JOIN pods q ON s.dst_ip = q.ip AND s."start" >= q.valid_from)
SELECT CASE WHEN sto IS NULL OR "start" < sto THEN sns END AS src_namespace,
       CASE WHEN dto IS NULL OR "start" < dto THEN dns END AS dst_namespace,
       sum(bytes) AS bytes, count(*) AS flows
FROM d GROUP BY ALL
"""


def _duck(folder: Path):
    import duckdb

    con = duckdb.connect()
    pods = _pods_table(folder / "snap").to_arrow()  # noqa: F841 (DuckDB reads it by name)
    con.execute("CREATE TABLE pods AS SELECT ip, namespace, "
                "coalesce(valid_from, TIMESTAMPTZ '1970-01-01') AS valid_from, valid_to "
                "FROM pods")
    return con


def run_duckdb_snapshot(folder: Path) -> dict:
    con = _duck(folder)
    files = str(folder / "snap" / "flows" / "*.parquet")
    # parts may leave out all-null columns: match them by name
    source = f"read_parquet('{files}', union_by_name=true)"
    rows = con.execute(_DUCK_SQL.format(source=source)).fetchall()
    return {"rows": len(rows), "bytes": int(sum(r[2] or 0 for r in rows))}


def run_duckdb_end_to_end(folder: Path) -> dict:
    con = _duck(folder)
    log = str(folder / "day1.log")
    source = (f"(SELECT srcaddr AS src_ip, dstaddr AS dst_ip, to_timestamp(\"start\") AS "
              f"\"start\", bytes FROM read_csv('{log}', delim=' ', header=true, "
              "nullstr='-', all_varchar=false))")
    rows = con.execute(_DUCK_SQL.format(source=source)).fetchall()
    return {"rows": len(rows), "bytes": int(sum(r[2] or 0 for r in rows))}


def _pandas_matrix(flows, pods) -> dict:
    import pandas as pd

    pods = pods.sort_values("valid_from")
    flows = flows.sort_values("start")
    out = flows
    for side in ("src", "dst"):
        right = pods.rename(columns={"ip": f"{side}_ip", "namespace": f"{side}_ns",
                                     "valid_from": f"{side}_from", "valid_to": f"{side}_to"})
        out = pd.merge_asof(out, right, left_on="start", right_on=f"{side}_from",
                            by=f"{side}_ip", direction="backward")
        stale = out[f"{side}_to"].notna() & (out["start"] >= out[f"{side}_to"])
        out.loc[stale, f"{side}_ns"] = None
    agg = out.groupby(["src_ns", "dst_ns"], dropna=False)["bytes"].sum()
    return {"rows": len(agg), "bytes": int(agg.sum())}


def _pandas_pods(folder: Path):
    import pandas as pd

    pods = _pods_table(folder / "snap").to_pandas()
    pods["valid_from"] = pods["valid_from"].fillna(pd.Timestamp(0, tz="UTC"))
    return pods


def run_pandas_end_to_end(folder: Path) -> dict:
    import pandas as pd

    flows = pd.read_csv(folder / "day1.log", sep=" ", usecols=["srcaddr", "dstaddr", "start",
                                                                "bytes"], na_values="-")
    flows = flows.rename(columns={"srcaddr": "src_ip", "dstaddr": "dst_ip"})
    flows["start"] = pd.to_datetime(flows["start"], unit="s", utc=True).astype(
        "datetime64[ns, UTC]")
    return _pandas_matrix(flows, _pandas_pods(folder))


def run_parse_floor(folder: Path) -> dict:
    import pyarrow as pa
    import pyarrow.csv as csv

    from toolkit.collect.flows.awsvpc import INT_FIELDS

    # streaming (open_csv) with the columns typed: the same parse as read_csv without
    # holding the whole log (read_csv of the 30M-record log would need ~23 GiB)
    log = folder / "day1.log"
    with open(log) as fh:
        header = fh.readline().split()
    types = {f: pa.int64() if f in INT_FIELDS else pa.string() for f in header}
    reader = csv.open_csv(log, read_options=csv.ReadOptions(block_size=64 << 20),
                          parse_options=csv.ParseOptions(delimiter=" "),
                          convert_options=csv.ConvertOptions(column_types=types,
                                                             null_values=["-"]))
    return {"rows": sum(batch.num_rows for batch in reader)}


def _join_frames(folder: Path):
    import polars as pl

    from toolkit.snapshot import load_snapshot

    flows = load_snapshot(folder / "snap").flows.select("src_ip", "dst_ip", "start", "bytes")
    return pl, flows, _pods_table(folder / "snap")


def run_plain_join(folder: Path) -> dict:
    pl, flows, pods = _join_frames(folder)
    ns = pods.unique("ip", keep="last").select("ip", "namespace").lazy()
    out = (flows.join(ns.rename({"ip": "src_ip", "namespace": "s"}), on="src_ip", how="left")
           .join(ns.rename({"ip": "dst_ip", "namespace": "d"}), on="dst_ip", how="left")
           .group_by("s", "d").agg(pl.col("bytes").sum()).collect(engine="streaming"))
    return {"rows": out.height}


def run_segment_join(folder: Path) -> dict:
    from toolkit.core.inventory import InventoryIndex
    from toolkit.snapshot import load_snapshot

    pl, flows, _ = _join_frames(folder)
    seg = InventoryIndex.build(load_snapshot(folder / "snap")).pod_segments.select(
        "ip", "namespace", "seg_from", "seg_to", "valid_to").lazy()
    out = flows
    for side in ("src", "dst"):
        right = seg.rename({c: f"{side}_{c}" for c in seg.collect_schema().names()})
        f, t = pl.col(f"{side}_seg_from"), pl.col(f"{side}_seg_to")
        out = (out.join(right, on=f"{side}_ip", how="left")
               .filter((f.is_null() | (pl.col("start") >= f))
                       & (t.is_null() | (pl.col("start") < t))))
    out = out.group_by("src_namespace", "dst_namespace").agg(pl.col("bytes").sum())
    return {"rows": out.collect(engine="streaming").height}


def run_polars_asof(folder: Path) -> dict:
    pl, flows, pods = _join_frames(folder)
    epoch = pl.lit(0).cast(pl.Datetime("ns", "UTC"))
    right = pods.with_columns(pl.col("valid_from").fill_null(epoch)).sort("valid_from").lazy()
    out = flows.sort("start")
    for side in ("src", "dst"):
        r = right.rename({"ip": f"{side}_ip", "namespace": f"{side}_ns",
                          "valid_from": f"{side}_from", "valid_to": f"{side}_to"})
        out = out.join_asof(r, left_on="start", right_on=f"{side}_from", by=f"{side}_ip")
    out = out.group_by("src_ns", "dst_ns").agg(pl.col("bytes").sum())
    return {"rows": out.collect().height}


RUNS = {
    "kseg-snapshot": run_kseg_snapshot, "duckdb-snapshot": run_duckdb_snapshot,
    "kseg-end-to-end": run_kseg_end_to_end, "duckdb-end-to-end": run_duckdb_end_to_end,
    "pandas-end-to-end": run_pandas_end_to_end, "parse-floor": run_parse_floor,
    "plain-join": run_plain_join, "segment-join": run_segment_join,
    "polars-join_asof": run_polars_asof,
}


def _measure_here(name: str, folder: Path) -> None:
    started = time.perf_counter()
    result = RUNS[name](folder)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["seconds"] = round(time.perf_counter() - started, 2)
    result["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 2)
    result["peak_mib"] = _peak_mib()
    print(json.dumps(result))


def _measure(name: str, folder: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--run", name, "--folder", str(folder)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000_000, 30_000_000],
                        help="one or more sizes, run one after the other (default 10M 30M)")
    parser.add_argument("--scale", type=int, default=DEFAULT_SCALE,
                        help=f"demo scale, 1..64 (default {DEFAULT_SCALE}: ~3,000 pods)")
    parser.add_argument("--quick", action="store_true", help="1M records only")
    parser.add_argument("--work", default="/tmp/kseg-bench", help="data folder (kept)")
    parser.add_argument("--only", nargs="+", choices=list(RUNS), help="a subset of runs")
    parser.add_argument("--run", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        _measure_here(args.run, Path(args.folder))
        return
    if args.generate:
        _generate_here(args.generate, args.scale, Path(args.folder))
        return
    sizes = [1_000_000] if args.quick else sorted(set(args.records))
    if min(sizes) < 1 or not 1 <= args.scale <= 64:
        parser.error("--records must be >= 1 and --scale between 1 and 64")
    by_size = {}
    for n in sizes:
        folder, info = _generate(n, args.scale, Path(args.work))
        print(_data_summary(info), flush=True)
        results = {}
        for name in args.only or RUNS:
            results[name] = _measure(name, folder)
            print(f"{n} {name} {json.dumps(results[name])}", flush=True)
        _report(n, results)
        by_size[n] = results
    _growth(by_size)


def _report(n: int, results: dict) -> None:
    print(f"\n## {n:,} VPC records")
    print("| run | wall s | CPU s | peak MiB | note |\n|---|---:|---:|---:|---|")
    for name, r in results.items():
        print(f"| {name} | {r.get('seconds', '-')} | {r.get('cpu_seconds', '-')} | "
              f"{r.get('peak_mib', '-')} | {r.get('error', '')} |")
    for a, b, wall, cpu in _ratios(results):
        print(f"- {a} / {b}: wall {wall:.2f}x, CPU {cpu:.2f}x")


PAIRS = [("kseg-snapshot", "duckdb-snapshot"), ("kseg-end-to-end", "duckdb-end-to-end"),
         ("kseg-end-to-end", "pandas-end-to-end"), ("kseg-end-to-end", "parse-floor"),
         ("segment-join", "plain-join"), ("polars-join_asof", "plain-join")]


def _ratios(results: dict) -> list[tuple[str, str, float, float]]:
    """(a, b, wall a/b, CPU a/b) for the compared pairs that both ran."""
    out = []
    for a, b in PAIRS:
        ra, rb = results.get(a, {}), results.get(b, {})
        if ra.get("seconds") and rb.get("seconds") and rb.get("cpu_seconds"):
            out.append((a, b, ra["seconds"] / rb["seconds"],
                        ra["cpu_seconds"] / rb["cpu_seconds"]))
    return out


def _growth(by_size: dict[int, dict]) -> None:
    """Each run's cost from one size to the next (x times the records -> x times the cost)."""
    sizes = sorted(by_size)
    if len(sizes) < 2:
        return
    print("\n## Growth with size")
    print("| run | sizes | records | wall | CPU | peak MiB |\n|---|---|---:|---:|---:|---:|")
    for small, big in itertools.pairwise(sizes):
        for name, b in by_size[big].items():
            a = by_size[small].get(name, {})
            if not (a.get("seconds") and a.get("cpu_seconds") and b.get("seconds")):
                continue
            print(f"| {name} | {small:,} → {big:,} | {big / small:.2f}x | "
                  f"{b['seconds'] / a['seconds']:.2f}x | "
                  f"{b['cpu_seconds'] / a['cpu_seconds']:.2f}x | "
                  f"{a['peak_mib']} → {b['peak_mib']} |")
    print("\nRatios by size (CPU; wall in brackets):")
    for a, b in PAIRS:
        cells = [f"{n:,}: {cpu:.2f}x ({wall:.2f}x)" for n in sizes
                 for x, y, wall, cpu in _ratios(by_size[n]) if (x, y) == (a, b)]
        if cells:
            print(f"- {a} / {b}: " + ", ".join(cells))


if __name__ == "__main__":
    main()
