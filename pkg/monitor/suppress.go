package monitor

import "time"

// A suppressor lets one event through per second and counts the rest; the
// count is handed over with the next event let through or, if none comes,
// by flush, which the owner calls when allow asks it to.
// The zero value is ready to use. It is unsafe for concurrent use.
type suppressor struct {
	last       time.Time
	suppressed int
	flushing   bool // a flush is scheduled
}

// allow reports whether an event at now may be logged and, if so, how many
// events were suppressed since the last one logged. If not, schedule reports
// whether the caller must arrange a call to flush about a second from now.
func (s *suppressor) allow(now time.Time) (suppressed int, ok, schedule bool) {
	if d := now.Sub(s.last); !s.last.IsZero() && d >= 0 && d < time.Second {
		s.suppressed++
		schedule = !s.flushing
		s.flushing = true
		return 0, false, schedule
	}
	suppressed, s.last, s.suppressed = s.suppressed, now, 0
	return suppressed, true, false
}

// flush reports the events suppressed since the last one logged, if any,
// and if so counts its report at now as the second's logged event.
func (s *suppressor) flush(now time.Time) (suppressed int, ok bool) {
	s.flushing = false
	if s.suppressed == 0 {
		return 0, false
	}
	suppressed, s.last, s.suppressed = s.suppressed, now, 0
	return suppressed, true
}
