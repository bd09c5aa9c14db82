"""A fake Kubernetes API server for tests and benchmarks (http.server on 127.0.0.1).

It serves List responses page by page shaped like the real API (``apiVersion``, ``kind``,
``metadata.resourceVersion``/``continue``/``remainingItemCount``, ``items`` without their own
kind), single GETs of namespaces, and watch streams (JSON lines). Faults are injected by
:class:`Fault` rules: a status (429 with Retry-After, 500, 403), a 410 on continue tokens, a
slow response, or a dropped connection.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "test-token-not-a-secret"
_API = {  # kind -> (prefix, plural, namespaced, list kind apiVersion)
    "Namespace": ("/api/v1", "namespaces", False, "v1"),
    "Node": ("/api/v1", "nodes", False, "v1"),
    "Pod": ("/api/v1", "pods", True, "v1"),
    "Service": ("/api/v1", "services", True, "v1"),
    "Endpoints": ("/api/v1", "endpoints", True, "v1"),
    "Deployment": ("/apis/apps/v1", "deployments", True, "apps/v1"),
    "ReplicaSet": ("/apis/apps/v1", "replicasets", True, "apps/v1"),
    "StatefulSet": ("/apis/apps/v1", "statefulsets", True, "apps/v1"),
    "DaemonSet": ("/apis/apps/v1", "daemonsets", True, "apps/v1"),
    "Job": ("/apis/batch/v1", "jobs", True, "batch/v1"),
    "CronJob": ("/apis/batch/v1", "cronjobs", True, "batch/v1"),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True,
                      "discovery.k8s.io/v1"),
    "NetworkPolicy": ("/apis/networking.k8s.io/v1", "networkpolicies", True,
                      "networking.k8s.io/v1"),
}


@dataclass
class Fault:
    """Break the next ``times`` requests whose path contains ``path`` (and that carry a
    continue token when ``on_continue``): ``status`` (with ``retry_after``), ``"drop"``
    (close the connection), or ``"slow"`` (sleep ``delay`` seconds first)."""

    path: str
    status: int | str
    times: int = 1
    retry_after: str | None = None
    on_continue: bool = False
    delay: float = 0.0


class FakeCluster:
    """Objects by kind, faults, watch events, and counters of requests served."""

    def __init__(self, objects: list[dict[str, Any]], resource_version: int = 1000):
        self.objects: dict[str, list[dict[str, Any]]] = {}
        for obj in objects:
            self.objects.setdefault(obj["kind"], []).append(obj)
        self.version = resource_version
        self.faults: list[Fault] = []
        self.events: dict[str, list[dict[str, Any]]] = {}  # plural -> watch events
        self.requests: list[str] = []
        self.missing_groups: set[str] = set()
        self._pages: dict[tuple[str, str | None, int, int], bytes] = {}
        self.lock = threading.Lock()

    def route(self, path: str) -> tuple[str, str | None, str | None] | None:
        """(kind, namespace, name) for a collection or object path."""
        for kind, (prefix, plural, namespaced, _) in _API.items():
            if not path.startswith(prefix + "/") or prefix in self.missing_groups:
                continue
            rest = path[len(prefix) + 1:].split("/")
            if rest == [plural]:
                return kind, None, None
            if namespaced and len(rest) == 3 and rest[0] == "namespaces" and rest[2] == plural:
                return kind, rest[1], None
            if not namespaced and len(rest) == 2 and rest[0] == plural:
                return kind, None, rest[1]
        return None

    def page(self, kind: str, namespace: str | None, offset: int, limit: int) -> bytes:
        key = (kind, namespace, offset, limit)
        if key not in self._pages:
            items = [o for o in self.objects.get(kind, [])
                     if namespace is None or o["metadata"].get("namespace") == namespace]
            chunk = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
                     for o in items[offset:offset + limit]]
            end = offset + len(chunk)
            meta: dict[str, Any] = {"resourceVersion": str(self.version)}
            if end < len(items):
                meta["continue"] = base64.b64encode(json.dumps(
                    {"rv": self.version, "start": end}).encode()).decode()
                meta["remainingItemCount"] = len(items) - end
            body = {"kind": f"{kind}List", "apiVersion": _API[kind][3], "metadata": meta,
                    "items": chunk}
            self._pages[key] = json.dumps(body).encode()
        return self._pages[key]


def _status(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message, "reason": reason,
                       "code": code}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: FakeCluster

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(self, code: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _fault(self, path: str, query: dict[str, list[str]]) -> bool:
        with self.cluster.lock:
            for fault in self.cluster.faults:
                if fault.times > 0 and fault.path in path and (
                        not fault.on_continue or "continue" in query):
                    fault.times -= 1
                    break
            else:
                return False
        if fault.status == "drop":
            self.close_connection = True
            return True
        if fault.status == "slow":
            time.sleep(fault.delay)
            return False
        code = int(fault.status)
        reason = {403: "Forbidden", 410: "Expired", 429: "TooManyRequests"}.get(code, "Error")
        headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        self._send(code, _status(code, reason, f"injected {code}"), headers)
        return True

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        self.cluster.requests.append(self.path)
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self._send(401, _status(401, "Unauthorized", "Unauthorized"))
            return
        if self._fault(url.path, query):
            return
        route = self.cluster.route(url.path)
        if route is None:
            self._send(404, _status(404, "NotFound", "the server could not find the resource"))
            return
        kind, namespace, name = route
        if query.get("watch", ["false"])[0] in ("1", "true"):
            self._watch(_API[kind][1], query)
        elif name is not None:
            self._get(kind, name)
        else:
            self._list(kind, namespace, query)

    def _get(self, kind: str, name: str) -> None:
        for obj in self.cluster.objects.get(kind, []):
            if obj["metadata"]["name"] == name:
                self._send(200, json.dumps(obj).encode())
                return
        self._send(404, _status(404, "NotFound", f"{kind.lower()} {name!r} not found"))

    def _list(self, kind: str, namespace: str | None, query: dict[str, list[str]]) -> None:
        limit = int(query.get("limit", ["500"])[0])
        offset = 0
        if "continue" in query:
            offset = json.loads(base64.b64decode(query["continue"][0]))["start"]
        self._send(200, self.cluster.page(kind, namespace, offset, limit))

    def _watch(self, plural: str, query: dict[str, list[str]]) -> None:
        since = int(query.get("resourceVersion", ["0"])[0] or 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        self.end_headers()
        for event in self.cluster.events.get(plural, []):
            if int(event["object"]["metadata"].get("resourceVersion", 0)) <= since:
                continue
            self.wfile.write(json.dumps(event).encode() + b"\n")
            self.wfile.flush()
        self.close_connection = True


class FakeServer:
    """Run a FakeCluster on 127.0.0.1 in a thread: ``with FakeServer(cluster) as url: ...``."""

    def __init__(self, cluster: FakeCluster):
        handler = type("Handler", (_Handler,), {"cluster": cluster})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        return self.url

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def write_kubeconfig(folder: Path, server: str, context: str = "fake") -> Path:
    """A kubeconfig pointing at ``server`` with a dummy bearer token."""
    path = folder / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": TOKEN}}],
        "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}],
    }))
    return path


def sample_objects(pods: int = 10, per_deployment: int = 5, namespaces: int = 2
                   ) -> list[dict[str, Any]]:
    """A consistent cluster: namespaces, nodes, Deployments -> ReplicaSets -> pods, a Service
    and an EndpointSlice per Deployment, a NetworkPolicy per namespace, one Job/CronJob."""
    objs: list[dict[str, Any]] = []
    nss = [f"ns{i}" for i in range(namespaces)]
    objs += [{"kind": "Namespace", "metadata": {"name": n, "uid": f"ns-{n}",
              "labels": {"team": n}}} for n in nss]
    objs += [{"kind": "Node", "metadata": {"name": f"node{i}", "uid": f"node-{i}"},
              "spec": {"podCIDR": f"10.{i}.0.0/16"},
              "status": {"addresses": [{"type": "InternalIP", "address": f"192.168.0.{i}"}]}}
             for i in range(3)]
    deployments = max(1, pods // per_deployment)
    for d in range(deployments):
        ns, name = nss[d % len(nss)], f"app{d}"
        rs, tmpl = f"{name}-5d56c488f5", {"app": name}
        objs.append({"kind": "Deployment", "metadata": {"name": name, "namespace": ns,
                     "uid": f"dep-{d}", "labels": tmpl}, "spec": {
            "replicas": per_deployment, "selector": {"matchLabels": tmpl},
            "template": {"metadata": {"labels": tmpl}, "spec": {"containers": [
                {"name": "main", "image": "nginx:1", "ports": [{"containerPort": 8080}],
                 "env": [{"name": "PASSWORD", "value": "hunter2"}]}]}}}})
        objs.append({"kind": "ReplicaSet", "metadata": {
            "name": rs, "namespace": ns, "uid": f"rs-{d}", "labels": {**tmpl,
            "pod-template-hash": "5d56c488f5"}, "ownerReferences": [
                {"kind": "Deployment", "name": name, "uid": f"dep-{d}", "controller": True}]},
            "spec": {"replicas": per_deployment, "selector": {"matchLabels": tmpl},
                     "template": {"metadata": {"labels": tmpl}, "spec": {}}}})
        endpoints = []
        for p in range(per_deployment):
            i = d * per_deployment + p
            ip = f"10.{i % 3}.{i // 250 % 250}.{i % 250 + 1}"
            pod_name = f"{rs}-{i:05d}"
            objs.append(_pod(ns, pod_name, f"pod-{i}", ip, f"node{i % 3}", rs, tmpl))
            endpoints.append({"addresses": [ip], "conditions": {"ready": True},
                              "nodeName": f"node{i % 3}", "targetRef": {
                                  "kind": "Pod", "namespace": ns, "name": pod_name,
                                  "uid": f"pod-{i}"}})
        objs.append({"kind": "Service", "metadata": {"name": name, "namespace": ns,
                     "uid": f"svc-{d}"}, "spec": {
            "clusterIP": f"172.20.{d // 250}.{d % 250 + 1}", "selector": tmpl,
            "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}})
        objs.append({"kind": "EndpointSlice", "metadata": {
            "name": f"{name}-abcde", "namespace": ns, "uid": f"eps-{d}",
            "labels": {"kubernetes.io/service-name": name}}, "addressType": "IPv4",
            "endpoints": endpoints, "ports": [{"name": "http", "port": 8080,
                                               "protocol": "TCP"}]})
    for n in nss:
        objs.append({"kind": "NetworkPolicy", "metadata": {"name": "deny", "namespace": n,
                     "uid": f"np-{n}"}, "spec": {"podSelector": {}}})
    objs.append({"kind": "CronJob", "metadata": {"name": "nightly", "namespace": nss[0],
                 "uid": "cj-1"}, "spec": {"jobTemplate": {"spec": {"template": {
                     "metadata": {"labels": {"job": "nightly"}}, "spec": {}}}}}})
    objs.append({"kind": "Job", "metadata": {"name": "nightly-28000000", "namespace": nss[0],
                 "uid": "job-1", "ownerReferences": [{"kind": "CronJob", "name": "nightly",
                                                      "controller": True}]}, "spec": {}})
    return objs


def _pod(ns: str, name: str, uid: str, ip: str, node: str, owner: str,
         labels: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Pod", "metadata": {
        "name": name, "namespace": ns, "uid": uid, "creationTimestamp": "2024-05-01T10:00:00Z",
        "labels": {**labels, "pod-template-hash": "5d56c488f5"},
        "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "SECRET-ANNOT"},
        "ownerReferences": [{"kind": "ReplicaSet", "name": owner, "controller": True}]},
        "spec": {"nodeName": node, "serviceAccountName": "default", "containers": [
            {"name": "main", "image": "nginx:1", "ports": [{"containerPort": 8080,
                                                            "name": "http"}],
             "env": [{"name": "PASSWORD", "value": "hunter2"}]}]},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                   "startTime": "2024-05-01T10:00:05Z"}}
