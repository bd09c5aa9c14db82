"""conntrack text and the csv/parquet table readers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from toolkit.collect.flows import import_flows
from toolkit.errors import InputError

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _manual(realdata: Path, name: str) -> Path:
    return realdata / "conntrack" / "conntrack-tools-manual" / name


def test_conntrack_list_both_directions(realdata, snap, flows_of):
    path = _manual(realdata, "conntrack-L.txt")
    summary = import_flows([path], snap, "conntrack", assume_time=T0)
    assert summary.records_read == 2 and summary.imported == 4  # the summary line is no record
    df = flows_of(snap)
    fwd, rev = df.row(0, named=True), df.row(1, named=True)
    # src=192.168.2.100 dst=123.59.27.117 sport=34846 dport=993 packets=169 bytes=14322
    assert (fwd["src_ip"], fwd["dst_ip"], fwd["src_port"], fwd["dst_port"]) == (
        "192.168.2.100", "123.59.27.117", 34846, 993)
    assert (fwd["bytes"], fwd["packets"], fwd["flow_count"], fwd["is_reply"]) == (
        14322, 169, 1, False)
    # reply: src=123.59.27.117 dst=192.168.2.100 sport=993 dport=34846 packets=113 bytes=34787
    assert (rev["src_ip"], rev["dst_port"], rev["bytes"], rev["packets"]) == (
        "123.59.27.117", 34846, 34787, 113)
    assert (rev["flow_count"], rev["is_reply"]) == (0, True)
    assert fwd["dst_xlate_ip"] is None and fwd["protocol"] == 6
    assert df["bytes"].sum() == 14322 + 34787 + 18723 + 144731
    assert df["start"].unique().to_list() == [T0]


def test_conntrack_every_sample(realdata, snap, flows_of):
    folder = realdata / "conntrack" / "conntrack-tools-manual"
    summary = import_flows([folder], snap, "conntrack")
    assert summary.rejected == {}
    df = flows_of(snap)
    per_file = {Path(k).name: v for k, v in df.group_by("source_file").len().iter_rows()}
    assert per_file == {"conntrack-E-events.txt": 5, "conntrack-L.txt": 4,
                        "conntrackd-i-internal-cache.txt": 5, "proc-net-ip_conntrack.txt": 4}
    events = df.filter(pl.col("source_file").str.ends_with("E-events.txt"))
    assert events["protocol"].to_list() == [17, 17, 6, 6, 6]
    assert events["flow_count"].sum() == 0 and events["bytes"].null_count() == 5
    mtime = datetime.fromtimestamp(_manual(realdata, "conntrack-L.txt").stat().st_mtime, UTC)
    assert df.filter(pl.col("source_file").str.ends_with("conntrack-L.txt"))["start"][0] == mtime


def test_conntrack_dnat_reveals_backend(tmp_path, snap, flows_of):
    lines = [
        "[1717200000.250000]  [DESTROY] tcp      6 src=10.244.1.5 dst=10.96.0.10 sport=40000 "
        "dport=80 packets=5 bytes=400 src=10.244.2.7 dst=10.244.1.5 sport=8080 dport=40000 "
        "packets=4 bytes=3000 [ASSURED] mark=0 use=1",
        "ipv4     2 udp      17 25 src=10.244.1.5 dst=10.96.0.10 sport=5353 dport=53 packets=1 "
        "bytes=60 src=10.244.3.3 dst=10.244.1.5 sport=53 dport=5353 packets=1 bytes=120 mark=0",
        "ipv4     2 icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 packets=1 "
        "bytes=84 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7 packets=1 bytes=84 mark=0",
        "garbage here",
    ]
    path = tmp_path / "ct.txt"
    path.write_text("\n".join(lines) + "\n")
    summary = import_flows([path], snap, "conntrack", assume_time=T0)
    assert summary.rejected == {"bad-line": 1}
    df = flows_of(snap)
    fwd = df.row(0, named=True)
    assert fwd["start"] == datetime(2024, 6, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert (fwd["dst_ip"], fwd["dst_xlate_ip"], fwd["dst_xlate_port"]) == (
        "10.96.0.10", "10.244.2.7", 8080)
    assert fwd["flow_count"] == 1 and fwd["bytes"] == 400
    rev = df.row(1, named=True)
    assert (rev["src_ip"], rev["src_xlate_ip"], rev["src_xlate_port"], rev["bytes"]) == (
        "10.244.2.7", "10.96.0.10", 80, 3000)
    udp = df.filter(pl.col("source_record") == 2, ~pl.col("is_reply")).row(0, named=True)
    assert udp["dst_xlate_ip"] == "10.244.3.3" and udp["start"] == T0
    icmp = df.filter(pl.col("source_record") == 3)
    assert icmp["src_port"].null_count() == 2 and icmp["protocol"].to_list() == [1, 1]


def test_csv_with_map_and_aliases(tmp_path, snap, flows_of):
    path = tmp_path / "flows.csv"
    path.write_text(
        "SourceAddress,dstaddr,sport,Destination Port,proto,Bytes,time,verdict\n"
        "10.0.0.1,10.0.0.2,1234,443,TCP,100,1717200000000,ACCEPT\n"
        "10.0.0.1,10.0.0.3,1234,53,udp,,2024-06-01T00:00:01Z,deny\n"
        "10.0.0.1,10.0.0.3,1234,53,udp,many,2024-06-01T00:00:01Z,deny\n"
        "10.0.0.1,10.0.0.3,1234,53,udp,5,yesterday,deny\n")
    summary = import_flows([path], snap, "csv", mapping={"src_ip": "SourceAddress"})
    assert summary.imported == 2 and summary.rejected == {"bad-number": 1, "bad-time": 1}
    df = flows_of(snap)
    first, second = df.row(0, named=True), df.row(1, named=True)
    assert first["start"] == datetime(2024, 6, 1, tzinfo=UTC) == first["end"]
    assert (first["src_ip"], first["dst_ip"], first["dst_port"], first["protocol"]) == (
        "10.0.0.1", "10.0.0.2", 443, 6)
    assert (first["bytes"], first["action"], second["action"]) == (100, "allow", "deny")
    assert second["bytes"] is None and second["protocol"] == 17
    assert second["start"] == datetime(2024, 6, 1, 0, 0, 1, tzinfo=UTC)


def test_parquet_table(tmp_path, snap, flows_of):
    path = tmp_path / "flows.parquet"
    pl.DataFrame({
        "ts": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
        "client": ["10.1.0.1", "fd00::0001"], "server": ["10.1.0.2", "fd00::2"],
        "octets": [10, 20], "reporter": ["src", "dst"],
    }).write_parquet(path)
    import_flows([path], snap, "parquet", mapping={"src_ip": "client", "dst_ip": "server"})
    df = flows_of(snap)
    assert df["src_ip"].to_list() == ["10.1.0.1", "fd00::1"]
    assert df["bytes"].to_list() == [10, 20] and df["reporter"].to_list() == ["src", "dst"]
    assert df["start"][0] == datetime(2024, 1, 1, tzinfo=UTC)


def test_table_without_addresses_is_a_clear_error(tmp_path, snap):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="--map"):
        import_flows([path], snap, "csv")
    with pytest.raises(InputError, match="unknown flows column"):
        import_flows([path], snap, "csv", mapping={"source": "a"})
