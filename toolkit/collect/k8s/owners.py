"""Owner-chain resolution: from each pod and controller to the controller at the top.

Rules (walking ``ownerReferences`` with ``controller: true``):

- An owner present in the input is followed to its own owner, up to an object without one:
  Pod -> ReplicaSet -> Deployment, Pod -> Job -> CronJob, Pod -> StatefulSet/DaemonSet.
- An owner referenced but absent from the input (a ``PodList`` dump without its ReplicaSets)
  still counts: the reference says its kind and name, so it becomes the top. It gets a
  workloads row with ``source = "inferred"``.
- One inference beyond the references: a pod whose absent owner is a ReplicaSet named
  ``<deploy>-<hash>`` and whose own ``pod-template-hash`` label equals ``<hash>`` belongs to
  Deployment ``<deploy>`` (the Deployment controller names ReplicaSets and stamps that label
  exactly so). Without that evidence, or when the ReplicaSet object is present and has no
  owner (an orphaned ReplicaSet), the top stays the ReplicaSet. A Job without a CronJob owner
  in the input stays a Job (its name carries no reliable evidence).

An ownerReference without ``kind`` (hand-written manifests do this) gets one inferred by
:func:`infer_kinds`, in this order: the kind of a controller object of that name in the same
namespace present in the input (ReplicaSet, StatefulSet, DaemonSet, Job,
ReplicationController, Deployment, CronJob, first match); for a pod, the labels its
controller stamps (``pod-template-hash`` equal to the name's suffix: ReplicaSet; ``job-name``
equal to the owner name: Job; ``controller-revision-hash`` with ``pod-template-generation``:
DaemonSet, without: StatefulSet); for a ReplicaSet or Job, its usual owner (Deployment,
CronJob); otherwise ReplicaSet, the controller that owns most pods. So such pods are grouped
under their owner instead of counted as bare pods.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from toolkit import schema
from toolkit.collect.k8s.normalise import KINDLESS

Key = tuple[str, str, str]  # namespace, kind, name
HASH_LABEL = "pod-template-hash"
#: Which kind a kind-less reference means when several objects share its name.
_KIND_PREFERENCE = ("ReplicaSet", "StatefulSet", "DaemonSet", "Job", "ReplicationController",
                    "Deployment", "CronJob")
_USUAL_OWNER = {"ReplicaSet": "Deployment", "Job": "CronJob"}


def _label_kind(owner: str, labels: dict[str, str]) -> str | None:
    """The kind of a pod's owner as its controller's labels say, or None."""
    pod_hash = labels.get(HASH_LABEL)
    if pod_hash and owner.endswith(f"-{pod_hash}"):
        return "ReplicaSet"
    if owner in (labels.get("job-name"), labels.get("batch.kubernetes.io/job-name")):
        return "Job"
    if "controller-revision-hash" in labels:
        return "DaemonSet" if "pod-template-generation" in labels else "StatefulSet"
    return None


def infer_kinds(workloads: pl.DataFrame, pods: pl.DataFrame
                ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fill ``owner_kind`` (and a pod's ``workload_kind``) where the ownerReference named no
    kind (see the module docstring for the rules)."""
    named: dict[tuple[str, str], str] = {}
    for ns, kind, name in workloads.select("namespace", "kind", "name").iter_rows():
        best = named.get((ns, name))
        if best is None or _KIND_PREFERENCE.index(kind) < _KIND_PREFERENCE.index(best):
            named[(ns, name)] = kind
    kindless = pl.col("owner_kind") == KINDLESS
    if workloads.filter(kindless).height:
        rows = workloads.filter(kindless).select("namespace", "kind", "owner_name").unique()
        fill = [(ns, kind, owner, named.get((ns, owner)) or _USUAL_OWNER.get(kind))
                for ns, kind, owner in rows.iter_rows()]
        workloads = _fill(workloads, fill, ["namespace", "kind", "owner_name"], "owner_kind")
    if pods.filter(kindless).height:  # few rows: hand-written manifests
        pods = pods.with_row_index("_r")
        rows = pods.filter(kindless).select("_r", "namespace", "owner_name", "labels")
        fill = [(r, named.get((ns, owner)) or _label_kind(
                    owner, {d["key"]: d["value"] for d in labels or []}) or "ReplicaSet")
                for r, ns, owner, labels in rows.iter_rows()]
        lookup = pl.DataFrame(fill, orient="row", schema={"_r": pl.UInt32, "_kind": pl.String})
        pods = (pods.join(lookup, on="_r", how="left", maintain_order="left")
                .with_columns(owner_kind=pl.coalesce("_kind", "owner_kind"),
                              workload_kind=pl.coalesce("_kind", "workload_kind"))
                .drop("_r", "_kind"))
    return workloads, pods


def _fill(data: pl.DataFrame, fill: list[tuple], keys: list[str], column: str
          ) -> pl.DataFrame:
    """``column`` set from the last element of ``fill`` rows matched on ``keys``."""
    lookup = pl.DataFrame(fill, orient="row", schema={**{k: pl.String for k in keys},
                                                      "_kind": pl.String})
    return (data.join(lookup, on=keys, how="left", maintain_order="left")
            .with_columns(pl.when(pl.col(column) == KINDLESS).then(pl.col("_kind"))
                          .otherwise(pl.col(column)).alias(column)).drop("_kind"))


def _hash_of(labels: list[dict[str, str]] | None) -> str | None:
    for item in labels or []:
        if item["key"] == HASH_LABEL:
            return item["value"]
    return None


class _Chains:
    """Known controller objects and the references between them."""

    def __init__(self, workloads: pl.DataFrame):
        self.owner: dict[Key, tuple[str, str] | None] = {}
        self.inferred: dict[Key, tuple[str, str] | None] = {}
        for ns, kind, name, okind, oname in workloads.select(
                "namespace", "kind", "name", "owner_kind", "owner_name").iter_rows():
            self.owner[(ns, kind, name)] = (okind, oname) if okind and oname else None

    def _absent(self, key: Key, pod_hash: str | None) -> tuple[str, str] | None:
        """Owner of an object only known by reference (the ReplicaSet hash rule)."""
        _, kind, name = key
        if kind == "ReplicaSet" and pod_hash and name.endswith(f"-{pod_hash}"):
            return ("Deployment", name[: -len(pod_hash) - 1])
        return None

    def needs_hash(self, key: Key) -> bool:
        """Whether :meth:`top` of ``key`` can depend on a pod's hash: its chain reaches an
        absent ReplicaSet (the only absent kind :meth:`_absent` gives an owner)."""
        seen = set()
        while key not in seen and key in self.owner:
            seen.add(key)
            parent = self.owner[key]
            if parent is None:
                return False
            key = (key[0], parent[0], parent[1])
        return key not in self.owner and key[1] == "ReplicaSet"

    def top(self, key: Key, pod_hash: str | None = None) -> tuple[str, str]:
        """(kind, name) at the top of ``key``'s chain, recording absent links as inferred."""
        seen = set()
        while key not in seen:
            seen.add(key)
            if key in self.owner:
                parent = self.owner[key]
            else:
                parent = self._absent(key, pod_hash) or self.inferred.get(key)
                if parent is not None or key not in self.inferred:
                    self.inferred[key] = parent
            if parent is None:
                break
            key = (key[0], parent[0], parent[1])
        return key[1], key[2]


def _inferred_rows(chains: _Chains) -> pl.DataFrame:
    rows: list[dict[str, Any]] = []
    for (ns, kind, name), parent in chains.inferred.items():
        top_kind, top_name = chains.top((ns, kind, name))
        rows.append({"namespace": ns, "kind": kind, "name": name, "labels": [],
                     "template_labels": [], "owner_kind": parent[0] if parent else None,
                     "owner_name": parent[1] if parent else None, "top_kind": top_kind,
                     "top_name": top_name, "source": "inferred"})
    frame = pl.DataFrame(rows, schema={k: schema.WORKLOADS.polars_schema[k]
                                       for k in (rows[0] if rows else {"namespace": 0})})
    return schema.conform(frame, "workloads") if rows else schema.WORKLOADS.empty()


_OWNER = ["namespace", "owner_kind", "owner_name"]
_HASH_EXPR = pl.col("labels").list.eval(
    pl.element().filter(pl.element().struct.field("key") == HASH_LABEL)
    .struct.field("value")).list.first().alias("_hash")


def _pod_workloads(pods: pl.DataFrame, chains: _Chains) -> pl.DataFrame:
    """``pods`` with ``workload_*`` set to the top of each pod's owner chain.

    Only narrow key frames are built (the pods table gets two new columns, no copy), and the
    ``pod-template-hash`` label is read only when some chain ends at an absent ReplicaSet
    (the hash rule needs it); otherwise it cannot change any result.
    """
    owners = pods.select(_OWNER).filter(pl.col("owner_kind").is_not_null()).unique()
    if not owners.height:
        return pods
    keys = _OWNER
    if any(chains.needs_hash(owner) for owner in owners.iter_rows()):
        keys = [*_OWNER, "_hash"]
        owners = (pods.filter(pl.col("owner_kind").is_not_null())
                  .select(*_OWNER, _HASH_EXPR).unique())
    mapping = [(*row, *chains.top(row[:3], *row[3:])) for row in owners.iter_rows()]
    lookup = pl.DataFrame(mapping, orient="row", schema={
        **{k: pl.String for k in keys}, "_wk": pl.String, "_wn": pl.String})
    keyed = pods.select(*_OWNER, _HASH_EXPR) if len(keys) > 3 else pods.select(keys)
    found = keyed.join(lookup, on=keys, how="left", nulls_equal=True, maintain_order="left")
    return pods.with_columns(
        workload_kind=pl.coalesce(pl.lit(found["_wk"]), pl.col("workload_kind")),
        workload_name=pl.coalesce(pl.lit(found["_wn"]), pl.col("workload_name")))


def resolve(workloads: pl.DataFrame, pods: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Fill ``workloads.top_*`` and ``pods.workload_*``; add inferred workloads rows."""
    workloads, pods = infer_kinds(workloads, pods)
    chains = _Chains(workloads)
    tops = [chains.top(k) for k in workloads.select("namespace", "kind", "name").iter_rows()]
    workloads = workloads.with_columns(
        top_kind=pl.Series([t[0] for t in tops], dtype=pl.String),
        top_name=pl.Series([t[1] for t in tops], dtype=pl.String))
    pods = _pod_workloads(pods, chains)
    inferred = _inferred_rows(chains)
    if inferred.height:
        workloads = pl.concat([workloads, inferred], how="vertical")
    return workloads, pods
