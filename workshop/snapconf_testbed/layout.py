"""Where the testbed keeps its state, caches, ports and names.

One place for every path and port, so bring-up, teardown and status agree on them.
Everything the testbed writes lives under the state directory (default
``/var/lib/snapconf-testbed``) or the build cache (default ``~/.cache/snapconf``), and
every port is on 127.0.0.1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

NODE_NAME = "127.0.0.1"
DRIVER_NAME = "hostpath.csi.k8s.io"
CNI_BRIDGE = "snapconf0"
POD_SUBNET = "10.244.77.0/24"
SERVICE_CIDR = "10.0.0.0/24"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"
"""The pause image the pinned Kubernetes expects (build/pause/Makefile TAG, and e2e's
``test/utils/image/manifest.go``): bench/peer refuses any other. Built from its pause.c."""
WORKLOAD_IMAGE = "docker.io/library/busybox:1.35"
PROXY_EXTENSION = "snapconf.io/apiproxy"
"""Kubeconfig cluster extension by which a proxy's kubeconfig names its upstream kubeconfig
(see ``snapconf_testbed.testbed.apiproxy``)."""


@dataclass(frozen=True)
class Ports:
    """Loopback ports, away from the defaults so a real cluster on the host does not clash."""

    etcd_client: int = 32379
    etcd_peer: int = 32380
    apiserver: int = 36443
    kubelet: int = 30250
    kubelet_healthz: int = 30248
    controller_manager: int = 30257
    scheduler: int = 30259

    def all(self) -> dict[str, int]:
        """Each port by the component that binds it."""
        return dict(vars(self))


@dataclass(frozen=True)
class Layout:
    """Paths of one testbed instance."""

    state: Path
    cache: Path
    ports: Ports = Ports()

    @classmethod
    def default(cls) -> Layout:
        """The layout from ``SNAPCONF_TESTBED_DIR`` / ``SNAPCONF_CACHE_DIR`` or defaults."""
        state = Path(os.environ.get("SNAPCONF_TESTBED_DIR", "/var/lib/snapconf-testbed"))
        xdg = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
        cache = Path(os.environ.get("SNAPCONF_CACHE_DIR", xdg / "snapconf"))
        return cls(state=state, cache=cache)

    # state directory
    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def failed_logs(self) -> Path:
        """Logs of a failed bring-up, kept beside the state directory that is removed."""
        return self.state.with_name(self.state.name + "-failed-logs")

    @property
    def pids(self) -> Path:
        return self.state / "pids"

    @property
    def etcd_data(self) -> Path:
        return self.state / "etcd"

    @property
    def kubelet_root(self) -> Path:
        return self.state / "kubelet"

    @property
    def plugins_registry(self) -> Path:
        return self.kubelet_root / "plugins_registry"

    @property
    def containerd(self) -> Path:
        return self.state / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.containerd / "containerd.sock"

    @property
    def cni_conf_dir(self) -> Path:
        return self.state / "cni" / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.state / "cni" / "ipam"

    @property
    def csi_socket_dir(self) -> Path:
        return self.state / "csi"

    @property
    def csi_socket(self) -> Path:
        """Where the CSI plugin listens: the hostpath plugin, or a user's ``--driver``."""
        return self.csi_socket_dir / "csi.sock"

    @property
    def interposer_socket(self) -> Path:
        """Where the fault interposer listens: what the sidecars and kubelet dial."""
        return self.csi_socket_dir / "interposer.sock"

    @property
    def fault_control(self) -> Path:
        """The active faults (JSON), read by the interposer on every call."""
        return self.state / "faults.json"

    @property
    def fault_module(self) -> Path:
        """A file naming the user's fault module given to ``testbed up``, if any."""
        return self.state / "fault-module"

    def serves(self, kubeconfig: str | os.PathLike[str] | None) -> bool:
        """Whether ``kubeconfig`` reaches this testbed (the cluster is ours).

        True for the testbed's admin kubeconfig and for the kubeconfig of an API proxy in
        front of it (``snapconf_testbed.testbed.apiproxy``), which names its upstream in the
        :data:`PROXY_EXTENSION` cluster extension: through the proxy it is the same
        cluster, with the same host processes.
        """
        if kubeconfig is None:
            return False
        mine = self.kubeconfig.resolve()
        if Path(kubeconfig).resolve() == mine:
            return True
        upstream = proxy_upstream(kubeconfig)
        return upstream is not None and upstream.resolve() == mine

    def user_fault_module(self) -> Path | None:
        """The fault module ``testbed up --fault-module`` was given, if any."""
        if not self.fault_module.exists():
            return None
        text = self.fault_module.read_text().strip()
        return Path(text) if text else None

    @property
    def csi_data(self) -> Path:
        """The hostpath plugin's volumes, snapshots and state.json."""
        return self.state / "csi-data"

    @property
    def driver_file(self) -> Path:
        """The user's CSI driver ``testbed up --driver`` runs (JSON); absent: the built-in one."""
        return self.state / "driver.json"

    @property
    def driver_data(self) -> Path:
        """A user's CSI driver's own data directory (its ``{state_dir}`` placeholder)."""
        return self.state / "driver-data"

    @property
    def config(self) -> Path:
        return self.state / "config"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig that users and the suites use."""
        return self.state / "kubeconfig"

    @property
    def images_dir(self) -> Path:
        return self.cache / "images"

    @property
    def bin_cache(self) -> Path:
        return self.cache / "bin"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    @property
    def apiserver_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"


def proxy_upstream(kubeconfig: str | os.PathLike[str]) -> Path | None:
    """The upstream kubeconfig named by a proxy kubeconfig (:data:`PROXY_EXTENSION`), or None."""
    try:
        config = yaml.safe_load(Path(kubeconfig).read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    if not isinstance(config, dict):
        return None
    for cluster in config.get("clusters") or []:
        body = cluster.get("cluster") if isinstance(cluster, dict) else None
        for ext in (body or {}).get("extensions") or []:
            if isinstance(ext, dict) and ext.get("name") == PROXY_EXTENSION:
                upstream = (ext.get("extension") or {}).get("upstream")
                return Path(str(upstream)) if upstream else None
    return None
