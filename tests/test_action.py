"""The composite GitHub Action (action.yml), checked without GitHub, a cluster or a network.

Its shell steps run here as the runner runs them (``bash --noprofile --norc -eo pipefail``)
with the step's ``env:`` resolved from the inputs, and stub ``snapconf``, ``kubectl`` and
``python`` programs that log their arguments. The arguments the run step gives snapconf are
parsed with snapconf's own parser, so a flag the command line does not accept fails here.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.cli import build_parser
from conformance.resources import validate_run_id

ROOT = Path(__file__).resolve().parents[1]
ACTION = ROOT / "action.yml"
INPUTS = ("profile", "kubeconfig", "areas", "workers", "baseline", "python-version",
          "snapconf-version")  # fmt: skip
#: How the runner runs a ``shell: bash`` step.
BASH = ["bash", "--noprofile", "--norc", "-eo", "pipefail"]
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
PINNED = re.compile(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*")
KUBECONFIG_TEXT = "apiVersion: v1\nkind: Config\ncurrent-context: kind-csi\n"


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    found = action["runs"]["steps"]
    assert isinstance(found, list)
    return found


def step(action: dict[str, Any], ident: str) -> dict[str, Any]:
    return next(s for s in steps(action) if s.get("id") == ident)


def shell_steps(action: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in steps(action) if "run" in s]


def uses(s: dict[str, Any]) -> str:
    return str(s.get("uses", "")).split("@")[0]


# ---------------------------------------------------------------- the metadata


def test_inputs(action: dict[str, Any]) -> None:
    inputs = action["inputs"]
    assert set(INPUTS) <= set(inputs)
    assert inputs["profile"]["required"] is True
    assert inputs["kubeconfig"]["default"] == "kind"
    assert inputs["workers"]["default"] == "1"
    for name, spec in inputs.items():
        assert spec.get("description"), name
        assert spec.get("required") is True or "default" in spec, name


def test_every_input_is_used_and_every_used_input_is_declared(action: dict[str, Any]) -> None:
    text = ACTION.read_text(encoding="utf-8")
    used = {m for expr in EXPRESSION.findall(text) for m in re.findall(r"inputs\.([\w-]+)", expr)}
    assert used == set(action["inputs"])


def test_a_composite_action_with_pinned_actions(action: dict[str, Any]) -> None:
    assert action["runs"]["using"] == "composite"
    used = [s["uses"] for s in steps(action) if "uses" in s]
    for ref in used:
        assert PINNED.fullmatch(ref), f"{ref} is not pinned to a version"
    assert {u.split("@")[0] for u in used} == {
        "actions/setup-python",
        "actions/upload-artifact",
        "mikepenz/action-junit-report",
    }


def test_scripts_take_everything_through_env(action: dict[str, Any]) -> None:
    """No expression in a script: inputs cannot inject shell, and the tests can run it."""
    for s in shell_steps(action):
        assert s["shell"] == "bash", s["name"]
        assert "${{" not in s["run"], s["name"]


def test_the_report_is_published_before_the_exit_status(action: dict[str, Any]) -> None:
    names = [s.get("id") or uses(s) or s["name"] for s in steps(action)]
    run = names.index("run")
    after = steps(action)[run + 1 :]
    assert [uses(s) or s["name"] for s in after] == [
        "actions/upload-artifact",
        "mikepenz/action-junit-report",
        "Write the job summary",
        "Exit with snapconf's status",
    ]
    for s in after:
        assert s["if"].startswith("always() && steps.run.outputs."), s
    for s in after[:-1]:
        assert s["continue-on-error"] is True, s  # only snapconf's status decides
    upload = after[0]["with"]
    assert upload["path"] == "${{ steps.run.outputs.run-dir }}"
    assert upload["name"] == "snapconf-${{ steps.run.outputs.run-id }}"
    junit = after[1]["with"]
    assert junit["report_paths"] == "${{ steps.run.outputs.run-dir }}/junit.xml"


def test_outputs_are_what_the_run_step_writes(action: dict[str, Any]) -> None:
    script = step(action, "run")["run"]
    for name, spec in action["outputs"].items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"
        assert f'"{name}=' in script, name


def test_shell_steps_pass_shellcheck(action: dict[str, Any], tmp_path: Path) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    for i, s in enumerate(shell_steps(action)):
        script = tmp_path / f"step-{i}.sh"
        script.write_text("#!/usr/bin/env bash\n" + s["run"], encoding="utf-8")
        done = subprocess.run(
            [shellcheck, "--shell=bash", "--format=gcc", str(script)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{s['name']}:\n{done.stdout}{done.stderr}"


# ---------------------------------------------------------------- running the scripts


STUB = """#!/usr/bin/env bash
n=$(( $(cat "{log}.count" 2>/dev/null || echo 0) + 1 ))
echo "$n" >"{log}.count"
printf '%s\\0' "$@" >"{log}.$n"
{body}
"""


def stub(folder: Path, name: str, body: str = "") -> Path:
    """An executable ``name`` that logs each call's arguments to ``name.log.N``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(STUB.format(log=folder / f"{name}.log", body=body), encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def calls(program: Path) -> list[list[str]]:
    """The arguments of each call of a stub, in order."""
    log = program.parent / f"{program.name}.log"
    count = Path(f"{log}.count")
    if not count.exists():
        return []
    total = int(count.read_text(encoding="utf-8"))
    return [
        Path(f"{log}.{n}").read_text(encoding="utf-8").split("\0")[:-1] for n in range(1, total + 1)
    ]


@dataclass
class Ran:
    status: int
    outputs: dict[str, str]
    summary: str
    stdout: str


class Runner:
    """One job's worth of runner state: RUNNER_TEMP, the output files, the stub tools."""

    def __init__(self, action: dict[str, Any], tmp_path: Path) -> None:
        self.action = action
        self.work = tmp_path / "workspace"
        self.work.mkdir()
        self.temp = tmp_path / "runner-temp"
        self.temp.mkdir()
        self.bin = tmp_path / "bin"
        self.summary = tmp_path / "step-summary.md"
        self.snapconf = stub(self.bin, "snapconf", 'exit "${STUB_STATUS:-0}"')
        # never the machine's kubectl: the current context of a stub
        self.kubectl = stub(self.bin, "kubectl", f"printf %s {shlex.quote(KUBECONFIG_TEXT)}")
        self.step_outputs: dict[str, dict[str, str]] = {
            "install": {"snapconf": str(self.snapconf)},
            "python": {"python-path": str(self.bin / "python")},
        }

    def resolve(self, value: str, inputs: dict[str, str]) -> str:
        declared = self.action["inputs"]

        def one(match: re.Match[str]) -> str:
            expr = match.group(1)
            if m := re.fullmatch(r"inputs\.([\w-]+)", expr):
                name = m.group(1)
                return inputs.get(name, str(declared[name].get("default", "")))
            if m := re.fullmatch(r"steps\.(\w+)\.outputs\.([\w-]+)", expr):
                return self.step_outputs.get(m.group(1), {}).get(m.group(2), "")
            if expr == "github.action_path":
                return str(ROOT)
            raise AssertionError(f"the test does not know the expression {expr!r}")

        return EXPRESSION.sub(one, value)

    def run(self, ident_or_name: str, inputs: dict[str, str], **extra: str) -> Ran:
        s = next(s for s in steps(self.action) if ident_or_name in (s.get("id"), s.get("name")))
        output = self.temp / "github-output"
        output.write_text("", encoding="utf-8")
        env = {
            "PATH": f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "HOME": str(self.work),
            "RUNNER_TEMP": str(self.temp),
            "GITHUB_OUTPUT": str(output),
            "GITHUB_STEP_SUMMARY": str(self.summary),
            **{k: self.resolve(str(v), inputs) for k, v in (s.get("env") or {}).items()},
            **extra,
        }
        script = self.temp / "step.sh"
        script.write_text(s["run"], encoding="utf-8")
        done = subprocess.run(
            [*BASH, str(script)], cwd=self.work, env=env, capture_output=True, text=True,
            check=False, timeout=60,
        )  # fmt: skip
        outputs = dict(
            line.split("=", 1) for line in output.read_text(encoding="utf-8").splitlines()
        )
        if s.get("id"):
            self.step_outputs[s["id"]] = outputs
        summary = self.summary.read_text(encoding="utf-8") if self.summary.exists() else ""
        return Ran(done.returncode, outputs, summary, done.stdout + done.stderr)


@pytest.fixture
def runner(action: dict[str, Any], tmp_path: Path) -> Runner:
    return Runner(action, tmp_path)


def snapconf_args(runner: Runner) -> Any:
    [argv] = calls(runner.snapconf)
    return build_parser().parse_args(argv)


def test_run_step_passes_every_input_to_flags_snapconf_accepts(runner: Runner) -> None:
    inputs = {
        "profile": "ci/profile.yaml",
        "kubeconfig": "ci/kubeconfig",
        "areas": "restore, clone negative",
        "workers": "2",
        "baseline": "ci/baseline/results.json",
    }
    ran = runner.run("run", inputs, STUB_STATUS="1")
    assert ran.status == 0, ran.stdout  # the report is uploaded before the job fails
    assert ran.outputs["exit-code"] == "1"
    run_id = validate_run_id(ran.outputs["run-id"])
    report_dir = runner.temp / "snapconf-reports"
    assert ran.outputs["run-dir"] == str(report_dir / run_id)
    args = snapconf_args(runner)
    assert calls(runner.kubectl) == []
    assert args.command == "run"
    assert args.profile == Path("ci/profile.yaml")
    assert args.kubeconfig == Path("ci/kubeconfig")
    assert args.area == ["restore", "clone", "negative"]
    assert args.workers == 2
    assert args.baseline == Path("ci/baseline/results.json")
    assert args.report_dir == report_dir
    assert args.run_id == run_id
    assert args.pytest_args == []


def test_run_step_with_the_defaults(runner: Runner) -> None:
    ran = runner.run("run", {"profile": "p.yaml"})
    assert (ran.status, ran.outputs["exit-code"]) == (0, "0")
    args = snapconf_args(runner)
    assert (args.area, args.workers, args.baseline) == ([], 1, None)
    # kind is the default: the current context of kubectl, flattened into a file
    assert args.kubeconfig == runner.temp / "snapconf-kubeconfig"


def test_kind_flattens_the_current_kube_context(runner: Runner) -> None:
    ran = runner.run("run", {"profile": "p.yaml", "kubeconfig": "kind"})
    assert ran.outputs["exit-code"] == "0", ran.stdout
    assert calls(runner.kubectl) == [["config", "view", "--raw", "--minify", "--flatten"]]
    written = runner.temp / "snapconf-kubeconfig"
    assert written.read_text(encoding="utf-8") == KUBECONFIG_TEXT
    assert snapconf_args(runner).kubeconfig == written


def test_kind_without_a_context_is_bad_input_and_runs_nothing(runner: Runner) -> None:
    stub(runner.bin, "kubectl", "echo 'error: current-context must exist' >&2; exit 1")
    ran = runner.run("run", {"profile": "p.yaml", "kubeconfig": "kind"})
    assert ran.status == 0
    assert ran.outputs["exit-code"] == "2"
    assert "::error title=snapconf::kubeconfig: kind:" in ran.stdout
    assert calls(runner.snapconf) == []


def test_summary_step_writes_the_markdown_report(runner: Runner) -> None:
    run_dir = runner.temp / "snapconf-reports" / "sc-20250101-120000-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "results.json").write_text("{}", encoding="utf-8")
    runner.step_outputs["run"] = {"run-dir": str(runner.temp / "elsewhere")}
    ran = runner.run("Write the job summary", {"profile": "p.yaml"})
    assert ran.status == 0
    assert ran.summary.startswith("### snapconf wrote no results")
    assert calls(runner.snapconf) == []

    runner.step_outputs["run"] = {"run-dir": str(run_dir)}
    stub(runner.bin, "snapconf", "echo '## ✅ snapconf: CONFORMANT'")
    ran = runner.run("Write the job summary", {"profile": "p.yaml", "baseline": "old.json"})
    assert ran.status == 0, ran.stdout
    assert ran.summary.endswith("## ✅ snapconf: CONFORMANT\n")
    args = snapconf_args(runner)
    assert (args.command, args.run_dir, args.format) == ("report", run_dir, "markdown")
    assert args.baseline == Path("old.json")


@pytest.mark.parametrize("code", ["0", "1", "2"])
def test_last_step_exits_with_snapconf_status(runner: Runner, code: str) -> None:
    runner.step_outputs["run"] = {"exit-code": code, "run-id": "sc-20250101-120000-abcd"}
    ran = runner.run("Exit with snapconf's status", {"profile": "p.yaml"})
    assert ran.status == int(code)
    assert ("::error" in ran.stdout) is (code != "0")


@pytest.mark.parametrize(
    ("version", "spec"),
    [
        ("", str(ROOT)),
        ("0.2.0", "csi-snapshot-conformance==0.2.0"),
        ("git+https://example.org/csi-snapshot-conformance@main",
         "git+https://example.org/csi-snapshot-conformance@main"),
    ],
    ids=["action-checkout", "version", "requirement"],
)  # fmt: skip
def test_install_step(runner: Runner, version: str, spec: str) -> None:
    # a python whose "-m venv DIR" makes DIR/bin/python and DIR/bin/snapconf: stubs that
    # log to bin/venv.log.N like the others
    venv_stubs = (
        'if [[ "$1 $2" == "-m venv" ]]; then mkdir -p "$3/bin"; '
        f'cp {shlex.quote(str(runner.bin / "venv"))} "$3/bin/python"; '
        'cp "$3/bin/python" "$3/bin/snapconf"; fi'
    )
    stub(runner.bin, "venv")
    python = stub(runner.bin, "python", venv_stubs)
    ran = runner.run("install", {"profile": "p.yaml", "snapconf-version": version})
    assert ran.status == 0, ran.stdout
    venv = runner.temp / "snapconf-venv"
    assert calls(python) == [["-m", "venv", str(venv)]]
    assert calls(runner.bin / "venv") == [
        ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec],
        ["--version"],
    ]
    assert ran.outputs == {"snapconf": str(venv / "bin" / "snapconf")}


# ---------------------------------------------------------------- README's "In your CI"


def readme_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## In your CI\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_readme_workflow_uses_the_action_as_declared(action: dict[str, Any]) -> None:
    [block] = re.findall(r"```yaml\n(.*?)```", readme_section(), re.DOTALL)
    workflow = yaml.safe_load(block)
    job_steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    refs = [str(s["uses"]) for s in job_steps if "uses" in s]
    for ref in refs:
        assert PINNED.fullmatch(ref), ref
    names = [ref.split("@")[0] for ref in refs]
    assert names.index("helm/kind-action") < names.index("OWNER/csi-snapshot-conformance")
    [mine] = [s for s in job_steps if str(s.get("uses", "")).startswith("OWNER/")]
    given = set(mine["with"])
    assert given <= set(action["inputs"])
    assert {n for n, spec in action["inputs"].items() if spec.get("required")} <= given
    assert mine["with"]["kubeconfig"] == "kind"
    assert workflow["permissions"]["checks"] == "write"


def test_readme_commands_parse_and_its_run_id_is_one(tmp_path: Path) -> None:
    section = readme_section()
    [block] = re.findall(r"```sh\n(.*?)```", section, re.DOTALL)
    commands = [line.split(";")[0] for line in block.splitlines() if line.startswith("snapconf ")]
    assert [c.split()[1] for c in commands] == ["run", "report"]
    parser = build_parser()
    for command in commands:
        words = [w for w in shlex.split(command) if not w.startswith(">")]
        args = parser.parse_args(words[1:])
        if args.command == "run":
            assert args.pytest_args == []
        else:
            assert (args.format, args.run_dir) == ("markdown", Path("reports/$RUN_ID"))
    [assignment] = re.findall(r"`RUN_ID=(.*?)`;", section)
    done = subprocess.run(
        ["bash", "-c", f"printf %s {assignment}"], capture_output=True, text=True, check=True
    )
    validate_run_id(done.stdout)
