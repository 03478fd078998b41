"""conformance.recorder: real pytest sessions (pytester) folded into results.json.

Each session runs in a subprocess with the conformance plugin loaded (its entry point)
and a conftest wiring the recorder the way the plugin does at session end: every
report into ``Recorder.add`` on the controller, then ``publish``. So the records come
from real ``TestReport`` objects, with xdist's serialisation in between for ``-n 2``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.recorder import (
    ALLURE_AREA,
    ALLURE_CAPABILITY,
    Recorder,
    allure_marks,
    cluster_summary,
    image_version,
    iso_time,
)
from conformance.report import REDACTED, RunResults, verdict

RUN_ID = "sc-20250601-101502-abcd"

CONFTEST = f"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from conformance.recorder import Recorder, allure_marks, attach_diagnostics
from conformance.report import publish

DIAGNOSTICS = {{
    "objects": [
        {{"kind": "PersistentVolumeClaim", "namespace": "ns", "name": "src",
          "yaml": "kind: PersistentVolumeClaim\\nstatus:\\n  phase: Pending\\n"}},
        {{"kind": "Secret", "namespace": "ns", "name": "creds",
          "yaml": "kind: Secret\\ndata:\\n  token: c3VwZXJzZWNyZXQ=\\n"}},
    ],
    "events": [{{"object": "PersistentVolumeClaim/ns/src", "type": "Warning",
                 "reason": "ProvisioningFailed", "message": "backend refused", "time": "t"}}],
    "logs": [{{"pod": "ns/writer", "container": "main", "text": "wrote 16Mi"}}],
}}


class Wiring:
    def __init__(self, config):
        self.config = config
        self.recorder = Recorder()
        self.start = time.time()

    def pytest_runtest_logreport(self, report):
        self.recorder.add(report)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        workers = getattr(self.config.option, "numprocesses", None) or 1
        run = self.recorder.results(
            run_id="{RUN_ID}",
            start=self.start,
            argv=["pytest", "--token=hunter2"],
            workers=workers,
            profile={{"driver": "hostpath.csi.k8s.io",
                      "capabilities": {{"snapshotDataSource": True, "RWX": False}},
                      "storageClass": {{"create": {{"parameters": {{"apiToken": "t0ps3cret"}}}}}}}},
            cluster={{"kubernetesVersion": "v1.33.1"}},
        )
        published = publish(run, Path(str(self.config.rootpath)) / "reports" / "{RUN_ID}")
        Path("gate.txt").write_text(str(published.exit_status))


def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(Wiring(config), "wiring")


def pytest_collection_modifyitems(items):
    for item in items:
        marker = item.get_closest_marker("area")
        area = marker.args[0] if marker else ""
        requires = [c for m in item.iter_markers("requires") for c in m.args]
        for mark in allure_marks(area, requires):
            item.add_marker(mark)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed and report.when != "teardown" and "diagnosed" in item.name:
        report.user_properties.append(("snapconf", {{"diagnostics": DIAGNOSTICS}}))
        attach_diagnostics(DIAGNOSTICS)
    return report
"""

TESTS = """
import pytest


@pytest.fixture
def broken():
    raise RuntimeError("fixture broke")


@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown broke")


@pytest.mark.area("restore")
@pytest.mark.requires("snapshotDataSource")
def test_passes(timings):
    timings.record("pvc-bound", 1.5, "PersistentVolumeClaim/ns/src")
    timings.record("snapshot-ready", 2.25, "VolumeSnapshot/ns/snap")


@pytest.mark.area("restore")
@pytest.mark.requires("snapshotDataSource", "block")
def test_fails_diagnosed(timings):
    timings.record("pvc-bound", 3.0, "PersistentVolumeClaim/ns/src")
    assert 1 == 2, "restored data differs"


@pytest.mark.area("clone")
@pytest.mark.requires("RWX")
def test_needs_undeclared():
    pass


@pytest.mark.area("binding")
def test_skips_itself():
    pytest.skip("backend maintenance window")


@pytest.mark.area("deletion")
def test_setup_error_diagnosed(broken):
    pass


@pytest.mark.area("deletion")
def test_teardown_error(bad_teardown):
    pass


@pytest.mark.area("negative")
@pytest.mark.xfail(reason="known driver bug", strict=False)
def test_xfails():
    assert False
"""


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No cluster is ever contacted: the plugin's session-end leak check finds no kubeconfig."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    for name in ("SNAPCONF_PROFILE", "SNAPCONF_REPORT_DIR", "SNAPCONF_BASELINE", "SNAPCONF_AREA"):
        monkeypatch.delenv(name, raising=False)


def run_session(pytester: pytest.Pytester, *args: str) -> tuple[RunResults, dict[str, Any], int]:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    folder = pytester.path / "reports" / RUN_ID
    results = RunResults.load(folder / "results.json")
    raw = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    gate = int((pytester.path / "gate.txt").read_text())
    return results, raw, gate


def by_name(results: RunResults) -> dict[str, Any]:
    return {t.name: t for t in results.tests}


EXPECTED = {
    "test_passes": ("passed", None, "restore", True),
    "test_fails_diagnosed": ("failed", None, "restore", True),
    "test_needs_undeclared": ("skipped", "profile does not declare capability RWX", "clone", False),
    "test_skips_itself": ("skipped", "backend maintenance window", "binding", True),
    "test_setup_error_diagnosed": ("error", None, "deletion", True),
    "test_teardown_error": ("error", None, "deletion", True),
    "test_xfails": ("skipped", "expected to fail (xfail): known driver bug", "negative", True),
}


def check_records(results: RunResults) -> None:
    tests = by_name(results)
    assert set(tests) == set(EXPECTED)
    for name, (outcome, reason, area, required) in EXPECTED.items():
        t = tests[name]
        assert (t.outcome, t.skip_reason, t.area, t.required) == (outcome, reason, area, required)
        assert t.nodeid == f"test_suite.py::{name}"
        assert t.duration >= 0
    assert tests["test_fails_diagnosed"].requires == ["snapshotDataSource", "block"]
    passed = tests["test_passes"]
    assert [(x.op, x.seconds, x.subject) for x in passed.timings] == [
        ("pvc-bound", 1.5, "PersistentVolumeClaim/ns/src"),
        ("snapshot-ready", 2.25, "VolumeSnapshot/ns/snap"),
    ]
    assert passed.diagnostics is None

    failed = tests["test_fails_diagnosed"].diagnostics
    assert failed is not None
    assert failed.message.startswith("AssertionError: restored data differs")
    assert "assert 1 == 2" in failed.traceback
    assert [o.name for o in failed.objects] == ["src", "creds"]
    assert [e.reason for e in failed.events] == ["ProvisioningFailed"]
    assert [log.text for log in failed.logs] == ["wrote 16Mi"]

    setup = tests["test_setup_error_diagnosed"].diagnostics
    assert setup is not None
    assert setup.message == "setup: RuntimeError: fixture broke"
    teardown = tests["test_teardown_error"].diagnostics
    assert teardown is not None
    assert teardown.message == "teardown: RuntimeError: teardown broke"
    assert teardown.objects == []


def test_sequential_session(pytester: pytest.Pytester) -> None:
    results, raw, gate = run_session(pytester)
    check_records(results)
    assert {t.worker for t in results.tests} == {"main"}
    assert results.run.id == RUN_ID
    assert results.run.workers == 1
    assert results.capabilities == {"snapshotDataSource": True, "RWX": False}
    # Not conformant: a required test failed, two errored, one skipped for its own reason.
    judged = verdict(results)
    assert not judged.conformant
    assert gate == 1
    assert judged.reasons == [
        "required test failed: test_suite.py::test_fails_diagnosed",
        "required test skipped (backend maintenance window): test_suite.py::test_skips_itself",
        "required test errored: test_suite.py::test_setup_error_diagnosed",
        "required test errored: test_suite.py::test_teardown_error",
        "required test skipped (expected to fail (xfail): known driver bug): "
        "test_suite.py::test_xfails",
    ]
    # Secrets never reach the file: not in the profile, argv or an object dump.
    text = json.dumps(raw)
    for secret in ("t0ps3cret", "hunter2", "c3VwZXJzZWNyZXQ="):
        assert secret not in text
    assert raw["run"]["argv"] == ["pytest", f"--token={REDACTED}"]
    creds = next(o for o in raw["tests"][1]["diagnostics"]["objects"] if o["kind"] == "Secret")
    assert yaml.safe_load(creds["yaml"])["data"] == {"token": REDACTED}
    # The report and the latest link sit next to results.json.
    folder = pytester.path / "reports" / RUN_ID
    assert (folder / "report.html").is_file()
    latest = pytester.path / "reports" / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == folder.resolve()


def test_xdist_session(pytester: pytest.Pytester) -> None:
    results, _, gate = run_session(pytester, "-n", "2")
    check_records(results)
    assert {t.worker for t in results.tests} <= {"gw0", "gw1"}
    assert len({t.worker for t in results.tests}) == 2
    assert results.run.workers == 2
    assert gate == 1
    # Every test once, whichever worker ran it.
    assert len(results.tests) == len({t.nodeid for t in results.tests}) == len(EXPECTED)


def test_allure_labels_and_attachments(pytester: pytest.Pytester) -> None:
    _, _, _ = run_session(pytester, "--alluredir", "allure-results")
    out = pytester.path / "allure-results"
    results = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*-result.json"))]
    by = {r["name"]: r for r in results}
    labels = {(lab["name"], lab["value"]) for lab in by["test_fails_diagnosed"]["labels"]}
    assert {
        (ALLURE_AREA, "restore"),
        ("epic", "restore"),
        ("feature", "snapshotDataSource"),
        ("feature", "block"),
        (ALLURE_CAPABILITY, "snapshotDataSource"),
        (ALLURE_CAPABILITY, "block"),
        ("tag", "block"),
    } <= labels
    names = [a["name"] for a in by["test_fails_diagnosed"].get("attachments", [])]
    assert {"events", "PersistentVolumeClaim ns/src", "Secret ns/creds"} <= set(names)
    assert "log ns/writer main" in names
    secret = next(
        a for a in by["test_fails_diagnosed"]["attachments"] if a["name"] == "Secret ns/creds"
    )
    body = (out / secret["source"]).read_text(encoding="utf-8")
    assert "c3VwZXJzZWNyZXQ=" not in body
    assert REDACTED in body
    assert by["test_fails_diagnosed"]["status"] == "failed"
    assert by["test_passes"].get("attachments", []) == []


# ---------------------------------------------------------------- small parts


def test_allure_marks_without_area_or_capabilities() -> None:
    assert allure_marks("", []) == []
    marks = allure_marks("restore", ["block"])
    assert [(m.name, m.args, m.kwargs["label_type"]) for m in marks] == [
        ("allure_label", ("restore",), ALLURE_AREA),
        ("allure_label", ("restore",), "epic"),
        ("allure_label", ("block",), ALLURE_CAPABILITY),
        ("allure_label", ("block",), "feature"),
        ("allure_label", ("block",), "tag"),
    ]


def test_results_defaults_capabilities_to_the_profile() -> None:
    run = Recorder().results(
        run_id=RUN_ID,
        start=0.0,
        end="2025-06-01T10:20:00+00:00",
        profile={"driver": "d", "capabilities": {"block": True}},
    )
    assert run.capabilities == {"block": True}
    assert run.run.start == "1970-01-01T00:00:00.000+00:00"
    assert run.tests == []


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("registry.k8s.io/sig-storage/csi-snapshotter:v8.2.1", "v8.2.1"),
        ("localhost:5000/snapshot-controller", ""),
        ("localhost:5000/snapshot-controller:v8.0.0", "v8.0.0"),
        ("quay.io/x/driver@sha256:" + "ab" * 32, "sha256:abababababab"),
        ("quay.io/x/driver:v1@sha256:" + "ab" * 32, "v1"),
    ],
)
def test_image_version(image: str, version: str) -> None:
    assert image_version(image) == version


def test_iso_time() -> None:
    assert iso_time(1748772902.5) == "2025-06-01T10:15:02.500+00:00"
    assert iso_time("2025-06-01T10:15:02Z") == "2025-06-01T10:15:02Z"


class FakeKube:
    """A cluster with a snapshot controller, a CSI driver pod and an unrelated pod."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()

    def _check(self, what: str) -> None:
        if what in self.fail:
            raise PermissionError(f"{what} is forbidden\nsecond line")

    def server_version(self) -> dict[str, Any]:
        self._check("version")
        return {"gitVersion": "v1.33.1", "platform": "linux/amd64", "major": "1"}

    def get_or_none(
        self, kind: Any, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        self._check(str(kind))
        if name != "hostpath.csi.k8s.io":
            return None
        return {"metadata": {"name": name}, "spec": {"attachRequired": False}}

    def list(
        self,
        kind: Any,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        self._check(str(kind))
        if kind == "Node":
            info = {"kubeletVersion": "v1.33.1", "containerRuntimeVersion": "containerd://2.0"}
            return [{"metadata": {"name": "n1"}, "status": {"nodeInfo": info}}], "1"

        def pod(ns: str, name: str, *images: str) -> dict[str, Any]:
            containers = [{"name": i.rsplit("/", 1)[-1].split(":")[0], "image": i} for i in images]
            return {"metadata": {"namespace": ns, "name": name}, "spec": {"containers": containers}}

        return [
            pod("kube-system", "snapshot-controller-0", "k8s/snapshot-controller:v8.2.1"),
            pod(
                "csi",
                "csi-hostpathplugin-0",
                "k8s/hostpathplugin:v1.15.0",
                "k8s/csi-snapshotter:v8.2.1",
            ),
            pod("default", "web", "nginx:1.27"),
        ], "1"


def test_cluster_summary() -> None:
    summary = cluster_summary(FakeKube(), "hostpath.csi.k8s.io")
    assert summary["kubernetesVersion"] == "v1.33.1"
    assert summary["serverVersion"] == {"gitVersion": "v1.33.1", "platform": "linux/amd64"}
    assert summary["csiDriver"] == {"name": "hostpath.csi.k8s.io", "attachRequired": False}
    assert [
        (c["name"], c["version"], c.get("pod", c.get("node"))) for c in summary["components"]
    ] == [
        ("hostpathplugin", "v1.15.0", "csi/csi-hostpathplugin-0"),
        ("csi-snapshotter", "v8.2.1", "csi/csi-hostpathplugin-0"),
        ("snapshot-controller", "v8.2.1", "kube-system/snapshot-controller-0"),
        ("kubelet", "v1.33.1", "n1"),
    ]
    assert summary["notes"] == []


def test_cluster_summary_notes_what_it_cannot_read() -> None:
    summary = cluster_summary(
        FakeKube(fail={"version", "Pod"}),
        "other.csi.example.com",
        extra_components=[{"name": "snapshot-controller", "version": "v8.2.1", "binary": "/b"}],
    )
    assert summary["kubernetesVersion"] == ""
    assert summary["csiDriver"] == {"name": "other.csi.example.com", "registered": False}
    assert summary["components"][0] == {
        "name": "snapshot-controller",
        "version": "v8.2.1",
        "binary": "/b",
    }
    assert summary["notes"] == [
        "server version not readable: version is forbidden",
        "no CSIDriver object named other.csi.example.com",
        "pods not readable, component images unknown: Pod is forbidden",
    ]
    # And it still makes a valid run record.
    Recorder().results(run_id=RUN_ID, start=0.0, cluster=summary)
