# fabric-peer-k8s: a Hyperledger Fabric peer whose chaincode runtime is Kubernetes.

SHELL       := /bin/bash
GO          ?= go
FUZZTIME    ?= 30s
FABRIC_MOD  := github.com/hyperledger/fabric
# The Fabric release line the binaries are built for: 3.1 (this module,
# vendor-patches/*.patch, bin/) or 2.5 (the module in cmd/fabric-2.5,
# vendor-patches/2.5/*.patch, bin/2.5/, the VM built with -tags fabric25).
FABRIC      ?= 3.1
ifeq ($(FABRIC),3.1)
LINE_DIR    := .
LINE_VENDOR := vendor/.patched
BIN         := bin
LINE_TAGS   :=
FABRIC_VERSION_LDFLAGS := -X $(FABRIC_MOD)/common/metadata.Version=3.1.1 \
	-X $(FABRIC_MOD)/common/metadata.CommitSHA=435a7f1a
else ifeq ($(FABRIC),2.5)
LINE_DIR    := cmd/fabric-2.5
LINE_VENDOR := cmd/fabric-2.5/vendor/.patched
BIN         := bin/2.5
LINE_TAGS   := -tags fabric25
FABRIC_VERSION_LDFLAGS := -X $(FABRIC_MOD)/common/metadata.Version=2.5.9 \
	-X $(FABRIC_MOD)/common/metadata.CommitSHA=7c387625
else
$(error FABRIC=$(FABRIC): the supported Fabric lines are 3.1 and 2.5)
endif
# The test harness (integration/network) and integration/fabric-suites/run.sh
# take the line from the environment.
export FABRIC
FABRIC_DIR   = vendor/$(FABRIC_MOD)
GOBUILD     := CGO_ENABLED=1 $(GO) build -mod=vendor -trimpath
# The 2.5 module vendors the VM package like any dependency: its vendor tree
# is made again when the VM's sources change.
VM_SRCS     := $(shell find core -name '*.go' -not -name '*_test.go' 2>/dev/null)
L25_SRCS    := $(shell find cmd/fabric-2.5 -name '*.go' -not -name '*_test.go' -not -path '*/vendor/*' 2>/dev/null)

FABRIC_CMDS := peer orderer configtxgen cryptogen osnadmin

.PHONY: all vendor check-patches peer orderer binaries test unit-test unit-test-2.5 fuzz peer-test e2e faults soak incluster fabric-suites \
	fabric-suites-ci fabric-suites-ci-2.5 e2e-core e2e-2.5 demo demo-down bench bench-quick bench-readme \
	peer-image orderer-image cluster-up cluster-down images clean generate help

## all: the default goal: the same as `make binaries`
all: binaries

# help: every target documented with a "## target: description" comment (continued on
# following "##" lines), in the order of the Makefile, wrapped at HELP_WIDTH columns.
HELP_WIDTH ?= 110
## help: list the documented targets (this text)
help:
	@echo 'usage: make [target] [VARIABLE=value ...]   (default target: all)'
	@awk -v width=$(HELP_WIDTH) ' \
		function flush(  n, i, words, line) { \
			if (name == "") return; \
			line = sprintf("  %-21s", name); n = split(text, words, " "); \
			for (i = 1; i <= n; i++) { \
				if (length(line) > 23 && length(line) + 1 + length(words[i]) > width) { print line; line = sprintf("%23s", ""); } \
				line = line " " words[i]; \
			} \
			print line; name = ""; text = ""; \
		} \
		/^## [A-Za-z0-9_.-]+:/ { flush(); name = $$2; sub(/:$$/, "", name); text = $$0; sub(/^## [^:]*: */, "", text); next } \
		/^##( |$$)/ && name != "" { sub(/^## ?/, ""); text = text " " $$0; next } \
		{ flush() } \
		END { flush() }' $(MAKEFILE_LIST)

# apply_patches DIR,PATCHES: apply the patches in order to DIR's vendored Fabric tree.
define apply_patches
	@for p in $(2); do \
		echo "applying $$p"; \
		git apply --directory=$(1)/$(FABRIC_DIR) --unsafe-paths -p1 "$$p" || { echo "patch $$p does not apply" >&2; exit 1; }; \
	done
endef

# vendor_tree DIR: the recipe of DIR/vendor/.patched: DIR's vendor tree made again (go mod vendor, run in DIR),
# then the patches among the target's prerequisites applied to its Fabric tree in order (apply_patches).
define vendor_tree
	rm -rf $(@D)
	$(if $(filter-out .,$(1)),cd $(1) && )$(GO) mod vendor
	$(call apply_patches,$(1),$(sort $(filter %.patch,$^)))
	@touch $@
endef

# The pinned Fabric module copied for patches to be applied to it (check-patches, unit-test-2.5), as shell
# text: fabric_src DIR,MODE sets src to the directory of the Fabric module that DIR's go.mod selects (its
# replacement's when it is replaced; go list -mod=MODE); copy_fabric DEST copies it to DEST, writable.
fabric_src  = src=$$(cd $(1) && $(GO) list -mod=$(2) -m -f '{{with .Replace}}{{.Dir}}{{else}}{{.Dir}}{{end}}' $(FABRIC_MOD))
copy_fabric = cp -r "$$src" $(1) && chmod -R u+w $(1)

## vendor: go mod vendor, then apply vendor-patches/*.patch to the vendored Fabric tree (FABRIC=2.5: the
## same in cmd/fabric-2.5 with vendor-patches/2.5/*.patch); the tests always need this module's vendor tree
vendor: vendor/.patched $(LINE_VENDOR)

vendor/.patched: go.mod go.sum $(wildcard vendor-patches/*.patch)
	$(call vendor_tree,.)

cmd/fabric-2.5/vendor/.patched: cmd/fabric-2.5/go.mod cmd/fabric-2.5/go.sum go.mod $(wildcard vendor-patches/2.5/*.patch) $(VM_SRCS)
	$(call vendor_tree,cmd/fabric-2.5)

## check-patches: fail when the patches of either Fabric line no longer apply cleanly, in order, to its
## pinned Fabric module
check-patches:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	for line in .:vendor-patches cmd/fabric-2.5:vendor-patches/2.5; do \
		dir=$${line%%:*} pdir=$${line#*:} && \
		$(call fabric_src,$$dir,mod) && \
		rm -rf "$$tmp/fabric" && $(call copy_fabric,"$$tmp/fabric") && \
		for p in $$(ls $$pdir/*.patch | sort); do \
			(cd "$$tmp/fabric" && git apply -p1 "$(CURDIR)/$$p" 2>&1) || { echo "FAIL: $$p no longer applies to $$src" >&2; exit 1; }; \
			echo "ok: $$p"; \
		done || exit 1; \
	done

## peer: the Fabric peer built from the patched vendor tree
peer: $(BIN)/peer
orderer: $(BIN)/orderer

$(BIN)/%: $(LINE_VENDOR) $(VM_SRCS) $(L25_SRCS)
	@mkdir -p $(BIN)
	cd $(LINE_DIR) && $(GOBUILD) $(LINE_TAGS) -ldflags "$(FABRIC_VERSION_LDFLAGS)" -o $(CURDIR)/$@ $(FABRIC_MOD)/cmd/$*

## binaries: peer, orderer and the tools the test network needs
binaries: $(addprefix $(BIN)/,$(FABRIC_CMDS))

## test: the whole suite promised by the README (unit tests, peer start tests, end-to-end on the local cluster;
## for Fabric 2.5 the e2e core; the bench's quick run with Caliper). Fabric 2.5's own lifecycle suite is one
## target away (fabric-suites-ci-2.5), for CI's time
test: unit-test fuzz peer-test e2e faults incluster fabric-suites-ci e2e-2.5 bench-quick

## fuzz: fuzzes the code package conversion (FuzzBuildContext) for FUZZTIME (30s)
fuzz: vendor
	$(GO) test -mod=vendor -run=^$$ -fuzz=FuzzBuildContext -fuzztime=$(FUZZTIME) ./core/container/k8scontroller/internal/buildcontext/

## unit-test: the unit tests, then the VM's and the 2.5 module's own against Fabric 2.5 (unit-test-2.5)
unit-test: vendor helm
	HELM=$(CLUSTER_DIR)/bin/helm $(GO) test -mod=vendor -count=1 ./core/... ./cmd/... ./images/... ./integration/network/... ./integration/kubenet/... ./integration/internal/... ./integration/fabric-suites/... ./integration/bench/...
	$(MAKE) --no-print-directory unit-test-2.5

# The Fabric 2.5 module vendors the VM without its tests' dependencies, so the
# VM's tests run in module mode, against a copy of the pinned Fabric module
# with vendor-patches/2.5 applied (an alternate go.mod replaces Fabric with it).
L25_TEST := .build/fabric-2.5-test
# Fabric 2.5's own tests, of the unpatched module, for the packages most
# exposed to the dependency versions its module selects above Fabric 2.5.9's
# (goleveldb, viper): ledger ID store and LevelDB, peer and orderer
# configuration. The CouchDB tests need a CouchDB container and are skipped.
# (internal/pkg/comm is left out: one of its tests matches a TLS alert text
# that newer Go versions word differently.)
L25_FABRIC_TESTS := core/ledger/kvledger common/ledger/util/leveldbhelper common/viperutil \
	orderer/common/localconfig core/peer
## unit-test-2.5: the VM's tests (go vet, go test -tags fabric25) against Fabric v2.5.9 with its patches, the
## 2.5 module's own tests and Fabric 2.5's tests of L25_FABRIC_TESTS (part of unit-test)
unit-test-2.5:
	@rm -rf $(L25_TEST) && mkdir -p $(L25_TEST) && \
	$(call fabric_src,cmd/fabric-2.5,readonly) && \
	$(call copy_fabric,$(L25_TEST)/fabric) && \
	for p in $$(ls vendor-patches/2.5/*.patch | sort); do \
		(cd $(L25_TEST)/fabric && git apply -p1 "$(CURDIR)/$$p") || exit 1; \
	done && \
	cp cmd/fabric-2.5/go.sum $(L25_TEST)/go.sum && \
	{ grep -v '^replace $(FABRIC_MOD) =>' cmd/fabric-2.5/go.mod; echo 'replace $(FABRIC_MOD) => $(CURDIR)/$(L25_TEST)/fabric'; } > $(L25_TEST)/go.mod
	cd cmd/fabric-2.5 && $(GO) vet -modfile=$(CURDIR)/$(L25_TEST)/go.mod -mod=readonly -tags fabric25 \
		github.com/fabric-peer-k8s/fabric-peer-k8s/core/... ./...
	cd cmd/fabric-2.5 && $(GO) test -modfile=$(CURDIR)/$(L25_TEST)/go.mod -mod=readonly -tags fabric25 -count=1 \
		github.com/fabric-peer-k8s/fabric-peer-k8s/core/... ./...
	cd cmd/fabric-2.5 && $(GO) test -mod=readonly -count=1 -skip CouchDB $(addprefix $(FABRIC_MOD)/,$(L25_FABRIC_TESTS))

## peer-test: the built peer starts with vm.type k8s and docker and refuses bad vm/vm.k8s settings
## (FABRIC=2.5: bin/2.5/peer)
peer-test: binaries vendor/.patched
	$(GO) test -mod=vendor -count=1 -tags peertest -v ./integration/peerstart/...

# The local cluster (integration/cluster): state in CLUSTER_DIR; NODES=2 adds a second node in a network
# namespace (integration/cluster/lib/node2.sh).
export CLUSTER_DIR ?= $(CURDIR)/.cluster
CLUSTER := integration/cluster/cluster.sh
export NODES ?= 1
# cluster_up_unless KUBECONFIG: a recipe line that starts the local cluster (cluster.sh up) unless KUBECONFIG,
# the kubeconfig of another cluster to run against, is set.
cluster_up_unless = @if [ -z "$(1)" ]; then $(CLUSTER) up; fi

## cluster-up: start the local single-node Kubernetes, registry and images (state in CLUSTER_DIR, .cluster);
## NODES=2 adds a second node in a network namespace
cluster-up:
	$(CLUSTER) up

## cluster-down: stop the local cluster and restore the host
cluster-down:
	$(CLUSTER) down

## images: build the local cluster's images (cluster.sh images; cached on their recipes)
images:
	$(CLUSTER) images

# The end-to-end suite runs against the local cluster unless E2E_KUBECONFIG
# names another one.
E2E_KUBECONFIG ?=
E2E_TIMEOUT    ?= 60m
E2E_ARTIFACTS  ?= $(CURDIR)/.build/e2e-logs
# A spec that runs long prints where it is; the suite's own timeout ends
# before go test's, so that the spec that did not finish is named and the
# network is still stopped.
E2E_GINKGO     = -ginkgo.poll-progress-after=4m -ginkgo.poll-progress-interval=2m
E2E_SUITE_TIMEOUT ?= 50m
FAULTS_TIMEOUT ?= 30m

E2E_ENV = KUBECONFIG=$(or $(E2E_KUBECONFIG),$(CLUSTER_DIR)/kubeconfig) E2E_ARTIFACTS=$(E2E_ARTIFACTS)

# e2e_test ENV,TIMEOUT: go test of end-to-end packages (build tag e2e, never cached, verbose) with the
# environment ENV and go test's -timeout TIMEOUT; the packages and their flags follow.
e2e_test  = $(1) $(GO) test -mod=vendor -count=1 -tags e2e -timeout $(2) -v
# e2e_suite TIMEOUT[,ENV]: e2e_test of the end-to-end suite (integration/e2e) with E2E_ENV (and ENV); E2E_GINKGO
# and the suite's flags follow.
e2e_suite = $(call e2e_test,$(E2E_ENV)$(if $(2), $(2)),$(1)) ./integration/e2e/

## e2e: the end-to-end suite (Kaniko builds, chaincode pods, relaunch, upgrade) on a real cluster
e2e: binaries vendor/.patched
	$(call cluster_up_unless,$(E2E_KUBECONFIG))
	$(call e2e_suite,$(E2E_TIMEOUT)) $(E2E_GINKGO) -ginkgo.timeout=$(E2E_SUITE_TIMEOUT) -ginkgo.label-filter='!faults'
	$(call e2e_test,$(E2E_ENV),$(E2E_TIMEOUT)) ./integration/network/...

# The suite's core: the "Kubernetes chaincode runtime" container (Kaniko build
# and cache hit, launch, invoke/query, pod spec, relaunch after deletion and
# crash, per-chaincode settings, upgrade, a chaincode that does not compile,
# nothing left after stop).
E2E_CORE_FOCUS := Kubernetes chaincode runtime
## e2e-core: the end-to-end suite's core against the FABRIC line's peer
e2e-core: binaries vendor/.patched
	$(call cluster_up_unless,$(E2E_KUBECONFIG))
	$(call e2e_suite,$(E2E_TIMEOUT)) $(E2E_GINKGO) \
		-ginkgo.timeout=$(E2E_SUITE_TIMEOUT) -ginkgo.label-filter='!faults' -ginkgo.focus='$(E2E_CORE_FOCUS)'

## e2e-2.5: the end-to-end suite's core against the Fabric 2.5 peer (bin/2.5)
e2e-2.5:
	$(MAKE) --no-print-directory e2e-core FABRIC=2.5

## faults: the fault matrix (integration/e2e, label "faults"): cluster components restarted, stopped or
## deleted under a running network; needs the local cluster (it restarts its components)
faults: binaries
	$(CLUSTER) up
	$(call e2e_suite,$(E2E_TIMEOUT)) $(E2E_GINKGO) \
		-ginkgo.timeout=$(FAULTS_TIMEOUT) -ginkgo.label-filter=faults

# The soak runs the self-healing suite's cycles spec (with the two specs it
# builds on) for SOAK_CYCLES cycles.
SOAK_CYCLES        ?= 500
SOAK_TIMEOUT       ?= 200m
SOAK_SUITE_TIMEOUT ?= 190m
SOAK_FOCUS         := Self-healing chaincode (deploys two kv packages|upgrades: the superseded|returns to the same Pods)

## soak: SOAK_CYCLES (500) invoke/kill/upgrade cycles of the self-healing suite on the local cluster; the Org1
## peer's RSS, open FDs and goroutines are sampled (E2E-SOAK lines) and must stay flat; not part of `make test`
soak: binaries
	$(CLUSTER) up
	$(call e2e_suite,$(SOAK_TIMEOUT),E2E_HEAL_CYCLES=$(SOAK_CYCLES)) \
		$(E2E_GINKGO) -ginkgo.timeout=$(SOAK_SUITE_TIMEOUT) -ginkgo.label-filter='!faults' -ginkgo.focus='$(SOAK_FOCUS)'

## helm: the Helm CLI (integration/cluster/helm-tools) that lints and renders images/peer/chart in the unit
## tests and installs it in the in-cluster suite
helm:
	$(CLUSTER) build-helm

## peer-image: the peer image on the local cluster (umoci base + in-cluster Kaniko Job: images/build-local.sh)
## orderer-image: the orderer image on the local cluster, built the same way
peer-image orderer-image: %-image: %
	$(CLUSTER) up
	images/build-local.sh $*

## incluster: the network as Pods (orderer; Org1's peer from images/peer/deploy-local, Org2's from the Helm
## chart): RBAC and /healthz, Pod Security, GC, lifecycle, helm upgrade; NODES=2: the two-node specs (label twonode) on a cluster with a second node, chaincode on the node the peer is not on
INCLUSTER_LABELS ?= $(if $(filter 2,$(NODES)),twonode,)
incluster: binaries
	$(CLUSTER) up
	$(call e2e_test,KUBECONFIG=$(CLUSTER_DIR)/kubeconfig INCLUSTER_NODES=$(NODES),50m) \
		./integration/incluster/ $(if $(INCLUSTER_LABELS),-ginkgo.label-filter='$(INCLUSTER_LABELS)')

# Empty: run.sh's default, Fabric's suites that build, launch, upgrade or call
# chaincode and pass here (integration/fabric-suites/README.md);
# SUITES=lifecycle,e2e picks some.
SUITES ?=
FOCUS  ?=
## fabric-suites: Fabric's own integration suites (SUITES=lifecycle,e2e FOCUS=regex) against the k8s peer
fabric-suites: binaries vendor
	$(CLUSTER) up
	SUITES=$(SUITES) FOCUS="$(FOCUS)" integration/fabric-suites/run.sh

# What `make test` (and so CI) runs of them, chosen by value for the VM
# within CI's time budget next to the fault matrix: lifecycle (every
# lifecycle step, upgrade, several chaincodes). e2e, sbe, pvtdatapurge,
# pvtdata, gateway, discovery and msp run with `make fabric-suites`; run
# times are in docs/testing.md.
FABRIC_SUITES_CI := lifecycle
## fabric-suites-ci: Fabric's own lifecycle suite against the k8s peer (the part of fabric-suites in `make test`)
fabric-suites-ci: binaries vendor
	$(CLUSTER) up
	SUITES=$(FABRIC_SUITES_CI) integration/fabric-suites/run.sh

## fabric-suites-ci-2.5: Fabric 2.5's own lifecycle suite against the Fabric 2.5 peer
fabric-suites-ci-2.5:
	$(MAKE) --no-print-directory fabric-suites-ci FABRIC=2.5

## demo: the main job: local cluster, the orderer and two orgs' peers (k8s mode) as Pods, a chaincode deployed,
## invoked and queried, a chaincode pod deleted and serving again; the network keeps running (make demo-down)
demo: binaries
	$(CLUSTER) up
	images/build-local.sh peer
	images/build-local.sh orderer
	$(GO) run -mod=vendor ./cmd/fabric-k8s-demo -kubeconfig $(CLUSTER_DIR)/kubeconfig $(DEMO_FLAGS)

## demo-down: remove the network `make demo` left running (its namespaces, volumes and .build/fabric-demo)
demo-down:
	$(GO) run -mod=vendor ./cmd/fabric-k8s-demo -kubeconfig $(CLUSTER_DIR)/kubeconfig -down $(DEMO_FLAGS)

# The bench runs against the local cluster unless BENCH_KUBECONFIG names
# another one; BENCH_QUICK=1 is a short run (N=2, 5 chaincodes at rest).
BENCH_KUBECONFIG ?=
BENCH_QUICK      ?=
BENCH_OUT        ?= $(CURDIR)/.build/bench
## bench: the k8s VM measured against the stock DockerVM (a Docker daemon of its own) in one run:
## launch, relaunch, install, invoke/query load, many chaincodes at rest; writes report.md and report.json to
## BENCH_OUT (.build/bench)
bench: binaries
	integration/bench/install-docker.sh
	$(call cluster_up_unless,$(BENCH_KUBECONFIG))
	KUBECONFIG=$(or $(BENCH_KUBECONFIG),$(CLUSTER_DIR)/kubeconfig) CLUSTER_DIR=$(CLUSTER_DIR) BENCH_QUICK=$(BENCH_QUICK) \
		BENCH_OUT=$(BENCH_OUT) $(GO) run -mod=vendor ./integration/bench

## bench-readme: the README's performance table from the committed run (integration/bench/results/report.json)
bench-readme:
	BENCH_README=integration/bench/results $(GO) run -mod=vendor ./integration/bench

## bench-quick: the bench's short run (BENCH_QUICK=1), part of `make test` so that the harness cannot rot;
## target misses are reported, not failures (a run that cannot measure fails)
bench-quick:
	$(MAKE) bench BENCH_QUICK=1

SCALE_NODES ?= 1
SCALE_OUT   ?= $(CURDIR)/.build/scale
## scale: the bench's scale run (BENCH_SCALE=1, not in `make test`): Org1's peer brought to 100 chaincodes,
## SIGKILLed and restarted (sweep, recovery, API requests, no duplicate pods); SCALE_NODES=2 adds a second
## node (cluster.sh node-add) with 50 of them on it, stopped and started; writes report.md and report.json to
## SCALE_OUT (.build/scale)
.PHONY: scale
scale: binaries
	@if [ -z "$(BENCH_KUBECONFIG)" ]; then NODES=$(if $(filter 2,$(SCALE_NODES)),2,$(NODES)) $(CLUSTER) up; fi
	KUBECONFIG=$(or $(BENCH_KUBECONFIG),$(CLUSTER_DIR)/kubeconfig) CLUSTER_DIR=$(CLUSTER_DIR) BENCH_SCALE=1 \
		SCALE_NODES=$(SCALE_NODES) SCALE_OUT=$(SCALE_OUT) $(GO) run -mod=vendor ./integration/bench

## generate: go generate for core/ (the counterfeiter fakes, and the vm.k8s.* reference in docs/configuration.md)
generate:
	$(GO) generate -mod=vendor ./core/...

## clean: remove bin/ and the vendor trees
clean:
	rm -rf bin vendor cmd/fabric-2.5/vendor
