"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REALDATA = REPO.parent / "shared" / "realdata"
DATA = REPO / "data"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The third-party samples in ../shared/realdata; skips when the folder is absent."""
    if not REALDATA.is_dir():
        pytest.skip(f"real third-party samples not found at {REALDATA} (clone the repo next "
                    "to the shared/ folder to run these tests)")
    return REALDATA


@pytest.fixture(scope="session")
def bundled_data() -> Path:
    """The bundled demo snapshots in data/."""
    return DATA
