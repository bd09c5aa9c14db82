"""The streaming fast path of the aws-vpc import: a clean uncompressed file is parsed,
mapped and written in one polars streaming pass; anything unusual falls back to the block
path. Either way the snapshot must hold exactly the same rows, counts and rejects."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import polars as pl
import pytest

from toolkit import _store
from toolkit._store import sha256_file
from toolkit.collect.flows import awsvpc, import_flows, registry
from toolkit.errors import InputError
from toolkit.snapshot import Snapshot, load_snapshot, write_snapshot

HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
          "bytes start end action log-status")


def lines(n: int, start: int = 0) -> list[str]:
    return [f"2 123 eni-{i % 7} 10.0.{i % 5}.{i % 250 + 1} 10.1.0.{i % 9 + 1} {1024 + i} 443 "
            f"6 {i % 90 + 1} {i * 7 + 40} {1700000000 + i} {1700000060 + i} ACCEPT OK"
            for i in range(start, start + n)]


def import_both(tmp_path: Path, path: Path, monkeypatch, **options) -> dict:
    """Import ``path`` with the fast path on and off; return both results."""
    out = {}
    for mode in ("stream", "blocks"):
        snap = tmp_path / f"snap-{mode}"
        write_snapshot(Snapshot.from_frames(cluster="t"), snap)
        fmt = registry.FORMATS["aws-vpc"]
        if mode == "blocks":
            monkeypatch.setitem(registry.FORMATS, "aws-vpc", dataclasses.replace(fmt, stream=None))
        progress: list[int] = []
        summary = import_flows([path], snap, "aws-vpc", on_progress=_recorder(progress),
                               **options)
        monkeypatch.setitem(registry.FORMATS, "aws-vpc", fmt)
        flows = load_snapshot(snap).flows.drop("import_id").collect().sort("source_record")
        rejects = sorted((snap / "rejects").glob("*.jsonl"))
        out[mode] = {"summary": summary, "flows": flows, "progress": progress, "snap": snap,
                     "rejects": [r.get("source_record") for r in pl.read_ndjson(rejects[0])
                                 .to_dicts()] if rejects else []}
    return out


def _recorder(into: list[int]):
    return lambda done, total: into.append(done)


def counts(summary) -> tuple:
    return (summary.records_read, summary.imported, summary.skipped, summary.rejected,
            summary.start, summary.end, [f.sha256 for f in summary.files])


def test_stream_and_block_paths_agree(tmp_path, monkeypatch):
    body = [*lines(2500), "2 123 eni-1 - - - - - - - 1700000000 1700000059 - NODATA",
            "2 123 eni-2 - - - - - - - 1700000000 1700000059 - SKIPDATA"]
    path = tmp_path / "clean.log"
    path.write_text(HEADER + "\n" + "\n".join(body) + "\n")
    result = import_both(tmp_path, path, monkeypatch, part_rows=1000)
    stream, blocks = result["stream"], result["blocks"]
    assert stream["flows"].equals(blocks["flows"]) and stream["flows"].height == 2500
    assert counts(stream["summary"]) == counts(blocks["summary"])
    assert stream["summary"].skipped == {"NODATA": 1, "SKIPDATA": 1}
    assert stream["summary"].files[0].sha256 == sha256_file(path)
    parts = load_snapshot(stream["snap"]).manifest["flows"]["parts"]
    assert [p["rows"] for p in parts] == [1000, 1000, 500]
    assert stream["progress"] == sorted(stream["progress"])
    assert stream["progress"][-1] == path.stat().st_size


def test_the_fast_path_is_taken_for_a_clean_file(tmp_path, monkeypatch):
    path = tmp_path / "clean.log"
    path.write_text(HEADER + "\n" + "\n".join(lines(300)) + "\n")
    snap = tmp_path / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    parsed_blocks = []
    real_fast = awsvpc._fast
    monkeypatch.setattr(awsvpc, "_fast", lambda *a: parsed_blocks.append(1) or real_fast(*a))
    import_flows([path], snap, "aws-vpc")
    assert parsed_blocks == []  # no block was parsed: the file streamed
    assert load_snapshot(snap).flows.select(pl.len()).collect().item() == 300


DIRTY = {
    "non-number": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 6 x 40 1700000000 1700000060 ACCEPT OK",
    "short line": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 ACCEPT",
    "long line": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 ACCEPT OK x",
    "blank line": "",
    "annotation": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 ACCEPT OK "
                  "# note",
    "bad protocol": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 300 1 40 1700000000 1700000060 "
                    "ACCEPT OK",
    "bad action": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 MAYBE OK",
    "bad address": "2 123 eni-1 10.0.0.999 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 "
                   "ACCEPT OK",
    "leading zero": "2 123 eni-1 010.0.0.1 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 "
                    "ACCEPT OK",
    "ipv6 to canonicalise": "2 123 eni-1 2001:DB8:0::1 10.1.0.1 1024 443 6 1 40 1700000000 "
                            "1700000060 ACCEPT OK",
    "dash address": "2 123 eni-1 - 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 ACCEPT OK",
    "bad status": "2 123 eni-1 10.0.0.1 10.1.0.1 1024 443 6 1 40 1700000000 1700000060 "
                  "ACCEPT WEIRD",
}


@pytest.mark.parametrize("case", sorted(DIRTY))
def test_anything_unusual_falls_back_to_the_same_result(tmp_path, monkeypatch, case):
    body = [*lines(700), DIRTY[case], *lines(700, start=700)]
    path = tmp_path / "dirty.log"
    path.write_text(HEADER + "\n" + "\n".join(body) + "\n")
    result = import_both(tmp_path, path, monkeypatch, part_rows=500)
    stream, blocks = result["stream"], result["blocks"]
    assert stream["flows"].equals(blocks["flows"])
    assert counts(stream["summary"]) == counts(blocks["summary"])
    assert stream["rejects"] == blocks["rejects"]
    on_disk = sorted(p.name for p in (stream["snap"] / "flows").iterdir())
    listed = sorted(p["file"] for p in load_snapshot(stream["snap"]).manifest["flows"]["parts"])
    assert on_disk == listed  # the abandoned stream left nothing behind
    assert stream["progress"][-1] == path.stat().st_size


def test_crlf_and_missing_final_newline(tmp_path, monkeypatch):
    for name, text in {"crlf": "\r\n".join([HEADER, *lines(50)]) + "\r\n",
                       "no-final-newline": "\n".join([HEADER, *lines(50)])}.items():
        path = tmp_path / f"{name}.log"
        path.write_text(text, newline="")
        result = import_both(tmp_path / name, path, monkeypatch)
        assert result["stream"]["flows"].equals(result["blocks"]["flows"])
        assert result["stream"]["flows"].height == 50


def test_no_header_with_default_v2_fields(tmp_path, monkeypatch):
    path = tmp_path / "v2.log"
    path.write_text("\n".join(lines(400)) + "\n")
    result = import_both(tmp_path, path, monkeypatch)
    assert result["stream"]["flows"].equals(result["blocks"]["flows"])
    assert result["stream"]["flows"].get_column("source_record").to_list()[:2] == [1, 2]


def test_gzip_files_take_the_block_path(tmp_path, monkeypatch):
    path = tmp_path / "clean.log.gz"
    path.write_bytes(gzip.compress(("\n".join([HEADER, *lines(200)]) + "\n").encode()))
    result = import_both(tmp_path, path, monkeypatch)
    assert result["stream"]["flows"].equals(result["blocks"]["flows"])


def test_a_failure_while_streaming_leaves_the_snapshot_as_it_was(tmp_path, monkeypatch):
    path = tmp_path / "clean.log"
    path.write_text(HEADER + "\n" + "\n".join(lines(2000)) + "\n")
    snap = tmp_path / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    before = (snap / "manifest.json").read_text(), sorted(snap.rglob("*"))
    adopted = []
    real_adopt = _store.adopt_parquet

    def adopt_then_fail(tmp, folder, stem):
        if adopted:
            raise OSError("disk full")
        adopted.append(stem)
        return real_adopt(tmp, folder, stem)

    monkeypatch.setattr(_store, "adopt_parquet", adopt_then_fail)
    with pytest.raises(OSError, match="disk full"):
        import_flows([path], snap, "aws-vpc", part_rows=500)
    assert adopted  # one part had been adopted before the failure
    after = (snap / "manifest.json").read_text(), sorted(p for p in snap.rglob("*")
                                                         if p.name != ".kseg.lock")
    assert after == (before[0], [p for p in before[1] if p.name != ".kseg.lock"])


def test_a_killed_stream_leaves_a_folder_the_next_write_sweeps(tmp_path):
    snap = tmp_path / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    leftover = snap / "flows" / f"{_store.SINK_PREFIX}abc-123"
    leftover.mkdir(parents=True)
    (leftover / "00000.parquet").write_bytes(b"partial")
    _store.sweep_unreferenced(snap, _store.read_manifest(snap))
    assert not leftover.exists()


def test_a_file_of_status_records_only_is_still_an_error(tmp_path):
    path = tmp_path / "nodata.log"
    path.write_text(HEADER + "\n2 123 eni-1 - - - - - - - 1700000000 1700000059 - NODATA\n")
    snap = tmp_path / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    summary = import_flows([path], snap, "aws-vpc")
    assert summary.imported == 0 and summary.skipped == {"NODATA": 1}
    with pytest.raises(InputError):
        bad = tmp_path / "empty-body.log"
        bad.write_text(HEADER + "\n")
        import_flows([bad], snap, "aws-vpc")


V5_HEADER = HEADER + " tcp-flags pkt-srcaddr pkt-dstaddr flow-direction traffic-path"


def v5_lines(n: int) -> list[str]:
    """Custom-format records ending in traffic-path, which is mostly "-"."""
    return [f"{line} {2 if i % 3 else 19} 10.2.0.{i % 30 + 1} - "
            f"{'ingress' if i % 2 else 'egress'} {'-' if i % 4 else i % 8 + 1}"
            for i, line in enumerate(lines(n))]


def test_a_dash_in_the_last_field_still_streams(tmp_path, monkeypatch):
    path = tmp_path / "v5.log"
    path.write_text(V5_HEADER + "\n" + "\n".join(v5_lines(600)) + "\n")
    parsed_blocks = []
    real_fast = awsvpc._fast
    monkeypatch.setattr(awsvpc, "_fast", lambda *a: parsed_blocks.append(1) or real_fast(*a))
    result = import_both(tmp_path, path, monkeypatch)
    assert result["stream"]["flows"].equals(result["blocks"]["flows"])
    assert len(parsed_blocks) == 1  # the block path's one block; the stream parsed none
    flows = result["stream"]["flows"]
    assert flows.get_column("src_xlate_ip").drop_nulls().len() == 600
    assert set(flows.get_column("reporter")) == {"src", "dst"}


@pytest.mark.parametrize("last", ["x", "-", ""])
def test_an_integer_last_field_is_checked(tmp_path, monkeypatch, last):
    fields = HEADER.replace(" log-status", "") + " tcp-flags"
    body = [line.removesuffix(" OK") + f" {i % 30}" for i, line in enumerate(lines(300))]
    body[150] = body[150].rsplit(" ", 1)[0] + (f" {last}" if last else "")
    path = tmp_path / "flags.log"
    path.write_text(fields + "\n" + "\n".join(body) + "\n")
    result = import_both(tmp_path, path, monkeypatch)
    stream, blocks = result["stream"], result["blocks"]
    assert stream["flows"].equals(blocks["flows"])
    assert counts(stream["summary"]) == counts(blocks["summary"])
    assert stream["rejects"] == blocks["rejects"]


def stream_one_part(tmp_path: Path, path: Path) -> tuple[pl.Schema, pl.DataFrame]:
    """Import ``path`` (one part) into a new snapshot: the part's stored schema and the
    flows as loaded."""
    snap = tmp_path / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    import_flows([path], snap, "aws-vpc")
    [part] = sorted((snap / "flows").glob("part-*.parquet"))
    return pl.read_parquet_schema(part), load_snapshot(snap).flows.collect()


def test_streamed_parts_hold_only_the_columns_the_format_fills(tmp_path):
    path = tmp_path / "clean.log"
    path.write_text(HEADER + "\n" + "\n".join(lines(50)) + "\n")
    stored, flows = stream_one_part(tmp_path, path)
    assert {"src_port", "bytes", "action", "observer", "source_record"} <= set(stored)
    # v2 has no flow-direction, tcp-flags or pkt-*addr fields, and no identity
    assert not {"reporter", "direction", "tcp_flags", "src_xlate_ip", "src_id_pod"} & set(stored)
    assert flows["tcp_flags"].null_count() == flows["src_id_pod"].null_count() == 50


def test_streamed_v5_parts_keep_the_fields_it_has(tmp_path):
    fields = ("version srcaddr dstaddr srcport dstport protocol packets bytes start end action "
              "log-status pkt-srcaddr pkt-dstaddr tcp-flags flow-direction")
    body = [f"5 10.0.0.{i + 1} 10.1.0.1 {1024 + i} 443 6 1 40 1700000000 1700000060 ACCEPT OK "
            f"10.9.0.{i + 1} 10.1.0.1 2 egress" for i in range(20)]
    path = tmp_path / "v5.log"
    path.write_text(fields + "\n" + "\n".join(body) + "\n")
    stored, flows = stream_one_part(tmp_path, path)
    assert {"reporter", "direction", "tcp_flags", "src_xlate_ip", "dst_xlate_ip"} <= set(stored)
    assert "observer" not in stored
    assert flows["src_ip"][0] == "10.9.0.1" and flows["src_xlate_ip"][0] == "10.0.0.1"
    assert flows["reporter"].unique().to_list() == ["src"]


@pytest.mark.parametrize("dictionary", [True, False])
def test_odd_address_check_reads_every_row_group(tmp_path, dictionary):
    import pyarrow.parquet as pq

    from toolkit.collect.flows.importer import _odd_addresses

    clean = [f"10.0.{i // 250}.{i % 250}" for i in range(5000)]
    for odd, expected in (("10.0.0.1", False), ("10.00.0.1", True), ("fd00::1", True),
                          ("10.0.0.256", True)):
        table = pl.DataFrame({"src_ip": clean, "dst_ip": [*clean[:-1], odd],
                              "bytes": range(5000)}).to_arrow()
        path = tmp_path / f"{dictionary}-{odd}.parquet"
        pq.write_table(table, path, row_group_size=1000, use_dictionary=dictionary)
        assert pq.ParquetFile(path).num_row_groups == 5
        assert _odd_addresses([path], ["src_ip", "dst_ip", "src_xlate_ip"]) is expected, odd
    nulls = tmp_path / "nulls.parquet"
    pl.DataFrame({"src_ip": clean, "dst_ip": [None] * 5000},
                 schema={"src_ip": pl.String, "dst_ip": pl.String}).write_parquet(nulls)
    assert _odd_addresses([nulls], ["src_ip", "dst_ip"]) is False
