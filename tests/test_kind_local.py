"""The pure parts of kind's local path (workshop/snapconf_testbed/kind), without Docker.

The runtime wrapper's OCI rewrite, the image contents and names, the rendered CSI
manifests and the pins of the kind modules. The shell side (run.sh --local-images and the
scripts in testbed/kind/local/) is checked with stub tools in tests/test_kind_assets.py.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from snapconf_testbed.kind import images, manifests, runtime
from snapconf_testbed.kind.__main__ import KIND_MODULES, KUBE_TOOLS

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "workshop" / "snapconf_testbed" / "kind" / "runtime.py"
THIS_MACHINE = 0x1FFFEFFFFFF  # every capability up to CAP_CHECKPOINT_RESTORE but SYS_RESOURCE
ALL_CAPS = list(runtime.CAPABILITIES)


def spec_with(caps: list[str]) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "args": ["/sbin/init"],
            "capabilities": {name: list(caps) for name in runtime.CAPABILITY_SETS},
        },
        "root": {"path": "rootfs"},
    }


# --- runtime wrapper ------------------------------------------------------------------


def test_capability_table_matches_the_kernel_numbering() -> None:
    assert runtime.CAPABILITIES[0] == "CAP_CHOWN"
    assert runtime.CAPABILITIES[21] == "CAP_SYS_ADMIN"
    assert runtime.CAPABILITIES[24] == "CAP_SYS_RESOURCE"
    assert runtime.CAPABILITIES[40] == "CAP_CHECKPOINT_RESTORE"
    assert len(set(runtime.CAPABILITIES)) == len(runtime.CAPABILITIES)


def test_this_machine_misses_only_sys_resource() -> None:
    assert runtime.missing_capabilities(THIS_MACHINE) == {"CAP_SYS_RESOURCE"}
    assert runtime.missing_capabilities((1 << 41) - 1) == set()


def test_own_bounding_mask_reads_capbnd(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapEff:\t0000000000000000\nCapBnd:\t000001fffeffffff\n")
    assert runtime.own_bounding_mask(status) == THIS_MACHINE
    status.write_text("Name:\tx\n")
    with pytest.raises(RuntimeError, match="no CapBnd"):
        runtime.own_bounding_mask(status)


def test_strip_spec_removes_the_capability_from_every_set() -> None:
    spec = spec_with(ALL_CAPS)
    assert runtime.strip_spec(spec, {"CAP_SYS_RESOURCE"})
    for name in runtime.CAPABILITY_SETS:
        caps = spec["process"]["capabilities"][name]
        assert "CAP_SYS_RESOURCE" not in caps
        assert len(caps) == len(ALL_CAPS) - 1
    assert not runtime.strip_spec(spec, {"CAP_SYS_RESOURCE"})  # nothing left to change


def test_strip_spec_leaves_specs_without_it_or_without_capabilities() -> None:
    default = spec_with(["CAP_CHOWN", "CAP_KILL"])
    assert not runtime.strip_spec(default, {"CAP_SYS_RESOURCE"})
    assert default == spec_with(["CAP_CHOWN", "CAP_KILL"])
    assert not runtime.strip_spec({"process": {"args": ["sh"]}}, {"CAP_SYS_RESOURCE"})
    assert not runtime.strip_spec({}, {"CAP_SYS_RESOURCE"})


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["create", "--bundle", "/b", "id"], ("create", ["--bundle", "/b", "id"])),
        (
            ["--root", "/r", "--log", "/l", "--log-format", "json", "--systemd-cgroup", "run", "x"],
            ("run", ["x"]),
        ),
        (["--debug", "exec", "-p", "/p.json", "id"], ("exec", ["-p", "/p.json", "id"])),
        (["--version"], ("", [])),
        ([], ("", [])),
    ],
)  # fmt: skip
def test_parse_command(args: list[str], expected: tuple[str, list[str]]) -> None:
    assert runtime.parse_command(args) == expected


def test_file_to_rewrite() -> None:
    assert runtime.file_to_rewrite(["--root", "/r", "create", "--bundle", "/b", "id"]) == (
        Path("/b/config.json"),
        True,
    )
    assert runtime.file_to_rewrite(["create", "-b=/b", "id"]) == (Path("/b/config.json"), True)
    assert runtime.file_to_rewrite(["run", "id"]) == (Path("config.json"), True)
    assert runtime.file_to_rewrite(["exec", "-p", "/p.json", "id"]) == (Path("/p.json"), False)
    assert runtime.file_to_rewrite(["exec", "id", "sh"]) is None
    for command in ("start", "state", "kill", "delete", "features"):
        assert runtime.file_to_rewrite(["--root", "/r", command, "id"]) is None


def test_rewrite_keeps_the_file_mode_and_only_writes_on_change(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(spec_with(ALL_CAPS)))
    config.chmod(0o600)
    assert runtime.rewrite(config, True, {"CAP_SYS_RESOURCE"})
    data = json.loads(config.read_text())
    assert "CAP_SYS_RESOURCE" not in data["process"]["capabilities"]["bounding"]
    assert config.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("*.snapconf-tmp"))
    before = config.stat().st_mtime_ns
    assert not runtime.rewrite(config, True, {"CAP_SYS_RESOURCE"})
    assert config.stat().st_mtime_ns == before
    process = tmp_path / "process.json"
    process.write_text(json.dumps(spec_with(ALL_CAPS)["process"]))
    assert runtime.rewrite(process, False, {"CAP_SYS_RESOURCE"})
    assert "CAP_SYS_RESOURCE" not in json.loads(process.read_text())["capabilities"]["ambient"]


def test_wrapper_rewrites_then_execs_runc_with_the_same_arguments(tmp_path: Path) -> None:
    """The script as dockerd runs it: the fake runc sees the rewritten spec and its argv."""
    fake = tmp_path / "runc"
    fake.write_text(
        "#!/bin/sh\n"
        'printf "%s\\n" "$@" >"$OUT/argv"\n'
        'cp "$OUT/bundle/config.json" "$OUT/seen.json"\n'
    )
    fake.chmod(0o755)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(spec_with(ALL_CAPS)))
    argv = ["--root", "/run/x", "--log", "/l", "create", "--bundle", str(bundle), "cid"]
    result = subprocess.run(
        [sys.executable, "-I", str(RUNTIME), "--runc", str(fake), *argv],
        env={**os.environ, "OUT": str(tmp_path)}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "argv").read_text().splitlines() == argv
    seen = json.loads((tmp_path / "seen.json").read_text())["process"]["capabilities"]
    expected = set(ALL_CAPS) - runtime.missing_capabilities(runtime.own_bounding_mask())
    assert set(seen["bounding"]) == expected


def test_wrapper_is_stdlib_only() -> None:
    """dockerd runs it with the system python3 -I: no project import may sneak in."""
    text = RUNTIME.read_text()
    imported = set(re.findall(r"^(?:from|import) (\w+)", text, re.MULTILINE))
    assert imported <= {"__future__", "json", "os", "sys", "collections", "pathlib", "typing"}


# --- images ------------------------------------------------------------------------------

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd2b9e8000)
\tlibresolv.so.2 => /lib/x86_64-linux-gnu/libresolv.so.2 (0x00007f3c1a5f0000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f3c1a40f000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f3c1a61a000)
"""


def test_parse_ldd() -> None:
    assert [str(p) for p in images.parse_ldd(LDD)] == [
        "/lib/x86_64-linux-gnu/libresolv.so.2",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
    ]
    assert images.parse_ldd("\tstatically linked\n") == []
    with pytest.raises(RuntimeError, match="missing"):
        images.parse_ldd("\tlibfoo.so.1 => not found\n")


KUBEADM_LIST = [
    "registry.k8s.io/kube-apiserver:v1.37.2",
    "registry.k8s.io/kube-controller-manager:v1.37.2",
    "registry.k8s.io/kube-scheduler:v1.37.2",
    "registry.k8s.io/kube-proxy:v1.37.2",
    "registry.k8s.io/coredns/coredns:v1.14.6",
    "registry.k8s.io/pause:3.10.2",
    "registry.k8s.io/etcd:3.7.0-0",
]


def test_control_plane_images_take_kubeadms_names() -> None:
    bins = {name: Path(f"/bin/{name}") for name in images.CONTROL_PLANE}
    built = images.control_plane_images(KUBEADM_LIST, bins)
    assert {i.name for i in built} == {
        "registry.k8s.io/kube-apiserver:v1.37.2",
        "registry.k8s.io/kube-controller-manager:v1.37.2",
        "registry.k8s.io/kube-scheduler:v1.37.2",
        "registry.k8s.io/etcd:3.7.0-0",
    }
    etcd = next(i for i in built if "etcd" in i.name)
    assert dict(etcd.files) == {"usr/local/bin/etcd": Path("/bin/etcd")}
    with pytest.raises(RuntimeError, match="etcd"):
        images.control_plane_images([n for n in KUBEADM_LIST if "etcd" not in n], bins)


def test_csi_images_are_local_names_and_the_plugin_carries_its_tools(tmp_path: Path) -> None:
    tags = {name: "v1.0.0" for name in images.CSI_BINARIES}
    names = images.csi_image_names(tags)
    assert names["csi-provisioner"] == "localhost/snapconf/csi-provisioner:v1.0.0"
    if any(shutil.which(t) is None for t in images.HOSTPATH_TOOLS):
        pytest.skip("tar, gzip or losetup is not installed")
    built = images.csi_images(tags, {n: tmp_path / n for n in images.CSI_BINARIES})
    plugin = next(i for i in built if "hostpathplugin" in i.name)
    tools = {"usr/bin/tar", "usr/bin/gzip", "usr/bin/losetup", "usr/bin/cp", "bin/sh"}
    assert tools <= set(plugin.files)
    assert plugin.entrypoint == ("/usr/local/bin/hostpathplugin",)


def _read_oci(path: Path) -> tuple[dict[str, Any], dict[str, tarfile.TarInfo], dict[str, Any]]:
    with tarfile.open(path) as outer:
        index = json.load(outer.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.load(outer.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]
        config = json.load(
            outer.extractfile(f"blobs/sha256/{manifest['config']['digest'].split(':')[1]}")  # type: ignore[arg-type]
        )
        layer = outer.extractfile(f"blobs/sha256/{manifest['layers'][0]['digest'].split(':')[1]}")
        assert layer is not None
        with tarfile.open(fileobj=io.BytesIO(layer.read())) as inner:
            members = {m.name: m for m in inner.getmembers()}
    return index, members, config


def test_write_makes_an_oci_archive_with_the_binary_and_parents(tmp_path: Path) -> None:
    binary = tmp_path / "tool"
    binary.write_bytes(b"#!/bin/sh\necho hi\n")  # not ELF: ldd names no library
    binary.chmod(0o755)
    image = images.Image(
        "localhost/snapconf/tool:v1", {"usr/local/bin/tool": binary}, ("/usr/local/bin/tool",)
    )
    path = images.write(image, tmp_path / "out")
    assert path.name == "localhost_snapconf_tool_v1.oci.tar"
    index, members, config = _read_oci(path)
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == image.name
    assert members["usr/local/bin/tool"].mode == 0o755
    assert members["usr"].isdir()
    assert members["usr/local/bin"].isdir()
    assert members["tmp"].mode == 0o1777
    assert "etc/passwd" in members
    assert config["config"]["Entrypoint"] == ["/usr/local/bin/tool"]
    mtime = path.stat().st_mtime_ns
    images.write(image, tmp_path / "out")
    assert path.stat().st_mtime_ns == mtime  # unchanged content, not rewritten


# --- manifests ---------------------------------------------------------------------------

UPSTREAM_CONTROLLER = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "snapshot-controller"}},
    {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "snapshot-controller", "namespace": "kube-system"},
        "spec": {
            "replicas": 2,
            "minReadySeconds": 35,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "snapshot-controller", "image": "registry.k8s.io/x:v8", "args": []}
                    ]
                }
            },
        },
    },
]
SIDECAR_RBAC = [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "csi-provisioner"}},
    {"kind": "ClusterRole", "metadata": {"name": "external-provisioner-runner"}},
    {"kind": "Role", "metadata": {"name": "external-provisioner-cfg", "namespace": "default"}},
]
IMAGES = images.csi_image_names({name: "v9" for name in images.CSI_BINARIES})


def test_snapshot_controller_gets_our_image_arguments_and_api_address() -> None:
    objs = manifests.snapshot_controller(UPSTREAM_CONTROLLER, IMAGES["snapshot-controller"])
    deploy = next(o for o in objs if o["kind"] == "Deployment")
    assert deploy["spec"]["replicas"] == 1
    (container,) = deploy["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "localhost/snapconf/snapshot-controller:v9"
    assert container["imagePullPolicy"] == "Never"
    assert "--leader-election=false" in container["args"]
    assert "--feature-gates=CSIVolumeGroupSnapshot=true" in container["args"]
    env = {e["name"]: e for e in container["env"]}
    assert env["KUBERNETES_SERVICE_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert env["KUBERNETES_SERVICE_PORT"]["value"] == "6443"


def test_hostpath_plugin_pod() -> None:
    objs = manifests.hostpath_plugin(IMAGES, SIDECAR_RBAC)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for obj in objs:
        by_kind.setdefault(obj["kind"], []).append(obj)
    (driver,) = by_kind["CSIDriver"]
    profile = yaml.safe_load((ROOT / "profiles" / "hostpath.yaml").read_text())
    assert driver["metadata"]["name"] == profile["driver"] == manifests.DRIVER_NAME
    assert driver["spec"]["attachRequired"] is False
    (sts,) = by_kind["StatefulSet"]
    # run.sh waits for these, as for upstream's deployment
    assert sts["metadata"]["namespace"] == "default"
    assert sts["metadata"]["name"] == "csi-hostpathplugin"
    labels = sts["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/name"] == "csi-hostpathplugin"
    assert sts["spec"]["selector"]["matchLabels"] == labels
    pod = sts["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert set(containers) == {"hostpath", "csi-provisioner", "csi-snapshotter", "csi-resizer"}
    for name, container in containers.items():
        assert container["imagePullPolicy"] == "Never"
        binary = "hostpathplugin" if name == "hostpath" else name
        assert container["image"] == IMAGES[binary]
    plugin = containers["hostpath"]
    assert plugin["securityContext"]["privileged"] is True
    socket = "/var/lib/kubelet/plugins/csi-hostpath/csi.sock"
    assert f"--kubelet-registration-path={socket}" in plugin["args"]
    assert "--plugin-registration-dir=/registration" in plugin["args"]
    mounts = {m["name"]: m for m in plugin["volumeMounts"]}
    assert mounts["mountpoint-dir"]["mountPropagation"] == "Bidirectional"
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"]}
    assert volumes["registration-dir"] == "/var/lib/kubelet/plugins_registry"
    assert volumes["socket-dir"] == "/var/lib/kubelet/plugins/csi-hostpath"
    assert "--feature-gates=CSIVolumeGroupSnapshot=true" in containers["csi-snapshotter"]["args"]
    assert "--feature-gates=Topology=true" in containers["csi-provisioner"]["args"]
    for sidecar in ("csi-provisioner", "csi-snapshotter", "csi-resizer"):
        assert "--csi-address=/csi/csi.sock" in containers[sidecar]["args"]
        assert containers[sidecar]["env"] == manifests.api_env()
    assert pod["serviceAccountName"] == manifests.PLUGIN_ACCOUNT
    bound = {b["roleRef"]["name"] for b in by_kind["ClusterRoleBinding"]}
    assert bound == set(manifests.RUNNER_ROLES)
    assert {b["roleRef"]["name"] for b in by_kind["RoleBinding"]} == {"external-provisioner-cfg"}
    for binding in by_kind["ClusterRoleBinding"] + by_kind["RoleBinding"]:
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": manifests.PLUGIN_ACCOUNT, "namespace": "default"}
        ]
    text = manifests.dump(objs)
    assert len(list(yaml.safe_load_all(text))) == len(objs)


# --- pins ------------------------------------------------------------------------------------


def _require(folder: str, module: str) -> str:
    text = (ROOT / "testbed" / folder / "go.mod").read_text()
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)} (v\S+)", text, re.MULTILINE)
    assert match, folder
    return match.group(1)


def test_kind_modules_are_pinned_where_the_workflow_and_testbed_say() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "nightly.yml").read_text())
    (job,) = workflow["jobs"].values()
    assert _require("modules/kind", "sigs.k8s.io/kind") == job["env"]["KIND_VERSION"]
    assert _require("modules/kubernetes-kind", "k8s.io/kubernetes") == _require(
        "modules/kubernetes", "k8s.io/kubernetes"
    )
    assert KUBE_TOOLS.binaries == ("kubeadm", "kubectl")
    for module in KIND_MODULES:
        assert (ROOT / "testbed" / module.folder / "go.sum").exists()
        assert module.version() == _require(module.folder, module.upstream)
