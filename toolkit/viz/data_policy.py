"""Figure data for policy results: the allowed-versus-observed grid of an exposure result.
Pure polars and numpy, no plotting library."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from toolkit.viz._labels import as_frame
from toolkit.viz.data import Axis, _fill, _order, _rank

#: Exposure statuses from least to most severe; a merged cell shows its most severe path.
EXPOSURE_STATUSES = ("allowed, unused", "used, allowed", "used, unresolved",
                     "used, partly denied", "used, denied")


@dataclass(frozen=True)
class ExposureData:
    """Allowed-versus-observed grid: ``codes[r, c]`` is 1 + the index of the cell's status in
    :data:`EXPOSURE_STATUSES` (0: neither allowed nor used)."""

    rows: Axis
    cols: Axis
    codes: np.ndarray
    flows: np.ndarray
    bytes: np.ndarray
    title: str


def exposure_data(result: Any, *, top_n: int | None = 40, title: str | None = None
                  ) -> ExposureData:
    """Exposure paths (``toolkit.policy.exposure``: ``src``, ``dst``, ``status``, flows,
    bytes) as a grid: rows and columns grouped by namespace, the ``top_n`` peers by volume
    (then by number of paths) kept and the rest merged into "other" (worst status wins)."""
    paths = as_frame(getattr(result, "paths", result))
    level = getattr(result, "level", "workload")
    code = pl.col("status").replace_strict(list(EXPOSURE_STATUSES),
                                           list(range(1, len(EXPOSURE_STATUSES) + 1)),
                                           default=0, return_dtype=pl.Int64)
    group = {s: pl.coalesce(pl.col(s).str.extract(r"^([^/\[]+)/", 1), pl.col(s))
             for s in ("src", "dst")}
    lab = paths.select(
        pl.col("src").alias("_src"), pl.col("dst").alias("_dst"),
        group["src"].alias("_src_group"), group["dst"].alias("_dst_group"), code.alias("code"),
        (pl.col("flows_allowed") + pl.col("flows_denied") + pl.col("flows_unresolved"))
        .cast(pl.Float64).alias("flows"), pl.col("bytes").cast(pl.Float64).fill_null(0),
        pl.lit(1.0).alias("paths"))
    weight = pl.col("bytes") + pl.col("paths")  # volume first, then how many paths
    totals = pl.concat([lab.select(pl.col(f"_{s}").alias("_label"),
                                   pl.col(f"_{s}_group").alias("_group"), weight.alias("_total"))
                        for s in ("src", "dst")]).group_by("_label").agg(
        pl.col("_group").first(), pl.col("_total").sum())
    mapped, _ = _rank(totals, top_n)
    order = _order(mapped)
    labels = order["_shown"].to_list()
    axis = {s: Axis(labels, order["_shown_group"].to_list(), order["_total"].to_list(),
                    f"{'client' if s == 'src' else 'server'} {level}") for s in ("src", "dst")}
    cells = lab
    for side in ("src", "dst"):
        cells = cells.join(mapped.select(pl.col("_label").alias(f"_{side}"),
                                         pl.col("_shown").alias(f"_{side}_shown")), on=f"_{side}")
    cells = cells.group_by("_src_shown", "_dst_shown").agg(
        pl.col("code").max().cast(pl.Float64), pl.col("flows").sum(), pl.col("bytes").sum())
    grids = _fill(cells, labels, labels, ["code", "flows", "bytes"])
    text = title or f"Allowed by policy versus observed, {level} level"
    return ExposureData(axis["src"], axis["dst"], grids["code"].astype(int), grids["flows"],
                        grids["bytes"], text)
