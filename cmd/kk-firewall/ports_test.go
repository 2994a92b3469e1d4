package main

import (
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kk-project/kk/internal/syncbuf"
	"github.com/kk-project/kk/pkg/profile"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// profilesAllowing creates one profile per list of allowed ports (none for
// an empty list) and returns the profiles directory.
func profilesAllowing(t *testing.T, allowed ...[]uint16) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "profiles")
	for i, ports := range allowed {
		if _, err := profile.GenerateAllowing(dir, "p"+string(rune('a'+i)), 7000+i, -1, ports); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestAllowPortsFromProfiles(t *testing.T) {
	for _, tc := range []struct {
		name    string
		allowed [][]uint16
		want    []uint16
		log     string
	}{
		{"union", [][]uint16{{443, 22}, {2222, 443}}, []uint16{22, 443, 2222}, "only the profiles' allowed_ports may be opened"},
		{"a profile without allowed_ports", [][]uint16{{22}, nil}, nil, `some profiles have no allowed_ports, so every port may be opened" profiles=[pb]`},
		{"no profile", nil, nil, "no profile found, so every port may be opened"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &syncbuf.Buffer{}
			got, err := allowedPorts("profiles", profilesAllowing(t, tc.allowed...), slog.New(slog.NewTextHandler(logs, nil)))
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("ports %v, %v; want %v", got, err, tc.want)
			}
			if !strings.Contains(logs.String(), tc.log) {
				t.Errorf("log lacks %q:\n%s", tc.log, logs)
			}
		})
	}
	if _, err := allowedPorts("profile", "", slog.New(slog.DiscardHandler)); err == nil {
		t.Error("--allow-ports=profile (a typo) accepted")
	}
}

// TestAllowPortsProfilesRefusesOtherPort: the real helper started with
// --allow-ports=profiles opens a port some profile lists and refuses, with
// a clear error, one that none lists.
func TestAllowPortsProfilesRefusesOtherPort(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	dir := profilesAllowing(t, []uint16{22, 443}, []uint16{2222})
	sock := filepath.Join(socketDir(t), "fw.sock")
	startHelper(t, l.srv, sock, "--allow-ports=profiles", "--profiles", dir)
	c := rawClient(t, sock)
	req := func(port uint32) *fwpb.OpenRequest {
		return &fwpb.OpenRequest{SourceIp: l.allowed, Port: port, DurationSeconds: 30, Profile: "pa"}
	}
	if _, err := c.Open(ctxT(t), req(80)); status.Code(err) != codes.InvalidArgument ||
		!strings.Contains(err.Error(), "port 80 is not in --allow-ports [22 443 2222]") {
		t.Fatalf("Open port 80: %v, want InvalidArgument naming --allow-ports [22 443 2222]", err)
	}
	if _, err := c.Open(ctxT(t), req(2222)); err != nil {
		t.Fatalf("Open port 2222: %v", err)
	}
}
