"""Planned pods: the pods a workload manifest would create, for planning before deploy.

For each top-level workload present in the input (a Deployment, StatefulSet, DaemonSet,
ReplicaSet, ReplicationController, Job or CronJob that is not owned by another) with no
observed pod, :func:`expand` makes ``replicas`` pods from its pod template (a DaemonSet: one
per known node, else one; a Job: ``parallelism``; a CronJob: one run). They are marked
``planned = True`` and ``source = "planned"``, have deterministic synthetic uids and names
(``<workload>-<i>`` for StatefulSets as the controller names them, ``<workload>-planned-<i>``
otherwise) and no IP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from toolkit.collect.k8s import normalise as nm

Key = tuple[str, str, str]


def _pod_names(kind: str, name: str, count: int) -> list[str]:
    if kind == "StatefulSet":
        return [f"{name}-{i}" for i in range(count)]
    return [f"{name}-planned-{i}" for i in range(count)]


def _count(kind: str, replicas: int | None, nodes: list[str]) -> int:
    if kind == "DaemonSet":
        return max(len(nodes), 1)
    if kind == "CronJob":
        return 1
    return 1 if replicas is None else replicas


def expand(workloads: pl.DataFrame, pods: pl.DataFrame, nodes: pl.DataFrame,
           templates: Mapping[Key, dict[str, Any]]) -> pl.DataFrame:
    """Planned pods rows for the top-level workloads that have no pods."""
    from toolkit.collect.k8s.capture import frame  # late: capture imports this module

    have = set(pods.select("namespace", "workload_kind", "workload_name").unique().iter_rows())
    node_names = sorted(nodes["name"].to_list())
    tops = workloads.filter((pl.col("kind") == pl.col("top_kind"))
                            & (pl.col("name") == pl.col("top_name"))
                            & (pl.col("source") != "inferred"))
    rows = []
    for ns, kind, name, replicas, tlabels in tops.select(
            "namespace", "kind", "name", "replicas", "template_labels").iter_rows():
        if (ns, kind, name) in have or (ns, kind, name) not in templates:
            continue
        fields = templates[(ns, kind, name)]
        for i, pod_name in enumerate(_pod_names(kind, name, _count(kind, replicas, node_names))):
            node = node_names[i] if kind == "DaemonSet" and node_names else fields["node"]
            rows.append({**fields, "namespace": ns, "name": pod_name, "node": node,
                         "uid": nm.synthetic_uid("planned", ns, kind, name, str(i)),
                         "labels": tlabels, "owner_kind": kind, "owner_name": name,
                         "workload_kind": kind, "workload_name": name, "planned": True,
                         "phase": None, "ip": None, "ip_family": None, "source": "planned"})
    return frame(rows, "pods")
