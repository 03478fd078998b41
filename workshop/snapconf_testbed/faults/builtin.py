"""The faults snapconf ships: each imitates one real CSI driver bug.

Every fault is one small unit registered with ``@fault``; its docstring names the bug and
what the conformance suites should see. Faults that lie do it consistently: a driver that
restores the wrong data still reports the requested content source, because the
external-provisioner rejects a response without one and the bug would never reach a PVC.

Importing this module registers the faults into ``registry.BUILTIN``; it must not do
anything else at import time.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, ClassVar

import grpc

from snapconf_testbed.faults import hostpath
from snapconf_testbed.faults.call import Call, CsiMessage, Reply
from snapconf_testbed.faults.registry import fault

SNAPSHOT_RESPONSES = frozenset({"CreateSnapshot", "ListSnapshots", "GetSnapshot"})


def snapshots_in(method: str, response: CsiMessage) -> list[Any]:
    """The ``csi.v1.Snapshot`` messages of a CreateSnapshot/GetSnapshot/ListSnapshots reply."""
    if method == "ListSnapshots":
        return [entry.snapshot for entry in response.entries if entry.HasField("snapshot")]
    return [response.snapshot] if response.HasField("snapshot") else []


def source_snapshot_id(request: CsiMessage) -> str:
    """The snapshot a CreateVolume request restores ("" for none)."""
    src = request.volume_content_source
    return str(src.snapshot.snapshot_id) if src.HasField("snapshot") else ""


def source_volume_id(request: CsiMessage) -> str:
    """The volume a CreateVolume request clones ("" for none)."""
    src = request.volume_content_source
    return str(src.volume.volume_id) if src.HasField("volume") else ""


def list_snapshots(call: Call, **filters: str) -> list[Any]:
    """Every snapshot upstream matching the filters, across pages."""
    out: list[Any] = []
    token = ""
    while True:
        resp = call.invoke(
            "ListSnapshots", call.csi.ListSnapshotsRequest(starting_token=token, **filters)
        )
        out += [entry.snapshot for entry in resp.entries]
        token = resp.next_token
        if not token:
            return out


def list_volumes(call: Call) -> list[Any]:
    """Every volume upstream, across pages."""
    out: list[Any] = []
    token = ""
    while True:
        resp = call.invoke("ListVolumes", call.csi.ListVolumesRequest(starting_token=token))
        out += [entry.volume for entry in resp.entries]
        token = resp.next_token
        if not token:
            return out


def _drop_source(call: Call, kind: str) -> Reply:
    req = call.request
    if not req.volume_content_source.HasField(kind):
        return call.forward()
    wanted = call.csi.VolumeContentSource()
    wanted.CopyFrom(req.volume_content_source)
    req.ClearField("volume_content_source")
    call.log(f"dropped the {kind} source of {req.name!r}: the volume is created empty")
    reply = call.forward()
    reply.message.volume.content_source.CopyFrom(wanted)
    return reply


@fault("restore-empty", methods=["CreateVolume"])
def restore_empty(call: Call) -> Reply:
    """Restore from a snapshot yields an empty volume.

    Imitates a driver that ignores ``volume_content_source.snapshot`` in CreateVolume (the
    data path is missing or silently fails) yet echoes the source back, so the PVC binds
    and only reading the data shows the loss.
    """
    return _drop_source(call, "snapshot")


@fault("clone-empty", methods=["CreateVolume"])
def clone_empty(call: Call) -> Reply:
    """A clone of a volume comes up empty.

    Imitates a driver that ignores ``volume_content_source.volume`` in CreateVolume but
    reports the source as honoured.
    """
    return _drop_source(call, "volume")


def _newest(snapshots: list[Any]) -> Any:
    return max(
        snapshots,
        key=lambda s: (s.ready_to_use, s.creation_time.seconds, s.creation_time.nanos,
                       s.snapshot_id),
    )  # fmt: skip


@fault("restore-wrong-snapshot", methods=["CreateVolume"])
class RestoreWrongSnapshot:
    """Restore from snapshot A yields the data of another snapshot B of the same volume.

    Imitates drivers that resolve a snapshot by its source volume or by "latest" (stale
    caches, name collisions) instead of by id. The reply still names A as the source. B is
    the newest other snapshot of A's source volume (ready ones first), found with
    ListSnapshots upstream; with no other snapshot the restore passes through unchanged
    (logged), so a suite must take two snapshots with different data to see it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._chosen: dict[tuple[str, str], str] = {}  # (name, asked) -> substitute

    def __call__(self, call: Call) -> Reply:
        req = call.request
        wanted = source_snapshot_id(req)
        if not wanted:
            return call.forward()
        key = (str(req.name), wanted)
        with self._lock:
            other = self._chosen.get(key, "")
        if not other:
            found = list_snapshots(call, snapshot_id=wanted)
            if not found:
                return call.forward()  # upstream answers NOT_FOUND
            siblings = [
                s for s in list_snapshots(call, source_volume_id=found[0].source_volume_id)
                if s.snapshot_id != wanted
            ]  # fmt: skip
            if not siblings:
                call.log(f"no other snapshot of volume {found[0].source_volume_id}; unchanged")
                return call.forward()
            other = _newest(siblings).snapshot_id
            with self._lock:
                other = self._chosen.setdefault(key, other)
        req.volume_content_source.snapshot.snapshot_id = other
        call.log(f"restoring {other} instead of {wanted} for {req.name!r}")
        reply = call.forward()
        reply.message.volume.content_source.snapshot.snapshot_id = wanted
        return reply


@fault("snapshot-wrong-source", methods=["CreateSnapshot", "ListSnapshots"])
class SnapshotWrongSource:
    """CreateSnapshot of volume A snapshots another volume B.

    Imitates drivers that map a volume id to the wrong backend volume (an off-by-one in a
    lookup table, ids reused after deletion). The reply, and later ListSnapshots entries,
    still name A as the source. B is another volume from ListVolumes upstream, one of the
    same access type and capacity when there is one; with no other volume the snapshot
    passes through unchanged (logged).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_name: dict[tuple[str, str], str] = {}  # (name, asked) -> substitute
        self._claimed: dict[str, str] = {}  # snapshot id -> source volume it claims

    def __call__(self, call: Call) -> Reply:
        if call.method.name == "ListSnapshots":
            reply = call.forward()
            with self._lock:
                claimed = dict(self._claimed)
            if claimed:
                for snap in snapshots_in("ListSnapshots", reply.message):
                    if snap.snapshot_id in claimed:
                        snap.source_volume_id = claimed[snap.snapshot_id]
            return reply
        req = call.request
        wanted = str(req.source_volume_id)
        key = (str(req.name), wanted)
        with self._lock:
            other = self._by_name.get(key, "")
        if not other:
            other = self._pick(call, wanted)
            if not other:
                call.log(f"no other volume than {wanted}; snapshot unchanged")
                return call.forward()
            with self._lock:
                other = self._by_name.setdefault(key, other)
        req.source_volume_id = other
        call.log(f"snapshotting {other} instead of {wanted} for {req.name!r}")
        reply = call.forward()
        snap = reply.message.snapshot
        snap.source_volume_id = wanted
        with self._lock:
            self._claimed[snap.snapshot_id] = wanted
        return reply

    @staticmethod
    def _pick(call: Call, wanted: str) -> str:
        volumes = list_volumes(call)
        mine = [v for v in volumes if v.volume_id == wanted]
        if not mine:
            return ""  # upstream answers NOT_FOUND for the real request
        access = hostpath.access_types(call.hostpath_state)
        others = [v for v in volumes if v.volume_id != wanted]
        if not others:
            return ""
        best = min(
            others,
            key=lambda v: (access.get(v.volume_id) != access.get(wanted),
                           v.capacity_bytes != mine[0].capacity_bytes, v.volume_id),
        )  # fmt: skip
        return str(best.volume_id)


@fault("restore-corrupt", methods=["CreateVolume"])
class RestoreCorrupt:
    """A restored volume's data differs from the snapshot (bytes flipped).

    Imitates silent data corruption on restore: a copy that truncates or reorders blocks,
    a cache that is not flushed. After CreateVolume from a snapshot returns, the first
    bytes of every file (mount) or of each data extent (block) of the new volume are
    inverted in the hostpath state dir, keeping file times. Needs ``--hostpath-state``;
    without it the restore fails with FAILED_PRECONDITION rather than pass unharmed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._done: set[str] = set()  # a retried CreateVolume must not flip the bytes back

    def __call__(self, call: Call) -> Reply:
        if not source_snapshot_id(call.request):
            return call.forward()
        state = call.hostpath_state
        if state is None:
            call.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                "snapconf interposer: fault restore-corrupt needs --hostpath-state",
            )
        reply = call.forward()
        volume_id = str(reply.message.volume.volume_id)
        with self._lock:
            if volume_id in self._done:
                return reply
            self._done.add(volume_id)
        data = hostpath.volume_data(state, volume_id)
        if data is None:
            call.log(f"no data for volume {volume_id} under {state}/volumes; not corrupted")
            return reply
        changed = hostpath.corrupt_volume(data)
        call.log(f"flipped {changed} bytes in {data}")
        return reply


@fault("clone-shared", methods=["CreateVolume"])
def clone_shared(call: Call) -> Reply:
    """A clone is the source volume itself, not a copy.

    Imitates drivers that implement cloning as a reference to the source (a missing
    copy-on-write step): writes to the clone change the source, and deleting the clone
    deletes the source. No volume is created; the reply carries the source volume's id
    (from ListVolumes upstream) with the requested capacity and content source.
    """
    req = call.request
    wanted = source_volume_id(req)
    if not wanted:
        return call.forward()
    found = [v for v in list_volumes(call) if v.volume_id == wanted]
    if not found:
        return call.forward()  # upstream answers NOT_FOUND
    resp = call.csi.CreateVolumeResponse()
    resp.volume.CopyFrom(found[0])
    resp.volume.capacity_bytes = max(found[0].capacity_bytes, req.capacity_range.required_bytes)
    resp.volume.volume_context.clear()
    resp.volume.volume_context.update(req.parameters)
    resp.volume.content_source.CopyFrom(req.volume_content_source)
    call.log(f"returned source volume {wanted} as the clone {req.name!r}")
    return call.reply(resp)


def _reports(reply: Reply, source: Any) -> Reply:
    """The reply with ``source`` (a ``VolumeContentSource``) as the volume's content source."""
    reply.message.volume.content_source.CopyFrom(source)
    return reply


def _content_source(call: Call) -> Any:
    """A copy of the request's content source, to report back after substituting another."""
    source = call.csi.VolumeContentSource()
    source.CopyFrom(call.request.volume_content_source)
    return source


class _OnePick:
    """One substitute per (request name, asked source), so a retried CreateVolume is the same.

    A driver answers a repeated CreateVolume name with another content source with
    ALREADY_EXISTS, so a fault that swaps the source must swap it the same way on every
    retry, and keep a "leave it unchanged" ("") too.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._picked: dict[tuple[str, str], str] = {}

    def get(self, name: str, asked: str, pick: Callable[[], str]) -> str:
        key = (name, asked)
        with self._lock:
            found = self._picked.get(key)
        if found is None:
            found = pick()  # may call upstream: outside the lock
            with self._lock:
                found = self._picked.setdefault(key, found)
        return found


@fault("clone-from-last-snapshot", methods=["CreateVolume"])
class CloneFromLastSnapshot:
    """A clone of a volume holds the data of the volume's newest snapshot, not its own.

    Imitates drivers that implement cloning as "restore the latest snapshot of the source"
    (a snapshot-based backend without a real clone): the clone's data is stale, whatever
    was written after that snapshot is missing. The reply still names the source volume.
    The snapshot is the newest ready one of the source (ListSnapshots upstream, by
    creation time); with none the clone passes through unchanged (logged), so a suite must
    snapshot the source and then change its data before cloning to see it.
    """

    def __init__(self) -> None:
        self._picks = _OnePick()  # -> the snapshot restored instead, "" none

    def __call__(self, call: Call) -> Reply:
        req = call.request
        wanted = source_volume_id(req)
        if not wanted:
            return call.forward()

        def newest_ready() -> str:
            ready = [s for s in list_snapshots(call, source_volume_id=wanted) if s.ready_to_use]
            return str(_newest(ready).snapshot_id) if ready else ""

        chosen = self._picks.get(str(req.name), wanted, newest_ready)
        if not chosen:
            call.log(f"no ready snapshot of volume {wanted}; clone {req.name!r} unchanged")
            return call.forward()
        asked = _content_source(call)
        req.volume_content_source.snapshot.snapshot_id = chosen  # replaces the volume source
        call.log(f"restoring snapshot {chosen} of {wanted} as the clone {req.name!r}")
        return _reports(call.forward(), asked)


@fault("clone-of-clone-from-origin", methods=["CreateVolume"])
class CloneOfCloneFromOrigin:
    """A clone of a clone holds the data of the first volume in the chain.

    Imitates linked-clone drivers that resolve a clone to its base image: cloning clone B
    of volume A copies A, so whatever B holds that A does not (its own writes) is missing.
    The reply still names B as the source. Only clones made while the fault is on are
    known as clones; when the origin no longer exists upstream (ListVolumes) the clone
    of B passes through unchanged (logged) rather than fail.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._origin: dict[str, str] = {}  # clone's volume id -> the volume its data came from
        self._picks = _OnePick()  # -> the origin cloned instead, "" none

    def __call__(self, call: Call) -> Reply:
        req = call.request
        wanted = source_volume_id(req)
        if not wanted:
            return call.forward()

        def existing_origin() -> str:
            with self._lock:
                origin = self._origin.get(wanted, "")
            if origin and not any(v.volume_id == origin for v in list_volumes(call)):
                call.log(f"origin {origin} of clone {wanted} is gone; {req.name!r} unchanged")
                return ""
            return origin

        origin = self._picks.get(str(req.name), wanted, existing_origin)
        if not origin:
            reply = call.forward()
        else:
            asked = _content_source(call)
            req.volume_content_source.volume.volume_id = origin
            call.log(f"cloning origin {origin} instead of clone {wanted} for {req.name!r}")
            reply = _reports(call.forward(), asked)
        created = str(reply.message.volume.volume_id)
        with self._lock:
            self._origin.setdefault(created, origin or wanted)
        return reply


@fault("restore-from-live-volume", methods=["CreateVolume"])
class RestoreFromLiveVolume:
    """A restore holds the snapshot's source volume as it is now, not as it was.

    Imitates drivers whose snapshot is a lazy reference to the live volume rather than a
    point-in-time copy: a restore clones the source's current data, so writes made after
    the snapshot show up in it. The reply still names the snapshot as the source. The
    source volume comes from ListSnapshots upstream; the restore passes through unchanged
    (logged) when the snapshot or its source volume is unknown, or when the source has
    grown past the requested capacity (hostpath refuses such a clone with OUT_OF_RANGE).
    """

    def __init__(self) -> None:
        self._picks = _OnePick()  # -> the live volume cloned instead, "" none

    def __call__(self, call: Call) -> Reply:
        req = call.request
        wanted = source_snapshot_id(req)
        if not wanted:
            return call.forward()
        live = self._picks.get(str(req.name), wanted, lambda: self._live_source(call, wanted))
        if not live:
            return call.forward()
        asked = _content_source(call)
        req.volume_content_source.volume.volume_id = live  # replaces the snapshot source
        call.log(f"cloning live volume {live} instead of restoring {wanted} for {req.name!r}")
        return _reports(call.forward(), asked)

    @staticmethod
    def _live_source(call: Call, wanted: str) -> str:
        found = list_snapshots(call, snapshot_id=wanted)
        source = str(found[0].source_volume_id) if found else ""
        if not source:
            call.log(f"snapshot {wanted} or its source is unknown; restore unchanged")
            return ""
        volumes = [v for v in list_volumes(call) if v.volume_id == source]
        if not volumes:
            call.log(f"source volume {source} of {wanted} is gone; restore unchanged")
            return ""
        asked = call.request.capacity_range.required_bytes or (
            call.request.capacity_range.limit_bytes
        )
        if asked and volumes[0].capacity_bytes > asked:
            call.log(f"source volume {source} outgrew the restore's {asked} bytes; unchanged")
            return ""
        return source


@fault("group-members-swapped", methods=["CreateVolumeGroupSnapshot", "GetVolumeGroupSnapshot"])
def group_members_swapped(call: Call) -> Reply:
    """A group snapshot reports each member snapshot under another member's volume.

    Imitates drivers that pair the backend's member snapshots with the requested volumes
    by position, after a backend call that returns them in its own order: every member
    is a good snapshot, but of the wrong volume, so the member VolumeSnapshot of claim A
    restores claim B's data. The pairing is rotated the same way in every reply (sorted
    by volume), so Create and Get agree and a retried Create is still idempotent.
    """
    reply = call.forward()
    members = sorted(reply.message.group_snapshot.snapshots, key=lambda s: s.source_volume_id)
    if len(members) < 2:
        return reply
    sources = [str(m.source_volume_id) for m in members]
    for member, source in zip(members, sources[1:] + sources[:1], strict=True):
        member.source_volume_id = source
    call.log(
        f"rotated the source volumes of group {reply.message.group_snapshot.group_snapshot_id}"
    )
    return reply


def _last_member(group_snapshot: Any) -> Any:
    """The member of the highest source volume id: one fixed pick, the same in every reply."""
    members = list(group_snapshot.snapshots)
    return max(members, key=lambda s: str(s.source_volume_id)) if len(members) >= 2 else None


@fault("group-member-missing", methods=["CreateVolumeGroupSnapshot", "GetVolumeGroupSnapshot"])
def group_member_missing(call: Call) -> Reply:
    """A group snapshot's reply leaves one member snapshot out.

    Imitates drivers that build the reply from a backend listing that has not caught up
    yet, or that drop a member whose cut failed while still calling the group ready: the
    backend holds a snapshot of every volume, Kubernetes hears of all but one, and the
    claim left out gets no member VolumeSnapshot. The same member (highest volume id) is
    left out of every reply, so Create and Get agree.
    """
    reply = call.forward()
    group = reply.message.group_snapshot
    dropped = _last_member(group)
    if dropped is None:
        return reply
    kept = [m for m in group.snapshots if m is not dropped]
    volume = str(dropped.source_volume_id)
    del group.snapshots[:]
    group.snapshots.extend(kept)
    call.log(f"left the member of volume {volume} out of group {group.group_snapshot_id}")
    return reply


@fault("group-member-cut-late", methods=["CreateVolumeGroupSnapshot", "CreateVolume"])
class GroupMemberCutLate(RestoreFromLiveVolume):
    """One member of a group is cut after the others, when later writes have landed.

    Imitates drivers that cut a group's members one by one without holding writes to all
    of them, or that call the group ready before the backend has cut its last member: that
    member's snapshot holds its volume's data of some later moment. Here the member of
    the highest volume id of each group created while the fault is on is cut at the last
    possible moment: a restore of its snapshot holds the volume's data at restore time
    (every other member, and every snapshot outside a group, restores as it should).
    """

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._late: set[str] = set()  # snapshot ids of the members cut late

    def __call__(self, call: Call) -> Reply:
        if call.method.name != "CreateVolumeGroupSnapshot":
            return super().__call__(call)
        reply = call.forward()
        late = _last_member(reply.message.group_snapshot)
        if late is not None:
            with self._lock:
                self._late.add(str(late.snapshot_id))
            call.log(f"member {late.snapshot_id} of volume {late.source_volume_id} is cut late")
        return reply

    def _live_source(self, call: Call, wanted: str) -> str:  # type: ignore[override]
        with self._lock:
            late = wanted in self._late
        if not late:
            call.log(f"snapshot {wanted} is no member cut late; restore unchanged")
            return ""
        return RestoreFromLiveVolume._live_source(call, wanted)


@fault("delete-snapshot-noop", methods=["DeleteSnapshot"])
def delete_snapshot_noop(call: Call) -> Reply:
    """DeleteSnapshot reports success and deletes nothing.

    Imitates drivers that return OK while the backend deletion is queued and lost (or
    never issued): the VolumeSnapshotContent goes away, the backend snapshot leaks and is
    still listed by ListSnapshots.
    """
    return call.reply(call.csi.DeleteSnapshotResponse())


@fault("delete-group-noop", methods=["DeleteVolumeGroupSnapshot"])
def delete_group_noop(call: Call) -> Reply:
    """DeleteVolumeGroupSnapshot reports success and deletes nothing.

    Imitates drivers that drop the group record but never delete its member snapshots on
    the backend: the group content and the member contents go away, every member's
    backend snapshot leaks and can still be imported and restored.
    """
    call.log(f"kept group snapshot {call.request.group_snapshot_id}: reported deleted")
    return call.reply(call.csi.DeleteVolumeGroupSnapshotResponse())


@fault("delete-volume-noop", methods=["DeleteVolume"])
def delete_volume_noop(call: Call) -> Reply:
    """DeleteVolume reports success and deletes nothing.

    Imitates drivers whose DeleteVolume returns OK while the backend deletion is lost: the
    PV of a Delete-reclaim PVC goes away, the backend volume leaks, is still listed by
    ListVolumes and can still be mounted through a static PV naming its handle.
    """
    call.log(f"kept volume {call.request.volume_id}: reported deleted, deleted nothing")
    return call.reply(call.csi.DeleteVolumeResponse())


@fault("never-ready", methods=sorted(SNAPSHOT_RESPONSES))
def never_ready(call: Call) -> Reply:
    """Snapshots never become ready to use.

    Imitates drivers whose post-processing (upload, consistency check) never finishes or
    whose status polling is broken: ``ready_to_use`` stays false in CreateSnapshot,
    ListSnapshots and GetSnapshot replies, so VolumeSnapshots stay readyToUse=false.
    """
    reply = call.forward()
    for snap in snapshots_in(call.method.name, reply.message):
        snap.ready_to_use = False
    return reply


@fault("restore-size-zero", methods=sorted(SNAPSHOT_RESPONSES))
def restore_size_zero(call: Call) -> Reply:
    """Snapshots report size 0.

    Imitates drivers that leave ``size_bytes`` unset, so VolumeSnapshot.status.restoreSize
    is 0 and users cannot size a restore from it.
    """
    reply = call.forward()
    for snap in snapshots_in(call.method.name, reply.message):
        snap.size_bytes = 0
    return reply


@fault("restore-size-short", methods=sorted(SNAPSHOT_RESPONSES))
def restore_size_short(call: Call) -> Reply:
    """Snapshots report half their real size.

    Imitates drivers that report used bytes, or a unit mix-up, instead of the source
    volume's size: a restore sized by VolumeSnapshot.status.restoreSize is smaller than the
    data and fails (or truncates it).
    """
    reply = call.forward()
    for snap in snapshots_in(call.method.name, reply.message):
        snap.size_bytes //= 2
    return reply


SHIFT_SECONDS = 3600
"""How far ``snapshot-time-shifted`` moves creation times: one time zone hour."""


@fault("snapshot-time-unset", methods=sorted(SNAPSHOT_RESPONSES))
def snapshot_time_unset(call: Call) -> Reply:
    """Snapshots report no creation time.

    Imitates drivers that leave ``creation_time`` empty in CreateSnapshot, ListSnapshots
    and GetSnapshot replies: the snapshotter reads the missing timestamp as the Unix
    epoch, so Kubernetes shows creationTime 1970-01-01T00:00:00Z.
    """
    reply = call.forward()
    cleared = [
        s for s in snapshots_in(call.method.name, reply.message) if s.HasField("creation_time")
    ]
    for snap in cleared:
        snap.ClearField("creation_time")
    if cleared:
        call.log(f"cleared creation_time of {', '.join(s.snapshot_id for s in cleared)}")
    return reply


@fault("snapshot-time-shifted", methods=sorted(SNAPSHOT_RESPONSES))
def snapshot_time_shifted(call: Call) -> Reply:
    """Snapshots report a creation time an hour in the future.

    Imitates a backend that reports its local time as UTC (a driver that drops the zone
    when it converts): ``creation_time`` in CreateSnapshot, ListSnapshots and GetSnapshot
    replies is 3600 s ahead of the real time, so a fresh snapshot's creationTime lies in
    the future. An unset creation time stays unset.
    """
    reply = call.forward()
    shifted = [
        s for s in snapshots_in(call.method.name, reply.message) if s.HasField("creation_time")
    ]
    for snap in shifted:
        snap.creation_time.seconds += SHIFT_SECONDS
    if shifted:
        call.log(
            f"moved creation_time of {', '.join(s.snapshot_id for s in shifted)} "
            f"{SHIFT_SECONDS} s ahead"
        )
    return reply


@fault("list-snapshots-size-short", methods=["ListSnapshots", "GetSnapshot"])
def list_snapshots_size_short(call: Call) -> Reply:
    """ListSnapshots and GetSnapshot report half a snapshot's size; CreateSnapshot is right.

    Imitates a driver whose listing reports another size than its CreateSnapshot reply
    (used bytes, a unit mix-up in a second code path): dynamically created snapshots look
    right, but a pre-provisioned (imported) snapshot's content gets a restoreSize too
    small to restore it into. (A size of 0, "unknown" in CSI, would be allowed.)
    """
    reply = call.forward()
    for snap in snapshots_in(call.method.name, reply.message):
        snap.size_bytes //= 2
        call.log(f"listed size {snap.size_bytes} for {snap.snapshot_id} (half)")
    return reply


@fault("list-snapshots-ignores-id", methods=["ListSnapshots"])
def list_snapshots_ignores_id(call: Call) -> Reply:
    """ListSnapshots ignores its ``snapshot_id`` filter.

    Imitates drivers that list every snapshot whatever the filter: the snapshotter takes
    the first entry as the snapshot it asked about, so a bogus or deleted snapshotHandle
    of a pre-provisioned content appears to exist and becomes ready (with another
    snapshot's status) whenever any snapshot exists upstream. The entry with the asked id,
    if listed, comes first; otherwise the unfiltered page is returned as upstream sent it.
    """
    req = call.request
    wanted = str(req.snapshot_id)
    if not wanted:
        return call.forward()
    unfiltered = call.csi.ListSnapshotsRequest()
    unfiltered.CopyFrom(req)
    unfiltered.ClearField("snapshot_id")
    call.request = unfiltered
    try:
        reply = call.forward()
    finally:
        call.request = req
    entries = reply.message.entries
    ordered = sorted(entries, key=lambda e: e.snapshot.snapshot_id != wanted)  # stable
    copies = []
    for entry in ordered:
        copy = call.csi.ListSnapshotsResponse.Entry()
        copy.CopyFrom(entry)
        copies.append(copy)
    del entries[:]
    entries.extend(copies)
    found = bool(copies) and copies[0].snapshot.snapshot_id == wanted
    call.log(
        f"ignored snapshot_id {wanted!r}: returned {len(copies)} entries, "
        f"{'the asked one first' if found else 'none of them the asked one'}"
    )
    return reply


@fault("capacity-short", methods=["CreateVolume"])
def capacity_short(call: Call) -> Reply:
    """CreateVolume reports half the capacity asked for.

    Imitates drivers that round down to their allocation unit or report a filesystem's
    usable size: the PV is smaller than the PVC's request. The asked size is
    ``capacity_range.required_bytes`` (else ``limit_bytes``, else what upstream gave).
    """
    asked = call.request.capacity_range.required_bytes or call.request.capacity_range.limit_bytes
    reply = call.forward()
    vol = reply.message.volume
    given = vol.capacity_bytes
    vol.capacity_bytes = min(given, asked or given) // 2
    call.log(f"reported {vol.capacity_bytes} bytes for {vol.volume_id} (asked {asked})")
    return reply


@fault("restore-larger-ignored", methods=["CreateVolume"])
def restore_larger_ignored(call: Call) -> Reply:
    """A restore to a larger size gets the snapshot's size.

    Imitates drivers that copy the snapshot's volume as is and never grow it: a PVC that
    asks for more than restoreSize gets a volume (and a PV capacity) of the snapshot's
    size. The snapshot's size comes from ListSnapshots upstream.
    """
    req = call.request
    wanted = source_snapshot_id(req)
    required = req.capacity_range.required_bytes
    if not wanted or not required:
        return call.forward()
    found = list_snapshots(call, snapshot_id=wanted)
    size = found[0].size_bytes if found else 0
    if not size or required <= size:
        return call.forward()
    req.capacity_range.required_bytes = size
    call.log(f"restoring {wanted} at {size} bytes instead of {required}")
    return call.forward()


@fault("transient-unavailable")
class TransientUnavailable:
    """Each method fails with UNAVAILABLE for a short outage after its first call.

    Imitates a driver that restarts or loses its backend connection now and then: callers
    must retry. The outage is in time, as a real one is: calls of a method in the first
    ``OUTAGE`` seconds after its first call fail (at most ``FAILURES`` of them), later
    ones pass. Counts start when the fault is switched on; every unary method counts
    separately (Identity calls too). A count alone (3 failures, however spread) made a
    driver with NodeStage fail 6 node calls in a row, which kubelet's per-volume backoff
    (0.5 s doubling) turned into minutes: a harsher outage than the fault claims.
    """

    FAILURES: ClassVar[int] = 3
    OUTAGE: ClassVar[float] = 5.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._first: dict[str, float] = {}
        self._clock = clock

    def __call__(self, call: Call) -> Reply:
        now = self._clock()
        with self._lock:
            first = self._first.setdefault(call.method.name, now)
            self._calls[call.method.name] += 1
            n = self._calls[call.method.name]
        if n <= self.FAILURES and now - first < self.OUTAGE:
            call.abort(
                grpc.StatusCode.UNAVAILABLE,
                f"snapconf interposer: transient failure {n}/{self.FAILURES}",
            )
        return call.forward()


class _Slow:
    """Forwards at once, then holds the reply until ``SECONDS`` have passed.

    The upstream plugin acts when the call arrives (a snapshot is cut then, not later), as a
    slow real driver would; only the answer is late. The wait ends early if the caller
    gives up. Subclasses are the registered faults.
    """

    SECONDS: ClassVar[float] = 0.0

    def __call__(self, call: Call) -> Reply:
        started = time.monotonic()
        reply = call.forward()
        left = self.SECONDS - (time.monotonic() - started)
        if left > 0 and not call.sleep(left):
            call.log("caller gave up while the reply was held")
        return reply


@fault("slow-snapshot", methods=["CreateSnapshot"])
class SlowSnapshot(_Slow):
    """CreateSnapshot takes 20 s.

    Imitates drivers whose snapshot call blocks on the backend (a flush, a copy): the
    VolumeSnapshot stays not ready and its source PVC stays protected meanwhile.
    """

    SECONDS = 20.0


@fault("slow-provision", methods=["CreateVolume"])
class SlowProvision(_Slow):
    """CreateVolume takes 15 s.

    Imitates drivers with slow provisioning (allocation, restore copy): PVCs stay Pending
    for a while and waits must be patient rather than fail.
    """

    SECONDS = 15.0
