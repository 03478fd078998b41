"""Allure: the labels the plugin gives a test, and rendering with Allure 3.

The labels are read from the result files allure-pytest writes in a real pytest session
(pytester, in a subprocess, with the conformance plugin loaded by its entry point and no
cluster: the tests there touch none). For ``render_allure``, ``which`` and ``run`` are
replaced by fakes, so those tests need neither Node.js nor the network. A real render of a
real (pytester) run, opened in headless Chromium, is
``test_real_allure_3_shows_the_verdict_and_areas``: it checks what a reader sees (the
verdict, the areas) and that each result links to its row in ``report.html``. It skips
without Node.js or Chromium, except in CI (``SNAPCONF_BROWSER_TESTS=required``, set by
``.ci/run``, which installs the pinned Allure 3 and Chromium).
"""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from conformance.recorder import (
    ALLURE_AREA,
    ALLURE_CAPABILITY,
    ALLURE_REPORT_LINK,
    allure_marks,
)
from conformance.report import (
    ALLURE_REPORT_DIR,
    ALLURE_RESULTS_DIR,
    find_allure,
    nodeid_anchor,
    render_allure,
)
from conformance.report.allure import (
    ENVIRONMENT_FILE,
    INSTALL_HINT,
    NPX_PACKAGE,
    allure_metadata,
)

REPO = Path(__file__).resolve().parents[1]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"
SHOTS = REPO / "reports" / "browser" / "allure"

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


PUBLISHED = "https://ci.example/runs/1/{}"


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ([], "../{}"),
        (["-n", "2"], "../{}"),
        (["--allure-link-pattern", f"report:{PUBLISHED}"], PUBLISHED),
    ],
    ids=["one-process", "xdist", "link-pattern"],
)
def test_behaviors_labels_and_parameters(
    pytester: pytest.Pytester, no_cluster: Path, args: list[str], pattern: str
) -> None:
    by_name = allure_results(pytester, no_cluster, *args)
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
    # each result links to its test's row in the run's report.html, by a stable anchor
    for result in by_name.values():
        target = f"report.html#{nodeid_anchor('test_suite.py::' + result['name'])}"
        assert result["links"] == [
            {"type": ALLURE_REPORT_LINK, "url": pattern.format(target), "name": target}
        ]


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
    (link,) = allure_marks("", [], "", "suites/test_restore.py::test_data[Block]")
    target = "report.html#test-suites-test_restore.py-test_data-Block-1eeeb744"
    assert link.name == "allure_link"
    assert link.args == (f"../{target}",)
    assert link.kwargs == {"link_type": ALLURE_REPORT_LINK, "name": target}
    (link,) = allure_marks("", [], "", "suites/test_restore.py::test_data[Block]", PUBLISHED)
    assert link.args == (PUBLISHED.format(target),)


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
        self.config: dict[str, Any] = {}  # the allurerc.json of the last generate

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.installed else None

    def run(self, argv: Sequence[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        argv = list(argv)
        self.calls.append(argv)
        name = Path(argv[0]).name
        if argv[1:] == ["--version"]:
            return subprocess.CompletedProcess(argv, 0, stdout=self.installed[name] + "\n")
        if "--config" in argv:
            config = Path(argv[argv.index("--config") + 1])
            self.config = json.loads(config.read_text(encoding="utf-8"))
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
    assert "(one file: open it in a browser)" in out
    assert NPX_PACKAGE == "allure@3.18.0"  # an exact version, as .ci/run installs


def test_the_name_and_metadata_carry_the_verdict(tmp_path: Path) -> None:
    folder = results_dir(tmp_path)
    data = json.loads((REPO / "tests" / "data" / "report" / "failures.json").read_text("utf-8"))
    (folder / "results.json").write_text(json.dumps(data), encoding="utf-8")
    tools = FakeTools({"allure": "3.18.0"})
    code, _, err = render(folder, tools)
    assert (code, err) == (0, "")
    generate = tools.calls[-1]
    name = f"snapconf {data['run']['id']}: NOT CONFORMANT"
    assert generate[generate.index("--name") + 1] == name
    # one file that opens from the disk; the tree reads area > capability > behaviour
    assert tools.config == {
        "name": name,
        "plugins": {
            "awesome": {
                "options": {
                    "reportName": name,
                    "singleFile": True,
                    "groupBy": ["epic", "feature", "story"],
                }
            }
        },
    }
    assert not Path(generate[generate.index("--config") + 1]).exists()  # a temporary file
    metadata = allure_metadata(data)
    assert next(iter(metadata)) == "verdict"
    assert metadata["verdict"] == "NOT CONFORMANT"
    assert metadata["run"] == data["run"]["id"]
    text = (folder / ALLURE_RESULTS_DIR / ENVIRONMENT_FILE).read_text(encoding="utf-8")
    assert text.splitlines()[0] == "verdict=NOT\\ CONFORMANT"
    assert text.splitlines()[1] == "required=38\\ of\\ 41\\ passed"


def test_without_results_json_the_name_is_the_folders(tmp_path: Path) -> None:
    folder = results_dir(tmp_path)
    tools = FakeTools({"allure": "3.18.0"})
    assert render(folder, tools)[0] == 0
    generate = tools.calls[-1]
    assert generate[generate.index("--name") + 1] == f"snapconf {tmp_path.name}"
    assert not (folder / ALLURE_RESULTS_DIR / ENVIRONMENT_FILE).exists()


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


# ---------------------------------------------------------------- a real render, in a browser

#: A run that is not conformant: SUITE and a required test of another area failing.
FAILING = """

@pytest.mark.area("restore")
def test_restores():
    \"\"\"A restored volume holds the snapshot's data.\"\"\"
    assert "restored" == "snapshotted"
"""

#: Appended to a copy of Allure's single-file report. ``snapconfOverview`` resolves once
#: every wanted text is shown (visible, in the page's body), with where each is;
#: ``snapconfOpen(name)`` then clicks the test row named ``name`` and resolves with the
#: texts of that result's links once they are shown. Both watch the page's mutations.
ALLURE_PROBE = """
<script>
(function () {
  function shown(node) {
    const el = node.parentElement;
    if (!el) return null;
    const box = el.getBoundingClientRect();
    const style = getComputedStyle(el);
    const visible = box.width > 0 && box.height > 0 && style.visibility !== "hidden"
      && style.display !== "none" && parseFloat(style.opacity) > 0;
    return visible ? {text: node.textContent.trim(), top: box.top + window.scrollY, el} : null;
  }
  function where(text) {
    const found = [];
    const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walk.nextNode(); node; node = walk.nextNode()) {
      const seen = node.textContent.includes(text) ? shown(node) : null;
      if (seen) found.push(seen);
    }
    return found;
  }
  // check() again on every change of the page: a mutation, or the end of a CSS
  // transition or animation (a fade-in changes what is visible without a mutation)
  function until(check) {
    return new Promise((resolve) => {
      const again = () => {
        const done = check();
        if (!done) return;
        watch.disconnect();
        for (const kind of ["transitionend", "animationend"]) {
          document.removeEventListener(kind, again, true);
        }
        resolve(done);
      };
      const watch = new MutationObserver(again);
      watch.observe(document.body, {childList: true, subtree: true, characterData: true});
      for (const kind of ["transitionend", "animationend"]) {
        document.addEventListener(kind, again, true);
      }
      again();
    });
  }
  window.snapconfOverview = (wanted) => until(() => {
    const found = {};
    for (const text of wanted) found[text] = where(text).map(({text, top}) => ({text, top}));
    // what the test reports if it gives up
    window.snapconfLast = {found, body: document.body.innerText.slice(0, 300)};
    if (Object.values(found).some((places) => places.length === 0)) return null;
    return {viewport: window.innerHeight, found};
  });
  window.snapconfOpen = (name) => {
    const row = where(name).find((place) => place.text === name);
    if (!row) return Promise.resolve(null);
    row.el.click();
    return until(() => {
      const links = document.querySelectorAll('[data-testid="test-result-meta-link"]');
      return links.length ? Array.from(links).map((link) => link.innerText.trim()) : null;
    });
  };
})();
</script>
"""
#: How long the page may take to show what the test waits for (seconds).
ALLURE_WAIT = 120.0
#: Read at import: the ``no_cluster`` fixture clears ``SNAPCONF_*`` before a test runs.
REQUIRED = os.environ.get("SNAPCONF_BROWSER_TESTS") == "required"


def _required_or_skip(reason: str) -> None:
    """Skip, or fail where the Allure and browser tests must run (``.ci/run`` says so)."""
    if REQUIRED:
        pytest.fail(f"{reason}, and SNAPCONF_BROWSER_TESTS=required")
    pytest.skip(reason)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    _required_or_skip("headless Chromium is not installed (Debian: apt-get install -y chromium)")
    raise AssertionError("unreachable")


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (no port, no network).

    Why not ``--dump-dom --virtual-time-budget``: Allure's page unpacks its data
    asynchronously, and on a busy machine the virtual time ran out before it showed
    anything. Here the test waits for what it looks for (a promise in the page), with a
    deadline, instead of for a time budget.
    """

    def __init__(self, profile: Path) -> None:
        to_chromium, self._command = os.pipe()
        self._events, from_chromium = os.pipe()

        def pipes_as_3_and_4() -> None:  # --remote-debugging-pipe reads fd 3, writes fd 4
            high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_chromium, from_chromium)]
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        argv = [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,1000",
            # no network: Allure's page asks for Google's analytics script; it must not load
            "--host-resolver-rules=MAP * ~NOTFOUND",
            # as puppeteer does: a page no one looks at must not be throttled or paused
            "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
            "--disable-backgrounding-occluded-windows",
            "--remote-debugging-pipe", "about:blank",
        ]  # fmt: skip
        self._process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pipes_as_3_and_4,  # runs before the other descriptors are closed
            pass_fds=(3, 4),
        )
        os.close(to_chromium)
        os.close(from_chromium)
        self._buffer = b""
        self._ids = 0
        self._pending: list[dict[str, Any]] = []
        self.session = ""

    def close(self) -> None:
        os.close(self._command)
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        os.close(self._events)

    def _message(self, deadline: float, what: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._events], [], [], max(left, 0))
            assert ready, f"{what}: nothing within {ALLURE_WAIT:.0f} s"
            chunk = os.read(self._events, 1 << 20)
            assert chunk, "Chromium closed its DevTools pipe"
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message = json.loads(raw)
        assert isinstance(message, dict)
        return message

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one command (to the page's session once attached) and return its result."""
        self._ids += 1
        command: dict[str, Any] = {"id": self._ids, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            command["sessionId"] = self.session
        os.write(self._command, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + ALLURE_WAIT
        while True:
            message = self._message(deadline, f"{method} {str(params)[:200]}")
            if message.get("id") == self._ids:
                assert "error" not in message, f"{method}: {message['error']}"
                result = message["result"]
                assert isinstance(result, dict)
                return result
            self._pending.append(message)

    def event(self, method: str) -> dict[str, Any]:
        """Wait for an event of the page's session."""
        deadline = time.monotonic() + ALLURE_WAIT
        while True:
            message = self._pending.pop(0) if self._pending else self._message(deadline, method)
            if message.get("method") == method:
                return message

    def open(self, page: Path) -> None:
        """Attach to the page target and load ``page`` (until its load event)."""
        targets = self.call("Target.getTargets")["targetInfos"]
        target = next(t["targetId"] for t in targets if t["type"] == "page")
        attached = self.call("Target.attachToTarget", targetId=target, flatten=True)
        self.session = attached["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")  # its console messages and exceptions, for a failure
        self.call("Page.navigate", url=page.as_uri())
        self.event("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page, a promise awaited.

        When it does not settle in time, the assertion says what the page showed last
        (``window.snapconfLast``, as the probe keeps it).
        """
        try:
            return self._evaluate(expression)
        except AssertionError as error:
            self.session, session = "", self.session
            last = self._last(session)
            raise AssertionError(
                f"{error}; the page showed last: {last}; it said: {self.console()}"
            ) from error

    def console(self) -> list[str]:
        """What the page logged and threw, as far as read."""
        said = []
        for message in self._pending:
            params = message.get("params") or {}
            if message.get("method") == "Runtime.exceptionThrown":
                said.append(str(params.get("exceptionDetails", {}).get("exception", {}))[:300])
            elif message.get("method") == "Runtime.consoleAPICalled":
                said.append(" ".join(str(a.get("value", a))[:300] for a in params.get("args", [])))
        return said

    def _last(self, session: str) -> str:
        # a second session on the same page: the first still waits for its answer
        target = next(
            t["targetId"]
            for t in self.call("Target.getTargets")["targetInfos"]
            if t["type"] == "page"
        )
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        try:
            return str(self._evaluate("JSON.stringify(window.snapconfLast ?? null)"))
        except AssertionError as error:
            return f"(unreadable: {error})"
        finally:
            self.session = session

    def _evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def screenshot(self, out: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        out.write_bytes(base64.b64decode(data))


def test_real_allure_3_shows_the_verdict_and_areas(
    pytester: pytest.Pytester, no_cluster: Path
) -> None:
    """A real run's allure results, rendered by Allure 3, as headless Chromium shows them.

    Needs Node.js (an Allure 3 binary on PATH, as ``.ci/run`` installs, else ``npx``
    fetches the pinned version) and Chromium; skips without them, except where
    ``SNAPCONF_BROWSER_TESTS=required`` (CI). The screenshot stays in
    ``reports/browser/allure/`` for a person to look at.
    """
    if not (shutil.which("node") and shutil.which("npx")):  # Allure 3 is a Node.js program
        _required_or_skip("Node.js (node and npx) is not installed, so Allure 3 cannot run")
    _chromium()
    pytester.makepyfile(test_suite=SUITE + FAILING)
    pytester.runpytest_subprocess(
        "-p", "no:cacheprovider",
        "--profile", str(HOSTPATH),
        "--kubeconfig", str(no_cluster),
        "--alluredir", "run/allure-results",
        "--snapconf-report-dir", "run",
    )  # fmt: skip
    folder = pytester.path / "run"
    data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
    name = f"snapconf {data['run']['id']}: NOT CONFORMANT"
    environment = (folder / ALLURE_RESULTS_DIR / ENVIRONMENT_FILE).read_text(encoding="utf-8")
    assert environment.startswith("verdict=NOT\\ CONFORMANT\n")

    # Every allure result links to its test's row in report.html, by an id that exists.
    report_html = (folder / "report.html").read_text(encoding="utf-8")
    for path in (folder / ALLURE_RESULTS_DIR).glob("*-result.json"):
        result = json.loads(path.read_text(encoding="utf-8"))
        (link,) = [x for x in result["links"] if x["type"] == ALLURE_REPORT_LINK]
        page, anchor = link["url"].split("#")
        assert (folder / ALLURE_REPORT_DIR / page).resolve() == (folder / "report.html")
        assert f'id="{anchor}"' in report_html

    out, err = io.StringIO(), io.StringIO()
    assert render_allure(folder, out=out, err=err) == 0, err.getvalue()
    index = folder / ALLURE_REPORT_DIR / "index.html"
    assert "one file: open it in a browser" in out.getvalue()
    assert not list(index.parent.glob("*.js"))  # one file: the app and its data inside

    areas = ["binding", "negative", "restore"]
    wanted = [name, "NOT CONFORMANT", *areas]
    probe_page = index.with_name("probe.html")
    probe_page.write_text(
        index.read_text(encoding="utf-8").replace("</body>", ALLURE_PROBE + "</body>"),
        encoding="utf-8",
    )
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / "allure.png"
    shot.unlink(missing_ok=True)
    browser = DevTools(pytester.path / "profile")
    try:
        browser.open(probe_page)
        seen = browser.evaluate(f"snapconfOverview({json.dumps(wanted)})")
        browser.screenshot(shot)  # the overview, for a person to look at
        links = browser.evaluate("snapconfOpen('test_restores')")
    finally:
        browser.close()
    places = seen["found"]
    # The verdict is in the report's name, in the first screenful, and in its metadata.
    assert min(p["top"] for p in places[name]) < seen["viewport"]
    assert len(places["NOT CONFORMANT"]) >= 2, places["NOT CONFORMANT"]
    # The areas are the tree's top level (allure's epics), in the first screenful too.
    for area in areas:
        assert any(p["text"] == area and p["top"] < seen["viewport"] for p in places[area])
    # The failed test, opened: its link names its row in report.html.
    assert links == [f"report.html#{nodeid_anchor('test_suite.py::test_restores')}"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
