package sudo

import (
	"os"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

func TestInvoker(t *testing.T) {
	nstest.RequireRoot(t)
	for _, tc := range []struct {
		uid, gid string
		want     User
		ok       bool
	}{
		{"1000", "1000", User{1000, 1000}, true},
		{"65534", "100", User{65534, 100}, true},
		{"", "", User{}, false},        // not run with sudo
		{"0", "0", User{}, false},      // sudo by root: nobody to become
		{"1000", "", User{}, false},    // half set
		{"abc", "1000", User{}, false}, // garbage
		{"-5", "1000", User{}, false},
	} {
		t.Setenv("SUDO_UID", tc.uid)
		t.Setenv("SUDO_GID", tc.gid)
		if got, ok := Invoker(); got != tc.want || ok != tc.ok {
			t.Errorf("SUDO_UID=%q SUDO_GID=%q: Invoker() = %v, %v; want %v, %v", tc.uid, tc.gid, got, ok, tc.want, tc.ok)
		}
	}
}

// TestHome: the HOME sudo kept counts only if the user owns it; otherwise
// the user database is asked.
func TestHome(t *testing.T) {
	nstest.RequireRoot(t)
	own := t.TempDir()
	if err := os.Chown(own, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	u := User{UID: 65534, GID: 65534}
	t.Setenv("HOME", own)
	if h, err := u.Home(); err != nil || h != own {
		t.Errorf("HOME owned by the user: Home() = %q, %v; want %q", h, err, own)
	}
	t.Setenv("HOME", "/root")
	root := User{UID: 0}
	if h, err := root.Home(); err != nil || h != "/root" {
		t.Errorf("root's Home() = %q, %v; want /root", h, err)
	}
	if h, _ := u.Home(); h == "/root" {
		t.Errorf("Home() of uid 65534 with HOME=/root (root's) = %q, want the user database's home", h)
	}
	if !u.Owns(own) || u.Owns("/root") || u.Owns("/nonexistent/kk") {
		t.Errorf("Owns: %v %v %v, want true false false", u.Owns(own), u.Owns("/root"), u.Owns("/nonexistent/kk"))
	}
}
