"""plotly figures: trace types, axis titles, log colour scale, hover text, escaping."""

from __future__ import annotations

import math

import polars as pl

from toolkit.viz import interactive as vi


def test_heatmap_structure(wl_svc: pl.DataFrame) -> None:
    fig = vi.heatmap(wl_svc, top_n=3)
    trace = fig.data[0]
    assert trace.type == "heatmap"
    assert list(trace.y) == ["b/b1", "a/a1", "[public]", "other (3)"]
    assert fig.layout.xaxis.title.text == "destination namespace / service"
    assert fig.layout.yaxis.title.text == "source namespace / workload"
    assert fig.layout.yaxis.autorange == "reversed"
    assert fig.layout.title.text == "Bytes from workload to service"
    # log colour scale: z holds log10(bytes), the colour bar shows bytes at powers of ten
    row, col = list(trace.y).index("b/b1"), list(trace.x).index("b/s2")
    assert math.isclose(trace.z[row][col], math.log10(5000))
    assert trace.z[0][list(trace.x).index("a/s1")] is None  # no traffic: a gap, not "small"
    assert "(log scale)" in trace.colorbar.title.text
    assert trace.colorbar.ticktext[-1] == "10.0 kB"
    hover = trace.customdata[row][col]
    assert list(hover) == ["b/b1", "b/s2", "5.0 kB (5,000 B)", "1", "2"]
    assert "packets" in trace.hovertemplate and "flows" in trace.hovertemplate


def test_heatmap_block_separators(wl_svc: pl.DataFrame) -> None:
    fig = vi.heatmap(wl_svc)
    assert len(fig.layout.shapes) == 2 + 1  # row blocks b|a|[public], column blocks b|a


def test_labels_are_escaped_for_plotly() -> None:
    frame = pl.DataFrame({"src_namespace": ["<b>x</b>"], "dst_namespace": ["a&b"],
                          "bytes": [5], "packets": [1], "flows": [1]})
    fig = vi.heatmap(frame)
    labels = [*fig.data[0].x, *fig.data[0].y]
    assert "&lt;b&gt;x&lt;/b&gt;" in labels and "a&amp;b" in labels
    assert not any("<b>" in label for label in labels)
    sk = vi.sankey(frame)
    assert list(sk.data[0].node.label) == ["&lt;b&gt;x&lt;/b&gt;", "a&amp;b"]
    assert "<b>" not in fig.layout.title.text or "&lt;" in fig.layout.title.text


def test_long_labels_are_cut_but_stay_distinct() -> None:
    long = "n" * 60
    frame = pl.DataFrame({"src_namespace": [long + "1", long + "2"], "dst_namespace": ["a", "a"],
                          "bytes": [5, 6], "packets": [1, 1], "flows": [1, 1]})
    trace = vi.heatmap(frame).data[0]
    cut = [y for y in trace.y if y.startswith("n")]
    assert len(set(cut)) == 2 and all(len(y) <= 45 for y in cut)
    assert {row[0][0] for row in trace.customdata} == {long + "1", long + "2", "a"}


def test_sankey_structure() -> None:
    frame = pl.DataFrame({"src_namespace": ["a", "a", "b"], "dst_namespace": ["a", "b", "c"],
                          "bytes": [999, 10, 5], "packets": [1] * 3, "flows": [1] * 3})
    fig = vi.sankey(frame)
    trace = fig.data[0]
    assert trace.type == "sankey"
    assert list(trace.link.value) == [10, 5]
    colours = dict(zip(trace.node.label, trace.node.color, strict=True))
    assert colours["b"] == trace.node.color[list(trace.node.label).index("b")]
    assert fig.layout.title.text.startswith("Cross-boundary traffic")


def test_graph_structure(wl_svc: pl.DataFrame) -> None:
    fig = vi.segment_graph(wl_svc)
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"edges", "single members", "segments"}
    assert set(by_name["segments"].text) == {"a", "b"}  # several workloads each: coloured
    assert set(by_name["single members"].text) == {"[public]"}  # one member: grey
    assert by_name["single members"].marker.color == "#d0d0d0"
    arrows = [a for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == 3


def test_timeseries_structure(bucketed: pl.DataFrame) -> None:
    fig = vi.timeseries(bucketed, cross_only=True)
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    assert [t.name for t in fig.data] == ["a → b", "c → b"]
    assert all(t.stackgroup == "one" for t in fig.data)
    assert fig.layout.yaxis.title.text == "bytes per bucket"
    assert fig.layout.xaxis.title.text == "time bucket start (UTC)"
