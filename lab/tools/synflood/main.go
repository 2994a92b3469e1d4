// Command synflood is a lab-only tool for `make bench`: it floods one TCP
// port with SYNs from random (spoofed) IPv4 source addresses, faster than
// hping3 --flood can on this kind of machine. It writes whole Ethernet
// frames to an AF_PACKET socket on -iface, many per sendmmsg(2) call, so
// the sending namespace's own stack (routing, netfilter, neighbour lookup)
// costs nothing per packet and the receiving side is what is measured. Each
// frame has valid IPv4 and TCP checksums, so the receiver treats it as a
// real SYN. It never sends from the lab's own subnet (-avoid), so it cannot
// take a real client's limit-table entry.
//
// It runs until -duration passes or SIGINT/SIGTERM, then prints how many
// frames it sent. It is not installed by make install.
//
// Usage (inside the sending namespace):
//
//	synflood -iface eth0 -dstmac 02:..:.. -dst 10.201.0.1 -dport 6666 [-pps N] [-duration 60s]
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	ethLen   = 14
	ipLen    = 20
	tcpLen   = 20
	frameLen = ethLen + ipLen + tcpLen
	batch    = 64
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "synflood:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("synflood", flag.ContinueOnError)
	iface := fs.String("iface", "", "interface to send on (in this namespace)")
	dstMAC := fs.String("dstmac", "", "destination MAC address (the receiver's interface)")
	dst := fs.String("dst", "", "destination IPv4 address")
	dport := fs.Uint("dport", 0, "destination TCP port")
	avoid := fs.String("avoid", "10.201.0.0/24", "never send from this prefix")
	pps := fs.Int("pps", 0, "frames per second (0: as fast as possible)")
	duration := fs.Duration("duration", time.Minute, "stop after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	ifi, err := net.InterfaceByName(*iface)
	if err != nil {
		return fmt.Errorf("-iface: %w", err)
	}
	hw, err := net.ParseMAC(*dstMAC)
	if err != nil || len(hw) != 6 {
		return fmt.Errorf("-dstmac %q: not an Ethernet address", *dstMAC)
	}
	to, err := netip.ParseAddr(*dst)
	if err != nil || !to.Is4() {
		return fmt.Errorf("-dst %q: not an IPv4 address", *dst)
	}
	if *dport == 0 || *dport > 65535 {
		return fmt.Errorf("-dport %d: not a port", *dport)
	}
	skip, err := netip.ParsePrefix(*avoid)
	if err != nil {
		return fmt.Errorf("-avoid: %w", err)
	}

	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
	if err != nil {
		return fmt.Errorf("AF_PACKET socket (needs CAP_NET_RAW): %w", err)
	}
	defer unix.Close(fd)
	// Frames go straight to the driver: the sender's qdisc would only add
	// a lock and drops.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1)
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("binding to %s: %w", *iface, err)
	}

	frames := make([][frameLen]byte, batch)
	iovs := make([]unix.Iovec, batch)
	msgs := make([]mmsghdr, batch)
	for i := range frames {
		template(&frames[i], ifi.HardwareAddr, hw, to, uint16(*dport))
		iovs[i].Base = &frames[i][0]
		iovs[i].SetLen(frameLen)
		msgs[i].hdr.Iov = &iovs[i]
		msgs[i].hdr.SetIovlen(1)
	}

	var stop atomic.Bool
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sig; stop.Store(true) }()
	time.AfterFunc(*duration, func() { stop.Store(true) })

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	start := time.Now()
	var sent int64
	for !stop.Load() {
		for i := range frames {
			randomize(&frames[i], rng, skip)
		}
		n, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafe.Pointer(&msgs[0])), batch, 0, 0, 0)
		if errno != 0 {
			if errors.Is(errno, unix.ENOBUFS) || errors.Is(errno, unix.EAGAIN) || errors.Is(errno, unix.EINTR) {
				continue
			}
			return fmt.Errorf("sendmmsg: %w", errno)
		}
		sent += int64(n)
		if *pps > 0 {
			// Sleep off any lead over the asked rate.
			if ahead := time.Duration(sent)*time.Second/time.Duration(*pps) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
		}
	}
	d := time.Since(start).Seconds()
	fmt.Printf("synflood: %d frames in %.1f s (%.0f/s)\n", sent, d, float64(sent)/d)
	return nil
}

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
	_   [4]byte
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// template writes the parts of a SYN frame that never change.
func template(f *[frameLen]byte, src, dst net.HardwareAddr, to netip.Addr, dport uint16) {
	copy(f[0:6], dst)
	copy(f[6:12], src)
	binary.BigEndian.PutUint16(f[12:], unix.ETH_P_IP)
	ip := f[ethLen:]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], ipLen+tcpLen)
	ip[8] = 64
	ip[9] = unix.IPPROTO_TCP
	d := to.As4()
	copy(ip[16:20], d[:])
	tcp := ip[ipLen:]
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12] = tcpLen / 4 << 4
	tcp[13] = 0x02 // SYN
}

// randomize gives f a fresh source address, IPv4 ID, source port, sequence
// number and window, as hping3 --rand-source does, and its checksums.
func randomize(f *[frameLen]byte, rng *rand.Rand, skip netip.Prefix) {
	ip := f[ethLen : ethLen+ipLen]
	tcp := f[ethLen+ipLen:]
	var src [4]byte
	for {
		binary.BigEndian.PutUint32(src[:], rng.Uint32())
		a := netip.AddrFrom4(src)
		if !skip.Contains(a) && src[0] != 0 && src[0] != 127 && src[0] < 224 {
			break
		}
	}
	copy(ip[12:16], src[:])
	r := rng.Uint64()
	binary.BigEndian.PutUint16(ip[4:], uint16(r))
	binary.BigEndian.PutUint16(tcp[0:], 1024+uint16(r>>16)%64000)
	binary.BigEndian.PutUint32(tcp[4:], uint32(r>>32))
	binary.BigEndian.PutUint16(tcp[14:], 512+uint16(r>>24)%32000)
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], checksum(ip, 0))
	tcp[16], tcp[17] = 0, 0
	// The pseudo-header: addresses, protocol, TCP length.
	var pseudo uint32
	for i := 12; i < 20; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	pseudo += unix.IPPROTO_TCP + tcpLen
	binary.BigEndian.PutUint16(tcp[16:], checksum(tcp, pseudo))
}

// checksum is the Internet checksum (RFC 1071) of b, starting from sum.
func checksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
