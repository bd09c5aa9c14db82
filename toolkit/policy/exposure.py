"""Allowed versus observed: which paths the policies open and which ones traffic really uses.

At ``workload`` or ``namespace`` level, every path is one of:

- ``allowed, unused``: the policies allow it but no flow used it (a tightening candidate);
- ``used, allowed``: observed and allowed;
- ``used, denied``: observed and denied by the policies (drops, or a sign that the inventory
  or the policies changed since the traffic was seen);
- ``used, partly denied``: observed on several ports, some allowed and some denied;
- ``used, unresolved``: observed, but a side could not be tied to a pod (ClusterIP never
  translated, unknown in-cluster address), so no verdict.

Non-pod peers are grouped by their address class (``{external-public}``, ``{node}``, ...).
The static side covers workload-to-workload paths; external ranges appear only when used.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

import polars as pl

from toolkit.errors import KsegError
from toolkit.policy.connectivity import connectivity
from toolkit.policy.model import parse_policies
from toolkit.policy.replay import ReplayResult, replay
from toolkit.snapshot import Snapshot

LEVELS = ("workload", "namespace")
STATUSES = ("used, denied", "used, partly denied", "used, unresolved", "used, allowed",
            "allowed, unused")


def _peer(side: str, level: str) -> pl.Expr:
    name = pl.col(side)
    if level == "namespace":
        name = name.str.extract(r"^([^/]+)/", 1)
    return (pl.when(pl.col(f"{side}_kind") == "pod").then(name)
            .otherwise(pl.lit("{") + pl.col(f"{side}_kind") + pl.lit("}")))


def _observed(result: ReplayResult, level: str) -> pl.DataFrame:
    edges = result.edges.with_columns(_peer("src", level).alias("src"),
                                      _peer("dst", level).alias("dst"))
    return edges.group_by("src", "dst").agg(
        *(pl.col("flows").filter(pl.col("verdict") == v).sum().alias(f"flows_{v}")
          for v in ("allowed", "denied", "unresolved")),
        pl.col("bytes").sum().alias("bytes"),
        pl.col("dst_port").filter(pl.col("verdict") == "denied").unique().sort()
        .alias("denied_ports"))


def _allowed(snap: Snapshot, level: str, policies: pl.DataFrame | None) -> pl.DataFrame:
    model = parse_policies(snap.network_policies if policies is None else policies)
    conns = connectivity(snap, model=model, naming="workload").connections.filter(
        ~pl.col("src").str.ends_with("[External]") & ~pl.col("dst").str.ends_with("[External]"))
    if level == "namespace":
        ns = r"^([^/]+)/"
        conns = (conns.with_columns(pl.col("src").str.extract(ns, 1),
                                    pl.col("dst").str.extract(ns, 1))
                 .group_by("src", "dst").agg(pl.col("conn").unique().sort().str.join("; ")))
    return conns.rename({"conn": "allowed_conn"})


def _status() -> pl.Expr:
    used = (pl.col("flows_allowed") + pl.col("flows_denied") + pl.col("flows_unresolved")) > 0
    return (pl.when(~used).then(pl.lit("allowed, unused"))
            .when((pl.col("flows_denied") > 0) & (pl.col("flows_allowed") > 0))
            .then(pl.lit("used, partly denied"))
            .when(pl.col("flows_denied") > 0).then(pl.lit("used, denied"))
            .when(pl.col("flows_allowed") > 0).then(pl.lit("used, allowed"))
            .otherwise(pl.lit("used, unresolved")))


@dataclass(frozen=True)
class ExposureResult:
    """``paths``: one row per (src, dst) at ``level`` with ``status``, ``allowed_conn`` (what
    the policies open), observed flows per verdict, bytes and the denied ports."""

    paths: pl.DataFrame
    level: str

    def by_status(self) -> pl.DataFrame:
        """Paths and flows per status."""
        return (self.paths.group_by("status")
                .agg(pl.len().alias("paths"),
                     (pl.col("flows_allowed") + pl.col("flows_denied")
                      + pl.col("flows_unresolved")).sum().alias("flows"))
                .sort(pl.col("status").replace_strict(STATUSES, list(range(len(STATUSES))))))

    def select(self, status: str) -> pl.DataFrame:
        """Paths of one status (e.g. ``"allowed, unused"``)."""
        return self.paths.filter(pl.col("status") == status)

    def __repr__(self) -> str:
        parts = ", ".join(f"{s} {n}" for s, n, _ in self.by_status().iter_rows())
        return (f"<ExposureResult at {self.level} level: {self.paths.height} paths ({parts})>\n"
                "next: .select('allowed, unused') lists tightening candidates")

    def _repr_html_(self) -> str:
        rows = "".join(f"<tr><td>{escape(s)}</td><td>{n}</td><td>{f:,}</td></tr>"
                       for s, n, f in self.by_status().iter_rows())
        return (f"<div><b>Policy exposure</b> ({escape(self.level)} level)<table><tr>"
                f"<th>status</th><th>paths</th><th>flows</th></tr>{rows}</table></div>")


def exposure(snap: Snapshot, level: str = "workload", *,
             policies: pl.DataFrame | None = None,
             replayed: ReplayResult | None = None) -> ExposureResult:
    """Compare what the policies allow with what the flows used, at ``level``.

    ``policies`` replaces the snapshot's own; ``replayed`` reuses a :func:`replay` result.
    """
    if level not in LEVELS:
        raise KsegError(f"unknown level {level!r}; one of {', '.join(LEVELS)}")
    result = replayed or replay(snap, policies)
    observed = _observed(result, level)
    paths = (_allowed(snap, level, policies)
             .join(observed, on=["src", "dst"], how="full", coalesce=True)
             .with_columns(pl.col("flows_allowed", "flows_denied", "flows_unresolved", "bytes")
                           .fill_null(0))
             .with_columns(_status().alias("status"))
             .sort(pl.col("status").replace_strict(STATUSES, list(range(len(STATUSES)))),
                   pl.col("bytes"), pl.col("src"), pl.col("dst"),
                   descending=[False, True, False, False]))
    return ExposureResult(paths.select("src", "dst", "status", "allowed_conn", "flows_allowed",
                                       "flows_denied", "flows_unresolved", "bytes",
                                       "denied_ports"), level)
