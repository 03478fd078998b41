"""Typed access to the Kubernetes API: the core kinds and the snapshot CRDs, as plain dicts.

Why it exists: the kubernetes client is untyped, hands back model objects for some kinds
and dicts for others, raises one exception type for every failure (and urllib3 errors
besides), and retries in places nobody sees. Here every object comes back as the JSON the
API server sent (a ``dict``), failures are a small exception hierarchy that chains the
original, and the retry policy lives in one place (:class:`RetryPolicy`, tenacity).

Must not: know about tests or profiles, mutate the client's global configuration, or shell
out to ``kubectl``. The only thing it knows about runs is the run label, for one rule: a
create retried after a dropped connection may find the object its first try made.

The package, by concern: :mod:`~conformance.kube.kinds` (what the API addresses),
:mod:`~conformance.kube.errors` (failures), :mod:`~conformance.kube.retry` (the policy),
:mod:`~conformance.kube.transport` (the one place that touches the client) and
:mod:`~conformance.kube.client` (:class:`Kube`). Import from the package
(``from conformance.kube import Kube``): it re-exports every public name.
"""

from __future__ import annotations

from conformance.kube.client import (
    Kube,
    KubeAPI,
)
from conformance.kube.errors import (
    RETRY_STATUSES,
    AlreadyExists,
    ConfigError,
    Conflict,
    ConnectionLost,
    Forbidden,
    Gone,
    Invalid,
    KubeError,
    NotFound,
    Unauthorized,
    Unreachable,
    error_for_status,
    is_retryable,
    map_error,
    parse_retry_after,
)
from conformance.kube.kinds import (
    GROUP_SNAPSHOT_KINDS,
    KINDS,
    RUN_LABEL,
    Kind,
    Obj,
    dig,
    kind_of,
    lookup,
)
from conformance.kube.retry import (
    RetryPolicy,
    call_with_retry,
    create_with_retry,
)

__all__ = [
    "GROUP_SNAPSHOT_KINDS",
    "KINDS",
    "RETRY_STATUSES",
    "RUN_LABEL",
    "AlreadyExists",
    "ConfigError",
    "Conflict",
    "ConnectionLost",
    "Forbidden",
    "Gone",
    "Invalid",
    "Kind",
    "Kube",
    "KubeAPI",
    "KubeError",
    "NotFound",
    "Obj",
    "RetryPolicy",
    "Unauthorized",
    "Unreachable",
    "call_with_retry",
    "create_with_retry",
    "dig",
    "error_for_status",
    "is_retryable",
    "kind_of",
    "lookup",
    "map_error",
    "parse_retry_after",
]
