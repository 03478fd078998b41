"""bench/overhead's pure part: intervals, the analysis, the object record, the CLI on files.

No cluster: results are made up here, and the object watch is fed events by hand.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import overhead
from bench.overhead import ObjectTimes, ObjectWatch, analyse, merge, union_length
from conformance import waits
from conformance.report.results import ResultsError, RunResults, Timing

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NS = "sc-20270115-080000-abcd-main-aaaaaa-1234"


def iso(epoch: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")


def timing(op: str, start: float | None, seconds: float, subject: str = "") -> dict[str, Any]:
    data: dict[str, Any] = {"op": op, "seconds": seconds, "subject": subject}
    if start is not None:
        data["start"] = T0 + start
    return data


def record(
    nodeid: str, duration: float, timings: list[dict[str, Any]], *, area: str = "restore"
) -> dict[str, Any]:
    return {
        "nodeid": nodeid,
        "name": nodeid.rsplit("::", 1)[-1],
        "area": area,
        "requires": [],
        "required": True,
        "outcome": "passed",
        "skipReason": None,
        "duration": duration,
        "worker": "main",
        "timings": timings,
        "diagnostics": None,
    }


def results(tests: list[dict[str, Any]], *, wall: float = 40.0, workers: int = 1) -> RunResults:
    return RunResults.from_dict(
        {
            "schemaVersion": 1,
            "run": {
                "id": "sc-20270115-080000-abcd",
                "start": iso(T0 - 1),
                "end": iso(T0 - 1 + wall),
                "argv": [],
                "workers": workers,
                "profile": {},
                "cluster": {},
                "snapconfVersion": "0",
            },
            "capabilities": {},
            "baselineRegressions": [],
            "tests": tests,
        }
    )


def sample() -> RunResults:
    """One sequential test, one with three overlapping restores, one clone test."""
    pvc = f"PersistentVolumeClaim {NS}/pvc-1"
    sequential = record(
        "suites/test_restore.py::test_a",
        12.0,
        [
            timing("pvc-bound", 0.0, 1.0, pvc),
            timing("pod-writer", 1.5, 3.0, f"Pod {NS}/writer-1"),
            timing("snapshot-ready", 5.0, 2.0, f"VolumeSnapshot {NS}/snap-1"),
            timing("cleanup", 8.0, 3.0, f"Namespace {NS}"),
        ],
    )
    parallel = record(
        "suites/test_restore.py::test_parallel",
        10.0,
        [  # restores made at once: 12..16, 12.5..16, 13..18 -> 6 s, not 12.5 s
            timing("restore-bound", 12.0, 4.0, "PersistentVolumeClaim ns2/r1"),
            timing("restore-bound", 12.5, 3.5, "PersistentVolumeClaim ns2/r2"),
            timing("restore-bound", 13.0, 5.0, "PersistentVolumeClaim ns2/r3"),
        ],
    )
    clone = record(
        "suites/test_clone.py::test_c",
        5.0,
        [timing("clone-bound", 25.0, 4.0, "PersistentVolumeClaim ns3/c1")],
        area="clone",
    )
    return results([sequential, parallel, clone])


# ---------------------------------------------------------------- intervals


@pytest.mark.parametrize(
    ("intervals", "merged"),
    [
        ([], []),
        ([(0.0, 1.0), (2.0, 3.0)], [(0.0, 1.0), (2.0, 3.0)]),
        ([(2.0, 3.0), (0.0, 2.5)], [(0.0, 3.0)]),
        ([(0.0, 10.0), (1.0, 2.0), (3.0, 4.0)], [(0.0, 10.0)]),  # nested
        ([(0.0, 1.0), (1.0, 2.0)], [(0.0, 2.0)]),  # touching
        ([(5.0, 5.0), (1.0, 0.5)], []),  # empty and reversed ones drop out
    ],
)
def test_merge_gives_the_union_as_disjoint_intervals(
    intervals: list[tuple[float, float]], merged: list[tuple[float, float]]
) -> None:
    assert merge(intervals) == merged


def test_union_length_counts_overlaps_once() -> None:
    assert union_length([(0.0, 4.0), (0.5, 4.0), (1.0, 6.0)]) == pytest.approx(6.0)
    assert union_length([(0.0, 1.0), (3.0, 4.0)]) == pytest.approx(2.0)


# ---------------------------------------------------------------- the start of a timing


def test_timing_start_round_trips_and_is_optional() -> None:
    old = Timing.from_dict({"op": "pvc-bound", "seconds": 1.5, "subject": "x"})
    assert old.start is None
    assert old.to_dict() == {"op": "pvc-bound", "seconds": 1.5, "subject": "x"}
    new = Timing.from_dict({"op": "pvc-bound", "seconds": 1.5, "subject": "x", "start": T0})
    assert new.start == T0
    assert Timing.from_dict(new.to_dict()) == new
    assert Timing.from_dict({"op": "a", "seconds": 1, "start": None}).start is None
    with pytest.raises(ResultsError, match=r"timing\.start must be a number"):
        Timing.from_dict({"op": "a", "seconds": 1, "start": "soon"})


def test_old_results_without_starts_still_load_and_analyse() -> None:
    run = results([record("t::old", 5.0, [timing("pvc-bound", None, 1.0), timing("x", None, 2.0)])])
    result = analyse(run)
    assert result.tests[0].critical == pytest.approx(3.0)  # placed as if in a row
    assert result.tests[0].unplaced == pytest.approx(3.0)
    assert result.unplaced_tests == 1
    assert "without a start" in overhead.format_analysis(result)


def test_timings_record_their_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(waits.time, "time", lambda: T0 + 10.0)
    recorder = waits.Timings()
    recorder.record("snapshot-ready", 2.5, "VolumeSnapshot ns/s")
    assert recorder.items == [
        {
            "op": "snapshot-ready",
            "seconds": 2.5,
            "subject": "VolumeSnapshot ns/s",
            "start": T0 + 7.5,
        }
    ]


# ---------------------------------------------------------------- the analysis


def test_analysis_per_test_area_and_run() -> None:
    result = analyse(sample())
    a, parallel, clone = result.tests
    assert a.critical == pytest.approx(9.0)  # 1 + 3 + 2 + 3
    assert a.overhead == pytest.approx(3.0)
    assert a.ratio == pytest.approx(3.0 / 9.0)
    assert a.inside == pytest.approx(2.0)  # span 0..11 less 9
    assert a.outside == pytest.approx(1.0)  # wall 12 less span 11
    assert parallel.critical == pytest.approx(6.0)  # overlapping restores count once
    assert parallel.overhead == pytest.approx(4.0)
    assert clone.overhead == pytest.approx(1.0)
    restore = next(x for x in result.areas if x.name == "restore")
    assert (restore.tests, restore.wall, restore.critical) == (2, 22.0, pytest.approx(15.0))
    assert result.total.wall == pytest.approx(27.0)
    assert result.total.ratio == pytest.approx(8.0 / 19.0)
    assert not result.meets_target()
    # the run's own clock: union of every test's operations against start..end
    assert result.run_critical == pytest.approx(19.0)
    assert result.run_wall == pytest.approx(40.0)
    assert result.run_head == pytest.approx(1.0)  # run.start is T0 - 1
    assert result.run_tail == pytest.approx(10.0)  # the last wait ends at T0 + 29
    assert not result.run_meets_target()
    ops = {o.op: o for o in result.ops}
    assert (ops["restore-bound"].count, ops["restore-bound"].seconds) == (3, 12.5)
    assert result.ops[0].op == "restore-bound"  # most seconds first


def test_the_target_is_overhead_at_most_ten_percent() -> None:
    run = results([record("t::fast", 10.5, [timing("pvc-bound", 0.0, 10.0)])])
    result = analyse(run)
    assert result.total.ratio == pytest.approx(0.05)
    assert result.meets_target()
    assert "meets the target of <= 10%" in overhead.format_analysis(result)
    assert result.run_meets_target() is False  # 40 s of run clock for 10 s of work


def test_a_test_without_operations_is_all_overhead() -> None:
    result = analyse(results([record("t::skip", 0.2, [])]))
    assert result.tests[0].critical == 0.0
    assert result.tests[0].ratio is None
    assert "n/a" in overhead.format_analysis(result)


def test_parallel_workers_are_judged_on_the_run_clock() -> None:
    both = [
        record("t::w0", 10.0, [timing("pvc-bound", 0.0, 9.0)]),
        record("t::w1", 10.0, [timing("pvc-bound", 0.5, 9.0)]),
    ]
    result = analyse(results(both, wall=11.0, workers=2))
    assert result.total.wall == pytest.approx(20.0)
    assert result.run_critical == pytest.approx(9.5)
    assert result.run_ratio == pytest.approx(1.5 / 9.5)
    assert result.to_dict()["run"]["ratio"] == pytest.approx(1.5 / 9.5)


# ---------------------------------------------------------------- the object record


def objects() -> list[ObjectTimes]:
    pod = ObjectTimes("Pod", "writer-1", NS, created=T0 + 1.0, started=T0 + 3.0)
    pod.finished, pod.ready_seen, pod.deleted, pod.gone_seen = T0 + 4, T0 + 4.4, T0 + 4.5, T0 + 4.6
    return [
        ObjectTimes("PersistentVolumeClaim", "pvc-1", NS, created=T0 - 0.4, ready_seen=T0 + 0.9),
        pod,
        ObjectTimes("VolumeSnapshot", "snap-1", NS, created=T0 + 5.0, ready_seen=T0 + 6.9),
        ObjectTimes("Namespace", NS, None, created=T0 - 1, deleted=T0 + 8.0, gone_seen=T0 + 11.0),
        ObjectTimes("PersistentVolume", "pv-1", ref_namespace=NS, deleted=T0 + 8, gone_seen=T0 + 9),
        ObjectTimes("PersistentVolumeClaim", "other", "elsewhere", created=T0, ready_seen=T0 + 50),
    ]


def test_object_intervals() -> None:
    pvc, pod, _, namespace, pv, _ = objects()
    assert pvc.intervals() == [(T0 - 0.4, T0 + 0.9)]
    assert pod.intervals() == [(T0 + 1.0, T0 + 4.0), (T0 + 4.5, T0 + 4.6)]  # to finishedAt
    assert namespace.intervals() == [(T0 + 8.0, T0 + 11.0)]  # only its going away
    assert pv.home == NS
    assert pvc.key == f"PersistentVolumeClaim {NS}/pvc-1"
    assert namespace.key == f"Namespace {NS}"


def test_cross_check_against_the_objects() -> None:
    result = analyse(sample(), objects())
    a = result.tests[0]
    # the object side of test_a: -0.4..0.9, 1..4.0, 4.5..4.6, 5..6.9, 8..11 (other ns left out)
    assert a.object_critical == pytest.approx(1.3 + 3.0 + 0.1 + 1.9 + 3.0)
    assert result.tests[1].object_critical is None  # none of its namespaces were watched
    ops = {o.op: o for o in result.ops}
    assert ops["pvc-bound"].start_lag == [pytest.approx(0.4)]
    assert ops["pvc-bound"].end_lag == [pytest.approx(0.1)]
    assert ops["pod-writer"].container == [pytest.approx(1.0)]
    assert ops["pod-writer"].cluster == [pytest.approx(3.4)]
    assert ops["cleanup"].start_lag == [pytest.approx(0.0)]  # namespace deletionTimestamp
    assert ops["cleanup"].end_lag == [pytest.approx(0.0)]
    assert all(o.disagreements == 0 for o in result.ops)
    # the wait (5..7) ended 3 s before the watch saw the snapshot ready: they disagree
    early = [ObjectTimes("VolumeSnapshot", "snap-1", NS, created=T0 + 5, ready_seen=T0 + 10)]
    assert {o.op: o for o in analyse(sample(), early).ops}["snapshot-ready"].disagreements == 1
    # the namespace wait (8..11) went on 3 s after the watch saw the namespace gone
    gone = [ObjectTimes("Namespace", NS, deleted=T0 + 1, gone_seen=T0 + 8)]
    assert {o.op: o for o in analyse(sample(), gone).ops}["cleanup"].disagreements == 1
    # a wait that began after the object had gone (the harness was busy) and ended at once
    # agrees: its end lag is large, but it never waited for what was done
    pv = "PersistentVolume pv-9"
    busy = results([record("t::busy", 2.0, [timing("cleanup", 1.5, 0.01, pv)])])
    seen = [ObjectTimes("PersistentVolume", "pv-9", deleted=T0, gone_seen=T0 + 0.2)]
    cleanup = analyse(busy, seen).ops[0]
    assert cleanup.end_lag == [pytest.approx(1.31)]
    assert cleanup.disagreements == 0
    assert "object watch: 6 objects" in overhead.format_analysis(result)


def test_object_watch_folds_events() -> None:
    clock = iter([T0 + 1, T0 + 2, T0 + 3, T0 + 4, T0 + 5])
    watch = ObjectWatch(None, "sc-20270115-080000-abcd", clock=lambda: next(clock))
    pvc: dict[str, Any] = {
        "metadata": {
            "name": "pvc-1", "namespace": NS, "uid": "u1", "creationTimestamp": iso(T0),
        },
        "status": {"phase": "Pending"},
    }  # fmt: skip
    watch.see("PersistentVolumeClaim", "ADDED", pvc)
    watch.see("PersistentVolumeClaim", "MODIFIED", {**pvc, "status": {"phase": "Bound"}})
    gone = {**pvc, "metadata": {**pvc["metadata"], "deletionTimestamp": iso(T0 + 2)}}
    watch.see("PersistentVolumeClaim", "DELETED", gone)
    stranger = {"metadata": {"name": "pv-x", "uid": "u2"}, "spec": {"claimRef": {"namespace": "x"}}}
    watch.see("PersistentVolume", "ADDED", stranger)  # not the run's: ignored, no clock read
    pod = {
        "metadata": {"name": "w", "namespace": NS, "uid": "u3", "creationTimestamp": iso(T0)},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {"state": {"terminated": {"startedAt": iso(T0 + 1), "finishedAt": iso(T0 + 3)}}}
            ],
        },
    }
    watch.see("Pod", "MODIFIED", pod)
    seen = {o.kind: o for o in watch.stop()}
    assert set(seen) == {"PersistentVolumeClaim", "Pod"}
    claim = seen["PersistentVolumeClaim"]
    assert (claim.created, claim.ready_seen, claim.deleted, claim.gone_seen) == (
        pytest.approx(T0), T0 + 2, pytest.approx(T0 + 2), T0 + 3,
    )  # fmt: skip
    assert seen["Pod"].ready_seen == seen["Pod"].done_seen == T0 + 4
    assert (seen["Pod"].started, seen["Pod"].finished) == (
        pytest.approx(T0 + 1),
        pytest.approx(T0 + 3),
    )


# ---------------------------------------------------------------- the command line


def test_analyse_mode_reads_results_and_the_object_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample().save(tmp_path / "results.json")
    (tmp_path / overhead.OBJECTS_FILE).write_text(
        json.dumps({"objects": [o.__dict__ for o in objects()]}), encoding="utf-8"
    )
    assert overhead.main(["analyse", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "per area" in out
    assert "restore (2 tests)" in out
    assert "object watch" in out
    assert overhead.main(["analyse", str(tmp_path / "results.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["ratio"] == pytest.approx(8.0 / 19.0)
    assert data["objectsSeen"] == 6


def test_analyse_mode_says_what_is_wrong_with_a_bad_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "results.json").write_text("[]", encoding="utf-8")
    assert overhead.main(["analyse", str(tmp_path / "results.json")]) == 2
    assert "not a snapconf results file" in capsys.readouterr().err
    assert overhead.main(["analyse", str(tmp_path / "missing.json")]) == 2


def test_worker_counts_parse() -> None:
    assert overhead._workers("1,2,4") == [1, 2, 4]
    with pytest.raises(Exception, match="worker counts"):
        overhead._workers("0")
    args = overhead.parser().parse_args(["run"])
    assert args.workers == [1, 2, 4]


def test_gaps_name_the_waits_around_the_harness_time() -> None:
    test = sample().tests[0]  # 0..1, 1.5..4.5, 5..7, 8..11
    assert overhead.gaps(test) == [
        ("pvc-bound -> pod-writer", pytest.approx(0.5)),
        ("pod-writer -> snapshot-ready", pytest.approx(0.5)),
        ("snapshot-ready -> cleanup", pytest.approx(1.0)),
    ]
    assert overhead.gaps(sample().tests[1]) == []  # overlapping restores leave no gap
    result = analyse(sample())
    assert result.gaps[0] == ("snapshot-ready -> cleanup", 1, pytest.approx(1.0))
    assert "harness time between waits" in overhead.format_analysis(result)


def test_the_snapconf_command_of_one_measurement() -> None:
    command = overhead.snapconf_command(
        2, "sc-20270115-080000-abcd", areas=["restore", "clone"], kubeconfig="/k",
        report_dir=Path("out"), extra=["-k", "parallel"],
    )  # fmt: skip
    assert command[command.index("run") :] == [
        "run", "-n", "2", "--run-id", "sc-20270115-080000-abcd", "--report-dir", "out",
        "--kubeconfig", "/k", "--area", "restore", "--area", "clone", "--", "-k", "parallel",
    ]  # fmt: skip
