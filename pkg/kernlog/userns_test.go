package kernlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/internal/nstest"
)

// TestUserNamespaceKnockRefused is the attack itself: with nf_log_all_netns
// = 1, user nobody creates a user and network namespace, adds a LOG rule
// with the knock prefix and sends a SYN over that namespace's lo. The kernel
// logs it like any other packet; the parser must refuse it as Loopback.
func TestUserNamespaceKnockRefused(t *testing.T) {
	nstest.EnableLogging(t)
	kmsg, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("opening /dev/kmsg: %v", err)
	}
	defer unix.Close(kmsg)
	if _, err := unix.Seek(kmsg, 0, unix.SEEK_END); err != nil {
		t.Fatal(err)
	}
	const port = "4447"
	script := `ip link set lo up && iptables -A INPUT -p tcp --dport ` + port + ` --syn -j LOG --log-prefix "REJECT " --log-tcp-sequence &&
		{ timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/` + port + `" 2>/dev/null; true; }`
	out, err := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
		"unshare", "-Urn", "sh", "-c", script).CombinedOutput()
	if err != nil {
		nstest.Unavailable(t, fmt.Sprintf("nobody cannot build a namespace with a LOG rule here (user namespaces off?): %v\n%s", err, out))
	}
	msg := nextKmsg(t, kmsg, "REJECT IN=lo ", "DPT="+port+" ")
	p := NewParser("REJECT ", testPorts)
	if pkt, v := p.ParseMessage(msg); v != Loopback {
		t.Fatalf("the user namespace's kernel line: %s, want %s\n%s", describe(pkt, v), Loopback, msg)
	}
	// The same line from another interface would be a knock: only IN=lo tells.
	other := bytes.Replace(msg, []byte("IN=lo "), []byte("IN=eth0 "), 1)
	if _, v := p.ParseMessage(other); v != Knock {
		t.Fatalf("on eth0 the line is %s, want a knock: the test proves nothing\n%s", v, other)
	}
}

// nextKmsg returns the text of the next /dev/kmsg record containing every
// one of parts, waiting up to 10 s.
func nextKmsg(t *testing.T, fd int, parts ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]byte, 8192)
	for ctx.Err() == nil {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, unix.EAGAIN) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil && !errors.Is(err, unix.EPIPE) { // EPIPE: records were overwritten
			t.Fatalf("reading /dev/kmsg: %v", err)
		}
		_, text, ok := strings.Cut(string(buf[:max(n, 0)]), ";")
		text, _, _ = strings.Cut(text, "\n")
		if ok && containsAll(text, parts) {
			return []byte(text)
		}
	}
	t.Fatalf("no kernel record with %q within 10s", parts)
	return nil
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}
