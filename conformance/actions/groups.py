"""The group snapshot verbs: label claims, snapshot them at once, find the members.

Why it exists: a VolumeGroupSnapshot selects claims by label, and its members are
VolumeSnapshots the snapshot-controller makes, owned by the group (``ownerReferences``
uid); waiting for the group and then each member, retaining a group and importing one
live here once.

Must not: assert conformance expectations (suites do).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from conformance import workload
from conformance.actions.base import (
    Obj,
    _present,
    name_of,
)
from conformance.actions.snapshots import SnapshotActions
from conformance.kube import dig
from conformance.waits import (
    snapshot_ready,
)

GROUP_LABEL = "snapconf.io/group"
"""Label whose value picks the claims of one VolumeGroupSnapshot (its label selector)."""


class RetainedGroup(NamedTuple):
    """A backend group snapshot whose VolumeGroupSnapshot is gone; its contents are kept.

    Keyed by claim name: what was written to each claim before the cut, and the snapshot
    handle of its member (from the member's VolumeSnapshotContent).
    """

    written: dict[str, workload.Result]
    snapshot_handles: dict[str, str]
    group_handle: str
    group: Obj
    """The deleted VolumeGroupSnapshot as it was when ready."""
    content: Obj
    """Its VolumeGroupSnapshotContent as it was when the group was ready."""
    member_contents: dict[str, Obj]
    """Each member's VolumeSnapshotContent as it was when the group was ready."""


def _claim_of(snapshot: Obj) -> str:
    """The claim a VolumeSnapshot was cut from (``spec.source.persistentVolumeClaimName``)."""
    return str(dig(snapshot, "spec", "source", "persistentVolumeClaimName") or "")


class ImportedGroup(NamedTuple):
    """A pre-provisioned group: the VolumeGroupSnapshot and the content it names."""

    group: Obj
    content: Obj


class GroupActions(SnapshotActions):
    """VolumeGroupSnapshots, their contents and their member snapshots."""

    def group_label(self) -> dict[str, str]:
        """A fresh label for the claims of one group: pass it to ``pvc(labels=...)``."""
        return {GROUP_LABEL: self.fresh_name("group")}

    def group_snapshot(
        self,
        selector: dict[str, str],
        *,
        deletion_policy: str = "Delete",
        group_snapshot_class: str | None = None,
        name: str | None = None,
    ) -> Obj:
        """Create a VolumeGroupSnapshot of the claims carrying ``selector`` (not awaited)."""
        obj = self.renderer.render(
            "volumegroupsnapshot",
            name=name or self.fresh_name("group"),
            namespace=self.namespace,
            group_snapshot_class=group_snapshot_class
            or self.classes.group_snapshot_class(deletion_policy),
            selector_labels=dict(selector),
            source_content=None,
        )
        return self.tracker.create(obj)

    def wait_group_ready(
        self, group: Obj, *, op: str | None = None, timeout: float | None = None
    ) -> Obj:
        """Wait until the group is readyToUse, then until each of its members is.

        The group's readiness is its content's (the driver's word for the whole cut); the
        member VolumeSnapshots the snapshot-controller made for it exist by then and each
        becomes ready on its own, so each is awaited too. Adopts the group content and
        the members and their contents for cleanup and diagnostics. Returns the group
        as it was when ready. ``op`` defaults to ``preprovisioned-group-ready`` for a
        group naming a content, ``group-snapshot-ready`` for one selecting claims.
        """
        name = name_of(group)
        static = dig(group, "spec", "source", "volumeGroupSnapshotContentName")
        op = op or ("preprovisioned-group-ready" if static else "group-snapshot-ready")
        timeout = timeout or self.profile.timeouts.snapshot_ready
        ready = self.waiter.until(
            "VolumeGroupSnapshot", name, self.namespace, snapshot_ready,
            timeout=timeout, op=op,
            describe=f"VolumeGroupSnapshot {self.namespace}/{name} to be readyToUse",
        )  # fmt: skip
        ready = _present(ready)
        content = (ready.get("status") or {}).get("boundVolumeGroupSnapshotContentName")
        if content:
            self.tracker.adopt("VolumeGroupSnapshotContent", content, None)
        for member in self.member_snapshots(ready):
            self.tracker.adopt("VolumeSnapshot", name_of(member), self.namespace)
            self.wait_ready(member, op="member-snapshot-ready", timeout=timeout)
        return ready

    def ready_group_snapshot(self, selector: dict[str, str], **kwargs: Any) -> Obj:
        """Create a group snapshot of the claims ``selector`` picks and wait until it is ready."""
        return self.wait_group_ready(self.group_snapshot(selector, **kwargs))

    def group_content_of(self, group: Obj) -> Obj:
        """The VolumeGroupSnapshotContent the group is bound to, as it is now."""
        current = self.kube.get("VolumeGroupSnapshot", name_of(group), self.namespace)
        content = (current.get("status") or {}).get("boundVolumeGroupSnapshotContentName")
        if not content:
            raise AssertionError(f"VolumeGroupSnapshot {name_of(group)} names no bound content")
        return self.kube.get("VolumeGroupSnapshotContent", content)

    def member_snapshots(self, group: Obj) -> list[Obj]:
        """The VolumeSnapshots the snapshot-controller made for the group, as they are now.

        A member is owned by its group (``metadata.ownerReferences`` naming the group's
        kind and uid; external-snapshotter v8.2+, where the group's
        ``status.pvcVolumeSnapshotRefList`` was removed). Sorted by source claim.
        """
        uid = (group.get("metadata") or {}).get("uid")
        snapshots, _ = self.kube.list("VolumeSnapshot", self.namespace)
        members = [
            snap
            for snap in snapshots
            if any(
                owner.get("kind") == "VolumeGroupSnapshot" and owner.get("uid") == uid
                for owner in dig(snap, "metadata", "ownerReferences") or []
            )
        ]
        return sorted(members, key=lambda s: (_claim_of(s), name_of(s)))

    def members_by_claim(self, group: Obj) -> dict[str, Obj]:
        """The group's member VolumeSnapshots by the claim each was cut from.

        Raises:
            AssertionError: two members name the same claim (or one names none): the
                group's members cannot be told apart.
        """
        out: dict[str, Obj] = {}
        for member in self.member_snapshots(group):
            claim = _claim_of(member)
            if not claim or claim in out:
                raise AssertionError(
                    f"VolumeGroupSnapshot {name_of(group)}: member {name_of(member)} names "
                    f"source claim {claim!r}, " + ("already taken" if claim else "none")
                )
            out[claim] = member
        return out

    def retained_group_snapshot(self, *, count: int = 2, mode: str | None = None) -> RetainedGroup:
        """Claims written, group-snapshotted under Retain, the group deleted: what is left.

        The group's deletion is awaited, and so are its member VolumeSnapshots (the
        snapshot-controller deletes them whatever the policy); the group content and the
        member contents stay tracked, so cleanup flips them to Delete and the backend
        group snapshot does not leak.
        """
        label = self.group_label()
        claims = [self.bound_pvc(mode=mode, labels=label) for _ in range(count)]
        written = {name_of(pvc): self.write_data(pvc, mode=mode) for pvc in claims}
        group = self.ready_group_snapshot(label, deletion_policy="Retain")
        content = self.group_content_of(group)
        members = self.members_by_claim(group)
        member_contents = {claim: self.content_of(snap) for claim, snap in members.items()}
        self.delete(group, op="group-snapshot-deleted")
        for member in members.values():
            self.wait_gone(member, op="member-snapshot-deleted")
        return RetainedGroup(
            written=written,
            snapshot_handles={
                claim: str(dig(c, "status", "snapshotHandle"))
                for claim, c in member_contents.items()
            },
            group_handle=str(dig(content, "status", "volumeGroupSnapshotHandle")),
            group=group,
            content=content,
            member_contents=member_contents,
        )

    def import_group_snapshot(
        self,
        group_handle: str,
        member_handles: list[str],
        *,
        deletion_policy: str = "Retain",
    ) -> ImportedGroup:
        """A pre-provisioned group content for ``group_handle`` and the group naming it.

        Retain by default, as :meth:`import_snapshot`: a content that fails to bind must
        not delete the backend group snapshot another object still uses; cleanup flips it
        to Delete.
        """
        group_name = self.fresh_name("imported-group")
        content = self.tracker.create(
            self.renderer.render(
                "volumegroupsnapshotcontent",
                name=self.cluster_scoped_name("group-content"),
                driver=self.profile.driver,
                deletion_policy=deletion_policy,
                group_snapshot_class=None,
                group_snapshot_handle=group_handle,
                snapshot_handles=list(member_handles),
                volume_handles=None,
                group_snapshot_ref={"name": group_name, "namespace": self.namespace, "uid": None},
            )
        )
        group = self.tracker.create(
            self.renderer.render(
                "volumegroupsnapshot",
                name=group_name,
                namespace=self.namespace,
                group_snapshot_class=None,
                selector_labels=None,
                source_content=name_of(content),
            )
        )
        return ImportedGroup(group, content)
