"""AWS VPC Flow Logs (``aws-vpc``): space-separated text, default v2 or custom formats.

The field list comes from the file's header line (S3 delivery writes one), else from
``--fields``, else the default version 2 list when a line has its 14 fields.

Fast path: each block of lines is parsed by pyarrow's multi-threaded CSV reader with the
types known from the field list, then mapped with vectorised polars expressions. A block
that does not parse cleanly (a double space, a ``#`` annotation, a wrong field count, a
non-number, CRLF line ends) goes through the careful path: regex tokenising in polars, one
reject per bad line with its line number. No Python loop over records either way.

Address mapping (see docs/flows.md): ``src_ip``/``dst_ip`` are the packet's original
addresses (``pkt-srcaddr``/``pkt-dstaddr``) when the format has them, so pods behind an EKS
node ENI and hosts behind a NAT gateway resolve; the interface-level ``srcaddr``/``dstaddr``
go to ``src_xlate_ip``/``dst_xlate_ip`` when they differ.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from toolkit import schema
from toolkit.collect.flows import reader
from toolkit.collect.flows._norm import (
    FlowFormat,
    Parsed,
    ReadContext,
    StreamPlan,
    epoch_to_time,
    no_rejects,
    ports_expr,
    split_bad,
)
from toolkit.errors import InputError

V2_FIELDS = [
    "version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
    "protocol", "packets", "bytes", "start", "end", "action", "log-status",
]
KNOWN_FIELDS = set(V2_FIELDS) | {
    "vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr",
    "region", "az-id", "sublocation-type", "sublocation-id", "pkt-src-aws-service",
    "pkt-dst-aws-service", "flow-direction", "traffic-path", "ecs-cluster-arn",
    "ecs-cluster-name", "ecs-container-instance-arn", "ecs-container-instance-id",
    "ecs-container-id", "ecs-second-container-id", "ecs-service-name",
    "ecs-task-definition-arn", "ecs-task-arn", "ecs-task-id", "reject-reason",
}
INT_FIELDS = {"srcport", "dstport", "protocol", "packets", "bytes", "start", "end", "tcp-flags"}
USED = INT_FIELDS | {"srcaddr", "dstaddr", "pkt-srcaddr", "pkt-dstaddr", "action", "log-status",
                     "flow-direction", "interface-id", "instance-id"}
SKIP_STATUS = ("NODATA", "SKIPDATA")


def field_list(path: Path, ctx: ReadContext) -> tuple[list[str], bool]:
    """(fields, the file starts with a header line)."""
    first = _first_line(path)
    tokens = first.split()
    if tokens and all(t in KNOWN_FIELDS for t in tokens):
        return tokens, True
    if ctx.fields:
        unknown = [f for f in ctx.fields if f not in KNOWN_FIELDS]
        if unknown:
            raise InputError(f"unknown AWS flow log field(s) {unknown} in --fields",
                             hint="use the names of the flow log format, e.g. "
                                  "'version account-id interface-id srcaddr ...'")
        return list(ctx.fields), False
    if len(tokens) == len(V2_FIELDS):
        return list(V2_FIELDS), False
    raise InputError(f"no header line and {len(tokens)} fields per line: cannot tell the "
                     "custom format", path=str(path), line=1,
                     hint="pass the format's field list with --fields 'version srcaddr ...'")


def _first_line(path: Path) -> str:
    for block in reader.iter_blocks(path, block_bytes=1 << 16):
        for line in block.data.decode("utf-8", errors="replace").split("\n"):
            if line.strip() and not line.lstrip().startswith("#"):
                return line.split(" #")[0]
    return ""


def _check_fields(fields: list[str], path: Path, ctx: ReadContext) -> None:
    if not ({"srcaddr", "pkt-srcaddr"} & set(fields)) or not (
            {"dstaddr", "pkt-dstaddr"} & set(fields)):
        raise InputError("the field list has no source/destination address (srcaddr, dstaddr)",
                         path=str(path), hint="check --fields")
    if ("start" not in fields or "end" not in fields) and ctx.assume_time is None:
        raise InputError("the flow log format has no start/end fields, so the records have no "
                         "time", path=str(path),
                         hint="add start and end to the flow log format, or pass "
                              "--assume-time ISO-TIME to stamp every record with one time")


def read(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one AWS VPC flow log file."""
    fields, has_header = field_list(path, ctx)
    _check_fields(fields, path, ctx)
    needed = [f for f in fields if f in USED]
    types = {f: (pa.int64() if f in INT_FIELDS else pa.string()) for f in needed}
    # reuse: _fast copies what it parses and _careful copies the bytes, so no frame keeps
    # a view of a block once the next one is read
    for block in reader.iter_blocks(path, block_bytes=ctx.block_bytes, progress=ctx.progress,
                                    reuse=True):
        buf, start, first, n_lines = block.buffer, 0, block.first_line, block.n_lines
        if first == 1 and has_header:
            start, first, n_lines = buf.index(b"\n") + 1, 2, n_lines - 1
        if start >= block.end:
            continue
        data = memoryview(buf)[start: block.end]
        frame = None if buf.find(b"\r", start, block.end) >= 0 else _fast(
            data, first, n_lines, fields, needed, types)
        rejects = no_rejects()
        if frame is None:
            frame, rejects = _careful(bytes(data), first, fields, needed)
        yield _transform(frame, rejects, needed, ctx)


def _fast(data: memoryview, first: int, n_lines: int, fields: list[str], needed: list[str],
          types: dict[str, pa.DataType]) -> pl.DataFrame | None:
    """Parse a clean block with pyarrow (zero-copy); None when it needs the careful path.

    A double space, a ``#`` annotation or a short line changes the field count, a non-number
    fails the typed conversion, a blank line changes the row count: all fall back.
    """
    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(column_names=fields, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(delimiter=" ", quote_char=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(column_types=types, include_columns=needed,
                                                 null_values=["-"], strings_can_be_null=True,
                                                 quoted_strings_can_be_null=False))
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if frame.height != n_lines:
        return None
    return frame.with_columns(pl.int_range(first, first + frame.height, dtype=pl.Int64)
                              .alias("source_record"))


def _careful(data: bytes, first: int, fields: list[str], needed: list[str]
             ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Tokenise line by line (vectorised regexes); return typed rows and rejects."""
    lines = pl.Series("_text", data.decode("utf-8", errors="replace").split("\n")[:-1])
    frame = pl.DataFrame([lines]).with_columns(
        pl.int_range(first, first + lines.len(), dtype=pl.Int64).alias("source_record"),
        pl.col("_text").str.replace(r"(^|\s)#.*$", "").str.strip_chars().alias("_clean"))
    header = " ".join(fields)
    frame = frame.filter((pl.col("_clean") != "") & (pl.col("_clean") != header))
    frame = frame.with_columns(pl.col("_clean").str.extract_all(r"\S+").alias("_tok"))
    n_tok = pl.col("_tok").list.len()
    checks = [(n_tok != len(fields), "bad-field-count",
               pl.format(f"expected {len(fields)} fields, got {{}}", n_tok))]
    raw = {f: pl.col("_tok").list.get(fields.index(f), null_on_oob=True) for f in needed}
    typed = []
    for name, expr in raw.items():
        text = pl.when(expr != "-").then(expr)
        if name in INT_FIELDS:
            value = text.cast(pl.Int64, strict=False)
            checks.append((value.is_null() & text.is_not_null() & (n_tok == len(fields)),
                           "bad-number", pl.format(f"field {name}: {{}}", text)))
            typed.append(value.alias(name))
        else:
            typed.append(text.alias(name))
    frame = frame.with_columns(typed)
    good, rejects = split_bad(frame, checks)
    return good.drop("_clean", "_tok"), rejects


def stream(path: Path, ctx: ReadContext) -> StreamPlan | None:
    """The whole file as one streaming scan (see :class:`StreamPlan`): the same columns and
    checks as the block path, so a clean file gives the same rows either way.

    A non-number or a line with many fields too many stops the scan (the importer falls back
    to the block path); a field too many or too few marks the row bad.
    """
    fields, has_header = field_list(path, ctx)
    _check_fields(fields, path, ctx)
    if len(set(fields)) != len(fields):
        return None
    has = {f for f in fields if f in USED}
    first, last = (2 if has_header else 1), fields[-1]
    # A short line leaves its missing fields null and a long one fills "_extra" (the scan
    # does not check lines past the columns it reads): so neither the last field nor
    # "_extra" turn "-" into null, and the last field is typed after the scan.
    types = {f: pl.Int64 if f in INT_FIELDS else pl.String for f in fields}
    scan = pl.scan_csv(path, has_header=False, skip_rows=first - 1, separator=" ",
                       quote_char=None, null_values={f: "-" for f in fields if f != last},
                       row_index_name="source_record", row_index_offset=first,
                       missing_columns="insert",
                       schema={**types, last: pl.String, "_extra": pl.String})
    text = pl.col("_last")
    value = pl.when(text != "-").then(text)
    typed = scan.with_columns(pl.col("source_record").cast(pl.Int64),
                              pl.col(last).alias("_last")).with_columns(
        value.cast(types[last], strict=False).alias(last))
    rows = typed.with_columns(_columns(has, ctx))
    status = pl.col("log-status") if "log-status" in has else pl.lit(None, pl.String)
    skip = status.is_in(SKIP_STATUS).fill_null(False)
    bad = pl.any_horizontal([check.fill_null(False) for check, _, _ in _checks(has)]
                            + [pl.col(c).is_null() for c in ("src_ip", "dst_ip", "start", "end")]
                            + [text.is_null(), value.is_not_null() & pl.col(last).is_null(),
                               pl.col("_extra").is_not_null()])
    # A bad row is written with a null start (a required column): the importer sees it in
    # the parts' null counts and falls back. Counting bad rows in the companion instead
    # would map every row a second time (the two queries share the scan, not the mapping).
    flows = rows.filter(~skip).with_columns(ports_expr("src_port"), ports_expr("dst_port"),
                                            pl.when(~bad).then(pl.col("start")).alias("start"))
    times = ([epoch_to_time(pl.col(c).filter(~skip).min() if c == "start" else
                            pl.col(c).filter(~skip).max(), "s").alias(c) for c in ("start", "end")]
             if {"start", "end"} <= has else
             [pl.lit(ctx.assume_time).cast(schema.TIME).alias(c) for c in ("start", "end")])
    stats = typed.select(
        pl.len().alias("records"),
        *[(status == reason).sum().alias(f"skipped:{reason}") for reason in SKIP_STATUS], *times)
    # a column no field of this format fills is left out of the parts (read back as null)
    filled = [c for c in KEEP if (c in _address_columns(has) if c.endswith("_xlate_ip")
                                  else c not in SOURCES or SOURCES[c] & has)]
    return StreamPlan(flows.select(filled), stats, first_record=first,
                      address_columns=tuple(_address_columns(has)))


def _address_columns(has: set[str]) -> list[str]:
    """The address columns a format can fill (the others are null literals)."""
    xlate = [f"{side}_xlate_ip" for side in ("src", "dst")
             if {f"{side}addr", f"pkt-{side}addr"} <= has]
    return ["src_ip", "dst_ip", *xlate]


def _checks(has: set[str]) -> list[tuple[pl.Expr, str, pl.Expr]]:
    """Rows the block path rejects once the columns are mapped: (is_bad, reason, detail)."""
    checks = [(pl.col("protocol").is_null() & pl.col("_proto_raw").is_not_null(),
               "bad-protocol", pl.col("_proto_raw").cast(pl.String))]
    if "log-status" in has:
        checks.append((pl.col("log-status").is_not_null() & (pl.col("log-status") != "OK"),
                       "bad-log-status", pl.col("log-status")))
    checks.append((pl.col("action").is_null() & pl.col("_action_raw").is_not_null(),
                   "bad-action", pl.col("_action_raw")))
    return checks


#: The fields that fill a column (columns not listed are always filled; the xlate
#: addresses need both addresses of their side, see :func:`_address_columns`).
SOURCES = {"src_port": {"srcport"}, "dst_port": {"dstport"}, "protocol": {"protocol"},
           "bytes": {"bytes"}, "packets": {"packets"}, "action": {"action"},
           "reporter": {"flow-direction"}, "direction": {"flow-direction"},
           "tcp_flags": {"tcp-flags"}, "observer": {"interface-id", "instance-id"}}

#: The columns a batch hands to the importer.
KEEP = ["start", "end", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes",
        "packets", "flow_count", "action", "reporter", "direction", "tcp_flags",
        "src_xlate_ip", "dst_xlate_ip", "observer", "source_record"]


def _transform(frame: pl.DataFrame, rejects: pl.DataFrame, needed: list[str],
               ctx: ReadContext) -> Parsed:
    read = frame.height + rejects.height
    has = set(needed)
    skipped: dict[str, int] = {}
    if "log-status" in has:
        status = frame.get_column("log-status")
        skip = status.is_in(SKIP_STATUS).fill_null(False)
        if skip.any():
            skipped = dict(status.filter(skip).value_counts().iter_rows())
            frame = frame.filter(~skip)
    frame = frame.with_columns(_columns(has, ctx))
    frame, bad = split_bad(frame, _checks(has))
    frame = frame.with_columns(ports_expr("src_port"), ports_expr("dst_port"))
    keep = [*KEEP, "_text"] if "_text" in frame.columns else KEEP
    return Parsed(frame.select(keep), pl.concat([rejects, bad]), skipped, read)


def _col(has: set[str], name: str, dtype: pl.DataType = pl.String) -> pl.Expr:
    return pl.col(name) if name in has else pl.lit(None, dtype)


def _address(has: set[str], iface: str, packet: str) -> tuple[pl.Expr, pl.Expr]:
    """(address of the packet, interface address when it differs).

    Fields the format lacks become plain null literals, never expressions mixing a literal
    with a column (those make the streaming engine hold whole columns)."""
    if packet not in has or iface not in has:
        return _col(has, packet if packet in has else iface), pl.lit(None, pl.String)
    pkt, eni = pl.col(packet), pl.col(iface)
    return pl.coalesce(pkt, eni), pl.when(pkt.is_not_null() & (eni != pkt)).then(eni)


def _lookup(expr: pl.Expr, mapping: dict[str, str]) -> pl.Expr:
    """``mapping[value]``, null for any other value (a when/then chain: unlike
    ``replace_strict`` it runs element-wise in the streaming engine, with flat memory)."""
    chain = None
    for key, value in mapping.items():
        chain = (pl.when(expr == key) if chain is None else chain.when(expr == key)).then(
            pl.lit(value, pl.String))
    return chain.otherwise(pl.lit(None, pl.String)) if chain is not None else pl.lit(None)


def _columns(has: set[str], ctx: ReadContext) -> list[pl.Expr]:
    if "start" in has and "end" in has:
        start, end = epoch_to_time(pl.col("start"), "s"), epoch_to_time(pl.col("end"), "s")
    else:
        start = end = pl.lit(ctx.assume_time).cast(pl.Datetime("ns", "UTC"))
    src, src_x = _address(has, "srcaddr", "pkt-srcaddr")
    dst, dst_x = _address(has, "dstaddr", "pkt-dstaddr")
    action_raw = _col(has, "action")
    direction = (pl.col("flow-direction").str.to_lowercase() if "flow-direction" in has
                 else pl.lit(None, pl.String))
    proto = _col(has, "protocol", pl.Int64)
    observers = [pl.col(c) for c in ("interface-id", "instance-id") if c in has]
    return [
        start.alias("start"), end.alias("end"),
        src.alias("src_ip"), dst.alias("dst_ip"), src_x.alias("src_xlate_ip"),
        dst_x.alias("dst_xlate_ip"),
        proto.alias("_proto_raw"),
        pl.when(proto.is_between(0, 255)).then(proto).cast(pl.UInt8).alias("protocol"),
        _col(has, "srcport", pl.Int64).alias("src_port"),
        _col(has, "dstport", pl.Int64).alias("dst_port"),
        _col(has, "bytes", pl.Int64).alias("bytes"),
        _col(has, "packets", pl.Int64).alias("packets"),
        pl.lit(1, pl.Int64).alias("flow_count"),
        action_raw.alias("_action_raw"),
        _lookup(action_raw, {"ACCEPT": "allow", "REJECT": "deny"}).alias("action"),
        direction.alias("direction"),
        (_lookup(direction, {"egress": "src", "ingress": "dst"}) if "flow-direction" in has
         else pl.lit(None, pl.String)).alias("reporter"),
        _col(has, "tcp-flags", pl.Int64).cast(pl.Int32, strict=False).alias("tcp_flags"),
        (pl.coalesce(observers) if observers else pl.lit(None, pl.String)).alias("observer"),
    ]


FORMAT = FlowFormat("aws-vpc", "AWS VPC Flow Logs (space-separated text, default v2 or custom "
                    "format; header line or --fields)", read, stream)
