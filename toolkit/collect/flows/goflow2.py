"""goflow2 JSON output (``goflow2``): NetFlow v5/v9, IPFIX and sFlow records decoded by
goflow2 (``-format json``, one object per line; pretty-printed objects are accepted too).

Timestamps are integer Unix nanoseconds (``time_flow_start_ns``, ``time_flow_end_ns``,
falling back to ``time_received_ns``); Python's ``json`` keeps them as exact integers, so
values beyond 2**53 lose nothing. ``proto`` and ``etype`` may be names or numbers.
``bytes``/``packets`` are stored **as reported** (sampled counts), never multiplied by
``sampling_rate``: the core or the user scales them when they want estimates. The
exporter (``sampler_address``) is the observer. goflow2's raw-producer output (sFlow
counter samples, no flow) is not a flow record and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from toolkit.collect.flows._norm import (
    FlowFormat,
    Parsed,
    ReadContext,
    epoch_to_time,
    extract_records,
    iter_json,
    ports_expr,
    to_protocol,
)

TYPES: dict[str, pl.DataType] = {
    "_start": pl.Int64, "_end": pl.Int64, "src_ip": pl.String, "dst_ip": pl.String,
    "src_port": pl.Int64, "dst_port": pl.Int64, "_proto": pl.String, "bytes": pl.Int64,
    "packets": pl.Int64, "tcp_flags": pl.Int64, "observer": pl.String, "direction": pl.String,
}
DIRECTIONS = {0: "ingress", 1: "egress", "0": "ingress", "1": "egress"}


def _time(rec: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = rec.get(key)
        if value not in (None, 0, "0"):
            return int(value)
    return None


def extract(rec: dict[str, Any]) -> dict[str, Any] | str:
    """One goflow2 record as flows columns, or the reason it is skipped."""
    if "src_addr" not in rec and "dst_addr" not in rec:
        return "not-a-flow"
    received = ("time_received_ns",)
    return {
        "_start": _time(rec, "time_flow_start_ns", *received),
        "_end": _time(rec, "time_flow_end_ns", "time_flow_start_ns", *received),
        "src_ip": rec.get("src_addr"), "dst_ip": rec.get("dst_addr"),
        "src_port": rec.get("src_port"), "dst_port": rec.get("dst_port"),
        "_proto": None if rec.get("proto") is None else str(rec["proto"]),
        "bytes": rec.get("bytes"), "packets": rec.get("packets"),
        "tcp_flags": rec.get("tcp_flags"), "observer": rec.get("sampler_address"),
        "direction": DIRECTIONS.get(rec.get("flow_direction")),
    }


def read(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one goflow2 JSON file."""
    for batch in iter_json(path, ctx):
        frame, rejects, skipped = extract_records(batch, extract, TYPES)
        frame = frame.with_columns(
            epoch_to_time(pl.col("_start"), "ns").alias("start"),
            epoch_to_time(pl.col("_end"), "ns").alias("end"),
            to_protocol(frame.get_column("_proto")).alias("protocol"),
            pl.col("tcp_flags").cast(pl.Int32, strict=False),
            pl.lit(1, pl.Int64).alias("flow_count"),
        ).with_columns(ports_expr("src_port"), ports_expr("dst_port")).drop("_start", "_end",
                                                                           "_proto")
        yield Parsed(frame, rejects, skipped, batch.read)


FORMAT = FlowFormat("goflow2", "goflow2 JSON (NetFlow v5/v9, IPFIX, sFlow)", read)
