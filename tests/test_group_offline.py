"""VolumeGroupSnapshots without a cluster: the verbs, the kinds, cleanup order, leak check.

An in-memory API (``tests.fakes.FakeKube``) stands in for the cluster: objects without
finalizers go at once, so the order in which cleanup deletes them is the order of the
DELETED events in its history.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.actions import GROUP_LABEL, ClusterActions, SessionClasses
from conformance.kube import GROUP_SNAPSHOT_KINDS, KINDS, Forbidden, Kind, lookup
from conformance.manifests import Renderer
from conformance.profile import ClassSpec, Profile
from conformance.resources import RUN_LABEL, Tracker, leak_check, sweep
from conformance.waits import Waiter
from tests.fakes import FakeClock, FakeKube

NS = "sc-20261207-000000-abcd-main-x1-ab12"
RUN = "sc-20261207-000000-abcd"
DRIVER = "hostpath.csi.k8s.io"
GROUP_UID = "11111111-2222-3333-4444-555555555555"

Obj = dict[str, Any]


MADE = ClassSpec(create={"parameters": {"a": "b"}})


def profile(group_class: ClassSpec | None = MADE) -> Profile:
    return Profile(
        driver=DRIVER,
        storage_class=ClassSpec(name="sc"),
        snapshot_class=ClassSpec(name="vsc"),
        group_snapshot_class=group_class,
        capabilities={"groupSnapshot": True},
    )


def waiter(kube: FakeKube) -> Waiter:
    clock = FakeClock()
    return Waiter(kube, clock=clock, sleep=clock.sleep)


def actions(kube: FakeKube, prof: Profile | None = None) -> ClusterActions:
    prof = prof or profile()
    tracker = Tracker(kube, RUN, "main", waiter(kube))
    renderer = Renderer()
    classes = SessionClasses(kube, tracker, renderer, prof, RUN, "main")  # type: ignore[arg-type]
    return ClusterActions(
        profile=prof,
        kube=kube,  # type: ignore[arg-type]
        tracker=tracker,
        waiter=tracker.waiter,
        renderer=renderer,
        classes=classes,
        worker="main",
        namespace=NS,
    )


def member(name: str, claim: str, owner_uid: str = GROUP_UID, **status: Any) -> Obj:
    return {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": f"uid-{name}",
            "ownerReferences": [
                {
                    "apiVersion": "groupsnapshot.storage.k8s.io/v1",
                    "kind": "VolumeGroupSnapshot",
                    "name": "group-1",
                    "uid": owner_uid,
                }
            ],
        },
        "spec": {"source": {"persistentVolumeClaimName": claim}},
        "status": status,
    }


# ---------------------------------------------------------------- kinds


def test_group_snapshot_kinds_are_registered() -> None:
    assert {"VolumeGroupSnapshot", "VolumeGroupSnapshotContent", "VolumeGroupSnapshotClass"} == (
        GROUP_SNAPSHOT_KINDS
    )
    group = lookup("VolumeGroupSnapshot")
    assert (group.api_version, group.plural, group.namespaced, group.custom) == (
        "groupsnapshot.storage.k8s.io/v1", "volumegroupsnapshots", True, True,
    )  # fmt: skip
    content = lookup("volumegroupsnapshotcontents")
    assert (content.kind, content.namespaced) == ("VolumeGroupSnapshotContent", False)
    klass = lookup("VolumeGroupSnapshotClass")
    assert (klass.plural, klass.namespaced) == ("volumegroupsnapshotclasses", False)
    assert group.path("ns", "g") == (
        "/apis/groupsnapshot.storage.k8s.io/v1/namespaces/ns/volumegroupsnapshots/g"
    )
    assert all(KINDS[name].group == "groupsnapshot.storage.k8s.io" for name in GROUP_SNAPSHOT_KINDS)


# ---------------------------------------------------------------- classes and verbs


def test_group_snapshot_class_is_made_once_per_policy_from_the_profile() -> None:
    kube = FakeKube()
    cluster = actions(kube)
    name = cluster.classes.group_snapshot_class("Retain")
    assert name == f"{RUN}-main-vgsc-retain"
    assert cluster.classes.group_snapshot_class("Retain") == name
    made = kube.get("VolumeGroupSnapshotClass", name)
    assert made["apiVersion"] == "groupsnapshot.storage.k8s.io/v1"
    assert (made["driver"], made["deletionPolicy"], made["parameters"]) == (
        DRIVER, "Retain", {"a": "b"},
    )  # fmt: skip
    assert made["metadata"]["labels"][RUN_LABEL] == RUN


def test_a_named_group_snapshot_class_is_used_or_copied() -> None:
    kube = FakeKube()
    kube.put({
        "apiVersion": "groupsnapshot.storage.k8s.io/v1", "kind": "VolumeGroupSnapshotClass",
        "metadata": {"name": "vendor-vgsc"}, "driver": DRIVER, "deletionPolicy": "Delete",
        "parameters": {"tier": "gold"},
    })  # fmt: skip
    cluster = actions(kube, profile(ClassSpec(name="vendor-vgsc")))
    assert cluster.classes.group_snapshot_class("Delete") == "vendor-vgsc"
    variant = cluster.classes.group_snapshot_class("Retain")
    assert variant != "vendor-vgsc"
    assert kube.get("VolumeGroupSnapshotClass", variant)["parameters"] == {"tier": "gold"}


def test_no_group_snapshot_class_in_the_profile_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="groupSnapshotClass"):
        actions(FakeKube(), profile(None)).classes.group_snapshot_class()


def test_claims_carry_the_group_label_beside_the_run_label() -> None:
    kube = FakeKube()
    cluster = actions(kube)
    label = cluster.group_label()
    assert list(label) == [GROUP_LABEL]
    pvc = cluster.pvc(storage_class="sc", labels=label)
    labels = kube.get("PersistentVolumeClaim", pvc["metadata"]["name"], NS)["metadata"]["labels"]
    assert labels[GROUP_LABEL] == label[GROUP_LABEL]
    assert labels[RUN_LABEL] == RUN
    plain = cluster.pvc(storage_class="sc")
    assert GROUP_LABEL not in plain["metadata"]["labels"]


def test_group_snapshot_selects_claims_by_label_with_the_policys_class() -> None:
    kube = FakeKube()
    cluster = actions(kube)
    group = cluster.group_snapshot({GROUP_LABEL: "group-abc"}, deletion_policy="Retain")
    stored = kube.get("VolumeGroupSnapshot", group["metadata"]["name"], NS)
    assert stored["spec"] == {
        "volumeGroupSnapshotClassName": f"{RUN}-main-vgsc-retain",
        "source": {"selector": {"matchLabels": {GROUP_LABEL: "group-abc"}}},
    }
    assert stored["metadata"]["labels"][RUN_LABEL] == RUN


def test_members_are_the_snapshots_the_group_owns_by_uid() -> None:
    kube = FakeKube()
    cluster = actions(kube)
    kube.put(member("snapshot-b", "claim-b"))
    kube.put(member("snapshot-a", "claim-a"))
    kube.put(member("snapshot-x", "claim-a", owner_uid="another-group"))
    kube.put({**member("plain", "claim-a"), "metadata": {"name": "plain", "namespace": NS}})
    group = {"metadata": {"name": "group-1", "namespace": NS, "uid": GROUP_UID}}
    assert [m["metadata"]["name"] for m in cluster.member_snapshots(group)] == [
        "snapshot-a", "snapshot-b",
    ]  # fmt: skip
    assert sorted(cluster.members_by_claim(group)) == ["claim-a", "claim-b"]
    kube.put(member("snapshot-c", "claim-a"))
    with pytest.raises(AssertionError, match="claim-a"):
        cluster.members_by_claim(group)


def test_a_ready_group_adopts_its_content_and_waits_for_each_member() -> None:
    kube = FakeKube()
    cluster = actions(kube)
    kube.put({
        "apiVersion": "groupsnapshot.storage.k8s.io/v1", "kind": "VolumeGroupSnapshot",
        "metadata": {"name": "group-1", "namespace": NS, "uid": GROUP_UID},
        "spec": {"source": {"selector": {"matchLabels": {GROUP_LABEL: "g"}}}},
        "status": {"readyToUse": True, "boundVolumeGroupSnapshotContentName": "groupcontent-1"},
    })  # fmt: skip
    kube.put(member("snapshot-a", "claim-a", readyToUse=True,
                    boundVolumeSnapshotContentName="snapcontent-a"))  # fmt: skip
    ready = cluster.wait_group_ready({"metadata": {"name": "group-1", "namespace": NS}})
    assert ready["status"]["readyToUse"] is True
    tracked = {(ref.kind, ref.name) for ref in cluster.tracker.tracked()}
    assert {
        ("VolumeGroupSnapshotContent", "groupcontent-1"),
        ("VolumeSnapshot", "snapshot-a"),
        ("VolumeSnapshotContent", "snapcontent-a"),
    } <= tracked


def test_an_imported_group_names_its_content_and_the_content_its_handles() -> None:
    kube = FakeKube()
    cluster = actions(kube)
    group, content = cluster.import_group_snapshot("group-handle", ["snap-1", "snap-2"])
    stored = kube.get("VolumeGroupSnapshotContent", content["metadata"]["name"])
    assert content["metadata"]["name"].startswith(f"{RUN}-group-content-")
    assert stored["spec"]["deletionPolicy"] == "Retain"
    assert stored["spec"]["driver"] == DRIVER
    assert stored["spec"]["source"] == {
        "groupSnapshotHandles": {
            "volumeGroupSnapshotHandle": "group-handle",
            "volumeSnapshotHandles": ["snap-1", "snap-2"],
        }
    }
    assert stored["spec"]["volumeGroupSnapshotRef"] == {
        "apiVersion": "groupsnapshot.storage.k8s.io/v1", "kind": "VolumeGroupSnapshot",
        "name": group["metadata"]["name"], "namespace": NS,
    }  # fmt: skip
    assert group["spec"] == {
        "source": {"volumeGroupSnapshotContentName": content["metadata"]["name"]}
    }


# ---------------------------------------------------------------- cleanup order


def _put(kube: FakeKube, kind: str, name: str, namespace: str | None = None, **rest: Any) -> None:
    meta: Obj = {"name": name, "labels": {RUN_LABEL: RUN}}
    if namespace:
        meta["namespace"] = namespace
    kube.put({"kind": kind, "metadata": meta, **rest})


def _deleted(kube: FakeKube) -> list[str]:
    return [obj["kind"] for _, etype, obj in kube.history if etype == "DELETED"]


def test_cleanup_deletes_groups_before_members_and_group_contents_before_contents() -> None:
    kube = FakeKube()
    _put(kube, "VolumeSnapshotClass", "vsc")
    _put(kube, "VolumeGroupSnapshotClass", "vgsc")
    _put(kube, "StorageClass", "sc")
    _put(kube, "VolumeSnapshotContent", "content")
    _put(kube, "VolumeGroupSnapshotContent", "group-content")
    _put(kube, "VolumeSnapshot", "member", NS)
    _put(kube, "VolumeGroupSnapshot", "group", NS)
    tracker = Tracker(kube, RUN, "main", waiter(kube))
    for kind, name, namespace in (
        ("StorageClass", "sc", None), ("VolumeSnapshotClass", "vsc", None),
        ("VolumeSnapshotContent", "content", None), ("VolumeSnapshot", "member", NS),
        ("VolumeGroupSnapshotClass", "vgsc", None), ("VolumeGroupSnapshotContent",
        "group-content", None), ("VolumeGroupSnapshot", "group", NS),
    ):  # fmt: skip
        tracker.adopt(kind, name, namespace)
    assert tracker.cleanup(30) == []
    order = _deleted(kube)
    assert order.index("VolumeGroupSnapshot") < order.index("VolumeSnapshot")
    assert order.index("VolumeSnapshot") < order.index("VolumeGroupSnapshotContent")
    assert order.index("VolumeGroupSnapshotContent") < order.index("VolumeSnapshotContent")
    # group classes go in the snapshot classes' stage, before the storage classes
    assert order.index("VolumeGroupSnapshotClass") < order.index("StorageClass")
    assert order.index("VolumeSnapshotContent") < order.index("VolumeGroupSnapshotClass")


def test_cleanup_flips_a_retained_group_content_it_finds_from_its_group() -> None:
    kube = FakeKube()
    _put(kube, "VolumeGroupSnapshot", "group", NS,
         status={"boundVolumeGroupSnapshotContentName": "group-content"})  # fmt: skip
    kube.put({
        "kind": "VolumeGroupSnapshotContent", "metadata": {"name": "group-content"},
        "spec": {"deletionPolicy": "Retain",
                 "volumeGroupSnapshotRef": {"name": "group", "namespace": NS}},
    })  # fmt: skip
    tracker = Tracker(kube, RUN, "main", waiter(kube))
    tracker.adopt("VolumeGroupSnapshot", "group", NS)
    assert tracker.cleanup(30) == []
    assert ("VolumeGroupSnapshotContent", "group-content",
            {"spec": {"deletionPolicy": "Delete"}}) in kube.patches  # fmt: skip
    assert kube.get_or_none("VolumeGroupSnapshotContent", "group-content") is None


def test_cleanup_leaves_a_group_content_bound_to_another_group() -> None:
    kube = FakeKube()
    _put(kube, "VolumeGroupSnapshot", "group", NS,
         status={"boundVolumeGroupSnapshotContentName": "theirs"})  # fmt: skip
    kube.put({
        "kind": "VolumeGroupSnapshotContent", "metadata": {"name": "theirs"},
        "spec": {"deletionPolicy": "Delete",
                 "volumeGroupSnapshotRef": {"name": "other", "namespace": "elsewhere"}},
    })  # fmt: skip
    tracker = Tracker(kube, RUN, "main", waiter(kube))
    tracker.adopt("VolumeGroupSnapshot", "group", NS)
    assert tracker.cleanup(30) == []
    assert kube.get_or_none("VolumeGroupSnapshotContent", "theirs") is not None


def test_leak_check_and_sweep_see_unlabelled_group_contents_of_the_run() -> None:
    kube = FakeKube()
    _put(kube, "Namespace", NS)
    kube.put({
        "kind": "VolumeGroupSnapshotContent", "metadata": {"name": "groupsnapcontent-1"},
        "spec": {"deletionPolicy": "Delete",
                 "volumeGroupSnapshotRef": {"name": "group", "namespace": NS}},
    })  # fmt: skip
    kube.put({
        "kind": "VolumeGroupSnapshotContent", "metadata": {"name": "not-ours"},
        "spec": {"deletionPolicy": "Delete",
                 "volumeGroupSnapshotRef": {"name": "group", "namespace": "default"}},
    })  # fmt: skip
    leaks = leak_check(kube, RUN)
    assert "VolumeGroupSnapshotContent/groupsnapcontent-1" in leaks
    assert "VolumeGroupSnapshotContent/not-ours" not in leaks
    errors = sweep(kube, RUN, timeout=30, waiter=waiter(kube))
    assert errors == []
    assert kube.get_or_none("VolumeGroupSnapshotContent", "groupsnapcontent-1") is None
    assert kube.get_or_none("VolumeGroupSnapshotContent", "not-ours") is not None


class _NoGroupRights(FakeKube):
    """An identity without the (optional) group snapshot rules."""

    def list(self, kind: Kind | str, *args: Any, **kwargs: Any) -> tuple[list[Obj], str]:
        if lookup(kind).kind in GROUP_SNAPSHOT_KINDS:
            raise Forbidden("volumegroupsnapshots is forbidden", status=403, reason="Forbidden")
        return super().list(kind, *args, **kwargs)


def test_an_identity_without_group_rules_still_sweeps_and_checks_for_leaks() -> None:
    kube = _NoGroupRights()
    _put(kube, "Namespace", NS)
    assert leak_check(kube, RUN) == [f"Namespace/{NS}"]
    assert sweep(kube, RUN, timeout=30, waiter=waiter(kube)) == []
    assert kube.get_or_none("Namespace", NS) is None


def test_other_forbidden_lists_still_fail_the_leak_check() -> None:
    class NoPods(FakeKube):
        def list(self, kind: Kind | str, *args: Any, **kwargs: Any) -> tuple[list[Obj], str]:
            if lookup(kind).kind == "Pod":
                raise Forbidden("pods is forbidden", status=403, reason="Forbidden")
            return super().list(kind, *args, **kwargs)

    with pytest.raises(Forbidden):
        leak_check(NoPods(), RUN)
