"""ClusterActions' defaults without a cluster: the test's volume mode, each wait's own
timing name, the named pair an import returns, and ``broken=True``.

An in-memory API (``tests.fakes.FakeKube``) stands in for the cluster; objects are put in
the state a controller would leave them in, so each wait returns at once.
"""

from __future__ import annotations

from typing import Any

from conformance.actions import ClusterActions, Imported, SessionClasses
from conformance.manifests import Renderer
from conformance.profile import ClassSpec, Profile
from conformance.resources import Tracker
from conformance.waits import Timings, Waiter
from tests.fakes import FakeClock, FakeKube

NS = "sc-20261207-000000-abcd-main-x1-ab12"
RUN = "sc-20261207-000000-abcd"

Obj = dict[str, Any]


def actions(kube: FakeKube, volume_mode: str = "Filesystem") -> tuple[ClusterActions, Timings]:
    prof = Profile(
        driver="hostpath.csi.k8s.io",
        storage_class=ClassSpec(name="sc"),
        snapshot_class=ClassSpec(name="vsc"),
    )
    kube.put({"kind": "StorageClass", "metadata": {"name": "sc"}, "reclaimPolicy": "Delete"})
    kube.put(
        {"kind": "VolumeSnapshotClass", "metadata": {"name": "vsc"}, "deletionPolicy": "Delete"}
    )
    clock = FakeClock()
    timings = Timings()
    waiter = Waiter(kube, timings, clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]
    tracker = Tracker(kube, RUN, "main", waiter)  # type: ignore[arg-type]
    renderer = Renderer()
    classes = SessionClasses(kube, tracker, renderer, prof, RUN, "main")  # type: ignore[arg-type]
    cluster = ClusterActions(
        profile=prof,
        kube=kube,  # type: ignore[arg-type]
        tracker=tracker,
        waiter=waiter,
        renderer=renderer,
        classes=classes,
        worker="main",
        namespace=NS,
        volume_mode=volume_mode,
    )
    return cluster, timings


def _bound(kube: FakeKube, pvc: Obj) -> None:
    stored = kube.get("PersistentVolumeClaim", pvc["metadata"]["name"], NS)
    stored["spec"]["volumeName"] = f"pv-{pvc['metadata']['name']}"
    stored["status"] = {"phase": "Bound"}
    kube.put(stored)


def _ready(kube: FakeKube, snap: Obj) -> None:
    stored = kube.get("VolumeSnapshot", snap["metadata"]["name"], NS)
    stored["status"] = {"readyToUse": True}
    kube.put(stored)


def test_claims_take_the_tests_volume_mode_unless_given_one() -> None:
    kube = FakeKube()
    cluster, _ = actions(kube, volume_mode="Block")
    assert cluster.pvc()["spec"]["volumeMode"] == "Block"
    assert cluster.pvc(mode="Filesystem")["spec"]["volumeMode"] == "Filesystem"
    source = {"kind": "VolumeSnapshot", "metadata": {"name": "snap-1"}}
    assert cluster.restore(source)["spec"]["volumeMode"] == "Block"


def test_each_wait_names_its_timing_by_what_it_waits_for() -> None:
    kube = FakeKube()
    cluster, timings = actions(kube)
    plain = cluster.pvc()
    restore = cluster.restore({"kind": "VolumeSnapshot", "metadata": {"name": "snap-1"}})
    clone = cluster.clone(plain)
    for pvc in (plain, restore, clone):
        _bound(kube, pvc)
        cluster.wait_bound(pvc)
    cluster.wait_bound(plain, op="named-by-the-test")
    dynamic = cluster.snapshot(plain)
    imported = cluster.import_snapshot("handle-1")
    for snap in (dynamic, imported.snapshot):
        _ready(kube, snap)
        cluster.wait_ready(snap)
    assert [item["op"] for item in timings.items] == [
        "pvc-bound",
        "restore-bound",
        "clone-bound",
        "named-by-the-test",
        "snapshot-ready",
        "preprovisioned-ready",
    ]


def test_wait_gone_names_its_timing_by_kind() -> None:
    kube = FakeKube()
    cluster, timings = actions(kube)
    for kind in ("VolumeSnapshotContent", "PersistentVolume", "PersistentVolumeClaim"):
        cluster.wait_gone({"kind": kind, "metadata": {"name": "gone", "namespace": NS}})
    assert [item["op"] for item in timings.items] == [
        "content-deleted",
        "pv-deleted",
        "pvc-deleted",
    ]


def test_an_import_is_a_named_pair_and_broken_marks_both() -> None:
    kube = FakeKube()
    cluster, _ = actions(kube)
    imported = cluster.import_snapshot("handle-1", broken=True)
    assert isinstance(imported, Imported)
    snap, content = imported
    assert (snap, content) == (imported.snapshot, imported.content)
    assert snap["spec"]["source"] == {"volumeSnapshotContentName": content["metadata"]["name"]}
    broken = cluster.tracker._broken
    assert len(broken) == 2
    assert not actions(kube)[0].import_snapshot("handle-2").snapshot.get("status")


def test_a_foreign_claims_pv_is_marked_broken_so_cleanup_deletes_it_as_it_is() -> None:
    kube = FakeKube()
    cluster, _ = actions(kube)
    cluster.wait_bound = lambda pvc, **_: pvc  # type: ignore[method-assign]
    claim = cluster.foreign_claim()
    pv_name = claim["spec"]["volumeName"]
    assert kube.get("PersistentVolume", pv_name)["spec"]["csi"]["driver"] == "other.snapconf.io"
    assert [ref.name for ref in cluster.tracker._broken] == [pv_name]
