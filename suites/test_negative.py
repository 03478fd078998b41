"""negative: bad input ends in the error that names it, never a hang or a volume.

Each test names the refusal it expects (``conformance.expected``): the component that
must say it and its known wordings. An unrelated warning about the same object does not
pass a test, and "never ready" is watched over the whole errorStatus window.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance import expected
from conformance.actions import ClusterActions
from conformance.kube import Invalid
from conformance.objects import phase_of, volume_name_of
from conformance.waits import pvc_bound, snapshot_ready

pytestmark = [pytest.mark.area("negative"), pytest.mark.requires("snapshotDataSource")]

Obj = dict[str, Any]


def _assert_refused(cluster: ClusterActions, snap: Obj, refusal: expected.ExpectedError) -> None:
    """The snapshot is refused with ``refusal``'s error and was not ready at any point."""
    watched = cluster.refusal(snap, refusal)
    assert watched.ever(snapshot_ready) is None, f"{refusal.case}: the snapshot became ready"
    assert watched.said, watched.missing()


def _assert_restore_refused(
    cluster: ClusterActions, pvc: Obj, refusal: expected.ExpectedError
) -> None:
    """The restore is refused with ``refusal``'s event and is Pending with no volume."""
    watched = cluster.refusal(pvc, refusal)
    assert watched.ever(pvc_bound) is None, f"{refusal.case}: the PVC was bound"
    current = cluster.get(pvc)
    assert phase_of(current) == "Pending", f"{refusal.case}: the PVC is not Pending"
    assert not volume_name_of(current), f"{refusal.case}: a volume was bound"
    assert watched.said, watched.missing()


def test_snapshot_of_missing_pvc_reports_error(cluster: ClusterActions) -> None:
    """A snapshot of a PVC that does not exist reports that the PVC is missing."""
    missing = {"kind": "PersistentVolumeClaim", "metadata": {"name": "snapconf-no-such-pvc"}}
    snap = cluster.snapshot(missing)
    _assert_refused(cluster, snap, expected.SNAPSHOT_OF_MISSING_PVC)


def test_snapshot_with_missing_class_reports_error(cluster: ClusterActions) -> None:
    """A snapshot naming a VolumeSnapshotClass that does not exist reports the class missing."""
    pvc = cluster.bound_pvc()
    snap = cluster.snapshot(pvc, snapshot_class="snapconf-no-such-class")
    _assert_refused(cluster, snap, expected.SNAPSHOT_WITH_MISSING_CLASS)


def test_snapshot_with_class_of_other_driver_reports_error(cluster: ClusterActions) -> None:
    """A snapshot whose class names a driver nobody serves never becomes ready, and says why.

    No csi-snapshotter serves that driver: the snapshot-controller makes the content for
    it and says it waits for that driver; the snapshot must stay unready all the while.
    """
    pvc = cluster.bound_pvc()
    other = cluster.foreign_snapshot_class()
    snap = cluster.snapshot(pvc, snapshot_class=other, broken=True)
    watched = cluster.refusal(snap, expected.SNAPSHOT_OF_CLASS_WITHOUT_DRIVER, whole_window=True)
    assert watched.ever(snapshot_ready) is None, "a snapshot of a driver nobody serves became ready"
    assert watched.said, watched.missing()
    content = cluster.content_of(snap)
    assert content["spec"]["driver"] == "other.snapconf.io", "the content names another driver"
    assert not (content.get("status") or {}).get("snapshotHandle"), (
        "a sidecar of another driver cut a snapshot for a class it does not serve"
    )


def test_snapshot_of_unbound_pvc_reports_error(cluster: ClusterActions) -> None:
    """A snapshot of a PVC that is not bound reports that its source is not bound."""
    pending = cluster.pvc(storage_class="snapconf-no-such-storage-class")
    snap = cluster.snapshot(pending)
    _assert_refused(cluster, snap, expected.SNAPSHOT_OF_UNBOUND_PVC)


@pytest.mark.parametrize("sources", ["both", "none"])
def test_invalid_snapshot_source_is_rejected_by_api(cluster: ClusterActions, sources: str) -> None:
    """A VolumeSnapshot naming both a PVC and a content, or neither, is rejected on create."""
    pvc_name = "any-pvc" if sources == "both" else None
    content_name = "any-content" if sources == "both" else None
    # the CRD's CEL rule (v8), its older oneOf schema, or the former validating webhook
    with pytest.raises(Invalid, match=r"(?i)exactly one of|one and only one schema|only one of"):
        cluster.raw_snapshot(source_pvc=pvc_name, source_content=content_name)


def test_restore_from_missing_snapshot_stays_pending(cluster: ClusterActions) -> None:
    """A restore from a VolumeSnapshot that does not exist stays Pending and says so."""
    ghost = {"kind": "VolumeSnapshot", "metadata": {"name": "snapconf-no-such-snapshot"}}
    pvc = cluster.restore(ghost)
    _assert_restore_refused(cluster, pvc, expected.RESTORE_FROM_MISSING_SNAPSHOT)


def test_restore_from_unready_snapshot_stays_pending(cluster: ClusterActions) -> None:
    """A restore from a snapshot that never becomes ready stays Pending and says so."""
    missing = {"kind": "PersistentVolumeClaim", "metadata": {"name": "snapconf-no-such-pvc"}}
    unready = cluster.snapshot(missing)
    pvc = cluster.restore(unready)
    _assert_restore_refused(cluster, pvc, expected.RESTORE_FROM_UNREADY_SNAPSHOT)
    assert not snapshot_ready(cluster.get(unready)), "the snapshot of a missing PVC became ready"
