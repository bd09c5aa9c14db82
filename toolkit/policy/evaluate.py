"""The allow decision, vectorised over endpoint pairs.

:func:`compile_policies` turns a :class:`~toolkit.policy.model.PolicyModel` and the endpoint
classes into four small tables (which policies select which endpoint, which rule peers match
which endpoint, numeric ports, named ports resolved per destination). :func:`side_rows` joins
distinct endpoint pairs with them; :func:`decide` takes a table of distinct
``(s, d, protocol, port)`` tuples and returns, per tuple and per direction, whether the endpoint
is isolated and the first policy/rule (stable order: namespace, name, rule index) that allows
it. Loops run over policies and peers only, never over flows.

Semantics (``networking.k8s.io/v1``; see docs/policy.md):

- a pod is isolated in a direction once a policy of its namespace selects it with that type;
  hostNetwork pods are treated like other pods, as np-guard does (most CNIs do not enforce
  policies on them; docs/policy.md explains the choice);
- a connection needs egress allowed at the source and ingress allowed at the destination;
- ipBlock peers match IP atoms only (addresses that are not pods), as the np-guard analyzer
  does; pod and namespace selectors match pods only; an absent/empty ``from``/``to`` matches
  every endpoint;
- named ports resolve against the destination pod's container ports (for egress rules too).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from toolkit.policy.endpoints import Endpoints
from toolkit.policy.model import OTHER, PROTOCOLS, PolicyModel
from toolkit.policy.selectors import selector_expr

DIRECTIONS = ("ingress", "egress")
PREFIX = {"ingress": "in", "egress": "eg"}


@dataclass(frozen=True)
class Compiled:
    """Policies compiled against endpoint classes.

    ``selected``: (pid, ep, ingress, egress) pods a policy selects; ``peers``: (pid, direction,
    rule, ep) endpoints a rule peer matches; ``ports``: (pid, direction, rule, protocol,
    port_lo, port_hi) numeric ports; ``named``: the same plus the destination ``ep`` a named
    port resolved against.
    """

    model: PolicyModel
    endpoints: Endpoints
    selected: pl.DataFrame
    peers: pl.DataFrame
    ports: pl.DataFrame
    named: pl.DataFrame


#: Selector masks evaluated per query: one query per batch, not one per policy (500
#: policies compiled in 0.33-0.44 s as one query each, 0.14-0.16 s in batches).
MASK_BATCH = 128


def _matching(eps: pl.DataFrame, masks: list[pl.Expr], ids: list[int] | None = None
              ) -> pl.DataFrame:
    """``(mask, ep)``: the ``ep`` values each boolean mask selects; ``mask`` is the mask's
    id (``ids``, by default its index in ``masks``). One query per :data:`MASK_BATCH` masks."""
    ids = list(range(len(masks))) if ids is None else ids
    parts = [pl.DataFrame(schema={"mask": pl.Int32, "ep": pl.Int32})]
    for start in range(0, len(masks), MASK_BATCH):
        wide = eps.select(pl.col("ep").filter(mask).implode().alias(str(ids[start + i]))
                          for i, mask in enumerate(masks[start:start + MASK_BATCH]))
        parts.append(wide.unpivot(variable_name="mask", value_name="ep").explode("ep")
                     .drop_nulls("ep")
                     .select(pl.col("mask").cast(pl.Int32), pl.col("ep").cast(pl.Int32)))
    return pl.concat(parts)


def _selected(model: PolicyModel, eps: pl.DataFrame) -> pl.DataFrame:
    pods = eps.filter(pl.col("kind") == "pod")
    policies = model.policies.select("pid", "namespace", "name", "pod_selector", "ingress",
                                     "egress")
    masks = [(pl.col("namespace") == pol["namespace"])
             & selector_expr(pol["pod_selector"], "kv", "keys",
                             where=f"NetworkPolicy {pol['namespace']}/{pol['name']} "
                                   "spec.podSelector")
             for pol in policies.iter_rows(named=True)]
    flags = policies.select(pl.int_range(pl.len(), dtype=pl.Int32).alias("mask"),
                            pl.col("pid").cast(pl.Int32), pl.col("ingress").cast(pl.Boolean),
                            pl.col("egress").cast(pl.Boolean))
    return (_matching(pods, masks).join(flags, on="mask", maintain_order="left")
            .select("pid", "ep", "ingress", "egress"))


def _peer_mask(peer: dict, namespace: str, endpoints: Endpoints, where: str) -> list[int] | pl.Expr:
    kind = peer["kind"]
    if kind == "all":
        return pl.lit(True)
    if kind == "ipblock":
        return endpoints.atoms_in(peer["cidr"], peer["except"])
    expr = pl.col("kind") == "pod"
    if peer["pod_selector"] is not None:
        expr &= selector_expr(peer["pod_selector"], "kv", "keys", where=where + ".podSelector")
    if peer["namespace_selector"] is not None:
        expr &= selector_expr(peer["namespace_selector"], "ns_kv", "ns_keys",
                              where=where + ".namespaceSelector")
    else:  # a podSelector alone means pods of the policy's own namespace
        expr &= pl.col("namespace") == namespace
    return expr


def _peers(model: PolicyModel, endpoints: Endpoints) -> pl.DataFrame:
    eps = endpoints.table
    namespaces = dict(zip(model.policies["pid"], model.policies["namespace"], strict=True))
    keys: dict[tuple, int] = {}  # distinct peers: each evaluated once
    masks: list[pl.Expr] = []  # selector peers, evaluated together (see _matching)
    mask_ids: list[int] = []
    atoms: list[tuple[int, list[int]]] = []  # ipBlock peers: (peer id, atom eps)
    rows = []
    for peer in model.peers.iter_rows(named=True):
        ns = namespaces[peer["pid"]]
        key = (peer["kind"], peer["pod_selector"], peer["namespace_selector"], peer["cidr"],
               tuple(peer["except"] or ()), ns if peer["namespace_selector"] is None else "")
        if key not in keys:
            where = (f"{model.label(peer['pid'])} spec.{peer['direction']}[{peer['rule']}]"
                     f" peer {peer['peer']}")
            keys[key] = len(keys)
            mask = _peer_mask(peer, ns, endpoints, where)
            if isinstance(mask, list):
                atoms.append((keys[key], mask))
            else:
                masks.append(mask)
                mask_ids.append(keys[key])
        rows.append((peer["pid"], peer["direction"], peer["rule"], keys[key]))
    in_blocks = pl.DataFrame(atoms, orient="row", schema={"mask": pl.Int32,
                                                          "ep": pl.List(pl.Int32)})
    matched = pl.concat([_matching(eps, masks, mask_ids),
                         in_blocks.explode("ep").drop_nulls("ep")])
    peers = pl.DataFrame(rows, orient="row", schema={
        "pid": pl.Int32, "direction": pl.String, "rule": pl.Int32, "mask": pl.Int32})
    return peers.join(matched, on="mask").drop("mask").unique()


def _named(model: PolicyModel, eps: pl.DataFrame) -> pl.DataFrame:
    names = {v: k for k, v in PROTOCOLS.items()}
    wanted = model.ports.filter(pl.col("port_name").is_not_null())
    declared = (eps.filter(pl.col("kind") == "pod").select("ep", "container_ports")
                .explode("container_ports").unnest("container_ports")
                .filter(pl.col("name").is_not_null())
                .select("ep", pl.col("name").alias("port_name"),
                        pl.col("protocol").str.to_uppercase().alias("proto_name"),
                        pl.col("port").cast(pl.Int32)))
    wanted = wanted.with_columns(proto_name=pl.col("protocol").replace_strict(
        names, return_dtype=pl.String, default=None))
    return (wanted.join(declared, on=["port_name", "proto_name"])
            .select("pid", "direction", "rule", "ep", "protocol",
                    pl.col("port").alias("port_lo"), pl.col("port").alias("port_hi")))


def compile_policies(model: PolicyModel, endpoints: Endpoints) -> Compiled:
    """Compile ``model`` against ``endpoints`` (see :class:`Compiled`)."""
    eps = endpoints.table
    ports = model.ports.filter(pl.col("port_name").is_null()).drop("port_name")
    return Compiled(model, endpoints, _selected(model, eps), _peers(model, endpoints), ports,
                    _named(model, eps))


def side_rows(comp: Compiled, pairs: pl.LazyFrame, direction: str) -> pl.LazyFrame:
    """Rules of ``direction`` that allow each pair ``(s, d)``, with their port intervals.

    Columns: ``s, d, pid, rule, protocol, port_lo, port_hi``. Pairs whose target is not
    selected by any policy of that direction have no rows (see :func:`isolated`).
    """
    target, other = ("d", "s") if direction == "ingress" else ("s", "d")
    sel = (comp.selected.lazy().filter(pl.col(direction))
           .select("pid", pl.col("ep").alias(target)))
    peers = (comp.peers.lazy().filter(pl.col("direction") == direction)
             .select("pid", "rule", pl.col("ep").alias(other)))
    hits = pairs.select("s", "d").join(sel, on=target).join(peers, on=["pid", other])
    ports = comp.ports.lazy().filter(pl.col("direction") == direction).drop("direction")
    named = (comp.named.lazy().filter(pl.col("direction") == direction)
             .drop("direction").rename({"ep": "d"}))
    cols = ["s", "d", "pid", "rule", "protocol", "port_lo", "port_hi"]
    return pl.concat([hits.join(ports, on=["pid", "rule"]).select(cols),
                      hits.join(named, on=["pid", "rule", "d"]).select(cols)])


def isolated(comp: Compiled, direction: str) -> pl.LazyFrame:
    """Endpoints isolated in ``direction``: one column ``ep``."""
    return comp.selected.lazy().filter(pl.col(direction)).select("ep").unique()


def protocol_class(protocol: pl.Expr) -> pl.Expr:
    """IANA protocol -> the number rules use: TCP/UDP/SCTP as is, anything else OTHER (0)."""
    return (pl.when(protocol.is_in(list(PROTOCOLS.values()))).then(protocol.cast(pl.Int32))
            .otherwise(pl.lit(OTHER, pl.Int32)))


def _first_match(comp: Compiled, tuples: pl.LazyFrame, direction: str) -> pl.LazyFrame:
    rows = side_rows(comp, tuples.select("s", "d").unique(), direction)
    keys = ["s", "d", "protocol", "port"]
    prefix = PREFIX[direction]
    return (tuples.select(keys).unique().join(rows, on=["s", "d", "protocol"])
            .filter(pl.col("port").is_between(pl.col("port_lo"), pl.col("port_hi")))
            .group_by(keys).agg(pl.col("pid", "rule").sort_by("pid", "rule").first())
            .rename({"pid": f"{prefix}_pid", "rule": f"{prefix}_rule"}))


def decide(comp: Compiled, tuples: pl.LazyFrame) -> pl.LazyFrame:
    """Verdicts for distinct tuples with columns ``s, d`` (Int32 eps), ``protocol`` (rule
    protocol number, see :func:`protocol_class`) and ``port`` (Int32, 0 when none).

    Adds ``in_isolated, in_pid, in_rule, eg_isolated, eg_pid, eg_rule, allowed``.
    """
    out = tuples
    for direction, prefix, side in (("ingress", "in", "d"), ("egress", "eg", "s")):
        iso = isolated(comp, direction).with_columns(pl.lit(True).alias(f"{prefix}_isolated"))
        out = (out.join(iso.rename({"ep": side}), on=side, how="left")
               .join(_first_match(comp, tuples, direction),
                     on=["s", "d", "protocol", "port"], how="left")
               .with_columns(pl.col(f"{prefix}_isolated").fill_null(False)))
    ok_in = ~pl.col("in_isolated") | pl.col("in_pid").is_not_null()
    ok_eg = ~pl.col("eg_isolated") | pl.col("eg_pid").is_not_null()
    return out.with_columns((ok_in & ok_eg).alias("allowed"))


def findings(comp: Compiled) -> pl.DataFrame:
    """Likely mistakes: policies that select no pod, selector peers that match no pod.

    Columns ``policy``, ``finding``, ``detail`` (the selector, as JSON). A typo in a label
    (``name: cart`` for pods labelled ``name: carts``) shows up here.
    """
    model = comp.model
    label = pl.format("{}/{}", "namespace", "name").alias("policy")
    idle = (model.policies.join(comp.selected, on="pid", how="anti")
            .select(label, pl.lit("selects no pod").alias("finding"),
                    pl.col("pod_selector").alias("detail")))
    matched = comp.peers.select("pid", "direction", "rule").unique()
    peers = model.peers.filter(pl.col("kind").is_in(["pod", "namespace", "both"]))
    empty = (peers.join(matched, on=["pid", "direction", "rule"], how="anti")
             .join(model.policies.select("pid", "namespace", "name"), on="pid")
             .select(label, pl.format("{} rule #{} peer matches no pod", "direction",
                                      (pl.col("rule") + 1).cast(pl.String)).alias("finding"),
                     pl.concat_str([pl.lit("podSelector=") + pl.col("pod_selector"),
                                    pl.lit("namespaceSelector=") + pl.col("namespace_selector")],
                                   separator=" ", ignore_nulls=True).alias("detail")))
    return pl.concat([idle, empty]).sort("policy", "finding")
