"""Service attribution: which Service a flow to a pod on a port belongs to.

Two sources, merged:

1. **Endpoints** rows (EndpointSlices): backend ``(pod, port)`` → service. Rows that name a pod
   (targetRef uid, or namespace+name) are keyed by pod uid; rows without a pod (manual
   endpoints, e.g. an external database) are keyed by ``(ip, port)``.
2. **Selectors**: a service's ``spec.selector`` matched against pod labels in its namespace;
   each service port's ``targetPort`` is a number, a container-port *name* resolved against
   the pod's declared container ports, or absent (= the service port).

When several services target the same pod *on the same port*, the lexicographically first
``(namespace, name)`` is chosen (deterministic, bytes conserved: a record is attributed to one
service, never split); ``n_services`` records how many matched so the choice can be audited.
Ports are matched without the protocol (TCP and UDP on one port go to the same service).
"""

from __future__ import annotations

import polars as pl

_KEY = ["namespace", "service"]


def _selector_targets(pods: pl.DataFrame, services: pl.DataFrame) -> pl.DataFrame:
    """(pod_uid, port, namespace, service) from selectors and targetPorts."""
    svc = (services.filter(pl.col("selector").is_not_null() & (pl.col("selector").list.len() > 0))
           .select("namespace", pl.col("name").alias("service"), "selector", "ports",
                   pl.col("selector").list.len().alias("_n")))
    if svc.height == 0:
        return pl.DataFrame(schema={"pod_uid": pl.String, "port": pl.Int32,
                                    "namespace": pl.String, "service": pl.String})
    sel = svc.explode("selector").unnest("selector")
    labels = (pods.select("namespace", pl.col("uid").alias("pod_uid"), "labels")
              .unique(["pod_uid"]).explode("labels").drop_nulls("labels").unnest("labels"))
    matched = (sel.join(labels, on=["namespace", "key", "value"])
               .group_by([*_KEY, "pod_uid", "_n"]).agg(pl.len().alias("_m"))
               .filter(pl.col("_m") == pl.col("_n")).select(*_KEY, "pod_uid"))
    ports = (svc.select(*_KEY, "ports").explode("ports").drop_nulls("ports").unnest("ports")
             .select(*_KEY, pl.col("port").alias("svc_port"), "target_port"))
    rows = matched.join(ports, on=_KEY)
    numeric = pl.col("target_port").cast(pl.Int32, strict=False)
    cports = (pods.select(pl.col("uid").alias("pod_uid"), "container_ports").unique(["pod_uid"])
              .explode("container_ports").drop_nulls("container_ports").unnest("container_ports")
              .select("pod_uid", pl.col("name").alias("target_port"),
                      pl.col("port").alias("named_port")).drop_nulls().unique())
    rows = rows.join(cports, on=["pod_uid", "target_port"], how="left")
    port = (pl.when(pl.col("target_port").is_null() | (pl.col("target_port") == ""))
            .then(pl.col("svc_port"))
            .when(numeric.is_not_null()).then(numeric)
            .otherwise(pl.col("named_port")))
    return rows.select("pod_uid", port.cast(pl.Int32).alias("port"), *_KEY).drop_nulls()


def _endpoint_targets(pods: pl.DataFrame, endpoints: pl.DataFrame
                      ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(pod_uid, port, ns, svc) for endpoints naming a pod; (ip, port, ns, svc) for the rest."""
    names = (pods.select(pl.col("namespace").alias("pod_namespace"), pl.col("name").alias(
        "pod_name"), pl.col("uid").alias("_uid")).unique(["pod_namespace", "pod_name"]))
    ep = (endpoints.filter(pl.col("port").is_not_null())
          .join(names, on=["pod_namespace", "pod_name"], how="left")
          .with_columns(pl.coalesce("pod_uid", "_uid").alias("pod_uid")))
    by_pod = ep.filter(pl.col("pod_uid").is_not_null()).select("pod_uid", "port", *_KEY)
    by_ip = ep.filter(pl.col("pod_uid").is_null()).select("ip", "port", *_KEY)
    return by_pod, by_ip


def _choose(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """One service per key: the lexicographically first, with the number that matched."""
    return (frame.unique().sort([*key, *_KEY])
            .group_by(key, maintain_order=True)
            .agg(pl.col("namespace").first().alias("service_namespace"),
                 pl.col("service").first().alias("service_name"),
                 pl.len().cast(pl.Int32).alias("n_services")))


def service_targets(pods: pl.DataFrame, services: pl.DataFrame, endpoints: pl.DataFrame
                    ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Attribution tables: ``by_pod`` keyed (pod_uid, port) and ``by_ip`` keyed (ip, port),
    each with ``service_namespace``, ``service_name``, ``n_services``."""
    ep_pod, ep_ip = _endpoint_targets(pods, endpoints)
    sel = _selector_targets(pods, services)
    by_pod = _choose(pl.concat([ep_pod, sel.select(ep_pod.columns)]), ["pod_uid", "port"])
    by_ip = _choose(ep_ip, ["ip", "port"])
    return by_pod, by_ip
