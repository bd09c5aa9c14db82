"""Labels, blocks and units shared by every figure-data builder (no plotting library here).

A flow matrix side is named by its key columns (``src_namespace``, ``src_workload``, ...); a
label joins them with ``/``; endpoints without keys (external classes) show their kind in
brackets, so nothing is dropped from a figure.
"""

from __future__ import annotations

from typing import Any

import polars as pl

MEASURES = ("bytes", "packets", "flows")
OTHER = "other"
OTHER_GROUP = "(other)"
_KIND_SUFFIX = ("_kind", "_workload_kind")
_UNITS = {"bytes": "bytes", "packets": "packets", "flows": "flow records"}


def unit(measure: str) -> str:
    """The unit an axis or colour bar shows for ``measure``."""
    return _UNITS.get(measure, measure)


def human_bytes(n: float | None) -> str:
    """Bytes as a short decimal string.

    >>> human_bytes(999), human_bytes(1_234_567)
    ('999 B', '1.2 MB')
    """
    if n is None:
        return "-"
    value = float(n)
    for suffix in ("B", "kB", "MB", "GB", "TB"):
        if abs(value) < 1000 or suffix == "TB":
            return f"{value:,.0f} {suffix}" if suffix == "B" else f"{value:,.1f} {suffix}"
        value /= 1000
    return f"{value:,.1f} PB"  # pragma: no cover


def human_count(n: float | None) -> str:
    """A count with thousands separators (``-`` for None)."""
    return "-" if n is None else f"{float(n):,.0f}"


def as_frame(matrix: Any) -> pl.DataFrame:
    """The long table behind ``matrix``: a FlowMatrix (``.frame``), a polars frame or lazy frame.

    >>> as_frame(pl.LazyFrame({"x": [1]})).height
    1
    """
    frame = getattr(matrix, "frame", matrix)
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        raise TypeError(f"expected a flow matrix or a polars frame, got {type(matrix).__name__}")
    return frame


def side_keys(frame: pl.DataFrame, side: str) -> list[str]:
    """The key columns of one side (``src`` or ``dst``): its string columns, kinds excluded.

    >>> side_keys(pl.DataFrame({"src_namespace": ["a"], "src_workload": ["w"],
    ...                         "src_workload_kind": ["Deployment"], "src_kind": ["pod"]}), "src")
    ['src_namespace', 'src_workload']
    """
    prefix = f"{side}_"
    return [name for name, dtype in frame.schema.items()
            if name.startswith(prefix) and dtype == pl.String
            and not name.endswith(_KIND_SUFFIX)]


def check_matrix(frame: pl.DataFrame, measure: str) -> None:
    if measure not in frame.columns:
        raise ValueError(f"the matrix has no {measure!r} column (columns: {frame.columns})")
    for side in ("src", "dst"):
        if not side_keys(frame, side) and f"{side}_kind" not in frame.columns:
            raise ValueError(f"the matrix has no {side}_* key column (columns: {frame.columns})")


def label_expr(frame: pl.DataFrame, side: str, keys: list[str] | None = None) -> pl.Expr:
    """One display label per row of a side: its keys joined by ``/``; endpoints without keys
    (external classes, nodes without names) fall back to their kind in brackets."""
    keys = side_keys(frame, side) if keys is None else keys
    kind = f"{side}_kind"
    fallback = (pl.lit("[") + pl.col(kind).cast(pl.String) + pl.lit("]")
                if kind in frame.columns else pl.lit(None, pl.String))
    if not keys:
        return pl.coalesce(fallback, pl.lit("[unknown]"))
    joined = pl.concat_str([pl.col(k) for k in keys], separator="/", ignore_nulls=True)
    joined = pl.when(joined == "").then(None).otherwise(joined)
    return pl.coalesce(joined, fallback, pl.lit("[unknown]"))


def group_expr(frame: pl.DataFrame, side: str, keys: list[str] | None = None) -> pl.Expr:
    """The block a label belongs to by default: its first key (the namespace) when the side has
    several keys, else the label itself (every namespace or segment is its own block)."""
    keys = side_keys(frame, side) if keys is None else keys
    if len(keys) > 1:
        return pl.coalesce(pl.col(keys[0]), label_expr(frame, side, keys))
    return label_expr(frame, side, keys)


def measures_of(frame: pl.DataFrame) -> list[str]:
    return [m for m in MEASURES if m in frame.columns]


def labelled(frame: pl.DataFrame, segments: pl.DataFrame | None = None) -> pl.DataFrame:
    """The matrix with ``_src``/``_dst`` labels and ``_src_group``/``_dst_group`` blocks.

    ``segments`` (optional) maps labels to blocks: a frame with columns ``label`` and
    ``segment`` (e.g. from :func:`segments_from_membership`); unmapped labels keep their
    default block.
    """
    out = frame.with_columns(
        label_expr(frame, "src").alias("_src"), label_expr(frame, "dst").alias("_dst"),
        group_expr(frame, "src").alias("_src_group"),
        group_expr(frame, "dst").alias("_dst_group"),
    )
    if segments is not None:
        seg = segments.select(pl.col("label").cast(pl.String), pl.col("segment").cast(pl.String))
        for side in ("src", "dst"):
            out = (out.join(seg.rename({"label": f"_{side}", "segment": "_seg"}),
                            on=f"_{side}", how="left")
                   .with_columns(pl.coalesce("_seg", f"_{side}_group").alias(f"_{side}_group"))
                   .drop("_seg"))
    return out



