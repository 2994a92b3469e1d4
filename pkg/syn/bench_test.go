package syn

import (
	"context"
	"net/netip"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/profile"
)

// inFreshNetns runs fn on a thread inside a new namespace, so raw packets go
// only to that namespace's loopback.
func inFreshNetns(b *testing.B, fn func() error) {
	if err := nstest.New(b, "bsyn").Do(fn); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRawSend measures writing one built knock to a raw socket.
func BenchmarkRawSend(b *testing.B) {
	inFreshNetns(b, func() error {
		raw, err := OpenRaw()
		if err != nil {
			return err
		}
		defer raw.Close()
		lo := netip.MustParseAddr("127.0.0.1")
		p := Packet{Src: lo, Dst: lo, SrcPort: EphemeralPort(), DstPort: 9}
		pkt, err := p.Append(nil)
		if err != nil {
			return err
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := raw.Send(pkt, lo); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkKnock measures a whole knock as the CLI makes it: load the
// profile, resolve, open the raw socket, take and durably store the next
// counter, build and send.
func BenchmarkKnock(b *testing.B) {
	p, err := profile.GenerateForGroup(b.TempDir(), "bench", 9, -1) // a client copy: 0600
	if err != nil {
		b.Fatal(err)
	}
	inFreshNetns(b, func() error {
		k := &Knocker{}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if err := k.Knock(context.Background(), "127.0.0.1", p.Dir, 22); err != nil {
				return err
			}
		}
		return nil
	})
}
