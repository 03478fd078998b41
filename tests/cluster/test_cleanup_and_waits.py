"""The tracker's cleanup and the waiter against the real testbed, not a fake.

Cleanup must leave nothing (retained contents included), and a wait that cannot succeed
must fail as an AssertionError whose message carries the object's last state and events.
"""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions, name_of
from conformance.kube import Kube
from conformance.resources import RUN_LABEL, Tracker, leak_check
from conformance.waits import Timings, Waiter, WaitTimeout, snapshot_ready


def test_cleanup_removes_everything_including_retained_content(
    kube: Kube, cluster: ClusterActions, tracker: Tracker
) -> None:
    pvc = cluster.bound_pvc()
    pv = cluster.pv_of(pvc)
    snap = cluster.ready_snapshot(pvc, deletion_policy="Retain")
    content = cluster.content_of(snap)

    errors = tracker.cleanup(60)

    assert errors == []
    assert kube.get_or_none("VolumeSnapshotContent", name_of(content)) is None
    assert kube.get_or_none("PersistentVolume", name_of(pv)) is None
    assert kube.get_or_none("Namespace", cluster.namespace) is None or (
        kube.get("Namespace", cluster.namespace)["metadata"].get("deletionTimestamp")
    )
    leftovers = [
        leak
        for leak in leak_check(kube, tracker.run_id)
        if cluster.namespace in leak and "Namespace" not in leak
    ]
    assert leftovers == []
    assert RUN_LABEL in tracker.labels


def test_wait_timeout_carries_last_state_and_events(cluster: ClusterActions, kube: Kube) -> None:
    missing = {"kind": "PersistentVolumeClaim", "metadata": {"name": "snapconf-no-such-pvc"}}
    snap = cluster.snapshot(missing)
    timings = Timings()
    with pytest.raises(WaitTimeout) as caught:
        Waiter(kube, timings).until(
            "VolumeSnapshot", name_of(snap), cluster.namespace, snapshot_ready,
            timeout=5, op="snapshot-ready", describe="a snapshot of a missing PVC",
        )  # fmt: skip
    message = str(caught.value)
    assert isinstance(caught.value, AssertionError)
    assert "readyToUse" in message
    assert "snapconf-no-such-pvc" in message
    # the time given to the cluster counts in the critical path (bench/overhead)
    [timed] = timings.items
    assert timed["op"] == "snapshot-ready-timeout"
    assert timed["seconds"] >= 5
