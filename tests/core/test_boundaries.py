"""Candidate segment boundaries from traffic (toolkit.core.boundaries): planted segments of the
demo generator are recovered, shared services are set apart, scores and stability behave."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from toolkit.core.boundaries import propose_boundaries, shared_services
from toolkit.core.boundaries_score import adjusted_rand
from toolkit.errors import KsegError

demo = pytest.importorskip("toolkit.demo")

STRAY = ("social-network/user-timeline-service", "boutique/redis-cart")


@pytest.fixture(scope="module")
def day1():
    return demo.generate_snapshot(demo.DemoConfig(seed=7, flows_per_day=20_000), day=1)


@pytest.fixture(scope="module")
def result(day1):
    return propose_boundaries(day1)


@pytest.fixture(scope="module")
def truth():
    return demo.demo_truth(demo.DemoConfig(seed=7))


def segment_of(result, candidate: str) -> dict[str, str]:
    frame = result.membership(candidate)
    return {f"{r['namespace']}/{r['workload']}": r["segment"] for r in frame.iter_rows(named=True)}


def test_shared_infrastructure_is_set_apart(result) -> None:
    shared = {f"{r['namespace']}/{r['workload']}" for r in result.shared.iter_rows(named=True)}
    assert {"kube-system/coredns", "databases/postgres", "monitoring/prometheus-k8s",
            "ingress-nginx/ingress-nginx-controller"} <= shared
    # an application service scraped by Prometheus and called by its own front end is not shared
    assert "sock-back/catalogue" not in shared and "boutique/redis-cart" not in shared
    for cand in result.memberships:
        members = result.membership(cand)
        assert members.filter(pl.col("shared")).height == result.shared.height


@pytest.mark.parametrize("candidate", ["louvain@0.5", "louvain@1"])
def test_planted_segments_recovered(result, truth, candidate: str) -> None:
    seg = segment_of(result, candidate)
    app_of = {ns: app for app, nss in truth.segments.items() for ns in nss
              if app not in ("platform", "shared-data")}
    front = seg["sock-front/front-end"]
    sock_back = [w for w in seg if w.startswith("sock-back/")]
    together = [w for w in sock_back if seg[w] == front]
    assert len(together) >= len(sock_back) / 2, "sock-front and sock-back behave as one segment"
    for community in set(seg.values()) - {s for s in seg.values() if s.startswith("shared:")}:
        apps = {app_of[w.split("/")[0]] for w, s in seg.items()
                if s == community and w.split("/")[0] in app_of}
        assert len(apps) <= 1, f"{community} mixes applications {apps}"


def test_stray_edge_crosses_a_boundary(result, truth) -> None:
    assert truth.stray_edges[0]["client"] == STRAY[0]
    for cand in result.memberships:
        if cand.startswith("louvain"):
            seg = segment_of(result, cand)
            assert seg[STRAY[0]] != seg[STRAY[1]], cand
    crossing = result.crossing("louvain@1")
    assert crossing.filter((pl.col("src_workload") == "user-timeline-service")
                           & (pl.col("dst_workload") == "redis-cart")).height == 1


def test_scores_side_by_side(result) -> None:
    cands = {r["candidate"]: r for r in result.candidates.iter_rows(named=True)}
    assert set(cands) >= {"louvain@0.5", "louvain@1", "louvain@2", "namespace", "label:app",
                          "workload"}
    assert cands["workload"]["cross_bytes_share"] == pytest.approx(1.0)
    # the namespace split cuts through Sock Shop; the discovered communities do not
    assert cands["louvain@1"]["cross_bytes_share"] < cands["namespace"]["cross_bytes_share"]
    assert cands["louvain@1"]["allow_rules"] < cands["workload"]["allow_rules"]
    for r in cands.values():
        assert 0.0 <= r["cross_bytes_share"] <= 1.0 and 0.0 <= r["cross_flows_share"] <= 1.0
        assert r["stability"] is None  # one snapshot


def test_deterministic(day1, result) -> None:
    again = propose_boundaries(day1)
    assert again.candidates.equals(result.candidates)
    assert again.membership("louvain@1").equals(result.membership("louvain@1"))


def test_stability_across_days() -> None:
    days = demo.generate_series(demo.DemoConfig(seed=7, flows_per_day=5_000, days=3))
    res = propose_boundaries(days, weight="flows", resolutions=(1.0,))
    stab = {r["candidate"]: r["stability"] for r in res.candidates.iter_rows(named=True)}
    assert stab["namespace"] == pytest.approx(1.0)
    assert 0.3 < stab["louvain@1"] <= 1.0
    assert res.days == 3 and "stability" in res._repr_html_()


def test_bad_arguments(day1) -> None:
    with pytest.raises(KsegError, match="weight"):
        propose_boundaries(day1, weight="packets")
    with pytest.raises(KsegError, match="unknown candidate"):
        propose_boundaries(day1, resolutions=(1.0,)).membership("nope")


def test_shared_services_rules_on_a_small_graph() -> None:
    rows = []
    for ns in ("a", "b", "c"):
        rows.append((ns, "Deployment", "app", "db", "StatefulSet", "pg", 5432))
        rows.append(("mon", "StatefulSet", "prom", ns, "Deployment", "app", 9090))
    rows.append(("a", "Deployment", "app", "b", "Deployment", "app", 80))
    cols = ["src_namespace", "src_workload_kind", "src_workload", "dst_namespace",
            "dst_workload_kind", "dst_workload", "dst_port"]
    wedges = pl.DataFrame(rows, schema=cols, orient="row")
    out = shared_services(wedges)
    assert out.select("namespace", "workload", "role").rows() == [
        ("db", "pg", "shared-server"), ("mon", "prom", "shared-client")]
    # b/app is scraped by prom and called from a only: one other namespace, not shared


partitions = st.dictionaries(st.integers(0, 30), st.integers(0, 4), min_size=2, max_size=30)


@settings(max_examples=80, deadline=None)
@given(partitions, partitions)
def test_adjusted_rand_properties(a: dict, b: dict) -> None:
    assert adjusted_rand(a, a) == pytest.approx(1.0)
    relabelled = {k: f"x{v}" for k, v in a.items()}
    assert adjusted_rand(a, relabelled) == pytest.approx(1.0)
    ab, ba = adjusted_rand(a, b), adjusted_rand(b, a)
    assert (ab is None) == (ba is None)
    if ab is not None:
        assert ab == pytest.approx(ba) and ab <= 1.0 + 1e-9


def test_cli_boundaries(bundled_data, tmp_path, capsys) -> None:
    from toolkit.cli import main

    out = tmp_path / "members.csv"
    assert main(["boundaries", str(bundled_data / "demo-day1"), "--resolutions", "1",
                 "--weight", "flows", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "louvain@1" in text and "shared services" in text
    members = pl.read_csv(out)
    assert set(members["candidate"]) == {"louvain@1", "namespace", "label:app", "workload"}
    assert main(["boundaries", str(bundled_data / "demo-day1"), "--out", "x.txt"]) == 2
    with pytest.raises(SystemExit) as exc:  # argparse usage error: one line, exit 2
        main(["boundaries", str(bundled_data / "demo-day1"), "--resolutions", "0"])
    assert exc.value.code == 2
    assert "resolutions must be positive" in capsys.readouterr().err


def test_no_traffic_is_a_clear_error() -> None:
    from toolkit.snapshot import Snapshot

    with pytest.raises(KsegError, match="no pod-to-pod traffic"):
        propose_boundaries(Snapshot.from_frames())
    with pytest.raises(KsegError, match="at least one snapshot"):
        propose_boundaries([])


def test_stamped_workloads_without_a_kind(bundled_data, realdata, tmp_path) -> None:
    """Hubble stamps pods the inventory does not know, with a workload name but no kind:
    boundaries and the report must place them, not fail comparing None with text."""
    import shutil

    from toolkit.collect.flows import import_flows
    from toolkit.snapshot import load_snapshot
    from toolkit.viz.report import write_report

    snap_dir = tmp_path / "s"
    shutil.copytree(bundled_data / "demo-day1", snap_dir)
    import_flows([realdata / "hubble"], snap_dir, "hubble")
    snap = load_snapshot(snap_dir)
    result = propose_boundaries(snap)
    members = result.membership("louvain@1")
    kindless = members.filter(pl.col("workload_kind").is_null())
    assert kindless.height > 0 and set(kindless["namespace"]) >= {"bookinfo"}
    assert members.height == members.unique(["namespace", "workload_kind", "workload"]).height
    assert propose_boundaries(snap).membership("louvain@1").equals(members)  # deterministic
    out = write_report(snap, tmp_path / "r.html")
    assert "bookinfo" in out.read_text()
