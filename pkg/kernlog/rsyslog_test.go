package kernlog

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

// shippedRule is the rsyslog rule that make install puts in /etc/rsyslog.d,
// and installedLog the file it writes.
const (
	shippedRule  = "../../systemd/rsyslog.d/30-knockknock.conf"
	installedLog = "/var/log/knockknock/kern.log"
)

// TestRsyslogRuleTakesOnlyKernelLines runs a private rsyslogd with the
// shipped rule, a unix socket standing in for /dev/log and imkmsg. A raw
// datagram "<4>kernel: REJECT ..." on the socket, which any local user can
// send to /dev/log and which rsyslog files under kern with the tag
// "kernel:", must not reach kk's file; a SYN that a LOG rule logs in a
// fresh network namespace must, and must parse as a knock.
func TestRsyslogRuleTakesOnlyKernelLines(t *testing.T) {
	rsyslogd := lookRsyslogd(t)
	srv, cli := nstest.New(t, "rsl"), nstest.New(t, "rsc")
	nstest.Link(t, srv, "10.213.7.1/24", cli, "10.213.7.2/24")
	nstest.EnableLogging(t)
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "4444", "--syn",
		"-j", "LOG", "--log-prefix", "REJECT ", "--log-tcp-sequence")

	dir := t.TempDir()
	sock, kk, all := filepath.Join(dir, "log.sock"), filepath.Join(dir, "kk", "kern.log"), filepath.Join(dir, "all.log")
	startRsyslogd(t, rsyslogd, dir, `module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="`+sock+`")
module(load="imkmsg")
`+shippedRuleFor(t, kk)+`
*.* action(type="omfile" file="`+all+`")
`, sock)

	const forged = "REJECT IN=eth0 OUT= SRC=203.0.113.66 DST=10.213.7.1 LEN=40 TOS=0x00 PREC=0x00 TTL=64 ID=1 " +
		"PROTO=TCP SPT=40000 DPT=4444 SEQ=2 ACK=3 WINDOW=4 RES=0x00 SYN URGP=0"
	sendDatagram(t, sock, "<4>kernel: "+forged)
	cli.Run(t, "bash", "-c", "exec 3<>/dev/tcp/10.213.7.1/4444 || true")

	p := NewParser("REJECT ", []uint16{4444})
	awaitLine(t, all, "the forged datagram, as a knock, in the catch-all file", func(l string) bool {
		pkt, v := p.ParseSyslog([]byte(l))
		return v == Knock && pkt.Src.String() == "203.0.113.66"
	})
	awaitLine(t, kk, "the kernel's knock in kk's file", func(l string) bool {
		pkt, v := p.ParseSyslog([]byte(l))
		return v == Knock && pkt.Src.String() == "10.213.7.2"
	})
	data, _ := os.ReadFile(kk)
	if strings.Contains(string(data), "SRC=203.0.113.66") {
		t.Fatalf("a datagram a user sent to the log socket reached kk's file:\n%s", grepLines(string(data), "203.0.113.66"))
	}
}

func lookRsyslogd(t *testing.T) string {
	t.Helper()
	nstest.RequireRoot(t) // imkmsg reads /dev/kmsg, LOG needs a namespace
	p, err := exec.LookPath("rsyslogd")
	if err != nil {
		nstest.Unavailable(t, "rsyslogd missing: apt-get install rsyslog")
	}
	return p
}

// shippedRuleFor returns the shipped rule with its file replaced by path.
func shippedRuleFor(t *testing.T, path string) string {
	t.Helper()
	rule, err := os.ReadFile(shippedRule)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rule), `file="`+installedLog+`"`) {
		t.Fatalf("%s does not write %s", shippedRule, installedLog)
	}
	return strings.ReplaceAll(string(rule), installedLog, path)
}

// startRsyslogd runs rsyslogd with conf in dir until the test ends, and
// waits for sock.
func startRsyslogd(t *testing.T, rsyslogd, dir, conf, sock string) {
	t.Helper()
	confPath := filepath.Join(dir, "rsyslog.conf")
	conf = `global(workDirectory="` + dir + `")` + "\n" + conf
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, rsyslogd, "-n", "-f", confPath, "-i", filepath.Join(dir, "pid"))
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		if t.Failed() {
			t.Logf("rsyslogd output:\n%s", out)
		}
	})
	await(t, "rsyslogd's socket", func() bool { _, err := os.Stat(sock); return err == nil })
}

// sendDatagram sends msg to the unix datagram socket sock, as a local
// program writing to /dev/log does, with no rewriting by logger.
func sendDatagram(t *testing.T, sock, msg string) {
	t.Helper()
	c, err := net.Dial("unixgram", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// awaitLine waits up to 10 s for a line of path for which match is true.
func awaitLine(t *testing.T, path, what string, match func(string) bool) {
	t.Helper()
	await(t, what, func() bool {
		data, _ := os.ReadFile(path)
		for _, l := range strings.Split(string(data), "\n") {
			if match(l) {
				return true
			}
		}
		return false
	})
}

func await(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(25 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 10s waiting for %s", what)
		}
	}
}

func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
