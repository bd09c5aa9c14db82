"""The demo cluster's life over the whole series: nodes, controllers, pods and churn.

One continuous timeline covers every day, so daily snapshots agree with each other: a pod
that lives across midnight has the same name, uid and IP in both days. Churn (rolling
updates, rescheduling, CronJob runs) is drawn from the seed; pod IPs are handed out per node
last-released-first (as the VPC CNI's warm pool does), so an IP freed by one pod is soon held
by another, often of another namespace. Each CronJob run is followed by a planted
rescheduling of another namespace's pod onto the same node, which reuses the Job pod's IP.

>>> from toolkit.demo.config import DemoConfig
>>> tl = build_timeline(DemoConfig(seed=1, days=1))
>>> len(tl.nodes) >= 3 and len(tl.pods) > 50
True
"""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import dataclass, field

import numpy as np

from toolkit.demo.apps import WORKLOADS, Workload
from toolkit.demo.config import DemoConfig

_SAFE = np.array(list("bcdfghjklmnpqrstvwxz2456789"))
ZONES = ("a", "b", "c")


#: Nodes per zone laid out in 10.0.0.0/16 (the original layout: every node of scale <= 8).
_FIRST_LAYOUT = 16


def node_addresses(k: int) -> tuple[str, str]:
    """InternalIP and pod CIDR (/24) of node ``k`` (zone ``k % 3``).

    The first 48 nodes (scale <= 8) keep the original 10.0.0.0/16 layout, bit for bit: zone
    ``z``'s nodes at ``10.0.{32z}.{10+7j}``, pod blocks ``10.0.{32z+8+j}.0/24``. Further nodes
    (scale 9..64) use one more /16 per zone, like a VPC's secondary CIDR block: node IPs
    ``10.{z+1}.0.{10+m}``, pod blocks ``10.{z+1}.{m+1}.0/24`` (``m`` < 240).

    >>> node_addresses(0), node_addresses(47)
    (('10.0.0.10', '10.0.8.0/24'), ('10.0.64.115', '10.0.87.0/24'))
    >>> node_addresses(48), node_addresses(383)
    (('10.1.0.10', '10.1.1.0/24'), ('10.3.0.121', '10.3.112.0/24'))
    """
    z, j = k % 3, k // 3
    if j < _FIRST_LAYOUT:
        return f"10.0.{32 * z}.{10 + j * 7}", f"10.0.{32 * z + 8 + j}.0/24"
    m = j - _FIRST_LAYOUT
    if m >= 240:
        raise ValueError(f"node {k}: the demo layout holds at most {3 * (_FIRST_LAYOUT + 240)}")
    return f"10.{z + 1}.0.{10 + m}", f"10.{z + 1}.{m + 1}.0/24"


@dataclass
class Node:
    name: str
    ip: str
    zone: str
    cidr: str
    instance: str
    index: int


@dataclass
class Controller:
    namespace: str
    kind: str
    name: str
    uid: str
    labels: tuple[tuple[str, str], ...]
    template_labels: tuple[tuple[str, str], ...]
    replicas: int | None
    owner: tuple[str, str] | None
    top: tuple[str, str]
    created: int
    deleted: int | None = None


@dataclass
class Pod:
    workload: Workload
    name: str
    uid: str
    node: int
    owner: tuple[str, str]
    labels: tuple[tuple[str, str], ...]
    start: int
    end: int | None = None
    ip: str | None = None
    phase: str = "Running"


@dataclass
class Timeline:
    """Everything that existed during the series, with times in Unix seconds."""

    config: DemoConfig
    nodes: list[Node]
    controllers: list[Controller]
    pods: list[Pod]
    events: list[dict] = field(default_factory=list)


class _Builder:
    def __init__(self, cfg: DemoConfig):
        self.cfg = cfg
        self.rng = np.random.default_rng([cfg.seed, 1])
        self.nodes = self._nodes()
        self.controllers: list[Controller] = []
        self.pods: list[Pod] = []
        self.current: dict[str, list[Pod]] = {}  # workload ref -> live pods
        self.rs: dict[str, Controller] = {}  # deployment ref -> current ReplicaSet
        self.events: list[dict] = []

    def suffix(self, n: int) -> str:
        return "".join(self.rng.choice(_SAFE, n))

    def uid(self) -> str:
        return str(uuid.UUID(bytes=self.rng.bytes(16), version=4))

    def _nodes(self) -> list[Node]:
        out = []
        for k in range(6 * self.cfg.scale):
            ip, cidr = node_addresses(k)
            inst = "i-0" + "".join(self.rng.choice(list("0123456789abcdef"), 16))
            name = f"ip-{ip.replace('.', '-')}.ec2.internal"
            out.append(Node(name, ip, f"{self.cfg.region}{ZONES[k % 3]}", cidr, inst, k))
        return out

    def controller(self, w: Workload, kind: str, name: str, created: int,
                   owner: tuple[str, str] | None, labels: tuple, replicas: int | None
                   ) -> Controller:
        c = Controller(w.namespace, kind, name, self.uid(), w.labels, labels, replicas, owner,
                       (w.kind, w.name), created)
        self.controllers.append(c)
        return c

    def replicas(self, w: Workload) -> int:
        return w.replicas * self.cfg.scale

    def new_pod(self, w: Workload, start: int, node: int | None = None, ordinal: int = 0) -> Pod:
        ref = f"{w.namespace}/{w.name}"
        node = int(self.rng.integers(len(self.nodes))) if node is None else node
        labels = dict(w.labels)
        if w.kind == "Deployment":
            rs = self.rs[ref]
            owner, name = ("ReplicaSet", rs.name), f"{rs.name}-{self.suffix(5)}"
            labels["pod-template-hash"] = rs.name.rsplit("-", 1)[1]
        elif w.kind == "StatefulSet":
            owner, name = ("StatefulSet", w.name), f"{w.name}-{ordinal}"
            labels["statefulset.kubernetes.io/pod-name"] = name
        else:
            owner, name = ("DaemonSet", w.name), f"{w.name}-{self.suffix(5)}"
            labels["pod-template-generation"] = "1"
        pod = Pod(w, name, self.uid(), node, owner, tuple(sorted(labels.items())), start)
        self.pods.append(pod)
        self.current.setdefault(ref, []).append(pod)
        return pod

    def new_rs(self, w: Workload, created: int) -> None:
        ref = f"{w.namespace}/{w.name}"
        name = f"{w.name}-{self.suffix(10)}"
        labels = tuple(sorted({**dict(w.labels), "pod-template-hash": name[-10:]}.items()))
        old = self.rs.get(ref)
        if old is not None:
            old.replicas = 0
        self.rs[ref] = self.controller(w, "ReplicaSet", name, created, ("Deployment", w.name),
                                       labels, self.replicas(w))

    def create(self, w: Workload, created: int) -> None:
        """The controller objects of ``w`` and its first pods, all starting at ``created``."""
        kind = w.kind
        replicas = None if kind in ("DaemonSet", "CronJob") else self.replicas(w)
        self.controller(w, kind, w.name, created, None, w.labels, replicas)
        if kind == "Deployment":
            self.new_rs(w, created)
        if kind == "DaemonSet":
            for node in range(len(self.nodes)):
                self.new_pod(w, created + 5 + node, node)
        elif kind != "CronJob":
            for i in range(self.replicas(w)):
                self.new_pod(w, created + 5 + 3 * i, ordinal=i)


def _end(pod: Pod, at: int, current: dict[str, list[Pod]]) -> None:
    pod.end = at
    current[f"{pod.workload.namespace}/{pod.workload.name}"].remove(pod)


def _rollout(b: _Builder, w: Workload, t: int) -> None:
    ref = f"{w.namespace}/{w.name}"
    old = list(b.current[ref])
    b.new_rs(w, t)
    for i, pod in enumerate(old):
        b.new_pod(w, t + 20 * i)
        _end(pod, t + 20 * i + 15, b.current)
    b.events.append({"kind": "rollout", "workload": ref, "time": t,
                     "replicaset": b.rs[ref].name})


def _reschedule(b: _Builder, pod: Pod, t: int, node: int | None = None, why: str = "") -> Pod:
    w = pod.workload
    if node is None:
        node = int((pod.node + 1 + b.rng.integers(len(b.nodes) - 1)) % len(b.nodes))
    _end(pod, t, b.current)
    ordinal = int(pod.name.rsplit("-", 1)[1]) if w.kind == "StatefulSet" else 0
    new = b.new_pod(w, t + 4, node, ordinal)
    b.events.append({"kind": "reschedule", "workload": f"{w.namespace}/{w.name}", "time": t,
                     "old_pod": pod.name, "new_pod": new.name, "node": b.nodes[node].name,
                     "reason": why or "node drain"})
    return new


def _cron_run(b: _Builder, w: Workload, t: int) -> Pod:
    job = f"{w.name}-{t // 60}"
    ctl = b.controller(w, "Job", job, t, ("CronJob", w.name),
                       tuple(sorted({**dict(w.labels), "job-name": job}.items())), None)
    labels = {**dict(w.labels), "job-name": job, "batch.kubernetes.io/job-name": job,
              "controller-uid": ctl.uid}
    node = int(b.rng.integers(len(b.nodes)))
    pod = Pod(w, f"{job}-{b.suffix(5)}", b.uid(), node, ("Job", job),
              tuple(sorted(labels.items())), t + 2, t + 2 + int(b.rng.integers(180, 300)),
              phase="Succeeded")
    b.pods.append(pod)
    return pod


def build_timeline(cfg: DemoConfig) -> Timeline:
    """Nodes, controllers and pods (with their lifetimes and IPs) for the whole series."""
    b = _Builder(cfg)
    for w in WORKLOADS:
        if w.first_day == 1:
            b.create(w, cfg.t0 - int(b.rng.integers(2, 40)) * 86_400
                     - int(b.rng.integers(0, 86_400)))
    for day in range(1, cfg.days + 1):
        _churn_day(b, day)
    _assign_ips(b)
    return Timeline(cfg, b.nodes, b.controllers, b.pods, b.events)


def _churn_day(b: _Builder, day: int) -> None:
    cfg = b.cfg
    ws, _ = cfg.window_seconds(day)
    slots = cfg.day_seconds // 1800
    cron = {int(s) for s in range(0, slots, max(1, cfg.cron_every_hours * 2))}
    free = np.array([s for s in range(1, slots - 1) if s not in cron and s - 1 not in cron])
    n_events = min(len(free), cfg.rollouts_per_day + cfg.reschedules_per_day + 1)
    chosen = np.sort(b.rng.choice(free, n_events, replace=False))
    plan: list[tuple[int, str]] = [(ws + int(s) * 1800 + 60, "cron") for s in sorted(cron)]
    kinds = ["rollout"] * cfg.rollouts_per_day + ["reschedule"] * cfg.reschedules_per_day
    kinds = list(b.rng.permutation(kinds))
    for s, kind in zip(chosen, kinds, strict=False):
        plan.append((ws + int(s) * 1800 + int(b.rng.integers(0, 600)), kind))
    for w in WORKLOADS:  # new workloads of this day arrive 30 minutes into it
        if w.first_day == day and day > 1:
            plan.append((ws + 1800 + 7, f"create:{w.name}"))
    for t, kind in sorted(plan):
        _apply(b, t, kind)


def _apply(b: _Builder, t: int, kind: str) -> None:
    movable = sorted(r for r, pods in b.current.items() if pods and r in _DEPLOYABLE)
    if kind.startswith("create:"):
        w = next(w for w in WORKLOADS if w.name == kind.split(":", 1)[1])
        b.create(w, t)
        b.events.append({"kind": "new-workload", "workload": f"{w.namespace}/{w.name}",
                         "time": t})
    elif kind == "rollout":
        ref = movable[int(b.rng.integers(len(movable)))]
        _rollout(b, b.current[ref][0].workload, t)
    elif kind == "reschedule":
        ref = movable[int(b.rng.integers(len(movable)))]
        pods = b.current[ref]
        _reschedule(b, pods[int(b.rng.integers(len(pods)))], t)
    else:  # a CronJob run, then a pod of another namespace lands on the Job pod's node
        cron = next(w for w in WORKLOADS if w.kind == "CronJob")
        job_pod = _cron_run(b, cron, t)
        others = [r for r in movable if not r.startswith(cron.namespace + "/")]
        ref = others[int(b.rng.integers(len(others)))]
        pods = b.current[ref]
        victim = pods[int(b.rng.integers(len(pods)))]
        if victim.node == job_pod.node:
            victim = pods[0]
        if victim.node != job_pod.node:
            _reschedule(b, victim, job_pod.end + 60, job_pod.node, "planted IP reuse")


_DEPLOYABLE = frozenset(f"{w.namespace}/{w.name}" for w in WORKLOADS
                        if w.kind in ("Deployment", "StatefulSet") and not w.host_network)


def _assign_ips(b: _Builder) -> None:
    """Give every non-host-network pod an IP from its node's block, last released first."""
    free = [[str(ip) for ip in reversed(list(ipaddress.ip_network(n.cidr).hosts())[1:])]
            for n in b.nodes]
    actions = []
    for i, pod in enumerate(b.pods):
        if pod.workload.host_network:
            pod.ip = b.nodes[pod.node].ip
            continue
        actions.append((pod.start, 1, i))
        if pod.end is not None:
            actions.append((pod.end, 0, i))
    for _, alloc, i in sorted(actions):
        pod = b.pods[i]
        if alloc:
            pod.ip = free[pod.node].pop()
        else:
            free[pod.node].append(pod.ip)
