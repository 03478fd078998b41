"""The verdict of a run and the numbers the report shows, computed from ``RunResults`` only.

One place decides "conformant", so the exit code of ``snapconf run``, CI gates and the
report banner never disagree: a run is conformant iff every required test passed (a
required test skipped because the profile does not declare what it needs is excused) and
no test that passed in the baseline stopped passing. This module must not write files or
call the cluster; apart from loading a baseline given by path, it is pure functions over
the model.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final

from conformance.report.results import OUTCOMES, ResultsLike, RunResults, TestRecord

#: The conformance areas in report order (DESIGN.md).
AREAS: Final = (
    "provisioning",
    "binding",
    "protection",
    "deletion",
    "restore",
    "clone",
    "group",
    "negative",
    "stress",
)
#: Area shown for a test without an ``area`` marker.
NO_AREA: Final = "(none)"
#: Skip reasons that mean "the profile does not declare what this test needs": the plugin's
#: ``requires`` skip, its skip for a profile without a WaitForFirstConsumer class (an
#: optional profile entry, so the plugin marks those tests required; its ``requires_profile``
#: skip), and the ``requires_profile`` skip for a limitation the profile declares
#: (``FSResizeFromSourceNotSupported``). Any other skip
#: of a required test makes the run not conformant.
CAPABILITY_SKIP_PREFIXES: Final = (
    "profile does not declare",
    "the profile names no",
    "the profile declares",
)


def is_capability_skip(reason: str | None) -> bool:
    """Whether a skip reason is a capability the profile does not declare."""
    if not reason:
        return False
    text = reason.strip()
    if text.startswith("Skipped: "):
        text = text.removeprefix("Skipped: ")
    return text.startswith(CAPABILITY_SKIP_PREFIXES)


def counts_for_verdict(test: TestRecord) -> bool:
    """Whether the verdict depends on this test: required, and not excused by its skip."""
    excused = test.outcome == "skipped" and is_capability_skip(test.skip_reason)
    return test.required and not excused


@dataclass(frozen=True)
class Counts:
    """How many tests ended how; ``required*`` count only tests the verdict depends on.

    ``capability_skipped`` counts skips for something the profile does not declare,
    whether or not the test was marked required.
    """

    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    error: int = 0
    required: int = 0
    required_passed: int = 0
    capability_skipped: int = 0


@dataclass(frozen=True)
class Verdict:
    """Conformant or not, and why not (empty ``reasons`` when conformant).

    ``reasons`` lists the baseline regressions first, then every other required test that
    did not pass, then what the run left behind (API objects, and on the testbed backend
    volumes and snapshots: a leaked backend volume is a driver bug a test cannot see);
    ``regressions`` holds the regressed nodeids alone.
    """

    conformant: bool
    reasons: list[str] = field(default_factory=list)
    counts: Counts = field(default_factory=Counts)
    regressions: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``CONFORMANT`` or ``NOT CONFORMANT``."""
        return "CONFORMANT" if self.conformant else "NOT CONFORMANT"


def count(tests: Iterable[TestRecord]) -> Counts:
    """Outcome counts of some tests."""
    tally = dict.fromkeys(OUTCOMES, 0)
    total = required = required_passed = capability_skipped = 0
    for test in tests:
        total += 1
        tally[test.outcome] += 1
        if test.outcome == "skipped" and is_capability_skip(test.skip_reason):
            capability_skipped += 1
        if counts_for_verdict(test):
            required += 1
            required_passed += test.outcome == "passed"
    return Counts(
        total=total,
        passed=tally["passed"],
        failed=tally["failed"],
        skipped=tally["skipped"],
        error=tally["error"],
        required=required,
        required_passed=required_passed,
        capability_skipped=capability_skipped,
    )


#: How an outcome reads in a reason ("required test errored").
_NOW: Final = {"passed": "passed", "failed": "failed", "error": "errored", "skipped": "skipped"}


def verdict(results: ResultsLike, baseline: ResultsLike | None = None) -> Verdict:
    """Apply the conformance rule to a run, comparing it with ``baseline`` when given.

    The regressions are those stored in ``results`` (``baselineRegressions``) plus those
    found against ``baseline``. Both arguments take the model, its JSON form or a path.

    Raises:
        ResultsError: either argument is not valid results.
    """
    run = RunResults.coerce(results)
    if baseline is not None:
        run = with_baseline(run, baseline)
    regressed = run.baseline_regressions
    outcome_now = {t.nodeid: t.outcome for t in run.tests}
    reasons = [
        f"regression: passed in the baseline, {_NOW.get(outcome_now.get(n, ''), 'not run')} "
        f"now: {n}"
        for n in regressed
    ]
    for test in run.tests:
        if not counts_for_verdict(test) or test.outcome == "passed" or test.nodeid in regressed:
            continue
        if test.outcome == "skipped":
            reasons.append(
                f"required test skipped ({test.skip_reason or 'no reason given'}): {test.nodeid}"
            )
        else:
            reasons.append(f"required test {_NOW[test.outcome]}: {test.nodeid}")
    leaks = run.run.cluster.get("leaks") or []
    reasons += [f"left behind by the run: {leak}" for leak in leaks if isinstance(leak, str)]
    counts = count(run.tests)
    if counts.total == 0:
        reasons.append("no test ran")
    elif counts.required_passed == 0 and not reasons:
        reasons.append("no required test ran: the profile declares nothing the tests need")
    return Verdict(conformant=not reasons, reasons=reasons, counts=counts, regressions=regressed)


@dataclass(frozen=True)
class CapabilityRow:
    """One capability: declared by the profile or not, and how its tests ended."""

    name: str
    declared: bool
    tests: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    error: int = 0

    @property
    def exercised(self) -> bool:
        """At least one test needing this capability ran to a pass or a failure.

        Skipped tests did not use the capability, and an error (setup or teardown broke)
        does not show whether the driver's feature was reached.
        """
        return self.passed + self.failed > 0


def capability_matrix(results: RunResults) -> list[CapabilityRow]:
    """Per capability (declared ones first, in profile order): declared, tests, outcomes.

    Capabilities that tests require but the profile does not mention show as not declared.
    """
    names = list(results.capabilities)
    extra = {cap for t in results.tests for cap in t.requires if cap not in results.capabilities}
    names += sorted(extra)
    rows = []
    for name in names:
        tally = count(t for t in results.tests if name in t.requires)
        rows.append(
            CapabilityRow(
                name=name,
                declared=results.capabilities.get(name, False),
                tests=tally.total,
                passed=tally.passed,
                failed=tally.failed,
                skipped=tally.skipped,
                error=tally.error,
            )
        )
    return rows


def area_matrix(results: RunResults) -> dict[str, dict[str, int]]:
    """Area → outcome → count; every outcome key present.

    Areas in report order: the known ones, then unknown ones sorted, then tests without one.
    """
    seen = {t.area or NO_AREA for t in results.tests}
    order = [a for a in AREAS if a in seen] + sorted(seen - set(AREAS) - {NO_AREA})
    order += [NO_AREA] if NO_AREA in seen else []
    matrix = {area: dict.fromkeys(OUTCOMES, 0) for area in order}
    for test in results.tests:
        matrix[test.area or NO_AREA][test.outcome] += 1
    return matrix


@dataclass(frozen=True)
class OpStats:
    """Durations (seconds) of one kind of cluster operation across the run."""

    op: str
    count: int
    median: float
    p90: float
    max: float


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile of non-empty values (p90 of 10 values is the 9th smallest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def latency_stats(results: RunResults) -> dict[str, OpStats]:
    """Per operation kind (sorted by name): count, median, p90 and max of its durations."""
    by_op: dict[str, list[float]] = {}
    for test in results.tests:
        for timing in test.timings:
            by_op.setdefault(timing.op, []).append(timing.seconds)
    return {
        op: OpStats(
            op=op,
            count=len(values),
            median=statistics.median(values),
            p90=percentile(values, 90),
            max=max(values),
        )
        for op, values in sorted(by_op.items())
    }


def with_baseline(results: RunResults, baseline: ResultsLike) -> RunResults:
    """A copy of ``results`` whose ``baseline_regressions`` add those found against ``baseline``.

    Raises:
        ResultsError: ``baseline`` is not valid results.
    """
    found = regressions(results, RunResults.coerce(baseline))
    merged = list(dict.fromkeys([*results.baseline_regressions, *found]))
    return dataclasses.replace(results, baseline_regressions=merged)


def regressions(current: RunResults, baseline: RunResults) -> list[str]:
    """Nodeids that passed in the baseline and do not pass now (missing now included)."""
    now = {t.nodeid: t.outcome for t in current.tests}
    out: list[str] = []
    for test in baseline.tests:
        passed_before = test.outcome == "passed"
        if passed_before and now.get(test.nodeid) != "passed" and test.nodeid not in out:
            out.append(test.nodeid)
    return out
