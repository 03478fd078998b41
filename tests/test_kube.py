"""conformance.kube: retry policy, error mapping, and the facade over a fake HTTP layer."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import urllib3
from kubernetes import client
from urllib3 import exceptions as u3

from conformance import kube
from conformance.kube import (
    RUN_LABEL,
    AlreadyExists,
    ConfigError,
    Conflict,
    ConnectionLost,
    Forbidden,
    Gone,
    Invalid,
    Kube,
    KubeError,
    NotFound,
    RetryPolicy,
    Unauthorized,
    Unreachable,
    call_with_retry,
    create_with_retry,
    kind_of,
    lookup,
    map_error,
    parse_retry_after,
)

NO_JITTER = RetryPolicy(jitter=False)


def api_error(status: int, reason: str = "", message: str = "", headers: Any = None) -> Exception:
    body = json.dumps({"kind": "Status", "code": status, "reason": reason, "message": message})
    err = client.ApiException(status=status, reason=reason or "Error")
    err.body = body
    err.headers = headers
    return err


def reset() -> Exception:
    return u3.ProtocolError("Connection aborted.", ConnectionResetError(104, "reset by peer"))


class Script:
    """A callable that raises or returns the next scripted outcome."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(fn: Callable[[], Any], policy: RetryPolicy = NO_JITTER) -> tuple[Any, Sleeps]:
    sleeps = Sleeps()
    return call_with_retry(fn, policy=policy, what="test", sleep=sleeps), sleeps


# ---------------------------------------------------------------- what retries


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_retryable_statuses_are_retried(status: int) -> None:
    fn = Script(api_error(status), "ok")
    result, sleeps = run(fn)
    assert result == "ok"
    assert fn.calls == 2
    assert len(sleeps) == 1


@pytest.mark.parametrize(
    "error",
    [
        reset(),
        u3.ReadTimeoutError(None, "https://api", "Read timed out."),  # type: ignore[arg-type]
        u3.ConnectTimeoutError("connect timed out"),
        ConnectionResetError(104, "reset"),
        TimeoutError("timed out"),
        u3.MaxRetryError(None, "https://api/x", reason=reset()),  # type: ignore[arg-type]
        u3.MaxRetryError(None, "https://api/x", reason=u3.ReadTimeoutError(None, "u", "t")),  # type: ignore[arg-type]
    ],
    ids=[
        "protocol",
        "read-timeout",
        "connect-timeout",
        "reset",
        "timeout",
        "max-reset",
        "max-read",
    ],
)
def test_dropped_connections_are_retried(error: Exception) -> None:
    fn = Script(error, "ok")
    result, _ = run(fn)
    assert result == "ok"
    assert fn.calls == 2


@pytest.mark.parametrize(
    ("status", "reason", "cls"),
    [
        (400, "BadRequest", KubeError),
        (401, "Unauthorized", Unauthorized),
        (403, "Forbidden", Forbidden),
        (404, "NotFound", NotFound),
        (409, "AlreadyExists", AlreadyExists),
        (409, "Conflict", Conflict),
        (410, "Expired", Gone),
        (422, "Invalid", Invalid),
    ],
)
def test_other_4xx_are_not_retried_and_mapped(
    status: int, reason: str, cls: type[KubeError]
) -> None:
    original = api_error(status, reason, "the server says no")
    fn = Script(original, "never")
    with pytest.raises(cls) as caught:
        run(fn)
    assert type(caught.value) is cls
    assert fn.calls == 1
    assert caught.value.status == status
    assert caught.value.reason == reason
    assert caught.value.message == "the server says no"
    assert caught.value.__cause__ is original


@pytest.mark.parametrize(
    "error",
    [
        u3.NewConnectionError(None, "Connection refused"),  # type: ignore[arg-type]
        u3.NameResolutionError("api.example", None, OSError("no such host")),  # type: ignore[arg-type]
        u3.SSLError("certificate verify failed"),
        u3.MaxRetryError(None, "https://api", reason=u3.NewConnectionError(None, "refused")),  # type: ignore[arg-type]
        ConnectionRefusedError(111, "refused"),
        client.ApiException(status=0, reason="SSLError\nCERTIFICATE_VERIFY_FAILED"),
    ],
    ids=["refused", "dns", "tls", "max-refused", "os-refused", "client-ssl"],
)
def test_unreachable_cluster_is_not_retried(error: Exception) -> None:
    fn = Script(error, "never")
    with pytest.raises(Unreachable):
        run(fn)
    assert fn.calls == 1


def test_other_exceptions_pass_through_untouched() -> None:
    fn = Script(ValueError("a bug"), "never")
    with pytest.raises(ValueError, match="a bug"):
        run(fn)
    assert fn.calls == 1
    assert map_error(ValueError("x")) is None


# ---------------------------------------------------------------- how long


def test_retry_after_is_honoured() -> None:
    fn = Script(api_error(429, "TooManyRequests", headers={"Retry-After": "3"}), "ok")
    _, sleeps = run(fn)
    assert sleeps == [3.0]


def test_retry_after_is_capped() -> None:
    fn = Script(api_error(429, "TooManyRequests", headers={"Retry-After": "120"}), "ok")
    _, sleeps = run(fn, RetryPolicy(jitter=False, retry_after_max=7.0, max_seconds=60))
    assert sleeps == [7.0]


def test_retry_after_http_date() -> None:
    now = datetime(2024, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 01 Jan 2024 12:00:05 GMT", now=now) == 5.0
    assert parse_retry_after("Mon, 01 Jan 2024 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_attempts_are_bounded() -> None:
    fn = Script(*[api_error(503, "ServiceUnavailable")] * 10)
    with pytest.raises(KubeError) as caught:
        run(fn, RetryPolicy(attempts=4, jitter=False))
    assert caught.value.status == 503
    assert fn.calls == 4


def test_total_time_is_bounded() -> None:
    # The coming wait (10 s, from Retry-After) would pass max_seconds: no retry starts.
    fn = Script(api_error(429, headers={"Retry-After": "10"}), "ok")
    with pytest.raises(KubeError):
        run(fn, RetryPolicy(max_seconds=5.0, retry_after_max=30.0, jitter=False))
    assert fn.calls == 1


def test_backoff_doubles_up_to_the_cap() -> None:
    fn = Script(*[api_error(500)] * 6)
    policy = RetryPolicy(attempts=6, backoff_base=0.5, backoff_max=3.0, jitter=False)
    sleeps = Sleeps()
    with pytest.raises(KubeError):
        call_with_retry(fn, policy=policy, what="test", sleep=sleeps)
    assert fn.calls == 6
    assert sleeps == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [policy.delay(n, None) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_connection_still_dropped_after_the_last_try_is_connection_lost() -> None:
    first = reset()
    fn = Script(first, reset(), reset())
    with pytest.raises(ConnectionLost) as caught:
        run(fn, RetryPolicy(attempts=3, jitter=False))
    assert fn.calls == 3
    assert caught.value.status is None
    assert caught.value.reason == "ProtocolError"
    assert isinstance(caught.value.__cause__, u3.ProtocolError)


def test_jitter_stays_within_half_to_full_backoff() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    for attempt in range(1, 6):
        full = min(8.0, 2 ** (attempt - 1))
        assert full / 2 <= policy.delay(attempt, None) <= full


def test_default_policy_is_bounded() -> None:
    policy = RetryPolicy()
    assert policy.attempts <= 6
    assert policy.max_seconds <= 60


def test_retries_log_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG", logger="conformance.kube")
    run(Script(api_error(503), "ok"))
    assert any("retrying" in r.message and r.levelname == "DEBUG" for r in caplog.records)


# ---------------------------------------------------------------- create after a reset


def labelled(run_id: str) -> dict[str, Any]:
    return {"kind": "Namespace", "metadata": {"name": "ns", "labels": {RUN_LABEL: run_id}}}


def create(post: Script, existing: dict[str, Any] | None, run_id: str | None = "sc-1") -> Any:
    fetched: list[bool] = []

    def fetch() -> dict[str, Any] | None:
        fetched.append(True)
        return existing

    result = create_with_retry(
        post, fetch, run=run_id, policy=NO_JITTER, what="create", sleep=lambda _: None
    )
    return result, fetched


def test_create_after_reset_finds_its_own_object() -> None:
    post = Script(reset(), api_error(409, "AlreadyExists"))
    result, fetched = create(post, labelled("sc-1"))
    assert result == labelled("sc-1")
    assert fetched == [True]


def test_create_after_reset_refuses_a_strangers_object() -> None:
    post = Script(reset(), api_error(409, "AlreadyExists"))
    with pytest.raises(AlreadyExists):
        create(post, labelled("sc-other"))


def test_create_after_reset_refuses_an_unlabelled_object() -> None:
    post = Script(reset(), api_error(409, "AlreadyExists"))
    with pytest.raises(AlreadyExists):
        create(post, {"kind": "Namespace", "metadata": {"name": "ns"}})


def test_create_already_exists_on_first_try_is_an_error() -> None:
    post = Script(api_error(409, "AlreadyExists"))
    with pytest.raises(AlreadyExists):
        create(post, labelled("sc-1"))


def test_create_after_throttling_only_is_an_error() -> None:
    # A 429 means the server did nothing: AlreadyExists afterwards is someone else's.
    post = Script(api_error(429), api_error(409, "AlreadyExists"))
    with pytest.raises(AlreadyExists):
        create(post, labelled("sc-1"))


def test_create_without_run_label_is_an_error() -> None:
    post = Script(reset(), api_error(409, "AlreadyExists"))
    with pytest.raises(AlreadyExists):
        create(post, labelled("sc-1"), run_id=None)


# ---------------------------------------------------------------- kinds


def test_kinds_registry() -> None:
    for name in (
        "Namespace",
        "Pod",
        "PersistentVolumeClaim",
        "PersistentVolume",
        "Event",
        "Node",
        "StorageClass",
        "CSIDriver",
        "CSINode",
        "VolumeSnapshot",
        "VolumeSnapshotContent",
        "VolumeSnapshotClass",
        "CustomResourceDefinition",
        "ServiceAccount",
        "VolumeGroupSnapshot",
        "VolumeGroupSnapshotContent",
        "VolumeGroupSnapshotClass",
    ):
        assert lookup(name).kind == name
    snap = lookup("VolumeSnapshot")
    assert (snap.api_version, snap.plural, snap.namespaced, snap.custom) == (
        "snapshot.storage.k8s.io/v1",
        "volumesnapshots",
        True,
        True,
    )
    assert lookup("persistentvolumes").kind == "PersistentVolume"
    assert lookup("CustomResourceDefinition").api_version == "apiextensions.k8s.io/v1"
    assert lookup("Pod").path("ns", "p") == "/api/v1/namespaces/ns/pods/p"
    assert lookup("StorageClass").path() == "/apis/storage.k8s.io/v1/storageclasses"
    with pytest.raises(KeyError):
        lookup("Deployment")


def test_kind_of_checks_api_version() -> None:
    assert kind_of({"kind": "Pod", "apiVersion": "v1"}).plural == "pods"
    with pytest.raises(ValueError, match="v1beta1"):
        kind_of({"kind": "VolumeSnapshot", "apiVersion": "snapshot.storage.k8s.io/v1beta1"})
    with pytest.raises(ValueError, match="no kind"):
        kind_of({})


# ---------------------------------------------------------------- the facade over fake HTTP


class Raw(io.RawIOBase):
    """A response body that hands out chunks, or raises one (a dropped connection).

    Like ``http.client.HTTPResponse`` it closes itself once the body is used up: urllib3's
    ``stream()`` reads until its file object says it is closed, so a body that kept
    answering ``b""`` without closing would make it spin forever.
    """

    def __init__(self, chunks: list[Any]) -> None:
        self.chunks = chunks

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if not self.chunks:
            self.close()
            return b""
        chunk = self.chunks.pop(0)
        if isinstance(chunk, BaseException):
            raise chunk
        return bytes(chunk)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class FakePool:
    """Stands in for urllib3's PoolManager under a real ApiClient: scripted replies.

    A reply is an exception to raise, or ``(status, body)`` or ``(status, body, headers)``;
    a body is a JSON value, or a list of byte chunks (and exceptions) sent as they are.
    """

    def __init__(self, replies: list[Any]) -> None:
        self.replies = replies
        self.requests: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
        self.requests.append({"method": method, "url": url, **kwargs})
        reply = self.replies.pop(0)
        if isinstance(reply, BaseException):
            raise reply
        status, body, *extra = reply
        chunks = body if isinstance(body, list) else [json.dumps(body).encode()]
        headers = {"Content-Type": "application/json", **(extra[0] if extra else {})}
        return urllib3.HTTPResponse(
            body=Raw(list(chunks)),
            status=status,
            headers=headers,
            preload_content=False,
        )

    def clear(self) -> None:
        pass


def fake_kube(
    *replies: Any, sleep: Callable[[float], None] = lambda _: None
) -> tuple[Kube, FakePool]:
    configuration = client.Configuration(host="https://cluster.test")
    api = client.ApiClient(configuration)
    pool = FakePool(list(replies))
    api.rest_client.pool_manager = pool  # type: ignore[assignment]
    return Kube(api_client=api, policy=NO_JITTER, sleep=sleep), pool


def status(code: int, reason: str, message: str = "") -> dict[str, Any]:
    return {"kind": "Status", "code": code, "reason": reason, "message": message}


def test_list_core_kind_fills_in_kind_and_pages() -> None:
    k, pool = fake_kube(
        (
            200,
            {
                "metadata": {"resourceVersion": "7", "continue": "t"},
                "items": [{"metadata": {"name": "a"}}],
            },
        ),
        (200, {"metadata": {"resourceVersion": "8"}, "items": [{"metadata": {"name": "b"}}]}),
    )
    items, rv = k.list("PersistentVolumeClaim", "ns1", field_selector="metadata.name=a")
    assert rv == "7"
    assert [i["metadata"]["name"] for i in items] == ["a", "b"]
    assert items[0]["kind"] == "PersistentVolumeClaim"
    assert items[0]["apiVersion"] == "v1"
    first, second = pool.requests
    assert first["url"].startswith(
        "https://cluster.test/api/v1/namespaces/ns1/persistentvolumeclaims?"
    )
    assert "fieldSelector=metadata.name%3Da" in first["url"]
    assert "continue=t" in second["url"]


def test_snapshot_kinds_go_through_custom_objects_api() -> None:
    k, pool = fake_kube(
        (200, {"kind": "VolumeSnapshotContent", "metadata": {"name": "c"}}),
        (200, {"kind": "VolumeSnapshotContent", "metadata": {"name": "c"}}),
        (200, {"kind": "VolumeSnapshot", "metadata": {"name": "s", "namespace": "ns"}}),
    )
    assert k.get("VolumeSnapshotContent", "c")["metadata"]["name"] == "c"
    k.patch("VolumeSnapshotContent", "c", None, {"spec": {"deletionPolicy": "Delete"}})
    k.create(
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "metadata": {"name": "s", "namespace": "ns"},
        }
    )
    get, patch, post = pool.requests
    base = "https://cluster.test/apis/snapshot.storage.k8s.io/v1"
    assert get["url"] == f"{base}/volumesnapshotcontents/c"
    assert patch["method"] == "PATCH"
    assert patch["headers"]["Content-Type"] == "application/merge-patch+json"
    assert json.loads(patch["body"]) == {"spec": {"deletionPolicy": "Delete"}}
    assert post["method"] == "POST"
    assert post["url"] == f"{base}/namespaces/ns/volumesnapshots"


def test_errors_from_the_server_are_mapped() -> None:
    k, _ = fake_kube(
        (404, status(404, "NotFound", 'pods "p" not found')), (404, status(404, "NotFound"))
    )
    with pytest.raises(NotFound, match='pods "p" not found'):
        k.get("Pod", "p", "ns")
    assert k.get_or_none("Pod", "p", "ns") is None


def test_server_errors_are_retried_through_the_client() -> None:
    k, pool = fake_kube((503, status(503, "ServiceUnavailable")), reset(), (200, {"kind": "Node"}))
    assert k.get("Node", "n1")["kind"] == "Node"
    assert len(pool.requests) == 3


def test_throttling_through_the_client_waits_for_retry_after() -> None:
    sleeps = Sleeps()
    throttled = (429, status(429, "TooManyRequests"), {"Retry-After": "4"})
    k, pool = fake_kube(throttled, (200, {"kind": "Node"}), sleep=sleeps)
    assert k.get("Node", "n1")["kind"] == "Node"
    assert len(pool.requests) == 2
    assert sleeps == [4.0]


def test_client_errors_through_the_client_are_not_retried() -> None:
    k, pool = fake_kube((403, status(403, "Forbidden", "RBAC says no")), (200, {"kind": "Node"}))
    with pytest.raises(Forbidden, match="RBAC says no"):
        k.get("Node", "n1")
    assert len(pool.requests) == 1


def test_kube_create_after_reset_returns_own_object() -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "ns", "labels": {RUN_LABEL: "sc-1"}},
    }
    k, pool = fake_kube(reset(), (409, status(409, "AlreadyExists")), (200, obj))
    assert k.create(obj) == obj
    assert [r["method"] for r in pool.requests] == ["POST", "POST", "GET"]


def test_delete_missing_ok_and_propagation() -> None:
    k, pool = fake_kube((404, status(404, "NotFound")), (404, status(404, "NotFound")))
    k.delete("PersistentVolume", "pv1")
    assert "propagationPolicy=Background" in pool.requests[0]["url"]
    with pytest.raises(NotFound):
        k.delete("PersistentVolume", "pv1", missing_ok=False)


def test_namespaced_kind_needs_a_namespace() -> None:
    k, _ = fake_kube()
    with pytest.raises(ValueError, match="namespaced"):
        k.get("Pod", "p")


def lines(*events: dict[str, Any]) -> list[bytes]:
    return [json.dumps(e).encode() + b"\n" for e in events]


def test_watch_streams_events_with_both_timeouts() -> None:
    added = {"type": "ADDED", "object": {"metadata": {"name": "s"}}}
    bookmark = {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "12"}}}
    k, pool = fake_kube((200, lines(added, bookmark)))
    events = list(
        k.watch(
            "VolumeSnapshot",
            "ns",
            resource_version="10",
            field_selector="metadata.name=s",
            timeout_seconds=29.5,
        )
    )
    assert events == [("ADDED", added["object"]), ("BOOKMARK", bookmark["object"])]
    request = pool.requests[0]
    assert "watch=true" in request["url"]
    assert "resourceVersion=10" in request["url"]
    assert "timeoutSeconds=30" in request["url"]
    assert request["timeout"].read_timeout > 30


def test_watch_error_event_410_raises_gone() -> None:
    expired = {"type": "ERROR", "object": status(410, "Expired", "too old resource version")}
    k, _ = fake_kube((200, lines(expired)))
    with pytest.raises(Gone, match="too old"):
        list(k.watch("Pod", "ns", resource_version="1", timeout_seconds=5))


def test_watch_ends_quietly_when_the_connection_drops() -> None:
    added = {"type": "ADDED", "object": {"metadata": {"name": "p"}}}
    k, _ = fake_kube((200, [*lines(added), ConnectionResetError(104, "reset")]))
    assert list(k.watch("Pod", "ns", resource_version="1", timeout_seconds=5)) == [
        ("ADDED", added["object"])
    ]


def test_events_for_selects_and_sorts() -> None:
    late = {"reason": "B", "lastTimestamp": "2024-01-01T00:00:09Z", "metadata": {"name": "e2"}}
    early = {"reason": "A", "eventTime": "2024-01-01T00:00:01.500000Z", "metadata": {"name": "e1"}}
    k, pool = fake_kube(
        (200, {"metadata": {"resourceVersion": "1"}, "items": [late, early]}), (200, {"items": []})
    )
    assert [e["reason"] for e in k.events_for("VolumeSnapshot", "s", "ns")] == ["A", "B"]
    url = pool.requests[0]["url"]
    assert url.startswith("https://cluster.test/api/v1/namespaces/ns/events?")
    assert "involvedObject.kind%3DVolumeSnapshot" in url
    assert "involvedObject.name%3Ds" in url
    k.events_for("PersistentVolume", "pv1", None)
    assert pool.requests[1]["url"].startswith("https://cluster.test/api/v1/events?")


def test_pod_log_reads_text_with_container_and_tail() -> None:
    k, pool = fake_kube((200, [b"line 1\nline 2 \xff\n"]))
    assert k.pod_log("p", "ns", "main", tail_lines=50) == "line 1\nline 2 \ufffd\n"
    request = pool.requests[0]
    assert request["method"] == "GET"
    assert request["url"] == (
        "https://cluster.test/api/v1/namespaces/ns/pods/p/log?container=main&tailLines=50"
    )
    assert request["headers"]["Accept"] == "*/*"


def test_pod_log_defaults_and_whole_log() -> None:
    k, pool = fake_kube((200, [b"a\n"]), (200, [b"b\n"]))
    assert k.pod_log("p", "ns") == "a\n"
    assert pool.requests[0]["url"].endswith("/pods/p/log?tailLines=500")
    assert k.pod_log("p", "ns", tail_lines=None, previous=True) == "b\n"
    assert pool.requests[1]["url"].endswith("/pods/p/log?previous=true")


def test_pod_log_since_and_timestamps_for_a_time_window() -> None:
    k, pool = fake_kube((200, [b"2025-06-01T10:15:02.123456789Z a\n"]), (200, [b""]))
    text = k.pod_log("p", "ns", "c", tail_lines=600, since_seconds=42, timestamps=True)
    assert text == "2025-06-01T10:15:02.123456789Z a\n"
    assert pool.requests[0]["url"].endswith(
        "/pods/p/log?container=c&tailLines=600&sinceSeconds=42&timestamps=true"
    )
    k.pod_log("p", "ns", since_seconds=0)  # the API refuses 0: at least one second
    assert pool.requests[1]["url"].endswith("/pods/p/log?tailLines=500&sinceSeconds=1")


def test_pod_log_of_a_missing_pod_is_empty() -> None:
    k, pool = fake_kube((404, status(404, "NotFound", 'pods "p" not found')))
    assert k.pod_log("p", "ns", "main") == ""
    assert len(pool.requests) == 1


def test_pod_log_retries_and_raises_other_errors() -> None:
    waiting = status(400, "BadRequest", 'container "main" is waiting to start')
    k, pool = fake_kube((503, status(503, "ServiceUnavailable")), (200, [b"ok\n"]), (400, waiting))
    assert k.pod_log("p", "ns", "main") == "ok\n"
    assert len(pool.requests) == 2
    with pytest.raises(KubeError, match="waiting to start") as caught:
        k.pod_log("p", "ns", "main")
    assert caught.value.status == 400
    assert len(pool.requests) == 3


def test_server_version() -> None:
    k, pool = fake_kube((200, {"major": "1", "minor": "33"}))
    assert k.server_version()["minor"] == "33"
    assert pool.requests[0]["url"] == "https://cluster.test/version"


def test_missing_kubeconfig_is_a_config_error(tmp_path: Any) -> None:
    with pytest.raises(ConfigError, match="kubeconfig"):
        Kube(tmp_path / "nope")


def test_kube_module_satisfies_protocol() -> None:
    k: kube.KubeAPI = fake_kube()[0]
    assert k is not None
