/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// TestCaliperFakeGateway runs the whole Caliper phase (npm ci into the
// cache, configuration, `caliper launch manager`, records, cross-check)
// against a stand-in for two peers' Gateway service on 127.0.0.1: TLS, kv's
// put and get over an in-memory map, commits after a fixed delay. It needs
// Node.js and npm (and the package registry for the first install), so it
// runs only with BENCH_CALIPER_E2E=1:
//
//	BENCH_CALIPER_E2E=1 go test -mod=mod -count=1 -run TestCaliperFakeGateway -v ./integration/bench/
func TestCaliperFakeGateway(t *testing.T) {
	if os.Getenv("BENCH_CALIPER_E2E") != "1" {
		t.Skip("BENCH_CALIPER_E2E=1 runs Caliper (Node.js) against a fake Gateway")
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	dir := t.TempDir()
	net, stop := startFakeGateway(t, dir, 20*time.Millisecond)
	defer stop()

	cache := os.Getenv("BENCH_CALIPER_CACHE")
	if cache == "" {
		cache = filepath.Join(repo, ".build", "caliper")
	}
	s := caliperSettings{Enabled: true, Round: 3 * time.Second, Workers: 2, CreateTPS: 20, ReadTPS: 40, Load: 4, Cache: cache}
	job := func(name string, rounds []caliperRound) caliperJob {
		return caliperJob{
			Settings: s, Net: net, Rounds: rounds,
			Source:  filepath.Join(repo, "integration", "bench", "caliper"),
			Out:     filepath.Join(dir, name, "out"),
			Records: filepath.Join(dir, name, "records"),
			NpmLog:  filepath.Join(dir, "npm-ci.log"),
			OnStart: func(kill func()) { t.Cleanup(kill) },
		}
	}

	t.Run("node side", func(t *testing.T) {
		src := filepath.Join(repo, "integration", "bench", "caliper")
		inst, err := caliperInstall(context.Background(), src, cache, filepath.Join(dir, "npm-ci.log"))
		require.NoError(t, err, tailFile(filepath.Join(dir, "npm-ci.log"), 20))
		t.Logf("install %s: %s", inst.Dir, inst.Summary())
		again, err := caliperInstall(context.Background(), src, cache, filepath.Join(dir, "npm-ci.log"))
		require.NoError(t, err)
		require.Equal(t, "cached, "+filepath.Base(inst.Dir), again.Summary())
		l := caliperLaunch{Install: inst.Dir}
		cmd := exec.Command("npx", "--no", "--", "caliper", "--version")
		cmd.Dir, cmd.Env = inst.Dir, l.env()
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, string(out))
		require.Equal(t, inst.Caliper, strings.TrimSpace(string(out)))
		cmd = exec.Command("node", "-e", "const m = require(process.argv[1]); if (typeof m.createWorkloadModule().submitTransaction !== 'function') process.exit(1)",
			filepath.Join(src, "workload", "kv.js"))
		cmd.Env = l.env()
		out, err = cmd.CombinedOutput()
		require.NoError(t, err, string(out))
	})

	t.Run("rounds", func(t *testing.T) {
		j := job("rounds", nil)
		res, err := j.run(context.Background())
		if err != nil {
			t.Logf("caliper.log:\n%s", tailFile(filepath.Join(j.Out, "caliper.log"), 60))
		}
		require.NoError(t, err)
		t.Logf("install: %s; Caliper %s, fabric-gateway %s, %.1f s", res.Install, res.Caliper, res.Gateway, res.Seconds)
		require.Len(t, res.Rounds, 4)
		for _, r := range res.Rounds {
			t.Logf("%s: %d ok, %d failed, %.1f tx/s (send %.1f), latency %+v, Caliper %+v, cross-check %s", r.Label, r.OK, r.Failed, r.TPS, r.SendRate, *r.LatencyMs, *r.Summary, r.CrossCheck)
			require.Positive(t, r.OK, r.Label)
			require.Zero(t, r.Failed, r.Label)
			require.Equal(t, "ok", r.CrossCheck, r.Label)
			if r.Op == "create" {
				// Every create waits for the fake commit.
				require.GreaterOrEqual(t, r.LatencyMs.Min, 20.0, r.Label)
			}
		}
		for _, f := range []string{"report.html", "caliper.log", "summary.json", "networkconfig.yaml", "benchconfig.yaml", "connection-org1.yaml"} {
			require.FileExists(t, filepath.Join(j.Out, f))
		}
	})

	t.Run("failed round", func(t *testing.T) {
		// A read round with no create round before it has no key to read:
		// the workload fails the round in its initialisation.
		j := job("failed", []caliperRound{{Label: "read-fixed-rate", Op: "read", Rate: "fixed-rate", TPS: 10, KeysFrom: []string{"create-fixed-rate"}}})
		j.Settings.Round = time.Second
		_, err := j.run(context.Background())
		require.Error(t, err)
		t.Logf("error: %v", err)
		require.Contains(t, err.Error(), "caliper round read-fixed-rate failed")
		require.Contains(t, err.Error(), filepath.Join(j.Out, "caliper.log"))
	})
}

// fakeGateway answers kv's put (submit) and get (evaluate) like a peer's
// Gateway service, without endorsement or ordering: a put is stored at
// Submit and its commit reported after delay.
type fakeGateway struct {
	gateway.UnimplementedGatewayServer
	delay time.Duration
	mu    sync.Mutex
	state map[string][]byte
	// pending are the puts endorsed and not yet submitted, by transaction.
	pending map[string][2]string
}

func proposalArgs(sp *peer.SignedProposal) (*peer.Proposal, []string, error) {
	prop := &peer.Proposal{}
	if err := proto.Unmarshal(sp.GetProposalBytes(), prop); err != nil {
		return nil, nil, err
	}
	cpp := &peer.ChaincodeProposalPayload{}
	if err := proto.Unmarshal(prop.GetPayload(), cpp); err != nil {
		return nil, nil, err
	}
	cis := &peer.ChaincodeInvocationSpec{}
	if err := proto.Unmarshal(cpp.GetInput(), cis); err != nil {
		return nil, nil, err
	}
	var args []string
	for _, a := range cis.GetChaincodeSpec().GetInput().GetArgs() {
		args = append(args, string(a))
	}
	return prop, args, nil
}

func (g *fakeGateway) Evaluate(_ context.Context, req *gateway.EvaluateRequest) (*gateway.EvaluateResponse, error) {
	_, args, err := proposalArgs(req.GetProposedTransaction())
	if err != nil || len(args) != 2 || args[0] != "get" {
		return nil, status.Errorf(codes.InvalidArgument, "want get <key>, got %q (%v)", args, err)
	}
	g.mu.Lock()
	v, ok := g.state[args[1]]
	g.mu.Unlock()
	if !ok {
		return nil, status.Errorf(codes.Aborted, "key %q not found", args[1])
	}
	return &gateway.EvaluateResponse{Result: &peer.Response{Status: 200, Payload: v}}, nil
}

func (g *fakeGateway) Endorse(_ context.Context, req *gateway.EndorseRequest) (*gateway.EndorseResponse, error) {
	prop, args, err := proposalArgs(req.GetProposedTransaction())
	if err != nil || len(args) != 3 || args[0] != "put" {
		return nil, status.Errorf(codes.InvalidArgument, "want put <key> <value>, got %q (%v)", args, err)
	}
	hdr := &common.Header{}
	if err := proto.Unmarshal(prop.GetHeader(), hdr); err != nil {
		return nil, err
	}
	must := func(m proto.Message) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			panic(err)
		}
		return b
	}
	action := &peer.ChaincodeActionPayload{
		ChaincodeProposalPayload: prop.GetPayload(),
		Action: &peer.ChaincodeEndorsedAction{ProposalResponsePayload: must(&peer.ProposalResponsePayload{
			Extension: must(&peer.ChaincodeAction{Response: &peer.Response{Status: 200}}),
		})},
	}
	tx := &peer.Transaction{Actions: []*peer.TransactionAction{{Header: hdr.GetSignatureHeader(), Payload: must(action)}}}
	env := &common.Envelope{Payload: must(&common.Payload{Header: hdr, Data: must(tx)})}
	g.mu.Lock()
	g.pending[req.GetTransactionId()] = [2]string{args[1], args[2]}
	g.mu.Unlock()
	return &gateway.EndorseResponse{PreparedTransaction: env}, nil
}

func (g *fakeGateway) Submit(_ context.Context, req *gateway.SubmitRequest) (*gateway.SubmitResponse, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	kv, ok := g.pending[req.GetTransactionId()]
	if !ok {
		return nil, status.Errorf(codes.FailedPrecondition, "transaction %s was not endorsed", req.GetTransactionId())
	}
	delete(g.pending, req.GetTransactionId())
	g.state[kv[0]] = []byte(kv[1])
	return &gateway.SubmitResponse{}, nil
}

func (g *fakeGateway) CommitStatus(ctx context.Context, _ *gateway.SignedCommitStatusRequest) (*gateway.CommitStatusResponse, error) {
	select {
	case <-time.After(g.delay):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &gateway.CommitStatusResponse{Result: peer.TxValidationCode_VALID, BlockNumber: 1}, nil
}

// startFakeGateway serves the fake Gateway with TLS on two ports of
// 127.0.0.1 (the peers of Org1 and Org2) and writes the TLS CA and a user's
// certificate and key per organization to dir.
func startFakeGateway(t *testing.T, dir string, delay time.Duration) (caliperNet, func()) {
	ca, caKey := selfSignedCA(t, "tlsca.example.com")
	caPath := filepath.Join(dir, "tlsca.pem")
	writePEM(t, caPath, "CERTIFICATE", ca.Raw)
	names := []string{"peer0.org1.example.com", "peer0.org2.example.com"}
	serverCert := issue(t, ca, caKey, names[0], names, true)

	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12})))
	gateway.RegisterGatewayServer(srv, &fakeGateway{delay: delay, state: map[string][]byte{}, pending: map[string][2]string{}})
	n := caliperNet{Name: "fake", Channel: "testchannel", Chaincode: "kv1", Invoker: "Org1MSP", Identity: "User1"}
	for i, org := range []string{"Org1", "Org2"} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		go func() { _ = srv.Serve(l) }()
		userCA, userCAKey := selfSignedCA(t, "ca."+strings.ToLower(org)+".example.com")
		user := issue(t, userCA, userCAKey, "User1@"+strings.ToLower(org)+".example.com", nil, false)
		o := caliperOrg{Name: org, MSPID: org + "MSP", Identity: "User1",
			Cert: filepath.Join(dir, org+"-cert.pem"), Key: filepath.Join(dir, org+"-key.pem"),
			Peers: []caliperPeer{{Name: names[i], Address: l.Addr().String(), TLSCA: caPath}}}
		writePEM(t, o.Cert, "CERTIFICATE", user.Certificate[0])
		der, err := x509.MarshalPKCS8PrivateKey(user.PrivateKey)
		require.NoError(t, err)
		writePEM(t, o.Key, "PRIVATE KEY", der)
		n.Orgs = append(n.Orgs, o)
	}
	return n, srv.Stop
}

func selfSignedCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return cert, key
}

func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, dns []string, server bool) tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.DNSNames, tmpl.IPAddresses = dns, []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
}

// Ensure the fake implements the whole service.
var _ gateway.GatewayServer = (*fakeGateway)(nil)
