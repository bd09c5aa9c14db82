"""Endpoint resolution at the flow's time (hand-made snapshot: see conftest.py)."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest

from toolkit.core import InventoryIndex, resolve_flows
from toolkit.core.resolve import output_columns, parse_window
from toolkit.errors import KsegError


@pytest.fixture(scope="module")
def resolved(mini) -> pl.DataFrame:
    return resolve_flows(mini).collect(engine="streaming")


def _row(frame: pl.DataFrame, name: str) -> dict:
    rows = frame.filter(pl.col("l7_type") == name).to_dicts()
    assert len(rows) == 1, f"{name}: expected one row, got {len(rows)}"
    return rows[0]


def test_one_row_per_record_and_stable_columns(mini, resolved):
    assert resolved.height == mini.flows.collect().height
    assert resolved.columns[: len(output_columns())] == output_columns()
    assert resolved["flows"].sum() == resolved.height


def test_reused_ip_resolves_to_the_owner_at_the_flows_time(resolved):
    before, after = _row(resolved, "web-to-db"), _row(resolved, "web-to-pay")
    assert before["dst_ip"] == after["dst_ip"] == "10.244.1.7"
    assert (before["dst_namespace"], before["dst_pod"], before["dst_workload_kind"]) == (
        "shop", "db-0", "StatefulSet")
    assert (after["dst_namespace"], after["dst_pod"], after["dst_service"]) == (
        "pay", "pay-1", "pay")


def test_ip_outside_every_ownership_interval_is_unknown_in_cluster(kit):
    late = (*kit.FLOWS[2][:1], 200, *kit.FLOWS[2][2:])  # db-0's IP, but after pay-1 is gone
    pods = [dict(p, valid_to=kit.T0 + timedelta(hours=2)) if p["name"] == "pay-1" else p
            for p in kit.PODS]
    snap = kit.mini_snapshot(kit.flows_frame([late])).with_tables(pods=pl.DataFrame(pods))
    row = resolve_flows(snap).collect().row(0, named=True)
    assert row["dst_kind"] == "unknown-in-cluster"
    assert row["dst_pod"] is None


def test_hostnetwork_pod_found_by_node_ip_and_port(resolved):
    row = _row(resolved, "scrape-hostnet")
    assert (row["dst_kind"], row["dst_namespace"], row["dst_pod"], row["dst_node"]) == (
        "pod", "kube-system", "node-exporter-a", "node-a")
    kubelet = _row(resolved, "kubelet")  # node IP on a port no hostNetwork pod declares
    assert (kubelet["src_kind"], kubelet["src_node"]) == ("node", "node-a")
    assert (kubelet["dst_kind"], kubelet["dst_node"], kubelet["dst_pod"]) == (
        "node", "node-b", None)


@pytest.mark.parametrize(("name", "kind"), [
    ("to-internet", "external-public"), ("metadata", "metadata"),
    ("unknown-pod-ip", "unknown-in-cluster"), ("extdb", "external-private"),
    ("clusterip", "service"),
])
def test_destination_classes(resolved, name, kind):
    row = _row(resolved, name)
    assert row["dst_kind"] == kind
    if kind != "service":
        assert row["dst_namespace"] is None


def test_clusterip_is_the_service_in_its_namespace(resolved):
    row = _row(resolved, "clusterip")
    assert (row["dst_namespace"], row["dst_service"], row["dst_service_namespace"]) == (
        "shop", "web", "shop")


def test_ipv6_pod_and_unknown_ipv6_in_pod_range(resolved):
    row = _row(resolved, "v6")
    assert (row["dst_kind"], row["dst_pod"]) == ("pod", "v6-1")
    assert row["src_kind"] == "unknown-in-cluster"


def test_source_identity_is_checked_and_disagreements_flagged(kit):
    flows = kit.flows_frame(kit.FLOWS[:2]).with_columns(
        pl.Series("src_id_namespace", ["shop", "wrong"]),
        pl.Series("src_id_pod", ["api-*", None]))
    rows = resolve_flows(kit.mini_snapshot(flows)).collect().sort("source_record")
    # record 1 is a reply (swapped): its stamped source identity becomes the server's
    assert rows["dst_id_namespace"][0] == "shop" and rows["dst_pod"][0] == "api-1"
    assert rows["id_checked"].to_list() == [True, True]
    assert rows["id_disagree"].to_list() == [False, True]
    assert rows["src_id_disagree"].to_list() == [False, True]


def test_window_filter_and_parse_errors(mini):
    n = resolve_flows(mini, window="2024-05-01T10:00..2024-05-01T10:06").collect().height
    assert n == 1  # only the record starting at 10:05
    with pytest.raises(KsegError, match=r"START\.\.END"):
        parse_window("yesterday")
    with pytest.raises(KsegError, match="cannot read time"):
        parse_window("noon..later")


def test_index_is_picklable(mini):
    import pickle

    index = InventoryIndex.build(mini)
    again = pickle.loads(pickle.dumps(index))
    assert again.pod_segments.equals(index.pod_segments)
    assert again.cidrs == index.cidrs
    assert "pod IP segments" in repr(again)
