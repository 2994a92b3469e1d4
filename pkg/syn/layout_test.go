package syn

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"runtime"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/knock"
)

// TestAppendRawLayouts checks the bytes each system's raw socket is handed
// for packetCases' "typical" knock (10.0.0.1:40000 -> 10.0.0.2:666). Only
// the IPv4 total length (40, bytes 2-3) and fragment offset (DF, bytes 6-7)
// move; the checksums are those of the packet on the wire.
func TestAppendRawLayouts(t *testing.T) {
	pkt := Packet{
		Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
		SrcPort: 40000, DstPort: 666,
		Fields: knock.Fields{ID: 0x1234, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 0xabcd},
	}
	const tcp = "9c40029adeadbeef010203045002abcdaf940000"
	// ip_len and ip_off in network byte order: 0028, 4000.
	const wire = "45000028123440004006149a0a0000010a000002" + tcp
	// ip_len and ip_off in host byte order on the little-endian amd64 and
	// arm64 of macOS and FreeBSD: 2800, 0040.
	const host = "45002800123400404006149a0a0000010a000002" + tcp
	cases := []struct {
		system string
		layout Layout
		want   string
	}{
		{"linux", layoutFor("linux", 0), wire},
		{"darwin", layoutFor("darwin", 0), host},
		{"freebsd 14.1", layoutFor("freebsd", 1401000), wire},
		{"freebsd 11.0", layoutFor("freebsd", 1100000), wire},
		{"freebsd 10.4", layoutFor("freebsd", 1004000), host},
		{"freebsd, osreldate unreadable", layoutFor("freebsd", 0), wire},
	}
	for _, tc := range cases {
		t.Run(tc.system, func(t *testing.T) {
			want := tc.want
			if binary.NativeEndian.Uint16([]byte{0x00, 0x28}) == 0x28 {
				want = wire // a big-endian host's order is the network's
			}
			got, err := pkt.AppendRaw([]byte("prefix"), tc.layout)
			if err != nil {
				t.Fatal(err)
			}
			if string(got[:6]) != "prefix" {
				t.Fatalf("AppendRaw overwrote the buffer's prefix: %q", got[:6])
			}
			if w, _ := hex.DecodeString(want); !bytes.Equal(got[6:], w) {
				t.Errorf("raw packet for %s\n got %x\nwant %s", tc.system, got[6:], want)
			}
		})
	}
	if runtime.GOOS == "linux" && rawLayout != LayoutWire {
		t.Errorf("this Linux's raw socket layout is %v, want the wire format", rawLayout)
	}
}

// TestAppendRawIPv6 checks that an IPv6 packet is handed over as on the
// wire in every layout: the byte order rule is IPv4's.
func TestAppendRawIPv6(t *testing.T) {
	p := Packet{
		Src: netip.MustParseAddr("fd00::1"), Dst: netip.MustParseAddr("fd00::2"),
		SrcPort: 40000, DstPort: 666, Fields: knock.Fields{ID: 0x1234, Seq: 1, Ack: 2, Window: 3},
	}
	want, err := p.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []Layout{LayoutWire, LayoutHost} {
		got, err := p.AppendRaw(nil, l)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("AppendRaw(%v) = %x, %v; want %x", l, got, err, want)
		}
	}
}

// TestSudoHint checks the advice macOS and FreeBSD users get without root:
// their own command line again, after sudo, pasteable into a shell.
func TestSudoHint(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"knockknock", "-p", "22", "-s", "myserver.com"}, "sudo knockknock -p 22 -s myserver.com"},
		{[]string{"/usr/local/bin/kk-client", "-p", "22", "fe80::1%en0", "-d", "/Volumes/My Key/profile"},
			"sudo /usr/local/bin/kk-client -p 22 fe80::1%en0 -d '/Volumes/My Key/profile'"},
		{[]string{"kk-client", "-d", "it's", "-p", "22", ""}, `sudo kk-client -d 'it'\''s' -p 22 ''`},
	} {
		got := sudoHint(tc.argv)
		if !strings.HasSuffix(got, ": "+tc.want) || !strings.Contains(got, "run it with sudo") {
			t.Errorf("sudoHint(%q) = %q, want it to end in %q", tc.argv, got, tc.want)
		}
	}
}
