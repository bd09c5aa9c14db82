"""A small hand-made snapshot with every tricky case the core must get right.

Cluster: nodes node-a (10.0.1.10, pods 10.244.0.0/24 and fd00:10:244::/64) and node-b
(10.0.1.11, pods 10.244.1.0/24); services in 10.96.0.0/24.

- IP reuse: 10.244.1.7 belongs to shop/db-0 until T1, then to pay/pay-1 (another namespace).
- hostNetwork: kube-system/node-exporter-a listens on node-a's IP, port 9100.
- multi-port service: shop/api serves 9000 (named targetPort "grpc") and 9090.
- a pod behind two services: shop/api and shop/api-metrics both target api-1:9090.
- IPv6: shop/v6-1 at fd00:10:244::5.
- a manual endpoint: shop/extdb → 192.168.50.5:5432 (outside the cluster).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from toolkit.snapshot import Snapshot

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)


def _labels(**kv: str) -> list[dict]:
    return [{"key": k.replace("_", "."), "value": v} for k, v in sorted(kv.items())]


def _ports(*items: tuple[str, int]) -> list[dict]:
    return [{"container": "c", "name": n, "port": p, "protocol": "TCP"} for n, p in items]


def _pod(ns, name, ip, wl, *, kind="Deployment", labels=None, ports=(), node="node-a",
         host=False, start=T0 - timedelta(days=1), end=None) -> dict:
    return {"namespace": ns, "name": name, "uid": f"uid-{ns}-{name}", "ip": ip, "node": node,
            "host_network": host, "labels": labels or _labels(app=wl),
            "workload_kind": kind, "workload_name": wl, "container_ports": _ports(*ports),
            "images": ["img"], "valid_from": start, "valid_to": end, "planned": False}


PODS = [
    _pod("shop", "web-1", "10.244.0.5", "web", labels=_labels(app="web", tier="front"),
         ports=[("http", 8080)]),
    _pod("shop", "api-1", "10.244.0.6", "api", ports=[("grpc", 9000), ("metrics", 9090)]),
    _pod("shop", "db-0", "10.244.1.7", "db", kind="StatefulSet", node="node-b",
         ports=[("pg", 5432)], end=T1),
    _pod("pay", "pay-1", "10.244.1.7", "pay", node="node-b", ports=[("https", 8443)], start=T1,
         labels=_labels(app="pay", env="prod")),
    _pod("kube-system", "node-exporter-a", "10.0.1.10", "node-exporter", kind="DaemonSet",
         host=True, ports=[("metrics", 9100)], labels=_labels(app_kubernetes_io_name="ne")),
    _pod("shop", "v6-1", "fd00:10:244::5", "v6", ports=[("http", 80)]),
]


def _svc(ns, name, ip, ports, selector) -> dict:
    return {"namespace": ns, "name": name, "type": "ClusterIP", "cluster_ips": [ip] if ip else [],
            "external_ips": [], "headless": ip is None, "labels": [],
            "ports": [{"name": f"p{p}", "protocol": "TCP", "port": p, "target_port": t,
                       "node_port": None} for p, t in ports],
            "selector": selector}


SERVICES = [
    _svc("shop", "web", "10.96.0.10", [(80, "http")], _labels(app="web")),
    _svc("shop", "api", "10.96.0.11", [(9000, "grpc"), (9090, "9090")], _labels(app="api")),
    _svc("shop", "api-metrics", "10.96.0.12", [(9090, "metrics")], _labels(app="api")),
    _svc("pay", "pay", "10.96.0.20", [(443, "8443")], _labels(app="pay")),
    _svc("shop", "extdb", "10.96.0.30", [(5432, "5432")], None),
]
ENDPOINTS = [{"namespace": "shop", "service": "extdb", "ip": "192.168.50.5", "port": 5432,
              "address_type": "IPv4", "protocol": "TCP"}]
NODES = [
    {"name": "node-a", "labels": [], "internal_ips": ["10.0.1.10"], "external_ips": [],
     "pod_cidrs": ["10.244.0.0/24", "fd00:10:244::/64"]},
    {"name": "node-b", "labels": [], "internal_ips": ["10.0.1.11"], "external_ips": [],
     "pod_cidrs": ["10.244.1.0/24"]},
]
NAMESPACES = [{"name": n, "labels": []} for n in ("shop", "pay", "kube-system")]

WEB, API, REUSED, NODE_A, V6 = "10.244.0.5", "10.244.0.6", "10.244.1.7", "10.0.1.10", \
    "fd00:10:244::5"

# (name, minutes after T0, src_ip, src_port, dst_ip, dst_port, protocol, flags, bytes)
FLOWS = [
    ("reply-from-api", 5, API, 9000, WEB, 40001, 6, None, 1000),
    ("web-to-api-metrics", 6, WEB, 40002, API, 9090, 6, None, 200),
    ("web-to-db", 10, WEB, 40003, REUSED, 5432, 6, None, 3000),
    ("web-to-pay", 70, WEB, 40004, REUSED, 8443, 6, None, 4000),
    ("scrape-hostnet", 7, API, 41000, NODE_A, 9100, 6, None, 500),
    ("to-internet", 8, WEB, 40005, "8.8.8.8", 443, 6, None, 60),
    ("unknown-pod-ip", 9, WEB, 40006, "10.244.0.99", 80, 6, None, 70),
    ("metadata", 11, WEB, 40007, "169.254.169.254", 80, 6, None, 80),
    ("v6", 12, "fd00:10:244::9", 50000, V6, 80, 6, None, 90),
    ("clusterip", 13, WEB, 40008, "10.96.0.10", 80, 6, None, 100),
    ("extdb", 14, WEB, 40009, "192.168.50.5", 5432, 6, None, 110),
    ("kubelet", 15, NODE_A, 45000, "10.0.1.11", 10250, 6, None, 120),
    ("synack", 16, API, 45001, WEB, 45002, 6, 18, 130),
    ("icmp", 17, WEB, None, API, None, 1, None, 140),
]


def flows_frame(rows=FLOWS) -> pl.DataFrame:
    return pl.DataFrame(
        [{"start": T0 + timedelta(minutes=m), "end": T0 + timedelta(minutes=m, seconds=30),
          "src_ip": s, "src_port": sp, "dst_ip": d, "dst_port": dp, "protocol": proto,
          "tcp_flags": fl, "bytes": b, "packets": 1, "flow_count": 1, "format": "test",
          "source_file": "mini.log", "source_record": i + 1, "l7_type": name}
         for i, (name, m, s, sp, d, dp, proto, fl, b) in enumerate(rows)],
        schema_overrides={"start": pl.Datetime("ns", "UTC"), "end": pl.Datetime("ns", "UTC")})


def mini_snapshot(flows: pl.DataFrame | None = None) -> Snapshot:
    return Snapshot.from_frames(
        namespaces=pl.DataFrame(NAMESPACES), nodes=pl.DataFrame(NODES),
        pods=pl.DataFrame(PODS), services=pl.DataFrame(SERVICES),
        endpoints=pl.DataFrame(ENDPOINTS), flows=flows if flows is not None else flows_frame())


@pytest.fixture(scope="module")
def mini() -> Snapshot:
    return mini_snapshot()


@pytest.fixture(scope="session")
def kit():
    """This module's builders and constants, for tests that make their own variants."""
    import sys

    return sys.modules[__name__]
