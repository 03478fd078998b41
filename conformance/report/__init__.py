"""Results of a run: ``results.json``, the verdict and the self-contained HTML report.

Nothing here calls the cluster; everything works from a run folder alone, so
``snapconf report RUN_DIR`` can rebuild a report anywhere. The pytest plugin and the
command line use only these names:

- ``write_report(results, out_dir, baseline=None) -> Path``: at the end of a run, write
  ``out_dir/results.json`` and ``out_dir/report.html`` (returns the report's path).
  ``results`` is a ``RunResults`` or its JSON form (a dict, validated here); with a
  ``baseline``, the tests that passed there and do not pass now are stored as regressions.
- ``build_report(run_dir) -> Path``: ``snapconf report RUN_DIR``; read
  ``run_dir/results.json`` and (re)write ``run_dir/report.html``.
- ``render_html(results) -> str``: the report as one HTML document, written nowhere.
- ``verdict(results, baseline=None) -> Verdict``: conformant or not and why; the exit code
  of ``snapconf run`` is ``0`` only when ``verdict(...).conformant``.
- ``write_results(results, path) -> Path`` and ``load_results(path) -> RunResults``:
  ``results.json`` alone (also ``RunResults.save`` and ``RunResults.load``).

- ``publish(results, run_dir, *, baseline=None, latest=True) -> Published``: the end of
  ``snapconf run`` on the controller: ``write_report`` plus ``<parent>/latest`` pointing at
  ``run_dir``; ``Published.verdict`` and ``Published.exit_status`` (0 or 1) are the gate.
- ``exit_status(results, baseline=None) -> int``: the gate alone, 0 only when conformant.
- ``report_command(run_dir, *, allure=False) -> int``: all of ``snapconf report RUN_DIR
  [--allure]``, messages included (0 built, 2 missing or bad results.json).
- ``markdown_command(run_dir, *, baseline=None) -> int``: ``snapconf report RUN_DIR --format
  markdown [--baseline FILE]``: print the run's summary for a CI job page and write it to
  ``run_dir/summary.md`` (0 written, 2 missing or bad input); ``render_markdown(results,
  baseline=None) -> str`` is the text alone.
- ``render_allure(run_dir) -> int``: allure's HTML from ``run_dir/allure-results`` with
  Allure 3, or a message saying how to install it (0 built, 1 no Allure 3 or it failed,
  2 no allure results). ``write_allure_environment(results, allure_results_dir)``: the
  verdict and the run as Allure's metadata (``allure_metadata(results)`` alone).
- ``nodeid_anchor(nodeid)``/``failure_anchor(nodeid)``: a test's ids in ``report.html``,
  the same in every run (Allure links each result to ``report.html#<nodeid_anchor>``).

Wherever a run is taken (``ResultsLike``), a ``RunResults``, its JSON form or the path of a
``results.json`` will do. Every problem with a file or a record is a ``ResultsError``
with a one-sentence message, fit to show the user without a traceback.
"""

from conformance.report.allure import (
    ALLURE_REPORT_DIR,
    allure_metadata,
    find_allure,
    render_allure,
    write_allure_environment,
)
from conformance.report.analysis import (
    AREAS,
    CapabilityRow,
    Counts,
    OpStats,
    Verdict,
    area_matrix,
    capability_matrix,
    counts_for_verdict,
    is_capability_skip,
    latency_stats,
    regressions,
    verdict,
    with_baseline,
)
from conformance.report.html import (
    REPORT_FILE,
    build_report,
    failure_anchor,
    nodeid_anchor,
    render_html,
    write_report,
)
from conformance.report.markdown import SUMMARY_FILE, markdown_command, render_markdown
from conformance.report.publish import (
    ALLURE_RESULTS_DIR,
    JUNIT_FILE,
    LATEST,
    Published,
    exit_status,
    publish,
    report_command,
    summary_lines,
    update_latest,
)
from conformance.report.results import (
    OUTCOMES,
    REDACTED,
    RESULTS_FILE,
    SCHEMA_VERSION,
    Diagnostics,
    EventRecord,
    LogRecord,
    ObjectDump,
    ResultsError,
    ResultsLike,
    RunInfo,
    RunResults,
    TestRecord,
    Timing,
    load_results,
    redact,
    redact_argv,
    write_results,
)

__all__ = [
    "ALLURE_REPORT_DIR",
    "ALLURE_RESULTS_DIR",
    "AREAS",
    "JUNIT_FILE",
    "LATEST",
    "OUTCOMES",
    "REDACTED",
    "REPORT_FILE",
    "RESULTS_FILE",
    "SCHEMA_VERSION",
    "SUMMARY_FILE",
    "CapabilityRow",
    "Counts",
    "Diagnostics",
    "EventRecord",
    "LogRecord",
    "ObjectDump",
    "OpStats",
    "Published",
    "ResultsError",
    "ResultsLike",
    "RunInfo",
    "RunResults",
    "TestRecord",
    "Timing",
    "Verdict",
    "allure_metadata",
    "area_matrix",
    "build_report",
    "capability_matrix",
    "counts_for_verdict",
    "exit_status",
    "failure_anchor",
    "find_allure",
    "is_capability_skip",
    "latency_stats",
    "load_results",
    "markdown_command",
    "nodeid_anchor",
    "publish",
    "redact",
    "redact_argv",
    "regressions",
    "render_allure",
    "render_html",
    "render_markdown",
    "report_command",
    "summary_lines",
    "update_latest",
    "verdict",
    "with_baseline",
    "write_allure_environment",
    "write_report",
    "write_results",
]
