#!/usr/bin/env bash
# sanity.sh - build csi-sanity and hostpathplugin, then run csi-sanity against
# the plugin once with mount volumes and once with block volumes.
#
# Usage: sanity.sh OUTDIR
#
# Why: this driver replaces upstream's hostpathplugin in the testbed, so it
# must keep passing the CSI spec checks upstream passes. csi-sanity is built
# in a scratch module under /tmp (never in the repo). Everything the run
# creates (sockets, state, mounts, loop devices) lives under one /tmp scratch
# directory and is cleaned up at exit; the plugin is stopped by its PID.
#
# OUTDIR receives: plugin-<access>.log (one line per CSI call),
# sanity-<access>.log, junit-<access>.xml and summary.txt.
# Needs root (bind mounts, loop devices) and the Go module proxy.
# Environment: CSI_TEST_VERSION (default v5.6.0).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
if [[ $EUID -ne 0 ]]; then
    echo "$0: must run as root (bind mounts, loop devices)" >&2
    exit 2
fi

out=$(realpath -m "$1")
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
csi_test_version=${CSI_TEST_VERSION:-v5.6.0}
scratch=$(mktemp -d /tmp/hostpath-sanity.XXXXXX)
plugin_pid=""
mkdir -p "$out"

log() { echo "sanity.sh: $*" >&2; }

# stop_plugin stops the plugin this script started, by PID only.
stop_plugin() {
    if [[ -n $plugin_pid ]] && kill -0 "$plugin_pid" 2>/dev/null; then
        kill -TERM "$plugin_pid"
        for _ in $(seq 50); do
            kill -0 "$plugin_pid" 2>/dev/null || break
            sleep 0.2
        done
        if kill -0 "$plugin_pid" 2>/dev/null; then
            log "plugin $plugin_pid ignored SIGTERM; killing it"
            kill -KILL "$plugin_pid"
        fi
        wait "$plugin_pid" 2>/dev/null || true
    fi
    plugin_pid=""
}

# clean_scratch_dir unmounts everything under $1 (deepest first) and detaches
# loop devices whose backing file is under $1.
clean_scratch_dir() {
    local dir=$1 mnt dev file
    while read -r mnt; do
        log "unmounting leftover $mnt"
        umount "$mnt" || umount -l "$mnt" || true
    done < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
    while read -r dev file; do
        [[ -n $dev ]] || continue
        if [[ $file == "$dir"/* ]]; then
            log "detaching leftover loop device $dev ($file)"
            losetup --detach "$dev" || true
        fi
    done < <(losetup --list --noheadings --raw --output NAME,BACK-FILE)
}

cleanup() {
    stop_plugin
    clean_scratch_dir "$scratch"
    rm -rf "$scratch"
}
trap cleanup EXIT

export GOSUMDB=off
mkdir -p "$scratch/bin"

log "building csi-sanity $csi_test_version in $scratch/csi-sanity-mod"
mkdir -p "$scratch/csi-sanity-mod"
(
    cd "$scratch/csi-sanity-mod"
    printf 'module scratch/csisanity\n\ngo 1.26.0\n' >go.mod
    GOFLAGS="-mod=mod -buildvcs=false" go get "github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@$csi_test_version"
    GOFLAGS="-mod=mod -buildvcs=false" nice -n 10 go build -o "$scratch/bin/csi-sanity" github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity
)

log "building hostpathplugin"
(cd "$here" && GOFLAGS="-mod=readonly -buildvcs=false" nice -n 10 go build -o "$scratch/bin/hostpathplugin" .)

: >"$out/summary.txt"
overall=0
for access in mount block; do
    dir=$scratch/$access
    sock=$dir/csi.sock
    mkdir -p "$dir"

    "$scratch/bin/hostpathplugin" --endpoint "unix://$sock" --nodeid sanity-node \
        --statedir "$dir/state" 2>"$out/plugin-$access.log" &
    plugin_pid=$!
    for _ in $(seq 50); do
        [[ -S $sock ]] && break
        sleep 0.2
    done
    if [[ ! -S $sock ]]; then
        log "plugin did not create $sock; see $out/plugin-$access.log"
        exit 1
    fi

    log "running csi-sanity with $access volumes"
    rc=0
    "$scratch/bin/csi-sanity" \
        --csi.endpoint="$sock" \
        --csi.mountdir="$dir/target" \
        --csi.stagingdir="$dir/staging" \
        --csi.testvolumeaccesstype="$access" \
        --ginkgo.no-color \
        --ginkgo.junit-report="$out/junit-$access.xml" \
        >"$out/sanity-$access.log" 2>&1 || rc=$?

    stop_plugin
    clean_scratch_dir "$dir"
    result=$(grep -E '^(Ran [0-9]+ of [0-9]+ Specs|(SUCCESS|FAIL)! --)' "$out/sanity-$access.log" | tr '\n' ' ' || true)
    echo "$access: exit $rc: ${result:-no ginkgo summary, see sanity-$access.log}" | tee -a "$out/summary.txt" >&2
    [[ $rc -eq 0 ]] || overall=1
done

exit $overall
