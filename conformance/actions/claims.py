"""The claims verbs: make a PVC, wait until it is Bound, reach its PV, import a volume.

Why it exists: a claim is where every suite starts; how it is rendered (class, access
modes, size, data source, labels), awaited (``claimProvision``, or ``dataSourceProvision``
for a restore or clone) and adopted for cleanup lives here once.

Must not: assert conformance expectations (suites do), or run pods (``pods``).
"""

from __future__ import annotations

from typing import Any

from conformance.actions.base import (
    FOREIGN_DRIVER,
    ActionsBase,
    Obj,
    _present,
    name_of,
)
from conformance.kube import dig
from conformance.units import format_quantity
from conformance.waits import (
    pvc_bound,
)

_BOUND_OPS = {"VolumeSnapshot": "restore-bound", "PersistentVolumeClaim": "clone-bound"}
"""The timing name of :meth:`ClaimActions.wait_bound` by the claim's data source kind."""


class ClaimActions(ActionsBase):
    """PVCs and PVs: create, await Bound, pre-provision from a volume handle."""

    def pvc(
        self,
        *,
        size: int | None = None,
        mode: str | None = None,
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
        mode = mode or self.volume_mode
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

    def wait_bound(self, pvc: Obj, *, op: str | None = None, timeout: float | None = None) -> Obj:
        """Wait until the PVC is Bound; adopts its PV for cleanup.

        A restore or clone (a PVC with a data source) gets the profile's
        ``dataSourceProvision`` timeout, any other PVC ``claimProvision``; ``op``
        defaults to ``restore-bound``, ``clone-bound`` or ``pvc-bound`` accordingly.
        """
        name = name_of(pvc)
        timeouts = self.profile.timeouts
        from_source = bool((pvc.get("spec") or {}).get("dataSource"))
        op = op or _BOUND_OPS.get(dig(pvc, "spec", "dataSource", "kind"), "pvc-bound")
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

    def static_pv(
        self,
        handle: str,
        *,
        capacity: str,
        mode: str,
        claim_name: str,
        attributes: dict[str, str],
        node_affinity: Any,
        driver: str | None = None,
    ) -> Obj:
        """A pre-provisioned PV for an existing volume handle, reserved for ``claim_name``.

        ``driver`` is the profile's unless given (a claim of another driver, never mounted).
        """
        driver = driver or self.profile.driver
        terms = ((node_affinity or {}).get("required") or {}).get("nodeSelectorTerms") or []
        expression = (terms[0].get("matchExpressions") or [None])[0] if terms else None
        obj = self.renderer.render(
            "persistentvolume",
            name=self.cluster_scoped_name("pv"),
            driver=driver,
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
        obj["metadata"].setdefault("annotations", {})["pv.kubernetes.io/provisioned-by"] = driver
        return self.tracker.create(obj)

    def import_volume(self, old_pv: Obj, *, mode: str | None = None) -> Obj:
        """A static PV of ``old_pv``'s volume handle and a PVC bound to it (awaited).

        How a backend volume is reached without its old API objects: after a Retain
        reclaim it must still hold its data; after a Delete reclaim it must be gone.
        """
        mode = mode or self.volume_mode
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

    def foreign_claim(self, *, labels: dict[str, str] | None = None) -> Obj:
        """A Bound PVC of a volume of :data:`FOREIGN_DRIVER` (a static PV; never mounted)."""
        claim_name = self.fresh_name("foreign")
        size = format_quantity(self.profile.sizes.default_bytes)
        pv = self.static_pv(
            f"snapconf-foreign-{claim_name}", capacity=size, mode="Filesystem",
            claim_name=claim_name, attributes={}, node_affinity=None, driver=FOREIGN_DRIVER,
        )  # fmt: skip
        # No provisioner will ever delete it: cleanup must not flip its Retain policy and
        # wait for one (that waited out half the cleanup budget), but delete it as it is.
        self.mark_broken(pv)
        pvc = self.pvc(storage_class="", volume_name=name_of(pv), name=claim_name, labels=labels)
        return self.wait_bound(pvc)
