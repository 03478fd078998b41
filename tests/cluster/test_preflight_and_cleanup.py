"""The pre-flight checks and ``snapconf cleanup`` against the real testbed.

Pre-flight must pass the testbed as it is, and name each missing piece in one sentence:
a class of another driver, a missing class, missing snapshot CRDs. Cleanup must delete
by the run label and never touch an object without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from conformance import preflight
from conformance.cli import main
from conformance.kube import Kube
from conformance.profile import ClassSpec, Profile, load_profile
from conformance.resources import RUN_LABEL, new_run_id
from conformance.waits import Waiter
from snapconf_testbed import build
from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed import bootstrap


@pytest.fixture
def hostpath() -> Profile:
    return load_profile(Path(__file__).parents[2] / "profiles" / "hostpath.yaml")


def test_preflight_passes_the_testbed(kube: Kube, hostpath: Profile) -> None:
    assert preflight.check(kube, hostpath, on_testbed=True) == []


def test_preflight_names_a_class_of_another_driver(
    kube: Kube, hostpath: Profile, run_id: str
) -> None:
    name = f"{run_id}-foreign-sc"
    kube.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": name, "labels": {RUN_LABEL: run_id}},
            "provisioner": "other.snapconf.io",
        }
    )
    try:
        problems = preflight.check(
            kube, replace(hostpath, storage_class=ClassSpec(name=name)), on_testbed=True
        )
    finally:
        kube.delete("StorageClass", name, missing_ok=True)
    assert problems == [
        f"StorageClass {name} belongs to driver other.snapconf.io, "
        f"not the profile's {hostpath.driver}"
    ]


def test_preflight_names_a_missing_class(kube: Kube, hostpath: Profile) -> None:
    profile = replace(hostpath, snapshot_class=ClassSpec(name="snapconf-no-such-class"))
    (problem,) = preflight.check(kube, profile, on_testbed=True)
    assert problem.startswith("VolumeSnapshotClass snapconf-no-such-class named by the profile")


@pytest.fixture
def without_snapshot_class_crd(kube: Kube) -> Iterator[None]:
    """Remove the VolumeSnapshotClass CRD for one test, then put it (and the class) back."""
    crd = "volumesnapshotclasses.snapshot.storage.k8s.io"
    kube.delete("CustomResourceDefinition", crd)
    Waiter(kube).gone("CustomResourceDefinition", crd, None, timeout=60, op="crd-deleted")
    try:
        yield
    finally:
        bootstrap.install_crds(kube, Waiter(kube), build.snapshot_crd_dir(), 60)
        bootstrap.install_classes(kube)


@pytest.mark.usefixtures("without_snapshot_class_crd")
def test_preflight_names_missing_snapshot_crds(kube: Kube, hostpath: Profile) -> None:
    problems = preflight.check(kube, hostpath, on_testbed=True)
    assert len(problems) == 1, problems
    assert problems[0].startswith(
        "snapshot CRD volumesnapshotclasses.snapshot.storage.k8s.io is not installed"
    )
    assert "client/config/crd" in problems[0]


@pytest.mark.usefixtures("without_snapshot_class_crd")
def test_run_stops_before_any_test_without_snapshot_crds(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    kubeconfig = str(Layout.default().kubeconfig)
    status = main(["run", "--kubeconfig", kubeconfig, "--report-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2
    assert "volumesnapshotclasses.snapshot.storage.k8s.io is not installed" in err
    assert not any(tmp_path.iterdir()), "a run directory was made although nothing ran"


def test_cleanup_deletes_by_label_only(kube: Kube, capsys: pytest.CaptureFixture[str]) -> None:
    run = new_run_id()
    labelled, unlabelled = f"{run}-labelled", f"{run}-unlabelled"
    for name, labels in ((labelled, {RUN_LABEL: run}), (unlabelled, {})):
        kube.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        )
    try:
        status = main(
            ["cleanup", "--run-id", run, "--kubeconfig", str(Layout.default().kubeconfig)]
        )
        out = capsys.readouterr().out
        assert status == 0
        assert f"deleted Namespace/{labelled}" in out
        assert kube.get_or_none("Namespace", labelled) is None
        survivor = kube.get_or_none("Namespace", unlabelled)
        assert survivor is not None
        assert not survivor["metadata"].get("deletionTimestamp")
    finally:
        kube.delete("Namespace", unlabelled, missing_ok=True)


def test_preflight_off_the_testbed_needs_a_controller_pod(kube: Kube, hostpath: Profile) -> None:
    """A host process of the local testbed is no proof for some other cluster."""
    assert preflight.check(kube, hostpath, on_testbed=False) == [
        "no snapshot-controller runs on the cluster; "
        "deploy it from the external-snapshotter release"
    ]
