"""deletion: Delete and Retain policies do what they promise, in every deletion order."""

from __future__ import annotations

import pytest

from conformance import expected
from conformance.actions import ClusterActions
from conformance.objects import (
    deletion_policy_of,
    handle_of,
    is_deleting,
    is_ready,
    snapshot_handle_of,
)
from conformance.params import EACH_VOLUME_MODE
from conformance.waits import content_ready, pod_running

pytestmark = pytest.mark.area("deletion")


@pytest.mark.requires("persistence", "preProvisionedVolume")
@EACH_VOLUME_MODE
def test_delete_reclaim_removes_backend_volume(cluster: ClusterActions) -> None:
    """A Delete-reclaim PVC, once removed, leaves no backend volume behind.

    Its old volume handle, imported as a static PV, binds (the API cannot know) but no
    pod can use it: the driver's node service says the volume does not exist. A driver
    whose DeleteVolume reports success and deletes nothing lets the pod start. (Retain
    is the opposite: see test_static_pv_binds_existing_volume_and_keeps_data.)
    """
    pvc = cluster.bound_pvc()
    cluster.write_data(pvc)
    old_pv = cluster.pv_of(pvc)
    handle = handle_of(old_pv)
    cluster.delete(pvc)
    cluster.wait_gone(old_pv)

    ghost = cluster.import_volume(old_pv)
    pod = cluster.consumer_pod(ghost)
    watched = cluster.refusal(pod, expected.MOUNT_OF_DELETED_VOLUME)
    assert watched.ever(pod_running) is None, (
        "the backend volume of a deleted Delete-reclaim PVC still exists: a pod mounted "
        f"a static PV of its old handle {handle}"
    )
    assert watched.said, watched.missing()


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_delete_policy_removes_content_and_backend_snapshot(cluster: ClusterActions) -> None:
    """After the snapshot is deleted its content goes, and the backend snapshot is gone too."""
    pvc = cluster.bound_pvc()
    cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy="Delete")
    content = cluster.content_of(snap)
    handle = snapshot_handle_of(content)
    cluster.delete(snap, op="snapshot-deleted")
    cluster.wait_gone(content)

    reimport, settled = cluster.reimport_deleted(handle)
    assert not content_ready(settled), (
        "the backend snapshot of a deleted Delete-policy snapshot still exists: "
        f"importing its handle {handle} made a ready content"
    )
    assert not is_ready(reimport), (
        "the backend snapshot of a deleted Delete-policy snapshot still exists"
    )


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_retain_policy_keeps_content_and_backend_snapshot(cluster: ClusterActions) -> None:
    """The content outlives its snapshot, and its handle still restores the original data."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy="Retain")
    content = cluster.content_of(snap)
    cluster.delete(snap, op="snapshot-deleted")

    kept = cluster.get(content)
    assert deletion_policy_of(kept) == "Retain"
    assert not is_deleting(kept), "a Retain content is being deleted"
    imported = cluster.import_snapshot(snapshot_handle_of(kept))
    ready = cluster.wait_ready(imported.snapshot)
    restored = cluster.wait_bound(cluster.restore(ready))
    assert cluster.read_data(restored).sha256 == written.sha256
    # still there after all that: Retain means until someone removes it
    still = cluster.get(content)
    assert not is_deleting(still)


@pytest.mark.requires("snapshotDataSource")
def test_snapshot_deleted_before_pvc(cluster: ClusterActions) -> None:
    """Deleting a snapshot first removes its content; the PVC and its PV then go too."""
    pvc = cluster.bound_pvc()
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    pv = cluster.pv_of(pvc)
    cluster.delete(snap)
    cluster.wait_gone(content)
    cluster.delete(pvc)
    cluster.wait_gone(pv)


@pytest.mark.requires("snapshotDataSource")
def test_pvc_deleted_before_snapshot(cluster: ClusterActions) -> None:
    """The snapshot survives its source PVC and is still restorable; then all goes."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    pv = cluster.pv_of(pvc)
    cluster.delete(pvc)
    cluster.wait_gone(pv)
    restored = cluster.wait_bound(cluster.restore(snap))
    assert cluster.read_data(restored).sha256 == written.sha256
    cluster.delete(restored)
    cluster.delete(snap)
    cluster.wait_gone(content)


@pytest.mark.requires("snapshotDataSource")
@pytest.mark.requires_profile("wffcStorageClass")
def test_pvc_deleted_while_restore_in_flight(cluster: ClusterActions) -> None:
    """Deleting the source PVC while a restore waits to be provisioned ends clean.

    The restore uses the WaitForFirstConsumer class, so it is certainly still waiting
    (not yet provisioned) when its snapshot's source PVC and PV go; a consumer then
    makes it provision, from the snapshot alone, with the data of snapshot time. Then
    the snapshot, its content and the restore go without anything stuck.
    """
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    pv = cluster.pv_of(pvc)
    restore = cluster.restore(snap, late_binding=True)
    cluster.wait_for_event(restore, reason="WaitForFirstConsumer")
    cluster.delete(pvc)
    cluster.wait_gone(pv)
    assert cluster.read_data(restore).sha256 == written.sha256, (
        "restored data sha256 differs from the source at snapshot time: the restore "
        "provisioned after its source was deleted lost the data"
    )
    restored_pv = cluster.pv_of(restore)
    cluster.delete(snap)
    cluster.wait_gone(content)
    cluster.delete(restore)
    cluster.wait_gone(restored_pv)
