package syn

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// SourceFor returns the address, of dst's family, the kernel would send from
// to reach dst. It connects a UDP socket, which consults the routing table
// but sends nothing. The socket is made with plain system calls: the net
// package's would register it with Go's network poller, a tenth of a
// millisecond on the knock's path for nothing.
func SourceFor(dst netip.Addr) (netip.Addr, error) {
	family, sa := unix.AF_INET6, unix.Sockaddr(&unix.SockaddrInet6{Port: 9, Addr: dst.As16(), ZoneId: zoneID(dst)})
	if dst.Is4() {
		family, sa = unix.AF_INET, &unix.SockaddrInet4{Port: 9, Addr: dst.As4()}
	}
	fd, err := socket(family, unix.SOCK_DGRAM, 0)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the source address for %s: %w", dst, err)
	}
	defer unix.Close(fd)
	if err := unix.Connect(fd, sa); err != nil {
		return netip.Addr{}, fmt.Errorf("finding the source address for %s: %w", dst, err)
	}
	local, err := unix.Getsockname(fd)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("finding the source address for %s: %w", dst, err)
	}
	var src netip.Addr
	switch a := local.(type) {
	case *unix.SockaddrInet4:
		src = netip.AddrFrom4(a.Addr)
	case *unix.SockaddrInet6:
		src = netip.AddrFrom16(a.Addr)
	}
	if !src.IsValid() || src.Is4() != dst.Is4() {
		return netip.Addr{}, fmt.Errorf("finding the source address for %s: got %s of the other family", dst, src)
	}
	return src, nil
}
