"""Suggested policies replayed with the policy evaluator: every observed (intended) connection
is allowed, and plausible connections that were not observed are denied.

Apps: the np-guard cluster-topology-analyzer samples (their ``expected_output.json`` lists
the intended service-to-service connections) and the demo cluster (its generated flows).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from toolkit.core.boundaries import EDGE_SCHEMA, snapshot_edges
from toolkit.policy.replay import replay
from toolkit.policy.suggest import suggest_policies

CTA = "cluster-topology-analyzer/tests"
PAIR = ["src_namespace", "src_workload_kind", "src_workload", "dst_namespace",
        "dst_workload_kind", "dst_workload", "dst_port", "protocol"]


def pod_pairs(snap, pairs: pl.DataFrame) -> pl.LazyFrame:
    """Workload pairs as resolved flow records, one pod standing for each side."""
    pods = (snap.pods.filter(~pl.col("host_network"))
            .group_by("namespace", "workload_kind", "workload_name")
            .agg(pl.col("uid").sort().first(), pl.col("ip").sort().first()).collect())
    out = pairs
    for side in ("src", "dst"):
        out = out.join(pods.rename({"namespace": f"{side}_namespace",
                                    "workload_kind": f"{side}_workload_kind",
                                    "workload_name": f"{side}_workload",
                                    "uid": f"{side}_pod_uid", "ip": f"{side}_ip"}),
                       on=[f"{side}_namespace", f"{side}_workload_kind", f"{side}_workload"])
    nothing = pl.lit(None, pl.String)
    return out.lazy().select(
        *(pl.col(f"{side}_{c}") for side in ("src", "dst")
          for c in ("namespace", "workload_kind", "workload", "pod_uid", "ip")),
        pl.lit("pod").alias("src_kind"), pl.lit("pod").alias("dst_kind"),
        nothing.alias("src_service_namespace"), nothing.alias("src_service"),
        nothing.alias("dst_service_namespace"), nothing.alias("dst_service"),
        pl.col("dst_port").cast(pl.Int32), pl.col("protocol").cast(pl.UInt8),
        *(pl.lit(1, pl.Int64).alias(m) for m in ("bytes", "packets", "flows")))


def verdicts(snap, result, pairs: pl.DataFrame) -> pl.DataFrame:
    """Per-pair verdicts of the policy evaluator (``toolkit.policy.replay``)."""
    return replay(snap, result.network_policies(), flows=pod_pairs(snap, pairs)).edges


def held_out(observed: pl.DataFrame, clients: pl.DataFrame, servers: pl.DataFrame
             ) -> pl.DataFrame:
    """Every client x (server, port) combination that was not observed."""
    return clients.join(servers, how="cross").join(observed.select(PAIR), on=PAIR, how="anti")


# -- cluster-topology-analyzer: intended connections from expected_output.json -----------------

def intended_edges(app: Path) -> pl.DataFrame:
    rows = []
    for conn in json.loads((app / "expected_output.json").read_text()):
        target = conn["target"]["resource"]
        src = conn.get("source", {}).get("resource")
        for net in conn["link"]["resource"]["network"]:
            rows.append({
                "src_kind": "pod" if src else "external-public",
                "src_namespace": "default" if src else None,
                "src_workload_kind": src["kind"] if src else None,
                "src_workload": src["name"] if src else None,
                "src_ip": None if src else "198.51.100.7",
                "dst_kind": "pod", "dst_namespace": "default",
                "dst_workload_kind": target["kind"], "dst_workload": target["name"],
                "dst_ip": None, "dst_port": int(net["target_port"]), "protocol": 6,
                "bytes": 1, "flows": 1})
    return pl.DataFrame(rows, schema=EDGE_SCHEMA).unique(maintain_order=True)


@pytest.fixture(scope="module")
def boutique(realdata):
    from toolkit.collect.k8s import import_inventory

    app = realdata / CTA / "onlineboutique"
    snap = import_inventory([app / "kubernetes-manifests.yaml"], planned=True)
    edges = intended_edges(app)
    return snap, edges, suggest_policies(snap, edges=edges)


def test_cta_boutique_intended_connections_all_allowed(boutique) -> None:
    snap, edges, result = boutique
    assert edges.height == 17 and len(result.policies) == 12
    pods = edges.filter(pl.col("src_kind") == "pod")
    out = verdicts(snap, result, pods)
    assert out.height == pods.height == 16
    assert out.filter(pl.col("verdict") != "allowed").height == 0, out
    frontend = next(p for p in result.policies if p["metadata"]["name"] == "kseg-frontend")
    assert any({"ipBlock": {"cidr": "198.51.100.7/32"}} in rule["from"]
               for rule in frontend["spec"]["ingress"])
    assert result.label_report.height == 0


def test_cta_boutique_unobserved_plausible_connections_denied(boutique) -> None:
    snap, edges, result = boutique
    pods = snap.pods.collect()
    clients = pods.select(pl.col("namespace").alias("src_namespace"),
                          pl.col("workload_kind").alias("src_workload_kind"),
                          pl.col("workload_name").alias("src_workload")).unique()
    servers = (pods.explode("container_ports").drop_nulls("container_ports")
               .select(pl.col("namespace").alias("dst_namespace"),
                       pl.col("workload_kind").alias("dst_workload_kind"),
                       pl.col("workload_name").alias("dst_workload"),
                       pl.col("container_ports").struct.field("port").alias("dst_port"),
                       pl.lit(6, pl.UInt8).alias("protocol"))
               .unique())
    observed = edges.filter(pl.col("src_kind") == "pod").with_columns(
        pl.col("dst_port").cast(pl.Int32))
    others = held_out(observed, clients, servers.with_columns(pl.col("dst_port").cast(pl.Int32)))
    assert others.height > 100
    out = verdicts(snap, result, others)
    assert out.height == others.height
    assert out.filter(pl.col("verdict") != "denied").height == 0, out.filter(
        pl.col("verdict") != "denied")


# -- the demo cluster: observed flows ----------------------------------------------------------

@pytest.fixture(scope="module")
def demo_case():
    demo = pytest.importorskip("toolkit.demo")
    snap = demo.generate_snapshot(demo.DemoConfig(seed=7, flows_per_day=20_000), day=1)
    edges = snapshot_edges(snap)
    return snap, edges, suggest_policies(snap, edges=edges)


def test_demo_observed_flows_all_allowed(demo_case) -> None:
    snap, _, result = demo_case
    rep = replay(snap, result.network_policies())
    assert rep.count("denied") == 0, rep.denied(10)
    assert rep.count("allowed") >= 0.95 * (rep.count("allowed") + rep.count("unresolved"))


def test_demo_unobserved_plausible_flows_denied(demo_case) -> None:
    snap, edges, result = demo_case
    hosts = snap.pods.filter(pl.col("host_network")).select("workload_name").collect()
    observed = edges.filter((pl.col("src_kind") == "pod") & (pl.col("dst_kind") == "pod")
                            & ~pl.col("src_workload").is_in(hosts.to_series().implode())
                            & ~pl.col("dst_workload").is_in(hosts.to_series().implode()))
    clients = observed.select(PAIR[:3]).unique()
    servers = observed.select(PAIR[3:]).unique().filter(pl.col("dst_port") != 53)  # DNS: all
    others = held_out(observed, clients, servers).sort(PAIR).sample(n=400, seed=1)
    out = verdicts(snap, result, others)
    assert out.height == 400
    assert out.filter(pl.col("verdict") != "denied").height == 0, out.filter(
        pl.col("verdict") != "denied").select("src", "dst", "dst_port", "ingress_reason",
                                              "egress_reason")


@pytest.mark.parametrize("segments", ["namespace", "louvain@1"])
def test_demo_segment_level_policies_allow_all_observed(demo_case, segments: str) -> None:
    from toolkit.core.boundaries import propose_boundaries

    snap, edges, _ = demo_case
    if segments.startswith("louvain"):
        segments = propose_boundaries(snap, resolutions=(1.0,)).membership(segments)
    result = suggest_policies(snap, segments=segments, edges=edges)
    assert len(result.policies) < 40  # segment-level: far fewer than one per workload
    rep = replay(snap, result.network_policies())
    assert rep.count("denied") == 0, rep.denied(10)


# -- the other cluster-topology-analyzer apps: intended connections from upstream's policies ---

APPS = {  # app: (inventory path, upstream's synthesised policies)
    "sockshop": ("sockshop/manifests", "sockshop/expected_netpol_output.json"),
    "k8s_guestbook": ("k8s_guestbook", "k8s_guestbook/expected_netpol_output.json"),
    "bookinfo": ("bookinfo", "bookinfo/expected_netpol_output.json"),
    "qotd": ("qotd", "qotd/expected_netpol_output.json"),
    "k8s_wordpress_example": ("k8s_wordpress_example",
                              "k8s_wordpress_example/expected_netpol_output.json"),
    "acs-security-demos": ("acs-security-demos", "acs-security-demos/expected_netpol_output.yaml"),
    "score-demo": ("score-demo/manifests.yaml", "score-demo/expected_netpol_output.yaml"),
    "onlineboutique-pods": ("onlineboutique-pods",
                            "onlineboutique-pods/expected_netpol_output.yaml"),
}


def upstream_policies(path: Path) -> list[dict]:
    import yaml

    text = path.read_text()
    docs = [json.loads(text)] if path.suffix == ".json" else list(yaml.safe_load_all(text))
    out = []
    for doc in filter(None, docs):
        out += doc.get("items", []) if doc.get("kind", "").endswith("List") else [doc]
    return out


def _named_port(pods: pl.DataFrame, wl: tuple, name: str) -> int | None:
    ports = (pods.filter((pl.col("namespace") == wl[0]) & (pl.col("workload_name") == wl[2]))
             .explode("container_ports").get_column("container_ports").drop_nulls().to_list())
    return next((p["port"] for p in ports if p["name"] == name), None)


def intended_from_policies(snap, policies: list[dict]) -> pl.DataFrame:
    """Pod-to-pod connections upstream's ingress rules allow: the intended call graph."""
    from toolkit.policy.labels import build_index

    idx, pods, rows = build_index(snap.pods, snap.workloads), snap.pods.collect(), []
    for pol in policies:
        ns, spec = pol["metadata"].get("namespace", "default"), pol["spec"]
        sel = spec.get("podSelector", {}).get("matchLabels")
        servers = {idx.workload_of(p) for p in idx.match([ns], sel)} if sel else set()
        for rule in spec.get("ingress", []):
            for peer in rule.get("from", []):
                if "podSelector" not in peer:
                    continue  # "from any namespace": not a pod-to-pod intention
                peer_ns = (peer.get("namespaceSelector", {}).get("matchLabels", {})
                           .get("kubernetes.io/metadata.name", ns))
                peer_sel = peer["podSelector"].get("matchLabels", {})
                clients = {idx.workload_of(p) for p in idx.match([peer_ns], peer_sel)}
                for port, src, dst in ((p, s, d) for p in rule.get("ports", [])
                                       for s in clients for d in servers):
                    number = port["port"] if isinstance(port["port"], int) else \
                        _named_port(pods, dst, port["port"])
                    if number is not None:
                        rows.append({"src_kind": "pod", "src_namespace": src[0],
                                     "src_workload_kind": src[1], "src_workload": src[2],
                                     "dst_kind": "pod", "dst_namespace": dst[0],
                                     "dst_workload_kind": dst[1], "dst_workload": dst[2],
                                     "dst_port": number, "protocol": 6, "bytes": 1, "flows": 1})
    return pl.DataFrame(rows, schema=EDGE_SCHEMA).unique().sort(PAIR)


@pytest.mark.parametrize("app", sorted(APPS))
def test_cta_apps_intended_allowed_others_denied(realdata, app: str) -> None:
    from toolkit.collect.k8s import import_inventory

    inventory, expected = APPS[app]
    snap = import_inventory([realdata / CTA / inventory], planned=True)
    edges = intended_from_policies(snap, upstream_policies(realdata / CTA / expected))
    assert edges.height > 0
    result = suggest_policies(snap, edges=edges)
    allowed = verdicts(snap, result, edges)
    assert allowed.height == edges.height
    assert allowed.filter(pl.col("verdict") != "allowed").height == 0
    pods = snap.pods.collect()
    clients = edges.select(PAIR[:3]).unique()
    servers = (pods.explode("container_ports").drop_nulls("container_ports")
               .select(pl.col("namespace").alias("dst_namespace"),
                       pl.col("workload_kind").alias("dst_workload_kind"),
                       pl.col("workload_name").alias("dst_workload"),
                       pl.col("container_ports").struct.field("port").cast(pl.Int32)
                       .alias("dst_port"), pl.lit(6, pl.UInt8).alias("protocol")).unique())
    others = held_out(edges, clients, servers)
    denied = verdicts(snap, result, others)
    assert denied.height == others.height
    assert denied.filter(pl.col("verdict") != "denied").height == 0, denied.filter(
        pl.col("verdict") != "denied").select("src", "dst", "dst_port")
