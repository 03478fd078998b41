"""The control file: which faults a running interposer applies, switchable without restart.

The file is JSON, ``{"faults": ["never-ready", "capacity-short"]}``; an empty list (or no
file at all) means no faults. :func:`write_active` validates the names and replaces the
file atomically (a temporary file renamed into place), so the interposer never reads half
a file. The interposer stats the file on every call and re-reads it when its inode, size
or mtime changed (:class:`ControlWatch`); a file it cannot parse or that names an unknown
fault is logged and ignored, keeping the faults already active.

This module must not import the faults or gRPC: ``snapconf testbed fault set`` uses it.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from snapconf_testbed.faults.errors import FaultError

NONE = "none"


class ControlError(FaultError, ValueError):
    """The control file or a list of fault names is invalid."""


class UnknownFaultError(ControlError):
    """Names that no registered fault has; the message lists the known ones."""

    def __init__(self, unknown: list[str], known: Iterable[str]) -> None:
        self.unknown = unknown
        self.known = sorted(known)
        parts = []
        for name in unknown:
            close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.5)
            hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
            parts.append(f"{name!r}{hint}")
        noun = "fault" if len(unknown) == 1 else "faults"
        super().__init__(
            f"unknown {noun} {', '.join(parts)}; known faults: {', '.join(self.known)}"
        )


def parse_names(values: Iterable[str]) -> list[str]:
    """Split ``NAME[,NAME]`` arguments into names, dropping blanks and repeats.

    ``none`` alone means no faults.

    Raises:
        ControlError: ``none`` is combined with fault names.
    """
    names: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name and name not in names:
                names.append(name)
    if NONE in names:
        if len(names) > 1:
            raise ControlError("'none' cannot be combined with fault names")
        return []
    return names


def validate_names(names: Iterable[str], known: Iterable[str]) -> list[str]:
    """The names in order, after checking each against ``known``.

    Raises:
        UnknownFaultError: some name is not known (with did-you-mean suggestions).
        ControlError: ``none`` is combined with fault names.
    """
    wanted = parse_names(names)
    known_set = set(known)
    unknown = [n for n in wanted if n not in known_set]
    if unknown:
        raise UnknownFaultError(unknown, known_set)
    return wanted


def _builtin_names() -> tuple[str, ...]:
    # not at the top: a cycle (the package imports this module before it sets KNOWN_FAULTS)
    from snapconf_testbed.faults import KNOWN_FAULTS

    return KNOWN_FAULTS


def write_active(
    path: Path, names: Iterable[str], *, known: Iterable[str] | None = None
) -> list[str]:
    """Make ``names`` the active faults of the interposer watching ``path``.

    Args:
        path: the control file (its directory must exist).
        names: fault names; ``["none"]`` or ``[]`` switches every fault off.
        known: names to accept; default the built-in faults. For faults from a user
            module pass ``snapconf_testbed.faults.available_faults(module_path)``.

    Returns:
        The names written, in order.

    Raises:
        UnknownFaultError: a name is not known.
        ControlError: ``none`` is combined with fault names.
    """
    active = validate_names(names, _builtin_names() if known is None else known)
    data = json.dumps({"faults": active}, indent=2) + "\n"
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return active


def read_active(path: Path) -> list[str]:
    """The fault names in the control file; [] when it does not exist.

    Names are not checked against any registry (the interposer checks them against its
    own, which includes user faults).

    Raises:
        ControlError: the file is unreadable or not ``{"faults": [str, ...]}``.
    """
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ControlError(f"cannot read control file {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ControlError(f"control file {path} is not JSON: {exc}") from exc
    faults = data.get("faults") if isinstance(data, dict) else None
    if not isinstance(faults, list) or not all(isinstance(n, str) for n in faults):
        raise ControlError(f'control file {path} must be {{"faults": [name, ...]}}')
    return parse_names(faults)


class ControlWatch:
    """Tells whether the control file changed since the last look (one stat per call)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._seen: tuple[int, int, int, int] | None = None

    def _signature(self) -> tuple[int, int, int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns)

    def poll(self) -> bool:
        """True when the file appeared, vanished or changed since the previous poll."""
        sig = self._signature()
        if sig == self._seen:
            return False
        self._seen = sig
        return True

    def mark_seen(self) -> None:
        """Take the file as it is now as seen (e.g. right after writing it)."""
        self._seen = self._signature()
