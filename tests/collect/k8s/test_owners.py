"""Owner inference for kind-less ownerReferences, and pods that share one uid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from toolkit.collect.k8s import import_inventory, normalise_objects
from toolkit.collect.k8s.merge import merge_snapshot

NP_TESTS = "netpol-analyzer/tests"


def _pod(name: str, owner: str | None = None, uid: str | None = None, ip: str | None = None,
         ns: str = "shop", labels: dict[str, str] | None = None,
         kind: str | None = None) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels or {}}
    if uid:
        md["uid"] = uid
    if owner:
        md["ownerReferences"] = [{"name": owner, "controller": True,
                                  **({"kind": kind} if kind else {})}]
    return {"kind": "Pod", "metadata": md, "status": {"podIP": ip} if ip else {}}


def _workloads(objs: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    pods = normalise_objects(objs).pods.collect()
    return {r["name"]: (r["owner_kind"], r["workload_kind"], r["workload_name"])
            for r in pods.iter_rows(named=True)}


def test_kindless_owner_takes_the_kind_of_the_object_present_by_name() -> None:
    rs = {"kind": "ReplicaSet", "metadata": {"name": "web", "namespace": "shop",
                                             "ownerReferences": [{"kind": "Deployment",
                                                                  "name": "front"}]}}
    got = _workloads([rs, _pod("web-1", "web")])
    assert got["web-1"] == ("ReplicaSet", "Deployment", "front")


def test_kindless_owner_from_the_labels_its_controller_stamps() -> None:
    got = _workloads([
        _pod("api-7d9f8-x", "api-7d9f8", labels={"pod-template-hash": "7d9f8"}),
        _pod("batch-1-abc", "batch-1", labels={"job-name": "batch-1"}),
        _pod("db-0", "db", labels={"controller-revision-hash": "db-6c"}),
        _pod("agent-x", "agent", labels={"controller-revision-hash": "a-1",
                                         "pod-template-generation": "1"}),
    ])
    assert got["api-7d9f8-x"] == ("ReplicaSet", "Deployment", "api")  # hash rule applies
    assert got["batch-1-abc"] == ("Job", "Job", "batch-1")
    assert got["db-0"] == ("StatefulSet", "StatefulSet", "db")
    assert got["agent-x"] == ("DaemonSet", "DaemonSet", "agent")


def test_kindless_owner_without_evidence_defaults_to_replicaset_not_bare() -> None:
    snap = normalise_objects([_pod("a", "group"), _pod("b", "group"), _pod("c")])
    pods = snap.pods.collect().sort("name")
    assert pods["workload_kind"].to_list() == ["ReplicaSet", "ReplicaSet", "Pod"]
    assert pods["workload_name"].to_list() == ["group", "group", "c"]
    inferred = snap.workloads.collect()
    assert inferred.select("kind", "name", "source").rows() == [
        ("ReplicaSet", "group", "inferred")]


def test_kindless_workload_owner() -> None:
    rs = {"kind": "ReplicaSet", "metadata": {"name": "web-5d", "namespace": "shop",
                                             "ownerReferences": [{"name": "web"}]}}
    snap = normalise_objects([rs])
    row = snap.workloads.filter(pl.col("name") == "web-5d").collect().row(0, named=True)
    assert (row["owner_kind"], row["top_kind"], row["top_name"]) == (
        "Deployment", "Deployment", "web")


def test_np_guard_kindless_owner_groups_pods(realdata: Path) -> None:
    snap = import_inventory(realdata / NP_TESTS / "example_pods_w_same_owner_and_labels_gap_"
                            "no_policy")
    pods = snap.pods.collect()
    assert pods.select("workload_kind", "workload_name").unique().rows() == [
        ("ReplicaSet", "internal-security")]


def test_different_pods_sharing_a_uid_are_both_kept() -> None:
    objs = [_pod("a", uid="u1", ip="10.0.0.1"), _pod("b", uid="u1", ip="10.0.0.1", ns="other"),
            _pod("a", uid="u1", ip="10.0.0.1")]  # the last one: a true duplicate of the first
    snap = normalise_objects(objs)
    assert sorted(snap.pods.collect().select("namespace", "name").rows()) == [
        ("other", "b"), ("shop", "a")]
    assert any("1 duplicate pods" in w for w in snap.sources[0]["warnings"])
    merged = merge_snapshot(snap, snap, {("pods", "")}).pods.collect()
    assert merged.height == 2 and merged["valid_to"].null_count() == 2


def test_np_guard_dumps_with_a_shared_uid_keep_every_pod(realdata: Path) -> None:
    folder = realdata / NP_TESTS / "semanticDiff-same-topologies-old1"
    snap = import_inventory(folder)
    pods = snap.pods.collect()
    assert pods.select("namespace", "name").n_unique() == pods.height
    assert snap.sources[0]["objects"]["Pod"] == pods.height
    assert pods.group_by("uid", "ip").len()["len"].max() >= 2  # the shared uid+IP is there
