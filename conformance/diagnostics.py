"""What a failed test carries with it: the YAML of its objects, their events, pod logs.

Collected from the test's tracker right after the failure, before cleanup removes the
objects, so the report shows the state that made the test fail. Collection never raises:
a diagnostic that cannot be read says so instead.

Secrets never reach a report: a Secret object is never read or dumped (snapconf's RBAC
role cannot read them anyway), and any field named like secret data (``password``,
``token``, ``data`` of a Secret...) that turns up in a dumped object is replaced by
:data:`REDACTED`. References to Secrets (``...-secret-name``, ``secretRef``) stay: they
say which Secret a class uses, not what it holds.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from conformance.kube import KubeError
from conformance.resources import Tracker

MAX_LOG_CHARS = 20_000
MAX_OBJECTS = 40
REDACTED = "<redacted>"
NEVER_DUMPED = frozenset({"Secret"})

_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|token|credential|private[-_]?key|api[-_]?key|"
    r"certificate-authority-data|client-key-data",
    re.IGNORECASE,
)
_REFERENCE_KEY = re.compile(r"(name|namespace|ref)$", re.IGNORECASE)
# the last-applied annotation repeats a whole object as a string: it cannot be walked
_OPAQUE_KEYS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


def redact(value: Any, *, kind: str = "") -> Any:
    """``value`` with every string under a secret-like key replaced by :data:`REDACTED`.

    Keys naming a reference (``...-secret-name``, ``secretRef``) and non-string values
    (``automountServiceAccountToken: false``) are kept; a Secret's ``data`` and
    ``stringData`` go whatever they hold.
    """
    if isinstance(value, list):
        return [redact(item) for item in value]
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = str(key)
        if (kind in NEVER_DUMPED and name in ("data", "stringData")) or name in _OPAQUE_KEYS:
            out[key] = REDACTED
        elif isinstance(item, (str, bytes)) and _SECRET_KEY.search(name):
            out[key] = item if _REFERENCE_KEY.search(name) else REDACTED
        else:
            out[key] = redact(item)
    return out


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields (long and of no use to a reader) and redact secret-like fields."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    redacted: dict[str, Any] = redact({**obj, "metadata": meta}, kind=str(obj.get("kind") or ""))
    return redacted


def collect(tracker: Tracker) -> dict[str, Any]:
    """Objects, events and pod logs of everything the tracker knows."""
    kube = tracker.kube
    objects: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    for kind, name, namespace in tracker.tracked()[:MAX_OBJECTS]:
        if kind == "Namespace":
            continue
        if kind in NEVER_DUMPED:
            objects.append(
                {"kind": kind, "namespace": namespace, "name": name, "yaml": "# never dumped"}
            )
            continue
        label = f"{kind}/{namespace + '/' if namespace else ''}{name}"
        try:
            obj = kube.get_or_none(kind, name, namespace)
        except (KubeError, OSError) as err:
            objects.append(
                {"kind": kind, "namespace": namespace, "name": name, "yaml": f"# unreadable: {err}"}
            )
            continue
        if obj is None:
            objects.append({"kind": kind, "namespace": namespace, "name": name, "yaml": "# gone"})
            continue
        objects.append(
            {
                "kind": kind,
                "namespace": namespace,
                "name": name,
                "yaml": yaml.safe_dump(_strip(obj), sort_keys=False),
            }
        )
        try:
            for event in kube.events_for(kind, name, namespace):
                events.append(
                    {
                        "object": label,
                        "type": event.get("type", ""),
                        "reason": event.get("reason", ""),
                        "message": event.get("message", ""),
                        "time": event.get("lastTimestamp") or event.get("eventTime") or "",
                    }
                )
        except (KubeError, OSError):
            pass
        if kind == "Pod" and namespace:
            for container in (obj.get("spec") or {}).get("containers") or []:
                try:
                    text = kube.pod_log(name, namespace, container["name"])
                except (KubeError, OSError) as err:
                    text = f"(log unreadable: {err})"
                logs.append(
                    {
                        "pod": f"{namespace}/{name}",
                        "container": container["name"],
                        "text": text[-MAX_LOG_CHARS:],
                    }
                )
    return {"objects": objects, "events": events, "logs": logs}
