"""Offline import of the real kubectl dumps and manifests in ../shared/realdata."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from toolkit.collect.k8s import import_inventory
from toolkit.collect.k8s.offline import load_yaml_documents
from toolkit.errors import InputError

DUMPS = "k8s-inventory-dumps/network-config-analyzer/tests"
PODLIST = f"{DUMPS}/fw_rules_tests/podlist/pods_list.json"


def test_every_dump_imports(realdata: Path) -> None:
    snap = import_inventory([realdata / "k8s-inventory-dumps"])
    counts = snap.row_counts()
    assert counts["pods"] == 35  # 29 IBM Cloud pods + 6 bookinfo pods
    assert counts["namespaces"] >= 96
    source = snap.sources[0]
    assert source["unknown_kinds"] == {"WorkloadEndpoint": 70}  # Calico WEPs: not ours


def test_host_network_pods_share_the_node_ip(realdata: Path) -> None:
    pods = import_inventory(realdata / PODLIST).pods.collect()
    assert pods.height == 29
    assert pods["host_network"].sum() == 18
    assert pods["ip"].n_unique() == 14
    shared = pods.filter(pl.col("ip") == "10.186.164.166")
    assert shared.height == 8
    assert shared.filter(pl.col("host_network"))["node"].unique().to_list() == ["10.186.164.166"]


def test_owner_chains_from_a_pod_list(realdata: Path) -> None:
    snap = import_inventory(realdata / f"{DUMPS}/fw_rules_tests/podlist/bookinfo_pods_list.json")
    pod = snap.pods.filter(pl.col("name") == "reviews-v2-5d56c488f5-xp7fd").collect().row(
        0, named=True)
    assert (pod["owner_kind"], pod["owner_name"]) == ("ReplicaSet", "reviews-v2-5d56c488f5")
    # pod-template-hash 5d56c488f5 matches the ReplicaSet name: Deployment reviews-v2
    assert (pod["workload_kind"], pod["workload_name"]) == ("Deployment", "reviews-v2")
    rs = snap.workloads.filter(pl.col("name") == "reviews-v2-5d56c488f5").collect()
    assert rs.row(0, named=True)["top_name"] == "reviews-v2"
    assert set(rs["source"]) == {"inferred"}
    # old (2018) hashes do not match the ReplicaSet name: the ReplicaSet stays the top
    ibm = import_inventory(realdata / PODLIST).pods.filter(
        pl.col("name") == "ibm-storage-watcher-8494b4b8bb-f8csd").collect().row(0, named=True)
    assert ibm["workload_kind"] == "ReplicaSet"


def test_demo_apps_and_planned_pods(realdata: Path) -> None:
    snap = import_inventory(realdata / "demo-apps" / "online-boutique", planned=True)
    svc = snap.services.filter(pl.col("name") == "frontend-external").collect().row(0, named=True)
    assert svc["type"] == "LoadBalancer"
    assert svc["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "target_port": "8080",
                             "node_port": None}]
    pods = snap.pods.collect()
    assert pods["planned"].all() and pods["ip"].is_null().all()
    assert pods.height == snap.workloads.collect().height == 12
    policies = snap.network_policies.collect()
    deny = policies.filter(pl.col("name") == "deny-all").row(0, named=True)
    assert deny["policy_types"] == ["Ingress", "Egress"] and deny["pod_selector"] == "{}"
    sock = import_inventory(realdata / "demo-apps" / "sock-shop")
    assert sock.row_counts()["workloads"] == 14 and sock.row_counts()["pods"] == 0
    dsb = import_inventory(realdata / "demo-apps" / "deathstarbench-socialnetwork")
    assert set(dsb.workloads.collect()["namespace"]) == {"social-network"}


def test_every_netpol_analyzer_scenario_imports(realdata: Path) -> None:
    scenarios = sorted(p for p in (realdata / "netpol-analyzer" / "tests").iterdir() if p.is_dir())
    assert len(scenarios) == 63
    for scenario in scenarios:
        snap = import_inventory(scenario)
        assert sum(snap.row_counts().values()) > 0, scenario.name


def test_tabs_in_flow_sequences_are_repaired(realdata: Path) -> None:
    folder = realdata / "netpol-analyzer/tests/acs-security-demos-added-workloads"
    snap = import_inventory(folder / "frontend" / "webapp" / "deployment.yaml")
    row = snap.workloads.collect().row(0, named=True)
    assert (row["namespace"], row["kind"], row["name"]) == ("frontend", "Deployment", "webapp")
    assert import_inventory(folder).sources[0]["skipped"] == {"Secret": 1}


def test_tab_as_block_indentation_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata:\n\tname: x\n")
    with pytest.raises(InputError, match=r"bad.yaml:3: invalid YAML.*TAB"):
        import_inventory(bad)
    assert load_yaml_documents("a: [1,\t2]\nb:\t3\n") == [(1, {"a": [1, 2], "b": 3})]


def test_bad_inputs_name_file_line_and_field(tmp_path: Path) -> None:
    (tmp_path / "broken.json").write_text('{"kind": "PodList",\n "items": [}')
    with pytest.raises(InputError, match=r"broken.json:2: invalid JSON"):
        import_inventory(tmp_path / "broken.json")
    port = tmp_path / "port.yaml"
    port.write_text("---\nkind: Service\nmetadata: {name: s}\nspec:\n  ports: [{port: http}]\n")
    with pytest.raises(InputError, match=r"port.yaml:2 field 'spec.ports\[0\].port'"):
        import_inventory(port)
    (tmp_path / "cm.yaml").write_text("kind: ConfigMap\nmetadata: {name: c}\n")
    with pytest.raises(InputError, match="no Kubernetes objects of a known kind"):
        import_inventory(tmp_path / "cm.yaml")
    with pytest.raises(InputError, match="no such file"):
        import_inventory(tmp_path / "missing")


def test_list_wrappers_and_duplicates(tmp_path: Path) -> None:
    pod = {"metadata": {"name": "a", "namespace": "x", "uid": "u1"},
           "status": {"podIPs": [{"ip": "10.0.0.1"}, {"ip": "FD00::0001"}]}}
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "PodList", "items": [pod]}))
    (tmp_path / "again.json").write_text(json.dumps({"kind": "List", "items": [
        {"kind": "Pod", **pod}]}))
    snap = import_inventory(tmp_path)
    pods = snap.pods.collect()
    assert sorted(pods["ip"]) == ["10.0.0.1", "fd00::1"]
    assert sorted(pods["ip_family"]) == ["IPv4", "IPv6"]
    assert any("duplicate pods" in w for w in snap.sources[0]["warnings"])
    assert snap.namespaces.collect()["source"].to_list() == ["inferred"]
