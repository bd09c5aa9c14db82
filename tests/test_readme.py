"""Every example runs: the README's Python tour executes on the bundled data."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_a_python_tour():
    assert any("flow_matrix" in block for block in _python_blocks())


@pytest.mark.slow
def test_readme_python_tour_runs(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for block in _python_blocks():
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert (tmp_path / "report.html").stat().st_size > 100_000
    assert any(name.endswith(".yaml") for name in os.listdir(tmp_path / "proposed"))
