package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// openEnv makes the test binary call Open on the socket, address and port
// it names ("SOCKET,IP,PORT"), print the gRPC code it got and exit: a
// caller whose credentials the test chooses (see openAs).
const openEnv = "KKFW_TEST_OPEN"

func TestMain(m *testing.M) {
	if v := os.Getenv(openEnv); v != "" {
		os.Exit(openFromEnv(v))
	}
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

func TestFlagLists(t *testing.T) {
	ports, err := parsePorts(" 22, 443 ,")
	if err != nil || len(ports) != 2 || ports[0] != 22 || ports[1] != 443 {
		t.Errorf("parsePorts = %v, %v", ports, err)
	}
	for _, bad := range []string{"0", "65536", "ssh", "22,x"} {
		if _, err := parsePorts(bad); err == nil {
			t.Errorf("parsePorts(%q) accepted", bad)
		}
	}
	uids, err := parseUsers("root,1234")
	if err != nil || len(uids) != 2 || uids[0] != 0 || uids[1] != 1234 {
		t.Errorf("parseUsers = %v, %v", uids, err)
	}
	if _, err := parseUsers("kk-no-such-user"); err == nil {
		t.Error("parseUsers accepted a missing user")
	}
}

func TestRemoveStaleSocket(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	if err := removeStaleSocket(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v, want refusal", err)
	}
	live := filepath.Join(dir, "live.sock")
	l, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := removeStaleSocket(live); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("live socket: %v, want refusal", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	ul, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ul.SetUnlinkOnClose(false)
	ul.Close()
	if err := removeStaleSocket(stale); err != nil {
		t.Errorf("stale socket: %v", err)
	}
	if _, err := os.Lstat(stale); err == nil {
		t.Error("stale socket still there")
	}
	if err := removeStaleSocket(filepath.Join(dir, "missing")); err != nil {
		t.Errorf("missing path: %v", err)
	}
}

func TestListenCreates0660Socket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "sub", "fw.sock")
	l, err := listen(sock, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("socket mode %v, %v; want 0660 socket", fi.Mode(), err)
	}
}

func openFromEnv(v string) int {
	f := strings.Split(v, ",")
	if len(f) != 3 {
		fmt.Fprintf(os.Stderr, "%s=%q: want SOCKET,IP,PORT\n", openEnv, v)
		return 2
	}
	port, _ := strconv.Atoi(f[2])
	conn, err := grpc.NewClient("unix://"+f[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = fwpb.NewFirewallClient(conn).Open(ctx, &fwpb.OpenRequest{SourceIp: f[1], Port: uint32(port), DurationSeconds: 30, Profile: "lab"})
	fmt.Println(status.Code(err))
	return 0
}
