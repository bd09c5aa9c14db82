"""Service attribution: named targetPorts, multi-port services, a pod behind two services."""

from __future__ import annotations

import polars as pl

from toolkit.core import InventoryIndex, resolve_flows


def test_named_and_numeric_target_ports(mini):
    by_pod = InventoryIndex.build(mini).svc_by_pod
    rows = {(r["pod_uid"], r["port"]): r for r in by_pod.to_dicts()}
    assert rows[("uid-shop-web-1", 8080)]["service_name"] == "web"  # targetPort "http"
    assert rows[("uid-shop-api-1", 9000)]["service_name"] == "api"  # targetPort "grpc"
    assert rows[("uid-pay-pay-1", 8443)]["service_name"] == "pay"  # targetPort "8443"


def test_pod_behind_two_services_picks_first_and_counts(mini):
    row = (resolve_flows(mini).filter(pl.col("l7_type") == "web-to-api-metrics")
           .collect().row(0, named=True))
    assert (row["dst_service_namespace"], row["dst_service"]) == ("shop", "api")
    assert row["dst_service_count"] == 2


def test_multi_port_service_attributes_each_port(mini):
    frame = resolve_flows(mini).filter(pl.col("dst_pod") == "api-1").collect()
    ports = dict(zip(frame["dst_port"], frame["dst_service"], strict=True))
    assert ports[9000] == "api" and ports[9090] == "api"


def test_manual_endpoint_to_an_address_outside_the_cluster(mini):
    row = resolve_flows(mini).filter(pl.col("l7_type") == "extdb").collect().row(0, named=True)
    assert (row["dst_kind"], row["dst_service"]) == ("external-private", "extdb")


def test_no_service_for_a_port_no_service_targets(mini):
    row = resolve_flows(mini).filter(pl.col("l7_type") == "web-to-db").collect().row(
        0, named=True)
    assert row["dst_service"] is None and row["dst_service_count"] is None


def test_endpoints_rows_naming_a_pod_attribute_by_uid(kit):
    eps = pl.DataFrame([{"namespace": "shop", "service": "legacy", "ip": kit.REUSED,
                         "port": 5432, "pod_namespace": "shop", "pod_name": "db-0"}])
    snap = kit.mini_snapshot().with_tables(endpoints=eps)
    row = resolve_flows(snap).filter(pl.col("l7_type") == "web-to-db").collect().row(
        0, named=True)
    assert row["dst_service"] == "legacy"
    other = resolve_flows(snap).filter(pl.col("l7_type") == "web-to-pay").collect()
    assert other["dst_service"].to_list() == ["pay"]  # the later owner is not db-0
