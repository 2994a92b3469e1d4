package main

import (
	"net"
	"strconv"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

// A lab is a server namespace whose INPUT drops new TCP connections to a
// listening port unless KNOCKKNOCK admits them, and a client namespace with
// two addresses, allowed and other, on a veth link to it.
type lab struct {
	srv, cli       *nstest.NS
	dst, dst6      string // listener address as host:port
	port           uint16
	allowed, other string
	allowed6       string
}

func newLab(t testing.TB) *lab {
	t.Helper()
	l := &lab{srv: nstest.New(t, "fs"), cli: nstest.New(t, "fc"),
		allowed: "10.77.0.2", other: "10.77.0.3", allowed6: "fd77::2"}
	nstest.Link(t, l.srv, "10.77.0.1/24", l.cli, "10.77.0.2/24")
	cliDev := "v" + l.cli.Name[len(l.cli.Name)-6:] + "b"
	srvDev := "v" + l.srv.Name[len(l.srv.Name)-6:] + "a"
	l.cli.Run(t, "ip", "addr", "add", "10.77.0.3/24", "dev", cliDev)
	l.cli.Run(t, "ip", "addr", "add", "fd77::2/64", "dev", cliDev, "nodad")
	l.srv.Run(t, "ip", "addr", "add", "fd77::1/64", "dev", srvDev, "nodad")
	var ln, ln6 net.Listener
	err := l.srv.Do(func() (err error) {
		if ln, err = net.Listen("tcp", "10.77.0.1:0"); err != nil {
			return err
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln6, err = net.Listen("tcp", "[fd77::1]:"+strconv.Itoa(port))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []net.Listener{ln, ln6} {
		t.Cleanup(func() { x.Close() })
		go acceptAll(x)
	}
	l.dst, l.dst6 = ln.Addr().String(), ln6.Addr().String()
	l.port = uint16(ln.Addr().(*net.TCPAddr).Port)
	for _, ipt := range []string{"iptables", "ip6tables"} {
		l.srv.Run(t, ipt, "-A", "INPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT")
		l.srv.Run(t, ipt, "-A", "INPUT", "-p", "tcp", "--dport", strconv.Itoa(int(l.port)), "-j", "DROP")
	}
	return l
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}
