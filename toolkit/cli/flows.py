"""``kseg flows import``: append flow logs to a snapshot; ``kseg flows formats``: list readers.

Examples::

    kseg flows import --format aws-vpc 'vpc-logs/**/*.log.gz' --snapshot snap
    kseg flows import --format aws-vpc nat.log --fields 'instance-id interface-id srcaddr
        dstaddr pkt-srcaddr pkt-dstaddr' --assume-time 2024-05-01T10:00:00Z --snapshot snap
    kseg flows import --format csv flows.csv --map src_ip=SourceAddress,dst_ip=DestAddr \\
        --snapshot snap
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime

from toolkit.cli._common import err, out, progress
from toolkit.collect.flows import FORMATS, import_flows
from toolkit.errors import InputError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("flows", help="import flow logs into a snapshot",
                                 description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="flows_command", metavar="ACTION",
                                parser_class=type(parser))
    imp = sub.add_parser("import", help="append flow records (files, .gz, directories, globs)",
                         description="Append normalised flow records to a snapshot, all or "
                         "nothing. Files imported before (same content hash) are skipped.")
    imp.add_argument("paths", nargs="+", metavar="PATH", help="files, .gz, directories or globs")
    imp.add_argument("--format", "-f", required=True, choices=list(FORMATS),
                     help="input format")
    imp.add_argument("--snapshot", "-s", required=True, help="snapshot folder to append to")
    imp.add_argument("--fields", help="aws-vpc: the flow log format's field list when the "
                     "files have no header line (space or comma separated)")
    imp.add_argument("--map", dest="mapping", help="csv/parquet: flows column=input column "
                     "pairs, e.g. src_ip=SourceAddress,dst_ip=DestAddr")
    imp.add_argument("--assume-time", help="ISO time stamped on records that carry none "
                     "(aws-vpc formats without start/end; conntrack -L dumps)")
    imp.add_argument("--quiet", "-q", action="store_true", help="print no summary")
    imp.set_defaults(func=run_import)
    fmts = sub.add_parser("formats", help="list the flow formats kseg reads")
    fmts.set_defaults(func=run_formats)
    parser.set_defaults(func=lambda args: parser.print_help() or 2)


def _mapping(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    pairs = {}
    for item in text.split(","):
        target, sep, source = item.partition("=")
        if not sep or not target.strip() or not source.strip():
            raise InputError(f"--map expects target=column pairs, got {item!r}",
                             hint="e.g. --map src_ip=SourceAddress,dst_ip=DestAddr")
        pairs[target.strip()] = source.strip()
    return pairs


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--assume-time: not an ISO time: {text!r}",
                         hint="e.g. 2024-05-01T10:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def run_import(args: argparse.Namespace) -> int:
    fields = args.fields.replace(",", " ").split() if args.fields else None
    last = [0.0]
    with progress(transient=True) as bar:
        task = bar.add_task(f"importing {args.format}", total=None)

        def on_progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            now = time.monotonic()
            if not sys.stderr.isatty() and total > 256 << 20 and now - last[0] > 10:
                last[0] = now
                err.print(f"kseg: {done / total:.0%} of {total / 2**20:,.0f} MiB read",
                          markup=False)

        summary = import_flows(args.paths, args.snapshot, args.format, fields=fields,
                               mapping=_mapping(args.mapping), assume_time=_time(args.assume_time),
                               on_progress=on_progress)
    if not args.quiet:
        out.print(str(summary), markup=False)
    return 0


def run_formats(args: argparse.Namespace) -> int:
    for name, fmt in FORMATS.items():
        out.print(f"{name:<10} {fmt.summary}", markup=False)
    return 0
