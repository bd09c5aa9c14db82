"""Value helpers shared by the normalisers: canonical IPs, timestamps, labels, JSON.

>>> canonical_ip("FD00:0::1"), canonical_json({"b": 1, "a": 2})
('fd00::1', '{"a":2,"b":1}')
"""

from __future__ import annotations

import ipaddress
import json
import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from toolkit._ipaddr import CANONICAL_V4


class ObjectError(ValueError):
    """An object lacks a field the schema needs or holds an unusable value."""

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


_CANONICAL_V4 = re.compile(CANONICAL_V4)


def canonical_ip(text: Any) -> str | None:
    """Canonical text of an IP address (``ipaddress`` compressed), or None when not an IP.

    >>> canonical_ip("FD00:0::1"), canonical_ip("010.0.0.1"), canonical_ip("nope")
    ('fd00::1', None, None)
    """
    if not isinstance(text, str) or not text:
        return None
    if _CANONICAL_V4.fullmatch(text):  # fast path: already a canonical dotted quad
        return text
    try:
        return ipaddress.ip_address(text.strip()).compressed
    except ValueError:
        return None


def ip_family(ip: str | None) -> str | None:
    """``IPv4``/``IPv6`` for a canonical IP, None for None."""
    if ip is None:
        return None
    return "IPv6" if ":" in ip else "IPv4"


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: equal objects give equal text.

    >>> canonical_json({"b": 1, "a": [None]})
    '{"a":[null],"b":1}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_time(value: Any, field: str) -> datetime | None:
    """An RFC 3339 timestamp (``2024-01-02T03:04:05Z``) as an aware UTC datetime."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):  # YAML may already have parsed it
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ObjectError(f"expected an RFC 3339 timestamp, got {type(value).__name__}", field)
    cached = _TIMES.get(value)
    if cached is None:
        try:
            parsed = datetime.fromisoformat(value.replace("z", "Z"))
        except ValueError:
            raise ObjectError(f"invalid timestamp {value!r}", field) from None
        cached = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
        if len(_TIMES) > 100_000:
            _TIMES.clear()
        _TIMES[value] = cached
    return cached


_TIMES: dict[str, datetime] = {}  # pods of one rollout share timestamps to the second


def labels(value: Any) -> list[dict[str, str]]:
    """A label map as the schema's sorted list of ``{key, value}`` structs.

    Pods of one ReplicaSet carry the same labels, so results of all-text maps are cached:
    equal maps give the same list object, which callers must not modify.
    """
    if not _is_map(value) or not value:
        return []
    try:
        items = tuple(value.items())
        cached = _LABELS.get(items)
    except TypeError:  # an unhashable value (a malformed manifest)
        items = cached = None
    if cached is not None:  # only all-str items are stored, so equal means identical text
        return cached
    # sorted() is stable and ``key=str`` a C call: same order as sorting items by str(key).
    result = [{"key": str(k), "value": "" if (v := value[k]) is None else str(v)}
              for k in sorted(value, key=str)]
    if items is not None and all(type(k) is str and type(v) is str for k, v in items):
        if len(_LABELS) >= LABELS_CACHED:
            _LABELS.clear()
        _LABELS[items] = result
    return result


_LABELS: dict[tuple[tuple[str, str], ...], list[dict[str, str]]] = {}
#: Label maps cached at most. Pods of one ReplicaSet are listed one after another, so a
#: small cache hits as often as a large one; a large one (50,000 before) kept ~3 MB of label
#: lists per 30,000 pods alive after the capture, scattered over Python's heap.
LABELS_CACHED = 1024


def synthetic_uid(*parts: str) -> str:
    """A deterministic UUID for objects without ``metadata.uid`` (manifests, planned pods)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "kseg:" + "/".join(parts)))


_EMPTY: Mapping[str, Any] = {}


def _map(value: Any) -> Mapping[str, Any]:
    if type(value) is dict:  # fast path: JSON and YAML give plain dicts
        return value
    return value if isinstance(value, Mapping) else _EMPTY


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _port(value: Any, field: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ObjectError(f"port {value!r} is not a number", field) from None
    if not 0 <= number <= 65535:
        raise ObjectError(f"port {number} is out of range 0-65535", field)
    return number


def _ips(values: list[Any]) -> list[str]:
    out: list[str] = []
    for value in values:
        ip = canonical_ip(value)
        if ip is not None and ip not in out:
            out.append(ip)
    return out


DEFAULT_NAMESPACE = "default"


def meta(obj: Mapping[str, Any], *, namespaced: bool = True) -> tuple[str, str]:
    """(namespace, name) of an object; namespace defaults to ``default`` like kubectl."""
    md = _map(obj.get("metadata"))
    name = md.get("name")
    if not isinstance(name, str) or not name:
        raise ObjectError("object has no metadata.name", "metadata.name")
    ns = md.get("namespace") if namespaced else ""
    return (ns if isinstance(ns, str) and ns else DEFAULT_NAMESPACE) if namespaced else "", name


#: ``owner_kind`` of an ownerReference that names no ``kind`` (some hand-written manifests):
#: :func:`toolkit.collect.k8s.owners.resolve` infers the kind before the tables are finished.
KINDLESS = ""


def controller_ref(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The ownerReference with ``controller: true`` (or the only reference when none says so).

    A reference without ``kind`` still counts (its kind is inferred later, see
    :data:`KINDLESS`)."""
    refs = [r for r in _list(_map(obj.get("metadata")).get("ownerReferences"))
            if _is_map(r) and r.get("name")]
    for ref in refs:
        if ref.get("controller"):
            return ref
    return refs[0] if len(refs) == 1 else None
