"""group: a VolumeGroupSnapshot cuts its claims at one moment; its members bind and restore."""

from __future__ import annotations

from typing import Any

import pytest

from conformance import expected
from conformance.actions import ClusterActions, name_of
from conformance.objects import (
    bound_content_name,
    bound_group_content_name,
    deletion_policy_of,
    handle_of,
    is_deleting,
    is_ready,
    snapshot_handle_of,
    uid_of,
)
from conformance.params import DELETION_POLICIES, EACH_VOLUME_MODE
from conformance.timestamps import group_time_problems, snapshot_time_problems
from conformance.units import parse_quantity
from conformance.waits import content_ready, snapshot_ready

pytestmark = pytest.mark.area("group")

Obj = dict[str, Any]


def _handle(cluster: ClusterActions, pvc: Obj) -> str:
    return str(handle_of(cluster.pv_of(pvc)))


@pytest.mark.requires("groupSnapshot")
@pytest.mark.parametrize("policy", DELETION_POLICIES)
def test_group_snapshot_binds_one_member_per_claim(cluster: ClusterActions, policy: str) -> None:
    """A group of two claims becomes ready with one bound VolumeSnapshot and content each.

    The group and its VolumeGroupSnapshotContent point at each other; the content names
    the driver, the class's deletionPolicy, both volumes, a group handle and one entry per
    volume mapping its volume handle to a distinct snapshot handle. Each member is a
    VolumeSnapshot of its own claim, bound one to one to a content of that volume and
    snapshot handle, carrying the group's handle and deletion policy; every creation time
    is sane and no status reports an error.
    """
    label = cluster.group_label()
    claims = [cluster.bound_pvc(labels=label) for _ in range(2)]
    written = {name_of(pvc): cluster.write_data(pvc) for pvc in claims}
    volumes = {name_of(pvc): _handle(cluster, pvc) for pvc in claims}
    group = cluster.ready_group_snapshot(label, deletion_policy=policy)
    content = cluster.group_content_of(group)
    vgsc = cluster.class_of(group)
    skew = cluster.profile.timeouts.clock_skew

    status = group["status"]
    assert is_ready(group)
    assert bound_group_content_name(group) == name_of(content)
    assert "error" not in status, f"a ready group snapshot still reports {status.get('error')}"
    spec = content["spec"]
    ref = spec["volumeGroupSnapshotRef"]
    assert (ref["name"], ref["namespace"], ref["uid"]) == (
        name_of(group), cluster.namespace, uid_of(group),
    ), "the group content does not point back at its VolumeGroupSnapshot"  # fmt: skip
    assert spec["driver"] == cluster.profile.driver
    assert spec["volumeGroupSnapshotClassName"] == name_of(vgsc)
    assert spec["deletionPolicy"] == policy == vgsc["deletionPolicy"]
    assert sorted(spec["source"]["volumeHandles"]) == sorted(volumes.values()), (
        "the group content does not name exactly the volumes of the selected claims"
    )
    cstatus = content["status"]
    assert is_ready(content)
    assert "error" not in cstatus, f"a ready group content reports {cstatus['error']}"
    group_handle = cstatus.get("volumeGroupSnapshotHandle")
    assert group_handle, "the group content has no status.volumeGroupSnapshotHandle"
    infos = cstatus.get("volumeSnapshotInfoList") or []
    by_volume = {info.get("volumeHandle"): info for info in infos}
    listed = sorted(str(info.get("volumeHandle")) for info in infos)
    assert listed == sorted(volumes.values()), (
        f"the group content's member list (volumeSnapshotInfoList) names volumes {listed}, "
        f"the group's are {sorted(volumes.values())}: the driver reported the wrong members"
    )
    snapshot_handles = [info.get("snapshotHandle") for info in infos]
    assert all(snapshot_handles), f"a member has no snapshot handle: {snapshot_handles}"
    assert len(set(snapshot_handles)) == len(infos), (
        f"two members share a snapshot handle: {snapshot_handles}"
    )
    assert all(info.get("readyToUse") is True for info in infos), (
        "a member of a ready group content is not readyToUse"
    )
    times = group_time_problems(group, content, skew=skew)
    assert not times, "; ".join(times)

    members = cluster.members_by_claim(group)
    assert sorted(members) == sorted(written), (
        f"the group's member VolumeSnapshots are of claims {sorted(members)}, "
        f"expected one of each of {sorted(written)}"
    )
    bound_contents = set()
    for claim, member in members.items():
        member_content = cluster.content_of(member)
        info = by_volume[volumes[claim]]
        mstatus = member["status"]
        assert is_ready(member)
        assert bound_content_name(member) == name_of(member_content)
        assert "error" not in mstatus, f"member {name_of(member)} reports {mstatus.get('error')}"
        assert mstatus.get("volumeGroupSnapshotName") == name_of(group), (
            f"member {name_of(member)} does not name its group in status.volumeGroupSnapshotName"
        )
        mref = member_content["spec"]["volumeSnapshotRef"]
        assert (mref["name"], mref["namespace"], mref["uid"]) == (
            name_of(member), cluster.namespace, uid_of(member),
        ), f"the content of member {name_of(member)} does not point back at it"  # fmt: skip
        assert member_content["spec"]["driver"] == cluster.profile.driver
        assert deletion_policy_of(member_content) == policy
        assert member_content["spec"]["source"].get("volumeHandle") == volumes[claim], (
            f"the content of the member of claim {claim} names another volume"
        )
        assert member_content["spec"].get("sourceVolumeMode") == "Filesystem"
        mcstatus = member_content["status"]
        assert is_ready(member_content)
        assert mcstatus.get("snapshotHandle") == info["snapshotHandle"], (
            f"the content of the member of claim {claim} holds snapshot handle "
            f"{mcstatus.get('snapshotHandle')!r}, the group content maps its volume to "
            f"{info['snapshotHandle']!r}"
        )
        assert mcstatus.get("volumeGroupSnapshotHandle") == group_handle
        assert mstatus.get("restoreSize") is not None, (
            f"the member of claim {claim} has no status.restoreSize"
        )
        restore_size = parse_quantity(str(mstatus["restoreSize"]))
        assert restore_size >= written[claim].size, (
            f"the restoreSize of the member of claim {claim} is smaller than the data written"
        )
        times = snapshot_time_problems(member, member_content, skew=skew, requested_by=group)
        assert not times, "; ".join(times)
        bound_contents.add(name_of(member_content))
    assert len(bound_contents) == len(members), "two members are bound to one content"


@pytest.mark.requires("groupSnapshot", "snapshotDataSource")
@EACH_VOLUME_MODE
def test_group_members_restore_their_own_data_of_one_moment(cluster: ClusterActions) -> None:
    """Each member restores its own claim's data of the cut, not later data, not its peer's.

    v1 is written to each claim, the group is cut, v2 is written to each; the restore of
    each member holds that claim's v1 (sha256): never the other claim's v1 (members mixed
    up) nor its own v2 (not a point in time).
    """
    label = cluster.group_label()
    claims = [cluster.bound_pvc(labels=label) for _ in range(2)]
    before = {name_of(pvc): cluster.write_data(pvc) for pvc in claims}
    group = cluster.ready_group_snapshot(label)
    after = {name_of(pvc): cluster.write_data(pvc) for pvc in claims}
    members = cluster.members_by_claim(group)
    assert sorted(members) == sorted(before), (
        f"the group's members are of claims {sorted(members)}, expected {sorted(before)}"
    )

    restored = {
        claim: cluster.wait_bound(cluster.restore(member)) for claim, member in members.items()
    }
    got = {claim: cluster.read_data(pvc).sha256 for claim, pvc in restored.items()}
    for claim, sha in got.items():
        [other] = [c for c in before if c != claim]
        assert sha != "missing", f"the restore of the member of claim {claim} is empty"
        assert sha != before[other].sha256, (
            f"the restore of member {claim} holds member {other}'s data: the group cut "
            "mixed up its members"
        )
        assert sha != after[claim].sha256, (
            f"the restore of member {claim} holds the data written after the group "
            "snapshot: the group is not a point-in-time copy"
        )
        assert sha == before[claim].sha256, (
            f"restored data sha256 of member {claim} differs from its claim at group snapshot time"
        )


@pytest.mark.requires("groupSnapshot", "preProvisionedSnapshot")
def test_delete_policy_group_removes_members_and_backend(cluster: ClusterActions) -> None:
    """Deleting a Delete-policy group removes its content, members, their contents, the backend.

    The group content, each member VolumeSnapshot and each member content go. The
    backend snapshots go too: each member's old snapshot handle, imported as a
    pre-provisioned content, never becomes ready (the driver must say it does not exist).
    """
    label = cluster.group_label()
    for pvc in [cluster.bound_pvc(labels=label) for _ in range(2)]:
        cluster.write_data(pvc)
    group = cluster.ready_group_snapshot(label, deletion_policy="Delete")
    content = cluster.group_content_of(group)
    members = cluster.member_snapshots(group)
    member_contents = [cluster.content_of(member) for member in members]
    handles = [str(snapshot_handle_of(c)) for c in member_contents]
    assert len(members) == 2, f"the group has {len(members)} member VolumeSnapshots, not 2"

    cluster.delete(group, op="group-snapshot-deleted")
    cluster.wait_gone(content)
    for member in members:
        cluster.wait_gone(member, op="member-snapshot-deleted")
    for member_content in member_contents:
        cluster.wait_gone(member_content, op="member-content-deleted")

    for handle in handles:
        reimport, settled = cluster.reimport_deleted(handle)
        assert not content_ready(settled), (
            "the backend snapshot of a member of a deleted Delete-policy group still "
            f"exists: importing its handle {handle} made a ready content"
        )
        assert not is_ready(reimport), (
            f"the backend snapshot {handle} of a member of a deleted Delete-policy group "
            "still exists"
        )


@pytest.mark.requires("groupSnapshot", "snapshotDataSource", "preProvisionedSnapshot")
def test_retain_policy_group_keeps_contents_and_backend(cluster: ClusterActions) -> None:
    """A Retain group's content and member contents outlive it; each member still restores.

    Deleting the group removes it and its member VolumeSnapshots; the group content and
    the member contents stay, not being deleted, and each member's snapshot handle,
    imported as a pre-provisioned content, restores the data its claim held at the cut.
    """
    retained = cluster.retained_group_snapshot()
    kept = cluster.get(retained.content)
    assert deletion_policy_of(kept) == "Retain"
    assert not is_deleting(kept), "the content of a deleted Retain group is being deleted"
    for claim, member_content in retained.member_contents.items():
        still = cluster.get(member_content)
        assert not is_deleting(still), (
            f"the content of the member of claim {claim} of a deleted Retain group is being deleted"
        )

    for claim, handle in retained.snapshot_handles.items():
        imported = cluster.import_snapshot(handle)
        ready = cluster.wait_ready(imported.snapshot)
        restored = cluster.wait_bound(cluster.restore(ready))
        assert cluster.read_data(restored).sha256 == retained.written[claim].sha256, (
            f"the retained member of claim {claim} (handle {handle}) restores other data "
            "than its claim held at the group cut"
        )
    again = cluster.get(retained.content)
    assert not is_deleting(again)


@pytest.mark.requires("groupSnapshot", "preProvisionedSnapshot")
def test_preprovisioned_group_snapshot_binds_and_becomes_ready(cluster: ClusterActions) -> None:
    """A group content made from existing group and member handles binds and becomes ready.

    The handles come from a retained dynamic group. The VolumeGroupSnapshot naming the
    imported content binds to it (each names the other, uid included) and becomes ready;
    the content's status is the driver's own account (GetVolumeGroupSnapshot): the same
    group handle, ready, no error, a creation time not before the original cut was asked.
    """
    retained = cluster.retained_group_snapshot()
    imported = cluster.import_group_snapshot(
        retained.group_handle, list(retained.snapshot_handles.values())
    )
    ready = cluster.wait_group_ready(imported.group)
    content = cluster.get(imported.content)

    assert bound_group_content_name(ready) == name_of(content)
    assert "error" not in ready["status"], f"the imported group reports {ready['status']}"
    assert content["spec"]["volumeGroupSnapshotRef"].get("uid") == uid_of(ready), (
        "the imported group content is not bound to the VolumeGroupSnapshot naming it"
    )
    status = content["status"]
    assert is_ready(content)
    assert status.get("volumeGroupSnapshotHandle") == retained.group_handle
    assert "error" not in status, f"the imported group content reports {status['error']}"
    times = group_time_problems(
        ready, content, skew=cluster.profile.timeouts.clock_skew, requested_by=retained.group
    )
    assert not times, "; ".join(times)


@pytest.mark.requires("groupSnapshot")
def test_member_snapshot_stays_while_its_group_exists(cluster: ClusterActions) -> None:
    """A member VolumeSnapshot deleted on its own stays, ready, until its group goes.

    The snapshot-controller refuses the deletion by name (SnapshotDeletePending) and the
    member is never removed over the whole error window: it stays ready and bound to a
    content that still holds its snapshot handle. Deleting the group then takes it along.
    """
    label = cluster.group_label()
    for _ in range(2):
        cluster.bound_pvc(labels=label)
    group = cluster.ready_group_snapshot(label)
    member = next(iter(cluster.members_by_claim(group).values()))
    handle = snapshot_handle_of(cluster.content_of(member))

    cluster.delete(member, wait=False)
    watched = cluster.refusal(member, expected.MEMBER_DELETED_ALONE, whole_window=True)
    assert watched.said, watched.missing()
    assert None not in watched.history, "a member snapshot went while its group still exists"
    kept = cluster.get(member)
    assert snapshot_ready(kept), f"the member being held is no longer ready: {kept['status']}"
    assert cluster.content_of(kept)["status"].get("snapshotHandle") == handle, (
        "the content of a held member lost its snapshot handle"
    )
    cluster.delete(group)
    cluster.wait_gone(member, op="member-gone-with-group")


@pytest.mark.requires("groupSnapshot")
def test_group_snapshot_of_a_selector_matching_no_claim_reports_error(
    cluster: ClusterActions,
) -> None:
    """A group whose selector matches no claim is refused by name and never becomes ready."""
    group = cluster.group_snapshot(cluster.group_label())
    watched = cluster.refusal(group, expected.GROUP_OF_NO_CLAIM)
    assert watched.ever(snapshot_ready) is None, "a group of no claim became ready"
    assert watched.said, watched.missing()


@pytest.mark.requires("groupSnapshot")
def test_group_snapshot_with_missing_class_reports_error(cluster: ClusterActions) -> None:
    """A group naming a VolumeGroupSnapshotClass that does not exist reports the class missing."""
    label = cluster.group_label()
    cluster.bound_pvc(labels=label)
    group = cluster.group_snapshot(label, group_snapshot_class="snapconf-no-such-group-class")
    watched = cluster.refusal(group, expected.GROUP_WITH_MISSING_CLASS)
    assert watched.ever(snapshot_ready) is None, "a group of a missing class became ready"
    assert watched.said, watched.missing()


@pytest.mark.requires("groupSnapshot", "snapshotDataSource")
@pytest.mark.requires_profile("wffcStorageClass")
def test_group_deleted_while_a_member_restore_waits_ends_clean(cluster: ClusterActions) -> None:
    """A group deleted while a restore from its member waits is held, and ends clean.

    The restore uses the WaitForFirstConsumer class and no pod yet, so it stays Pending,
    being created from the member. The group's deletion is refused by name
    (SnapshotDeletePending) and the group stays; once a pod uses the restore, it binds
    with its claim's data of the cut, and then the group and its members go.
    """
    label = cluster.group_label()
    claims = [cluster.bound_pvc(labels=label) for _ in range(2)]
    before = {name_of(pvc): cluster.write_data(pvc) for pvc in claims}
    group = cluster.ready_group_snapshot(label)
    claim, member = next(iter(cluster.members_by_claim(group).items()))
    restore = cluster.restore(member, late_binding=True)
    cluster.wait_for_event(restore, reason="WaitForFirstConsumer")

    cluster.delete(group, wait=False)
    watched = cluster.refusal(group, expected.GROUP_DELETED_WHILE_MEMBER_RESTORES)
    assert watched.said, watched.missing()
    assert None not in watched.history, "the group went while a restore from its member waited"
    assert cluster.read_data(restore).sha256 == before[claim].sha256, (
        f"restored data sha256 of member {claim} differs from its claim at group snapshot time"
    )
    cluster.wait_gone(group, op="group-gone-after-restore")
    cluster.wait_gone(member, op="member-gone-with-group")


@pytest.mark.requires("groupSnapshot")
def test_group_snapshot_of_a_claim_of_another_driver_reports_error(
    cluster: ClusterActions,
) -> None:
    """A group whose selection holds another CSI driver's claim is refused by name, not cut.

    The class's driver cannot cut a volume it does not own, and half a group is no group:
    the snapshot-controller refuses the whole group, which never becomes ready.
    """
    label = cluster.group_label()
    cluster.bound_pvc(labels=label)
    cluster.foreign_claim(labels=label)
    group = cluster.group_snapshot(label)
    watched = cluster.refusal(group, expected.GROUP_WITH_CLAIM_OF_OTHER_DRIVER)
    assert watched.ever(snapshot_ready) is None, "a group holding another driver's claim got ready"
    assert watched.said, watched.missing()
