"""Where policies and inventories come from: snapshot folders, manifests, proposed YAML."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import polars as pl

from toolkit import _store
from toolkit.errors import InputError
from toolkit.snapshot import Snapshot, load_snapshot


def is_snapshot(path: str | Path) -> bool:
    """True when ``path`` is a snapshot folder (it holds a manifest)."""
    return (Path(path) / _store.MANIFEST).is_file()


def load_inventory(paths: Iterable[str | Path]) -> Snapshot:
    """One snapshot folder, or Kubernetes manifests / kubectl dumps (files or folders);
    workloads without pods are expanded into planned pods, as np-guard reasons on workloads."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and is_snapshot(paths[0]):
        return load_snapshot(paths[0])
    snaps = [p for p in paths if is_snapshot(p)]
    if snaps:
        raise InputError("give either one snapshot folder or manifest files, not both",
                         path=str(snaps[0]))
    from toolkit.collect.k8s import import_inventory

    return import_inventory(paths, planned=True)


def load_policies(paths: Iterable[str | Path] | str | Path) -> pl.DataFrame:
    """A ``network_policies`` table from NetworkPolicy / NetworkPolicyList YAML or JSON files
    (or folders of them), read with the inventory normaliser.

    Raises :class:`InputError` when no NetworkPolicy is found.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    from toolkit.collect.k8s import import_inventory

    table = import_inventory(paths).network_policies.collect()
    if table.height == 0:
        raise InputError("no NetworkPolicy objects found", path=", ".join(map(str, paths)),
                         hint="give NetworkPolicy or NetworkPolicyList YAML files")
    return table
