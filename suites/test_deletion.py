"""deletion: Delete and Retain policies do what they promise, in every deletion order."""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions, name_of
from conformance.waits import content_ready, snapshot_has_error

pytestmark = [pytest.mark.area("deletion"), pytest.mark.requires("snapshotDataSource")]


@pytest.mark.requires("preProvisionedSnapshot")
def test_delete_policy_removes_content_and_backend_snapshot(cluster: ClusterActions) -> None:
    """After the snapshot is deleted its content goes, and the backend snapshot is gone too."""
    pvc = cluster.bound_pvc()
    cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy="Delete")
    content = cluster.content_of(snap)
    handle = content["status"]["snapshotHandle"]
    cluster.delete(snap, op="snapshot-deleted")
    cluster.wait_gone(content, op="content-deleted")

    reimport, reimported = cluster.import_snapshot(handle)
    cluster.mark_broken(reimport, reimported)
    settled = cluster.wait_for(
        reimported,
        lambda obj: snapshot_has_error(obj) or content_ready(obj),
        op="reimport-settled",
        timeout=cluster.profile.timeouts.error_status,
    )
    assert not content_ready(settled), (
        "the backend snapshot of a deleted Delete-policy snapshot still exists: "
        f"importing its handle {handle} made a ready content"
    )
    assert (cluster.get(reimport).get("status") or {}).get("readyToUse") is not True, (
        "the backend snapshot of a deleted Delete-policy snapshot still exists"
    )


@pytest.mark.requires("preProvisionedSnapshot")
def test_retain_policy_keeps_content_and_backend_snapshot(cluster: ClusterActions) -> None:
    """The content outlives its snapshot, and its handle still restores the original data."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy="Retain")
    content = cluster.content_of(snap)
    cluster.delete(snap, op="snapshot-deleted")

    kept = cluster.kube.get("VolumeSnapshotContent", name_of(content))
    assert kept["spec"]["deletionPolicy"] == "Retain"
    assert kept["metadata"].get("deletionTimestamp") is None, "a Retain content is being deleted"
    imported, _ = cluster.import_snapshot(kept["status"]["snapshotHandle"])
    ready = cluster.wait_ready(imported, op="preprovisioned-ready")
    restored = cluster.wait_bound(cluster.restore(ready), op="restore-bound")
    assert cluster.read_data(restored).sha256 == written.sha256
    # still there after all that: Retain means until someone removes it
    still = cluster.kube.get("VolumeSnapshotContent", name_of(content))
    assert still["metadata"].get("deletionTimestamp") is None


def test_snapshot_deleted_before_pvc(cluster: ClusterActions) -> None:
    pvc = cluster.bound_pvc()
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    pv = cluster.pv_of(pvc)
    cluster.delete(snap)
    cluster.wait_gone(content, op="content-deleted")
    cluster.delete(pvc)
    cluster.wait_gone(pv, op="pv-deleted")


def test_pvc_deleted_before_snapshot(cluster: ClusterActions) -> None:
    """The snapshot survives its source PVC and is still restorable; then all goes."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    pv = cluster.pv_of(pvc)
    cluster.delete(pvc)
    cluster.wait_gone(pv, op="pv-deleted")
    restored = cluster.wait_bound(cluster.restore(snap), op="restore-bound")
    assert cluster.read_data(restored).sha256 == written.sha256
    cluster.delete(restored)
    cluster.delete(snap)
    cluster.wait_gone(content, op="content-deleted")


def test_pvc_deleted_while_restore_in_flight(cluster: ClusterActions) -> None:
    """Deleting the source PVC and the snapshot while a restore is provisioning ends clean."""
    pvc = cluster.bound_pvc()
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    restore = cluster.restore(snap)
    cluster.delete(pvc)
    restored = cluster.wait_bound(restore, op="restore-bound")
    cluster.delete(snap)
    cluster.wait_gone(content, op="content-deleted")
    restored_pv = cluster.pv_of(restored)
    cluster.delete(restored)
    cluster.wait_gone(restored_pv, op="pv-deleted")
