// Command synsend is a lab-only tool: it sends one raw TCP SYN whose four
// knock fields (IPv4 ID or IPv6 flow label, SEQ, ACK, WINDOW) are given on
// the command line, built by pkg/syn as kk-client builds a knock. The lab
// uses it to replay a logged IPv6 knock, which hping3 cannot send. It is not
// installed by make install.
//
// Usage:
//
//	synsend -src ADDR -dst ADDR -dport PORT -id N -seq N -ack N -win N [-sport PORT]
package main

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"strconv"

	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/syn"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "synsend:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("synsend", flag.ContinueOnError)
	src := fs.String("src", "", "source address (IPv4 or IPv6)")
	dst := fs.String("dst", "", "destination address, of the source's family")
	sport := fs.String("sport", "", "TCP source port (default: a random ephemeral port)")
	dport := fs.String("dport", "", "TCP destination port")
	id := fs.String("id", "", "IPv4 ID, or the IPv6 flow label (0-65535)")
	seq := fs.String("seq", "", "TCP sequence number")
	ack := fs.String("ack", "", "TCP acknowledgement number")
	win := fs.String("win", "", "TCP window")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var p syn.Packet
	var err error
	if p.Src, err = netip.ParseAddr(*src); err != nil {
		return fmt.Errorf("-src: %w", err)
	}
	if p.Dst, err = netip.ParseAddr(*dst); err != nil {
		return fmt.Errorf("-dst: %w", err)
	}
	p.SrcPort = syn.EphemeralPort()
	if *sport != "" {
		if p.SrcPort, err = uint16Flag("-sport", *sport); err != nil {
			return err
		}
	}
	var f knock.Fields
	if p.DstPort, err = uint16Flag("-dport", *dport); err != nil {
		return err
	}
	if f.ID, err = uint16Flag("-id", *id); err != nil {
		return err
	}
	if f.Seq, err = uint32Flag("-seq", *seq); err != nil {
		return err
	}
	if f.Ack, err = uint32Flag("-ack", *ack); err != nil {
		return err
	}
	if f.Window, err = uint16Flag("-win", *win); err != nil {
		return err
	}
	p.Fields = f
	pkt, err := p.Append(nil)
	if err != nil {
		return err
	}
	raw, err := syn.OpenRawFor(p.Dst)
	if err != nil {
		return err
	}
	defer raw.Close()
	return raw.Send(pkt, p.Dst)
}

func uint16Flag(name, s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%s: want 0-65535: %w", name, err)
	}
	return uint16(n), nil
}

func uint32Flag(name, s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: want 0-4294967295: %w", name, err)
	}
	return uint32(n), nil
}
