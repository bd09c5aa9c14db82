"""kseg: Kubernetes micro-segmentation analysis.

The names a notebook needs are importable from here; heavier parts (the core, policy, plots)
load on first use, so ``import toolkit`` stays fast and never pulls in plotting libraries.

>>> import toolkit as kt
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
>>> m = kt.flow_matrix(snap, src="namespace", dst="namespace")
>>> int(m.frame["bytes"].sum()) == int(snap.flows.select("bytes").sum().collect().item())
True
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from toolkit._version import __version__
from toolkit.errors import (
    CollectError,
    InputError,
    KsegError,
    SchemaError,
    SnapshotError,
)
from toolkit.schema import SCHEMA_VERSION
from toolkit.snapshot import Snapshot, load_snapshot, write_snapshot
from toolkit.summary import inventory_summary

#: Public names loaded on first access: name -> (module, attribute).
_LAZY = {
    "flow_matrix": ("toolkit.core", "flow_matrix"),
    "resolve_flows": ("toolkit.core", "resolve_flows"),
    "segment_membership": ("toolkit.core", "segment_membership"),
    "segments": ("toolkit.core", "segment_membership"),
    "coverage": ("toolkit.core", "coverage"),
    "propose_boundaries": ("toolkit.core.boundaries", "propose_boundaries"),
    "batch_summary": ("toolkit.core.batch", "batch_summary"),
    "diff_snapshots": ("toolkit.core.diff", "diff_snapshots"),
    "import_inventory": ("toolkit.collect.k8s", "import_inventory"),
    "collect_live": ("toolkit.collect.k8s", "collect_live"),
    "import_flows": ("toolkit.collect.flows", "import_flows"),
    "replay": ("toolkit.policy", "replay"),
    "exposure": ("toolkit.policy", "exposure"),
    "connectivity": ("toolkit.policy", "connectivity"),
    "suggest_policies": ("toolkit.policy", "suggest_policies"),
    "write_report": ("toolkit.viz", "write_report"),
}
_SUBMODULES = ("core", "policy", "viz", "demo", "collect", "schema")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"toolkit.{name}")
    raise AttributeError(f"module 'toolkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY, *_SUBMODULES])


def demo_data_path() -> Path:
    """The folder of bundled demo snapshots (``data/`` in a source checkout)."""
    return Path(__file__).resolve().parent.parent / "data"


__all__ = [
    "SCHEMA_VERSION",
    "CollectError",
    "InputError",
    "KsegError",
    "SchemaError",
    "Snapshot",
    "SnapshotError",
    "__version__",
    "demo_data_path",
    "inventory_summary",
    "load_snapshot",
    "write_snapshot",
    *_LAZY,
]
