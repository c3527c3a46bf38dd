/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package network

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

const metricsFixture = `# HELP go_gc_duration_seconds A summary of the pause duration of garbage collection cycles.
# TYPE go_gc_duration_seconds summary
go_gc_duration_seconds{quantile="0"} 2.1e-05
go_gc_duration_seconds_sum 0.0123
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 187
# HELP go_memstats_heap_inuse_bytes Number of heap bytes that are in use.
# TYPE go_memstats_heap_inuse_bytes gauge
go_memstats_heap_inuse_bytes 2.4952832e+07
go_memstats_heap_inuse_bytes_total{x="y"} 1
chaincode_launch_duration{chaincode="kv_1:abc",success="true"} 1.5
ledger_blockchain_height{channel="testchannel"} 7 1700000000000
`

func TestParseMetrics(t *testing.T) {
	m, err := ParseMetrics(strings.NewReader(metricsFixture), metricGoroutines, metricHeapInuse)
	if err != nil {
		t.Fatal(err)
	}
	if m[metricGoroutines] != 187 {
		t.Errorf("goroutines = %v", m[metricGoroutines])
	}
	if m[metricHeapInuse] != 24952832 {
		t.Errorf("heap inuse = %v", m[metricHeapInuse])
	}
	if len(m) != 2 {
		t.Errorf("unasked metrics returned: %v", m)
	}

	if _, err := ParseMetrics(strings.NewReader(metricsFixture), "process_open_fds"); err == nil || !strings.Contains(err.Error(), "process_open_fds") {
		t.Errorf("missing metric: err = %v", err)
	}
	if _, err := ParseMetrics(strings.NewReader("go_goroutines many\n"), metricGoroutines); err == nil {
		t.Error("non-numeric value accepted")
	}
	// A sample with a timestamp and one line without a value are tolerated.
	m, err = ParseMetrics(strings.NewReader("go_goroutines\ngo_goroutines 12 1700000000000\n"), metricGoroutines)
	if err != nil || m[metricGoroutines] != 12 {
		t.Errorf("timestamped sample: %v %v", m, err)
	}
}

const statusFixture = `Name:	peer
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Pid:	4242
VmPeak:	 2335144 kB
VmSize:	 2335144 kB
VmHWM:	  101220 kB
VmRSS:	   98304 kB
RssAnon:	   60000 kB
Threads:	17
`

func TestParseVmRSS(t *testing.T) {
	rss, err := ParseVmRSS(strings.NewReader(statusFixture))
	if err != nil {
		t.Fatal(err)
	}
	if rss != 98304*1024 {
		t.Errorf("rss = %d", rss)
	}
	if _, err := ParseVmRSS(strings.NewReader("Name:\tkthreadd\nState:\tS (sleeping)\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
	if _, err := ParseVmRSS(strings.NewReader("VmRSS:\t12 MB\n")); err == nil {
		t.Error("unknown unit accepted")
	}
}

func TestProcSelf(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	pid := os.Getpid()
	rss, err := ProcRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 || rss > 1<<34 {
		t.Errorf("rss of the test process = %d bytes", rss)
	}
	threads, err := ProcThreads(pid)
	if err != nil {
		t.Fatal(err)
	}
	if threads < 1 {
		t.Errorf("threads of the test process = %d", threads)
	}
	if _, err := ProcThreads(-1); err == nil {
		t.Error("ProcThreads(-1) did not fail")
	}
	before, err := ProcFDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	if before < 3 {
		t.Errorf("fds of the test process = %d", before)
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	after, err := ProcFDs(pid)
	if err != nil {
		t.Fatal(err)
	}
	if after != before+1 {
		t.Errorf("fds %d after opening a file, %d before", after, before)
	}
	if _, err := ProcRSS(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}
