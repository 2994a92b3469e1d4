package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/peercred"
	"github.com/kk-project/kk/pkg/sdlog"
	"github.com/kk-project/kk/pkg/version"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

// options are kk-firewall's parsed flags and arguments.
type options struct {
	listen     string
	allowUsers string
	allowPorts string
	profiles   string
	idleExit   time.Duration
	backend    string
	policy     firewall.Policy
}

// stopGrace bounds how long SIGTERM waits for in-flight RPCs.
const stopGrace = 10 * time.Second

// gcPercent keeps the heap close to the live data: the helper is small,
// long-lived and mostly idle, so RSS matters more than GC CPU.
const gcPercent = 25

func run(o options) error {
	log := sdlog.New(os.Stderr)
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	log.Info("starting", "version", version.String())
	warnNetnsLogging(log)
	uids, err := parseUsers(o.allowUsers)
	if err != nil {
		return err
	}
	if o.policy.AllowPorts, err = allowedPorts(o.allowPorts, o.profiles, log); err != nil {
		return err
	}
	if o.policy.MaxDuration <= 0 || o.policy.MaxOpenings <= 0 {
		return errors.New("--max-duration and --max-openings must be positive")
	}
	if o.policy.MaxDuration > firewall.MaxOpeningDuration {
		return fmt.Errorf("--max-duration %v is over %v: an opening must end well before its rule's one-connection limit refills (a day)", o.policy.MaxDuration, firewall.MaxOpeningDuration)
	}
	backend, err := firewall.ParseBackend(o.backend)
	if err != nil {
		return fmt.Errorf("--backend: %w", err)
	}
	// Sweep before listening, so a client that can connect sees a clean chain.
	m, err := firewall.NewIPTables(firewall.Config{Policy: o.policy, Log: log, Backend: backend})
	if err != nil {
		return err
	}
	defer m.Close()
	l, err := listen(o.listen, uids, log)
	if err != nil {
		return err
	}
	srvOpts := []fwrpc.ServerOption{fwrpc.AllowUIDs(uids...), fwrpc.WithLogger(log)}
	admins, ok, err := socketGroup(l)
	if err != nil {
		log.Warn("only root and --allow-user may list and revoke", "err", err)
	}
	if ok {
		srvOpts = append(srvOpts, fwrpc.AllowAdminGroup(admins))
	}
	idle := newIdleTracker()
	srv := fwrpc.NewServer(m, append(srvOpts, fwrpc.OnActivity(idle.touch))...)
	registerIntrospection(srv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		why := idle.wait(ctx, o.idleExit, m.Pending)
		log.Info("stopping", "why", why, "pending", m.Pending())
		gracefulStop(srv)
	}()
	log.Info("serving", "addr", l.Addr().String(), "allow_uids", uids, "admin_group", admins.Name, "pending", m.Pending())
	if err := srv.Serve(l); err != nil {
		return fmt.Errorf("serving on %s: %w", l.Addr(), err)
	}
	return nil
}

// gracefulStop lets in-flight RPCs finish, within stopGrace.
func gracefulStop(srv *grpc.Server) {
	t := time.AfterFunc(stopGrace, srv.Stop)
	srv.GracefulStop()
	t.Stop()
}

func parseUsers(s string) ([]uint32, error) {
	var uids []uint32
	for _, u := range splitList(s) {
		uid, err := peercred.LookupUID(u)
		if err != nil {
			return nil, fmt.Errorf("--allow-user: %w", err)
		}
		uids = append(uids, uid)
	}
	return uids, nil
}

func parsePorts(s string) ([]uint16, error) {
	var ports []uint16
	for _, p := range splitList(s) {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, fmt.Errorf("--allow-ports: %q is not a port in 1-65535", p)
		}
		ports = append(ports, uint16(n))
	}
	return ports, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// registerIntrospection adds the grpc.health.v1 Health service and server
// reflection, so grpcurl can list, describe and call the API.
func registerIntrospection(srv *grpc.Server) {
	hs := health.NewServer()
	hs.SetServingStatus(fwpb.Firewall_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
}

// warnNetnsLogging warns when net.netfilter.nf_log_all_netns is 1, since any
// local user may then have the kernel log a forged knock. kk-monitor cannot
// see the sysctl from its private network namespace; kk-firewall runs in the
// host's, where it exists.
func warnNetnsLogging(log *slog.Logger) {
	if on, err := kernlog.NetnsLogging(nil); err == nil && on {
		log.Warn("net.netfilter.nf_log_all_netns = 1: "+kernlog.NetnsLogRisk, "fix", kernlog.NetnsLogFix)
	}
}
