package proxy

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
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
