"""Any table of flows (``csv``, ``parquet``) with a column mapping.

``--map src_ip=SourceAddress,dst_ip=DestAddr,...`` names the input column of a flows
column; unmapped flows columns are looked up by common names (``src_ip``, ``srcaddr``,
``source_ip``, ``src``, ... see :data:`ALIASES`; case, ``-``, ``_`` and spaces ignored)
and by their own schema name. Times may be epoch seconds, ms, us or ns (told apart by
magnitude, per value), ISO 8601 text, or Parquet timestamps (naive ones are taken as UTC).
Record numbers are 1-based row indexes (a CSV header is not counted). CSV is streamed with
pyarrow's reader, Parquet by row batches; conversions are vectorised.

>>> resolve_columns(["SourceAddress", "dstaddr", "Start Time", "bytes"],
...                 {"src_ip": "SourceAddress"})["dst_ip"]
'dstaddr'
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from toolkit import schema
from toolkit.collect.flows import reader
from toolkit.collect.flows._norm import (
    FlowFormat,
    Parsed,
    ReadContext,
    iso_to_time,
    ports_expr,
    split_bad,
    to_protocol,
)
from toolkit.errors import InputError

ALIASES = {
    "start": ["start", "starttime", "firstseen", "flowstart", "timestamp", "time", "ts",
              "timestart", "eventtime"],
    "end": ["end", "endtime", "lastseen", "flowend", "timeend"],
    "src_ip": ["srcip", "srcaddr", "sourceip", "src", "source", "srcaddress",
               "sourceaddress", "saddr", "pktsrcaddr", "clientip"],
    "dst_ip": ["dstip", "dstaddr", "destip", "destinationip", "dst", "destination",
               "dstaddress", "destinationaddress", "destaddr", "daddr", "pktdstaddr",
               "serverip"],
    "src_port": ["srcport", "sourceport", "sport", "clientport"],
    "dst_port": ["dstport", "destport", "destinationport", "dport", "serverport"],
    "protocol": ["protocol", "proto", "ipprotocol", "l4protocol"],
    "bytes": ["bytes", "octets", "bytecount", "bytessent", "totalbytes"],
    "packets": ["packets", "pkts", "packetcount", "packetssent"],
    "action": ["action", "verdict", "decision"],
}
ACTIONS = {"allow": "allow", "accept": "allow", "accepted": "allow", "forwarded": "allow",
           "permit": "allow", "pass": "allow", "allowed": "allow", "deny": "deny",
           "reject": "deny", "rejected": "deny", "drop": "deny", "dropped": "deny",
           "block": "deny", "blocked": "deny", "denied": "deny"}
REQUIRED = ("start", "src_ip", "dst_ip")
BATCH_ROWS = 500_000


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def resolve_columns(columns: list[str], mapping: dict[str, str]) -> dict[str, str]:
    """flows column -> input column, from ``mapping`` then :data:`ALIASES` and schema names."""
    flows = schema.table("flows").names
    unknown = [t for t in mapping if t not in flows]
    if unknown:
        raise InputError(f"--map names unknown flows column(s) {unknown}",
                         hint=f"targets are flows columns: {', '.join(flows)}")
    missing = [s for s in mapping.values() if s not in columns]
    if missing:
        raise InputError(f"--map names input column(s) {missing} that the table does not "
                         f"have; it has {columns}")
    by_key = {_key(c): c for c in columns}
    out = dict(mapping)
    for target in flows:
        if target in out or target in ("format", "source_file", "import_id"):
            continue
        for cand in [target, *ALIASES.get(target, [])]:
            if _key(cand) in by_key and by_key[_key(cand)] not in out.values():
                out[target] = by_key[_key(cand)]
                break
    return out


def _time(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if isinstance(dtype, pl.Datetime):
        zoned = expr if dtype.time_zone else expr.dt.replace_time_zone("UTC")
        return zoned.dt.convert_time_zone("UTC").cast(schema.TIME)
    number = expr.cast(pl.Float64, strict=False) if dtype == pl.String else expr
    as_int = expr.cast(pl.Int64, strict=False)
    size = number.abs()
    epoch = (pl.when(size < 1e11).then(pl.from_epoch(as_int, "s"))
             .when(size < 1e14).then(pl.from_epoch(as_int, "ms"))
             .when(size < 1e17).then(pl.from_epoch(as_int, "us"))
             .otherwise(pl.from_epoch(as_int, "ns"))).cast(schema.TIME)
    if dtype == pl.String:
        return epoch.fill_null(iso_to_time(expr))
    return epoch


def _value(frame: pl.DataFrame, target: str, name: str) -> tuple[pl.Expr, str | None]:
    """The conversion of input column ``name`` to flows column ``target``, and the reject
    reason when a non-null input can fail to convert."""
    expr, dtype = pl.col(name), frame.schema[name]
    if target in ("start", "end"):
        return _time(expr, dtype), "bad-time"
    if target == "protocol":
        return pl.lit(to_protocol(frame.get_column(name))), "bad-protocol"
    if target == "action":
        return expr.cast(pl.String).str.to_lowercase().replace_strict(
            ACTIONS, default=None, return_dtype=pl.String), None
    want = schema.table("flows").column(target).dtype
    if isinstance(want, pl.List):
        return (expr if isinstance(dtype, pl.List) else pl.lit(None, want)), None
    return expr.cast(want, strict=False), ("bad-number" if want.is_numeric() else None)


def convert(frame: pl.DataFrame, columns: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map a raw batch (with ``source_record``) into flows columns; return (rows, rejects)."""
    exprs, raws, checks = [], [], []
    for target, name in columns.items():
        value, reason = _value(frame, target, name)
        exprs.append(value.alias(target))
        if reason:
            raw = pl.col(f"_in_{target}")
            raws.append(pl.col(name).cast(pl.String).alias(f"_in_{target}"))
            checks.append((pl.col(target).is_null() & raw.is_not_null(), reason,
                           pl.format(f"{target}: {{}}", raw)))
    out = frame.select(*exprs, *raws, "source_record")
    if "end" not in out.columns:
        out = out.with_columns(pl.col("start").alias("end"))
    if "flow_count" not in out.columns:
        out = out.with_columns(pl.lit(1, pl.Int64).alias("flow_count"))
    out = out.with_columns(pl.col("flow_count").fill_null(1),
                           pl.col("end").fill_null(pl.col("start")))
    good, rejects = split_bad(out, checks)
    good = good.drop([c for c in good.columns if c.startswith("_in_")])
    if "protocol" in good.columns:
        good = good.with_columns([ports_expr(c) for c in ("src_port", "dst_port")
                                  if c in good.columns])
    return good, rejects


def _require(columns: dict[str, str], available: list[str], path: Path) -> None:
    missing = [t for t in REQUIRED if t not in columns]
    if missing:
        raise InputError(f"cannot find column(s) for {missing} among {available}",
                         path=str(path),
                         hint="name them with --map, e.g. --map src_ip=SourceAddress")


def _csv_batches(path: Path, ctx: ReadContext) -> Iterator[pl.DataFrame]:
    with reader.open_binary(path) as fh:
        head = reader.read_checked(fh, 1 << 20, path)
    reader.check_text(head, path)
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    names = next(csv.reader(io.StringIO(first)), [])
    if not names:
        raise InputError("empty CSV file (no header line)", path=str(path))
    opts = pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                strings_can_be_null=True, null_values=["", "-", "null", "NULL"])
    with reader.open_binary(path, ctx.progress) as fh:
        try:
            stream = pacsv.open_csv(fh, read_options=pacsv.ReadOptions(block_size=16 << 20),
                                    convert_options=opts)
            for batch in stream:
                yield pl.from_arrow(pa.Table.from_batches([batch]))  # type: ignore[misc]
        except (pa.ArrowInvalid, EOFError, OSError) as exc:
            raise InputError(f"unreadable CSV ({str(exc).splitlines()[0]})", path=str(path),
                             hint="check the delimiter/quoting, or convert to Parquet") from None


def _parquet_batches(path: Path, ctx: ReadContext) -> Iterator[pl.DataFrame]:
    try:
        file = pq.ParquetFile(path)
        for batch in file.iter_batches(batch_size=BATCH_ROWS):
            yield pl.from_arrow(pa.Table.from_batches([batch]))  # type: ignore[misc]
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"not a readable Parquet file ({str(exc).splitlines()[0]})",
                         path=str(path)) from None


def _read(path: Path, ctx: ReadContext, batches: Iterator[pl.DataFrame]) -> Iterator[Parsed]:
    offset = 1
    columns: dict[str, str] | None = None
    for batch in batches:
        if columns is None:
            columns = resolve_columns(batch.columns, ctx.mapping)
            _require(columns, batch.columns, path)
        batch = batch.with_columns(pl.int_range(offset, offset + batch.height, dtype=pl.Int64)
                                   .alias("source_record"))
        offset += batch.height
        rows, rejects = convert(batch, columns)
        yield Parsed(rows, rejects, {}, batch.height)


def read_csv(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one CSV file (header line required)."""
    yield from _read(path, ctx, _csv_batches(path, ctx))


def read_parquet(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one Parquet file."""
    yield from _read(path, ctx, _parquet_batches(path, ctx))


FORMATS = (
    FlowFormat("csv", "any CSV table of flows (header line; --map target=column)", read_csv),
    FlowFormat("parquet", "any Parquet table of flows (--map target=column)", read_parquet),
)
