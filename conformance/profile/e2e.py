"""An unchanged Kubernetes e2e external-storage ``testdriver.yaml`` as a :class:`Profile`.

Why it exists: a driver that already has a ``testdriver.yaml`` for the e2e suite runs
snapconf with it as is (``DriverInfo``, ``StorageClass``, ``SnapshotClass``,
``GroupSnapshotClass`` (e2e 1.37+), ``Timeouts``);
keys e2e knows but snapconf has no use for are accepted and ignored.

Must not: accept a snapconf key in the same file (one format per file), or touch the cluster.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from conformance.profile.model import (
    DEFAULT_PAYLOAD_BYTES,
    E2E_DEFAULT_MIN_BYTES,
    ClassSpec,
    Profile,
    Stress,
    Timeouts,
    Workload,
)
from conformance.profile.snapconf import _SNAPCONF_KEYS
from conformance.profile.validation import (
    _SNAPSHOT_CLASS_FIELDS,
    _STORAGE_CLASS_FIELDS,
    _access_modes,
    _bool,
    _capabilities,
    _check_keys,
    _class_create,
    _count,
    _driver_name,
    _duration,
    _Invalid,
    _join,
    _load_yaml,
    _mapping,
    _object_name,
    _show,
    _size_range,
    _string,
)

# ---------------------------------------------------------------- e2e testdriver.yaml
# k8s.io/kubernetes test/e2e/storage/external/external.go (driverDefinition) and
# test/e2e/framework/timeouts.go. Keys e2e knows but snapconf has no use for are
# accepted and ignored; anything else is an error.

_E2E_MARKERS: Final = ("DriverInfo", "StorageClass", "SnapshotClass", "Timeouts")
_E2E_IGNORED: Final = ("VolumeAttributesClass", "InlineVolumes", "ClientNodeName", "NodeSelectors")
_E2E_DRIVER_INFO: Final = (
    "Name",
    "SupportedSizeRange",
    "Capabilities",
    "RequiredAccessModes",
    "VolumeSnapshotStressTestOptions",
)
_E2E_DRIVER_INFO_IGNORED: Final = (
    "InTreePluginName",
    "FeatureTag",
    "MaxFileSize",
    "SupportedFsType",
    "SupportedMountOption",
    "RequiredMountOption",
    "TopologyKeys",
    "NumAllowedTopologies",
    "StressTestOptions",
    "VolumeGroupSnapshotStressTestOptions",
    "PerformanceTestOptions",
)
_E2E_CLASS_KEYS: Final = ("FromName", "FromFile", "FromExistingClassName")
#: e2e timeout key -> Timeouts field; None: a valid e2e timeout snapconf does not use.
#: PVDelete and SnapshotDelete both feed ``delete`` (the longer wins);
#: ClaimProvisionShort, e2e's "expect it to fail fast" wait, feeds ``error_status``.
_E2E_TIMEOUTS: Final[dict[str, str | None]] = {
    "ClaimProvision": "claim_provision",
    "SnapshotCreate": "snapshot_ready",
    "PodStart": "pod_start",
    "PodDelete": "pod_delete",
    "PVDelete": "delete",
    "SnapshotDelete": "delete",
    "DataSourceProvision": "data_source_provision",
    "ClaimProvisionShort": "error_status",
    "Poll": None,
    "PodStartShort": None,
    "PodStartSlow": None,
    "ClaimBound": None,
    "PVReclaim": None,
    "PVBound": None,
    "PVCreate": None,
    "PVDeleteSlow": None,
    "SnapshotControllerMetrics": None,
    "SystemPodsStartup": None,
    "NodeSchedulable": None,
    "SystemDaemonsetStartup": None,
    "NodeNotReady": None,
}


def _from_e2e(doc: dict[str, object], source: str, base_dir: Path) -> Profile:
    for key in doc:
        if key in _SNAPCONF_KEYS:
            markers = ", ".join(k for k in _E2E_MARKERS if k in doc)
            raise _Invalid(
                key,
                f"a snapconf key in an e2e testdriver.yaml (the file has {markers}); "
                "use one format per file",
            )
    _check_keys(doc, (*_E2E_MARKERS, "GroupSnapshotClass"), "", ignored=_E2E_IGNORED)
    if doc.get("DriverInfo") is None:
        raise _Invalid("DriverInfo", "required: at least DriverInfo.Name")
    info = _mapping(doc["DriverInfo"], "DriverInfo")
    _check_keys(info, _E2E_DRIVER_INFO, "DriverInfo", ignored=_E2E_DRIVER_INFO_IGNORED)
    if info.get("Name") is None:
        raise _Invalid("DriverInfo.Name", "required: the CSI driver's name")
    driver = _driver_name(info["Name"], "DriverInfo.Name")

    storage_class = _e2e_class(doc.get("StorageClass"), "StorageClass", driver, base_dir)
    if storage_class is None:
        raise _Invalid(
            "StorageClass",
            "required: snapconf needs a StorageClass (FromName, FromFile or FromExistingClassName)",
        )
    snapshot_class = _e2e_class(
        doc.get("SnapshotClass"), "SnapshotClass", driver, base_dir, snapshot=True
    )
    if snapshot_class is None:
        # e2e reads a missing SnapshotClass as "no snapshot support" and skips the
        # snapshot suites; snapconf has nothing else to test.
        raise _Invalid(
            "SnapshotClass",
            "required: snapconf tests snapshots and needs a VolumeSnapshotClass "
            "(FromName, FromFile or FromExistingClassName)",
        )

    capabilities = _capabilities(info.get("Capabilities"), "DriverInfo.Capabilities")
    if capabilities.get("controllerExpansion"):
        # As the e2e loader does, for files written before these two existed.
        capabilities.setdefault("onlineExpansion", True)
        capabilities.setdefault("offlineExpansion", True)
    # GroupSnapshotClass came with e2e 1.37; a file written for an older e2e declares the
    # capability alone: snapconf then creates a class with the driver's defaults, as e2e's
    # own CSI drivers do (GenerateVolumeGroupSnapshotClassSpec, no parameters). Without
    # the capability the section is unused, as in e2e.
    group_class = _e2e_class(
        doc.get("GroupSnapshotClass"), "GroupSnapshotClass", driver, base_dir, snapshot=True,
        group=True,
    )  # fmt: skip
    if not capabilities.get("groupSnapshot"):
        group_class = None
    elif group_class is None:
        group_class = ClassSpec(create={})

    range_doc = _mapping(info.get("SupportedSizeRange"), "DriverInfo.SupportedSizeRange")
    _check_keys(range_doc, ("Min", "Max"), "DriverInfo.SupportedSizeRange")
    sizes = _size_range(
        {"min": range_doc.get("Min"), "max": range_doc.get("Max")},
        {"min": "DriverInfo.SupportedSizeRange.Min", "max": "DriverInfo.SupportedSizeRange.Max"},
        default_min=E2E_DEFAULT_MIN_BYTES,
    )

    stress_doc = _mapping(
        info.get("VolumeSnapshotStressTestOptions"), "DriverInfo.VolumeSnapshotStressTestOptions"
    )
    where = "DriverInfo.VolumeSnapshotStressTestOptions"
    _check_keys(stress_doc, ("NumPods", "NumSnapshots"), where)
    stress = Stress()
    if stress_doc.get("NumPods") is not None:
        stress = Stress(_count(stress_doc["NumPods"], f"{where}.NumPods"), stress.snapshots)
    if stress_doc.get("NumSnapshots") is not None:
        stress = Stress(stress.volumes, _count(stress_doc["NumSnapshots"], f"{where}.NumSnapshots"))

    return Profile(
        driver=driver,
        storage_class=storage_class,
        wffc_storage_class=None,
        snapshot_class=snapshot_class,
        group_snapshot_class=group_class,
        capabilities=capabilities,
        access_modes=_access_modes(
            info.get("RequiredAccessModes"), "DriverInfo.RequiredAccessModes"
        ),
        sizes=sizes,
        timeouts=_e2e_timeouts(doc.get("Timeouts")),
        workload=Workload(payload_bytes=min(DEFAULT_PAYLOAD_BYTES, sizes.default_bytes // 2)),
        stress=stress,
        source=source,
        format="e2e",
    )


def _e2e_timeouts(value: object) -> Timeouts:
    given = _mapping(value, "Timeouts")
    _check_keys(given, _E2E_TIMEOUTS, "Timeouts")
    fields: dict[str, float] = {}
    for key, raw in given.items():
        seconds = _duration(raw, _join("Timeouts", key))
        attr = _E2E_TIMEOUTS[key]
        if attr is not None:
            fields[attr] = max(seconds, fields.get(attr, 0.0))
    return Timeouts(**fields)


def _e2e_class(
    value: object,
    path: str,
    driver: str,
    base_dir: Path,
    *,
    snapshot: bool = False,
    group: bool = False,
) -> ClassSpec | None:
    """An e2e StorageClass/SnapshotClass/GroupSnapshotClass section; None when it sets nothing."""
    section = _mapping(value, path)
    _check_keys(section, _E2E_CLASS_KEYS, path)
    from_name = section.get("FromName")
    from_file = section.get("FromFile")
    existing = section.get("FromExistingClassName")
    chosen = [
        key
        for key, val in (
            ("FromName", from_name),
            ("FromFile", from_file),
            ("FromExistingClassName", existing),
        )
        if val not in (None, False, "")
    ]
    if len(chosen) > 1:
        raise _Invalid(
            path, f"set only one of {', '.join(_E2E_CLASS_KEYS)} (got {' and '.join(chosen)})"
        )
    if from_name is not None:
        _bool(from_name, _join(path, "FromName"))
    if not chosen:
        return None
    if chosen[0] == "FromName":
        return ClassSpec(create={})
    if chosen[0] == "FromExistingClassName":
        return ClassSpec(name=_object_name(existing, _join(path, "FromExistingClassName")))
    where = _join(path, "FromFile")
    return ClassSpec(
        create=_class_from_file(
            _string(from_file, where), where, driver, base_dir, snapshot=snapshot, group=group
        )
    )


def _class_from_file(
    name: str, path: str, driver: str, base_dir: Path, *, snapshot: bool, group: bool = False
) -> dict[str, Any]:
    """The create fields of a StorageClass/(Group)SnapshotClass manifest an e2e file names."""
    file = Path(name) if Path(name).is_absolute() else base_dir / name
    kind, owner = ("VolumeSnapshotClass", "driver") if snapshot else ("StorageClass", "provisioner")
    if group:
        kind = "VolumeGroupSnapshotClass"
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _Invalid(path, f"{file}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise _Invalid(path, f"{file}: cannot read ({err})") from None
    try:
        obj = _load_yaml(text)
        manifest = _mapping(obj, "")
        if manifest.get("kind") != kind:
            raise _Invalid("kind", f"expected {kind}, got {_show(manifest.get('kind'))}")
        if manifest.get(owner) is not None and manifest[owner] != driver:
            raise _Invalid(owner, f"{_show(manifest[owner])} is not DriverInfo.Name {driver!r}")
        fields = {
            k: manifest[k]
            for k in (_SNAPSHOT_CLASS_FIELDS if snapshot else _STORAGE_CLASS_FIELDS)
            if k in manifest
        }
        return _class_create(fields, "", snapshot=snapshot)
    except _Invalid as err:
        inner = f"{err.path}: " if err.path else ""
        raise _Invalid(path, f"{file}: {inner}{err.reason}") from None
