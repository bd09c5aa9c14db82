"""Coverage: how much of a result rests on resolved, oriented, consistent records.

A :class:`Coverage` is computed from *counts* (records per side kind, per orientation rule,
identity checks and disagreements, earliest start and latest end), so coverages of flow
partitions merge exactly (:meth:`Coverage.merge`): sums and min/max.

>>> c = Coverage(records=4, bytes=100, src_resolved=4, dst_resolved=2, dst_external=1,
...              dst_unknown=1, oriented={"endpoint": 3, "port": 1})
>>> c.as_dict()["dst_resolved_pct"]
50.0
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from html import escape
from typing import Any

import polars as pl

from toolkit.core.ipclass import EXTERNAL_CLASSES

#: pod-reported: the inventory has no owner, the source stamped the identity (Hubble, ...).
RESOLVED_KINDS = ("pod", "service", "node", "pod-reported")
UNKNOWN_KINDS = ("unknown-in-cluster", "invalid", "unspecified")


@dataclass(frozen=True)
class Coverage:
    """Counts behind a result; percentages are derived (see :meth:`as_dict`)."""

    records: int = 0
    bytes: int = 0
    window_start: datetime | None = None
    window_end: datetime | None = None
    src_resolved: int = 0
    dst_resolved: int = 0
    src_external: int = 0
    dst_external: int = 0
    src_unknown: int = 0
    dst_unknown: int = 0
    id_checked: int = 0
    id_disagree: int = 0
    oriented: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_partial(cls, partial: pl.DataFrame) -> Coverage:
        """Counts from a partial matrix (needs src_kind, dst_kind, orientation, flows, bytes,
        id_checked, id_disagree, start_min, end_max)."""
        if partial.height == 0:
            return cls()

        def n(expr: pl.Expr) -> int:
            return int(partial.select(pl.col("flows").filter(expr).sum()).item() or 0)

        def kinds(side: str, values: tuple[str, ...]) -> int:
            return n(pl.col(f"{side}_kind").is_in(list(values)))

        rules = partial.group_by("orientation").agg(pl.col("flows").sum()).sort("orientation")
        return cls(
            records=int(partial["flows"].sum()), bytes=int(partial["bytes"].sum() or 0),
            window_start=partial["start_min"].min(), window_end=partial["end_max"].max(),
            src_resolved=kinds("src", RESOLVED_KINDS), dst_resolved=kinds("dst", RESOLVED_KINDS),
            src_external=kinds("src", EXTERNAL_CLASSES),
            dst_external=kinds("dst", EXTERNAL_CLASSES),
            src_unknown=kinds("src", UNKNOWN_KINDS), dst_unknown=kinds("dst", UNKNOWN_KINDS),
            id_checked=int(partial["id_checked"].sum()),
            id_disagree=int(partial["id_disagree"].sum()),
            oriented={r: int(c) for r, c in rules.iter_rows()})

    def merge(self, other: Coverage) -> Coverage:
        """Exact merge of two coverages of disjoint record sets."""
        values: dict[str, Any] = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "oriented":
                values[f.name] = {k: a.get(k, 0) + b.get(k, 0) for k in sorted({*a, *b})}
            elif f.name.startswith("window_"):
                both = [v for v in (a, b) if v is not None]
                pick = min if f.name == "window_start" else max
                values[f.name] = pick(both) if both else None
            else:
                values[f.name] = a + b
        return Coverage(**values)

    def _pct(self, count: int, total: int | None = None) -> float:
        total = self.records if total is None else total
        return round(100.0 * count / total, 2) if total else 0.0

    def as_dict(self) -> dict[str, Any]:
        """Counts and percentages (of records) as a flat dict."""
        out: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        out["oriented"] = dict(self.oriented)
        for name in ("src_resolved", "dst_resolved", "src_external", "dst_external",
                     "src_unknown", "dst_unknown"):
            out[f"{name}_pct"] = self._pct(getattr(self, name))
        out["external_pct"] = self._pct(self.src_external + self.dst_external,
                                        2 * self.records)
        out["unknown_in_cluster_pct"] = self._pct(self.src_unknown + self.dst_unknown,
                                                  2 * self.records)
        out["oriented_pct"] = {k: self._pct(v) for k, v in self.oriented.items()}
        out["id_disagree_pct"] = self._pct(self.id_disagree, self.id_checked)
        return out

    def summary(self) -> str:
        """One line: records, window, % resolved per side, external, unknown, orientation."""
        d = self.as_dict()
        span = (f"{self.window_start:%Y-%m-%d %H:%M}..{self.window_end:%Y-%m-%d %H:%M} UTC"
                if self.window_start else "no flows")
        rules = ", ".join(f"{k} {v}%" for k, v in d["oriented_pct"].items())
        return (f"coverage: {self.records:,} records, {span}; resolved src "
                f"{d['src_resolved_pct']}% dst {d['dst_resolved_pct']}%; external "
                f"{d['external_pct']}%; unknown in-cluster {d['unknown_in_cluster_pct']}%; "
                f"oriented by {rules or '-'}; identity disagreements {self.id_disagree:,} of "
                f"{self.id_checked:,} checked")

    def __repr__(self) -> str:
        return f"<Coverage {self.summary()}>"

    def _repr_html_(self) -> str:
        d = self.as_dict()
        rows = [("records", f"{self.records:,}"), ("window", f"{self.window_start} → "
                                                             f"{self.window_end}"),
                ("resolved src / dst", f"{d['src_resolved_pct']}% / {d['dst_resolved_pct']}%"),
                ("external (sides)", f"{d['external_pct']}%"),
                ("unknown in-cluster (sides)", f"{d['unknown_in_cluster_pct']}%"),
                ("oriented by", ", ".join(f"{k}: {v}%" for k, v in d["oriented_pct"].items())),
                ("identity disagreements", f"{self.id_disagree:,} of {self.id_checked:,}")]
        body = "".join(f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(v)}</td>"
                       "</tr>" for k, v in rows)
        return f"<table><caption>coverage</caption>{body}</table>"
