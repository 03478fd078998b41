"""Least privilege and Secrets on the real testbed.

``snapconf rbac apply`` must give an identity that passes pre-flight and runs the suites,
yet may not read Secrets; and a run whose classes reference a Secret (provisioner and
snapshotter secrets) must not carry the Secret's content into any report file or log,
even when a test fails and diagnostics are collected.
"""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import preflight, rbac
from conformance.kube import Kube
from conformance.profile import load_profile
from conformance.resources import RUN_LABEL, new_run_id
from snapconf_testbed.layout import Layout

REPO = Path(__file__).resolve().parents[2]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"


@pytest.fixture(scope="module")
def admin(request: pytest.FixtureRequest) -> Path:
    value = request.config.getoption("snapconf_kubeconfig") or os.environ.get("KUBECONFIG")
    assert value, "the cluster tests need --kubeconfig"
    return Path(str(value))


@pytest.fixture(scope="module")
def bound(admin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A kubeconfig from ``snapconf rbac apply`` (own name: the testbed is shared)."""
    name = f"snapconf-t-{secrets.token_hex(3)}"
    out = tmp_path_factory.mktemp("rbac") / "kubeconfig"
    done = _snapconf("rbac", "apply", "--kubeconfig", str(admin), "--out", str(out),
                     "--name", name, "--token-hours", "1")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    try:
        yield out, name
    finally:
        gone = _snapconf("rbac", "delete", "--kubeconfig", str(admin), "--name", name)
        assert gone.returncode == 0, gone.stderr


def _snapconf(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [sys.executable, "-m", "conformance.cli", *argv],
        capture_output=True, text=True, timeout=timeout, env=env, check=False,
    )  # fmt: skip


# ---------------------------------------------------------------- the bound identity


def test_bound_identity_may_not_read_secrets(bound: tuple[Path, str]) -> None:
    kubeconfig, name = bound
    with Kube(str(kubeconfig)) as kube:
        assert rbac.identity(kube) == f"system:serviceaccount:{name}:{name}"
        for verb in ("get", "list", "watch"):
            secret = rbac.Permission(verb, "", "secrets")
            assert not rbac.can(kube, secret), verb
            assert not rbac.can(kube, secret, namespace="kube-system"), verb
            assert not rbac.can(kube, secret, namespace=name), verb  # not even its own
        # exec is granted (the workload's steps); the admission policy confines it to
        # run-labelled namespaces
        assert rbac.can(kube, rbac.Permission("create", "", "pods/exec"))
        binding = rbac.Permission("create", "rbac.authorization.k8s.io", "clusterrolebindings")
        assert not rbac.can(kube, binding)
        assert rbac.missing_permissions(kube, group_snapshots=True) == []


def test_bound_identity_passes_preflight(bound: tuple[Path, str]) -> None:
    kubeconfig, _ = bound
    assert Layout.default().serves(kubeconfig)  # the testbed's host processes count
    with Kube(str(kubeconfig)) as kube:
        assert preflight.check(kube, load_profile(HOSTPATH), on_testbed=True) == []


def test_suites_pass_under_the_bound_identity(bound: tuple[Path, str], tmp_path: Path) -> None:
    kubeconfig, _ = bound
    done = _snapconf(
        "run", "--kubeconfig", str(kubeconfig), "--area", "provisioning", "--area", "binding",
        "--report-dir", str(tmp_path), "--namespace-prefix", "rbac",
        "--", "-k", "immediate-fs or second_snapshot_cannot_claim",
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "CONFORMANT" in done.stderr + done.stdout


# ---------------------------------------------------------------- secrets stay out of reports


@pytest.fixture
def secret_classes(kube: Kube) -> Iterator[dict[str, str]]:
    """A Secret with a unique value and classes of the testbed's driver referencing it."""
    tag = secrets.token_hex(3)
    value = f"snapconf-secret-{secrets.token_hex(16)}"
    names = {
        "ns": f"snapconf-t-{tag}-secrets",
        "secret": "driver-credentials",
        "sc": f"snapconf-t-{tag}-sc",
        "vsc": f"snapconf-t-{tag}-vsc",
        "value": value,
    }
    base_sc = kube.get("StorageClass", "csi-hostpath-sc")
    base_vsc = kube.get("VolumeSnapshotClass", "csi-hostpath-snapclass")
    refs = {"name": names["secret"], "namespace": names["ns"]}
    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": names["ns"]}})
    try:
        kube_create_secret(kube, names["ns"], names["secret"], value)
        kube.create(
            {
                "apiVersion": "storage.k8s.io/v1",
                "kind": "StorageClass",
                "metadata": {"name": names["sc"]},
                "provisioner": base_sc["provisioner"],
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
                "parameters": {
                    **(base_sc.get("parameters") or {}),
                    "csi.storage.k8s.io/provisioner-secret-name": refs["name"],
                    "csi.storage.k8s.io/provisioner-secret-namespace": refs["namespace"],
                },
            }
        )
        kube.create(
            {
                "apiVersion": "snapshot.storage.k8s.io/v1",
                "kind": "VolumeSnapshotClass",
                "metadata": {"name": names["vsc"]},
                "driver": base_vsc["driver"],
                "deletionPolicy": "Delete",
                "parameters": {
                    **(base_vsc.get("parameters") or {}),
                    "csi.storage.k8s.io/snapshotter-secret-name": refs["name"],
                    "csi.storage.k8s.io/snapshotter-secret-namespace": refs["namespace"],
                },
            }
        )
        yield names
    finally:
        kube.delete("VolumeSnapshotClass", names["vsc"], missing_ok=True)
        kube.delete("StorageClass", names["sc"], missing_ok=True)
        kube.delete("Namespace", names["ns"], missing_ok=True)


def kube_create_secret(kube: Kube, namespace: str, name: str, value: str) -> None:
    """Secrets are no kind snapconf knows (on purpose); the admin posts it by path."""
    kube.post(
        f"/api/v1/namespaces/{namespace}/secrets",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace},
            "type": "Opaque",
            "stringData": {"password": value, "token": value},
        },
    )


def _forms(value: str) -> list[str]:
    raw = value.encode()
    return [value, base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")]


def test_secret_content_never_reaches_reports_or_logs(
    bound: tuple[Path, str], secret_classes: dict[str, str], tmp_path: Path
) -> None:
    kubeconfig, _ = bound
    doc: dict[str, Any] = yaml.safe_load(HOSTPATH.read_text(encoding="utf-8"))
    doc.pop("wffcStorageClass", None)
    doc["storageClass"] = {"name": secret_classes["sc"]}
    doc["snapshotClass"] = {"name": secret_classes["vsc"]}
    # an image the node does not have and may not pull: every pod fails to start, so the
    # data tests fail (and collect diagnostics) while the pod-less ones pass
    doc["workload"] = {**doc["workload"], "image": "snapconf.invalid/none:0", "pullPolicy": "Never"}
    doc["timeouts"] = {**doc["timeouts"], "podStart": "20s"}
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump(doc), encoding="utf-8")
    reports = tmp_path / "reports"
    done = _snapconf(
        "run", "--kubeconfig", str(kubeconfig), "--profile", str(profile),
        "--area", "provisioning", "--area", "binding", "--report-dir", str(reports),
        "--", "-k", "immediate-fs or second_snapshot_cannot_claim or "
        "(dynamic_snapshot_binds_one_to_one and Delete and fs)",
        timeout=900,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]  # not conformant: the pod tests failed
    [run_dir] = [p for p in reports.iterdir() if p.is_dir() and p.name.startswith("sc-")]
    results = yaml.safe_load((run_dir / "results.json").read_text(encoding="utf-8"))
    outcomes = {t["nodeid"]: t["outcome"] for t in results["tests"]}
    assert "passed" in outcomes.values(), outcomes
    failed = [t for t in results["tests"] if t["outcome"] in ("failed", "error")]
    assert failed, outcomes
    assert any((t.get("diagnostics") or {}).get("objects") for t in failed)
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"report.html", "results.json", "junit.xml"}
    assert any("allure-results" in p.parts for p in files)
    for form in _forms(secret_classes["value"]):
        assert form not in output
        for path in files:
            assert form.encode() not in path.read_bytes(), path


# ---------------------------------------------------------------- what RBAC alone cannot say


def _denied(fn: Any) -> str:
    from kubernetes import client as k8s_client

    with pytest.raises(k8s_client.ApiException) as caught:
        fn()
    assert caught.value.status in (403, 422), caught.value.body
    return str(caught.value.body)


def test_admission_policy_keeps_the_identity_in_its_namespaces(bound: tuple[Path, str]) -> None:
    """Pods only in labelled namespaces, none that reference a Secret (all dry runs)."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    kubeconfig, _ = bound
    api = k8s_config.new_client_from_config(str(kubeconfig), persist_config=False)  # type: ignore[no-untyped-call]
    core = k8s_client.CoreV1Api(api)
    run = new_run_id()
    ns = f"{run}-policy-check"

    def pod(**spec: Any) -> dict[str, Any]:
        container = {"name": "c", "image": "busybox", **spec.pop("container", {})}
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "policy-check"},
            "spec": {"automountServiceAccountToken": False, "containers": [container], **spec},
        }

    body = {"metadata": {"name": f"{ns}-unlabelled"}}
    assert "labelled snapconf.io/run" in _denied(
        lambda: core.create_namespace(body, dry_run="All")  # type: ignore[arg-type]
    )
    assert "labelled snapconf.io/run" in _denied(
        lambda: core.create_namespaced_pod("default", pod(), dry_run="All")  # type: ignore[arg-type]
    )
    labelled = {"metadata": {"name": ns, "labels": {RUN_LABEL: run}}}
    core.create_namespace(labelled)  # type: ignore[arg-type]
    try:
        core.create_namespaced_pod(ns, pod(), dry_run="All")  # type: ignore[arg-type]
        for bad in (
            pod(volumes=[{"name": "s", "secret": {"secretName": "x"}}]),
            pod(volumes=[{"name": "s", "projected": {"sources": [{"secret": {"name": "x"}}]}}]),
            pod(container={"envFrom": [{"secretRef": {"name": "x"}}]}),
            pod(
                container={
                    "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "x", "key": "k"}}}]
                }
            ),
        ):
            message = _denied(lambda b=bad: core.create_namespaced_pod(ns, b, dry_run="All"))
            assert "may not create pods that reference Secrets" in message
        for bad in (
            pod(volumes=[{"name": "h", "hostPath": {"path": "/var/lib/kubelet"}}]),
            pod(container={"securityContext": {"privileged": True}}),
            pod(hostPID=True),
        ):
            message = _denied(lambda b=bad: core.create_namespaced_pod(ns, b, dry_run="All"))
            assert "may not create pods with host paths, host PID or privileged" in message
    finally:
        core.delete_namespace(ns)
        api.close()
