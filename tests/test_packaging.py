"""Packaging stays honest: environment.yml mirrors pyproject, README mirrors the schema."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

from toolkit import schema

ROOT = Path(__file__).resolve().parent.parent
#: conda-forge names that differ from the PyPI names.
CONDA_TO_PYPI = {"python-kubernetes": "kubernetes"}


def _split(requirement: str) -> tuple[str, str]:
    match = re.match(r"^([A-Za-z0-9_.\-]+)(\[[^\]]*\])?\s*(.*)$", requirement.strip())
    assert match, requirement
    name = match.group(1).lower().replace("_", "-")
    return CONDA_TO_PYPI.get(name, name), match.group(3).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    out = {}
    for req in reqs:
        name, spec = _split(req)
        if name == "dask":  # dask[distributed] is conda's dask + distributed
            out["distributed"] = spec
        out[name] = spec
    return out


def _conda_requirements() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    out = {}
    for dep in env["dependencies"]:
        if isinstance(dep, str):
            name, spec = _split(dep)
            if name not in {"python", "pip"}:
                out[name] = spec
    return out


def test_environment_yml_mirrors_pyproject():
    assert _conda_requirements() == _pyproject_requirements()


def test_readme_schema_reference_matches_schema_module():
    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- schema:begin -->", "<!-- schema:end -->"
    assert begin in readme and end in readme, "README lost its schema reference markers"
    embedded = readme.split(begin, 1)[1].split(end, 1)[0].strip()
    assert embedded == schema.markdown_reference().strip(), (
        "README schema reference is stale: regenerate it with `kseg schema`")


def test_readme_starts_with_the_two_commands():
    head = (ROOT / "README.md").read_text()[:1500]
    assert "python3 tasks.py demo" in head and "python3 tasks.py test" in head


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python3 tasks.py test" in ci
