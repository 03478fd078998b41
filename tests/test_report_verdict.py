"""conformance.report.analysis: the conformance rule, baselines, the report's numbers."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path
from typing import Any

import pytest

from conformance.report import (
    AREAS,
    Counts,
    ResultsError,
    RunResults,
    area_matrix,
    capability_matrix,
    latency_stats,
    regressions,
    verdict,
    with_baseline,
)

DATA = Path(__file__).parent / "data" / "report"
CAP_SKIP = "profile does not declare capability block"


def record(
    name: str,
    outcome: str = "passed",
    *,
    required: bool = True,
    requires: tuple[str, ...] = ("snapshotDataSource",),
    skip: str | None = None,
    area: str = "restore",
    worker: str = "main",
    timings: tuple[tuple[str, float], ...] = (),
) -> dict[str, Any]:
    """One test in the JSON form of results.json."""
    return {
        "nodeid": f"suites/test_{area}.py::{name}",
        "name": name,
        "area": area,
        "requires": list(requires),
        "required": required,
        "outcome": outcome,
        "skipReason": skip,
        "duration": 1.0,
        "worker": worker,
        "timings": [{"op": op, "seconds": s, "subject": ""} for op, s in timings],
        "diagnostics": None,
    }


def run(*tests: dict[str, Any], regressed: tuple[str, ...] = ()) -> dict[str, Any]:
    """A results.json (JSON form) holding ``tests``."""
    return {
        "schemaVersion": 1,
        "run": {
            "id": "sc-1",
            "start": "2025-06-01T10:00:00Z",
            "end": "2025-06-01T10:05:00Z",
            "argv": [],
            "workers": 1,
            "profile": {},
            "cluster": {},
            "snapconfVersion": "0.1.0",
        },
        "capabilities": {"snapshotDataSource": True, "pvcDataSource": True, "block": False},
        "baselineRegressions": list(regressed),
        "tests": list(tests),
    }


def nodeid(name: str) -> str:
    return f"suites/test_restore.py::{name}"


def data(name: str) -> dict[str, Any]:
    loaded = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


# ---------------------------------------------------------------- the rule


def test_every_required_test_passed_is_conformant() -> None:
    result = verdict(run(record("a"), record("b")))
    assert result.conformant
    assert result.reasons == []
    assert result.label == "CONFORMANT"


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("failed", "required test failed: suites/test_restore.py::b"),
        ("error", "required test errored: suites/test_restore.py::b"),
    ],
)
def test_required_failure_or_error_is_not_conformant(outcome: str, reason: str) -> None:
    result = verdict(run(record("a"), record("b", outcome)))
    assert not result.conformant
    assert result.label == "NOT CONFORMANT"
    assert result.reasons == [reason]


def test_what_the_run_left_behind_is_not_conformant() -> None:
    leak = "backend volume v-1 (1Gi) left by the run: the driver still lists it"
    results = run(record("a"))
    results["run"]["cluster"]["leaks"] = [leak]
    result = verdict(results)
    assert not result.conformant
    assert result.reasons == [f"left behind by the run: {leak}"]


def test_required_test_skipped_for_another_reason_is_not_conformant() -> None:
    skipped = record("b", "skipped", skip="snapshot class has no driver")
    result = verdict(run(record("a"), skipped))
    assert not result.conformant
    assert result.reasons == [
        "required test skipped (snapshot class has no driver): suites/test_restore.py::b"
    ]


def test_required_test_skipped_without_reason_is_not_conformant() -> None:
    result = verdict(run(record("a"), record("b", "skipped")))
    assert result.reasons == ["required test skipped (no reason given): suites/test_restore.py::b"]


@pytest.mark.parametrize(
    "reason",
    [
        CAP_SKIP,
        f"Skipped: {CAP_SKIP}",
        "the profile names no storageClassWaitForFirstConsumer",
        "the profile declares FSResizeFromSourceNotSupported: the driver does not grow it",
    ],
)
def test_skip_for_what_the_profile_does_not_declare_is_excused(reason: str) -> None:
    # The plugin marks a test needing no undeclared *capability* required, even when it
    # then skips for an optional profile entry (the WaitForFirstConsumer class).
    for required in (True, False):
        skipped = record("b", "skipped", required=required, skip=reason)
        result = verdict(run(record("a"), skipped))
        assert result.conformant, result.reasons
        assert result.counts.required == 1
        assert result.counts.capability_skipped == 1


def test_tests_that_are_not_required_do_not_count() -> None:
    extra = record("b", "failed", required=False, requires=("block",))
    errored = record("c", "error", required=False, requires=("block",))
    assert verdict(run(record("a"), extra, errored)).conformant


def test_no_tests_is_not_conformant() -> None:
    result = verdict(run())
    assert not result.conformant
    assert result.reasons == ["no test ran"]


def test_nothing_required_is_not_conformant() -> None:
    result = verdict(run(record("a", "skipped", required=False, skip=CAP_SKIP)))
    assert not result.conformant
    assert result.reasons == ["no required test ran: the profile declares nothing the tests need"]


def test_counts() -> None:
    result = verdict(
        run(
            record("a"),
            record("b", "failed"),
            record("c", "error"),
            record("d", "skipped", required=False, skip=CAP_SKIP),
            record("e", "skipped", skip="broken"),
            record("f", "passed", required=False),
        )
    )
    assert result.counts == Counts(
        total=6,
        passed=2,
        failed=1,
        skipped=2,
        error=1,
        required=4,
        required_passed=1,
        capability_skipped=1,
    )


# ---------------------------------------------------------------- baseline


def test_passed_in_baseline_and_failed_now_is_a_regression_listed_first() -> None:
    baseline = run(record("a"), record("b"), record("c"))
    current = run(record("a", "failed"), record("b"), record("c", "failed"))
    result = verdict(current, baseline)
    assert result.regressions == [nodeid("a"), nodeid("c")]
    # Each regressed test is named once, as a regression, before any other reason.
    assert result.reasons == [
        f"regression: passed in the baseline, failed now: {nodeid('a')}",
        f"regression: passed in the baseline, failed now: {nodeid('c')}",
    ]


def test_regressions_come_before_other_reasons() -> None:
    baseline = run(record("a", "failed"), record("z"))
    current = run(record("a", "failed"), record("z", "error"))
    result = verdict(current, baseline)
    assert result.reasons == [
        f"regression: passed in the baseline, errored now: {nodeid('z')}",
        f"required test failed: {nodeid('a')}",
    ]


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        (record("b", "skipped", required=False, skip=CAP_SKIP), "skipped now"),
        (record("b", "failed", required=False), "failed now"),
        (None, "not run now"),
    ],
    ids=["capability-dropped", "not-required-now", "gone"],
)
def test_any_test_that_stops_passing_is_a_regression(
    now: dict[str, Any] | None, reason: str
) -> None:
    current = run(record("a"), *([now] if now else []))
    result = verdict(current, run(record("a"), record("b")))
    assert not result.conformant
    assert result.reasons == [f"regression: passed in the baseline, {reason}: {nodeid('b')}"]


def test_not_passing_in_the_baseline_is_no_regression() -> None:
    baseline = run(
        record("a", "failed"),
        record("b", "skipped", required=False, skip=CAP_SKIP),
        record("c", "error"),
    )
    current = run(record("a"), record("b", "skipped", required=False, skip=CAP_SKIP), record("c"))
    result = verdict(current, baseline)
    assert result.conformant
    assert result.regressions == []


def test_new_tests_are_no_regression() -> None:
    assert verdict(run(record("a"), record("new")), run(record("a"))).conformant


def test_stored_regressions_fail_without_the_baseline() -> None:
    # A rebuilt report has no baseline at hand, only what the run stored.
    current = run(record("a"), record("b"), regressed=(nodeid("b"),))
    result = verdict(current)
    assert not result.conformant
    assert result.regressions == [nodeid("b")]
    assert result.reasons == [f"regression: passed in the baseline, passed now: {nodeid('b')}"]


def test_stored_and_found_regressions_merge_without_repeats() -> None:
    current = run(record("a", "failed"), record("b", "failed"), regressed=(nodeid("b"),))
    result = verdict(current, run(record("a"), record("b")))
    assert result.regressions == [nodeid("b"), nodeid("a")]
    assert len(result.reasons) == 2


def test_baseline_may_be_a_model_or_a_path(tmp_path: Path) -> None:
    baseline = RunResults.from_dict(run(record("a")))
    path = baseline.save(tmp_path / "baseline" / "results.json")
    current = run(record("a", "failed"))
    assert verdict(current, baseline).regressions == [nodeid("a")]
    assert verdict(current, path).regressions == [nodeid("a")]
    assert verdict(RunResults.from_dict(current), str(path)).regressions == [nodeid("a")]


def test_bad_baseline_is_a_results_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results file"):
        verdict(run(record("a")), tmp_path / "missing.json")


def test_with_baseline_leaves_the_input_alone() -> None:
    current = RunResults.from_dict(run(record("a", "failed")))
    merged = with_baseline(current, run(record("a")))
    assert merged.baseline_regressions == [nodeid("a")]
    assert current.baseline_regressions == []


def test_regressions_in_baseline_order() -> None:
    current = RunResults.from_dict(run())
    baseline = RunResults.from_dict(run(record("z"), record("a"), record("m", "failed")))
    assert regressions(current, baseline) == [nodeid("z"), nodeid("a")]


# ---------------------------------------------------------------- the data files


def test_data_all_passed_is_conformant() -> None:
    result = verdict(data("all-passed"))
    assert result.conformant
    assert result.counts.total == 45
    assert result.counts.required == result.counts.required_passed == 33


def test_data_failures_is_not_conformant_with_the_regression_first() -> None:
    result = verdict(data("failures"))
    regressed = "suites/test_restore.py::test_restore_holds_data_at_snapshot_time[block]"
    assert result.regressions == [regressed]
    assert result.reasons == [
        f"regression: passed in the baseline, failed now: {regressed}",
        "required test failed: "
        "suites/test_binding.py::test_dynamic_snapshot_binds_one_to_one[retain-block]",
        "required test errored: suites/test_clone.py::test_parallel_clones_hold_same_data",
    ]
    c = result.counts
    assert (c.passed, c.failed, c.error, c.skipped) == (38, 2, 1, 4)


# ---------------------------------------------------------------- xdist


def test_xdist_run_is_judged_across_workers() -> None:
    raw = data("xdist")
    workers = {t["worker"] for t in raw["tests"]}
    assert workers == {"gw0", "gw1"}
    result = verdict(raw)
    assert result.conformant
    assert result.counts.total == len(raw["tests"])


def test_xdist_finishing_order_does_not_change_anything() -> None:
    raw = data("xdist")
    baseline = verdict(raw)
    stats = latency_stats(RunResults.from_dict(raw))
    matrix = area_matrix(RunResults.from_dict(raw))
    shuffled = dict(raw, tests=list(raw["tests"]))
    random.Random(7).shuffle(shuffled["tests"])  # noqa: S311 - an order, not a secret
    assert verdict(shuffled) == baseline
    assert latency_stats(RunResults.from_dict(shuffled)) == stats
    assert area_matrix(RunResults.from_dict(shuffled)) == matrix


def test_xdist_a_failure_on_either_worker_counts() -> None:
    for worker in ("gw0", "gw1"):
        raw = data("xdist")
        test = next(t for t in raw["tests"] if t["worker"] == worker and t["required"])
        test["outcome"] = "failed"
        result = verdict(raw)
        assert result.reasons == [f"required test failed: {test['nodeid']}"]


def test_xdist_timings_of_both_workers_are_pooled() -> None:
    raw = data("xdist")
    stats = latency_stats(RunResults.from_dict(raw))
    per_worker: dict[str, dict[str, int]] = {}
    for t in raw["tests"]:
        for timing in t["timings"]:
            ops = per_worker.setdefault(timing["op"], {})
            ops[t["worker"]] = ops.get(t["worker"], 0) + 1
    assert any(len(by_worker) == 2 for by_worker in per_worker.values())
    assert {op: s.count for op, s in stats.items()} == {
        op: sum(by_worker.values()) for op, by_worker in per_worker.items()
    }


# ---------------------------------------------------------------- report numbers


def test_area_matrix_orders_areas_and_names_the_unmarked() -> None:
    matrix = area_matrix(
        RunResults.from_dict(
            run(
                record("a", area="stress"),
                record("b", "failed", area="binding"),
                record("c", area="zeta"),
                record("d", "skipped", skip=CAP_SKIP, area=""),
                record("e", area="alpha"),
            )
        )
    )
    assert list(matrix) == ["binding", "stress", "alpha", "zeta", "(none)"]
    assert matrix["binding"] == {"passed": 0, "failed": 1, "skipped": 0, "error": 0}
    assert matrix["(none)"]["skipped"] == 1
    assert set(AREAS) >= {"binding", "stress"}


def test_capability_matrix_exercised_means_passed_or_failed() -> None:
    results = RunResults.from_dict(
        run(
            record("a", requires=("snapshotDataSource",)),
            record("b", "failed", requires=("pvcDataSource",)),
            record("c", "error", requires=("pvcDataSource", "block")),
            record("d", "skipped", requires=("block",), required=False, skip=CAP_SKIP),
            record("e", requires=("fsGroup",)),
        )
    )
    rows = {row.name: row for row in capability_matrix(results)}
    # Declared ones first in profile order, then those only tests mention.
    assert list(rows) == ["snapshotDataSource", "pvcDataSource", "block", "fsGroup"]
    assert rows["snapshotDataSource"].exercised
    assert rows["pvcDataSource"].exercised  # a failure used it
    assert not rows["block"].exercised  # an error and a skip did not
    assert (rows["block"].tests, rows["block"].error, rows["block"].skipped) == (2, 1, 1)
    assert not rows["block"].declared
    assert not rows["fsGroup"].declared
    assert rows["fsGroup"].exercised


def test_latency_stats() -> None:
    seconds = (5.0, 1.0, 3.0, 2.0, 4.0, 10.0, 6.0, 7.0, 8.0, 9.0)
    tests = [
        record(f"t{i}", timings=(("snapshot-ready", s), ("pvc-bound", 0.5)))
        for i, s in enumerate(seconds)
    ]
    stats = latency_stats(RunResults.from_dict(run(*tests)))
    assert list(stats) == ["pvc-bound", "snapshot-ready"]
    ready = stats["snapshot-ready"]
    assert ready.count == 10
    assert ready.median == statistics.median(seconds) == 5.5
    assert ready.p90 == 9.0
    assert ready.max == 10.0
    assert stats["pvc-bound"].median == stats["pvc-bound"].max == 0.5


def test_no_timings_no_stats() -> None:
    assert latency_stats(RunResults.from_dict(run(record("a")))) == {}
