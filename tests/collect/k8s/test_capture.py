"""Capture's finishing helpers: the cheap duplicate pre-check must never miss a duplicate."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.collect.k8s import capture

_TEXT = st.one_of(st.none(), st.sampled_from(["", "a", "b", "ns1", "x" * 20, "y" * 40]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, st.one_of(st.none(), st.integers(0, 3))),
                max_size=30))
def test_may_repeat_never_misses_a_duplicate(rows: list[tuple]) -> None:
    data = pl.DataFrame(rows, schema={"a": pl.String, "b": pl.String, "c": pl.Int32},
                        orient="row")
    exact = data.height > data.unique().height  # nulls compare equal, as in _dedupe
    may = capture._may_repeat(data, ["a", "b", "c"])
    assert may or not exact
    assert may == exact  # a 64-bit collision in 30 rows would be a (harmless) surprise


def test_may_repeat_looks_at_every_key_column_in_order() -> None:
    # Swapped values in two columns are different rows: xor of equally seeded hashes would
    # call them equal; distinct seeds per column keep them apart.
    data = pl.DataFrame({"a": ["x", "y"], "b": ["y", "x"]})
    assert not capture._may_repeat(data, ["a", "b"])
    assert capture._may_repeat(data, ["a"]) is False
    assert capture._may_repeat(pl.DataFrame({"a": ["x", "x"], "b": ["y", "z"]}), ["a"])


def test_dedupe_keeps_the_last_row_and_warns() -> None:
    cap = capture.Capture()
    rows = [{"name": "n1", "labels": [], "source": "first"},
            {"name": "n2", "labels": [], "source": "only"},
            {"name": "n1", "labels": [], "source": "last"}]
    out = cap._dedupe(capture.frame(rows, "namespaces"), "namespaces")
    assert out.select("name", "source").rows() == [("n2", "only"), ("n1", "last")]
    assert cap.summary()["warnings"] == [
        "1 duplicate namespaces row(s) (same object given twice); kept the last one"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT, st.one_of(st.none(), st.integers(0, 3)),
                          st.integers(0, 9)), max_size=40),
       st.integers(1, 4))
def test_sorted_equals_a_stable_frame_sort(rows: list[tuple], pieces: int) -> None:
    # The endpoints key (namespace, service, ip, port, protocol, slice) with nulls and ties;
    # the frame in several chunks, as a capture gathers it.
    cols = ["namespace", "service", "port", "n"]
    data = pl.DataFrame(rows, schema={"namespace": pl.String, "service": pl.String,
                                      "port": pl.Int32, "n": pl.Int64}, orient="row")
    data = data.with_columns(ip=pl.col("service"), protocol=pl.col("namespace"),
                             slice=pl.lit(None, dtype=pl.String))
    size = max(1, data.height // pieces)
    chunked = pl.concat([data.slice(i, size) for i in range(0, data.height, size)]
                        or [data], rechunk=False)
    expected = chunked.sort(capture.row_identity("endpoints"), nulls_last=True,
                            maintain_order=True)
    got = capture._sorted(chunked, "endpoints")
    assert got.equals(expected)
    assert got.select(cols).rows() == expected.select(cols).rows()  # ties keep input order
