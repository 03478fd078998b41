"""bench/peer: snapconf beside the Kubernetes e2e external-storage suites, same testbed.

Why it exists: driver teams gate on ``e2e.test`` today; we claim snapconf checks more and
finishes sooner, so both run against the same cluster and driver in the same session,
alternating (e2e, then snapconf with each worker count) for several rounds so a slow
moment of the machine hits both. e2e runs with its README's invocation (``ginkgo -p
--focus … --skip … e2e.test -- -storage.testdriver=…``), focused on the snapshot and
data-source specs; snapconf runs the tests that cover the same behaviour (``MAPPING``),
or with ``--scope areas`` every test of the equivalent areas.

The mapping of e2e specs to snapconf tests is written down here, by hand, from reading
both: it is the claim of coverage, and the table it prints lets a reader check it.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from conformance.paths import data_dir, default_profile
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed import e2e as testbed_e2e
from snapconf_testbed.testbed.cluster import healthy

E2E_SKIP = r"\[Disruptive\]|\[Serial\]|\[Feature:Windows\]"
"""Disruptive and Serial as in the e2e README; Windows does not apply. The group snapshot
specs ([Feature:volumegroupsnapshot]) run: e2e.test from Kubernetes 1.37 on speaks the v1
group API the testbed serves (1.34's spoke v1beta1) and reads ``GroupSnapshotClass`` from
the driver file."""

AREAS = ("binding", "restore", "clone", "deletion", "group")
"""snapconf areas whose behaviour the focused e2e specs check (``--scope areas``)."""


def e2e_focus(driver: str) -> str:
    """The focus regex: the driver's (group) snapshottable suites and the data-source specs."""
    return (
        rf"External.Storage.*{re.escape(driver)}.*"
        r"(snapshottable|provisioning.*(data source|restoring snapshot)"
        r"|multiVolume.*(restored snapshot|its clone)|volumegroupsnapshottable)"
    )


@dataclass(frozen=True)
class Behaviour:
    """One e2e spec (an ``It`` across its test patterns) and the snapconf tests covering it."""

    spec: str
    """A regex matched against the spec's ``It`` text."""
    title: str
    snapconf: tuple[str, ...]
    """snapconf test functions (no parameters) that check the same behaviour."""
    note: str = ""


MAPPING: tuple[Behaviour, ...] = (
    Behaviour(
        r"check snapshot fields, check restore correctly works, check deletion \(ephemeral\)",
        "snapshottable: fields, restore, deletion (ephemeral source)",
        (
            "test_dynamic_snapshot_binds_one_to_one",
            "test_preprovisioned_snapshot_binds_and_restores",
            "test_restore_holds_data_at_snapshot_time",
            "test_delete_policy_removes_content_and_backend_snapshot",
            "test_retain_policy_keeps_content_and_backend_snapshot",
        ),
        "snapconf snapshots PVCs, not generic ephemeral volumes",
    ),
    Behaviour(
        r"check restore correctly works after modifying source data, check deletion \(persistent\)",
        "snapshottable: fields, point-in-time restore, deletion (persistent)",
        (
            "test_dynamic_snapshot_binds_one_to_one",
            "test_preprovisioned_snapshot_binds_and_restores",
            "test_restore_holds_data_at_snapshot_time",
            "test_delete_policy_removes_content_and_backend_snapshot",
            "test_retain_policy_keeps_content_and_backend_snapshot",
        ),
        "e2e checks the backend only through the content object; snapconf asks the driver",
    ),
    Behaviour(
        r"^should provision storage with snapshot data source( \[|$)",
        "provisioning: restore from a snapshot",
        ("test_restore_holds_data_at_snapshot_time", "test_restore_at_exact_restore_size"),
    ),
    Behaviour(
        r"snapshot data source \(ROX mode\)",
        "provisioning: restore from a snapshot, ReadOnlyMany",
        (),
        "no snapconf test: ReadOnlyMany is not a snapconf capability (hostpath skips it)",
    ),
    Behaviour(
        r"restoring snapshot to larger size pvc",
        "provisioning: restore to a larger size",
        ("test_restore_to_larger_size", "test_restored_filesystem_grows_to_larger_size"),
        "both skip the file-system growth check: FSResizeFromSourceNotSupported",
    ),
    Behaviour(
        r"^should provision storage with pvc data source( \[|$)",
        "provisioning: clone from a PVC",
        ("test_clone_holds_source_data_and_is_independent",),
    ),
    Behaviour(
        r"pvc data source \(ROX mode\)",
        "provisioning: clone, ReadOnlyMany",
        (),
        "no snapconf test: ReadOnlyMany is not a snapconf capability (hostpath skips it)",
    ),
    Behaviour(
        r"pvc data source in parallel",
        "provisioning: clones in parallel",
        ("test_parallel_clones_hold_same_data",),
    ),
    Behaviour(
        r"concurrently access the volume and restored snapshot",
        "multiVolume: source and restore used at once",
        ("test_restore_holds_data_at_snapshot_time", "test_parallel_restores_hold_same_data"),
        "snapconf reads the restore while the source is bound, not mounted by a second pod",
    ),
    Behaviour(
        r"should create snapshots for StatefulSet volumes and verify data consistency",
        "volumegroupsnapshottable: group of a StatefulSet's claims, restore, data (dynamic and "
        "pre-provisioned, delete and retain)",
        (
            "test_group_snapshot_binds_one_member_per_claim",
            "test_group_members_restore_their_own_data_of_one_moment",
            "test_preprovisioned_group_snapshot_binds_and_becomes_ready",
            "test_delete_policy_group_removes_members_and_backend",
            "test_retain_policy_group_keeps_contents_and_backend",
        ),
        "e2e compares each restore with the data written before the cut; snapconf also "
        "writes after it and proves each member holds its own claim's data of the cut",
    ),
    Behaviour(
        r"concurrently access the volume and its clone",
        "multiVolume: source and clone used at once",
        ("test_clone_holds_source_data_and_is_independent",),
        "snapconf writes to the clone after cloning and checks the source is unchanged",
    ),
)


def mapped_tests(mapping: Iterable[Behaviour] = MAPPING) -> list[str]:
    """Every snapconf test function some e2e spec maps to, in first-seen order."""
    return list(dict.fromkeys(name for b in mapping for name in b.snapconf))


def behaviour_of(it_text: str, mapping: Iterable[Behaviour] = MAPPING) -> Behaviour | None:
    for behaviour in mapping:
        if re.search(behaviour.spec, it_text):
            return behaviour
    return None


# ---------------------------------------------------------------- results of one run


@dataclass
class Spec:
    """One spec or test of a run, as either tool reported it."""

    name: str
    outcome: str  # passed, failed, skipped
    seconds: float
    reason: str = ""
    leaf: str = ""
    """e2e only: the ``It`` text, what ``MAPPING`` matches."""


@dataclass
class Run:
    """One run of one tool: its wall time, exit status and what it ran."""

    tool: str
    round: int
    wall: float
    exit_code: int
    specs: list[Spec] = field(default_factory=list)
    workers: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for s in self.specs if s.outcome == outcome)


def e2e_specs(report: Any) -> list[Spec]:
    """Specs ginkgo attempted, from its ``--json-report``; filtered-out specs are not counted.

    A spec the focus or skip regex excluded has ``NumAttempts`` 0; one the framework skipped
    at run time (a capability the driver lacks) was attempted and carries the reason.
    """
    specs: list[Spec] = []
    for suite in report:
        for spec in suite.get("SpecReports") or []:
            if spec.get("LeafNodeType") != "It" or not spec.get("NumAttempts"):
                continue
            texts = [t for t in spec.get("ContainerHierarchyTexts") or [] if t]
            state = spec.get("State", "")
            outcome = {"passed": "passed", "skipped": "skipped"}.get(state, "failed")
            failure = spec.get("Failure") or {}
            specs.append(
                Spec(
                    name=" ".join([*texts, spec.get("LeafNodeText", "")]),
                    outcome=outcome,
                    seconds=float(spec.get("RunTime") or 0) / 1e9,
                    reason=str(failure.get("Message", "")).splitlines()[0][:200]
                    if failure.get("Message")
                    else "",
                    leaf=spec.get("LeafNodeText", ""),
                )
            )
    return specs


def snapconf_specs(results: dict[str, Any]) -> list[Spec]:
    """Tests of a snapconf run, from its ``results.json`` (errors count as failures)."""
    return [
        Spec(
            name=t["nodeid"],
            outcome="failed" if t["outcome"] == "error" else t["outcome"],
            seconds=float(t.get("duration", 0.0)),
            reason=t.get("skip_reason") or "",
        )
        for t in results.get("tests", [])
    ]


def test_function(nodeid: str) -> str:
    """``suites/test_x.py::test_y[p]`` -> ``test_y``."""
    return nodeid.rsplit("::", 1)[-1].split("[", 1)[0]


# ---------------------------------------------------------------- tables


@dataclass
class ToolSummary:
    """A tool's wall times over the rounds and its counts in the last round."""

    tool: str
    walls: list[float]
    run: int
    passed: int
    failed: int
    skipped: int

    @property
    def median(self) -> float:
        return statistics.median(self.walls)


def summarise(runs: Sequence[Run]) -> list[ToolSummary]:
    """One line per tool (snapconf once per worker count); counts from the last round."""
    by_tool: dict[str, list[Run]] = {}
    for run in runs:
        by_tool.setdefault(run.tool, []).append(run)
    out = []
    for tool, tool_runs in by_tool.items():
        last = tool_runs[-1]
        out.append(
            ToolSummary(
                tool,
                [r.wall for r in tool_runs],
                len(last.specs),
                last.count("passed"),
                last.count("failed"),
                last.count("skipped"),
            )
        )
    return out


def summary_table(summaries: Sequence[ToolSummary]) -> str:
    e2e = next((s for s in summaries if s.tool == "e2e"), None)
    lines = [
        "| tool | rounds | wall median s | min | max | run | passed | failed | skipped "
        "| ratio to e2e |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in summaries:
        ratio = f"{s.median / e2e.median:.2f}" if e2e and s.tool != "e2e" else "-"
        lines.append(
            f"| {s.tool} | {len(s.walls)} | {s.median:.0f} | {min(s.walls):.0f} | "
            f"{max(s.walls):.0f} | {s.run} | {s.passed} | {s.failed} | {s.skipped} | {ratio} |"
        )
    return "\n".join(lines)


def mapping_table(
    e2e_run: Sequence[Spec], snapconf_names: Iterable[str], mapping: Sequence[Behaviour] = MAPPING
) -> str:
    """Each e2e spec (with its outcomes over the test patterns) and the snapconf tests."""
    lines = [
        "| e2e spec | e2e outcomes (patterns) | snapconf tests | note |",
        "|---|---|---|---|",
    ]
    unmapped = sorted({s.leaf for s in e2e_run if behaviour_of(s.leaf) is None})
    for behaviour in mapping:
        mine = [s for s in e2e_run if re.search(behaviour.spec, s.leaf)]
        tally = ", ".join(
            f"{n} {o}"
            for o in ("passed", "failed", "skipped")
            if (n := sum(1 for s in mine if s.outcome == o))
        )
        tests = ", ".join(behaviour.snapconf) or "-"
        lines.append(f"| {behaviour.title} | {tally or 'not run'} | {tests} | {behaviour.note} |")
    for text in unmapped:
        lines.append(f"| {text} | ran | - | not in the mapping |")
    covered = set(mapped_tests(mapping))
    own = sorted({test_function(n) for n in snapconf_names} - covered)
    lines += ["", "snapconf tests with no e2e counterpart:", ""]
    lines += [f"- {name}" for name in own]
    return "\n".join(lines)


# ---------------------------------------------------------------- running


@dataclass
class Setup:
    """What every run of a benchmark session shares."""

    kubeconfig: Path
    testdriver: Path
    profile: Path
    out: Path
    scope: str
    bin_dir: Path
    procs: int


def driver_name(testdriver: Path) -> str:
    doc = yaml.safe_load(testdriver.read_text())
    return str(doc["DriverInfo"]["Name"])


def e2e_command(setup: Setup, out: Path) -> list[str]:
    """The e2e README's invocation, plus reports and the kubeconfig."""
    procs = [f"--procs={setup.procs}"] if setup.procs else ["-p"]
    return [
        str(setup.bin_dir / "ginkgo"),
        *procs,
        f"--focus={e2e_focus(driver_name(setup.testdriver))}",
        f"--skip={E2E_SKIP}",
        "--no-color",
        "--silence-skips",
        f"--output-dir={out}",
        "--json-report=report.json",
        "--junit-report=junit.xml",
        str(setup.bin_dir / "e2e.test"),
        "--",
        f"-storage.testdriver={setup.testdriver}",
        f"-kubeconfig={setup.kubeconfig}",
        f"-report-dir={out}",
    ]


def snapconf_command(setup: Setup, workers: int, out: Path) -> list[str]:
    argv = [
        "snapconf",
        "run",
        "--kubeconfig",
        str(setup.kubeconfig),
        "--profile",
        str(setup.profile),
        "-n",
        str(workers),
        "--report-dir",
        str(out),
    ]
    for area in AREAS:
        argv += ["--area", area]
    if setup.scope == "mapped":
        argv += ["--", "-k", " or ".join(mapped_tests())]
    return argv


def _timed(argv: list[str], log: Path) -> tuple[float, int]:
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with log.open("w") as sink:
        code = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT).returncode
    return time.monotonic() - started, code


def run_e2e(setup: Setup, round_no: int) -> Run:
    out = setup.out / f"e2e-r{round_no}"
    out.mkdir(parents=True, exist_ok=True)
    wall, code = _timed(e2e_command(setup, out), out / "ginkgo.log")
    report = out / "report.json"
    specs = e2e_specs(json.loads(report.read_text())) if report.exists() else []
    return Run("e2e", round_no, wall, code, specs)


def run_snapconf(setup: Setup, round_no: int, workers: int) -> Run:
    out = setup.out / f"snapconf-r{round_no}-n{workers}"
    wall, code = _timed(snapconf_command(setup, workers, out), out / "snapconf.log")
    results = out / "latest" / "results.json"
    specs = snapconf_specs(json.loads(results.read_text())) if results.exists() else []
    return Run(f"snapconf -n {workers}", round_no, wall, code, specs, workers)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/peer",
        description="Run the Kubernetes e2e external-storage snapshot and data-source specs "
        "and snapconf's tests of the same behaviour against the running testbed, "
        "alternating for several rounds; print wall times, counts, the snapconf/e2e ratio "
        "and the e2e spec -> snapconf test mapping. Needs `snapconf testbed up`; builds "
        "e2e.test, ginkgo and agnhost on first use (cached) and imports the e2e images.",
    )
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument(
        "--workers", default="1,2", help="snapconf worker counts per round (default 1,2)"
    )
    parser.add_argument(
        "--scope",
        choices=["mapped", "areas"],
        default="mapped",
        help="snapconf runs the tests mapped to e2e specs (default) or whole areas",
    )
    parser.add_argument("--procs", type=int, default=0, help="ginkgo processes (default: -p)")
    parser.add_argument("--kubeconfig", type=Path, help="default: the testbed's")
    parser.add_argument("--profile", type=Path, default=default_profile())
    parser.add_argument(
        "--testdriver", type=Path, default=data_dir("profiles") / "hostpath-testdriver.yaml"
    )
    parser.add_argument("--out", type=Path, help="default: reports/bench-peer-<time>")
    parser.add_argument(
        "--table-only",
        type=Path,
        metavar="PEER_JSON",
        help="print the tables of an earlier run's peer.json and exit",
    )
    args = parser.parse_args(argv)
    if args.table_only:
        return _print_saved(args.table_only)
    try:
        workers = [int(w) for w in args.workers.split(",") if w]
    except ValueError:
        parser.error(f"--workers takes numbers like 1,2, not {args.workers!r}")
    if args.rounds < 1 or not workers or min(workers) < 1:
        parser.error("--rounds and every --workers count must be at least 1")

    layout = Layout.default()
    if args.kubeconfig is None and not healthy(layout):
        sys.stderr.write("the testbed is not up; start it with: snapconf testbed up\n")
        return 2
    bin_dir = testbed_e2e.prepare(layout, say=lambda line: print(line, flush=True))
    out = args.out or Path("reports") / f"bench-peer-{time.strftime('%Y%m%d-%H%M%S')}"
    setup = Setup(
        kubeconfig=args.kubeconfig or layout.kubeconfig,
        testdriver=args.testdriver.resolve(),
        profile=args.profile.resolve(),
        out=out.resolve(),
        scope=args.scope,
        bin_dir=bin_dir,
        procs=args.procs,
    )
    runs: list[Run] = []
    for round_no in range(1, args.rounds + 1):
        runs.append(_report(run_e2e(setup, round_no)))
        for count in workers:
            runs.append(_report(run_snapconf(setup, round_no, count)))
    saved = setup.out / "peer.json"
    saved.write_text(json.dumps({"runs": [asdict(r) for r in runs]}, indent=1))
    _print_tables(runs)
    print(f"\nraw figures: {saved}")
    return 0


def _report(run: Run) -> Run:
    print(
        f"round {run.round}: {run.tool}: {run.wall:.0f}s, {len(run.specs)} run, "
        f"{run.count('passed')} passed, {run.count('failed')} failed, "
        f"{run.count('skipped')} skipped (exit {run.exit_code})",
        flush=True,
    )
    return run


def _load_runs(path: Path) -> list[Run]:
    data = json.loads(path.read_text())
    return [Run(**{**r, "specs": [Spec(**s) for s in r["specs"]]}) for r in data["runs"]]


def _print_saved(path: Path) -> int:
    _print_tables(_load_runs(path))
    return 0


def _print_tables(runs: Sequence[Run]) -> None:
    print()
    print(summary_table(summarise(runs)))
    e2e_runs = [r for r in runs if r.tool == "e2e"]
    snapconf_runs = [r for r in runs if r.tool != "e2e"]
    print()
    print(
        mapping_table(
            e2e_runs[-1].specs if e2e_runs else [],
            _all_snapconf_tests() or [s.name for r in snapconf_runs for s in r.specs],
        )
    )


def _all_snapconf_tests() -> list[str]:
    """Every test function in the suites (stress included), read from the suite files."""
    names: list[str] = []
    for path in sorted(data_dir("suites").glob("test_*.py")):
        names += re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)
    return names


if __name__ == "__main__":
    sys.exit(main())
