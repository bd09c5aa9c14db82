"""``kseg policy``: NetworkPolicy analysis.

- ``check SNAP [--policies DIR]``: replay observed flows against the snapshot's policies (or a
  proposed set); exit code 1 when a proposed set would deny observed traffic.
- ``connectivity SNAP_OR_MANIFESTS...``: the connections the policies allow, np-guard style.
- ``exposure SNAP``: allowed versus observed paths (tightening candidates, drops).
- ``suggest``: least-privilege policies from the observed traffic (when installed).
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import polars as pl

from toolkit._io import write_table
from toolkit.cli._common import human_bytes, out, print_frame, warn
from toolkit.errors import KsegError

FORMATS = ("txt", "csv", "json")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("policy", help="replay flows against NetworkPolicies, static "
                                 "connectivity, exposure", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="policy_command", metavar="SUBCOMMAND",
                                parser_class=type(parser))
    parser.set_defaults(func=lambda args: parser.print_help() or 2)
    _add_check(sub)
    _add_connectivity(sub)
    _add_exposure(sub)
    _add_suggest(sub)


def _add_check(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="replay observed flows against policies",
                       description="Replay the snapshot's resolved flows against its "
                       "NetworkPolicies or a proposed set; per edge: allowed/denied and which "
                       "policy rule allowed it. Exit code 1 when --policies would deny observed "
                       "traffic.")
    p.add_argument("snapshot", help="snapshot folder")
    p.add_argument("--policies", nargs="+", metavar="PATH",
                   help="proposed NetworkPolicy YAML files or folders (replace the snapshot's)")
    p.add_argument("--top", type=int, default=15, help="denied edges to show (default 15)")
    p.add_argument("--out", help="write per-edge verdicts to a .parquet or .csv file")
    p.set_defaults(func=run_check)


def _add_connectivity(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("connectivity", help="allowed connections between workloads (static)",
                       description="Static analysis without flows, like np-guard's connlist: "
                       "'src => dst : conn' for every pair of workloads and external ranges.")
    p.add_argument("inputs", nargs="+", metavar="SNAP_OR_MANIFESTS",
                   help="a snapshot folder, or manifest / kubectl dump files and folders")
    p.add_argument("--focus", metavar="WORKLOAD", help="only connections of these workloads "
                   "(name or namespace/name, comma-separated)")
    p.add_argument("--focus-peers", metavar="WORKLOAD",
                   help="with --focus: only these workloads on the other side")
    p.add_argument("--focus-direction", choices=("ingress", "egress"),
                   help="with --focus: only connections into (ingress) or out of (egress) it")
    p.add_argument("--format", choices=FORMATS, default="txt", help="output format")
    p.add_argument("--naming", choices=("owner", "workload", "pod"), default="owner",
                   help="name pods by direct owner (np-guard), top-level workload, or list "
                   "every pod")
    p.add_argument("--out", help="write to this file instead of stdout")
    p.set_defaults(func=run_connectivity)


def _add_exposure(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("exposure", help="allowed versus observed paths",
                       description="Paths the policies allow but nobody used (tightening "
                       "candidates), used and allowed, used but denied.")
    p.add_argument("snapshot", help="snapshot folder")
    p.add_argument("--level", choices=("workload", "namespace"), default="workload")
    p.add_argument("--policies", nargs="+", metavar="PATH", help="proposed policies instead")
    p.add_argument("--top", type=int, default=20, help="rows to show per status")
    p.add_argument("--out", help="write all paths to a .parquet or .csv file")
    p.set_defaults(func=run_exposure)


def _add_suggest(sub: argparse._SubParsersAction) -> None:
    """``suggest`` lives in toolkit/cli/policy_suggest.py (another module); wire it if present."""
    if importlib.util.find_spec("toolkit.cli.policy_suggest") is None:
        return
    from toolkit.cli import policy_suggest

    policy_suggest.add_suggest(sub)


def _load(path: str):
    from toolkit.snapshot import load_snapshot

    return load_snapshot(path)


def _proposed(paths: list[str] | None) -> pl.DataFrame | None:
    if not paths:
        return None
    from toolkit.policy import load_policies

    return load_policies(paths)


def run_check(args: argparse.Namespace) -> int:
    from toolkit.policy import replay

    snap = _load(args.snapshot)
    policies = _proposed(args.policies)
    result = replay(snap, policies)
    if result.edges.height == 0:
        warn("the snapshot has no flows to replay")
    which = "proposed" if policies is not None else "snapshot"
    out.print(f"replayed {result.edges.height:,} edges against {result.policies} {which} "
              "NetworkPolicies")
    for verdict in ("allowed", "denied", "unresolved"):
        out.print(f"  {verdict:<10} {result.count(verdict, 'edges'):>8,} edges "
                  f"{result.count(verdict):>12,} flows "
                  f"{human_bytes(result.count(verdict, 'bytes')):>12}")
    denied = result.denied(args.top)
    if denied.height:
        print_frame(_compact(denied), title="top denied edges (what would this break?)",
                    max_rows=args.top)
    if result.findings.height:
        print_frame(result.findings, title="policy findings (likely mistakes)", max_rows=50)
    if args.out:
        write_table(result.edges, args.out)
        out.print(f"per-edge verdicts written to {args.out}")
    return 1 if policies is not None and result.count("denied", "edges") else 0


def _compact(denied: pl.DataFrame) -> pl.DataFrame:
    """Denied edges for a terminal: port as ``TCP/80`` and one short ``why`` column."""
    proto = pl.col("protocol").cast(pl.Int32).replace_strict(
        {6: "TCP", 17: "UDP", 132: "SCTP"}, default=pl.col("protocol").cast(pl.String),
        return_dtype=pl.String)
    port = pl.concat_str([proto, pl.col("dst_port").cast(pl.String)], separator="/",
                         ignore_nulls=True)
    no_in = pl.col("ingress_reason").str.starts_with("isolated")
    no_eg = pl.col("egress_reason").str.starts_with("isolated")
    why = (pl.when(no_in & no_eg).then(pl.lit("no egress rule at src, no ingress rule at dst"))
           .when(no_in).then(pl.lit("no ingress rule at dst"))
           .otherwise(pl.lit("no egress rule at src")))
    return denied.select("src", "dst", port.alias("port"), "flows", "bytes", why.alias("why"))


def run_connectivity(args: argparse.Namespace) -> int:
    from toolkit.policy import connectivity
    from toolkit.policy.sources import load_inventory

    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        raise KsegError(f"{missing[0]}: no such file or folder")
    result = connectivity(load_inventory(args.inputs), focus=args.focus,
                          focus_peers=args.focus_peers, focus_direction=args.focus_direction,
                          naming=args.naming)
    text = result.render(args.format)
    if args.out:
        Path(args.out).write_text(text + ("" if text.endswith("\n") else "\n"))
        out.print(f"{result.connections.height} connections written to {args.out}")
    else:
        print(text)
    return 0


def run_exposure(args: argparse.Namespace) -> int:
    from toolkit.policy import exposure

    result = exposure(_load(args.snapshot), level=args.level,
                      policies=_proposed(args.policies))
    print_frame(result.by_status(), title=f"paths by status ({args.level} level)")
    cols = ["src", "dst", "allowed_conn", "flows_allowed", "flows_denied", "bytes"]
    for status in ("used, denied", "used, partly denied", "allowed, unused"):
        rows = result.select(status)
        if rows.height:
            print_frame(rows.select(cols), title=status, max_rows=args.top)
    if args.out:
        write_table(result.paths, args.out)
        out.print(f"paths written to {args.out}")
    return 0
