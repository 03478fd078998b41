"""Progress of a ``snapconf run``: tests done of total, the current area, failures so far.

A pytest plugin object that ``snapconf run`` passes to ``pytest.main``. On a terminal it
keeps one status line up to date; without one (CI logs) it prints a plain line per finished
test, so a log shows where a long run is. At the end it prints a summary table by area and
the report's path. It reads only pytest's reports (on the xdist controller they arrive
from the workers), never the cluster.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import IO, Any

import pytest

from conformance.report import RunResults, Verdict, area_matrix, summary_lines

#: Reasons of a NOT CONFORMANT verdict shown in the summary; the report has them all.
MAX_REASONS = 20
#: The ``when`` of the report pytest-xdist makes for a test whose worker crashed.
CRASHED = "???"


def _area_of(report: pytest.TestReport) -> str:
    payload = getattr(report, "snapconf", None)
    if isinstance(payload, dict) and payload.get("area"):
        return str(payload["area"])
    parts = report.nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    return parts.removeprefix("test_").removesuffix(".py")


def _worse(seen: str, report: pytest.TestReport) -> str:
    """The test's outcome so far, given one more phase: failed > error > skipped > passed."""
    if report.failed:
        now = "failed" if report.when == "call" else "error"
    elif report.skipped:
        now = "skipped"
    else:
        now = "passed"
    rank = ("", "passed", "skipped", "error", "failed")
    return max(seen, now, key=rank.index)


class Progress:
    """Counts finished tests and shows them as they finish."""

    def __init__(self, out: IO[str]) -> None:
        self.out = out
        self.tty = bool(getattr(out, "isatty", lambda: False)())
        self.total = 0
        self.done = 0
        self.failed: list[str] = []
        self.area = ""
        self.started = time.monotonic()
        self.outcomes: dict[str, str] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport) -> tuple[str, str, str] | None:
        """Categories as pytest's, without its letters: the progress lines say each outcome.

        Tests pytest's skipping plugin judges (xfail) keep its answer.
        """
        if hasattr(report, "wasxfail"):
            return None
        if report.passed:
            return ("passed", "", "PASSED") if report.when == "call" else ("", "", "")
        if report.failed:
            return ("failed", "", "FAILED") if report.when == "call" else ("error", "", "ERROR")
        return "skipped", "", "SKIPPED"

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        self.total = len(items)

    @pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: absent with -p no:xdist
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.total = max(self.total, len(ids))

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.failed and report.nodeid not in self.failed:
            self.failed.append(report.nodeid)
        self.outcomes[report.nodeid] = _worse(self.outcomes.get(report.nodeid, ""), report)
        # pytest reports a teardown for every test that started, even when its setup failed
        # or skipped; "???" is pytest-xdist's only report for a test whose worker crashed.
        if report.when not in ("teardown", CRASHED):
            return
        self.done += 1
        self.area = _area_of(report)
        self._show(report.nodeid, self.outcomes.pop(report.nodeid, "") or "passed")

    def line(self) -> str:
        """``[12/40] restore, 1 failed, 63s``."""
        failures = f", {len(self.failed)} failed" if self.failed else ""
        elapsed = time.monotonic() - self.started
        total = self.total or "?"
        return f"[{self.done}/{total}] {self.area}{failures}, {elapsed:.0f}s"

    def _show(self, nodeid: str, outcome: str) -> None:
        if self.tty and outcome in ("passed", "skipped"):
            self.out.write(f"\r\x1b[2Ksnapconf {self.line()}")
        elif self.tty:  # a failure stays on screen, the status line follows it
            self.out.write(f"\r\x1b[2Ksnapconf {outcome.upper()} {nodeid}\n")
            self.out.write(f"snapconf {self.line()}")
        else:
            self.out.write(f"snapconf {self.line()}  {outcome.upper()} {nodeid}\n")
        self.out.flush()

    @pytest.hookimpl
    def pytest_sessionfinish(self) -> None:
        if self.tty and self.done:
            self.out.write("\n")
            self.out.flush()

    def summary(self, results: RunResults, verdict: Verdict, report_path: Any) -> None:
        """The table by area and outcome, the verdict, and where the report is."""
        matrix = area_matrix(results)
        outcomes = ("passed", "failed", "error", "skipped")
        width = max([len("area"), *(len(a) for a in matrix)])
        rows = [f"{'area':<{width}}  " + "  ".join(f"{o:>7}" for o in outcomes)]
        for area, counts in matrix.items():
            rows.append(f"{area:<{width}}  " + "  ".join(f"{counts[o]:>7}" for o in outcomes))
        self.out.write("\n" + "\n".join(rows) + "\n\n")
        lines = summary_lines(verdict, Path(report_path), limit=MAX_REASONS)
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
