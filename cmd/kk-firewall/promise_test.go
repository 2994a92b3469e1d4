package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/firewall"
)

// labRules puts back what newLab adds to INPUT, as a firewall reload would.
func labRules(t *testing.T, l *lab, ipt string) {
	t.Helper()
	l.srv.Run(t, ipt, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
	l.srv.Run(t, ipt, "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(int(l.port)), "-j", "DROP")
}

// firstInputRule returns the first rule of INPUT in ns.
func firstInputRule(t *testing.T, ns *nstest.NS, ipt string) string {
	t.Helper()
	for _, l := range strings.Split(ns.Run(t, ipt, "-S", "INPUT"), "\n") {
		if strings.HasPrefix(l, "-A ") {
			return l
		}
	}
	return ""
}

// TestOpenPutsBackTheJump deletes INPUT's jump to KNOCKKNOCK, flushes
// INPUT and reloads a policy without it, puts a rule above it or adds a
// second jump, and checks that the next Open puts the jump back first and
// alone in INPUT and really admits the connection, for IPv4 and IPv6 and
// with both backends (the netlink one reads INPUT over netlink and must
// leave every such case to iptables).
func TestOpenPutsBackTheJump(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, l *lab, ipt string)
		warn  string
	}{
		{"jump deleted", func(t *testing.T, l *lab, ipt string) { l.srv.Run(t, ipt, "-D", "INPUT", "-j", "KNOCKKNOCK") }, "was missing"},
		{"INPUT flushed and reloaded", func(t *testing.T, l *lab, ipt string) { l.srv.Run(t, ipt, "-F", "INPUT"); labRules(t, l, ipt) }, "was missing"},
		{"rule inserted above", func(t *testing.T, l *lab, ipt string) {
			l.srv.Run(t, ipt, "-I", "INPUT", "1", "-p", "udp", "--dport", "9", "-j", "DROP")
		}, "was not the first INPUT rule"},
		{"second jump", func(t *testing.T, l *lab, ipt string) { l.srv.Run(t, ipt, "-A", "INPUT", "-j", "KNOCKKNOCK") }, "was not the first INPUT rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forBackends(t, func(t *testing.T, backend string) {
				l := newLab(t)
				h := startBackend(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), backend)
				c := h.client(t)
				for _, f := range []struct{ ipt, src, dst string }{{"iptables", l.allowed, l.dst}, {"ip6tables", l.allowed6, l.dst6}} {
					tc.spoil(t, l, f.ipt)
					input := l.srv.Run(t, f.ipt, "-S", "INPUT")
					if firstInputRule(t, l.srv, f.ipt) == "-A INPUT -j KNOCKKNOCK" && strings.Count(input, "-j KNOCKKNOCK") == 1 {
						t.Fatalf("%s: setup left the jump first and alone:\n%s", f.ipt, input)
					}
					open(t, c, f.src, l.port, 30*time.Second)
					if got := firstInputRule(t, l.srv, f.ipt); got != "-A INPUT -j KNOCKKNOCK" {
						t.Errorf("%s: first INPUT rule after Open = %q, want the jump", f.ipt, got)
					}
					if n := strings.Count(l.srv.Run(t, f.ipt, "-S", "INPUT"), "-j KNOCKKNOCK"); n != 1 {
						t.Errorf("%s: %d jumps in INPUT, want 1", f.ipt, n)
					}
					if !connects(t, l.cli, f.src, f.dst) {
						t.Errorf("%s: Open succeeded but the connection was refused", f.ipt)
					}
				}
				if n := strings.Count(h.log.String(), tc.warn+"; re-inserted it at position 1"); n != 2 {
					t.Errorf("%d warnings %q, want one per family:\n%s", n, tc.warn, h.log)
				}
			})
		})
	}
}

// TestLongOpeningAdmitsOneConnection keeps an opening for 75 s and tries a
// second connection after 62 s, when a 1/min limit would have refilled.
func TestLongOpeningAdmitsOneConnection(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 65 s; TestLimitCannotRefillWithinAnOpening in pkg/firewall checks the rate")
	}
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		h := startBackend(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), backend)
		t0 := time.Now()
		open(t, h.client(t), l.allowed, l.port, 75*time.Second)
		if !connects(t, l.cli, l.allowed, l.dst) {
			t.Fatal("first connection refused")
		}
		if connects(t, l.cli, l.allowed, l.dst) {
			t.Fatal("second connection at once admitted")
		}
		time.Sleep(time.Until(t0.Add(62 * time.Second)))
		if connects(t, l.cli, l.allowed, l.dst) {
			t.Fatal("a new connection 62 s into the opening was admitted: the limit refilled")
		}
	})
}

// TestStartCapsPlantedRule plants a rule lasting until 2037 before the
// helper starts: it must be cut to --max-duration, and the helper must then
// idle out once it is gone.
func TestStartCapsPlantedRule(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	far := time.Date(2037, 1, 1, 0, 0, 0, 0, time.UTC)
	l.srv.Run(t, "iptables", "-N", "KNOCKKNOCK")
	l.srv.Run(t, "sh", "-c", "iptables "+wantRule(l.allowed, l.port, far, "planted"))
	binary(t) // built before t0
	t0 := time.Now()
	h := startHelper(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), "--max-duration", "4s", "--idle-exit", "1s")
	got, err := h.client(t).List(ctxT(t))
	if err != nil || len(got) != 1 {
		t.Fatalf("List = %v, %v; want the adopted rule", got, err)
	}
	if d := got[0].Deadline; d.After(t0.Add(5*time.Second)) || d.Before(t0) {
		t.Fatalf("adopted deadline %v, want at most --max-duration (4 s) after start %v", d, t0)
	}
	if rules := chain(t, l.srv, "iptables"); len(rules) != 1 || rules[0] != wantRule(l.allowed, l.port, got[0].Deadline, "planted") {
		t.Fatalf("chain = %q, want only the capped rule", rules)
	}
	if !strings.Contains(h.log.String(), "capped it") || !strings.Contains(h.log.String(), "2037-01-01") {
		t.Errorf("capping not logged with the planted deadline:\n%s", h.log)
	}
	if !connects(t, l.cli, l.allowed, l.dst) {
		t.Error("the capped rule does not admit its address")
	}
	h.wait(t, time.Until(got[0].Deadline)+15*time.Second)
	if rules := chain(t, l.srv, "iptables"); len(rules) != 0 {
		t.Fatalf("chain after the helper idled out = %q", rules)
	}
}

// TestWarnsOnIPTablesLegacy runs the helper with iptables-legacy first on
// PATH: there every rule change refills every opening's limit, so the
// one-connection promise does not hold, and the helper must say so.
func TestWarnsOnIPTablesLegacy(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{"iptables", "ip6tables"} {
		p, err := exec.LookPath(name + "-legacy")
		if err != nil {
			nstest.Unavailable(t, name+"-legacy missing: apt-get install iptables")
		}
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	ns := nstest.New(t, "fy")
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := launch(t, ns, sock, "env", "PATH="+dir+":"+os.Getenv("PATH"), binary(t), "--listen", sock)
	waitFor(t, 20*time.Second, "the iptables-legacy warning", func() bool {
		return strings.Contains(h.log.String(), "iptables is iptables-legacy")
	})
	if !strings.Contains(ns.Run(t, filepath.Join(dir, "iptables"), "-S"), "KNOCKKNOCK") {
		t.Fatal("the helper did not use iptables-legacy, so the warning proves nothing")
	}
}

func TestMaxDurationOverTwelveHoursRefused(t *testing.T) {
	o := options{policy: firewall.Policy{MaxDuration: 13 * time.Hour, MaxOpenings: 1}}
	if err := run(o); err == nil || !strings.Contains(err.Error(), "--max-duration 13h0m0s is over 12h0m0s") {
		t.Fatalf("run with --max-duration 13h = %v, want a refusal naming the flag and 12h", err)
	}
}
