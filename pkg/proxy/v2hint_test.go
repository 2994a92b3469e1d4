package proxy

import (
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/profile"
)

// TestV2Hint: when knocks with a v2 profile open nothing, the proxy's
// error names NAT and --nat-address; for a v1 profile it says nothing of it.
func TestV2Hint(t *testing.T) {
	dir := t.TempDir()
	v1, err := profile.GenerateVersion(dir, "v1host", 7001, -1, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := profile.GenerateVersion(dir, "v2host", 7002, -1, nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if h := v2Hint(v2.Dir); !strings.Contains(h, "NAT") || !strings.Contains(h, "--nat-address") {
		t.Errorf("v2 hint %q does not name NAT and --nat-address", h)
	}
	if h := v2Hint(v1.Dir); h != "" {
		t.Errorf("v1 hint %q, want none", h)
	}
}
