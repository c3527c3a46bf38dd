/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"context"
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
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// apiProxy forwards one peer's Kubernetes API requests to the API server
// (with the bench's credentials) and counts them by verb: the API server of
// the local cluster is shared with other test runs, so its own counters
// cannot tell what one peer asks for.
type apiProxy struct {
	lis    net.Listener
	srv    *http.Server
	mu     sync.Mutex
	counts map[string]int64
}

// startAPIProxy listens on 127.0.0.1 and forwards to the cluster of
// kubeconfig. HTTP/1.1 only, so that the VM's attach (WebSocket or SPDY
// upgrade) passes through; watches are flushed as they stream.
func startAPIProxy(kubeconfig string) (*apiProxy, error) {
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
	p := &apiProxy{lis: lis, counts: map[string]int64{}}
	p.srv = &http.Server{ReadHeaderTimeout: 30 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verb := requestVerb(r.Method, r.URL)
		p.mu.Lock()
		p.counts[verb]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	go p.srv.Serve(lis) //nolint:errcheck // ends with Close
	return p, nil
}

// WriteKubeconfig writes a kubeconfig that points at the proxy.
func (p *apiProxy) WriteKubeconfig(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: bench, cluster: {server: "http://%s"}}]
users: [{name: bench, user: {}}]
contexts: [{name: bench, context: {cluster: bench, user: bench}}]
current-context: bench
`, p.lis.Addr())), 0o600)
}

// Counts is a copy of the requests counted so far, by verb.
func (p *apiProxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.counts))
	for k, v := range p.counts {
		out[k] = v
	}
	return out
}

// Close stops the proxy (streams in flight end).
func (p *apiProxy) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = p.srv.Shutdown(ctx)
	_ = p.srv.Close()
}

// requestVerb names a Kubernetes API request the way the API server's
// metrics do: GET/LIST/WATCH for reads of one object, a collection or a
// watch; CREATE, UPDATE, PATCH, DELETE, DELETECOLLECTION; CONNECT for
// upgraded subresources (attach, exec); the method for non-resource paths.
func requestVerb(method string, u *url.URL) string {
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
