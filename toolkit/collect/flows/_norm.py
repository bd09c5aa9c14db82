"""Shared pieces of the flow readers: the batch contract, reject frames, vectorised
conversions (times, protocols) and JSON record streaming.

Every reader yields :class:`Parsed` batches: ``rows`` holds flows-table columns (IPs not yet
canonical, no ``format``/``source_file``/``import_id``: the importer adds them) plus
``source_record``; ``rejects`` lists malformed records with a reason code.

>>> to_protocol(pl.Series(["TCP", "udp", "6", "ipv6-icmp", "bogus"])).to_list()
[6, 17, 6, 58, None]
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from toolkit import schema
from toolkit.collect.flows import reader
from toolkit.errors import InputError

FLOWS = schema.table("flows")
REJECT_SCHEMA = pl.Schema({"source_record": pl.Int64, "reason": pl.String,
                           "detail": pl.String, "text": pl.String})
PROTOCOLS = {"icmp": 1, "icmpv4": 1, "igmp": 2, "tcp": 6, "udp": 17, "gre": 47, "esp": 50,
             "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "icmp6": 58, "sctp": 132, "udplite": 136}
#: Protocols that carry ports; others get null ports.
PORT_PROTOCOLS = (6, 17, 132, 136)
TCP_FLAG_BITS = {"FIN": 1, "SYN": 2, "RST": 4, "PSH": 8, "ACK": 16, "URG": 32, "ECE": 64,
                 "CWR": 128, "NS": 256}
JSON_BATCH = 50_000


@dataclass
class ReadContext:
    """Options of one import, handed to every reader."""

    fields: list[str] | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    assume_time: datetime | None = None
    block_bytes: int = reader.BLOCK_BYTES
    progress: reader.ProgressFn | None = None


@dataclass
class Parsed:
    """One batch from a reader."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    skipped: dict[str, int]
    read: int


@dataclass(frozen=True)
class StreamPlan:
    """A whole clean file as two lazy queries over one scan, run in a single streaming pass.

    ``flows``: the rows to import (flows columns plus ``source_record``; the importer adds
    ``format``/``source_file``/``import_id``), where a row the careful path would reject has
    a null ``start``. ``stats``: one row with ``records`` (lines read),
    ``skipped:<reason>`` counts and ``start``/``end`` (time range). The importer keeps the
    result only when no written ``start`` is null, ``records`` equals the file's line count
    and every value of the ``address_columns`` in the written parts is a canonical
    dotted-quad IPv4 (``toolkit._ipaddr.CANONICAL_V4``, checked on the parts' dictionaries,
    not row by row); otherwise it reads the file again block by block (which canonicalises
    addresses). Every query must stream with flat memory: no ``replace_strict``, no
    expression-level ``unique``.
    """

    flows: pl.LazyFrame
    stats: pl.LazyFrame
    #: Line number of the first record (2 after a header line).
    first_record: int = 1
    #: Flow columns holding addresses as the file wrote them.
    address_columns: tuple[str, ...] = ("src_ip", "dst_ip")


@dataclass(frozen=True)
class FlowFormat:
    """A registered reader: ``read(path, ctx)`` yields :class:`Parsed` batches.

    ``stream(path, ctx)``, when a format has it, plans the fast path for an uncompressed
    file (:class:`StreamPlan`), or returns None when the file cannot take it.
    """

    name: str
    summary: str
    read: Callable[[Path, ReadContext], Iterator[Parsed]]
    stream: Callable[[Path, ReadContext], StreamPlan | None] | None = None


def no_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def reject_rows(records: list[int], reasons: list[str], details: list[str | None],
                texts: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({"source_record": records, "reason": reasons, "detail": details,
                         "text": texts}, schema=REJECT_SCHEMA)


def split_bad(frame: pl.DataFrame, checks: list[tuple[pl.Expr, str, pl.Expr]]
              ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split ``frame`` into good rows and rejects by ``(is_bad, reason, detail)`` checks
    (the first failing check names the reason)."""
    if not checks or frame.height == 0:
        return frame, no_rejects()
    any_bad = pl.any_horizontal([bad.fill_null(False) for bad, _, _ in checks]).any()
    if not frame.select(any_bad).item():  # the common case: one boolean pass, no copy
        return frame, no_rejects()
    reason = pl.coalesce([pl.when(bad).then(pl.lit(code)) for bad, code, _ in checks])
    detail = pl.coalesce([pl.when(bad).then(d.cast(pl.String)) for bad, _, d in checks])
    marked = frame.with_columns(reason.alias("_reason"))
    marked = marked.with_columns(detail.alias("_detail"))
    bad_rows = marked.filter(pl.col("_reason").is_not_null())
    text = pl.col("_text") if "_text" in frame.columns else pl.lit(None, pl.String)
    rejects = bad_rows.select(pl.col("source_record").cast(pl.Int64),
                              pl.col("_reason").alias("reason"),
                              pl.col("_detail").alias("detail"), text.alias("text"))
    good = marked.filter(pl.col("_reason").is_null()).drop("_reason", "_detail")
    return good, rejects


def to_protocol(values: pl.Series) -> pl.Series:
    """Protocol names (any case) or numbers as IANA numbers (UInt8); unknown -> null."""
    if values.dtype.is_integer():
        return values.cast(pl.UInt8, strict=False)
    text = values.cast(pl.String).str.strip_chars().str.to_lowercase()
    named = text.replace_strict(PROTOCOLS, default=None, return_dtype=pl.Int64)
    number = text.cast(pl.Int64, strict=False)
    return named.fill_null(number).cast(pl.UInt8, strict=False).rename(values.name)


def ports_expr(col: str) -> pl.Expr:
    """A port column as Int32, null for protocols without ports and out-of-range values."""
    port = pl.col(col).cast(pl.Int64, strict=False)
    ok = port.is_between(0, 65535) & pl.col("protocol").is_in(PORT_PROTOCOLS).fill_null(True)
    return pl.when(ok).then(port).otherwise(None).cast(pl.Int32).alias(col)


def epoch_to_time(expr: pl.Expr, unit: str) -> pl.Expr:
    """Integer epoch values in ``unit`` (s, ms, us, ns) as ``Datetime(ns, UTC)``."""
    return pl.from_epoch(expr.cast(pl.Int64, strict=False), unit).cast(schema.TIME)


def iso_to_time(expr: pl.Expr) -> pl.Expr:
    """RFC 3339 text (``Z`` or ``+hh:mm``, 0-9 fraction digits) as ``Datetime(ns, UTC)``;
    unparseable -> null."""
    text = expr.cast(pl.String).str.strip_chars().str.replace(r"[zZ]$", "+00:00")
    text = text.str.replace(r" ", "T")
    with_zone = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="ns",
                                     time_zone="UTC", strict=False)
    naive = text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="ns", strict=False)
    return with_zone.fill_null(naive.dt.replace_time_zone("UTC"))


def frame_from_dicts(rows: list[dict[str, Any]], types: dict[str, pl.DataType]) -> pl.DataFrame:
    """A frame from per-record dicts with a fixed schema (missing keys -> null)."""
    if not rows:
        return pl.DataFrame(schema=types)
    columns = {name: [r.get(name) for r in rows] for name in types}
    return pl.DataFrame(columns, schema=types, strict=False)


# --- JSON inputs -------------------------------------------------------------------------

@dataclass
class JsonBatch:
    """Decoded JSON records: (record number, object) plus records that did not decode."""

    records: list[tuple[int, Any]]
    rejects: pl.DataFrame
    read: int


def iter_json(path: Path, ctx: ReadContext) -> Iterator[JsonBatch]:
    """JSON Lines, a JSON array, or concatenated (pretty-printed) objects, in batches.

    Record numbers are line numbers for JSON Lines and 1-based object indexes otherwise.
    """
    head = _peek(path)
    if head.startswith("["):
        yield from _json_document(path, ctx)
        return
    if head.startswith("{") and not _first_line_is_json(path):
        try:  # pretty-printed objects; if that fails too, JSON Lines with a bad first line
            batches = list(_json_document(path, ctx))
        except InputError:
            batches = []
        if batches:
            yield from batches
            return
    yield from _json_lines(path, ctx)


def _peek(path: Path) -> str:
    with reader.open_binary(path) as fh:
        data = reader.read_checked(fh, 65536, path)
    reader.check_text(data, path)
    return data.decode("utf-8", errors="replace").lstrip()


def _first_line_is_json(path: Path) -> bool:
    for block in reader.iter_blocks(path, block_bytes=1 << 20):
        for line in block.data.decode("utf-8", errors="replace").splitlines():
            if line.strip():
                try:
                    json.loads(line)
                    return True
                except ValueError:
                    return False
        return False
    return False


def _json_lines(path: Path, ctx: ReadContext) -> Iterator[JsonBatch]:
    for block in reader.iter_blocks(path, block_bytes=min(ctx.block_bytes, 32 << 20),
                                    progress=ctx.progress):
        lines = block.data.decode("utf-8", errors="replace").split("\n")[:-1]
        records, bad = [], ([], [], [], [])
        read = 0
        for offset, line in enumerate(lines):
            if not line.strip():
                continue
            read += 1
            number = block.first_line + offset
            try:
                records.append((number, json.loads(line)))
            except ValueError as exc:
                _add_bad(bad, number, "bad-json", str(exc).split(":")[0], line)
            if len(records) >= JSON_BATCH:
                yield JsonBatch(records, reject_rows(*bad), read)
                records, bad, read = [], ([], [], [], []), 0
        yield JsonBatch(records, reject_rows(*bad), read)


def _add_bad(bad: tuple[list, list, list, list], number: int, reason: str, detail: str | None,
             text: str | None) -> None:
    bad[0].append(number)
    bad[1].append(reason)
    bad[2].append(detail)
    bad[3].append(text[:2000] if text else text)


def _json_document(path: Path, ctx: ReadContext) -> Iterator[JsonBatch]:
    text = reader.read_all_text(path, progress=ctx.progress)
    decoder = json.JSONDecoder()
    stripped = text.strip()
    if stripped.startswith("["):
        try:
            items = json.loads(stripped)
        except ValueError as exc:
            raise InputError(f"invalid JSON array ({exc})", path=str(path)) from None
        records = list(enumerate(items, start=1))
    else:
        records, pos, index = [], 0, 0
        while pos < len(text):
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                break
            index += 1
            try:
                obj, pos = decoder.raw_decode(text, pos)
            except ValueError as exc:
                line = text.count("\n", 0, pos) + 1
                raise InputError(f"invalid JSON ({exc.args[0].split(':')[0]})",
                                 path=str(path), line=line) from None
            records.append((index, obj))
    for start in range(0, max(len(records), 1), JSON_BATCH):
        chunk = records[start:start + JSON_BATCH]
        yield JsonBatch(chunk, no_rejects(), len(chunk))


def extract_records(batch: JsonBatch, extract: Callable[[Any], dict[str, Any] | str],
                    types: dict[str, pl.DataType]) -> tuple[pl.DataFrame, pl.DataFrame,
                                                             dict[str, int]]:
    """Run ``extract`` on every decoded record of ``batch``.

    ``extract`` returns a dict of column values, or a string: the reason the record is
    skipped (not a flow record). A KeyError/TypeError/ValueError rejects the record.
    """
    rows: list[dict[str, Any]] = []
    skipped: dict[str, int] = {}
    bad: tuple[list, list, list, list] = ([], [], [], [])
    for number, obj in batch.records:
        try:
            out = extract(obj) if isinstance(obj, dict) else "not-an-object"
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            _add_bad(bad, number, "bad-record", f"{type(exc).__name__}: {exc}",
                     json.dumps(obj)[:2000])
            continue
        if isinstance(out, str):
            if out == "not-an-object":
                _add_bad(bad, number, "bad-record", "not a JSON object", json.dumps(obj)[:2000])
            else:
                skipped[out] = skipped.get(out, 0) + 1
            continue
        out["source_record"] = number
        rows.append(out)
    frame = frame_from_dicts(rows, {**types, "source_record": pl.Int64})
    return frame, pl.concat([batch.rejects, reject_rows(*bad)]), skipped


def labels_list(labels: Any) -> list[str] | None:
    """Label strings or a {key: value} mapping as a sorted list of ``key=value``."""
    if labels is None:
        return None
    if isinstance(labels, dict):
        return sorted(f"{k}={v}" for k, v in labels.items())
    return [str(x) for x in labels]
