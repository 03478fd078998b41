"""Component logs in a failed test's diagnostics: time windows, size bounds, redaction.

No cluster: the testbed side reads log files written here; the pod side uses the
in-memory API of ``tests/fakes.py`` (with label selectors and container logs added), and
once the real :class:`conformance.kube.Kube` over the fake HTTP layer of
``tests/test_kube.py``, routed by URL, to see the query a pod-log read sends.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3
from fakes import FakeKube
from kubernetes import client
from test_kube import NO_JITTER, FakePool, status

from conformance import diagnostics
from conformance.diagnostics import (
    LOG_WINDOW_MARGIN,
    MAX_COMPONENT_LOG_BYTES,
    MAX_COMPONENT_LOG_LINES,
    REDACTED,
    TESTBED_HOST,
    Window,
    bound,
    collect,
    component_logs,
    line_time,
    read_since,
    redact_text,
    window_lines,
)
from conformance.kube import Forbidden, Kube
from conformance.profile import PodSelector

# a fixed local time, far from a new year, and one just after it
NOW = datetime(2025, 6, 1, 10, 15, 30).timestamp()
NEW_YEAR = datetime(2026, 1, 1, 0, 0, 5).timestamp()


def klog(when: float, text: str, level: str = "I") -> str:
    stamp = datetime.fromtimestamp(when)
    return f"{level}{stamp:%m%d %H:%M:%S.%f}   4242 controller.go:42] {text}"


def golog(when: float, text: str) -> str:
    return f"{datetime.fromtimestamp(when):%Y/%m/%d %H:%M:%S.%f} {text}"


def interposer(when: float, text: str) -> str:
    return f"{datetime.fromtimestamp(when):%Y-%m-%dT%H:%M:%S} interposer: {text}"


def podline(when: float, text: str) -> str:
    stamp = datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return f"{stamp}123Z {text}"


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (klog(NOW, "sync"), NOW),
        (klog(NOW + 0.25, "x", level="E"), NOW + 0.25),
        (golog(NOW + 0.5, "hostpathplugin: serving"), NOW + 0.5),
        (interposer(NOW, "fault -: CreateSnapshot: ok"), NOW),
        (f"==> {datetime.fromtimestamp(NOW):%Y-%m-%dT%H:%M:%S} /bin/csi-provisioner -v=3", NOW),
        (podline(NOW + 0.123456, "I0601 whatever"), NOW + 0.123456),
        ("2025-06-01T10:15:30+02:00 with an offset", datetime.fromisoformat(
            "2025-06-01T10:15:30+02:00").timestamp()),
    ],
    ids=["klog", "klog-error", "go-log", "interposer", "start-marker", "pod-rfc3339", "offset"],
)  # fmt: skip
def test_line_time_reads_each_format(line: str, expected: float) -> None:
    got = line_time(line, NOW)
    assert got == pytest.approx(expected, abs=1e-3)


@pytest.mark.parametrize(
    "line",
    [
        "",
        "goroutine 1 [running]:",
        "\tmain.go:12 +0x1f",
        "Traceback (most recent call last):",
        "I1399 10:00:00.000000 1 x.go:1] no such month",
        "2025-06-01 and some prose",
        "sha256=abc size=12",
    ],
)
def test_line_time_none_without_a_stamp(line: str) -> None:
    assert line_time(line, NOW) is None


def test_klog_year_is_the_one_nearest_the_window() -> None:
    # a December line read in the first seconds of January belongs to the year before
    december = datetime(2025, 12, 31, 23, 59, 58).timestamp()
    assert line_time(klog(december, "late"), NEW_YEAR) == pytest.approx(december)
    assert line_time(klog(NEW_YEAR, "early"), december) == pytest.approx(NEW_YEAR)


# ---------------------------------------------------------------- window cutting


def test_window_keeps_stamped_lines_inside_and_their_continuations() -> None:
    window = Window(NOW, NOW + 10)
    lines = [
        "continuation of a line from before the file's tail",  # dropped: time unknown
        klog(NOW - 5, "before"),
        "  detail of before",
        klog(NOW, "at the start"),  # the bounds are inside
        "panic: boom",
        "goroutine 1 [running]:",
        golog(NOW + 5, "go log inside"),
        klog(NOW + 10, "at the end"),
        klog(NOW + 10.001, "after"),
        "  detail of after",
    ]
    assert window_lines(lines, window) == [
        klog(NOW, "at the start"),
        "panic: boom",
        "goroutine 1 [running]:",
        golog(NOW + 5, "go log inside"),
        klog(NOW + 10, "at the end"),
    ]


def test_window_widened() -> None:
    window = Window(NOW, NOW + 10).widened(2)
    assert (window.start, window.end) == (NOW - 2, NOW + 12)
    assert NOW - 2 in window
    assert NOW + 12.5 not in window
    assert "x" not in window


def test_bound_keeps_the_last_lines_within_both_limits() -> None:
    lines = [f"line {i}" for i in range(1000)]
    assert bound(lines, max_lines=10, max_bytes=10_000) == lines[-10:]
    kept = bound(lines, max_lines=1000, max_bytes=100)
    assert kept == lines[-11:]  # "line 9xx\n" is 9 bytes: 11 fit in 100
    assert sum(len(line) + 1 for line in kept) <= 100
    assert bound([], max_lines=5, max_bytes=5) == []


def test_bound_keeps_the_end_of_one_huge_line() -> None:
    [kept] = bound(["a" * 50 + "THE END"], max_lines=5, max_bytes=20)
    assert kept.startswith("... ")
    assert kept.endswith("THE END")
    assert len(kept.encode()) <= 20


# ---------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("line", "hidden", "kept"),
    [
        ("--token=abc123 --v=3", "abc123", "--token=<redacted> --v=3"),
        ('GRPC request: {"password":"hunter2","name":"pv-1"}', "hunter2", '"name":"pv-1"'),
        ('params: {"apiKey": "k 1 2", "pool": "gold"}', "k 1 2", '"pool": "gold"'),
        ("Authorization: Bearer eyJhbGciOi.x.y", "eyJhbGciOi", "Bearer <redacted>"),
        ("client_secret: s3cr3t, retry", "s3cr3t", ", retry"),
        ("map[secrets:map[user:pw]]", "user:pw", "secrets:<redacted>"),
        (r"{\"token\":\"abc\"}", "abc", r"\"token\":\"<redacted>\""),
    ],
)
def test_redact_text_hides_secret_values(line: str, hidden: str, kept: str) -> None:
    got = redact_text(line)
    assert hidden not in got
    assert kept in got
    assert REDACTED in got


def test_redact_text_keeps_references_and_plain_lines() -> None:
    line = (
        "csi.storage.k8s.io/snapshotter-secret-name=creds "
        "csi.storage.k8s.io/snapshotter-secret-namespace: ns secretRef: {name: creds}"
    )
    assert redact_text(line) == line
    plain = klog(NOW, 'CreateSnapshot "snap-1" ready, size=1Gi')
    assert redact_text(plain) == plain


def test_redact_text_hides_private_key_blocks() -> None:
    text = (
        "before\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\nabc\n-----END RSA PRIVATE KEY-----\nafter"
    )
    got = redact_text(text)
    assert "MIIE" not in got
    assert got.startswith("before\n")
    assert got.endswith("\nafter")


# ---------------------------------------------------------------- testbed host log files


def write_log(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_read_since_reads_back_only_as_far_as_needed(tmp_path: Path) -> None:
    old = [klog(NOW - 3600 + i, f"old {i} " + "x" * 100) for i in range(3000)]
    new = [klog(NOW + i, f"new {i}") for i in range(10)]
    path = write_log(tmp_path / "big.log", old + new)
    text, complete = read_since(path, NOW, around=NOW)
    assert complete
    assert len(text.encode()) < 600 * 1024  # not the whole file
    assert text.splitlines()[-10:] == new
    assert not text.startswith("I") or line_time(text.splitlines()[0], NOW) is not None
    # a scan limit that ends before the window's start says so
    text, complete = read_since(path, NOW - 3600, around=NOW, max_bytes=4096)
    assert not complete
    assert len(text.encode()) <= 4096
    assert line_time(text.splitlines()[0], NOW) is not None  # no partial first line


def test_host_logs_are_cut_to_the_window_and_marked_as_components(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    start, end = NOW, NOW + 30
    write_log(
        logs / "csi-provisioner.log",
        [
            f"==> {datetime.fromtimestamp(NOW - 600):%Y-%m-%dT%H:%M:%S} csi-provisioner --v=3",
            klog(start - LOG_WINDOW_MARGIN - 1, "too early"),
            klog(start - LOG_WINDOW_MARGIN + 0.5, "in the margin"),
            klog(start + 1, "provisioning pvc-1 with --token=abc"),
            "  continued",
            klog(end + LOG_WINDOW_MARGIN + 1, "too late"),
        ],
    )
    write_log(logs / "csi-interposer.log", [interposer(start + 2, "fault -: CreateVolume")])
    host_logs = {
        "csi-provisioner": logs / "csi-provisioner.log",
        "csi-interposer": logs / "csi-interposer.log",
        "csi-snapshotter": logs / "csi-snapshotter.log",  # never written
    }
    kube: Any = object()  # the testbed path never asks the API
    entries = component_logs(kube, Window(start, end), host_logs=host_logs)
    by_name = {e["container"]: e for e in entries}
    assert list(by_name) == ["csi-provisioner", "csi-interposer", "csi-snapshotter"]
    assert all(e["pod"] == TESTBED_HOST and e["component"] for e in entries)
    provisioner = by_name["csi-provisioner"]["text"]
    assert provisioner.startswith(f"# csi-provisioner: {logs / 'csi-provisioner.log'}\n# window: ")
    assert "in the margin" in provisioner
    assert "provisioning pvc-1 with --token=<redacted>" in provisioner
    assert "  continued" in provisioner
    assert "too early" not in provisioner
    assert "too late" not in provisioner
    assert "csi-provisioner --v=3" not in provisioner
    assert "earlier ones are cut" not in provisioner
    assert "fault -: CreateVolume" in by_name["csi-interposer"]["text"]
    snapshotter = by_name["csi-snapshotter"]["text"]
    assert "logs unavailable: No such file or directory" in snapshotter
    assert str(logs / "csi-snapshotter.log") in snapshotter


def test_a_long_window_is_bounded_and_says_it_was_cut(tmp_path: Path) -> None:
    lines = [klog(NOW + i / 100, f"line {i} " + "y" * 40) for i in range(2000)]
    path = write_log(tmp_path / "snapshot-controller.log", lines)
    [entry] = component_logs(
        object(),  # type: ignore[arg-type]
        Window(NOW, NOW + 30),
        host_logs={"snapshot-controller": path},
    )
    text = entry["text"]
    assert f"# 2000 lines in the window, the last {MAX_COMPONENT_LOG_LINES} kept" in text
    assert "earlier ones are cut" in text
    assert len(text.encode()) <= MAX_COMPONENT_LOG_BYTES + 1024  # the header is small
    assert text.rstrip().endswith(lines[-1])
    assert "line 0 " not in text


def test_an_empty_window_says_so(tmp_path: Path) -> None:
    path = write_log(tmp_path / "csi-resizer.log", [klog(NOW - 3600, "idle")])
    [entry] = component_logs(
        object(),  # type: ignore[arg-type]
        Window(NOW, NOW + 5),
        host_logs={"csi-resizer": path},
    )
    assert "# no line in the window" in entry["text"]
    assert "idle" not in entry["text"]


# ---------------------------------------------------------------- pods, through a fake API


class RoutedPool(FakePool):
    """The fake HTTP layer of test_kube, answering by route instead of in call order.

    ``routes`` maps (path, labelSelector or None) to a reply; a log route's reply may be
    a callable of the query (to see ``sinceSeconds``).
    """

    def __init__(self, routes: dict[tuple[str, str | None], Any]) -> None:
        super().__init__([])
        self.routes = routes

    def request(self, method: str, url: str, **kwargs: Any) -> urllib3.HTTPResponse:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        key = (parts.path, query.get("labelSelector"))
        reply = self.routes.get(key, (404, status(404, "NotFound", f"no route {key}")))
        self.replies = [reply(query) if callable(reply) else reply]
        return super().request(method, url, **kwargs)


def routed_kube(routes: dict[tuple[str, str | None], Any]) -> tuple[Kube, RoutedPool]:
    api = client.ApiClient(client.Configuration(host="https://cluster.test"))
    pool = RoutedPool(routes)
    api.rest_client.pool_manager = pool  # type: ignore[assignment]
    return Kube(api_client=api, policy=NO_JITTER, sleep=lambda _: None), pool


def pod(namespace: str, name: str, node: str, *containers: str, **extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"nodeName": node, "containers": [{"name": c, "image": c} for c in containers]},
        **extra,
    }


def pod_list(*pods: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    return 200, {"metadata": {"resourceVersion": "1"}, "items": list(pods)}


def log_reply(*lines: str) -> tuple[int, list[bytes]]:
    return 200, [("\n".join(lines) + "\n").encode()]


def test_pod_logs_of_driver_pods_and_snapshot_controller() -> None:
    start = time.time() - 20
    end = time.time()
    window = Window(start, end)
    csi = "/api/v1/namespaces/csi/pods"
    controller_pod = pod("kube-system", "snapshot-controller-0", "n2", "snapshot-controller")
    seen: list[dict[str, str]] = []

    def provisioner(query: dict[str, str]) -> Any:
        seen.append(query)
        return log_reply(
            podline(start - 60, "old"),
            podline(start + 1, "CreateVolume with password=hunter2"),
            podline(end, "last"),
        )

    routes: dict[tuple[str, str | None], Any] = {
        (csi, "app=my-csi"): pod_list(
            pod("csi", "csi-node-other", "n9", "node-driver-registrar"),
            pod(
                "csi",
                "csi-plugin-0",
                "n1",
                "csi-provisioner",
                "csi-snapshotter",
                status={
                    "containerStatuses": [
                        {
                            "name": "csi-snapshotter",
                            "lastState": {
                                "terminated": {
                                    "finishedAt": datetime.fromtimestamp(start + 5, UTC)
                                    .isoformat()
                                    .replace("+00:00", "Z")
                                }
                            },
                        }
                    ]
                },
            ),
        ),
        (f"{csi}/csi-plugin-0/log", None): provisioner,
        (
            "/api/v1/pods",
            "app.kubernetes.io/name=snapshot-controller",
        ): pod_list(controller_pod),
        ("/api/v1/pods", "app=snapshot-controller"): pod_list(controller_pod),  # deduplicated
        ("/api/v1/namespaces/kube-system/pods/snapshot-controller-0/log", None): (
            403,
            status(403, "Forbidden", 'pods "snapshot-controller-0" is forbidden'),
        ),
        (f"{csi}/csi-node-other/log", None): log_reply(podline(start + 2, "registered")),
    }
    kube, pool = routed_kube(routes)
    entries = component_logs(
        kube,
        window,
        driver_pods=[PodSelector("csi", "app=my-csi")],
        clock_skew=5.0,
        nodes={"n1"},
    )
    labels = [(e["pod"], e["container"]) for e in entries]
    # the pod on the test's node first; a restarted container's previous run too
    assert labels == [
        ("csi/csi-plugin-0", "csi-provisioner"),
        ("csi/csi-plugin-0", "csi-snapshotter"),
        ("csi/csi-plugin-0", "csi-snapshotter (previous run)"),
        ("csi/csi-node-other", "node-driver-registrar"),
        ("kube-system/snapshot-controller-0", "snapshot-controller"),
    ]
    assert all(e["component"] for e in entries)
    first = entries[0]["text"]
    assert "CreateVolume with password=<redacted>" in first
    assert "hunter2" not in first
    assert "last" in first
    assert "old" not in first
    assert "the node's clock" in first
    # every container: sinceSeconds covering the window and its margins, timestamps on
    query = seen[0]
    assert query["container"] == "csi-provisioner"
    assert query["timestamps"] == "true"
    since = int(query["sinceSeconds"])
    assert end - start + LOG_WINDOW_MARGIN + 5 <= since <= end - start + LOG_WINDOW_MARGIN + 5 + 3
    assert int(query["tailLines"]) >= MAX_COMPONENT_LOG_LINES
    assert seen[2]["previous"] == "true"
    denied = entries[-1]["text"]
    assert "logs unavailable: " in denied
    assert "pods/log" in denied  # says which permission
    assert all(r["method"] == "GET" for r in pool.requests)


class LogKube(FakeKube):
    """The in-memory API of ``tests/fakes.py``, with container logs and refusals.

    ``logs`` maps ``namespace/pod/container`` to its log text; ``refuse`` makes listing
    pods (``"list"``) or reading logs (``"log"``) a 403, as a narrower role would.
    """

    def __init__(self, *pods: dict[str, Any], refuse: frozenset[str] = frozenset()) -> None:
        super().__init__()
        self.logs: dict[str, str] = {}
        self.log_calls: list[tuple[str, dict[str, Any]]] = []
        self.refuse = refuse
        for item in pods:
            self.put({"kind": "Pod", "apiVersion": "v1", **item})

    def list(
        self,
        kind: Any,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        if "list" in self.refuse:
            raise Forbidden("pods is forbidden: cannot list pods", status=403)
        return super().list(kind, namespace, label_selector, field_selector)

    def pod_log(self, name: str, namespace: str, container: str | None = None, **kw: Any) -> str:
        key = f"{namespace}/{name}/{container}"
        self.log_calls.append((key, kw))
        if "log" in self.refuse:
            raise Forbidden(f'pods "{name}" is forbidden: cannot get pods/log', status=403)
        return self.logs.get(key, "")


def labelled(labels: dict[str, str], item: dict[str, Any]) -> dict[str, Any]:
    item["metadata"]["labels"] = labels
    return item


def test_driver_pods_that_match_nothing_and_a_controller_found_by_image() -> None:
    kube = LogKube(
        labelled({"app": "web"}, pod("default", "web", "n1", "nginx")),
        pod("storage", "snap-ctrl-1", "n1", "snapshot-controller"),  # no well-known label
    )
    kube.logs["storage/snap-ctrl-1/snapshot-controller"] = podline(time.time() - 1, "ready")
    entries = component_logs(
        kube, Window(time.time() - 10, time.time()), driver_pods=[PodSelector("csi", "app=typo")]
    )
    assert [(e["pod"], e["container"]) for e in entries] == [
        ("csi (app=typo)", "-"),
        ("storage/snap-ctrl-1", "snapshot-controller"),
    ]
    assert "no pod in namespace csi matches 'app=typo'" in entries[0]["text"]
    assert "ready" in entries[1]["text"]


def test_controller_found_by_either_label_once() -> None:
    kube = LogKube(
        labelled({"app.kubernetes.io/name": "snapshot-controller"}, pod("ks", "new", "n1", "c")),
        labelled({"app": "snapshot-controller"}, pod("ks", "old", "n2", "c")),
        labelled({"app": "snapshot-controller", "app.kubernetes.io/name": "snapshot-controller"},
                 pod("ks", "both", "n3", "c")),
        labelled({"app": "csi-snapshotter"}, pod("ks", "sidecar", "n3", "csi-snapshotter")),
    )  # fmt: skip
    entries = component_logs(kube, Window(NOW, NOW + 1))
    assert sorted(e["pod"] for e in entries[1:]) == ["ks/both", "ks/new", "ks/old"]


def test_no_driver_pods_and_no_list_permission_are_lines_not_errors() -> None:
    kube = LogKube(refuse=frozenset({"list"}))
    entries = component_logs(kube, Window(NOW, NOW + 1))
    assert [(e["pod"], e["container"]) for e in entries] == [
        ("driver pods", "-"),
        ("snapshot-controller", "-"),
    ]
    assert "the profile names no driverPods" in entries[0]["text"]
    assert entries[1]["text"].startswith("logs unavailable: ")
    assert "cannot list pods" in entries[1]["text"]
    assert "manifests/rbac/clusterrole.yaml" in entries[1]["text"]


def test_without_pods_log_permission_each_container_says_so() -> None:
    kube = LogKube(
        labelled({"app": "x"}, pod("csi", "plugin-0", "n1", "csi-provisioner", "driver")),
        refuse=frozenset({"log"}),
    )
    entries = component_logs(kube, Window(NOW, NOW + 1), driver_pods=[PodSelector("csi", "app=x")])
    texts = [e["text"] for e in entries if e["pod"] == "csi/plugin-0"]
    assert len(texts) == 2
    for text in texts:
        assert "logs unavailable: " in text
        assert "cannot get pods/log" in text


def test_many_driver_containers_are_capped() -> None:
    pods = [
        labelled({"app": "ds"}, pod("csi", f"node-{i:02}", f"n{i}", "registrar", "plugin"))
        for i in range(20)
    ]
    kube = LogKube(*pods)
    entries = component_logs(
        kube, Window(NOW, NOW + 1), driver_pods=[PodSelector("csi", "app=ds")], nodes={"n7"}
    )
    read = [e for e in entries if e["container"] != "-"]
    assert len(read) == diagnostics.MAX_DRIVER_CONTAINERS
    assert read[0]["pod"] == "csi/node-07"  # the test's node first
    assert len(kube.log_calls) == diagnostics.MAX_DRIVER_CONTAINERS
    notes = [e["text"] for e in entries if e["container"] == "-"]
    assert any("24 more container logs not read" in n for n in notes)
    assert any("no snapshot-controller pod found" in n for n in notes)


def test_component_logs_never_raise() -> None:
    class Broken:
        def list(self, *args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("the fake has no pods")

    entries = component_logs(
        Broken(),  # type: ignore[arg-type]
        Window(NOW, NOW + 1),
        driver_pods=[PodSelector("csi", "app=x")],
    )
    texts = "\n".join(e["text"] for e in entries)
    assert "logs unavailable: RuntimeError: the fake has no pods" in texts


# ---------------------------------------------------------------- the bundle


class _Kube:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
        return pod(namespace or "", name, "n3", "writer")

    def events_for(self, kind: str, name: str, namespace: str | None) -> list[Any]:
        return []

    def pod_log(self, name: str, namespace: str, container: str | None = None, **kw: Any) -> str:
        self.calls.append(f"log {namespace}/{name}/{container} {json.dumps(kw, sort_keys=True)}")
        return "sha256=abc size=1\napi_key=topsecret\n"

    def list(self, kind: str, namespace: str | None = None, **kw: Any) -> Any:
        self.calls.append(f"list {kind} {namespace} {kw.get('label_selector')}")
        return [], "1"


class _Tracker:
    def __init__(self) -> None:
        self.kube = _Kube()

    def tracked(self) -> list[tuple[str, str, str | None]]:
        return [("Pod", "writer-1", "ns")]


def test_collect_adds_component_logs_only_with_a_window(tmp_path: Path) -> None:
    tracker = _Tracker()
    without = collect(tracker)  # type: ignore[arg-type]
    assert [log["container"] for log in without["logs"]] == ["writer"]
    assert "topsecret" not in without["logs"][0]["text"]  # the test's pods' logs are redacted
    assert "sha256=abc size=1" in without["logs"][0]["text"]
    assert not any(c.startswith("list") for c in tracker.kube.calls)

    path = write_log(tmp_path / "hostpathplugin.log", [golog(NOW + 1, "CreateSnapshot")])
    with_window = collect(
        tracker,  # type: ignore[arg-type]
        Window(NOW, NOW + 2),
        host_logs={"hostpathplugin": path},
        driver_pods=[PodSelector("csi", "app=ignored-on-the-testbed")],
    )
    assert [(log["pod"], log["container"]) for log in with_window["logs"]] == [
        ("ns/writer-1", "writer"),
        (TESTBED_HOST, "hostpathplugin"),
    ]
    assert "CreateSnapshot" in with_window["logs"][1]["text"]
    assert not any(c.startswith("list") for c in tracker.kube.calls)  # no pods on the testbed
    # elsewhere the test pods' nodes decide which driver pods come first
    collect(tracker, Window(NOW, NOW + 2), driver_pods=[PodSelector("csi", "app=x")])  # type: ignore[arg-type]
    assert "list Pod csi app=x" in tracker.kube.calls
