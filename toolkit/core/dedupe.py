"""Dedupe of double-reported flow records (GCP VPC, Calico and AWS VPC between two logged
ENIs report one connection from both ends).

Rule: a record with ``reporter == "dst"`` is dropped when at least one ``reporter == "src"``
record exists with the same 5-tuple (src/dst ip and port, protocol). If the source side
logs a connection it logs all of it, so the destination-side copies add nothing; times are
deliberately not part of the key because the two reporters aggregate over their own
intervals. Records without a reporter, source-side records and destination-side records
without a source twin (the sender is outside the logging scope, e.g. the internet) are all
kept, so nothing observed only once is lost.

Cost: the destination-side rows are usually few; their keys form the hash table that the
source-side rows probe (a semi-join), so no table of every 5-tuple is ever built.

>>> import polars as pl
>>> f = pl.LazyFrame({"src_ip": ["a", "a", "c"], "src_port": [1, 1, 1], "dst_ip": ["b"] * 3,
...     "dst_port": [80, 80, 80], "protocol": [6, 6, 6], "reporter": ["src", "dst", "dst"]})
>>> dedupe_reporters(f).collect()["src_ip"].sort().to_list()
['a', 'c']
"""

from __future__ import annotations

import polars as pl

KEY = ("src_ip", "src_port", "dst_ip", "dst_port", "protocol")


def dedupe_reporters(flows: pl.LazyFrame) -> pl.LazyFrame:
    """Drop destination-side copies of connections the source side also reported (lazy)."""
    key = list(KEY)
    reporter = pl.col("reporter")
    dst_rows = flows.filter(reporter == "dst")
    twins = (flows.filter(reporter == "src").select(key)
             .join(dst_rows.select(key).unique(), on=key, how="semi", nulls_equal=True)
             .unique())
    lone = dst_rows.join(twins, on=key, how="anti", nulls_equal=True)
    return pl.concat([flows.filter(reporter.is_null() | (reporter != "dst")), lone])
