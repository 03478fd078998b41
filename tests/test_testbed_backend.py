"""The backend-aware leak check: the driver's own listing before and after a run.

A tiny in-process CSI controller (gRPC on a unix socket, with the stubs compiled from the
pinned csi.proto, as the interposer uses them) stands in for the testbed's driver behind
its interposer; the plugin tests run pytester with the listing function replaced, so no
test here reaches a cluster or the live testbed.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest

from snapconf_testbed.faults import ensure_proto
from snapconf_testbed.faults.proto import CsiProto, load_csi
from snapconf_testbed.testbed import backend
from snapconf_testbed.testbed.backend import (
    NOT_TESTBED,
    BackendError,
    BackendLeaks,
    BackendListing,
    backend_leaks,
    read_listing,
    summary,
)
from tests.fakes import FakeKube

GiB = 1 << 30
RUN = "sc-20250101-000000-abcd"
NO_CACHE = ("-p", "no:cacheprovider")


@pytest.fixture(scope="session")
def proto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("go") is None:
        pytest.skip("go is needed to locate the CSI spec module")
    return ensure_proto(tmp_path_factory.getbasetemp() / "snapconf-cache")


@pytest.fixture(scope="session")
def proto(proto_dir: Path) -> CsiProto:
    return load_csi(proto_dir)


class FakeDriver:
    """ControllerGetCapabilities, ListVolumes and ListSnapshots over the real CSI messages.

    Lists page by ``page`` entries (the token is the next index); ``fail[method]`` is a
    list of status codes the next calls of that method fail with, in order.
    """

    def __init__(self, proto: CsiProto) -> None:
        self.csi = proto.module
        self.proto = proto
        self.caps = ["LIST_VOLUMES", "LIST_SNAPSHOTS"]
        self.volumes: dict[str, int] = {}
        self.snapshots: dict[str, str] = {}
        self.page = 2
        self.loop = False  # answer every page with the same next_token
        self.fail: dict[str, list[grpc.StatusCode]] = {}
        self.calls: list[str] = []

    def _abort(self, name: str, context: grpc.ServicerContext) -> None:
        self.calls.append(name)
        codes = self.fail.get(name)
        if codes:
            context.abort(codes.pop(0), f"fake {name} failure")

    def capabilities(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._abort("ControllerGetCapabilities", context)
        csi = self.csi
        rpc = csi.ControllerServiceCapability.RPC
        return csi.ControllerGetCapabilitiesResponse(
            capabilities=[
                csi.ControllerServiceCapability(rpc=rpc(type=rpc.Type.Value(name)))
                for name in self.caps
            ]
        )

    def _paged(self, items: list[Any], token: str) -> tuple[list[Any], str]:
        start = int(token or 0)
        end = start + self.page
        nxt = "1" if self.loop else (str(end) if end < len(items) else "")
        return items[start:end], nxt

    def list_volumes(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._abort("ListVolumes", context)
        csi = self.csi
        items = sorted(self.volumes.items())
        page, nxt = self._paged(items, request.starting_token)
        entries = [
            csi.ListVolumesResponse.Entry(volume=csi.Volume(volume_id=k, capacity_bytes=v))
            for k, v in page
        ]
        return csi.ListVolumesResponse(entries=entries, next_token=nxt)

    def list_snapshots(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._abort("ListSnapshots", context)
        csi = self.csi
        items = sorted(self.snapshots.items())
        page, nxt = self._paged(items, request.starting_token)
        entries = [
            csi.ListSnapshotsResponse.Entry(
                snapshot=csi.Snapshot(snapshot_id=k, source_volume_id=v, ready_to_use=True)
            )
            for k, v in page
        ]
        return csi.ListSnapshotsResponse(entries=entries, next_token=nxt)

    def handler(self, name: str, fn: Callable[[Any, grpc.ServicerContext], Any]) -> Any:
        method = self.proto.method(name)
        return grpc.unary_unary_rpc_method_handler(
            fn,
            request_deserializer=method.request_type.FromString,
            response_serializer=lambda m: m.SerializeToString(),
        )


@pytest.fixture
def driver(proto: CsiProto) -> Iterator[tuple[FakeDriver, Path]]:
    workdir = Path(tempfile.mkdtemp(prefix="snapconf-backend-", dir="/tmp"))  # short path
    sock = workdir / "interposer.sock"
    fake = FakeDriver(proto)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "csi.v1.Controller",
                {
                    "ControllerGetCapabilities": fake.handler(
                        "ControllerGetCapabilities", fake.capabilities
                    ),
                    "ListVolumes": fake.handler("ListVolumes", fake.list_volumes),
                    "ListSnapshots": fake.handler("ListSnapshots", fake.list_snapshots),
                },
            )
        ]
    )
    server.add_insecure_port(f"unix://{sock}")
    server.start()
    try:
        yield fake, sock
    finally:
        server.stop(0).wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------- reading the driver


def test_listing_reads_every_page(driver: tuple[FakeDriver, Path], proto_dir: Path) -> None:
    fake, sock = driver
    fake.volumes = {f"vol-{i}": (i + 1) * GiB for i in range(5)}
    fake.snapshots = {"snap-a": "vol-0", "snap-b": "vol-3", "snap-c": "vol-4"}
    listing = read_listing(sock, proto_dir)
    assert listing.volumes == fake.volumes
    assert listing.snapshots == fake.snapshots
    assert listing.unseen == ()
    assert fake.calls.count("ListVolumes") == 3  # pages of 2
    assert fake.calls[0] == "ControllerGetCapabilities"


def test_listing_says_what_the_driver_cannot_list(
    driver: tuple[FakeDriver, Path], proto_dir: Path
) -> None:
    fake, sock = driver
    fake.caps = ["LIST_VOLUMES"]
    fake.volumes = {"vol-1": GiB}
    listing = read_listing(sock, proto_dir)
    assert listing.volumes == {"vol-1": GiB}
    assert listing.snapshots is None
    assert listing.unseen == ("cannot see snapshots: the driver does not support ListSnapshots",)
    assert "ListSnapshots" not in fake.calls

    fake.caps = []
    listing = read_listing(sock, proto_dir)
    assert (listing.volumes, listing.snapshots) == (None, None)
    assert listing.unseen == (
        "cannot see volumes: the driver does not support ListVolumes",
        "cannot see snapshots: the driver does not support ListSnapshots",
    )


def test_listing_without_a_controller_service(
    driver: tuple[FakeDriver, Path], proto_dir: Path
) -> None:
    fake, sock = driver
    fake.fail["ControllerGetCapabilities"] = [grpc.StatusCode.UNIMPLEMENTED]
    listing = read_listing(sock, proto_dir)
    assert listing.unseen == (
        "cannot see volumes: the driver has no controller service",
        "cannot see snapshots: the driver has no controller service",
    )


def test_listing_retries_unavailable_as_sidecars_do(
    driver: tuple[FakeDriver, Path], proto_dir: Path
) -> None:
    """The ``transient-unavailable`` fault fails the first 3 calls of each method."""
    fake, sock = driver
    fake.volumes = {"vol-1": GiB}
    for method in ("ControllerGetCapabilities", "ListVolumes", "ListSnapshots"):
        fake.fail[method] = [grpc.StatusCode.UNAVAILABLE] * 3
    listing = read_listing(sock, proto_dir)
    assert listing.volumes == {"vol-1": GiB}
    assert fake.calls.count("ListVolumes") == 4


def test_listing_errors_are_backend_errors(
    driver: tuple[FakeDriver, Path], proto_dir: Path, tmp_path: Path
) -> None:
    fake, sock = driver
    fake.fail["ListSnapshots"] = [grpc.StatusCode.INTERNAL]
    with pytest.raises(BackendError, match="ListSnapshots failed: INTERNAL: fake ListSnapshots"):
        read_listing(sock, proto_dir)

    fake.loop = True
    fake.volumes = {"a": 1, "b": 2, "c": 3}
    with pytest.raises(BackendError, match="ListVolumes returned next_token '1' twice"):
        read_listing(sock, proto_dir)

    with pytest.raises(BackendError, match=r"no CSI socket at .*is the testbed up"):
        read_listing(tmp_path / "missing.sock", proto_dir)


def test_listing_gives_up_after_its_timeout(
    driver: tuple[FakeDriver, Path], proto_dir: Path
) -> None:
    fake, sock = driver
    fake.fail["ControllerGetCapabilities"] = [grpc.StatusCode.UNAVAILABLE] * 100
    with pytest.raises(BackendError, match="ControllerGetCapabilities"):
        read_listing(sock, proto_dir, timeout=0.5)


# ---------------------------------------------------------------- what the run left


def test_added_since_is_what_is_new() -> None:
    before = BackendListing({"v1": GiB}, {"s1": "v1"})
    after = BackendListing({"v1": GiB, "v2": 2 * GiB}, {"s1": "v1", "s2": "v2"})
    added = after.added_since(before)
    assert added.volumes == {"v2": 2 * GiB}
    assert added.snapshots == {"s2": "v2"}
    # gone entries are not leaks; blind lists stay blind
    assert BackendListing({}, {}).added_since(before) == BackendListing({}, {})
    blind = BackendListing({"v1": GiB}, None, ("cannot see snapshots: why",))
    added = after.added_since(blind)
    assert added.snapshots is None
    assert added.unseen == ("cannot see snapshots: why",)


def pv(name: str, handle: str, claim_ns: str = "", labels: dict[str, str] | None = None) -> Any:
    return {
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"csi": {"volumeHandle": handle}, "claimRef": {"namespace": claim_ns}},
    }


def content(name: str, handle: str, ns: str) -> Any:
    return {
        "kind": "VolumeSnapshotContent",
        "metadata": {"name": name},
        "spec": {"volumeSnapshotRef": {"namespace": ns}},
        "status": {"snapshotHandle": handle},
    }


def test_each_leak_line_says_whether_an_api_object_names_it() -> None:
    added = BackendListing({"v-gone": GiB, "v-pv": 2 * GiB, "v-other": GiB}, {"s-1": "v-gone"})
    found = backend_leaks(
        added,
        RUN,
        pvs=[
            pv("pvc-1", "v-pv", claim_ns=f"{RUN}-restore-1"),
            pv("pvc-9", "v-other", claim_ns="someone-else"),
        ],
        contents=[],
    )
    assert found.lines == [
        "backend volume v-gone (1Gi) left by the run: the driver still lists it, "
        "but no PersistentVolume names it",
        "backend volume v-pv (2Gi) left by the run: the driver still lists it, "
        "and PersistentVolume pvc-1 (left too) names it",
        "backend snapshot s-1 of volume v-gone left by the run: the driver still lists it, "
        "but no VolumeSnapshotContent names it",
    ]
    assert found.others == ["volume v-other (PersistentVolume pvc-9, not this run's)"]


def test_run_objects_are_found_as_the_leak_check_finds_them() -> None:
    added = BackendListing({"v1": GiB, "v2": GiB, "v3": GiB}, {"s1": "v1"})
    found = backend_leaks(
        added,
        RUN,
        pvs=[
            pv("static", "v1", labels={"snapconf.io/run": RUN}),
            pv(f"{RUN}-import", "v2"),
            pv("pvc-x", "v3", claim_ns=f"team-{RUN}-clone-2"),
        ],
        contents=[content("snapcontent-1", "s1", f"{RUN}-restore-1")],
    )
    assert [line.split(", ", 1)[1] for line in found.lines] == [
        "and PersistentVolume static (left too) names it",
        f"and PersistentVolume {RUN}-import (left too) names it",
        "and PersistentVolume pvc-x (left too) names it",
        "and VolumeSnapshotContent snapcontent-1 (left too) names it",
    ]
    assert found.others == []


def test_unreadable_api_objects_are_said_in_the_line() -> None:
    found = backend_leaks(
        BackendListing({"v1": 0}, None), RUN, pvs=None, contents=None, api_error="403: no"
    )
    assert found.lines == [
        "backend volume v1 (size unknown) left by the run: the driver still lists it "
        "(whether a PersistentVolume names it is unknown: 403: no)"
    ]


def test_summary_counts_and_says_what_it_could_not_see() -> None:
    blind = ("cannot see snapshots: no ListSnapshots",)
    before = BackendListing({"v0": GiB}, None, blind)
    after = BackendListing({"v0": GiB, "v1": GiB}, None, blind)
    text = summary(before, after, BackendLeaks(lines=["x"], others=["volume v9 (...)"]))
    assert text == (
        "the driver's own listing (ListVolumes, ListSnapshots through the CSI interposer) was "
        "compared before (1 volume) and after the run (2 volumes): 1 entry left by the run; "
        "new but named by objects not of this run: volume v9 (...); "
        "cannot see snapshots: no ListSnapshots"
    )


# ---------------------------------------------------------------- the plugin


class ClosingKube(FakeKube):
    def close(self) -> None:
        pass


def _refuse(*args: object, **kwargs: object) -> Any:
    raise AssertionError("socket connect")


@pytest.fixture
def isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SNAPCONF_* settings, no network, an in-memory API, a stub cluster summary."""
    import os

    for name in [n for n in os.environ if n.startswith("SNAPCONF_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", str(pytester.path / "no-kubeconfig"))
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr("conformance.plugin.Kube", lambda kubeconfig: ClosingKube())
    monkeypatch.setattr("conformance.plugin._testbed_components", lambda kubeconfig: [])
    monkeypatch.setattr(
        "conformance.recorder.cluster_summary",
        lambda *args, **kwargs: {"components": [], "notes": []},
    )
    pytester.makepyfile(
        test_deletion="""
        import pytest

        @pytest.mark.area("deletion")
        def test_deletes(kube):
            pass
        """
    )
    sigterm = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, sigterm)


@pytest.fixture
def testbed(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A testbed state directory whose kubeconfig the run is given."""
    state = pytester.path / "testbed"
    state.mkdir()
    kubeconfig = state / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    monkeypatch.setenv("SNAPCONF_TESTBED_DIR", str(state))
    return kubeconfig


def listings(monkeypatch: pytest.MonkeyPatch, *results: BackendListing | Exception) -> list[str]:
    """Replace the driver listing by ``results`` in turn; returns where each call was."""
    calls: list[str] = []
    queue = list(results)

    def fake(layout: Any, **kwargs: Any) -> BackendListing:
        calls.append(str(layout.interposer_socket))
        result = queue.pop(0)
        if isinstance(result, Exception):
            raise result
        return result

    monkeypatch.setattr(backend, "driver_listing", fake)
    return calls


def run(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = pytester.runpytest(*NO_CACHE, "--run-id", RUN, "--snapconf-report-dir", "rep", *args)
    results = json.loads((pytester.path / "rep" / "results.json").read_text())
    return result, results


@pytest.mark.usefixtures("isolated")
def test_backend_leak_fails_the_run_and_is_reported(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, testbed: Path
) -> None:
    calls = listings(
        monkeypatch,
        BackendListing({"old": GiB}, {}),
        BackendListing({"old": GiB, "leaked-vol": GiB}, {"leaked-snap": "leaked-vol"}),
    )
    result, results = run(pytester, "--kubeconfig", str(testbed))
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    vol_line = (
        "backend volume leaked-vol (1Gi) left by the run: the driver still lists it, "
        "but no PersistentVolume names it"
    )
    result.stdout.fnmatch_lines(
        [f"*snapconf: 2 objects of run {RUN} left behind*", vol_line, "backend snapshot *"]
    )
    assert calls == [str(testbed.parent / "csi" / "interposer.sock")] * 2
    cluster = results["run"]["cluster"]
    assert cluster["leaks"][0] == vol_line
    assert (
        "before (1 volume, 0 snapshots) and after the run (2 volumes, 1 snapshot)"
        in (cluster["backend"])
    )
    html = (pytester.path / "rep" / "report.html").read_text()
    assert "leaked-vol (1Gi) left by the run" in html
    assert "Backend leak check:" in html


@pytest.mark.usefixtures("isolated")
def test_nothing_left_in_the_backend_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, testbed: Path
) -> None:
    same = BackendListing({"old": GiB}, {})
    listings(monkeypatch, same, same)
    result, results = run(pytester, "--kubeconfig", str(testbed))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert results["run"]["cluster"]["leaks"] == []
    assert "0 entries left by the run" in results["run"]["cluster"]["backend"]


@pytest.mark.usefixtures("isolated")
def test_listing_failure_is_a_problem_not_a_crash(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, testbed: Path
) -> None:
    listings(monkeypatch, BackendListing({}, {}), BackendError("ListVolumes failed: INTERNAL: x"))
    result, results = run(pytester, "--kubeconfig", str(testbed))
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(
        ["snapconf: the backend leak check could not list the driver: ListVolumes failed: *"]
    )
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "could not be read after the run" in results["run"]["cluster"]["backend"]


@pytest.mark.usefixtures("isolated")
def test_listing_failure_at_the_start_skips_the_comparison(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, testbed: Path
) -> None:
    calls = listings(monkeypatch, BackendError("no CSI socket at /x (is the testbed up?)"))
    result, results = run(pytester, "--kubeconfig", str(testbed))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["snapconf: the backend leak check could not list the driver: *"])
    assert len(calls) == 1
    assert "could not be read before the run" in results["run"]["cluster"]["backend"]


@pytest.mark.usefixtures("isolated")
def test_elsewhere_the_results_say_the_backend_cannot_be_seen(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = listings(monkeypatch)
    result, results = run(pytester)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert calls == []
    assert results["run"]["cluster"]["backend"] == NOT_TESTBED
    assert NOT_TESTBED.replace("'", "&#39;") in (pytester.path / "rep" / "report.html").read_text()


@pytest.mark.usefixtures("isolated")
def test_collect_only_lists_nothing(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, testbed: Path
) -> None:
    calls = listings(monkeypatch)
    result = pytester.runpytest(*NO_CACHE, "--kubeconfig", str(testbed), "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert calls == []


@pytest.mark.usefixtures("isolated")
def test_with_xdist_only_the_controller_lists(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, testbed: Path
) -> None:
    """Workers (other processes, where the fake listing does not exist) never list."""
    pytester.makepyfile(
        test_deletion="""
        import pytest

        @pytest.mark.area("deletion")
        @pytest.mark.parametrize("i", range(4))
        def test_deletes(i):
            pass
        """
    )
    calls = listings(monkeypatch, BackendListing({}, {}), BackendListing({"left": GiB}, {}))
    result, results = run(pytester, "--kubeconfig", str(testbed), "-n", "2")
    result.assert_outcomes(passed=4)
    assert len(calls) == 2
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert results["run"]["cluster"]["leaks"] == [
        "backend volume left (1Gi) left by the run: the driver still lists it, "
        "but no PersistentVolume names it"
    ]
