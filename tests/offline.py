"""Guards for the command-line tests that must never reach a cluster or the testbed.

Opening a socket, building a Kube client, running pre-flight, bringing the testbed up or
down, applying RBAC or starting the suites raises :class:`ClusterTouched`, so "exits 2
before touching any cluster" is checked, not assumed, even on a machine with a kubeconfig
or a running testbed.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest


class ClusterTouched(AssertionError):
    """The command went for a cluster (or the testbed) when it must not have."""


def guard(what: str) -> Any:
    def refuse(*args: object, **kwargs: object) -> Any:
        raise ClusterTouched(what)

    return refuse


GUARDED = (
    ("conformance.kube.Kube", "Kube client"),
    ("conformance.preflight.check", "preflight"),
    ("snapconf_testbed.testbed.up", "testbed up"),
    ("snapconf_testbed.testbed.cluster.up", "testbed up"),
    ("snapconf_testbed.testbed.down", "testbed down"),
    ("snapconf_testbed.testbed.cluster.down", "testbed down"),
    ("conformance.rbac.apply", "rbac apply"),
    ("conformance.rbac.delete", "rbac delete"),
    ("pytest.main", "pytest.main (the suites)"),
)


def forbid_cluster(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No SNAPCONF_*/KUBECONFIG from the environment, an empty HOME, every guard on."""
    for name in [n for n in os.environ if n.startswith("SNAPCONF_")]:
        monkeypatch.delenv(name)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(home))  # no ~/.kube/config
    monkeypatch.setattr(socket.socket, "connect", guard("socket connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", guard("socket connect"))
    for target, what in GUARDED:
        monkeypatch.setattr(target, guard(what))
