"""Hubble, GCP VPC, Calico and goflow2 readers on the real samples (and Calico test records)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from toolkit.collect.flows import import_flows
from toolkit.errors import InputError

HUBBLE_COUNTS = {"basic-sample-10-flows.json": 10, "basic-sample-330-dns-flows.json": 330,
                 "basic-sample-348-http-flows.json": 348,
                 "basic-sample-400-icmpv4-flows.json": 18,
                 "basic-sample-400-l7-redirected-flows.json": 400,
                 "basic-sample-400-tcp-flows.json": 400, "basic-sample-400-udp-flows.json": 400,
                 "basic-sample-5-dns-flows.json": 5, "basic-sample-5-http-flows.json": 5}


def _hubble(realdata: Path) -> Path:
    return realdata / "hubble" / "hubble-otel-testdata" / "testdata"


def test_hubble_every_sample(realdata, snap, flows_of):
    folder = _hubble(realdata)
    docs = realdata / "hubble" / "cilium-docs" / "hubble-exporter-doc-example.jsonl"
    summary = import_flows([folder, docs], snap, "hubble")
    assert summary.imported == 1918 and summary.rejected == {}
    df = flows_of(snap)
    counts = dict(df.group_by("source_file").len().iter_rows())
    assert {Path(k).name: v for k, v in counts.items()} == {
        **HUBBLE_COUNTS, "hubble-exporter-doc-example.jsonl": 2}
    assert df["bytes"].null_count() == df.height and df["packets"].null_count() == df.height
    assert df["flow_count"].unique().to_list() == [1]
    verdicts = df.filter(pl.col("source_file").str.ends_with("400-tcp-flows.json"))
    assert verdicts["action"].value_counts().sort("action").rows() == [("allow", 400)]


def test_hubble_first_record(realdata, snap, flows_of):
    path = _hubble(realdata) / "basic-sample-10-flows.json"
    import_flows([path], snap, "hubble")
    row = flows_of(snap).row(0, named=True)
    assert row["start"] == row["end"]
    assert row["start"].isoformat().startswith("2021-06-16T16:52:13.136834")
    assert (row["src_ip"], row["dst_ip"], row["src_port"], row["dst_port"]) == (
        "10.0.2.16", "10.0.2.1", 15020, 42044)
    assert row["tcp_flags"] == 1 + 16  # FIN + ACK
    assert row["is_reply"] is True and row["direction"] == "ingress"
    assert row["src_id_namespace"] == "bookinfo"
    assert row["src_id_pod"] == "reviews-v1-545db77b95-s6jb8"
    assert "app=reviews" in row["src_id_labels"]
    assert row["dst_id_labels"] == ["reserved:host"]
    assert row["observer"] == "gke-ilya-otel-demo-1-ilya-otel-demo-1-6114bb84-zr1l"


def test_hubble_exact_nanoseconds_and_drops(realdata, snap, flows_of):
    docs = realdata / "hubble" / "cilium-docs" / "hubble-exporter-doc-example.jsonl"
    import_flows([docs], snap, "hubble")
    df = flows_of(snap)
    ns = df.select(pl.col("start").dt.epoch("ns"))["start"].to_list()
    expected = pl.Series(["2023-08-21T12:12:13.517394084", "2023-08-21T12:12:18.510175415"]
                         ).str.to_datetime(time_unit="ns").dt.epoch("ns").to_list()
    assert ns == expected
    xwing = df.row(1, named=True)
    assert xwing["action"] == "deny" and xwing["drop_reason"] == "POLICY_DENIED"
    assert (xwing["src_id_pod"], xwing["dst_id_pod"]) == ("xwing", "deathstar-7848d6c4d5-th9v2")
    assert xwing["tcp_flags"] == 2 and xwing["dst_port"] == 80
    assert df.row(0, named=True)["protocol"] == 58 and df.row(0, named=True)["src_port"] is None


def test_hubble_l7_and_numeric_enums(realdata, tmp_path, snap, flows_of):
    dns = (_hubble(realdata) / "basic-sample-5-dns-flows.json").read_text().splitlines()[0]
    record = json.loads(dns)
    record["flow"].update(verdict=2, traffic_direction=2, drop_reason_desc=133,
                          destination_service={"name": "kube-dns", "namespace": "kube-system"},
                          destination_names=["kube-dns.kube-system.svc.cluster.local"],
                          source={**record["flow"]["source"],
                                  "workloads": [{"name": "node-local-dns", "kind": "DaemonSet"}]})
    path = tmp_path / "numeric.json"
    path.write_text(json.dumps(record) + "\n" + json.dumps({"lost_events": {"num": 3}}) + "\n")
    summary = import_flows([path], snap, "hubble")
    assert summary.skipped == {"not-a-flow": 1}
    row = flows_of(snap).row(0, named=True)
    assert (row["action"], row["direction"], row["drop_reason"]) == ("deny", "egress", "133")
    assert row["l7_type"] == "dns" and row["dst_id_service"] == "kube-system/kube-dns"
    assert row["dst_id_names"] == ["kube-dns.kube-system.svc.cluster.local"]
    assert row["src_id_workload"] == "node-local-dns"


def test_gcp_vpc(realdata, snap, flows_of):
    path = realdata / "gcp-vpc-flow-logs" / "beats-gcp-vpcflow-first10.jsonl"
    summary = import_flows([path], snap, "gcp-vpc")
    assert summary.imported == 10
    df = flows_of(snap)
    first = df.row(0, named=True)
    assert (first["src_ip"], first["dst_ip"], first["src_port"], first["dst_port"]) == (
        "10.87.40.76", "203.0.113.12", 5601, 33478)
    assert (first["bytes"], first["packets"], first["reporter"]) == (1776, 7, "src")
    assert first["observer"] == "us-east1-b/kibana"
    assert first["start"].isoformat().startswith("2019-06-14T03:45:37.186193")
    second = df.row(1, named=True)
    assert (second["bytes"], second["reporter"], second["observer"]) == (
        173663, "dst", "us-east1-b/kibana")
    raw = [json.loads(line) for line in path.read_text().splitlines()]
    assert df["bytes"].sum() == sum(int(r["jsonPayload"]["bytes_sent"]) for r in raw)
    assert set(df["reporter"]) == {"src", "dst"} and df["action"].null_count() == 10


def test_gcp_gke_details(tmp_path, snap, flows_of):
    entry = {"jsonPayload": {
        "connection": {"src_ip": "10.8.0.5", "dest_ip": "10.8.1.7", "src_port": 40000,
                       "dest_port": 8080, "protocol": 6},
        "reporter": "DEST", "bytes_sent": "9000000000123", "packets_sent": "12",
        "start_time": "2024-01-01T00:00:00Z", "end_time": "2024-01-01T00:00:05.5Z",
        "src_gke_details": {"cluster": {"cluster_name": "c1"},
                            "pod": {"pod_name": "web-1", "pod_namespace": "shop",
                                    "pod_workload": {"workload_name": "web",
                                                     "workload_type": "DEPLOYMENT"}}},
        "dest_gke_details": {"cluster": {"cluster_name": "c1"},
                             "pod": {"pod_name": "api-2", "pod_namespace": "shop"},
                             "service": [{"service_name": "api", "service_namespace": "shop"}]},
        "dest_instance": {"vm_name": "node-b", "zone": "europe-west1-b"}}}
    path = tmp_path / "gke.json"
    path.write_text(json.dumps([entry]))
    import_flows([path], snap, "gcp-vpc")
    row = flows_of(snap).row(0, named=True)
    assert row["bytes"] == 9000000000123 and row["reporter"] == "dst"
    assert (row["src_id_namespace"], row["src_id_pod"], row["src_id_workload"]) == (
        "shop", "web-1", "web")
    assert (row["dst_id_pod"], row["dst_id_service"]) == ("api-2", "shop/api")
    assert row["observer"] == "europe-west1-b/node-b"
    assert row["end"] == datetime(2024, 1, 1, 0, 0, 5, 500000, tzinfo=UTC)


def test_calico(calico_data, snap, flows_of):
    summary = import_flows([calico_data], snap, "calico")
    assert summary.records_read == 4 and summary.rejected == {}
    df = flows_of(snap)
    # record 1 (deny, reporter dst): bytes_in 360 is what the destination received
    deny = df.filter(pl.col("source_record") == 1)
    assert deny.height == 1
    row = deny.row(0, named=True)
    assert (row["src_ip"], row["dst_ip"], row["dst_port"], row["protocol"]) == (
        "10.48.116.157", "10.48.127.224", 5050, 6)
    assert (row["bytes"], row["packets"], row["action"], row["reporter"]) == (360, 6, "deny",
                                                                              "dst")
    assert "hipstershop/app-hipstershop.checkoutservice" in row["drop_reason"]
    assert row["dst_id_workload"] == "checkoutservice-598d5b586d-*"
    assert row["dst_id_pod"] == "checkoutservice-598d5b586d-wsvmz"
    assert row["start"] == datetime.fromtimestamp(1722787860, UTC)
    # records 2 (src) and 3 (dst): the same connections seen from both sides
    for number, reporter in ((2, "src"), (3, "dst")):
        part = df.filter(pl.col("source_record") == number).sort("is_reply")
        assert part["bytes"].to_list() == [5000, 150000]
        assert part["packets"].to_list() == [40, 120]
        assert part["flow_count"].to_list() == [3, 0]
        assert part["src_ip"].to_list() == ["0.0.0.0", "0.0.0.0"]
        assert part["src_id_workload"].to_list() == ["frontend-5d8f7b9c6d-*",
                                                     "cartservice-6b7c8d9e0f-*"]
        assert part["dst_id_service"].to_list() == ["hipstershop/cartservice", None]
        assert set(part["reporter"]) == {reporter}
    dns = df.filter(pl.col("source_record") == 4)
    assert dns.height == 1 and dns.row(0, named=True)["protocol"] == 17
    assert dns.row(0, named=True)["dst_id_workload"] == "pub"
    assert df.filter(~pl.col("is_reply"))["flow_count"].sum() == 1 + 3 + 3 + 1


def test_goflow2_keeps_nanoseconds(realdata, tmp_path, snap, flows_of):
    path = realdata / "goflow2" / "goflow2-readme-default-json-output.json"
    import_flows([path], snap, "goflow2")
    row = flows_of(snap).row(0, named=True)
    assert (row["src_ip"], row["dst_ip"], row["protocol"], row["bytes"], row["packets"]) == (
        "fd01::1", "fd01::2", 6, 1500, 1)
    assert (row["src_port"], row["dst_port"], row["observer"]) == (443, 50001, "192.168.0.1")
    big = 1681583295157626001  # beyond 2**53: a float would round it
    assert float(big) != big
    line = {"type": "IPFIX", "time_flow_start_ns": big, "time_flow_end_ns": big + 1,
            "src_addr": "10.0.0.1", "dst_addr": "10.0.0.2", "proto": 17, "bytes": 10,
            "packets": 1, "sampling_rate": 100, "src_port": 5353, "dst_port": 53}
    other = tmp_path / "ipfix.json"
    other.write_text(json.dumps(line) + "\n")
    import_flows([other], snap, "goflow2")
    df = flows_of(snap).filter(pl.col("source_file") == str(other))
    assert df.select(pl.col("start").dt.epoch("ns")).item() == big
    assert df.select(pl.col("end").dt.epoch("ns")).item() == big + 1
    assert df["bytes"].item() == 10  # raw sampled count, not scaled by sampling_rate


def test_goflow2_counter_sample_is_not_a_flow(realdata, snap):
    path = realdata / "goflow2" / "goflow2-docs-raw-producer-sflow-counter.json"
    with pytest.raises(InputError, match="no usable goflow2 record"):
        import_flows([path], snap, "goflow2")


def test_calico_bad_records_are_rejected_with_line_numbers(calico_data, tmp_path, snap):
    lines = calico_data.read_text().splitlines()
    broken = json.loads(lines[0])
    broken["start_time"] = "yesterday"
    path = tmp_path / "flows.log"
    path.write_text("\n".join([lines[0], "{not json", json.dumps(broken), lines[3]]) + "\n")
    summary = import_flows([path], snap, "calico")
    assert summary.rejected == {"bad-json": 1, "bad-record": 1}
    rejects = pl.read_ndjson(snap / summary.rejects_file).sort("source_record")
    assert rejects["source_record"].to_list() == [2, 3]
    assert "ValueError" in rejects["detail"][1]
    assert summary.imported == 2  # records 1 and 4 (neither has reply-direction bytes)
