"""Waiting for the cluster to reach a state: list, then watch, with a deadline.

Why it exists: every conformance expectation about time ("the snapshot becomes ready
within 5m") is a wait, and a wait that fails must say why, not just "not ready within
T". A timeout raises :class:`WaitTimeout`, an ``AssertionError`` (so reports count it as a
failed expectation, not a broken test) whose message carries the last state seen, with
``status.error`` for snapshots, and the object's recent Events. Also records how long each
awaited operation took (:class:`Timings`) for the report.

Must not: sleep-poll. The state comes from a list and then a watch from the list's
resourceVersion (re-listing on 410 Gone or when the stream ends early); the only sleep is
a short pause when a watch keeps ending at once, so a broken server is not hammered.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import yaml

from conformance.kube import Gone, Kind, KubeAPI, KubeError, Obj, dig, lookup

log = logging.getLogger(__name__)

Condition = Callable[[Obj | None], bool]
"""A predicate over the current object (None: it does not exist)."""

TOMBSTONE = "snapconf.io/deleted"
"""Key marking a deleted object in a history (``Waiter.observe(..., tombstones=True)``)."""

MAX_EVENTS = 10
_RESTART_PAUSE_MIN = 0.5
_RESTART_PAUSE_MAX = 5.0
_QUICK_STREAM = 1.0
"""A watch that ends sooner than this (seconds) counts as ending at once."""


# ---------------------------------------------------------------- timings


class Timings:
    """How long each awaited cluster operation of one test took.

    ``items`` is a list of ``{"op": str, "seconds": float, "subject": str, "start": float}``
    in the order the operations finished; ``start`` (epoch seconds: now less the duration)
    lets the overhead benchmark count overlapping operations once.
    """

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, op: str, seconds: float, subject: str) -> None:
        """Add one operation's duration (rounded to milliseconds)."""
        with self._lock:
            start = round(time.time() - seconds, 3)
            self.items.append(
                {"op": op, "seconds": round(seconds, 3), "subject": subject, "start": start}
            )


# ---------------------------------------------------------------- describing objects


def _snapshot_lines(obj: Obj) -> list[str]:
    status = obj.get("status") or {}
    lines = [
        f"readyToUse: {status.get('readyToUse')}",
    ]
    if obj.get("kind") == "VolumeSnapshot":
        source = dig(obj, "spec", "source") or {}
        lines.append(f"source: {', '.join(f'{k}={v}' for k, v in source.items()) or '(none)'}")
        lines.append(
            f"boundVolumeSnapshotContentName: {status.get('boundVolumeSnapshotContentName')}"
        )
    else:
        spec = obj.get("spec") or {}
        ref = spec.get("volumeSnapshotRef") or {}
        lines.append(f"deletionPolicy: {spec.get('deletionPolicy')}")
        lines.append(f"volumeSnapshotRef: {ref.get('namespace')}/{ref.get('name')}")
        lines.append(f"snapshotHandle: {status.get('snapshotHandle')}")
    if status.get("restoreSize") is not None:
        lines.append(f"restoreSize: {status.get('restoreSize')}")
    if status.get("creationTime") is not None:
        lines.append(f"creationTime: {status.get('creationTime')}")
    error = status.get("error")
    if error:
        lines.append(f"error: {error.get('message') or '(no message)'} (at {error.get('time')})")
    else:
        lines.append("error: none")
    return lines


def _pvc_lines(obj: Obj) -> list[str]:
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    lines = [f"phase: {status.get('phase')}"]
    if spec.get("volumeName"):
        lines.append(f"volumeName: {spec['volumeName']}")
    if spec.get("storageClassName"):
        lines.append(f"storageClassName: {spec['storageClassName']}")
    source = spec.get("dataSourceRef") or spec.get("dataSource")
    if source:
        lines.append(f"dataSource: {source.get('kind')}/{source.get('name')}")
    if status.get("capacity"):
        lines.append(f"capacity: {status['capacity'].get('storage')}")
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("conditions:")
        for cond in conditions:
            text = f"  {cond.get('type')}={cond.get('status')}"
            if cond.get("reason"):
                text += f" {cond['reason']}"
            if cond.get("message"):
                text += f": {cond['message']}"
            lines.append(text)
    return lines


def _container_state(status: Obj) -> str:
    state = status.get("state") or {}
    name = status.get("name")
    if "waiting" in state:
        waiting = state["waiting"] or {}
        text = f"{name}: waiting {waiting.get('reason') or ''}".rstrip()
        return text + (f": {waiting['message']}" if waiting.get("message") else "")
    if "running" in state:
        return f"{name}: running since {(state['running'] or {}).get('startedAt')}"
    if "terminated" in state:
        done = state["terminated"] or {}
        text = f"{name}: terminated exitCode={done.get('exitCode')} {done.get('reason') or ''}"
        message = str(done.get("message") or "").strip()
        return text.rstrip() + (f": {message}" if message else "")
    return f"{name}: (no state yet)"


def _pod_lines(obj: Obj) -> list[str]:
    status = obj.get("status") or {}
    line = f"phase: {status.get('phase')}"
    if status.get("reason"):
        line += f" ({status['reason']})"
    lines = [line]
    if status.get("message"):
        lines.append(f"message: {status['message']}")
    node = dig(obj, "spec", "nodeName")
    if node:
        lines.append(f"node: {node}")
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True" and (cond.get("reason") or cond.get("message")):
            reason = cond.get("reason") or ""
            lines.append(
                f"condition {cond.get('type')}=False {reason}: {cond.get('message') or ''}"
            )
    statuses = (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
    if statuses:
        lines.append("containers:")
        lines.extend(f"  {_container_state(s)}" for s in statuses)
    return lines


def describe_object(obj: Obj | None) -> str:
    """A short, readable summary of an object's state, for wait failures and diagnostics.

    VolumeSnapshot/VolumeSnapshotContent: readyToUse, the bound content (or the
    snapshot reference), ``status.error`` with its time. PVC: phase and conditions. Pod:
    phase and container states. Other kinds: the status block as YAML. Every kind: the
    deletion timestamp and finalizers when it is being deleted.
    """
    if obj is None:
        return "(the object does not exist)"
    kind = obj.get("kind")
    if kind in ("VolumeSnapshot", "VolumeSnapshotContent"):
        lines = _snapshot_lines(obj)
    elif kind == "PersistentVolumeClaim":
        lines = _pvc_lines(obj)
    elif kind == "Pod":
        lines = _pod_lines(obj)
    else:
        status = obj.get("status")
        if status:
            lines = ["status:"] + [
                f"  {line}"
                for line in yaml.safe_dump(status, sort_keys=True, default_flow_style=False)
                .rstrip()
                .splitlines()
            ]
        else:
            lines = ["status: (none)"]
    meta = obj.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        lines.append(f"deletionTimestamp: {meta['deletionTimestamp']}")
    if meta.get("finalizers"):
        lines.append(f"finalizers: {', '.join(meta['finalizers'])}")
    return "\n".join(lines)


def describe_events(events: list[Obj], limit: int = MAX_EVENTS) -> str:
    """The last ``limit`` events as ``type reason: message`` lines."""
    if not events:
        return "(no events)"
    lines = []
    for event in events[-limit:]:
        count = event.get("count")
        times = f" (x{count})" if isinstance(count, int) and count > 1 else ""
        message = str(event.get("message") or "").strip()
        lines.append(f"{event.get('type')} {event.get('reason')}: {message}{times}")
    return "\n".join(lines)


# ---------------------------------------------------------------- failures


class WaitTimeout(AssertionError):
    """An awaited state was not reached in time: a failed conformance expectation.

    Attributes:
        describe: what was awaited.
        timeout: the time allowed, in seconds.
        last: the last state seen (None: the object did not exist).
        events: the object's recent Events.
    """

    def __init__(
        self,
        describe: str,
        timeout: float,
        last: Obj | None,
        events: list[Obj],
        *,
        events_error: str | None = None,
    ) -> None:
        self.describe = describe
        self.timeout = timeout
        self.last = last
        self.events = events
        indent = "\n    "
        state = describe_object(last).replace("\n", indent)
        seen = events_error or describe_events(events)
        super().__init__(
            f"timed out after {timeout:g}s waiting for {describe}\n"
            f"  last seen state:{indent}{state}\n"
            f"  recent events:{indent}{seen.replace(chr(10), indent)}"
        )


class PodFailed(AssertionError):
    """A pod awaited to succeed (or run) failed instead."""

    def __init__(self, pod: Obj) -> None:
        self.pod = pod
        meta = pod.get("metadata") or {}
        namespace, name = meta.get("namespace"), meta.get("name")
        indent = "\n    "
        super().__init__(
            f"pod {namespace}/{name} failed\n"
            f"    {describe_object(pod).replace(chr(10), indent)}\n"
            f"  logs: kubectl logs -n {namespace} {name} --all-containers"
        )


# ---------------------------------------------------------------- conditions


def pvc_bound(obj: Obj | None) -> bool:
    """The PVC is Bound."""
    return bool(dig(obj, "status", "phase") == "Bound")


def pvc_pending(obj: Obj | None) -> bool:
    """The PVC exists and is Pending."""
    return bool(dig(obj, "status", "phase") == "Pending")


def snapshot_ready(obj: Obj | None) -> bool:
    """The VolumeSnapshot reports ``readyToUse: true``."""
    return dig(obj, "status", "readyToUse") is True


def snapshot_has_error(obj: Obj | None) -> bool:
    """The VolumeSnapshot (or content) reports a ``status.error``."""
    return bool(dig(obj, "status", "error"))


def content_ready(obj: Obj | None) -> bool:
    """The VolumeSnapshotContent reports ``readyToUse: true``."""
    return dig(obj, "status", "readyToUse") is True


def pod_succeeded(obj: Obj | None) -> bool:
    """The pod Succeeded.

    Raises:
        PodFailed: the pod Failed; waiting longer cannot help.
    """
    phase = dig(obj, "status", "phase")
    if phase == "Failed" and obj is not None:
        raise PodFailed(obj)
    return bool(phase == "Succeeded")


def pod_running(obj: Obj | None) -> bool:
    """The pod is Running.

    Raises:
        PodFailed: the pod Failed.
    """
    phase = dig(obj, "status", "phase")
    if phase == "Failed" and obj is not None:
        raise PodFailed(obj)
    return bool(phase == "Running")


def has_deletion_timestamp(obj: Obj | None) -> bool:
    """Deletion was requested (the object waits for its finalizers)."""
    return bool(dig(obj, "metadata", "deletionTimestamp"))


def has_finalizer(name: str) -> Condition:
    """A condition: the object exists and carries finalizer ``name``."""

    def check(obj: Obj | None) -> bool:
        return name in (dig(obj, "metadata", "finalizers") or [])

    check.__name__ = f"has_finalizer({name})"
    return check


def _exists(obj: Obj | None) -> bool:
    return obj is not None


def is_gone(obj: Obj | None) -> bool:
    """The object does not exist."""
    return obj is None


# ---------------------------------------------------------------- the waiter


def _subject(kind: Kind, name: str, namespace: str | None) -> str:
    return f"{kind.kind} {namespace}/{name}" if kind.namespaced else f"{kind.kind} {name}"


class Waiter:
    """Waits on watches; one per test, recording into that test's :class:`Timings`.

    Args:
        kube: the cluster.
        timings: where successful waits record their durations (None: nowhere).
        clock: monotonic seconds (tests pass a fake).
        sleep: the pause between watches that keep ending at once (tests pass a fake).
    """

    def __init__(
        self,
        kube: KubeAPI,
        timings: Timings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kube = kube
        self.timings = timings
        self._clock = clock
        self._sleep = sleep

    def until(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        condition: Condition,
        *,
        timeout: float,
        op: str,
        describe: str,
        since: str | None = None,
    ) -> Obj | None:
        """Wait until ``condition`` holds for the object; return the object it held for.

        The condition sees None when the object does not exist (or was just deleted).
        An exception from the condition (e.g. :class:`PodFailed`) ends the wait at once.
        With ``since`` (a resourceVersion read earlier) the wait first replays every change
        after it, so a state that came and went before the call is still seen.

        Raises:
            WaitTimeout: not within ``timeout`` seconds.
            KubeError: the cluster could not be read (after the retry policy).
        """
        k = lookup(kind)
        ns = namespace if k.namespaced else None
        start = self._clock()

        def first(items: list[Obj]) -> list[Obj | None]:
            return [items[0] if items else None]

        found, last = self._watch(
            k, ns, f"metadata.name={name}", condition, first, timeout, since=since
        )
        if found:
            seconds = self._clock() - start
            if self.timings is not None:
                self.timings.record(op, seconds, _subject(k, name, ns))
            log.debug("%s: %s after %.1fs", op, describe, seconds)
            return last
        if self.timings is not None:
            # time given to the cluster too (a negative test's "never ready" wait, the
            # grace a broken object gets): the critical path counts it, as bench/overhead
            self.timings.record(f"{op}-timeout", self._clock() - start, _subject(k, name, ns))
        raise self._timeout(k, name, ns, describe, timeout, last)

    def observe(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        *,
        window: float,
        op: str,
        stop: Condition | None = None,
        since: str | None = None,
        tombstones: bool = False,
    ) -> list[Obj | None]:
        """Every state of the object seen in the next ``window`` seconds, in order.

        A claim that something *never* happens ("never binds", "never becomes ready")
        is checked against this whole history, not one read at the end: a state that
        came and went inside the window is in it. With ``stop`` the watch ends as soon as
        ``stop`` holds (that state is the last item); with ``since`` it first replays the
        changes after that resourceVersion. None in the list: the object did not exist;
        with ``tombstones`` a deletion is the deleted object marked :data:`TOMBSTONE`, and
        the history resumes from the last change it saw (never re-lists; a ``since`` too
        old to replay raises :class:`Gone`).
        The time is recorded as ``op`` (the window is critical path, as any wait).
        """
        k = lookup(kind)
        ns = namespace if k.namespaced else None
        seen: list[Obj | None] = []

        def record(obj: Obj | None) -> bool:
            seen.append(obj)
            return stop is not None and stop(obj)

        def first(items: list[Obj]) -> list[Obj | None]:
            return [items[0] if items else None]

        start = self._clock()
        self._watch(
            k, ns, f"metadata.name={name}", record, first, window, since=since,
            tombstones=tombstones,
        )  # fmt: skip
        if self.timings is not None:
            self.timings.record(op, self._clock() - start, _subject(k, name, ns))
        return seen

    def first_event(
        self,
        namespace: str | None,
        field_selector: str,
        *,
        timeout: float,
        op: str,
        describe: str,
        match: Condition = _exists,
    ) -> Obj:
        """Wait for the first core/v1 Event matching ``field_selector`` (and ``match``).

        Used where a controller reports a problem only as an event (a PVC whose class
        does not exist, a snapshot of a driver nobody serves), not in a status field;
        ``match`` narrows it to what the event must say, so an unrelated warning about
        the same object does not count.

        Raises:
            WaitTimeout: no such event within ``timeout`` seconds.
        """
        k = lookup("Event")
        start = self._clock()
        found, event = self._watch(k, namespace, field_selector, match, list, timeout)
        if found and event is not None:
            if self.timings is not None:
                self.timings.record(op, self._clock() - start, field_selector)
            return event
        if self.timings is not None:
            self.timings.record(f"{op}-timeout", self._clock() - start, field_selector)
        raise WaitTimeout(describe, timeout, None, [], events_error=None)

    def _watch(
        self,
        k: Kind,
        ns: str | None,
        selector: str,
        condition: Condition,
        from_list: Callable[[list[Obj]], list[Obj | None]],
        timeout: float,
        since: str | None = None,
        tombstones: bool = False,
    ) -> tuple[bool, Obj | None]:
        """List, then watch from the list's resourceVersion until ``condition`` holds.

        With ``tombstones`` a deletion reaches the condition as the deleted object marked
        ``{TOMBSTONE: True}`` (with its last resourceVersion) instead of None, and a
        ``since`` that is too old to replay raises :class:`Gone` instead of silently
        re-listing: a history with a hole must not pass for a whole one.

        Returns ``(True, object)`` when it held, ``(False, last seen object)`` when time
        ran out. ``from_list`` picks what a (re-)list offers to the condition: the one
        named object (or None when it does not exist), or every listed item.
        """
        deadline = self._clock() + timeout
        last: Obj | None = None
        pause = _RESTART_PAUSE_MIN
        while True:
            replaying = since is not None
            if since is not None:
                resource_version, since = since, None
            else:
                items, resource_version = self.kube.list(k, ns, field_selector=selector)
                for candidate in from_list(items):
                    last = candidate
                    if condition(candidate):
                        return True, candidate
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False, last
            opened = self._clock()
            stream = self.kube.watch(
                k,
                ns,
                resource_version=resource_version,
                field_selector=selector,
                timeout_seconds=max(1, math.ceil(remaining)),
            )
            try:
                for etype, obj in stream:
                    if etype == "BOOKMARK":
                        continue
                    if etype == "DELETED":
                        last = {**obj, TOMBSTONE: True} if tombstones else None
                    else:
                        last = obj
                    resource_version = str(
                        (obj.get("metadata") or {}).get("resourceVersion") or resource_version
                    )
                    if condition(last):
                        return True, last
                    if self._clock() >= deadline:
                        break
            except Gone:
                if tombstones and replaying:
                    raise
                log.debug("watch %s: resourceVersion expired; re-listing", k.plural)
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()  # release the connection now, not at garbage collection
            if self._clock() >= deadline:
                return False, last
            if tombstones:
                since = resource_version  # a history resumes where it was, never re-lists
            # The stream ended early (server timeout, dropped connection, Gone): re-list.
            # A stream that keeps ending at once gets a growing pause, never a busy loop.
            if self._clock() - opened < _QUICK_STREAM:
                self._sleep(min(pause, max(0.0, deadline - self._clock())))
                pause = min(pause * 2, _RESTART_PAUSE_MAX)
            else:
                pause = _RESTART_PAUSE_MIN

    def gone(
        self,
        kind: Kind | str,
        name: str,
        namespace: str | None,
        *,
        timeout: float,
        op: str,
    ) -> None:
        """Wait until the object no longer exists.

        Raises:
            WaitTimeout: it still exists after ``timeout`` seconds (the message shows its
                finalizers).
        """
        k = lookup(kind)
        ns = namespace if k.namespaced else None
        self.until(
            k,
            name,
            ns,
            is_gone,
            timeout=timeout,
            op=op,
            describe=f"{_subject(k, name, ns)} to be deleted",
        )

    def _timeout(
        self,
        kind: Kind,
        name: str,
        namespace: str | None,
        describe: str,
        timeout: float,
        last: Obj | None,
    ) -> WaitTimeout:
        events: list[Obj] = []
        events_error = None
        try:
            events = self.kube.events_for(kind, name, namespace)
        except KubeError as err:
            events_error = f"(events unavailable: {err})"
        return WaitTimeout(describe, timeout, last, events, events_error=events_error)
