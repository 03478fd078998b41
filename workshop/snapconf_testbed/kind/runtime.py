#!/usr/bin/env python3
"""An OCI runtime wrapper: drop capabilities the machine cannot grant, then exec runc.

Why: this machine's capability bounding set lacks CAP_SYS_RESOURCE, so runc refuses any
container whose spec asks for it ("unable to apply caps: operation not permitted"), and
``docker run --privileged`` asks for every capability. kind's node containers are
privileged. The private dockerd of ``testbed/kind/local/dockerd.sh`` registers this file
as its default runtime (``--add-runtime``/``--default-runtime``); for ``create`` and
``run`` it rewrites the bundle's ``config.json``, for ``exec`` the ``--process`` file
(``docker exec`` builds it from the container's original, unrewritten spec), removing
every capability missing from this process's own bounding set, and then execs the real
runc with the arguments unchanged. Every other call passes straight through.

Stdlib only, so the system ``python3 -I`` runs it without the project installed.
Usage: ``runtime.py --runc PATH [runc arguments...]`` (``--runc`` defaults to ``runc``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

#: Capability names by bit, as the kernel numbers them (linux/capability.h).
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip
CAPABILITY_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")

#: runc's global options that take a value (``runc --help``); the rest are switches.
GLOBAL_VALUE_OPTIONS = frozenset({"--root", "--log", "--log-format", "--criu", "--rootless"})


def missing_capabilities(bounding_mask: int) -> frozenset[str]:
    """Names of the capabilities whose bit is clear in ``bounding_mask``."""
    return frozenset(
        name for bit, name in enumerate(CAPABILITIES) if not bounding_mask & (1 << bit)
    )


def own_bounding_mask(status: Path = Path("/proc/self/status")) -> int:
    """This process's capability bounding set (the ``CapBnd`` line of ``status``)."""
    for line in status.read_text().splitlines():
        if line.startswith("CapBnd:"):
            return int(line.split()[1], 16)
    raise RuntimeError(f"no CapBnd line in {status}")


def strip_process(process: dict[str, Any], drop: Iterable[str]) -> bool:
    """Remove ``drop`` from every capability set of an OCI process object; True if changed."""
    caps = process.get("capabilities")
    if not isinstance(caps, dict):
        return False
    unwanted = set(drop)
    changed = False
    for name in CAPABILITY_SETS:
        values = caps.get(name)
        if isinstance(values, list):
            kept = [value for value in values if value not in unwanted]
            if len(kept) != len(values):
                caps[name] = kept
                changed = True
    return changed


def strip_spec(spec: dict[str, Any], drop: Iterable[str]) -> bool:
    """Remove ``drop`` from the capabilities of an OCI runtime spec; True if changed."""
    process = spec.get("process")
    return isinstance(process, dict) and strip_process(process, drop)


def parse_command(args: Sequence[str]) -> tuple[str, list[str]]:
    """The runc subcommand and the arguments after it (``("", [])`` when there is none)."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in GLOBAL_VALUE_OPTIONS:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return arg, list(args[i + 1 :])
    return "", []


def option_value(args: Sequence[str], *names: str) -> str | None:
    """The value of the first of ``names`` in ``args`` (``--x v``, ``--x=v``, ``-x v``)."""
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                return args[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def file_to_rewrite(args: Sequence[str]) -> tuple[Path, bool] | None:
    """The JSON file runc will read for this call, and whether it is a whole spec.

    ``create``/``run``: ``<bundle>/config.json`` (``--bundle``/``-b``, default the working
    directory); ``exec --process FILE``: that process object. None for anything else.
    """
    command, rest = parse_command(args)
    if command in {"create", "run"}:
        bundle = option_value(rest, "--bundle", "-b") or "."
        return Path(bundle) / "config.json", True
    if command == "exec":
        process = option_value(rest, "--process", "-p")
        if process:
            return Path(process), False
    return None


def rewrite(path: Path, whole_spec: bool, drop: Iterable[str]) -> bool:
    """Strip ``drop`` from the JSON at ``path`` in place (atomically); True if it changed."""
    data = json.loads(path.read_text())
    changed = strip_spec(data, drop) if whole_spec else strip_process(data, drop)
    if changed:
        tmp = path.with_name(path.name + ".snapconf-tmp")
        tmp.write_text(json.dumps(data))
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        tmp.replace(path)
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    runc = "runc"
    if args[:1] == ["--runc"] and len(args) > 1:
        runc, args = args[1], args[2:]
    target = file_to_rewrite(args)
    if target is not None and target[0].exists():
        rewrite(target[0], target[1], missing_capabilities(own_bounding_mask()))
    os.execvp(runc, [runc, *args])  # noqa: S606 - runc's own argv, no shell
    return 127  # pragma: no cover - execvp does not return


if __name__ == "__main__":  # pragma: no cover - run by dockerd's containerd shim
    sys.exit(main())
