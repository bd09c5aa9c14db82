"""``kseg info SNAP``: manifest, table sizes and a schema check of a snapshot."""

from __future__ import annotations

import argparse
import json

import polars as pl

from toolkit.cli._common import out, print_frame
from toolkit.snapshot import load_snapshot


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("info", help="show a snapshot's manifest, table sizes and "
                                 "schema check", description=__doc__)
    parser.add_argument("snapshot", help="snapshot folder")
    parser.add_argument("--verify", action="store_true",
                        help="also recompute every file's checksum")
    parser.add_argument("--json", action="store_true", help="print the manifest as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    snap = load_snapshot(args.snapshot, verify=args.verify)
    if args.json:
        print(json.dumps(dict(snap.manifest), indent=2, sort_keys=True, default=str))
        return 0
    manifest = snap.manifest
    out.print(f"snapshot   {snap.path}")
    out.print(f"cluster    {snap.cluster}")
    out.print(f"schema     v{manifest['schema_version']} (written by kseg "
              f"{manifest.get('kseg_version', '?')})")
    out.print(f"captured   {manifest.get('captured_at') or '-'}")
    window = snap.flow_window()
    out.print("flows      " + (f"{window[0]:%Y-%m-%d %H:%M:%S} .. {window[1]:%Y-%m-%d %H:%M:%S}"
                               " UTC" if window else "none"))
    for source in snap.sources:
        out.print(f"source     {', '.join(f'{k}={v}' for k, v in source.items())}")
    rows = []
    for name, entry in manifest["tables"].items():
        rows.append((name, entry["rows"], entry["bytes"], 1))
    parts = manifest["flows"]["parts"]
    rows.append(("flows", manifest["flows"]["rows"], sum(p["bytes"] for p in parts), len(parts)))
    frame = pl.DataFrame(rows, schema=["table", "rows", "bytes on disk", "files"], orient="row")
    print_frame(frame, title="tables")
    imports = manifest.get("imports", [])
    if imports:
        out.print(f"imports    {len(imports)}: " + ", ".join(
            f"{i['format']} ({i.get('rows', 0):,} rows)" for i in imports))
    check = "checksums verified" if args.verify else "sizes and Parquet schemas checked"
    out.print(f"schema check: ok ({check})")
    return 0
