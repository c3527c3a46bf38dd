#!/usr/bin/env bash
# Copyright fabric-peer-k8s authors. All Rights Reserved.
# SPDX-License-Identifier: Apache-2.0
#
# Runs Fabric's own Ginkgo integration suites (integration/<suite> of the
# pinned Fabric module) against the patched peer in vm.type: k8s mode: chaincode
# is built by Kaniko and runs as Pods on the cluster.
#
#   FABRIC=3.1            Fabric line: 3.1 (v3.1.1, this module, bin/) or 2.5
#                         (v2.5.9, the module in cmd/fabric-2.5, bin/2.5/)
#   SUITES=lifecycle,e2e  suites to run (default: all that pass here, see README.md)
#   FOCUS=regex           ginkgo focus (optional)
#   FOCUS_<suite>=regex   ginkgo focus for one suite, e.g. FOCUS_e2e
#   KUBECONFIG            cluster (default .cluster/kubeconfig, the local cluster)
#   SUITE_TIMEOUT=60m     per suite
#   KEEP=1                keep the namespace (default: deleted at the end)
#
# How: a shadow copy of the line's module (go.mod, hard-linked vendor/) gets Fabric's
# integration/ tree in vendor/ with patches/*.patch applied (0001 is the set-up
# hook in nwo, the others are per-spec changes listed in README.md); each
# suite's test binary is built from it and runs in its copied directory.
# Writes .build/fabric-suites/report.md (FABRIC=2.5: .build/fabric-suites-2.5/).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
FABRIC_MOD=github.com/hyperledger/fabric
FABRIC=${FABRIC:-3.1}
# Per line: the module whose vendor tree holds the patched Fabric, the
# binaries, and the modules the module chaincode (step 1) requires.
case $FABRIC in
3.1)
	MODDIR=$REPO BINDIR=$REPO/bin BUILD=$REPO/.build/fabric-suites SKIPS=$HERE/skips.txt
	CC_MODS="github.com/hyperledger/fabric-chaincode-go/v2 github.com/hyperledger/fabric-protos-go-apiv2"
	;;
2.5)
	MODDIR=$REPO/cmd/fabric-2.5 BINDIR=$REPO/bin/2.5 BUILD=$REPO/.build/fabric-suites-2.5 SKIPS=$HERE/skips-2.5.txt
	CC_MODS="github.com/hyperledger/fabric-chaincode-go github.com/hyperledger/fabric-protos-go"
	;;
*)
	echo "fabric-suites: FABRIC=$FABRIC: the supported Fabric lines are 3.1 and 2.5" >&2
	exit 1
	;;
esac
SUITES=${SUITES:-lifecycle,e2e,sbe,pvtdatapurge,pvtdata,gateway,discovery,msp}
FOCUS=${FOCUS:-}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-60m}
export KUBECONFIG=${KUBECONFIG:-$REPO/.cluster/kubeconfig}
GO=${GO:-go}
KUBECTL=kubectl
[ -x "$REPO/.cluster/bin/kubectl" ] && KUBECTL=$REPO/.cluster/bin/kubectl

log() { echo "fabric-suites: $*" >&2; }
die() { log "$*"; exit 1; }

cd "$REPO"
for b in peer orderer configtxgen cryptogen osnadmin; do
	[ -x "$BINDIR/$b" ] || die "$BINDIR/$b missing: run 'make binaries FABRIC=$FABRIC' first"
done
[ -f "$KUBECONFIG" ] || die "kubeconfig $KUBECONFIG not found (make cluster-up)"
command -v jq >/dev/null || die "jq is needed by nwo"

# --- 1. shadow module: our go.mod and vendor tree + Fabric's integration/ ----
# The suites and nwo must stay at their import paths (nwo imports Fabric's
# internal/ packages), so they are built as vendored packages of a copy of this
# module: vendor/ hard-linked, Fabric's full integration/ tree copied into
# vendor/github.com/hyperledger/fabric/integration and patched, its packages
# added to vendor/modules.txt.
FABRIC_SRC=$(cd "$MODDIR" && $GO list -mod=mod -m -f '{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' $FABRIC_MOD)
[ -d "$FABRIC_SRC/integration" ] || die "no integration/ in $FABRIC_SRC"
[ -f "$MODDIR/vendor/modules.txt" ] || die "$MODDIR/vendor missing: run 'make vendor FABRIC=$FABRIC' first"
[ -f vendor/modules.txt ] || die "vendor/ missing: run 'make vendor' first"
SHADOW=$BUILD/shadow
VFAB=$SHADOW/vendor/$FABRIC_MOD
rm -rf "$SHADOW" "$BUILD/cc" "$BUILD/reports"
mkdir -p "$SHADOW" "$BUILD/cc" "$BUILD/bin" "$BUILD/reports"
cp -al "$MODDIR/vendor" "$SHADOW/vendor"
rm -rf "$VFAB/integration" "$SHADOW/vendor/modules.txt"
cp -r "$FABRIC_SRC/integration" "$VFAB/"
chmod -R u+w "$VFAB/integration"
for p in "$HERE"/patches/*.patch; do
	log "applying $(basename "$p")"
	patch -s -p1 -d "$VFAB" --no-backup-if-mismatch <"$p" || die "$(basename "$p") does not apply"
done
# module zips drop file modes: the external builders' scripts must be executable
chmod +x "$VFAB"/integration/externalbuilders/*/bin/*
# nwo configures the chaincode-as-a-service builder of a Fabric release tree
# (release/<os>-<arch>/builders/ccaas), which the module does not ship: ours
# (ccaas-builder/) implements the same detect/build/release contract.
CCAAS=$VFAB/release/$($GO env GOOS)-$($GO env GOARCH)/builders/ccaas/bin
mkdir -p "$CCAAS"
$GO build -mod=vendor -o "$CCAAS/detect" ./integration/fabric-suites/ccaas-builder
ln "$CCAAS/detect" "$CCAAS/build" && ln "$CCAAS/detect" "$CCAAS/release"
cp "$MODDIR/go.mod" "$MODDIR/go.sum" "$SHADOW/"
# A replacement by relative path (cmd/fabric-2.5's "=> ../..") is made
# absolute, in go.mod and in the vendor manifest alike.
if [ "$MODDIR" != "$REPO" ]; then
	sed -i "s#=> \.\./\.\.\$#=> $REPO#" "$SHADOW/go.mod"
	sed "s#=> \.\./\.\.\$#=> $REPO#" "$MODDIR/vendor/modules.txt" >"$BUILD/modules.txt"
else
	cp vendor/modules.txt "$BUILD/modules.txt"
fi
# packages the suites import that the line's module does not: "<module> <package>"
EXTRA_PKGS="github.com/onsi/gomega github.com/onsi/gomega/gmeasure
github.com/onsi/gomega github.com/onsi/gomega/gmeasure/table
$FABRIC_MOD $FABRIC_MOD/internal/test"
SUITE_PKGS=
IFS=',' read -ra suites <<<"$SUITES"
for s in "${suites[@]}"; do SUITE_PKGS="$SUITE_PKGS $FABRIC_MOD/integration/$s"; done
{
	# Fabric's integration packages (nested modules such as
	# integration/chaincode/module are not packages of Fabric's module)
	(cd "$VFAB" && find integration -name '*.go' -printf '%h\n' | sort -u |
		while read -r d; do
			nested=; x=$d; while [ "$x" != . ]; do [ -f "$x/go.mod" ] && nested=1; x=$(dirname "$x"); done
			[ -z "$nested" ] && echo "$FABRIC_MOD $FABRIC_MOD/$d"
		done)
	echo "$EXTRA_PKGS"
	# everything the suites import (the Fabric 2.5 module vendors no test
	# framework), resolved offline in the module graph
	(cd "$SHADOW" && GOFLAGS=-mod=mod GOPROXY=off GOWORK=off GOTOOLCHAIN=local \
		$GO list -deps -test -f '{{with .Module}}{{.Path}} {{end}}{{.ImportPath}}' $SUITE_PKGS | awk 'NF == 2')
} | sort -u | awk 'NR == FNR { if ($0 !~ /^#/) have[$0] = 1; next } !($2 in have)' "$BUILD/modules.txt" - >"$BUILD/extra-pkgs"
while read -r m p; do
	case $p in "$FABRIC_MOD"/integration | "$FABRIC_MOD"/integration/*) continue ;; esac # copied above
	src=$(cd "$MODDIR" && $GO list -mod=mod -m -f '{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' "$m")/${p#"$m"}
	mkdir -p "$SHADOW/vendor/$p" &&
		find "$src" -maxdepth 1 -type f ! -name '*_test.go' -exec cp {} "$SHADOW/vendor/$p/" \; &&
		chmod -R u+w "$SHADOW/vendor/$p"
done <"$BUILD/extra-pkgs"
# modules none of whose packages the line's module vendors: required and
# listed explicitly, with the Go version their packages are compiled for
: >"$BUILD/extra-mods"
for m in $(awk '{ print $1 }' "$BUILD/extra-pkgs" | sort -u); do
	grep -q "^# $m " "$BUILD/modules.txt" && continue
	read -r v gv < <(cd "$MODDIR" && $GO list -mod=mod -m -f '{{.Version}} {{.GoVersion}}' "$m")
	(cd "$SHADOW" && $GO mod edit -require="$m@$v")
	{ echo "# $m $v"; echo "## explicit${gv:+; go $gv}"; awk -v m="$m" '$1 == m { print $2 }' "$BUILD/extra-pkgs"; } >>"$BUILD/extra-mods"
done
awk 'NR == FNR { extra[$1] = extra[$1] $2 "\n"; next }
	/^# / { if (cur != "") printf "%s", extra[cur]; cur = ""; split($0, f, " "); if (f[2] in extra) cur = f[2] }
	{ print }
	END { if (cur != "") printf "%s", extra[cur] }' "$BUILD/extra-pkgs" "$BUILD/modules.txt" >"$SHADOW/vendor/modules.txt"
cat "$BUILD/extra-mods" >>"$SHADOW/vendor/modules.txt"

# integration/chaincode/module is a nested Go module, left out of Fabric's
# module zip; e2e packages it by directory. Recreate it from the simple
# chaincode as a module and vendor it offline, so the in-cluster build (go
# build -mod=vendor) needs no network.
MODCC=$VFAB/integration/chaincode/module
if [ ! -f "$MODCC/go.mod" ]; then
	mkdir -p "$MODCC/simple"
	cp "$VFAB/integration/chaincode/simple/chaincode.go" "$MODCC/simple/"
	sed "s#$FABRIC_MOD/integration/chaincode/simple\"#$FABRIC_MOD/integration/chaincode/module/simple\"#" \
		"$VFAB/integration/chaincode/simple/cmd/main.go" >"$MODCC/main.go"
	{
		echo "module $FABRIC_MOD/integration/chaincode/module"
		echo
		echo "go 1.24"
		echo
		for m in $CC_MODS; do
			echo "require $m $(cd "$MODDIR" && $GO list -mod=mod -m -f '{{.Version}}' $m)"
		done
	} >"$MODCC/go.mod"
	cp "$MODDIR/go.sum" "$MODCC/go.sum"
	# tidy may select versions (e.g. of grpc) that Fabric's go.sum does not
	# list: it takes them, and their checksums, through the module proxy
	# (GOPROXY=off would need a checksum database cached by an earlier run);
	# the vendoring after it is offline.
	(cd "$MODCC" && GOFLAGS=-mod=mod GOWORK=off GOTOOLCHAIN=local $GO mod tidy &&
		GOFLAGS=-mod=mod GOPROXY=off GOWORK=off GOTOOLCHAIN=local $GO mod vendor) || die "cannot vendor the module chaincode"
fi

# --- 2. offline Go for the chaincode packaging (peer CLI and nwo) -------------
# `go list` of chaincode import paths runs in the suite directory, i.e. in the
# shadow module (a copy of go.mod/go.sum that -mod=mod may rewrite), and
# resolves from the module cache; directory (module) chaincode uses its own go.mod.
CC_GOFLAGS="-mod=mod -buildvcs=false"

# --- 3. namespace and core.yaml template -------------------------------------
NS=${FABRIC_SUITES_NAMESPACE:-fpk-fabric-suites-$(head -c3 /dev/urandom | od -An -tx1 | tr -d ' \n')}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	if [ -z "${KEEP:-}" ]; then
		log "deleting namespace $NS"
		$KUBECTL delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
	fi
}
$KUBECTL create namespace "$NS" >/dev/null
trap cleanup EXIT
$GO build -mod=vendor -o "$BUILD/bin/coretemplate" ./integration/fabric-suites/coretemplate
"$BUILD/bin/coretemplate" -fabric "$FABRIC" -kubeconfig "$KUBECONFIG" -namespace "$NS" -o "$BUILD/core-k8s.yaml.tmpl"
$GO build -mod=vendor -o "$BUILD/bin/report" ./integration/fabric-suites/report

# --- 4. skips ---------------------------------------------------------------
# skips.txt (FABRIC=2.5: skips-2.5.txt): suite|regex on the full spec text|reason
skip_regex() {
	local suite=$1 re=""
	while IFS='|' read -r s rx _; do
		[[ -z "$s" || "$s" == \#* ]] && continue
		[ "$s" = "$suite" ] || continue
		re="${re:+$re|}($rx)"
	done <"$SKIPS"
	echo "$re"
}

# --- 5. run -------------------------------------------------------------------
# vm_counts prints "<build Jobs> <chaincode Pods>" that started since $1 (UTC,
# RFC 3339) in the namespace, from the Job controller's and the kubelet's
# Events: evidence in the report that a suite's chaincode was built by Kaniko
# and ran as Pods.
vm_counts() {
	$KUBECTL get events -n "$NS" -o json | jq -r --arg since "$1" '[.items[] | select((.firstTimestamp // .eventTime // "") >= $since)] | [
		([.[] | select(.involvedObject.kind == "Job" and .reason == "Completed") | .involvedObject.name] | unique | length),
		([.[] | select(.involvedObject.kind == "Pod" and .reason == "Started" and .involvedObject.fieldPath == "spec.containers{chaincode}") | .involvedObject.name] | unique | length)
	] | "\(.[0]) \(.[1])"'
}
rc=0
IFS=',' read -ra suites <<<"$SUITES"
for s in "${suites[@]}"; do
	[ -d "$VFAB/integration/$s" ] || die "no suite integration/$s"
	log "building suite $s"
	(cd "$SHADOW" && nice "$GO" test -mod=vendor -c -o "$BUILD/bin/$s.test" "$FABRIC_MOD/integration/$s")
	args=(-test.timeout "$SUITE_TIMEOUT" -ginkgo.v -ginkgo.no-color
		-ginkgo.json-report "$BUILD/reports/$s.json")
	skip=$(skip_regex "$s")
	[ -n "$skip" ] && args+=(-ginkgo.skip "$skip")
	focus_var="FOCUS_$s" # FOCUS_<suite> overrides FOCUS for that suite
	focus=${!focus_var:-$FOCUS}
	[ -n "$focus" ] && args+=(-ginkgo.focus "$focus")
	log "running suite $s in namespace $NS"
	start=$(date +%s)
	since=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	(cd "$VFAB/integration/$s" &&
		env FABRIC_K8S_CORE_TEMPLATE="$BUILD/core-k8s.yaml.tmpl" \
			FABRIC_K8S_BIN_DIR="$BINDIR" FABRIC_K8S_CC_ROOT="$BUILD/cc" \
			FABRIC_K8S_NAMESPACE="$NS" FABRIC_K8S_KUBECTL="$KUBECTL" \
			GOFLAGS="$CC_GOFLAGS" GOPROXY=off GOTOOLCHAIN=local GOWORK=off \
			nice "$BUILD/bin/$s.test" "${args[@]}") 2>&1 | tee "$BUILD/reports/$s.log" || rc=1
	took=$(($(date +%s) - start))
	read -r builds pods < <(vm_counts "$since")
	echo "$s $took $builds $pods" >>"$BUILD/reports/durations"
	log "suite $s: ${took}s"
done

"$BUILD/bin/report" -skips "$SKIPS" -durations "$BUILD/reports/durations" \
	-o "$BUILD/report.md" "$BUILD"/reports/*.json || rc=1
rm -f "$BUILD/reports/durations"
log "report: $BUILD/report.md"
exit $rc
