"""snapconf's own profile format (camelCase keys, see ``profiles/hostpath.yaml``).

Why it exists: the native format says everything a :class:`Profile` holds, with a hint
for each required key that is missing.

Must not: read files (the loader hands it the parsed mapping), or touch the cluster.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from conformance.profile.model import (
    DEFAULT_MIN_BYTES,
    PULL_POLICIES,
    TIMEOUT_KEYS,
    ClassSpec,
    Profile,
    Stress,
    Timeouts,
    Workload,
)
from conformance.profile.validation import (
    _access_modes,
    _bool,
    _capabilities,
    _check_keys,
    _choice,
    _class_create,
    _count,
    _driver_name,
    _driver_pods,
    _duration,
    _Invalid,
    _join,
    _mapping,
    _object_name,
    _quantity,
    _size_range,
    _string,
)
from conformance.units import format_quantity

_SNAPCONF_KEYS: Final = (
    "driver",
    "storageClass",
    "wffcStorageClass",
    "snapshotClass",
    "groupSnapshotClass",
    "capabilities",
    "accessModes",
    "sizes",
    "timeouts",
    "workload",
    "stress",
    "driverPods",
)


def _class_spec(value: object, path: str, *, snapshot: bool, wffc: bool = False) -> ClassSpec:
    spec = _mapping(value, path)
    _check_keys(spec, ("name", "create"), path)
    if ("name" in spec) == ("create" in spec):
        raise _Invalid(
            path,
            "set exactly one of name (an existing class) or create (snapconf creates one)",
        )
    if "name" in spec:
        return ClassSpec(name=_object_name(spec["name"], _join(path, "name")))
    where = _join(path, "create")
    return ClassSpec(create=_class_create(spec["create"], where, snapshot=snapshot, wffc=wffc))


def _required(doc: Mapping[str, object], key: str) -> object:
    value = doc.get(key)
    if value is None:
        raise _Invalid(key, "required" + _REQUIRED_HINTS[key])
    return value


def _from_snapconf(doc: dict[str, object], source: str) -> Profile:
    _check_keys(doc, _SNAPCONF_KEYS, "")
    driver = _driver_name(_required(doc, "driver"), "driver")
    storage_class = _class_spec(_required(doc, "storageClass"), "storageClass", snapshot=False)
    wffc = None
    if doc.get("wffcStorageClass") is not None:
        wffc = _class_spec(doc["wffcStorageClass"], "wffcStorageClass", snapshot=False, wffc=True)
    snapshot_class = _class_spec(_required(doc, "snapshotClass"), "snapshotClass", snapshot=True)
    capabilities = _capabilities(doc.get("capabilities"), "capabilities")
    group_class = None
    if doc.get("groupSnapshotClass") is not None:
        group_class = _class_spec(doc["groupSnapshotClass"], "groupSnapshotClass", snapshot=True)
    elif capabilities.get("groupSnapshot"):
        raise _Invalid(
            "groupSnapshotClass",
            "required when capabilities.groupSnapshot is true"
            + _REQUIRED_HINTS["groupSnapshotClass"],
        )

    sizes_doc = _mapping(doc.get("sizes"), "sizes")
    _check_keys(sizes_doc, ("min", "default", "max"), "sizes")
    sizes = _size_range(
        sizes_doc,
        {k: _join("sizes", k) for k in ("min", "default", "max")},
        default_min=DEFAULT_MIN_BYTES,
    )

    timeouts_doc = _mapping(doc.get("timeouts"), "timeouts")
    _check_keys(timeouts_doc, TIMEOUT_KEYS, "timeouts")
    timeouts = Timeouts(
        **{
            TIMEOUT_KEYS[key]: _duration(value, _join("timeouts", key))
            for key, value in timeouts_doc.items()
            if value is not None
        }
    )

    workload_doc = _mapping(doc.get("workload"), "workload")
    _check_keys(workload_doc, ("image", "pullPolicy", "payload", "exec"), "workload")
    workload = Workload()
    if workload_doc.get("image") is not None:
        image = _string(workload_doc["image"], "workload.image")
        if any(c.isspace() for c in image):
            raise _Invalid("workload.image", f"{image!r} is not an image reference")
        workload = Workload(image, workload.pull_policy, workload.payload_bytes)
    if workload_doc.get("pullPolicy") is not None:
        policy = _choice(workload_doc["pullPolicy"], "workload.pullPolicy", PULL_POLICIES)
        workload = Workload(workload.image, policy, workload.payload_bytes)
    if workload_doc.get("payload") is not None:
        payload = _quantity(workload_doc["payload"], "workload.payload")
        if payload > sizes.default_bytes:
            raise _Invalid(
                "workload.payload",
                f"{format_quantity(payload)} does not fit in a volume of sizes.default "
                f"{format_quantity(sizes.default_bytes)}",
            )
        workload = Workload(workload.image, workload.pull_policy, payload)
    elif workload.payload_bytes > sizes.default_bytes:
        # Only the default payload is adjusted to small volumes; a given one is checked.
        workload = Workload(workload.image, workload.pull_policy, sizes.default_bytes // 2)
    if workload_doc.get("exec") is not None:
        workload = replace(workload, exec=_bool(workload_doc["exec"], "workload.exec"))

    stress_doc = _mapping(doc.get("stress"), "stress")
    _check_keys(stress_doc, ("volumes", "snapshots"), "stress")
    stress = Stress(
        **{
            key: _count(value, _join("stress", key))
            for key, value in stress_doc.items()
            if value is not None
        }
    )

    return Profile(
        driver=driver,
        storage_class=storage_class,
        wffc_storage_class=wffc,
        snapshot_class=snapshot_class,
        group_snapshot_class=group_class,
        capabilities=capabilities,
        access_modes=_access_modes(doc.get("accessModes"), "accessModes"),
        sizes=sizes,
        timeouts=timeouts,
        workload=workload,
        stress=stress,
        driver_pods=_driver_pods(doc.get("driverPods"), "driverPods"),
        source=source,
        format="snapconf",
    )


_REQUIRED_HINTS: Final = {
    "driver": ": the CSI driver's name, like hostpath.csi.k8s.io",
    "storageClass": (
        ": {name: <existing StorageClass>} or {create: {parameters: {...}}} "
        "for snapconf to create one"
    ),
    "snapshotClass": (
        ": {name: <existing VolumeSnapshotClass>} or {create: {parameters: {...}}} "
        "for snapconf to create one"
    ),
    "groupSnapshotClass": (
        ": {name: <existing VolumeGroupSnapshotClass>} or {create: {parameters: {...}}} "
        "for snapconf to create one"
    ),
}
