"""Replaying flows against policies, exposure, and the upstream demo-app policies."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from toolkit.errors import InputError
from toolkit.policy import exposure, load_policies, replay

DB_IN = {"podSelector": {"matchLabels": {"app": "db"}},
         "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "web"}}}],
                      "ports": [{"port": "pg"}]}]}


@pytest.fixture
def small(kb):
    inv = kb.inventory(kb.ns("shop"),
                       kb.pod("shop", "web-1", "10.0.0.1", {"app": "web"}),
                       kb.pod("shop", "web-2", "10.0.0.3", {"app": "web"}),
                       kb.pod("shop", "db", "10.0.0.2", {"app": "db"},
                              [{"name": "pg", "containerPort": 5432}]),
                       kb.netpol("shop", "db-in", DB_IN))
    return kb.with_flows(inv, [("10.0.0.1", "10.0.0.2", 5432, 6, 100),
                               ("10.0.0.3", "10.0.0.2", 5432, 6, 50),
                               ("10.0.0.1", "10.0.0.2", 22, 6, 10),
                               ("8.8.8.8", "10.0.0.2", 5432, 6, 5),
                               ("10.0.0.2", "8.8.8.8", 443, 6, 7)])


def test_replay_verdicts_and_attribution(small):
    result = replay(small)
    edges = result.edges
    ok = edges.filter((pl.col("dst_port") == 5432) & (pl.col("src") == "shop/web-1[Pod]"))
    assert ok.select("verdict", "ingress_policy", "ingress_rule").row(0) == (
        "allowed", "shop/db-in", 1)
    assert ok["egress_reason"][0] == "not isolated (default allow)"
    ssh = edges.filter(pl.col("dst_port") == 22).row(0, named=True)
    assert ssh["verdict"] == "denied"
    assert ssh["ingress_reason"] == "isolated, no rule allows (default deny)"
    assert edges.filter(pl.col("src") == "8.8.8.8")["verdict"].to_list() == ["denied"]
    # the totals add up to the input, nothing lost or double counted
    assert result.summary["bytes"].sum() == 172
    assert result.count("denied", "bytes") == 15 and result.count("allowed", "flows") == 3
    assert "denied 2" in repr(result) and "<table>" in result._repr_html_()


def test_replay_against_proposed_policies(kb, small, tmp_path):
    deny_all = tmp_path / "deny.yaml"
    deny_all.write_text("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
                        "  name: deny-all\n  namespace: shop\nspec:\n  podSelector: {}\n"
                        "  policyTypes: [Ingress, Egress]\n")
    result = replay(small, load_policies(deny_all))
    assert result.proposed and result.count("allowed") == 0
    assert result.count("denied") == 5


def test_load_policies_without_any_is_an_input_error(tmp_path):
    (tmp_path / "ns.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")
    with pytest.raises(InputError, match="no NetworkPolicy"):
        load_policies(tmp_path)


def test_html_escapes_names(kb):
    inv = kb.inventory(kb.pod("shop", "<b>x</b>", "10.0.0.1", {"app": "web"}),
                       kb.netpol("shop", "deny", {"podSelector": {}, "ingress": []}))
    snap = kb.with_flows(inv, [("8.8.8.8", "10.0.0.1", 80, 6, 5)])
    html = replay(snap)._repr_html_()
    assert "<b>x</b>" not in html and "&lt;b&gt;" in html


def test_exposure_statuses(small):
    result = exposure(small)
    status = {(s, d): st for s, d, st in result.paths.select("src", "dst", "status").rows()}
    assert status[("shop/web-1[Pod]", "shop/db[Pod]")] == "used, partly denied"
    assert status[("shop/web-2[Pod]", "shop/db[Pod]")] == "used, allowed"
    assert status[("shop/db[Pod]", "shop/web-1[Pod]")] == "allowed, unused"
    assert status[("{external-public}", "shop/db[Pod]")] == "used, denied"
    by_ns = exposure(small, level="namespace").paths
    assert by_ns.filter((pl.col("src") == "shop") & (pl.col("dst") == "shop"))[
        "status"].to_list() == ["used, partly denied"]


# -- the upstream policies of the real demo apps, replayed against demo-generator traffic ------

@pytest.fixture(scope="module")
def demo_snap():
    from toolkit.demo import DemoConfig, generate_snapshot

    return generate_snapshot(DemoConfig(seed=7, flows_per_day=6_000), day=1)


def test_sock_shop_upstream_policies_surface_the_cart_typo(demo_snap, realdata: Path):
    upstream = load_policies(realdata / "demo-apps/sock-shop/deploy/kubernetes/manifests-policy")
    # 14 files, 13 policies: netpol-default-deny.yaml is only a Namespace with the legacy
    # DefaultDeny annotation, which modern Kubernetes (and kseg) ignores
    assert upstream.height == 13 and "default-deny" not in upstream["name"].to_list()
    # the demo splits Sock Shop over sock-front and sock-back: apply the set to both
    proposed = pl.concat([upstream.with_columns(namespace=pl.lit(ns))
                          for ns in ("sock-front", "sock-back")])
    result = replay(demo_snap, proposed)
    carts_db = result.denied().filter((pl.col("src") == "sock-back/carts[Deployment]")
                                      & (pl.col("dst") == "sock-back/carts-db[Deployment]"))
    assert carts_db.height == 1 and carts_db["flows"][0] > 0
    assert carts_db["ingress_reason"][0] == "isolated, no rule allows (default deny)"
    found = {(p, f) for p, f, _ in result.findings.rows()}
    assert ("sock-back/cart-access", "selects no pod") in found
    assert ("sock-back/carts-db-access", "ingress rule #1 peer matches no pod") in found


def test_online_boutique_upstream_policies(demo_snap, realdata: Path):
    upstream = load_policies(realdata / "demo-apps/online-boutique/kustomize/components/"
                             "network-policies")
    assert upstream.height == 13
    result = replay(demo_snap, upstream.with_columns(namespace=pl.lit("boutique")))
    inside = result.edges.filter(pl.col("src").str.starts_with("boutique/")
                                 & pl.col("dst").str.starts_with("boutique/"))
    # the upstream set was written for exactly this call graph: every app call is allowed
    assert inside.height > 10 and set(inside["verdict"]) == {"allowed"}
    # what it would break: callers from other namespaces (and node-originated checks)
    denied = result.denied()
    assert denied.height > 0
    assert set(denied["dst"].str.extract(r"^([^/]+)/", 1).drop_nulls()) == {"boutique"}


@pytest.mark.parametrize("with_hubble", [False, True])
def test_replay_from_summed_endpoint_pairs_equals_replay_of_every_record(
        bundled_data: Path, realdata: Path, tmp_path: Path, with_hubble: bool):
    """By default replay sums the records per endpoint pair before naming them: the same
    verdicts and measures as resolving every record by name (the demo day, and with the real
    Hubble samples imported: stamped identities, pods the inventory lacks)."""
    import shutil

    from toolkit.collect.flows import import_flows
    from toolkit.core import resolve_flows
    from toolkit.snapshot import load_snapshot

    snap_dir = tmp_path / "s"
    shutil.copytree(bundled_data / "demo-day1", snap_dir)
    if with_hubble:
        import_flows([realdata / "hubble"], snap_dir, "hubble")
    snap = load_snapshot(snap_dir)
    summed = replay(snap)
    every = replay(snap, flows=resolve_flows(snap))
    assert summed.edges.equals(every.edges)
    assert summed.summary.equals(every.summary)
    assert summed.edges["flows"].sum() == snap.row_counts()["flows"]


@pytest.mark.parametrize("batch", [1, 3])
def test_selector_batches_do_not_change_the_compiled_policies(monkeypatch, batch):
    # the bundled demo day: 13 policies with pod, namespace and ipBlock peers; batches of
    # 1 and 3 masks (instead of up to 128) cross every batch boundary
    import toolkit as kt
    from toolkit.policy import evaluate
    from toolkit.policy.model import parse_policies
    from toolkit.policy.replay import endpoint_classes

    snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
    model = parse_policies(snap.network_policies)
    eps, _ = endpoint_classes(snap, model)
    whole, edges = evaluate.compile_policies(model, eps), replay(snap).edges
    monkeypatch.setattr(evaluate, "MASK_BATCH", batch)
    batched = evaluate.compile_policies(model, eps)
    assert whole.selected.height > 0 and whole.peers.height > 0
    assert whole.selected.equals(batched.selected)
    assert whole.peers.sort(whole.peers.columns).equals(batched.peers.sort(batched.peers.columns))
    assert replay(snap).edges.equals(edges)
