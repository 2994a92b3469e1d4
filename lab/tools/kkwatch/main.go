// Command kkwatch is a lab-only tool for `make bench`: it timestamps, on one
// clock (CLOCK_REALTIME, microseconds), the events on a knock's way from the
// wire to the firewall rule, and prints one line per event:
//
//	<seconds.micros> wire <src> <dport>      a TCP SYN or UDP datagram to a watched port arrived on -iface
//	<seconds.micros> rule <table> <chain>    nf_tables committed a new rule (as `nft monitor` sees it)
//	<seconds.micros> line <name> <text>      a line became readable in a watched file
//	<seconds.micros> kmsg <text>             a kernel log record became readable in /dev/kmsg (-kmsg)
//
// Run it inside the server's network namespace: the rule events are those of
// the namespace it starts in. The wire time is the kernel's receive
// timestamp of the packet (SO_TIMESTAMPNS on an AF_PACKET socket); the rule
// time is when the nf_tables commit notification reached this process, the
// same multicast group (NFNLGRP_NFTABLES) `nft monitor` listens to; a line's
// time is when inotify woke this process for the write that completed it; a
// kmsg record's time is when a read of /dev/kmsg blocked on it returned,
// i.e. when the kernel woke its log readers, rsyslogd's among them. That
// wake-up is not immediate: printk defers it to an irq_work that runs at the
// next timer tick (wake_up_klogd_work, IRQ_WORK_INIT_LAZY in
// kernel/printk/printk.c), so a LOG line waits 0 to 1/HZ (4 ms at HZ=250)
// before any logger can read it. Every reader of /dev/kmsg has its own
// position, so this one takes nothing from rsyslogd.
// It is not installed by make install.
//
// Usage:
//
//	kkwatch -iface br0 -ports 6666,62201 -file kern=/path/kern.log -file mon=/path/kk-monitor.log
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "kkwatch:", err)
		os.Exit(1)
	}
}

type fileFlag []string

func (f *fileFlag) String() string     { return strings.Join(*f, ",") }
func (f *fileFlag) Set(v string) error { *f = append(*f, v); return nil }

// out serialises event lines from the watchers.
type out struct {
	mu sync.Mutex
	w  *bufio.Writer
}

func (o *out) emit(t time.Time, format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, "%d.%06d ", t.Unix(), t.Nanosecond()/1000)
	fmt.Fprintf(o.w, format, args...)
	o.w.WriteByte('\n')
	o.w.Flush()
}

func run(args []string) error {
	fs := flag.NewFlagSet("kkwatch", flag.ContinueOnError)
	iface := fs.String("iface", "", "interface whose incoming TCP SYNs are stamped (none if empty)")
	portList := fs.String("ports", "", "comma-separated TCP (SYN) or UDP destination ports to stamp packets for")
	var files fileFlag
	fs.Var(&files, "file", "NAME=PATH of a file whose new lines are stamped (repeatable; the file must exist)")
	kmsg := fs.Bool("kmsg", false, "stamp each new kernel log record when it becomes readable in /dev/kmsg")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ports := map[uint16]bool{}
	for _, p := range strings.Split(*portList, ",") {
		if p == "" {
			continue
		}
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return fmt.Errorf("-ports: %q is not a port", p)
		}
		ports[uint16(n)] = true
	}
	o := &out{w: bufio.NewWriter(os.Stdout)}
	errc := make(chan error, 4)
	ready := make(chan struct{}, 4)
	n := 0
	go func() { errc <- watchRules(o, ready) }()
	n++
	if *iface != "" {
		go func() { errc <- watchWire(o, *iface, ports, ready) }()
		n++
	}
	if len(files) > 0 {
		go func() { errc <- watchFiles(o, files, ready) }()
		n++
	}
	if *kmsg {
		go func() { errc <- watchKmsg(o, ready) }()
		n++
	}
	for i := 0; i < n; i++ {
		select {
		case <-ready:
		case err := <-errc:
			return err
		}
	}
	fmt.Fprintln(os.Stderr, "kkwatch: ready")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
		return nil
	case err := <-errc:
		return err
	}
}

// watchRules reports every new nf_tables rule in this network namespace.
func watchRules(o *out, ready chan<- struct{}) error {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_NETFILTER)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: 1 << (unix.NFNLGRP_NFTABLES - 1)}); err != nil {
		return fmt.Errorf("joining NFNLGRP_NFTABLES: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	ready <- struct{}{}
	buf := make([]byte, 1<<20)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		t := time.Now()
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if errors.Is(err, unix.ENOBUFS) {
			o.emit(t, "lost netlink messages (ENOBUFS)")
			continue
		}
		if err != nil {
			return fmt.Errorf("reading netlink: %w", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			continue
		}
		for _, m := range msgs {
			if m.Header.Type != unix.NFNL_SUBSYS_NFTABLES<<8|unix.NFT_MSG_NEWRULE || len(m.Data) < 4 {
				continue
			}
			table, chain := "", ""
			attrs := m.Data[4:] // after struct nfgenmsg
			for len(attrs) >= 4 {
				l := int(binary.NativeEndian.Uint16(attrs))
				typ := binary.NativeEndian.Uint16(attrs[2:]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
				if l < 4 || l > len(attrs) {
					break
				}
				val := string(bytes.TrimRight(attrs[4:l], "\x00"))
				switch typ {
				case unix.NFTA_RULE_TABLE:
					table = val
				case unix.NFTA_RULE_CHAIN:
					chain = val
				}
				attrs = attrs[min((l+3)&^3, len(attrs)):]
			}
			o.emit(t, "rule %s %s", table, chain)
		}
	}
}

// htons converts a 16-bit value to network byte order.
func htons(v uint16) uint16 { return v<<8 | v>>8 }

// watchWire reports TCP SYNs (without ACK) and UDP datagrams (fwknop's
// single packet) to the given ports arriving on iface, IPv4 only, with the
// kernel's receive timestamp.
func watchWire(o *out, iface string, ports map[uint16]bool, ready chan<- struct{}) error {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return fmt.Errorf("-iface: %w", err)
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_IP)))
	if err != nil {
		return fmt.Errorf("packet socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_IP), Ifindex: ifi.Index}); err != nil {
		return fmt.Errorf("binding the packet socket to %s: %w", iface, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
		return fmt.Errorf("SO_TIMESTAMPNS: %w", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	ready <- struct{}{}
	buf := make([]byte, 128)
	oob := make([]byte, 128)
	for {
		n, oobn, _, _, err := unix.Recvmsg(fd, buf, oob, unix.MSG_TRUNC)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading packets: %w", err)
		}
		n = min(n, len(buf))
		p := buf[:n]
		if n < 20 || p[0]>>4 != 4 || (p[9] != unix.IPPROTO_TCP && p[9] != unix.IPPROTO_UDP) {
			continue
		}
		ihl := int(p[0]&0xf) * 4
		if n < ihl+14 {
			continue
		}
		l4 := p[ihl:]
		dport := binary.BigEndian.Uint16(l4[2:])
		if !ports[dport] || p[9] == unix.IPPROTO_TCP && l4[13]&0x12 != 0x02 {
			continue
		}
		t := time.Now()
		if cms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
			for _, cm := range cms {
				if cm.Header.Level == unix.SOL_SOCKET && cm.Header.Type == unix.SO_TIMESTAMPNS && len(cm.Data) >= 16 {
					t = time.Unix(int64(binary.NativeEndian.Uint64(cm.Data)), int64(binary.NativeEndian.Uint64(cm.Data[8:])))
				}
			}
		}
		src := netip.AddrFrom4([4]byte(p[12:16]))
		o.emit(t, "wire %s %d", src, dport)
	}
}

// watchKmsg reports each kernel log record written after it starts, when a
// blocking read of /dev/kmsg returns it. Records the ring overwrote before
// they were read (EPIPE) are reported as lost.
func watchKmsg(o *out, ready chan<- struct{}) error {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening /dev/kmsg: %w", err)
	}
	if _, err := unix.Seek(fd, 0, io.SeekEnd); err != nil {
		return fmt.Errorf("seeking to the end of /dev/kmsg: %w", err)
	}
	ready <- struct{}{}
	buf := make([]byte, 8192) // a record is at most about 1 KiB of text
	for {
		n, err := unix.Read(fd, buf)
		t := time.Now()
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EPIPE):
			o.emit(t, "lost kernel log records (the ring overwrote them)")
			continue
		case err != nil:
			return fmt.Errorf("reading /dev/kmsg: %w", err)
		}
		// "PRI,SEQ,USEC,FLAGS;TEXT\n", then continuation lines.
		rec, _, _ := bytes.Cut(buf[:n], []byte("\n"))
		if _, text, ok := bytes.Cut(rec, []byte(";")); ok {
			o.emit(t, "kmsg %s", text)
		}
	}
}

// A watched file: its name in the output, and the bytes read so far.
type watched struct {
	name string
	f    *os.File
	part []byte
}

// watchFiles reports each line appended to the files, from their current
// ends, when inotify reports the write that completed it.
func watchFiles(o *out, specs []string, ready chan<- struct{}) error {
	ifd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	byWD := map[int32]*watched{}
	for _, s := range specs {
		name, path, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("-file %q: want NAME=PATH", s)
		}
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("-file: %w", err)
		}
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return fmt.Errorf("-file: %w", err)
		}
		wd, err := unix.InotifyAddWatch(ifd, path, unix.IN_MODIFY)
		if err != nil {
			return fmt.Errorf("watching %s: %w", path, err)
		}
		byWD[int32(wd)] = &watched{name: name, f: f}
	}
	ready <- struct{}{}
	buf := make([]byte, 64<<10)
	rd := make([]byte, 256<<10)
	for {
		n, err := unix.Read(ifd, buf)
		t := time.Now()
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading inotify: %w", err)
		}
		seen := map[int32]bool{}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			seen[wd] = true
			off += unix.SizeofInotifyEvent + int(binary.NativeEndian.Uint32(buf[off+12:]))
		}
		for wd := range seen {
			w := byWD[wd]
			if w == nil {
				continue
			}
			for {
				m, _ := w.f.Read(rd)
				if m <= 0 {
					break
				}
				w.part = append(w.part, rd[:m]...)
			}
			for {
				i := bytes.IndexByte(w.part, '\n')
				if i < 0 {
					break
				}
				o.emit(t, "line %s %s", w.name, w.part[:i])
				w.part = w.part[i+1:]
			}
		}
	}
}
