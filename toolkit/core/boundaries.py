"""Candidate segment boundaries discovered from the traffic itself.

:func:`propose_boundaries` builds the workload graph (undirected, weighted by bytes or flows),
sets the shared infrastructure services apart (:func:`shared_services`), runs networkx's
seeded Louvain community detection at a few resolutions, and scores every candidate next to
the namespace, label and one-segment-per-workload segmentations (see
:mod:`toolkit.core.boundaries_score` and ``docs/boundaries.md``).

>>> import toolkit as kt
>>> result = propose_boundaries(kt.load_snapshot(kt.demo_data_path() / "demo-day1"))
>>> "namespace" in result.candidates["candidate"].to_list()
True
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from toolkit.core import boundaries_score as bs
from toolkit.errors import KsegError

Workload = tuple[str, str, str]
_order = bs.workload_order

#: Columns of the edge table (one row per distinct client endpoint, server endpoint, port and
#: protocol). ``*_kind`` is ``pod`` for a pod with a workload; for any other endpoint it is the
#: resolver's kind (``node``, ``service``, an address class) and ``*_ip`` keeps the address.
EDGE_SCHEMA = {
    "src_kind": pl.String, "src_namespace": pl.String, "src_workload_kind": pl.String,
    "src_workload": pl.String, "src_ip": pl.String,
    "dst_kind": pl.String, "dst_namespace": pl.String, "dst_workload_kind": pl.String,
    "dst_workload": pl.String, "dst_ip": pl.String,
    "dst_port": pl.Int32, "protocol": pl.UInt8, "bytes": pl.Int64, "flows": pl.Int64,
}
EDGE_KEYS = [c for c in EDGE_SCHEMA if c not in ("bytes", "flows")]

#: Label values (of app, app.kubernetes.io/name, k8s-app, name, component) or workload names
#: that mark a shared infrastructure role.
KNOWN_ROLES = {
    "dns": ("kube-dns", "coredns", "node-local-dns"),
    "monitoring": ("prometheus", "vmagent", "otel-collector", "opentelemetry-collector",
                   "grafana-agent", "alloy", "datadog-agent"),
    "ingress": ("ingress-nginx", "nginx-ingress", "traefik", "istio-ingressgateway", "contour",
                "envoy-gateway", "haproxy-ingress", "kong"),
}
ROLE_KEYS = ("app", "app.kubernetes.io/name", "k8s-app", "name", "component")


def edge_table(resolved: pl.LazyFrame) -> pl.DataFrame:
    """Aggregate oriented, resolved flows (``toolkit.core.resolve.resolve_flows``) into the
    edge table (:data:`EDGE_SCHEMA`), streaming; pod endpoints drop their address."""
    cols = resolved.collect_schema().names()
    exprs = []
    for side in ("src", "dst"):
        is_pod = (pl.col(f"{side}_workload").is_not_null()
                  & pl.col(f"{side}_namespace").is_not_null())
        ip = pl.col(f"{side}_ip") if f"{side}_ip" in cols else pl.lit(None, pl.String)
        exprs += [pl.when(is_pod).then(pl.lit("pod")).otherwise(pl.col(f"{side}_kind"))
                  .alias(f"{side}_kind"),
                  pl.when(is_pod).then(None).otherwise(ip).alias(f"{side}_ip")]
    flows = "flows" if "flows" in cols else "flow_count"
    return (resolved.with_columns(exprs)
            .group_by(EDGE_KEYS)
            .agg(pl.col("bytes").fill_null(0).sum(), pl.col(flows).sum().alias("flows"))
            .select([pl.col(c).cast(t) for c, t in EDGE_SCHEMA.items()])
            .collect(engine="streaming")
            .sort(EDGE_KEYS, nulls_last=True))


def snapshot_edges(snap: Any) -> pl.DataFrame:
    """The edge table of a snapshot's flows (resolved and oriented by ``toolkit.core``)."""
    from toolkit.core.resolve import resolve_flows
    return edge_table(resolve_flows(snap))


def workload_edges(edges: pl.DataFrame) -> pl.DataFrame:
    """Pod-to-pod rows of an edge table: client workload, server workload, port, protocol."""
    keys = ["src_namespace", "src_workload_kind", "src_workload", "dst_namespace",
            "dst_workload_kind", "dst_workload", "dst_port", "protocol"]
    return (edges.filter((pl.col("src_kind") == "pod") & (pl.col("dst_kind") == "pod"))
            .group_by(keys).agg(pl.col("bytes").sum(), pl.col("flows").sum()).sort(keys))


def inventory_workloads(snap: Any) -> pl.DataFrame:
    """Distinct non-hostNetwork workloads of the pods table with their (first pod's) labels."""
    return (snap.pods.filter(~pl.col("host_network"))
            .select("namespace", pl.col("workload_kind"), pl.col("workload_name").alias("workload"),
                    "labels")
            .unique(subset=["namespace", "workload_kind", "workload"], keep="first",
                    maintain_order=True)
            .sort("namespace", "workload_kind", "workload").collect())


def _role_by_labels(inventory: pl.DataFrame) -> dict[Workload, str]:
    roles = {}
    for row in inventory.iter_rows(named=True):
        values = {item["value"] for item in row["labels"] or () if item["key"] in ROLE_KEYS}
        values.add(row["workload"])
        for role, names in KNOWN_ROLES.items():
            if values & set(names):
                roles[(row["namespace"], row["workload_kind"], row["workload"])] = role
                break
    return roles


def _degree(wedges: pl.DataFrame, me: str, other: str) -> pl.DataFrame:
    """Per workload on side ``me``: distinct other namespaces on side ``other``."""
    return (wedges.filter(pl.col(f"{me}_namespace") != pl.col(f"{other}_namespace"))
            .group_by(f"{me}_namespace", f"{me}_workload_kind", f"{me}_workload")
            .agg(pl.col(f"{other}_namespace").unique().sort().alias("peers"))
            .rename({f"{me}_namespace": "namespace", f"{me}_workload_kind": "workload_kind",
                     f"{me}_workload": "workload"}))


def _exclude(wedges: pl.DataFrame, side: str, workloads: set[Workload]) -> pl.DataFrame:
    if not workloads:
        return wedges
    names = [f"{side}_namespace", f"{side}_workload_kind", f"{side}_workload"]
    drop = pl.DataFrame(sorted(workloads, key=_order), schema={n: pl.String for n in names},
                        orient="row")
    return wedges.join(drop, on=drop.columns, how="anti", nulls_equal=True)


def shared_services(wedges: pl.DataFrame, inventory: pl.DataFrame | None = None, *,
                    min_namespaces: int = 2) -> pl.DataFrame:
    """Shared infrastructure workloads, set apart from community detection.

    1. Known roles: labels (``app``, ``app.kubernetes.io/name``, ``k8s-app``, ``name``,
       ``component``) or the workload name equal to a name in :data:`KNOWN_ROLES`.
    2. Shared clients (monitoring scrapes, ingress controllers): a workload calling servers in
       at least ``min_namespaces + 1`` namespaces other than its own, not counting calls to
       known-role servers (everyone calls DNS).
    3. Shared servers (DNS, a shared database): a workload serving clients from at least
       ``min_namespaces`` namespaces other than its own, not counting shared clients (a
       scrape by Prometheus does not make a service shared).
    """
    roles = _role_by_labels(inventory) if inventory is not None else {}
    keys = ["namespace", "workload_kind", "workload"]
    calls = {tuple(r[:3]): r[3] for r in
             _degree(_exclude(wedges, "dst", set(roles)), "src", "dst").iter_rows()}
    clients = {w for w, ns in calls.items() if len(ns) >= min_namespaces + 1}
    clients |= {w for w, role in roles.items() if role in ("monitoring", "ingress")}
    served = {tuple(r[:3]): r[3] for r in
              _degree(_exclude(wedges, "src", clients), "dst", "src").iter_rows()}
    servers = {w for w, ns in served.items() if len(ns) >= min_namespaces}
    rows = []
    for wl in sorted(clients | servers | set(roles), key=_order):
        reasons = []
        if wl in roles:
            reasons.append(f"known role {roles[wl]}")
        if len(calls.get(wl, [])) >= min_namespaces + 1:
            reasons.append(f"calls {len(calls[wl])} other namespaces")
        if wl in servers:
            reasons.append(f"serves {len(served[wl])} other namespaces")
        role = roles.get(wl) or ("shared-client" if wl in clients else "shared-server")
        rows.append({**dict(zip(keys, wl, strict=True)), "role": role,
                     "reason": "; ".join(reasons), "client_namespaces": served.get(wl, []),
                     "server_namespaces": calls.get(wl, [])})
    schema = {"namespace": pl.String, "workload_kind": pl.String, "workload": pl.String,
              "role": pl.String, "reason": pl.String, "client_namespaces": pl.List(pl.String),
              "server_namespaces": pl.List(pl.String)}
    return pl.DataFrame(rows, schema=schema).sort(keys)


def communities(wedges: pl.DataFrame, nodes: Iterable[Workload], *, weight: str,
                resolution: float, seed: int = 0) -> dict[Workload, str]:
    """Seeded Louvain communities of the undirected workload graph (``c01`` = largest)."""
    import networkx as nx  # here, not at import: networkx alone costs ~0.2 s to import

    graph = nx.Graph()
    graph.add_nodes_from(sorted(set(nodes), key=_order))
    pairs = (wedges.group_by("src_namespace", "src_workload_kind", "src_workload",
                             "dst_namespace", "dst_workload_kind", "dst_workload")
             .agg(pl.col(weight).sum()).sort(pl.all()))
    for r in pairs.iter_rows():
        a, b, w = tuple(r[0:3]), tuple(r[3:6]), float(r[6] or 0)
        if a != b and a in graph and b in graph and w > 0:
            prev = graph.get_edge_data(a, b, {"weight": 0.0})["weight"]
            graph.add_edge(a, b, weight=prev + w)
    found = nx.community.louvain_communities(graph, weight="weight", resolution=resolution,
                                             seed=seed)
    ordered = sorted((sorted(c, key=_order) for c in found),
                     key=lambda c: (-len(c), _order(c[0])))
    return {wl: f"c{i + 1:02d}" for i, members in enumerate(ordered) for wl in members}


def label_segments(snaps: Sequence[Any], label_key: str) -> dict[Workload, str]:
    """Workload -> segment of ``toolkit.core.segments``' ``label:KEY`` strategy (later
    snapshots win; pods without the label share its ``no-KEY`` fallback segment)."""
    from toolkit.core.segments import segment_membership
    out: dict[Workload, str] = {}
    for snap in snaps:
        frame = segment_membership(snap, f"label:{label_key}")
        out.update({(r[0], r[1], r[2]): r[3] for r in frame.select(
            "namespace", "workload_kind", "workload", "segment").iter_rows()})
    return out


def _baselines(nodes: list[Workload], by_label: dict[Workload, str], label_key: str
               ) -> dict[str, dict[Workload, str]]:
    return {"namespace": {wl: wl[0] for wl in nodes},
            f"label:{label_key}": {wl: by_label.get(wl, f"no-{label_key}") for wl in nodes},
            "workload": {wl: f"{wl[0]}/{wl[2]}" for wl in nodes}}


def _nodes(wedges: pl.DataFrame, inventory: pl.DataFrame) -> list[Workload]:
    found = set(inventory.select("namespace", "workload_kind", "workload").iter_rows())
    for side in ("src", "dst"):
        found |= set(wedges.select(f"{side}_namespace", f"{side}_workload_kind",
                                   f"{side}_workload").iter_rows())
    return sorted(found, key=_order)


@dataclass
class _Day:
    wedges: pl.DataFrame
    nodes: list[Workload]


def _as_snapshots(snaps: Any) -> list[Any]:
    from pathlib import Path

    from toolkit.snapshot import Snapshot, load_snapshot
    items = [snaps] if isinstance(snaps, (Snapshot, str, Path)) else list(snaps)
    if not items:
        raise KsegError("propose_boundaries needs at least one snapshot")
    return [load_snapshot(s) if not isinstance(s, Snapshot) else s for s in items]


def propose_boundaries(snaps: Any, *, weight: str = "bytes",
                       resolutions: Sequence[float] = (0.5, 1.0, 2.0), seed: int = 0,
                       label_key: str = "app", min_namespaces: int = 2) -> BoundaryResult:
    """Candidate segmentations of one snapshot or several (one per day), scored side by side.

    Louvain candidates (``louvain@R``) are computed on the traffic of all snapshots together;
    with several snapshots each day is also partitioned alone and ``stability`` is the mean
    adjusted Rand index between consecutive days. Baselines: ``namespace``,
    ``label:<label_key>`` and ``workload`` (one segment each).
    """
    if weight not in ("bytes", "flows"):
        raise KsegError(f"weight must be 'bytes' or 'flows', not {weight!r}")
    days = []
    inventories = []
    snaps = _as_snapshots(snaps)
    for snap in snaps:
        inv = inventory_workloads(snap)
        wedges = workload_edges(snapshot_edges(snap))
        days.append(_Day(wedges, _nodes(wedges, inv)))
        inventories.append(inv)
    inventory = pl.concat(inventories).unique(subset=["namespace", "workload_kind", "workload"],
                                              keep="last", maintain_order=True)
    combined = workload_edges(pl.concat([d.wedges for d in days]).with_columns(
        src_kind=pl.lit("pod"), dst_kind=pl.lit("pod")))
    by_label = label_segments(snaps, label_key)
    return _propose(days, combined, inventory, by_label, weight=weight,
                    resolutions=resolutions, seed=seed, label_key=label_key,
                    min_namespaces=min_namespaces)


def _propose(days: list[_Day], combined: pl.DataFrame, inventory: pl.DataFrame,
             by_label: dict[Workload, str], *,
             weight: str, resolutions: Sequence[float], seed: int, label_key: str,
             min_namespaces: int) -> BoundaryResult:
    notes = []
    if combined.height == 0:
        raise KsegError("no pod-to-pod traffic in the snapshot(s): nothing to find "
                        "communities in", hint="import flows first (kseg flows import)")
    if weight == "bytes" and not combined.get_column("bytes").sum():
        weight = "flows"
        notes.append("the flow records carry no byte counts: weighted by flows instead")
    shared_tbl = shared_services(combined, inventory, min_namespaces=min_namespaces)
    shared = set(shared_tbl.select("namespace", "workload_kind", "workload").iter_rows())
    nodes = _nodes(combined, inventory)
    free = [n for n in nodes if n not in shared]
    partitions: dict[str, tuple[dict[Workload, str], list[dict[Workload, str]]]] = {}
    for res in resolutions:
        whole = communities(combined, free, weight=weight, resolution=res, seed=seed)
        per_day = [communities(d.wedges, [n for n in d.nodes if n not in shared],
                               weight=weight, resolution=res, seed=seed) for d in days]
        partitions[f"louvain@{res:g}"] = (whole, per_day)
    for name, mapping in _baselines(nodes, by_label, label_key).items():
        per_day = [{n: mapping[n] for n in d.nodes if n not in shared} for d in days]
        partitions[name] = ({n: mapping[n] for n in free}, per_day)
    rows, members = [], {}
    for name, (whole, per_day) in partitions.items():
        frame = bs.membership_frame({**whole, **{s: "" for s in shared}}, shared)
        members[name] = frame
        res = float(name.split("@")[1]) if name.startswith("louvain@") else None
        rows.append({"candidate": name, "resolution": res, **bs.score(combined, frame),
                     "stability": bs.stability(per_day) if len(days) > 1 else None})
    schema = {"candidate": pl.String, "resolution": pl.Float64, "n_segments": pl.Int64,
              "cross_bytes_share": pl.Float64, "cross_flows_share": pl.Float64,
              "allow_rules": pl.Int64, "stability": pl.Float64}
    return BoundaryResult(pl.DataFrame(rows, schema=schema), shared_tbl, members, combined,
                          weight, len(days), notes)


@dataclass
class BoundaryResult:
    """Candidate segmentations with their scores, memberships and the shared services."""

    candidates: pl.DataFrame
    shared: pl.DataFrame
    memberships: dict[str, pl.DataFrame]
    edges: pl.DataFrame
    weight: str
    days: int
    notes: list[str] = field(default_factory=list)

    def membership(self, candidate: str) -> pl.DataFrame:
        """Workload -> segment of one candidate (namespace, workload_kind, workload, segment,
        shared); shared services are each their own ``shared:`` segment."""
        if candidate not in self.memberships:
            raise KsegError(f"unknown candidate {candidate!r}; candidates: "
                            f"{', '.join(self.memberships)}")
        return self.memberships[candidate]

    def crossing(self, candidate: str) -> pl.DataFrame:
        """Workload edges crossing a boundary of ``candidate``, heaviest first."""
        return bs.crossing_edges(self.edges, self.membership(candidate))

    def segments(self, candidate: str) -> pl.DataFrame:
        """One row per segment of ``candidate``: its workloads and namespaces."""
        return (self.membership(candidate).filter(~pl.col("shared")).group_by("segment")
                .agg(pl.len().alias("workloads"),
                     pl.col("namespace").unique().sort().alias("namespaces"),
                     (pl.col("namespace") + "/" + pl.col("workload")).sort().alias("members"))
                .sort("segment"))

    def __repr__(self) -> str:
        best = self.candidates.sort("allow_rules").row(0, named=True)["candidate"]
        return (f"<BoundaryResult {self.candidates.height} candidates over {self.days} "
                f"snapshot(s), weight={self.weight}, {self.shared.height} shared services>\n"
                f"{self.candidates}\nnext: result.membership({best!r}), "
                f"suggest_policies(snap, segments=result.membership({best!r}))")

    def _repr_html_(self) -> str:
        from html import escape

        def table(frame: pl.DataFrame) -> str:
            head = "".join(f"<th>{escape(c)}</th>" for c in frame.columns)
            body = "".join("<tr>" + "".join(f"<td>{escape(_fmt(v))}</td>" for v in row)
                           + "</tr>" for row in frame.iter_rows())
            return f"<table><tr>{head}</tr>{body}</table>"

        notes = "".join(f"<li>{escape(n)}</li>" for n in self.notes)
        return (f"<div><b>Candidate segment boundaries</b> ({self.days} snapshot(s), weighted "
                f"by {escape(self.weight)})<ul>{notes}</ul>{table(self.candidates)}"
                f"<b>Shared services</b>{table(self.shared.select(pl.exclude('*_namespaces')))}"
                "</div>")


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return "—" if value is None else str(value)
