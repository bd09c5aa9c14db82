"""Small helpers shared by the CLI subcommands: output, progress, argument types."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

#: Piped output (files, CI logs) is not cut to 80 columns: names are what people grep for.
_PIPE_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
out = Console(highlight=False, soft_wrap=True, width=_PIPE_WIDTH)
err = Console(stderr=True, highlight=False)


def warn(message: str) -> None:
    err.print(f"kseg: warning: {message}", markup=False)


@contextmanager
def progress(transient: bool = True) -> Iterator[Progress]:
    """A progress display on stderr; silent when stderr is not a terminal."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=err, transient=transient,
                   disable=not sys.stderr.isatty())
    with bar:
        yield bar


def print_frame(frame: pl.DataFrame, title: str | None = None, *, max_rows: int = 20) -> None:
    """Print a polars frame as a readable table (numbers right-aligned, thousands separators)."""
    table = Table(title=escape(title) if title else None, title_justify="left",
                  show_edge=False, pad_edge=False)
    for name, dtype in frame.schema.items():
        table.add_column(name, justify="right" if dtype.is_numeric() else "left")
    for row in frame.head(max_rows).iter_rows():
        table.add_row(*(escape(_fmt(v)) for v in row))
    out.print(table)
    if frame.height > max_rows:
        out.print(f"... {frame.height - max_rows:,} more rows")


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return str(value)


def human_bytes(n: float | None) -> str:
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"
