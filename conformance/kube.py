"""Typed access to the Kubernetes API: the core kinds and the snapshot CRDs, as plain dicts.

Why it exists: the kubernetes client is untyped, hands back model objects for some kinds
and dicts for others, raises one exception type for every failure (and urllib3 errors
besides), and retries in places nobody sees. Here every object comes back as the JSON the
API server sent (a ``dict``), failures are a small exception hierarchy that chains the
original, and the retry policy lives in one place (:class:`RetryPolicy`, tenacity).

Must not: know about tests or profiles, mutate the client's global configuration, or shell
out to ``kubectl``. The only thing it knows about runs is the run label, for one rule: a
create retried after a dropped connection may find the object its first try made.
"""

from __future__ import annotations

import builtins
import functools
import http.client
import json
import logging
import math
import os
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar, cast
from urllib.parse import quote

import urllib3
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt
from tenacity import stop_before_delay as _stop_before_delay
from urllib3 import exceptions as u3

log = logging.getLogger(__name__)

Obj = dict[str, Any]
"""One Kubernetes object as the API server serialises it."""

T = TypeVar("T")

RUN_LABEL = "snapconf.io/run"
"""Label every object snapconf creates carries (value: the run id); see resources.py."""

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth another try: throttling and server-side hiccups."""

_LIST_PAGE = 500
_WATCH_READ_GRACE = 15.0
"""Seconds the client-side read timeout of a watch exceeds its server-side timeoutSeconds."""


# ---------------------------------------------------------------- kinds


@dataclass(frozen=True)
class Kind:
    """What the API needs to address one kind of object.

    Attributes:
        kind: the ``kind`` field, e.g. ``VolumeSnapshot``.
        api_version: the ``apiVersion`` field, e.g. ``snapshot.storage.k8s.io/v1``.
        plural: the resource name in URLs, e.g. ``volumesnapshots``.
        namespaced: whether objects live in a namespace.
        custom: served by a CustomResourceDefinition (goes through ``CustomObjectsApi``).
    """

    kind: str
    api_version: str
    plural: str
    namespaced: bool
    custom: bool = False

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version without the group, e.g. ``v1``."""
        return self.api_version.rpartition("/")[2]

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the collection (in ``namespace``, or across all) or of one object."""
        path = f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            path += f"/namespaces/{quote(namespace, safe='')}"
        path += f"/{self.plural}"
        if name is not None:
            path += f"/{quote(name, safe='')}"
        return path

    def __str__(self) -> str:
        return self.kind


_SNAPSHOT_V1 = "snapshot.storage.k8s.io/v1"
_GROUP_SNAPSHOT_V1 = "groupsnapshot.storage.k8s.io/v1"

KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Namespace", "v1", "namespaces", namespaced=False),
        Kind("Pod", "v1", "pods", namespaced=True),
        Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", namespaced=True),
        Kind("PersistentVolume", "v1", "persistentvolumes", namespaced=False),
        Kind("Event", "v1", "events", namespaced=True),
        Kind("Node", "v1", "nodes", namespaced=False),
        Kind("ServiceAccount", "v1", "serviceaccounts", namespaced=True),
        Kind("StorageClass", "storage.k8s.io/v1", "storageclasses", namespaced=False),
        Kind("CSIDriver", "storage.k8s.io/v1", "csidrivers", namespaced=False),
        Kind("CSINode", "storage.k8s.io/v1", "csinodes", namespaced=False),
        Kind("VolumeAttachment", "storage.k8s.io/v1", "volumeattachments", namespaced=False),
        Kind("VolumeSnapshot", _SNAPSHOT_V1, "volumesnapshots", namespaced=True, custom=True),
        Kind(
            "VolumeSnapshotContent",
            _SNAPSHOT_V1,
            "volumesnapshotcontents",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "VolumeSnapshotClass",
            _SNAPSHOT_V1,
            "volumesnapshotclasses",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "VolumeGroupSnapshot",
            _GROUP_SNAPSHOT_V1,
            "volumegroupsnapshots",
            namespaced=True,
            custom=True,
        ),
        Kind(
            "VolumeGroupSnapshotContent",
            _GROUP_SNAPSHOT_V1,
            "volumegroupsnapshotcontents",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "VolumeGroupSnapshotClass",
            _GROUP_SNAPSHOT_V1,
            "volumegroupsnapshotclasses",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "CustomResourceDefinition",
            "apiextensions.k8s.io/v1",
            "customresourcedefinitions",
            namespaced=False,
        ),
    )
}
"""Every kind the harness reads or writes, by ``kind`` name.

The VolumeGroupSnapshot kinds are optional CRDs: a cluster may lack them (NotFound on
list, which the leak check and sweep take as "none"); see :data:`GROUP_SNAPSHOT_KINDS`.
"""

GROUP_SNAPSHOT_KINDS: frozenset[str] = frozenset(
    {"VolumeGroupSnapshot", "VolumeGroupSnapshotContent", "VolumeGroupSnapshotClass"}
)
"""Kinds of ``groupsnapshot.storage.k8s.io``: only profiles declaring ``groupSnapshot`` use them."""


def lookup(kind: Kind | str) -> Kind:
    """The registered :class:`Kind` for a kind name (or a plural resource name)."""
    if isinstance(kind, Kind):
        return kind
    found = KINDS.get(kind)
    if found is not None:
        return found
    for candidate in KINDS.values():
        if candidate.plural == kind.lower():
            return candidate
    raise KeyError(f"unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")


def kind_of(obj: Obj) -> Kind:
    """The :class:`Kind` of an object, from its ``kind`` and ``apiVersion`` fields."""
    name = obj.get("kind")
    if not isinstance(name, str) or not name:
        raise ValueError("object has no kind")
    kind = lookup(name)
    version = obj.get("apiVersion")
    if version and version != kind.api_version:
        raise ValueError(f"{name} has apiVersion {version!r}, expected {kind.api_version!r}")
    return kind


def dig(obj: Any, *path: str) -> Any:
    """The value at ``path`` in nested dicts (``dig(pvc, "status", "phase")``), or None."""
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _ref(kind: Kind, name: str | None, namespace: str | None) -> str:
    where = f"{namespace}/" if kind.namespaced and namespace else ""
    return f"{kind.kind} {where}{name or '(generated name)'}"


# ---------------------------------------------------------------- errors


class KubeError(Exception):
    """A Kubernetes API call failed; the client's exception is chained as ``__cause__``.

    Attributes:
        status: the HTTP status, or None when no response came back.
        reason: the API Status reason (``NotFound``, ``AlreadyExists``, ...) or the
            transport error's class name.
        message: the API server's message (or the transport error's text).
        retry_after: seconds the server asked us to wait (``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        reason: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after
        prefix = " ".join(part for part in (str(status or ""), reason) if part)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class NotFound(KubeError):
    """404: the object (or its kind: CRD not installed) does not exist."""


class Conflict(KubeError):
    """409 other than AlreadyExists: usually a stale resourceVersion."""


class AlreadyExists(KubeError):
    """409 AlreadyExists: an object with that name exists."""


class Forbidden(KubeError):
    """403: RBAC or an admission webhook said no."""


class Unauthorized(KubeError):
    """401: the credentials were rejected."""


class Invalid(KubeError):
    """422: the object failed validation."""


class Gone(KubeError):
    """410: the resourceVersion is too old (watch must re-list)."""


class Unreachable(KubeError):
    """The cluster cannot be reached at all: connection refused, DNS, TLS. Not retried."""


class ConnectionLost(KubeError):
    """The connection dropped or timed out, still so after the retries."""


class ConfigError(KubeError):
    """The kubeconfig cannot be loaded."""


_BY_STATUS: dict[int, type[KubeError]] = {
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    410: Gone,
    422: Invalid,
}


def error_for_status(
    status: int, reason: str, message: str, retry_after: float | None = None
) -> KubeError:
    """The :class:`KubeError` subclass for an HTTP status and API Status reason."""
    cls: type[KubeError]
    if status == 409:
        cls = AlreadyExists if reason == "AlreadyExists" else Conflict
    else:
        cls = _BY_STATUS.get(status, KubeError)
    return cls(
        message or reason or "no message", status=status, reason=reason, retry_after=retry_after
    )


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), or None."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None:
        value = getter(name.lower())
    return None if value is None else str(value)


def _from_api_exception(exc: Any) -> KubeError:
    status = int(getattr(exc, "status", 0) or 0)
    body: Any = None
    raw = getattr(exc, "body", None)
    if raw:
        try:
            body = json.loads(raw)
        except (TypeError, ValueError):
            body = None
    reason = str(getattr(exc, "reason", "") or "")
    message = str(raw or "")
    if isinstance(body, dict):
        reason = str(body.get("reason") or reason)
        message = str(body.get("message") or message)
    if status == 0:
        # The client's own failures: it turns urllib3 SSLErrors into status-0 ApiExceptions.
        text = message or reason
        if "SSLError" in text or "CERTIFICATE" in text.upper():
            return Unreachable(text.replace("\n", " "), reason="SSLError")
        return KubeError(text.replace("\n", " "), reason="ClientError")
    retry_after = parse_retry_after(_header(getattr(exc, "headers", None), "Retry-After"))
    return error_for_status(status, reason, message, retry_after)


_UNREACHABLE: tuple[type[BaseException], ...] = (
    u3.NewConnectionError,  # refused, no route; NameResolutionError is a subclass
    u3.SSLError,
    u3.ProxyError,
    u3.LocationParseError,
    ssl.SSLError,
    ssl.CertificateError,
    ConnectionRefusedError,
    socket.gaierror,
)
_LOST: tuple[type[BaseException], ...] = (
    u3.ProtocolError,  # connection reset / aborted / incomplete read
    u3.TimeoutError,  # ReadTimeoutError, ConnectTimeoutError
    ConnectionError,  # ConnectionResetError, BrokenPipeError, ConnectionAbortedError
    TimeoutError,
    http.client.HTTPException,  # IncompleteRead, RemoteDisconnected
)


def map_error(exc: BaseException) -> KubeError | None:
    """The :class:`KubeError` for an exception from the client or urllib3, else None.

    None means the exception is not about talking to the cluster (a bug: let it surface).
    """
    if isinstance(exc, KubeError):
        return exc
    if isinstance(exc, k8s_client.ApiException):
        return _from_api_exception(exc)
    if isinstance(exc, u3.MaxRetryError) and exc.reason is not None:
        inner = map_error(exc.reason)
        if inner is not None:
            return type(inner)(
                f"{exc.url or ''}: {inner.message}".lstrip(": "),
                status=inner.status,
                reason=inner.reason,
            )
    name = type(exc).__name__
    text = str(exc) or name
    # Order matters: NewConnectionError is a ConnectTimeoutError, ConnectionRefusedError
    # is a ConnectionError, ssl.SSLError is an OSError.
    if isinstance(exc, _UNREACHABLE):
        return Unreachable(text, reason=name)
    if isinstance(exc, _LOST):
        return ConnectionLost(text, reason=name)
    return None


def is_retryable(exc: BaseException) -> bool:
    """Whether another try may succeed: throttling, 5xx hiccups, dropped connections."""
    if isinstance(exc, ConnectionLost):
        return True
    return isinstance(exc, KubeError) and exc.status in RETRY_STATUSES


def _may_have_landed(exc: BaseException) -> bool:
    """Whether a failed write may still have been applied by the server.

    A 429 is a refusal before any work; a dropped connection or a 5xx (a timeout at the
    server or at a proxy in front of it) says nothing about whether the write happened.
    """
    if isinstance(exc, ConnectionLost):
        return True
    return isinstance(exc, KubeError) and exc.status in RETRY_STATUSES - {429}


# ---------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one API call tries before its error is raised.

    Attributes:
        attempts: tries in all (the first included).
        max_seconds: no retry starts once this much time (including the coming wait)
            would have passed since the first try.
        backoff_base: wait after the first failure; doubles each time.
        backoff_max: longest wait between tries (before jitter).
        retry_after_max: cap on a server's ``Retry-After``.
        jitter: spread waits over [w/2, w] so parallel workers do not retry in step.
    """

    attempts: int = 6
    max_seconds: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    retry_after_max: float = 10.0
    jitter: bool = True

    def delay(self, attempt: int, error: BaseException | None) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based)."""
        if isinstance(error, KubeError) and error.retry_after is not None:
            return min(error.retry_after, self.retry_after_max)
        wait: float = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        if self.jitter:
            wait = random.uniform(wait / 2, wait)  # noqa: S311 - spreading retries, not crypto
        return wait


def call_with_retry(
    fn: Callable[[], T],
    *,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``fn`` under ``policy``; client errors come out as :class:`KubeError`.

    Retries 429 (after ``Retry-After``, capped), 500/502/503/504 and dropped or timed-out
    connections; never any other 4xx, nor an unreachable cluster. Bounded by
    ``policy.attempts`` and ``policy.max_seconds``.
    """

    def attempt() -> T:
        try:
            return fn()
        except KubeError:
            raise
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is None:
                raise
            raise mapped from exc

    def wait(state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        return policy.delay(state.attempt_number, error)

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.debug(
            "%s: try %d failed (%s); retrying in %.1fs",
            what,
            state.attempt_number,
            error,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        stop=stop_after_attempt(policy.attempts) | _stop_before_delay(policy.max_seconds),
        wait=wait,
        retry=retry_if_exception(is_retryable),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return retrying(attempt)


def create_with_retry(
    post: Callable[[], Obj],
    fetch: Callable[[], Obj | None],
    *,
    run: str | None,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> Obj:
    """Create through ``post`` under ``policy``, telling our own earlier try from a clash.

    ``fetch`` reads the object by name (None when it does not exist); ``run`` is the run
    label value the new object carries.
    """
    uncertain = False

    def attempt() -> Obj:
        nonlocal uncertain
        try:
            return post()
        except Exception as exc:
            mapped = map_error(exc)
            if mapped is not None and _may_have_landed(mapped):
                uncertain = True
            raise

    try:
        return call_with_retry(attempt, policy=policy, what=what, sleep=sleep)
    except AlreadyExists:
        # A create is not idempotent: when a try's connection dropped (or the server
        # answered 5xx) the object may have been made anyway, and the retry then meets
        # AlreadyExists for our own object. But a same-named object can also belong to
        # someone else: an earlier run, another xdist worker, a user. Handing that back as
        # "created" would point the test at a stranger's object and let cleanup delete it.
        # The run label is the proof of ownership, so only an existing object with our
        # run's label counts as the success of the earlier try.
        if not uncertain or not run:
            raise
        existing = fetch()
        labels = ((existing or {}).get("metadata") or {}).get("labels") or {}
        if existing is None or labels.get(RUN_LABEL) != run:
            raise
        log.debug("%s: AlreadyExists after an uncertain try; it is ours (run %s)", what, run)
        return existing


# ---------------------------------------------------------------- the facade


class KubeAPI(Protocol):
    """What waits.py and resources.py need from :class:`Kube` (tests pass small fakes)."""

    def create(self, obj: Obj) -> Obj:
        """See :meth:`Kube.create`."""

    def get(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj:
        """See :meth:`Kube.get`."""

    def get_or_none(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj | None:
        """See :meth:`Kube.get_or_none`."""

    def list(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        """See :meth:`Kube.list`."""

    def patch(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        patch: Obj | builtins.list[Obj],
        *,
        merge: bool = True,
    ) -> Obj:
        """See :meth:`Kube.patch`."""

    def delete(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None = None,
        *,
        missing_ok: bool = True,
        propagation: str = "Background",
    ) -> None:
        """See :meth:`Kube.delete`."""

    def watch(
        self,
        kind: Kind | str,
        namespace: str | None,
        *,
        resource_version: str,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: float,
    ) -> Iterator[tuple[str, Obj]]:
        """See :meth:`Kube.watch`."""

    def events_for(self, kind: Kind | str, name: str, namespace: str | None) -> builtins.list[Obj]:
        """See :meth:`Kube.events_for`."""

    def pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        *,
        tail_lines: int | None = 500,
        previous: bool = False,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> str:
        """See :meth:`Kube.pod_log`."""


class _Transport:
    """The one place that touches the client: requests in, urllib3 responses out.

    Built-in kinds go through ``ApiClient.param_serialize`` + ``call_api`` (paths from
    :meth:`Kind.path`); CRD kinds through ``CustomObjectsApi``. Both with
    ``_preload_content=False`` so the body is the server's JSON, never a model object.
    """

    def __init__(self, api: Any) -> None:
        self.api = api
        self.custom = k8s_client.CustomObjectsApi(api)

    def raw(
        self,
        method: str,
        path: str,
        *,
        query: list[tuple[str, Any]] | None = None,
        body: Any = None,
        content_type: str | None = None,
        accept: str = "application/json",
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            k8s_client.ApiException.from_response(http_resp=response, body=None, data=None)
        result: urllib3.BaseHTTPResponse = response.response
        return result

    def create(
        self, kind: Kind, namespace: str | None, body: Obj, timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            return self.raw("POST", kind.path(namespace), body=body, timeout=timeout)
        opts: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.create_namespaced_custom_object(g, v, _need(namespace), p, body, **opts)
            )
        return self._r(self.custom.create_cluster_custom_object(g, v, p, body, **opts))

    def get(
        self, kind: Kind, name: str, namespace: str | None, timeout: tuple[float, float]
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            return self.raw("GET", kind.path(namespace, name), timeout=timeout)
        opts: dict[str, Any] = {"_preload_content": False, "_request_timeout": timeout}
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.get_namespaced_custom_object(g, v, _need(namespace), p, name, **opts)
            )
        return self._r(self.custom.get_cluster_custom_object(g, v, p, name, **opts))

    def list(
        self,
        kind: Kind,
        namespace: str | None,
        query: dict[str, Any],
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        """List (or with ``watch=True`` in ``query``, watch) a collection.

        ``query`` uses the API's camelCase names (``fieldSelector``, ``continue``, ...).
        """
        params = {k: v for k, v in query.items() if v is not None}
        if not kind.custom:
            return self.raw(
                "GET", kind.path(namespace), query=list(params.items()), timeout=timeout
            )
        snake = {
            "fieldSelector": "field_selector",
            "labelSelector": "label_selector",
            "limit": "limit",
            "continue": "_continue",
            "resourceVersion": "resource_version",
            "timeoutSeconds": "timeout_seconds",
            "watch": "watch",
            "allowWatchBookmarks": "allow_watch_bookmarks",
        }
        opts: dict[str, Any] = {snake[k]: v for k, v in params.items()}
        opts.update(_preload_content=False, _request_timeout=timeout)
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced and namespace:
            return self._r(self.custom.list_namespaced_custom_object(g, v, namespace, p, **opts))
        return self._r(self.custom.list_cluster_custom_object(g, v, p, **opts))

    def patch(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        body: Obj | builtins.list[Obj],
        content_type: str,
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            return self.raw(
                "PATCH",
                kind.path(namespace, name),
                body=body,
                content_type=content_type,
                timeout=timeout,
            )
        opts: dict[str, Any] = {
            "_preload_content": False,
            "_request_timeout": timeout,
            "_content_type": content_type,
        }
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.patch_namespaced_custom_object(
                    g, v, _need(namespace), p, name, body, **opts
                )
            )
        return self._r(self.custom.patch_cluster_custom_object(g, v, p, name, body, **opts))

    def delete(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        propagation: str,
        timeout: tuple[float, float],
    ) -> urllib3.BaseHTTPResponse:
        if not kind.custom:
            query = [("propagationPolicy", propagation)]
            return self.raw("DELETE", kind.path(namespace, name), query=query, timeout=timeout)
        opts: dict[str, Any] = {
            "_preload_content": False,
            "_request_timeout": timeout,
            "propagation_policy": propagation,
        }
        g, v, p = kind.group, kind.version, kind.plural
        if kind.namespaced:
            return self._r(
                self.custom.delete_namespaced_custom_object(g, v, _need(namespace), p, name, **opts)
            )
        return self._r(self.custom.delete_cluster_custom_object(g, v, p, name, **opts))

    @staticmethod
    def _r(response: Any) -> urllib3.BaseHTTPResponse:
        result: urllib3.BaseHTTPResponse = response
        return result


def _need(namespace: str | None) -> str:
    if not namespace:
        raise ValueError("a namespaced kind needs a namespace")
    return namespace


def _json(response: urllib3.BaseHTTPResponse) -> Obj:
    data = response.data
    value = json.loads(data) if data else {}
    if not isinstance(value, dict):
        raise KubeError(f"expected a JSON object, got {type(value).__name__}", reason="BadResponse")
    return value


def _lines(response: urllib3.BaseHTTPResponse) -> Iterator[bytes]:
    """The non-empty lines of a streaming response, as they arrive."""
    buffer = bytearray()
    for chunk in response.stream(amt=None, decode_content=True):
        buffer.extend(chunk)
        while (end := buffer.find(b"\n")) >= 0:
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            if line.strip():
                yield line
    if bytes(buffer).strip():
        yield bytes(buffer)


def _event_time(event: Obj) -> datetime:
    meta = event.get("metadata") or {}
    for stamp in (
        event.get("lastTimestamp"),
        event.get("eventTime"),
        event.get("firstTimestamp"),
        meta.get("creationTimestamp"),
    ):
        if stamp:
            try:
                parsed = datetime.fromisoformat(str(stamp))
            except ValueError:
                continue
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.min.replace(tzinfo=UTC)


class Kube:
    """The cluster, as the harness sees it: every method returns plain dicts.

    Args:
        kubeconfig: path of the kubeconfig; None means ``$KUBECONFIG`` (read now, not at
            import) or ``~/.kube/config``.
        context: kubeconfig context; None means its current context.
        policy: the retry policy of every call.
        request_timeout: client-side read timeout of an ordinary request, in seconds.
        connect_timeout: client-side connect timeout, in seconds.
        api_client: an already built ``kubernetes.client.ApiClient`` (tests); the
            kubeconfig arguments are then ignored.
        sleep: how to wait between retries (tests pass a recorder).

    Raises:
        ConfigError: the kubeconfig cannot be loaded.
    """

    def __init__(
        self,
        kubeconfig: str | os.PathLike[str] | None = None,
        *,
        context: str | None = None,
        policy: RetryPolicy | None = None,
        request_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        api_client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._timeout = (connect_timeout, request_timeout)
        self._connect_timeout = connect_timeout
        self._sleep = sleep
        if api_client is None:
            api_client = self._load(kubeconfig, context)
        self._t = _Transport(api_client)

    @staticmethod
    def _load(kubeconfig: str | os.PathLike[str] | None, context: str | None) -> Any:
        path = os.fspath(kubeconfig) if kubeconfig else os.environ.get("KUBECONFIG") or ""
        path = path or os.path.expanduser("~/.kube/config")
        configuration = k8s_client.Configuration()
        # Retries live in RetryPolicy only: urllib3's own would hide resets and multiply
        # the attempts.
        configuration.retries = False
        try:
            factory = cast(Callable[..., Any], k8s_config.new_client_from_config)
            return factory(
                config_file=path,
                context=context,
                persist_config=False,  # never write refreshed tokens into the user's file
                client_configuration=configuration,
            )
        except (k8s_config.ConfigException, OSError, ValueError, TypeError) as err:
            raise ConfigError(f"cannot load kubeconfig {path}: {err}") from err

    @property
    def api_client(self) -> Any:
        """The underlying ``kubernetes.client.ApiClient`` (podexec.py opens streams with it)."""
        return self._t.api

    # ---------------------------------------------------------------- plumbing

    def _call(self, fn: Callable[[], T], what: str) -> T:
        return call_with_retry(fn, policy=self.policy, what=what, sleep=self._sleep)

    @staticmethod
    def _namespace(kind: Kind, namespace: str | None, what: str) -> str | None:
        if not kind.namespaced:
            return None
        if not namespace:
            raise ValueError(f"{what}: {kind.kind} is namespaced; a namespace is needed")
        return namespace

    def _page(self, kind: Kind, namespace: str | None, query: dict[str, Any]) -> Obj:
        return _json(self._t.list(kind, namespace, query, self._timeout))

    # ---------------------------------------------------------------- verbs

    def create(self, obj: Obj) -> Obj:
        """Create ``obj``; returns the object as stored (with its uid, resourceVersion).

        Raises:
            AlreadyExists: an object of that name exists and is not this run's.
        """
        kind = kind_of(obj)
        meta = obj.get("metadata") or {}
        name = meta.get("name")
        namespace = self._namespace(kind, meta.get("namespace"), f"create {kind.kind}")
        what = f"create {_ref(kind, name, namespace)}"

        def fetch() -> Obj | None:
            return self.get_or_none(kind, name, namespace) if name else None

        return create_with_retry(
            lambda: _json(self._t.create(kind, namespace, obj, self._timeout)),
            fetch,
            run=(meta.get("labels") or {}).get(RUN_LABEL),
            policy=self.policy,
            what=what,
            sleep=self._sleep,
        )

    def get(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj:
        """Read one object.

        Raises:
            NotFound: it does not exist.
        """
        k = lookup(kind)
        ns = self._namespace(k, namespace, f"get {k.kind} {name}")
        return self._call(
            lambda: _json(self._t.get(k, name, ns, self._timeout)), f"get {_ref(k, name, ns)}"
        )

    def get_or_none(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj | None:
        """Read one object, or None when it does not exist."""
        try:
            return self.get(kind, name, namespace)
        except NotFound:
            return None

    def list(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        """All matching objects (in ``namespace``, or across all) and the list's resourceVersion.

        Items get ``kind`` and ``apiVersion`` filled in (the server leaves them out of
        built-in lists), so :func:`kind_of` works on them.
        """
        k = lookup(kind)
        ns = namespace if k.namespaced else None
        what = f"list {k.plural}" + (f" in {ns}" if ns else "")
        items: list[Obj] = []
        resource_version = ""
        token: str | None = None
        while True:
            query = {
                "labelSelector": label_selector,
                "fieldSelector": field_selector,
                "limit": _LIST_PAGE,
                "continue": token,
            }
            page = self._call(functools.partial(self._page, k, ns, query), what)
            meta = page.get("metadata") or {}
            resource_version = resource_version or str(meta.get("resourceVersion") or "")
            for item in page.get("items") or []:
                item.setdefault("kind", k.kind)
                item.setdefault("apiVersion", k.api_version)
                items.append(item)
            token = meta.get("continue") or None
            if not token:
                return items, resource_version

    def patch(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        patch: Obj | builtins.list[Obj],
        *,
        merge: bool = True,
    ) -> Obj:
        """Patch one object: a JSON merge patch (``merge``), else a JSON patch (a list of ops)."""
        k = lookup(kind)
        ns = self._namespace(k, namespace, f"patch {k.kind} {name}")
        content_type = "application/merge-patch+json" if merge else "application/json-patch+json"
        if not merge and not isinstance(patch, list):
            raise TypeError("a JSON patch is a list of operations")
        return self._call(
            lambda: _json(self._t.patch(k, name, ns, patch, content_type, self._timeout)),
            f"patch {_ref(k, name, ns)}",
        )

    def delete(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None = None,
        *,
        missing_ok: bool = True,
        propagation: str = "Background",
    ) -> None:
        """Ask for deletion (does not wait: see ``Waiter.gone``).

        Raises:
            NotFound: it does not exist and ``missing_ok`` is false (unless an earlier
                try may have deleted it).
        """
        k = lookup(kind)
        ns = self._namespace(k, namespace, f"delete {k.kind} {name}")
        uncertain = False

        def attempt() -> None:
            nonlocal uncertain
            try:
                _ = self._t.delete(k, name, ns, propagation, self._timeout).data
            except Exception as exc:
                mapped = map_error(exc)
                if mapped is not None and _may_have_landed(mapped):
                    uncertain = True
                raise

        try:
            self._call(attempt, f"delete {_ref(k, name, ns)}")
        except NotFound:
            if not (missing_ok or uncertain):
                raise

    def watch(
        self,
        kind: Kind | str,
        namespace: str | None,
        *,
        resource_version: str,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: float,
    ) -> Iterator[tuple[str, Obj]]:
        """Stream ``(type, object)`` events from ``resource_version`` on.

        Types are ADDED, MODIFIED, DELETED and BOOKMARK (the object then carries only
        ``metadata.resourceVersion``). The server ends the stream after
        ``timeout_seconds``; a client-side read timeout a little longer guards against a
        silent dead connection. The stream simply ends when the server closes it or the
        connection drops: the caller re-lists and watches again.

        Raises:
            Gone: ``resource_version`` is too old (re-list).
            KubeError: the watch could not be opened (after the retry policy).
        """
        k = lookup(kind)
        ns = namespace if k.namespaced else None
        server_timeout = max(1, math.ceil(timeout_seconds))
        timeout = (self._connect_timeout, server_timeout + _WATCH_READ_GRACE)
        query = {
            "watch": True,
            "resourceVersion": resource_version,
            "fieldSelector": field_selector,
            "labelSelector": label_selector,
            "timeoutSeconds": server_timeout,
            "allowWatchBookmarks": True,
        }
        what = f"watch {k.plural}" + (f" in {ns}" if ns else "")
        response = self._call(lambda: self._t.list(k, ns, query, timeout), what)
        try:
            for line in _lines(response):
                try:
                    event = json.loads(line)
                except ValueError:
                    log.debug("%s: skipping a line that is not JSON: %.200r", what, line)
                    continue
                etype = str(event.get("type") or "")
                obj = event.get("object") or {}
                if etype == "ERROR":
                    raise error_for_status(
                        int(obj.get("code") or 0),
                        str(obj.get("reason") or ""),
                        str(obj.get("message") or ""),
                    )
                yield etype, obj
        except (u3.HTTPError, OSError, http.client.HTTPException) as exc:
            # A read timeout or a dropped connection ends the stream like the server's
            # own timeout does; the caller re-lists.
            log.debug("%s: stream ended: %s", what, exc)
        finally:
            response.close()
            response.release_conn()

    def events_for(self, kind: Kind | str, name: str, namespace: str | None) -> builtins.list[Obj]:
        """The core/v1 Events about one object, oldest first.

        Events about cluster-scoped objects are recorded in whichever namespace the
        reporting component chose (usually ``default``), so those are looked up across
        all namespaces.
        """
        k = lookup(kind)
        selector = f"involvedObject.kind={k.kind},involvedObject.name={name}"
        ns = namespace if k.namespaced else None
        if ns:
            selector += f",involvedObject.namespace={ns}"
        events, _ = self.list("Event", ns, field_selector=selector)
        return sorted(events, key=_event_time)

    def pod_log(
        self,
        name: str,
        namespace: str,
        container: str | None = None,
        *,
        tail_lines: int | None = 500,
        previous: bool = False,
        since_seconds: int | None = None,
        timestamps: bool = False,
    ) -> str:
        """The log of one container of a pod: its last ``tail_lines`` lines, as text.

        Args:
            name: the pod.
            namespace: the pod's namespace.
            container: which container; None is the pod's only one (the API server
                refuses None for a pod of several containers).
            tail_lines: how many lines from the end; None for the whole log.
            previous: the log of the container's previous run (after a restart).
            since_seconds: only lines of the last so many seconds (by the node's clock).
            timestamps: prefix every line with the runtime's RFC 3339 time (UTC, in
                nanoseconds) and a space, so lines can be cut to a time window.

        Returns:
            The log, undecodable bytes replaced; ``""`` when the pod does not exist (it
            may be gone by the time diagnostics ask for its log).

        Raises:
            KubeError: any other failure, e.g. 400 when the container has not started.
        """
        query: list[tuple[str, Any]] = []
        if container:
            query.append(("container", container))
        if tail_lines is not None:
            query.append(("tailLines", tail_lines))
        if previous:
            query.append(("previous", True))
        if since_seconds is not None:
            query.append(("sinceSeconds", max(1, int(since_seconds))))
        if timestamps:
            query.append(("timestamps", True))
        path = KINDS["Pod"].path(namespace, name) + "/log"

        def read() -> str:
            response = self._t.raw("GET", path, query=query, accept="*/*", timeout=self._timeout)
            return response.data.decode("utf-8", errors="replace")

        try:
            return self._call(read, f"log of pod {namespace}/{name}")
        except NotFound:
            return ""

    def server_version(self) -> Obj:
        """The API server's ``/version``: major, minor, gitVersion, ..."""
        return self._call(
            lambda: _json(self._t.raw("GET", "/version", timeout=self._timeout)), "version"
        )

    def post(self, path: str, body: Obj) -> Obj:
        """POST ``body`` to an API path that is not an object kind (reviews, tokens).

        For ``SelfSubjectAccessReview`` (pre-flight's permission check) and the
        ``TokenRequest`` subresource (``snapconf rbac apply``).
        """
        return self._call(
            lambda: _json(self._t.raw("POST", path, body=body, timeout=self._timeout)),
            f"post {path}",
        )

    def close(self) -> None:
        """Release the connection pool."""
        self._t.api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
