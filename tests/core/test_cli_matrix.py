"""``kseg matrix`` through a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import polars as pl
import pytest

from toolkit.snapshot import write_snapshot


@pytest.fixture(scope="module")
def snap_dir(tmp_path_factory, mini):
    return write_snapshot(mini, tmp_path_factory.mktemp("cli") / "snap")


def kseg(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}  # a wide terminal: rich fits the table to it
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_prints_table_and_coverage(snap_dir):
    res = kseg("matrix", str(snap_dir), "--src", "workload", "--dst", "service", "--top", "5")
    assert res.returncode == 0, res.stderr
    assert "src_workload" in res.stdout and "dst_service" in res.stdout
    assert "coverage: 14 records" in res.stdout
    assert "more rows" in res.stdout


def test_writes_parquet_and_csv(snap_dir, tmp_path):
    from toolkit.cli import main

    args = ["matrix", str(snap_dir), "--bucket", "1h", "--namespace", "pay", "--out"]
    assert main([*args, str(tmp_path / "m.parquet")]) == 0
    assert main([*args, str(tmp_path / "m.csv")]) == 0
    for frame in (pl.read_parquet(tmp_path / "m.parquet"), pl.read_csv(tmp_path / "m.csv")):
        assert frame["bytes"].sum() == 4000 and "bucket" in frame.columns


def test_segments_and_as_recorded(snap_dir, capsys):
    from toolkit.cli import main

    assert main(["matrix", str(snap_dir), "--src", "segment", "--dst", "segment",
                 "--segments", "label:app", "--as-recorded"]) == 0
    assert "as-recorded 100.0%" in capsys.readouterr().out


@pytest.mark.parametrize(("args", "needle"), [
    (["--window", "bad"], "START..END"),
    (["--segments", "colour", "--src", "segment"], "unknown segment strategy"),
    (["--out", "m.txt"], "unsupported output type"),
    (["--src", "planet"], "invalid choice"),
])
def test_errors_are_one_line_exit_2(snap_dir, capsys, args, needle):
    from toolkit.cli import main

    try:
        code = main(["matrix", str(snap_dir), *args])
    except SystemExit as exc:  # argparse errors exit from the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2 and needle in err
    assert len(err.strip().splitlines()) == 1


def test_missing_snapshot_is_one_line(tmp_path, capsys):
    from toolkit.cli import main

    assert main(["matrix", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
