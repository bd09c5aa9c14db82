"""The HTML report: sections, one inlined plotly.js, escaping, atomic write, the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from toolkit.cli import main
from toolkit.snapshot import Snapshot, write_snapshot
from toolkit.viz import report_html, write_report
from toolkit.viz._sections import bucket_for, namespace_overview
from toolkit.viz.report import FigureWriter, text, write_atomic

SECTIONS = ("summary", "coverage", "inventory", "namespaces", "workload-service",
            "cross-namespace", "over-time", "boundaries", "policy")


@pytest.fixture(scope="module")
def tiny_html(tiny_snapshot: Snapshot) -> str:
    return report_html(tiny_snapshot)


@pytest.fixture(scope="module")
def hostile_html(hostile_snapshot: Snapshot) -> str:
    return report_html(hostile_snapshot)


def test_report_has_every_section_and_inlines_plotly_once(tiny_html: str) -> None:
    for section in SECTIONS:
        assert f"<section id='{section}'>" in tiny_html
    assert tiny_html.count("Plotly.newPlot") >= 6
    # plotly.js inlined exactly once; no external script, stylesheet or CDN reference
    assert len(re.findall(r"\* plotly\.js v", tiny_html)) == 1
    page = re.sub(r"<script[^>]*>.*?</script>", "", tiny_html, count=1, flags=re.S)
    assert "cdn.plot.ly" not in page  # (plotly.js itself mentions its topojson CDN default)
    assert not re.search(r"<script[^>]+src=", tiny_html)
    assert not re.search(r"<link[^>]+href=", tiny_html)


def test_policy_section_without_policies_says_so(tiny_html: str) -> None:
    assert "has no NetworkPolicies" in tiny_html
    assert "Allowed by policy versus observed" in tiny_html


def test_every_script_carries_the_csp_nonce(tiny_html: str) -> None:
    nonce = re.search(r"script-src 'nonce-([^']+)'", tiny_html).group(1)
    tags = re.findall(r"<script[^>]*>", tiny_html)
    assert tags and all(f"nonce='{nonce}'" in t or f'nonce="{nonce}"' in t for t in tags)


def test_untrusted_text_is_escaped(hostile_html: str, xss: dict[str, str]) -> None:
    label = xss["ns_label"]
    # no payload survives as markup anywhere in the page
    assert label not in hostile_html
    assert "<img src=x" not in hostile_html
    assert "<svg onload" not in hostile_html
    assert "window.__pwned=1</script>" not in hostile_html
    # the namespace label shows as text in the namespaces table
    assert text(label) in hostile_html
    # the workload name reaches plotly escaped (and JSON-escaped inside the script)
    assert "\\u003csvg onload" in hostile_html or "&lt;svg onload" in hostile_html
    assert "hostile&lt;b&gt;" in hostile_html


def test_namespace_overview(tiny_snapshot: Snapshot) -> None:
    table = namespace_overview(tiny_snapshot)
    assert table.columns == ["namespace", "pods", "workloads", "services", "policies", "labels"]
    row = table.filter(table["namespace"] == "back").row(0, named=True)
    assert (row["pods"], row["workloads"], row["services"]) == (2, 2, 1)
    assert row["labels"] == "team=core"


def test_bucket_choice() -> None:
    from datetime import timedelta
    assert bucket_for(timedelta(days=1)) == "1h"
    assert bucket_for(timedelta(days=30)) == "1d"
    assert bucket_for(None) == "1h"


def test_report_without_flows_still_renders(tiny_snapshot: Snapshot) -> None:
    empty = tiny_snapshot.with_tables(flows=tiny_snapshot.flows.head(0))
    page = report_html(empty)
    assert "<section id='summary'>" in page and "<section id='namespaces'>" not in page
    assert "holds no flow records" in page


def test_write_report_is_atomic(tmp_path: Path, tiny_snapshot: Snapshot) -> None:
    target = tmp_path / "r.html"
    target.write_text("old")
    assert write_report(tiny_snapshot, target) == target
    assert target.read_text().startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]  # no temp file left behind


def test_write_atomic_leaves_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    target.write_text("old")

    with pytest.raises(TypeError):
        write_atomic(target, 42)  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.html"]


def test_figure_writer_numbers_divs() -> None:
    import plotly.graph_objects as go
    writer = FigureWriter("abc")
    first, second = writer(go.Figure()), writer(go.Figure())
    assert "kseg-fig-1" in first and "kseg-fig-2" in second
    assert '<script nonce="abc">' in first


def test_cli_report(tmp_path: Path, tiny_snapshot: Snapshot, capsys) -> None:
    snap = write_snapshot(tiny_snapshot, tmp_path / "snap")
    out = tmp_path / "report.html"
    assert main(["report", str(snap), "--out", str(out), "--top", "5"]) == 0
    assert out.stat().st_size > 1_000_000  # plotly.js inlined
    assert "report written to" in capsys.readouterr().out


def test_cli_report_errors_are_one_line(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path / "missing"), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kseg: error:") and err.count("\n") == 1
    assert main(["report", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    assert main(["report", str(tmp_path), "--out", str(tmp_path / "no" / "r.html")]) == 2
