"""The snapshot verbs: snapshot a claim, await readyToUse, restore, clone, import a handle.

Why it exists: a VolumeSnapshot's life (rendered with the session's class for a deletion
policy, awaited with ``snapshotReady``, its content adopted for cleanup) and the
pre-provisioned ones (a retained backend snapshot, an imported handle, a static binding,
a deliberately invalid spec) live here once.

Must not: assert conformance expectations (suites do).
"""

from __future__ import annotations

from typing import Any, NamedTuple

from conformance import workload
from conformance.actions.base import (
    FOREIGN_DRIVER,
    Obj,
    _present,
    name_of,
)
from conformance.actions.pods import PodActions
from conformance.kube import dig
from conformance.waits import (
    content_ready,
    snapshot_has_error,
    snapshot_ready,
)

SNAPSHOT_API_GROUP = "snapshot.storage.k8s.io"
ALLOW_VOLUME_MODE_CHANGE = "snapshot.storage.kubernetes.io/allow-volume-mode-change"


class Retained(NamedTuple):
    """A backend snapshot whose VolumeSnapshot is gone and whose content is kept."""

    written: workload.Result
    handle: str
    snapshot: Obj
    """The deleted VolumeSnapshot as it was when ready."""
    content: Obj
    """Its content as it was when the snapshot was ready."""


class Imported(NamedTuple):
    """A pre-provisioned snapshot: the VolumeSnapshot and the content it names."""

    snapshot: Obj
    content: Obj


class SnapshotActions(PodActions):
    """VolumeSnapshots and their contents, dynamic and pre-provisioned; restores and clones."""

    def snapshot(
        self,
        pvc: Obj,
        *,
        deletion_policy: str = "Delete",
        snapshot_class: str | None = None,
        name: str | None = None,
        broken: bool = False,
    ) -> Obj:
        """Create a VolumeSnapshot of ``pvc`` (not awaited).

        ``broken``: invalid on purpose, so cleanup may release it (:meth:`mark_broken`).
        """
        obj = self.renderer.render(
            "volumesnapshot",
            name=name or self.fresh_name("snap"),
            namespace=self.namespace,
            snapshot_class=snapshot_class or self.classes.snapshot_class(deletion_policy),
            source_pvc=name_of(pvc),
            source_content=None,
        )
        created = self.tracker.create(obj)
        if broken:
            self.mark_broken(created)
        return created

    def wait_ready(
        self, snapshot: Obj, *, op: str | None = None, timeout: float | None = None
    ) -> Obj:
        """Wait for readyToUse; adopts the bound content for cleanup.

        ``op`` defaults to ``preprovisioned-ready`` for a snapshot naming a content,
        ``snapshot-ready`` for one of a claim.
        """
        name = name_of(snapshot)
        static = dig(snapshot, "spec", "source", "volumeSnapshotContentName")
        op = op or ("preprovisioned-ready" if static else "snapshot-ready")
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
        self, snapshot: Obj, *, size: int | None = None, mode: str | None = None, **kwargs: Any
    ) -> Obj:
        """Create a PVC restored from ``snapshot`` (not awaited)."""
        source = {
            "kind": "VolumeSnapshot",
            "name": name_of(snapshot),
            "apiGroup": SNAPSHOT_API_GROUP,
        }
        return self.pvc(size=size, mode=mode, data_source=source, **kwargs)

    def clone(
        self, pvc: Obj, *, size: int | None = None, mode: str | None = None, **kwargs: Any
    ) -> Obj:
        """Create a PVC cloned from ``pvc`` (not awaited)."""
        source = {"kind": "PersistentVolumeClaim", "name": name_of(pvc), "apiGroup": None}
        return self.pvc(size=size, mode=mode, data_source=source, **kwargs)

    def retained_snapshot(self, *, mode: str | None = None) -> Retained:
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
        broken: bool = False,
    ) -> Imported:
        """A pre-provisioned content for ``handle`` and the VolumeSnapshot naming it.

        Retain by default: a content that fails to bind must not delete the backend
        snapshot another object still uses; cleanup flips it to Delete. With ``broken``
        both are invalid on purpose, so cleanup may release them (:meth:`mark_broken`).
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
        if broken:
            self.mark_broken(snap, content)
        return Imported(snap, content)

    def reimport_deleted(self, handle: str) -> tuple[Obj, Obj | None]:
        """Import the handle of a backend snapshot that should be gone; what it settles to.

        The import is broken on purpose (cleanup may release it). Returns the
        VolumeSnapshot as it is once its content either reported an error or became
        ready (or ``errorStatus`` passed), and that content state; a driver that really
        deleted the snapshot never lets either be ready.
        """
        snap, content = self.import_snapshot(handle, broken=True)
        settled = self.wait_for(
            content,
            lambda obj: snapshot_has_error(obj) or content_ready(obj),
            op="reimport-settled",
            timeout=self.profile.timeouts.error_status,
        )
        return self.get(snap), settled

    def snapshot_of_content(
        self, content_name: str, *, name: str | None = None, broken: bool = False
    ) -> Obj:
        """A VolumeSnapshot that names an existing content (static binding).

        ``broken``: invalid on purpose, so cleanup may release it (:meth:`mark_broken`).
        """
        created = self.tracker.create(
            self.renderer.render(
                "volumesnapshot",
                name=name or self.fresh_name("snap"),
                namespace=self.namespace,
                snapshot_class=None,
                source_pvc=None,
                source_content=content_name,
            )
        )
        if broken:
            self.mark_broken(created)
        return created

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
                driver=FOREIGN_DRIVER,
                deletion_policy="Delete",
                parameters={},
            )
        )
        return name

    def allow_volume_mode_change(self, snapshot: Obj) -> Obj:
        """Annotate the snapshot's content so a restore may change its volume mode."""
        content = self.content_of(snapshot)
        patch = {"metadata": {"annotations": {ALLOW_VOLUME_MODE_CHANGE: "true"}}}
        return self.kube.patch("VolumeSnapshotContent", name_of(content), None, patch)
