"""A one-glance summary of a snapshot's inventory and flows."""

from __future__ import annotations

from typing import Any

import polars as pl

from toolkit.snapshot import Snapshot


def inventory_summary(snap: Snapshot) -> dict[str, Any]:
    """Counts a user asks for first: nodes, namespaces, workloads, pods, services, policies,
    flow records and the time window.

    ``workloads`` counts top-level owners (a Deployment, not its ReplicaSets; a bare pod
    counts as its own workload). ``pods`` counts distinct pods, not IP intervals.
    """
    pods = snap.pods.select("namespace", "uid", "workload_kind", "workload_name", "planned")
    pod_counts = pods.select(
        pl.col("uid").n_unique().alias("pods"),
        pl.struct("namespace", "workload_kind", "workload_name").n_unique().alias("workloads"),
        pl.col("uid").filter(pl.col("planned")).n_unique().alias("planned_pods"),
    ).collect().row(0, named=True)
    counts = snap.row_counts()
    window = snap.flow_window()
    return {
        "cluster": snap.cluster,
        "nodes": counts["nodes"],
        "namespaces": counts["namespaces"],
        "workloads": pod_counts["workloads"] if counts["pods"] else 0,
        "pods": pod_counts["pods"] if counts["pods"] else 0,
        "planned_pods": pod_counts["planned_pods"] if counts["pods"] else 0,
        "services": counts["services"],
        "network_policies": counts["network_policies"],
        "flow_records": counts["flows"],
        "window_start": window[0] if window else None,
        "window_end": window[1] if window else None,
    }
