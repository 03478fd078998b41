"""The profile's model: what a driver declares, as frozen dataclasses, and what it may declare.

Why it exists: every suite decides what to run from one :class:`Profile`, whichever file
format it came from; the tables of what a profile may say (:data:`CAPABILITIES`, access
modes, policies, binding modes) live beside it so validation and docs read one list.
:func:`redact_parameters` keeps secret class parameters out of reports.

Must not: read files or validate input (``validation``, ``snapconf``, ``e2e`` do), or touch
the cluster.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.units import format_duration, format_quantity

#: Every capability a profile may declare, with what declaring it promises. The first
#: group are the Kubernetes e2e ``DriverInfo`` capability keys (same names, so an e2e
#: testdriver.yaml maps 1:1); the last group are snapconf's own.
CAPABILITIES: Final[dict[str, str]] = {
    # k8s.io/kubernetes test/e2e/storage/framework/testdriver.go
    "persistence": "data written to a volume survives the pod that wrote it",
    "block": "volumes can be used in raw block mode (volumeMode: Block)",
    "fsGroup": "volume ownership follows the pod's fsGroup",
    "volumeMountGroup": "the node plugin has the VOLUME_MOUNT_GROUP capability",
    "exec": "files on the volume can be executed",
    "snapshotDataSource": "a volume can be provisioned from a VolumeSnapshot",
    "pvcDataSource": "a volume can be cloned from another PVC",
    "multipods": "several pods on one node can use the same volume at once",
    "RWX": "volumes support the ReadWriteMany access mode",
    "controllerExpansion": "the controller can expand a volume",
    "nodeExpansion": "the node plugin can expand a volume's file system",
    "onlineExpansion": "a volume can be expanded while a pod uses it",
    "offlineExpansion": "a volume can be expanded while no pod uses it",
    "volumeLimits": "the node plugin reports a maximum number of volumes per node",
    "singleNodeVolume": "a volume is reachable from one node only (like hostpath)",
    "topology": "the driver reports accessible topology for its volumes",
    "capacity": "the driver publishes storage capacity for its classes",
    "FSResizeFromSourceNotSupported": (
        "the file system of a volume restored or cloned into a larger size is not resized"
    ),
    "readWriteOncePod": "volumes support the ReadWriteOncePod access mode",
    "multiplePVsSameID": "two PersistentVolumes may share one volume handle",
    "capReadOnlyMany": "volumes support the ReadOnlyMany access mode",
    "groupSnapshot": "the driver can snapshot a group of volumes together",
    # snapconf's own
    "preProvisionedSnapshot": (
        "an existing snapshot handle can be imported through a static VolumeSnapshotContent"
    ),
    "preProvisionedVolume": "an existing volume handle can be used through a static PV",
    "restoreSizeAboveCapacity": (
        "the driver may report a snapshot restoreSize larger than the source PVC's capacity"
    ),
}

ACCESS_MODES: Final = ("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod")
PULL_POLICIES: Final = ("Always", "IfNotPresent", "Never")
RECLAIM_POLICIES: Final = ("Delete", "Retain")
BINDING_MODES: Final = ("Immediate", "WaitForFirstConsumer")
REDACTED: Final = "<redacted>"

KI: Final = 1024
MI: Final = 1024 * KI
GI: Final = 1024 * MI

DEFAULT_MIN_BYTES: Final = MI
DEFAULT_SIZE_BYTES: Final = GI
#: The e2e loader's default ``SupportedSizeRange.Min``.
E2E_DEFAULT_MIN_BYTES: Final = 5 * GI
DEFAULT_PAYLOAD_BYTES: Final = 16 * MI


class ProfileError(Exception):
    """A profile that cannot be used; the message names the file and the key path.

    Example: ``profiles/x.yaml: capabilities.snapshotDatasource: unknown capability, did
    you mean snapshotDataSource?``
    """

    def __init__(self, reason: str, *, source: str | None = None, path: str | None = None):
        self.reason = reason
        self.source = source
        self.path = path
        super().__init__(": ".join(part for part in (source, path, reason) if part))


@dataclass(frozen=True)
class ClassSpec:
    """A StorageClass, VolumeSnapshotClass or VolumeGroupSnapshotClass: by ``name``, or to create.

    ``create`` holds the class fields snapconf sets when it creates the class
    (``parameters``, and for a StorageClass ``reclaimPolicy``, ``volumeBindingMode``,
    ``allowVolumeExpansion``, ``mountOptions``); ``{}`` means the driver's defaults.
    """

    name: str | None = None
    create: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.name is None) == (self.create is None):
            raise ValueError("ClassSpec: set exactly one of name or create")

    def to_dict(self) -> dict[str, Any]:
        """The profile form, with secret-looking parameter values redacted."""
        if self.name is not None:
            return {"name": self.name}
        create = dict(self.create or {})
        if "parameters" in create:
            create["parameters"] = redact_parameters(create["parameters"])
        if "mountOptions" in create:
            create["mountOptions"] = list(create["mountOptions"])
        return {"create": create}


@dataclass(frozen=True)
class Sizes:
    """Volume sizes in bytes: the driver's smallest, the one tests use, the largest."""

    min_bytes: int = DEFAULT_MIN_BYTES
    default_bytes: int = DEFAULT_SIZE_BYTES
    max_bytes: int | None = None

    def to_dict(self) -> dict[str, str]:
        """The profile form (``{"min": "1Mi", "default": "1Gi"}``; no ``max`` when unset)."""
        out = {
            "min": format_quantity(self.min_bytes),
            "default": format_quantity(self.default_bytes),
        }
        if self.max_bytes is not None:
            out["max"] = format_quantity(self.max_bytes)
        return out


#: Profile key -> Timeouts field.
TIMEOUT_KEYS: Final = {
    "claimProvision": "claim_provision",
    "snapshotReady": "snapshot_ready",
    "podStart": "pod_start",
    "podDelete": "pod_delete",
    "delete": "delete",
    "dataSourceProvision": "data_source_provision",
    "errorStatus": "error_status",
    "clockSkew": "clock_skew",
}


@dataclass(frozen=True)
class Timeouts:
    """How long each awaited state may take, in seconds (defaults follow the e2e framework).

    ``error_status`` is how long a negative test waits for an error to show in a status or
    an Event; it is short because the error usually comes at once. ``clock_skew`` is not a
    wait: it is how far the driver's or backend's clock (and a node's, for the timestamps
    of pod logs) may be from this machine's when times they report are compared with ours
    (snapshot creation times; the window of the component logs a failed test carries).
    """

    claim_provision: float = 300.0
    snapshot_ready: float = 300.0
    pod_start: float = 300.0
    pod_delete: float = 300.0
    delete: float = 300.0
    data_source_provision: float = 300.0
    error_status: float = 60.0
    clock_skew: float = 5.0

    def to_dict(self) -> dict[str, str]:
        """The profile form, Go-style durations keyed like the YAML (``claimProvision: 5m``)."""
        return {key: format_duration(getattr(self, attr)) for key, attr in TIMEOUT_KEYS.items()}


@dataclass(frozen=True)
class Workload:
    """The pods that write and verify data: their image and how much data they write.

    ``exec`` (profile ``workload.exec``, default true) runs each write/read step by exec
    in one pod per volume; false runs every step in a pod of its own, for clusters that
    forbid exec (slower: a pod start and exit per step, the same checks).
    """

    image: str = "docker.io/library/busybox:1.35"
    pull_policy: str = "IfNotPresent"
    payload_bytes: int = DEFAULT_PAYLOAD_BYTES
    exec: bool = True

    def to_dict(self) -> dict[str, str | bool]:
        """The profile form (``image``, ``pullPolicy``, ``payload``, ``exec``)."""
        return {
            "image": self.image,
            "pullPolicy": self.pull_policy,
            "payload": format_quantity(self.payload_bytes),
            "exec": self.exec,
        }


@dataclass(frozen=True)
class Stress:
    """Scale of the stress area: volumes at once, and snapshots of each."""

    volumes: int = 5
    snapshots: int = 5

    def to_dict(self) -> dict[str, int]:
        """The profile form."""
        return {"volumes": self.volumes, "snapshots": self.snapshots}


@dataclass(frozen=True)
class PodSelector:
    """Pods of the driver under test: a label selector in one namespace.

    A failed test carries the logs of every container of the matching pods (the driver and
    its CSI sidecars) for the test's time window.
    """

    namespace: str
    selector: str

    def to_dict(self) -> dict[str, str]:
        """The profile form (``{"namespace": ..., "selector": ...}``)."""
        return {"namespace": self.namespace, "selector": self.selector}


@dataclass(frozen=True)
class Profile:
    """A validated driver profile; build one with :func:`load_profile`.

    ``storage_class`` and ``snapshot_class`` are always set (loading refuses a profile
    without either); ``wffc_storage_class`` is optional and its absence skips the
    late-binding tests. ``group_snapshot_class`` (a VolumeGroupSnapshotClass) is set
    whenever the profile declares ``groupSnapshot`` (loading refuses one without it).
    ``capabilities`` holds what the file declares, in file order; a capability it does
    not mention is not declared. ``driver_pods`` name the driver's pods
    whose logs a failed test carries (none: only the snapshot-controller's, or on the
    embedded testbed its host processes' logs). ``source`` is where the profile came
    from and ``format`` which syntax it used (``"snapconf"`` or ``"e2e"``).
    """

    driver: str
    storage_class: ClassSpec
    snapshot_class: ClassSpec
    wffc_storage_class: ClassSpec | None = None
    group_snapshot_class: ClassSpec | None = None
    capabilities: dict[str, bool] = field(default_factory=dict)
    access_modes: tuple[str, ...] = ("ReadWriteOnce",)
    sizes: Sizes = field(default_factory=Sizes)
    timeouts: Timeouts = field(default_factory=Timeouts)
    workload: Workload = field(default_factory=Workload)
    stress: Stress = field(default_factory=Stress)
    driver_pods: tuple[PodSelector, ...] = ()
    source: str = "<string>"
    format: str = "snapconf"

    def has(self, cap: str) -> bool:
        """Whether the profile declares ``cap`` as true.

        Raises:
            ValueError: ``cap`` is not a known capability, so a typo in a suite surfaces
                instead of skipping its tests forever.
        """
        if cap not in CAPABILITIES:
            raise ValueError(f"unknown capability {cap!r}{_did_you_mean(cap, CAPABILITIES)}")
        return self.capabilities.get(cap, False)

    def to_dict(self) -> dict[str, Any]:
        """The profile in snapconf's YAML shape, JSON-serialisable, secrets redacted.

        For the report; without secrets it loads back into an equal profile.
        """
        out: dict[str, Any] = {"driver": self.driver, "storageClass": self.storage_class.to_dict()}
        if self.wffc_storage_class is not None:
            out["wffcStorageClass"] = self.wffc_storage_class.to_dict()
        out["snapshotClass"] = self.snapshot_class.to_dict()
        if self.group_snapshot_class is not None:
            out["groupSnapshotClass"] = self.group_snapshot_class.to_dict()
        out["capabilities"] = dict(self.capabilities)
        out["accessModes"] = list(self.access_modes)
        out["sizes"] = self.sizes.to_dict()
        out["timeouts"] = self.timeouts.to_dict()
        out["workload"] = self.workload.to_dict()
        out["stress"] = self.stress.to_dict()
        if self.driver_pods:
            out["driverPods"] = [pods.to_dict() for pods in self.driver_pods]
        return out


# Parameter keys whose values are secrets, after lowercasing and keeping only [a-z0-9] ...
_SECRET_PARTS: Final = (
    "secret",
    "password",
    "passwd",
    "passphrase",
    "token",
    "credential",
    "apikey",
    "accesskey",
    "privatekey",
)
# ... unless they only name a Secret object (csi.storage.k8s.io/provisioner-secret-name).
_REFERENCE_SUFFIXES: Final = ("secretname", "secretnamespace")


def is_secret_parameter(key: str) -> bool:
    """Whether a class parameter's value must not appear in reports.

    Keys that only name or locate a Secret (``csi.storage.k8s.io/*-secret-name`` and
    ``-namespace``) are not secret: showing them helps debugging and leaks nothing.
    """
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    if norm.endswith(_REFERENCE_SUFFIXES):
        return False
    return any(part in norm for part in _SECRET_PARTS)


def redact_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of class parameters with secret values replaced by ``"<redacted>"``."""
    return {k: REDACTED if is_secret_parameter(k) else v for k, v in parameters.items()}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    options = list(choices)
    by_lower = {c.lower(): c for c in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        # A truncated key ("pull" for "pullPolicy") scores too low for difflib.
        close = [c for c in by_lower if c.startswith(word.lower())][:1]
    if close:
        return f", did you mean {by_lower[close[0]]}?"
    return f" (expected one of: {', '.join(options)})"
