"""What ``snapconf run``, ``snapconf report`` and ``snapconf cleanup`` do.

``run`` finds the cluster (the flag, ``$KUBECONFIG``, or the embedded testbed), checks it
before any test starts (one sentence a problem, exit 2), runs the suites in this process
with pytest (and pytest-xdist for ``-n``), shows progress, and turns the report's verdict
into the exit status. The suites themselves and the results.json/report.html writing live
in the pytest plugin, so ``pytest suites/`` gives the same results without this module.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from conformance import report, testbed_hook
from conformance.paths import data_dir, default_profile
from conformance.profile import ProfileError, load_profile
from conformance.progress import Progress
from conformance.report import markdown_command, report_command
from conformance.report.publish import EXIT_BAD_INPUT as EXIT_USAGE
from conformance.report.publish import EXIT_CONFORMANT as EXIT_OK
from conformance.report.publish import EXIT_NOT_CONFORMANT

#: Where cleanup gets its time budget when no profile is at hand.
CLEANUP_TIMEOUT = 300.0

Say = Callable[[str], None]


def _say(message: str) -> None:
    sys.stderr.write(f"snapconf: {message}\n")
    sys.stderr.flush()


def resolve_kubeconfig(flag: Path | None) -> Path | None:
    """The kubeconfig to use: the flag, else ``$KUBECONFIG``, else None (the testbed)."""
    if flag is not None:
        return flag
    env = os.environ.get("KUBECONFIG")
    return Path(env) if env else None


def _testbed_kubeconfig(say: Say) -> Path | None:
    """The embedded testbed's kubeconfig, brought up; None (said why) without the extra."""
    testbed = testbed_hook.load()
    if testbed is None:
        say(f"no kubeconfig given and {testbed_hook.MISSING}")
        return None
    say("no kubeconfig given: using the embedded testbed (snapconf testbed up)")
    return testbed.up(say=lambda line: say(line.strip()))


#: pytest's own progress stays out of the way of snapconf's lines: no header, no letters
#: (see ``Progress.pytest_report_teststatus``) and no "[100%]" filler at the end.
QUIET = ("-q", "-o", "console_output_style=classic")


def pytest_args(
    args: argparse.Namespace, kubeconfig: Path, profile: Path, run_dir: Path
) -> list[str]:
    """The pytest command line of a run (suites, plugin options, result files)."""
    argv = [
        str(data_dir("suites")),
        "--profile", str(profile),
        "--kubeconfig", str(kubeconfig),
        "--run-id", run_dir.name,
        "--snapconf-report-dir", str(run_dir),
        f"--junitxml={run_dir / report.JUNIT_FILE}",
        f"--alluredir={run_dir / report.ALLURE_RESULTS_DIR}",
        "-p", "no:cacheprovider",
        *QUIET,
        # this process imported the plugin already, so pytest cannot rewrite its asserts;
        # the warning about it comes before the ini's filters apply
        "-W", "ignore::pytest.PytestAssertRewriteWarning",
    ]  # fmt: skip
    for area in args.area:
        argv += ["--area", area]
    if args.manifests:
        argv += ["--manifests", str(args.manifests)]
    if args.keep_on_failure:
        argv.append("--keep-on-failure")
    if getattr(args, "namespace_prefix", None):
        argv += ["--namespace-prefix", str(args.namespace_prefix)]
    if args.baseline:
        argv += ["--baseline", str(args.baseline)]
    if args.workers and args.workers > 1:
        argv += ["-n", str(args.workers)]
    passthrough = list(args.pytest_args or [])
    if passthrough and passthrough[0] == "--":
        passthrough = passthrough[1:]
    return argv + passthrough


def _check_arguments(args: argparse.Namespace) -> str | None:
    """What is wrong with the command line, found before any cluster is contacted."""
    # here, not at the top: `snapconf report` loads this module and needs no kubernetes
    # client (the plugin loads it)
    from conformance.plugin import AREAS

    if args.workers is not None and args.workers < 1:
        return "-n must be 1 or more"
    for area in args.area:
        for name in str(area).split(","):
            if name not in AREAS:
                return f"--area: unknown area {name!r}; areas: {', '.join(AREAS)}"
    if args.baseline is not None and not Path(args.baseline).is_file():
        return f"--baseline {args.baseline} does not exist"
    if args.manifests is not None and not Path(args.manifests).is_dir():
        return f"--manifests {args.manifests} is not a folder"
    prefix = getattr(args, "namespace_prefix", None)
    if prefix is not None:
        # here, not at the top: no kubernetes client for `snapconf report` (see above)
        from conformance.actions import validate_namespace_prefix

        try:
            validate_namespace_prefix(prefix)
        except ValueError as err:
            return f"--namespace-prefix: {err}"
    if args.manifests is not None:
        # here, not at the top: no kubernetes client for `snapconf report` (see above)
        from conformance.preflight import check_manifests

        problems = check_manifests(Path(args.manifests))
        if problems:
            return problems[0]
    return None


def kubeconfig_problem(path: Path) -> str | None:
    """What makes a kubeconfig file unusable before any client reads it, or None.

    The kubernetes client turns a malformed file into a YAML traceback; here it is one
    sentence naming the file and the line.
    """
    if not path.is_file():
        return f"kubeconfig {path} does not exist"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        return f"kubeconfig {path} is not UTF-8 text"
    except OSError as err:
        return f"kubeconfig {path} cannot be read: {err.strerror}"
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or "bad syntax"
        return f"kubeconfig {path} is not valid YAML{where}: {problem}"
    if not isinstance(doc, dict):
        return f"kubeconfig {path} is not a kubeconfig (expected a mapping with clusters/users)"
    return None


def run(args: argparse.Namespace) -> int:
    """``snapconf run``: the exit status is 0 only for a conformant run.

    A SIGINT or SIGTERM before the tests start (pre-flight, the testbed bring-up) ends
    the run with status 130 and one line, not a traceback: nothing was created yet. Once
    pytest runs, the plugin turns either signal into an interrupted session whose
    cleanup finishes before the exit.
    """
    previous = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return _run(args)
    except KeyboardInterrupt:
        _say("interrupted outside the test session (which cleans up after itself)")
        return 130
    finally:
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _run(args: argparse.Namespace) -> int:
    # here, not at the top: `snapconf report` loads this module and needs no kubernetes
    # client; and tests replace conformance.kube.Kube, looked up here at each call
    from conformance import preflight
    from conformance.kube import Kube, KubeError
    from conformance.resources import new_run_id, validate_run_id

    problem = _check_arguments(args)
    if problem:
        _say(problem)
        return EXIT_USAGE
    profile_path = args.profile or default_profile()
    try:
        profile = load_profile(profile_path)
    except ProfileError as err:
        _say(str(err))
        return EXIT_USAGE
    if args.baseline is not None:
        try:
            report.load_results(args.baseline)
        except report.ResultsError as err:
            _say(f"--baseline: {err}")
            return EXIT_USAGE
    try:
        run_id = validate_run_id(args.run_id) if args.run_id else new_run_id()
    except ValueError as err:
        _say(str(err))
        return EXIT_USAGE
    kubeconfig = resolve_kubeconfig(args.kubeconfig)
    if kubeconfig is None:
        kubeconfig = _testbed_kubeconfig(_say)
        if kubeconfig is None:
            return EXIT_USAGE
    else:
        problem = kubeconfig_problem(kubeconfig)
        if problem:
            _say(problem)
            return EXIT_USAGE
    try:
        kube = Kube(str(kubeconfig))
    except KubeError as err:
        _say(f"kubeconfig {kubeconfig} cannot be used: {err}")
        return EXIT_USAGE
    try:
        problems = preflight.check(kube, profile, on_testbed=testbed_hook.serves(kubeconfig))
    finally:
        kube.close()
    if len(problems) == 1:
        _say(f"{problems[0]}; nothing was run")
        return EXIT_USAGE
    if problems:
        for problem in problems:
            _say(problem)
        _say("the cluster is not ready for this profile; nothing was run")
        return EXIT_USAGE

    report_dir: Path = args.report_dir
    run_dir = (report_dir / run_id).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    argv = pytest_args(args, kubeconfig, Path(profile_path), run_dir)
    progress = Progress(sys.stdout)
    _say(f"run {run_id}: driver {profile.driver}, results in {run_dir}")
    status = pytest.main(argv, plugins=[progress])
    if int(status) in (int(pytest.ExitCode.USAGE_ERROR), int(pytest.ExitCode.INTERNAL_ERROR)):
        return EXIT_USAGE
    if int(status) == int(pytest.ExitCode.INTERRUPTED):
        _say(_interrupted_line(run_id, run_dir / report.RESULTS_FILE))
        return 130
    results_file = run_dir / report.RESULTS_FILE
    if not results_file.is_file():
        _say(f"the run wrote no {results_file} (pytest exit status {int(status)})")
        return EXIT_NOT_CONFORMANT
    results = report.load_results(results_file)
    verdict = report.verdict(results)
    progress.summary(results, verdict, run_dir / report.REPORT_FILE)
    if int(status) != 0 and verdict.conformant:
        # a leak, a cleanup failure or a crash outside the tests: not a clean run
        _say(f"pytest ended with status {int(status)}; see the output above")
        return EXIT_NOT_CONFORMANT
    return EXIT_OK if verdict.conformant else EXIT_NOT_CONFORMANT


def _interrupted_line(run_id: str, results_file: Path) -> str:
    """What an interrupted run left, from its leak check (written even when interrupted)."""
    leaks: list[str] = []
    if results_file.is_file():
        try:
            cluster = report.load_results(results_file).run.cluster
            leaks = [str(x) for x in cluster.get("leaks") or []]
        except report.ResultsError:
            leaks = []
    if leaks:
        return (
            f"interrupted; {len(leaks)} objects of run {run_id} were left "
            f"(remove them with: snapconf cleanup --run-id {run_id})"
        )
    return f"interrupted; objects of run {run_id} were cleaned up"


def rebuild_report(args: argparse.Namespace) -> int:
    """``snapconf report RUN_DIR [--format html|markdown] [--allure] [--baseline FILE]``."""
    allure = bool(getattr(args, "allure", False))
    baseline: Path | None = getattr(args, "baseline", None)
    if getattr(args, "format", "html") == "markdown":
        if allure:
            _say("--allure goes with --format html (the Markdown summary is for a CI job page)")
            return EXIT_USAGE
        return int(markdown_command(args.run_dir, baseline=baseline))
    if baseline is not None:
        _say(
            "--baseline goes with --format markdown (report.html lists the regressions "
            "that snapconf run --baseline stored)"
        )
        return EXIT_USAGE
    return int(report_command(args.run_dir, allure=allure))


def cleanup(args: argparse.Namespace) -> int:
    """``snapconf cleanup --run-id ID | --all``: delete by the run label only."""
    # here, not at the top: `snapconf report` loads this module and needs no kubernetes
    # client; and tests replace conformance.kube.Kube, looked up here at each call
    from conformance.kube import ConfigError, Kube, KubeError, Unauthorized, Unreachable
    from conformance.resources import sweep, validate_run_id

    run_id: str | None = None
    if args.run_id:
        try:
            run_id = validate_run_id(args.run_id)
        except ValueError as err:
            _say(str(err))
            return EXIT_USAGE
    kubeconfig = resolve_kubeconfig(args.kubeconfig)
    if kubeconfig is None:
        testbed = testbed_hook.load()
        if testbed is None:
            _say(f"no kubeconfig given and {testbed_hook.MISSING}")
            return EXIT_USAGE
        kubeconfig = testbed.default_kubeconfig()
    if not kubeconfig.is_file():
        _say(f"kubeconfig {kubeconfig} does not exist (give --kubeconfig or set $KUBECONFIG)")
        return EXIT_USAGE
    problem = kubeconfig_problem(kubeconfig)
    if problem:
        _say(problem)
        return EXIT_USAGE
    deleted: list[str] = []
    try:
        kube = Kube(str(kubeconfig))
        try:
            errors = sweep(
                kube,
                run_id,
                timeout=CLEANUP_TIMEOUT,
                on_delete=deleted.append,
                force=bool(getattr(args, "force", False)),
            )
        finally:
            kube.close()
    except (ConfigError, Unauthorized, Unreachable) as err:
        _say(f"kubeconfig {kubeconfig} cannot be used: {err}; nothing was deleted")
        return EXIT_USAGE  # bad input, not a failed cleanup
    except KubeError as err:
        _say(f"cleanup failed: {err}")
        return EXIT_NOT_CONFORMANT
    for item in deleted:
        print(f"deleted {item}")
    who = f"run {run_id}" if run_id else "every snapconf run"
    if errors:
        for error in errors:
            _say(error)
        _say(f"{len(errors)} objects of {who} could not be removed")
        if not getattr(args, "force", False):
            _say("objects held by finalizers: --force removes those of snapshots and contents")
        return EXIT_NOT_CONFORMANT
    print(f"{len(deleted)} objects of {who} removed")
    return EXIT_OK
