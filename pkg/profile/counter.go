package profile

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/pkg/knock"
)

// ErrReplay means a knock's counter was already used: the counter on disk
// has moved past it.
var ErrReplay = errors.New("knock counter already used (replay)")

// Counter returns the next unused counter as stored on disk.
func (p *Profile) Counter() (uint64, error) {
	unlock, err := p.lock(unix.LOCK_SH)
	if err != nil {
		return 0, err
	}
	defer unlock()
	return readCounter(p.path(CounterFile))
}

// UpdateCounter runs fn on the stored counter while holding an exclusive
// lock on the profile, and stores fn's result before returning. The counter
// never moves backwards: a result below the stored value is an error. If fn
// fails, nothing is written.
func (p *Profile) UpdateCounter(fn func(cur uint64) (next uint64, err error)) error {
	unlock, err := p.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	path := p.path(CounterFile)
	cur, err := readCounter(path)
	if err != nil {
		return err
	}
	next, err := fn(cur)
	if err != nil {
		return err
	}
	switch {
	case next == cur:
		return nil
	case next < cur:
		return fmt.Errorf("%s: refusing to move the counter back from %d to %d", path, cur, next)
	case next > knock.MaxCounter+1:
		return fmt.Errorf("%s: %w", path, knock.ErrCounterExhausted)
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
	err = p.UpdateCounter(func(cur uint64) (uint64, error) {
		for c := cur; c <= knock.MaxCounter; c++ {
			f = knock.Encode(&p.Keys, uint32(c), port)
			if f.ID != 0 {
				used = uint32(c)
				return c + 1, nil
			}
		}
		return 0, fmt.Errorf("%s: %w", p.path(CounterFile), knock.ErrCounterExhausted)
	})
	return f, used, err
}

// Accept records that counter used was accepted, for the receiving side:
// under the profile lock it stores used+1. It returns an error wrapping
// ErrReplay, and stores nothing, if the stored counter is already past used.
func (p *Profile) Accept(used uint32) error {
	return p.UpdateCounter(func(cur uint64) (uint64, error) {
		if uint64(used) < cur {
			return 0, fmt.Errorf("counter %d, stored counter %d: %w", used, cur, ErrReplay)
		}
		return uint64(used) + 1, nil
	})
}

// lock takes a flock of the given kind on the profile directory. The
// directory, not the counter file, is locked because the counter file is
// replaced on every write.
func (p *Profile) lock(how int) (unlock func(), err error) {
	d, err := os.Open(p.Dir)
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
		return nil, fmt.Errorf("locking profile %s: %w", p.Dir, err)
	}
	return func() { d.Close() }, nil
}

func readCounter(path string) (uint64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading counter: %w", err)
	}
	text := strings.TrimSpace(string(data))
	if text == "" {
		return 0, fmt.Errorf("%s: %w: empty; restore it from a backup or the client's copy, never reset it to 0", path, ErrCorrupt)
	}
	n, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: %q is not a whole number", path, ErrCorrupt, text)
	}
	if n > knock.MaxCounter+1 {
		return 0, fmt.Errorf("%s: %w: %d is past the largest counter %d", path, ErrCorrupt, n, uint64(knock.MaxCounter)+1)
	}
	return n, nil
}
