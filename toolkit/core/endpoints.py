"""Integer endpoint ids: the fast inner loop of resolution.

Per record and side, resolution finds one *endpoint id* (``eid``, Int64):

- ``seg_id``                 a pod IP ownership segment (the pod that held the IP at the time)
- ``HOST + host_id``         a hostNetwork pod found by node IP and container port
- ``ADDR + ipk``             the address itself (service, node, unowned pod IP, address class)

Only integers travel through the per-record joins; names (namespace, pod, workload, labels,
service) are looked up from :func:`endpoint_table` afterwards, once per record for
:func:`~toolkit.core.resolve.resolve_flows` or once per aggregated row for the matrix. The
service a record is attributed to is keyed by ``akey = dst_eid * 65536 + dst_port``
(:func:`attribution_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from toolkit.core.inventory import POD_ATTRS, InventoryIndex
from toolkit.core.ipclass import with_class
from toolkit.core.orient import RULES, orientation, swap_sides

PORTS = 65536
HOST = 1 << 40
ADDR = 1 << 41
ENDPOINT_COLUMNS = ("kind", *POD_ATTRS, "service_namespace", "service")
#: Joins of the (big) records with a small lookup: hash the lookup, stream the records.
SMALL_RIGHT = {"build_side": "force_right"}


#: Bits of each integer a packed group key holds (value + 1, so that 0 stands for null).
KEY_BITS = {"src_eid": 43, "dst_eid": 43, "dst_port": 17, "protocol": 9, "orientation": 4}


def packed_key(columns: Sequence[str]) -> pl.Expr:
    """One Int128 holding the integer ``columns`` (widths from :data:`KEY_BITS`, nulls
    kept): a group-by on it hashes and holds one column instead of several. A value the
    width cannot hold (a negative port from a hand-made frame) counts as null rather than
    spilling into its neighbour.

    >>> f = pl.DataFrame({"dst_port": [443, None], "protocol": [6, 17]})
    >>> f.select(packed_key(["dst_port", "protocol"])).select(unpacked(["dst_port",
    ...     "protocol"])).rows()
    [(443, 6), (None, 17)]
    """
    key, shift = pl.lit(0, pl.Int128), 1
    for name in columns:
        value = pl.col(name).cast(pl.Int128)
        fits = value.is_between(0, (1 << KEY_BITS[name]) - 2)
        key = key + pl.when(fits).then(value + 1).otherwise(0) * shift
        shift <<= KEY_BITS[name]
    return key.alias("_key")


def unpacked(columns: Sequence[str], dtypes: Mapping[str, pl.DataType] | None = None
             ) -> list[pl.Expr]:
    """The ``columns`` of a :func:`packed_key` ``_key``, as Int64 unless ``dtypes`` says."""
    exprs, shift = [], 1
    for name in columns:
        field = pl.col("_key") // shift % (1 << KEY_BITS[name])
        dtype = (dtypes or {}).get(name, pl.Int64)
        exprs.append(pl.when(field > 0).then(field - 1).cast(dtype).alias(name))
        shift <<= KEY_BITS[name]
    return exprs


def ip_table(flows: pl.LazyFrame, index: InventoryIndex) -> pl.LazyFrame:
    """Distinct addresses of ``flows``: ``ip``, ``ipk`` (id by sorted address, so the same
    wherever it is computed), static identity and class."""
    ips = (pl.concat([flows.select(pl.col("src_ip").alias("ip")),
                      flows.select(pl.col("dst_ip").alias("ip"))]).unique()
           .sort("ip").with_row_index("ipk").with_columns(pl.col("ipk").cast(pl.Int64)))
    return with_class(ips.join(index.ip_static.lazy(), on="ip", how="left"), index.cidrs)


def _lookup(ips: pl.LazyFrame, index: InventoryIndex) -> pl.LazyFrame:
    """Per-record lookup on ``ip``: ipk plus the pod segments (several rows when reused)."""
    seg = index.pod_segments.select("ip", "seg_id", "seg_from", "seg_to", "valid_from",
                                    "valid_to").lazy()
    return ips.select("ip", "ipk").join(seg, on="ip", how="left")


def _ports(index: InventoryIndex, ips: pl.LazyFrame) -> pl.LazyFrame:
    """Known server (ip, port) pairs with hostNetwork segments, keyed ``ipk * 65536 + port``."""
    servers = index.server_ports.with_columns(pl.lit(True).alias("srv"))
    host = index.host_segments.select("ip", "port", "host_id", "seg_from", "seg_to",
                                      "valid_from", "valid_to")
    table = servers.join(host, on=["ip", "port"], how="left").lazy()
    key = (pl.col("ipk") * PORTS + pl.col("port")).alias("pk")
    return table.join(ips.select("ip", "ipk"), on="ip").select(
        key, "srv", "host_id", "seg_from", "seg_to", "valid_from", "valid_to")


def _in_segment(prefix: str) -> pl.Expr:
    f, t = pl.col(f"{prefix}seg_from"), pl.col(f"{prefix}seg_to")
    return (f.is_null() | (pl.col("start") >= f)) & (t.is_null() | (pl.col("start") < t))


def _owned(prefix: str, id_col: str) -> pl.Expr:
    f, t = pl.col(f"{prefix}valid_from"), pl.col(f"{prefix}valid_to")
    return (pl.col(f"{prefix}{id_col}").is_not_null() & (f.is_null() | (pl.col("end") >= f))
            & (t.is_null() | (pl.col("start") < t)))


def _prefixed(frame: pl.LazyFrame, prefix: str, keep: dict[str, str]) -> pl.LazyFrame:
    return frame.rename({n: keep.get(n, prefix + n) for n in frame.collect_schema().names()})


def _side(frame: pl.LazyFrame, side: str, lookup: pl.LazyFrame, ports: pl.LazyFrame
          ) -> pl.LazyFrame:
    """Add ``{side}_eid`` and ``{side}_srv`` (two joins and two filters, integer payloads)."""
    p, h = f"_{side}p_", f"_{side}h_"
    ip, port = f"{side}_ip", f"{side}_port"
    frame = (frame.join(_prefixed(lookup, p, {"ip": ip}), on=ip, how="left", **SMALL_RIGHT)
             .filter(_in_segment(p))
             .with_columns((pl.col(f"{p}ipk") * PORTS + pl.col(port)).alias(f"{p}pk"))
             .join(_prefixed(ports, h, {}), left_on=f"{p}pk", right_on=f"{h}pk", how="left",
                   **SMALL_RIGHT)
             .filter(_in_segment(h)))
    eid = (pl.when(_owned(p, "seg_id")).then(pl.col(f"{p}seg_id"))
           .when(_owned(h, "host_id")).then(pl.col(f"{h}host_id") + HOST)
           .otherwise(pl.col(f"{p}ipk") + ADDR))
    drop = [c for c in frame.collect_schema().names() if c.startswith((p, h))]
    return frame.with_columns(eid.alias(f"{side}_eid"),
                              pl.col(f"{h}srv").fill_null(False).alias(f"{side}_srv")).drop(drop)


def resolve_ids(flows: pl.LazyFrame, index: InventoryIndex, ips: pl.LazyFrame, *,
                as_recorded: bool = False) -> pl.LazyFrame:
    """Every record with ``src_eid``/``dst_eid`` after orientation, plus ``swapped``,
    ``orientation`` (UInt8 code, see :func:`~toolkit.core.orient.rule_names`) and
    ``dst_akey`` (all raw columns kept, src/dst twins swapped)."""
    lookup, ports = _lookup(ips, index), _ports(index, ips)
    frame = _side(_side(flows, "src", lookup, ports), "dst", lookup, ports)
    if as_recorded:
        frame = frame.with_columns(pl.lit(False).alias("swapped"),
                                   pl.lit(RULES.index("as-recorded"), pl.UInt8)
                                   .alias("orientation"))
    else:
        frame = swap_sides(orientation(frame, index.registered_ports), pl.col("swapped"))
    akey = pl.col("dst_eid") * PORTS + pl.col("dst_port")
    return frame.with_columns(akey.alias("dst_akey")).drop("src_srv", "dst_srv")


def endpoint_table(ips: pl.DataFrame, index: InventoryIndex) -> pl.DataFrame:
    """``eid`` → kind, namespace, pod, pod_uid, workload, workload_kind, node, labels,
    service_namespace, service (small: pod segments + hostNetwork ports + addresses)."""
    attrs = list(POD_ATTRS)
    none = [pl.lit(None, pl.String).alias(c) for c in ("service_namespace", "service")]
    pods = index.pod_segments.select(pl.col("seg_id").alias("eid"), pl.lit("pod").alias("kind"),
                                     *attrs, *none)
    hosts = index.host_segments.select((pl.col("host_id") + HOST).alias("eid"),
                                       pl.lit("pod").alias("kind"), *attrs, *none)
    has_seg = index.pod_segments.select("ip").unique().with_columns(pl.lit(True).alias("_seg"))
    addr = ips.join(has_seg, on="ip", how="left")
    kind = (pl.when(pl.col("static_kind").is_not_null()).then(pl.col("static_kind"))
            .when(pl.col("_seg").fill_null(False)).then(pl.lit("unknown-in-cluster"))
            .otherwise(pl.col("ip_class")))
    schema = pods.schema
    addrs = addr.select(
        (pl.col("ipk") + ADDR).alias("eid"), kind.alias("kind"),
        pl.col("service_namespace").alias("namespace"),
        *[pl.lit(None, schema[c]).alias(c) for c in ("pod", "pod_uid", "workload",
                                                     "workload_kind")],
        pl.col("node"), pl.lit(None, schema["labels"]).alias("labels"),
        pl.col("service_namespace"), pl.col("service_name").alias("service"))
    return pl.concat([pods, hosts, addrs], how="vertical_relaxed")


def attribution_table(ips: pl.DataFrame, index: InventoryIndex) -> pl.DataFrame:
    """``akey`` (server eid * 65536 + port) → service_namespace, service, n_services."""
    cols = [pl.col("service_namespace"), pl.col("service_name").alias("service"),
            pl.col("n_services")]
    by_seg = (index.pod_segments.select("seg_id", "pod_uid").join(index.svc_by_pod, on="pod_uid")
              .select((pl.col("seg_id") * PORTS + pl.col("port")).alias("akey"), *cols))
    by_host = (index.host_segments.filter(pl.col("host_service").is_not_null())
               .select(((pl.col("host_id") + HOST) * PORTS + pl.col("port")).alias("akey"),
                       pl.col("host_service_namespace").alias("service_namespace"),
                       pl.col("host_service").alias("service"),
                       pl.col("host_n_services").alias("n_services")))
    by_ip = (index.svc_by_ip.join(ips.select("ip", "ipk"), on="ip")
             .select(((pl.col("ipk") + ADDR) * PORTS + pl.col("port")).alias("akey"), *cols))
    return pl.concat([by_seg, by_host, by_ip], how="vertical_relaxed").unique("akey")
