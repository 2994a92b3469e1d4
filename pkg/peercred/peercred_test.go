package peercred

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
