"""Kubernetes label selectors as polars expressions.

Labels are matched as two list columns: ``key=value`` pairs and keys (label keys and values
cannot contain ``=``). A selector becomes one boolean expression, evaluated vectorised over the
distinct label sets (there are few of them even in large clusters).

>>> import polars as pl
>>> frame = pl.DataFrame({"labels": [[{"key": "app", "value": "web"}],
...                                  [{"key": "app", "value": "db"}], []]})
>>> frame = frame.with_columns(label_columns(pl.col("labels"), "kv", "keys"))
>>> sel = {"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["db"]}]}
>>> frame.select(selector_expr(sel, "kv", "keys")).to_series().to_list()
[True, False, True]
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import polars as pl

from toolkit.errors import InputError

OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def label_columns(labels: pl.Expr, kv_name: str, keys_name: str) -> list[pl.Expr]:
    """Expressions turning a schema ``LABELS`` column into ``key=value`` and key lists."""
    return [
        labels.list.eval(pl.element().struct.field("key") + "="
                         + pl.element().struct.field("value")).alias(kv_name),
        labels.list.eval(pl.element().struct.field("key")).alias(keys_name),
    ]


def _any_of(kv: str, pairs: list[str]) -> pl.Expr:
    return pl.any_horizontal(*(pl.col(kv).list.contains(p) for p in pairs)) if pairs \
        else pl.lit(False)


def _requirement(req: Any, kv: str, keys: str, where: str) -> pl.Expr:
    if not isinstance(req, Mapping) or "key" not in req:
        raise InputError(f"{where}: a matchExpressions entry needs key and operator",
                         field="matchExpressions")
    key, op = str(req["key"]), req.get("operator")
    values = [str(v) for v in (req.get("values") or [])]
    if op not in OPERATORS:
        raise InputError(f"{where}: unknown selector operator {op!r} (one of "
                         f"{', '.join(OPERATORS)})", field="matchExpressions.operator")
    if op in ("In", "NotIn") and not values:
        raise InputError(f"{where}: operator {op} needs a non-empty values list",
                         field="matchExpressions.values")
    pairs = [f"{key}={v}" for v in values]
    if op == "In":
        return _any_of(kv, pairs)
    if op == "NotIn":  # also true when the key is absent, as the API defines
        return ~_any_of(kv, pairs)
    exists = pl.col(keys).list.contains(key)
    return exists if op == "Exists" else ~exists


def selector_expr(selector: Mapping[str, Any] | str | None, kv: str, keys: str, *,
                  where: str = "selector") -> pl.Expr:
    """A boolean expression: does the label set in columns ``kv``/``keys`` match ``selector``?

    An empty selector (``{}``) matches everything. ``selector`` may be canonical JSON.
    """
    if isinstance(selector, str):
        selector = json.loads(selector)
    selector = selector or {}
    if not isinstance(selector, Mapping):
        raise InputError(f"{where}: a label selector must be a mapping", field="selector")
    parts = [pl.col(kv).list.contains(f"{k}={'' if v is None else v}")
             for k, v in (selector.get("matchLabels") or {}).items()]
    parts += [_requirement(r, kv, keys, where) for r in selector.get("matchExpressions") or []]
    return pl.all_horizontal(*parts) if parts else pl.lit(True)
