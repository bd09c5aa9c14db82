"""The demo generator: determinism, schema, ground truth, IP reuse, planted findings."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit import schema
from toolkit.demo import DemoConfig, demo_truth, generate_series, generate_snapshot
from toolkit.demo.callgraph import DENIED_EDGE, EDGES, NEW_EDGE, STRAY_EDGE, VANISHED_EDGE
from toolkit.errors import KsegError

CFG = DemoConfig(seed=11, days=3, flows_per_day=20_000)


@pytest.fixture(scope="module")
def series():
    return generate_series(CFG)


@pytest.fixture(scope="module")
def day1(series):
    return {name: frame.collect() for name, frame in series[0].tables.items()}


def _joined(day1):
    """Flows with their truth (the flows' own is_reply is null for AWS records)."""
    return day1["flows"].drop("is_reply").join(
        day1["flow_truth"].drop("bytes"), on=["source_file", "source_record"])


def test_same_seed_same_frames_and_other_seed_differs(day1):
    again = generate_snapshot(CFG, 1)
    for name, frame in again.tables.items():
        assert frame.collect().equals(day1[name]), name
    other = generate_snapshot(DemoConfig(seed=12, days=3, flows_per_day=20_000), 1)
    assert not other.flows.collect().equals(day1["flows"])
    assert not other.pods.collect().equals(day1["pods"])


def test_every_table_conforms_to_the_schema(day1):
    for name, frame in day1.items():
        schema.check_frame(frame, name)
    assert day1["flows"].height == day1["flow_truth"].height == CFG.flows_per_day
    assert day1["flows"]["source_record"].to_list() == list(range(1, CFG.flows_per_day + 1))


def test_truth_matches_flows_record_by_record(day1):
    both = day1["flows"].drop("is_reply").join(day1["flow_truth"], how="inner",
                                               on=["source_file", "source_record"],
                                               suffix="_truth")
    assert both.height == day1["flows"].height
    assert (both["bytes"] == both["bytes_truth"]).all()
    assert both["bytes"].sum() == day1["flow_truth"]["bytes"].sum()
    # the client pod held the request's source IP at the record's time
    pods = day1["pods"].select("namespace", "name", "ip", "valid_from", "valid_to")
    req = both.filter(~pl.col("is_reply") & pl.col("client_pod").is_not_null())
    joined = req.join(pods, left_on=["client_namespace", "client_pod"],
                      right_on=["namespace", "name"])
    held = joined.filter((pl.col("ip") == pl.col("src_ip")) & (pl.col("valid_from") <= pl.col(
        "start")) & (pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("start"))))
    assert held.select("source_record").n_unique() == req.height


def test_flows_are_post_dnat_and_replies_swap_the_tuple(day1):
    cluster_ips = set(day1["services"]["cluster_ips"].explode().to_list())
    flows = day1["flows"]
    assert not set(flows["dst_ip"].unique()) & cluster_ips
    assert not set(flows["src_ip"].unique()) & cluster_ips
    both = _joined(day1)
    pairs = both.with_columns(nxt_src=pl.col("src_ip").shift(-1), nxt_dst=pl.col("dst_ip")
                              .shift(-1), nxt_sport=pl.col("src_port").shift(-1),
                              nxt_reply=pl.col("is_reply").shift(-1))
    requests = pairs.filter(~pl.col("is_reply") & pl.col("nxt_reply").fill_null(False))
    assert requests.height > 0.4 * flows.height
    assert (requests["nxt_src"] == requests["dst_ip"]).all()
    assert (requests["nxt_dst"] == requests["src_ip"]).all()
    assert (requests["nxt_sport"] == requests["dst_port"]).all()
    svc_ports = day1["endpoints"].select(pl.concat_str("namespace", pl.lit("/"), "service")
                                         .alias("server_service"), pl.col("port").alias(
                                             "dst_port")).unique()
    to_svc = both.filter(~pl.col("is_reply") & pl.col("server_service").is_not_null())
    unmatched = to_svc.join(svc_ports, on=["server_service", "dst_port"], how="anti")
    assert unmatched.height == 0


def test_pod_ips_are_reused_across_namespaces_without_overlap(day1):
    pods = day1["pods"].filter(~pl.col("host_network")).sort("ip", "valid_from")
    reused = pods.group_by("ip").agg(pl.col("namespace").n_unique().alias("ns"))
    assert reused.filter(pl.col("ns") > 1).height >= 2
    nxt = pods.with_columns(next_from=pl.col("valid_from").shift(-1).over("ip"))
    overlapping = nxt.filter(pl.col("next_from").is_not_null() & (
        pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("next_from"))))
    assert overlapping.height == 0
    # flows really reach one reused IP as two different namespaces during the day
    truth = _joined(day1)
    servers = truth.filter(~pl.col("is_reply")).group_by("dst_ip").agg(
        pl.col("server_namespace").n_unique().alias("ns"))
    assert servers.filter(pl.col("ns") > 1).height >= 1


def test_pod_owner_chains_match_the_workloads_table(day1):
    pods, wl = day1["pods"], day1["workloads"]
    keys = set(zip(wl["namespace"], wl["kind"], wl["name"], strict=True))
    for row in pods.iter_rows(named=True):  # ~100 pods: a loop over objects, not flows
        assert (row["namespace"], row["owner_kind"], row["owner_name"]) in keys, row["name"]
        owner = wl.filter((pl.col("namespace") == row["namespace"]) & (pl.col("kind") == row[
            "owner_kind"]) & (pl.col("name") == row["owner_name"])).row(0, named=True)
        assert (owner["top_kind"], owner["top_name"]) == (row["workload_kind"],
                                                          row["workload_name"])
    assert set(pods["owner_kind"]) == {"ReplicaSet", "StatefulSet", "DaemonSet", "Job"}
    rs = pods.filter(pl.col("owner_kind") == "ReplicaSet")
    assert (rs["workload_kind"] == "Deployment").all()
    assert set(pods.filter(pl.col("owner_kind") == "Job")["workload_kind"]) == {"CronJob"}
    assert pods.filter(pl.col("host_network")).height >= 3 * 6


def test_endpoints_point_at_live_pods_with_those_ports(day1):
    eps = day1["endpoints"].filter(pl.col("pod_name").is_not_null())
    live = day1["pods"].filter(pl.col("valid_to").is_null())
    joined = eps.join(live, left_on=["pod_namespace", "pod_name"],
                      right_on=["namespace", "name"], how="left")
    assert joined["ip_right"].null_count() == 0
    assert (joined["ip"] == joined["ip_right"]).all()
    declared = joined.filter(pl.col("container_ports").list.len() > 0)
    ok = declared.filter(pl.col("container_ports").list.eval(
        pl.element().struct.field("port")).list.contains(pl.col("port")))
    assert ok.height == declared.height > 40
    assert set(day1["services"]["type"]) == {"ClusterIP", "NodePort", "LoadBalancer"}


def test_network_policies_have_api_shaped_specs(day1):
    pol = day1["network_policies"]
    deny = pol.filter(pl.col("name") == "default-deny-ingress").row(0, named=True)
    assert deny["namespace"] == "sock-back" and deny["pod_selector"] == "{}"
    assert deny["policy_types"] == ["Ingress"]
    assert '"namespaceSelector"' in pol.filter(pl.col("name") == "allow-sock-front")["spec"][0]


def test_planted_segments_stray_and_denied_edges(day1):
    truth = day1["flow_truth"]
    stray = truth.filter(pl.col("edge") == STRAY_EDGE)
    assert stray.height > 0
    assert set(stray["client_namespace"]) == {"social-network"}
    assert set(stray["server_namespace"]) == {"boutique"}
    between = truth.group_by("client_namespace", "server_namespace").agg(pl.col("bytes").sum())
    sock = between.filter((pl.col("client_namespace") == "sock-front")
                          & (pl.col("server_namespace") == "sock-back"))["bytes"].item()
    other = between.filter((pl.col("client_namespace") == "sock-front") & ~pl.col(
        "server_namespace").is_in(["sock-front", "sock-back"]))["bytes"].sum()
    assert sock > 20 * other
    flows = _joined(day1)
    denied = flows.filter(pl.col("action") == "deny")
    assert set(denied["edge"]) == {DENIED_EDGE, "@scanners->@nodes:22", "@scanners->@nodes:3389"}
    assert not denied["is_reply"].any() and (denied["tcp_flags"] == 2).all()
    assert demo_truth(CFG).segments["sock-shop"] == ("sock-front", "sock-back")


def _edges(snap) -> set[str]:
    return set(snap.flow_truth.select("edge").unique().collect()["edge"])


def test_day_to_day_changes_are_exactly_the_planted_ones(series):
    e1, e2, e3 = (_edges(s) for s in series)
    assert e2 - e1 == {e.name for e in EDGES if e.first_day == 2}
    assert NEW_EDGE in e2 - e1 and e1 - e2 == set()
    assert e2 - e3 == {VANISHED_EDGE} and e3 - e2 == set()
    truth = demo_truth(CFG)
    assert {c["service"] for c in truth.changes_on(2, "new-service")} == {
        "boutique/shoppingassistantservice"}
    assert {c["name"] for c in truth.changes_on(3, "vanished-edge")} == {VANISHED_EDGE}
    svc = [set(s.services.select("name").collect()["name"]) for s in series]
    assert svc[1] - svc[0] == {"shoppingassistantservice"}
    pods = [set(s.pods.select("name").collect()["name"]) for s in series]
    assert pods[1] - pods[0] and pods[2] - pods[1]
    moved = {c["new_pod"] for c in truth.changes_on(2, "rescheduled-pod")}
    assert moved and moved <= pods[1]


def test_manifest_source_says_demo_and_counts_status_records(series):
    source = series[0].sources[0]
    assert source["kind"] == "demo" and source["seed"] == CFG.seed
    assert source["config"]["flows_per_day"] == CFG.flows_per_day
    assert source["aws_vpc_status_records"]["nodata"] >= 1
    assert DemoConfig.from_dict(source["config"]) == CFG
    assert series[0].captured_at == CFG.window(1)[1]


@pytest.mark.parametrize("bad", [{"scale": 0}, {"days": 0}, {"interval_seconds": 5},
                                 {"flows_per_day": -1}])
def test_bad_config_is_a_kseg_error(bad):
    with pytest.raises(KsegError, match="invalid DemoConfig"):
        DemoConfig(**bad)


def test_day_outside_the_series_is_refused():
    with pytest.raises(KsegError, match="outside the series"):
        generate_snapshot(DemoConfig(days=1, flows_per_day=10), day=2)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), flows=st.integers(0, 3_000), scale=st.integers(1, 2))
def test_invariants_hold_for_any_seed(seed, flows, scale):
    cfg = DemoConfig(seed=seed, days=1, flows_per_day=flows, scale=scale, rollouts_per_day=5)
    snap = generate_snapshot(cfg, 1)
    f, t = snap.flows.collect(), snap.flow_truth.collect()
    assert f.height == t.height == flows
    assert f["bytes"].sum() == t["bytes"].sum()
    start, end = cfg.window(1)
    if flows:
        assert f["start"].min() >= start and f["end"].max() < end
        assert (f["end"] >= f["start"]).all()
    pods = snap.pods.collect().filter(~pl.col("host_network")).sort("ip", "valid_from")
    nxt = pods.with_columns(n=pl.col("valid_from").shift(-1).over("ip"))
    assert nxt.filter(pl.col("n").is_not_null() & (pl.col("valid_to").is_null() | (
        pl.col("valid_to") > pl.col("n")))).height == 0


def test_both_sides_reports_cross_node_records_from_both_enis():
    snap = generate_snapshot(DemoConfig(seed=4, days=1, flows_per_day=6_001, both_sides=True))
    flows = snap.flows.collect()
    assert flows.height == 6_001
    key = ["start", "src_ip", "dst_ip", "src_port", "dst_port", "protocol", "bytes"]
    twice = flows.group_by(key).agg(pl.col("reporter").sort(), pl.col("observer").n_unique())
    both = twice.filter(pl.col("reporter").list.len() == 2)
    assert both.height > 1_000
    assert both["reporter"].to_list()[0] == ["dst", "src"] and (both["observer"] == 2).all()
    truth = snap.flow_truth.collect()
    assert truth["bytes"].sum() == flows["bytes"].sum()


def test_pooled_connections_keep_their_tuple_across_intervals(day1):
    flows = _joined(day1).filter(pl.col("edge") == "boutique/cartservice->boutique/redis-cart")
    per_tuple = flows.group_by("src_ip", "dst_ip", "src_port", "dst_port").agg(
        pl.len(), pl.col("tcp_flags").unique())
    assert per_tuple["len"].max() > 1
    assert 0 in per_tuple["tcp_flags"].explode().to_list()  # no SYN in mid-session records


def test_hide_same_node_drops_node_local_traffic():
    snap = generate_snapshot(DemoConfig(seed=4, days=1, flows_per_day=3_000,
                                        hide_same_node=True))
    truth = snap.flow_truth.collect()
    assert truth.height == 3_000
    assert not truth["edge"].str.ends_with(":probe").any()


def test_platform_traffic_is_there(day1):
    j = _joined(day1)
    req = j.filter(~pl.col("is_reply"))
    dns = req.filter(pl.col("server_service") == "kube-system/kube-dns")
    assert set(dns["protocol"]) == {17} and set(dns["dst_port"]) == {53}
    assert set(dns["server_workload"]) == {"coredns"}
    assert {"boutique", "sock-front", "sock-back", "social-network", "databases"} <= set(
        dns["client_namespace"])
    classes = set(req["server_namespace"]) | set(req["client_namespace"])
    assert {"external", "link-local", "node", "control-plane", "vpc-resolver"} <= classes
    assert "169.254.169.254" in set(req["dst_ip"])
    probes = req.filter(pl.col("client_namespace") == "node")
    nodes = day1["nodes"].select(pl.col("internal_ips").list.first().alias("src_ip"),
                                 pl.col("name").alias("client_workload"))
    assert probes.join(nodes, on=["src_ip", "client_workload"]).height == probes.height > 0
    ingress = req.filter(pl.col("client_namespace") == "external")
    assert "ingress-nginx" in set(ingress["server_namespace"])
    hostnet = day1["pods"].filter(pl.col("host_network"))
    node_ips = set(day1["nodes"]["internal_ips"].explode())
    assert set(hostnet["ip"]) == node_ips
    scrapes = req.filter(pl.col("server_workload") == "node-exporter")
    assert set(scrapes["dst_ip"]) <= node_ips and set(scrapes["dst_port"]) == {9100}
