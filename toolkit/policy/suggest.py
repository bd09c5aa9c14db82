"""Least-privilege NetworkPolicy synthesis from observed client->server traffic.

:func:`suggest_policies` writes, per namespace, one policy per destination segment (or per
workload when a segment has no exact stable selector) that isolates the selected pods in
both directions and allows exactly the observed traffic: ingress from the observed client
segments and egress to the observed server segments, on the observed ports and protocols.
External peers become ipBlock CIDRs aggregated by :mod:`toolkit.policy.cidr`; cluster DNS is
reached by the DNS pods' real labels; selectors use stable labels only
(:mod:`toolkit.policy.labels`). See ``docs/suggest.md`` for every rule.

>>> import tempfile, toolkit as kt
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
>>> result = kt.policy.suggest_policies(snap, segments="workload")
>>> written = result.write(tempfile.mkdtemp())
>>> any(p.suffix == ".yaml" for p in written)
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from toolkit.core.boundaries import EDGE_KEYS, EDGE_SCHEMA, snapshot_edges
from toolkit.errors import KsegError
from toolkit.policy import cidr as cidrlib
from toolkit.policy.labels import (
    PodIndex,
    Selector,
    Workload,
    build_index,
    find_selector,
    selector_json,
)
from toolkit.policy.suggest_output import Finding, SuggestResult

PROTOCOL_NAMES = {6: "TCP", 17: "UDP", 132: "SCTP"}
SYSTEM_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})
NS_LABEL = "kubernetes.io/metadata.name"
DNS_LABELS = (("k8s-app", "kube-dns"), ("k8s-app", "coredns"),
              ("app.kubernetes.io/name", "coredns"))
DEFAULT_DNS = ("kube-system", {"k8s-app": "kube-dns"})
MANAGED_BY = {"app.kubernetes.io/managed-by": "kseg"}

@dataclass(frozen=True)
class PeerSpec:
    """A peer in cluster terms: pods matching ``selector`` in ``namespaces``.

    ``selector=None`` means every pod of the namespaces (a namespace-only peer).
    """

    namespaces: tuple[str, ...]
    selector: tuple[tuple[str, str | tuple[str, ...]], ...] | None

    def to_peer(self, policy_namespace: str) -> dict[str, Any]:
        pod = selector_json(dict(self.selector or ()))
        if self.namespaces == (policy_namespace,) and self.selector is not None:
            return {"podSelector": pod}
        if len(self.namespaces) == 1:
            ns_sel: dict[str, Any] = {"matchLabels": {NS_LABEL: self.namespaces[0]}}
        else:
            ns_sel = {"matchExpressions": [{"key": NS_LABEL, "operator": "In",
                                            "values": list(self.namespaces)}]}
        peer: dict[str, Any] = {"namespaceSelector": ns_sel}
        if self.selector:
            peer["podSelector"] = pod
        return peer


@dataclass
class Subject:
    """One policy to write: the pods it selects and its rules, keyed by peer."""

    namespace: str
    name: str
    selector: Selector
    workloads: tuple[Workload, ...]
    ingress: dict[Any, set[tuple[int, int]]] = field(default_factory=dict)
    egress: dict[Any, set[tuple[int, int]]] = field(default_factory=dict)


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out[:55].strip("-") or "x"


def _membership(snap: Any, idx: PodIndex, segments: str | pl.DataFrame) -> dict[Workload, str]:
    """Workload -> segment name for the strategy (``workload`` is built in)."""
    workloads = sorted(idx.stable)
    if isinstance(segments, str) and segments == "workload":
        return {wl: f"{wl[0]}/{wl[2]}" for wl in workloads}
    if isinstance(segments, str):
        from toolkit.core.segments import segment_membership
        frame = segment_membership(snap, strategy=segments)
    else:
        frame = segments
    need = {"namespace", "workload_kind", "workload", "segment"}
    if not need <= set(frame.columns):
        raise KsegError(f"segment membership needs columns {sorted(need)}, got {frame.columns}")
    out = {(r["namespace"], r["workload_kind"], r["workload"]): str(r["segment"])
           for r in frame.iter_rows(named=True) if r["segment"] is not None}
    for wl in workloads:  # workloads the strategy leaves out stand alone
        out.setdefault(wl, f"{wl[0]}/{wl[2]}")
    return out


class _Planner:
    """Decides subjects (policy selectors) and peers, and records label findings."""

    def __init__(self, idx: PodIndex, membership: dict[Workload, str], namespace_mode: bool,
                 node_ips: list[str] = ()):
        self.idx = idx
        self.node_blocks = [("ipblock", b) for b in cidrlib.aggregate(
            node_ips, min_prefix_v4=32, min_prefix_v6=128)]
        self.membership = membership
        self.namespace_mode = namespace_mode
        self.findings: list[Finding] = []
        self._peers: dict[Workload, PeerSpec] = {}
        self._segment_peer: dict[str, PeerSpec | None] = {}
        self._warned: set[tuple[Workload, str]] = set()

    def _note(self, wl: Workload, issue: str, selector: Selector | None,
              unintended: Iterable[str] = (), detail: str = "") -> None:
        if (wl, issue) in self._warned:
            return
        self._warned.add((wl, issue))
        self.findings.append(Finding(wl, issue, dict(selector or {}), sorted(unintended), detail))

    def _unintended(self, pods: set[str]) -> list[str]:
        return sorted({"/".join((w[0], w[2])) for w in map(self.idx.workload_of, pods)})

    def workload_selector(self, wl: Workload) -> Selector | None:
        selector, extra = find_selector(self.idx, [wl])
        if selector is None:
            per_run = self.idx.per_run.get(wl, [])
            detail = ("only per-run labels: " + ", ".join(per_run)) if per_run else "no labels"
            self._note(wl, "no-stable-labels", None, (), detail)
        elif extra:
            self._note(wl, "selector-overmatch", selector, self._unintended(extra),
                       "no stable label set selects only this workload's pods")
        return selector

    def segment_peer(self, segment: str, members: list[Workload]) -> PeerSpec | None:
        """One peer for a whole segment when an exact stable selector exists."""
        if segment not in self._segment_peer:
            spec = None
            if len(members) > 1 or self.namespace_mode:
                sel, extra = find_selector(self.idx, members, allow_empty=self.namespace_mode)
                if sel is not None and not extra:
                    spec = PeerSpec(tuple(sorted({m[0] for m in members})),
                                    tuple(sorted(sel.items())))
            self._segment_peer[segment] = spec
        return self._segment_peer[segment]

    def peer(self, wl: Workload, members: list[Workload]) -> PeerSpec:
        """The peer that stands for workload ``wl`` (its whole segment when possible)."""
        spec = self.segment_peer(self.membership[wl], members)
        if spec is not None:
            return spec
        if wl not in self._peers:
            sel = self.workload_selector(wl)
            if sel is None:
                self._note(wl, "peer-fallback-namespace", None, (),
                           "rules name this workload by its whole namespace")
                self._peers[wl] = PeerSpec((wl[0],), None)
            else:
                self._peers[wl] = PeerSpec((wl[0],), tuple(sorted(sel.items())))
        return self._peers[wl]

    def peers(self, wl: Workload, members: list[Workload]) -> list[Any]:
        """Peer keys for ``wl``: its selector peer, plus every node address when it runs on
        the host network (CNIs see such pods as their node's IP)."""
        keys: list[Any] = [self.peer(wl, members)]
        return keys + self.node_blocks if wl in self.idx.host_network else keys

    def subjects(self, namespace: str, segment: str, members: list[Workload]) -> list[Subject]:
        """Policies for the segment's workloads in ``namespace`` (one, or one per workload)."""
        local = [m for m in members if m[0] == namespace and m not in self.idx.host_network]
        if not local:
            return []
        sel, extra = find_selector(self.idx, local, allow_empty=self.namespace_mode)
        if sel is not None and not extra and (len(local) > 1 or self.namespace_mode):
            name = "kseg-namespace" if self.namespace_mode else f"kseg-seg-{_slug(segment)}"
            return [Subject(namespace, name, sel, tuple(local))]
        out = []
        for wl in local:
            wsel = self.workload_selector(wl)
            if wsel is not None:
                out.append(Subject(namespace, f"kseg-{_slug(wl[2])}", wsel, (wl,)))
        return out


ALL_NAMESPACES = ("all-namespaces",)
Ports = set[tuple[int, int]]


def _render_peer(key: Any, namespace: str) -> dict[str, Any]:
    if isinstance(key, PeerSpec):
        return key.to_peer(namespace)
    if key == ALL_NAMESPACES:
        return {"namespaceSelector": {}}
    _, block = key
    return cidrlib.ip_block(block)


def _render_rules(rules: dict[Any, Ports], namespace: str, peer_field: str) -> list[dict]:
    """Group peers that share the same port set into one rule; deterministic order."""
    by_ports: dict[frozenset[tuple[int, int]], list[dict]] = {}
    for key, ports in rules.items():
        by_ports.setdefault(frozenset(ports), []).append(_render_peer(key, namespace))
    out = []
    for ports, peers in by_ports.items():
        port_list = [{"protocol": PROTOCOL_NAMES[p], "port": n}
                     for p, n in sorted(ports, key=lambda pn: (PROTOCOL_NAMES[pn[0]], pn[1]))]
        peers = sorted(peers, key=lambda p: _json_key(p))
        out.append({peer_field: peers, "ports": port_list})
    return sorted(out, key=_json_key)


def _json_key(value: Any) -> str:
    import json
    return json.dumps(value, sort_keys=True)


def render_policy(subject: Subject) -> dict[str, Any]:
    """The NetworkPolicy object (a plain dict) for one subject."""
    spec: dict[str, Any] = {"podSelector": selector_json(subject.selector),
                            "policyTypes": ["Ingress", "Egress"]}
    ingress = _render_rules(subject.ingress, subject.namespace, "from")
    egress = _render_rules(subject.egress, subject.namespace, "to")
    if ingress:
        spec["ingress"] = ingress
    if egress:
        spec["egress"] = egress
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": subject.name, "namespace": subject.namespace,
                         "labels": dict(MANAGED_BY)},
            "spec": spec}


def _address_rules(rows: pl.DataFrame, ip_col: str, kind_col: str, opts: Mapping[str, Any],
                   node_ips: list[str]) -> dict[Any, Ports]:
    """ipBlock peers for one subject's address endpoints, aggregated per (protocol, port).

    Node addresses are never merged: traffic from (or to) one node is allowed from every node
    of the inventory, each a /32, since pods move between nodes (kubelet probes); other
    addresses follow :func:`toolkit.policy.cidr.aggregate` with ``opts``.
    """
    out: dict[Any, Ports] = {}
    exact = {**opts, "min_prefix_v4": 32, "min_prefix_v6": 128}
    for (proto, port, is_node), group in rows.group_by(
            ["protocol", "dst_port", pl.col(kind_col) == "node"], maintain_order=True):
        addrs = group.get_column(ip_col).unique().to_list()
        if is_node:
            addrs = sorted(set(addrs) | set(node_ips))
        for block in cidrlib.aggregate(addrs, **(exact if is_node else opts)):
            out.setdefault(("ipblock", block), set()).add((proto, port))
    return out


def _expressible(edges: pl.DataFrame) -> pl.Expr:
    return pl.col("protocol").is_in(list(PROTOCOL_NAMES)) & pl.col("dst_port").is_not_null()


@dataclass
class _Plan:
    subjects: list[Subject]
    by_workload: dict[Workload, list[Subject]]
    members: dict[str, list[Workload]]


def _plan_subjects(planner: _Planner, membership: dict[Workload, str],
                   include_system: bool) -> _Plan:
    members: dict[str, list[Workload]] = {}
    for wl, seg in sorted(membership.items()):
        members.setdefault(seg, []).append(wl)
    subjects: list[Subject] = []
    for seg, wls in members.items():
        for ns in sorted({w[0] for w in wls}):
            if include_system or ns not in SYSTEM_NAMESPACES:
                subjects += planner.subjects(ns, seg, wls)
    seen: set[tuple[str, str]] = set()
    for subj in sorted(subjects, key=lambda s: (s.namespace, s.name, s.workloads)):
        if (subj.namespace, subj.name) in seen:  # same name, another kind
            subj.name = f"{subj.name}-{_slug(subj.workloads[0][1])}"
        seen.add((subj.namespace, subj.name))
    by_wl: dict[Workload, list[Subject]] = {}
    for subj in subjects:
        for wl in subj.workloads:
            by_wl.setdefault(wl, []).append(subj)
    return _Plan(subjects, by_wl, members)


def _wl(row: Mapping[str, Any], side: str) -> Workload:
    return (row[f"{side}_namespace"], row[f"{side}_workload_kind"], row[f"{side}_workload"])


def _pod_rules(edges: pl.DataFrame, plan: _Plan, planner: _Planner) -> None:
    pods = edges.filter((pl.col("src_kind") == "pod") & (pl.col("dst_kind") == "pod")
                        & _expressible(edges))
    for row in pods.unique(subset=EDGE_KEYS, maintain_order=True).iter_rows(named=True):
        src, dst, port = _wl(row, "src"), _wl(row, "dst"), (row["protocol"], row["dst_port"])
        if src not in planner.membership or dst not in planner.membership:
            continue
        for subj in plan.by_workload.get(dst, []):
            for peer in planner.peers(src, plan.members[planner.membership[src]]):
                subj.ingress.setdefault(peer, set()).add(port)
        for subj in plan.by_workload.get(src, []):
            for peer in planner.peers(dst, plan.members[planner.membership[dst]]):
                subj.egress.setdefault(peer, set()).add(port)


def _ext_rules(edges: pl.DataFrame, plan: _Plan, opts: Mapping[str, Any],
               node_ips: list[str]) -> None:
    usable = edges.filter(_expressible(edges))
    for direction, pod, other in (("ingress", "dst", "src"), ("egress", "src", "dst")):
        rows = usable.filter((pl.col(f"{pod}_kind") == "pod") & (pl.col(f"{other}_kind") != "pod")
                             & pl.col(f"{other}_ip").is_not_null())
        for key, group in rows.group_by([f"{pod}_namespace", f"{pod}_workload_kind",
                                         f"{pod}_workload"], maintain_order=True):
            for subj in plan.by_workload.get(tuple(key), []):
                target = subj.ingress if direction == "ingress" else subj.egress
                rules = _address_rules(group, f"{other}_ip", f"{other}_kind", opts,
                                       node_ips)
                for peer, ports in rules.items():
                    target.setdefault(peer, set()).update(ports)


def _node_ips(snap: Any) -> list[str]:
    """Internal addresses of the inventory's nodes."""
    frame = snap.nodes.select(pl.col("internal_ips").explode().drop_nulls().unique()).collect()
    return sorted(frame.to_series().to_list())


def _dns_servers(idx: PodIndex, edges: pl.DataFrame) -> tuple[list[Workload], set[int]]:
    """Cluster DNS workloads (by their labels, or serving port 53) and their DNS port numbers."""
    by_label = {wl for wl, labels in idx.stable.items()
                if any(labels.get(k) == v for k, v in DNS_LABELS)}
    served = edges.filter((pl.col("dst_kind") == "pod") & pl.col("dst_port").is_in([53, 5353])
                          & pl.col("protocol").is_in([6, 17]))
    by_port = {_wl(r, "dst") for r in served.iter_rows(named=True)}
    servers = sorted(w for w in by_label | by_port if w in idx.stable)
    ports = {r["dst_port"] for r in served.iter_rows(named=True) if _wl(r, "dst") in servers}
    return servers, ports or {53}


def _dns_rules(idx: PodIndex, edges: pl.DataFrame, plan: _Plan, planner: _Planner
               ) -> str:
    """Egress to the cluster DNS (UDP and TCP) for every subject; returns a note."""
    servers, numbers = _dns_servers(idx, edges)
    ports = {(proto, n) for n in numbers for proto in (17, 6)}
    if servers:
        peers = {p for w in servers for p in planner.peers(w, plan.members[planner.membership[w]])}
        note = "DNS: " + ", ".join(f"{w[0]}/{w[2]}" for w in servers)
    else:
        ns, labels = DEFAULT_DNS
        peers = {PeerSpec((ns,), tuple(sorted(labels.items())))}
        note = ("DNS pods are not in the inventory: assumed k8s-app=kube-dns in kube-system")
    dns_set = set(servers)
    for subj in plan.subjects:
        if dns_set & set(subj.workloads):
            subj.ingress.setdefault(ALL_NAMESPACES, set()).update(ports)
        for peer in peers:
            subj.egress.setdefault(peer, set()).update(ports)
    return note + f" on UDP+TCP {', '.join(map(str, sorted(numbers)))}"


def _coverage(edges: pl.DataFrame, plan: _Plan) -> dict[str, Any]:
    subject_wl = {f"{w[0]}/{w[1]}/{w[2]}" for w in plan.by_workload}
    key = {side: pl.concat_str([pl.col(f"{side}_namespace"), pl.col(f"{side}_workload_kind"),
                                pl.col(f"{side}_workload")], separator="/")
           for side in ("src", "dst")}
    flags = edges.with_columns(
        enforced=key["src"].is_in(list(subject_wl)).fill_null(False)
        | key["dst"].is_in(list(subject_wl)).fill_null(False),
        expressible=_expressible(edges))
    stats = flags.select(edges=pl.len(), flows=pl.col("flows").sum(),
                         unexpressible_edges=(~pl.col("expressible")).sum(),
                         unexpressible_flows=pl.col("flows").filter(~pl.col("expressible")).sum(),
                         unenforced_edges=(~pl.col("enforced")).sum())
    return stats.row(0, named=True)


def _checked_edges(edges: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in EDGE_SCHEMA if c not in edges.columns]
    if missing:
        raise KsegError(f"edge table lacks columns {missing}",
                        hint="see toolkit.core.boundaries.EDGE_SCHEMA")
    if edges.height == 0:
        raise KsegError("no observed traffic: the snapshot has no flow records, so every "
                        "suggested policy would deny everything",
                        hint="import flows first (kseg flows import) or pass edges=")
    return edges.select([pl.col(c).cast(t) for c, t in EDGE_SCHEMA.items()])


def suggest_policies(snap: Any, segments: str | pl.DataFrame = "workload", *,
                     edges: pl.DataFrame | None = None, dns: str = "all",
                     include_system: bool = False, min_prefix_v4: int = 24,
                     max_ratio: int = 64, max_blocks: int = 64) -> SuggestResult:
    """Least-privilege NetworkPolicies allowing exactly the observed client->server traffic.

    ``segments``: ``"workload"`` (one policy per workload), ``"namespace"``, ``"label:KEY"``
    or any strategy of ``toolkit.core.segment_membership``, or a membership frame (namespace,
    workload_kind, workload, segment). ``edges``: an edge table
    (``toolkit.core.boundaries.EDGE_SCHEMA``) to use instead of the snapshot's flows.
    ``dns="all"`` gives every selected pod egress to the cluster DNS (UDP+TCP);
    ``"observed"`` only where DNS traffic was seen.
    """
    if dns not in ("all", "observed"):
        raise KsegError(f"dns must be 'all' or 'observed', not {dns!r}")
    edges = _checked_edges(snapshot_edges(snap) if edges is None else edges)
    idx = build_index(snap.pods, snap.workloads)
    membership = _membership(snap, idx, segments)
    node_ips = _node_ips(snap)
    planner = _Planner(idx, membership, namespace_mode=isinstance(segments, str)
                       and segments == "namespace", node_ips=node_ips)
    plan = _plan_subjects(planner, membership, include_system)
    _pod_rules(edges, plan, planner)
    pod_ips = snap.pods.select(pl.col("ip").drop_nulls().unique()).collect().to_series()
    _ext_rules(edges, plan, {"min_prefix_v4": min_prefix_v4, "max_ratio": max_ratio,
                             "max_blocks": max_blocks, "avoid": pod_ips.to_list()},
               node_ips)
    notes = [_dns_rules(idx, edges, plan, planner)] if dns == "all" else []
    policies = [render_policy(s) for s in sorted(plan.subjects, key=lambda s: (s.namespace,
                                                                               s.name))]
    strategy = segments if isinstance(segments, str) else "custom"
    return SuggestResult(policies=policies, findings=planner.findings, strategy=strategy,
                         coverage=_coverage(edges, plan), notes=notes,
                         subjects={(s.namespace, s.name): s.workloads for s in plan.subjects})
