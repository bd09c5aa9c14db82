"""Low-level, crash-safe storage for snapshot directories.

The commit point of a snapshot is its ``manifest.json``: data files are written first under
names that never collide with files the current manifest references, fsynced, and only then is
the manifest replaced with ``os.replace`` (atomic on POSIX). A crash before that leaves the old
manifest pointing at the old, untouched files; files no manifest references are swept on the
next successful write. A brand-new snapshot is built in a hidden sibling folder and renamed
into place, so a half-written snapshot never appears under the target name.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from toolkit.errors import SnapshotError

MANIFEST = "manifest.json"
FLOWS_DIR = "flows"
LOCK = ".kseg.lock"
ROW_GROUP_SIZE = 256 * 1024
#: Folders (under flows/) where a streaming import writes its parts before adopting them.
SINK_PREFIX = ".sink-"


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file (mkstemp's 0600 is too strict for
    files users share, e.g. snapshots read by Dask workers running as another user)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_file(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def parquet_options() -> dict[str, Any]:
    """How every data file is written (flow parts add ``compression_level=1``)."""
    return {"compression": "zstd", "statistics": True, "row_group_size": ROW_GROUP_SIZE}


def write_parquet(frame: pl.DataFrame | pl.LazyFrame, folder: Path, stem: str, *,
                  compression_level: int | None = None) -> dict[str, Any]:
    """Write ``frame`` durably as ``folder/<stem>-<sha12>.parquet``; return its manifest entry.

    A LazyFrame is streamed to disk (``sink_parquet``), so flow tables larger than memory can
    be written. Naming by content hash makes names collision-free with the live snapshot's
    files and makes identical data produce identical names (reproducible snapshots).
    """
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}-", suffix=".tmp", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    options = parquet_options()
    if compression_level is not None:
        options["compression_level"] = compression_level
    try:
        if isinstance(frame, pl.LazyFrame):
            frame.sink_parquet(tmp, **options)
        else:
            frame.write_parquet(tmp, **options)
        return adopt_parquet(tmp, folder, stem)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def adopt_parquet(tmp: Path, folder: Path, stem: str) -> dict[str, Any]:
    """Make a finished Parquet file durable as ``folder/<stem>-<sha12>.parquet`` (mode,
    fsync, content hash, atomic rename); return its manifest entry."""
    os.chmod(tmp, file_mode())
    fsync_file(tmp)
    digest = sha256_file(tmp)
    final = folder / f"{stem}-{digest[:12]}.parquet"
    os.replace(tmp, final)
    rows = pq.read_metadata(final).num_rows
    return {"file": final.name, "rows": rows, "bytes": final.stat().st_size, "sha256": digest}


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=True, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def read_manifest(path: Path) -> dict[str, Any]:
    manifest_path = path / MANIFEST
    if not path.exists():
        raise SnapshotError(f"{path}: no such snapshot folder",
                            path=str(path), hint="check the path, or create one with "
                            "'kseg synth' or 'kseg inventory import'")
    if not path.is_dir():
        raise SnapshotError(f"{path}: is a file, not a snapshot folder", path=str(path))
    if not manifest_path.exists():
        raise SnapshotError(f"{path}: not a kseg snapshot (no {MANIFEST})", path=str(path),
                            hint="point at a folder written by kseg, e.g. data/demo-day1")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{manifest_path}: damaged manifest ({exc})", path=str(path),
                            hint="restore the snapshot from a copy or re-create it") from None
    if not isinstance(manifest, dict) or manifest.get("format") != "kseg-snapshot":
        raise SnapshotError(f"{manifest_path}: not a kseg snapshot manifest", path=str(path))
    return manifest


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on a snapshot folder so two writers cannot interleave."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOCK, "a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SnapshotError(f"{path}: another kseg process is writing this snapshot",
                                path=str(path), hint="wait for it to finish") from None
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def referenced_files(manifest: dict[str, Any]) -> set[str]:
    """Relative paths of every data file the manifest points at."""
    files = {entry["file"] for entry in manifest.get("tables", {}).values()}
    files |= {f"{FLOWS_DIR}/{part['file']}" for part in manifest.get("flows", {}).get("parts", [])}
    return files


def sweep_unreferenced(path: Path, manifest: dict[str, Any]) -> None:
    """Delete data files (and leftover temporaries) that the committed manifest does not use."""
    keep = referenced_files(manifest)
    for folder in (path, path / FLOWS_DIR, path / "rejects"):
        if not folder.is_dir():
            continue
        for item in folder.iterdir():
            if item.is_dir():
                if item.name.startswith(SINK_PREFIX):  # left by an import that was killed
                    shutil.rmtree(item, ignore_errors=True)
                continue
            rel = str(item.relative_to(path))
            in_rejects = folder == path / "rejects"
            stale_data = item.suffix == ".parquet" and not in_rejects and rel not in keep
            if stale_data or item.name.endswith(".tmp"):
                item.unlink(missing_ok=True)


def new_staging_dir(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.staging-", dir=target.parent))


def publish_staging(staging: Path, target: Path) -> None:
    """Rename a fully written staging folder to ``target`` (which must not exist)."""
    fsync_dir(staging)
    try:
        os.rename(staging, target)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        raise SnapshotError(f"{target}: appeared while the snapshot was being written",
                            path=str(target), hint="write to a new path") from None
    fsync_dir(target.parent)
