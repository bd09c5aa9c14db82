"""Parsing policies into rule tables, label selectors, and port-interval algebra."""

from __future__ import annotations

import itertools
import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.errors import InputError
from toolkit.policy.intervals import conn_text, intersect, merge
from toolkit.policy.model import parse_policies
from toolkit.policy.selectors import label_columns, selector_expr


def _row(spec: dict, types: list[str] | None = None, name: str = "p") -> dict:
    return {"namespace": "ns", "name": name, "pod_selector": "{}",
            "policy_types": types or [], "spec": json.dumps(spec)}


def _model(*rows: dict):
    return parse_policies(pl.DataFrame(list(rows)))


def test_rule_tables_shape():
    spec = {"podSelector": {"matchLabels": {"app": "db"}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": [{"podSelector": {}, "namespaceSelector": {}},
                                  {"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                         "ports": [{"port": "pg"}, {"port": 80, "endPort": 90,
                                                    "protocol": "UDP"}]}],
            "egress": [{}]}
    m = _model(_row(spec, ["Ingress", "Egress"]))
    assert m.policies.select("ingress", "egress").row(0) == (True, True)
    assert m.peers["kind"].to_list() == ["both", "ipblock", "all"]
    assert m.peers.filter(pl.col("kind") == "ipblock")["except"].to_list() == [["10.1.0.0/16"]]
    ingress = m.ports.filter(pl.col("direction") == "ingress")
    assert ingress.select("protocol", "port_lo", "port_hi", "port_name").rows() == [
        (6, None, None, "pg"), (17, 80, 90, None)]
    egress = m.ports.filter(pl.col("direction") == "egress")
    assert sorted(egress["protocol"].to_list()) == [0, 6, 17, 132]  # no ports: everything


def test_policy_types_default_when_absent():
    m = _model(_row({"podSelector": {}, "egress": [{}]}, name="a"),
               _row({"podSelector": {}}, name="b"))
    assert m.policies.select("name", "ingress", "egress").rows() == [
        ("a", True, True), ("b", True, False)]


def test_rules_of_undeclared_type_are_ignored():
    m = _model(_row({"podSelector": {}, "egress": [{}]}, ["Ingress"]))
    assert m.peers.height == 0 and m.policies["egress"].to_list() == [False]


@pytest.mark.parametrize(("spec", "field"), [
    ({"ingress": [{"ports": [{"protocol": "ICMP"}]}]}, "protocol"),
    ({"ingress": [{"ports": [{"port": 70000}]}]}, "port"),
    ({"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]}, "port"),
    ({"ingress": [{"from": [{"ipBlock": {"cidr": "not-a-cidr"}}]}]}, "cidr"),
    ({"ingress": [{"from": [{}]}]}, "from[0]"),
    ({"ingress": "all"}, "spec.ingress"),
])
def test_bad_specs_name_policy_and_field(spec, field):
    with pytest.raises(InputError) as err:
        _model(_row(spec, ["Ingress"]))
    assert "NetworkPolicy ns/p" in str(err.value) and field in str(err.value)


def test_bad_selector_operator_is_an_input_error():
    with pytest.raises(InputError, match="unknown selector operator"):
        selector_expr({"matchExpressions": [{"key": "a", "operator": "Has"}]}, "kv", "keys")


LABEL = st.sampled_from(["a", "b", "c"])
LABELS = st.dictionaries(LABEL, st.sampled_from(["x", "y"]), max_size=3)
REQ = st.fixed_dictionaries({"key": LABEL,
                             "operator": st.sampled_from(["In", "NotIn", "Exists",
                                                          "DoesNotExist"]),
                             "values": st.lists(st.sampled_from(["x", "y"]), min_size=1,
                                                max_size=2)})
SELECTOR = st.fixed_dictionaries({}, optional={"matchLabels": LABELS,
                                               "matchExpressions": st.lists(REQ, max_size=3)})


def _reference(selector: dict, labels: dict) -> bool:
    """The API's selector semantics, written plainly."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for req in selector.get("matchExpressions") or []:
        key, op, values = req["key"], req["operator"], req["values"]
        ok = {"In": key in labels and labels[key] in values,
              "NotIn": not (key in labels and labels[key] in values),
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


@settings(max_examples=40, deadline=None)
@given(SELECTOR, st.lists(LABELS, min_size=1, max_size=6))
def test_selector_matches_reference_semantics(selector, label_sets):
    frame = pl.DataFrame({"labels": [[{"key": k, "value": v} for k, v in sorted(ls.items())]
                                     for ls in label_sets]},
                         schema={"labels": pl.List(pl.Struct({"key": pl.String,
                                                              "value": pl.String}))})
    frame = frame.with_columns(label_columns(pl.col("labels"), "kv", "keys"))
    got = frame.with_columns(selector_expr(selector, "kv", "keys").alias("m"))["m"].to_list()
    assert got == [_reference(selector, ls) for ls in label_sets]


INTERVAL = st.tuples(st.integers(0, 40), st.integers(0, 10)).map(lambda t: (t[0], t[0] + t[1]))


def _frame(intervals: list[tuple[int, int]]) -> pl.DataFrame:
    return pl.DataFrame({"k": [1] * len(intervals), "protocol": [6] * len(intervals),
                         "port_lo": [a for a, _ in intervals],
                         "port_hi": [b for _, b in intervals]},
                        schema={"k": pl.Int32, "protocol": pl.Int32, "port_lo": pl.Int32,
                                "port_hi": pl.Int32})


def _points(frame: pl.DataFrame) -> set[int]:
    return {p for lo, hi in frame.select("port_lo", "port_hi").rows() for p in range(lo, hi + 1)}


@settings(max_examples=40, deadline=None)
@given(st.lists(INTERVAL, max_size=6), st.lists(INTERVAL, max_size=6))
def test_merge_and_intersect_are_set_operations(left, right):
    a, b = merge(_frame(left), ["k"]).collect(), merge(_frame(right), ["k"]).collect()
    assert _points(a) == _points(_frame(left))
    spans = sorted(a.select("port_lo", "port_hi").rows())
    assert all(prev[1] + 1 < nxt[0] for prev, nxt in itertools.pairwise(spans))  # disjoint, apart
    both = intersect(a.lazy(), b.lazy(), ["k"]).collect()
    assert _points(both) == _points(_frame(left)) & _points(_frame(right))


def test_conn_text_np_guard_notation():
    rows = pl.DataFrame({"k": [1, 1, 1, 1, 2, 2, 2, 2], "protocol": [6, 6, 17, 132, 6, 17, 132, 0],
                         "port_lo": [80, 8080, 53, 0, 0, 0, 0, 0],
                         "port_hi": [80, 8090, 53, 65535, 65535, 65535, 65535, 65535]})
    text = dict(conn_text(rows, ["k"]).rows())
    assert text == {1: "SCTP 1-65535,TCP 80,8080-8090,UDP 53", 2: "All Connections"}
