"""Snapshot creation times, checked for sense and not only for presence.

Why it exists: ``creationTime`` is the driver's word for when the snapshot was cut, the
point in time a restore returns to. A driver that leaves it empty shows the epoch
(1970-01-01), one that reports local time as UTC shows an hour off; both pass a check
that the field is set. Here a time is parsed and judged against the moment the snapshot
was requested and the moment it was read, within a declared clock skew, and the
VolumeSnapshot's time (RFC 3339, whole seconds) against its content's (nanoseconds).
A VolumeGroupSnapshot's times (its own, its content's, each member's) get the same
judgement (:func:`group_time_problems`).

Pure functions: each returns None when the time makes sense, else one sentence naming the
field and the symptom. Must not touch a cluster.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

EPOCH_SLACK = 86400.0
"""A time within a day of 1970-01-01 is an unset one (Go's zero Unix time, 0 ns)."""

RFC3339_ROUNDING = 1.0
"""A VolumeSnapshot's creationTime and metadata.creationTimestamp carry whole seconds."""


def parse_rfc3339(value: str) -> float:
    """Seconds since the epoch of a Kubernetes time string (``2026-12-07T19:30:01Z``).

    Raises:
        ValueError: not an RFC 3339 time.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment.astimezone(UTC).timestamp()


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def creation_time_problem(
    value: object,
    *,
    field: str,
    requested: float,
    now: float,
    skew: float,
) -> str | None:
    """What is wrong with one creation time, or None.

    Args:
        value: the field's value: an RFC 3339 string (VolumeSnapshot) or integer
            nanoseconds (VolumeSnapshotContent); None when missing.
        field: how the message names the field, e.g. ``VolumeSnapshot ns/x status.creationTime``.
        requested: epoch seconds when the snapshot was asked for (the source's cut can
            not be earlier), by the clock of the API server that stamped the request.
        now: epoch seconds when the value was read.
        skew: seconds the driver's clock may differ from ours (the profile's ``clockSkew``).
    """
    if value is None or value == "":
        return f"{field} is missing: the driver reported no creation time"
    try:
        seconds = int(value) / 1e9 if isinstance(value, int) else parse_rfc3339(str(value))
    except (ValueError, TypeError):
        return f"{field} is {value!r}, not a time"
    if seconds < EPOCH_SLACK:
        return (
            f"{field} is {_iso(seconds)} (1970, the zero time): the driver left the "
            "snapshot's creation_time unset"
        )
    earliest = requested - skew - RFC3339_ROUNDING
    if seconds < earliest:
        return (
            f"{field} is {_iso(seconds)}, {requested - seconds:.0f}s before the snapshot "
            f"was requested at {_iso(requested)} (clock skew allowed: {skew:g}s)"
        )
    if seconds > now + skew:
        return (
            f"{field} is {_iso(seconds)}, {seconds - now:.0f}s in the future "
            f"(read at {_iso(now)}, clock skew allowed: {skew:g}s)"
        )
    return None


def creation_times_disagree(snapshot_time: str, content_nanos: int, *, field: str) -> str | None:
    """The VolumeSnapshot's time is its content's, to the second; else why not."""
    try:
        snap = parse_rfc3339(snapshot_time)
    except ValueError:
        return f"{field}: the VolumeSnapshot's creationTime {snapshot_time!r} is not a time"
    content = int(content_nanos) / 1e9
    if abs(snap - content) > RFC3339_ROUNDING:
        return (
            f"{field}: the VolumeSnapshot says {_iso(snap)}, its content {_iso(content)} "
            f"({abs(snap - content):.0f}s apart)"
        )
    return None


def snapshot_time_problems(
    snapshot: dict[str, Any],
    content: dict[str, Any],
    *,
    skew: float,
    requested_by: dict[str, Any] | None = None,
    now: float | None = None,
) -> list[str]:
    """What is wrong with a snapshot's and its content's creation times (none: []).

    The backend snapshot cannot be older than the request that cut it: the
    ``metadata.creationTimestamp`` of ``requested_by`` (the snapshot itself unless it was
    imported from another snapshot's handle), nor newer than ``now`` (the time of reading).
    """
    asked = requested_by or snapshot
    requested = parse_rfc3339(str(asked["metadata"]["creationTimestamp"]))
    read_at = time.time() if now is None else now
    snap_time = (snapshot.get("status") or {}).get("creationTime")
    content_time = (content.get("status") or {}).get("creationTime")
    problems = [
        creation_time_problem(
            snap_time, field=f"VolumeSnapshot {snapshot['metadata']['name']} status.creationTime",
            requested=requested, now=read_at, skew=skew,
        ),
        creation_time_problem(
            content_time,
            field=f"VolumeSnapshotContent {content['metadata']['name']} status.creationTime",
            requested=requested, now=read_at, skew=skew,
        ),
    ]  # fmt: skip
    if snap_time and isinstance(content_time, int):
        problems.append(creation_times_disagree(str(snap_time), content_time, field="creationTime"))
    return [p for p in problems if p]


def group_time_problems(
    group: dict[str, Any],
    content: dict[str, Any],
    *,
    skew: float,
    requested_by: dict[str, Any] | None = None,
    now: float | None = None,
) -> list[str]:
    """What is wrong with a group snapshot's creation times (none: []).

    The VolumeGroupSnapshot's and its VolumeGroupSnapshotContent's ``status.creationTime``
    (both RFC 3339 in ``groupsnapshot.storage.k8s.io/v1``) and each member's entry of the
    content's ``status.volumeSnapshotInfoList`` (nanoseconds) are judged as a single
    snapshot's are: not before the group was requested (``requested_by``, the group itself
    unless it was imported from another group's handles), not after ``now``; the group's
    and its content's agree to the second.
    """
    asked = requested_by or group
    requested = parse_rfc3339(str(asked["metadata"]["creationTimestamp"]))
    read_at = time.time() if now is None else now
    group_time = (group.get("status") or {}).get("creationTime")
    status = content.get("status") or {}
    content_time = status.get("creationTime")
    group_name = group["metadata"]["name"]
    content_name = content["metadata"]["name"]
    problems = [
        creation_time_problem(
            group_time, field=f"VolumeGroupSnapshot {group_name} status.creationTime",
            requested=requested, now=read_at, skew=skew,
        ),
        creation_time_problem(
            content_time, field=f"VolumeGroupSnapshotContent {content_name} status.creationTime",
            requested=requested, now=read_at, skew=skew,
        ),
    ]  # fmt: skip
    for info in status.get("volumeSnapshotInfoList") or []:
        field = (
            f"VolumeGroupSnapshotContent {content_name} status.volumeSnapshotInfoList "
            f"entry of volume {info.get('volumeHandle')} creationTime"
        )
        problems.append(
            creation_time_problem(
                info.get("creationTime"), field=field, requested=requested, now=read_at, skew=skew
            )
        )
    if group_time and content_time:
        problems.append(_rfc3339_disagree(str(group_time), str(content_time)))
    return [p for p in problems if p]


def _rfc3339_disagree(group_time: str, content_time: str) -> str | None:
    """The group's time is its content's, to the second; else why not."""
    try:
        group = parse_rfc3339(group_time)
        content = parse_rfc3339(content_time)
    except ValueError:
        return None  # each unparsable time is already a problem of its own
    if abs(group - content) > RFC3339_ROUNDING:
        return (
            f"creationTime: the VolumeGroupSnapshot says {_iso(group)}, its content "
            f"{_iso(content)} ({abs(group - content):.0f}s apart)"
        )
    return None
