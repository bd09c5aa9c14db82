"""Write flow records as raw AWS VPC flow-log text (the default space-separated format).

The first line names the fields; ``-`` marks a value that does not apply; NODATA and
SKIPDATA status lines (kept in a demo snapshot's manifest, not in its flows table) follow
the flow lines. Written in chunks with polars' CSV writer, so memory stays flat and a 10M
record file takes seconds, not minutes.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import polars as pl

from toolkit.errors import KsegError
from toolkit.snapshot import Snapshot

ACCOUNT = "123456789012"
VPC = "vpc-0c8e3d1f2a4b5c6d7"
FIELDS = {
    2: ["version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport",
        "protocol", "packets", "bytes", "start", "end", "action", "log-status"],
    3: ["vpc-id", "subnet-id", "instance-id", "tcp-flags", "type", "pkt-srcaddr", "pkt-dstaddr"],
    4: ["region", "az-id", "sublocation-type", "sublocation-id"],
    5: ["pkt-src-aws-service", "pkt-dst-aws-service", "flow-direction", "traffic-path"],
}
WRITE_CHUNK = 1_000_000
_SUBNETS = {"a": "0a1b2c3d4e5f60718", "b": "0b2c3d4e5f6071829", "c": "0c3d4e5f607182930"}


def fields(version: int) -> list[str]:
    """The default field list of flow-log format ``version`` (2..5)."""
    if version not in FIELDS:
        raise KsegError(f"AWS VPC flow-log version {version} is not one of 2, 3, 4, 5")
    return [f for v in range(2, version + 1) for f in FIELDS[v]]


def node_info(nodes: pl.LazyFrame | pl.DataFrame | None) -> pl.DataFrame:
    """observer (ENI) -> instance, subnet, az, region, from a nodes table."""
    schema = {"observer": pl.String, "instance": pl.String, "subnet": pl.String,
              "az": pl.String, "region": pl.String}
    if nodes is None:
        return pl.DataFrame(schema=schema)
    nodes = nodes.lazy().select("provider_id", "zone", "region").collect()
    inst = pl.col("provider_id").str.extract(r"/(i-[0-9a-f]+)$")
    letter = pl.col("zone").str.slice(-1)
    return nodes.select(
        observer=pl.lit("eni-") + inst.str.slice(2), instance=inst,
        subnet=pl.lit("subnet-") + letter.replace(_SUBNETS),
        az=pl.lit("use1-az") + letter.replace({"a": "1", "b": "2", "c": "4"}),
        region=pl.col("region")).filter(pl.col("observer").is_not_null()).cast(schema)


def _columns(version: int) -> list[pl.Expr]:
    dash = pl.lit(None, dtype=pl.String)  # written as '-'
    egress = pl.col("direction") == "egress"
    text = {
        "version": pl.lit(version, dtype=pl.Int32), "account-id": pl.lit(ACCOUNT),
        "interface-id": pl.col("observer"), "srcaddr": pl.col("src_ip"),
        "dstaddr": pl.col("dst_ip"), "srcport": pl.col("src_port").fill_null(0),
        "dstport": pl.col("dst_port").fill_null(0), "protocol": pl.col("protocol"),
        "packets": pl.col("packets"), "bytes": pl.col("bytes"),
        "start": pl.col("start").dt.epoch("s"), "end": pl.col("end").dt.epoch("s"),
        "action": pl.when(pl.col("action") == "deny").then(pl.lit("REJECT"))
        .otherwise(pl.lit("ACCEPT")), "log-status": pl.lit("OK"),
        "vpc-id": pl.lit(VPC), "subnet-id": pl.col("subnet"), "instance-id": pl.col("instance"),
        "tcp-flags": pl.col("tcp_flags").fill_null(0), "type": pl.lit("IPv4"),
        "pkt-srcaddr": pl.col("src_ip"), "pkt-dstaddr": pl.col("dst_ip"),
        "region": pl.col("region"), "az-id": pl.col("az"), "sublocation-type": dash,
        "sublocation-id": dash, "pkt-src-aws-service": dash, "pkt-dst-aws-service": dash,
        "flow-direction": pl.col("direction"),
        "traffic-path": pl.when(egress & pl.col("dst_ip").str.starts_with("10."))
        .then(pl.lit(1)).when(egress).then(pl.lit(8)).otherwise(pl.lit(None, dtype=pl.Int32)),
    }
    return [text[f].alias(f) for f in fields(version)]


def _status_lines(records: Sequence[Sequence[Any]], version: int) -> str:
    names = fields(version)
    lines = []
    for eni, start, end, status in records:
        values = dict.fromkeys(names, "-")
        values.update({"version": str(version), "account-id": ACCOUNT, "interface-id": eni,
                       "start": str(start), "end": str(end), "log-status": status})
        lines.append(" ".join(values[n] for n in names))
    return "".join(line + "\n" for line in lines)


def _status_records(snap: Snapshot | None) -> list[Sequence[Any]]:
    """NODATA/SKIPDATA lines of a demo snapshot, re-drawn from the config in its manifest."""
    from toolkit.demo import status_records
    from toolkit.demo.config import DemoConfig

    out: list[Sequence[Any]] = []
    for source in snap.sources if snap is not None else ():
        if isinstance(source, Mapping) and source.get("kind") == "demo" and "config" in source:
            out += status_records(DemoConfig.from_dict(source["config"]), int(source["day"]))
    return out


def write_aws_vpc_logs(snapshot_or_flows: Snapshot | pl.LazyFrame | pl.DataFrame,
                       path: str | Path, version: int = 5, *, compress: bool | None = None
                       ) -> Path:
    """Write the flows as an AWS VPC flow-log text file; gzip when ``path`` ends in ``.gz``.

    >>> from toolkit.demo import DemoConfig, generate_snapshot
    >>> snap = generate_snapshot(DemoConfig(seed=1, days=1, flows_per_day=200))
    >>> import tempfile, pathlib
    >>> out = write_aws_vpc_logs(snap, pathlib.Path(tempfile.mkdtemp()) / "day1.log")
    >>> out.read_text().splitlines()[0].split()[:3]
    ['version', 'account-id', 'interface-id']
    """
    snap = snapshot_or_flows if isinstance(snapshot_or_flows, Snapshot) else None
    flows = snap.flows if snap is not None else snapshot_or_flows.lazy()
    nodes = node_info(snap.nodes if snap is not None else None)
    total = flows.select(pl.len()).collect().item()
    chunks = (flows.slice(offset, WRITE_CHUNK) for offset in range(0, total, WRITE_CHUNK))
    return write_text(chunks, path, version, nodes=nodes, status=_status_records(snap),
                      compress=compress)


def write_text(chunks: Iterable[pl.DataFrame | pl.LazyFrame], path: str | Path,
               version: int = 5, *, nodes: pl.DataFrame | None = None,
               status: Sequence[Sequence[Any]] = (), compress: bool | None = None) -> Path:
    """Write flow-table chunks as AWS text, one chunk in memory at a time.

    ``nodes`` comes from :func:`node_info`; ``status`` lists [eni, start, end, status] lines.
    """
    path = Path(path)
    names = fields(version)
    nodes = node_info(None) if nodes is None else nodes
    compress = path.suffix == ".gz" if compress is None else compress
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw:
        out: IO[bytes] = gzip.GzipFile(filename="", fileobj=raw, mode="wb",
                                        compresslevel=3, mtime=0) \
            if compress else raw
        out.write((" ".join(names) + "\n").encode())
        for chunk in chunks:
            text = chunk.lazy().join(nodes.lazy(), on="observer", how="left",
                                     maintain_order="left").select(_columns(version)).collect()
            text.write_csv(out, separator=" ", include_header=False, quote_style="never",
                           null_value="-")
        out.write(_status_lines(status, version).encode())
        if compress:
            out.close()
    return path
