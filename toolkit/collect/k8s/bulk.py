"""Normalisers of the high-volume kinds (Pod, EndpointSlice) as row tuples.

A cluster has ten or more pods and endpoint rows for every other object, so these two kinds
produce rows as tuples in their table's column order (:data:`POD_COLUMNS`,
:data:`ENDPOINT_COLUMNS`): no per-row dict, and a page of rows turns into columns with one
``zip(*rows)``. :func:`toolkit.collect.k8s.normalise.pod` and ``endpoint_slice`` are these same
functions with each tuple zipped into a dict, so the live collector, the offline importer and
the watch share one normaliser per kind.

>>> rows = pod_tuples({"kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
...                    "status": {"podIP": "10.0.0.7"}})
>>> dict(zip(POD_COLUMNS, rows[0]))["ip"], len(rows[0]) == len(POD_COLUMNS)
('10.0.0.7', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolkit import schema
from toolkit.collect.k8s.values import (
    _CANONICAL_V4,
    _TIMES,
    KINDLESS,
    _ips,
    _is_map,
    _list,
    _map,
    _port,
    canonical_ip,
    controller_ref,
    ip_family,
    labels,
    meta,
    parse_time,
    synthetic_uid,
)

#: Column order of :func:`pod_tuples` rows (the pods table's).
POD_COLUMNS = ("namespace", "name", "uid", "ip", "ip_family", "node", "host_network", "phase",
               "labels", "service_account", "owner_kind", "owner_name", "workload_kind",
               "workload_name", "container_ports", "images", "valid_from", "valid_to",
               "planned", "source")
#: Column order of :func:`endpoint_slice_tuples` rows (the endpoints table's).
ENDPOINT_COLUMNS = ("namespace", "service", "slice", "ip", "address_type", "pod_namespace",
                    "pod_name", "pod_uid", "node", "port_name", "port", "protocol", "ready",
                    "serving", "terminating", "source")
assert list(POD_COLUMNS) == schema.PODS.names, "pods column order changed in the schema"
assert list(ENDPOINT_COLUMNS) == schema.ENDPOINTS.names, "endpoints column order changed"

PodSpecFields = tuple[list[dict[str, Any]], list[str], Any, bool, Any]


def _time(value: Any, field: str) -> Any:
    """:func:`parse_time` with its cache looked up first (pods share their timestamps)."""
    if type(value) is str and (cached := _TIMES.get(value)) is not None:
        return cached
    return parse_time(value, field)


def _containers(pod_spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    main, init = pod_spec.get("containers"), pod_spec.get("initContainers")
    if type(main) is list and not init and all(type(c) is dict for c in main):
        return main  # the usual pod: plain containers, no init containers (hot path)
    main = [c for c in _list(main) if _is_map(c)]
    return main + [c for c in init if _is_map(c)] if type(init) is list else main


def pod_spec_fields(pod_spec: Mapping[str, Any]) -> PodSpecFields:
    """(container_ports, images, service_account, host_network, node) of a pod spec.

    Container ``env`` and ``envFrom`` are never read.
    """
    ports: list[dict[str, Any]] = []
    images: list[str] = []
    for i, container in enumerate(_containers(pod_spec)):
        cname = container.get("name") or f"container-{i}"
        image = container.get("image")
        if image and image not in images:
            images.append(str(image))
        listed = container.get("ports")
        if type(listed) is not list:
            continue
        for j, port in enumerate(listed):
            if type(port) is not dict and not _is_map(port):
                continue
            number = port.get("containerPort")
            if type(number) is not int or not 0 <= number <= 65535:  # else: already valid
                number = _port(number, f"spec.containers[{i}].ports[{j}]")
            if number is not None:
                protocol = port.get("protocol")
                ports.append({"container": cname if type(cname) is str else str(cname),
                              "name": port.get("name"), "port": number,
                              "protocol": protocol if type(protocol) is str and protocol
                              else str(protocol or "TCP")})
    return (ports, images,
            pod_spec.get("serviceAccountName") or pod_spec.get("serviceAccount"),
            bool(pod_spec.get("hostNetwork", False)), pod_spec.get("nodeName"))


def _pod_ips(status: Mapping[str, Any], host_network: bool) -> list[str]:
    listed = status.get("podIPs")
    if type(listed) is list and len(listed) == 1 and type(first := listed[0]) is dict and (
            type(ip := first.get("ip")) is str and _CANONICAL_V4.fullmatch(ip)):
        return [ip]  # the usual single-stack pod, already canonical (hot path)
    ips = _ips([p.get("ip") for p in _list(listed) if _is_map(p)])
    if not ips:
        ips = _ips([status.get("podIP")])
    if not ips and host_network:  # a hostNetwork pod holds its node's address(es)
        ips = _ips([p.get("ip") for p in _list(status.get("hostIPs")) if _is_map(p)]
                   or [status.get("hostIP")])
    return ips


def pod_tuples(obj: Mapping[str, Any], source: str = "manifest") -> list[tuple]:
    """Pod -> one pods row per IP (dual stack: two rows; no IP yet: one row with ip null).

    ``valid_from`` is ``status.startTime`` (else ``creationTimestamp``), ``valid_to`` the
    ``deletionTimestamp``. The workload columns hold the direct owner here;
    :func:`toolkit.collect.k8s.owners.resolve` walks the chain to the top.
    """
    md, spec, status = _map(obj.get("metadata")), _map(obj.get("spec")), _map(obj.get("status"))
    name, ns = md.get("name"), md.get("namespace")
    if type(name) is not str or not name or type(ns) is not str or not ns:
        ns, name = meta(obj)  # the checks and defaults, for the unusual cases
    uid, pod_labels = md.get("uid") or None, labels(md.get("labels"))
    created = _time(md.get("creationTimestamp"), "metadata.creationTimestamp")
    ports, images, account, host_network, node_name = pod_spec_fields(spec)
    refs = md.get("ownerReferences")
    if type(refs) is list and len(refs) == 1 and type(refs[0]) is dict and refs[0].get("name"):
        ref = refs[0]  # the only reference is the controller (hot path of controller_ref)
    else:
        ref = controller_ref(obj) if refs else None
    if ref:
        owner_kind, owner_name = str(ref.get("kind") or KINDLESS), str(ref["name"])
        workload_kind, workload_name = owner_kind, owner_name or name
    else:
        owner_kind = owner_name = None
        workload_kind, workload_name = "Pod", name
    valid_from = _time(status.get("startTime"), "status.startTime") or created
    valid_to = _time(md.get("deletionTimestamp"), "metadata.deletionTimestamp")
    uid = uid or synthetic_uid("Pod", ns, name)
    phase = status.get("phase")
    ips = _pod_ips(status, host_network)
    return [(ns, name, uid, ip, ip_family(ip), node_name, host_network, phase, pod_labels,
             account, owner_kind, owner_name, workload_kind, workload_name, ports, images,
             valid_from, valid_to, False, source) for ip in (ips or [None])]


def _target(ref: Any) -> tuple[str | None, str | None, str | None]:
    ref = _map(ref)
    if ref.get("kind") != "Pod":
        return None, None, None
    return ref.get("namespace"), ref.get("name"), ref.get("uid")


def endpoint_slice_service(obj: Mapping[str, Any]) -> str:
    """The service an EndpointSlice belongs to: its ``kubernetes.io/service-name`` label, else
    its Service owner, else the slice name."""
    svc = _map(_map(obj.get("metadata")).get("labels")).get("kubernetes.io/service-name")
    owner = controller_ref(obj)
    if not svc and owner and owner.get("kind") == "Service":
        svc = owner.get("name")
    return str(svc or meta(obj)[1])


def endpoint_slice_tuples(obj: Mapping[str, Any], source: str = "manifest") -> list[tuple]:
    """EndpointSlice (discovery.k8s.io v1 or v1beta1) -> one row per (address, port)."""
    ns, name = meta(obj)
    svc = endpoint_slice_service(obj)
    address_type = obj.get("addressType")
    fqdn = address_type == "FQDN"
    ports = [p for p in _list(obj.get("ports")) if _is_map(p)] or [{}]
    rows: list[tuple] = []
    port_values: list[tuple[Any, int | None, Any]] | None = None
    for i, ep in enumerate(_list(obj.get("endpoints"))):
        if not _is_map(ep):
            continue
        cond = _map(ep.get("conditions"))
        head = (ns, svc, name)
        target = _target(ep.get("targetRef"))
        node_name = ep.get("nodeName") or _map(ep.get("topology")).get("kubernetes.io/hostname")
        tail = (cond.get("ready"), cond.get("serving"), cond.get("terminating"), source)
        for addr in _list(ep.get("addresses")):
            ip = (str(addr) if addr else None) if fqdn else canonical_ip(addr)
            if ip is None:
                continue
            if port_values is None:  # checked at the first row, as the error field says
                port_values = [(p.get("name") or None,
                                _port(p.get("port"), f"endpoints[{i}].ports"),
                                p.get("protocol") or ("TCP" if p else None)) for p in ports]
            for port in port_values:
                rows.append((*head, ip, address_type, *target, node_name, *port, *tail))
    return rows
