# shellcheck shell=bash disable=SC2034
# Common settings and helpers for the local cluster (sourced by cluster.sh / smoke.sh).

CLUSTER_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)      # integration/cluster
REPO_ROOT=$(cd "$CLUSTER_SRC/../.." && pwd)

CLUSTER_DIR=${CLUSTER_DIR:-$REPO_ROOT/.cluster}
mkdir -p "$CLUSTER_DIR"
CLUSTER_DIR=$(cd "$CLUSTER_DIR" && pwd)
export CLUSTER_DIR

K8S_VERSION=v1.37.2
KANIKO_VERSION=v1.25.1
PAUSE_IMAGE=registry.k8s.io/pause:3.10

REGISTRY_HOST=localhost:5000            # name used in image references by host processes and pushes
REGISTRY_ADDR=127.0.0.1:5000            # where the registry listens (plain HTTP)
# The same registry storage served over TLS (certificate of the cluster CA) under one name for every
# consumer in the cluster: kubelets, Kaniko, the peer. The host resolves it to 127.0.0.1 (/etc/hosts),
# pods to the pod gateway (CoreDNS), where registry-bridge forwards to 127.0.0.1.
REGISTRY_NAME=registry.fabric-peer-k8s.test
REGISTRY_TLS_PORT=5050
REGISTRY_TLS_HOST=$REGISTRY_NAME:$REGISTRY_TLS_PORT
IMAGE_PREFIX=$REGISTRY_HOST/fabric-peer-k8s
KANIKO_IMAGE=$IMAGE_PREFIX/kaniko-executor:$KANIKO_VERSION
CCENV_IMAGE=$IMAGE_PREFIX/ccenv:3.1
BASEOS_IMAGE=$IMAGE_PREFIX/baseos:3.1
NODEENV_IMAGE=$IMAGE_PREFIX/nodeenv:2.5
BUSYBOX_IMAGE=$IMAGE_PREFIX/busybox:1
COREDNS_VERSION=1.15.0
COREDNS_IMAGE=$IMAGE_PREFIX/coredns:$COREDNS_VERSION
KUBECTL_IMAGE=$IMAGE_PREFIX/kubectl:$K8S_VERSION

# Cluster networking: Services (kube-proxy, iptables mode) and DNS (CoreDNS).
SERVICE_CIDR=10.96.0.0/16          # ClusterIPs; routed to the pod bridge only (see README: Networking)
CLUSTER_DNS_IP=10.96.0.10          # the kube-dns Service
CLUSTER_DOMAIN=cluster.local
CLUSTER_CIDR=10.244.0.0/16         # pod addresses of both nodes (kube-proxy's clusterCIDR)
POD_BRIDGE=lc0                     # the first node's pod bridge
POD_GATEWAY=10.244.0.1             # its address: the pods' gateway and the API server's advertised address
DNS_UPSTREAM=$POD_GATEWAY:53       # dns-relay: CoreDNS's upstream, relaying to the host's resolver
PROXY_HEALTHZ_PORT=10256           # kube-proxy's healthz, on each node's loopback

BIN=$CLUSTER_DIR/bin          # k8s multicall binary, kubectl symlink, kaniko executor
CONF=$CLUSTER_DIR/config      # rendered configs, kubeconfigs
PKI=$CLUSTER_DIR/pki
LOGS=$CLUSTER_DIR/logs
RUN=$CLUSTER_DIR/run          # pid files, sockets, saved host state
DATA=$CLUSTER_DIR/data        # etcd, registry storage, kubelet root, containerd root
IMAGES=$CLUSTER_DIR/images    # image build work dirs, image tarballs, stamps
CACHE=$CLUSTER_DIR/cache      # debootstrap tarballs etc.
KUBECONFIG_FILE=$CLUSTER_DIR/kubeconfig
CONTAINERD_SOCK=$RUN/containerd.sock

NODE_NAME=$(hostname | tr '[:upper:]' '[:lower:]')

# Go toolchain: the one on PATH, else the standard install location.
GO=$(command -v go || echo /usr/local/go/bin/go)

T0=$(date +%s.%N)
log() { printf '[%7.1fs] %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# sha256 of the given strings/files' contents, as one hex string.
hash_files() { cat "$@" | sha256sum | cut -d' ' -f1; }
hash_str() { printf '%s' "$*" | sha256sum | cut -d' ' -f1; }

# render TEMPLATE OUT: substitute only the variables we own (the templates contain other "$" text):
# CLUSTER_DIR, REGISTRY_HOST, the cluster network's settings above and the exported variables
# RENDER_VARS names ("${A} ${B}").
render() {
	mkdir -p "$(dirname "$2")"
	# shellcheck disable=SC2016 # envsubst's list of variable names
	CLUSTER_DIR=$CLUSTER_DIR REGISTRY_HOST=${REGISTRY_HOST_RENDER:-$REGISTRY_HOST} \
		SERVICE_CIDR=$SERVICE_CIDR CLUSTER_DNS_IP=$CLUSTER_DNS_IP CLUSTER_DOMAIN=$CLUSTER_DOMAIN \
		CLUSTER_CIDR=$CLUSTER_CIDR COREDNS_IMAGE=$COREDNS_IMAGE DNS_UPSTREAM=$DNS_UPSTREAM \
		POD_GATEWAY=$POD_GATEWAY REGISTRY_NAME=$REGISTRY_NAME REGISTRY_TLS_PORT=$REGISTRY_TLS_PORT REGISTRY_TLS_HOST=$REGISTRY_TLS_HOST \
		envsubst '${CLUSTER_DIR} ${REGISTRY_HOST} ${SERVICE_CIDR} ${CLUSTER_DNS_IP} ${CLUSTER_DOMAIN} ${CLUSTER_CIDR} ${COREDNS_IMAGE} ${DNS_UPSTREAM} ${POD_GATEWAY} ${REGISTRY_NAME} ${REGISTRY_TLS_PORT} ${REGISTRY_TLS_HOST} '"${RENDER_VARS:-}" <"$1" >"$2.tmp"
	mv "$2.tmp" "$2"
}

# pid file helpers; every process we start is a session leader, $RUN/NAME.pid holds "PID STARTTIME"
# (start time from /proc/PID/stat) so a recycled pid is never mistaken for ours.
proc_start() { awk '{print $22}' "/proc/$1/stat" 2>/dev/null; }
# running PID: exists and is not a zombie (our daemons are re-parented to init, which reaps lazily)
running() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) && [ -n "$st" ] && [ "$st" != Z ]; }
pid_of() { [ -f "$RUN/$1.pid" ] && awk '{print $1}' "$RUN/$1.pid"; }
alive() {
	local p st
	[ -f "$RUN/$1.pid" ] || return 1
	read -r p st <"$RUN/$1.pid" || return 1
	[ -n "$p" ] && running "$p" && [ "$(proc_start "$p")" = "$st" ]
}

# start NAME CMD...: detach into its own session, log to $LOGS/NAME.log
start_proc() {
	local n=$1 p; shift
	mkdir -p "$LOGS" "$RUN"
	setsid "$@" >>"$LOGS/$n.log" 2>&1 </dev/null &
	p=$!
	echo "$p $(proc_start "$p")" >"$RUN/$n.pid"
	log "started $n (pid $p)"
}

# supervise NAME CMD...: start_proc, and start CMD again a second after it
# exits, as systemd (Restart=always) or the kubelet (static pods) do for the
# control plane of a real cluster: kube-scheduler, for one, exits by design
# when its cache goes wrong around an API server restart.
supervise() {
	local n=$1; shift
	start_proc "$n" bash -c 'while :; do "$@"; echo "supervise: exited with status $?, starting again in 1s"; sleep 1; done' "$n" "$@"
}

# group_running PGID: a process of that group (each session we start is one) still runs
group_running() { awk -v g="$1" '$5 == g && $3 != "Z" { f = 1 } END { exit !f }' /proc/[0-9]*/stat 2>/dev/null; }

# stop NAME [TIMEOUT_S]: SIGTERM to its process group, wait, then SIGKILL; by pid only.
stop_proc() {
	local n=$1 to=${2:-15} p i
	if ! alive "$n"; then rm -f "$RUN/$n.pid"; return 0; fi
	p=$(pid_of "$n")
	kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true
	for ((i = 0; i < to * 10; i++)); do running "$p" || group_running "$p" || break; sleep 0.1; done
	if running "$p" || group_running "$p"; then
		log "$n did not stop in ${to}s, SIGKILL"
		kill -9 -- "-$p" 2>/dev/null || kill -9 "$p" 2>/dev/null || true
	fi
	rm -f "$RUN/$n.pid"
	log "stopped $n ($p)"
}

# waitfor DESC TIMEOUT_S PROCNAME|- CMD...: poll CMD until it succeeds; fail fast if PROCNAME died.
waitfor() {
	local d=$1 to=$2 proc=$3; shift 3
	local end=$(($(date +%s) + to))
	until "$@" >/dev/null 2>&1; do
		if [ "$proc" != - ] && ! alive "$proc"; then
			tail -n 20 "$LOGS/$proc.log" >&2 || true
			die "$proc exited while waiting for $d (log: $LOGS/$proc.log)"
		fi
		[ "$(date +%s)" -lt "$end" ] || die "timeout (${to}s) waiting for $d"
		sleep 0.3
	done
	log "$d ok"
}

# start_kubelet_proc NAME HEALTHZ-CMD... -- KUBELET-CMD...: start_proc NAME KUBELET-CMD and wait for
# HEALTHZ-CMD. A kubelet exits at once when containerd answers but its CRI server is still initializing
# (after a restart it first restores every container it had): it is started again then, up to 30 times.
start_kubelet_proc() {
	local n=$1; shift
	local check=()
	while [ "$1" != -- ]; do check+=("$1"); shift; done
	shift
	local try from end
	for try in $(seq 1 30); do
		from=$(wc -c <"$LOGS/$n.log" 2>/dev/null || echo 0)
		start_proc "$n" "$@"
		end=$(($(date +%s) + 120))
		until "${check[@]}" >/dev/null 2>&1; do
			[ "$(date +%s)" -lt "$end" ] || die "timeout (120s) waiting for $n healthz"
			if ! alive "$n"; then
				if tail -c +"$((from + 1))" "$LOGS/$n.log" | grep -q "server is not initialized yet"; then
					log "$n: containerd's CRI server is still initializing; starting $n again ($try)"
					sleep 1
					continue 2
				fi
				tail -n 20 "$LOGS/$n.log" >&2 || true
				die "$n exited while waiting for its healthz (log: $LOGS/$n.log)"
			fi
			sleep 0.3
		done
		log "$n healthz ok"
		return 0
	done
	die "$n: containerd's CRI server did not initialize (log: $LOGS/$n.log)"
}

kubectl_() { "$BIN/k8s" kubectl --kubeconfig "$KUBECONFIG_FILE" "$@"; }
ctr_() { ctr --address "$CONTAINERD_SOCK" -n k8s.io "$@"; }

# registry_has REPO TAG: manifest present in the local registry?
registry_has() {
	curl -sf -o /dev/null -I \
		-H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$REGISTRY_ADDR/v2/$1/manifests/$2"
}
registry_up() { curl -sf -o /dev/null "http://$REGISTRY_ADDR/v2/"; }
