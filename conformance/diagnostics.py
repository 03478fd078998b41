"""What a failed test carries with it: its objects, their events, pod and component logs.

Collected from the test's tracker right after the failure, before cleanup removes the
objects, so the report shows the state that made the test fail. Collection never raises:
a diagnostic that cannot be read says so instead.

Beside the test's own objects, a failure carries the logs of the components that acted
on them, cut to the test's time window (its start to its end, :data:`LOG_WINDOW_MARGIN`
either side) and bounded in size (the last :data:`MAX_COMPONENT_LOG_LINES` lines /
:data:`MAX_COMPONENT_LOG_BYTES` per component, saying so when cut):

- on the embedded testbed, the log files of its host processes (the CSI driver, the
  interposer, the CSI sidecars and the snapshot-controller), keeping the lines whose
  timestamp falls in the window (a line without one goes with the line before it);
- on any other cluster, every container of the pods the profile names in ``driverPods``
  and the snapshot-controller pods (by their well-known labels, in any namespace), read
  with ``sinceSeconds`` and ``timestamps`` so the window can be cut by the node's clock;
  that window is also widened by the profile's ``clockSkew``.

Secrets never reach a report: a Secret object is never read or dumped (snapconf's RBAC
role cannot read them anyway), any field named like secret data (``password``,
``token``, ``data`` of a Secret...) that turns up in a dumped object is replaced by
:data:`REDACTED`, and so is the value of a secret-like ``key=value`` / ``key: value`` in
a log line (:func:`redact_text`). References to Secrets (``...-secret-name``,
``secretRef``) stay: they say which Secret a class uses, not what it holds.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml

from conformance.kube import Forbidden, KubeAPI, KubeError
from conformance.profile import PodSelector
from conformance.resources import Tracker

MAX_LOG_CHARS = 20_000
MAX_OBJECTS = 40
REDACTED = "<redacted>"
NEVER_DUMPED = frozenset({"Secret"})

#: Seconds of log kept before a test's start and after its end.
LOG_WINDOW_MARGIN = 2.0
#: Per component (a testbed log file, a pod's container): at most the last so many lines ...
MAX_COMPONENT_LOG_LINES = 300
#: ... and at most so many bytes of them.
MAX_COMPONENT_LOG_BYTES = 32 * 1024
#: Containers of driver pods read for one failure (a DaemonSet on many nodes: those on
#: the test's nodes first), and of snapshot-controller pods.
MAX_DRIVER_CONTAINERS = 16
MAX_CONTROLLER_CONTAINERS = 4
#: How far back a testbed log file is scanned for the window's start.
MAX_LOG_SCAN_BYTES = 16 * 1024 * 1024
_SCAN_CHUNK = 256 * 1024

#: Label selectors of the snapshot-controller in the external-snapshotter's deploy
#: manifests (``app.kubernetes.io/name`` since v6.3, ``app`` before).
SNAPSHOT_CONTROLLER_SELECTORS = (
    "app.kubernetes.io/name=snapshot-controller",
    "app=snapshot-controller",
)
#: The ``pod`` of a log read from a testbed host process's log file.
TESTBED_HOST = "testbed host"

_SECRET_KEY = re.compile(
    r"password|passwd|passphrase|secret|token|credential|private[-_]?key|api[-_]?key|"
    r"certificate-authority-data|client-key-data",
    re.IGNORECASE,
)
_REFERENCE_KEY = re.compile(r"(name|namespace|ref)$", re.IGNORECASE)
# the last-applied annotation repeats a whole object as a string: it cannot be walked
_OPAQUE_KEYS = frozenset({"kubectl.kubernetes.io/last-applied-configuration"})


# ---------------------------------------------------------------- redaction


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


# key, separator (``=``, ``:``, ``":``, ``\":`` ...), then a quoted or a bare value
_SECRET_ASSIGNMENT = re.compile(
    r"(?P<key>[\w.\-/]*(?:" + _SECRET_KEY.pattern + r")[\w.\-/]*)"
    r"(?P<sep>(?:\\?[\"'])?[ \t]*[:=][ \t]*)"
    r"(?:(?P<quote>\\?[\"'])(?P<quoted>.*?)(?P=quote)|(?P<bare>[^\s,;&}\])\"'\\]+))",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(r"\b(?P<scheme>Bearer|Basic)(?P<space>\s+)[\w.~+/=-]+", re.IGNORECASE)
_PRIVATE_KEY_BLOCK = re.compile(
    r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.DOTALL
)


def _redact_assignment(match: re.Match[str]) -> str:
    if _REFERENCE_KEY.search(match["key"]):
        return match[0]
    if match["quote"] is not None:
        value = f"{match['quote']}{REDACTED}{match['quote']}"
    else:
        value = REDACTED
    return f"{match['key']}{match['sep']}{value}"


def redact_text(text: str) -> str:
    """Log text with secret-like values replaced by :data:`REDACTED`.

    The value of any ``key=value``, ``key: value`` or ``"key":"value"`` whose key looks
    like secret data (``password``, ``--token=``, ``apiKey``, ``"secrets":``...), the
    credentials of ``Bearer``/``Basic`` authorisation and PEM private key blocks. As in
    :func:`redact`, a key that only names a Secret (``...-secret-name``, ``secretRef``)
    keeps its value. It errs on the side of hiding: ``token: expired`` loses "expired".
    """
    text = _PRIVATE_KEY_BLOCK.sub(f"-----BEGIN PRIVATE KEY----- {REDACTED}", text)
    text = _AUTH_HEADER.sub(lambda m: f"{m['scheme']}{m['space']}{REDACTED}", text)
    return _SECRET_ASSIGNMENT.sub(_redact_assignment, text)


def _strip(obj: dict[str, Any]) -> dict[str, Any]:
    """Drop managedFields (long and of no use to a reader) and redact secret-like fields."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    redacted: dict[str, Any] = redact({**obj, "metadata": meta}, kind=str(obj.get("kind") or ""))
    return redacted


# ---------------------------------------------------------------- time windows


@dataclass(frozen=True)
class Window:
    """A span of wall-clock time, in seconds since the epoch."""

    start: float
    end: float

    def widened(self, margin: float) -> Window:
        """The window ``margin`` seconds longer at both ends."""
        return Window(self.start - margin, self.end + margin)

    def __contains__(self, when: object) -> bool:
        return isinstance(when, (int, float)) and self.start <= when <= self.end

    def describe(self) -> str:
        """``2025-06-01T10:15:02+00:00 to 2025-06-01T10:15:40+00:00`` (this machine's zone)."""
        return f"{_clock(self.start)} to {_clock(self.end)}"


def _clock(when: float) -> str:
    return datetime.fromtimestamp(when).astimezone().isoformat(timespec="seconds")


# RFC 3339 (pod-log timestamps, ``2025-06-01T10:15:02.123456789Z``), the interposer's
# ``2025-06-01T10:15:02`` and the ``==> <time> <argv>`` line the testbed writes at a start
_ISO = re.compile(
    r"(?:==> )?(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d+))?"
    r"(Z|[+-]\d\d:?\d\d)?(?=[\s\]|]|$)"
)
# klog: ``I1207 19:30:01.123456   12345 file.go:12] ...`` (no year, local time)
_KLOG = re.compile(r"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s")
# Go's log package with LstdFlags|Lmicroseconds: ``2025/06/01 10:15:02.123456 ...``
_GO_LOG = re.compile(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?\s")


def _micros(fraction: str | None) -> int:
    return int((fraction or "0").ljust(6, "0")[:6])


def _zone(text: str | None) -> timezone | None:
    if not text:
        return None
    if text == "Z":
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def line_time(line: str, around: float) -> float | None:
    """When a log line was written (seconds since the epoch), or None if it has no stamp.

    Understands RFC 3339 (what ``timestamps=true`` puts before pod-log lines), klog's
    ``I1207 19:30:01.123456`` (its year is the one that puts the line nearest ``around``)
    and Go's ``2025/06/01 10:15:02.123456``. A stamp without a zone is this machine's
    local time, which is what the testbed's processes write.
    """
    try:
        if match := _ISO.match(line):
            year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
            stamp = datetime(
                year, month, day, hour, minute, second, _micros(match[7]), tzinfo=_zone(match[8])
            )
            return stamp.timestamp()
        if match := _GO_LOG.match(line):
            year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
            return datetime(year, month, day, hour, minute, second, _micros(match[7])).timestamp()
        if match := _KLOG.match(line):
            month, day, hour, minute, second = (int(g) for g in match.groups()[:5])
            year = datetime.fromtimestamp(around).year
            candidates = []
            for y in (year - 1, year, year + 1):
                try:
                    candidates.append(
                        datetime(y, month, day, hour, minute, second, _micros(match[6])).timestamp()
                    )
                except ValueError:  # 29 February of a year without one
                    continue
            return min(candidates, key=lambda t: abs(t - around)) if candidates else None
    except (ValueError, OverflowError, OSError):
        return None
    return None


def window_lines(lines: Iterable[str], window: Window, *, around: float | None = None) -> list[str]:
    """The lines written within ``window``.

    A line without a timestamp (a wrapped message, a stack trace) goes with the line
    before it; those before the first stamped line are dropped, as their time is unknown.
    """
    reference = window.end if around is None else around
    keep = False
    out: list[str] = []
    for line in lines:
        when = line_time(line, reference)
        if when is not None:
            keep = when in window
        if keep:
            out.append(line)
    return out


def bound(
    lines: Sequence[str],
    max_lines: int = MAX_COMPONENT_LOG_LINES,
    max_bytes: int = MAX_COMPONENT_LOG_BYTES,
) -> list[str]:
    """The last lines that fit in ``max_lines`` and ``max_bytes`` (UTF-8, with newlines).

    A last line longer than ``max_bytes`` on its own keeps its end.
    """
    kept = list(lines[-max_lines:]) if max_lines > 0 else []
    size = 0
    first = len(kept)
    for i in range(len(kept) - 1, -1, -1):
        size += len(kept[i].encode("utf-8", errors="replace")) + 1
        if size > max_bytes:
            break
        first = i
    if first == len(kept) and kept:
        tail = kept[-1].encode("utf-8", errors="replace")[-(max_bytes - 4) :]
        return ["... " + tail.decode("utf-8", errors="ignore")]
    return kept[first:]


def _render(
    title: str,
    window: Window,
    lines: Sequence[str],
    *,
    notes: Sequence[str] = (),
    partial: bool = False,
) -> str:
    """A component log for the bundle: a ``#`` header (source, window, cut) and the lines."""
    kept = bound(lines)
    header = [f"# {title}", f"# window: {window.describe()}"]
    header.extend(f"# {note}" for note in notes)
    if len(kept) < len(lines) or partial:
        count = f"more than {len(lines)}" if partial else str(len(lines))
        header.append(
            f"# {count} lines in the window, the last {len(kept)} kept: earlier ones are cut "
            f"(at most the last {MAX_COMPONENT_LOG_LINES} lines / "
            f"{MAX_COMPONENT_LOG_BYTES // 1024} KiB a component)"
        )
    elif not lines:
        header.append("# no line in the window")
    body = redact_text("\n".join(kept))
    return "\n".join(header) + ("\n" + body if body else "") + "\n"


def _entry(pod: str, container: str, text: str) -> dict[str, Any]:
    """A component log for the bundle; ``component`` tells it from the test's pods' logs."""
    return {"pod": pod, "container": container, "text": text, "component": True}


def _reason(err: BaseException) -> str:
    """Why a log could not be read, in one line."""
    if isinstance(err, Forbidden):
        return (
            f"{err} (the identity needs get on pods/log and list on pods: "
            "manifests/rbac/clusterrole.yaml)"
        )
    if isinstance(err, KubeError):
        return str(err)
    if isinstance(err, OSError):
        where = f": {err.filename}" if err.filename else ""
        return f"{err.strerror or err}{where}"
    return f"{type(err).__name__}: {err}"


def _unavailable(err: BaseException) -> str:
    return f"logs unavailable: {_reason(err)}\n"


# ---------------------------------------------------------------- testbed host processes


def _first_stamp(chunk: bytes, around: float) -> float | None:
    for raw in chunk.split(b"\n"):
        when = line_time(raw.decode("utf-8", errors="replace"), around)
        if when is not None:
            return when
    return None


def read_since(
    path: Path, since: float, *, around: float, max_bytes: int = MAX_LOG_SCAN_BYTES
) -> tuple[str, bool]:
    """The end of a log file, from a line stamped before ``since`` (or its start) on.

    Reads backwards chunk by chunk, at most ``max_bytes``, so a long-lived testbed's big
    logs cost only the part a window needs. Returns the text (whole lines) and whether it
    reaches back to ``since`` (False: the scan limit came first).

    Raises:
        OSError: the file cannot be read.
    """
    chunks: list[bytes] = []
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        pos = size
        reached = False
        while pos > 0 and size - pos < max_bytes:
            step = min(_SCAN_CHUNK, pos, max_bytes - (size - pos))
            pos -= step
            handle.seek(pos)
            chunk = handle.read(step)
            chunks.insert(0, chunk)
            whole = chunk if pos == 0 else chunk.partition(b"\n")[2]
            first = _first_stamp(whole, around)
            if first is not None and first < since:
                reached = True
                break
    data = b"".join(chunks)
    if pos > 0:
        data = data.partition(b"\n")[2]  # a partial first line
    return data.decode("utf-8", errors="replace"), reached or pos == 0


def host_log(component: str, path: Path, window: Window) -> dict[str, Any]:
    """One testbed host process's log for ``window``, as a bundle entry."""
    try:
        text, complete = read_since(path, window.start, around=window.end)
    except OSError as err:
        return _entry(TESTBED_HOST, component, f"# {component}: {path}\n{_unavailable(err)}")
    lines = window_lines(text.splitlines(), window)
    return _entry(
        TESTBED_HOST,
        component,
        _render(f"{component}: {path}", window, lines, partial=not complete),
    )


# ---------------------------------------------------------------- pods


def _pod_ref(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def _rfc3339(value: object) -> float | None:
    return line_time(str(value or ""), time.time())


def _restarted_during(pod: Mapping[str, Any], container: str, window: Window) -> bool:
    """Whether the container's previous run ended within (or after the start of) the window."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") != container:
            continue
        finished = ((status.get("lastState") or {}).get("terminated") or {}).get("finishedAt")
        when = _rfc3339(finished)
        return when is not None and when >= window.start
    return False


def _container_log(
    kube: KubeAPI, pod: Mapping[str, Any], container: str, window: Window, *, previous: bool = False
) -> dict[str, Any]:
    namespace, name = _pod_ref(pod)
    label = f"{container} (previous run)" if previous else container
    title = f"pod {namespace}/{name}, container {label} (node {_node(pod) or '?'})"
    since = math.ceil(time.time() - window.start) + 1
    tail = 2 * MAX_COMPONENT_LOG_LINES
    try:
        text = kube.pod_log(
            name,
            namespace,
            container,
            tail_lines=tail,
            previous=previous,
            since_seconds=since,
            timestamps=True,
        )
    except Exception as err:  # diagnostics never raise
        return _entry(f"{namespace}/{name}", label, f"# {title}\n{_unavailable(err)}")
    raw = text.splitlines()
    lines = window_lines(raw, window)
    return _entry(
        f"{namespace}/{name}",
        label,
        _render(
            title,
            window,
            lines,
            notes=["times: the node's clock (RFC 3339 prefix added by the container runtime)"],
            partial=len(raw) >= tail,
        ),
    )


def _node(pod: Mapping[str, Any]) -> str:
    return str((pod.get("spec") or {}).get("nodeName") or "")


def _containers(pod: Mapping[str, Any]) -> list[str]:
    return [
        str(c["name"])
        for c in (pod.get("spec") or {}).get("containers") or []
        if isinstance(c, dict) and c.get("name")
    ]


def _pods_logs(
    kube: KubeAPI,
    pods: Sequence[Mapping[str, Any]],
    window: Window,
    *,
    limit: int,
    what: str,
) -> list[dict[str, Any]]:
    """Every container's log of ``pods`` (and its previous run's, if it restarted lately)."""
    entries: list[dict[str, Any]] = []
    skipped = 0
    for pod in pods:
        for container in _containers(pod):
            runs = [False] + ([True] if _restarted_during(pod, container, window) else [])
            for previous in runs:
                if len(entries) >= limit:
                    skipped += 1
                    continue
                entries.append(_container_log(kube, pod, container, window, previous=previous))
    if skipped:
        entries.append(
            _entry(
                what,
                "-",
                f"{skipped} more container logs not read (at most {limit} for the {what})\n",
            )
        )
    return entries


def _list_pods(kube: KubeAPI, namespace: str | None, selector: str) -> list[dict[str, Any]]:
    pods, _ = kube.list("Pod", namespace, label_selector=selector)
    return [p for p in pods if isinstance(p, dict)]


def _snapshot_controller_pods(kube: KubeAPI) -> tuple[list[dict[str, Any]], str]:
    """The snapshot-controller pods (by label, else by image name), and why none if none."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    errors: list[str] = []
    for selector in SNAPSHOT_CONTROLLER_SELECTORS:
        try:
            for pod in _list_pods(kube, None, selector):
                found.setdefault(_pod_ref(pod), pod)
        except Exception as err:  # diagnostics never raise
            errors.append(_reason(err))
    if not found and not errors:
        # deployed under other labels: look for its image, as pre-flight does
        try:
            pods, _ = kube.list("Pod")
        except Exception as err:  # diagnostics never raise
            errors.append(_reason(err))
            pods = []
        for pod in pods:
            for container in (pod.get("spec") or {}).get("containers") or []:
                if "snapshot-controller" in f"{container.get('image', '')} {container.get('name')}":
                    found.setdefault(_pod_ref(pod), pod)
    if found:
        return list(found.values()), ""
    if errors:
        return [], errors[0]
    return [], (
        "no snapshot-controller pod found (labels "
        + " or ".join(SNAPSHOT_CONTROLLER_SELECTORS)
        + ", or a container image named snapshot-controller)"
    )


def _driver_pods(
    kube: KubeAPI, selectors: Sequence[PodSelector], nodes: frozenset[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pods ``driverPods`` name, those on the test's nodes first, and a note per miss."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    notes: list[dict[str, Any]] = []
    for pods in selectors:
        where = f"{pods.namespace} ({pods.selector})"
        try:
            matched = _list_pods(kube, pods.namespace, pods.selector)
        except Exception as err:  # diagnostics never raise
            notes.append(_entry(where, "-", f"driverPods: {_unavailable(err)}"))
            continue
        if not matched:
            notes.append(
                _entry(
                    where,
                    "-",
                    f"driverPods: no pod in namespace {pods.namespace} matches {pods.selector!r}\n",
                )
            )
        for pod in matched:
            found.setdefault(_pod_ref(pod), pod)
    ordered = sorted(found.values(), key=lambda p: (_node(p) not in nodes, _pod_ref(p)))
    return ordered, notes


# ---------------------------------------------------------------- components


def component_logs(
    kube: KubeAPI,
    window: Window,
    *,
    host_logs: Mapping[str, Path] | None = None,
    driver_pods: Sequence[PodSelector] = (),
    clock_skew: float = 0.0,
    nodes: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """The logs of the CSI driver, its sidecars and the snapshot-controller for ``window``.

    Args:
        kube: the cluster (only used without ``host_logs``).
        window: the test's start and end; widened here by :data:`LOG_WINDOW_MARGIN` (and
            for pod logs, stamped by a node's clock, also by ``clock_skew``).
        host_logs: on the embedded testbed, each component's log file: read instead of pods.
        driver_pods: the profile's ``driverPods``.
        clock_skew: how far a node's clock may be from this machine's (seconds).
        nodes: the nodes the test's pods ran on; driver pods there are read first.

    Returns:
        Entries like the test's pod logs (``pod``, ``container``, ``text``); anything that
        could not be read is an entry saying why. Never raises.
    """
    try:
        if host_logs is not None:
            wide = window.widened(LOG_WINDOW_MARGIN)
            return [host_log(name, path, wide) for name, path in host_logs.items()]
        wide = window.widened(LOG_WINDOW_MARGIN + max(0.0, clock_skew))
        entries: list[dict[str, Any]] = []
        if driver_pods:
            pods, notes = _driver_pods(kube, driver_pods, frozenset(nodes))
            entries.extend(notes)
            entries.extend(
                _pods_logs(kube, pods, wide, limit=MAX_DRIVER_CONTAINERS, what="driver pods")
            )
        else:
            entries.append(
                _entry(
                    "driver pods",
                    "-",
                    "driver logs not collected: the profile names no driverPods "
                    '(e.g. driverPods: [{namespace: csi, selector: "app=my-csi"}])\n',
                )
            )
        controllers, why = _snapshot_controller_pods(kube)
        if why:
            entries.append(_entry("snapshot-controller", "-", f"logs unavailable: {why}\n"))
        entries.extend(
            _pods_logs(
                kube,
                controllers,
                wide,
                limit=MAX_CONTROLLER_CONTAINERS,
                what="snapshot-controller pods",
            )
        )
        return entries
    except Exception as err:  # diagnostics never raise
        return [_entry("components", "-", _unavailable(err))]


# ---------------------------------------------------------------- the bundle


def collect(
    tracker: Tracker,
    window: Window | None = None,
    *,
    host_logs: Mapping[str, Path] | None = None,
    driver_pods: Sequence[PodSelector] = (),
    clock_skew: float = 0.0,
) -> dict[str, Any]:
    """Objects, events and pod logs of everything the tracker knows.

    With a ``window`` (the test's start and end), also the component logs of
    :func:`component_logs` for it.
    """
    kube = tracker.kube
    objects: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    logs: list[dict[str, Any]] = []
    nodes: set[str] = set()
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
            if _node(obj):
                nodes.add(_node(obj))
            for container in (obj.get("spec") or {}).get("containers") or []:
                try:
                    text = kube.pod_log(name, namespace, container["name"])
                except (KubeError, OSError) as err:
                    text = f"(log unreadable: {err})"
                logs.append(
                    {
                        "pod": f"{namespace}/{name}",
                        "container": container["name"],
                        "text": redact_text(text[-MAX_LOG_CHARS:]),
                    }
                )
    if window is not None:
        logs.extend(
            component_logs(
                kube,
                window,
                host_logs=host_logs,
                driver_pods=driver_pods,
                clock_skew=clock_skew,
                nodes=nodes,
            )
        )
    return {"objects": objects, "events": events, "logs": logs}
