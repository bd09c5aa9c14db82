"""Figure data: ordering into blocks, top-N + "other", labels, log ticks, Sankey, graph, series."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.viz import data as vd
from toolkit.viz import data_time as vt
from toolkit.viz._labels import label_expr, side_keys


def test_side_keys_and_labels(wl_svc: pl.DataFrame) -> None:
    frame = wl_svc
    assert side_keys(frame, "src") == ["src_namespace", "src_workload"]
    assert side_keys(frame, "dst") == ["dst_namespace", "dst_service"]
    labels = frame.select(label_expr(frame, "src").alias("l"))["l"].to_list()
    assert labels[0] == "a/a1" and labels[-1] == "[public]"


def test_rows_form_namespace_blocks_ordered_by_volume(wl_svc: pl.DataFrame) -> None:
    hm = vd.heatmap_data(wl_svc)
    # block b (5008 bytes) before block a (1060), the external client (300) its own block
    assert hm.rows.labels == ["b/b1", "b/b2", "b/b3", "a/a1", "a/a2", "[public]"]
    assert hm.rows.groups == ["b", "b", "b", "a", "a", "[public]"]
    assert hm.rows.boundaries() == [3, 5]
    # column blocks follow the row blocks' order
    assert hm.cols.labels == ["b/s2", "a/s1"]
    assert hm.rows.title == "source namespace / workload"
    assert hm.cols.title == "destination namespace / service"


def test_values_are_placed_in_the_right_cells(wl_svc: pl.DataFrame) -> None:
    hm = vd.heatmap_data(wl_svc)
    r, c = hm.rows.labels.index("a/a1"), hm.cols.labels.index("b/s2")
    assert hm.values["bytes"][r, c] == 50
    assert hm.values["flows"][r, c] == 2
    assert hm.values["bytes"].sum() == wl_svc["bytes"].sum()


def test_top_n_sums_the_rest_into_other_drawn_last(wl_svc: pl.DataFrame) -> None:
    hm = vd.heatmap_data(wl_svc, top_n=2)
    assert hm.rows.labels == ["b/b1", "a/a1", "other (4)"]
    assert hm.rows.groups[-1] == vd.OTHER_GROUP
    assert hm.other_rows == 4 and hm.other_cols == 0
    other = hm.values["bytes"][-1].sum()
    assert other == 10 + 7 + 1 + 300
    assert hm.values["bytes"].sum() == wl_svc["bytes"].sum()


def test_square_matrix_shares_one_order() -> None:
    frame = pl.DataFrame({"src_namespace": ["x", "y", "y", "z"],
                          "dst_namespace": ["y", "y", "z", "x"],
                          "bytes": [5, 100, 1, 2], "packets": [1] * 4, "flows": [1] * 4})
    hm = vd.heatmap_data(frame)
    assert hm.rows.labels == hm.cols.labels == ["y", "x", "z"]
    i = hm.rows.labels.index("y")
    assert hm.values["bytes"][i, i] == 100  # the diagonal is traffic inside a block


def test_segments_reorder_rows_into_blocks(wl_svc: pl.DataFrame) -> None:
    segments = pl.DataFrame({"label": ["a/a1", "b/b1", "a/a2", "b/b2", "b/b3"],
                             "segment": ["S1", "S1", "S2", "S2", "S2"]})
    hm = vd.heatmap_data(wl_svc, segments=segments)
    assert hm.rows.groups[:2] == ["S1", "S1"]
    assert set(hm.rows.labels[:2]) == {"a/a1", "b/b1"}
    assert hm.rows.groups[2:] == ["[public]", "S2", "S2", "S2"]  # blocks by volume


def test_segments_from_membership_joins_keys() -> None:
    members = pl.DataFrame({"namespace": ["a", "a"], "workload": ["a1", "a2"],
                            "segment": ["c01", "c02"]})
    seg = vd.segments_from_membership(members, ["namespace", "workload"])
    assert seg.rows() == [("a/a1", "c01"), ("a/a2", "c02")]


def test_missing_measure_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no 'bytes' column"):
        vd.heatmap_data(pl.DataFrame({"src_namespace": ["a"], "dst_namespace": ["b"]}))


def test_log_values_and_ticks() -> None:
    values = np.array([[0.0, 10.0], [1e6, 0.0]])
    logs = vd.log_values(values)
    assert np.isnan(logs[0, 0]) and logs[0, 1] == 1.0 and logs[1, 0] == 6.0
    ticks, text = vd.log_ticks(values, "bytes")
    assert ticks[0] == 1.0 and ticks[-1] == 6.0 and text[-1] == "1.0 MB"
    assert vd.log_ticks(np.zeros((2, 2)), "bytes") == ([], [])


def test_sankey_keeps_only_cross_block_traffic() -> None:
    frame = pl.DataFrame({"src_namespace": ["a", "a", "b"], "dst_namespace": ["a", "b", "c"],
                          "bytes": [999, 10, 5], "packets": [1] * 3, "flows": [1] * 3})
    sk = vd.sankey_data(frame)
    links = {(sk.nodes[s], sk.nodes[t]): v
             for s, t, v in zip(sk.sources, sk.targets, sk.values["bytes"], strict=True)}
    assert links == {("a", "b"): 10, ("b", "c"): 5}
    assert sk.node_side == ["src", "src", "dst", "dst"]
    full = vd.sankey_data(frame, cross_only=False)
    assert sum(full.values["bytes"]) == 1014


def test_sankey_top_n_other() -> None:
    frame = pl.DataFrame({"src_namespace": [f"n{i}" for i in range(6)],
                          "dst_namespace": ["z"] * 6, "bytes": [60, 50, 40, 30, 20, 10],
                          "packets": [1] * 6, "flows": [1] * 6})
    sk = vd.sankey_data(frame, top_n=2)
    src_nodes = [n for n, s in zip(sk.nodes, sk.node_side, strict=True) if s == "src"]
    assert src_nodes == ["n0", "n1", "other (4)"]
    assert sum(sk.values["bytes"]) == 210


def test_graph_aggregates_to_segments_and_draws_top_edges_only() -> None:
    rng = np.random.default_rng(3)
    n = 300  # hundreds of workloads in 12 namespaces
    frame = pl.DataFrame({
        "src_namespace": [f"ns{i % 12}" for i in range(n)],
        "src_workload": [f"w{i}" for i in range(n)],
        "dst_namespace": [f"ns{int(x)}" for x in rng.integers(0, 12, n)],
        "dst_workload": [f"w{int(x)}" for x in rng.integers(0, n, n)],
        "bytes": rng.integers(1, 10**6, n), "packets": [1] * n, "flows": [1] * n})
    g = vd.segment_graph_data(frame, top_edges=20)
    assert len(g.nodes) == 12
    assert len(g.edges) == 20 and all(a != b for a, b in g.edges)
    assert g.hidden_edges > 0
    assert sorted(g.edge_values["bytes"], reverse=True) == g.edge_values["bytes"]
    assert sum(g.node_members) >= 12
    assert len(g.positions) == 12
    assert 0 < g.crossing_share < 1


def test_graph_top_nodes_merges_the_rest() -> None:
    frame = pl.DataFrame({"src_namespace": ["a", "b", "c", "d"],
                          "dst_namespace": ["b", "c", "d", "a"], "bytes": [40, 30, 20, 10],
                          "packets": [1] * 4, "flows": [1] * 4})
    g = vd.segment_graph_data(frame, top_nodes=2)
    assert g.nodes[-1] == "other (2)"
    assert len(g.nodes) == 3


def test_series_fills_empty_buckets_and_ranks_pairs(bucketed: pl.DataFrame) -> None:
    s = vt.series_data(bucketed, cross_only=True, every="1h")
    assert len(s.buckets) == 4  # 0h..3h, the empty hours included
    assert list(s.series) == ["a → b", "c → b"]
    assert s.series["a → b"] == [10.0, 0.0, 0.0, 5.0]
    assert s.bucket_seconds == 3600
    top1 = vt.series_data(bucketed, top_n=1)
    assert list(top1.series) == ["a → a", "other (2)"]


def test_series_needs_a_bucket_column(bucketed: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="bucket"):
        vt.series_data(bucketed.drop("bucket"))


names = st.text(alphabet="abcde<>&", min_size=1, max_size=3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(names, names, st.integers(0, 10**9)), min_size=1, max_size=40),
       st.integers(1, 6))
def test_heatmap_conserves_bytes_and_bounds_axes(rows, top_n) -> None:
    frame = pl.DataFrame({"src_namespace": [r[0] for r in rows],
                          "dst_namespace": [r[1] for r in rows],
                          "bytes": [r[2] for r in rows]}, schema_overrides={"bytes": pl.Int64})
    hm = vd.heatmap_data(frame, top_n=top_n)
    assert hm.values["bytes"].sum() == frame["bytes"].sum()
    assert len(hm.rows.labels) <= top_n + 1
    assert len(set(hm.rows.labels)) == len(hm.rows.labels)
    blocks = [g for i, g in enumerate(hm.rows.groups) if i == 0 or hm.rows.groups[i - 1] != g]
    assert len(blocks) == len(set(blocks))  # every block is contiguous
