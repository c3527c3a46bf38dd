/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

// Package apiproxy is a Kubernetes API proxy for tests: a peer pointed at it
// (WriteKubeconfig) talks to the API server through it. It counts the
// requests by verb (the bench: the local cluster's API server is shared with
// other runs, so its own counters cannot tell what one peer asks for), and
// it can hold back every watch event (SetWatchLag) and cut every open watch
// (DropWatches), for the fault suite's API-server lag fault.
package apiproxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Proxy forwards Kubernetes API requests to one API server.
type Proxy struct {
	lis net.Listener
	srv *http.Server

	mu      sync.Mutex
	counts  map[string]int64
	watches map[*watchStream]struct{}
	dropped int64

	lag atomic.Int64 // time.Duration
}

// Start listens on 127.0.0.1 and forwards to the cluster of kubeconfig
// with its credentials. HTTP/1.1 only, so that the VM's attach (WebSocket or
// SPDY upgrade) passes through; watches are flushed as they stream.
func Start(kubeconfig string) (*Proxy, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	target, err := url.Parse(cfg.Host)
	if err != nil {
		return nil, err
	}
	tlsCfg, err := rest.TLSConfigFor(cfg)
	if err != nil {
		return nil, err
	}
	base := &http.Transport{
		TLSClientConfig:     tlsCfg,
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	rt, err := rest.HTTPWrappersForConfig(cfg, base)
	if err != nil {
		return nil, err
	}
	return New(target, rt)
}

// watchCancelKey holds, in the context of a watch request on its way
// upstream, the function that aborts it.
type watchCancelKey struct{}

// New listens on 127.0.0.1 and forwards to target through rt (which adds
// the credentials).
func New(target *url.URL, rt http.RoundTripper) (*Proxy, error) {
	rp := httputil.NewSingleHostReverseProxy(target)
	director := rp.Director
	rp.Director = func(r *http.Request) {
		director(r)
		r.Host = target.Host
	}
	rp.Transport = rt
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{lis: lis, counts: map[string]int64{}, watches: map[*watchStream]struct{}{}}
	rp.ModifyResponse = func(resp *http.Response) error {
		cancel, ok := resp.Request.Context().Value(watchCancelKey{}).(context.CancelFunc)
		if !ok || resp.StatusCode != http.StatusOK {
			return nil
		}
		resp.Body = p.newWatchStream(resp.Request.Context(), resp.Body, cancel, strings.Contains(resp.Header.Get("Content-Type"), "json"))
		return nil
	}
	p.srv = &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verb := RequestVerb(r.Method, r.URL)
		p.mu.Lock()
		p.counts[verb]++
		p.mu.Unlock()
		if verb == "WATCH" {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			r = r.WithContext(context.WithValue(ctx, watchCancelKey{}, cancel))
		}
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(lis) //nolint:errcheck // ends with Close
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.lis.Addr().String() }

// WriteKubeconfig writes a kubeconfig that points at the proxy (plain HTTP,
// no credentials: the proxy adds its own).
func (p *Proxy) WriteKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: apiproxy, cluster: {server: "http://%s"}}]
users: [{name: apiproxy, user: {}}]
contexts: [{name: apiproxy, context: {cluster: apiproxy, user: apiproxy}}]
current-context: apiproxy
`, p.Addr())), 0o600)
}

// Counts is a copy of the requests counted so far, by verb (RequestVerb).
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// SetWatchLag makes the proxy deliver every piece of a watch response (one
// event: a line of a JSON watch; a chunk as read otherwise) d after it read
// it from the API server, in order. The proxy keeps reading from the API
// server meanwhile (it queues, without bound). Pieces read before a change
// keep the lag they were read under; 0 turns the lag off.
func (p *Proxy) SetWatchLag(d time.Duration) {
	if d < 0 {
		d = 0
	}
	p.lag.Store(int64(d))
}

// WatchLag is the lag set by SetWatchLag.
func (p *Proxy) WatchLag() time.Duration { return time.Duration(p.lag.Load()) }

// OpenWatches is the number of watch responses being streamed.
func (p *Proxy) OpenWatches() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.watches)
}

// DropWatches cuts every open watch now, the way a dropped connection does:
// the events the proxy still holds are lost, the request to the API server
// is cancelled and the client's connection is closed without the end of the
// chunked response (its read fails with an unexpected EOF). It returns how
// many watches it cut.
func (p *Proxy) DropWatches() int {
	p.mu.Lock()
	streams := make([]*watchStream, 0, len(p.watches))
	for s := range p.watches {
		streams = append(streams, s)
	}
	p.mu.Unlock()
	n := 0
	for _, s := range streams {
		if s.drop() {
			n++
		}
	}
	p.mu.Lock()
	p.dropped += int64(n)
	p.mu.Unlock()
	return n
}

// Dropped is the number of watches DropWatches has cut so far.
func (p *Proxy) Dropped() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.dropped
}

// DropWatchesEvery calls DropWatches every interval until stop is called;
// stop returns how many watches were cut.
func (p *Proxy) DropWatchesEvery(interval time.Duration) (stop func() int) {
	done := make(chan struct{})
	total := make(chan int, 1)
	go func() {
		n := 0
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				total <- n
				return
			case <-t.C:
				n += p.DropWatches()
			}
		}
	}()
	var once sync.Once
	var n int
	return func() int {
		once.Do(func() {
			close(done)
			n = <-total
		})
		return n
	}
}

// Close stops the proxy; streams in flight end (open watches are cut).
func (p *Proxy) Close() {
	p.DropWatches()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
}

// errDropped ends the body of a cut watch: the reverse proxy then aborts the
// client's connection (http.ErrAbortHandler).
var errDropped = errors.New("apiproxy: watch dropped")

// piece is one event (or chunk) of a watch response and when it is due.
type piece struct {
	data []byte
	due  time.Time
}

// watchStream is the body of a watch response: a goroutine reads the API
// server's response as it comes and queues it piece by piece, Read hands
// each piece out once it is due.
type watchStream struct {
	p *Proxy
	// ctx is the request's to the API server: done when the client went
	// away, the stream was cut or closed.
	ctx    context.Context
	up     io.ReadCloser
	cancel context.CancelFunc
	lines  bool // split at newlines (JSON watch: one event per line)

	wake     chan struct{} // a piece or the end was queued
	dropped  chan struct{}
	dropOnce sync.Once
	closed   atomic.Bool

	mu    sync.Mutex
	queue []piece
	err   error // how the API server's response ended, once queued

	cur []byte // the rest of the piece being handed out (Read only)
}

func (p *Proxy) newWatchStream(ctx context.Context, up io.ReadCloser, cancel context.CancelFunc, lines bool) *watchStream {
	s := &watchStream{p: p, ctx: ctx, up: up, cancel: cancel, lines: lines, wake: make(chan struct{}, 1), dropped: make(chan struct{})}
	p.mu.Lock()
	p.watches[s] = struct{}{}
	p.mu.Unlock()
	go s.pump()
	return s
}

// pump reads the API server's response until it ends.
func (s *watchStream) pump() {
	buf := make([]byte, 32<<10)
	var partial []byte // of a line
	for {
		n, err := s.up.Read(buf)
		if n > 0 {
			due := time.Now().Add(s.p.WatchLag())
			data := buf[:n]
			var out [][]byte
			if !s.lines {
				out = append(out, append([]byte(nil), data...))
			}
			for s.lines {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					partial = append(partial, data...)
					break
				}
				out = append(out, append(partial, data[:i+1]...))
				partial, data = nil, data[i+1:]
			}
			s.push(out, due, nil)
		}
		if err != nil {
			var out [][]byte
			if len(partial) > 0 {
				out = append(out, partial)
			}
			s.push(out, time.Now().Add(s.p.WatchLag()), err)
			return
		}
	}
}

func (s *watchStream) push(data [][]byte, due time.Time, err error) {
	s.mu.Lock()
	for _, d := range data {
		s.queue = append(s.queue, piece{data: d, due: due})
	}
	if err != nil {
		s.err = err
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Read returns the next piece (or the part of it that fits) once it is
// due, the API server's end of the response after the last piece, or
// errDropped once the stream is cut (the context's error once the client
// has gone).
func (s *watchStream) Read(b []byte) (int, error) {
	for len(s.cur) == 0 {
		select {
		case <-s.dropped:
			return 0, errDropped
		default:
		}
		if err := s.ctx.Err(); err != nil {
			return 0, err
		}
		s.mu.Lock()
		wait := time.Duration(-1)
		switch {
		case len(s.queue) > 0:
			if d := time.Until(s.queue[0].due); d > 0 {
				wait = d
				break
			}
			s.cur = s.queue[0].data
			s.queue[0] = piece{}
			s.queue = s.queue[1:]
		case s.err != nil:
			err := s.err
			s.mu.Unlock()
			return 0, err
		}
		s.mu.Unlock()
		if len(s.cur) > 0 {
			break
		}
		var timer *time.Timer
		var due <-chan time.Time
		if wait >= 0 {
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-s.wake:
		case <-s.dropped:
		case <-s.ctx.Done():
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
	}
	select {
	case <-s.dropped:
		return 0, errDropped
	default:
	}
	n := copy(b, s.cur)
	s.cur = s.cur[n:]
	return n, nil
}

// drop cuts the stream; false when it was already cut or closed.
func (s *watchStream) drop() bool {
	if s.closed.Load() {
		return false
	}
	cut := false
	s.dropOnce.Do(func() {
		cut = true
		close(s.dropped)
		s.cancel()
	})
	return cut
}

// Close ends the stream (the reverse proxy is done with it).
func (s *watchStream) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.p.mu.Lock()
		delete(s.p.watches, s)
		s.p.mu.Unlock()
		s.cancel()
	}
	return s.up.Close()
}

// RequestVerb names a Kubernetes API request the way the API server's
// metrics do: GET/LIST/WATCH for reads of one object, a collection or a
// watch; CREATE, UPDATE, PATCH, DELETE, DELETECOLLECTION; CONNECT for
// upgraded subresources (attach, exec); the method for non-resource paths.
func RequestVerb(method string, u *url.URL) string {
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	var rest []string
	switch {
	case len(parts) >= 3 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 4 && parts[0] == "apis":
		rest = parts[3:]
	default:
		return strings.ToUpper(method)
	}
	if len(rest) > 2 && rest[0] == "namespaces" {
		rest = rest[2:]
	}
	named := len(rest) >= 2
	if len(rest) >= 3 && (rest[2] == "attach" || rest[2] == "exec" || rest[2] == "portforward") {
		return "CONNECT"
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		if w := u.Query().Get("watch"); w == "true" || w == "1" {
			return "WATCH"
		}
		if named {
			return "GET"
		}
		return "LIST"
	case http.MethodPost:
		return "CREATE"
	case http.MethodPut:
		return "UPDATE"
	case http.MethodPatch:
		return "PATCH"
	case http.MethodDelete:
		if named {
			return "DELETE"
		}
		return "DELETECOLLECTION"
	}
	return strings.ToUpper(method)
}
