package main

import (
	"math/rand/v2"
	"net/netip"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/profile"
)

const sigkillKnocks = 1000

// sigkillSrc is the unique source address of knock i, so each open at the
// fake firewall names the knock it came from.
func sigkillSrc(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 1, byte(i / 200), byte(i%200 + 1)})
}

// TestSIGKILLNeverReplays writes 1000 valid knocks while killing kk-monitor
// with SIGKILL at random moments and restarting it with --from-start, so
// every restart re-reads every knock already accepted. The counter on disk
// must never go backwards, no knock may be opened twice, and at most one
// knock per kill (the one in flight between recording its counter and the
// open call) may go unopened.
func TestSIGKILLNeverReplays(t *testing.T) {
	s := newSetup(t)
	p, err := profile.Generate(s.profiles, "web", 4444)
	must(t, err)
	p = s.serverProfile(p)
	stopWatch := watchCounter(t, p)

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		for i := 0; i < sigkillKnocks; i += 5 {
			var batch []string
			for j := i; j < i+5; j++ {
				batch = append(batch, knockLine(p, uint32(j), 22, sigkillSrc(j)))
			}
			s.appendLines(batch...)
			time.Sleep(40 * time.Millisecond)
		}
	}()

	kills := 0
	deadline := time.Now().Add(40 * time.Second)
	for {
		cmd, _ := s.start("--from-start")
		select {
		case <-writerDone:
		default:
			time.Sleep(time.Duration(50+rand.IntN(400)) * time.Millisecond)
			must(t, cmd.Process.Signal(syscall.SIGKILL))
			cmd.Wait()
			kills++
			if time.Now().Before(deadline) {
				continue
			}
			t.Fatal("writer did not finish in time")
		}
		break // the last monitor runs on
	}
	waitUntil(t, "the last knock to be counted", 40*time.Second, func() bool {
		c, err := p.Counter()
		return err == nil && c == sigkillKnocks
	})
	stopWatch()

	opened, twice := 0, 0
	for i := 0; i < sigkillKnocks; i++ {
		switch n := s.opens(sigkillSrc(i)); {
		case n == 1:
			opened++
		case n > 1:
			twice++
			t.Errorf("knock %d opened %d times", i, n)
		}
	}
	t.Logf("%d kills, %d of %d knocks opened, %d opened twice", kills, opened, sigkillKnocks, twice)
	if kills < 5 {
		t.Errorf("only %d kills: the test did not exercise crashes", kills)
	}
	if opened < sigkillKnocks-kills {
		t.Errorf("%d knocks opened, want at least %d (one lost open per kill at most)", opened, sigkillKnocks-kills)
	}
}

// watchCounter samples p's counter on disk until the returned function is
// called, failing the test if it ever goes backwards or cannot be read.
func watchCounter(t *testing.T, p *profile.Profile) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		last, samples := uint64(0), 0
		for {
			select {
			case <-done:
				t.Logf("counter sampled %d times", samples)
				return
			case <-time.After(2 * time.Millisecond):
			}
			c, err := p.Counter()
			if err != nil {
				t.Errorf("reading the counter: %v", err)
				return
			}
			if c < last {
				t.Errorf("counter went backwards: %d after %d", c, last)
				return
			}
			last = c
			samples++
		}
	}()
	return func() { close(done); wg.Wait() }
}
