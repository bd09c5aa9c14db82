"""The shared import machinery: paths, re-imports, atomicity, bad files, streaming, fuzzing."""

from __future__ import annotations

import gzip
import ipaddress
import json
import random
import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from toolkit._store import sha256_file
from toolkit.collect.flows import import_flows, importer
from toolkit.errors import InputError, KsegError
from toolkit.snapshot import FlowAppender, Snapshot, load_snapshot, write_snapshot

HEADER = ("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
          "bytes start end action log-status")


def aws_lines(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"2 123 eni-{i % 7} 10.0.{i % 5}.{i % 250 + 1} 10.1.0.{i % 9 + 1} "
            f"{1024 + i} 443 6 {rng.randint(1, 90)} {rng.randint(40, 99999)} "
            f"{1700000000 + i} {1700000060 + i} ACCEPT OK" for i in range(n)]


def write_aws(path: Path, lines: list[str]) -> Path:
    path.write_text(HEADER + "\n" + "\n".join(lines) + "\n")
    return path


def manifest_state(snap: Path) -> tuple[str, list[str]]:
    files = sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file()
                   and p.name != ".kseg.lock")
    return (snap / "manifest.json").read_text(), files


def test_reimport_is_skipped(tmp_path, snap, flows_of):
    path = write_aws(tmp_path / "a.log", aws_lines(50))
    first = import_flows([path], snap, "aws-vpc")
    assert first.imported == 50 and first.committed
    state = manifest_state(snap)
    copy = tmp_path / "copy.log"
    copy.write_bytes(path.read_bytes())
    again = import_flows([path, copy], snap, "aws-vpc")
    assert again.imported == 0 and not again.committed
    assert again.already_imported == [str(path), str(copy)]
    assert "already imported" in str(again)
    assert manifest_state(snap) == state
    assert flows_of(snap).height == 50
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["imports"][0]["files"][0]["sha256"] == first.files[0].sha256
    assert first.files[0].sha256 == sha256_file(path)  # hashed while streaming


def test_duplicate_inputs_in_one_run_count_once(tmp_path, snap, flows_of):
    path = tmp_path / "a.log.gz"
    path.write_bytes(gzip.compress((HEADER + "\n" + "\n".join(aws_lines(40)) + "\n").encode()))
    twin = tmp_path / "twin.gz"
    twin.write_bytes(path.read_bytes())
    summary = import_flows([path, twin], snap, "aws-vpc")
    assert summary.imported == 40 and summary.already_imported == [str(twin)]
    assert summary.files[0].sha256 == sha256_file(path)
    assert flows_of(snap).height == 40


def test_interrupted_import_leaves_snapshot_unchanged(tmp_path, snap, monkeypatch):
    good = write_aws(tmp_path / "a.log", aws_lines(30))
    import_flows([good], snap, "aws-vpc")
    before = manifest_state(snap)
    lines = aws_lines(3000, seed=2)
    lines[5] = "2 123 malformed"  # so a rejects file is being written when the failure hits
    second = write_aws(tmp_path / "b.log", lines)
    calls = []
    real_write = FlowAppender.write

    def failing_write(self, frame):
        calls.append(frame.height)
        if len(calls) == 2:
            raise RuntimeError("disk on fire")
        real_write(self, frame)

    monkeypatch.setattr(FlowAppender, "write", failing_write)
    with pytest.raises(RuntimeError, match="disk on fire"):
        import_flows([second], snap, "aws-vpc", block_bytes=20_000, part_rows=500)
    assert len(calls) == 2
    assert manifest_state(snap) == before
    assert load_snapshot(snap, verify=True).flows.collect().height == 30


def test_bad_file_in_the_middle_aborts_everything(tmp_path, snap):
    good = write_aws(tmp_path / "a.log", aws_lines(10))
    bad = tmp_path / "b.log"
    bad.write_text(HEADER + "\nthis is not a flow log\nneither is this\n")
    before = manifest_state(snap)
    with pytest.raises(InputError, match=r"b.log: no usable aws-vpc record \(2 read"):
        import_flows([good, bad], snap, "aws-vpc")
    assert manifest_state(snap) == before



def test_error_while_a_part_is_being_written_leaves_no_part(tmp_path, snap, monkeypatch):
    """Parts are written in a background thread: a reader error while a (slow) part write
    is still in flight must wait for it, then remove it with everything else."""
    good = tmp_path / "a.log.gz"  # gzip: read block by block, parts by the writer thread
    good.write_bytes(gzip.compress(write_aws(tmp_path / "a.log", aws_lines(600)).read_bytes()))
    bad = tmp_path / "b.log"
    bad.write_text(HEADER + "\nthis is not a flow log\n")
    before = manifest_state(snap)
    real_write, finished = FlowAppender.write, []

    def slow_write(self, frame):
        time.sleep(0.3)
        real_write(self, frame)
        finished.append(frame.height)

    monkeypatch.setattr(FlowAppender, "write", slow_write)
    with pytest.raises(InputError, match="no usable aws-vpc record"):
        import_flows([good, bad], snap, "aws-vpc", block_bytes=20_000, part_rows=500)
    assert finished == [600]  # the part was written, then removed on the abort
    assert manifest_state(snap) == before

@pytest.mark.parametrize("content, message", [
    (b"\x00\x01\x02binary" * 100, "binary file"),
    (gzip.compress("\n".join(aws_lines(3000)).encode())[:20000], "truncated gzip"),
    (b"", "no usable"),
])
def test_bad_files_are_one_line_errors(tmp_path, snap, content, message):
    path = tmp_path / "bad.log"
    path.write_bytes(content)
    fmt = "hubble" if not content else "aws-vpc"
    with pytest.raises(KsegError, match=message) as info:
        import_flows([path], snap, fmt, fields=HEADER.split())
    assert "\n" not in str(info.value)


def test_huge_line(tmp_path, snap):
    path = tmp_path / "huge.json"
    path.write_bytes(b'{"flow": {}}\n' + b"x" * (17 * 1024 * 1024) + b"\n")
    with pytest.raises(InputError, match=r"huge.json:2: line longer than 16 MiB"):
        import_flows([path], snap, "hubble")


def test_directory_glob_and_gzip_inputs(tmp_path, snap, flows_of):
    folder = tmp_path / "logs" / "2024" / "06"
    folder.mkdir(parents=True)
    write_aws(folder / "a.log", aws_lines(20, seed=3))
    (folder / "b.log.gz").write_bytes(gzip.compress(
        (HEADER + "\n" + "\n".join(aws_lines(25, seed=4)) + "\n").encode()))
    (folder / ".hidden.log").write_text("ignored")
    summary = import_flows([tmp_path / "logs"], snap, "aws-vpc")
    assert summary.imported == 45 and len(summary.files) == 2
    other = tmp_path / "more"
    other.mkdir()
    write_aws(other / "c.log", aws_lines(5, seed=5))
    write_aws(other / "d.txt", aws_lines(6, seed=6))
    summary = import_flows([str(other / "*.log")], snap, "aws-vpc")
    assert summary.imported == 5
    assert flows_of(snap).height == 50
    with pytest.raises(InputError, match="matches no file"):
        import_flows([str(other / "*.nothing")], snap, "aws-vpc")
    with pytest.raises(InputError, match="no such file"):
        import_flows([tmp_path / "absent.log"], snap, "aws-vpc")


def test_unknown_format(snap, tmp_path):
    with pytest.raises(InputError, match="unknown flow format 'netflow'; known formats: aws-vpc"):
        import_flows([tmp_path], snap, "netflow")


def test_streaming_writes_several_parts(tmp_path, snap, flows_of):
    lines = aws_lines(5000, seed=9)
    lines[1234] = lines[1234].replace(" 443 ", "  443 ")  # forces one block on the careful path
    lines[4321] = "2 123 broken"
    path = write_aws(tmp_path / "big.log", lines)
    summary = import_flows([path], snap, "aws-vpc", block_bytes=30_000, part_rows=1000)
    assert summary.imported == 4999 and summary.rejected == {"bad-field-count": 1}
    manifest = json.loads((snap / "manifest.json").read_text())
    assert len(manifest["flows"]["parts"]) >= 4
    df = flows_of(snap)
    assert df["source_record"].to_list() == [i + 2 for i in range(5000) if i != 4321]
    expected = sum(int(line.split()[9]) for i, line in enumerate(lines) if i != 4321)
    assert df["bytes"].sum() == expected


def test_canonical_ips_are_computed_once_per_value():
    frame = pl.DataFrame({"src_ip": ["2001:DB8::1", "10.0.0.1", "2001:DB8::1", "bad"],
                          "dst_ip": ["::FFFF:10.0.0.1", None, "10.0.0.1", "10.0.0.1"]})
    out = importer.canonicalise_ips(frame)
    assert out["src_ip"].to_list() == ["2001:db8::1", "10.0.0.1", "2001:db8::1", None]
    mapped = ipaddress.ip_address("::FFFF:10.0.0.1").compressed  # spelling differs by Python
    assert out["dst_ip"].to_list() == [mapped, None, "10.0.0.1", "10.0.0.1"]


def _corrupt(line: str, rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        return line[: rng.randrange(len(line))]
    pos = rng.randrange(len(line))
    if kind == 1:
        return line[:pos] + rng.choice("x#-.:é\t") + line[pos + 1:]
    if kind == 2:
        return line[:pos] + " " + line[pos:]
    if kind == 3:
        return line.replace(" ", "  ", 1)
    return "".join(rng.sample(line, len(line)))


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_bad=st.integers(0, 40),
       block=st.sampled_from([2_000, 50_000]))
def test_fuzz_corruption_never_crashes_or_changes_intact_bytes(tmp_path_factory, seed, n_bad,
                                                                block):
    rng = random.Random(seed)
    lines = aws_lines(200, seed=seed)
    bad = set(rng.sample(range(len(lines)), n_bad))
    text = [(_corrupt(line, rng) if i in bad else line) for i, line in enumerate(lines)]
    folder = tmp_path_factory.mktemp("fuzz")
    snap = folder / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    path = write_aws(folder / "f.log", text)
    try:
        summary = import_flows([path], snap, "aws-vpc", block_bytes=block)
    except InputError as exc:  # only allowed when nothing at all is usable
        assert "no usable" in str(exc)
        assert len(bad) == len(lines)
        return
    df = load_snapshot(snap).flows.collect()
    intact = [i for i in range(len(lines)) if i not in bad or text[i] == lines[i]]
    got = df.filter(pl.col("source_record").is_in([i + 2 for i in intact]))
    assert got.height == len(intact)
    assert got["bytes"].sum() == sum(int(lines[i].split()[9]) for i in intact)
    assert summary.records_read == summary.imported + sum(summary.rejected.values()) + sum(
        summary.skipped.values())


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), n_bad=st.integers(0, 9))
def test_fuzz_json_lines_gcp(realdata, tmp_path_factory, seed, n_bad):
    """Corrupted JSON lines are rejected one by one; intact records keep their bytes."""
    rng = random.Random(seed)
    lines = (realdata / "gcp-vpc-flow-logs" / "beats-gcp-vpcflow-first10.jsonl").read_text(
        ).splitlines()
    bad = set(rng.sample(range(len(lines)), n_bad))
    text = [(_corrupt(line, rng) if i in bad else line) for i, line in enumerate(lines)]
    folder = tmp_path_factory.mktemp("fuzzjson")
    snap = folder / "snap"
    write_snapshot(Snapshot.from_frames(cluster="t"), snap)
    path = folder / "gcp.jsonl"
    path.write_text("\n".join(text) + "\n")
    import_flows([path], snap, "gcp-vpc")
    df = load_snapshot(snap).flows.collect()
    intact = [i for i in range(len(lines)) if text[i] == lines[i]]
    got = df.filter(pl.col("source_record").is_in([i + 1 for i in intact]))
    assert got.height == len(intact)
    assert got["bytes"].sum() == sum(
        int(json.loads(lines[i])["jsonPayload"]["bytes_sent"]) for i in intact)
