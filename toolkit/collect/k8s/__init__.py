"""Kubernetes inventory collectors: live API, kubectl dumps and manifests -> snapshot tables.

>>> from toolkit.collect.k8s import import_inventory, normalise_objects
>>> snap = normalise_objects([{"kind": "Pod", "metadata": {"name": "web", "namespace": "shop"},
...                            "status": {"podIP": "10.0.0.7"}}])
>>> snap.pods.select("namespace", "name", "ip").collect().row(0)
('shop', 'web', '10.0.0.7')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from toolkit.collect.k8s.capture import Capture
from toolkit.collect.k8s.normalise import KINDS, normalise_object
from toolkit.collect.k8s.offline import import_inventory, read_inventory
from toolkit.snapshot import Snapshot


def normalise_objects(objects: Iterable[Mapping[str, Any]], *, source: str = "manifest",
                      planned: bool = False, cluster: str | None = None,
                      captured_at: datetime | None = None) -> Snapshot:
    """An in-memory Snapshot from Kubernetes object dicts (``*List`` wrappers are expanded)."""
    from toolkit.collect.k8s.offline import expand_lists

    capture = Capture()
    for obj in objects:
        for _, item in expand_lists(obj, 0):
            if isinstance(item, Mapping):
                capture.add(item, source)
    return capture.snapshot(planned_pods=planned, cluster=cluster, captured_at=captured_at)


def collect_live(**kwargs: Any) -> Snapshot:
    """Collect the inventory from a live cluster (see :func:`toolkit.collect.k8s.live.collect`).

    The ``kubernetes`` client is imported only when this is called.
    """
    from toolkit.collect.k8s.live import collect

    return collect(**kwargs)


__all__ = ["KINDS", "Capture", "collect_live", "import_inventory", "normalise_object",
           "normalise_objects", "read_inventory"]
