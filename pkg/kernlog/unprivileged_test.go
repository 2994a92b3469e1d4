package kernlog

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

// followHelperEnv makes the test binary a follower that prints each line on
// stdout; the rotation test runs it as an unprivileged user.
const followHelperEnv = "KK_KERNLOG_FOLLOW_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(followHelperEnv); path != "" {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
		defer stop()
		err := FollowFile(ctx, path, FileOptions{}, func(l []byte) { fmt.Printf("%s\n", l) })
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestFollowFileRotationWithLateMode rotates as logrotate's "create 0640
// root adm" does for an unprivileged reader: the new file appears unreadable
// and gets its group and mode a moment later. The follower must wait for it
// rather than give up, and lose nothing.
func TestFollowFileRotationWithLateMode(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "needs root to run the follower as another user")
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	path := filepath.Join(dir, "kern.log")
	appendLines(t, path, "old")
	os.Chmod(path, 0o644)

	// The test binary's own directory is private to root: run a copy.
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "follow-helper")
	if err := os.WriteFile(helper, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(helper)
	cmd.Env = append(os.Environ(), followHelperEnv+"="+path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Signal(syscall.SIGTERM)
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("follower exited before %q: %s", want, stderr.String())
				}
				if l == want {
					return
				}
				if !strings.HasPrefix(l, "marker") {
					t.Fatalf("got %q, want %q", l, want)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no %q within 20 s: %s", want, stderr.String())
			}
		}
	}
	// Wait until the follower is past its start-up.
	for i := 0; ; i++ {
		appendLines(t, path, fmt.Sprintf("marker %d", i))
		select {
		case l := <-lines:
			if !strings.HasPrefix(l, "marker") {
				t.Fatalf("got %q", l)
			}
		case <-time.After(50 * time.Millisecond):
			if i < 200 {
				continue
			}
			t.Fatalf("follower never started: %s", stderr.String())
		}
		break
	}

	appendLines(t, path, "before rotation")
	expect("before rotation")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("written while unreadable\n")
	time.Sleep(1500 * time.Millisecond) // past the follower's 1 s poll
	if err := f.Chmod(0o644); err != nil {
		t.Fatal(err)
	}
	f.WriteString("after the mode change\n")
	expect("written while unreadable")
	expect("after the mode change")
}
