package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/knock"
)

// linkAs returns a symbolic link named name, in a fresh directory, to the
// built kk-client: the original's commands as install.sh and the package
// lay them out.
func linkAs(t *testing.T, name string) string {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // reachable by an unprivileged user too
	link := filepath.Join(dir, name)
	if err := os.Symlink(kkClient(t), link); err != nil {
		t.Fatal(err)
	}
	return link
}

// runAs runs the binary at path with args and env added to the
// environment, bounded by a timeout.
func runAs(t *testing.T, path string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("running %s %v: %v", path, args, err)
	}
	return result{code: cmd.ProcessState.ExitCode(), stdout: stdout.String(), stderr: stderr.String()}
}

// TestOriginalNamesCommandLine runs the binary as knockknock and
// knockknock-proxy: each name gets its command, the host may be the last
// argument, and a host given twice is a usage error, all without spending a
// counter.
func TestOriginalNamesCommandLine(t *testing.T) {
	kk, kkProxy := linkAs(t, "knockknock"), linkAs(t, "knockknock-proxy")
	p := newProfile(t, "server.example", 670)
	missing := filepath.Join(t.TempDir(), "nothing-here")
	home := t.TempDir()
	cases := []struct {
		name string
		bin  string
		args []string
		code int
		want []string
	}{
		{"host given twice", kk, []string{"-p", "22", "-s", "a.example", "b.example", "-d", p.Dir}, 2,
			[]string{`knockknock: host given twice, -s "a.example" and "b.example"`, "usage:\n  kk-client -p PORT -s HOST"}},
		{"two hosts", kk, []string{"-p", "22", "a.example", "b.example", "-d", p.Dir}, 2,
			[]string{`knockknock: one host, please: got "a.example" and "b.example"`, "usage:"}},
		{"two hosts as kk-client", kkClient(t), []string{"-p", "22", "a.example", "b.example"}, 2,
			[]string{`kk-client: one host, please: got "a.example" and "b.example"`}},
		{"no host", kk, []string{"-p", "22"}, 2, []string{"knockknock: -s <host> is required (or the host as the last argument)"}},
		{"no port, positional host", kk, []string{"myserver.example"}, 2, []string{"knockknock: -p <portToOpen> is required"}},
		// The positional host, flags after it, names the profile: -d's
		// directory, or ~/.knockknock/<host>.
		{"positional host, -d after it", kk, []string{"-p", "22", "myserver.example", "-d", missing}, 1,
			[]string{"knockknock: ", missing + " does not exist", "scp root@myserver.example:/etc/knockknock.d/profiles/<profileName>/* " + missing + "/"}},
		{"positional host, default profile", kk, []string{"-p", "22", "myserver.example"}, 1,
			[]string{filepath.Join(home, ".knockknock", "myserver.example") + " does not exist"}},
		{"knockknock-proxy is the proxy", kkProxy, []string{"--attempts", "0", "1080"}, 2,
			[]string{"knockknock-proxy: --attempts 0 must be at least 1", "usage:"}},
		{"knockknock-proxy wants a port", kkProxy, nil, 2, []string{"knockknock-proxy: want exactly one <listenPort>"}},
		{"kk-client proxy usage", kkClient(t), []string{"proxy", "1080", "1081"}, 2, []string{"kk-client proxy: want exactly one <listenPort>"}},
		{"help takes only --roff", kkClient(t), []string{"help", "--man"}, 2, []string{`kk-client help: unexpected argument "--man"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := runAs(t, tc.bin, []string{"HOME=" + home}, tc.args...)
			checkResult(t, r, tc.code, tc.want)
		})
	}
	if c := counter(t, p); c != 0 {
		t.Errorf("counter is %d after only failed knocks, want 0", c)
	}
}

// TestVersion: --version prints the version line under the name invoked,
// exits 0 and ignores the other flags' requirements.
func TestVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"kk-client", []string{"--version"}},
		{"kk-client", []string{"-version"}},
		{"kk-client", []string{"proxy", "--version"}},
		{"knockknock", []string{"--version"}},
		{"knockknock-proxy", []string{"--version"}},
	} {
		t.Run(tc.name+" "+strings.Join(tc.args, " "), func(t *testing.T) {
			bin := kkClient(t)
			if tc.name != "kk-client" {
				bin = linkAs(t, tc.name)
			}
			r := runAs(t, bin, nil, tc.args...)
			want := regexp.MustCompile("^" + regexp.QuoteMeta(tc.name) + ` \S+ ` +
				regexp.QuoteMeta("("+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+")") + "\n$")
			if r.code != 0 || !want.MatchString(r.stdout) || r.stderr != "" {
				t.Errorf("exit %d, stdout %q, stderr %q; want 0 and a line matching %s", r.code, r.stdout, r.stderr, want)
			}
		})
	}
}

// TestHelp: --help prints the usage on stdout and exits 0, for every name
// and command; help prints the whole page.
func TestHelp(t *testing.T) {
	for _, argv := range [][]string{{"kk-client", "--help"}, {"kk-client", "-h"}, {"kk-client", "proxy", "--help"},
		{"knockknock", "--help"}, {"knockknock-proxy", "-help"}} {
		bin := kkClient(t)
		if argv[0] != "kk-client" {
			bin = linkAs(t, argv[0])
		}
		r := runAs(t, bin, nil, argv[1:]...)
		var want bytes.Buffer
		newPage().Usage(&want)
		if r.code != 0 || r.stdout != want.String() {
			t.Errorf("%v: exit %d, stdout:\n%s\nwant exit 0 and the usage:\n%s", argv, r.code, r.stdout, want.String())
		}
	}
	r := runAs(t, kkClient(t), nil, "help")
	for _, want := range []string{"KK-CLIENT(1)", "\nSYNOPSIS\n", "    knockknock -p PORT HOST [-d DIR]\n",
		"    knockknock-proxy [PROXY OPTIONS] LISTENPORT\n", "\nCOMMANDS\n", "\nOPTIONS\n", "\nPROXY OPTIONS\n",
		"\nEXIT STATUS\n    0\n", "\n    3\n        The raw socket may not be opened", "\nFILES\n",
		"~/.knockknock/<host>/cipher.key", "~/.knockknock/proxy-credentials", "\nEXAMPLES\n", "\nSEE ALSO\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Errorf("help: exit %d", r.code)
	}
}

// TestManualListsEveryFlag checks that every flag the knock and the proxy
// parse appears in the usage, the text page and the man page, each under
// its own section.
func TestManualListsEveryFlag(t *testing.T) {
	page := newPage()
	var usage, text, roff bytes.Buffer
	page.Usage(&usage)
	page.Text(&text)
	page.Roff(&roff, "v0.0.0-test")
	knockFS, _ := knockFlags(progClient)
	proxyFS, _, _ := proxyFlags(progClient)
	for _, set := range []struct {
		fs                      *flag.FlagSet
		usageTitle, roffSection string
	}{{knockFS, "\nOptions:\n", `.SH "OPTIONS"`}, {proxyFS, "\nProxy options:\n", `.SH "PROXY OPTIONS"`}} {
		n := 0
		set.fs.VisitAll(func(f *flag.Flag) {
			n++
			term := "--" + f.Name
			if len(f.Name) == 1 {
				term = "-" + f.Name
			}
			if arg, _ := flag.UnquoteUsage(f); arg != "" {
				term += " " + arg
			}
			if u := "\n" + section(usage.String(), set.usageTitle, "\n\n"); !strings.Contains(u, "\n  "+term+"\n") {
				t.Errorf("usage lacks %q under %q:\n%s", term, set.usageTitle, usage.String())
			}
			if !strings.Contains(text.String(), "\n    "+term+"\n") {
				t.Errorf("help text lacks %q", term)
			}
			roffTerm := ".B \"" + strings.ReplaceAll(term, "-", `\-`) + "\"\n"
			if r := section(roff.String(), set.roffSection, "\n.SH "); !strings.Contains(r, roffTerm) {
				t.Errorf("man page lacks %q under %s", roffTerm, set.roffSection)
			}
		})
		if n < 7 {
			t.Errorf("%s has %d flags; the manual test looked at the wrong flag set", set.fs.Name(), n)
		}
	}
}

// section returns the part of s after title up to end, or "" if s lacks
// title.
func section(s, title, end string) string {
	_, s, ok := strings.Cut(s, title)
	if !ok {
		return ""
	}
	s, _, _ = strings.Cut(s, end)
	return s
}

// TestManPageIsCleanForGroff renders the binary's `help --roff` through
// groff with all warnings on.
func TestManPageIsCleanForGroff(t *testing.T) {
	r := runAs(t, kkClient(t), nil, "help", "--roff")
	if r.code != 0 || !strings.HasPrefix(r.stdout, `.\" Generated by kk-client`) || !strings.Contains(r.stdout, ".TH \"KK\\-CLIENT\" 1 ") {
		t.Fatalf("help --roff: exit %d, stderr %q, output:\n%s", r.code, r.stderr, r.stdout)
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		nstest.Unavailable(t, "groff is not installed (make deps installs groff-base); the man page was not checked")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(r.stdout)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Fatalf("groff -ww: %v\n%s", err, out)
	}
}

// TestKnockknockKnocksForReal sends real knocks as knockknock, with the host
// as the last argument (the seed README's form) and with -s, from one
// namespace to another, and reads each knock's LOG line on the server.
func TestKnockknockKnocksForReal(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "kkn"), nstest.New(t, "kks")
	nstest.Link(t, cli, "10.201.7.1/24", srv, "10.201.7.2/24")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kkn" + randHex(4) + " "
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence")
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "REJECT", "--reject-with", "tcp-reset")
	p := newProfile(t, "server", knockPort)
	kk := linkAs(t, "knockknock")
	kmsg := nstest.OpenKmsg(t)
	for _, args := range [][]string{
		{"-p", "22", "10.201.7.2", "-d", p.Dir},
		{"-p", "443", "-s", "10.201.7.2", "-d", p.Dir},
	} {
		before := counter(t, p)
		port, _ := strconv.Atoi(args[1])
		out := cli.Run(t, append([]string{kk}, args...)...)
		if out != "Knock sent.\n" {
			t.Errorf("knockknock %v: output %q, want %q", args, out, "Knock sent.\n")
		}
		lines := kmsg.Collect(t, prefix, 1, 15*time.Second)
		lines = append(lines, kmsg.Collect(t, prefix, 1, time.Second)...)
		if len(lines) != 1 {
			t.Fatalf("knockknock %v: %d LOG lines with prefix %q, want exactly 1:\n%s", args, len(lines), prefix, strings.Join(lines, "\n"))
		}
		used := firstUsableCounter(&p.Keys, before, uint16(port))
		checkLogLine(t, lines[0], knock.Encode(&p.Keys, used, uint16(port)), knockPort)
		checkVerifies(t, lines[0], &p.Keys, before, used, uint16(port))
	}
}

// TestKnockknockProxyServes starts the proxy as knockknock-proxy with only
// the listen port, as the original's README does, and stops it.
func TestKnockknockProxyServes(t *testing.T) {
	ns := nstest.New(t, "kkp")
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, linkAs(t, "knockknock-proxy"), "0", "--dir", t.TempDir())
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, logs, "msg=listening", 30*time.Second)
	cmd.Process.Signal(os.Interrupt)
	if err := cmd.Wait(); err != nil || !strings.Contains(logs.String(), "msg=stopped") {
		t.Errorf("knockknock-proxy: %v, want exit 0 after 'stopped'; log:\n%s", err, logs.String())
	}
}
