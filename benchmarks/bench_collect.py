"""Benchmark: live inventory collection from the fake API server vs a plain HTTP fetch.

    python benchmarks/bench_collect.py [--quick] [--sizes 7500,15000,30000]

For each size the fake server (tests/collect/k8s/fakeapi.py, in its own process, pages
pre-serialised by a warm-up pass) serves N pods plus their ReplicaSets, Deployments, Services
and EndpointSlices. Measured in fresh child processes, so peak RSS is per run:

- bytes:    http.client GETs of the same pages (limit 500 + continue), bytes only (the
            continue token found by a regex in the page's first kilobyte);
- raw:      the same, reading the continue token with ``json.loads`` of each page (the
            baseline of the issue's goal, kept as earlier rounds measured it);
- raw+json: the same, keeping every parsed page;
- kseg:     ``toolkit.collect.k8s.live.collect_result`` (kubernetes client, normalise, tables);
- tables:   "the tables themselves": a fresh child (same imports and warm-up) reads the
            finished snapshot's inventory Parquet files (written once by the first kseg run,
            after its measurement) into polars frames. Its peak RSS growth is what merely
            holding the result costs, the reference of the issue's memory goal.

Each mode runs ``--repeat`` times (interleaved) and the medians are printed: wall time, the
kseg/raw ratios, peak RSS growth over the child's baseline (kseg, and tables), kseg/tables,
the polars ``estimated_size`` of the resulting tables, and CPU seconds of the client process
(robust on a loaded machine: the raw fetch mostly waits for the server while kseg computes).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import re
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "collect" / "k8s")]

import fakeapi  # noqa: E402

PAGE = 500


def _serve(pods: int, ready: mp.Queue) -> None:
    cluster = fakeapi.FakeCluster(fakeapi.sample_objects(pods=pods, per_deployment=10,
                                                         namespaces=20))
    server = fakeapi.FakeServer(cluster)
    ready.put(server.url)
    server.httpd.serve_forever()


def _paths() -> list[str]:
    from toolkit.collect.k8s import normalise as nm
    from toolkit.collect.k8s.live import LIVE_KINDS

    return [nm.KINDS[k].list_path() for k in LIVE_KINDS]


_CONTINUE = re.compile(rb'"continue":\s*"([^"]*)"')


def raw_fetch(url: str, parse: bool, scan: bool = False) -> int:
    """Fetch every list page with http.client; returns bytes read. The continue token is read
    with ``json.loads`` of the page, or (``scan``) found by a regex in its first kilobyte."""
    host = urlsplit(url)
    conn = http.client.HTTPConnection(host.hostname, host.port)
    headers = {"Authorization": f"Bearer {fakeapi.TOKEN}", "Accept": "application/json"}
    total = 0
    for path in _paths():
        token = None
        while True:
            query = f"?limit={PAGE}" + (f"&continue={token}" if token else "")
            conn.request("GET", path + query, headers=headers)
            body = conn.getresponse().read()
            total += len(body)
            if scan:
                found = _CONTINUE.search(body, 0, 1024)
                token = found.group(1).decode() if found else None
            else:
                page = json.loads(body) if parse else None
                token = (page or json.loads(body))["metadata"].get("continue")
            if not token:
                break
    conn.close()
    return total


def kseg_collect(url: str, keep: str | None = None) -> tuple[int, int]:
    """Collect; returns (pods, estimated size of the tables). ``keep``: write the snapshot
    there (after the measurement) for the ``tables`` mode."""
    from toolkit.collect.k8s.live import collect_result

    with tempfile.TemporaryDirectory() as tmp:
        config = fakeapi.write_kubeconfig(Path(tmp), url)
        snap, _ = collect_result(kubeconfig=str(config), page_size=PAGE)
    sizes = sum(snap.table(n).collect().estimated_size() for n in snap.tables)
    return snap.pods.select("uid").collect().height, sizes


def tables_only(path: str) -> int:
    """"The tables themselves": read a finished snapshot's inventory Parquet files into
    polars frames (what holding the result costs); returns the pods count."""
    from toolkit.snapshot import load_snapshot

    snap = load_snapshot(path)
    frames = {n: snap.table(n).collect() for n in snap.tables if n != "flows"}
    return frames["pods"].height


def _child(mode: str, url: str, out: mp.Queue, keep: str | None = None) -> None:
    # Same warm-up for every mode: import polars, pyarrow and the collector and build one
    # tiny frame, so one-off import costs (seconds on a loaded box) are not timed.
    from toolkit.collect.k8s import capture, live  # noqa: F401

    capture.frame([{"namespace": "n", "name": "p", "uid": "u", "host_network": False,
                    "labels": [{"key": "a", "value": "b"}], "workload_kind": "Pod",
                    "workload_name": "p", "container_ports": [], "images": [],
                    "planned": False}], "pods")

    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    if mode == "kseg":
        result = kseg_collect(url)
    elif mode == "tables":  # url: the snapshot the first kseg run wrote
        result = (tables_only(url), 0)
    else:
        result = raw_fetch(url, mode == "raw+json", scan=mode == "bytes")
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if mode == "kseg" and keep:
        from toolkit.collect.k8s.live import collect_result
        from toolkit.snapshot import write_snapshot

        with tempfile.TemporaryDirectory() as tmp:
            config = fakeapi.write_kubeconfig(Path(tmp), url)
            write_snapshot(collect_result(kubeconfig=str(config), page_size=PAGE)[0], keep)
    out.put((elapsed, (peak - base) / 1024, result, cpu))  # ru_maxrss is in KiB on Linux


def measure(mode: str, url: str, keep: str | None = None
            ) -> tuple[float, float, object, float]:
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(mode, url, out, keep))
    proc.start()
    result = out.get(timeout=900)
    proc.join()
    return result


def _median(values: list[float]) -> float:
    return statistics.median(values)


def run_size(pods: int, repeat: int = 1) -> dict[str, tuple[float, float, object, float]]:
    """Medians over ``repeat`` interleaved runs of each mode (wall, RSS, result, CPU)."""
    ctx = mp.get_context("spawn")
    ready = ctx.Queue()
    server = ctx.Process(target=_serve, args=(pods, ready), daemon=True)
    server.start()
    try:
        url = ready.get(timeout=600)
        raw_fetch(url, parse=False)  # warm-up: the server serialises and caches every page
        runs: dict[str, list] = {"bytes": [], "raw": [], "raw+json": [], "kseg": [],
                                 "tables": []}
        with tempfile.TemporaryDirectory() as tmp:
            snapshot = str(Path(tmp) / "snapshot")
            for i in range(repeat):
                for mode, got in runs.items():
                    if mode == "tables":
                        got.append(measure(mode, snapshot))
                    else:
                        got.append(measure(mode, url, snapshot if mode == "kseg" and i == 0
                                           else None))
        return {mode: (_median([r[0] for r in got]), _median([r[1] for r in got]), got[0][2],
                       _median([r[3] for r in got])) for mode, got in runs.items()}
    finally:
        server.terminate()
        server.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (3k, 6k pods)")
    parser.add_argument("--sizes", default="7500,15000,30000")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each mode per size; medians are printed (default 3)")
    args = parser.parse_args()
    sizes = [3000, 6000] if args.quick else [int(s) for s in args.sizes.split(",")]
    print(f"{'pods':>7} {'MB':>7} {'bytes s':>7} {'raw s':>7} {'raw+json s':>10} {'kseg s':>7} "
          f"{'kseg/raw':>8} {'kseg/raw+json':>13} {'kseg/bytes':>10} {'raw RSS MB':>10} "
          f"{'kseg RSS MB':>11} {'tables RSS MB':>13} {'kseg/tables':>11} {'tables MB':>9} "
          f"{'raw+json cpu':>12} {'kseg cpu':>8}")
    for pods in sizes:
        res = run_size(pods, args.repeat)
        raw, parsed, kseg, plain = res["raw"], res["raw+json"], res["kseg"], res["bytes"]
        held = res["tables"]
        assert kseg[2][0] == pods, f"kseg collected {kseg[2][0]} pods, expected {pods}"
        print(f"{pods:>7,} {raw[2] / 1e6:>7.1f} {plain[0]:>7.2f} {raw[0]:>7.2f} {parsed[0]:>10.2f} "
              f"{kseg[0]:>7.2f} {kseg[0] / raw[0]:>8.2f} {kseg[0] / parsed[0]:>13.2f} "
              f"{kseg[0] / plain[0]:>10.2f} {parsed[1]:>10.0f} {kseg[1]:>11.0f} "
              f"{held[1]:>13.0f} {kseg[1] / held[1]:>11.2f} "
              f"{kseg[2][1] / 2**20:>9.1f} {parsed[3]:>12.2f} {kseg[3]:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
