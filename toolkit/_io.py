"""Writing result tables for users: Parquet or CSV chosen by suffix, always atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import polars as pl

from toolkit._store import file_mode
from toolkit.errors import KsegError

SUFFIXES = (".parquet", ".csv")


def write_table(frame: pl.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` (.parquet or .csv) via a temporary file and a rename, so an
    interrupted run never leaves a half-written file under the final name.

    Nested columns (lists, structs) are written as JSON text in CSV, which has no nesting.
    """
    path = Path(path)
    if path.suffix not in SUFFIXES:
        raise KsegError(f"{path}: unsupported output type {path.suffix or '(none)'!r}",
                        hint="use a .parquet or .csv file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        if path.suffix == ".parquet":
            frame.write_parquet(tmp, compression="zstd")
        else:
            nested = [n for n, d in frame.schema.items() if d.is_nested()]
            flat = frame.with_columns(pl.col(n).map_elements(_json, return_dtype=pl.String)
                                      for n in nested) if nested else frame
            flat.write_csv(tmp)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _json(value: object) -> str:
    import json

    return json.dumps(value.to_list() if isinstance(value, pl.Series) else value, default=str)
