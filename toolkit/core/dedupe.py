"""Dedupe of double-reported flow records (GCP VPC, Calico and AWS VPC between two logged
ENIs report one connection from both ends).

Rule: a record with ``reporter == "dst"`` is dropped when at least one ``reporter == "src"``
record exists with the same 5-tuple (src/dst ip and port, protocol). If the source side
logs a connection it logs all of it, so the destination-side copies add nothing; times are
deliberately not part of the key because the two reporters aggregate over their own
intervals. For an unspecified address (``0.0.0.0``/``::``: Calico aggregated records) the
side's stamped namespace and workload join the key. Records without a reporter,
source-side records and destination-side records without a source twin (the sender is
outside the logging scope, e.g. the internet) are all kept, so nothing observed only once is
lost.

Cost: the twin keys are found first (:func:`find_twins`: one pass that keeps a 64-bit hash
of each record's key, then an exact check of the few candidates); they are usually few or
none (then nothing else is done), and the records are marked with one left join on them.

>>> import polars as pl
>>> f = pl.LazyFrame({"src_ip": ["a", "a", "c"], "src_port": [1, 1, 1], "dst_ip": ["b"] * 3,
...     "dst_port": [80, 80, 80], "protocol": [6, 6, 6], "reporter": ["src", "dst", "dst"]}
...     ).with_columns(pl.lit(None, pl.String).alias(f"{s}_id_{f}") for s in ("src", "dst")
...                    for f in ("namespace", "workload"))
>>> dedupe_reporters(f).collect()["src_ip"].sort().to_list()
['a', 'c']
"""

from __future__ import annotations

import polars as pl

KEY = ("src_ip", "src_port", "dst_ip", "dst_port", "protocol")
UNSPECIFIED = ("0.0.0.0", "::")
_ID_KEY = {"_k_sns": ("src", "namespace"), "_k_swl": ("src", "workload"),
           "_k_dns": ("dst", "namespace"), "_k_dwl": ("dst", "workload")}


def _keyed(flows: pl.LazyFrame) -> pl.LazyFrame:
    """Add the identity part of the key: for an unspecified address (Calico aggregated
    records), the stamped namespace and workload of that side, so different workloads
    sharing a port are not taken for one connection."""
    return flows.with_columns(
        pl.when(pl.col(f"{side}_ip").is_in(UNSPECIFIED)).then(pl.col(f"{side}_id_{field}"))
        .otherwise(None).alias(name) for name, (side, field) in _ID_KEY.items())


def twin_keys(flows: pl.LazyFrame) -> pl.LazyFrame:
    """The 5-tuples reported by both sides (usually few).

    Only a 64-bit hash of each destination-side key is held (8 bytes per distinct key
    instead of the key's text; tens of millions of one-sided records stay well under a
    GiB); source-side rows whose hash matches are candidates, checked against the real keys
    in a second semi-join whose table is just those candidates, so a hash collision can
    never drop a record."""
    key = [*KEY, *_ID_KEY]
    reporter = pl.col("reporter")
    flows = _keyed(flows)
    digest = pl.struct(key).hash().alias("_h")
    dst_hashes = flows.filter(reporter == "dst").select(digest).unique()
    candidates = (flows.filter(reporter == "src").with_columns(digest)
                  .join(dst_hashes, on="_h", how="semi").select(key).unique())
    return (flows.filter(reporter == "dst").select(key)
            .join(candidates, on=key, how="semi", nulls_equal=True).unique())


def find_twins(flows: pl.LazyFrame, *, buckets: int = 1, identities: bool = True
               ) -> pl.DataFrame:
    """The twin keys of :func:`twin_keys`, collected, in one pass over ``flows`` per bucket.

    Each pass keeps only a 64-bit hash and a side flag per two-sided record (9 bytes), finds
    the hashes both sides report, and reads the real keys again only when there are any, so
    that a hash collision can never drop a record. ``buckets`` splits the records by their
    ports (twins share them) to bound memory: one bucket holds 9 bytes per record.
    ``identities=False`` says no record carries a stamped identity (the key's identity part
    is then null everywhere and is not computed).
    """
    key = [*KEY, *_ID_KEY]
    reporter = pl.col("reporter")
    keyed = _keyed(flows) if identities else flows.with_columns(
        pl.lit(None, pl.String).alias(name) for name in _ID_KEY)
    digest = pl.struct(key).hash()
    ports = pl.col("src_port").fill_null(0).cast(pl.Int64) + pl.col("dst_port").fill_null(0)
    found = []
    for bucket in range(buckets):
        sided = keyed.filter(reporter.is_in(["src", "dst"]) & (ports % buckets == bucket))
        marks = sided.select(digest.alias("_h"), (reporter == "dst").alias("_dst")).collect(
            engine="streaming")
        dst = marks.filter(pl.col("_dst")).select("_h").unique()
        both = marks.filter(~pl.col("_dst")).join(dst, on="_h", how="semi").select("_h").unique()
        del marks, dst
        if both.height:
            rows = (sided.join(both.lazy(), left_on=digest, right_on="_h", how="semi")
                    .select(*key, "reporter").collect(engine="streaming"))
            src = rows.filter(reporter == "src").select(key).unique()
            found.append(rows.filter(reporter == "dst").select(key)
                         .join(src, on=key, how="semi", nulls_equal=True).unique())
    if found:
        return pl.concat(found)
    return keyed.select(key).head(0).collect()


def dedupe_reporters(flows: pl.LazyFrame, twins: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Drop destination-side copies of connections the source side also reported (lazy).

    ``twins`` (from :func:`find_twins`) saves recomputing them; when it is empty
    ``flows`` is returned unchanged.
    """
    if twins is not None and twins.height == 0:
        return flows
    table = (twins.lazy() if twins is not None else twin_keys(flows))
    marked = _keyed(flows).join(table.with_columns(pl.lit(True).alias("_twin")),
                                on=[*KEY, *_ID_KEY], how="left", nulls_equal=True,
                                build_side="force_right")
    copy = (pl.col("reporter") == "dst") & pl.col("_twin").fill_null(False)
    return marked.filter(~copy.fill_null(False)).drop("_twin", *_ID_KEY)
