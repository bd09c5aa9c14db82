"""Static connectivity: which workloads (and external ranges) may talk, without any flow.

The analogue of the np-guard analyzer's ``connlist``: every ordered pair of workloads
(``namespace/name[Kind]``, the pod's direct owner as np-guard names it) and of workloads and
external IP ranges (``start-end[External]``, 0.0.0.0/0 split at every ipBlock boundary), with
the connections the policies allow between them. Self-connections are left out.

>>> from toolkit.collect.k8s import normalise_objects
>>> snap = normalise_objects([
...     {"kind": "Pod", "metadata": {"name": "a", "namespace": "x", "labels": {"app": "a"}}},
...     {"kind": "Pod", "metadata": {"name": "b", "namespace": "x", "labels": {"app": "b"}}},
...     {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "x"},
...      "spec": {"podSelector": {"matchLabels": {"app": "b"}},
...               "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 80}]}]}}])
>>> print(connectivity(snap).text())  # doctest: +NORMALIZE_WHITESPACE
0.0.0.0-255.255.255.255[External] => x/a[Pod] : All Connections
x/a[Pod] => 0.0.0.0-255.255.255.255[External] : All Connections
x/a[Pod] => x/b[Pod] : TCP 80
x/b[Pod] => 0.0.0.0-255.255.255.255[External] : All Connections
x/b[Pod] => x/a[Pod] : All Connections
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from html import escape

import polars as pl

from toolkit.errors import KsegError
from toolkit.policy.endpoints import Endpoints, build_endpoints, policy_blocks, policy_cidrs
from toolkit.policy.evaluate import Compiled, compile_policies, isolated, side_rows
from toolkit.policy.intervals import all_rows, conn_text, intersect, merge
from toolkit.policy.model import PolicyModel, parse_policies
from toolkit.snapshot import Snapshot

FORMATS = ("txt", "csv", "json")


CONTROLLERS = ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job", "CronJob",
               "ReplicationController")


def workload_label() -> pl.Expr:
    """``namespace/owner[OwnerKind]`` (bare pods and pods owned by a non-controller such as a
    Node: ``namespace/pod[Pod]``), as np-guard names them."""
    owned = pl.col("owner_kind").is_in(CONTROLLERS)
    return pl.format("{}/{}[{}]", pl.col("namespace"),
                     pl.when(owned).then(pl.col("owner_name")).otherwise(pl.col("name")),
                     pl.when(owned).then(pl.col("owner_kind")).otherwise(pl.lit("Pod")))


def inventory_pods(snap: Snapshot) -> pl.DataFrame:
    """One row per pod uid (the latest IP interval) with the columns policies need."""
    return (snap.pods.select("namespace", "name", "uid", "labels", "container_ports",
                             "host_network",
                             "owner_kind", "owner_name", "workload_kind", "workload_name", "ip",
                             "valid_from")
            .collect().sort("valid_from", nulls_last=False)
            .unique(["uid", "namespace", "name"], keep="last", maintain_order=True)
            .drop("valid_from"))


def allowed_sets(comp: Compiled, pairs: pl.LazyFrame) -> pl.LazyFrame:
    """Merged allowed intervals of endpoint pairs ``(s, d)``: egress at s AND ingress at d."""
    sides = []
    for direction, target in (("ingress", "d"), ("egress", "s")):
        rows = side_rows(comp, pairs, direction).select("s", "d", "protocol", "port_lo",
                                                        "port_hi")
        open_pairs = pairs.join(isolated(comp, direction).rename({"ep": target}), on=target,
                                how="anti")
        # rows of isolated pairs need a union; open pairs are already one full set each
        sides.append(pl.concat([merge(rows, ["s", "d"]), all_rows(open_pairs.select("s", "d"))
                                .select("s", "d", "protocol", "port_lo", "port_hi")]))
    return intersect(sides[0], sides[1], ["s", "d"])


@dataclass(frozen=True)
class ConnectivityResult:
    """Allowed connections: ``connections`` has ``src, dst, conn`` sorted like np-guard."""

    connections: pl.DataFrame
    policies: int
    workloads: int

    def text(self) -> str:
        """np-guard ``txt``: one ``src => dst : conn`` line per connection."""
        return "\n".join(f"{s} => {d} : {c}" for s, d, c in self.connections.iter_rows())

    def render(self, fmt: str = "txt") -> str:
        """The result as ``txt``, ``csv`` or ``json`` (np-guard's layouts)."""
        if fmt == "txt":
            return self.text()
        if fmt == "json":
            return json.dumps(self.connections.to_dicts(), indent=2)
        if fmt == "csv":
            buf = io.StringIO()
            writer = csv.writer(buf, lineterminator="\n")
            writer.writerow(["src", "dst", "conn"])
            writer.writerows(self.connections.iter_rows())
            return buf.getvalue()
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")

    def __repr__(self) -> str:
        return (f"<ConnectivityResult: {self.connections.height} allowed connections between "
                f"{self.workloads} workloads and external ranges, {self.policies} policies>\n"
                "next: .connections (polars), .text(), or kt.policy.replay(snap) with flows")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(s)}</td><td>{escape(d)}</td><td>{escape(c)}</td></tr>"
                       for s, d, c in self.connections.head(200).iter_rows())
        more = self.connections.height - 200
        tail = f"<p>... {more} more</p>" if more > 0 else ""
        return (f"<div><b>Allowed connectivity</b> ({self.connections.height} connections, "
                f"{self.policies} policies)<table><tr><th>src</th><th>dst</th><th>conn</th>"
                f"</tr>{rows}</table>{tail}</div>")


def _external(eps: Endpoints, model: PolicyModel, direction: str) -> pl.DataFrame:
    """External peers of one direction: atoms labelled with the range np-guard prints, the
    address space cut at that direction's ipBlocks only (atoms of one range behave alike)."""
    labels = eps.cell_labels(policy_blocks(model, direction))
    return pl.DataFrame({"peer": [f"{t}[External]" for t in labels.values()],
                         "ep": list(labels)}, schema={"peer": pl.String, "ep": pl.Int32})


def _matches(col: str, names: list[str]) -> pl.Expr:
    full = pl.col(col).str.replace(r"\[[^\]]*\]$", "")
    short = full.str.replace(r"^[^/]*/", "")
    return full.is_in(names) | short.is_in(names)


def _split(names: str | list[str] | None) -> list[str]:
    if not names:
        return []
    if isinstance(names, str):
        names = names.split(",")
    return [n.strip() for n in names if n.strip()]


def focus_filter(frame: pl.DataFrame, focus: str | list[str] | None, *,
                 peers: str | list[str] | None = None,
                 direction: str | None = None) -> pl.DataFrame:
    """Keep connections of the ``focus`` workloads (``name`` or ``namespace/name``, a list or
    comma-separated), optionally only with ``peers`` on the other side and only in one
    ``direction`` (``ingress``: into the focus workload, ``egress``: out of it)."""
    focus, peers = _split(focus), _split(peers)
    if not focus:
        return frame
    as_src, as_dst = _matches("src", focus), _matches("dst", focus)
    if peers:
        as_src &= _matches("dst", peers)
        as_dst &= _matches("src", peers)
    if direction == "ingress":
        return frame.filter(as_dst)
    if direction == "egress":
        return frame.filter(as_src)
    return frame.filter(as_src | as_dst)


def connectivity(snap: Snapshot, *, focus: str | list[str] | None = None,
                 focus_peers: str | list[str] | None = None, focus_direction: str | None = None,
                 model: PolicyModel | None = None, naming: str = "owner") -> ConnectivityResult:
    """Allowed connections between the snapshot's workloads and external ranges.

    ``focus``/``focus_peers``/``focus_direction`` filter as :func:`focus_filter`; ``model``
    replaces the snapshot's own policies; ``naming="owner"`` names pods by their direct owner
    (np-guard's ``ns/name-5d9c7[ReplicaSet]``), ``"workload"`` by the top-level workload
    (``ns/name[Deployment]``, as resolved flows name them), ``"pod"`` keeps every pod
    (``ns/pod``, np-guard's pod-level evaluation).
    """
    model = model or parse_policies(snap.network_policies)
    label = {"owner": workload_label(),
             "workload": pl.format("{}/{}[{}]", "namespace", "workload_name", "workload_kind"),
             "pod": pl.format("{}/{}", "namespace", "name")}.get(naming)
    if label is None:
        raise KsegError(f"unknown naming {naming!r}; one of owner, workload, pod")
    pods = inventory_pods(snap).with_columns(label.alias("peer"))
    eps, mapped = build_endpoints(pods, snap.namespaces.collect(), policy_cidrs(model))
    comp = compile_policies(model, eps)
    peers = mapped.select("peer", "ep").unique()
    src, dst = peers.rename({"peer": "src", "ep": "s"}), peers.rename({"peer": "dst", "ep": "d"})
    pairs = pl.concat([
        src.join(dst, how="cross").filter(pl.col("src") != pl.col("dst")),
        src.join(_external(eps, model, "egress").rename({"peer": "dst", "ep": "d"}),
                 how="cross"),
        _external(eps, model, "ingress").rename({"peer": "src", "ep": "s"}).join(dst,
                                                                                  how="cross"),
    ], how="diagonal").select("src", "dst", "s", "d")
    ep_pairs = pairs.select("s", "d").unique().lazy()
    allowed = allowed_sets(comp, ep_pairs)
    # atoms of one printed range have identical sets, so the union over them is that set
    per_peer = merge(pairs.lazy().join(allowed, on=["s", "d"]), ["src", "dst"])
    conns = conn_text(per_peer, ["src", "dst"]).sort("src", "dst")
    conns = focus_filter(conns, focus, peers=focus_peers, direction=focus_direction)
    return ConnectivityResult(conns, len(model), peers.height)
