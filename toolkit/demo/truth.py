"""What the demo planted, for tests of segmentation, resolution and diff to check against.

>>> from toolkit.demo import DemoConfig, demo_truth
>>> truth = demo_truth(DemoConfig(seed=1, days=3, flows_per_day=0))
>>> truth.segments["sock-shop"]
('sock-front', 'sock-back')
>>> sorted({c["kind"] for c in truth.changes})
['new-edge', 'new-service', 'new-workload', 'rescheduled-pod', 'rollout', 'vanished-edge']
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from toolkit.demo.apps import SERVICES
from toolkit.demo.callgraph import DENIED_EDGE, EDGES, NEW_EDGE, STRAY_EDGE, VANISHED_EDGE
from toolkit.demo.cluster import Timeline

SEGMENTS = {
    "online-boutique": ("boutique",),
    "sock-shop": ("sock-front", "sock-back"),
    "social-network": ("social-network",),
    "shared-data": ("databases",),
    "platform": ("kube-system", "monitoring", "ingress-nginx", "default"),
}


_PLANTED_KINDS = ("new-service", "new-edge", "vanished-edge")


@dataclass(frozen=True)
class DemoTruth:
    """The planted segments, odd edges and day-to-day changes of a demo series."""

    seed: int
    segments: dict[str, tuple[str, ...]]
    stray_edges: tuple[dict[str, Any], ...]
    denied_edges: tuple[dict[str, Any], ...]
    changes: tuple[dict[str, Any], ...]
    ip_reuse: tuple[dict[str, Any], ...] = field(default=())

    def changes_on(self, day: int, kind: str | None = None) -> list[dict[str, Any]]:
        """Planted changes that happen on ``day`` (optionally of one ``kind``)."""
        return [c for c in self.changes if c["day"] == day and (kind is None or c["kind"] == kind)]

    def summary(self) -> dict[str, Any]:
        """The planted findings without the churn lists (what a manifest keeps)."""
        data = self.as_dict()
        data.pop("ip_reuse")
        data["changes"] = [c for c in data["changes"] if c["kind"] in _PLANTED_KINDS]
        return data

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in demo snapshots' manifest sources)."""
        data = asdict(self)
        data["segments"] = {k: list(v) for k, v in self.segments.items()}
        return data


def _edge(name: str) -> dict[str, Any]:
    e = next(e for e in EDGES if e.name == name)
    return {"name": e.name, "client": e.client, "server": e.server, "port": e.port,
            "protocol": e.protocol, "service": e.service}


def _day_of(tl: Timeline, t: int) -> int | None:
    for day in range(1, tl.config.days + 1):
        ws, we = tl.config.window_seconds(day)
        if ws <= t < we:
            return day
    return None


def _iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _changes(tl: Timeline) -> list[dict[str, Any]]:
    days = tl.config.days
    out: list[dict[str, Any]] = []
    for s in SERVICES:
        if 1 < s.first_day <= days:
            out.append({"day": s.first_day, "kind": "new-service",
                        "service": f"{s.namespace}/{s.name}"})
    for e in EDGES:
        if 1 < e.first_day <= days:
            out.append({"day": e.first_day, "kind": "new-edge", **_edge(e.name),
                        "planted": e.name == NEW_EDGE})
        if e.last_day < days:
            out.append({"day": e.last_day + 1, "kind": "vanished-edge", **_edge(e.name),
                        "planted": e.name == VANISHED_EDGE})
    for ev in sorted(tl.events, key=lambda ev: ev["time"]):
        day = _day_of(tl, ev["time"])
        if day is None:
            continue
        kind = "rescheduled-pod" if ev["kind"] == "reschedule" else ev["kind"]
        out.append({**{k: v for k, v in ev.items() if k != "kind"}, "day": day, "kind": kind,
                    "time": _iso(ev["time"])})
    return out


def _ip_reuse(tl: Timeline) -> list[dict[str, Any]]:
    """IPs held by pods of different namespaces within one day's window."""
    out = []
    for day in range(1, tl.config.days + 1):
        ws, we = tl.config.window_seconds(day)
        by_ip: dict[str, list] = {}
        for p in tl.pods:
            if p.workload.host_network or p.start >= we or (p.end is not None and p.end <= ws):
                continue
            by_ip.setdefault(p.ip, []).append(p)
        for ip, pods in sorted(by_ip.items()):
            if len({p.workload.namespace for p in pods}) > 1:
                pods.sort(key=lambda p: p.start)
                out.append({"day": day, "ip": ip, "holders": [
                    {"namespace": p.workload.namespace, "pod": p.name, "from": _iso(p.start),
                     "to": _iso(p.end) if p.end is not None else None} for p in pods]})
    return out


def truth_of(tl: Timeline) -> DemoTruth:
    """The :class:`DemoTruth` of a built timeline."""
    return DemoTruth(tl.config.seed, dict(SEGMENTS), (_edge(STRAY_EDGE),), (_edge(DENIED_EDGE),),
                     tuple(_changes(tl)), tuple(_ip_reuse(tl)))
