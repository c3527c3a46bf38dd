#!/usr/bin/env bash
# Build the Fabric node images on the local cluster (integration/cluster), without Docker and without
# any external registry:
#   images/build-local.sh peer     -> localhost:5000/fabric-peer-k8s/peer:3.1.1     (images/peer/Dockerfile)
#   images/build-local.sh orderer  -> localhost:5000/fabric-peer-k8s/orderer:3.1.1  (images/orderer/Dockerfile)
#
#  1. NAME-base:3.1.1 - a local stand-in for hyperledger/fabric-NAME:3.1.1 with the same layout,
#     assembled with umoci and pushed with skopeo (like integration/cluster/lib/images.sh):
#       layer 1: the cached Debian bookworm debootstrap rootfs of the ccenv image (same blob, so it
#                costs nothing in the registry or in containerd). It carries the glibc that the
#                CGO_ENABLED=1 binaries link against (GLIBC_2.34 at most; the stock Ubuntu base has it).
#       layer 2: /etc/hyperledger/fabric/{core.yaml or orderer.yaml, msp} from the pinned Fabric
#                module's sampleconfig, /var/hyperledger/production, nsswitch.conf; env FABRIC_CFG_PATH.
#     The binary is NOT in the local base (the Dockerfile always replaces it), nor is the stock peer's
#     /opt/hyperledger/ccaas_builder (its detect then fails, the k8s VM builds).
#  2. images/NAME/Dockerfile, built FROM that base by the project's Kaniko executor in a Job in the
#     cluster (namespace fpk-NAME-image, deleted afterwards). The build context (Dockerfile + a hard
#     link of the binary) is a hostPath volume: the cluster has a single node on this machine, so the
#     binary does not have to be streamed through the API server; a remote cluster would use the
#     attach/stdin delivery the chaincode builds use. The Job runs on the host network to push to
#     the registry on 127.0.0.1:5000 (plain HTTP). The manifests (images/*/deploy-local) pull the same
#     image by the registry's TLS name, registry.fabric-peer-k8s.test:5050 (one storage, two listeners).
#
# Both images are cached: rebuilt only when their inputs change or they are missing from the registry.
# Usage: images/build-local.sh peer|orderer [--force]
#        (needs: make peer / make orderer; integration/cluster/cluster.sh up)
# Env:   FABRIC (3.1, or 2.5: bin/2.5/NAME and Fabric 2.5.9's sampleconfig, tags 2.5.9),
#        IMAGE (default localhost:5000/fabric-peer-k8s/NAME:3.1.1), BASE_IMAGE, BUILD_TIMEOUT (s)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../integration/cluster/lib/common.sh
. "$HERE/../integration/cluster/lib/common.sh"
# shellcheck source=../integration/cluster/lib/images.sh
. "$CLUSTER_SRC/lib/images.sh"

NAME=${1:-}
# The node: its configuration file in the sampleconfig, and the base image's ports and command.
case $NAME in
peer) CONFIG_FILE=core.yaml PORT=7051/tcp CMD=(--config.cmd peer --config.cmd node --config.cmd start) ;;
orderer) CONFIG_FILE=orderer.yaml PORT=7050/tcp CMD=(--config.cmd orderer) ;;
*) die "usage: images/build-local.sh peer|orderer [--force]" ;;
esac
# Fabric line: its release, binary, module (for the sampleconfig) and the suffix of its cache stamps.
case ${FABRIC:-3.1} in
3.1) FABRIC_VERSION=3.1.1 BINARY=$REPO_ROOT/bin/$NAME FABRIC_MODDIR=$REPO_ROOT STAMP= ;;
2.5) FABRIC_VERSION=2.5.9 BINARY=$REPO_ROOT/bin/2.5/$NAME FABRIC_MODDIR=$REPO_ROOT/cmd/fabric-2.5 STAMP=-2.5 ;;
*) die "FABRIC=$FABRIC: the supported Fabric lines are 3.1 and 2.5" ;;
esac
IMAGE=${IMAGE:-$IMAGE_PREFIX/$NAME:$FABRIC_VERSION}
BASE_IMAGE=${BASE_IMAGE:-$IMAGE_PREFIX/$NAME-base:$FABRIC_VERSION}
BUILD_NS=fpk-$NAME-image
BUILD_TIMEOUT=${BUILD_TIMEOUT:-900}
FORCE=0
[ "${2:-}" = --force ] && FORCE=1

DOCKERFILE=$REPO_ROOT/images/$NAME/Dockerfile
[ -x "$BINARY" ] || die "$BINARY missing: run 'make $NAME FABRIC=${FABRIC:-3.1}'"
registry_up || die "registry not running on $REGISTRY_ADDR: run 'integration/cluster/cluster.sh up'"
mkdir -p "$IMAGES" "$CACHE" "$LOGS"

# cached NAME KEY REF: stamp matches and the image is in the registry
cached() { [ "$FORCE" = 0 ] && image_cached "$1" "$2" "$3"; }

# ---------------------------------------------------------------- 1. base image (umoci + skopeo)
image_base() {
	local key base fabric w r s
	fabric=$(cd "$FABRIC_MODDIR" && "$GO" list -mod=mod -m -f '{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' github.com/hyperledger/fabric)
	[ -f "$fabric/sampleconfig/core.yaml" ] || die "no sampleconfig in $fabric"
	base=$(ccenv_rootfs_tar)
	key=$(hash_str "$(declare -f image_base oci_image layer_tar)" "$base" "$BASE_IMAGE" "${CMD[*]}" \
		"$(cd "$fabric/sampleconfig" && find "$CONFIG_FILE" msp -type f -print0 | sort -z | xargs -0 sha256sum)")
	if cached "$NAME-base$STAMP" "$key" "$BASE_IMAGE"; then log "image $NAME-base: cached"; return 0; fi
	s=$(date +%s)
	w=$IMAGES/work/$NAME-base; r=$w/layout-root; rm -rf "$w"; mkdir -p "$r"
	mkdir -p "$r/etc/hyperledger/fabric" "$r/var/hyperledger/production" "$r/usr/local/bin"
	cp "$fabric/sampleconfig/$CONFIG_FILE" "$r/etc/hyperledger/fabric/$CONFIG_FILE"
	cp -r "$fabric/sampleconfig/msp" "$r/etc/hyperledger/fabric/msp"
	chmod -R u+w,go+rX "$r/etc/hyperledger"
	echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
	chown -R 0:0 "$r"
	layer_tar "$r" "$w/layer-fabric.tar"
	oci_image "$w/layout" "$FABRIC_VERSION" \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.env FABRIC_CFG_PATH=/etc/hyperledger/fabric --config.env FABRIC_VER="$FABRIC_VERSION" \
		--config.exposedports "$PORT" "${CMD[@]}" \
		-- "$base" "$w/layer-fabric.tar"
	push_image "$w/layout" "$FABRIC_VERSION" "$BASE_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/$NAME-base$STAMP.stamp"
	log "image $NAME-base: built in $(($(date +%s) - s))s"
	echo "$(date -u +%FT%TZ) $NAME-base-image $(($(date +%s) - s))s" >>"$CLUSTER_DIR/timings.log"
}

# ---------------------------------------------------------------- 2. Dockerfile step (Kaniko Job)
image_node() {
	local key ctx s job digest
	key=$(hash_str "$(declare -f image_node)" "$(cat "$IMAGES/$NAME-base$STAMP.stamp")" "$IMAGE" \
		"$(hash_files "$DOCKERFILE" "$BINARY")")
	if cached "$NAME$STAMP" "$key" "$IMAGE"; then log "image $NAME: cached ($IMAGE)"; return 0; fi
	s=$(date +%s)
	# build context = repository layout reduced to what the Dockerfile uses (hard links, no copy)
	ctx=$IMAGES/$NAME-context; rm -rf "$ctx"; mkdir -p "$ctx/bin" "$ctx/images/$NAME"
	ln "$BINARY" "$ctx/bin/$NAME" 2>/dev/null || cp "$BINARY" "$ctx/bin/$NAME"
	cp "$DOCKERFILE" "$ctx/images/$NAME/Dockerfile"

	kubectl_ delete namespace "$BUILD_NS" --ignore-not-found --wait=true >/dev/null
	# hostPath + hostNetwork + uid 0 (Kaniko): only the "privileged" Pod Security level admits this.
	kubectl_ create namespace "$BUILD_NS" >/dev/null
	kubectl_ label namespace "$BUILD_NS" pod-security.kubernetes.io/enforce=privileged >/dev/null
	job=$NAME-image
	kubectl_ -n "$BUILD_NS" apply -f - >/dev/null <<-EOF
		apiVersion: batch/v1
		kind: Job
		metadata:
		  name: $job
		spec:
		  backoffLimit: 0
		  activeDeadlineSeconds: $BUILD_TIMEOUT
		  template:
		    spec:
		      restartPolicy: Never
		      hostNetwork: true
		      automountServiceAccountToken: false
		      containers:
		      - name: kaniko
		        image: $KANIKO_IMAGE
		        args:
		        - --context=dir:///workspace
		        - --dockerfile=/workspace/images/$NAME/Dockerfile
		        - --build-arg=BASE_IMAGE=$BASE_IMAGE
		        - --destination=$IMAGE
		        - --digest-file=/dev/termination-log
		        - --insecure
		        - --insecure-pull
		        - --skip-tls-verify
		        - --skip-tls-verify-pull
		        - --single-snapshot
		        volumeMounts:
		        - {name: context, mountPath: /workspace, readOnly: true}
		      volumes:
		      - name: context
		        hostPath: {path: $ctx, type: Directory}
	EOF
	log "Kaniko Job $BUILD_NS/$job building $IMAGE"
	local end=$((s + BUILD_TIMEOUT + 30)) st
	while :; do
		st=$(kubectl_ -n "$BUILD_NS" get job "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
		case "$st" in *Complete*) break ;; *Failed*) break ;; esac
		[ "$(date +%s)" -lt "$end" ] || { st=Timeout; break; }
		sleep 3
	done
	kubectl_ -n "$BUILD_NS" logs "job/$job" >"$LOGS/$NAME-image-kaniko.log" 2>&1 || true
	case "$st" in *Complete*) ;; *)
		tail -n 30 "$LOGS/$NAME-image-kaniko.log" >&2
		kubectl_ -n "$BUILD_NS" describe job "$job" | tail -n 15 >&2
		die "$NAME image build failed ($st); log: $LOGS/$NAME-image-kaniko.log (namespace $BUILD_NS kept)" ;;
	esac
	digest=$(kubectl_ -n "$BUILD_NS" get pods -l job-name="$job" \
		-o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')
	kubectl_ delete namespace "$BUILD_NS" --wait=false >/dev/null
	rm -rf "$ctx"
	echo "$key" >"$IMAGES/$NAME$STAMP.stamp"
	log "image $NAME: built $IMAGE@$digest in $(($(date +%s) - s))s (Kaniko in-cluster)"
	echo "$(date -u +%FT%TZ) $NAME-image-kaniko $(($(date +%s) - s))s" >>"$CLUSTER_DIR/timings.log"
}

image_base
image_node
echo "$IMAGE"
