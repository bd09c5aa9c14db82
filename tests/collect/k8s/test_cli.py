"""``kseg inventory import`` and ``kseg collect`` as a user runs them (subprocess)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import fakeapi
import polars as pl
import pytest

from toolkit.cli import main
from toolkit.snapshot import load_snapshot

REPO = Path(__file__).resolve().parents[3]


def kseg(*args: str) -> subprocess.CompletedProcess:
    """A real ``python -m toolkit`` process (exit codes and stderr as a user sees them)."""
    return subprocess.run([sys.executable, "-m", "toolkit", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def kseg_inprocess(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """The same entry point in this process (faster, for the many success paths)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_import_then_merge_and_errors(realdata: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "snap"
    dump = realdata / "k8s-inventory-dumps/network-config-analyzer/tests/fw_rules_tests/podlist"
    code, stdout, err = kseg_inprocess(capsys, "inventory", "import", str(dump / "pods_list.json"),
                                       str(dump / "ns_list.json"), "--out", str(out),
                                       "--cluster", "ibm")
    assert code == 0, err
    assert "Pod 29" in stdout and f"wrote {out}" in stdout
    code, stdout, err = kseg_inprocess(capsys, "inventory", "import",
                                       str(realdata / "demo-apps/sock-shop"), "--out", str(out),
                                       "--planned")
    assert code == 0, err
    assert f"merged into {out}" in stdout
    snap = load_snapshot(out)
    assert snap.cluster == "ibm"
    pods = snap.pods.collect()
    assert pods.filter(~pl.col("planned")).height == 29
    assert pods.filter(pl.col("namespace") == "sock-shop")["planned"].all()
    empty = tmp_path / "cm.yaml"
    empty.write_text("kind: ConfigMap\nmetadata: {name: x}\n")
    code, _, err = kseg_inprocess(capsys, "inventory", "import", str(empty), "--out",
                                  str(tmp_path / "c"))
    assert code == 2 and "no Kubernetes objects of a known kind" in err
    assert not (tmp_path / "c").exists()
    bad = kseg("inventory", "import", str(REPO / "README.md"), "--out", str(tmp_path / "b"))
    assert bad.returncode == 2
    assert bad.stderr.startswith("kseg: error: ") and bad.stderr.count("\n") == 1
    assert "README.md:" in bad.stderr and "Traceback" not in bad.stderr


def test_collect_and_print_rbac(tmp_path: Path, repo_root: Path,
                                capsys: pytest.CaptureFixture) -> None:
    code, rbac, _ = kseg_inprocess(capsys, "collect", "--print-rbac")
    assert code == 0
    assert rbac == (repo_root / "deploy" / "rbac.yaml").read_text()
    cluster = fakeapi.FakeCluster(fakeapi.sample_objects(pods=6, per_deployment=3))
    with fakeapi.FakeServer(cluster) as url:
        config = fakeapi.write_kubeconfig(tmp_path, url, context="kind-demo")
        code, stdout, err = kseg_inprocess(capsys, "collect", "--kubeconfig", str(config),
                                           "--out", str(tmp_path / "live"))
        assert code == 0, err
        cluster.faults = [fakeapi.Fault("/apis/apps/v1/deployments", 403)]
        denied = kseg("collect", "--kubeconfig", str(config), "--out", str(tmp_path / "d"))
    assert "context kind-demo: namespaces 2, nodes 3, pods 6" in stdout
    assert load_snapshot(tmp_path / "live").cluster == "kind-demo"
    assert denied.returncode == 2 and denied.stderr.count("\n") == 1
    assert "list deployments at cluster scope: forbidden" in denied.stderr
    assert not (tmp_path / "d").exists()
    assert fakeapi.TOKEN not in "".join(p.read_text(errors="ignore")
                                        for p in (tmp_path / "live").rglob("*.json"))
