package main

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

// TestWarnsWhenNamespacesMayLog runs kk-monitor with nf_log_all_netns = 1:
// in the host's network namespace it warns and says what it means; in a
// private one, as under kk-monitor.service, it says it cannot see the
// setting and points at kk-monitor check.
func TestWarnsWhenNamespacesMayLog(t *testing.T) {
	nstest.EnableLogging(t)
	s := newSetup(t)
	args := []string{binary, "--config", s.config, "--profiles", s.profiles, "--log", s.logPath,
		"--socket", s.sock, "--allow-root", "--exit-at-eof"}
	run := func(argv ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return string(out)
	}
	out := run(args...)
	for _, want := range []string{"level=WARN", "nf_log_all_netns = 1", "unshare -Urn", "fix=\"sysctl -w net.netfilter.nf_log_all_netns=0"} {
		if !strings.Contains(out, want) {
			t.Errorf("host namespace: output lacks %q:\n%s", want, out)
		}
	}
	ns := nstest.New(t, "mon")
	out = run(append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
	if !strings.Contains(out, "nf_log_all_netns is not visible from this private network namespace; kk-monitor check") {
		t.Errorf("private namespace: no note that the setting cannot be read:\n%s", out)
	}
}
