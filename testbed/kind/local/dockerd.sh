#!/usr/bin/env bash
# A private Docker engine for the local kind path (testbed/kind/run.sh --local-images).
# See --help.
set -euo pipefail

usage() {
	cat <<'EOF_USAGE'
Usage: testbed/kind/local/dockerd.sh start|stop|status|env

start   start dockerd in the background (unless it already answers) and wait for it
stop    remove the kind network, stop dockerd by its PID, unmount what it left mounted
status  exit 0 when it answers, 1 otherwise
env     print `export DOCKER_HOST=...` for eval

The engine is Debian's dockerd (apt-get install docker.io), started by hand (no systemd
needed) with everything of its own, so it touches neither the host's default Docker nor
the testbed:
  data      $SNAPCONF_KIND_DIR/docker   (default /var/lib/snapconf-kind)
  exec root /run/snapconf-kind-docker, socket /run/snapconf-kind-docker.sock,
  pid file  /run/snapconf-kind-docker.pid, log $SNAPCONF_KIND_DIR/dockerd.log
It runs with --iptables=false --ip-forward=false --ip-masq=false --bridge=none: no host
iptables rule and no sysctl change; kind's user-defined network is still a Linux
bridge (removed again by `stop`), published ports go through docker-proxy on 127.0.0.1.

Its default runtime is the wrapper workshop/snapconf_testbed/kind/runtime.py (run by the
system python3), which drops from each container's spec the capabilities missing from
this machine's bounding set before it execs runc: here CAP_SYS_RESOURCE, without which
`docker run --privileged` (kind's nodes) fails with "unable to apply caps".

dockerd 20.10 also writes /etc/docker/key.json (its trust key; kept) and makes
/run/docker/plugins (removed by `stop` when empty).
kind bind-mounts /lib/modules into its nodes; a machine without it gets an empty
/lib/modules from dockerd, which `stop` removes again (it records that it was absent).
EOF_USAGE
}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../../.." && pwd)
STATE=${SNAPCONF_KIND_DIR:-/var/lib/snapconf-kind}
EXEC_ROOT=/run/snapconf-kind-docker
SOCKET=/run/snapconf-kind-docker.sock
PIDFILE=/run/snapconf-kind-docker.pid
HOST=unix://$SOCKET
RUNTIME=$REPO_ROOT/workshop/snapconf_testbed/kind/runtime.py
WRAPPER=$STATE/bin/snapconf-runc
NO_MODULES_MARK=$STATE/lib-modules-was-absent

log() {
	printf '[dockerd %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

answers() {
	DOCKER_HOST=$HOST docker version --format '{{.Server.Version}}' >/dev/null 2>&1
}

start() {
	if answers; then
		log "already running (pid $(cat "$PIDFILE" 2>/dev/null || echo '?'))"
		return
	fi
	command -v dockerd >/dev/null || { log "error: no dockerd (apt-get install docker.io)"; exit 1; }
	local runc
	runc=$(command -v runc) || { log "error: no runc"; exit 1; }
	mkdir -p "$STATE/bin" "$STATE/docker"
	# The runtime wrapper dockerd runs: only the calls that read a spec (create, run,
	# exec) go through the Python rewrite; the rest exec runc directly (a Python start
	# per runc call cost ~0.2 s per container).
	cat >"$WRAPPER" <<EOF_WRAPPER
#!/bin/sh
for arg in "\$@"; do
	case \$arg in
	create | run | exec) exec /usr/bin/python3 -I "$RUNTIME" --runc "$runc" "\$@" ;;
	esac
done
exec "$runc" "\$@"
EOF_WRAPPER
	chmod 755 "$WRAPPER"
	echo '{}' >"$STATE/daemon.json"
	if [[ ! -e /lib/modules ]]; then
		touch "$NO_MODULES_MARK"
	fi
	log "starting dockerd (data $STATE/docker, socket $SOCKET)"
	# setsid: its own session, so a Ctrl-C of the caller does not hit it
	setsid dockerd \
		--config-file "$STATE/daemon.json" \
		--data-root "$STATE/docker" --exec-root "$EXEC_ROOT" \
		-H "$HOST" --pidfile "$PIDFILE" \
		--iptables=false --ip6tables=false --ip-forward=false --ip-masq=false --bridge=none \
		--add-runtime "snapconf-runc=$WRAPPER" --default-runtime snapconf-runc \
		--exec-opt native.cgroupdriver=cgroupfs --storage-driver overlay2 \
		--log-level warn \
		</dev/null >>"$STATE/dockerd.log" 2>&1 &
	local i
	for ((i = 0; i < 60; i++)); do
		if answers; then
			log "dockerd answers (pid $(cat "$PIDFILE"))"
			return
		fi
		sleep 1
	done
	log "error: dockerd did not answer within 60s; tail of $STATE/dockerd.log:"
	tail -n 20 "$STATE/dockerd.log" >&2 || true
	exit 1
}

stop() {
	if answers; then
		DOCKER_HOST=$HOST docker network rm kind >/dev/null 2>&1 || true
	fi
	if [[ -r $PIDFILE ]]; then
		local pid i
		pid=$(cat "$PIDFILE")
		if kill -0 "$pid" 2>/dev/null; then
			log "stopping dockerd (pid $pid)"
			kill -TERM "$pid"
			for ((i = 0; i < 60; i++)); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 1
			done
			if kill -0 "$pid" 2>/dev/null; then
				log "warning: dockerd $pid still runs after 60s"
				exit 1
			fi
		fi
	fi
	# anything left mounted under its folders, deepest first (usually nothing: no match
	# must not fail the pipe under pipefail)
	local mnt
	awk '{print $5}' /proc/self/mountinfo | { grep -E "^($STATE/docker|$EXEC_ROOT)(/|$)" || true; } |
		sort -r | while read -r mnt; do
		umount "$mnt" 2>/dev/null || umount -l "$mnt" || true
	done
	rm -rf "$EXEC_ROOT"
	rm -f "$PIDFILE" "$SOCKET"
	# dockerd makes /run/docker/plugins whatever its exec root; only empty ones go
	rmdir /run/docker/plugins /run/docker 2>/dev/null || true
	if [[ -e $NO_MODULES_MARK ]]; then
		rmdir /lib/modules 2>/dev/null || true
		rm -f "$NO_MODULES_MARK"
	fi
	log "stopped"
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) answers ;;
env) printf 'export DOCKER_HOST=%s\n' "$HOST" ;;
-h | --help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
