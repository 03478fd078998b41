"""conformance.plugin through pytester: options, markers, capability skips, area selection.

The plugin is a pytest11 entry point, so it loads in every pytester run. Nothing here may
reach a cluster: each test points ``KUBECONFIG`` at a file that does not exist, clears the
``SNAPCONF_*`` variables, and makes opening a socket fail (inline runs share this
process). The cleanup tests replace the ``kube`` fixture by a tiny in-process fake that
answers only what the tracker's bookkeeping asks; suite behaviour is never faked.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance import plugin
from conformance.plugin import AREAS, OPTIONS, STATE, Settings

REPO = Path(__file__).resolve().parents[1]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"
SUITES = REPO / "suites"
RUN_ID_FORMAT = re.compile(r"sc-\d{8}-\d{6}-[0-9a-f]{4}")
USAGE = pytest.ExitCode.USAGE_ERROR
NO_CACHE = ("-p", "no:cacheprovider")


class ClusterTouched(AssertionError):
    """Something went for the network or built a Kube client where it must not."""


def _refuse(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise ClusterTouched(what)

    return refuse


@pytest.fixture(autouse=True)
def isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in [n for n in os.environ if n.startswith("SNAPCONF_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", str(pytester.path / "no-kubeconfig"))
    monkeypatch.setattr(socket.socket, "connect", _refuse("socket connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse("socket connect"))
    # inline runs install the plugin's SIGTERM handler in this process: put ours back
    sigterm = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, sigterm)


@pytest.fixture
def no_kube(monkeypatch: pytest.MonkeyPatch) -> None:
    """Building a Kube client at all (not only connecting) fails the run."""
    monkeypatch.setattr("conformance.plugin.Kube", _refuse("Kube client"))
    monkeypatch.setattr("conformance.kube.Kube", _refuse("Kube client"))


def profile_text(**capabilities: bool) -> str:
    """The reference profile with some capabilities set (True/False) or, with None, removed."""
    text = HOSTPATH.read_text(encoding="utf-8")
    for name, on in capabilities.items():
        line = re.compile(rf"^  {name}: (true|false)\n", re.MULTILINE)
        assert line.search(text), name
        text = line.sub("" if on is None else f"  {name}: {str(on).lower()}\n", text)
    return text


def write_profile(pytester: pytest.Pytester, name: str = "profile.yaml", **caps: Any) -> Path:
    path = pytester.path / name
    path.write_text(profile_text(**caps), encoding="utf-8")
    return path


def settings(pytester: pytest.Pytester, *args: str) -> Settings:
    config = pytester.parseconfigure(*NO_CACHE, *args)
    return config.stash[STATE].settings


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest(*NO_CACHE, *args)


def usage_error(result: pytest.RunResult, *patterns: str) -> None:
    assert result.ret == USAGE, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines([f"ERROR: {p}" for p in patterns])
    assert "Traceback (most recent call last)" not in result.stderr.str() + result.stdout.str()


# ---------------------------------------------------------------- options and ini twins


def test_defaults(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBECONFIG")
    got = settings(pytester)
    assert RUN_ID_FORMAT.fullmatch(got.run_id)
    assert got.profile_path == HOSTPATH
    assert got.kubeconfig is None
    assert got.manifests is None
    assert got.keep_on_failure is False
    assert got.areas == ()
    assert got.report_dir is None
    assert got.baseline is None


def test_each_run_gets_its_own_run_id(pytester: pytest.Pytester) -> None:
    assert settings(pytester).run_id != settings(pytester).run_id


#: option flag -> (environment variable, ini name, Settings attribute, value for a level)
STRING_OPTIONS = {
    "--run-id": ("SNAPCONF_RUN_ID", "snapconf_run_id", "run_id", "sc-20250101-000000-{n}aaa"),
    "--kubeconfig": ("KUBECONFIG", "snapconf_kubeconfig", "kubeconfig", "/kube/{n}"),
    "--manifests": ("SNAPCONF_MANIFESTS", "snapconf_manifests", "manifests", "tpl{n}"),
    "--snapconf-report-dir": (
        "SNAPCONF_REPORT_DIR", "snapconf_report_dir", "report_dir", "/reports/{n}",
    ),
    "--baseline": ("SNAPCONF_BASELINE", "snapconf_baseline", "baseline", "/old/{n}.json"),
    "--profile": ("SNAPCONF_PROFILE", "snapconf_profile", "profile_path", "{n}.yaml"),
    "--namespace-prefix": (
        "SNAPCONF_NAMESPACE_PREFIX", "snapconf_namespace_prefix", "namespace_prefix", "team{n}",
    ),
}  # fmt: skip
LEVELS = {  # the sources given -> the one that must win
    "ini": (("ini",), "ini"),
    "env-over-ini": (("env", "ini"), "env"),
    "cli-over-env-and-ini": (("cli", "env", "ini"), "cli"),
    "cli-over-ini": (("cli", "ini"), "cli"),
}


def test_every_option_is_in_the_table() -> None:
    assert {opt.flag for opt in OPTIONS} == {*STRING_OPTIONS, "--keep-on-failure", "--area"}
    for flag, (env, ini, _, _) in STRING_OPTIONS.items():
        opt = next(o for o in OPTIONS if o.flag == flag)
        assert (opt.env, opt.dest) == (env, ini)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("flag", STRING_OPTIONS)
def test_string_option_precedence(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: str, level: str
) -> None:
    env, ini, attr, template = STRING_OPTIONS[flag]
    given, winner = LEVELS[level]
    values = {source: template.format(n=i + 1) for i, source in enumerate(("cli", "env", "ini"))}
    if flag == "--profile":  # the profile is loaded at configure time: the files must exist
        for value in values.values():
            write_profile(pytester, value)
    if flag == "--manifests":  # checked at configure time too: the folders must exist
        for value in values.values():
            pytester.mkdir(value)
    monkeypatch.delenv(env, raising=False)
    args: list[str] = []
    if "cli" in given:
        args = [flag, values["cli"]]
    if "env" in given:
        monkeypatch.setenv(env, values["env"])
    pytester.makeini(f"[pytest]\n{ini} = {values['ini']}\n")
    got = getattr(settings(pytester, *args), attr)
    assert str(got) == values[winner]


def test_empty_environment_variable_falls_back_to_ini(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNAPCONF_RUN_ID", "")
    pytester.makeini("[pytest]\nsnapconf_run_id = sc-20250101-000000-0abc\n")
    assert settings(pytester).run_id == "sc-20250101-000000-0abc"


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        (False, None, "true", True),
        (False, "0", "true", False),
        (False, "yes", "false", True),
        (False, "TRUE", None, True),
        (True, "0", "false", True),
        (False, None, None, False),
    ],
)
def test_keep_on_failure_precedence(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    cli: bool,
    env: str | None,
    ini: str | None,
    expected: bool,
) -> None:
    if env is not None:
        monkeypatch.setenv("SNAPCONF_KEEP_ON_FAILURE", env)
    if ini is not None:
        pytester.makeini(f"[pytest]\nsnapconf_keep_on_failure = {ini}\n")
    args = ["--keep-on-failure"] if cli else []
    assert settings(pytester, *args).keep_on_failure is expected


@pytest.mark.parametrize(
    ("cli", "env", "ini", "expected"),
    [
        ([], None, "restore clone", ("restore", "clone")),
        ([], "binding,negative", "restore", ("binding", "negative")),
        ([], "binding negative", None, ("binding", "negative")),
        (["--area", "stress", "--area", "restore,clone"], "binding", "deletion",
         ("stress", "restore", "clone")),
    ],
    ids=["ini", "env-comma", "env-space", "cli"],
)  # fmt: skip
def test_area_precedence(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    cli: list[str],
    env: str | None,
    ini: str | None,
    expected: tuple[str, ...],
) -> None:
    if env is not None:
        monkeypatch.setenv("SNAPCONF_AREA", env)
    if ini is not None:
        pytester.makeini(f"[pytest]\nsnapconf_area = {ini}\n")
    assert settings(pytester, *cli).areas == expected


def test_fixtures_expose_the_resolved_run(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=False)
    pytester.makepyfile(
        """
        def test_run(run_id, profile, snapconf_state):
            assert run_id == "sc-20250101-000000-abcd"
            assert profile.driver == "hostpath.csi.k8s.io"
            assert profile.has("block") is False
            assert snapconf_state.worker == "main"
        """
    )
    result = run(pytester, "--run-id", "sc-20250101-000000-abcd", "--profile", str(profile))
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            f"snapconf: run sc-20250101-000000-abcd, driver hostpath.csi.k8s.io, profile {profile}",
        ]
    )


@pytest.mark.usefixtures("no_kube")
def test_bad_run_id_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    usage_error(run(pytester, "--run-id", "Bad Id!"), "*Bad Id!*")


# ---------------------------------------------------------------- no cluster at help/collection


def test_help_lists_the_snapconf_options_without_a_cluster(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(*NO_CACHE, "--help")
    assert result.ret == 0
    out = result.stdout.str()
    assert "CSI snapshot conformance (snapconf):" in out
    for opt in OPTIONS:
        assert re.search(rf"^  {re.escape(opt.flag)}\b", out, re.MULTILINE), opt.flag
        assert re.search(rf"^  {opt.dest} \(", out, re.MULTILINE), opt.dest
        assert opt.help.split()[0] in out
    assert "Traceback (most recent call last)" not in out + result.stderr.str()


@pytest.mark.usefixtures("no_kube")
def test_help_works_with_a_broken_profile_flag(pytester: pytest.Pytester) -> None:
    """--help is how a user finds out what is wrong with the options."""
    result = run(pytester, "--help", "--profile", "no-such-profile.yaml")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--profile=*"])


@pytest.mark.usefixtures("no_kube")
def test_help_works_with_a_broken_profile_in_the_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsnapconf_profile = no-such-profile.yaml\n")
    result = run(pytester, "--help")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*--profile=*"])


@pytest.mark.usefixtures("no_kube")
def test_collect_only_on_the_suites_needs_no_cluster(pytester: pytest.Pytester) -> None:
    result = run(pytester, str(SUITES), "--collect-only", "-q")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    collected = [line for line in result.stdout.lines if "::" in line]
    assert len(collected) > 10
    assert not [line for line in collected if "test_stress.py" in line]
    assert {line.split("::")[0].split("/")[-1] for line in collected} >= {
        "test_restore.py",
        "test_clone.py",
        "test_provisioning.py",
    }
    assert "error" not in result.stdout.lines[-1]


@pytest.mark.usefixtures("no_kube")
def test_collect_only_stress_area_of_the_suites(pytester: pytest.Pytester) -> None:
    result = run(pytester, str(SUITES), "--collect-only", "-q", "--area", "stress")
    assert result.ret == 0
    collected = [line for line in result.stdout.lines if "::" in line]
    assert collected
    assert all("test_stress.py" in line for line in collected)


@pytest.mark.usefixtures("no_kube")
def test_collect_only_with_cluster_fixtures_needs_no_cluster(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.area("restore")

        def test_uses_everything(cluster, kube, tracker, waiter, session_classes):
            raise AssertionError("never runs")
        """
    )
    result = run(pytester, "--collect-only", "-q")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["test_collect_only_with_cluster_fixtures_needs_no_cluster.py::*"])


# ---------------------------------------------------------------- markers


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["@pytest.mark.area(name): *", "@pytest.mark.requires(*): *"])


def test_markers_pass_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.area("restore")
        @pytest.mark.requires("snapshotDataSource")
        def test_x():
            pass
        """
    )
    result = run(pytester, "--strict-markers", "--collect-only", "-q")
    assert result.ret == 0
    assert "error" not in result.stdout.str().lower()


REQUIRES = """
    import pytest

    @pytest.mark.requires("block")
    def test_block():
        pass

    @pytest.mark.requires("snapshotDataSource")
    def test_snapshots():
        pass

    def test_no_requirement():
        pass
"""


def test_requires_skips_with_the_capability_named(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=False)
    pytester.makepyfile(test_caps=REQUIRES)
    result = run(pytester, "--profile", str(profile), "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1[]] *: profile does not declare capability block"])


def test_capability_skip_points_at_the_test(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=False)
    pytester.makepyfile(test_caps=REQUIRES)
    result = run(pytester, "--profile", str(profile), "-rs")
    result.stdout.fnmatch_lines(
        ["SKIPPED [[]1[]] test_caps.py:*: profile does not declare capability block"]
    )


def test_requires_runs_when_declared(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=True)
    pytester.makepyfile(test_caps=REQUIRES)
    result = run(pytester, "--profile", str(profile), "-rs")
    result.assert_outcomes(passed=3)


def test_capability_left_out_of_the_profile_is_not_declared(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=None)
    pytester.makepyfile(test_caps=REQUIRES)
    result = run(pytester, "--profile", str(profile), "-rs")
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*profile does not declare capability block"])


def test_requires_from_module_and_function_add_up(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=False, pvcDataSource=False)
    pytester.makepyfile(
        test_caps="""
        import pytest

        pytestmark = pytest.mark.requires("pvcDataSource")

        @pytest.mark.requires("block", "snapshotDataSource")
        def test_x():
            pass
        """
    )
    result = run(pytester, "--profile", str(profile), "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*profile does not declare capability block, pvcDataSource"])


def test_skipped_setup_does_not_build_fixtures(pytester: pytest.Pytester) -> None:
    """The capability skip comes before fixture setup: no cluster fixture is made."""
    profile = write_profile(pytester, block=False)
    pytester.makepyfile(
        test_caps="""
        import pytest

        @pytest.mark.requires("block")
        def test_x(kube, cluster):
            pass
        """
    )
    result = run(pytester, "--profile", str(profile))
    result.assert_outcomes(skipped=1)


@pytest.mark.parametrize("collect_only", [False, True])
def test_unknown_capability_in_requires_is_a_usage_error(
    pytester: pytest.Pytester, collect_only: bool
) -> None:
    pytester.makepyfile(
        test_caps="""
        import pytest

        @pytest.mark.requires("snapshotDatasource")
        def test_x():
            pass
        """
    )
    args = ["--collect-only"] if collect_only else []
    result = run(pytester, *args)
    usage_error(result, "test_caps.py::test_x: requires unknown capability 'snapshotDatasource'")
    assert "passed" not in result.stdout.str()


def test_requires_profile_skips_before_fixtures_with_the_excused_reason(
    pytester: pytest.Pytester,
) -> None:
    """A profile without a WaitForFirstConsumer class skips at setup: no cluster is made."""
    text = profile_text().replace("wffcStorageClass: {name: csi-hostpath-sc-wffc}\n", "")
    profile = pytester.path / "profile.yaml"
    profile.write_text(text, encoding="utf-8")
    pytester.makepyfile(
        test_needs="""
        import pytest

        @pytest.mark.requires_profile("wffcStorageClass")
        def test_late(kube, cluster):
            pass

        @pytest.mark.requires_profile("fsResizeFromSource")
        def test_grows(kube, cluster):
            pass
        """
    )
    result = run(pytester, "--profile", str(profile), "-rs", "--strict-markers")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] *: the profile names no WaitForFirstConsumer StorageClass",
            "SKIPPED [[]1[]] *: the profile declares FSResizeFromSourceNotSupported: *",
        ]
    )


def test_requires_profile_runs_when_the_profile_has_it(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, FSResizeFromSourceNotSupported=False)
    pytester.makepyfile(
        test_needs="""
        import pytest

        @pytest.mark.requires_profile("wffcStorageClass", "fsResizeFromSource")
        def test_x():
            pass
        """
    )
    run(pytester, "--profile", str(profile)).assert_outcomes(passed=1)


def test_unknown_requires_profile_need_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_needs="""
        import pytest

        @pytest.mark.requires_profile("wffcClass")
        def test_x():
            pass
        """
    )
    result = run(pytester, "--collect-only")
    usage_error(result, "test_needs.py::test_x: requires_profile names unknown need 'wffcClass'*")


def test_volume_mode_is_filesystem_unless_parametrized(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_modes="""
        import pytest

        from conformance.params import VOLUME_MODES

        def test_default(volume_mode):
            assert volume_mode == "Filesystem"

        @pytest.mark.parametrize("volume_mode", VOLUME_MODES, indirect=True)
        def test_each(volume_mode, request):
            assert volume_mode == {"fs": "Filesystem", "block": "Block"}[request.node.callspec.id]
        """
    )
    run(pytester, "-v").assert_outcomes(passed=3)


# ---------------------------------------------------------------- --area


AREA_TESTS = """
    import pytest

    @pytest.mark.area("restore")
    def test_restore():
        pass

    @pytest.mark.area("clone")
    def test_clone():
        pass

    @pytest.mark.area("stress")
    def test_stress():
        pass

    @pytest.mark.area("negative")
    class TestNegative:
        def test_one(self):
            pass

        def test_two(self):
            pass
"""


def selected(pytester: pytest.Pytester, *args: str) -> set[str]:
    pytester.makepyfile(test_areas=AREA_TESTS)
    result = run(pytester, "--collect-only", "-q", *args)
    names = {line.split("::", 1)[1] for line in result.stdout.lines if "::" in line}
    expected_ret = pytest.ExitCode.OK if names else pytest.ExitCode.NO_TESTS_COLLECTED
    assert result.ret == expected_ret, result.stdout.str() + result.stderr.str()
    return names


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"test_restore", "test_clone", "TestNegative::test_one", "TestNegative::test_two"}),
        (["--area", "restore"], {"test_restore"}),
        (["--area", "negative"], {"TestNegative::test_one", "TestNegative::test_two"}),
        (["--area", "restore", "--area", "clone"], {"test_restore", "test_clone"}),
        (["--area", "restore,clone"], {"test_restore", "test_clone"}),
        (["--area", "stress"], {"test_stress"}),
        (["--area", "stress", "--area", "restore"], {"test_stress", "test_restore"}),
        (["--area", "binding"], set()),
    ],
    ids=["default", "one", "class", "two", "comma", "stress", "stress-and-one", "none-match"],
)
def test_area_selection(pytester: pytest.Pytester, args: list[str], expected: set[str]) -> None:
    assert selected(pytester, *args) == expected


def test_area_selection_from_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsnapconf_area = stress\n")
    assert selected(pytester) == {"test_stress"}


def test_deselected_tests_are_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_areas=AREA_TESTS)
    result = run(pytester, "--area", "restore")
    result.assert_outcomes(passed=1, deselected=4)


@pytest.mark.parametrize(
    ("how", "value"),
    [("cli", "restor"), ("cli", "restore,bogus"), ("env", "Restore"), ("ini", "stres")],
)
def test_unknown_area_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, how: str, value: str
) -> None:
    pytester.makepyfile(test_areas=AREA_TESTS)
    args: list[str] = []
    if how == "cli":
        args = ["--area", value]
    elif how == "env":
        monkeypatch.setenv("SNAPCONF_AREA", value)
    else:
        pytester.makeini(f"[pytest]\nsnapconf_area = {value}\n")
    bad = value.split(",")[-1]
    usage_error(run(pytester, *args), f"--area: unknown area '{bad}'; areas: {', '.join(AREAS)}")


# ---------------------------------------------------------------- bad profiles


def test_missing_profile_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    usage_error(run(pytester, "--profile", "nope.yaml"), "nope.yaml: no such file")


def test_missing_profile_from_ini_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x():\n    pass\n")
    pytester.makeini("[pytest]\nsnapconf_profile = nope.yaml\n")
    usage_error(run(pytester), "nope.yaml: no such file")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("  block: true", "  blok: true",
         "capabilities.blok: unknown capability, did you mean block?"),
        ("  delete: 2m", "  delete: 2 minutes", "timeouts.delete: *"),
        ("  payload: 16Mi", "  payload: 2Gi", "workload.payload: *"),
        ("\nsnapshotClass:", "\nsnapshotclass:", "snapshotclass: unknown key, did you mean*"),
    ],
    ids=["capability", "duration", "payload", "key"],
)  # fmt: skip
def test_bad_profile_content_names_the_field(
    pytester: pytest.Pytester, old: str, new: str, message: str
) -> None:
    text = HOSTPATH.read_text(encoding="utf-8")
    assert text.count(old) == 1
    bad = pytester.path / "bad.yaml"
    bad.write_text(text.replace(old, new), encoding="utf-8")
    pytester.makepyfile("def test_x():\n    pass\n")
    usage_error(run(pytester, "--profile", str(bad)), f"{bad}: {message}")


def test_e2e_testdriver_profile_loads(pytester: pytest.Pytester) -> None:
    e2e = REPO / "profiles" / "hostpath-testdriver.yaml"
    got = pytester.parseconfigure(*NO_CACHE, "--profile", str(e2e)).stash[STATE]
    assert got.profile.format == "e2e"
    assert got.profile.driver == "hostpath.csi.k8s.io"


def test_missing_manifests_folder_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_x(renderer):\n    pass\n")
    usage_error(run(pytester, "--manifests", "no-such-folder"), "*no-such-folder*")


# ---------------------------------------------------------------- cleanup bookkeeping

FAKE_KUBE_CONFTEST = """
    import pytest

    from conformance.kube import Forbidden

    CALLS = []


    class FakeKube:
        '''Answers the tracker's and diagnostics' reads; every object is already gone.'''

        def __init__(self, refuse):
            self.refuse = refuse

        def get_or_none(self, kind, name, namespace=None):
            CALLS.append(f"get {kind} {namespace}/{name}")
            if self.refuse:
                raise Forbidden("no reading", status=403)
            return None

        def delete(self, kind, name, namespace=None, **kwargs):
            CALLS.append(f"delete {kind} {namespace}/{name}")
            raise Forbidden("no deleting", status=403)

        def events_for(self, kind, name, namespace=None):
            return []

        def __getattr__(self, name):
            raise AssertionError(f"the fake cluster has no {name}")


    @pytest.fixture(scope="session")
    def kube(pytestconfig):
        return FakeKube(refuse=bool(pytestconfig.getini("fake_refuses")))


    def pytest_addoption(parser):
        parser.addini("fake_refuses", "the fake refuses reads and deletes", type="bool")


    def pytest_terminal_summary(terminalreporter):
        terminalreporter.write_line("fake calls: " + " | ".join(CALLS))
"""

TRACKED = """
    def test_fails(tracker):
        tracker.adopt("PersistentVolumeClaim", "data", "ns-1")
        assert False, "boom"

    def test_passes(tracker):
        tracker.adopt("PersistentVolumeClaim", "ok", "ns-2")
"""


@pytest.fixture
def fake_cluster(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(FAKE_KUBE_CONFTEST)
    pytester.makepyfile(test_tracked=TRACKED)
    return pytester


def test_failed_test_gets_diagnostics_then_cleanup(fake_cluster: pytest.Pytester) -> None:
    result = run(fake_cluster, "--run-id", "sc-20250101-000000-abcd")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*snapconf PersistentVolumeClaim ns-1/data*",
            "# gone",
            "fake calls: get PersistentVolumeClaim ns-1/data | get PersistentVolumeClaim "
            "ns-1/data | get PersistentVolumeClaim ns-2/ok",
        ]
    )
    assert "kept:" not in result.stdout.str()


def test_keep_on_failure_keeps_only_the_failed_test(fake_cluster: pytest.Pytester) -> None:
    result = run(fake_cluster, "--run-id", "sc-20250101-000000-abcd", "--keep-on-failure")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*snapconf: objects kept for debugging*",
            "kept: test_tracked.py::test_fails",
            "remove them with: snapconf cleanup --run-id sc-20250101-000000-abcd",
        ]
    )
    # diagnostics read ns-1/data once; cleanup reads only the passed test's object
    result.stdout.fnmatch_lines(
        ["fake calls: get PersistentVolumeClaim ns-1/data | get PersistentVolumeClaim ns-2/ok"]
    )
    assert "left behind" not in result.stdout.str()  # no leak check while objects are kept


def test_cleanup_failure_fails_the_run_naming_the_test(fake_cluster: pytest.Pytester) -> None:
    """Cleanup runs in the background after the test; what it left is the run's failure."""
    fake_cluster.makeini("[pytest]\nfake_refuses = true\n")
    result = run(fake_cluster, "-k", "passes")
    result.assert_outcomes(passed=1, deselected=1)
    assert result.ret != 0
    result.stdout.fnmatch_lines(
        [
            "snapconf: cleanup of test_tracked.py::test_passes left objects behind: "
            "PersistentVolumeClaim ns-2/ok: delete failed: 403: no deleting",
        ]
    )


def test_unreadable_objects_show_in_diagnostics(fake_cluster: pytest.Pytester) -> None:
    fake_cluster.makeini("[pytest]\nfake_refuses = true\n")
    result = run(fake_cluster, "-k", "fails")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(["*snapconf PersistentVolumeClaim ns-1/data*", "# unreadable: *"])


TESTBED_FAILURE = """
    import os
    from datetime import datetime
    from pathlib import Path


    def klog(text):
        return f"I{datetime.now():%m%d %H:%M:%S.%f}   7 snapshotter.go:1] {text}\\n"


    def test_fails(tracker):
        log = Path(os.environ["SNAPCONF_TESTBED_DIR"]) / "logs" / "csi-snapshotter.log"
        with log.open("a", encoding="utf-8") as out:
            out.write(klog("CreateSnapshot failed with --token=abc123"))
            for i in range(40):
                out.write(klog(f"busy {i}"))
        tracker.adopt("PersistentVolumeClaim", "data", "ns-1")
        assert False, "boom"
"""


def test_failure_on_the_testbed_carries_its_host_logs_for_the_window(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    testbed = pytester.path / "testbed"
    (testbed / "logs").mkdir(parents=True)
    kubeconfig = testbed / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n", encoding="utf-8")
    (testbed / "logs" / "csi-snapshotter.log").write_text(
        "\n==> 2020-01-01T00:00:00 csi-snapshotter --v=3\n"
        "I0101 00:00:01.000000   7 snapshotter.go:1] long before the test\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SNAPCONF_TESTBED_DIR", str(testbed))
    pytester.makeconftest(FAKE_KUBE_CONFTEST + RESULTS_CONFTEST)
    pytester.makepyfile(test_testbed=TESTBED_FAILURE)
    result = run(pytester, "--kubeconfig", str(kubeconfig))
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    # the terminal shows each component's header and its last lines ...
    result.stdout.fnmatch_lines(
        [
            "*snapconf log testbed host/csi-snapshotter*",
            f"# csi-snapshotter: {testbed / 'logs' / 'csi-snapshotter.log'}",
            "# window: * to *",
            "# ... 16 earlier lines of the window: see results.json / report.html",
            "*busy 15",
        ]
    )
    result.stdout.fnmatch_lines(["*snapconf log testbed host/snapshot-controller*"])
    assert "logs unavailable: No such file or directory" in out
    assert "long before the test" not in out
    assert "the fake cluster has no" not in out  # the testbed's logs need no API call
    # ... and the record the whole window, redacted
    [record] = json.loads((pytester.path / "records.json").read_text())
    logs = {log["container"]: log["text"] for log in record["diagnostics"]["logs"]}
    assert list(logs) == [
        "snapshot-controller",
        "csi-interposer",
        "hostpathplugin",
        "csi-provisioner",
        "csi-snapshotter",
        "csi-resizer",
    ]
    assert "CreateSnapshot failed with --token=<redacted>" in logs["csi-snapshotter"]
    assert "abc123" not in json.dumps(record["diagnostics"]["logs"])
    assert "busy 0" in logs["csi-snapshotter"]


def test_failure_elsewhere_says_which_logs_it_could_not_read(
    fake_cluster: pytest.Pytester,
) -> None:
    result = run(fake_cluster, "-k", "fails")
    result.assert_outcomes(failed=1, deselected=1)
    result.stdout.fnmatch_lines(
        [
            "*snapconf log driver pods/-*",
            "driver logs not collected: the profile names no driverPods*",
            "*snapconf log snapshot-controller/-*",
            "logs unavailable: AssertionError: the fake cluster has no list",
        ]
    )


# ---------------------------------------------------------------- session end and results

RESULTS_CONFTEST = """
    import json

    from conformance.plugin import RECORDER


    def pytest_unconfigure(config):
        if RECORDER in config.stash:
            records = config.stash[RECORDER].as_list()
            with open("records.json", "w", encoding="utf-8") as out:
                json.dump(records, out)
"""


def test_results_records_outcomes(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=False)
    pytester.makeconftest(RESULTS_CONFTEST)
    pytester.makepyfile(
        test_rec="""
        import pytest

        pytestmark = pytest.mark.area("restore")

        @pytest.mark.requires("block")
        def test_block():
            pass

        def test_fails():
            assert False
        """
    )
    run(pytester, "--profile", str(profile)).assert_outcomes(failed=1, skipped=1)
    records = {r["name"]: r for r in json.loads((pytester.path / "records.json").read_text())}
    assert records["test_block"]["outcome"] == "skipped"
    assert records["test_block"]["skipReason"] == "profile does not declare capability block"
    assert records["test_fails"]["outcome"] == "failed"
    assert "assert False" in records["test_fails"]["diagnostics"]["message"]


def test_results_records_carry_area_and_capabilities(pytester: pytest.Pytester) -> None:
    profile = write_profile(pytester, block=False)
    pytester.makeconftest(RESULTS_CONFTEST)
    pytester.makepyfile(
        test_rec="""
        import pytest

        pytestmark = pytest.mark.area("restore")

        @pytest.mark.requires("block")
        def test_block():
            pass
        """
    )
    run(pytester, "--profile", str(profile)).assert_outcomes(skipped=1)
    (record,) = json.loads((pytester.path / "records.json").read_text())
    assert (record["area"], record["requires"], record["required"]) == ("restore", ["block"], False)
    assert record["worker"] == "main"


@pytest.mark.usefixtures("no_kube")
def test_session_that_never_used_the_cluster_does_not_contact_it(
    pytester: pytest.Pytester,
) -> None:
    """Plain tests (no area, no cluster fixture) get no leak check, no sweep, exit 0."""
    pytester.makepyfile("def test_x(run_id, profile):\n    pass\n")
    result = run(pytester)
    assert "Kube client" not in result.stdout.str() + result.stderr.str()
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert "left behind" not in result.stdout.str()


def test_results_are_written_when_the_kubeconfig_cannot_be_loaded(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_rec="""
        import pytest

        @pytest.mark.area("restore")
        def test_x():
            pass
        """
    )
    result = run(pytester, "--snapconf-report-dir", "rep")
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback (most recent call last)" not in output
    assert "INTERNALERROR" not in output
    results = json.loads((pytester.path / "rep" / "results.json").read_text())
    assert [t["nodeid"] for t in results["tests"]] == ["test_rec.py::test_x"]


def test_xdist_workers_share_the_generated_run_id(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pathlib

        import pytest

        @pytest.mark.parametrize("i", range(4))
        def test_x(i, run_id, snapconf_state):
            out = pathlib.Path(__file__).parent / f"{snapconf_state.worker}-{i}.txt"
            out.write_text(run_id)
        """
    )
    result = run(pytester, "-n", "2")
    result.assert_outcomes(passed=4)
    header = re.search(r"snapconf: run (\S+),", result.stdout.str())
    assert header is not None
    files = list(pytester.path.glob("gw*-*.txt"))
    assert len(files) == 4
    assert {f.read_text() for f in files} == {header.group(1)}
    assert {f.name.split("-")[0] for f in files} <= {"gw0", "gw1"}


def test_sigterm_handler_is_restored_after_the_session(pytester: pytest.Pytester) -> None:
    def ours(signum: int, frame: object) -> None:
        raise AssertionError("not called")

    signal.signal(signal.SIGTERM, ours)
    pytester.makepyfile("def test_x():\n    pass\n")
    run(pytester, "--collect-only")
    assert signal.getsignal(signal.SIGTERM) is ours


def test_sigterm_becomes_keyboard_interrupt_during_the_session(pytester: pytest.Pytester) -> None:
    config = pytester.parseconfigure(*NO_CACHE)
    assert config.stash[STATE].worker == "main"
    handler = signal.getsignal(signal.SIGTERM)
    assert handler is plugin._raise_keyboard_interrupt
    with pytest.raises(KeyboardInterrupt):
        plugin._raise_keyboard_interrupt(signal.SIGTERM, None)
