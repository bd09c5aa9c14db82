"""The demo's NetworkPolicies, as the API returns their specs.

``sock-back`` is a default-deny namespace (modelled on Sock Shop's ``manifests-policy``:
one policy per backend admitting only its real callers), opened to ``sock-front``'s
front-end and to Prometheus. ``databases`` admits the shared postgres' clients only. The
demo's denied flow records are exactly the attempts these policies block.

>>> [name for ns, name, _ in POLICIES if ns == "sock-back"][:2]
['default-deny-ingress', 'allow-sock-front']
"""

from __future__ import annotations

from typing import Any


def _ns(name: str) -> dict[str, Any]:
    return {"matchLabels": {"kubernetes.io/metadata.name": name}}


def _tcp(port: int) -> list[dict[str, Any]]:
    return [{"port": port, "protocol": "TCP"}]


_SOCK_INTERNAL = (("carts-db", ("carts",), 27017), ("catalogue-db", ("catalogue",), 3306),
                  ("orders-db", ("orders",), 27017), ("user-db", ("user",), 27017),
                  ("rabbitmq", ("shipping", "queue-master"), 5672),
                  ("payment", ("orders",), 80), ("shipping", ("orders",), 80),
                  ("carts", ("orders",), 80), ("user", ("orders",), 80))


def _policies() -> list[tuple[str, str, dict[str, Any]]]:
    out: list[tuple[str, str, dict[str, Any]]] = [
        ("sock-back", "default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]}),
        ("sock-back", "allow-sock-front", {
            "podSelector": {"matchExpressions": [{"key": "name", "operator": "In",
                                                  "values": ["carts", "catalogue", "orders",
                                                             "user"]}]},
            "ingress": [{"from": [{"namespaceSelector": _ns("sock-front"),
                                   "podSelector": {"matchLabels": {"name": "front-end"}}}],
                         "ports": _tcp(80)}],
            "policyTypes": ["Ingress"]}),
        ("sock-back", "allow-monitoring", {
            "podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": _ns("monitoring"),
                                   "podSelector": {"matchLabels": {
                                       "app.kubernetes.io/name": "prometheus"}}}]}],
            "policyTypes": ["Ingress"]})]
    for target, callers, port in _SOCK_INTERNAL:
        peers = [{"podSelector": {"matchLabels": {"name": c}}} for c in callers]
        out.append(("sock-back", f"{target}-access", {
            "podSelector": {"matchLabels": {"name": target}},
            "ingress": [{"from": peers, "ports": _tcp(port)}], "policyTypes": ["Ingress"]}))
    out.append(("databases", "postgres-clients", {
        "podSelector": {"matchLabels": {"app": "postgres"}},
        "ingress": [{"from": [{"namespaceSelector": _ns("boutique")},
                              {"namespaceSelector": _ns("sock-back"),
                               "podSelector": {"matchLabels": {"name": "orders"}}},
                              {"podSelector": {"matchLabels": {"app": "pg-backup"}}}],
                     "ports": _tcp(5432)}],
        "policyTypes": ["Ingress"]}))
    return out


#: (namespace, name, spec) of every demo NetworkPolicy.
POLICIES: tuple[tuple[str, str, dict[str, Any]], ...] = tuple(_policies())
