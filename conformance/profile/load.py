"""Loading a profile file: read it, parse it strictly, hand it to its format.

Why it exists: one entry point for both formats (:func:`load_profile`,
:func:`load_profile_text`), which tells them apart by the e2e format's top-level keys and
turns every validation failure into one :class:`ProfileError` naming the file and key path.

Must not: touch the cluster. Whether the named classes exist and belong to the driver is
the preflight's job.
"""

from __future__ import annotations

from pathlib import Path

from conformance.profile.e2e import _E2E_MARKERS, _from_e2e
from conformance.profile.model import (
    Profile,
    ProfileError,
)
from conformance.profile.snapconf import _from_snapconf
from conformance.profile.validation import (
    _Invalid,
    _load_yaml,
    _mapping,
    _show,
)


def load_profile(path: Path) -> Profile:
    """Read and validate a profile file, in snapconf's format or as an e2e testdriver.yaml.

    Raises:
        ProfileError: the file cannot be read, is not YAML, or is not a valid profile.
    """
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError("no such file", source=source) from None
    except IsADirectoryError:
        raise ProfileError("is a directory, not a profile file", source=source) from None
    except UnicodeDecodeError:
        raise ProfileError("not UTF-8 text", source=source) from None
    except OSError as err:
        raise ProfileError(f"cannot read: {err.strerror or err}", source=source) from None
    return load_profile_text(text, source, base_dir=path.parent)


def load_profile_text(
    text: str, source: str = "<string>", *, base_dir: Path | None = None
) -> Profile:
    """Validate profile YAML given as text; ``source`` names it in messages.

    Args:
        text: the YAML.
        source: shown at the start of every error message and kept as ``Profile.source``.
        base_dir: where an e2e ``FromFile`` path is relative to (default: the working
            directory).

    Raises:
        ProfileError: not YAML, or not a valid profile.
    """
    try:
        data = _load_yaml(text)
        if data is None:
            raise _Invalid(
                "", "the file is empty; a profile needs at least driver and storageClass"
            )
        if not isinstance(data, dict):
            raise _Invalid("", f"expected a mapping at the top level, got {_show(data)}")
        doc = _mapping(data, "")
        if any(key in doc for key in _E2E_MARKERS):
            return _from_e2e(doc, source, base_dir or Path.cwd())
        return _from_snapconf(doc, source)
    except _Invalid as err:
        raise ProfileError(err.reason, source=source, path=err.path or None) from None
