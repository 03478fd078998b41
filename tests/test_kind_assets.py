"""The kind assets (testbed/kind/, the nightly workflow), checked without Docker or a cluster.

run.sh itself runs only where a Docker engine answers; here it runs against stub tools
(docker, kind, kubectl, git, snapconf) that log their arguments, which checks the order
of the steps, the pinned versions it passes on and the exit status it returns.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
KIND_DIR = ROOT / "testbed" / "kind"
RUN_SH = KIND_DIR / "run.sh"
CLUSTER_YAML = KIND_DIR / "cluster.yaml"
CLUSTER_LOCAL_YAML = KIND_DIR / "cluster-local.yaml"
LOCAL_SCRIPTS = sorted((KIND_DIR / "local").glob("*.sh"))
KIND_GOMOD = ROOT / "testbed" / "modules" / "kind" / "go.mod"
WORKFLOW = ROOT / ".github" / "workflows" / "nightly.yml"
KUBERNETES_GOMOD = ROOT / "testbed" / "modules" / "kubernetes" / "go.mod"
SNAPSHOTTER_GOMOD = ROOT / "testbed" / "modules" / "external-snapshotter" / "go.mod"
PROFILE = ROOT / "profiles" / "hostpath.yaml"
CLASS_FILES = {
    "csi-hostpath-sc": "storageclass-immediate.yaml",
    "csi-hostpath-sc-wffc": "storageclass-wffc.yaml",
    "csi-hostpath-snapclass": "volumesnapshotclass.yaml",
}
SEMVER = re.compile(r"v\d+\.\d+\.\d+")


def gomod_require(path: Path, module: str) -> str:
    """The version ``path`` requires ``module`` at (single-line or block form)."""
    pattern = re.compile(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", re.MULTILINE)
    match = pattern.search(path.read_text())
    assert match, f"{path} does not require {module}"
    return match.group(1)


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def kubernetes_version() -> str:
    return gomod_require(KUBERNETES_GOMOD, "k8s.io/kubernetes")


@pytest.fixture(scope="module")
def snapshotter_version() -> str:
    return gomod_require(SNAPSHOTTER_GOMOD, "github.com/kubernetes-csi/external-snapshotter/v8")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = load(WORKFLOW)
    assert isinstance(data, dict)
    return data


def all_steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(step: dict[str, Any], action: str) -> bool:
    return str(step.get("uses", "")).split("@")[0] == action


# --- cluster.yaml ---------------------------------------------------------------------


def test_cluster_config_is_a_single_node_kind_cluster() -> None:
    config = load(CLUSTER_YAML)
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert [node["role"] for node in config["nodes"]] == ["control-plane"]


def test_node_image_is_the_pinned_kubernetes_version(kubernetes_version: str) -> None:
    (node,) = load(CLUSTER_YAML)["nodes"]
    image = node["image"].split("@")[0]
    repository, _, tag = image.rpartition(":")
    assert repository == "kindest/node"
    assert tag == kubernetes_version


def test_local_cluster_config_runs_without_registry_images(kubernetes_version: str) -> None:
    config = load(CLUSTER_LOCAL_YAML)
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    (node,) = config["nodes"]
    assert node["role"] == "control-plane"
    repository, _, tag = node["image"].rpartition(":")
    assert repository == "localhost/snapconf/kind-node"
    assert tag == kubernetes_version
    assert config["networking"] == {"disableDefaultCNI": True, "kubeProxyMode": "none"}
    patches = {p["kind"]: p for p in map(yaml.safe_load, config["kubeadmConfigPatches"])}
    assert patches["KubeletConfiguration"]["failCgroupV1"] is False
    # kind's own skips (preflight, kube-proxy) must stay: the list is replaced, not merged
    assert set(patches["InitConfiguration"]["skipPhases"]) == {
        "preflight",
        "addon/kube-proxy",
        "addon/coredns",
    }


# --- class manifests --------------------------------------------------------------------


def test_class_manifests_match_the_reference_profile() -> None:
    profile = load(PROFILE)
    expected = {
        profile["storageClass"]["name"],
        profile["wffcStorageClass"]["name"],
        profile["snapshotClass"]["name"],
    }
    assert expected == set(CLASS_FILES)
    for name, filename in CLASS_FILES.items():
        obj = load(KIND_DIR / filename)
        assert obj["metadata"]["name"] == name
        assert obj.get("provisioner", obj.get("driver")) == profile["driver"]


@pytest.mark.parametrize(
    ("filename", "mode"),
    [
        ("storageclass-immediate.yaml", "Immediate"),
        ("storageclass-wffc.yaml", "WaitForFirstConsumer"),
    ],
)
def test_storage_classes(filename: str, mode: str) -> None:
    obj = load(KIND_DIR / filename)
    assert (obj["apiVersion"], obj["kind"]) == ("storage.k8s.io/v1", "StorageClass")
    assert obj["volumeBindingMode"] == mode
    assert obj["reclaimPolicy"] == "Delete"
    assert obj["allowVolumeExpansion"] is True  # the profile declares expansion


def test_snapshot_class() -> None:
    obj = load(KIND_DIR / "volumesnapshotclass.yaml")
    assert (obj["apiVersion"], obj["kind"]) == ("snapshot.storage.k8s.io/v1", "VolumeSnapshotClass")
    assert obj["deletionPolicy"] == "Delete"


# --- nightly.yml ------------------------------------------------------------------------


def test_workflow_runs_nightly_and_on_demand(workflow: dict[str, Any]) -> None:
    # YAML 1.1 reads the bare key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    assert "workflow_dispatch" in triggers
    (schedule,) = triggers["schedule"]
    assert len(schedule["cron"].split()) == 5


def test_workflow_job_setup(workflow: dict[str, Any], kubernetes_version: str) -> None:
    (job,) = workflow["jobs"].values()
    assert str(job["runs-on"]).startswith("ubuntu-")
    assert SEMVER.fullmatch(job["env"]["KIND_VERSION"])
    assert job["env"]["KUBECTL_VERSION"] == kubernetes_version
    steps = job["steps"]
    python = [s for s in steps if uses(s, "actions/setup-python")]
    assert [s["with"]["python-version"] for s in python] == ["3.11"]
    scripts = "\n".join(str(s.get("run", "")) for s in steps)
    assert re.search(r"^\s*pip install \.\s*$", scripts, re.MULTILINE)
    assert "${KIND_VERSION}" in scripts
    assert "${KUBECTL_VERSION}" in scripts
    assert re.search(r"^\s*testbed/kind/run\.sh\s*$", scripts, re.MULTILINE)


def test_workflow_uploads_reports_always(workflow: dict[str, Any]) -> None:
    steps = all_steps(workflow)
    runs = [i for i, s in enumerate(steps) if "testbed/kind/run.sh" in str(s.get("run", ""))]
    uploads = [i for i, s in enumerate(steps) if uses(s, "actions/upload-artifact")]
    assert len(uploads) == 1
    upload = steps[uploads[0]]
    assert upload["if"].replace(" ", "") in {"always()", "${{always()}}"}
    assert "reports/" in upload["with"]["path"].split()
    assert uploads[0] > max(runs)


def test_workflow_actions_are_pinned(workflow: dict[str, Any]) -> None:
    for step in all_steps(workflow):
        if "uses" in step:
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


def test_actionlint() -> None:
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip("actionlint is not installed")
    result = subprocess.run(
        [actionlint, "-no-color", str(WORKFLOW)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- run.sh: static -----------------------------------------------------------------------


def test_run_sh_is_executable() -> None:
    mode = RUN_SH.stat().st_mode
    assert mode & stat.S_IXUSR
    assert os.access(RUN_SH, os.X_OK)
    assert RUN_SH.read_text().startswith("#!/usr/bin/env bash\n")


def test_run_sh_parses() -> None:
    result = subprocess.run(
        ["bash", "-n", str(RUN_SH)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_run_sh_is_strict() -> None:
    assert re.search(r"^set -euo pipefail$", RUN_SH.read_text(), re.MULTILINE)


def test_shellcheck() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    paths = [str(RUN_SH), *map(str, LOCAL_SCRIPTS)]
    result = subprocess.run(
        [shellcheck, "--format=gcc", *paths], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("script", LOCAL_SCRIPTS, ids=lambda p: p.name)
def test_local_scripts_are_strict_executable_and_parse(script: Path) -> None:
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert re.search(r"^set -euo pipefail$", text, re.MULTILINE)
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "script", [p for p in LOCAL_SCRIPTS if p.name != "base-customize.sh"], ids=lambda p: p.name
)
def test_local_scripts_help(script: Path) -> None:
    result = subprocess.run(
        ["bash", str(script), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: testbed/kind/local/{script.name}")


def test_snapshotter_version_is_read_from_gomod_not_hard_coded(snapshotter_version: str) -> None:
    text = RUN_SH.read_text()
    assert "testbed/modules/external-snapshotter/go.mod" in text
    assert snapshotter_version not in text


def test_help() -> None:
    result = subprocess.run(
        ["bash", str(RUN_SH), "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: testbed/kind/run.sh")
    for word in (
        "KEEP_CLUSTER",
        "--kubeconfig",
        "profiles/hostpath.yaml",
        "--report-dir reports",
        "--local-images",
        "LOCAL_DOCKERD",
    ):
        assert word in result.stdout


def test_print_versions(kubernetes_version: str, snapshotter_version: str) -> None:
    result = subprocess.run(
        ["bash", str(RUN_SH), "--print-versions"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    minor = ".".join(kubernetes_version.lstrip("v").split(".")[:2])
    assert values["kubernetes"] == kubernetes_version
    assert values["external_snapshotter"] == snapshotter_version
    assert SEMVER.fullmatch(values["csi_driver_host_path"])
    assert values["hostpath_deploy"] == f"deploy/kubernetes-{minor}"
    assert values["mode"] == "registry"


def test_print_versions_local(kubernetes_version: str) -> None:
    result = subprocess.run(
        ["bash", str(RUN_SH), "--local-images", "--print-versions"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["mode"] == "local-images"
    assert values["node_image"] == f"localhost/snapconf/kind-node:{kubernetes_version}"


# --- run.sh: the flow, against stub tools -------------------------------------------------

STUB = """\
#!/usr/bin/env bash
# Stub {name}: log the call, answer what run.sh asks.
printf '%s %s\\n' {name} "$*" >>"$STUB_LOG"
case "{name} $*" in
  "docker image inspect"*) exit "${{STUB_IMAGE_MISSING:-0}}" ;;
  "docker info"*) exit 0 ;;
  "kind get clusters"*) printf '%s\\n' $STUB_CLUSTERS ;;
  "kind get kubeconfig"*) echo "apiVersion: v1" ;;
  "kubectl get nodes"*) echo "$STUB_KUBELET_VERSION" ;;
  "kubectl get csinodes"*) echo "hostpath.csi.k8s.io" ;;
  "kubectl get storageclass csi-hostpath-sc -o"*) echo Immediate ;;
  "kubectl get storageclass csi-hostpath-sc-wffc -o"*) echo WaitForFirstConsumer ;;
  "kubectl get storageclass"*|"kubectl get volumesnapshotclass"*) exit 1 ;;
  "git -c advice.detachedHead=false clone"*)
    dest="${{@: -1}}"
    mkdir -p "$dest/client/config/crd" "$dest/deploy/kubernetes/snapshot-controller" \\
      "$dest/deploy/kubernetes-1.34" "$dest/deploy/kubernetes-1.33"
    printf '#!/usr/bin/env bash\\necho "deploy.sh $0" >>"$STUB_LOG"\\n' \\
      >"$dest/deploy/kubernetes-1.34/deploy.sh" ;;
  "snapconf "*) exit "${{STUB_SNAPCONF_STATUS:-0}}" ;;
esac
exit 0
"""


STUB_TOOLS = ("docker", "dockerd", "kind", "kubectl", "git", "curl", "snapconf", "go", "jq")
STUB_TOOLS += ("mmdebstrap",)
PYTHON_STUB = """\
#!/usr/bin/env bash
# Stub of the Python that runs snapconf_testbed.kind.
printf 'python %s\\n' "$*" >>"$STUB_LOG"
[[ $1 == -c ]] && exit 0
d=$STUB_ROOT
case "$3" in
  binaries) for b in kind kubectl kubeadm kubelet; do echo "$b=$d/bins/$b"; done ;;
  paths) echo "kind_module=$d/kind-mod"; echo "snapshot_crds=$d/crds" ;;
  images)
    printf 'node\\tregistry.k8s.io/pause:3.10.2\\t%s\\n' "$4/pause.tar"
    printf 'node\\tregistry.k8s.io/etcd:3.7.0-0\\t%s\\n' "$4/etcd.tar"
    printf 'load\\tlocalhost/snapconf/csi-provisioner:v6\\t%s\\n' "$4/prov.tar" ;;
  manifests) mkdir -p "$4"; touch "$4/snapshot-controller.yaml" "$4/csi-hostpath.yaml" ;;
esac
"""
SCRIPT_STUB = """\
#!/usr/bin/env bash
printf '{name} %s\\n' "$*" >>"$STUB_LOG"
[[ {name} == dockerd.sh && $1 == env ]] && echo 'DOCKER_HOST=unix:///stub.sock'
exit 0
"""


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A copy of the files run.sh reads, so its REPO_ROOT (and reports/) is tmp_path."""
    (tmp_path / "testbed").mkdir()
    shutil.copytree(KIND_DIR, tmp_path / "testbed" / "kind")
    for gomod in (KUBERNETES_GOMOD, SNAPSHOTTER_GOMOD, KIND_GOMOD):
        target = tmp_path / gomod.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(gomod, target)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in STUB_TOOLS:
        stub = bin_dir / name
        stub.write_text(STUB.format(name=name))
        stub.chmod(0o755)
    # --local-images: the workshop's steps and the image builds, logged
    (bin_dir / "stub-python").write_text(PYTHON_STUB)
    (bin_dir / "stub-python").chmod(0o755)
    for script in ("build-base.sh", "build-node.sh", "dockerd.sh"):
        path = tmp_path / "testbed" / "kind" / "local" / script
        path.write_text(SCRIPT_STUB.format(name=script))
    return tmp_path


def run_stubbed(
    sandbox: Path, *args: str, **env: str
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    log = sandbox / "calls.log"
    log.touch()
    environ = {
        "PATH": f"{sandbox / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "HOME": str(sandbox / "home"),
        "XDG_CACHE_HOME": str(sandbox / "cache"),
        "STUB_LOG": str(log),
        "STUB_CLUSTERS": "",
        "STUB_KUBELET_VERSION": gomod_require(KUBERNETES_GOMOD, "k8s.io/kubernetes"),
        "STUB_ROOT": str(sandbox),
        **env,
    }
    result = subprocess.run(
        ["bash", str(sandbox / "testbed" / "kind" / "run.sh"), *args],
        capture_output=True, text=True, env=environ, timeout=60, check=False,
    )  # fmt: skip
    return result, log.read_text().splitlines()


def index(calls: list[str], prefix: str) -> int:
    found = [i for i, call in enumerate(calls) if call.startswith(prefix)]
    assert found, f"no call starting with {prefix!r} in:\n" + "\n".join(calls)
    return found[0]


def test_flow_creates_installs_runs_and_deletes(
    sandbox: Path, kubernetes_version: str, snapshotter_version: str
) -> None:
    result, calls = run_stubbed(sandbox, "--area", "restore", "--", "-k", "x")
    assert result.returncode == 0, result.stderr
    create = index(calls, "kind create cluster --name snapconf --config ")
    assert f"--image kindest/node:{kubernetes_version}" in calls[create]
    snap_clone = index(calls, "git -c advice.detachedHead=false clone")
    assert f"--branch {snapshotter_version} " in calls[snap_clone]
    crds = index(calls, "kubectl apply --server-side --force-conflicts -k ")
    controller = index(calls, "kubectl -n kube-system wait --for=condition=Available")
    deploy = index(calls, "deploy.sh ")
    assert calls[deploy].endswith("/deploy/kubernetes-1.34/deploy.sh")
    classes = [i for i, c in enumerate(calls) if c.startswith("kubectl apply -f ")]
    applied = " ".join(calls[i] for i in classes)
    for filename in CLASS_FILES.values():
        assert filename in applied
    snapconf = index(calls, "snapconf run ")
    kubeconfig = sandbox / "cache" / "snapconf" / "kind-snapconf.kubeconfig"
    assert calls[snapconf] == (
        f"snapconf run --kubeconfig {kubeconfig} --profile profiles/hostpath.yaml"
        " --report-dir reports --area restore -- -k x"
    )
    delete = index(calls, "kind delete cluster --name snapconf")
    assert create < crds < controller < deploy < min(classes) < snapconf < delete
    assert not kubeconfig.exists()
    assert not (sandbox / "reports").exists()  # no diagnostics after a pass


def test_flow_returns_snapconf_status_and_collects_diagnostics(sandbox: Path) -> None:
    result, calls = run_stubbed(sandbox, STUB_SNAPCONF_STATUS="3")
    assert result.returncode == 3
    assert index(calls, "snapconf run ") < index(calls, "kind export logs")
    assert index(calls, "kind export logs") < index(calls, "kind delete cluster")
    assert (sandbox / "reports" / "kind-snapconf-diagnostics" / "pods.txt").exists()


def test_flow_reuses_and_keeps_the_cluster(sandbox: Path) -> None:
    result, calls = run_stubbed(sandbox, STUB_CLUSTERS="other snapconf", KEEP_CLUSTER="1")
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith("kind create") for c in calls)
    assert not any(c.startswith("kind delete") for c in calls)
    assert (sandbox / "cache" / "snapconf" / "kind-snapconf.kubeconfig").exists()


def test_flow_refuses_a_reused_cluster_of_another_version(sandbox: Path) -> None:
    result, calls = run_stubbed(sandbox, STUB_CLUSTERS="snapconf", STUB_KUBELET_VERSION="v1.30.0")
    assert result.returncode != 0
    assert "not the pinned" in result.stderr
    assert not any(c.startswith("snapconf") for c in calls)
    index(calls, "kind delete cluster --name snapconf")


def test_flow_refuses_a_node_image_off_the_pin(sandbox: Path) -> None:
    config = sandbox / "testbed" / "kind" / "cluster.yaml"
    config.write_text(re.sub(r"kindest/node:v[\d.]+", "kindest/node:v1.30.0", config.read_text()))
    result, calls = run_stubbed(sandbox)
    assert result.returncode == 1
    assert "does not match Kubernetes" in result.stderr
    assert calls == []


def test_flow_reports_missing_tools(sandbox: Path) -> None:
    (sandbox / "bin" / "kind").unlink()
    result, calls = run_stubbed(sandbox)
    assert result.returncode == 1
    assert "not on PATH: kind" in result.stderr
    assert calls == []


def test_local_flow_builds_creates_loads_installs_runs_and_deletes(
    sandbox: Path, kubernetes_version: str
) -> None:
    (sandbox / "bins").mkdir()
    for name in ("kind", "kubectl", "kubeadm", "kubelet"):
        (sandbox / "bins" / name).write_text(name)
    result, calls = run_stubbed(
        sandbox,
        "--local-images",
        "-n",
        "2",
        SNAPCONF_PYTHON=str(sandbox / "bin" / "stub-python"),
        STUB_IMAGE_MISSING="1",
    )
    assert result.returncode == 0, result.stderr
    start = index(calls, "dockerd.sh start")
    binaries = index(calls, "python -m snapconf_testbed.kind binaries")
    imgs = index(calls, "python -m snapconf_testbed.kind images ")
    manifests = index(calls, "python -m snapconf_testbed.kind manifests ")
    base = index(calls, "build-base.sh ")
    assert f"{sandbox}/kind-mod localhost/snapconf/kind-base:v0.33.0-bookworm-" in calls[base]
    node = index(calls, "build-node.sh ")
    node_image = f"localhost/snapconf/kind-node:{kubernetes_version}"
    assert f" {node_image} {kubernetes_version} " in calls[node]
    create = index(calls, "kind create cluster --name snapconf --config ")
    assert "/cluster-local.yaml " in calls[create]
    assert f"--image localhost/snapconf/kind-node:{kubernetes_version}" in calls[create]
    load = index(calls, "kind load image-archive ")
    assert calls[load].endswith("/prov.tar --name snapconf")  # only the `load` archives
    assert sum(c.startswith("kind load") for c in calls) == 1
    crds = index(calls, f"kubectl apply --server-side --force-conflicts -k {sandbox}/crds")
    controller = index(calls, "kubectl apply --server-side --force-conflicts -f ")
    assert calls[controller].endswith("/snapshot-controller.yaml")
    plugin = index(calls, "kubectl -n default wait --for=jsonpath")
    assert calls[plugin - 2].endswith("/csi-hostpath.yaml")
    snapconf = index(calls, "snapconf run ")
    assert calls[snapconf].endswith("--report-dir reports -n 2")
    delete = index(calls, "kind delete cluster --name snapconf")
    stop = index(calls, "dockerd.sh stop")
    assert start < binaries < imgs < manifests < base < node < create < load < crds
    assert crds < controller < plugin < snapconf < delete < stop
    assert not any(c.startswith(("git ", "curl ")) for c in calls)


def test_local_flow_uses_the_callers_engine_and_keeps_it(sandbox: Path) -> None:
    (sandbox / "bins").mkdir()
    result, calls = run_stubbed(
        sandbox,
        "--local-images",
        SNAPCONF_PYTHON=str(sandbox / "bin" / "stub-python"),
        LOCAL_DOCKERD="0",
        KIND_LOCAL_IMAGES="1",
    )
    assert result.returncode == 0, result.stderr
    assert not any(c.startswith("dockerd.sh") for c in calls)
    index(calls, "docker info")
    assert not any(c.startswith("build-base.sh") for c in calls)  # the base image exists
    index(calls, "build-node.sh ")  # the node image lacks the current key
