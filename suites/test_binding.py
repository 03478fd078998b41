"""binding: VolumeSnapshot and VolumeSnapshotContent bind one to one, every field right."""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions, name_of
from conformance.params import DELETION_POLICIES, VOLUME_MODES
from conformance.units import parse_quantity
from conformance.waits import snapshot_has_error

pytestmark = pytest.mark.area("binding")


@pytest.mark.requires("snapshotDataSource")
@pytest.mark.parametrize("mode", VOLUME_MODES)
@pytest.mark.parametrize("policy", DELETION_POLICIES)
def test_dynamic_snapshot_binds_one_to_one(cluster: ClusterActions, policy: str, mode: str) -> None:
    """Snapshot status and content spec/status agree with each other and with the source.

    The source is sized snugly around the payload (within the profile's minimum), so a
    restoreSize that under-reports the data cannot hide behind a roomy volume.
    """
    payload = cluster.profile.workload.payload_bytes
    snug = max(cluster.profile.sizes.min_bytes, payload + payload // 2)
    pvc = cluster.bound_pvc(mode=mode, size=snug)
    written = cluster.write_data(pvc, mode=mode)
    source_pv = cluster.pv_of(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy=policy)
    content = cluster.content_of(snap)
    vsc = cluster.kube.get("VolumeSnapshotClass", snap["spec"]["volumeSnapshotClassName"])

    status = snap["status"]
    assert status["readyToUse"] is True
    assert status["boundVolumeSnapshotContentName"] == name_of(content)
    assert status.get("creationTime"), "status.creationTime is not set"
    assert "error" not in status, f"a ready snapshot still reports an error: {status.get('error')}"
    assert status.get("restoreSize") is not None, "restoreSize is not set on a ready snapshot"
    restore_size = parse_quantity(status["restoreSize"])
    assert restore_size > 0, f"restoreSize is {status['restoreSize']!r}, not positive"
    assert restore_size >= written.size, "restoreSize is smaller than the data written"
    if not cluster.profile.has("restoreSizeAboveCapacity"):
        assert restore_size <= parse_quantity(source_pv["spec"]["capacity"]["storage"]), (
            "restoreSize is larger than the source volume"
        )

    spec = content["spec"]
    ref = spec["volumeSnapshotRef"]
    assert (ref["name"], ref["namespace"], ref["uid"]) == (
        name_of(snap),
        cluster.namespace,
        snap["metadata"]["uid"],
    )
    assert spec["driver"] == cluster.profile.driver
    assert spec["volumeSnapshotClassName"] == name_of(vsc)
    assert spec["deletionPolicy"] == policy == vsc["deletionPolicy"]
    assert spec["source"]["volumeHandle"] == source_pv["spec"]["csi"]["volumeHandle"]
    assert content["status"]["readyToUse"] is True
    assert content["status"].get("snapshotHandle"), "content has no status.snapshotHandle"
    assert int(content["status"]["restoreSize"]) == restore_size


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
@pytest.mark.parametrize("mode", VOLUME_MODES)
def test_preprovisioned_snapshot_binds_and_restores(cluster: ClusterActions, mode: str) -> None:
    """A content made from an existing snapshot handle binds to the snapshot naming it."""
    written, handle = cluster.retained_snapshot_handle(mode=mode)
    snap, content = cluster.import_snapshot(handle)
    ready = cluster.wait_ready(snap, op="preprovisioned-ready")
    content = cluster.kube.get("VolumeSnapshotContent", name_of(content))

    assert ready["status"]["boundVolumeSnapshotContentName"] == name_of(content)
    assert content["status"]["readyToUse"] is True
    assert content["status"]["snapshotHandle"] == handle
    assert content["spec"]["volumeSnapshotRef"]["uid"] == ready["metadata"]["uid"]
    restored = cluster.wait_bound(cluster.restore(ready, mode=mode), op="restore-bound")
    assert cluster.read_data(restored, mode=mode).sha256 == written.sha256, (
        "restored data sha256 differs from the source at snapshot time"
    )


def _assert_not_bound(cluster: ClusterActions, snap: dict[str, object], why: str) -> None:
    """The snapshot shows an error (status or event) and is neither ready nor bound to content."""
    errored = cluster.wait_error(snap, describe=why)
    status = errored.get("status") or {}
    assert status.get("readyToUse") is not True, f"{why}: the snapshot became ready"


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_content_with_wrong_uid_does_not_bind(cluster: ClusterActions) -> None:
    """A content whose volumeSnapshotRef.uid names another object is not bound."""
    _written, handle = cluster.retained_snapshot_handle()
    snap, content = cluster.import_snapshot(handle, ref_uid="00000000-0000-0000-0000-000000000000")
    cluster.mark_broken(snap, content)
    _assert_not_bound(cluster, snap, "a content whose ref uid does not match")


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_content_referring_to_another_namespace_does_not_bind(cluster: ClusterActions) -> None:
    """A content whose volumeSnapshotRef names another namespace is not bound."""
    _written, handle = cluster.retained_snapshot_handle()
    snap, content = cluster.import_snapshot(handle, ref_namespace="kube-system")
    cluster.mark_broken(snap, content)
    _assert_not_bound(cluster, snap, "a content whose ref names another namespace")


@pytest.mark.requires("snapshotDataSource")
def test_second_snapshot_cannot_claim_bound_content(cluster: ClusterActions) -> None:
    """A second VolumeSnapshot naming an already bound content does not bind to it."""
    pvc = cluster.bound_pvc()
    first = cluster.ready_snapshot(pvc)
    content = cluster.content_of(first)
    second = cluster.snapshot_of_content(name_of(content))
    cluster.mark_broken(second)
    _assert_not_bound(cluster, second, "a second snapshot claiming a bound content")
    again = cluster.content_of(first)
    assert again["spec"]["volumeSnapshotRef"]["uid"] == first["metadata"]["uid"]


@pytest.mark.requires("snapshotDataSource", "preProvisionedSnapshot")
def test_bogus_snapshot_handle_never_becomes_ready(cluster: ClusterActions) -> None:
    """A content with a snapshotHandle that exists nowhere does not become ready."""
    snap, content = cluster.import_snapshot(f"snapconf-bogus-{cluster.fresh_name('h')}")
    cluster.mark_broken(snap, content)
    cluster.wait_content_error(content, describe="a content with a bogus snapshotHandle")
    current = cluster.get(snap)
    assert (current.get("status") or {}).get("readyToUse") is not True
    assert (
        snapshot_has_error(current) or (current.get("status") or {}).get("readyToUse") is not True
    )
