"""What every verb stands on: one test's namespace, tracker, waiter and profile.

Why it exists: :class:`ActionsBase` holds a test's view of the cluster (the fields the
subject modules share) and the verbs about any object (namespace, delete, wait until
gone or until a condition holds, replay its history, watch a refusal, events, get);
beside it, the session's classes (:class:`SessionClasses`), whether steps run by exec
(:class:`ExecChoice`) and the namespace prefix check.

Must not: assert a conformance expectation except that an awaited state is reached in
time (a ``WaitTimeout``, which is an AssertionError); know a subject's verbs (claims,
pods, snapshots, group snapshots have their own modules).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from conformance.expected import ExpectedError
from conformance.kube import Kube
from conformance.manifests import Renderer
from conformance.profile import ClassSpec, Profile
from conformance.resources import Tracker, namespace_name, wait_snapshot_gone
from conformance.waits import (
    TOMBSTONE,
    Waiter,
    WaitTimeout,
)

Obj = dict[str, Any]
HISTORY_REPLAY = 30.0
FOREIGN_DRIVER = "other.snapconf.io"
"""A CSI driver no cluster serves: its classes and volumes are what the driver under test
must leave alone (a snapshot class nobody serves, a claim a group may not cut)."""
"""Seconds a history replay may take at most (it ends when it has caught up)."""


def _revision_of(version: str | None) -> int:
    try:
        return int(version or 0)
    except ValueError:
        return 0


def revision(obj: Obj | None) -> int:
    """An object's resourceVersion as a number (etcd's revision; 0 when not a number)."""
    return _revision_of(((obj or {}).get("metadata") or {}).get("resourceVersion"))


@dataclass
class Watched:
    """What watching a refused object showed: its every state, and the refusal if said.

    ``history`` holds every state from the object's creation to the end of the window
    (or to the moment the refusal was said), so "it never became ready" is checked at
    every change, not at one instant.
    """

    expected: ExpectedError
    history: list[Obj | None]
    said: str | None
    window: float
    seen: list[str] = field(default_factory=list)

    def ever(self, condition: Any) -> Obj | None:
        """The first state in the window for which ``condition`` held, else None."""
        return next((obj for obj in self.history if obj is not None and condition(obj)), None)

    def missing(self) -> str:
        """Why the refusal does not count: what was expected, and what was said instead."""
        said = "; ".join(self.seen[-5:]) or "nothing"
        return (
            f"no refusal of {self.expected.case} within {self.window:g}s: expected "
            f"{self.expected.describe()}; said instead: {said}"
        )


_CLASS_FIELDS = {
    "PersistentVolumeClaim": ("StorageClass", "storageClassName"),
    "VolumeSnapshot": ("VolumeSnapshotClass", "volumeSnapshotClassName"),
    "VolumeGroupSnapshot": ("VolumeGroupSnapshotClass", "volumeGroupSnapshotClassName"),
}
"""The class each kind names: its kind and the ``spec`` field naming it."""


_GONE_OPS = {
    "PersistentVolumeClaim": "pvc-deleted",
    "PersistentVolume": "pv-deleted",
    "VolumeSnapshot": "snapshot-deleted",
    "VolumeSnapshotContent": "content-deleted",
    "VolumeGroupSnapshot": "group-snapshot-deleted",
    "VolumeGroupSnapshotContent": "group-content-deleted",
}
"""The timing name of :meth:`ActionsBase.wait_gone` for each kind, unless a test names one."""


def name_of(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _present(obj: Obj | None, why: str = "the object is gone") -> Obj:
    """A waited-for object, which a wait returns as None only when it is gone."""
    if obj is None:
        raise AssertionError(why)
    return obj


def short_id() -> str:
    return secrets.token_hex(3)


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
GENERATED_NAMESPACE_PART = len("-sc-20260101-000000-abcd") + len("-gw10-abcdef") + len("-abcd")
"""Characters a test namespace adds after the prefix: ``-<run-id>-<worker>-<id>-<random>``."""
MAX_NAMESPACE_PREFIX = 63 - GENERATED_NAMESPACE_PART


def validate_namespace_prefix(prefix: str) -> str:
    """Return ``prefix`` when ``<prefix>-<run-id>-...`` makes valid namespace names.

    Checked before anything runs, so a bad prefix is one sentence, not a 422 in every
    test. The generated part needs :data:`GENERATED_NAMESPACE_PART` of the 63 characters
    of a DNS label.

    Raises:
        ValueError: the prefix is not a DNS label, or leaves too little room.
    """
    if not _DNS_LABEL.match(prefix):
        raise ValueError(
            f"{prefix!r} is not a DNS label: use lower-case letters, digits and '-', "
            "starting and ending with a letter or digit (snapconf adds the '-' after it)"
        )
    if len(prefix) > MAX_NAMESPACE_PREFIX:
        raise ValueError(
            f"{prefix!r} has {len(prefix)} characters; at most {MAX_NAMESPACE_PREFIX} fit, "
            f"since the generated '-<run-id>-<worker>-<id>-<random>' takes "
            f"{GENERATED_NAMESPACE_PART} of a namespace name's 63"
        )
    return prefix


class SessionClasses:
    """The StorageClasses and VolumeSnapshotClasses a run uses, made once per worker.

    The profile names existing classes or asks for them to be created. Tests that need
    another reclaim or deletion policy get a variant copied from the profile's class
    (same driver and parameters), labelled with the run and cleaned up at session end.
    """

    def __init__(
        self,
        kube: Kube,
        tracker: Tracker,
        renderer: Renderer,
        profile: Profile,
        run_id: str,
        worker: str,
    ) -> None:
        self._kube = kube
        self._tracker = tracker
        self._renderer = renderer
        self._profile = profile
        self._prefix = f"{run_id}-{worker}"
        self._made: dict[tuple[str, ...], str] = {}

    def _base_storage_class(self, spec: ClassSpec, suffix: str) -> Obj:
        if spec.name:
            return self._kube.get("StorageClass", spec.name)
        create = dict(spec.create or {})
        return {
            "metadata": {"name": f"{self._prefix}-{suffix}"},
            "provisioner": self._profile.driver,
            "parameters": create.get("parameters", {}),
            "reclaimPolicy": create.get("reclaimPolicy", "Delete"),
            "volumeBindingMode": create.get("volumeBindingMode", "Immediate"),
            "allowVolumeExpansion": create.get("allowVolumeExpansion", False),
            "mountOptions": create.get("mountOptions", []),
        }

    def storage_class(self, *, late_binding: bool = False, reclaim: str = "Delete") -> str:
        """Name of a StorageClass of the profile's driver with this binding and reclaim policy."""
        key = ("sc", str(late_binding), reclaim)
        if key in self._made:
            return self._made[key]
        spec = self._profile.wffc_storage_class if late_binding else self._profile.storage_class
        if spec is None:
            raise LookupError("the profile names no WaitForFirstConsumer StorageClass")
        base = self._base_storage_class(spec, "wffc" if late_binding else "sc")
        if spec.name and base.get("reclaimPolicy", "Delete") == reclaim:
            self._made[key] = spec.name
            return spec.name
        name = f"{self._prefix}-sc-{'wffc' if late_binding else 'imm'}-{reclaim.lower()}"
        obj = self._renderer.render(
            "storageclass",
            name=name,
            provisioner=base.get("provisioner", self._profile.driver),
            parameters=base.get("parameters") or {},
            reclaim_policy=reclaim,
            volume_binding_mode=base.get("volumeBindingMode", "Immediate"),
            allow_volume_expansion=bool(base.get("allowVolumeExpansion", False)),
            mount_options=base.get("mountOptions") or [],
        )
        self._tracker.create(obj)
        self._made[key] = name
        return name

    def group_snapshot_class(self, deletion_policy: str = "Delete") -> str:
        """Name of a VolumeGroupSnapshotClass of the profile's driver with this deletion policy.

        Raises:
            LookupError: the profile names no ``groupSnapshotClass``.
        """
        spec = self._profile.group_snapshot_class
        if spec is None:
            raise LookupError("the profile names no groupSnapshotClass")
        key = ("vgsc", deletion_policy)
        if key not in self._made:
            name, parameters = self._policy_variant(
                "VolumeGroupSnapshotClass", "vgsc", spec, deletion_policy
            )
            if parameters is not None:
                self._tracker.create(
                    self._renderer.render(
                        "volumegroupsnapshotclass",
                        name=name,
                        driver=self._profile.driver,
                        deletion_policy=deletion_policy,
                        parameters=parameters,
                    )
                )
            self._made[key] = name
        return self._made[key]

    def snapshot_class(self, deletion_policy: str = "Delete") -> str:
        """Name of a VolumeSnapshotClass of the profile's driver with this deletion policy."""
        key = ("vsc", deletion_policy)
        if key not in self._made:
            spec = self._profile.snapshot_class
            name, parameters = self._policy_variant(
                "VolumeSnapshotClass", "vsc", spec, deletion_policy
            )
            if parameters is not None:
                self._tracker.create(
                    self._renderer.render(
                        "volumesnapshotclass",
                        name=name,
                        driver=self._profile.driver,
                        deletion_policy=deletion_policy,
                        parameters=parameters,
                    )
                )
            self._made[key] = name
        return self._made[key]

    def _policy_variant(
        self, kind: str, short: str, spec: ClassSpec, deletion_policy: str
    ) -> tuple[str, dict[str, Any] | None]:
        """Which (group) snapshot class serves ``deletion_policy``.

        The profile's named class when its policy already matches (parameters None:
        nothing to create); otherwise the name and parameters of a copy to create, from
        the named class's parameters or the profile's ``create`` ones.
        """
        if spec.name:
            base = self._kube.get(kind, spec.name)
            if base.get("deletionPolicy") == deletion_policy:
                return spec.name, None
            parameters = base.get("parameters") or {}
        else:
            parameters = dict((spec.create or {}).get("parameters", {}))
        return f"{self._prefix}-{short}-{deletion_policy.lower()}", parameters


@dataclass
class ExecChoice:
    """Whether workload steps run by exec in a pod per volume, for one process's session.

    On from the profile (``workload.exec``); the first exec the cluster refuses (RBAC,
    an admission policy) turns it off for the rest of the session, with the reason,
    and every test that then runs its steps in one-shot pods says so in its record.
    """

    enabled: bool = True
    refused: str = ""


@dataclass
class ActionsBase:
    """One test's view of the cluster: its namespace, tracker, waiter and profile.

    The subject verbs build on it (``claims``, ``pods``, ``snapshots``, ``groups``);
    :class:`~conformance.actions.ClusterActions` is all of them.
    """

    profile: Profile
    kube: Kube
    tracker: Tracker
    waiter: Waiter
    renderer: Renderer
    classes: SessionClasses
    worker: str
    namespace: str = ""
    node_name: str | None = field(default=None)
    namespace_prefix: str = ""
    exec_choice: ExecChoice | None = None
    volume_mode: str = "Filesystem"
    """The test's volume mode: what every verb that takes a ``mode`` uses unless told."""
    _handles: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    # the pod that runs the steps of each claim (by name and uid), while it is up
    _volume_pods: dict[tuple[str, str], str] = field(default_factory=dict, init=False, repr=False)
    _noted_one_shot: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.exec_choice is None:
            self.exec_choice = ExecChoice(enabled=self.profile.workload.exec)

    # ------------------------------------------------------------ namespace

    def create_namespace(self) -> str:
        """A fresh namespace for this test, ready when its default ServiceAccount exists."""
        name = namespace_name(
            self.tracker.run_id, self.worker, short_id(), prefix=self.namespace_prefix
        )
        self.tracker.create(self.renderer.render("namespace", name=name))
        self.waiter.until(
            "ServiceAccount", "default", name, lambda obj: obj is not None,
            timeout=self.profile.timeouts.pod_start, op="namespace-ready",
            describe=f"ServiceAccount default in namespace {name}",
        )  # fmt: skip
        self.namespace = name
        return name

    def fresh_name(self, prefix: str) -> str:
        return f"{prefix}-{short_id()}"

    # ------------------------------------------------------------ deletion and events

    def release(self, pvc: Obj) -> None:
        """Stop ``pvc``'s volume pod, if it has one (``pods.PodActions`` holds the pods)."""

    def delete(
        self, obj: Obj, *, wait: bool = True, op: str | None = None, timeout: float | None = None
    ) -> None:
        """Delete ``obj`` and (by default) wait until it is gone."""
        kind = obj["kind"]
        name = name_of(obj)
        namespace = obj["metadata"].get("namespace")
        if kind == "PersistentVolumeClaim":
            self.release(obj)  # a claim held by its volume pod would wait on pvc-protection
        self.kube.delete(kind, name, namespace)
        if not wait:
            return
        timeout = timeout or self.profile.timeouts.delete
        op = op or f"{kind.lower()}-deleted"
        if kind == "VolumeSnapshot":
            # the external-provisioner's orphaned finalizer is no driver's doing: taken
            # over as cleanup does, and said in the test's record
            note = wait_snapshot_gone(
                self.kube, self.waiter, name, str(namespace), timeout=timeout, op=op
            )
            if note:
                self.tracker.notes.append(note)
        else:
            self.waiter.gone(kind, name, namespace, timeout=timeout, op=op)
        self.tracker.forget(kind, name, namespace)

    def wait_gone(self, obj: Obj, *, op: str | None = None, timeout: float | None = None) -> None:
        """Wait until an object someone else deletes (a content, a PV) is gone.

        ``op`` defaults to the kind's (``content-deleted``, ``pv-deleted``, ...).
        """
        kind, name, namespace = obj["kind"], name_of(obj), obj["metadata"].get("namespace")
        op = op or _GONE_OPS.get(kind) or f"{kind.lower()}-deleted"
        self.waiter.gone(
            kind, name, namespace, timeout=timeout or self.profile.timeouts.delete, op=op
        )
        self.tracker.forget(kind, name, namespace)

    def wait_for(
        self,
        obj: Obj,
        condition: Any,
        *,
        op: str,
        timeout: float | None = None,
        since: str | None = None,
    ) -> Obj:
        """Wait until ``condition(obj)`` holds for the live object (or held since ``since``)."""
        kind, name, namespace = obj["kind"], name_of(obj), obj["metadata"].get("namespace")
        got = self.waiter.until(
            kind, name, namespace, condition,
            timeout=timeout or self.profile.timeouts.claim_provision, op=op,
            describe=f"{kind} {namespace or ''}/{name}: {op}", since=since,
        )  # fmt: skip
        got = _present(got, f"{kind} {name} is gone")
        return got

    def history(self, obj: Obj, *, since: str) -> list[Obj | None]:
        """Every state of ``obj`` from resourceVersion ``since`` up to now, deletion included.

        Replayed from the watch until the object's own latest change (read first), or its
        deletion (a :data:`~conformance.waits.TOMBSTONE` object); a ``since`` too old to
        replay raises rather than hand back a history with a hole.
        """
        kind, name, namespace = obj["kind"], name_of(obj), obj["metadata"].get("namespace")
        current = self.kube.get_or_none(kind, name, namespace)
        if current is not None and revision(current) <= _revision_of(since):
            return [current]  # nothing changed since
        # the object's own last change (or, once it is gone, its deletion) ends the replay
        last = revision(current) if current is not None else None

        def caught_up(state: Obj | None) -> bool:
            if state is None or state.get(TOMBSTONE):
                return True
            return last is not None and revision(state) >= last

        return self.waiter.observe(
            kind, name, namespace, window=HISTORY_REPLAY, op="history-replayed", since=since,
            stop=caught_up, tombstones=True,
        )  # fmt: skip

    def refusal(self, obj: Obj, expected: ExpectedError, *, whole_window: bool = False) -> Watched:
        """Watch ``obj`` from its creation until ``expected`` is said (or the window ends).

        The window is the profile's ``errorStatus``. With ``whole_window`` the watch
        runs to its end even after the refusal, for tests that claim something *never*
        happens. The refusal counts when the object's ``status.error.message`` or an
        event of an accepted reason says one of the known wordings (``conformance.expected``).
        """
        kind, name, namespace = obj["kind"], name_of(obj), obj["metadata"].get("namespace")
        since = obj["metadata"].get("resourceVersion")
        window = self.profile.timeouts.error_status
        started = time.monotonic()
        if expected.in_status:
            stop = None if whole_window else (lambda o: expected.status_message(o) is not None)
            history = self.waiter.observe(
                kind, name, namespace, window=window, op="refusal-watched", stop=stop, since=since
            )
        else:
            with contextlib.suppress(WaitTimeout):  # judged below, from all the events
                self.waiter.first_event(
                    namespace, f"involvedObject.kind={kind},involvedObject.name={name}",
                    timeout=window, op="refusal-event", describe=expected.describe(),
                    match=lambda event: expected.event_message(event) is not None,
                )  # fmt: skip
            rest = window - (time.monotonic() - started) if whole_window else 0.0
            history = self.waiter.observe(
                kind, name, namespace, window=max(rest, 0.5), op="refusal-watched", since=since
            )
        said = next(filter(None, (expected.status_message(o) for o in history)), None)
        seen = [
            f"status.error: {message}"
            for message in dict.fromkeys(
                str(((o or {}).get("status") or {}).get("error", {}).get("message") or "")
                for o in history
            )
            if message
        ]
        for event in self.events(obj):
            seen.append(f"{event.get('type')} {event.get('reason')}: {event.get('message')}")
            said = said or expected.event_message(event)
        return Watched(expected, history, said, window, seen)

    def cluster_scoped_name(self, prefix: str) -> str:
        """Cluster-scoped objects carry the run id in their names."""
        return f"{self.tracker.run_id}-{prefix}-{short_id()}"

    def events(self, obj: Obj) -> list[Obj]:
        return self.kube.events_for(obj["kind"], name_of(obj), obj["metadata"].get("namespace"))

    def mark_broken(self, *objs: Obj) -> None:
        """These objects are invalid on purpose: see :meth:`Tracker.mark_broken`."""
        for obj in objs:
            self.tracker.mark_broken(obj["kind"], name_of(obj), obj["metadata"].get("namespace"))

    def get_or_none(self, obj: Obj) -> Obj | None:
        return self.kube.get_or_none(obj["kind"], name_of(obj), obj["metadata"].get("namespace"))

    def wait_for_event(self, obj: Obj, *, reason: str, timeout: float | None = None) -> Obj:
        """Wait for an event of ``reason`` about ``obj`` (e.g. WaitForFirstConsumer)."""
        kind, name, namespace = obj["kind"], name_of(obj), obj["metadata"].get("namespace")
        selector = f"involvedObject.kind={kind},involvedObject.name={name},reason={reason}"
        return self.waiter.first_event(
            namespace, selector, timeout=timeout or self.profile.timeouts.claim_provision,
            op=f"event-{reason}", describe=f"a {reason} event about {kind} {namespace}/{name}",
        )  # fmt: skip

    def request_delete(self, obj: Obj) -> None:
        """Ask the API server to delete ``obj``; nothing else (no release, no wait, tracked).

        For tests that watch what the controllers do with a deletion themselves.
        """
        self.kube.delete(obj["kind"], name_of(obj), obj["metadata"].get("namespace"))

    def class_of(self, obj: Obj) -> Obj:
        """The class ``obj`` names: a PVC's StorageClass, a (group) snapshot's class."""
        kind, field_name = _CLASS_FIELDS[obj["kind"]]
        return self.kube.get(kind, obj["spec"][field_name])

    def get(self, obj: Obj) -> Obj:
        return self.kube.get(obj["kind"], name_of(obj), obj["metadata"].get("namespace"))
