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
		suppressed, ok, _ := s.allow(t0.Add(st.at))
		if ok != st.ok || suppressed != st.suppressed {
			t.Errorf("%s: allow = %d, %v; want %d, %v", st.name, suppressed, ok, st.suppressed, st.ok)
		}
	}
}

func TestSuppressorFlush(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	steps := []struct {
		name       string
		flush      bool // flush instead of allow
		at         time.Duration
		ok         bool
		suppressed int
		schedule   bool
	}{
		{"first is logged", false, 0, true, 0, false},
		{"first suppressed asks for a flush", false, 100 * time.Millisecond, false, 0, true},
		{"one flush is enough", false, 200 * time.Millisecond, false, 0, false},
		{"flush reports the count", true, time.Second, true, 2, false},
		{"the flush counts as the second's line", false, 1500 * time.Millisecond, false, 0, true},
		{"next flush", true, 2 * time.Second, true, 1, false},
		{"nothing pending", true, 3 * time.Second, false, 0, false},
		{"quiet second: logged", false, 3100 * time.Millisecond, true, 0, false},
	}
	var s suppressor
	for _, st := range steps {
		var suppressed int
		var ok, schedule bool
		if st.flush {
			suppressed, ok = s.flush(t0.Add(st.at))
		} else {
			suppressed, ok, schedule = s.allow(t0.Add(st.at))
		}
		if ok != st.ok || suppressed != st.suppressed || schedule != st.schedule {
			t.Errorf("%s: got %d, %v, schedule %v; want %d, %v, schedule %v",
				st.name, suppressed, ok, schedule, st.suppressed, st.ok, st.schedule)
		}
	}
}
