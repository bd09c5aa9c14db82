"""The bundled data/ series is exactly what the generator produces now."""

from __future__ import annotations

import json

import pytest

import toolkit as kt
from toolkit.demo import BUNDLED, demo_truth, write_bundled_data
from toolkit.demo.callgraph import NEW_EDGE, VANISHED_EDGE


def _checksums(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    tables = {name: entry["sha256"] for name, entry in manifest["tables"].items()}
    parts = [part["sha256"] for part in manifest["flows"]["parts"]]
    return tables, parts, manifest["sources"]


def test_bundled_data_is_reproducible_bit_for_bit(bundled_data, tmp_path):
    if not (bundled_data / "demo-day1" / "manifest.json").exists():
        pytest.fail("data/demo-day1 is missing: run 'kseg synth --bundled --out data'")
    write_bundled_data(tmp_path)
    for day in (1, 2, 3):
        name = f"demo-day{day}"
        assert _checksums(tmp_path / name) == _checksums(bundled_data / name), (
            f"data/{name} differs from the generator: run 'kseg synth --bundled --out data'")


def test_bundled_data_is_small_and_loads(bundled_data):
    total = sum(f.stat().st_size for f in bundled_data.rglob("*") if f.is_file())
    assert total < 10 * 1024 * 1024
    snap = kt.load_snapshot(bundled_data / "demo-day2", verify=True)
    assert snap.sources[0]["kind"] == "demo" and snap.sources[0]["seed"] == BUNDLED.seed
    planted = {c["name"] for c in snap.sources[0]["truth"]["changes"] if c.get("planted")}
    assert planted == {NEW_EDGE, VANISHED_EDGE}
    assert demo_truth(BUNDLED).ip_reuse


def test_bundled_edges_change_exactly_as_planted(bundled_data):
    edges = [set(kt.load_snapshot(bundled_data / f"demo-day{d}").flow_truth.select("edge")
                 .unique().collect()["edge"]) for d in (1, 2, 3)]
    truth = demo_truth(BUNDLED)
    for day in (2, 3):
        before, after = edges[day - 2], edges[day - 1]
        assert after - before == {c["name"] for c in truth.changes_on(day, "new-edge")}
        assert before - after == {c["name"] for c in truth.changes_on(day, "vanished-edge")}
