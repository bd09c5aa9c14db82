"""Google Cloud VPC Flow Logs (``gcp-vpc``): Cloud Logging ``LogEntry`` JSON exports (JSON
Lines, a JSON array, or a bare ``jsonPayload`` per line).

Each connection is usually reported twice, by the SRC and by the DEST VM: both rows are
kept with ``reporter`` src/dst (the core keeps one, see docs/flows.md). int64 counters come
as JSON strings. ``src_instance``/``dest_instance`` give the observer (the reporting VM);
``src_gke_details``/``dest_gke_details`` fill namespace, pod, workload and service when
present. VPC Flow Logs only record accepted traffic and say nothing of verdicts, so
``action`` stays null.
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
    extract_records,
    iso_to_time,
    iter_json,
    ports_expr,
)

REPORTERS = {"SRC": "src", "DEST": "dst", "SRC_GATEWAY": "src", "DEST_GATEWAY": "dst"}
TYPES: dict[str, pl.DataType] = {
    "_start": pl.String, "_end": pl.String, "src_ip": pl.String, "dst_ip": pl.String,
    "src_port": pl.Int64, "dst_port": pl.Int64, "protocol": pl.Int64, "bytes": pl.String,
    "packets": pl.String, "reporter": pl.String, "observer": pl.String,
    "src_id_namespace": pl.String, "src_id_pod": pl.String, "src_id_workload": pl.String,
    "dst_id_namespace": pl.String, "dst_id_pod": pl.String, "dst_id_workload": pl.String,
    "dst_id_service": pl.String,
}


def _gke(details: dict[str, Any] | None, side: str) -> dict[str, Any]:
    if not details:
        return {}
    pod = details.get("pod") or {}
    workload = pod.get("pod_workload") or {}
    out = {f"{side}_id_namespace": pod.get("pod_namespace"),
           f"{side}_id_pod": pod.get("pod_name"),
           f"{side}_id_workload": workload.get("workload_name")}
    services = details.get("service") or []
    if side == "dst" and services:
        svc = services[0]
        out["dst_id_service"] = f"{svc.get('service_namespace')}/{svc.get('service_name')}"
    return out


def _observer(payload: dict[str, Any], reporter: str | None) -> str | None:
    side = "src_instance" if reporter == "src" else "dest_instance"
    instance = payload.get(side) or {}
    name = instance.get("vm_name")
    return f"{instance.get('zone')}/{name}" if name and instance.get("zone") else name


def extract(entry: dict[str, Any]) -> dict[str, Any] | str:
    """One LogEntry as flows columns, or the reason it is skipped."""
    payload = entry.get("jsonPayload", entry)
    conn = payload.get("connection")
    if not isinstance(conn, dict):
        return "not-a-flow"
    reporter = REPORTERS.get(str(payload.get("reporter", "")).upper())
    return {
        "_start": payload.get("start_time") or entry.get("timestamp"),
        "_end": payload.get("end_time") or payload.get("start_time") or entry.get("timestamp"),
        "src_ip": conn.get("src_ip"), "dst_ip": conn.get("dest_ip"),
        "src_port": conn.get("src_port"), "dst_port": conn.get("dest_port"),
        "protocol": conn.get("protocol"),
        "bytes": payload.get("bytes_sent"), "packets": payload.get("packets_sent"),
        "reporter": reporter, "observer": _observer(payload, reporter),
        **_gke(payload.get("src_gke_details"), "src"),
        **_gke(payload.get("dest_gke_details"), "dst"),
    }


def read(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one GCP VPC flow log export."""
    for batch in iter_json(path, ctx):
        frame, rejects, skipped = extract_records(batch, extract, TYPES)
        frame = frame.with_columns(
            iso_to_time(pl.col("_start")).alias("start"), iso_to_time(pl.col("_end")).alias("end"),
            pl.col("protocol").cast(pl.UInt8, strict=False),
            pl.col("bytes").cast(pl.Int64, strict=False),
            pl.col("packets").cast(pl.Int64, strict=False),
            pl.lit(1, pl.Int64).alias("flow_count"),
        ).with_columns(ports_expr("src_port"), ports_expr("dst_port")).drop("_start", "_end")
        yield Parsed(frame, rejects, skipped, batch.read)


FORMAT = FlowFormat("gcp-vpc", "Google Cloud VPC Flow Logs (Cloud Logging JSON export)", read)
