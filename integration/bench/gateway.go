/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hyperledger/fabric-lib-go/bccsp/utils"
	"github.com/hyperledger/fabric-protos-go-apiv2/common"
	"github.com/hyperledger/fabric-protos-go-apiv2/gateway"
	"github.com/hyperledger/fabric-protos-go-apiv2/msp"
	"github.com/hyperledger/fabric-protos-go-apiv2/peer"
	"github.com/hyperledger/fabric/integration/nwo"
	"github.com/hyperledger/fabric/protoutil"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// signer is an nwo user identity with its key parsed once (nwo's
// SigningIdentity reads and parses the key file for every signature, which
// would cost the load generator CPU the peer needs on a small machine).
type signer struct {
	creator []byte
	key     *ecdsa.PrivateKey
}

func newSigner(id *nwo.SigningIdentity) (*signer, error) {
	cert, err := os.ReadFile(id.CertPath)
	if err != nil {
		return nil, err
	}
	creator, err := proto.Marshal(&msp.SerializedIdentity{Mspid: id.MSPID, IdBytes: cert})
	if err != nil {
		return nil, err
	}
	pemKey, err := os.ReadFile(id.KeyPath)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(pemKey)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", id.KeyPath)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: unexpected key type %T", id.KeyPath, k)
	}
	return &signer{creator: creator, key: key}, nil
}

func (s *signer) sign(msg []byte) ([]byte, error) {
	digest := sha256.Sum256(msg)
	r, ss, err := ecdsa.Sign(rand.Reader, s.key, digest[:])
	if err != nil {
		return nil, err
	}
	sig, err := utils.MarshalECDSASignature(r, ss)
	if err != nil {
		return nil, err
	}
	return utils.SignatureToLowS(&s.key.PublicKey, sig)
}

// gatewayClient submits and evaluates transactions through a peer's Fabric
// Gateway service, as an application using the Gateway SDK does (proposal
// signed by the client, endorsement planned by the gateway, commit status
// awaited).
type gatewayClient struct {
	conn    *grpc.ClientConn
	gw      gateway.GatewayClient
	id      *signer
	channel string
	once    sync.Once
}

func newGatewayClient(n *nwo.Network, p *nwo.Peer, user, channel string) (*gatewayClient, error) {
	id, err := newSigner(n.PeerUserSigner(p, user))
	if err != nil {
		return nil, err
	}
	conn := n.PeerClientConn(p)
	return &gatewayClient{conn: conn, gw: gateway.NewGatewayClient(conn), id: id, channel: channel}, nil
}

func (c *gatewayClient) Close() { c.once.Do(func() { c.conn.Close() }) }

func (c *gatewayClient) proposal(cc string, args []string) (*peer.SignedProposal, string, error) {
	input := &peer.ChaincodeInput{}
	for _, a := range args {
		input.Args = append(input.Args, []byte(a))
	}
	spec := &peer.ChaincodeInvocationSpec{ChaincodeSpec: &peer.ChaincodeSpec{
		Type:        peer.ChaincodeSpec_GOLANG,
		ChaincodeId: &peer.ChaincodeID{Name: cc},
		Input:       input,
	}}
	prop, txID, err := protoutil.CreateChaincodeProposal(common.HeaderType_ENDORSER_TRANSACTION, c.channel, spec, c.id.creator)
	if err != nil {
		return nil, "", err
	}
	b, err := proto.Marshal(prop)
	if err != nil {
		return nil, "", err
	}
	sig, err := c.id.sign(b)
	if err != nil {
		return nil, "", err
	}
	return &peer.SignedProposal{ProposalBytes: b, Signature: sig}, txID, nil
}

// Evaluate runs a query (no transaction) on a peer the gateway chooses and
// returns the payload.
func (c *gatewayClient) Evaluate(ctx context.Context, cc string, args ...string) ([]byte, error) {
	return c.EvaluateOn(ctx, nil, cc, args...)
}

// EvaluateOn runs a query on peers of the given organizations (MSP IDs) only.
func (c *gatewayClient) EvaluateOn(ctx context.Context, orgs []string, cc string, args ...string) ([]byte, error) {
	sp, txID, err := c.proposal(cc, args)
	if err != nil {
		return nil, err
	}
	resp, err := c.gw.Evaluate(ctx, &gateway.EvaluateRequest{TransactionId: txID, ChannelId: c.channel, ProposedTransaction: sp, TargetOrganizations: orgs})
	if err != nil {
		return nil, err
	}
	if r := resp.GetResult(); r.GetStatus() != 200 {
		return nil, fmt.Errorf("evaluate %s %v: status %d: %s", cc, args, r.GetStatus(), r.GetMessage())
	}
	return resp.GetResult().GetPayload(), nil
}

// Submit endorses, orders and waits for the commit of a transaction; it
// fails unless the transaction is VALID.
func (c *gatewayClient) Submit(ctx context.Context, cc string, args ...string) error {
	sp, txID, err := c.proposal(cc, args)
	if err != nil {
		return err
	}
	end, err := c.gw.Endorse(ctx, &gateway.EndorseRequest{TransactionId: txID, ChannelId: c.channel, ProposedTransaction: sp})
	if err != nil {
		return fmt.Errorf("endorse: %w", err)
	}
	env := end.GetPreparedTransaction()
	if env.Signature, err = c.id.sign(env.GetPayload()); err != nil {
		return err
	}
	if _, err := c.gw.Submit(ctx, &gateway.SubmitRequest{TransactionId: txID, ChannelId: c.channel, PreparedTransaction: env}); err != nil {
		return fmt.Errorf("submit: %w", err)
	}
	req, err := proto.Marshal(&gateway.CommitStatusRequest{ChannelId: c.channel, TransactionId: txID, Identity: c.id.creator})
	if err != nil {
		return err
	}
	sig, err := c.id.sign(req)
	if err != nil {
		return err
	}
	st, err := c.gw.CommitStatus(ctx, &gateway.SignedCommitStatusRequest{Request: req, Signature: sig})
	if err != nil {
		return fmt.Errorf("commit status: %w", err)
	}
	if st.GetResult() != peer.TxValidationCode_VALID {
		return fmt.Errorf("transaction %s committed as %s", txID, st.GetResult())
	}
	return nil
}

// LoadResult is what a bounded closed-loop load produced.
type LoadResult struct {
	Clients int     `json:"clients"`
	Seconds float64 `json:"seconds"`
	OK      int     `json:"ok"`
	Errors  int     `json:"errors"`
	// PerSecond is OK / Seconds.
	PerSecond float64 `json:"per_second"`
	// LatencyMs summarises successful operations.
	LatencyMs *Summary `json:"latency_ms"`
	FirstErr  string   `json:"first_error,omitempty"`
	latencies []float64
}

// runLoad runs op in clients goroutines, each in a closed loop (next
// operation when the previous one returned), for d; i is the client and k its
// operation count.
func runLoad(clients int, d time.Duration, op func(ctx context.Context, i, k int) error) *LoadResult {
	ctx, cancel := context.WithTimeout(context.Background(), d+time.Minute)
	defer cancel()
	var mu sync.Mutex
	res := &LoadResult{Clients: clients}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var lat []float64
			ok, bad := 0, 0
			first := ""
			for k := 0; time.Now().Before(deadline); k++ {
				t0 := time.Now()
				octx, ocancel := context.WithTimeout(ctx, 30*time.Second)
				err := op(octx, i, k)
				ocancel()
				if err != nil {
					bad++
					if first == "" {
						first = err.Error()
					}
					time.Sleep(50 * time.Millisecond)
					continue
				}
				ok++
				lat = append(lat, float64(time.Since(t0).Microseconds())/1000)
			}
			mu.Lock()
			res.OK += ok
			res.Errors += bad
			res.latencies = append(res.latencies, lat...)
			if res.FirstErr == "" {
				res.FirstErr = first
			}
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.PerSecond = float64(res.OK) / res.Seconds
	res.LatencyMs = Summarize(res.latencies)
	return res
}
