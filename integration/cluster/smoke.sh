#!/usr/bin/env bash
# Smoke test for the local cluster (run after `cluster.sh up`). Everything happens in the namespace
# "cluster-smoke", which is deleted at the end (as is the image Kaniko pushed).
#   1. busybox hostNetwork pod runs to completion
#   2. busybox pod on the bridge network (10.244.0.0/24)
#   3. Kaniko Job: FROM baseos + COPY, pushed to the local registry, digest via the termination message;
#      then a pod runs the built image by digest
#   4. ccenv Job: compiles a Go program statically with external linking (no network needed)
set -euo pipefail

# shellcheck source=lib/common.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

NS=cluster-smoke
BUILT_REPO=fabric-peer-k8s/smoke-built
BUILT_TAG=t$(date +%s)
k() { kubectl_ -n "$NS" "$@"; }

cleanup() {
	local rc=$?
	kubectl_ delete namespace "$NS" --wait=true --timeout=90s >/dev/null 2>&1 || true
	# delete the image Kaniko pushed (registry has delete enabled; blobs are reclaimed by registry GC)
	local d
	d=$(curl -sf -I -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		-H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
		"http://$REGISTRY_ADDR/v2/$BUILT_REPO/manifests/$BUILT_TAG" 2>/dev/null |
		awk 'tolower($1)=="docker-content-digest:" {print $2}' | tr -d '\r') || true
	[ -z "$d" ] || curl -sf -X DELETE "http://$REGISTRY_ADDR/v2/$BUILT_REPO/manifests/$d" >/dev/null || true
	if [ $rc -eq 0 ]; then log "SMOKE TEST PASSED"; else log "SMOKE TEST FAILED (rc=$rc)"; fi
}

# wait_pod NAME TIMEOUT: until the pod Succeeded (fail on Failed)
wait_pod() {
	local end=$(($(date +%s) + $2)) phase
	while :; do
		phase=$(k get pod "$1" -o jsonpath='{.status.phase}' 2>/dev/null || true)
		case $phase in
		Succeeded) return 0 ;;
		Failed) k logs "$1" --all-containers >&2 || true; die "pod $1 failed" ;;
		esac
		[ "$(date +%s)" -lt "$end" ] || { k describe pod "$1" >&2 || true; die "timeout waiting for pod $1"; }
		sleep 0.5
	done
}

# wait_job NAME TIMEOUT: until the job has a succeeded pod (fail on a failed one)
wait_job() {
	local end=$(($(date +%s) + $2)) st
	while :; do
		st=$(k get job "$1" -o jsonpath='{.status.succeeded}/{.status.failed}' 2>/dev/null || true)
		case $st in
		[1-9]*/*) return 0 ;;
		*/[1-9]*) k logs "job/$1" --all-containers >&2 || true; die "job $1 failed" ;;
		esac
		[ "$(date +%s)" -lt "$end" ] || { k describe job "$1" >&2 || true; k describe pods -l job-name="$1" >&2 || true; die "timeout waiting for job $1"; }
		sleep 0.5
	done
}

elapsed() { echo "$(($(date +%s%N) / 1000000 - $1))ms"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

main() {
	[ -f "$KUBECONFIG_FILE" ] || die "no cluster (run: cluster.sh up)"
	kubectl_ get node "$NODE_NAME" >/dev/null || die "cluster not reachable"
	trap cleanup EXIT
	kubectl_ delete namespace "$NS" --wait=true --timeout=90s >/dev/null 2>&1 || true
	kubectl_ create namespace "$NS" >/dev/null
	waitfor "serviceaccount $NS/default" 60 - kubectl_ -n "$NS" get serviceaccount default

	# ---- 1. hostNetwork busybox pod
	local t; t=$(now_ms)
	k apply -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: Pod
		metadata: {name: hostnet}
		spec:
		  hostNetwork: true
		  restartPolicy: Never
		  terminationGracePeriodSeconds: 1
		  containers:
		  - name: c
		    image: $BUSYBOX_IMAGE
		    imagePullPolicy: IfNotPresent
		    command: ["/bin/sh", "-c", "echo hostnet-ok \$(hostname) uid=\$(id -u)"]
	EOF
	wait_pod hostnet 120
	log "1/4 hostNetwork pod: $(k logs hostnet) ($(elapsed "$t"))"

	# ---- 2. bridge-network busybox pod
	t=$(now_ms)
	k apply -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: Pod
		metadata: {name: bridged}
		spec:
		  restartPolicy: Never
		  terminationGracePeriodSeconds: 1
		  containers:
		  - name: c
		    image: $BUSYBOX_IMAGE
		    imagePullPolicy: IfNotPresent
		    command: ["/bin/sh", "-c", "ip -4 -o addr show eth0 | awk '{print \$4}'"]
	EOF
	wait_pod bridged 120
	local ip; ip=$(k logs bridged)
	case $ip in 10.244.0.*) ;; *) die "bridge pod got unexpected address '$ip'" ;; esac
	log "2/4 bridge-network pod: eth0 $ip ($(elapsed "$t"))"

	# ---- 3. Kaniko build + push, digest from the termination message
	t=$(now_ms)
	k apply -f - >/dev/null <<-EOF
		apiVersion: batch/v1
		kind: Job
		metadata: {name: kaniko}
		spec:
		  backoffLimit: 0
		  template:
		    spec:
		      hostNetwork: true            # reach the registry on 127.0.0.1:5000
		      restartPolicy: Never
		      volumes:
		      - {name: ctx, emptyDir: {}}
		      initContainers:
		      - name: context
		        image: $BUSYBOX_IMAGE
		        command: ["/bin/sh", "-c"]
		        args:
		        - |
		          printf 'FROM $BASEOS_IMAGE\nCOPY hello.txt /hello.txt\n' > /ctx/Dockerfile
		          echo "built by kaniko in-cluster" > /ctx/hello.txt
		        volumeMounts: [{name: ctx, mountPath: /ctx}]
		      containers:
		      - name: kaniko
		        image: $KANIKO_IMAGE
		        args:
		        - --context=dir:///workspace
		        - --dockerfile=/workspace/Dockerfile
		        - --destination=$REGISTRY_HOST/$BUILT_REPO:$BUILT_TAG
		        - --digest-file=/dev/termination-log
		        - --insecure
		        - --insecure-pull
		        - --skip-tls-verify
		        - --skip-tls-verify-pull
		        - --verbosity=warn
		        volumeMounts: [{name: ctx, mountPath: /workspace}]
	EOF
	wait_job kaniko 300
	local digest
	digest=$(k get pods -l job-name=kaniko -o jsonpath='{.items[0].status.containerStatuses[0].state.terminated.message}')
	case $digest in sha256:*) ;; *) die "no digest in kaniko termination message: '$digest'" ;; esac
	log "3/4 kaniko build+push: $REGISTRY_HOST/$BUILT_REPO@$digest ($(elapsed "$t"))"
	t=$(now_ms)
	k apply -f - >/dev/null <<-EOF
		apiVersion: v1
		kind: Pod
		metadata: {name: run-built}
		spec:
		  hostNetwork: true
		  restartPolicy: Never
		  securityContext: {runAsUser: 10001, runAsGroup: 10001}
		  containers:
		  - name: c
		    image: $REGISTRY_HOST/$BUILT_REPO@$digest
		    command: ["/bin/sh", "-c", "cat /hello.txt /etc/baseos-release; id"]
	EOF
	wait_pod run-built 120
	log "    ran built image by digest as uid 10001: $(k logs run-built | tr '\n' ' ') ($(elapsed "$t"))"

	# ---- 4. ccenv: static, externally linked Go build (bridge network: no registry/proxy access needed)
	t=$(now_ms)
	k apply -f - >/dev/null <<-EOF
		apiVersion: batch/v1
		kind: Job
		metadata: {name: ccenv}
		spec:
		  backoffLimit: 0
		  template:
		    spec:
		      restartPolicy: Never
		      containers:
		      - name: build
		        image: $CCENV_IMAGE
		        command: ["/bin/bash", "-ec"]
		        args:
		        - |
		          mkdir -p /chaincode/input/src && cd /chaincode/input/src
		          printf 'module smoke\n\ngo 1.21\n' > go.mod
		          printf 'package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("static chaincode-style binary ok") }\n' > main.go
		          mkdir -p vendor && : > vendor/modules.txt   # Fabric's "go.mod + vendor" path
		          go build -mod=vendor -ldflags "-linkmode external -extldflags '-static'" -o /chaincode/output/chaincode .
		          if readelf -l /chaincode/output/chaincode | grep -q interpreter; then echo "NOT static"; exit 1; fi
		          /chaincode/output/chaincode
		          go version
	EOF
	wait_job ccenv 600
	log "4/4 ccenv build: $(k logs job/ccenv | tr '\n' ' ') ($(elapsed "$t"))"
}

main "$@"
