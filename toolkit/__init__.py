"""kseg: Kubernetes micro-segmentation analysis.

>>> import toolkit as kt
>>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

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
    "load_snapshot",
    "write_snapshot",
]
