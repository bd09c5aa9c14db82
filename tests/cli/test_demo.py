"""`kseg demo`: the main job on the bundled data, end to end through the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import toolkit as kt


@pytest.mark.slow
def test_demo_prints_summary_edges_coverage_and_writes_outputs(tmp_path: Path):
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "toolkit", "demo", "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    for text in ("summary", "namespaces", "network_policies", "flow_records",
                 "heaviest cross-namespace edges", "coverage", str(out.resolve())):
        assert text in proc.stdout, text
    matrix = pl.read_parquet(out / "namespace_matrix.parquet")
    assert matrix.equals(pl.read_csv(out / "namespace_matrix.csv",
                                     schema_overrides=matrix.schema))
    snap = kt.load_snapshot(sorted(kt.demo_data_path().glob("demo-day*"))[-1])
    total = snap.flows.select(pl.col("bytes").sum()).collect().item()
    assert matrix["bytes"].sum() == total  # nothing dropped, nothing double-counted
    assert (out / "report.html").exists() and (out / "coverage.json").exists()


def test_demo_on_a_missing_snapshot_is_a_one_line_error(tmp_path: Path):
    proc = subprocess.run([sys.executable, "-m", "toolkit", "demo", "--snapshot",
                           str(tmp_path / "nope"), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("kseg: error:") and "Traceback" not in proc.stderr
