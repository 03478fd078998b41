#!/usr/bin/env bash
# mmdebstrap customize hook of build-base.sh: turn a Debian root filesystem ($1) into a
# kind base image with kind's own files ($2 = images/base/files of the pinned kind module),
# as kind's images/base/Dockerfile does, plus the changes this machine needs (below).
set -euo pipefail
root=$1
files=$2

# kind's files, with the Dockerfile's modes
install -d -m 0755 "$root/kind" "$root/kind/bin" "$root/LICENSES"
install -m 0755 "$files"/usr/local/bin/* "$root/usr/local/bin/"
install -m 0644 "$files"/kind/README.txt "$root/kind/"
install -m 0755 "$files"/kind/bin/* "$root/kind/bin/"
install -m 0644 "$files"/LICENSES/* "$root/LICENSES/"
install -m 0644 "$files"/etc/crictl.yaml "$root/etc/"
install -d -m 0755 "$root/etc/containerd" "$root/etc/default" "$root/etc/sysctl.d" \
	"$root/etc/systemd/system/kubelet.service.d"
install -m 0644 "$files"/etc/containerd/* "$root/etc/containerd/"
install -m 0644 "$files"/etc/default/* "$root/etc/default/"
install -m 0644 "$files"/etc/sysctl.d/* "$root/etc/sysctl.d/"
find "$files/etc/systemd/system" -maxdepth 1 -type f -exec install -m 0644 {} "$root/etc/systemd/system/" \;
install -m 0644 "$files"/etc/systemd/system/kubelet.service.d/* "$root/etc/systemd/system/kubelet.service.d/"

# the Dockerfile's clean-up of services, then kind's own units
find "$root/lib/systemd/system/sysinit.target.wants/" -name "systemd-tmpfiles-setup.service" -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* \
	"$root"/etc/systemd/system/*.wants/* \
	"$root"/lib/systemd/system/local-fs.target.wants/* \
	"$root"/lib/systemd/system/sockets.target.wants/*udev* \
	"$root"/lib/systemd/system/sockets.target.wants/*initctl* \
	"$root"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >>"$root/etc/systemd/journald.conf"
ln -sf /usr/lib/systemd/systemd "$root/sbin/init"
chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
chroot "$root" systemctl mask systemd-binfmt.service
install -d -m 0755 "$root/etc/kubernetes/manifests"

# --- snapconf: Debian's containerd, runc and CNI plugins instead of kind's builds ------
# kind's units and config name /usr/local/bin/containerd and /opt/cni/bin.
ln -sf /usr/bin/containerd "$root/usr/local/bin/containerd"
ln -sf /usr/bin/containerd-shim-runc-v2 "$root/usr/local/bin/containerd-shim-runc-v2"
install -d -m 0755 "$root/opt/cni"
ln -sfn /usr/lib/cni "$root/opt/cni/bin"
# kind's base runtime spec: `ctr oci spec` with kind's createContainer hook, no rlimits
chroot "$root" ctr oci spec |
	jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' |
	jq 'del(.process.rlimits)' >"$root/etc/containerd/cri-base.json"
# This machine lacks CAP_SYS_RESOURCE: a negative oom_score_adj fails, so every pod
# sandbox would ("can't get final child's PID from pipe: EOF"). kind sets this only
# for rootless nodes (entrypoint, configure_containerd).
sed -i 's/restrict_oom_score_adj = false/restrict_oom_score_adj = true/' "$root/etc/containerd/config.toml"
grep -q 'restrict_oom_score_adj = true' "$root/etc/containerd/config.toml"
# The pause image the pinned Kubernetes expects (the testbed builds it from pause.c).
sed -i "s#sandbox_image = .*#sandbox_image = \"${SNAPCONF_PAUSE_IMAGE:?}\"#" "$root/etc/containerd/config.toml"
# No kindnetd image here (cluster-local.yaml: disableDefaultCNI): a bridge on the node's
# pod CIDR (kind's default podSubnet 10.244.0.0/16, the single node gets .0/24), no
# masquerade, so no iptables rule; pods reach the node's own addresses.
install -d -m 0755 "$root/etc/cni/net.d"
cat >"$root/etc/cni/net.d/10-snapconf-bridge.conflist" <<'EOF_CNI'
{
  "cniVersion": "0.4.0",
  "name": "snapconf",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
EOF_CNI
# smaller image
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
