"""Address classes, IPv4 and IPv6, and derived cluster ranges."""

from __future__ import annotations

import ipaddress

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.core import InventoryIndex
from toolkit.core.ipclass import _classify_one, classify_ips, covering_networks, parse_networks

CASES = {
    "8.8.8.8": "external-public", "10.1.2.3": "external-private", "100.64.1.1":
    "external-private", "172.20.0.1": "external-private", "192.168.1.1": "external-private",
    "127.0.0.1": "loopback", "169.254.169.254": "metadata", "169.254.1.1": "link-local",
    "224.0.0.251": "multicast", "255.255.255.255": "multicast", "10.244.3.3":
    "unknown-in-cluster", "::1": "loopback", "fe80::1": "link-local", "ff02::fb": "multicast",
    "fd00:ec2::254": "metadata", "2a00:1450::1": "external-public", "fd12::1":
    "external-private", "fd00:10:244::7": "unknown-in-cluster", "not-an-ip": "invalid",
    "999.1.1.1": "invalid", "0.0.0.0": "unspecified", "::": "unspecified",
}


def test_classes():
    frame = classify_ips(list(CASES), ["10.244.0.0/16", "fd00:10:244::/64"])
    assert dict(frame.iter_rows()) == CASES


@settings(max_examples=25, deadline=None)
@given(st.lists(st.ip_addresses(v=4), min_size=1, max_size=60))
def test_vectorised_ipv4_agrees_with_ipaddress(addrs):
    cluster = ["10.244.0.0/16", "10.96.0.0/12"]
    fast = dict(classify_ips([str(a) for a in addrs], cluster).iter_rows())
    nets = parse_networks(cluster)
    assert fast == {str(a): _classify_one(str(a), nets) for a in addrs}


def test_covering_networks_and_bad_cidrs():
    assert covering_networks(["10.0.0.1", "10.0.1.1", "bad"], 24, 64) == ["10.0.0.0/23"]
    assert parse_networks(["10.0.0.0/8", "nonsense"]) == [ipaddress.ip_network("10.0.0.0/8")]


def _covering_reference(ips, v4_prefix, v6_prefix):
    nets = []
    for text in set(ips):
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            continue
        prefix = v4_prefix if addr.version == 4 else v6_prefix
        nets.append(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
    return [str(n) for version in (4, 6) for n in ipaddress.collapse_addresses(
        n for n in nets if n.version == version)]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.ip_addresses().map(str), st.sampled_from(["bad", "", "10.0.0.300"])),
                max_size=40),
       st.integers(8, 32), st.integers(48, 128))
def test_covering_networks_equals_one_network_per_address(ips, v4_prefix, v6_prefix):
    assert (covering_networks(ips, v4_prefix, v6_prefix)
            == _covering_reference(ips, v4_prefix, v6_prefix))


def test_cluster_ranges_derived_when_nodes_have_none(kit):
    nodes = pl.DataFrame(kit.NODES).with_columns(pl.lit([], pl.List(pl.String))
                                                  .alias("pod_cidrs"))
    index = InventoryIndex.build(kit.mini_snapshot().with_tables(nodes=nodes))
    assert "derived" in index.cidr_source
    assert "10.244.0.0/23" in index.cidrs and "10.96.0.0/24" in index.cidrs
    assert any(":" in c for c in index.cidrs)


@pytest.mark.parametrize("bad", ["", "1.2.3", "::g"])
def test_garbage_is_invalid_not_a_crash(bad):
    assert classify_ips([bad])["ip_class"][0] == "invalid"
