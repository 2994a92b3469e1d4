package profile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/kk-project/kk/internal/nstest"
)

// testGroup is the group the tests let read new profiles: one that is not
// root's, so a chown that went astray shows.
const testGroup = 4242

func TestGenerateForGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "giving a profile to another group needs root")
	}
	dir := filepath.Join(t.TempDir(), "profiles")
	p, err := GenerateForGroup(dir, "clement-laptop", 666, testGroup)
	if err != nil {
		t.Fatal(err)
	}
	check := func(path string, mode os.FileMode) {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != mode || st.Uid != 0 || st.Gid != testGroup {
			t.Errorf("%s: %04o %d:%d, want %04o 0:%d", path, fi.Mode().Perm(), st.Uid, st.Gid, mode, testGroup)
		}
	}
	check(p.Dir, 0o750)
	for _, f := range Files {
		check(filepath.Join(p.Dir, f), 0o640)
	}
}

// TestGenerateRace runs genprofile as root 200 times while a racer keeps
// swapping the new profile's directory and files for symlinks to a
// root-owned canary. Root must never write, chown or chmod the canary.
// The old genprofile chowned by path after the fact and was beaten in 6 of
// 20 runs.
func TestGenerateRace(t *testing.T) {
	if os.Geteuid() != 0 {
		nstest.Unavailable(t, "the race is root's: run the tests as root")
	}
	canaryDir := t.TempDir()
	canary := filepath.Join(canaryDir, "shadow")
	if err := os.WriteFile(canary, []byte(canarySecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(canaryDir, 0o700); err != nil {
		t.Fatal(err)
	}
	profiles := filepath.Join(t.TempDir(), "profiles")
	if err := os.Mkdir(profiles, 0o750); err != nil {
		t.Fatal(err)
	}
	var current atomic.Pointer[string]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		race(stop, profiles, &current, canary, canaryDir)
	}()
	failed := 0
	for i := range 200 {
		name := fmt.Sprintf("p%03d", i)
		current.Store(&name)
		if _, err := GenerateForGroup(profiles, name, 1000+i, testGroup); err != nil {
			failed++
		}
	}
	close(stop)
	wg.Wait()
	t.Logf("the racer made %d of 200 runs fail", failed)
	for _, path := range []string{canary, canaryDir} {
		fi, err := os.Lstat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 0 || st.Gid != 0 || (path == canary && fi.Mode().Perm() != 0o600) || (path == canaryDir && fi.Mode().Perm() != 0o700) {
			t.Errorf("%s is now %04o %d:%d", path, fi.Mode().Perm(), st.Uid, st.Gid)
		}
	}
	// The racer's own symlinks may land there through a swapped directory;
	// a regular file can only be genprofile's.
	entries, _ := os.ReadDir(canaryDir)
	for _, e := range entries {
		if e.Name() != "shadow" && e.Type().IsRegular() {
			t.Errorf("genprofile created %s in the canary's directory", e.Name())
		}
	}
	if data, _ := os.ReadFile(canary); string(data) != canarySecret+"\n" {
		t.Errorf("the canary was written: %q", data)
	}
}

// race replaces the files and the directory of the profile being created
// in profiles with symlinks to the canary until stop is closed.
func race(stop chan struct{}, profiles string, current *atomic.Pointer[string], canary, canaryDir string) {
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		name := current.Load()
		if name == nil {
			continue
		}
		dir := filepath.Join(profiles, *name)
		if n%8 == 0 {
			// The directory itself: moved aside, a symlink in its place.
			if os.Rename(dir, dir+".moved") == nil {
				os.Symlink(canaryDir, dir)
			}
			continue
		}
		for _, f := range Files {
			path := filepath.Join(dir, f)
			os.Remove(path)
			os.Symlink(canary, path)
		}
	}
}
