package syn

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"golang.org/x/net/ipv4"

	"github.com/kk-project/kk/pkg/knock"
)

// packetCases carry expected bytes computed independently of this package
// (by a separate implementation of RFC 791/793 checksums).
var packetCases = []struct {
	name string
	pkt  Packet
	want string
}{
	{
		name: "typical",
		pkt: Packet{
			Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"),
			SrcPort: 40000, DstPort: 666,
			Fields: knock.Fields{ID: 0x1234, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 0xabcd},
		},
		want: "45000028123440004006149a0a0000010a000002" + "9c40029adeadbeef010203045002abcdaf940000",
	},
	{
		name: "all ones",
		pkt: Packet{
			Src: netip.MustParseAddr("192.168.1.10"), Dst: netip.MustParseAddr("203.0.113.7"),
			SrcPort: 65535, DstPort: 1,
			Fields: knock.Fields{ID: 0xffff, Seq: 0xffffffff, Ack: 0xffffffff, Window: 0xffff},
		},
		want: "45000028ffff400040063d16c0a8010acb007107" + "ffff0001ffffffffffffffff5002ffffb2270000",
	},
	{
		name: "zeros on loopback",
		pkt: Packet{
			Src: netip.MustParseAddr("127.0.0.1"), Dst: netip.MustParseAddr("127.0.0.1"),
			SrcPort: 32768, DstPort: 7000,
			Fields: knock.Fields{ID: 1},
		},
		want: "450000280001400040063ccd7f0000017f000001" + "80001b5800000000000000005002000016880000",
	},
}

func TestPacketBytes(t *testing.T) {
	for _, tc := range packetCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.pkt.Append(nil)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := hex.DecodeString(tc.want)
			if !bytes.Equal(got, want) {
				t.Errorf("packet\n got %x\nwant %x", got, want)
			}
		})
	}
}

// TestPacketFields parses the packet as a receiver would and checks that the
// knock travels in exactly the four header fields, with valid checksums.
func TestPacketFields(t *testing.T) {
	for _, tc := range packetCases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.pkt.Append([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			b = b[len("prefix"):]
			if len(b) != Len {
				t.Fatalf("packet is %d bytes, want %d", len(b), Len)
			}
			checkIPv4(t, b[:20], &tc.pkt)
			checkTCP(t, b, &tc.pkt)
		})
	}
}

func checkIPv4(t *testing.T, b []byte, p *Packet) {
	t.Helper()
	h, err := ipv4.ParseHeader(b)
	if err != nil {
		t.Fatalf("ipv4.ParseHeader: %v", err)
	}
	if h.Version != 4 || h.Len != 20 || h.TotalLen != Len || h.Protocol != 6 || h.TTL == 0 {
		t.Errorf("IPv4 header %+v: want version 4, 20-byte header, total 40, protocol 6, TTL > 0", h)
	}
	if h.ID != int(p.Fields.ID) {
		t.Errorf("IPv4 ID = %#x, want %#x", h.ID, p.Fields.ID)
	}
	if !h.Src.Equal(p.Src.AsSlice()) || !h.Dst.Equal(p.Dst.AsSlice()) {
		t.Errorf("addresses %s -> %s, want %s -> %s", h.Src, h.Dst, p.Src, p.Dst)
	}
	if h.FragOff != 0 || h.Flags&ipv4.MoreFragments != 0 {
		t.Errorf("packet is a fragment: flags %v offset %d", h.Flags, h.FragOff)
	}
	if !checksumOK(b) {
		t.Errorf("IPv4 header checksum %#04x does not verify", h.Checksum)
	}
}

func checkTCP(t *testing.T, pkt []byte, p *Packet) {
	t.Helper()
	b := pkt[20:]
	be := binary.BigEndian
	if sp, dp := be.Uint16(b[0:]), be.Uint16(b[2:]); sp != p.SrcPort || dp != p.DstPort {
		t.Errorf("ports %d -> %d, want %d -> %d", sp, dp, p.SrcPort, p.DstPort)
	}
	got := knock.Fields{ID: be.Uint16(pkt[4:]), Seq: be.Uint32(b[4:]), Ack: be.Uint32(b[8:]), Window: be.Uint16(b[14:])}
	if got != p.Fields {
		t.Errorf("fields on the wire %+v, want %+v", got, p.Fields)
	}
	if off, flags := b[12]>>4, b[13]; off != 5 || flags != 0x02 {
		t.Errorf("data offset %d flags %#02x, want 5 and SYN only (0x02)", off, flags)
	}
	pseudo := append(append(append([]byte{}, pkt[12:20]...), 0, 6), 0, 20)
	if !checksumOK(append(pseudo, b...)) {
		t.Errorf("TCP checksum %#04x does not verify", be.Uint16(b[16:]))
	}
}

// checksumOK verifies an Internet checksum the receiver's way: the
// one's-complement sum of all words, checksum included, is 0xffff. It is
// written differently from the code under test on purpose.
func checksumOK(b []byte) bool {
	var s uint64
	for i := 0; i+1 < len(b); i += 2 {
		s += uint64(b[i])<<8 + uint64(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint64(b[len(b)-1]) << 8
	}
	return s%0xffff == 0 && s != 0
}

// FuzzPacket checks, for any fields and addresses, that the fields come back
// out of the parsed packet and both checksums verify.
func FuzzPacket(f *testing.F) {
	for _, tc := range packetCases {
		p := tc.pkt
		s, d := p.Src.As4(), p.Dst.As4()
		f.Add(binary.BigEndian.Uint32(s[:]), binary.BigEndian.Uint32(d[:]), p.SrcPort, p.DstPort, p.Fields.ID, p.Fields.Seq, p.Fields.Ack, p.Fields.Window)
	}
	f.Fuzz(func(t *testing.T, src, dst uint32, sp, dp, id uint16, seq, ack uint32, win uint16) {
		var s, d [4]byte
		binary.BigEndian.PutUint32(s[:], src)
		binary.BigEndian.PutUint32(d[:], dst)
		p := Packet{Src: netip.AddrFrom4(s), Dst: netip.AddrFrom4(d), SrcPort: sp, DstPort: dp,
			Fields: knock.Fields{ID: id, Seq: seq, Ack: ack, Window: win}}
		b, err := p.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		checkIPv4(t, b[:20], &p)
		checkTCP(t, b, &p)
	})
}

func BenchmarkPacketAppend(b *testing.B) {
	p := packetCases[0].pkt
	buf := make([]byte, 0, Len)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = p.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEphemeralPortInRange(t *testing.T) {
	lo, hi := portRange()
	seen := map[uint16]bool{}
	for range 200 {
		p := EphemeralPort()
		if int(p) < lo || int(p) > hi {
			t.Fatalf("EphemeralPort() = %d, outside %d-%d", p, lo, hi)
		}
		seen[p] = true
	}
	if len(seen) < 100 {
		t.Errorf("200 ports drew only %d distinct values; not random", len(seen))
	}
}
