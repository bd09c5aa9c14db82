"""Import flow logs into a snapshot: the shared machinery around the format readers.

:func:`import_flows` expands the paths, skips files an earlier import already took in (by
content hash), streams every file through its reader in blocks, canonicalises addresses
(once per distinct value), writes Parquet parts through :class:`~toolkit.snapshot.FlowAppender`
and keeps malformed records aside in ``rejects/<import_id>-<format>.jsonl``. Everything is
committed at the end or not at all.

>>> import toolkit as kt                                      # doctest: +SKIP
>>> summary = import_flows(["vpc/*.log.gz"], "snap", "aws-vpc")  # doctest: +SKIP
>>> print(summary)                                            # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import polars as pl
import pyarrow.parquet as pq

from toolkit import schema
from toolkit._ipaddr import CANONICAL_V4
from toolkit._store import FLOWS_DIR, read_manifest, sha256_file
from toolkit.collect.flows import reader, registry
from toolkit.collect.flows._norm import Parsed, ReadContext, split_bad
from toolkit.errors import InputError
from toolkit.snapshot import PART_ROWS, FlowAppender, new_import_id

IP_COLUMNS = ("src_ip", "dst_ip", "src_xlate_ip", "dst_xlate_ip")
_IP_CACHE: dict[str, str | None] = {}


@dataclass
class FileStats:
    path: str
    sha256: str
    size: int = 0
    records_read: int = 0
    imported: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)


@dataclass
class ImportSummary:
    """What an import did: counts by file and reason, the time range, where rejects went."""

    import_id: str
    format: str
    snapshot: str
    files: list[FileStats] = field(default_factory=list)
    already_imported: list[str] = field(default_factory=list)
    start: datetime | None = None
    end: datetime | None = None
    rejects_file: str | None = None
    seconds: float = 0.0
    committed: bool = False
    options: dict[str, Any] = field(default_factory=dict)

    def _total(self, name: str) -> int:
        return sum(getattr(f, name) for f in self.files)

    records_read = property(lambda self: self._total("records_read"))
    imported = property(lambda self: self._total("imported"))

    def _by_reason(self, name: str) -> dict[str, int]:
        out: dict[str, int] = {}
        for stats in self.files:
            for reason, n in getattr(stats, name).items():
                out[reason] = out.get(reason, 0) + n
        return dict(sorted(out.items()))

    skipped = property(lambda self: self._by_reason("skipped"))
    rejected = property(lambda self: self._by_reason("rejected"))

    def record(self) -> dict[str, Any]:
        """The import record stored in the snapshot manifest."""
        return {"files": [vars(f) for f in self.files], "records_read": self.records_read,
                "imported": self.imported, "skipped": self.skipped, "rejected": self.rejected,
                "time_range": [self.start, self.end], "rejects_file": self.rejects_file,
                "already_imported": self.already_imported, "options": self.options}

    def __str__(self) -> str:
        def reasons(d: dict[str, int]) -> str:
            return (" (" + ", ".join(f"{k} {v:,}" for k, v in d.items()) + ")") if d else ""

        lines = [f"import {self.import_id} ({self.format}) into {self.snapshot}: "
                 f"{len(self.files)} file(s) in {self.seconds:.1f} s"]
        for path in self.already_imported:
            lines.append(f"  skipped {path}: already imported (same content hash)")
        lines += [f"  records read  {self.records_read:,}",
                  f"  imported      {self.imported:,}",
                  f"  skipped       {sum(self.skipped.values()):,}{reasons(self.skipped)}",
                  f"  rejected      {sum(self.rejected.values()):,}{reasons(self.rejected)}"]
        if self.start is not None:
            lines.append(f"  time range    {self.start:%Y-%m-%d %H:%M:%S} .. "
                         f"{self.end:%Y-%m-%d %H:%M:%S} UTC")
        if self.rejects_file:
            lines.append(f"  rejects       {self.rejects_file}")
        if not self.committed:
            lines.append("  nothing new to import; the snapshot is unchanged")
        return "\n".join(lines)


def canonical_ip(text: str) -> str | None:
    """Canonical text of one address (``ipaddress`` compressed form); None when invalid.

    >>> canonical_ip("2001:DB8:0:0::1"), canonical_ip("010.0.0.1"), canonical_ip("-")
    ('2001:db8::1', None, None)
    """
    try:
        return str(ipaddress.ip_address(text.strip().split("%")[0]))
    except ValueError:
        return None


def canonicalise_ips(frame: pl.DataFrame) -> pl.DataFrame:
    """Replace every address column by its canonical form; invalid addresses become null.

    Only distinct values that are not plain canonical IPv4 reach :mod:`ipaddress` (and each
    only once per process, through a cache). When a column had invalid values, its original
    text is kept in ``_raw_<column>`` for the reject message.
    """
    if len(_IP_CACHE) > 2_000_000:
        _IP_CACHE.clear()
    out = []
    for col in IP_COLUMNS:
        if col not in frame.columns:
            continue
        values = frame.get_column(col).cast(pl.String)
        distinct = values.drop_nulls().unique()
        odd = distinct.filter(~distinct.str.contains(CANONICAL_V4)).to_list()
        mapping = {}
        for value in odd:
            if value not in _IP_CACHE:
                _IP_CACHE[value] = canonical_ip(value)
            if _IP_CACHE[value] != value:
                mapping[value] = _IP_CACHE[value]
        if mapping:
            out.append(values.replace(mapping).alias(col))
            if None in mapping.values():
                out.append(values.alias(f"_raw_{col}"))
    return frame.with_columns(out) if out else frame


def _provenance(fmt: str, label: str, import_id: str) -> list[pl.Expr]:
    """The columns every imported row carries: its format, file and import."""
    return [pl.lit(fmt).alias("format"), pl.lit(label).alias("source_file"),
            pl.lit(import_id).alias("import_id")]


def _finish(parsed: Parsed, fmt: str, label: str, import_id: str
            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    rows = canonicalise_ips(parsed.rows)
    checks = []
    for col in IP_COLUMNS:
        if col not in rows.columns:
            continue
        raw = f"_raw_{col}"
        code = f"invalid-{col.replace('_', '-')}"
        detail = pl.col(raw).fill_null("(missing)") if raw in rows.columns else pl.lit(
            "(missing)")
        if col in ("src_ip", "dst_ip"):
            checks.append((pl.col(col).is_null(), code, detail))
        elif raw in rows.columns:
            checks.append((pl.col(col).is_null() & pl.col(raw).is_not_null(), code,
                           pl.col(raw)))
    checks += [(pl.col(c).is_null(), f"missing-{c}", pl.lit("(missing or unreadable time)"))
               for c in ("start", "end") if c in rows.columns]
    good, bad = split_bad(rows, checks)
    good = good.drop([c for c in good.columns if c.startswith("_")])
    good = good.with_columns(_provenance(fmt, label, import_id))
    flows = schema.conform(good, "flows")
    return flows, pl.concat([parsed.rejects, bad])


class _RejectSink:
    """Malformed records, streamed to a temporary JSON Lines file, published on commit."""

    def __init__(self, snapshot: Path, import_id: str, fmt: str):
        self.folder = snapshot / "rejects"
        self.final = self.folder / f"{import_id}-{fmt}.jsonl"
        self.tmp = self.folder / f".{self.final.name}.tmp"
        self.count = 0
        self.published = False
        self._fh: TextIO | None = None
        self.meta = {"import_id": import_id, "format": fmt}

    def write(self, rejects: pl.DataFrame, label: str) -> None:
        if rejects.height == 0:
            return
        if self._fh is None:
            self.folder.mkdir(exist_ok=True)
            self._fh = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115
        frame = rejects.select(pl.lit(self.meta["import_id"]).alias("import_id"),
                               pl.lit(self.meta["format"]).alias("format"),
                               pl.lit(label).alias("source_file"), pl.all())
        self._fh.write(frame.write_ndjson())
        self.count += rejects.height

    def publish(self) -> str | None:
        if self._fh is None:
            return None
        self._fh.close()
        self.tmp.replace(self.final)
        self.published = True
        return str(self.final.relative_to(self.folder.parent))

    def discard(self) -> None:
        """Remove what this import wrote (also a published file if the commit then failed)."""
        if self._fh is not None:
            self._fh.close()
        self.tmp.unlink(missing_ok=True)
        if self.published:
            self.final.unlink(missing_ok=True)


@dataclass
class _Buffer:
    """Rows waiting for the next part. Parts are written by one background thread while
    the next blocks parse (polars and pyarrow release the GIL); at most one part is in
    flight, so memory stays bounded and a write error surfaces at the next flush."""

    out: FlowAppender
    frames: list[pl.DataFrame] = field(default_factory=list)
    rows: int = 0
    part_rows: int = PART_ROWS
    _pool: ThreadPoolExecutor | None = None
    _pending: Future[None] | None = None

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height:
            self.frames.append(frame)
            self.rows += frame.height
        if self.rows >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered rows to the writer thread (after the previous part is done)."""
        self.wait()
        if self.frames:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="kseg-part-writer")
            self._pending = self._pool.submit(self.out.write, pl.concat(self.frames,
                                                                        rechunk=False))
        self.frames, self.rows = [], 0

    def wait(self) -> None:
        """Block until the part in flight is written; re-raise its error."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Wait for the writer (errors ignored: only called while another error unwinds)."""
        try:
            if self._pending is not None:
                self._pending.exception()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def import_flows(paths: Iterable[str | Path], snapshot: str | Path, fmt: str, *,
                 fields: list[str] | None = None, mapping: dict[str, str] | None = None,
                 assume_time: datetime | None = None,
                 on_progress: Callable[[int, int], None] | None = None,
                 block_bytes: int = reader.BLOCK_BYTES, part_rows: int = PART_ROWS,
                 import_id: str | None = None) -> ImportSummary:
    """Append the flow records of ``paths`` (files, .gz, directories, globs) in format
    ``fmt`` to the snapshot at ``snapshot``; return the :class:`ImportSummary`.

    All or nothing: on any error (or Ctrl-C) the snapshot is left exactly as it was.
    Files whose content hash an earlier import recorded are skipped. A file without a
    single usable record is an :class:`~toolkit.errors.InputError`.
    """
    flow_format = registry.get_format(fmt)
    files = reader.expand_paths(paths)
    started = time.monotonic()
    snapshot = Path(snapshot)
    summary = ImportSummary(import_id or new_import_id(), flow_format.name, str(snapshot),
                            options={"fields": fields, "mapping": mapping,
                                     "assume_time": assume_time})
    hashing = _StreamHash(sum(p.stat().st_size for p in files), on_progress)
    ctx = ReadContext(fields=fields, mapping=dict(mapping or {}), assume_time=assume_time,
                      block_bytes=block_bytes, progress=hashing.feed)
    with FlowAppender(snapshot, fmt=flow_format.name, import_id=summary.import_id) as out:
        sink = _RejectSink(snapshot, summary.import_id, flow_format.name)
        try:
            _import_files(files, out, sink, summary, flow_format, ctx, part_rows, hashing)
            if summary.files:
                summary.rejects_file = sink.publish()
                summary.seconds = time.monotonic() - started
                out.commit(summary.record())
                summary.committed = True
            else:
                sink.discard()
        except BaseException:
            sink.discard()
            raise
    summary.seconds = time.monotonic() - started
    return summary


class _StreamHash:
    """Progress and content hash from the bytes the readers pull through the file."""

    def __init__(self, total: int, on_progress: Callable[[int, int], None] | None):
        self.total, self.done, self.on_progress = total, 0, on_progress
        self.digest = hashlib.sha256()
        self.fed = self.fed_progress = 0

    def start(self) -> None:
        """Start the next file."""
        self.digest, self.fed, self.fed_progress = hashlib.sha256(), 0, 0

    def rewind(self) -> None:
        """Read the current file again from its start: forget its hash and progress."""
        self.done -= self.fed_progress
        self.start()

    def feed(self, chunk: memoryview) -> None:
        """Hash ``chunk`` and count it as progress."""
        self.absorb(chunk)
        self.advance_to(self.fed_progress + len(chunk))

    def absorb(self, chunk: memoryview) -> None:
        """Hash ``chunk`` without reporting progress (a pass ahead of the real work)."""
        self.digest.update(chunk)
        self.fed += len(chunk)

    def advance_to(self, in_file: int) -> None:
        """Report progress: ``in_file`` bytes of the current file are done."""
        step = max(0, in_file - self.fed_progress)
        self.fed_progress += step
        self.done += step
        if self.on_progress and step:
            self.on_progress(min(self.done, self.total), self.total)

    def result(self, path: Path, size: int) -> str:
        """The file's hash: the streamed one when exactly the file was read once."""
        return self.digest.hexdigest() if self.fed == size else sha256_file(path)


def _known_sizes(out: FlowAppender) -> set[int] | None:
    """Sizes of every file imported before; None when an older record lacks them."""
    sizes: set[int] = set()
    for imp in read_manifest(out.path).get("imports", []):
        for entry in imp.get("files", []):
            if "size" not in entry:
                return None
            sizes.add(entry["size"])
    return sizes


def _import_files(files: list[Path], out: FlowAppender, sink: _RejectSink,
                  summary: ImportSummary, flow_format: registry.FlowFormat,
                  ctx: ReadContext, part_rows: int, hashing: _StreamHash) -> None:
    """Read every file; hash up front only when a file could be a re-import (its size
    matches an imported file), else hash the bytes as they stream past."""
    known, sizes = out.imported_sha256(), _known_sizes(out)
    buffer = _Buffer(out, part_rows=part_rows)
    try:
        for path in files:
            size = path.stat().st_size
            digest = None
            if sizes is None or size in sizes:
                digest = sha256_file(path)
                if digest in known:
                    summary.already_imported.append(str(path))
                    continue
            hashing.start()
            stats = FileStats(str(path), digest or "", size=size)
            _import_file(path, stats, buffer, sink, summary, flow_format, ctx, hashing)
            stats.sha256 = digest or hashing.result(path, size)
            known.add(stats.sha256)
            if sizes is not None:
                sizes.add(size)
            summary.files.append(stats)
        buffer.flush()
        buffer.wait()
    finally:
        buffer.close()  # never leave a part being written behind (FlowAppender cleans up)


def _import_file(path: Path, stats: FileStats, buffer: _Buffer, sink: _RejectSink,
                 summary: ImportSummary, flow_format: registry.FlowFormat,
                 ctx: ReadContext, hashing: _StreamHash) -> None:
    if _stream_file(path, stats, buffer, summary, flow_format, ctx, hashing):
        return
    for parsed in flow_format.read(path, ctx):
        flows, rejects = _finish(parsed, flow_format.name, str(path), summary.import_id)
        _account(stats, summary, parsed, flows, rejects)
        sink.write(rejects, str(path))
        buffer.add(flows)
    if stats.imported == 0 and not set(stats.skipped) - {"not-a-flow"}:
        reasons = "; ".join(f"{what}: " + ", ".join(f"{k} {v}" for k, v in d.items())
                            for what, d in (("rejected", stats.rejected),
                                            ("skipped", stats.skipped)) if d)
        raise InputError(f"no usable {flow_format.name} record ({stats.records_read} read"
                         f"{'; ' + reasons if reasons else ', empty file'})", path=str(path),
                         hint=f"is this really {flow_format.name}? see 'kseg flows "
                              "formats'; nothing was imported")


def _stream_file(path: Path, stats: FileStats, buffer: _Buffer, summary: ImportSummary,
                 flow_format: registry.FlowFormat, ctx: ReadContext,
                 hashing: _StreamHash) -> bool:
    """The fast path: a clean uncompressed file in one streaming pass (parse, map, write
    the parts). False, with nothing written, when the file needs the block path: any
    malformed record, a line count that does not match, or an address to canonicalise."""
    if flow_format.stream is None or reader.is_gzip(path) or stats.size == 0:
        return False
    plan = flow_format.stream(path, ctx)
    if plan is None:
        return False
    flows = plan.flows.with_columns(_provenance(flow_format.name, str(path), summary.import_id))
    buffer.flush()
    buffer.wait()
    mark = buffer.out.mark()
    per_part = buffer.part_rows * reader.bytes_per_line(path)
    # the hash + line count pass runs beside the query (hashlib releases the GIL)
    with ThreadPoolExecutor(1, thread_name_prefix="kseg-hash") as pool:
        counting = pool.submit(reader.count_lines, path, on_chunk=hashing.absorb)
        try:
            [found] = buffer.out.sink(flows, plan.stats, part_rows=buffer.part_rows,
                                      on_part=lambda k: hashing.advance_to(int(k * per_part)))
        except pl.exceptions.PolarsError:  # a record that does not parse: read block by block
            counting.result()
            buffer.out.rollback(mark)
            hashing.rewind()
            return False
        lines = counting.result()
    row = found.row(0, named=True)
    written = [buffer.out.path / FLOWS_DIR / p["file"] for p in buffer.out.parts[mark:]]
    clean = (row["records"] == lines - plan.first_record + 1
             and not _nulls(written, "start") and not _odd_addresses(written, plan.address_columns))
    imported = sum(p["rows"] for p in buffer.out.parts[mark:])
    if not clean or imported == 0:
        buffer.out.rollback(mark)
        hashing.rewind()
        return False
    stats.records_read += row["records"]
    stats.imported += imported
    _count(stats.skipped, {key.removeprefix("skipped:"): n for key, n in row.items()
                           if key.startswith("skipped:") and n})
    _extend_range(summary, row["start"], row["end"])
    hashing.advance_to(stats.size)
    return True


def _nulls(files: list[Path], column: str) -> bool:
    """Whether ``column`` holds a null in any of the Parquet ``files`` (from their footers'
    null counts; a file written without them is read)."""
    for file in files:
        footer = pq.read_metadata(file)
        index = footer.schema.names.index(column)
        stats = [footer.row_group(g).column(index).statistics
                 for g in range(footer.num_row_groups)]
        if all(s is not None and s.has_null_count for s in stats):
            if any(s.null_count for s in stats):
                return True
        elif pl.scan_parquet(file).select(pl.col(column).null_count()).collect().item():
            return True
    return False


def _odd_addresses(files: list[Path], columns: Iterable[str]) -> bool:
    """Whether any value of ``columns`` in the Parquet ``files`` is not a canonical IPv4.

    Reads each row group's dictionary of distinct values (a few thousand where a regex over
    every row would see millions): 0.2 CPU-s instead of ~1 per 10M records and column pair.
    """
    columns = list(columns)
    with ThreadPoolExecutor(2, thread_name_prefix="kseg-check") as pool:
        return any(pool.map(lambda file: _odd_in_file(file, columns), files))


def _odd_in_file(file: Path, columns: list[str]) -> bool:
    footer = pq.read_metadata(file)
    present = [c for c in columns if c in footer.schema.names]
    parquet = pq.ParquetFile(file, metadata=footer, read_dictionary=present)
    for group in range(parquet.num_row_groups) if present else ():
        table = parquet.read_row_group(group, columns=present, use_threads=False)
        for chunk in (c for name in present for c in table.column(name).chunks):
            values = pl.from_arrow(chunk.dictionary if hasattr(chunk, "dictionary")
                                   else chunk.unique())
            if not values.drop_nulls().str.contains(CANONICAL_V4).all():
                return True
    return False


def _account(stats: FileStats, summary: ImportSummary, parsed: Parsed, flows: pl.DataFrame,
             rejects: pl.DataFrame) -> None:
    stats.records_read += parsed.read
    stats.imported += flows.height
    _count(stats.skipped, parsed.skipped)
    if rejects.height:
        _count(stats.rejected, dict(rejects.get_column("reason").value_counts().iter_rows()))
    if flows.height:
        _extend_range(summary, *flows.select(pl.col("start").min(), pl.col("end").max()).row(0))


def _count(into: dict[str, int], counts: dict[str, int]) -> None:
    for reason, n in counts.items():
        into[reason] = into.get(reason, 0) + n


def _extend_range(summary: ImportSummary, lo: datetime, hi: datetime) -> None:
    summary.start = lo if summary.start is None else min(summary.start, lo)
    summary.end = hi if summary.end is None else max(summary.end, hi)
