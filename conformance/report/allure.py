"""Allure's HTML report of a run, rendered from ``allure-results/`` with Allure 3.

Why it exists: ``report.html`` is snapconf's verdict; some teams also browse runs in
Allure. allure-pytest writes ``reports/<run-id>/allure-results/`` during the run;
``snapconf report RUN_DIR --allure`` turns it into ``allure-report/`` with Allure 3, a
Node.js tool (npm package ``allure``): an ``allure`` binary on PATH that is Allure 3, else
``npx --yes allure@3`` when Node.js is installed. Without Node.js it says how to install
it. The Java Allure 2 ``allure`` is not used: it reads the results differently.
It must not call the cluster, and it never installs anything by itself except what
``npx`` fetches on the user's command.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

#: allure-pytest's results and Allure's HTML report inside a run folder.
ALLURE_RESULTS_DIR: Final = "allure-results"
ALLURE_REPORT_DIR: Final = "allure-report"
#: What ``npx`` runs when no Allure 3 binary is installed.
NPX_PACKAGE: Final = "allure@3"
#: How long ``allure generate`` may take (seconds); the first ``npx`` run downloads it.
GENERATE_TIMEOUT: Final = 900.0
VERSION_TIMEOUT: Final = 60.0
INSTALL_HINT: Final = (
    "Allure 3 runs on Node.js 20 or later: install Node.js (https://nodejs.org/ or the "
    "nodejs and npm packages of your distribution), then rerun (snapconf runs Allure "
    "through npx) or install it once with `npm install -g allure`"
)
#: Exit statuses of :func:`render_allure`.
EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_NO_RESULTS: Final = 2

Which = Callable[[str], str | None]
Run = Callable[..., "subprocess.CompletedProcess[Any]"]


def _major(version: str) -> int | None:
    found = re.search(r"(\d+)\.\d+", version)
    return int(found.group(1)) if found else None


def allure_version(binary: str, run: Run = subprocess.run) -> str:
    """What ``binary --version`` prints (``3.18.0``), or ``""`` when it does not answer."""
    try:
        done = run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    if done.returncode != 0:
        return ""
    lines = (done.stdout or "").strip().splitlines()
    return lines[-1].strip() if lines else ""


def find_allure(which: Which = shutil.which, run: Run = subprocess.run) -> tuple[list[str], str]:
    """The command that runs Allure 3 and what it is, or ``[]`` and why there is none."""
    why = ""
    binary = which("allure")
    if binary:
        version = allure_version(binary, run)
        major = _major(version)
        if major is not None and major >= 3:
            return [binary], f"Allure {version} ({binary})"
        what = f"Allure {version}" if version else "not a working Allure"
        why = f"{binary} is {what}, not Allure 3; "
    npx = which("npx")
    if npx and which("node"):
        return [npx, "--yes", NPX_PACKAGE], f"npx {NPX_PACKAGE}"
    return [], f"{why}Node.js (node and npx) is not installed"


def render_allure(
    run_dir: str | os.PathLike[str],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    which: Which = shutil.which,
    run: Run = subprocess.run,
) -> int:
    """Render ``run_dir/allure-results`` into ``run_dir/allure-report`` with Allure 3.

    Messages go to ``out`` (progress, the report's path) and ``err`` (one sentence on
    what went wrong and what to do), by default stdout and stderr. ``which`` and ``run``
    stand in for ``shutil.which`` and ``subprocess.run`` in tests.

    Returns:
        ``0`` when the report was written; ``2`` when there are no allure results in the
        folder; ``1`` when Allure 3 is not available (the message says how to install
        it) or failed.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    folder = Path(run_dir)
    results = folder / ALLURE_RESULTS_DIR
    if not results.is_dir() or not any(results.glob("*-result.json")):
        err.write(
            f"snapconf: {results}: no allure results to render (allure-pytest writes them "
            f"during snapconf run, with --alluredir)\n"
        )
        return EXIT_NO_RESULTS
    command, what = find_allure(which, run)
    if not command:
        err.write(f"snapconf: cannot render the allure report: {what}. {INSTALL_HINT}.\n")
        return EXIT_FAILED
    target = folder / ALLURE_REPORT_DIR
    argv = [
        *command,
        "generate",
        str(results.resolve()),
        "--output",
        str(target.resolve()),
        "--name",
        f"snapconf {folder.resolve().name}",
    ]
    out.write(f"snapconf: rendering the allure report with {what}\n")
    out.flush()
    code = _generate(argv, folder, run, err)
    if code != EXIT_OK:
        return code
    index = target / "index.html"
    if not index.is_file():
        err.write(f"snapconf: allure generate wrote no {index}\n")
        return EXIT_FAILED
    out.write(f"snapconf: allure report {index} (view it with: {_open_hint(command, target)})\n")
    return EXIT_OK


def _generate(argv: Sequence[str], cwd: Path, run: Run, err: TextIO) -> int:
    try:
        done = run(list(argv), cwd=cwd, timeout=GENERATE_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        err.write(f"snapconf: allure generate did not finish within {GENERATE_TIMEOUT:.0f} s\n")
        return EXIT_FAILED
    except OSError as error:
        err.write(f"snapconf: cannot run {argv[0]}: {error.strerror or error}\n")
        return EXIT_FAILED
    if done.returncode != 0:
        err.write(f"snapconf: allure generate failed (exit status {done.returncode})\n")
        return EXIT_FAILED
    return EXIT_OK


def _open_hint(command: Sequence[str], target: Path) -> str:
    name = Path(command[0]).name
    prefix = f"npx {NPX_PACKAGE}" if name == "npx" else "allure"
    return f"{prefix} open {target}"
