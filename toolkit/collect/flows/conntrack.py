"""netfilter conntrack tables (``conntrack``): ``conntrack -L``, ``-o extended`` (``ipv4 2``
prefix), ``-E`` event lines (``[NEW]``/``[UPDATE]``/``[DESTROY]``, optionally with
``-o timestamp``'s ``[epoch.usec]`` prefix), ``/proc/net/(ip|nf)_conntrack`` and
``conntrackd -i`` lines. Parsed with vectorised polars regexes, never a dict per line (the
original and reply tuples repeat the same keys).

Mapping (docs/flows.md has the reasoning):

- the original tuple gives the forward row; the reply tuple reveals NAT: its ``src`` is the
  real backend (the pod behind a ClusterIP) -> ``dst_xlate_ip``/``dst_xlate_port`` when it
  differs from the original ``dst``, and its ``dst`` -> ``src_xlate_ip`` (SNAT);
- when the line has counters for the reply direction, a second row (``is_reply`` true,
  ``flow_count`` 0) carries them, with the mirrored NAT columns;
- event lines: ``[DESTROY]`` carries the connection's final counters and counts the
  connection (``flow_count`` 1); ``[NEW]``/``[UPDATE]`` describe a connection still open,
  their (partial, cumulative) counters are dropped and ``flow_count`` is 0, so a capture of
  all events never counts bytes or connections twice;
- times: the ``-o timestamp`` prefix when present, else ``--assume-time``, else the file's
  modification time (when the table was dumped).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from toolkit.collect.flows import reader
from toolkit.collect.flows._norm import (
    FlowFormat,
    Parsed,
    ReadContext,
    ports_expr,
    split_bad,
)
from toolkit.schema import TIME

HEAD = (r"^\s*(?:\[(\d+(?:\.\d+)?)\]\s*)?(?:\[([A-Z]+)\]\s*)?(?:ipv[46]\s+\d+\s+)?"
        r"([a-z][a-z0-9-]*)\s+(\d+)\s")
KEYS = ("src", "dst", "sport", "dport", "packets", "bytes")


def _pair(key: str) -> pl.Expr:
    return pl.col("_text").str.extract_all(rf"(?:^|\s){key}=\S+").list.eval(
        pl.element().str.strip_chars().str.slice(len(key) + 1))


def _get(key: str, i: int, dtype: pl.DataType = pl.String) -> pl.Expr:
    """Value ``i`` (0 = original tuple, 1 = reply tuple) of ``key=``."""
    return pl.col(f"_{key}").list.get(i, null_on_oob=True).cast(dtype, strict=False)


def _direction(base: pl.DataFrame, i: int) -> pl.DataFrame:
    """The row of tuple ``i`` (0 forward, 1 reply) with the other tuple as NAT columns."""
    o = 1 - i
    counted = pl.col("_counted")
    return base.with_columns(
        _get("src", i).alias("src_ip"), _get("dst", i).alias("dst_ip"),
        _get("sport", i).alias("src_port"), _get("dport", i).alias("dst_port"),
        _xlate(_get("dst", o), _get("src", i)).alias("src_xlate_ip"),
        _xlate(_get("dport", o), _get("sport", i)).alias("src_xlate_port"),
        _xlate(_get("src", o), _get("dst", i)).alias("dst_xlate_ip"),
        _xlate(_get("sport", o), _get("dport", i)).alias("dst_xlate_port"),
        pl.when(counted).then(_get("bytes", i, pl.Int64)).alias("bytes"),
        pl.when(counted).then(_get("packets", i, pl.Int64)).alias("packets"),
        (pl.when(counted).then(1).otherwise(0) if i == 0 else pl.lit(0)).cast(pl.Int64)
        .alias("flow_count"),
        pl.lit(i == 1).alias("is_reply"))


def _parse(lines: pl.DataFrame, default_time: datetime) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = lines.with_columns(
        pl.col("_text").str.extract_groups(HEAD).struct.rename_fields(
            ["_ts", "_event", "_pname", "_pnum"]).alias("_head"),
        *[_pair(k).alias(f"_{k}") for k in KEYS]).unnest("_head")
    n_src = pl.col("_src").list.len()
    checks = [(pl.col("_pnum").is_null() | (n_src == 0), "bad-line",
               pl.lit("not a conntrack entry")),
              (pl.col("_dst").list.len() != n_src, "bad-line", pl.lit("unbalanced tuples"))]
    frame, rejects = split_bad(frame, checks)
    event = pl.col("_event")
    stamp = pl.from_epoch((pl.col("_ts").cast(pl.Float64) * 1e6).cast(pl.Int64), "us")
    time = stamp.cast(TIME).fill_null(pl.lit(default_time).cast(TIME))
    base = frame.with_columns(
        time.alias("start"), time.alias("end"),
        pl.col("_pnum").cast(pl.UInt8, strict=False).alias("protocol"),
        (event.is_null() | (event == "DESTROY")).alias("_counted"))
    fwd, rev = _direction(base, 0), _direction(base, 1)
    rev = rev.filter((pl.col("bytes").fill_null(0) > 0) | (pl.col("packets").fill_null(0) > 0))
    keep = ["start", "end", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes",
            "packets", "flow_count", "is_reply", "src_xlate_ip", "src_xlate_port",
            "dst_xlate_ip", "dst_xlate_port", "source_record", "_text"]
    rows = pl.concat([fwd.select(keep), rev.select(keep)]).sort(
        "source_record", "is_reply", maintain_order=True)
    rows = rows.with_columns(ports_expr("src_port"), ports_expr("dst_port"),
                             ports_expr("src_xlate_port"), ports_expr("dst_xlate_port"))
    return rows, rejects


def _xlate(after: pl.Expr, before: pl.Expr) -> pl.Expr:
    return pl.when(after.is_not_null() & (after != before)).then(after)


def read(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one conntrack text file."""
    default = ctx.assume_time or datetime.fromtimestamp(path.stat().st_mtime, UTC)
    for block in reader.iter_blocks(path, block_bytes=min(ctx.block_bytes, 32 << 20),
                                    progress=ctx.progress):
        text = pl.Series("_text", block.data.decode("utf-8", errors="replace").split("\n")[:-1])
        lines = pl.DataFrame([text]).with_columns(
            pl.int_range(block.first_line, block.first_line + text.len(), dtype=pl.Int64)
            .alias("source_record"))
        lines = lines.filter(pl.col("_text").str.strip_chars() != "",
                             ~pl.col("_text").str.starts_with("conntrack v"))
        rows, rejects = _parse(lines, default)
        yield Parsed(rows, rejects, {}, lines.height)


FORMAT = FlowFormat("conntrack", "netfilter conntrack: conntrack -L / -o extended / -E events, "
                    "/proc/net/nf_conntrack", read)
