package check

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/internal/nstest"
)

// fakeInfo is an fs.FileInfo with a given mode and owner.
type fakeInfo struct {
	mode     fs.FileMode
	uid, gid uint32
}

func (f fakeInfo) Name() string       { return "f" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.mode.IsDir() }
func (f fakeInfo) Sys() any           { return &syscall.Stat_t{Uid: f.uid, Gid: f.gid} }

func TestMay(t *testing.T) {
	mon := &identity{name: "kkmon", uid: 999, gid: 999, gids: []uint32{999, 4}}
	tests := []struct {
		name string
		id   *identity
		fi   fakeInfo
		perm uint32
		want bool
	}{
		{"owner reads 0600", mon, fakeInfo{0o600, 999, 999}, permRead, true},
		{"owner writes 0400", mon, fakeInfo{0o400, 999, 999}, permWrite, false},
		{"owner bits decide for the owner", mon, fakeInfo{0o066, 999, 999}, permRead, false},
		{"group adm reads 0640 root:adm", mon, fakeInfo{0o640, 0, 4}, permRead, true},
		{"group adm cannot write 0640", mon, fakeInfo{0o640, 0, 4}, permWrite, false},
		{"not in group: other bits", mon, fakeInfo{0o640, 0, 104}, permRead, false},
		{"other reads 0644", mon, fakeInfo{0o644, 0, 104}, permRead, true},
		{"connect needs write: 0660 root:kkmon", mon, fakeInfo{fs.ModeSocket | 0o660, 0, 999}, permWrite, true},
		{"connect refused: 0600 root:root", mon, fakeInfo{fs.ModeSocket | 0o600, 0, 0}, permWrite, false},
		{"search 0750 root:kkmon", mon, fakeInfo{fs.ModeDir | 0o750, 0, 999}, permExec, true},
		{"no search 0750 root:root", mon, fakeInfo{fs.ModeDir | 0o750, 0, 0}, permExec, false},
		{"read and write both needed", mon, fakeInfo{fs.ModeDir | 0o500, 999, 999}, permRead | permWrite | permExec, false},
		{"root reads 0000", &identity{name: "root"}, fakeInfo{0, 999, 999}, permRead | permWrite, true},
	}
	for _, tt := range tests {
		if got := tt.id.may(tt.fi, tt.perm); got != tt.want {
			t.Errorf("%s: may = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestBlockedDir(t *testing.T) {
	top := t.TempDir()
	closed := filepath.Join(top, "closed")
	inner := filepath.Join(closed, "open")
	if err := os.MkdirAll(inner, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{top, filepath.Dir(top), inner} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	stranger := &identity{name: "stranger", uid: 4242, gid: 4242, gids: []uint32{4242}}
	d, fi := stranger.blockedDir(filepath.Join(inner, "kern.log"))
	if d != closed || fi == nil {
		t.Errorf("blockedDir = %q, want %q (mode 0700, not the stranger's)", d, closed)
	}
	if d, _ := stranger.blockedDir(filepath.Join(top, "kern.log")); d != "" {
		t.Errorf("blockedDir of a file in an open directory = %q, want none", d)
	}
}

// TestDoTakesTheIdentity runs a function as nobody from a root process: it
// has nobody's ids and groups and no capabilities, and the rest of the
// process keeps root.
func TestDoTakesTheIdentity(t *testing.T) {
	nstest.RequireRoot(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	nobody := &identity{name: "nobody", uid: 65534, gid: 65534, gids: []uint32{65534, 65533}}
	var euid, egid int
	var groups []int
	var openErr error
	err := nobody.do(func() (err error) {
		euid, egid = unix.Geteuid(), unix.Getegid()
		groups, err = unix.Getgroups()
		_, openErr = os.ReadFile(secret)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(groups) // the kernel sorts them anyway
	if euid != 65534 || egid != 65534 || !slices.Equal(groups, []int{65533, 65534}) {
		t.Errorf("inside: euid %d egid %d groups %v, want 65534 65534 [65533 65534]", euid, egid, groups)
	}
	if !errors.Is(openErr, fs.ErrPermission) {
		t.Errorf("nobody read a root 0600 file: %v (capabilities kept?)", openErr)
	}
	if os.Geteuid() != 0 || unix.Geteuid() != 0 {
		t.Errorf("the test goroutine lost root: euid %d", unix.Geteuid())
	}
	if _, err := os.ReadFile(secret); err != nil {
		t.Errorf("root can no longer read its file: %v", err)
	}
}

func TestLookupIdentity(t *testing.T) {
	id, err := lookupIdentity("root", []string{"no-such-group-kk", "root"})
	if err != nil {
		t.Skipf("no root user in this user database: %v", err)
	}
	if id.uid != 0 || id.gid != 0 || id.primaryGroup() != "root" || slices.Contains(id.groups, "no-such-group-kk") ||
		len(id.gids) != len(slices.Compact(slices.Sorted(slices.Values(id.gids)))) {
		t.Errorf("lookupIdentity(root) = %+v", id)
	}
	if _, err := lookupIdentity("no-such-user-kk", nil); err == nil {
		t.Error("a missing user was found")
	}
}
