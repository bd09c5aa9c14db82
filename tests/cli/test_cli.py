"""The CLI skeleton: help, exit codes, one-line errors, `kseg info`, `kseg schema`."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.cli import COMMAND_MODULES, main

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from test_snapshot import make_snapshot

from toolkit.snapshot import write_snapshot


def kseg(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True,
                          text=True, cwd=cwd)


def test_every_listed_command_module_exists_and_registers():
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"toolkit.cli.{name}")
        assert callable(module.register), name


def test_help_lists_commands_and_version():
    proc = kseg("--help")
    assert proc.returncode == 0
    for name in ("demo", "synth", "info", "schema"):
        assert name in proc.stdout
    assert kseg("--version").stdout.startswith("kseg ")


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_usage_error_is_one_line_exit_2():
    proc = kseg("info")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "kseg: error:" in proc.stderr


@pytest.mark.parametrize("make_bad", ["missing", "empty", "version", "truncated"])
def test_bad_snapshots_exit_2_without_traceback(tmp_path: Path, make_bad: str):
    target = tmp_path / "snap"
    if make_bad == "empty":
        target.mkdir()
    elif make_bad != "missing":
        write_snapshot(make_snapshot(), target)
        manifest = json.loads((target / "manifest.json").read_text())
        if make_bad == "version":
            manifest["schema_version"] = 0
            (target / "manifest.json").write_text(json.dumps(manifest))
        else:
            part = target / "flows" / manifest["flows"]["parts"][0]["file"]
            part.write_bytes(part.read_bytes()[:100])
    proc = kseg("info", str(target))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kseg: error:"), proc.stderr


def test_info_shows_tables_and_schema_check(tmp_path: Path):
    path = write_snapshot(make_snapshot(), tmp_path / "s")
    proc = kseg("info", str(path), "--verify")
    assert proc.returncode == 0, proc.stderr
    assert "pods" in proc.stdout and "schema check: ok (checksums verified)" in proc.stdout
    as_json = json.loads(kseg("info", str(path), "--json").stdout)
    assert as_json["tables"]["pods"]["rows"] == 2


def test_schema_command_prints_reference_and_rejects_unknown_tables():
    proc = kseg("schema", "pods")
    assert proc.returncode == 0 and "#### `pods`" in proc.stdout
    bad = kseg("schema", "podz")
    assert bad.returncode == 2 and "unknown table 'podz'" in bad.stderr
