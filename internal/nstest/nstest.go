// Package nstest gives root-only tests a fresh network namespace, so they
// exercise real iptables, veth links and sockets without touching the host's
// own rules.
//
// Outside CI a test that is not run as root is skipped with a loud message.
// Under CI (CI set to anything but "", "false" or "0", so CI=1 as well as
// CI=true) it fails instead, because CI runs as root and a skip there would
// hide a missing proof. Unavailable applies the same rule to other needs.
package nstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// RequireRoot stops t unless the process runs as uid 0.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	Unavailable(t, "ROOT TEST: needs root for network namespaces and iptables; run `make test` as root")
}

// UnderCI reports whether the tests run under CI: the CI variable is set to
// anything but "", "false" or "0".
func UnderCI() bool {
	switch os.Getenv("CI") {
	case "", "false", "0":
		return false
	}
	return true
}

// Unavailable stops t because something it needs is missing, as msg says.
// Under CI the test fails, since CI must run every test; elsewhere it is
// skipped with a loud message.
func Unavailable(t testing.TB, msg string) {
	t.Helper()
	if UnderCI() {
		t.Fatalf("NOT RUN under CI=%s: %s", os.Getenv("CI"), msg)
	}
	t.Skip("SKIPPED: " + msg)
}

// A NS is a network namespace created for one test and deleted by its cleanup.
type NS struct {
	Name string
}

// New creates a namespace whose name starts with "kk" and prefix, brings up
// its loopback and registers its deletion with t.Cleanup.
func New(t testing.TB, prefix string) *NS {
	t.Helper()
	RequireRoot(t)
	b := make([]byte, 3)
	rand.Read(b)
	ns := &NS{Name: "kk" + prefix + hex.EncodeToString(b)}
	mustRun(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns.Name).Run() })
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// Command returns a command that runs args inside the namespace.
func (ns *NS) Command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name}, args...)...)
}

// Run runs args inside the namespace within 30 s and returns the combined
// output. It fails the test if the command fails.
func (ns *NS) Run(t testing.TB, args ...string) string {
	t.Helper()
	return mustRun(t, append([]string{"ip", "netns", "exec", ns.Name}, args...)...)
}

// Link joins a and b with a veth pair and gives each end an address in CIDR
// form, such as "10.77.0.1/24". It returns the names of a's and b's ends.
func Link(t testing.TB, a *NS, aAddr string, b *NS, bAddr string) (aDev, bDev string) {
	t.Helper()
	return link(t, a, aAddr, b, bAddr)
}

// Link6 is Link for IPv6 addresses, such as "fd00:201:7::1/64". They are
// added without duplicate address detection, so they are usable at once.
func Link6(t testing.TB, a *NS, aAddr string, b *NS, bAddr string) (aDev, bDev string) {
	t.Helper()
	return link(t, a, aAddr, b, bAddr, "nodad")
}

func link(t testing.TB, a *NS, aAddr string, b *NS, bAddr string, flags ...string) (aDev, bDev string) {
	t.Helper()
	ea, eb := "v"+a.Name[len(a.Name)-6:]+"a", "v"+b.Name[len(b.Name)-6:]+"b"
	mustRun(t, "ip", "link", "add", ea, "netns", a.Name, "type", "veth", "peer", "name", eb, "netns", b.Name)
	a.Run(t, append([]string{"ip", "addr", "add", aAddr, "dev", ea}, flags...)...)
	a.Run(t, "ip", "link", "set", ea, "up")
	b.Run(t, append([]string{"ip", "addr", "add", bAddr, "dev", eb}, flags...)...)
	b.Run(t, "ip", "link", "set", eb, "up")
	return ea, eb
}

func mustRun(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Do runs fn on a new OS thread moved into the namespace and returns fn's
// error. Sockets fn creates stay in the namespace wherever they are used
// afterwards. The thread is never unlocked, so it exits with fn instead of
// going back to the scheduler in the wrong namespace. fn must not call
// t.Fatal: it runs on another goroutine.
func (ns *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns.Name)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := setns(f); err != nil {
			errc <- fmt.Errorf("entering network namespace %s: %w", ns.Name, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
