"""The verbs the suites are written in.

Make a PVC, put data on it, snapshot, restore, clone, snapshot a group of claims at once,
delete: each awaited with the profile's timeout and recorded as a timing.

Suites say *what* they check; how an object is rendered, labelled, tracked for cleanup
and awaited lives here once. Nothing here asserts a conformance expectation except that
an awaited state is reached in time (a ``WaitTimeout``, which is an AssertionError).
"""

from __future__ import annotations

import contextlib
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from conformance import workload
from conformance.expected import ExpectedError
from conformance.kube import Forbidden, Invalid, Kube, dig
from conformance.manifests import Renderer
from conformance.podexec import exec_in_pod
from conformance.profile import ClassSpec, Profile
from conformance.resources import Tracker, namespace_name, wait_snapshot_gone
from conformance.units import format_quantity
from conformance.waits import (
    TOMBSTONE,
    Waiter,
    WaitTimeout,
    content_ready,
    pod_running,
    pod_succeeded,
    pvc_bound,
    snapshot_has_error,
    snapshot_ready,
)

Obj = dict[str, Any]
SNAPSHOT_API_GROUP = "snapshot.storage.k8s.io"
GROUP_LABEL = "snapconf.io/group"
"""Label whose value picks the claims of one VolumeGroupSnapshot (its label selector)."""
HISTORY_REPLAY = 30.0
"""Seconds a history replay may take at most (it ends when it has caught up)."""


def _revision_of(version: str | None) -> int:
    try:
        return int(version or 0)
    except ValueError:
        return 0


def revision(obj: Obj | None) -> int:
    """An object's resourceVersion as a number (etcd's revision; 0 when not a number)."""
    return _revision_of(((obj or {}).get("metadata") or {}).get("resourceVersion"))


ALLOW_VOLUME_MODE_CHANGE = "snapshot.storage.kubernetes.io/allow-volume-mode-change"


class Retained(NamedTuple):
    """A backend snapshot whose VolumeSnapshot is gone and whose content is kept."""

    written: workload.Result
    handle: str
    snapshot: Obj
    """The deleted VolumeSnapshot as it was when ready."""
    content: Obj
    """Its content as it was when the snapshot was ready."""


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


def name_of(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


def _claim_of(snapshot: Obj) -> str:
    """The claim a VolumeSnapshot was cut from (``spec.source.persistentVolumeClaimName``)."""
    return str(dig(snapshot, "spec", "source", "persistentVolumeClaimName") or "")


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
class ClusterActions:
    """One test's view of the cluster: its namespace, tracker, waiter and profile."""

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

    # ------------------------------------------------------------ claims

    def pvc(
        self,
        *,
        size: int | None = None,
        mode: str = "Filesystem",
        storage_class: str | None = None,
        data_source: Obj | None = None,
        volume_name: str | None = None,
        name: str | None = None,
        late_binding: bool = False,
        labels: dict[str, str] | None = None,
    ) -> Obj:
        """Create a PVC (not awaited); the class defaults to the profile's.

        ``labels`` join the run's labels on the claim (a group snapshot selects claims by
        label); they are set after rendering, as the run label is, so a ``--manifests``
        override of the claim template need not know them.
        """
        if storage_class is None:
            storage_class = self.classes.storage_class(late_binding=late_binding)
        obj = self.renderer.render(
            "persistentvolumeclaim",
            name=name or self.fresh_name("pvc"),
            namespace=self.namespace,
            storage_class=storage_class,
            access_modes=list(self.profile.access_modes),
            volume_mode=mode,
            size=format_quantity(size or self.profile.sizes.default_bytes),
            data_source=data_source,
            volume_name=volume_name,
        )
        if labels:
            meta = obj.setdefault("metadata", {})
            meta["labels"] = {**(meta.get("labels") or {}), **labels}
        return self.tracker.create(obj)

    def wait_bound(self, pvc: Obj, *, op: str = "pvc-bound", timeout: float | None = None) -> Obj:
        """Wait until the PVC is Bound; adopts its PV for cleanup.

        A restore or clone (a PVC with a data source) gets the profile's
        ``dataSourceProvision`` timeout, any other PVC ``claimProvision``.
        """
        name = name_of(pvc)
        timeouts = self.profile.timeouts
        from_source = bool((pvc.get("spec") or {}).get("dataSource"))
        default = timeouts.data_source_provision if from_source else timeouts.claim_provision
        bound = self.waiter.until(
            "PersistentVolumeClaim", name, self.namespace, pvc_bound,
            timeout=timeout or default, op=op,
            describe=f"PVC {self.namespace}/{name} to be Bound",
        )  # fmt: skip
        bound = _present(bound)
        self.tracker.adopt("PersistentVolume", bound["spec"]["volumeName"], None)
        return bound

    def pv_of(self, pvc: Obj) -> Obj:
        volume = (
            self.kube.get("PersistentVolumeClaim", name_of(pvc), self.namespace).get("spec") or {}
        ).get("volumeName")
        if not volume:
            raise AssertionError(f"PVC {name_of(pvc)} has no bound volume")
        return self.kube.get("PersistentVolume", volume)

    def bound_pvc(self, **kwargs: Any) -> Obj:
        """Create a PVC and wait until it is Bound."""
        return self.wait_bound(self.pvc(**kwargs))

    # ------------------------------------------------------------ pods and data

    def _volume(self, pvc: Obj, mode: str) -> dict[str, str]:
        """The pod template's volume entry: a raw device for Block, a mount otherwise."""
        path = workload.DEVICE_PATH if mode == "Block" else workload.MOUNT_PATH
        return {"name": "vol", "claim_name": name_of(pvc), "mode": mode, "path": path}

    def _pod(self, prefix: str, pvc: Obj, mode: str, command: str) -> Obj:
        """Render and create a pod using ``pvc`` (not awaited)."""
        obj = self.renderer.render(
            "pod",
            name=self.fresh_name(prefix),
            namespace=self.namespace,
            image=self.profile.workload.image,
            pull_policy=self.profile.workload.pull_policy,
            command=["sh", "-c", command],
            volumes=[self._volume(pvc, mode)],
            node_name=None,
        )
        return self.tracker.create(obj)

    def step(self, pvc: Obj, script: str, *, mode: str, purpose: str) -> str:
        """Run one workload step on ``pvc``; return the line it printed.

        By exec in the claim's volume pod (started on first use, kept until the claim is
        released or deleted), or in a one-shot pod when exec is off or refused.
        """
        choice = self.exec_choice or ExecChoice()
        if choice.enabled:
            pod = self.volume_pod(pvc, mode=mode)
            started = time.monotonic()
            try:
                result = exec_in_pod(
                    self.kube, pod, self.namespace, ["sh", "-c", script],
                    timeout=self.profile.timeouts.pod_start,
                )  # fmt: skip
            except (Forbidden, Invalid) as err:  # RBAC (403) or an admission policy (422)
                choice.enabled, choice.refused = False, str(err)
            else:
                if self.waiter.timings is not None:
                    self.waiter.timings.record(
                        f"exec-{purpose}", time.monotonic() - started, f"Pod {self.namespace}/{pod}"
                    )
                if result.exit_code != 0:
                    raise AssertionError(
                        f"the {purpose} step in pod {self.namespace}/{pod} exited "
                        f"{result.exit_code}: {result.stderr.strip()[-500:] or 'no output'}"
                    )
                return result.stdout.strip()
        if choice.refused and not self._noted_one_shot:
            self._noted_one_shot = True
            self.tracker.notes.append(
                f"workload steps ran in one-shot pods: the cluster refused exec ({choice.refused})"
            )
        return self.run_pod(pvc, script, mode=mode, purpose=purpose)

    def volume_pod(self, pvc: Obj, *, mode: str = "Filesystem") -> str:
        """The running pod that holds ``pvc`` for the test's steps (started once)."""
        key = (name_of(pvc), str(pvc["metadata"].get("uid")))
        name = self._volume_pods.get(key)
        if name is None:
            name = name_of(self._pod("vol", pvc, mode, workload.KEEPALIVE))
            running = self.waiter.until(
                "Pod", name, self.namespace, pod_running,
                timeout=self.profile.timeouts.pod_start, op="volume-pod-running",
                describe=f"volume pod {self.namespace}/{name} to run",
            )  # fmt: skip
            self.node_name = _present(running)["spec"].get("nodeName") or self.node_name
            self._volume_pods[key] = name
        return name

    def release(self, pvc: Obj) -> None:
        """Stop ``pvc``'s volume pod, if it has one, and wait until the node lets go of it.

        For steps that need the volume unused: deleting the claim, importing its volume
        elsewhere, or proving what happens once no pod holds it.
        """
        key = (name_of(pvc), str(pvc["metadata"].get("uid")))
        name = self._volume_pods.pop(key, None)
        if name is None:
            return
        pod = {"kind": "Pod", "metadata": {"name": name, "namespace": self.namespace}}
        self.delete(pod, op="volume-pod-deleted", timeout=self.profile.timeouts.pod_delete)
        self.wait_volume_released(pvc)

    def run_pod(self, pvc: Obj, script: str, *, mode: str, purpose: str) -> str:
        """Run ``script`` in a one-shot pod on ``pvc``, wait for success, delete it.

        Returns its line once the node has released the volume, so what follows (a
        snapshot, a clone) sees the data flushed.
        """
        obj = self._pod(purpose, pvc, mode, workload.one_shot(script))
        pod_name = name_of(obj)
        done = self.waiter.until(
            "Pod", pod_name, self.namespace, pod_succeeded,
            timeout=self.profile.timeouts.pod_start, op=f"pod-{purpose}",
            describe=f"{purpose} pod {self.namespace}/{pod_name} to succeed",
        )  # fmt: skip
        done = _present(done)
        self.node_name = done["spec"].get("nodeName") or self.node_name
        statuses = done.get("status", {}).get("containerStatuses") or []
        message = (
            str(((statuses[0].get("state") or {}).get("terminated") or {}).get("message", ""))
            if statuses
            else ""
        )
        self.delete(obj, op="pod-deleted", timeout=self.profile.timeouts.pod_delete)
        self.wait_volume_released(pvc)
        return message.strip()

    def write_data(
        self, pvc: Obj, *, mode: str = "Filesystem", size: int | None = None
    ) -> workload.Result:
        """Fill the volume with a random payload; return its sha256 once it is synced."""
        script = workload.writer_script(mode, size or self.profile.workload.payload_bytes)
        return workload.parse_result(self.step(pvc, script, mode=mode, purpose="writer"))

    def read_data(
        self, pvc: Obj, *, mode: str = "Filesystem", size: int | None = None
    ) -> workload.Result:
        """Hash what the volume holds (``sha256 == 'missing'`` when the payload file is absent)."""
        script = workload.reader_script(mode, size or self.profile.workload.payload_bytes)
        return workload.parse_result(self.step(pvc, script, mode=mode, purpose="reader"))

    def visible_capacity(self, pvc: Obj, *, mode: str = "Filesystem") -> int:
        """The size a pod sees: the block device size or the filesystem's total bytes."""
        script = workload.capacity_script(mode)
        return workload.parse_capacity(self.step(pvc, script, mode=mode, purpose="capacity"))

    def wait_volume_released(self, pvc: Obj) -> None:
        """Wait until the node no longer lists the volume in ``status.volumesInUse``.

        Snapshotting a volume that kubelet still has mounted is what makes upstream e2e
        snapshots flaky-empty; waiting here flushes the data path first.
        """
        if self.node_name is None:
            return
        # A claim's binding never changes: read its volume handle once, not two GETs a pod.
        key = (name_of(pvc), str(pvc["metadata"].get("uid")))
        handle = self._handles.get(key)
        if handle is None:
            handle = self._handles[key] = self.pv_of(pvc)["spec"]["csi"]["volumeHandle"]

        def released(node: Obj | None) -> bool:
            in_use = ((node or {}).get("status") or {}).get("volumesInUse") or []
            return not any(str(entry).endswith(f"^{handle}") for entry in in_use)

        self.waiter.until(
            "Node", self.node_name, None, released,
            timeout=self.profile.timeouts.pod_delete, op="volume-released",
            describe=f"node {self.node_name} to stop using volume {handle}",
        )  # fmt: skip

    # ------------------------------------------------------------ snapshots

    def snapshot(
        self,
        pvc: Obj,
        *,
        deletion_policy: str = "Delete",
        snapshot_class: str | None = None,
        name: str | None = None,
    ) -> Obj:
        """Create a VolumeSnapshot of ``pvc`` (not awaited)."""
        obj = self.renderer.render(
            "volumesnapshot",
            name=name or self.fresh_name("snap"),
            namespace=self.namespace,
            snapshot_class=snapshot_class or self.classes.snapshot_class(deletion_policy),
            source_pvc=name_of(pvc),
            source_content=None,
        )
        return self.tracker.create(obj)

    def wait_ready(
        self, snapshot: Obj, *, op: str = "snapshot-ready", timeout: float | None = None
    ) -> Obj:
        """Wait for readyToUse; adopts the bound content for cleanup."""
        name = name_of(snapshot)
        ready = self.waiter.until(
            "VolumeSnapshot", name, self.namespace, snapshot_ready,
            timeout=timeout or self.profile.timeouts.snapshot_ready, op=op,
            describe=f"VolumeSnapshot {self.namespace}/{name} to be readyToUse",
        )  # fmt: skip
        ready = _present(ready)
        content = ready["status"].get("boundVolumeSnapshotContentName")
        if content:
            self.tracker.adopt("VolumeSnapshotContent", content, None)
        return ready

    def ready_snapshot(self, pvc: Obj, **kwargs: Any) -> Obj:
        return self.wait_ready(self.snapshot(pvc, **kwargs))

    def content_of(self, snapshot: Obj) -> Obj:
        current = self.kube.get("VolumeSnapshot", name_of(snapshot), self.namespace)
        content = (current.get("status") or {}).get("boundVolumeSnapshotContentName")
        if not content:
            raise AssertionError(f"VolumeSnapshot {name_of(snapshot)} names no bound content")
        return self.kube.get("VolumeSnapshotContent", content)

    def restore(
        self, snapshot: Obj, *, size: int | None = None, mode: str = "Filesystem", **kwargs: Any
    ) -> Obj:
        """Create a PVC restored from ``snapshot`` (not awaited)."""
        source = {
            "kind": "VolumeSnapshot",
            "name": name_of(snapshot),
            "apiGroup": SNAPSHOT_API_GROUP,
        }
        return self.pvc(size=size, mode=mode, data_source=source, **kwargs)

    def clone(
        self, pvc: Obj, *, size: int | None = None, mode: str = "Filesystem", **kwargs: Any
    ) -> Obj:
        """Create a PVC cloned from ``pvc`` (not awaited)."""
        source = {"kind": "PersistentVolumeClaim", "name": name_of(pvc), "apiGroup": None}
        return self.pvc(size=size, mode=mode, data_source=source, **kwargs)

    # ------------------------------------------------------------ group snapshots

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
        self, group: Obj, *, op: str = "group-snapshot-ready", timeout: float | None = None
    ) -> Obj:
        """Wait until the group is readyToUse, then until each of its members is.

        The group's readiness is its content's (the driver's word for the whole cut); the
        member VolumeSnapshots the snapshot-controller made for it exist by then and each
        becomes ready on its own, so each is awaited too. Adopts the group content and
        the members and their contents for cleanup and diagnostics. Returns the group
        as it was when ready.
        """
        name = name_of(group)
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

    def retained_group_snapshot(self, *, count: int = 2, mode: str = "Filesystem") -> RetainedGroup:
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
    ) -> tuple[Obj, Obj]:
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
        return group, content

    # ------------------------------------------------------------ deletion and events

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

    def wait_gone(self, obj: Obj, *, op: str, timeout: float | None = None) -> None:
        """Wait until an object someone else deletes (a content, a PV) is gone."""
        kind, name, namespace = obj["kind"], name_of(obj), obj["metadata"].get("namespace")
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

    def start_pod(self, pvc: Obj, *, mode: str = "Filesystem") -> Obj:
        """A pod that keeps ``pvc`` in use until deleted; returned once Running."""
        pod = self.consumer_pod(pvc, mode=mode)
        pod_name = name_of(pod)
        running = self.waiter.until(
            "Pod", pod_name, self.namespace, pod_running,
            timeout=self.profile.timeouts.pod_start, op="pod-running",
            describe=f"pod {self.namespace}/{pod_name} to run",
        )  # fmt: skip
        running = _present(running)
        self.node_name = running["spec"].get("nodeName") or self.node_name
        return pod

    # ------------------------------------------------------------ pre-provisioned objects

    def cluster_scoped_name(self, prefix: str) -> str:
        """Cluster-scoped objects carry the run id in their names."""
        return f"{self.tracker.run_id}-{prefix}-{short_id()}"

    def retained_snapshot(self, *, mode: str = "Filesystem") -> Retained:
        """Data written, snapshotted under Retain, the VolumeSnapshot deleted: what is left.

        The retained content stays tracked, so cleanup flips it to Delete and the backend
        snapshot does not leak.
        """
        pvc = self.bound_pvc(mode=mode)
        written = self.write_data(pvc, mode=mode)
        snap = self.ready_snapshot(pvc, deletion_policy="Retain")
        content = self.content_of(snap)
        self.delete(snap, op="snapshot-deleted")
        return Retained(written, str(content["status"]["snapshotHandle"]), snap, content)

    def import_snapshot(
        self,
        handle: str,
        *,
        ref_uid: str | None = None,
        ref_namespace: str | None = None,
        deletion_policy: str = "Retain",
    ) -> tuple[Obj, Obj]:
        """A pre-provisioned content for ``handle`` and the VolumeSnapshot naming it.

        Retain by default: a content that fails to bind must not delete the backend
        snapshot another object still uses; cleanup flips it to Delete.
        """
        snap_name = self.fresh_name("imported")
        content = self.tracker.create(
            self.renderer.render(
                "volumesnapshotcontent",
                name=self.cluster_scoped_name("content"),
                driver=self.profile.driver,
                deletion_policy=deletion_policy,
                snapshot_class=None,
                source_snapshot_handle=handle,
                source_volume_handle=None,
                snapshot_ref={
                    "name": snap_name,
                    "namespace": ref_namespace or self.namespace,
                    "uid": ref_uid,
                },
            )
        )
        snap = self.snapshot_of_content(name_of(content), name=snap_name)
        return snap, content

    def reimport_deleted(self, handle: str) -> tuple[Obj, Obj | None]:
        """Import the handle of a backend snapshot that should be gone; what it settles to.

        The import is broken on purpose (cleanup may release it). Returns the
        VolumeSnapshot as it is once its content either reported an error or became
        ready (or ``errorStatus`` passed), and that content state; a driver that really
        deleted the snapshot never lets either be ready.
        """
        snap, content = self.import_snapshot(handle)
        self.mark_broken(snap, content)
        settled = self.wait_for(
            content,
            lambda obj: snapshot_has_error(obj) or content_ready(obj),
            op="reimport-settled",
            timeout=self.profile.timeouts.error_status,
        )
        return self.get(snap), settled

    def snapshot_of_content(self, content_name: str, *, name: str | None = None) -> Obj:
        """A VolumeSnapshot that names an existing content (static binding)."""
        return self.tracker.create(
            self.renderer.render(
                "volumesnapshot",
                name=name or self.fresh_name("snap"),
                namespace=self.namespace,
                snapshot_class=None,
                source_pvc=None,
                source_content=content_name,
            )
        )

    def raw_snapshot(self, *, source_pvc: str | None, source_content: str | None) -> Obj:
        """Render a VolumeSnapshot with the given sources as they are (for invalid specs)."""
        obj = self.renderer.render(
            "volumesnapshot",
            name=self.fresh_name("invalid"),
            namespace=self.namespace,
            snapshot_class=None,
            source_pvc=source_pvc,
            source_content=source_content,
        )
        return self.tracker.create(obj)

    def foreign_snapshot_class(self) -> str:
        """A VolumeSnapshotClass of a driver that does not exist on the cluster."""
        name = self.cluster_scoped_name("foreign-vsc")
        self.tracker.create(
            self.renderer.render(
                "volumesnapshotclass",
                name=name,
                driver="other.snapconf.io",
                deletion_policy="Delete",
                parameters={},
            )
        )
        return name

    def static_pv(
        self,
        handle: str,
        *,
        capacity: str,
        mode: str,
        claim_name: str,
        attributes: dict[str, str],
        node_affinity: Any,
    ) -> Obj:
        """A pre-provisioned PV for an existing volume handle, reserved for ``claim_name``."""
        terms = ((node_affinity or {}).get("required") or {}).get("nodeSelectorTerms") or []
        expression = (terms[0].get("matchExpressions") or [None])[0] if terms else None
        obj = self.renderer.render(
            "persistentvolume",
            name=self.cluster_scoped_name("pv"),
            driver=self.profile.driver,
            volume_handle=handle,
            capacity=capacity,
            access_modes=list(self.profile.access_modes),
            volume_mode=mode,
            reclaim_policy="Retain",
            storage_class="",
            claim_ref={"name": claim_name, "namespace": self.namespace},
            volume_attributes=attributes,
            node_affinity={"key": expression["key"], "values": expression["values"]}
            if expression
            else None,
        )
        # the provisioner deletes a Delete-policy PV's volume only if it provisioned it
        obj["metadata"].setdefault("annotations", {})["pv.kubernetes.io/provisioned-by"] = (
            self.profile.driver
        )
        return self.tracker.create(obj)

    def import_volume(self, old_pv: Obj, *, mode: str) -> Obj:
        """A static PV of ``old_pv``'s volume handle and a PVC bound to it (awaited).

        How a backend volume is reached without its old API objects: after a Retain
        reclaim it must still hold its data; after a Delete reclaim it must be gone.
        """
        claim_name = self.fresh_name("static")
        pv = self.static_pv(
            old_pv["spec"]["csi"]["volumeHandle"],
            capacity=old_pv["spec"]["capacity"]["storage"],
            mode=mode,
            claim_name=claim_name,
            attributes=old_pv["spec"]["csi"].get("volumeAttributes") or {},
            node_affinity=old_pv["spec"].get("nodeAffinity"),
        )
        # The PV controller must hold the PV before it sees the claim: a claim naming a PV
        # not yet in its cache waits for the next resync (15 s) to bind.
        self.waiter.until(
            "PersistentVolume", name_of(pv), None,
            lambda o: dig(o, "status", "phase") in ("Available", "Bound"),
            timeout=self.profile.timeouts.claim_provision, op="pv-available",
            describe=f"PersistentVolume {name_of(pv)} to be Available",
        )  # fmt: skip
        pvc = self.pvc(mode=mode, storage_class="", volume_name=name_of(pv), name=claim_name)
        return self.wait_bound(pvc)

    def consumer_pod(self, pvc: Obj, *, mode: str = "Filesystem") -> Obj:
        """A pod that would keep ``pvc`` in use, created and not awaited."""
        return self._pod("user", pvc, mode, workload.KEEPALIVE)

    def allow_volume_mode_change(self, snapshot: Obj) -> Obj:
        """Annotate the snapshot's content so a restore may change its volume mode."""
        content = self.content_of(snapshot)
        patch = {"metadata": {"annotations": {ALLOW_VOLUME_MODE_CHANGE: "true"}}}
        return self.kube.patch("VolumeSnapshotContent", name_of(content), None, patch)

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

    def get(self, obj: Obj) -> Obj:
        return self.kube.get(obj["kind"], name_of(obj), obj["metadata"].get("namespace"))
