"""Benchmark: replaying flows against NetworkPolicies, side by side with the flow matrix.

    python benchmarks/bench_policy.py                # 1M, 3M and 10M flow records
    python benchmarks/bench_policy.py --quick        # 300k and 1M
    python benchmarks/bench_policy.py --sizes 2000000 --policies 500

The synthetic cluster: 40 namespaces, 3,000 pods (600 workloads of 5 replicas, labels
``app``/``tier``/``team``, a named container port), 500 NetworkPolicies (a default deny per
namespace, then per-workload ingress rules mixing podSelector, namespaceSelector, both,
matchExpressions, named ports, endPort ranges and ipBlocks with except, and egress rules).
Flow records go pod -> pod on the server's port, plus 5% from public IPs, one minute apart.
The snapshot is written once as Parquet; then, each in a fresh process (peak RSS is per run):

- ``matrix``: ``toolkit.core.flow_matrix(snap, "workload", "workload")`` (resolve, orient,
  aggregate: the same scan and resolution replay needs);
- ``replay``: ``toolkit.policy.replay(snap)`` (resolve, aggregate to distinct edges,
  evaluate the distinct (class, class, protocol, port) tuples, join back).

Prints wall times, the replay/matrix ratio, peak RSS, and how both grow with size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _peak import peak_mib  # noqa: E402 (a sibling of this script)

NAMESPACES, WORKLOADS_PER_NS, REPLICAS = 40, 15, 5


def _pods() -> list[dict]:
    pods = []
    for n in range(NAMESPACES):
        for w in range(WORKLOADS_PER_NS):
            for r in range(REPLICAS):
                i = len(pods)
                pods.append({
                    "kind": "Pod", "metadata": {
                        "name": f"wl{w}-{r}", "namespace": f"ns{n}", "uid": f"uid-{i}",
                        "labels": {"app": f"wl{w}", "tier": ["web", "api", "db"][w % 3],
                                   "team": f"t{n % 8}"},
                        "ownerReferences": [{"kind": "ReplicaSet", "name": f"wl{w}-abc",
                                             "controller": True}],
                        "creationTimestamp": "2024-05-01T00:00:00Z"},
                    "spec": {"nodeName": f"node-{i % 20}", "containers": [{
                        "name": "c", "image": "img",
                        "ports": [{"name": "http", "containerPort": 8000 + w}]}]},
                    "status": {"podIP": f"10.{n}.{w}.{r + 10}", "phase": "Running",
                               "startTime": "2024-05-01T00:00:00Z"}})
    return pods


def _namespaces() -> list[dict]:
    return [{"kind": "Namespace", "metadata": {"name": f"ns{n}",
                                               "labels": {"team": f"t{n % 8}"}}}
            for n in range(NAMESPACES)]


def _rule(k: int) -> dict:
    peers = [
        {"podSelector": {"matchLabels": {"tier": "web"}}},
        {"namespaceSelector": {"matchLabels": {"team": f"t{k % 8}"}}},
        {"namespaceSelector": {}, "podSelector": {"matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["api", "web"]}]}},
        {"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", f"{k % 200 + 20}.0.0.0/8"]}},
    ]
    ports = [[{"port": "http"}], [{"port": 8000, "endPort": 8010}], [{"port": 8000 + k % 15}]]
    return {"from": [peers[k % 4], peers[(k + 1) % 4]], "ports": ports[k % 3]}


def _policies(count: int) -> list[dict]:
    pols = [{"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": f"ns{n}"},
             "spec": {"podSelector": {}, "policyTypes": ["Ingress"]}} for n in range(NAMESPACES)]
    k = 0
    while len(pols) < count:
        n, w = k % NAMESPACES, (k // NAMESPACES) % WORKLOADS_PER_NS
        spec = {"podSelector": {"matchLabels": {"app": f"wl{w}"}}, "ingress": [_rule(k)]}
        if k % 5 == 0:
            spec["egress"] = [{"to": [{"namespaceSelector": {}}]},
                              {"ports": [{"port": 53, "protocol": "UDP"}]}]
        pols.append({"kind": "NetworkPolicy",
                     "metadata": {"name": f"p{k}", "namespace": f"ns{n}"}, "spec": spec})
        k += 1
    return pols


def _flows(n: int, rng: np.random.Generator) -> pl.DataFrame:
    pods = NAMESPACES * WORKLOADS_PER_NS * REPLICAS
    src, dst = rng.integers(0, pods, n), rng.zipf(1.3, n) % pods
    ns_d, w_d, r_d = dst // (WORKLOADS_PER_NS * REPLICAS), (dst // REPLICAS) % WORKLOADS_PER_NS, \
        dst % REPLICAS
    ns_s, w_s, r_s = src // (WORKLOADS_PER_NS * REPLICAS), (src // REPLICAS) % WORKLOADS_PER_NS, \
        src % REPLICAS
    external = rng.random(n) < 0.05
    t0 = datetime(2024, 5, 1, 1, tzinfo=UTC)
    frame = pl.DataFrame({"ns_s": ns_s, "w_s": w_s, "r_s": r_s, "ns_d": ns_d, "w_d": w_d,
                          "r_d": r_d, "ext": external, "ext_ip": rng.integers(1, 250, n),
                          "minute": rng.integers(0, 600, n), "bytes": rng.integers(60, 10**6, n)})
    return frame.select(
        start=pl.lit(t0) + pl.duration(minutes=pl.col("minute")),
        end=pl.lit(t0) + pl.duration(minutes=pl.col("minute") + 1),
        src_ip=pl.when(pl.col("ext")).then(pl.format("{}.8.8.{}", pl.col("ext_ip"),
                                                     pl.col("r_s")))
        .otherwise(pl.format("10.{}.{}.{}", "ns_s", "w_s", pl.col("r_s") + 10)),
        dst_ip=pl.format("10.{}.{}.{}", "ns_d", "w_d", pl.col("r_d") + 10),
        src_port=pl.lit(40000, pl.Int32), dst_port=(8000 + pl.col("w_d")).cast(pl.Int32),
        protocol=pl.lit(6, pl.UInt8), bytes=pl.col("bytes"), packets=pl.lit(10, pl.Int64),
        flow_count=pl.lit(1, pl.Int64), format=pl.lit("bench"))


def build(folder: Path, flows: int, policies: int) -> Path:
    from toolkit.collect.k8s import normalise_objects
    from toolkit.snapshot import write_snapshot

    inv = normalise_objects([*_namespaces(), *_pods(), *_policies(policies)])
    snap = inv.with_tables(flows=_flows(flows, np.random.default_rng(7)))
    return write_snapshot(snap, folder)


def child(kind: str, path: str) -> None:
    from toolkit.core import flow_matrix
    from toolkit.policy import replay
    from toolkit.snapshot import load_snapshot

    snap = load_snapshot(path)
    start = time.perf_counter()  # the call only: module imports are not timed
    if kind == "matrix":
        rows = flow_matrix(snap, "workload", "workload").frame.height
    else:
        result = replay(snap)
        rows = result.edges.height
        denied = result.count("denied")
    seconds = time.perf_counter() - start
    rss = peak_mib()  # VmHWM: ru_maxrss would inherit the parent's peak
    out = {"seconds": seconds, "rss_mb": rss, "rows": rows}
    if kind == "replay":
        out["denied_flows"] = denied
    print(json.dumps(out))


def run(kind: str, path: Path) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", kind, str(path)],
                          capture_output=True, text=True)
    if proc.returncode:
        sys.exit(f"{kind} run failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", help="comma-separated flow counts")
    parser.add_argument("--policies", type=int, default=500)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    sizes = ([int(s) for s in args.sizes.split(",")] if args.sizes
             else [300_000, 1_000_000] if args.quick else [1_000_000, 3_000_000, 10_000_000])
    print(f"{NAMESPACES * WORKLOADS_PER_NS * REPLICAS} pods, {args.policies} policies")
    print(f"{'flows':>11} {'matrix s':>9} {'replay s':>9} {'ratio':>6} {'matrix MB':>10} "
          f"{'replay MB':>10} {'edges':>7} {'denied flows':>13}")
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            t = time.perf_counter()
            path = build(Path(tmp) / f"snap{size}", size, args.policies)
            built = time.perf_counter() - t
            m, r = run("matrix", path), run("replay", path)
            print(f"{size:>11,} {m['seconds']:>9.2f} {r['seconds']:>9.2f} "
                  f"{r['seconds'] / m['seconds']:>6.2f} {m['rss_mb']:>10,.0f} "
                  f"{r['rss_mb']:>10,.0f} {r['rows']:>7,} {r['denied_flows']:>13,}"
                  f"   (snapshot built in {built:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
