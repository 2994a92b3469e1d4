package syn

import (
	"context"
	"net/netip"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
	"github.com/kk-project/kk/pkg/knock"
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

// BenchmarkKnockPhase splits a knock's pre-send path into its phases, as
// kk-client runs them after the Go runtime has started (make bench prints
// the runtime's start and the whole path end to end): load the profile,
// resolve the literal address, open the raw socket, find the source address,
// take the counter (durably stored before the send, the old way, or from
// the reservation), and send.
func BenchmarkKnockPhase(b *testing.B) {
	p, err := profile.GenerateForGroup(b.TempDir(), "bench", 9, -1) // a client copy: 0600
	if err != nil {
		b.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	b.Run("load-profile", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := LoadProfile(p.Dir, "127.0.0.1"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("resolve-literal", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := Resolve(context.Background(), nil, "127.0.0.1", ""); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("source-address", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := SourceFor(lo); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("counter-durable-each-knock", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, _, err := p.NextKnock(22); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Only the part before the send is timed: the next block's reservation
	// after every ReserveBlock-th send is off the knock's path.
	b.Run("counter-reserved-before-send", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := p.SendKnock(22, knock.Binding{}, func(knock.Fields) error { b.StopTimer(); return nil }); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
	})
	b.Run("raw-socket-open-send", func(b *testing.B) {
		inFreshNetns(b, func() error {
			pkt, err := (&Packet{Src: lo, Dst: lo, SrcPort: EphemeralPort(), DstPort: 9}).Append(nil)
			if err != nil {
				return err
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				raw, err := OpenRaw()
				if err != nil {
					return err
				}
				err = raw.Send(pkt, lo)
				raw.Close()
				if err != nil {
					return err
				}
			}
			return nil
		})
	})
}
