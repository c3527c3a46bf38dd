#!/usr/bin/env bash
# Build the peer image localhost:5000/fabric-peer-k8s/peer:3.1.1 on the local cluster
# (integration/cluster), without Docker and without any external registry:
#
#  1. peer-base:3.1.1 - a local stand-in for hyperledger/fabric-peer:3.1.1 with the same layout,
#     assembled with umoci and pushed with skopeo (like integration/cluster/lib/images.sh):
#       layer 1: the cached Debian bookworm debootstrap rootfs of the ccenv image (same blob, so it
#                costs nothing in the registry or in containerd). It carries the glibc that the
#                CGO_ENABLED=1 bin/peer links against (GLIBC_2.34 at most; the stock Ubuntu base has it).
#       layer 2: /etc/hyperledger/fabric/{core.yaml,msp} from the pinned Fabric module's
#                sampleconfig, /var/hyperledger/production, nsswitch.conf; env FABRIC_CFG_PATH.
#     /usr/local/bin/peer is NOT in the local base (the Dockerfile always replaces it; 128 MB saved),
#     nor is the stock /opt/hyperledger/ccaas_builder (its detect then fails, the k8s VM builds).
#  2. images/peer/Dockerfile, built FROM that base by the project's Kaniko executor in a Job in the
#     cluster (namespace fpk-peer-image, deleted afterwards). The build context (Dockerfile + a hard
#     link of bin/peer) is a hostPath volume: the cluster has a single node on this machine, so the
#     128 MB binary does not have to be streamed through the API server; a remote cluster would use
#     the attach/stdin delivery the chaincode builds use. The Job runs on the host network to push to
#     the registry on 127.0.0.1:5000 (plain HTTP).
#
# Both images are cached: rebuilt only when their inputs change or they are missing from the registry.
# Usage: images/peer/build-local.sh [--force]     (needs: make peer; integration/cluster/cluster.sh up)
# Env:   FABRIC (3.1, or 2.5: bin/2.5/peer and Fabric 2.5.9's sampleconfig, tags 2.5.9),
#        PEER_IMAGE (default localhost:5000/fabric-peer-k8s/peer:3.1.1), PEER_BASE_IMAGE, BUILD_TIMEOUT (s)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../../integration/cluster/lib/common.sh
. "$HERE/../../integration/cluster/lib/common.sh"
# shellcheck source=../../integration/cluster/lib/images.sh
. "$CLUSTER_SRC/lib/images.sh"

# Fabric line: its release, peer binary, module (for the sampleconfig) and
# the suffix of its cache stamps.
case ${FABRIC:-3.1} in
3.1) FABRIC_VERSION=3.1.1 PEER_BIN=$REPO_ROOT/bin/peer FABRIC_MODDIR=$REPO_ROOT STAMP= ;;
2.5) FABRIC_VERSION=2.5.9 PEER_BIN=$REPO_ROOT/bin/2.5/peer FABRIC_MODDIR=$REPO_ROOT/cmd/fabric-2.5 STAMP=-2.5 ;;
*) die "FABRIC=$FABRIC: the supported Fabric lines are 3.1 and 2.5" ;;
esac
PEER_IMAGE=${PEER_IMAGE:-$IMAGE_PREFIX/peer:$FABRIC_VERSION}
PEER_BASE_IMAGE=${PEER_BASE_IMAGE:-$IMAGE_PREFIX/peer-base:$FABRIC_VERSION}
BUILD_NS=fpk-peer-image
BUILD_TIMEOUT=${BUILD_TIMEOUT:-900}
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

DOCKERFILE=$REPO_ROOT/images/peer/Dockerfile
[ -x "$PEER_BIN" ] || die "$PEER_BIN missing: run 'make peer FABRIC=${FABRIC:-3.1}'"
registry_up || die "registry not running on $REGISTRY_ADDR: run 'integration/cluster/cluster.sh up'"
mkdir -p "$IMAGES" "$CACHE" "$LOGS"

# cached NAME KEY REF: stamp matches and the image is in the registry
cached() { [ "$FORCE" = 0 ] && image_cached "$1" "$2" "$3"; }

# ---------------------------------------------------------------- 1. base image (umoci + skopeo)
image_peer_base() {
	local key base fabric w r s
	fabric=$(cd "$FABRIC_MODDIR" && "$GO" list -mod=mod -m -f '{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' github.com/hyperledger/fabric)
	[ -f "$fabric/sampleconfig/core.yaml" ] || die "no sampleconfig in $fabric"
	base=$(ccenv_rootfs_tar)
	key=$(hash_str "$(declare -f image_peer_base oci_image layer_tar)" "$base" "$PEER_BASE_IMAGE" \
		"$(cd "$fabric/sampleconfig" && find core.yaml msp -type f -print0 | sort -z | xargs -0 sha256sum)")
	if cached "peer-base$STAMP" "$key" "$PEER_BASE_IMAGE"; then log "image peer-base: cached"; return 0; fi
	s=$(date +%s)
	w=$IMAGES/work/peer-base; r=$w/layout-root; rm -rf "$w"; mkdir -p "$r"
	mkdir -p "$r/etc/hyperledger/fabric" "$r/var/hyperledger/production" "$r/usr/local/bin"
	cp "$fabric/sampleconfig/core.yaml" "$r/etc/hyperledger/fabric/core.yaml"
	cp -r "$fabric/sampleconfig/msp" "$r/etc/hyperledger/fabric/msp"
	chmod -R u+w,go+rX "$r/etc/hyperledger"
	echo 'hosts: files dns' >"$r/etc/nsswitch.conf"
	chown -R 0:0 "$r"
	layer_tar "$r" "$w/layer-fabric.tar"
	oci_image "$w/layout" "$FABRIC_VERSION" \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.env FABRIC_CFG_PATH=/etc/hyperledger/fabric --config.env FABRIC_VER="$FABRIC_VERSION" \
		--config.exposedports 7051/tcp --config.cmd peer --config.cmd node --config.cmd start \
		-- "$base" "$w/layer-fabric.tar"
	push_image "$w/layout" "$FABRIC_VERSION" "$PEER_BASE_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/peer-base$STAMP.stamp"
	log "image peer-base: built in $(($(date +%s) - s))s"
	echo "$(date -u +%FT%TZ) peer-base-image $(($(date +%s) - s))s" >>"$CLUSTER_DIR/timings.log"
}

# ---------------------------------------------------------------- 2. Dockerfile step (Kaniko Job)
image_peer() {
	local key ctx s job digest
	key=$(hash_str "$(declare -f image_peer)" "$(cat "$IMAGES/peer-base$STAMP.stamp")" "$PEER_IMAGE" \
		"$(hash_files "$DOCKERFILE" "$PEER_BIN")")
	if cached "peer$STAMP" "$key" "$PEER_IMAGE"; then log "image peer: cached ($PEER_IMAGE)"; return 0; fi
	s=$(date +%s)
	# build context = repository layout reduced to what the Dockerfile uses (hard links, no copy)
	ctx=$IMAGES/peer-context; rm -rf "$ctx"; mkdir -p "$ctx/bin" "$ctx/images/peer"
	ln "$PEER_BIN" "$ctx/bin/peer" 2>/dev/null || cp "$PEER_BIN" "$ctx/bin/peer"
	cp "$DOCKERFILE" "$ctx/images/peer/Dockerfile"

	kubectl_ delete namespace "$BUILD_NS" --ignore-not-found --wait=true >/dev/null
	# hostPath + hostNetwork + uid 0 (Kaniko): only the "privileged" Pod Security level admits this.
	kubectl_ create namespace "$BUILD_NS" >/dev/null
	kubectl_ label namespace "$BUILD_NS" pod-security.kubernetes.io/enforce=privileged >/dev/null
	job=peer-image
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
		        - --dockerfile=/workspace/images/peer/Dockerfile
		        - --build-arg=BASE_IMAGE=$PEER_BASE_IMAGE
		        - --destination=$PEER_IMAGE
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
	log "Kaniko Job $BUILD_NS/$job building $PEER_IMAGE"
	local end=$((s + BUILD_TIMEOUT + 30)) st
	while :; do
		st=$(kubectl_ -n "$BUILD_NS" get job "$job" -o jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')
		case "$st" in *Complete*) break ;; *Failed*) break ;; esac
		[ "$(date +%s)" -lt "$end" ] || { st=Timeout; break; }
		sleep 3
	done
	kubectl_ -n "$BUILD_NS" logs "job/$job" >"$LOGS/peer-image-kaniko.log" 2>&1 || true
	case "$st" in *Complete*) ;; *)
		tail -n 30 "$LOGS/peer-image-kaniko.log" >&2
		kubectl_ -n "$BUILD_NS" describe job "$job" | tail -n 15 >&2
		die "peer image build failed ($st); log: $LOGS/peer-image-kaniko.log (namespace $BUILD_NS kept)" ;;
	esac
	digest=$(kubectl_ -n "$BUILD_NS" get pods -l job-name="$job" \
		-o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')
	kubectl_ delete namespace "$BUILD_NS" --wait=false >/dev/null
	rm -rf "$ctx"
	echo "$key" >"$IMAGES/peer$STAMP.stamp"
	log "image peer: built $PEER_IMAGE@$digest in $(($(date +%s) - s))s (Kaniko in-cluster)"
	echo "$(date -u +%FT%TZ) peer-image-kaniko $(($(date +%s) - s))s" >>"$CLUSTER_DIR/timings.log"
}

image_peer_base
image_peer
echo "$PEER_IMAGE"
