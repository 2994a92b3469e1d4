package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/firewall"
)

// benchAddr returns a distinct unicast address for i.
func benchAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 99, byte(i >> 8), byte(i)})
}

// BenchmarkOpenRulePresent measures Open from the RPC call until it returns,
// at which point the rule is in the chain (checked with iptables -C on the
// first iterations), for each backend. It reports the median as p50-ms and
// the 99th percentile as p99-ms, and the same of the helper's own time from
// request to answer (its log's took=) as helper-p50-ms and helper-p99-ms.
func BenchmarkOpenRulePresent(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) { benchOpen(b, backend) })
	}
}

func benchOpen(b *testing.B, backend string) {
	ns := nstest.New(b, "fb")
	h := startBackend(b, ns, filepath.Join(socketDir(b), "fw.sock"), backend)
	c := h.client(b)
	var took []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := firewall.OpenRequest{IP: benchAddr(i % 60000), Port: 22, Duration: 60 * time.Second, Profile: "bench"}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		t0 := time.Now()
		o, err := c.Open(ctx, req)
		took = append(took, time.Since(t0))
		b.StopTimer()
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		if i < 3 {
			ns.Run(b, "iptables", "-C", "KNOCKKNOCK", "-s", o.IP.String(), "-p", "tcp", "--dport", "22",
				"-m", "conntrack", "--ctstate", "NEW", "-m", "limit", "--limit", "1/day", "--limit-burst", "1",
				"-m", "time", "--datestop", o.Deadline.Add(-time.Second).UTC().Format("2006-01-02T15:04:05"),
				"-m", "comment", "--comment", fmt.Sprintf("knockknock deadline=%s profile=bench", o.Deadline.UTC().Format(time.RFC3339)),
				"-j", "ACCEPT")
		}
		if err := c.Revoke(ctxT(b), o.IP, o.Port); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportPercentiles(b, took, "")
	reportPercentiles(b, helperTook(b, h), "helper-")
}

// reportPercentiles reports the median and 99th percentile of ds in ms.
func reportPercentiles(b *testing.B, ds []time.Duration, prefix string) {
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, prefix+"p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds())/1000, prefix+"p99-ms")
}

// helperTook returns the took= of each "opened" line in h's log: Open
// inside kk-firewall, from the request's arrival to the answer, without
// gRPC's trip.
func helperTook(b *testing.B, h *helper) []time.Duration {
	var ds []time.Duration
	for _, line := range strings.Split(h.log.String(), "\n") {
		if !strings.Contains(line, "msg=opened ") {
			continue
		}
		_, v, ok := strings.Cut(line, " took=")
		d, err := time.ParseDuration(strings.Fields(v + " ")[0])
		if !ok || err != nil {
			b.Fatalf("no took= in %q", line)
		}
		ds = append(ds, d)
	}
	if len(ds) == 0 {
		b.Fatalf("no opened lines in the log:\n%s", h.log)
	}
	return ds
}

// BenchmarkListWith100Openings measures List with 100 live openings and
// reports the helper's resident set size then as RSS-MB.
func BenchmarkListWith100Openings(b *testing.B) {
	ns := nstest.New(b, "fr")
	h := startHelper(b, ns, filepath.Join(socketDir(b), "fw.sock"))
	c := h.client(b)
	ctx := context.Background()
	for i := 0; i < 100; i++ {
		if _, err := c.Open(ctxT(b), firewall.OpenRequest{IP: benchAddr(i), Port: 22, Duration: 300 * time.Second, Profile: "bench"}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		os, err := c.List(ctx)
		cancel()
		if err != nil || len(os) != 100 {
			b.Fatalf("List = %d openings, %v; want 100", len(os), err)
		}
	}
	b.StopTimer()
	rss := rssMB(b, h.cmd.Process.Pid)
	b.ReportMetric(rss["VmRSS:"], "RSS-MB")
	b.ReportMetric(rss["RssAnon:"], "anon-MB")
	b.ReportMetric(rss["RssFile:"], "file-MB")
}

// rssMB reads VmRSS, RssAnon and RssFile of pid, which must be
// kk-firewall, in MB.
func rssMB(b *testing.B, pid int) map[string]float64 {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil || strings.TrimSpace(string(comm)) != "kk-firewall" {
		b.Fatalf("pid %d is %q, not kk-firewall: %v", pid, comm, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	out := make(map[string]float64)
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) == 3 && f[2] == "kB" {
			kb, err := strconv.Atoi(f[1])
			if err != nil {
				b.Fatal(err)
			}
			out[f[0]] = float64(kb) / 1024
		}
	}
	if out["VmRSS:"] == 0 {
		b.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	return out
}
