"""What changed between two snapshots: objects, communication edges, exposure.

:func:`diff_snapshots` compares snapshot ``a`` (before) with ``b`` (after):

- ``objects``: namespaces, top-level workloads, services and NetworkPolicies added, removed or
  changed (compared by key; changed = a different spec, ports, selector, labels, ...; the
  ``fields`` column names what differs);
- ``edges``: communication edges that appeared or vanished at namespace, workload and service
  level, with their volumes on each side (from :func:`toolkit.core.flow_matrix`);
- ``external``: external destinations seen in ``b`` but not in ``a``;
- ``exposure``: workloads whose isolation for ingress / egress changed;
- ``allowed``: workload-level paths the policies now allow differently (opened, closed).

>>> import toolkit as kt
>>> from toolkit.core.diff import diff_snapshots
>>> d = diff_snapshots(kt.demo_data_path() / "demo-day1",
...                    kt.demo_data_path() / "demo-day2")        # doctest: +SKIP
>>> d.gate   # True when new cross-namespace or external edges appeared   # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from toolkit._io import write_table
from toolkit.core.batch import (
    SnapshotAnalysis,
    SnapshotLike,
    analyse_snapshot,
    as_snapshot,
    pod_isolation,
)
from toolkit.core.ipclass import EXTERNAL_CLASSES
from toolkit.snapshot import Snapshot

#: object -> (table, key columns, compared columns, Kubernetes kind or kind column)
OBJECTS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "namespace": ("namespaces", ("name",), ("labels",), "Namespace"),
    "workload": ("workloads", ("namespace", "kind", "name"),
                 ("labels", "template_labels", "selector"), "kind"),
    "service": ("services", ("namespace", "name"),
                ("type", "ports", "selector", "headless", "external_name", "labels"), "Service"),
    "policy": ("network_policies", ("namespace", "name"),
               ("pod_selector", "policy_types", "spec", "labels"), "NetworkPolicy"),
}
OBJECT_SCHEMA = pl.Schema({"object": pl.String, "namespace": pl.String, "kind": pl.String,
                           "name": pl.String, "change": pl.String,
                           "fields": pl.List(pl.String)})


def _objects(snap: Snapshot, obj: str) -> pl.DataFrame:
    table, key, fields, _ = OBJECTS[obj]
    frame = snap.table(table)
    if obj == "workload":  # top-level controllers only: ReplicaSets churn with every rollout
        frame = frame.filter(pl.col("owner_kind").is_null())
    return frame.select(*key, *fields).unique(subset=list(key), keep="last").collect()


def object_changes(a: Snapshot, b: Snapshot) -> pl.DataFrame:
    """Objects added, removed or changed from ``a`` to ``b``, one row each (sorted)."""
    frames = [_object_changes(a, b, obj) for obj in OBJECTS]
    return pl.concat(frames).sort("object", "namespace", "kind", "name", nulls_last=False)


def _object_changes(a: Snapshot, b: Snapshot, obj: str) -> pl.DataFrame:
    _, key, fields, kind = OBJECTS[obj]
    left = _objects(a, obj).with_columns(_a=pl.lit(True))
    right = _objects(b, obj).with_columns(_b=pl.lit(True))
    joined = left.join(right, on=list(key), how="full", coalesce=True, suffix="_new",
                       nulls_equal=True)
    differs = [pl.when(pl.col(f).ne_missing(pl.col(f"{f}_new"))).then(pl.lit(f))
               for f in fields]
    change = (pl.when(pl.col("_a").is_null()).then(pl.lit("added"))
              .when(pl.col("_b").is_null()).then(pl.lit("removed"))
              .otherwise(pl.lit("changed")))
    out = joined.with_columns(
        change=change,
        fields=pl.concat_list(differs).list.drop_nulls(),
    ).with_columns(
        fields=pl.when(pl.col("change") == "changed").then(pl.col("fields"))
        .otherwise(pl.lit([], dtype=pl.List(pl.String))))
    out = out.filter((pl.col("change") != "changed") | (pl.col("fields").list.len() > 0))
    return out.select(
        object=pl.lit(obj),
        namespace=pl.col("namespace") if "namespace" in key else pl.lit(None, pl.String),
        kind=pl.col(kind) if kind == "kind" else pl.lit(kind),
        name=pl.col("name"), change=pl.col("change"), fields=pl.col("fields"),
    ).cast(dict(OBJECT_SCHEMA))


def _workload_isolation(snap: Snapshot) -> pl.DataFrame:
    owners = (snap.pods.select("uid", "workload_kind", "workload_name")
              .unique(subset=["uid"], keep="last").collect())
    iso = pod_isolation(snap).filter(~pl.col("host_network")).join(owners, on="uid")
    return iso.group_by("namespace", "workload_kind", "workload_name").agg(
        pods=pl.len(),
        ingress=pl.col("isolated_ingress").all(),
        egress=pl.col("isolated_egress").all(),
    )


def exposure_changes(a: Snapshot, b: Snapshot) -> pl.DataFrame:
    """Workloads present on both sides whose isolation (all their pods isolated) changed.

    Columns: namespace, workload_kind, workload_name, ingress_isolated_a/_b,
    egress_isolated_a/_b. Added or removed workloads are in :func:`object_changes`.
    """
    key = ["namespace", "workload_kind", "workload_name"]
    joined = _workload_isolation(a).join(_workload_isolation(b), on=key, suffix="_b")
    return (joined.filter((pl.col("ingress") != pl.col("ingress_b"))
                          | (pl.col("egress") != pl.col("egress_b")))
            .select(*key, ingress_isolated_a="ingress", ingress_isolated_b="ingress_b",
                    egress_isolated_a="egress", egress_isolated_b="egress_b")
            .sort(key))


def _allowed_paths(snap: Snapshot) -> pl.DataFrame:
    from toolkit.policy.connectivity import connectivity

    return connectivity(snap, naming="workload").connections.select("src", "dst", "conn")


def allowed_path_changes(a: Snapshot, b: Snapshot) -> pl.DataFrame:
    """Workload-level paths the NetworkPolicies allow differently in ``b`` than in ``a``
    (``toolkit.policy.connectivity``): ``opened``, ``closed`` or ``changed`` (other ports).

    Only paths whose two endpoints (workloads, external ranges) exist on both sides are
    compared: the paths of an added or removed workload are implied by ``objects``.
    """
    pa, pb = _allowed_paths(a), _allowed_paths(b)

    def ends(frame: pl.DataFrame) -> pl.Series:
        return pl.concat([frame["src"], frame["dst"]]).unique()

    common = ends(pa).filter(ends(pa).is_in(ends(pb).implode()))
    joined = pa.join(pb, on=["src", "dst"], how="full", coalesce=True, suffix="_b")
    joined = joined.filter(pl.col("src").is_in(common.implode())
                           & pl.col("dst").is_in(common.implode())
                           & pl.col("conn").ne_missing(pl.col("conn_b")))
    change = (pl.when(pl.col("conn").is_null()).then(pl.lit("opened"))
              .when(pl.col("conn_b").is_null()).then(pl.lit("closed"))
              .otherwise(pl.lit("changed")))
    return joined.select("src", "dst", change.alias("change"), pl.col("conn").alias("allowed_a"),
                         pl.col("conn_b").alias("allowed_b")).sort("change", "src", "dst")


#: Edge level -> (matrix of the analysis, key columns, columns that must be non-null).
EDGE_LEVELS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "namespace": ("namespace", ("src_namespace", "dst_namespace"), ()),
    "workload": ("workload", ("src_namespace", "src_workload", "src_workload_kind",
                              "dst_namespace", "dst_workload", "dst_workload_kind"), ()),
    "service": ("service", ("src_namespace", "src_workload", "src_workload_kind",
                            "dst_namespace", "dst_service"), ("dst_service",)),
}
EDGE_SCHEMA = pl.Schema({
    "level": pl.String, "change": pl.String, "src": pl.String, "src_kind": pl.String,
    "dst": pl.String, "dst_kind": pl.String, "src_namespace": pl.String,
    "dst_namespace": pl.String, "cross_namespace": pl.Boolean, "external": pl.Boolean,
    "bytes_a": pl.Int64, "bytes_b": pl.Int64, "flows_a": pl.Int64, "flows_b": pl.Int64})


def _label(side: str, cols: tuple[str, ...]) -> pl.Expr:
    names = [c for c in cols if c.startswith(f"{side}_") and not c.endswith("_kind")]
    text = pl.concat_str([pl.col(c) for c in names], separator="/", ignore_nulls=True)
    return pl.when(text.is_null() | (text == "")).then(pl.col(f"{side}_kind")).otherwise(text)


def _level_edges(a: SnapshotAnalysis, b: SnapshotAnalysis, level: str) -> pl.DataFrame:
    matrix, cols, required = EDGE_LEVELS[level]
    keys = [*cols, "src_kind", "dst_kind"]

    def side(analysis: SnapshotAnalysis, tag: str) -> pl.DataFrame:
        frame = analysis.matrices[matrix].frame.drop_nulls(list(required))
        return frame.group_by(keys).agg(pl.col("bytes").sum().alias(f"bytes_{tag}"),
                                        pl.col("flows").sum().alias(f"flows_{tag}"))

    joined = side(a, "a").join(side(b, "b"), on=keys, how="full", coalesce=True,
                               nulls_equal=True)
    joined = joined.filter(pl.col("flows_a").is_null() | pl.col("flows_b").is_null())
    ext = list(EXTERNAL_CLASSES)
    return joined.select(
        level=pl.lit(level),
        change=pl.when(pl.col("flows_a").is_null()).then(pl.lit("appeared"))
        .otherwise(pl.lit("vanished")),
        src=_label("src", cols), src_kind="src_kind", dst=_label("dst", cols),
        dst_kind="dst_kind", src_namespace="src_namespace", dst_namespace="dst_namespace",
        cross_namespace=(pl.col("src_namespace") != pl.col("dst_namespace")).fill_null(False),
        external=pl.col("src_kind").is_in(ext) | pl.col("dst_kind").is_in(ext),
        bytes_a="bytes_a", bytes_b="bytes_b", flows_a="flows_a", flows_b="flows_b",
    ).cast(dict(EDGE_SCHEMA))


def edge_changes(a: SnapshotAnalysis, b: SnapshotAnalysis) -> pl.DataFrame:
    """Edges that appeared (only in ``b``) or vanished (only in ``a``) per level, with their
    volume on the side where they exist; sorted by level, change and volume."""
    frames = [_level_edges(a, b, level) for level in EDGE_LEVELS]
    order = {name: i for i, name in enumerate(EDGE_LEVELS)}
    return (pl.concat(frames)
            .with_columns(_o=pl.col("level").replace_strict(order, return_dtype=pl.Int32),
                          _v=pl.coalesce("bytes_b", "bytes_a").fill_null(0))
            .sort(["_o", "change", "_v", "src", "dst"], descending=[False, False, True, False,
                                                                    False])
            .drop("_o", "_v"))


def new_external(a: SnapshotAnalysis, b: SnapshotAnalysis) -> pl.DataFrame:
    """External destination addresses ``b`` reached that ``a`` never did, with who reached
    them (namespace, workload) and the volume."""
    seen = a.external.get_column("dst_ip").unique()
    return b.external.filter(~pl.col("dst_ip").is_in(seen.implode()))


@dataclass(frozen=True, eq=False)
class SnapshotDiff:
    """What changed from snapshot ``a`` to ``b``: tables ``objects``, ``edges``, ``external``,
    ``exposure``, ``allowed``; :attr:`gate` is True when new cross-namespace or external edges
    appeared."""

    a: str
    b: str
    objects: pl.DataFrame
    edges: pl.DataFrame
    external: pl.DataFrame
    exposure: pl.DataFrame
    allowed: pl.DataFrame

    TABLES = ("objects", "edges", "external", "exposure", "allowed")

    @property
    def gating_edges(self) -> pl.DataFrame:
        """Appeared edges that cross namespaces or touch an address outside the cluster."""
        return self.edges.filter((pl.col("change") == "appeared")
                                 & (pl.col("cross_namespace") | pl.col("external")))

    @property
    def gate(self) -> bool:
        return self.gating_edges.height > 0

    def counts(self) -> dict[str, Any]:
        """Numbers of changes per kind (a JSON-ready dict)."""
        objects = {f"{o}_{c}": n for o, c, n in self.objects.group_by(
            "object", "change").len().sort("object", "change").iter_rows()}
        edges = {f"{lv}_{c}": n for lv, c, n in self.edges.group_by(
            "level", "change").len().sort("level", "change").iter_rows()}
        return {"objects": objects, "edges": edges, "new_external": self.external.height,
                "exposure_changes": self.exposure.height,
                "allowed_path_changes": self.allowed.height,
                "gating_edges": self.gating_edges.height}

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready data (``kseg diff --json``)."""
        tables = {name: getattr(self, name).to_dicts() for name in self.TABLES}
        return {"a": self.a, "b": self.b, "gate": self.gate, "counts": self.counts(),
                **tables}

    def write(self, folder: str | Path, fmt: str = "parquet") -> list[Path]:
        """Write each table as ``folder/<table>.parquet`` (or ``.csv``)."""
        return [write_table(getattr(self, name), Path(folder) / f"{name}.{fmt}")
                for name in self.TABLES]

    def __repr__(self) -> str:
        c = self.counts()
        return (f"<SnapshotDiff {self.a} → {self.b}: objects {c['objects'] or 'none'}, "
                f"edges {c['edges'] or 'none'}, {c['new_external']} new external "
                f"destination rows, {c['exposure_changes']} exposure changes, "
                f"gate={'FAIL' if self.gate else 'pass'}>\n"
                "next: d.edges, d.objects, d.external, d.exposure (polars tables)")

    def _repr_html_(self) -> str:
        parts = [f"<div><b>Snapshot diff</b> {escape(self.a)} → {escape(self.b)}: "
                 f"gate <b>{'FAIL' if self.gate else 'pass'}</b>"]
        for name in self.TABLES:
            frame = getattr(self, name)
            parts.append(f"<h4>{escape(name)} ({frame.height})</h4>{frame.head(30)._repr_html_()}")
        return "".join(parts) + "</div>"


def _name(snap: Snapshot) -> str:
    return str(snap.path) if snap.path else f"{snap.cluster}@{snap.captured_at}"


def diff_snapshots(a: SnapshotLike, b: SnapshotLike, *, client: Any = None,
                   window: Any = None) -> SnapshotDiff:
    """Compare snapshot ``a`` (before) with ``b`` (after); paths or Snapshots. With a Dask
    ``client`` the flow analyses run on the cluster (identical results)."""
    snap_a, snap_b = as_snapshot(a), as_snapshot(b)
    if client is None:
        an_a, an_b = (analyse_snapshot(s, window=window) for s in (snap_a, snap_b))
    else:
        from toolkit import scale

        got = dict(scale.analyse_snapshots([snap_a, snap_b], client, window=window))
        an_a, an_b = got[0], got[1]
    return SnapshotDiff(_name(snap_a), _name(snap_b), object_changes(snap_a, snap_b),
                        edge_changes(an_a, an_b), new_external(an_a, an_b),
                        exposure_changes(snap_a, snap_b), allowed_path_changes(snap_a, snap_b))
