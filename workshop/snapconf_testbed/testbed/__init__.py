"""The embedded testbed: a real single-node Kubernetes cluster run as host processes.

Used by CI to test the suites, and by ``snapconf run`` when no kubeconfig is given.
Each module does one job: ``layout`` (where things live), ``preflight`` (host checks),
``build`` (Go binaries from pinned modules), ``images`` (local container images),
``pki`` (certificates), ``configs`` (component config files), ``processes`` (start/stop
by PID), ``bootstrap`` (cluster objects), ``driver`` (a user's CSI driver in place of the
built-in one), ``cluster`` (up/down/status).
"""

from __future__ import annotations

from snapconf_testbed.layout import Layout
from snapconf_testbed.testbed.cluster import TestbedError, down, status, up

__all__ = ["Layout", "TestbedError", "down", "status", "up"]
