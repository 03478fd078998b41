"""binding: VolumeSnapshot and VolumeSnapshotContent bind one to one, every field right."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import expected
from conformance.actions import ClusterActions, name_of
from conformance.objects import (
    bound_content_name,
    capacity_of,
    handle_of,
    is_ready,
    restore_size_of,
    snapshot_ref_uid,
    uid_of,
)
from conformance.params import DELETION_POLICIES, EACH_VOLUME_MODE
from conformance.timestamps import snapshot_time_problems
from conformance.units import parse_quantity
from conformance.waits import content_ready, snapshot_ready

pytestmark = pytest.mark.area("binding")

Obj = dict[str, Any]


@pytest.mark.requires("snapshotDataSource")
@EACH_VOLUME_MODE
@pytest.mark.parametrize("policy", DELETION_POLICIES)
def test_dynamic_snapshot_binds_one_to_one(
    cluster: ClusterActions, policy: str, volume_mode: str
) -> None:
    """Snapshot status and content spec/status agree with each other and with the source.

    The source is sized snugly around the payload (within the profile's minimum), so a
    restoreSize that under-reports the data cannot hide behind a roomy volume.
    """
    payload = cluster.profile.workload.payload_bytes
    snug = max(cluster.profile.sizes.min_bytes, payload + payload // 2)
    pvc = cluster.bound_pvc(size=snug)
    written = cluster.write_data(pvc)
    source_pv = cluster.pv_of(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy=policy)
    content = cluster.content_of(snap)
    vsc = cluster.class_of(snap)

    status = snap["status"]
    assert is_ready(snap)
    assert bound_content_name(snap) == name_of(content)
    times = snapshot_time_problems(snap, content, skew=cluster.profile.timeouts.clock_skew)
    assert not times, "; ".join(times)
    assert "error" not in status, f"a ready snapshot still reports an error: {status.get('error')}"
    assert status.get("restoreSize") is not None, "restoreSize is not set on a ready snapshot"
    restore_size = restore_size_of(snap)
    assert restore_size > 0, f"restoreSize is {status['restoreSize']!r}, not positive"
    assert restore_size >= written.size, "restoreSize is smaller than the data written"
    if not cluster.profile.has("restoreSizeAboveCapacity"):
        assert restore_size <= capacity_of(source_pv), (
            "restoreSize is larger than the source volume"
        )

    spec = content["spec"]
    ref = spec["volumeSnapshotRef"]
    assert (ref["name"], ref["namespace"], ref["uid"]) == (
        name_of(snap),
        cluster.namespace,
        uid_of(snap),
    )
    assert spec["driver"] == cluster.profile.driver
    assert spec["volumeSnapshotClassName"] == name_of(vsc)
    assert spec["deletionPolicy"] == policy == vsc["deletionPolicy"]
    assert spec["source"]["volumeHandle"] == handle_of(source_pv)
    assert spec.get("sourceVolumeMode") == volume_mode, (
        f"content spec.sourceVolumeMode is {spec.get('sourceVolumeMode')!r}, the source PVC's "
        f"volumeMode is {volume_mode}"
    )
    assert is_ready(content)
    assert content["status"].get("snapshotHandle"), "content has no status.snapshotHandle"
    assert "error" not in content["status"], f"a ready content reports {content['status']['error']}"
    assert int(content["status"]["restoreSize"]) == restore_size, (
        "the content's status.restoreSize differs from the snapshot's"
    )


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
@EACH_VOLUME_MODE
def test_preprovisioned_snapshot_binds_and_restores(cluster: ClusterActions) -> None:
    """A content made from an existing snapshot handle binds to the snapshot naming it.

    The imported content's status is the driver's own account of the backend snapshot
    (ListSnapshots), so it must agree with what CreateSnapshot said of the same snapshot:
    ready, the same handle, the same restoreSize (unless the listing leaves the size
    unknown, which CSI allows), a sane creation time, no error.
    """
    retained = cluster.retained_snapshot()
    written, handle = retained.written, retained.handle
    imported = cluster.import_snapshot(handle)
    ready = cluster.wait_ready(imported.snapshot)
    content = cluster.get(imported.content)

    assert bound_content_name(ready) == name_of(content)
    status = content["status"]
    assert is_ready(content)
    assert status["snapshotHandle"] == handle
    assert "error" not in status, f"the imported content reports {status['error']}"
    assert snapshot_ref_uid(content) == uid_of(ready)
    cut = retained.content["status"]
    if status.get("restoreSize"):  # 0 or unset: the CSI spec's "size unknown", allowed
        assert str(status["restoreSize"]) == str(cut.get("restoreSize")), (
            f"the imported snapshot's restoreSize {status['restoreSize']!r} differs from "
            f"{cut.get('restoreSize')!r}, what the driver said when it cut it"
        )
        assert parse_quantity(str(ready["status"]["restoreSize"])) >= written.size, (
            "the imported snapshot's restoreSize is smaller than the data written"
        )
    times = snapshot_time_problems(
        ready, content, skew=cluster.profile.timeouts.clock_skew, requested_by=retained.snapshot
    )
    assert not times, "; ".join(times)
    restored = cluster.wait_bound(cluster.restore(ready))
    assert cluster.read_data(restored).sha256 == written.sha256, (
        "restored data sha256 differs from the source at snapshot time"
    )


def _bound(obj: Obj) -> bool:
    return bool(bound_content_name(obj))


def _assert_never_bound(
    cluster: ClusterActions, snap: Obj, refusal: expected.ExpectedError
) -> None:
    """Over the whole errorStatus window: refused as ``refusal`` says, never bound or ready."""
    watched = cluster.refusal(snap, refusal, whole_window=True)
    bound = watched.ever(_bound)
    assert bound is None, f"{refusal.case}: the snapshot bound to {bound_content_name(bound)}"
    assert watched.ever(snapshot_ready) is None, f"{refusal.case}: the snapshot became ready"
    assert watched.said, watched.missing()


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_content_with_wrong_uid_does_not_bind(cluster: ClusterActions) -> None:
    """A content whose volumeSnapshotRef.uid names another object is never bound."""
    handle = cluster.retained_snapshot().handle
    imported = cluster.import_snapshot(
        handle, ref_uid="00000000-0000-0000-0000-000000000000", broken=True
    )
    _assert_never_bound(cluster, imported.snapshot, expected.CONTENT_WITH_WRONG_UID)


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_content_referring_to_another_namespace_does_not_bind(cluster: ClusterActions) -> None:
    """A content whose volumeSnapshotRef names another namespace is never bound."""
    handle = cluster.retained_snapshot().handle
    imported = cluster.import_snapshot(handle, ref_namespace="kube-system", broken=True)
    _assert_never_bound(cluster, imported.snapshot, expected.CONTENT_IN_OTHER_NAMESPACE)


@pytest.mark.requires("snapshotDataSource")
def test_second_snapshot_cannot_claim_bound_content(cluster: ClusterActions) -> None:
    """A second VolumeSnapshot naming an already bound content never binds to it."""
    pvc = cluster.bound_pvc()
    first = cluster.ready_snapshot(pvc)
    content = cluster.content_of(first)
    second = cluster.snapshot_of_content(name_of(content), broken=True)
    _assert_never_bound(cluster, second, expected.CONTENT_ALREADY_BOUND)
    again = cluster.content_of(first)
    assert snapshot_ref_uid(again) == uid_of(first), (
        "the content was taken from the snapshot it was bound to"
    )


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_bogus_snapshot_handle_never_becomes_ready(cluster: ClusterActions) -> None:
    """A content with a snapshotHandle that exists nowhere never becomes ready.

    The driver must say the handle does not exist (ListSnapshots by id finds nothing);
    one that answers with another snapshot makes a ready content of nothing. A real
    snapshot exists beside it, so such a driver has one to answer with.
    """
    cluster.ready_snapshot(cluster.bound_pvc())  # a real one a careless lookup could return
    bogus = cluster.import_snapshot(f"snapconf-bogus-{cluster.fresh_name('h')}", broken=True)
    watched = cluster.refusal(bogus.content, expected.BOGUS_SNAPSHOT_HANDLE, whole_window=True)
    assert watched.ever(content_ready) is None, (
        "a content with a bogus snapshotHandle became ready: the driver claims a backend "
        "snapshot that was never made"
    )
    assert snapshot_ready(cluster.get(bogus.snapshot)) is False, (
        "a VolumeSnapshot of a bogus snapshotHandle became ready"
    )
    assert watched.said, watched.missing()
