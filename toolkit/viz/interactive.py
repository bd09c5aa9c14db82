"""Interactive figures with plotly: every function returns a ``plotly.graph_objects.Figure``.

Names and labels come from the cluster and are untrusted: plotly renders tick labels, hover
text and titles as a small HTML dialect, so every label passed to plotly goes through
:func:`esc` (``<``, ``>`` and ``&`` escaped) and shows literally. Numbers in hover text are
formatted here, never taken from the data as text.

>>> import polars as pl
>>> m = pl.DataFrame({"src_namespace": ["a", "b"], "dst_namespace": ["b", "a"],
...                   "bytes": [10, 1000], "packets": [1, 2], "flows": [1, 1]})
>>> heatmap(m).data[0].type
'heatmap'
"""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import numpy as np
import plotly.graph_objects as go

from toolkit.viz._labels import OTHER, human_bytes, human_count, unit
from toolkit.viz.data import (
    GraphData,
    HeatmapData,
    SankeyData,
    heatmap_data,
    hidden_note,
    inside_share,
    log_ticks,
    log_values,
    sankey_data,
    scale,
    segment_graph_data,
)
from toolkit.viz.data_policy import EXPOSURE_STATUSES, ExposureData, exposure_data
from toolkit.viz.data_time import SeriesData, TrendData, series_data, trend_data

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#bcbd22", "#7f7f7f")
OTHER_COLOUR = "#b0b0b0"
#: Colours of the exposure statuses (EXPOSURE_STATUSES order): blue = allowed but unused,
#: green = used and allowed, grey = no verdict, orange/red = denied.
STATUS_COLOURS = ("#9ecae1", "#41ab5d", "#bdbdbd", "#fd8d3c", "#d7301f")
_FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}


def esc(text: Any) -> str:
    """A label made safe for plotly's HTML-ish text (shown literally).

    >>> esc("<script>x&y</script>")
    '&lt;script&gt;x&amp;y&lt;/script&gt;'
    """
    return html.escape(str(text), quote=False)


def exact_bytes(n: float) -> str:
    """Bytes for hover text: short form plus the exact count.

    >>> exact_bytes(5000), exact_bytes(12)
    ('5.0 kB (5,000 B)', '12 B')
    """
    short = human_bytes(n)
    return short if n < 1000 else f"{short} ({n:,.0f} B)"


def _fmt(measure: str):
    return human_bytes if measure == "bytes" else human_count


def _layout(fig: go.Figure, title: str, height: int, **extra: Any) -> go.Figure:
    fig.update_layout(title={"text": esc(title), "x": 0.01, "xanchor": "left"},
                      height=height, font=_FONT, template="plotly_white",
                      margin={"l": 10, "r": 10, "t": 60, "b": 10}, **extra)
    return fig


def short_labels(labels: list[str], limit: int = 40) -> list[str]:
    """Escaped tick labels cut to ``limit`` characters, kept unique (plotly merges equal
    category names).

    >>> short_labels(["a" * 50 + "1", "a" * 50 + "2"], 10)
    ['aaaaaaaaa…', 'aaaaaaaaa… (2)']
    """
    out: list[str] = []
    seen: set[str] = set()
    for label in labels:
        cut = label if len(label) <= limit else label[: limit - 1] + "…"
        candidate, n = cut, 1
        while candidate in seen:
            n += 1
            candidate = f"{cut} ({n})"
        seen.add(candidate)
        out.append(candidate)
    return [esc(c) for c in out]


def _hover_cells(data: HeatmapData) -> np.ndarray:
    shape = data.values[data.measure].shape
    rows = np.array([esc(r) for r in data.rows.labels], dtype=object)
    cols = np.array([esc(c) for c in data.cols.labels], dtype=object)
    layers = [np.repeat(rows[:, None], shape[1], axis=1),
              np.repeat(cols[None, :], shape[0], axis=0)]
    for m, fmt in (("bytes", exact_bytes), ("packets", human_count), ("flows", human_count)):
        grid = data.values.get(m)
        layers.append(np.full(shape, "-", dtype=object) if grid is None or grid.size == 0
                      else np.vectorize(fmt, otypes=[object])(grid))
    return np.stack(layers, axis=-1)


def heatmap(matrix: Any, *, measure: str = "bytes", top_n: int | None = 30,
            segments: Any = None, title: str | None = None) -> go.Figure:
    """A source × destination heatmap, log colour scale, hover with bytes/packets/flows.
    ``matrix`` is a flow matrix (or its frame) or a ready :class:`HeatmapData`."""
    data = matrix if isinstance(matrix, HeatmapData) else heatmap_data(
        matrix, measure=measure, top_n=top_n, segments=segments, title=title)
    values = data.values[data.measure]
    z = log_values(values)
    tickvals, ticktext = log_ticks(values, data.measure)
    x = x_labels = short_labels(data.cols.labels)
    y = short_labels(data.rows.labels)
    trace = go.Heatmap(
        z=np.where(np.isnan(z), None, z).tolist(), x=x, y=y, customdata=_hover_cells(data),
        colorscale="Viridis", xgap=1, ygap=1, hoverongaps=False,
        colorbar={"title": {"text": f"{unit(data.measure)}<br>(log scale)"},
                  "tickvals": tickvals, "ticktext": ticktext, "lenmode": "pixels",
                  "len": 260},
        hovertemplate="<b>%{customdata[0]}</b> → <b>%{customdata[1]}</b><br>"
                      "bytes: %{customdata[2]}<br>packets: %{customdata[3]}<br>"
                      "flows: %{customdata[4]}<extra></extra>")
    fig = go.Figure(trace)
    shapes, height = _grid_geometry(data, len(x), len(y), minimum=360, per_row=22)
    return _layout(fig, data.title, height, shapes=shapes,
                   xaxis={"title": {"text": esc(data.cols.title)}, "type": "category",
                          "tickangle": -90 if len(x_labels) > 10 else -45,
                          "automargin": True, "showgrid": False},
                   yaxis={"title": {"text": esc(data.rows.title)}, "type": "category",
                          "autorange": "reversed", "automargin": True, "showgrid": False},
                   plot_bgcolor="#f2f2f2")



def _grid_geometry(data: Any, n_cols: int, n_rows: int, *, minimum: int, per_row: int
                   ) -> tuple[list[dict], int]:
    """Segment separator lines and a figure height that fits the rows and column labels."""
    shapes = [_line("h", b, n_cols) for b in data.rows.boundaries()]
    shapes += [_line("v", b, n_rows) for b in data.cols.boundaries()]
    longest = max((len(c) for c in data.cols.labels), default=0)
    height = int(min(max(minimum, 180 + per_row * n_rows + 6 * min(longest, 40)), 2600))
    return shapes, height


def _line(orientation: str, at: int, span: int) -> dict[str, Any]:
    pos = at - 0.5
    if orientation == "h":
        return {"type": "line", "x0": -0.5, "x1": span - 0.5, "y0": pos, "y1": pos,
                "line": {"color": "#555555", "width": 1}}
    return {"type": "line", "y0": -0.5, "y1": span - 0.5, "x0": pos, "x1": pos,
            "line": {"color": "#555555", "width": 1}}


def _colour(name: str, i: int) -> str:
    return OTHER_COLOUR if name.startswith(f"{OTHER} (") else PALETTE[i % len(PALETTE)]


def sankey(matrix: Any, *, measure: str = "bytes", top_n: int | None = 15,
           cross_only: bool = True, title: str | None = None) -> go.Figure:
    """A Sankey of traffic from sources (left) to destinations (right); by default only what
    crosses blocks (namespaces). ``matrix`` may be a ready :class:`SankeyData`."""
    data = matrix if isinstance(matrix, SankeyData) else sankey_data(
        matrix, measure=measure, top_n=top_n, cross_only=cross_only, title=title)
    fmt = _fmt(data.measure)
    palette = {n: _colour(n, i) for i, n in enumerate(dict.fromkeys(data.nodes))}
    colours = [palette[n] for n in data.nodes]  # one colour per name on both sides
    link_colours = [_rgba(colours[s], 0.35) for s in data.sources]
    custom = [[fmt(v)] for v in data.values[data.measure]]
    node_custom = [[fmt(t), "source" if s == "src" else "destination"]
                   for t, s in zip(data.node_totals, data.node_side, strict=True)]
    trace = go.Sankey(
        arrangement="snap",
        node={"label": [esc(n) for n in data.nodes], "color": colours, "pad": 12,
              "thickness": 16, "customdata": node_custom,
              "hovertemplate": "%{label} (%{customdata[1]})<br>"
                               f"{unit(data.measure)}: " "%{customdata[0]}<extra></extra>"},
        link={"source": data.sources, "target": data.targets,
              "value": data.values[data.measure], "color": link_colours, "customdata": custom,
              "hovertemplate": "%{source.label} → %{target.label}<br>"
                               f"{unit(data.measure)}: " "%{customdata[0]}<extra></extra>"})
    fig = go.Figure(trace)
    n = max(data.node_side.count("src"), data.node_side.count("dst"), 1)
    fig = _layout(fig, data.title, int(min(320 + 28 * n, 1400)))
    if not data.sources:
        fig.add_annotation(text="no traffic crosses blocks", showarrow=False,
                           xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def segment_graph(matrix: Any, *, measure: str = "bytes", segments: Any = None,
                  top_nodes: int | None = 40, top_edges: int = 60,
                  title: str | None = None) -> go.Figure:
    """Segments (marker area ~ traffic, colour = share kept inside; grey = a single member)
    and arrows for the heaviest crossing edges. ``matrix`` may be a ready :class:`GraphData`."""
    data = matrix if isinstance(matrix, GraphData) else segment_graph_data(
        matrix, measure=measure, segments=segments, top_nodes=top_nodes, top_edges=top_edges,
        title=title)
    fmt = _fmt(data.measure)
    pos = np.array(data.positions) if data.positions else np.zeros((0, 2))
    sizes = scale(np.sqrt(np.array(data.node_totals, dtype=float)), 14, 60)
    fig = go.Figure()
    _graph_edges(fig, data, pos, sizes, fmt)
    _graph_nodes(fig, data, pos, sizes, fmt)
    hidden = hidden_note(data, fmt)
    axis = {"visible": False, "showgrid": False, "zeroline": False}
    return _layout(fig, data.title, 640, xaxis=axis, yaxis=axis, annotations=[
        *fig.layout.annotations,
        {"text": esc(f"{data.crossing_share:.1%} of {unit(data.measure)} cross segments"
                     f"{hidden}"), "xref": "paper", "yref": "paper", "x": 0, "y": -0.02,
         "showarrow": False, "xanchor": "left", "font": {"size": 11, "color": "#555555"}}])


def _graph_edges(fig: go.Figure, data: GraphData, pos: np.ndarray, sizes: np.ndarray,
                 fmt: Any) -> None:
    """Arrows (width ~ log volume) plus invisible midpoint markers that carry the hover."""
    values = data.edge_values.get(data.measure, [])
    widths = scale(np.log10(1 + np.array(values, dtype=float)), 1, 7)
    for (a, b), width in zip(data.edges, widths, strict=True):
        fig.add_annotation(x=pos[b][0], y=pos[b][1], ax=pos[a][0], ay=pos[a][1], xref="x",
                           yref="y", axref="x", ayref="y", showarrow=True, arrowhead=2,
                           arrowsize=1, arrowwidth=float(width), arrowcolor="rgba(59,91,140,0.5)",
                           standoff=float(sizes[b]) / 2, startstandoff=float(sizes[a]) / 2,
                           text="")
    mids = [((pos[a] + pos[b]) / 2) for a, b in data.edges]
    fig.add_trace(go.Scatter(
        x=[m[0] for m in mids], y=[m[1] for m in mids], mode="markers",
        marker={"size": 10, "opacity": 0}, name="edges", showlegend=False,
        customdata=[[esc(data.nodes[a]), esc(data.nodes[b]), fmt(v)]
                    for (a, b), v in zip(data.edges, values, strict=True)],
        hovertemplate="%{customdata[0]} → %{customdata[1]}<br>"
                      f"{unit(data.measure)}: " "%{customdata[2]}<extra></extra>"))


def _graph_nodes(fig: go.Figure, data: GraphData, pos: np.ndarray, sizes: np.ndarray,
                 fmt: Any) -> None:
    """Two node traces: segments coloured by the share kept inside, single members grey."""
    totals = np.array(data.node_totals, dtype=float)
    share = inside_share(data)
    single = np.isnan(share)
    for name, pick in (("single members", single), ("segments", ~single)):
        marker: dict[str, Any] = {"size": sizes[pick], "line": {"color": "#333333", "width": 1}}
        if name == "segments":
            marker.update(color=share[pick], colorscale="RdYlGn", cmin=0, cmax=1,
                          colorbar={"title": {"text": "share kept<br>inside"},
                                    "tickformat": ".0%"})
        else:
            marker["color"] = "#d0d0d0"
        idx = np.flatnonzero(pick)
        fig.add_trace(go.Scatter(
            x=pos[idx, 0], y=pos[idx, 1], mode="markers+text", name=name, showlegend=False,
            text=[esc(data.nodes[i]) for i in idx], textposition="bottom center",
            marker=marker,
            customdata=[[fmt(totals[i]), "-" if single[i] else f"{share[i]:.1%}",
                         f"{data.node_members[i]:,}"] for i in idx],
            hovertemplate="<b>%{text}</b> (%{customdata[2]} members)<br>"
                          f"{unit(data.measure)}: " "%{customdata[0]}<br>"
                          "kept inside: %{customdata[1]}<extra></extra>"))


def timeseries(matrix: Any, *, measure: str = "bytes", top_n: int = 8, cross_only: bool = False,
               title: str | None = None) -> go.Figure:
    """Stacked areas of traffic per time bucket for the heaviest pairs (bucketed matrix).
    ``matrix`` may be a ready :class:`SeriesData`."""
    data = matrix if isinstance(matrix, SeriesData) else series_data(
        matrix, measure=measure, top_n=top_n, cross_only=cross_only, title=title)
    fmt = _fmt(data.measure)
    fig = go.Figure()
    x = list(data.buckets)
    if x and data.bucket_seconds:
        x.append(x[-1] + timedelta(seconds=data.bucket_seconds))
    for i, (name, ys) in enumerate(data.series.items()):
        ys = list(ys) + ys[-1:] if len(x) > len(ys) else list(ys)
        fig.add_trace(go.Scatter(
            x=x, y=ys, name=esc(name), mode="lines", stackgroup="one", line_shape="hv",
            line={"width": 0.5, "color": _colour(name, i)},
            customdata=[fmt(v) for v in ys],
            hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>" f"{esc(name)}: " "%{customdata}"
                          "<extra></extra>"))
    return _layout(fig, data.title, 460,
                   xaxis={"title": {"text": "time bucket start (UTC)"}},
                   yaxis={"title": {"text": f"{unit(data.measure)} per bucket"},
                          "tickformat": ".3s", "ticksuffix": "B" if data.measure == "bytes"
                          else ""},
                   legend={"font": {"size": 10}}, hovermode="x unified")


def exposure(result: Any, *, top_n: int | None = 40, title: str | None = None) -> go.Figure:
    """Allowed-versus-observed overlay: one cell per (client, server) path coloured by its
    status (allowed but unused, used and allowed, used but denied, ...). ``result`` is a
    ``toolkit.policy.exposure`` result, its ``paths`` frame, or an :class:`ExposureData`."""
    data = result if isinstance(result, ExposureData) else exposure_data(
        result, top_n=top_n, title=title)
    n = len(EXPOSURE_STATUSES)
    z = np.where(data.codes > 0, data.codes - 1, np.nan)
    scale = []
    for i, colour in enumerate(STATUS_COLOURS):  # a stepped colour scale: one band per status
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    status = np.array(["not allowed, not used", *EXPOSURE_STATUSES], dtype=object)[data.codes]
    rows = np.array([esc(r) for r in data.rows.labels], dtype=object)
    cols = np.array([esc(c) for c in data.cols.labels], dtype=object)
    shape = data.codes.shape
    custom = np.stack([np.repeat(rows[:, None], shape[1], axis=1),
                       np.repeat(cols[None, :], shape[0], axis=0), status,
                       np.vectorize(human_count, otypes=[object])(data.flows),
                       np.vectorize(human_bytes, otypes=[object])(data.bytes)], axis=-1)
    x_labels = short_labels(data.cols.labels)
    trace = go.Heatmap(
        z=np.where(np.isnan(z), None, z).tolist(), x=x_labels,
        y=short_labels(data.rows.labels), zmin=-0.5, zmax=n - 0.5, colorscale=scale,
        customdata=custom, xgap=1, ygap=1, hoverongaps=False,
        colorbar={"tickvals": list(range(n)), "ticktext": list(EXPOSURE_STATUSES),
                  "title": {"text": "path status"}, "lenmode": "pixels", "len": 220},
        hovertemplate="<b>%{customdata[0]}</b> → <b>%{customdata[1]}</b><br>"
                      "%{customdata[2]}<br>flows: %{customdata[3]}<br>bytes: "
                      "%{customdata[4]}<extra></extra>")
    fig = go.Figure(trace)
    shapes, height = _grid_geometry(data, len(cols), len(rows), minimum=400, per_row=20)
    return _layout(fig, data.title, height, shapes=shapes, plot_bgcolor="#f7f7f7",
                   xaxis={"title": {"text": esc(data.cols.title)}, "type": "category",
                          "tickangle": -90 if len(x_labels) > 10 else -45,
                          "automargin": True, "showgrid": False},
                   yaxis={"title": {"text": esc(data.rows.title)}, "type": "category",
                          "autorange": "reversed", "automargin": True, "showgrid": False})


def trend(summary: Any, columns: Any = None, *, title: str | None = None) -> go.Figure:
    """A batch summary's figures against capture time, one stacked panel per figure."""
    from plotly.subplots import make_subplots

    from toolkit.viz.mpl import trend_unit

    data = summary if isinstance(summary, TrendData) else trend_data(summary, columns,
                                                                      title=title)
    names = list(data.series) or ["-"]
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[esc(n.replace("_", " ")) for n in names])
    for i, name in enumerate(data.series, start=1):
        fig.add_trace(go.Scatter(x=data.times, y=data.series[name], mode="lines+markers",
                                 name=esc(name), showlegend=False,
                                 customdata=[esc(c) for c in data.labels],
                                 hovertemplate="%{x|%Y-%m-%d %H:%M} UTC · %{customdata}<br>"
                                               "%{y:,.4g}<extra></extra>"), row=i, col=1)
        fig.update_yaxes(title_text=trend_unit(name, data.series[name]), row=i, col=1)
    fig.update_xaxes(title_text="captured at (UTC)", row=len(names), col=1)
    return _layout(fig, data.title, 170 * len(names) + 120)
