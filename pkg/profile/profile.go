// Package profile reads and writes knockknock profiles: a directory holding
// two keys, a counter and the knock port, in exactly the files the original
// knockknock writes, so a profile copied from an original install works
// unchanged.
//
//	cipher.key  16 random bytes, base64, newline
//	mac.key     16 random bytes, base64, newline
//	counter     the next unused counter, decimal, newline
//	config      INI: [main] knock_port = N, and optionally allowed_ports = 22, 443
//	            and version = 2
//
// The counter is shared by every process using the profile (a client and a
// proxy, or a monitor), so it is only changed under an exclusive flock on the
// directory holding it, and written crash-safely (temporary file, fsync,
// rename, directory fsync). It never moves back and never wraps.
//
// On a client (Load) everything lives in ~/.knockknock/<host>/, the user's
// alone: every file must be owned by the user and not open to group or
// others (chmod 600).
//
// On a server (LoadServer, LoadAll) the profile directory is root's and
// read-only to kk-monitor: directory 0750, files 0640, root:knockknock, as
// Generate writes them. kk-monitor writes only its state counter,
// <stateDir>/<name>/counter (stateDir is /var/lib/knockknock, systemd's
// StateDirectory=), and locks <stateDir>/<name>. The profile's own counter
// file is the seed: the first time kk-monitor loads a profile with no state
// counter (a new profile, or one copied from an original install) it reads
// the seed, read-only, and creates the state counter from it (TakeOver).
// From then on only the state counter counts, and kk-monitor never writes
// the profile directory. An accepted knock's counter is stored first in
// <stateDir>/<name>/counter.rec, a two-slot record overwritten in place
// and fdatasync'd (one sync instead of the rename's two; see RecordFile for
// why that is as crash-safe), and the state counter file follows it after
// the opening; readers take the larger of the two. Keys must not be readable by others, nor by a
// group other than kk-monitor's; no file may be writable by group or others
// or owned by anyone but root or kk-monitor's user.
//
// # The client's counter reservation
//
// A client must have a counter on disk before its knock leaves, but an fsync
// in front of every send costs milliseconds, and far more when the disk is
// busy. So the client's counter file holds a high-water mark H, made durable
// ahead of use: every counter ever sent is below the H on disk, and counters
// below H are handed out one by one from ReserveFile, a record that is
// written but never synced (SendKnock). The counter file keeps the original's
// meaning and format, "the next counter", so the original client, or a copy
// of the profile, reading H never reuses a counter.
//
// Why no counter is sent twice:
//
//   - Durable before the send: a counter c is sent only when c < H, and H
//     was fsync'd (temporary file, fsync, rename, directory fsync) before c
//     was taken; when the reservation is used up, the next block of
//     ReserveBlock counters is reserved after the send, under the lock, so
//     no counter at or past the old H goes out before the new H is on disk.
//   - A killed process: the record is written (one write of a fixed-length,
//     checksummed line) before the send, and the page cache outlives the
//     process, so the next client continues after every counter sent. A
//     torn or damaged record fails its checksum and is not trusted.
//   - An OS crash or power cut may lose the record's last writes, leaving it
//     behind counters already sent. The record names the boot it was
//     written on (Linux's /proc/sys/kernel/random/boot_id), and on another
//     boot it is not trusted: the client starts at H, skipping at most
//     ReserveBlock unused counters, well inside the server's window.
//   - Another writer (the original client, an editor, a restored copy): the
//     record names the counter file's value, inode and ctime, and is not
//     trusted once any of them changes; the client then starts at the file's
//     value, as the original would.
//   - Two clients at once: everything from reading the record to reserving
//     the next block happens under the profile's exclusive flock.
//
// Where there is no boot ID (not Linux), or on a server profile, every
// knock stores counter+1 durably before its send, as NextKnockFor does. A
// disk that drops a written page while the machine stays up (a failed
// writeback, then the page evicted and read back stale) is outside what the
// record survives.
//
// Every file is opened without following a symlink or blocking (a FIFO),
// must be a regular file, and is read through a MaxFileSize cap. Errors name
// the file and what is wrong with it, never its content.
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
	"sync"
	"sync/atomic"

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
	// AllowedPorts are the only ports a knock may ask for, sorted; nil
	// means any. Only a server profile reads them (allowed_ports).
	AllowedPorts []uint16
	// Version is the knock format, 1 or 2 (config key version).
	Version int

	counterDir string // holds the counter and is locked; "" means Dir
	seed       string // a server's own counter file, read when counterDir has none
	pol        policy
}

// Load reads the client profile in dir, where the counter lives too. Every
// error names the file at fault; a missing file wraps fs.ErrNotExist, a
// damaged one ErrCorrupt, a refused one (symlink, FIFO, too long, open to
// others) ErrUnsafe.
func Load(dir string) (*Profile, error) {
	return load(&Profile{Name: filepath.Base(dir), Dir: dir, pol: private})
}

// LoadServer reads the server profile in dir, whose counter is
// stateDir/<name>/counter or, until TakeOver creates that, the profile's own
// counter file. Errors are as Load's.
func LoadServer(dir, stateDir string) (*Profile, error) {
	name := filepath.Base(dir)
	p, err := load(&Profile{Name: name, Dir: dir, pol: shared,
		counterDir: filepath.Join(stateDir, name), seed: filepath.Join(dir, CounterFile)})
	if err != nil {
		return nil, err
	}
	return p, nil
}

func load(p *Profile) (*Profile, error) {
	var err error
	if p.Keys.Cipher, err = readKey(p.path(CipherKeyFile), p.pol); err != nil {
		return nil, err
	}
	if p.Keys.MAC, err = readKey(p.path(MACKeyFile), p.pol); err != nil {
		return nil, err
	}
	// The config file once, for the knock port, the version and, on a
	// server, allowed_ports.
	path, cfg, err := readConfig(p.Dir, p.pol)
	if err != nil {
		return nil, err
	}
	if p.KnockPort, err = knockPortOf(path, cfg); err != nil {
		return nil, err
	}
	if p.Version, err = versionOf(path, cfg); err != nil {
		return nil, err
	}
	if p.counterDir != "" {
		if p.AllowedPorts, err = allowedPortsOf(path, cfg); err != nil {
			return nil, err
		}
	}
	if _, err := p.counter(false); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Profile) path(name string) string { return filepath.Join(p.Dir, name) }

func readKey(path string, pol policy) ([16]byte, error) {
	var key [16]byte
	data, err := readFile(path, pol, true)
	if err != nil {
		return key, err
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

// ReadKnockPort reads the knock port from the config file of the server
// profile in dir. It reads nothing else: the firewall's port scan needs no
// key or counter.
func ReadKnockPort(dir string) (uint16, error) {
	return readKnockPort(dir, shared)
}

func readKnockPort(dir string, pol policy) (uint16, error) {
	path, f, err := readConfig(dir, pol)
	if err != nil {
		return 0, err
	}
	return knockPortOf(path, f)
}

// readConfig reads and parses the config file of the profile in dir.
func readConfig(dir string, pol policy) (string, ini.File, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := readFile(path, pol, false)
	if err != nil {
		return path, nil, err
	}
	f, err := ini.Parse(path, data)
	if err != nil {
		return path, nil, fmt.Errorf("%s: %w: not an INI file with [main] knock_port = N", path, ErrCorrupt)
	}
	return path, f, nil
}

// knockPortOf returns the knock port of the profile config f, read from
// path.
func knockPortOf(path string, f ini.File) (uint16, error) {
	v, ok := f.Get("main", "knock_port")
	if !ok {
		return 0, fmt.Errorf("%s: %w: no knock_port in [main]", path, ErrCorrupt)
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s: %w: knock_port is not a number from 1 to 65535", path, ErrCorrupt)
	}
	return uint16(n), nil
}

// LoadAll loads every server profile directory in profilesDir, sorted by
// name, with its counter in stateDir (see LoadServer). A profile that fails
// to load is left out with an error naming its file. Two or more profiles
// sharing a knock port are all left out, with an error naming them, since a
// knock could not be told apart. Every load runs on the calling goroutine,
// so a thread that took another identity for itself (kk-monitor check reads
// the profiles as the monitor's user) reads them all as that identity.
func LoadAll(profilesDir, stateDir string) ([]*Profile, []error) {
	return loadAll(profilesDir, stateDir, false)
}

// LoadAllParallel is LoadAll with LoadWorkers profiles loaded at a time, on
// goroutines of their own, so only for a caller whose credentials are the
// whole process's, as kk-monitor's are.
func LoadAllParallel(profilesDir, stateDir string) ([]*Profile, []error) {
	return loadAll(profilesDir, stateDir, true)
}

func loadAll(profilesDir, stateDir string, parallel bool) ([]*Profile, []error) {
	names, err := profileNames(profilesDir)
	if err != nil {
		return nil, []error{err}
	}
	all := make([]*Profile, len(names))
	failed := make([]error, len(names))
	load := func(i int) { all[i], failed[i] = LoadServer(filepath.Join(profilesDir, names[i]), stateDir) }
	if parallel {
		Parallel(len(names), LoadWorkers, load)
	} else {
		for i := range names {
			load(i)
		}
	}
	var loaded []*Profile
	var errs []error
	ports := map[string]uint16{}
	for i, p := range all {
		if err := failed[i]; err != nil {
			errs = append(errs, fmt.Errorf("profile %s skipped: %w", names[i], err))
			continue
		}
		loaded = append(loaded, p)
		ports[p.Name] = p.KnockPort
	}
	keep, clash := unshared(ports)
	var served []*Profile
	for _, p := range loaded {
		if keep[p.Name] {
			served = append(served, p)
		}
	}
	return served, append(errs, clash...)
}

// LoadWorkers is how many profiles LoadAllParallel loads at once. Loading
// one is a dozen small files, each an open, a read and a close, so the time
// goes to system calls, which a few goroutines overlap even on two cores:
// 100 profiles took 30 ms one at a time.
const LoadWorkers = 4

// Parallel calls f(0) … f(n-1), workers at a time, and returns when all
// have returned. f must be safe to run concurrently for distinct i, and
// runs on other threads than the caller's: never under an identity that a
// thread took for itself.
func Parallel(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range min(n, workers) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// KnockPorts returns the sorted knock ports of the profiles in profilesDir,
// reading only each profile's config file, never a key or a counter. A
// profile whose config fails to load, or that shares its port, is left out
// with an error, as in LoadAll.
func KnockPorts(profilesDir string) ([]uint16, []error) {
	names, err := profileNames(profilesDir)
	if err != nil {
		return nil, []error{err}
	}
	var errs []error
	ports := map[string]uint16{}
	for _, name := range names {
		port, err := ReadKnockPort(filepath.Join(profilesDir, name))
		if err != nil {
			errs = append(errs, fmt.Errorf("profile %s skipped: %w", name, err))
			continue
		}
		ports[name] = port
	}
	keep, clash := unshared(ports)
	var out []uint16
	for name, port := range ports {
		if keep[name] {
			out = append(out, port)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, append(errs, clash...)
}

// profileNames lists the profile directories in profilesDir, sorted. A
// symlink is not a profile directory.
func profileNames(profilesDir string) ([]string, error) {
	entries, err := os.ReadDir(profilesDir)
	if err != nil {
		return nil, fmt.Errorf("reading profiles directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// unshared reports which profiles have a knock port of their own, and an
// error for each port several profiles share.
func unshared(ports map[string]uint16) (keep map[string]bool, errs []error) {
	byPort := map[uint16][]string{}
	for name, port := range ports {
		byPort[port] = append(byPort[port], name)
	}
	keep = map[string]bool{}
	var shared []uint16
	for port, names := range byPort {
		if len(names) == 1 {
			keep[names[0]] = true
		} else {
			shared = append(shared, port)
		}
	}
	sort.Slice(shared, func(i, j int) bool { return shared[i] < shared[j] })
	for _, port := range shared {
		names := byPort[port]
		sort.Strings(names)
		errs = append(errs, fmt.Errorf("profiles %s share knock port %d; none of them is served until each has its own port",
			strings.Join(names, ", "), port))
	}
	return keep, errs
}
