"""``kseg policy check | connectivity | exposure`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from toolkit.cli import main
from toolkit.snapshot import write_snapshot

DENY_ALL = ("apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n"
            "  name: deny-all\n  namespace: shop\nspec:\n  podSelector: {}\n"
            "  policyTypes: [Ingress]\n")


@pytest.fixture
def snap_dir(kb, tmp_path):
    inv = kb.inventory(kb.ns("shop"), kb.pod("shop", "web", "10.0.0.1", {"app": "web"}),
                       kb.pod("shop", "db", "10.0.0.2", {"app": "db"},
                              [{"name": "pg", "containerPort": 5432}]))
    snap = kb.with_flows(inv, [("10.0.0.1", "10.0.0.2", 5432, 6, 100),
                               ("8.8.8.8", "10.0.0.1", 80, 6, 5)])
    return write_snapshot(snap, tmp_path / "snap")


def test_check_snapshot_policies(snap_dir, capsys):
    assert main(["policy", "check", str(snap_dir)]) == 0
    out = capsys.readouterr().out
    assert "replayed 2 edges against 0 snapshot NetworkPolicies" in out and "allowed" in out


def test_check_proposed_denies_exit_1(snap_dir, tmp_path, capsys):
    (tmp_path / "pol").mkdir()
    (tmp_path / "pol" / "deny.yaml").write_text(DENY_ALL)
    verdicts = tmp_path / "v.csv"
    code = main(["policy", "check", str(snap_dir), "--policies", str(tmp_path / "pol"),
                 "--out", str(verdicts)])
    assert code == 1
    assert "what would this break" in capsys.readouterr().out
    frame = pl.read_csv(verdicts)
    assert set(frame["verdict"]) == {"denied"} and frame["bytes"].sum() == 105


def test_check_bad_policy_is_one_line_exit_2(snap_dir, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(DENY_ALL + "  ingress:\n  - ports:\n    - protocol: ICMP\n")
    assert main(["policy", "check", str(snap_dir), "--policies", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "NetworkPolicy shop/deny-all" in err
    assert "protocol" in err


def test_check_missing_snapshot_exit_2(tmp_path, capsys):
    assert main(["policy", "check", str(tmp_path / "nope")]) == 2
    assert capsys.readouterr().err.startswith("kseg: error:")


def test_connectivity_json_to_file(realdata: Path, tmp_path, capsys):
    scenario = realdata / "netpol-analyzer/tests/netpol-analysis-example-minimal"
    expected = realdata / ("netpol-analyzer/test_outputs/connlist/"
                           "netpol-analysis-example-minimal_connlist_output.json")
    target = tmp_path / "conn.json"
    assert main(["policy", "connectivity", str(scenario), "--format", "json",
                 "--out", str(target)]) == 0
    assert json.loads(target.read_text()) == json.loads(expected.read_text())


def test_connectivity_of_a_snapshot_with_focus(snap_dir, capsys):
    assert main(["policy", "connectivity", str(snap_dir), "--focus", "db",
                 "--focus-direction", "ingress"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(line.split(" => ")[1].startswith("shop/db[Pod]") for line in lines)


def test_exposure(snap_dir, tmp_path, capsys):
    target = tmp_path / "paths.parquet"
    assert main(["policy", "exposure", str(snap_dir), "--out", str(target)]) == 0
    assert "allowed, unused" in capsys.readouterr().out
    assert pl.read_parquet(target).height > 0


def test_policy_without_subcommand_shows_help(capsys):
    assert main(["policy"]) == 2
    assert "connectivity" in capsys.readouterr().out
