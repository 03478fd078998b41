#!/usr/bin/env bash
# Assemble kind's node image from the base image, local binaries and image archives.
# See --help.
set -euo pipefail

usage() {
	cat <<'EOF_USAGE'
Usage: testbed/kind/local/build-node.sh BASE_IMAGE NODE_IMAGE VERSION BIN_DIR IMAGES_FILE

What `kind build node-image` does, without its pulls (it fetches every image that is
not in the Kubernetes build it is given, and no registry answers here): in a container of
BASE_IMAGE, put kubeadm, kubelet and kubectl from BIN_DIR into /usr/bin, write
/kind/version (VERSION) and /kind/manifests/default-storage.yaml, start containerd,
import every archive IMAGES_FILE lists with `node` (lines `node|load<TAB>NAME<TAB>PATH`,
from `python -m snapconf_testbed.kind images`), stop containerd and commit the container
as NODE_IMAGE with kind's entrypoint (and the label snapconf.node-key=$NODE_KEY, by
which run.sh knows an up-to-date image). Needs docker (DOCKER_HOST).
EOF_USAGE
}

if [[ ${1:-} == -h || ${1:-} == --help ]]; then
	usage
	exit 0
fi
[[ $# == 5 ]] || {
	usage >&2
	exit 2
}
BASE=$1
NODE=$2
VERSION=$3
BIN_DIR=$4
IMAGES_FILE=$5

# kind's fallback storage class (installstorage), written so kind does not warn; the
# in-tree host-path provisioner behind it is kind's controller-manager flag.
DEFAULT_STORAGE='apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/host-path'

ID=
cleanup() {
	if [[ -n $ID ]]; then
		docker rm -f -v "$ID" >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT

ID=$(docker run -d --entrypoint=sleep --security-opt seccomp=unconfined --network none \
	"$BASE" infinity)
for binary in kubeadm kubelet kubectl; do
	docker cp -L "$BIN_DIR/$binary" "$ID:/usr/bin/$binary"
	docker exec "$ID" chmod 0755 "/usr/bin/$binary"
	docker exec "$ID" chown root:root "/usr/bin/$binary"
done
docker exec "$ID" mkdir -p /kind/manifests
printf '%s' "$VERSION" | docker exec -i "$ID" cp /dev/stdin /kind/version
printf '%s\n' "$DEFAULT_STORAGE" | docker exec -i "$ID" cp /dev/stdin /kind/manifests/default-storage.yaml

docker exec "$ID" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
docker exec "$ID" bash -c 'for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] && ctr version >/dev/null 2>&1 && exit 0; sleep 1; done; cat /tmp/containerd.log; exit 1'
while IFS=$'\t' read -r where name path; do
	[[ $where == node ]] || continue
	echo "importing $name" >&2
	docker exec -i "$ID" ctr --namespace=k8s.io images import --all-platforms --no-unpack \
		--digests - <"$path" >/dev/null
	# the whole list first: grep -q stopping early would fail the pipe (pipefail)
	listed=$(docker exec "$ID" ctr --namespace=k8s.io images ls -q)
	grep -qxF "$name" <<<"$listed" ||
		{
			echo "build-node.sh: $name is not in containerd after the import" >&2
			exit 1
		}
done <"$IMAGES_FILE"
docker exec "$ID" pkill -x containerd
# sleep is PID 1 and reaps nothing: the stopped containerd stays a zombie, so wait for its
# socket to go (removed on a clean shutdown) rather than for the process
docker exec "$ID" bash -c 'for i in $(seq 1 30); do [ -S /run/containerd/containerd.sock ] || exit 0; sleep 1; done; exit 1'
docker exec "$ID" rm -f /tmp/containerd.log
docker commit \
	--change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' \
	--change 'ENV HTTP_PROXY="" HTTPS_PROXY="" NO_PROXY=""' \
	--change "LABEL snapconf.node-key=${NODE_KEY:-}" \
	"$ID" "$NODE" >/dev/null
echo "$NODE"
