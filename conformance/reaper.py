"""Each test's cleanup, run in the background while the next test runs.

Why: a test's cleanup is mostly waiting for the cluster (kubelet stopping the test's pods,
volumes unpublished, the provisioner deleting PVs, a broken object's grace), about a
third of a test's time, and no check of the *next* test depends on it. Background threads
(:data:`CONCURRENT_CLEANUPS` per process) take the finished tests' ``Tracker.cleanup`` in
the order they came, so the worker starts the next test at once. One thread was not
enough: a group test's cleanup (group, members, contents, claims, PVs) outlasts the next
test, the queue grew through the group area and the last test of each worker waited
35-65 s for it at the session's end. Each test's objects live in its own namespace (and
the cluster-scoped ones it made), so two cleanups never order the same objects.
Nothing is lost: what a cleanup could not do, and what it had to take over (its notes),
is kept as a :class:`CleanupOutcome` for the test it belongs to; the plugin waits for
every cleanup before the session's own cleanup, the sweep and the leak check, and folds
the outcomes into the test records (a failed cleanup is that test's error) and the run's
problems.

Must not: run one test's cleanup on two threads, report outcomes in another order than
the tests came, or let an exception of a cleanup escape as anything but an outcome's error.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: Cleanups one process runs at once.
CONCURRENT_CLEANUPS = 2

Cleanup = Callable[[], tuple[list[str], list[str]]]
"""A test's cleanup: returns (errors, notes)."""


@dataclass(frozen=True)
class CleanupOutcome:
    """What one test's cleanup left: errors (objects not deleted) and notes."""

    nodeid: str
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as pytest-xdist carries it from a worker to the controller."""
        return {"nodeid": self.nodeid, "errors": list(self.errors), "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CleanupOutcome:
        """The inverse of :meth:`to_dict`."""
        return cls(
            str(data["nodeid"]),
            [str(e) for e in data.get("errors") or []],
            [str(n) for n in data.get("notes") or []],
        )


class Reaper:
    """Runs submitted cleanups on background threads, started and reported in order."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[str, Future[tuple[list[str], list[str]]]]] = []
        self._done: list[CleanupOutcome] = []
        self._lock = threading.Lock()

    def submit(self, nodeid: str, cleanup: Cleanup) -> None:
        """Queue ``cleanup`` of test ``nodeid``; it runs after the ones queued before it."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=CONCURRENT_CLEANUPS, thread_name_prefix="snapconf-cleanup"
                )
            self._pending.append((nodeid, self._pool.submit(cleanup)))

    def wait(self) -> list[CleanupOutcome]:
        """Wait for every queued cleanup; return all outcomes so far, in submission order."""
        while True:
            with self._lock:
                if not self._pending:
                    return list(self._done)
                nodeid, future = self._pending.pop(0)
            try:
                errors, notes = future.result()
            except Exception as err:  # a cleanup must end as an outcome, whatever it raised
                log.exception("cleanup of %s raised", nodeid)
                errors, notes = [f"cleanup raised {type(err).__name__}: {err}"], []
            with self._lock:
                self._done.append(CleanupOutcome(nodeid, list(errors), list(notes)))

    def busy(self) -> bool:
        """Whether a cleanup is still queued or running."""
        with self._lock:
            return any(not future.done() for _, future in self._pending)

    def close(self) -> None:
        """Wait for the queue, then stop the thread."""
        self.wait()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
