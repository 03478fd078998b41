"""Where the testbed's Go sources and pins live, installed or in a source checkout.

The sibling wheel ships the repository's ``testbed/`` folder (the hostpath driver's
sources, the ``go.mod`` pins of the upstream components, the kind assets) inside the
package as ``snapconf_testbed/_data/testbed``; a source checkout keeps it at the repository
root, beside ``workshop/``. The core's folders (manifests, suites, profiles) are the
core's to find (:func:`conformance.paths.data_dir`).
"""

from __future__ import annotations

from pathlib import Path

from conformance import paths

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name``: ``testbed`` from here, any other from the core."""
    if name != "testbed":
        return paths.data_dir(name)
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent.parent / name
