"""``kseg inventory import FILE_OR_DIR... --out DIR``: kubectl dumps and manifests -> snapshot.

Reads ``kubectl get ... -o json`` output (List/PodList/... wrappers, single objects) and YAML
manifests (multi-document), files or folders (recursively). When ``--out`` already is a
snapshot, the new capture is merged into it (pods keep their IP ownership intervals; flows
are kept). Secrets are never stored; unknown kinds are counted and reported.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from toolkit.cli._common import out, warn
from toolkit.collect.k8s import merge
from toolkit.collect.k8s.capture import Capture
from toolkit.collect.k8s.offline import read_inventory
from toolkit.errors import InputError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("inventory", help="build an inventory snapshot from kubectl "
                                 "dumps or manifests", description=__doc__)
    sub = parser.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="import kubectl JSON dumps / YAML manifests",
                         description=__doc__)
    imp.add_argument("paths", nargs="+", metavar="FILE_OR_DIR")
    imp.add_argument("--out", required=True, help="snapshot folder (created, or merged into)")
    imp.add_argument("--planned", action="store_true",
                     help="expand workloads without pods into the pods their replicas would "
                          "create (marked planned)")
    imp.add_argument("--cluster", help="cluster name recorded in the snapshot")
    imp.add_argument("--captured-at", type=_time, metavar="TIME",
                     help="when the dump was taken (ISO 8601); used as last-seen time on merge")
    imp.set_defaults(func=run_import)


def _time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def run_import(args: argparse.Namespace) -> int:
    capture, files = read_inventory(args.paths)
    if capture.objects == 0:
        found = dict(capture.unknown) | dict(capture.skipped)
        raise InputError(f"no Kubernetes objects of a known kind in {len(files)} file(s)"
                         + (f" (found {found})" if found else ""), path=" ".join(args.paths),
                         hint="give kubectl get -o json output or YAML manifests")
    source = {"kind": "inventory-import", "files": len(files), "planned": args.planned}
    snap = capture.snapshot(planned_pods=args.planned, cluster=args.cluster,
                            captured_at=args.captured_at, source=source)
    verb = merge.write_or_merge(snap, args.out, capture.scope)
    _print_summary(capture, files, verb, args.out)
    return 0


def _print_summary(capture: Capture, files: list[str], verb: str, path: str) -> None:
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(capture.kinds.items()))
    out.print(f"read {len(files)} file(s): {kinds}")
    if capture.skipped:
        out.print("skipped (never stored): " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(capture.skipped.items())))
    if capture.unknown:
        out.print("ignored (unknown kinds): " + ", ".join(
            f"{k} {v:,}" for k, v in sorted(capture.unknown.items())))
    for message in capture.summary()["warnings"]:
        warn(message)
    out.print(f"{verb} {path}")
