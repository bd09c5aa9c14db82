"""The demo cluster's applications, encoded as data.

Service names, ports (service port vs targetPort), labels and call graphs were read once from
the upstream manifests of Online Boutique (``release/kubernetes-manifests.yaml``: the
``*_SERVICE_ADDR`` env vars give the call graph), Sock Shop (``complete-demo.yaml`` and its
``manifests-policy``) and DeathStarBench social network (``socialNetwork/k8s-yaml``). Nothing
is read at run time. Upstream quirks are kept on purpose: the DeathStarBench services declare
no container ports and no targetPort, and its ``home-timeline-redis`` Service selects the
``compose-post-redis`` pods (a copy-paste bug in the upstream manifest).

Platform pieces (kube-system, monitoring, ingress-nginx, databases) follow the usual EKS
layout: CoreDNS behind ``kube-dns``, ``aws-node`` (VPC CNI) and ``kube-proxy`` DaemonSets on the
host network, Prometheus and a host-network node-exporter, ingress-nginx behind an NLB.

>>> from toolkit.demo.apps import WORKLOADS, SERVICES
>>> next(s for s in SERVICES if s.name == "emailservice").ports[0]
SvcPort(name='grpc', port=5000, target='8080', protocol='TCP', node_port=None)
"""

from __future__ import annotations

from dataclasses import dataclass, field

BOUTIQUE, SOCK_FRONT, SOCK_BACK, SOCIAL = "boutique", "sock-front", "sock-back", "social-network"
DB, MON, INGRESS, KS = "databases", "monitoring", "ingress-nginx", "kube-system"


@dataclass(frozen=True)
class Workload:
    """One controller (Deployment, StatefulSet, DaemonSet or CronJob) and its pod template."""

    namespace: str
    name: str
    kind: str
    image: str
    labels: tuple[tuple[str, str], ...]
    ports: tuple[tuple[str | None, int, str], ...] = ()  # (name, containerPort, protocol)
    replicas: int = 1
    host_network: bool = False
    metrics_port: int | None = None  # scraped by Prometheus
    probe_port: int | None = None  # kubelet health checks
    first_day: int = 1
    service_account: str | None = None


@dataclass(frozen=True)
class SvcPort:
    """One Service port: ``target`` is the targetPort as written (number or port name)."""

    name: str | None
    port: int
    target: str
    protocol: str = "TCP"
    node_port: int | None = None


@dataclass(frozen=True)
class Service:
    """A Service; ``selector`` picks the pods of workloads in the same namespace."""

    namespace: str
    name: str
    selector: tuple[tuple[str, str], ...] | None
    ports: tuple[SvcPort, ...]
    type: str = "ClusterIP"
    first_day: int = 1


@dataclass(frozen=True)
class Edge:
    """A planted call-graph edge: who calls what, on which port, how often, how much.

    ``client``/``server`` are ``namespace/workload``, ``@pool`` (external addresses),
    ``@node`` (the server pod's node: kubelet) or ``@nodes`` (every node IP).
    ``service`` is ``namespace/name`` when the client addresses a Service.
    """

    name: str
    client: str
    server: str
    port: int  # the port on the server (targetPort after DNAT)
    weight: float
    req: int = 600  # median request bytes
    resp: int = 2_000  # median response bytes
    protocol: int = 6
    service: str | None = None
    pool: str | None = None
    deny: bool = False
    first_day: int = 1
    last_day: int = 99
    persistent: bool = False  # pooled connections: one 5-tuple per session, no SYN mid-way
    tags: tuple[str, ...] = field(default=())


#: Keyword prefixes standing for label-key prefixes a Python keyword cannot spell.
_KEY_PREFIXES = {"app__kubernetes__io_": "app.kubernetes.io/", "eks__": "eks.amazonaws.com/"}


def _label_key(keyword: str) -> str:
    for prefix, real in _KEY_PREFIXES.items():
        if keyword.startswith(prefix):
            return real + keyword[len(prefix):].replace("_", "-")
    return keyword.replace("_", "-")


def _lbl(**kv: str) -> tuple[tuple[str, str], ...]:
    """Labels from keywords: ``app__kubernetes__io_name`` is ``app.kubernetes.io/name``."""
    return tuple(sorted((_label_key(k), v) for k, v in kv.items()))


def _b(name: str, port: int, pname: str | None = None, **kw: object) -> Workload:
    return Workload(BOUTIQUE, name, "Deployment", f"gcr.io/google-samples/microservices-demo/"
                    f"{name}:v0.10.6", (("app", name),), ((pname, port, "TCP"),),
                    probe_port=port, service_account=name, **kw)


def _s(ns: str, name: str, port: int, metrics: bool = True, image: str = "", **kw: object
       ) -> Workload:
    pname = {27017: "mongo", 3306: "mysql", 6379: "redis"}.get(port)
    return Workload(ns, name, "Deployment", image or f"weaveworksdemos/{name}:0.4.8",
                    (("name", name),), ((pname, port, "TCP"),),
                    metrics_port=port if metrics else None, probe_port=port, **kw)


def _d(name: str, image: str, ports: tuple = (), **kw: object) -> Workload:
    return Workload(SOCIAL, name, "Deployment", image,
                    _lbl(death_star_project="social-network", app_name=name), ports, **kw)


_DSB_SERVICES = ("compose-post", "home-timeline", "media", "post-storage", "social-graph",
                 "text", "unique-id", "url-shorten", "user", "user-mention", "user-timeline",
                 "write-home-timeline")
_DSB_STORES = (("compose-post-redis", "redis", 6379), ("home-timeline-redis", "redis", 6379),
               ("media-memcached", "memcached", 11211), ("media-mongodb", "mongo", 27017),
               ("post-storage-memcached", "memcached", 11211),
               ("post-storage-mongodb", "mongo", 27017), ("social-graph-mongodb", "mongo", 27017),
               ("social-graph-redis", "redis", 6379), ("url-shorten-memcached", "memcached", 11211),
               ("url-shorten-mongodb", "mongo", 27017), ("user-memcached", "memcached", 11211),
               ("user-mongodb", "mongo", 27017), ("user-timeline-mongodb", "mongo", 27017),
               ("user-timeline-redis", "redis", 6379))

WORKLOADS: tuple[Workload, ...] = (
    # kube-system (EKS)
    Workload(KS, "coredns", "Deployment", "coredns:v1.11.1-eksbuild.4",
             _lbl(k8s_app="kube-dns", eks__component="coredns"),
             (("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")), replicas=2,
             metrics_port=9153, probe_port=8080, service_account="coredns"),
    Workload(KS, "aws-node", "DaemonSet", "amazon-k8s-cni:v1.18.1", _lbl(k8s_app="aws-node"),
             (("metrics", 61678, "TCP"),), host_network=True, metrics_port=61678,
             service_account="aws-node"),
    Workload(KS, "kube-proxy", "DaemonSet", "kube-proxy:v1.29.0-eksbuild.1",
             _lbl(k8s_app="kube-proxy"), (), host_network=True, service_account="kube-proxy"),
    # monitoring
    Workload(MON, "prometheus-k8s", "StatefulSet", "quay.io/prometheus/prometheus:v2.51.0",
             _lbl(app__kubernetes__io_name="prometheus", prometheus="k8s"),
             (("web", 9090, "TCP"),), replicas=1, probe_port=9090, service_account="prometheus"),
    Workload(MON, "node-exporter", "DaemonSet", "quay.io/prometheus/node-exporter:v1.7.0",
             _lbl(app__kubernetes__io_name="node-exporter"), (("metrics", 9100, "TCP"),),
             host_network=True, metrics_port=9100),
    Workload(MON, "kube-state-metrics", "Deployment", "kube-state-metrics:v2.10.1",
             _lbl(app__kubernetes__io_name="kube-state-metrics"),
             (("http-metrics", 8080, "TCP"), ("telemetry", 8081, "TCP")), metrics_port=8080,
             probe_port=8081),
    # ingress-nginx
    Workload(INGRESS, "ingress-nginx-controller", "Deployment",
             "registry.k8s.io/ingress-nginx/controller:v1.10.0",
             _lbl(app__kubernetes__io_name="ingress-nginx",
                  app__kubernetes__io_component="controller"),
             (("http", 80, "TCP"), ("https", 443, "TCP"), ("metrics", 10254, "TCP")),
             replicas=2, metrics_port=10254, probe_port=10254, service_account="ingress-nginx"),
    # shared databases
    Workload(DB, "postgres", "StatefulSet", "postgres:16.2", _lbl(app="postgres"),
             (("postgresql", 5432, "TCP"),), replicas=2, probe_port=5432),
    Workload(DB, "pg-backup", "CronJob", "postgres:16.2", _lbl(app="pg-backup")),
    # Online Boutique
    _b("frontend", 8080, replicas=2), _b("adservice", 9555), _b("currencyservice", 7000, "grpc"),
    _b("cartservice", 7070), _b("recommendationservice", 8080), _b("checkoutservice", 5050),
    _b("emailservice", 8080), _b("paymentservice", 50051), _b("shippingservice", 50051),
    _b("productcatalogservice", 3550), _b("shoppingassistantservice", 8080, first_day=2),
    Workload(BOUTIQUE, "redis-cart", "Deployment", "redis:alpine", (("app", "redis-cart"),),
             ((None, 6379, "TCP"),), probe_port=6379),
    Workload(BOUTIQUE, "loadgenerator", "Deployment", "gcr.io/google-samples/microservices-demo/"
             "loadgenerator:v0.10.6", (("app", "loadgenerator"),), service_account="loadgenerator"),
    # Sock Shop, split in a front and a back namespace
    _s(SOCK_FRONT, "front-end", 8079, image="weaveworksdemos/front-end:0.3.12", replicas=2),
    _s(SOCK_FRONT, "session-db", 6379, metrics=False, image="redis:alpine"),
    _s(SOCK_BACK, "carts", 80), _s(SOCK_BACK, "carts-db", 27017, False, "mongo"),
    _s(SOCK_BACK, "catalogue", 80, image="weaveworksdemos/catalogue:0.3.5"),
    _s(SOCK_BACK, "catalogue-db", 3306, False, "weaveworksdemos/catalogue-db:0.3.0"),
    _s(SOCK_BACK, "orders", 80, image="weaveworksdemos/orders:0.4.7"),
    _s(SOCK_BACK, "orders-db", 27017, False, "mongo"),
    _s(SOCK_BACK, "payment", 80, image="weaveworksdemos/payment:0.4.3"),
    _s(SOCK_BACK, "queue-master", 80, image="weaveworksdemos/queue-master:0.3.1"),
    Workload(SOCK_BACK, "rabbitmq", "Deployment", "rabbitmq:3.6.8-management",
             (("name", "rabbitmq"),), (("management", 15672, "TCP"), ("rabbitmq", 5672, "TCP"),
                                       ("exporter", 9090, "TCP")), metrics_port=9090,
             probe_port=5672),
    _s(SOCK_BACK, "shipping", 80), _s(SOCK_BACK, "user", 80, image="weaveworksdemos/user:0.4.7"),
    _s(SOCK_BACK, "user-db", 27017, False, "weaveworksdemos/user-db:0.3.0"),
    # DeathStarBench social network (upstream declares almost no container ports)
    _d("nginx-thrift", "yg397/openresty-thrift:xenial", ((None, 8080, "TCP"),), probe_port=8080),
    _d("media-frontend", "yg397/media-frontend:xenial", ((None, 8080, "TCP"),), probe_port=8080),
    _d("jaeger", "jaegertracing/all-in-one:latest"),
    *(_d(f"{n}-service", "yg397/social-network-microservices:latest",
         ((None, 9090, "TCP"),) if n == "post-storage" else ()) for n in _DSB_SERVICES),
    *(_d(n, img) for n, img, _ in _DSB_STORES),
    _d("write-home-timeline-rabbitmq", "rabbitmq"),
)


def _sel(ns: str, name: str) -> tuple[tuple[str, str], ...]:
    if ns == BOUTIQUE:
        return (("app", name),)
    if ns in (SOCK_FRONT, SOCK_BACK):
        return (("name", name),)
    return _lbl(death_star_project="social-network", app_name=name)


def _svc(ns: str, name: str, port: int, target: str | None = None, pname: str | None = None,
         **kw: object) -> Service:
    return Service(ns, name, _sel(ns, name), (SvcPort(pname, port, target or str(port)),), **kw)


SERVICES: tuple[Service, ...] = (
    Service("default", "kubernetes", None, (SvcPort("https", 443, "443"),)),
    Service(KS, "kube-dns", _lbl(k8s_app="kube-dns"),
            (SvcPort("dns", 53, "53", "UDP"), SvcPort("dns-tcp", 53, "53"),
             SvcPort("metrics", 9153, "9153"))),
    Service(MON, "prometheus-k8s", _lbl(app__kubernetes__io_name="prometheus"),
            (SvcPort("web", 9090, "web"),)),
    Service(MON, "kube-state-metrics", _lbl(app__kubernetes__io_name="kube-state-metrics"),
            (SvcPort("http-metrics", 8080, "http-metrics"), SvcPort("telemetry", 8081,
                                                                    "telemetry"))),
    Service(INGRESS, "ingress-nginx-controller",
            _lbl(app__kubernetes__io_name="ingress-nginx",
                 app__kubernetes__io_component="controller"),
            (SvcPort("http", 80, "http", node_port=30080),
             SvcPort("https", 443, "https", node_port=30443)), type="LoadBalancer"),
    Service(DB, "postgres", _lbl(app="postgres"), (SvcPort("postgresql", 5432, "postgresql"),)),
    _svc(BOUTIQUE, "frontend", 80, "8080", "http"), _svc(BOUTIQUE, "adservice", 9555, None, "grpc"),
    _svc(BOUTIQUE, "currencyservice", 7000, None, "grpc"),
    _svc(BOUTIQUE, "cartservice", 7070, None, "grpc"),
    _svc(BOUTIQUE, "redis-cart", 6379, None, "tcp-redis"),
    _svc(BOUTIQUE, "recommendationservice", 8080, None, "grpc"),
    _svc(BOUTIQUE, "checkoutservice", 5050, None, "grpc"),
    _svc(BOUTIQUE, "emailservice", 5000, "8080", "grpc"),
    _svc(BOUTIQUE, "paymentservice", 50051, None, "grpc"),
    _svc(BOUTIQUE, "shippingservice", 50051, None, "grpc"),
    _svc(BOUTIQUE, "productcatalogservice", 3550, None, "grpc"),
    _svc(BOUTIQUE, "shoppingassistantservice", 80, "8080", "http", first_day=2),
    Service(SOCK_FRONT, "front-end", (("name", "front-end"),),
            (SvcPort(None, 80, "8079", node_port=30001),), type="NodePort"),
    _svc(SOCK_FRONT, "session-db", 6379),
    *(_svc(SOCK_BACK, n, 80) for n in ("carts", "catalogue", "orders", "payment",
                                        "queue-master", "shipping", "user")),
    *(_svc(SOCK_BACK, n, 27017) for n in ("carts-db", "orders-db", "user-db")),
    _svc(SOCK_BACK, "catalogue-db", 3306),
    Service(SOCK_BACK, "rabbitmq", (("name", "rabbitmq"),),
            (SvcPort("rabbitmq", 5672, "5672"), SvcPort("exporter", 9090, "exporter"))),
    _svc(SOCIAL, "nginx-thrift", 8080, type="NodePort"),
    _svc(SOCIAL, "media-frontend", 8080, type="NodePort"),
    Service(SOCIAL, "jaeger", _sel(SOCIAL, "jaeger"),
            (SvcPort("udp1", 5775, "5775", "UDP"), SvcPort("tcp1", 5778, "5778"),
             SvcPort("udp2", 6831, "6831", "UDP"), SvcPort("udp3", 6832, "6832", "UDP"),
             SvcPort("tcp2", 14250, "14250"), SvcPort("tcp3", 14268, "14268"))),
    *(_svc(SOCIAL, f"{n}-service", 9090) for n in _DSB_SERVICES),
    *(_svc(SOCIAL, n, p) for n, _, p in _DSB_STORES if n != "home-timeline-redis"),
    # upstream bug kept: this Service selects the compose-post-redis pods
    Service(SOCIAL, "home-timeline-redis", _sel(SOCIAL, "compose-post-redis"),
            (SvcPort(None, 6379, "6379"),)),
    Service(SOCIAL, "write-home-timeline-rabbitmq", _sel(SOCIAL, "write-home-timeline-rabbitmq"),
            tuple(SvcPort(f"tcp{i}", p, str(p)) for i, p in enumerate((4369, 5671, 5672, 25672),
                                                                      1))),
)
