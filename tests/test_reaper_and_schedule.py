"""Background cleanup and the order tests are shared in, without a cluster.

The reaper must run cleanups a bounded few at a time in the order they came, keep every outcome
(an exception included) for the test it belongs to, and survive the trip to the xdist
controller as plain data. The schedule must only reorder: longest first by the last
run's durations, unknown tests as long as the longest, the areas' weights otherwise.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from conformance.reaper import CONCURRENT_CLEANUPS, CleanupOutcome, Reaper
from conformance.recorder import Recorder
from conformance.schedule import latest_results, longest_first, previous_durations


def test_reaper_runs_cleanups_in_order_a_bounded_few_at_a_time() -> None:
    reaper = Reaper()
    lock = threading.Lock()
    running: list[str] = []
    most = 0
    started: list[str] = []
    both = threading.Barrier(CONCURRENT_CLEANUPS, timeout=5)

    def cleanup(name: str) -> tuple[list[str], list[str]]:
        nonlocal most
        with lock:
            running.append(name)
            started.append(name)
            most = max(most, len(running))
        if name in ("a", "b"):
            both.wait()  # the first two overlap: a slow cleanup does not hold the next
        with lock:
            running.remove(name)
        return [], [f"{name} noted"]

    for name in ("a", "b", "c", "d"):
        reaper.submit(f"t::{name}", lambda name=name: cleanup(name))  # type: ignore[misc]
    outcomes = reaper.wait()
    reaper.close()
    assert most == CONCURRENT_CLEANUPS, "never more than the bound at once, and the bound used"
    assert started[:2] == ["a", "b"] or started[:2] == ["b", "a"]
    assert [o.nodeid for o in outcomes] == ["t::a", "t::b", "t::c", "t::d"]
    assert outcomes[1].notes == ["b noted"]


def test_a_cleanup_that_raises_is_an_outcome_error() -> None:
    reaper = Reaper()

    def broken() -> tuple[list[str], list[str]]:
        raise RuntimeError("watch died")

    reaper.submit("t::x", broken)
    [outcome] = reaper.wait()
    assert outcome.errors == ["cleanup raised RuntimeError: watch died"]
    assert not reaper.busy()


def test_outcomes_travel_as_plain_data() -> None:
    outcome = CleanupOutcome("t::x", ["PVC ns/a: not deleted"], ["took over a finalizer"])
    assert CleanupOutcome.from_dict(json.loads(json.dumps(outcome.to_dict()))) == outcome


def test_a_failed_cleanup_makes_a_passed_record_an_error() -> None:
    recorder = Recorder()
    recorder.add_cleanup("t::x", [], ["finalizer taken over"])
    recorder.add_cleanup("t::y", ["PVC ns/a: not deleted"], [])
    x, y = recorder.as_list()
    assert x["notes"] == ["finalizer taken over"]
    assert x["outcome"] == "passed"
    assert y["outcome"] == "error"
    assert y["diagnostics"]["message"].startswith("cleanup left objects behind:\nPVC ns/a")


def test_longest_first_by_the_last_run() -> None:
    items = ["short", "long", "new", "mid"]
    ids = {i: f"t::{name}" for i, name in enumerate(items)}
    areas = dict.fromkeys(range(4), "")
    durations = {"t::short": 1.0, "t::long": 9.0, "t::mid": 5.0}
    # a test the last run did not have counts as long as the longest (ties keep order)
    assert longest_first(items, ids, areas, durations) == ["long", "new", "mid", "short"]


def test_without_a_last_run_the_areas_weigh() -> None:
    items = ["neg", "prot", "prov", "other"]
    areas = {0: "negative", 1: "protection", 2: "provisioning", 3: ""}
    ids = {i: name for i, name in enumerate(items)}
    assert longest_first(items, ids, areas, {}) == ["prot", "prov", "neg", "other"]


def test_previous_durations_read_passed_and_failed_tests(tmp_path: Path) -> None:
    run = tmp_path / "reports" / "sc-1"
    latest = latest_results(run)
    assert latest == tmp_path / "reports" / "latest" / "results.json"
    assert previous_durations(latest) == {}  # no earlier run
    latest.parent.mkdir(parents=True)
    tests = [
        {"nodeid": "a", "duration": 3.5, "outcome": "passed"},
        {"nodeid": "b", "duration": 0.1, "outcome": "skipped"},
        {"nodeid": "c", "duration": 7, "outcome": "failed"},
    ]
    latest.write_text(json.dumps({"tests": tests}), encoding="utf-8")
    assert previous_durations(latest) == {"a": 3.5, "c": 7.0}
    latest.write_text("{not json", encoding="utf-8")
    assert previous_durations(latest) == {}
