"""The inventory index: small lookup tables built once from a Snapshot's inventory.

Everything the core needs to resolve a flow address lives here, as small eager polars frames
(picklable, so a Dask scheduler can ship one index to every worker):

``pod_segments``   pod IP ownership as an as-of lookup (see :func:`interval_segments`)
``host_segments``  hostNetwork pods by (node IP, container port), same layout
``ip_static``      ClusterIPs / service external IPs → service; node IPs → node
``server_ports``   (ip, port) pairs known to serve: EndpointSlice ports, container ports,
                   service ports on ClusterIPs, NodePorts on node IPs (used by orientation)
``svc_by_pod``     (pod_uid, port) → service; ``svc_by_ip`` (ip, port) → service
                   (hostNetwork segments carry their service as ``host_service*``)
``cidrs``          cluster pod and service ranges (see :func:`cluster_cidrs`)

>>> from toolkit.snapshot import Snapshot
>>> InventoryIndex.build(Snapshot.from_frames()).pod_segments.height
0
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from toolkit.core import services as _services
from toolkit.core.ipclass import covering_networks
from toolkit.schema import TIME
from toolkit.snapshot import Snapshot

#: Columns describing a resolved pod, as named in the segment tables.
POD_ATTRS = ("namespace", "pod", "pod_uid", "workload", "workload_kind", "node", "labels")


def interval_segments(rows: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Turn ownership intervals into as-of segments per ``key``.

    Rows of one key are sorted by ``valid_from`` (null = since forever); segment *i* covers
    ``[seg_from, seg_to)`` = from its own start to the next interval's start, the first one
    open to the left and the last open to the right. A flow joined on ``key`` and filtered to
    ``seg_from <= start < seg_to`` therefore finds exactly one segment: the interval that
    started last at or before the flow (an as-of join), whose ``valid_from``/``valid_to`` are
    then checked against the record's interval. Ties on ``valid_from`` keep the smallest uid.
    """
    rows = (rows.drop_nulls(key).sort([*key, "valid_from", "pod_uid"], nulls_last=False)
            .unique([*key, "valid_from"], keep="first", maintain_order=True))
    nxt = pl.col("valid_from").shift(-1).over(key)
    first = pl.int_range(pl.len()).over(key) == 0
    return rows.with_columns(
        pl.when(first).then(None).otherwise(pl.col("valid_from")).cast(TIME).alias("seg_from"),
        nxt.cast(TIME).alias("seg_to"),
    )


def _pod_rows(pods: pl.DataFrame) -> pl.DataFrame:
    return pods.select(
        "ip", "valid_from", "valid_to", "host_network", "container_ports",
        "namespace", pl.col("name").alias("pod"), pl.col("uid").alias("pod_uid"),
        pl.col("workload_name").alias("workload"), "workload_kind", "node", "labels")


def _ip_static(nodes: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    svc = (services.select("namespace", "name", pl.concat_list("cluster_ips", "external_ips")
                           .alias("ip"), pl.col("deleted").is_not_null().alias("_gone"))
           .explode("ip").drop_nulls("ip").filter(pl.col("ip") != "None")
           .select("ip", pl.lit("service").alias("static_kind"),
                   pl.col("namespace").alias("service_namespace"),
                   pl.col("name").alias("service_name"), pl.lit(None, pl.String).alias("node"),
                   "_gone"))
    nod = (nodes.select("name", pl.concat_list("internal_ips", "external_ips").alias("ip"),
                        pl.col("deleted").is_not_null().alias("_gone"))
           .explode("ip").drop_nulls("ip")
           .select("ip", pl.lit("node").alias("static_kind"),
                   pl.lit(None, pl.String).alias("service_namespace"),
                   pl.lit(None, pl.String).alias("service_name"),
                   pl.col("name").alias("node"), "_gone"))
    both = pl.concat([svc, nod]).sort(["ip", "_gone", "static_kind", "service_namespace",
                                       "service_name", "node"], nulls_last=True)
    return both.unique("ip", keep="first", maintain_order=True).drop("_gone")


def _server_ports(rows: pl.DataFrame, services: pl.DataFrame, endpoints: pl.DataFrame,
                  ip_static: pl.DataFrame) -> pl.DataFrame:
    cports = (rows.select("ip", "container_ports").drop_nulls("ip").explode("container_ports")
              .drop_nulls("container_ports")
              .select("ip", pl.col("container_ports").struct.field("port").alias("port")))
    eps = endpoints.select("ip", "port")
    sports = (services.select(pl.concat_list("cluster_ips", "external_ips").alias("ip"),
                              "ports").explode("ip").explode("ports").drop_nulls(["ip", "ports"])
              .select("ip", pl.col("ports").struct.field("port").alias("port")))
    node_ports = (services.select(pl.col("ports").list.eval(pl.element().struct.field(
        "node_port")).alias("port")).explode("port").drop_nulls().unique())
    node_ips = ip_static.filter(pl.col("static_kind") == "node").select("ip")
    nports = node_ips.join(node_ports, how="cross")
    frames = [f.select(pl.col("ip").cast(pl.String), pl.col("port").cast(pl.Int32))
              for f in (cports, eps, sports, nports)]
    return pl.concat(frames).drop_nulls().unique().sort(["ip", "port"])


def cluster_cidrs(nodes: pl.DataFrame, rows: pl.DataFrame, ip_static: pl.DataFrame
                  ) -> tuple[tuple[str, ...], str]:
    """The cluster's pod and service ranges, and where they came from.

    Pod ranges are ``nodes.pod_cidrs`` when any node declares them, else derived from the
    observed (non-hostNetwork) pod IPs as the collapsed /24 (IPv4) and /64 (IPv6) networks
    containing them. Service ranges are never in an inventory table, so they are always
    derived from observed ClusterIPs the same way (/24 and /112).
    """
    declared = nodes.select(pl.col("pod_cidrs").explode()).drop_nulls().to_series().to_list()
    pod_ips = rows.filter(~pl.col("host_network")).get_column("ip").drop_nulls().to_list()
    svc_ips = ip_static.filter(pl.col("static_kind") == "service").get_column("ip").to_list()
    if declared:
        pod_ranges, how = list(dict.fromkeys(declared)), "nodes.pod_cidrs"
    else:
        pod_ranges, how = covering_networks(pod_ips, 24, 64), "derived from pod IPs (/24, /64)"
    svc_ranges = covering_networks(svc_ips, 24, 112)
    return tuple(pod_ranges + svc_ranges), how + "; services derived from ClusterIPs (/24, /112)"


@dataclass(frozen=True, eq=False)
class InventoryIndex:
    """Small lookup tables for resolving flow addresses; picklable. Build with :meth:`build`."""

    pod_segments: pl.DataFrame
    host_segments: pl.DataFrame
    ip_static: pl.DataFrame
    server_ports: pl.DataFrame
    registered_ports: pl.DataFrame
    svc_by_pod: pl.DataFrame
    svc_by_ip: pl.DataFrame
    cidrs: tuple[str, ...] = ()
    cidr_source: str = ""
    meta: dict = field(default_factory=dict)

    @classmethod
    def build(cls, snap: Snapshot) -> InventoryIndex:
        """Collect the snapshot's (small) inventory tables once and build every lookup."""
        pods = snap.pods.collect()
        nodes, services = snap.nodes.collect(), snap.services.collect()
        endpoints = snap.endpoints.collect()
        rows = _pod_rows(pods)
        attrs = ["valid_from", "valid_to", *POD_ATTRS]
        pod_seg = interval_segments(rows.filter(~pl.col("host_network")).select("ip", *attrs),
                                    ["ip"])
        host = (rows.filter(pl.col("host_network")).explode("container_ports")
                .drop_nulls("container_ports")
                .with_columns(pl.col("container_ports").struct.field("port").alias("port"))
                .select("ip", "port", *attrs).unique(["ip", "port", "pod_uid", "valid_from"]))
        ip_static = _ip_static(nodes, services)
        servers = _server_ports(rows, services, endpoints, ip_static)
        by_pod, by_ip = _services.service_targets(pods, services, endpoints)
        cidrs, how = cluster_cidrs(nodes, rows, ip_static)
        pod_seg = pod_seg.with_row_index("seg_id").with_columns(pl.col("seg_id").cast(pl.Int64))
        host = interval_segments(host, ["ip", "port"]).join(
            by_pod.rename({"service_namespace": "host_service_namespace",
                           "service_name": "host_service", "n_services": "host_n_services"}),
            on=["pod_uid", "port"], how="left").with_row_index("host_id").with_columns(
                pl.col("host_id").cast(pl.Int64))
        return cls(pod_segments=pod_seg, host_segments=host,
                   ip_static=ip_static, server_ports=servers,
                   registered_ports=servers.select("port").unique().sort("port"),
                   svc_by_pod=by_pod, svc_by_ip=by_ip, cidrs=cidrs, cidr_source=how,
                   meta={"pods": pods.height, "services": services.height,
                         "nodes": nodes.height})

    def __repr__(self) -> str:
        return (f"<InventoryIndex: {self.pod_segments.height} pod IP segments, "
                f"{self.host_segments.height} hostNetwork ports, {self.ip_static.height} "
                f"service/node IPs, {len(self.cidrs)} cluster ranges ({self.cidr_source})>")
