"""The cluster objects the testbed provides once its processes run.

Snapshot and VolumeGroupSnapshot CRDs (from the pinned snapshotter module's
``client/config/crd``, installed before the snapshot-controller and csi-snapshotter start,
since both look for the group CRDs only at start), the CSIDriver object of the driver
that runs (the built-in hostpath driver, or a user's ``--driver`` by the name it reports),
the two StorageClasses (Immediate and WaitForFirstConsumer) and the VolumeSnapshotClass
that the reference profile names (always for the hostpath driver's name), the node's
read grant (:func:`node_reads`), and the readiness gates ``testbed up`` waits on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from conformance.kube import AlreadyExists, Kube
from conformance.waits import Waiter, pvc_bound
from snapconf_testbed.layout import DRIVER_NAME, NODE_NAME

STORAGE_CLASS = "csi-hostpath-sc"
STORAGE_CLASS_WFFC = "csi-hostpath-sc-wffc"
SNAPSHOT_CLASS = "csi-hostpath-snapclass"
GROUP_SNAPSHOT_CRDS = (
    "volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io",
    "volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io",
    "volumegroupsnapshots.groupsnapshot.storage.k8s.io",
)
"""The group CRDs the testbed must install (external-snapshotter v8.2+ ships them)."""
PROBE_PVC = "snapconf-testbed-probe"


def csidriver(name: str = DRIVER_NAME) -> dict[str, Any]:
    """The CSIDriver object; a user's driver gets the same spec under its own name."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": name},
        "spec": {
            "attachRequired": False,
            "podInfoOnMount": True,
            "fsGroupPolicy": "File",
            "volumeLifecycleModes": ["Persistent"],
            "storageCapacity": False,
        },
    }


def storage_class(name: str, binding_mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": DRIVER_NAME,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": binding_mode,
        "allowVolumeExpansion": True,
    }


def snapshot_class() -> dict[str, Any]:
    return {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshotClass",
        "metadata": {"name": SNAPSHOT_CLASS},
        "driver": DRIVER_NAME,
        "deletionPolicy": "Delete",
    }


NODE_READS = "snapconf-testbed:node-reads"
"""The ClusterRole (and its binding) that lets the node read pods, claims and volumes."""


def node_reads() -> list[dict[str, Any]]:
    """RBAC that lets the kubelet read any pod, PVC and PV, beside the Node authorizer.

    Why: the Node authorizer lets a kubelet read a pod's claim only once its graph (fed by
    the apiserver's own informers) links the pod to the node. On this busy 2-core machine
    the kubelet sometimes sees a new pod first; its read of the claim is refused ("no
    relationship found"), and the pod worker retries only after its 10 s back-off: 2 % of
    the suite's pods started in 13 s instead of 1 s. The Node authorizer has no opinion
    on a read it cannot place, so this role (the reads of the built-in ``system:node``
    role, bound to this node alone) answers it; nothing the driver does changes.
    """
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": NODE_READS},
        "rules": [{
            "apiGroups": [""],
            "resources": ["pods", "persistentvolumeclaims", "persistentvolumes"],
            "verbs": ["get"],
        }],
    }  # fmt: skip
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": NODE_READS},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                    "name": NODE_READS},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": f"system:node:{NODE_NAME}"}],
    }  # fmt: skip
    return [role, binding]


def install_node_reads(kubeconfig: Path) -> None:
    """Create :func:`node_reads` (idempotent): before the kubelet starts its first pod."""
    factory = cast(Callable[..., Any], k8s_config.new_client_from_config)  # untyped
    api = factory(config_file=str(kubeconfig))
    rbac: Any = k8s_client.RbacAuthorizationV1Api(api)
    role, binding = node_reads()
    try:
        for create, doc in ((rbac.create_cluster_role, role),
                            (rbac.create_cluster_role_binding, binding)):  # fmt: skip
            try:
                create(doc)
            except k8s_client.ApiException as err:
                if err.status != 409:  # already there: testbed up is idempotent
                    raise
    finally:
        api.close()


def ensure(kube: Kube, obj: dict[str, Any]) -> None:
    """Create ``obj`` unless it exists (``testbed up`` is idempotent)."""
    with contextlib.suppress(AlreadyExists):
        kube.create(obj)


def crds(crd_dir: Path) -> list[dict[str, Any]]:
    """The CRD documents of the snapshotter's ``client/config/crd`` folder.

    Raises:
        ValueError: a VolumeGroupSnapshot CRD is missing from the folder (a pin too old
            for the group area, or a moved folder): said before anything starts.
    """
    docs = []
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                docs.append(doc)
    names = {str((doc.get("metadata") or {}).get("name")) for doc in docs}
    missing = [name for name in GROUP_SNAPSHOT_CRDS if name not in names]
    if missing:
        raise ValueError(f"{crd_dir} holds no CRD {', '.join(missing)}")
    return docs


def _established(obj: dict[str, Any] | None) -> bool:
    conditions = (obj or {}).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def _node_ready(obj: dict[str, Any] | None) -> bool:
    conditions = (obj or {}).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _driver_registered(obj: dict[str, Any] | None, name: str = DRIVER_NAME) -> bool:
    drivers = ((obj or {}).get("spec") or {}).get("drivers") or []
    return any(d.get("name") == name for d in drivers)


def install_crds(kube: Kube, waiter: Waiter, crd_dir: Path, timeout: float) -> None:
    """Create the snapshot and group snapshot CRDs and wait until each is Established."""
    docs = crds(crd_dir)
    for doc in docs:
        ensure(kube, doc)
    for doc in docs:
        name = doc["metadata"]["name"]
        waiter.until(
            "CustomResourceDefinition", name, None, _established,
            timeout=timeout, op="crd-established", describe=f"CRD {name} to be Established",
        )  # fmt: skip


def install_classes(kube: Kube, driver: str | None = DRIVER_NAME) -> None:
    """The CSIDriver object of ``driver`` (None: none yet) and the reference profile's classes."""
    if driver is not None:
        ensure(kube, csidriver(driver))
    ensure(kube, storage_class(STORAGE_CLASS, "Immediate"))
    ensure(kube, storage_class(STORAGE_CLASS_WFFC, "WaitForFirstConsumer"))
    ensure(kube, snapshot_class())


def wait_node(waiter: Waiter, timeout: float) -> None:
    waiter.until(
        "Node", NODE_NAME, None, _node_ready,
        timeout=timeout, op="node-ready", describe=f"node {NODE_NAME} to be Ready",
    )  # fmt: skip


def wait_driver(waiter: Waiter, timeout: float, name: str = DRIVER_NAME) -> None:
    waiter.until(
        "CSINode", NODE_NAME, None, lambda obj: _driver_registered(obj, name),
        timeout=timeout, op="driver-registered",
        describe=f"CSINode {NODE_NAME} to list the driver {name}",
    )  # fmt: skip


def wait_driver_gone(waiter: Waiter, timeout: float, name: str) -> None:
    """Until kubelet has dropped ``name`` from the CSINode (after its registration went)."""
    waiter.until(
        "CSINode", NODE_NAME, None, lambda obj: not _driver_registered(obj, name),
        timeout=timeout, op="driver-deregistered",
        describe=f"CSINode {NODE_NAME} to no longer list the driver {name}",
    )  # fmt: skip


def driver_objects(kube: Kube, name: str) -> list[str]:
    """PersistentVolumes and VolumeSnapshotContents of driver ``name``, as ``Kind/name``.

    What a switch of the CSI driver in place would strand: the next driver cannot know
    these volumes and snapshots.
    """
    held = []
    for pv in kube.list("PersistentVolume")[0]:
        if ((pv.get("spec") or {}).get("csi") or {}).get("driver") == name:
            held.append(f"PersistentVolume/{pv['metadata']['name']}")
    for content in kube.list("VolumeSnapshotContent")[0]:
        if (content.get("spec") or {}).get("driver") == name:
            held.append(f"VolumeSnapshotContent/{content['metadata']['name']}")
    return held


def wait_default_service_account(waiter: Waiter, timeout: float) -> None:
    waiter.until(
        "ServiceAccount", "default", "default", lambda obj: obj is not None,
        timeout=timeout, op="serviceaccount", describe="ServiceAccount default/default to exist",
    )  # fmt: skip


def probe_provisioning(kube: Kube, waiter: Waiter, timeout: float) -> None:
    """A throwaway PVC must bind: proof that provisioner, driver and controllers work."""
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": PROBE_PVC, "namespace": "default"},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": STORAGE_CLASS,
            "resources": {"requests": {"storage": "1Mi"}},
        },
    }
    ensure(kube, pvc)
    bound = waiter.until(
        "PersistentVolumeClaim", PROBE_PVC, "default", pvc_bound,
        timeout=timeout, op="pvc-bound", describe="the testbed probe PVC to bind",
    )  # fmt: skip
    pv_name = ((bound or {}).get("spec") or {}).get("volumeName")
    kube.delete("PersistentVolumeClaim", PROBE_PVC, "default")
    waiter.gone("PersistentVolumeClaim", PROBE_PVC, "default", timeout=timeout, op="pvc-deleted")
    if pv_name:
        waiter.gone("PersistentVolume", pv_name, None, timeout=timeout, op="pv-deleted")
