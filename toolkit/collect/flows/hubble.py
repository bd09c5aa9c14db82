"""Cilium Hubble flows (``hubble``): ``hubble observe -o json`` / ``-o jsonpb`` output and
Hubble exporter files (JSON Lines of ``{"flow": {...}, "node_name", "time"}``; a bare flow
object per line is accepted too).

Hubble stamps identity itself, so the ``*_id_*`` columns are filled from it: namespace, pod,
workload (``workloads[0].name``), labels (``k8s:`` source prefix removed, other sources such as
``reserved:world`` kept), DNS names, and the destination service as ``namespace/name``.
Hubble records have no byte or packet counts: those stay null. Enums may be names or
numbers. Lines that are not flows (``lost_events``, ``node_status``) are skipped by reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl

from toolkit.collect.flows._norm import (
    TCP_FLAG_BITS,
    FlowFormat,
    Parsed,
    ReadContext,
    extract_records,
    iso_to_time,
    iter_json,
)

VERDICTS = {0: "VERDICT_UNKNOWN", 1: "FORWARDED", 2: "DROPPED", 3: "ERROR", 4: "AUDIT",
            5: "REDIRECTED", 6: "TRACED", 7: "TRANSLATED"}
ACTIONS = {"FORWARDED": "allow", "REDIRECTED": "allow", "AUDIT": "allow", "TRANSLATED": "allow",
           "DROPPED": "deny", "ERROR": "deny"}
DIRECTIONS = {"INGRESS": "ingress", "EGRESS": "egress", 1: "ingress", 2: "egress"}
L4 = {"TCP": 6, "UDP": 17, "SCTP": 132, "ICMPv4": 1, "ICMPv6": 58}
L7_KINDS = ("dns", "http", "kafka")
STRINGS = pl.List(pl.String)
TYPES: dict[str, pl.DataType] = {
    "_time": pl.String, "src_ip": pl.String, "dst_ip": pl.String, "src_port": pl.Int64,
    "dst_port": pl.Int64, "protocol": pl.Int64, "action": pl.String, "drop_reason": pl.String,
    "reporter": pl.String, "direction": pl.String, "is_reply": pl.Boolean,
    "tcp_flags": pl.Int32, "l7_type": pl.String, "observer": pl.String,
    "src_id_namespace": pl.String, "src_id_pod": pl.String, "src_id_workload": pl.String,
    "src_id_labels": STRINGS, "src_id_names": STRINGS, "dst_id_namespace": pl.String,
    "dst_id_pod": pl.String, "dst_id_workload": pl.String, "dst_id_labels": STRINGS,
    "dst_id_names": STRINGS, "dst_id_service": pl.String,
}


def _endpoint(ep: dict[str, Any] | None, side: str) -> dict[str, Any]:
    ep = ep or {}
    workloads = ep.get("workloads") or []
    labels = ep.get("labels")
    return {
        f"{side}_id_namespace": ep.get("namespace") or None,
        f"{side}_id_pod": ep.get("pod_name") or None,
        f"{side}_id_workload": (workloads[0].get("name") if workloads else None),
        f"{side}_id_labels": ([lab[4:] if lab.startswith("k8s:") else lab for lab in labels]
                              if labels is not None else None),
    }


def _l4(l4: dict[str, Any]) -> dict[str, Any]:
    for name, number in L4.items():
        if name in l4:
            body = l4[name] or {}
            out: dict[str, Any] = {"protocol": number}
            if number in (6, 17, 132):
                out["src_port"] = body.get("source_port")
                out["dst_port"] = body.get("destination_port")
            if number == 6 and body.get("flags"):
                out["tcp_flags"] = sum(bit for flag, bit in TCP_FLAG_BITS.items()
                                       if body["flags"].get(flag))
            return out
    return {}


def _service(svc: dict[str, Any] | None) -> str | None:
    if not svc or not svc.get("name"):
        return None
    return f"{svc.get('namespace', '')}/{svc['name']}" if svc.get("namespace") else svc["name"]


def _reply(flow: dict[str, Any]) -> bool | None:
    value = flow.get("is_reply", flow.get("reply"))
    if isinstance(value, dict):  # jsonpb BoolValue wrapper
        value = value.get("value")
    return None if value is None else bool(value)


def extract(record: dict[str, Any]) -> dict[str, Any] | str:
    """One Hubble record as flows columns, or the reason it is skipped."""
    flow = record.get("flow", record if "IP" in record or "verdict" in record else None)
    if flow is None:
        return "not-a-flow"
    ip = flow.get("IP") or {}
    verdict = flow.get("verdict")
    verdict = VERDICTS.get(verdict, str(verdict)) if isinstance(verdict, int) else verdict
    direction = DIRECTIONS.get(flow.get("traffic_direction"))
    drop = flow.get("drop_reason_desc") or flow.get("drop_reason")
    l7 = flow.get("l7") or {}
    flow_type = flow.get("Type")
    l7_type = next((k for k in L7_KINDS if k in l7), "l7" if flow_type in ("L7", 2) else None)
    return {
        "_time": flow.get("time") or record.get("time"),
        "src_ip": ip.get("source"), "dst_ip": ip.get("destination"),
        **_l4(flow.get("l4") or {}),
        "action": ACTIONS.get(verdict),
        "drop_reason": None if drop in (None, 0, "DROP_REASON_UNKNOWN") else str(drop),
        "reporter": {"egress": "src", "ingress": "dst"}.get(direction or ""),
        "direction": direction, "is_reply": _reply(flow), "l7_type": l7_type,
        "observer": flow.get("node_name") or record.get("node_name"),
        **_endpoint(flow.get("source"), "src"), **_endpoint(flow.get("destination"), "dst"),
        "src_id_names": flow.get("source_names"), "dst_id_names": flow.get("destination_names"),
        "dst_id_service": _service(flow.get("destination_service")),
    }


def read(path: Path, ctx: ReadContext) -> Iterator[Parsed]:
    """Yield parsed batches of one Hubble JSON file."""
    for batch in iter_json(path, ctx):
        frame, rejects, skipped = extract_records(batch, extract, TYPES)
        frame = frame.with_columns(
            iso_to_time(pl.col("_time")).alias("start"),
            pl.col("protocol").cast(pl.UInt8, strict=False),
            pl.col("src_port").cast(pl.Int32, strict=False),
            pl.col("dst_port").cast(pl.Int32, strict=False),
            pl.lit(1, pl.Int64).alias("flow_count"),
        ).with_columns(pl.col("start").alias("end")).drop("_time")
        yield Parsed(frame, rejects, skipped, batch.read)


FORMAT = FlowFormat("hubble", "Cilium Hubble flows: hubble observe -o json/jsonpb, Hubble "
                    "exporter JSON lines", read)
