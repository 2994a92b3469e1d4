package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// rawClient talks to the socket with the generated client, so requests the
// typed firewall.Manager cannot express (bad strings, ports over 65535)
// reach the server.
func rawClient(t *testing.T, sock string) fwpb.FirewallClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return fwpb.NewFirewallClient(conn)
}

// TestRefusalsOverGRPCChangeNothing runs the refusal table against a helper
// with --allow-ports and one without, since the port list would otherwise
// hide a refusal that only the range checks make.
func TestRefusalsOverGRPCChangeNothing(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"with --allow-ports", []string{"--allow-ports", "22,443"}},
		{"without --allow-ports", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testRefusals(t, tc.args...)
		})
	}
}

func testRefusals(t *testing.T, args ...string) {
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	startHelper(t, l.srv, sock, append([]string{"--max-duration", "60s", "--max-openings", "2"}, args...)...)
	withPorts := len(args) > 0
	c := rawClient(t, sock)
	ok := func(ip string) *fwpb.OpenRequest {
		return &fwpb.OpenRequest{SourceIp: ip, Port: 22, DurationSeconds: 30, Profile: "lab"}
	}
	for _, ip := range []string{l.allowed, l.allowed6} { // fill --max-openings
		if _, err := c.Open(ctxT(t), ok(ip)); err != nil {
			t.Fatalf("valid Open %s: %v", ip, err)
		}
	}
	with := func(f func(r *fwpb.OpenRequest)) *fwpb.OpenRequest { r := ok(l.allowed); f(r); return r }
	open := func(r *fwpb.OpenRequest) error { _, err := c.Open(ctxT(t), r); return err }
	revoke := func(ip string, port uint32) error {
		_, err := c.Revoke(ctxT(t), &fwpb.RevokeRequest{SourceIp: ip, Port: port})
		return err
	}
	ipCase := func(ip string) error { return open(ok(ip)) }
	cases := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"ip not parseable", func() error { return ipCase("not-an-ip") }, codes.InvalidArgument},
		{"ip empty", func() error { return ipCase("") }, codes.InvalidArgument},
		{"ip with prefix", func() error { return ipCase("10.77.0.2/32") }, codes.InvalidArgument},
		{"ip with port", func() error { return ipCase("10.77.0.2:22") }, codes.InvalidArgument},
		{"ip hostname", func() error { return ipCase("localhost") }, codes.InvalidArgument},
		{"ip with option", func() error { return ipCase("-j DROP") }, codes.InvalidArgument},
		{"ip unspecified v4", func() error { return ipCase("0.0.0.0") }, codes.InvalidArgument},
		{"ip unspecified v6", func() error { return ipCase("::") }, codes.InvalidArgument},
		{"ip multicast v4", func() error { return ipCase("224.0.0.1") }, codes.InvalidArgument},
		{"ip multicast v6", func() error { return ipCase("ff02::1") }, codes.InvalidArgument},
		{"ip broadcast", func() error { return ipCase("255.255.255.255") }, codes.InvalidArgument},
		{"ip loopback v4 without --allow-loopback", func() error { return ipCase("127.0.0.1") }, codes.InvalidArgument},
		{"ip loopback v6 without --allow-loopback", func() error { return ipCase("::1") }, codes.InvalidArgument},
		{"ip v4-mapped", func() error { return ipCase("::ffff:10.77.0.2") }, codes.InvalidArgument},
		{"ip with zone", func() error { return ipCase("fe80::1%lo") }, codes.InvalidArgument},
		{"port 0", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Port = 0 })) }, codes.InvalidArgument},
		{"port 65536", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Port = 65536 })) }, codes.InvalidArgument},
		{"port max uint32", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Port = math.MaxUint32 })) }, codes.InvalidArgument},
		{"port 70000 (4464 once truncated)", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Port = 70000 })) }, codes.InvalidArgument},
		{"duration 0", func() error { return open(with(func(r *fwpb.OpenRequest) { r.DurationSeconds = 0 })) }, codes.InvalidArgument},
		{"duration negative", func() error { return open(with(func(r *fwpb.OpenRequest) { r.DurationSeconds = -5 })) }, codes.InvalidArgument},
		{"duration over --max-duration", func() error { return open(with(func(r *fwpb.OpenRequest) { r.DurationSeconds = 61 })) }, codes.InvalidArgument},
		{"duration max int64", func() error { return open(with(func(r *fwpb.OpenRequest) { r.DurationSeconds = math.MaxInt64 })) }, codes.InvalidArgument},
		{"duration min int64", func() error { return open(with(func(r *fwpb.OpenRequest) { r.DurationSeconds = math.MinInt64 })) }, codes.InvalidArgument},
		{"duration negative, 15 s once multiplied", func() error {
			return open(with(func(r *fwpb.OpenRequest) { r.DurationSeconds = -36028797018963953 }))
		}, codes.InvalidArgument},
		{"profile over-long", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Profile = strings.Repeat("p", 65) })) }, codes.InvalidArgument},
		{"profile huge", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Profile = strings.Repeat("p", 100000) })) }, codes.InvalidArgument},
		{"profile with quote", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Profile = `a" -j DROP "` })) }, codes.InvalidArgument},
		{"profile with newline", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Profile = "a\nb" })) }, codes.InvalidArgument},
		{"revoke ip not parseable", func() error { return revoke("nope", 22) }, codes.InvalidArgument},
		{"revoke port 0", func() error { return revoke(l.allowed, 0) }, codes.InvalidArgument},
		{"revoke port 70000", func() error { return revoke(l.allowed, 70000) }, codes.InvalidArgument},
		{"revoke multicast", func() error { return revoke("224.0.0.1", 22) }, codes.InvalidArgument},
		{"revoke not open", func() error { return revoke(l.other, 22) }, codes.NotFound},
		{"over --max-openings", func() error { return ipCase(l.other) }, codes.ResourceExhausted},
	}
	if withPorts {
		cases = append(cases, struct {
			name string
			call func() error
			code codes.Code
		}{"port not in --allow-ports", func() error { return open(with(func(r *fwpb.OpenRequest) { r.Port = 23 })) }, codes.InvalidArgument})
	}
	before := append(chain(t, l.srv, "iptables"), chain(t, l.srv, "ip6tables")...)
	if len(before) != 2 {
		t.Fatalf("setup: chain = %q, want 2 rules", before)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if got := status.Code(err); got != tc.code {
				t.Fatalf("code %v (%v), want %v", got, err, tc.code)
			}
			if after := append(chain(t, l.srv, "iptables"), chain(t, l.srv, "ip6tables")...); !slices.Equal(after, before) {
				t.Fatalf("chain changed:\n%q\nwas\n%q", after, before)
			}
		})
	}
}

// grpcurl returns the path of grpcurl in GOPATH/bin, which .ci/run installs.
func grpcurl(t *testing.T) string {
	t.Helper()
	out, err := exec.Command(goTool(), "env", "GOPATH").Output()
	if err != nil {
		t.Fatalf("go env GOPATH: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "bin", "grpcurl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("grpcurl not installed at %s: run make deps (lab/deps.sh installs grpcurl v1.9.1): %v", p, err)
	}
	return p
}

// runGrpcurl runs grpcurl against sock as user with group nogroup (root
// when user is empty).
// flags go before the address.
func runGrpcurl(t *testing.T, user, sock string, flags []string, args ...string) (string, error) {
	t.Helper()
	argv := append([]string{grpcurl(t), "-plaintext", "-max-time", "10"}, flags...)
	argv = append(append(argv, "-unix", sock), args...) // as README documents it
	if user != "" {
		argv = append([]string{"setpriv", "--reuid=" + user, "--regid=nogroup", "--clear-groups"}, argv...)
	}
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	return string(out), err
}

// withProto returns grpcurl flags that send data using the .proto file
// rather than reflection, so the Open RPC itself reaches the server. The
// file is copied to a directory that nobody can read: a checkout under
// /root (0700), as in a fresh clone, is not.
func withProto(t *testing.T, data string) []string {
	t.Helper()
	const rel = "knockknock/firewall/v1/firewall.proto"
	src, err := os.ReadFile(filepath.Join("../../proto", rel))
	if err != nil {
		t.Fatal(err)
	}
	dir := socketDir(t)
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rel), src, 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{"-import-path", dir, "-proto", rel, "-d", data}
}

func TestUserNotAllowedIsRefused(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := startHelper(t, l.srv, sock)
	os.Chmod(sock, 0o666) // let nobody reach the socket, so peercred is what refuses
	list := "knockknock.firewall.v1.Firewall/List"
	if out, err := runGrpcurl(t, "", sock, nil, list); err != nil {
		t.Fatalf("root List failed, so the refusal below proves nothing: %v\n%s", err, out)
	}
	out, err := runGrpcurl(t, "nobody", sock, nil, list)
	if err == nil || !strings.Contains(out, "PermissionDenied") {
		t.Fatalf("List as nobody: %v\n%s\nwant PermissionDenied", err, out)
	}
	out, err = runGrpcurl(t, "nobody", sock, withProto(t, `{"source_ip":"10.77.0.2","port":22,"duration_seconds":30}`), "knockknock.firewall.v1.Firewall/Open")
	if err == nil || !strings.Contains(out, "PermissionDenied") {
		t.Fatalf("Open as nobody: %v\n%s\nwant PermissionDenied", err, out)
	}
	if got := chain(t, l.srv, "iptables"); len(got) != 0 {
		t.Fatalf("refused Open added rules: %q", got)
	}
	waitFor(t, 5*time.Second, "log line naming uid 65534 and Open", func() bool {
		return strings.Contains(h.log.String(), "method=/knockknock.firewall.v1.Firewall/Open uid=65534")
	})
}

func TestAllowUserAdmitsThatUser(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	startHelper(t, l.srv, sock, "--allow-user", "nobody")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket mode %v, %v; want 0660", fi.Mode(), err)
	}
	out, err := runGrpcurl(t, "nobody", sock, withProto(t, `{"source_ip":"10.77.0.2","port":22,"duration_seconds":30,"profile":"lab"}`), "knockknock.firewall.v1.Firewall/Open")
	if err != nil {
		t.Fatalf("Open as allowed user nobody: %v\n%s", err, out)
	}
	if got := chain(t, l.srv, "iptables"); len(got) != 1 {
		t.Fatalf("chain = %q, want the rule", got)
	}
}

func TestREADMEGrpcurlCommands(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := startHelper(t, l.srv, sock)
	open(t, h.client(t), l.allowed, 22, 30*time.Second)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"list"}, []string{"knockknock.firewall.v1.Firewall", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"}},
		{[]string{"describe", "knockknock.firewall.v1.Firewall"}, []string{"rpc Open", "rpc List", "rpc Revoke"}},
		{[]string{"describe", "knockknock.firewall.v1.OpenRequest"}, []string{"source_ip", "duration_seconds"}},
		{[]string{"knockknock.firewall.v1.Firewall/List"}, []string{`"sourceIp": "10.77.0.2"`, `"port": 22`, `"profile": "lab"`}},
		{[]string{"grpc.health.v1.Health/Check"}, []string{"SERVING"}},
	} {
		out, err := runGrpcurl(t, "", sock, nil, tc.args...)
		if err != nil {
			t.Errorf("grpcurl %v: %v\n%s", tc.args, err, out)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("grpcurl %v output lacks %q:\n%s", tc.args, w, out)
			}
		}
	}
}

// TestRefusedOpenLogsBoundedFields sends an Open whose source_ip and profile
// are megabytes long through the real server: the refusal must log a short
// prefix of each with its length, never the field itself.
func TestRefusedOpenLogsBoundedFields(t *testing.T) {
	t.Parallel()
	l := newLab(t)
	sock := filepath.Join(socketDir(t), "fw.sock")
	h := startHelper(t, l.srv, sock)
	const n = 1 << 20 // one 3 MiB field per request: under gRPC's 4 MiB message limit
	for _, r := range []*fwpb.OpenRequest{
		{SourceIp: strings.Repeat("9", 3*n), Port: 22, DurationSeconds: 30},
		{SourceIp: l.allowed, Port: 22, DurationSeconds: 30, Profile: strings.Repeat("p", 3*n)},
	} {
		_, err := rawClient(t, sock).Open(ctxT(t), r)
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("Open with a %d-byte field: %v, want InvalidArgument", 3*n, err)
		}
		if len(status.Convert(err).Message()) > 1024 {
			t.Errorf("the error sent back is %d bytes long", len(status.Convert(err).Message()))
		}
	}
	want := fmt.Sprintf("...(%d bytes)", 3*n)
	waitFor(t, 5*time.Second, "two refusals logged with "+want, func() bool {
		return strings.Count(h.log.String(), want) >= 2
	})
	for _, line := range strings.Split(h.log.String(), "\n") {
		if len(line) > 1024 {
			t.Errorf("log line of %d bytes: %.200s...", len(line), line)
		}
	}
}
