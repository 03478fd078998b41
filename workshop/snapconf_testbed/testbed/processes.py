"""Start and stop the testbed's host processes, each tracked by a PID file.

A PID file records the PID, the executable path and the process's start time, so a
stale file left by a killed session never leads to signalling an unrelated process that
reused the PID. The start time (not the command line) identifies the process, so a user's
CSI driver that is a script, or a wrapper that execs another program, is tracked too. Processes
start in their own session (so Ctrl-C in the terminal reaches snapconf, not them) and
log to one file each under ``<state>/logs``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import tenacity

from snapconf_testbed.layout import Layout


class ProcessError(RuntimeError):
    """A component did not start or stop as it should."""


@dataclass(frozen=True)
class Running:
    """A process the testbed started."""

    name: str
    pid: int
    exe: str
    started: int | None = None
    """Start time in clock ticks since boot (``/proc/<pid>/stat``); None in old PID files."""


def _cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()


def _is_zombie(pid: int) -> bool:
    fields = _stat(pid)
    return fields is None or fields[0] == "Z"


def start_time(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (field 22 of its stat), or None."""
    fields = _stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (IndexError, ValueError):
        return None


def alive(proc: Running) -> bool:
    """True when ``proc.pid`` is still the process that was started.

    With a recorded start time that decides (a PID reused later has another); an old PID
    file without one falls back to the executable on the command line.
    """
    if _is_zombie(proc.pid):
        return False
    if proc.started is not None:
        return start_time(proc.pid) == proc.started
    cmd = _cmdline(proc.pid)
    return cmd is not None and bool(cmd) and cmd[0] == proc.exe


def read_pidfile(layout: Layout, name: str) -> Running | None:
    """The recorded process for ``name``, or None when there is no readable PID file."""
    path = layout.pidfile(name)
    try:
        data = json.loads(path.read_text())
        started = data.get("started")
        return Running(
            name=name,
            pid=int(data["pid"]),
            exe=str(data["exe"]),
            started=int(started) if started is not None else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded_argv(layout: Layout, name: str) -> list[str] | None:
    """The command line ``name`` was started with (from its PID file), or None."""
    try:
        data = json.loads(layout.pidfile(name).read_text())
        return [str(part) for part in data["argv"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def recorded(layout: Layout) -> list[Running]:
    """Every process with a PID file, in start order."""
    if not layout.pids.is_dir():
        return []
    found = [read_pidfile(layout, p.stem) for p in layout.pids.glob("*.pid")]
    procs = [p for p in found if p is not None]
    return sorted(procs, key=lambda p: layout.pidfile(p.name).stat().st_mtime)


def start(
    layout: Layout,
    name: str,
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
) -> Running:
    """Start ``argv`` in its own session, logging to ``<logs>/<name>.log``."""
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    exe = str(argv[0])
    with layout.log(name).open("ab") as log:
        log.write(f"\n==> {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(argv)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    proc = Running(name=name, pid=popen.pid, exe=exe, started=start_time(popen.pid))
    # until the child has exec'd, /proc shows our own command line, and right after the
    # exec an empty one for a moment; a script shows its interpreter's: so "changed and
    # not empty" is the test, not "equals exe"
    ours = _cmdline(os.getpid())

    def execd() -> bool:
        cmd = _cmdline(popen.pid)
        return popen.poll() is not None or (bool(cmd) and cmd != ours)

    wait_until(execd, 5.0, 0.01)
    record = {"pid": proc.pid, "exe": exe, "argv": list(argv), "started": proc.started}
    layout.pidfile(name).write_text(json.dumps(record))
    return proc


def stop(layout: Layout, proc: Running, *, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; removes the PID file."""
    if alive(proc):
        _signal(proc.pid, signal.SIGTERM)
        if not wait_until(lambda: not alive(proc), grace):
            _signal(proc.pid, signal.SIGKILL)
            wait_until(lambda: not alive(proc), 5.0)
    _reap(proc.pid)
    layout.pidfile(proc.name).unlink(missing_ok=True)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status of a child we started, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll a cheap local ``check`` (a socket, /proc) until true or ``timeout``.

    Only for host-level readiness where there is nothing to watch; cluster objects are
    awaited with watches in ``conformance.waits``.
    """
    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_delay(timeout),
        wait=tenacity.wait_fixed(interval),
        retry=tenacity.retry_if_result(lambda ok: not ok),
        retry_error_callback=lambda _state: False,
    )
    return bool(retrying(check))


def log_tail(layout: Layout, name: str, lines: int = 15) -> str:
    """The last lines of a component's log, for error messages."""
    try:
        text = layout.log(name).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def find_by_cmdline(needle: str) -> list[int]:
    """PIDs whose command line mentions ``needle`` (e.g. our containerd socket path)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        cmd = _cmdline(int(entry.name))
        if cmd and any(needle in part for part in cmd):
            pids.append(int(entry.name))
    return pids


def kill_pids(pids: Sequence[int]) -> None:
    """SIGKILL a list of PIDs found by ``find_by_cmdline``."""
    for pid in pids:
        if pid != os.getpid():
            _signal(pid, signal.SIGKILL)
