"""Where snapconf's own data folders live, installed or in a source checkout.

The wheel ships ``manifests/``, ``suites/`` and ``profiles/`` inside the package as
``conformance/_data/<name>``; a source checkout keeps them at the repository root. Every
module asks here instead of guessing relative paths. (``testbed/``, the Go sources, is
the testbed extra's: ``snapconf_testbed.paths``.)
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Return the folder ``name`` (manifests, suites or profiles)."""
    installed = _PACKAGE_DIR / "_data" / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def default_profile() -> Path:
    """The reference profile for the testbed's hostpath driver."""
    return data_dir("profiles") / "hostpath.yaml"
