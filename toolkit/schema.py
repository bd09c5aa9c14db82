"""The single source of truth for every kseg table.

Each table is declared once, here: column names, polars dtypes, whether a column may hold
nulls, and what it means. Every boundary (collector output, snapshot load, core input) checks
frames against these declarations with :func:`check_lazy` (schema only, cheap) or
:func:`check_frame` (schema and data). :func:`conform` turns a frame built by a collector into
exactly the declared shape.

Conventions shared by all tables:

- Times are ``Datetime("ns", "UTC")`` (:data:`TIME`). Nanoseconds because some flow sources
  (goflow2) report them and an as-of join needs one unit on both sides.
- IP addresses are strings in canonical form (``ipaddress`` compressed: ``10.0.0.1``,
  ``fd00::1``), IPv4 and IPv6 alike, as ``str(ipaddress.ip_address(text))`` gives.
- Labels are a list of ``{key, value}`` structs sorted by key (:data:`LABELS`), so they stay
  lossless and filterable without a column per key.
- Protocols are IANA numbers (6 TCP, 17 UDP, 132 SCTP, 1 ICMP, 58 ICMPv6).

>>> from toolkit import schema
>>> schema.TABLES["pods"].column("ip").dtype
String
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from toolkit.errors import SchemaError

#: Bump when a table gains, loses or changes a column, or its files change shape; snapshots
#: of a version outside :data:`READABLE_VERSIONS` are refused.
SCHEMA_VERSION = 2
#: Versions this kseg reads: version 1 differs only in that its flow parts hold every
#: column (version 2 parts may omit a nullable column that is null in all their rows).
READABLE_VERSIONS = (1, 2)

TIME = pl.Datetime("ns", "UTC")
LABELS = pl.List(pl.Struct({"key": pl.String, "value": pl.String}))
CONTAINER_PORTS = pl.List(
    pl.Struct({"container": pl.String, "name": pl.String, "port": pl.Int32, "protocol": pl.String})
)
SERVICE_PORTS = pl.List(
    pl.Struct(
        {
            "name": pl.String,
            "protocol": pl.String,
            "port": pl.Int32,
            "target_port": pl.String,
            "node_port": pl.Int32,
        }
    )
)
STRINGS = pl.List(pl.String)


@dataclass(frozen=True)
class Column:
    """One column of a table: name, polars dtype, nullability and meaning."""

    name: str
    dtype: pl.DataType
    nullable: bool
    doc: str


@dataclass(frozen=True)
class Table:
    """A declared table: its columns in order, a key, and what one row means."""

    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema([(c.name, c.dtype) for c in self.columns])

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if not c.nullable]

    def empty(self) -> pl.DataFrame:
        """An empty frame with exactly this table's schema."""
        return pl.DataFrame(schema=self.polars_schema)


def _c(name: str, dtype: pl.DataType, doc: str, *, nullable: bool = True) -> Column:
    return Column(name, dtype, nullable, doc)


def _req(name: str, dtype: pl.DataType, doc: str) -> Column:
    return Column(name, dtype, False, doc)


NAMESPACES = Table(
    "namespaces",
    "One row per namespace.",
    (
        _req("name", pl.String, "Namespace name."),
        _c("uid", pl.String, "metadata.uid."),
        _req("labels", LABELS, "Namespace labels (kubernetes.io/metadata.name included)."),
        _c("created", TIME, "metadata.creationTimestamp."),
        _c("deleted", TIME, "When the namespace was seen deleted; null while it exists."),
        _c("source", pl.String, "Where the row came from: live, kubectl-json, manifest, demo."),
    ),
    key=("name",),
)

NODES = Table(
    "nodes",
    "One row per node (host).",
    (
        _req("name", pl.String, "Node name."),
        _c("uid", pl.String, "metadata.uid."),
        _req("labels", LABELS, "Node labels."),
        _req("internal_ips", STRINGS, "status.addresses of type InternalIP, canonical form."),
        _req("external_ips", STRINGS, "status.addresses of type ExternalIP, canonical form."),
        _req("pod_cidrs", STRINGS, "spec.podCIDRs (or spec.podCIDR)."),
        _c("provider_id", pl.String, "spec.providerID (cloud instance)."),
        _c("zone", pl.String, "topology.kubernetes.io/zone label."),
        _c("region", pl.String, "topology.kubernetes.io/region label."),
        _c("created", TIME, "metadata.creationTimestamp."),
        _c("deleted", TIME, "When the node was seen deleted; null while it exists."),
        _c("source", pl.String, "Where the row came from."),
    ),
    key=("name",),
)

PODS = Table(
    "pods",
    "One row per (pod, IP ownership interval): which pod held which IP from valid_from to "
    "valid_to. A pod with two IPs (dual stack) has two rows; a pod without an IP has one row "
    "with a null ip. Flows are attributed with an as-of join on (ip, time).",
    (
        _req("namespace", pl.String, "Pod namespace."),
        _req("name", pl.String, "Pod name."),
        _req("uid", pl.String, "metadata.uid (synthetic for planned pods)."),
        _c("ip", pl.String, "Pod IP held during the interval; the node IP for hostNetwork pods."),
        _c("ip_family", pl.String, "IPv4 or IPv6."),
        _c("node", pl.String, "spec.nodeName."),
        _req("host_network", pl.Boolean, "spec.hostNetwork: the pod shares its node's IP."),
        _c("phase", pl.String, "status.phase at the last observation."),
        _req("labels", LABELS, "Pod labels."),
        _c("service_account", pl.String, "spec.serviceAccountName."),
        _c("owner_kind", pl.String, "Kind of the direct controller owner (e.g. ReplicaSet)."),
        _c("owner_name", pl.String, "Name of the direct controller owner."),
        _req("workload_kind", pl.String, "Top-level owner kind: Deployment, StatefulSet, "
             "DaemonSet, CronJob, Job, ReplicaSet, ... or Pod for a bare pod."),
        _req("workload_name", pl.String, "Top-level owner name (the pod's own name if bare)."),
        _req("container_ports", CONTAINER_PORTS, "Declared container ports."),
        _req("images", STRINGS, "Container images."),
        _c("valid_from", TIME, "Start of the IP ownership (pod start or first seen)."),
        _c("valid_to", TIME, "End of the IP ownership (deletion or last seen); null = still held."),
        _req("planned", pl.Boolean, "True for pods expanded from a manifest, not observed."),
        _c("source", pl.String, "Where the row came from."),
    ),
    key=("namespace", "name", "uid", "ip"),
)

WORKLOADS = Table(
    "workloads",
    "One row per controller object (Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, "
    "CronJob). top_kind/top_name name the controller at the top of its owner chain.",
    (
        _req("namespace", pl.String, "Namespace."),
        _req("kind", pl.String, "Object kind."),
        _req("name", pl.String, "Object name."),
        _c("uid", pl.String, "metadata.uid."),
        _req("labels", LABELS, "Labels of the object itself."),
        _req("template_labels", LABELS, "spec.template.metadata.labels (what its pods get)."),
        _c("selector", pl.String, "spec.selector as canonical JSON."),
        _c("replicas", pl.Int32, "spec.replicas (null for DaemonSet, CronJob)."),
        _c("owner_kind", pl.String, "Kind of its own controller owner, if any."),
        _c("owner_name", pl.String, "Name of its own controller owner, if any."),
        _req("top_kind", pl.String, "Kind of the top of the owner chain (itself if none)."),
        _req("top_name", pl.String, "Name of the top of the owner chain."),
        _c("created", TIME, "metadata.creationTimestamp."),
        _c("deleted", TIME, "When seen deleted; null while it exists."),
        _c("source", pl.String, "Where the row came from."),
    ),
    key=("namespace", "kind", "name"),
)

SERVICES = Table(
    "services",
    "One row per Service.",
    (
        _req("namespace", pl.String, "Namespace."),
        _req("name", pl.String, "Service name."),
        _c("uid", pl.String, "metadata.uid."),
        _req("type", pl.String, "ClusterIP, NodePort, LoadBalancer or ExternalName."),
        _req("cluster_ips", STRINGS, "spec.clusterIPs (empty for headless)."),
        _req("external_ips", STRINGS, "spec.externalIPs and status.loadBalancer ingress IPs."),
        _req("ports", SERVICE_PORTS, "spec.ports; target_port is a number or a port name."),
        _c("selector", LABELS, "spec.selector; null when the service has none (manual endpoints)."),
        _req("headless", pl.Boolean, "clusterIP: None."),
        _c("external_name", pl.String, "spec.externalName for ExternalName services."),
        _req("labels", LABELS, "Service labels."),
        _c("created", TIME, "metadata.creationTimestamp."),
        _c("deleted", TIME, "When seen deleted; null while it exists."),
        _c("source", pl.String, "Where the row came from."),
    ),
    key=("namespace", "name"),
)

ENDPOINTS = Table(
    "endpoints",
    "One row per (EndpointSlice, address, port): which pod IP backs which service port.",
    (
        _req("namespace", pl.String, "Namespace of the service."),
        _req("service", pl.String, "Service name (kubernetes.io/service-name label)."),
        _c("slice", pl.String, "EndpointSlice name (or the legacy Endpoints name)."),
        _req("ip", pl.String, "Endpoint address, canonical form."),
        _c("address_type", pl.String, "IPv4, IPv6 or FQDN."),
        _c("pod_namespace", pl.String, "targetRef namespace when it is a Pod."),
        _c("pod_name", pl.String, "targetRef name when it is a Pod."),
        _c("pod_uid", pl.String, "targetRef uid when it is a Pod."),
        _c("node", pl.String, "nodeName."),
        _c("port_name", pl.String, "Port name (matches the service port name)."),
        _c("port", pl.Int32, "Backend (target) port number."),
        _c("protocol", pl.String, "TCP, UDP or SCTP."),
        _c("ready", pl.Boolean, "conditions.ready."),
        _c("serving", pl.Boolean, "conditions.serving."),
        _c("terminating", pl.Boolean, "conditions.terminating."),
        _c("source", pl.String, "Where the row came from."),
    ),
    key=("namespace", "service", "ip", "port"),
)

NETWORK_POLICIES = Table(
    "network_policies",
    "One row per networking.k8s.io/v1 NetworkPolicy; spec kept losslessly as JSON.",
    (
        _req("namespace", pl.String, "Namespace."),
        _req("name", pl.String, "Policy name."),
        _c("uid", pl.String, "metadata.uid."),
        _req("labels", LABELS, "Policy labels."),
        _req("pod_selector", pl.String, "spec.podSelector as canonical JSON ('{}' selects all)."),
        _req("policy_types", STRINGS, "spec.policyTypes, defaulted as the API does when absent."),
        _req("spec", pl.String, "The whole spec as canonical JSON (sorted keys)."),
        _c("created", TIME, "metadata.creationTimestamp."),
        _c("source", pl.String, "Where the row came from."),
    ),
    key=("namespace", "name"),
)

FLOWS = Table(
    "flows",
    "One row per flow record as the source reported it, normalised. Unidirectional: src and "
    "dst are as recorded (the core orients them client->server). Identity columns (*_id_*) "
    "hold what the source itself stamped (Hubble, Calico, GKE details), never inferred. "
    "Stored as parts under flows/; a part leaves out the nullable columns that are null in "
    "all its rows (read them with schema.scan_parquet or union_by_name).",
    (
        _req("start", TIME, "Start of the record's interval (or the event time)."),
        _req("end", TIME, "End of the record's interval (equal to start for events)."),
        _req("src_ip", pl.String, "Source address of the packets, canonical form."),
        _req("dst_ip", pl.String, "Destination address of the packets, canonical form."),
        _c("src_port", pl.Int32, "Source port (null for protocols without ports)."),
        _c("dst_port", pl.Int32, "Destination port (ICMP: null)."),
        _c("protocol", pl.UInt8, "IANA protocol number."),
        _c("bytes", pl.Int64, "Bytes in the record's direction; null when the source has none "
           "(Hubble)."),
        _c("packets", pl.Int64, "Packets in the record's direction; null when unknown."),
        _req("flow_count", pl.Int64, "Connections aggregated in this record (1 when unknown)."),
        _c("action", pl.String, "allow or deny (ACCEPT/FORWARDED -> allow, REJECT/DROPPED -> "
           "deny); null when the source does not say."),
        _c("drop_reason", pl.String, "Why the packet was dropped, as the source says."),
        _c("reporter", pl.String, "Which side observed the record: src, dst, or null (a "
           "middle point). Sources that report both sides keep both rows."),
        _c("direction", pl.String, "ingress or egress relative to the observer, when given."),
        _c("is_reply", pl.Boolean, "The source says this record is the reply direction."),
        _c("tcp_flags", pl.Int32, "OR of the TCP flags seen (FIN=1 SYN=2 RST=4 PSH=8 ACK=16)."),
        _c("src_xlate_ip", pl.String, "Source after NAT, when the source reports both (AWS "
           "srcaddr vs pkt-srcaddr, conntrack reply tuple)."),
        _c("src_xlate_port", pl.Int32, "Source port after NAT."),
        _c("dst_xlate_ip", pl.String, "Destination after NAT (e.g. the backend pod behind a "
           "ClusterIP in conntrack's reply tuple)."),
        _c("dst_xlate_port", pl.Int32, "Destination port after NAT."),
        _c("src_id_namespace", pl.String, "Source namespace stamped by the source."),
        _c("src_id_pod", pl.String, "Source pod (or endpoint) name stamped by the source."),
        _c("src_id_workload", pl.String, "Source workload name stamped by the source."),
        _c("src_id_labels", STRINGS, "Source labels stamped by the source, as key=value."),
        _c("src_id_names", STRINGS, "DNS names of the source, when the source knows them."),
        _c("dst_id_namespace", pl.String, "Destination namespace stamped by the source."),
        _c("dst_id_pod", pl.String, "Destination pod (or endpoint) name stamped by the source."),
        _c("dst_id_workload", pl.String, "Destination workload stamped by the source."),
        _c("dst_id_labels", STRINGS, "Destination labels stamped by the source, as key=value."),
        _c("dst_id_names", STRINGS, "DNS names of the destination, when the source knows them."),
        _c("dst_id_service", pl.String, "Destination service (namespace/name) stamped by the "
           "source."),
        _c("l7_type", pl.String, "L7 protocol or record type (http, dns, kafka), when known."),
        _c("observer", pl.String, "Where the record was observed: node, instance, interface."),
        _req("format", pl.String, "Reader that produced the row (hubble, aws-vpc, ...)."),
        _c("source_file", pl.String, "File the record came from (as given to the importer)."),
        _c("source_record", pl.Int64, "Line number (text) or record index (JSON, Parquet), "
           "1-based."),
        _c("import_id", pl.String, "Import batch that appended the row."),
    ),
)

FLOW_TRUTH = Table(
    "flow_truth",
    "Ground truth of the demo generator, one row per generated flow record, aligned with the "
    "flows table by (source_file, source_record). Only demo snapshots have it.",
    (
        _req("source_file", pl.String, "Joins flows.source_file."),
        _req("source_record", pl.Int64, "Joins flows.source_record."),
        _req("client_namespace", pl.String, "True client namespace (or an external class)."),
        _req("client_workload", pl.String, "True client workload (top-level owner) or address."),
        _c("client_pod", pl.String, "True client pod, when a pod."),
        _req("server_namespace", pl.String, "True server namespace (or an external class)."),
        _req("server_workload", pl.String, "True server workload or address."),
        _c("server_pod", pl.String, "True server pod, when a pod."),
        _c("server_service", pl.String, "Service the client addressed, when any."),
        _req("is_reply", pl.Boolean, "True when the record is the server->client direction."),
        _c("bytes", pl.Int64, "Bytes of the record (equal to flows.bytes)."),
        _c("edge", pl.String, "Name of the planted call-graph edge that produced the record."),
    ),
    key=("source_file", "source_record"),
)

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        NAMESPACES, NODES, PODS, WORKLOADS, SERVICES, ENDPOINTS, NETWORK_POLICIES, FLOWS,
        FLOW_TRUTH,
    )
}

#: Tables stored as one Parquet file each in a snapshot.
INVENTORY_TABLES = ("namespaces", "nodes", "pods", "workloads", "services", "endpoints",
                    "network_policies")


def table(name: str) -> Table:
    """The declared table called ``name``; a clear error for an unknown name."""
    try:
        return TABLES[name]
    except KeyError:
        raise SchemaError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}",
                          table=name) from None


def _schema_problems(actual: pl.Schema | dict, tbl: Table, partial: bool = False
                     ) -> list[str]:
    problems = []
    actual = dict(actual)
    for col in tbl.columns:
        if col.name not in actual:
            if not (partial and col.nullable):
                problems.append(f"missing column {col.name!r}")
        elif actual[col.name] != col.dtype:
            problems.append(f"column {col.name!r} is {actual[col.name]}, expected {col.dtype}")
    extra = [name for name in actual if name not in tbl.names]
    if extra:
        problems.append(f"unexpected columns {extra}")
    return problems


def check_lazy(frame: pl.LazyFrame | pl.DataFrame, table_name: str, *, where: str = "",
               partial: bool = False) -> None:
    """Check column names and dtypes only (cheap on a LazyFrame: nothing is read).

    ``partial=True`` accepts a frame without some nullable columns (a flow part written
    by :func:`conform` with ``omit_absent=True``). Raises :class:`SchemaError` listing
    every mismatch.
    """
    tbl = table(table_name)
    actual = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    problems = _schema_problems(actual, tbl, partial)
    if problems:
        place = f" in {where}" if where else ""
        raise SchemaError(f"table {table_name!r}{place} does not match schema v{SCHEMA_VERSION}: "
                          + "; ".join(problems), table=table_name, path=where or None)


def check_frame(frame: pl.DataFrame, table_name: str, *, where: str = "") -> None:
    """Check schema and data: required columns hold no nulls.

    The error carries up to 5 failing rows in ``SchemaError.rows``.
    """
    check_lazy(frame, table_name, where=where)
    tbl = table(table_name)
    for name in tbl.required:
        nulls = frame.get_column(name).null_count()
        if nulls:
            rows = frame.filter(pl.col(name).is_null()).head(5)
            place = f" in {where}" if where else ""
            raise SchemaError(f"table {table_name!r}{place}: column {name!r} must not be null, "
                              f"found {nulls} null value(s)", table=table_name, column=name,
                              rows=rows, path=where or None)


def conform(frame: pl.DataFrame | pl.LazyFrame, table_name: str, *,
            omit_absent: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """Return ``frame`` with exactly the declared columns, order and dtypes.

    Missing nullable columns are added as nulls (left out with ``omit_absent=True``: how
    flow parts are written, see :func:`scan_parquet`); missing required columns are an
    error; extra columns are an error too (a typo must not vanish silently).
    """
    tbl = table(table_name)
    actual = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    missing = [c for c in tbl.required if c not in actual]
    extra = [c for c in actual if c not in tbl.names]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing required columns {missing}")
        if extra:
            parts.append(f"unknown columns {extra}")
        raise SchemaError(f"cannot conform frame to table {table_name!r}: " + "; ".join(parts),
                          table=table_name)
    exprs = [
        (pl.col(c.name).cast(c.dtype) if c.name in actual else pl.lit(None, dtype=c.dtype))
        .alias(c.name)
        for c in tbl.columns if c.name in actual or not omit_absent
    ]
    return frame.select(exprs)


def without_null_columns(frame: pl.DataFrame, table_name: str) -> pl.DataFrame:
    """``frame`` without the nullable columns that are null in every row (for a flow part:
    polars spends as long writing an all-null string column as a real one)."""
    tbl = table(table_name)
    empty = [c.name for c in tbl.columns if c.nullable and c.name in frame.columns
             and frame.get_column(c.name).null_count() == frame.height]
    return frame.drop(empty) if frame.height else frame


def scan_parquet(files: str | Path | Sequence[str | Path], table_name: str) -> pl.LazyFrame:
    """Scan ``files`` of one table, in the declared columns and order, whatever subset of
    the nullable columns each file holds (the others read as null).

    Flow parts leave out the columns their source never fills (a VPC flow log has no Hubble
    identity): writing them made such an import 10-20% slower. Other readers need the same care:
    DuckDB ``read_parquet(..., union_by_name=true)``, pyarrow
    ``pyarrow.dataset.dataset(files, schema=...)``.

    >>> scan_parquet([], "flows").collect_schema().names()[:3]
    ['start', 'end', 'src_ip']
    """
    if isinstance(files, (str, Path)):
        files = [files]
    files = [str(f) for f in files]
    tbl = table(table_name)
    if not files:
        return tbl.empty().lazy()
    return pl.scan_parquet(files, schema=tbl.polars_schema, missing_columns="insert")


def _dtype_text(dtype: pl.DataType) -> str:
    text = str(dtype)
    return text.replace("time_unit='ns', time_zone='UTC'", "ns, UTC")


def markdown_reference(names: Iterable[str] | None = None) -> str:
    """The schema reference as Markdown (the README embeds this text; a test keeps it in sync)."""
    out = [f"Schema version {SCHEMA_VERSION}. Generated by `kseg schema`.", ""]
    for name in names or TABLES:
        tbl = TABLES[name]
        out += [f"#### `{tbl.name}`", "", tbl.doc, "",
                "| column | type | null | meaning |", "|---|---|---|---|"]
        for col in tbl.columns:
            null = "yes" if col.nullable else "no"
            out.append(f"| `{col.name}` | `{_dtype_text(col.dtype)}` | {null} | {col.doc} |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown_reference())
