"""The shell scripts of the writer and reader pods that put data on volumes and check it.

A writer fills the volume with a random payload, records its sha256, runs ``sync`` and
exits; a reader hashes what is there. Each pod reports its result as its termination
message (``/dev/termination-log``), so reading it back needs no log access and no exec.
For Block volumes the payload goes to the raw device at :data:`DEVICE_PATH`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MOUNT_PATH = "/data"
DEVICE_PATH = "/dev/snapconf-block"
PAYLOAD_FILE = "payload"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BLOCK_SIZE = 1024 * 1024


@dataclass(frozen=True)
class Result:
    """What a writer or reader pod reported."""

    sha256: str
    size: int


def _blocks(size: int) -> tuple[int, str]:
    """Dd arguments that copy exactly ``size`` bytes: 1 MiB blocks when it divides."""
    if size % _BLOCK_SIZE == 0:
        return size // _BLOCK_SIZE, "bs=1048576"
    return size, "bs=1"


def writer_script(mode: str, size: int, *, seed_marker: str = "") -> str:
    """Write ``size`` random bytes, sync, and report their sha256.

    For Filesystem volumes the payload is a file; its hash also lands beside it, so a
    later reader can tell "file missing" (restore empty) from "file differs".
    """
    count, bs = _blocks(size)
    if mode == "Block":
        target = DEVICE_PATH
        write = f"dd if=/dev/urandom of={target} {bs} count={count} conv=fsync 2>/dev/null"
        digest = f"head -c {size} {target} | sha256sum | cut -d' ' -f1"
    else:
        target = f"{MOUNT_PATH}/{PAYLOAD_FILE}"
        write = (
            f"dd if=/dev/urandom of={target}.tmp {bs} count={count} 2>/dev/null"
            f" && mv {target}.tmp {target}"
        )
        digest = f"sha256sum {target} | cut -d' ' -f1"
    marker = (
        f"echo {seed_marker} > {MOUNT_PATH}/marker && " if seed_marker and mode != "Block" else ""
    )
    return (
        "set -eu; "
        f"{marker}{write}; "
        f"sum=$({digest}); "
        + (f"echo $sum > {MOUNT_PATH}/{PAYLOAD_FILE}.sha256; " if mode != "Block" else "")
        + "sync; "
        f'echo "sha256=$sum size={size}" > /dev/termination-log'
    )


def reader_script(mode: str, size: int) -> str:
    """Hash the payload (or the first ``size`` bytes of the device) and report it."""
    if mode == "Block":
        digest = f"head -c {size} {DEVICE_PATH} | sha256sum | cut -d' ' -f1"
        found = f"$(blockdev --getsize64 {DEVICE_PATH} 2>/dev/null || echo 0)"
    else:
        target = f"{MOUNT_PATH}/{PAYLOAD_FILE}"
        digest = (
            f"if [ -f {target} ]; then sha256sum {target} | cut -d' ' -f1; else echo missing; fi"
        )
        found = f"$(stat -c %s {target} 2>/dev/null || echo 0)"
    return f'set -eu; sum=$({digest}); echo "sha256=$sum size={found}" > /dev/termination-log'


def capacity_script(mode: str) -> str:
    """Report the size the pod sees: the device size, or the filesystem's total bytes."""
    if mode == "Block":
        probe = f"blockdev --getsize64 {DEVICE_PATH}"
    else:
        probe = f"df -P -B1 {MOUNT_PATH} | tail -n 1 | awk '{{print $2}}'"
    return f'set -eu; echo "capacity=$({probe})" > /dev/termination-log'


def parse_result(message: str) -> Result:
    """Parse a pod's ``sha256=<hex> size=<n>`` termination message."""
    fields = dict(part.split("=", 1) for part in message.split() if "=" in part)
    sha = fields.get("sha256", "")
    if sha != "missing" and not _SHA256.match(sha):
        raise ValueError(f"pod reported no sha256: {message!r}")
    return Result(sha256=sha, size=int(fields.get("size", "0") or 0))


def parse_capacity(message: str) -> int:
    """Parse a ``capacity=<bytes>`` termination message."""
    fields = dict(part.split("=", 1) for part in message.split() if "=" in part)
    try:
        return int(fields["capacity"])
    except (KeyError, ValueError) as err:
        raise ValueError(f"pod reported no capacity: {message!r}") from err
