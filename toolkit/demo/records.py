"""Turn drawn connections into flow records and their ground truth (vectorised, in chunks).

>>> from toolkit.demo.config import DemoConfig
>>> from toolkit.demo.cluster import build_timeline
>>> flows, truth = day_records(build_timeline(DemoConfig(seed=3, days=1)), 1, 1_000)
>>> flows.collect().height == truth.collect().height == 1_000
True
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

from toolkit import schema
from toolkit.demo.cluster import Timeline
from toolkit.demo.config import DemoConfig
from toolkit.demo.traffic import CHUNK, EdgeArrays, Entities, _pick, edge_arrays, entities, enum

MSS = 1448
SESSION = 600  # seconds a pooled (persistent) connection keeps its 5-tuple
TCP_REQ_FLAGS, TCP_RESP_FLAGS, TCP_SYN = 3, 19, 2  # SYN|FIN, SYN-ACK|FIN, SYN
_ACTION = enum(["allow", "deny"])
_REPORTER = enum(["dst", "src"])
_DIRECTION = enum(["ingress", "egress"])


def _connections(rng: np.random.Generator, n: int, lo: int, hi: int, ent: Entities,
                 ea: EdgeArrays, interval: int, hide_same_node: bool = False
                 ) -> dict[str, np.ndarray]:
    t = rng.integers(lo, hi, n)  # unsorted: any prefix is an unbiased sample
    e = rng.choice(len(ea.weight), n, p=ea.weight)
    seg = np.searchsorted(ent.bounds, t, side="right") - 1
    server = _pick(ea.s_kind[e], ea.s_a[e], ea.s_b[e], seg, rng.random(n), ent)
    client = _pick(ea.c_kind[e], ea.c_a[e], ea.c_b[e], seg, rng.random(n), ent)
    of_node = ea.c_kind[e] == 2
    client[of_node] = np.where(server[of_node] >= 0,
                               ent.node_offset + ent.node[np.maximum(server[of_node], 0)], -1)
    keep = (client >= 0) & (server >= 0)
    if hide_same_node:  # pod-to-pod traffic that never leaves a node is invisible to VPC logs
        keep &= (ent.node[client] != ent.node[server]) | (ent.node[client] < 0)
    conn = {"t": t[keep], "e": e[keep], "client": client[keep], "server": server[keep]}
    m = len(conn["t"])
    external = ent.node[conn["client"]] < 0
    raw = rng.integers(0, 1 << 30, m)
    conn["cport"] = np.where(external, 1024 + raw % 64511, 32768 + raw % 28232)
    persist = ea.persist[conn["e"]]
    conn["cport"][persist] = _session_port(conn, persist)
    conn["tend"] = conn["t"] + np.minimum(rng.exponential(1.5, m).astype(np.int64), 59)
    conn["req"] = np.maximum(40, rng.lognormal(np.log(ea.req[conn["e"]]), 0.7)).astype(np.int64)
    conn["resp"] = np.where(ea.resp[conn["e"]] > 0, np.maximum(40, rng.lognormal(
        np.log(np.maximum(ea.resp[conn["e"]], 1)), 0.7)), 0).astype(np.int64)
    conn["syn"] = rng.integers(1, 4, m)
    return _merge(conn, interval)


def _session_port(conn: dict[str, np.ndarray], persist: np.ndarray) -> np.ndarray:
    """Pooled connections keep their ephemeral port for a whole session (SESSION seconds)."""
    key = [conn[k][persist].astype(np.uint64) for k in ("client", "server", "e")]
    session = (conn["t"][persist] // SESSION).astype(np.uint64)
    h = key[0] * np.uint64(1_000_003) ^ key[1] * np.uint64(10_007) ^ key[2] * np.uint64(101) \
        ^ session * np.uint64(7_919)
    h = (h * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)
    return (32768 + h % np.uint64(28232)).astype(np.int64)


def _merge(conn: dict[str, np.ndarray], interval: int) -> dict[str, np.ndarray]:
    """One record per 5-tuple and aggregation interval, as the flow log aggregates them."""
    frame = pl.DataFrame(conn).with_columns(slot=pl.col("t") // interval)
    merged = frame.group_by("slot", "client", "server", "e", "cport", maintain_order=True).agg(
        pl.col("t").min(), pl.col("tend").max(), pl.col("req").sum(), pl.col("resp").sum(),
        pl.col("syn").first())
    if merged.height == frame.height:
        return conn
    return {k: merged[k].to_numpy() for k in conn}


def _records(conn: dict[str, np.ndarray], n_target: int, ea: EdgeArrays, ent: Entities,
             cfg: DemoConfig) -> dict[str, np.ndarray]:
    """Expand connections into records (request, reply; x2 views with ``both_sides``)."""
    interval = cfg.interval_seconds
    deny = ea.deny[conn["e"]]
    legs = np.where(deny | (conn["resp"] == 0), 1, 2)
    cn, sn = ent.node[conn["client"]], ent.node[conn["server"]]
    views = np.where(cfg.both_sides & (cn >= 0) & (sn >= 0) & (cn != sn), 2, 1)
    reps = legs * views
    cums = np.cumsum(reps)
    keep = min(len(reps), int(np.searchsorted(cums, n_target, side="left")) + 1)
    if keep and cums[keep - 1] > n_target:  # the last connection's tail falls outside
        reps[keep - 1] = n_target - (int(cums[keep - 2]) if keep > 1 else 0)
    order = np.argsort(conn["t"][:keep], kind="stable")
    conn = {k: v[:keep][order] for k, v in conn.items()}
    reps, views, deny, e = reps[:keep][order], views[:keep][order], deny[:keep][order], conn["e"]
    idx = np.repeat(np.arange(keep), reps)
    pos = np.arange(len(idx)) - np.concatenate([[0], np.cumsum(reps)[:-1]])[idx]
    reply = (pos // views[idx]) == 1
    proto = ea.proto[e][idx]
    size = np.where(reply, conn["resp"][idx], conn["req"][idx])
    tcp = proto == 6
    packets = np.where(deny[idx], conn["syn"][idx], -(-size // MSS) + np.where(tcp, 2, 0))
    nbytes = np.where(deny[idx], 60 * packets, size + 40 * packets)
    flags = np.where(~tcp, 0, np.where(deny[idx], TCP_SYN,
                                       np.where(reply, TCP_RESP_FLAGS, TCP_REQ_FLAGS)))
    t = conn["t"][idx]
    mid_session = ea.persist[e][idx] & ((t - t % interval) % SESSION != 0)
    flags = np.where(mid_session & tcp, 0, flags)  # no SYN/FIN inside a pooled session
    end = np.minimum(conn["tend"][idx], (t // interval + 1) * interval - 1)
    return {"idx": idx, "reply": reply, "client": conn["client"][idx],
            "server": conn["server"][idx], "cport": conn["cport"][idx],
            "sport": ea.port[e][idx], "proto": proto, "bytes": nbytes, "packets": packets,
            "flags": flags, "start": t, "end": np.maximum(end, t), "deny": deny[idx],
            "edge": e[idx], "receiver_view": (pos % views[idx]) == 1}


def _frames(r: dict[str, np.ndarray], ent: Entities, ea: EdgeArrays, first_record: int
            ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Compact frames (Enum strings, constant columns left out): see :func:`finish`."""
    reply = r["reply"]
    src = np.where(reply, r["server"], r["client"])
    dst = np.where(reply, r["client"], r["server"])
    src_node, dst_node = ent.node[src], ent.node[dst]
    at_src = (src_node >= 0) & ~r["receiver_view"]
    obs_node = np.where(at_src, src_node, dst_node)
    n = len(src)
    records = pl.Series(np.arange(first_record, first_record + n, dtype=np.int64))
    secs = [pl.from_epoch(pl.Series(r[k]), time_unit="s").dt.cast_time_unit("ns")
            .dt.replace_time_zone("UTC") for k in ("start", "end")]
    flows = pl.DataFrame({
        "start": secs[0], "end": secs[1],
        "src_ip": ent.ip.gather(src), "dst_ip": ent.ip.gather(dst),
        "src_port": np.where(reply, r["sport"], r["cport"]).astype(np.int32),
        "dst_port": np.where(reply, r["cport"], r["sport"]).astype(np.int32),
        "protocol": r["proto"].astype(np.uint8), "bytes": r["bytes"].astype(np.int64),
        "packets": r["packets"].astype(np.int64),
        "action": _ACTION.gather(r["deny"].astype(np.int64)),
        "reporter": _REPORTER.gather(at_src.astype(np.int64)),
        "direction": _DIRECTION.gather(at_src.astype(np.int64)),
        "tcp_flags": r["flags"].astype(np.int32),
        "observer": ent.eni.gather(np.maximum(obs_node, 0)), "source_record": records,
    })
    client, server = r["client"], r["server"]
    truth = pl.DataFrame({
        "source_record": records, "client_namespace": ent.namespace.gather(client),
        "client_workload": ent.workload.gather(client), "client_pod": ent.pod.gather(client),
        "server_namespace": ent.namespace.gather(server),
        "server_workload": ent.workload.gather(server), "server_pod": ent.pod.gather(server),
        "server_service": ea.services.gather(r["edge"]), "is_reply": reply,
        "bytes": r["bytes"].astype(np.int64), "edge": ea.names.gather(r["edge"]),
    })
    return flows, truth


def finish(flows: pl.DataFrame | pl.LazyFrame, truth: pl.DataFrame | pl.LazyFrame, day: int
           ) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Compact frames -> LazyFrames with exactly the schema's columns and dtypes.

    Constant columns are literals and Enums are cast to String only when collected, so a
    day held in memory costs ~120 bytes a record (flows and truth) instead of ~350.
    """
    source = pl.lit(f"demo:day{day}").alias("source_file")
    flows = flows.lazy().with_columns(source, pl.lit("aws-vpc").alias("format"),
                                      pl.lit(1, dtype=pl.Int64).alias("flow_count"))
    return (schema.conform(flows, "flows"),
            schema.conform(truth.lazy().with_columns(source), "flow_truth"))


def _compact_chunks(tl: Timeline, day: int, n_records: int
                    ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    cfg = tl.config
    ent = entities(tl, day)
    ea = edge_arrays(day, ent)
    ws, we = cfg.window_seconds(day)
    n_chunks = max(1, -(-n_records // CHUNK))
    done = 0
    for k in range(n_chunks):
        target = n_records * (k + 1) // n_chunks - n_records * k // n_chunks
        lo, hi = ws + (we - ws) * k // n_chunks, ws + (we - ws) * (k + 1) // n_chunks
        for attempt in range(8):
            rng = np.random.default_rng([cfg.seed, 2, day, k, attempt])
            conn = _connections(rng, int(target * (0.75 + attempt)) + 64, lo, hi, ent, ea,
                                cfg.interval_seconds, cfg.hide_same_node)
            r = _records(conn, target, ea, ent, cfg)
            if len(r["idx"]) >= target or attempt == 7:
                break
        flows, truth = _frames(r, ent, ea, done + 1)
        done += flows.height
        yield flows, truth


def iter_day_records(tl: Timeline, day: int, n_records: int
                     ) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """(flows, truth) chunks of ~1M records of day ``day``, in time order, schema-exact."""
    for flows, truth in _compact_chunks(tl, day, n_records):
        lazy_flows, lazy_truth = finish(flows, truth, day)
        yield lazy_flows.collect(), lazy_truth.collect()


def day_records(tl: Timeline, day: int, n_records: int) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """All (flows, truth) of day ``day``: LazyFrames over compact in-memory chunks."""
    parts = list(_compact_chunks(tl, day, n_records))
    return finish(pl.concat([p[0] for p in parts], rechunk=False),
                  pl.concat([p[1] for p in parts], rechunk=False), day)
