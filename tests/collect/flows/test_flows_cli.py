"""``kseg flows import`` / ``kseg flows formats``: exit codes and one-line errors, through a
real subprocess for the main paths and through ``toolkit.cli.main`` (same code, no interpreter
start-up) for the many bad-input cases."""

from __future__ import annotations

import gzip
import subprocess
import sys

import pytest

from toolkit.cli import main
from toolkit.snapshot import load_snapshot


def kseg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *map(str, args)],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.slow  # a fresh interpreter imports all of kseg (seconds on a busy machine)
def test_cli_import_summary_and_reimport(realdata, snap):
    path = realdata / "aws-vpc-flow-logs" / "default-v2-examples.log"
    proc = kseg("flows", "import", "--format", "aws-vpc", path, "--snapshot", snap)
    assert proc.returncode == 0, proc.stderr
    assert "records read  7" in proc.stdout and "NODATA 1, SKIPDATA 1" in proc.stdout
    assert "time range    2014-12-14 04:06:50 .. 2016-10-31 11:37:00 UTC" in proc.stdout
    again = kseg("flows", "import", "-f", "aws-vpc", path, "-s", snap)
    assert again.returncode == 0 and "already imported" in again.stdout
    assert load_snapshot(snap).flows.collect().height == 5


@pytest.mark.slow  # a fresh interpreter imports all of kseg (seconds on a busy machine)
def test_cli_fields_map_and_assume_time(realdata, tmp_path, snap):
    folder = realdata / "aws-vpc-flow-logs"
    fields = (folder / "custom-nat-gateway-eni-examples.fields").read_text().strip()
    proc = kseg("flows", "import", "-f", "aws-vpc", folder / "custom-nat-gateway-eni-examples.log",
                "--fields", fields, "--assume-time", "2024-05-01T10:00:00Z", "-s", snap)
    assert proc.returncode == 0, proc.stderr
    csv = tmp_path / "t.csv"
    csv.write_text("A,B,when\n10.0.0.1,10.0.0.2,1717200000\n")
    assert main(["flows", "import", "-f", "csv", str(csv), "--map",
                 "src_ip=A,dst_ip=B,start=when", "-s", str(snap)]) == 0
    assert load_snapshot(snap).flows.collect().height == 5


@pytest.mark.parametrize("make, fmt, needle", [
    (lambda p: p.write_bytes(b"\x00" * 1000), "aws-vpc", "binary file"),
    (lambda p: p.write_bytes(gzip.compress("".join(
        f"2 1 eni 1.1.{i % 250}.1 2.2.2.2 {i} 2 6 1 {i * 7} 1 1 ACCEPT OK\n"
        for i in range(20000)).encode())[:30000]), "aws-vpc", "truncated gzip"),
    (lambda p: p.write_text("hello world\n"), "hubble", "no usable hubble record"),
    (lambda p: p.write_text("x" * (17 * 1024 * 1024)), "conntrack", "longer than 16 MiB"),
])
def test_cli_bad_inputs_exit_2_with_one_line(tmp_path, snap, make, fmt, needle, capsys):
    path = tmp_path / "input.log"
    make(path)
    code = main(["flows", "import", "-f", fmt, str(path), "-s", str(snap)])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert err.count("\n") == 1


@pytest.mark.slow  # a fresh interpreter imports all of kseg (seconds on a busy machine)
def test_cli_binary_file_in_a_subprocess(tmp_path, snap):
    path = tmp_path / "x.gz"
    path.write_bytes(b"\x00\x01" * 999)
    proc = kseg("flows", "import", "-f", "goflow2", path, "-s", snap)
    assert proc.returncode == 2 and proc.stderr.startswith("kseg: error: ")
    assert "binary file" in proc.stderr and proc.stderr.count("\n") == 1


@pytest.mark.slow  # a fresh interpreter imports all of kseg (seconds on a busy machine)
def test_cli_usage_errors(snap, tmp_path, capsys):
    proc = kseg("flows", "import", "-f", "netflow9", tmp_path, "-s", snap)
    assert proc.returncode == 2 and "invalid choice: 'netflow9'" in proc.stderr
    for args, needle in [
        (["-f", "hubble", str(tmp_path / "nope.json"), "-s", str(snap)], "no such file"),
        (["-f", "hubble", str(tmp_path), "-s", str(tmp_path / "nosnap")], "no such snapshot"),
        (["-f", "csv", str(tmp_path), "--map", "src_ip", "-s", str(snap)], "--map expects"),
        (["-f", "csv", str(tmp_path), "--assume-time", "noon", "-s", str(snap)],
         "not an ISO time"),
    ]:
        assert main(["flows", "import", *args]) == 2
        assert needle in capsys.readouterr().err


def test_cli_formats_lists_the_registry(capsys):
    assert main(["flows", "formats"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == ["aws-vpc", "calico", "conntrack", "csv", "gcp-vpc", "goflow2", "hubble",
                     "parquet"]
