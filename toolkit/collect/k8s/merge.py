"""Merge a later capture into an existing inventory: IP ownership intervals over time.

Rules (``closed_at`` is the time the old snapshot was last known to be true: its
``captured_at``, else the new capture's):

- **Pods** are keyed by (uid, ip, namespace, name) (two different pods of a dump may share a
  uid and IP: see :data:`POD_IDENTITY`). A pod in both keeps one row: ``valid_from`` is the earlier
  of the two (first seen), every other column comes from the newer capture (phase, labels,
  ``valid_to`` when it now has a deletionTimestamp). A pod only in the old snapshot, in a
  namespace the new capture covers, has its open interval closed at ``closed_at`` (last seen).
  A pending row without an IP is dropped once the same pod shows up with one; planned pods are
  dropped once real pods of their workload exist.
- **IP reuse**: an address (not hostNetwork) is held by one pod at a time, so when a later pod
  starts on an IP whose earlier holder has no end (or a later one), the earlier interval ends
  where the next begins (:func:`close_reused_ips`).
- **Other tables** are keyed as the schema says; the newer row wins. Rows missing from the new
  capture but inside its scope (same table and namespace) are marked ``deleted = closed_at``
  (tables with a ``deleted`` column) or dropped (endpoints, network policies). Rows outside the
  new capture's scope are kept as they were, so importing ``pods.json`` and then
  ``services.json`` into one snapshot loses nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path

import polars as pl

from toolkit import _store, schema
from toolkit.snapshot import Snapshot, load_snapshot, replace_inventory, write_snapshot

Scope = Iterable[tuple[str, str]]
#: Identity of a pods row. The schema key is (uid, ip), but real dumps (np-guard's corpus)
#: copy one uid and IP onto two different pods, so a row only duplicates another when
#: namespace and name agree too.
POD_IDENTITY = ("uid", "ip", "namespace", "name")
_TIME = schema.TIME


def close_reused_ips(pods: pl.DataFrame) -> pl.DataFrame:
    """End an IP interval where the next pod (another uid) starts holding the same IP.

    Works on the few columns it needs and replaces ``valid_to`` only: no copy of the table.
    The usual capture (no IP held twice) is recognised from one hash per row, before any
    column is copied (measured: ~5 MB of temporaries less at 30,000 pods); a hash collision
    only takes the exact path below.
    """
    shared = (pl.col("ip").is_not_null() & ~pl.col("host_network") & ~pl.col("planned")
              & pl.col("valid_from").is_not_null())
    if not pods.select(pl.col("ip").hash().filter(shared).is_duplicated().any()).item():
        return pods  # no IP held twice: nothing to close (the usual live capture)
    order = pods.select("ip", "uid", "valid_from", "valid_to").with_row_index("_row")
    candidates = order.filter(pods.select(shared).to_series())
    candidates = candidates.sort("ip", "valid_from", "_row")
    nxt_from = pl.col("valid_from").shift(-1).over("ip")
    nxt_uid = pl.col("uid").shift(-1).over("ip")
    fixed = candidates.with_columns(_next=nxt_from, _next_uid=nxt_uid).with_columns(
        valid_to=pl.when(pl.col("_next").is_not_null() & (pl.col("_next_uid") != pl.col("uid"))
                         & (pl.col("_next") > pl.col("valid_from"))
                         & (pl.col("valid_to").is_null() | (pl.col("valid_to") > pl.col("_next"))))
        .then(pl.col("_next")).otherwise(pl.col("valid_to"))).select("_row", "valid_to")
    valid_to = (order.join(fixed, on="_row", how="left", suffix="_fixed", maintain_order="left")
                .select(pl.coalesce("valid_to_fixed", "valid_to").alias("valid_to")))
    return pods.with_columns(valid_to.to_series())


def _in_scope(frame: pl.DataFrame, table: str, scope: set[tuple[str, str]]) -> pl.Expr:
    if "namespace" in frame.columns:
        if (table, "") in scope:  # a cluster-wide list covers every namespace
            return pl.lit(True)
        spaces = sorted({ns for t, ns in scope if t == table})
        return pl.col("namespace").is_in(spaces)
    return pl.lit((table, "") in scope)


def merge_pods(old: pl.DataFrame, new: pl.DataFrame, scope: set[tuple[str, str]],
               closed_at: datetime | None) -> pl.DataFrame:
    """Pods table of the merged inventory (see the module docstring)."""
    key = list(POD_IDENTITY)
    firsts = old.select(*key, pl.col("valid_from").alias("_old_from"))
    kept_new = (new.join(firsts, on=key, how="left", nulls_equal=True, maintain_order="left")
                .with_columns(valid_from=pl.min_horizontal("valid_from", "_old_from"))
                .drop("_old_from"))
    gone = old.join(new.select(key), on=key, how="anti", nulls_equal=True)
    gone = gone.filter(~(pl.col("ip").is_null() & pl.col("uid").is_in(new["uid"].implode())))
    close = _in_scope(gone, "pods", scope) & pl.col("valid_to").is_null()
    gone = gone.with_columns(valid_to=pl.when(close).then(pl.lit(closed_at, dtype=_TIME))
                             .otherwise(pl.col("valid_to")))
    merged = pl.concat([gone, kept_new], how="vertical")
    real = merged.filter(~pl.col("planned")).select(
        "namespace", "workload_kind", "workload_name").unique()
    stale_plan = merged.filter(pl.col("planned")).join(
        real, on=["namespace", "workload_kind", "workload_name"], how="semi")
    merged = merged.join(stale_plan.select("uid"), on="uid", how="anti")
    return close_reused_ips(merged)


def merge_table(name: str, old: pl.DataFrame, new: pl.DataFrame,
                scope: set[tuple[str, str]], closed_at: datetime | None) -> pl.DataFrame:
    """A non-pod table of the merged inventory: newer rows win, rows gone in scope close."""
    key = list(schema.table(name).key)
    if name == "endpoints":
        key = [*key, "protocol", "slice"]
    gone = old.join(new.select(key), on=key, how="anti", nulls_equal=True)
    in_scope = _in_scope(gone, name, scope)
    if "deleted" in gone.columns:
        gone = gone.with_columns(deleted=pl.when(in_scope & pl.col("deleted").is_null())
                                 .then(pl.lit(closed_at, dtype=_TIME))
                                 .otherwise(pl.col("deleted")))
    else:
        gone = gone.filter(~in_scope)
    return pl.concat([gone, new], how="vertical").sort(key, nulls_last=True, maintain_order=True)


def merge_inventory(old: Mapping[str, pl.DataFrame], new: Mapping[str, pl.DataFrame],
                    scope: Scope, *, old_captured_at: datetime | None = None,
                    new_captured_at: datetime | None = None) -> dict[str, pl.DataFrame]:
    """Every inventory table of ``old`` merged with the later capture ``new``."""
    scope = set(scope)
    closed_at = old_captured_at or new_captured_at
    out = {}
    for name in schema.INVENTORY_TABLES:
        if name == "pods":
            out[name] = merge_pods(old[name], new[name], scope, closed_at).sort(
                list(POD_IDENTITY), nulls_last=True, maintain_order=True)
        else:
            out[name] = merge_table(name, old[name], new[name], scope, closed_at)
    return out


def merge_snapshot(existing: Snapshot, new: Snapshot, scope: Scope) -> Snapshot:
    """``existing`` with the later capture ``new`` merged in (cluster, sources combined)."""
    old = {n: existing.table(n).collect() for n in schema.INVENTORY_TABLES}
    fresh = {n: new.table(n).collect() for n in schema.INVENTORY_TABLES}
    tables = merge_inventory(old, fresh, scope, old_captured_at=existing.captured_at,
                             new_captured_at=new.captured_at)
    return Snapshot.from_frames(
        cluster=new.cluster if new.cluster != "cluster" else existing.cluster,
        captured_at=new.captured_at or existing.captured_at,
        sources=[*existing.sources, *new.sources], **tables)


def write_or_merge(snap: Snapshot, path: str | Path, scope: Scope) -> str:
    """Write ``snap`` to ``path``, or merge it into the snapshot already there (flows and
    imports kept). Returns ``"wrote"`` or ``"merged into"``."""
    path = Path(path)
    if (path / _store.MANIFEST).exists():
        replace_inventory(path, merge_snapshot(load_snapshot(path), snap, scope))
        return "merged into"
    write_snapshot(snap, path)
    return "wrote"
