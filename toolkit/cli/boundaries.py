"""``kseg boundaries SNAP [SNAP...]``: candidate segment boundaries from the traffic itself.

Louvain communities of the workload graph at a few resolutions, shared infrastructure set
apart, each candidate scored (traffic crossing boundaries, allow rules needed, stability across
the given snapshots) next to namespace, label and per-workload segmentation.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.cli._common import out, print_frame
from toolkit.errors import KsegError


def _resolutions(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a comma-separated list of numbers") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("resolutions must be positive numbers, e.g. 0.5,1,2")
    return values


def register(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("boundaries", help="candidate segment boundaries from the traffic",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("snapshots", nargs="+", metavar="SNAP",
                   help="snapshot folder(s); several (one per day) add a stability score")
    p.add_argument("--weight", choices=("bytes", "flows"), default="bytes",
                   help="edge weight of the workload graph (default bytes)")
    p.add_argument("--resolutions", type=_resolutions, default=(0.5, 1.0, 2.0),
                   metavar="R,R,...", help="Louvain resolutions (default 0.5,1,2)")
    p.add_argument("--label", default="app", metavar="KEY",
                   help="label key of the label segmentation to compare with (default app)")
    p.add_argument("--seed", type=int, default=0, help="Louvain seed (default 0)")
    p.add_argument("--out", metavar="FILE",
                   help="write the memberships of every candidate (.csv or .parquet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import polars as pl

    from toolkit.core.boundaries import propose_boundaries

    if args.out and Path(args.out).suffix not in (".csv", ".parquet"):
        raise KsegError(f"{args.out}: --out must end in .csv or .parquet", path=args.out)
    result = propose_boundaries(args.snapshots, weight=args.weight,
                                resolutions=args.resolutions, seed=args.seed,
                                label_key=args.label)
    for note in result.notes:
        out.print(note)
    shown = result.candidates.with_columns(
        (pl.col(c) * 100).round(2).alias(c.replace("_share", " %"))
        for c in ("cross_bytes_share", "cross_flows_share")).drop("cross_bytes_share",
                                                                 "cross_flows_share")
    title = f"candidates ({result.days} snapshot(s), weight {result.weight})"
    print_frame(shown.select("candidate", "n_segments", "cross_bytes %", "cross_flows %",
                             "allow_rules", "stability"), title=title)
    print_frame(result.shared.select("namespace", "workload", "role", "reason"),
                title="shared services (set apart)")
    if args.out:
        frame = pl.concat([result.membership(c).with_columns(pl.lit(c).alias("candidate"))
                           for c in result.memberships])
        path = Path(args.out)
        if path.suffix == ".parquet":
            frame.write_parquet(path)
        else:
            frame.write_csv(path)
        out.print(f"wrote {frame.height:,} membership rows to {path}")
    return 0
