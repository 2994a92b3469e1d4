package main

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
)

// wantRule is the rule the issue specifies, written out independently of
// the code under test.
func wantRule(ip string, port uint16, deadline time.Time, profile string) string {
	bits := "/32"
	if strings.Contains(ip, ":") {
		bits = "/128"
	}
	return fmt.Sprintf("-A KNOCKKNOCK -s %s%s -p tcp -m tcp --dport %d -m conntrack --ctstate NEW -m limit --limit 1/day --limit-burst 1"+
		" -m time --datestop %s -m comment --comment \"knockknock deadline=%s profile=%s\" -j ACCEPT",
		ip, bits, port, deadline.Add(-time.Second).UTC().Format("2006-01-02T15:04:05"), deadline.UTC().Format(time.RFC3339), profile)
}

func open(t *testing.T, m firewall.Manager, ip string, port uint16, d time.Duration) firewall.Opening {
	t.Helper()
	o, err := m.Open(ctxT(t), firewall.OpenRequest{IP: netip.MustParseAddr(ip), Port: port, Duration: d, Profile: "lab"})
	if err != nil {
		t.Fatalf("Open %s:%d for %v: %v", ip, port, d, err)
	}
	return o
}

func TestOpenAdmitsOnlyThatAddressUntilDeadline(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		h := startBackend(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), backend)
		if connects(t, l.cli, l.allowed, l.dst) {
			t.Fatal("connection admitted before any opening; the lab's DROP rule does not work")
		}
		c := h.client(t)
		o := open(t, c, l.allowed, l.port, 7*time.Second)
		if got, want := chain(t, l.srv, "iptables"), []string{wantRule(l.allowed, l.port, o.Deadline, "lab")}; !slices.Equal(got, want) {
			t.Fatalf("chain after Open:\n%q\nwant\n%q", got, want)
		}
		l.srv.Run(t, "sh", "-c", "iptables "+strings.Replace(wantRule(l.allowed, l.port, o.Deadline, "lab"), "-A ", "-C ", 1))
		// Each failed attempt takes 2 s; all happen well before the deadline.
		if !connects(t, l.cli, l.allowed, l.dst) {
			t.Fatal("connection from the allowed address was refused")
		}
		if connects(t, l.cli, l.allowed, l.dst) {
			t.Error("a second new connection was admitted; the limit match should admit one")
		}
		if connects(t, l.cli, l.other, l.dst) {
			t.Error("connection from another address was admitted")
		}
		if time.Now().After(o.Deadline) {
			t.Fatalf("machine too slow: checks ran past the deadline %v", o.Deadline)
		}
		if input := strings.Split(l.srv.Run(t, "iptables", "-S", "INPUT"), "\n"); len(input) < 2 || input[1] != "-A INPUT -j KNOCKKNOCK" {
			t.Errorf("INPUT does not jump to KNOCKKNOCK at position 1:\n%s", strings.Join(input, "\n"))
		}
		waitFor(t, time.Until(o.Deadline)+5*time.Second, "rule removal", func() bool { return len(chain(t, l.srv, "iptables")) == 0 })
		t.Logf("rule removed %v after its deadline", time.Since(o.Deadline))
		if time.Now().Before(o.Deadline) {
			t.Fatalf("rule removed before its deadline %v", o.Deadline)
		}
		if connects(t, l.cli, l.allowed, l.dst) {
			t.Error("connection admitted after the deadline")
		}
	})
}

func TestIPv6OpeningUsesIP6Tables(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		h := startBackend(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), backend)
		if connects(t, l.cli, l.allowed6, l.dst6) {
			t.Fatal("IPv6 connection admitted before any opening")
		}
		o := open(t, h.client(t), l.allowed6, l.port, 3*time.Second)
		if got := chain(t, l.srv, "ip6tables"); !slices.Equal(got, []string{wantRule(l.allowed6, l.port, o.Deadline, "lab")}) {
			t.Fatalf("ip6tables chain = %q", got)
		}
		if got := chain(t, l.srv, "iptables"); len(got) != 0 {
			t.Fatalf("IPv6 opening wrote to iptables: %q", got)
		}
		if !connects(t, l.cli, l.allowed6, l.dst6) {
			t.Fatal("IPv6 connection from the allowed address was refused")
		}
	})
}

func TestReopenRevokeAndList(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		h := startBackend(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), backend)
		c := h.client(t)
		first := open(t, c, l.allowed, l.port, 2*time.Second)
		moved := open(t, c, l.allowed, l.port, 30*time.Second)
		if !moved.Deadline.After(first.Deadline) {
			t.Fatalf("reopen did not move the deadline: %v then %v", first.Deadline, moved.Deadline)
		}
		if got := chain(t, l.srv, "iptables"); !slices.Equal(got, []string{wantRule(l.allowed, l.port, moved.Deadline, "lab")}) {
			t.Fatalf("after reopen chain = %q, want only the moved rule", got)
		}
		other := open(t, c, l.other, 443, 30*time.Second)
		v6 := open(t, c, l.allowed6, 22, 30*time.Second)
		got, err := c.List(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		var listed []string
		for _, o := range got {
			listed = append(listed, wantRule(o.IP.String(), o.Port, o.Deadline, o.Profile))
		}
		inChain := append(chain(t, l.srv, "iptables"), chain(t, l.srv, "ip6tables")...)
		slices.Sort(listed)
		slices.Sort(inChain)
		if !slices.Equal(listed, inChain) || len(listed) != 3 {
			t.Fatalf("List does not match the chain:\nList  %q\nchain %q", listed, inChain)
		}
		for _, o := range []firewall.Opening{moved, other, v6} {
			if err := c.Revoke(ctxT(t), o.IP, o.Port); err != nil {
				t.Fatalf("Revoke %v: %v", o, err)
			}
		}
		if n := len(chain(t, l.srv, "iptables")) + len(chain(t, l.srv, "ip6tables")); n != 0 {
			t.Fatalf("%d rules left after revoking everything", n)
		}
		if err := c.Revoke(ctxT(t), moved.IP, moved.Port); !errors.Is(err, firewall.ErrNotFound) {
			t.Fatalf("Revoke of a closed opening = %v, want ErrNotFound", err)
		}
	})
}

func TestKill9LeavesRulesThatStopMatchingAndRestartSweeps(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		sock := filepath.Join(socketDir(t), "fw.sock")
		h := startBackend(t, l.srv, sock, backend)
		c := h.client(t)
		a := open(t, c, l.allowed, l.port, 4*time.Second)
		b := open(t, c, l.other, l.port, 4*time.Second)
		h.cmd.Process.Signal(syscall.SIGKILL)
		h.wait(t, 10*time.Second)
		if !connects(t, l.cli, l.allowed, l.dst) {
			t.Fatal("with the helper dead, the open rule did not admit its address before the deadline")
		}
		time.Sleep(time.Until(b.Deadline) + 200*time.Millisecond)
		if got := chain(t, l.srv, "iptables"); len(got) != 2 {
			t.Fatalf("chain with no helper alive = %q, want both rules still there", got)
		}
		if connects(t, l.cli, l.other, l.dst) {
			t.Fatal("after the deadline the kernel still matched the rule of a dead helper")
		}
		l.srv.Run(t, "iptables", "-A", "KNOCKKNOCK", "-s", "10.77.0.9", "-j", "ACCEPT") // not parseable as kk's
		startBackend(t, l.srv, sock, backend)
		if got := chain(t, l.srv, "iptables"); len(got) != 0 {
			t.Fatalf("restarted helper left expired or unparseable rules %q (deadlines %v, %v)", got, a.Deadline, b.Deadline)
		}
	})
}

func TestRestartAdoptsLiveOpenings(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		sock := filepath.Join(socketDir(t), "fw.sock")
		h := startBackend(t, l.srv, sock, backend)
		o := open(t, h.client(t), l.allowed, l.port, 3*time.Second)
		h.cmd.Process.Signal(syscall.SIGKILL)
		h.wait(t, 10*time.Second)
		h2 := startBackend(t, l.srv, sock, backend)
		got, err := h2.client(t).List(ctxT(t))
		if err != nil || len(got) != 1 || !got[0].Deadline.Equal(o.Deadline) {
			t.Fatalf("List after restart = %v, %v; want the adopted %v", got, err, o)
		}
		waitFor(t, time.Until(o.Deadline)+5*time.Second, "removal of the adopted rule", func() bool { return len(chain(t, l.srv, "iptables")) == 0 })
	})
}

func TestRuleDeletedByHandCausesNoErrorLoop(t *testing.T) {
	t.Parallel()
	forBackends(t, func(t *testing.T, backend string) {
		l := newLab(t)
		h := startBackend(t, l.srv, filepath.Join(socketDir(t), "fw.sock"), backend)
		c := h.client(t)
		o := open(t, c, l.allowed, l.port, 2*time.Second)
		l.srv.Run(t, "iptables", "-D", "KNOCKKNOCK", "1")
		time.Sleep(time.Until(o.Deadline) + 1500*time.Millisecond)
		if !h.running() {
			t.Fatal("helper died after a rule was deleted by hand")
		}
		if got, err := c.List(ctxT(t)); err != nil || len(got) != 0 {
			t.Fatalf("List = %v, %v; want empty", got, err)
		}
		open(t, c, l.allowed, l.port, 2*time.Second) // still serving
		if n := strings.Count(h.log.String(), "level=ERROR"); n > 0 {
			t.Fatalf("%d error lines after a hand-deleted rule:\n%s", n, h.log)
		}
		if n := strings.Count(h.log.String(), "already gone"); n != 1 {
			t.Fatalf("%d 'already gone' lines, want exactly 1:\n%s", n, h.log)
		}
	})
}

func TestSIGTERMKeepsPendingRules(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	h := startHelper(t, l.srv, filepath.Join(socketDir(t), "fw.sock"))
	open(t, h.client(t), l.allowed, l.port, 30*time.Second)
	h.cmd.Process.Signal(syscall.SIGTERM)
	if err := h.wait(t, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if got := chain(t, l.srv, "iptables"); len(got) != 1 {
		t.Fatalf("chain after SIGTERM = %q, want the pending rule kept", got)
	}
}

func TestCleanupRemovesChainAndJump(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	h := startHelper(t, l.srv, filepath.Join(socketDir(t), "fw.sock"))
	open(t, h.client(t), l.allowed, l.port, 30*time.Second)
	open(t, h.client(t), l.allowed6, l.port, 30*time.Second)
	h.cmd.Process.Signal(syscall.SIGTERM)
	h.wait(t, 15*time.Second)
	l.srv.Run(t, binary(t), "cleanup")
	for _, ipt := range []string{"iptables", "ip6tables"} {
		out := l.srv.Run(t, ipt, "-S")
		if strings.Contains(out, "KNOCKKNOCK") {
			t.Errorf("%s after cleanup still mentions KNOCKKNOCK:\n%s", ipt, out)
		}
		if !strings.Contains(out, "-j DROP") {
			t.Errorf("cleanup removed a rule it did not make:\n%s", out)
		}
	}
}
