# shellcheck shell=bash
# The second node of the local cluster (cluster.sh node-add | node-del, or up NODES=2): its own
# containerd and kubelet on this machine, in a network namespace this script creates, joined to the
# first node's control plane.
#
#   host (first node)                                   netns fpk-node2 (second node)
#   lc0 10.244.0.1/24  pods 10.244.0.0/24               lc1 10.244.1.1/24  pods 10.244.1.0/24
#   fpk-n2h 10.243.255.1/30  <---- veth link ---->      fpk-n2 10.243.255.2/30 (node IP, kubelet :10250)
#   route 10.244.1.0/24 via 10.243.255.2                route 10.244.0.0/24 via 10.243.255.1
#   127.0.0.1:6443 apiserver  <- unix socket <-         127.0.0.1:6443 forwarder (the kubelet's API server)
#   127.0.0.1:5050 registry (TLS) <- unix socket <-     127.0.0.1:5050 forwarder (containerd's pulls)
#
# Only loopback and addresses inside the namespace and on the veth link are used; the namespace has no
# default route. Both nodes resolve the registry's name, $REGISTRY_NAME, to 127.0.0.1 (/etc/hosts, which
# `up` writes): the registry itself on the host, the forwarder in the namespace. The API server reaches
# the kubelet by the node's name ($N2_NAME -> 10.243.255.2 in /etc/hosts), as it reaches the first one.
#
# The first node's pods have no route to 10.244.1.0/24 (their CNI config predates the second node and is
# not touched on a running cluster): the host masquerades what node-2 pods send to node-1 pods as the
# bridge gateway 10.244.0.1, so replies come back through the host (iptables chain FPK-NODE2).

N2_NAME=fpk-node2
N2_NETNS=fpk-node2
N2_NETNS_PATH=/run/netns/$N2_NETNS
N2_LINK_HOST=fpk-n2h
N2_LINK_NODE=fpk-n2
N2_LINK_HOST_IP=10.243.255.1
N2_NODE_IP=10.243.255.2
N2_LINK_PREFIX=30
N1_POD_CIDR=10.244.0.0/24
N2_POD_CIDR=10.244.1.0/24
N2_POD_GW=10.244.1.1
N2_BRIDGE=lc1
N2_CGROUP=/fpk-node2
N2_TAINT_KEY=fabric-peer-k8s.io/node
N2_TAINT_VALUE=second
N2_CHAIN=FPK-NODE2
N2_HOSTS_MARK="# fabric-peer-k8s node 2"
N2_CONF=$CONF/node2
N2_DATA=$DATA/node2
N2_RUN=$RUN/node2
N2_CONTAINERD_SOCK=$N2_RUN/containerd.sock
N2_STATE=$N2_RUN/host-state

# processes in start order (stopped in reverse)
N2_COMPONENTS=(node2-fwd-apiserver node2-fwd-registry node2-ns-apiserver node2-ns-registry
	node2-containerd node2-kubelet node2-kube-proxy)

n2_exec() { nsenter --net="$N2_NETNS_PATH" "$@"; }
n2_ctr() { ctr --address "$N2_CONTAINERD_SOCK" -n k8s.io "$@"; }

n2_render() {
	export N2_NETNS N2_NAME N2_NODE_IP N2_CGROUP N2_TAINT_KEY N2_TAINT_VALUE N2_BRIDGE N2_POD_CIDR N1_POD_CIDR
	local RENDER_VARS='${N2_NETNS} ${N2_NAME} ${N2_NODE_IP} ${N2_CGROUP} ${N2_TAINT_KEY} ${N2_TAINT_VALUE} ${N2_BRIDGE} ${N2_POD_CIDR} ${N1_POD_CIDR}'
	mkdir -p "$N2_CONF/cni/net.d" "$N2_DATA/kubelet" "$N2_DATA/pod-logs" "$N2_DATA/volume-plugins" "$N2_RUN/runc"
	RENDER_VARS=$RENDER_VARS render "$CLUSTER_SRC/config/node2/containerd.toml.in" "$N2_CONF/containerd.toml"
	RENDER_VARS=$RENDER_VARS render "$CLUSTER_SRC/config/node2/kubelet.yaml.in" "$N2_CONF/kubelet.yaml"
	RENDER_VARS=$RENDER_VARS render "$CLUSTER_SRC/config/node2/10-bridge.conflist.in" "$N2_CONF/cni/net.d/10-bridge.conflist"
	render_proxy_config "$N2_CONF/kube-proxy.yaml" "$CONF/kube-proxy.kubeconfig" "$N2_NAME" "$N2_NODE_IP/32"
	cp "$CLUSTER_SRC/config/cni/99-loopback.conflist" "$N2_CONF/cni/net.d/"
	# its containerd trusts the registry's name with the cluster CA, as the first node's does
	render "$CLUSTER_SRC/config/hosts-tls.toml.in" "$N2_CONF/certs.d/$REGISTRY_TLS_HOST/hosts.toml"
}

# ---------------------------------------------------------------- host changes

n2_hosts_add() {
	grep -qF "$N2_HOSTS_MARK" /etc/hosts && return 0
	log "adding $N2_NAME ($N2_NODE_IP) to /etc/hosts"
	local tmp; tmp=$(mktemp)
	{ cat /etc/hosts; echo "$N2_NODE_IP $N2_NAME $N2_HOSTS_MARK"; } >"$tmp"
	cat "$tmp" >/etc/hosts; rm -f "$tmp" # in place: /etc/hosts may be a bind mount
}

n2_hosts_del() {
	grep -qF "$N2_HOSTS_MARK" /etc/hosts || return 0
	local tmp; tmp=$(mktemp)
	grep -vF "$N2_HOSTS_MARK" /etc/hosts >"$tmp"; cat "$tmp" >/etc/hosts; rm -f "$tmp"
}

n2_network_up() {
	mkdir -p "$N2_RUN"
	[ -f "$N2_STATE" ] || echo "ip_forward $(sysctl -n net.ipv4.ip_forward)" >"$N2_STATE"
	[ -e "$N2_NETNS_PATH" ] || ip netns add "$N2_NETNS"
	n2_exec ip link set lo up
	ip link show "$N2_LINK_HOST" >/dev/null 2>&1 ||
		ip link add "$N2_LINK_HOST" type veth peer name "$N2_LINK_NODE" netns "$N2_NETNS"
	ip addr replace "$N2_LINK_HOST_IP/$N2_LINK_PREFIX" dev "$N2_LINK_HOST"
	ip link set "$N2_LINK_HOST" up
	n2_exec ip addr replace "$N2_NODE_IP/$N2_LINK_PREFIX" dev "$N2_LINK_NODE"
	n2_exec ip link set "$N2_LINK_NODE" up
	# the pod bridge exists from the start, as lc0 on the first node
	n2_exec ip link show "$N2_BRIDGE" >/dev/null 2>&1 || n2_exec ip link add "$N2_BRIDGE" type bridge
	n2_exec ip addr replace "$N2_POD_GW/24" dev "$N2_BRIDGE"
	n2_exec ip link set "$N2_BRIDGE" up
	n2_exec sysctl -qw net.ipv4.ip_forward=1
	n2_exec ip route replace "$N1_POD_CIDR" via "$N2_LINK_HOST_IP" dev "$N2_LINK_NODE"
	sysctl -qw net.ipv4.ip_forward=1
	ip route replace "$N2_POD_CIDR" via "$N2_NODE_IP" dev "$N2_LINK_HOST"
	# forwarding between the two pod networks only, and node-2 -> node-1 pod traffic as the gateway
	iptables -N "$N2_CHAIN" 2>/dev/null || iptables -F "$N2_CHAIN"
	iptables -A "$N2_CHAIN" -i "$N2_LINK_HOST" -o lc0 -s "$N2_POD_CIDR" -d "$N1_POD_CIDR" -j ACCEPT
	iptables -A "$N2_CHAIN" -i lc0 -o "$N2_LINK_HOST" -s "$N1_POD_CIDR" -d "$N2_POD_CIDR" -j ACCEPT
	iptables -C FORWARD -j "$N2_CHAIN" 2>/dev/null || iptables -I FORWARD 1 -j "$N2_CHAIN"
	iptables -t nat -N "$N2_CHAIN" 2>/dev/null || iptables -t nat -F "$N2_CHAIN"
	iptables -t nat -A "$N2_CHAIN" -s "$N2_POD_CIDR" -d "$N1_POD_CIDR" -o lc0 -j MASQUERADE
	iptables -t nat -C POSTROUTING -j "$N2_CHAIN" 2>/dev/null || iptables -t nat -A POSTROUTING -j "$N2_CHAIN"
}

n2_network_down() {
	iptables -D FORWARD -j "$N2_CHAIN" 2>/dev/null || true
	iptables -F "$N2_CHAIN" 2>/dev/null || true; iptables -X "$N2_CHAIN" 2>/dev/null || true
	iptables -t nat -D POSTROUTING -j "$N2_CHAIN" 2>/dev/null || true
	iptables -t nat -F "$N2_CHAIN" 2>/dev/null || true; iptables -t nat -X "$N2_CHAIN" 2>/dev/null || true
	ip route del "$N2_POD_CIDR" 2>/dev/null || true
	ip link del "$N2_LINK_HOST" 2>/dev/null || true
	[ -e "$N2_NETNS_PATH" ] && ip netns delete "$N2_NETNS" 2>/dev/null || true
	if [ -f "$N2_STATE" ]; then
		local k v
		while read -r k v; do
			[ "$k" = ip_forward ] && sysctl -qw "net.ipv4.ip_forward=$v"
		done <"$N2_STATE"
	fi
}

# cgroup v1: the kubelet wants its cgroupRoot to exist in every hierarchy; cpuset needs cpus and mems
n2_cgroups_up() {
	local h
	for h in /sys/fs/cgroup/*/; do
		[ "$h" = /sys/fs/cgroup/unified/ ] && continue
		mountpoint -q "$h" || continue
		mkdir -p "$h${N2_CGROUP#/}"
	done
	if [ -d /sys/fs/cgroup/cpuset ]; then
		cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset$N2_CGROUP/cpuset.cpus"
		cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset$N2_CGROUP/cpuset.mems"
	fi
}

n2_cgroups_down() {
	local h
	for h in /sys/fs/cgroup/*/; do
		if [ -d "$h${N2_CGROUP#/}" ]; then find "$h${N2_CGROUP#/}" -depth -type d -exec rmdir {} \; 2>/dev/null || true; fi
	done
}

# ---------------------------------------------------------------- processes

# n2_forward NAME PORT: 127.0.0.1:PORT in the namespace -> a unix socket -> 127.0.0.1:PORT on the host
n2_forward() {
	local n=$1 port=$2 sock=$N2_RUN/$1.sock
	alive "node2-fwd-$n" || start_proc "node2-fwd-$n" socat "UNIX-LISTEN:$sock,fork,unlink-early,mode=600" "TCP:127.0.0.1:$port"
	waitfor "forwarder socket $sock" 10 "node2-fwd-$n" test -S "$sock"
	alive "node2-ns-$n" || start_proc "node2-ns-$n" nsenter --net="$N2_NETNS_PATH" \
		socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" "UNIX-CONNECT:$sock"
}

start_node2_containerd() {
	start_proc node2-containerd nsenter --net="$N2_NETNS_PATH" /usr/bin/containerd --config "$N2_CONF/containerd.toml"
	waitfor "node 2 containerd" 60 node2-containerd ctr --address "$N2_CONTAINERD_SOCK" version
	n2_ctr images import "$IMAGES/pause.tar" >/dev/null
	log "imported $PAUSE_IMAGE into node 2"
}

n2_node_ready_since() {
	local st hb
	st=$(kubectl_ get node "$N2_NAME" -o jsonpath='{range .status.conditions[?(@.type=="Ready")]}{.status} {.lastHeartbeatTime}{end}' 2>/dev/null) || return 1
	[ "${st%% *}" = True ] || return 1
	hb=$(date -d "${st#* }" +%s) || return 1
	[ "$hb" -ge "$1" ]
}

start_node2_kubelet() {
	local s; s=$(date +%s)
	start_kubelet_proc node2-kubelet n2_exec curl -sf http://127.0.0.1:10248/healthz -- \
		nsenter --net="$N2_NETNS_PATH" "$BIN/k8s" kubelet --config="$N2_CONF/kubelet.yaml" \
		--kubeconfig="$N2_CONF/kubelet.kubeconfig" --root-dir="$N2_DATA/kubelet" \
		--hostname-override="$N2_NAME" --node-ip="$N2_NODE_IP" --node-labels="$N2_TAINT_KEY=$N2_TAINT_VALUE" --v=1
	waitfor "node $N2_NAME Ready" 300 node2-kubelet n2_node_ready_since "$s"
}

n2_healthy() {
	local c
	for c in "${N2_COMPONENTS[@]}"; do alive "$c" || return 1; done
	[ "$(kubectl_ get node "$N2_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]
}

# n2_kill_containers: kill and remove node 2's containers; prints the network namespaces of its pod sandboxes
n2_kill_containers() {
	alive node2-containerd || return 0
	local t c
	n2_ctr containers ls -q 2>/dev/null | while read -r c; do
		n2_ctr containers info "$c" 2>/dev/null |
			sed -n 's/.*"path": "\(\/var\/run\/netns\/cni-[^"]*\)".*/\1/p; s/.*"path": "\(\/run\/netns\/cni-[^"]*\)".*/\1/p'
	done | sort -u >"$N2_RUN/sandbox-netns"
	for t in $(n2_ctr tasks ls -q 2>/dev/null); do n2_ctr tasks kill -s SIGKILL "$t" >/dev/null 2>&1 || true; done
	sleep 1
	for t in $(n2_ctr tasks ls -q 2>/dev/null); do n2_ctr tasks delete -f "$t" >/dev/null 2>&1 || true; done
	for c in $(n2_ctr containers ls -q 2>/dev/null); do n2_ctr containers delete "$c" >/dev/null 2>&1 || true; done
}

n2_stop_runtime() {
	stop_proc node2-kubelet 10
	n2_kill_containers
	stop_proc node2-containerd 15
	local pid
	for pid in $(ps -eo pid=,comm=,args= | awk -v s="$N2_CONTAINERD_SOCK" '$2 ~ /^containerd-shim/ && index($0, s) {print $1}'); do
		log "killing leftover node 2 shim $pid"; kill "$pid" 2>/dev/null || true
	done
	# the pod network namespaces of node 2's sandboxes (only those, and only when empty)
	local n
	if [ -f "$N2_RUN/sandbox-netns" ]; then
		while read -r n; do
			[ -e "$n" ] || continue
			if [ -z "$(ip netns pids "$(basename "$n")" 2>/dev/null)" ]; then ip netns delete "$(basename "$n")" 2>/dev/null || true; fi
		done <"$N2_RUN/sandbox-netns"
	fi
}

# ---------------------------------------------------------------- commands

cmd_node_add() {
	local s; s=$(date +%s)
	if n2_healthy; then log "node $N2_NAME already up and Ready"; return 0; fi
	healthy || die "node-add: the first node is not up and healthy (cluster.sh up)"
	local c
	for c in "${N2_COMPONENTS[@]}"; do
		if alive "$c"; then log "node 2 partially running: removing it first"; cmd_node_del; break; fi
	done
	command -v nsenter socat >/dev/null || die "node-add needs nsenter and socat (cluster.sh deps)"
	ensure_node2_pki
	n2_render
	n2_hosts_add
	n2_network_up
	n2_cgroups_up
	n2_forward apiserver 6443
	n2_forward registry "$REGISTRY_TLS_PORT"
	start_node2_containerd
	start_node2_kubelet
	start_proxy node2-kube-proxy "$N2_CONF/kube-proxy.yaml" nsenter --net="$N2_NETNS_PATH" # rules in its namespace
	# node-1 clients reach a node-2 pod through their node's kube-proxy, node-2 clients reach the DNS
	# and the API server on node 1 through theirs
	check_services "$N2_NAME" "$NODE_NAME"
	check_services "$N2_NAME" "$N2_NAME"
	timing node2-add $(($(date +%s) - s))
	log "node $N2_NAME Ready: pod network $N2_POD_CIDR, taint $N2_TAINT_KEY=$N2_TAINT_VALUE:NoSchedule, registry $REGISTRY_TLS_HOST"
}

cmd_node_del() {
	local c any=
	for c in "${N2_COMPONENTS[@]}"; do alive "$c" && any=1; done
	if [ -z "$any" ] && [ ! -e "$N2_NETNS_PATH" ] && ! grep -qF "$N2_HOSTS_MARK" /etc/hosts && [ ! -d "$N2_DATA" ]; then
		return 0
	fi
	if alive kube-apiserver && [ -f "$KUBECONFIG_FILE" ]; then
		if alive node2-kubelet; then # let the kubelet tear its pods down (sandboxes, network namespaces, volumes)
			timeout 60 "$BIN/k8s" kubectl --kubeconfig "$KUBECONFIG_FILE" delete pods -A --field-selector "spec.nodeName=$N2_NAME" \
				--grace-period=2 --wait=true --timeout=50s >/dev/null 2>&1 || log "node 2 pod deletion incomplete; forcing"
		fi
		kubectl_ delete node "$N2_NAME" --ignore-not-found --wait=false >/dev/null 2>&1 || log "could not delete node $N2_NAME"
	fi
	n2_stop_runtime
	for ((c = ${#N2_COMPONENTS[@]} - 1; c >= 0; c--)); do stop_proc "${N2_COMPONENTS[$c]}" 5; done
	local m a b # /proc/mounts names physical paths (CLUSTER_DIR may be reached through a symlink)
	a=$(cd "$N2_DATA" 2>/dev/null && pwd -P) || a=$N2_DATA
	b=$(cd "$N2_RUN" 2>/dev/null && pwd -P) || b=$N2_RUN
	awk -v a="$a/" -v b="$b/" 'index($2, a) == 1 || index($2, b) == 1 {print $2}' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	n2_network_down
	n2_cgroups_down
	n2_hosts_del
	rm -rf "$N2_CONF"
	# the kubelet's links to node 2's container logs
	if [ -d /var/log/containers ]; then
		find /var/log/containers -maxdepth 1 -type l -lname "$N2_DATA/*" -delete 2>/dev/null || true
	fi
	rm -rf "$N2_DATA" "$N2_RUN"
	log "node $N2_NAME removed"
}
