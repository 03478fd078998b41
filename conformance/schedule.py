"""The order tests are handed to workers: the longest first.

Why: pytest-xdist hands tests out in collection order as workers free up, so a long test
collected last (a negative test's whole error window, a deletion-order test) starts when
the other worker has nothing left, and the run ends with one worker idle. Longest first
(the classic LPT rule) keeps both busy to the end. A test's length is what it took in the
last run of the same report folder (``reports/latest/results.json``); a test that run did
not have counts as long as the longest one seen (new tests are often the slow ones), and
with no earlier run the areas' typical weights decide, in a stable order.

Must not: drop or duplicate a test (only the order changes), or depend on anything but
the previous results file, so that every xdist worker computes the same order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

AREA_WEIGHT: Mapping[str, float] = {
    "group": 20.0,  # not measured yet (2026-12): two claims, a group cut, two restores
    "protection": 15.0,
    "binding": 12.0,
    "clone": 12.0,
    "restore": 11.0,
    "deletion": 10.0,
    "provisioning": 6.0,
    "negative": 4.0,
}
"""Mean seconds of a test of each area on the testbed (-n 2, 2026-12-07), used only
when no earlier run is known."""


def latest_results(report_dir: Path) -> Path:
    """``<reports>/latest/results.json`` beside a run's folder (report/publish.py's layout)."""
    return report_dir.parent / "latest" / "results.json"


def previous_durations(results_file: Path) -> dict[str, float]:
    """Each test's duration in an earlier ``results.json`` (empty if there is none)."""
    try:
        data = json.loads(results_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    tests = data.get("tests") if isinstance(data, dict) else None
    durations: dict[str, float] = {}
    for test in tests if isinstance(tests, list) else []:
        if (
            isinstance(test, dict)
            and isinstance(test.get("duration"), int | float)
            and test.get("outcome") in ("passed", "failed")
        ):
            durations[str(test.get("nodeid"))] = float(test["duration"])
    return durations


def longest_first(
    items: Sequence[T],
    nodeid: Mapping[int, str],
    area: Mapping[int, str],
    durations: Mapping[str, float],
) -> list[T]:
    """``items`` sorted by expected length, longest first; ties keep collection order.

    Args:
        items: the collected tests.
        nodeid: each item's node id, by its index in ``items``.
        area: each item's area, by index ("" when it has none).
        durations: the previous run's durations by node id.
    """
    longest = max(durations.values(), default=0.0)

    def expected(index: int) -> float:
        if durations:
            return durations.get(nodeid[index], longest)
        return AREA_WEIGHT.get(area[index], 0.0)

    order = sorted(range(len(items)), key=lambda i: (-expected(i), i))
    return [items[i] for i in order]
