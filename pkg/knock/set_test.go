package knock

import (
	"crypto/rand"
	"runtime"
	"testing"
)

var setPorts = []uint16{22, 443, 2222}

func newTestSet(t testing.TB, counter uint64, window int) *Set {
	t.Helper()
	s, err := NewSet(&testKeys, counter, window, setPorts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSetMatch(t *testing.T) {
	s := newTestSet(t, 100, SetWindow)
	tests := []struct {
		name    string
		counter uint32
		port    uint16
		ok      bool
	}{
		{"stored counter", 100, 22, true},
		{"a gap of 10,000 lost knocks", 100 + 10000, 443, true},
		{"last counter of the window", 100 + SetWindow - 1, 2222, true},
		{"past the window", 100 + SetWindow, 22, false},
		{"below the stored counter: replay", 99, 22, false},
		{"port not allowed", 150, 80, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port, used, ok := s.Match(Encode(&testKeys, tt.counter, tt.port))
			if ok != tt.ok || ok && (port != tt.port || used != tt.counter) {
				t.Fatalf("Match = port %d counter %d ok %v, want port %d counter %d ok %v",
					port, used, ok, tt.port, tt.counter, tt.ok)
			}
		})
	}
}

// TestSetReplayInWindow accepts a knock 5,000 ahead, advances past it as
// the monitor does, and refuses the same knock and every older one again.
func TestSetReplayInWindow(t *testing.T) {
	s := newTestSet(t, 0, SetWindow)
	k := Encode(&testKeys, 5000, 443)
	_, used, ok := s.Match(k)
	if !ok || used != 5000 {
		t.Fatalf("fresh knock: counter %d ok %v, want 5000 true", used, ok)
	}
	s.Advance(uint64(used) + 1)
	if _, _, ok := s.Match(k); ok {
		t.Fatal("the same knock was accepted twice")
	}
	for _, c := range []uint32{0, 1, 4999} {
		if _, _, ok := s.Match(Encode(&testKeys, c, 22)); ok {
			t.Fatalf("counter %d, skipped over, accepted after the window moved to 5001", c)
		}
	}
	if _, _, ok := s.Match(Encode(&testKeys, 5001+SetWindow-1, 22)); !ok {
		t.Fatal("the window's new last counter is refused")
	}
}

// TestSetAdvance checks that moving a Set step by step, or by a jump,
// leaves the same knocks as building it afresh.
func TestSetAdvance(t *testing.T) {
	const w = 64
	for _, steps := range [][]uint64{{1, 2, 3}, {10, 63, 64, 127}, {200}, {5, 5, 4, 300}} {
		s := newTestSet(t, 0, w)
		for _, next := range steps {
			s.Advance(next)
		}
		var base uint64
		for _, n := range steps {
			base = max(base, n)
		}
		if s.Counter() != base || s.Len() != w*len(setPorts) {
			t.Fatalf("after %v: counter %d, %d knocks; want %d, %d", steps, s.Counter(), s.Len(), base, w*len(setPorts))
		}
		for c := uint64(0); c < base+w+2; c++ {
			_, _, ok := s.Match(Encode(&testKeys, uint32(c), 443))
			if want := c >= base && c < base+w; ok != want {
				t.Fatalf("after %v: counter %d accepted %v, want %v", steps, c, ok, want)
			}
		}
	}
}

func TestSetMaxCounter(t *testing.T) {
	s := newTestSet(t, MaxCounter-1, 16)
	if _, used, ok := s.Match(Encode(&testKeys, MaxCounter, 22)); !ok || used != MaxCounter {
		t.Fatalf("counter MaxCounter: %d %v", used, ok)
	}
	if s.Len() != 2*len(setPorts) {
		t.Fatalf("%d knocks near MaxCounter, want %d", s.Len(), 2*len(setPorts))
	}
}

func TestNewSetRefuses(t *testing.T) {
	for name, ports := range map[string][]uint16{"none": nil, "port 0": {22, 0}, "too many": make([]uint16, MaxSetPorts+1)} {
		if _, err := NewSet(&testKeys, 0, 10, ports); err == nil {
			t.Errorf("%s: NewSet accepted ports %v", name, ports)
		}
	}
}

func BenchmarkSetGarbageWindow16384Ports3(b *testing.B) {
	s := newTestSet(b, 1000, SetWindow)
	junk := make([]Fields, 1024)
	for i := range junk {
		var raw [Size]byte
		rand.Read(raw[:])
		junk[i] = FieldsFromBytes(raw)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, ok := s.Match(junk[i&1023]); ok {
			b.Fatal("random bytes accepted")
		}
	}
}

// BenchmarkSetAdvance is the cost of moving the window by one accepted
// knock: one counter leaves, one enters.
func BenchmarkSetAdvance(b *testing.B) {
	s := newTestSet(b, 0, SetWindow)
	next := uint64(1)
	for b.Loop() {
		s.Advance(next)
		next++
	}
}

// BenchmarkNewSet is the cost of building a profile's Set, and reports the
// heap it holds.
func BenchmarkNewSet(b *testing.B) {
	var before, after runtime.MemStats
	var s *Set
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		s = newTestSet(b, 0, SetWindow)
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/1024, "KiB/profile")
	runtime.KeepAlive(s)
}

// TestSetRandomAdvance moves small Sets, whose tables are crowded enough
// that knocks share probe runs, by random steps and jumps, and checks after
// each that the Set accepts exactly the window's knocks, each with its
// counter and port: removals must not lose or strand an entry.
func TestSetRandomAdvance(t *testing.T) {
	ports := []uint16{22, 443, 2222, 8080, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}
	for _, tc := range []struct{ window, ports int }{{1, 1}, {3, 1}, {5, 16}, {17, 3}, {64, 2}} {
		s, err := NewSet(&testKeys, 0, tc.window, ports[:tc.ports])
		if err != nil {
			t.Fatal(err)
		}
		seed := uint64(tc.window*100 + tc.ports)
		for step := 0; step < 300; step++ {
			seed = seed*6364136223846793005 + 1442695040888963407
			jump := seed >> 60 // mostly small steps, now and then past the window
			if jump > 12 {
				jump = uint64(tc.window) + jump
			}
			s.Advance(s.Counter() + jump)
			base := s.Counter()
			if s.Len() != tc.window*tc.ports {
				t.Fatalf("window %d ports %d, after advancing to %d: %d knocks", tc.window, tc.ports, base, s.Len())
			}
			for c := base - min(base, 2); c < base+uint64(tc.window)+2; c++ {
				for _, p := range ports[:tc.ports] {
					port, used, ok := s.Match(Encode(&testKeys, uint32(c), p))
					in := c >= base && c < base+uint64(tc.window)
					if ok != in || (ok && (port != p || uint64(used) != c)) {
						t.Fatalf("window %d ports %d base %d: knock %d/%d gave %d/%d %v", tc.window, tc.ports, base, c, p, used, port, ok)
					}
				}
			}
		}
	}
}
