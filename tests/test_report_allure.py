"""Allure: the labels the plugin gives a test, and rendering with Allure 3.

The labels are read from the result files allure-pytest writes in a real pytest session
(pytester, in a subprocess, with the conformance plugin loaded by its entry point and no
cluster: the tests there touch none). For ``render_allure``, ``which`` and ``run`` are
replaced by fakes, so those tests need neither Node.js nor the network; a real render is in
``test_real_allure_3`` when an Allure 3 binary is on PATH.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.recorder import ALLURE_AREA, ALLURE_CAPABILITY, allure_marks
from conformance.report import ALLURE_REPORT_DIR, ALLURE_RESULTS_DIR, find_allure, render_allure
from conformance.report.allure import INSTALL_HINT, NPX_PACKAGE

REPO = Path(__file__).resolve().parents[1]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"

SUITE = """
import pytest

from conformance.params import DELETION_POLICIES, VOLUME_MODES

pytestmark = pytest.mark.area("binding")


@pytest.mark.requires("snapshotDataSource")
@pytest.mark.parametrize("mode", VOLUME_MODES)
@pytest.mark.parametrize("policy", DELETION_POLICIES)
def test_binds(policy, mode):
    \"\"\"Snapshot and content bind one to one.

    The rest of the docstring is the description, not the story.
    \"\"\"


@pytest.mark.area("negative")
def test_bare():
    pass
"""


# ---------------------------------------------------------------- labels


@pytest.fixture
def no_cluster(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig path that does not exist, and no other to be found by the session."""
    for name in [n for n in os.environ if n.startswith("SNAPCONF_")]:
        monkeypatch.delenv(name)
    missing = pytester.path / "no-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(missing))
    monkeypatch.setenv("HOME", str(pytester.mkdir("home")))
    return missing


def allure_results(
    pytester: pytest.Pytester, kubeconfig: Path, *args: str
) -> dict[str, dict[str, Any]]:
    """Run SUITE with the plugin and ``--alluredir``; each test's result file by its name."""
    pytester.makepyfile(test_suite=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider",
        "--profile", str(HOSTPATH),
        "--kubeconfig", str(kubeconfig),
        "--alluredir", "allure-results",
        *args,
    )  # fmt: skip
    files = sorted((pytester.path / "allure-results").glob("*-result.json"))
    by_name = {r["name"]: r for r in (json.loads(p.read_text(encoding="utf-8")) for p in files)}
    assert len(by_name) == 5, result.stdout.str() + result.stderr.str()
    return by_name


def labels(result: dict[str, Any]) -> set[tuple[str, str]]:
    return {(label["name"], label["value"]) for label in result["labels"]}


def of(result: dict[str, Any], name: str) -> set[str]:
    return {value for kind, value in labels(result) if kind == name}


STORY = "Snapshot and content bind one to one."


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_behaviors_labels_and_parameters(
    pytester: pytest.Pytester, no_cluster: Path, workers: list[str]
) -> None:
    by_name = allure_results(pytester, no_cluster, *workers)
    fs = by_name["test_binds[delete-fs]"]
    assert of(fs, "epic") == {"binding"}
    assert of(fs, "feature") == {"snapshotDataSource"}
    assert of(fs, "story") == {STORY}
    assert {(ALLURE_AREA, "binding"), (ALLURE_CAPABILITY, "snapshotDataSource")} <= labels(fs)
    assert {(p["name"], p["value"]) for p in fs["parameters"]} == {
        ("policy", "'Delete'"),
        ("mode", "'Filesystem'"),
    }
    block = by_name["test_binds[retain-block]"]
    assert of(block, "feature") == {"snapshotDataSource", "block"}
    assert of(block, "tag") >= {"snapshotDataSource", "block"}
    assert {(p["name"], p["value"]) for p in block["parameters"]} == {
        ("policy", "'Retain'"),
        ("mode", "'Block'"),
    }
    # one story for every variant: Allure groups them under the behaviour
    assert {next(iter(of(r, "story"))) for n, r in by_name.items() if "binds" in n} == {STORY}
    bare = by_name["test_bare"]
    assert of(bare, "epic") == {"negative"}
    assert of(bare, "feature") == of(bare, "story") == set()
    assert bare.get("parameters", []) == []
    assert {r["status"] for r in by_name.values()} == {"passed"}


def test_allure_marks_of_a_test() -> None:
    marks = allure_marks("restore", ["snapshotDataSource", "block"], "\n  Data survives.\n\nMore.")
    assert [(m.args, m.kwargs["label_type"]) for m in marks] == [
        (("restore",), ALLURE_AREA),
        (("restore",), "epic"),
        (("snapshotDataSource", "block"), ALLURE_CAPABILITY),
        (("snapshotDataSource", "block"), "feature"),
        (("snapshotDataSource", "block"), "tag"),
        (("Data survives.",), "story"),
    ]
    assert {m.name for m in marks} == {"allure_label"}
    assert allure_marks("", [], "") == []


# ---------------------------------------------------------------- rendering


def results_dir(tmp_path: Path) -> Path:
    folder = tmp_path / ALLURE_RESULTS_DIR
    folder.mkdir()
    (folder / "0a-result.json").write_text(json.dumps({"name": "test_a"}), encoding="utf-8")
    return tmp_path


class FakeTools:
    """``shutil.which`` and ``subprocess.run`` over a set of installed programs."""

    def __init__(self, installed: dict[str, str], *, generate_status: int = 0) -> None:
        self.installed = installed  # program -> what `--version` prints
        self.generate_status = generate_status
        self.calls: list[list[str]] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.installed else None

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        name = Path(argv[0]).name
        if argv[1:] == ["--version"]:
            return subprocess.CompletedProcess(argv, 0, stdout=self.installed[name] + "\n")
        if "generate" in argv and self.generate_status == 0:
            target = Path(argv[argv.index("--output") + 1])
            target.mkdir(parents=True)
            (target / "index.html").write_text("<html></html>", encoding="utf-8")
        return subprocess.CompletedProcess(argv, self.generate_status, stdout="")


def render(folder: Path, tools: FakeTools) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = render_allure(folder, out=out, err=err, which=tools.which, run=tools.run)
    return code, out.getvalue(), err.getvalue()


def test_an_allure_3_binary_is_used(tmp_path: Path) -> None:
    folder = results_dir(tmp_path)
    tools = FakeTools({"allure": "3.18.0", "node": "v20", "npx": "10"})
    code, out, err = render(folder, tools)
    assert (code, err) == (0, "")
    generate = tools.calls[-1]
    assert generate[:2] == ["/usr/bin/allure", "generate"]
    assert generate[2] == str((folder / ALLURE_RESULTS_DIR).resolve())
    assert generate[3:5] == ["--output", str((folder / ALLURE_REPORT_DIR).resolve())]
    assert generate[5] == "--name"
    assert "with Allure 3.18.0 (/usr/bin/allure)" in out
    assert f"allure report {folder / ALLURE_REPORT_DIR / 'index.html'}" in out


def test_npx_when_no_allure_3_is_installed(tmp_path: Path) -> None:
    folder = results_dir(tmp_path)
    tools = FakeTools({"allure": "2.34.1", "node": "v20", "npx": "10"})
    code, out, _ = render(folder, tools)
    assert code == 0
    assert tools.calls[-1][:4] == ["/usr/bin/npx", "--yes", NPX_PACKAGE, "generate"]
    assert f"view it with: npx {NPX_PACKAGE} open" in out


def test_without_node_it_says_how_to_install(tmp_path: Path) -> None:
    folder = results_dir(tmp_path)
    tools = FakeTools({})
    code, out, err = render(folder, tools)
    assert code == 1
    assert out == ""
    assert err == (
        "snapconf: cannot render the allure report: Node.js (node and npx) is not installed. "
        f"{INSTALL_HINT}.\n"
    )
    assert "npm install -g allure" in err
    assert tools.calls == []


def test_allure_2_alone_is_named(tmp_path: Path) -> None:
    tools = FakeTools({"allure": "2.34.1"})
    command, what = find_allure(tools.which, tools.run)
    assert command == []
    assert (
        what
        == "/usr/bin/allure is Allure 2.34.1, not Allure 3; Node.js (node and npx) is not installed"
    )
    code, _, err = render(results_dir(tmp_path), tools)
    assert code == 1
    assert "is Allure 2.34.1, not Allure 3" in err


def test_no_allure_results(tmp_path: Path) -> None:
    tools = FakeTools({"allure": "3.18.0"})
    code, _, err = render(tmp_path, tools)
    assert code == 2
    assert err.startswith(f"snapconf: {tmp_path / ALLURE_RESULTS_DIR}: no allure results")
    assert tools.calls == []


def test_generate_failing(tmp_path: Path) -> None:
    tools = FakeTools({"allure": "3.18.0"}, generate_status=3)
    code, _, err = render(results_dir(tmp_path), tools)
    assert code == 1
    assert err == "snapconf: allure generate failed (exit status 3)\n"


def test_generate_writing_nothing(tmp_path: Path) -> None:
    folder = results_dir(tmp_path)
    tools = FakeTools({"allure": "3.18.0"})

    def run_without_output(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "generate" in argv:
            return subprocess.CompletedProcess(list(argv), 0)
        return tools.run(argv, **kwargs)

    out, err = io.StringIO(), io.StringIO()
    code = render_allure(folder, out=out, err=err, which=tools.which, run=run_without_output)
    assert code == 1
    assert err.getvalue().startswith("snapconf: allure generate wrote no ")


def test_generate_timing_out(tmp_path: Path) -> None:
    tools = FakeTools({"allure": "3.18.0"})

    def hang(argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        if "generate" in argv:
            raise subprocess.TimeoutExpired(list(argv), kwargs["timeout"])
        return tools.run(argv, **kwargs)

    out, err = io.StringIO(), io.StringIO()
    code = render_allure(results_dir(tmp_path), out=out, err=err, which=tools.which, run=hang)
    assert code == 1
    assert "did not finish within" in err.getvalue()


@pytest.mark.skipif(shutil.which("allure") is None, reason="no allure binary on PATH")
def test_real_allure_3(tmp_path: Path) -> None:
    command, what = find_allure()
    if not command or Path(command[0]).name != "allure":
        pytest.skip(f"the allure on PATH is not Allure 3 ({what})")
    folder = results_dir(tmp_path)
    (folder / ALLURE_RESULTS_DIR / "0a-result.json").write_text(
        json.dumps(
            {
                "uuid": "0a",
                "name": "test_a",
                "fullName": "suites.test_x#test_a",
                "status": "passed",
                "start": 1748772902000,
                "stop": 1748772903000,
                "labels": [{"name": "area", "value": "restore"}],
            }
        ),
        encoding="utf-8",
    )
    assert render_allure(folder) == 0
    assert (folder / ALLURE_REPORT_DIR / "index.html").is_file()
