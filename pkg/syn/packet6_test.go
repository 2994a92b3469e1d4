package syn

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/kk-project/kk/pkg/knock"
)

// packet6Cases carry expected bytes computed independently of this package,
// by a short Python script implementing RFC 8200's pseudo-header checksum.
var packet6Cases = []struct {
	name string
	pkt  Packet
	want string
}{
	{
		name: "typical",
		pkt: Packet{
			Src: netip.MustParseAddr("fd00:201::1"), Dst: netip.MustParseAddr("fd00:201::2"),
			SrcPort: 40000, DstPort: 666,
			Fields: knock.Fields{ID: 0x1234, Seq: 0xdeadbeef, Ack: 0x01020304, Window: 0xabcd},
		},
		want: "6000123400140640fd000201000000000000000000000001fd000201000000000000000000000002" +
			"9c40029adeadbeef010203045002abcdc5900000",
	},
	{
		name: "all ones",
		pkt: Packet{
			Src: netip.MustParseAddr("2001:db8:ffff::ffff"), Dst: netip.MustParseAddr("2001:db8::7"),
			SrcPort: 65535, DstPort: 1,
			Fields: knock.Fields{ID: 0xffff, Seq: 0xffffffff, Ack: 0xffffffff, Window: 0xffff},
		},
		want: "6000ffff0014064020010db8ffff0000000000000000ffff20010db8000000000000000000000007" +
			"ffff0001ffffffffffffffff5002ffff54690000",
	},
	{
		name: "zeros on loopback",
		pkt: Packet{
			Src: netip.MustParseAddr("::1"), Dst: netip.MustParseAddr("::1"),
			SrcPort: 32768, DstPort: 7000,
			Fields: knock.Fields{ID: 1},
		},
		want: "60000001001406400000000000000000000000000000000100000000000000000000000000000001" +
			"80001b5800000000000000005002000014890000",
	},
}

func TestPacket6Bytes(t *testing.T) {
	for _, tc := range packet6Cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.pkt.Append([]byte("prefix"))
			if err != nil {
				t.Fatal(err)
			}
			want, _ := hex.DecodeString(tc.want)
			if !bytes.Equal(got[len("prefix"):], want) || len(want) != Len6 {
				t.Errorf("packet\n got %x\nwant %x", got[len("prefix"):], want)
			}
			checkTCP6(t, got[len("prefix"):], &tc.pkt)
		})
	}
}

// checkTCP6 reads the knock back out of an IPv6 packet as a receiver would
// and verifies the TCP checksum with the receiver's algorithm.
func checkTCP6(t *testing.T, pkt []byte, p *Packet) {
	t.Helper()
	be := binary.BigEndian
	vtf := be.Uint32(pkt)
	if vtf>>28 != 6 || vtf>>20&0xff != 0 || vtf&0xf0000 != 0 {
		t.Errorf("first word %#08x: want version 6, traffic class 0, flow label < 2^16", vtf)
	}
	b := pkt[40:]
	got := knock.Fields{ID: uint16(vtf), Seq: be.Uint32(b[4:]), Ack: be.Uint32(b[8:]), Window: be.Uint16(b[14:])}
	if got != p.Fields {
		t.Errorf("fields on the wire %+v, want %+v", got, p.Fields)
	}
	pseudo := append(append([]byte{}, pkt[8:40]...), 0, 0, 0, 20, 0, 0, 0, 6)
	if !checksumOK(append(pseudo, b...)) {
		t.Errorf("TCP checksum %#04x does not verify", be.Uint16(b[16:]))
	}
}

func TestPacketRejectsMixedFamilies(t *testing.T) {
	v4, v6, mapped := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::1"), netip.MustParseAddr("::ffff:10.0.0.2")
	for _, c := range [][2]netip.Addr{{v4, v6}, {v6, v4}, {v6, mapped}, {mapped, v6}, {v4, {}}} {
		p := Packet{Src: c[0], Dst: c[1]}
		if _, err := p.Append(nil); err == nil {
			t.Errorf("Append %s -> %s succeeded, want an error", c[0], c[1])
		}
	}
}
