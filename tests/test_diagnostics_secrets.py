"""Diagnostics never dump a Secret and redact secret-like fields of what they do dump.

The cluster side (a run whose classes reference a Secret, under the RBAC identity) is in
``tests/cluster/test_rbac_and_secrets.py``; here the rules themselves, with no cluster.
"""

from __future__ import annotations

from typing import Any

from conformance.diagnostics import REDACTED, collect, redact

VALUE = "s3cr3t-value-0123456789"


def test_secret_references_stay_and_their_content_goes() -> None:
    storage_class: dict[str, Any] = {
        "kind": "StorageClass",
        "parameters": {
            "csi.storage.k8s.io/provisioner-secret-name": "creds",
            "csi.storage.k8s.io/provisioner-secret-namespace": "ns",
            "password": VALUE,
            "apiToken": VALUE,
            "clientSecret": VALUE,
        },
    }
    got = redact(storage_class)
    assert got["parameters"]["csi.storage.k8s.io/provisioner-secret-name"] == "creds"
    assert got["parameters"]["csi.storage.k8s.io/provisioner-secret-namespace"] == "ns"
    for key in ("password", "apiToken", "clientSecret"):
        assert got["parameters"][key] == REDACTED
    assert storage_class["parameters"]["password"] == VALUE  # the input is left alone


def test_nested_lists_and_non_strings() -> None:
    pod = {
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [{"env": [{"name": "X", "value": "1"}, {"token": VALUE}]}],
            "volumes": [{"secret": {"secretName": "creds"}}],
        }
    }
    got = redact(pod)
    assert got["spec"]["automountServiceAccountToken"] is False
    assert got["spec"]["containers"][0]["env"] == [{"name": "X", "value": "1"}, {"token": REDACTED}]
    assert got["spec"]["volumes"] == [{"secret": {"secretName": "creds"}}]


def test_a_secret_loses_all_its_data_and_last_applied_goes() -> None:
    secret = {
        "kind": "Secret",
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": VALUE}},
        "data": {"anything": "czNjcjN0"},
        "stringData": {"plain": VALUE},
    }
    got = redact(secret, kind="Secret")
    assert got["data"] == REDACTED
    assert got["stringData"] == REDACTED
    assert VALUE not in str(got)


class _Kube:
    def __init__(self) -> None:
        self.read: list[str] = []

    def get_or_none(self, kind: str, name: str, namespace: str | None = None) -> Any:
        self.read.append(kind)
        return {
            "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "managedFields": [{}]},
            "spec": {"credentials": {"password": VALUE}},
        }

    def events_for(self, kind: str, name: str, namespace: str | None) -> list[Any]:
        return []


class _Tracker:
    def __init__(self) -> None:
        self.kube = _Kube()

    def tracked(self) -> list[tuple[str, str, str | None]]:
        return [("Secret", "creds", "ns"), ("PersistentVolumeClaim", "data", "ns")]


def test_collect_never_reads_a_secret_and_redacts_the_rest() -> None:
    tracker = _Tracker()
    diagnostics = collect(tracker)  # type: ignore[arg-type]
    assert tracker.kube.read == ["PersistentVolumeClaim"]
    assert VALUE not in str(diagnostics)
    kinds = {o["kind"]: o["yaml"] for o in diagnostics["objects"]}
    assert kinds["Secret"] == "# never dumped"  # noqa: S105
    assert REDACTED in kinds["PersistentVolumeClaim"]
    assert "managedFields" not in kinds["PersistentVolumeClaim"]
