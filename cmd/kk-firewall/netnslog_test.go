package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

// TestWarnsWhenNamespacesMayLog runs the real helper in the host's network
// namespace, the only one where net.netfilter.nf_log_all_netns exists, with
// the sysctl at 1. A bad --max-openings stops it right after the warning and
// before it touches any iptables chain, so the host's firewall is left alone.
func TestWarnsWhenNamespacesMayLog(t *testing.T) {
	nstest.EnableLogging(t)
	out, err := exec.Command(binary(t), "--listen", "/nonexistent/fw.sock", "--max-openings", "0").CombinedOutput()
	if err == nil {
		t.Fatalf("kk-firewall --max-openings 0 succeeded:\n%s", out)
	}
	for _, want := range []string{"level=WARN", "nf_log_all_netns = 1", "sysctl -w net.netfilter.nf_log_all_netns=0", "--max-openings must be positive"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}
