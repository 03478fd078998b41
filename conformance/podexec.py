"""Run a command in a running pod through the API server's exec subresource.

Why it exists: a write, read or capacity step used to be a pod of its own (~2.5 s: the
pod's start, then kubelet noticing its exit), most of a suite's time. A pod per volume
that stays up and runs each step through ``exec`` costs a round trip instead. The
kubernetes client speaks exec over a WebSocket (``kubernetes.stream``); its ``stream()``
helper swaps a method of the shared ``ApiClient`` while it runs, so this module opens the
socket itself from the request the client serialises (URL, auth header, TLS settings),
and maps the handshake's HTTP status onto :mod:`conformance.kube`'s errors so the same
retry policy applies (429/5xx/dropped connections retried; 403 means exec is not allowed).

Must not: know what the command does (workload.py writes the scripts), or fall back to
anything (the caller decides what a refused exec means).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import websocket
import yaml
from kubernetes.stream import ws_client as _ws_client

from conformance.kube import (
    KINDS,
    ConnectionLost,
    KubeError,
    Unreachable,
    call_with_retry,
    error_for_status,
    parse_retry_after,
)

ws_client: Any = _ws_client  # untyped: the client ships no annotations for its streams

STDOUT, STDERR, ERROR = 1, 2, 3
"""The exec stream's channels (v4/v5.channel.k8s.io): 1 and 2 the output, 3 the status."""


@dataclass(frozen=True)
class ExecResult:
    """What a command in a pod left: its exit code and output."""

    exit_code: int
    stdout: str
    stderr: str


class ExecTimeout(KubeError):
    """The command was still running when its time was up (not retried)."""


def exec_in_pod(
    kube: Any,
    name: str,
    namespace: str,
    command: list[str],
    *,
    timeout: float,
    container: str | None = None,
) -> ExecResult:
    """Run ``command`` in pod ``namespace/name`` and wait for it to exit.

    Args:
        kube: a :class:`conformance.kube.Kube` (its API client and retry policy).
        name: the pod.
        namespace: its namespace.
        command: argv, no shell implied.
        timeout: seconds the command may run.
        container: the container; None for the pod's only one.

    Raises:
        Forbidden: the identity may not exec (RBAC or an admission policy said no).
        ExecTimeout: the command did not exit within ``timeout``.
        KubeError: any other failure, after the retries of ``kube.policy``.
    """
    query: list[tuple[str, Any]] = [("command", part) for part in command]
    if container:
        query.append(("container", container))
    query += [("stdin", False), ("stdout", True), ("stderr", True), ("tty", False)]
    path = KINDS["Pod"].path(namespace, name) + "/exec"
    return call_with_retry(
        lambda: _run(kube.api_client, path, query, timeout),
        policy=kube.policy,
        what=f"exec in pod {namespace}/{name}",
    )


def _run(api: Any, path: str, query: list[tuple[str, Any]], timeout: float) -> ExecResult:
    """One try: open the stream, read until the server closes it, take the exit status."""
    _, url, headers, _, _ = api.param_serialize(
        method="GET",
        resource_path=path,
        query_params=query,
        header_params={},
        auth_settings=["BearerToken"],
    )
    try:
        client: Any = ws_client.WSClient(
            api.configuration, ws_client.get_websocket_url(url), headers, capture_all=False
        )
    except websocket.WebSocketBadStatusException as err:
        body = (err.resp_body or b"").decode("utf-8", errors="replace")
        retry_after = parse_retry_after(_header(err.resp_headers, "Retry-After"))
        raise _status_error(err.status_code, body, retry_after) from err
    except (websocket.WebSocketException, OSError) as err:
        # ConnectionRefused and TLS failures surface here as OSError subclasses
        if isinstance(err, ConnectionRefusedError):
            raise Unreachable(str(err), reason=type(err).__name__) from err
        raise ConnectionLost(str(err) or type(err).__name__, reason=type(err).__name__) from err
    try:
        deadline = time.monotonic() + timeout
        stdout: list[str] = []
        stderr: list[str] = []
        while client.is_open() and time.monotonic() < deadline:
            client.update(timeout=max(0.0, deadline - time.monotonic()))
            stdout.append(client.read_channel(STDOUT))
            stderr.append(client.read_channel(STDERR))
        if client.is_open():
            raise ExecTimeout(f"the command did not exit within {timeout:g}s", reason="Timeout")
        stdout.append(client.read_channel(STDOUT))
        stderr.append(client.read_channel(STDERR))
        return ExecResult(_exit_code(client.read_channel(ERROR)), "".join(stdout), "".join(stderr))
    except websocket.WebSocketException as err:
        raise ConnectionLost(str(err) or type(err).__name__, reason=type(err).__name__) from err
    finally:
        client.close()
        # close() only says goodbye on a socket it still thinks connected; once the
        # server has closed the stream, shutdown() is what releases the socket
        sock = getattr(client, "sock", None)
        if sock is not None:
            sock.shutdown()


def _header(headers: Any, name: str) -> str | None:
    """A response header by name, whatever its case (websocket-client lowercases them)."""
    for key, value in (headers or {}).items():
        if str(key).lower() == name.lower():
            return str(value)
    return None


def _status_error(status: int, body: str, retry_after: float | None = None) -> KubeError:
    """The error for a refused upgrade: the API Status's reason and message when it sent one."""
    reason, message = "", body.strip()
    try:
        parsed = yaml.safe_load(body) if body.strip().startswith("{") else None
    except yaml.YAMLError:
        parsed = None
    if isinstance(parsed, dict):
        reason = str(parsed.get("reason") or "")
        message = str(parsed.get("message") or message)
    return error_for_status(
        status, reason, message or f"exec refused with HTTP {status}", retry_after
    )


def _exit_code(status_text: str) -> int:
    """The exit code from the error channel's ``metav1.Status``.

    Success is 0; a non-zero exit is ``reason: NonZeroExitCode`` with the code as the
    ``ExitCode`` cause. Anything else there (the container could not run the command) is
    an error of the exec itself.
    """
    if not status_text.strip():
        raise ConnectionLost("the exec stream closed without an exit status", reason="NoStatus")
    status = yaml.safe_load(status_text)
    if not isinstance(status, dict):
        raise ConnectionLost(f"unreadable exec status: {status_text!r}", reason="NoStatus")
    if status.get("status") == "Success":
        return 0
    for cause in (status.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", "1"))
    raise KubeError(
        str(status.get("message") or status_text), reason=str(status.get("reason") or "")
    )
