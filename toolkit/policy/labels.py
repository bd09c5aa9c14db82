"""Stable labels and exact selectors for NetworkPolicy synthesis, and label-quality findings.

A selector in a generated policy must survive rollouts: it may use only labels every pod of
the workload carries and that do not change from one run to the next. Per-run labels are the
keys in :data:`PER_RUN_KEYS`, any key ending in ``-hash``, ``controller-uid`` or
``pod-name``, a label whose value is the pod's own name, and a label whose value differs
between pods of the same workload.

>>> is_per_run("pod-template-hash", "7c9d8b6f5", "web-7c9d8b6f5-x2x9q")
True
>>> is_per_run("app", "web", "web-7c9d8b6f5-x2x9q")
False
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import polars as pl

#: Label keys that change from one run (rollout, job run, pod) to the next.
PER_RUN_KEYS = frozenset({
    "pod-template-hash", "controller-revision-hash", "controller-uid",
    "batch.kubernetes.io/controller-uid", "job-name", "batch.kubernetes.io/job-name",
    "statefulset.kubernetes.io/pod-name", "apps.kubernetes.io/pod-index",
    "pod-template-generation", "service.istio.io/canonical-revision",
})
#: Label keys that are stable within a release but change on upgrade: used only when needed.
VOLATILE_KEYS = frozenset({
    "app.kubernetes.io/version", "helm.sh/chart", "chart", "version", "heritage",
    "app.kubernetes.io/managed-by",
})
#: Preferred keys for selectors, most preferred first; other keys follow alphabetically.
KEY_PRIORITY = ("app.kubernetes.io/name", "app", "k8s-app", "name", "app.kubernetes.io/instance",
                "app.kubernetes.io/component", "component", "tier", "role", "release")
MAX_SELECTOR_KEYS = 3

Workload = tuple[str, str, str]  # (namespace, kind, name)
#: A selector: ``{key: value}`` (matchLabels) or ``{key: (v1, v2)}`` (matchExpressions In).
Selector = Mapping[str, str | tuple[str, ...]]


def selector_json(selector: Selector | None) -> dict[str, Any]:
    """The Kubernetes LabelSelector for a selector (``{}`` selects everything).

    >>> selector_json({"app": ("api", "web"), "tier": "front"})
    {'matchLabels': {'tier': 'front'}, 'matchExpressions': [{'key': 'app', 'operator': 'In', \
'values': ['api', 'web']}]}
    """
    out: dict[str, Any] = {}
    labels = {k: v for k, v in sorted((selector or {}).items()) if not isinstance(v, tuple)}
    exprs = [{"key": k, "operator": "In", "values": sorted(v)}
             for k, v in sorted((selector or {}).items()) if isinstance(v, tuple)]
    if labels:
        out["matchLabels"] = labels
    if exprs:
        out["matchExpressions"] = exprs
    return out


def is_per_run(key: str, value: str | None, pod_name: str | None = None) -> bool:
    """Whether label ``key=value`` on pod ``pod_name`` is a per-run label."""
    if key in PER_RUN_KEYS or key.endswith(("-hash", "controller-uid", "pod-name")):
        return True
    return bool(pod_name) and value == pod_name


def _as_dict(labels: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    return {item["key"]: item["value"] for item in labels or ()}


@dataclass
class PodIndex:
    """The pods of a snapshot by namespace, with an inverted label index for fast matching."""

    pods: dict[str, dict[str, tuple[Workload, dict[str, str]]]] = field(default_factory=dict)
    index: dict[str, dict[tuple[str, str], set[str]]] = field(default_factory=dict)
    stable: dict[Workload, dict[str, str]] = field(default_factory=dict)
    per_run: dict[Workload, list[str]] = field(default_factory=dict)
    host_network: set[Workload] = field(default_factory=set)

    def match(self, namespaces: Iterable[str], selector: Selector) -> set[str]:
        """Keys ``namespace/pod`` of the pods in ``namespaces`` that ``selector`` matches
        (a tuple value means ``key In (values)``)."""
        found: set[str] = set()
        for ns in namespaces:
            pods = self.pods.get(ns, {})
            if not selector:
                found |= {f"{ns}/{p}" for p in pods}
                continue
            index = self.index.get(ns, {})
            sets = [set().union(*(index.get((key, v), set()) for v in value))
                    if isinstance(value, tuple) else index.get((key, value), set())
                    for key, value in selector.items()]
            found |= {f"{ns}/{p}" for p in set.intersection(*sets)}
        return found

    def pods_of(self, workloads: Iterable[Workload]) -> set[str]:
        """Keys of the pods that belong to ``workloads``."""
        wanted = set(workloads)
        return {f"{ns}/{pod}" for ns, pods in self.pods.items()
                for pod, (wl, _) in pods.items() if wl in wanted}

    def workload_of(self, pod_key: str) -> Workload:
        ns, pod = pod_key.split("/", 1)
        return self.pods[ns][pod][0]


def _template_labels(workloads: pl.DataFrame) -> dict[Workload, dict[str, str]]:
    top = workloads.filter((pl.col("kind") == pl.col("top_kind"))
                           & (pl.col("name") == pl.col("top_name")))
    return {(r["namespace"], r["kind"], r["name"]): _as_dict(r["template_labels"])
            for r in top.iter_rows(named=True)}


def build_index(pods: pl.LazyFrame | pl.DataFrame,
                workloads: pl.LazyFrame | pl.DataFrame | None = None) -> PodIndex:
    """Index the distinct pods; ``host_network`` lists the workloads of hostNetwork pods
    (they are matched by selectors too, but a policy is not written for them)."""
    frame = (pods.lazy()
             .select("namespace", "name", "labels", "workload_kind", "workload_name",
                     "host_network")
             .unique(subset=["namespace", "name"], keep="last", maintain_order=True)
             .sort("namespace", "name").collect())
    templates = _template_labels(workloads.lazy().collect()) if workloads is not None else {}
    idx = PodIndex()
    members: dict[Workload, list[tuple[str, dict[str, str]]]] = {}
    for row in frame.iter_rows(named=True):
        wl = (row["namespace"], row["workload_kind"], row["workload_name"])
        labels = _as_dict(row["labels"])
        if row["host_network"]:
            idx.host_network.add(wl)
        idx.pods.setdefault(row["namespace"], {})[row["name"]] = (wl, labels)
        ns_index = idx.index.setdefault(row["namespace"], {})
        for item in labels.items():
            ns_index.setdefault(item, set()).add(row["name"])
        members.setdefault(wl, []).append((row["name"], labels))
    for wl, pods_of in members.items():
        idx.stable[wl], idx.per_run[wl] = _stable_labels(pods_of, templates.get(wl))
    for wl, template in templates.items():  # workloads without pods: their template only
        if wl not in members:
            idx.per_run[wl] = sorted(k for k, v in template.items() if is_per_run(k, v))
            idx.stable[wl] = {k: v for k, v in sorted(template.items())
                              if k not in idx.per_run[wl]}
    return idx


def _stable_labels(pods: list[tuple[str, dict[str, str]]],
                   template: dict[str, str] | None) -> tuple[dict[str, str], list[str]]:
    """Labels shared by every pod of a workload that are not per-run, and the per-run keys."""
    common = dict(pods[0][1])
    per_run: set[str] = set()
    for name, labels in pods:
        for key, value in labels.items():
            if is_per_run(key, value, name) or common.get(key, value) != value:
                per_run.add(key)
        common = {k: v for k, v in common.items() if labels.get(k) == v}
    if template:  # an empty template means unknown (a workload inferred from owner refs)
        per_run |= {k for k, v in template.items() if is_per_run(k, v)}
        common = {k: v for k, v in common.items() if template.get(k) == v}
    stable = {k: v for k, v in sorted(common.items()) if k not in per_run}
    return stable, sorted(per_run)


def _rank(key: str) -> tuple[int, int, str]:
    volatile = 1 if key in VOLATILE_KEYS else 0
    prio = KEY_PRIORITY.index(key) if key in KEY_PRIORITY else len(KEY_PRIORITY)
    return volatile, prio, key


def candidate_selectors(labels: Mapping[str, str], *, allow_empty: bool = False
                        ) -> list[dict[str, str]]:
    """Selectors to try, most preferred first: fewer keys, preferred keys, non-volatile keys.

    >>> candidate_selectors({"app": "web", "tier": "front"})[:2]
    [{'app': 'web'}, {'tier': 'front'}]
    """
    keys = sorted(labels, key=_rank)
    out: list[dict[str, str]] = [{}] if allow_empty else []
    for size in range(1, min(len(keys), MAX_SELECTOR_KEYS) + 1):
        combos = sorted(combinations(keys, size), key=lambda c: [_rank(k) for k in c])
        combos.sort(key=lambda c: sum(k in VOLATILE_KEYS for k in c))
        out += [{k: labels[k] for k in sorted(c)} for c in combos]
    if len(keys) > MAX_SELECTOR_KEYS:
        out.append({k: labels[k] for k in sorted(keys)})
    return out


def common_stable(idx: PodIndex, workloads: Iterable[Workload]) -> dict[str, str]:
    """Stable labels every one of ``workloads`` shares (same key and value)."""
    items = [set(idx.stable.get(wl, {}).items()) for wl in workloads]
    return dict(sorted(set.intersection(*items))) if items else {}


def _shared_keys(idx: PodIndex, workloads: list[Workload]) -> list[str]:
    """Stable keys every workload has (with any value), most preferred first."""
    keys = [set(idx.stable.get(w, {})) for w in workloads]
    return sorted(set.intersection(*keys), key=_rank) if keys else []


def find_selector(idx: PodIndex, workloads: Iterable[Workload], *, allow_empty: bool = False
                  ) -> tuple[dict[str, str] | None, set[str]]:
    """The most preferred stable selector matching exactly the pods of ``workloads``: a
    matchLabels set, else (for several workloads) one key ``In`` their values.

    Returns ``(selector, extra_pods)``: ``extra_pods`` is empty for an exact selector; when no
    exact one exists the broadest-but-most-specific candidate (all common stable labels) is
    returned with the unintended pods it matches; ``(None, set())`` when there is none.
    """
    workloads = sorted(set(workloads))
    namespaces = sorted({wl[0] for wl in workloads})
    wanted = idx.pods_of(workloads)
    labels = common_stable(idx, workloads)
    candidates = candidate_selectors(labels, allow_empty=allow_empty)
    for selector in candidates:
        matched = idx.match(namespaces, selector)
        if matched == wanted:
            return selector, set()
    if len(workloads) > 1:
        for key in _shared_keys(idx, workloads):
            values = tuple(sorted({idx.stable[w][key] for w in workloads}))
            if idx.match(namespaces, {key: values}) == wanted:
                return {key: values}, set()
    if not labels:
        return None, set()
    full = dict(sorted(labels.items()))
    return full, idx.match(namespaces, full) - wanted
