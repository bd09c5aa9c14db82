"""Scores of a candidate segmentation: traffic crossing boundaries, allow rules it needs,
and stability between days (adjusted Rand index).

Every function works on the small workload edge table (one row per distinct client workload,
server workload, port and protocol), never on flow records.

>>> adjusted_rand({"a": 1, "b": 1, "c": 2}, {"a": "x", "b": "x", "c": "y"})
1.0
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from itertools import pairwise
from math import comb
from typing import Any

import polars as pl

Workload = tuple[str, str, str]
KEYS = ("namespace", "workload_kind", "workload")


def workload_order(workload: Workload) -> tuple[tuple[bool, str], ...]:
    """Sort key of a workload: a part the source left unknown (a Hubble-stamped pod has no
    workload kind) is None and sorts first."""
    return tuple((part is not None, part or "") for part in workload)


def adjusted_rand(a: Mapping[Any, Any], b: Mapping[Any, Any]) -> float | None:
    """Adjusted Rand index of two partitions on their common items (1 = identical grouping,
    about 0 = as alike as chance). None with fewer than two common items."""
    common = sorted(set(a) & set(b), key=str)
    n = len(common)
    if n < 2:
        return None
    pairs = sum(comb(c, 2) for c in Counter((a[x], b[x]) for x in common).values())
    sum_a = sum(comb(c, 2) for c in Counter(a[x] for x in common).values())
    sum_b = sum(comb(c, 2) for c in Counter(b[x] for x in common).values())
    expected = sum_a * sum_b / comb(n, 2)
    best = (sum_a + sum_b) / 2
    if best == expected:  # both partitions trivial (all singletons or one block) and equal
        return 1.0 if pairs == best else 0.0
    return (pairs - expected) / (best - expected)


def membership_frame(membership: Mapping[Workload, str], shared: set[Workload]) -> pl.DataFrame:
    """Workload -> segment as a frame; shared services are each their own ``shared:`` segment."""
    rows = [{"namespace": w[0], "workload_kind": w[1], "workload": w[2],
             "segment": f"shared:{w[0]}/{w[2]}" if w in shared else seg, "shared": w in shared}
            for w, seg in sorted(membership.items(), key=lambda item: workload_order(item[0]))]
    schema = {"namespace": pl.String, "workload_kind": pl.String, "workload": pl.String,
              "segment": pl.String, "shared": pl.Boolean}
    return pl.DataFrame(rows, schema=schema)


def _with_segments(edges: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    out = edges
    for side in ("src", "dst"):
        side_members = members.rename({k: f"{side}_{k}" for k in (*KEYS, "segment", "shared")})
        out = out.join(side_members, on=[f"{side}_{k}" for k in KEYS], how="left")
    return out.filter(pl.col("src_segment").is_not_null() & pl.col("dst_segment").is_not_null())


def score(edges: pl.DataFrame, members: pl.DataFrame) -> dict[str, Any]:
    """Cross-boundary shares and allow rules of one segmentation.

    ``cross_bytes_share``/``cross_flows_share`` count traffic between non-shared workloads
    only (traffic to shared services needs rules whatever the segmentation);
    ``allow_rules`` counts distinct (client segment, server segment, port, protocol) with
    different segments, shared services counting as segments of their own.
    """
    joined = _with_segments(edges, members)
    cross = pl.col("src_segment") != pl.col("dst_segment")
    inner = joined.filter(~pl.col("src_shared") & ~pl.col("dst_shared"))
    totals = inner.select(
        b=pl.col("bytes").sum(), f=pl.col("flows").sum(),
        cb=pl.col("bytes").filter(cross).sum(), cf=pl.col("flows").filter(cross).sum()).row(0)
    rules = (joined.filter(cross).select("src_segment", "dst_segment", "dst_port", "protocol")
             .unique().height)
    segs = members.filter(~pl.col("shared")).get_column("segment").n_unique()
    return {"n_segments": segs,
            "cross_bytes_share": totals[2] / totals[0] if totals[0] else None,
            "cross_flows_share": totals[3] / totals[1] if totals[1] else None,
            "allow_rules": rules}


def crossing_edges(edges: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """The workload edges that cross a segment boundary (with both sides' segments)."""
    joined = _with_segments(edges, members)
    return (joined.filter(pl.col("src_segment") != pl.col("dst_segment"))
            .group_by("src_namespace", "src_workload", "src_segment", "dst_namespace",
                      "dst_workload", "dst_segment")
            .agg(pl.col("bytes").sum(), pl.col("flows").sum())
            .sort("bytes", descending=True))


def stability(partitions: list[Mapping[Workload, str]]) -> float | None:
    """Mean adjusted Rand index between consecutive days' partitions (None for one day)."""
    values = [adjusted_rand(a, b) for a, b in pairwise(partitions)]
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None
