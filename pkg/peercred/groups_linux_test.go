package peercred

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

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
