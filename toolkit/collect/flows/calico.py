"""Calico Enterprise / Calico Cloud flow logs (``calico``): ``flows.log`` JSON Lines.

Field list: the Calico Enterprise docs page "Flow log data types" as summarised in
``shared/realdata/calico-flow-logs/PROVENANCE.md`` (no openly licensed sample exists; the
test records in ``tests/collect/flows/data/calico-flows.jsonl`` follow those fields).

One Calico record describes a connection aggregate seen by one reporter, with counters in
both directions *relative to the reporting endpoint*. It becomes up to two unidirectional
rows, so nothing is double counted:

- the forward row (source -> dest): ``bytes_out``/``packets_out`` when ``reporter`` is
  ``src`` (what the source sent), ``bytes_in``/``packets_in`` when it is ``dst`` (what the
  destination received); ``flow_count`` = ``num_flows``;
- the reply row (dest -> source, ``is_reply`` true, ports swapped): the other pair of
  counters, ``flow_count`` 0 so connection counts are not doubled; it is written only when
  it carries bytes or packets.

Aggregated records have ``source_ip``/``dest_ip`` null or ``-``: they keep their bytes and
names with the unspecified address ``0.0.0.0`` (documented in docs/flows.md).
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

UNKNOWN_IP = "0.0.0.0"
STRINGS = pl.List(pl.String)
TYPES: dict[str, pl.DataType] = {
    "_start": pl.Int64, "_end": pl.Int64, "src_ip": pl.String, "dst_ip": pl.String,
    "src_port": pl.Int64, "dst_port": pl.Int64, "_proto": pl.String, "action": pl.String,
    "reporter": pl.String, "_bytes_in": pl.Int64, "_bytes_out": pl.Int64,
    "_packets_in": pl.Int64, "_packets_out": pl.Int64, "flow_count": pl.Int64,
    "drop_reason": pl.String, "observer": pl.String,
    "src_id_namespace": pl.String, "src_id_pod": pl.String, "src_id_workload": pl.String,
    "src_id_labels": STRINGS, "dst_id_namespace": pl.String, "dst_id_pod": pl.String,
    "dst_id_workload": pl.String, "dst_id_labels": STRINGS, "dst_id_service": pl.String,
}
SWAP = {"src_ip": "dst_ip", "src_port": "dst_port", "src_id_namespace": "dst_id_namespace",
        "src_id_pod": "dst_id_pod", "src_id_workload": "dst_id_workload",
        "src_id_labels": "dst_id_labels"}


def _dash(value: Any) -> Any:
    return None if value in ("-", "", None) else value


def _side(rec: dict[str, Any], prefix: str, side: str) -> dict[str, Any]:
    labels = rec.get(f"{prefix}_labels")
    if isinstance(labels, dict):
        labels = labels.get("labels")
    kind = rec.get(f"{prefix}_type")
    return {
        f"{side}_id_namespace": _dash(rec.get(f"{prefix}_namespace")),
        f"{side}_id_pod": _dash(rec.get(f"{prefix}_name")) if kind in ("wep", None) else None,
        f"{side}_id_workload": _dash(rec.get(f"{prefix}_name_aggr")),
        f"{side}_id_labels": [str(x) for x in labels] if labels else None,
    }


def _denied_by(rec: dict[str, Any]) -> str | None:
    policies = (rec.get("policies") or {}).get("all_policies") or []
    for entry in policies:
        parts = str(entry).split("|")
        if len(parts) >= 4 and parts[3] == "deny":
            rule = parts[4] if len(parts) > 4 else "?"
            return f"policy {parts[2]} (tier {parts[1]}, rule {rule})"
    return None


def extract(rec: dict[str, Any]) -> dict[str, Any] | str:
    """One Calico flow log record as flows columns (both directions' counters)."""
    if "start_time" not in rec or ("source_ip" not in rec and "source_name" not in rec):
        return "not-a-flow"
    service = _dash(rec.get("dest_service_name"))
    svc_ns = _dash(rec.get("dest_service_namespace"))
    action = str(rec.get("action", "")).lower() or None
    return {
        "_start": int(rec["start_time"]), "_end": int(rec.get("end_time", rec["start_time"])),
        "src_ip": _dash(rec.get("source_ip")) or UNKNOWN_IP,
        "dst_ip": _dash(rec.get("dest_ip")) or UNKNOWN_IP,
        "src_port": _dash(rec.get("source_port")), "dst_port": _dash(rec.get("dest_port")),
        "_proto": None if rec.get("proto") is None else str(rec["proto"]),
        "action": action, "reporter": _dash(rec.get("reporter")),
        "_bytes_in": rec.get("bytes_in"), "_bytes_out": rec.get("bytes_out"),
        "_packets_in": rec.get("packets_in"), "_packets_out": rec.get("packets_out"),
        "flow_count": rec.get("num_flows", 1),
        "drop_reason": _denied_by(rec) if action == "deny" else None,
        "observer": _dash(rec.get("host")),
        **_side(rec, "source", "src"), **_side(rec, "dest", "dst"),
        "dst_id_service": (f"{svc_ns}/{service}" if svc_ns else service) if service else None,
    }


def _directions(frame: pl.DataFrame) -> pl.DataFrame:
    """Forward and reply rows from the in/out counters (see the module doc)."""
    by_src = pl.col("reporter") == "src"
    fwd = frame.with_columns(
        pl.when(by_src).then("_bytes_out").otherwise("_bytes_in").alias("bytes"),
        pl.when(by_src).then("_packets_out").otherwise("_packets_in").alias("packets"),
        pl.lit(False).alias("is_reply"))
    rev = frame.with_columns(
        pl.when(by_src).then("_bytes_in").otherwise("_bytes_out").alias("bytes"),
        pl.when(by_src).then("_packets_in").otherwise("_packets_out").alias("packets"),
        pl.lit(True).alias("is_reply"), pl.lit(0, pl.Int64).alias("flow_count"),
        pl.lit(None, pl.String).alias("dst_id_service"),
        *[pl.col(b).alias(a) for a, b in SWAP.items()],
        *[pl.col(a).alias(b) for a, b in SWAP.items()])
    rev = rev.filter((pl.col("bytes").fill_null(0) > 0) | (pl.col("packets").fill_null(0) > 0))
    both = pl.concat([fwd, rev.select(fwd.columns)])
    return both.sort("source_record", "is_reply", maintain_order=True).drop(
        "_bytes_in", "_bytes_out", "_packets_in", "_packets_out")


def read(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one Calico flows.log file."""
    for batch in iter_json(path, ctx):
        frame, rejects, skipped = extract_records(batch, extract, TYPES)
        frame = frame.with_columns(
            epoch_to_time(pl.col("_start"), "s").alias("start"),
            epoch_to_time(pl.col("_end"), "s").alias("end"),
            to_protocol(frame.get_column("_proto")).alias("protocol"),
        ).with_columns(ports_expr("src_port"), ports_expr("dst_port")).drop("_start", "_end",
                                                                           "_proto")
        yield Parsed(_directions(frame), rejects, skipped, batch.read)


FORMAT = FlowFormat("calico", "Calico Enterprise/Cloud flow logs (flows.log JSON lines)", read)
