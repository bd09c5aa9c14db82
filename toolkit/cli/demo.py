"""``kseg demo``: the main job on the bundled demo snapshots.

Loads the bundled series in ``data/`` (or ``--snapshot``), prints a summary of the cluster,
the heaviest cross-namespace edges and the coverage figures, and writes the namespace and
workload→service matrices (Parquet and CSV), the coverage, and an HTML report to ``--out``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import polars as pl

from toolkit import demo_data_path
from toolkit._io import write_table
from toolkit.cli._common import human_bytes, out, print_frame, warn
from toolkit.errors import KsegError
from toolkit.snapshot import Snapshot, load_snapshot
from toolkit.summary import inventory_summary


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="run the main analysis on the bundled demo data",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", help="analyse this snapshot instead of the newest "
                        "bundled day")
    parser.add_argument("--out", default="kseg-out", help="output folder (default: kseg-out)")
    parser.add_argument("--top", type=int, default=10, help="cross-namespace edges to show")
    parser.add_argument("--no-report", action="store_true", help="skip the HTML report")
    parser.set_defaults(func=run)


def bundled_snapshots() -> list[Path]:
    """The bundled demo series, oldest first."""
    folder = demo_data_path()
    days = sorted(p for p in folder.glob("demo-day*") if (p / "manifest.json").exists())
    if not days:
        raise KsegError(f"no bundled demo snapshots in {folder}",
                        hint="regenerate them with 'kseg synth --bundled --out data' from a "
                             "source checkout, or pass --snapshot")
    return days


def _print_summary(summary: dict[str, Any], path: Path) -> None:
    out.print(f"[bold]kseg demo[/bold]: cluster {summary['cluster']!r} from {path}")
    start, end = summary["window_start"], summary["window_end"]
    window = f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} UTC" if start else "no flows"
    rows = [(k, summary[k]) for k in ("nodes", "namespaces", "workloads", "pods", "services",
                                      "network_policies", "flow_records")]
    print_frame(pl.DataFrame(rows, schema=["inventory", "count"], orient="row"),
                title=f"summary (flow window {window})")


def _cross_namespace(frame: pl.DataFrame, top: int) -> pl.DataFrame:
    edges = frame.filter(pl.col("src_namespace").is_not_null()
                         & pl.col("dst_namespace").is_not_null()
                         & (pl.col("src_namespace") != pl.col("dst_namespace")))
    edges = edges.group_by("src_namespace", "dst_namespace").agg(
        pl.col("bytes").sum(), pl.col("packets").sum(), pl.col("flows").sum())
    return edges.sort(["bytes", "src_namespace", "dst_namespace"],
                      descending=[True, False, False]).head(top)


def _print_coverage(coverage: Any) -> None:
    d = coverage.as_dict()
    rows = [
        ("flow records", f"{d['records']:,}"),
        ("resolved (src / dst)", f"{d['src_resolved_pct']}% / {d['dst_resolved_pct']}%"),
        ("external (src / dst)", f"{d['src_external_pct']}% / {d['dst_external_pct']}%"),
        ("unknown in-cluster (src / dst)", f"{d['src_unknown_pct']}% / {d['dst_unknown_pct']}%"),
        ("oriented by", ", ".join(f"{k} {v}%" for k, v in d["oriented_pct"].items()) or "-"),
        ("identity disagreements", f"{d['id_disagree']:,} of {d['id_checked']:,} checked"),
    ]
    print_frame(pl.DataFrame(rows, schema=["coverage", "value"], orient="row"),
                title="coverage (what these figures rest on)")


def _write_outputs(snap: Snapshot, out_dir: Path, ns_matrix: Any) -> list[Path]:
    from toolkit.core import flow_matrix

    written = []
    for name, frame in (("namespace_matrix", ns_matrix.frame),
                        ("workload_service_matrix",
                         flow_matrix(snap, src="workload", dst="service").frame)):
        for suffix in (".parquet", ".csv"):
            written.append(write_table(frame, out_dir / f"{name}{suffix}"))
    coverage_path = out_dir / "coverage.json"
    coverage_path.write_text(json.dumps(ns_matrix.coverage.as_dict(), indent=2, default=str))
    written.append(coverage_path)
    return written


def _write_report(snap: Snapshot, out_dir: Path) -> Path | None:
    try:
        from toolkit.viz import write_report
    except ImportError as exc:  # the plotting extras are part of the base install
        warn(f"HTML report skipped: {exc}")
        return None
    return write_report(snap, out_dir / "report.html")


def run(args: argparse.Namespace) -> int:
    from toolkit.core import flow_matrix

    path = Path(args.snapshot) if args.snapshot else bundled_snapshots()[-1]
    snap = load_snapshot(path)
    _print_summary(inventory_summary(snap), path)
    matrix = flow_matrix(snap, src="namespace", dst="namespace")
    edges = _cross_namespace(matrix.frame, args.top)
    edges = edges.with_columns(pl.col("bytes").map_elements(human_bytes, return_dtype=pl.String)
                               .alias("volume"))
    print_frame(edges.select("src_namespace", "dst_namespace", "volume", "packets", "flows"),
                title=f"heaviest cross-namespace edges (client → server, top {args.top})")
    _print_coverage(matrix.coverage)
    out_dir = Path(args.out)
    written = _write_outputs(snap, out_dir, matrix)
    if not args.no_report:
        report = _write_report(snap, out_dir)
        if report:
            written.append(report)
    out.print(f"\nwrote {len(written)} files to {out_dir.resolve()}/:")
    for item in written:
        out.print(f"  {item.name}")
    first = "open report.html, or try " if not args.no_report else "try "
    out.print(f"next: {first}'kseg matrix {path} --src workload --dst service'")
    return 0
