"""Cluster checks before any test runs, each problem told in one sentence.

A run against a cluster without the snapshot CRDs, without a snapshot controller, or with
a profile whose classes are missing or belong to another driver would fail every test for
one reason; saying that reason once, before starting, is kinder and faster.
"""

from __future__ import annotations

from conformance.kube import Kube, KubeError, NotFound
from conformance.profile import Profile

SNAPSHOT_CRDS = (
    "volumesnapshots.snapshot.storage.k8s.io",
    "volumesnapshotcontents.snapshot.storage.k8s.io",
    "volumesnapshotclasses.snapshot.storage.k8s.io",
)
CRD_HINT = (
    "install the snapshot CRDs from the external-snapshotter release "
    "(client/config/crd) before running snapconf"
)


def _snapshot_controller_seen(kube: Kube, on_testbed: bool) -> bool:
    """A snapshot-controller pod anywhere, or (on the testbed) its process."""
    pods, _ = kube.list("Pod")
    for pod in pods:
        for container in (pod.get("spec") or {}).get("containers") or []:
            if "snapshot-controller" in str(container.get("image", "")) + container.get("name", ""):
                return True
    if not on_testbed:
        return False
    from conformance.testbed import status as testbed_status

    return any(s.name == "snapshot-controller" and s.running for s in testbed_status())


def check(kube: Kube, profile: Profile, *, on_testbed: bool = False) -> list[str]:
    """Every problem found, one sentence each (empty: ready to run).

    ``on_testbed``: the cluster is the embedded testbed, whose snapshot controller is a
    host process rather than a pod (so only then is the local process list consulted).
    """
    problems: list[str] = []
    try:
        kube.server_version()
    except KubeError as err:
        return [
            f"the cluster cannot be reached ({err}); "
            "check the kubeconfig and that the API server runs"
        ]
    missing = [
        crd for crd in SNAPSHOT_CRDS if kube.get_or_none("CustomResourceDefinition", crd) is None
    ]
    if missing:
        problems.append(f"snapshot CRD {', '.join(missing)} is not installed; {CRD_HINT}")
    elif not _snapshot_controller_seen(kube, on_testbed):
        problems.append(
            "no snapshot-controller runs on the cluster; "
            "deploy it from the external-snapshotter release"
        )
    if kube.get_or_none("CSIDriver", profile.driver) is None:
        problems.append(f"no CSIDriver object named {profile.driver}; is the driver installed?")
    classes = [("StorageClass", profile.storage_class.name, "provisioner")]
    if profile.wffc_storage_class is not None:
        classes.append(("StorageClass", profile.wffc_storage_class.name, "provisioner"))
    if not missing and profile.snapshot_class is not None:
        classes.append(("VolumeSnapshotClass", profile.snapshot_class.name, "driver"))
    for kind, name, field in classes:
        if not name:
            continue  # the profile asks snapconf to create it
        try:
            obj = kube.get(kind, name)
        except NotFound:
            problems.append(
                f"{kind} {name} named by the profile does not exist; create it or fix the profile"
            )
            continue
        if obj.get(field) != profile.driver:
            problems.append(
                f"{kind} {name} belongs to driver {obj.get(field)}, "
                f"not the profile's {profile.driver}"
            )
    return problems
