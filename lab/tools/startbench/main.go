// Command startbench is a lab-only tool for `make bench`: it measures how long
// knock clients take from their start to their packet on the wire. It runs
// in the client's network namespace, starts each client in turn, and stamps:
//
//	t0  just before the client's fork and exec (vfork, as os/exec does)
//	t1  the kernel's receive timestamp (SO_TIMESTAMPNS) of the client's
//	    packet on an AF_PACKET socket opened in the server's namespace
//	te  the client has exited
//
// Clients are interleaved (round r starts them in an order rotated by r), so
// every client meets the same machine load. A client named with proto "exit"
// sends nothing and is measured to its exit only (e.g. kk-client -h: exec,
// Go runtime start and exit).
//
// Usage:
//
//	startbench -netns /run/netns/NAME -dst ADDR -n 50 -gap 100ms \
//	  -c 'NAME PROTO PORT CMD ARGS...' [-c ...]
//
// PROTO is tcp (a SYN to PORT), udp or exit. Arguments are split on blanks;
// an underscore in NAME prints as a blank.
// It prints one line per client: the count and start->wire and start->exit
// p50, p99 and max in ms. `startbench -noop` exits at once: run as a client
// it shows what any static Go binary pays to exec, start its runtime and
// exit. It is not installed by make install.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type client struct {
	name  string
	proto string // tcp, udp or exit
	port  uint16
	argv  []string
	wire  []time.Duration
	exit  []time.Duration
}

type clientFlags []*client

func (c *clientFlags) String() string { return "" }

func (c *clientFlags) Set(v string) error {
	f := strings.Fields(v)
	if len(f) < 4 {
		return fmt.Errorf("-c %q: want NAME PROTO PORT CMD [ARGS...]", v)
	}
	switch f[1] {
	case "tcp", "udp", "exit":
	default:
		return fmt.Errorf("-c %q: proto must be tcp, udp or exit", v)
	}
	port, err := strconv.ParseUint(f[2], 10, 16)
	if err != nil {
		return fmt.Errorf("-c %q: port: %w", v, err)
	}
	*c = append(*c, &client{name: strings.ReplaceAll(f[0], "_", " "), proto: f[1], port: uint16(port), argv: f[3:]})
	return nil
}

// A packet is one IPv4 packet the capture saw arriving at dst.
type packet struct {
	at    time.Time
	proto string
	port  uint16
}

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-noop" {
		return // the floor: a static Go binary's exec, runtime start and exit
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "startbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("startbench", flag.ContinueOnError)
	netns := fs.String("netns", "", "the server's network namespace (a /run/netns path), where packets are stamped")
	dstFlag := fs.String("dst", "", "the server's IPv4 address")
	n := fs.Int("n", 50, "rounds: each client runs once per round")
	gap := fs.Duration("gap", 100*time.Millisecond, "pause between two client starts")
	var clients clientFlags
	fs.Var(&clients, "c", "a client: 'NAME PROTO PORT CMD ARGS...' (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dst, err := netip.ParseAddr(*dstFlag)
	if err != nil || !dst.Is4() {
		return fmt.Errorf("-dst %q: want an IPv4 address", *dstFlag)
	}
	if *netns == "" || len(clients) == 0 || *n < 1 {
		return errors.New("need -netns, -dst, -n >= 1 and at least one -c")
	}
	fd, err := captureIn(*netns)
	if err != nil {
		return err
	}
	pkts := make(chan packet, 1024)
	go capture(fd, dst, pkts)
	for r := 0; r < *n; r++ {
		for i := range clients {
			c := clients[(i+r)%len(clients)]
			if err := once(c, pkts); err != nil {
				return fmt.Errorf("round %d, %s: %w", r+1, c.name, err)
			}
			time.Sleep(*gap)
		}
	}
	fmt.Printf("  %-44s %5s %7s %7s %7s   %7s %7s\n", "client (ms)", "n", "p50", "p99", "max", "exit50", "exit99")
	for _, c := range clients {
		w50, w99, wmax := "-", "-", "-"
		if c.proto != "exit" {
			w50, w99, wmax = ms(pct(c.wire, 50)), ms(pct(c.wire, 99)), ms(pct(c.wire, 100))
		}
		fmt.Printf("  %-44s %5d %7s %7s %7s   %7s %7s\n", c.name, len(c.exit), w50, w99, wmax,
			ms(pct(c.exit, 50)), ms(pct(c.exit, 99)))
	}
	return nil
}

// once starts c, waits for it to exit and for its packet.
func once(c *client, pkts <-chan packet) error {
	// Anything still queued belongs to an earlier client.
	for len(pkts) > 0 {
		<-pkts
	}
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	err := cmd.Wait()
	te := time.Now()
	if err != nil {
		return fmt.Errorf("%s: %w", strings.Join(c.argv, " "), err)
	}
	c.exit = append(c.exit, te.Sub(t0))
	if c.proto == "exit" {
		return nil
	}
	deadline := time.After(2 * time.Second)
	for {
		select {
		case p := <-pkts:
			if p.proto == c.proto && p.port == c.port && p.at.After(t0) {
				c.wire = append(c.wire, p.at.Sub(t0))
				return nil
			}
		case <-deadline:
			return fmt.Errorf("no %s packet to port %d within 2 s of the start", c.proto, c.port)
		}
	}
}

// captureIn opens an AF_PACKET socket for IPv4 in the network namespace at
// path, with kernel receive timestamps. The socket stays in that namespace;
// the thread that made it returns to its own.
func captureIn(path string) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		return -1, err
	}
	defer self.Close()
	ns, err := os.Open(path)
	if err != nil {
		return -1, err
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		return -1, fmt.Errorf("entering %s: %w", path, err)
	}
	fd, serr := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
		// This thread cannot go home; let it die with the process.
		return -1, fmt.Errorf("returning to the own network namespace: %w", err)
	}
	if serr != nil {
		return -1, fmt.Errorf("opening an AF_PACKET socket in %s: %w", path, serr)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return -1, fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	return fd, nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// capture reads packets arriving at dst and sends the TCP SYNs and UDP
// datagrams among them to out, with their kernel timestamps.
func capture(fd int, dst netip.Addr, out chan<- packet) {
	buf := make([]byte, 128)
	oob := make([]byte, 128)
	d := dst.As4()
	for {
		n, oobn, _, from, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			fmt.Fprintln(os.Stderr, "startbench: capture:", err)
			os.Exit(1)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); !ok || ll.Pkttype != unix.PACKET_HOST {
			continue
		}
		n = min(n, len(buf))
		if n < 24 || buf[0]>>4 != 4 || [4]byte(buf[16:20]) != d {
			continue
		}
		hl := int(buf[0]&0x0f) * 4
		if n < hl+14 {
			continue
		}
		p := packet{at: stamp(oob[:oobn]), port: uint16(buf[hl+2])<<8 | uint16(buf[hl+3])}
		switch buf[9] {
		case unix.IPPROTO_TCP:
			if buf[hl+13]&0x12 != 0x02 { // SYN without ACK
				continue
			}
			p.proto = "tcp"
		case unix.IPPROTO_UDP:
			p.proto = "udp"
		default:
			continue
		}
		if p.at.IsZero() {
			fmt.Fprintln(os.Stderr, "startbench: a packet without SO_TIMESTAMPNS")
			os.Exit(1)
		}
		select {
		case out <- p:
		default:
		}
	}
}

// stamp returns the SO_TIMESTAMPNS control message's time.
func stamp(oob []byte) time.Time {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == unix.SOL_SOCKET && m.Header.Type == unix.SO_TIMESTAMPNS && len(m.Data) >= 16 {
			sec := int64(nativeUint64(m.Data[0:8]))
			nsec := int64(nativeUint64(m.Data[8:16]))
			return time.Unix(sec, nsec)
		}
	}
	return time.Time{}
}

func nativeUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- { // little-endian: the lab runs on amd64 and arm64
		v = v<<8 | uint64(b[i])
	}
	return v
}

// pct is the p-th percentile (nearest rank) of d.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := (p*len(s) + 99) / 100
	return s[max(i, 1)-1]
}

func ms(d time.Duration) string { return strconv.FormatFloat(d.Seconds()*1000, 'f', 2, 64) }
