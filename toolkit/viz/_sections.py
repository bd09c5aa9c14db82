"""The report's sections, each computed from a snapshot with the core's public functions.

A section builder returns a :class:`~toolkit.viz.report.Section` or ``None`` (nothing to show);
an analysis that is not installed in this version is left out with a note rather than faked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import timedelta
from functools import cached_property
from typing import Any

import polars as pl

from toolkit.summary import inventory_summary
from toolkit.viz import interactive as vi
from toolkit.viz._labels import human_bytes
from toolkit.viz.data import segments_from_membership
from toolkit.viz.report import FigureWriter, Section, frame_table, kv_table, text

_BUCKETS = (("1m", 60), ("5m", 300), ("15m", 900), ("1h", 3600), ("6h", 21600), ("1d", 86400))


def bucket_for(span: timedelta | None, target: int = 24) -> str:
    """A bucket size giving about ``target`` buckets over ``span``.

    >>> bucket_for(timedelta(hours=24)), bucket_for(timedelta(minutes=30))
    ('1h', '5m')
    """
    if span is None:
        return "1h"
    seconds = span.total_seconds() / target
    for name, size in _BUCKETS:
        if size >= seconds:
            return name
    return "1d"


class Context:
    """A snapshot plus the matrices the sections share (each computed once, on demand)."""

    def __init__(self, snap: Any, figures: FigureWriter, top_n: int = 30):
        from toolkit.core import InventoryIndex

        self.snap = snap
        self.figure = figures
        self.top_n = top_n
        self.notes: list[str] = []
        self.index = InventoryIndex.build(snap)

    def matrix(self, src: str, dst: str, **kwargs: Any) -> Any:
        from toolkit.core import flow_matrix

        return flow_matrix(self.snap, src, dst, index=self.index, **kwargs)

    @cached_property
    def namespaces(self) -> Any:
        return self.matrix("namespace", "namespace")

    @cached_property
    def has_flows(self) -> bool:
        return self.namespaces.frame.height > 0


def optional(module: str, name: str) -> Callable[..., Any] | None:
    """``module.name`` when that analysis is installed, else None (only a missing module or
    attribute counts as "not installed"; other import errors propagate)."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None
        raise
    return getattr(found, name, None)


def summary(ctx: Context) -> Section:
    info = inventory_summary(ctx.snap)
    rows = [(k.replace("_", " "), v) for k, v in info.items()]
    where = str(ctx.snap.path) if ctx.snap.path else "in memory"
    rows.insert(1, ("snapshot", where))
    rows.insert(2, ("captured at", ctx.snap.captured_at))
    return Section("summary", "Summary", "What the snapshot holds: inventory sizes and the "
                   "time window of its flow records.", kv_table(rows))


def namespace_overview(snap: Any) -> pl.DataFrame:
    """One row per namespace (from any inventory table): pods, workloads, services,
    NetworkPolicies and the namespace's labels as ``key=value`` text; largest first."""
    def count(frame: pl.LazyFrame, name: str, expr: pl.Expr) -> pl.LazyFrame:
        return frame.group_by(pl.col("namespace")).agg(expr.alias(name))

    labels = snap.namespaces.select(
        pl.col("name").alias("namespace"),
        pl.col("labels").list.eval(pl.element().struct.field("key") + "="
                                   + pl.element().struct.field("value")).list.join(", ")
        .alias("labels"))
    parts = [count(snap.pods, "pods", pl.col("uid").n_unique()),
             count(snap.pods, "workloads",
                   pl.struct("workload_kind", "workload_name").n_unique()),
             count(snap.services, "services", pl.len()),
             count(snap.network_policies, "policies", pl.len())]
    names = pl.concat([labels.select("namespace"), *[p.select("namespace") for p in parts]]
                      ).unique()
    out = names
    for part in [*parts, labels]:
        out = out.join(part, on="namespace", how="left")
    numbers = ["pods", "workloads", "services", "policies"]
    return (out.with_columns(pl.col(numbers).fill_null(0).cast(pl.Int64))
            .sort(["pods", "namespace"], descending=[True, False]).collect())


def inventory(ctx: Context) -> Section | None:
    table = namespace_overview(ctx.snap)
    if table.height == 0:
        return None
    return Section("inventory", "Namespaces", "Each namespace's pods, workloads, services and "
                   "NetworkPolicies, with its labels.", frame_table(table, max_rows=60))


def coverage(ctx: Context) -> Section:
    cov = ctx.namespaces.coverage
    d = cov.as_dict()
    rows = [("flow records", cov.records), ("bytes", human_bytes(cov.bytes)),
            ("window", f"{cov.window_start:%Y-%m-%d %H:%M:%S} → {cov.window_end:%Y-%m-%d %H:%M:%S}"
             " UTC" if cov.window_start else None),
            ("resolved sources", f"{d['src_resolved_pct']}%"),
            ("resolved destinations", f"{d['dst_resolved_pct']}%"),
            ("external endpoints (of all sides)", f"{d['external_pct']}%"),
            ("unknown in-cluster (of all sides)", f"{d['unknown_in_cluster_pct']}%"),
            ("oriented by", ", ".join(f"{k} {v}%" for k, v in d["oriented_pct"].items())
             or None),
            ("identity disagreements", f"{cov.id_disagree:,} of {cov.id_checked:,} checked")]
    return Section("coverage", "Coverage", "How much of the picture rests on resolved, oriented "
                   "records: read the figures below with these shares in mind.", kv_table(rows))


def namespace_heatmap(ctx: Context) -> Section | None:
    if not ctx.has_flows:
        return None
    fig = vi.heatmap(ctx.namespaces, top_n=ctx.top_n,
                     title="Bytes between namespaces (rows: clients, columns: servers)")
    return Section("namespaces", "Namespace × namespace", "Client namespace (rows) to server "
                   "namespace (columns); the diagonal stays inside a namespace. Colour is "
                   "logarithmic; hover for bytes, packets and flow records.", ctx.figure(fig))


def workload_service(ctx: Context) -> Section | None:
    if not ctx.has_flows:
        return None
    m = ctx.matrix("workload", "service")
    fig = vi.heatmap(m, top_n=ctx.top_n, title="Bytes from workloads to services")
    return Section("workload-service", "Workload → service", f"Pod-to-service traffic by "
                   f"client workload, grouped by namespace; the {ctx.top_n} heaviest rows and "
                   "columns, the rest summed into “other”.", ctx.figure(fig))


def cross_namespace(ctx: Context) -> Section | None:
    if not ctx.has_flows:
        return None
    frame = ctx.namespaces.frame
    cross = frame.filter(pl.col("src_namespace").is_null() | pl.col("dst_namespace").is_null()
                         | (pl.col("src_namespace") != pl.col("dst_namespace")))
    total = float(frame["bytes"].sum() or 0)
    share = float(cross["bytes"].sum() or 0) / total if total else 0.0
    fig = vi.sankey(ctx.namespaces, title="Traffic crossing namespaces (bytes)")
    table = frame_table(cross.select(
        pl.coalesce("src_namespace", pl.lit("[") + pl.col("src_kind") + "]").alias("client"),
        pl.coalesce("dst_namespace", pl.lit("[") + pl.col("dst_kind") + "]").alias("server"),
        "bytes", "packets", "flows").sort("bytes", descending=True), max_rows=15)
    return Section("cross-namespace", "Cross-namespace flows", f"{share:.1%} of the bytes cross "
                   "a namespace boundary (external endpoints included).",
                   ctx.figure(fig) + table)


def over_time(ctx: Context) -> Section | None:
    window = ctx.snap.flow_window()
    if not ctx.has_flows or window is None:
        return None
    bucket = bucket_for(window[1] - window[0])
    m = ctx.matrix("namespace", "namespace", bucket=bucket)
    if m.frame["bucket"].n_unique() < 2:
        return None
    fig = vi.timeseries(m, cross_only=True,
                        title=f"Cross-namespace bytes per {bucket} bucket, heaviest pairs")
    return Section("over-time", "Traffic over time", "Cross-namespace pairs per time bucket "
                   "(stacked); spikes and new pairs stand out here.", ctx.figure(fig))


def boundaries(ctx: Context) -> Section | None:
    propose = optional("toolkit.core.boundaries", "propose_boundaries")
    if propose is None:
        ctx.notes.append("Candidate boundaries are not available in this kseg version.")
        return None
    if not ctx.has_flows:
        return None
    result = propose(ctx.snap)
    pick = best_candidate(result.candidates)
    segs = segments_from_membership(result.membership(pick), ["namespace", "workload"])
    m = ctx.matrix("workload", "workload")
    graph = vi.segment_graph(m, segments=segs, title=f"Candidate segments ({pick}) and the "
                             "heaviest edges crossing them")
    heat = vi.heatmap(m, segments=segs, top_n=max(ctx.top_n, 40),
                      title=f"Workload × workload, ordered by candidate segment ({pick})")
    notes = "".join(f"<div class='note'>{text(n)}</div>" for n in result.notes)
    return Section("boundaries", "Candidate segment boundaries", "Segmentations found in the "
                   "traffic (Louvain at several resolutions) next to namespace and label "
                   f"baselines; figures show {pick}, the candidate with the lowest share of "
                   "bytes crossing among those with several segments. The scores leave out "
                   "shared services and non-pod endpoints; the graph shows them as their own "
                   "nodes.",
                   notes + frame_table(result.candidates) + ctx.figure(graph)
                   + ctx.figure(heat) + "<h3>Shared services</h3>"
                   + (frame_table(result.shared.select(pl.exclude("^.*_namespaces$")))
                      if result.shared.height else "<p class='lead'>none recognised</p>"))


def policy(ctx: Context) -> Section | None:
    replay = optional("toolkit.policy", "replay")
    exposure = optional("toolkit.policy", "exposure")
    if replay is None or exposure is None:
        ctx.notes.append("Policy replay is not available in this kseg version.")
        return None
    if not ctx.has_flows:
        return None
    result = replay(ctx.snap)
    paths = exposure(ctx.snap, "namespace", replayed=result)
    body = [kv_table([("NetworkPolicies", result.policies)]), frame_table(result.summary)]
    if result.policies == 0:
        body.append("<div class='note'>The snapshot has no NetworkPolicies: no pod is "
                    "isolated, every path is allowed.</div>")
    body.append(ctx.figure(vi.exposure(paths, title="Allowed by policy versus observed, "
                                                    "namespace level")))
    body.append(frame_table(paths.by_status()))
    denied = result.denied(15)
    cols = [c for c in ("src", "dst", "dst_port", "protocol", "flows", "bytes",
                        "ingress_reason", "egress_reason") if c in denied.columns]
    body.append("<h3>Observed traffic the policies deny</h3>")
    body.append(frame_table(denied.select(cols)) if denied.height
                else "<p class='lead'>none</p>")
    body.append("<h3>Policy findings</h3>")
    body.append(frame_table(result.findings) if result.findings.height
                else "<p class='lead'>none</p>")
    return Section("policy", "Policy findings", "The observed flows replayed against the "
                   "snapshot's NetworkPolicies: what they allow, what they deny, which allowed "
                   "paths nobody uses (tightening candidates), and policies that select "
                   "nothing.", "".join(body))


def best_candidate(candidates: pl.DataFrame) -> str:
    """The Louvain candidate (else any) with more than one segment and the lowest crossing
    share of bytes; ties broken by fewer allow rules.

    >>> best_candidate(pl.DataFrame({"candidate": ["namespace", "louvain@1"],
    ...     "n_segments": [3, 4], "cross_bytes_share": [0.2, 0.1], "allow_rules": [5, 6]}))
    'louvain@1'
    """
    many = candidates.filter(pl.col("n_segments") > 1)
    louvain = many.filter(pl.col("candidate").str.starts_with("louvain@"))
    pool = louvain if louvain.height else (many if many.height else candidates)
    return pool.sort(["cross_bytes_share", "allow_rules", "candidate"]).row(0, named=True)[
        "candidate"]


BUILDERS: tuple[Callable[[Context], Section | None], ...] = (
    summary, coverage, inventory, namespace_heatmap, workload_service, cross_namespace, over_time,
    boundaries, policy,
)
