#!/usr/bin/env bash
# Run snapconf against a throwaway kind cluster with the upstream CSI hostpath driver.
# Used by .github/workflows/nightly.yml; runs the same way on any machine with Docker.
# See --help.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: testbed/kind/run.sh [--local-images] [SNAPCONF_RUN_ARGS...]
       testbed/kind/run.sh [--local-images] --print-versions
       testbed/kind/run.sh -h | --help

Creates (or reuses) a single-node kind cluster from testbed/kind/cluster.yaml, installs
the VolumeSnapshot CRDs and the snapshot-controller at the external-snapshotter version
pinned in testbed/modules/external-snapshotter/go.mod, deploys the upstream CSI hostpath
driver (csi-driver-host-path, deploy/kubernetes-<minor> of the pinned Kubernetes), makes
sure the classes that profiles/hostpath.yaml names exist (csi-hostpath-sc,
csi-hostpath-sc-wffc, csi-hostpath-snapclass), waits until all of it is ready, then runs

    snapconf run --kubeconfig <kind kubeconfig> --profile profiles/hostpath.yaml \
        --report-dir reports SNAPCONF_RUN_ARGS...

from the repository root and exits with snapconf's status. The cluster is deleted at the
end (also after a failure) unless KEEP_CLUSTER=1. After a failure, cluster diagnostics
and `kind export logs` go to reports/kind-<cluster>-diagnostics/.

Needs: docker (running), kind, kubectl (1.31 or newer), git, curl, and snapconf on PATH
(pip install .).
Network: registry images, GitHub (sources of the pinned kubernetes-csi releases) and,
only if the node image is not published, dl.k8s.io.

Options:
  --local-images    build everything here instead of pulling it (also KIND_LOCAL_IMAGES=1):
                    see "Local images" below
  --print-versions  print the resolved versions and paths, touch nothing, exit 0
  -h, --help        this text

Local images (for machines that reach no registry and no GitHub, only Debian's packages,
the Go module proxy and PyPI):
  - starts a private dockerd (testbed/kind/local/dockerd.sh: its own data root, socket
    and runtime wrapper, no host iptables) unless LOCAL_DOCKERD=0 (then DOCKER_HOST's
    engine is used), and stops it at the end unless KEEP_CLUSTER=1;
  - builds kind, kubeadm, kubectl and etcd from testbed/modules/{kind,kubernetes-kind,etcd}
    and the testbed's own binaries (python -m snapconf_testbed.kind binaries), and
    single-layer images of them (... images);
  - builds kind's base image from Debian's packages with mmdebstrap (build-base.sh) and
    the node image from it (build-node.sh), each only when missing or out of date;
  - creates the cluster from testbed/kind/cluster-local.yaml (no kube-proxy, no CoreDNS,
    a bridge CNI), loads the CSI images (kind load image-archive), installs the snapshot
    CRDs of the pinned client module, the snapshot-controller and the testbed's own
    hostpath driver with the csi-provisioner, csi-snapshotter and csi-resizer of the
    pinned modules (python -m snapconf_testbed.kind manifests);
  - needs: docker.io (dockerd, docker), mmdebstrap, jq, go, root, and a Python with the
    workshop installed (SNAPCONF_PYTHON, default python3), snapconf on PATH.

Environment:
  KIND_CLUSTER_NAME  cluster name (default: snapconf); an existing cluster is reused
  KEEP_CLUSTER=1     keep the cluster (and its kubeconfig) after the run
  KIND_KUBECONFIG    kubeconfig file to write (default:
                     ${XDG_CACHE_HOME:-~/.cache}/snapconf/kind-<cluster>.kubeconfig)
  HOSTPATH_VERSION   csi-driver-host-path release (default: the pin in this script)
  HOSTPATH_SRC       use this csi-driver-host-path checkout instead of cloning
  SNAPSHOTTER_SRC    use this external-snapshotter checkout (at the pinned tag)
                     instead of cloning
  WAIT_TIMEOUT       timeout of each readiness wait (default: 300s)
  KIND_LOCAL_IMAGES=1  as --local-images
  LOCAL_DOCKERD=0    with --local-images: use DOCKER_HOST's engine, start none
  SNAPCONF_PYTHON    with --local-images: the Python that runs snapconf_testbed.kind
  KIND_IMAGE_DIR     with --local-images: where the image archives go (default:
                     ${XDG_CACHE_HOME:-~/.cache}/snapconf/kind-images)

Examples:
  testbed/kind/run.sh                            # every default area
  testbed/kind/run.sh --area restore -n 2        # extra snapconf run arguments
  KEEP_CLUSTER=1 testbed/kind/run.sh -- -k clone # pytest arguments after --
  testbed/kind/run.sh --local-images -n 2        # everything built on this machine
EOF
}

# csi-driver-host-path release whose deploy/kubernetes-<minor> is used. Bump it together
# with the other pins; its sidecar images come from that release's manifests.
HOSTPATH_VERSION_PIN=v1.18.0

HOSTPATH_REPO=https://github.com/kubernetes-csi/csi-driver-host-path
SNAPSHOTTER_REPO=https://github.com/kubernetes-csi/external-snapshotter
DRIVER_NAME=hostpath.csi.k8s.io

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CLUSTER_CONFIG=$SCRIPT_DIR/cluster.yaml
LOCAL_DIR=$SCRIPT_DIR/local
KUBERNETES_GOMOD=$REPO_ROOT/testbed/modules/kubernetes/go.mod
SNAPSHOTTER_GOMOD=$REPO_ROOT/testbed/modules/external-snapshotter/go.mod

CLUSTER_NAME=${KIND_CLUSTER_NAME:-snapconf}
KEEP_CLUSTER=${KEEP_CLUSTER:-0}
HOSTPATH_VERSION=${HOSTPATH_VERSION:-$HOSTPATH_VERSION_PIN}
KUBECONFIG_PATH=${KIND_KUBECONFIG:-${XDG_CACHE_HOME:-$HOME/.cache}/snapconf/kind-$CLUSTER_NAME.kubeconfig}
WAIT_TIMEOUT=${WAIT_TIMEOUT:-300s}
LOCAL_IMAGES=${KIND_LOCAL_IMAGES:-0}
LOCAL_DOCKERD=${LOCAL_DOCKERD:-1}
PYTHON=${SNAPCONF_PYTHON:-python3}
IMAGE_DIR=${KIND_IMAGE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/snapconf/kind-images}
# kind's base image as build-base.sh makes it (kind version and Debian suite)
BASE_IMAGE_REPO=localhost/snapconf/kind-base
DOCKERD_STARTED=0
REPORT_DIR=reports
DIAG_DIR=$REPO_ROOT/$REPORT_DIR/kind-$CLUSTER_NAME-diagnostics

log() {
	printf '[kind %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
	log "error: $*"
	exit 1
}

# gomod_version FILE MODULE: the version FILE requires MODULE at, from a single-line
# `require MODULE vX` or from a line of a require block.
gomod_version() {
	local file=$1 module=$2 version
	[[ -r $file ]] || die "cannot read $file"
	version=$(awk -v mod="$module" '
		$1 == "require" && $2 == mod { print $3; exit }
		$1 == mod && $2 ~ /^v/ { print $2; exit }
	' "$file")
	[[ -n $version ]] || die "$file does not require $module"
	printf '%s\n' "$version"
}

# The node image of cluster.yaml's (single) node.
config_node_image() {
	local image
	image=$(sed -nE 's/^[[:space:]]*image:[[:space:]]*"?([^"[:space:]#]+)"?.*$/\1/p' "$CLUSTER_CONFIG" | head -n 1)
	[[ -n $image ]] || die "$CLUSTER_CONFIG names no node image"
	printf '%s\n' "$image"
}

resolve_versions() {
	KUBERNETES_VERSION=$(gomod_version "$KUBERNETES_GOMOD" k8s.io/kubernetes)
	SNAPSHOTTER_VERSION=$(gomod_version "$SNAPSHOTTER_GOMOD" github.com/kubernetes-csi/external-snapshotter/v8)
	KUBERNETES_MINOR=$(cut -d. -f1,2 <<<"${KUBERNETES_VERSION#v}")
	NODE_IMAGE=$(config_node_image)
	local tag=${NODE_IMAGE%%@*}
	tag=${tag##*:}
	[[ $tag == "$KUBERNETES_VERSION" ]] ||
		die "node image $NODE_IMAGE in $CLUSTER_CONFIG does not match Kubernetes $KUBERNETES_VERSION pinned in $KUBERNETES_GOMOD"
}

print_versions() {
	printf 'mode=%s\n' "$( ((LOCAL_IMAGES)) && echo local-images || echo registry)"
	printf 'kubernetes=%s\n' "$KUBERNETES_VERSION"
	printf 'node_image=%s\n' "$NODE_IMAGE"
	printf 'external_snapshotter=%s\n' "$SNAPSHOTTER_VERSION"
	printf 'csi_driver_host_path=%s\n' "$HOSTPATH_VERSION"
	printf 'hostpath_deploy=deploy/kubernetes-%s\n' "$KUBERNETES_MINOR"
	printf 'cluster=%s\n' "$CLUSTER_NAME"
	printf 'kubeconfig=%s\n' "$KUBECONFIG_PATH"
}

require_tools() {
	local tool missing=() tools=(docker kind kubectl git curl snapconf)
	if ((LOCAL_IMAGES)); then
		# kind and kubectl are built here; git and curl are not used
		command -v go >/dev/null 2>&1 || PATH=$PATH:/usr/local/go/bin
		tools=(docker go jq snapconf "$PYTHON")
		((LOCAL_DOCKERD)) && tools+=(dockerd)
	fi
	for tool in "${tools[@]}"; do
		command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
	done
	((${#missing[@]} == 0)) || die "not on PATH: ${missing[*]} (see --help)"
	if ((LOCAL_IMAGES)); then
		"$PYTHON" -c 'import snapconf_testbed.kind' 2>/dev/null ||
			die "$PYTHON cannot import snapconf_testbed.kind (pip install -e ./workshop, or set SNAPCONF_PYTHON)"
		((LOCAL_DOCKERD)) && return 0
	fi
	docker info >/dev/null 2>&1 || die "docker is installed but its engine does not answer (docker info)"
}

# fetch_repo URL REF DEST PATH...: a shallow, sparse checkout of PATHs at tag REF.
fetch_repo() {
	local url=$1 ref=$2 dest=$3
	shift 3
	log "fetching $url at $ref ($*)"
	git -c advice.detachedHead=false clone --quiet --depth 1 --branch "$ref" \
		--filter=blob:none --sparse "$url" "$dest"
	git -C "$dest" sparse-checkout set "$@"
}

cluster_exists() {
	local clusters
	clusters=$(kind get clusters 2>/dev/null) || return 1
	grep -qxF "$CLUSTER_NAME" <<<"$clusters"
}

# Use the published node image, or build it from the Kubernetes release when the
# registry has no image of that tag.
ensure_node_image() {
	if ((LOCAL_IMAGES)); then
		build_local_node_image
		return
	fi
	if docker image inspect "$NODE_IMAGE" >/dev/null 2>&1; then
		return
	fi
	log "pulling $NODE_IMAGE"
	if docker pull "$NODE_IMAGE"; then
		return
	fi
	local built=${NODE_IMAGE%%@*}
	log "no published $NODE_IMAGE; building $built from the $KUBERNETES_VERSION release"
	kind build node-image --type release "$KUBERNETES_VERSION" --image "$built"
	NODE_IMAGE=$built
}

write_kubeconfig() {
	mkdir -p "$(dirname "$KUBECONFIG_PATH")"
	(
		umask 077
		kind get kubeconfig --name "$CLUSTER_NAME" >"$KUBECONFIG_PATH.tmp"
	)
	mv "$KUBECONFIG_PATH.tmp" "$KUBECONFIG_PATH"
	export KUBECONFIG=$KUBECONFIG_PATH
	KUBECONFIG_READY=1
}

# A reused cluster must run the pinned Kubernetes, or the results mean something else.
check_node_version() {
	local got
	got=$(kubectl get nodes -o jsonpath='{.items[0].status.nodeInfo.kubeletVersion}')
	[[ $got == "$KUBERNETES_VERSION" ]] ||
		die "cluster $CLUSTER_NAME runs Kubernetes $got, not the pinned $KUBERNETES_VERSION (kind delete cluster --name $CLUSTER_NAME)"
}

collect_diagnostics() {
	log "collecting diagnostics in $DIAG_DIR"
	mkdir -p "$DIAG_DIR"
	kind export logs "$DIAG_DIR/kind-logs" --name "$CLUSTER_NAME" >/dev/null 2>&1 || true
	# Only through our kubeconfig: never query whatever cluster the caller's config names.
	((KUBECONFIG_READY)) || return 0
	kubectl get nodes -o wide >"$DIAG_DIR/nodes.txt" 2>&1 || true
	kubectl get pods -A -o wide >"$DIAG_DIR/pods.txt" 2>&1 || true
	kubectl get events -A --sort-by=.lastTimestamp >"$DIAG_DIR/events.txt" 2>&1 || true
	kubectl describe pods -n default >"$DIAG_DIR/describe-default.txt" 2>&1 || true
	kubectl describe pods -n kube-system >"$DIAG_DIR/describe-kube-system.txt" 2>&1 || true
	kubectl get csidrivers,csinodes,storageclasses,volumesnapshotclasses -o yaml \
		>"$DIAG_DIR/storage-objects.yaml" 2>&1 || true
}

CLUSTER_TOUCHED=0
KUBECONFIG_READY=0
WORK_DIR=

cleanup() {
	local status=$?
	trap - EXIT
	set +e
	if ((CLUSTER_TOUCHED)) && ((status != 0)); then
		collect_diagnostics
	fi
	if ((CLUSTER_TOUCHED)); then
		if [[ $KEEP_CLUSTER == 1 ]]; then
			log "keeping cluster $CLUSTER_NAME; export KUBECONFIG=$KUBECONFIG_PATH"
		else
			log "deleting cluster $CLUSTER_NAME"
			kind delete cluster --name "$CLUSTER_NAME" --kubeconfig "$KUBECONFIG_PATH" ||
				log "warning: could not delete cluster $CLUSTER_NAME"
			rm -f "$KUBECONFIG_PATH"
		fi
	fi
	if ((DOCKERD_STARTED)) && [[ $KEEP_CLUSTER != 1 ]]; then
		"$LOCAL_DIR/dockerd.sh" stop || log "warning: could not stop the private dockerd"
	elif ((DOCKERD_STARTED)); then
		log "keeping the private dockerd; stop it with: $LOCAL_DIR/dockerd.sh stop"
	fi
	if [[ -n $WORK_DIR ]]; then
		rm -rf "$WORK_DIR"
	fi
	exit "$status"
}

start_cluster() {
	CLUSTER_TOUCHED=1
	if cluster_exists; then
		log "reusing kind cluster $CLUSTER_NAME"
	else
		ensure_node_image
		log "creating kind cluster $CLUSTER_NAME ($NODE_IMAGE)"
		mkdir -p "$(dirname "$KUBECONFIG_PATH")"
		kind create cluster --name "$CLUSTER_NAME" --config "$CLUSTER_CONFIG" \
			--image "$NODE_IMAGE" --kubeconfig "$KUBECONFIG_PATH" --wait 120s
	fi
	write_kubeconfig
	kubectl wait --for=condition=Ready node --all --timeout="$WAIT_TIMEOUT"
	check_node_version
}

install_snapshotter() {
	local src=${SNAPSHOTTER_SRC:-}
	if [[ -z $src ]]; then
		src=$WORK_DIR/external-snapshotter
		fetch_repo "$SNAPSHOTTER_REPO" "$SNAPSHOTTER_VERSION" "$src" \
			client/config/crd deploy/kubernetes/snapshot-controller
	fi
	log "installing snapshot CRDs and snapshot-controller $SNAPSHOTTER_VERSION"
	kubectl apply --server-side --force-conflicts -k "$src/client/config/crd"
	kubectl wait --for=condition=Established --timeout="$WAIT_TIMEOUT" \
		crd/volumesnapshotclasses.snapshot.storage.k8s.io \
		crd/volumesnapshotcontents.snapshot.storage.k8s.io \
		crd/volumesnapshots.snapshot.storage.k8s.io
	kubectl -n kube-system apply --server-side --force-conflicts \
		-k "$src/deploy/kubernetes/snapshot-controller"
	kubectl -n kube-system wait --for=condition=Available --timeout="$WAIT_TIMEOUT" \
		deployment/snapshot-controller
}

# The deploy directory for our Kubernetes minor, else the newest older one, else
# kubernetes-latest.
hostpath_deploy_dir() {
	local src=$1 want=${KUBERNETES_MINOR#1.} best="" best_minor=-1 dir minor
	if [[ -d $src/deploy/kubernetes-$KUBERNETES_MINOR ]]; then
		printf '%s\n' "$src/deploy/kubernetes-$KUBERNETES_MINOR"
		return
	fi
	for dir in "$src"/deploy/kubernetes-1.*; do
		minor=${dir##*/kubernetes-1.}
		[[ $minor =~ ^[0-9]+$ ]] || continue
		if ((minor <= want && minor > best_minor)); then
			best=$dir
			best_minor=$minor
		fi
	done
	[[ -n $best ]] || best=$src/deploy/kubernetes-latest
	[[ -d $best ]] || die "csi-driver-host-path $HOSTPATH_VERSION has no deploy directory for Kubernetes $KUBERNETES_MINOR"
	log "warning: no deploy/kubernetes-$KUBERNETES_MINOR in csi-driver-host-path $HOSTPATH_VERSION; using ${best#"$src"/}"
	printf '%s\n' "$best"
}

wait_driver_registered() {
	local i names
	for ((i = 0; i < 150; i++)); do
		names=$(kubectl get csinodes -o jsonpath='{.items[*].spec.drivers[*].name}' 2>/dev/null) || true
		if grep -qwF "$DRIVER_NAME" <<<"$names"; then
			return
		fi
		sleep 2
	done
	die "$DRIVER_NAME did not register in any CSINode within 300s"
}

install_hostpath() {
	local src=${HOSTPATH_SRC:-} deploy_dir
	if [[ -z $src ]]; then
		src=$WORK_DIR/csi-driver-host-path
		fetch_repo "$HOSTPATH_REPO" "$HOSTPATH_VERSION" "$src" deploy
	fi
	deploy_dir=$(hostpath_deploy_dir "$src")
	[[ -e $deploy_dir/deploy.sh ]] || die "no deploy.sh in $deploy_dir"
	log "deploying csi-driver-host-path $HOSTPATH_VERSION from ${deploy_dir#"$src"/}"
	# The snapshot CRDs are ours (the pinned version), not the deploy script's.
	INSTALL_CRD=false bash "$deploy_dir/deploy.sh"
	wait_hostpath_ready
}

# wait_hostpath_ready: the CSIDriver object, the plugin's StatefulSet and pod, the kubelet's
# registration: what either deploy (upstream's or the local one) must reach before a run.
wait_hostpath_ready() {
	kubectl wait --for=create --timeout="$WAIT_TIMEOUT" "csidriver/$DRIVER_NAME"
	kubectl -n default wait --for=jsonpath='{.status.readyReplicas}'=1 \
		--timeout="$WAIT_TIMEOUT" statefulset/csi-hostpathplugin
	kubectl -n default wait --for=condition=Ready --timeout="$WAIT_TIMEOUT" \
		pod -l app.kubernetes.io/name=csi-hostpathplugin
	wait_driver_registered
}

# ensure_class KIND NAME FILE: apply FILE unless an object KIND/NAME already exists.
ensure_class() {
	local kind=$1 name=$2 file=$3
	if kubectl get "$kind" "$name" >/dev/null 2>&1; then
		log "$kind $name exists (from the deploy); kept"
	else
		kubectl apply -f "$file"
	fi
	kubectl wait --for=create --timeout="$WAIT_TIMEOUT" "$kind/$name"
}

# The existing class must bind as the profile expects, whoever created it.
check_binding_mode() {
	local name=$1 want=$2 got
	got=$(kubectl get storageclass "$name" -o jsonpath='{.volumeBindingMode}')
	[[ $got == "$want" ]] || die "storageclass $name binds $got, the profile expects $want"
}

install_classes() {
	ensure_class storageclass csi-hostpath-sc "$SCRIPT_DIR/storageclass-immediate.yaml"
	ensure_class storageclass csi-hostpath-sc-wffc "$SCRIPT_DIR/storageclass-wffc.yaml"
	ensure_class volumesnapshotclass csi-hostpath-snapclass "$SCRIPT_DIR/volumesnapshotclass.yaml"
	check_binding_mode csi-hostpath-sc Immediate
	check_binding_mode csi-hostpath-sc-wffc WaitForFirstConsumer
}

# --- local images -------------------------------------------------------------------

# The private engine, unless the caller brings one.
start_local_dockerd() {
	((LOCAL_DOCKERD)) || return 0
	"$LOCAL_DIR/dockerd.sh" start
	DOCKERD_STARTED=1
	eval "$("$LOCAL_DIR/dockerd.sh" env)"
	export DOCKER_HOST
}

# BINS[name]=path of every binary, built when missing; kind and kubectl go on PATH.
declare -A BINS=()
build_local_binaries() {
	local line
	log "building (or finding) the binaries"
	while IFS= read -r line; do
		BINS[${line%%=*}]=${line#*=}
	done < <("$PYTHON" -m snapconf_testbed.kind binaries)
	[[ -n ${BINS[kind]:-} && -n ${BINS[kubectl]:-} && -n ${BINS[kubeadm]:-} ]] ||
		die "python -m snapconf_testbed.kind binaries named no kind, kubectl or kubeadm"
	PATH=$(dirname "${BINS[kind]}"):$(dirname "${BINS[kubectl]}"):$PATH
	export PATH
}

# MODULE_PATHS[name]=path (kind's module, the snapshot CRDs).
declare -A MODULE_PATHS=()
resolve_module_paths() {
	local line
	while IFS= read -r line; do
		MODULE_PATHS[${line%%=*}]=${line#*=}
	done < <("$PYTHON" -m snapconf_testbed.kind paths)
}

build_local_images() {
	log "writing the image archives into $IMAGE_DIR"
	mkdir -p "$IMAGE_DIR"
	"$PYTHON" -m snapconf_testbed.kind images "$IMAGE_DIR" >"$WORK_DIR/images.tsv"
	sed 's/^/  /' "$WORK_DIR/images.tsv" >&2
}

pause_image() {
	awk -F '\t' '$1 == "node" && $2 ~ /\/pause:/ { print $2; exit }' "$WORK_DIR/images.tsv"
}

# The node image is rebuilt when its inputs change: a key over the base image, the
# node binaries and the archives it carries, kept as the image label snapconf.node-key.
node_key() {
	{
		docker image inspect --format '{{.Id}}' "$BASE_IMAGE"
		sha256sum "${BINS[kubeadm]}" "${BINS[kubelet]}" "${BINS[kubectl]}" | cut -d' ' -f1
		awk -F '\t' '$1 == "node" { print $3 }' "$WORK_DIR/images.tsv" | xargs sha256sum | cut -d' ' -f1
		sha256sum "$LOCAL_DIR/build-node.sh" | cut -d' ' -f1
	} | sha256sum | cut -c1-16
}

build_local_node_image() {
	local kind_version started key have bin_dir
	kind_version=$(gomod_version "$REPO_ROOT/testbed/modules/kind/go.mod" sigs.k8s.io/kind)
	# tagged by the content of the scripts that make it
	BASE_IMAGE=$BASE_IMAGE_REPO:$kind_version-bookworm-$(cat "$LOCAL_DIR/base-customize.sh" "$LOCAL_DIR/build-base.sh" | sha256sum | cut -c1-8)
	if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
		command -v mmdebstrap >/dev/null || die "mmdebstrap is not installed (apt-get install mmdebstrap)"
		log "building the base image $BASE_IMAGE (mmdebstrap, Debian bookworm)"
		started=$SECONDS
		SNAPCONF_PAUSE_IMAGE=$(pause_image) \
			"$LOCAL_DIR/build-base.sh" "${MODULE_PATHS[kind_module]}" "$BASE_IMAGE"
		log "base image built in $((SECONDS - started))s"
	fi
	key=$(node_key)
	have=$(docker image inspect --format '{{index .Config.Labels "snapconf.node-key"}}' "$NODE_IMAGE" 2>/dev/null || true)
	if [[ $have == "$key" ]]; then
		log "node image $NODE_IMAGE is up to date ($key)"
		return
	fi
	log "building the node image $NODE_IMAGE ($key)"
	started=$SECONDS
	bin_dir=$WORK_DIR/node-bin
	mkdir -p "$bin_dir"
	ln -sf "${BINS[kubeadm]}" "$bin_dir/kubeadm"
	ln -sf "${BINS[kubelet]}" "$bin_dir/kubelet"
	ln -sf "${BINS[kubectl]}" "$bin_dir/kubectl"
	NODE_KEY=$key "$LOCAL_DIR/build-node.sh" "$BASE_IMAGE" "$NODE_IMAGE" "$KUBERNETES_VERSION" \
		"$bin_dir" "$WORK_DIR/images.tsv"
	log "node image built in $((SECONDS - started))s"
}

load_local_images() {
	local where name path
	while IFS=$'\t' read -r where name path; do
		[[ $where == load ]] || continue
		log "loading $name"
		kind load image-archive "$path" --name "$CLUSTER_NAME"
	done <"$WORK_DIR/images.tsv"
}

install_local_snapshotter() {
	log "installing snapshot CRDs and snapshot-controller $SNAPSHOTTER_VERSION (local images)"
	kubectl apply --server-side --force-conflicts -k "${MODULE_PATHS[snapshot_crds]}"
	# the group CRDs too: the controller and csi-snapshotter look for them once, at start
	kubectl wait --for=condition=Established --timeout="$WAIT_TIMEOUT" \
		crd/volumesnapshotclasses.snapshot.storage.k8s.io \
		crd/volumesnapshotcontents.snapshot.storage.k8s.io \
		crd/volumesnapshots.snapshot.storage.k8s.io \
		crd/volumegroupsnapshotclasses.groupsnapshot.storage.k8s.io \
		crd/volumegroupsnapshotcontents.groupsnapshot.storage.k8s.io \
		crd/volumegroupsnapshots.groupsnapshot.storage.k8s.io
	kubectl apply --server-side --force-conflicts -f "$WORK_DIR/manifests/snapshot-controller.yaml"
	kubectl -n kube-system wait --for=condition=Available --timeout="$WAIT_TIMEOUT" \
		deployment/snapshot-controller
}

install_local_hostpath() {
	log "deploying the testbed's hostpath driver with the pinned sidecars (local images)"
	kubectl apply --server-side --force-conflicts -f "$WORK_DIR/manifests/csi-hostpath.yaml"
	wait_hostpath_ready
}

prepare_local() {
	start_local_dockerd
	build_local_binaries
	resolve_module_paths
	build_local_images
	"$PYTHON" -m snapconf_testbed.kind manifests "$WORK_DIR/manifests" >/dev/null
}

main() {
	if [[ ${1:-} == --local-images ]]; then
		LOCAL_IMAGES=1
		shift
	fi
	[[ $LOCAL_IMAGES == 1 ]] || LOCAL_IMAGES=0
	if ((LOCAL_IMAGES)); then
		CLUSTER_CONFIG=$SCRIPT_DIR/cluster-local.yaml
	fi
	case ${1:-} in
	-h | --help)
		usage
		return 0
		;;
	--print-versions)
		resolve_versions
		print_versions
		return 0
		;;
	*) ;;
	esac

	resolve_versions
	require_tools
	print_versions | sed 's/^/  /' >&2

	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	WORK_DIR=$(mktemp -d)
	if ((LOCAL_IMAGES)); then
		prepare_local
		start_cluster
		load_local_images
		install_local_snapshotter
		install_local_hostpath
	else
		start_cluster
		install_snapshotter
		install_hostpath
	fi
	install_classes

	cd "$REPO_ROOT"
	log "running snapconf"
	local status=0
	snapconf run --kubeconfig "$KUBECONFIG_PATH" --profile profiles/hostpath.yaml \
		--report-dir "$REPORT_DIR" "$@" || status=$?
	log "snapconf exited with $status"
	return "$status"
}

main "$@"
