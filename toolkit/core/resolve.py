"""Endpoint resolution at the flow's time, orientation and service attribution.

:func:`resolve_flows` turns every flow record into an oriented client → server record whose
two sides are endpoints (pod, service, node, or an address class). It is lazy: the result is a
``pl.LazyFrame`` with one row per record (only the small table of distinct addresses is
computed up front).

Per side, resolution is two left joins against small tables and two filters, no sort of the
flow table (see :mod:`toolkit.core.endpoints`):

1. on ``ip`` against the flows' distinct addresses expanded with the pod IP segments
   (:func:`~toolkit.core.inventory.interval_segments`); the filter
   ``seg_from <= start < seg_to`` keeps exactly one row per record: the as-of owner. The owner
   counts when its interval overlaps the record (``valid_from <= end`` and
   ``start < valid_to``), else the address is ``unknown-in-cluster`` at that time;
2. on ``(ip, port)`` against the known server ports, expanded with hostNetwork pods by node IP
   and container port (same as-of filter).

Precedence of the side's ``kind``: pod (incl. a hostNetwork pod listening on the port) >
service (ClusterIP / external IP) > node > identity the source stamped (``pod-reported``:
Hubble, Calico, GKE details, used only where the inventory has no answer) > pod IP not owned
at that time (``unknown-in-cluster``) > address class (:mod:`toolkit.core.ipclass`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from toolkit._store import FLOWS_DIR
from toolkit.core.endpoints import (
    ADDR,
    PORTS,
    SMALL_RIGHT,
    attribution_table,
    endpoint_table,
    ip_table,
    packed_key,
    resolve_ids,
    unpacked,
)
from toolkit.core.inventory import InventoryIndex
from toolkit.core.orient import rule_names
from toolkit.errors import KsegError
from toolkit.schema import TIME
from toolkit.snapshot import Snapshot

SIDE_COLUMNS = ("ip", "port", "kind", "namespace", "pod", "pod_uid", "workload",
                "workload_kind", "node", "labels", "service_namespace", "service")
MEASURES = ("bytes", "packets", "flows")
#: Identities a source stamps on its records (Hubble, Calico, GKE details).
ID_COLUMNS = ("src_id_namespace", "src_id_pod", "src_id_workload", "dst_id_namespace",
              "dst_id_pod", "dst_id_workload")


def attach_names(frame: pl.LazyFrame, ends: pl.DataFrame, attribution: pl.DataFrame
                 ) -> pl.LazyFrame:
    """Replace ``src_eid``/``dst_eid``/``dst_akey`` by endpoint names and the attributed
    service (``dst_service*``; a ClusterIP destination is its own service)."""
    for side in ("src", "dst"):
        named = ends.rename({c: f"{side}_{c}" for c in ends.columns if c != "eid"})
        frame = frame.join(named.lazy().rename({"eid": f"{side}_eid"}), on=f"{side}_eid",
                           how="left", **SMALL_RIGHT)
    attr = attribution.rename({c: f"_a_{c}" for c in attribution.columns}).lazy()
    frame = frame.join(attr, left_on="dst_akey", right_on="_a_akey", how="left", **SMALL_RIGHT)
    is_svc = pl.col("dst_kind") == "service"
    return frame.with_columns(
        pl.when(is_svc).then(pl.col("dst_service_namespace"))
        .otherwise(pl.col("_a_service_namespace")).alias("dst_service_namespace"),
        pl.when(is_svc).then(pl.col("dst_service")).otherwise(pl.col("_a_service"))
        .alias("dst_service"),
        pl.when(is_svc).then(pl.lit(1, pl.Int32)).otherwise(pl.col("_a_n_services"))
        .cast(pl.Int32).alias("dst_service_count"),
    ).drop("_a_service_namespace", "_a_service", "_a_n_services", "src_eid", "dst_eid",
           "dst_akey")


def identity_disagrees(side: str) -> pl.Expr:
    """The source's stamped identity contradicts the inventory (Calico ``name-*`` prefixes
    and ``-`` placeholders understood)."""
    ns, pod = pl.col(f"{side}_id_namespace"), pl.col(f"{side}_id_pod")
    ns = pl.when(ns.is_in(["-", ""])).then(None).otherwise(ns)
    pod = pl.when(pod.is_in(["-", ""])).then(None).otherwise(pod)
    bad_ns = ns.is_not_null() & pl.col(f"{side}_namespace").is_not_null() & (
        ns != pl.col(f"{side}_namespace"))
    prefix = pod.str.strip_chars_end("*")
    same_pod = pl.when(pod.str.ends_with("*")).then(
        pl.col(f"{side}_pod").str.starts_with(prefix)).otherwise(pod == pl.col(f"{side}_pod"))
    bad_pod = pod.is_not_null() & pl.col(f"{side}_pod").is_not_null() & ~same_pod
    return (bad_ns | bad_pod).fill_null(False)


def _stamped(side: str, what: str) -> pl.Expr:
    value = pl.col(f"{side}_id_{what}")
    return pl.when(value.is_in(["-", ""])).then(None).otherwise(value)


def stamped_fallback(side: str) -> list[pl.Expr]:
    """Where the inventory cannot place an address but the source stamped a namespace (Hubble,
    Calico, GKE details), use the stamped identity: kind ``pod-reported``, its namespace, pod
    and workload (the pod name when no workload was stamped). Inventory answers win."""
    use = (~pl.col(f"{side}_kind").is_in(["pod", "service", "node"])
           & _stamped(side, "namespace").is_not_null())
    pod = _stamped(side, "pod")

    def pick(value: pl.Expr, column: str) -> pl.Expr:
        return pl.when(use).then(value).otherwise(pl.col(f"{side}_{column}")).alias(
            f"{side}_{column}")

    return [pick(pl.lit("pod-reported"), "kind"), pick(_stamped(side, "namespace"), "namespace"),
            pick(pod, "pod"), pick(pl.coalesce(_stamped(side, "workload"), pod), "workload"),
            pick(pl.lit(None, pl.String), "workload_kind")]


def identity_checked(side: str) -> pl.Expr:
    stamped = (pl.col(f"{side}_id_namespace").is_not_null()
               | pl.col(f"{side}_id_pod").is_not_null())
    return stamped & (pl.col(f"{side}_kind") == "pod")


def output_columns() -> list[str]:
    """The resolved columns, in order, that come before the raw record's other columns."""
    sides = [f"{s}_{c}" for s in ("src", "dst") for c in SIDE_COLUMNS]
    return ["start", "end", *sides, "dst_service_count", "protocol", *MEASURES, "orientation",
            "swapped", "id_checked", "id_disagree", "src_id_disagree", "dst_id_disagree"]


def resolve_frame(flows: pl.LazyFrame, index: InventoryIndex, *, as_recorded: bool = False
                  ) -> pl.LazyFrame:
    """Resolve, orient and attribute a flows LazyFrame (schema ``flows``) with ``index``.

    A pure function of its inputs. The small table of the flows' distinct addresses is
    computed first (one streaming pass over the two address columns); the records
    themselves stay lazy.
    """
    ips = ip_table(flows, index).collect(engine="streaming")
    frame = resolve_ids(flows, index, ips.lazy(), as_recorded=as_recorded)
    frame = attach_names(frame, endpoint_table(ips, index), attribution_table(ips, index))
    frame = frame.with_columns(
        identity_checked("src").alias("_src_checked"),
        identity_checked("dst").alias("_dst_checked"),
        identity_disagrees("src").alias("src_id_disagree"),
        identity_disagrees("dst").alias("dst_id_disagree"))
    frame = frame.with_columns(*stamped_fallback("src"), *stamped_fallback("dst"))
    frame = frame.with_columns(
        rule_names(),
        pl.lit(1, pl.Int64).alias("flows"),
        (pl.col("_src_checked") | pl.col("_dst_checked")).alias("id_checked"),
        (pl.col("src_id_disagree") | pl.col("dst_id_disagree")).alias("id_disagree"),
    ).drop("_src_checked", "_dst_checked")
    first = output_columns()
    rest = [c for c in frame.collect_schema().names() if c not in first]
    return frame.select(*first, *rest)


def has_stamped_identities(snap: Snapshot) -> bool:
    """Whether any record carries a stamped identity (False at once when no flow part
    holds those columns: a part leaves out the columns its source never fills)."""
    if snap.path is not None:
        parts = snap.manifest.get("flows", {}).get("parts", [])
        files = [Path(snap.path) / FLOWS_DIR / part["file"] for part in parts]
        if not any(set(ID_COLUMNS) & set(pq.read_schema(file).names) for file in files):
            return False
    stamped = pl.any_horizontal(pl.col(c).is_not_null() for c in ID_COLUMNS)
    return snap.flows.select(stamped.any()).collect(engine="streaming").item() or False


def resolve_groups(flows: pl.LazyFrame, index: InventoryIndex, *, identities: bool = True,
                   columns: Sequence[str] | None = None,
                   slices: Sequence[pl.LazyFrame] | None = None) -> pl.DataFrame:
    """The records of ``flows`` resolved and oriented as :func:`resolve_frame` does, summed
    per distinct (src endpoint, dst endpoint, ``dst_port``, ``protocol``, stamped identity):
    the same side columns (``ip`` only for address endpoints), ``dst_port``, ``protocol``
    and the measures, from a streaming group-by on integer endpoint ids; names are attached
    once, to the small result.

    ``identities=False``: no record carries a stamped identity (see
    :func:`has_stamped_identities`). ``columns``: the endpoint columns to attach per side
    (default all of ``SIDE_COLUMNS``; ``kind`` and ``namespace`` always). ``slices``: the
    same records as several scans (a large snapshot's parts, see
    ``toolkit.core.matrix.flow_slices``), grouped one at a time to bound memory.
    """
    ips = ip_table(flows, index).collect(engine="streaming")  # one id per address, shared
    ids = list(ID_COLUMNS) if identities else []
    packed = ["src_eid", "dst_eid", "dst_port", "protocol"]
    sums = [pl.col("bytes").sum(), pl.col("packets").sum()]
    parts = [resolve_ids(part, index, ips.lazy()).group_by(packed_key(packed), *ids)
             .agg(*sums, pl.len().cast(pl.Int64).alias("flows")).collect(engine="streaming")
             for part in (slices or [flows])]
    groups = (parts[0] if len(parts) == 1 else
              pl.concat(parts).group_by("_key", *ids).agg(*sums, pl.col("flows").sum()))
    del parts
    groups = (groups.with_columns(unpacked(packed, {"dst_port": pl.Int32,
                                                    "protocol": pl.UInt8}))
              .drop("_key")
              .with_columns(pl.lit(None, pl.String).alias(c) for c in ID_COLUMNS
                            if c not in ids))
    addresses = ips.select((pl.col("ipk") + ADDR).alias("eid"), "ip")
    for side in ("src", "dst"):
        groups = groups.join(addresses.rename({"eid": f"{side}_eid", "ip": f"{side}_ip"}),
                             on=f"{side}_eid", how="left")
    groups = groups.with_columns((pl.col("dst_eid") * PORTS + pl.col("dst_port"))
                                 .alias("dst_akey"))
    ends = endpoint_table(ips, index)
    if columns is not None:
        wanted = {"eid", "kind", "namespace", "pod", "workload", "workload_kind", *columns}
        ends = ends.select(c for c in ends.columns if c in wanted)
    named = attach_names(groups.lazy(), ends, attribution_table(ips, index))
    return named.with_columns(*stamped_fallback("src"), *stamped_fallback("dst")).collect()


def parse_window(window: object) -> tuple[datetime | None, datetime | None] | None:
    """``"START..END"`` (ISO times, either side may be empty) or a (start, end) pair."""
    if window is None:
        return None
    if isinstance(window, str):
        if ".." not in window:
            raise KsegError(f"window {window!r} is not START..END",
                            hint="e.g. 2024-05-01T10:00..2024-05-01T12:00 (UTC)")
        window = tuple(window.split("..", 1))
    try:
        start, end = window  # type: ignore[misc]
    except (TypeError, ValueError):
        raise KsegError(f"window {window!r} must be a (start, end) pair") from None
    return _as_time(start), _as_time(end)


def _as_time(value: object) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    try:
        return pl.Series([str(value)]).str.to_datetime(time_zone="UTC").cast(TIME).item()
    except Exception:
        raise KsegError(f"cannot read time {value!r}",
                        hint="use ISO 8601, e.g. 2024-05-01T10:00:00 (UTC)") from None


def window_filter(flows: pl.LazyFrame, window: object) -> pl.LazyFrame:
    """Keep records whose ``start`` falls in ``[start, end)`` of ``window``."""
    bounds = parse_window(window)
    if bounds is None:
        return flows
    start, end = bounds
    if start is not None:
        flows = flows.filter(pl.col("start") >= pl.lit(start).cast(TIME))
    if end is not None:
        flows = flows.filter(pl.col("start") < pl.lit(end).cast(TIME))
    return flows


def resolve_flows(snap: Snapshot, as_recorded: bool = False, window: object = None, *,
                  dedupe: bool = False, index: InventoryIndex | None = None) -> pl.LazyFrame:
    """One row per flow record, resolved at its time, oriented client → server, with
    service attribution and identity checks (columns: see docs/core.md).

    >>> import toolkit as kt
    >>> snap = kt.load_snapshot(kt.demo_data_path() / "demo-day1")
    >>> rows = resolve_flows(snap).collect(engine="streaming")
    >>> rows.height == snap.row_counts()["flows"], "orientation" in rows.columns
    (True, True)
    """
    from toolkit.core.dedupe import dedupe_reporters

    index = index or InventoryIndex.build(snap)
    flows = window_filter(snap.flows, window)
    if dedupe:
        flows = dedupe_reporters(flows)
    return resolve_frame(flows, index, as_recorded=as_recorded)
