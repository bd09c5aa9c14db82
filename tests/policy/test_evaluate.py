"""One test per NetworkPolicy semantic rule, on small hand-made inventories."""

from __future__ import annotations

import pytest

WEB = {"app": "web"}
DB = {"app": "db"}


@pytest.fixture
def shop(kb):
    """Namespaces shop (team=a) and ops (team=b); pods web, db (port pg 5432), ops/mon."""
    def build(*policies):
        return kb.inventory(
            kb.ns("shop", team="a"), kb.ns("ops", team="b"),
            kb.pod("shop", "web", "10.0.0.1", WEB),
            kb.pod("shop", "db", "10.0.0.2", DB,
                   ports=[{"name": "pg", "containerPort": 5432},
                          {"name": "dns", "containerPort": 53, "protocol": "UDP"}]),
            kb.pod("ops", "mon", "10.0.1.1", {"app": "mon"}),
            *policies)
    return build


def db_ingress(kb, rule: dict, **spec):
    return kb.netpol("shop", "db-in", {"podSelector": {"matchLabels": DB},
                                       "ingress": [rule], **spec})


def test_no_policy_allows_everything(kb, shop):
    snap = shop()
    assert kb.allowed(snap, "shop/web", "shop/db", 22)
    assert kb.allowed(snap, "8.8.8.8", "shop/db", 22)


def test_isolation_is_per_direction_and_default_deny(kb, shop):
    snap = shop(kb.netpol("shop", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    row = kb.decide_one(snap, "shop/web", "shop/db", 80)
    assert row["in_isolated"] and not row["eg_isolated"] and not row["allowed"]
    # egress from the isolated-for-ingress pod is still open
    assert kb.allowed(snap, "shop/db", "ops/mon", 80)


def test_egress_and_ingress_both_needed(kb, shop):
    ingress_ok = db_ingress(kb, {"from": [{"podSelector": {"matchLabels": WEB}}]})
    egress_deny = kb.netpol("shop", "web-out", {"podSelector": {"matchLabels": WEB},
                                                "policyTypes": ["Egress"]})
    assert kb.allowed(shop(ingress_ok), "shop/web", "shop/db", 5432)
    row = kb.decide_one(shop(ingress_ok, egress_deny), "shop/web", "shop/db", 5432)
    assert row["in_pid"] is not None and row["eg_isolated"] and not row["allowed"]


def test_egress_defaulted_from_rules_when_policy_types_absent(kb, shop):
    pol = kb.netpol("shop", "web-out", {"podSelector": {"matchLabels": WEB},
                                        "egress": [{"ports": [{"port": 53, "protocol": "UDP"}]}]})
    snap = shop(pol)
    assert kb.allowed(snap, "shop/web", "8.8.8.8", 53, 17)
    assert not kb.allowed(snap, "shop/web", "shop/db", 5432)


def test_named_port_resolves_against_destination_pod(kb, shop):
    snap = shop(db_ingress(kb, {"ports": [{"port": "pg"}]}))
    assert kb.allowed(snap, "shop/web", "shop/db", 5432)
    assert not kb.allowed(snap, "shop/web", "shop/db", 5433)
    # the name must match with the protocol: pg is TCP only
    assert not kb.allowed(snap, "shop/web", "shop/db", 5432, 17)


def test_named_port_in_egress_rule_uses_destination_ports(kb, shop):
    pol = kb.netpol("shop", "web-out", {"podSelector": {"matchLabels": WEB},
                                        "policyTypes": ["Egress"],
                                        "egress": [{"ports": [{"port": "dns",
                                                               "protocol": "UDP"}]}]})
    snap = shop(pol)
    assert kb.allowed(snap, "shop/web", "shop/db", 53, 17)
    assert not kb.allowed(snap, "shop/web", "ops/mon", 53, 17)  # mon has no port named dns
    assert not kb.allowed(snap, "shop/web", "8.8.8.8", 53, 17)  # an IP has no named ports


def test_end_port_range(kb, shop):
    snap = shop(db_ingress(kb, {"ports": [{"port": 8000, "endPort": 8010}]}))
    assert kb.allowed(snap, "shop/web", "shop/db", 8000)
    assert kb.allowed(snap, "shop/web", "shop/db", 8010)
    assert not kb.allowed(snap, "shop/web", "shop/db", 8011)
    assert not kb.allowed(snap, "shop/web", "shop/db", 7999)


@pytest.mark.parametrize(("protocol", "number"), [("TCP", 6), ("UDP", 17), ("SCTP", 132)])
def test_protocols(kb, shop, protocol, number):
    snap = shop(db_ingress(kb, {"ports": [{"port": 9000, "protocol": protocol}]}))
    assert kb.allowed(snap, "shop/web", "shop/db", 9000, number)
    others = {6, 17, 132} - {number}
    assert not any(kb.allowed(snap, "shop/web", "shop/db", 9000, p) for p in others)


def test_rule_without_ports_allows_all_protocols_even_icmp(kb, shop):
    snap = shop(db_ingress(kb, {"from": [{"podSelector": {}}]}))
    assert kb.allowed(snap, "shop/web", "shop/db", None, 1)
    snap = shop(db_ingress(kb, {"ports": [{"port": 80}]}))
    assert not kb.allowed(snap, "shop/web", "shop/db", None, 1)


def test_ipblock_except(kb, shop):
    snap = shop(db_ingress(kb, {"from": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                      "except": ["10.10.0.0/16"]}}]}))
    assert kb.allowed(snap, "10.1.2.3", "shop/db", 5432)
    assert not kb.allowed(snap, "10.10.2.3", "shop/db", 5432)
    assert not kb.allowed(snap, "11.0.0.1", "shop/db", 5432)


def test_ipblock_does_not_match_pods(kb, shop):
    # web's IP 10.0.0.1 is inside the block, but ipBlocks match addresses outside the pods
    snap = shop(db_ingress(kb, {"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}))
    assert not kb.allowed(snap, "shop/web", "shop/db", 5432)


def test_pod_and_namespace_selector_in_one_peer_is_and(kb, shop):
    peer = {"namespaceSelector": {"matchLabels": {"team": "b"}},
            "podSelector": {"matchLabels": WEB}}
    snap = shop(db_ingress(kb, {"from": [peer]}))
    assert not kb.allowed(snap, "shop/web", "shop/db", 5432)  # right pod, wrong namespace
    assert not kb.allowed(snap, "ops/mon", "shop/db", 5432)   # right namespace, wrong pod


def test_two_peers_are_or(kb, shop):
    peers = [{"namespaceSelector": {"matchLabels": {"team": "b"}}},
             {"podSelector": {"matchLabels": WEB}}]
    snap = shop(db_ingress(kb, {"from": peers}))
    assert kb.allowed(snap, "shop/web", "shop/db", 5432)
    assert kb.allowed(snap, "ops/mon", "shop/db", 5432)
    assert not kb.allowed(snap, "8.8.8.8", "shop/db", 5432)


def test_pod_selector_alone_is_own_namespace(kb, shop):
    snap = shop(db_ingress(kb, {"from": [{"podSelector": {}}]}))
    assert kb.allowed(snap, "shop/web", "shop/db", 5432)
    assert not kb.allowed(snap, "ops/mon", "shop/db", 5432)


def test_empty_namespace_selector_is_all_pods_not_ips(kb, shop):
    snap = shop(db_ingress(kb, {"from": [{"namespaceSelector": {}}]}))
    assert kb.allowed(snap, "ops/mon", "shop/db", 5432)
    assert not kb.allowed(snap, "8.8.8.8", "shop/db", 5432)


def test_absent_from_is_everyone_and_empty_rules_deny(kb, shop):
    assert kb.allowed(shop(db_ingress(kb, {})), "8.8.8.8", "shop/db", 1234)
    deny = kb.netpol("shop", "db-in", {"podSelector": {"matchLabels": DB}, "ingress": []})
    assert not kb.allowed(shop(deny), "shop/web", "shop/db", 5432)


def test_metadata_name_label_is_automatic(kb, shop):
    peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ops"}}}
    snap = shop(db_ingress(kb, {"from": [peer]}))
    assert kb.allowed(snap, "ops/mon", "shop/db", 5432)
    assert not kb.allowed(snap, "shop/web", "shop/db", 5432)


@pytest.mark.parametrize(("op", "values", "web", "mon"), [
    ("In", ["web", "mon"], True, True), ("NotIn", ["web"], False, True),
    ("Exists", None, True, True), ("DoesNotExist", None, False, False)])
def test_match_expressions(kb, shop, op, values, web, mon):
    expr = {"key": "app", "operator": op, **({"values": values} if values else {})}
    peer = {"namespaceSelector": {}, "podSelector": {"matchExpressions": [expr]}}
    snap = shop(db_ingress(kb, {"from": [peer]}))
    assert kb.allowed(snap, "shop/web", "shop/db", 5432) is web
    assert kb.allowed(snap, "ops/mon", "shop/db", 5432) is mon


def test_first_matching_rule_is_reported_in_stable_order(kb, shop):
    a = kb.netpol("shop", "a-db", {"podSelector": {"matchLabels": DB},
                                   "ingress": [{"ports": [{"port": 1}]}, {}]})
    b = kb.netpol("shop", "b-db", {"podSelector": {}, "ingress": [{}]})
    row = kb.decide_one(shop(b, a), "shop/web", "shop/db", 5432)
    assert (row["in_pid"], row["in_rule"]) == (0, 1)  # a-db sorts first; its rule #2 matches


def test_policy_in_other_namespace_does_not_isolate(kb, shop):
    snap = shop(kb.netpol("ops", "deny", {"podSelector": {}, "policyTypes": ["Ingress"]}))
    assert kb.allowed(snap, "ops/mon", "shop/db", 5432)
    assert not kb.allowed(snap, "shop/web", "ops/mon", 80)


def test_host_network_pods_are_treated_like_pods(kb):
    # as np-guard does (its ipblockstest corpus isolates hostNetwork DaemonSets)
    snap = kb.inventory(kb.ns("kube"), kb.pod("kube", "agent", "192.168.0.5", {"app": "agent"},
                                              host_network=True),
                        kb.pod("kube", "web", "10.0.0.9", {"app": "web"}),
                        kb.netpol("kube", "agent-in", {"podSelector": {"matchLabels":
                                                                       {"app": "agent"}},
                                                       "ingress": []}))
    assert kb.decide_one(snap, "kube/web", "kube/agent", 80)["in_isolated"]
    assert not kb.allowed(snap, "kube/web", "kube/agent", 80)


def test_ipv6_ipblock(kb, shop):
    snap = shop(db_ingress(kb, {"from": [{"ipBlock": {"cidr": "2001:db8::/32",
                                                      "except": ["2001:db8:1::/48"]}}]}))
    assert kb.allowed(snap, "2001:db8:2::1", "shop/db", 5432)
    assert not kb.allowed(snap, "2001:db8:1::1", "shop/db", 5432)
    assert not kb.allowed(snap, "2001:db9::1", "shop/db", 5432)
    assert not kb.allowed(snap, "10.9.9.9", "shop/db", 5432)
