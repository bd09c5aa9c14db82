"""Endpoint classes: the distinct things a policy can tell apart.

A policy decision depends only on a pod's namespace (and its labels), its labels, its
container ports (for named ports) and whether it uses the host network. Pods sharing all four
form one *pod class*. Addresses outside the pods are cut into *IP atoms*: disjoint ranges split
at every ipBlock ``cidr`` and ``except`` boundary, so every ipBlock is a union of whole atoms.
Each class or atom is one integer ``ep``; policies are compiled against these few endpoints and
flows are mapped onto them before any join.
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import polars as pl

from toolkit.policy.model import PolicyModel
from toolkit.policy.selectors import label_columns

NAME_LABEL = "kubernetes.io/metadata.name"
_MAX = {4: (1 << 32) - 1, 6: (1 << 128) - 1}
CLASS_KEY = ("namespace", "labels", "container_ports", "host_network")


@dataclass(frozen=True)
class Endpoints:
    """Endpoint classes: ``table`` (one row per ``ep``) and the IP atoms behind the ip rows.

    ``table`` columns: ``ep``, ``kind`` (``pod`` or ``ip``), ``namespace``, ``kv``/``keys``
    (pod labels), ``ns_kv``/``ns_keys`` (namespace labels), ``host_network``,
    ``container_ports``, ``range`` (``start-end`` text of an atom).
    """

    table: pl.DataFrame
    atoms: tuple[tuple[int, int, int], ...]  # (family, lo, hi), ep = first_atom + index
    first_atom: int

    def atom_of(self, ip: str | None) -> int | None:
        """The ``ep`` of the atom holding ``ip`` (None for a bad or missing address)."""
        if ip is None:
            return None
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return None
        value = int(addr)
        i = bisect.bisect_right(self._starts, (addr.version, value)) - 1
        return self.first_atom + i if i >= 0 else None

    @cached_property
    def _starts(self) -> list[tuple[int, int]]:
        return [(f, lo) for f, lo, _ in self.atoms]

    def cell_labels(self, blocks: Iterable[tuple[str, Iterable[str]]]) -> dict[int, str]:
        """``ep`` of each atom -> ``start-end`` text of the coarser range holding it when the
        address space is cut only at the edges of ``blocks`` (``(cidr, excepts)`` pairs, each
        taken as the interval set ``cidr`` minus ``excepts``), as np-guard prints ranges."""
        cuts: dict[int, set[int]] = {4: {0}, 6: {0}}
        for cidr, excepts in blocks:
            for family, lo, hi in block_intervals(cidr, excepts):
                cuts[family] |= {lo, hi + 1}
        cells = _cells(cuts)
        starts = [(f, lo) for f, lo, _ in cells]
        labels = {}
        for i, (family, lo, _) in enumerate(self.atoms):
            cell = cells[bisect.bisect_right(starts, (family, lo)) - 1]
            labels[self.first_atom + i] = _range_text(*cell)
        return labels

    def atoms_in(self, cidr: str, excepts: Iterable[str] = ()) -> list[int]:
        """``ep`` of every atom inside ``cidr`` and outside all ``excepts``.

        Atoms are cut at every ipBlock edge, so each one is wholly in or out: a bisection
        per interval finds them.
        """
        found = []
        for family, lo, hi in block_intervals(cidr, excepts):
            first = bisect.bisect_left(self._starts, (family, lo))
            last = bisect.bisect_right(self._starts, (family, hi))
            found += range(self.first_atom + first, self.first_atom + last)
        return found


def block_intervals(cidr: str, excepts: Iterable[str]) -> list[tuple[int, int, int]]:
    """``cidr`` minus ``excepts`` as disjoint ``(family, lo, hi)`` integer intervals."""
    net = ipaddress.ip_network(cidr, strict=False)
    holes = sorted((int(h[0]), int(h[-1])) for h in map(ipaddress.ip_network, excepts)
                   if h.version == net.version)
    found, lo = [], int(net[0])
    for h_lo, h_hi in holes:
        if h_lo > lo:
            found.append((net.version, lo, min(h_lo - 1, int(net[-1]))))
        lo = max(lo, h_hi + 1)
    if lo <= int(net[-1]):
        found.append((net.version, lo, int(net[-1])))
    return found


def _atoms(cidrs: Iterable[str]) -> list[tuple[int, int, int]]:
    cuts: dict[int, set[int]] = {4: {0}, 6: set()}
    for text in cidrs:
        net = ipaddress.ip_network(text, strict=False)
        cuts[net.version] |= {0, int(net[0]), int(net[-1]) + 1}
    return _cells(cuts)


def _cells(cuts: dict[int, set[int]]) -> list[tuple[int, int, int]]:
    atoms = []
    for family, points in cuts.items():
        ordered = sorted(p for p in points if p <= _MAX[family])
        bounds = [*ordered, _MAX[family] + 1]
        atoms += [(family, lo, hi - 1) for lo, hi in itertools.pairwise(bounds)]
    return atoms


def _range_text(family: int, lo: int, hi: int) -> str:
    make = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    return f"{make(lo)}-{make(hi)}"


def policy_blocks(model: PolicyModel, direction: str) -> list[tuple[str, list[str]]]:
    """``(cidr, excepts)`` of every ipBlock peer of one direction's rules."""
    blocks = model.peers.filter((pl.col("kind") == "ipblock")
                                & (pl.col("direction") == direction))
    return list(zip(blocks["cidr"].to_list(), blocks["except"].to_list(), strict=True))


def policy_cidrs(model: PolicyModel) -> list[str]:
    """Every ipBlock cidr and except of the model."""
    blocks = model.peers.filter(pl.col("kind") == "ipblock")
    return [*blocks["cidr"].to_list(), *blocks["except"].explode().drop_nulls().to_list()]


def _namespace_labels(pods: pl.DataFrame, namespaces: pl.DataFrame) -> pl.DataFrame:
    known = namespaces.select("name", "labels").unique("name")
    names = pods.select(pl.col("namespace").alias("name")).unique()
    frame = names.join(known, on="name", how="left").with_columns(
        pl.col("labels").fill_null(pl.lit([], dtype=known.schema["labels"])))
    auto = pl.struct(key=pl.lit(NAME_LABEL), value=pl.col("name"))
    return frame.with_columns(
        pl.when(pl.col("labels").list.eval(pl.element().struct.field("key") == NAME_LABEL)
                .list.any()).then(pl.col("labels"))
        .otherwise(pl.col("labels").list.concat(auto.implode())).alias("labels"))


def build_endpoints(pods: pl.DataFrame, namespaces: pl.DataFrame,
                    cidrs: Iterable[str] = ()) -> tuple[Endpoints, pl.DataFrame]:
    """Endpoint classes of ``pods`` plus IP atoms cut at ``cidrs``.

    Returns the :class:`Endpoints` and ``pods`` with an ``ep`` column added.
    """
    classes = (pods.select(CLASS_KEY).unique(maintain_order=True)
               .with_row_index("ep").with_columns(pl.col("ep").cast(pl.Int32)))
    mapped = pods.join(classes, on=list(CLASS_KEY), how="left", nulls_equal=True)
    ns = _namespace_labels(classes, namespaces).rename({"name": "namespace",
                                                         "labels": "ns_labels"})
    pod_rows = (classes.join(ns, on="namespace", how="left")
                .with_columns(*label_columns(pl.col("labels"), "kv", "keys"),
                              *label_columns(pl.col("ns_labels"), "ns_kv", "ns_keys"),
                              kind=pl.lit("pod"), range=pl.lit(None, pl.String))
                .drop("labels", "ns_labels"))
    atoms = _atoms(cidrs)
    first = classes.height
    ip_rows = pl.DataFrame({
        "ep": pl.Series(range(first, first + len(atoms)), dtype=pl.Int32),
        "kind": ["ip"] * len(atoms),
        "range": [_range_text(*a) for a in atoms],
    })
    table = pl.concat([pod_rows, ip_rows], how="diagonal_relaxed").sort("ep")
    table = table.with_columns(pl.col("host_network").fill_null(False))
    return Endpoints(table, tuple(atoms), first), mapped
