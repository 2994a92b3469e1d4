package nstest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestUnderCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "false": false, "0": false, "true": true, "1": true, "yes": true} {
		t.Setenv("CI", v)
		if got := UnderCI(); got != want {
			t.Errorf("CI=%q: UnderCI() = %v, want %v", v, got, want)
		}
	}
}

// TestRequireRootFailsUnderCI runs RequireRoot in a child test as nobody:
// with CI=1 it must fail, not skip; without CI it must skip.
func TestRequireRootFailsUnderCI(t *testing.T) {
	if os.Getenv("KK_NSTEST_CHILD") == "1" {
		RequireRoot(t)
		return
	}
	RequireRoot(t) // to run the child as nobody
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(self, 0o755)
	for _, tc := range []struct {
		ci, want string
		fails    bool
	}{
		{"1", "NOT RUN under CI=1", true},
		{"true", "NOT RUN under CI=true", true},
		{"0", "SKIPPED: ROOT TEST", false},
		{"", "SKIPPED: ROOT TEST", false},
	} {
		cmd := exec.Command("setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", self, "-test.run=^TestRequireRootFailsUnderCI$", "-test.v")
		cmd.Env = append(os.Environ(), "KK_NSTEST_CHILD=1", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if (err != nil) != tc.fails || !strings.Contains(string(out), tc.want) {
			t.Errorf("CI=%q: exit %v, want failure %v and %q in:\n%s", tc.ci, err, tc.fails, tc.want, out)
		}
	}
}
