"""Typed accessors of the fields the suites read: handles, sizes, readiness, bindings.

Why it exists: a suite says what it checks (``handle_of(pv)``, ``is_ready(content)``),
not where the API keeps it (``pv["spec"]["csi"]["volumeHandle"]``); each field's path is
written once, here. A field the API always sets on such an object is indexed, so a
missing one fails as the suites' own indexing did (``KeyError``); one that may be absent
is read with ``get`` and comes back as None (or False, or empty).

Must not: call the cluster, wait, or assert a conformance expectation (suites do).
"""

from __future__ import annotations

from typing import Any

from conformance.kube import Obj, dig
from conformance.units import parse_quantity


def uid_of(obj: Obj) -> str:
    """``metadata.uid``."""
    return str(obj["metadata"]["uid"])


def finalizers_of(obj: Obj) -> list[str]:
    """``metadata.finalizers`` (empty when there are none)."""
    return list(obj["metadata"].get("finalizers") or [])


def is_deleting(obj: Obj) -> bool:
    """Whether deletion was asked for (``metadata.deletionTimestamp`` is set)."""
    return obj["metadata"].get("deletionTimestamp") is not None


def phase_of(obj: Obj) -> Any:
    """``status.phase`` of a PVC, PV or pod (None when not set)."""
    return obj["status"].get("phase")


def volume_name_of(pvc: Obj) -> Any:
    """``spec.volumeName`` of a PVC: the PV it is bound to (None before it binds)."""
    return pvc["spec"].get("volumeName")


def requested_of(pvc: Obj) -> int:
    """The size a PVC asks for (``spec.resources.requests.storage``), in bytes."""
    return parse_quantity(pvc["spec"]["resources"]["requests"]["storage"])


def capacity_of(obj: Obj) -> int:
    """Bytes of a bound PVC's ``status.capacity`` or of a PV's ``spec.capacity``."""
    where = obj["spec"] if obj.get("kind") == "PersistentVolume" else obj["status"]
    return parse_quantity(where["capacity"]["storage"])


def handle_of(pv: Obj) -> Any:
    """A CSI PV's volume handle (``spec.csi.volumeHandle``)."""
    return pv["spec"]["csi"]["volumeHandle"]


def is_ready(obj: Obj) -> bool:
    """Whether a (group) snapshot or its content reports ``status.readyToUse: true``."""
    return dig(obj, "status", "readyToUse") is True


def error_of(obj: Obj) -> Any:
    """``status.error`` of a (group) snapshot or content (None when it reports none)."""
    return (obj.get("status") or {}).get("error")


def restore_size_of(snapshot: Obj) -> int:
    """A ready VolumeSnapshot's ``status.restoreSize``, in bytes."""
    return parse_quantity(snapshot["status"]["restoreSize"])


def snapshot_handle_of(content: Obj) -> Any:
    """A ready VolumeSnapshotContent's backend snapshot id (``status.snapshotHandle``)."""
    return content["status"]["snapshotHandle"]


def bound_content_name(snapshot: Obj) -> Any:
    """The content a VolumeSnapshot is bound to (``status.boundVolumeSnapshotContentName``)."""
    return (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName")


def bound_group_content_name(group: Obj) -> Any:
    """The content a VolumeGroupSnapshot is bound to (from its ``status``)."""
    return (group.get("status") or {}).get("boundVolumeGroupSnapshotContentName")


def deletion_policy_of(content: Obj) -> Any:
    """A (group) snapshot content's ``spec.deletionPolicy``."""
    return content["spec"]["deletionPolicy"]


def snapshot_ref_uid(content: Obj) -> Any:
    """The uid of the VolumeSnapshot a content names (``spec.volumeSnapshotRef.uid``)."""
    return content["spec"]["volumeSnapshotRef"]["uid"]
