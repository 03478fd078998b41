"""Bad input to ``snapconf``: one sentence on stderr, exit status 2, no traceback, no cluster.

Every case of issue 9b that can be decided without a cluster is here, behind guards that
turn any socket, Kube client, pre-flight, testbed or pytest run into ``ClusterTouched``;
the cases that need an API server's answer (401, 403, foreign classes) are checked here
against a fake API and again on the testbed in ``tests/cluster/test_bad_input_cluster.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from offline import ClusterTouched, forbid_cluster

from conformance import preflight, rbac
from conformance.actions import (
    GENERATED_NAMESPACE_PART,
    MAX_NAMESPACE_PREFIX,
    validate_namespace_prefix,
)
from conformance.cli import main
from conformance.kube import KINDS, Forbidden, NotFound, Unauthorized, Unreachable
from conformance.profile import ClassSpec, load_profile
from conformance.resources import namespace_name

REPO = Path(__file__).resolve().parents[1]
HOSTPATH = REPO / "profiles" / "hostpath.yaml"
EXIT_USAGE = 2
CHECK = preflight.check  # the real one: the guard below replaces the module's


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    forbid_cluster(monkeypatch, tmp_path / "home")


@pytest.fixture
def kubeconfig(tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\nusers: []\n", encoding="utf-8")
    return path


def one_sentence(capsys: pytest.CaptureFixture[str], status: int) -> str:
    """The contract: exit 2 and exactly one ``snapconf:`` line on stderr, no traceback."""
    out, err = capsys.readouterr()
    assert status == EXIT_USAGE, (out, err)
    assert "Traceback" not in err + out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("snapconf: ")
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------- (a) profiles

BAD_PROFILES = {
    "unclosed-flow": ("driver: x\nstorageClass: {name: a\n", "invalid YAML"),
    "tab": ("driver: x\n\tfoo: 1\n", "line 2, column 1: invalid YAML"),
    "not-a-mapping": ("- a\n- b\n", "expected a mapping at the top level"),
    "unknown-top-key": (
        HOSTPATH.read_text(encoding="utf-8") + "\nbogus: 1\n",
        "bogus: unknown key",
    ),
    "unknown-nested-key": (
        "driver: hostpath.csi.k8s.io\nstorageClass: {name: sc, colour: red}\n"
        "snapshotClass: {name: vsc}\n",
        "storageClass.colour: unknown key (expected one of: name, create)",
    ),
    "typo-capability": (
        "driver: d\nstorageClass: {name: sc}\nsnapshotClass: {name: vsc}\n"
        "capabilities: {snapshotDatasource: true}\n",
        "capabilities.snapshotDatasource: unknown capability, did you mean snapshotDataSource?",
    ),
}


@pytest.mark.parametrize("case", BAD_PROFILES)
@pytest.mark.parametrize("command", ["run", "validate"])
def test_bad_profile(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kubeconfig: Path, case: str, command: str
) -> None:
    text, expected = BAD_PROFILES[case]
    path = write(tmp_path / f"{case}.yaml", text)
    argv = (
        ["run", "--profile", str(path), "--kubeconfig", str(kubeconfig)]
        if command == "run"
        else ["profile", "validate", str(path)]
    )
    line = one_sentence(capsys, main(argv))
    assert str(path) in line
    assert expected in line


def test_unknown_key_names_its_full_path(tmp_path: Path) -> None:
    from conformance.profile import ProfileError

    path = write(
        tmp_path / "p.yaml",
        "driver: d\nstorageClass: {create: {parameters: {}, mountOption: [x]}}\n"
        "snapshotClass: {name: vsc}\n",
    )
    with pytest.raises(ProfileError, match=r"storageClass\.create\.mountOption: unknown key"):
        load_profile(path)


# ---------------------------------------------------------------- (c) manifests


def _run_with_override(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, folder: Path, name: str, text: str
) -> str:
    """``snapconf run --manifests`` with one template overridden; its one-sentence error."""
    write(folder / name, text)
    argv = ["run", "--kubeconfig", str(kubeconfig), "--manifests", str(folder)]
    return one_sentence(capsys, main(argv))


def test_manifest_override_with_a_syntax_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kubeconfig: Path
) -> None:
    line = _run_with_override(
        capsys,
        kubeconfig,
        tmp_path / "tpl",
        "pod.yaml.j2",
        "kind: Pod\n{% if name %}\nmetadata: {}\n",
    )
    assert "--manifests: pod.yaml.j2 (from override folder" in line
    assert ":3:" in line or ":4:" in line  # the line Jinja stopped at
    assert "endif" in line


def test_manifest_override_with_an_unknown_filter(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kubeconfig: Path
) -> None:
    line = _run_with_override(
        capsys,
        kubeconfig,
        tmp_path / "tpl",
        "namespace.yaml.j2",
        "metadata: {name: {{ name | nosuch }}}\n",
    )
    assert "namespace.yaml.j2" in line
    assert "nosuch" in line


def test_manifest_override_with_an_undefined_variable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kubeconfig: Path
) -> None:
    builtin = (REPO / "manifests" / "pod.yaml.j2").read_text(encoding="utf-8")
    line = _run_with_override(
        capsys,
        kubeconfig,
        tmp_path / "tpl",
        "pod.yaml.j2",
        builtin.replace("{{ image ", "{{ imag "),
    )
    assert "pod.yaml.j2: 'imag' is undefined" in line
    assert "image" in line  # what snapconf does pass


def test_manifest_override_that_overrides_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kubeconfig: Path
) -> None:
    line = _run_with_override(capsys, kubeconfig, tmp_path / "tpl", "pods.yaml.j2", "kind: Pod\n")
    assert "pods.yaml.j2 overrides no built-in template" in line
    assert "pod.yaml.j2" in line


def test_a_good_manifest_override_passes_the_check(tmp_path: Path) -> None:
    builtin = (REPO / "manifests" / "pod.yaml.j2").read_text(encoding="utf-8")
    write(tmp_path / "tpl" / "pod.yaml.j2", builtin.replace("Never", "Never  # ok"))
    assert preflight.check_manifests(tmp_path / "tpl") == []


# ---------------------------------------------------------------- (d) kubeconfigs (offline)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("clusters: [\n", "is not valid YAML at line 2"),
        ("- just\n- a list\n", "is not a kubeconfig"),
    ],
)
@pytest.mark.parametrize("command", ["run", "cleanup", "rbac"])
def test_malformed_kubeconfig(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, expected: str, command: str
) -> None:
    path = write(tmp_path / "kc", text)
    argv = {
        "run": ["run", "--kubeconfig", str(path)],
        "cleanup": ["cleanup", "--all", "--kubeconfig", str(path)],
        "rbac": ["rbac", "apply", "--kubeconfig", str(path), "--out", str(tmp_path / "o")],
    }[command]
    line = one_sentence(capsys, main(argv))
    assert f"kubeconfig {path} {expected}" in line


def test_missing_kubeconfig(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = one_sentence(capsys, main(["run", "--kubeconfig", str(tmp_path / "nope")]))
    assert "does not exist" in line


# ---------------------------------------------------------------- (e) namespace prefix


@pytest.mark.parametrize(
    "prefix", ["Team", "team_a", "-team", "team-", "te.am", "tëam", "", "a" * 23]
)
def test_bad_namespace_prefix(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, prefix: str
) -> None:
    line = one_sentence(
        capsys, main(["run", "--kubeconfig", str(kubeconfig), f"--namespace-prefix={prefix}"])
    )
    assert line.startswith(f"snapconf: --namespace-prefix: {prefix!r}")
    if len(prefix) > MAX_NAMESPACE_PREFIX:
        assert f"at most {MAX_NAMESPACE_PREFIX} fit" in line
    else:
        assert "is not a DNS label" in line


@pytest.mark.parametrize("prefix", ["t", "team-a", "a1", "x" * MAX_NAMESPACE_PREFIX])
def test_good_namespace_prefix_goes_on_to_the_cluster(kubeconfig: Path, prefix: str) -> None:
    with pytest.raises(ClusterTouched):
        main(["run", "--kubeconfig", str(kubeconfig), "--namespace-prefix", prefix])


@pytest.mark.parametrize("worker", ["main", "gw0", "gw15"])
def test_the_longest_prefix_still_makes_dns_labels(worker: str) -> None:
    prefix = validate_namespace_prefix("p" * MAX_NAMESPACE_PREFIX)
    name = namespace_name("sc-20260101-000000-abcd", worker, "a1b2c3", prefix=prefix)
    assert len(name) <= 63
    assert name.startswith(f"{prefix}-sc-20260101-000000-abcd-")
    assert f"-{worker}" in name  # the worker part is not cut away
    assert MAX_NAMESPACE_PREFIX + GENERATED_NAMESPACE_PART == 63


def test_pytest_option_rejects_a_bad_prefix(pytester: pytest.Pytester) -> None:
    pytester.makeini(f"[pytest]\nsnapconf_profile = {HOSTPATH}\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--namespace-prefix", "Bad_Prefix")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --namespace-prefix: 'Bad_Prefix' is not a DNS label*"])


# ---------------------------------------------------------------- rbac command line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["rbac", "apply"], "needs --out"),
        (["rbac", "apply", "--out", "o", "--name", "Bad_Name"], "is not a DNS label"),
        (["rbac", "delete", "--name", "x" * 64], "is not a DNS label"),
        (["rbac", "apply", "--out", "o", "--token-hours", "0"], "--token-hours"),
    ],
)
def test_rbac_bad_arguments(
    capsys: pytest.CaptureFixture[str], kubeconfig: Path, argv: list[str], expected: str
) -> None:
    line = one_sentence(capsys, main([*argv, "--kubeconfig", str(kubeconfig)]))
    assert expected in line


# ---------------------------------------------------------------- end to end, a real process


@pytest.mark.parametrize(
    ("files", "extra", "expected"),
    [
        ({"p.yaml": "driver: [\n"}, ["--profile", "{profile}"], "invalid YAML"),
        ({"kc": "users: [\n"}, ["--kubeconfig", "{kc}"], "is not valid YAML"),
        ({}, ["--namespace-prefix", "UPPER"], "is not a DNS label"),
        ({"t/pod.yaml.j2": "{% for %}\n"}, ["--manifests", "{t}"], "pod.yaml.j2"),
    ],
)
def test_subprocess_exit_2_without_traceback(
    tmp_path: Path, files: dict[str, str], extra: list[str], expected: str
) -> None:
    for name, text in files.items():
        write(tmp_path / name, text)
    kc = write(tmp_path / "good-kc", "apiVersion: v1\nkind: Config\n")
    paths = {"profile": tmp_path / "p.yaml", "kc": tmp_path / "kc", "t": tmp_path / "t"}
    argv = [a.format(**{k: str(v) for k, v in paths.items()}) for a in extra]
    if "--kubeconfig" not in argv:
        argv += ["--kubeconfig", str(kc)]
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", *argv],
        capture_output=True, text=True, timeout=60, env=env, check=False,
    )  # fmt: skip
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert expected in done.stderr


# ---------------------------------------------------------------- pre-flight against a fake API


class FakeKube:
    """Just what pre-flight calls; ``fail`` makes /version raise, ``denied`` fails reviews."""

    def __init__(
        self,
        *,
        fail: Exception | None = None,
        denied: set[tuple[str, str]] | None = None,
        objects: dict[tuple[str, str], dict[str, Any]] | None = None,
    ) -> None:
        self.fail = fail
        self.denied = denied or set()
        self.objects = objects or {}
        self.writes: list[str] = []

    def server_version(self) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        return {"gitVersion": "v1.34.0"}

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        if path.endswith("selfsubjectreviews"):
            return {"status": {"userInfo": {"username": "jane"}}}
        attrs = body["spec"]["resourceAttributes"]
        resource = attrs["resource"] + (f"/{attrs['subresource']}" if attrs["subresource"] else "")
        return {"status": {"allowed": (attrs["verb"], resource) not in self.denied}}

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        if (kind, name) not in self.objects:
            raise NotFound("gone", status=404)
        return self.objects[(kind, name)]

    def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
        if kind == "CustomResourceDefinition":
            return {}
        return self.objects.get((kind, name))

    def list(self, kind: str, *args: Any, **kwargs: Any) -> tuple[list[Any], str]:
        return [{"spec": {"containers": [{"name": "snapshot-controller", "image": "x"}]}}], "1"


def _profile() -> Any:
    return load_profile(HOSTPATH)


def _objects(sc_driver: str, vsc_driver: str) -> dict[tuple[str, str], dict[str, Any]]:
    profile = _profile()
    objects = {
        ("CSIDriver", profile.driver): {},
        ("StorageClass", profile.storage_class.name): {"provisioner": sc_driver},
        ("VolumeSnapshotClass", profile.snapshot_class.name): {"driver": vsc_driver},
    }
    if profile.wffc_storage_class is not None:
        objects[("StorageClass", profile.wffc_storage_class.name)] = {"provisioner": sc_driver}
    return objects


def test_preflight_unauthorised() -> None:
    kube = FakeKube(fail=Unauthorized("Unauthorized", status=401, reason="Unauthorized"))
    [problem] = CHECK(kube, _profile())  # type: ignore[arg-type]
    assert "rejected the kubeconfig's credentials (401 Unauthorized)" in problem


def test_preflight_unreachable() -> None:
    kube = FakeKube(fail=Unreachable("Connection refused 127.0.0.1:1"))
    [problem] = CHECK(kube, _profile())  # type: ignore[arg-type]
    assert problem.startswith("the cluster cannot be reached (")
    assert "127.0.0.1:1" in problem


def test_preflight_forbidden_names_what_is_missing() -> None:
    kube = FakeKube(denied={("list", "volumesnapshotclasses"), ("create", "pods")})
    [problem] = CHECK(kube, _profile())  # type: ignore[arg-type]
    assert problem.startswith("the kubeconfig's identity (jane) may not ")
    assert "list volumesnapshotclasses.snapshot.storage.k8s.io" in problem
    assert "create pods" in problem
    assert "manifests/rbac/clusterrole.yaml" in problem


def test_preflight_does_not_require_pod_logs_or_exec() -> None:
    """Pod logs (diagnostics) and exec (fast steps) are optional: a run works without them."""
    assert {
        rbac.Permission("get", "", "pods", "log"),
        rbac.Permission("get", "", "pods", "exec"),
        rbac.Permission("create", "", "pods", "exec"),
    } == rbac.OPTIONAL
    assert set(rbac.OPTIONAL) <= set(rbac.required_permissions())  # still in the role
    profile = _profile()
    denied = {("get", "pods/log"), ("get", "pods/exec"), ("create", "pods/exec")}
    kube = FakeKube(denied=denied, objects=_objects(profile.driver, profile.driver))
    assert CHECK(kube, profile) == []  # type: ignore[arg-type]


GROUP_DENIED = {(p.verb, p.resource_name.split(".")[0]) for p in rbac.group_snapshot_permissions()}


def test_group_snapshot_rules_are_required_only_when_the_profile_declares_them() -> None:
    """The group CRDs are optional: an identity without their rules runs the other areas."""
    permissions = rbac.group_snapshot_permissions()
    assert {p.resource for p in permissions} == {
        "volumegroupsnapshots", "volumegroupsnapshotcontents", "volumegroupsnapshotclasses",
    }  # fmt: skip
    assert permissions <= set(rbac.required_permissions())  # in the shipped role
    assert not permissions & rbac.OPTIONAL
    declared = _profile()
    assert declared.has("groupSnapshot")
    undeclared = replace(
        declared,
        capabilities={**declared.capabilities, "groupSnapshot": False},
        group_snapshot_class=None,
    )
    objects = _objects(declared.driver, declared.driver)
    assert CHECK(FakeKube(denied=GROUP_DENIED, objects=objects), undeclared) == []  # type: ignore[arg-type]
    [problem] = CHECK(FakeKube(denied=GROUP_DENIED, objects=objects), declared)  # type: ignore[arg-type]
    assert "get, list, watch, create, delete volumegroupsnapshotclasses." in problem
    assert "create, delete, patch volumegroupsnapshots.groupsnapshot.storage.k8s.io" in problem
    assert "patch volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io" in problem


def test_preflight_names_missing_group_snapshot_crds_only_when_declared() -> None:
    class NoGroupCrds(FakeKube):
        def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
            if kind == "CustomResourceDefinition":
                return None if "groupsnapshot" in name else {}
            return self.objects.get((kind, name))

    declared = _profile()
    objects = _objects(declared.driver, declared.driver)
    [problem] = CHECK(NoGroupCrds(objects=objects), declared)  # type: ignore[arg-type]
    assert problem.startswith("CRD volumegroupsnapshots.groupsnapshot.storage.k8s.io, ")
    assert "the profile declares groupSnapshot" in problem
    assert "or leave groupSnapshot out" in problem
    undeclared = replace(declared, capabilities={}, group_snapshot_class=None)
    assert CHECK(NoGroupCrds(objects=objects), undeclared) == []  # type: ignore[arg-type]


def test_preflight_checks_a_named_group_snapshot_class() -> None:
    declared = replace(_profile(), group_snapshot_class=ClassSpec(name="vendor-vgsc"))
    objects = _objects(declared.driver, declared.driver)
    [problem] = CHECK(FakeKube(objects=objects), declared)  # type: ignore[arg-type]
    assert problem == (
        "VolumeGroupSnapshotClass vendor-vgsc named by the profile does not exist; "
        "create it or fix the profile"
    )
    objects[("VolumeGroupSnapshotClass", "vendor-vgsc")] = {"driver": "other.example.com"}
    [problem] = CHECK(FakeKube(objects=objects), declared)  # type: ignore[arg-type]
    assert "belongs to driver other.example.com" in problem


def test_preflight_identity_without_any_right_is_one_short_sentence() -> None:
    denied = {(p.verb, p.resource_name.split(".")[0]) for p in rbac.required_permissions()}
    kube = FakeKube(denied=denied)
    [problem] = CHECK(kube, _profile())  # type: ignore[arg-type]
    assert "more;" in problem
    assert len(problem) < 600


def test_preflight_forbidden_read_after_the_reviews_is_one_sentence() -> None:
    class Refusing(FakeKube):
        def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
            raise Forbidden('storageclasses "x" is forbidden', status=403, reason="Forbidden")

    kube = Refusing(objects=_objects("hostpath.csi.k8s.io", "hostpath.csi.k8s.io"))
    [problem] = CHECK(kube, _profile())  # type: ignore[arg-type]
    assert problem == (
        'the kubeconfig\'s identity is missing a permission: storageclasses "x" is forbidden'
    )


@pytest.mark.parametrize("foreign", ["StorageClass", "VolumeSnapshotClass"])
def test_preflight_class_of_another_driver(foreign: str) -> None:
    profile = _profile()
    sc = "other.csi.example.com" if foreign == "StorageClass" else profile.driver
    vsc = "other.csi.example.com" if foreign == "VolumeSnapshotClass" else profile.driver
    problems = CHECK(FakeKube(objects=_objects(sc, vsc)), profile)  # type: ignore[arg-type]
    name = profile.storage_class.name if foreign == "StorageClass" else profile.snapshot_class.name
    assert (
        f"{foreign} {name} belongs to driver other.csi.example.com, "
        f"not the profile's {profile.driver}"
    ) in problems


def test_preflight_accepts_a_ready_cluster() -> None:
    profile = _profile()
    kube = FakeKube(objects=_objects(profile.driver, profile.driver))
    assert CHECK(kube, profile) == []  # type: ignore[arg-type]


# ---------------------------------------------------------------- the RBAC rules themselves


def test_rbac_role_grants_no_secrets_and_no_wildcards() -> None:
    for permission in rbac.required_permissions():
        assert permission.resource != "secrets"
        assert "*" not in (permission.verb, permission.group, permission.resource)
    text = (REPO / "manifests" / "rbac" / "clusterrole.yaml").read_text(encoding="utf-8")
    assert "secrets" not in text.split("rules:")[1]


def test_rbac_role_lets_the_sweep_and_leak_check_list_every_kind() -> None:
    """The leak check and sweep list every kind snapconf knows, cluster-wide."""
    granted = {(p.group, p.resource, p.verb) for p in rbac.required_permissions()}
    for kind in KINDS.values():
        for verb in ("get", "list", "watch"):
            assert (kind.group, kind.plural, verb) in granted, (kind.kind, verb)


def test_rbac_manifests_are_renamed_consistently() -> None:
    docs = {d["kind"]: d for d in rbac.manifests("team-x")}
    assert set(docs) == {
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    }  # fmt: skip
    assert all(d["metadata"]["name"] == "team-x" for d in docs.values())
    assert docs["ValidatingAdmissionPolicyBinding"]["spec"]["policyName"] == "team-x"
    [condition] = docs["ValidatingAdmissionPolicy"]["spec"]["matchConditions"]
    assert condition["expression"] == (
        "request.userInfo.username == 'system:serviceaccount:team-x:team-x'"
    )
    assert docs["ServiceAccount"]["metadata"]["namespace"] == "team-x"
    binding = docs["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == "team-x"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "team-x", "namespace": "team-x"}
    ]


def test_rbac_kubeconfig_embeds_the_ca_and_only_a_token(tmp_path: Path) -> None:
    import base64
    from types import SimpleNamespace

    import yaml

    ca = write(tmp_path / "ca.crt", "-----BEGIN CERTIFICATE-----\nx\n")
    api = SimpleNamespace(
        configuration=SimpleNamespace(host="https://127.0.0.1:36443", ssl_ca_cert=str(ca),
                                      verify_ssl=True),
    )  # fmt: skip
    ext = [{"name": "snapconf.io/apiproxy", "extension": {"upstream": "/admin"}}]
    doc = yaml.safe_load(rbac._kubeconfig_text(api, "team", "tok", ext))
    cluster = doc["clusters"][0]["cluster"]
    assert cluster["server"] == "https://127.0.0.1:36443"
    assert base64.b64decode(cluster["certificate-authority-data"]) == ca.read_bytes()
    assert cluster["extensions"] == ext
    assert doc["users"] == [{"name": "team", "user": {"token": "tok"}}]
    assert doc["current-context"] == "team"


@pytest.mark.parametrize(
    ("argv", "mentions"),
    [
        (["rbac"], ["apply", "delete", "--kubeconfig", "--out", "--name", "--token-hours"]),
        (["run"], ["--namespace-prefix"]),
    ],
)
def test_help_mentions_the_new_options(
    capsys: pytest.CaptureFixture[str], argv: list[str], mentions: list[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for word in mentions:
        assert word in out
