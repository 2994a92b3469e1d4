package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// activate runs kk-firewall under systemd-socket-activate in the lab's
// server namespace and waits until the first socket accepts a connection,
// which starts the helper.
func activate(t *testing.T, l *lab, sockets []string, args ...string) *helper {
	t.Helper()
	argv := []string{"systemd-socket-activate"}
	for _, s := range sockets {
		argv = append(argv, "-l", s)
	}
	h := launch(t, l.srv, sockets[0], append(append(argv, binary(t)), args...)...)
	waitFor(t, 20*time.Second, "systemd-socket-activate socket", func() bool {
		c, err := net.Dial("unix", sockets[0])
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return h
}

func TestSocketActivationServesAndExitsWhenIdle(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	dir := socketDir(t)
	sock, unused := filepath.Join(dir, "fw.sock"), filepath.Join(dir, "listen.sock")
	h := activate(t, l, []string{sock}, "--idle-exit", "2s", "--listen", unused)
	if got, err := h.client(t).List(ctxT(t)); err != nil || len(got) != 0 {
		t.Fatalf("List through the activated socket = %v, %v", got, err)
	}
	if err := h.wait(t, 20*time.Second); err != nil {
		t.Fatalf("idle exit: %v\n%s", err, h.log)
	}
	if _, err := os.Stat(unused); err == nil {
		t.Error("helper created its --listen socket although it was socket-activated")
	}
	if !strings.Contains(h.log.String(), "why=idle") {
		t.Fatalf("helper did not say it left because it was idle:\n%s", h.log)
	}
}

func TestIdleExitWaitsForPendingOpenings(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := activate(t, l, []string{sock}, "--idle-exit", "2s")
	o := open(t, h.client(t), l.allowed, l.port, 5*time.Second)
	// Idle for longer than --idle-exit while the opening is pending.
	time.Sleep(time.Until(o.Deadline) - 500*time.Millisecond)
	if !h.running() {
		t.Fatalf("helper exited with an opening pending until %v:\n%s", o.Deadline, h.log)
	}
	if err := h.wait(t, 20*time.Second); err != nil {
		t.Fatalf("idle exit after the deadline: %v", err)
	}
	if time.Now().Before(o.Deadline) {
		t.Fatal("helper exited before the deadline")
	}
	if got := chain(t, l.srv, "iptables"); len(got) != 0 {
		t.Fatalf("helper left %q behind at idle exit", got)
	}
}

func TestSocketActivationRequiresExactlyOneSocket(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	dir := socketDir(t)
	socks := []string{filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")}
	h := activate(t, l, socks)
	if err := h.wait(t, 20*time.Second); err == nil {
		t.Fatal("helper served with two activated sockets")
	}
	if !strings.Contains(h.log.String(), "exactly one") {
		t.Fatalf("error does not say what is wrong:\n%s", h.log)
	}
}
