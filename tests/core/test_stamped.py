"""Identity stamped by the source (Hubble, Calico, GKE) fills in where the inventory is silent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from toolkit import schema
from toolkit.collect.flows import import_flows
from toolkit.core import flow_matrix, resolve_flows
from toolkit.snapshot import Snapshot, load_snapshot, write_snapshot

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_hubble_identities_give_namespaces_without_inventory(realdata: Path, tmp_path: Path):
    path = write_snapshot(Snapshot.from_frames(cluster="gke"), tmp_path / "s")
    import_flows([realdata / "hubble" / "hubble-otel-testdata"], path, "hubble")
    snap = load_snapshot(path)
    m = flow_matrix(snap, src="namespace", dst="namespace")
    pairs = set(m.frame.filter(pl.col("src_kind") == "pod-reported")
                .select("src_namespace", "dst_namespace").iter_rows())
    assert ("bookinfo", "bookinfo") in pairs and ("bookinfo", "kube-system") in pairs
    assert m.frame["flows"].sum() == snap.flows.select(pl.len()).collect().item()
    assert m.coverage.as_dict()["src_resolved_pct"] > 80


def test_inventory_wins_over_the_stamp():
    pods = schema.conform(pl.DataFrame({
        "namespace": ["shop"], "name": ["web-1"], "uid": ["u1"], "ip": ["10.0.0.5"],
        "host_network": [False], "labels": [[]], "workload_kind": ["Deployment"],
        "workload_name": ["web"], "container_ports": [[]], "images": [[]], "planned": [False],
        "valid_from": [T0]}, schema_overrides={"labels": schema.LABELS,
                                               "container_ports": schema.CONTAINER_PORTS}),
        "pods")
    flows = schema.conform(pl.DataFrame({
        "start": [T0, T0], "end": [T0, T0], "src_ip": ["10.0.0.5", "10.0.0.77"],
        "dst_ip": ["1.1.1.1", "1.1.1.1"], "src_port": [40000, 40001], "dst_port": [443, 443],
        "protocol": [6, 6], "bytes": [10, 20], "flow_count": [1, 1], "format": ["t", "t"],
        "src_id_namespace": ["other", "billing"], "src_id_pod": ["x", "api-7"],
        "src_id_workload": [None, "api"]}), "flows")
    snap = Snapshot.from_frames(pods=pods, flows=flows)
    rows = resolve_flows(snap).collect().sort("bytes")
    assert rows["src_kind"].to_list() == ["pod", "pod-reported"]
    assert rows["src_namespace"].to_list() == ["shop", "billing"]
    assert rows["src_workload"].to_list() == ["web", "api"]
    assert rows["id_disagree"].to_list() == [True, False]
