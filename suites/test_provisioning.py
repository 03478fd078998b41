"""provisioning: dynamic and pre-provisioned volumes bind with the promised properties."""

from __future__ import annotations

import pytest

from conformance.actions import ClusterActions, name_of
from conformance.objects import (
    capacity_of,
    handle_of,
    phase_of,
    requested_of,
    uid_of,
    volume_name_of,
)
from conformance.params import BINDING_MODES, EACH_VOLUME_MODE

pytestmark = pytest.mark.area("provisioning")


@pytest.mark.requires("persistence")
@EACH_VOLUME_MODE
@pytest.mark.parametrize("late_binding", BINDING_MODES, indirect=True)
def test_dynamic_pvc_binds_with_class_properties(
    cluster: ClusterActions, volume_mode: str, late_binding: bool
) -> None:
    """The PV matches the request and the class, and its claimRef points back."""
    pvc = cluster.pvc(late_binding=late_binding)
    if late_binding:
        cluster.wait_for_event(pvc, reason="WaitForFirstConsumer")
        waiting = cluster.get(pvc)
        assert phase_of(waiting) == "Pending", "a late-binding PVC bound early"
        assert not volume_name_of(waiting), "a late-binding PVC got a volume early"
        cluster.write_data(pvc)  # the first consumer triggers binding
    bound = cluster.wait_bound(pvc)
    pv = cluster.pv_of(bound)
    sc = cluster.class_of(bound)
    requested = requested_of(bound)

    assert capacity_of(pv) >= requested, "the PV capacity is smaller than the requested size"
    assert capacity_of(bound) >= requested, "the PVC capacity is smaller than the requested size"
    assert set(pv["spec"]["accessModes"]) >= set(bound["spec"]["accessModes"])
    assert pv["spec"].get("volumeMode", "Filesystem") == volume_mode
    assert pv["spec"]["persistentVolumeReclaimPolicy"] == sc.get("reclaimPolicy", "Delete")
    assert sorted(pv["spec"].get("mountOptions") or []) == sorted(sc.get("mountOptions") or [])
    assert pv["spec"]["storageClassName"] == name_of(sc)
    assert pv["spec"]["csi"]["driver"] == cluster.profile.driver
    assert handle_of(pv)
    ref = pv["spec"]["claimRef"]
    assert (ref["name"], ref["namespace"], ref["uid"]) == (
        name_of(bound),
        cluster.namespace,
        uid_of(bound),
    )
    assert phase_of(pv) == "Bound"


@pytest.mark.requires("persistence", "preProvisionedVolume")
@EACH_VOLUME_MODE
def test_static_pv_binds_existing_volume_and_keeps_data(cluster: ClusterActions) -> None:
    """An existing volume handle, as a static PV, binds to a PVC naming it; data is readable."""
    source = cluster.bound_pvc(storage_class=cluster.classes.storage_class(reclaim="Retain"))
    written = cluster.write_data(source)
    old_pv = cluster.pv_of(source)
    cluster.delete(source)
    cluster.delete(old_pv)  # Retain: the backend volume stays

    bound = cluster.import_volume(old_pv)
    pv = cluster.pv_of(bound)
    assert handle_of(pv) == handle_of(old_pv), (
        "the static PVC is not bound to the PV of the existing volume handle"
    )
    assert cluster.read_data(bound).sha256 == written.sha256
