package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/kk-project/kk/pkg/profile"
)

// counterFileDelay is how long after an accepted knock kk-monitor brings
// the profile's state counter text file up to its record; knocks within it
// share one write.
const counterFileDelay = 5 * time.Second

// counterFileWorkers bounds how many state counter files are written at
// once when many profiles are behind: concurrent fsyncs on one filesystem
// share journal commits, so writing them together costs little more than
// writing one.
const counterFileWorkers = 16

// counterFiles brings the state counter text files up to the counter
// records that Accept writes, in the background, coalesced: an accepted
// knock only marks its profile, and the files of marked profiles are
// written counterFileDelay after the first mark, and when the monitor
// stops.
//
// Why this loses no counter. Accept stores the used counter + 1 in the
// profile's record, durably (fdatasync), before the opening; the record,
// not the text file, is what makes a replayed knock fail. Every reader of
// a server counter (Profile.Counter, hence the monitor's verifiers and
// resync, kk-monitor status in pkg/check, and the take-over, through
// Profile.update) takes the larger of the text file and the record, and
// the text file is only ever written with a value the record already
// holds. So a text file that lags, by any number of knocks, after a crash
// (SIGKILL, power cut) between the record and the text file changes
// nothing a reader sees (TestCrashBeforeCounterFileRefusesReplay in
// cmd/kk-monitor). The text file is still written crash-safely
// (temporary file, fsync, rename, directory fsync), so that a power cut
// can never leave it empty or torn: a torn text file would stop the
// profile from loading.
//
// What it gains. That write is two journal commits (3-5 ms on an idle
// disk, tens of ms on a busy one) which used to follow every opening on
// the follower's goroutine, delaying the next line.
type counterFiles struct {
	mu    sync.Mutex
	dirty map[*profile.Profile]struct{} // marked, not yet written
	wake  chan struct{}                 // a profile was marked; capacity 1
}

func newCounterFiles() *counterFiles {
	return &counterFiles{dirty: map[*profile.Profile]struct{}{}, wake: make(chan struct{}, 1)}
}

// mark notes that p's record moved past its text file.
func (c *counterFiles) mark(p *profile.Profile) {
	c.mu.Lock()
	c.dirty[p] = struct{}{}
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// run writes the marked profiles' files counterFileDelay after a mark
// until ctx is done, then writes those still marked and returns.
func (c *counterFiles) run(ctx context.Context, write func(*profile.Profile)) {
	defer c.flush(write)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(counterFileDelay):
		}
		c.flush(write)
	}
}

// flush writes the files of every marked profile, several at once.
func (c *counterFiles) flush(write func(*profile.Profile)) {
	c.mu.Lock()
	batch := make([]*profile.Profile, 0, len(c.dirty))
	for p := range c.dirty {
		batch = append(batch, p)
	}
	clear(c.dirty)
	c.mu.Unlock()
	if len(batch) == 1 {
		write(batch[0])
		return
	}
	each(batch, write)
}

// each runs f on every profile of ps, counterFileWorkers at once.
func each(ps []*profile.Profile, f func(*profile.Profile)) {
	profile.Parallel(len(ps), counterFileWorkers, func(i int) { f(ps[i]) })
}

// startCounterFiles creates the served profiles' missing counter records
// (see Profile.PrepareRecord), then runs the monitor's counterFiles until
// the returned stop is called; stop returns once every marked file is
// written. Both run beside the follower: a knock for a profile whose
// record is being created waits for the profile's lock, then finds it.
func (m *Monitor) startCounterFiles(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var ps []*profile.Profile
	for _, s := range m.state.Load().byPort {
		ps = append(ps, s.prof)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		each(ps, func(p *profile.Profile) {
			if ctx.Err() != nil {
				return
			}
			if err := p.PrepareRecord(); err != nil {
				m.log.Error("creating the counter record failed; the first knock creates it", "profile", p.Name, "err", err)
			}
		})
		m.counters.run(ctx, m.syncCounterFile)
	}()
	return func() {
		cancel()
		<-done
	}
}
