"""Replay observed flows against NetworkPolicies: what is allowed, what would be denied.

The snapshot's flows are resolved and oriented, and summed first per distinct (src endpoint,
dst endpoint, dst_port, protocol) on integer endpoint ids (streaming,
:func:`toolkit.core.resolve.resolve_groups`); names are attached to that small table, and
pods are mapped to endpoint classes by uid (a join with a small table) into edges;
other addresses are then mapped to IP atoms (a loop over distinct addresses); only the distinct
``(class, class, protocol, port)`` tuples are evaluated, and the verdicts are joined back.

Verdicts: ``allowed``, ``denied``, or ``unresolved`` when a side is a Service ClusterIP that
was never translated to a backend pod, or an in-cluster address no pod held at that time (a
policy decides on the backend pod, which the record does not name).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

import polars as pl

from toolkit.policy.connectivity import inventory_pods
from toolkit.policy.endpoints import Endpoints, build_endpoints, policy_cidrs
from toolkit.policy.evaluate import compile_policies, decide, findings, protocol_class
from toolkit.policy.model import PolicyModel, parse_policies
from toolkit.snapshot import Snapshot

UNRESOLVED_KINDS = ("service", "unknown-in-cluster")
MEASURES = ("bytes", "packets", "flows")


def _side_key(side: str) -> list[pl.Expr]:
    """Grouping columns of one side: the pod's endpoint class and workload, the service, or
    the address (for anything that is neither)."""
    kind = pl.col(f"{side}_kind")
    other = (kind != "pod") & (kind != "service")
    return [kind, pl.col(f"_{side}_ep").alias(f"{side}_ep"),
            *(pl.col(f"{side}_{c}") for c in ("namespace", "workload", "workload_kind",
                                               "service_namespace", "service")),
            pl.when(other).then(pl.col(f"{side}_ip")).alias(f"{side}_addr")]


def _label(side: str) -> pl.Expr:
    kind = pl.col(f"{side}_kind")
    return (pl.when(kind == "pod").then(
        pl.format("{}/{}[{}]", pl.col(f"{side}_namespace"), pl.col(f"{side}_workload"),
                  pl.col(f"{side}_workload_kind")))
        .when(kind == "service").then(pl.format("{}/{}[Service]",
                                                pl.col(f"{side}_service_namespace"),
                                                pl.col(f"{side}_service")))
        .otherwise(pl.col(f"{side}_addr")).alias(side))


def aggregate_edges(flows: pl.LazyFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """Distinct (src, dst, dst_port, protocol) edges of resolved flows with summed measures.

    ``classes`` maps pod ``uid`` to its endpoint class ``ep``: pods are grouped by class and
    workload (not one by one), services by name, other endpoints by address. Streaming.
    """
    for side in ("src", "dst"):
        flows = flows.join(classes.lazy().rename({"uid": f"{side}_pod_uid",
                                                  "ep": f"_{side}_ep"}),
                           on=f"{side}_pod_uid", how="left")
    edges = (flows.group_by(*_side_key("src"), *_side_key("dst"), "dst_port", "protocol")
             .agg(*(pl.col(m).cast(pl.Int64).sum() for m in MEASURES))
             .collect(engine="streaming"))
    return edges.with_columns(_label("src"), _label("dst"))


def endpoint_classes(snap: Snapshot, model: PolicyModel) -> tuple[Endpoints, pl.DataFrame]:
    """The snapshot's endpoint classes for ``model`` and the pod uid → class map (shared by
    the local replay and the Dask one in :mod:`toolkit.scale`)."""
    pods = inventory_pods(snap)
    eps, mapped = build_endpoints(pods, snap.namespaces.collect(), policy_cidrs(model))
    return eps, mapped.select("uid", "ep").unique("uid")


def _endpoint_ids(edges: pl.DataFrame, eps: Endpoints) -> pl.DataFrame:
    addrs = pl.concat([edges["src_addr"], edges["dst_addr"]]).drop_nulls().unique()
    by_ip = pl.DataFrame({"addr": addrs, "ep": [eps.atom_of(a) for a in addrs.to_list()]},
                         schema={"addr": pl.String, "ep": pl.Int32})
    for side in ("src", "dst"):
        short = side[0]
        edges = (edges.join(by_ip.rename({"addr": f"{side}_addr", "ep": f"_{short}a"}),
                            on=f"{side}_addr", how="left")
                 .with_columns(
                     pl.when(pl.col(f"{side}_kind").is_in(UNRESOLVED_KINDS)).then(None)
                     .otherwise(pl.coalesce(f"{side}_ep", f"_{short}a")).alias(short))
                 .drop(f"_{short}a"))
    return edges


def _reason(prefix: str, direction: str) -> pl.Expr:
    pid = pl.col(f"{prefix}_pid")
    rule = pl.format("{} {} rule #{}", pl.col(f"{prefix}_policy"), pl.lit(direction),
                     (pl.col(f"{prefix}_rule") + 1).cast(pl.String))
    return (pl.when(~pl.col(f"{prefix}_isolated")).then(pl.lit("not isolated (default allow)"))
            .when(pid.is_not_null()).then(rule)
            .otherwise(pl.lit("isolated, no rule allows (default deny)")))


def evaluate_edges(edges: pl.DataFrame, eps: Endpoints, model: PolicyModel
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Verdicts of aggregated edges (see :func:`aggregate_edges`), and the policy findings."""
    edges = _endpoint_ids(edges, eps)
    edges = (edges.with_columns(protocol_class(pl.col("protocol").cast(pl.Int32))
                                .alias("_proto"),
                                pl.col("dst_port").cast(pl.Int32).fill_null(0).alias("_port"))
             # pods of one workload and class share a verdict: sum them before any join
             .group_by("src", "dst", "src_kind", "dst_kind", "dst_port", "protocol", "s", "d",
                       "_proto", "_port")
             .agg(*(pl.col(m).sum() for m in MEASURES)))
    tuples = (edges.lazy().drop_nulls(["s", "d"])
              .select("s", "d", pl.col("_proto").alias("protocol"),
                      pl.col("_port").alias("port")).unique())
    comp = compile_policies(model, eps)
    verdicts = decide(comp, tuples).collect()
    names = model.policies.select("pid", pl.format("{}/{}", "namespace", "name").alias("p"))
    for prefix in ("in", "eg"):
        verdicts = verdicts.join(names.rename({"pid": f"{prefix}_pid", "p": f"{prefix}_policy"}),
                                 on=f"{prefix}_pid", how="left")
    verdicts = verdicts.with_columns(_reason("in", "ingress").alias("ingress_reason"),
                                     _reason("eg", "egress").alias("egress_reason"))
    out = edges.join(verdicts.rename({"protocol": "_proto", "port": "_port"}),
                     on=["s", "d", "_proto", "_port"], how="left")
    verdict = (pl.when(pl.col("allowed").is_null()).then(pl.lit("unresolved"))
               .when(pl.col("allowed")).then(pl.lit("allowed")).otherwise(pl.lit("denied")))
    keys = ["src", "dst", "src_kind", "dst_kind", "dst_port", "protocol", "verdict",
            "ingress_reason", "egress_reason", "ingress_policy", "ingress_rule",
            "egress_policy", "egress_rule"]
    out = out.with_columns(verdict.alias("verdict"),
                           pl.col("in_policy").alias("ingress_policy"),
                           (pl.col("in_rule") + 1).alias("ingress_rule"),
                           pl.col("eg_policy").alias("egress_policy"),
                           (pl.col("eg_rule") + 1).alias("egress_rule"))
    # pods of one workload share a verdict unless their labels differ: one row per outcome
    edges = (out.group_by(keys).agg(*(pl.col(m).sum() for m in MEASURES))
             .select(*keys[:6], *MEASURES, *keys[6:])
             .sort("verdict", "bytes", "flows", "src", "dst", "dst_port",
                   descending=[False, True, True, False, False, False], nulls_last=True))
    return edges, findings(comp)


@dataclass(frozen=True)
class ReplayResult:
    """Per-edge verdicts (``edges``, polars), totals per verdict (``summary``) and likely
    policy mistakes (``findings``: policies selecting no pod, peers matching no pod)."""

    edges: pl.DataFrame
    findings: pl.DataFrame
    policies: int
    proposed: bool = False
    summary: pl.DataFrame = field(init=False)

    def __post_init__(self) -> None:
        summary = (self.edges.group_by("verdict")
                   .agg(pl.len().alias("edges"), *(pl.col(m).sum() for m in MEASURES))
                   .sort("verdict"))
        object.__setattr__(self, "summary", summary)

    def count(self, verdict: str, measure: str = "flows") -> int:
        """Total ``measure`` (edges, flows, bytes, packets) of one verdict."""
        row = self.summary.filter(pl.col("verdict") == verdict)
        return int(row[measure].sum()) if row.height else 0

    def denied(self, top: int | None = None) -> pl.DataFrame:
        """Denied edges, largest first ("what would this break?")."""
        frame = self.edges.filter(pl.col("verdict") == "denied")
        return frame.head(top) if top else frame

    def __repr__(self) -> str:
        total = self.count("allowed") + self.count("denied") + self.count("unresolved")
        which = "proposed" if self.proposed else "snapshot"
        return (f"<ReplayResult: {self.policies} {which} policies, {self.edges.height} edges, "
                f"{total:,} flows: allowed {self.count('allowed'):,}, denied "
                f"{self.count('denied'):,}, unresolved {self.count('unresolved'):,}>\n"
                f"{self.findings.height} policy findings (selectors matching no pod)\n"
                "next: .denied(10) shows what the policies would break; .findings; .edges")

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{escape(c)}</th>" for c in self.summary.columns)
        rows = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>"
                       for r in self.summary.iter_rows())
        cols = ["src", "dst", "dst_port", "protocol", "flows", "bytes", "ingress_reason",
                "egress_reason"]
        top = self.denied(10).select(cols)
        drows = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>"
                        for r in top.iter_rows())
        dhead = "".join(f"<th>{escape(c)}</th>" for c in cols)
        frows = "".join("<tr>" + "".join(f"<td>{escape(str(v))}</td>" for v in r) + "</tr>"
                        for r in self.findings.iter_rows())
        return (f"<div><b>Policy replay</b> ({self.policies} policies, {self.edges.height} "
                f"edges)<table><tr>{head}</tr>{rows}</table><b>Top denied edges</b>"
                f"<table><tr>{dhead}</tr>{drows}</table><b>Policy findings</b><table><tr>"
                f"<th>policy</th><th>finding</th><th>detail</th></tr>{frows}</table></div>")


def _snapshot_edges(snap: Snapshot, classes: pl.DataFrame) -> pl.DataFrame:
    """:func:`aggregate_edges` of the snapshot's resolved flows, summed first per endpoint
    pair, port and protocol on integer ids (``resolve_groups``, a slice of parts at a time
    like a flow matrix): ~2x cheaper than grouping every record by names."""
    from toolkit.core import InventoryIndex
    from toolkit.core.matrix import flow_slices
    from toolkit.core.resolve import has_stamped_identities, resolve_groups

    groups = resolve_groups(snap.flows, InventoryIndex.build(snap),
                            identities=has_stamped_identities(snap),
                            columns=("pod_uid", "service_namespace", "service"),
                            slices=flow_slices(snap))
    return aggregate_edges(groups.lazy(), classes)


def replay(snap: Snapshot, policies: pl.DataFrame | pl.LazyFrame | None = None, *,
           flows: pl.LazyFrame | None = None) -> ReplayResult:
    """Replay the snapshot's resolved flows against its own NetworkPolicies, or against
    ``policies`` (a ``network_policies`` table, e.g. proposed ones).

    ``flows`` may pass already resolved flows (:func:`toolkit.core.resolve_flows`); by
    default the snapshot's flows are resolved and summed per endpoint pair first.
    """
    table = snap.network_policies if policies is None else policies
    model = parse_policies(table)
    eps, classes = endpoint_classes(snap, model)
    edges = (aggregate_edges(flows, classes) if flows is not None
             else _snapshot_edges(snap, classes))
    verdicts, found = evaluate_edges(edges, eps, model)
    return ReplayResult(verdicts, found, len(model), policies is not None)
