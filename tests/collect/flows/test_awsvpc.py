"""AWS VPC flow logs: every realdata sample, specific records checked against the raw text."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from toolkit.collect.flows import import_flows
from toolkit.errors import InputError

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _aws(realdata: Path, name: str) -> tuple[Path, list[str]]:
    folder = realdata / "aws-vpc-flow-logs"
    return folder / f"{name}.log", (folder / f"{name}.fields").read_text().split()


def _ts(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def test_default_v2(realdata, snap, flows_of):
    path, fields = _aws(realdata, "default-v2-examples")
    summary = import_flows([path], snap, "aws-vpc", fields=fields)
    assert (summary.records_read, summary.imported) == (7, 5)
    assert summary.skipped == {"NODATA": 1, "SKIPDATA": 1}
    assert summary.rejected == {}
    df = flows_of(snap)
    assert df["source_record"].to_list() == [1, 2, 5, 6, 7]
    first = df.row(0, named=True)
    # 2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249
    #   1418530010 1418530070 ACCEPT OK
    assert (first["src_ip"], first["dst_ip"], first["src_port"], first["dst_port"]) == (
        "172.31.16.139", "172.31.16.21", 20641, 22)
    assert (first["protocol"], first["packets"], first["bytes"]) == (6, 20, 4249)
    assert (first["start"], first["end"]) == (_ts(1418530010), _ts(1418530070))
    assert first["action"] == "allow" and first["observer"] == "eni-1235b8ca123456789"
    assert first["format"] == "aws-vpc" and first["source_file"] == str(path)
    assert df.row(1, named=True)["action"] == "deny"
    icmp = df.row(2, named=True)  # ICMP: ports 0 in the log, null in the table
    assert icmp["protocol"] == 1 and icmp["src_port"] is None and icmp["dst_port"] is None
    v6 = df.row(4, named=True)
    assert v6["src_ip"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"
    assert v6["bytes"] == 8855
    assert df["bytes"].sum() == 4249 + 4249 + 336 + 336 + 8855


def test_v3_tcp_flags_and_double_space(realdata, snap, flows_of):
    path, fields = _aws(realdata, "custom-v3-tcp-flags-examples")
    summary = import_flows([path], snap, "aws-vpc", fields=fields)
    assert summary.imported == 8 and summary.rejected == {}
    df = flows_of(snap)
    assert df["tcp_flags"].to_list() == [2, 18, 2, 18, 1, 1, 3, 19]
    last = df.row(7, named=True)  # the line with a double space
    assert (last["src_ip"], last["src_port"], last["dst_port"], last["bytes"]) == (
        "10.0.0.62", 5001, 43638, 967)
    assert df.row(5, named=True)["bytes"] == 23294588
    assert df["src_xlate_ip"].null_count() == 8  # srcaddr == pkt-srcaddr everywhere


def test_v5_direction_and_reporter(realdata, snap, flows_of):
    path, fields = _aws(realdata, "custom-v5-traffic-path-flow-direction-examples")
    import_flows([path], snap, "aws-vpc", fields=fields)
    df = flows_of(snap)
    assert df["direction"].to_list() == ["ingress", "egress"]
    assert df["reporter"].to_list() == ["dst", "src"]
    assert df["bytes"].to_list() == [15044, 471] and df["packets"].to_list() == [14, 7]
    assert df["observer"].to_list() == ["eni-1235b8ca123456789"] * 2


def test_nat_gateway_prefers_packet_addresses(realdata, snap, flows_of):
    path, fields = _aws(realdata, "custom-nat-gateway-eni-examples")
    with pytest.raises(InputError, match="no start/end"):
        import_flows([path], snap, "aws-vpc", fields=fields)
    import_flows([path], snap, "aws-vpc", fields=fields, assume_time=T0)
    df = flows_of(snap)
    # - eni-1235b8ca123456789 10.0.1.5 10.0.0.220 10.0.1.5 203.0.113.5
    row = df.row(0, named=True)
    assert (row["src_ip"], row["dst_ip"], row["dst_xlate_ip"], row["src_xlate_ip"]) == (
        "10.0.1.5", "203.0.113.5", "10.0.0.220", None)
    # - eni-... 10.0.0.220 10.0.1.5 203.0.113.5 10.0.1.5: the reply, NAT address as srcaddr
    row = df.row(3, named=True)
    assert (row["src_ip"], row["src_xlate_ip"], row["dst_ip"]) == (
        "203.0.113.5", "10.0.0.220", "10.0.1.5")
    assert df["start"].unique().to_list() == [T0]
    assert df["bytes"].null_count() == 4


def test_trailing_annotations_are_stripped(realdata, snap, flows_of):
    path, fields = _aws(realdata, "custom-nat-source-instance-eni-examples")
    summary = import_flows([path], snap, "aws-vpc", fields=fields, assume_time=T0)
    assert summary.imported == 2 and summary.rejected == {}
    df = flows_of(snap)
    assert df["observer"].to_list() == ["eni-1111aaaa2222bbbb3"] * 2
    assert df["dst_ip"].to_list() == ["203.0.113.5", "10.0.1.5"]


def test_transit_gateway(realdata, snap, flows_of):
    path, fields = _aws(realdata, "custom-v3-transit-gateway-examples")
    import_flows([path], snap, "aws-vpc", fields=fields, assume_time=T0)
    df = flows_of(snap)
    row = df.row(2, named=True)  # TGW ENI: srcaddr 10.40.1.175, pkt-srcaddr 10.20.33.164
    assert (row["src_ip"], row["src_xlate_ip"], row["observer"]) == (
        "10.20.33.164", "10.40.1.175", "eni-11111111111111111")
    assert df["tcp_flags"].to_list() == [3, 19, 3, 19]


def test_header_line_gzip_and_rejects(tmp_path, snap, flows_of):
    lines = ["version account-id interface-id srcaddr dstaddr srcport dstport protocol packets "
             "bytes start end action log-status",
             "2 1 eni-a 10.0.0.1 10.0.0.2 1000 80 6 3 300 1700000000 1700000060 ACCEPT OK",
             "2 1 eni-a 10.0.0.1 10.0.0.999 1000 80 6 3 300 1700000000 1700000060 ACCEPT OK",
             "2 1 eni-a 10.0.0.1 10.0.0.2 1000 80 6 3 lots 1700000000 1700000060 ACCEPT OK",
             "2 1 eni-a 10.0.0.1 10.0.0.2 1000 80",
             "",
             "2 1 eni-a 10.0.0.3 10.0.0.2 1001 80 6 5 500 1700000000 1700000060 REJECT OK"]
    path = tmp_path / "vpc.log.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    summary = import_flows([path], snap, "aws-vpc")
    assert (summary.records_read, summary.imported) == (5, 2)
    assert summary.rejected == {"bad-field-count": 1, "bad-number": 1, "invalid-dst-ip": 1}
    df = flows_of(snap)
    assert df["source_record"].to_list() == [2, 7] and df["bytes"].to_list() == [300, 500]
    rejects = pl.read_ndjson(snap / summary.rejects_file)
    assert sorted(rejects["source_record"].to_list()) == [3, 4, 5]
    assert "10.0.0.999" in rejects.filter(pl.col("source_record") == 3)["detail"].item()
    assert set(rejects["source_file"]) == {str(path)}


def test_unknown_custom_format_needs_fields(tmp_path, snap):
    path = tmp_path / "x.log"
    path.write_text("eni-a 10.0.0.1 10.0.0.2\n")
    with pytest.raises(InputError, match="--fields"):
        import_flows([path], snap, "aws-vpc")


def _numbered_log(path: Path, n: int, bad_every: int = 0) -> Path:
    """v2 records whose bytes field is the line number (bad lines where ``bad_every``)."""
    lines = []
    for i in range(2, n + 2):
        bad = bad_every and i % bad_every == 0
        count = "x" if bad else str(i)
        lines.append(f"2 123 eni-{i} 10.0.{i % 250}.{i % 200 + 1} 10.1.0.1 {1024 + i % 60000} "
                     f"443 6 1 {count} 1717200000 1717200060 ACCEPT OK")
    path.write_text("version account-id interface-id srcaddr dstaddr srcport dstport protocol "
                    "packets bytes start end action log-status\n" + "\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("bad_every", [0, 97])
def test_batches_survive_the_reuse_of_block_buffers(tmp_path, bad_every):
    """The reader reuses one buffer for every block: batches read earlier (fast and careful
    path) must not change when later blocks overwrite it."""
    from toolkit.collect.flows import awsvpc
    from toolkit.collect.flows._norm import ReadContext

    path = _numbered_log(tmp_path / "many.log", 3000, bad_every)
    batches = list(awsvpc.read(path, ReadContext(block_bytes=4096)))
    assert len(batches) > 50
    rows = pl.concat([b.rows.select("source_record", "bytes", "observer") for b in batches])
    assert (rows.get_column("bytes") == rows.get_column("source_record")).all()
    assert rows.get_column("observer").to_list() == [f"eni-{r}" for r in rows["source_record"]]
    expected_good = [i for i in range(2, 3002) if not (bad_every and i % bad_every == 0)]
    assert rows.get_column("source_record").to_list() == expected_good
    rejects = pl.concat([b.rejects for b in batches])
    assert rejects.height == 3000 - len(expected_good)


def test_reused_blocks_carry_the_same_lines(tmp_path):
    from toolkit.collect.flows.reader import iter_blocks

    path = _numbered_log(tmp_path / "many.log", 2000)
    fresh = [(b.first_line, b.data) for b in iter_blocks(path, block_bytes=1000)]
    reused = [(b.first_line, b.data) for b in iter_blocks(path, block_bytes=1000, reuse=True)]
    assert reused == fresh and len(fresh) > 100
    assert b"".join(data for _, data in reused) == path.read_bytes()
