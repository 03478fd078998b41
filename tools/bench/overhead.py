"""How much of a conformance run is the harness, not the cluster: ``bench/overhead``.

Why it exists: a run is only as fast as the cluster lets it be (PVCs bind, snapshots get
cut, pods write and read data, objects go away); everything else in a test's wall time
(pytest, fixtures, rendering, API round trips, cleanup bookkeeping, sleeps) is harness
overhead. Issue 8 sets a target: overhead <= 10 % of the critical path. This benchmark
measures it, per test, per area and for the run, so a slow harness change shows up as a
number instead of a feeling.

The critical path of a test is the *union* of its awaited operations' intervals
(``Timing.start`` .. ``start + seconds`` in results.json), so operations that overlap
(parallel restores) count once. ``overhead = test wall - critical path`` and the ratio is
``overhead / critical path``. Timings without a start (results written before starts were
recorded) cannot be placed; they are added as if they never overlapped, and the analysis
says so.

``run`` mode also watches the run's objects while the run goes (``creationTimestamp``,
``deletionTimestamp``, snapshot ``status.creationTime``, container ``startedAt`` /
``finishedAt`` and the times the watch saw them bound, ready, finished or gone) and saves
them next to results.json as ``bench-overhead-objects.json``; ``analyse`` cross-checks the
harness's own timings against them. The objects' timestamps have 1 s resolution, so the
cross-check flags only differences above :data:`CROSSCHECK_SLACK`.

Modes::

    bench/overhead analyse reports/<run-id>/results.json [--objects FILE] [--json]
    bench/overhead run [--workers 1,2,4] [--area restore] [--kubeconfig K]

``analyse`` is pure (no cluster) and unit-tested; ``run`` runs ``snapconf run -n N`` for
each worker count, one after the other, and prints each run's wall time and analysis.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from conformance.kube import Kube
from conformance.report.results import ResultsError, RunResults, TestRecord, Timing
from conformance.resources import new_run_id

#: The overhead the project aims for, as a share of the critical path.
TARGET: Final = 0.10
#: Object timestamps have 1 s resolution; differences below this are not reported.
CROSSCHECK_SLACK: Final = 2.0
#: The file ``run`` writes next to results.json with what the object watch saw.
OBJECTS_FILE: Final = "bench-overhead-objects.json"
_GAP_ROWS: Final = 10

Interval = tuple[float, float]

#: Ops whose wait starts right after the harness created the subject (start ~ creation).
_CREATE_OPS: Final = ("-bound", "-ready", "pod-writer", "pod-reader", "pod-capacity", "pod-running")
#: Ops that wait for the subject to be gone (end ~ the watch's DELETED event).
_DELETE_OPS: Final = ("-deleted", "cleanup")


# ---------------------------------------------------------------- intervals


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint intervals (empty ones dropped)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def union_length(intervals: Iterable[Interval]) -> float:
    """Seconds covered by at least one interval: overlapping operations count once."""
    return sum(end - start for start, end in merge(intervals))


def _interval(timing: Timing) -> Interval | None:
    if timing.start is None:
        return None
    return (timing.start, timing.start + max(0.0, timing.seconds))


def _ratio(overhead: float, critical: float) -> float | None:
    return overhead / critical if critical > 0 else None


# ---------------------------------------------------------------- the object watch's record


@dataclass
class ObjectTimes:
    """What the object watch saw of one object: its own timestamps and the watch's times.

    All times are epoch seconds. ``created``, ``deleted``, ``cut`` (a snapshot's
    ``status.creationTime``), ``started`` and ``finished`` (the first container's) come
    from the object (1 s resolution); the ``*_seen`` ones are when the watch delivered the
    change (``ready_seen``: Bound, readyToUse, or a pod Running; ``done_seen``: a pod
    Succeeded or Failed, which kubelet reports only after the volumes are torn down).
    ``ref_namespace`` is the namespace a PV's claim or a content's snapshot lives in.
    """

    kind: str
    name: str
    namespace: str | None = None
    ref_namespace: str | None = None
    created: float | None = None
    deleted: float | None = None
    cut: float | None = None
    started: float | None = None
    finished: float | None = None
    ready_seen: float | None = None
    done_seen: float | None = None
    gone_seen: float | None = None

    @property
    def key(self) -> str:
        """The subject form results.json uses (``Kind ns/name`` or ``Kind name``)."""
        return (
            f"{self.kind} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind} {self.name}"
        )

    @property
    def home(self) -> str | None:
        """The namespace the object belongs to (its own, or the one it serves)."""
        return self.namespace or self.ref_namespace

    def intervals(self) -> list[Interval]:
        """The cluster work this object stands for: coming up, and going away."""
        out: list[Interval] = []
        ready = self.done_seen or self.finished or self.ready_seen
        if self.created is not None and ready is not None and self.kind != "Namespace":
            out.append((self.created, ready))
        if self.deleted is not None and self.gone_seen is not None:
            out.append((self.deleted, self.gone_seen))
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ObjectTimes:
        """Parse one entry of :data:`OBJECTS_FILE` (unknown keys ignored)."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def load_objects(path: str | os.PathLike[str]) -> list[ObjectTimes]:
    """Read a :data:`OBJECTS_FILE`.

    Raises:
        ValueError: the file is not a JSON list of objects.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data.get("objects") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of objects")
    return [ObjectTimes.from_dict(item) for item in items if isinstance(item, dict)]


# ---------------------------------------------------------------- analysis


class _Share:
    """``overhead`` and ``ratio`` of anything with a wall time and a critical path."""

    wall: float
    critical: float

    @property
    def overhead(self) -> float:
        """Wall less critical path (negative: the timings overran the wall time)."""
        return self.wall - self.critical

    @property
    def ratio(self) -> float | None:
        """Overhead as a share of the critical path (None without a critical path)."""
        return _ratio(self.overhead, self.critical)


@dataclass
class TestOverhead(_Share):
    """One test: wall time (setup+call+teardown), critical path, and where the rest went.

    ``inside`` is harness time between the first operation's start and the last one's end
    (gaps between waits: API calls, rendering, asserts); ``outside`` is the rest of the
    wall time (pytest and fixtures before the first wait and after the last one).
    ``unplaced`` is the seconds of timings without a start, added to the critical path
    as if they never overlapped. ``object_critical`` is the critical path the object
    watch saw (None without it).
    """

    __test__ = False  # not a pytest test class

    nodeid: str
    area: str
    worker: str
    outcome: str
    wall: float
    critical: float
    inside: float
    outside: float
    unplaced: float = 0.0
    object_critical: float | None = None


@dataclass
class Totals(_Share):
    """Sums over a group of tests (an area, the run)."""

    name: str
    tests: int = 0
    wall: float = 0.0
    critical: float = 0.0
    inside: float = 0.0
    outside: float = 0.0

    def add(self, test: TestOverhead) -> None:
        """Count one more test in."""
        self.tests += 1
        self.wall += test.wall
        self.critical += test.critical
        self.inside += test.inside
        self.outside += test.outside


@dataclass
class OpStats:
    """One op over the run: how often, how long, and the cross-check against the objects.

    ``start_lag`` is timing start less the object's own start (creationTimestamp or
    deletionTimestamp): the harness's time between asking and waiting (0..1 s from the
    timestamps' resolution alone). ``end_lag`` is timing end less when the watch saw it
    done: how late the harness noticed (large for a cleanup wait that began after the
    object had gone, while the harness waited for another one). ``late`` counts waits
    still running more than :data:`CROSSCHECK_SLACK` after the watch saw them done, or
    ending that much before: where the harness's timing and the cluster disagree.
    ``cluster`` is the object-side duration, ``container`` a pod's container run time.
    """

    op: str
    count: int = 0
    seconds: float = 0.0
    start_lag: list[float] = field(default_factory=list)
    end_lag: list[float] = field(default_factory=list)
    cluster: list[float] = field(default_factory=list)
    container: list[float] = field(default_factory=list)
    late: int = 0

    @property
    def mean(self) -> float:
        """Mean seconds of one operation."""
        return self.seconds / self.count if self.count else 0.0

    @property
    def disagreements(self) -> int:
        """Waits that disagree with the watch by more than the timestamps' resolution."""
        return self.late

    def check(self, start: float, end: float, done: float) -> None:
        """Count a wait that went on well after ``done`` (or ended well before it)."""
        self.end_lag.append(end - done)
        if end - max(start, done) > CROSSCHECK_SLACK or done - end > CROSSCHECK_SLACK:
            self.late += 1


@dataclass
class Analysis:
    """The overhead of one run, per test, per area and for the run as a whole.

    ``run_wall`` is the run's own clock (results.json ``run.start`` .. ``run.end``: pytest
    start-up, collection and session fixtures included) and ``run_critical`` the union of
    every test's operations, so it is the meaningful pair with parallel workers, where
    the tests' walls overlap and their sum exceeds the run. ``run_head`` is the time from
    the run's start to its first wait (start-up, xdist workers, collection, session
    fixtures), ``run_tail`` from its last wait to its end (session cleanup, leak check,
    results and report): fixed costs a longer run spreads thinner.
    """

    run_id: str
    workers: int
    tests: list[TestOverhead]
    areas: list[Totals]
    total: Totals
    run_wall: float
    run_critical: float
    ops: list[OpStats]
    gaps: list[tuple[str, int, float]] = field(default_factory=list)
    run_head: float | None = None
    run_tail: float | None = None
    unplaced_tests: int = 0
    objects_seen: int | None = None
    target: float = TARGET

    @property
    def run_overhead(self) -> float:
        """Run wall less the run's critical path."""
        return self.run_wall - self.run_critical

    @property
    def run_ratio(self) -> float | None:
        """The run's overhead as a share of its critical path."""
        return _ratio(self.run_overhead, self.run_critical)

    @property
    def object_critical(self) -> float | None:
        """Summed object-side critical paths (None without an object record)."""
        values = [t.object_critical for t in self.tests if t.object_critical is not None]
        return sum(values) if values else None

    def meets_target(self) -> bool:
        """Whether the tests' summed overhead is within :attr:`target`."""
        ratio = self.total.ratio
        return ratio is not None and ratio <= self.target

    def run_meets_target(self) -> bool:
        """Whether the run's wall-clock overhead is within :attr:`target`."""
        ratio = self.run_ratio
        return ratio is not None and ratio <= self.target

    def to_dict(self) -> dict[str, Any]:
        """A JSON form (``--json``)."""

        def totals(t: Totals) -> dict[str, Any]:
            return {**asdict(t), "overhead": t.overhead, "ratio": t.ratio}

        return {
            "runId": self.run_id,
            "workers": self.workers,
            "target": self.target,
            "run": {
                "wall": self.run_wall,
                "critical": self.run_critical,
                "overhead": self.run_overhead,
                "ratio": self.run_ratio,
                "head": self.run_head,
                "tail": self.run_tail,
            },
            "total": totals(self.total),
            "areas": [totals(a) for a in self.areas],
            "tests": [{**asdict(t), "overhead": t.overhead, "ratio": t.ratio} for t in self.tests],
            "ops": [
                {
                    "op": o.op,
                    "count": o.count,
                    "seconds": o.seconds,
                    "startLag": _median(o.start_lag),
                    "endLag": _median(o.end_lag),
                    "cluster": _median(o.cluster),
                    "container": _median(o.container),
                    "disagreements": o.disagreements,
                }
                for o in self.ops
            ],
            "gaps": [{"between": g, "count": n, "seconds": sec} for g, n, sec in self.gaps],
            "unplacedTests": self.unplaced_tests,
            "objectsSeen": self.objects_seen,
        }


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def _namespaces(test: TestRecord) -> set[str]:
    """The namespaces a test worked in, read off its timings' subjects (``Kind ns/name``)."""
    found = set()
    for timing in test.timings:
        _, _, ref = timing.subject.partition(" ")
        if "/" in ref and "=" not in ref:
            found.add(ref.split("/", 1)[0])
    return found


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _test_overhead(test: TestRecord, objects: Sequence[ObjectTimes] | None) -> TestOverhead:
    placed = [i for i in (_interval(t) for t in test.timings) if i is not None]
    unplaced = sum(max(0.0, t.seconds) for t in test.timings if t.start is None)
    union = union_length(placed)
    span = (max(e for _, e in placed) - min(s for s, _ in placed)) if placed else 0.0
    critical = union + unplaced
    object_critical = None
    if objects is not None:
        homes = _namespaces(test)
        if homes:
            mine = [o for o in objects if o.home in homes or o.name in homes]
            if mine:  # none seen: the watch missed the test, which says nothing about it
                object_critical = union_length(i for o in mine for i in o.intervals())
    return TestOverhead(
        nodeid=test.nodeid,
        area=test.area or "(none)",
        worker=test.worker,
        outcome=test.outcome,
        wall=test.duration,
        critical=critical,
        inside=span - union,
        outside=test.duration - span - unplaced,
        unplaced=unplaced,
        object_critical=object_critical,
    )


def gaps(test: TestRecord) -> list[tuple[str, float]]:
    """The harness's time between one test's waits, as ``("op before -> op after", s)``.

    Walks the waits in start order; a gap is time no wait covers, named after the wait
    that ended last before it and the one that ends it. This is where per-test overhead
    inside the test body goes (rendering, creates, gets, asserts, cleanup bookkeeping).
    """
    placed = sorted((t for t in test.timings if t.start is not None), key=lambda t: t.start or 0)
    out: list[tuple[str, float]] = []
    covered: float | None = None
    last = ""
    for timing in placed:
        start = timing.start or 0.0
        end = start + max(0.0, timing.seconds)
        if covered is not None and start > covered:
            out.append((f"{last} -> {timing.op}", start - covered))
        if covered is None or end >= covered:
            covered, last = end, timing.op
    return out


def _op_stats(tests: Sequence[TestRecord], objects: Sequence[ObjectTimes] | None) -> list[OpStats]:
    by_key = {o.key: o for o in objects or ()}
    stats: dict[str, OpStats] = {}
    for test in tests:
        for timing in test.timings:
            entry = stats.setdefault(timing.op, OpStats(timing.op))
            entry.count += 1
            entry.seconds += timing.seconds
            obj = by_key.get(timing.subject)
            if obj is None or timing.start is None:
                continue
            end = timing.start + timing.seconds
            if timing.op.endswith(_DELETE_OPS):
                if obj.deleted is not None:
                    entry.start_lag.append(timing.start - obj.deleted)
                if obj.gone_seen is not None:
                    entry.check(timing.start, end, obj.gone_seen)
                if obj.deleted is not None and obj.gone_seen is not None:
                    entry.cluster.append(obj.gone_seen - obj.deleted)
            elif timing.op.endswith(_CREATE_OPS) or timing.op.startswith("pod-"):
                done = obj.ready_seen
                if timing.op != "pod-running":  # one-shot pods: done when Succeeded
                    done = obj.done_seen or done
                if obj.created is not None:
                    entry.start_lag.append(timing.start - obj.created)
                if done is not None:
                    entry.check(timing.start, end, done)
                if obj.created is not None and done is not None:
                    entry.cluster.append(done - obj.created)
                if obj.started is not None and obj.finished is not None:
                    entry.container.append(obj.finished - obj.started)
    return sorted(stats.values(), key=lambda s: -s.seconds)


def analyse(
    results: RunResults | Mapping[str, Any] | str | os.PathLike[str],
    objects: Sequence[ObjectTimes] | None = None,
    *,
    target: float = TARGET,
) -> Analysis:
    """The harness overhead of a run from its results (and, optionally, the object watch).

    Skipped tests count with their (small) wall time and no critical path: the time a
    skip costs is harness time too.

    Raises:
        ResultsError: ``results`` is not valid results.
    """
    run = RunResults.coerce(results)
    tests = [_test_overhead(t, objects) for t in run.tests]
    total = Totals("run")
    areas: dict[str, Totals] = {}
    for test in tests:
        total.add(test)
        areas.setdefault(test.area, Totals(test.area)).add(test)
    every = [i for t in run.tests for i in (_interval(x) for x in t.timings) if i is not None]
    unplaced = sum(max(0.0, x.seconds) for t in run.tests for x in t.timings if x.start is None)
    between: dict[str, list[float]] = {}
    for record in run.tests:
        for name, seconds in gaps(record):
            between.setdefault(name, []).append(seconds)
    head = tail = None
    try:
        began, ended = _epoch(run.run.start), _epoch(run.run.end)
    except ValueError:
        began = ended = 0.0
    run_wall = max(0.0, ended - began)
    if every and run_wall:
        head = min(s for s, _ in every) - began
        tail = ended - max(e for _, e in every)
    return Analysis(
        run_id=run.run.id,
        workers=run.run.workers,
        tests=tests,
        areas=sorted(areas.values(), key=lambda a: a.name),
        total=total,
        run_wall=run_wall,
        run_critical=union_length(every) + unplaced,
        run_head=head,
        run_tail=tail,
        ops=_op_stats(run.tests, objects),
        gaps=sorted(
            ((name, len(values), sum(values)) for name, values in between.items()),
            key=lambda g: -g[2],
        ),
        unplaced_tests=sum(1 for t in tests if t.unplaced > 0),
        objects_seen=None if objects is None else len(objects),
        target=target,
    )


# ---------------------------------------------------------------- text


def _pct(ratio: float | None) -> str:
    return "   n/a" if ratio is None else f"{ratio * 100:5.1f}%"


def _s(value: float | None) -> str:
    return "    -" if value is None else f"{value:6.1f}"


def _short(nodeid: str, width: int = 60) -> str:
    name = nodeid.rsplit("/", 1)[-1]
    return name if len(name) <= width else name[: width - 1] + "~"


def format_analysis(analysis: Analysis, *, per_test: bool = True) -> str:
    """The analysis as text tables: tests, areas, run, ops with their cross-check."""
    a = analysis
    lines = [f"run {a.run_id} ({a.workers} worker{'s' if a.workers != 1 else ''})"]
    head = f"  {'':60} {'wall':>6} {'crit':>6} {'ovh':>6} {'ratio':>6} {'gaps':>6} {'fixt':>6}"
    if a.objects_seen is not None:
        head += f" {'obj':>6}"
    if per_test:
        lines += ["", "per test (seconds; gaps: between waits, fixt: before/after them)", head]
        for t in a.tests:
            row = (
                f"  {_short(t.nodeid):60} {_s(t.wall)} {_s(t.critical)} {_s(t.overhead)} "
                f"{_pct(t.ratio)} {_s(t.inside)} {_s(t.outside)}"
            )
            if a.objects_seen is not None:
                row += f" {_s(t.object_critical)}"
            lines.append(row + ("" if t.outcome == "passed" else f"  [{t.outcome}]"))
    lines += ["", "per area", head.replace(" " * 60, f"{'':60}", 1)]
    for group in [*a.areas, a.total]:
        label = (
            f"{group.name} ({group.tests} tests)"
            if group is not a.total
            else f"all tests, summed ({group.tests})"
        )
        lines.append(
            f"  {label:60} {_s(group.wall)} {_s(group.critical)} {_s(group.overhead)} "
            f"{_pct(group.ratio)} {_s(group.inside)} {_s(group.outside)}"
        )
    lines.append(
        f"  {'run wall clock (start-up, collection, session cleanup in)':60} "
        f"{_s(a.run_wall)} {_s(a.run_critical)} {_s(a.run_overhead)} {_pct(a.run_ratio)}"
    )
    if a.run_head is not None and a.run_tail is not None:
        lines.append(
            f"  {'':60} before the first wait {a.run_head:.1f} s, after the last {a.run_tail:.1f} s"
        )
    if a.objects_seen is not None:
        obj = a.object_critical
        lines.append(
            f"  object watch: {a.objects_seen} objects, summed critical path "
            f"{_s(obj).strip()} s (timings: {a.total.critical:.1f} s)"
        )
    lines += [
        "",
        "ops (total seconds; lags vs the objects' own timestamps, medians: start = "
        "wait start - creation/deletion, end = wait end - watch saw it)",
        f"  {'op':24} {'n':>4} {'total':>7} {'mean':>6} {'start':>6} {'end':>6} "
        f"{'objs':>6} {'cont':>6} {'off':>4}",
    ]
    for o in a.ops:
        lines.append(
            f"  {o.op:24} {o.count:4d} {o.seconds:7.1f} {o.mean:6.2f} {_s(_median(o.start_lag))} "
            f"{_s(_median(o.end_lag))} {_s(_median(o.cluster))} {_s(_median(o.container))} "
            f"{o.disagreements:4d}"
        )
    if a.gaps:
        lines += ["", "harness time between waits (the largest; seconds summed over the tests)"]
        lines += [f"  {name:50} {n:4d} x {sec:6.2f}" for name, n, sec in a.gaps[:_GAP_ROWS]]
    if a.unplaced_tests:
        lines.append(
            f"\nnote: {a.unplaced_tests} tests have timings without a start (older results): "
            "their critical path assumes the operations never overlapped"
        )

    def verdict(ok: bool) -> str:
        return "meets" if ok else "misses"

    lines.append(
        f"\noverhead {_pct(a.total.ratio).strip()} of the critical path, tests summed "
        f"({verdict(a.meets_target())} the target of <= {a.target * 100:.0f}%); "
        f"{_pct(a.run_ratio).strip()} on the run's wall clock ({verdict(a.run_meets_target())})"
    )
    return "\n".join(lines)


# ---------------------------------------------------------------- the object watch


def _ts(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return _epoch(value)
    except ValueError:
        return None


def _done(kind: str, obj: Mapping[str, Any]) -> bool:
    status = obj.get("status") or {}
    if kind in ("PersistentVolumeClaim", "PersistentVolume"):
        return bool(status.get("phase") == "Bound")
    if kind in ("VolumeSnapshot", "VolumeSnapshotContent"):
        return status.get("readyToUse") is True
    if kind == "Pod":
        return status.get("phase") in ("Running", "Succeeded", "Failed")
    return kind == "Namespace"


class ObjectWatch:
    """Watches a run's objects while it runs and keeps their timestamps.

    Labelled kinds (namespaces, PVCs, snapshots, pods) are watched by the run label;
    PVs and snapshot contents carry no label, so they are watched whole and kept when
    they point into one of the run's namespaces (their names hold the run id).
    One thread a kind; the threads are daemons and end at the next event or server
    timeout after :meth:`stop`.
    """

    LABELLED: Final = ("Namespace", "PersistentVolumeClaim", "VolumeSnapshot", "Pod")
    UNLABELLED: Final = ("PersistentVolume", "VolumeSnapshotContent")

    def __init__(self, kube: Any, run_id: str, *, clock: Any = time.time) -> None:
        self.kube = kube
        self.run_id = run_id
        self.clock = clock
        self.objects: dict[tuple[str, str | None, str, str], ObjectTimes] = {}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start one watching thread a kind."""
        for kind in (*self.LABELLED, *self.UNLABELLED):
            thread = threading.Thread(target=self._loop, args=(kind,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> list[ObjectTimes]:
        """Stop watching (threads end on their own) and return what was seen."""
        self._stop.set()
        with self._lock:
            return list(self.objects.values())

    def _selector(self, kind: str) -> str | None:
        return f"snapconf.io/run={self.run_id}" if kind in self.LABELLED else None

    def _loop(self, kind: str) -> None:
        selector = self._selector(kind)
        while not self._stop.is_set():
            try:
                items, version = self.kube.list(kind, None, label_selector=selector)
                for item in items:
                    self.see(kind, "ADDED", item)
                for etype, obj in self.kube.watch(
                    kind, None, resource_version=version, label_selector=selector,
                    timeout_seconds=30,
                ):  # fmt: skip
                    if self._stop.is_set():
                        return
                    if etype != "BOOKMARK":
                        self.see(kind, etype, obj)
            except Exception as err:  # a benchmark keeps watching, whatever went wrong
                with self._lock:
                    self.errors.append(f"{kind}: {err}")
                self._stop.wait(1.0)

    def see(self, kind: str, etype: str, obj: Mapping[str, Any]) -> None:
        """Fold one watch event into the record (public for the unit tests)."""
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        ref = spec.get("claimRef") or spec.get("volumeSnapshotRef") or {}
        ref_ns = ref.get("namespace")
        if kind in self.UNLABELLED and self.run_id not in str(ref_ns or ""):
            return
        now = self.clock()
        key = (kind, meta.get("namespace"), str(meta.get("name")), str(meta.get("uid")))
        with self._lock:
            entry = self.objects.get(key)
            if entry is None:
                entry = ObjectTimes(
                    kind=kind, name=str(meta.get("name")), namespace=meta.get("namespace"),
                    ref_namespace=ref_ns, created=_ts(meta.get("creationTimestamp")),
                )  # fmt: skip
                self.objects[key] = entry
            entry.deleted = entry.deleted or _ts(meta.get("deletionTimestamp"))
            status = obj.get("status") or {}
            entry.cut = entry.cut or _ts(status.get("creationTime"))
            for container in status.get("containerStatuses") or []:
                state = container.get("state") or {}
                running = state.get("running") or {}
                done = state.get("terminated") or {}
                entry.started = entry.started or _ts(
                    running.get("startedAt") or done.get("startedAt")
                )
                entry.finished = entry.finished or _ts(done.get("finishedAt"))
                break
            if etype == "DELETED":
                entry.gone_seen = entry.gone_seen or now
                return
            if entry.ready_seen is None and _done(kind, obj):
                entry.ready_seen = now
            if entry.done_seen is None and status.get("phase") in ("Succeeded", "Failed"):
                entry.done_seen = now


# ---------------------------------------------------------------- run mode


def _snapconf() -> list[str]:
    found = shutil.which("snapconf")
    return [found] if found else [sys.executable, "-m", "conformance.cli"]


def snapconf_command(
    workers: int,
    run_id: str,
    *,
    areas: Sequence[str] = (),
    kubeconfig: str | None = None,
    report_dir: Path = Path("reports"),
    extra: Sequence[str] = (),
) -> list[str]:
    """The ``snapconf run`` command line of one measurement.

    The run id is chosen here, not by snapconf, so the object watch can select the run's
    objects by label before the first one exists.
    """
    command = [*_snapconf(), "run", "-n", str(workers), "--run-id", run_id]
    command += ["--report-dir", str(report_dir)]
    if kubeconfig:
        command += ["--kubeconfig", kubeconfig]
    for area in areas:
        command += ["--area", area]
    if extra:
        command += ["--", *extra]  # pytest's, as `snapconf run ... -- ARGS` takes them
    return command


def run_once(
    workers: int,
    *,
    areas: Sequence[str],
    kubeconfig: str | None,
    report_dir: Path,
    extra: Sequence[str] = (),
    watch: bool = True,
) -> tuple[float, int, Path, list[ObjectTimes] | None]:
    """One ``snapconf run -n WORKERS``: wall seconds, exit status, results path, objects."""
    run_id = new_run_id()
    command = snapconf_command(
        workers, run_id, areas=areas, kubeconfig=kubeconfig, report_dir=report_dir, extra=extra
    )
    watcher = None
    if watch:
        watcher = ObjectWatch(Kube(kubeconfig), run_id)
        watcher.start()
    print(f"$ {' '.join(command)}", flush=True)
    began = time.monotonic()
    status = subprocess.call(command)
    wall = time.monotonic() - began
    objects = watcher.stop() if watcher else None
    results = report_dir / run_id / "results.json"
    if objects is not None and results.parent.is_dir():
        (results.parent / OBJECTS_FILE).write_text(
            json.dumps({"runId": run_id, "objects": [asdict(o) for o in objects]}, indent=1),
            encoding="utf-8",
        )
    if watcher and watcher.errors:
        print(f"object watch: {len(watcher.errors)} errors, first: {watcher.errors[0]}")
    return wall, status, results, objects


def _workers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r}") from err
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"worker counts must be >= 1: {text!r}")
    return values


def parser() -> argparse.ArgumentParser:
    """The command line of ``bench/overhead``."""
    p = argparse.ArgumentParser(
        prog="bench/overhead",
        description=(
            "Harness overhead of a snapconf run: each test's wall time (setup+call+teardown) "
            "against the critical path of its cluster operations (the union of the awaited "
            f"operations' intervals; overlaps count once). Target: overhead <= {TARGET:.0%} "
            "of the critical path."
        ),
    )
    sub = p.add_subparsers(dest="mode", required=True)
    a = sub.add_parser("analyse", help="analyse a results.json (no cluster)")
    a.add_argument("results", help="results.json of a run (or its run folder)")
    a.add_argument(
        "--objects",
        help=f"object watch record (default: {OBJECTS_FILE} next to results.json, if there)",
    )
    a.add_argument("--json", action="store_true", help="print the analysis as JSON")
    a.add_argument("--no-tests", action="store_true", help="leave out the per-test table")
    r = sub.add_parser("run", help="run snapconf -n N for each worker count and analyse each")
    r.add_argument(
        "--workers", type=_workers, default=[1, 2, 4], help="worker counts (default 1,2,4)"
    )
    r.add_argument("--area", action="append", default=[], help="only this area (repeatable)")
    r.add_argument("--kubeconfig", help="kubeconfig of the cluster (default: snapconf's)")
    r.add_argument("--report-dir", default="reports", help="where runs go (default: reports)")
    r.add_argument("--no-watch", action="store_true", help="do not watch the run's objects")
    r.add_argument("--no-tests", action="store_true", help="leave out the per-test tables")
    r.add_argument("pytest_args", nargs="*", help="-- then pytest arguments (e.g. -k NAME)")
    return p


def _analyse_file(results: str, objects_path: str | None) -> Analysis:
    path = Path(results)
    if path.is_dir():
        path = path / "results.json"
    objects = None
    candidate = Path(objects_path) if objects_path else path.parent / OBJECTS_FILE
    if objects_path or candidate.is_file():
        objects = load_objects(candidate)
    return analyse(path, objects)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when it ran (the target is reported, not enforced), 2 on bad input."""
    args = parser().parse_args(argv)
    if args.mode == "analyse":
        try:
            analysis = _analyse_file(args.results, args.objects)
        except (ResultsError, ValueError, OSError) as err:
            print(f"bench/overhead: {err}", file=sys.stderr)
            return 2
        if args.json:
            print(json.dumps(analysis.to_dict(), indent=1))
        else:
            print(format_analysis(analysis, per_test=not args.no_tests))
        return 0
    summary: list[str] = []
    for workers in args.workers:
        wall, status, results, objects = run_once(
            workers,
            areas=args.area,
            kubeconfig=args.kubeconfig,
            report_dir=Path(args.report_dir),
            extra=args.pytest_args,
            watch=not args.no_watch,
        )
        print(f"\n== -n {workers}: wall {wall:.1f} s, exit status {status}")
        try:
            analysis = analyse(results, objects)
        except ResultsError as err:
            print(f"bench/overhead: {err}", file=sys.stderr)
            summary.append(f"  -n {workers}: wall {wall:7.1f} s  (no results)")
            continue
        print(format_analysis(analysis, per_test=not args.no_tests))
        summary.append(
            f"  -n {workers}: wall {wall:7.1f} s (start-up+preflight "
            f"{max(0.0, wall - analysis.run_wall):.1f} s)  run critical "
            f"{analysis.run_critical:7.1f} s  "
            f"run overhead {_pct(analysis.run_ratio)}  tests summed {_pct(analysis.total.ratio)}"
            f"  ({results.parent})"
        )
    print("\nsummary (overhead as a share of the critical path; target <= "
          f"{TARGET * 100:.0f}%)")  # fmt: skip
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
