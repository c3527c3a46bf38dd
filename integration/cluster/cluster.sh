#!/usr/bin/env bash
# Local Kubernetes cluster (one node; a second with node-add) for fabric-peer-k8s development and tests.
#
#   cluster.sh deps | build | build-helm | images | up | down | status | env | purge
#   cluster.sh stop | start | restart etcd | kube-apiserver | registry | runtime | node2 | node2-kubelet
#   cluster.sh node-add | node-del      second node (NODES=2 cluster.sh up adds it too)
#   cluster.sh exec CMD [ARG...]        CMD on this host with the cluster's DNS (Service names resolve)
#
# Everything runs on 127.0.0.1; all state lives in $CLUSTER_DIR (default <repo>/.cluster).
# Components: docker-registry (127.0.0.1:5000; over TLS as registry.fabric-peer-k8s.test:5050), etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubelet, kube-proxy (one multicall binary built from k8s-tools/), containerd + runc +
# CNI, and in the cluster CoreDNS (built from coredns-tools/) behind the kube-dns Service.
# See README.md in this directory.
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=lib/pki.sh
. "$CLUSTER_SRC/lib/pki.sh"
# shellcheck source=lib/images.sh
. "$CLUSTER_SRC/lib/images.sh"
# shellcheck source=lib/node2.sh
. "$CLUSTER_SRC/lib/node2.sh"
# shellcheck source=lib/addons.sh
. "$CLUSTER_SRC/lib/addons.sh"

NODES=${NODES:-1}   # 2: up adds the second node (lib/node2.sh)
case $NODES in 1 | 2) ;; *) echo "NODES=$NODES: 1 or 2" >&2; exit 2 ;; esac

PACKAGES=(containerd runc etcd-server etcd-client containernetworking-plugins busybox-static skopeo umoci
	iptables iproute2 conntrack socat openssl docker-registry debootstrap curl bc gettext-base gcc libc6-dev
	binutils ca-certificates)

# processes in start order (stopped in reverse)
COMPONENTS=(registry registry-tls etcd kube-apiserver kube-controller-manager kube-scheduler containerd apiserver-bridge registry-bridge dns-relay
	kubelet kube-proxy)

HOSTS_MARK="# fabric-peer-k8s local cluster"
HOST_STATE=$CLUSTER_DIR/host-state     # host settings saved before the kubelet changes them
# sysctls the kubelet (protectKernelDefaults=false), the bridge CNI plugin and start_proxy change
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops kernel.keys.root_maxkeys
	kernel.keys.root_maxbytes net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables)
# host paths the kubelet/containerd/CNI create outside CLUSTER_DIR (removed on down if we created them)
HOST_PATHS=(/var/lib/kubelet /var/log/containers /var/log/pods /usr/libexec/kubernetes /var/lib/cni /opt/containerd
	/run/containerd/runc/k8s.io)

timing() { echo "$(date -u +%FT%TZ) $1 ${2}s" >>"$CLUSTER_DIR/timings.log"; log "TIMING $1: ${2}s"; }

# ---------------------------------------------------------------- deps

cmd_deps() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	# npm compiles TypeScript chaincode on the host (e2e); any Node.js with npm will do
	command -v npm >/dev/null || missing+=(nodejs npm)
	[ ${#missing[@]} -eq 0 ] && { log "deps: all packages installed"; return 0; }
	log "deps: installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ---------------------------------------------------------------- build

# go_build NAME MODULE_DIR OUT PKG LDFLAGS [TAGS]: cached on a hash of the module files + flags + go version
go_build() {
	local name=$1 dir=$2 out=$3 pkg=$4 ldf=$5 tags=${6:-} key s
	key=$(hash_str "$("$GO" version)" "$ldf" "$tags" "$(hash_files "$dir"/go.mod "$dir"/go.sum "$dir"/*.go)")
	if [ -x "$out" ] && [ "$(cat "$out.stamp" 2>/dev/null)" = "$key" ]; then
		log "build $name: up to date ($out)"; return 0
	fi
	log "build $name (this takes minutes on a cold Go cache)"
	mkdir -p "$(dirname "$out")"
	s=$(date +%s)
	(cd "$dir" && CGO_ENABLED=0 GOWORK=off GOFLAGS=-buildvcs=false nice -n 5 "$GO" build -trimpath ${tags:+-tags "$tags"} \
		-ldflags "$ldf" -o "$out.tmp" "$pkg") || die "build $name failed"
	mv "$out.tmp" "$out"
	echo "$key" >"$out.stamp"
	timing "build-$name" $(($(date +%s) - s))
}

# build-helm: the Helm CLI (images/peer/chart's unit tests and the in-cluster suite use it)
cmd_build_helm() {
	local v # the version helm-tools/go.mod pins, which `helm version` reports
	v=$(awk '$1 == "require" && $2 == "helm.sh/helm/v3" {print $3}' "$CLUSTER_SRC/helm-tools/go.mod")
	go_build helm "$CLUSTER_SRC/helm-tools" "$BIN/helm" helm.sh/helm/v3/cmd/helm \
		"-s -w -X helm.sh/helm/v3/internal/version.version=$v"
}

cmd_build() {
	local v=k8s.io/component-base/version minor
	minor=$(echo "$K8S_VERSION" | cut -d. -f2)
	go_build k8s "$CLUSTER_SRC/k8s-tools" "$BIN/k8s" . \
		"-s -w -X $v.gitVersion=$K8S_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean -X $v.buildDate=2025-01-01T00:00:00Z" \
		providerless
	go_build kaniko "$CLUSTER_SRC/kaniko-tools" "$BIN/executor" github.com/chainguard-dev/kaniko/cmd/executor \
		"-s -w -X github.com/chainguard-dev/kaniko/pkg/version.version=$KANIKO_VERSION"
	go_build coredns "$CLUSTER_SRC/coredns-tools" "$BIN/coredns" . "-s -w"
	cmd_build_helm
	# kubectl wrapper defaulting to this cluster's admin kubeconfig
	cat >"$BIN/kubectl.tmp" <<-EOF
		#!/bin/sh
		export KUBECONFIG="\${KUBECONFIG:-$KUBECONFIG_FILE}"
		exec "$BIN/k8s" kubectl "\$@"
	EOF
	chmod 755 "$BIN/kubectl.tmp"; mv "$BIN/kubectl.tmp" "$BIN/kubectl"
}

# ---------------------------------------------------------------- images

cmd_images() {
	[ -x "$BIN/executor" ] || cmd_build
	if registry_up; then
		build_images
	else # images need the registry: run it just for the build
		render_configs
		start_registry
		build_images
		stop_proc registry
	fi
}

# ---------------------------------------------------------------- up

render_configs() {
	mkdir -p "$CONF/cni/net.d" "$DATA/etcd" "$DATA/kubelet" "$DATA/pod-logs" "$DATA/registry" "$LOGS" "$RUN"
	render "$CLUSTER_SRC/config/containerd.toml.in" "$CONF/containerd.toml"
	render "$CLUSTER_SRC/config/kubelet.yaml.in" "$CONF/kubelet.yaml"
	render "$CLUSTER_SRC/config/registry.yml.in" "$CONF/registry.yml"
	render "$CLUSTER_SRC/config/registry-tls.yml.in" "$CONF/registry-tls.yml"
	# the resolver configuration of `cluster.sh exec`: the kube-dns Service with a pod's search path
	printf 'nameserver %s\nsearch svc.%s %s\noptions ndots:5\n' "$CLUSTER_DNS_IP" "$CLUSTER_DOMAIN" "$CLUSTER_DOMAIN" \
		>"$CONF/host-resolv.conf"
	COREDNS_CONFIG_HASH=$(hash_str "$(cat "$CLUSTER_SRC/config/coredns.yaml.in")" "$COREDNS_IMAGE" "$DNS_UPSTREAM" \
		"$(cat "$BIN/coredns.stamp" 2>/dev/null)") RENDER_VARS='${COREDNS_CONFIG_HASH}' \
		render "$CLUSTER_SRC/config/coredns.yaml.in" "$CONF/coredns.yaml"
	render_proxy_config "$CONF/kube-proxy.yaml" "$CONF/kube-proxy.kubeconfig" "$NODE_NAME" "$POD_GATEWAY/32"
	local h
	for h in localhost:5000 127.0.0.1:5000; do
		REGISTRY_HOST_RENDER=$h render "$CLUSTER_SRC/config/hosts.toml.in" "$CONF/certs.d/$h/hosts.toml"
	done
	render "$CLUSTER_SRC/config/hosts-tls.toml.in" "$CONF/certs.d/$REGISTRY_TLS_HOST/hosts.toml"
	# loopback (hostNetwork pods) + bridge 10.244.0.0/24 without masquerade or default route (pods stay on this machine)
	cp "$CLUSTER_SRC/config/cni/99-loopback.conflist" "$CONF/cni/net.d/"
	render "$CLUSTER_SRC/config/cni/10-bridge.conflist.in" "$CONF/cni/net.d/10-bridge.conflist"
}

# the node's hostname must resolve to 127.0.0.1 (the apiserver reaches the kubelet by Hostname), and
# so must the registry's name (the kubelets pull by it)
ensure_hosts() {
	local n
	for n in "$NODE_NAME" "$REGISTRY_NAME"; do
		if getent ahostsv4 "$n" | awk '{print $1; exit}' | grep -qx 127.0.0.1; then continue; fi
		log "adding '127.0.0.1 $n' to /etc/hosts"
		# put it first (first match wins); rewrite in place: /etc/hosts may be a bind mount
		local tmp; tmp=$(mktemp)
		{ echo "127.0.0.1 $n $HOSTS_MARK"; cat /etc/hosts; } >"$tmp"
		cat "$tmp" >/etc/hosts; rm -f "$tmp"
	done
}

save_host_state() {
	[ -f "$HOST_STATE" ] && return 0
	local s p
	{
		for s in "${SYSCTLS[@]}"; do echo "sysctl $s $(sysctl -n "$s" 2>/dev/null || echo -)"; done
		for p in "${HOST_PATHS[@]}"; do [ -e "$p" ] && echo "existed $p"; done
	} >"$HOST_STATE.tmp"
	mv "$HOST_STATE.tmp" "$HOST_STATE"
}

start_registry() {
	alive registry && return 0
	registry_up && die "something else listens on $REGISTRY_ADDR"
	start_proc registry /usr/bin/docker-registry serve "$CONF/registry.yml"
	waitfor registry 30 registry registry_up
}

node_ready() {
	[ "$(kubectl_ get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# node_ready_since EPOCH: Ready with a heartbeat from this kubelet run (etcd keeps the old node status)
node_ready_since() {
	local st hb
	st=$(kubectl_ get node "$NODE_NAME" -o jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}' 2>/dev/null) || return 1
	[ "${st%% *}" = True ] || return 1
	hb=$(date -d "${st#* }" +%s) || return 1
	[ "$hb" -ge "$1" ]
}

healthy() {
	local c
	for c in "${COMPONENTS[@]}"; do alive "$c" || return 1; done
	curl -sf -m 3 --cacert "$PKI/ca.crt" https://127.0.0.1:6443/readyz >/dev/null && node_ready
}

# ---------------------------------------------------------------- components
# Each start_* starts one component and waits until it serves; cmd_up calls
# them in order, and `restart` (the fault suite) calls them one at a time.

start_etcd() {
	start_proc etcd /usr/bin/etcd --name local --data-dir "$DATA/etcd" \
		--listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster local=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381
	waitfor etcd 60 etcd curl -sf http://127.0.0.1:2379/health
}

start_apiserver() {
	start_proc kube-apiserver "$BIN/k8s" kube-apiserver \
		--etcd-servers=http://127.0.0.1:2379 \
		--bind-address=127.0.0.1 --secure-port=6443 --advertise-address="$POD_GATEWAY" \
		--tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
		--client-ca-file="$PKI/ca.crt" \
		--service-account-issuer=https://kubernetes.default.svc.cluster.local \
		--service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
		--service-cluster-ip-range="$SERVICE_CIDR" \
		--authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
		--allow-privileged=true \
		--kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
		--kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=Hostname \
		--profiling=false --v=1
	waitfor kube-apiserver 180 kube-apiserver curl -sf --cacert "$PKI/ca.crt" https://127.0.0.1:6443/readyz
}

start_controllers() {
	supervise kube-controller-manager "$BIN/k8s" kube-controller-manager \
		--kubeconfig="$CONF/controller-manager.kubeconfig" \
		--authentication-kubeconfig="$CONF/controller-manager.kubeconfig" \
		--authorization-kubeconfig="$CONF/controller-manager.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port=10257 --leader-elect=false \
		--service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
		--use-service-account-credentials=true \
		--cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
		--allocate-node-cidrs=false --v=1
	supervise kube-scheduler "$BIN/k8s" kube-scheduler \
		--kubeconfig="$CONF/scheduler.kubeconfig" \
		--authentication-kubeconfig="$CONF/scheduler.kubeconfig" --authorization-kubeconfig="$CONF/scheduler.kubeconfig" \
		--bind-address=127.0.0.1 --secure-port=10259 --leader-elect=false --v=1
}

start_containerd() {
	# The pod network's bridge and its gateway address exist from the start
	# (the bridge plugin would only create them with the first bridge pod), so
	# host-side forwarders can listen on 10.244.0.1 before any pod runs.
	ip link show "$POD_BRIDGE" >/dev/null 2>&1 || ip link add "$POD_BRIDGE" type bridge
	ip addr replace "$POD_GATEWAY/24" dev "$POD_BRIDGE"
	ip link set "$POD_BRIDGE" up
	# Service addresses are routed to the pod bridge, not to the default gateway: kube-proxy's rules
	# translate those of Services; any other is dropped here (nobody on the bridge answers for it).
	ip route replace "$SERVICE_CIDR" dev "$POD_BRIDGE" src "$POD_GATEWAY"

	start_proc containerd /usr/bin/containerd --config "$CONF/containerd.toml"
	waitfor containerd 60 containerd ctr --address "$CONTAINERD_SOCK" version
	ctr_ images import "$IMAGES/pause.tar" >/dev/null
	log "imported $PAUSE_IMAGE"
}

# start_registry_tls: the registry's storage over TLS under its name (the kubelets pull from it; pods
# reach it through registry-bridge)
registry_tls_up() {
	curl -sf -o /dev/null --cacert "$PKI/ca.crt" --resolve "$REGISTRY_TLS_HOST:${1:-127.0.0.1}" "https://$REGISTRY_TLS_HOST/v2/"
}
start_registry_tls() {
	alive registry-tls && return 0
	start_proc registry-tls /usr/bin/docker-registry serve "$CONF/registry-tls.yml"
	waitfor "registry $REGISTRY_TLS_HOST (TLS)" 30 registry-tls registry_tls_up
}

# start_gateway_bridges: the API server and the TLS registry listen on loopback only; pods reach them
# on the pod gateway through these forwarders: the API server at its advertised address (the endpoint
# of the kubernetes Service), the registry at the address CoreDNS gives its name (the peer's image
# look-ups, Kaniko's pushes and its pulls of base images).
start_gateway_bridges() {
	start_proc apiserver-bridge socat "TCP-LISTEN:6443,bind=$POD_GATEWAY,fork,reuseaddr" TCP:127.0.0.1:6443
	waitfor "API server on $POD_GATEWAY:6443" 30 apiserver-bridge curl -sfk "https://$POD_GATEWAY:6443/readyz"
	start_proc registry-bridge socat "TCP-LISTEN:$REGISTRY_TLS_PORT,bind=$POD_GATEWAY,fork,reuseaddr" "TCP:127.0.0.1:$REGISTRY_TLS_PORT"
	waitfor "registry on $POD_GATEWAY:$REGISTRY_TLS_PORT" 30 registry-bridge registry_tls_up "$POD_GATEWAY"
}

# start_dns_relay: CoreDNS's upstream. Pods have no route off the machine, so names outside the
# cluster reach the host's resolver (the first nameserver of /etc/resolv.conf, which the host's own
# processes use) through this relay on the pod gateway, UDP and TCP.
start_dns_relay() {
	local ns
	ns=$(awk '$1 == "nameserver" {print $2; exit}' /etc/resolv.conf)
	[ -n "$ns" ] || die "no nameserver in /etc/resolv.conf: CoreDNS would have no upstream"
	case $ns in *:*) ns="[$ns]" ;; esac
	start_proc dns-relay bash -c 'socat -T 5 "UDP4-RECVFROM:53,bind=$1,reuseaddr,fork" "UDP-SENDTO:$2:53" &
		exec socat "TCP4-LISTEN:53,bind=$1,reuseaddr,fork" "TCP:$2:53"' dns-relay "$POD_GATEWAY" "$ns"
	waitfor "DNS relay on $POD_GATEWAY:53 (to $ns)" 10 dns-relay bash -c "exec 3<>/dev/tcp/$POD_GATEWAY/53"
}

# render_proxy_config OUT KUBECONFIG NODE NODEPORT_CIDR: a kube-proxy configuration
render_proxy_config() {
	PROXY_KUBECONFIG=$2 PROXY_NODE=$3 PROXY_NODEPORT_CIDR=\"$4\" PROXY_HEALTHZ_PORT=$PROXY_HEALTHZ_PORT \
		RENDER_VARS='${PROXY_KUBECONFIG} ${PROXY_NODE} ${PROXY_NODEPORT_CIDR} ${PROXY_HEALTHZ_PORT}' \
		render "$CLUSTER_SRC/config/kube-proxy.yaml.in" "$1"
}

# start_proxy NAME CONFIG [NETNS-PREFIX...]: a node's kube-proxy (iptables mode) once the node is
# registered, in the network namespace the prefix (nsenter --net=...) enters, if any. Pod-to-Service
# traffic whose endpoint sits on the same bridge needs bridged packets to pass iptables (br_netfilter).
start_proxy() {
	local n=$1 conf=$2; shift 2
	"$@" sysctl -qw net.bridge.bridge-nf-call-iptables=1
	start_proc "$n" "$@" "$BIN/k8s" kube-proxy --config="$conf" --v=1
	waitfor "$n" 60 "$n" "$@" curl -sf "http://127.0.0.1:$PROXY_HEALTHZ_PORT/healthz"
}

start_kubelet() {
	local s_kubelet; s_kubelet=$(date +%s)
	start_kubelet_proc kubelet curl -sf http://127.0.0.1:10248/healthz -- \
		"$BIN/k8s" kubelet --config="$CONF/kubelet.yaml" --kubeconfig="$CONF/kubelet.kubeconfig" \
		--root-dir="$DATA/kubelet" --v=1
	waitfor "node $NODE_NAME Ready" 300 kubelet node_ready_since "$s_kubelet"
}

cmd_up() {
	local s; s=$(date +%s)
	if healthy; then
		log "cluster already up and healthy"
		[ "$NODES" = 2 ] && cmd_node_add
		print_env_hint; return 0
	fi
	local c
	for c in "${COMPONENTS[@]:1}"; do # (a running registry alone is fine, e.g. after `images`)
		if alive "$c"; then log "partially running cluster: restarting it"; cmd_down; break; fi
	done
	cmd_deps
	cmd_build
	ensure_hosts
	[ -f "$PKI/node-name" ] || rm -rf "$DATA/etcd" # fresh PKI: fresh cluster state
	ensure_pki
	ensure_proxy_pki
	ensure_registry_pki
	render_configs
	local s_up; s_up=$(date +%s)

	start_registry
	start_registry_tls
	local s_img; s_img=$(date +%s)
	build_images
	timing images $(($(date +%s) - s_img))
	s_up=$((s_up + $(date +%s) - s_img)) # "up" time excludes image builds

	start_etcd
	start_apiserver
	start_controllers
	start_containerd

	start_gateway_bridges
	start_dns_relay

	save_host_state
	start_kubelet
	start_proxy kube-proxy "$CONF/kube-proxy.yaml"
	# pods are rejected until the serviceaccount controller has created default/default
	waitfor "serviceaccount default/default" 120 kube-controller-manager kubectl_ get serviceaccount default -n default
	start_dns
	check_services
	timing up-total $(($(date +%s) - s))
	timing up-start-only $(($(date +%s) - s_up))
	[ "$NODES" = 2 ] && cmd_node_add
	print_env_hint
}

print_env_hint() { log "cluster ready: eval \"\$($CLUSTER_SRC/cluster.sh env)\"   (kubeconfig: $KUBECONFIG_FILE)"; }

# ---------------------------------------------------------------- down

stop_all() {
	if alive kube-apiserver && alive kubelet && [ -f "$KUBECONFIG_FILE" ]; then
		# let the kubelet tear down pods properly (sandboxes, network namespaces, volumes)
		timeout 60 "$BIN/k8s" kubectl --kubeconfig "$KUBECONFIG_FILE" delete jobs,pods --all -A --grace-period=2 \
			--wait=true --timeout=50s >/dev/null 2>&1 || log "pod deletion incomplete; forcing"
	fi
	# the control plane keeps no state outside etcd and the kubelet none outside CLUSTER_DIR: short grace
	# periods (the apiserver otherwise lingers ~45s after it stopped listening); etcd gets a full one.
	stop_proc kube-proxy 5
	stop_proc kubelet 10
	kill_containers
	stop_proc dns-relay 5; stop_proc registry-bridge 5; stop_proc apiserver-bridge 5
	stop_proc kube-scheduler 5; stop_proc kube-controller-manager 5; stop_proc kube-apiserver 5
	stop_proc containerd 15; stop_proc etcd 30; stop_proc registry-tls 10; stop_proc registry 10
	# leftover shims of OUR containerd (identified by our socket path), by pid
	local pid
	for pid in $(ps -eo pid=,comm=,args= | awk -v s="$CONTAINERD_SOCK" '$2 ~ /^containerd-shim/ && index($0, s) {print $1}'); do
		log "killing leftover shim $pid: $(ps -o args= -p "$pid" | cut -c1-200)"; kill "$pid" 2>/dev/null || true
	done
}

cleanup_host() {
	local m n t c h p
	# mounts under CLUSTER_DIR (kubelet volumes, sandbox shm, rootfs), deepest first
	awk -v d="$CLUSTER_DIR/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | while read -r m; do
		umount -l "$m" 2>/dev/null || true
	done
	# network namespaces CNI made for bridge pods, when no process is left in them
	for n in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do
		if [ -z "$(ip netns pids "$n" 2>/dev/null)" ]; then ip netns delete "$n" 2>/dev/null || true; fi
	done
	ip link del "$POD_BRIDGE" 2>/dev/null || true # and the Service CIDR's route with it
	rm -rf "$DATA/cni-ipam"
	# kube-proxy's iptables rules (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, ...)
	if [ -x "$BIN/k8s" ]; then "$BIN/k8s" kube-proxy --cleanup --v=0 >>"$LOGS/kube-proxy.log" 2>&1 || true; fi
	# iptables chains created by the kubelet
	for t in iptables ip6tables; do
		command -v $t >/dev/null || continue
		$t -D INPUT -j KUBE-FIREWALL 2>/dev/null || true
		$t -D OUTPUT -j KUBE-FIREWALL 2>/dev/null || true
		for h in filter nat mangle; do
			for c in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
				$t -t $h -F $c 2>/dev/null || true; $t -t $h -X $c 2>/dev/null || true
			done
		done
	done
	# empty cgroups left by the kubelet/containerd (deepest first)
	for h in /sys/fs/cgroup/*/; do
		for t in kubepods k8s.io; do
			if [ -d "$h$t" ]; then find "$h$t" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
		done
	done
	# restore sysctls, remove host paths we created
	if [ -f "$HOST_STATE" ]; then
		while read -r t n v; do
			case $t in
			sysctl) [ "$v" = - ] || sysctl -qw "$n=$v" 2>/dev/null || true ;;
			esac
		done <"$HOST_STATE"
		for p in "${HOST_PATHS[@]}"; do
			grep -qx "existed $p" "$HOST_STATE" || rm -rf "$p"
		done
		rmdir /run/containerd/runc /run/containerd/s /run/containerd /run/netns 2>/dev/null || true
		rm -f "$HOST_STATE"
	fi
	# our /etc/hosts line, if we added one
	if grep -qF "$HOSTS_MARK" /etc/hosts; then
		local tmp; tmp=$(mktemp)
		grep -vF "$HOSTS_MARK" /etc/hosts >"$tmp"; cat "$tmp" >/etc/hosts; rm -f "$tmp"
	fi
}

# kill_containers: kill and remove every CRI container (their shims exit with them)
kill_containers() {
	alive containerd || return 0
	local t c
	for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
	sleep 1
	for t in $(ctr_ tasks ls -q 2>/dev/null); do ctr_ tasks delete -f "$t" >/dev/null 2>&1 || true; done
	for c in $(ctr_ containers ls -q 2>/dev/null); do ctr_ containers delete "$c" >/dev/null 2>&1 || true; done
}

cmd_down() {
	cmd_node_del
	stop_all
	cleanup_host
	log "cluster down"
}

# purge: down + drop cluster state (etcd, kubelet, containerd, registry data); keeps binaries and caches
cmd_purge() {
	cmd_down
	rm -rf "$DATA" "$RUN" "$PKI" "$CONF" "$IMAGES"/*.stamp "$KUBECONFIG_FILE"
	log "purged cluster state (kept $BIN, $CACHE)"
}

# ---------------------------------------------------------------- faults
# stop|start|restart COMPONENT on a running cluster, for the fault suite:
#   etcd, kube-apiserver, registry: that process alone;
#   runtime: kubelet and containerd, with every container killed, as when the node reboots.

cmd_component() {
	local verb=$1 comp=${2:-}
	case $comp in
	etcd | kube-apiserver | registry | runtime) ;;
	node2 | node2-kubelet)
		[ -e "$N2_NETNS_PATH" ] || die "$verb $comp: there is no second node (cluster.sh node-add)" ;;
	*) die "$verb: unknown component '$comp' (etcd, kube-apiserver, registry, runtime, node2, node2-kubelet)" ;;
	esac
	healthy_enough || die "$verb $comp: the cluster is not running (cluster.sh up)"
	if [ "$verb" != start ]; then
		case $comp in
		etcd) stop_proc etcd 30 ;;
		kube-apiserver) stop_proc kube-apiserver 5 ;;
		registry) stop_proc registry 10 ;;
		runtime) stop_proc kubelet 10; kill_containers; stop_proc containerd 15 ;;
		node2) n2_stop_runtime ;;
		node2-kubelet) stop_proc node2-kubelet 10 ;;
		esac
	fi
	if [ "$verb" != stop ]; then
		case $comp in
		etcd) alive etcd || start_etcd ;;
		kube-apiserver) alive kube-apiserver || start_apiserver ;;
		registry) start_registry ;;
		runtime) alive containerd || start_containerd; alive kubelet || start_kubelet ;;
		node2 | node2-kubelet)
			alive node2-containerd || start_node2_containerd; alive node2-kubelet || start_node2_kubelet ;;
		esac
	fi
}

# healthy_enough: the cluster was brought up (its state exists), whatever is stopped now
healthy_enough() { [ -f "$KUBECONFIG_FILE" ] && [ -f "$CONF/kubelet.yaml" ]; }

# ---------------------------------------------------------------- status / env

cmd_status() {
	local c rc=0
	for c in "${COMPONENTS[@]}"; do
		if alive "$c"; then printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"; else printf '%-24s stopped\n' "$c"; rc=1; fi
	done
	if [ -e "$N2_NETNS_PATH" ]; then
		for c in "${N2_COMPONENTS[@]}"; do
			if alive "$c"; then printf '%-24s running (pid %s)\n' "$c" "$(pid_of "$c")"; else printf '%-24s stopped\n' "$c"; rc=1; fi
		done
	fi
	if alive kube-apiserver; then
		kubectl_ get nodes -o wide 2>/dev/null || true
	fi
	if registry_up; then echo "registry catalog: $(curl -sf "http://$REGISTRY_ADDR/v2/_catalog")"; fi
	return $rc
}

cmd_env() {
	cat <<-EOF
		export CLUSTER_DIR=$CLUSTER_DIR
		export KUBECONFIG=$KUBECONFIG_FILE
		export PATH=$BIN:\$PATH
		export CONTAINERD_ADDRESS=$CONTAINERD_SOCK
		export CONTAINERD_NAMESPACE=k8s.io
		export CLUSTER_REGISTRY=$REGISTRY_HOST
		export CLUSTER_REGISTRY_TLS=$REGISTRY_TLS_HOST
		export KANIKO_IMAGE=$KANIKO_IMAGE
		export CCENV_IMAGE=$CCENV_IMAGE
		export BASEOS_IMAGE=$BASEOS_IMAGE
		export NODEENV_IMAGE=$NODEENV_IMAGE
		export BUSYBOX_IMAGE=$BUSYBOX_IMAGE
	EOF
	if [ -e "$N2_NETNS_PATH" ]; then
		cat <<-EOF
			export CLUSTER_NODE2=$N2_NAME
		EOF
	fi
}

# exec CMD...: CMD on this host, resolving names with the cluster's DNS: a private mount namespace
# whose /etc/resolv.conf names the kube-dns Service (reached through kube-proxy's rules) with a pod's
# search path, so that host tools (the Fabric CLI, osnadmin) dial peers and orderers by the Service
# names their TLS certificates carry. Names outside the cluster do not resolve in it.
cmd_exec() {
	[ $# -ge 1 ] || die "usage: cluster.sh exec CMD [ARG...]"
	alive kube-proxy || die "the cluster is not running: integration/cluster/cluster.sh up"
	[ -f "$CONF/host-resolv.conf" ] || die "$CONF/host-resolv.conf missing: integration/cluster/cluster.sh up"
	exec unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"$CONF/host-resolv.conf" "$@"
}

usage() {
	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
}

[ $# -ge 1 ] || usage
case $1 in
deps) cmd_deps ;;
build) cmd_build ;;
build-helm) cmd_build_helm ;;
images) cmd_images ;;
up) cmd_up ;;
down) cmd_down ;;
purge) cmd_purge ;;
status) cmd_status ;;
env) cmd_env ;;
stop | start | restart) cmd_component "$@" ;;
node-add) cmd_node_add ;;
node-del) cmd_node_del ;;
exec) shift; cmd_exec "$@" ;;
*) usage ;;
esac
