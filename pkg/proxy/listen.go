package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/kk-project/kk/pkg/peercred"
)

// Listen opens the proxy's listeners on port: 127.0.0.1 always, and ::1 when
// the machine has IPv6 loopback (if not, it logs why to log and goes on).
// Never any other address: the proxy knocks for whoever connects. Port 0
// picks a free port, the same one on both addresses.
func Listen(port int, log *slog.Logger) ([]net.Listener, error) {
	if port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen port %d: must be between 0 and 65535", port)
	}
	l4, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listening on 127.0.0.1 port %d: %w", port, err)
	}
	port = l4.Addr().(*net.TCPAddr).Port
	l6, err := net.Listen("tcp6", net.JoinHostPort("::1", strconv.Itoa(port)))
	if err != nil {
		log.Warn("not listening on IPv6 loopback", "err", err)
		return []net.Listener{l4}, nil
	}
	return []net.Listener{l4, l6}, nil
}

// allowPeer reports whether the client on c may be served: on a unix socket
// only the proxy's own uid is, as the kernel reports it (SO_PEERCRED on
// Linux, LOCAL_PEERCRED on macOS and FreeBSD); TCP clients are checked by
// their SOCKS5 credentials instead. It logs refusals.
func (s *Server) allowPeer(c net.Conn) bool {
	if _, unix := c.(*net.UnixConn); !unix {
		return true
	}
	cred, err := peercred.Get(c)
	if err != nil {
		s.log.Warn("refused a SOCKS5 client on the unix socket", "err", err)
		return false
	}
	if cred.UID != s.owner {
		s.log.Warn("refused a SOCKS5 client on the unix socket: only the proxy's own user may use it",
			"uid", cred.UID, "pid", cred.PID, "owner_uid", s.owner)
		return false
	}
	return true
}

// ListenUnix opens a unix socket listener at path, replacing a stale socket
// left there (one nobody accepts on). The socket is created mode 0600 (umask 177 around Listen):
// file permissions are the first layer, the peer's uid the second.
func ListenUnix(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == os.ModeSocket {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return nil, fmt.Errorf("listening on unix socket %s: another process serves it", path)
		}
		os.Remove(path)
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("listening on unix socket %s: %w", path, err)
	}
	return l, nil
}
