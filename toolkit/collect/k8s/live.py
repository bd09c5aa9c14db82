"""Live collector: list every kind kseg reads from the API server into a Capture.

The only module that imports ``kubernetes``. It uses the official client for configuration
(kubeconfig, context, in-cluster service account, exec/OIDC token refresh) and transport, but
requests raw JSON (no model objects) and parses pages itself. Lists are paginated
(``limit``/``continue``) and each page is normalised into rows at once, so memory holds the
tables, not the objects. Errors:

- 429 (honouring ``Retry-After``), 5xx, timeouts and dropped connections are retried with
  exponential backoff, a bounded number of times;
- 410 Gone on a continue token (it expired) restarts that list from the beginning;
- 401/403 stop with a :class:`CollectError` naming the verb and resource that is missing;
- a missing ``discovery.k8s.io`` API (404) falls back to legacy Endpoints.

Credentials are only held by the client object: nothing from the kubeconfig but the context
name is recorded.
"""

from __future__ import annotations

import contextlib
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes
import orjson
import urllib3

from toolkit.collect.k8s import normalise as nm
from toolkit.collect.k8s.capture import Capture, no_cyclic_gc
from toolkit.errors import CollectError
from toolkit.snapshot import Snapshot

#: Kinds the live collector lists, in order (Endpoints only when EndpointSlices are absent).
LIVE_KINDS = ("Namespace", "Node", "Pod", "Deployment", "ReplicaSet", "StatefulSet",
              "DaemonSet", "Job", "CronJob", "Service", "EndpointSlice", "NetworkPolicy")
_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
RBAC_HINT = "apply the RBAC from `kseg collect --print-rbac`"


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff (``base * 2**attempt``, capped, jittered)."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after is not None:
            try:
                return min(max(float(retry_after), 0.0), self.cap)
            except ValueError:
                pass
        return min(self.cap, self.base * 2 ** attempt) * (0.5 + random.random() / 2)


class _Relist(Exception):
    """The continue token expired (410): the list must restart."""


class _NotFound(Exception):
    """The API group or resource does not exist on this server."""


def api_client(kubeconfig: str | None = None, context: str | None = None
               ) -> tuple[kubernetes.client.ApiClient, str]:
    """An ApiClient from a kubeconfig (or the in-cluster service account) and the context name."""
    cfg = kubernetes.client.Configuration()
    try:
        try:
            kubernetes.config.load_kube_config(config_file=kubeconfig, context=context,
                                               client_configuration=cfg)
            _, active = kubernetes.config.list_kube_config_contexts(config_file=kubeconfig)
            name = context or (active or {}).get("name") or "cluster"
        except kubernetes.config.ConfigException:
            if kubeconfig or context:
                raise
            kubernetes.config.load_incluster_config(client_configuration=cfg)
            name = "in-cluster"
    except (kubernetes.config.ConfigException, OSError) as exc:
        raise CollectError(f"cannot load cluster credentials: {exc}",
                           hint="pass --kubeconfig/--context, or run inside a pod with a "
                                "service account") from None
    cfg.retries = False  # we retry ourselves, visibly and boundedly
    if cfg.refresh_api_key_hook is not None:
        cfg.refresh_api_key_hook = ThrottledRefresh(cfg.refresh_api_key_hook)
    return kubernetes.client.ApiClient(cfg), name


class ThrottledRefresh:
    """The client's ``refresh_api_key_hook`` run at most once per ``interval`` seconds.

    The kubeconfig and in-cluster loaders install a hook that the client calls before every
    request: it renews an expired token (exec plugin, OIDC, service account file) and copies
    the settings back into the configuration, which re-reads the proxy environment (~2 ms a
    request, a tenth of a large collection's fetching). Tokens are still renewed, at most
    ``interval`` late; a 401 makes :class:`Lister` call :meth:`force` and retry once.
    """

    def __init__(self, hook: Callable[[Any], None], interval: float = 1.0):
        self.hook = hook
        self.interval = interval
        self.last = -float("inf")
        self.calls = 0

    def __call__(self, configuration: Any) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self.calls += 1
            self.hook(configuration)
            if configuration.refresh_api_key_hook is not self:  # the loader re-installs it
                self.hook = configuration.refresh_api_key_hook
                configuration.refresh_api_key_hook = self

    def force(self, configuration: Any) -> None:
        """Run the hook now (the server rejected the credentials: they may have expired)."""
        self.last = -float("inf")
        self(configuration)


class Lister:
    """GET requests with retries, and paginated lists as a stream of pages."""

    def __init__(self, client: kubernetes.client.ApiClient, *, retry: RetryPolicy | None = None,
                 timeout: float = 60.0, page_size: int = 500,
                 sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.page_size = page_size
        self.sleep = sleep
        self.retries = 0

    def _send(self, path: str, query: list[tuple[str, Any]], stream: bool = False) -> Any:
        method, url, headers, _, _ = self.client.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"])
        return self.client.call_api(method, url, header_params=headers,
                                    _request_timeout=None if stream else self.timeout)

    def get(self, path: str, query: list[tuple[str, Any]], what: str,
            stream: bool = False) -> Any:
        """The response (raw when ``stream``, else parsed JSON) with retries on transient
        failures; raises CollectError, _Relist or _NotFound."""
        renewed = False
        for attempt in range(self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                resp = self._send(path, query, stream)
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                if last:
                    raise CollectError(f"{what}: {type(exc).__name__} after "
                                       f"{attempt + 1} attempts") from None
                self._pause(attempt, None)
                continue
            status = resp.status
            if 200 <= status < 300:
                return resp.response if stream else self._parse(resp, what)
            body = resp.read()
            if status in _RETRY_STATUS and not last:
                self._pause(attempt, resp.headers.get("Retry-After"))
                continue
            if status == 401 and not last and not renewed and self._renew_credentials():
                renewed = True
                continue
            raise self._error(status, body, what)
        raise AssertionError("unreachable")

    def _renew_credentials(self) -> bool:
        """Run a throttled token refresh now; False when there is none to run."""
        cfg = self.client.configuration
        hook = cfg.refresh_api_key_hook
        if not isinstance(hook, ThrottledRefresh):
            return False
        hook.force(cfg)
        return True

    def _pause(self, attempt: int, retry_after: str | None) -> None:
        self.retries += 1
        self.sleep(self.retry.delay(attempt, retry_after))

    @staticmethod
    def _parse(resp: Any, what: str) -> dict[str, Any]:
        try:
            return orjson.loads(resp.read())  # ~2x json.loads on list pages
        except (ValueError, urllib3.exceptions.HTTPError, OSError) as exc:
            raise CollectError(f"{what}: unreadable response ({type(exc).__name__})") from None

    @staticmethod
    def _error(status: int, body: bytes, what: str) -> Exception:
        try:
            message = orjson.loads(body).get("message", "")
        except (ValueError, AttributeError):
            message = body[:200].decode("utf-8", "replace")
        if status == 410:
            return _Relist(message)
        if status == 404:
            return _NotFound(message)
        if status in (401, 403):
            reason = "unauthorized (credentials rejected)" if status == 401 else "forbidden"
            return CollectError(f"{what}: {reason} — {RBAC_HINT}" + (
                f" (server said: {message})" if message else ""))
        return CollectError(f"{what}: HTTP {status} {message}".rstrip())

    def pages(self, spec: nm.KindSpec, namespace: str | None) -> Iterator[dict[str, Any]]:
        """Pages of one list, following continue tokens (raises _Relist on 410).

        A helper thread fetches and parses page n+1 while the caller normalises page n, so
        the server's work and ours overlap; at most three pages are held at once (one being
        normalised, one waiting, one being fetched).
        """
        with contextlib.closing(PageStream(self, spec, namespace)) as stream:
            yield from stream

    def fetch_pages(self, path: str, what: str, pages: queue.Queue,
                    stop: threading.Event) -> None:
        """Put the pages of one list into ``pages``, then ``_DONE`` (or the exception)."""
        token = None
        try:
            while not stop.is_set():
                query: list[tuple[str, Any]] = [("limit", self.page_size)]
                if token:
                    query.append(("continue", token))
                page = self.get(path, query, what)
                pages.put(page)
                token = (page.get("metadata") or {}).get("continue")
                if not token:
                    break
            pages.put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            pages.put(exc)


class PageStream:
    """The pages of one list, fetched by a helper thread that starts at once (so the next
    list can be fetched while the current one is normalised); at most one page waits.

    One waiting page is enough to overlap the server's work with ours (the fetcher parses
    the next page while this one is normalised), and each waiting page is a few MB of
    decoded JSON (500 EndpointSlices): measured, two waiting pages raised a 30,000-pod
    collection's peak RSS by 5-6 MB for no time gained.
    """

    def __init__(self, lister: Lister, spec: nm.KindSpec, namespace: str | None):
        where = f"in namespace {namespace}" if namespace else "at cluster scope"
        self._pages: queue.Queue = queue.Queue(maxsize=1)
        self._stop = threading.Event()
        self._fetcher = threading.Thread(target=lister.fetch_pages, daemon=True, args=(
            spec.list_path(namespace), f"list {spec.plural} {where}", self._pages,
            self._stop))
        self._fetcher.start()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (item := self._pages.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        """Stop the fetcher and wait for it (unblocking it if it waits to put a page)."""
        self._stop.set()
        while self._fetcher.is_alive():
            with contextlib.suppress(queue.Empty):
                self._pages.get(timeout=0.05)


_DONE = object()


def _item_kind(spec: nm.KindSpec, item: dict[str, Any]) -> dict[str, Any]:
    if "kind" not in item:  # the API omits kind/apiVersion on list items
        item["kind"] = spec.kind
    return item


def list_into(lister: Lister, capture: Capture, spec: nm.KindSpec,
              namespace: str | None, *, relists: int = 3,
              stream: PageStream | None = None) -> str | None:
    """List one kind (in one namespace or cluster-wide) into ``capture``; returns the list's
    resourceVersion (where a watch starts). ``stream``: the list already being fetched."""
    for _ in range(relists + 1):
        part = Capture(keep_templates=False)
        try:
            version = None
            with contextlib.closing(stream or PageStream(lister, spec, namespace)) as pages:
                for page in pages:
                    version = (page.get("metadata") or {}).get("resourceVersion")
                    part.add_items(page.get("items") or (), spec, "live")
        except _Relist:
            continue
        except nm.ObjectError as exc:
            raise CollectError(f"{spec.kind} in {namespace or 'cluster'}: field {exc.field}: "
                               f"{exc}") from None
        finally:
            stream = None  # a relist starts a new one
        part.cover(spec.table, namespace or "")
        capture.absorb(part)
        return version
    raise CollectError(f"list {spec.plural}: continue token expired {relists + 1} times",
                       hint="the cluster changes faster than the list; retry with --page-size "
                            "larger")


def _get_namespace(lister: Lister, capture: Capture, name: str) -> None:
    spec = nm.KINDS["Namespace"]
    try:
        obj = lister.get(f"/api/v1/namespaces/{name}", [], f"get namespace {name}")
    except _NotFound:
        raise CollectError(f"namespace {name!r} does not exist") from None
    capture.add(_item_kind(spec, obj), "live")
    capture.cover("namespaces", "")


@dataclass
class LiveResult:
    """A finished live capture: the Capture, resourceVersions per list, and the context."""

    capture: Capture
    versions: dict[tuple[str, str], str | None]
    context: str
    captured_at: datetime


def collect_capture(lister: Lister, namespaces: list[str] | None = None, *, context: str = "",
                    progress: Callable[[str], None] | None = None) -> LiveResult:
    """List every kind of :data:`LIVE_KINDS` (cluster-wide, or in ``namespaces``)."""
    capture = Capture(keep_templates=False)
    versions: dict[tuple[str, str], str | None] = {}
    scopes: list[str | None] = list(namespaces) if namespaces else [None]
    if namespaces:  # only these namespaces: get each one instead of listing them all
        if progress:
            progress("Namespace")
        for name in namespaces:
            _get_namespace(lister, capture, name)
    lists = [(nm.KINDS[kind], ns) for kind in LIVE_KINDS if not (kind == "Namespace"
                                                                  and namespaces)
             for ns in (scopes if nm.KINDS[kind].namespaced else [None])]
    ahead: PageStream | None = None
    try:
        for i, (spec, ns) in enumerate(lists):
            if progress and (i == 0 or lists[i - 1][0] is not spec):
                progress(spec.kind)
            current, ahead = ahead, (PageStream(lister, *lists[i + 1])
                                     if i + 1 < len(lists) else None)  # one list ahead
            try:
                versions[(spec.kind, ns or "")] = list_into(lister, capture, spec, ns,
                                                            stream=current)
            except _NotFound:
                if spec.kind != "EndpointSlice":
                    raise CollectError(f"list {spec.plural}: the API server does not serve "
                                       f"{spec.api_prefix}") from None
                versions[("Endpoints", ns or "")] = list_into(
                    lister, capture, nm.KINDS["Endpoints"], ns)
    finally:
        if ahead is not None:
            ahead.close()
    return LiveResult(capture, versions, context, datetime.now(UTC))


def collect(*, kubeconfig: str | None = None, context: str | None = None,
            namespaces: list[str] | None = None, watch_seconds: float = 0.0,
            retry: RetryPolicy | None = None, page_size: int = 500, timeout: float = 60.0,
            progress: Callable[[str], None] | None = None) -> Snapshot:
    """Collect a live cluster's inventory into an in-memory Snapshot (no flows).

    ``watch_seconds > 0`` then watches pods, services and EndpointSlices for that long and
    records every IP ownership change (see :mod:`toolkit.collect.k8s.watch`).
    """
    return collect_result(kubeconfig=kubeconfig, context=context, namespaces=namespaces,
                          watch_seconds=watch_seconds, retry=retry, page_size=page_size,
                          timeout=timeout, progress=progress)[0]


def collect_result(*, kubeconfig: str | None = None, context: str | None = None,
                   namespaces: list[str] | None = None, watch_seconds: float = 0.0,
                   retry: RetryPolicy | None = None, page_size: int = 500,
                   timeout: float = 60.0, progress: Callable[[str], None] | None = None
                   ) -> tuple[Snapshot, set[tuple[str, str]]]:
    """Like :func:`collect`, also returning the capture's scope (for merging)."""
    from toolkit.collect.k8s import watch

    client, name = api_client(kubeconfig, context)
    with client:
        lister = Lister(client, retry=retry, page_size=page_size, timeout=timeout)
        with no_cyclic_gc():
            result = collect_capture(lister, namespaces, context=name, progress=progress)
            source = {"kind": "live", "context": name, "namespaces": namespaces or "all",
                      "retries": lister.retries}
            snap = result.capture.snapshot(cluster=name, captured_at=result.captured_at,
                                           source=source, release=True)
        if watch_seconds > 0:
            snap = watch.watch_snapshot(lister, snap, result, watch_seconds, progress=progress)
    return snap, result.capture.scope
