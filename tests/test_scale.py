"""Scale-out on Dask: identical results to the single-machine path, survives a dead worker."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import polars as pl
import pytest

from toolkit import _store, scale
from toolkit.core import flow_matrix
from toolkit.core.batch import (
    analyse_partition,
    analyse_snapshot,
    analysis_specs,
    batch_summary,
    combine_analysis,
)
from toolkit.core.inventory import InventoryIndex
from toolkit.demo import DemoConfig, generate_snapshot
from toolkit.errors import KsegError, MissingDependencyError
from toolkit.snapshot import FlowAppender, Snapshot, load_snapshot, write_snapshot

# the scheduler's HTTP server falls back to a free port when another cluster holds 8787
pytestmark = pytest.mark.filterwarnings("ignore:Port .* is already in use")


def _write_in_parts(snap: Snapshot, path: Path, *, twins: int) -> Path:
    """Write ``snap`` with its flows in 4 part files; add ``twins`` destination-side copies of
    source-side records, in other files than their originals (the dedupe must find them)."""
    flows = snap.flows.collect()
    write_snapshot(snap.with_tables(flows=flows.clear()), path)
    copies = flows.filter(pl.col("reporter") == "src").head(twins).with_columns(
        reporter=pl.lit("dst"), source_record=pl.col("source_record") + 10_000_000)
    chunks = [*flows.sort("source_record").iter_slices(flows.height // 3 + 1), copies]
    with FlowAppender(path, fmt="test") as out:
        for chunk in chunks:
            out.write(chunk)
        out.commit({"files": []})
    return path


@pytest.fixture(scope="module")
def snaps(tmp_path_factory) -> list[Snapshot]:
    folder = tmp_path_factory.mktemp("scale")
    cfg = DemoConfig(seed=11, days=2, flows_per_day=6_000)
    return [load_snapshot(_write_in_parts(generate_snapshot(cfg, day), folder / f"d{day}",
                                          twins=300 * day)) for day in (1, 2)]


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.mark.parametrize("dedupe", [False, True])
def test_partitions_cover_every_record_exactly_once(snaps, dedupe):
    snap = snaps[0]
    parts = scale.flow_partitions(snap, rows_per_partition=1, dedupe=dedupe)
    assert len(parts) == (8 if dedupe else 4)  # 4 files; + 4 dedupe buckets
    got = pl.concat([p.scan().collect() for p in parts]).sort("source_record", "reporter")
    assert got.equals(snap.flows.collect().sort("source_record", "reporter"))


def test_partitions_follow_row_groups(tmp_path, monkeypatch):
    monkeypatch.setattr(_store, "ROW_GROUP_SIZE", 1_000)
    snap = generate_snapshot(DemoConfig(seed=2, days=1, flows_per_day=4_500), 1)
    disk = load_snapshot(write_snapshot(snap, tmp_path / "s"))
    parts = scale.flow_partitions(disk, rows_per_partition=2_000)
    assert [(p.offset, p.length) for p in parts] == [(0, 2_000), (2_000, 2_000), (4_000, 500)]
    assert pl.concat([p.scan().collect() for p in parts]).equals(disk.flows.collect())


def test_in_memory_snapshot_is_refused_with_a_hint():
    with pytest.raises(KsegError, match="on disk"):
        scale.flow_partitions(generate_snapshot(DemoConfig(seed=1, flows_per_day=10), 1))


def test_missing_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingDependencyError, match=r"kseg\[dask\]"), \
            scale.dask_client(workers=1):
        pass


@pytest.mark.slow
@pytest.mark.parametrize(("src", "dst"), [("namespace", "namespace"), ("workload", "service")])
def test_dask_flow_matrix_is_identical_to_local(snaps, client, src, dst):
    local = flow_matrix(snaps[0], src, dst)
    assert local.coverage.records == snaps[0].manifest["flows"]["rows"] - 300  # twins dropped
    remote = scale.flow_matrix(snaps[0], src, dst, client=client, rows_per_partition=1)
    assert remote.frame.equals(local.frame)
    assert remote.coverage == local.coverage


@pytest.mark.slow
def test_dask_batch_summary_is_identical_to_local(snaps, client):
    local = batch_summary(snaps)
    seen = []
    remote = batch_summary(snaps, client, on_done=lambda i, s: seen.append(i))
    assert remote.frame.equals(local.frame)
    assert sorted(seen) == [0, 1]


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_survived_with_identical_results(snaps, client, tmp_path):
    def die_once(flows: pl.LazyFrame, index, specs, marker: str) -> dict:
        """Kill this worker process the first time a task runs; behave normally afterwards.
        (A local function: cloudpickle ships it by value; workers cannot import tests/.)"""
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return analyse_partition(flows, index, specs)
        os.close(fd)
        os._exit(1)

    snap = snaps[1]
    specs = analysis_specs(True)
    parts = scale.flow_partitions(snap, rows_per_partition=1, dedupe=True)
    index = client.scatter(InventoryIndex.build(snap), broadcast=True, hash=False)
    marker = tmp_path / "killed-once"
    futures = scale.map_partitions(client, parts, die_once, index, specs, str(marker))
    remote = combine_analysis(client.gather(futures), specs)
    assert marker.exists()  # a worker really died
    local = analyse_snapshot(snap)
    for level, matrix in local.matrices.items():
        assert remote.matrices[level].frame.equals(matrix.frame), level
        assert remote.matrices[level].coverage == matrix.coverage, level
    assert remote.external.equals(local.external)


@pytest.mark.slow
def test_dask_policy_replay_is_identical_to_local(snaps, client):
    from toolkit.policy.replay import replay

    local = replay(snaps[0])
    remote = scale.replay(snaps[0], client=client, rows_per_partition=1)
    assert remote.edges.sort(remote.edges.columns, nulls_last=True).equals(
        local.edges.sort(local.edges.columns, nulls_last=True))
    assert remote.summary.equals(local.summary)
    assert local.count("denied") > 0  # the demo's planted denied attempts are replayed


@pytest.mark.slow
def test_dask_diff_is_identical_to_local(snaps, client):
    from toolkit.core.diff import diff_snapshots

    local, remote = diff_snapshots(*snaps), diff_snapshots(*snaps, client=client)
    for table in local.TABLES:
        assert getattr(remote, table).equals(getattr(local, table)), table
    assert remote.gate == local.gate
