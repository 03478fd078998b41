"""negative: bad input ends in a clear error status or event, never a hang or a volume."""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions, name_of
from conformance.kube import Invalid
from conformance.waits import WaitTimeout

pytestmark = [pytest.mark.area("negative"), pytest.mark.requires("snapshotDataSource")]


def _assert_error_not_ready(cluster: ClusterActions, snap: dict[str, object], why: str) -> None:
    errored = cluster.wait_error(snap, describe=why)
    assert (errored.get("status") or {}).get("readyToUse") is not True, f"{why}: became ready"


def test_snapshot_of_missing_pvc_reports_error(cluster: ClusterActions) -> None:
    missing = {"kind": "PersistentVolumeClaim", "metadata": {"name": "snapconf-no-such-pvc"}}
    snap = cluster.snapshot(missing)
    _assert_error_not_ready(cluster, snap, "a snapshot of a PVC that does not exist")


def test_snapshot_with_missing_class_reports_error(cluster: ClusterActions) -> None:
    pvc = cluster.bound_pvc()
    snap = cluster.snapshot(pvc, snapshot_class="snapconf-no-such-class")
    _assert_error_not_ready(cluster, snap, "a snapshot naming a class that does not exist")


def test_snapshot_with_class_of_other_driver_reports_error(cluster: ClusterActions) -> None:
    pvc = cluster.bound_pvc()
    other = cluster.foreign_snapshot_class()
    snap = cluster.snapshot(pvc, snapshot_class=other)
    cluster.mark_broken(snap)
    # No sidecar serves that driver: the content is made for it and waits, never ready.
    with pytest.raises(WaitTimeout):
        cluster.wait_ready(snap, timeout=cluster.profile.timeouts.error_status)
    content = cluster.content_of(snap)
    assert content["spec"]["driver"] == "other.snapconf.io", "the content names another driver"
    assert (cluster.get(snap).get("status") or {}).get("readyToUse") is not True
    reasons = {e.get("reason") for e in cluster.events(snap)}
    assert reasons, "nothing tells the user why the snapshot is not ready (no events)"


def test_snapshot_of_unbound_pvc_reports_error(cluster: ClusterActions) -> None:
    pending = cluster.pvc(storage_class="snapconf-no-such-storage-class")
    snap = cluster.snapshot(pending)
    _assert_error_not_ready(cluster, snap, "a snapshot of an unbound PVC")


@pytest.mark.parametrize("sources", ["both", "none"])
def test_invalid_snapshot_source_is_rejected_by_api(cluster: ClusterActions, sources: str) -> None:
    pvc_name = "any-pvc" if sources == "both" else None
    content_name = "any-content" if sources == "both" else None
    with pytest.raises(Invalid):
        cluster.raw_snapshot(source_pvc=pvc_name, source_content=content_name)


def test_restore_from_missing_snapshot_stays_pending(cluster: ClusterActions) -> None:
    ghost = {"kind": "VolumeSnapshot", "metadata": {"name": "snapconf-no-such-snapshot"}}
    pvc = cluster.restore(ghost)
    warning = cluster.wait_warning(pvc, describe="a restore from a snapshot that does not exist")
    assert warning.get("message")
    current = cluster.get(pvc)
    assert current["status"]["phase"] == "Pending"
    assert not current["spec"].get("volumeName"), "a volume was bound for a missing snapshot"


def test_restore_from_unready_snapshot_stays_pending(cluster: ClusterActions) -> None:
    missing = {"kind": "PersistentVolumeClaim", "metadata": {"name": "snapconf-no-such-pvc"}}
    unready = cluster.snapshot(missing)
    pvc = cluster.restore(unready)
    warning = cluster.wait_warning(pvc, describe="a restore from a snapshot that is not ready")
    assert warning.get("message")
    current = cluster.get(pvc)
    assert current["status"]["phase"] == "Pending"
    assert not current["spec"].get("volumeName")
    assert name_of(unready)
