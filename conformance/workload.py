"""The shell scripts that put data on volumes and check it, and the pod that runs them.

A writer fills the volume with a random payload, records its sha256 and runs ``sync``
(``conv=fsync`` on a raw device) before it reports, so a snapshot or clone taken after it
returns sees the data; a reader hashes what is there. Each script prints one result line
on stdout. The steps run by ``exec`` in one long-lived pod per volume
(:data:`KEEPALIVE`), or, where exec is not allowed, each in a one-shot pod that writes the
line to its termination message (:func:`one_shot`), so reading it back needs no log
access. For Block volumes the payload goes to the raw device at :data:`DEVICE_PATH`.

Reads go around the page cache (``dd iflag=direct``, when the volume supports it): the
pod that reads may be the one that wrote, and a read from its cache would prove nothing
about what the driver stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MOUNT_PATH = "/data"
DEVICE_PATH = "/dev/snapconf-block"
PAYLOAD_FILE = "payload"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_BLOCK_SIZE = 1024 * 1024

KEEPALIVE = "trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done"
"""The volume pod's command: idle until deleted, and exit at once on SIGTERM."""


def one_shot(script: str) -> str:
    """The command of a one-shot pod running ``script``: its line becomes the pod's message."""
    return f"({script}) > /dev/termination-log"


def _direct_hash(target: str, size: int | str) -> str:
    """Shell: sha256 of the first ``size`` bytes of ``target``, read with O_DIRECT if it can.

    A volume whose file system refuses O_DIRECT (tmpfs, some FUSE) is read through the
    cache; that is probed on one block first so a refused flag never truncates the hash.
    """
    return (
        f"if dd if={target} of=/dev/null bs=4096 count=1 iflag=direct 2>/dev/null;"
        " then flag=direct,count_bytes; else flag=count_bytes; fi; "
        f"sum=$(dd if={target} bs=1048576 count={size} iflag=$flag 2>/dev/null"
        " | sha256sum | cut -d' ' -f1)"
    )


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
        f'echo "sha256=$sum size={size}"'
    )


def reader_script(mode: str, size: int) -> str:
    """Hash the payload (or the first ``size`` bytes of the device) and report it."""
    if mode == "Block":
        found = f"$(blockdev --getsize64 {DEVICE_PATH} 2>/dev/null || echo 0)"
        return f'set -eu; {_direct_hash(DEVICE_PATH, size)}; echo "sha256=$sum size={found}"'
    target = f"{MOUNT_PATH}/{PAYLOAD_FILE}"
    return (
        f"set -eu; if [ -f {target} ]; then size=$(stat -c %s {target});"
        f" {_direct_hash(target, '$size')}; else sum=missing size=0; fi;"
        ' echo "sha256=$sum size=$size"'
    )


def capacity_script(mode: str) -> str:
    """Report the size the pod sees: the device size, or the filesystem's total bytes."""
    if mode == "Block":
        probe = f"blockdev --getsize64 {DEVICE_PATH}"
    else:
        probe = f"df -P -B1 {MOUNT_PATH} | tail -n 1 | awk '{{print $2}}'"
    return f'set -eu; echo "capacity=$({probe})"'


def parse_result(message: str) -> Result:
    """Parse a step's ``sha256=<hex> size=<n>`` line."""
    fields = dict(part.split("=", 1) for part in message.split() if "=" in part)
    sha = fields.get("sha256", "")
    if sha != "missing" and not _SHA256.match(sha):
        raise ValueError(f"pod reported no sha256: {message!r}")
    return Result(sha256=sha, size=int(fields.get("size", "0") or 0))


def parse_capacity(message: str) -> int:
    """Parse a step's ``capacity=<bytes>`` line."""
    fields = dict(part.split("=", 1) for part in message.split() if "=" in part)
    try:
        return int(fields["capacity"])
    except (KeyError, ValueError) as err:
        raise ValueError(f"pod reported no capacity: {message!r}") from err
