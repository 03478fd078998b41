"""The interposer in front of the real hostpath plugin, called with a real gRPC client.

Builds testbed/hostpath-driver once per session into a temporary directory, runs it on a
socket under a short /tmp directory (controller calls need no kubelet), starts the
interposer in front of it and switches faults through the control file. Every process
started here is stopped by its PID in fixture teardown.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import grpc
import pytest

from snapconf_testbed.faults import ensure_proto, interposer_argv, read_active, write_active
from snapconf_testbed.faults.proto import CsiProto, load_csi
from snapconf_testbed.paths import data_dir

MiB = 1 << 20
GO_ENV = {"GOFLAGS": "-mod=readonly", "GOSUMDB": "off"}

pytestmark = pytest.mark.skipif(shutil.which("go") is None, reason="needs go to build the plugin")


@pytest.fixture(scope="session")
def plugin_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import os

    out = tmp_path_factory.mktemp("hostpath-bin") / "hostpathplugin"
    result = subprocess.run(
        ["go", "build", "-o", str(out), "."],
        cwd=data_dir("testbed") / "hostpath-driver",
        env={**os.environ, **GO_ENV},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, f"go build failed:\n{result.stderr[-3000:]}"
    return out


@pytest.fixture(scope="session")
def proto_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_proto(tmp_path_factory.getbasetemp() / "snapconf-cache")


@pytest.fixture(scope="session")
def proto(proto_dir: Path) -> CsiProto:
    return load_csi(proto_dir)


@pytest.fixture
def csi(proto: CsiProto) -> Any:
    return proto.module


class Proc:
    """A process of ours, with its log; stopped by PID."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.log = log
        self._out: IO[bytes] = log.open("wb")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)
        self._out.close()
        return self.popen.returncode

    def wait_socket(self, sock: Path, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not sock.is_socket():
            if self.popen.poll() is not None:
                pytest.fail(f"{self.log.name} exited: {self.log.read_text(errors='replace')}")
            if time.monotonic() > deadline:
                pytest.fail(f"no socket {sock} after {timeout}s: {self.log.read_text()}")
            time.sleep(0.05)


class Client:
    """A gRPC client of one socket, calling CSI methods by name with raw bytes."""

    def __init__(self, proto: CsiProto, sock: Path) -> None:
        self.proto = proto
        self.channel = grpc.insecure_channel(f"unix://{sock}")
        grpc.channel_ready_future(self.channel).result(timeout=30)

    def raw(self, method: str, request: bytes, timeout: float = 30) -> bytes:
        path = method if method.startswith("/") else self.proto.method(method).path
        return bytes(self.channel.unary_unary(path)(request, timeout=timeout))

    def call(self, method: str, request: Any, timeout: float = 30) -> Any:
        data = self.raw(method, request.SerializeToString(), timeout)
        return self.proto.method(method).response_type.FromString(data)

    def status(self, method: str, request: bytes) -> tuple[str, str]:
        try:
            self.raw(method, request)
        except grpc.RpcError as exc:
            return exc.code().name, exc.details()
        return "OK", ""

    def close(self) -> None:
        self.channel.close()


@dataclass
class Stack:
    workdir: Path
    state: Path
    control: Path
    plugin: Proc
    interposer: Proc
    direct: Client
    via: Client

    def faults(self, *names: str) -> None:
        write_active(self.control, list(names))


@pytest.fixture(scope="module")
def stack(plugin_binary: Path, proto_dir: Path, proto: CsiProto) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix="snapconf-faults-", dir="/tmp"))  # short socket paths
    procs: list[Proc] = []
    clients: list[Client] = []
    try:
        state, control = workdir / "state", workdir / "faults.json"
        upstream, listen = workdir / "csi.sock", workdir / "interposer.sock"
        plugin = Proc(
            [str(plugin_binary), f"--endpoint=unix://{upstream}", "--nodeid=test-node",
             f"--statedir={state}"],
            workdir / "plugin.log",
        )  # fmt: skip
        procs.append(plugin)
        plugin.wait_socket(upstream)
        interposer = Proc(
            interposer_argv(listen, upstream, control, state, proto_dir=proto_dir, faults=["none"]),
            workdir / "interposer.log",
        )
        procs.append(interposer)
        interposer.wait_socket(listen)
        clients += [Client(proto, upstream), Client(proto, listen)]
        yield Stack(workdir, state, control, plugin, interposer, clients[0], clients[1])
    finally:
        for client in clients:
            client.close()
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def bed(stack: Stack) -> Iterator[Stack]:
    """The stack with no faults active before and after the test."""
    stack.faults()
    yield stack
    stack.faults()
    assert stack.interposer.popen.poll() is None, stack.interposer.log.read_text()


def cap(csi: Any) -> Any:
    return csi.VolumeCapability(
        mount=csi.VolumeCapability.MountVolume(),
        access_mode=csi.VolumeCapability.AccessMode(mode=1),
    )


def new_volume(csi: Any, client: Client, name: str, size: int = MiB, **kwargs: Any) -> Any:
    req = csi.CreateVolumeRequest(
        name=name, volume_capabilities=[cap(csi)],
        capacity_range=csi.CapacityRange(required_bytes=size), **kwargs,
    )  # fmt: skip
    return client.call("CreateVolume", req).volume


def snapshot_of(csi: Any, client: Client, name: str, volume_id: str) -> Any:
    req = csi.CreateSnapshotRequest(name=name, source_volume_id=volume_id)
    return client.call("CreateSnapshot", req).snapshot


def listed(csi: Any, client: Client, snapshot_id: str) -> list[Any]:
    resp = client.call("ListSnapshots", csi.ListSnapshotsRequest(snapshot_id=snapshot_id))
    return [e.snapshot for e in resp.entries]


def test_pass_through_equals_direct_calls(bed: Stack, csi: Any) -> None:
    calls: list[tuple[str, Any]] = [
        ("GetPluginInfo", csi.GetPluginInfoRequest()),
        ("GetPluginCapabilities", csi.GetPluginCapabilitiesRequest()),
        ("Probe", csi.ProbeRequest()),
        ("ControllerGetCapabilities", csi.ControllerGetCapabilitiesRequest()),
        ("NodeGetCapabilities", csi.NodeGetCapabilitiesRequest()),
        ("NodeGetInfo", csi.NodeGetInfoRequest()),
    ]
    for method, req in calls:
        raw = req.SerializeToString()
        assert bed.via.raw(method, raw) == bed.direct.raw(method, raw), method

    # Creations: through the interposer first, then the same name directly (idempotent).
    create = csi.CreateVolumeRequest(
        name="pt-vol", volume_capabilities=[cap(csi)], parameters={"a": "b"},
        capacity_range=csi.CapacityRange(required_bytes=2 * MiB),
    ).SerializeToString()  # fmt: skip
    via_vol = bed.via.raw("CreateVolume", create)
    assert via_vol == bed.direct.raw("CreateVolume", create)
    vol_id = csi.CreateVolumeResponse.FromString(via_vol).volume.volume_id
    snap = csi.CreateSnapshotRequest(name="pt-snap", source_volume_id=vol_id).SerializeToString()
    assert bed.via.raw("CreateSnapshot", snap) == bed.direct.raw("CreateSnapshot", snap)
    for method, req in [
        ("ListVolumes", csi.ListVolumesRequest()),
        ("ListSnapshots", csi.ListSnapshotsRequest(source_volume_id=vol_id)),
        ("ListSnapshots", csi.ListSnapshotsRequest(max_entries=1)),
    ]:
        raw = req.SerializeToString()
        assert bed.via.raw(method, raw) == bed.direct.raw(method, raw), method

    # Errors keep their code and message; unknown methods pass through as raw bytes.
    bad_token = "no-such-entry"  # noqa: S105 - a list paging token, not a secret
    for method, raw in [
        ("CreateVolume", csi.CreateVolumeRequest().SerializeToString()),
        ("CreateSnapshot", csi.CreateSnapshotRequest(name="x", source_volume_id="nope")
         .SerializeToString()),
        ("ListSnapshots", csi.ListSnapshotsRequest(starting_token=bad_token).SerializeToString()),
        ("ControllerGetVolume", csi.ControllerGetVolumeRequest(volume_id="v").SerializeToString()),
        ("/csi.v1.Controller/NoSuchMethod", b"\x0a\x03abc"),
        ("/example.Unknown/Call", b""),
    ]:  # fmt: skip
        direct = bed.direct.status(method, raw)
        assert direct[0] != "OK", method
        assert bed.via.status(method, raw) == direct, method


def test_never_ready(bed: Stack, csi: Any) -> None:
    vol = new_volume(csi, bed.direct, "nr-vol")
    bed.faults("never-ready")
    snap = snapshot_of(csi, bed.via, "nr-snap", vol.volume_id)
    assert snap.snapshot_id
    assert not snap.ready_to_use
    assert [s.ready_to_use for s in listed(csi, bed.via, snap.snapshot_id)] == [False]
    assert [s.ready_to_use for s in listed(csi, bed.direct, snap.snapshot_id)] == [True]


def test_capacity_short(bed: Stack, csi: Any) -> None:
    bed.faults("capacity-short")
    vol = new_volume(csi, bed.via, "cs-vol", size=8 * MiB)
    assert 0 < vol.capacity_bytes < 8 * MiB
    real = bed.direct.call("ListVolumes", csi.ListVolumesRequest())
    sizes = {e.volume.volume_id: e.volume.capacity_bytes for e in real.entries}
    assert sizes[vol.volume_id] == 8 * MiB


def test_transient_unavailable(bed: Stack, csi: Any) -> None:
    bed.faults("transient-unavailable")
    for method, req in [("ListVolumes", csi.ListVolumesRequest()),
                        ("GetPluginInfo", csi.GetPluginInfoRequest())]:  # fmt: skip
        raw = req.SerializeToString()
        codes = [bed.via.status(method, raw)[0] for _ in range(4)]
        assert codes == ["UNAVAILABLE"] * 3 + ["OK"], method
        assert bed.via.raw(method, raw) == bed.direct.raw(method, raw)


def test_delete_snapshot_noop(bed: Stack, csi: Any) -> None:
    vol = new_volume(csi, bed.direct, "dn-vol")
    snap = snapshot_of(csi, bed.direct, "dn-snap", vol.volume_id)
    bed.faults("delete-snapshot-noop")
    bed.via.call("DeleteSnapshot", csi.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    assert [s.snapshot_id for s in listed(csi, bed.direct, snap.snapshot_id)] == [snap.snapshot_id]
    bed.faults()
    bed.via.call("DeleteSnapshot", csi.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    assert listed(csi, bed.direct, snap.snapshot_id) == []


def test_switching_faults_takes_effect_without_restart(bed: Stack, csi: Any) -> None:
    pid = bed.interposer.pid
    vol = new_volume(csi, bed.direct, "sw-vol")
    snap = snapshot_of(csi, bed.direct, "sw-snap", vol.volume_id)
    seen = []
    for names in [(), ("never-ready",), ("capacity-short", "never-ready"), ("none",), ()]:
        bed.faults(*names)
        assert read_active(bed.control) == [n for n in names if n != "none"]
        seen.append(listed(csi, bed.via, snap.snapshot_id)[0].ready_to_use)
    assert seen == [True, False, False, True, True]
    assert bed.interposer.pid == pid
    assert bed.interposer.popen.poll() is None
    log = bed.interposer.log.read_text()
    assert "active faults: capacity-short, never-ready" in log


def test_restore_corrupt_damages_only_the_restored_data(bed: Stack, csi: Any) -> None:
    vol = new_volume(csi, bed.direct, "rc-vol")
    payload = bytes(range(256)) * 64
    (bed.state / "volumes" / vol.volume_id / "data.bin").write_bytes(payload)
    snap = snapshot_of(csi, bed.direct, "rc-snap", vol.volume_id)
    source = csi.VolumeContentSource(
        snapshot=csi.VolumeContentSource.SnapshotSource(snapshot_id=snap.snapshot_id)
    )
    bed.faults("restore-corrupt")
    bad = new_volume(csi, bed.via, "rc-bad", volume_content_source=source)
    bed.faults()
    good = new_volume(csi, bed.via, "rc-good", volume_content_source=source)
    assert bad.content_source.snapshot.snapshot_id == snap.snapshot_id
    restored = (bed.state / "volumes" / bad.volume_id / "data.bin").read_bytes()
    assert len(restored) == len(payload)
    assert restored != payload
    assert (bed.state / "volumes" / good.volume_id / "data.bin").read_bytes() == payload
    assert (bed.state / "volumes" / vol.volume_id / "data.bin").read_bytes() == payload


def test_start_with_faults_writes_the_control_file_and_stops_cleanly(
    plugin_binary: Path, proto_dir: Path, proto: CsiProto, stack: Stack
) -> None:
    """A second interposer on the same plugin: --faults at start, SIGTERM at the end."""
    control = stack.workdir / "second.json"
    listen = stack.workdir / "second.sock"
    proc = Proc(
        interposer_argv(listen, stack.workdir / "csi.sock", control, stack.state,
                        proto_dir=proto_dir, faults=["never-ready"]),
        stack.workdir / "second.log",
    )  # fmt: skip
    client = None
    try:
        proc.wait_socket(listen)
        assert read_active(control) == ["never-ready"]
        client = Client(proto, listen)
        vol = new_volume(proto.module, client, "second-vol")
        assert not snapshot_of(proto.module, client, "second-snap", vol.volume_id).ready_to_use
    finally:
        if client is not None:
            client.close()
        code = proc.stop()
    assert code == 0, proc.log.read_text()
    assert not listen.exists()
