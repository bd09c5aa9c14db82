"""Snapshot diff: objects, edges, external destinations and exposure between two snapshots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from toolkit import schema
from toolkit.core.diff import (
    SnapshotDiff,
    allowed_path_changes,
    diff_snapshots,
    exposure_changes,
    object_changes,
)
from toolkit.core.ipclass import EXTERNAL_CLASSES
from toolkit.demo import BUNDLED, demo_truth
from toolkit.snapshot import Snapshot, load_snapshot


def _labels(**kv: str) -> list[dict]:
    return [{"key": k, "value": v} for k, v in sorted(kv.items())]


def _inventory(*, services: dict, workloads: dict, policies: dict, pods: list) -> Snapshot:
    svc = pl.DataFrame(
        [{"namespace": ns, "name": name, "type": "ClusterIP", "cluster_ips": ["10.96.0.1"],
          "external_ips": [], "headless": False, "labels": [],
          "ports": [{"name": "http", "protocol": "TCP", "port": port, "target_port": "8080",
                     "node_port": None}], "selector": _labels(app=name)}
         for (ns, name), port in services.items()],
        schema_overrides={"labels": schema.LABELS, "selector": schema.LABELS})
    wl = pl.DataFrame(
        [{"namespace": ns, "kind": kind, "name": name, "labels": [],
          "template_labels": _labels(**tl), "top_kind": kind, "top_name": name,
          "owner_kind": None}
         for (ns, kind, name), tl in workloads.items()],
        schema_overrides={"labels": schema.LABELS, "owner_kind": pl.String})
    rs = wl.with_columns(kind=pl.lit("ReplicaSet"), name=pl.col("name") + "-" + pl.lit(
        str(len(pods))), owner_kind=pl.lit("Deployment"), owner_name=pl.col("name"))
    pol = pl.DataFrame(
        [{"namespace": ns, "name": name, "labels": [], "pod_selector": json.dumps(sel),
          "policy_types": ["Ingress"], "spec": json.dumps({"podSelector": sel})}
         for (ns, name), sel in policies.items()],
        schema_overrides={"labels": schema.LABELS, "policy_types": pl.List(pl.String)})
    pod = pl.DataFrame(
        [{"namespace": ns, "name": f"{wl_name}-{i}", "uid": f"{ns}-{wl_name}-{i}",
          "host_network": False, "labels": _labels(app=wl_name), "workload_kind": "Deployment",
          "workload_name": wl_name, "container_ports": [], "images": [], "planned": False}
         for i, (ns, wl_name) in enumerate(pods)],
        schema_overrides={"labels": schema.LABELS})
    return Snapshot.from_frames(services=svc, workloads=pl.concat([wl, rs], how="diagonal"),
                                network_policies=pol, pods=pod)


BEFORE = _inventory(
    services={("shop", "web"): 80, ("shop", "api"): 9000, ("pay", "pay"): 443},
    workloads={("shop", "Deployment", "web"): {"app": "web"},
               ("shop", "Deployment", "api"): {"app": "api"},
               ("pay", "Deployment", "pay"): {"app": "pay"}},
    policies={("shop", "web-in"): {"matchLabels": {"app": "web"}}},
    pods=[("shop", "web"), ("shop", "api"), ("pay", "pay")])
AFTER = _inventory(
    services={("shop", "web"): 80, ("shop", "api"): 9001, ("shop", "cart"): 80},
    workloads={("shop", "Deployment", "web"): {"app": "web"},
               ("shop", "Deployment", "api"): {"app": "api", "v": "2"},
               ("shop", "Deployment", "cart"): {"app": "cart"}},
    policies={("shop", "web-in"): {}, ("pay", "deny"): {}},
    pods=[("shop", "api"), ("shop", "web"), ("shop", "cart")])


def test_objects_added_removed_changed_by_key_with_the_changed_fields():
    changes = object_changes(BEFORE, AFTER)
    got = {(r["object"], r["namespace"], r["name"], r["change"], tuple(r["fields"]))
           for r in changes.iter_rows(named=True)}
    assert got == {
        ("service", "shop", "api", "changed", ("ports",)),
        ("service", "shop", "cart", "added", ()),
        ("service", "pay", "pay", "removed", ()),
        ("workload", "shop", "api", "changed", ("template_labels",)),
        ("workload", "shop", "cart", "added", ()),
        ("workload", "pay", "pay", "removed", ()),
        ("policy", "shop", "web-in", "changed", ("pod_selector", "spec")),
        ("policy", "pay", "deny", "added", ()),
    }  # ReplicaSets (renamed by every rollout) are not reported, only top-level workloads
    assert changes.schema["fields"] == pl.List(pl.String)


def test_identical_snapshots_have_no_changes():
    assert object_changes(BEFORE, BEFORE).is_empty()
    assert exposure_changes(BEFORE, BEFORE).is_empty()


def test_exposure_changes_when_a_policy_starts_selecting_a_workload():
    got = exposure_changes(BEFORE, AFTER)
    assert got.select("namespace", "workload_name", "ingress_isolated_a",
                      "ingress_isolated_b").rows() == [("shop", "api", False, True)]


# --- the bundled demo series: exactly the changes the generator planted ---------------------

def _truth_endpoint(ref: str) -> str:
    return {"@pool": "@external", "@node": "@node", "@nodes": "@node"}.get(ref, ref)


def _found_endpoint(label: str, kind: str) -> str:
    if kind in ("pod", "service"):
        return label
    return "@external" if kind in EXTERNAL_CLASSES else f"@{kind}"


@pytest.fixture(scope="module")
def series(bundled_data) -> list[Path]:
    days = [bundled_data / f"demo-day{d}" for d in (1, 2, 3)]
    if not all((d / "manifest.json").exists() for d in days):
        pytest.skip("bundled demo snapshots missing (kseg synth --bundled --out data)")
    return days


@pytest.fixture(scope="module")
def diffs(series) -> dict[int, SnapshotDiff]:
    return {day: diff_snapshots(series[day - 2], series[day - 1]) for day in (2, 3)}


@pytest.mark.parametrize("day", [2, 3])
def test_diff_finds_exactly_the_planted_object_changes(diffs, day):
    truth = demo_truth(BUNDLED)
    expected = {("workload", c["workload"], "added") for c in truth.changes_on(day, "new-workload")}
    expected |= {("service", c["service"], "added") for c in truth.changes_on(day, "new-service")}
    got = {(r["object"], f"{r['namespace']}/{r['name']}", r["change"])
           for r in diffs[day].objects.iter_rows(named=True)}
    assert got == expected  # rollouts and rescheduled pods are not object changes


@pytest.mark.parametrize("day", [2, 3])
def test_diff_finds_exactly_the_planted_workload_edges(diffs, day):
    truth = demo_truth(BUNDLED)
    edges = diffs[day].edges.filter(pl.col("level") == "workload")
    for change, kind in (("appeared", "new-edge"), ("vanished", "vanished-edge")):
        expected = {(_truth_endpoint(c["client"]), _truth_endpoint(c["server"]))
                    for c in truth.changes_on(day, kind)}
        got = {(_found_endpoint(r["src"], r["src_kind"]), _found_endpoint(r["dst"], r["dst_kind"]))
               for r in edges.filter(pl.col("change") == change).iter_rows(named=True)}
        assert got == expected, (day, change)


def test_planted_new_cross_namespace_edge_gates_and_vanished_one_does_not(diffs):
    gating = {(r["src"], r["dst"]) for r in diffs[2].gating_edges.iter_rows(named=True)}
    assert ("boutique/shoppingassistantservice", "databases/postgres") in gating
    assert diffs[2].gate and not diffs[3].gate
    assert diffs[3].edges.filter(pl.col("change") == "appeared").is_empty()
    assert set(diffs[2].external["src_workload"]) == {"shoppingassistantservice"}


def test_diff_against_itself_is_empty_and_does_not_gate(series):
    same = diff_snapshots(series[0], series[0])
    assert not same.gate
    assert all(getattr(same, t).is_empty() for t in SnapshotDiff.TABLES)


def test_diff_volumes_come_from_the_flow_matrices(series, diffs):
    from toolkit.core import flow_matrix

    wl = flow_matrix(load_snapshot(series[1]), "workload", "workload").frame
    row = diffs[2].edges.filter((pl.col("level") == "workload")
                                & (pl.col("dst") == "databases/postgres")).row(0, named=True)
    want = wl.filter((pl.col("src_workload") == "shoppingassistantservice")
                     & (pl.col("dst_workload") == "postgres"))
    assert (row["bytes_b"], row["flows_b"]) == (want["bytes"].sum(), want["flows"].sum())


# --- the command line ----------------------------------------------------------------------

def _kseg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # two analyses per subprocess
def test_cli_diff_exit_codes_json_and_tables(series, tmp_path):
    gate = _kseg("diff", str(series[0]), str(series[1]), "--out", str(tmp_path / "d"),
                 "--format", "csv")
    assert gate.returncode == 1, gate.stderr
    assert "databases/postgres" in gate.stdout
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == [
        "allowed.csv", "edges.csv", "exposure.csv", "external.csv", "objects.csv"]
    calm = _kseg("diff", str(series[1]), str(series[2]), "--json")
    assert calm.returncode == 0, calm.stderr
    data = json.loads(calm.stdout)
    assert data["gate"] is False
    assert {(e["level"], e["change"], e["src"]) for e in data["edges"]} == {
        ("workload", "vanished", "boutique/checkoutservice"),
        ("service", "vanished", "boutique/checkoutservice")}


def test_cli_diff_bad_snapshot_is_one_line_exit_2(series, tmp_path):
    proc = _kseg("diff", str(series[0]), str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_a_new_deny_all_policy_closes_paths_and_isolates_workloads(series):
    day1 = load_snapshot(series[0])
    policies = day1.network_policies.collect()
    deny = policies.head(1).with_columns(
        namespace=pl.lit("boutique"), name=pl.lit("deny-all-ingress"), pod_selector=pl.lit("{}"),
        policy_types=pl.lit(["Ingress"]),
        spec=pl.lit('{"podSelector":{},"policyTypes":["Ingress"]}'))
    locked = day1.with_tables(network_policies=pl.concat([policies, deny]))
    changes = object_changes(day1, locked)
    assert changes.select("object", "namespace", "name", "change").rows() == [
        ("policy", "boutique", "deny-all-ingress", "added")]
    exposure = exposure_changes(day1, locked)
    assert set(exposure["namespace"]) == {"boutique"}
    assert exposure["ingress_isolated_b"].all() and not exposure["ingress_isolated_a"].any()
    allowed = allowed_path_changes(day1, locked)
    assert allowed.height > 0
    assert set(allowed["change"]) == {"closed"}
    assert allowed["dst"].str.starts_with("boutique/").all()
    assert allowed_path_changes(day1, day1).is_empty()
