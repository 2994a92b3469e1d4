package monitor

import "time"

// A suppressor lets one event through per second and counts the rest.
// The zero value is ready to use. It is unsafe for concurrent use.
type suppressor struct {
	last       time.Time
	suppressed int
}

// allow reports whether an event at now may be logged and, if so, how many
// events were suppressed since the last one allowed.
func (s *suppressor) allow(now time.Time) (suppressed int, ok bool) {
	if d := now.Sub(s.last); !s.last.IsZero() && d >= 0 && d < time.Second {
		s.suppressed++
		return 0, false
	}
	suppressed, s.last, s.suppressed = s.suppressed, now, 0
	return suppressed, true
}
