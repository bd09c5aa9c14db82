"""Port-interval sets as long tables: union, intersection and np-guard style text.

A connection set is a group of rows ``(keys..., protocol, port_lo, port_hi)``; protocol
:data:`~toolkit.policy.model.OTHER` (0) stands for every protocol without ports, and
``0..65535`` for "all ports". ``All Connections`` is TCP, UDP and SCTP in full (np-guard does
not model other protocols; OTHER only matters when replaying ICMP flows).

>>> import polars as pl
>>> rows = pl.DataFrame({"k": [1, 1, 1], "protocol": [6, 6, 17],
...                      "port_lo": [80, 81, 53], "port_hi": [80, 90, 53]})
>>> conn_text(merge(rows, ["k"]), ["k"])["conn"].to_list()
['TCP 80-90,UDP 53']
"""

from __future__ import annotations

import polars as pl

from toolkit.policy.model import MAX_PORT, OTHER, PROTOCOL_NAMES, PROTOCOLS

ALL = "All Connections"


def all_rows(frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """Every row of ``frame`` crossed with the full connection set."""
    full = pl.LazyFrame({"protocol": [*PROTOCOLS.values(), OTHER],
                         "port_lo": [0] * 4, "port_hi": [MAX_PORT] * 4},
                        schema={"protocol": pl.Int32, "port_lo": pl.Int32, "port_hi": pl.Int32})
    return frame.lazy().join(full, how="cross")


def merge(frame: pl.LazyFrame | pl.DataFrame, keys: list[str]) -> pl.LazyFrame:
    """Union: overlapping or adjacent intervals of the same keys and protocol become one.

    One sort, then running sums over the whole frame (no per-group window): each group's
    ports are offset by ``group number * 2**17`` so a running maximum never leaks across
    groups.
    """
    group = [*keys, "protocol"]
    changed = pl.any_horizontal(*(pl.col(k).ne_missing(pl.col(k).shift(1)) for k in group))
    base = pl.col("_g").cast(pl.Int64) * (1 << 17)
    return (frame.lazy().select(*group, "port_lo", "port_hi").sort(*group, "port_lo")
            .with_columns(_g=changed.cum_sum())
            .with_columns(_hi=(base + pl.col("port_hi")).cum_max().shift(1),
                          _lo=base + pl.col("port_lo"))
            .with_columns(_run=(pl.col("_hi").is_null() | (pl.col("_lo") > pl.col("_hi") + 1))
                          .cum_sum())
            .group_by("_run").agg(*(pl.col(k).first() for k in group),
                                  pl.col("port_lo").min(), pl.col("port_hi").max())
            .drop("_run"))


def intersect(left: pl.LazyFrame, right: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Intersection of two merged sets (disjoint intervals per key and protocol)."""
    group = [*keys, "protocol"]
    return (left.join(right, on=group, suffix="_r")
            .with_columns(pl.max_horizontal("port_lo", "port_lo_r").alias("port_lo"),
                          pl.min_horizontal("port_hi", "port_hi_r").alias("port_hi"))
            .filter(pl.col("port_lo") <= pl.col("port_hi"))
            .select(*group, "port_lo", "port_hi"))


def conn_text(merged: pl.LazyFrame | pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """One ``conn`` string per key: ``All Connections`` or e.g. ``TCP 80,8080-8090,UDP 53``."""
    frame = merged.lazy()
    lo = pl.max_horizontal(pl.col("port_lo"), pl.lit(1))
    piece = (pl.when(lo == pl.col("port_hi")).then(lo.cast(pl.String))
             .otherwise(lo.cast(pl.String) + "-" + pl.col("port_hi").cast(pl.String)))
    full = ((pl.col("port_lo") <= 1) & (pl.col("port_hi") == MAX_PORT)
            & (pl.col("protocol") != OTHER))
    per_key = frame.group_by(keys).agg(
        (pl.col("protocol").filter(full).n_unique() == len(PROTOCOLS)).alias("everything"))
    text = (frame.filter(pl.col("protocol") != OTHER).sort(*keys, "protocol", "port_lo")
            .group_by(*keys, "protocol", maintain_order=True)
            .agg(piece.str.join(","))
            .with_columns(name=pl.col("protocol").replace_strict(PROTOCOL_NAMES,
                                                                  return_dtype=pl.String))
            .sort(*keys, "name")
            .group_by(keys, maintain_order=True)
            .agg((pl.col("name") + " " + pl.col("port_lo")).str.join(",").alias("ports")))
    return (per_key.join(text, on=keys, how="left")
            .select(*keys, pl.when(pl.col("everything")).then(pl.lit(ALL))
                    .otherwise(pl.col("ports")).alias("conn"))
            .filter(pl.col("conn").is_not_null()).collect())
