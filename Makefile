# fabric-peer-k8s: a Hyperledger Fabric peer whose chaincode runtime is Kubernetes.

SHELL       := /bin/bash
GO          ?= go
FUZZTIME    ?= 30s
FABRIC_MOD  := github.com/hyperledger/fabric
FABRIC_DIR   = vendor/$(FABRIC_MOD)
BIN         := bin
PATCHES     := $(sort $(wildcard vendor-patches/*.patch))
GOBUILD     := CGO_ENABLED=1 $(GO) build -mod=vendor -trimpath
FABRIC_VERSION_LDFLAGS := -X $(FABRIC_MOD)/common/metadata.Version=3.1.1 \
	-X $(FABRIC_MOD)/common/metadata.CommitSHA=435a7f1a

FABRIC_CMDS := peer orderer configtxgen cryptogen osnadmin

.PHONY: all vendor check-patches peer binaries test unit-test fuzz peer-test e2e faults soak incluster fabric-suites \
	fabric-suites-ci demo bench bench-quick \
	peer-image cluster-up cluster-down images clean generate

all: binaries

## vendor: go mod vendor, then apply vendor-patches/*.patch to the vendored Fabric tree
vendor: vendor/.patched

vendor/.patched: go.mod go.sum $(PATCHES)
	rm -rf vendor
	$(GO) mod vendor
	@for p in $(PATCHES); do \
		echo "applying $$p"; \
		git apply --directory=$(FABRIC_DIR) --unsafe-paths -p1 "$$p" || { echo "patch $$p does not apply" >&2; exit 1; }; \
	done
	@touch $@

## check-patches: fail when the patches no longer apply cleanly, in order, to the pinned Fabric module
check-patches:
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	src=$$($(GO) list -mod=mod -m -f '{{.Dir}}' $(FABRIC_MOD)) && \
	cp -r "$$src" "$$tmp/fabric" && chmod -R u+w "$$tmp/fabric" && \
	for p in $(PATCHES); do \
		(cd "$$tmp/fabric" && git apply -p1 "$(CURDIR)/$$p" 2>&1) || { echo "FAIL: $$p no longer applies to $(FABRIC_MOD)" >&2; exit 1; }; \
		echo "ok: $$p"; \
	done

## peer: the Fabric peer built from the patched vendor tree
peer: $(BIN)/peer

$(BIN)/%: vendor/.patched $(shell find core cmd -name '*.go' -not -name '*_test.go' 2>/dev/null)
	@mkdir -p $(BIN)
	$(GOBUILD) -ldflags "$(FABRIC_VERSION_LDFLAGS)" -o $@ $(FABRIC_MOD)/cmd/$*

## binaries: peer, orderer and the tools the test network needs
binaries: $(addprefix $(BIN)/,$(FABRIC_CMDS))

## test: the whole suite promised by the README (unit tests, peer start tests, end-to-end on the local cluster)
test: unit-test fuzz peer-test e2e faults incluster fabric-suites-ci bench-quick

# Fuzzes the code package conversion for FUZZTIME.
fuzz: vendor
	$(GO) test -mod=vendor -run=^$$ -fuzz=FuzzBuildContext -fuzztime=$(FUZZTIME) ./core/container/k8scontroller/

unit-test: vendor
	$(GO) test -mod=vendor -count=1 ./core/... ./cmd/... ./images/... ./integration/network/... ./integration/fabric-suites/... ./integration/bench/...

peer-test: binaries
	$(GO) test -mod=vendor -count=1 -tags peertest -v ./integration/peerstart/...

## cluster-up / cluster-down: the local single-node Kubernetes, registry and images (state in $(CLUSTER_DIR));
## NODES=2 adds a second node in a network namespace (integration/cluster/lib/node2.sh)
export CLUSTER_DIR ?= $(CURDIR)/.cluster
CLUSTER := integration/cluster/cluster.sh
export NODES ?= 1

cluster-up:
	$(CLUSTER) up

cluster-down:
	$(CLUSTER) down

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

## e2e: the end-to-end suite (Kaniko builds, chaincode pods, relaunch, upgrade) on a real cluster
e2e: binaries
	@if [ -z "$(E2E_KUBECONFIG)" ]; then $(CLUSTER) up; fi
	$(E2E_ENV) $(GO) test -mod=vendor -count=1 -tags e2e -timeout $(E2E_TIMEOUT) -v ./integration/e2e/ $(E2E_GINKGO) -ginkgo.timeout=$(E2E_SUITE_TIMEOUT) -ginkgo.label-filter='!faults'
	$(E2E_ENV) $(GO) test -mod=vendor -count=1 -tags e2e -timeout $(E2E_TIMEOUT) -v ./integration/network/...

## faults: the fault matrix (integration/e2e, label "faults"): cluster components restarted, stopped or
## deleted under a running network; needs the local cluster (it restarts its components)
faults: binaries
	$(CLUSTER) up
	$(E2E_ENV) $(GO) test -mod=vendor -count=1 -tags e2e -timeout $(E2E_TIMEOUT) -v ./integration/e2e/ $(E2E_GINKGO) \
		-ginkgo.timeout=$(FAULTS_TIMEOUT) -ginkgo.label-filter=faults

# The soak runs the self-healing suite's cycles spec (with the two specs it
# builds on) for SOAK_CYCLES cycles of about 10 s each.
SOAK_CYCLES        ?= 200
SOAK_TIMEOUT       ?= 150m
SOAK_SUITE_TIMEOUT ?= 140m
SOAK_FOCUS         := Self-healing chaincode (deploys two kv packages|upgrades: the superseded|returns to the same Pods)

## soak: SOAK_CYCLES (200) invoke/kill/upgrade cycles of the self-healing suite on the local cluster; the Org1
## peer's RSS, open FDs and goroutines are sampled (E2E-SOAK lines) and must stay flat; not part of `make test`
soak: binaries
	$(CLUSTER) up
	$(E2E_ENV) E2E_HEAL_CYCLES=$(SOAK_CYCLES) $(GO) test -mod=vendor -count=1 -tags e2e -timeout $(SOAK_TIMEOUT) -v ./integration/e2e/ \
		$(E2E_GINKGO) -ginkgo.timeout=$(SOAK_SUITE_TIMEOUT) -ginkgo.label-filter='!faults' -ginkgo.focus='$(SOAK_FOCUS)'

## peer-image: the peer image on the local cluster (umoci base + in-cluster Kaniko Job)
peer-image: peer
	$(CLUSTER) up
	images/peer/build-local.sh

## incluster: the peer as a Pod (images/peer/deploy-local): RBAC and /healthz, Pod Security, GC, lifecycle;
## NODES=2: the two-node specs (label twonode) on a cluster with a second node, chaincode on the node the peer is not on
INCLUSTER_LABELS ?= $(if $(filter 2,$(NODES)),twonode,)
incluster: binaries
	$(CLUSTER) up
	KUBECONFIG=$(CLUSTER_DIR)/kubeconfig INCLUSTER_NODES=$(NODES) $(GO) test -mod=vendor -count=1 -tags e2e -timeout 50m -v \
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
# within CI's 90 minutes next to the fault matrix: lifecycle (every
# lifecycle step, upgrade, several chaincodes; 14 min with an empty
# registry). e2e (15 min), sbe, pvtdatapurge, pvtdata, gateway, discovery and
# msp run with `make fabric-suites`.
FABRIC_SUITES_CI := lifecycle
fabric-suites-ci: binaries vendor
	$(CLUSTER) up
	SUITES=$(FABRIC_SUITES_CI) integration/fabric-suites/run.sh

## demo: the main job: local cluster, Fabric network in k8s mode, a chaincode deployed, invoked and queried
demo: binaries
	$(CLUSTER) up
	$(GO) run -mod=vendor ./cmd/fabric-k8s-demo -kubeconfig $(CLUSTER_DIR)/kubeconfig $(DEMO_FLAGS)

# The bench runs against the local cluster unless BENCH_KUBECONFIG names
# another one; BENCH_QUICK=1 is a short run (N=2, 5 chaincodes at rest).
BENCH_KUBECONFIG ?=
BENCH_QUICK      ?=
BENCH_OUT        ?= $(CURDIR)/.build/bench
## bench: the k8s VM measured against the stock DockerVM (a Docker daemon of its own) in one run:
## launch, relaunch, install, invoke/query load, many chaincodes at rest; writes $(BENCH_OUT)/report.md and report.json
bench: binaries
	integration/bench/install-docker.sh
	@if [ -z "$(BENCH_KUBECONFIG)" ]; then $(CLUSTER) up; fi
	KUBECONFIG=$(or $(BENCH_KUBECONFIG),$(CLUSTER_DIR)/kubeconfig) CLUSTER_DIR=$(CLUSTER_DIR) BENCH_QUICK=$(BENCH_QUICK) \
		BENCH_OUT=$(BENCH_OUT) $(GO) run -mod=vendor ./integration/bench

## bench-quick: the bench's short run (BENCH_QUICK=1), part of `make test` so that the harness cannot rot;
## target misses are reported, not failures (a run that cannot measure fails)
bench-quick:
	$(MAKE) bench BENCH_QUICK=1

generate:
	$(GO) generate -mod=vendor ./core/...

clean:
	rm -rf $(BIN) vendor
