"""Flow records of one day, as AWS VPC flow logs would report them (EKS with the VPC CNI).

Everything is drawn as numpy arrays (one vectorised pass per chunk of ~1M connections, never
a Python loop per flow): for each connection an edge of the call graph, a time, a client and a
server endpoint alive at that time, ports and sizes. Each connection then becomes its
records: the request (client -> server, ephemeral source port, the backend pod IP and its
targetPort: post-DNAT, never the ClusterIP) and, unless the attempt was denied or the
protocol is one-way, the response (server -> client). Each record is observed once, by the
ENI of its sender when the sender is in the VPC (``direction=egress``, ``reporter=src``),
else by the receiver's (``ingress``, ``dst``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from toolkit.demo.apps import WORKLOADS
from toolkit.demo.callgraph import EDGES, POOLS
from toolkit.demo.cluster import Timeline

CHUNK = 1_000_000
WL_INDEX = {f"{w.namespace}/{w.name}": i for i, w in enumerate(WORKLOADS)}
_TRUTH_CLASS = {"external": "external", "link-local": "link-local",
                "vpc-resolver": "vpc-resolver", "control-plane": "control-plane"}


@dataclass
class Entities:
    """Every endpoint a record can name: pod IP intervals, nodes, external addresses."""

    ip: pl.Series
    namespace: pl.Series
    workload: pl.Series
    pod: pl.Series
    node: np.ndarray  # node index, -1 outside the cluster's nodes
    eni: pl.Series  # observer id per node index
    node_offset: int
    pool_range: dict[str, tuple[int, int]]
    bounds: np.ndarray  # segment starts (Unix seconds)
    seg_offset: np.ndarray  # (workload, segment) -> offset into seg_flat
    seg_count: np.ndarray
    seg_flat: np.ndarray


def entities(tl: Timeline, day: int) -> Entities:
    """The day's endpoints and, per workload and time segment, its live pods."""
    ws, we = tl.config.window_seconds(day)
    pods = [p for p in tl.pods if p.start < we and (p.end is None or p.end > ws)]
    ips = [p.ip for p in pods] + [n.ip for n in tl.nodes]
    nss = [p.workload.namespace for p in pods] + ["node"] * len(tl.nodes)
    wls = [p.workload.name for p in pods] + [n.name for n in tl.nodes]
    names: list[str | None] = [p.name for p in pods] + [None] * len(tl.nodes)
    node = [p.node for p in pods] + [n.index for n in tl.nodes]
    pool_range = {}
    for pool, (addrs, role) in POOLS.items():
        pool_range[pool] = (len(ips), len(addrs))
        ips += addrs
        nss += [_TRUTH_CLASS[role]] * len(addrs)
        wls += addrs
        names += [None] * len(addrs)
        node += [-1] * len(addrs)
    pool_range["@nodes"] = (len(pods), len(tl.nodes))
    start = np.array([max(p.start, ws) for p in pods], dtype=np.int64)
    end = np.array([we if p.end is None else min(p.end, we) for p in pods], dtype=np.int64)
    bounds = np.unique(np.concatenate([[ws], start, end[end < we]]))
    wl = np.array([WL_INDEX[f"{p.workload.namespace}/{p.workload.name}"] for p in pods])
    offset, count, flat = _segments(wl, start, end, bounds)
    return Entities(enum(ips), enum(nss), enum(wls), enum(names),
                    np.array(node, dtype=np.int64),
                    enum(["eni-" + n.instance[2:] for n in tl.nodes]), len(pods),
                    pool_range, bounds, offset, count, flat)


def enum(values: list[str | None]) -> pl.Series:
    """A compact lookup Series (Enum: 1-4 bytes a row once gathered; cast to String lazily)."""
    return pl.Series(values, dtype=pl.Enum(sorted({v for v in values if v is not None})))


def _segments(wl: np.ndarray, start: np.ndarray, end: np.ndarray, bounds: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_seg = len(bounds)
    count = np.zeros(len(WORKLOADS) * n_seg, dtype=np.int64)
    parts = []
    for w in range(len(WORKLOADS)):
        idx = np.flatnonzero(wl == w)
        alive = (start[idx, None] <= bounds[None, :]) & (end[idx, None] > bounds[None, :])
        seg, member = np.nonzero(alive.T)  # sorted by segment
        count[w * n_seg:(w + 1) * n_seg] = np.bincount(seg, minlength=n_seg)
        parts.append(idx[member])
    flat = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    offset = np.concatenate([[0], np.cumsum(count)[:-1]])
    return offset, count, flat


@dataclass
class EdgeArrays:
    """The day's active edges as parallel arrays (kinds: 0 workload, 1 range, 2 node)."""

    names: pl.Series
    services: pl.Series
    weight: np.ndarray
    c_kind: np.ndarray
    c_a: np.ndarray
    c_b: np.ndarray
    s_kind: np.ndarray
    s_a: np.ndarray
    s_b: np.ndarray
    port: np.ndarray
    proto: np.ndarray
    req: np.ndarray
    resp: np.ndarray
    deny: np.ndarray
    persist: np.ndarray


def _end_spec(ref: str, pool: str | None, ent: Entities) -> tuple[int, int, int]:
    if ref == "@pool":
        return (1, *ent.pool_range[pool])
    if ref == "@nodes":
        return (1, *ent.pool_range["@nodes"])
    if ref == "@node":
        return (2, 0, 0)
    return (0, WL_INDEX[ref], 0)


def edge_arrays(day: int, ent: Entities) -> EdgeArrays:
    edges = [e for e in EDGES if e.first_day <= day <= e.last_day]
    c = np.array([_end_spec(e.client, e.pool, ent) for e in edges], dtype=np.int64)
    s = np.array([_end_spec(e.server, e.pool, ent) for e in edges], dtype=np.int64)
    weight = np.array([e.weight for e in edges], dtype=np.float64)
    return EdgeArrays(enum([e.name for e in edges]), enum([e.service for e in edges]),
                      weight / weight.sum(), c[:, 0], c[:, 1], c[:, 2], s[:, 0], s[:, 1],
                      s[:, 2], np.array([e.port for e in edges]),
                      np.array([e.protocol for e in edges]), np.array([e.req for e in edges]),
                      np.array([e.resp for e in edges]), np.array([e.deny for e in edges]),
                      np.array([e.persistent for e in edges], dtype=bool))


def _pick(kind: np.ndarray, a: np.ndarray, b: np.ndarray, seg: np.ndarray, u: np.ndarray,
          ent: Entities) -> np.ndarray:
    out = np.full(len(kind), -1, dtype=np.int64)
    m = kind == 0
    key = a[m] * len(ent.bounds) + seg[m]
    cnt = ent.seg_count[key]
    pos = ent.seg_offset[key] + np.minimum((u[m] * cnt).astype(np.int64), np.maximum(cnt - 1, 0))
    out[m] = np.where(cnt > 0, ent.seg_flat[np.minimum(pos, len(ent.seg_flat) - 1)], -1)
    r = kind == 1
    out[r] = a[r] + np.minimum((u[r] ** 2 * b[r]).astype(np.int64), b[r] - 1)
    return out
