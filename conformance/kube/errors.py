"""The API's failures as a small exception hierarchy that chains the client's original.

Why it exists: the kubernetes client raises one exception type for every failure (and
urllib3 and socket errors besides); callers need to tell "not found" from "forbidden"
from "the connection dropped", and the retry policy needs to know which are worth another
try (:func:`is_retryable`) and which writes may have landed anyway.

Must not: retry, sleep, or call the API server; it only names what already happened.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from kubernetes import client as k8s_client
from urllib3 import exceptions as u3

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses worth another try: throttling and server-side hiccups."""


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
