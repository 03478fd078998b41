"""Allure's HTML report of a run, rendered from ``allure-results/`` with Allure 3.

Why it exists: ``report.html`` is snapconf's verdict; some teams also browse runs in
Allure. allure-pytest writes ``reports/<run-id>/allure-results/`` during the run;
``snapconf report RUN_DIR --allure`` turns it into ``allure-report/`` with Allure 3, a
Node.js tool (npm package ``allure``): an ``allure`` binary on PATH that is Allure 3, else
``npx --yes allure@<pinned version>`` when Node.js is installed. Without Node.js it says
how to install it. The Java Allure 2 ``allure`` is not used: it reads the results
differently. It must not call the cluster, and it never installs anything by itself
except what ``npx`` fetches on the user's command.

The report must read like ``report.html``: the verdict is in its name (shown at the top)
and in its metadata (``environment.properties``, which the plugin writes at the end of a
run and this module rewrites from ``results.json``); its tree is area > capability >
behaviour (allure's epic > feature > story, see ``conformance.recorder.allure_marks``);
and it is one self-contained ``index.html`` (awesome's ``singleFile``), so it opens from
the disk or a CI artifact without a web server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, TextIO

from conformance.report.analysis import verdict
from conformance.report.results import (
    RESULTS_FILE,
    ResultsError,
    ResultsLike,
    RunResults,
    write_atomic,
)

#: allure-pytest's results and Allure's HTML report inside a run folder.
ALLURE_RESULTS_DIR: Final = "allure-results"
ALLURE_REPORT_DIR: Final = "allure-report"
#: What ``npx`` runs when no Allure 3 binary is installed: an exact version, so every
#: machine renders the same report (``.ci/run`` installs this version, read from here).
NPX_PACKAGE: Final = "allure@3.18.0"
#: Allure's metadata file in ``allure-results/`` (Allure 3 shows it under "Metadata").
ENVIRONMENT_FILE: Final = "environment.properties"
#: The tree of Allure's report: area > capability > behaviour (see ``allure_marks``).
GROUP_BY: Final = ("epic", "feature", "story")
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


def allure_metadata(results: ResultsLike) -> dict[str, str]:
    """What Allure's report shows of a run under "Metadata": the verdict first.

    Raises:
        ResultsError: ``results`` is not valid results.
    """
    run = RunResults.coerce(results)
    judged = verdict(run)
    csi_driver = run.run.cluster.get("csiDriver")
    driver = csi_driver.get("name") if isinstance(csi_driver, Mapping) else None
    counts = judged.counts
    return {
        "verdict": judged.label,
        "required": f"{counts.required_passed} of {counts.required} passed",
        "run": run.run.id,
        "driver": str(driver or run.run.profile.get("driver") or "unknown"),
        "kubernetes": run.run.kubernetes_version or "unknown",
        "snapconf": run.run.snapconf_version,
    }


def report_name(results: ResultsLike) -> str:
    """Allure's report name, shown at its top: ``snapconf <run-id>: NOT CONFORMANT``.

    Raises:
        ResultsError: ``results`` is not valid results.
    """
    run = RunResults.coerce(results)
    return f"snapconf {run.run.id}: {verdict(run).label}"


def _property(text: str) -> str:
    """``text`` escaped for a Java properties file (keys and values alike)."""
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    escaped = re.sub(r"([=: #!])", r"\\\1", escaped)
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in escaped)


def write_allure_environment(results: ResultsLike, results_dir: str | os.PathLike[str]) -> Path:
    """Write :func:`allure_metadata` as ``results_dir/environment.properties``.

    The plugin calls it at the end of a run with ``--alluredir``; :func:`render_allure`
    rewrites it from ``results.json``, so the metadata follows a rebuilt verdict.

    Raises:
        ResultsError: ``results`` is not valid results, or the file cannot be written.
    """
    lines = [f"{_property(k)}={_property(v)}" for k, v in allure_metadata(results).items()]
    folder = Path(results_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ResultsError(f"{folder}: cannot create it ({err.strerror or err})") from err
    return write_atomic(folder / ENVIRONMENT_FILE, "\n".join(lines) + "\n", "allure metadata")


def allure_config(name: str) -> dict[str, Any]:
    """Allure 3's configuration (``allurerc.json``) of snapconf's report named ``name``."""
    return {
        "name": name,
        "plugins": {
            "awesome": {
                "options": {"reportName": name, "singleFile": True, "groupBy": list(GROUP_BY)}
            }
        },
    }


def _run_name(folder: Path, err: TextIO) -> str:
    """The report's name: with the verdict when ``results.json`` is there and readable.

    Then ``environment.properties`` is refreshed from it too. Without it (allure results
    copied alone) the name is the folder's, and Allure renders what there is.
    """
    results = folder / RESULTS_FILE
    fallback = f"snapconf {folder.resolve().name}"
    if not results.is_file():
        return fallback
    try:
        run = RunResults.load(results)
        write_allure_environment(run, folder / ALLURE_RESULTS_DIR)
    except ResultsError as error:
        err.write(f"snapconf: the allure report will not show the verdict: {error}\n")
        return fallback
    return report_name(run)


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
    name = _run_name(folder, err)
    out.write(f"snapconf: rendering the allure report with {what}\n")
    out.flush()
    with tempfile.TemporaryDirectory(prefix="snapconf-allure-") as scratch:
        config = Path(scratch) / "allurerc.json"
        config.write_text(json.dumps(allure_config(name), indent=2) + "\n", encoding="utf-8")
        argv = [
            *command,
            "generate",
            str(results.resolve()),
            "--output",
            str(target.resolve()),
            "--name",
            name,
            "--config",
            str(config),
        ]
        code = _generate(argv, folder, run, err)
    if code != EXIT_OK:
        return code
    index = target / "index.html"
    if not index.is_file():
        err.write(f"snapconf: allure generate wrote no {index}\n")
        return EXIT_FAILED
    out.write(f"snapconf: allure report {index} (one file: open it in a browser)\n")
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
