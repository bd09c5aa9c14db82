"""The AWS VPC flow-log text writer: re-parsed output keeps every record and byte."""

from __future__ import annotations

import gzip

import polars as pl
import pytest

from toolkit.demo import DemoConfig, generate_snapshot, status_records, write_aws_vpc_logs
from toolkit.demo.awsvpc import fields
from toolkit.errors import KsegError

CFG = DemoConfig(seed=5, days=1, flows_per_day=5_000)


@pytest.fixture(scope="module")
def snap():
    return generate_snapshot(CFG, 1)


def _read(path, gz: bool = False) -> pl.DataFrame:
    data = gzip.decompress(path.read_bytes()) if gz else path.read_bytes()
    return pl.read_csv(data, separator=" ", null_values="-", infer_schema_length=0)


def test_text_reparses_to_the_same_records_and_bytes(snap, tmp_path):
    path = write_aws_vpc_logs(snap, tmp_path / "day1.log")
    text = _read(path)
    assert text.columns == fields(5)
    flows = snap.flows.collect()
    data = text.filter(pl.col("log-status") == "OK")
    assert data.height == flows.height
    assert data["bytes"].cast(pl.Int64).sum() == flows["bytes"].sum()
    assert (data["srcaddr"] == flows["src_ip"]).all()
    assert (data["start"].cast(pl.Int64) == flows["start"].dt.epoch("s")).all()
    assert set(data["action"]) == {"ACCEPT", "REJECT"}
    assert data["instance-id"].str.starts_with("i-").all()
    assert data["az-id"].null_count() == 0
    status = text.filter(pl.col("log-status") != "OK")
    expected = status_records(CFG, 1)
    assert status.height == len(expected) == sum(snap.sources[0]["aws_vpc_status_records"]
                                                 .values())
    assert status["srcaddr"].null_count() == status.height


def test_gzip_and_older_versions(snap, tmp_path):
    path = write_aws_vpc_logs(snap, tmp_path / "day1.log.gz", version=2)
    text = _read(path, gz=True)
    assert text.columns == fields(2) and len(fields(2)) == 14
    assert text.filter(pl.col("log-status") == "OK")["bytes"].cast(pl.Int64).sum() == \
        snap.flows.select(pl.col("bytes").sum()).collect().item()
    again = write_aws_vpc_logs(snap, tmp_path / "again.log.gz", version=2)
    assert again.read_bytes() == path.read_bytes()  # gzip without a timestamp: reproducible


def test_plain_flow_frames_are_accepted(snap, tmp_path):
    flows = snap.flows.collect().head(100)
    text = _read(write_aws_vpc_logs(flows, tmp_path / "f.log", version=3))
    assert text.height == 100 and text["subnet-id"].null_count() == 100


def test_unknown_version_is_refused(snap, tmp_path):
    with pytest.raises(KsegError, match="version 7"):
        write_aws_vpc_logs(snap, tmp_path / "x.log", version=7)


def test_streamed_text_equals_the_snapshot_text(snap, tmp_path):
    from toolkit.demo import stream_aws_vpc_logs

    whole = write_aws_vpc_logs(snap, tmp_path / "whole.log")
    streamed = stream_aws_vpc_logs(CFG, 1, tmp_path / "streamed.log")
    assert streamed.read_bytes() == whole.read_bytes()
