"""What the harness makes on a cluster, and leaving nothing of it behind.

Why it exists: a conformance run creates namespaces, claims, snapshots and classes on a
vendor's cluster, often a shared one. Every object it creates carries the run label
(``snapconf.io/run=<run-id>``) and the worker label; the :class:`Tracker` registers each
one before handing it back and deletes them in dependency order after the test, flipping
Retain policies to Delete so no backend volume or snapshot outlives the run;
:func:`leak_check` lists what is left; :func:`sweep` removes what earlier runs left.

Must not: delete anything that does not carry the run label, except the objects the
harness's own objects made and point at (the PV provisioned for a tracked claim, the
content bound to a tracked snapshot, the group content bound to a tracked group snapshot,
the member snapshots the snapshot-controller makes in a run's namespace), which cannot
carry the label.
"""

from __future__ import annotations

import copy
import logging
import math
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Final, NamedTuple

from conformance import kube as kube_mod
from conformance.kube import (
    GROUP_SNAPSHOT_KINDS,
    KINDS,
    Conflict,
    ConnectionLost,
    Forbidden,
    Kind,
    KubeAPI,
    KubeError,
    NotFound,
    Obj,
    dig,
    kind_of,
    lookup,
)
from conformance.waits import Waiter, WaitTimeout

log = logging.getLogger(__name__)

RUN_LABEL: Final = kube_mod.RUN_LABEL
"""Label on everything a run creates; the value is the run id."""
WORKER_LABEL: Final = "snapconf.io/worker"
"""Label naming the xdist worker (``gw0``...) or ``main``."""

PROVISIONED_BY = "pv.kubernetes.io/provisioned-by"
_RUN_ID = re.compile(r"^sc-\d{8}-\d{6}-[0-9a-f]{4}$")
_DNS_LABEL_MAX = 63
_RANDOM_HEX = 4


# ---------------------------------------------------------------- names


def new_run_id(now: datetime | None = None) -> str:
    """A fresh run id: ``sc-YYYYMMDD-HHMMSS-xxxx`` (UTC time, 4 random hex digits)."""
    when = now or datetime.now(UTC)
    return f"sc-{when:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def validate_run_id(run_id: str) -> str:
    """Return ``run_id`` when it has the run id format.

    Raises:
        ValueError: it does not (the message shows the expected form).
    """
    if not _RUN_ID.match(run_id):
        raise ValueError(f"invalid run id {run_id!r}: expected sc-YYYYMMDD-HHMMSS-xxxx (hex x)")
    return run_id


def _dns_part(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def namespace_name(run_id: str, worker: str, suffix: str = "", prefix: str = "") -> str:
    """A namespace name ``[<prefix>-]<run-id>-<worker>[-<suffix>]-<random>``: a DNS label.

    The random tail makes every name unique; ``suffix`` (and then ``worker``) is cut
    short when the whole would exceed 63 characters. Holding the run id is what lets
    :func:`leak_check` find the run's namespaces from names alone; ``prefix`` (a DNS
    label, checked by the caller) is for clusters that only allow names of a pattern.
    """
    run = _dns_part(run_id)
    tail = secrets.token_hex(_RANDOM_HEX // 2)
    head = f"{prefix}-" if prefix else ""
    room = _DNS_LABEL_MAX - len(head) - len(run) - len(tail) - 2
    if room < 0:
        raise ValueError(f"run id {run_id!r} is too long for a namespace name")
    middle = "-".join(p for p in (_dns_part(worker), _dns_part(suffix)) if p)
    middle = middle[:room].strip("-")
    return head + "-".join(p for p in (run, middle, tail) if p)


# ---------------------------------------------------------------- references


class Ref(NamedTuple):
    """One object: its kind name, name and namespace (None when cluster-scoped)."""

    kind: str
    name: str
    namespace: str | None

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )


def _ref(kind: Kind | str, name: str, namespace: str | None) -> Ref:
    k = lookup(kind)
    return Ref(k.kind, name, namespace if k.namespaced else None)


def _ref_of(obj: Obj) -> Ref:
    meta = obj.get("metadata") or {}
    return _ref(kind_of(obj), str(meta.get("name")), meta.get("namespace"))


def _slug(ref: Ref) -> str:
    return f"{ref.kind}/{ref.namespace}/{ref.name}" if ref.namespace else f"{ref.kind}/{ref.name}"


def _may_have_been_created(exc: BaseException) -> bool:
    """Whether the server may hold the object although create raised ``exc``."""
    if isinstance(exc, ConnectionLost):
        return True
    if isinstance(exc, KubeError):
        return exc.status is not None and exc.status >= 500
    # A client-side refusal never reached the server; anything else (an interrupt in the
    # middle of the request) might have.
    return not isinstance(exc, (ValueError, TypeError, KeyError))


# ---------------------------------------------------------------- ordered deletion

_RESTORE = "restore"
_ORDER = (
    "Pod",
    _RESTORE,  # PVCs with a dataSource: restores and clones hold their sources
    # A group snapshot goes before its members: the snapshot-controller refuses to delete
    # a member VolumeSnapshot while its group exists, and deletes the members itself.
    "VolumeGroupSnapshot",
    "VolumeSnapshot",
    # A group content goes before the members' contents: its DeleteVolumeGroupSnapshot
    # removes the member snapshots from the backend (a member content never calls
    # DeleteSnapshot; a driver refuses DeleteSnapshot of a member while its group lives).
    "VolumeGroupSnapshotContent",
    "VolumeSnapshotContent",
    "PersistentVolumeClaim",
    "PersistentVolume",
    "",  # every other kind
    "VolumeSnapshotClass",  # and VolumeGroupSnapshotClass (_SAME_STAGE)
    "StorageClass",
    "CustomResourceDefinition",
    "Namespace",
)
#: Kinds deleted (and awaited) in the stage of another kind.
_SAME_STAGE = {"VolumeGroupSnapshotClass": "VolumeSnapshotClass"}
#: Kinds whose objects carry a ``spec.deletionPolicy`` that cleanup flips Retain -> Delete.
_DELETION_POLICY_KINDS = ("VolumeSnapshotContent", "VolumeGroupSnapshotContent")
#: Snapshot kinds the controllers hold with finalizers (``cleanup --force`` releases them).
_SNAPSHOT_KINDS = (
    "VolumeSnapshot",
    "VolumeSnapshotContent",
    "VolumeGroupSnapshot",
    "VolumeGroupSnapshotContent",
)


def _group(ref: Ref, body: Obj | None) -> int:
    key = _SAME_STAGE.get(ref.kind, ref.kind)
    if key == "PersistentVolumeClaim" and (
        dig(body, "spec", "dataSource") or dig(body, "spec", "dataSourceRef")
    ):
        key = _RESTORE
    return _ORDER.index(key) if key in _ORDER else _ORDER.index("")


def _retained(ref: Ref, body: Obj | None) -> bool:
    if ref.kind == "PersistentVolume":
        return bool(dig(body, "spec", "persistentVolumeReclaimPolicy") == "Retain")
    if ref.kind in _DELETION_POLICY_KINDS:
        return bool(dig(body, "spec", "deletionPolicy") == "Retain")
    return False


def _to_delete_patch(ref: Ref) -> Obj:
    if ref.kind == "PersistentVolume":
        return {"spec": {"persistentVolumeReclaimPolicy": "Delete"}}
    return {"spec": {"deletionPolicy": "Delete"}}


def _provisioned_for(pv: Obj, claim: Obj, run_id: str | None) -> bool:
    """Whether ``pv`` was made for ``claim`` (not a stranger's PV the controller bound).

    A PVC may bind to any Available PV that fits; only a PV a provisioner made for this
    very claim (or one carrying the run in its label or name) is ours to delete.
    """
    labels = dig(pv, "metadata", "labels") or {}
    if run_id and (labels.get(RUN_LABEL) == run_id or run_id in str(dig(pv, "metadata", "name"))):
        return True
    claim_uid = dig(claim, "metadata", "uid")
    bound_to = dig(pv, "spec", "claimRef", "uid")
    annotations = dig(pv, "metadata", "annotations") or {}
    return bool(claim_uid) and bound_to == claim_uid and PROVISIONED_BY in annotations


def _bound_to(content: Obj, snapshot: Obj, ref_field: str = "volumeSnapshotRef") -> bool:
    """Whether ``content`` points back at ``snapshot`` (``volumeGroupSnapshotRef`` for groups)."""
    ref = dig(content, "spec", ref_field) or {}
    meta = snapshot.get("metadata") or {}
    if ref.get("name") != meta.get("name") or ref.get("namespace") != meta.get("namespace"):
        return False
    return not ref.get("uid") or not meta.get("uid") or bool(ref.get("uid") == meta.get("uid"))


#: Bound content kind, the status field naming it, the content's field naming its snapshot.
_BINDING = {
    "VolumeSnapshot": (
        "VolumeSnapshotContent", "boundVolumeSnapshotContentName", "volumeSnapshotRef",
    ),
    "VolumeGroupSnapshot": (
        "VolumeGroupSnapshotContent", "boundVolumeGroupSnapshotContentName",
        "volumeGroupSnapshotRef",
    ),
}  # fmt: skip


#: How long cleanup lets controllers release an object a test broke on purpose. The
#: objects concerned are ones the controllers never release (a content whose ref never
#: matched, one of a driver nobody serves); the grace only lets a controller that does
#: release them show it, which takes about a second, so 5 s (15 s until 2026-12).
BROKEN_GRACE = 5.0

PROVISIONER_SNAPSHOT_FINALIZER: Final = (
    "provisioner.storage.kubernetes.io/volumesnapshot-as-source-protection"
)
"""The external-provisioner's hold on a snapshot a restore is being provisioned from."""
#: How long cleanup lets the external-provisioner remove its own finalizer first.
PROVISIONER_GRACE = 2.0
ORPHANED_PROVISIONER_FINALIZER = (
    "cleanup released {ref} from the external-provisioner's finalizer "
    f"{PROVISIONER_SNAPSHOT_FINALIZER}, still there after every restore from it was "
    "provisioned or deleted: the provisioner removes it only after a successful "
    "provisioning, with one unretried update that is lost when the snapshot is updated in "
    "the same instant (a conflict), and never for a restore it refused that was then "
    "deleted; its orphan sweep runs only every few minutes (external-provisioner v6.3, "
    "v6.4). A controller behaviour, not the driver's."
)


def _writers(obj: Obj | None) -> str:
    """Who last wrote the object, from its managedFields: the evidence of a collision."""
    entries = dig(obj, "metadata", "managedFields") or []
    ordered = sorted((e for e in entries if isinstance(e, dict)), key=lambda e: str(e.get("time")))
    said = [
        f"{e.get('manager')} {e.get('operation')} {e.get('time')}"
        + (f" ({e['subresource']})" if e.get("subresource") else "")
        for e in ordered
    ]
    return f" Its writers, last change of each (managedFields): {'; '.join(said)}." if said else ""


def _held_only_by_provisioner(obj: Obj | None) -> bool:
    """Being deleted, and nothing but the provisioner's finalizer keeps it."""
    meta = (obj or {}).get("metadata") or {}
    return bool(meta.get("deletionTimestamp")) and (meta.get("finalizers") or []) == [
        PROVISIONER_SNAPSHOT_FINALIZER
    ]


def _restore_pending(kube: KubeAPI, namespace: str, snapshot: str) -> bool:
    """A PVC in the namespace is still being restored from the snapshot (not yet Bound)."""
    try:
        claims, _ = kube.list("PersistentVolumeClaim", namespace)
    except KubeError:
        return True  # cannot tell: leave it to the provisioner
    for claim in claims:
        source = dig(claim, "spec", "dataSourceRef") or dig(claim, "spec", "dataSource") or {}
        if (
            source.get("kind") == "VolumeSnapshot"
            and source.get("name") == snapshot
            and source.get("namespace", namespace) == namespace
            and dig(claim, "status", "phase") == "Pending"
        ):
            return True
    return False


def wait_snapshot_gone(
    kube: KubeAPI, waiter: Waiter, name: str, namespace: str, *, timeout: float, op: str
) -> str | None:
    """Wait until a deleted VolumeSnapshot is gone, taking over one upstream stall.

    The snapshot goes, or ends up held only by the external-provisioner's finalizer
    (:data:`PROVISIONER_SNAPSHOT_FINALIZER`). Then, if no PVC in its namespace still waits
    to be restored from it, the provisioner gets :data:`PROVISIONER_GRACE` to remove it
    itself; after that this removes it (a patch guarded by the resourceVersion, tried
    again once on a conflict) and returns the note that says so, naming the component
    and the snapshot's last writers. None when nothing had to be taken over.

    Raises:
        WaitTimeout: the snapshot is still there after ``timeout`` seconds.
        KubeError: the cluster could not be read or written.
    """
    deadline = time.monotonic() + timeout
    held = waiter.until(
        "VolumeSnapshot", name, namespace, lambda o: o is None or _held_only_by_provisioner(o),
        timeout=timeout, op=op, describe=f"VolumeSnapshot {namespace}/{name} to be deleted",
    )  # fmt: skip
    if held is None:
        return None
    ref = _ref("VolumeSnapshot", name, namespace)
    if _restore_pending(kube, namespace, name):  # the provisioner still needs it: no grace
        left = max(0.0, deadline - time.monotonic())
        waiter.gone("VolumeSnapshot", name, namespace, timeout=left, op=op)
        return None
    taken = _take_over(
        kube, waiter, ref, grace=PROVISIONER_GRACE, stuck=_held_only_by_provisioner,
        change={"finalizers": None}, deadline=deadline, op=op,
    )  # fmt: skip
    if taken is None:
        return None
    return ORPHANED_PROVISIONER_FINALIZER.format(ref=ref) + _writers(taken)


GROUP_CONTENT_FINALIZER: Final = (
    "groupsnapshot.storage.kubernetes.io/volumegroupsnapshotcontent-bound-protection"
)
"""The snapshot-controller's hold on a group content bound to a VolumeGroupSnapshot."""
GROUP_BEING_DELETED: Final = "groupsnapshot.storage.kubernetes.io/volumegroupsnapshot-being-deleted"
"""The annotation by which the snapshot-controller hands a group content to csi-snapshotter."""
#: How long cleanup lets the snapshot-controller annotate a group content itself.
GROUP_HANDOVER_GRACE = 2.0
ORPHANED_GROUP_CONTENT = (
    "cleanup set {annotation} on {ref}: its VolumeGroupSnapshot was deleted before the "
    "snapshot-controller's cache showed the two bound, and the controller then neither "
    "annotated the content (csi-snapshotter deletes a group content, and removes {finalizer}, "
    "only once that annotation is there) nor looks at it again; external-snapshotter v8.7 "
    "looks the content up by the group's status only (its fallback to the group's spec "
    "compares a field's address with nil). csi-snapshotter then deleted it as usual. A "
    "controller behaviour, not the driver's."
)


def _group_handover_missed(kube: KubeAPI, obj: Obj | None) -> bool:
    """A group content being deleted that the controller will never hand to the sidecar.

    Held by :data:`GROUP_CONTENT_FINALIZER` alone, without :data:`GROUP_BEING_DELETED`,
    and the VolumeGroupSnapshot it names (by uid) is gone: nothing will ever annotate it.
    """
    meta = (obj or {}).get("metadata") or {}
    if not meta.get("deletionTimestamp") or (meta.get("finalizers") or []) != [
        GROUP_CONTENT_FINALIZER
    ]:
        return False
    if GROUP_BEING_DELETED in (meta.get("annotations") or {}):
        return False
    ref = dig(obj, "spec", "volumeGroupSnapshotRef") or {}
    if not ref.get("name") or not ref.get("namespace"):
        return False
    group = kube.get_or_none("VolumeGroupSnapshot", str(ref["name"]), str(ref["namespace"]))
    return group is None or dig(group, "metadata", "uid") != ref.get("uid")


def wait_group_content_gone(
    kube: KubeAPI, waiter: Waiter, name: str, *, timeout: float, op: str
) -> str | None:
    """Wait until a deleted VolumeGroupSnapshotContent is gone, taking over one upstream stall.

    When its group went before the snapshot-controller saw the binding, the controller
    never sets :data:`GROUP_BEING_DELETED`, and csi-snapshotter never deletes the content:
    it would stay forever. After :data:`GROUP_HANDOVER_GRACE` this sets the annotation the
    controller should have set (guarded by the resourceVersion), so that csi-snapshotter
    still makes the driver's DeleteVolumeGroupSnapshot call and removes its finalizer, and
    returns the note that says so. None when nothing had to be taken over.

    Raises:
        WaitTimeout: the content is still there after ``timeout`` seconds.
        KubeError: the cluster could not be read or written.
    """
    ref = _ref("VolumeGroupSnapshotContent", name, None)
    taken = _take_over(
        kube, waiter, ref, grace=GROUP_HANDOVER_GRACE,
        stuck=lambda obj: _group_handover_missed(kube, obj),
        change={"annotations": {GROUP_BEING_DELETED: "yes"}},
        deadline=time.monotonic() + timeout, op=op,
    )  # fmt: skip
    if taken is None:
        return None
    note = ORPHANED_GROUP_CONTENT.format(
        annotation=GROUP_BEING_DELETED, ref=ref, finalizer=GROUP_CONTENT_FINALIZER
    )
    return note + _writers(taken)


def _take_over(
    kube: KubeAPI,
    waiter: Waiter,
    ref: Ref,
    *,
    grace: float,
    stuck: Callable[[Obj | None], bool],
    change: Obj,
    deadline: float,
    op: str,
) -> Obj | None:
    """Let a component release a deleted object for ``grace`` s, else do its part, then wait.

    While the object is ``stuck``, ``change`` is merged into its metadata, guarded by its
    resourceVersion (tried once more on a conflict). Returns the object as it was before
    the change, or None when nothing was taken over (it went, or stopped being stuck).

    Raises:
        WaitTimeout: the object is still there at ``deadline`` (``time.monotonic()``).
        KubeError: the cluster could not be read or written.
    """

    def gone(within: float) -> None:
        waiter.gone(
            ref.kind, ref.name, ref.namespace, op=op,
            timeout=max(0.0, min(within, deadline - time.monotonic())),
        )  # fmt: skip

    try:
        gone(grace)
        return None
    except WaitTimeout:
        pass
    for _attempt in range(2):
        held = kube.get_or_none(ref.kind, ref.name, ref.namespace)
        if not stuck(held):
            break
        version = dig(held, "metadata", "resourceVersion")
        try:
            kube.patch(
                ref.kind, ref.name, ref.namespace,
                {"metadata": {**change, "resourceVersion": version}},
            )  # fmt: skip
        except NotFound:
            return None
        except Conflict:
            continue
        gone(math.inf)
        return held
    gone(math.inf)
    return None


class _Deleter:
    """Deletes a set of objects in dependency order and waits for each group to go."""

    def __init__(
        self,
        kube: KubeAPI,
        waiter: Waiter,
        *,
        run_id: str | None,
        deadline: float,
        keep_retained: bool,
        clock: Callable[[], float] = time.monotonic,
        broken: set[Ref] | None = None,
        force: bool = False,
        await_namespaces: bool = True,
    ) -> None:
        self.broken = set(broken or ())
        self.force = force
        self.await_namespaces = await_namespaces
        self.kube = kube
        self.waiter = waiter
        self.run_id = run_id
        self.deadline = deadline
        self.keep_retained = keep_retained
        self.clock = clock
        self.bodies: dict[Ref, Obj] = {}
        self.refs: dict[Ref, None] = {}
        self.gone: set[Ref] = set()
        self.kept: set[Ref] = set()
        self.errors: list[str] = []
        self.notes: list[str] = []

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock())

    def error(self, ref: Ref, message: str) -> None:
        self.errors.append(f"{ref}: {message}")

    def add(self, ref: Ref, body: Obj | None = None) -> bool:
        """Take ``ref`` in (reading it unless ``body`` is given); False when it is gone."""
        if ref in self.refs or ref in self.gone:
            return ref in self.refs
        if body is None:
            try:
                body = self.kube.get_or_none(ref.kind, ref.name, ref.namespace)
            except KubeError as err:
                log.debug("cleanup: cannot read %s: %s", ref, err)
                self.refs[ref] = None  # unreadable: still try to delete it
                return True
            if body is None:
                self.gone.add(ref)
                return False
        self.refs[ref] = None
        self.bodies[ref] = body
        return True

    def discover(self) -> None:
        """Add what tracked objects imply: the contents of namespaces, bound PVs/contents."""
        work = list(self.refs)
        while work:
            ref = work.pop(0)
            body = self.bodies.get(ref)
            found: list[tuple[Ref, Obj | None]] = []
            if ref.kind == "Namespace":
                kinds = ("Pod", "PersistentVolumeClaim", "VolumeGroupSnapshot", "VolumeSnapshot")
                for kind in kinds:
                    try:
                        items, _ = self.kube.list(kind, ref.name)
                    except NotFound:
                        continue  # snapshot CRDs not installed
                    except KubeError as err:
                        if isinstance(err, Forbidden) and kind in GROUP_SNAPSHOT_KINDS:
                            continue  # optional rules: an identity without them made none
                        self.error(ref, f"cannot list its {kind}s: {err}")
                        continue
                    found.extend((_ref_of({**item, "kind": kind}), item) for item in items)
            elif ref.kind == "PersistentVolumeClaim" and body is not None:
                volume = dig(body, "spec", "volumeName")
                if volume:
                    pv_ref = _ref("PersistentVolume", volume, None)
                    pv = self.bodies.get(pv_ref) or self._read(pv_ref)
                    if pv is not None and _provisioned_for(pv, body, self.run_id):
                        found.append((pv_ref, pv))
            elif ref.kind in _BINDING and body is not None:
                content_kind, status_field, ref_field = _BINDING[ref.kind]
                content = dig(body, "status", status_field)
                if content:
                    vsc_ref = _ref(content_kind, content, None)
                    vsc = self.bodies.get(vsc_ref) or self._read(vsc_ref)
                    if vsc is not None and _bound_to(vsc, body, ref_field):
                        found.append((vsc_ref, vsc))
                        if ref in self.broken:
                            self.broken.add(vsc_ref)  # made for a broken snapshot
            for new_ref, new_body in found:
                if new_ref not in self.refs and self.add(new_ref, new_body):
                    work.append(new_ref)

    def _read(self, ref: Ref) -> Obj | None:
        try:
            return self.kube.get_or_none(ref.kind, ref.name, ref.namespace)
        except KubeError as err:
            log.debug("cleanup: cannot read %s: %s", ref, err)
            return None

    def flip_retained(self) -> None:
        """Retain -> Delete on PVs and contents, so deleting them frees the backend too."""
        for ref in list(self.refs):
            if ref in self.broken or not _retained(ref, self.bodies.get(ref)):
                continue  # a broken content's handle, if any, belongs to another object
            if self.keep_retained:
                log.info("cleanup: keeping %s (Retain policy, keep_retained)", ref)
                self.kept.add(ref)
                continue
            try:
                self.bodies[ref] = self.kube.patch(
                    ref.kind, ref.name, ref.namespace, _to_delete_patch(ref)
                )
            except NotFound:
                self.gone.add(ref)
            except KubeError as err:
                self.error(ref, f"cannot switch its Retain policy to Delete: {err}")

    def run(self) -> None:
        groups: dict[int, list[Ref]] = {}
        for ref in self.refs:
            if ref in self.kept or ref in self.gone:
                continue
            groups.setdefault(_group(ref, self.bodies.get(ref)), []).append(ref)
        for index in sorted(groups):
            members = groups[index]
            if _ORDER[index] == "PersistentVolume":
                members = self._let_controller_delete(members)
            deleted = [ref for ref in members if self._delete(ref)]
            if _ORDER[index] == "Namespace" and not self.await_namespaces:
                # What they held is confirmed gone (earlier groups); the namespace
                # controller's own finishing takes ~5 s and is awaited once, by the sweep
                # at session end, not after every test.
                self.gone.update(deleted)
                continue
            for ref in deleted:
                self._wait_gone(ref, self.remaining())

    def _let_controller_delete(self, pvs: list[Ref]) -> list[Ref]:
        """Give the provisioner the first go at bound PVs with a Delete policy.

        Deleting such a PV object directly can, on clusters without the
        HonorPVReclaimPolicy feature, drop the object and leak the backend volume; after
        its claim is gone the PV controller deletes both. Returns the PVs still there.
        """
        natural = [
            ref
            for ref in pvs
            if dig(self.bodies.get(ref), "spec", "persistentVolumeReclaimPolicy") == "Delete"
            and dig(self.bodies.get(ref), "spec", "claimRef")
        ]
        if not natural:
            return pvs
        until = self.clock() + self.remaining() / 2
        left = [ref for ref in pvs if ref not in natural]
        for ref in natural:
            try:
                self.waiter.gone(
                    ref.kind, ref.name, None, timeout=max(0.0, until - self.clock()), op="cleanup"
                )
                self.gone.add(ref)
            except WaitTimeout:
                left.append(ref)
            except KubeError as err:
                log.debug("cleanup: cannot watch %s: %s", ref, err)
                left.append(ref)
        return left

    def _delete(self, ref: Ref) -> bool:
        try:
            self.kube.delete(ref.kind, ref.name, ref.namespace, missing_ok=True)
        except KubeError as err:
            self.error(ref, f"delete failed: {err}")
            return False
        return True

    def _wait_gone(self, ref: Ref, timeout: float) -> None:
        forced = self.force and ref.kind in _SNAPSHOT_KINDS
        if (ref in self.broken or forced) and self._stuck(ref, min(BROKEN_GRACE, timeout)):
            self._drop_finalizers(ref)
            timeout = self.remaining()
        elif ref.kind in ("VolumeSnapshot", "VolumeGroupSnapshotContent"):
            try:
                note = (
                    wait_snapshot_gone(
                        self.kube, self.waiter, ref.name, str(ref.namespace), timeout=timeout,
                        op="cleanup",
                    )
                    if ref.kind == "VolumeSnapshot"
                    else wait_group_content_gone(
                        self.kube, self.waiter, ref.name, timeout=timeout, op="cleanup"
                    )
                )  # fmt: skip
            except WaitTimeout as err:
                self.error(ref, f"not deleted: {err}")
            except KubeError as err:
                self.error(ref, f"cannot confirm deletion: {err}")
            else:
                self.gone.add(ref)
                if note:
                    self.notes.append(note)
            return
        try:
            self.waiter.gone(ref.kind, ref.name, ref.namespace, timeout=timeout, op="cleanup")
        except WaitTimeout as err:
            self.error(ref, f"not deleted: {err}")
        except KubeError as err:
            self.error(ref, f"cannot confirm deletion: {err}")
        else:
            self.gone.add(ref)

    def _stuck(self, ref: Ref, grace: float) -> bool:
        """Still there after ``grace`` seconds (controllers had their chance)."""
        try:
            self.waiter.gone(ref.kind, ref.name, ref.namespace, timeout=grace, op="cleanup")
        except WaitTimeout:
            return True
        except KubeError as err:
            log.debug("cleanup: cannot watch %s: %s", ref, err)
            return True
        return False

    def _drop_finalizers(self, ref: Ref) -> None:
        """Release an object the test made invalid on purpose from its finalizers.

        The snapshot controller keeps a content whose ``volumeSnapshotRef`` never matched
        (or of a driver nobody serves) on its bound-protection finalizer forever; such an
        object owns no backend snapshot, so removing the finalizer frees nothing twice.
        """
        log.info("cleanup: %s is held by finalizers of a broken object; removing them", ref)
        try:
            self.kube.patch(ref.kind, ref.name, ref.namespace, {"metadata": {"finalizers": None}})
        except NotFound:
            self.gone.add(ref)
        except KubeError as err:
            self.error(ref, f"cannot remove its finalizers: {err}")


# ---------------------------------------------------------------- the tracker


class Tracker:
    """Labels, registers and finally deletes what one test (or session) creates.

    Args:
        kube: the cluster.
        run_id: the run id, the value of the run label.
        worker: the xdist worker id (``gw0``...) or ``main``.
        waiter: used to wait for deletions (default: one without timings).

    Registration is thread-safe and re-entrant (an RLock), because cleanup may be run
    from a signal handler that interrupted a registration on the same thread.
    """

    def __init__(
        self, kube: KubeAPI, run_id: str, worker: str = "main", waiter: Waiter | None = None
    ) -> None:
        self.kube = kube
        self.run_id = run_id
        self.worker = worker
        self.waiter = waiter or Waiter(kube)
        self._refs: dict[Ref, None] = {}
        self._broken: set[Ref] = set()
        self._lock = threading.RLock()
        self._cleaning = False
        self.notes: list[str] = []
        """What cleanup had to do that a reader of the results should know."""

    @property
    def labels(self) -> dict[str, str]:
        """The labels :meth:`create` puts on every object."""
        return {RUN_LABEL: self.run_id, WORKER_LABEL: self.worker}

    def create(self, obj: Obj) -> Obj:
        """Label ``obj`` with the run and worker, create it, and register it for cleanup.

        The object is registered before the request goes out, so a cleanup triggered while
        it is in flight, or after it failed in a way that may still have created the
        object (a dropped connection, a 5xx), still deletes it. A definite refusal (a
        4xx, an unreachable cluster) unregisters it again: it is not ours to delete.
        ``obj`` itself is not modified.
        """
        body = copy.deepcopy(obj)
        meta = body.get("metadata") or {}
        body["metadata"] = meta
        meta["labels"] = {**(meta.get("labels") or {}), **self.labels}
        ref = _ref_of(body) if meta.get("name") else None
        known = False
        if ref is not None:
            with self._lock:
                known = ref in self._refs
                self._refs[ref] = None
        try:
            created = self.kube.create(body)
        except BaseException as exc:
            if ref is not None and not known and not _may_have_been_created(exc):
                self._drop(ref)
            raise
        if ref is None:  # generateName: known only now
            self._add(_ref_of(created))
        return created

    def adopt(self, kind: Kind | str, name: str, namespace: str | None = None) -> None:
        """Register an object someone else made for us (a provisioned PV, a bound content)."""
        self._add(_ref(kind, name, namespace))

    def mark_broken(self, kind: Kind | str, name: str, namespace: str | None = None) -> None:
        """Say that a test made this object invalid on purpose (it can never bind).

        Cleanup then leaves its deletion policy as it is and, if controllers still hold
        it after a short grace, removes its finalizers (see ``_Deleter._drop_finalizers``).
        """
        with self._lock:
            self._broken.add(_ref(kind, name, namespace))

    def forget(self, kind: Kind | str, name: str, namespace: str | None = None) -> None:
        """Unregister an object (the test deleted it itself)."""
        self._drop(_ref(kind, name, namespace))

    def tracked(self) -> list[Ref]:
        """The registered objects, in registration order."""
        with self._lock:
            return list(self._refs)

    def _add(self, ref: Ref) -> None:
        with self._lock:
            self._refs[ref] = None

    def _drop(self, ref: Ref) -> None:
        with self._lock:
            self._refs.pop(ref, None)

    def cleanup(
        self, timeout: float, *, keep_retained: bool = False, await_namespaces: bool = True
    ) -> list[str]:
        """Delete everything registered, in dependency order; return what went wrong.

        First the implied objects are found: what tracked namespaces hold, the PV
        provisioned for each claim, the content bound to each snapshot (these cannot carry
        the run label). Retain policies are switched to Delete (PV reclaim policy,
        content deletionPolicy) so the backend volume or snapshot goes too, unless
        ``keep_retained``: then Retain PVs and contents are left in place, for inspection.
        Then: pods, restored/cloned PVCs, group snapshots, snapshots, group contents,
        contents, PVCs, PVs, other kinds, (group) snapshot classes, storage classes, CRDs,
        namespaces; each group's deletions are
        awaited before the next starts, all within ``timeout`` seconds. NotFound counts
        as deleted. Never raises for one object: the errors come back as strings, and
        what could not be deleted stays registered. With ``await_namespaces`` false the
        namespaces are deleted but not awaited (their contents are): the caller's
        session-end sweep waits for them.
        """
        with self._lock:
            if self._cleaning:
                log.debug("cleanup already running (re-entered, e.g. from a signal handler)")
                return []
            self._cleaning = True
            refs = list(self._refs)
        try:
            deleter = _Deleter(
                self.kube,
                self.waiter,
                run_id=self.run_id,
                deadline=time.monotonic() + timeout,
                keep_retained=keep_retained,
                broken=set(self._broken),
                await_namespaces=await_namespaces,
            )
            for ref in refs:
                deleter.add(ref)
            deleter.discover()
            deleter.flip_retained()
            deleter.run()
            with self._lock:
                for ref in deleter.gone:
                    self._refs.pop(ref, None)
                self.notes.extend(deleter.notes)
            return deleter.errors
        finally:
            with self._lock:
                self._cleaning = False


# ---------------------------------------------------------------- leak check and sweep


def _list_all(kube: KubeAPI, kind: Kind, selector: str | None) -> list[Obj]:
    try:
        items, _ = kube.list(kind, None, label_selector=selector)
    except NotFound:
        return []  # the kind is not served (snapshot CRDs not installed)
    except Forbidden:
        if kind.kind in GROUP_SNAPSHOT_KINDS:
            # optional rules (rbac.GROUP_SNAPSHOT): an identity without them made none
            return []
        raise
    return items


#: Kinds that cannot carry the run label, and the field pointing at their (namespaced) owner.
_UNLABELLED = (
    ("PersistentVolume", "claimRef"),
    ("VolumeSnapshotContent", "volumeSnapshotRef"),
    ("VolumeGroupSnapshotContent", "volumeGroupSnapshotRef"),
)


def leak_check(kube: KubeAPI, run_id: str) -> list[str]:
    """What the run left on the cluster, as ``Kind/namespace/name`` (``Kind/name``) strings.

    Every object of every registered kind (across all namespaces) with the run label,
    plus the PVs, VolumeSnapshotContents and VolumeGroupSnapshotContents (which cannot
    carry the label) whose name contains the run id or that point into one of the run's
    namespaces (their names start with the run id). The member VolumeSnapshots the
    snapshot-controller makes for a group live in the run's namespaces, so a leaked one
    shows through its namespace and its content.
    """
    found: set[Ref] = set()
    for kind in KINDS.values():
        for item in _list_all(kube, kind, f"{RUN_LABEL}={run_id}"):
            found.add(_ref_of({**item, "kind": kind.kind}))
    prefix = f"{run_id}-"
    for kind_name, ref_field in _UNLABELLED:
        for item in _list_all(kube, KINDS[kind_name], None):
            name = str(dig(item, "metadata", "name") or "")
            target_ns = str(dig(item, "spec", ref_field, "namespace") or "")
            if run_id in name or target_ns.startswith(prefix) or f"-{prefix}" in target_ns:
                found.add(_ref(kind_name, name, None))
    return sorted(_slug(ref) for ref in found)


def sweep(
    kube: KubeAPI,
    run_id: str | None,
    *,
    timeout: float,
    worker: str | None = None,
    waiter: Waiter | None = None,
    on_delete: Callable[[str], None] | None = None,
    force: bool = False,
) -> list[str]:
    """Delete what runs left behind, by label only; return what went wrong.

    Deletes every object carrying the run label (any run's when ``run_id`` is None;
    only ``worker``'s when given), in the same dependency order as
    :meth:`Tracker.cleanup`, with Retain policies switched to Delete first, plus the
    unlabelled PVs and (group) contents bound to labelled claims and (group) snapshots or
    pointing into labelled namespaces (PVs only when a provisioner made them). Nothing
    else: the member VolumeSnapshots of a group go with their group (the controller
    deletes them; a labelled namespace's deletion takes any left), except with ``force``:
    then every (group) snapshot in a labelled namespace goes too.

    Args:
        kube: the cluster.
        run_id: whose objects; None means every snapconf run's.
        timeout: seconds for the whole sweep.
        worker: only the objects of this worker label.
        waiter: used to wait for deletions.
        on_delete: called with ``Kind/namespace/name`` of each object about to go.
        force: remove the finalizers of snapshots and contents that controllers still
            hold after a short grace (objects a broken driver or test left stuck).
    """
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    if worker:
        selector += f",{WORKER_LABEL}={worker}"
    labelled: dict[Ref, Obj] = {}
    for kind in KINDS.values():
        for item in _list_all(kube, kind, selector):
            labelled[_ref_of({**item, "kind": kind.kind})] = {**item, "kind": kind.kind}
    namespaces = {ref.name for ref in labelled if ref.kind == "Namespace"}
    claims = {
        (r.namespace, r.name): body
        for r, body in labelled.items()
        if r.kind == "PersistentVolumeClaim"
    }
    snapshots = {
        (r.namespace, r.name): body for r, body in labelled.items() if r.kind == "VolumeSnapshot"
    }
    groups = {
        (r.namespace, r.name): body
        for r, body in labelled.items()
        if r.kind == "VolumeGroupSnapshot"
    }
    linked: dict[Ref, Obj] = {}
    for pv in _list_all(kube, KINDS["PersistentVolume"], None):
        claim_ref = dig(pv, "spec", "claimRef") or {}
        key = (claim_ref.get("namespace"), str(claim_ref.get("name")))
        claim = claims.get(key)
        provisioned = PROVISIONED_BY in (dig(pv, "metadata", "annotations") or {})
        if (claim is not None and _provisioned_for(pv, claim, run_id)) or (
            key[0] in namespaces and provisioned
        ):
            linked[_ref_of({**pv, "kind": "PersistentVolume"})] = pv
    for content in _list_all(kube, KINDS["VolumeSnapshotContent"], None):
        snap_ref = dig(content, "spec", "volumeSnapshotRef") or {}
        key = (snap_ref.get("namespace"), str(snap_ref.get("name")))
        snapshot = snapshots.get(key)
        if (snapshot is not None and _bound_to(content, snapshot)) or key[0] in namespaces:
            linked[_ref_of({**content, "kind": "VolumeSnapshotContent"})] = content
    for content in _list_all(kube, KINDS["VolumeGroupSnapshotContent"], None):
        group_ref = dig(content, "spec", "volumeGroupSnapshotRef") or {}
        key = (group_ref.get("namespace"), str(group_ref.get("name")))
        group = groups.get(key)
        if (group is not None and _bound_to(content, group, "volumeGroupSnapshotRef")) or (
            key[0] in namespaces
        ):
            linked[_ref_of({**content, "kind": "VolumeGroupSnapshotContent"})] = content
    if force:  # a group member a broken driver left behind outlives its group
        for held in ("VolumeGroupSnapshot", "VolumeSnapshot"):
            for item in _list_all(kube, KINDS[held], None):
                if dig(item, "metadata", "namespace") in namespaces:
                    linked[_ref_of({**item, "kind": held})] = {**item, "kind": held}
    deleter = _Deleter(
        kube,
        waiter or Waiter(kube),
        run_id=run_id,
        deadline=time.monotonic() + timeout,
        keep_retained=False,
        force=force,
    )
    for ref, body in _ordered_items({**labelled, **linked}):
        if ref not in deleter.refs:
            deleter.add(ref, body)
            if on_delete is not None:
                on_delete(_slug(ref))
    deleter.flip_retained()
    deleter.run()
    return deleter.errors


def _ordered_items(objects: dict[Ref, Obj]) -> Iterable[tuple[Ref, Obj]]:
    return sorted(objects.items(), key=lambda pair: (_group(*pair), _slug(pair[0])))
