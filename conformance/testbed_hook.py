"""The one seam between the core and the optional testbed extra.

The embedded testbed, the CSI fault interposer and fault detection are a sibling
distribution (``csi-snapshot-conformance-testbed``, import package ``snapconf_testbed``,
in ``workshop/`` of the repository) that imports the core. The core never imports it at
import time and never names its modules anywhere but here: :func:`load` imports
``snapconf_testbed.hook`` by name when a command needs the testbed (``snapconf run`` or
``cleanup`` without a kubeconfig, ``snapconf testbed``, the plugin's backend leak check,
host log files and component versions on a cluster the testbed serves), and
:class:`TestbedHook` is all the core may ask of it. Without the extra a run against any
cluster works; asking for the testbed ends with :data:`MISSING`.

Must not: import ``snapconf_testbed`` (or grpc, protobuf, aiohttp) at import time; hold
testbed logic (the sibling's ``hook`` module does the work).
"""

from __future__ import annotations

import argparse
import importlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, Self, cast

#: The sibling's module that implements :class:`TestbedHook`.
HOOK_MODULE = "snapconf_testbed.hook"

#: What a command that needs the testbed says when the extra is not installed.
MISSING = (
    "the embedded testbed is not installed: install the extra "
    "(pip install 'csi-snapshot-conformance[testbed]', or from a checkout "
    "pip install . ./workshop) or give a cluster with --kubeconfig"
)

#: The backend note of a run on any cluster but the embedded testbed.
NOT_TESTBED = (
    "the driver's own volumes and snapshots cannot be seen from this cluster (it is not "
    "the embedded testbed): only API objects were checked for leaks"
)


class TestbedFailed(RuntimeError):
    """The testbed could not do what was asked (its own error, said in one sentence)."""


class BackendListing(Protocol):
    """The driver's volumes and snapshots at one moment (``snapconf_testbed``'s listing)."""

    @property
    def volumes(self) -> Mapping[str, int] | None: ...

    @property
    def snapshots(self) -> Mapping[str, str] | None: ...

    def added_since(self, before: Self) -> Self: ...


class BackendLeaks(Protocol):
    """What a run left in the backend: one line per entry."""

    @property
    def lines(self) -> list[str]: ...


class TestbedHook(Protocol):
    """What the core asks of the testbed (implemented by ``snapconf_testbed.hook``).

    Errors of the testbed reach the core as :class:`TestbedFailed`.
    """

    def default_kubeconfig(self) -> Path:
        """The admin kubeconfig of the default testbed (whether it is up or not)."""
        ...

    def serves(self, kubeconfig: str | os.PathLike[str] | None) -> bool:
        """Whether ``kubeconfig`` reaches the default testbed."""
        ...

    def up(self, say: Callable[[str], None]) -> Path:
        """Bring the default testbed up (or find it up); its admin kubeconfig."""
        ...

    def snapshot_controller_running(self) -> bool:
        """Whether the testbed's snapshot-controller host process runs."""
        ...

    def kubeconfig_extensions(self, admin_kubeconfig: Path) -> list[dict[str, Any]]:
        """The cluster extensions that mark a kubeconfig as the testbed's (none elsewhere)."""
        ...

    def driver_listing(self) -> BackendListing:
        """The driver's own listing through the interposer."""
        ...

    def backend_leaks(
        self,
        added: Any,
        run_id: str,
        *,
        pvs: list[dict[str, Any]] | None,
        contents: list[dict[str, Any]] | None,
        api_error: str,
    ) -> BackendLeaks:
        """One line per backend entry the run created and left."""
        ...

    def backend_summary(self, before: Any, after: Any, leaks: Any) -> str:
        """The one-sentence account of the backend check."""
        ...

    def csi_log_files(self) -> dict[str, Path]:
        """The log file of each snapshot and CSI host process, by component."""
        ...

    def components(self) -> list[dict[str, str]]:
        """The running testbed's components with their pinned versions."""
        ...

    def configure_command(self, parser: argparse.ArgumentParser) -> None:
        """The arguments of ``snapconf testbed``; sets ``func`` to the action."""
        ...


def load() -> TestbedHook | None:
    """The installed testbed extra, or None when it is not installed."""
    try:
        module = importlib.import_module(HOOK_MODULE)
    except ModuleNotFoundError as err:
        if err.name is not None and HOOK_MODULE.startswith(err.name):
            return None
        raise
    return cast(TestbedHook, module)


def require() -> TestbedHook:
    """The installed testbed extra.

    Raises:
        TestbedFailed: it is not installed (:data:`MISSING`).
    """
    hook = load()
    if hook is None:
        raise TestbedFailed(MISSING)
    return hook


def serves(kubeconfig: str | os.PathLike[str] | None) -> bool:
    """Whether ``kubeconfig`` reaches the embedded testbed (never without the extra)."""
    hook = load()
    return hook is not None and hook.serves(kubeconfig)
