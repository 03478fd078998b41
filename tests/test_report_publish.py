"""conformance.report.publish: the run folder, reports/latest, the gate, ``snapconf report``."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance.report import (
    LATEST,
    REPORT_FILE,
    RESULTS_FILE,
    ResultsError,
    RunResults,
    exit_status,
    publish,
    render_html,
    report_command,
    summary_lines,
    update_latest,
    verdict,
)

DATA = Path(__file__).parent / "data" / "report"


def raw(name: str) -> dict[str, Any]:
    data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def failing_copy() -> dict[str, Any]:
    data = raw("all-passed")
    data["tests"][0]["outcome"] = "failed"
    data["tests"][0]["diagnostics"] = {"message": "boom", "traceback": ""}
    return data


# ---------------------------------------------------------------- the gate


@pytest.mark.parametrize(("name", "status"), [("all-passed", 0), ("xdist", 0), ("failures", 1)])
def test_exit_status_of_the_data_files(name: str, status: int) -> None:
    assert exit_status(DATA / f"{name}.json") == status


def test_a_baseline_regression_fails_the_gate() -> None:
    current = raw("all-passed")
    # Not required now (so the verdict alone would not care), but it passed before.
    test = current["tests"][0]
    test.update(outcome="skipped", skipReason="profile does not declare capability block")
    assert exit_status(current) == 0
    assert exit_status(current, baseline=DATA / "all-passed.json") == 1
    reasons = verdict(current, baseline=DATA / "all-passed.json").reasons
    assert reasons[0] == f"regression: passed in the baseline, skipped now: {test['nodeid']}"


def test_bad_input_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results file"):
        exit_status(tmp_path / "results.json")


# ---------------------------------------------------------------- publish and latest


def test_publish_writes_the_run_folder_and_points_latest_at_it(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    first = publish(raw("all-passed"), reports / "sc-20250601-101502-aaaa")
    assert first.exit_status == 0
    assert first.verdict.conformant
    assert first.results == reports / "sc-20250601-101502-aaaa" / RESULTS_FILE
    assert first.report == reports / "sc-20250601-101502-aaaa" / REPORT_FILE
    assert first.latest == reports / LATEST
    assert os.readlink(reports / LATEST) == "sc-20250601-101502-aaaa"

    second = publish(failing_copy(), reports / "sc-20250602-101502-bbbb")
    assert second.exit_status == 1
    assert os.readlink(reports / LATEST) == "sc-20250602-101502-bbbb"
    assert (reports / LATEST / RESULTS_FILE).is_file()
    # Nothing but the two runs and the link.
    assert sorted(p.name for p in reports.iterdir()) == [
        LATEST,
        "sc-20250601-101502-aaaa",
        "sc-20250602-101502-bbbb",
    ]


def test_published_files_are_readable_by_others(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        done = publish(raw("all-passed"), tmp_path / "run")
    finally:
        os.umask(old)
    assert done.report.stat().st_mode & 0o777 == 0o644
    assert done.results.stat().st_mode & 0o777 == 0o644


def test_publish_with_a_baseline_stores_the_regressions(tmp_path: Path) -> None:
    done = publish(failing_copy(), tmp_path / "run", baseline=DATA / "all-passed.json")
    assert done.exit_status == 1
    stored = RunResults.load(done.results)
    assert stored.baseline_regressions == [raw("all-passed")["tests"][0]["nodeid"]]
    assert done.verdict.regressions == stored.baseline_regressions


def test_publish_can_leave_latest_alone(tmp_path: Path) -> None:
    done = publish(raw("all-passed"), tmp_path / "run", latest=False)
    assert done.latest is None
    assert not (tmp_path / LATEST).exists()


def test_latest_that_is_a_real_folder_is_not_replaced(tmp_path: Path) -> None:
    (tmp_path / LATEST).mkdir()
    with pytest.raises(ResultsError, match="exists and is not a symlink"):
        update_latest(tmp_path / "sc-1")
    assert (tmp_path / LATEST).is_dir()


def test_publish_of_bad_results_writes_nothing(tmp_path: Path) -> None:
    data = raw("all-passed")
    del data["run"]
    with pytest.raises(ResultsError, match="run is missing"):
        publish(data, tmp_path / "run")
    assert not tmp_path.joinpath("run").exists()


def test_summary_lines() -> None:
    lines = summary_lines(verdict(DATA / "failures.json"), Path("reports/x/report.html"), limit=1)
    assert lines[0] == (
        "snapconf: NOT CONFORMANT: 38 of 41 required tests passed "
        "(45 tests: 38 passed, 2 failed, 1 errors, 4 skipped)"
    )
    assert lines[1].startswith("  regression: passed in the baseline, failed now: ")
    assert lines[2] == "  and 2 more (see the report)"
    assert lines[3] == "snapconf: report reports/x/report.html"


# ---------------------------------------------------------------- snapconf report


def test_report_command_rebuilds_the_report(tmp_path: Path) -> None:
    shutil.copy(DATA / "failures.json", tmp_path / RESULTS_FILE)
    out, err = io.StringIO(), io.StringIO()
    assert report_command(tmp_path, out=out, err=err) == 0
    assert err.getvalue() == ""
    assert (tmp_path / REPORT_FILE).read_text(encoding="utf-8") == render_html(raw("failures"))
    printed = out.getvalue().splitlines()
    assert printed[0].startswith("snapconf: NOT CONFORMANT: 38 of 41 required tests passed")
    assert printed[-1] == f"snapconf: report {tmp_path / REPORT_FILE}"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "results.json: no such results file"),
        ("{", "results.json: not a results file, not valid JSON (line 1, column 2"),
        ('{"schemaVersion": 1}', "results.json: capabilities is missing"),
        ("[]", "not a snapconf results file (the top level is a list, not an object)"),
    ],
)
def test_report_command_on_bad_input_says_one_sentence(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / RESULTS_FILE).write_text(content, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    assert report_command(tmp_path, out=out, err=err) == 2
    assert out.getvalue() == ""
    text = err.getvalue()
    assert text.startswith("snapconf: ")
    assert message in text
    assert text.count("\n") == 1
    assert "Traceback" not in text
    assert not (tmp_path / REPORT_FILE).exists()


def test_report_command_with_allure_reports_its_status(tmp_path: Path) -> None:
    shutil.copy(DATA / "all-passed.json", tmp_path / RESULTS_FILE)
    out, err = io.StringIO(), io.StringIO()
    # No allure-results in the folder: the HTML report is still rebuilt.
    assert report_command(tmp_path, allure=True, out=out, err=err) == 2
    assert (tmp_path / REPORT_FILE).is_file()
    assert "no allure results to render" in err.getvalue()
