"""Proof that the suites fail broken drivers and pass good ones: one run per fault.

``python -m snapconf_testbed.detection [--fault NAME ...] [--subset ci]`` turns each fault of
the testbed's CSI interposer on in turn (``snapconf testbed fault set``), runs the suite
tests that can see it, and prints a table: fault, expected (detect / tolerate), the
failing tests, verdict. A fault to detect counts as detected only when a test fails with
a message naming the symptom (the ``symptom`` pattern below), never from an unrelated
timeout; a tolerance fault must fail no test. The exit status is 1 when any verdict is
wrong, 2 for bad input. It needs the testbed up (``snapconf testbed up``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from conformance.kube import Kube
from conformance.paths import data_dir, default_profile
from conformance.profile import load_profile
from conformance.resources import sweep
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed.cluster import healthy, set_faults

DETECT = "detect"
TOLERATE = "tolerate"
SHA_DIFFERS = r"restored data sha256 (differs|missing)"


@dataclass(frozen=True)
class Case:
    """One fault, what the suites must make of it, and the tests that can see it."""

    fault: str
    expect: str
    select: str  # a pytest -k expression
    symptom: str = ""  # regex a failure message must match to count as a detection


CASES: tuple[Case, ...] = (
    Case(
        "delete-group-noop",
        DETECT,
        "test_delete_policy_group_removes_members_and_backend",
        r"backend snapshot \S* ?of a member of a deleted Delete-policy group still exists",
    ),
    Case(
        "group-members-swapped",
        DETECT,
        "test_group_members_restore_their_own_data_of_one_moment and fs",
        r"holds member \S+'s data: the group cut mixed up its members|group's members are of",
    ),
    Case(
        "group-member-missing",
        DETECT,
        "test_group_snapshot_binds_one_member_per_claim and delete",
        r"member list \(volumeSnapshotInfoList\) names volumes"
        r"|member VolumeSnapshots are of claims",
    ),
    Case(
        "group-member-cut-late",
        DETECT,
        "test_group_members_restore_their_own_data_of_one_moment and fs",
        r"holds the data written after the group snapshot: the group is not a point-in-time",
    ),
    Case("restore-empty", DETECT, "test_restore_holds_data_at_snapshot_time and fs", SHA_DIFFERS),
    Case(
        "clone-empty",
        DETECT,
        "test_clone_holds_source_data_and_is_independent and fs",
        r"cloned data sha256 (differs|missing)",
    ),
    Case("restore-wrong-snapshot", DETECT, "test_restore_of_each_snapshot", SHA_DIFFERS),
    Case("snapshot-wrong-source", DETECT, "test_snapshots_of_two_volumes", SHA_DIFFERS),
    Case("restore-corrupt", DETECT, "test_restore_holds_data_at_snapshot_time and fs", SHA_DIFFERS),
    Case(
        "clone-shared",
        DETECT,
        "test_clone_holds_source_data_and_is_independent and fs",
        r"shares the source's volume handle|a write to the (clone|source) changed",
    ),
    Case(
        "delete-snapshot-noop",
        DETECT,
        "test_delete_policy_removes_content_and_backend_snapshot",
        r"backend snapshot of a deleted Delete-policy snapshot still exists",
    ),
    Case(
        "never-ready", DETECT, "test_dynamic_snapshot_binds_one_to_one and delete-fs", "readyToUse"
    ),
    Case(
        "restore-size-zero",
        DETECT,
        "test_dynamic_snapshot_binds_one_to_one and delete-fs",
        r"restoreSize is ('?0|not set)",
    ),
    Case(
        "restore-size-short",
        DETECT,
        "test_dynamic_snapshot_binds_one_to_one and delete-fs",
        r"restoreSize is smaller than the data written",
    ),
    Case(
        "capacity-short",
        DETECT,
        "test_dynamic_pvc_binds_with_class_properties and immediate-fs",
        r"capacity is smaller than the requested size|less than requested capacity",
    ),
    Case(
        "restore-larger-ignored",
        DETECT,
        "test_restore_to_larger_size and fs",
        r"restore to a larger size got a (smaller capacity|PV smaller)"
        r"|less than requested capacity",
    ),
    Case(
        "delete-volume-noop",
        DETECT,
        "test_delete_reclaim_removes_backend_volume and fs",
        r"backend volume of a deleted Delete-reclaim PVC still exists",
    ),
    Case(
        "clone-from-last-snapshot",
        DETECT,
        "test_clone_holds_source_data_at_clone_time and fs",
        r"cloned data sha256 differs from the source at clone time",
    ),
    Case(
        "clone-of-clone-from-origin",
        DETECT,
        "test_clone_of_a_clone",
        r"clone of a clone holds the original source's data",
    ),
    Case(
        "restore-from-live-volume",
        DETECT,
        "test_restore_holds_data_at_snapshot_time and fs",
        r"restored data sha256 differs from the source at snapshot time",
    ),
    Case(
        "snapshot-time-unset",
        DETECT,
        "test_dynamic_snapshot_binds_one_to_one and delete-fs",
        r"creationTime .*(missing|1970|zero)",
    ),
    Case(
        "snapshot-time-shifted",
        DETECT,
        "test_dynamic_snapshot_binds_one_to_one and delete-fs",
        r"creationTime .*in the future",
    ),
    Case(
        "list-snapshots-size-short",
        DETECT,
        "test_preprovisioned_snapshot_binds_and_restores and fs",
        r"imported snapshot.*restoreSize",
    ),
    Case(
        "list-snapshots-ignores-id",
        DETECT,
        "test_bogus_snapshot_handle_never_becomes_ready",
        r"bogus snapshotHandle became ready",
    ),
    Case(
        "transient-unavailable",
        TOLERATE,
        "(test_restore_holds_data_at_snapshot_time or test_clone_holds_source_data) and fs",
    ),
    Case(
        "slow-snapshot",
        TOLERATE,
        "test_source_pvc_deleted_while_snapshot_is_created or "
        "(test_dynamic_snapshot_binds_one_to_one and delete-fs)",
    ),
    Case(
        "slow-provision",
        TOLERATE,
        "(test_dynamic_pvc_binds_with_class_properties and immediate-fs) or "
        "(test_restore_holds_data_at_snapshot_time and fs)",
    ),
)
#: What CI runs: three faults to detect and one to tolerate.
CI_SUBSET = ("restore-corrupt", "never-ready", "capacity-short", "transient-unavailable")
#: Timeouts for the runs of faults to detect: a stalled operation fails fast, not in 2 minutes.
FAST_TIMEOUTS = {"snapshotReady": "45s", "claimProvision": "45s", "errorStatus": "20s"}


@dataclass
class Outcome:
    """What one fault's run showed."""

    case: Case
    failing: list[str]
    detected_by: list[str]
    passed: int
    seconds: float
    problem: str = ""

    @property
    def ok(self) -> bool:
        if self.problem:
            return False
        if self.case.expect == DETECT:
            return bool(self.detected_by)
        return not self.failing and self.passed > 0

    @property
    def verdict(self) -> str:
        if self.problem:
            return f"ERROR: {self.problem}"
        if self.case.expect == DETECT:
            return "detected" if self.detected_by else "MISSED"
        return "tolerated" if self.ok else "FALSE ALARM"


def fast_profile(source: Path, out: Path) -> Path:
    """The profile with shorter timeouts (snapconf format only; e2e files are converted)."""
    data = load_profile(source).to_dict()
    data.setdefault("timeouts", {}).update(FAST_TIMEOUTS)
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out


def run_case(case: Case, kubeconfig: Path, profile: Path, work: Path) -> Outcome:
    """Turn the fault on, run its tests, turn it off, read results.json."""
    layout = Layout.default()
    run_dir = work / case.fault
    started = time.monotonic()
    set_faults(layout, [case.fault], say=lambda _line: None)
    try:
        subprocess.run(
            [
                sys.executable, "-m", "pytest", str(data_dir("suites")),
                "-k", case.select, "--profile", str(profile), "--kubeconfig", str(kubeconfig),
                "--snapconf-report-dir", str(run_dir), "-p", "no:cacheprovider", "-q",
                "--no-header", "-o", "console_output_style=classic",
            ],
            check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    finally:
        set_faults(layout, [], say=lambda _line: None)
        left = clear_leftovers(kubeconfig)
    seconds = time.monotonic() - started
    results = run_dir / "results.json"
    if not results.is_file():
        return Outcome(case, [], [], 0, seconds, problem="the run wrote no results.json")
    tests = json.loads(results.read_text())["tests"]
    failing, detected, passed = [], [], 0
    for test in tests:
        if test["outcome"] == "passed":
            passed += 1
        elif test["outcome"] in ("failed", "error"):
            failing.append(test["nodeid"])
            message = ((test.get("diagnostics") or {}).get("message")) or ""
            if case.symptom and re.search(case.symptom, message):
                detected.append(f"{test['nodeid']}: {message.splitlines()[0][:120]}")
    if not tests:
        return Outcome(case, [], [], 0, seconds, problem=f"no test matched -k {case.select!r}")
    if left:
        return Outcome(case, failing, detected, passed, seconds, problem=f"left behind: {left}")
    return Outcome(case, failing, detected, passed, seconds)


def clear_leftovers(kubeconfig: Path) -> str:
    """Delete what a fault's run left, forcing finalizers; what could not go, in one line.

    A broken driver can leave objects no controller will release (a group whose members
    the driver misreported cannot be deleted through it even once the fault is off); the
    next fault's run must start on an empty testbed, or its verdict would be another's.
    """
    return "; ".join(sweep(Kube(kubeconfig), None, timeout=120, force=True))


def table(outcomes: Sequence[Outcome]) -> str:
    """The results as a plain-text table, one fault a row, then the detecting messages."""
    rows = [("fault", "expected", "failing tests", "verdict", "seconds")]
    for o in outcomes:
        names = ", ".join(n.rsplit("::", 1)[-1] for n in o.failing) or "-"
        rows.append((o.case.fault, o.case.expect, names, o.verdict, f"{o.seconds:.0f}"))
    widths = [min(60, max(len(r[i]) for r in rows)) for i in range(len(rows[0]))]
    lines = ["  ".join(cell[:60].ljust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for o in outcomes:
        for detail in o.detected_by:
            lines.append(f"  {o.case.fault}: {detail}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line of ``python -m snapconf_testbed.detection``."""
    parser = argparse.ArgumentParser(
        prog="python -m snapconf_testbed.detection",
        description="Run the suites against each fault of the testbed's CSI interposer and "
        "check that every fault to detect fails a test naming its symptom and every "
        "tolerance fault fails none. Needs `snapconf testbed up`.",
    )
    parser.add_argument("--fault", action="append", default=[], help="only this fault")
    parser.add_argument("--subset", choices=["ci", "all"], default="all", help="ci: 3+1 faults")
    parser.add_argument("--profile", type=Path, default=default_profile())
    args = parser.parse_args(argv)
    known = {c.fault: c for c in CASES}
    names = args.fault or (list(CI_SUBSET) if args.subset == "ci" else list(known))
    unknown = [n for n in names if n not in known]
    if unknown:
        parser.error(f"unknown fault {unknown[0]!r}; known: {', '.join(known)}")
    layout = Layout.default()
    if not healthy(layout):
        sys.stderr.write("the testbed is not up; start it with: snapconf testbed up\n")
        return 2
    started = time.monotonic()
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="snapconf-detection-") as tmp:
        work = Path(tmp)
        fast = fast_profile(args.profile, work / "profile.yaml")
        for name in names:
            case = known[name]
            # a tolerance fault is judged with the profile's own timeouts, which it must meet
            profile = fast if case.expect == DETECT else args.profile
            outcome = run_case(case, layout.kubeconfig, profile, work)
            print(f"{name}: {outcome.verdict} ({outcome.seconds:.0f}s)", flush=True)
            outcomes.append(outcome)
    print()
    print(table(outcomes))
    wrong = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes) - len(wrong)} passed, {len(wrong)} failed", end="")
    print(f" in {time.monotonic() - started:.0f}s")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
