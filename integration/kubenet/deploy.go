/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kubenet

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/fabric-peer-k8s/fabric-peer-k8s/integration/internal/testkit"
)

// NetworkLabel marks the cluster-scoped objects (PersistentVolumes) and the
// namespaces of a network, with its name as the value.
const NetworkLabel = "fabric-peer-k8s.io/network"

// StorageClass is the local cluster's StorageClass for ledgers (images/local-storage).
const StorageClass = "fabric-peer-local"

// Deploy brings the orderer up (DeployOrderer), then the peers (DeployPeer).
func (net *Network) Deploy() error {
	if err := net.DeployOrderer(); err != nil {
		return err
	}
	for _, p := range net.Peers {
		if err := net.DeployPeer(p); err != nil {
			return err
		}
	}
	return nil
}

// DeployOrderer creates the orderer's namespace, Secrets and ledger volume,
// applies images/orderer/deploy-local and joins the orderer to ChannelName
// (osnadmin).
func (net *Network) DeployOrderer() error {
	o, ord := net.Orderer, net.n.Orderer("orderer")
	if err := net.prepare(o, "fabric-orderer", "restricted", net.n.OrdererLocalMSPDir(ord), net.n.OrdererLocalTLSDir(ord)); err != nil {
		return err
	}
	if err := net.kubectlRun("apply", "-n", o.Namespace, "-k", filepath.Join(net.opts.RepoRoot, "images", "orderer", "deploy-local")); err != nil {
		return err
	}
	if err := net.waitReady(o, 5*time.Minute); err != nil {
		return err
	}
	return net.joinOrderer()
}

// DeployPeer creates the peer's namespace, Secrets and ledger volume, applies its organisation's overlay of
// Options.PeerBase and joins the peer to ChannelName.
func (net *Network) DeployPeer(p Node) error {
	if err := net.prepare(p, "fabric-peer", net.opts.PeerPodSecurity, net.n.PeerLocalMSPDir(p.peer), net.n.PeerLocalTLSDir(p.peer)); err != nil {
		return err
	}
	overlay, err := net.peerOverlay(p)
	if err != nil {
		return err
	}
	if err := net.kubectlRun("apply", "-n", p.Namespace, "-k", overlay); err != nil {
		return err
	}
	if err := net.waitReady(p, 5*time.Minute); err != nil {
		return err
	}
	return net.PeerCLI(p, 2*time.Minute, "channel", "join", "--blockpath", net.genesisBlock()).Err
}

// prepare creates the node's namespace (enforcing the Pod Security level,
// warning of what "restricted" would refuse), its MSP and TLS Secrets
// (<prefix>-msp, <prefix>-tls: docs/deploying.md) and its ledger volume.
func (net *Network) prepare(nd Node, prefix, podSecurity, mspDir, tlsDir string) error {
	ns := nd.Namespace
	manifest := fmt.Sprintf(`apiVersion: v1
kind: Namespace
metadata:
  name: %s
  labels:
    %s: %s
    pod-security.kubernetes.io/enforce: %s
    pod-security.kubernetes.io/warn: restricted
`, ns, NetworkLabel, net.opts.Name, podSecurity)
	if err := net.kubectlApply(manifest); err != nil {
		return err
	}
	files, err := mspSecretFiles(mspDir, filepath.Join(net.opts.RootDir, ns+"-msp-config.yaml"))
	if err != nil {
		return err
	}
	args := []string{"-n", ns, "create", "secret", "generic", prefix + "-msp"}
	for _, key := range []string{"config.yaml", "cacert.pem", "signcert.pem", "key.pem", "tlscacert.pem"} {
		args = append(args, "--from-file="+key+"="+files[key])
	}
	if err := net.kubectlRun(args...); err != nil {
		return err
	}
	if err := net.kubectlRun("-n", ns, "create", "secret", "generic", prefix+"-tls", "--type=kubernetes.io/tls",
		"--from-file=tls.crt="+filepath.Join(tlsDir, "server.crt"),
		"--from-file=tls.key="+filepath.Join(tlsDir, "server.key"),
		"--from-file=ca.crt="+filepath.Join(tlsDir, "ca.crt")); err != nil {
		return err
	}
	return net.createVolume(nd, strings.TrimSuffix(nd.Pod, "-0"))
}

// createVolume creates the ledger's local PersistentVolume on this host (the
// first node), pre-bound to the StatefulSet's claim data-<pod>; the nodes
// run as uid 10000.
func (net *Network) createVolume(nd Node, statefulSet string) error {
	dir := filepath.Join(net.opts.VolumeDir, nd.Namespace)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	if err := os.Chown(dir, 10000, 10000); err != nil {
		return err
	}
	host, err := net.firstNode()
	if err != nil {
		return err
	}
	return net.kubectlApply(fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: %[1]s-ledger
  labels:
    %[2]s: %[3]s
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: %[4]s
  claimRef: {namespace: %[1]s, name: data-%[5]s}
  local: {path: %[6]s}
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - {key: kubernetes.io/hostname, operator: In, values: [%[7]s]}
`, nd.Namespace, NetworkLabel, net.opts.Name, StorageClass, nd.Pod, dir, host))
}

// firstNode is the node whose volumes are directories of this host: the one
// without the second node's taint (integration/cluster/lib/node2.sh).
func (net *Network) firstNode() (string, error) {
	out, err := net.kubectl("get", "nodes", "-o",
		`jsonpath={range .items[*]}{.metadata.labels.kubernetes\.io/hostname}{" "}{.spec.taints[*].key}{"\n"}{end}`)
	if err != nil {
		return "", err
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) == 1 {
			return f[0], nil
		}
	}
	return "", fmt.Errorf("kubenet: no untainted node for the ledger volumes")
}

// peerOverlay writes the kustomization of an organisation's peer:
// Options.PeerBase with the organisation's identity.
func (net *Network) peerOverlay(p Node) (string, error) {
	dir := filepath.Join(net.opts.RootDir, "deploy", p.Namespace)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	base, err := filepath.Rel(dir, net.opts.PeerBase)
	if err != nil {
		return "", err
	}
	k := fmt.Sprintf(`apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- %s
patches:
- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: fabric-peer
    data:
      CORE_PEER_ID: %s
      CORE_PEER_LOCALMSPID: %s
`, base, p.peer.ID(), p.MSPID)
	return dir, os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644)
}

// waitReady waits for the node's Pod to be ready and for the node's name to
// resolve to its address: the Pod's for the orderer, the Service's cluster IP
// for a peer.
func (net *Network) waitReady(nd Node, timeout time.Duration) error {
	// the StatefulSet controller creates the Pod a moment after the apply
	if err := net.kubectlRun("-n", nd.Namespace, "rollout", "status", "statefulset/"+strings.TrimSuffix(nd.Pod, "-0"),
		"--timeout="+timeout.String()); err != nil {
		out, _ := net.kubectl("-n", nd.Namespace, "describe", "pod", nd.Pod)
		logs, _ := net.kubectl("-n", nd.Namespace, "logs", nd.Pod, "--tail=30")
		return fmt.Errorf("%s/%s not ready: %w\n%s\n%s", nd.Namespace, nd.Pod, err, testkit.LastLines(out, 20), logs)
	}
	get := []string{"-n", nd.Namespace, "get", "pod", nd.Pod, "-o", "jsonpath={.status.podIP}"}
	if nd.peer != nil {
		get = []string{"-n", nd.Namespace, "get", "service", peerStatefulSet, "-o", "jsonpath={.spec.clusterIP}"}
	}
	ip, err := net.kubectl(get...)
	if err != nil {
		return err
	}
	if err := net.WaitResolves(nd, strings.TrimSpace(ip), time.Minute); err != nil {
		return err
	}
	if nd.peer != nil {
		return net.WaitServes(nd, time.Minute)
	}
	return nil
}

// WaitServes waits until the peer answers its Admin's CLI through its
// Service: kube-proxy's rules name a new or recreated Pod a moment after it
// is ready, and a connection meanwhile goes nowhere.
func (net *Network) WaitServes(p Node, timeout time.Duration) error {
	return retry(timeout, func() error {
		return net.PeerCLI(p, 30*time.Second, "channel", "list").Err
	}, "%s does not answer through %s", p.Pod, p.Address())
}

// WaitResolves waits until the cluster's DNS gives ip for the node's name. A
// recreated Pod, or a recreated Service (a network deployed again under the
// same names), has a new address, and answers cached before may give the old
// one for up to their TTL (30 s in kubeadm's CoreDNS configuration, as on the
// local cluster).
func (net *Network) WaitResolves(nd Node, ip string, timeout time.Duration) error {
	return retry(timeout, func() error {
		r := net.clusterExec(30*time.Second, nil, "getent", "ahostsv4", nd.Host)
		if f := strings.Fields(r.Stdout); len(f) > 0 && f[0] == ip {
			return nil
		}
		return fmt.Errorf("last answer: %q", strings.TrimSpace(r.Out))
	}, "%s does not resolve to %s", nd.Host, ip)
}

// retry calls attempt once a second until it succeeds or timeout has passed;
// the error then names what was awaited and wraps attempt's last error.
func retry(timeout time.Duration, attempt func() error, what string, args ...interface{}) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		err := attempt()
		if err == nil {
			return nil
		}
		select {
		case <-tick.C:
		case <-deadline:
			return fmt.Errorf("%s within %s: %w", fmt.Sprintf(what, args...), timeout, err)
		}
	}
}

// Teardown deletes the network's namespaces (the chaincode Pods, Secrets and
// Jobs in them too) and PersistentVolumes, and the ledgers' directories.
func (net *Network) Teardown(timeout time.Duration) error {
	return Teardown(net.opts, timeout)
}

// Teardown removes the network named in o: what Deploy created, found by
// label, so that it also cleans up after an earlier run.
func Teardown(o Options, timeout time.Duration) error {
	net := &Network{opts: o}
	if net.opts.Log == nil {
		net.opts.Log = os.Stdout
	}
	sel := NetworkLabel + "=" + o.Name
	if err := net.kubectlRun("delete", "namespace", "-l", sel, "--ignore-not-found", "--timeout="+timeout.String()); err != nil {
		return err
	}
	if err := net.kubectlRun("delete", "pv", "-l", sel, "--ignore-not-found", "--timeout="+timeout.String()); err != nil {
		return err
	}
	return os.RemoveAll(o.VolumeDir)
}

// mspSecretFiles maps the keys of an MSP Secret (<prefix>-msp) to cryptogen's
// files; config.yaml is rewritten to the flattened cacerts/cacert.pem (written
// to cfgFile).
func mspSecretFiles(msp, cfgFile string) (map[string]string, error) {
	files := map[string]string{"config.yaml": cfgFile}
	for key, sub := range map[string]string{"cacert.pem": "cacerts", "signcert.pem": "signcerts", "key.pem": "keystore", "tlscacert.pem": "tlscacerts"} {
		m, err := filepath.Glob(filepath.Join(msp, sub, "*"))
		if err != nil {
			return nil, err
		}
		if len(m) != 1 {
			return nil, fmt.Errorf("kubenet: %d files in %s/%s, want exactly one", len(m), msp, sub)
		}
		files[key] = m[0]
	}
	raw, err := os.ReadFile(filepath.Join(msp, "config.yaml"))
	if err != nil {
		return nil, err
	}
	rewritten := regexp.MustCompile(`cacerts/\S+\.pem`).ReplaceAll(raw, []byte("cacerts/cacert.pem"))
	return files, os.WriteFile(cfgFile, rewritten, 0o600)
}
