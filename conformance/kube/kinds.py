"""The kinds the harness reads and writes, and how to address them: plain-dict objects.

Why it exists: one table (:data:`KINDS`) of every kind with its API version, plural and
scope, so a path, a watch or a leak check never spells an API group by hand; and
:func:`dig`, the one way to read a nested field that may be missing.

Must not: call the API server, or know about tests or profiles. The only thing it knows
about runs is the run label (:data:`RUN_LABEL`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

Obj = dict[str, Any]
"""One Kubernetes object as the API server serialises it."""

RUN_LABEL = "snapconf.io/run"
"""Label every object snapconf creates carries (value: the run id); see resources.py."""


@dataclass(frozen=True)
class Kind:
    """What the API needs to address one kind of object.

    Attributes:
        kind: the ``kind`` field, e.g. ``VolumeSnapshot``.
        api_version: the ``apiVersion`` field, e.g. ``snapshot.storage.k8s.io/v1``.
        plural: the resource name in URLs, e.g. ``volumesnapshots``.
        namespaced: whether objects live in a namespace.
        custom: served by a CustomResourceDefinition (goes through ``CustomObjectsApi``).
    """

    kind: str
    api_version: str
    plural: str
    namespaced: bool
    custom: bool = False

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        """The API version without the group, e.g. ``v1``."""
        return self.api_version.rpartition("/")[2]

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        """The URL path of the collection (in ``namespace``, or across all) or of one object."""
        path = f"/apis/{self.api_version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            path += f"/namespaces/{quote(namespace, safe='')}"
        path += f"/{self.plural}"
        if name is not None:
            path += f"/{quote(name, safe='')}"
        return path

    def __str__(self) -> str:
        return self.kind


_SNAPSHOT_V1 = "snapshot.storage.k8s.io/v1"
_GROUP_SNAPSHOT_V1 = "groupsnapshot.storage.k8s.io/v1"

KINDS: dict[str, Kind] = {
    k.kind: k
    for k in (
        Kind("Namespace", "v1", "namespaces", namespaced=False),
        Kind("Pod", "v1", "pods", namespaced=True),
        Kind("PersistentVolumeClaim", "v1", "persistentvolumeclaims", namespaced=True),
        Kind("PersistentVolume", "v1", "persistentvolumes", namespaced=False),
        Kind("Event", "v1", "events", namespaced=True),
        Kind("Node", "v1", "nodes", namespaced=False),
        Kind("ServiceAccount", "v1", "serviceaccounts", namespaced=True),
        Kind("StorageClass", "storage.k8s.io/v1", "storageclasses", namespaced=False),
        Kind("CSIDriver", "storage.k8s.io/v1", "csidrivers", namespaced=False),
        Kind("CSINode", "storage.k8s.io/v1", "csinodes", namespaced=False),
        Kind("VolumeAttachment", "storage.k8s.io/v1", "volumeattachments", namespaced=False),
        Kind("VolumeSnapshot", _SNAPSHOT_V1, "volumesnapshots", namespaced=True, custom=True),
        Kind(
            "VolumeSnapshotContent",
            _SNAPSHOT_V1,
            "volumesnapshotcontents",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "VolumeSnapshotClass",
            _SNAPSHOT_V1,
            "volumesnapshotclasses",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "VolumeGroupSnapshot",
            _GROUP_SNAPSHOT_V1,
            "volumegroupsnapshots",
            namespaced=True,
            custom=True,
        ),
        Kind(
            "VolumeGroupSnapshotContent",
            _GROUP_SNAPSHOT_V1,
            "volumegroupsnapshotcontents",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "VolumeGroupSnapshotClass",
            _GROUP_SNAPSHOT_V1,
            "volumegroupsnapshotclasses",
            namespaced=False,
            custom=True,
        ),
        Kind(
            "CustomResourceDefinition",
            "apiextensions.k8s.io/v1",
            "customresourcedefinitions",
            namespaced=False,
        ),
    )
}
"""Every kind the harness reads or writes, by ``kind`` name.

The VolumeGroupSnapshot kinds are optional CRDs: a cluster may lack them (NotFound on
list, which the leak check and sweep take as "none"); see :data:`GROUP_SNAPSHOT_KINDS`.
"""

GROUP_SNAPSHOT_KINDS: frozenset[str] = frozenset(
    {"VolumeGroupSnapshot", "VolumeGroupSnapshotContent", "VolumeGroupSnapshotClass"}
)
"""Kinds of ``groupsnapshot.storage.k8s.io``: only profiles declaring ``groupSnapshot`` use them."""


def lookup(kind: Kind | str) -> Kind:
    """The registered :class:`Kind` for a kind name (or a plural resource name)."""
    if isinstance(kind, Kind):
        return kind
    found = KINDS.get(kind)
    if found is not None:
        return found
    for candidate in KINDS.values():
        if candidate.plural == kind.lower():
            return candidate
    raise KeyError(f"unknown kind {kind!r}; known: {', '.join(sorted(KINDS))}")


def kind_of(obj: Obj) -> Kind:
    """The :class:`Kind` of an object, from its ``kind`` and ``apiVersion`` fields."""
    name = obj.get("kind")
    if not isinstance(name, str) or not name:
        raise ValueError("object has no kind")
    kind = lookup(name)
    version = obj.get("apiVersion")
    if version and version != kind.api_version:
        raise ValueError(f"{name} has apiVersion {version!r}, expected {kind.api_version!r}")
    return kind


def dig(obj: Any, *path: str) -> Any:
    """The value at ``path`` in nested dicts (``dig(pvc, "status", "phase")``), or None."""
    value: Any = obj
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _ref(kind: Kind, name: str | None, namespace: str | None) -> str:
    where = f"{namespace}/" if kind.namespaced and namespace else ""
    return f"{kind.kind} {where}{name or '(generated name)'}"
