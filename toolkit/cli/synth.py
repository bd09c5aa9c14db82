"""``kseg synth --out DIR``: generate seeded demo snapshots (``DIR/demo-dayN``).

``--bundled`` regenerates the series shipped in ``data/`` bit for bit.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.cli._common import out
from toolkit.errors import KsegError

if TYPE_CHECKING:
    from toolkit.demo.config import DemoConfig


def _positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "synth", help="generate seeded demo snapshots with ground truth",
        description="Generate seeded demo snapshots of an EKS-like cluster (DIR/demo-dayN), "
                    "with AWS-VPC-like flow records and their ground truth. --bundled "
                    "regenerates the series shipped in data/ bit for bit.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  kseg synth --out /tmp/demo --days 2 --flows-per-day 100000\n"
               "  kseg synth --bundled --out data")
    parser.add_argument("--out", required=True, help="folder that receives demo-day1, ...")
    parser.add_argument("--seed", type=_positive, default=None, help="random seed (default 42)")
    parser.add_argument("--days", type=_positive, default=None, help="number of daily "
                        "snapshots (default 3)")
    parser.add_argument("--flows-per-day", type=_positive, default=None,
                        help="flow records per day (default 50000)")
    parser.add_argument("--scale", type=_positive, default=None,
                        help="replica and node multiplier, 1..64 (default 1)")
    parser.add_argument("--both-sides", action="store_true", default=None,
                        help="report traffic between nodes from both ENIs (two rows)")
    parser.add_argument("--hide-same-node", action="store_true", default=None,
                        help="drop traffic that never leaves a node (invisible to VPC logs)")
    parser.add_argument("--aws-vpc-logs", metavar="DIR", default=None,
                        help="also write each day as AWS VPC flow-log text (DIR/demo-dayN.log)")
    parser.add_argument("--bundled", action="store_true",
                        help="the bundled data/ series (other size options are refused)")
    parser.set_defaults(func=run)


def _config(args: argparse.Namespace) -> DemoConfig:
    from toolkit.demo import BUNDLED, DemoConfig  # imported here: keeps 'kseg --help' fast

    knobs = {"seed": args.seed, "days": args.days, "flows_per_day": args.flows_per_day,
             "scale": args.scale, "both_sides": args.both_sides,
             "hide_same_node": args.hide_same_node}
    given = {k: v for k, v in knobs.items() if v is not None}
    if args.bundled:
        if given:
            names = ", ".join("--" + k.replace("_", "-") for k in given)
            raise KsegError(f"--bundled fixes the configuration; drop {names}")
        return BUNDLED
    return DemoConfig(**given)


def run(args: argparse.Namespace) -> int:
    from toolkit.demo import write_series

    cfg = _config(args)
    target = Path(args.out)
    if target.exists() and not target.is_dir():
        raise KsegError(f"{target}: exists and is not a folder", hint="choose another --out")
    paths = write_series(cfg, target, aws_vpc_logs=args.aws_vpc_logs)
    for path in paths:
        out.print(f"wrote {path}")
    out.print(f"seed {cfg.seed}, {cfg.days} day(s), {cfg.flows_per_day:,} flow records per day"
              + (f"; AWS VPC logs in {args.aws_vpc_logs}" if args.aws_vpc_logs else ""))
    return 0
