"""The testbed works end to end: the proof CI asks for before the suites run.

A PVC binds, a pod writes data, a VolumeSnapshot becomes readyToUse, and a restore and a
clone hold the same sha256 as the source.
"""

from __future__ import annotations

from conformance.actions import ClusterActions


def test_testbed_provisions_snapshots_restores_and_clones(cluster: ClusterActions) -> None:
    source = cluster.bound_pvc()
    written = cluster.write_data(source)
    snapshot = cluster.ready_snapshot(source)
    assert snapshot["status"]["readyToUse"] is True

    restored = cluster.wait_bound(cluster.restore(snapshot), op="restore-bound")
    assert cluster.read_data(restored).sha256 == written.sha256

    clone = cluster.wait_bound(cluster.clone(source), op="clone-bound")
    assert cluster.read_data(clone).sha256 == written.sha256
