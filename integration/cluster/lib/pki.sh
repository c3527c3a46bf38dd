# shellcheck shell=bash
# Self-made CA, component certificates and kubeconfigs for the single-node cluster on 127.0.0.1.
# Generated once per CLUSTER_DIR (and again if the node name changes).

_pki_cert() { # NAME SUBJECT EXTENSIONS
	openssl genrsa -out "$1.key" 2048 2>/dev/null
	openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
	printf '%b' "$3" >"$1.ext"
	openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -sha256 \
		-extfile "$1.ext" -out "$1.crt" 2>/dev/null
	rm -f "$1.csr" "$1.ext"
}

# _kubeconfig USER FILE [embed]: kubeconfig for USER's client cert (embedded data when 3rd arg given)
_kubeconfig() {
	local u=$1 f=$2 ca cert key
	if [ "${3:-}" = embed ]; then
		ca="certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")"
		cert="client-certificate-data: $(base64 -w0 "$PKI/$u.crt")"
		key="client-key-data: $(base64 -w0 "$PKI/$u.key")"
	else
		ca="certificate-authority: $PKI/ca.crt"
		cert="client-certificate: $PKI/$u.crt"
		key="client-key: $PKI/$u.key"
	fi
	cat >"$f.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:6443
    $ca
users:
- name: $u
  user:
    $cert
    $key
contexts:
- name: $u@local
  context: {cluster: local, user: $u, namespace: default}
current-context: $u@local
KC
	chmod 600 "$f.tmp"
	mv "$f.tmp" "$f"
}

ensure_pki() {
	if [ -f "$PKI/ca.crt" ] && [ "$(cat "$PKI/node-name" 2>/dev/null)" = "$NODE_NAME" ]; then
		return 0
	fi
	log "generating PKI for node $NODE_NAME"
	rm -rf "$PKI"
	mkdir -p "$PKI" "$CONF"
	(
		cd "$PKI" || exit 1
		openssl genrsa -out ca.key 2048 2>/dev/null
		openssl req -x509 -new -nodes -key ca.key -sha256 -days 3650 -subj "/CN=fabric-peer-k8s-local-ca" -out ca.crt
		openssl genrsa -out sa.key 2048 2>/dev/null # service-account token signing
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		local srv="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
		local cli="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
		_pki_cert apiserver "/CN=kube-apiserver" "${srv}subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:$NODE_NAME\n"
		_pki_cert kubelet-serving "/CN=$NODE_NAME" "${srv}subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:$NODE_NAME\n"
		_pki_cert admin "/O=system:masters/CN=kubernetes-admin" "$cli"
		_pki_cert controller-manager "/CN=system:kube-controller-manager" "$cli"
		_pki_cert scheduler "/CN=system:kube-scheduler" "$cli"
		_pki_cert kubelet "/O=system:nodes/CN=system:node:$NODE_NAME" "$cli"
		_pki_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" "$cli"
		chmod 600 ./*.key
	)
	local u
	for u in controller-manager scheduler kubelet; do _kubeconfig "$u" "$CONF/$u.kubeconfig"; done
	_kubeconfig admin "$KUBECONFIG_FILE" embed
	echo "$NODE_NAME" >"$PKI/node-name"
}

# ensure_proxy_pki: kube-proxy's client certificate (system:kube-proxy, which the API server's
# bootstrap policy binds to system:node-proxier) and kubeconfig; added to an older cluster's PKI.
ensure_proxy_pki() {
	if [ ! -f "$PKI/kube-proxy.crt" ]; then
		log "generating kube-proxy's certificate"
		(
			cd "$PKI" || exit 1
			_pki_cert kube-proxy "/CN=system:kube-proxy" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
			chmod 600 kube-proxy.key
		) || die "kube-proxy certificate"
	fi
	_kubeconfig kube-proxy "$CONF/kube-proxy.kubeconfig"
}

# ensure_registry_pki: the TLS registry's certificate, signed by the cluster CA, for the name every
# consumer uses ($REGISTRY_NAME), 127.0.0.1 and the pod gateway (where pods reach it); added to an
# older cluster's PKI. Kubernetes publishes the CA in every namespace (ConfigMap kube-root-ca.crt).
ensure_registry_pki() {
	local want="$REGISTRY_NAME $POD_GATEWAY"
	[ -f "$PKI/registry.crt" ] && [ "$(cat "$PKI/registry-name" 2>/dev/null)" = "$want" ] && return 0
	log "generating the certificate of registry $REGISTRY_NAME"
	(
		cd "$PKI" || exit 1
		_pki_cert registry "/CN=$REGISTRY_NAME" "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:$REGISTRY_NAME,IP:127.0.0.1,IP:$POD_GATEWAY\n"
		chmod 600 registry.key
	) || die "registry certificate"
	echo "$want" >"$PKI/registry-name"
}

# ensure_node2_pki: certificates of the second node (cluster.sh node-add), signed by the cluster CA
# above: the kubelet's client certificate (system:node:$N2_NAME, so that NodeRestriction confines it
# to its own node) and its serving certificate for the name and address the API server dials.
ensure_node2_pki() {
	[ -f "$PKI/ca.key" ] || die "no cluster CA in $PKI (cluster.sh up first)"
	local want="$N2_NAME $N2_NODE_IP"
	mkdir -p "$CONF/node2"
	if [ -f "$PKI/node2-kubelet.crt" ] && [ "$(cat "$PKI/node2-name" 2>/dev/null)" = "$want" ]; then
		_kubeconfig node2-kubelet "$CONF/node2/kubelet.kubeconfig"
		return 0
	fi
	log "generating certificates of node $N2_NAME"
	(
		cd "$PKI" || exit 1
		local srv="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
		local cli="basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
		_pki_cert node2-kubelet "/O=system:nodes/CN=system:node:$N2_NAME" "$cli"
		_pki_cert node2-kubelet-serving "/CN=$N2_NAME" "${srv}subjectAltName=DNS:$N2_NAME,IP:$N2_NODE_IP\n"
		chmod 600 ./*.key
	) || die "node 2 certificates"
	_kubeconfig node2-kubelet "$CONF/node2/kubelet.kubeconfig"
	echo "$want" >"$PKI/node2-name"
}
