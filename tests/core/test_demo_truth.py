"""The core against the demo generator's ground truth (flow_truth, aligned per record).

The demo writes AWS VPC records (EKS, VPC CNI): backend pod IPs and targetPorts, never a
ClusterIP. Two facts are therefore not in the records and the truth is put in the same,
observable terms before comparing (computed from the truth and the inventory, never from the
resolver's output):

- a hostNetwork pod *as a client* sends from its node's IP and an ephemeral port: it is the
  node (as a server it is found by node IP + container port, and compared as the pod);
- the Service a client addressed: the records show (pod, port), so the service is the one
  targeting the true server pod on the true server port (lexicographically first when several
  do, see docs/core.md), or for an address outside the cluster the service whose manual
  endpoints list it (the API server behind ``default/kubernetes``). Separately, wherever only
  one service targets that (pod, port), the truth's own ``server_service`` must agree
  whenever it names one.

Truth's names for address pools map to classes: external → external-public, link-local →
metadata, vpc-resolver / control-plane (VPC addresses outside the cluster) → external-private.
"""

from __future__ import annotations

import polars as pl
import pytest

from toolkit.core import InventoryIndex, flow_matrix, resolve_flows

CLASS = {"external": "external-public", "link-local": "metadata",
         "vpc-resolver": "external-private", "control-plane": "external-private", "node": "node"}


@pytest.fixture(scope="module")
def demo():
    demo_mod = pytest.importorskip("toolkit.demo")
    return demo_mod.generate_snapshot(demo_mod.DemoConfig(seed=7, flows_per_day=20_000), day=1)


@pytest.fixture(scope="module")
def truth(demo) -> pl.DataFrame:
    """flow_truth joined to its records, in observable terms (see the module docstring)."""
    pods = demo.pods.collect()
    hostnet = pods.filter(pl.col("host_network")).get_column("name").unique().implode()
    uids = pods.select(pl.col("namespace").alias("server_namespace"),
                       pl.col("name").alias("server_pod"), pl.col("uid").alias("_uid")).unique()
    index = InventoryIndex.build(demo)
    svc = index.svc_by_pod.rename({"pod_uid": "_uid", "port": "_port"})
    by_ip = index.svc_by_ip.rename(lambda c: f"_ip_{c}").rename({"_ip_ip": "_ip",
                                                                  "_ip_port": "_port"})
    flows = demo.flows.select("source_file", "source_record", "src_ip", "dst_ip", "src_port",
                              "dst_port")
    reply = pl.col("is_reply")
    t = (demo.flow_truth.join(flows, on=["source_file", "source_record"]).collect()
         .join(uids, on=["server_namespace", "server_pod"], how="left")
         .with_columns(pl.when(reply).then(pl.col("src_port")).otherwise(pl.col("dst_port"))
                       .alias("_port"),
                       pl.when(reply).then(pl.col("src_ip")).otherwise(pl.col("dst_ip"))
                       .alias("_ip"))
         .join(svc, on=["_uid", "_port"], how="left")
         .join(by_ip, on=["_ip", "_port"], how="left"))
    host_client = pl.col("client_pod").is_in(hostnet)
    return t.with_columns(
        src_ns=pl.when(host_client).then(pl.lit("node")).otherwise(
            pl.col("client_namespace").replace(CLASS)),
        src_wl=pl.when(host_client | pl.col("client_pod").is_null()).then(None)
        .otherwise(pl.col("client_workload")),
        dst_ns=pl.col("server_namespace").replace(CLASS),
        dst_svc=pl.coalesce("service_name", "_ip_service_name"),
        dst_svc_ns=pl.coalesce("service_namespace", "_ip_service_namespace",
                               pl.col("server_namespace").replace(CLASS)))


def _agg(frame: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    return (frame.group_by(keys).agg(pl.col("bytes").sum(), pl.len().cast(pl.Int64)
                                     .alias("flows")).sort(keys, nulls_last=True))


def test_namespace_matrix_equals_truth(demo, truth):
    m = flow_matrix(demo, src="namespace", dst="namespace")
    mine = m.frame.select(pl.coalesce("src_namespace", "src_kind").alias("src"),
                          pl.coalesce("dst_namespace", "dst_kind").alias("dst"), "bytes", "flows")
    expect = _agg(truth.rename({"src_ns": "src", "dst_ns": "dst"}), ["src", "dst"])
    got = mine.group_by("src", "dst").agg(pl.col("bytes", "flows").sum()).sort("src", "dst")
    assert got.equals(expect)
    assert m.coverage.records == truth.height


def test_workload_to_service_matrix_equals_truth(demo, truth):
    m = flow_matrix(demo, src="workload", dst="service")
    pod_src = pl.col("src_kind") == "pod"
    mine = m.frame.select(
        pl.when(pod_src).then(pl.col("src_namespace")).otherwise(pl.col("src_kind")).alias("sn"),
        pl.when(pod_src).then(pl.col("src_workload")).alias("sw"),
        pl.coalesce("dst_namespace", "dst_kind").alias("dn"), pl.col("dst_service").alias("ds"),
        "bytes", "flows")
    got = (mine.group_by("sn", "sw", "dn", "ds").agg(pl.col("bytes", "flows").sum())
           .sort("sn", "sw", "dn", "ds", nulls_last=True))
    expect = _agg(truth.rename({"src_ns": "sn", "src_wl": "sw", "dst_svc_ns": "dn",
                                "dst_svc": "ds"}), ["sn", "sw", "dn", "ds"])
    assert got.equals(expect)


def test_unambiguous_services_agree_with_the_truths_own_names(truth):
    named = truth.filter(pl.col("server_service").is_not_null() & (pl.col("n_services") == 1))
    assert named.height > 1000
    ours = pl.col("service_namespace") + "/" + pl.col("service_name")
    assert named.filter(ours != pl.col("server_service")).height == 0


def test_orientation_and_pods_per_record(demo, truth):
    r = resolve_flows(demo).collect(engine="streaming")
    j = r.join(truth, on=["source_file", "source_record"])
    assert (j["swapped"] == j["is_reply"]).all()
    pods = j.filter(pl.col("dst_kind") == "pod")
    assert (pods["dst_pod"] == pods["server_pod"]).all()


def test_reused_ips_resolve_to_each_holder(demo, truth):
    demo_mod = pytest.importorskip("toolkit.demo")
    reuse = demo_mod.demo_truth(demo_mod.DemoConfig(seed=7, flows_per_day=20_000)).ip_reuse
    ips = sorted({r["ip"] for r in reuse if r["day"] == 1})
    r = resolve_flows(demo).filter(pl.col("dst_ip").is_in(ips)).collect()
    j = r.join(truth, on=["source_file", "source_record"]).filter(pl.col("dst_kind") == "pod")
    per_ip = j.group_by("dst_ip").agg(pl.col("dst_pod").n_unique().alias("holders"))
    assert per_ip.filter(pl.col("holders") > 1).height >= 1  # seen on both sides of a change
    assert (j["dst_pod"] == j["server_pod"]).all()
    assert (j["dst_namespace"] == j["server_namespace"]).all()
