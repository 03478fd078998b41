#!/usr/bin/env bash
# Build kind's base image from Debian's packages, without a registry. See --help.
set -euo pipefail

usage() {
	cat <<'EOF_USAGE'
Usage: testbed/kind/local/build-base.sh KIND_MODULE_DIR IMAGE

Builds IMAGE (e.g. localhost/snapconf/kind-base:v0.33.0-bookworm) in the Docker engine
DOCKER_HOST names: a Debian bookworm root filesystem made by mmdebstrap from Debian's
packages (systemd, containerd, runc, the CNI plugins, iptables, ...) with kind's
images/base/files of KIND_MODULE_DIR (the pinned sigs.k8s.io/kind module), turned into a
base image as kind's images/base/Dockerfile does (base-customize.sh), imported with
`docker import`. kind's Dockerfile builds containerd, runc, crictl and the CNI plugins
from GitHub; here they are Debian's (containerd 1.6, which reads kind's version-2
config; the testbed runs the same containerd with kubelet 1.37). No crictl.

Needs: mmdebstrap, jq, docker; root. Environment: SNAPCONF_PAUSE_IMAGE (the pause image
name containerd uses), DEBIAN_MIRROR (default http://deb.debian.org/debian).
EOF_USAGE
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	usage
	exit 0
fi
[[ $# == 2 ]] || {
	usage >&2
	exit 2
}
KIND_SRC=$1
IMAGE=$2
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
FILES=$KIND_SRC/images/base/files
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
: "${SNAPCONF_PAUSE_IMAGE:?set SNAPCONF_PAUSE_IMAGE}"
export SNAPCONF_PAUSE_IMAGE
[[ -d $FILES ]] || {
	echo "build-base.sh: no $FILES" >&2
	exit 1
}

# kind's package list (images/base/Dockerfile), less nfs-common, open-iscsi,
# fuse-overlayfs and curl (not used here), plus what replaces its GitHub builds.
PACKAGES=(
	systemd systemd-sysv
	conntrack iptables nftables iproute2 ethtool util-linux mount kmod
	libseccomp2 pigz e2fsprogs bash ca-certificates jq procps
	containerd runc containernetworking-plugins
)

WORK=$(mktemp -d /tmp/snapconf-kind-base.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
packages=$(
	IFS=,
	echo "${PACKAGES[*]}"
)
mmdebstrap --variant=minbase --mode=root --format=tar \
	--include="$packages" \
	--customize-hook="\"$SCRIPT_DIR/base-customize.sh\" \"\$1\" \"$FILES\"" \
	bookworm "$WORK/rootfs.tar" \
	"deb $MIRROR bookworm main" \
	"deb $MIRROR bookworm-updates main" \
	"deb $SECURITY bookworm-security main"
# kind's Dockerfile also sets STOPSIGNAL SIGRTMIN+3, which `docker import` refuses
# ("stopsignal is not a valid change command"); kind removes its nodes with `docker rm -f`.
docker import \
	--change 'ENV container=docker' \
	--change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
	"$WORK/rootfs.tar" "$IMAGE" >/dev/null
echo "$IMAGE"
