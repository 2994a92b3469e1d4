package syn

import "net/netip"

// Sockets are raw sockets of both families opened up front, so a process
// can open them as root and then give root up before it reads a profile
// (see package sudo). A Knocker with Sockets sends on them and leaves them
// open.
type Sockets struct {
	v4, v6     *RawConn
	err4, err6 error
}

// OpenSockets opens an IPv4 and an IPv6 raw socket. A failure is kept and
// returned by For for that family only.
func OpenSockets() *Sockets {
	s := &Sockets{}
	s.v4, s.err4 = OpenRaw()
	s.v6, s.err6 = OpenRaw6()
	return s
}

// For returns the socket for dst's family, or the error opening it failed
// with.
func (s *Sockets) For(dst netip.Addr) (*RawConn, error) {
	if dst.Is6() && !dst.Is4In6() {
		return s.v6, s.err6
	}
	return s.v4, s.err4
}

// Close closes the sockets.
func (s *Sockets) Close() {
	for _, c := range []*RawConn{s.v4, s.v6} {
		if c != nil {
			c.Close()
		}
	}
}
