"""What the core asks of the testbed: :class:`conformance.testbed_hook.TestbedHook`.

The core imports this module by name (:func:`conformance.testbed_hook.load`) only when a
command needs the testbed, so nothing here runs at the core's import. Each function is a
thin call into the testbed on its default layout (``$SNAPCONF_TESTBED_DIR``), reached
through its module at call time (tests replace those), with the testbed's own errors
turned into :class:`~conformance.testbed_hook.TestbedFailed`.
"""

from __future__ import annotations

import argparse
import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from conformance.testbed_hook import TestbedFailed
from snapconf_testbed.layout import PROXY_EXTENSION, Layout

if TYPE_CHECKING:
    from snapconf_testbed.testbed.backend import BackendLeaks, BackendListing

T = TypeVar("T")

# The testbed's modules are imported inside the functions, each under a comment saying so:
# the core loads this module on any run (``serves``), which needs only the layout;
# ``backend`` loads grpc and protobuf, ``cluster`` the whole bring-up.


def _testbed_errors() -> tuple[type[Exception], ...]:
    """The testbed's own errors (evaluated only once something failed)."""
    # not at the top: keeps the hook light (backend loads grpc and protobuf)
    from snapconf_testbed.testbed.backend import BackendError
    from snapconf_testbed.testbed.cluster import TestbedError

    return (TestbedError, BackendError)


def _failed(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` with the testbed's errors raised as the core's :class:`TestbedFailed`."""

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except _testbed_errors() as err:
            raise TestbedFailed(str(err)) from err

    return call


def default_kubeconfig() -> Path:
    return Layout.default().kubeconfig


def serves(kubeconfig: str | os.PathLike[str] | None) -> bool:
    return Layout.default().serves(kubeconfig)


@_failed
def up(say: Callable[[str], None]) -> Path:
    # not at the top: keeps the hook light (testbed loads the bring-up)
    from snapconf_testbed import testbed

    return testbed.up(say=say)


def snapshot_controller_running() -> bool:
    # not at the top: keeps the hook light (testbed loads the bring-up)
    from snapconf_testbed import testbed

    return any(s.name == "snapshot-controller" and s.running for s in testbed.status())


def kubeconfig_extensions(admin_kubeconfig: Path) -> list[dict[str, Any]]:
    """A bound kubeconfig names the admin one as its upstream, as the API proxy does."""
    if not Layout.default().serves(admin_kubeconfig):
        return []
    upstream = str(admin_kubeconfig.resolve())
    return [{"name": PROXY_EXTENSION, "extension": {"upstream": upstream}}]


@_failed
def driver_listing() -> BackendListing:
    # not at the top: keeps the hook light (backend loads grpc and protobuf)
    from snapconf_testbed.testbed import backend

    return backend.driver_listing(Layout.default())


def backend_leaks(
    added: BackendListing,
    run_id: str,
    *,
    pvs: list[dict[str, Any]] | None,
    contents: list[dict[str, Any]] | None,
    api_error: str,
) -> BackendLeaks:
    # not at the top: keeps the hook light (backend loads grpc and protobuf)
    from snapconf_testbed.testbed import backend

    return backend.backend_leaks(added, run_id, pvs=pvs, contents=contents, api_error=api_error)


def backend_summary(before: BackendListing, after: BackendListing, leaks: BackendLeaks) -> str:
    # not at the top: keeps the hook light (backend loads grpc and protobuf)
    from snapconf_testbed.testbed import backend

    return backend.summary(before, after, leaks)


def csi_log_files() -> dict[str, Path]:
    # not at the top: keeps the hook light (cluster is the whole bring-up)
    from snapconf_testbed.testbed import cluster

    return cluster.csi_log_files(Layout.default())


def components() -> list[dict[str, str]]:
    # not at the top: keeps the hook light (cluster is the whole bring-up)
    from snapconf_testbed.testbed import cluster

    return cluster.components(Layout.default())


def configure_command(parser: argparse.ArgumentParser) -> None:
    # not at the top: keeps the hook light (command loads the testbed)
    from snapconf_testbed import command

    command.configure(parser)
    parser.set_defaults(func=_failed(command.cmd_testbed))


if TYPE_CHECKING:  # mypy checks that this module is what the core asks for
    from conformance.testbed_hook import TestbedHook
    from snapconf_testbed import hook as _this

    _conforms: TestbedHook = _this
