"""Chaos benchmark: does snapconf leave nothing behind when the world misbehaves?

Three modes, each a number of real ``snapconf run`` processes against the testbed:

- ``interrupt``: runs of a few tests (restore, clone, protection), each sent SIGINT or
  SIGTERM at a random moment; after each, the objects left with that run's label (every
  kind snapconf makes, namespaces, PVs, contents, classes) plus the hostpath volumes and
  snapshots on disk that the run made, and the seconds from the signal to the exit.
  Target: nothing left, every exit within 60 s of the signal.
- ``api-faults``: the suite through ``snapconf_testbed.testbed.apiproxy`` (10% faults, watch
  drops every 30 s, ``-n 2``): the verdict, the faults injected, what was left.
- ``kill``: the snapshot-controller (then the csi-snapshotter) is killed in the middle of
  a test that waits for a snapshot, with a profile copy whose snapshotReady is short; the
  test must fail naming the stuck snapshot and its state, the run must go on, and after
  the component is restarted nothing of the run may be left.

Each mode prints a table and writes the raw figures as JSON (``--out``). It is a
benchmark for a quiet testbed, never part of CI. Full scale, one command::

    bench/chaos all --out reports/bench-chaos

(``interrupt`` 20 SIGINT + 5 SIGTERM, ``api-faults`` on every area, ``kill`` for both
components). Small scale: ``bench/chaos interrupt --runs 2``, ``bench/chaos api-faults
--area binding -n 1``, ``bench/chaos kill --component snapshot-controller``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from conformance import report
from conformance.kube import RUN_LABEL, Kube, KubeError, dig
from conformance.paths import default_profile
from conformance.resources import leak_check, new_run_id, sweep
from conformance.units import parse_duration
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed.cluster import kill_component, restart_component

INTERRUPT_TESTS = (
    "test_restore_holds_data_at_snapshot_time or test_clone_holds_source_data_and_is_independent"
    " or test_deleting_snapshot_keeps_source_intact"
)
"""The default subset of ``interrupt``: a restore, a clone and a protection test."""
INTERRUPT_AREAS = ("restore", "clone", "protection")
KILL_TEST = "test_dynamic_snapshot_binds_one_to_one and delete-fs"
KILL_FOLLOW_UP = "test_content_with_wrong_uid_does_not_bind"
EXIT_TARGET = 60.0
"""Seconds from the signal to the exit that ``interrupt`` aims for."""


def _say(text: str) -> None:
    print(f"chaos: {text}", file=sys.stderr, flush=True)


def _snapconf() -> list[str]:
    """How to start ``snapconf`` with this interpreter (the console script beside it)."""
    script = Path(sys.executable).with_name("snapconf")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from conformance.cli import main; sys.exit(main())"]


# ---------------------------------------------------------------- what a run leaves


def disk_entries(layout: Layout) -> dict[str, str]:
    """The hostpath plugin's volumes and snapshots on disk: ``kind/id`` -> CSI name.

    From its state.json (id and the name the sidecars gave: the PV or content name) and
    from the ``volumes/`` and ``snapshots/`` folders (files the state no longer lists).
    """
    found: dict[str, str] = {}
    try:
        state = json.loads((layout.csi_data / "state.json").read_text())
    except (OSError, ValueError):
        state = {}
    for kind in ("volumes", "snapshots"):
        for entry in state.get(kind) or []:
            found[f"{kind}/{entry.get('id')}"] = str(entry.get("name") or "")
        folder = layout.csi_data / kind
        if folder.is_dir():
            for path in folder.iterdir():
                key = f"{kind}/{path.name.split('.')[0]}"
                found.setdefault(key, "")
    return found


class RunWatcher:
    """Notes, every second, the CSI names of a run's volumes and snapshots.

    A leaked backend volume on disk is known only by its CSI name; once the run's claim
    or snapshot is gone, only this record ties the name to the run. Polling is fine
    here: it is the benchmark looking on, not a wait of the harness.
    """

    def __init__(self, kube: Kube, run_id: str, interval: float = 1.0) -> None:
        self.kube = kube
        self.run_id = run_id
        self.interval = interval
        self.names: set[str] = set()
        self.snapshots: list[dict[str, Any]] = []
        self.claims: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def poll(self) -> None:
        """Record the CSI names of the run's claims and snapshots (from their uids).

        The external-provisioner names a volume ``pvc-<claim uid>`` and the
        csi-snapshotter a snapshot ``snapshot-<VolumeSnapshot uid>``; those are the names
        in the hostpath plugin's state.
        """
        selector = f"{RUN_LABEL}={self.run_id}"
        try:
            self.snapshots, _ = self.kube.list("VolumeSnapshot", None, label_selector=selector)
            self.claims, _ = self.kube.list("PersistentVolumeClaim", None, label_selector=selector)
        except KubeError as err:
            _say(f"watcher: {err}")
            return
        for prefix, items in (("snapshot-", self.snapshots), ("pvc-", self.claims)):
            for item in items:
                uid = dig(item, "metadata", "uid")
                if uid:
                    self.names.add(f"{prefix}{uid}")


def disk_leaks(
    layout: Layout, before: dict[str, str], names: set[str]
) -> tuple[list[str], list[str]]:
    """Volumes/snapshots on disk that the run made and left, and new ones nobody claims.

    The first list: entries whose CSI name is one of the run's (see :class:`RunWatcher`).
    The second: entries new since the run started with a name not known to be the run's;
    on a quiet testbed those are the run's too (a claim or snapshot that lived shorter
    than the watcher's interval), on a shared one they may be another user's.
    """
    leaks, unknown = [], []
    for key, name in sorted(disk_entries(layout).items()):
        if name and name in names:
            leaks.append(f"{key} ({name})")
        elif key not in before:
            unknown.append(f"{key} ({name or 'not in state.json'})")
    return leaks, unknown


# ---------------------------------------------------------------- running snapconf


@dataclass
class RunOutcome:
    """One ``snapconf run`` of a benchmark, with what it left."""

    run_id: str
    mode: str
    exit_code: int | None = None
    seconds: float = 0.0
    signal: str | None = None
    signal_at: float | None = None
    exit_after_signal: float | None = None
    finished_before_signal: bool = False
    killed_after_timeout: bool = False
    leaked_objects: list[str] = field(default_factory=list)
    leaked_disk: list[str] = field(default_factory=list)
    verdict: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def leaked(self) -> int:
        return len(self.leaked_objects) + len(self.leaked_disk)


def snapconf_argv(
    args: argparse.Namespace,
    run_id: str,
    kubeconfig: Path,
    *,
    profile: Path,
    areas: Sequence[str],
    tests: str | None,
    workers: int,
) -> list[str]:
    argv = [
        *_snapconf(), "run", "--kubeconfig", str(kubeconfig), "--profile", str(profile),
        "--run-id", run_id, "--report-dir", str(Path(args.out) / "runs"), "-n", str(workers),
    ]  # fmt: skip
    for area in areas:
        argv += ["--area", area]
    if tests:
        argv += ["--", "-k", tests]
    return argv


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        # its own process group: a group signal is what a terminal's Ctrl-C sends; and
        # SIGINT as a terminal has it, even when this bench was started in the background
        # of a script (which ignores SIGINT, and an ignored signal stays ignored over exec)
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=_default_sigint,
        )  # fmt: skip


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _signal(proc: subprocess.Popen[bytes], sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except ProcessLookupError:
        pass


def _wait(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def settle_and_count(
    outcome: RunOutcome,
    kube: Kube,
    layout: Layout,
    before: dict[str, str],
    names: set[str],
    *,
    clean_after: bool = True,
) -> None:
    """Count what the run left (right at its exit), then remove it so the next run is clean."""
    try:
        outcome.leaked_objects = leak_check(kube, outcome.run_id)
    except KubeError as err:
        outcome.leaked_objects = [f"(leak check failed: {err})"]
    outcome.leaked_disk, unknown = disk_leaks(layout, before, names)
    outcome.extra["new_on_disk_unattributed"] = unknown
    if clean_after and outcome.leaked_objects:
        errors = sweep(kube, outcome.run_id, timeout=120, force=True)
        outcome.extra["cleanup_errors_after"] = errors


def _verdict(args: argparse.Namespace, run_id: str) -> tuple[str | None, dict[str, Any] | None]:
    path = Path(args.out) / "runs" / run_id / report.RESULTS_FILE
    if not path.is_file():
        return None, None
    try:
        results = report.load_results(path)
    except report.ResultsError:
        return None, None
    verdict = report.verdict(results)
    data = json.loads(path.read_text())
    return ("conformant" if verdict.conformant else "not conformant"), data


# ---------------------------------------------------------------- modes


def mode_interrupt(args: argparse.Namespace, kube: Kube, layout: Layout) -> list[RunOutcome]:
    rng = random.Random(args.seed)  # noqa: S311 - when to interrupt, not crypto
    plan = [signal.SIGINT] * args.sigint + [signal.SIGTERM] * args.sigterm
    if args.runs is not None:
        plan = [signal.SIGINT if i % 2 == 0 else signal.SIGTERM for i in range(args.runs)]
    profile = Path(args.profile)
    outcomes = []
    low, high = (float(x) for x in args.window.split(":"))
    for index, sig in enumerate(plan, 1):
        run_id = new_run_id()
        outcome = RunOutcome(run_id=run_id, mode="interrupt", signal=signal.Signals(sig).name)
        group = args.target == "group" or (args.target == "auto" and sig == signal.SIGINT)
        outcome.extra["target"] = "group" if group else "process"
        before = disk_entries(layout)
        argv = snapconf_argv(
            args, run_id, Path(args.kubeconfig), profile=profile,
            areas=args.area or INTERRUPT_AREAS, tests=args.tests, workers=args.workers,
        )  # fmt: skip
        delay = rng.uniform(low, high)
        outcome.signal_at = round(delay, 1)
        _say(f"[{index}/{len(plan)}] {run_id}: {outcome.signal} after {delay:.1f}s")
        start = time.monotonic()
        with RunWatcher(kube, run_id) as watcher:
            proc = _start(argv, Path(args.out) / "logs" / f"{run_id}.log")
            code = _wait(proc, delay)
            if code is not None:
                outcome.finished_before_signal = True
            else:
                _signal(proc, sig, group)
                signalled = time.monotonic()
                code = _wait(proc, args.exit_timeout)
                if code is None:
                    outcome.killed_after_timeout = True
                    _signal(proc, signal.SIGKILL, True)
                    code = proc.wait()
                outcome.exit_after_signal = round(time.monotonic() - signalled, 1)
            watcher.poll()
        outcome.exit_code = code
        outcome.seconds = round(time.monotonic() - start, 1)
        settle_and_count(outcome, kube, layout, before, watcher.names)
        _say(
            f"  exit {code} after {outcome.exit_after_signal}s; leaked {outcome.leaked}"
            + (" (finished before the signal)" if outcome.finished_before_signal else "")
        )
        outcomes.append(outcome)
    return outcomes


class Proxy:
    """The API fault proxy as a child process, stopped by its PID."""

    def __init__(self, args: argparse.Namespace) -> None:
        out = Path(args.out)
        self.kubeconfig = out / "apiproxy.kubeconfig"
        self.stats = out / "apiproxy-stats.json"
        self.kubeconfig.unlink(missing_ok=True)
        argv = [
            sys.executable, "-m", "snapconf_testbed.testbed.apiproxy",
            "--kubeconfig", args.kubeconfig,
            "--rate", str(args.rate), "--watch-drop-every", args.watch_drop_every,
            "--write-kubeconfig", str(self.kubeconfig), "--stats", str(self.stats),
        ]  # fmt: skip
        if args.seed is not None:
            argv += ["--seed", str(args.seed)]
        self.proc = _start(argv, out / "logs" / "apiproxy.log")
        if not _wait_for(self.kubeconfig.exists, 20, self.proc, every=0.1):
            raise RuntimeError(f"the API proxy did not start; see {out / 'logs/apiproxy.log'}")

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        if _wait(self.proc, 15) is None:
            self.proc.kill()
            self.proc.wait()
        try:
            return dict(json.loads(self.stats.read_text()))
        except (OSError, ValueError):
            return {}


def mode_api_faults(args: argparse.Namespace, kube: Kube, layout: Layout) -> list[RunOutcome]:
    run_id = new_run_id()
    outcome = RunOutcome(run_id=run_id, mode="api-faults")
    before = disk_entries(layout)
    proxy = Proxy(args)
    try:
        argv = snapconf_argv(
            args, run_id, proxy.kubeconfig, profile=Path(args.profile), areas=args.area or (),
            tests=args.tests, workers=args.workers,
        )  # fmt: skip
        _say(f"{run_id}: through the API proxy ({args.rate:.0%} faults)")
        start = time.monotonic()
        with RunWatcher(kube, run_id) as watcher:
            proc = _start(argv, Path(args.out) / "logs" / f"{run_id}.log")
            outcome.exit_code = proc.wait()
            watcher.poll()
        outcome.seconds = round(time.monotonic() - start, 1)
    finally:
        stats = proxy.stop()
    outcome.extra["proxy"] = stats
    outcome.verdict, results = _verdict(args, run_id)
    if results is not None:
        outcome.extra["outcomes"] = _count_outcomes(results)
    settle_and_count(outcome, kube, layout, before, watcher.names)
    return [outcome]


def _count_outcomes(results: dict[str, Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for test in results.get("tests") or []:
        counts[str(test.get("outcome"))] = counts.get(str(test.get("outcome")), 0) + 1
    return counts


def short_profile(args: argparse.Namespace, snapshot_ready: str) -> Path:
    """A copy of the profile whose snapshotReady is ``snapshot_ready``."""
    data = yaml.safe_load(Path(args.profile).read_text()) or {}
    timeouts = data.setdefault("timeouts", {})
    timeouts["snapshotReady"] = snapshot_ready
    path = Path(args.out) / "profile-short-timeouts.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _wait_for(
    check: Callable[[], bool],
    timeout: float,
    proc: subprocess.Popen[bytes],
    *,
    every: float = 0.5,
) -> bool:
    """Whether ``check`` held within ``timeout`` while ``proc`` still ran.

    A bounded poll (tenacity): a file appearing or a child's progress has no watch to
    follow. A child that exits ends the wait at once.
    """

    def probe() -> bool | None:
        if check():
            return True
        return None if proc.poll() is not None else False

    return bool(
        Retrying(
            stop=stop_after_delay(timeout),
            wait=wait_fixed(every),
            retry=retry_if_result(lambda result: result is False),
            retry_error_callback=lambda _state: False,
        )(probe)
    )


def mode_kill(args: argparse.Namespace, kube: Kube, layout: Layout) -> list[RunOutcome]:
    profile = short_profile(args, args.snapshot_ready)
    ready_seconds = parse_duration(args.snapshot_ready)
    outcomes = []
    for component in args.component:
        run_id = new_run_id()
        outcome = RunOutcome(run_id=run_id, mode=f"kill {component}")
        before = disk_entries(layout)
        tests = f"({KILL_TEST}) or {KILL_FOLLOW_UP}"
        argv = snapconf_argv(
            args, run_id, Path(args.kubeconfig), profile=profile, areas=("binding",), tests=tests,
            workers=1,
        )  # fmt: skip
        _say(f"{run_id}: kill {component} once the test's source claim is bound")
        start = time.monotonic()
        killed = restarted = None
        with RunWatcher(kube, run_id, interval=0.5) as watcher:
            proc = _start(argv, Path(args.out) / "logs" / f"{run_id}.log")
            try:
                bound = _wait_for(
                    lambda: any(dig(c, "status", "phase") == "Bound" for c in watcher.claims),
                    300,
                    proc,
                )
                if bound:
                    kill_component(layout, component)
                    killed = time.monotonic()
                    _say(f"  killed {component}; restarting it in {ready_seconds + 10:.0f}s")
                    _wait(proc, ready_seconds + 10)
            finally:
                if killed is not None:
                    restart_component(layout, component)
                    restarted = time.monotonic()
                    _say(f"  restarted {component}")
            outcome.exit_code = proc.wait()
            watcher.poll()
        outcome.seconds = round(time.monotonic() - start, 1)
        outcome.extra["killed_at"] = None if killed is None else round(killed - start, 1)
        outcome.extra["restarted_at"] = None if restarted is None else round(restarted - start, 1)
        outcome.verdict, results = _verdict(args, run_id)
        outcome.extra.update(_judge_kill(results))
        settle_and_count(outcome, kube, layout, before, watcher.names)
        outcomes.append(outcome)
    return outcomes


def _judge_kill(results: dict[str, Any] | None) -> dict[str, Any]:
    """Did the snapshot test fail naming the stuck snapshot and its state; did the rest run?"""
    if results is None:
        return {"stuck_test": "no results.json"}
    tests = results.get("tests") or []
    stuck = next((t for t in tests if "binds_one_to_one" in str(t.get("nodeid"))), None)
    others = [t for t in tests if t is not stuck]
    message = str(((stuck or {}).get("diagnostics") or {}).get("message") or "")
    return {
        "stuck_test": (stuck or {}).get("outcome"),
        "message_names_snapshot": "VolumeSnapshot" in message and "readyToUse" in message,
        "message": message[:600],
        "run_went_on": bool(others) and all(t.get("outcome") == "passed" for t in others),
    }


# ---------------------------------------------------------------- output


def table(outcomes: Sequence[RunOutcome]) -> str:
    """The results as an aligned text table."""
    header = ("run", "mode", "signal", "at s", "exit", "exit after s", "leaked", "verdict/notes")
    rows = [header]
    for o in outcomes:
        notes = o.verdict or ""
        if o.finished_before_signal:
            notes = "finished before the signal"
        if o.killed_after_timeout:
            notes = "KILLED: no exit in time"
        if "stuck_test" in o.extra:
            notes += (
                f" stuck test {o.extra['stuck_test']}, names snapshot "
                f"{o.extra.get('message_names_snapshot')}, run went on {o.extra.get('run_went_on')}"
            )
        if o.extra.get("new_on_disk_unattributed"):
            notes += f" {len(o.extra['new_on_disk_unattributed'])} new on disk, not the run's"
        if "proxy" in o.extra:
            injected = o.extra["proxy"].get("injected") or {}
            drops = sum((o.extra["proxy"].get("watch_drops") or {}).values())
            notes += f" faults {injected} watch drops {drops}"
        rows.append((
            o.run_id, o.mode, o.signal or "-", "-" if o.signal_at is None else f"{o.signal_at:g}",
            str(o.exit_code), "-" if o.exit_after_signal is None else f"{o.exit_after_signal:g}",
            str(o.leaked), notes.strip(),
        ))  # fmt: skip
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(header) - 1)]
    lines = []
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def summary(outcomes: Sequence[RunOutcome]) -> dict[str, Any]:
    signalled = [o for o in outcomes if o.exit_after_signal is not None]
    exits = sorted(o.exit_after_signal for o in signalled if o.exit_after_signal is not None)
    return {
        "runs": len(outcomes),
        "leaked_runs": sum(1 for o in outcomes if o.leaked),
        "leaked_total": sum(o.leaked for o in outcomes),
        "signalled": len(signalled),
        "max_exit_after_signal": exits[-1] if exits else None,
        "over_exit_target": sum(1 for s in exits if s > EXIT_TARGET),
    }


MODES: dict[str, Callable[[argparse.Namespace, Kube, Layout], list[RunOutcome]]] = {
    "interrupt": mode_interrupt,
    "api-faults": mode_api_faults,
    "kill": mode_kill,
}


def parser() -> argparse.ArgumentParser:
    layout = Layout.default()
    p = argparse.ArgumentParser(
        prog="bench/chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="mode", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=str(layout.kubeconfig), help="the testbed's")
    common.add_argument("--profile", default=str(default_profile()), help="driver profile")
    common.add_argument("--out", default="reports/bench-chaos", help="logs, runs and chaos.json")
    common.add_argument("--seed", type=int, default=None, help="random seed")
    common.add_argument("--area", action="append", default=None, help="areas (repeatable)")
    common.add_argument("-k", dest="tests", default=None, help="pytest -k expression")
    common.add_argument("-n", dest="workers", type=int, default=2, help="xdist workers")
    i = sub.add_parser("interrupt", parents=[common], help="SIGINT/SIGTERM at random moments")
    i.add_argument("--sigint", type=int, default=20, help="runs sent SIGINT")
    i.add_argument("--sigterm", type=int, default=5, help="runs sent SIGTERM")
    i.add_argument("--runs", type=int, default=None, help="instead: N runs alternating signals")
    i.add_argument("--window", default="5:90", help="signal after uniform LOW:HIGH seconds")
    i.add_argument(
        "--target", choices=("auto", "group", "process"), default="auto",
        help="signal the process group (a terminal's Ctrl-C) or the snapconf process only "
        "(kill PID); auto: SIGINT to the group, SIGTERM to the process",
    )  # fmt: skip
    i.add_argument("--exit-timeout", type=float, default=300.0, help="SIGKILL after this long")
    a = sub.add_parser("api-faults", parents=[common], help="the suite through the API proxy")
    a.add_argument("--rate", type=float, default=0.10, help="share of requests faulted")
    a.add_argument("--watch-drop-every", default="30s", help="watch streams closed after")
    k = sub.add_parser("kill", parents=[common], help="kill a snapshot component mid-test")
    k.add_argument(
        "--component", action="append", choices=("snapshot-controller", "csi-snapshotter"),
        help="repeatable (default: both, one run each)",
    )  # fmt: skip
    k.add_argument("--snapshot-ready", default="40s", help="snapshotReady of the profile copy")
    al = sub.add_parser("all", parents=[common], help="every mode at full scale")
    al.set_defaults(
        sigint=20, sigterm=5, runs=None, window="5:90", target="auto", exit_timeout=300.0,
        rate=0.10, watch_drop_every="30s", component=None, snapshot_ready="40s",
    )  # fmt: skip
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if getattr(args, "component", None) is None:
        args.component = ["snapshot-controller", "csi-snapshotter"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    args.out = str(out.resolve())
    if shutil.which("snapconf") is None and not Path(sys.executable).with_name("snapconf").exists():
        _say("warning: no snapconf console script found; using python -c")
    layout = Layout.default()
    kube = Kube(args.kubeconfig)
    modes = list(MODES) if args.mode == "all" else [args.mode]
    outcomes: list[RunOutcome] = []
    try:
        for mode in modes:
            mode_args = argparse.Namespace(**vars(args))
            if mode == "interrupt" and mode_args.tests is None and not mode_args.area:
                mode_args.tests = INTERRUPT_TESTS
            outcomes += MODES[mode](mode_args, kube, layout)
    except KeyboardInterrupt:
        _say("interrupted; writing what was measured")
    finally:
        kube.close()
    figures = {"mode": args.mode, "argv": list(argv or sys.argv[1:]), "summary": summary(outcomes)}
    figures["runs"] = [{**asdict(o), "leaked": o.leaked} for o in outcomes]
    path = out / "chaos.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(table(outcomes))
    print(json.dumps(figures["summary"]))
    print(f"raw figures: {path}")
    ok = all(o.leaked == 0 for o in outcomes) and summary(outcomes)["over_exit_target"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
