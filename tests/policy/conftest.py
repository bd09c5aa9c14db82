"""Builders for small hand-made inventories and flows (Kubernetes object dicts)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from toolkit.collect.k8s import normalise_objects
from toolkit.snapshot import Snapshot

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def ns(name: str, **labels: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": name, "labels": labels}}


def pod(namespace: str, name: str, ip: str, labels: dict[str, str] | None = None,
        ports: list[dict[str, Any]] | None = None, host_network: bool = False
        ) -> dict[str, Any]:
    return {"kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {},
                         "uid": f"uid-{namespace}-{name}",
                         "creationTimestamp": "2024-05-01T09:00:00Z"},
            "spec": {"hostNetwork": host_network, "nodeName": "node-1",
                     "containers": [{"name": "c", "image": "img", "ports": ports or []}]},
            "status": {"podIP": ip, "hostIP": "192.168.0.1", "phase": "Running",
                       "startTime": "2024-05-01T09:00:00Z"}}


def netpol(namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "NetworkPolicy", "apiVersion": "networking.k8s.io/v1",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def inventory(*objects: dict[str, Any]) -> Snapshot:
    return normalise_objects(list(objects))


def flows(rows: list[tuple[str, str, int | None, int, int]]) -> pl.DataFrame:
    """(src_ip, dst_ip, dst_port, protocol, bytes) client->server records."""
    return pl.DataFrame({
        "start": [T0] * len(rows), "end": [T0] * len(rows),
        "src_ip": [r[0] for r in rows], "dst_ip": [r[1] for r in rows],
        "src_port": [40000] * len(rows), "dst_port": [r[2] for r in rows],
        "protocol": [r[3] for r in rows], "bytes": [r[4] for r in rows],
        "packets": [1] * len(rows), "flow_count": [1] * len(rows),
        "format": ["test"] * len(rows)},
        schema_overrides={"protocol": pl.UInt8, "dst_port": pl.Int32, "src_port": pl.Int32,
                          "start": pl.Datetime("ns", "UTC"), "end": pl.Datetime("ns", "UTC")})


def with_flows(snap: Snapshot, rows: list[tuple[str, str, int | None, int, int]]) -> Snapshot:
    return snap.with_tables(flows=flows(rows))


def decide_one(snap: Snapshot, src: str, dst: str, port: int | None, protocol: int = 6
               ) -> dict[str, Any]:
    """The verdict row of one connection; ``src``/``dst`` are ``ns/pod`` names or IPs."""
    from toolkit.policy.connectivity import inventory_pods
    from toolkit.policy.endpoints import build_endpoints, policy_cidrs
    from toolkit.policy.evaluate import compile_policies, decide, protocol_class
    from toolkit.policy.model import parse_policies

    model = parse_policies(snap.network_policies)
    eps, mapped = build_endpoints(inventory_pods(snap), snap.namespaces.collect(),
                                  policy_cidrs(model))

    def ep(name: str) -> int:
        if "/" in name:
            ns_, pod_ = name.split("/")
            return mapped.filter((pl.col("namespace") == ns_) & (pl.col("name") == pod_))["ep"][0]
        return eps.atom_of(name)

    tuples = pl.LazyFrame({"s": [ep(src)], "d": [ep(dst)], "protocol": [protocol],
                           "port": [port or 0]},
                          schema={"s": pl.Int32, "d": pl.Int32, "protocol": pl.Int32,
                                  "port": pl.Int32})
    tuples = tuples.with_columns(protocol_class(pl.col("protocol")).alias("protocol"))
    return decide(compile_policies(model, eps), tuples).collect().row(0, named=True)


def allowed(snap: Snapshot, src: str, dst: str, port: int | None, protocol: int = 6) -> bool:
    return decide_one(snap, src, dst, port, protocol)["allowed"]


@pytest.fixture
def kb():
    """These builders (the test modules cannot import conftest under importlib mode)."""
    return sys.modules[__name__]
