// Package proxy is a knock-aware SOCKS5 proxy for the local machine.
//
// It accepts CONNECT requests without authentication for IPv4, IPv6 and
// domain-name destinations. A destination that has a profile in the profiles
// directory (~/.knockknock/<host>/) is knocked before it is dialled, and
// knocked again if the dial fails; every other destination is dialled
// directly.
//
// The SOCKS5 protocol itself is armon/go-socks5's: it exposes the Dial hook
// that knocking needs and a Resolver hook that lets Dial see domain names
// before they are resolved, so this package holds only the knocking policy.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
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
	s := &Server{cfg: cfg, log: cfg.Logger, conns: make(map[net.Conn]struct{})}
	s.names = newNameCache(s.lookup, time.Now)
	return s, nil
}

// Serve accepts SOCKS5 clients on every listener until ctx is done. It then
// closes the listeners and every client connection, waits for the handlers
// to return, and returns nil. It returns an error only if it could not set
// up the SOCKS5 server.
func (s *Server) Serve(ctx context.Context, listeners ...net.Listener) error {
	srv, err := socks5.New(&socks5.Config{
		Resolver: deferResolver{},
		Rules:    connectOnly{log: s.log},
		Dial:     func(_ context.Context, _, addr string) (net.Conn, error) { return s.dial(ctx, addr) },
		Logger:   slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	})
	if err != nil {
		return err
	}
	for _, l := range listeners {
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
