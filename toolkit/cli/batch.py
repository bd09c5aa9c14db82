"""``kseg batch SNAP...``: one summary row per snapshot of a series (or of many clusters).

Per snapshot: inventory sizes, flow volume, cross-namespace share of bytes and records,
distinct edges per level, external destinations, policy coverage (pods isolated for ingress /
egress) and coverage figures. ``--scheduler`` / ``--workers`` run the flow analysis on a Dask
cluster (identical results).
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path
from typing import Any

import polars as pl

from toolkit._io import write_table
from toolkit.cli._common import human_bytes, out, print_frame, progress
from toolkit.core.batch import batch_summary
from toolkit.snapshot import load_snapshot

#: Short display names of the summary columns (the written table keeps the full names).
IDENTITY_VIEW = {"cluster": "cluster", "captured_at": "captured", "window_start": "from",
                 "window_end": "to"}
INVENTORY_VIEW = {"namespaces": "ns", "workloads": "wl", "pods": "pods", "services": "svc",
                  "network_policies": "netpol", "pods_isolated_ingress": "iso_in",
                  "pods_isolated_egress": "iso_eg", "pct_isolated_ingress": "iso_in%",
                  "pct_isolated_egress": "iso_eg%"}
FLOW_VIEW = {"flow_records": "records", "bytes": "bytes", "cross_ns_bytes_share": "xns_b%",
             "cross_ns_flows_share": "xns_r%", "external_ips": "ext_ip",
             "external_classes": "ext_cls"}
EDGE_VIEW = {"edges_namespace": "e_ns", "edges_workload": "e_wl", "edges_service": "e_svc",
             "pct_resolved": "resolved%", "pct_external": "external%",
             "pct_unoriented": "unoriented%"}


def add_scale_arguments(parser: argparse.ArgumentParser) -> None:
    """``--scheduler ADDRESS`` / ``--workers N`` (mutually exclusive)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on the Dask cluster at ADDRESS (e.g. tcp://scheduler:8786); "
                            "workers need kseg and read access to the snapshot paths")
    group.add_argument("--workers", type=int, metavar="N",
                       help="run on a local Dask cluster of N worker processes")


def scale_client(args: argparse.Namespace) -> contextlib.AbstractContextManager[Any]:
    """A Dask client for ``--scheduler``/``--workers``, or a context yielding None."""
    if args.scheduler or args.workers is not None:
        from toolkit import scale

        return scale.dask_client(scheduler=args.scheduler, workers=args.workers)
    return contextlib.nullcontext(None)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("batch", help="summarise a series of snapshots in one table",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snapshots", nargs="+", metavar="SNAP", help="snapshot folders")
    parser.add_argument("--out", metavar="FILE",
                        help="write the summary table to FILE (.parquet or .csv)")
    parser.add_argument("--window", metavar="START..END",
                        help="only flow records starting in this window (UTC, ISO 8601)")
    add_scale_arguments(parser)
    parser.set_defaults(func=run)


def _view(frame: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    times = [c for c in ("captured_at", "window_start", "window_end") if c in names]
    shown = frame.with_columns(pl.col(times).dt.strftime("%Y-%m-%d %H:%M")) if times else frame
    if "bytes" in names:
        shown = shown.with_columns(pl.col("bytes").map_elements(human_bytes,
                                                                return_dtype=pl.String))
    return shown.select(pl.col("snapshot").str.split("/").list.last().alias("snap"),
                        *[pl.col(c).alias(short) for c, short in names.items()])


def run(args: argparse.Namespace) -> int:
    if args.out and Path(args.out).suffix not in (".parquet", ".csv"):
        from toolkit.errors import KsegError

        raise KsegError(f"--out {args.out}: use a .parquet or .csv file name")
    snaps = [load_snapshot(path) for path in args.snapshots]  # fail fast on a bad path
    with scale_client(args) as client, progress() as bar:
        task = bar.add_task("analysing snapshots", total=len(snaps))
        summary = batch_summary(snaps, client, window=args.window,
                                on_done=lambda i, s: bar.advance(task))
    frame = summary.frame
    print_frame(_view(frame, IDENTITY_VIEW), title="snapshots", max_rows=1000)
    print_frame(_view(frame, INVENTORY_VIEW), title="inventory and policy coverage (iso: pods "
                "isolated for ingress / egress)", max_rows=1000)
    print_frame(_view(frame, FLOW_VIEW), title="flows (xns: cross-namespace share of bytes / "
                "records; ext: external destination addresses / classes)", max_rows=1000)
    print_frame(_view(frame, EDGE_VIEW), title="distinct edges per level and coverage",
                max_rows=1000)
    if args.out:
        write_table(frame, args.out)
        out.print(f"summary written to {args.out} ({frame.height} rows, "
                  f"{frame.width} columns)")
    return 0
