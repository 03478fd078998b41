"""A run's summary in Markdown, for the page a CI system shows next to a job.

Why it exists: report.html is one big file to download and open; a CI job page wants a few
lines it can render inline (GitHub's ``$GITHUB_STEP_SUMMARY``; GitLab and Jenkins through
a Markdown artifact or a merge-request comment). ``snapconf report RUN_DIR --format
markdown`` prints this summary and writes it to ``RUN_DIR/summary.md``: the verdict, an
area-by-outcome table, each failure with its one-line reason, what the run left behind, and
the regressions against a baseline. The verdict, the counts and the regressions come from
``analysis`` (the same that decide report.html and the exit status); this module only lays
them out. It must not call the cluster.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Final, TextIO

from conformance.report.analysis import (
    area_matrix,
    counts_for_verdict,
    verdict,
    with_baseline,
)
from conformance.report.publish import EXIT_BAD_INPUT
from conformance.report.results import (
    RESULTS_FILE,
    ResultsError,
    ResultsLike,
    RunResults,
    TestRecord,
    write_atomic,
)

#: The summary's file in a run folder.
SUMMARY_FILE: Final = "summary.md"
#: Columns of the area table, in this order.
COLUMNS: Final = ("passed", "failed", "skipped", "error")
#: At most this many entries a list; the rest are counted ("and 12 more").
MAX_ITEMS: Final = 50
#: A reason is cut to this many characters (a summary line, not the traceback).
MAX_REASON: Final = 200
#: Verdict reasons that the failure, leak and regression lists already show, by their start
#: (``analysis.verdict`` words them); any other reason ("no test ran") is shown as it is.
_LISTED_REASONS: Final = ("regression:", "required test ", "left behind by the run:")
#: How an outcome reads in "passed in the baseline, ... now".
_NOW: Final = {"passed": "passed", "failed": "failed", "error": "errored", "skipped": "skipped"}
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~&])")
#: What would make the start of a list item a nested list (``#`` is in ``_SPECIAL``).
_LEADING = re.compile(r"^(?:([-+])|(\d+)([.)]))")


def render_markdown(results: ResultsLike, baseline: ResultsLike | None = None) -> str:
    """The summary of a run as Markdown (GitHub-flavoured: it has a table).

    Args:
        results: the run (model, JSON form or results.json path).
        baseline: an earlier run; its tests that passed and do not pass now are listed as
            regressions, with those ``snapconf run --baseline`` stored in ``results``.

    Raises:
        ResultsError: either argument is not valid results.
    """
    run = RunResults.coerce(results)
    if baseline is not None:
        run = with_baseline(run, baseline)
    judged = verdict(run)
    c = judged.counts
    mark = "✅" if judged.conformant else "❌"
    lines = [
        f"## {mark} snapconf: {judged.label}",
        "",
        f"**{judged.label}**: {c.required_passed} of {c.required} required tests passed "
        f"({c.total} tests: {c.passed} passed, {c.failed} failed, "
        f"{c.error} {'error' if c.error == 1 else 'errors'}, {c.skipped} skipped).",
        "",
        _run_line(run),
    ]
    lines += _bullets(
        "",
        [_text(r) for r in judged.reasons if not r.startswith(_LISTED_REASONS)],
    )
    lines += _area_table(run)
    lines += _failures(run)
    leaks = [x for x in run.run.cluster.get("leaks") or [] if isinstance(x, str)]
    lines += _bullets(f"### Left behind by the run ({len(leaks)})", [_text(x) for x in leaks])
    lines += _regressions(run, judged.regressions, baseline is not None)
    lines += [
        "",
        f"Every test, with its events, object YAML and logs: report.html of run "
        f"{_code(run.run.id)}.",
    ]
    return "\n".join(lines) + "\n"


def markdown_command(
    run_dir: str | os.PathLike[str],
    *,
    baseline: str | os.PathLike[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """``snapconf report RUN_DIR --format markdown [--baseline FILE]``.

    Writes ``RUN_DIR/summary.md`` and prints the same text on ``out``. Returns ``0`` when
    it was written, ``2`` (one sentence on ``err``) when the folder, its results.json or
    the baseline is missing or bad, or the summary cannot be written. As with the HTML
    report, the exit status is not the verdict: that is ``snapconf run``'s.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    folder = Path(run_dir)
    try:
        if not folder.is_dir():
            raise ResultsError(
                f"{folder}: no such run folder (snapconf run writes reports/<run-id>/)"
            )
        run = RunResults.load(folder / RESULTS_FILE)
        try:
            earlier = RunResults.load(baseline) if baseline is not None else None
        except ResultsError as error:
            raise ResultsError(f"--baseline: {error}") from error
        text = render_markdown(run, earlier)
        write_atomic(folder / SUMMARY_FILE, text, "summary")
    except ResultsError as error:
        err.write(f"snapconf: {error}\n")
        return EXIT_BAD_INPUT
    out.write(text)
    return 0


# ---------------------------------------------------------------- parts


def _run_line(run: RunResults) -> str:
    info = run.run
    csi_driver = info.cluster.get("csiDriver")
    driver = (csi_driver.get("name") if isinstance(csi_driver, dict) else None) or info.profile.get(
        "driver"
    )
    parts = [f"driver {_code(str(driver or 'unknown'))}"]
    if info.kubernetes_version:
        parts.append(f"Kubernetes {_code(info.kubernetes_version)}")
    parts.append(f"run {_code(info.id)}")
    if info.snapconf_version:
        parts.append(f"snapconf {_code(info.snapconf_version)}")
    return " · ".join(parts)


def _area_table(run: RunResults) -> list[str]:
    matrix = area_matrix(run)
    if not matrix:
        return []
    lines = [
        "",
        "| area | " + " | ".join(COLUMNS) + " |",
        "| --- | " + " | ".join("---:" for _ in COLUMNS) + " |",
    ]
    for area, counts in matrix.items():
        lines.append(f"| {_text(area)} | " + " | ".join(str(counts[o]) for o in COLUMNS) + " |")
    totals = [sum(counts[o] for counts in matrix.values()) for o in COLUMNS]
    lines.append("| **total** | " + " | ".join(f"**{n}**" for n in totals) + " |")
    return lines


def _is_problem(test: TestRecord) -> bool:
    """Failed, errored, or a skip the verdict does not excuse (report.html's problems)."""
    return test.outcome in ("failed", "error") or (
        test.outcome == "skipped" and counts_for_verdict(test)
    )


def _failures(run: RunResults) -> list[str]:
    problems = sorted((t for t in run.tests if _is_problem(t)), key=lambda t: t.nodeid)
    items = []
    for test in problems:
        note = "" if counts_for_verdict(test) else ", not required"
        items.append(f"{_code(test.nodeid)} ({test.outcome}{note}): {_text(_reason(test))}")
    return _bullets(f"### Failures ({len(problems)})", items)


def _reason(test: TestRecord) -> str:
    """One line on why a test did not pass: the failure's first line, or the skip reason."""
    if test.outcome == "skipped":
        text = test.skip_reason or "no reason given"
    elif test.diagnostics is not None:
        text = next((ln.strip() for ln in test.diagnostics.message.splitlines() if ln.strip()), "")
        text = text or "no message recorded"
    else:
        text = "no message recorded"
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1].rstrip() + "…"


def _regressions(run: RunResults, regressed: list[str], compared: bool) -> list[str]:
    if not regressed:
        return ["", "No regressions against the baseline."] if compared else []
    now = {t.nodeid: t.outcome for t in run.tests}
    items = [
        f"{_code(nodeid)}: passed in the baseline, {_NOW.get(now.get(nodeid, ''), 'not run')} now"
        for nodeid in regressed
    ]
    return _bullets(f"### Regressions against the baseline ({len(regressed)})", items)


def _bullets(title: str, items: list[str]) -> list[str]:
    """A titled list (no title: a plain list), cut at ``MAX_ITEMS``; nothing when empty."""
    if not items:
        return []
    lines = ["", title, ""] if title else [""]
    lines += [f"- {item}" for item in items[:MAX_ITEMS]]
    if len(items) > MAX_ITEMS:
        lines.append(f"- and {len(items) - MAX_ITEMS} more (see report.html)")
    return lines


# ---------------------------------------------------------------- escaping


def _text(text: str) -> str:
    """Recorded text as literal Markdown: one line, every markup character escaped."""
    escaped = _SPECIAL.sub(r"\\\1", " ".join(text.split()))
    return _LEADING.sub(lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", escaped)


def _code(text: str) -> str:
    """A code span that holds ``text`` whatever backticks it has (one line)."""
    flat = " ".join(text.split())
    longest = max((len(run) for run in re.findall(r"`+", flat)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{fence}{pad}{flat}{pad}{fence}"
