"""Pure normalisers: one function per Kubernetes kind, object dict -> rows of one table.

The input is the JSON shape of an object (camelCase keys), as ``kubectl get -o json``, the raw
API and ``yaml.safe_load`` of a manifest all give it. Nothing here does I/O; the live and
offline collectors share these functions through :data:`KINDS`, a registry of per-kind
metadata (API path, table, normaliser). The high-volume kinds (Pod, EndpointSlice) are
normalised in :mod:`toolkit.collect.k8s.bulk` into tuples in column order, which is what a
Capture buffers; :func:`pod` and :func:`endpoint_slice` are those functions giving dicts.

Redaction is by construction: no normaliser reads annotations, container ``env``/``envFrom``,
or any other field than the ones the schema names. Secret objects are never normalised (the
readers skip and count them).

>>> rows = normalise_object({"kind": "Namespace", "metadata": {"name": "shop"}})
>>> rows[0][0], rows[0][1]["labels"]
('namespaces', [{'key': 'kubernetes.io/metadata.name', 'value': 'shop'}])
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit import schema
from toolkit.collect.k8s.bulk import (
    ENDPOINT_COLUMNS,
    POD_COLUMNS,
    _target,
    endpoint_slice_tuples,
    pod_spec_fields,
    pod_tuples,
)
from toolkit.collect.k8s.bulk import (
    endpoint_slice_service as endpoint_slice_service,
)
from toolkit.collect.k8s.values import (
    DEFAULT_NAMESPACE as DEFAULT_NAMESPACE,
)
from toolkit.collect.k8s.values import (
    KINDLESS,
    _ips,
    _is_map,
    _list,
    _map,
    _port,
    canonical_ip,
    canonical_json,
    controller_ref,
    ip_family,
    labels,
    meta,
    parse_time,
)
from toolkit.collect.k8s.values import (
    ObjectError as ObjectError,
)
from toolkit.collect.k8s.values import (
    synthetic_uid as synthetic_uid,
)

Row = dict[str, Any]
#: Kinds that are skipped on purpose (never stored) and counted in the summary.
REDACTED_KINDS = frozenset({"Secret"})
_CONTROLLER_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                     "ReplicationController")


def _common(obj: Mapping[str, Any], source: str) -> Row:
    md = _map(obj.get("metadata"))
    return {"uid": md.get("uid") or None, "labels": labels(md.get("labels")),
            "created": parse_time(md.get("creationTimestamp"), "metadata.creationTimestamp"),
            "source": source}


# -- normalisers ------------------------------------------------------------------------------

def namespace(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """Namespace -> namespaces row; adds ``kubernetes.io/metadata.name`` like the API does."""
    _, name = meta(obj, namespaced=False)
    row = _common(obj, source)
    keys = {item["key"] for item in row["labels"]}
    if "kubernetes.io/metadata.name" not in keys:
        row["labels"] = sorted([*row["labels"], {"key": "kubernetes.io/metadata.name",
                                                 "value": name}], key=lambda d: d["key"])
    deleted = parse_time(_map(obj.get("metadata")).get("deletionTimestamp"),
                         "metadata.deletionTimestamp")
    return [{"name": name, **row, "deleted": deleted}]


def node(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """Node -> nodes row (addresses, pod CIDRs, zone/region from topology labels)."""
    _, name = meta(obj, namespaced=False)
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    addresses = [a for a in _list(status.get("addresses")) if _is_map(a)]
    node_labels = _map(_map(obj.get("metadata")).get("labels"))
    cidrs = [str(c) for c in _list(spec.get("podCIDRs"))] or (
        [str(spec["podCIDR"])] if spec.get("podCIDR") else [])
    return [{
        "name": name, **_common(obj, source),
        "internal_ips": _ips([a.get("address") for a in addresses
                              if a.get("type") == "InternalIP"]),
        "external_ips": _ips([a.get("address") for a in addresses
                              if a.get("type") == "ExternalIP"]),
        "pod_cidrs": cidrs, "provider_id": spec.get("providerID"),
        "zone": node_labels.get("topology.kubernetes.io/zone")
        or node_labels.get("failure-domain.beta.kubernetes.io/zone"),
        "region": node_labels.get("topology.kubernetes.io/region")
        or node_labels.get("failure-domain.beta.kubernetes.io/region"),
        "deleted": None,
    }]


def pod_template_fields(pod_spec: Mapping[str, Any]) -> Row:
    """Fields of a pod spec the pods table keeps: ports, images, service account, hostNetwork.

    Container ``env`` and ``envFrom`` are never read.
    """
    return dict(zip(("container_ports", "images", "service_account", "host_network", "node"),
                    pod_spec_fields(pod_spec), strict=True))


def pod(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """Pod -> one pods row per IP, as dicts (see :func:`toolkit.collect.k8s.bulk.pod_tuples`)."""
    return [dict(zip(POD_COLUMNS, row, strict=True)) for row in pod_tuples(obj, source)]


def _template(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any]:
    spec = _map(obj.get("spec"))
    if kind == "CronJob":
        spec = _map(_map(spec.get("jobTemplate")).get("spec"))
    return _map(spec.get("template"))


def template_fields(obj: Mapping[str, Any]) -> Row:
    """Pod-table fields of a controller's pod template (for planned pods)."""
    return pod_template_fields(_map(_template(obj, str(obj.get("kind"))).get("spec")))


def _replicas(obj: Mapping[str, Any], kind: str) -> int | None:
    spec = _map(obj.get("spec"))
    if kind in ("DaemonSet", "CronJob"):
        return None
    key = "parallelism" if kind == "Job" else "replicas"
    value = spec.get(key, 1)  # the API defaults replicas/parallelism to 1
    return None if value is None else _port(value, f"spec.{key}")


def workload(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """A controller object (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob,
    ReplicationController) -> one workloads row; top_* is filled by owner resolution."""
    ns, name = meta(obj)
    kind = str(obj.get("kind"))
    ref = controller_ref(obj)
    template_md = _map(_template(obj, kind).get("metadata"))
    spec = _map(obj.get("spec"))
    if kind == "CronJob":
        spec = _map(_map(spec.get("jobTemplate")).get("spec"))
    selector = spec.get("selector")
    return [{
        "namespace": ns, "kind": kind, "name": name, **_common(obj, source),
        "template_labels": labels(template_md.get("labels")),
        "selector": canonical_json(selector) if selector is not None else None,
        "replicas": _replicas(obj, kind),
        "owner_kind": str(ref.get("kind") or KINDLESS) if ref else None,
        "owner_name": str(ref["name"]) if ref else None,
        "top_kind": kind, "top_name": name,
        "deleted": parse_time(_map(obj.get("metadata")).get("deletionTimestamp"),
                              "metadata.deletionTimestamp"),
    }]


def service(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """Service -> services row (cluster IPs, external/LB IPs, ports, selector)."""
    ns, name = meta(obj)
    spec, status = _map(obj.get("spec")), _map(obj.get("status"))
    cluster_ip = spec.get("clusterIP")
    cluster_ips = _ips(_list(spec.get("clusterIPs")) or [cluster_ip])
    ingress = [i for i in _list(_map(status.get("loadBalancer")).get("ingress"))
               if _is_map(i)]
    ports = []
    for i, port in enumerate(_list(spec.get("ports"))):
        if not _is_map(port):
            continue
        number = _port(port.get("port"), f"spec.ports[{i}].port")
        target = port.get("targetPort", number)
        ports.append({"name": port.get("name"), "protocol": str(port.get("protocol") or "TCP"),
                      "port": number, "target_port": None if target is None else str(target),
                      "node_port": _port(port.get("nodePort"), f"spec.ports[{i}].nodePort")})
    selector = _map(spec.get("selector"))
    return [{
        "namespace": ns, "name": name, **_common(obj, source),
        "type": str(spec.get("type") or "ClusterIP"), "cluster_ips": cluster_ips,
        "external_ips": _ips(_list(spec.get("externalIPs")) + [i.get("ip") for i in ingress]),
        "ports": ports, "selector": labels(selector) if selector else None,
        "headless": cluster_ip == "None", "external_name": spec.get("externalName"),
        "deleted": parse_time(_map(obj.get("metadata")).get("deletionTimestamp"),
                              "metadata.deletionTimestamp"),
    }]


def endpoint_slice(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """EndpointSlice -> one row per (address, port), as dicts (see
    :func:`toolkit.collect.k8s.bulk.endpoint_slice_tuples`)."""
    rows = endpoint_slice_tuples(obj, source)
    return [dict(zip(ENDPOINT_COLUMNS, row, strict=True)) for row in rows]


def endpoints(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """Legacy core/v1 Endpoints -> rows like EndpointSlice's (kept only for services that have
    no EndpointSlice; the collectors drop the rest)."""
    ns, name = meta(obj)
    rows = []
    for i, subset in enumerate(_list(obj.get("subsets"))):
        subset = _map(subset)
        ports = [p for p in _list(subset.get("ports")) if _is_map(p)] or [{}]
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for addr in _list(subset.get(key)):
                addr = _map(addr)
                ip = canonical_ip(addr.get("ip"))
                if ip is None:
                    continue
                pod_ns, pod_name, pod_uid = _target(addr.get("targetRef"))
                for port in ports:
                    rows.append({
                        "namespace": ns, "service": name, "slice": name, "ip": ip,
                        "address_type": ip_family(ip), "pod_namespace": pod_ns,
                        "pod_name": pod_name, "pod_uid": pod_uid, "node": addr.get("nodeName"),
                        "port_name": port.get("name") or None,
                        "port": _port(port.get("port"), f"subsets[{i}].ports"),
                        "protocol": port.get("protocol") or ("TCP" if port else None),
                        "ready": ready, "serving": ready, "terminating": None,
                        "source": source})
    return rows


def network_policy(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """NetworkPolicy -> row with the whole spec as canonical JSON and defaulted policyTypes
    (always Ingress; Egress too when the spec has egress rules), exactly as the API defaults."""
    ns, name = meta(obj)
    spec = _map(obj.get("spec"))
    types = [str(t) for t in _list(spec.get("policyTypes"))]
    if not types:
        types = ["Ingress"] + (["Egress"] if _list(spec.get("egress")) else [])
    common = _common(obj, source)
    return [{"namespace": ns, "name": name, "uid": common["uid"], "labels": common["labels"],
             "pod_selector": canonical_json(spec.get("podSelector") or {}),
             "policy_types": types, "spec": canonical_json(dict(spec)),
             "created": common["created"], "source": source}]


# -- registry ---------------------------------------------------------------------------------

@functools.cache
def _column_names(table: str) -> tuple[str, ...]:
    return tuple(schema.table(table).names)


@dataclass(frozen=True)
class KindSpec:
    """Declarative metadata of one kind: where the API serves it and how to normalise it."""

    kind: str
    table: str
    normalise: Callable[..., list[Row]]
    group: str  # "" for the core API
    version: str
    plural: str
    namespaced: bool = True
    live: bool = True  # the live collector lists it
    #: The same normaliser giving tuples in the table's column order (high-volume kinds).
    normalise_tuples: Callable[..., list[tuple]] | None = None

    def tuples(self, obj: Mapping[str, Any], source: str = "manifest") -> list[tuple]:
        """Rows of ``obj`` as tuples in its table's column order (what a Capture buffers)."""
        if self.normalise_tuples is not None:
            return self.normalise_tuples(obj, source)
        names = _column_names(self.table)
        return [tuple([row.get(c) for c in names]) for row in self.normalise(obj, source)]

    @property
    def api_prefix(self) -> str:
        return f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"

    def list_path(self, namespace: str | None = None) -> str:
        """The collection URL, cluster-wide or in one namespace."""
        if namespace and self.namespaced:
            return f"{self.api_prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.api_prefix}/{self.plural}"


KINDS: dict[str, KindSpec] = {s.kind: s for s in (
    KindSpec("Namespace", "namespaces", namespace, "", "v1", "namespaces", namespaced=False),
    KindSpec("Node", "nodes", node, "", "v1", "nodes", namespaced=False),
    KindSpec("Pod", "pods", pod, "", "v1", "pods", normalise_tuples=pod_tuples),
    KindSpec("Deployment", "workloads", workload, "apps", "v1", "deployments"),
    KindSpec("ReplicaSet", "workloads", workload, "apps", "v1", "replicasets"),
    KindSpec("StatefulSet", "workloads", workload, "apps", "v1", "statefulsets"),
    KindSpec("DaemonSet", "workloads", workload, "apps", "v1", "daemonsets"),
    KindSpec("Job", "workloads", workload, "batch", "v1", "jobs"),
    KindSpec("CronJob", "workloads", workload, "batch", "v1", "cronjobs"),
    KindSpec("ReplicationController", "workloads", workload, "", "v1", "replicationcontrollers",
             live=False),
    KindSpec("Service", "services", service, "", "v1", "services"),
    KindSpec("EndpointSlice", "endpoints", endpoint_slice, "discovery.k8s.io", "v1",
             "endpointslices", normalise_tuples=endpoint_slice_tuples),
    KindSpec("Endpoints", "endpoints", endpoints, "", "v1", "endpoints"),
    KindSpec("NetworkPolicy", "network_policies", network_policy, "networking.k8s.io", "v1",
             "networkpolicies"),
)}

CONTROLLER_KINDS = frozenset(_CONTROLLER_KINDS)


def normalise_object(obj: Mapping[str, Any], source: str = "manifest"
                     ) -> list[tuple[str, Row]]:
    """(table, row) pairs for one object; empty for unknown or redacted kinds."""
    spec = KINDS.get(str(obj.get("kind")))
    if spec is None:
        return []
    return [(spec.table, row) for row in spec.normalise(obj, source)]
