"""The ``snapconf`` command line: arguments, exit statuses and messages, with no cluster.

Every test runs behind guards: opening a socket, building a Kube client, running the
preflight or bringing up the testbed raises ``ClusterTouched``. So "exits 2 before
touching any cluster" is checked, not assumed, and nothing here can reach a real cluster
even on a machine with a kubeconfig or a running testbed.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from offline import ClusterTouched, forbid_cluster

from conformance import runner
from conformance.cli import build_parser, main
from conformance.kube import Kube as REAL_KUBE

REPO = Path(__file__).resolve().parents[1]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"
DATA = REPO / "tests" / "data" / "report"
RUN_ID = "sc-20250101-120000-abcd"
EXIT_USAGE = 2


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    forbid_cluster(monkeypatch, tmp_path / "home")


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig file that exists; the guards keep anyone from using it."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def usage_error(capsys: pytest.CaptureFixture[str], status: int) -> str:
    """Check the contract for bad input: exit 2, one ``snapconf:`` sentence on stderr."""
    out, err = capsys.readouterr()
    assert status == EXIT_USAGE, (out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snapconf: ")
    return lines[0]


def argparse_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error:" in err
    return err


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- help and parsing


def test_top_level_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("run", "testbed", "profile", "report", "cleanup"):
        assert command in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from conformance import __version__

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"snapconf {__version__}"


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (
            ["run"],
            ["--profile", "--kubeconfig", "-n", "--workers", "--area", "--report-dir",
             "--manifests", "--run-id", "--keep-on-failure", "--baseline", "pytest"],
        ),
        (["testbed"], ["up", "down", "status", "kubeconfig"]),
        (["profile"], ["validate"]),
        (["profile", "validate"], ["path"]),
        (["report"], ["run_dir", "--allure", "--format", "--baseline"]),
        (["cleanup"], ["--run-id", "--all", "--kubeconfig"]),
    ],
    ids=["run", "testbed", "profile", "profile-validate", "report", "cleanup"],
)  # fmt: skip
def test_command_help(
    capsys: pytest.CaptureFixture[str], argv: list[str], mentions: list[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"usage: snapconf {' '.join(argv)}")
    for word in mentions:
        assert word in out, word


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bogus"],
        ["profile"],
        ["testbed"],
        ["testbed", "sideways"],
        ["report"],
        ["run", "-n", "many"],
        ["run", "--no-such-flag"],
    ],
    ids=lambda v: " ".join(v) or "nothing",
)
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    argparse_error(capsys, argv)


def test_run_passes_pytest_arguments_after_double_dash() -> None:
    args = build_parser().parse_args(
        ["run", "--area", "restore", "--area", "clone", "-n", "3", "--keep-on-failure",
         "--manifests", "/m", "--baseline", "/b.json", "--", "-k", "restore and not Block"]
    )  # fmt: skip
    run_dir = Path("/reports") / RUN_ID
    argv = runner.pytest_args(args, Path("/kc"), Path("/p.yaml"), run_dir)
    assert argv[0] == str(REPO / "suites")
    assert argv[-2:] == ["-k", "restore and not Block"]
    assert "--" not in argv
    pairs = list(itertools.pairwise(argv))
    for pair in [
        ("--profile", "/p.yaml"),
        ("--kubeconfig", "/kc"),
        ("--run-id", RUN_ID),
        ("--snapconf-report-dir", str(run_dir)),
        ("--area", "restore"),
        ("--area", "clone"),
        ("-n", "3"),
        ("--manifests", "/m"),
        ("--baseline", "/b.json"),
    ]:
        assert pair in pairs, pair
    assert "--keep-on-failure" in argv
    assert f"--junitxml={run_dir / 'junit.xml'}" in argv
    assert f"--alluredir={run_dir / 'allure-results'}" in argv


def test_run_takes_several_areas_after_one_flag_as_the_usage_line_says() -> None:
    """`--area a b` once meant area a and pytest arguments "b": a run of no test."""
    args = build_parser().parse_args(["run", "--area", "binding", "deletion", "--", "-x"])
    assert args.area == ["binding", "deletion"]
    argv = runner.pytest_args(args, Path("/kc"), HOSTPATH, Path("/r") / RUN_ID)
    pairs = list(itertools.pairwise(argv))
    assert ("--area", "binding") in pairs
    assert ("--area", "deletion") in pairs
    assert argv[-1] == "-x"


def test_run_defaults_give_a_plain_pytest_command_line() -> None:
    args = build_parser().parse_args(["run"])
    assert args.workers == 1
    assert args.report_dir == Path("reports")
    argv = runner.pytest_args(args, Path("/kc"), HOSTPATH, Path("/r") / RUN_ID)
    assert "-n" not in argv
    assert "--area" not in argv
    assert "--keep-on-failure" not in argv
    assert "--baseline" not in argv


# ---------------------------------------------------------------- profile validate


@pytest.mark.parametrize("name", ["hostpath.yaml", "hostpath-testdriver.yaml"])
def test_profile_validate_accepts_the_shipped_profiles(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = REPO / "profiles" / name
    assert main(["profile", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert f"{path}: valid profile for driver hostpath.csi.k8s.io" in out
    assert "snapshotDataSource" in out


def test_profile_validate_typo_in_a_capability(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    text = HOSTPATH.read_text(encoding="utf-8").replace(
        "  snapshotDataSource: true", "  snapshotDatasource: true"
    )
    path = write(tmp_path, "typo.yaml", text)
    line = usage_error(capsys, main(["profile", "validate", str(path)]))
    assert line == (
        f"snapconf: {path}: capabilities.snapshotDatasource: unknown capability, "
        "did you mean snapshotDataSource?"
    )


def hostpath_with(old: str, new: str) -> str:
    """The reference profile with one edit, so every other key stays valid."""
    text = HOSTPATH.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    return text.replace(old, new)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (None, "no such file"),
        (("\ndriver: hostpath.csi.k8s.io\n", "\ndriver: [unclosed\n"), "invalid YAML"),
        (("\nstorageClass:", "\nstorageclass:"), "storageclass: unknown key, did you mean"),
        (("  delete: 2m", "  delete: soon"), "timeouts.delete: "),
        (("  default: 1Gi", "  default: lots"), "sizes.default: "),
        (("  block: true", "  block: yes please"), "capabilities.block: expected true or false"),
        (("\ndriver: hostpath.csi.k8s.io\n", "\n"), "driver: required"),
    ],
    ids=["missing", "yaml", "unknown-key", "duration", "quantity", "bool", "required"],
)
def test_profile_validate_names_the_bad_field(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    edit: tuple[str, str] | None,
    expected: str,
) -> None:
    path = tmp_path / "p.yaml"
    if edit is not None:
        path.write_text(hostpath_with(*edit), encoding="utf-8")
    line = usage_error(capsys, main(["profile", "validate", str(path)]))
    assert line.startswith(f"snapconf: {path}: ")
    assert expected in line


# ---------------------------------------------------------------- report


def test_report_rebuilds_from_results(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    shutil.copy(DATA / "failures.json", tmp_path / "results.json")
    assert main(["report", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.strip().splitlines()
    assert lines[0].startswith("snapconf: NOT CONFORMANT: ")
    assert lines[-1] == f"snapconf: report {tmp_path / 'report.html'}"
    assert (tmp_path / "report.html").read_text(encoding="utf-8").startswith("<!")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such results file"),
        ("{\n", "not valid JSON"),
        ("[]", ""),
        ('{"schemaVersion": 1}', "missing"),
        ("\x00\xff", ""),
    ],
    ids=["missing", "truncated", "list", "incomplete", "binary"],
)
def test_report_on_bad_results_is_one_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (tmp_path / "results.json").write_text(content, encoding="utf-8")
    line = usage_error(capsys, main(["report", str(tmp_path)]))
    assert str(tmp_path / "results.json") in line
    assert expected in line
    assert not (tmp_path / "report.html").exists()


def test_report_on_a_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = usage_error(capsys, main(["report", str(tmp_path / "nope")]))
    assert "results.json" in line


# ---------------------------------------------------------------- run: input checks


def test_run_bad_profile_exits_2_before_any_cluster(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """No kubeconfig at all: the profile is rejected before the testbed would come up."""
    bad = write(tmp_path, "bad.yaml", hostpath_with("  block: true", "  blok: true"))
    line = usage_error(capsys, main(["run", "--profile", str(bad)]))
    assert "capabilities.blok: unknown capability, did you mean block?" in line


def test_run_missing_profile(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = usage_error(capsys, main(["run", "--profile", str(tmp_path / "bad.yaml")]))
    assert line == f"snapconf: {tmp_path / 'bad.yaml'}: no such file"


@pytest.mark.parametrize("workers", ["0", "-1"])
def test_run_needs_at_least_one_worker(capsys: pytest.CaptureFixture[str], workers: str) -> None:
    line = usage_error(capsys, main(["run", "-n", workers]))
    assert line == "snapconf: -n must be 1 or more"


def test_run_rejects_a_bad_run_id(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(capsys, main(["run", "--run-id", "Bad Id!"]))
    assert "invalid run id 'Bad Id!'" in line
    assert "sc-YYYYMMDD-HHMMSS-xxxx" in line


def test_run_missing_kubeconfig_flag(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(capsys, main(["run", "--kubeconfig", "/nonexistent"]))
    assert line == "snapconf: kubeconfig /nonexistent does not exist"


def test_run_missing_kubeconfig_from_env(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "gone"))
    line = usage_error(capsys, main(["run"]))
    assert line == f"snapconf: kubeconfig {tmp_path / 'gone'} does not exist"


def test_run_kubeconfig_flag_beats_env(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, tmp_path: Path
) -> None:
    line = usage_error(capsys, main(["run", "--kubeconfig", str(tmp_path / "flag")]))
    assert str(tmp_path / "flag") in line


def test_run_kubeconfig_that_is_a_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    line = usage_error(capsys, main(["run", "--kubeconfig", str(tmp_path)]))
    assert line == f"snapconf: kubeconfig {tmp_path} does not exist"


def test_run_unusable_kubeconfig(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A file that is no kubeconfig fails while loading, before any connection."""
    monkeypatch.setattr("conformance.kube.Kube", REAL_KUBE)
    garbage = write(tmp_path, "kubeconfig", "this: is not a kubeconfig\n")
    line = usage_error(capsys, main(["run", "--kubeconfig", str(garbage)]))
    assert line.startswith(f"snapconf: kubeconfig {garbage} cannot be used: ")


def test_run_with_good_input_goes_on_to_the_cluster(kubeconfig: Path) -> None:
    """Control for the tests above: valid input does reach the (guarded) cluster step."""
    with pytest.raises(ClusterTouched, match="Kube client"):
        main(["run", "--profile", str(HOSTPATH), "--run-id", RUN_ID])


def test_run_without_kubeconfig_uses_the_testbed() -> None:
    with pytest.raises(ClusterTouched, match="testbed up"):
        main(["run"])


@pytest.mark.parametrize("area", ["restor", "restore,bogus"])
@pytest.mark.parametrize("with_kubeconfig", [True, False], ids=["kubeconfig", "testbed"])
def test_run_unknown_area_exits_2_before_any_cluster(
    capsys: pytest.CaptureFixture[str], request: pytest.FixtureRequest, area: str,
    with_kubeconfig: bool,
) -> None:  # fmt: skip
    """A typo in --area must not wait for the testbed or a preflight to be reported."""
    if with_kubeconfig:
        request.getfixturevalue("kubeconfig")
    line = usage_error(capsys, main(["run", "--area", "clone", "--area", area]))
    assert repr(area.split(",")[-1]) in line


def test_run_missing_baseline_exits_2_before_any_cluster(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "old" / "results.json"
    line = usage_error(capsys, main(["run", "--baseline", str(missing)]))
    assert str(missing) in line


def test_run_corrupt_baseline_exits_2_before_any_cluster(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, tmp_path: Path
) -> None:
    corrupt = write(tmp_path, "results.json", "{ not json")
    line = usage_error(capsys, main(["run", "--baseline", str(corrupt)]))
    assert str(corrupt) in line


def test_run_missing_manifests_folder_exits_2_before_any_cluster(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, tmp_path: Path
) -> None:
    line = usage_error(capsys, main(["run", "--manifests", str(tmp_path / "nope")]))
    assert str(tmp_path / "nope") in line


# ---------------------------------------------------------------- cleanup


def test_cleanup_needs_run_id_or_all(capsys: pytest.CaptureFixture[str]) -> None:
    err = argparse_error(capsys, ["cleanup"])
    assert "one of the arguments --run-id --all is required" in err


def test_cleanup_run_id_and_all_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    err = argparse_error(capsys, ["cleanup", "--run-id", RUN_ID, "--all"])
    assert "not allowed with" in err


@pytest.mark.parametrize("run_id", ["Bad Id!", "sc-2025-01-01", "all", "sc-20250101-120000-ABCD"])
def test_cleanup_rejects_a_bad_run_id(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, run_id: str
) -> None:
    line = usage_error(capsys, main(["cleanup", "--run-id", run_id]))
    assert f"invalid run id {run_id!r}" in line


def test_cleanup_missing_kubeconfig(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    line = usage_error(capsys, main(["cleanup", "--all", "--kubeconfig", str(gone)]))
    assert line.startswith(f"snapconf: kubeconfig {gone} does not exist")


@pytest.mark.parametrize("who", [["--all"], ["--run-id", RUN_ID]])
def test_cleanup_with_good_input_goes_on_to_the_cluster(kubeconfig: Path, who: list[str]) -> None:
    with pytest.raises(ClusterTouched, match="Kube client"):
        main(["cleanup", *who])


# ---------------------------------------------------------------- helpers


def test_resolve_kubeconfig_flag_then_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for resolve in (runner.resolve_kubeconfig,):
        monkeypatch.delenv("KUBECONFIG", raising=False)
        assert resolve(None) is None
        monkeypatch.setenv("KUBECONFIG", "")
        assert resolve(None) is None
        monkeypatch.setenv("KUBECONFIG", str(tmp_path / "env"))
        assert resolve(None) == tmp_path / "env"
        assert resolve(tmp_path / "flag") == tmp_path / "flag"
