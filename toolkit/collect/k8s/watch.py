"""Watch mode: follow pods, services and EndpointSlices after the list and record every IP
ownership change in the pods table.

Each watch starts at its list's resourceVersion. Events are applied in arrival order:

- a pod ADDED/MODIFIED with an IP it did not hold opens an interval (``valid_from`` =
  ``status.startTime``, else the event time); a row without an IP for that pod is dropped;
- a pod DELETED (or given a ``deletionTimestamp``) closes its open intervals at the
  ``deletionTimestamp``, else at the event time;
- an IP that moves to another pod ends the earlier holder's interval where the new one starts
  (:func:`toolkit.collect.k8s.merge.close_reused_ips`);
- services are replaced or marked deleted; an EndpointSlice's rows are replaced or dropped.

Watches run in threads that only read the stream; all state changes happen in the caller's
thread. A watch that ends early (server timeout, 410) is restarted from the last version seen.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl

from toolkit.collect.k8s import merge, owners
from toolkit.collect.k8s import normalise as nm
from toolkit.collect.k8s.capture import frame
from toolkit.snapshot import Snapshot

WATCHED = ("Pod", "Service", "EndpointSlice")


class WatchState:
    """Pods, services and endpoints as dicts keyed like their tables, changed by events."""

    def __init__(self, snap: Snapshot):
        self.pods = {(r["uid"], r["ip"]): r for r in snap.pods.collect().iter_rows(named=True)}
        self.services = {(r["namespace"], r["name"]): r
                         for r in snap.services.collect().iter_rows(named=True)}
        self.slices: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in snap.endpoints.collect().iter_rows(named=True):
            self.slices.setdefault((r["namespace"], r["slice"]), []).append(r)
        self.changes = 0

    def apply(self, kind: str, event: str, obj: dict[str, Any], at: datetime) -> None:
        """Apply one watch event observed at ``at``."""
        obj = {**obj, "kind": kind}
        if kind == "Pod":
            self._pod(event, obj, at)
        elif kind == "Service":
            row = nm.service(obj, "live")[0]
            if event == "DELETED":
                row["deleted"] = row["deleted"] or at
            self.services[(row["namespace"], row["name"])] = row
        else:
            key = nm.meta(obj)
            self.slices.pop(key, None)
            if event != "DELETED":
                self.slices[key] = nm.endpoint_slice(obj, "live")

    def _pod(self, event: str, obj: dict[str, Any], at: datetime) -> None:
        rows = nm.pod(obj, "live")
        uid = rows[0]["uid"]
        held = [k for k in self.pods if k[0] == uid]
        if event == "DELETED":
            end = rows[0]["valid_to"] or at
            for key in held:
                if self.pods[key]["valid_to"] is None:
                    self.pods[key]["valid_to"] = end
                    self.changes += 1
            return
        for row in rows:
            key = (uid, row["ip"])
            old = self.pods.get(key)
            if old is None:
                row["valid_from"] = row["valid_from"] or at
                self.changes += row["ip"] is not None
            else:
                row["valid_from"] = old["valid_from"] or row["valid_from"]
            self.pods[key] = row
        if any(r["ip"] is not None for r in rows):
            self.pods.pop((uid, None), None)

    def snapshot(self, snap: Snapshot) -> Snapshot:
        """``snap`` with pods, services and endpoints replaced by the watched state."""
        pods = frame(list(self.pods.values()), "pods")
        workloads = snap.workloads.collect().filter(pl.col("source") != "inferred")
        workloads, pods = owners.resolve(workloads, pods)
        pods = merge.close_reused_ips(pods).sort(list(merge.POD_IDENTITY), nulls_last=True)
        endpoints = frame([r for rows in self.slices.values() for r in rows], "endpoints")
        services = frame(list(self.services.values()), "services")
        return snap.with_tables(pods=pods, workloads=workloads, services=services.sort(
            "namespace", "name"), endpoints=endpoints.sort(
            "namespace", "service", "ip", "port", "protocol", "slice", nulls_last=True))


def _reader(lister: Any, spec: nm.KindSpec, namespace: str | None, version: str | None,
            deadline: float, out: queue.Queue) -> None:
    """Stream one watch into ``out`` as (kind, event, object) until the deadline."""
    while time.monotonic() < deadline:
        remaining = max(1, int(deadline - time.monotonic()))
        query: list[tuple[str, Any]] = [("watch", "true"), ("allowWatchBookmarks", "true"),
                                        ("timeoutSeconds", remaining)]
        if version:
            query.append(("resourceVersion", version))
        try:
            resp = lister.get(spec.list_path(namespace), query, f"watch {spec.plural}",
                              stream=True)
            for line in _lines(resp):
                event = json.loads(line)
                obj = event.get("object") or {}
                version = (obj.get("metadata") or {}).get("resourceVersion") or version
                if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                    out.put((spec.kind, event["type"], obj))
                elif event.get("type") == "ERROR":
                    version = None  # 410 Gone: restart from "now"
            resp.release_conn()
        except Exception as exc:  # report and stop this reader; the caller decides
            out.put(("error", f"watch {spec.plural}: {exc}", {}))
            return
        time.sleep(0.05)


def _lines(resp: Any) -> Iterator[bytes]:
    buffer = b""
    for chunk in resp.stream(2 ** 16):
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())
    if buffer.strip():
        yield buffer


def watch_snapshot(lister: Any, snap: Snapshot, result: Any, seconds: float, *,
                   progress: Callable[[str], None] | None = None) -> Snapshot:
    """Watch for ``seconds`` after the list in ``result`` and return the updated snapshot."""
    state = WatchState(snap)
    events: queue.Queue = queue.Queue()
    deadline = time.monotonic() + seconds
    threads = []
    for (kind, ns), version in result.versions.items():
        if kind in WATCHED:
            thread = threading.Thread(target=_reader, daemon=True, args=(
                lister, nm.KINDS[kind], ns or None, version, deadline, events))
            thread.start()
            threads.append(thread)
    warnings = []
    while time.monotonic() < deadline or not events.empty():
        try:
            kind, event, obj = events.get(timeout=0.1)
        except queue.Empty:
            if not any(t.is_alive() for t in threads):
                break
            continue
        if kind == "error":
            warnings.append(event)
            continue
        state.apply(kind, event, obj, datetime.now(UTC))
        if progress:
            progress(f"watch: {state.changes} IP changes")
    out = state.snapshot(snap)
    sources = [{**dict(s), "watch_seconds": seconds, "ip_changes": state.changes,
                "watch_warnings": warnings} for s in snap.sources]
    return Snapshot.from_frames(cluster=snap.cluster, captured_at=snap.captured_at,
                                sources=sources, **{n: out.table(n) for n in out.tables
                                                    if n != "flows"})
