"""Tuple rows of the high-volume kinds and the frames built from them (the fast path)."""

from __future__ import annotations

import fakeapi
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from toolkit import schema
from toolkit.collect.k8s import bulk, capture
from toolkit.collect.k8s import normalise as nm
from toolkit.collect.k8s.live import Lister

_TEXT = st.text(alphabet="abc-.09/", min_size=1, max_size=6)
_PORT = st.one_of(st.integers(0, 65535), st.sampled_from(["80", None, True]))
_CONTAINER = st.fixed_dictionaries({"name": st.one_of(_TEXT, st.none()), "image": _TEXT}, optional={
    "ports": st.lists(st.fixed_dictionaries({"containerPort": _PORT}, optional={
        "name": _TEXT, "protocol": st.sampled_from(["TCP", "UDP", None])}), max_size=2)})
_POD = st.fixed_dictionaries({
    "kind": st.just("Pod"),
    "metadata": st.fixed_dictionaries({"name": _TEXT}, optional={
        "namespace": st.one_of(_TEXT, st.just("")), "uid": _TEXT,
        "labels": st.dictionaries(_TEXT, st.one_of(_TEXT, st.none()), max_size=3),
        "creationTimestamp": st.sampled_from(["2024-05-01T10:00:00Z",
                                              "2024-05-01T12:00:00+02:00", None]),
        "ownerReferences": st.lists(st.fixed_dictionaries({"name": _TEXT}, optional={
            "kind": st.sampled_from(["ReplicaSet", "Job"]), "controller": st.booleans()}),
            max_size=2)}),
    "spec": st.fixed_dictionaries({}, optional={
        "containers": st.lists(_CONTAINER, max_size=2),
        "initContainers": st.lists(_CONTAINER, max_size=1), "hostNetwork": st.booleans(),
        "nodeName": _TEXT, "serviceAccountName": _TEXT}),
    "status": st.fixed_dictionaries({}, optional={
        "podIP": st.sampled_from(["10.0.0.1", "010.0.0.2", "FD00::1", "bad"]),
        "podIPs": st.lists(st.fixed_dictionaries({"ip": st.sampled_from(
            ["10.0.0.1", "10.0.0.3", "fd00::1", "FD00:0::2", "x"])}), max_size=2),
        "hostIP": st.just("192.168.0.1"), "phase": st.sampled_from(["Running", "Pending"])}),
})


def _frame_both_ways(rows: list[tuple], table: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    names = schema.table(table).names
    return (capture.frame_tuples(rows, table),
            capture.frame([dict(zip(names, row, strict=True)) for row in rows], table))


@settings(max_examples=150, deadline=None)
@given(st.lists(_POD, min_size=1, max_size=5))
def test_pod_tuples_frame_like_dict_rows(pods: list[dict]) -> None:
    rows = [row for obj in pods for row in bulk.pod_tuples(obj, "live")]
    assert [dict(zip(bulk.POD_COLUMNS, r, strict=True)) for r in rows] == [
        row for obj in pods for row in nm.pod(obj, "live")]
    fast, reference = _frame_both_ways(rows, "pods")
    assert_frame_equal(fast, reference)


def test_sample_cluster_tuples_frame_like_dict_rows() -> None:
    for obj in fakeapi.sample_objects(pods=30, per_deployment=3, namespaces=2):
        spec = nm.KINDS[obj["kind"]]
        rows = spec.tuples(obj, "live")
        assert len(rows[0]) == len(schema.table(spec.table).names)
        fast, reference = _frame_both_ways(rows, spec.table)
        assert_frame_equal(fast, reference)


def test_values_arrow_rejects_fall_back_to_the_tolerant_path() -> None:
    obj = {"kind": "Pod", "metadata": {"name": "p", "namespace": "a"},
           "status": {"podIP": "10.0.0.1", "phase": 7}}  # a number where text is expected
    rows = bulk.pod_tuples(obj)
    fast, reference = _frame_both_ways(rows, "pods")
    assert_frame_equal(fast, reference)
    assert fast["phase"].to_list() == ["7"]


def test_duplicates_are_still_dropped_with_a_warning() -> None:
    objects = fakeapi.sample_objects(pods=4, per_deployment=2, namespaces=1)
    cap = capture.Capture()
    for obj in objects + [o for o in objects if o["kind"] == "Pod"]:
        cap.add(obj, "live")
    tables = cap.tables()
    assert tables["pods"].height == 4
    assert any("4 duplicate pods" in w for w in cap.summary()["warnings"])


def test_error_bodies_that_are_not_status_objects() -> None:
    assert "HTTP 500 [1, 2]" in str(Lister._error(500, b"[1, 2]", "list pods"))
    assert "HTTP 502 <html>" in str(Lister._error(502, b"<html>", "list pods"))


def test_add_items_equals_add_per_object() -> None:
    objects = fakeapi.sample_objects(pods=20, per_deployment=4, namespaces=2)
    objects += [{"kind": "Secret", "metadata": {"name": "s", "namespace": "ns0"}},
                {"kind": "EndpointSlice", "metadata": {"name": "empty", "namespace": "ns1"},
                 "addressType": "IPv4", "endpoints": []}]
    one, many = capture.Capture(keep_templates=False), capture.Capture(keep_templates=False)
    for obj in objects:
        one.add(obj, "live")
    for kind in {o["kind"] for o in objects}:
        items = [{k: v for k, v in o.items() if k != "kind"} for o in objects if o["kind"] == kind]
        many.add_items(items, nm.KINDS.get(kind) or nm.KindSpec(kind, "pods", nm.pod, "", "v1",
                                                                  "secrets"), "live")
    assert one.summary() == many.summary()
    assert (one.scope, one.slice_services) == (many.scope, many.slice_services)
    for name, table in one.tables().items():
        assert_frame_equal(table, many.tables()[name])
