"""Parameter lists the suites share.

Fixed lists, the same on every xdist worker and for every profile; what the profile
lacks is skipped with its reason (the ``requires`` marker, or the ``late_binding``
fixture), never dropped silently.
"""

from __future__ import annotations

import pytest

#: Volume modes: Block runs only where the profile declares ``block``.
VOLUME_MODES = [
    pytest.param("Filesystem", id="fs"),
    pytest.param("Block", id="block", marks=pytest.mark.requires("block")),
]

#: Runs a test once per volume mode, through the ``volume_mode`` fixture: ``cluster``'s
#: verbs make claims, pods and data steps of that mode unless given another.
EACH_VOLUME_MODE = pytest.mark.parametrize("volume_mode", VOLUME_MODES, indirect=True)

#: Deletion policies of the VolumeSnapshotClass under test.
DELETION_POLICIES = [pytest.param("Delete", id="delete"), pytest.param("Retain", id="retain")]

#: Binding modes of the StorageClass, for ``indirect=True`` use with the ``late_binding`` fixture.
BINDING_MODES = [pytest.param(False, id="immediate"), pytest.param(True, id="wffc")]
