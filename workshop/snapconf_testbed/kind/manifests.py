"""The CSI deployment of the local kind cluster, rendered from the pinned modules.

What upstream's csi-driver-host-path deploy does on the GitHub path, with the images of
:mod:`snapconf_testbed.kind.images`: the snapshot-controller Deployment in kube-system
(the pinned external-snapshotter's ``deploy/kubernetes/snapshot-controller``, its image
and arguments ours), and one ``csi-hostpathplugin`` StatefulSet pod in ``default`` with
our hostpath driver (which registers itself with kubelet: no node-driver-registrar) and
the csi-provisioner, csi-snapshotter and csi-resizer sidecars. RBAC is each sidecar
module's own ``deploy/kubernetes`` RBAC, bound to the plugin pod's ServiceAccount.

The local cluster runs no kube-proxy (``kubeProxyMode: none``: its image would need
iptables), so the ``kubernetes`` Service's ClusterIP leads nowhere; every pod that talks to
the API server is told the node's address instead (``KUBERNETES_SERVICE_HOST`` from
``status.hostIP``, port 6443), which the API server's certificate names. The arguments
match the testbed's processes (``testbed/cluster.py``): no leader election (one replica),
50 QPS, group snapshots on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

DRIVER_NAME = "hostpath.csi.k8s.io"
NAMESPACE = "default"
PLUGIN_NAME = "csi-hostpathplugin"
PLUGIN_ACCOUNT = "csi-hostpathplugin-sa"
APISERVER_PORT = "6443"
KUBELET_DIR = "/var/lib/kubelet"
PLUGIN_DIR = f"{KUBELET_DIR}/plugins/csi-hostpath"
GROUP_SNAPSHOT_GATE = "--feature-gates=CSIVolumeGroupSnapshot=true"
SIDECAR_ARGS = ("--leader-election=false", "--v=3", "--kube-api-qps=50", "--kube-api-burst=100")
RUNNER_ROLES = (
    "external-provisioner-runner",
    "external-snapshotter-runner",
    "external-resizer-runner",
)
"""The sidecars' ClusterRoles (in the modules' RBAC files), bound to the plugin's account."""

Obj = dict[str, Any]
BIDIRECTIONAL = {"mountPropagation": "Bidirectional"}
"""The plugin's mounts reach kubelet (and kubelet's reach the plugin)."""


def load_all(path: Path) -> list[Obj]:
    """Every object of a multi-document YAML file (empty documents skipped)."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if isinstance(doc, dict)]


def api_env() -> list[Obj]:
    """Environment that points client-go's in-cluster config at the node's API server."""
    return [
        {"name": "KUBERNETES_SERVICE_HOST", "valueFrom": field_ref("status.hostIP")},
        {"name": "KUBERNETES_SERVICE_PORT", "value": APISERVER_PORT},
    ]


def field_ref(path: str) -> Obj:
    """An env ``valueFrom`` of the pod's own field ``path`` (downward API)."""
    return {"fieldRef": {"fieldPath": path}}


def snapshot_controller(upstream: Sequence[Obj], image: str) -> list[Obj]:
    """The upstream snapshot-controller objects with our image, arguments and one replica."""
    out: list[Obj] = []
    for obj in upstream:
        if obj.get("kind") == "Deployment":
            spec = obj["spec"]
            spec["replicas"] = 1
            # upstream waits 35 s for its CRD retry; run.sh installs the CRDs first
            spec["minReadySeconds"] = 0
            (container,) = spec["template"]["spec"]["containers"]
            container.update(
                image=image,
                imagePullPolicy="Never",
                args=[*SIDECAR_ARGS, GROUP_SNAPSHOT_GATE],
                env=api_env(),
            )
        out.append(obj)
    return out


def _binding(kind: str, role: str) -> Obj:
    meta: Obj = {"name": f"{PLUGIN_NAME}-{role}"}
    if kind == "RoleBinding":
        meta["namespace"] = NAMESPACE
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": meta,
        "subjects": [{"kind": "ServiceAccount", "name": PLUGIN_ACCOUNT, "namespace": NAMESPACE}],
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole" if kind == "ClusterRoleBinding" else "Role",
            "name": role,
        },
    }


def _sidecar(name: str, image: str, *args: str) -> Obj:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "Never",
        "args": ["--csi-address=/csi/csi.sock", *SIDECAR_ARGS, "--timeout=60s", *args],
        "env": api_env(),
        "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"}],
    }


def _host_path(name: str, path: str, kind: str) -> Obj:
    return {"name": name, "hostPath": {"path": path, "type": kind}}


def hostpath_plugin(images: Mapping[str, str], sidecar_rbac: Sequence[Obj]) -> list[Obj]:
    """CSIDriver, the sidecars' RBAC bound to the plugin account, and the plugin pod."""
    roles = [o["metadata"]["name"] for o in sidecar_rbac if o.get("kind") == "Role"]
    labels = {"app.kubernetes.io/name": PLUGIN_NAME, "app.kubernetes.io/component": "plugin"}
    plugin = {
        "name": "hostpath",
        "image": images["hostpathplugin"],
        "imagePullPolicy": "Never",
        "args": [
            "--endpoint=unix:///csi/csi.sock",
            "--nodeid=$(KUBE_NODE_NAME)",
            f"--drivername={DRIVER_NAME}",
            "--statedir=/csi-data-dir",
            "--plugin-registration-dir=/registration",
            f"--kubelet-registration-path={PLUGIN_DIR}/csi.sock",
        ],
        "env": [{"name": "KUBE_NODE_NAME", "valueFrom": field_ref("spec.nodeName")}],
        "securityContext": {"privileged": True},
        "volumeMounts": [
            {"name": "socket-dir", "mountPath": "/csi"},
            {"name": "mountpoint-dir", "mountPath": f"{KUBELET_DIR}/pods", **BIDIRECTIONAL},
            {"name": "plugins-dir", "mountPath": f"{KUBELET_DIR}/plugins", **BIDIRECTIONAL},
            {"name": "registration-dir", "mountPath": "/registration"},
            {"name": "csi-data-dir", "mountPath": "/csi-data-dir"},
            {"name": "dev-dir", "mountPath": "/dev"},
        ],
    }  # fmt: skip
    pod_spec = {
        "serviceAccountName": PLUGIN_ACCOUNT,
        "containers": [
            plugin,
            _sidecar(
                "csi-provisioner",
                images["csi-provisioner"],
                "--feature-gates=Topology=true",
                "--extra-create-metadata=true",
            ),
            _sidecar(
                "csi-snapshotter",
                images["csi-snapshotter"],
                "--extra-create-metadata=true",
                GROUP_SNAPSHOT_GATE,
            ),
            _sidecar("csi-resizer", images["csi-resizer"]),
        ],
        "volumes": [
            _host_path("socket-dir", PLUGIN_DIR, "DirectoryOrCreate"),
            _host_path("mountpoint-dir", f"{KUBELET_DIR}/pods", "DirectoryOrCreate"),
            _host_path("plugins-dir", f"{KUBELET_DIR}/plugins", "Directory"),
            _host_path("registration-dir", f"{KUBELET_DIR}/plugins_registry", "Directory"),
            _host_path("csi-data-dir", "/var/lib/csi-hostpath-data", "DirectoryOrCreate"),
            _host_path("dev-dir", "/dev", "Directory"),
        ],
    }
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "CSIDriver",
            "metadata": {"name": DRIVER_NAME},
            "spec": {
                "attachRequired": False,
                "podInfoOnMount": True,
                "fsGroupPolicy": "File",
                "volumeLifecycleModes": ["Persistent", "Ephemeral"],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": PLUGIN_ACCOUNT, "namespace": NAMESPACE},
        },
        *sidecar_rbac,
        *(_binding("ClusterRoleBinding", role) for role in RUNNER_ROLES),
        *(_binding("RoleBinding", role) for role in roles),
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": PLUGIN_NAME, "namespace": NAMESPACE, "labels": labels},
            "spec": {
                "serviceName": PLUGIN_NAME,
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            },
        },
    ]


def dump(objects: Sequence[Obj]) -> str:
    """One multi-document YAML text."""
    return yaml.safe_dump_all(list(objects), sort_keys=False)
