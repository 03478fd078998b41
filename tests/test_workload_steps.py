"""The workload's steps without a cluster: the scripts, exec's answers, the fallback.

The scripts are run here by the local shell on a temporary "volume" (the file-system
paths patched), so a write and a read must agree on the sha256, a changed payload must
not, and a missing one must say so. The exec stream's status channel and a refused
handshake are parsed as the API server sends them. A refused exec turns the session to
one-shot pods, once, and the test's record says so.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from conformance import actions, podexec, workload
from conformance.actions import ClusterActions, ExecChoice
from conformance.kube import Forbidden, Invalid, KubeError, NotFound
from conformance.profile import Profile, Workload


def _sh(script: str) -> str:
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def volume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(workload, "MOUNT_PATH", str(tmp_path))
    return tmp_path


def test_written_payload_reads_back_with_the_same_sha256(volume: Path) -> None:
    written = workload.parse_result(_sh(workload.writer_script("Filesystem", 3 * 1024 * 1024)))
    read = workload.parse_result(_sh(workload.reader_script("Filesystem", 3 * 1024 * 1024)))
    assert read == written
    assert written.size == 3 * 1024 * 1024


def test_changed_payload_reads_back_differently(volume: Path) -> None:
    written = workload.parse_result(_sh(workload.writer_script("Filesystem", 4096)))
    payload = volume / workload.PAYLOAD_FILE
    payload.write_bytes(b"x" + payload.read_bytes()[1:])
    assert workload.parse_result(_sh(workload.reader_script("Filesystem", 4096))) != written


def test_missing_payload_reads_as_missing(volume: Path) -> None:
    read = workload.parse_result(_sh(workload.reader_script("Filesystem", 4096)))
    assert read == workload.Result("missing", 0)


def test_one_shot_pods_report_through_the_termination_log() -> None:
    assert workload.one_shot("echo hi") == "(echo hi) > /dev/termination-log"


def test_exec_status_success_and_exit_codes() -> None:
    assert podexec._exit_code('{"metadata":{},"status":"Success"}') == 0
    failure = (
        '{"status":"Failure","reason":"NonZeroExitCode","details":'
        '{"causes":[{"reason":"ExitCode","message":"3"}]}}'
    )
    assert podexec._exit_code(failure) == 3


def test_exec_status_that_is_no_exit_code_is_an_error() -> None:
    with pytest.raises(KubeError, match="executable file not found"):
        podexec._exit_code(
            '{"status":"Failure","reason":"InternalError",'
            '"message":"exec: \\"x\\": executable file not found"}'
        )
    with pytest.raises(KubeError, match="without an exit status"):
        podexec._exit_code("")


def test_refused_exec_handshake_maps_to_forbidden_and_not_found() -> None:
    body = '{"kind":"Status","reason":"Forbidden","message":"pods \\"p\\" is forbidden"}'
    assert isinstance(podexec._status_error(403, body), Forbidden)
    assert isinstance(podexec._status_error(404, ""), NotFound)
    assert podexec._status_error(503, "", 2.0).retry_after == 2.0


class _Tracker:
    def __init__(self) -> None:
        self.notes: list[str] = []


def _actions(
    monkeypatch: pytest.MonkeyPatch, *, refuse: bool, refusal: type[KubeError] = Forbidden
) -> tuple[ClusterActions, list[str]]:
    """ClusterActions with the pod plumbing replaced: exec refused or answering."""
    ran: list[str] = []
    profile = Profile(driver="d", storage_class=None, snapshot_class=None)  # type: ignore[call-arg]
    cluster = ClusterActions.__new__(ClusterActions)
    cluster.profile = profile
    cluster.kube = None  # type: ignore[assignment]
    cluster.tracker = _Tracker()  # type: ignore[assignment]
    cluster.waiter = type("W", (), {"timings": None})()  # type: ignore[assignment]
    cluster.namespace = "ns"
    cluster.exec_choice = ExecChoice()
    cluster._noted_one_shot = False

    def exec_in_pod(*args: Any, **kwargs: Any) -> podexec.ExecResult:
        ran.append("exec")
        if refuse:
            raise refusal("pods/exec is forbidden", status=403)
        return podexec.ExecResult(0, "sha256=" + "a" * 64 + " size=1\n", "")

    def run_pod(*args: Any, **kwargs: Any) -> str:
        ran.append("one-shot")
        return "sha256=" + "b" * 64 + " size=1"

    monkeypatch.setattr(actions.pods, "exec_in_pod", exec_in_pod)
    monkeypatch.setattr(cluster, "volume_pod", lambda pvc, mode: "vol-1", raising=False)
    monkeypatch.setattr(cluster, "run_pod", run_pod, raising=False)
    return cluster, ran


PVC = {"kind": "PersistentVolumeClaim", "metadata": {"name": "c", "uid": "u"}}


def test_steps_run_by_exec_when_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, ran = _actions(monkeypatch, refuse=False)
    assert cluster.read_data(PVC).sha256 == "a" * 64
    assert ran == ["exec"]
    assert cluster.tracker.notes == []


@pytest.mark.parametrize("refusal", [Forbidden, Invalid], ids=["rbac", "admission"])
def test_refused_exec_falls_back_to_one_shot_pods_and_says_so(
    monkeypatch: pytest.MonkeyPatch, refusal: type[KubeError]
) -> None:
    cluster, ran = _actions(monkeypatch, refuse=True, refusal=refusal)
    assert cluster.read_data(PVC).sha256 == "b" * 64
    assert cluster.read_data(PVC).sha256 == "b" * 64
    assert ran == ["exec", "one-shot", "one-shot"]  # exec asked once per session
    assert cluster.exec_choice is not None
    assert not cluster.exec_choice.enabled
    [note] = cluster.tracker.notes
    assert note.startswith("workload steps ran in one-shot pods: the cluster refused exec")


def test_failed_step_names_the_pod_and_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    cluster, _ = _actions(monkeypatch, refuse=False)
    monkeypatch.setattr(
        actions.pods, "exec_in_pod", lambda *a, **k: podexec.ExecResult(1, "", "dd: No space left")
    )
    with pytest.raises(AssertionError, match="writer step in pod ns/vol-1 exited 1: dd: No space"):
        cluster.write_data(PVC)


def test_profile_can_turn_exec_off() -> None:
    assert Workload().exec is True
    assert ExecChoice(enabled=Workload(exec=False).exec).enabled is False
