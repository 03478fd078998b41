"""The built-in templates, the override folder, the error messages, and that every
``render(...)`` call in the actions package passes exactly the variables its template names."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import jinja2
import pytest
from jinja2 import meta

from conformance.manifests import Renderer, RenderError
from conformance.paths import data_dir

ACTIONS = Path(__file__).resolve().parent.parent / "conformance" / "actions"
DEFAULT_DIR = data_dir("manifests")

PVC_ARGS: dict[str, Any] = {
    "name": "pvc-1a2b3c",
    "namespace": "snapconf-r1-gw0-abc",
    "storage_class": "csi-hostpath-sc",
    "access_modes": ["ReadWriteOnce"],
    "volume_mode": "Filesystem",
    "size": "1Gi",
    "data_source": None,
    "volume_name": None,
}
POD_ARGS: dict[str, Any] = {
    "name": "writer-1a2b3c",
    "namespace": "snapconf-r1-gw0-abc",
    "image": "docker.io/library/busybox:1.35",
    "pull_policy": "IfNotPresent",
    "command": ["sh", "-c", "echo hi > /dev/termination-log"],
    "volumes": [{"name": "vol", "claim_name": "pvc-1", "mode": "Filesystem", "path": "/data"}],
    "node_name": None,
}
PV_ARGS: dict[str, Any] = {
    "name": "r1-pv-1a2b3c",
    "driver": "hostpath.csi.k8s.io",
    "volume_handle": "0f1e2d3c-aaaa-bbbb",
    "capacity": "1Gi",
    "access_modes": ["ReadWriteOnce"],
    "volume_mode": "Filesystem",
    "reclaim_policy": "Retain",
    "storage_class": "",
    "claim_ref": None,
    "volume_attributes": {},
    "node_affinity": None,
}
SNAP_ARGS: dict[str, Any] = {
    "name": "snap-1a2b3c",
    "namespace": "snapconf-r1-gw0-abc",
    "snapshot_class": "csi-hostpath-snapclass",
    "source_pvc": "pvc-1",
    "source_content": None,
}
CONTENT_ARGS: dict[str, Any] = {
    "name": "r1-content-1a2b3c",
    "driver": "hostpath.csi.k8s.io",
    "deletion_policy": "Retain",
    "snapshot_class": None,
    "source_snapshot_handle": "snap-handle-1",
    "source_volume_handle": None,
    "snapshot_ref": {"name": "imported-1", "namespace": "ns-1", "uid": None},
}
SC_ARGS: dict[str, Any] = {
    "name": "r1-gw0-sc-imm-retain",
    "provisioner": "hostpath.csi.k8s.io",
    "parameters": {},
    "reclaim_policy": "Retain",
    "volume_binding_mode": "Immediate",
    "allow_volume_expansion": False,
    "mount_options": [],
}
VSC_ARGS: dict[str, Any] = {
    "name": "r1-gw0-vsc-retain",
    "driver": "hostpath.csi.k8s.io",
    "deletion_policy": "Retain",
    "parameters": {},
}
VGS_ARGS: dict[str, Any] = {
    "name": "group-1a2b3c",
    "namespace": "snapconf-r1-gw0-abc",
    "group_snapshot_class": "r1-gw0-vgsc-delete",
    "selector_labels": {"snapconf.io/group": "group-9f8e7d"},
    "source_content": None,
}
VGSC_ARGS: dict[str, Any] = {
    "name": "r1-gw0-vgsc-delete",
    "driver": "hostpath.csi.k8s.io",
    "deletion_policy": "Delete",
    "parameters": {},
}
GROUP_CONTENT_ARGS: dict[str, Any] = {
    "name": "r1-group-content-1a2b3c",
    "driver": "hostpath.csi.k8s.io",
    "deletion_policy": "Retain",
    "group_snapshot_class": None,
    "group_snapshot_handle": "group-handle-1",
    "snapshot_handles": ["snap-handle-1", "snap-handle-2"],
    "volume_handles": None,
    "group_snapshot_ref": {"name": "imported-group-1", "namespace": "ns-1", "uid": None},
}
ALL_ARGS: dict[str, dict[str, Any]] = {
    "namespace": {"name": "snapconf-r1-gw0-abc"},
    "persistentvolumeclaim": PVC_ARGS,
    "pod": POD_ARGS,
    "persistentvolume": PV_ARGS,
    "volumesnapshot": SNAP_ARGS,
    "volumesnapshotcontent": CONTENT_ARGS,
    "storageclass": SC_ARGS,
    "volumesnapshotclass": VSC_ARGS,
    "volumegroupsnapshot": VGS_ARGS,
    "volumegroupsnapshotclass": VGSC_ARGS,
    "volumegroupsnapshotcontent": GROUP_CONTENT_ARGS,
}

# Strings that break naive "key: {{ value }}" templating in one way or another.
AWKWARD = [
    "a: b",
    "'single' \"double\"",
    "line1\nline2\n",
    "# not a comment",
    "- not a list",
    "yes",
    "null",
    "0123",
    "1e3",
    "{not: flow}",
    "[not, flow]",
    "*alias",
    "&anchor",
    "!tag",
    "%directive",
    "@at `tick` |pipe >fold",
    "back\\slash\ttab",
    "<html>&amp;</html>",
    "unicode é ✓ 😀",
    "separators \u0085 \u2028 \u2029",
    "controls \x00 \x1b \x7f \x9f",
    "  padded  ",
    "",
]


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    # One for the module: rendering does not change it, and compiled templates are reused.
    return Renderer()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------ every template


@pytest.mark.parametrize("kind", sorted(ALL_ARGS))
def test_every_template_renders_one_named_object(renderer: Renderer, kind: str) -> None:
    obj = renderer.render(kind, **ALL_ARGS[kind])
    assert obj["kind"].lower() == kind
    assert obj["metadata"]["name"] == ALL_ARGS[kind]["name"]
    assert "labels" not in obj["metadata"]


def test_templates_document_themselves() -> None:
    for path in sorted(DEFAULT_DIR.glob("*.yaml.j2")):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("{#"), path.name
        assert "Variables:" in text.split("#}", 1)[0], path.name


def test_template_names_lists_the_built_in_kinds(renderer: Renderer) -> None:
    assert renderer.template_names() == sorted(f"{kind}.yaml.j2" for kind in ALL_ARGS)
    assert renderer.source_of("pod") == DEFAULT_DIR / "pod.yaml.j2"
    assert renderer.source_of("pod.yaml.j2") == DEFAULT_DIR / "pod.yaml.j2"


# ------------------------------------------------------------ namespace and claims


def test_namespace(renderer: Renderer) -> None:
    obj = renderer.render("namespace", name="snapconf-r1-gw0-abc")
    assert obj == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": obj["metadata"]["name"]},
    }


def test_pvc_plain_has_no_source_or_volume(renderer: Renderer) -> None:
    obj = renderer.render("persistentvolumeclaim", **PVC_ARGS)
    assert obj["apiVersion"] == "v1"
    assert obj["metadata"] == {"name": "pvc-1a2b3c", "namespace": "snapconf-r1-gw0-abc"}
    assert obj["spec"] == {
        "storageClassName": "csi-hostpath-sc",
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Filesystem",
        "resources": {"requests": {"storage": "1Gi"}},
    }


def test_pvc_restored_from_snapshot(renderer: Renderer) -> None:
    source = {"kind": "VolumeSnapshot", "name": "snap-1", "apiGroup": "snapshot.storage.k8s.io"}
    obj = renderer.render(
        "persistentvolumeclaim", **{**PVC_ARGS, "data_source": source, "volume_mode": "Block"}
    )
    assert obj["spec"]["dataSource"] == source
    assert obj["spec"]["volumeMode"] == "Block"
    assert "dataSourceRef" not in obj["spec"]


def test_pvc_clone_source_omits_a_none_api_group(renderer: Renderer) -> None:
    source = {"kind": "PersistentVolumeClaim", "name": "pvc-0", "apiGroup": None}
    obj = renderer.render("persistentvolumeclaim", **{**PVC_ARGS, "data_source": source})
    assert obj["spec"]["dataSource"] == {"kind": "PersistentVolumeClaim", "name": "pvc-0"}


def test_pvc_static_binding_keeps_the_empty_class(renderer: Renderer) -> None:
    obj = renderer.render(
        "persistentvolumeclaim", **{**PVC_ARGS, "storage_class": "", "volume_name": "r1-pv-1"}
    )
    assert obj["spec"]["storageClassName"] == ""
    assert obj["spec"]["volumeName"] == "r1-pv-1"


def test_pvc_none_class_and_mode_are_left_to_the_cluster(renderer: Renderer) -> None:
    obj = renderer.render(
        "persistentvolumeclaim", **{**PVC_ARGS, "storage_class": None, "volume_mode": None}
    )
    assert "storageClassName" not in obj["spec"]
    assert "volumeMode" not in obj["spec"]


# ------------------------------------------------------------ pods


def test_pod_fixed_fields(renderer: Renderer) -> None:
    obj = renderer.render("pod", **POD_ARGS)
    spec = obj["spec"]
    assert obj["metadata"] == {"name": "writer-1a2b3c", "namespace": "snapconf-r1-gw0-abc"}
    assert spec["restartPolicy"] == "Never"
    assert spec["terminationGracePeriodSeconds"] == 1
    assert spec["dnsPolicy"] == "Default"
    assert spec["automountServiceAccountToken"] is False
    assert "nodeName" not in spec
    assert "securityContext" not in spec
    [container] = spec["containers"]
    assert container["name"] == "main"
    assert container["image"] == "docker.io/library/busybox:1.35"
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["command"] == POD_ARGS["command"]
    assert container["terminationMessagePolicy"] == "File"
    assert "securityContext" not in container


def test_pod_filesystem_volume_is_mounted(renderer: Renderer) -> None:
    spec = renderer.render("pod", **POD_ARGS)["spec"]
    [container] = spec["containers"]
    assert container["volumeMounts"] == [{"name": "vol", "mountPath": "/data"}]
    assert "volumeDevices" not in container
    assert spec["volumes"] == [{"name": "vol", "persistentVolumeClaim": {"claimName": "pvc-1"}}]


def test_pod_block_volume_is_a_device(renderer: Renderer) -> None:
    volume = {"name": "vol", "claim_name": "pvc-b", "mode": "Block", "path": "/dev/snapconf-block"}
    spec = renderer.render("pod", **{**POD_ARGS, "volumes": [volume], "node_name": "node-1"})[
        "spec"
    ]
    [container] = spec["containers"]
    assert container["volumeDevices"] == [{"name": "vol", "devicePath": "/dev/snapconf-block"}]
    assert "volumeMounts" not in container
    assert spec["volumes"] == [{"name": "vol", "persistentVolumeClaim": {"claimName": "pvc-b"}}]
    assert spec["nodeName"] == "node-1"


def test_pod_mixed_volumes_and_no_volumes(renderer: Renderer) -> None:
    volumes = [
        {"name": "fs", "claim_name": "pvc-f", "mode": "Filesystem", "path": "/data"},
        {"name": "blk", "claim_name": "pvc-b", "mode": "Block", "path": "/dev/b"},
    ]
    spec = renderer.render("pod", **{**POD_ARGS, "volumes": volumes})["spec"]
    [container] = spec["containers"]
    assert container["volumeMounts"] == [{"name": "fs", "mountPath": "/data"}]
    assert container["volumeDevices"] == [{"name": "blk", "devicePath": "/dev/b"}]
    assert [v["name"] for v in spec["volumes"]] == ["fs", "blk"]

    bare = renderer.render("pod", **{**POD_ARGS, "volumes": [], "pull_policy": None})["spec"]
    assert "volumes" not in bare
    assert "volumeMounts" not in bare["containers"][0]
    assert "imagePullPolicy" not in bare["containers"][0]


def test_pod_command_with_shell_quoting_survives(renderer: Renderer) -> None:
    script = (
        "set -eu; trap 'exit 0' TERM; "
        'echo "sha256=$sum size=16" > /dev/termination-log; x="a: b # c"\nsecond line'
    )
    obj = renderer.render("pod", **{**POD_ARGS, "command": ["sh", "-c", script]})
    assert obj["spec"]["containers"][0]["command"] == ["sh", "-c", script]


# ------------------------------------------------------------ persistent volumes


def test_pv_minimal(renderer: Renderer) -> None:
    obj = renderer.render("persistentvolume", **PV_ARGS)
    assert obj["apiVersion"] == "v1"
    assert obj["metadata"] == {
        "name": "r1-pv-1a2b3c",
        "annotations": {"pv.kubernetes.io/provisioned-by": "hostpath.csi.k8s.io"},
    }
    assert obj["spec"] == {
        "capacity": {"storage": "1Gi"},
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Filesystem",
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": "",
        "csi": {"driver": "hostpath.csi.k8s.io", "volumeHandle": "0f1e2d3c-aaaa-bbbb"},
    }


def test_pv_reserved_for_a_claim_on_one_node(renderer: Renderer) -> None:
    obj = renderer.render(
        "persistentvolume",
        **{
            **PV_ARGS,
            "volume_mode": "Block",
            "claim_ref": {"name": "pvc-static", "namespace": "ns-1"},
            "volume_attributes": {
                "kind": "block",
                "storage.kubernetes.io/csiProvisionerIdentity": "1-2-x",
            },
            "node_affinity": {
                "key": "topology.hostpath.csi/node",
                "values": ["kind-control-plane"],
            },
        },
    )
    spec = obj["spec"]
    assert spec["volumeMode"] == "Block"
    assert spec["claimRef"] == {"name": "pvc-static", "namespace": "ns-1"}
    assert spec["csi"]["volumeAttributes"] == {
        "kind": "block",
        "storage.kubernetes.io/csiProvisionerIdentity": "1-2-x",
    }
    assert spec["nodeAffinity"] == {
        "required": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {
                            "key": "topology.hostpath.csi/node",
                            "operator": "In",
                            "values": ["kind-control-plane"],
                        }
                    ]
                }
            ]
        }
    }


# ------------------------------------------------------------ snapshots


def test_snapshot_of_a_claim(renderer: Renderer) -> None:
    obj = renderer.render("volumesnapshot", **SNAP_ARGS)
    assert obj["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert obj["kind"] == "VolumeSnapshot"
    assert obj["metadata"] == {"name": "snap-1a2b3c", "namespace": "snapconf-r1-gw0-abc"}
    assert obj["spec"] == {
        "volumeSnapshotClassName": "csi-hostpath-snapclass",
        "source": {"persistentVolumeClaimName": "pvc-1"},
    }


def test_snapshot_of_a_content_without_class(renderer: Renderer) -> None:
    obj = renderer.render(
        "volumesnapshot",
        **{**SNAP_ARGS, "snapshot_class": None, "source_pvc": None, "source_content": "c-1"},
    )
    assert obj["spec"] == {"source": {"volumeSnapshotContentName": "c-1"}}


@pytest.mark.parametrize(
    ("source_pvc", "source_content", "expected"),
    [
        (
            "pvc-1",
            "c-1",
            {"persistentVolumeClaimName": "pvc-1", "volumeSnapshotContentName": "c-1"},
        ),
        (None, None, {}),
    ],
    ids=["both", "neither"],
)
def test_snapshot_invalid_sources_render_as_given(
    renderer: Renderer, source_pvc: str | None, source_content: str | None, expected: Any
) -> None:
    obj = renderer.render(
        "volumesnapshot",
        **{
            **SNAP_ARGS,
            "snapshot_class": None,
            "source_pvc": source_pvc,
            "source_content": source_content,
        },
    )
    assert obj["spec"] == {"source": expected}


def test_pre_provisioned_content(renderer: Renderer) -> None:
    obj = renderer.render("volumesnapshotcontent", **CONTENT_ARGS)
    assert obj["apiVersion"] == "snapshot.storage.k8s.io/v1"
    assert obj["kind"] == "VolumeSnapshotContent"
    assert obj["metadata"] == {"name": "r1-content-1a2b3c"}
    assert obj["spec"] == {
        "driver": "hostpath.csi.k8s.io",
        "deletionPolicy": "Retain",
        "source": {"snapshotHandle": "snap-handle-1"},
        "volumeSnapshotRef": {
            "apiVersion": "snapshot.storage.k8s.io/v1",
            "kind": "VolumeSnapshot",
            "name": "imported-1",
            "namespace": "ns-1",
        },
    }


def test_content_with_uid_class_and_volume_handle(renderer: Renderer) -> None:
    obj = renderer.render(
        "volumesnapshotcontent",
        **{
            **CONTENT_ARGS,
            "snapshot_class": "csi-hostpath-snapclass",
            "source_snapshot_handle": None,
            "source_volume_handle": "vol-1",
            "snapshot_ref": {"name": "s", "namespace": "n", "uid": "1234-abcd"},
        },
    )
    spec = obj["spec"]
    assert spec["volumeSnapshotClassName"] == "csi-hostpath-snapclass"
    assert spec["source"] == {"volumeHandle": "vol-1"}
    assert spec["volumeSnapshotRef"]["uid"] == "1234-abcd"


def test_content_both_and_neither_sources(renderer: Renderer) -> None:
    both = renderer.render(
        "volumesnapshotcontent", **{**CONTENT_ARGS, "source_volume_handle": "vol-1"}
    )
    assert both["spec"]["source"] == {"snapshotHandle": "snap-handle-1", "volumeHandle": "vol-1"}
    neither = renderer.render(
        "volumesnapshotcontent", **{**CONTENT_ARGS, "source_snapshot_handle": None}
    )
    assert neither["spec"]["source"] == {}


# ------------------------------------------------------------ classes


def test_storage_class_minimal(renderer: Renderer) -> None:
    obj = renderer.render("storageclass", **SC_ARGS)
    assert obj == {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "r1-gw0-sc-imm-retain"},
        "provisioner": "hostpath.csi.k8s.io",
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "Immediate",
        "allowVolumeExpansion": False,
    }


def test_storage_class_full(renderer: Renderer) -> None:
    parameters = {"csi.storage.k8s.io/fstype": "ext4", "kind": "fast"}
    obj = renderer.render(
        "storageclass",
        **{
            **SC_ARGS,
            "parameters": parameters,
            "volume_binding_mode": "WaitForFirstConsumer",
            "allow_volume_expansion": True,
            "mount_options": ["noatime", "nodev"],
        },
    )
    assert obj["parameters"] == parameters
    assert obj["volumeBindingMode"] == "WaitForFirstConsumer"
    assert obj["allowVolumeExpansion"] is True
    assert obj["mountOptions"] == ["noatime", "nodev"]


def test_snapshot_class(renderer: Renderer) -> None:
    obj = renderer.render("volumesnapshotclass", **VSC_ARGS)
    assert obj == {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": "r1-gw0-vsc-retain"},
        "driver": "hostpath.csi.k8s.io",
        "deletionPolicy": "Retain",
    }
    with_params = renderer.render("volumesnapshotclass", **{**VSC_ARGS, "parameters": {"a": "b"}})
    assert with_params["parameters"] == {"a": "b"}


# ------------------------------------------------------------ group snapshots


def test_group_snapshot_of_labelled_claims(renderer: Renderer) -> None:
    obj = renderer.render("volumegroupsnapshot", **VGS_ARGS)
    assert obj["apiVersion"] == "groupsnapshot.storage.k8s.io/v1"
    assert obj["kind"] == "VolumeGroupSnapshot"
    assert obj["metadata"] == {"name": "group-1a2b3c", "namespace": "snapconf-r1-gw0-abc"}
    assert obj["spec"] == {
        "volumeGroupSnapshotClassName": "r1-gw0-vgsc-delete",
        "source": {"selector": {"matchLabels": {"snapconf.io/group": "group-9f8e7d"}}},
    }


def test_group_snapshot_of_a_content_without_class(renderer: Renderer) -> None:
    obj = renderer.render(
        "volumegroupsnapshot",
        **{**VGS_ARGS, "group_snapshot_class": None, "selector_labels": None,
           "source_content": "gc-1"},
    )  # fmt: skip
    assert obj["spec"] == {"source": {"volumeGroupSnapshotContentName": "gc-1"}}
    neither = renderer.render(
        "volumegroupsnapshot", **{**VGS_ARGS, "selector_labels": None, "group_snapshot_class": None}
    )
    assert neither["spec"] == {"source": {}}


def test_group_snapshot_class(renderer: Renderer) -> None:
    obj = renderer.render("volumegroupsnapshotclass", **VGSC_ARGS)
    assert obj == {
        "apiVersion": "groupsnapshot.storage.k8s.io/v1",
        "kind": "VolumeGroupSnapshotClass",
        "metadata": {"name": "r1-gw0-vgsc-delete"},
        "driver": "hostpath.csi.k8s.io",
        "deletionPolicy": "Delete",
    }
    with_params = renderer.render(
        "volumegroupsnapshotclass", **{**VGSC_ARGS, "parameters": {"a": "b"}}
    )
    assert with_params["parameters"] == {"a": "b"}


def test_pre_provisioned_group_content(renderer: Renderer) -> None:
    obj = renderer.render("volumegroupsnapshotcontent", **GROUP_CONTENT_ARGS)
    assert obj["apiVersion"] == "groupsnapshot.storage.k8s.io/v1"
    assert obj["kind"] == "VolumeGroupSnapshotContent"
    assert obj["metadata"] == {"name": "r1-group-content-1a2b3c"}
    assert obj["spec"] == {
        "driver": "hostpath.csi.k8s.io",
        "deletionPolicy": "Retain",
        "source": {
            "groupSnapshotHandles": {
                "volumeGroupSnapshotHandle": "group-handle-1",
                "volumeSnapshotHandles": ["snap-handle-1", "snap-handle-2"],
            }
        },
        "volumeGroupSnapshotRef": {
            "apiVersion": "groupsnapshot.storage.k8s.io/v1",
            "kind": "VolumeGroupSnapshot",
            "name": "imported-group-1",
            "namespace": "ns-1",
        },
    }


def test_group_content_with_uid_class_and_volume_handles(renderer: Renderer) -> None:
    obj = renderer.render(
        "volumegroupsnapshotcontent",
        **{
            **GROUP_CONTENT_ARGS,
            "group_snapshot_class": "vgsc",
            "group_snapshot_handle": None,
            "volume_handles": ["vol-1", "vol-2"],
            "group_snapshot_ref": {"name": "g", "namespace": "n", "uid": "1234-abcd"},
        },
    )
    spec = obj["spec"]
    assert spec["volumeGroupSnapshotClassName"] == "vgsc"
    assert spec["source"] == {"volumeHandles": ["vol-1", "vol-2"]}
    assert spec["volumeGroupSnapshotRef"]["uid"] == "1234-abcd"
    neither = renderer.render(
        "volumegroupsnapshotcontent", **{**GROUP_CONTENT_ARGS, "group_snapshot_handle": None}
    )
    assert neither["spec"]["source"] == {}


# ------------------------------------------------------------ awkward values


@pytest.mark.parametrize("value", AWKWARD, ids=range(len(AWKWARD)))
def test_awkward_strings_survive(renderer: Renderer, value: str) -> None:
    attributes = {value or "empty": value, "k": value}
    pv = renderer.render(
        "persistentvolume",
        **{**PV_ARGS, "volume_handle": value or "h", "volume_attributes": attributes},
    )
    assert pv["spec"]["csi"]["volumeAttributes"] == attributes
    if value:
        assert pv["spec"]["csi"]["volumeHandle"] == value
    sc = renderer.render(
        "storageclass", **{**SC_ARGS, "parameters": {"p": value}, "mount_options": [value]}
    )
    assert sc["parameters"] == {"p": value}
    assert sc["mountOptions"] == [value]
    pod = renderer.render("pod", **{**POD_ARGS, "command": ["sh", "-c", value]})
    assert pod["spec"]["containers"][0]["command"] == ["sh", "-c", value]


def test_unserialisable_value_is_a_render_error(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match=r"^namespace\.yaml\.j2: .*JSON serializable"):
        renderer.render("namespace", name=object())


# ------------------------------------------------------------ overrides


def test_override_replaces_one_template(tmp_path: Path) -> None:
    custom = (DEFAULT_DIR / "namespace.yaml.j2").read_text(encoding="utf-8")
    custom = custom.replace(
        "  name: {{ name | tojson }}\n",
        "  name: {{ name | tojson }}\n  annotations: {team: storage}\n",
    )
    write(tmp_path, "namespace.yaml.j2", custom)
    write(tmp_path, "README.md", "not a template\n")
    renderer = Renderer(tmp_path)

    ns = renderer.render("namespace", name="ns-1")
    assert ns["metadata"] == {"name": "ns-1", "annotations": {"team": "storage"}}
    assert renderer.source_of("namespace") == tmp_path / "namespace.yaml.j2"

    pvc = renderer.render("persistentvolumeclaim", **PVC_ARGS)
    assert pvc["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert (
        renderer.source_of("persistentvolumeclaim") == DEFAULT_DIR / "persistentvolumeclaim.yaml.j2"
    )
    assert renderer.template_names() == sorted(f"{kind}.yaml.j2" for kind in ALL_ARGS)


def test_override_may_add_a_kind_and_drop_variables(tmp_path: Path) -> None:
    write(tmp_path, "pod.yaml.j2", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: fixed\n")
    write(
        tmp_path,
        "configmap.yaml.j2",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ name }}}\n",
    )
    renderer = Renderer(tmp_path)
    assert renderer.render("pod", **POD_ARGS)["metadata"]["name"] == "fixed"
    assert renderer.render("configmap", name="cm")["kind"] == "ConfigMap"
    assert "configmap.yaml.j2" in renderer.template_names()


def test_override_folder_must_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(RenderError, match="not a directory"):
        Renderer(missing)
    a_file = write(tmp_path, "file.yaml.j2", "x: 1\n")
    with pytest.raises(RenderError, match="not a directory"):
        Renderer(a_file)


# ------------------------------------------------------------ errors


def test_missing_variable_names_template_and_variable(renderer: Renderer) -> None:
    args = {k: v for k, v in PVC_ARGS.items() if k != "size"}
    with pytest.raises(RenderError) as info:
        renderer.render("persistentvolumeclaim", **args)
    assert str(info.value) == "persistentvolumeclaim.yaml.j2: 'size' is undefined"


def test_several_missing_variables_are_all_named(renderer: Renderer) -> None:
    with pytest.raises(
        RenderError, match=r"^volumesnapshot\.yaml\.j2: 'namespace', 'source_pvc' are undefined$"
    ):
        renderer.render("volumesnapshot", name="s", snapshot_class=None, source_content=None)


def test_missing_variable_in_override_says_so(tmp_path: Path) -> None:
    write(
        tmp_path,
        "namespace.yaml.j2",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: {{ nme }}}\n",
    )
    with pytest.raises(RenderError) as info:
        Renderer(tmp_path).render("namespace", name="ns")
    message = str(info.value)
    assert message.startswith("namespace.yaml.j2 (from override folder")
    assert str(tmp_path) in message
    assert message.endswith("'nme' is undefined")


def test_missing_key_of_a_mapping_is_a_render_error(renderer: Renderer) -> None:
    source = {"kind": "PersistentVolumeClaim", "name": "pvc-0"}  # no apiGroup
    with pytest.raises(RenderError, match=r"^persistentvolumeclaim\.yaml\.j2: .*apiGroup"):
        renderer.render("persistentvolumeclaim", **{**PVC_ARGS, "data_source": source})


def test_missing_attribute_in_override_names_template_and_attribute(tmp_path: Path) -> None:
    write(
        tmp_path,
        "pod.yaml.j2",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: {{ name | tojson }}}\n"
        "spec: {claim: {{ volumes[0].claim | tojson }}}\n",
    )
    with pytest.raises(RenderError) as info:
        Renderer(tmp_path).render("pod", name="p", volumes=[{"claim_name": "pvc-1"}])
    message = str(info.value)
    assert message.startswith(f"pod.yaml.j2 (from override folder {tmp_path}): ")
    assert "'claim'" in message


def test_undefined_is_never_rendered_as_empty(tmp_path: Path) -> None:
    # StrictUndefined: printing, testing or iterating a missing value fails, whatever filter.
    for body in ("{{ x.y }}", "{% if x.y %}a{% endif %}", "{% for i in x.y %}{% endfor %}"):
        write(tmp_path, "namespace.yaml.j2", f"{{# {{{{ name }}}} #}}\nkind: {body}\n")
        with pytest.raises(RenderError, match="has no attribute 'y'"):
            Renderer(tmp_path).render("namespace", name="ns", x={})


def test_unknown_kind_lists_searched_folders(tmp_path: Path) -> None:
    renderer = Renderer(tmp_path)
    with pytest.raises(RenderError) as info:
        renderer.render("deployment", name="d")
    message = str(info.value)
    assert "deployment.yaml.j2" in message
    assert str(tmp_path) in message
    assert str(DEFAULT_DIR) in message
    with pytest.raises(RenderError, match=r"deployment\.yaml\.j2"):
        renderer.source_of("deployment")


def test_invalid_yaml_from_override(tmp_path: Path) -> None:
    write(
        tmp_path,
        "namespace.yaml.j2",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [{{ name }}\n",
    )
    with pytest.raises(RenderError) as info:
        Renderer(tmp_path).render("namespace", name="ns")
    message = str(info.value)
    assert message.startswith("namespace.yaml.j2 (from override folder")
    assert "not YAML" in message
    assert "line" in message


def test_template_syntax_error_from_override(tmp_path: Path) -> None:
    write(tmp_path, "namespace.yaml.j2", "apiVersion: v1\n{% if name %}\nkind: Namespace\n")
    with pytest.raises(
        RenderError, match=r"^namespace\.yaml\.j2 \(from override folder .*\):\d+: "
    ):
        Renderer(tmp_path).render("namespace", name="ns")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- a\n- b\n", "not one object"),
        ("", "not one object"),
        ("apiVersion: v1\nkind: Namespace\n---\napiVersion: v1\nkind: Namespace\n", "not YAML"),
        ("apiVersion: v1\nkind: Namespace\nmetadata: {}\n", "metadata.name"),
        ("kind: Namespace\nmetadata: {name: x}\n", "apiVersion"),
    ],
    ids=["list", "empty", "two-documents", "no-name", "no-api-version"],
)
def test_override_must_render_one_object(tmp_path: Path, text: str, problem: str) -> None:
    write(tmp_path, "namespace.yaml.j2", "{# {{ name }} #}\n" + text)
    with pytest.raises(RenderError, match=problem):
        Renderer(tmp_path).render("namespace", name="ns")


# ------------------------------------------------------------ actions and templates in step


def _render_calls() -> list[tuple[str, str, set[str]]]:
    calls = []
    for module in sorted(ACTIONS.glob("*.py")):
        calls += _render_calls_in(module)
    return calls


def _render_calls_in(module: Path) -> list[tuple[str, str, set[str]]]:
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    where = f"actions/{module.name}"
    calls = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "render"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            assert all(kw.arg is not None for kw in node.keywords), (
                f"{where}:{node.lineno}: render(**...) hides which variables it passes"
            )
            names = {kw.arg for kw in node.keywords if kw.arg is not None}
            calls.append((f"{where}:{node.lineno}", node.args[0].value, names))
    return calls


def _template_variables(path: Path) -> set[str]:
    env = jinja2.Environment(autoescape=False)  # noqa: S701 - parsing only
    # as in Renderer: the namespace() global would hide the namespace variable
    del env.globals["namespace"]
    return set(meta.find_undeclared_variables(env.parse(path.read_text(encoding="utf-8"))))


def test_actions_render_calls_match_templates() -> None:
    calls = _render_calls()
    assert calls, "found no render(...) calls in conformance/actions/"
    for where, kind, passed in calls:
        path = DEFAULT_DIR / f"{kind}.yaml.j2"
        assert path.is_file(), f"{where}: no {kind}.yaml.j2"
        expected = _template_variables(path)
        assert passed == expected, (
            f"{where} render({kind!r}): "
            f"missing {sorted(expected - passed)}, unused {sorted(passed - expected)}"
        )


def test_every_template_is_rendered_by_actions(renderer: Renderer) -> None:
    used = {f"{kind}.yaml.j2" for _, kind, _ in _render_calls()}
    assert used == set(renderer.template_names())


def test_variables_are_the_undeclared_names(renderer: Renderer) -> None:
    for kind, args in ALL_ARGS.items():
        assert (
            renderer.variables(kind)
            == set(args)
            == _template_variables(DEFAULT_DIR / f"{kind}.yaml.j2")
        ), kind


def test_an_unknown_filter_is_a_render_error_naming_the_template(tmp_path: Path) -> None:
    (tmp_path / "namespace.yaml.j2").write_text("metadata: {name: {{ name | nosuch }}}\n")
    with pytest.raises(RenderError, match=r"namespace\.yaml\.j2.*No filter named 'nosuch'"):
        Renderer(tmp_path).variables("namespace")
