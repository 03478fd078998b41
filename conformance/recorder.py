"""Turn a pytest session into what ``results.json`` records: one record a test, the run.

Why it exists: pytest reports a test in three phases (setup, call, teardown), on whichever
xdist worker ran it; ``results.json`` wants one record a test with one outcome. Workers
attach what only they know (area, capabilities, timings, diagnostics) to each phase's
report as its ``snapconf`` attribute (or a ``snapconf`` user property), which xdist
carries back to the controller with the report; :class:`Recorder` folds those reports
there (or in the only process, without xdist).

It also reads what the run record says about the cluster (:func:`cluster_summary`: server
version, the CSIDriver, the CSI and snapshot components whose images are visible) and
gives the plugin the allure labels and attachments of a test (:func:`allure_marks`,
:func:`attach_diagnostics`). Nothing here writes files or decides the verdict; that is
``conformance.report``. Reading the cluster never raises: what cannot be read is noted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import pytest

from conformance import __version__
from conformance.report.html import nodeid_anchor
from conformance.report.results import ObjectDump, RunResults

try:
    import allure
except ImportError:  # pragma: no cover - allure-pytest is a dependency
    allure = None  # type: ignore[assignment]

#: The report attribute (or user property) the plugin attaches its per-phase payload as.
USER_PROPERTY: Final = "snapconf"
#: Payload keys copied into the record as they are (the last phase that has one wins).
_COPIED: Final = ("area", "requires", "required", "worker", "description")

#: Container images that mark a pod as part of a CSI driver or the snapshot machinery.
#: Every container of such a pod is recorded (the driver's own container among them).
CSI_COMPONENTS: Final = (
    "snapshot-controller",
    "snapshot-validation-webhook",
    "csi-snapshotter",
    "csi-provisioner",
    "csi-attacher",
    "csi-resizer",
    "csi-node-driver-registrar",
    "livenessprobe",
    "csi-external-health-monitor-controller",
)
#: At most this many nodes are recorded with their kubelet version.
MAX_NODES: Final = 10
#: Allure label names snapconf sets (besides allure's ``epic``, ``feature``, ``story``, ``tag``).
ALLURE_AREA: Final = "area"
ALLURE_CAPABILITY: Final = "capability"
#: The allure link type of a test's link to its row in ``report.html``.
ALLURE_REPORT_LINK: Final = "report"
#: How a test's ``report.html#<anchor>`` becomes its link's URL (``str.format``), unless
#: ``--allure-link-pattern report:PATTERN`` says otherwise: relative to Allure's report,
#: which is rendered into ``<run>/allure-report/``, next to ``report.html``.
REPORT_LINK_PATTERN: Final = "../{}"


def _payloads(report: pytest.TestReport) -> list[dict[str, Any]]:
    """The plugin's payloads of one phase: the ``snapconf`` attribute, then user properties.

    Both survive xdist's serialisation of the report.
    """
    found: list[dict[str, Any]] = []
    attribute = getattr(report, USER_PROPERTY, None)
    if isinstance(attribute, dict):
        found.append(attribute)
    found += [
        value
        for key, value in report.user_properties
        if key == USER_PROPERTY and isinstance(value, dict)
    ]
    return found


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    reason = reason.removeprefix("Skipped: ")
    wasxfail = getattr(report, "wasxfail", None)
    if wasxfail is not None:
        return f"expected to fail (xfail){': ' + str(wasxfail) if wasxfail else ''}"
    return reason


def _message(report: pytest.TestReport) -> str:
    """The assertion or exception message, without the traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    message = getattr(crash, "message", "") if crash is not None else ""
    if message:
        return str(message)
    text = (report.longreprtext or "").strip()
    return text.splitlines()[-1] if text else ""


def _worker(report: pytest.TestReport) -> str | None:
    """The xdist worker id (``gw0``) a report came from, on the controller."""
    worker = getattr(report, "worker_id", None)
    if isinstance(worker, str) and worker:
        return worker
    node = getattr(report, "node", None)
    workerinput = getattr(node, "workerinput", None)
    if isinstance(workerinput, dict) and workerinput.get("workerid"):
        return str(workerinput["workerid"])
    return None


def _new_record(nodeid: str) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "name": nodeid.rsplit("::", 1)[-1],
        "area": "",
        "requires": [],
        "required": True,
        "outcome": "passed",
        "skipReason": None,
        "duration": 0.0,
        "worker": "main",
        "timings": [],
        "diagnostics": None,
        "notes": [],
        "description": "",
    }


class Recorder:
    """One record (the JSON form of a ``TestRecord``) a test nodeid, in finishing order.

    Feed it every ``TestReport`` from ``pytest_runtest_logreport`` on the controller;
    then :meth:`results` makes the run's ``RunResults``.
    """

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}

    def add(self, report: pytest.TestReport) -> None:
        """Fold one phase's report into its test's record.

        The outcome is the worst of the phases: a failed call is ``failed``; a failed
        setup or teardown is ``error`` (unless the call already failed); a skip in any
        phase is ``skipped`` with its reason. Durations add up; timings and diagnostics
        come from the plugin's ``snapconf`` payloads.
        """
        record = self.records.setdefault(report.nodeid, _new_record(report.nodeid))
        record["duration"] = round(record["duration"] + float(report.duration or 0.0), 3)
        worker = _worker(report)
        if worker:
            record["worker"] = worker
        for payload in _payloads(report):
            for key in _COPIED:
                if key in payload:
                    record[key] = payload[key]
            record["timings"].extend(_timings(payload.get("timings")))
            record["notes"].extend(str(n) for n in payload.get("notes") or [])
            if payload.get("diagnostics"):
                found = dict(payload["diagnostics"])
                if record["diagnostics"]:
                    # Keep the message and traceback of the first failure.
                    found["message"] = record["diagnostics"].get("message", "")
                    found["traceback"] = record["diagnostics"].get("traceback", "")
                record["diagnostics"] = found
        if report.skipped:
            if record["outcome"] == "passed":
                record["outcome"] = "skipped"
                record["skipReason"] = _skip_reason(report)
        elif report.failed:
            self._failed(record, report)

    def add_cleanup(self, nodeid: str, errors: list[str], notes: list[str]) -> None:
        """Fold a test's background cleanup into its record.

        Its notes join the test's; objects it could not delete make a passed or skipped
        test an ``error``, with the message ``cleanup left objects behind: ...``.
        """
        record = self.records.setdefault(nodeid, _new_record(nodeid))
        record["notes"].extend(notes)
        if not errors:
            return
        if record["outcome"] in ("passed", "skipped"):
            record["outcome"] = "error"
            record["skipReason"] = None
        diagnostics = record["diagnostics"] or {"objects": [], "events": [], "logs": []}
        message = "cleanup left objects behind:\n" + "\n".join(errors)
        if not diagnostics.get("message"):
            diagnostics["message"] = message
        earlier = diagnostics.get("traceback") or ""
        diagnostics["traceback"] = f"{earlier}\n\n--- cleanup ---\n{message}".strip()
        record["diagnostics"] = diagnostics

    @staticmethod
    def _failed(record: dict[str, Any], report: pytest.TestReport) -> None:
        in_call = report.when == "call"
        if record["outcome"] in ("passed", "skipped"):
            record["outcome"] = "failed" if in_call else "error"
            record["skipReason"] = None
        diagnostics = record["diagnostics"] or {"objects": [], "events": [], "logs": []}
        phase = "" if in_call else f"{report.when}: "
        if not diagnostics.get("message"):
            diagnostics["message"] = phase + _message(report)
        earlier = diagnostics.get("traceback") or ""
        text = report.longreprtext or ""
        if earlier and text:
            text = f"{earlier}\n\n--- {report.when} ---\n{text}"
        diagnostics["traceback"] = text or earlier
        record["diagnostics"] = diagnostics

    def as_list(self) -> list[dict[str, Any]]:
        """The records in the order their tests first reported."""
        return list(self.records.values())

    def results(
        self,
        *,
        run_id: str,
        start: float | datetime | str,
        end: float | datetime | str | None = None,
        argv: Sequence[str] = (),
        workers: int = 1,
        profile: Mapping[str, Any] | None = None,
        capabilities: Mapping[str, bool] | None = None,
        cluster: Mapping[str, Any] | None = None,
        snapconf_version: str = __version__,
    ) -> RunResults:
        """The whole run, checked against the results schema.

        ``start``/``end`` take epoch seconds (``time.time()``), datetimes or ISO strings;
        ``end`` defaults to now. ``capabilities`` defaults to the profile's
        ``capabilities``. The profile and cluster are redacted when written.

        Raises:
            ResultsError: a record or argument does not fit the schema (a plugin bug).
        """
        profile_dict = dict(profile or {})
        caps = capabilities if capabilities is not None else profile_dict.get("capabilities")
        return RunResults.from_dict(
            {
                "schemaVersion": 1,
                "run": {
                    "id": run_id,
                    "start": iso_time(start),
                    "end": iso_time(end if end is not None else datetime.now(UTC)),
                    "argv": [str(a) for a in argv],
                    "workers": int(workers),
                    "profile": _jsonable(profile_dict),
                    "cluster": _jsonable(dict(cluster or {})),
                    "snapconfVersion": snapconf_version,
                },
                "capabilities": {str(k): bool(v) for k, v in dict(caps or {}).items()},
                "baselineRegressions": [],
                "tests": self.as_list(),
            }
        )


def _timings(value: object) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        return []
    return [dict(item) for item in value if isinstance(item, Mapping)]


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types (tuples to lists, unknown objects to strings)."""
    return json.loads(json.dumps(value, default=str))


def iso_time(value: float | datetime | str) -> str:
    """An ISO 8601 UTC time (``2025-06-01T10:15:02.123+00:00``) from epoch, datetime or text."""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
    else:
        moment = datetime.fromtimestamp(float(value), UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


# ---------------------------------------------------------------- the cluster


class ClusterReader(Protocol):
    """What :func:`cluster_summary` reads through (``conformance.kube.Kube`` fits)."""

    def server_version(self) -> dict[str, Any]:
        """See ``Kube.server_version``."""

    def get_or_none(
        self, kind: Any, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """See ``Kube.get_or_none``."""

    def list(
        self,
        kind: Any,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """See ``Kube.list``."""


_DIGEST = re.compile(r"@(sha256:[0-9a-f]{12})[0-9a-f]*$")


def image_version(image: str) -> str:
    """The tag of an image reference (``v8.2.1``), else a short digest, else ``""``."""
    digest = _DIGEST.search(image)
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    if ":" in last:
        return last.rsplit(":", 1)[1]
    return digest.group(1) if digest else ""


def _is_csi_pod(pod: Mapping[str, Any]) -> bool:
    spec = pod.get("spec") or {}
    for container in spec.get("containers") or []:
        image = str(container.get("image") or "")
        name = image.split("@", 1)[0].rsplit("/", 1)[-1].split(":", 1)[0]
        if name in CSI_COMPONENTS:
            return True
    return False


def _pod_components(pods: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    out: list[dict[str, Any]] = []
    for pod in sorted(pods, key=_pod_key):
        if not _is_csi_pod(pod):
            continue
        meta = pod.get("metadata") or {}
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        statuses = {
            str(s.get("name")): s for s in (pod.get("status") or {}).get("containerStatuses") or []
        }
        for container in (pod.get("spec") or {}).get("containers") or []:
            name = str(container.get("name") or "")
            image = str(container.get("image") or "")
            if (name, image) in seen:
                continue
            seen.add((name, image))
            entry: dict[str, Any] = {
                "name": name,
                "version": image_version(image),
                "image": image,
                "pod": where,
            }
            image_id = str(statuses.get(name, {}).get("imageID") or "")
            if "@sha256:" in image_id:
                entry["imageID"] = image_id
            out.append(entry)
    return out


def _pod_key(pod: Mapping[str, Any]) -> tuple[str, str]:
    meta = pod.get("metadata") or {}
    return (str(meta.get("namespace", "")), str(meta.get("name", "")))


def _csi_driver(obj: Mapping[str, Any] | None, driver: str) -> dict[str, Any]:
    if obj is None:
        return {"name": driver, "registered": False}
    spec = dict(obj.get("spec") or {})
    return {"name": str((obj.get("metadata") or {}).get("name") or driver), **spec}


def _nodes(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for node in sorted(nodes, key=lambda n: str((n.get("metadata") or {}).get("name", "")))[
        :MAX_NODES
    ]:
        info = (node.get("status") or {}).get("nodeInfo") or {}
        out.append(
            {
                "name": "kubelet",
                "version": str(info.get("kubeletVersion") or ""),
                "node": str((node.get("metadata") or {}).get("name", "")),
                "containerRuntime": str(info.get("containerRuntimeVersion") or ""),
                "os": str(info.get("osImage") or ""),
            }
        )
    return out


def cluster_summary(
    kube: ClusterReader,
    driver: str,
    extra_components: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """What ``results.json`` records about the cluster under test; never raises.

    Reads the server's ``/version``, the CSIDriver object named ``driver``, the nodes'
    kubelet versions, and every pod with a CSI sidecar or snapshot controller image (all
    its containers, so the driver's own image too). Components that run outside the
    cluster (the testbed runs them as host processes) are not visible there: pass them
    as ``extra_components`` (``{name, version, binary}``). What cannot be read (no
    permission to list pods, say) is listed under ``notes``.

    Returns:
        ``{"kubernetesVersion", "serverVersion", "csiDriver", "components", "notes"}``
    """
    notes: list[str] = []
    summary: dict[str, Any] = {"kubernetesVersion": "", "csiDriver": {"name": driver}}
    try:
        version = kube.server_version()
        summary["kubernetesVersion"] = str(version.get("gitVersion") or "")
        summary["serverVersion"] = {
            k: version[k] for k in ("gitVersion", "platform", "goVersion") if k in version
        }
    except Exception as err:  # a summary must not fail the run: note it instead
        notes.append(f"server version not readable: {_short(err)}")
    try:
        summary["csiDriver"] = _csi_driver(kube.get_or_none("CSIDriver", driver), driver)
        if summary["csiDriver"].get("registered") is False:
            notes.append(f"no CSIDriver object named {driver}")
    except Exception as err:
        notes.append(f"CSIDriver {driver} not readable: {_short(err)}")
    components: list[dict[str, Any]] = [dict(c) for c in extra_components]
    try:
        pods, _ = kube.list("Pod")
        found = _pod_components(pods)
        components += found
        if not found and not extra_components:
            notes.append("no CSI sidecar or snapshot-controller pod is visible in the cluster")
    except Exception as err:
        notes.append(f"pods not readable, component images unknown: {_short(err)}")
    try:
        nodes, _ = kube.list("Node")
        components += _nodes(nodes)
    except Exception as err:
        notes.append(f"nodes not readable: {_short(err)}")
    summary["components"] = components
    summary["notes"] = notes
    return summary


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# ---------------------------------------------------------------- allure


def allure_marks(
    area: str,
    requires: Sequence[str],
    docstring: str = "",
    nodeid: str = "",
    link_pattern: str = REPORT_LINK_PATTERN,
) -> list[pytest.MarkDecorator]:
    """Allure labels and the report link of a test as marks for ``item.add_marker``.

    Allure's Behaviors tree reads epic > feature > story: the ``epic`` is the area, a
    ``feature`` each capability the test requires, the ``story`` the first line of its
    docstring (the behaviour it proves). snapconf's own ``area`` and ``capability`` labels
    and a ``tag`` for each capability are set too, for Allure's filters. allure-pytest
    reads these ``allure_label`` marks; without ``--alluredir`` they are inert.
    Parameters (volume mode, deletion policy) need no mark: allure-pytest shows those of
    the test's parametrization by their argument names.
    With a ``nodeid``, a link of type ``report`` goes to the test's row in the run's
    ``report.html``: ``link_pattern.format("report.html#<anchor>")``, by default
    ``../report.html#<anchor>`` (Allure's report is rendered into ``<run>/allure-report/``,
    next to it); the anchor is the same in every run. Allure 3 makes only ``http(s)``
    links clickable and shows the others as text, hence the anchor in the link's name;
    where the run folder is published, ``--allure-link-pattern
    report:https://host/path/{}`` (allure-pytest's option) makes them clickable.
    """
    label = pytest.mark.allure_label
    marks: list[pytest.MarkDecorator] = []
    if area:
        marks += [label(area, label_type=ALLURE_AREA), label(area, label_type="epic")]
    if requires:
        marks += [
            label(*requires, label_type=ALLURE_CAPABILITY),
            label(*requires, label_type="feature"),
            label(*requires, label_type="tag"),
        ]
    story = next((line.strip() for line in docstring.splitlines() if line.strip()), "")
    if story:
        marks.append(label(story, label_type="story"))
    if nodeid:
        target = f"report.html#{nodeid_anchor(nodeid)}"
        url = link_pattern.format(target)
        marks.append(pytest.mark.allure_link(url, link_type=ALLURE_REPORT_LINK, name=target))
    return marks


def attach_diagnostics(diagnostics: Mapping[str, Any]) -> int:
    """Attach a failure's diagnostics to the running test's allure result.

    Call from ``pytest_runtest_makereport`` of the failing phase, with the diagnostics
    dict of the ``snapconf`` payload (``objects``, ``events``, ``logs``). The events,
    each object's YAML (a Secret's data redacted) and each log become one attachment
    each. A no-op without allure-pytest's ``--alluredir``. Returns how many there were.
    """
    if allure is None:  # pragma: no cover - allure-pytest is a dependency
        return 0
    kinds = allure.attachment_type
    count = 0

    def attach(body: str, name: str, kind: Any) -> None:
        nonlocal count
        allure.attach(body, name=name, attachment_type=kind)
        count += 1

    events = diagnostics.get("events") or []
    if events:
        lines = [
            f"{e.get('time', '')}  {e.get('object', '')}  {e.get('type', '')} "
            f"{e.get('reason', '')}: {e.get('message', '')}"
            for e in events
        ]
        attach("\n".join(lines) + "\n", "events", kinds.TEXT)
    for obj in diagnostics.get("objects") or []:
        dump = ObjectDump(
            kind=str(obj.get("kind", "")),
            namespace=obj.get("namespace") or None,
            name=str(obj.get("name", "")),
            yaml=str(obj.get("yaml", "")),
        )
        where = f"{dump.namespace}/" if dump.namespace else ""
        # to_dict redacts a Secret's data, as results.json does.
        attach(dump.to_dict()["yaml"], f"{dump.kind} {where}{dump.name}", kinds.YAML)
    for log in diagnostics.get("logs") or []:
        attach(str(log.get("text", "")), f"log {log.get('pod')} {log.get('container')}", kinds.TEXT)
    return count
