"""The live collector with the real kubernetes client against the fake API server."""

from __future__ import annotations

import copy
from pathlib import Path

import fakeapi
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from toolkit import schema
from toolkit.collect.k8s import live, normalise_objects
from toolkit.errors import CollectError

FAST = live.RetryPolicy(attempts=4, base=0.001, cap=0.01)


def _collect(tmp_path: Path, cluster: fakeapi.FakeCluster, **kwargs):
    with fakeapi.FakeServer(cluster) as url:
        config = fakeapi.write_kubeconfig(tmp_path, url)
        return live.collect_result(kubeconfig=str(config), retry=FAST, **kwargs)


def assert_same_inventory(a, b) -> None:
    for name in schema.INVENTORY_TABLES:
        left = a.table(name).collect().drop("source")
        right = b.table(name).collect().drop("source")
        assert_frame_equal(left, right, check_row_order=True), name


def test_live_equals_offline_despite_faults(tmp_path: Path) -> None:
    objects = fakeapi.sample_objects(pods=40, per_deployment=4)
    cluster = fakeapi.FakeCluster(copy.deepcopy(objects))
    cluster.faults = [
        fakeapi.Fault("/api/v1/pods", 429, retry_after="0"),
        fakeapi.Fault("/apis/apps/v1/replicasets", 500),
        fakeapi.Fault("/api/v1/pods", 410, on_continue=True),
        fakeapi.Fault("/api/v1/services", "slow", delay=0.5),
        fakeapi.Fault("/apis/discovery.k8s.io/v1/endpointslices", "drop"),
    ]
    snap, scope = _collect(tmp_path, cluster, page_size=7, timeout=0.3)
    offline = normalise_objects(objects)
    assert_same_inventory(snap, offline)
    assert snap.row_counts()["pods"] == 40
    assert all(f.times == 0 for f in cluster.faults)
    assert sum("continue" in r for r in cluster.requests if r.startswith("/api/v1/pods")) > 3
    assert snap.sources[0]["retries"] >= 4
    assert ("pods", "ns0") in scope and ("nodes", "") in scope
    assert "test-token" not in str(snap.sources)


def test_forbidden_names_the_missing_permission(tmp_path: Path) -> None:
    cluster = fakeapi.FakeCluster(fakeapi.sample_objects(pods=4))
    cluster.faults = [fakeapi.Fault("/api/v1/pods", 403)]
    with pytest.raises(CollectError, match=r"list pods at cluster scope: forbidden — apply the "
                                           r"RBAC from `kseg collect --print-rbac`"):
        _collect(tmp_path, cluster)


def test_retries_are_bounded(tmp_path: Path) -> None:
    cluster = fakeapi.FakeCluster(fakeapi.sample_objects(pods=4))
    cluster.faults = [fakeapi.Fault("/api/v1/nodes", 503, times=50)]
    with pytest.raises(CollectError, match="list nodes at cluster scope: HTTP 503"):
        _collect(tmp_path, cluster)
    assert cluster.faults[0].times == 50 - (FAST.attempts + 1)


def test_namespaces_and_legacy_endpoints(tmp_path: Path) -> None:
    objects = fakeapi.sample_objects(pods=8, per_deployment=2)
    legacy = [{"kind": "Endpoints", "metadata": {"name": "app0", "namespace": "ns0"},
               "subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 8080}]}]}]
    cluster = fakeapi.FakeCluster([o for o in objects if o["kind"] != "EndpointSlice"] + legacy)
    cluster.missing_groups.add("/apis/discovery.k8s.io/v1")
    snap, scope = _collect(tmp_path, cluster, namespaces=["ns0"])
    assert set(snap.pods.collect()["namespace"]) == {"ns0"}
    ends = snap.endpoints.collect()
    assert ends.select("service", "ip", "port").rows() == [("app0", "10.0.0.1", 8080)]
    assert ("pods", "ns0") in scope and ("pods", "ns1") not in scope
    with pytest.raises(CollectError, match="namespace 'nope' does not exist"):
        _collect(tmp_path, cluster, namespaces=["nope"])


def test_watch_records_an_ip_moving_to_another_pod(tmp_path: Path) -> None:
    objects = fakeapi.sample_objects(pods=4, per_deployment=2)
    cluster = fakeapi.FakeCluster(copy.deepcopy(objects))
    old = next(o for o in objects if o["kind"] == "Pod")
    ip = old["status"]["podIP"]
    gone = copy.deepcopy(old)
    gone["metadata"].update(resourceVersion="1001", deletionTimestamp="2024-05-01T11:00:00Z")
    new = fakeapi._pod("ns1", "newcomer", "pod-new", ip, "node1", "app1-5d56c488f5",
                       {"app": "app1"})
    new["metadata"]["resourceVersion"] = "1002"
    new["status"]["startTime"] = "2024-05-01T11:00:30Z"
    cluster.events["pods"] = [{"type": "DELETED", "object": gone},
                              {"type": "ADDED", "object": new}]
    snap, _ = _collect(tmp_path, cluster, watch_seconds=1.0)
    held = snap.pods.filter(pl.col("ip") == ip).sort("valid_from").collect()
    assert held["name"].to_list() == [old["metadata"]["name"], "newcomer"]
    assert held["valid_to"][0] == held["valid_from"][0].replace(hour=11, minute=0, second=0)
    assert held["valid_to"][1] is None
    assert held["namespace"].to_list() == ["ns0", "ns1"]
    assert held["workload_name"][1] == "app1"
    assert snap.sources[0]["ip_changes"] == 2


def test_token_refresh_is_throttled_and_forced_after_a_401(tmp_path: Path) -> None:
    cluster = fakeapi.FakeCluster(fakeapi.sample_objects(pods=30, per_deployment=3))
    cluster.faults = [fakeapi.Fault("/api/v1/services", 401)]  # e.g. a token just expired
    with fakeapi.FakeServer(cluster) as url:
        config = fakeapi.write_kubeconfig(tmp_path, url)
        client, _ = live.api_client(str(config))
        hook = client.configuration.refresh_api_key_hook
        assert isinstance(hook, live.ThrottledRefresh)
        with client:
            result = live.collect_capture(live.Lister(client, retry=FAST, page_size=5))
    assert result.capture.kinds["Service"] == 10  # the 401 was retried once, then succeeded
    assert 2 <= hook.calls < len(cluster.requests) / 4  # forced once, else at most 1/s
    cluster.faults = [fakeapi.Fault("/api/v1/services", 401, times=2)]
    with pytest.raises(CollectError, match="list services at cluster scope: unauthorized"):
        _collect(tmp_path, cluster)
