"""Benchmark: policy suggestion and boundary discovery against the flow matrix.

For demo clusters of growing size (``scale`` multiplies the applications, ``flows`` the
records), times in one run, side by side:

- ``matrix``: ``toolkit.core.flow_matrix(snap, "workload", "workload")`` (the reference);
- ``edges``: resolve + aggregate to distinct (client, server, port, protocol) edges;
- ``suggest``: ``suggest_policies`` on those edges (selectors, rules, CIDRs);
- ``boundaries``: ``propose_boundaries`` (edges again + Louvain at 3 resolutions + scores);
- ``replay``: the suggested set replayed with ``toolkit.policy.replay``;

and prints ratios to the matrix time and the peak RSS of the process.

    python benchmarks/bench_suggest.py [--quick]
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable
from typing import Any

from toolkit.core.boundaries import propose_boundaries, snapshot_edges
from toolkit.core.matrix import flow_matrix
from toolkit.demo import DemoConfig, generate_snapshot
from toolkit.policy.replay import replay
from toolkit.policy.suggest import suggest_policies


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(scale: int, flows: int) -> dict[str, Any]:
    snap = generate_snapshot(DemoConfig(seed=7, flows_per_day=flows, scale=scale), day=1)
    pods = snap.pods.select("uid").unique().collect().height
    t_matrix, _ = timed(lambda: flow_matrix(snap, "workload", "workload").frame)
    t_edges, edges = timed(lambda: snapshot_edges(snap))
    t_suggest, result = timed(lambda: suggest_policies(snap, edges=edges))
    t_bound, _ = timed(lambda: propose_boundaries(snap))
    t_replay, rep = timed(lambda: replay(snap, result.network_policies()))
    assert rep.count("denied") == 0
    return {"scale": scale, "flows": flows, "pods": pods, "edges": edges.height,
            "policies": len(result.policies), "matrix": t_matrix, "edges_s": t_edges,
            "suggest": t_suggest, "boundaries": t_bound, "replay": t_replay, "rss": peak_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small sizes only")
    args = parser.parse_args()
    sizes = [(1, 20_000), (2, 100_000)] if args.quick else \
        [(1, 20_000), (2, 100_000), (4, 400_000), (8, 1_000_000)]
    head = (f"{'scale':>5} {'flows':>9} {'pods':>5} {'edges':>6} {'pols':>5} {'matrix s':>9} "
            f"{'edges s':>8} {'suggest s':>9} {'bound s':>8} {'replay s':>8} "
            f"{'sugg/mat':>8} {'bound/mat':>9} {'peak MB':>8}")
    print(head)
    for scale, flows in sizes:
        r = run(scale, flows)
        print(f"{r['scale']:>5} {r['flows']:>9,} {r['pods']:>5} {r['edges']:>6} "
              f"{r['policies']:>5} {r['matrix']:>9.2f} {r['edges_s']:>8.2f} "
              f"{r['suggest']:>9.2f} {r['boundaries']:>8.2f} {r['replay']:>8.2f} "
              f"{(r['edges_s'] + r['suggest']) / r['matrix']:>8.2f} "
              f"{r['boundaries'] / r['matrix']:>9.2f} {r['rss']:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
