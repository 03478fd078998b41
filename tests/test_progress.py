"""conformance.progress: the counts, the two line styles and the summary of ``snapconf run``.

Unit tests feed real ``pytest.TestReport`` objects (made here, no session); the pytester
tests check the counts a real session produces, where pytest's phase order matters (a
skipped or errored setup is still followed by a teardown report).
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest

from conformance.progress import MAX_REASONS, Progress
from conformance.report import Verdict, load_results, verdict
from conformance.runner import QUIET

DATA = Path(__file__).parent / "data" / "report"
OUTCOMES = ("passed", "failed", "error", "skipped")


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def rep(
    nodeid: str,
    when: str = "teardown",
    outcome: str = "passed",
    area: str | None = None,
) -> pytest.TestReport:
    report = pytest.TestReport(
        nodeid=nodeid,
        location=(nodeid.split("::")[0], 0, nodeid),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=None if outcome == "passed" else "boom",
        when=when,  # type: ignore[arg-type]
    )
    if area is not None:
        report.snapconf = {"area": area}  # type: ignore[attr-defined]
    return report


def phases(progress: Progress, nodeid: str, *, setup: str = "passed", call: str = "passed",
           teardown: str = "passed", area: str | None = None) -> None:  # fmt: skip
    """Feed the reports pytest makes for one test, in pytest's order."""
    progress.pytest_runtest_logreport(rep(nodeid, "setup", setup, area))
    if setup == "passed":
        progress.pytest_runtest_logreport(rep(nodeid, "call", call, area))
    progress.pytest_runtest_logreport(rep(nodeid, "teardown", teardown, area))


# ---------------------------------------------------------------- counting


def test_counts_one_finished_test_per_teardown() -> None:
    progress = Progress(io.StringIO())
    progress.total = 3
    phases(progress, "suites/test_restore.py::test_a", area="restore")
    phases(progress, "suites/test_restore.py::test_b", call="failed", area="restore")
    phases(progress, "suites/test_clone.py::test_c", setup="skipped", area="clone")
    assert progress.done == 3
    assert progress.failed == ["suites/test_restore.py::test_b"]
    assert progress.area == "clone"


def test_setup_error_counts_once_and_as_failed() -> None:
    progress = Progress(io.StringIO())
    phases(progress, "t.py::test_x", setup="failed")
    assert progress.done == 1
    assert progress.failed == ["t.py::test_x"]


def test_failure_in_call_and_teardown_is_one_failed_test() -> None:
    progress = Progress(io.StringIO())
    phases(progress, "t.py::test_x", call="failed", teardown="failed")
    assert progress.done == 1
    assert progress.failed == ["t.py::test_x"]


def test_crashed_xdist_worker_counts_its_test() -> None:
    """pytest-xdist reports a crashed test once, with ``when="???"`` and no teardown."""
    progress = Progress(io.StringIO())
    progress.pytest_runtest_logreport(rep("t.py::test_x", "???", "failed"))
    assert progress.done == 1
    assert progress.failed == ["t.py::test_x"]


def test_total_from_xdist_collection_takes_the_largest() -> None:
    progress = Progress(io.StringIO())
    progress.pytest_xdist_node_collection_finished(node=None, ids=["a", "b", "c"])
    progress.pytest_xdist_node_collection_finished(node=None, ids=["a", "b"])
    assert progress.total == 3


@pytest.mark.parametrize(
    ("nodeid", "area"),
    [
        ("suites/test_restore.py::test_x[Block]", "restore"),
        ("test_clone.py::test_y", "clone"),
        ("suites/sub/helpers.py::test_z", "helpers"),
    ],
)
def test_area_falls_back_to_the_file_name(nodeid: str, area: str) -> None:
    progress = Progress(io.StringIO())
    progress.pytest_runtest_logreport(rep(nodeid))
    assert progress.area == area


def test_area_marker_wins_over_the_file_name() -> None:
    progress = Progress(io.StringIO())
    progress.pytest_runtest_logreport(rep("suites/test_stress.py::test_x", area="negative"))
    assert progress.area == "negative"


# ---------------------------------------------------------------- lines


def test_line_format() -> None:
    progress = Progress(io.StringIO())
    progress.total, progress.done, progress.area = 40, 12, "restore"
    progress.failed = ["a"]
    progress.started = time.monotonic() - 63.2
    assert progress.line() == "[12/40] restore, 1 failed, 63s"


def test_line_without_failures_or_total() -> None:
    progress = Progress(io.StringIO())
    progress.done, progress.area = 1, "clone"
    assert progress.line() == "[1/?] clone, 0s"


def test_plain_output_is_one_line_per_finished_test() -> None:
    out = io.StringIO()
    progress = Progress(out)
    progress.total = 2
    phases(progress, "suites/test_restore.py::test_a", area="restore")
    phases(progress, "suites/test_clone.py::test_b", call="failed", area="clone")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("snapconf [1/2] restore, ")
    assert lines[0].endswith("  PASSED suites/test_restore.py::test_a")
    assert lines[1].startswith("snapconf [2/2] clone, 1 failed, ")
    assert lines[1].endswith("  FAILED suites/test_clone.py::test_b")
    assert "\r" not in out.getvalue()
    assert "\x1b" not in out.getvalue()


def test_tty_output_rewrites_one_status_line() -> None:
    out = TTY()
    progress = Progress(out)
    assert progress.tty
    progress.total = 2
    phases(progress, "t.py::test_a", area="restore")
    phases(progress, "t.py::test_b", area="restore")
    text = out.getvalue()
    assert "\n" not in text
    assert text.count("\r\x1b[2Ksnapconf [") == 2
    assert text.rsplit("\r\x1b[2K", 1)[-1].startswith("snapconf [2/2] restore, ")
    assert "t.py::test_a" not in text  # the status line does not carry node ids
    progress.pytest_sessionfinish()
    assert out.getvalue().endswith("\n")


def test_tty_session_finish_without_tests_writes_nothing() -> None:
    out = TTY()
    Progress(out).pytest_sessionfinish()
    assert out.getvalue() == ""


def test_plain_session_finish_writes_nothing() -> None:
    out = io.StringIO()
    progress = Progress(out)
    phases(progress, "t.py::test_a")
    before = out.getvalue()
    progress.pytest_sessionfinish()
    assert out.getvalue() == before


# ---------------------------------------------------------------- summary


def summary_of(name: str, report_path: str = "reports/x/report.html") -> tuple[str, Verdict]:
    results = load_results(DATA / f"{name}.json")
    result = verdict(results)
    out = io.StringIO()
    Progress(out).summary(results, result, report_path)
    return out.getvalue(), result


def expected_matrix(name: str) -> dict[str, dict[str, int]]:
    raw = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    matrix: dict[str, dict[str, int]] = {}
    for test in raw["tests"]:
        row = matrix.setdefault(test["area"], dict.fromkeys(OUTCOMES, 0))
        row[test["outcome"]] += 1
    return matrix


def table(text: str) -> dict[str, list[str]]:
    lines = text.strip("\n").split("\n\n")[0].splitlines()
    return {line.split()[0]: line.split()[1:] for line in lines}


@pytest.mark.parametrize("name", ["all-passed", "failures", "xdist"])
def test_summary_table_counts_by_area(name: str) -> None:
    text, _ = summary_of(name)
    rows = table(text)
    assert rows.pop("area") == list(OUTCOMES)
    expected = {
        area: [str(counts[o]) for o in OUTCOMES] for area, counts in expected_matrix(name).items()
    }
    assert rows == expected


def test_summary_columns_line_up() -> None:
    text, _ = summary_of("failures")
    lines = text.strip("\n").split("\n\n")[0].splitlines()
    assert len({len(line) for line in lines}) == 1


def test_summary_of_a_conformant_run() -> None:
    text, result = summary_of("all-passed", "/r/sc-1/report.html")
    assert result.conformant
    assert "\nsnapconf: CONFORMANT: " in text
    assert "  required test" not in text
    assert text.endswith("snapconf: report /r/sc-1/report.html\n")


def test_summary_of_a_failed_run_lists_the_reasons() -> None:
    text, result = summary_of("failures")
    assert not result.conformant
    assert "\nsnapconf: NOT CONFORMANT: " in text
    assert result.reasons
    for reason in result.reasons[:MAX_REASONS]:
        assert f"  {reason}\n" in text


def test_summary_caps_the_reasons_and_says_how_many_more() -> None:
    results = load_results(DATA / "failures.json")
    reasons = [f"required test failed: t.py::test_{i}" for i in range(MAX_REASONS + 5)]
    out = io.StringIO()
    Progress(out).summary(results, Verdict(conformant=False, reasons=reasons), "r.html")
    text = out.getvalue()
    assert text.count("\n  required test failed: ") == MAX_REASONS
    assert f"t.py::test_{MAX_REASONS - 1}\n" in text
    assert f"t.py::test_{MAX_REASONS}\n" not in text
    assert "  and 5 more (see the report)\n" in text


# ---------------------------------------------------------------- in a real session


SESSION = """
    import pytest

    def test_ok():
        pass

    def test_fails():
        assert False

    @pytest.mark.skip(reason="not today")
    def test_skipped():
        pass

    @pytest.fixture
    def broken():
        raise RuntimeError("setup broke")

    def test_setup_error(broken):
        pass

    @pytest.mark.area("stress")
    def test_stress():
        pass
"""


@pytest.fixture
def isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A pytester folder with no way to a cluster (the plugin loads in every run)."""
    for name in [n for n in os.environ if n.startswith("SNAPCONF_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("KUBECONFIG", str(pytester.path / "no-kubeconfig"))
    return pytester


def run(pytester: pytest.Pytester, progress: Progress, *args: str) -> Any:
    return pytester.runpytest("-p", "no:cacheprovider", *args, plugins=[progress])


def test_session_counts_each_test_once(isolated: pytest.Pytester) -> None:
    isolated.makepyfile(test_mix=SESSION)
    out = io.StringIO()
    progress = Progress(out)
    result = run(isolated, progress)
    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1, deselected=1)
    assert progress.total == 4  # the stress test is deselected before counting
    assert progress.done == 4
    assert progress.failed == ["test_mix.py::test_fails", "test_mix.py::test_setup_error"]
    lines = out.getvalue().splitlines()
    assert [line.split()[1] for line in lines] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert lines[-1].endswith("test_mix.py::test_setup_error")


def test_session_without_xdist_loads(isolated: pytest.Pytester) -> None:
    """The xdist hook is optional: ``snapconf run -- -p no:xdist`` must not crash."""
    isolated.makepyfile(test_one="def test_ok():\n    pass\n")
    progress = Progress(io.StringIO())
    result = run(isolated, progress, "-p", "no:xdist")
    result.assert_outcomes(passed=1)
    assert progress.done == 1


def test_a_failure_stays_on_a_terminal() -> None:
    out = TTY()
    progress = Progress(out)
    progress.total = 2
    phases(progress, "t.py::test_a", area="restore", teardown="failed")
    phases(progress, "t.py::test_b", area="restore")
    text = out.getvalue()
    assert "snapconf ERROR t.py::test_a\n" in text  # a failed teardown is an error
    assert text.endswith("[2/2] restore, 1 failed, 0s")


def test_no_pytest_letters_for_conformance_outcomes() -> None:
    progress = Progress(io.StringIO())
    assert progress.pytest_report_teststatus(rep("t::a", "call", "passed")) == (
        "passed",
        "",
        "PASSED",
    )
    assert progress.pytest_report_teststatus(rep("t::a", "setup", "passed")) == ("", "", "")
    assert progress.pytest_report_teststatus(rep("t::a", "setup", "failed"))[0] == "error"
    assert progress.pytest_report_teststatus(rep("t::a", "call", "skipped"))[1] == ""


def test_a_run_prints_no_pytest_progress_of_its_own(isolated: pytest.Pytester) -> None:
    """With the runner's options, pytest adds no dots and no "[100%]" to snapconf's lines."""
    isolated.makepyfile(test_two="def test_a():\n    pass\n\ndef test_b():\n    pass\n")
    result = run(isolated, Progress(io.StringIO()), *QUIET)
    result.assert_outcomes(passed=2)
    stray = [line for line in result.outlines if re.fullmatch(r"[.\s]*(\[\s*\d+%\])?", line)]
    assert not [line for line in stray if line.strip()], stray
