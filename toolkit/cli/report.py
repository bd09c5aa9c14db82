"""``kseg report SNAP --out report.html``: one self-contained HTML report of a snapshot.

The file works offline (plotly's JavaScript is inlined): summary, namespaces, coverage,
namespace and workload→service heatmaps, cross-namespace flows, traffic over time, and the
candidate segment boundaries and policy findings when those analyses are available.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toolkit.cli._common import out
from toolkit.errors import KsegError
from toolkit.snapshot import load_snapshot


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("report", help="write a self-contained HTML report of a "
                                 "snapshot", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("snapshot", help="snapshot folder")
    parser.add_argument("--out", default="report.html",
                        help="HTML file to write (default: report.html)")
    parser.add_argument("--title", help="report title (default: 'kseg report: CLUSTER')")
    parser.add_argument("--top", type=int, default=30,
                        help="rows and columns per heatmap before the 'other' bucket "
                             "(default: 30)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise KsegError(f"--top must be at least 1, not {args.top}")
    target = Path(args.out)
    if target.is_dir():
        raise KsegError(f"{target}: is a folder; --out takes the HTML file to write",
                        hint=f"e.g. --out {target / 'report.html'}")
    snap = load_snapshot(args.snapshot)
    from toolkit.viz import write_report  # plotting libraries load only for this command

    path = write_report(snap, target, title=args.title, top_n=args.top)
    out.print(f"report written to {path}", markup=False)
    return 0
