# shellcheck shell=bash
# Locally built images (no external registry): root filesystems -> layer tars -> OCI layout (umoci)
# -> pushed to the local registry (skopeo) or, for the pause image, a docker-archive for `ctr import`.
#
# Every image is cached: $IMAGES/NAME.stamp records a hash of its recipe (the bash functions that
# build it) and inputs; the image is rebuilt only when that hash changes or it is missing from the
# registry.

CCENV_SUITE=bookworm
# Packages added to the debootstrap minbase system: gcc + libc6-dev are what Fabric's Go chaincode
# build needs (static external link: -linkmode external -extldflags '-static').
CCENV_PACKAGES=gcc,libc6-dev,ca-certificates

# ---------------------------------------------------------------- generic helpers

# oci_image LAYOUT TAG CONFIG_ARGS... -- LAYER_TAR...: build an OCI image from uncompressed layer tars.
oci_image() {
	local layout=$1 tag=$2; shift 2
	local cfg=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do cfg+=("$1"); shift; done
	shift # --
	rm -rf "$layout"
	umoci init --layout "$layout"
	umoci new --image "$layout:$tag"
	local l
	for l in "$@"; do
		umoci raw add-layer --image "$layout:$tag" --history.created_by "fabric-peer-k8s cluster.sh $(basename "$l")" "$l"
	done
	umoci config --image "$layout:$tag" --os linux --architecture "$(dpkg --print-architecture)" "${cfg[@]}"
	umoci gc --layout "$layout"
}

# layer_tar DIR OUT: uncompressed tar of DIR's contents with numeric owners and stable ordering.
layer_tar() {
	tar -C "$1" --numeric-owner --sort=name --mtime=@0 -cf "$2" .
}

# push LAYOUT TAG REF: push an OCI layout image to the local (plain-http) registry.
push_image() {
	skopeo copy --quiet --dest-tls-verify=false "oci:$1:$2" "docker://$3"
	log "pushed $3"
}

# image_cached NAME KEY REF: stamp matches and the image is present in the registry.
image_cached() {
	local name=$1 key=$2 ref=$3 repo tag
	repo=${ref#*/}; tag=${repo##*:}; repo=${repo%:*}
	[ "$(cat "$IMAGES/$name.stamp" 2>/dev/null)" = "$key" ] && registry_has "$repo" "$tag"
}

# minimal /etc for images: root + chaincode (10001) users, nsswitch, CA bundle, /tmp 1777
base_etc() {
	local r=$1
	mkdir -p "$r/etc/ssl/certs" "$r/tmp" "$r/root" "$r/home/chaincode" "$r/bin"
	chmod 1777 "$r/tmp"
	chmod 700 "$r/root"
	cat >"$r/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		chaincode:x:10001:10001:chaincode:/home/chaincode:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$r/etc/group" <<-'EOF'
		root:x:0:
		chaincode:x:10001:
		nogroup:x:65534:
	EOF
	chown 10001:10001 "$r/home/chaincode"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
	cp /etc/ssl/certs/ca-certificates.crt "$r/etc/ssl/certs/ca-certificates.crt"
}

# busybox_rootfs DIR: Debian's busybox-static with all applet links
busybox_rootfs() {
	local r=$1 a
	mkdir -p "$r/bin"
	cp /bin/busybox "$r/bin/busybox"
	for a in $(/bin/busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$r/bin/$a"
	done
	mkdir -p "$r/usr/bin" "$r/sbin" "$r/usr/sbin"
	ln -sf /bin/env "$r/usr/bin/env"
}

# ---------------------------------------------------------------- pause (imported into containerd)

image_pause() {
	local key w
	key=$(hash_str "$(declare -f image_pause oci_image layer_tar)" "$(hash_files "$CLUSTER_SRC/images/pause.c")")
	if [ "$(cat "$IMAGES/pause.stamp" 2>/dev/null)" = "$key" ] && [ -f "$IMAGES/pause.tar" ]; then
		log "image pause: cached"; return 0
	fi
	w=$IMAGES/work/pause; rm -rf "$w"; mkdir -p "$w/rootfs"
	gcc -static -O2 -o "$w/rootfs/pause" "$CLUSTER_SRC/images/pause.c"
	strip "$w/rootfs/pause"
	layer_tar "$w/rootfs" "$w/layer.tar"
	oci_image "$w/layout" 3.10 --config.entrypoint /pause -- "$w/layer.tar"
	rm -f "$IMAGES/pause.tar"
	skopeo copy --quiet "oci:$w/layout:3.10" "docker-archive:$IMAGES/pause.tar:$PAUSE_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/pause.stamp"
	log "image pause: built $IMAGES/pause.tar ($PAUSE_IMAGE)"
}

# ---------------------------------------------------------------- busybox (tests)

image_busybox() {
	local key w
	key=$(hash_str "$(declare -f image_busybox busybox_rootfs base_etc oci_image layer_tar)" "$(hash_files /bin/busybox)")
	if image_cached busybox "$key" "$BUSYBOX_IMAGE"; then log "image busybox: cached"; return 0; fi
	w=$IMAGES/work/busybox; rm -rf "$w"; mkdir -p "$w/rootfs"
	busybox_rootfs "$w/rootfs"
	base_etc "$w/rootfs"
	layer_tar "$w/rootfs" "$w/layer.tar"
	oci_image "$w/layout" 1 --config.cmd /bin/sh \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -- "$w/layer.tar"
	push_image "$w/layout" 1 "$BUSYBOX_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/busybox.stamp"
}

# ---------------------------------------------------------------- coredns (cluster DNS)
# The CoreDNS binary built from coredns-tools/ (cluster.sh build), as root's only file; the Deployment
# (config/coredns.yaml.in) runs it as nobody, without capabilities, on port 1053.

image_coredns() {
	local key w
	key=$(hash_str "$(declare -f image_coredns base_etc oci_image layer_tar)" "$(cat "$BIN/coredns.stamp")")
	if image_cached coredns "$key" "$COREDNS_IMAGE"; then log "image coredns: cached"; return 0; fi
	w=$IMAGES/work/coredns; rm -rf "$w"; mkdir -p "$w/rootfs"
	base_etc "$w/rootfs"
	cp "$BIN/coredns" "$w/rootfs/coredns"
	layer_tar "$w/rootfs" "$w/layer.tar"
	oci_image "$w/layout" "$COREDNS_VERSION" --config.entrypoint /coredns -- "$w/layer.tar"
	push_image "$w/layout" "$COREDNS_VERSION" "$COREDNS_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/coredns.stamp"
}

# ---------------------------------------------------------------- kubectl (cluster checks)
# busybox with kubectl (the multicall binary, which runs as kubectl by its name): the client of the
# Services check of `cluster.sh up`, which reads the API server through the kubernetes Service with
# the pod's in-cluster configuration (busybox's wget has no working TLS).

image_kubectl() {
	local key w
	key=$(hash_str "$(declare -f image_kubectl busybox_rootfs base_etc oci_image layer_tar)" "$(hash_files /bin/busybox "$BIN/k8s.stamp")")
	if image_cached kubectl "$key" "$KUBECTL_IMAGE"; then log "image kubectl: cached"; return 0; fi
	w=$IMAGES/work/kubectl; rm -rf "$w"; mkdir -p "$w/rootfs/usr/local/bin"
	busybox_rootfs "$w/rootfs"
	base_etc "$w/rootfs"
	cp "$BIN/k8s" "$w/rootfs/usr/local/bin/kubectl"
	layer_tar "$w/rootfs" "$w/layer.tar"
	oci_image "$w/layout" "$K8S_VERSION" --config.cmd /bin/sh \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin -- "$w/layer.tar"
	push_image "$w/layout" "$K8S_VERSION" "$KUBECTL_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/kubectl.stamp"
}

# ---------------------------------------------------------------- baseos (chaincode runtime)
# Equivalent of Fabric's baseos: a minimal runtime for statically linked chaincode binaries.
# USER is not set: the pod spec sets runAsUser (10001 = chaincode).

image_baseos() {
	local key w
	key=$(hash_str "$(declare -f image_baseos busybox_rootfs base_etc oci_image layer_tar)" "$(hash_files /bin/busybox /etc/ssl/certs/ca-certificates.crt)")
	if image_cached baseos "$key" "$BASEOS_IMAGE"; then log "image baseos: cached"; return 0; fi
	w=$IMAGES/work/baseos; rm -rf "$w"; mkdir -p "$w/rootfs"
	busybox_rootfs "$w/rootfs"
	base_etc "$w/rootfs"
	echo "fabric-peer-k8s baseos 3.1 (busybox $(/bin/busybox | head -1 | awk '{print $2}'))" >"$w/rootfs/etc/baseos-release"
	layer_tar "$w/rootfs" "$w/layer.tar"
	oci_image "$w/layout" 3.1 --config.cmd /bin/sh \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt -- "$w/layer.tar"
	push_image "$w/layout" 3.1 "$BASEOS_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/baseos.stamp"
}

# ---------------------------------------------------------------- kaniko executor
# Layout of the upstream executor image: /kaniko/executor, /kaniko/ssl/certs, /kaniko/.docker.

image_kaniko() {
	local key w r
	[ -x "$BIN/executor" ] || die "kaniko executor not built (run: cluster.sh build)"
	key=$(hash_str "$(declare -f image_kaniko oci_image layer_tar)" "$(hash_files "$BIN/executor" /etc/ssl/certs/ca-certificates.crt)")
	if image_cached kaniko "$key" "$KANIKO_IMAGE"; then log "image kaniko: cached"; return 0; fi
	w=$IMAGES/work/kaniko; r=$w/rootfs; rm -rf "$w"
	mkdir -p "$r/kaniko/ssl/certs" "$r/kaniko/.docker" "$r/etc" "$r/workspace" "$r/root" "$r/tmp"
	chmod 777 "$r/kaniko"; chmod 1777 "$r/tmp"
	cp "$BIN/executor" "$r/kaniko/executor"
	cp /etc/ssl/certs/ca-certificates.crt "$r/kaniko/ssl/certs/"
	printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$r/etc/nsswitch.conf"
	layer_tar "$r" "$w/layer.tar"
	oci_image "$w/layout" "$KANIKO_VERSION" --config.entrypoint /kaniko/executor --config.workingdir /workspace \
		--config.env HOME=/root --config.env USER=root --config.env PATH=/usr/local/bin:/kaniko \
		--config.env SSL_CERT_DIR=/kaniko/ssl/certs --config.env DOCKER_CONFIG=/kaniko/.docker/ -- "$w/layer.tar"
	push_image "$w/layout" "$KANIKO_VERSION" "$KANIKO_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/kaniko.stamp"
}

# ---------------------------------------------------------------- ccenv (chaincode builder)

# debian_mirror: the Debian archive URI apt is configured with for $CCENV_SUITE (one-line and
# deb822 formats), so nothing host-specific is committed.
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$CCENV_SUITE" '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i+1)==s) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return 0; }
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk -v s="$CCENV_SUITE" 'BEGIN{RS=""; FS="\n"}
			{ u=""; ok=0; deb=0
			  for (i=1;i<=NF;i++) {
			    if ($i ~ /^URIs:/) { u=$i; sub(/^URIs:[ \t]*/,"",u); sub(/[ \t].*/,"",u) }
			    if ($i ~ /^Suites:/) { n=split($i,a,/[ \t]+/); for (j=2;j<=n;j++) if (a[j]==s) ok=1 }
			    if ($i ~ /^Types:.*(^|[ \t])deb([ \t]|$)/) deb=1 }
			  if (ok && deb && u!="") { print u; exit } }' "$f")
		[ -n "$uri" ] && { echo "$uri"; return 0; }
	done
	die "no apt source for suite $CCENV_SUITE found in /etc/apt"
}

# ccenv_rootfs_tar: path of the cached debootstrap rootfs tarball (built on first use).
ccenv_rootfs_tar() {
	local key out mirror r
	key=$(hash_str "$CCENV_SUITE" "$CCENV_PACKAGES" "$(declare -f ccenv_rootfs_tar)" | cut -c1-16)
	out=$CACHE/ccenv-rootfs-$CCENV_SUITE-$key.tar
	if [ -f "$out" ]; then echo "$out"; return 0; fi
	mirror=$(debian_mirror)
	r=${CACHE:?}/work-debootstrap; rm -rf "$r"; mkdir -p "$CACHE"
	log "debootstrap --variant=minbase $CCENV_SUITE (+$CCENV_PACKAGES) from $mirror"
	local s; s=$(date +%s)
	debootstrap --variant=minbase --include="$CCENV_PACKAGES" "$CCENV_SUITE" "$r" "$mirror" \
		>"$LOGS/debootstrap.log" 2>&1 || { tail -n 20 "$LOGS/debootstrap.log" >&2; die "debootstrap failed"; }
	log "debootstrap took $(($(date +%s) - s))s"
	# slim down: package caches, docs, device nodes (the runtime provides /dev), host-specific files
	# shellcheck disable=SC2115 # $r is set above
	rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/lib/apt/lists/* "$r"/usr/share/doc/* \
		"$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/* "$r"/dev/* "$r"/etc/hostname \
		"$r"/etc/resolv.conf "$r"/tmp/*
	find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
	chmod 1777 "$r/tmp"
	layer_tar "$r" "$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$r"
	log "cached ccenv rootfs: $out ($(du -h "$out" | cut -f1))"
	echo "$out"
}

# ccenv_selftest ROOTFS: compile a cgo-less static and an externally linked static Go program in a
# chroot of the assembled image rootfs (private mount namespace: mounts vanish with it).
ccenv_selftest() {
	local r=$1
	mkdir -p "$r/tmp/selftest"
	cat >"$r/tmp/selftest/main.go" <<-'EOF'
		package main

		import "fmt"

		func main() { fmt.Println("hello from ccenv") }
	EOF
	printf 'module selftest\n\ngo 1.21\n' >"$r/tmp/selftest/go.mod"
	# shellcheck disable=SC2016 # script for the inner shell
	unshare -m -- sh -ec '
		r=$1
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		chroot "$r" /usr/bin/env -i PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/root GOPATH=/go GOCACHE=/tmp/gocache GOTOOLCHAIN=local GOPROXY=off GOFLAGS=-buildvcs=false \
			sh -ec "cd /tmp/selftest
				CGO_ENABLED=0 go build -o hello-static .
				go build -ldflags \"-linkmode external -extldflags '"'"'-static'"'"'\" -o hello-ext .
				./hello-static >&2; ./hello-ext >&2"
	' sh "$r"
	local b
	for b in hello-static hello-ext; do
		if readelf -l "$r/tmp/selftest/$b" | grep -q 'interpreter'; then die "ccenv selftest: $b is not static"; fi
	done
	rm -rf "$r/tmp/selftest" "$r/tmp/gocache" "$r/root/.cache"
	log "ccenv selftest ok (static cgo-less + external static link)"
}

image_ccenv() {
	local key base w r goroot
	goroot=$("$GO" env GOROOT)
	base=$(ccenv_rootfs_tar)
	key=$(hash_str "$(declare -f image_ccenv ccenv_selftest oci_image layer_tar)" "$base" "$("$GO" version)" "$goroot")
	if image_cached ccenv "$key" "$CCENV_IMAGE"; then log "image ccenv: cached"; return 0; fi
	local s; s=$(date +%s)
	w=$IMAGES/work/ccenv; rm -rf "$w"; mkdir -p "$w/go/usr/local" "$w/rootfs"
	# layer 2: the host's Go toolchain (without tests/docs) + Fabric's build directories
	tar -C "$goroot/.." --exclude='go/test' --exclude='go/doc' --exclude='go/api' --exclude='*/testdata' \
		-cf - "$(basename "$goroot")" | tar -C "$w/go/usr/local" -xf -
	[ "$(basename "$goroot")" = go ] || mv "$w/go/usr/local/$(basename "$goroot")" "$w/go/usr/local/go"
	chown -R 0:0 "$w/go/usr/local/go"
	mkdir -p "$w/go/chaincode/input" "$w/go/chaincode/output" "$w/go/go/src" "$w/go/go/bin" "$w/go/go/pkg" "$w/go/tmp"
	chmod 0777 "$w/go/chaincode/input" "$w/go/chaincode/output" "$w/go/go" "$w/go/go/src" "$w/go/go/bin" "$w/go/go/pkg"
	chmod 1777 "$w/go/tmp"
	mkdir -p "$w/go/etc"
	tar -C "$w/go" -xf "$base" ./etc/passwd ./etc/group
	grep -q '^chaincode:' "$w/go/etc/passwd" || echo 'chaincode:x:10001:10001:chaincode:/home/chaincode:/bin/sh' >>"$w/go/etc/passwd"
	grep -q '^chaincode:' "$w/go/etc/group" || echo 'chaincode:x:10001:' >>"$w/go/etc/group"
	mkdir -p "$w/go/home/chaincode"; chown 10001:10001 "$w/go/home/chaincode"
	layer_tar "$w/go" "$w/layer-go.tar"
	# smoke check on the assembled root filesystem
	tar -C "$w/rootfs" -xf "$base"
	tar -C "$w/rootfs" -xf "$w/layer-go.tar"
	ccenv_selftest "$w/rootfs"
	rm -rf "$w/rootfs"
	# Pods must not need external network: no module proxy, no toolchain download (vendor your deps).
	oci_image "$w/layout" 3.1 --config.cmd /bin/bash --config.workingdir /chaincode \
		--config.env PATH=/usr/local/go/bin:/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.env GOROOT=/usr/local/go --config.env GOPATH=/go --config.env HOME=/root \
		--config.env GOCACHE=/tmp/gocache --config.env GOTOOLCHAIN=local --config.env GOPROXY=off \
		--config.env GOSUMDB=off --config.env GOFLAGS=-buildvcs=false -- "$base" "$w/layer-go.tar"
	push_image "$w/layout" 3.1 "$CCENV_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/ccenv.stamp"
	log "image ccenv: built in $(($(date +%s) - s))s"
}

# ---------------------------------------------------------------- nodeenv (Node.js builder + runtime)
# Equivalent of Fabric's fabric-nodeenv: Fabric's node platform uses chaincode.node.runtime both as
# the image its build script (npm install --production) runs in and as the FROM of the chaincode
# image, started with `npm start -- --peer.address ...` in /usr/local/src. Debian bookworm's nodejs
# (18) and npm, installed with apt in a chroot of a minbase system (debootstrap alone does not
# resolve npm's virtual dependencies).

NODEENV_PACKAGES="nodejs npm"

# nodeenv_rootfs_tar: path of the cached rootfs tarball with nodejs and npm (built on first use).
# ccenv keeps its own ccenv_rootfs_tar so that its cached rootfs and image stay valid.
nodeenv_rootfs_tar() {
	local key out mirror r
	key=$(hash_str "$CCENV_SUITE" "$NODEENV_PACKAGES" "$(declare -f nodeenv_rootfs_tar)" | cut -c1-16)
	out=$CACHE/nodeenv-rootfs-$CCENV_SUITE-$key.tar
	if [ -f "$out" ]; then echo "$out"; return 0; fi
	mirror=$(debian_mirror)
	r=${CACHE:?}/work-debootstrap-nodeenv; rm -rf "$r"; mkdir -p "$CACHE"
	log "debootstrap --variant=minbase $CCENV_SUITE + apt-get install $NODEENV_PACKAGES from $mirror"
	local s; s=$(date +%s)
	debootstrap --variant=minbase --include=ca-certificates "$CCENV_SUITE" "$r" "$mirror" \
		>"$LOGS/debootstrap-nodeenv.log" 2>&1 || { tail -n 20 "$LOGS/debootstrap-nodeenv.log" >&2; die "debootstrap failed"; }
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	# shellcheck disable=SC2016,SC2086 # script for the inner shell; the package list is split
	unshare -m -- sh -ec '
		r=$1; shift
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		chroot "$r" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root DEBIAN_FRONTEND=noninteractive \
			sh -ec "apt-get update -q && apt-get install -y -q --no-install-recommends $*"
	' sh "$r" $NODEENV_PACKAGES >>"$LOGS/debootstrap-nodeenv.log" 2>&1 ||
		{ tail -n 20 "$LOGS/debootstrap-nodeenv.log" >&2; die "apt-get install $NODEENV_PACKAGES failed"; }
	log "debootstrap + apt-get took $(($(date +%s) - s))s"
	# shellcheck disable=SC2115 # $r is set above
	rm -rf "$r"/var/cache/apt/archives/*.deb "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* \
		"$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/var/log/* "$r"/dev/* \
		"$r"/etc/hostname "$r"/etc/resolv.conf "$r"/tmp/* "$r"/root/.npm
	find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name 'locale.alias' -exec rm -rf {} + 2>/dev/null || true
	chmod 1777 "$r/tmp"
	layer_tar "$r" "$out.tmp"
	mv "$out.tmp" "$out"
	rm -rf "$r"
	log "cached nodeenv rootfs: $out ($(du -h "$out" | cut -f1))"
	echo "$out"
}

# nodeenv_layer DIR: fabric-nodeenv's layout (/chaincode/{input,output}, /chaincode/build.sh and
# start.sh, /usr/local/src) and the chaincode user (10001) next to the rootfs's /etc files.
nodeenv_layer() {
	local d=$1 base=$2
	mkdir -p "$d/chaincode/input" "$d/chaincode/output" "$d/usr/local/src" "$d/etc" "$d/home/chaincode" "$d/tmp"
	chmod 0777 "$d/chaincode/input" "$d/chaincode/output"
	chmod 1777 "$d/tmp"
	# Fabric's node platform runs /chaincode/build.sh when the builder image has one; build pods
	# mount their shared volume on /chaincode, so there the platform's own fallback runs instead
	# (the same copy + npm install --production, which installs what package-lock.json pins).
	cat >"$d/chaincode/build.sh" <<-'EOF'
		#!/bin/sh
		set -e
		cp -R /chaincode/input/src/. /chaincode/output
		cd /chaincode/output
		if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then
			npm ci --omit=dev
		else
			npm install --omit=dev
		fi
	EOF
	cat >"$d/chaincode/start.sh" <<-'EOF'
		#!/bin/sh
		set -e
		cd /usr/local/src
		exec npm start -- "$@"
	EOF
	chmod 0755 "$d/chaincode/build.sh" "$d/chaincode/start.sh"
	# the host's CA bundle, as in the other images: npm in build pods verifies the registry with it
	mkdir -p "$d/etc/ssl/certs"
	cp /etc/ssl/certs/ca-certificates.crt "$d/etc/ssl/certs/ca-certificates.crt"
	tar -C "$d" -xf "$base" ./etc/passwd ./etc/group
	grep -q '^chaincode:' "$d/etc/passwd" || echo 'chaincode:x:10001:10001:chaincode:/home/chaincode:/bin/sh' >>"$d/etc/passwd"
	grep -q '^chaincode:' "$d/etc/group" || echo 'chaincode:x:10001:' >>"$d/etc/group"
	chown 10001:10001 "$d/home/chaincode"
}

# nodeenv_selftest ROOTFS: `npm start -- --peer.address ...` (start.sh) runs as the chaincode user
# on a read-only view of the image with only /tmp writable, as in a chaincode pod.
nodeenv_selftest() {
	local r=$1 out
	cat >"$r/usr/local/src/package.json" <<-'EOF'
		{"name": "selftest", "version": "1.0.0", "scripts": {"start": "node selftest.js"}}
	EOF
	echo 'console.log("selftest args: " + process.argv.slice(2).join(" "));' >"$r/usr/local/src/selftest.js"
	# shellcheck disable=SC2016 # script for the inner shell
	out=$(unshare -m -- sh -ec '
		r=$1
		mount --bind "$r" "$r"
		mount -o remount,bind,ro "$r"
		mount -t proc proc "$r/proc"
		mount --rbind /dev "$r/dev"
		mount -t tmpfs tmpfs "$r/tmp"
		chroot --userspec=10001:10001 "$r" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
			HOME=/tmp npm_config_cache=/tmp/.npm NPM_CONFIG_UPDATE_NOTIFIER=false \
			/chaincode/start.sh --peer.address selftest:7052
	' sh "$r" 2>&1) || { echo "$out" >&2; die "nodeenv selftest: npm start failed"; }
	echo "$out" | grep -q -- 'selftest args: --peer.address selftest:7052' || { echo "$out" >&2; die "nodeenv selftest: unexpected output"; }
	rm -f "$r/usr/local/src/package.json" "$r/usr/local/src/selftest.js"
	log "nodeenv selftest ok (npm start as 10001 on a read-only root, node $(chroot "$r" node --version))"
}

image_nodeenv() {
	local key base w
	base=$(nodeenv_rootfs_tar)
	key=$(hash_str "$(declare -f image_nodeenv nodeenv_layer nodeenv_selftest oci_image layer_tar)" "$base" \
		"$(hash_files /etc/ssl/certs/ca-certificates.crt)")
	if image_cached nodeenv "$key" "$NODEENV_IMAGE"; then log "image nodeenv: cached"; return 0; fi
	local s; s=$(date +%s)
	w=$IMAGES/work/nodeenv; rm -rf "$w"; mkdir -p "$w/layer" "$w/rootfs"
	nodeenv_layer "$w/layer" "$base"
	layer_tar "$w/layer" "$w/layer-nodeenv.tar"
	tar -C "$w/rootfs" -xf "$base"
	tar -C "$w/rootfs" -xf "$w/layer-nodeenv.tar"
	nodeenv_selftest "$w/rootfs"
	rm -rf "$w/rootfs"
	# HOME and the npm cache in /tmp: chaincode pods run as a non-root user on a read-only root
	# filesystem with only /tmp writable. Build pods reach the npm registry (vm.k8s.build.hostNetwork).
	oci_image "$w/layout" "${NODEENV_IMAGE##*:}" --config.cmd /bin/sh --config.workingdir /usr/local/src \
		--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
		--config.env HOME=/tmp --config.env npm_config_cache=/tmp/.npm \
		--config.env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
		--config.env NPM_CONFIG_UPDATE_NOTIFIER=false --config.env NPM_CONFIG_FUND=false \
		--config.env NPM_CONFIG_AUDIT=false -- "$base" "$w/layer-nodeenv.tar"
	push_image "$w/layout" "${NODEENV_IMAGE##*:}" "$NODEENV_IMAGE"
	rm -rf "$w"
	echo "$key" >"$IMAGES/nodeenv.stamp"
	log "image nodeenv: built in $(($(date +%s) - s))s"
}

build_images() {
	mkdir -p "$IMAGES" "$CACHE" "$LOGS"
	image_pause
	registry_up || die "registry not running on $REGISTRY_ADDR (use: cluster.sh up)"
	image_busybox
	image_coredns
	image_kubectl
	image_baseos
	image_kaniko
	image_ccenv
	image_nodeenv
}
