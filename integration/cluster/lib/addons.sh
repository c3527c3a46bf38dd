# shellcheck shell=bash
# What `cluster.sh up` runs in the cluster once the node is ready: CoreDNS behind the kube-dns Service
# (config/coredns.yaml.in), and a check that Services and DNS work for pods (config/check.yaml.in).

FIELD_MANAGER=fabric-peer-k8s-cluster

# start_dns: apply CoreDNS and wait until it serves
start_dns() {
	kubectl_ apply --server-side --force-conflicts --field-manager="$FIELD_MANAGER" -f "$CONF/coredns.yaml" >/dev/null
	kubectl_ -n kube-system rollout status deployment/coredns --timeout=120s >/dev/null ||
		die "CoreDNS did not become ready: $(kubectl_ -n kube-system get pods -l k8s-app=kube-dns -o wide 2>&1)"
	log "CoreDNS ready (kube-dns $CLUSTER_DNS_IP)"
}

# check_services [SERVER_NODE CLIENT_NODE]: a pod resolves kubernetes.default.svc, reads /version
# through the kubernetes Service, resolves a ClusterIP Service and reaches the pod behind it, and
# resolves the registry's name to the pod gateway and connects to it there. The pods run where the
# scheduler puts them, or on the nodes named, with images pulled by the registry's name (TLS). The
# check's objects (label fpk-check) are deleted afterwards, pass or fail.
check_services() {
	local server=${1:-} client=${2:-} reg=$REGISTRY_TLS_HOST s f id where
	s=$(date +%s)
	id=$(head -c 3 /dev/urandom | od -An -tx1 | tr -d ' \n')
	f=$CONF/check-$id.yaml
	where="${server:+server on $server, }${client:+client on $client, }"
	where=${where:-"server and client where scheduled, "}
	CHECK_ID=$id CHECK_SERVER_PLACEMENT=${server:+nodeName: $server} CHECK_CLIENT_PLACEMENT=${client:+nodeName: $client} \
		BUSYBOX_IMAGE=$reg/${BUSYBOX_IMAGE#*/} KUBECTL_IMAGE=$reg/${KUBECTL_IMAGE#*/} \
		RENDER_VARS='${CHECK_ID} ${CHECK_SERVER_PLACEMENT} ${CHECK_CLIENT_PLACEMENT} ${BUSYBOX_IMAGE} ${KUBECTL_IMAGE}' \
		render "$CLUSTER_SRC/config/check.yaml.in" "$f"
	# the client starts once the server is ready (a Service without ready endpoints rejects connections)
	kubectl_ apply --server-side --field-manager="$FIELD_MANAGER" -f "$f" -l fpk-check=server >/dev/null
	local phase="" out
	if kubectl_ wait --for=condition=Ready "pod/fpk-check-server-$id" --timeout=120s >/dev/null; then
		kubectl_ apply --server-side --field-manager="$FIELD_MANAGER" -f "$f" -l fpk-check=client >/dev/null
		local end=$(($(date +%s) + 120))
		while [ "$(date +%s)" -lt "$end" ]; do
			phase=$(kubectl_ get pod "fpk-check-client-$id" -o jsonpath='{.status.phase}' 2>/dev/null || true)
			case $phase in Succeeded | Failed) break ;; esac
			sleep 0.5
		done
		out=$(kubectl_ logs "fpk-check-client-$id" 2>&1 || true)
		phase="client pod ${phase:-not started}"
	else
		out=$(kubectl_ describe pod "fpk-check-server-$id" 2>&1 | tail -n 8)
		phase="server pod not ready"
	fi
	kubectl_ delete --ignore-not-found --wait=false -f "$f" >/dev/null 2>&1 || true
	rm -f "$f"
	if [ "$phase" != "client pod Succeeded" ]; then
		printf '%s\n' "$out" >&2
		die "Services check (${where}${phase}) failed: see the kube-proxy logs in $LOGS and kubectl -n kube-system logs deploy/coredns"
	fi
	log "Services check ok (${where%, }): DNS, the kubernetes Service, a ClusterIP Service and the registry's name work from a pod"
	timing services-check $(($(date +%s) - s))
}
