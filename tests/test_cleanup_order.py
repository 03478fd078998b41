"""Cleanup without a cluster: the external-provisioner's orphaned snapshot finalizer."""

from __future__ import annotations

from conformance.resources import PROVISIONER_SNAPSHOT_FINALIZER, Tracker
from conformance.waits import Waiter
from tests.fakes import FakeClock, FakeKube

NS = "ns"
RUN = "sc-20261207-000000-abcd"
CONTROLLER_FINALIZER = "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection"


def snapshot(*finalizers: str) -> dict[str, object]:
    return {
        "kind": "VolumeSnapshot",
        "metadata": {"name": "snap", "namespace": NS, "finalizers": list(finalizers)},
        "spec": {"source": {"persistentVolumeClaimName": "src"}},
        "status": {},
    }


def tracker_for(kube: FakeKube) -> Tracker:
    clock = FakeClock()
    tracker = Tracker(kube, RUN, "main", Waiter(kube, clock=clock, sleep=clock.sleep))
    tracker.adopt("VolumeSnapshot", "snap", NS)
    return tracker


def test_a_snapshot_held_only_by_the_provisioner_is_released_and_noted() -> None:
    kube = FakeKube()
    held = snapshot(PROVISIONER_SNAPSHOT_FINALIZER)
    held["metadata"]["managedFields"] = [  # type: ignore[index]
        {"manager": "csi-provisioner", "operation": "Update", "time": "2026-12-07T19:48:03Z"},
        {"manager": "snapshot-controller", "operation": "Update", "time": "2026-12-07T19:48:03Z",
         "subresource": "status"},
    ]  # fmt: skip
    kube.put(held)
    tracker = tracker_for(kube)
    assert tracker.cleanup(30) == []
    assert kube.get_or_none("VolumeSnapshot", "snap", NS) is None
    assert len(tracker.notes) == 1
    assert "external-provisioner" in tracker.notes[0]
    assert PROVISIONER_SNAPSHOT_FINALIZER in tracker.notes[0]
    assert "not the driver's" in tracker.notes[0]
    assert "snapshot-controller Update 2026-12-07T19:48:03Z (status)" in tracker.notes[0]


def test_the_controllers_own_finalizers_are_left_to_it() -> None:
    kube = FakeKube()
    kube.put(snapshot(CONTROLLER_FINALIZER, PROVISIONER_SNAPSHOT_FINALIZER))
    tracker = tracker_for(kube)
    errors = tracker.cleanup(3)
    assert kube.get_or_none("VolumeSnapshot", "snap", NS) is not None
    assert errors, "a snapshot still held by the snapshot-controller is reported, not forced"
    assert tracker.notes == []
    assert kube.patches == []


def test_a_snapshot_a_pending_restore_needs_is_not_released() -> None:
    kube = FakeKube()
    kube.put(snapshot(PROVISIONER_SNAPSHOT_FINALIZER))
    kube.put({
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "restore", "namespace": "ns"},
        "spec": {"dataSource": {"kind": "VolumeSnapshot", "name": "snap"}},
        "status": {"phase": "Pending"},
    })  # fmt: skip
    tracker = tracker_for(kube)  # tracks only the snapshot: the restore stays
    errors = tracker.cleanup(3)
    assert errors
    assert tracker.notes == []
    assert kube.get_or_none("VolumeSnapshot", "snap", NS) is not None
