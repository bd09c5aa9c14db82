"""``kseg synth`` through a real subprocess."""

from __future__ import annotations

import subprocess
import sys

import pytest

import toolkit as kt
from toolkit.cli import main


def _kseg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True,
                          text=True, timeout=120)


def test_synth_writes_loadable_snapshots_and_logs(tmp_path):
    result = _kseg("synth", "--out", str(tmp_path / "out"), "--days", "2", "--seed", "9",
                   "--flows-per-day", "1_500", "--aws-vpc-logs", str(tmp_path / "logs"))
    assert result.returncode == 0, result.stderr
    assert "demo-day2" in result.stdout
    snap = kt.load_snapshot(tmp_path / "out" / "demo-day2", verify=True)
    assert snap.row_counts()["flows"] == 1_500
    assert snap.sources[0]["seed"] == 9
    lines = (tmp_path / "logs" / "demo-day1.log").read_text().splitlines()
    assert lines[0].startswith("version account-id interface-id")
    assert len(lines) > 1_500


def test_synth_bundled_refuses_size_options(tmp_path, capsys):
    assert main(["synth", "--bundled", "--seed", "3", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "--bundled fixes the configuration" in err


def test_synth_bad_config_is_a_one_line_error(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path / "x"), "--scale", "65"]) == 2
    err = capsys.readouterr().err
    assert "scale must be between" in err and err.strip().count("\n") == 0


@pytest.mark.parametrize(("value", "message"), [("many", "expected a whole number"),
                                                ("-2", "expected a number >= 0")])
def test_synth_bad_numbers_exit_2(tmp_path, capsys, value, message):
    with pytest.raises(SystemExit) as exc:
        main(["synth", "--out", str(tmp_path / "x"), "--days", value])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_synth_refuses_a_file_as_out(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["synth", "--out", str(tmp_path / "file")]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_synth_observation_flags_reach_the_config(tmp_path, capsys):
    assert main(["synth", "--out", str(tmp_path), "--days", "1", "--flows-per-day", "200",
                 "--hide-same-node", "--both-sides"]) == 0
    config = kt.load_snapshot(tmp_path / "demo-day1").sources[0]["config"]
    assert config["hide_same_node"] and config["both_sides"]
    assert "wrote" in capsys.readouterr().out
