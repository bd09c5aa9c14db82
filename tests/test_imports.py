"""The import direction of DESIGN.md: plotting is a leaf, nothing imports the CLI."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "toolkit"
PLOTTING = {"matplotlib", "plotly", "IPython", "ipywidgets"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py")) if folder else sorted(PACKAGE.glob("*.py"))


def test_core_and_collectors_never_import_plotting_or_viz():
    offenders = []
    for folder in ("core", "collect", "policy", ""):
        for path in _modules(folder):
            for name in _imports(path):
                root = name.split(".")[0]
                if root in PLOTTING or name.startswith("toolkit.viz"):
                    offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, offenders


def test_only_viz_imports_matplotlib_or_plotly():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "viz"):
            continue
        for name in _imports(path):
            if name.split(".")[0] in {"matplotlib", "plotly"}:
                offenders.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not offenders, offenders


def test_nothing_imports_the_cli():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.is_relative_to(PACKAGE / "cli") or path.name == "__main__.py":
            continue
        offenders += [f"{path.relative_to(PACKAGE)} imports {name}"
                      for name in _imports(path) if name.startswith("toolkit.cli")]
    assert not offenders, offenders


def test_only_the_live_collector_imports_kubernetes():
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name in {"live.py", "watch.py"}:
            continue
        offenders += [f"{path.relative_to(PACKAGE)} imports {name}"
                      for name in _imports(path) if name.split(".")[0] == "kubernetes"]
    assert not offenders, offenders


def test_importing_toolkit_does_not_load_plotting():
    import subprocess
    import sys

    code = ("import sys, toolkit; bad = [m for m in ('matplotlib', 'plotly', 'kubernetes') "
            "if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
