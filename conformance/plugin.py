"""The pytest plugin that turns pytest into a CSI snapshot conformance runner.

It owns the options (each with an ini twin; resolved command line > environment > ini >
default), the ``area``/``requires`` markers and the capability skips, the fixtures the
suites use, failure diagnostics, per-test cleanup, the session-end sweep and leak check,
and the per-test records that become ``results.json``. It never touches the cluster at
import or collection time: ``pytest --collect-only`` and ``--help`` work without one.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import report, testbed_hook
from conformance.actions import (
    ClusterActions,
    ExecChoice,
    SessionClasses,
    validate_namespace_prefix,
)
from conformance.diagnostics import Window
from conformance.diagnostics import collect as collect_diagnostics
from conformance.kube import Kube, KubeError
from conformance.manifests import Renderer
from conformance.paths import default_profile
from conformance.profile import CAPABILITIES, Profile, ProfileError, load_profile
from conformance.reaper import CleanupOutcome, Reaper
from conformance.recorder import (
    ALLURE_REPORT_LINK,
    REPORT_LINK_PATTERN,
    Recorder,
    allure_marks,
    attach_diagnostics,
    cluster_summary,
)
from conformance.resources import Tracker, leak_check, new_run_id, sweep, validate_run_id
from conformance.schedule import latest_results, longest_first, previous_durations
from conformance.waits import Timings, Waiter

if TYPE_CHECKING:
    from conformance.testbed_hook import BackendListing

AREAS = (
    "provisioning",
    "binding",
    "protection",
    "deletion",
    "restore",
    "clone",
    "group",
    "negative",
    "stress",
)
OPT_IN_AREAS = ("stress",)

HELP_PROFILE = "driver profile YAML (snapconf format or an e2e testdriver.yaml)"
HELP_KUBECONFIG = "kubeconfig of the cluster under test (default: $KUBECONFIG)"
HELP_RUN_ID = "run id labelling every object (default: generated)"
HELP_MANIFESTS = "folder of *.yaml.j2 templates overriding the built-in manifests file by file"
HELP_KEEP = "keep a failed test's objects for debugging (remove later with snapconf cleanup)"
HELP_AREA = "only run tests of this area (repeatable); 'stress' runs only when named"
HELP_REPORT_DIR = "write results.json and report.html into this folder"
HELP_BASELINE = "results.json of an earlier run: tests that passed there must pass now"
HELP_NS_PREFIX = "prefix of the namespaces snapconf creates: <prefix>-<run-id>-... (a DNS label)"


@dataclass(frozen=True)
class Option:
    """One command-line option and its ini twin and environment variable."""

    flag: str
    dest: str
    help: str
    env: str
    kind: str = "string"  # string | bool | list


OPTIONS = (
    Option("--profile", "snapconf_profile", HELP_PROFILE, "SNAPCONF_PROFILE"),
    Option("--kubeconfig", "snapconf_kubeconfig", HELP_KUBECONFIG, "KUBECONFIG"),
    Option("--run-id", "snapconf_run_id", HELP_RUN_ID, "SNAPCONF_RUN_ID"),
    Option("--manifests", "snapconf_manifests", HELP_MANIFESTS, "SNAPCONF_MANIFESTS"),
    Option(
        "--keep-on-failure", "snapconf_keep_on_failure", HELP_KEEP, "SNAPCONF_KEEP_ON_FAILURE",
        "bool",
    ),
    Option("--area", "snapconf_area", HELP_AREA, "SNAPCONF_AREA", "list"),
    Option("--snapconf-report-dir", "snapconf_report_dir", HELP_REPORT_DIR, "SNAPCONF_REPORT_DIR"),
    Option("--baseline", "snapconf_baseline", HELP_BASELINE, "SNAPCONF_BASELINE"),
    Option(
        "--namespace-prefix", "snapconf_namespace_prefix", HELP_NS_PREFIX,
        "SNAPCONF_NAMESPACE_PREFIX",
    ),
)  # fmt: skip


@dataclass
class Settings:
    """The resolved options of one pytest process."""

    profile_path: Path
    kubeconfig: str | None
    run_id: str
    manifests: Path | None
    keep_on_failure: bool
    areas: tuple[str, ...]
    report_dir: Path | None
    baseline: Path | None
    namespace_prefix: str = ""


@dataclass
class SessionState:
    """Run state kept in ``config.stash``; the kube client is made on first use."""

    settings: Settings
    profile: Profile
    worker: str
    started: float = field(default_factory=time.time)
    kube_client: Kube | None = None
    kept: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    report_path: Path | None = None
    conformant: bool | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # on the testbed, the host processes' log files that failures carry (None elsewhere)
    host_logs: dict[str, Path] | None = None
    host_logs_asked: bool = False
    # the driver's own listing at session start (testbed only) and what the check found
    backend_before: BackendListing | None = None
    backend_note: str = ""
    # whether this process's tests run their workload steps by exec (off at a refusal)
    exec_choice: ExecChoice | None = None
    # tests' cleanups, run in the background while the next test runs
    reaper: Reaper = field(default_factory=Reaper)

    def steps(self) -> ExecChoice:
        """This process's :class:`ExecChoice`, from the profile at first use."""
        with self.lock:
            if self.exec_choice is None:
                self.exec_choice = ExecChoice(enabled=self.profile.workload.exec)
            return self.exec_choice

    def kube(self) -> Kube:
        with self.lock:
            if self.kube_client is None:
                self.kube_client = Kube(self.settings.kubeconfig)
            return self.kube_client

    def testbed_host_logs(self) -> dict[str, Path] | None:
        """The testbed's snapshot/CSI log files when the kubeconfig is the testbed's (cached)."""
        with self.lock:
            if not self.host_logs_asked:
                self.host_logs = _testbed_host_logs(self.settings.kubeconfig)
                self.host_logs_asked = True
            return self.host_logs


STATE = pytest.StashKey[SessionState]()
TRACKER = pytest.StashKey[Tracker]()
TIMINGS = pytest.StashKey[Timings]()
FAILED = pytest.StashKey[bool]()
STARTED = pytest.StashKey[float]()
NOTES = pytest.StashKey[list[str]]()
"""What the test body noted, read when its cleanup was handed to the reaper."""
CLEANUPS_OUTPUT = "snapconf_cleanups"
"""``workeroutput`` key: the worker's cleanup outcomes, for the controller's records."""
RECORDER = pytest.StashKey[Recorder]()
OLD_SIGTERM = pytest.StashKey[Any]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("snapconf", "CSI snapshot conformance (snapconf)")
    for opt in OPTIONS:
        if opt.kind == "bool":
            group.addoption(
                opt.flag, dest=opt.dest, action="store_true", default=None, help=opt.help
            )
            parser.addini(opt.dest, opt.help, type="bool", default=False)
        elif opt.kind == "list":
            group.addoption(opt.flag, dest=opt.dest, action="append", default=None, help=opt.help)
            parser.addini(opt.dest, opt.help, type="args", default=[])
        else:
            group.addoption(opt.flag, dest=opt.dest, default=None, help=opt.help)
            parser.addini(opt.dest, opt.help, default=None)


def _resolve(config: pytest.Config, opt: Option) -> Any:
    """Command line > environment > ini > default."""
    value = config.getoption(opt.dest)
    if value is not None:
        return value
    env = os.environ.get(opt.env)
    if env is not None and env != "":
        if opt.kind == "bool":
            return env.lower() in ("1", "true", "yes", "on")
        if opt.kind == "list":
            return env.replace(",", " ").split()
        return env
    return config.getini(opt.dest)


def _settings(config: pytest.Config) -> Settings:
    values = {opt.dest: _resolve(config, opt) for opt in OPTIONS}
    worker_input = getattr(config, "workerinput", None)
    run_id = (
        values["snapconf_run_id"] or (worker_input or {}).get("snapconf_run_id") or new_run_id()
    )
    try:
        run_id = validate_run_id(str(run_id))
    except ValueError as err:
        raise pytest.UsageError(f"--run-id: {err}") from err
    areas = tuple(a for item in (values["snapconf_area"] or []) for a in str(item).split(","))
    unknown = [a for a in areas if a not in AREAS]
    if unknown:
        raise pytest.UsageError(f"--area: unknown area {unknown[0]!r}; areas: {', '.join(AREAS)}")
    manifests = Path(values["snapconf_manifests"]) if values["snapconf_manifests"] else None
    if manifests is not None and not manifests.is_dir():
        raise pytest.UsageError(f"--manifests: {manifests} is not a folder")
    report_dir = values["snapconf_report_dir"]
    baseline = values["snapconf_baseline"]
    namespace_prefix = str(values["snapconf_namespace_prefix"] or "")
    if namespace_prefix:
        try:
            validate_namespace_prefix(namespace_prefix)
        except ValueError as err:
            raise pytest.UsageError(f"--namespace-prefix: {err}") from err
    return Settings(
        profile_path=Path(values["snapconf_profile"] or default_profile()),
        kubeconfig=values["snapconf_kubeconfig"] or None,
        run_id=str(run_id),
        manifests=manifests,
        keep_on_failure=bool(values["snapconf_keep_on_failure"]),
        areas=areas,
        report_dir=Path(report_dir) if report_dir else None,
        baseline=Path(baseline) if baseline else None,
        namespace_prefix=namespace_prefix,
    )


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _fold_cleanups(
    config: pytest.Config, state: SessionState, outcomes: list[CleanupOutcome]
) -> None:
    """Background cleanups' outcomes into their tests' records and the run's problems."""
    recorder = config.stash.get(RECORDER, None)
    for outcome in outcomes:
        if recorder is not None:
            recorder.add_cleanup(outcome.nodeid, outcome.errors, outcome.notes)
        if outcome.errors:
            state.problems.append(
                f"cleanup of {outcome.nodeid} left objects behind: " + "; ".join(outcome.errors)
            )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "area(name): the conformance area of a test (" + ", ".join(AREAS) + ")"
    )
    config.addinivalue_line(
        "markers", "requires(*capabilities): skip unless the profile declares every capability"
    )
    config.addinivalue_line(
        "markers",
        "requires_profile(*needs): skip, before any fixture, unless the profile has each "
        "need (" + ", ".join(PROFILE_NEEDS) + ")",
    )
    if config.getoption("help", False):
        return  # --help must work whatever the profile settings say
    settings = _settings(config)
    try:
        profile = load_profile(settings.profile_path)
    except ProfileError as err:
        raise pytest.UsageError(str(err)) from err
    worker = str(getattr(config, "workerinput", {}).get("workerid", "main"))
    config.stash[STATE] = SessionState(settings=settings, profile=profile, worker=worker)
    if _is_controller(config):
        config.stash[RECORDER] = Recorder()
        config.pluginmanager.register(_ResultsCollector(config.stash[RECORDER]), "snapconf-results")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "snapconf-xdist")
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (CI cancelling a job) must clean up like Ctrl-C does
        config.stash[OLD_SIGTERM] = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)


def pytest_unconfigure(config: pytest.Config) -> None:
    old = config.stash.get(OLD_SIGTERM, None)
    if old is not None:
        signal.signal(signal.SIGTERM, old)


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextlib.contextmanager
def deferred_signals(reraise: bool = True) -> Iterator[list[int]]:
    """Let cleanup finish when SIGINT/SIGTERM arrives; a second signal still aborts it.

    Why: Ctrl-C or a CI cancel usually lands in the middle of a test, and the cleanup
    that follows is what keeps the cluster clean; a signal that also cut the cleanup
    short (e.g. a CI runner's SIGTERM right after its SIGINT, or one that arrives while a
    test is already tearing down) would leave objects behind. The first signal is noted
    and, with ``reraise``, raised as KeyboardInterrupt once the block is done, so the
    interruption still ends the session. Outside the main thread (signal handlers
    cannot be set there) it does nothing.
    """
    seen: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return

    def note(signum: int, frame: object) -> None:
        if seen:
            raise KeyboardInterrupt(f"signal {signum} (second, cleanup aborted)")
        seen.append(signum)
        sys.stderr.write(
            f"\nsnapconf: signal {signum}: finishing cleanup first (again to abort it)\n"
        )

    old = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield seen
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if seen and reraise:
        raise KeyboardInterrupt(f"signal {seen[0]}")


class _XdistHooks:
    """Hooks that exist only when pytest-xdist is installed."""

    @pytest.hookimpl
    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["snapconf_run_id"] = node.config.stash[STATE].settings.run_id

    @pytest.hookimpl
    def pytest_testnodedown(self, node: Any, error: object) -> None:
        """A worker's background cleanups, folded into the controller's records."""
        output = getattr(node, "workeroutput", None) or {}
        outcomes = [CleanupOutcome.from_dict(o) for o in output.get(CLEANUPS_OUTPUT) or []]
        _fold_cleanups(node.config, node.config.stash[STATE], outcomes)


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[STATE]
    return [
        f"snapconf: run {state.settings.run_id}, driver {state.profile.driver}, "
        f"profile {state.settings.profile_path}"
    ]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """On the controller, before any test (and before xdist starts workers): the backend."""
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or config.option.collectonly or not _is_controller(config):
        return
    _backend_start(state)


def _backend_start(state: SessionState) -> None:
    """On the testbed, the driver's own listing before the run; elsewhere a note why not.

    The testbed extra is loaded only here, at run time, never at the plugin's import.
    """
    testbed = testbed_hook.load()
    if testbed is None or not testbed.serves(state.settings.kubeconfig):
        state.backend_note = testbed_hook.NOT_TESTBED
        return
    try:
        state.backend_before = testbed.driver_listing()
    except testbed_hook.TestbedFailed as err:
        state.backend_note = f"the driver's own listing could not be read before the run: {err}"
        state.problems.append(f"the backend leak check could not list the driver: {err}")


def _backend_check(state: SessionState) -> None:
    """After the sweep and leak check: what the driver lists now and did not before the run.

    Each such entry that no other run's API object names is a leak of this run, said in
    a line of ``state.leaks`` that also says whether a PV or content of the run names it.
    """
    before = state.backend_before
    if before is None:
        return
    testbed = testbed_hook.require()
    try:
        after = testbed.driver_listing()
    except testbed_hook.TestbedFailed as err:
        state.backend_note = f"the driver's own listing could not be read after the run: {err}"
        state.problems.append(f"the backend leak check could not list the driver: {err}")
        return
    added = after.added_since(before)
    pvs: list[dict[str, Any]] | None = None
    contents: list[dict[str, Any]] | None = None
    api_error = ""
    if added.volumes or added.snapshots:
        try:
            kube = state.kube()
            pvs = kube.list("PersistentVolume", None)[0] if added.volumes else []
            contents = kube.list("VolumeSnapshotContent", None)[0] if added.snapshots else []
        except KubeError as err:
            api_error = f"the API could not be listed: {err}"
    found = testbed.backend_leaks(
        added, state.settings.run_id, pvs=pvs, contents=contents, api_error=api_error
    )
    state.leaks.extend(found.lines)
    state.backend_note = testbed.backend_summary(before, after, found)


# ---------------------------------------------------------------- collection


def _area(item: pytest.Item) -> str:
    marker = item.get_closest_marker("area")
    return str(marker.args[0]) if marker and marker.args else ""


def _requires(item: pytest.Item) -> list[str]:
    return [str(c) for m in item.iter_markers("requires") for c in m.args]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Select by --area (stress only when named) and check the capability names."""
    state = config.stash[STATE]
    wanted = set(state.settings.areas)
    keep, drop = [], []
    # allure-pytest's --allure-link-pattern report:PATTERN, which it applies to no mark
    patterns = dict(getattr(config.option, "allure_link_pattern", None) or [])
    link_pattern = str(patterns.get(ALLURE_REPORT_LINK, REPORT_LINK_PATTERN))
    for item in items:
        for cap in _requires(item):
            if cap not in CAPABILITIES:
                raise pytest.UsageError(f"{item.nodeid}: requires unknown capability {cap!r}")
        area = _area(item)
        if (wanted and area and area not in wanted) or (not wanted and area in OPT_IN_AREAS):
            drop.append(item)
            continue
        keep.append(item)
        docstring = inspect.getdoc(getattr(item, "function", None)) or ""
        for mark in allure_marks(area, _requires(item), docstring, item.nodeid, link_pattern):
            item.add_marker(mark)
        missing = missing_capabilities(state.profile, item)
        if missing:
            reason = f"profile does not declare capability {', '.join(missing)}"
            item.add_marker(pytest.mark.skip(reason=reason))
        lacking = lacking_profile_needs(state.profile, item)
        if lacking:  # after the capability skip, whose reason wins when both apply
            item.add_marker(pytest.mark.skip(reason=lacking[0]))
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = _longest_first(config, state, keep)


def _longest_first(
    config: pytest.Config, state: SessionState, items: list[pytest.Item]
) -> list[pytest.Item]:
    """The tests in the order workers should take them (see conformance/schedule.py).

    One process runs them in collection order: the order only matters to share them.
    """
    if int(getattr(config.option, "numprocesses", 0) or 0) < 2 and _is_controller(config):
        return items
    report_dir = state.settings.report_dir
    durations = previous_durations(latest_results(report_dir)) if report_dir else {}
    return longest_first(
        items,
        {i: item.nodeid for i, item in enumerate(items)},
        {i: _area(item) or "" for i, item in enumerate(items)},
        durations,
    )


def missing_capabilities(profile: Profile, item: pytest.Item) -> list[str]:
    return [cap for cap in _requires(item) if not profile.has(cap)]


PROFILE_NEEDS: dict[str, tuple[Callable[[Profile], bool], str]] = {
    "wffcStorageClass": (
        lambda profile: profile.wffc_storage_class is not None,
        "the profile names no WaitForFirstConsumer StorageClass",
    ),
    "fsResizeFromSource": (
        lambda profile: not profile.has("FSResizeFromSourceNotSupported"),
        "the profile declares FSResizeFromSourceNotSupported: the driver does not grow "
        "a file system restored to a larger size",
    ),
}
"""What ``requires_profile`` may name beyond capabilities: whether the profile has it, and
the skip reason when it has not. Each reason starts as ``report.analysis`` expects of a
skip for something the profile does not declare, so the verdict excuses it."""


def lacking_profile_needs(profile: Profile, item: pytest.Item) -> list[str]:
    """The skip reasons of the ``requires_profile`` needs ``profile`` lacks.

    Raises:
        pytest.UsageError: a need that is not in :data:`PROFILE_NEEDS`.
    """
    reasons = []
    for marker in item.iter_markers("requires_profile"):
        for need in marker.args:
            if need not in PROFILE_NEEDS:
                known = ", ".join(PROFILE_NEEDS)
                raise pytest.UsageError(
                    f"{item.nodeid}: requires_profile names unknown need {need!r}; known: {known}"
                )
            has, reason = PROFILE_NEEDS[need]
            if not has(profile):
                reasons.append(reason)
    return reasons


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def snapconf_state(pytestconfig: pytest.Config) -> SessionState:
    return pytestconfig.stash[STATE]


@pytest.fixture(scope="session")
def profile(snapconf_state: SessionState) -> Profile:
    """The driver profile under test."""
    return snapconf_state.profile


@pytest.fixture(scope="session")
def run_id(snapconf_state: SessionState) -> str:
    return snapconf_state.settings.run_id


@pytest.fixture(scope="session")
def kube(snapconf_state: SessionState) -> Kube:
    """API access to the cluster under test (the first cluster contact of a run)."""
    return snapconf_state.kube()


@pytest.fixture(scope="session")
def renderer(snapconf_state: SessionState) -> Renderer:
    return Renderer(snapconf_state.settings.manifests)


@pytest.fixture
def late_binding(request: pytest.FixtureRequest, profile: Profile) -> bool:
    """The binding-mode parameter; skips late binding when the profile has no such class."""
    late = bool(getattr(request, "param", False))
    if late and profile.wffc_storage_class is None:
        pytest.skip("the profile names no storageClassWaitForFirstConsumer")
    return late


@pytest.fixture
def volume_mode(request: pytest.FixtureRequest) -> str:
    """The test's volume mode, ``Filesystem`` unless parametrized (``params.EACH_VOLUME_MODE``).

    ``cluster``'s verbs use it wherever they take a ``mode`` and are not given one.
    """
    return str(getattr(request, "param", "Filesystem"))


@pytest.fixture
def timings(request: pytest.FixtureRequest) -> Timings:
    """Durations of the cluster operations this test waited for."""
    recorder = Timings()
    request.node.stash[TIMINGS] = recorder
    return recorder


@pytest.fixture
def waiter(kube: Kube, timings: Timings) -> Waiter:
    return Waiter(kube, timings)


@pytest.fixture(scope="session")
def session_tracker(kube: Kube, snapconf_state: SessionState) -> Iterator[Tracker]:
    """Objects that live for the whole session on this worker (created classes)."""
    tracker = Tracker(kube, snapconf_state.settings.run_id, snapconf_state.worker, Waiter(kube))
    yield tracker
    with deferred_signals():
        snapconf_state.reaper.wait()  # the tests' objects go before the classes they use
        tracker.cleanup(snapconf_state.profile.timeouts.delete)


@pytest.fixture(scope="session")
def session_classes(
    kube: Kube, session_tracker: Tracker, renderer: Renderer, snapconf_state: SessionState
) -> SessionClasses:
    """The profile's classes, created when the profile asks, plus Retain/Delete variants."""
    return SessionClasses(
        kube, session_tracker, renderer, snapconf_state.profile, snapconf_state.settings.run_id,
        snapconf_state.worker,
    )  # fmt: skip


@pytest.fixture
def tracker(
    request: pytest.FixtureRequest, kube: Kube, waiter: Waiter, snapconf_state: SessionState
) -> Iterator[Tracker]:
    """Registers what the test creates and removes it afterwards, even on failure.

    The removal runs on the process's :class:`Reaper` while the next test runs; its
    outcome joins this test's record when the session waits for it (a failed cleanup is
    this test's error and a problem of the run).
    """
    settings = snapconf_state.settings
    tracker = Tracker(kube, settings.run_id, snapconf_state.worker, waiter)
    request.node.stash[TRACKER] = tracker
    yield tracker
    request.node.stash[NOTES] = list(tracker.notes)
    if request.node.stash.get(FAILED, False) and settings.keep_on_failure:
        snapconf_state.kept.append(request.node.nodeid)
        return
    tracker.waiter = Waiter(kube)  # the test's timings end with the test
    noted = len(tracker.notes)
    timeout = snapconf_state.profile.timeouts.delete

    def cleanup() -> tuple[list[str], list[str]]:
        # the session-end sweep awaits the namespaces' own deletion, once for all tests
        errors = tracker.cleanup(timeout, await_namespaces=False)
        return errors, tracker.notes[noted:]

    snapconf_state.reaper.submit(request.node.nodeid, cleanup)


@pytest.fixture
def cluster(
    tracker: Tracker,
    waiter: Waiter,
    renderer: Renderer,
    session_classes: SessionClasses,
    snapconf_state: SessionState,
    volume_mode: str,
) -> ClusterActions:
    """The verbs a suite uses: make PVCs, write and read data, snapshot, restore, clone."""
    actions = ClusterActions(
        profile=snapconf_state.profile,
        kube=snapconf_state.kube(),
        tracker=tracker,
        waiter=waiter,
        renderer=renderer,
        classes=session_classes,
        worker=snapconf_state.worker,
        namespace_prefix=snapconf_state.settings.namespace_prefix,
        exec_choice=snapconf_state.steps(),
        volume_mode=volume_mode,
    )
    actions.create_namespace()
    return actions


# ---------------------------------------------------------------- reporting


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach what only this process knows (area, timings, diagnostics) to the report.

    It rides on the report as the ``snapconf`` attribute, which pytest-xdist carries to
    the controller with the rest of the report (and which stays out of junit.xml).
    """
    report: pytest.TestReport = yield
    if call.when == "setup":
        item.stash[STARTED] = call.start
    state = item.config.stash[STATE]
    if not _uses_cluster(item):
        return report  # not a conformance test (e.g. a unit test in a project using us)
    payload: dict[str, Any] = {
        "area": _area(item),
        "requires": _requires(item),
        "required": not missing_capabilities(state.profile, item),
        "worker": state.worker,
    }
    if report.failed:
        item.stash[FAILED] = True
        tracker = item.stash.get(TRACKER, None)
        if tracker is not None and report.when != "teardown":
            window = Window(item.stash.get(STARTED, call.start), call.stop)
            diagnostics = collect_diagnostics(
                tracker,
                window,
                host_logs=state.testbed_host_logs(),
                driver_pods=state.profile.driver_pods,
                clock_skew=state.profile.timeouts.clock_skew,
            )
            payload["diagnostics"] = diagnostics
            attach_diagnostics(diagnostics)
            for title, text in _diagnostic_sections(diagnostics):
                report.sections.append((f"snapconf {title}", text))
    if report.when == "setup":
        payload["description"] = _description(item)
    if report.when == "teardown":
        timings = item.stash.get(TIMINGS, None)
        payload["timings"] = list(timings.items) if timings else []
        noted: list[str] = item.stash.get(NOTES, [])
        payload["notes"] = list(noted)
    report.snapconf = payload  # type: ignore[attr-defined]
    return report


def _description(item: pytest.Item) -> str:
    """The behaviour a test proves: its docstring's first paragraph, on one line."""
    doc = inspect.getdoc(getattr(item, "function", None)) or ""
    return " ".join(doc.split("\n\n", 1)[0].split())


def _uses_cluster(item: pytest.Item) -> bool:
    fixtures = getattr(item, "fixturenames", ())
    return bool(_area(item)) or any(f in fixtures for f in ("cluster", "kube", "tracker"))


def _testbed_host_logs(kubeconfig: str | None) -> dict[str, Path] | None:
    """On the embedded testbed: the log file of each snapshot and CSI host process.

    Those are the components a failed test's diagnostics carry the logs of (the driver,
    the interposer, the sidecars, the snapshot-controller); elsewhere (None) they are
    pods. Asked at a session's first failure: the testbed extra is only loaded then.
    """
    testbed = testbed_hook.load()
    if testbed is None or not testbed.serves(kubeconfig):
        return None
    return testbed.csi_log_files()  # the running driver's: ours, or a user's and its registrar


def _diagnostic_sections(diagnostics: dict[str, Any]) -> list[tuple[str, str]]:
    sections = []
    events = diagnostics.get("events") or []
    if events:
        lines = [f"{e['object']}: {e['type']} {e['reason']}: {e['message']}" for e in events]
        sections.append(("events", "\n".join(lines)))
    for obj in diagnostics.get("objects") or []:
        sections.append((f"{obj['kind']} {obj.get('namespace') or ''}/{obj['name']}", obj["yaml"]))
    for log in diagnostics.get("logs") or []:
        text = _terminal_tail(log["text"]) if log.get("component") else log["text"]
        sections.append((f"log {log['pod']}/{log['container']}", text))
    return sections


TERMINAL_LOG_LINES = 25


def _terminal_tail(text: str) -> str:
    """A component log's ``#`` header and last lines: the whole window is in the report."""
    lines = text.splitlines()
    header = 0
    while header < len(lines) and lines[header].startswith("# "):
        header += 1
    body = lines[header:]
    if len(body) <= TERMINAL_LOG_LINES:
        return text
    hidden = len(body) - TERMINAL_LOG_LINES
    note = f"# ... {hidden} earlier lines of the window: see results.json / report.html"
    return "\n".join([*lines[:header], note, *body[-TERMINAL_LOG_LINES:]]) + "\n"


class _ResultsCollector:
    """On the controller: folds every test's phases into one results.json record."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if getattr(report, "snapconf", None) is not None:
            self.recorder.add(report)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Sweep this process's objects; on the controller: leak check and results."""
    config = session.config
    state = config.stash.get(STATE, None)
    if state is None or config.option.collectonly:
        return
    controller = _is_controller(config)
    interrupted = int(exitstatus) == int(pytest.ExitCode.INTERRUPTED)
    with deferred_signals(reraise=False):
        outcomes = state.reaper.wait()  # every test's cleanup, before the sweep
        state.reaper.close()
    if controller:
        _fold_cleanups(config, state, outcomes)
    else:
        config.workeroutput[CLEANUPS_OUTPUT] = [o.to_dict() for o in outcomes]  # type: ignore[attr-defined]
    ran_tests = bool(config.stash[RECORDER].records) if controller else True
    # The xdist controller runs no test (so has no client yet), but it is the one left to
    # clean up after workers that an interrupt killed in the middle of their cleanup.
    workers = controller and bool(getattr(config.option, "numprocesses", 0))
    if not state.kept and (state.kube_client is not None or workers or interrupted):
        with deferred_signals(reraise=False):
            try:
                errors = sweep(
                    state.kube(),
                    state.settings.run_id,
                    timeout=state.profile.timeouts.delete,
                    worker=None if controller else state.worker,
                )
            except KubeError as err:
                errors = [f"the sweep could not list the cluster: {err}"]
        if errors:
            state.problems.extend(f"cleanup: {e}" for e in errors)
    if controller and (ran_tests or interrupted):
        if not state.kept:
            try:
                state.leaks.extend(leak_check(state.kube(), state.settings.run_id))
            except KubeError as err:
                state.problems.append(f"the leak check could not list the cluster: {err}")
            _backend_check(state)
            if (state.leaks or state.problems) and session.exitstatus == 0:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        elif state.backend_before is not None:
            state.backend_note = (
                "the driver's own listing was not compared after the run: objects were kept "
                "for debugging"
            )
        _write_results(config, state)
        if state.conformant is False and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
    if state.kube_client is not None:
        state.kube_client.close()
        state.kube_client = None


def _write_results(config: pytest.Config, state: SessionState) -> None:
    """results.json, report.html, ``latest`` and the verdict in allure's metadata.

    A non-conformant verdict fails the session.
    """
    report_dir = state.settings.report_dir
    if report_dir is None:
        return
    try:
        cluster = cluster_summary(
            state.kube(),
            state.profile.driver,
            extra_components=_testbed_components(state.settings.kubeconfig),
        )
    except KubeError as err:  # the client itself could not be made
        cluster = {"components": [], "notes": [f"the cluster could not be read: {err}"]}
    cluster["leaks"] = list(state.leaks)
    if state.backend_note:
        cluster["backend"] = state.backend_note
    try:
        results = config.stash[RECORDER].results(
            run_id=state.settings.run_id,
            start=state.started,
            argv=[str(a) for a in config.invocation_params.args],
            workers=int(getattr(config.option, "numprocesses", 0) or 1),
            profile=state.profile.to_dict(),
            cluster=cluster,
        )
        published = report.publish(results, report_dir, baseline=state.settings.baseline)
    except report.ResultsError as err:
        state.problems.append(f"the report could not be written: {err}")
        return
    state.report_path = published.report
    state.conformant = published.verdict.conformant
    alluredir = getattr(config.option, "allure_report_dir", None)
    if alluredir:
        # The verdict in Allure's metadata, for whoever renders these results.
        try:
            report.write_allure_environment(published.results, alluredir)
        except report.ResultsError as err:
            state.problems.append(f"the allure metadata could not be written: {err}")


def _testbed_components(kubeconfig: str | None) -> list[dict[str, str]]:
    """On the embedded testbed the components are host processes with pinned versions."""
    testbed = testbed_hook.load()
    return testbed.components() if testbed is not None and testbed.serves(kubeconfig) else []


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or not _is_controller(config):
        return
    if state.kept:
        terminalreporter.write_sep("-", "snapconf: objects kept for debugging")
        for nodeid in state.kept:
            terminalreporter.write_line(f"kept: {nodeid}")
        terminalreporter.write_line(
            f"remove them with: snapconf cleanup --run-id {state.settings.run_id}"
        )
    if state.leaks:
        terminalreporter.write_sep(
            "!", f"snapconf: {len(state.leaks)} objects of run {state.settings.run_id} left behind"
        )
        for leak in state.leaks:
            terminalreporter.write_line(leak)
    for problem in state.problems:
        terminalreporter.write_line(f"snapconf: {problem}")
    if state.report_path is not None:
        terminalreporter.write_line(f"snapconf report: {state.report_path}")
