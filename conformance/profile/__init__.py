"""The driver profile: what a CSI driver claims to support and how to test it.

Why it exists: a driver is data (a name, classes, a capability map, sizes, timeouts), and
every suite decides what to run from it. A typo in that data must not silently turn a
capability off or drop a timeout, as the e2e framework's loader does, so loading is strict:
every unknown key, wrong type, bad size or bad duration is a :class:`ProfileError` that
names the file and the key path, with a "did you mean" for near misses.

Two formats load into the same :class:`Profile`: snapconf's own YAML (camelCase keys, see
``profiles/hostpath.yaml``) and an unchanged Kubernetes e2e external-storage
``testdriver.yaml`` (``DriverInfo``, ``StorageClass``, ``SnapshotClass``,
``GroupSnapshotClass`` (e2e 1.37+), ``Timeouts``).

Must not: touch the cluster. Whether the named classes exist and belong to the driver is
the preflight's job; this module only reads files.

The package, by concern: :mod:`~conformance.profile.model` (the dataclasses and the
tables of what may be declared), :mod:`~conformance.profile.validation` (strict YAML and
the value checks), :mod:`~conformance.profile.snapconf` and
:mod:`~conformance.profile.e2e` (the two formats) and :mod:`~conformance.profile.load`
(the entry points). Import from the package (``from conformance.profile import Profile``).
"""

from __future__ import annotations

from conformance.profile.load import load_profile, load_profile_text
from conformance.profile.model import (
    ACCESS_MODES,
    CAPABILITIES,
    ClassSpec,
    PodSelector,
    Profile,
    ProfileError,
    Sizes,
    Stress,
    Timeouts,
    Workload,
    is_secret_parameter,
    redact_parameters,
)

__all__ = [
    "ACCESS_MODES",
    "CAPABILITIES",
    "ClassSpec",
    "PodSelector",
    "Profile",
    "ProfileError",
    "Sizes",
    "Stress",
    "Timeouts",
    "Workload",
    "is_secret_parameter",
    "load_profile",
    "load_profile_text",
    "redact_parameters",
]
