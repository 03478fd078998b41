"""The errors the negative tests expect, in one table: who must say it, and how.

Why it exists: a negative test that accepts "any Warning event" passes on an unrelated
warning (a slow image pull, a retried update) and so proves nothing about the refusal it
claims. Each entry here names the component that must refuse, the Event reasons it uses
and the wordings of its message (a regular expression per known wording; where controller
versions word it differently, each wording is listed on its own). A test passes only when
the snapshot's ``status.error.message`` or an event of an accepted reason matches (the
reasons are the components' own; one entry, the snapshot of a driver nobody serves, is
the controller's Normal "waiting for the driver" event, since no error is ever raised).

The report and docs quote this table, so a reader sees what each test expects. Pure data
and matching: this module must not touch a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

Obj = dict[str, Any]

SNAPSHOT_CONTROLLER = "snapshot-controller"
CSI_SNAPSHOTTER = "csi-snapshotter"
EXTERNAL_PROVISIONER = "external-provisioner"


@dataclass(frozen=True)
class ExpectedError:
    """One refusal: the component that must report it, its event reasons and wordings."""

    case: str
    component: str
    reasons: tuple[str, ...]
    wordings: tuple[str, ...]
    in_status: bool = True
    """Whether the component also writes the message into the object's ``status.error``."""
    _patterns: tuple[re.Pattern[str], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_patterns", tuple(re.compile(w) for w in self.wordings))

    def says(self, message: str) -> bool:
        """The message is one of the known wordings of this refusal."""
        return any(p.search(message) for p in self._patterns)

    def status_message(self, obj: Obj | None) -> str | None:
        """``status.error.message`` of ``obj`` when it is this refusal, else None."""
        message = str(((obj or {}).get("status") or {}).get("error", {}).get("message") or "")
        return message if message and self.says(message) else None

    def event_message(self, event: Obj | None) -> str | None:
        """The event's message when it is this refusal (accepted reason and wording)."""
        if not event or event.get("reason") not in self.reasons:
            return None
        message = str(event.get("message") or "")
        return message if self.says(message) else None

    def describe(self) -> str:
        """One line for failure messages and the report: who, which reasons, which words."""
        where = "status.error or " if self.in_status else ""
        return f"{self.component}: {where}a {'/'.join(self.reasons)} event saying " + " or ".join(
            repr(w) for w in self.wordings
        )


SNAPSHOT_OF_MISSING_PVC = ExpectedError(
    "a snapshot of a PVC that does not exist",
    SNAPSHOT_CONTROLLER,
    ("SnapshotContentCreationFailed", "SnapshotFinalizerError", "SnapshotPVCSourceMissing"),
    (
        r"cannot get claim from snapshot",  # v8.x: the claim lookup fails on update
        r"failed to retrieve PVC \S+ from the lister: .*not found",  # the lookup's own error
    ),
)
SNAPSHOT_WITH_MISSING_CLASS = ExpectedError(
    "a snapshot naming a VolumeSnapshotClass that does not exist",
    SNAPSHOT_CONTROLLER,
    ("GetSnapshotClassFailed", "SnapshotContentCreationFailed", "SnapshotValidationError"),
    (
        r"Failed to get snapshot class with error volumesnapshotclass\S* \"?\S+\"? not found",
        r"failed to retrieve snapshot class \S+",
    ),
)
SNAPSHOT_OF_UNBOUND_PVC = ExpectedError(
    "a snapshot of a PVC that is not bound",
    SNAPSHOT_CONTROLLER,
    ("SnapshotContentCreationFailed", "SnapshotFinalizerError"),
    (
        r"the PVC \S+ is not yet bound to a PV, will not attempt to take a snapshot",
        r"claim in dataSource not bound or invalid",
    ),
)
SNAPSHOT_OF_CLASS_WITHOUT_DRIVER = ExpectedError(
    "a snapshot whose class names a driver no csi-snapshotter serves",
    SNAPSHOT_CONTROLLER,
    ("CreatingSnapshot",),
    (r"Waiting for a snapshot \S+ to be created by the CSI driver",),
    in_status=False,
)
CONTENT_WITH_WRONG_UID = ExpectedError(
    "a VolumeSnapshot naming a content whose volumeSnapshotRef.uid is another object's",
    SNAPSHOT_CONTROLLER,
    ("SnapshotContentMisbound", "SnapshotFinalizerError", "SnapshotBindFailed"),
    (
        r"VolumeSnapshotContent \[?\S+?\]? is bound to a different snapshot",
        r"not bound to the VolumeSnapshot correctly",
    ),
)
CONTENT_IN_OTHER_NAMESPACE = ExpectedError(
    "a VolumeSnapshot naming a content whose volumeSnapshotRef is in another namespace",
    SNAPSHOT_CONTROLLER,
    ("SnapshotContentMisbound", "SnapshotFinalizerError", "SnapshotBindFailed"),
    (
        r"VolumeSnapshotContent \[?\S+?\]? is bound to a different snapshot",
        r"not bound to the VolumeSnapshot correctly",
    ),
)
CONTENT_ALREADY_BOUND = ExpectedError(
    "a second VolumeSnapshot naming a content bound to the first",
    SNAPSHOT_CONTROLLER,
    ("SnapshotContentMismatch", "SnapshotFinalizerError", "SnapshotContentMisbound"),
    (
        r"is dynamically provisioned while expecting a pre-provisioned",
        r"expects a pre-provisioned VolumeSnapshotContent \S+ but gets a dynamically",
        r"bound to a different snapshot",
    ),
)
BOGUS_SNAPSHOT_HANDLE = ExpectedError(
    "a pre-provisioned content whose snapshotHandle exists nowhere",
    CSI_SNAPSHOTTER,
    ("SnapshotContentCheckandUpdateFailed", "SnapshotContentStatusUpdateFailed"),
    (
        r"failed to list snapshot for content \S+: .*can not find snapshot for snapshotID",
        r"failed to list snapshot for content \S+: .*code = NotFound",
    ),
)
RESTORE_FROM_MISSING_SNAPSHOT = ExpectedError(
    "a PVC restored from a VolumeSnapshot that does not exist",
    EXTERNAL_PROVISIONER,
    ("ProvisioningFailed",),
    (r"error getting handle for DataSource Type VolumeSnapshot by Name \S+: .*not found",),
    in_status=False,
)
RESTORE_FROM_UNREADY_SNAPSHOT = ExpectedError(
    "a PVC restored from a VolumeSnapshot that is not ready",
    EXTERNAL_PROVISIONER,
    ("ProvisioningFailed",),
    (
        r"error getting handle for DataSource Type VolumeSnapshot by Name \S+: "
        r".*(?i:not (bound|ready))",
    ),
    in_status=False,
)
RESTORE_SMALLER_THAN_RESTORE_SIZE = ExpectedError(
    "a PVC restored from a snapshot with less capacity than its restoreSize",
    EXTERNAL_PROVISIONER,
    ("ProvisioningFailed",),
    (
        r"requested volume size \d+ is less than the size \d+ for the source snapshot",
        r"rpc error: code = OutOfRange",  # a provisioner that leaves the check to the driver
    ),
    in_status=False,
)
VOLUME_MODE_CHANGE = ExpectedError(
    "a restore that changes the volume mode of its snapshot's source without permission",
    EXTERNAL_PROVISIONER,
    ("ProvisioningFailed",),
    (r"modifies the mode of the source volume but does not have permission to do so",),
    in_status=False,
)

DRIVER_REFUSES_VOLUME_MODE_CHANGE = ExpectedError(
    "a restore allowed to change its volume mode, which the driver does not convert",
    "CSI driver (CreateVolume, reported by external-provisioner)",
    ("ProvisioningFailed",),
    (r"rpc error: code = \w+ desc = ",),
    in_status=False,
)
MOUNT_OF_DELETED_VOLUME = ExpectedError(
    "a pod using a static PV whose backend volume was deleted",
    "CSI driver (ControllerPublish, NodeStage or NodePublish, reported by kubelet or the "
    "attach-detach controller)",
    ("FailedMount", "FailedMapVolume", "FailedAttachVolume"),
    (
        r"rpc error: code = NotFound",
        r"rpc error: code = \w+ desc = .*(?i:not found|does not exist|no such)",
    ),
    in_status=False,
)

GROUP_OF_NO_CLAIM = ExpectedError(
    "a VolumeGroupSnapshot whose selector matches no PVC",
    SNAPSHOT_CONTROLLER,
    ("GroupSnapshotContentCreationFailed",),
    (r"label selector \S+ for group snapshot not applied to any PVC",),
)
GROUP_WITH_MISSING_CLASS = ExpectedError(
    "a VolumeGroupSnapshot naming a VolumeGroupSnapshotClass that does not exist",
    SNAPSHOT_CONTROLLER,
    ("GetGroupSnapshotClassFailed", "GroupSnapshotContentCreationFailed"),
    (
        r"failed to get group snapshot class with error volumegroupsnapshotclass\S* "
        r"\"?\S+\"? not found",
    ),
)
MEMBER_DELETED_ALONE = ExpectedError(
    "the deletion of one member VolumeSnapshot while its VolumeGroupSnapshot exists",
    SNAPSHOT_CONTROLLER,
    ("SnapshotDeletePending",),
    (
        r"deletion of the individual volume snapshot \S+ is not allowed as it belongs to "
        r"group snapshot \S+",
    ),
    in_status=False,
)

GROUP_DELETED_WHILE_MEMBER_RESTORES = ExpectedError(
    "the deletion of a VolumeGroupSnapshot while a PVC is being restored from a member",
    SNAPSHOT_CONTROLLER,
    ("SnapshotDeletePending",),
    (r"Snapshot \S+ belonging to VolumeGroupSnapshot \S+ is being used to restore a PVC",),
    in_status=False,
)

GROUP_WITH_CLAIM_OF_OTHER_DRIVER = ExpectedError(
    "a VolumeGroupSnapshot whose selection holds a claim of another CSI driver",
    SNAPSHOT_CONTROLLER,
    ("CreateGroupSnapshotContentFailed", "GroupSnapshotContentCreationFailed"),
    (r"Volume CSI driver \(\S+\) mismatch with VolumeGroupSnapshotClass \(\S+\)",),
)

TABLE: tuple[ExpectedError, ...] = (
    SNAPSHOT_OF_MISSING_PVC,
    SNAPSHOT_WITH_MISSING_CLASS,
    SNAPSHOT_OF_UNBOUND_PVC,
    SNAPSHOT_OF_CLASS_WITHOUT_DRIVER,
    CONTENT_WITH_WRONG_UID,
    CONTENT_IN_OTHER_NAMESPACE,
    CONTENT_ALREADY_BOUND,
    BOGUS_SNAPSHOT_HANDLE,
    RESTORE_FROM_MISSING_SNAPSHOT,
    RESTORE_FROM_UNREADY_SNAPSHOT,
    RESTORE_SMALLER_THAN_RESTORE_SIZE,
    VOLUME_MODE_CHANGE,
    DRIVER_REFUSES_VOLUME_MODE_CHANGE,
    MOUNT_OF_DELETED_VOLUME,
    GROUP_OF_NO_CLAIM,
    GROUP_WITH_MISSING_CLASS,
    GROUP_WITH_CLAIM_OF_OTHER_DRIVER,
    MEMBER_DELETED_ALONE,
    GROUP_DELETED_WHILE_MEMBER_RESTORES,
)
"""Every refusal the suites expect, in the order docs/internals.md lists them."""


def markdown_rows() -> list[str]:
    """:data:`TABLE` as the rows of docs/checks.md's table (a unit test keeps them equal)."""
    rows = []
    for entry in TABLE:
        words = " or ".join("`" + w.replace("|", "\\|") + "`" for w in entry.wordings)
        where = "status.error and event" if entry.in_status else "event"
        cells = [entry.case, entry.component, ", ".join(entry.reasons), where, words]
        rows.append("| " + " | ".join(cells) + " |")
    return rows
