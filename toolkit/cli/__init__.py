"""The ``kseg`` command line. Each subcommand lives in its own module with a ``register``
function; this module only wires them up and turns :class:`KsegError` into a one-line message
and exit code 2 (usage or input error). Exit code 1 is reserved for "the analysis found
problems" where a command says so.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from toolkit._version import __version__
from toolkit.errors import KsegError

#: Subcommand modules, in the order ``kseg --help`` lists them.
COMMAND_MODULES = (
    "demo",
    "synth",
    "info",
    "schema",
    "collect",
    "inventory",
    "flows",
    "matrix",
    "policy",
    "boundaries",
    "batch",
    "diff",
    "report",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2, like every other kseg error
        self.exit(2, f"kseg: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kseg", description="Kubernetes micro-segmentation analysis.")
    parser.add_argument("--version", action="version", version=f"kseg {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        module_name = f"toolkit.cli.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # a missing dependency inside the module is a real bug
                raise
            continue  # tests/cli/test_cli.py checks that every listed module exists
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KsegError as exc:
        print(f"kseg: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("kseg: interrupted; nothing was committed", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
