package knock

import (
	"bufio"
	"encoding/hex"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
)

type v2Vector struct {
	name    string
	counter uint32
	port    uint16
	bind    Binding
	fields  Fields
}

// readV2Vectors reads the vectors testdata/v2vectors/make_vectors.py
// computed with Python's hmac and openssl, not Go.
func readV2Vectors(t *testing.T) []v2Vector {
	t.Helper()
	f, err := os.Open("../../testdata/v2vectors/vectors.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var vs []v2Vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		w := strings.Fields(sc.Text())
		if len(w) != 6 {
			t.Fatalf("bad vector line %q", sc.Text())
		}
		c, err1 := strconv.ParseUint(w[1], 10, 32)
		p, err2 := strconv.ParseUint(w[2], 10, 16)
		kp, err3 := strconv.ParseUint(w[3], 10, 16)
		src, err4 := netip.ParseAddr(w[4])
		raw, err5 := hex.DecodeString(w[5])
		for _, err := range []error{err1, err2, err3, err4, err5} {
			if err != nil {
				t.Fatalf("vector %s: %v", w[0], err)
			}
		}
		vs = append(vs, v2Vector{w[0], uint32(c), uint16(p),
			Binding{uint16(kp), src}, FieldsFromBytes([Size]byte(raw))})
	}
	if len(vs) == 0 {
		t.Fatal("no vectors")
	}
	return vs
}

func TestEncodeV2Vectors(t *testing.T) {
	for _, tt := range readV2Vectors(t) {
		t.Run(tt.name, func(t *testing.T) {
			got, err := EncodeV2(&testKeys, tt.counter, tt.port, tt.bind)
			if err != nil || got != tt.fields {
				t.Errorf("EncodeV2 = %+v, %v; want %+v", got, err, tt.fields)
			}
		})
	}
}

// TestVerifyV2Vectors checks that each vector is accepted as it is, and
// refused if any one thing it is bound to differs.
func TestVerifyV2Vectors(t *testing.T) {
	for _, tt := range readV2Vectors(t) {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifierV2(&testKeys, uint64(tt.counter), 20)
			if err != nil {
				t.Fatal(err)
			}
			port, used, ok := v.MatchFrom(tt.fields, tt.bind)
			if !ok || port != tt.port || used != tt.counter {
				t.Fatalf("MatchFrom = (%d, %d, %v), want (%d, %d, true)", port, used, ok, tt.port, tt.counter)
			}
			if _, _, ok := v.Match(tt.fields); ok {
				t.Error("a v2 knock matched without its binding")
			}
			for name, b := range otherBindings(tt.bind) {
				if _, _, ok := v.MatchFrom(tt.fields, b); ok {
					t.Errorf("accepted from %s: %+v", name, b)
				}
			}
		})
	}
}

// otherBindings returns bindings that differ from b in one respect each.
func otherBindings(b Binding) map[string]Binding {
	a := b.Source.Unmap()
	other := map[string]Binding{
		"another knock port": {b.KnockPort ^ 1, b.Source},
		"no source":          {b.KnockPort, netip.Addr{}},
	}
	if a.Is4() {
		a4 := a.As4()
		a4[3] ^= 1
		other["another address"] = Binding{b.KnockPort, netip.AddrFrom4(a4)}
		return other
	}
	a16 := a.As16()
	a16[7] ^= 1 // last byte of the /64
	other["another /64"] = Binding{b.KnockPort, netip.AddrFrom16(a16)}
	return other
}

func TestVerifyV2SameSlash64(t *testing.T) {
	src := netip.MustParseAddr("2001:db8:1:2:aaaa:bbbb:cccc:dddd")
	f, err := EncodeV2(&testKeys, 5, 22, Binding{7000, src})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifierV2(&testKeys, 0, 20)
	if _, _, ok := v.MatchFrom(f, Binding{7000, netip.MustParseAddr("2001:db8:1:2::99")}); !ok {
		t.Error("refused from another host of the same /64")
	}
}

// TestVerifyV2Refuses changes the counter and the port of a knock: the
// keystream of another counter, or a flipped port, must not verify.
func TestVerifyV2Refuses(t *testing.T) {
	b := Binding{7000, netip.MustParseAddr("198.51.100.7")}
	f, _ := EncodeV2(&testKeys, 10, 22, b)
	v, _ := NewVerifierV2(&testKeys, 11, 20)
	if _, _, ok := v.MatchFrom(f, b); ok {
		t.Error("accepted below the window (used counter)")
	}
	// The same plaintext sealed with counter 11's keystream: counter is in
	// the MAC, so a knock cannot be re-encrypted for another counter.
	var ks10, ks11 [16]byte
	keystream(newBlock(&testKeys), 10, &ks10)
	keystream(newBlock(&testKeys), 11, &ks11)
	raw := f.Bytes()
	for i := range raw {
		raw[i] ^= ks10[i] ^ ks11[i]
	}
	if _, _, ok := v.MatchFrom(FieldsFromBytes(raw), b); ok {
		t.Error("accepted re-encrypted for another counter")
	}
	v, _ = NewVerifierV2(&testKeys, 10, 20)
	raw = f.Bytes()
	raw[1] ^= 1 // port 22 -> 23
	if _, _, ok := v.MatchFrom(FieldsFromBytes(raw), b); ok {
		t.Error("accepted with another port")
	}
	if _, _, ok := v.MatchFrom(f, b); !ok {
		t.Error("refused the knock itself")
	}
	v1, _ := NewVerifier(&testKeys, 10, 20)
	if _, _, ok := v1.MatchFrom(f, b); ok {
		t.Error("a v1 verifier accepted a v2 knock")
	}
}

func TestEncodeV2NoSource(t *testing.T) {
	if _, err := EncodeV2(&testKeys, 0, 22, Binding{KnockPort: 7000}); err != ErrNoSource {
		t.Errorf("EncodeV2 without a source: err = %v, want ErrNoSource", err)
	}
}
