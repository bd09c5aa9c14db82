"""Property: for any small cluster and any observed call graph, the suggested policies allow
every observed connection and deny every other (client, server, port) combination, as the
policy evaluator (toolkit.policy.replay) judges them."""

from __future__ import annotations

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit.core.boundaries import EDGE_SCHEMA
from toolkit.policy.replay import replay
from toolkit.policy.suggest import suggest_policies
from toolkit.snapshot import Snapshot

WORKLOADS = [("shop", "web"), ("shop", "api"), ("shop", "db"), ("pay", "gw"), ("pay", "ledger")]
PORTS = (80, 5432, 8443)


def cluster() -> Snapshot:
    pods = [{"namespace": ns, "name": f"{wl}-0", "uid": f"{ns}-{wl}", "ip": f"10.244.0.{i + 2}",
             "host_network": False, "workload_kind": "Deployment", "workload_name": wl,
             "labels": [{"key": "app", "value": wl},
                        {"key": "pod-template-hash", "value": f"h{i}"}],
             "container_ports": [], "images": [], "planned": False}
            for i, (ns, wl) in enumerate(WORKLOADS)]
    namespaces = [{"name": ns, "labels": [{"key": "kubernetes.io/metadata.name", "value": ns}]}
                  for ns in ("shop", "pay")]
    return Snapshot.from_frames(pods=pl.DataFrame(pods), namespaces=pl.DataFrame(namespaces))


SNAP = cluster()
TRIPLES = [(c, s, p) for c in range(len(WORKLOADS)) for s in range(len(WORKLOADS))
           for p in PORTS]


def as_flows(triples: list[tuple[int, int, int]]) -> pl.LazyFrame:
    rows = []
    for c, s, port in triples:
        (cns, cwl), (sns, swl) = WORKLOADS[c], WORKLOADS[s]
        rows.append({"src_kind": "pod", "src_namespace": cns, "src_workload_kind": "Deployment",
                     "src_workload": cwl, "src_pod_uid": f"{cns}-{cwl}", "src_ip": None,
                     "src_service_namespace": None, "src_service": None,
                     "dst_kind": "pod", "dst_namespace": sns, "dst_workload_kind": "Deployment",
                     "dst_workload": swl, "dst_pod_uid": f"{sns}-{swl}", "dst_ip": None,
                     "dst_service_namespace": None, "dst_service": None,
                     "dst_port": port, "protocol": 6, "bytes": 1, "packets": 1, "flows": 1})
    schema = {**{k: pl.String for k in rows[0]}, "dst_port": pl.Int32, "protocol": pl.UInt8,
              "bytes": pl.Int64, "packets": pl.Int64, "flows": pl.Int64}
    return pl.DataFrame(rows, schema=schema).lazy()


def as_edges(triples: list[tuple[int, int, int]]) -> pl.DataFrame:
    frame = as_flows(triples).collect()
    return frame.select([pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c)
                         for c, t in EDGE_SCHEMA.items()])


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sets(st.sampled_from(TRIPLES), min_size=1, max_size=12),
       st.sampled_from(["workload", "namespace"]))
def test_observed_allowed_everything_else_denied(observed: set, segments: str) -> None:
    observed = sorted(observed)
    result = suggest_policies(SNAP, segments, edges=as_edges(observed), dns="observed")
    policies = result.network_policies()
    allowed = replay(SNAP, policies, flows=as_flows(observed)).edges
    assert set(allowed["verdict"]) == {"allowed"}
    others = [t for t in TRIPLES if t not in observed]
    if segments == "namespace":  # a namespace segment opens its ports to the whole segment
        seen = {(WORKLOADS[c][0], WORKLOADS[s][0], p) for c, s, p in observed}
        others = [t for t in others
                  if (WORKLOADS[t[0]][0], WORKLOADS[t[1]][0], t[2]) not in seen]
    if others:
        denied = replay(SNAP, policies, flows=as_flows(others)).edges
        assert set(denied["verdict"]) == {"denied"}, denied.filter(pl.col("verdict") != "denied")
