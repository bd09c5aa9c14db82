"""Seeded demo cluster generator: realistic snapshots with ground truth.

An EKS-like cluster running Online Boutique, Sock Shop (split in ``sock-front`` and
``sock-back``) and DeathStarBench's social network, plus kube-system, monitoring,
ingress-nginx and a shared ``databases`` namespace. Flow records look like AWS VPC flow logs
(post-DNAT pod IPs, both directions as separate records, per-minute aggregation), and every
record has its ground truth in the ``flow_truth`` table. Same config, same bytes.

>>> from toolkit.demo import DemoConfig, generate_snapshot
>>> snap = generate_snapshot(DemoConfig(seed=7, flows_per_day=2_000), day=1)
>>> snap.flows.collect().height, snap.flow_truth.collect().height
(2000, 2000)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from toolkit.demo import inventory
from toolkit.demo.awsvpc import node_info, write_aws_vpc_logs, write_text
from toolkit.demo.cluster import Timeline, build_timeline
from toolkit.demo.config import BUNDLED, DemoConfig
from toolkit.demo.records import day_records, iter_day_records
from toolkit.demo.truth import DemoTruth, truth_of
from toolkit.snapshot import FlowAppender, Snapshot, write_snapshot

__all__ = ["BUNDLED", "DemoConfig", "DemoTruth", "demo_truth", "generate_series",
           "generate_snapshot", "iter_day_records", "status_records", "stream_aws_vpc_logs",
           "stream_snapshot", "timeline", "write_aws_vpc_logs", "write_bundled_data",
           "write_series"]


@functools.lru_cache(maxsize=8)
def timeline(cfg: DemoConfig) -> Timeline:
    """The cluster's whole life for ``cfg`` (cached: configs are immutable)."""
    return build_timeline(cfg)


def demo_truth(cfg: DemoConfig | None = None) -> DemoTruth:
    """Planted segments, stray/denied edges, day-to-day changes and cross-namespace IP reuse."""
    return truth_of(timeline(cfg or DemoConfig()))


def status_records(cfg: DemoConfig, day: int) -> list[list[Any]]:
    """NODATA / SKIPDATA lines the ENIs would have written on ``day``: [eni, start, end, status].

    They are not flows; the snapshot's manifest counts them and the AWS text writer emits them.
    """
    enis = ["eni-" + n.instance[2:] for n in timeline(cfg).nodes]
    rng = np.random.default_rng([cfg.seed, 3, day])
    ws, we = cfg.window_seconds(day)
    n = int(min(200, max(2, cfg.flows_per_day // 2_000)))
    minute = np.sort(rng.integers(0, (we - ws) // cfg.interval_seconds, n))
    kind = np.where(rng.random(n) < 0.8, "NODATA", "SKIPDATA")
    return [[enis[int(rng.integers(len(enis)))], ws + int(m) * cfg.interval_seconds,
             ws + (int(m) + 1) * cfg.interval_seconds - 1, str(k)]
            for m, k in zip(minute, kind, strict=True)]


def _status_counts(cfg: DemoConfig, day: int) -> dict[str, int]:
    kinds = [r[3] for r in status_records(cfg, day)]
    return {"nodata": kinds.count("NODATA"), "skipdata": kinds.count("SKIPDATA")}


def _source(cfg: DemoConfig, day: int, tl: Timeline) -> dict[str, Any]:
    ws, we = cfg.window(day)
    return {"kind": "demo", "description": "synthetic demo data from toolkit.demo (not a real "
            "cluster)", "generator": "toolkit.demo", "seed": cfg.seed, "day": day,
            "config": cfg.as_dict(), "window": {"start": ws.isoformat(), "end": we.isoformat()},
            "format": "aws-vpc", "source_file": f"demo:day{day}",
            "aws_vpc_status_records": _status_counts(cfg, day),
            "truth": truth_of(tl).summary()}


def _inventory(tl: Timeline, day: int) -> dict[str, pl.DataFrame]:
    return {"namespaces": inventory.namespaces(tl), "nodes": inventory.nodes(tl),
            "pods": inventory.pods(tl, day), "workloads": inventory.workloads(tl, day),
            "services": inventory.services(tl, day), "endpoints": inventory.endpoints(tl, day),
            "network_policies": inventory.network_policies(tl)}


def generate_snapshot(cfg: DemoConfig | None = None, day: int = 1) -> Snapshot:
    """Day ``day`` of the demo series as an in-memory Snapshot with a ``flow_truth`` table.

    Captured at the end of the day's window; the flows cover that window.
    """
    cfg = cfg or DemoConfig()
    tl = timeline(cfg)
    _, end = cfg.window(day)
    flows, truth = day_records(tl, day, cfg.flows_per_day)
    frames: dict[str, Any] = {**_inventory(tl, day), "flows": flows, "flow_truth": truth}
    return Snapshot.from_frames(cluster=cfg.cluster, captured_at=end,
                                sources=[_source(cfg, day, tl)], **frames)


def generate_series(cfg: DemoConfig | None = None) -> list[Snapshot]:
    """One snapshot per day of ``cfg.days`` (the same cluster, day after day)."""
    cfg = cfg or DemoConfig()
    return [generate_snapshot(cfg, day) for day in range(1, cfg.days + 1)]


def iter_series(cfg: DemoConfig) -> Iterator[tuple[int, Snapshot]]:
    for day in range(1, cfg.days + 1):
        yield day, generate_snapshot(cfg, day)


def write_series(cfg: DemoConfig, out: str | Path, *, aws_vpc_logs: str | Path | None = None
                 ) -> list[Path]:
    """Write ``out/demo-dayN`` for every day (and the AWS text logs when asked)."""
    out = Path(out)
    paths = []
    for day, snap in iter_series(cfg):
        paths.append(write_snapshot(snap, out / f"demo-day{day}"))
        if aws_vpc_logs is not None:
            write_aws_vpc_logs(snap, Path(aws_vpc_logs) / f"demo-day{day}.log")
    return paths


def stream_aws_vpc_logs(cfg: DemoConfig, day: int, path: str | Path, version: int = 5, *,
                        compress: bool | None = None) -> Path:
    """Day ``day`` straight to AWS VPC flow-log text, ~1M records in memory at a time.

    Same records as ``write_aws_vpc_logs(generate_snapshot(cfg, day), path)`` without ever
    holding the whole day (for benchmarks of readers on 10M+ records).
    """
    tl = timeline(cfg)
    chunks = (flows for flows, _ in iter_day_records(tl, day, cfg.flows_per_day))
    return write_text(chunks, path, version, nodes=node_info(inventory.nodes(tl)),
                      status=status_records(cfg, day), compress=compress)


def stream_snapshot(cfg: DemoConfig, day: int, out: str | Path, *,
                    aws_vpc_log: str | Path | None = None, version: int = 5) -> Path:
    """Write day ``day`` as a snapshot at ``out``, ~1M records in memory at a time.

    The same inventory and flow records as ``write_snapshot(generate_snapshot(cfg, day), out)``
    but with flat memory (for 10M+ records): the flows are appended in parts of ~1M rows as
    they are generated, and, when ``aws_vpc_log`` is given, the same records are written to
    that AWS VPC flow-log text file in the same pass. No ``flow_truth`` table is written (use
    :func:`generate_snapshot` for ground truth). A snapshot already at ``out`` is replaced.
    """
    tl = timeline(cfg)
    _, end = cfg.window(day)
    inventory_only = Snapshot.from_frames(cluster=cfg.cluster, captured_at=end,
                                          sources=[_source(cfg, day, tl)],
                                          **_inventory(tl, day))
    out = write_snapshot(inventory_only, out)
    with FlowAppender(out, fmt="aws-vpc", import_id=f"demo-day{day}") as appender:
        chunks = _appended(iter_day_records(tl, day, cfg.flows_per_day), appender)
        if aws_vpc_log is None:
            for _ in chunks:
                pass
        else:
            write_text(chunks, aws_vpc_log, version, nodes=node_info(inventory.nodes(tl)),
                       status=status_records(cfg, day))
        appender.commit({"files": [f"demo:day{day}"], "generator": "toolkit.demo",
                         "records_read": cfg.flows_per_day})
    return out


def _appended(chunks: Iterator[tuple[pl.DataFrame, pl.DataFrame]], appender: FlowAppender
              ) -> Iterator[pl.DataFrame]:
    for flows, _ in chunks:
        appender.write(flows)
        yield flows


def write_bundled_data(out: str | Path = "data") -> list[Path]:
    """Regenerate the bundled ``data/demo-day{1,2,3}`` series, bit for bit."""
    return write_series(BUNDLED, out)
