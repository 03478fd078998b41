"""protection: volumes in use, and snapshot sources, are not removed early or damaged."""

from __future__ import annotations

from typing import Any

import pytest

from conformance.actions import ClusterActions, revision
from conformance.objects import error_of, finalizers_of, phase_of
from conformance.waits import TOMBSTONE, has_deletion_timestamp, has_finalizer, snapshot_ready

pytestmark = pytest.mark.area("protection")

Obj = dict[str, Any]

PVC_PROTECTION = "kubernetes.io/pvc-protection"


@pytest.mark.requires("persistence")
def test_pvc_in_use_by_pod_is_kept_until_pod_is_gone(cluster: ClusterActions) -> None:
    """A PVC deleted while a pod uses it stays Bound, on pvc-protection, until the pod goes."""
    pvc = cluster.bound_pvc()
    pod = cluster.start_pod(pvc)
    cluster.request_delete(pvc)
    held = cluster.wait_for(
        pvc, lambda o: bool(o and o["metadata"].get("deletionTimestamp")), op="pvc-terminating"
    )
    assert PVC_PROTECTION in finalizers_of(held), "PVC lost its protection finalizer"
    assert phase_of(cluster.get(pod)) == "Running"
    assert phase_of(cluster.get(pvc)) == "Bound", "an in-use PVC stopped being Bound"
    cluster.delete(pod)
    cluster.wait_gone(pvc)


@pytest.mark.requires("snapshotDataSource")
def test_deleting_snapshot_keeps_source_intact(cluster: ClusterActions) -> None:
    """Deleting a snapshot leaves its source's data as it was, and the source writable."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    cluster.delete(snap, op="snapshot-deleted")
    assert cluster.read_data(pvc).sha256 == written.sha256, "deleting a snapshot changed its source"
    rewritten = cluster.write_data(pvc)
    assert cluster.read_data(pvc).sha256 == rewritten.sha256, "the source is no longer writable"


PVC_AS_SOURCE = "snapshot.storage.kubernetes.io/pvc-as-source-protection"
SNAPSHOT_AS_SOURCE = "snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection"
SNAPSHOT_BOUND = "snapshot.storage.kubernetes.io/volumesnapshot-bound-protection"


def _released(pvc: Obj) -> bool:
    """Deletion was asked for and pvc-as-source-protection no longer holds the PVC."""
    finalizers = pvc["metadata"].get("finalizers") or []
    return has_deletion_timestamp(pvc) and (
        bool(pvc.get(TOMBSTONE)) or PVC_AS_SOURCE not in finalizers
    )


@pytest.mark.requires("snapshotDataSource")
def test_source_pvc_deleted_while_snapshot_is_created_is_deferred(
    cluster: ClusterActions,
) -> None:
    """A PVC being snapshotted is held until the snapshot is cut; the snapshot stays usable.

    The PVC is deleted the moment the snapshot controller has put
    ``pvc-as-source-protection`` on it. The watch histories of both objects, replayed
    from before the snapshot was asked for, then show the order of events: the
    controller may release the PVC only after the snapshot became ready (revisions of
    one etcd order all kinds), however fast the driver was. With a driver that cuts in
    under a second the snapshot may be ready before the delete; the slow-snapshot fault
    of the testbed exercises the long window.
    """
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    cluster.release(pvc)  # no pod may hold the PVC: only the snapshot's finalizer
    before = cluster.get(pvc)["metadata"]["resourceVersion"]
    snap = cluster.snapshot(pvc)
    cluster.wait_for(
        pvc, has_finalizer(PVC_AS_SOURCE), op="pvc-protected", since=before,
        timeout=cluster.profile.timeouts.snapshot_ready,
    )  # fmt: skip
    cluster.request_delete(pvc)
    ready = cluster.wait_ready(snap)
    assert error_of(ready) is None, f"snapshot error: {error_of(ready)}"
    cluster.wait_gone(pvc)

    history = cluster.history(pvc, since=before)
    cut = next((s for s in cluster.history(snap, since=before) if snapshot_ready(s)), ready)
    # a deletion is a release too: its tombstone shows the finalizers stored last
    released = next((s for s in history if s and _released(s)), None)
    assert released is not None, "the source PVC's release is not in its watch history"
    assert revision(released) > revision(cut), (
        f"the source PVC lost {PVC_AS_SOURCE} (revision {revision(released)}) before its "
        f"snapshot was ready (revision {revision(cut)})"
    )
    restored = cluster.wait_bound(cluster.restore(ready))
    assert cluster.read_data(restored).sha256 == written.sha256, (
        "restored data sha256 differs from the source: the source went before the snapshot"
    )


@pytest.mark.requires("snapshotDataSource")
@pytest.mark.requires_profile("wffcStorageClass")
def test_snapshot_held_while_restore_pending_then_released(cluster: ClusterActions) -> None:
    """A snapshot a restore still waits on is not removed; once the restore goes, it goes.

    The restore uses the WaitForFirstConsumer class and no pod, so it stays Pending: being
    created from the snapshot. A snapshot deleted meanwhile must stay, terminating, on
    ``volumesnapshot-as-source-protection``; when the pending restore is deleted, the
    snapshot and its content go and nothing is stuck on a finalizer.
    """
    pvc = cluster.bound_pvc()
    snap = cluster.ready_snapshot(pvc)
    content = cluster.content_of(snap)
    # the controller adds it in its own update, which may come just after readyToUse
    cluster.wait_for(
        snap, has_finalizer(SNAPSHOT_BOUND), op="snapshot-bound-protected",
        timeout=cluster.profile.timeouts.snapshot_ready,
    )  # fmt: skip

    restore = cluster.restore(snap, late_binding=True)
    cluster.wait_for_event(restore, reason="WaitForFirstConsumer")
    cluster.request_delete(snap)
    held = cluster.wait_for(snap, has_deletion_timestamp, op="snapshot-terminating")
    assert SNAPSHOT_AS_SOURCE in finalizers_of(held), (
        "a snapshot a pending restore depends on is not protected by "
        f"{SNAPSHOT_AS_SOURCE}: {held['metadata'].get('finalizers')}"
    )
    assert phase_of(cluster.get(restore)) == "Pending"
    assert cluster.get_or_none(snap) is not None, "the snapshot went while a restore was pending"

    cluster.delete(restore, op="pvc-deleted")
    cluster.wait_gone(snap)
    cluster.wait_gone(content)
