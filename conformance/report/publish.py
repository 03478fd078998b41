"""A finished run's folder: its files, ``reports/latest``, the exit gate, ``snapconf report``.

Why it exists: the plugin (at session end, on the xdist controller) and the command line
both finish a run the same way: write ``results.json`` and ``report.html`` into
``reports/<run-id>/``, point ``reports/latest`` at it, and turn the verdict into an exit
status. Keeping that here means the file names, the symlink and the gate are decided once.
It must not call the cluster.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path
from typing import Final, TextIO

from conformance.report.allure import render_allure
from conformance.report.analysis import Verdict, verdict, with_baseline
from conformance.report.html import REPORT_FILE, render_html, write_report
from conformance.report.results import (
    RESULTS_FILE,
    ResultsError,
    ResultsLike,
    RunResults,
    write_atomic,
)

#: pytest's JUnit XML in a run folder (``--junitxml``).
JUNIT_FILE: Final = "junit.xml"
#: allure-pytest's result files in a run folder (``--alluredir``).
ALLURE_RESULTS_DIR: Final = "allure-results"
#: The symlink next to the run folders that points at the newest one.
LATEST: Final = "latest"
#: Exit statuses: conformant, not conformant, bad input (a missing or corrupt results.json).
EXIT_CONFORMANT: Final = 0
EXIT_NOT_CONFORMANT: Final = 1
EXIT_BAD_INPUT: Final = 2


@dataclasses.dataclass(frozen=True)
class Published:
    """What :func:`publish` wrote and decided."""

    run_dir: Path
    results: Path
    report: Path
    latest: Path | None
    verdict: Verdict

    @property
    def exit_status(self) -> int:
        """``0`` when conformant, else ``1``."""
        return EXIT_CONFORMANT if self.verdict.conformant else EXIT_NOT_CONFORMANT


def update_latest(run_dir: str | os.PathLike[str]) -> Path:
    """Point ``<parent>/latest`` at ``run_dir`` (a relative symlink, replaced atomically).

    Raises:
        ResultsError: ``latest`` exists and is not a symlink, or cannot be made.
    """
    folder = Path(run_dir)
    link = folder.parent / LATEST
    if link.exists() and not link.is_symlink():
        raise ResultsError(f"{link}: exists and is not a symlink, so it is left alone")
    tmp = folder.parent / f".{LATEST}-{os.getpid()}.tmp"
    try:
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(folder.name, target_is_directory=True)
        os.replace(tmp, link)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise ResultsError(
            f"{link}: cannot point it at {folder.name} ({err.strerror or err})"
        ) from err
    return link


def publish(
    results: ResultsLike,
    run_dir: str | os.PathLike[str],
    *,
    baseline: ResultsLike | None = None,
    latest: bool = True,
) -> Published:
    """Write ``run_dir/results.json`` and ``run_dir/report.html``, update ``latest``, judge.

    This is the end of ``snapconf run`` (the plugin calls it on the controller). With a
    ``baseline``, its regressions are stored in results.json and listed first in the
    report. ``latest=False`` leaves ``<parent>/latest`` alone (for a report folder that
    is not one of many run folders).

    Raises:
        ResultsError: the results or baseline are not valid, or a file cannot be written.
    """
    run = RunResults.coerce(results)
    if baseline is not None:
        run = with_baseline(run, baseline)
    folder = Path(run_dir)
    report = write_report(run, folder)
    link = update_latest(folder) if latest else None
    return Published(
        run_dir=folder,
        results=folder / RESULTS_FILE,
        report=report,
        latest=link,
        verdict=verdict(run),
    )


def exit_status(results: ResultsLike, baseline: ResultsLike | None = None) -> int:
    """The gate: ``0`` only when every required test passed and nothing regressed, else ``1``.

    Raises:
        ResultsError: either argument is not valid results.
    """
    conformant = verdict(results, baseline).conformant
    return EXIT_CONFORMANT if conformant else EXIT_NOT_CONFORMANT


def summary_lines(judged: Verdict, report: Path | None = None, limit: int = 10) -> list[str]:
    """The verdict for a terminal: the label and counts, the first reasons, the report."""
    c = judged.counts
    lines = [
        f"snapconf: {judged.label}: {c.required_passed} of {c.required} required tests passed "
        f"({c.total} tests: {c.passed} passed, {c.failed} failed, {c.error} errors, "
        f"{c.skipped} skipped)"
    ]
    lines += [f"  {reason}" for reason in judged.reasons[:limit]]
    if len(judged.reasons) > limit:
        lines.append(f"  and {len(judged.reasons) - limit} more (see the report)")
    if report is not None:
        lines.append(f"snapconf: report {report}")
    return lines


def report_command(
    run_dir: str | os.PathLike[str],
    *,
    allure: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``snapconf report RUN_DIR [--allure]``: rebuild report.html, and allure's report.

    Prints the verdict and the report's path. Returns ``0`` when everything asked for was
    built, ``2`` when results.json is missing or bad (one sentence on ``err``), or the
    status of :func:`~conformance.report.allure.render_allure` when that failed. The exit
    status is not the verdict: that is ``snapconf run``'s.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    folder = Path(run_dir)
    try:
        run = RunResults.load(folder / RESULTS_FILE)
        report = write_atomic(folder / REPORT_FILE, render_html(run), "report")
    except ResultsError as error:
        err.write(f"snapconf: {error}\n")
        return EXIT_BAD_INPUT
    for line in summary_lines(verdict(run), report):
        out.write(line + "\n")
    if allure:
        return render_allure(folder, out=out, err=err)
    return 0
