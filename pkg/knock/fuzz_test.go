package knock

import (
	"encoding/hex"
	"testing"
)

// FuzzMatch feeds arbitrary 12-byte knocks to a Verifier. Anything it
// accepts must re-encode to exactly the same bytes.
func FuzzMatch(f *testing.F) {
	for _, tt := range vectors {
		raw, _ := hex.DecodeString(tt.hex)
		f.Add(raw, uint32(0))
		f.Add(raw, tt.counter)
	}
	v, err := NewVerifier(&testKeys, 0, 20)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, start uint32) {
		if len(data) != Size {
			return
		}
		v.Advance(uint64(start)) // only ever moves forward
		fields := FieldsFromBytes([Size]byte(data))
		port, used, ok := v.Match(fields)
		if !ok {
			return
		}
		if used < uint32(v.Counter()) {
			t.Fatalf("matched counter %d below window start %d", used, v.Counter())
		}
		if again := Encode(&testKeys, used, port); again != fields {
			t.Fatalf("accepted %x as port %d counter %d, but that encodes to %+v", data, port, used, again)
		}
	})
}
