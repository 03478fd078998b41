"""Cluster checks before any test runs, each problem told in one sentence.

A run against a cluster without the snapshot CRDs, without a snapshot controller, or with
a profile whose classes are missing or belong to another driver would fail every test for
one reason; saying that reason once, before starting, is kinder and faster. The same goes
for a kubeconfig the API server rejects (401) or whose identity lacks a permission of
``manifests/rbac/clusterrole.yaml`` (asked with SelfSubjectAccessReviews, so nothing is
tried and nothing is created to find out).
"""

from __future__ import annotations

import re
from pathlib import Path

from conformance import rbac, testbed_hook
from conformance.kube import Forbidden, Kube, KubeError, NotFound, Unauthorized
from conformance.manifests import SUFFIX, Renderer, RenderError
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
GROUP_SNAPSHOT_CRDS = (
    "volumegroupsnapshots.groupsnapshot.storage.k8s.io",
    "volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io",
    "volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io",
)
GROUP_CRD_HINT = (
    "the profile declares groupSnapshot; install the VolumeGroupSnapshot CRDs from the "
    "external-snapshotter release (client/config/crd) before the snapshot-controller and "
    "csi-snapshotter start (they look for them once, at start), or leave groupSnapshot out"
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
    testbed = testbed_hook.load()
    return testbed is not None and testbed.snapshot_controller_running()


def _reach(kube: Kube) -> str | None:
    """Why the API server cannot be used at all with this kubeconfig, or None."""
    try:
        kube.server_version()
    except Unauthorized:
        return (
            "the API server rejected the kubeconfig's credentials (401 Unauthorized); "
            "its token or client certificate is not valid for this cluster"
        )
    except Forbidden as err:
        return f"the kubeconfig's identity may not read the API server's version ({err.message})"
    except KubeError as err:
        return (
            f"the cluster cannot be reached ({_short(err)}); "
            "check the kubeconfig's server address and that the API server runs"
        )
    return None


def _short(err: KubeError) -> str:
    """urllib3's long repr cut to what a reader needs: host, port and the OS reason."""
    text = str(err)
    host = re.search(r"host='([^']*)', port=(\d+)", text)
    reason = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if host and reason:
        return f"https://{host.group(1)}:{host.group(2)}: {reason.group(1).strip()}"
    return text


def _permissions(kube: Kube, profile: Profile) -> str | None:
    """The permissions the identity lacks, as one sentence, or None.

    The group snapshot rules count only when the profile declares ``groupSnapshot``.
    """
    try:
        missing = rbac.missing_permissions(kube, group_snapshots=profile.has("groupSnapshot"))
    except KubeError:
        return None  # no access reviews on this cluster: a 403 below still says what
    return rbac.describe_missing(missing, rbac.identity(kube)) if missing else None


def check(kube: Kube, profile: Profile, *, on_testbed: bool = False) -> list[str]:
    """Every problem found, one sentence each (empty: ready to run).

    ``on_testbed``: the cluster is the embedded testbed, whose snapshot controller is a
    host process rather than a pod (so only then is the local process list consulted).
    Only reads and access reviews: pre-flight never changes the cluster.
    """
    problem = _reach(kube) or _permissions(kube, profile)
    if problem:
        return [problem]
    try:
        return _cluster(kube, profile, on_testbed)
    except Forbidden as err:
        return [f"the kubeconfig's identity is missing a permission: {err.message}"]
    except KubeError as err:
        return [f"the cluster failed a pre-flight read: {err}"]


def _cluster(kube: Kube, profile: Profile, on_testbed: bool) -> list[str]:
    problems: list[str] = []
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
    groups = profile.has("groupSnapshot")
    missing_groups = [
        crd
        for crd in (GROUP_SNAPSHOT_CRDS if groups else ())
        if kube.get_or_none("CustomResourceDefinition", crd) is None
    ]
    if missing_groups:
        problems.append(f"CRD {', '.join(missing_groups)} is not installed; {GROUP_CRD_HINT}")
    if kube.get_or_none("CSIDriver", profile.driver) is None:
        problems.append(f"no CSIDriver object named {profile.driver}; is the driver installed?")
    classes = [("StorageClass", profile.storage_class.name, "provisioner")]
    if profile.wffc_storage_class is not None:
        classes.append(("StorageClass", profile.wffc_storage_class.name, "provisioner"))
    if not missing and profile.snapshot_class is not None:
        classes.append(("VolumeSnapshotClass", profile.snapshot_class.name, "driver"))
    if groups and not missing_groups and profile.group_snapshot_class is not None:
        classes.append(("VolumeGroupSnapshotClass", profile.group_snapshot_class.name, "driver"))
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


def check_manifests(folder: Path) -> list[str]:
    """What is wrong with a ``--manifests`` override folder, one sentence each (offline).

    A Jinja syntax error, or a variable snapconf never passes (the template would be
    undefined in every test that renders it), would otherwise fail test after test with
    the same message; a file that overrides no built-in template is most likely a typo.
    """
    built_in = Renderer()
    override = Renderer(folder)
    known = set(built_in.template_names())
    problems: list[str] = []
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        name = path.name
        if name not in known:
            problems.append(
                f"--manifests: {path} overrides no built-in template "
                f"(templates: {', '.join(sorted(known))})"
            )
            continue
        try:
            names = override.variables(name)
        except RenderError as err:
            problems.append(f"--manifests: {err}")
            continue
        passed = built_in.variables(name)
        extra = sorted(names - passed)
        if extra:
            quoted = ", ".join(f"'{v}'" for v in extra)
            verb = "is" if len(extra) == 1 else "are"
            problems.append(
                f"--manifests: {path}: {quoted} {verb} undefined; snapconf passes "
                f"{name} only {', '.join(sorted(passed))}"
            )
    return problems
