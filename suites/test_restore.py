"""restore: a PVC restored from a snapshot holds the data of snapshot time, byte for byte."""

from __future__ import annotations

import pytest

from conformance import expected
from conformance.actions import ClusterActions
from conformance.objects import capacity_of, phase_of, restore_size_of
from conformance.params import EACH_VOLUME_MODE
from conformance.waits import pvc_bound

pytestmark = [pytest.mark.area("restore"), pytest.mark.requires("snapshotDataSource")]


@EACH_VOLUME_MODE
def test_restore_holds_data_at_snapshot_time(cluster: ClusterActions) -> None:
    """Overwriting the source after the snapshot does not change what a restore holds."""
    pvc = cluster.bound_pvc()
    before = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    after = cluster.write_data(pvc)
    assert after.sha256 != before.sha256, "the second random payload equals the first"

    restored = cluster.wait_bound(cluster.restore(snap))
    got = cluster.read_data(restored)
    assert got.sha256 != "missing", "restored data sha256 missing: the restored volume is empty"
    assert got.sha256 != after.sha256, (
        "restored data sha256 differs from the source at snapshot time: the restore holds "
        "the source's current data (the snapshot is not a point-in-time copy)"
    )
    assert got.sha256 == before.sha256, (
        "restored data sha256 differs from the source at snapshot time"
    )
    assert cluster.read_data(pvc).sha256 == after.sha256, "the source lost its new data"


@EACH_VOLUME_MODE
def test_restore_at_exact_restore_size(cluster: ClusterActions) -> None:
    """A restore requesting exactly status.restoreSize binds and holds the data."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    size = restore_size_of(snap)
    restored = cluster.wait_bound(cluster.restore(snap, size=size))
    assert capacity_of(restored) >= size, "the restored capacity is smaller than restoreSize"
    assert cluster.read_data(restored).sha256 == written.sha256, (
        "restored data sha256 differs from the source at snapshot time"
    )


@EACH_VOLUME_MODE
def test_restore_to_larger_size(cluster: ClusterActions, volume_mode: str) -> None:
    """A larger restore gets the larger capacity (PVC, PV; a Block device) and intact data."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    larger = 2 * restore_size_of(snap)
    restored = cluster.wait_bound(cluster.restore(snap, size=larger))

    assert capacity_of(restored) >= larger, (
        "a restore to a larger size got a smaller capacity than requested"
    )
    assert capacity_of(cluster.pv_of(restored)) >= larger, (
        "a restore to a larger size got a PV smaller than requested"
    )
    assert cluster.read_data(restored).sha256 == written.sha256, (
        "restored data sha256 differs from the source at snapshot time"
    )
    if volume_mode == "Block":
        assert cluster.visible_capacity(restored) >= larger, "the restored device is not larger"


@pytest.mark.requires_profile("fsResizeFromSource")
def test_restored_filesystem_grows_to_larger_size(cluster: ClusterActions) -> None:
    """A file system restored into a larger volume is grown to the volume's size.

    Its own test so that a driver declaring ``FSResizeFromSourceNotSupported`` skips just
    this check, for the reason e2e skips "should provision correct filesystem size when
    restoring snapshot to larger size pvc"; the capacity and data checks still run above.
    The ``requires_profile`` skip comes before ``cluster`` is set up: that fixture makes
    (and teardown deletes) a namespace, about 5 s of cluster time for a test that then
    does nothing.
    """
    pvc = cluster.bound_pvc()
    cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    larger = 2 * restore_size_of(snap)
    restored = cluster.wait_bound(cluster.restore(snap, size=larger))
    seen = cluster.visible_capacity(restored)
    assert seen >= larger * 0.9, f"the restored filesystem has {seen} bytes, asked {larger}"


def test_restore_smaller_than_restore_size_does_not_bind(cluster: ClusterActions) -> None:
    """A restore below restoreSize is refused, stays Pending, and the source keeps its data."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    size = restore_size_of(snap)
    too_small = cluster.restore(snap, size=max(size // 2, 1))
    watched = cluster.refusal(too_small, expected.RESTORE_SMALLER_THAN_RESTORE_SIZE)
    assert watched.ever(pvc_bound) is None, "a restore smaller than restoreSize was bound"
    assert watched.said, watched.missing()
    assert phase_of(cluster.get(too_small)) == "Pending"
    assert cluster.read_data(pvc).sha256 == written.sha256, "the source lost its data"


@EACH_VOLUME_MODE
def test_restore_of_each_snapshot_gives_its_own_data(cluster: ClusterActions) -> None:
    """Snapshots taken between writes each restore the data of their own moment.

    v1, snapshot A, v2, snapshot B, v3: A holds v1 and B holds v2, never the source's
    current v3 nor each other's data.
    """
    pvc = cluster.bound_pvc()
    first = cluster.write_data(pvc)
    snap_first = cluster.ready_snapshot(pvc)
    second = cluster.write_data(pvc)
    snap_second = cluster.ready_snapshot(pvc)
    third = cluster.write_data(pvc)
    restored = {
        "first": cluster.wait_bound(cluster.restore(snap_first)),
        "second": cluster.wait_bound(cluster.restore(snap_second)),
    }
    got = {which: cluster.read_data(pvc_).sha256 for which, pvc_ in restored.items()}
    assert got["first"] != second.sha256, (
        "restored data sha256 differs from the source at snapshot time: the first snapshot "
        "restored the data of the second"
    )
    assert third.sha256 not in got.values(), (
        "restored data sha256 differs from the source at snapshot time: a restore holds the "
        "source's current data, written after both snapshots"
    )
    assert got == {"first": first.sha256, "second": second.sha256}, (
        "restored data sha256 differs from the source at snapshot time"
    )


def test_snapshots_of_two_volumes_restore_their_own_data(cluster: ClusterActions) -> None:
    """A snapshot holds its own source's data, not another volume's (no cross-talk)."""
    sources = [cluster.bound_pvc(), cluster.bound_pvc()]
    written = [cluster.write_data(pvc) for pvc in sources]
    snaps = [cluster.ready_snapshot(pvc) for pvc in sources]
    restored = [cluster.wait_bound(cluster.restore(s)) for s in snaps]
    got = [cluster.read_data(pvc).sha256 for pvc in restored]
    assert got == [w.sha256 for w in written], (
        "restored data sha256 differs from the source at snapshot time: a snapshot holds "
        "another volume's data"
    )


def test_parallel_restores_hold_same_data(cluster: ClusterActions) -> None:
    """Several restores of one snapshot, made at once, all hold the snapshot's data."""
    pvc = cluster.bound_pvc()
    written = cluster.write_data(pvc)
    snap = cluster.ready_snapshot(pvc)
    restores = [cluster.restore(snap) for _ in range(3)]
    for restored in restores:
        cluster.wait_bound(restored)
    sums = [cluster.read_data(r).sha256 for r in restores]
    assert sums == [written.sha256] * len(restores), (
        "restored data sha256 differs from the source at snapshot time"
    )


@pytest.mark.requires("block")
def test_restore_in_another_volume_mode_needs_permission(cluster: ClusterActions) -> None:
    """A Filesystem snapshot restored as Block is refused unless its content allows it.

    The external-provisioner's volume-mode-conversion protection refuses a restore whose
    volumeMode differs from the content's ``sourceVolumeMode``; the content annotation
    ``snapshot.storage.kubernetes.io/allow-volume-mode-change: "true"`` lifts it. Then the
    request reaches the driver, which converts (the restore binds) or refuses with its
    own error, never with the permission error.
    """
    pvc = cluster.bound_pvc()
    snap = cluster.ready_snapshot(pvc)
    as_block = cluster.restore(snap, mode="Block")
    watched = cluster.refusal(as_block, expected.VOLUME_MODE_CHANGE)
    assert watched.ever(pvc_bound) is None, (
        "a Filesystem snapshot was restored as Block although its content does not allow it"
    )
    assert watched.said, watched.missing()

    cluster.allow_volume_mode_change(snap)
    allowed = cluster.restore(snap, mode="Block")
    answer = cluster.refusal(allowed, expected.DRIVER_REFUSES_VOLUME_MODE_CHANGE)
    if answer.said is None:  # the driver converts: the restore binds
        cluster.wait_bound(allowed)
    else:
        assert not expected.VOLUME_MODE_CHANGE.says(answer.said), (
            f"the annotated content still refuses the volume mode change: {answer.said}"
        )
