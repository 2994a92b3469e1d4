package syn

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/kk-project/kk/pkg/profile"
)

// A ProfileError reports a profile directory that is missing or lacks a
// file. Its message names what is missing and the scp line that fetches it.
type ProfileError struct {
	Dir     string // the profile directory
	Host    string // the server the profile belongs to
	Missing string // the missing file or directory
	Err     error
}

func (e *ProfileError) Error() string {
	what := "profile file " + e.Missing + " is missing"
	if e.Missing == e.Dir {
		what = "profile directory " + e.Dir + " does not exist"
	}
	return fmt.Sprintf("%s; copy the profile from the server with:\n  %s", what, ScpHint(e.Host, e.Dir))
}

func (e *ProfileError) Unwrap() error { return e.Err }

// ScpHint returns the command that copies a profile for host into dir.
func ScpHint(host, dir string) string {
	return fmt.Sprintf("mkdir -p %s && scp root@%s:/etc/knockknock.d/profiles/<profileName>/* %s/ && chmod 600 %s/*",
		tildify(dir), host, tildify(strings.TrimSuffix(dir, "/")), tildify(strings.TrimSuffix(dir, "/")))
}

// tildify writes a path under the home directory the way the user types it.
func tildify(p string) string {
	home, err := os.UserHomeDir()
	if err != nil || home == "" || home == "/" {
		return p
	}
	if rel, err := filepath.Rel(home, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.Join("~", rel)
	}
	return p
}

// LoadProfile loads the client profile in dir. If the directory or a file
// in profile.Files is missing, the error is a *ProfileError naming it with
// the fix. The files are looked for only after a failed load, so a knock
// does not pay for the look.
func LoadProfile(dir, host string) (*profile.Profile, error) {
	p, err := profile.Load(dir)
	if err == nil {
		return p, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(dir); serr != nil {
			return nil, &ProfileError{Dir: dir, Host: host, Missing: dir, Err: serr}
		}
		for _, name := range profile.Files {
			path := filepath.Join(dir, name)
			if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
				return nil, &ProfileError{Dir: dir, Host: host, Missing: path, Err: serr}
			}
		}
	}
	return nil, fmt.Errorf("loading profile for %s: %w", host, err)
}
