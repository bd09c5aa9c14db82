"""Secrets, env values and annotations never reach a snapshot file."""

from __future__ import annotations

import json
from pathlib import Path

import fakeapi
import polars as pl

from toolkit.collect.k8s import import_inventory
from toolkit.snapshot import write_snapshot

SECRET_WORDS = ("hunter2", "SECRET-ANNOT", "last-applied-configuration", "c3VwZXJzZWNyZXQ=",
                "PASSWORD")


def test_nothing_secret_is_written(tmp_path: Path) -> None:
    objects = fakeapi.sample_objects(pods=4, per_deployment=2)
    objects.append({"kind": "Secret", "metadata": {"name": "db", "namespace": "ns0"},
                    "data": {"password": "c3VwZXJzZWNyZXQ="}})
    (tmp_path / "in.json").write_text(json.dumps({"kind": "List", "items": objects}))
    snap = import_inventory(tmp_path / "in.json")
    assert snap.sources[0]["skipped"] == {"Secret": 1}
    out = write_snapshot(snap, tmp_path / "snap")
    for file in out.rglob("*.parquet"):
        text = str(pl.read_parquet(file).to_dicts()) + file.read_bytes().decode("latin-1")
        for word in SECRET_WORDS:
            assert word not in text, (word, file.name)
    manifest = (out / "manifest.json").read_text()
    assert not any(word in manifest for word in SECRET_WORDS)
    pods = snap.pods.collect()  # what segmentation needs is kept
    assert pods["images"].to_list()[0] == ["nginx:1"]
    assert pods["service_account"].to_list()[0] == "default"
