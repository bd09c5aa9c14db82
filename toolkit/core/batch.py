"""Batch analysis of a series of snapshots: one summary row per snapshot.

Each row holds the inventory sizes, flow volume, cross-namespace share, distinct edges per
level, external destinations, policy coverage (pods isolated for ingress / egress) and the
coverage figures of the flow matrices, so a series of daily captures (or many clusters) can
be compared side by side and plotted as a trend.

>>> import toolkit as kt
>>> from toolkit.core.batch import batch_summary
>>> summary = batch_summary([kt.demo_data_path() / "demo-day1"])   # doctest: +SKIP
>>> summary.frame.select("cluster", "pods", "cross_ns_bytes_share")  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from toolkit.core.coverage import Coverage
from toolkit.core.dedupe import dedupe_reporters
from toolkit.core.inventory import InventoryIndex
from toolkit.core.ipclass import EXTERNAL_CLASSES
from toolkit.core.matrix import FlowMatrix, MatrixSpec, combine_partials, partial_matrix
from toolkit.core.resolve import resolve_frame, window_filter
from toolkit.errors import SnapshotError
from toolkit.policy.selectors import label_columns, selector_expr
from toolkit.snapshot import Snapshot, load_snapshot
from toolkit.summary import inventory_summary

#: Matrix levels a snapshot analysis computes: level -> (src level, dst level). The
#: namespace level is rolled up exactly from the workload partials (no extra pass).
LEVEL_SPECS = {"workload": ("workload", "workload"), "service": ("workload", "service")}
EXTERNAL_KEYS = ("src_namespace", "src_workload", "src_kind", "dst_ip", "dst_kind")


def current_pods(snap: Snapshot) -> pl.DataFrame:
    """One row per pod (by uid): namespace, name, uid, host_network, labels (latest row)."""
    return (snap.pods.select("namespace", "name", "uid", "host_network", "labels", "valid_from")
            .sort("valid_from", nulls_last=False)
            .group_by("uid", maintain_order=True).last()
            .drop("valid_from").sort("namespace", "name", "uid").collect())


def pod_isolation(snap: Snapshot) -> pl.DataFrame:
    """Per pod: is it isolated for ingress / egress by the snapshot's NetworkPolicies?

    A pod is isolated for a direction once any policy of its namespace selects it with that
    policy type (``networking.k8s.io/v1`` semantics). hostNetwork pods are listed but never
    isolated (NetworkPolicy does not apply to them).
    """
    pods = current_pods(snap).with_columns(label_columns(pl.col("labels"), "_kv", "_keys"))
    policies = snap.network_policies.select(
        "namespace", "name", "pod_selector", "policy_types").collect()
    ingress, egress = pl.lit(False), pl.lit(False)
    for ns, name, selector, types in policies.iter_rows():
        where = f"network policy {ns}/{name} field 'pod_selector'"
        hit = (pl.col("namespace") == ns) & _selector(selector, where)
        if "Ingress" in types:
            ingress = ingress | hit
        if "Egress" in types:
            egress = egress | hit
    pod_net = ~pl.col("host_network")
    return pods.select(
        "namespace", "name", "uid", "host_network",
        isolated_ingress=(ingress & pod_net), isolated_egress=(egress & pod_net))


def _selector(selector: str, where: str) -> pl.Expr:
    try:
        return selector_expr(selector, "_kv", "_keys", where=where)
    except ValueError as exc:  # json.JSONDecodeError
        raise SnapshotError(f"{where}: not a valid label selector ({exc})",
                            hint="re-import the inventory") from None


def inventory_sizes(snap: Snapshot) -> dict[str, Any]:
    """Inventory sizes (as :func:`toolkit.summary.inventory_summary` counts them: top-level
    workloads, distinct pods) and policy coverage of one snapshot; flows are not scanned.

    The isolation percentages are over pods on the pod network (hostNetwork pods excluded).
    """
    iso = pod_isolation(snap).filter(~pl.col("host_network"))
    ingress, egress = int(iso["isolated_ingress"].sum()), int(iso["isolated_egress"].sum())
    return {
        **inventory_summary(snap),
        "pods_isolated_ingress": ingress,
        "pods_isolated_egress": egress,
        "pct_isolated_ingress": _pct(ingress, iso.height),
        "pct_isolated_egress": _pct(egress, iso.height),
    }


def _pct(part: float, whole: float) -> float | None:
    return None if not whole else round(100.0 * part / whole, 4)


def has_dst_reporters(flows: pl.LazyFrame) -> bool:
    """Are there destination-side records (the only ones the reporter dedupe can drop)?"""
    return flows.filter(pl.col("reporter") == "dst").select(pl.len()).collect(
        engine="streaming").item() > 0


def analysis_specs(dedupe: bool, window: Any = None) -> dict[str, MatrixSpec]:
    """The matrix specs of a snapshot analysis (``dedupe`` as :func:`flow_matrix` decides)."""
    return {name: MatrixSpec(src=src, dst=dst, dedupe=dedupe, window=window)
            for name, (src, dst) in LEVEL_SPECS.items()}


def partial_external(flows: pl.LazyFrame, index: InventoryIndex, spec: MatrixSpec
                     ) -> pl.DataFrame:
    """External destinations of one flow partition: who (namespace, workload) reached which
    outside address (``dst_ip``, address class) after orientation, with bytes and records."""
    flows = window_filter(flows, spec.window)
    if spec.dedupe:
        flows = dedupe_reporters(flows)
    frame = resolve_frame(flows, index, as_recorded=spec.as_recorded)
    return (frame.filter(pl.col("dst_kind").is_in(list(EXTERNAL_CLASSES)))
            .group_by(list(EXTERNAL_KEYS))
            .agg(pl.col("bytes").sum(), pl.len().cast(pl.Int64).alias("flows"))
            .collect(engine="streaming"))


def analyse_partition(flows: pl.LazyFrame, index: InventoryIndex,
                      specs: dict[str, MatrixSpec]) -> dict[str, pl.DataFrame]:
    """Every partial a snapshot analysis needs, from one flow partition (a pure function:
    the single-machine path calls it on the whole table, Dask on each partition)."""
    parts = {name: partial_matrix(flows, index, spec) for name, spec in specs.items()}
    parts["external"] = partial_external(flows, index, specs["workload"])
    return parts


@dataclass(frozen=True, eq=False)
class SnapshotAnalysis:
    """Flow matrices at namespace, workload and workload→service level, plus the external
    destinations table, of one snapshot."""

    matrices: dict[str, FlowMatrix]
    external: pl.DataFrame

    @property
    def coverage(self) -> Coverage:
        return self.matrices["workload"].coverage


def combine_analysis(parts: Sequence[dict[str, pl.DataFrame]], specs: dict[str, MatrixSpec]
                     ) -> SnapshotAnalysis:
    """Merge the partials of every partition exactly (sums, min/max)."""
    matrices = {name: combine_partials([p[name] for p in parts], spec)
                for name, spec in specs.items()}
    wl = specs["workload"]
    ns_spec = MatrixSpec(src="namespace", dst="namespace", dedupe=wl.dedupe, window=wl.window)
    matrices = {"namespace": combine_partials([p["workload"] for p in parts], ns_spec),
                **matrices}
    keys = list(EXTERNAL_KEYS)
    external = (pl.concat([p["external"] for p in parts], how="vertical_relaxed")
                .group_by(keys).agg(pl.col("bytes").sum(), pl.col("flows").sum())
                .sort(["bytes", *keys], descending=[True] + [False] * len(keys),
                      nulls_last=True))
    return SnapshotAnalysis(matrices, external)


def analyse_snapshot(snap: Snapshot, *, window: Any = None,
                     index: InventoryIndex | None = None) -> SnapshotAnalysis:
    """The analysis of one snapshot on this machine (polars, streaming)."""
    index = index or InventoryIndex.build(snap)
    specs = analysis_specs(has_dst_reporters(snap.flows), window)
    return combine_analysis([analyse_partition(snap.flows, index, specs)], specs)


def _edges(frame: pl.DataFrame, cols: list[str]) -> int:
    named = frame.drop_nulls(cols)
    return named.select(pl.struct(cols).n_unique()).item() if named.height else 0


def flow_figures(analysis: SnapshotAnalysis) -> dict[str, Any]:
    """Volume, cross-namespace share, distinct edges per level, external destinations and
    coverage of one analysis (see docs/batch.md for each figure's definition)."""
    ns = analysis.matrices["namespace"].frame
    both = ns.drop_nulls(["src_namespace", "dst_namespace"])
    cross = both.filter(pl.col("src_namespace") != pl.col("dst_namespace"))
    cov = analysis.coverage.as_dict()
    wl_cols = ["src_namespace", "src_workload", "dst_namespace", "dst_workload"]
    return {
        "flow_records_analysed": cov["records"],
        "bytes": cov["bytes"],
        "cross_ns_bytes_share": _pct(cross["bytes"].sum(), both["bytes"].sum()),
        "cross_ns_flows_share": _pct(cross["flows"].sum(), both["flows"].sum()),
        "edges_namespace": _edges(both, ["src_namespace", "dst_namespace"]),
        "edges_workload": _edges(analysis.matrices["workload"].frame, wl_cols),
        "edges_service": _edges(analysis.matrices["service"].frame,
                                ["src_namespace", "src_workload", "dst_namespace",
                                 "dst_service"]),
        "external_ips": analysis.external["dst_ip"].n_unique(),
        "external_classes": analysis.external["dst_kind"].n_unique(),
        "pct_resolved": round((cov["src_resolved_pct"] + cov["dst_resolved_pct"]) / 2, 2),
        "pct_external": cov["external_pct"],
        "pct_unoriented": cov["oriented_pct"].get("unoriented", 0.0),
    }


def summary_row(snap: Snapshot, analysis: SnapshotAnalysis) -> dict[str, Any]:
    """One batch summary row: identity and window, inventory, policy coverage, flows."""
    sizes = inventory_sizes(snap)
    cov = analysis.coverage
    return {
        "snapshot": str(snap.path) if snap.path else None,
        "cluster": snap.cluster,
        "captured_at": snap.captured_at,
        "window_start": cov.window_start,
        "window_end": cov.window_end,
        **{k: v for k, v in sizes.items() if k not in ("cluster", "window_start",
                                                        "window_end")},
        **flow_figures(analysis),
    }


SnapshotLike = Snapshot | str | Path


def as_snapshot(snap: SnapshotLike) -> Snapshot:
    """A Snapshot as is; a path is loaded."""
    return snap if isinstance(snap, Snapshot) else load_snapshot(snap)


def batch_summary(snapshots: Iterable[SnapshotLike], client: Any = None, *,
                  window: Any = None,
                  on_done: Callable[[int, Snapshot], None] | None = None) -> BatchSummary:
    """One summary row per snapshot (input order), computed locally or on a Dask ``client``
    (:mod:`toolkit.scale`; identical results). ``on_done(i, snap)`` reports progress."""
    snaps = [as_snapshot(s) for s in snapshots]
    if not snaps:
        raise SnapshotError("batch needs at least one snapshot")
    rows: dict[int, dict[str, Any]] = {}
    if client is None:
        results = ((i, analyse_snapshot(s, window=window)) for i, s in enumerate(snaps))
    else:
        from toolkit import scale

        results = scale.analyse_snapshots(snaps, client, window=window)
    for i, analysis in results:
        rows[i] = summary_row(snaps[i], analysis)
        if on_done:
            on_done(i, snaps[i])
    frame = pl.DataFrame([rows[i] for i in range(len(snaps))], infer_schema_length=None)
    return BatchSummary(frame.with_columns(pl.col("captured_at", "window_start", "window_end")
                                           .cast(pl.Datetime("ns", "UTC"))))


@dataclass(frozen=True, eq=False)
class BatchSummary:
    """The batch summary table (``.frame``, one row per snapshot) for notebooks and reports."""

    frame: pl.DataFrame

    def trend(self, *columns: str) -> pl.DataFrame:
        """Selected figures against ``captured_at`` (for a trend plot)."""
        cols = columns or ("bytes", "cross_ns_bytes_share", "edges_workload", "pods",
                           "pct_isolated_ingress")
        return self.frame.select("cluster", "captured_at", *cols)

    def __repr__(self) -> str:
        return (f"<BatchSummary: {self.frame.height} snapshot(s)>\n{self.frame}\n"
                "next: s.frame for the table, s.trend() for a trend view, "
                "kt.diff_snapshots(a, b) to see what changed between two of them")

    def _repr_html_(self) -> str:
        return (f"<div><b>Batch summary</b>: {self.frame.height} snapshot(s)"
                f"{self.frame._repr_html_()}</div>")
