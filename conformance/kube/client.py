"""The facade: :class:`Kube`, the cluster as the harness sees it, every method plain dicts.

Why it exists: one object the rest of the harness calls (get, list, watch, create, patch,
delete, events, logs), each call under the retry policy (:mod:`conformance.kube.retry`)
with its failure mapped (:mod:`conformance.kube.errors`), and :class:`KubeAPI`, the part
of it that waits.py and resources.py rely on, so tests can pass small fakes.

Must not: know about tests or profiles, mutate the client's global configuration, or shell
out to ``kubectl``.
"""

from __future__ import annotations

import builtins
import functools
import http.client
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from urllib3 import exceptions as u3

from conformance.kube.errors import (
    ConfigError,
    NotFound,
    _may_have_landed,
    error_for_status,
    map_error,
)
from conformance.kube.kinds import KINDS, RUN_LABEL, Kind, Obj, _ref, kind_of, lookup
from conformance.kube.retry import RetryPolicy, call_with_retry, create_with_retry
from conformance.kube.transport import _json, _lines, _Transport

log = logging.getLogger(__name__)

T = TypeVar("T")

_LIST_PAGE = 500
_WATCH_READ_GRACE = 15.0
"""Seconds the client-side read timeout of a watch exceeds its server-side timeoutSeconds."""


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
