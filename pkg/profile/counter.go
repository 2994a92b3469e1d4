package profile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/pkg/knock"
)

// ErrReplay means a knock's counter was already used: the counter on disk
// has moved past it.
var ErrReplay = errors.New("knock counter already used (replay)")

// Counter returns the next unused counter as stored on disk: on a server,
// the state counter, or the profile's own counter file until TakeOver; on a
// client, the next counter of its reservation (see SendKnock), or the
// counter file's if it holds none it may trust.
func (p *Profile) Counter() (uint64, error) { return p.counter(true) }

// counter is Counter; without reserved, a client's reservation is not
// read, only its counter file, as Load checks it.
func (p *Profile) counter(reserved bool) (uint64, error) {
	if p.seed != "" {
		if _, err := os.Lstat(p.counterPath()); errors.Is(err, fs.ErrNotExist) {
			return readCounter(p.seed, p.pol) // not taken over: nothing to lock
		}
	}
	unlock, err := p.lock(unix.LOCK_SH)
	if err != nil {
		return 0, err
	}
	defer unlock()
	c, _, err := p.readCounter()
	if err != nil || !reserved {
		return c, err
	}
	return p.reservedNext(c)
}

// TakeOver creates a server profile's state counter from the profile's own
// counter file if there is none yet, and reports whether it did. The
// profile's counter file is only read.
func (p *Profile) TakeOver() (bool, error) {
	if p.seed == "" {
		return false, nil
	}
	took, _, err := p.TakeOverCounter()
	return took, err
}

// TakeOverCounter is TakeOver, and also returns the next unused counter it
// read under the profile's lock, as Counter would (on a client, Counter's
// alone): kk-monitor's start-up needs both, and each read of a counter is a
// lock and three files.
func (p *Profile) TakeOverCounter() (took bool, counter uint64, err error) {
	if p.seed == "" {
		c, err := p.Counter()
		return false, c, err
	}
	err = p.update(func(cur uint64) (uint64, error) { counter = cur; return cur, nil }, &took, false)
	return took, counter, err
}

// UpdateCounter runs fn on the stored counter while holding an exclusive
// lock on the profile, and stores fn's result before returning. The counter
// never moves backwards: a result below the stored value is an error. If fn
// fails, nothing is written. On a server the result goes to the state
// counter, never to the profile directory.
func (p *Profile) UpdateCounter(fn func(cur uint64) (next uint64, err error)) error {
	return p.update(fn, nil, false)
}

// update is UpdateCounter; if took is not nil, a counter read from the seed
// is written to the state counter even if fn leaves it unchanged, and *took
// says whether that happened. If fast, a server profile's result goes to
// its record (see RecordFile) instead of the state counter file.
func (p *Profile) update(fn func(cur uint64) (uint64, error), took *bool, fast bool) error {
	if err := p.makeCounterDir(); err != nil {
		return err
	}
	unlock, err := p.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	path := p.counterPath()
	cur, seeded, err := p.readCounter()
	if err != nil {
		return err
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	switch {
	case next == cur && (!seeded || took == nil):
		return nil
	case next < cur:
		return fmt.Errorf("%s: refusing to move the counter back from %d to %d", path, cur, next)
	case next > knock.MaxCounter+1:
		return fmt.Errorf("%s: %w", path, knock.ErrCounterExhausted)
	}
	if took != nil {
		*took = seeded
	}
	// A profile not yet taken over gets its state counter file first,
	// so that it no longer reads its seed.
	if fast && p.counterDir != "" && !seeded {
		return p.writeRecord(next)
	}
	return writeFileAtomic(path, []byte(strconv.FormatUint(next, 10)+"\n"))
}

// NextKnock seals a knock for port with the profile's next counter, for
// the sending side. Under the profile lock it skips counters whose IPv4 ID
// would be 0 (the kernel rewrites a zero ID on raw sockets, and the server's
// window absorbs the gap), and stores the used counter + 1 before
// returning, so the knock can be sent only after the counter is safe on
// disk.
func (p *Profile) NextKnock(port uint16) (f knock.Fields, used uint32, err error) {
	return p.NextKnockFor(port, knock.Binding{})
}

// NextKnockFor is NextKnock for a profile of either version: a v2 knock
// (Version 2) is bound to b, a v1 knock ignores it. A v2 profile with no
// b.Source returns an error wrapping knock.ErrNoSource and spends no
// counter.
func (p *Profile) NextKnockFor(port uint16, b knock.Binding) (f knock.Fields, used uint32, err error) {
	if p.Version == 2 && !b.Source.IsValid() {
		return f, 0, fmt.Errorf("profile %s is v2: %w", p.Dir, knock.ErrNoSource)
	}
	err = p.UpdateCounter(func(cur uint64) (uint64, error) {
		for c := cur; c <= knock.MaxCounter; c++ {
			f = p.encode(uint32(c), port, b)
			if f.ID != 0 {
				used = uint32(c)
				return c + 1, nil
			}
		}
		return 0, fmt.Errorf("%s: %w", p.counterPath(), knock.ErrCounterExhausted)
	})
	return f, used, err
}

// encode seals a knock in the profile's version; b.Source is valid for v2.
func (p *Profile) encode(counter uint32, port uint16, b knock.Binding) knock.Fields {
	if p.Version == 2 {
		f, _ := knock.EncodeV2(&p.Keys, counter, port, b)
		return f
	}
	return knock.Encode(&p.Keys, counter, port)
}

// Accept records that counter used was accepted, for the receiving side:
// under the profile lock it stores used+1, durably, before returning; on a
// server in the profile's record (see RecordFile), whose state counter file
// SyncCounterFile then brings up to date. It returns an error wrapping
// ErrReplay, and stores nothing, if the stored counter is already past used.
func (p *Profile) Accept(used uint32) error {
	return p.update(func(cur uint64) (uint64, error) {
		if uint64(used) < cur {
			return 0, fmt.Errorf("counter %d, stored counter %d: %w", used, cur, ErrReplay)
		}
		return uint64(used) + 1, nil
	}, nil, true)
}

// counterPath is the counter file this process reads and writes.
func (p *Profile) counterPath() string { return filepath.Join(p.lockDir(), CounterFile) }

func (p *Profile) lockDir() string {
	if p.counterDir != "" {
		return p.counterDir
	}
	return p.Dir
}

// readCounter reads the counter under the lock: the state counter, or the
// seed (seeded true) if a server profile has none yet; on a server, or the
// record's counter if that is larger (the state counter lags it until
// SyncCounterFile).
func (p *Profile) readCounter() (c uint64, seeded bool, err error) {
	c, err = readCounter(p.counterPath(), p.pol)
	if p.seed != "" && errors.Is(err, fs.ErrNotExist) {
		c, err = readCounter(p.seed, p.pol)
		seeded = true
	}
	if err != nil || p.counterDir == "" {
		return c, seeded, err
	}
	r, _, found, err := p.readRecord()
	if err != nil {
		return 0, seeded, err
	}
	if found && r.next > c {
		if r.next > knock.MaxCounter+1 {
			return 0, seeded, fmt.Errorf("%s: %w: past the largest counter %d", p.recordPath(), ErrCorrupt, uint64(knock.MaxCounter)+1)
		}
		c = r.next
	}
	return c, seeded, nil
}

// makeCounterDir creates a server profile's state directory,
// stateDir/<name>, kk-monitor's alone. stateDir itself must exist.
func (p *Profile) makeCounterDir() error {
	if p.counterDir == "" {
		return nil
	}
	err := os.Mkdir(p.counterDir, 0o700)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("creating the state directory for profile %s: %w (StateDirectory=knockknock in kk-monitor.service creates %s; elsewhere set state_dir or --state)",
			p.Name, err, filepath.Dir(p.counterDir))
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating the state directory for profile %s: %w", p.Name, err)
	}
	return nil
}

// lock takes a flock of the given kind on the directory holding the
// counter: the client's profile directory, or the server's state directory
// for the profile, never the root-owned profile directory. The directory,
// not the counter file, is locked because the counter file is replaced on
// every write.
func (p *Profile) lock(how int) (unlock func(), err error) {
	dir := p.lockDir()
	d, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("locking profile: %w", err)
	}
	for {
		err = unix.Flock(int(d.Fd()), how)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("locking profile %s: %w", dir, err)
	}
	return func() { d.Close() }, nil
}

func readCounter(path string, pol policy) (uint64, error) {
	data, err := readFile(path, pol, false)
	if err != nil {
		return 0, err
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return 0, fmt.Errorf("%s: %w: empty; restore it from a backup or the client's copy, never reset it to 0", path, ErrCorrupt)
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: not a decimal number", path, ErrCorrupt)
	}
	if n > knock.MaxCounter+1 {
		return 0, fmt.Errorf("%s: %w: past the largest counter %d", path, ErrCorrupt, uint64(knock.MaxCounter)+1)
	}
	return n, nil
}
