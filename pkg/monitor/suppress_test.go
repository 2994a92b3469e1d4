package monitor

import (
	"testing"
	"time"
)

func TestSuppressor(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		name       string
		at         time.Duration
		ok         bool
		suppressed int
	}{
		{"first is logged", 0, true, 0},
		{"same instant", 0, false, 0},
		{"within the second", 999 * time.Millisecond, false, 0},
		{"a second later, with the count", time.Second, true, 2},
		{"then quiet again", 1500 * time.Millisecond, false, 0},
		{"clock stepped back is logged", -time.Hour, true, 1},
	}
	var s suppressor
	for _, st := range steps {
		suppressed, ok := s.allow(t0.Add(st.at))
		if ok != st.ok || suppressed != st.suppressed {
			t.Errorf("%s: allow = %d, %v; want %d, %v", st.name, suppressed, ok, st.suppressed, st.ok)
		}
	}
}
