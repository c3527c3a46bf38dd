/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package kubenet

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"

	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/onsi/gomega"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"sigs.k8s.io/yaml"
)

// The templates nwo renders name the orderer by its Pod's DNS name in the
// channel configuration, and give every node's TLS certificate its own name.
func TestConfigNamesTheNodesByDNS(t *testing.T) {
	net := &Network{opts: Options{Name: "demo", Orgs: 2}}
	net.Orderer = ordererNode("demo-orderer")
	net.Peers = []Node{peerNode("Org1", "demo-org1"), peerNode("Org2", "demo-org2")}
	c, err := net.config()
	require.NoError(t, err)
	require.Equal(t, "fabric-orderer-0.fabric-orderer.demo-orderer.svc:7050", net.Orderer.Address())
	require.Equal(t, "fabric-peer.demo-org2.svc:7051", net.Peers[1].Address())

	gomega.RegisterTestingT(t) // nwo asserts with Gomega
	n := nwo.New(c, t.TempDir(), nil, 20000, &nwo.Components{})
	render := func(text string) string {
		tmpl, err := template.New("t").Parse(text)
		require.NoError(t, err)
		var out bytes.Buffer
		require.NoError(t, tmpl.Execute(&out, n))
		return out.String()
	}
	configtx := render(c.Templates.ConfigTx)
	require.Contains(t, configtx, "  - fabric-orderer-0.fabric-orderer.demo-orderer.svc:7050\n")
	require.Contains(t, configtx, "        - Host: fabric-orderer-0.fabric-orderer.demo-orderer.svc\n          Port: 7050\n")
	require.NotContains(t, configtx, "127.0.0.1", "no host address in the channel configuration")

	crypto := render(c.Templates.Crypto)
	// nwo lists the peer organisations in no fixed order
	org1, org2 := orgSection(t, crypto, "org1.example.com"), orgSection(t, crypto, "org2.example.com")
	require.Contains(t, crypto[:strings.Index(crypto, "PeerOrgs:")], "    - fabric-orderer-0.fabric-orderer.demo-orderer.svc\n")
	require.Contains(t, org1, "    - fabric-peer.demo-org1.svc\n")
	require.NotContains(t, org1, "demo-org2")
	require.Contains(t, org2, "    - fabric-peer.demo-org2.svc\n")
	require.NotContains(t, org2, "demo-org1")
}

// orgSection is the part of a cryptogen configuration from the organisation
// with domain up to the next organisation's domain, or to its end.
func orgSection(t *testing.T, crypto, domain string) string {
	t.Helper()
	i := strings.Index(crypto, "Domain: "+domain)
	require.GreaterOrEqual(t, i, 0, "no organisation %s", domain)
	rest := crypto[i+1:]
	if j := strings.Index(rest, "Domain: "); j >= 0 {
		return crypto[i : i+1+j]
	}
	return crypto[i:]
}

// The names and ports the package dials are those of the shipped manifests:
// the orderer's Pod under its headless Service, the peer's Service.
func TestNodesMatchTheManifests(t *testing.T) {
	for _, tc := range []struct {
		dir, statefulSet string
		headless         bool
		ports            map[string]int32
	}{
		{"orderer", ordererStatefulSet, true, map[string]int32{"orderer": ordererPort, "admin": ordererAdminPort}},
		{"peer", peerStatefulSet, false, map[string]int32{"peer": peerPort}},
	} {
		deploy := filepath.Join("..", "..", "images", tc.dir, "deploy")
		raw, err := os.ReadFile(filepath.Join(deploy, "service.yaml"))
		require.NoError(t, err)
		var svc corev1.Service
		require.NoError(t, yaml.Unmarshal([]byte(strings.Split(string(raw), "\n---\n")[0]), &svc))
		var sts appsv1.StatefulSet
		readYAML(t, filepath.Join(deploy, "statefulset.yaml"), &sts)
		require.Equal(t, tc.statefulSet, sts.Name)
		require.Equal(t, tc.statefulSet, svc.Name, "%s: the first Service of service.yaml is the one dialled", tc.dir)
		require.Equal(t, tc.headless, svc.Spec.ClusterIP == corev1.ClusterIPNone, tc.dir)
		if tc.headless {
			require.Equal(t, svc.Name, sts.Spec.ServiceName, "the Pod's DNS name is under this Service")
		}
		require.Equal(t, "data", sts.Spec.VolumeClaimTemplates[0].Name, "claim data-<pod>, which the volume is bound to")
		for name, port := range tc.ports {
			found := false
			for _, p := range svc.Spec.Ports {
				found = found || (p.Name == name && p.Port == port)
			}
			require.True(t, found, "%s/service.yaml: port %s %d", tc.dir, name, port)
		}
	}
}

// The local volumes name the StorageClass both local overlays use.
func TestStorageClassMatchesTheManifest(t *testing.T) {
	var sc storagev1.StorageClass
	readYAML(t, filepath.Join("..", "..", "images", "local-storage", "storageclass.yaml"), &sc)
	require.Equal(t, StorageClass, sc.Name)
}

func readYAML(t *testing.T, file string, into interface{}) {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(raw, into))
}
