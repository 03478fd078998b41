"""The one base of every fault-package error, so callers catch one name."""

from __future__ import annotations


class FaultError(Exception):
    """A bad fault name or module, or a CSI protobuf build that failed."""
