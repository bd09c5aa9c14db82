"""``kseg collect --out DIR``: read a live cluster's inventory into a snapshot.

Uses the current kubeconfig context (or ``--context``/``--kubeconfig``, or the in-cluster
service account). ``--watch 10m`` keeps watching pods, services and EndpointSlices and records
every IP ownership change. ``--print-rbac`` prints the minimal read-only RBAC it needs.
When ``--out`` already is a snapshot, the capture is merged into it.
"""

from __future__ import annotations

import argparse
import re

from toolkit.cli._common import out, progress, warn

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smh]?)$")


def duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1h`` -> seconds."""
    match = _DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (use e.g. 30s, 10m, 1h)")
    return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("collect", help="collect the inventory of a live cluster",
                                 description=__doc__)
    parser.add_argument("--out", help="snapshot folder (created, or merged into)")
    parser.add_argument("--context", help="kubeconfig context (default: the current one)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG or "
                        "~/.kube/config; in-cluster service account when none)")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", action="append", dest="namespaces",
                       metavar="NS", help="collect only this namespace (repeatable)")
    scope.add_argument("-A", "--all-namespaces", action="store_true",
                       help="collect every namespace (the default)")
    parser.add_argument("--watch", type=duration, default=0.0, metavar="DURATION",
                        help="then watch pods/services/EndpointSlices this long (e.g. 10m)")
    parser.add_argument("--page-size", type=int, default=500, help="objects per list page")
    parser.add_argument("--print-rbac", action="store_true",
                        help="print the minimal read-only ClusterRole/Binding and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from toolkit.collect.k8s import merge, rbac

    if args.print_rbac:
        print(rbac.rbac_yaml(), end="")
        return 0
    if not args.out:
        from toolkit.errors import KsegError

        raise KsegError("kseg collect needs --out DIR (or --print-rbac)")
    from toolkit.collect.k8s.live import LIVE_KINDS, collect_result

    with progress() as bar:
        task = bar.add_task("collect", total=len(LIVE_KINDS))

        def step(what: str) -> None:
            if what.startswith("watch"):
                bar.update(task, description=what)
            else:
                bar.update(task, advance=1, description=f"list {what}")

        snap, scope = collect_result(kubeconfig=args.kubeconfig, context=args.context,
                                     namespaces=args.namespaces, watch_seconds=args.watch,
                                     page_size=args.page_size, progress=step)
    verb = merge.write_or_merge(snap, args.out, scope)
    counts = snap.row_counts()
    out.print(f"context {snap.cluster}: " + ", ".join(
        f"{name} {counts[name]:,}" for name in counts if name != "flows"))
    source = snap.sources[0]
    for message in [*source.get("warnings", []), *source.get("watch_warnings", [])]:
        warn(message)
    if args.watch:
        out.print(f"watched {args.watch:g}s: {source.get('ip_changes', 0)} IP ownership changes")
    out.print(f"{verb} {args.out}")
    return 0
