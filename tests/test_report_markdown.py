"""conformance.report.markdown and ``snapconf report RUN_DIR --format markdown``.

The summary is read back the way a CI page shows it: the verdict line, the area table
parsed cell by cell and compared with ``area_matrix``, one list entry a failure. The
numbers come from the results.json fixtures of tests/data/report that the HTML report's
tests use, so both formats are checked against the same runs.
"""

from __future__ import annotations

import copy
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from offline import forbid_cluster

from conformance.cli import main
from conformance.report import (
    REPORT_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    RunResults,
    area_matrix,
    markdown_command,
    render_markdown,
    verdict,
)
from conformance.report.markdown import COLUMNS, MAX_ITEMS, MAX_REASON

DATA = Path(__file__).parent / "data" / "report"
NAMES = ["all-passed", "xdist", "failures"]
EXIT_USAGE = 2


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    forbid_cluster(monkeypatch, tmp_path / "home")


def raw(name: str) -> dict[str, Any]:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def table(text: str) -> dict[str, list[str]]:
    """The area table: first cell -> the other cells (pipes escaped as ``\\|`` kept)."""
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert rows, text
    header = re.split(r"(?<!\\)\|", rows[0])[1:-1]
    assert [h.strip() for h in header] == ["area", *COLUMNS]
    assert set(rows[1].replace(" ", "")) <= set("|-:")
    out: dict[str, list[str]] = {}
    for row in rows[2:]:
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        assert len(cells) == 1 + len(COLUMNS), row
        out[cells[0]] = cells[1:]
    return out


def section(text: str, title: str) -> list[str]:
    """The list items under the ``### title (N)`` heading (empty when there is none)."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith(f"### {title} (")]
    if not starts:
        return []
    items = []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("#"):
            break
        if line.startswith("- "):
            items.append(line[2:])
    return items


def passed(data: dict[str, Any]) -> list[int]:
    """Indexes of the required tests that passed."""
    return [i for i, t in enumerate(data["tests"]) if t["outcome"] == "passed" and t["required"]]


def failing(data: dict[str, Any], index: int, message: str) -> dict[str, Any]:
    test = data["tests"][index]
    assert test["outcome"] == "passed"
    test.update(outcome="failed", diagnostics={"message": message, "traceback": "tb"})
    return test


# ---------------------------------------------------------------- the summary


@pytest.mark.parametrize("name", NAMES)
def test_verdict_line_and_area_table_match_the_analysis(name: str) -> None:
    run = RunResults.coerce(raw(name))
    judged = verdict(run)
    text = render_markdown(run)
    first = text.splitlines()[0]
    assert first == f"## {'✅' if judged.conformant else '❌'} snapconf: {judged.label}"
    c = judged.counts
    assert (
        f"**{judged.label}**: {c.required_passed} of {c.required} required tests passed "
        f"({c.total} tests: {c.passed} passed, {c.failed} failed,"
    ) in text
    rows = table(text)
    matrix = area_matrix(run)
    assert list(rows) == [*matrix, "**total**"]
    for area, counts in matrix.items():
        assert rows[area] == [str(counts[o]) for o in COLUMNS]
    assert rows["**total**"] == [f"**{sum(m[o] for m in matrix.values())}**" for o in COLUMNS]


def test_a_conformant_run_lists_no_problem() -> None:
    text = render_markdown(raw("all-passed"))
    assert text.startswith("## ✅ snapconf: CONFORMANT\n")
    assert "### " not in text
    assert "\ndriver `hostpath.csi.k8s.io` · Kubernetes `" in text
    assert "regression" not in text.lower()


def test_failures_each_with_their_one_line_reason() -> None:
    data = raw("failures")
    text = render_markdown(data)
    items = section(text, "Failures")
    expected = {
        "suites/test_binding.py::test_dynamic_snapshot_binds_one_to_one[retain-block]": "failed",
        "suites/test_clone.py::test_parallel_clones_hold_same_data": "error",
        "suites/test_restore.py::test_restore_holds_data_at_snapshot_time[block]": "failed",
    }
    assert [item.split("`")[1] for item in items] == sorted(expected)
    for item in items:
        nodeid = item.split("`")[1]
        assert item.startswith(f"`{nodeid}` ({expected[nodeid]}): ")
    restore = next(i for i in items if "test_restore_holds" in i)
    # the first line of the message, not the assertion's diff below it
    assert restore.endswith(
        ": AssertionError: restored data is the source's data after the snapshot"
    )
    assert "### Failures (3)" in text


def test_a_required_skip_is_a_failure_and_an_excused_one_is_not() -> None:
    data = raw("all-passed")
    first, second = passed(data)[:2]
    data["tests"][first].update(outcome="skipped", skipReason="backend maintenance window")
    data["tests"][second].update(
        outcome="skipped", skipReason="profile does not declare capability block", required=False
    )
    items = section(render_markdown(data), "Failures")
    assert items == [f"`{data['tests'][first]['nodeid']}` (skipped): backend maintenance window"]


def test_a_failure_of_a_test_that_is_not_required_is_marked() -> None:
    data = raw("all-passed")
    test = failing(data, passed(data)[0], "boom")
    test["required"] = False
    text = render_markdown(data)
    assert section(text, "Failures") == [f"`{test['nodeid']}` (failed, not required): boom"]
    assert text.startswith("## ✅ snapconf: CONFORMANT")


def test_leaks_are_listed_and_fail_the_verdict() -> None:
    data = raw("all-passed")
    leaks = [
        "VolumeSnapshotContent snapcontent-1 (run sc-20250601-101502-aaaa)",
        "backend volume vol-7 (10Gi) left by the run",
    ]
    data["run"]["cluster"]["leaks"] = leaks
    text = render_markdown(data)
    assert text.startswith("## ❌ snapconf: NOT CONFORMANT")
    assert "### Left behind by the run (2)" in text
    assert section(text, "Left behind by the run") == [
        "VolumeSnapshotContent snapcontent-1 (run sc-20250601-101502-aaaa)",
        "backend volume vol-7 (10Gi) left by the run",
    ]


def test_regressions_against_a_baseline() -> None:
    current = raw("all-passed")
    first, second = passed(current)[:2]
    gone = current["tests"][first]
    gone.update(outcome="skipped", skipReason="profile does not declare capability block")
    gone["required"] = False
    errored = current["tests"][second]
    errored.update(outcome="error", diagnostics={"message": "KubeError: 500"})
    text = render_markdown(current, baseline=DATA / "all-passed.json")
    assert text.startswith("## ❌ snapconf: NOT CONFORMANT")
    assert section(text, "Regressions against the baseline") == [
        f"`{gone['nodeid']}`: passed in the baseline, skipped now",
        f"`{errored['nodeid']}`: passed in the baseline, errored now",
    ]


def test_a_baseline_without_regressions_says_so() -> None:
    text = render_markdown(raw("all-passed"), baseline=DATA / "all-passed.json")
    assert "\nNo regressions against the baseline.\n" in text
    assert "No regressions" not in render_markdown(raw("all-passed"))


def test_regressions_stored_by_the_run_are_shown_without_a_baseline() -> None:
    data = raw("failures")
    stored = data["baselineRegressions"]
    items = section(render_markdown(data), "Regressions against the baseline")
    assert items == [f"`{n}`: passed in the baseline, failed now" for n in stored]


def test_other_verdict_reasons_are_shown() -> None:
    data = raw("all-passed")
    data["tests"] = []
    text = render_markdown(data)
    assert "\n- no test ran\n" in text
    assert "| area |" not in text


def test_recorded_text_cannot_break_the_markdown() -> None:
    data = raw("all-passed")
    message = "x | y <script>alert(1)</script> *bold* [link](http://e) `tick`\nsecond line"
    test = failing(data, passed(data)[0], message)
    test["nodeid"] = "suites/test_x.py::test_`odd`[a|b]"
    test["area"] = "are|a"
    text = render_markdown(data)
    assert "<script>" not in text
    assert "second line" not in text
    [item] = section(text, "Failures")
    assert item.startswith("``suites/test_x.py::test_`odd`[a|b]`` (failed): ")
    assert item.endswith(
        r"x \| y \<script\>alert(1)\</script\> \*bold\* \[link\](http://e) \`tick\`"
    )
    assert "are\\|a" in table(text)
    leak_data = raw("all-passed")
    leak_data["run"]["cluster"]["leaks"] = ["- a list?", "1. a number", "# a heading"]
    assert section(render_markdown(leak_data), "Left behind by the run") == [
        r"\- a list?",
        r"1\. a number",
        r"\# a heading",
    ]


def test_long_reasons_and_long_lists_are_cut() -> None:
    data = raw("all-passed")
    template = data["tests"][passed(data)[0]]
    data["tests"] = []
    for i in range(MAX_ITEMS + 3):
        test = copy.deepcopy(template) | {"nodeid": f"suites/test_many.py::test_{i:03}"}
        data["tests"].append(test)
        failing(data, i, "y" * (MAX_REASON + 50))
    text = render_markdown(data)
    items = section(text, "Failures")
    assert f"### Failures ({MAX_ITEMS + 3})" in text
    assert len(items) == MAX_ITEMS + 1
    assert items[-1] == "and 3 more (see report.html)"
    reason = items[0].split("): ", 1)[1]
    assert len(reason) == MAX_REASON
    assert reason.endswith("…")


def test_a_failure_without_diagnostics_still_has_a_reason() -> None:
    data = raw("all-passed")
    data["tests"][passed(data)[0]].update(outcome="failed", diagnostics=None)
    [item] = section(render_markdown(data), "Failures")
    assert item.endswith("(failed): no message recorded")


# ---------------------------------------------------------------- the command


def run_folder(tmp_path: Path, name: str = "failures") -> Path:
    folder = tmp_path / "sc-20250604-120931-9d0e"
    folder.mkdir()
    shutil.copy(DATA / f"{name}.json", folder / RESULTS_FILE)
    return folder


def test_command_prints_and_writes_summary_md(tmp_path: Path) -> None:
    folder = run_folder(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert markdown_command(folder, out=out, err=err) == 0
    assert err.getvalue() == ""
    assert out.getvalue() == (folder / SUMMARY_FILE).read_text(encoding="utf-8")
    assert out.getvalue() == render_markdown(folder / RESULTS_FILE)
    assert not (folder / REPORT_FILE).exists()


def test_cli_markdown_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = run_folder(tmp_path)
    status = main(["report", str(folder), "--format", "markdown", "--baseline",
                   str(DATA / "all-passed.json")])  # fmt: skip
    out, err = capsys.readouterr()
    assert (status, err) == (0, "")
    assert out.startswith("## ❌ snapconf: NOT CONFORMANT\n")
    assert "### Regressions against the baseline (3)" in out
    assert out == (folder / SUMMARY_FILE).read_text(encoding="utf-8")


def test_cli_html_stays_the_default(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    folder = run_folder(tmp_path)
    assert main(["report", str(folder)]) == 0
    assert capsys.readouterr().out.startswith("snapconf: NOT CONFORMANT: ")
    assert (folder / REPORT_FILE).is_file()
    assert not (folder / SUMMARY_FILE).exists()


def usage_line(capsys: pytest.CaptureFixture[str], status: int) -> str:
    out, err = capsys.readouterr()
    assert status == EXIT_USAGE, (out, err)
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snapconf: ")
    return lines[0]


@pytest.mark.parametrize(
    ("make", "extra", "expected"),
    [
        (lambda tmp: tmp / "nope", [], "no such run folder"),
        (lambda tmp: tmp, [], "results.json: no such results file"),
        (lambda tmp: run_folder(tmp), ["--baseline", "missing.json"], "--baseline: "),
        (lambda tmp: run_folder(tmp), ["--allure"], "--allure goes with --format html"),
    ],
    ids=["missing-folder", "no-results", "missing-baseline", "allure"],
)
def test_bad_input_is_one_sentence_and_exit_2(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    make: Any,
    extra: list[str],
    expected: str,
) -> None:
    folder = make(tmp_path)
    line = usage_line(capsys, main(["report", str(folder), "--format", "markdown", *extra]))
    assert expected in line
    assert not (folder / SUMMARY_FILE).exists()


def test_bad_results_json_is_one_sentence(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / RESULTS_FILE).write_text("{\n", encoding="utf-8")
    line = usage_line(capsys, main(["report", str(tmp_path), "--format", "markdown"]))
    assert "not valid JSON" in line


def test_baseline_with_html_is_bad_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = run_folder(tmp_path)
    status = main(["report", str(folder), "--baseline", str(DATA / "all-passed.json")])
    assert "--baseline goes with --format markdown" in usage_line(capsys, status)
    assert not (folder / REPORT_FILE).exists()


def test_unknown_format_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["report", "x", "--format", "pdf"])
    assert exc.value.code == EXIT_USAGE
    assert "invalid choice: 'pdf'" in capsys.readouterr().err
