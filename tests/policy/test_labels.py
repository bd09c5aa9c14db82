"""Stable labels, exact selectors and label-quality findings (toolkit.policy.labels)."""

from __future__ import annotations

import polars as pl
import pytest

from toolkit.policy.labels import (
    PER_RUN_KEYS,
    build_index,
    candidate_selectors,
    find_selector,
    is_per_run,
)


def L(**kv: str) -> list[dict]:
    return [{"key": k if "." in k else k.replace("_", "-"), "value": v}
            for k, v in sorted(kv.items())]


def pod(ns: str, name: str, kind: str, wl: str, labels: list[dict], host: bool = False) -> dict:
    return {"namespace": ns, "name": name, "labels": labels, "workload_kind": kind,
            "workload_name": wl, "host_network": host}


PODS = pl.DataFrame([
    pod("shop", "web-5d9-a", "Deployment", "web", L(app="web", pod_template_hash="5d9")),
    pod("shop", "web-5d9-b", "Deployment", "web", L(app="web", pod_template_hash="5d9")),
    pod("shop", "web-canary-1", "Deployment", "web-canary",
        L(app="web", track="canary", pod_template_hash="77")),
    pod("shop", "db-0", "StatefulSet", "db",
        [*L(app="db", controller_revision_hash="db-6f"),
         {"key": "statefulset.kubernetes.io/pod-name", "value": "db-0"}]),
    pod("shop", "db-1", "StatefulSet", "db",
        [*L(app="db", controller_revision_hash="db-6f"),
         {"key": "statefulset.kubernetes.io/pod-name", "value": "db-1"}]),
    pod("shop", "migrate-x1", "Job", "migrate",
        [{"key": "batch.kubernetes.io/job-name", "value": "migrate"},
         {"key": "controller-uid", "value": "0f3c"}, {"key": "job-name", "value": "migrate"}]),
    pod("shop", "bare", "Pod", "bare", L(instance="bare")),
    pod("shop", "ids-a", "DaemonSet", "ids", L(app="ids", node="a")),
    pod("shop", "ids-b", "DaemonSet", "ids", L(app="ids", node="b")),
    pod("kube-system", "ne-1", "DaemonSet", "node-exporter", L(app="ne"), host=True),
])


@pytest.fixture(scope="module")
def idx():
    return build_index(PODS)


@pytest.mark.parametrize("key,value,pod_name,expected", [
    ("pod-template-hash", "5d9", "web-5d9-a", True),
    ("controller-uid", "x", None, True),
    ("batch.kubernetes.io/controller-uid", "x", None, True),
    ("statefulset.kubernetes.io/pod-name", "db-0", "db-0", True),
    ("apps.kubernetes.io/pod-index", "0", None, True),
    ("something", "db-0", "db-0", True),  # value is the pod's own name
    ("app", "web", "web-5d9-a", False),
])
def test_per_run_labels(key: str, value: str, pod_name: str | None, expected: bool) -> None:
    assert is_per_run(key, value, pod_name) is expected


def test_stable_labels_drop_per_run_and_varying_keys(idx) -> None:
    assert idx.stable[("shop", "Deployment", "web")] == {"app": "web"}
    assert idx.stable[("shop", "StatefulSet", "db")] == {"app": "db"}
    assert idx.stable[("shop", "DaemonSet", "ids")] == {"app": "ids"}  # node= differs per pod
    assert "node" in idx.per_run[("shop", "DaemonSet", "ids")]
    assert idx.stable[("shop", "Job", "migrate")] == {}
    assert set(idx.per_run[("shop", "Job", "migrate")]) <= PER_RUN_KEYS
    assert idx.host_network == {("kube-system", "DaemonSet", "node-exporter")}
    assert idx.stable[("kube-system", "DaemonSet", "node-exporter")] == {"app": "ne"}


def test_exact_selector_found_when_one_exists(idx) -> None:
    sel, extra = find_selector(idx, [("shop", "Deployment", "web-canary")])
    assert sel == {"track": "canary"} and extra == set()
    sel, extra = find_selector(idx, [("shop", "StatefulSet", "db")])
    assert sel == {"app": "db"} and extra == set()


def test_overmatching_selector_reports_unintended_pods(idx) -> None:
    # web's only stable label app=web also matches the canary's pod
    sel, extra = find_selector(idx, [("shop", "Deployment", "web")])
    assert sel == {"app": "web"}
    assert extra == {"shop/web-canary-1"}


def test_no_selector_for_per_run_only_workload(idx) -> None:
    assert find_selector(idx, [("shop", "Job", "migrate")]) == (None, set())


def test_group_selector_and_empty_selector_only_when_allowed(idx) -> None:
    both = [("shop", "Deployment", "web"), ("shop", "Deployment", "web-canary")]
    assert find_selector(idx, both) == ({"app": "web"}, set())
    everything = sorted(idx.stable)
    shop = [w for w in everything if w[0] == "shop"]
    assert find_selector(idx, shop, allow_empty=True) == ({}, set())


def test_candidates_prefer_few_preferred_non_volatile_keys() -> None:
    cands = candidate_selectors({"version": "v2", "app": "web", "zz": "1"})
    assert cands[0] == {"app": "web"}
    assert cands.index({"version": "v2"}) > cands.index({"zz": "1"})
    assert {} not in cands and candidate_selectors({}, allow_empty=True) == [{}]


def test_template_labels_filter_only_when_known() -> None:
    pods = pl.DataFrame([pod("shop", "web-1", "Deployment", "web",
                             L(app="web", injected="yes", pod_template_hash="1"))])
    def wl(template: list[dict]) -> pl.DataFrame:
        return pl.DataFrame([{"namespace": "shop", "kind": "Deployment", "name": "web",
                              "template_labels": template, "top_kind": "Deployment",
                              "top_name": "web"}])
    known = build_index(pods, wl(L(app="web")))  # labels the template does not set: dropped
    assert known.stable[("shop", "Deployment", "web")] == {"app": "web"}
    inferred = build_index(pods, wl([]))  # a workload inferred from owner refs: no template
    assert inferred.stable[("shop", "Deployment", "web")] == {"app": "web", "injected": "yes"}
