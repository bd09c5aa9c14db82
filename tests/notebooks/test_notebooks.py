"""Every notebook runs top to bottom on the bundled demo data, and is stored stripped."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
NAMES = [p.name for p in NOTEBOOKS]


def test_notebooks_are_numbered_in_reading_order() -> None:
    assert NAMES == ["01_inventory.ipynb", "02_service_heatmaps.ipynb",
                     "03_cross_namespace_and_boundaries.ipynb",
                     "04_policy_replay_and_suggestions.ipynb", "05_batch_series.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_is_stripped_and_has_one_input_variable(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: outputs not stripped"
            assert cell.execution_count is None, f"{path.name}: execution_count not null"
    code = [c.source for c in book.cells if c.cell_type == "code"]
    assert code[0].splitlines()[-1].startswith(("SNAPSHOT = ", "SNAPSHOTS = "))
    assert "show()" not in "\n".join(code)


def run(path: Path, cwd: Path) -> nbformat.NotebookNode:
    """Execute a notebook top to bottom in ``cwd`` with the ``python3`` kernel."""
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return book


@pytest.fixture(scope="module")
def demo_data(bundled_data: Path) -> Path:
    if not (bundled_data / "demo-day1" / "manifest.json").exists():
        pytest.skip(f"bundled demo snapshots not found in {bundled_data}")
    return bundled_data


@pytest.mark.slow
def test_notebook_runs_from_another_working_directory(demo_data: Path, tmp_path: Path) -> None:
    book = run(REPO / "notebooks" / "01_inventory.ipynb", tmp_path)
    assert not [o for c in book.cells if c.cell_type == "code" for o in c.outputs
                if o.output_type == "error"]


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=NAMES)
def test_notebook_executes(path: Path, demo_data: Path) -> None:
    book = run(path, REPO)
    errors = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error"]
    assert errors == []
    images = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if "image/png" in o.get("data", {})]
    if path.name != "01_inventory.ipynb":  # the inventory notebook has tables only
        assert images, f"{path.name}: no figure was displayed"
    plotly = [o for c in book.cells if c.cell_type == "code" for o in c.outputs
              if "application/vnd.plotly.v1+json" in o.get("data", {})
              or ("text/html" in o.get("data", {}) and "plotly" in o["data"]["text/html"])]
    if path.name not in ("01_inventory.ipynb",):
        assert plotly, f"{path.name}: no interactive figure was displayed"
