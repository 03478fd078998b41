"""Bad input against the real testbed: one sentence, exit 2, and the cluster unchanged.

Each case runs ``snapconf run`` as a real process with a known ``--run-id`` and
``--namespace-prefix`` and compares the cluster's namespaces and every object labelled
``snapconf.io/run`` before and after: nothing of that run, and no namespace with that
prefix, may appear. The testbed is shared, so objects of other engineers' runs may come
and go meanwhile; only this run's are asserted on.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance import rbac
from conformance.kube import KINDS, Kube, NotFound
from conformance.resources import RUN_LABEL, new_run_id

REPO = Path(__file__).resolve().parents[2]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"
EXIT_USAGE = 2


@pytest.fixture
def admin(request: pytest.FixtureRequest) -> Path:
    """The admin kubeconfig the cluster tests were given."""
    value = request.config.getoption("snapconf_kubeconfig") or os.environ.get("KUBECONFIG")
    assert value, "the cluster tests need --kubeconfig"
    return Path(str(value))


def cluster_state(kube: Kube) -> tuple[set[str], set[tuple[str, str, str, str]]]:
    """All namespace names, and every object with the run label (kind, ns, name, run)."""
    namespaces = {str(n["metadata"]["name"]) for n in kube.list("Namespace")[0]}
    labelled: set[tuple[str, str, str, str]] = set()
    for kind in KINDS.values():
        try:
            items, _ = kube.list(kind, None, label_selector=RUN_LABEL)
        except NotFound:
            continue
        for item in items:
            meta = item["metadata"]
            labelled.add(
                (
                    kind.kind,
                    str(meta.get("namespace") or ""),
                    str(meta["name"]),
                    str((meta.get("labels") or {}).get(RUN_LABEL)),
                )
            )
    return namespaces, labelled


class Attempt:
    """One ``snapconf run`` of bad input, with the cluster state around it."""

    def __init__(self, kube: Kube, tmp_path: Path) -> None:
        self.kube = kube
        self.tmp_path = tmp_path
        self.run_id = new_run_id()
        self.prefix = f"bad{secrets.token_hex(3)}"

    def run(self, *argv: str) -> str:
        """Run snapconf, check exit 2 / one line / no traceback / no change; the line."""
        before = cluster_state(self.kube)
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        given = any(a.startswith("--namespace-prefix") for a in argv)
        prefix = [] if given else ["--namespace-prefix", self.prefix]
        done = subprocess.run(
            [
                sys.executable, "-m", "conformance.cli", "run", *argv, *prefix,
                "--run-id", self.run_id,
                "--report-dir", str(self.tmp_path / "reports"), "--area", "provisioning",
            ],
            capture_output=True, text=True, timeout=180, env=env, check=False,
        )  # fmt: skip
        after = cluster_state(self.kube)
        assert done.returncode == EXIT_USAGE, done.stdout + done.stderr
        assert "Traceback" not in done.stderr + done.stdout
        lines = done.stderr.splitlines()
        assert len(lines) == 1, done.stderr
        assert lines[0].startswith("snapconf: ")
        new_namespaces = after[0] - before[0]
        assert not {n for n in new_namespaces if self.prefix in n or self.run_id in n}
        new_objects = after[1] - before[1]
        assert not {o for o in new_objects if self.run_id in o[3] or self.prefix in o[1]}
        assert not (self.tmp_path / "reports" / self.run_id).exists()
        return lines[0]


@pytest.fixture
def attempt(kube: Kube, tmp_path: Path) -> Attempt:
    return Attempt(kube, tmp_path)


def _profile(tmp_path: Path, **changes: Any) -> Path:
    doc = yaml.safe_load(HOSTPATH.read_text(encoding="utf-8"))
    doc.update(changes)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _kubeconfig(tmp_path: Path, server: str, user: dict[str, Any], ca: Path | None) -> Path:
    cluster: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster["certificate-authority"] = str(ca)
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _server_and_ca(admin: Path) -> tuple[str, Path | None]:
    doc = yaml.safe_load(admin.read_text(encoding="utf-8"))
    cluster = doc["clusters"][0]["cluster"]
    ca = cluster.get("certificate-authority")
    return str(cluster["server"]), Path(ca) if ca else None


# ---------------------------------------------------------------- (a) (c) (e) before the cluster


def test_malformed_profile(attempt: Attempt, admin: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("driver: x\nstorageClass: {name: a\n", encoding="utf-8")
    line = attempt.run("--kubeconfig", str(admin), "--profile", str(bad))
    assert "invalid YAML" in line


def test_profile_with_an_unknown_key(attempt: Attempt, admin: Path, tmp_path: Path) -> None:
    profile = _profile(tmp_path, snapshotClass={"name": "csi-hostpath-snapclass", "nam": "x"})
    line = attempt.run("--kubeconfig", str(admin), "--profile", str(profile))
    assert "snapshotClass.nam: unknown key" in line


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{% if name %}\n", "endif"),
        ("metadata: {name: {{ nme | tojson }}}\n", "'nme' is undefined"),
    ],
)
def test_manifest_override_with_a_jinja_error(
    attempt: Attempt, admin: Path, tmp_path: Path, template: str, expected: str
) -> None:
    folder = tmp_path / "tpl"
    folder.mkdir()
    (folder / "namespace.yaml.j2").write_text(template, encoding="utf-8")
    line = attempt.run("--kubeconfig", str(admin), "--manifests", str(folder))
    assert "namespace.yaml.j2" in line
    assert expected in line


def test_namespace_prefix_that_is_no_dns_label(attempt: Attempt, admin: Path) -> None:
    line = attempt.run("--kubeconfig", str(admin), "--namespace-prefix=Team_A")
    assert "--namespace-prefix: 'Team_A' is not a DNS label" in line


def test_namespace_prefix_too_long(attempt: Attempt, admin: Path) -> None:
    line = attempt.run("--kubeconfig", str(admin), "--namespace-prefix", "p" * 30)
    assert "at most 22 fit" in line


# ---------------------------------------------------------------- (b) classes of another driver


@pytest.fixture
def foreign_classes(kube: Kube) -> Iterator[dict[str, str]]:
    """A StorageClass and a VolumeSnapshotClass of another driver (made by the admin)."""
    tag = secrets.token_hex(3)
    names = {"sc": f"snapconf-t-{tag}-foreign-sc", "vsc": f"snapconf-t-{tag}-foreign-vsc"}
    kube.create(
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {"name": names["sc"]},
            "provisioner": "other.snapconf.io",
        }
    )
    kube.create(
        {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshotClass",
            "metadata": {"name": names["vsc"]},
            "driver": "other.snapconf.io",
            "deletionPolicy": "Delete",
        }
    )
    try:
        yield names
    finally:
        kube.delete("StorageClass", names["sc"], missing_ok=True)
        kube.delete("VolumeSnapshotClass", names["vsc"], missing_ok=True)


def test_profile_naming_a_storage_class_of_another_driver(
    attempt: Attempt, admin: Path, tmp_path: Path, foreign_classes: dict[str, str]
) -> None:
    profile = _profile(tmp_path, storageClass={"name": foreign_classes["sc"]})
    line = attempt.run("--kubeconfig", str(admin), "--profile", str(profile))
    assert line == (
        f"snapconf: StorageClass {foreign_classes['sc']} belongs to driver other.snapconf.io, "
        "not the profile's hostpath.csi.k8s.io; nothing was run"
    )


def test_profile_naming_a_snapshot_class_of_another_driver(
    attempt: Attempt, admin: Path, tmp_path: Path, foreign_classes: dict[str, str]
) -> None:
    profile = _profile(tmp_path, snapshotClass={"name": foreign_classes["vsc"]})
    line = attempt.run("--kubeconfig", str(admin), "--profile", str(profile))
    assert line == (
        f"snapconf: VolumeSnapshotClass {foreign_classes['vsc']} belongs to driver "
        "other.snapconf.io, not the profile's hostpath.csi.k8s.io; nothing was run"
    )


# ---------------------------------------------------------------- (d) kubeconfigs


def test_unreachable_api_server(attempt: Attempt, admin: Path, tmp_path: Path) -> None:
    _, ca = _server_and_ca(admin)
    kubeconfig = _kubeconfig(tmp_path, "https://127.0.0.1:1", {"token": "x"}, ca)
    line = attempt.run("--kubeconfig", str(kubeconfig))
    assert line.startswith("snapconf: the cluster cannot be reached (")
    assert "127.0.0.1" in line
    assert "port=1" in line or ":1" in line


def test_bad_token_is_401(attempt: Attempt, admin: Path, tmp_path: Path) -> None:
    server, ca = _server_and_ca(admin)
    kubeconfig = _kubeconfig(tmp_path, server, {"token": "not-a-token"}, ca)
    line = attempt.run("--kubeconfig", str(kubeconfig))
    assert line == (
        "snapconf: the API server rejected the kubeconfig's credentials (401 Unauthorized); "
        "its token or client certificate is not valid for this cluster; nothing was run"
    )


@pytest.fixture
def rightless(admin: Path, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A valid ServiceAccount token whose identity is bound to nothing (403 everywhere)."""
    name = f"snapconf-t-{secrets.token_hex(3)}"
    out = tmp_path / "rightless.kubeconfig"
    rbac.apply(admin, out, name=name, bind=False, token_seconds=900, say=lambda _: None)
    try:
        yield out, name
    finally:
        rbac.delete(admin, name=name, say=lambda _: None)


def test_identity_without_rights_is_403(attempt: Attempt, rightless: tuple[Path, str]) -> None:
    kubeconfig, name = rightless
    line = attempt.run("--kubeconfig", str(kubeconfig))
    assert line.startswith(
        f"snapconf: the kubeconfig's identity (system:serviceaccount:{name}:{name}) may not "
        "get, list, watch customresourcedefinitions.apiextensions.k8s.io;"
    )
    assert "manifests/rbac/clusterrole.yaml" in line


@pytest.mark.parametrize("server", ["https://127.0.0.1:1", "testbed"])
def test_cleanup_with_an_unusable_kubeconfig(admin: Path, tmp_path: Path, server: str) -> None:
    real, ca = _server_and_ca(admin)
    kubeconfig = _kubeconfig(
        tmp_path, real if server == "testbed" else server, {"token": "not-a-token"}, ca
    )
    argv = ["cleanup", "--all", "--kubeconfig", str(kubeconfig)]
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", *argv],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"snapconf: kubeconfig {kubeconfig} cannot be used: ")
    assert line.endswith("; nothing was deleted")
