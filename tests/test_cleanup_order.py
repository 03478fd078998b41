"""Cleanup without a cluster: the controllers' stalls it takes over, and only those."""

from __future__ import annotations

from conformance.resources import (
    GROUP_BEING_DELETED,
    GROUP_CONTENT_FINALIZER,
    PROVISIONER_SNAPSHOT_FINALIZER,
    RUN_LABEL,
    Tracker,
    sweep,
)
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


class SidecarKube(FakeKube):
    """csi-snapshotter as far as group contents go: it deletes one once it is annotated."""

    def patch(self, kind, name, namespace, patch, *, merge=True):  # type: ignore[no-untyped-def]
        merged = super().patch(kind, name, namespace, patch, merge=merge)
        if GROUP_BEING_DELETED in ((merged.get("metadata") or {}).get("annotations") or {}):
            return super().patch(kind, name, namespace, {"metadata": {"finalizers": None}})
        return merged


def group_content(group_uid: str = "uid-1") -> dict[str, object]:
    return {
        "kind": "VolumeGroupSnapshotContent",
        "metadata": {"name": "gc", "finalizers": [GROUP_CONTENT_FINALIZER]},
        "spec": {
            "deletionPolicy": "Delete",
            "volumeGroupSnapshotRef": {"name": "group", "namespace": NS, "uid": group_uid},
        },
    }


def group_tracker(kube: FakeKube) -> Tracker:
    clock = FakeClock()
    tracker = Tracker(kube, RUN, "main", Waiter(kube, clock=clock, sleep=clock.sleep))
    tracker.adopt("VolumeGroupSnapshotContent", "gc", None)
    return tracker


def test_a_group_content_the_controller_never_handed_over_is_annotated_and_noted() -> None:
    kube = SidecarKube()
    kube.put(group_content())  # its VolumeGroupSnapshot is already gone
    tracker = group_tracker(kube)
    assert tracker.cleanup(30) == []
    assert kube.get_or_none("VolumeGroupSnapshotContent", "gc") is None
    assert kube.patches[0][2]["metadata"]["annotations"] == {GROUP_BEING_DELETED: "yes"}, (
        "cleanup hands the content to csi-snapshotter; it does not drop the finalizer itself"
    )
    assert len(tracker.notes) == 1
    assert "snapshot-controller" in tracker.notes[0]
    assert "not the driver's" in tracker.notes[0]


def test_a_group_content_whose_group_still_lives_is_left_to_the_controller() -> None:
    kube = SidecarKube()
    kube.put(group_content())
    kube.put({
        "kind": "VolumeGroupSnapshot",
        "metadata": {"name": "group", "namespace": NS, "uid": "uid-1"},
    })  # fmt: skip
    tracker = group_tracker(kube)
    errors = tracker.cleanup(3)
    assert errors, "a content still bound to a live group is reported, not taken over"
    assert kube.patches == []
    assert tracker.notes == []


def _left_member(kube: FakeKube) -> None:
    kube.put({"kind": "Namespace", "metadata": {"name": NS, "labels": {RUN_LABEL: RUN}}})
    kube.put(snapshot("snapshot.storage.kubernetes.io/volumesnapshot-in-group-protection"))


def test_a_forced_sweep_takes_the_unlabelled_members_a_broken_group_left() -> None:
    kube = FakeKube()
    _left_member(kube)
    clock = FakeClock()
    errors = sweep(kube, RUN, timeout=30, waiter=Waiter(kube, clock=clock, sleep=clock.sleep),
                   force=True)  # fmt: skip
    assert errors == []
    assert kube.get_or_none("VolumeSnapshot", "snap", NS) is None


def test_a_plain_sweep_leaves_members_to_their_group() -> None:
    kube = FakeKube()
    _left_member(kube)
    clock = FakeClock()
    sweep(kube, RUN, timeout=3, waiter=Waiter(kube, clock=clock, sleep=clock.sleep))
    assert kube.get_or_none("VolumeSnapshot", "snap", NS) is not None
    assert not any(kind == "VolumeSnapshot" for kind, _, _ in kube.patches)


def test_a_broken_retained_pv_is_deleted_as_it_is_without_waiting_for_a_provisioner() -> None:
    """A PV of a driver nobody serves (``foreign_claim``) is not flipped to Delete.

    Flipped, it would wait for a provisioner that never comes: half the cleanup budget.
    """
    kube = FakeKube()
    kube.put({
        "kind": "PersistentVolume",
        "metadata": {"name": "foreign-pv", "finalizers": []},
        "spec": {
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"name": "gone-claim", "namespace": NS, "uid": "u1"},
            "csi": {"driver": "other.snapconf.io", "volumeHandle": "h"},
        },
        "status": {"phase": "Released"},
    })  # fmt: skip
    clock = FakeClock()
    tracker = Tracker(kube, RUN, "main", Waiter(kube, clock=clock, sleep=clock.sleep))
    tracker.adopt("PersistentVolume", "foreign-pv")
    tracker.mark_broken("PersistentVolume", "foreign-pv")
    started = clock()
    assert tracker.cleanup(120) == []
    assert kube.get_or_none("PersistentVolume", "foreign-pv") is None
    assert kube.patches == [], "a broken PV's Retain policy was flipped to Delete"
    assert clock() - started < 10, "cleanup waited for a provisioner that never comes"
