package main

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
)

func TestTableAndJSONOfOpenings(t *testing.T) {
	now := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	openings := []firewall.Opening{
		{IP: netip.MustParseAddr("192.0.2.7"), Port: 22, Deadline: now.Add(90*time.Second + 400*time.Millisecond), Profile: "laptop"},
		{IP: netip.MustParseAddr("2001:db8::7"), Port: 443, Deadline: now.Add(-time.Second)},
	}
	var b bytes.Buffer
	writeTable(&b, openings, now)
	want := "" +
		"SOURCE       FAMILY  PROTO  PORT  PROFILE  UNTIL (UTC)          LEFT\n" +
		"192.0.2.7    ipv4    tcp    22    laptop   2026-11-27 03:01:30  1m30s\n" +
		"2001:db8::7  ipv6    tcp    443   -        2026-11-27 02:59:59  expiring\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant\n%s", b.String(), want)
	}
	b.Reset()
	writeTable(&b, nil, now)
	if b.String() != "no openings\n" {
		t.Errorf("empty table = %q", b.String())
	}
	for i, want := range []jsonOpening{
		{SourceIP: "192.0.2.7", Family: "ipv4", Protocol: "tcp", Port: 22, Profile: "laptop", Deadline: openings[0].Deadline, SecondsLeft: 90},
		{SourceIP: "2001:db8::7", Family: "ipv6", Protocol: "tcp", Port: 443, Deadline: openings[1].Deadline, SecondsLeft: 0},
	} {
		if got := toJSON(openings[i], now); got != want {
			t.Errorf("toJSON(%v) = %+v, want %+v", openings[i], got, want)
		}
	}
}

func TestParseOpening(t *testing.T) {
	ip, port, err := parseOpening("::ffff:192.0.2.7", "22")
	if err != nil || ip != netip.MustParseAddr("192.0.2.7") || port != 22 {
		t.Errorf("parseOpening of a v4-mapped address = %v, %d, %v; want the IPv4 address kk-firewall keys it by", ip, port, err)
	}
}
