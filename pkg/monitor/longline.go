package monitor

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kk-project/kk/pkg/kernlog"
)

// longLineEvery is how often dropped over-long lines are warned about at most.
const longLineEvery = time.Minute

// longLines counts the log lines dropped for being longer than
// kernlog.MaxLine. The zero value is ready to use; it is safe for concurrent
// use.
type longLines struct {
	n        atomic.Uint64
	mu       sync.Mutex
	warnedAt time.Time // zero until the first warning
}

// lineTooLong counts a dropped over-long line and warns about it, at most
// every longLineEvery: the kernel writes no such line, so something else
// writes to the log, and a flood of them must not flood kk-monitor's log.
func (m *Monitor) lineTooLong() {
	n := m.long.n.Add(1)
	now := m.opts.Now()
	m.long.mu.Lock()
	defer m.long.mu.Unlock()
	if !m.long.warnedAt.IsZero() && now.Sub(m.long.warnedAt) < longLineEvery {
		return
	}
	m.long.warnedAt = now
	m.log.Warn(fmt.Sprintf("dropped a line longer than %d bytes from %s (%d so far): "+
		"the kernel writes no such line, so something else writes to this log", kernlog.MaxLine, m.state.Load().source(), n))
}
