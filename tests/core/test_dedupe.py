"""Twin keys (records reported by both ends) against a plain-Python reference."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.core.dedupe import KEY, dedupe_reporters, find_twins, twin_keys

IPS = ["10.0.0.1", "10.0.0.2", "0.0.0.0", "::"]
# few distinct values, so that twins (and unspecified addresses with different identities)
# are common
records = st.lists(st.tuples(st.sampled_from(IPS), st.sampled_from([1, None]),
                             st.sampled_from(IPS[1:3]), st.just(443), st.sampled_from([6, 17]),
                             st.sampled_from(["src", "dst", None]),
                             st.sampled_from(["a", "b", None])),
                   max_size=40)


def frame(rows: list[tuple]) -> pl.LazyFrame:
    columns = [*KEY, "reporter", "src_id_namespace"]
    data = pl.DataFrame(rows, schema={c: (pl.Int64 if c.endswith(("port", "protocol"))
                                          else pl.String) for c in columns}, orient="row")
    return data.with_columns(pl.lit(None, pl.String).alias(c) for c in (
        "src_id_workload", "dst_id_namespace", "dst_id_workload")).lazy()


def reference_key(row: dict) -> tuple:
    identity = row["src_id_namespace"] if row["src_ip"] in ("0.0.0.0", "::") else None
    return (*(row[c] for c in KEY), identity)


@settings(max_examples=150, deadline=None)
@given(records)
def test_twin_keys_and_dedupe_match_a_plain_reference(rows):
    flows = frame(rows)
    dicts = flows.collect().to_dicts()
    src = {reference_key(r) for r in dicts if r["reporter"] == "src"}
    dst = {reference_key(r) for r in dicts if r["reporter"] == "dst"}
    twins = twin_keys(flows).collect()
    found = {(*(r[c] for c in KEY), r["_k_sns"]) for r in twins.to_dicts()}
    assert found == src & dst and twins.height == len(found)
    kept = dedupe_reporters(flows, twins).collect()
    expected = [r for r in dicts if not (r["reporter"] == "dst" and reference_key(r) in src)]
    assert kept.height == len(expected)
    for buckets in (1, 3):
        eager = find_twins(flows, buckets=buckets)
        assert {(*(r[c] for c in KEY), r["_k_sns"]) for r in eager.to_dicts()} == found
        assert eager.height == len(found) and eager.columns == twins.columns


@settings(max_examples=60, deadline=None)
@given(records)
def test_find_twins_without_identities_keys_on_the_five_tuple(rows):
    flows = frame([(*row[:-1], None) for row in rows])
    dicts = flows.collect().to_dicts()
    src = {tuple(r[c] for c in KEY) for r in dicts if r["reporter"] == "src"}
    dst = {tuple(r[c] for c in KEY) for r in dicts if r["reporter"] == "dst"}
    twins = find_twins(flows, buckets=2, identities=False)
    assert {tuple(r[c] for c in KEY) for r in twins.to_dicts()} == src & dst
    assert twins.height == len(src & dst)
    assert dedupe_reporters(flows, twins).collect().height == sum(
        1 for r in dicts if not (r["reporter"] == "dst" and tuple(r[c] for c in KEY) in src))
