"""Host checks before bring-up, each failing with one sentence that names the cause.

Run before anything starts, so a machine that cannot host the testbed is told why and
nothing is left half-started.
"""

from __future__ import annotations

import os
import platform
import shutil
import socket
from pathlib import Path

from snapconf_testbed.layout import Layout

#: Host programs the testbed runs or calls, and the Debian package that provides each.
HOST_PROGRAMS: dict[str, str] = {
    "etcd": "etcd-server",
    "containerd": "containerd",
    "ctr": "containerd",
    "runc": "runc",
    "openssl": "openssl",
    "losetup": "mount",
    "mount": "mount",
    "umount": "mount",
    "ip": "iproute2",
    "gcc": "gcc",
}
CNI_PLUGINS = ("bridge", "host-local", "loopback")
CNI_DIR = Path("/usr/lib/cni")
BUSYBOX = Path("/bin/busybox")


class PreflightError(RuntimeError):
    """The host cannot run the testbed; the message says why in one sentence."""


def check_host() -> None:
    """Linux, root, cgroup v1 controllers: what every bring-up needs."""
    if platform.system() != "Linux":
        raise PreflightError(f"the testbed needs Linux, this is {platform.system()}")
    if os.geteuid() != 0:
        raise PreflightError("the testbed needs root (it mounts volumes and runs kubelet)")
    for controller in ("cpu", "memory", "pids", "devices", "freezer"):
        if not Path("/sys/fs/cgroup", controller).is_dir():
            raise PreflightError(
                f"cgroup controller '{controller}' is not mounted under /sys/fs/cgroup "
                "(the testbed expects cgroup v1 hierarchies)"
            )


def missing_programs() -> list[str]:
    """Debian packages to install for the missing host programs."""
    missing = {pkg for prog, pkg in HOST_PROGRAMS.items() if shutil.which(prog) is None}
    if any(not (CNI_DIR / name).exists() for name in CNI_PLUGINS):
        missing.add("containernetworking-plugins")
    if not BUSYBOX.exists():
        missing.add("busybox-static")
    return sorted(missing)


def check_programs() -> None:
    """Every host program and the Go toolchain is present."""
    missing = missing_programs()
    if missing:
        raise PreflightError(
            "missing host programs; install them with: apt-get install -y " + " ".join(missing)
        )
    if shutil.which("go") is None:
        raise PreflightError(
            "Go is not on PATH; the testbed builds Kubernetes and the CSI components with it"
        )


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def check_ports(layout: Layout) -> None:
    """No port the testbed needs is taken by another program."""
    for component, port in layout.ports.all().items():
        if port_in_use(port):
            raise PreflightError(
                f"port 127.0.0.1:{port} (for {component.replace('_', ' ')}) is already in use "
                "by another program; stop it or run 'snapconf testbed down' if it is a "
                "testbed left behind"
            )
