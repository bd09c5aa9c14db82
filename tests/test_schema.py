"""The schema module: declarations, checks and conformance."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from toolkit import schema
from toolkit.errors import SchemaError


def test_every_table_has_documented_columns():
    for tbl in schema.TABLES.values():
        assert tbl.doc
        assert len(set(tbl.names)) == len(tbl.names), f"duplicate column in {tbl.name}"
        for col in tbl.columns:
            assert col.doc.strip(), f"{tbl.name}.{col.name} has no meaning"
        assert set(tbl.key) <= set(tbl.names)


def test_empty_frames_pass_their_own_check():
    for name, tbl in schema.TABLES.items():
        schema.check_frame(tbl.empty(), name)


def test_conform_adds_nullable_columns_and_casts():
    raw = pl.DataFrame({"start": [datetime(2026, 1, 1, tzinfo=UTC)],
                        "end": [datetime(2026, 1, 1, 0, 1, tzinfo=UTC)],
                        "src_ip": ["10.0.0.1"], "dst_ip": ["fd00::2"], "dst_port": [443],
                        "protocol": [6], "bytes": [100], "flow_count": [1], "format": ["csv"]})
    flows = schema.conform(raw, "flows")
    assert flows.columns == schema.FLOWS.names
    assert flows.schema["protocol"] == pl.UInt8
    assert flows.schema["start"] == schema.TIME
    assert flows["src_port"].null_count() == 1
    schema.check_frame(flows, "flows")


def test_conform_rejects_missing_required_and_unknown_columns():
    with pytest.raises(SchemaError, match="missing required columns"):
        schema.conform(pl.DataFrame({"src_ip": ["10.0.0.1"]}), "flows")
    frame = schema.NAMESPACES.empty().with_columns(pl.lit("x").alias("typo"))
    with pytest.raises(SchemaError, match="unknown columns"):
        schema.conform(frame, "namespaces")


def test_check_lazy_reports_every_mismatch_without_reading():
    lazy = pl.LazyFrame(schema={"name": pl.Int64, "labels": schema.LABELS})
    with pytest.raises(SchemaError) as err:
        schema.check_lazy(lazy, "namespaces", where="here.parquet")
    text = str(err.value)
    assert "column 'name' is Int64" in text and "missing column 'uid'" in text
    assert "here.parquet" in text


def test_check_frame_carries_failing_rows():
    frame = schema.conform(pl.DataFrame({"name": ["a", None], "labels": [[], []]},
                                        schema_overrides={"labels": schema.LABELS}),
                           "namespaces")
    with pytest.raises(SchemaError) as err:
        schema.check_frame(frame, "namespaces")
    assert err.value.column == "name"
    assert err.value.rows.height == 1


def test_unknown_table_is_a_clear_error():
    with pytest.raises(SchemaError, match="unknown table 'podz'"):
        schema.table("podz")


def test_ipv6_and_ipv4_share_the_ip_columns():
    assert schema.FLOWS.column("src_ip").dtype == pl.String
    assert schema.PODS.column("ip").dtype == pl.String


def test_partial_files_read_back_in_the_declared_shape(tmp_path):
    """Flow parts may leave out nullable columns; scan_parquet fills them by name."""
    full = schema.conform(pl.DataFrame({
        "start": [datetime(2026, 1, 1, tzinfo=UTC)], "end": [datetime(2026, 1, 1, tzinfo=UTC)],
        "src_ip": ["10.0.0.1"], "dst_ip": ["10.0.0.2"], "bytes": [7], "flow_count": [1],
        "format": ["csv"], "src_id_pod": ["web-1"]}), "flows")
    slim = schema.without_null_columns(full, "flows")
    assert "src_id_pod" in slim.columns and "dst_port" not in slim.columns
    assert {"start", "src_ip", "format"} <= set(slim.columns)
    schema.check_lazy(slim, "flows", partial=True)
    with pytest.raises(SchemaError, match="missing column 'dst_port'"):
        schema.check_lazy(slim, "flows")
    with pytest.raises(SchemaError, match="missing column 'src_ip'"):
        schema.check_lazy(slim.drop("src_ip"), "flows", partial=True)
    # a second file with other columns, in another order
    other = full.with_columns(pl.lit(443, pl.Int32).alias("dst_port"),
                              pl.lit(None, pl.String).alias("src_id_pod"))
    other = schema.without_null_columns(other, "flows").select(pl.all().reverse())
    slim.write_parquet(tmp_path / "a.parquet")
    other.write_parquet(tmp_path / "b.parquet")
    read = schema.scan_parquet([tmp_path / "a.parquet", tmp_path / "b.parquet"], "flows")
    assert read.collect_schema() == schema.FLOWS.polars_schema
    back = read.collect()
    assert back["dst_port"].to_list() == [None, 443]
    assert back["src_id_pod"].to_list() == ["web-1", None]
    assert back["bytes"].to_list() == [7, 7]
    assert read.select("src_id_pod").collect().height == 2  # projection of a filled column
    assert schema.scan_parquet([], "flows").collect().height == 0


def test_conform_can_leave_absent_columns_out():
    lazy = pl.LazyFrame({"start": [datetime(2026, 1, 1, tzinfo=UTC)],
                         "end": [datetime(2026, 1, 1, tzinfo=UTC)], "src_ip": ["10.0.0.1"],
                         "dst_ip": ["10.0.0.2"], "dst_port": [443], "flow_count": [1],
                         "format": ["x"]})
    out = schema.conform(lazy, "flows", omit_absent=True)
    names = out.collect_schema().names()
    assert names == [c for c in schema.FLOWS.names if c in names]
    assert out.collect_schema()["dst_port"] == pl.Int32 and "bytes" not in names
