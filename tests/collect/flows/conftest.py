"""Fixtures for the flow importer tests: an empty snapshot to import into."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from toolkit.snapshot import Snapshot, load_snapshot, write_snapshot

DATA = Path(__file__).parent / "data"


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    """A fresh, empty snapshot folder."""
    path = tmp_path / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), path)
    return path


@pytest.fixture
def flows_of():
    """Collect the flows table of a snapshot folder, ordered by file and record."""
    def collect(path: Path) -> pl.DataFrame:
        return load_snapshot(path).flows.collect().sort("source_file", "source_record",
                                                        "is_reply", nulls_last=False)
    return collect


@pytest.fixture(scope="session")
def calico_data() -> Path:
    return DATA / "calico-flows.jsonl"
