"""What faults may know of the testbed hostpath plugin's state directory.

The layout is the plugin's (testbed/hostpath-driver/volumes.go, state.go)::

    <state>/state.json        volumes and snapshots with their access types
    <state>/volumes/<id>/     a mount volume (a directory)
    <state>/volumes/<id>.img  a block volume (a sparse image file)

Only faults that imitate data damage (``restore-corrupt``) write here, and only into a
volume the plugin has just created. This module must not touch snapshots or state.json.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

NEEDS_STATE: frozenset[str] = frozenset({"restore-corrupt"})
"""Built-in faults that need the plugin's state directory (``--hostpath-state``).

Only the testbed's built-in hostpath driver has one; with a user's driver on the testbed
(``testbed up --driver``) the interposer gets none, and these faults fail the calls they
touch with FAILED_PRECONDITION instead of guessing at a foreign layout.
"""

FLIP_BYTES = 512
"""Bytes inverted at the start of each file (mount) or data extent (block)."""

MAX_EXTENTS = 16


def volume_data(state_dir: Path, volume_id: str) -> Path | None:
    """The directory or image file holding a volume's data, or None if neither exists."""
    if not volume_id or "/" in volume_id or volume_id in (".", ".."):
        return None
    base = state_dir / "volumes"
    for path in (base / volume_id, base / f"{volume_id}.img"):
        if path.is_dir() and not path.is_symlink():
            return path
        if path.is_file() and not path.is_symlink():
            return path
    return None


def access_types(state_dir: Path | None) -> dict[str, str]:
    """Volume id to access type (``mount`` or ``block``) from state.json; {} if unreadable."""
    if state_dir is None:
        return {}
    try:
        data = json.loads((state_dir / "state.json").read_text())
        return {str(v["id"]): str(v.get("accessType", "")) for v in data.get("volumes") or []}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}


def _flip(fd: int, offset: int, count: int) -> int:
    data = os.pread(fd, count, offset)
    if not data:
        return 0
    os.pwrite(fd, bytes(b ^ 0xFF for b in data), offset)
    return len(data)


def _data_extents(fd: int, size: int) -> list[int]:
    """Start offsets of the first data extents of a (sparse) file."""
    starts: list[int] = []
    offset = 0
    while offset < size and len(starts) < MAX_EXTENTS:
        try:
            start = os.lseek(fd, offset, os.SEEK_DATA)
            end = os.lseek(fd, start, os.SEEK_HOLE)
        except OSError:  # ENXIO: only a hole remains; EINVAL: no extent support
            break
        starts.append(start)
        offset = max(end, start + 1)
    return starts


def corrupt_file(path: Path, *, extents: bool) -> int:
    """Invert bytes in place, keeping the file's times and mode; returns bytes changed.

    With ``extents`` the first bytes of each data extent change (a block image, where an
    all-hole image gets its first bytes set instead); otherwise the file's first bytes.
    """
    info = path.stat()
    size = info.st_size
    if size == 0:
        return 0
    restore_mode = None
    if not os.access(path, os.W_OK):
        restore_mode = stat.S_IMODE(info.st_mode)
        path.chmod(restore_mode | stat.S_IWUSR)
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        try:
            starts = (_data_extents(fd, size) or [0]) if extents else [0]
            changed = sum(_flip(fd, start, min(FLIP_BYTES, size - start)) for start in starts)
            os.fsync(fd)
        finally:
            os.close(fd)
    finally:
        if restore_mode is not None:
            path.chmod(restore_mode)
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns))
    return changed


def corrupt_volume(data: Path) -> int:
    """Damage a volume's data: every regular file of a directory, or a block image."""
    if data.is_file():
        return corrupt_file(data, extents=True)
    changed = 0
    for root, dirs, files in os.walk(data):
        dirs.sort()
        for name in sorted(files):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                changed += corrupt_file(path, extents=False)
    return changed
