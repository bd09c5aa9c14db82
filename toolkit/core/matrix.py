"""Flow matrices: resolved, oriented records aggregated by (src level, dst level).

``flow_matrix`` is built from three pieces so that it scales out unchanged (Dask runs the
middle one on each flow partition):

1. :class:`~toolkit.core.inventory.InventoryIndex` — small lookups, built once;
2. :func:`partial_matrix` — a pure function: one flow partition → group-by sums plus the
   counts coverage needs (kinds, orientation rule, identity checks, min start / max end);
3. :func:`combine_partials` — exact merge (sums, min/max) → :class:`FlowMatrix`.

Output columns per level and side (``src_`` shown): namespace → ``src_namespace``; workload →
``src_namespace, src_workload, src_workload_kind``; service → ``src_namespace, src_service``
(at dst the service's namespace); pod → ``src_namespace, src_pod``; node → ``src_node``;
segment → ``src_segment``; external → nothing more. Always ``src_kind``/``dst_kind`` (pod,
service, node or an address class), so non-pod endpoints keep their own rows with null names;
``bucket`` first when time buckets are asked; measures ``bytes``, ``packets``, ``flows``
(records).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from html import escape
from pathlib import Path
from typing import Any

import polars as pl

from toolkit import schema
from toolkit._store import FLOWS_DIR
from toolkit.core.coverage import Coverage
from toolkit.core.dedupe import dedupe_reporters, find_twins
from toolkit.core.endpoints import (
    PORTS,
    attribution_table,
    endpoint_table,
    ip_table,
    packed_key,
    resolve_ids,
    unpacked,
)
from toolkit.core.inventory import InventoryIndex
from toolkit.core.orient import rule_names
from toolkit.core.resolve import (
    ID_COLUMNS,
    attach_names,
    has_stamped_identities,
    identity_checked,
    identity_disagrees,
    stamped_fallback,
    window_filter,
)
from toolkit.core.segments import segment_membership
from toolkit.errors import KsegError
from toolkit.snapshot import Snapshot

LEVELS: dict[str, tuple[str, ...]] = {
    "namespace": ("namespace",),
    "workload": ("namespace", "workload", "workload_kind"),
    "service": ("namespace", "service"),
    "pod": ("namespace", "pod"),
    "node": ("node",),
    "segment": ("segment",),
    "external": (),
}
MEASURES = ("bytes", "packets", "flows")
_COUNTS = ("id_checked", "id_disagree")


@dataclass(frozen=True, eq=False)
class MatrixSpec:
    """What to aggregate; picklable (the segment membership is a small frame)."""

    src: str = "namespace"
    dst: str = "namespace"
    as_recorded: bool = False
    window: tuple[Any, Any] | str | None = None
    bucket: str | None = None
    namespaces: tuple[str, ...] | None = None
    segments: str | None = None
    membership: pl.DataFrame | None = None
    dedupe: bool = True
    identities: bool = True  # compare source-stamped identities (off: none in these flows)

    def __post_init__(self) -> None:
        for side in (self.src, self.dst):
            if side not in LEVELS:
                raise KsegError(f"unknown matrix level {side!r}",
                                hint=f"use one of {', '.join(LEVELS)}")
        if "segment" in (self.src, self.dst) and self.membership is None:
            raise KsegError("the segment level needs a segment strategy",
                            hint="pass segments='namespace', 'label:app', 'illumio', ...")

    @property
    def keys(self) -> list[str]:
        """Output key columns, in order."""
        cols = ["bucket"] if self.bucket else []
        cols += [f"src_{c}" for c in LEVELS[self.src]] + [f"dst_{c}" for c in LEVELS[self.dst]]
        return [*cols, "src_kind", "dst_kind"]


def _segment_expr(side: str) -> pl.Expr:
    kind = pl.col(f"{side}_kind")
    return (pl.when(kind == "pod").then(pl.col(f"_{side}_seg").fill_null("unassigned"))
            .when(kind == "node").then(pl.lit("node:") + pl.col(f"{side}_node").fill_null("?"))
            .when(kind == "service").then(pl.lit("service:") + pl.col(f"{side}_service_namespace")
                                          + "/" + pl.col(f"{side}_service"))
            .otherwise(kind))


def _level_columns(frame: pl.LazyFrame, spec: MatrixSpec) -> pl.LazyFrame:
    exprs = []
    for side, level in (("src", spec.src), ("dst", spec.dst)):
        if level == "service":
            exprs.append(pl.coalesce(f"{side}_service_namespace", f"{side}_namespace")
                         .alias(f"{side}_namespace"))
        if level == "segment":
            seg = spec.membership.select(pl.col("pod_uid").alias(f"{side}_pod_uid"),
                                         pl.col("segment").alias(f"_{side}_seg")).lazy()
            frame = frame.join(seg, on=f"{side}_pod_uid", how="left")
            exprs.append(_segment_expr(side).alias(f"{side}_segment"))
    return frame.with_columns(exprs) if exprs else frame


def _record_groups(flows: pl.LazyFrame, index: InventoryIndex, spec: MatrixSpec,
                   ips: pl.DataFrame) -> pl.DataFrame:
    """Stage 1 over the records (streaming): sums by endpoint ids, orientation, service key,
    stamped identity and bucket: integers and a few mostly-null strings, no names yet."""
    frame = resolve_ids(flows, index, ips.lazy(), as_recorded=spec.as_recorded)
    ids = list(ID_COLUMNS) if spec.identities else []
    packed = ["src_eid", "dst_eid", "dst_port", "orientation"]
    keys = [packed_key(packed), *ids]  # one Int128 column: the group-by holds less
    if spec.bucket:
        frame = frame.with_columns(pl.col("start").dt.truncate(spec.bucket).alias("bucket"))
        keys.append("bucket")
    return (frame.group_by(keys)
            .agg(pl.col("bytes").sum(), pl.col("packets").sum(),
                 pl.len().cast(pl.Int64).alias("flows"),
                 pl.col("start").min().alias("start_min"), pl.col("end").max().alias("end_max"))
            .collect(engine="streaming")
            .with_columns(unpacked(packed, {"orientation": pl.UInt8}))
            .with_columns((pl.col("dst_eid") * PORTS + pl.col("dst_port")).alias("dst_akey"))
            .drop("_key", "dst_port")
            .with_columns(pl.lit(None, pl.String).alias(c) for c in ID_COLUMNS if c not in ids))


def partial_matrix(flows: pl.LazyFrame, index: InventoryIndex, spec: MatrixSpec, *,
                   twins: pl.DataFrame | None = None) -> pl.DataFrame:
    """Aggregate one flow partition: the spec's keys plus ``orientation``, with the
    measures, identity counts and ``start_min``/``end_max``.

    Two stages: records → sums by integer endpoint ids (streaming), then names, filters and
    levels on that small table. ``twins``: the dedupe's twin keys when the partition is a
    slice of a larger input (found over all of it); else they are found in ``flows``.
    """
    flows = window_filter(flows, spec.window)
    if spec.dedupe:
        found = twins if twins is not None else find_twins(flows, identities=spec.identities)
        flows = dedupe_reporters(flows, found)
    ips = ip_table(flows, index).collect(engine="streaming")
    groups = _record_groups(flows, index, spec, ips)
    frame = attach_names(groups.lazy(), endpoint_table(ips, index),
                         attribution_table(ips, index)).with_columns(rule_names())
    checked = identity_checked("src") | identity_checked("dst")
    disagree = identity_disagrees("src") | identity_disagrees("dst")
    frame = frame.with_columns(
        pl.when(checked).then(pl.col("flows")).otherwise(0).alias("id_checked"),
        pl.when(disagree).then(pl.col("flows")).otherwise(0).alias("id_disagree"))
    frame = frame.with_columns(*stamped_fallback("src"), *stamped_fallback("dst"))
    if spec.namespaces:
        wanted = list(spec.namespaces)
        frame = frame.filter(pl.col("src_namespace").is_in(wanted)
                             | pl.col("dst_namespace").is_in(wanted))
    frame = _level_columns(frame, spec)
    return (frame.group_by([*spec.keys, "orientation"])
            .agg(*(pl.col(c).sum().cast(pl.Int64) for c in (*MEASURES, *_COUNTS)),
                 pl.col("start_min").min(), pl.col("end_max").max())
            .collect())


def combine_partials(partials: Iterable[pl.DataFrame], spec: MatrixSpec | None = None
                     ) -> FlowMatrix:
    """Merge partial matrices exactly (sums; min/max for the window) into a FlowMatrix."""
    parts = [p for p in partials if p is not None]
    if not parts:
        raise KsegError("combine_partials needs at least one partial matrix")
    spec = spec or MatrixSpec()
    keys = spec.keys if spec is not None else [
        c for c in parts[0].columns if c not in (*MEASURES, *_COUNTS, "start_min", "end_max",
                                                 "orientation")]
    merged = (pl.concat(parts, how="vertical_relaxed")
              .group_by([*keys, "orientation"])
              .agg(*(pl.col(c).sum() for c in (*MEASURES, *_COUNTS)),
                   pl.col("start_min").min(), pl.col("end_max").max()))
    coverage = Coverage.from_partial(merged)
    frame = (merged.group_by(keys).agg(*(pl.col(c).sum() for c in MEASURES))
             .sort(["bytes", *keys], descending=[True] + [False] * len(keys), nulls_last=True))
    return FlowMatrix(frame, coverage, spec)


def _has_dst_reporters(flows: pl.LazyFrame) -> bool:
    return flows.filter(pl.col("reporter") == "dst").select(pl.len()).collect(
        engine="streaming").item() > 0


def flow_matrix(snap: Snapshot, src: str = "namespace", dst: str = "namespace", *,
                as_recorded: bool = False, window: Any = None, bucket: str | None = None,
                namespaces: Sequence[str] | None = None, segments: str | None = None,
                dedupe: bool = True, index: InventoryIndex | None = None) -> FlowMatrix:
    """Aggregate ``snap``'s flows into a long src → dst matrix with coverage.

    >>> import toolkit as kt
    >>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
    >>> m = flow_matrix(snap, src="workload", dst="service")
    >>> m.frame.columns[:5]
    ['src_namespace', 'src_workload', 'src_workload_kind', 'dst_namespace', 'dst_service']
    """
    if isinstance(namespaces, str):
        namespaces = [namespaces]
    needs_seg = "segment" in (src, dst)
    membership = segment_membership(snap, segments or "namespace") if needs_seg else None
    spec = MatrixSpec(src=src, dst=dst, as_recorded=as_recorded, window=window, bucket=bucket,
                      namespaces=tuple(namespaces) if namespaces else None, segments=segments,
                      membership=membership, dedupe=dedupe)
    index = index or InventoryIndex.build(snap)
    if dedupe and not _has_dst_reporters(snap.flows):
        spec = replace(spec, dedupe=False)  # nothing double-reported: skip the anti-join
    if not has_stamped_identities(snap):
        spec = replace(spec, identities=False)  # nothing stamped: nothing to compare
    slices = flow_slices(snap)
    if len(slices) <= 1:
        return combine_partials([partial_matrix(snap.flows, index, spec)], spec)
    records = sum(p["rows"] for p in snap.manifest["flows"]["parts"])
    twins = (find_twins(window_filter(snap.flows, spec.window),
                        buckets=-(-records // TWIN_ROWS), identities=spec.identities)
             if spec.dedupe else None)
    return combine_partials((partial_matrix(part, index, spec, twins=twins)
                             for part in slices), spec)


#: Flow records aggregated at a time, at most. polars' streaming group-by holds memory that
#: grows with its input even for a fixed number of groups (~920 MiB at 10M records, scale
#: 36), so larger snapshots are aggregated in slices of whole Parquet parts and the partial
#: matrices summed (exact).
SLICE_ROWS = 8_000_000
#: Flow records per bucket of the dedupe's twin search over a sliced snapshot (one bucket
#: held at a time, 9 bytes per record): 30M records take 2 passes.
TWIN_ROWS = 16_000_000


def flow_slices(snap: Snapshot, rows: int | None = None) -> list[pl.LazyFrame]:
    """``snap``'s flow parts grouped into as few scans of at most ``rows`` records as
    possible, of about equal size (a part larger than that is a slice of its own); empty
    when the snapshot is not on disk or has no more records than that.
    """
    limit = rows or SLICE_ROWS
    parts = snap.manifest.get("flows", {}).get("parts", []) if snap.path is not None else []
    total = sum(p["rows"] for p in parts)
    if total <= limit:
        return []
    # equal shares by position (30M at 8M: 4 x 7.5M, not 8 + 8 + 8 + 6), none over the limit
    shares = -(-total // limit)
    groups: list[list[str]] = [[]]
    filled = share = start = 0
    for part in parts:
        wanted = start * shares // total
        if groups[-1] and (wanted > share or filled + part["rows"] > limit):
            groups.append([])
            filled, share = 0, wanted
        groups[-1].append(str(Path(snap.path) / FLOWS_DIR / part["file"]))
        filled += part["rows"]
        start += part["rows"]
    return [schema.scan_parquet(files, "flows") for files in groups]


def _label(frame: pl.DataFrame, side: str, keys: list[str]) -> pl.Expr:
    cols = [c for c in keys if c.startswith(f"{side}_") and c not in (f"{side}_kind",
                                                                        f"{side}_workload_kind")]
    text = (pl.concat_str([pl.col(c).cast(pl.String) for c in cols], separator="/",
                          ignore_nulls=True) if cols else pl.lit(""))
    return pl.when(text.is_null() | (text == "")).then(pl.col(f"{side}_kind")).otherwise(text)


@dataclass(frozen=True, eq=False)
class FlowMatrix:
    """A long flow matrix (``.frame``) with its :class:`Coverage` and :class:`MatrixSpec`.

    Unknown attributes, ``m["col"]`` and ``len(m)`` go to ``.frame``, so ``m.sort("bytes")``
    and ``m["bytes"].sum()`` work as on a polars DataFrame (and return polars objects).
    """

    frame: pl.DataFrame
    coverage: Coverage
    spec: MatrixSpec

    def to_wide(self, value: str = "bytes", top: int | None = 20) -> pl.DataFrame:
        """A src × dst table of ``value`` for display (top sources and destinations by
        volume, the rest summed into ``other``)."""
        keys = self.spec.keys
        f = self.frame.with_columns(_label(self.frame, "src", keys).alias("src"),
                                    _label(self.frame, "dst", keys).alias("dst"))
        for side in ("src", "dst"):
            if top:
                best = (f.group_by(side).agg(pl.col(value).sum()).sort(value, descending=True)
                        .head(top).get_column(side))
                f = f.with_columns(pl.when(pl.col(side).is_in(best.implode())).then(side)
                                   .otherwise(pl.lit("other")).alias(side))
        order = f.group_by("dst").agg(pl.col(value).sum()).sort(value, descending=True)["dst"]
        wide = f.pivot(on="dst", index="src", values=value, aggregate_function="sum",
                       sort_columns=False)
        wide = wide.select("src", *[c for c in order if c in wide.columns])
        total = pl.sum_horizontal(pl.exclude("src"))
        return wide.with_columns(total.alias("_t")).sort("_t", descending=True).drop("_t")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or "frame" not in self.__dict__:
            raise AttributeError(name)
        return getattr(self.frame, name)

    def __getitem__(self, item: Any) -> Any:
        return self.frame[item]

    def __len__(self) -> int:
        return self.frame.height

    def __repr__(self) -> str:
        s = self.spec
        head = (f"<FlowMatrix {s.src} → {s.dst}: {self.frame.height:,} rows, "
                f"{int(self.frame['bytes'].sum() or 0):,} bytes"
                f"{' (as recorded)' if s.as_recorded else ''}>")
        return (f"{head}\n{self.frame.head(10)}\n{self.coverage.summary()}\n"
                "next: m.to_wide() for a grid, m.frame for the long table, m.coverage.as_dict()")

    def _repr_html_(self) -> str:
        s = self.spec
        title = escape(f"FlowMatrix {s.src} → {s.dst}: {self.frame.height:,} rows")
        return (f"<div><b>{title}</b>{self.frame.head(20)._repr_html_()}"
                f"{self.coverage._repr_html_()}</div>")
