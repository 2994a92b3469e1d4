//go:build kkprofile

package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// With the kkprofile build tag (never set for the shipped binary), a
// kk-monitor started with KK_CPUPROFILE=<file> writes a CPU profile of its
// whole run to <file>.<pid>, start-up included, so that the profiles of
// several runs can be merged (go tool pprof takes them all). BenchmarkReplay builds the binary with
// this tag when KK_CPUPROFILE is set, since the test's own -cpuprofile sees
// only the test process.
func init() {
	path := os.Getenv("KK_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, os.Getpid()))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "kk-monitor: KK_CPUPROFILE:", err)
		os.Exit(1)
	}
	stopProfiling = func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
