"""Merging a later capture: IP ownership intervals, no duplicates, scope-limited closing."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path

import fakeapi
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from toolkit import schema
from toolkit.collect.k8s import merge, normalise_objects
from toolkit.collect.k8s.capture import Capture
from toolkit.snapshot import load_snapshot, write_snapshot

T1 = datetime(2024, 5, 1, 12, tzinfo=UTC)
T2 = datetime(2024, 5, 1, 13, tzinfo=UTC)


def _capture(objects: list[dict]) -> tuple[object, set]:
    capture = Capture()
    for obj in objects:
        capture.add(obj, "kubectl-json")
    return capture, capture.scope


def test_later_capture_closes_and_opens_intervals(tmp_path: Path) -> None:
    first = fakeapi.sample_objects(pods=8, per_deployment=2)  # app0..app3 in ns0/ns1
    write_snapshot(normalise_objects(first, captured_at=T1), tmp_path / "s")
    second = copy.deepcopy(first)
    pods = [o for o in second if o["kind"] == "Pod"]
    gone = pods[0]
    second.remove(gone)
    reused = fakeapi._pod("ns0", "replacement", "pod-r", gone["status"]["podIP"], "node0",
                          gone["metadata"]["ownerReferences"][0]["name"], {"app": "app0"})
    reused["status"]["startTime"] = "2024-05-01T12:30:00Z"
    second.append(reused)
    second = [o for o in second if o["kind"] != "Service" or o["metadata"]["name"] != "app1"]
    capture, scope = _capture(second)
    new = capture.snapshot(captured_at=T2)
    assert merge.write_or_merge(new, tmp_path / "s", scope) == "merged into"
    snap = load_snapshot(tmp_path / "s")
    pods_out = snap.pods.collect()
    assert pods_out.height == 9  # 8 + the replacement, nothing duplicated
    old_row = pods_out.filter(pl.col("uid") == gone["metadata"]["uid"]).row(0, named=True)
    assert old_row["valid_to"] == T1  # last seen at the first capture
    same_ip = pods_out.filter(pl.col("ip") == gone["status"]["podIP"]).sort("valid_from")
    assert same_ip["name"].to_list() == [gone["metadata"]["name"], "replacement"]
    kept = pods_out.filter(pl.col("uid") == pods[1]["metadata"]["uid"]).row(0, named=True)
    assert kept["valid_to"] is None
    services = snap.services.collect()
    assert services.filter(pl.col("name") == "app1")["deleted"].to_list() == [T1]
    assert services.filter(pl.col("name") == "app0")["deleted"].to_list() == [None]
    assert services.height == 4  # app1 kept, marked deleted (ns1 services were re-read)
    assert len(snap.sources) == 2 and snap.captured_at == T2


def test_merge_outside_scope_keeps_everything(tmp_path: Path) -> None:
    objects = fakeapi.sample_objects(pods=4, per_deployment=2)
    pods_only = [o for o in objects if o["kind"] == "Pod"]
    services_only = [o for o in objects if o["kind"] == "Service"]
    write_snapshot(normalise_objects(pods_only, captured_at=T1), tmp_path / "s")
    capture, scope = _capture(services_only)
    merge.write_or_merge(capture.snapshot(captured_at=T2), tmp_path / "s", scope)
    snap = load_snapshot(tmp_path / "s")
    assert snap.pods.collect()["valid_to"].is_null().all()
    assert snap.row_counts()["services"] == 2 and snap.row_counts()["pods"] == 4


def test_identical_capture_is_idempotent(tmp_path: Path) -> None:
    objects = fakeapi.sample_objects(pods=6, per_deployment=3)
    base = normalise_objects(objects, captured_at=T1)
    capture, scope = _capture(objects)
    merged = merge.merge_snapshot(base, capture.snapshot(captured_at=T2), scope)
    for name in ("pods", "workloads", "services", "endpoints", "network_policies", "nodes"):
        a = base.table(name).collect().drop("source")
        b = merged.table(name).collect().drop("source")
        assert a.equals(b), name


def test_close_reused_ips_ignores_host_network() -> None:
    node_ip = {"podIP": "192.168.0.1", "startTime": "2024-05-01T10:00:00Z"}
    objs = [{"kind": "Pod", "metadata": {"name": f"h{i}", "namespace": "k", "uid": f"h{i}"},
             "spec": {"hostNetwork": True}, "status": {**node_ip,
                                                       "startTime": f"2024-05-01T1{i}:00:00Z"}}
            for i in range(3)]
    pods = normalise_objects(objs).pods.collect()
    assert pods["valid_to"].is_null().all() and pods["ip"].n_unique() == 1


def test_cluster_wide_capture_closes_pods_of_emptied_namespaces() -> None:
    objects = fakeapi.sample_objects(pods=4, per_deployment=2)
    base = normalise_objects(objects, captured_at=T1)
    survivors = [o for o in objects if o["kind"] != "Pod" or o["metadata"]["namespace"] == "ns0"]
    capture, scope = _capture(survivors)
    scope = scope | {("pods", "")}  # what a live cluster-wide list declares
    merged = merge.merge_snapshot(base, capture.snapshot(captured_at=T2), scope)
    pods = merged.pods.collect()
    assert pods.filter(pl.col("namespace") == "ns1")["valid_to"].to_list() == [T1, T1]
    assert pods.filter(pl.col("namespace") == "ns0")["valid_to"].is_null().all()


def test_close_reused_ips_closes_only_when_an_ip_is_reused() -> None:
    def pod(name: str, ip: str, start: str) -> dict:
        return {"kind": "Pod", "metadata": {"name": name, "namespace": "a", "uid": name},
                "status": {"podIP": ip, "startTime": start}}

    distinct = normalise_objects([pod("p1", "10.0.0.1", "2024-05-01T10:00:00Z"),
                                  pod("p2", "10.0.0.2", "2024-05-01T11:00:00Z")]).pods.collect()
    assert merge.close_reused_ips(distinct).equals(distinct)
    reused = normalise_objects([pod("p1", "10.0.0.1", "2024-05-01T10:00:00Z"),
                                pod("p2", "10.0.0.1", "2024-05-01T11:00:00Z")]).pods.collect()
    closed = merge.close_reused_ips(reused).sort("name")
    assert closed["valid_to"].to_list() == [datetime(2024, 5, 1, 11, tzinfo=UTC), None]


def _close_reused_ips_reference(pods: pl.DataFrame) -> pl.DataFrame:
    """The earlier implementation (copies every column): the narrow one must agree."""
    order = pods.with_row_index("_row")
    shared = (pl.col("ip").is_not_null() & ~pl.col("host_network") & ~pl.col("planned")
              & pl.col("valid_from").is_not_null())
    candidates = order.filter(shared).sort("ip", "valid_from", "_row")
    fixed = candidates.with_columns(_next=pl.col("valid_from").shift(-1).over("ip"),
                                    _next_uid=pl.col("uid").shift(-1).over("ip")).with_columns(
        valid_to=pl.when(pl.col("_next").is_not_null() & (pl.col("_next_uid") != pl.col("uid"))
                         & (pl.col("_next") > pl.col("valid_from"))
                         & (pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("_next"))))
        .then(pl.col("_next")).otherwise(pl.col("valid_to"))).select("_row", "valid_to")
    return (order.join(fixed, on="_row", how="left", suffix="_fixed", maintain_order="left")
            .with_columns(valid_to=pl.coalesce("valid_to_fixed", "valid_to"))
            .drop("_row", "valid_to_fixed"))


_HOUR = st.one_of(st.none(), st.integers(0, 5))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]),
                          st.sampled_from([None, "10.0.0.1", "10.0.0.2"]),
                          st.booleans(), st.booleans(), _HOUR, _HOUR), max_size=8))
def test_close_reused_ips_agrees_with_the_full_copy_version(rows: list[tuple]) -> None:
    def at(hour: int | None) -> datetime | None:
        return None if hour is None else datetime(2024, 5, 1, hour, tzinfo=UTC)

    pods = schema.conform(pl.DataFrame(
        {"namespace": ["a"] * len(rows), "name": [f"p{i}" for i in range(len(rows))],
         "uid": [r[0] for r in rows], "ip": [r[1] for r in rows],
         "host_network": [r[2] for r in rows], "planned": [r[3] for r in rows],
         "valid_from": [at(r[4]) for r in rows], "valid_to": [at(r[5]) for r in rows],
         "labels": [[]] * len(rows), "workload_kind": ["Pod"] * len(rows),
         "workload_name": ["w"] * len(rows), "container_ports": [[]] * len(rows),
         "images": [[]] * len(rows)},
        schema_overrides={"valid_from": schema.TIME, "valid_to": schema.TIME, "ip": pl.String,
                          **{c: schema.PODS.polars_schema[c]
                             for c in ("labels", "container_ports", "images")}}), "pods")
    assert_frame_equal(merge.close_reused_ips(pods), _close_reused_ips_reference(pods))
