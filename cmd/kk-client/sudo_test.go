package main

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/proxy"
)

// nobody is the unprivileged user the sudo test's profile belongs to.
const nobody = 65534

// TestSudoKnockknockUsesTheUsersProfile runs knockknock as `sudo knockknock`
// would (root, SUDO_UID and SUDO_GID set): the invoking user's profile, in
// the home sudo kept in HOME or given with -d, is used as that user: the
// knock goes out and is logged, and every profile file still belongs to
// the user afterwards. Without SUDO_UID, root refuses the user's profile as
// before.
func TestSudoKnockknockUsesTheUsersProfile(t *testing.T) {
	nstest.RequireRoot(t)
	nstest.EnableLogging(t)
	cli, srv := nstest.New(t, "kku"), nstest.New(t, "kkv")
	nstest.Link(t, cli, "10.201.7.1/24", srv, "10.201.7.2/24")
	knockPort := 20000 + int(randUint16()%20000)
	prefix := "kku" + randHex(4) + " "
	srv.Run(t, "iptables", "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(knockPort),
		"-j", "LOG", "--log-prefix", prefix, "--log-tcp-sequence")

	home, profiles := sudoUserHome(t)
	p, err := profile.GenerateForGroup(profiles, "10.201.7.2", knockPort, -1)
	if err != nil {
		t.Fatal(err)
	}
	chownTree(t, home, nobody)
	kk := linkAs(t, "knockknock")
	kmsg := nstest.OpenKmsg(t)

	run := func(env []string, args ...string) result {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := cli.Command(ctx, append([]string{kk}, args...)...)
		cmd.Env = append(os.Environ(), env...)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Run()
		return result{code: cmd.ProcessState.ExitCode(), stdout: out.String(), stderr: errb.String()}
	}
	r := run([]string{"HOME=" + home}, "-p", "22", "10.201.7.2")
	checkResult(t, r, 1, []string{"owned by nobody, not by you (root)"})

	// The profile is the user's now, so the test (root) does not read its
	// counter: the knocks use 0, 1, ... (skipping counters whose IP ID
	// would be 0), as the counter tests elsewhere check.
	var next uint64
	sudoEnv := []string{"SUDO_UID=" + strconv.Itoa(nobody), "SUDO_GID=" + strconv.Itoa(nobody)}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"profile in the HOME sudo kept (macOS)", append([]string{"HOME=" + home}, sudoEnv...), []string{"-p", "22", "10.201.7.2"}},
		{"profile given with -d, HOME root's", append([]string{"HOME=/root"}, sudoEnv...), []string{"-p", "443", "-s", "10.201.7.2", "-d", p.Dir}},
	} {
		r := run(tc.env, tc.args...)
		if r.code != 0 || r.stdout != "Knock sent.\n" {
			t.Fatalf("%s: exit %d, stdout %q, stderr:\n%s", tc.name, r.code, r.stdout, r.stderr)
		}
		port, _ := strconv.Atoi(tc.args[1])
		lines := kmsg.Collect(t, prefix, 1, 15*time.Second)
		used := firstUsableCounter(&p.Keys, next, uint16(port))
		checkLogLine(t, lines[0], knock.Encode(&p.Keys, used, uint16(port)), knockPort)
		checkVerifies(t, lines[0], &p.Keys, next, used, uint16(port))
		next = uint64(used) + 1
		filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Error(err)
				return nil
			}
			fi, _ := d.Info()
			if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != nobody {
				t.Errorf("%s: after the knock %s belongs to uid %d, not the user's %d", tc.name, path, uid, nobody)
			}
			return nil
		})
	}
}

// chownTree gives dir and everything in it to uid (and the same gid).
func chownTree(t *testing.T, dir string, uid int) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, uid)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestSudoKnockknockProxyServesAsTheUser starts knockknock-proxy as `sudo
// knockknock-proxy 0` would, with the user's profiles directory: the
// process gives root up for the user once its raw sockets are open, and the
// credentials file it creates is the user's.
func TestSudoKnockknockProxyServesAsTheUser(t *testing.T) {
	ns := nstest.New(t, "kkq")
	home, profiles := sudoUserHome(t)
	chownTree(t, home, nobody)

	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, linkAs(t, "knockknock-proxy"), "0")
	cmd.Env = append(os.Environ(), "HOME="+home, "SUDO_UID="+strconv.Itoa(nobody), "SUDO_GID="+strconv.Itoa(nobody))
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(os.Interrupt)
	waitFor(t, logs, "msg=listening", 30*time.Second)
	status, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	want := "\nUid:\t65534\t65534\t65534\t65534\n"
	if !strings.Contains(string(status), want) || !strings.Contains(string(status), "\nGid:\t65534\t65534\t65534\t65534\n") {
		t.Errorf("the serving proxy's ids are not all 65534:\n%s\nlog:\n%s", status, logs.String())
	}
	fi, err := os.Stat(filepath.Join(profiles, proxy.CredentialsFile))
	if err != nil {
		t.Fatalf("credentials: %v; log:\n%s", err, logs.String())
	}
	if uid := fi.Sys().(*syscall.Stat_t).Uid; uid != nobody || fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file: uid %d mode %v, want the user's (%d), 0600", uid, fi.Mode().Perm(), nobody)
	}
}

// sudoUserHome makes the invoking user's home with an empty ~/.knockknock
// (0700), outside t.TempDir, whose parent is 0700 and so closed to the
// user the process drops to.
func sudoUserHome(t *testing.T) (home, profiles string) {
	t.Helper()
	home, err := os.MkdirTemp("", "kk-sudo-home")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	os.Chmod(home, 0o755)
	profiles = filepath.Join(home, ".knockknock")
	os.Mkdir(profiles, 0o700)
	return home, profiles
}
