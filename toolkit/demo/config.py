"""The demo generator's knobs.

>>> cfg = DemoConfig(seed=7, flows_per_day=1_000)
>>> cfg.window(2)[0].isoformat()
'2026-03-03T00:00:00+00:00'
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from toolkit.errors import KsegError

#: The largest ``scale`` (384 nodes, ~5,400 live pods; see docs/demo.md).
MAX_SCALE = 64


@dataclass(frozen=True)
class DemoConfig:
    """Size and shape of a generated demo cluster; same config, same bytes.

    ``scale`` (1..64) multiplies the replicas of every Deployment and StatefulSet and the
    node count (84 pods a unit of scale: ~3,000 pods at 36); ``flows_per_day`` is the number
    of flow records per daily snapshot; each day covers ``day_hours`` hours starting at
    ``start + (day - 1) days``. ``both_sides`` reports traffic between two nodes from both
    ENIs (egress at the sender, ingress at the receiver: two rows per packet direction, as
    real VPC logs do); by default each record is observed once. ``hide_same_node`` drops
    traffic that never leaves a node, which real VPC flow logs cannot see (pod-to-pod on one
    node, kubelet probes).
    """

    seed: int = 42
    days: int = 3
    flows_per_day: int = 50_000
    scale: int = 1
    start: datetime = datetime(2026, 3, 2, tzinfo=UTC)
    day_hours: float = 24.0
    interval_seconds: int = 60
    rollouts_per_day: int = 3
    reschedules_per_day: int = 3
    cron_every_hours: int = 4
    both_sides: bool = False
    hide_same_node: bool = False
    cluster: str = "demo-eks"
    region: str = "us-east-1"

    def __post_init__(self) -> None:
        checks = [(self.days >= 1, "days must be >= 1"),
                  (self.flows_per_day >= 0, "flows_per_day must be >= 0"),
                  (1 <= self.scale <= MAX_SCALE, f"scale must be between 1 and {MAX_SCALE}"),
                  (1.0 <= self.day_hours <= 24.0, "day_hours must be between 1 and 24"),
                  (self.interval_seconds in (60, 600), "interval_seconds must be 60 or 600"),
                  (self.start.tzinfo is not None, "start must be timezone-aware (UTC)"),
                  (1 <= self.cron_every_hours <= 24, "cron_every_hours must be 1..24")]
        for ok, message in checks:
            if not ok:
                raise KsegError(f"invalid DemoConfig: {message}")

    @property
    def day_seconds(self) -> int:
        return int(self.day_hours * 3600)

    @property
    def t0(self) -> int:
        """Series start in Unix seconds."""
        return int(self.start.timestamp())

    def window(self, day: int) -> tuple[datetime, datetime]:
        """[start, end) of day ``day`` (1-based)."""
        if not 1 <= day <= self.days:
            raise KsegError(f"day {day} is outside the series (1..{self.days})")
        begin = self.start + timedelta(days=day - 1)
        return begin, begin + timedelta(seconds=self.day_seconds)

    def window_seconds(self, day: int) -> tuple[int, int]:
        begin, end = self.window(day)
        return int(begin.timestamp()), int(end.timestamp())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DemoConfig:
        """The inverse of :meth:`as_dict` (e.g. from a demo snapshot's manifest)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        if isinstance(values.get("start"), str):
            values["start"] = datetime.fromisoformat(values["start"])
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data


#: The configuration of the bundled series in ``data/`` (``kseg synth --bundled``).
BUNDLED = DemoConfig(seed=20260302, days=3, flows_per_day=40_000)
