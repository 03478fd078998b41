"""The e2e side of the testbed: which images are built, and the pins they come from."""

from __future__ import annotations

import re

import pytest

from snapconf_testbed import build
from snapconf_testbed.paths import data_dir
from snapconf_testbed.testbed import e2e

LISTED = [
    "gcr.io/k8s-authenticated-test/agnhost:2.6",
    "registry.k8s.io/e2e-test-images/busybox:1.37.0-2",
    "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1",
    "registry.k8s.io/pause:3.10.2",
    "registry.k8s.io/e2e-test-images/nginx:1.27.0-2",
    "registry.k8s.io/e2e-test-images/agnhost:2.66.1",
]


def test_needed_images_are_the_e2e_registry_ones_the_storage_specs_start() -> None:
    assert e2e.needed_images(LISTED) == {
        "registry.k8s.io/e2e-test-images/busybox:1.37.0-2": "busybox",
        "registry.k8s.io/e2e-test-images/glibc-dns-testing:2.1.1": "busybox",
        "registry.k8s.io/e2e-test-images/agnhost:2.66.1": "agnhost",
    }


def test_a_manifest_without_agnhost_is_an_error_naming_it() -> None:
    with pytest.raises(RuntimeError, match="no agnhost image"):
        e2e.needed_images([n for n in LISTED if "agnhost" not in n])


def _kubernetes_pin(folder: str) -> str:
    text = (data_dir("testbed") / folder / "go.mod").read_text()
    match = re.search(r"^\s*(?:require\s+)?k8s\.io/kubernetes (v\S+)", text, re.MULTILINE)
    assert match, folder
    return match.group(1)


def test_e2e_binary_pins_the_same_kubernetes_as_the_testbed() -> None:
    assert _kubernetes_pin("modules/kubernetes-e2e") == _kubernetes_pin("modules/kubernetes")
    assert e2e.MODULE.version() == build.MODULES[0].version()


def test_e2e_test_carries_the_kubernetes_version_in_its_link_flags() -> None:
    assert f"gitVersion={e2e.MODULE.version()}" in e2e.MODULE.ldflags()
