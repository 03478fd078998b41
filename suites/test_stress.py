"""stress (opt-in with --area stress): many volumes and snapshots at once."""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions

pytestmark = [pytest.mark.area("stress"), pytest.mark.requires("snapshotDataSource")]


def test_many_volumes_many_snapshots(cluster: ClusterActions) -> None:
    """N volumes x M snapshots, made concurrently: all ready, all restorable."""
    n, m = cluster.profile.stress.volumes, cluster.profile.stress.snapshots
    pvcs = [cluster.pvc() for _ in range(n)]
    bound = [cluster.wait_bound(p) for p in pvcs]
    sums = [cluster.write_data(p).sha256 for p in bound]
    snaps = [[cluster.snapshot(p) for _ in range(m)] for p in bound]
    for row in snaps:
        for snap in row:
            cluster.wait_ready(snap)
    restores = [[cluster.restore(s) for s in row] for row in snaps]
    for i, row in enumerate(restores):
        for restored in row:
            cluster.wait_bound(restored)
            assert cluster.read_data(restored).sha256 == sums[i]
