// Package proxy is a knock-aware SOCKS5 proxy for the local machine.
//
// It serves CONNECT requests for IPv4, IPv6 and domain-name destinations. A
// destination that has a profile in the profiles directory
// (~/.knockknock/<host>/) is knocked before it is dialled, and knocked again
// if the dial fails; every other destination is dialled directly.
//
// Only the owner may use it, since every knock spends one of the owner's
// counters. On a unix socket the kernel names the peer (SO_PEERCRED) and
// only the proxy's own uid is served. On TCP the client must give the user
// name and password of Credentials (RFC 1929), unless Config.NoAuth.
//
// Knocks are paced per host (see knockGate) so that the server's LOG limit
// admits every one, and the server's counter keeps up with the client's
// however many connections are made.
//
// The SOCKS5 protocol itself is armon/go-socks5's: it exposes the Dial hook
// that knocking needs and a Resolver hook that lets Dial see domain names
// before they are resolved, so this package holds only the knocking policy.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	socks5 "github.com/armon/go-socks5"
)

// A Knocker sends one knock to host, sealed with the profile in profileDir,
// asking the server to open port. syn.Knocker is the real implementation.
type Knocker interface {
	Knock(ctx context.Context, host, profileDir string, port uint16) error
}

// Defaults used for zero Config fields.
const (
	DefaultWait        = 250 * time.Millisecond
	DefaultAttempts    = 3
	DefaultDialTimeout = 10 * time.Second
	// DefaultDelay is the server's default delay (kk-monitor's `delay`).
	DefaultDelay = 15 * time.Second
	// DefaultKnockInterval and DefaultKnocksPerDelay keep the knocks to one
	// host well under the server's per-source LOG limit of 10/s, burst 20.
	DefaultKnockInterval  = time.Second
	DefaultKnocksPerDelay = 10
)

// Config configures a Server. ProfilesDir and Knocker are required.
type Config struct {
	ProfilesDir string  // directory of client profiles, one subdirectory per host
	Knocker     Knocker // sends knocks
	// Wait is how long to wait after each knock before dialling, giving the
	// server time to open the port. Zero means DefaultWait.
	Wait time.Duration
	// Attempts is how many knock-then-dial rounds to try for a knocked
	// destination. Zero means DefaultAttempts.
	Attempts int
	// DialTimeout bounds each dial. Zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Delay is how long the server keeps a port open after a knock (its
	// `delay`, which the client cannot read). A knock not yet used by a
	// connection is reused for that long; at most KnocksPerDelay knocks go
	// to one host in any Delay; and a connection that could not knock
	// within Delay is refused. Zero means DefaultDelay.
	Delay time.Duration
	// KnockInterval is the least time between two knocks to one host. Zero
	// means DefaultKnockInterval.
	KnockInterval time.Duration
	// KnocksPerDelay caps the knocks to one host in any Delay. Zero means
	// DefaultKnocksPerDelay.
	KnocksPerDelay int
	// Credentials are required from clients on TCP listeners. Unix socket
	// listeners ask for none: they serve only the proxy's own uid.
	Credentials *Credentials
	// NoAuth serves TCP listeners without credentials, when Credentials is
	// nil: any local user can then make the proxy knock.
	NoAuth bool
	// LookupNetIP resolves names; nil means net.DefaultResolver.LookupNetIP.
	LookupNetIP func(ctx context.Context, network, host string) ([]netip.Addr, error)
	// Logger receives one line per connection; nil means slog.Default().
	Logger *slog.Logger
}

// A Server is a knock-aware SOCKS5 server. Create it with New. It is safe for
// concurrent use, and serves once.
type Server struct {
	cfg   Config
	log   *slog.Logger
	names *nameCache // profile names' addresses
	gate  *knockGate
	owner uint32 // the only uid served on unix sockets

	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	closing bool // set once Serve stops; later connections are closed at once
	wg      sync.WaitGroup
}

// New returns a Server for cfg, filling in defaults for zero fields.
func New(cfg Config) (*Server, error) {
	if cfg.ProfilesDir == "" || cfg.Knocker == nil {
		return nil, errors.New("proxy: Config needs ProfilesDir and Knocker")
	}
	if cfg.Wait == 0 {
		cfg.Wait = DefaultWait
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.LookupNetIP == nil {
		cfg.LookupNetIP = net.DefaultResolver.LookupNetIP
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	setDefault(&cfg.Delay, DefaultDelay)
	setDefault(&cfg.KnockInterval, DefaultKnockInterval)
	setDefault(&cfg.KnocksPerDelay, DefaultKnocksPerDelay)
	s := &Server{cfg: cfg, log: cfg.Logger, conns: make(map[net.Conn]struct{}), owner: uint32(os.Getuid())}
	s.names = newNameCache(s.lookup, time.Now)
	s.gate = newKnockGate(cfg.KnockInterval, cfg.KnocksPerDelay, cfg.Delay, time.Now)
	return s, nil
}

func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

// Serve accepts SOCKS5 clients on every listener until ctx is done. It then
// closes the listeners and every client connection, waits for the handlers
// to return, and returns nil. It returns an error, before serving, if it
// could not set up the SOCKS5 server or if a TCP listener would serve
// without Credentials and NoAuth is not set.
func (s *Server) Serve(ctx context.Context, listeners ...net.Listener) error {
	for _, l := range listeners {
		if _, unix := l.(*net.UnixListener); !unix && s.cfg.Credentials == nil && !s.cfg.NoAuth {
			return fmt.Errorf("proxy: TCP listener %s needs Credentials, or NoAuth", l.Addr())
		}
	}
	open, err := s.socks5(ctx, nil)
	if err != nil {
		return err
	}
	authed := open
	if s.cfg.Credentials != nil {
		authed, err = s.socks5(ctx, s.cfg.Credentials)
		if err != nil {
			return err
		}
	}
	for _, l := range listeners {
		srv := authed
		if _, unix := l.(*net.UnixListener); unix {
			srv = open
		}
		s.wg.Add(1)
		go s.accept(ctx, l, srv)
	}
	<-ctx.Done()
	for _, l := range listeners {
		l.Close()
	}
	s.closeConns()
	s.wg.Wait()
	return nil
}

// socks5 returns a SOCKS5 server that asks for creds, or for no
// authentication if creds is nil.
func (s *Server) socks5(ctx context.Context, creds *Credentials) (*socks5.Server, error) {
	cfg := &socks5.Config{
		Resolver: deferResolver{},
		Rules:    connectOnly{log: s.log},
		Dial:     func(_ context.Context, _, addr string) (net.Conn, error) { return s.dial(ctx, addr) },
		Logger:   slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	if creds != nil {
		cfg.AuthMethods = []socks5.Authenticator{socks5.UserPassAuthenticator{Credentials: creds}}
	}
	return socks5.New(cfg)
}

func (s *Server) accept(ctx context.Context, l net.Listener, srv *socks5.Server) {
	defer s.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			s.log.Warn("accepting SOCKS5 client", "listen", l.Addr(), "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !s.allowPeer(c) {
			c.Close()
			continue
		}
		s.track(c)
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.untrack(c)
			srv.ServeConn(c)
		}()
	}
}

func (s *Server) track(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		c.Close()
	}
	s.conns[c] = struct{}{}
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for c := range s.conns {
		c.Close()
	}
}

// deferResolver leaves domain names unresolved, so go-socks5 passes the name
// to Dial and the proxy can match it against profile directory names.
type deferResolver struct{}

func (deferResolver) Resolve(ctx context.Context, _ string) (context.Context, net.IP, error) {
	return ctx, nil, nil
}

// connectOnly permits CONNECT and refuses BIND and UDP ASSOCIATE, logging the
// refusal as that connection's one line.
type connectOnly struct{ log *slog.Logger }

func (r connectOnly) Allow(ctx context.Context, req *socks5.Request) (context.Context, bool) {
	if req.Command == socks5.ConnectCommand {
		return ctx, true
	}
	r.log.Info("refused", "dest", req.DestAddr.Address(), "command", req.Command, "result", "only CONNECT is supported")
	return ctx, false
}
