"""``kseg policy suggest SNAP --segments STRATEGY --out DIR``: least-privilege NetworkPolicy
YAML allowing exactly the observed client->server traffic, plus a label-quality report.

Wired into the ``kseg policy`` group by :func:`add_suggest` (called from toolkit/cli/policy.py).
"""

from __future__ import annotations

import argparse

from toolkit.cli._common import out, print_frame, warn
from toolkit.snapshot import load_snapshot


def add_suggest(policy_subparsers: argparse._SubParsersAction) -> None:
    """Add the ``suggest`` subcommand to the ``kseg policy`` group."""
    p = policy_subparsers.add_parser(
        "suggest", help="least-privilege NetworkPolicies from the observed traffic",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshot", help="snapshot folder (with flows)")
    p.add_argument("--segments", default="workload", metavar="STRATEGY",
                   help="workload (default: one policy per workload), namespace, label:KEY, "
                        "illumio or rules:FILE.yaml")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for <namespace>.yaml files, README.md and label-report.csv")
    p.add_argument("--dns", choices=("all", "observed"), default="all",
                   help="give every selected pod egress to the cluster DNS (all, default) or "
                        "only pods seen using it (observed)")
    p.add_argument("--include-system", action="store_true",
                   help="also write policies for kube-system, kube-public, kube-node-lease")
    p.add_argument("--max-ratio", type=int, default=64, metavar="N",
                   help="external CIDR aggregation: at most N addresses opened per observed "
                        "address (default 64)")
    p.add_argument("--min-prefix", type=int, default=24, metavar="LEN",
                   help="external CIDR aggregation: never wider than /LEN for IPv4 (default 24)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from toolkit.policy.suggest import suggest_policies

    snap = load_snapshot(args.snapshot)
    result = suggest_policies(snap, segments=args.segments, dns=args.dns,
                              include_system=args.include_system, max_ratio=args.max_ratio,
                              min_prefix_v4=args.min_prefix)
    files = result.write(args.out)
    print_frame(result.summary.select("namespace", "policy", "selector", "ingress_rules",
                                      "egress_rules"), title="suggested policies", max_rows=40)
    for note in result.notes:
        out.print(note)
    report = result.label_report
    if report.height:
        warn(f"{report.height} label-quality finding(s): see {args.out}/label-report.csv")
        print_frame(report.select("namespace", "workload", "issue", "detail"),
                    title="label quality", max_rows=20)
    out.print(f"wrote {len(files)} files to {args.out}; check them with: kseg policy check "
              f"{args.snapshot} --policies {args.out}")
    return 0
