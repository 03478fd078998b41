"""The fault modules' old import path: ``from conformance.faults import Call, Reply, fault``.

Fault modules (``snapconf testbed up --fault-module FILE``) are written against this name;
the faults now live in the testbed extra (:mod:`snapconf_testbed.faults`), re-exported
here as they are. Nothing in the core imports this module: the core reaches the testbed
only through :mod:`conformance.testbed_hook`.
"""

from __future__ import annotations

try:
    from snapconf_testbed.faults import *  # noqa: F403
    from snapconf_testbed.faults import __all__ as __all__
except ModuleNotFoundError as err:  # pragma: no cover - only without the extra
    if err.name != "snapconf_testbed":
        raise
    from conformance.testbed_hook import MISSING

    raise ModuleNotFoundError(
        f"conformance.faults needs the testbed extra: {MISSING}", name=err.name
    ) from err
