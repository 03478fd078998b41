"""conformance.report.results: the results.json model, its round trip and its schema errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.report import (
    REDACTED,
    SCHEMA_VERSION,
    Diagnostics,
    EventRecord,
    LogRecord,
    ObjectDump,
    ResultsError,
    RunInfo,
    RunResults,
    TestRecord,
    Timing,
    load_results,
    write_results,
)

DATA = Path(__file__).parent / "data" / "report"
DATA_FILES = sorted(DATA.glob("*.json"))


def full_run() -> RunResults:
    """A run using every field of the schema, diagnostics included."""
    return RunResults(
        run=RunInfo(
            id="sc-20250601-101502-abcd",
            start="2025-06-01T10:15:02Z",
            end="2025-06-01T10:20:00+00:00",
            argv=["snapconf", "run", "-n", "2"],
            workers=2,
            profile={"driver": "hostpath.csi.k8s.io", "capabilities": {"block": True}},
            cluster={
                "kubernetesVersion": "v1.33.1",
                "csiDriver": {"name": "hostpath.csi.k8s.io", "attachRequired": False},
                "components": [{"name": "kubelet", "version": "v1.33.1"}],
            },
            snapconf_version="0.1.0",
        ),
        capabilities={"snapshotDataSource": True, "block": False},
        baseline_regressions=["suites/test_restore.py::test_b"],
        tests=[
            TestRecord(
                nodeid="suites/test_restore.py::test_a",
                name="test_a",
                area="restore",
                requires=["snapshotDataSource"],
                required=True,
                outcome="passed",
                duration=12.5,
                worker="gw0",
                timings=[Timing("snapshot-ready", 3.25, "ns/snap-1")],
            ),
            TestRecord(
                nodeid="suites/test_restore.py::test_b",
                name="test_b",
                area="restore",
                requires=["snapshotDataSource"],
                required=True,
                outcome="failed",
                duration=300.0,
                worker="gw1",
                diagnostics=Diagnostics(
                    message="not ready",
                    traceback="Traceback ...",
                    objects=[
                        ObjectDump("VolumeSnapshot", "ns", "snap-1", "kind: VolumeSnapshot\n")
                    ],
                    events=[
                        EventRecord("VolumeSnapshot/ns/snap-1", "Warning", "Failed", "no", "t")
                    ],
                    logs=[LogRecord("ns/writer", "main", "wrote 16Mi\n")],
                ),
            ),
            TestRecord(
                nodeid="suites/test_restore.py::test_c[block]",
                name="test_c[block]",
                area="restore",
                requires=["snapshotDataSource", "block"],
                required=False,
                outcome="skipped",
                skip_reason="profile does not declare capability block",
            ),
        ],
    )


def raw(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def load_error(tmp_path: Path, data: object) -> str:
    """The message of loading ``data`` written as results.json."""
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        load_results(path)
    return str(info.value)


# ---------------------------------------------------------------- round trip


@pytest.mark.parametrize("path", DATA_FILES, ids=lambda p: p.stem)
def test_data_files_round_trip_unchanged(path: Path) -> None:
    assert RunResults.load(path).to_dict() == raw(path)


def test_there_are_three_data_files() -> None:
    assert [p.name for p in DATA_FILES] == ["all-passed.json", "failures.json", "xdist.json"]


def test_model_round_trips_through_a_file(tmp_path: Path) -> None:
    run = full_run()
    written = run.save(tmp_path / "results.json")
    assert written == tmp_path / "results.json"
    assert RunResults.load(written) == run
    assert raw(written)["schemaVersion"] == SCHEMA_VERSION


def test_json_keys_are_the_documented_ones() -> None:
    data = full_run().to_dict()
    assert list(data) == ["schemaVersion", "run", "capabilities", "baselineRegressions", "tests"]
    assert list(data["run"]) == [
        "id",
        "start",
        "end",
        "argv",
        "workers",
        "profile",
        "cluster",
        "snapconfVersion",
    ]
    failed = data["tests"][1]
    assert list(failed) == [
        "nodeid",
        "name",
        "area",
        "requires",
        "required",
        "outcome",
        "skipReason",
        "duration",
        "worker",
        "timings",
        "diagnostics",
    ]
    assert failed["timings"] == []
    assert list(failed["diagnostics"]) == ["message", "traceback", "objects", "events", "logs"]
    assert failed["diagnostics"]["events"][0]["object"] == "VolumeSnapshot/ns/snap-1"
    assert data["tests"][0]["timings"] == [
        {"op": "snapshot-ready", "seconds": 3.25, "subject": "ns/snap-1"}
    ]


def test_write_results_takes_the_json_form(tmp_path: Path) -> None:
    data = full_run().to_dict()
    path = write_results(data, tmp_path / "deep" / "er" / "results.json")
    assert raw(path) == data
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]  # no temp left


def test_write_results_checks_the_json_form_before_writing(tmp_path: Path) -> None:
    data = full_run().to_dict()
    data["tests"][0]["outcome"] = "xfailed"
    with pytest.raises(ResultsError, match=r"tests\[0\]\.outcome must be one of"):
        write_results(data, tmp_path / "results.json")
    assert not (tmp_path / "results.json").exists()


def test_writing_over_a_directory_is_a_results_error(tmp_path: Path) -> None:
    (tmp_path / "results.json").mkdir()
    with pytest.raises(ResultsError, match="cannot write the results"):
        full_run().save(tmp_path / "results.json")
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_coerce_takes_model_dict_or_path(tmp_path: Path) -> None:
    run = full_run()
    path = run.save(tmp_path / "results.json")
    assert RunResults.coerce(run) is run
    assert RunResults.coerce(run.to_dict()) == run
    assert RunResults.coerce(path) == run
    assert RunResults.coerce(str(path)) == run


def test_optional_fields_may_be_absent(tmp_path: Path) -> None:
    data = full_run().to_dict()
    del data["tests"][2]["skipReason"]
    del data["tests"][0]["diagnostics"]
    del data["tests"][0]["timings"][0]["subject"]
    diagnostics = data["tests"][1]["diagnostics"]
    for key in ("traceback", "objects", "events", "logs"):
        del diagnostics[key]
    run = RunResults.from_dict(data)
    assert run.tests[2].skip_reason is None
    assert run.tests[0].diagnostics is None
    assert run.tests[0].timings[0].subject == ""
    assert run.tests[1].diagnostics == Diagnostics(message="not ready")


def test_kubernetes_version_is_read_under_either_name() -> None:
    info = full_run().run
    assert info.kubernetes_version == "v1.33.1"
    info.cluster = {"serverVersion": "v1.32.4"}
    assert info.kubernetes_version == "v1.32.4"
    info.cluster = {"serverVersion": {"major": "1", "minor": "31", "gitVersion": "v1.31.0"}}
    assert info.kubernetes_version == "v1.31.0"
    info.cluster = {}
    assert info.kubernetes_version == ""


# ---------------------------------------------------------------- redaction


def test_secrets_do_not_reach_the_file(tmp_path: Path) -> None:
    run = full_run()
    run.run.profile = {
        "storageClass": {
            "create": {
                "parameters": {
                    "csi.storage.k8s.io/provisioner-secret-name": "creds",
                    "apiToken": "hunter2",
                }
            }
        }
    }
    run.run.argv = ["snapconf", "run", "--token=hunter2", "--password", "hunter2"]
    secret = {"kind": "Secret", "metadata": {"name": "creds"}, "data": {"key": "aHVudGVyMg=="}}
    assert run.tests[1].diagnostics is not None
    run.tests[1].diagnostics.objects.append(ObjectDump("Secret", "ns", "creds", yaml.dump(secret)))
    text = run.save(tmp_path / "results.json").read_text(encoding="utf-8")
    assert "hunter2" not in text
    assert "aHVudGVyMg==" not in text
    data = json.loads(text)
    params = data["run"]["profile"]["storageClass"]["create"]["parameters"]
    assert params == {"csi.storage.k8s.io/provisioner-secret-name": "creds", "apiToken": REDACTED}
    assert data["run"]["argv"] == ["snapconf", "run", f"--token={REDACTED}", "--password", REDACTED]


# ---------------------------------------------------------------- not results.json


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="no such results file"):
        load_results(tmp_path / "results.json")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match="is a directory, not a results file"):
        load_results(tmp_path)


def test_junit_xml_is_not_a_results_file(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    path.write_text('<?xml version="1.0"?><testsuites/>', encoding="utf-8")
    with pytest.raises(ResultsError) as info:
        load_results(path)
    assert str(info.value).startswith(f"{path}: not a results file, not valid JSON (line 1")


def test_binary_file_is_not_a_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ResultsError, match="not a results file"):
        load_results(path)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "not a snapconf results file (the top level is a list, not an object)"),
        ({"tests": []}, "not a snapconf results file (schemaVersion is missing)"),
        (
            {"schemaVersion": 2},
            "schema version 2 is not supported (this snapconf reads version 1)",
        ),
        ({"schemaVersion": "1"}, "schema version '1' is not supported"),
        ({"schemaVersion": True}, "schema version True is not supported"),
    ],
    ids=["list", "no-version", "version-2", "version-string", "version-bool"],
)
def test_not_schema_1(tmp_path: Path, data: object, message: str) -> None:
    error = load_error(tmp_path, data)
    assert error.startswith(f"{tmp_path / 'results.json'}: ")
    assert message in error


def test_another_tools_json_is_not_a_results_file(tmp_path: Path) -> None:
    allure = {"uuid": "1", "name": "test_a", "status": "passed", "steps": []}
    assert "not a snapconf results file" in load_error(tmp_path, allure)


# ---------------------------------------------------------------- bad fields


def _broken(change: str) -> dict[str, Any]:
    data = copy.deepcopy(full_run().to_dict())
    test = data["tests"][1]
    match change:
        case "no-nodeid":
            del test["nodeid"]
        case "outcome":
            test["outcome"] = "xpassed"
        case "required":
            test["required"] = "yes"
        case "requires":
            test["requires"] = "block"
        case "duration":
            test["duration"] = "12s"
        case "duration-bool":
            test["duration"] = True
        case "timing":
            test["timings"] = [{"op": "pvc-bound"}]
        case "event":
            test["diagnostics"]["events"][0]["reason"] = 3
        case "capability":
            data["capabilities"]["block"] = "no"
        case "start":
            data["run"]["start"] = "yesterday"
        case "workers":
            data["run"]["workers"] = 1.5
        case "components":
            data["run"]["cluster"]["components"] = {"kubelet": "v1"}
        case "no-run":
            del data["run"]
        case "tests":
            data["tests"] = {}
        case "duplicate":
            data["tests"].append(copy.deepcopy(data["tests"][0]))
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no-nodeid", "tests[1].nodeid is missing"),
        (
            "outcome",
            "tests[1].outcome must be one of passed, failed, skipped, error, not 'xpassed'",
        ),
        ("required", "tests[1].required must be true or false, not a string"),
        ("requires", "tests[1].requires must be a list, not a string"),
        ("duration", "tests[1].duration must be a number, not a string"),
        ("duration-bool", "tests[1].duration must be a number, not a boolean"),
        ("timing", "tests[1].timings[0].seconds is missing"),
        ("event", "tests[1].diagnostics.events[0].reason must be a string, not a number"),
        ("capability", "capabilities.block must be true or false"),
        ("start", "run.start is not an ISO 8601 time: 'yesterday'"),
        ("workers", "run.workers must be an integer, not a number"),
        ("components", "run.cluster.components must be a list of objects"),
        ("no-run", "run is missing"),
        ("tests", "tests must be a list, not an object"),
        ("duplicate", "tests[3].nodeid repeats tests[0]: 'suites/test_restore.py::test_a'"),
    ],
)
def test_bad_field_is_named(tmp_path: Path, change: str, message: str) -> None:
    error = load_error(tmp_path, _broken(change))
    assert error == f"{tmp_path / 'results.json'}: {message}"


def test_constructing_a_record_checks_the_outcome() -> None:
    with pytest.raises(ResultsError, match="outcome of t must be one of"):
        TestRecord(nodeid="t", name="t", area="", requires=[], required=True, outcome="ok")
