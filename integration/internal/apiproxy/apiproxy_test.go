/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package apiproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// upstream is a fake API server: GETs of one object or a list answer at
// once; a watch sends its own events channel on opened and streams the
// lines sent on it, each flushed on its own, and records when it wrote
// them.
type upstream struct {
	*httptest.Server
	opened chan chan string // "" on a watch's channel ends it

	mu      sync.Mutex
	written map[string]time.Time
	watches int
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{opened: make(chan chan string, 10), written: map[string]time.Time{}}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("watch") != "true" {
			fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
			return
		}
		u.mu.Lock()
		u.watches++
		u.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		events := make(chan string)
		u.opened <- events
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-events:
				if ev == "" {
					return
				}
				u.mu.Lock()
				u.written[strings.TrimSpace(ev)] = time.Now()
				u.mu.Unlock()
				if _, err := io.WriteString(w, ev); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) writtenAt(ev string) time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.written[ev]
}

func startProxy(t *testing.T, u *upstream) *Proxy {
	target, err := url.Parse(u.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(target, http.DefaultTransport.(*http.Transport).Clone())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// line is one line a watch client read and when.
type line struct {
	text string
	at   time.Time
}

// watch opens a watch through the proxy; lines arrive on the first channel,
// the error that ended the stream (io.EOF for a clean end) on the second;
// what is sent on the third, the upstream's, is the watch's events.
func watch(t *testing.T, p *Proxy, u *upstream) (<-chan line, <-chan error, chan<- string) {
	resp, err := http.Get("http://" + p.Addr() + "/api/v1/namespaces/ns/pods?watch=true&resourceVersion=1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("watch: %s", resp.Status)
	}
	var events chan string
	select {
	case events = <-u.opened:
	case <-time.After(5 * time.Second):
		t.Fatal("the watch did not reach the upstream")
	}
	lines, end := make(chan line, 1000), make(chan error, 1)
	go func() {
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for {
			s, err := r.ReadString('\n')
			if err != nil {
				end <- err
				return
			}
			lines <- line{text: strings.TrimSpace(s), at: time.Now()}
		}
	}()
	return lines, end, events
}

func next(t *testing.T, lines <-chan line, within time.Duration) line {
	t.Helper()
	select {
	case l := <-lines:
		return l
	case <-time.After(within):
		t.Fatalf("no line within %s", within)
		return line{}
	}
}

func waitFor(t *testing.T, what string, within time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("%s: not within %s", what, within)
		case <-tick.C:
		}
	}
}

func TestCountsAndPassThrough(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u)
	for _, path := range []string{"/api/v1/namespaces/ns/pods/p1", "/api/v1/namespaces/ns/pods", "/apis/batch/v1/namespaces/ns/jobs"} {
		resp, err := http.Get("http://" + p.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := string(b); got != "GET "+path {
			t.Errorf("%s: %q", path, got)
		}
	}
	lines, _, events := watch(t, p, u)
	events <- `{"type":"ADDED"}` + "\n"
	if l := next(t, lines, 5*time.Second); l.text != `{"type":"ADDED"}` {
		t.Errorf("watch event %q", l.text)
	}
	if got := p.Counts(); got["GET"] != 1 || got["LIST"] != 2 || got["WATCH"] != 1 || len(got) != 3 {
		t.Errorf("counts %v", got)
	}
	if p.OpenWatches() != 1 {
		t.Errorf("open watches %d, want 1", p.OpenWatches())
	}

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := p.WriteKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(kc)
	if err != nil || !strings.Contains(string(b), `server: "http://`+p.Addr()+`"`) {
		t.Errorf("kubeconfig %s (%v)", b, err)
	}
}

func TestWatchLagKeepsOrderAndReadsAhead(t *testing.T) {
	const lag = 300 * time.Millisecond
	u := newUpstream(t)
	p := startProxy(t, u)
	p.SetWatchLag(lag)
	lines, end, events := watch(t, p, u)

	const n = 50
	start := time.Now()
	for i := 0; i < n; i++ {
		events <- fmt.Sprintf(`{"n":%d}`+"\n", i)
	}
	// The upstream was read while nothing was delivered yet.
	if d := time.Since(start); d >= lag {
		t.Fatalf("writing %d events upstream took %s: the proxy did not read ahead", n, d)
	}
	for i := 0; i < n; i++ {
		l := next(t, lines, 5*time.Second)
		want := fmt.Sprintf(`{"n":%d}`, i)
		if l.text != want {
			t.Fatalf("event %d: %q, want %q", i, l.text, want)
		}
		if d := l.at.Sub(u.writtenAt(want)); d < lag || d > lag+2*time.Second {
			t.Errorf("event %d delivered %s after it was written, want %s", i, d, lag)
		}
	}

	// Lowering the lag does not let later events overtake earlier ones.
	events <- `{"n":"slow"}` + "\n"
	p.SetWatchLag(0)
	events <- `{"n":"fast"}` + "\n"
	if l := next(t, lines, 5*time.Second); l.text != `{"n":"slow"}` {
		t.Fatalf("first after the change: %q", l.text)
	}
	if l := next(t, lines, 5*time.Second); l.text != `{"n":"fast"}` {
		t.Fatalf("second after the change: %q", l.text)
	}

	// Without lag events pass at once; the end of the response is passed on.
	events <- `{"n":"now"}` + "\n"
	if l := next(t, lines, 5*time.Second); l.at.Sub(u.writtenAt(`{"n":"now"}`)) > 200*time.Millisecond {
		t.Errorf("event without lag took %s", l.at.Sub(u.writtenAt(`{"n":"now"}`)))
	}
	events <- ""
	select {
	case err := <-end:
		if !errors.Is(err, io.EOF) {
			t.Errorf("end of the watch: %v, want EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the watch was not passed on")
	}
	waitFor(t, "watch closed", 5*time.Second, func() bool { return p.OpenWatches() == 0 })
	if got := p.Counts()["WATCH"]; got != 1 {
		t.Errorf("WATCH count %d", got)
	}
}

func TestWatchStreamSplitsLines(t *testing.T) {
	p := &Proxy{watches: map[*watchStream]struct{}{}, counts: map[string]int64{}}
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := p.newWatchStream(ctx, pr, cancel, true)
	go func() {
		for _, part := range []string{`{"a":`, `1}` + "\n" + `{"b":2}` + "\n" + `{"c"`, `:3}` + "\n", `tail`} {
			_, _ = io.WriteString(pw, part)
		}
		pw.Close()
	}()
	buf := make([]byte, 1024)
	var got []string
	for {
		n, err := s.Read(buf)
		if n > 0 {
			got = append(got, string(buf[:n]))
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	want := []string{`{"a":1}` + "\n", `{"b":2}` + "\n", `{"c":3}` + "\n", "tail"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reads %q, want %q", got, want)
	}
	_ = s.Close()
	if p.OpenWatches() != 0 {
		t.Errorf("open watches %d after Close", p.OpenWatches())
	}
}

func TestDropWatches(t *testing.T) {
	u := newUpstream(t)
	p := startProxy(t, u)
	var ends []<-chan error
	var held chan<- string
	for i := 0; i < 2; i++ {
		lines, end, events := watch(t, p, u)
		held = events
		events <- fmt.Sprintf(`{"w":%d}`+"\n", i)
		next(t, lines, 5*time.Second)
		ends = append(ends, end)
	}
	if p.OpenWatches() != 2 {
		t.Fatalf("open watches %d, want 2", p.OpenWatches())
	}
	// An event held back by the lag is lost with the stream.
	p.SetWatchLag(time.Hour)
	held <- `{"held":true}` + "\n"
	t0 := time.Now()
	if n := p.DropWatches(); n != 2 {
		t.Fatalf("DropWatches cut %d, want 2", n)
	}
	for i, end := range ends {
		select {
		case err := <-end:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("watch %d ended with %v, want an unexpected EOF", i, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("watch %d still open %s after DropWatches", i, time.Since(t0))
		}
	}
	waitFor(t, "watches closed", 5*time.Second, func() bool { return p.OpenWatches() == 0 })
	if p.Dropped() != 2 || p.DropWatches() != 0 {
		t.Errorf("dropped %d", p.Dropped())
	}

	// The proxy still serves, and new watches are cut again.
	p.SetWatchLag(0)
	lines, end, events := watch(t, p, u)
	events <- `{"after":true}` + "\n"
	if l := next(t, lines, 5*time.Second); l.text != `{"after":true}` {
		t.Fatalf("after the drop: %q", l.text)
	}
	stop := p.DropWatchesEvery(20 * time.Millisecond)
	select {
	case <-end:
	case <-time.After(5 * time.Second):
		t.Fatal("DropWatchesEvery did not cut the watch")
	}
	if n := stop(); n != 1 {
		t.Errorf("DropWatchesEvery cut %d, want 1", n)
	}
	if got := p.Counts(); got["WATCH"] != 3 {
		t.Errorf("counts %v", got)
	}
}

func TestRequestVerb(t *testing.T) {
	for _, c := range []struct{ method, url, want string }{
		{"GET", "/api/v1/namespaces/ns/pods?labelSelector=a%3Db", "LIST"},
		{"GET", "/api/v1/namespaces/ns/pods?watch=true&resourceVersion=5", "WATCH"},
		{"GET", "/api/v1/namespaces/ns/pods/p1", "GET"},
		{"GET", "/api/v1/namespaces/ns", "GET"},
		{"GET", "/api/v1/namespaces", "LIST"},
		{"POST", "/api/v1/namespaces/ns/secrets", "CREATE"},
		{"DELETE", "/api/v1/namespaces/ns/pods/p1", "DELETE"},
		{"DELETE", "/apis/batch/v1/namespaces/ns/jobs", "DELETECOLLECTION"},
		{"PATCH", "/apis/events.k8s.io/v1/namespaces/ns/events/e", "PATCH"},
		{"PUT", "/api/v1/namespaces/ns/pods/p1/status", "UPDATE"},
		{"POST", "/api/v1/namespaces/ns/pods/p1/attach?stdin=true", "CONNECT"},
		{"POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", "CREATE"},
		{"GET", "/version", "GET"},
		{"GET", "/apis/batch/v1", "GET"},
	} {
		u, err := url.Parse(c.url)
		if err != nil {
			t.Fatal(err)
		}
		if got := RequestVerb(c.method, u); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.method, c.url, got, c.want)
		}
	}
}
