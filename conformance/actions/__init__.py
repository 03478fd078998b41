"""The verbs the suites are written in.

Make a PVC, put data on it, snapshot, restore, clone, snapshot a group of claims at once,
delete: each awaited with the profile's timeout and recorded as a timing.

Suites say *what* they check; how an object is rendered, labelled, tracked for cleanup
and awaited lives here once. Nothing here asserts a conformance expectation except that
an awaited state is reached in time (a ``WaitTimeout``, which is an AssertionError).

The package, by subject, each layer on the one before: :mod:`~conformance.actions.base`
(a test's view of the cluster, verbs about any object), :mod:`~conformance.actions.claims`,
:mod:`~conformance.actions.pods` (pods and data), :mod:`~conformance.actions.snapshots`,
:mod:`~conformance.actions.groups`; :class:`ClusterActions` is all of them, so a suite
calls ``cluster.verb(...)`` whichever module the verb lives in. Import from the package.
"""

from __future__ import annotations

from conformance.actions.base import (
    GENERATED_NAMESPACE_PART,
    HISTORY_REPLAY,
    MAX_NAMESPACE_PREFIX,
    ActionsBase,
    ExecChoice,
    SessionClasses,
    Watched,
    name_of,
    revision,
    short_id,
    validate_namespace_prefix,
)
from conformance.actions.claims import ClaimActions
from conformance.actions.groups import GROUP_LABEL, GroupActions, ImportedGroup, RetainedGroup
from conformance.actions.pods import PodActions
from conformance.actions.snapshots import (
    ALLOW_VOLUME_MODE_CHANGE,
    SNAPSHOT_API_GROUP,
    Imported,
    Retained,
    SnapshotActions,
)


class ClusterActions(GroupActions):
    """One test's view of the cluster and every verb on it (``cluster`` in the suites)."""


__all__ = [
    "ALLOW_VOLUME_MODE_CHANGE",
    "GENERATED_NAMESPACE_PART",
    "GROUP_LABEL",
    "HISTORY_REPLAY",
    "MAX_NAMESPACE_PREFIX",
    "SNAPSHOT_API_GROUP",
    "ActionsBase",
    "ClaimActions",
    "ClusterActions",
    "ExecChoice",
    "GroupActions",
    "Imported",
    "ImportedGroup",
    "PodActions",
    "Retained",
    "RetainedGroup",
    "SessionClasses",
    "SnapshotActions",
    "Watched",
    "name_of",
    "revision",
    "short_id",
    "validate_namespace_prefix",
]
