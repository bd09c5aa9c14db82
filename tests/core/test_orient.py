"""Orientation rules and as_recorded."""

from __future__ import annotations

import polars as pl

from toolkit.core import resolve_flows


def _by_name(snap, **kw) -> dict[str, dict]:
    frame = resolve_flows(snap, **kw).collect()
    return {r["l7_type"]: r for r in frame.to_dicts()}


def test_reply_from_service_backend_is_swapped_by_endpoint_rule(mini):
    row = _by_name(mini)["reply-from-api"]
    assert row["swapped"] and row["orientation"] == "endpoint"
    assert (row["src_pod"], row["dst_pod"], row["dst_port"], row["src_port"]) == (
        "web-1", "api-1", 9000, 40001)


def test_tcp_flags_port_and_unoriented(mini):
    rows = _by_name(mini)
    assert rows["synack"]["orientation"] == "tcp-flags" and rows["synack"]["swapped"]
    assert rows["synack"]["src_pod"] == "web-1"
    assert rows["to-internet"]["orientation"] == "port"
    assert rows["icmp"]["orientation"] == "unoriented" and not rows["icmp"]["swapped"]


def test_is_reply_from_the_source_decides_before_ports(kit):
    flows = kit.flows_frame([("x", 1, "8.8.8.8", 53, kit.WEB, 40000, 17, None, 5)])
    flows = flows.with_columns(pl.lit(False).alias("is_reply"))
    row = resolve_flows(kit.mini_snapshot(flows)).collect().row(0, named=True)
    assert row["orientation"] == "tcp-flags" and not row["swapped"]
    assert row["src_kind"] == "external-public"


def test_lower_port_is_the_server_when_nothing_else_decides(kit):
    flows = kit.flows_frame([("x", 1, kit.WEB, 2000, "8.8.8.8", 60000, 17, None, 5)])
    row = resolve_flows(kit.mini_snapshot(flows)).collect().row(0, named=True)
    assert row["orientation"] == "port" and row["swapped"]
    assert (row["src_ip"], row["dst_ip"], row["dst_port"]) == ("8.8.8.8", kit.WEB, 2000)


def test_as_recorded_turns_orientation_off(mini):
    rows = _by_name(mini, as_recorded=True)
    assert {r["orientation"] for r in rows.values()} == {"as-recorded"}
    assert not any(r["swapped"] for r in rows.values())
    assert rows["reply-from-api"]["src_pod"] == "api-1"
