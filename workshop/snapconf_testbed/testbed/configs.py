"""Config files of the testbed's components: kubeconfigs, containerd, CNI, kubelet.

Every setting that matters is explained where it is written; the reasons come from
``shared/design/TESTBED.md`` (what ran on this kind of host).
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from snapconf_testbed.layout import CNI_BRIDGE, PAUSE_IMAGE, POD_SUBNET, Layout


def kubeconfig(layout: Layout, user: str, path: Path) -> Path:
    """A kubeconfig for the client certificate ``pki/<user>.crt``."""
    pki = layout.pki
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "snapconf-testbed",
                "cluster": {
                    "server": layout.apiserver_url,
                    "certificate-authority": str(pki / "ca.crt"),
                },
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate": str(pki / f"{user}.crt"),
                    "client-key": str(pki / f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "snapconf-testbed", "context": {"cluster": "snapconf-testbed", "user": user}}
        ],
        "current-context": "snapconf-testbed",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def containerd_config(layout: Layout) -> Path:
    """Containerd with its own root, state and socket, so nothing lands in /var or /run."""
    c = layout.containerd
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    text = f"""version = 2
root = "{c / "root"}"
state = "{c / "state"}"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{c / "opt"}"

[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # root here lacks CAP_SYS_RESOURCE: without this every sandbox fails to start
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  max_container_log_line_size = 16384

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "runc"
  Root = "{c / "state" / "runc"}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "{layout.cni_conf_dir}"
  max_conf_num = 1

[{cri}.registry]
  config_path = ""
"""
    path = layout.config / "containerd.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def cni_config(layout: Layout) -> Path:
    """A bridge with no gateway and no masquerade: pods get an IP but no route out."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "snapconf",
        "plugins": [
            {
                "type": "bridge",
                "bridge": CNI_BRIDGE,
                "isGateway": False,
                "ipMasq": False,
                "hairpinMode": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "dataDir": str(layout.cni_ipam_dir),
                },
            },
            {"type": "loopback"},
        ],
    }
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    path = layout.cni_conf_dir / "10-snapconf.conflist"
    path.write_text(json.dumps(conf, indent=2))
    return path


def kubelet_config(layout: Layout) -> Path:
    """KubeletConfiguration for a cgroup v1 host without systemd, bound to loopback."""
    pki = layout.pki
    resolv = layout.config / "resolv.conf"
    resolv.parent.mkdir(parents=True, exist_ok=True)
    resolv.write_text("nameserver 127.0.0.1\n")
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": layout.ports.kubelet,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.ports.kubelet_healthz,
        "cgroupDriver": "cgroupfs",
        # kubelet >= 1.35 refuses cgroup v1 unless told otherwise
        "failCgroupV1": False,
        "failSwapOn": False,
        "tlsCertFile": str(pki / "kubelet.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet.key"),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki / "ca.crt")},
        },
        "authorization": {"mode": "Webhook"},
        "resolvConf": str(resolv),
        "podLogsDir": str(layout.state / "pod-logs"),
        "volumePluginDir": str(layout.state / "volume-plugins"),
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        # the locally imported images can never be pulled again: never collect them
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "1Mi",
            "nodefs.available": "0%",
            "nodefs.inodesFree": "0%",
            "imagefs.available": "0%",
        },
        # online expansion completes on the pod sync; keep it short
        "syncFrequency": "10s",
        "fileCheckFrequency": "10s",
        "serializeImagePulls": False,
        "localStorageCapacityIsolation": False,
        "clusterDomain": "cluster.local",
        "maxPods": 110,
        "shutdownGracePeriod": "0s",
    }
    path = layout.config / "kubelet.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path
