"""Figure data over time: traffic per time bucket (from a bucketed flow matrix) and the
figures of a snapshot series (from a batch summary). Pure polars, no plotting library.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> m = pl.DataFrame({"bucket": [datetime(2026, 1, 1, h, tzinfo=UTC) for h in (0, 2)],
...                   "src_namespace": ["a", "a"], "dst_namespace": ["b", "b"],
...                   "bytes": [5, 7], "packets": [1, 1], "flows": [1, 1]})
>>> series_data(m, every="1h").series["a → b"]
[5.0, 0.0, 7.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from toolkit.viz._labels import as_frame, check_matrix, labelled, unit
from toolkit.viz.data import _order, _rank


@dataclass(frozen=True)
class SeriesData:
    """Traffic per time bucket for the heaviest source → destination pairs."""

    buckets: list[Any]
    series: dict[str, list[float]]
    measure: str
    title: str
    bucket_seconds: float | None = None


def _all_buckets(values: pl.Series, every: str | None) -> pl.Series:
    """The distinct buckets, completed to a regular range when the bucket size is known."""
    present = values.unique().sort()
    if every is None or present.len() < 2 or not present.dtype.is_temporal():
        return present
    full = pl.datetime_range(present.min(), present.max(), every, eager=True,
                             time_unit=getattr(present.dtype, "time_unit", None) or "us",
                             time_zone=getattr(present.dtype, "time_zone", None))
    return pl.concat([full.cast(present.dtype), present]).unique().sort().alias(values.name)


def series_data(matrix: Any, *, measure: str = "bytes", top_n: int = 8, cross_only: bool = False,
                bucket: str = "bucket", every: str | None = None,
                title: str | None = None) -> SeriesData:
    """One series per ``source → destination`` pair over the matrix's time buckets; the
    ``top_n`` pairs by total, the rest summed as "other (K)"; empty buckets are zeros.

    ``every`` is the bucket size (a polars duration such as ``"1h"``); by default the one the
    FlowMatrix was built with. With it, buckets without any traffic are shown as zeros too.
    """
    every = every or getattr(getattr(matrix, "spec", None), "bucket", None)
    frame = as_frame(matrix)
    check_matrix(frame, measure)
    if bucket not in frame.columns:
        raise ValueError(f"the matrix has no {bucket!r} column: build it with a time bucket "
                         "(e.g. flow_matrix(..., bucket='1h'))")
    lab = labelled(frame)
    if cross_only:
        lab = lab.filter(pl.col("_src_group") != pl.col("_dst_group"))
    lab = lab.with_columns((pl.col("_src") + pl.lit(" → ") + pl.col("_dst")).alias("_pair"))
    totals = (lab.group_by(pl.col("_pair").alias("_label"))
              .agg(pl.col(measure).cast(pl.Float64).fill_null(0).sum().alias("_total"))
              .with_columns(pl.col("_label").alias("_group")))
    ranked, _ = _rank(totals, top_n)
    order = _order(ranked)["_shown"].to_list()
    buckets = _all_buckets(frame[bucket], every)
    long = (lab.join(ranked.select(pl.col("_label").alias("_pair"), "_shown"), on="_pair")
            .group_by("_shown", bucket)
            .agg(pl.col(measure).cast(pl.Float64).fill_null(0).sum().alias("_v")))
    grid = (pl.DataFrame({bucket: buckets}).join(long, on=bucket, how="left")
            .pivot(on="_shown", index=bucket, values="_v").sort(bucket).fill_null(0.0))
    series = {name: (grid[name].to_list() if name in grid.columns else [0.0] * grid.height)
              for name in order}
    step = None
    if buckets.len() > 1 and buckets.dtype.is_temporal():
        step = buckets.diff().drop_nulls().min().total_seconds()
    text = title or f"Traffic over time per pair ({unit(measure)} per bucket)"
    return SeriesData(grid[bucket].to_list(), series, measure, text, step)


@dataclass(frozen=True)
class TrendData:
    """Figures of a snapshot series against capture time, one panel per measure."""

    times: list[Any]
    series: dict[str, list[float | None]]
    labels: list[str]
    title: str


_TREND_DEFAULT = ("bytes", "cross_ns_bytes_share", "edges_workload", "pods",
                  "pct_isolated_ingress")


def trend_data(summary: Any, columns: tuple[str, ...] | list[str] | None = None, *,
               time: str = "captured_at", title: str | None = None) -> TrendData:
    """The numeric ``columns`` of a batch summary (``toolkit.core.batch``: ``.frame``, one row
    per snapshot) ordered by ``time``; by default volume, cross-namespace share, edges, pods
    and the share of pods isolated for ingress (those present)."""
    frame = as_frame(summary)
    if time not in frame.columns:
        raise ValueError(f"the summary has no {time!r} column (columns: {frame.columns})")
    wanted = list(columns) if columns else [c for c in _TREND_DEFAULT if c in frame.columns]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ValueError(f"the summary has no columns {missing} (columns: {frame.columns})")
    frame = frame.sort(time)
    labels = (frame["cluster"].cast(pl.String) if "cluster" in frame.columns
              else pl.Series([""] * frame.height))
    return TrendData(frame[time].to_list(),
                     {c: frame[c].cast(pl.Float64).to_list() for c in wanted},
                     labels.to_list(), title or f"Snapshot series: {frame.height} snapshots")
