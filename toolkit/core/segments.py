"""Segment membership: every pod in exactly one segment per strategy.

Strategies (``segment_membership(snap, strategy=...)``):

``namespace``         the pod's namespace
``label:KEY``         the value of label KEY (``label:app``, ``label:app.kubernetes.io/name``);
                      pods without it go to the fallback segment ``no-KEY`` (``matched`` false)
``workload``          ``namespace/workload`` (top-level owner name)
``illumio``           Illumio-style dimensions role / application / environment / location,
                      each taken from the first present label of a configurable list
                      (:data:`ILLUMIO_DEFAULT`); segment ``A=app|E=env|R=role|L=loc`` ("-" for a
                      missing dimension); ``matched`` when the application is known
``rules:FILE.yaml``   ordered custom rules, first match wins (format below)

Rules file (read with ``yaml.safe_load``)::

    fallback: unassigned          # optional segment for pods no rule matches
    rules:
      - segment: storefront
        namespaces: [shop]        # optional
        matchLabels: {tier: front}
        matchExpressions:         # optional, Kubernetes semantics
          - {key: env, operator: In, values: [prod, staging]}

Non-pod endpoints (nodes, services without a known backend, address classes) are not pods:
the matrix gives each its own segment (``node:NAME``, ``service:NS/NAME``, the class name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from toolkit.errors import InputError, KsegError
from toolkit.snapshot import Snapshot

ILLUMIO_DEFAULT: dict[str, tuple[str, ...]] = {
    "role": ("role", "app.kubernetes.io/component", "component", "tier"),
    "application": ("app.kubernetes.io/part-of", "app.kubernetes.io/name", "app", "k8s-app"),
    "environment": ("environment", "env", "app.kubernetes.io/environment"),
    "location": ("location", "topology.kubernetes.io/region", "region"),
}
COLUMNS = ("namespace", "pod", "pod_uid", "workload_kind", "workload", "segment", "matched")
_OPS = ("In", "NotIn", "Exists", "DoesNotExist")


def label(key: str) -> pl.Expr:
    """The value of label ``key`` in the ``labels`` column (null when absent)."""
    return (pl.col("labels").list.eval(pl.element().filter(pl.element().struct.field("key")
                                                          == key).struct.field("value"))
            .list.first())


def _pods(snap: Snapshot) -> pl.DataFrame:
    """One row per pod (uid), its latest observed row."""
    return (snap.pods.sort("valid_from", nulls_last=False).collect()
            .unique("uid", keep="last", maintain_order=True)
            .select("namespace", pl.col("name").alias("pod"), pl.col("uid").alias("pod_uid"),
                    "workload_kind", pl.col("workload_name").alias("workload"), "labels")
            .sort("namespace", "pod"))


def _first_label(keys: Sequence[str]) -> pl.Expr:
    return pl.coalesce([label(k) for k in keys]) if keys else pl.lit(None, pl.String)


def _illumio(pods: pl.DataFrame, mapping: Mapping[str, Sequence[str]] | None) -> pl.DataFrame:
    mapping = {**ILLUMIO_DEFAULT, **(mapping or {})}
    unknown = set(mapping) - set(ILLUMIO_DEFAULT)
    if unknown:
        raise KsegError(f"unknown Illumio dimensions {sorted(unknown)}",
                        hint=f"use {', '.join(ILLUMIO_DEFAULT)}")
    dims = {d: _first_label(list(keys)).alias(d) for d, keys in mapping.items()}
    frame = pods.with_columns(dims.values())
    parts = [pl.lit(f"{t}=") + pl.col(d).fill_null("-") for t, d in
             (("A", "application"), ("E", "environment"), ("R", "role"), ("L", "location"))]
    return frame.with_columns(pl.concat_str(parts, separator="|").alias("segment"),
                              pl.col("application").is_not_null().alias("matched"))


def _rule_expr(rule: Any, where: str, path: str) -> tuple[pl.Expr, str]:
    if not isinstance(rule, Mapping) or not isinstance(rule.get("segment"), str | int):
        raise InputError("each rule needs a 'segment' name", path=path, field=where)
    cond = pl.lit(True)
    namespaces = rule.get("namespaces")
    if namespaces is not None:
        if not isinstance(namespaces, list):
            raise InputError("'namespaces' must be a list", path=path, field=f"{where}.namespaces")
        cond = cond & pl.col("namespace").is_in([str(n) for n in namespaces])
    labels = rule.get("matchLabels", rule.get("match", {})) or {}
    if not isinstance(labels, Mapping):
        raise InputError("'matchLabels' must be a mapping", path=path, field=f"{where}.matchLabels")
    for key, value in labels.items():
        cond = cond & (label(str(key)) == str(value)).fill_null(False)
    for i, expr in enumerate(rule.get("matchExpressions") or []):
        cond = cond & _match_expression(expr, f"{where}.matchExpressions[{i}]", path)
    unknown = set(rule) - {"segment", "namespaces", "matchLabels", "match", "matchExpressions"}
    if unknown:
        raise InputError(f"unknown keys {sorted(unknown)}", path=path, field=where)
    return cond, str(rule["segment"])


def _match_expression(expr: Any, where: str, path: str) -> pl.Expr:
    if not isinstance(expr, Mapping) or "key" not in expr or expr.get("operator") not in _OPS:
        raise InputError(f"needs 'key' and an 'operator' among {', '.join(_OPS)}", path=path,
                         field=where)
    value, op = label(str(expr["key"])), expr["operator"]
    values = [str(v) for v in expr.get("values") or []]
    if op in ("In", "NotIn") and not values:
        raise InputError(f"operator {op} needs 'values'", path=path, field=where)
    return {"In": value.is_in(values).fill_null(False),
            "NotIn": (~value.is_in(values)).fill_null(True),
            "Exists": value.is_not_null(), "DoesNotExist": value.is_null()}[op]


def _rules(pods: pl.DataFrame, path: str) -> pl.DataFrame:
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise InputError(f"cannot read rules file ({exc.strerror})", path=path) from None
    except yaml.YAMLError as exc:
        line = getattr(getattr(exc, "problem_mark", None), "line", None)
        raise InputError("invalid YAML", path=path, line=None if line is None else line + 1,
                         ) from None
    if isinstance(doc, list):
        doc = {"rules": doc}
    if not isinstance(doc, Mapping) or not isinstance(doc.get("rules"), list):
        raise InputError("expected a mapping with a 'rules' list", path=path, field="rules")
    fallback = str(doc.get("fallback", "unmatched"))
    chain: Any = None
    for i, rule in enumerate(doc["rules"]):
        cond, name = _rule_expr(rule, f"rules[{i}]", path)
        chain = (pl.when(cond) if chain is None else chain.when(cond)).then(pl.lit(name))
    if chain is None:
        return pods.with_columns(pl.lit(fallback).alias("segment"), pl.lit(False).alias("matched"))
    seg = chain.otherwise(None)
    return pods.with_columns(seg.fill_null(fallback).alias("segment"),
                             seg.is_not_null().alias("matched"))


def segment_membership(snap: Snapshot, strategy: str = "namespace", *,
                       mapping: Mapping[str, Sequence[str]] | None = None) -> pl.DataFrame:
    """One row per pod: ``namespace, pod, pod_uid, workload_kind, workload, segment, matched``
    (``matched`` false = the pod is in the strategy's fallback segment).

    ``mapping`` overrides :data:`ILLUMIO_DEFAULT` for ``strategy="illumio"``.
    """
    pods = _pods(snap)
    if strategy == "namespace":
        out = pods.with_columns(pl.col("namespace").alias("segment"), pl.lit(True).alias("matched"))
    elif strategy == "workload":
        out = pods.with_columns((pl.col("namespace") + "/" + pl.col("workload")).alias("segment"),
                                pl.lit(True).alias("matched"))
    elif strategy.startswith("label:") and len(strategy) > 6:
        key = strategy[6:]
        out = pods.with_columns(label(key).fill_null(f"no-{key}").alias("segment"),
                                label(key).is_not_null().alias("matched"))
    elif strategy == "illumio":
        out = _illumio(pods, mapping)
    elif strategy.startswith("rules:") and len(strategy) > 6:
        out = _rules(pods, strategy[6:])
    else:
        raise KsegError(f"unknown segment strategy {strategy!r}",
                        hint="use namespace, workload, label:KEY, illumio or rules:FILE.yaml")
    extra = [c for c in ("role", "application", "environment", "location") if c in out.columns]
    return out.select(*COLUMNS, *extra)
