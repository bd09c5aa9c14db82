"""Pure figure data: what a view shows, computed with polars, with no plotting library.

Every renderer in :mod:`toolkit.viz.mpl` and :mod:`toolkit.viz.interactive` takes a long flow
matrix (``src_*`` / ``dst_*`` key columns, measures ``bytes``, ``packets``, ``flows``, an
optional ``bucket`` column), turns it into one of the small objects here, and draws that. The
objects decide everything worth testing: which rows survive the top-N cut, what goes into the
"other" bucket, the order that makes segments form blocks, and the labels.

>>> import polars as pl
>>> m = pl.DataFrame({"src_namespace": ["a", "a", "b"], "dst_namespace": ["a", "b", "c"],
...                   "bytes": [10, 1000, 5], "packets": [1, 2, 3], "flows": [1, 1, 1]})
>>> hm = heatmap_data(m, top_n=2)
>>> hm.rows.labels, hm.cols.labels
(['a', 'b', 'other (1)'], ['a', 'b', 'other (1)'])
>>> int(hm.values["bytes"].sum())
1015
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from toolkit.viz._labels import (
    OTHER,
    OTHER_GROUP,
    as_frame,
    check_matrix,
    human_bytes,
    human_count,
    labelled,
    measures_of,
    side_keys,
    unit,
)


def segments_from_membership(membership: Any, keys: list[str], segment: str = "segment"
                             ) -> pl.DataFrame:
    """A ``label → segment`` frame from a membership table (keys joined by ``/`` as labels).

    >>> segments_from_membership(pl.DataFrame({"namespace": ["a"], "workload": ["w"],
    ...     "segment": ["s1"]}), ["namespace", "workload"]).row(0)
    ('a/w', 's1')
    """
    frame = as_frame(membership)
    label = pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="/",
                          ignore_nulls=True)
    return frame.select(label.alias("label"), pl.col(segment).cast(pl.String).alias("segment")
                        ).unique("label", keep="first", maintain_order=True)


@dataclass(frozen=True)
class Axis:
    """One axis of a heatmap: labels in display order, their block and their total."""

    labels: list[str]
    groups: list[str]
    totals: list[float]
    title: str

    def boundaries(self) -> list[int]:
        """Indexes where a new block starts (for separator lines), first excluded."""
        return [i for i in range(1, len(self.groups)) if self.groups[i] != self.groups[i - 1]]


@dataclass(frozen=True)
class HeatmapData:
    """A source × destination matrix ready to draw: ``values[measure][row, col]``."""

    rows: Axis
    cols: Axis
    values: dict[str, np.ndarray]
    measure: str
    title: str
    other_rows: int = 0
    other_cols: int = 0
    notes: list[str] = field(default_factory=list)


def _other_label(n: int) -> str:
    return f"{OTHER} ({n:,})"


def _rank(totals: pl.DataFrame, top_n: int | None) -> tuple[pl.DataFrame, int]:
    """Top-N labels by total; the rest mapped to one "other (K)" label in block ``other``."""
    ranked = totals.sort(["_total", "_label"], descending=[True, False])
    if top_n is None or ranked.height <= top_n:
        return ranked.with_columns(pl.col("_label").alias("_shown"),
                                   pl.col("_group").alias("_shown_group")), 0
    keep_n = max(top_n, 1)
    n_other = ranked.height - keep_n
    idx = pl.int_range(pl.len())
    return ranked.with_columns(
        pl.when(idx < keep_n).then("_label").otherwise(pl.lit(_other_label(n_other)))
        .alias("_shown"),
        pl.when(idx < keep_n).then("_group").otherwise(pl.lit(OTHER_GROUP)).alias("_shown_group"),
    ), n_other


def _order(shown: pl.DataFrame) -> pl.DataFrame:
    """Blocks by total (descending, "other" last), labels by total inside each block."""
    per_label = shown.group_by("_shown", "_shown_group").agg(pl.col("_total").sum())
    per_group = per_label.group_by("_shown_group").agg(pl.col("_total").sum().alias("_gtotal"))
    return (per_label.join(per_group, on="_shown_group")
            .with_columns((pl.col("_shown_group") == OTHER_GROUP).alias("_is_other"))
            .sort(["_is_other", "_gtotal", "_shown_group", "_total", "_shown"],
                  descending=[False, True, False, True, False]))


def _axis_totals(lab: pl.DataFrame, sides: list[str], measure: str) -> pl.DataFrame:
    parts = [lab.select(pl.col(f"_{s}").alias("_label"), pl.col(f"_{s}_group").alias("_group"),
                        pl.col(measure).cast(pl.Float64).fill_null(0).alias("_total"))
             for s in sides]
    return (pl.concat(parts).group_by("_label")
            .agg(pl.col("_group").first(), pl.col("_total").sum()))


def _is_square(frame: pl.DataFrame) -> bool:
    src = [k.removeprefix("src_") for k in side_keys(frame, "src")]
    dst = [k.removeprefix("dst_") for k in side_keys(frame, "dst")]
    return bool(src) and src == dst


def _level(frame: pl.DataFrame, side: str) -> str:
    keys = side_keys(frame, side)
    return keys[-1].removeprefix(f"{side}_") if keys else "endpoint"


def _follow(order: pl.DataFrame, row_groups: list[str]) -> pl.DataFrame:
    """Column blocks in the rows' block order (so same-named blocks line up), then the rest."""
    rank = {g: i for i, g in enumerate(dict.fromkeys(row_groups)) if g != OTHER_GROUP}
    ranks = pl.DataFrame({"_shown_group": list(rank), "_rank": list(rank.values())},
                         schema={"_shown_group": pl.String, "_rank": pl.Int64})
    return (order.with_row_index("_pos").join(ranks, on="_shown_group", how="left")
            .with_columns(pl.when(pl.col("_is_other")).then(len(rank) + 1)
                          .otherwise(pl.col("_rank").fill_null(len(rank))).alias("_rank"))
            .sort(["_rank", "_pos"]).drop("_pos", "_rank"))


def _title_of(keys: list[str], side: str) -> str:
    names = [k.removeprefix(f"{side}_") for k in keys] or ["endpoint"]
    return ("source " if side == "src" else "destination ") + " / ".join(names)


def heatmap_data(matrix: Any, *, measure: str = "bytes", top_n: int | None = 30,
                 segments: pl.DataFrame | None = None, title: str | None = None) -> HeatmapData:
    """Source × destination cells of ``matrix`` (time buckets summed).

    Rows and columns are ordered so that blocks (segments) are contiguous: blocks by volume,
    labels by volume inside a block. Only the ``top_n`` labels per axis by ``measure`` are kept;
    the rest are summed into one "other (K)" row/column drawn last. When both sides have the
    same keys (namespace × namespace, segment × segment) rows and columns share one order, so
    the diagonal holds the traffic that stays inside a block.
    """
    frame = as_frame(matrix)
    check_matrix(frame, measure)
    lab = labelled(frame, segments)
    square = _is_square(frame)
    mapped: dict[str, pl.DataFrame] = {}
    n_other: dict[str, int] = {}
    axes: dict[str, Axis] = {}
    for side in ("src", "dst"):
        if square and side == "dst":
            mapped["dst"], n_other["dst"] = mapped["src"], n_other["src"]
        else:
            sides = ["src", "dst"] if square else [side]
            mapped[side], n_other[side] = _rank(_axis_totals(lab, sides, measure), top_n)
        order = _order(mapped[side])
        if side == "dst" and not square:
            order = _follow(order, axes["src"].groups)
        axes[side] = Axis(order["_shown"].to_list(), order["_shown_group"].to_list(),
                          order["_total"].to_list(), _title_of(side_keys(frame, side), side))
    meas = measures_of(frame)
    cells = lab.select("_src", "_dst", *[pl.col(m).cast(pl.Float64).fill_null(0) for m in meas])
    for side in ("src", "dst"):
        cells = cells.join(mapped[side].select(pl.col("_label").alias(f"_{side}"),
                                               pl.col("_shown").alias(f"_{side}_shown")),
                           on=f"_{side}", how="left")
    cells = cells.group_by("_src_shown", "_dst_shown").agg([pl.col(m).sum() for m in meas])
    rows, cols = axes["src"], axes["dst"]
    values = _fill(cells, rows.labels, cols.labels, meas)
    text = title or f"{unit(measure).capitalize()} from {_level(frame, 'src')} to " \
                    f"{_level(frame, 'dst')}"
    return HeatmapData(rows, cols, values, measure, text, n_other["src"], n_other["dst"])


def _fill(cells: pl.DataFrame, rows: list[str], cols: list[str], meas: list[str]
          ) -> dict[str, np.ndarray]:
    ri = pl.DataFrame({"_src_shown": rows, "_r": range(len(rows))},
                      schema={"_src_shown": pl.String, "_r": pl.Int64})
    ci = pl.DataFrame({"_dst_shown": cols, "_c": range(len(cols))},
                      schema={"_dst_shown": pl.String, "_c": pl.Int64})
    idx = cells.join(ri, on="_src_shown").join(ci, on="_dst_shown")
    out = {}
    for m in meas:
        grid = np.zeros((len(rows), len(cols)))
        grid[idx["_r"].to_numpy(), idx["_c"].to_numpy()] = idx[m].to_numpy()
        out[m] = grid
    return out


def scale(values: Any, lo: float, hi: float) -> np.ndarray:
    """``values`` mapped linearly onto [lo, hi] (all equal → the middle).

    >>> scale([1, 2, 3], 0, 10).tolist()
    [0.0, 5.0, 10.0]
    """
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    span = values.max() - values.min()
    if span <= 0:
        return np.full(values.shape, (lo + hi) / 2)
    return lo + (values - values.min()) / span * (hi - lo)


def log_values(values: np.ndarray) -> np.ndarray:
    """log10 of positive cells, NaN for empty ones (drawn as background, not as "small").

    >>> log_values(np.array([0.0, 1000.0])).tolist()
    [nan, 3.0]
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(values > 0, np.log10(np.where(values > 0, values, 1)), np.nan)


def log_ticks(values: np.ndarray, measure: str) -> tuple[list[float], list[str]]:
    """Colour-bar ticks at powers of ten covering ``values`` (log10 positions, human text).

    >>> log_ticks(np.array([5.0, 20_000.0]), "bytes")
    ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], ['1 B', '10 B', '100 B', '1.0 kB', '10.0 kB', '100.0 kB'])
    """
    positive = values[values > 0]
    if positive.size == 0:
        return [], []
    lo = int(np.floor(np.log10(positive.min())))
    hi = int(np.ceil(np.log10(positive.max())))
    fmt = human_bytes if measure == "bytes" else human_count
    return [float(p) for p in range(lo, hi + 1)], [fmt(10.0 ** p) for p in range(lo, hi + 1)]


@dataclass(frozen=True)
class SankeyData:
    """Links between source labels (left) and destination labels (right)."""

    nodes: list[str]
    node_side: list[str]
    node_totals: list[float]
    sources: list[int]
    targets: list[int]
    values: dict[str, list[float]]
    measure: str
    title: str


def _side_totals(lab: pl.DataFrame, side: str, measure: str) -> pl.DataFrame:
    return (lab.group_by(pl.col(f"_{side}").alias("_label"))
            .agg(pl.col(f"_{side}_group").first().alias("_group"),
                 pl.col(measure).cast(pl.Float64).fill_null(0).sum().alias("_total")))


def sankey_data(matrix: Any, *, measure: str = "bytes", top_n: int | None = 15,
                cross_only: bool = True, title: str | None = None) -> SankeyData:
    """Flows from sources to destinations, ``top_n`` labels per side plus "other (K)".

    With ``cross_only`` (default) traffic that stays inside one block (same namespace, or same
    segment) is left out: the figure shows what crosses boundaries.
    """
    frame = as_frame(matrix)
    check_matrix(frame, measure)
    lab = labelled(frame)
    if cross_only:
        lab = lab.filter(pl.col("_src_group") != pl.col("_dst_group"))
    meas = measures_of(frame)
    shown = {}
    for side in ("src", "dst"):
        ranked, _ = _rank(_side_totals(lab, side, measure), top_n)
        shown[side] = ranked.select(pl.col("_label").alias(f"_{side}"),
                                    pl.col("_shown").alias(f"_{side}_shown"))
    links = (lab.join(shown["src"], on="_src").join(shown["dst"], on="_dst")
             .group_by("_src_shown", "_dst_shown")
             .agg([pl.col(m).cast(pl.Float64).fill_null(0).sum() for m in meas])
             .sort([measure, "_src_shown", "_dst_shown"], descending=[True, False, False]))
    nodes: list[str] = []
    sides: list[str] = []
    totals: list[float] = []
    index: dict[str, dict[str, int]] = {}
    for side in ("src", "dst"):
        per = (links.group_by(pl.col(f"_{side}_shown").alias("n"))
               .agg(pl.col(measure).sum().alias("t"))
               .with_columns(pl.col("n").str.starts_with(f"{OTHER} (").alias("o"))
               .sort(["o", "t", "n"], descending=[False, True, False]))
        index[side] = {n: len(nodes) + i for i, n in enumerate(per["n"].to_list())}
        nodes += per["n"].to_list()
        sides += [side] * per.height
        totals += per["t"].to_list()
    text = title or (f"{'Cross-boundary' if cross_only else 'All'} traffic, "
                     f"sources → destinations ({unit(measure)})")
    return SankeyData(nodes, sides, totals,
                      [index["src"][n] for n in links["_src_shown"].to_list()],
                      [index["dst"][n] for n in links["_dst_shown"].to_list()],
                      {m: links[m].to_list() for m in meas}, measure, text)


def inside_share(data: GraphData) -> np.ndarray:
    """Per node: the share of its traffic that stays inside it; NaN for single-member nodes
    (one workload, an external class), where the share says nothing about a segment."""
    totals = np.asarray(data.node_totals, dtype=float)
    share = np.divide(data.node_internal, totals, out=np.zeros_like(totals), where=totals > 0)
    return np.where(np.asarray(data.node_members) > 1, share, np.nan)


def hidden_note(data: GraphData, fmt: Any) -> str:
    """The caption part saying how many lighter edges were left out."""
    if not data.hidden_edges:
        return ""
    noun = "edge" if data.hidden_edges == 1 else "edges"
    return f"; {data.hidden_edges:,} lighter {noun} ({fmt(data.hidden_value)}) not drawn"


@dataclass(frozen=True)
class GraphData:
    """Segments (nodes, sized by their traffic) and the heaviest edges crossing between them."""

    nodes: list[str]
    node_totals: list[float]
    node_internal: list[float]
    node_members: list[int]
    positions: list[tuple[float, float]]
    edges: list[tuple[int, int]]
    edge_values: dict[str, list[float]]
    measure: str
    title: str
    hidden_edges: int = 0
    hidden_value: float = 0.0
    crossing_share: float = 0.0


def _graph_nodes(lab: pl.DataFrame, measure: str, top_nodes: int | None) -> pl.DataFrame:
    vol = pl.col(measure).cast(pl.Float64).fill_null(0)
    ends = pl.concat([
        lab.select(pl.col("_src_group").alias("_label"), vol.alias("_total"),
                   pl.when(pl.col("_src_group") == pl.col("_dst_group")).then(vol)
                   .otherwise(0.0).alias("_internal")),
        lab.filter(pl.col("_src_group") != pl.col("_dst_group"))
        .select(pl.col("_dst_group").alias("_label"), vol.alias("_total"),
                pl.lit(0.0).alias("_internal")),
    ])
    members = pl.concat([
        lab.select(pl.col(f"_{s}_group").alias("_label"), pl.col(f"_{s}").alias("_m"))
        for s in ("src", "dst")]).group_by("_label").agg(pl.col("_m").n_unique().alias("_members"))
    per = (ends.group_by("_label").agg(pl.col("_total").sum(), pl.col("_internal").sum())
           .join(members, on="_label", how="left"))
    ranked, _ = _rank(per.with_columns(pl.col("_label").alias("_group")), top_nodes)
    return ranked


def _spring_layout(n: int, edges: list[tuple[int, int, float]]) -> dict[int, Any]:
    """Seeded spring layout of ``n`` nodes; edges (at most top_edges) pull by log volume."""
    import networkx as nx

    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    for a, b, v in edges:
        prev = graph.get_edge_data(a, b, {"weight": 0.0})["weight"]
        graph.add_edge(a, b, weight=prev + float(np.log10(1 + v)))
    return nx.spring_layout(graph, seed=7, weight="weight", iterations=200,
                            k=3.0 / max(np.sqrt(n), 1.0))


def segment_graph_data(matrix: Any, *, measure: str = "bytes",
                       segments: pl.DataFrame | None = None, top_nodes: int | None = 40,
                       top_edges: int = 60, title: str | None = None) -> GraphData:
    """The matrix aggregated to blocks (segments; namespaces by default), with the
    ``top_edges`` heaviest crossing edges and a seeded spring layout.

    A workload-level matrix with ``segments`` from a boundary proposal gives the candidate
    segments and what crosses them; only aggregates are drawn, so hundreds of workloads stay
    readable.
    """
    frame = as_frame(matrix)
    check_matrix(frame, measure)
    lab = labelled(frame, segments)
    ranked = _graph_nodes(lab, measure, top_nodes)
    mapping = ranked.select("_label", "_shown")
    meas = measures_of(frame)
    agg = (lab.join(mapping.rename({"_label": "_src_group", "_shown": "a"}), on="_src_group")
           .join(mapping.rename({"_label": "_dst_group", "_shown": "b"}), on="_dst_group")
           .group_by("a", "b").agg([pl.col(m).cast(pl.Float64).fill_null(0).sum() for m in meas]))
    nodes_df = (ranked.group_by("_shown").agg(pl.col("_total").sum(), pl.col("_internal").sum(),
                                              pl.col("_members").sum())
                .with_columns(pl.col("_shown").str.starts_with(f"{OTHER} (").alias("o"))
                .sort(["o", "_total", "_shown"], descending=[False, True, False]))
    names = nodes_df["_shown"].to_list()
    crossing = agg.filter(pl.col("a") != pl.col("b")).sort([measure, "a", "b"],
                                                            descending=[True, False, False])
    shown = crossing.head(top_edges)
    idx = {n: i for i, n in enumerate(names)}
    layout = _spring_layout(len(names), [(idx[a], idx[b], v) for a, b, v in
                                         shown.select("a", "b", measure).iter_rows()])
    total = float(agg[measure].sum()) or 1.0
    text = title or f"Segments and the traffic crossing them (top {top_edges} edges, " \
                    f"{unit(measure)})"
    return GraphData(
        names, nodes_df["_total"].to_list(), nodes_df["_internal"].to_list(),
        nodes_df["_members"].to_list(),
        [(float(layout[i][0]), float(layout[i][1])) for i in range(len(names))],
        [(idx[a], idx[b]) for a, b in shown.select("a", "b").iter_rows()],
        {m: shown[m].to_list() for m in meas}, measure, text,
        crossing.height - shown.height, float(crossing.tail(-top_edges)[measure].sum())
        if crossing.height > top_edges else 0.0, float(crossing[measure].sum()) / total)
