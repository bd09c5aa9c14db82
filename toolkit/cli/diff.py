"""``kseg diff A B``: what changed from snapshot A (before) to snapshot B (after).

Workloads, services, NetworkPolicies and namespaces added, removed or changed; communication
edges that appeared or vanished at namespace, workload and service level (with volumes); new
external destinations; workloads whose policy isolation changed; workload paths the
NetworkPolicies now allow differently.

Exit code 1 when new cross-namespace or external edges appeared (to gate a pipeline), 0
otherwise, 2 on an error.
"""

from __future__ import annotations

import argparse
import json

import polars as pl

from toolkit.cli._common import human_bytes, out
from toolkit.cli.batch import add_scale_arguments, scale_client
from toolkit.core.diff import SnapshotDiff, diff_snapshots
from toolkit.snapshot import load_snapshot


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("diff", help="what changed between two snapshots (exit 1 "
                                 "when new cross-namespace or external edges appeared)",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("a", metavar="A", help="snapshot before")
    parser.add_argument("b", metavar="B", help="snapshot after")
    parser.add_argument("--out", metavar="DIR", help="write the tables (objects, edges, "
                        "external, exposure, allowed) to DIR")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                        help="table format under --out (default: parquet)")
    parser.add_argument("--json", action="store_true", help="print everything as JSON")
    parser.add_argument("--top", type=int, default=20, help="rows shown per table")
    parser.add_argument("--window", metavar="START..END",
                        help="only flow records starting in this window (UTC, ISO 8601)")
    add_scale_arguments(parser)
    parser.set_defaults(func=run)


_MARK = {"added": "+", "removed": "-", "changed": "~", "appeared": "+", "vanished": "-"}


def _edge_line(row: dict) -> str:
    volume = row["bytes_b"] if row["change"] == "appeared" else row["bytes_a"]
    records = row["flows_b"] if row["change"] == "appeared" else row["flows_a"]
    flags = [f for f, on in (("cross-namespace", row["cross_namespace"]),
                             ("external", row["external"])) if on]
    tail = f"  [{', '.join(flags)}]" if flags else ""
    return (f"  {_MARK[row['change']]} {row['src']} → {row['dst']}  {human_bytes(volume)}, "
            f"{records or 0:,} records{tail}")


def _print(diff: SnapshotDiff, top: int) -> None:
    verdict = ("[bold red]new cross-namespace or external edges[/bold red]" if diff.gate
               else "[green]no new cross-namespace or external edges[/green]")
    out.print(f"[bold]kseg diff[/bold] {diff.a} → {diff.b}: {verdict}")
    out.print(f"objects ({diff.objects.height} changed)" if diff.objects.height
              else "objects: no change")
    for r in diff.objects.head(top).iter_rows(named=True):
        what = f"{r['namespace']}/{r['name']}" if r["namespace"] else r["name"]
        fields = f" ({', '.join(r['fields'])})" if r["fields"] else ""
        out.print(f"  {_MARK[r['change']]} {r['kind']} {what} {r['change']}{fields}",
                  markup=False)
    for level in ("namespace", "workload", "service"):
        edges = diff.edges.filter(pl.col("level") == level)
        out.print(f"{level} edges: {edges.height} appeared or vanished" if edges.height
                  else f"{level} edges: no change")
        for row in edges.head(top).iter_rows(named=True):
            out.print(_edge_line(row), markup=False)
    out.print(f"new external destinations: {diff.external.height}")
    for r in diff.external.head(top).iter_rows(named=True):
        who = "/".join(x for x in (r["src_namespace"], r["src_workload"]) if x) or r["src_kind"]
        out.print(f"  + {r['dst_ip']} ({r['dst_kind']}) from {who}  {human_bytes(r['bytes'])}, "
                  f"{r['flows']:,} records", markup=False)
    out.print(f"policy isolation changes: {diff.exposure.height}")
    for r in diff.exposure.head(top).iter_rows(named=True):
        out.print(f"  ~ {r['workload_kind']} {r['namespace']}/{r['workload_name']}: ingress "
                  f"{_iso(r['ingress_isolated_a'])} → {_iso(r['ingress_isolated_b'])}, egress "
                  f"{_iso(r['egress_isolated_a'])} → {_iso(r['egress_isolated_b'])}",
                  markup=False)
    out.print(f"allowed-path changes under the policies: {diff.allowed.height}")
    for r in diff.allowed.head(top).iter_rows(named=True):
        out.print(f"  {'+' if r['change'] == 'opened' else '-' if r['change'] == 'closed' else '~'}"
                  f" {r['src']} → {r['dst']}: {r['allowed_a'] or 'denied'} → "
                  f"{r['allowed_b'] or 'denied'}", markup=False)


def _iso(isolated: bool) -> str:
    return "isolated" if isolated else "open"


def run(args: argparse.Namespace) -> int:
    snap_a, snap_b = load_snapshot(args.a), load_snapshot(args.b)
    with scale_client(args) as client:
        diff = diff_snapshots(snap_a, snap_b, client=client, window=args.window)
    if args.out:
        diff.write(args.out, args.format)
    if args.json:
        print(json.dumps(diff.to_dict(), indent=2, default=str))
    else:
        _print(diff, args.top)
        if args.out:
            out.print(f"tables written to {args.out}/ ({args.format})")
    return 1 if diff.gate else 0
