"""``kseg matrix SNAP``: a flow matrix (who talks to whom, in bytes) with its coverage.

Flows are resolved at their time (pod IP ownership), oriented client → server and aggregated
by the chosen source and destination levels. Without ``--out`` the heaviest rows are printed
as a table, followed by a coverage line; with ``--out`` the whole long table is written
(.parquet or .csv).

examples:
  kseg matrix data/demo-day1 --src namespace --dst namespace
  kseg matrix data/demo-day1 --src workload --dst service --namespace shop --top 15
  kseg matrix SNAP --src segment --dst segment --segments label:app --bucket 1h --out m.parquet
"""

from __future__ import annotations

import argparse

from toolkit._io import write_table
from toolkit.cli._common import out, print_frame
from toolkit.core.matrix import LEVELS, flow_matrix
from toolkit.snapshot import load_snapshot


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("matrix", help="aggregate flows into a src → dst matrix",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snapshot", help="snapshot folder")
    parser.add_argument("--src", default="namespace", choices=list(LEVELS),
                        help="source level (default: namespace)")
    parser.add_argument("--dst", default="namespace", choices=list(LEVELS),
                        help="destination level (default: namespace)")
    parser.add_argument("--segments", metavar="STRATEGY",
                        help="segment strategy for the segment level: namespace, workload, "
                             "label:KEY, illumio, rules:FILE.yaml")
    parser.add_argument("--as-recorded", action="store_true",
                        help="keep src/dst as recorded (no client → server orientation)")
    parser.add_argument("--window", metavar="START..END",
                        help="only records starting in [START, END) (ISO times, UTC)")
    parser.add_argument("--bucket", metavar="EVERY", help="time buckets, e.g. 1h or 15m")
    parser.add_argument("--namespace", action="append", metavar="NS", dest="namespaces",
                        help="keep rows with this namespace on either side (repeatable)")
    parser.add_argument("--no-dedupe", action="store_true",
                        help="keep both copies of records reported by source and destination")
    parser.add_argument("--top", type=int, default=20, help="rows to print (default: 20)")
    parser.add_argument("--out", metavar="FILE", help="write the long table (.parquet or .csv)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    snap = load_snapshot(args.snapshot)
    segments = args.segments
    if segments is None and "segment" in (args.src, args.dst):
        segments = "namespace"
    m = flow_matrix(snap, src=args.src, dst=args.dst, as_recorded=args.as_recorded,
                    window=args.window, bucket=args.bucket, namespaces=args.namespaces,
                    segments=segments, dedupe=not args.no_dedupe)
    if args.out:
        path = write_table(m.frame, args.out)
        out.print(f"wrote {m.frame.height:,} rows to {path}")
    else:
        title = f"{args.src} → {args.dst} (top {min(args.top, m.frame.height)} by bytes)"
        print_frame(m.frame, title=title, max_rows=max(args.top, 0))
    out.print(m.coverage.summary(), markup=False)
    return 0
