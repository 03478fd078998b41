"""The HTML conformance report: one self-contained file built from ``results.json``.

Vendors publish this file with each release, so it must stand alone: inline CSS, no
scripts, fonts, images or links to other sites, readable with JavaScript off and when
printed. This module turns ``RunResults`` into plain view data (numbers, strings, chart
geometry) and hands it to ``template.html.j2``, rendered with autoescaping on so no
recorded text (messages, YAML, logs) can inject markup. Every number shown comes from
``analysis``, so the banner and the exit code of ``snapconf run`` agree. It must not call
the cluster.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import math
import os
import re
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Final

import jinja2
import yaml

from conformance.report.analysis import (
    NO_AREA,
    OpStats,
    area_matrix,
    capability_matrix,
    counts_for_verdict,
    latency_stats,
    verdict,
    with_baseline,
)
from conformance.report.results import (
    OUTCOMES,
    RESULTS_FILE,
    ResultsLike,
    RunResults,
    TestRecord,
    redact,
    redact_argv,
    write_atomic,
)

#: The file name of the report in a run folder.
REPORT_FILE: Final = "report.html"
TEMPLATE: Final = "template.html.j2"

# Latency chart geometry (SVG user units).
CHART_WIDTH: Final = 900
CHART_LABEL: Final = 180
CHART_VALUE: Final = 230
CHART_ROW: Final = 24
CHART_BAR: Final = 14
CHART_TOP: Final = 8
CHART_AXIS: Final = 22


@dataclasses.dataclass(frozen=True)
class ChartRow:
    """One operation's bars: median (dark) inside p90 (light), a tick at max."""

    op: str
    y: float
    text_y: float
    median_w: float
    p90_w: float
    max_x: float
    label: str


@dataclasses.dataclass(frozen=True)
class Chart:
    """The latency bar chart, laid out in Python so the template only draws."""

    width: int
    height: int
    bar_x: int
    bar_h: int
    value_x: int
    axis_y: float
    ticks: list[tuple[float, str]]
    rows: list[ChartRow]


def format_seconds(value: float) -> str:
    """Durations for people: ``0.42 s``, ``12.3 s``, ``4 m 05 s``, ``1 h 02 m``."""
    if value < 10:
        return f"{value:.2f} s"
    if value < 60:
        return f"{value:.1f} s"
    whole = round(value)
    if whole < 3600:
        return f"{whole // 60} m {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} m"


def format_tick(value: float) -> str:
    """An axis label: as short as the step allows (``0 s``, ``2.5 s``, ``2 m``, ``1 h``)."""
    if value == 0:
        return "0"
    if value < 60:
        return f"{value:g} s"
    if value < 3600:
        return f"{value / 60:g} m"
    return f"{value / 3600:g} h"


def plural(count: int, noun: str) -> str:
    """``1 test``, ``2 tests``."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_time(value: str) -> str:
    """An ISO 8601 time as ``2025-06-01 10:15:02 UTC`` (naive times are taken as UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC)
    return parsed.strftime("%Y-%m-%d %H:%M:%S UTC")


def _elapsed(start: str, end: str) -> str:
    try:
        a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
        seconds = (b - a).total_seconds()
    except (ValueError, TypeError):
        return ""
    return format_seconds(seconds) if seconds >= 0 else ""


#: Axis steps in seconds, from a tenth of a second to an hour.
_STEPS: Final = (
    0.1,
    0.2,
    0.25,
    0.5,
    1,
    2,
    2.5,
    5,
    10,
    15,
    20,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
)


def _nice_step(span: float) -> float:
    """A round axis step giving about five ticks over ``span`` seconds."""
    raw = span / 5
    for step in _STEPS:
        if step >= raw:
            return step
    return 3600 * (int(raw // 3600) + 1)


def latency_chart(stats: dict[str, OpStats]) -> Chart | None:
    """Bar geometry for the latency section, or None without timings."""
    if not stats:
        return None
    top = max(s.max for s in stats.values()) or 1.0
    step = _nice_step(top)
    scale_max = step * max(1, math.ceil(top / step - 1e-9))
    span = CHART_WIDTH - CHART_LABEL - CHART_VALUE
    rows = []
    for i, s in enumerate(stats.values()):
        y = CHART_TOP + i * CHART_ROW
        rows.append(
            ChartRow(
                op=s.op,
                y=y,
                text_y=y + CHART_BAR - 3,
                median_w=round(span * s.median / scale_max, 1),
                p90_w=round(span * s.p90 / scale_max, 1),
                max_x=round(CHART_LABEL + span * s.max / scale_max, 1),
                label=f"median {format_seconds(s.median)} · max {format_seconds(s.max)}",
            )
        )
    axis_y = CHART_TOP + len(rows) * CHART_ROW
    ticks = []
    tick = 0.0
    while tick <= scale_max + 1e-9:
        ticks.append((round(CHART_LABEL + span * tick / scale_max, 1), format_tick(tick)))
        tick += step
    return Chart(
        width=CHART_WIDTH,
        height=int(axis_y + CHART_AXIS),
        bar_x=CHART_LABEL,
        bar_h=CHART_BAR,
        value_x=CHART_LABEL + span + 8,
        axis_y=axis_y,
        ticks=ticks,
        rows=rows,
    )


_ANCHOR_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
#: Characters of a nodeid kept in its anchor (a hash of the whole nodeid follows).
ANCHOR_TEXT: Final = 80


def nodeid_anchor(nodeid: str) -> str:
    """The id of a test's row in ``report.html``, the same in every run of that test.

    ``test-`` then the nodeid with everything but letters, digits, ``_ . -`` turned into
    ``-`` (shortened), then eight hex digits of its SHA-256, so two nodeids that read
    alike do not share an anchor. Allure links each result to
    ``report.html#<this>``; the test's failure entry is ``failure-`` and the same rest.
    """
    readable = _ANCHOR_UNSAFE.sub("-", nodeid).strip("-")[:ANCHOR_TEXT].rstrip("-")
    digest = hashlib.sha256(nodeid.encode("utf-8")).hexdigest()[:8]
    return f"test-{readable}-{digest}" if readable else f"test-{digest}"


def failure_anchor(nodeid: str) -> str:
    """The id of a test's entry in the failures section (``failure-...``)."""
    return "failure-" + nodeid_anchor(nodeid).removeprefix("test-")


@dataclasses.dataclass(frozen=True)
class TestRow:
    """A test in report order; ``anchor`` and ``failure_anchor`` are its stable ids.

    ``counted``: the verdict depends on it (``analysis.counts_for_verdict``).
    ``problem``: failed, errored, or a counted test skipped; problems get an entry with
    their diagnostics in the failures section.
    """

    __test__: ClassVar[bool] = False  # not a pytest test class

    index: int
    test: TestRecord
    counted: bool
    problem: bool
    regression: bool

    @property
    def anchor(self) -> str:
        """The row's id: :func:`nodeid_anchor` of the nodeid."""
        return nodeid_anchor(self.test.nodeid)

    @property
    def failure_anchor(self) -> str:
        """The failure entry's id: :func:`failure_anchor` of the nodeid."""
        return failure_anchor(self.test.nodeid)


@dataclasses.dataclass(frozen=True)
class Regression:
    """A baseline regression and the test's row now (None when it did not run)."""

    nodeid: str
    row: TestRow | None


def _row(index: int, test: TestRecord, regressed: set[str]) -> TestRow:
    counted = counts_for_verdict(test)
    return TestRow(
        index=index,
        test=test,
        counted=counted,
        problem=test.outcome in ("failed", "error") or (test.outcome == "skipped" and counted),
        regression=test.nodeid in regressed,
    )


@dataclasses.dataclass(frozen=True)
class Group:
    """The tests of one file, for the all-tests table."""

    file: str
    rows: list[TestRow]


#: Bar segments in this order (the matrix's column order).
BAR_ORDER: Final = ("passed", "failed", "error", "skipped")


def outcome_bar(counts: dict[str, int]) -> list[tuple[str, int, float]]:
    """``(outcome, count, percent of all)`` for the outcomes that occur, in bar order."""
    total = sum(counts.get(o, 0) for o in BAR_ORDER)
    if not total:
        return []
    return [(o, counts[o], round(100 * counts[o] / total, 2)) for o in BAR_ORDER if counts.get(o)]


def split_nodeid(nodeid: str) -> tuple[str, str]:
    """``("suites/test_x.py", "test_y[p]")`` of ``suites/test_x.py::test_y[p]``."""
    file, sep, rest = nodeid.partition("::")
    return (file, rest) if sep else ("", nodeid)


_BREAK_AFTER = re.compile(r"(?<=[_\-/.,])|(?=\[)")


def breakable(text: str) -> list[str]:
    """``text`` cut after ``_ - / . ,`` and before ``[``: a long test name wraps at words."""
    return [part for part in _BREAK_AFTER.split(text) if part]


def _groups(rows: list[TestRow]) -> list[Group]:
    groups: dict[str, list[TestRow]] = {}
    for row in rows:
        groups.setdefault(split_nodeid(row.test.nodeid)[0], []).append(row)
    return [Group(file, members) for file, members in groups.items()]


def _strings(value: Any) -> list[str]:
    """A recorded note or list of notes as strings (anything else as nothing)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        return [str(v) for v in value if v not in (None, "")]
    return []


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


def _dump(data: Any) -> str:
    if not data:
        return ""
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


def _view(results: RunResults) -> dict[str, Any]:
    """Everything the template shows, as plain values."""
    judged = verdict(results)
    run = results.run
    csi_driver = run.cluster.get("csiDriver") or {}
    profile = redact(run.profile)
    driver = str(
        (csi_driver.get("name") if isinstance(csi_driver, dict) else None)
        or profile.get("driver")
        or "unknown driver"
    )
    regressed = set(judged.regressions)
    ordered = sorted(results.tests, key=lambda t: t.nodeid)
    rows = [_row(i, t, regressed) for i, t in enumerate(ordered)]
    by_id = {row.test.nodeid: row for row in rows}
    matrix = area_matrix(results)
    stats = latency_stats(results)
    components = [c for c in run.cluster.get("components") or [] if isinstance(c, dict)]
    return {
        "verdict": judged,
        "driver": driver,
        "run": run,
        "date": format_time(run.start),
        "end": format_time(run.end),
        "elapsed": _elapsed(run.start, run.end),
        "kubernetes_version": run.kubernetes_version or "unknown",
        "declared": [name for name, on in results.capabilities.items() if on],
        "capabilities": capability_matrix(results),
        "areas": matrix,
        "area_totals": {o: sum(row[o] for row in matrix.values()) for o in OUTCOMES},
        "no_area": NO_AREA,
        "rows": rows,
        "groups": _groups(rows),
        "outcome_bar": outcome_bar({o: sum(row[o] for row in matrix.values()) for o in OUTCOMES}),
        "bar": outcome_bar,
        "test_name": lambda nodeid: split_nodeid(nodeid)[1],
        "breakable": breakable,
        "notes": _strings(run.cluster.get("notes")) + _strings(run.cluster.get("error")),
        "leaks": _strings(run.cluster.get("leaks")),
        "backend": " ".join(_strings(run.cluster.get("backend"))),
        # Regressions first, as in the verdict's reasons.
        "problems": sorted((r for r in rows if r.problem), key=lambda r: not r.regression),
        "regressions": [Regression(n, by_id.get(n)) for n in judged.regressions],
        "stats": list(stats.values()),
        "chart": latency_chart(stats),
        "argv": " ".join(redact_argv(run.argv)),
        "profile_yaml": _dump(profile),
        "csi_driver_yaml": _dump(csi_driver),
        "components": components,
        "component_where": any(c.get("pod") or c.get("node") for c in components),
        "first_line": _first_line,
    }


@functools.cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["seconds"] = format_seconds
    env.filters["plural"] = plural
    text = (
        resources.files(__package__ or "conformance.report")
        .joinpath(TEMPLATE)
        .read_text(encoding="utf-8")
    )
    return env.from_string(text)


def render_html(results: ResultsLike) -> str:
    """The whole report as one self-contained HTML document.

    Raises:
        ResultsError: ``results`` (model, JSON form or path) is not valid results.
    """
    return _template().render(**_view(RunResults.coerce(results)))


def build_report(run_dir: str | os.PathLike[str]) -> Path:
    """Read ``run_dir/results.json`` and (re)write ``run_dir/report.html``; return its path.

    This is ``snapconf report RUN_DIR``: a report can be rebuilt anywhere from the results
    alone, for instance after a snapconf upgrade improved the report.

    Raises:
        ResultsError: results.json is missing or bad, or the report cannot be written.
    """
    folder = Path(run_dir)
    text = render_html(RunResults.load(folder / RESULTS_FILE))
    return write_atomic(folder / REPORT_FILE, text, "report")


def write_report(
    results: ResultsLike,
    out_dir: str | os.PathLike[str],
    baseline: ResultsLike | None = None,
) -> Path:
    """Write ``out_dir/results.json`` and ``out_dir/report.html``; return the report's path.

    With a ``baseline`` (model, JSON form or path of an earlier run), the tests that passed
    there and do not pass now are stored as ``baselineRegressions`` first, so the file, the
    report and a later ``verdict(results)`` all agree without the baseline at hand.
    ``results.json`` is written before the report: if rendering fails, the run's record is
    still kept.

    Raises:
        ResultsError: the results or baseline are not valid, or a file cannot be written.
    """
    run = RunResults.coerce(results)
    if baseline is not None:
        run = with_baseline(run, baseline)
    folder = Path(out_dir)
    run.save(folder / RESULTS_FILE)
    return write_atomic(folder / REPORT_FILE, render_html(run), "report")
