"""Small snapshots built in memory for the viz tests (no demo generator needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from toolkit.snapshot import Snapshot

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
XSS_NS_LABEL = "<script>window.__pwned=1</script>"
XSS_POD = "<img src=x onerror=window.__pwned=2>"
XSS_WORKLOAD = "web\"><svg onload=window.__pwned=3>"


def _labels(**pairs: str) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(pairs.items())]


def build_snapshot(*, hostile: bool = False, hours: int = 6) -> Snapshot:
    """Three namespaces, four workloads, two services, hourly flows between them.

    With ``hostile`` the names and labels carry HTML and script payloads.
    """
    ns_label = XSS_NS_LABEL if hostile else "shop"
    web = XSS_WORKLOAD if hostile else "web"
    namespaces = pl.DataFrame({
        "name": ["front", "back", "data"],
        "labels": [_labels(team=ns_label), _labels(team="core"), _labels(team="db")],
    })
    pods = pl.DataFrame({
        "namespace": ["front", "back", "back", "data"],
        "name": [XSS_POD if hostile else "web-1", "api-1", "worker-1", "db-0"],
        "uid": ["u1", "u2", "u3", "u4"],
        "ip": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"],
        "host_network": [False] * 4,
        "labels": [_labels(app=ns_label), _labels(app="api"), _labels(app="worker"),
                   _labels(app="db")],
        "workload_kind": ["Deployment", "Deployment", "Deployment", "StatefulSet"],
        "workload_name": [web, "api", "worker", "db"],
        "container_ports": [[], [{"container": "c", "name": "http", "port": 8080,
                                  "protocol": "TCP"}], [],
                            [{"container": "c", "name": "pg", "port": 5432, "protocol": "TCP"}]],
        "images": [["img"]] * 4,
        "valid_from": [T0 - timedelta(days=1)] * 4,
        "planned": [False] * 4,
    })
    services = pl.DataFrame({
        "namespace": ["back", "data"], "name": ["api", "db"], "type": ["ClusterIP"] * 2,
        "cluster_ips": [["10.96.0.10"], ["10.96.0.11"]], "external_ips": [[], []],
        "ports": [[{"name": "http", "protocol": "TCP", "port": 80, "target_port": "8080",
                    "node_port": None}],
                  [{"name": "pg", "protocol": "TCP", "port": 5432, "target_port": "5432",
                    "node_port": None}]],
        "selector": [_labels(app="api"), _labels(app="db")], "headless": [False, False],
        "labels": [[], []],
    })
    endpoints = pl.DataFrame({
        "namespace": ["back", "data"], "service": ["api", "db"], "ip": ["10.0.0.2", "10.0.0.4"],
        "pod_namespace": ["back", "data"], "pod_name": ["api-1", "db-0"],
        "pod_uid": ["u2", "u4"], "port_name": ["http", "pg"], "port": [8080, 5432],
        "protocol": ["TCP", "TCP"], "ready": [True, True],
    })
    edges = [("10.0.0.1", "10.0.0.2", 8080, 50_000), ("10.0.0.2", "10.0.0.4", 5432, 900_000),
             ("10.0.0.3", "10.0.0.4", 5432, 40_000), ("10.0.0.3", "10.0.0.2", 8080, 3_000),
             ("10.0.0.1", "203.0.113.9", 443, 7_000)]
    rows = []
    for h in range(hours):
        for i, (src, dst, port, size) in enumerate(edges):
            start = T0 + timedelta(hours=h, minutes=i)
            rows.append((start, start + timedelta(seconds=30), src, dst, 40000 + i, port, 6,
                         size * (1 + h % 3), 10 + h, 1, "test"))
    flows = pl.DataFrame(rows, schema=["start", "end", "src_ip", "dst_ip", "src_port",
                                       "dst_port", "protocol", "bytes", "packets",
                                       "flow_count", "format"], orient="row")
    return Snapshot.from_frames(cluster="hostile<b>" if hostile else "tiny",
                                captured_at=T0 + timedelta(hours=hours), namespaces=namespaces,
                                pods=pods, services=services, endpoints=endpoints, flows=flows)


def build_wl_svc() -> pl.DataFrame:
    """workload → service rows in two namespaces plus an external client."""
    rows = [("a", "a1", "a", "s1", 1000), ("a", "a2", "a", "s1", 10), ("a", "a1", "b", "s2", 50),
            ("b", "b1", "b", "s2", 5000), ("b", "b2", "a", "s1", 7), ("b", "b3", "b", "s2", 1),
            (None, None, "a", "s1", 300)]
    return pl.DataFrame({
        "src_namespace": [r[0] for r in rows], "src_workload": [r[1] for r in rows],
        "src_workload_kind": ["Deployment"] * len(rows),
        "dst_namespace": [r[2] for r in rows], "dst_service": [r[3] for r in rows],
        "src_kind": ["pod"] * (len(rows) - 1) + ["public"], "dst_kind": ["pod"] * len(rows),
        "bytes": [r[4] for r in rows], "packets": [1] * len(rows), "flows": [2] * len(rows)})


def build_bucketed() -> pl.DataFrame:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [(t0, "a", "b", 10), (t0, "a", "a", 99), (t0 + timedelta(hours=3), "a", "b", 5),
            (t0 + timedelta(hours=3), "c", "b", 1)]
    return pl.DataFrame({"bucket": [r[0] for r in rows], "src_namespace": [r[1] for r in rows],
                         "dst_namespace": [r[2] for r in rows], "bytes": [r[3] for r in rows],
                         "packets": [1] * 4, "flows": [1] * 4})


@pytest.fixture
def wl_svc() -> pl.DataFrame:
    """A small workload → service matrix (two namespaces and an external client)."""
    return build_wl_svc()


@pytest.fixture
def bucketed() -> pl.DataFrame:
    """A small namespace matrix with hourly buckets (hours 1 and 2 empty)."""
    return build_bucketed()


@pytest.fixture
def xss() -> dict[str, str]:
    """The payloads the hostile snapshot carries."""
    return {"ns_label": XSS_NS_LABEL, "pod": XSS_POD, "workload": XSS_WORKLOAD}


@pytest.fixture(scope="session")
def tiny_snapshot() -> Snapshot:
    return build_snapshot()


@pytest.fixture(scope="session")
def hostile_snapshot() -> Snapshot:
    return build_snapshot(hostile=True)
