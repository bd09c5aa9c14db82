"""The core: time-aware endpoint resolution, orientation, service attribution, segments,
flow matrices and coverage (all polars, lazy; see docs/core.md).

>>> import toolkit as kt
>>> from toolkit.core import flow_matrix, segment_membership
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
>>> m = flow_matrix(snap, src="namespace", dst="namespace")
>>> m.coverage.records == snap.row_counts()["flows"]
True
>>> segment_membership(snap, "namespace")["pod_uid"].is_unique().all()
True
"""

from __future__ import annotations

from typing import Any

from toolkit.core.coverage import Coverage
from toolkit.core.inventory import InventoryIndex
from toolkit.core.ipclass import classify_ips
from toolkit.core.matrix import (
    LEVELS,
    FlowMatrix,
    MatrixSpec,
    combine_partials,
    flow_matrix,
    partial_matrix,
)
from toolkit.core.resolve import resolve_flows, resolve_frame
from toolkit.core.segments import segment_membership
from toolkit.snapshot import Snapshot

segments = segment_membership  # the name the top-level package re-exports


def coverage(source: Snapshot | FlowMatrix, **kwargs: Any) -> Coverage:
    """The :class:`Coverage` of a FlowMatrix, or of a snapshot's flows (resolved and oriented
    as :func:`flow_matrix` would; ``kwargs`` such as ``window=`` or ``as_recorded=`` pass on).
    """
    if isinstance(source, FlowMatrix):
        return source.coverage
    return flow_matrix(source, src="external", dst="external", **kwargs).coverage

__all__ = [
    "LEVELS",
    "Coverage",
    "FlowMatrix",
    "InventoryIndex",
    "MatrixSpec",
    "classify_ips",
    "combine_partials",
    "coverage",
    "flow_matrix",
    "partial_matrix",
    "resolve_flows",
    "resolve_frame",
    "segment_membership",
    "segments",
]
