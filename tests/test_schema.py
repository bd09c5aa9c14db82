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
