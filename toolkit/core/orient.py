"""Orientation: turn unidirectional records into client → server records.

Rules, first conclusive one wins; the rule used is kept in the ``orientation`` column:

``endpoint``     exactly one side is a known server endpoint (ip, port): an EndpointSlice
                 port, a declared container port, a service port on a ClusterIP, a NodePort on
                 a node IP. A record whose *source* is that server is a reply and is swapped.
``tcp-flags``    the source says ``is_reply``; else TCP flags: SYN without ACK comes from the
                 client (kept), SYN+ACK from the server (swapped).
``port``         one port is well known (< 1024) or registered by the inventory (some pod,
                 endpoint or service serves on it) and the other is not: the known one is the
                 server; otherwise the lower of two different ports (ephemeral ports are
                 >= 32768 on Linux) is the server.
``unoriented``   nothing decided (no ports, e.g. ICMP, or equal ports): kept as recorded.
``as-recorded``  orientation switched off (``as_recorded=True``).

>>> import polars as pl
>>> f = pl.LazyFrame({"src_port": [8080, 40000], "dst_port": [51000, 443],
...     "src_srv": [True, False], "dst_srv": [False, False], "protocol": [6, 6],
...     "is_reply": [None, None], "tcp_flags": [None, None]},
...     schema_overrides={"protocol": pl.UInt8, "is_reply": pl.Boolean, "tcp_flags": pl.Int32})
>>> reg = pl.DataFrame({"port": [8080]}, schema={"port": pl.Int32})
>>> orientation(f, reg).select("swapped", rule_names()).collect().rows()
[(True, 'endpoint'), (False, 'port')]
"""

from __future__ import annotations

import polars as pl

SYN, ACK = 2, 16
RULES = ("endpoint", "tcp-flags", "port", "unoriented", "as-recorded")


def _known(port: pl.Expr, registered: list[int]) -> pl.Expr:
    return port.is_not_null() & ((port < 1024) | port.is_in(registered))


def orientation(frame: pl.LazyFrame, registered_ports: pl.DataFrame) -> pl.LazyFrame:
    """Add ``swapped`` and ``orientation`` (a UInt8 code into :data:`RULES`; names with
    :func:`rule_names`) to each record of ``frame``.

    ``frame`` needs ``src_srv``/``dst_srv`` (the side is a known server endpoint on its port),
    ``src_port``, ``dst_port``, ``protocol``, ``is_reply`` and ``tcp_flags``.
    """
    registered = registered_ports.get_column("port").to_list()
    src_srv = pl.col("src_srv").fill_null(False)
    dst_srv = pl.col("dst_srv").fill_null(False)
    flags = pl.col("tcp_flags")
    tcp = (pl.col("protocol") == 6) & flags.is_not_null() & ((flags & SYN) != 0)
    sp, dp = pl.col("src_port"), pl.col("dst_port")
    s_known, d_known = _known(sp, registered), _known(dp, registered)
    ports = sp.is_not_null() & dp.is_not_null() & (sp != dp)
    code = {name: pl.lit(i, pl.UInt8) for i, name in enumerate(RULES)}
    rule = (pl.when(src_srv != dst_srv).then(code["endpoint"])
            .when(pl.col("is_reply").is_not_null() | tcp.fill_null(False))
            .then(code["tcp-flags"])
            .when((s_known != d_known) | ports).then(code["port"])
            .otherwise(code["unoriented"]))
    swap = (pl.when(src_srv != dst_srv).then(src_srv)
            .when(pl.col("is_reply").is_not_null()).then(pl.col("is_reply"))
            .when(tcp.fill_null(False)).then((flags & ACK) != 0)
            .when(s_known != d_known).then(s_known)
            .when(ports).then(sp < dp)
            .otherwise(False))
    return frame.with_columns(swap.fill_null(False).alias("swapped"), rule.alias("orientation"))


def rule_names(column: str = "orientation") -> pl.Expr:
    """Orientation codes (UInt8, cheap to carry and group by) → rule names."""
    return pl.col(column).replace_strict(dict(enumerate(RULES)), return_dtype=pl.String)


def swap_sides(frame: pl.LazyFrame, condition: pl.Expr) -> pl.LazyFrame:
    """Exchange every ``src_X`` column with its ``dst_X`` twin where ``condition`` holds.

    ``dst_id_service`` has no source twin: it is nulled on swapped rows (it named the
    recorded destination, now the client).
    """
    names = frame.collect_schema().names()
    exprs = []
    for name in names:
        if name.startswith("src_") and "dst_" + name[4:] in names:
            twin = "dst_" + name[4:]
            exprs += [pl.when(condition).then(pl.col(twin)).otherwise(pl.col(name)).alias(name),
                      pl.when(condition).then(pl.col(name)).otherwise(pl.col(twin)).alias(twin)]
    if "dst_id_service" in names:
        exprs.append(pl.when(condition).then(None).otherwise(pl.col("dst_id_service"))
                     .alias("dst_id_service"))
    return frame.with_columns(exprs)
