package fwrpc_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
)

// serverSocketEnv, when set, makes the test binary a helper process that
// serves a Fake on that socket (as benchServer does) until it is killed:
// BenchmarkOpenRoundTripProcesses runs the server in a process of its own,
// with its own Go runtime, as kk-firewall is.
const serverSocketEnv = "KK_FWRPC_BENCH_SERVE"

func TestMain(m *testing.M) {
	if sock := os.Getenv(echoSocketEnv); sock != "" {
		if err := serveEcho(sock); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if sock := os.Getenv(serverSocketEnv); sock != "" {
		if err := serveFake(sock); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// echoSocketEnv, when set, makes the test binary a helper process that
// echoes what it reads on a unix socket at that path, for the floor
// BenchmarkOpenRoundTripProcesses is compared with.
const echoSocketEnv = "KK_FWRPC_BENCH_ECHO"

// serveEcho accepts one connection at a time on sock and writes back what
// each read returns.
func serveEcho(sock string) error {
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	for {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		io.Copy(c, c)
		c.Close()
	}
}

// listenFake returns a server of a Fake set up the way kk-firewall sets up
// its own (peer credentials, the allowlist, an activity hook, audit lines
// to a file beside the socket) and its listener on a new unix socket at
// sock.
func listenFake(sock string) (*grpc.Server, net.Listener, error) {
	logf, err := os.Create(filepath.Join(filepath.Dir(sock), "kk-firewall.log"))
	if err != nil {
		return nil, nil, err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, nil, err
	}
	s := fwrpc.NewServer(&firewall.Fake{}, fwrpc.AllowUIDs(uint32(os.Getuid())),
		fwrpc.WithLogger(slog.New(slog.NewTextHandler(logf, nil))), fwrpc.OnActivity(func() {}))
	return s, l, nil
}

// serveFake serves a Fake on sock (see listenFake) until it is killed.
func serveFake(sock string) error {
	s, l, err := listenFake(sock)
	if err != nil {
		return err
	}
	return s.Serve(l)
}

// benchServer serves a Fake (see listenFake) in this process and returns
// its socket's path.
func benchServer(b *testing.B) string {
	b.Helper()
	sock := filepath.Join(b.TempDir(), "fw.sock")
	s, l, err := listenFake(sock)
	if err != nil {
		b.Fatal(err)
	}
	go s.Serve(l)
	b.Cleanup(s.Stop)
	return sock
}

// timeOpens calls c.Open once per iteration, pause after the last call
// returned, and reports the percentiles of the calls' times.
func timeOpens(b *testing.B, c *fwrpc.Client, pause time.Duration) {
	took := make([]time.Duration, 0, b.N)
	for b.Loop() {
		time.Sleep(pause)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		t0 := time.Now()
		_, err := c.Open(ctx, benchReq)
		took = append(took, time.Since(t0))
		cancel()
		if err != nil {
			b.Fatal(err)
		}
	}
	reportPercentiles(b, took)
}

// reportPercentiles reports the median and 99th percentile of took.
func reportPercentiles(b *testing.B, took []time.Duration) {
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds())/1000, "p50-µs")
	b.ReportMetric(float64(took[len(took)*99/100].Nanoseconds())/1000, "p99-µs")
}

var benchReq = firewall.OpenRequest{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Duration: 15 * time.Second, Profile: "bench"}

// BenchmarkOpenRoundTrip measures one Open from kk-monitor's side over a
// connection already up, as every knock after the first makes it: the
// request, the helper's handling with a Manager that costs nothing, the
// answer; back to back, in one process, so with warm caches and no thread
// asleep: the CPU cost of gRPC's code alone.
func BenchmarkOpenRoundTrip(b *testing.B) {
	c, err := fwrpc.Dial(benchServer(b))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Open(context.Background(), benchReq); err != nil {
		b.Fatal(err)
	}
	timeOpens(b, c, 0)
}

// BenchmarkOpenFirstCall measures the first Open of a new Client: the
// connect, the handshake with its SO_PEERCRED reads, HTTP/2's settings
// exchange and the call.
func BenchmarkOpenFirstCall(b *testing.B) {
	sock := benchServer(b)
	took := make([]time.Duration, 0, b.N)
	for b.Loop() {
		t0 := time.Now()
		c, err := fwrpc.Dial(sock)
		if err != nil {
			b.Fatal(err)
		}
		_, err = c.Open(context.Background(), benchReq)
		took = append(took, time.Since(t0))
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	reportPercentiles(b, took)
}

// BenchmarkOpenRoundTripProcesses is BenchmarkOpenRoundTrip as knocks make
// it: the server in another process, as kk-firewall is, and one call every
// 20 ms, so that each call finds both runtimes asleep, their goroutines
// parked and their caches cold. This is the figure to compare with make
// bench's gRPC share. Run it with -benchtime 100x or so: ns/op includes
// the pause, the p50 and p99 do not.
func BenchmarkOpenRoundTripProcesses(b *testing.B) {
	sock := startServerProcess(b, serverSocketEnv)
	c, err := fwrpc.Dial(sock)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		_, err := c.Open(context.Background(), benchReq)
		if err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("the server process did not answer within 10 s: %v", err)
		}
	}
	timeOpens(b, c, 20*time.Millisecond)
}

// startServerProcess runs the test binary as a helper process serving on a
// new socket, as env says, and returns the socket's path.
func startServerProcess(b *testing.B, env string) string {
	sock := filepath.Join(b.TempDir(), "fw.sock")
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), env+"="+sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return sock
}

// BenchmarkUnixRoundTripProcesses is the floor under
// BenchmarkOpenRoundTripProcesses: 100 bytes there and back on a unix
// socket to another process, at the same pace, without gRPC.
func BenchmarkUnixRoundTripProcesses(b *testing.B) {
	sock := startServerProcess(b, echoSocketEnv)
	var c net.Conn
	for start := time.Now(); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if c, err = net.Dial("unix", sock); err == nil {
			break
		}
		if time.Since(start) > 10*time.Second {
			b.Fatalf("the echo process did not listen within 10 s: %v", err)
		}
	}
	defer c.Close()
	msg := make([]byte, 100)
	took := make([]time.Duration, 0, b.N)
	for b.Loop() {
		time.Sleep(20 * time.Millisecond)
		t0 := time.Now()
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, msg); err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(t0))
	}
	reportPercentiles(b, took)
}
