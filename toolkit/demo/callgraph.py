"""The demo's planted call graph: every edge the generated traffic comes from.

Application edges follow the upstream call graphs (Online Boutique's ``*_SERVICE_ADDR`` env
vars, Sock Shop's services, DeathStarBench's thrift clients); platform edges (DNS, scrapes,
kubelet probes, API server, metadata, ingress, egress, scanners) are added per workload.
Weights are relative connection rates; ``req``/``resp`` are median bytes per connection.

Planted findings (also listed by :func:`toolkit.demo.demo_truth`):

- ``sock-front`` and ``sock-back`` behave as one segment (Sock Shop split in two namespaces);
- one stray cross-application edge: ``social-network/user-timeline-service`` calls the
  boutique's ``redis-cart``;
- day 2: new service ``boutique/shoppingassistantservice`` and a new cross-namespace edge
  from it to ``databases/postgres``; day 3: ``boutique/checkoutservice -> databases/postgres``
  vanishes;
- denied attempts: ``sock-front/front-end`` trying ``sock-back/orders-db`` directly (blocked
  by the sock-back NetworkPolicies) and internet scanners hitting node SSH/RDP ports.

>>> STRAY_EDGE in {e.name for e in EDGES}
True
"""

from __future__ import annotations

from toolkit.demo.apps import (
    BOUTIQUE,
    DB,
    INGRESS,
    KS,
    MON,
    SERVICES,
    SOCIAL,
    SOCK_BACK,
    SOCK_FRONT,
    WORKLOADS,
    Edge,
    Service,
)

INGRESS_CTL = f"{INGRESS}/ingress-nginx-controller"
#: Service ports whose clients keep pooled connections (databases, caches, brokers).
POOLED_PORTS = frozenset({6379, 27017, 11211, 5432, 3306, 5672, 9090})
STRAY_EDGE = "social-network/user-timeline-service->boutique/redis-cart"
NEW_EDGE = "boutique/shoppingassistantservice->databases/postgres"
VANISHED_EDGE = "boutique/checkoutservice->databases/postgres"
DENIED_EDGE = "sock-front/front-end->sock-back/orders-db"

#: External address pools: name -> (addresses, role). Public addresses are real provider ranges.
POOLS: dict[str, tuple[tuple[str, ...], str]] = {
    "internet-clients": (tuple(f"{a}.{b}.{(7 * i) % 250 + 3}.{(13 * i) % 250 + 2}"
                               for i, (a, b) in enumerate([(81, 2), (89, 64), (90, 12),
                                                           (93, 184), (95, 91), (98, 137),
                                                           (104, 28), (109, 190)] * 40)),
                         "external"),
    "scanners": (tuple(f"45.{(9 * i) % 200 + 10}.{(31 * i) % 250 + 1}.{i + 20}"
                       for i in range(30)), "external"),
    "payment-gateway": (("54.187.174.169", "54.187.205.235", "54.187.216.72"), "external"),
    "s3": (("52.216.8.3", "52.216.40.16", "52.217.128.99", "3.5.0.13"), "external"),
    "ec2-api": (("54.239.28.85", "52.46.145.233"), "external"),
    "googleapis": (("142.250.72.106", "142.251.32.74"), "external"),
    "metadata": (("169.254.169.254",), "link-local"),
    "vpc-dns": (("10.0.0.2",), "vpc-resolver"),
    "apiserver": (("10.0.1.34", "10.0.33.67"), "control-plane"),
}


def _svc(ref: str) -> Service:
    ns, name = ref.split("/")
    return next(s for s in SERVICES if s.namespace == ns and s.name == name)


def _backing(svc: Service) -> str:
    if svc.selector is None:
        return "@pool"
    sel = set(svc.selector)
    hits = [w for w in WORKLOADS if w.namespace == svc.namespace and sel <= set(w.labels)]
    if len(hits) != 1:
        raise ValueError(f"service {svc.namespace}/{svc.name} selects {len(hits)} workloads")
    return f"{hits[0].namespace}/{hits[0].name}"


def _target(svc: Service, port: int, protocol: int) -> int:
    proto = {6: "TCP", 17: "UDP"}[protocol]
    sp = next(p for p in svc.ports if p.port == port and p.protocol == proto)
    if sp.target.isdigit():
        return int(sp.target)
    wl = _backing(svc).split("/")[1]
    workload = next(w for w in WORKLOADS if w.namespace == svc.namespace and w.name == wl)
    return next(p for n, p, _ in workload.ports if n == sp.target)


def call(client: str, service: str, port: int, weight: float, req: int = 600, resp: int = 2_000,
         protocol: int = 6, **kw: object) -> Edge:
    """An edge where ``client`` addresses Service ``service`` on its service ``port``."""
    svc = _svc(service)
    server = _backing(svc)
    name = f"{client}->{server if server != '@pool' else service}"
    pool = "apiserver" if server == "@pool" else None
    grpc = any(p.port == port and (p.name or "").startswith("grpc") for p in svc.ports)
    persistent = protocol == 6 and not kw.get("deny") and (
        grpc or port in POOLED_PORTS or pool == "apiserver")
    return Edge(kw.pop("name", name), client, server, _target(svc, port, protocol), weight,
                req, resp, protocol, service=service, pool=pool, persistent=persistent, **kw)


def _boutique_edges() -> list[Edge]:
    """Online Boutique (its *_SERVICE_ADDR env vars) and the shared postgres."""
    b, k = BOUTIQUE, SOCK_BACK
    out = [call(INGRESS_CTL, f"{b}/frontend", 80, 30, 900, 12_000),
           call(f"{b}/loadgenerator", f"{b}/frontend", 80, 10, 700, 12_000)]
    for svc, port, w in (("productcatalogservice", 3550, 25), ("currencyservice", 7000, 20),
                         ("cartservice", 7070, 12), ("recommendationservice", 8080, 8),
                         ("shippingservice", 50051, 4), ("checkoutservice", 5050, 2),
                         ("adservice", 9555, 8)):
        out.append(call(f"{b}/frontend", f"{b}/{svc}", port, w, 300, 1_500))
    out.append(call(f"{b}/frontend", f"{b}/shoppingassistantservice", 80, 3, 800, 6_000,
                    first_day=2))
    out.append(call(f"{b}/recommendationservice", f"{b}/productcatalogservice", 3550, 6))
    for svc, port, w in (("productcatalogservice", 3550, 3), ("shippingservice", 50051, 2),
                         ("paymentservice", 50051, 2), ("emailservice", 5000, 2),
                         ("currencyservice", 7000, 3), ("cartservice", 7070, 2)):
        out.append(call(f"{b}/checkoutservice", f"{b}/{svc}", port, w, 400, 900))
    out += [call(f"{b}/cartservice", f"{b}/redis-cart", 6379, 14, 200, 400),
            call(f"{b}/checkoutservice", f"{DB}/postgres", 5432, 1.5, 1_500, 800, last_day=2),
            call(f"{b}/shoppingassistantservice", f"{DB}/postgres", 5432, 1.5, 900, 20_000,
                 first_day=2),
            call(f"{k}/orders", f"{DB}/postgres", 5432, 1.0, 1_200, 700),
            call(f"{DB}/pg-backup", f"{DB}/postgres", 5432, 25, 2_000, 400_000)]
    return out


def _sock_edges() -> list[Edge]:
    """Sock Shop, split in sock-front and sock-back."""
    f, k = SOCK_FRONT, SOCK_BACK
    out = [call(INGRESS_CTL, f"{f}/front-end", 80, 25, 900, 9_000)]
    for svc, w in (("catalogue", 20), ("carts", 12), ("orders", 4), ("user", 8)):
        out.append(call(f"{f}/front-end", f"{k}/{svc}", 80, w, 500, 3_000))
    out.append(call(f"{f}/front-end", f"{f}/session-db", 6379, 15, 150, 300))
    out.append(call(f"{f}/front-end", f"{k}/orders-db", 27017, 0.3, 60, 0, deny=True))
    for svc, w in (("payment", 3), ("shipping", 3), ("carts", 2), ("user", 2)):
        out.append(call(f"{k}/orders", f"{k}/{svc}", 80, w, 700, 500))
    for cli, svc, port, w in (("orders", "orders-db", 27017, 4), ("shipping", "rabbitmq", 5672, 3),
                              ("queue-master", "rabbitmq", 5672, 3),
                              ("carts", "carts-db", 27017, 10),
                              ("catalogue", "catalogue-db", 3306, 14),
                              ("user", "user-db", 27017, 8)):
        out.append(call(f"{k}/{cli}", f"{k}/{svc}", port, w, 300, 1_200))
    return out


def _app_edges() -> list[Edge]:
    s = SOCIAL
    dsb = [call(INGRESS_CTL, f"{s}/nginx-thrift", 8080, 20, 1_000, 6_000),
           call(INGRESS_CTL, f"{s}/media-frontend", 8080, 4, 30_000, 2_000),
           call(f"{s}/media-frontend", f"{s}/media-mongodb", 27017, 3, 20_000, 400)]
    return _boutique_edges() + _sock_edges() + dsb + _dsb_edges()


_DSB_CALLS = (
    ("nginx-thrift", (("compose-post-service", 4), ("home-timeline-service", 10),
                      ("user-timeline-service", 6), ("user-service", 3),
                      ("social-graph-service", 2))),
    ("compose-post-service", (("text-service", 4), ("user-service", 2), ("unique-id-service", 4),
                              ("media-service", 3), ("post-storage-service", 4),
                              ("user-timeline-service", 3), ("write-home-timeline-rabbitmq", 3))),
    ("text-service", (("url-shorten-service", 3), ("user-mention-service", 3))),
    ("url-shorten-service", (("url-shorten-memcached", 3), ("url-shorten-mongodb", 2))),
    ("user-mention-service", (("user-memcached", 3), ("user-mongodb", 1))),
    ("user-service", (("user-memcached", 4), ("user-mongodb", 2), ("social-graph-service", 1))),
    ("post-storage-service", (("post-storage-memcached", 8), ("post-storage-mongodb", 4))),
    ("user-timeline-service", (("user-timeline-redis", 5), ("user-timeline-mongodb", 2),
                               ("post-storage-service", 4))),
    ("home-timeline-service", (("home-timeline-redis", 8), ("post-storage-service", 6),
                               ("social-graph-service", 2))),
    ("social-graph-service", (("social-graph-redis", 4), ("social-graph-mongodb", 1),
                              ("user-service", 1))),
    ("write-home-timeline-service", (("write-home-timeline-rabbitmq", 3),
                                     ("home-timeline-redis", 3), ("social-graph-service", 2))),
    ("media-service", (("media-memcached", 2), ("media-mongodb", 1))),
)


def _dsb_edges() -> list[Edge]:
    out = []
    for client, calls in _DSB_CALLS:
        for svc, w in calls:
            port = _svc(f"{SOCIAL}/{svc}").ports[0].port
            port = 5672 if svc == "write-home-timeline-rabbitmq" else port
            out.append(call(f"{SOCIAL}/{client}", f"{SOCIAL}/{svc}", port, w, 400, 1_000))
        out.append(call(f"{SOCIAL}/{client}", f"{SOCIAL}/jaeger", 6831, 0.5, 900, 0, 17))
    out.append(call(f"{SOCIAL}/user-timeline-service", f"{BOUTIQUE}/redis-cart", 6379, 0.8, 200,
                    600, tags=("stray",)))
    return out


def _ext(client: str, pool: str, port: int, weight: float, req: int, resp: int,
         protocol: int = 6, **kw: object) -> Edge:
    return Edge(f"{client}->@{pool}:{port}", client, "@pool", port, weight, req, resp,
                protocol, pool=pool, **kw)


def _per_workload_edges(app: list[Edge]) -> list[Edge]:
    """DNS lookups, Prometheus scrapes and kubelet probes of every workload."""
    dns = _svc(f"{KS}/kube-dns")
    out_w: dict[str, float] = {}
    for e in app:
        out_w[e.client] = out_w.get(e.client, 0.0) + e.weight
    out = []
    for w in WORKLOADS:
        ref = f"{w.namespace}/{w.name}"
        if not w.host_network and (ref in out_w or w.kind == "CronJob"):
            dns_w = 15.0 if w.kind == "CronJob" else min(4.0, max(0.3, 0.2 * out_w.get(ref, 0)))
            out.append(call(ref, f"{dns.namespace}/{dns.name}", 53, dns_w, 70, 160, 17,
                            first_day=w.first_day))
        if w.metrics_port:
            out.append(Edge(f"{MON}/prometheus-k8s->{ref}:metrics", f"{MON}/prometheus-k8s", ref,
                            w.metrics_port, 0.8, 250, 9_000, first_day=w.first_day))
        if w.probe_port:
            out.append(Edge(f"@node->{ref}:probe", "@node", ref, w.probe_port, 0.6, 150, 250,
                            first_day=w.first_day))
    return out


def _fixed_edges() -> list[Edge]:
    """API server clients, egress, internet clients and scanners."""
    out = []
    api = "default/kubernetes"
    for cli, w in (("kube-system/kube-proxy", 0.5), ("kube-system/aws-node", 0.5),
                   ("kube-system/coredns", 0.3), (f"{MON}/prometheus-k8s", 1.0),
                   (f"{MON}/kube-state-metrics", 1.0), (INGRESS_CTL, 0.5)):
        out.append(call(cli, api, 443, 2 * w, 1_200, 8_000))
    out += [_ext(f"{KS}/coredns", "vpc-dns", 53, 2.0, 70, 200, 17),
            _ext(f"{KS}/aws-node", "metadata", 80, 1.0, 200, 600),
            _ext(f"{KS}/aws-node", "ec2-api", 443, 0.5, 1_500, 4_000),
            _ext(f"{BOUTIQUE}/paymentservice", "payment-gateway", 443, 1.5, 1_200, 3_000),
            _ext(f"{BOUTIQUE}/shoppingassistantservice", "googleapis", 443, 1.0, 2_000, 9_000,
                 first_day=2),
            _ext(f"{DB}/pg-backup", "s3", 443, 25, 500_000, 6_000),
            Edge(f"@internet->{INGRESS_CTL}:443", "@pool", INGRESS_CTL, 443, 40, 900, 15_000,
                 service=f"{INGRESS}/ingress-nginx-controller", pool="internet-clients"),
            Edge(f"@internet->{INGRESS_CTL}:80", "@pool", INGRESS_CTL, 80, 8, 500, 400,
                 service=f"{INGRESS}/ingress-nginx-controller", pool="internet-clients"),
            Edge("@scanners->@nodes:22", "@pool", "@nodes", 22, 1.5, 60, 0, pool="scanners",
                 deny=True),
            Edge("@scanners->@nodes:3389", "@pool", "@nodes", 3389, 0.5, 60, 0, pool="scanners",
                 deny=True)]
    return out


def _all_edges() -> tuple[Edge, ...]:
    app = _app_edges()
    return tuple(app + _per_workload_edges(app) + _fixed_edges())


EDGES: tuple[Edge, ...] = _all_edges()
