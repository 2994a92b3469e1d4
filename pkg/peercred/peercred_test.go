package peercred

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

// connectEnv makes the test binary connect to the socket it names, wait
// for the other end to close, and exit: a peer with credentials of the
// test's choosing.
const connectEnv = "KK_PEERCRED_TEST_CONNECT"

func TestMain(m *testing.M) {
	if path := os.Getenv(connectEnv); path != "" {
		c, err := net.Dial("unix", path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		c.Read(make([]byte, 1))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// selfCopy copies the test binary into dir, where another user may run it.
func selfCopy(t *testing.T, dir string) string {
	t.Helper()
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "peer")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestGetReadsThePeerOfAUnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := Get(s)
	want := Cred{PID: int32(os.Getpid()), UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if err != nil || got != want {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, want)
	}
}

func TestGetRefusesNonSockets(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := Get(a); !errors.Is(err, ErrNoCred) {
		t.Fatalf("Get(net.Pipe) = %v, want ErrNoCred", err)
	}
}

func TestLookupUID(t *testing.T) {
	for in, want := range map[string]uint32{"0": 0, "1234": 1234, "root": 0} {
		if got, err := LookupUID(in); err != nil || got != want {
			t.Errorf("LookupUID(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := LookupUID("kk-no-such-user"); err == nil || !strings.Contains(err.Error(), "numeric uid") {
		t.Errorf("LookupUID of a missing user = %v, want advice", err)
	}
}

func TestGroupsMatchTheConnectingProcess(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := Groups(s)
	if err != nil {
		t.Fatal(err)
	}
	own, err := os.Getgroups()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]uint32, len(own))
	for i, g := range own {
		want[i] = uint32(g)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Groups = %v, want this process's groups %v", got, want)
	}
}

// TestGroupsOfAnotherUserWithManyGroups connects from a child process with
// another uid and 40 supplementary groups, more than Groups' first buffer
// holds, so the kernel's ERANGE answer is followed.
func TestGroupsOfAnotherUserWithManyGroups(t *testing.T) {
	nstest.RequireRoot(t)
	dir, err := os.MkdirTemp("", "kk-peercred") // t.TempDir's parent is 0700
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	sock := filepath.Join(dir, "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Chmod(sock, 0o666)
	var want []uint32
	for g := uint32(5000); g < 5040; g++ {
		want = append(want, g)
	}
	cmd := exec.Command(selfCopy(t, dir))
	cmd.Env = append(os.Environ(), connectEnv+"="+sock)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534, Groups: want}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	s, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, gerr := Groups(s)
	cred, cerr := Get(s)
	if gerr != nil || cerr != nil {
		t.Fatalf("Groups: %v; Get: %v", gerr, cerr)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) || cred.UID != 65534 || cred.GID != 65534 {
		t.Fatalf("Groups = %v, cred %v; want %v and uid/gid 65534", got, cred, want)
	}
}
