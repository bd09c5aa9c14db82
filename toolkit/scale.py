"""Scale-out on a Dask cluster: the same polars code on every flow partition, merged exactly.

The only module that imports ``dask`` / ``distributed`` (lazily: kseg works without them).
A snapshot's flow records are split into partitions (row-group-aligned slices of its Parquet
parts); each worker reads its partitions *itself* from the snapshot path (shared storage or an
object store the workers can read), aggregates them with the same function the single-machine
path uses (:func:`toolkit.core.partial_matrix`) against an inventory index broadcast once, and
the client merges the partial sums exactly (:func:`toolkit.core.combine_partials`). Results are
identical to the local path.

Destination-side duplicates (records reported by both ends) are dropped by the same dedupe as
on one machine: when a snapshot has ``reporter == "dst"`` records, the records the dedupe
compares are regrouped into buckets of their dedupe key instead of row-group slices, so twins
always meet in one partition. Policy replay (:func:`replay`) merges per-partition distinct
edges and evaluates them once on the client. A task whose worker dies is rerun elsewhere.

>>> from toolkit import scale
>>> with scale.dask_client(workers=2) as client:                     # doctest: +SKIP
...     matrix = scale.flow_matrix(snap, src="namespace", dst="namespace", client=client)
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from toolkit import _store, schema
from toolkit.errors import KsegError, MissingDependencyError
from toolkit.snapshot import Snapshot

#: Target flow records per partition (whole row groups are never split).
ROWS_PER_PARTITION = 1_000_000
#: How often a task is retried when its worker dies or it raises an unexpected error.
RETRIES = 3


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError("distributed", "dask", "scale-out") from None
    return distributed


_PAIRED = pl.col("reporter").is_in(["src", "dst"]).fill_null(False)


def _bucket_of(buckets: int) -> pl.Expr:
    """A deterministic bucket of the dedupe key (twins share it). Plain integer arithmetic:
    polars' ``hash`` of a struct is not stable across processes."""
    def num(name: str) -> pl.Expr:
        return pl.col(name).cast(pl.Int64).fill_null(0)
    key = (pl.col("start").dt.epoch("s") + 3 * pl.col("end").dt.epoch("s") + 7 * num("src_port")
           + 11 * num("dst_port") + num("protocol"))
    return key % buckets


@dataclass(frozen=True)
class FlowPartition:
    """A slice of a snapshot's flow files that a worker reads itself.

    ``offset``/``length``: a row-group-aligned slice of one file. ``paired``: None keeps all
    rows; False keeps rows that the reporter dedupe never drops; True keeps the ``src``/``dst``
    reporter rows of dedupe bucket ``bucket`` of ``buckets`` (twins share a bucket, so the
    dedupe inside one bucket is exact).
    """

    files: tuple[str, ...]
    offset: int | None = None
    length: int | None = None
    paired: bool | None = None
    bucket: int = 0
    buckets: int = 1

    def scan(self) -> pl.LazyFrame:
        """The partition's flow records (the slice is pushed down to the Parquet reader)."""
        frame = schema.scan_parquet(self.files, "flows")
        if self.offset is not None:
            frame = frame.slice(self.offset, self.length)
        if self.paired is False:
            frame = frame.filter(~_PAIRED)
        elif self.paired:
            frame = frame.filter(_PAIRED & (_bucket_of(self.buckets) == self.bucket))
        return frame


def flow_files(snap: Snapshot) -> list[str]:
    """Absolute paths of ``snap``'s flow Parquet parts (the snapshot must be on disk)."""
    if snap.path is None:
        raise KsegError("scale-out needs a snapshot on disk that the workers can read",
                        hint="write it with kt.write_snapshot(snap, path) and load it")
    root = Path(snap.path).resolve() / _store.FLOWS_DIR
    return [str(root / part["file"]) for part in snap.manifest.get("flows", {}).get("parts", [])]


def flow_partitions(snap: Snapshot, rows_per_partition: int = ROWS_PER_PARTITION, *,
                    dedupe: bool = False) -> list[FlowPartition]:
    """Split ``snap``'s flow files into partitions of whole row groups (~``rows_per_partition``
    records each). With ``dedupe``, the rows the reporter dedupe compares are regrouped by
    bucket instead, so every partition can be deduplicated on its own, exactly."""
    slices: list[FlowPartition] = []
    files = flow_files(snap)
    for file in files:
        meta = pq.read_metadata(file)
        start = size = 0
        for i in range(meta.num_row_groups):
            size += meta.row_group(i).num_rows
            if size >= rows_per_partition or i == meta.num_row_groups - 1:
                if size:
                    slices.append(FlowPartition((file,), start, size))
                start, size = start + size, 0
    if not dedupe or len(slices) <= 1:  # one partition holds every twin: dedupe it whole
        return slices
    n = max(1, len(slices))
    return ([replace(p, paired=False) for p in slices]
            + [FlowPartition(tuple(files), paired=True, bucket=b, buckets=n) for b in range(n)])


@contextmanager
def dask_client(scheduler: str | None = None, workers: int | None = None) -> Iterator[Any]:
    """A ``distributed.Client``: connected to ``scheduler`` (an address such as
    ``tcp://dask-scheduler:8786``) or to a new local cluster of ``workers`` processes with one
    thread each. Closed (and the local cluster shut down) on exit."""
    dist = _distributed()
    if scheduler:
        try:
            client = dist.Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise KsegError(f"cannot connect to the Dask scheduler at {scheduler}: {exc}",
                            hint="check the address (tcp://HOST:8786) and that it is reachable"
                            ) from None
        with client:
            yield client
        return
    if not workers or workers < 1:
        raise KsegError(f"--workers must be a positive number, got {workers}")
    with dist.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR
                           ) as cluster, dist.Client(cluster) as client:
        yield client


def map_partitions(client: Any, partitions: Sequence[FlowPartition],
                   func: Callable[..., pl.DataFrame], *args: Any,
                   key: str = "kseg") -> list[Any]:
    """Submit ``func(partition.scan(), *args)`` for every partition; return the futures.

    ``args`` that are large (an inventory index) should be scattered once by the caller with
    ``client.scatter(obj, broadcast=True)`` and passed as futures.
    """
    return [client.submit(_run_partition, func, p, *args, retries=RETRIES, pure=False,
                          key=f"{key}-{i}-{_token()}")
            for i, p in enumerate(partitions)]


def _run_partition(func: Callable[..., pl.DataFrame], part: FlowPartition,
                   *args: Any) -> pl.DataFrame:
    return func(part.scan(), *args)


def _token() -> str:
    return uuid.uuid4().hex[:8]


def _count_dst(files: tuple[str, ...]) -> int:
    if not files:
        return 0
    return schema.scan_parquet(files, "flows").filter(pl.col("reporter") == "dst").select(
        pl.len()).collect(engine="streaming").item()


def _needs_dedupe(client: Any, snaps: Sequence[Snapshot]) -> list[Any]:
    """Futures: does each snapshot have destination-side records (counted on the workers)?"""
    return [client.submit(_count_dst, tuple(flow_files(s)), retries=RETRIES, pure=False)
            for s in snaps]


def _broadcast(client: Any, obj: Any) -> Any:
    return client.scatter(obj, broadcast=True, hash=False)


def analyse_snapshots(snaps: Sequence[Snapshot], client: Any, *, window: Any = None,
                      rows_per_partition: int = ROWS_PER_PARTITION
                      ) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, SnapshotAnalysis)`` for every snapshot as soon as all its partitions are
    done; every partition of every snapshot is in flight at once."""
    from toolkit.core.batch import analyse_partition, analysis_specs, combine_analysis
    from toolkit.core.inventory import InventoryIndex

    dist = _distributed()
    checks = _needs_dedupe(client, snaps)
    owner: dict[Any, int] = {}
    jobs: dict[int, tuple[dict, list]] = {}
    for i, (snap, check) in enumerate(zip(snaps, checks, strict=True)):
        dedupe = check.result() > 0
        specs = analysis_specs(dedupe, window)
        parts = flow_partitions(snap, rows_per_partition, dedupe=dedupe)
        index = InventoryIndex.build(snap)
        if not parts:  # no flow records: nothing to send anywhere
            yield i, combine_analysis([analyse_partition(snap.flows, index, specs)], specs)
            continue
        futures = map_partitions(client, parts, analyse_partition, _broadcast(client, index),
                                 specs, key=f"kseg-analyse-{i}")
        owner.update({f.key: i for f in futures})
        jobs[i] = (specs, futures)
    done: dict[int, int] = {}
    for future in dist.as_completed([f for _, fs in jobs.values() for f in fs]):
        i = owner[future.key]
        done[i] = done.get(i, 0) + 1
        specs, futures = jobs[i]
        if done[i] == len(futures):
            yield i, combine_analysis(client.gather(futures), specs)
            for f in futures:
                f.release()


def flow_matrix(snap: Snapshot, src: str = "namespace", dst: str = "namespace", *,
                client: Any, as_recorded: bool = False, window: Any = None,
                bucket: str | None = None, namespaces: Sequence[str] | None = None,
                segments: str | None = None, dedupe: bool = True,
                rows_per_partition: int = ROWS_PER_PARTITION) -> Any:
    """:func:`toolkit.core.flow_matrix` on a Dask cluster: identical result, computed from
    partial matrices of every flow partition (read by the workers from the snapshot path)."""
    from toolkit.core.inventory import InventoryIndex
    from toolkit.core.matrix import MatrixSpec, combine_partials, partial_matrix
    from toolkit.core.segments import segment_membership

    if isinstance(namespaces, str):
        namespaces = [namespaces]
    membership = (segment_membership(snap, segments or "namespace")
                  if "segment" in (src, dst) else None)
    dedupe = dedupe and _needs_dedupe(client, [snap])[0].result() > 0
    spec = MatrixSpec(src=src, dst=dst, as_recorded=as_recorded, window=window, bucket=bucket,
                      namespaces=tuple(namespaces) if namespaces else None, segments=segments,
                      membership=membership, dedupe=dedupe)
    index = InventoryIndex.build(snap)
    parts = flow_partitions(snap, rows_per_partition, dedupe=dedupe)
    if not parts:
        return combine_partials([partial_matrix(snap.flows, index, spec)], spec)
    futures = map_partitions(client, parts, partial_matrix, _broadcast(client, index), spec,
                             key="kseg-matrix")
    return combine_partials(client.gather(futures), spec)


def _replay_partition(flows: pl.LazyFrame, index: Any, classes: pl.DataFrame) -> pl.DataFrame:
    from toolkit.core.resolve import resolve_frame
    from toolkit.policy.replay import aggregate_edges

    return aggregate_edges(resolve_frame(flows, index), classes)


def replay(snap: Snapshot, policies: pl.DataFrame | pl.LazyFrame | None = None, *,
           client: Any, rows_per_partition: int = ROWS_PER_PARTITION) -> Any:
    """:func:`toolkit.policy.replay` on a Dask cluster: each worker resolves its partitions and
    aggregates them to distinct edges with summed measures; the client merges the edge sums
    exactly and evaluates the (few) distinct edges against the policies."""
    from toolkit.core.inventory import InventoryIndex
    from toolkit.policy.model import parse_policies
    from toolkit.policy.replay import MEASURES, ReplayResult, endpoint_classes, evaluate_edges

    model = parse_policies(snap.network_policies if policies is None else policies)
    eps, classes = endpoint_classes(snap, model)
    index = InventoryIndex.build(snap)
    parts = flow_partitions(snap, rows_per_partition)  # replay reads every record (no dedupe)
    if parts:
        futures = map_partitions(client, parts, _replay_partition, _broadcast(client, index),
                                 _broadcast(client, classes), key="kseg-replay")
        partials = client.gather(futures)
    else:
        partials = [_replay_partition(snap.flows, index, classes)]
    keys = [c for c in partials[0].columns if c not in MEASURES]
    edges = (pl.concat(partials, how="vertical_relaxed")
             .group_by(keys).agg(*(pl.col(m).sum() for m in MEASURES)))
    verdicts, found = evaluate_edges(edges, eps, model)
    return ReplayResult(verdicts, found, len(model), policies is not None)
