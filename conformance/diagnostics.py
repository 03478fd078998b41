"""What a failed test carries with it: the YAML of its objects, their events, pod logs.

Collected from the test's tracker right after the failure, before cleanup removes the
objects, so the report shows the state that made the test fail. Collection never raises:
a diagnostic that cannot be read says so instead.
"""

from __future__ import annotations

from typing import Any

import yaml

from conformance.kube import KubeError
from conformance.resources import Tracker

MAX_LOG_CHARS = 20_000
MAX_OBJECTS = 40


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields: long and of no use to a reader."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    return {**obj, "metadata": meta}


def collect(tracker: Tracker) -> dict[str, Any]:
    """Objects, events and pod logs of everything the tracker knows."""
    kube = tracker.kube
    objects: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    for kind, name, namespace in tracker.tracked()[:MAX_OBJECTS]:
        if kind == "Namespace":
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
