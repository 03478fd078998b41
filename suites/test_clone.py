"""clone: a PVC cloned from another holds its data and is independent of it afterwards."""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions
from conformance.objects import capacity_of, handle_of, requested_of
from conformance.params import EACH_VOLUME_MODE

pytestmark = [pytest.mark.area("clone"), pytest.mark.requires("pvcDataSource")]


@EACH_VOLUME_MODE
def test_clone_holds_source_data_and_is_independent(cluster: ClusterActions) -> None:
    """Same data at clone time; later writes to either side stay on that side."""
    source = cluster.bound_pvc()
    original = cluster.write_data(source)
    clone = cluster.wait_bound(cluster.clone(source))
    assert handle_of(cluster.pv_of(clone)) != handle_of(cluster.pv_of(source)), (
        "the clone shares the source's volume handle: it is the source itself"
    )
    got = cluster.read_data(clone)
    assert got.sha256 != "missing", "cloned data sha256 missing: the clone is empty"
    assert got.sha256 == original.sha256, "cloned data sha256 differs from the source"

    clone_write = cluster.write_data(clone)
    assert cluster.read_data(source).sha256 == original.sha256, (
        "a write to the clone changed the source"
    )
    source_write = cluster.write_data(source)
    assert cluster.read_data(clone).sha256 == clone_write.sha256, (
        "a write to the source changed the clone"
    )
    assert source_write.sha256 != clone_write.sha256


@EACH_VOLUME_MODE
def test_clone_to_larger_size(cluster: ClusterActions, volume_mode: str) -> None:
    """A larger clone gets the larger capacity and the source's data."""
    source = cluster.bound_pvc()
    original = cluster.write_data(source)
    larger = 2 * requested_of(source)
    clone = cluster.wait_bound(cluster.clone(source, size=larger))
    assert capacity_of(clone) >= larger, (
        "a clone to a larger size got a smaller capacity than requested"
    )
    assert cluster.read_data(clone).sha256 == original.sha256, (
        "cloned data sha256 differs from the source"
    )
    if volume_mode == "Block":
        assert cluster.visible_capacity(clone) >= larger, "the cloned device is not larger"


@pytest.mark.requires("snapshotDataSource")
@EACH_VOLUME_MODE
def test_clone_holds_source_data_at_clone_time(cluster: ClusterActions) -> None:
    """A clone holds the source's data of the moment it is cloned, not of its last snapshot.

    v1, a snapshot, v2, then the clone: it must hold v2. A driver that clones by
    restoring the source's latest snapshot hands out v1.
    """
    source = cluster.bound_pvc()
    snapshotted = cluster.write_data(source)
    cluster.ready_snapshot(source)
    current = cluster.write_data(source)
    clone = cluster.wait_bound(cluster.clone(source))
    got = cluster.read_data(clone).sha256
    assert got != snapshotted.sha256, (
        "cloned data sha256 differs from the source at clone time: the clone holds the "
        "source's data of its last snapshot"
    )
    assert got == current.sha256, "cloned data sha256 differs from the source at clone time"


def test_clone_of_a_clone(cluster: ClusterActions) -> None:
    """A clone of a clone holds its own source's data, changed after the first clone.

    source v1, clone A, A changed to v2, clone B of A: B holds v2. A driver that
    resolves a clone to its origin (linked clones) hands out the source's v1.
    """
    source = cluster.bound_pvc()
    original = cluster.write_data(source)
    first = cluster.wait_bound(cluster.clone(source))
    changed = cluster.write_data(first)
    second = cluster.wait_bound(cluster.clone(first))
    got = cluster.read_data(second).sha256
    assert got != original.sha256, (
        "the clone of a clone holds the original source's data, not its own source's"
    )
    assert got == changed.sha256, "cloned data sha256 differs from the source at clone time"


def test_parallel_clones_hold_same_data(cluster: ClusterActions) -> None:
    """Several clones of one source, made at once, all hold its data."""
    source = cluster.bound_pvc()
    original = cluster.write_data(source)
    clones = [cluster.clone(source) for _ in range(3)]
    for clone in clones:
        cluster.wait_bound(clone)
    assert [cluster.read_data(c).sha256 for c in clones] == [original.sha256] * len(clones), (
        "cloned data sha256 differs from the source"
    )
