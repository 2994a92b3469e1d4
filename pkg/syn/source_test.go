package syn

import (
	"net/netip"
	"testing"
)

// TestSourceForLoopback checks SourceFor on both families: the loopback
// addresses route from themselves.
func TestSourceForLoopback(t *testing.T) {
	for _, dst := range []string{"127.0.0.1", "::1"} {
		a := netip.MustParseAddr(dst)
		src, err := SourceFor(a)
		if err != nil {
			t.Fatalf("SourceFor(%s): %v", dst, err)
		}
		if src != a {
			t.Errorf("SourceFor(%s) = %s, want %s", dst, src, a)
		}
	}
}
