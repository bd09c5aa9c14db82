"""Snapshots: a cluster's inventory and flow records as Parquet, with a manifest.

A snapshot folder holds ``manifest.json`` (the commit point), one Parquet file per inventory
table and a ``flows/`` dataset that imports append parts to::

    snap/
      manifest.json
      namespaces-<sha12>.parquet  nodes-...  pods-...  workloads-...  services-...
      endpoints-...  network_policies-...  [flow_truth-... for demo snapshots]
      flows/part-<import>-<n>-<sha12>.parquet
      rejects/            malformed records kept aside by flow imports

>>> import toolkit as kt
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
>>> snap.pods.collect().height > 0
True
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from types import MappingProxyType
from typing import Any

import polars as pl

from toolkit import _store, schema
from toolkit._version import __version__
from toolkit.errors import SchemaError, SnapshotError

FORMAT = "kseg-snapshot"
OPTIONAL_TABLES = ("flow_truth",)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True, eq=False)
class Snapshot:
    """An immutable view of one snapshot: LazyFrames per table plus its metadata.

    Build one in memory with :meth:`from_frames`, read one with :func:`load_snapshot`, persist
    with :func:`write_snapshot`. Methods that change something return a new Snapshot.
    """

    tables: Mapping[str, pl.LazyFrame]
    cluster: str = "cluster"
    captured_at: datetime | None = None
    sources: tuple[Mapping[str, Any], ...] = ()
    path: Path | None = None
    manifest: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_frames(cls, *, cluster: str = "cluster", captured_at: datetime | None = None,
                    sources: Iterable[Mapping[str, Any]] = (),
                    **frames: pl.DataFrame | pl.LazyFrame) -> Snapshot:
        """A snapshot from frames keyed by table name; absent inventory tables are empty.

        Frames are conformed to the schema (missing nullable columns become nulls).
        """
        unknown = [name for name in frames if name not in schema.TABLES]
        if unknown:
            raise SchemaError(f"unknown tables {unknown}; known: {', '.join(schema.TABLES)}")
        tables: dict[str, pl.LazyFrame] = {}
        for name in (*schema.INVENTORY_TABLES, "flows", *OPTIONAL_TABLES):
            frame = frames.get(name)
            if frame is None:
                if name in OPTIONAL_TABLES:
                    continue
                frame = schema.table(name).empty()
            tables[name] = schema.conform(frame.lazy(), name)
        return cls(MappingProxyType(tables), cluster, captured_at, tuple(sources))

    def table(self, name: str) -> pl.LazyFrame:
        """The LazyFrame of table ``name``."""
        if name not in self.tables:
            if name in schema.TABLES:
                raise SnapshotError(f"this snapshot has no {name!r} table", path=str(self.path))
            schema.table(name)
        return self.tables[name]

    namespaces = property(lambda self: self.table("namespaces"), doc="Namespaces table.")
    nodes = property(lambda self: self.table("nodes"), doc="Nodes table.")
    pods = property(lambda self: self.table("pods"), doc="Pods (IP ownership) table.")
    workloads = property(lambda self: self.table("workloads"), doc="Workloads table.")
    services = property(lambda self: self.table("services"), doc="Services table.")
    endpoints = property(lambda self: self.table("endpoints"), doc="Endpoints table.")
    network_policies = property(lambda self: self.table("network_policies"),
                                doc="NetworkPolicies table.")
    flows = property(lambda self: self.table("flows"), doc="Flow records (LazyFrame).")

    @property
    def flow_truth(self) -> pl.LazyFrame | None:
        """Ground truth of demo snapshots; None for real ones."""
        return self.tables.get("flow_truth")

    def with_tables(self, **frames: pl.DataFrame | pl.LazyFrame) -> Snapshot:
        """A copy with some tables replaced (conformed to the schema)."""
        tables = dict(self.tables)
        for name, frame in frames.items():
            tables[name] = schema.conform(frame.lazy(), name)
        return replace(self, tables=MappingProxyType(tables), path=None, manifest={})

    def row_counts(self) -> dict[str, int]:
        """Rows per table (from the manifest when loaded, else counted)."""
        recorded = self.manifest.get("tables", {})
        counts = {}
        for name, frame in self.tables.items():
            if name == "flows" and "flows" in self.manifest:
                counts[name] = self.manifest["flows"]["rows"]
            elif name in recorded:
                counts[name] = recorded[name]["rows"]
            else:
                counts[name] = frame.select(pl.len()).collect().item()
        return counts

    def flow_window(self) -> tuple[datetime, datetime] | None:
        """(earliest start, latest end) of the flow records, or None without flows."""
        recorded = self.manifest.get("flow_window")
        if recorded:
            return _parse_time(recorded["start"]), _parse_time(recorded["end"])
        return _window_of(self.flows)

    def __repr__(self) -> str:
        counts = self.row_counts()
        sizes = ", ".join(f"{n}={c:,}" for n, c in counts.items())
        where = f" at {self.path}" if self.path else " (in memory)"
        return (f"<Snapshot {self.cluster!r}{where}: {sizes}>\n"
                "next: kt.flow_matrix(snap, src='namespace', dst='namespace')")

    def _repr_html_(self) -> str:
        counts = self.row_counts()
        rows = "".join(f"<tr><td>{escape(n)}</td><td style='text-align:right'>{c:,}</td></tr>"
                       for n, c in counts.items())
        window = self.flow_window()
        span = f"{window[0]:%Y-%m-%d %H:%M} → {window[1]:%Y-%m-%d %H:%M} UTC" if window else "—"
        return (f"<div><b>Snapshot</b> {escape(self.cluster)} "
                f"<small>{escape(str(self.path or 'in memory'))}</small><br>"
                f"flow window: {escape(span)}<table><tr><th>table</th><th>rows</th></tr>"
                f"{rows}</table></div>")


def _window_of(flows: pl.LazyFrame) -> tuple[datetime, datetime] | None:
    bounds = flows.select(pl.col("start").min(), pl.col("end").max()).collect()
    start, end = bounds.row(0)
    return None if start is None else (start, end)


def _check_version(manifest: Mapping[str, Any], path: Path) -> None:
    version = manifest.get("schema_version")
    if version not in schema.READABLE_VERSIONS:
        readable = " and ".join(map(str, schema.READABLE_VERSIONS))
        raise SnapshotError(
            f"{path}: snapshot has schema version {version}, this kseg {__version__} reads "
            f"versions {readable}", path=str(path),
            hint="re-create the snapshot with this kseg version (kseg synth / inventory "
                 "import / flows import) or use the kseg version that wrote it")


def _scan_checked(file: Path, entry: Mapping[str, Any], table_name: str, verify: bool,
                  partial: bool = False) -> None:
    if not file.exists():
        raise SnapshotError(f"{file}: missing data file of table {table_name!r}", path=str(file),
                            hint="the snapshot is damaged; restore it from a copy or re-create it")
    if file.stat().st_size != entry.get("bytes", file.stat().st_size):
        raise SnapshotError(f"{file}: size differs from the manifest (truncated or replaced)",
                            path=str(file), hint="restore the snapshot from a copy or re-create it")
    try:
        actual = pl.read_parquet_schema(file)
    except Exception as exc:  # polars raises several types for a damaged footer
        raise SnapshotError(f"{file}: unreadable Parquet file ({type(exc).__name__})",
                            path=str(file), hint="restore the snapshot from a copy") from None
    try:
        schema.check_lazy(pl.LazyFrame(schema=actual), table_name, where=str(file),
                          partial=partial)
    except SchemaError as exc:
        raise SnapshotError(str(exc), path=str(file)) from None
    if verify and _store.sha256_file(file) != entry.get("sha256"):
        raise SnapshotError(f"{file}: checksum differs from the manifest", path=str(file),
                            hint="the file was modified or damaged; restore it from a copy")


def load_snapshot(path: str | Path, *, verify: bool = False) -> Snapshot:
    """Open the snapshot at ``path``: LazyFrames validated against the schema.

    Checks the manifest, the schema version, and every data file's presence, size and Parquet
    schema (``verify=True`` also recomputes checksums). Raises :class:`SnapshotError` with a
    one-line message saying what is wrong and what to do.
    """
    path = Path(path)
    manifest = _store.read_manifest(path)
    _check_version(manifest, path)
    entries = manifest.get("tables", {})
    missing = [name for name in schema.INVENTORY_TABLES if name not in entries]
    if missing:
        raise SnapshotError(f"{path}: manifest lists no {', '.join(missing)} table(s)",
                            path=str(path), hint="re-create the snapshot")
    tables: dict[str, pl.LazyFrame] = {}
    for name, entry in entries.items():
        file = path / entry["file"]
        _scan_checked(file, entry, name, verify)
        tables[name] = pl.scan_parquet(file)
    parts = manifest.get("flows", {}).get("parts", [])
    for part in parts:
        _scan_checked(path / _store.FLOWS_DIR / part["file"], part, "flows", verify,
                      partial=True)
    files = [str(path / _store.FLOWS_DIR / p["file"]) for p in parts]
    tables["flows"] = schema.scan_parquet(files, "flows")
    order = [n for n in (*schema.INVENTORY_TABLES, "flows", *OPTIONAL_TABLES) if n in tables]
    return Snapshot(
        tables=MappingProxyType({n: tables[n] for n in order}),
        cluster=manifest.get("cluster", "cluster"),
        captured_at=_parse_time(manifest.get("captured_at")),
        sources=tuple(manifest.get("sources", [])),
        path=path,
        manifest=MappingProxyType(manifest),
    )


def _base_manifest(snap: Snapshot) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "schema_version": schema.SCHEMA_VERSION,
        "kseg_version": __version__,
        "cluster": snap.cluster,
        "captured_at": _iso(snap.captured_at),
        "sources": [dict(s) for s in snap.sources],
        "tables": {},
        "flows": {"rows": 0, "parts": []},
        "flow_window": None,
        "imports": [],
    }


def _write_tables(snap: Snapshot, folder: Path, names: Iterable[str]) -> dict[str, Any]:
    entries = {}
    for name in names:
        frame = snap.table(name).collect()
        schema.check_frame(frame, name, where=f"table {name}")
        entries[name] = _store.write_parquet(frame, folder, name)
    return entries


def _write_flows(flows: pl.LazyFrame, folder: Path, import_id: str) -> list[dict[str, Any]]:
    schema.check_lazy(flows, "flows")
    required = schema.table("flows").required
    nulls = flows.select(pl.col(required).null_count()).collect(engine="streaming").row(0)
    bad = [name for name, n in zip(required, nulls, strict=True) if n]
    if bad:
        raise SchemaError(f"table 'flows': required columns {bad} hold nulls", table="flows")
    # in parts like an import's, so that a matrix can aggregate a large table slice by slice
    parts, _ = _sink_parts(flows, folder / _store.FLOWS_DIR,
                           f"{_store.SINK_PREFIX}{import_id}-",
                           lambda k: f"part-{import_id}-{k:05d}", part_rows=PART_ROWS)
    return [{**entry, "import_id": import_id} for entry in parts]


#: Flow records per Parquet part, at most (imports and written snapshots alike).
PART_ROWS = 1_000_000


def _sink_parts(frame: pl.LazyFrame, folder: Path, prefix: str, stem: Callable[[int], str], *,
                part_rows: int, companions: Iterable[pl.LazyFrame] = (),
                on_part: Callable[[int], None] | None = None,
                compression_level: int | None = None) -> tuple[list[dict[str, Any]],
                                                               list[pl.DataFrame]]:
    """Stream ``frame`` into durable parts ``folder/<stem(k)>-<sha12>.parquet`` of at most
    ``part_rows`` rows, in one pass with ``companions``; return the parts' manifest entries
    (empty parts left out) and the companions' results. On any error nothing stays on disk.
    """
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=folder))

    def name(args: Any) -> str:
        if on_part is not None:
            on_part(args.index_in_partition)
        return f"{args.index_in_partition:05d}.parquet"

    options = _store.parquet_options()
    if compression_level is not None:
        options["compression_level"] = compression_level
    target = pl.PartitionBy(staging, file_path_provider=name, max_rows_per_file=part_rows)
    entries: list[dict[str, Any]] = []
    try:
        results = pl.collect_all([frame.sink_parquet(target, **options, lazy=True),
                                  *companions], engine="streaming")
        for k, file in enumerate(sorted(staging.glob("*.parquet"))):
            entries.append(_store.adopt_parquet(file, folder, stem(k)))
    except BaseException:
        for entry in entries:
            (folder / entry["file"]).unlink(missing_ok=True)
        raise
    finally:
        _remove_folder(staging)
    for entry in [e for e in entries if not e["rows"]]:
        (folder / entry["file"]).unlink(missing_ok=True)
    return [e for e in entries if e["rows"]], list(results[1:])


def _flow_window(parts: list[Mapping[str, Any]], folder: Path) -> dict[str, str] | None:
    if not parts:
        return None
    files = [str(folder / _store.FLOWS_DIR / p["file"]) for p in parts]
    window = _window_of(schema.scan_parquet(files, "flows"))
    return None if window is None else {"start": _iso(window[0]), "end": _iso(window[1])}


def write_snapshot(snap: Snapshot, path: str | Path, *, import_id: str = "base") -> Path:
    """Write ``snap`` to ``path`` atomically and return the path.

    A new path is built in a hidden sibling folder and renamed into place. An existing
    snapshot is replaced by writing new files beside the old ones and swapping the manifest
    last; a crash at any point leaves the old snapshot or the new one, never a mix. An
    existing folder that is not a snapshot and is not empty is refused.
    """
    path = Path(path)
    if path.exists() and not (path / _store.MANIFEST).exists():
        if not path.is_dir() or any(path.iterdir()):
            raise SnapshotError(f"{path}: exists and is not a kseg snapshot; refusing to "
                                "overwrite it", path=str(path), hint="choose another --out")
        path.rmdir()
    names = [n for n in (*schema.INVENTORY_TABLES, *OPTIONAL_TABLES) if n in snap.tables]
    if not path.exists():
        staging = _store.new_staging_dir(path)
        try:
            _commit(snap, staging, names, import_id)
            _store.publish_staging(staging, path)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return path
    with _store.locked(path):
        _commit(snap, path, names, import_id)
    return path


def _commit(snap: Snapshot, folder: Path, names: list[str], import_id: str) -> None:
    manifest = _base_manifest(snap)
    manifest["tables"] = _write_tables(snap, folder, names)
    reuse = snap.path is not None and snap.path.resolve() == folder.resolve()
    if reuse:  # rewriting a loaded snapshot in place: its flow parts stay valid as they are
        manifest["flows"] = dict(snap.manifest["flows"])
        manifest["imports"] = list(snap.manifest.get("imports", []))
    else:
        parts = _write_flows(snap.flows, folder, import_id)
        manifest["flows"] = {"rows": sum(p["rows"] for p in parts), "parts": parts}
    manifest["flow_window"] = _flow_window(manifest["flows"]["parts"], folder)
    _store.write_json_atomic(folder / _store.MANIFEST, manifest)
    _store.sweep_unreferenced(folder, manifest)


def replace_inventory(path: str | Path, snap: Snapshot) -> Path:
    """Replace the inventory tables of the snapshot at ``path`` with ``snap``'s, keeping its
    flows and import history (used when a later capture is merged into a snapshot)."""
    existing = load_snapshot(path)
    merged = replace(snap, path=existing.path, manifest=existing.manifest,
                     tables=MappingProxyType({**snap.tables, "flows": existing.flows}))
    return write_snapshot(merged, existing.path)


def _remove_folder(path: Path) -> None:
    """Remove ``path`` even when a failed streaming query's writers are still closing files
    in it (polars can return the error before every sink has let go of its file)."""
    for pause in (0.0, 0.05, 0.2, 0.5, 1.0, 2.0):
        time.sleep(pause)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return


def new_import_id() -> str:
    """A short unique id for an import batch."""
    return uuid.uuid4().hex[:12]


class FlowAppender:
    """Append flow records to a snapshot's ``flows/`` dataset, all or nothing.

    Parts are written as they come (memory stays flat); the manifest only learns about them
    in :meth:`commit`. Leaving the ``with`` block without committing (an error, Ctrl-C)
    deletes the parts, so the snapshot is exactly as it was.

    >>> with FlowAppender(path, fmt="aws-vpc") as out:          # doctest: +SKIP
    ...     for chunk in chunks:
    ...         out.write(chunk)
    ...     out.commit({"files": [...], "records_read": 10})
    """

    def __init__(self, path: str | Path, *, fmt: str, import_id: str | None = None):
        self.path = Path(path)
        self.fmt = fmt
        self.import_id = import_id or new_import_id()
        self.parts: list[dict[str, Any]] = []
        self._lock = None
        self._committed = False

    def __enter__(self) -> FlowAppender:
        load_snapshot(self.path)  # refuse early if it is not a readable snapshot
        self._lock = _store.locked(self.path)
        self._lock.__enter__()
        return self

    def imported_sha256(self) -> set[str]:
        """Content hashes of every file earlier imports took in (to refuse re-imports)."""
        manifest = _store.read_manifest(self.path)
        return {f["sha256"] for imp in manifest.get("imports", []) for f in imp.get("files", [])}

    def write(self, frame: pl.DataFrame) -> None:
        """Write one chunk of flow rows (conformed and checked against the schema)."""
        if frame.height == 0:
            return
        frame = schema.conform(frame, "flows")
        schema.check_frame(frame, "flows", where=f"import {self.import_id}")
        stem = f"part-{self.import_id}-{len(self.parts):05d}"
        # zstd level 1: imports are write-bound; files 4% larger, read back as fast
        entry = _store.write_parquet(schema.without_null_columns(frame, "flows"),
                                     self.path / _store.FLOWS_DIR, stem, compression_level=1)
        self.parts.append({**entry, "import_id": self.import_id})

    def sink(self, frame: pl.LazyFrame, *companions: pl.LazyFrame, part_rows: int,
             on_part: Callable[[int], None] | None = None) -> list[pl.DataFrame]:
        """Stream ``frame`` (flow rows) into parts of at most ``part_rows`` rows in one
        pass with ``companions`` (queries over the same input, e.g. counts); return the
        companions' results. ``on_part(k)`` is called as part ``k`` (0-based) is opened.

        The rows are conformed to the schema but not checked row by row (unlike
        :meth:`write`): the caller counts bad rows in a companion and rolls back. The
        parts leave out the nullable columns ``frame`` lacks. On any
        error nothing of this call stays on disk. The parts are published only by
        :meth:`commit`; :meth:`rollback` to a :meth:`mark` removes them earlier.
        """
        first = len(self.parts)
        parts, results = _sink_parts(
            schema.conform(frame, "flows", omit_absent=True), self.path / _store.FLOWS_DIR,
            f"{_store.SINK_PREFIX}{self.import_id}-",
            lambda k: f"part-{self.import_id}-{first + k:05d}", part_rows=part_rows,
            companions=companions, on_part=on_part, compression_level=1)
        self.parts.extend({**entry, "import_id": self.import_id} for entry in parts)
        return results

    def mark(self) -> int:
        """A point to :meth:`rollback` to (the number of parts written so far)."""
        return len(self.parts)

    def rollback(self, mark: int) -> None:
        """Remove the parts written since ``mark``."""
        for part in self.parts[mark:]:
            (self.path / _store.FLOWS_DIR / part["file"]).unlink(missing_ok=True)
        del self.parts[mark:]

    def _remove_sink_folders(self) -> None:
        """Staging folders of this import that a failed streaming query re-created after
        :meth:`sink` had removed them (its writers can outlive the error by a moment)."""
        for folder in (self.path / _store.FLOWS_DIR).glob(
                f"{_store.SINK_PREFIX}{self.import_id}-*"):
            _remove_folder(folder)

    def commit(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """Publish the parts and the import ``record`` (files, counts) in the manifest."""
        self._remove_sink_folders()
        manifest = _store.read_manifest(self.path)
        flows = manifest.setdefault("flows", {"rows": 0, "parts": []})
        flows["parts"] = [*flows.get("parts", []), *self.parts]
        flows["rows"] = sum(p["rows"] for p in flows["parts"])
        manifest["schema_version"] = schema.SCHEMA_VERSION  # its new parts may be partial
        entry = {"id": self.import_id, "format": self.fmt,
                 "imported_at": _iso(datetime.now(UTC)),
                 "rows": sum(p["rows"] for p in self.parts), **dict(record)}
        manifest.setdefault("imports", []).append(json.loads(json.dumps(entry, default=str)))
        manifest["flow_window"] = _flow_window(flows["parts"], self.path)
        _store.write_json_atomic(self.path / _store.MANIFEST, manifest)
        self._committed = True
        return entry

    def __exit__(self, *exc: object) -> None:
        try:
            if not self._committed:
                for part in self.parts:
                    (self.path / _store.FLOWS_DIR / part["file"]).unlink(missing_ok=True)
                self._remove_sink_folders()
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
