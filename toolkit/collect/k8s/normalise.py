"""Pure normalisers: one function per Kubernetes kind, object dict -> rows of one table.

The input is the JSON shape of an object (camelCase keys), as ``kubectl get -o json``, the raw
API and ``yaml.safe_load`` of a manifest all give it. Nothing here does I/O; the live and
offline collectors share these functions through :data:`KINDS`, a registry of per-kind
metadata (API path, table, normaliser).

Redaction is by construction: no normaliser reads annotations, container ``env``/``envFrom``,
or any other field than the ones the schema names. Secret objects are never normalised (the
readers skip and count them).

>>> rows = normalise_object({"kind": "Namespace", "metadata": {"name": "shop"}})
>>> rows[0][0], rows[0][1]["labels"]
('namespaces', [{'key': 'kubernetes.io/metadata.name', 'value': 'shop'}])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.collect.k8s.values import (
    ObjectError,
    _ips,
    _is_map,
    _list,
    _map,
    _port,
    canonical_ip,
    canonical_json,
    ip_family,
    labels,
    parse_time,
    synthetic_uid,
)

Row = dict[str, Any]
DEFAULT_NAMESPACE = "default"
#: Kinds that are skipped on purpose (never stored) and counted in the summary.
REDACTED_KINDS = frozenset({"Secret"})
_CONTROLLER_KINDS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
                     "ReplicationController")


def meta(obj: Mapping[str, Any], *, namespaced: bool = True) -> tuple[str, str]:
    """(namespace, name) of an object; namespace defaults to ``default`` like kubectl."""
    md = _map(obj.get("metadata"))
    name = md.get("name")
    if not isinstance(name, str) or not name:
        raise ObjectError("object has no metadata.name", "metadata.name")
    ns = md.get("namespace") if namespaced else ""
    return (ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE) if namespaced else "", name


#: ``owner_kind`` of an ownerReference that names no ``kind`` (some hand-written manifests):
#: :func:`toolkit.collect.k8s.owners.resolve` infers the kind before the tables are finished.
KINDLESS = ""


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true`` (or the only reference when none says so).

    A reference without ``kind`` still counts (its kind is inferred later, see
    :data:`KINDLESS`)."""
    refs = [r for r in _list(_map(obj.get("metadata")).get("ownerReferences"))
            if _is_map(r) and r.get("name")]
    for ref in refs:
        if ref.get("controller"):
            return ref
    return refs[0] if len(refs) == 1 else None


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


def _containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    main = [c for c in _list(pod_spec.get("containers")) if _is_map(c)]
    init = pod_spec.get("initContainers")
    return main + [c for c in init if _is_map(c)] if type(init) is list else main


def pod_template_fields(pod_spec: Mapping[str, Any]) -> Row:
    """Fields of a pod spec the pods table keeps: ports, images, service account, hostNetwork.

    Container ``env`` and ``envFrom`` are never read.
    """
    ports, images = [], []
    for i, container in enumerate(_containers(pod_spec)):
        cname = container.get("name") or f"container-{i}"
        image = container.get("image")
        if image and image not in images:
            images.append(str(image))
        for j, port in enumerate(_list(container.get("ports"))):
            if not _is_map(port):
                continue
            number = _port(port.get("containerPort"), f"spec.containers[{i}].ports[{j}]")
            if number is not None:
                ports.append({"container": str(cname), "name": port.get("name"),
                              "port": number, "protocol": str(port.get("protocol") or "TCP")})
    return {"container_ports": ports, "images": images,
            "service_account": pod_spec.get("serviceAccountName") or pod_spec.get(
                "serviceAccount"),
            "host_network": bool(pod_spec.get("hostNetwork", False)),
            "node": pod_spec.get("nodeName")}


def _pod_ips(status: Mapping[str, Any], host_network: bool) -> list[str]:
    ips = _ips([p.get("ip") for p in _list(status.get("podIPs")) if _is_map(p)])
    if not ips:
        ips = _ips([status.get("podIP")])
    if not ips and host_network:  # a hostNetwork pod holds its node's address(es)
        ips = _ips([p.get("ip") for p in _list(status.get("hostIPs")) if _is_map(p)]
                   or [status.get("hostIP")])
    return ips


def pod(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """Pod -> one pods row per IP (dual stack: two rows; no IP yet: one row with ip null).

    ``valid_from`` is ``status.startTime`` (else ``creationTimestamp``), ``valid_to`` the
    ``deletionTimestamp``. The workload columns hold the direct owner here;
    :func:`toolkit.collect.k8s.owners.resolve` walks the chain to the top.
    """
    ns, name = meta(obj)
    md, spec, status = _map(obj.get("metadata")), _map(obj.get("spec")), _map(obj.get("status"))
    uid, pod_labels = md.get("uid") or None, labels(md.get("labels"))
    created = parse_time(md.get("creationTimestamp"), "metadata.creationTimestamp")
    row = pod_template_fields(spec)  # a fresh dict: the row is built in place (hot path)
    ref = controller_ref(obj)
    owner_kind, owner_name = (str(ref.get("kind") or KINDLESS), str(ref["name"])) if ref else (
        None, None)
    row["valid_from"] = parse_time(status.get("startTime"), "status.startTime") or created
    row["valid_to"] = parse_time(md.get("deletionTimestamp"), "metadata.deletionTimestamp")
    row.update(namespace=ns, name=name, uid=uid or synthetic_uid("Pod", ns, name),
               phase=status.get("phase"), labels=pod_labels, owner_kind=owner_kind,
               owner_name=owner_name, workload_kind="Pod" if owner_kind is None else owner_kind,
               workload_name=owner_name or name, planned=False, source=source)
    ips = _pod_ips(status, row["host_network"])
    if len(ips) <= 1:
        row["ip"] = ips[0] if ips else None
        row["ip_family"] = ip_family(row["ip"])
        return [row]
    return [{**row, "ip": ip, "ip_family": ip_family(ip)} for ip in ips]


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


def _target(ref: Any) -> tuple[str | None, str | None, str | None]:
    ref = _map(ref)
    if ref.get("kind") != "Pod":
        return None, None, None
    return ref.get("namespace"), ref.get("name"), ref.get("uid")


def _address(text: Any, address_type: str | None) -> str | None:
    if address_type == "FQDN":
        return str(text) if text else None
    return canonical_ip(text)


def endpoint_slice_service(obj: Mapping[str, Any]) -> str:
    """The service an EndpointSlice belongs to: its ``kubernetes.io/service-name`` label, else
    its Service owner, else the slice name."""
    svc = _map(_map(obj.get("metadata")).get("labels")).get("kubernetes.io/service-name")
    owner = controller_ref(obj)
    if not svc and owner and owner.get("kind") == "Service":
        svc = owner.get("name")
    return str(svc or meta(obj)[1])


def endpoint_slice(obj: Mapping[str, Any], source: str = "manifest") -> list[Row]:
    """EndpointSlice (discovery.k8s.io v1 or v1beta1) -> one row per (address, port)."""
    ns, name = meta(obj)
    svc = endpoint_slice_service(obj)
    address_type = obj.get("addressType")
    ports = [p for p in _list(obj.get("ports")) if _is_map(p)] or [{}]
    rows: list[Row] = []
    port_values: list[tuple[Any, int | None, Any]] | None = None
    for i, ep in enumerate(_list(obj.get("endpoints"))):
        if not _is_map(ep):
            continue
        cond = _map(ep.get("conditions"))
        pod_ns, pod_name, pod_uid = _target(ep.get("targetRef"))
        node_name = ep.get("nodeName") or _map(ep.get("topology")).get("kubernetes.io/hostname")
        for addr in _list(ep.get("addresses")):
            ip = _address(addr, address_type)
            if ip is None:
                continue
            if port_values is None:  # checked at the first row, as the error field says
                port_values = [(p.get("name") or None,
                                _port(p.get("port"), f"endpoints[{i}].ports"),
                                p.get("protocol") or ("TCP" if p else None)) for p in ports]
            for port_name, number, protocol in port_values:
                rows.append({
                    "namespace": ns, "service": svc, "slice": name, "ip": ip,
                    "address_type": address_type, "pod_namespace": pod_ns, "pod_name": pod_name,
                    "pod_uid": pod_uid, "node": node_name, "port_name": port_name,
                    "port": number, "protocol": protocol,
                    "ready": cond.get("ready"), "serving": cond.get("serving"),
                    "terminating": cond.get("terminating"), "source": source})
    return rows


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
    KindSpec("Pod", "pods", pod, "", "v1", "pods"),
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
             "endpointslices"),
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
