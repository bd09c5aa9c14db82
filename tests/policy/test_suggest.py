"""Least-privilege policy synthesis on a hand-built snapshot (toolkit.policy.suggest)."""

from __future__ import annotations

import json

import polars as pl
import pytest
import yaml

from toolkit.core.boundaries import EDGE_SCHEMA
from toolkit.errors import KsegError
from toolkit.policy.labels import PER_RUN_KEYS
from toolkit.policy.suggest import suggest_policies
from toolkit.snapshot import Snapshot


def L(**kv: str) -> list[dict]:
    return [{"key": k if "." in k else k.replace("_", "-"), "value": v}
            for k, v in sorted(kv.items())]


def pod(ns: str, name: str, kind: str, wl: str, labels: list[dict], ip: str,
        host: bool = False) -> dict:
    return {"namespace": ns, "name": name, "uid": f"uid-{ns}-{name}", "ip": ip,
            "host_network": host, "labels": labels, "workload_kind": kind,
            "workload_name": wl, "container_ports": [], "images": [], "planned": False}


PODS = pl.DataFrame([
    pod("shop", "web-abc-1", "Deployment", "web", L(app="web", pod_template_hash="abc"),
        "10.244.0.1"),
    pod("shop", "web-abc-2", "Deployment", "web", L(app="web", pod_template_hash="abc"),
        "10.244.0.2"),
    pod("shop", "api-x-1", "Deployment", "api", L(app="api", tier="back", pod_template_hash="x"),
        "10.244.0.3"),
    pod("shop", "api-v2-y-1", "Deployment", "api-v2",  # shares app=api and tier=back with api
        L(app="api", tier="back", pod_template_hash="y"), "10.244.0.13"),
    pod("shop", "db-0", "StatefulSet", "db",
        [*L(app="db", controller_revision_hash="db-5"),
         {"key": "statefulset.kubernetes.io/pod-name", "value": "db-0"}], "10.244.0.4"),
    pod("shop", "migrate-q", "Job", "migrate",
        [{"key": "batch.kubernetes.io/job-name", "value": "migrate"},
         {"key": "controller-uid", "value": "u1"}, {"key": "job-name", "value": "migrate"}],
        "10.244.0.5"),
    pod("kube-system", "coredns-1", "Deployment", "coredns",
        L(k8s_app="kube-dns", pod_template_hash="q"), "10.244.1.1"),
    pod("mon", "prom-0", "StatefulSet", "prometheus", L(**{"app.kubernetes.io/name": "prometheus"}),
        "10.244.2.1"),
    pod("mon", "ne-1", "DaemonSet", "node-exporter", L(app="node-exporter"), "10.0.0.11",
        host=True),
])
NODES = pl.DataFrame([{"name": "n1", "labels": [], "internal_ips": ["10.0.0.11"],
                       "external_ips": [], "pod_cidrs": []},
                      {"name": "n2", "labels": [], "internal_ips": ["10.0.0.12"],
                       "external_ips": [], "pod_cidrs": []}])
WEB, API, API2 = ("shop", "Deployment", "web"), ("shop", "Deployment", "api"), \
    ("shop", "Deployment", "api-v2")
DB, JOB = ("shop", "StatefulSet", "db"), ("shop", "Job", "migrate")
DNS, PROM = ("kube-system", "Deployment", "coredns"), ("mon", "StatefulSet", "prometheus")
NE = ("mon", "DaemonSet", "node-exporter")


def edge(src, dst, port, proto=6, *, sip=None, dip=None, src_kind="external-public",
         dst_kind="external-public") -> dict:
    s, d = src or (None, None, None), dst or (None, None, None)
    return {"src_kind": "pod" if src else src_kind, "src_namespace": s[0],
            "src_workload_kind": s[1], "src_workload": s[2], "src_ip": sip,
            "dst_kind": "pod" if dst else dst_kind, "dst_namespace": d[0],
            "dst_workload_kind": d[1], "dst_workload": d[2], "dst_ip": dip,
            "dst_port": port, "protocol": proto, "bytes": 100, "flows": 1}


EDGES = pl.DataFrame([
    edge(WEB, API, 8080), edge(API, DB, 5432), edge(API, DNS, 53, 17), edge(PROM, API, 9090),
    edge(PROM, WEB, 9090), edge(None, WEB, 443, sip="203.0.113.7"),
    edge(API, None, 443, dip="52.1.2.3"), edge(API, None, 443, dip="52.1.2.4"),
    edge(API, None, 80, dip="169.254.169.254", dst_kind="metadata"), edge(JOB, DB, 5432),
    edge(None, WEB, 8080, sip="10.0.0.11", src_kind="node"), edge(WEB, API, None, 1),
    edge(PROM, NE, 9100),
], schema=EDGE_SCHEMA)


@pytest.fixture(scope="module")
def snap() -> Snapshot:
    return Snapshot.from_frames(pods=PODS, nodes=NODES)


@pytest.fixture(scope="module")
def result(snap):
    return suggest_policies(snap, "workload", edges=EDGES)


def policy(result, ns: str, name: str) -> dict:
    return next(p for p in result.policies if p["metadata"]["namespace"] == ns
                and p["metadata"]["name"] == name)


def test_one_policy_per_workload_with_exact_rules(result) -> None:
    names = [(p["metadata"]["namespace"], p["metadata"]["name"]) for p in result.policies]
    assert names == [("mon", "kseg-prometheus"), ("shop", "kseg-api"), ("shop", "kseg-api-v2"),
                     ("shop", "kseg-db"), ("shop", "kseg-web")]
    db = policy(result, "shop", "kseg-db")["spec"]
    assert db["podSelector"] == {"matchLabels": {"app": "db"}}
    assert db["policyTypes"] == ["Ingress", "Egress"]
    [rule] = db["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    # the job has only per-run labels: it is named by its namespace (flagged below)
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "shop"}}} \
        in rule["from"]
    assert policy(result, "shop", "kseg-api-v2")["spec"].get("ingress") is None  # deny all


def test_peers_dns_monitoring_and_external(result) -> None:
    api = policy(result, "shop", "kseg-api")["spec"]
    ingress = {json.dumps(r["from"], sort_keys=True): r["ports"] for r in api["ingress"]}
    prom_peer = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}},
                  "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}}}]
    assert ingress[json.dumps(prom_peer, sort_keys=True)] == [{"protocol": "TCP", "port": 9090}]
    egress = {json.dumps(r["to"], sort_keys=True): r["ports"] for r in api["egress"]}
    dns_peer = [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}]
    assert egress[json.dumps(dns_peer, sort_keys=True)] == [
        {"protocol": "TCP", "port": 53}, {"protocol": "UDP", "port": 53}]
    assert egress[json.dumps([{"ipBlock": {"cidr": "169.254.169.254/32"}}])] == [
        {"protocol": "TCP", "port": 80}]
    assert egress[json.dumps([{"ipBlock": {"cidr": "52.1.2.0/29"}}])] == [
        {"protocol": "TCP", "port": 443}]
    web = policy(result, "shop", "kseg-web")["spec"]
    node_rule = next(r for r in web["ingress"] if r["ports"][0]["port"] == 8080)
    assert node_rule["from"] == [{"ipBlock": {"cidr": "10.0.0.11/32"}},
                                 {"ipBlock": {"cidr": "10.0.0.12/32"}}]  # every node
    # a hostNetwork peer: its labels (for CNIs that see the pod) and every node address
    prom = policy(result, "mon", "kseg-prometheus")["spec"]
    scrape = next(r for r in prom["egress"] if r["ports"][0]["port"] == 9100)
    assert scrape["to"] == [{"ipBlock": {"cidr": "10.0.0.11/32"}},
                            {"ipBlock": {"cidr": "10.0.0.12/32"}},
                            {"podSelector": {"matchLabels": {"app": "node-exporter"}}}]
    assert not any(p["metadata"]["name"] == "kseg-node-exporter" for p in result.policies)
    # ICMP (no port) cannot be expressed and is counted, not allowed
    assert result.coverage["unexpressible_edges"] == 1


def test_label_report_flags_per_run_only_and_overmatch(result) -> None:
    report = result.label_report
    issues = {(r["workload"], r["issue"]): r for r in report.iter_rows(named=True)}
    job = issues[("migrate", "no-stable-labels")]
    assert "job-name" in job["detail"] and "controller-uid" in job["detail"]
    assert ("migrate", "peer-fallback-namespace") in issues
    over = issues[("api", "selector-overmatch")]
    assert over["unintended"] == ["shop/api-v2"]
    assert json.loads(over["selector"]) == {"app": "api", "tier": "back"}


def test_yaml_round_trip_deterministic_and_free_of_per_run_keys(snap, result) -> None:
    text = result.to_yaml()
    assert list(yaml.safe_load_all(text)) == result.policies
    assert suggest_policies(snap, "workload", edges=EDGES).to_yaml() == text
    for key in PER_RUN_KEYS:
        assert key not in text


def test_write_replaces_own_files_only(tmp_path, result) -> None:
    (tmp_path / "notes.yaml").write_text("mine: true\n")
    (tmp_path / "old.yaml").write_text(result.to_yaml("mon"))
    files = result.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "README.md", "label-report.csv", "mon.yaml", "notes.yaml", "shop.yaml"]
    assert len(files) == 4
    docs = list(yaml.safe_load_all((tmp_path / "shop.yaml").read_text()))
    assert [d["metadata"]["name"] for d in docs] == ["kseg-api", "kseg-api-v2", "kseg-db",
                                                     "kseg-web"]
    readme = (tmp_path / "README.md").read_text()
    assert "selector-overmatch" in readme and "kseg policy check" in readme
    assert "policies in 2 namespaces" in repr(result)
    assert "<table>" in result._repr_html_()


def test_namespace_segments_use_namespace_peers(snap) -> None:
    res = suggest_policies(snap, "namespace", edges=EDGES)
    shop = policy(res, "shop", "kseg-namespace")["spec"]
    assert shop["podSelector"] == {}
    froms = [p for r in shop["ingress"] for p in r["from"]]
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}} in froms
    # traffic inside the segment stays allowed, on its observed ports
    assert {"podSelector": {}} in froms


def test_custom_membership_frame_and_bad_arguments(snap) -> None:
    members = pl.DataFrame({"namespace": ["shop", "shop"], "workload_kind": ["Deployment"] * 2,
                            "workload": ["api", "api-v2"], "segment": ["backend", "backend"]})
    res = suggest_policies(snap, members, edges=EDGES)
    backend = policy(res, "shop", "kseg-seg-backend")["spec"]
    assert backend["podSelector"] == {"matchLabels": {"app": "api"}}  # exact for the segment
    web = policy(res, "shop", "kseg-web")["spec"]
    assert any({"podSelector": {"matchLabels": {"app": "api"}}} in r["to"]
               for r in web["egress"])  # the segment is one peer
    assert res.label_report.filter(pl.col("issue") == "selector-overmatch").height == 0
    with pytest.raises(KsegError, match="dns"):
        suggest_policies(snap, edges=EDGES, dns="sometimes")
    with pytest.raises(KsegError, match="membership needs columns"):
        suggest_policies(snap, pl.DataFrame({"x": [1]}), edges=EDGES)


def test_no_traffic_or_bad_edges_is_a_clear_error(snap) -> None:
    with pytest.raises(KsegError, match="no observed traffic"):
        suggest_policies(snap)  # the hand-built snapshot has no flow records
    with pytest.raises(KsegError, match="lacks columns"):
        suggest_policies(snap, edges=EDGES.drop("dst_port"))
