"""Segment strategies: every pod in exactly one segment."""

from __future__ import annotations

import polars as pl
import pytest

from toolkit.core import segment_membership
from toolkit.errors import InputError, KsegError

STRATEGIES = ["namespace", "workload", "label:app", "label:app.kubernetes.io/name", "illumio"]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_pod_in_exactly_one_segment(mini, strategy):
    frame = segment_membership(mini, strategy)
    pods = mini.pods.select("uid").unique().collect()
    assert sorted(frame["pod_uid"]) == sorted(pods["uid"])
    assert frame["segment"].null_count() == 0


def test_label_strategy_reports_missing_labels(mini):
    frame = segment_membership(mini, "label:app")
    missing = frame.filter(~pl.col("matched"))
    assert missing["pod"].to_list() == ["node-exporter-a"]
    assert missing["segment"].to_list() == ["no-app"]


def test_illumio_mapping_is_configurable(mini):
    frame = segment_membership(mini, "illumio", mapping={"environment": ["env"]})
    pay = frame.filter(pl.col("pod") == "pay-1").row(0, named=True)
    assert pay["segment"] == "A=pay|E=prod|R=-|L=-"
    web = frame.filter(pl.col("pod") == "web-1").row(0, named=True)
    assert web["role"] == "front"
    with pytest.raises(KsegError, match="Illumio"):
        segment_membership(mini, "illumio", mapping={"colour": ["c"]})


def test_rules_file_first_match_wins(mini, tmp_path):
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "fallback: rest\n"
        "rules:\n"
        "  - segment: front\n    matchLabels: {tier: front}\n"
        "  - segment: shop-backend\n    namespaces: [shop]\n"
        "  - segment: prod\n    matchExpressions: [{key: env, operator: In, values: [prod]}]\n")
    frame = segment_membership(mini, f"rules:{rules}")
    seg = dict(zip(frame["pod"], frame["segment"], strict=True))
    assert seg == {"web-1": "front", "api-1": "shop-backend", "db-0": "shop-backend",
                   "v6-1": "shop-backend", "pay-1": "prod", "node-exporter-a": "rest"}
    assert frame.filter(pl.col("pod") == "node-exporter-a")["matched"].to_list() == [False]


@pytest.mark.parametrize(("text", "match"), [
    ("rules: [{matchLabels: {a: b}}]", "segment"),
    ("rules: [{segment: x, matchExpressions: [{key: a, operator: Near}]}]", "operator"),
    ("rules: [{segment: x, colour: red}]", "unknown keys"),
    ("rules: {segment: x}", "'rules' list"),
    ("rules: [a, {b", "invalid YAML"),
])
def test_rules_file_errors_name_file_and_field(mini, tmp_path, text, match):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=match) as info:
        segment_membership(mini, f"rules:{path}")
    assert str(path) in str(info.value)


def test_unknown_strategy_and_missing_file(mini, tmp_path):
    with pytest.raises(KsegError, match="unknown segment strategy"):
        segment_membership(mini, "colour")
    with pytest.raises(InputError, match="cannot read"):
        segment_membership(mini, f"rules:{tmp_path / 'none.yaml'}")
