"""Least privilege for snapconf: the ClusterRole it needs, an identity bound to it, checks.

Why it exists: a conformance run against a shared or production-like cluster should not
need cluster-admin, and above all it must not be able to read Secrets (the report would
then be one bug away from holding credentials). ``manifests/rbac/*.yaml`` is the single
source of the rules: ``snapconf rbac apply`` creates them with a ServiceAccount and writes
a kubeconfig with a TokenRequest token for it; pre-flight asks the API server
(SelfSubjectAccessReview) whether the kubeconfig's identity holds every rule, so a missing
permission is one sentence before the run rather than a 403 in the middle of a test.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import urllib3
import yaml
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from conformance import testbed_hook
from conformance.kube import Kube, KubeError
from conformance.paths import data_dir

DEFAULT_NAME = "snapconf"
"""Name of the ClusterRole, the binding, the ServiceAccount and its namespace."""

DEFAULT_TOKEN_SECONDS = 12 * 3600
_RBAC_FILES = (
    "namespace.yaml",
    "serviceaccount.yaml",
    "clusterrole.yaml",
    "clusterrolebinding.yaml",
    "validatingadmissionpolicy.yaml",
    "validatingadmissionpolicybinding.yaml",
)
_SSAR_PATH = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
_WHOAMI_PATH = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
_PARALLEL_REVIEWS = 8

Say = Callable[[str], None]


class RbacError(Exception):
    """An RBAC object could not be created or deleted, or no token was issued."""


@dataclass(frozen=True)
class Permission:
    """One verb on one resource (``pods/log``: resource ``pods``, subresource ``log``)."""

    verb: str
    group: str
    resource: str
    subresource: str = ""

    @property
    def resource_name(self) -> str:
        """``volumesnapshots.snapshot.storage.k8s.io``-style name, as kubectl shows it."""
        name = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{name}.{self.group}" if self.group else name


def rbac_dir() -> Path:
    """The folder of the shipped RBAC manifests."""
    return data_dir("manifests") / "rbac"


def manifests(name: str = DEFAULT_NAME) -> list[dict[str, Any]]:
    """The Namespace, ServiceAccount, ClusterRole, binding and admission policy: ``name``."""
    docs: list[dict[str, Any]] = []
    for file in _RBAC_FILES:
        doc = yaml.safe_load((rbac_dir() / file).read_text(encoding="utf-8"))
        meta = doc["metadata"]
        meta["name"] = name
        if "namespace" in meta:
            meta["namespace"] = name
        if doc["kind"] == "ClusterRoleBinding":
            doc["roleRef"]["name"] = name
            for subject in doc["subjects"]:
                subject["name"] = name
                subject["namespace"] = name
        if doc["kind"] == "ValidatingAdmissionPolicyBinding":
            doc["spec"]["policyName"] = name
        if doc["kind"] == "ValidatingAdmissionPolicy":
            for condition in doc["spec"]["matchConditions"]:
                condition["expression"] = condition["expression"].replace(
                    f"system:serviceaccount:{DEFAULT_NAME}:{DEFAULT_NAME}",
                    f"system:serviceaccount:{name}:{name}",
                )
        docs.append(doc)
    return docs


#: Rules of the shipped ClusterRole a run can do without, so pre-flight does not ask for
#: them: without ``pods/log`` a failure's bundle says "logs unavailable: <reason>";
#: without ``pods/exec`` the workload's steps run in one-shot pods (slower, same checks).
OPTIONAL: frozenset[Permission] = frozenset(
    {
        Permission("get", "", "pods", "log"),
        Permission("get", "", "pods", "exec"),
        Permission("create", "", "pods", "exec"),
    }
)


GROUP_SNAPSHOT_API = "groupsnapshot.storage.k8s.io"
"""The API group of the VolumeGroupSnapshot CRDs, which a cluster may not have."""


def group_snapshot_permissions() -> frozenset[Permission]:
    """The shipped ClusterRole's rules on ``groupsnapshot.storage.k8s.io``.

    Pre-flight asks for them only when the profile declares ``groupSnapshot``: the group
    CRDs are optional, and an identity made before these rules still runs every other
    area (the leak check and sweep take a refused list of group objects as none).
    """
    return frozenset(p for p in required_permissions() if p.group == GROUP_SNAPSHOT_API)


def required_permissions() -> list[Permission]:
    """Every verb of every resource of the shipped ClusterRole, in file order.

    That includes the :data:`OPTIONAL` ones; :func:`missing_permissions` leaves them out.
    """
    role = yaml.safe_load((rbac_dir() / "clusterrole.yaml").read_text(encoding="utf-8"))
    wanted: list[Permission] = []
    for rule in role["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                base, _, sub = str(resource).partition("/")
                wanted.extend(Permission(str(v), str(group), base, sub) for v in rule["verbs"])
    return wanted


# ---------------------------------------------------------------- checks


def can(kube: Kube, permission: Permission, namespace: str | None = None) -> bool:
    """Whether the kubeconfig's identity may do ``permission`` (all namespaces by default)."""
    attributes = {
        "verb": permission.verb,
        "group": permission.group,
        "resource": permission.resource,
        "subresource": permission.subresource,
    }
    if namespace:
        attributes["namespace"] = namespace
    review = kube.post(
        _SSAR_PATH,
        {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        },
    )
    return bool((review.get("status") or {}).get("allowed"))


def identity(kube: Kube) -> str:
    """The user name the API server sees for this kubeconfig ('' when it cannot tell)."""
    try:
        review = kube.post(
            _WHOAMI_PATH,
            {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
        )
    except KubeError:
        return ""
    return str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "")


def missing_permissions(kube: Kube, *, group_snapshots: bool = False) -> list[Permission]:
    """The shipped ClusterRole's permissions the identity lacks (empty when it has all).

    :data:`OPTIONAL` permissions are not asked: a run works without them (only a failed
    test's logs go missing, and its diagnostics say so). Nor are the group snapshot rules
    (:func:`group_snapshot_permissions`) unless ``group_snapshots``: the profile declares
    ``groupSnapshot``, so the run will make group snapshots.

    Raises:
        KubeError: the API server answered no access review (callers then skip the check).
    """
    skipped = set(OPTIONAL) | (set() if group_snapshots else group_snapshot_permissions())
    wanted = [p for p in required_permissions() if p not in skipped]
    with ThreadPoolExecutor(max_workers=_PARALLEL_REVIEWS) as pool:
        allowed = list(pool.map(lambda p: can(kube, p), wanted))
    return [p for p, ok in zip(wanted, allowed, strict=True) if not ok]


def describe_missing(missing: list[Permission], who: str = "") -> str:
    """One sentence: what the identity may not do, grouped by resource."""
    verbs: dict[str, list[str]] = {}
    for permission in missing:
        verbs.setdefault(permission.resource_name, []).append(permission.verb)
    parts = [f"{', '.join(v)} {resource}" for resource, v in verbs.items()]
    shown = "; ".join(parts[:6]) + (f"; and {len(parts) - 6} more" if len(parts) > 6 else "")
    subject = f"the kubeconfig's identity ({who})" if who else "the kubeconfig's identity"
    return (
        f"{subject} may not {shown}; grant it the rules of manifests/rbac/clusterrole.yaml "
        "(snapconf rbac apply makes such an identity and its kubeconfig)"
    )


# ---------------------------------------------------------------- apply / delete


def _client(kubeconfig: Path) -> Any:
    configuration = k8s_client.Configuration()
    configuration.retries = False
    try:
        factory = cast(Callable[..., Any], k8s_config.new_client_from_config)
        return factory(
            config_file=str(kubeconfig), persist_config=False, client_configuration=configuration
        )
    except (k8s_config.ConfigException, OSError, ValueError, TypeError, yaml.YAMLError) as err:
        raise RbacError(f"cannot load kubeconfig {kubeconfig}: {err}") from err


def _api_error(err: Exception, what: str) -> RbacError:
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None) or type(err).__name__
    return RbacError(f"{what} failed ({status or ''} {reason})".replace("( ", "("))


def _create_or_replace(api: Any, doc: dict[str, Any]) -> str:
    core: Any = k8s_client.CoreV1Api(api)
    rbac: Any = k8s_client.RbacAuthorizationV1Api(api)
    admission: Any = k8s_client.AdmissionregistrationV1Api(api)
    kind, name = doc["kind"], doc["metadata"]["name"]
    create: dict[str, Callable[[], Any]] = {
        "Namespace": lambda: core.create_namespace(doc),
        "ServiceAccount": lambda: core.create_namespaced_service_account(
            doc["metadata"]["namespace"], doc
        ),
        "ClusterRole": lambda: rbac.create_cluster_role(doc),
        "ClusterRoleBinding": lambda: rbac.create_cluster_role_binding(doc),
        "ValidatingAdmissionPolicy": lambda: admission.create_validating_admission_policy(doc),
        "ValidatingAdmissionPolicyBinding": lambda: (
            admission.create_validating_admission_policy_binding(doc)
        ),
    }
    replace: dict[str, Callable[[], Any]] = {
        "ClusterRole": lambda: rbac.replace_cluster_role(name, doc),
        "ClusterRoleBinding": lambda: rbac.replace_cluster_role_binding(name, doc),
        "ValidatingAdmissionPolicy": lambda: admission.patch_validating_admission_policy(
            name, {"spec": doc["spec"]}
        ),
        "ValidatingAdmissionPolicyBinding": lambda: (
            admission.patch_validating_admission_policy_binding(name, {"spec": doc["spec"]})
        ),
    }
    try:
        create[kind]()
        return f"created {kind} {name}"
    except k8s_client.ApiException as err:
        if err.status != 409:
            raise _api_error(err, f"creating {kind} {name}") from err
    if kind in replace:
        try:
            replace[kind]()
        except k8s_client.ApiException as err:
            raise _api_error(err, f"updating {kind} {name}") from err
        return f"updated {kind} {name}"
    return f"{kind} {name} exists"


def _token(api: Any, name: str, seconds: int) -> str:
    core: Any = k8s_client.CoreV1Api(api)
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": seconds},
    }
    try:
        answer = core.create_namespaced_service_account_token(name, name, body)
    except k8s_client.ApiException as err:
        raise _api_error(
            err, f"TokenRequest for ServiceAccount {name}/{name} (is the TokenRequest API on?)"
        ) from err
    return str(answer.status.token)


def _testbed_extensions(admin_kubeconfig: Path) -> list[dict[str, Any]]:
    """On the embedded testbed, the mark that says "same cluster as the testbed's".

    Pre-flight and results.json consult the testbed's host processes (its snapshot
    controller is no pod) only for kubeconfigs the testbed serves; the bound kubeconfig
    names the admin one as its upstream the way the testbed's API proxy does.
    """
    testbed = testbed_hook.load()
    return testbed.kubeconfig_extensions(admin_kubeconfig) if testbed is not None else []


def _kubeconfig_text(
    api: Any, name: str, token: str, extensions: list[dict[str, Any]] | None = None
) -> str:
    cfg = api.configuration
    cluster: dict[str, Any] = {"server": str(cfg.host)}
    if extensions:
        cluster["extensions"] = extensions
    if cfg.ssl_ca_cert:
        data = Path(cfg.ssl_ca_cert).read_bytes()
        cluster["certificate-authority-data"] = base64.b64encode(data).decode()
    if not cfg.verify_ssl:
        cluster["insecure-skip-tls-verify"] = True
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": cluster}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }
    return yaml.safe_dump(doc, sort_keys=False)


def apply(
    admin_kubeconfig: Path,
    out: Path,
    *,
    name: str = DEFAULT_NAME,
    token_seconds: int = DEFAULT_TOKEN_SECONDS,
    bind: bool = True,
    say: Say = print,
) -> Path:
    """Create (or update) the RBAC objects and write a kubeconfig bound to them at ``out``.

    The token comes from the TokenRequest API (bound to the ServiceAccount, expiring
    after ``token_seconds``); no long-lived token Secret is made. ``out`` is mode 0600.
    ``bind=False`` makes the ServiceAccount only: an identity without rights (tests).
    """
    api = _client(admin_kubeconfig)
    try:
        for doc in manifests(name):
            if bind or doc["kind"] in ("Namespace", "ServiceAccount"):
                say(_create_or_replace(api, doc))
        token = _token(api, name, token_seconds)
        text = _kubeconfig_text(api, name, token, _testbed_extensions(admin_kubeconfig))
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise RbacError(f"the cluster of {admin_kubeconfig} cannot be reached: {err}") from err
    finally:
        api.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    say(f"wrote {out}: ServiceAccount {name}/{name} bound to ClusterRole {name}")
    return out


def delete(admin_kubeconfig: Path, *, name: str = DEFAULT_NAME, say: Say = print) -> None:
    """Delete the bindings, the ClusterRole, the admission policy and the namespace.

    Tokens issued for the ServiceAccount stop working once it is gone.
    """
    api = _client(admin_kubeconfig)
    core: Any = k8s_client.CoreV1Api(api)
    rbac: Any = k8s_client.RbacAuthorizationV1Api(api)
    admission: Any = k8s_client.AdmissionregistrationV1Api(api)
    steps: list[tuple[str, Callable[[], Any]]] = [
        (f"ClusterRoleBinding {name}", lambda: rbac.delete_cluster_role_binding(name)),
        (
            f"ValidatingAdmissionPolicyBinding {name}",
            lambda: admission.delete_validating_admission_policy_binding(name),
        ),
        (
            f"ValidatingAdmissionPolicy {name}",
            lambda: admission.delete_validating_admission_policy(name),
        ),
        (f"ClusterRole {name}", lambda: rbac.delete_cluster_role(name)),
        (f"Namespace {name}", lambda: core.delete_namespace(name)),
    ]
    try:
        for what, step in steps:
            _delete_step(what, step, say)
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise RbacError(f"the cluster of {admin_kubeconfig} cannot be reached: {err}") from err
    finally:
        api.close()


def _delete_step(what: str, step: Callable[[], Any], say: Say) -> None:
    try:
        step()
        say(f"deleted {what}")
    except k8s_client.ApiException as err:
        if err.status != 404:
            raise _api_error(err, f"deleting {what}") from err
        say(f"{what} was not there")
