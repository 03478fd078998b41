"""bench/peer's pure parts: reading both tools' reports, the mapping, the tables."""

from __future__ import annotations

import re

from bench import peer

SNAP = (
    "[Testpattern: Dynamic Snapshot (delete policy)] snapshottable "
    "[Feature:VolumeSnapshotDataSource]"
)
DRIVER = "External Storage [Driver: hostpath.csi.k8s.io]"
PERSISTENT = (
    "should check snapshot fields, check restore correctly works after modifying source data, "
    "check deletion (persistent)"
)


def _spec(texts: list[str], leaf: str, state: str, attempts: int = 1, **extra: object) -> dict:
    return {
        "LeafNodeType": "It",
        "ContainerHierarchyTexts": texts,
        "LeafNodeText": leaf,
        "State": state,
        "NumAttempts": attempts,
        "RunTime": 51_780_831_902,
        **extra,
    }


REPORT = [
    {
        "SpecReports": [
            {"LeafNodeType": "SynchronizedBeforeSuite", "State": "passed", "NumAttempts": 0},
            _spec([DRIVER, SNAP, "volume snapshot controller", ""], PERSISTENT, "passed"),
            _spec(
                [DRIVER, "[Testpattern: Dynamic PV (default fs)] provisioning"],
                "should provision storage with snapshot data source (ROX mode)",
                "skipped",
                Failure={"Message": "Driver hostpath.csi.k8s.io doesn't support ROX\nmore"},
            ),
            _spec(
                [DRIVER, "[Testpattern: Dynamic PV (default fs)] provisioning"],
                "should provision storage with pvc data source",
                "failed",
                Failure={"Message": "timed out"},
            ),
            _spec(
                [DRIVER, "[Testpattern: Pre-provisioned PV] volumes"],
                "should store data",
                "skipped",
                attempts=0,
            ),
        ]
    }
]


def test_e2e_specs_counts_attempted_specs_only_with_outcome_and_reason() -> None:
    specs = peer.e2e_specs(REPORT)
    assert [s.outcome for s in specs] == ["passed", "skipped", "failed"]
    assert specs[0].seconds == 51.780831902
    assert specs[0].name.endswith(PERSISTENT)
    assert specs[1].reason == "Driver hostpath.csi.k8s.io doesn't support ROX"


def test_snapconf_specs_reads_results_json_and_counts_errors_as_failures() -> None:
    results = {
        "tests": [
            {"nodeid": "suites/test_restore.py::test_a[fs]", "outcome": "passed", "duration": 3},
            {"nodeid": "suites/test_restore.py::test_b", "outcome": "error", "duration": 1},
            {"nodeid": "suites/test_clone.py::test_c", "outcome": "skipped", "skip_reason": "x"},
        ]
    }
    specs = peer.snapconf_specs(results)
    assert [s.outcome for s in specs] == ["passed", "failed", "skipped"]
    assert specs[2].reason == "x"


def test_every_mapped_snapconf_test_exists_in_the_suites() -> None:
    existing = set(peer._all_snapconf_tests())
    missing = [name for name in peer.mapped_tests() if name not in existing]
    assert not missing, f"MAPPING names tests the suites do not have: {missing}"


def test_every_focused_it_text_has_a_behaviour() -> None:
    its = [
        "should check snapshot fields, check restore correctly works, check deletion (ephemeral)",
        PERSISTENT,
        "should provision storage with snapshot data source [Feature:VolumeSnapshotDataSource]",
        "should provision storage with snapshot data source (ROX mode)",
        "should provision correct filesystem size when restoring snapshot to larger size pvc",
        "should provision storage with pvc data source",
        "should provision storage with pvc data source (ROX mode)",
        "should provision storage with pvc data source in parallel",
        "should concurrently access the volume and restored snapshot from pods on the same node "
        "[LinuxOnly]",
        "should concurrently access the volume and its clone from pods on the same node "
        "[LinuxOnly]",
    ]
    titles = [peer.behaviour_of(it) for it in its]
    assert None not in titles
    assert len({t.title for t in titles if t}) == len(its)


def test_focus_selects_the_snapshot_and_data_source_specs_and_skip_drops_windows() -> None:
    focus = re.compile(peer.e2e_focus("hostpath.csi.k8s.io"))
    skip = re.compile(peer.E2E_SKIP)
    assert focus.search(f"{DRIVER} {SNAP} volume snapshot controller {PERSISTENT}")
    it = "provisioning should provision storage with pvc data source"
    pvc = f"{DRIVER} [Testpattern: Dynamic PV (default fs)] {it}"
    assert focus.search(pvc)
    assert not skip.search(pvc)
    windows = f"{DRIVER} [Testpattern: Dynamic PV (ntfs)] [Feature:Windows] {it}"
    assert skip.search(windows)
    assert not focus.search(f"{DRIVER} [Testpattern: Dynamic PV] volumes should store data")
    larger = "should provision correct filesystem size when restoring snapshot to larger size pvc"
    assert focus.search(f"{DRIVER} [Testpattern: Dynamic PV (default fs)] provisioning {larger}")
    assert not focus.search(pvc.replace("hostpath.csi.k8s.io", "other.csi"))


def test_summary_gives_the_ratio_of_medians_to_e2e() -> None:
    runs = [
        peer.Run("e2e", 1, 400.0, 0, [peer.Spec("a", "passed", 1)]),
        peer.Run("snapconf -n 1", 1, 100.0, 0, [peer.Spec("b", "passed", 1)]),
        peer.Run("e2e", 2, 500.0, 0, [peer.Spec("a", "passed", 1)]),
        peer.Run("snapconf -n 1", 2, 125.0, 0, [peer.Spec("b", "failed", 1)]),
    ]
    table = peer.summary_table(peer.summarise(runs))
    assert "| e2e | 2 | 450 | 400 | 500 | 1 | 1 | 0 | 0 | - |" in table
    assert "| snapconf -n 1 | 2 | 112 | 100 | 125 | 1 | 0 | 1 | 0 | 0.25 |" in table


def test_mapping_table_tallies_e2e_outcomes_and_lists_snapconf_only_tests() -> None:
    table = peer.mapping_table(
        peer.e2e_specs(REPORT),
        [
            "suites/test_negative.py::test_snapshot_of_missing_pvc_reports_error",
            "suites/test_clone.py::test_clone_of_a_clone",
            "suites/test_clone.py::test_clone_holds_source_data_and_is_independent[fs]",
        ],
    )
    clone = "test_clone_holds_source_data_and_is_independent"
    assert f"| provisioning: clone from a PVC | 1 failed | {clone} |" in table
    persistent = "snapshottable: fields, point-in-time restore, deletion (persistent)"
    assert f"| {persistent} | 1 passed |" in table
    assert "- test_clone_of_a_clone" in table
    assert "- test_snapshot_of_missing_pvc_reports_error" in table
    assert "- test_clone_holds_source_data_and_is_independent" not in table


def test_snapconf_command_selects_exactly_the_mapped_tests(tmp_path) -> None:
    setup = peer.Setup(
        tmp_path / "k", tmp_path / "t", tmp_path / "p", tmp_path, "mapped", tmp_path, 0
    )
    argv = peer.snapconf_command(setup, 2, tmp_path)
    assert argv[argv.index("-n") + 1] == "2"
    assert argv[-2:] == ["-k", " or ".join(peer.mapped_tests())]
    setup.scope = "areas"
    assert "-k" not in peer.snapconf_command(setup, 1, tmp_path)
