"""The driver profile: what a CSI driver claims to support and how to test it.

Why it exists: a driver is data (a name, classes, a capability map, sizes, timeouts), and
every suite decides what to run from it. A typo in that data must not silently turn a
capability off or drop a timeout, as the e2e framework's loader does, so loading is strict:
every unknown key, wrong type, bad size or bad duration is a :class:`ProfileError` that
names the file and the key path, with a "did you mean" for near misses.

Two formats load into the same :class:`Profile`: snapconf's own YAML (camelCase keys, see
``profiles/hostpath.yaml``) and an unchanged Kubernetes e2e external-storage
``testdriver.yaml`` (``DriverInfo``, ``StorageClass``, ``SnapshotClass``,
``GroupSnapshotClass`` (e2e 1.37+), ``Timeouts``).

Must not: touch the cluster. Whether the named classes exist and belong to the driver is
the preflight's job; this module only reads files.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import yaml

from conformance.units import format_duration, format_quantity, parse_duration, parse_quantity

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


# ---------------------------------------------------------------- model


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


# ---------------------------------------------------------------- loading


def load_profile(path: Path) -> Profile:
    """Read and validate a profile file, in snapconf's format or as an e2e testdriver.yaml.

    Raises:
        ProfileError: the file cannot be read, is not YAML, or is not a valid profile.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError("no such file", source=source) from None
    except IsADirectoryError:
        raise ProfileError("is a directory, not a profile file", source=source) from None
    except UnicodeDecodeError:
        raise ProfileError("not UTF-8 text", source=source) from None
    except OSError as err:
        raise ProfileError(f"cannot read: {err.strerror or err}", source=source) from None
    return load_profile_text(text, source, base_dir=path.parent)


def load_profile_text(
    text: str, source: str = "<string>", *, base_dir: Path | None = None
) -> Profile:
    """Validate profile YAML given as text; ``source`` names it in messages.

    Args:
        text: the YAML.
        source: shown at the start of every error message and kept as ``Profile.source``.
        base_dir: where an e2e ``FromFile`` path is relative to (default: the working
            directory).

    Raises:
        ProfileError: not YAML, or not a valid profile.
    """
    try:
        data = _load_yaml(text)
        if data is None:
            raise _Invalid(
                "", "the file is empty; a profile needs at least driver and storageClass"
            )
        if not isinstance(data, dict):
            raise _Invalid("", f"expected a mapping at the top level, got {_show(data)}")
        doc = _mapping(data, "")
        if any(key in doc for key in _E2E_MARKERS):
            return _from_e2e(doc, source, base_dir or Path.cwd())
        return _from_snapconf(doc, source)
    except _Invalid as err:
        raise ProfileError(err.reason, source=source, path=err.path or None) from None


class _Invalid(Exception):
    """Internal: a validation failure at ``path``; the loader adds the source."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# ---------------------------------------------------------------- YAML


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key repeated in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[tuple[str, str]] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            key = (key_node.tag, key_node.value)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while reading a mapping",
                    node.start_mark,
                    f"found duplicate key {key_node.value!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> object:
    """Parse one YAML document; syntax errors become ``_Invalid`` with line and column."""
    loader = _StrictLoader(text)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = err.problem or err.context or "syntax error"
        raise _Invalid("", f"{where}invalid YAML: {problem}") from None
    except yaml.YAMLError as err:
        raise _Invalid("", f"invalid YAML: {err}") from None
    finally:
        loader.dispose()


# ---------------------------------------------------------------- checks


_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
# A lowercase RFC 1123 subdomain: CSIDriver and class object names.
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
# A lowercase RFC 1123 label: namespace names.
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if not _PLAIN_KEY.fullmatch(key):
        return f"{path}[{json.dumps(key)}]"
    return f"{path}.{key}" if path else key


def _show(value: object) -> str:
    text = json.dumps(value, default=str, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


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


def _mapping(value: object, path: str) -> dict[str, object]:
    """``value`` as a mapping with string keys; ``None`` (an empty section) is ``{}``."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(path, f"expected a mapping, got {_show(value)}")
    for key in value:
        if not isinstance(key, str):
            raise _Invalid(_join(path, str(key)), f"keys must be strings, got {_show(key)}")
    return dict(value)


def _check_keys(
    mapping: Mapping[str, object],
    allowed: Iterable[str],
    path: str,
    *,
    ignored: Iterable[str] = (),
) -> None:
    known = [*allowed, *ignored]
    for key in mapping:
        if key not in known:
            raise _Invalid(_join(path, key), "unknown key" + _did_you_mean(key, known))


def _string(value: object, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid(path, f"expected a non-empty string, got {_show(value)}")
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(path, f"expected true or false, got {_show(value)}")
    return value


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(path, f"expected a whole number, got {_show(value)}")
    if value < 1:
        raise _Invalid(path, f"must be at least 1, got {value}")
    return value


def _choice(value: object, path: str, choices: Iterable[str]) -> str:
    options = list(choices)
    if not isinstance(value, str):
        raise _Invalid(path, f"expected one of {', '.join(options)}, got {_show(value)}")
    if value not in options:
        raise _Invalid(path, f"unknown value {value!r}" + _did_you_mean(value, options))
    return value


def _quantity(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Invalid(path, f"expected a quantity like 1Gi, got {_show(value)}")
    try:
        size = parse_quantity(value, key=path)
    except ValueError as err:
        raise _Invalid(path, str(err).removeprefix(f"{path}: ")) from None
    if size == 0:
        raise _Invalid(path, "must be more than 0")
    return size


def _duration(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _Invalid(path, f"expected a duration like 5m or 30s, got {_show(value)}")
    try:
        seconds = parse_duration(value)
    except ValueError as err:
        raise _Invalid(path, str(err)) from None
    if seconds <= 0:
        raise _Invalid(path, "must be more than 0")
    return seconds


def _object_name(value: object, path: str) -> str:
    name = _string(value, path)
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise _Invalid(
            path,
            f"{name!r} is not a valid object name (lowercase letters, digits, '-' and '.')",
        )
    return name


def _driver_name(value: object, path: str) -> str:
    name = _string(value, path)
    if len(name) > 63 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise _Invalid(
            path,
            f"{name!r} is not a valid CSI driver name (a lowercase DNS name of at most "
            "63 characters, like hostpath.csi.k8s.io)",
        )
    return name


def _namespace(value: object, path: str) -> str:
    name = _string(value, path)
    if len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise _Invalid(
            path,
            f"{name!r} is not a valid namespace name (a DNS label: at most 63 lowercase "
            "letters, digits and '-')",
        )
    return name


def _driver_pods(value: object, path: str) -> tuple[PodSelector, ...]:
    """``driverPods``: a list of ``{namespace, selector}``; absent or empty is none."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _Invalid(
            path,
            'expected a list like [{namespace: csi, selector: "app=my-csi"}], '
            f"got {_show(value)}",
        )
    found: list[PodSelector] = []
    for i, item in enumerate(value):
        where = _join(path, i)
        entry = _mapping(item, where)
        _check_keys(entry, ("namespace", "selector"), where)
        for key in ("namespace", "selector"):
            if entry.get(key) is None:
                raise _Invalid(_join(where, key), "required")
        pods = PodSelector(
            namespace=_namespace(entry["namespace"], _join(where, "namespace")),
            selector=_string(entry["selector"], _join(where, "selector")).strip(),
        )
        if pods in found:
            raise _Invalid(where, f"{pods.namespace} {pods.selector!r} is listed twice")
        found.append(pods)
    return tuple(found)


def _capabilities(value: object, path: str) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for name, on in _mapping(value, path).items():
        where = _join(path, name)
        if name not in CAPABILITIES:
            raise _Invalid(where, "unknown capability" + _did_you_mean(name, CAPABILITIES))
        out[name] = _bool(on, where)
    return out


def _access_modes(value: object, path: str) -> tuple[str, ...]:
    if value is None:
        return ("ReadWriteOnce",)
    if not isinstance(value, list) or not value:
        raise _Invalid(path, f"expected a non-empty list like [ReadWriteOnce], got {_show(value)}")
    modes: list[str] = []
    for i, item in enumerate(value):
        mode = _choice(item, _join(path, i), ACCESS_MODES)
        if mode in modes:
            raise _Invalid(_join(path, i), f"{mode} is listed twice")
        modes.append(mode)
    return tuple(modes)


def _parameters(value: object, path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, item in _mapping(value, path).items():
        if not isinstance(item, str):
            raise _Invalid(
                _join(path, key),
                f"expected a string, got {_show(item)} (class parameters are strings: quote it)",
            )
        out[key] = item
    return out


def _string_list(value: object, path: str) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(path, f"expected a list of strings, got {_show(value)}")
    return [_string(item, _join(path, i)) for i, item in enumerate(value)]


_STORAGE_CLASS_FIELDS: Final = (
    "parameters",
    "reclaimPolicy",
    "volumeBindingMode",
    "allowVolumeExpansion",
    "mountOptions",
)
_SNAPSHOT_CLASS_FIELDS: Final = ("parameters",)


def _class_create(
    value: object, path: str, *, snapshot: bool, wffc: bool = False
) -> dict[str, Any]:
    """Validate the fields of a class to create; fills in WaitForFirstConsumer for wffc."""
    fields = _mapping(value, path)
    _check_keys(fields, _SNAPSHOT_CLASS_FIELDS if snapshot else _STORAGE_CLASS_FIELDS, path)
    out: dict[str, Any] = {}
    if fields.get("parameters") is not None:
        out["parameters"] = _parameters(fields["parameters"], _join(path, "parameters"))
    if fields.get("reclaimPolicy") is not None:
        out["reclaimPolicy"] = _choice(
            fields["reclaimPolicy"], _join(path, "reclaimPolicy"), RECLAIM_POLICIES
        )
    if fields.get("volumeBindingMode") is not None:
        where = _join(path, "volumeBindingMode")
        mode = _choice(fields["volumeBindingMode"], where, BINDING_MODES)
        if wffc and mode != "WaitForFirstConsumer":
            raise _Invalid(where, f"must be WaitForFirstConsumer here, got {mode}")
        out["volumeBindingMode"] = mode
    elif wffc:
        out["volumeBindingMode"] = "WaitForFirstConsumer"
    if fields.get("allowVolumeExpansion") is not None:
        out["allowVolumeExpansion"] = _bool(
            fields["allowVolumeExpansion"], _join(path, "allowVolumeExpansion")
        )
    if fields.get("mountOptions") is not None:
        out["mountOptions"] = _string_list(fields["mountOptions"], _join(path, "mountOptions"))
    return out


def _size_range(
    given: Mapping[str, object],
    paths: Mapping[str, str],
    *,
    default_min: int,
) -> Sizes:
    """Sizes from optional ``min``/``default``/``max``; ``paths`` names each key for messages.

    A missing ``min`` is ``default_min`` (never above ``default`` or ``max``); a missing
    ``default`` is 1Gi raised to ``min`` or lowered to ``max``.
    """
    parsed = {
        k: _quantity(given[k], paths[k])
        for k in ("min", "default", "max")
        if k in paths and given.get(k) is not None
    }
    max_b = parsed.get("max")
    if "min" in parsed:
        min_b = parsed["min"]
    else:
        min_b = min(default_min, parsed.get("default", default_min), max_b or default_min)
    if max_b is not None and min_b > max_b:
        raise _Invalid(
            paths["min"],
            f"{format_quantity(min_b)} is more than {paths['max']} {format_quantity(max_b)}",
        )
    if "default" in parsed:
        default_b = parsed["default"]
        if default_b < min_b:
            raise _Invalid(
                paths["min"],
                f"{format_quantity(min_b)} is more than {paths['default']} "
                f"{format_quantity(default_b)}",
            )
        if max_b is not None and default_b > max_b:
            raise _Invalid(
                paths["default"],
                f"{format_quantity(default_b)} is more than {paths['max']} "
                f"{format_quantity(max_b)}",
            )
    else:
        default_b = max(DEFAULT_SIZE_BYTES, min_b)
        if max_b is not None:
            default_b = min(default_b, max_b)
    return Sizes(min_bytes=min_b, default_bytes=default_b, max_bytes=max_b)


# ---------------------------------------------------------------- snapconf format


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


__all__ = [
    "ACCESS_MODES",
    "CAPABILITIES",
    "ClassSpec",
    "PodSelector",
    "Profile",
    "ProfileError",
    "Sizes",
    "Stress",
    "Timeouts",
    "Workload",
    "is_secret_parameter",
    "load_profile",
    "load_profile_text",
    "redact_parameters",
]
