"""Offline inventory: ``kubectl get -o json`` dumps and YAML manifests into a snapshot.

Accepts single objects, ``List``/``PodList``/any ``*List`` wrappers (nested too), many files
and directories (read recursively: ``*.json``, ``*.yaml``, ``*.yml``). YAML may hold many
documents. Unknown kinds and non-Kubernetes documents are counted, not errors; Secrets are
skipped and counted.

PyYAML rejects a TAB where a token starts, although YAML allows tabs as separation space
inside a line and inside flow collections (``args: [ ... ]``), and some real manifests have
them. :func:`load_yaml_documents` repairs exactly those tabs (a tab that follows other text on
its line, or any tab inside a flow collection) by turning them into spaces, which cannot
change the meaning. A tab used as block indentation is invalid YAML and gives an
:class:`~toolkit.errors.InputError` naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from toolkit.collect.k8s import normalise as nm
from toolkit.collect.k8s.capture import Capture, no_cyclic_gc
from toolkit.errors import InputError
from toolkit.snapshot import Snapshot

SUFFIXES = (".json", ".yaml", ".yml")
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MAX_TAB_REPAIRS = 1000

Doc = tuple[int, Any]  # (1-based line where the document or item starts, value)


def iter_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files to read: given files as they are, directories recursively (sorted)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*")
                              if p.is_file() and p.suffix.lower() in SUFFIXES)
        elif path.is_file():
            yield path
        else:
            raise InputError("no such file or directory", path=str(path),
                             hint="give kubectl JSON dumps, YAML manifests or folders of them")


def _repair_tab(text: str, error: yaml.MarkedYAMLError, flow_level: int) -> str | None:
    """``text`` with the offending tab run made spaces, or None when that would be unsafe."""
    mark = error.problem_mark
    if mark is None or "'\\t'" not in str(error.problem):
        return None
    lines = text.split("\n")
    line = lines[mark.line]
    col = mark.column
    if col >= len(line) or line[col] != "\t":
        return None
    if flow_level == 0 and not line[:col].strip():
        return None  # a tab as block indentation: invalid YAML, and not safe to guess
    end = col
    while end < len(line) and line[end] == "\t":
        end += 1
    lines[mark.line] = line[:col] + " " * (end - col) + line[end:]
    return "\n".join(lines)


def load_yaml_documents(text: str, path: str = "<string>") -> list[Doc]:
    """All documents of a YAML stream with their start lines (``yaml.safe_load_all`` semantics).

    >>> load_yaml_documents("a: [1,\\n\\t2]\\n---\\nb: 3\\n")
    [(1, {'a': [1, 2]}), (4, {'b': 3})]
    """
    try:
        return _documents_with(_FAST_LOADER(text))
    except yaml.YAMLError:
        pass
    for _ in range(_MAX_TAB_REPAIRS):
        loader = yaml.SafeLoader(text)
        try:
            return _documents_with(loader)
        except yaml.MarkedYAMLError as exc:
            repaired = _repair_tab(text, exc, loader.flow_level)
            if repaired is None:
                raise _yaml_error(exc, path) from None
            text = repaired
        except yaml.YAMLError as exc:
            raise InputError(f"invalid YAML: {exc}", path=path) from None
    raise InputError("too many TAB characters to repair", path=path)


def _documents_with(loader: yaml.SafeLoader) -> list[Doc]:
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            docs.append((node.start_mark.line + 1, loader.construct_document(node)))
        return docs
    finally:
        loader.dispose()


def _yaml_error(exc: yaml.MarkedYAMLError, path: str) -> InputError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark else None
    problem = " ".join(str(p) for p in (exc.context, exc.problem) if p)
    if "'\\t'" in problem:
        problem += " (a TAB used as indentation; replace it with spaces)"
    return InputError(f"invalid YAML: {problem}", path=path, line=line)


def load_file(path: Path) -> tuple[list[Doc], str]:
    """(documents, source) of one file: JSON when it looks like JSON, else YAML."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", path=str(path)) from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", path=str(path)) from None
    if text.lstrip()[:1] in ("{", "["):
        try:
            return [(1, json.loads(text))], "kubectl-json"
        except json.JSONDecodeError as exc:
            if path.suffix.lower() == ".json":
                raise InputError(f"invalid JSON: {exc.msg}", path=str(path),
                                 line=exc.lineno) from None
    return load_yaml_documents(text, str(path)), "manifest"


def expand_lists(value: Any, line: int, kind_hint: str | None = None) -> Iterator[Doc]:
    """Objects inside ``*List`` wrappers (items of a ``PodList`` get ``kind: Pod``)."""
    if isinstance(value, list):
        for item in value:
            yield from expand_lists(item, line, kind_hint)
        return
    if not isinstance(value, Mapping):
        yield line, value
        return
    kind = value.get("kind") or kind_hint
    if isinstance(kind, str) and kind.endswith("List") and isinstance(value.get("items"), list):
        item_kind = kind[: -len("List")] or None
        for item in value["items"]:
            yield from expand_lists(item, line, item_kind if item_kind else None)
        return
    if kind and "kind" not in value:
        value = {**value, "kind": kind}
    yield line, value


def read_into(capture: Capture, path: Path) -> int:
    """Add every object of one file to ``capture``; returns the number of documents."""
    docs, source = load_file(path)
    count = 0
    for line, doc in docs:
        for item_line, obj in expand_lists(doc, line):
            count += 1
            if obj is None:
                continue
            if not isinstance(obj, Mapping) or not obj.get("kind"):
                capture.unknown["(not a Kubernetes object)"] += 1
                continue
            try:
                capture.add(obj, source)
            except nm.ObjectError as exc:
                name = nm._map(obj.get("metadata")).get("name") or "?"
                raise InputError(f"{obj.get('kind')} {name}: {exc}", path=str(path),
                                 line=item_line, field=exc.field) from None
    return count


def read_inventory(paths: Iterable[str | Path]) -> tuple[Capture, list[str]]:
    """A :class:`Capture` of every object in ``paths`` and the list of files read."""
    capture = Capture()
    files = []
    with no_cyclic_gc():
        for path in iter_files(paths):
            read_into(capture, path)
            files.append(str(path))
    return capture, files


def import_inventory(paths: Iterable[str | Path] | str | Path, *, planned: bool = False,
                     cluster: str | None = None,
                     captured_at: datetime | None = None) -> Snapshot:
    """An in-memory inventory Snapshot (no flows) from kubectl dumps and manifests.

    ``planned=True`` adds the pods that workloads without pods would create. Raises
    :class:`InputError` for unreadable files or when no object of a known kind was found.

    >>> snap = import_inventory(["manifests/"], planned=True)   # doctest: +SKIP
    >>> snap.pods.collect()                                      # doctest: +SKIP
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = list(paths)
    capture, files = read_inventory(paths)
    if capture.objects == 0:
        found = ", ".join(f"{k}: {v}" for k, v in {**capture.unknown, **capture.skipped}.items())
        raise InputError(f"no Kubernetes objects of a known kind in {len(files)} file(s)"
                         + (f" (found {found})" if found else ""),
                         path=", ".join(str(p) for p in paths),
                         hint="give kubectl get -o json output or YAML manifests")
    source = {"kind": "inventory-import", "files": len(files), "planned": planned}
    return capture.snapshot(planned_pods=planned, cluster=cluster, captured_at=captured_at,
                            source=source, release=True)
