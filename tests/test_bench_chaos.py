"""bench chaos: disk attribution, kill judging, the table; signal-safe cleanup; kill/restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench import chaos
from conformance.plugin import deferred_signals
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed import cluster, processes


def _layout(tmp_path: Path) -> Layout:
    return Layout(state=tmp_path / "state", cache=tmp_path / "cache")


def _state(
    layout: Layout, volumes: list[tuple[str, str]], snapshots: list[tuple[str, str]]
) -> None:
    layout.csi_data.mkdir(parents=True, exist_ok=True)
    for kind, entries in (("volumes", volumes), ("snapshots", snapshots)):
        (layout.csi_data / kind).mkdir(exist_ok=True)
        for ident, _ in entries:
            (layout.csi_data / kind / f"{ident}.img").write_text("")
    state = {
        "volumes": [{"id": i, "name": n} for i, n in volumes],
        "snapshots": [{"id": i, "name": n} for i, n in snapshots],
    }
    (layout.csi_data / "state.json").write_text(json.dumps(state))


def test_disk_entries_and_attribution(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    _state(layout, [("old", "pvc-old")], [])
    before = chaos.disk_entries(layout)
    assert before == {"volumes/old": "pvc-old"}
    _state(
        layout,
        [("old", "pvc-old"), ("v1", "pvc-mine"), ("v2", "pvc-other")],
        [("s1", "snapshot-x")],
    )
    (layout.csi_data / "volumes" / "stray").mkdir()
    leaks, unknown = chaos.disk_leaks(layout, before, {"pvc-mine", "snapshot-x"})
    assert leaks == ["snapshots/s1 (snapshot-x)", "volumes/v1 (pvc-mine)"]
    assert unknown == ["volumes/stray (not in state.json)", "volumes/v2 (pvc-other)"]


def test_judge_kill() -> None:
    message = (
        "timed out after 40s waiting for VolumeSnapshot ns/snap to be ready\n"
        "  last seen state:\n    readyToUse: None"
    )
    results = {
        "tests": [
            {"nodeid": "a::test_dynamic_snapshot_binds_one_to_one[delete-fs]", "outcome": "failed",
             "diagnostics": {"message": message}},
            {"nodeid": "a::test_content_with_wrong_uid_does_not_bind", "outcome": "passed"},
        ]
    }  # fmt: skip
    judged = chaos._judge_kill(results)
    assert judged["stuck_test"] == "failed"
    assert judged["message_names_snapshot"] is True
    assert judged["run_went_on"] is True
    assert chaos._judge_kill(None) == {"stuck_test": "no results.json"}


def test_table_and_summary() -> None:
    ok = chaos.RunOutcome(run_id="sc-1", mode="interrupt", signal="SIGINT", exit_code=130,
                          signal_at=3.0, exit_after_signal=12.5)  # fmt: skip
    bad = chaos.RunOutcome(run_id="sc-2", mode="interrupt", signal="SIGTERM", exit_code=130,
                           exit_after_signal=75.0, leaked_objects=["Namespace/x"])  # fmt: skip
    text = chaos.table([ok, bad])
    assert "sc-1" in text
    assert "SIGTERM" in text
    assert chaos.summary([ok, bad]) == {
        "runs": 2,
        "leaked_runs": 1,
        "leaked_total": 1,
        "signalled": 2,
        "max_exit_after_signal": 75.0,
        "over_exit_target": 1,
    }


def test_short_profile_sets_snapshot_ready(tmp_path: Path) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text(yaml.safe_dump({"driver": "d", "timeouts": {"delete": "2m"}}))
    args = chaos.parser().parse_args(["kill", "--profile", str(profile), "--out", str(tmp_path)])
    path = chaos.short_profile(args, "40s")
    assert yaml.safe_load(path.read_text())["timeouts"] == {"delete": "2m", "snapshotReady": "40s"}


def test_help_lists_every_mode(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        chaos.main(["--help"])
    out = capsys.readouterr().out
    for mode in ("interrupt", "api-faults", "kill", "all"):
        assert mode in out


def _cleanup(signals: list[int], done: list[str], *, reraise: bool = True) -> None:
    with deferred_signals(reraise=reraise):
        for sig in signals:
            os.kill(os.getpid(), sig)
        done.append("cleanup finished")


def test_deferred_signals_finish_the_block_then_interrupt() -> None:
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _cleanup([signal.SIGTERM], done)
    assert done == ["cleanup finished"]


def test_deferred_signals_without_reraise_only_note_it() -> None:
    done: list[str] = []
    _cleanup([signal.SIGINT], done, reraise=False)
    assert done == ["cleanup finished"]


def test_deferred_signals_second_signal_aborts() -> None:
    done: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        _cleanup([signal.SIGINT, signal.SIGINT], done, reraise=False)
    assert done == []


def test_deferred_signals_restore_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with deferred_signals():
        pass
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_kill_and_restart_component(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    argv = [sys.executable, "-c", "import time; time.sleep(60)"]
    first = processes.start(layout, "snapshot-controller", argv)
    try:
        killed = cluster.kill_component(layout, "snapshot-controller")
        assert killed.pid == first.pid
        assert not processes.alive(first)
        again = cluster.restart_component(layout, "snapshot-controller")
        assert again.pid != first.pid
        assert processes.alive(again)
        assert processes.recorded_argv(layout, "snapshot-controller") == argv
        assert cluster.restart_component(layout, "snapshot-controller") == again
    finally:
        proc = processes.read_pidfile(layout, "snapshot-controller")
        if proc is not None:
            processes.stop(layout, proc)
    with pytest.raises(cluster.TestbedError, match="does not run"):
        cluster.kill_component(layout, "snapshot-controller")


def test_interrupted_line_without_results_says_cleaned(tmp_path: Path) -> None:
    from conformance.runner import _interrupted_line

    line = _interrupted_line("sc-20260101-000000-abcd", tmp_path / "results.json")
    assert line == "interrupted; objects of run sc-20260101-000000-abcd were cleaned up"


def test_runs_get_sigint_even_when_the_bench_ignores_it(tmp_path: Path) -> None:
    """A bench started in a script's background ignores SIGINT; its runs must not inherit it."""
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc = chaos._start(
            [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT))"],
            tmp_path / "child.log",
        )
        assert proc.wait(30) == 0
    finally:
        signal.signal(signal.SIGINT, old)
    assert "default_int_handler" in (tmp_path / "child.log").read_text()


def test_wait_for_sees_the_check_hold_and_gives_up_when_the_child_exits(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    writer = subprocess.Popen(
        [sys.executable, "-c", f"import pathlib, time; pathlib.Path({str(flag)!r}).touch(); "
         "time.sleep(5)"]
    )  # fmt: skip
    try:
        assert chaos._wait_for(flag.exists, 20, writer, every=0.05)
    finally:
        writer.kill()
        writer.wait()
    quitter = subprocess.Popen([sys.executable, "-c", "pass"])
    quitter.wait()
    assert not chaos._wait_for((tmp_path / "never").exists, 20, quitter, every=0.05)
