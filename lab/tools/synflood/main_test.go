package main

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
)

// TestFrameChecksums checks the property a receiver checks: the checksum
// over a header (with the pseudo-header for TCP) that includes its own
// checksum field is zero.
func TestFrameChecksums(t *testing.T) {
	var f [frameLen]byte
	src, _ := net.ParseMAC("02:00:00:00:00:01")
	dst, _ := net.ParseMAC("02:00:00:00:00:02")
	template(&f, src, dst, netip.MustParseAddr("10.201.0.1"), 6666)
	rng := rand.New(rand.NewPCG(1, 2))
	skip := netip.MustParsePrefix("10.201.0.0/24")
	for range 1000 {
		randomize(&f, rng, skip)
		ip := f[ethLen : ethLen+ipLen]
		if c := checksum(ip, 0); c != 0 {
			t.Fatalf("IPv4 header checksum does not verify: %#04x", c)
		}
		var pseudo uint32
		for i := 12; i < 20; i += 2 {
			pseudo += uint32(binary.BigEndian.Uint16(ip[i:]))
		}
		pseudo += 6 + tcpLen
		if c := checksum(f[ethLen+ipLen:], pseudo); c != 0 {
			t.Fatalf("TCP checksum does not verify: %#04x", c)
		}
		a := netip.AddrFrom4([4]byte(ip[12:16]))
		if skip.Contains(a) || a.IsLoopback() || a.IsMulticast() {
			t.Fatalf("source %s should have been skipped", a)
		}
		if f[ethLen+ipLen+13] != 0x02 || binary.BigEndian.Uint16(f[ethLen+ipLen+2:]) != 6666 {
			t.Fatalf("not a SYN to port 6666: % x", f[ethLen+ipLen:])
		}
	}
}
