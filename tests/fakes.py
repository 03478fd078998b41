"""One in-memory Kubernetes API for the harness's offline tests (list and watch included).

A store of objects with one revision counter, as etcd has: every change bumps it and is
kept as a watch event, so a watch from any resourceVersion replays what came after it.
``script`` queues changes that happen *while* a watch is open (one batch per watch call),
or a ``Gone`` to imitate an expired resourceVersion. A watch ends after its batch, as a
server's watch ends at its timeout; the waiter must then re-list.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from conformance.kube import Conflict, Gone, Kind, NotFound, lookup

Obj = dict[str, Any]


def _labelled(obj: Obj, label_selector: str | None) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    wanted = (t.split("=", 1) for t in filter(None, (label_selector or "").split(",")))
    return all(labels.get(key) == value for key, value in wanted)


def _matches(obj: Obj, field_selector: str | None) -> bool:
    for term in filter(None, (field_selector or "").split(",")):
        path, _, want = term.partition("=")
        value: Any = obj
        for key in path.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if str(value) != want:
            return False
    return True


def _merge(base: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, None removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


class FakeKube:
    """The part of :class:`conformance.kube.KubeAPI` that waits and actions use."""

    def __init__(self) -> None:
        self.revision = 100
        self.objects: dict[tuple[str, str | None, str], Obj] = {}
        self.history: list[tuple[int, str, Obj]] = []  # (revision, type, object)
        self.script: list[list[tuple[str, Obj]] | type[Gone]] = []
        self.watches = 0
        self.patches: list[tuple[str, str, Obj]] = []

    # ----------------------------------------------------------- changes

    def put(self, obj: Obj) -> Obj:
        """Create or replace ``obj``; returns the stored copy with its resourceVersion."""
        kind = lookup(obj["kind"])
        meta = obj.setdefault("metadata", {})
        key = (kind.kind, meta.get("namespace") if kind.namespaced else None, meta["name"])
        etype = "MODIFIED" if key in self.objects else "ADDED"
        self.revision += 1
        meta["resourceVersion"] = str(self.revision)
        stored = copy.deepcopy(obj)
        self.objects[key] = stored
        self.history.append((self.revision, etype, copy.deepcopy(stored)))
        return copy.deepcopy(stored)

    def remove(self, kind: str, name: str, namespace: str | None = None) -> None:
        k = lookup(kind)
        key = (k.kind, namespace if k.namespaced else None, name)
        obj = self.objects.pop(key)
        self.revision += 1
        obj["metadata"]["resourceVersion"] = str(self.revision)
        self.history.append((self.revision, "DELETED", obj))

    # ----------------------------------------------------------- the API

    def create(self, obj: Obj) -> Obj:
        return self.put(obj)

    def get(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj:
        found = self.get_or_none(kind, name, namespace)
        if found is None:
            raise NotFound(f"{kind} {name} not found")
        return found

    def get_or_none(self, kind: Kind | str, name: str, namespace: str | None = None) -> Obj | None:
        k = lookup(kind)
        obj = self.objects.get((k.kind, namespace if k.namespaced else None, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(
        self,
        kind: Kind | str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        k = lookup(kind)
        items = [
            copy.deepcopy(obj)
            for (kname, ns, _), obj in self.objects.items()
            if kname == k.kind and (namespace is None or ns == namespace)
            and _matches(obj, field_selector) and _labelled(obj, label_selector)
        ]  # fmt: skip
        return items, str(self.revision)

    def watch(
        self,
        kind: Kind | str,
        namespace: str | None,
        *,
        resource_version: str,
        field_selector: str | None = None,
        label_selector: str | None = None,
        timeout_seconds: float,
    ) -> Iterator[tuple[str, Obj]]:
        self.watches += 1
        k = lookup(kind)
        start = int(resource_version)
        batch = self.script.pop(0) if self.script else []
        if batch is Gone:
            raise Gone("410: too old resource version")
        assert isinstance(batch, list)
        for etype, obj in batch:
            if etype == "DELETED":
                meta = obj["metadata"]
                self.remove(obj["kind"], meta["name"], meta.get("namespace"))
            else:
                self.put(copy.deepcopy(obj))
        for revision, etype, obj in list(self.history):
            if revision <= start or lookup(obj["kind"]).kind != k.kind:
                continue
            ns = obj["metadata"].get("namespace")
            if namespace is not None and ns != namespace:
                continue
            if _matches(obj, field_selector):
                yield etype, copy.deepcopy(obj)

    def events_for(self, kind: Kind | str, name: str, namespace: str | None) -> list[Obj]:
        k = lookup(kind)
        return [
            copy.deepcopy(obj)
            for (kname, _, _), obj in self.objects.items()
            if kname == "Event"
            and obj.get("involvedObject", {}).get("kind") == k.kind
            and obj.get("involvedObject", {}).get("name") == name
        ]

    def patch(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        patch: Obj | list[Obj],
        *,
        merge: bool = True,
    ) -> Obj:
        """A JSON merge patch; a ``metadata.resourceVersion`` in it must match (else 409)."""
        assert merge, "the fake takes merge patches only"
        assert isinstance(patch, dict)
        current = self.get(kind, name, namespace)
        wanted = (patch.get("metadata") or {}).get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{kind} {name}: the object has been modified")
        merged = _merge(current, patch)
        self.patches.append((lookup(kind).kind, name, copy.deepcopy(patch)))
        meta = merged["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self.remove(kind if isinstance(kind, str) else kind.kind, name, namespace)
            return merged
        return self.put(merged)

    def delete(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None = None,
        *,
        missing_ok: bool = True,
        propagation: str = "Background",
    ) -> None:
        """Gone at once without finalizers; else marked for deletion, as the API server does."""
        current = self.get_or_none(kind, name, namespace)
        if current is None:
            if not missing_ok:
                raise NotFound(f"{kind} {name} not found")
            return
        if current["metadata"].get("finalizers"):
            current["metadata"]["deletionTimestamp"] = "2026-12-07T00:00:00Z"
            self.put(current)
        else:
            self.remove(current["kind"], name, namespace)

    def pod_log(self, *args: Any, **kwargs: Any) -> str:
        return ""


class FakeClock:
    """Monotonic seconds that move only when read or slept on: waits end, never hang."""

    def __init__(self, step: float = 0.25) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
