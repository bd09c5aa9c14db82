"""The demo generator at large scale (a few thousand pods): node layout, pod IPs, resolution.

Scale <= 8 must stay bit for bit as it was (the bundled data and exact-number tests rely on
it); larger scales add nodes on a second layout (10.1-3.0.0/16) that must not collide with
the first one, with each other, or with the addresses the call graph uses.
"""

from __future__ import annotations

import ipaddress
import itertools
import json

import polars as pl
import pytest

from toolkit.core import resolve_flows
from toolkit.core.inventory import InventoryIndex
from toolkit.demo import (
    DemoConfig,
    generate_snapshot,
    stream_aws_vpc_logs,
    stream_snapshot,
    timeline,
)
from toolkit.demo.apps import WORKLOADS
from toolkit.demo.callgraph import POOLS
from toolkit.demo.cluster import node_addresses
from toolkit.demo.config import MAX_SCALE
from toolkit.errors import KsegError
from toolkit.snapshot import load_snapshot

LARGE = DemoConfig(seed=5, days=1, flows_per_day=20_000, scale=48)
ALL_NODES = [node_addresses(k) for k in range(6 * MAX_SCALE)]


def _pods_per_scale() -> int:
    """Pods alive at the end of day 1 per unit of scale when no rollout is in progress then
    (true for seed 5; no CronJob pod outlives its run)."""
    replicated = sum(w.replicas for w in WORKLOADS
                     if w.kind in ("Deployment", "StatefulSet") and w.first_day == 1)
    daemonsets = sum(w.kind == "DaemonSet" for w in WORKLOADS)
    return replicated + 6 * daemonsets


@pytest.fixture(scope="module")
def large():
    return generate_snapshot(LARGE, 1)


def test_first_48_nodes_keep_the_original_layout():
    for k, (ip, cidr) in enumerate(ALL_NODES[:48]):
        z, j = k % 3, k // 3
        assert (ip, cidr) == (f"10.0.{32 * z}.{10 + j * 7}", f"10.0.{32 * z + 8 + j}.0/24")


def test_node_ips_are_distinct_valid_and_outside_every_pod_block():
    ips = [ipaddress.IPv4Address(ip) for ip, _ in ALL_NODES]
    assert len(set(ips)) == len(ips) == 6 * MAX_SCALE
    blocks = [ipaddress.IPv4Network(cidr) for _, cidr in ALL_NODES]
    assert all(b.prefixlen == 24 for b in blocks)
    fixed = [ipaddress.IPv4Address(a) for pool in ("vpc-dns", "apiserver")
             for a in POOLS[pool][0]]
    for addr in ips + fixed:
        assert not any(addr in b for b in blocks), addr


def test_pod_blocks_do_not_overlap():
    blocks = sorted(ipaddress.IPv4Network(cidr) for _, cidr in ALL_NODES)
    for a, b in itertools.pairwise(blocks):
        assert a.broadcast_address < b.network_address, (a, b)


@pytest.mark.parametrize("scale", [1, 2, 5, 8])
def test_scale_up_to_8_draws_the_same_nodes_as_before(scale):
    nodes = timeline(DemoConfig(seed=3, days=1, scale=scale)).nodes
    assert [(n.ip, n.cidr) for n in nodes] == ALL_NODES[:6 * scale]
    big = timeline(DemoConfig(seed=3, days=1, scale=scale + 8)).nodes
    # the instance ids come first in the random stream: a larger scale extends, never shifts
    assert [n.instance for n in big[:6 * scale]] == [n.instance for n in nodes]


def test_scale_range_is_1_to_max():
    DemoConfig(scale=MAX_SCALE)
    with pytest.raises(KsegError, match=f"between 1 and {MAX_SCALE}"):
        DemoConfig(scale=MAX_SCALE + 1)
    with pytest.raises(ValueError, match="at most"):
        node_addresses(3 * (16 + 240))


def test_pod_count_grows_with_scale():
    for scale in (1, 8, 48):
        cfg = DemoConfig(seed=5, days=1, flows_per_day=0, scale=scale)
        _, end = cfg.window(1)
        end_s = int(end.timestamp())
        alive = [p for p in timeline(cfg).pods if p.start < end_s
                 and (p.end is None or p.end > end_s)]
        assert len(alive) == _pods_per_scale() * scale
    assert _pods_per_scale() * 48 > 3_000  # "a few thousand pods"


def test_large_inventory_layout(large):
    nodes = large.nodes.collect()
    assert nodes.height == 6 * LARGE.scale
    assert nodes["internal_ips"].list.first().is_unique().all()
    pods = large.pods.collect().filter(~pl.col("host_network"))
    blocks = dict(zip(nodes["name"], nodes["pod_cidrs"].list.first(), strict=True))
    outside = [(ip, node) for ip, node in zip(pods["ip"], pods["node"], strict=True)
               if ipaddress.IPv4Address(ip) not in ipaddress.IPv4Network(blocks[node])]
    assert not outside
    assert pods["ip"].str.starts_with("10.3.").any()  # pods on the second layout exist
    index = InventoryIndex.build(large)
    assert index.cidr_source.startswith("nodes.pod_cidrs")
    in_cluster = [ipaddress.ip_network(c) for c in index.cidrs]
    svc_ips = large.services.collect()["cluster_ips"].explode()
    for addr in [*pods["ip"].sample(200, seed=1), *svc_ips]:
        assert any(ipaddress.IPv4Address(addr) in net for net in in_cluster), addr


def _truth_pods_found(resolved: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    j = resolved.join(truth, on=["source_file", "source_record"])
    found = [pl.col(c).is_null() | (pl.col(c) == pl.col("src_pod")) | (pl.col(c) ==
                                                                           pl.col("dst_pod"))
             for c in ("client_pod", "server_pod")]
    return j.with_columns(ok=pl.all_horizontal(found))


def test_core_resolves_a_large_snapshot(large):
    resolved = resolve_flows(large).collect()
    truth = large.flow_truth.collect().filter(pl.col("client_pod").is_not_null()
                                              | pl.col("server_pod").is_not_null())
    checked = _truth_pods_found(resolved, truth)
    assert checked.height > 0.8 * LARGE.flows_per_day
    assert checked["ok"].mean() > 0.99
    second = checked.filter(pl.col("src_ip").str.contains(r"^10\.[123]\.")
                            | pl.col("dst_ip").str.contains(r"^10\.[123]\."))
    assert second.height > 0.5 * checked.height and second["ok"].mean() > 0.99
    kinds = set(resolved["src_kind"]) | set(resolved["dst_kind"])
    assert "unknown-in-cluster" not in kinds


def test_stream_snapshot_matches_generate_snapshot(tmp_path):
    cfg = DemoConfig(seed=9, days=1, flows_per_day=3_000, scale=12)
    out = stream_snapshot(cfg, 1, tmp_path / "snap", aws_vpc_log=tmp_path / "day1.log")
    streamed, direct = load_snapshot(out), generate_snapshot(cfg, 1)
    for name in ("flows", "pods", "nodes", "services", "endpoints", "workloads"):
        assert streamed.table(name).collect().equals(direct.table(name).collect()), name
    assert list(streamed.sources) == json.loads(json.dumps(direct.sources))
    assert streamed.flow_truth is None
    alone = stream_aws_vpc_logs(cfg, 1, tmp_path / "alone.log")
    assert (tmp_path / "day1.log").read_bytes() == alone.read_bytes()
    lines = alone.read_text().splitlines()
    assert sum(" ACCEPT OK " in line or " REJECT OK " in line for line in lines) == 3_000
