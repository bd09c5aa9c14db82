"""``kseg schema``: print the table reference (Markdown) that every snapshot follows."""

from __future__ import annotations

import argparse

from toolkit import schema


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("schema", help="print the snapshot schema reference",
                                 description=__doc__)
    parser.add_argument("tables", nargs="*", metavar="TABLE",
                        help=f"only these tables (default: all): {', '.join(schema.TABLES)}")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for name in args.tables:
        schema.table(name)  # a clear error naming the known tables
    print(schema.markdown_reference(args.tables or None))
    return 0
