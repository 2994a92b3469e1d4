package knock

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"math/bits"
	"net/netip"
	"testing"
)

// testKeys are the keys the vectors were derived with, using openssl
// enc -aes-128-ecb and openssl dgst -sha1 -hmac, not Go.
var testKeys = Keys{
	Cipher: [16]byte{0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f},
	MAC:    [16]byte{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f},
}

var vectors = []struct {
	name    string
	counter uint32
	port    uint16
	hex     string
	fields  Fields
}{
	{"counter0-ssh", 0, 22, "c6b70e7589a5b8913d0c7b54", Fields{50871, 242583973, 3096526092, 31572}},
	{"counter1-ssh", 1, 22, "735026d79bea570d1b3847d5", Fields{29520, 651664362, 1460476728, 18389}},
	{"counter7-https", 7, 443, "b889597cf6c30bf42f1e5f32", Fields{47241, 1501361859, 200552222, 24370}},
	{"counter-max", 4294967295, 65535, "a86be88cded9d46de1d61401", Fields{43115, 3901546201, 3563971030, 5121}},
}

func TestEncodeVectors(t *testing.T) {
	for _, tt := range vectors {
		t.Run(tt.name, func(t *testing.T) {
			got := Encode(&testKeys, tt.counter, tt.port)
			if got != tt.fields {
				t.Errorf("Encode = %+v, want %+v", got, tt.fields)
			}
			b := got.Bytes()
			if h := hex.EncodeToString(b[:]); h != tt.hex {
				t.Errorf("Bytes = %s, want %s", h, tt.hex)
			}
		})
	}
}

func TestVerifyVectors(t *testing.T) {
	for _, tt := range vectors {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := hex.DecodeString(tt.hex)
			if err != nil {
				t.Fatal(err)
			}
			f := FieldsFromBytes([Size]byte(raw))
			if f != tt.fields {
				t.Fatalf("FieldsFromBytes = %+v, want %+v", f, tt.fields)
			}
			v, err := NewVerifier(&testKeys, uint64(tt.counter), 20)
			if err != nil {
				t.Fatal(err)
			}
			port, used, ok := v.Match(f)
			if !ok || port != tt.port || used != tt.counter {
				t.Fatalf("Match = (%d, %d, %v), want (%d, %d, true)", port, used, ok, tt.port, tt.counter)
			}
		})
	}
}

func TestRoundTripAllSlots(t *testing.T) {
	const window = 20
	v, err := NewVerifier(&testKeys, 100, window)
	if err != nil {
		t.Fatal(err)
	}
	for x := range uint32(window) {
		for _, port := range []uint16{1, 22, 443, 8080, 65535} {
			got, used, ok := v.Match(Encode(&testKeys, 100+x, port))
			if !ok || got != port || used != 100+x {
				t.Errorf("slot %d port %d: Match = (%d, %d, %v)", x, port, got, used, ok)
			}
		}
	}
}

func TestEveryBitFlipRejected(t *testing.T) {
	v, err := NewVerifier(&testKeys, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	valid := Encode(&testKeys, 3, 22).Bytes()
	for bit := range Size * 8 {
		b := valid
		b[bit/8] ^= 1 << (bit % 8)
		if port, used, ok := v.Match(FieldsFromBytes(b)); ok {
			t.Errorf("bit %d flipped: accepted as port %d counter %d", bit, port, used)
		}
	}
}

func TestWindowEdgeAndReplay(t *testing.T) {
	const window = 20
	v, err := NewVerifier(&testKeys, 50, window)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := v.Match(Encode(&testKeys, 50+window, 22)); ok {
		t.Fatal("slot error_window accepted; want rejected")
	}
	if _, _, ok := v.Match(Encode(&testKeys, 49, 22)); ok {
		t.Fatal("counter below window accepted")
	}
	knock := Encode(&testKeys, 50+window-1, 22)
	_, used, ok := v.Match(knock)
	if !ok || used != 50+window-1 {
		t.Fatalf("slot error_window-1: Match = (%d, %v), want accepted", used, ok)
	}
	v.Advance(uint64(used) + 1)
	if v.Counter() != uint64(used)+1 {
		t.Fatalf("Counter = %d after Advance(%d)", v.Counter(), used+1)
	}
	if _, _, ok := v.Match(knock); ok {
		t.Fatal("replayed knock accepted")
	}
	// The window moved: the next slots are now valid.
	for x := range uint32(window) {
		c := used + 1 + x
		if _, got, ok := v.Match(Encode(&testKeys, c, 443)); !ok || got != c {
			t.Fatalf("after advance, counter %d: (%d, %v)", c, got, ok)
		}
	}
}

func TestAdvanceInSmallSteps(t *testing.T) {
	v, err := NewVerifier(&testKeys, 0, 7)
	if err != nil {
		t.Fatal(err)
	}
	for c := range uint32(100) {
		_, used, ok := v.Match(Encode(&testKeys, c, 22))
		if !ok || used != c {
			t.Fatalf("counter %d: (%d, %v)", c, used, ok)
		}
		v.Advance(uint64(used) + 1)
	}
	v.Advance(50) // behind the counter: no effect
	if v.Counter() != 100 {
		t.Fatalf("Counter = %d, want 100", v.Counter())
	}
}

func TestCounterNeverWraps(t *testing.T) {
	v, err := NewVerifier(&testKeys, MaxCounter-2, 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, used, ok := v.Match(Encode(&testKeys, MaxCounter, 22)); !ok || used != MaxCounter {
		t.Fatalf("last counter: (%d, %v)", used, ok)
	}
	v.Advance(MaxCounter + 1)
	for c := range uint32(20) {
		if _, _, ok := v.Match(Encode(&testKeys, c, 22)); ok {
			t.Fatalf("counter %d accepted after the counter was exhausted", c)
		}
	}
	if _, err := NewVerifier(&testKeys, MaxCounter+2, 20); err == nil {
		t.Fatal("NewVerifier accepted a counter past 2^32")
	}
}

func TestWindowBounds(t *testing.T) {
	for _, w := range []int{0, -1, MaxWindow + 1} {
		if _, err := NewVerifier(&testKeys, 0, w); err == nil {
			t.Errorf("window %d accepted", w)
		}
	}
}

func TestWrongKeysRejected(t *testing.T) {
	other := testKeys
	other.MAC[0] ^= 1
	v, err := NewVerifier(&other, 0, 20)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := v.Match(Encode(&testKeys, 0, 22)); ok {
		t.Fatal("knock sealed with another MAC key accepted")
	}
}

func TestHMACPortMatchesCryptoHMAC(t *testing.T) {
	for _, port := range []uint16{0, 1, 22, 443, 0x8000, 65535} {
		mac := hmac.New(sha1.New, testKeys.MAC[:])
		mac.Write([]byte{byte(port >> 8), byte(port)})
		want := mac.Sum(nil)
		got := hmacPort(&testKeys.MAC, port)
		if !bytes.Equal(got[:], want) {
			t.Errorf("port %d: hmacPort = %x, crypto/hmac = %x", port, got, want)
		}
	}
}

// TestFilterFilledOnDemand checks the lazily filled filter: a new Verifier
// has computed no port's MAC byte, each byte it fills is the real one, and
// it accepts a valid knock for a port it has not seen yet.
func TestFilterFilledOnDemand(t *testing.T) {
	for _, newV := range []func(*Keys, uint64, int) (*Verifier, error){NewVerifier, NewVerifierV2} {
		v, err := newV(&testKeys, 0, 20)
		if err != nil {
			t.Fatal(err)
		}
		filled := func() int {
			n := 0
			for _, w := range v.known {
				n += bits.OnesCount64(w)
			}
			return n
		}
		if n := filled(); n != 0 {
			t.Fatalf("new verifier filled %d ports", n)
		}
		bind := Binding{KnockPort: 7000, Source: netip.MustParseAddr("198.51.100.7")}
		var raw [Size]byte
		for i := range 2000 {
			binary.BigEndian.PutUint32(raw[:], uint32(i)*2654435761)
			binary.BigEndian.PutUint64(raw[4:], uint64(i)*0x9e3779b97f4a7c15)
			if _, _, ok := v.MatchFrom(FieldsFromBytes(raw), bind); ok {
				t.Fatal("garbage accepted")
			}
		}
		if n := filled(); n == 0 || n > 2000*20 {
			t.Fatalf("%d ports filled after 2000 garbage knocks", n)
		}
		for p := range 1 << 16 {
			if v.known[p>>6]&(1<<(p&63)) != 0 && v.filter[p] != v.macPort(uint16(p))[0] {
				t.Fatalf("port %d: filter byte %#x, MAC byte %#x", p, v.filter[p], v.macPort(uint16(p))[0])
			}
		}
		k := Encode(&testKeys, 3, 2222)
		if v.v2 {
			if k, err = EncodeV2(&testKeys, 3, 2222, bind); err != nil {
				t.Fatal(err)
			}
		}
		if port, used, ok := v.MatchFrom(k, bind); !ok || port != 2222 || used != 3 {
			t.Fatalf("valid knock: port %d counter %d ok %v", port, used, ok)
		}
	}
}
