"""Inventory tables of one day's snapshot, as a collector would have captured them at the end
of the day's window: objects existing then, plus every pod that held an IP during the window
(with its ownership interval), like a collector that watched pod events all day.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import polars as pl

from toolkit import schema
from toolkit.demo.apps import SERVICES, WORKLOADS, Service
from toolkit.demo.callgraph import POOLS
from toolkit.demo.cluster import Pod, Timeline
from toolkit.demo.policies import POLICIES

SOURCE = "demo"
_NS_LABELS = {"boutique": {"app.kubernetes.io/part-of": "online-boutique"},
              "sock-front": {"app.kubernetes.io/part-of": "sock-shop", "tier": "front"},
              "sock-back": {"app.kubernetes.io/part-of": "sock-shop", "tier": "back"},
              "social-network": {"app.kubernetes.io/part-of": "deathstarbench"},
              "databases": {"tier": "data"}, "monitoring": {"tier": "platform"},
              "ingress-nginx": {"tier": "platform"}, "kube-system": {}, "default": {}}


def _ts(seconds: int | None) -> datetime | None:
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def _labels(pairs: object) -> list[dict[str, str]]:
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [{"key": k, "value": v} for k, v in sorted(items)]


def _uid(*parts: object) -> str:
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def _frame(rows: list[dict], name: str) -> pl.DataFrame:
    tbl = schema.table(name)
    frame = pl.DataFrame(rows, schema=tbl.polars_schema) if rows else tbl.empty()
    return frame.sort(list(tbl.key)) if tbl.key else frame


def namespaces(tl: Timeline) -> pl.DataFrame:
    """Every namespace, with its kubernetes.io/metadata.name and app labels."""
    created = tl.config.t0 - 60 * 86_400
    rows = [{"name": ns, "uid": _uid(tl.config.seed, "ns", ns),
             "labels": _labels({"kubernetes.io/metadata.name": ns, **extra}),
             "created": _ts(created), "source": SOURCE} for ns, extra in _NS_LABELS.items()]
    return _frame(rows, "namespaces")


def nodes(tl: Timeline) -> pl.DataFrame:
    """The EKS worker nodes: InternalIP, pod block, zone, instance id."""
    region = tl.config.region
    rows = []
    for n in tl.nodes:
        labels = {"kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux",
                  "node.kubernetes.io/instance-type": "m5.xlarge",
                  "topology.kubernetes.io/region": region, "topology.kubernetes.io/zone": n.zone,
                  "eks.amazonaws.com/nodegroup": "default"}
        rows.append({"name": n.name, "uid": _uid(tl.config.seed, "node", n.name),
                     "labels": _labels(labels), "internal_ips": [n.ip], "external_ips": [],
                     "pod_cidrs": [n.cidr], "provider_id": f"aws:///{n.zone}/{n.instance}",
                     "zone": n.zone, "region": region,
                     "created": _ts(tl.config.t0 - 90 * 86_400), "source": SOURCE})
    return _frame(rows, "nodes")


def _pod_row(tl: Timeline, pod: Pod, end: int) -> dict:
    w = pod.workload
    ports = [{"container": w.name, "name": n, "port": p, "protocol": proto}
             for n, p, proto in w.ports]
    return {"namespace": w.namespace, "name": pod.name, "uid": pod.uid, "ip": pod.ip,
            "ip_family": "IPv4", "node": tl.nodes[pod.node].name, "host_network": w.host_network,
            "phase": pod.phase, "labels": _labels(pod.labels),
            "service_account": w.service_account or "default", "owner_kind": pod.owner[0],
            "owner_name": pod.owner[1], "workload_kind": w.kind, "workload_name": w.name,
            "container_ports": ports, "images": [w.image], "valid_from": _ts(pod.start),
            "valid_to": _ts(pod.end) if pod.end is not None and pod.end <= end else None,
            "planned": False, "source": SOURCE}


def pods(tl: Timeline, day: int) -> pl.DataFrame:
    """Pods that held an IP at some point of day ``day``'s window."""
    ws, we = tl.config.window_seconds(day)
    rows = [_pod_row(tl, p, we) for p in tl.pods
            if p.start < we and (p.end is None or p.end > ws)]
    return _frame(rows, "pods").sort("namespace", "name", "valid_from")


def workloads(tl: Timeline, day: int) -> pl.DataFrame:
    """Controllers existing at capture (old ReplicaSets kept, Jobs of the day's CronJob runs)."""
    ws, we = tl.config.window_seconds(day)
    rows = []
    for c in tl.controllers:
        if c.created >= we or (c.kind == "Job" and c.created + 3600 < ws):
            continue
        selector = None if c.kind in ("CronJob", "Job") else json.dumps(
            {"matchLabels": dict(c.template_labels if c.kind == "ReplicaSet" else c.labels)},
            sort_keys=True, separators=(",", ":"))
        rows.append({"namespace": c.namespace, "kind": c.kind, "name": c.name, "uid": c.uid,
                     "labels": _labels(c.labels), "template_labels": _labels(c.template_labels),
                     "selector": selector, "replicas": c.replicas,
                     "owner_kind": c.owner[0] if c.owner else None,
                     "owner_name": c.owner[1] if c.owner else None, "top_kind": c.top[0],
                     "top_name": c.top[1], "created": _ts(c.created), "source": SOURCE})
    return _frame(rows, "workloads")


def cluster_ip(tl: Timeline, svc: Service) -> str:
    """A stable ClusterIP in 172.20.0.0/16 (kube-dns .10, kubernetes .1, like EKS)."""
    fixed = {("default", "kubernetes"): "172.20.0.1", ("kube-system", "kube-dns"): "172.20.0.10"}
    if (svc.namespace, svc.name) in fixed:
        return fixed[(svc.namespace, svc.name)]
    h = int(hashlib.sha256(f"{tl.config.seed}/{svc.namespace}/{svc.name}".encode()).hexdigest(),
            16)
    return f"172.20.{h % 250 + 1}.{(h >> 8) % 250 + 2}"


def services(tl: Timeline, day: int) -> pl.DataFrame:
    """Services existing on ``day`` (ports as written: targetPort number or name)."""
    rows = []
    for s in SERVICES:
        if s.first_day > day:
            continue
        ports = [{"name": p.name, "protocol": p.protocol, "port": p.port, "target_port": p.target,
                  "node_port": p.node_port} for p in s.ports]
        created = (tl.config.t0 - 30 * 86_400 if s.first_day == 1
                   else tl.config.window_seconds(s.first_day)[0] + 1800)
        rows.append({"namespace": s.namespace, "name": s.name,
                     "uid": _uid(tl.config.seed, "svc", s.namespace, s.name), "type": s.type,
                     "cluster_ips": [cluster_ip(tl, s)], "external_ips": [],
                     "ports": ports, "selector": _labels(s.selector) if s.selector else None,
                     "headless": False, "labels": _labels(s.selector or {"component":
                                                                          "apiserver"}),
                     "created": _ts(created), "source": SOURCE})
    return _frame(rows, "services")


def _target_port(s: Service, target: str) -> int:
    if target.isdigit():
        return int(target)
    sel = set(s.selector or ())
    for w in WORKLOADS:
        if w.namespace == s.namespace and sel <= set(w.labels):
            return next(p for n, p, _ in w.ports if n == target)
    raise ValueError(f"{s.namespace}/{s.name}: no container port named {target!r}")


def _backends(tl: Timeline, s: Service, at: int) -> list[Pod]:
    sel = set(s.selector or ())
    return [p for p in tl.pods if p.workload.namespace == s.namespace and sel <= set(p.labels)
            and p.start <= at and (p.end is None or p.end > at) and p.phase == "Running"]


def endpoints(tl: Timeline, day: int) -> pl.DataFrame:
    """EndpointSlice rows at capture time: each ready backend pod IP per service port."""
    _, we = tl.config.window_seconds(day)
    rows = []
    for s in SERVICES:
        if s.first_day > day:
            continue
        slice_name = f"{s.name}-{_uid(tl.config.seed, 'slice', s.namespace, s.name)[:5]}"
        if s.selector is None:
            addrs = [(ip, None, None, None, None) for ip in POOLS["apiserver"][0]]
        else:
            addrs = [(p.ip, p.workload.namespace, p.name, p.uid, tl.nodes[p.node].name)
                     for p in _backends(tl, s, we)]
        for port in s.ports:
            number = _target_port(s, port.target)
            for ip, pns, pname, puid, node in addrs:
                rows.append({"namespace": s.namespace, "service": s.name, "slice": slice_name,
                             "ip": ip, "address_type": "IPv4", "pod_namespace": pns,
                             "pod_name": pname, "pod_uid": puid, "node": node,
                             "port_name": port.name, "port": number,
                             "protocol": port.protocol, "ready": True, "serving": True,
                             "terminating": False, "source": SOURCE})
    return _frame(rows, "endpoints")


def network_policies(tl: Timeline) -> pl.DataFrame:
    """The demo's NetworkPolicies (:mod:`toolkit.demo.policies`), specs as canonical JSON."""
    rows = []
    for ns, name, spec in POLICIES:
        types = spec.get("policyTypes") or ["Ingress"]
        rows.append({"namespace": ns, "name": name, "uid": _uid(tl.config.seed, "np", ns, name),
                     "labels": [], "pod_selector": json.dumps(spec["podSelector"], sort_keys=True,
                                                              separators=(",", ":")),
                     "policy_types": types,
                     "spec": json.dumps(spec, sort_keys=True, separators=(",", ":")),
                     "created": _ts(tl.config.t0 - 20 * 86_400), "source": SOURCE})
    return _frame(rows, "network_policies")
