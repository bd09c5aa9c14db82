"""Batch summaries: inventory sizes, policy isolation, flow figures per snapshot."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit import schema
from toolkit.core.batch import batch_summary, inventory_sizes, pod_isolation
from toolkit.errors import SnapshotError
from toolkit.snapshot import Snapshot, load_snapshot


def _labels(**kv: str) -> list[dict]:
    return [{"key": k, "value": v} for k, v in sorted(kv.items())]


def _pods(*rows: tuple[str, str, dict, bool]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"namespace": ns, "name": name, "uid": f"u-{ns}-{name}", "ip": None,
          "host_network": host, "labels": _labels(**labels), "workload_kind": "Deployment",
          "workload_name": name.rsplit("-", 1)[0], "container_ports": [], "images": [],
          "planned": False} for ns, name, labels, host in rows],
        schema_overrides={"labels": schema.LABELS})


def _policies(*rows: tuple[str, str, dict, list[str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"namespace": ns, "name": name, "labels": [], "pod_selector": json.dumps(sel),
          "policy_types": types, "spec": json.dumps({"podSelector": sel})}
         for ns, name, sel, types in rows],
        schema={"namespace": pl.String, "name": pl.String, "labels": schema.LABELS,
                "pod_selector": pl.String, "policy_types": pl.List(pl.String),
                "spec": pl.String})


PODS = _pods(("shop", "web-1", {"app": "web", "tier": "front"}, False),
             ("shop", "db-1", {"app": "db"}, False),
             ("shop", "exporter-1", {"app": "exporter"}, True),
             ("pay", "pay-1", {"app": "pay"}, False),
             ("ops", "tool-1", {}, False))


def test_isolation_follows_namespace_selector_and_policy_types():
    pols = _policies(
        ("shop", "web-in", {"matchLabels": {"app": "web"}}, ["Ingress"]),
        ("shop", "deny-all", {}, ["Egress"]),
        ("pay", "pay", {"matchExpressions": [{"key": "app", "operator": "In",
                                              "values": ["pay", "x"]}]}, ["Ingress", "Egress"]),
        ("other", "web-elsewhere", {}, ["Ingress"]),   # other namespace: selects nothing here
    )
    iso = pod_isolation(Snapshot.from_frames(pods=PODS, network_policies=pols))
    got = {r["name"]: (r["isolated_ingress"], r["isolated_egress"])
           for r in iso.iter_rows(named=True)}
    assert got == {"web-1": (True, True), "db-1": (False, True),
                   "exporter-1": (False, False),  # hostNetwork: policies do not apply
                   "pay-1": (True, True), "tool-1": (False, False)}


def test_inventory_sizes_count_objects_and_isolation_percentages():
    pols = _policies(("shop", "deny-in", {}, ["Ingress"]))
    sizes = inventory_sizes(Snapshot.from_frames(pods=PODS, network_policies=pols))
    assert sizes["pods"] == 5
    assert sizes["network_policies"] == 1
    assert sizes["pods_isolated_ingress"] == 2 and sizes["pods_isolated_egress"] == 0
    assert sizes["pct_isolated_ingress"] == pytest.approx(100 * 2 / 4)  # 4 pod-network pods


def test_a_broken_selector_names_the_policy():
    pols = _policies(("shop", "bad", {}, ["Ingress"])).with_columns(
        pod_selector=pl.lit("{not json"))
    with pytest.raises(SnapshotError, match="shop/bad"):
        pod_isolation(Snapshot.from_frames(pods=PODS, network_policies=pols))


_VALUES = st.sampled_from(["a", "b", "c"])
_LABELSETS = st.dictionaries(st.sampled_from(["app", "tier", "env"]), _VALUES, max_size=3)
_EXPR = st.fixed_dictionaries({
    "key": st.sampled_from(["app", "tier", "env"]),
    "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
    "values": st.lists(_VALUES, min_size=1, max_size=2)})


def _matches(sel: dict, labels: dict) -> bool:
    """Reference semantics of a LabelSelector, written independently of the polars code."""
    if any(labels.get(k) != v for k, v in sel.get("matchLabels", {}).items()):
        return False
    for req in sel.get("matchExpressions", []):
        key, op, vals = req["key"], req["operator"], req["values"]
        ok = {"In": key in labels and labels[key] in vals,
              "NotIn": key not in labels or labels[key] not in vals,
              "Exists": key in labels, "DoesNotExist": key not in labels}[op]
        if not ok:
            return False
    return True


@settings(max_examples=60, deadline=None)
@given(labelsets=st.lists(_LABELSETS, min_size=1, max_size=6),
       match_labels=st.dictionaries(st.sampled_from(["app", "tier"]), _VALUES, max_size=2),
       exprs=st.lists(_EXPR, max_size=2))
def test_isolation_matches_reference_selector_semantics(labelsets, match_labels, exprs):
    sel = {"matchLabels": match_labels, "matchExpressions": exprs}
    pods = _pods(*[("ns", f"p-{i}", labels, False) for i, labels in enumerate(labelsets)])
    iso = pod_isolation(Snapshot.from_frames(
        pods=pods, network_policies=_policies(("ns", "p", sel, ["Ingress"]))))
    got = dict(zip(iso["name"], iso["isolated_ingress"], strict=True))
    assert got == {f"p-{i}": _matches(sel, labels) for i, labels in enumerate(labelsets)}


# --- flow figures on the bundled series ------------------------------------------------------

@pytest.fixture(scope="module")
def series(bundled_data):
    days = [bundled_data / f"demo-day{d}" for d in (1, 2, 3)]
    if not all((d / "manifest.json").exists() for d in days):
        pytest.skip("bundled demo snapshots missing (kseg synth --bundled --out data)")
    return days


@pytest.fixture(scope="module")
def summary(series):
    return batch_summary(series)


def test_summary_has_one_row_per_snapshot_in_input_order(series, summary):
    frame = summary.frame
    assert frame["snapshot"].to_list() == [str(p) for p in series]
    assert frame["captured_at"].is_sorted()
    assert frame.schema["captured_at"] == pl.Datetime("ns", "UTC")
    for name in ("pods", "network_policies", "bytes", "edges_workload", "pct_resolved"):
        assert frame[name].null_count() == 0, name
    assert "<table" in summary._repr_html_() and "BatchSummary" in repr(summary)


def test_summary_figures_agree_with_the_flow_matrices(series, summary):
    from toolkit.core import flow_matrix

    snap = load_snapshot(series[1])
    row = summary.frame.row(1, named=True)
    ns = flow_matrix(snap, "namespace", "namespace")
    both = ns.frame.drop_nulls(["src_namespace", "dst_namespace"])
    cross = both.filter(pl.col("src_namespace") != pl.col("dst_namespace"))
    assert row["bytes"] == ns.coverage.bytes == ns.frame["bytes"].sum()
    assert row["cross_ns_bytes_share"] == pytest.approx(
        100 * cross["bytes"].sum() / both["bytes"].sum(), abs=1e-3)
    assert row["edges_namespace"] == both.select("src_namespace", "dst_namespace").n_unique()
    assert row["flow_records"] == snap.manifest["flows"]["rows"]


def test_new_workload_day_shows_in_the_trend(summary):
    frame = summary.frame
    # day 2 adds boutique/shoppingassistantservice, its service and its edges (demo truth)
    assert frame["workloads"][1] == frame["workloads"][0] + 1
    assert frame["services"][1] == frame["services"][0] + 1
    assert frame["edges_workload"][1] > frame["edges_workload"][0]
    assert summary.trend("bytes").columns == ["cluster", "captured_at", "bytes"]


@pytest.mark.slow  # two analyses per subprocess
def test_cli_batch_writes_the_summary_and_prints_tables(series, summary, tmp_path):
    out = tmp_path / "summary.csv"
    proc = subprocess.run([sys.executable, "-m", "toolkit", "batch", *map(str, series),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "inventory and policy coverage" in proc.stdout and "demo-day3" in proc.stdout
    written = pl.read_csv(out, try_parse_dates=True)
    assert written.height == 3
    assert written["bytes"].to_list() == summary.frame["bytes"].to_list()


def test_cli_batch_refuses_a_bad_output_name(series, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "toolkit", "batch", str(series[0]),
                           "--out", str(tmp_path / "x.txt")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
