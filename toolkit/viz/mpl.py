"""Static figures with matplotlib's object API: every function returns a ``Figure``.

Figures are built inside :func:`matplotlib.rc_context` with :class:`matplotlib.figure.Figure`
directly (never pyplot), so the caller's global settings are left exactly as they were and no
window or global figure list is involved. Display one in a notebook by leaving it as a cell's
last expression, or save it with ``fig.savefig("heatmap.png")``.

>>> import polars as pl
>>> m = pl.DataFrame({"src_namespace": ["a", "b"], "dst_namespace": ["b", "a"],
...                   "bytes": [10, 1000], "packets": [1, 2], "flows": [1, 1]})
>>> heatmap(m).axes[0].get_xlabel()
'destination namespace'
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.colors import ListedColormap, LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from toolkit.viz._labels import OTHER, human_bytes, human_count, unit
from toolkit.viz.data import (
    GraphData,
    HeatmapData,
    heatmap_data,
    hidden_note,
    inside_share,
    scale,
    segment_graph_data,
)
from toolkit.viz.data_policy import EXPOSURE_STATUSES, ExposureData, exposure_data
from toolkit.viz.data_time import SeriesData, TrendData, series_data, trend_data

#: Settings applied only while a figure is built (the caller's rcParams are untouched).
STYLE = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 120,
    "savefig.bbox": "tight",
}
_MAX_LABEL = 42
OTHER_COLOUR = "#b0b0b0"
STATUS_COLOURS = ("#9ecae1", "#41ab5d", "#bdbdbd", "#fd8d3c", "#d7301f")



def _grid_frame(ax: Any, data: Any) -> None:
    """Segment separators, axis titles and the title of a row × column grid."""
    ax.tick_params(length=0)
    for b in data.rows.boundaries():
        ax.axhline(b - 0.5, color="white", linewidth=1.5)
    for b in data.cols.boundaries():
        ax.axvline(b - 0.5, color="white", linewidth=1.5)
    ax.set_xlabel(data.cols.title)
    ax.set_ylabel(data.rows.title)
    ax.set_title(data.title, loc="left")

def short(label: str, limit: int = _MAX_LABEL) -> str:
    """A label cut to ``limit`` characters with an ellipsis (matplotlib ticks only).

    >>> short("x" * 50, 10)
    'xxxxxxxxx…'
    """
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _fmt(measure: str):
    return human_bytes if measure == "bytes" else human_count


def heatmap(matrix: Any, *, measure: str = "bytes", top_n: int | None = 30,
            segments: Any = None, title: str | None = None) -> Figure:
    """A source × destination heatmap with a log colour scale; blocks separated by lines.

    ``matrix`` is a flow matrix (or its long frame) or a ready :class:`HeatmapData`.
    """
    data = matrix if isinstance(matrix, HeatmapData) else heatmap_data(
        matrix, measure=measure, top_n=top_n, segments=segments, title=title)
    with mpl.rc_context(STYLE):
        return _draw_heatmap(data)


def _draw_heatmap(data: HeatmapData) -> Figure:
    values = data.values[data.measure]
    n_rows, n_cols = values.shape
    width = min(4.5 + 0.28 * n_cols, 30)
    height = min(3.0 + 0.26 * n_rows, 30)
    fig = Figure(figsize=(width, height), layout="constrained")
    ax = fig.add_subplot()
    masked = np.ma.masked_less_equal(values, 0)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="#f2f2f2")
    positive = values[values > 0]
    norm = LogNorm(vmin=positive.min(), vmax=max(positive.max(), positive.min() * 10)) \
        if positive.size else None
    shown = masked if positive.size else np.ma.masked_all(values.shape or (1, 1))
    image = ax.imshow(shown if shown.size else np.ma.masked_all((1, 1)), cmap=cmap, norm=norm,
                      aspect="auto", interpolation="nearest")
    ax.set_xticks(range(n_cols), [short(c) for c in data.cols.labels], rotation=90)
    ax.set_yticks(range(n_rows), [short(r) for r in data.rows.labels])
    for spine in ax.spines.values():
        spine.set_visible(False)
    _grid_frame(ax, data)
    if positive.size:
        bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.01)
        bar.set_label(f"{unit(data.measure)} (log scale)")
        fmt = _fmt(data.measure)
        bar.ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: fmt(v)))
    else:
        ax.text(0.5, 0.5, "no traffic", transform=ax.transAxes, ha="center", va="center")
    return fig


def segment_graph(matrix: Any, *, measure: str = "bytes", segments: Any = None,
                  top_nodes: int | None = 40, top_edges: int = 60,
                  title: str | None = None) -> Figure:
    """Segments as circles (area ~ traffic), arrows for the heaviest crossing edges
    (width ~ log volume). ``matrix`` may be a ready :class:`GraphData`."""
    data = matrix if isinstance(matrix, GraphData) else segment_graph_data(
        matrix, measure=measure, segments=segments, top_nodes=top_nodes, top_edges=top_edges,
        title=title)
    with mpl.rc_context(STYLE):
        return _draw_graph(data)


def _draw_arrows(ax: Any, data: GraphData, pos: np.ndarray, radius: np.ndarray) -> None:
    """Curved arrows for the crossing edges, width ~ log volume, stopping at the circles."""
    values = np.array(data.edge_values.get(data.measure, []), dtype=float)
    widths = scale(np.log10(1 + values), 0.6, 6.0)
    for (a, b), width in zip(data.edges, widths, strict=True):
        ax.annotate("", xy=pos[b], xytext=pos[a], zorder=1,
                    arrowprops={"arrowstyle": "-|>,head_length=0.6,head_width=0.35",
                                "color": "#3b5b8c", "alpha": 0.6, "lw": width,
                                "shrinkA": radius[a] + 2, "shrinkB": radius[b] + 2,
                                "mutation_scale": 8 + width * 2,
                                "connectionstyle": "arc3,rad=0.12"})


def _draw_graph(data: GraphData) -> Figure:
    fig = Figure(figsize=(10, 8), layout="constrained")
    ax = fig.add_subplot()
    pos = np.array(data.positions) if data.positions else np.zeros((0, 2))
    totals = np.array(data.node_totals, dtype=float)
    sizes = scale(np.sqrt(totals), 120, 2200)
    radius = np.sqrt(sizes) / 2  # marker radius in points
    _draw_arrows(ax, data, pos, radius)
    share = inside_share(data)
    single = np.isnan(share)
    ax.scatter(pos[single, 0], pos[single, 1], s=sizes[single], c="#d0d0d0",
               edgecolors="#333333", linewidths=0.6, zorder=2)
    points = ax.scatter(pos[~single, 0], pos[~single, 1], s=sizes[~single], c=share[~single],
                        cmap="RdYlGn", vmin=0, vmax=1, edgecolors="#333333", linewidths=0.6,
                        zorder=2)
    fmt = _fmt(data.measure)
    for (x, y), name, total, r, n in zip(pos, data.nodes, totals, radius, data.node_members,
                                         strict=True):
        members = f" · {n:,} members" if n > 1 else ""
        ax.annotate(f"{short(name, 28)}\n{fmt(total)}{members}", (x, y), xytext=(0, -(r + 2)),
                    textcoords="offset points", ha="center", va="top", fontsize=8, zorder=3,
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.55})
    bar = fig.colorbar(points, ax=ax, shrink=0.6, pad=0.01)
    bar.set_label(f"share of a segment's {unit(data.measure)} that stays inside it "
                  "(grey: single member)")
    ax.set_title(data.title, loc="left")
    hidden = hidden_note(data, fmt)
    ax.set_xlabel(f"circle area ~ {unit(data.measure)} sent and received; arrow width ~ "
                  f"log {unit(data.measure)} crossing; {data.crossing_share:.1%} of "
                  f"{unit(data.measure)} cross segments{hidden}")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.margins(0.12)
    for spine in ax.spines.values():
        spine.set_visible(False)
    return fig


def _extended(data: SeriesData) -> tuple[list[Any], list[list[float]]]:
    """Buckets plus one closing edge, so a step plot shows the last bucket's width too."""
    x = list(data.buckets)
    ys = [list(v) for v in data.series.values()]
    if x and data.bucket_seconds:
        x.append(x[-1] + timedelta(seconds=data.bucket_seconds))
        ys = [v + v[-1:] for v in ys]
    return x, ys


def timeseries(matrix: Any, *, measure: str = "bytes", top_n: int = 8, cross_only: bool = False,
               title: str | None = None) -> Figure:
    """Stacked traffic per time bucket for the heaviest pairs (needs a bucketed matrix).
    ``matrix`` may be a ready :class:`SeriesData`."""
    data = matrix if isinstance(matrix, SeriesData) else series_data(
        matrix, measure=measure, top_n=top_n, cross_only=cross_only, title=title)
    with mpl.rc_context(STYLE):
        fig = Figure(figsize=(10, 4.8), layout="constrained")
        ax = fig.add_subplot()
        names = list(data.series)
        colours = [OTHER_COLOUR if n.startswith(f"{OTHER} (") else
                   mpl.colormaps["tab10"](i % 10) for i, n in enumerate(names)]
        x, ys = _extended(data)
        if names:
            ax.stackplot(x, *ys,
                         labels=[short(n, 60) for n in names], colors=colours, alpha=0.85,
                         step="post")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fmt = _fmt(data.measure)
        ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(lambda v, _: fmt(v)))
        ax.set_xlabel("time bucket start (UTC)")
        ax.set_ylabel(f"{unit(data.measure)} per bucket")
        ax.set_title(data.title, loc="left")
        fig.autofmt_xdate()
        return fig


def exposure(result: Any, *, top_n: int | None = 40, title: str | None = None) -> Figure:
    """Allowed-versus-observed overlay (see :func:`toolkit.viz.interactive.exposure`)."""
    data = result if isinstance(result, ExposureData) else exposure_data(
        result, top_n=top_n, title=title)
    with mpl.rc_context(STYLE):
        n_rows, n_cols = data.codes.shape
        fig = Figure(figsize=(min(6 + 0.28 * n_cols, 30), min(3.5 + 0.26 * n_rows, 30)),
                     layout="constrained")
        ax = fig.add_subplot()
        cmap = ListedColormap(STATUS_COLOURS).with_extremes(bad="#f7f7f7")
        codes = np.ma.masked_equal(data.codes, 0) - 1
        ax.imshow(codes, cmap=cmap, vmin=-0.5, vmax=len(STATUS_COLOURS) - 0.5, aspect="auto",
                  interpolation="nearest")
        ax.set_xticks(range(n_cols), [short(c) for c in data.cols.labels], rotation=90)
        ax.set_yticks(range(n_rows), [short(r) for r in data.rows.labels])
        _grid_frame(ax, data)
        handles = [Patch(color=c, label=s) for c, s in zip(STATUS_COLOURS, EXPOSURE_STATUSES,
                                                           strict=True)]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                  title="path status")
        return fig


def trend(summary: Any, columns: Any = None, *, title: str | None = None) -> Figure:
    """Small multiples of a batch summary's figures against capture time (one panel each)."""
    data = summary if isinstance(summary, TrendData) else trend_data(summary, columns,
                                                                      title=title)
    with mpl.rc_context(STYLE):
        n = max(len(data.series), 1)
        fig = Figure(figsize=(9, 1.9 * n + 0.8), layout="constrained")
        axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
        for ax, (name, values) in zip(axes, data.series.items(), strict=False):
            ax.plot(data.times, [np.nan if v is None else v for v in values], marker="o",
                    color="#3b5b8c")
            ax.set_ylabel(trend_unit(name, values), fontsize=8)
            ax.set_title(name.replace("_", " "), loc="left", fontsize=9)
            if name == "bytes":
                ax.yaxis.set_major_formatter(mpl.ticker.FuncFormatter(
                    lambda v, _: human_bytes(v)))
            ax.grid(alpha=0.3)
            if trend_unit(name, values) == "count":
                ax.yaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        axes[-1].set_xlabel("captured at (UTC)")
        fig.suptitle(data.title, x=0.01, ha="left", fontweight="bold")
        fig.autofmt_xdate()
        return fig


def trend_unit(name: str, values: Any = ()) -> str:
    """The y-axis unit of a batch-summary column, from its name (and values: a share above 1
    is a percentage).

    >>> trend_unit("cross_ns_bytes_share", [58.7]), trend_unit("pct_isolated_ingress")
    ('percent', 'percent')
    """
    if name == "bytes" or name.endswith("_bytes"):
        return "bytes"
    if name.startswith("pct_") or name.endswith("_pct"):
        return "percent"
    if "share" in name:
        big = any(v is not None and v > 1 for v in values)
        return "percent" if big else "share (0–1)"
    return "count"
