package knock

import (
	"crypto/rand"
	"net/netip"
	"testing"
)

func benchGarbage(b *testing.B, window int) {
	benchGarbageVersion(b, window, NewVerifier)
}

func benchGarbageVersion(b *testing.B, window int, newVerifier func(*Keys, uint64, int) (*Verifier, error)) {
	v, err := newVerifier(&testKeys, 1000, window)
	if err != nil {
		b.Fatal(err)
	}
	junk := make([]Fields, 1024)
	for i := range junk {
		var raw [Size]byte
		rand.Read(raw[:])
		junk[i] = FieldsFromBytes(raw)
	}
	bind := Binding{7000, netip.MustParseAddr("198.51.100.7")}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := v.MatchFrom(junk[i&1023], bind); ok {
			b.Fatal("random bytes accepted")
		}
	}
}

func BenchmarkVerifyGarbageWindow20(b *testing.B)   { benchGarbage(b, 20) }
func BenchmarkVerifyGarbageWindow1000(b *testing.B) { benchGarbage(b, 1000) }

// BenchmarkVerifyV2GarbageWindow20 is the limit: at most 300 ns.
func BenchmarkVerifyV2GarbageWindow20(b *testing.B) {
	benchGarbageVersion(b, 20, NewVerifierV2)
}

// BenchmarkVerifyValid includes moving the window past the used counter in
// memory (one AES), but no disk write.
func BenchmarkVerifyValid(b *testing.B) {
	const n = 4096
	v, err := NewVerifier(&testKeys, 0, 20)
	if err != nil {
		b.Fatal(err)
	}
	knocks := make([]Fields, n)
	for i := range knocks {
		knocks[i] = Encode(&testKeys, uint32(i), 22)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%n == 0 && i > 0 {
			b.StopTimer()
			v, _ = NewVerifier(&testKeys, 0, 20)
			b.StartTimer()
		}
		_, used, ok := v.Match(knocks[i%n])
		if !ok {
			b.Fatalf("knock %d rejected", i%n)
		}
		v.Advance(uint64(used) + 1)
	}
}

func BenchmarkEncode(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Encode(&testKeys, uint32(i), 22)
	}
}

// BenchmarkNewVerifier is the cost of loading one profile's precomputed
// state. It reports that state's size.
func BenchmarkNewVerifier(b *testing.B) {
	for _, w := range []int{20, 1000} {
		b.Run(map[int]string{20: "window20", 1000: "window1000"}[w], func(b *testing.B) {
			var v *Verifier
			for b.Loop() {
				v, _ = NewVerifier(&testKeys, 0, w)
			}
			b.ReportMetric(float64(v.StateSize())/1024, "KiB/profile")
		})
	}
}
