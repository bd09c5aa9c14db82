"""Snapshot round trip, atomic writes and every bad-snapshot error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from toolkit import _store, schema
from toolkit.errors import SchemaError, SnapshotError
from toolkit.snapshot import FlowAppender, Snapshot, load_snapshot, write_snapshot

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


def _labels(**kv: str) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in sorted(kv.items())]


def _flows(n: int, offset: int = 0) -> pl.DataFrame:
    return pl.DataFrame({
        "start": [T0 + timedelta(seconds=i) for i in range(n)],
        "end": [T0 + timedelta(seconds=i + 60) for i in range(n)],
        "src_ip": ["10.1.0.5" if i % 2 else "fd00::5" for i in range(n)],
        "dst_ip": ["10.1.0.9"] * n,
        "dst_port": [8080] * n,
        "protocol": [6] * n,
        "bytes": [100 + i + offset for i in range(n)],
        "flow_count": [1] * n,
        "format": ["test"] * n,
    })


def make_snapshot(cluster: str = "unit", n_flows: int = 10) -> Snapshot:
    pods = pl.DataFrame({
        "namespace": ["shop", "shop"], "name": ["web-1", "db-0"], "uid": ["u1", "u2"],
        "ip": ["10.1.0.5", "fd00::9"], "host_network": [False, False],
        "labels": [_labels(app="web"), _labels(app="db")],
        "workload_kind": ["Deployment", "StatefulSet"], "workload_name": ["web", "db"],
        "container_ports": [[{"container": "c", "name": "http", "port": 8080,
                              "protocol": "TCP"}], []],
        "images": [["web:1"], ["db:1"]], "planned": [False, False],
        "valid_from": [T0, T0],
    }, schema_overrides={"labels": schema.LABELS, "container_ports": schema.CONTAINER_PORTS,
                         "valid_from": schema.TIME})
    namespaces = pl.DataFrame({"name": ["shop"], "labels": [_labels(team="a")]},
                              schema_overrides={"labels": schema.LABELS})
    return Snapshot.from_frames(cluster=cluster, captured_at=T0, namespaces=namespaces,
                                pods=pods, flows=_flows(n_flows))


def test_round_trip_keeps_every_table(tmp_path: Path):
    snap = make_snapshot()
    path = write_snapshot(snap, tmp_path / "s")
    loaded = load_snapshot(path)
    for name in snap.tables:
        assert loaded.table(name).collect().equals(snap.table(name).collect()), name
    assert loaded.cluster == "unit" and loaded.captured_at == T0
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["schema_version"] == schema.SCHEMA_VERSION
    assert manifest["tables"]["pods"]["rows"] == 2
    assert manifest["flows"]["rows"] == 10
    assert manifest["flow_window"]["start"].startswith("2026-11-01T10:00:00")
    assert loaded.row_counts()["flows"] == 10
    assert "next:" in repr(loaded) and "<table>" in loaded._repr_html_()


def test_same_data_gives_identical_files(tmp_path: Path):
    a = write_snapshot(make_snapshot(), tmp_path / "a")
    b = write_snapshot(make_snapshot(), tmp_path / "b")
    ma, mb = (json.loads((p / "manifest.json").read_text()) for p in (a, b))
    assert ma["tables"] == mb["tables"] and ma["flows"] == mb["flows"]


def test_overwrite_replaces_and_sweeps_old_files(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=5), tmp_path / "s")
    write_snapshot(make_snapshot(n_flows=7), path)
    assert load_snapshot(path).flows.collect().height == 7
    referenced = _store.referenced_files(json.loads((path / "manifest.json").read_text()))
    on_disk = {str(p.relative_to(path)) for p in path.rglob("*.parquet")}
    assert on_disk == referenced


def test_crash_before_manifest_leaves_old_snapshot(tmp_path: Path, monkeypatch):
    path = write_snapshot(make_snapshot(n_flows=5), tmp_path / "s")

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(_store, "write_json_atomic", boom)
    with pytest.raises(OSError):
        write_snapshot(make_snapshot(n_flows=9), path)
    monkeypatch.undo()
    assert load_snapshot(path, verify=True).flows.collect().height == 5


@pytest.mark.parametrize("crash_after", [1, 4, 8])
def test_hard_crash_mid_write_leaves_old_snapshot(tmp_path: Path, crash_after: int):
    """A child process dies (os._exit, no cleanup) after N data files of the new version."""
    path = write_snapshot(make_snapshot(n_flows=5), tmp_path / "s")
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from toolkit import _store
        from test_snapshot import make_snapshot
        from toolkit.snapshot import write_snapshot
        real = _store.adopt_parquet
        count = 0
        def dying(*a, **k):
            global count
            entry = real(*a, **k)
            count += 1
            if count == {crash_after}:
                os._exit(9)
            return entry
        _store.adopt_parquet = dying
        write_snapshot(make_snapshot(n_flows=9), {str(path)!r})
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 9, proc.stderr
    assert load_snapshot(path, verify=True).flows.collect().height == 5
    write_snapshot(make_snapshot(n_flows=9), path)  # the next write sweeps the leftovers
    assert load_snapshot(path, verify=True).flows.collect().height == 9


def test_new_path_is_never_half_written(tmp_path: Path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("killed")

    monkeypatch.setattr(_store, "write_json_atomic", boom)
    with pytest.raises(OSError):
        write_snapshot(make_snapshot(), tmp_path / "fresh")
    assert not (tmp_path / "fresh").exists()
    assert not list(tmp_path.iterdir())


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("precious")
    with pytest.raises(SnapshotError, match="not a kseg snapshot; refusing"):
        write_snapshot(make_snapshot(), tmp_path / "notes")
    assert (tmp_path / "notes" / "keep.txt").read_text() == "precious"


def test_errors_for_bad_snapshots(tmp_path: Path):
    with pytest.raises(SnapshotError, match="no such snapshot folder"):
        load_snapshot(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SnapshotError, match="not a kseg snapshot"):
        load_snapshot(tmp_path / "empty")
    path = write_snapshot(make_snapshot(), tmp_path / "s")
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())

    manifest_path.write_text(json.dumps({**manifest, "schema_version": 99}))
    with pytest.raises(SnapshotError, match="schema version 99") as err:
        load_snapshot(path)
    assert "re-create the snapshot" in str(err.value)

    manifest_path.write_text("{not json")
    with pytest.raises(SnapshotError, match="damaged manifest"):
        load_snapshot(path)

    manifest_path.write_text(json.dumps(manifest))
    pods = path / manifest["tables"]["pods"]["file"]
    data = pods.read_bytes()
    pods.write_bytes(data[: len(data) // 2])
    with pytest.raises(SnapshotError, match="truncated or replaced"):
        load_snapshot(path)

    pods.unlink()
    with pytest.raises(SnapshotError, match="missing data file of table 'pods'"):
        load_snapshot(path)


def test_damaged_parquet_of_same_size_and_checksum_verify(tmp_path: Path):
    path = write_snapshot(make_snapshot(), tmp_path / "s")
    manifest = json.loads((path / "manifest.json").read_text())
    pods = path / manifest["tables"]["pods"]["file"]
    data = bytearray(pods.read_bytes())
    data[-8:] = b"\0" * 8  # destroy the footer, keep the size
    pods.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="unreadable Parquet file"):
        load_snapshot(path)


def test_verify_detects_silent_corruption(tmp_path: Path):
    path = write_snapshot(make_snapshot(), tmp_path / "s")
    manifest = json.loads((path / "manifest.json").read_text())
    part = path / "flows" / manifest["flows"]["parts"][0]["file"]
    data = bytearray(part.read_bytes())
    data[8] ^= 0xFF  # inside the first data page: the footer still reads fine
    part.write_bytes(bytes(data))
    load_snapshot(path)  # cheap checks cannot see it ...
    with pytest.raises(SnapshotError, match="checksum differs"):
        load_snapshot(path, verify=True)  # ... the checksum does


def test_wrong_table_schema_in_file_is_reported(tmp_path: Path):
    path = write_snapshot(make_snapshot(), tmp_path / "s")
    manifest = json.loads((path / "manifest.json").read_text())
    entry = manifest["tables"]["namespaces"]
    bad = path / entry["file"]
    pl.DataFrame({"name": [1]}).write_parquet(bad)
    entry["bytes"] = bad.stat().st_size
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="does not match schema"):
        load_snapshot(path)


def test_flow_appender_commits_all_or_nothing(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=4), tmp_path / "s")
    with FlowAppender(path, fmt="test", import_id="imp1") as out:
        out.write(_flows(3, offset=1000))
        out.write(_flows(2, offset=2000))
        out.commit({"files": [{"path": "a.log", "sha256": "abc"}], "records_read": 5})
    snap = load_snapshot(path, verify=True)
    assert snap.flows.collect().height == 9
    assert snap.manifest["imports"][-1]["id"] == "imp1"
    with FlowAppender(path, fmt="test") as out:
        assert out.imported_sha256() == {"abc"}

    with pytest.raises(RuntimeError), FlowAppender(path, fmt="test") as out:
        out.write(_flows(3))
        raise RuntimeError("interrupted")
    snap = load_snapshot(path, verify=True)
    assert snap.flows.collect().height == 9
    assert len(list((path / "flows").glob("*.parquet"))) == 3


def test_flow_appender_rejects_bad_rows(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=1), tmp_path / "s")
    bad = _flows(2).with_columns(pl.lit(None, dtype=pl.String).alias("src_ip"))
    with pytest.raises(SchemaError, match="src_ip"), FlowAppender(path, fmt="t") as out:
        out.write(bad)
    assert load_snapshot(path).flows.collect().height == 1


def test_concurrent_writers_are_refused(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=1), tmp_path / "s")
    with FlowAppender(path, fmt="t"), pytest.raises(SnapshotError, match="another kseg"):  # noqa: SIM117
        with FlowAppender(path, fmt="t"):
            pass


def test_snapshot_is_immutable():
    snap = make_snapshot()
    with pytest.raises(AttributeError):
        snap.cluster = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        snap.tables["pods"] = snap.pods  # type: ignore[index]
    changed = snap.with_tables(flows=_flows(2))
    assert changed.flows.collect().height == 2 and snap.flows.collect().height == 10


def test_loaded_snapshot_rewritten_in_place_keeps_flows(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=6), tmp_path / "s")
    loaded = load_snapshot(path)
    new_ns = schema.conform(pl.DataFrame({"name": ["other"], "labels": [[]]},
                                         schema_overrides={"labels": schema.LABELS}),
                            "namespaces")
    write_snapshot(loaded.with_tables(namespaces=new_ns), tmp_path / "copy")
    from toolkit.snapshot import replace_inventory
    replace_inventory(path, Snapshot.from_frames(cluster="unit", namespaces=new_ns))
    again = load_snapshot(path, verify=True)
    assert again.namespaces.collect()["name"].to_list() == ["other"]
    assert again.flows.collect().height == 6
    assert os.listdir(path / "flows")


def test_written_files_follow_the_umask_not_mkstemp(tmp_path: Path):
    old = os.umask(0o022)
    try:
        path = write_snapshot(make_snapshot(), tmp_path / "s")
        from toolkit._io import write_table
        out = write_table(pl.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(old)
    for item in [*path.rglob("*.parquet"), out]:
        assert item.stat().st_mode & 0o777 == 0o644, item


def test_flow_parts_leave_out_all_null_columns(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=2), tmp_path / "s")
    with FlowAppender(path, fmt="test", import_id="imp1") as out:
        out.write(_flows(3).with_columns(pl.lit("web-1").alias("src_id_pod")))
        out.commit({"files": [], "records_read": 3})
    [part] = [p for p in load_snapshot(path).manifest["flows"]["parts"]
              if p["import_id"] == "imp1"]
    stored = pl.read_parquet_schema(path / "flows" / part["file"])
    assert "src_id_pod" in stored and "dst_id_pod" not in stored and "src_port" not in stored
    flows = load_snapshot(path, verify=True).flows
    assert flows.collect_schema() == schema.FLOWS.polars_schema
    assert flows.select(pl.col("src_id_pod").drop_nulls().len()).collect().item() == 3


def test_version_1_snapshots_still_load_and_appending_upgrades_them(tmp_path: Path):
    path = write_snapshot(make_snapshot(n_flows=2), tmp_path / "s")
    manifest_path = path / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "schema_version": 1}))
    assert load_snapshot(path).flows.collect().height == 2
    with FlowAppender(path, fmt="test") as out:
        out.write(_flows(3))
        out.commit({"files": [], "records_read": 3})
    snap = load_snapshot(path)
    assert snap.manifest["schema_version"] == schema.SCHEMA_VERSION == 2
    assert snap.flows.collect().height == 5


def test_flows_are_written_in_parts_of_at_most_part_rows(tmp_path: Path, monkeypatch):
    """A large flows table becomes several parts (so a matrix can aggregate it slice by
    slice), read back whole and in order."""
    from toolkit import snapshot

    snap = make_snapshot(n_flows=9)
    monkeypatch.setattr(snapshot, "PART_ROWS", 4)
    path = write_snapshot(snap, tmp_path / "s")
    parts = json.loads((path / "manifest.json").read_text())["flows"]["parts"]
    assert [p["rows"] for p in parts] == [4, 4, 1]
    assert load_snapshot(path, verify=True).flows.collect().equals(snap.flows.collect())
    empty = write_snapshot(snap.with_tables(flows=snap.flows.head(0)), tmp_path / "e")
    assert json.loads((empty / "manifest.json").read_text())["flows"]["parts"] == []
    assert not list(empty.rglob(".sink-*"))  # no staging folder left behind
