"""Flow matrices: levels, exact sums, partial/combine, buckets, filters, display."""

from __future__ import annotations

import pickle
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.core import (
    InventoryIndex,
    MatrixSpec,
    combine_partials,
    flow_matrix,
    partial_matrix,
)
from toolkit.core.matrix import LEVELS
from toolkit.errors import KsegError


def test_namespace_matrix_exact(mini):
    m = flow_matrix(mini, src="namespace", dst="namespace")
    got = {(r["src_namespace"], r["dst_namespace"], r["src_kind"], r["dst_kind"]): r["bytes"]
           for r in m.frame.to_dicts()}
    assert got == {
        ("shop", "shop", "pod", "pod"): 1000 + 200 + 3000 + 130 + 140,
        ("shop", "pay", "pod", "pod"): 4000,
        ("shop", "kube-system", "pod", "pod"): 500,
        ("shop", None, "pod", "external-public"): 60,
        ("shop", None, "pod", "unknown-in-cluster"): 70,
        ("shop", None, "pod", "metadata"): 80,
        (None, "shop", "unknown-in-cluster", "pod"): 90,
        ("shop", "shop", "pod", "service"): 100,
        ("shop", None, "pod", "external-private"): 110,
        (None, None, "node", "node"): 120,
    }
    assert m.frame.columns == ["src_namespace", "dst_namespace", "src_kind", "dst_kind",
                               "bytes", "packets", "flows"]


@pytest.mark.parametrize(("src", "dst"), [(s, d) for s in LEVELS for d in ("namespace", "pod")]
                         + [("workload", "service"), ("node", "external")])
def test_every_level_keeps_every_byte(mini, src, dst):
    m = flow_matrix(mini, src=src, dst=dst, segments="label:app")
    total = mini.flows.select(pl.col("bytes").sum()).collect().item()
    assert m["bytes"].sum() == total and m["flows"].sum() == 14
    names = {"workload": ["src_namespace", "src_workload", "src_workload_kind"],
             "service": ["src_namespace", "src_service"]}
    for col in names.get(src, [f"src_{c}" for c in LEVELS[src]]):
        assert col in m.columns


def test_workload_to_service_names(mini):
    m = flow_matrix(mini, src="workload", dst="service")
    assert m.columns[:5] == ["src_namespace", "src_workload", "src_workload_kind",
                             "dst_namespace", "dst_service"]
    row = m.filter(pl.col("dst_service") == "pay").row(0, named=True)
    assert (row["src_workload"], row["src_workload_kind"], row["dst_namespace"]) == (
        "web", "Deployment", "pay")


def test_partials_combine_exactly(mini):
    index = InventoryIndex.build(mini)
    spec = MatrixSpec(src="workload", dst="service", dedupe=False)
    flows = mini.flows.collect()
    parts = [partial_matrix(flows.slice(0, 6).lazy(), index, spec),
             partial_matrix(flows.slice(6).lazy(), index, spec)]
    split = combine_partials(pickle.loads(pickle.dumps(parts)), pickle.loads(pickle.dumps(spec)))
    whole = flow_matrix(mini, src="workload", dst="service")
    assert split.frame.equals(whole.frame)
    assert split.coverage == whole.coverage


def test_buckets_namespaces_and_window(mini):
    m = flow_matrix(mini, bucket="1h")
    assert m.columns[0] == "bucket" and m["bucket"].n_unique() == 2
    only_pay = flow_matrix(mini, namespaces=["pay"])
    assert only_pay["bytes"].sum() == 4000
    early = flow_matrix(mini, window=(None, mini.flows.collect()["start"].min()
                                      + timedelta(minutes=1)))
    assert early["flows"].sum() == 1


def test_coverage_counts(mini):
    cov = flow_matrix(mini).coverage
    assert cov.records == 14 and cov.bytes == 9600
    assert cov.oriented == {"endpoint": 8, "port": 4, "tcp-flags": 1, "unoriented": 1}
    assert (cov.dst_external, cov.dst_unknown, cov.src_unknown) == (3, 1, 1)
    d = cov.as_dict()
    assert d["oriented_pct"]["endpoint"] == pytest.approx(100 * 8 / 14, abs=0.01)
    assert "14 records" in cov.summary()


def test_dedupe_keeps_one_copy_of_double_reported_records(kit):
    flows = kit.flows_frame(kit.FLOWS[:3])
    both = pl.concat([flows.with_columns(pl.lit("src").alias("reporter")),
                      flows.head(2).with_columns(pl.lit("dst").alias("reporter"))])
    snap = kit.mini_snapshot(both)
    assert flow_matrix(snap)["bytes"].sum() == flows["bytes"].sum()
    assert flow_matrix(snap, dedupe=False)["bytes"].sum() == both["bytes"].sum()


def test_frame_delegation_wide_and_reprs(mini):
    m = flow_matrix(mini, src="workload", dst="service")
    assert len(m) == m.frame.height and m.sort("bytes")["bytes"][0] == 60
    wide = m.to_wide()
    assert wide.select(pl.exclude("src")).sum_horizontal().sum() == m["bytes"].sum()
    assert "next:" in repr(m) and "coverage" in repr(m)
    assert "<table" in m._repr_html_()
    with pytest.raises(AttributeError):
        m.no_such_thing  # noqa: B018


def test_bad_levels_are_clear_errors(mini):
    with pytest.raises(KsegError, match="unknown matrix level"):
        flow_matrix(mini, src="galaxy")
    with pytest.raises(KsegError, match="segment strategy"):
        MatrixSpec(src="segment")


IPS = ["10.244.0.5", "10.244.0.6", "10.244.1.7", "10.0.1.10", "10.0.1.11", "8.8.8.8",
       "10.96.0.10", "10.244.0.99", "fd00:10:244::5", "169.254.169.254", "192.168.50.5"]
RECORD = st.tuples(st.integers(0, 180), st.sampled_from(IPS), st.one_of(st.none(),
                   st.sampled_from([80, 443, 5432, 8443, 9000, 9090, 9100, 40000, 50000])),
                   st.sampled_from(IPS), st.one_of(st.none(), st.integers(1, 65535)),
                   st.sampled_from([6, 17, 1]), st.sampled_from([None, 2, 18, 16]),
                   st.one_of(st.none(), st.integers(0, 10**12)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(records=st.lists(RECORD, min_size=1, max_size=40),
       levels=st.tuples(st.sampled_from(list(LEVELS)), st.sampled_from(list(LEVELS))),
       as_recorded=st.booleans())
def test_bytes_are_conserved_property(kit, records, levels, as_recorded):
    rows = [(f"r{i}", m, s, sp, d, dp, p, f, b)
            for i, (m, s, sp, d, dp, p, f, b) in enumerate(records)]
    snap = kit.mini_snapshot(kit.flows_frame(rows))
    m = flow_matrix(snap, src=levels[0], dst=levels[1], as_recorded=as_recorded,
                    segments="illumio", bucket="30m")
    assert m["bytes"].sum() == sum(b or 0 for *_, b in records)
    assert m["flows"].sum() == len(records) == m.coverage.records
    assert sum(m.coverage.oriented.values()) == len(records)
    for side, level in zip(("src", "dst"), levels, strict=True):
        if level == "segment":  # every endpoint, pod or not, is in exactly one segment
            assert m[f"{side}_segment"].null_count() == 0


def test_coverage_of_a_snapshot_equals_the_matrix_coverage(mini):
    from toolkit.core import coverage

    m = flow_matrix(mini, src="pod", dst="service")
    assert coverage(mini) == m.coverage == coverage(m)


def test_dedupe_keeps_aggregated_records_of_different_workloads(kit):
    from toolkit import schema
    from toolkit.core.dedupe import dedupe_reporters

    rows = [("a", 1, "0.0.0.0", None, "0.0.0.0", 80, 6, None, 10)] * 3
    flows = kit.flows_frame(rows).with_columns(
        pl.Series("reporter", ["src", "dst", "dst"]),
        pl.Series("src_id_workload", ["web", "web", "batch"]),
        pl.Series("dst_id_workload", ["api", "api", "api"]))
    kept = dedupe_reporters(schema.conform(flows.lazy(), "flows")).collect()
    assert sorted(kept["src_id_workload"]) == ["batch", "web"]  # only the twin copy dropped


@pytest.fixture(scope="module")
def parted(tmp_path_factory):
    """A demo day reported from both ends (twins to dedupe), its flows in 4 Parquet parts."""
    from toolkit.demo import DemoConfig, generate_snapshot
    from toolkit.snapshot import FlowAppender, load_snapshot, write_snapshot

    snap = generate_snapshot(DemoConfig(seed=5, days=1, flows_per_day=8_000, both_sides=True),
                             1)
    # shuffled, so that the two reports of a connection usually land in different parts
    flows = snap.flows.collect().sample(fraction=1.0, shuffle=True, seed=1)
    path = write_snapshot(snap.with_tables(flows=flows.head(0)),
                          tmp_path_factory.mktemp("parted") / "s")
    with FlowAppender(path, fmt="demo") as out:
        for chunk in flows.iter_slices(flows.height // 4 + 1):
            out.write(chunk)
        out.commit({"files": []})
    return load_snapshot(path)


@pytest.mark.parametrize(("src", "dst", "window"), [
    ("namespace", "namespace", None), ("workload", "service", None),
    ("namespace", "namespace", "2026-03-02T06:00:00Z..2026-03-02T18:00:00Z")])
def test_a_sliced_matrix_equals_the_whole(parted, monkeypatch, src, dst, window):
    """Large snapshots are aggregated slice by slice (bounded memory): same result, same
    coverage, with the twin copies still dropped across slices."""
    from toolkit.core import matrix

    assert len(parted.manifest["flows"]["parts"]) == 4
    whole = flow_matrix(parted, src=src, dst=dst, window=window)
    monkeypatch.setattr(matrix, "SLICE_ROWS", 2_500)
    monkeypatch.setattr(matrix, "TWIN_ROWS", 3_000)  # 3 passes
    assert len(matrix.flow_slices(parted)) >= 3
    sliced = flow_matrix(parted, src=src, dst=dst, window=window)
    assert sliced.frame.equals(whole.frame)
    assert sliced.coverage == whole.coverage
    undeduped = flow_matrix(parted, src=src, dst=dst, window=window, dedupe=False)
    assert undeduped["flows"].sum() > sliced["flows"].sum()  # there were twins to drop



def test_slices_are_few_and_even(tmp_path, monkeypatch):
    """Parts are grouped into as few slices as the limit allows, of about equal size."""
    from types import SimpleNamespace

    from toolkit.core import matrix

    groups: list[list[str]] = []
    real = matrix.schema.scan_parquet
    monkeypatch.setattr(matrix.schema, "scan_parquet",
                        lambda files, table: groups.append([Path(f).name for f in files])
                        or real([], table))

    def slices(parts: list[dict], limit: int) -> list[list[str]]:
        groups.clear()
        matrix.flow_slices(SimpleNamespace(path=tmp_path, manifest={"flows": {"parts": parts}}),
                           limit)
        return list(groups)

    parts = [{"file": f"p{i:02d}.parquet", "rows": 1_000} for i in range(30)]
    assert slices(parts, 30_000) == []
    assert [len(g) for g in slices(parts, 12_000)] == [10, 10, 10]  # not 12 + 12 + 6
    assert [len(g) for g in slices(parts, 8_000)] == [8, 7, 8, 7]
    assert [f for g in slices(parts, 7_000) for f in g] == [p["file"] for p in parts]
    big = slices([{"file": "big.parquet", "rows": 50_000}, *parts[:4]], 12_000)
    assert big == [["big.parquet"], [p["file"] for p in parts[:4]]]


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.integers(1, 5_000), min_size=1, max_size=40),
       limit=st.integers(1_000, 20_000))
def test_slices_keep_every_part_once_and_respect_the_limit(tmp_path, monkeypatch, rows, limit):
    from types import SimpleNamespace

    from toolkit.core import matrix

    groups: list[list[str]] = []
    real = matrix.schema.scan_parquet
    monkeypatch.setattr(matrix.schema, "scan_parquet",
                        lambda files, table: groups.append([Path(f).name for f in files])
                        or real([], table))
    parts = [{"file": f"p{i:02d}", "rows": n} for i, n in enumerate(rows)]
    matrix.flow_slices(SimpleNamespace(path=tmp_path, manifest={"flows": {"parts": parts}}),
                       limit)
    if sum(rows) <= limit:
        assert groups == []
        return
    size = {p["file"]: p["rows"] for p in parts}
    assert [f for g in groups for f in g] == [p["file"] for p in parts]
    assert all(len(g) == 1 or sum(size[f] for f in g) <= limit for g in groups)


@pytest.mark.parametrize("as_recorded", [False, True])
def test_record_groups_unpack_the_packed_key_exactly(mini, bundled_data, as_recorded):
    """Stage 1 groups by one Int128 key (src endpoint, dst endpoint and port, rule): its
    unpacked columns equal a plain group-by on them, null ports and address/host
    endpoints (ids past 2**40) included."""
    from toolkit.core import matrix
    from toolkit.core.endpoints import ip_table, resolve_ids
    from toolkit.snapshot import load_snapshot

    for snap in (mini, load_snapshot(bundled_data / "demo-day1")):
        index = InventoryIndex.build(snap)
        ips = ip_table(snap.flows, index).collect()
        spec = MatrixSpec(as_recorded=as_recorded, identities=False)
        got = matrix._record_groups(snap.flows, index, spec, ips)
        keys = ["src_eid", "dst_eid", "dst_akey", "orientation"]
        want = (resolve_ids(snap.flows, index, ips.lazy(), as_recorded=as_recorded)
                .group_by(keys).agg(pl.col("bytes").sum(), pl.col("packets").sum(),
                                    pl.len().cast(pl.Int64).alias("flows"))
                .collect())
        got = got.select(want.columns).sort(keys, nulls_last=True)
        assert got.equals(want.sort(keys, nulls_last=True))
        assert got["dst_eid"].max() > 1 << 40  # address endpoints were packed too


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, (1 << 42) - 1), st.integers(0, (1 << 42) - 1),
                          st.one_of(st.none(), st.integers(-3, 70_000)),
                          st.one_of(st.none(), st.integers(0, 255))), min_size=1, max_size=30))
def test_packed_keys_round_trip_and_never_mix_fields(rows):
    from toolkit.core.endpoints import packed_key, unpacked

    cols = ["src_eid", "dst_eid", "dst_port", "protocol"]
    frame = pl.DataFrame(rows, schema=dict(zip(cols, [pl.Int64] * 4, strict=True)),
                         orient="row")
    back = frame.select(packed_key(cols)).select(unpacked(cols))
    want = frame.with_columns(pl.when(pl.col("dst_port") >= 0).then(pl.col("dst_port"))
                              .alias("dst_port"))  # a negative port counts as null
    assert back.equals(want)
