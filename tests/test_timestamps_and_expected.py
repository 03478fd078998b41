"""Creation times judged for sense, and the table of expected refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import expected
from conformance.timestamps import (
    creation_time_problem,
    creation_times_disagree,
    group_time_problems,
    parse_rfc3339,
    snapshot_time_problems,
)

REQUESTED = parse_rfc3339("2026-12-07T19:30:00Z")


def problem(value: object, now: float = REQUESTED + 2, skew: float = 5.0) -> str | None:
    return creation_time_problem(
        value, field="VolumeSnapshot s status.creationTime", requested=REQUESTED, now=now, skew=skew
    )


def test_a_time_between_request_and_read_is_fine() -> None:
    assert problem("2026-12-07T19:30:01Z") is None
    assert problem(int((REQUESTED + 1.5) * 1e9)) is None


@pytest.mark.parametrize(
    ("value", "symptom"),
    [
        (None, "is missing"),
        ("", "is missing"),
        ("1970-01-01T00:00:00Z", "1970, the zero time"),
        (0, "1970, the zero time"),
        ("yesterday", "not a time"),
        ("2026-12-07T18:30:01Z", "before the snapshot was requested"),
        ("2026-12-07T20:30:01Z", "in the future"),
    ],
)
def test_a_time_that_makes_no_sense_is_named(value: object, symptom: str) -> None:
    message = problem(value)
    assert message is not None
    assert symptom in message
    assert message.startswith("VolumeSnapshot s status.creationTime")


def test_clock_skew_is_allowed_both_ways() -> None:
    assert problem("2026-12-07T19:29:57Z", skew=5) is None
    assert problem("2026-12-07T19:30:06Z", now=REQUESTED + 2, skew=5) is None
    assert problem("2026-12-07T19:30:09Z", now=REQUESTED + 2, skew=5) is not None


def test_snapshot_and_content_times_agree_to_the_second() -> None:
    nanos = int((REQUESTED + 0.7) * 1e9)
    assert creation_times_disagree("2026-12-07T19:30:00Z", nanos, field="f") is None
    message = creation_times_disagree("2026-12-07T19:31:00Z", nanos, field="f")
    assert message is not None
    assert "59s apart" in message


def test_every_refusal_names_component_reasons_and_valid_wordings() -> None:
    assert len({e.case for e in expected.TABLE}) == len(expected.TABLE)
    for entry in expected.TABLE:
        assert entry.component
        assert entry.reasons
        assert entry.wordings
        for wording in entry.wordings:
            re.compile(wording)


def test_a_refusal_counts_only_with_its_reason_and_wording() -> None:
    entry = expected.CONTENT_WITH_WRONG_UID
    right = {
        "reason": "SnapshotContentMisbound",
        "message": "VolumeSnapshotContent c is bound to a different snapshot",
    }
    assert entry.event_message(right)
    assert entry.event_message({**right, "reason": "FailedScheduling"}) is None
    assert entry.event_message({**right, "message": "image pull backoff"}) is None
    snap = {"status": {"error": {"message": right["message"]}}}
    assert entry.status_message(snap) == right["message"]
    assert entry.status_message({"status": {"error": {"message": "timeout"}}}) is None


def test_the_volume_mode_refusal_matches_the_provisioners_words() -> None:
    said = (
        'failed to provision volume with StorageClass "sc": error getting handle for '
        "DataSource Type VolumeSnapshot by Name snap: requested volume ns/pvc modifies the "
        "mode of the source volume but does not have permission to do so. "
        "snapshot.storage.kubernetes.io/allow-volume-mode-change annotation is not present "
        "on snapshotcontent snapcontent-1"
    )
    assert expected.VOLUME_MODE_CHANGE.event_message(
        {"reason": "ProvisioningFailed", "message": said}
    )


def test_docs_list_every_refusal_with_its_component() -> None:
    text = (Path(__file__).parent.parent / "docs" / "checks.md").read_text(encoding="utf-8")
    lines = text.splitlines()
    for row in expected.markdown_rows():
        assert row in lines, f"docs/checks.md lacks or has an old row: {row[:80]}"


#: What the testbed's components (external-snapshotter v8.7.0, external-provisioner
#: v6.3.0, our hostpath driver) said on 2026-12-07, names shortened.
SAID = [
    (
        expected.SNAPSHOT_OF_MISSING_PVC,
        "SnapshotContentCreationFailed",
        "Failed to create snapshot content with error snapshot controller failed to update "
        "snap-1 on API server: cannot get claim from snapshot",
    ),
    (
        expected.SNAPSHOT_WITH_MISSING_CLASS,
        "GetSnapshotClassFailed",
        "Failed to get snapshot class with error volumesnapshotclass.snapshot.storage.k8s.io "
        '"snapconf-no-such-class" not found',
    ),
    (
        expected.SNAPSHOT_OF_UNBOUND_PVC,
        "SnapshotContentCreationFailed",
        "Failed to create snapshot content with error failed to get input parameters to create "
        'snapshot snap-1: "the PVC pvc-1 is not yet bound to a PV, will not attempt to take a '
        'snapshot"',
    ),
    (
        expected.CONTENT_WITH_WRONG_UID,
        "SnapshotContentMisbound",
        "VolumeSnapshotContent [sc-x-content-abc] is bound to a different snapshot",
    ),
    (
        expected.CONTENT_IN_OTHER_NAMESPACE,
        "SnapshotFinalizerError",
        "Failed to check and update snapshot: VolumeSnapshotContent [sc-x-content-abc] is bound "
        "to a different snapshot",
    ),
    (
        expected.CONTENT_ALREADY_BOUND,
        "SnapshotContentMismatch",
        "VolumeSnapshotContent is dynamically provisioned while expecting a pre-provisioned one",
    ),
    (
        expected.BOGUS_SNAPSHOT_HANDLE,
        "SnapshotContentCheckandUpdateFailed",
        "Failed to check and update snapshot content: failed to list snapshot for content sc-x: "
        '"can not find snapshot for snapshotID snapconf-bogus-h-1"',
    ),
    (
        expected.SNAPSHOT_OF_CLASS_WITHOUT_DRIVER,
        "CreatingSnapshot",
        "Waiting for a snapshot ns/snap-1 to be created by the CSI driver.",
    ),
    (
        expected.RESTORE_FROM_MISSING_SNAPSHOT,
        "ProvisioningFailed",
        "error getting handle for DataSource Type VolumeSnapshot by Name "
        "snapconf-no-such-snapshot: error getting snapshot snapconf-no-such-snapshot from "
        "api server: "
        'volumesnapshots.snapshot.storage.k8s.io "snapconf-no-such-snapshot" not found',
    ),
    (
        expected.RESTORE_FROM_UNREADY_SNAPSHOT,
        "ProvisioningFailed",
        "error getting handle for DataSource Type VolumeSnapshot by Name snap-1: snapshot snap-1 "
        "not bound",
    ),
    (
        expected.RESTORE_SMALLER_THAN_RESTORE_SIZE,
        "ProvisioningFailed",
        "error getting handle for DataSource Type VolumeSnapshot by Name snap-1: requested volume "
        "size 536870912 is less than the size 1073741824 for the source snapshot snap-1",
    ),
    (
        expected.DRIVER_REFUSES_VOLUME_MODE_CHANGE,
        "ProvisioningFailed",
        "Volume provisioning failed with infeasible error. Retries will be delayed. rpc error: "
        "code = InvalidArgument desc = source snapshot x was taken of a mount volume, cannot "
        "restore it as block",
    ),
    (
        expected.MOUNT_OF_DELETED_VOLUME,
        "FailedMount",
        'MountVolume.SetUp failed for volume "pv-1" : rpc error: code = NotFound desc = volume '
        "228d3eea not found",
    ),
]


@pytest.mark.parametrize(("entry", "reason", "message"), SAID, ids=[e.case for e, _, _ in SAID])
def test_what_the_testbed_said_is_each_refusal(
    entry: expected.ExpectedError, reason: str, message: str
) -> None:
    assert entry.event_message({"reason": reason, "message": message}) == message


def test_snapshot_and_content_times_are_judged_together() -> None:
    snap = {
        "metadata": {"name": "s", "creationTimestamp": "2026-12-07T19:30:00Z"},
        "status": {"creationTime": "2026-12-07T19:30:01Z"},
    }
    content = {"metadata": {"name": "c"}, "status": {"creationTime": int((REQUESTED + 1) * 1e9)}}
    assert snapshot_time_problems(snap, content, skew=5, now=REQUESTED + 3) == []
    epoch = {"metadata": {"name": "c"}, "status": {"creationTime": 0}}
    problems = snapshot_time_problems(snap, epoch, skew=5, now=REQUESTED + 3)
    assert any("VolumeSnapshotContent c status.creationTime" in p and "1970" in p for p in problems)
    assert any("apart" in p for p in problems)
    imported = {**snap, "metadata": {"name": "i", "creationTimestamp": "2026-12-07T20:00:00Z"}}
    assert (
        snapshot_time_problems(imported, content, skew=5, requested_by=snap, now=REQUESTED + 3)
        == []
    )


def test_group_times_are_judged_with_each_members() -> None:
    group = {
        "metadata": {"name": "g", "creationTimestamp": "2026-12-07T19:30:00Z"},
        "status": {"creationTime": "2026-12-07T19:30:01Z"},
    }
    member = int((REQUESTED + 1.2) * 1e9)
    content = {
        "metadata": {"name": "gc"},
        "status": {
            "creationTime": "2026-12-07T19:30:01Z",  # v1: a metav1.Time, not nanoseconds
            "volumeSnapshotInfoList": [
                {"volumeHandle": "v1", "snapshotHandle": "s1", "creationTime": member},
                {"volumeHandle": "v2", "snapshotHandle": "s2", "creationTime": member},
            ],
        },
    }
    assert group_time_problems(group, content, skew=5, now=REQUESTED + 3) == []

    broken = {
        "metadata": {"name": "gc"},
        "status": {
            "creationTime": "2026-12-07T19:31:01Z",
            "volumeSnapshotInfoList": [{"volumeHandle": "v2", "creationTime": 0}],
        },
    }
    problems = group_time_problems(group, broken, skew=5, now=REQUESTED + 120)
    assert any("entry of volume v2 creationTime" in p and "1970" in p for p in problems)
    assert any("VolumeGroupSnapshot says" in p and "60s apart" in p for p in problems)

    unset = {"metadata": group["metadata"], "status": {}}
    [missing_group, missing_content] = group_time_problems(unset, {"metadata": {"name": "gc"}},
                                                           skew=5, now=REQUESTED + 3)  # fmt: skip
    assert missing_group.startswith("VolumeGroupSnapshot g status.creationTime is missing")
    assert missing_content.startswith(
        "VolumeGroupSnapshotContent gc status.creationTime is missing"
    )

    imported = {**group, "metadata": {"name": "i", "creationTimestamp": "2026-12-07T20:00:00Z"}}
    assert group_time_problems(imported, content, skew=5, now=REQUESTED + 3) != []
    assert (
        group_time_problems(imported, content, skew=5, requested_by=group, now=REQUESTED + 3) == []
    )
