// Package profile reads and writes knockknock profiles: a directory holding
// two keys, a counter and the knock port, in exactly the files the original
// knockknock writes, so a profile copied from an original install works
// unchanged.
//
//	cipher.key  16 random bytes, base64, newline
//	mac.key     16 random bytes, base64, newline
//	counter     the next unused counter, decimal, newline
//	config      INI: [main] knock_port = N
//
// The counter is shared by every process using the profile (a client and a
// proxy, or a monitor), so it is only changed under an exclusive flock on the
// profile directory, and written crash-safely.
package profile

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/kk-project/kk/pkg/ini"
	"github.com/kk-project/kk/pkg/knock"
)

// The files of a profile.
const (
	CipherKeyFile = "cipher.key"
	MACKeyFile    = "mac.key"
	CounterFile   = "counter"
	ConfigFile    = "config"
)

// Files lists every file a complete profile holds.
var Files = []string{CipherKeyFile, MACKeyFile, CounterFile, ConfigFile}

// ErrCorrupt marks a profile file whose contents are damaged. Such a file is
// never silently replaced.
var ErrCorrupt = errors.New("corrupt profile file")

// A Profile is one loaded profile. Its fields are read-only after Load; the
// counter lives on disk and is reached through the methods, which are safe
// for concurrent use by several goroutines and processes.
type Profile struct {
	Name      string // the directory's base name
	Dir       string
	KnockPort uint16
	Keys      knock.Keys
}

// Load reads the profile in dir. Every error names the file at fault; a
// missing file wraps fs.ErrNotExist, a damaged one wraps ErrCorrupt.
func Load(dir string) (*Profile, error) {
	p := &Profile{Name: filepath.Base(dir), Dir: dir}
	var err error
	if p.Keys.Cipher, err = readKey(p.path(CipherKeyFile)); err != nil {
		return nil, err
	}
	if p.Keys.MAC, err = readKey(p.path(MACKeyFile)); err != nil {
		return nil, err
	}
	if p.KnockPort, err = ReadKnockPort(dir); err != nil {
		return nil, err
	}
	if _, err := readCounter(p.path(CounterFile)); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Profile) path(name string) string { return filepath.Join(p.Dir, name) }

func readKey(path string) ([16]byte, error) {
	var key [16]byte
	data, err := os.ReadFile(path)
	if err != nil {
		return key, fmt.Errorf("reading key: %w", err)
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return key, fmt.Errorf("%s: %w: empty, want 16 bytes in base64", path, ErrCorrupt)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return key, fmt.Errorf("%s: %w: not valid base64", path, ErrCorrupt)
	}
	if len(raw) != len(key) {
		return key, fmt.Errorf("%s: %w: key is %d bytes, want 16", path, ErrCorrupt, len(raw))
	}
	copy(key[:], raw)
	return key, nil
}

// ReadKnockPort reads the knock port from the config file of the profile in
// dir.
func ReadKnockPort(dir string) (uint16, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading profile config: %w", err)
	}
	f, err := ini.Parse(path, data)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	v, ok := f.Get("main", "knock_port")
	if !ok {
		return 0, fmt.Errorf("%s: %w: no knock_port in [main]", path, ErrCorrupt)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s: %w: knock_port = %q, want 1-65535", path, ErrCorrupt, v)
	}
	return uint16(n), nil
}

// LoadAll loads every profile directory in profilesDir, sorted by name. A
// profile that fails to load is left out with an error naming its file. Two
// or more profiles sharing a knock port are all left out, with an error
// naming them, since a knock could not be told apart.
func LoadAll(profilesDir string) ([]*Profile, []error) {
	entries, err := os.ReadDir(profilesDir)
	if err != nil {
		return nil, []error{fmt.Errorf("reading profiles directory: %w", err)}
	}
	var loaded []*Profile
	var errs []error
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p, err := Load(filepath.Join(profilesDir, e.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("profile %s skipped: %w", e.Name(), err))
			continue
		}
		loaded = append(loaded, p)
	}
	byPort := map[uint16][]string{}
	for _, p := range loaded {
		byPort[p.KnockPort] = append(byPort[p.KnockPort], p.Name)
	}
	var served []*Profile
	for _, p := range loaded {
		if names := byPort[p.KnockPort]; len(names) > 1 {
			if names[0] == p.Name {
				errs = append(errs, fmt.Errorf("profiles %s share knock port %d; none of them is served until each has its own port",
					strings.Join(names, ", "), p.KnockPort))
			}
			continue
		}
		served = append(served, p)
	}
	sort.Slice(served, func(i, j int) bool { return served[i].Name < served[j].Name })
	return served, errs
}
