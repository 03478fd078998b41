"""Unit tests of snapconf_testbed.faults: each fault's message changes, the control file, the
registry and the user fault-module loader. No plugin process; the upstream is a fake."""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from snapconf_testbed.faults import (
    KNOWN_FAULTS,
    CallError,
    ControlError,
    FaultModuleError,
    UnknownFaultError,
    available_faults,
    ensure_proto,
    fault,
    interposer_argv,
    read_active,
    write_active,
)
from snapconf_testbed.faults.builtin import SlowSnapshot
from snapconf_testbed.faults.call import Call, Reply
from snapconf_testbed.faults.control import ControlWatch, parse_names
from snapconf_testbed.faults.interposer import ActiveFaults
from snapconf_testbed.faults.proto import CsiProto, Method, load_csi
from snapconf_testbed.faults.registry import BUILTIN, Registry, registry_with

MiB = 1 << 20
REQUIRED = {
    "restore-empty", "clone-empty", "restore-wrong-snapshot", "snapshot-wrong-source",
    "restore-corrupt", "clone-shared", "delete-snapshot-noop", "never-ready",
    "restore-size-zero", "restore-size-short", "capacity-short", "restore-larger-ignored",
    "transient-unavailable", "slow-snapshot", "slow-provision", "delete-volume-noop",
    "clone-from-last-snapshot", "clone-of-clone-from-origin", "restore-from-live-volume",
    "snapshot-time-unset", "snapshot-time-shifted", "list-snapshots-size-short",
    "list-snapshots-ignores-id", "group-members-swapped", "delete-group-noop",
    "group-member-missing", "group-member-cut-late",
}  # fmt: skip


@pytest.fixture(scope="session")
def proto(tmp_path_factory: pytest.TempPathFactory) -> CsiProto:
    if shutil.which("go") is None:
        pytest.skip("go is needed to locate the CSI spec module")
    return load_csi(ensure_proto(tmp_path_factory.getbasetemp() / "snapconf-cache"))


@pytest.fixture
def csi(proto: CsiProto) -> Any:
    return proto.module


class FakeUpstream:
    """Answers calls with handlers on parsed messages and records what it was sent."""

    def __init__(self, proto: CsiProto) -> None:
        self.proto = proto
        self.handlers: dict[str, Callable[[Any], Any]] = {}
        self.seen: list[tuple[str, Any, bytes]] = []

    def unary(
        self, method: Method, request: bytes, metadata: Any, timeout: float | None
    ) -> tuple[bytes, tuple[()]]:
        msg = method.request_type.FromString(request)
        self.seen.append((method.name, msg, request))
        if method.name not in self.handlers:
            raise CallError(grpc.StatusCode.UNIMPLEMENTED, f"fake: no {method.name}")
        return self.handlers[method.name](msg).SerializeToString(), ()

    def sent(self, name: str) -> list[Any]:
        return [msg for method, msg, _ in self.seen if method == name]


@pytest.fixture
def upstream(proto: CsiProto) -> FakeUpstream:
    return FakeUpstream(proto)


def run(
    proto: CsiProto,
    upstream: FakeUpstream,
    names: list[str],
    method: str,
    request: Any,
    *,
    instances: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    **kwargs: Any,
) -> Any:
    """One call through the named faults (instances reused when given); the reply message."""
    chain = []
    for name in names:
        if instances is not None:
            instances.setdefault(name, BUILTIN[name].factory())
            chain.append((name, instances[name]))
        else:
            chain.append((name, BUILTIN[name].factory()))
    call = Call(
        proto.method(method), request.SerializeToString(), proto=proto, upstream=upstream,
        chain=chain, log=log or (lambda _line: None), **kwargs,
    )  # fmt: skip
    return call.forward().message


def mount_cap(csi: Any) -> Any:
    return csi.VolumeCapability(
        mount=csi.VolumeCapability.MountVolume(),
        access_mode=csi.VolumeCapability.AccessMode(mode=1),
    )


def restore_request(csi: Any, snapshot: str, required: int = MiB) -> Any:
    return csi.CreateVolumeRequest(
        name="pvc-1",
        volume_capabilities=[mount_cap(csi)],
        capacity_range=csi.CapacityRange(required_bytes=required),
        volume_content_source=csi.VolumeContentSource(
            snapshot=csi.VolumeContentSource.SnapshotSource(snapshot_id=snapshot)
        ),
    )


def clone_request(csi: Any, volume: str, required: int = MiB) -> Any:
    return csi.CreateVolumeRequest(
        name="pvc-clone",
        volume_capabilities=[mount_cap(csi)],
        capacity_range=csi.CapacityRange(required_bytes=required),
        parameters={"k": "v"},
        volume_content_source=csi.VolumeContentSource(
            volume=csi.VolumeContentSource.VolumeSource(volume_id=volume)
        ),
    )


def echo_create_volume(csi: Any, volume_id: str = "new-vol") -> Callable[[Any], Any]:
    """Like hostpath: capacity as required, content source echoed."""

    def handle(req: Any) -> Any:
        resp = csi.CreateVolumeResponse()
        resp.volume.volume_id = volume_id
        resp.volume.capacity_bytes = req.capacity_range.required_bytes
        if req.HasField("volume_content_source"):
            resp.volume.content_source.CopyFrom(req.volume_content_source)
        return resp

    return handle


def create_volume_by_name(csi: Any) -> Callable[[Any], Any]:
    """Like hostpath: one volume a request name (id ``id-<name>``), content source echoed."""
    return lambda req: echo_create_volume(csi, f"id-{req.name}")(req)


def snapshot(csi: Any, sid: str, source: str, secs: int, size: int = MiB) -> Any:
    snap = csi.Snapshot(snapshot_id=sid, source_volume_id=source, size_bytes=size)
    snap.creation_time.seconds = secs
    snap.ready_to_use = True
    return snap


def list_snapshots_from(csi: Any, snaps: list[Any]) -> Callable[[Any], Any]:
    def handle(req: Any) -> Any:
        out = csi.ListSnapshotsResponse()
        for s in snaps:
            if req.snapshot_id and s.snapshot_id != req.snapshot_id:
                continue
            if req.source_volume_id and s.source_volume_id != req.source_volume_id:
                continue
            out.entries.add().snapshot.CopyFrom(s)
        return out

    return handle


def list_volumes_from(csi: Any, vols: list[tuple[str, int]]) -> Callable[[Any], Any]:
    """Two entries a page, to exercise paging."""

    def handle(req: Any) -> Any:
        start = int(req.starting_token or 0)
        out = csi.ListVolumesResponse()
        for vid, cap in vols[start : start + 2]:
            vol = out.entries.add().volume
            vol.volume_id, vol.capacity_bytes = vid, cap
            vol.accessible_topology.add().segments["topology.hostpath.csi/node"] = "n1"
        if start + 2 < len(vols):
            out.next_token = str(start + 2)
        return out

    return handle


# --- the registry of built-in faults ------------------------------------------------------


def test_every_required_fault_is_registered_with_a_docstring() -> None:
    assert set(KNOWN_FAULTS) >= REQUIRED
    for name in KNOWN_FAULTS:
        assert len(BUILTIN[name].doc.splitlines()) >= 2, name
        assert "Imitates " in BUILTIN[name].doc, name


def test_fault_methods_are_csi_methods(proto: CsiProto) -> None:
    for spec in BUILTIN:
        assert spec.methods is None or spec.methods <= proto.names(), spec.name


def test_proto_covers_the_three_services(proto: CsiProto) -> None:
    services = {m.service for m in proto.methods.values()}
    assert {"csi.v1.Identity", "csi.v1.Controller", "csi.v1.Node"} <= services
    assert proto.method("CreateVolume").path == "/csi.v1.Controller/CreateVolume"
    assert not proto.method("GetMetadataAllocated").unary
    assert proto.version.startswith("v1.")


def test_ensure_proto_reuses_its_build(tmp_path_factory: pytest.TempPathFactory) -> None:
    if shutil.which("go") is None:
        pytest.skip("needs go")
    cache = tmp_path_factory.getbasetemp() / "snapconf-cache"
    first = ensure_proto(cache)
    stamp = (first / "build.json").stat().st_mtime_ns
    assert ensure_proto(cache) == first
    assert (first / "build.json").stat().st_mtime_ns == stamp
    assert json.loads((first / "build.json").read_text())["version"] == first.name
    assert (first / "csi_pb2.py").is_file()


# --- content-source faults ----------------------------------------------------------------


def test_restore_empty_drops_the_snapshot_but_reports_it(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    resp = run(proto, upstream, ["restore-empty"], "CreateVolume", restore_request(csi, "snap-1"))
    (sent,) = upstream.sent("CreateVolume")
    assert not sent.HasField("volume_content_source")
    assert sent.name == "pvc-1"
    assert resp.volume.content_source.snapshot.snapshot_id == "snap-1"


def test_restore_empty_leaves_a_plain_create_byte_for_byte(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    req = csi.CreateVolumeRequest(name="plain", volume_capabilities=[mount_cap(csi)])
    run(proto, upstream, ["restore-empty"], "CreateVolume", req)
    assert upstream.seen[0][2] == req.SerializeToString()


def test_clone_empty_drops_the_volume_source(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    resp = run(proto, upstream, ["clone-empty"], "CreateVolume", clone_request(csi, "vol-a"))
    assert not upstream.sent("CreateVolume")[0].HasField("volume_content_source")
    assert resp.volume.content_source.volume.volume_id == "vol-a"


def test_clone_empty_ignores_restores(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    run(proto, upstream, ["clone-empty"], "CreateVolume", restore_request(csi, "snap-1"))
    sent = upstream.sent("CreateVolume")[0]
    assert sent.volume_content_source.snapshot.snapshot_id == "snap-1"


def test_restore_wrong_snapshot_restores_a_sibling(proto, upstream, csi) -> None:
    snaps = [
        snapshot(csi, "s1", "vol-a", 100),
        snapshot(csi, "s2", "vol-a", 200),
        snapshot(csi, "s3", "vol-b", 300),
    ]
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    resp = run(proto, upstream, ["restore-wrong-snapshot"], "CreateVolume",
               restore_request(csi, "s1"))  # fmt: skip
    assert upstream.sent("CreateVolume")[0].volume_content_source.snapshot.snapshot_id == "s2"
    assert resp.volume.content_source.snapshot.snapshot_id == "s1"


def test_restore_wrong_snapshot_is_stable_across_retries(proto, upstream, csi) -> None:
    snaps = [snapshot(csi, "s1", "vol-a", 100), snapshot(csi, "s2", "vol-a", 200)]
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    instances: dict[str, Any] = {}
    run(proto, upstream, ["restore-wrong-snapshot"], "CreateVolume",
        restore_request(csi, "s1"), instances=instances)  # fmt: skip
    snaps.append(snapshot(csi, "s9", "vol-a", 900))  # newer, but the retry keeps its choice
    run(proto, upstream, ["restore-wrong-snapshot"], "CreateVolume",
        restore_request(csi, "s1"), instances=instances)  # fmt: skip
    chosen = [r.volume_content_source.snapshot.snapshot_id for r in upstream.sent("CreateVolume")]
    assert chosen == ["s2", "s2"]


def test_restore_wrong_snapshot_without_sibling_passes_through(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [snapshot(csi, "s1", "a", 1)])
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    run(proto, upstream, ["restore-wrong-snapshot"], "CreateVolume", restore_request(csi, "s1"))
    assert upstream.sent("CreateVolume")[0].volume_content_source.snapshot.snapshot_id == "s1"


def test_snapshot_wrong_source_snapshots_another_volume(proto, upstream, csi) -> None:
    upstream.handlers["ListVolumes"] = list_volumes_from(
        csi, [("vol-a", MiB), ("vol-big", 4 * MiB), ("vol-c", MiB)]
    )

    def create(req: Any) -> Any:
        return csi.CreateSnapshotResponse(
            snapshot=snapshot(csi, "snap-new", req.source_volume_id, 5)
        )

    stored: list[Any] = []
    upstream.handlers["CreateSnapshot"] = lambda req: stored.append(create(req)) or stored[-1]
    upstream.handlers["ListSnapshots"] = lambda req: list_snapshots_from(
        csi, [s.snapshot for s in stored]
    )(req)
    instances: dict[str, Any] = {}
    req = csi.CreateSnapshotRequest(name="vs-1", source_volume_id="vol-a")
    resp = run(proto, upstream, ["snapshot-wrong-source"], "CreateSnapshot", req,
               instances=instances)  # fmt: skip
    assert upstream.sent("CreateSnapshot")[0].source_volume_id == "vol-c"  # same capacity
    assert resp.snapshot.source_volume_id == "vol-a"
    listed = run(proto, upstream, ["snapshot-wrong-source"], "ListSnapshots",
                 csi.ListSnapshotsRequest(), instances=instances)  # fmt: skip
    assert [e.snapshot.source_volume_id for e in listed.entries] == ["vol-a"]


def test_snapshot_wrong_source_prefers_the_same_access_type(proto, upstream, csi, tmp_path):
    state = {"volumes": [{"id": "vol-a", "accessType": "block"},
                         {"id": "vol-b", "accessType": "mount"},
                         {"id": "vol-c", "accessType": "block"}]}  # fmt: skip
    (tmp_path / "state.json").write_text(json.dumps(state))
    upstream.handlers["ListVolumes"] = list_volumes_from(
        csi, [("vol-a", MiB), ("vol-b", MiB), ("vol-c", 2 * MiB)]
    )
    upstream.handlers["CreateSnapshot"] = lambda req: csi.CreateSnapshotResponse(
        snapshot=snapshot(csi, "x", req.source_volume_id, 1)
    )
    req = csi.CreateSnapshotRequest(name="vs", source_volume_id="vol-a")
    run(proto, upstream, ["snapshot-wrong-source"], "CreateSnapshot", req, hostpath_state=tmp_path)
    assert upstream.sent("CreateSnapshot")[0].source_volume_id == "vol-c"


def test_snapshot_wrong_source_alone_passes_through(proto, upstream, csi) -> None:
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, [("vol-a", MiB)])
    upstream.handlers["CreateSnapshot"] = lambda req: csi.CreateSnapshotResponse(
        snapshot=snapshot(csi, "x", req.source_volume_id, 1)
    )
    req = csi.CreateSnapshotRequest(name="vs", source_volume_id="vol-a")
    run(proto, upstream, ["snapshot-wrong-source"], "CreateSnapshot", req)
    assert upstream.sent("CreateSnapshot")[0].source_volume_id == "vol-a"


def test_clone_shared_returns_the_source_itself(proto, upstream, csi) -> None:
    upstream.handlers["ListVolumes"] = list_volumes_from(
        csi, [("vol-x", MiB), ("vol-y", MiB), ("vol-a", MiB)]
    )
    resp = run(proto, upstream, ["clone-shared"], "CreateVolume",
               clone_request(csi, "vol-a", required=2 * MiB))  # fmt: skip
    assert not upstream.sent("CreateVolume")
    assert resp.volume.volume_id == "vol-a"
    assert resp.volume.capacity_bytes == 2 * MiB
    assert resp.volume.content_source.volume.volume_id == "vol-a"
    assert dict(resp.volume.volume_context) == {"k": "v"}
    assert resp.volume.accessible_topology[0].segments["topology.hostpath.csi/node"] == "n1"


def test_clone_shared_unknown_source_goes_upstream(proto, upstream, csi) -> None:
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, [])
    with pytest.raises(CallError) as err:
        run(proto, upstream, ["clone-shared"], "CreateVolume", clone_request(csi, "gone"))
    assert err.value.code == grpc.StatusCode.UNIMPLEMENTED  # the fake's answer
    assert upstream.sent("CreateVolume")


def source_of(src: Any) -> tuple[str, str]:
    """A VolumeContentSource as (kind, id): ("snapshot", "s1"), ("volume", "v"), ("", "")."""
    kind = src.WhichOneof("type") or ""
    return kind, (src.snapshot.snapshot_id if kind == "snapshot" else src.volume.volume_id)


def sent_source(upstream: FakeUpstream, index: int = 0) -> tuple[str, str]:
    """The content source of the index-th CreateVolume upstream saw."""
    return source_of(upstream.sent("CreateVolume")[index].volume_content_source)


def reported_source(resp: Any) -> tuple[str, str]:
    """The content source a CreateVolume reply reports."""
    return source_of(resp.volume.content_source)


def test_clone_from_last_snapshot_restores_the_newest_ready_one(proto, upstream, csi) -> None:
    not_ready = snapshot(csi, "s3", "vol-a", 300)
    not_ready.ready_to_use = False
    snaps = [snapshot(csi, "s1", "vol-a", 100), snapshot(csi, "s2", "vol-a", 200), not_ready,
             snapshot(csi, "s4", "vol-b", 400)]  # fmt: skip
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    lines: list[str] = []
    resp = run(proto, upstream, ["clone-from-last-snapshot"], "CreateVolume",
               clone_request(csi, "vol-a"), log=lines.append)  # fmt: skip
    assert upstream.sent("ListSnapshots")[0].source_volume_id == "vol-a"
    assert sent_source(upstream) == ("snapshot", "s2")
    sent = upstream.sent("CreateVolume")[0]
    assert (sent.name, sent.capacity_range.required_bytes) == ("pvc-clone", MiB)
    assert reported_source(resp) == ("volume", "vol-a")
    assert "restoring snapshot s2 of vol-a" in lines[-1]


def test_clone_from_last_snapshot_is_stable_across_retries(proto, upstream, csi) -> None:
    snaps = [snapshot(csi, "s1", "vol-a", 100)]
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    instances: dict[str, Any] = {}
    run(proto, upstream, ["clone-from-last-snapshot"], "CreateVolume",
        clone_request(csi, "vol-a"), instances=instances)  # fmt: skip
    snaps.append(snapshot(csi, "s9", "vol-a", 900))  # newer, but the retry keeps its choice
    run(proto, upstream, ["clone-from-last-snapshot"], "CreateVolume",
        clone_request(csi, "vol-a"), instances=instances)  # fmt: skip
    assert [sent_source(upstream, i) for i in (0, 1)] == [("snapshot", "s1")] * 2


def test_clone_from_last_snapshot_without_snapshot_passes_through(proto, upstream, csi) -> None:
    snaps: list[Any] = []
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    instances: dict[str, Any] = {}
    lines: list[str] = []
    resp = run(proto, upstream, ["clone-from-last-snapshot"], "CreateVolume",
               clone_request(csi, "vol-a"), instances=instances, log=lines.append)  # fmt: skip
    assert sent_source(upstream) == ("volume", "vol-a")
    assert reported_source(resp) == ("volume", "vol-a")
    assert "no ready snapshot of volume vol-a" in lines[-1]
    snaps.append(snapshot(csi, "s1", "vol-a", 100))  # a retry of the same name stays a clone
    run(proto, upstream, ["clone-from-last-snapshot"], "CreateVolume",
        clone_request(csi, "vol-a"), instances=instances)  # fmt: skip
    assert sent_source(upstream, 1) == ("volume", "vol-a")


def test_clone_from_last_snapshot_ignores_restores_and_plain_creates(proto, upstream, csi):
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    plain = csi.CreateVolumeRequest(name="plain", volume_capabilities=[mount_cap(csi)])
    for req in (restore_request(csi, "s1"), plain):
        run(proto, upstream, ["clone-from-last-snapshot"], "CreateVolume", req)
    assert [name for name, _, _ in upstream.seen] == ["CreateVolume"] * 2
    assert upstream.seen[1][2] == plain.SerializeToString()


def _clone(proto: CsiProto, upstream: FakeUpstream, instances: dict[str, Any], name: str,
           source: str, **kwargs: Any) -> Any:  # fmt: skip
    req = clone_request(csi=proto.module, volume=source)
    req.name = name
    return run(proto, upstream, ["clone-of-clone-from-origin"], "CreateVolume", req,
               instances=instances, **kwargs)  # fmt: skip


def test_clone_of_clone_from_origin_clones_the_first_volume(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = create_volume_by_name(csi)
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, [("vol-a", MiB)])
    instances: dict[str, Any] = {}
    lines: list[str] = []
    first = _clone(proto, upstream, instances, "c1", "vol-a")
    assert first.volume.volume_id == "id-c1"
    assert not upstream.sent("ListVolumes")  # vol-a is no known clone: no look-up
    second = _clone(proto, upstream, instances, "c2", "id-c1", log=lines.append)
    third = _clone(proto, upstream, instances, "c3", "id-c2")  # a chain leads to its origin
    assert [sent_source(upstream, i) for i in range(3)] == [("volume", "vol-a")] * 3
    assert reported_source(second) == ("volume", "id-c1")
    assert reported_source(third) == ("volume", "id-c2")
    assert "cloning origin vol-a instead of clone id-c1" in lines[-1]


def test_clone_of_clone_from_origin_is_stable_across_retries(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = create_volume_by_name(csi)
    volumes = [("vol-a", MiB)]
    upstream.handlers["ListVolumes"] = lambda req: list_volumes_from(csi, volumes)(req)
    instances: dict[str, Any] = {}
    _clone(proto, upstream, instances, "c1", "vol-a")
    _clone(proto, upstream, instances, "c2", "id-c1")
    volumes.clear()  # the origin goes; a retry of c2 keeps its source
    resp = _clone(proto, upstream, instances, "c2", "id-c1")
    assert sent_source(upstream, 2) == ("volume", "vol-a")
    assert resp.volume.volume_id == "id-c2"


def test_clone_of_clone_from_origin_with_origin_gone_passes_through(proto, upstream, csi):
    upstream.handlers["CreateVolume"] = create_volume_by_name(csi)
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, [("id-c1", MiB)])
    instances: dict[str, Any] = {}
    lines: list[str] = []
    _clone(proto, upstream, instances, "c1", "vol-a")
    _clone(proto, upstream, instances, "c2", "id-c1", log=lines.append)
    _clone(proto, upstream, instances, "c3", "id-c2")  # c2's data came from c1
    assert [sent_source(upstream, i)[1] for i in range(3)] == ["vol-a", "id-c1", "id-c1"]
    assert "origin vol-a of clone id-c1 is gone" in lines[0]


def test_clone_of_clone_from_origin_knows_only_its_own_clones(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = create_volume_by_name(csi)
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, [("vol-a", MiB)])
    _clone(proto, upstream, {}, "c1", "vol-a")
    _clone(proto, upstream, {}, "c2", "id-c1")  # a fresh activation: c1 is a plain volume
    assert sent_source(upstream, 1) == ("volume", "id-c1")
    run(proto, upstream, ["clone-of-clone-from-origin"], "CreateVolume",
        restore_request(csi, "s1"))  # fmt: skip
    assert sent_source(upstream, 2) == ("snapshot", "s1")


def test_restore_from_live_volume_clones_the_source(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [snapshot(csi, "s1", "vol-a", 1)])
    upstream.handlers["ListVolumes"] = list_volumes_from(
        csi, [("vol-x", MiB), ("vol-y", MiB), ("vol-a", MiB)]
    )
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    lines: list[str] = []
    resp = run(proto, upstream, ["restore-from-live-volume"], "CreateVolume",
               restore_request(csi, "s1"), log=lines.append)  # fmt: skip
    assert upstream.sent("ListSnapshots")[0].snapshot_id == "s1"
    assert sent_source(upstream) == ("volume", "vol-a")
    assert reported_source(resp) == ("snapshot", "s1")
    assert "cloning live volume vol-a instead of restoring s1" in lines[-1]


@pytest.mark.parametrize(
    ("snaps", "volumes", "required", "why"),
    [
        ([], [("vol-a", MiB)], MiB, "snapshot s1 or its source is unknown"),
        ([("s1", "vol-a")], [("vol-b", MiB)], MiB, "source volume vol-a of s1 is gone"),
        ([("s1", "vol-a")], [("vol-a", 2 * MiB)], MiB, "outgrew the restore's"),
    ],
)
def test_restore_from_live_volume_passes_through(proto, upstream, csi, snaps, volumes,
                                                 required, why) -> None:  # fmt: skip
    upstream.handlers["ListSnapshots"] = list_snapshots_from(
        csi, [snapshot(csi, sid, src, 1) for sid, src in snaps]
    )
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, volumes)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    lines: list[str] = []
    resp = run(proto, upstream, ["restore-from-live-volume"], "CreateVolume",
               restore_request(csi, "s1", required=required), log=lines.append)  # fmt: skip
    assert sent_source(upstream) == ("snapshot", "s1")
    assert reported_source(resp) == ("snapshot", "s1")
    assert why in lines[-1]


def test_restore_from_live_volume_is_stable_across_retries(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [snapshot(csi, "s1", "vol-a", 1)])
    volumes = [("vol-a", MiB)]
    upstream.handlers["ListVolumes"] = lambda req: list_volumes_from(csi, volumes)(req)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    instances: dict[str, Any] = {}
    for _ in range(2):
        run(proto, upstream, ["restore-from-live-volume"], "CreateVolume",
            restore_request(csi, "s1"), instances=instances)  # fmt: skip
        volumes.clear()  # the source goes after the first attempt; the retry keeps its choice
    assert [sent_source(upstream, i) for i in (0, 1)] == [("volume", "vol-a")] * 2
    assert len(upstream.sent("ListSnapshots")) == 1


def test_restore_from_live_volume_ignores_clones(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    run(proto, upstream, ["restore-from-live-volume"], "CreateVolume", clone_request(csi, "v"))
    assert [name for name, _, _ in upstream.seen] == ["CreateVolume"]


# --- data corruption ----------------------------------------------------------------------


def test_restore_corrupt_flips_file_bytes_once(proto, upstream, csi, tmp_path) -> None:
    data = tmp_path / "volumes" / "new-vol" / "sub"
    data.mkdir(parents=True)
    original = bytes(range(256)) * 8
    (data / "file").write_bytes(original)
    (data / "empty").write_bytes(b"")
    os.utime(data / "file", ns=(1_000_000_000, 2_000_000_000))
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    instances: dict[str, Any] = {}
    req = restore_request(csi, "s1")
    run(proto, upstream, ["restore-corrupt"], "CreateVolume", req, hostpath_state=tmp_path,
        instances=instances)  # fmt: skip
    changed = (data / "file").read_bytes()
    assert changed[:512] == bytes(b ^ 0xFF for b in original[:512])
    assert changed[512:] == original[512:]
    assert (data / "file").stat().st_mtime_ns == 2_000_000_000
    run(proto, upstream, ["restore-corrupt"], "CreateVolume", req, hostpath_state=tmp_path,
        instances=instances)  # fmt: skip
    assert (data / "file").read_bytes() == changed  # a retry does not flip them back


def test_restore_corrupt_block_image_flips_the_data_extent(proto, upstream, csi, tmp_path):
    image = tmp_path / "volumes" / "new-vol.img"
    image.parent.mkdir()
    with image.open("wb") as f:
        f.truncate(4 * MiB)
        f.seek(2 * MiB)
        f.write(b"\x11" * 4096)
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    run(proto, upstream, ["restore-corrupt"], "CreateVolume", restore_request(csi, "s1"),
        hostpath_state=tmp_path)  # fmt: skip
    with image.open("rb") as f:
        f.seek(2 * MiB)
        block = f.read(4096)
    assert block[:512] == b"\xee" * 512
    assert block[512:] == b"\x11" * (4096 - 512)


def test_restore_corrupt_ignores_plain_creates(proto, upstream, csi, tmp_path) -> None:
    (tmp_path / "volumes" / "new-vol").mkdir(parents=True)
    (tmp_path / "volumes" / "new-vol" / "f").write_bytes(b"abc")
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    req = csi.CreateVolumeRequest(name="plain", volume_capabilities=[mount_cap(csi)])
    run(proto, upstream, ["restore-corrupt"], "CreateVolume", req, hostpath_state=tmp_path)
    assert (tmp_path / "volumes" / "new-vol" / "f").read_bytes() == b"abc"


def test_restore_corrupt_without_state_dir_fails_before_upstream(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    with pytest.raises(CallError) as err:
        run(proto, upstream, ["restore-corrupt"], "CreateVolume", restore_request(csi, "s1"))
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "--hostpath-state" in err.value.details
    assert not upstream.seen


# --- snapshot status and size faults ------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "field", "expected"),
    [
        ("never-ready", "ready_to_use", False),
        ("restore-size-zero", "size_bytes", 0),
        ("restore-size-short", "size_bytes", 3 * MiB // 2),
    ],
)
def test_snapshot_status_faults(proto, upstream, csi, name, field, expected) -> None:
    snaps = [snapshot(csi, "s1", "a", 1, size=3 * MiB), snapshot(csi, "s2", "a", 2, size=3 * MiB)]
    upstream.handlers["CreateSnapshot"] = lambda req: csi.CreateSnapshotResponse(snapshot=snaps[0])
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["GetSnapshot"] = lambda req: csi.GetSnapshotResponse(snapshot=snaps[1])
    created = run(proto, upstream, [name], "CreateSnapshot",
                  csi.CreateSnapshotRequest(name="vs", source_volume_id="a"))  # fmt: skip
    listed = run(proto, upstream, [name], "ListSnapshots", csi.ListSnapshotsRequest())
    got = run(proto, upstream, [name], "GetSnapshot", csi.GetSnapshotRequest(snapshot_id="s2"))
    values = [getattr(created.snapshot, field), getattr(got.snapshot, field)]
    values += [getattr(e.snapshot, field) for e in listed.entries]
    assert values == [expected] * 4
    assert created.snapshot.snapshot_id == "s1"  # nothing else changes


def test_capacity_short_reports_half_the_request(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    req = csi.CreateVolumeRequest(
        name="v", volume_capabilities=[mount_cap(csi)],
        capacity_range=csi.CapacityRange(required_bytes=10 * MiB),
    )  # fmt: skip
    resp = run(proto, upstream, ["capacity-short"], "CreateVolume", req)
    assert resp.volume.capacity_bytes == 5 * MiB
    assert upstream.sent("CreateVolume")[0].capacity_range.required_bytes == 10 * MiB


def test_restore_larger_ignored_uses_the_snapshot_size(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [snapshot(csi, "s1", "a", 1)])
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    resp = run(proto, upstream, ["restore-larger-ignored"], "CreateVolume",
               restore_request(csi, "s1", required=3 * MiB))  # fmt: skip
    assert upstream.sent("CreateVolume")[0].capacity_range.required_bytes == MiB
    assert resp.volume.capacity_bytes == MiB


def test_restore_larger_ignored_same_size_passes_through(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [snapshot(csi, "s1", "a", 1)])
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    req = restore_request(csi, "s1", required=MiB)
    run(proto, upstream, ["restore-larger-ignored"], "CreateVolume", req)
    assert upstream.sent("CreateVolume")[0].capacity_range.required_bytes == MiB


def test_delete_snapshot_noop_never_calls_upstream(proto, upstream, csi) -> None:
    resp = run(proto, upstream, ["delete-snapshot-noop"], "DeleteSnapshot",
               csi.DeleteSnapshotRequest(snapshot_id="s1"))  # fmt: skip
    assert resp == csi.DeleteSnapshotResponse()
    assert not upstream.seen


def test_delete_volume_noop_never_calls_upstream(proto, upstream, csi) -> None:
    lines: list[str] = []
    resp = run(proto, upstream, ["delete-volume-noop"], "DeleteVolume",
               csi.DeleteVolumeRequest(volume_id="vol-a"), log=lines.append)  # fmt: skip
    assert resp == csi.DeleteVolumeResponse()
    assert not upstream.seen
    assert BUILTIN["delete-volume-noop"].methods == frozenset({"DeleteVolume"})
    assert "kept volume vol-a" in lines[-1]


def snapshot_replies(proto: CsiProto, upstream: FakeUpstream, name: str,
                     snaps: list[Any]) -> list[Any]:  # fmt: skip
    """The snapshots of a CreateSnapshot (snaps[0]), a GetSnapshot (snaps[-1]) and a
    ListSnapshots (all of snaps) reply through the fault."""
    csi = proto.module
    upstream.handlers["CreateSnapshot"] = lambda req: csi.CreateSnapshotResponse(snapshot=snaps[0])
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["GetSnapshot"] = lambda req: csi.GetSnapshotResponse(snapshot=snaps[-1])
    created = run(proto, upstream, [name], "CreateSnapshot",
                  csi.CreateSnapshotRequest(name="vs", source_volume_id="a"))  # fmt: skip
    got = run(proto, upstream, [name], "GetSnapshot",
              csi.GetSnapshotRequest(snapshot_id=snaps[-1].snapshot_id))  # fmt: skip
    listed = run(proto, upstream, [name], "ListSnapshots", csi.ListSnapshotsRequest())
    return [created.snapshot, got.snapshot] + [e.snapshot for e in listed.entries]


def test_snapshot_time_unset_clears_every_creation_time(proto, upstream, csi) -> None:
    snaps = [snapshot(csi, "s1", "a", 1000), snapshot(csi, "s2", "a", 2000)]
    replies = snapshot_replies(proto, upstream, "snapshot-time-unset", snaps)
    assert [s.HasField("creation_time") for s in replies] == [False] * 4
    assert [s.snapshot_id for s in replies] == ["s1", "s2", "s1", "s2"]
    assert all(s.ready_to_use and s.size_bytes == MiB for s in replies)  # nothing else changes


def test_snapshot_time_shifted_moves_creation_times_an_hour_ahead(proto, upstream, csi) -> None:
    unset = csi.Snapshot(snapshot_id="s2", source_volume_id="a", ready_to_use=True)
    first = snapshot(csi, "s1", "a", 1000)
    first.creation_time.nanos = 7
    replies = snapshot_replies(proto, upstream, "snapshot-time-shifted", [first, unset])
    times = [(s.creation_time.seconds, s.creation_time.nanos) if s.HasField("creation_time")
             else None for s in replies]  # fmt: skip
    assert times == [(4600, 7), None, (4600, 7), None]


def test_list_snapshots_size_short_leaves_create_snapshot_alone(proto, upstream, csi) -> None:
    assert BUILTIN["list-snapshots-size-short"].methods == frozenset({"GetSnapshot",
                                                                     "ListSnapshots"})  # fmt: skip
    snaps = [snapshot(csi, "s1", "a", 1, size=3 * MiB), snapshot(csi, "s2", "a", 2, size=3 * MiB)]
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    upstream.handlers["GetSnapshot"] = lambda req: csi.GetSnapshotResponse(snapshot=snaps[1])
    lines: list[str] = []
    listed = run(proto, upstream, ["list-snapshots-size-short"], "ListSnapshots",
                 csi.ListSnapshotsRequest(snapshot_id="s1"), log=lines.append)  # fmt: skip
    got = run(proto, upstream, ["list-snapshots-size-short"], "GetSnapshot",
              csi.GetSnapshotRequest(snapshot_id="s2"))  # fmt: skip
    assert [e.snapshot.size_bytes for e in listed.entries] == [3 * MiB // 2]
    assert (got.snapshot.snapshot_id, got.snapshot.size_bytes) == ("s2", 3 * MiB // 2)
    assert got.snapshot.ready_to_use
    assert f"size {3 * MiB // 2} for s1" in lines[-1]


def test_list_snapshots_ignores_id_lists_everything_asked_one_first(proto, upstream, csi) -> None:
    snaps = [snapshot(csi, f"s{i}", "a", i) for i in (1, 2, 3)]
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    lines: list[str] = []
    resp = run(proto, upstream, ["list-snapshots-ignores-id"], "ListSnapshots",
               csi.ListSnapshotsRequest(snapshot_id="s2", max_entries=5, source_volume_id="a"),
               log=lines.append)  # fmt: skip
    (sent,) = upstream.sent("ListSnapshots")
    assert (sent.snapshot_id, sent.max_entries, sent.source_volume_id) == ("", 5, "a")
    assert [e.snapshot.snapshot_id for e in resp.entries] == ["s2", "s1", "s3"]
    assert "the asked one first" in lines[-1]


def test_list_snapshots_ignores_id_makes_a_bogus_handle_exist(proto, upstream, csi) -> None:
    snaps = [snapshot(csi, "s1", "a", 1), snapshot(csi, "s2", "b", 2)]
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, snaps)
    resp = run(proto, upstream, ["list-snapshots-ignores-id"], "ListSnapshots",
               csi.ListSnapshotsRequest(snapshot_id="snapconf-bogus-x"))  # fmt: skip
    assert [e.snapshot.snapshot_id for e in resp.entries] == ["s1", "s2"]
    assert resp.entries[0].snapshot.ready_to_use


def test_list_snapshots_ignores_id_forwards_a_copy(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [])
    req = csi.ListSnapshotsRequest(snapshot_id="s1")
    call = Call(proto.method("ListSnapshots"), req.SerializeToString(), proto=proto,
                upstream=upstream, chain=[("list-snapshots-ignores-id",
                                           BUILTIN["list-snapshots-ignores-id"].factory())],
                log=lambda _line: None)  # fmt: skip
    assert not call.forward().message.entries  # nothing upstream: nothing to claim
    assert call.request.snapshot_id == "s1"  # earlier faults in a chain still see the filter
    assert upstream.sent("ListSnapshots")[0].snapshot_id == ""


def test_list_snapshots_ignores_id_leaves_unfiltered_lists_alone(proto, upstream, csi) -> None:
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, [snapshot(csi, "s1", "a", 1)])
    req = csi.ListSnapshotsRequest(source_volume_id="a")
    run(proto, upstream, ["list-snapshots-ignores-id"], "ListSnapshots", req)
    assert upstream.seen[0][2] == req.SerializeToString()


# --- tolerance faults ---------------------------------------------------------------------


def test_transient_unavailable_fails_three_calls_per_method(proto, upstream, csi) -> None:
    upstream.handlers["Probe"] = lambda req: csi.ProbeResponse()
    upstream.handlers["ListVolumes"] = lambda req: csi.ListVolumesResponse()
    instances: dict[str, Any] = {}
    outcomes: dict[str, list[str]] = {"Probe": [], "ListVolumes": []}
    for _ in range(4):
        for method, req in (
            ("Probe", csi.ProbeRequest()),
            ("ListVolumes", csi.ListVolumesRequest()),
        ):
            try:
                run(proto, upstream, ["transient-unavailable"], method, req, instances=instances)
                outcomes[method].append("OK")
            except CallError as exc:
                outcomes[method].append(exc.code.name)
    expected = ["UNAVAILABLE"] * 3 + ["OK"]
    assert outcomes == {"Probe": expected, "ListVolumes": expected}
    assert len(upstream.seen) == 2
    with pytest.raises(CallError):  # a fresh activation counts again
        run(proto, upstream, ["transient-unavailable"], "Probe", csi.ProbeRequest())


def test_transient_unavailable_is_an_outage_in_time(proto, upstream, csi) -> None:
    """A call after the outage passes even if fewer than three failed before it."""
    from snapconf_testbed.faults.builtin import TransientUnavailable

    now = [100.0]
    instances: dict[str, Any] = {
        "transient-unavailable": TransientUnavailable(clock=lambda: now[0])
    }
    upstream.handlers["Probe"] = lambda req: csi.ProbeResponse()
    with pytest.raises(CallError):
        run(
            proto,
            upstream,
            ["transient-unavailable"],
            "Probe",
            csi.ProbeRequest(),
            instances=instances,
        )
    now[0] += TransientUnavailable.OUTAGE + 0.1
    run(
        proto, upstream, ["transient-unavailable"], "Probe", csi.ProbeRequest(), instances=instances
    )
    assert len(upstream.seen) == 1


def test_faults_that_only_delay_or_fail_parse_nothing(proto, upstream, csi) -> None:
    upstream.handlers["Probe"] = lambda req: csi.ProbeResponse()
    instance = BUILTIN["transient-unavailable"].factory()
    raw = csi.ProbeRequest().SerializeToString()
    for _ in range(3):
        call = Call(proto.method("Probe"), raw, proto=proto, upstream=upstream,
                    chain=[("transient-unavailable", instance)])  # fmt: skip
        with pytest.raises(CallError):
            call.forward()
    call = Call(proto.method("Probe"), raw, proto=proto, upstream=upstream,
                chain=[("transient-unavailable", instance)])  # fmt: skip
    reply = call.forward()
    assert not reply.parsed
    assert call._request is None  # the request went upstream as the caller's bytes
    assert reply.to_bytes() == csi.ProbeResponse().SerializeToString()


def test_slow_fault_forwards_first_then_holds_the_reply(proto, upstream, csi, monkeypatch):
    monkeypatch.setattr(SlowSnapshot, "SECONDS", 0.3)
    forwarded_at: list[float] = []

    def create(req: Any) -> Any:
        forwarded_at.append(time.monotonic())
        return csi.CreateSnapshotResponse(snapshot=snapshot(csi, "s", "a", 1))

    upstream.handlers["CreateSnapshot"] = create
    started = time.monotonic()
    run(proto, upstream, ["slow-snapshot"], "CreateSnapshot",
        csi.CreateSnapshotRequest(name="vs", source_volume_id="a"))  # fmt: skip
    assert forwarded_at[0] - started < 0.2
    assert time.monotonic() - started >= 0.3


def test_slow_fault_stops_waiting_when_the_caller_gives_up(proto, upstream, csi) -> None:
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    done = threading.Event()
    done.set()  # the caller is already gone
    started = time.monotonic()
    run(
        proto,
        upstream,
        ["slow-provision"],
        "CreateVolume",
        csi.CreateVolumeRequest(name="v", volume_capabilities=[mount_cap(csi)]),
        done=done,
    )
    assert time.monotonic() - started < 5


def test_faults_chain_in_order(proto, upstream, csi) -> None:
    snaps = [snapshot(csi, "s1", "a", 1, size=4 * MiB)]
    upstream.handlers["CreateSnapshot"] = lambda req: csi.CreateSnapshotResponse(snapshot=snaps[0])
    resp = run(proto, upstream, ["never-ready", "restore-size-short"], "CreateSnapshot",
               csi.CreateSnapshotRequest(name="vs", source_volume_id="a"))  # fmt: skip
    assert (resp.snapshot.ready_to_use, resp.snapshot.size_bytes) == (False, 2 * MiB)


def test_reply_rejects_a_message_of_the_wrong_type(proto, csi) -> None:
    reply = Reply(csi.ProbeResponse, message=csi.ProbeResponse())
    with pytest.raises(TypeError):
        reply.message = csi.ListVolumesResponse()


# --- the control file ---------------------------------------------------------------------


def test_control_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "faults.json"
    assert read_active(path) == []
    assert write_active(path, ["never-ready,capacity-short", "never-ready"]) == [
        "never-ready", "capacity-short",
    ]  # fmt: skip
    assert json.loads(path.read_text()) == {"faults": ["never-ready", "capacity-short"]}
    assert read_active(path) == ["never-ready", "capacity-short"]
    assert write_active(path, ["none"]) == []
    assert read_active(path) == []
    assert not [p for p in tmp_path.iterdir() if p.name != "faults.json"]  # no temp leftovers


def test_unknown_fault_names_the_known_ones_and_a_close_match(tmp_path: Path) -> None:
    with pytest.raises(UnknownFaultError) as err:
        write_active(tmp_path / "c.json", ["never-redy"])
    message = str(err.value)
    assert "did you mean 'never-ready'" in message
    assert all(name in message for name in KNOWN_FAULTS)
    assert not (tmp_path / "c.json").exists()


def test_none_cannot_be_combined() -> None:
    with pytest.raises(ControlError, match="none"):
        parse_names(["none", "never-ready"])


def test_write_active_accepts_user_fault_names(tmp_path: Path) -> None:
    assert write_active(tmp_path / "c.json", ["mine"], known=["mine"]) == ["mine"]


@pytest.mark.parametrize("content", ["{not json", '{"faults": "never-ready"}', "[1]"])
def test_bad_control_file_is_an_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(ControlError):
        read_active(path)


def test_control_watch_sees_each_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    watch = ControlWatch(path)
    assert not watch.poll()  # absent, as before
    write_active(path, ["never-ready"])
    assert watch.poll()
    assert not watch.poll()
    write_active(path, ["never-ready"])  # same content, same mtime tick: a new inode
    assert watch.poll()
    path.unlink()
    assert watch.poll()


def test_active_faults_switch_from_the_control_file(proto, tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    write_active(path, ["transient-unavailable"])
    lines: list[str] = []
    active = ActiveFaults(registry_with(), ["transient-unavailable"], path, log=lines.append)
    ((_, first),) = active.chain("Probe")
    assert active.chain("CreateVolume")[0][0] == "transient-unavailable"
    write_active(path, ["transient-unavailable", "never-ready"])
    assert [n for n, _ in active.chain("ListSnapshots")] == ["transient-unavailable",
                                                            "never-ready"]  # fmt: skip
    assert active.chain("Probe")[0][1] is first  # a fault that stays on keeps its state
    path.write_text('{"faults": ["bogus"]}')
    assert active.names() == ["transient-unavailable", "never-ready"]
    active.chain("Probe")
    assert "ignoring the control file" in lines[-1]
    write_active(path, [])
    assert active.chain("Probe") == []


# --- user fault modules -------------------------------------------------------------------

USER_MODULE = '''
from dataclasses import dataclass

from conformance.faults import Call, Reply, fault


@fault("expand-noop", methods=["ControllerExpandVolume"])
def expand_noop(call: Call) -> Reply:
    """Expansion reports success but nothing grows."""
    return call.reply(call.csi.ControllerExpandVolumeResponse(
        capacity_bytes=call.request.capacity_range.required_bytes))


@fault("probe-counter")
@dataclass
class ProbeCounter:
    """Counts calls (a stateful class fault)."""

    calls: int = 0

    def __call__(self, call: Call) -> Reply:
        self.calls += 1
        return call.forward()
'''


def test_user_fault_module_registers_beside_the_builtins(proto, upstream, csi, tmp_path):
    path = tmp_path / "my_faults.py"
    path.write_text(USER_MODULE)
    registry = Registry(parent=BUILTIN)
    assert registry.load_module(path) == ("expand-noop", "probe-counter")
    assert set(KNOWN_FAULTS) < set(registry.names())
    assert "expand-noop" not in BUILTIN
    spec = registry["expand-noop"]
    assert spec.methods == frozenset({"ControllerExpandVolume"})
    req = csi.ControllerExpandVolumeRequest(
        volume_id="v", capacity_range=csi.CapacityRange(required_bytes=7)
    )
    call = Call(proto.method("ControllerExpandVolume"), req.SerializeToString(), proto=proto,
                upstream=upstream, chain=[("expand-noop", spec.factory())])  # fmt: skip
    assert call.forward().message.capacity_bytes == 7
    assert not upstream.seen
    assert registry["probe-counter"].factory() is not registry["probe-counter"].factory()


def test_available_faults_lists_summaries(tmp_path: Path) -> None:
    path = tmp_path / "my_faults.py"
    path.write_text(USER_MODULE)
    faults = available_faults(path)
    assert faults["expand-noop"] == "Expansion reports success but nothing grows."
    assert faults["never-ready"] == "Snapshots never become ready to use."
    assert "expand-noop" not in available_faults()


@pytest.mark.parametrize(
    ("source", "match"),
    [
        ("import nonexistent_module_xyz\n", "nonexistent_module_xyz"),
        (
            "from conformance.faults import fault\n"
            "@fault('never-ready')\ndef f(call):\n    '''Clash.'''\n",
            "already registered",
        ),
        ("from conformance.faults import fault\n@fault('x-y')\ndef f(call):\n    pass\n",
         "docstring"),
        ("from conformance.faults import fault\n@fault('Bad Name')\ndef f(call):\n    '''D.'''\n",
         "invalid fault name"),
    ],
)  # fmt: skip
def test_bad_user_module_is_rejected(tmp_path: Path, source: str, match: str) -> None:
    path = tmp_path / "bad.py"
    path.write_text("from conformance.faults import fault\n"
                    "@fault('ok-one')\ndef ok(call):\n    '''Fine.'''\n" + source)  # fmt: skip
    registry = Registry(parent=BUILTIN)
    with pytest.raises(FaultModuleError, match=match):
        registry.load_module(path)
    assert "ok-one" not in registry  # a failed load registers nothing
    assert not [m for m in sys.modules if m.startswith("snapconf_user_faults_") and
                getattr(sys.modules[m], "__file__", "") == str(path)]  # fmt: skip


def test_missing_user_module(tmp_path: Path) -> None:
    with pytest.raises(FaultModuleError, match="does not exist"):
        registry_with([tmp_path / "nope.py"])


def test_decorator_rejects_classes_without_call() -> None:
    registry_before = BUILTIN.names()
    with pytest.raises(ValueError, match="__call__"):

        @fault("no-call-here")
        class NoCall:
            """Not callable."""

    assert BUILTIN.names() == registry_before


# --- the testbed's entry points -----------------------------------------------------------


def test_interposer_argv(tmp_path: Path) -> None:
    argv = interposer_argv(
        tmp_path / "a.sock", "unix:///run/csi.sock", tmp_path / "c.json", tmp_path / "state",
        tmp_path / "mine.py", faults=["never-ready"], proto_dir=tmp_path / "proto",
    )  # fmt: skip
    assert argv[:3] == [sys.executable, "-m", "snapconf_testbed.faults.interposer"]
    opts = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert opts == {
        "--listen": f"unix://{tmp_path / 'a.sock'}",
        "--upstream": "unix:///run/csi.sock",
        "--faults": "never-ready",
        "--control": str(tmp_path / "c.json"),
        "--hostpath-state": str(tmp_path / "state"),
        "--fault-module": str(tmp_path / "mine.py"),
        "--proto-dir": str(tmp_path / "proto"),
    }
    minimal = interposer_argv("/x/a.sock", "/x/csi.sock", None, None)
    assert minimal[3:] == ["--listen", "unix:///x/a.sock", "--upstream", "unix:///x/csi.sock"]


def serve_group(csi: Any, upstream: FakeUpstream, members: list[Any]) -> None:
    """Upstream answers Create/GetVolumeGroupSnapshot with group g1 of these members."""
    group = csi.VolumeGroupSnapshot(group_snapshot_id="g1", snapshots=members, ready_to_use=True)
    upstream.handlers["CreateVolumeGroupSnapshot"] = lambda req: (
        csi.CreateVolumeGroupSnapshotResponse(group_snapshot=group)
    )
    upstream.handlers["GetVolumeGroupSnapshot"] = lambda req: csi.GetVolumeGroupSnapshotResponse(
        group_snapshot=group
    )


def test_group_members_swapped_rotates_sources_the_same_in_create_and_get(
    proto, upstream, csi
) -> None:
    members = [snapshot(csi, f"s-{v}", v, 1000) for v in ("b", "a", "c")]
    serve_group(csi, upstream, members)
    request = csi.CreateVolumeGroupSnapshotRequest(name="g", source_volume_ids=["a", "b", "c"])
    created = run(proto, upstream, ["group-members-swapped"], "CreateVolumeGroupSnapshot",
                  request)  # fmt: skip
    got = run(proto, upstream, ["group-members-swapped"], "GetVolumeGroupSnapshot",
              csi.GetVolumeGroupSnapshotRequest(group_snapshot_id="g1"))  # fmt: skip
    for reply in (created, got):
        pairs = {s.snapshot_id: s.source_volume_id for s in reply.group_snapshot.snapshots}
        assert pairs == {"s-a": "b", "s-b": "c", "s-c": "a"}  # every member under another


def test_group_members_swapped_leaves_a_group_of_one(proto, upstream, csi) -> None:
    group = csi.VolumeGroupSnapshot(group_snapshot_id="g1", snapshots=[snapshot(csi, "s", "a", 1)])
    upstream.handlers["GetVolumeGroupSnapshot"] = lambda req: csi.GetVolumeGroupSnapshotResponse(
        group_snapshot=group
    )
    got = run(proto, upstream, ["group-members-swapped"], "GetVolumeGroupSnapshot",
              csi.GetVolumeGroupSnapshotRequest(group_snapshot_id="g1"))  # fmt: skip
    assert [s.source_volume_id for s in got.group_snapshot.snapshots] == ["a"]


def test_group_member_missing_drops_the_same_member_from_create_and_get(
    proto, upstream, csi
) -> None:
    members = [snapshot(csi, f"s-{v}", v, 1000) for v in ("b", "c", "a")]
    serve_group(csi, upstream, members)
    lines: list[str] = []
    request = csi.CreateVolumeGroupSnapshotRequest(name="g", source_volume_ids=["a", "b", "c"])
    created = run(proto, upstream, ["group-member-missing"], "CreateVolumeGroupSnapshot",
                  request, log=lines.append)  # fmt: skip
    got = run(proto, upstream, ["group-member-missing"], "GetVolumeGroupSnapshot",
              csi.GetVolumeGroupSnapshotRequest(group_snapshot_id="g1"))  # fmt: skip
    for reply in (created, got):
        assert sorted(s.source_volume_id for s in reply.group_snapshot.snapshots) == ["a", "b"]
    assert "left the member of volume c out of group g1" in lines[-1]


def test_group_member_cut_late_restores_only_that_member_from_the_live_volume(
    proto, upstream, csi
) -> None:
    members = [snapshot(csi, "s-a", "vol-a", 1), snapshot(csi, "s-b", "vol-b", 1)]
    serve_group(csi, upstream, members)
    upstream.handlers["ListSnapshots"] = list_snapshots_from(csi, members)
    upstream.handlers["ListVolumes"] = list_volumes_from(csi, [("vol-a", MiB), ("vol-b", MiB)])
    upstream.handlers["CreateVolume"] = echo_create_volume(csi)
    instances: dict[str, Any] = {}
    lines: list[str] = []
    run(proto, upstream, ["group-member-cut-late"], "CreateVolumeGroupSnapshot",
        csi.CreateVolumeGroupSnapshotRequest(name="g", source_volume_ids=["vol-a", "vol-b"]),
        instances=instances, log=lines.append)  # fmt: skip
    assert "member s-b of volume vol-b is cut late" in lines[-1]
    for sid in ("s-a", "s-b"):
        resp = run(proto, upstream, ["group-member-cut-late"], "CreateVolume",
                   restore_request(csi, sid), instances=instances, log=lines.append)  # fmt: skip
        assert reported_source(resp) == ("snapshot", sid)
    assert sent_source(upstream, 0) == ("snapshot", "s-a"), "the member cut in time restores"
    assert sent_source(upstream, 1) == ("volume", "vol-b"), "the late member: its live volume"


def test_delete_group_noop_never_calls_upstream(proto, upstream, csi) -> None:
    lines: list[str] = []
    request = csi.DeleteVolumeGroupSnapshotRequest(group_snapshot_id="g1")
    resp = run(proto, upstream, ["delete-group-noop"], "DeleteVolumeGroupSnapshot", request,
               log=lines.append)  # fmt: skip
    assert resp == csi.DeleteVolumeGroupSnapshotResponse()
    assert not upstream.seen
    assert "kept group snapshot g1" in lines[-1]
