"""``kseg policy suggest`` end to end on the bundled demo snapshot."""

from __future__ import annotations

import yaml

from toolkit.cli import main


def test_suggest_writes_valid_yaml_per_namespace(bundled_data, tmp_path, capsys) -> None:
    snap = bundled_data / "demo-day1"
    out = tmp_path / "netpols"
    assert main(["policy", "suggest", str(snap), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "kseg policy check" in text and "DNS: kube-system/coredns" in text
    files = sorted(p.name for p in out.iterdir())
    assert "README.md" in files and "label-report.csv" in files and "boutique.yaml" in files
    assert "kube-system.yaml" not in files  # system namespaces are skipped by default
    for path in out.glob("*.yaml"):
        docs = list(yaml.safe_load_all(path.read_text()))
        assert docs and all(d["kind"] == "NetworkPolicy" for d in docs)
        assert {d["metadata"]["namespace"] for d in docs} == {path.stem}
        assert "pod-template-hash" not in path.read_text()


def test_suggest_errors_are_one_line(tmp_path, capsys) -> None:
    assert main(["policy", "suggest", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kseg: error:") and err.count("\n") == 1
