"""Parse ``network_policies`` rows into flat rule tables.

A :class:`PolicyModel` holds three polars frames:

- ``policies``: one row per policy, ``pid`` (stable order: namespace, name), ``namespace``,
  ``name``, ``pod_selector`` (canonical JSON), ``ingress``/``egress`` (the policy isolates the
  pods it selects in that direction).
- ``peers``: one row per rule peer: ``pid``, ``direction`` (``ingress``/``egress``), ``rule``
  (0-based index in the spec), ``peer`` (0-based), ``kind`` (``all``, ``pod``, ``namespace``,
  ``both``, ``ipblock``), ``pod_selector``/``namespace_selector`` (JSON), ``cidr``, ``except``.
  An absent or empty ``from``/``to`` is one ``all`` peer (every source/destination).
- ``ports``: one row per rule port: ``pid``, ``direction``, ``rule``, ``protocol`` (IANA
  number, or 0 = "any other protocol" for rules without ports), ``port_lo``/``port_hi``
  (0..65535 when the port is absent), ``port_name`` (a named port, resolved later against the
  destination pod's container ports).

>>> import json, polars as pl
>>> row = {"namespace": "shop", "name": "web", "pod_selector": "{}",
...        "policy_types": ["Ingress"],
...        "spec": json.dumps({"podSelector": {}, "ingress": [{"ports": [{"port": 80}]}]})}
>>> m = parse_policies(pl.DataFrame([row]))
>>> m.ports.select("protocol", "port_lo", "port_hi").row(0)
(6, 80, 80)
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from toolkit.errors import InputError

#: Protocol names NetworkPolicy accepts, to IANA numbers.
PROTOCOLS = {"TCP": 6, "UDP": 17, "SCTP": 132}
#: Pseudo protocol number: every protocol other than TCP, UDP and SCTP (ICMP, ...).
OTHER = 0
PROTOCOL_NAMES = {6: "TCP", 17: "UDP", 132: "SCTP"}
MAX_PORT = 65535

POLICIES_SCHEMA = {"pid": pl.Int32, "namespace": pl.String, "name": pl.String,
                   "pod_selector": pl.String, "ingress": pl.Boolean, "egress": pl.Boolean}
PEERS_SCHEMA = {"pid": pl.Int32, "direction": pl.String, "rule": pl.Int32, "peer": pl.Int32,
                "kind": pl.String, "pod_selector": pl.String, "namespace_selector": pl.String,
                "cidr": pl.String, "except": pl.List(pl.String)}
PORTS_SCHEMA = {"pid": pl.Int32, "direction": pl.String, "rule": pl.Int32,
                "protocol": pl.Int32, "port_lo": pl.Int32, "port_hi": pl.Int32,
                "port_name": pl.String}


@dataclass(frozen=True)
class PolicyModel:
    """Flat rule tables of a set of NetworkPolicies (see the module docstring)."""

    policies: pl.DataFrame
    peers: pl.DataFrame
    ports: pl.DataFrame

    def __len__(self) -> int:
        return self.policies.height

    def label(self, pid: int) -> str:
        """``namespace/name`` of policy ``pid``."""
        row = self.policies.row(pid, named=True)
        return f"{row['namespace']}/{row['name']}"


def _canon(value: Any) -> str:
    return json.dumps(value if value is not None else {}, sort_keys=True, separators=(",", ":"))


class _Ctx:
    """Where a policy came from, for error messages."""

    def __init__(self, namespace: str, name: str, source: str | None):
        self.where = f"NetworkPolicy {namespace}/{name}"
        self.path = source or self.where

    def error(self, message: str, field: str) -> InputError:
        return InputError(f"{self.where}: {message}", path=self.path, field=field,
                          hint="fix the policy (see the NetworkPolicy API reference)")


def _cidr(text: Any, ctx: _Ctx, field: str) -> str:
    try:
        return str(ipaddress.ip_network(str(text), strict=False))
    except ValueError:
        raise ctx.error(f"invalid CIDR {text!r}", field) from None


def _peer(raw: Any, ctx: _Ctx, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ctx.error("a peer must be a mapping", field)
    pod, nsel, block = raw.get("podSelector"), raw.get("namespaceSelector"), raw.get("ipBlock")
    if block is not None:
        if pod is not None or nsel is not None:
            raise ctx.error("ipBlock cannot be combined with selectors in one peer", field)
        if not isinstance(block, Mapping) or "cidr" not in block:
            raise ctx.error("ipBlock needs a cidr", f"{field}.ipBlock")
        excepts = [_cidr(e, ctx, f"{field}.ipBlock.except") for e in block.get("except") or []]
        return {"kind": "ipblock", "pod_selector": None, "namespace_selector": None,
                "cidr": _cidr(block["cidr"], ctx, f"{field}.ipBlock.cidr"), "except": excepts}
    if pod is None and nsel is None:
        raise ctx.error("a peer needs podSelector, namespaceSelector or ipBlock", field)
    kind = "both" if pod is not None and nsel is not None else (
        "pod" if pod is not None else "namespace")
    return {"kind": kind, "pod_selector": None if pod is None else _canon(pod),
            "namespace_selector": None if nsel is None else _canon(nsel),
            "cidr": None, "except": []}


def _port(raw: Any, ctx: _Ctx, field: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise ctx.error("a port entry must be a mapping", field)
    proto = str(raw.get("protocol") or "TCP").upper()
    if proto not in PROTOCOLS:
        raise ctx.error(f"unknown protocol {raw.get('protocol')!r} (TCP, UDP or SCTP)",
                        f"{field}.protocol")
    port, end = raw.get("port"), raw.get("endPort")
    row = {"protocol": PROTOCOLS[proto], "port_lo": 0, "port_hi": MAX_PORT, "port_name": None}
    if port is None:
        return row
    if isinstance(port, str) and not port.isdigit():
        return {**row, "port_lo": None, "port_hi": None, "port_name": port}
    try:
        lo = int(port)
        hi = int(end) if end is not None else lo
    except (TypeError, ValueError):
        raise ctx.error(f"invalid port {port!r} / endPort {end!r}", f"{field}.port") from None
    if not 1 <= lo <= hi <= MAX_PORT:
        raise ctx.error(f"port range {lo}-{hi} is not within 1-65535", f"{field}.port")
    return {**row, "port_lo": lo, "port_hi": hi}


def _all_ports() -> list[dict[str, Any]]:
    return [{"protocol": p, "port_lo": 0, "port_hi": MAX_PORT, "port_name": None}
            for p in (*PROTOCOLS.values(), OTHER)]


def _rules(spec: Mapping[str, Any], direction: str, ctx: _Ctx
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    key, peer_key = ("ingress", "from") if direction == "ingress" else ("egress", "to")
    rules = spec.get(key) or []
    if not isinstance(rules, list):
        raise ctx.error(f"spec.{key} must be a list", f"spec.{key}")
    peers, ports = [], []
    for r, rule in enumerate(rules):
        field = f"spec.{key}[{r}]"
        if rule is None:
            rule = {}
        if not isinstance(rule, Mapping):
            raise ctx.error("a rule must be a mapping", field)
        raw_peers = rule.get(peer_key) or []
        found = [_peer(p, ctx, f"{field}.{peer_key}[{i}]") for i, p in enumerate(raw_peers)]
        for i, peer in enumerate(found or [{"kind": "all", "pod_selector": None,
                                            "namespace_selector": None, "cidr": None,
                                            "except": []}]):
            peers.append({"direction": direction, "rule": r, "peer": i, **peer})
        raw_ports = rule.get("ports") or []
        entries = [_port(p, ctx, f"{field}.ports[{i}]") for i, p in enumerate(raw_ports)]
        ports += [{"direction": direction, "rule": r, **p} for p in entries or _all_ports()]
    return peers, ports


def _spec(row: Mapping[str, Any], ctx: _Ctx) -> Mapping[str, Any]:
    try:
        spec = json.loads(row["spec"]) if isinstance(row["spec"], str) else row["spec"]
    except json.JSONDecodeError as exc:
        raise ctx.error(f"spec is not valid JSON ({exc.msg})", "spec") from None
    if not isinstance(spec, Mapping):
        raise ctx.error("spec must be a mapping", "spec")
    return spec


def _types(row: Mapping[str, Any], spec: Mapping[str, Any]) -> set[str]:
    types = list(row.get("policy_types") or spec.get("policyTypes") or [])
    if not types:  # API defaulting: Ingress always, Egress when there are egress rules
        types = ["Ingress"] + (["Egress"] if spec.get("egress") else [])
    return {str(t).capitalize() for t in types}


def parse_policies(frame: pl.DataFrame | pl.LazyFrame) -> PolicyModel:
    """Flatten a ``network_policies`` table into a :class:`PolicyModel`.

    Raises :class:`~toolkit.errors.InputError` naming the policy and field for bad specs.
    """
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    frame = frame.sort("namespace", "name")
    policies, peers, ports = [], [], []
    for pid, row in enumerate(frame.iter_rows(named=True)):
        ctx = _Ctx(row["namespace"], row["name"], row.get("source"))
        spec = _spec(row, ctx)
        types = _types(row, spec)
        unknown = types - {"Ingress", "Egress"}
        if unknown:
            raise ctx.error(f"unknown policyTypes {sorted(unknown)}", "spec.policyTypes")
        policies.append({"pid": pid, "namespace": row["namespace"], "name": row["name"],
                         "pod_selector": _canon(spec.get("podSelector")),
                         "ingress": "Ingress" in types, "egress": "Egress" in types})
        for direction in ("ingress", "egress"):
            if direction.capitalize() not in types:
                continue  # rules of a type the policy does not declare have no effect
            found_peers, found_ports = _rules(spec, direction, ctx)
            peers += [{"pid": pid, **p} for p in found_peers]
            ports += [{"pid": pid, **p} for p in found_ports]
    return PolicyModel(pl.DataFrame(policies, schema=POLICIES_SCHEMA, orient="row"),
                       pl.DataFrame(peers, schema=PEERS_SCHEMA, orient="row"),
                       pl.DataFrame(ports, schema=PORTS_SCHEMA, orient="row"))
