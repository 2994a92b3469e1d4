package profile

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/knock"
)

// reserveKills is how many times TestReserveNoReuseAcrossSIGKILL kills a
// knocking client.
const reserveKills = 300

// originalFormat is the counter file as the original knockknock writes and
// reads it.
var originalFormat = regexp.MustCompile(`^[0-9]+\n$`)

// reserveChild is the child mode of the test binary: it sends up to
// KK_RESERVE_CHILD_N knocks from the client profile in KK_RESERVE_CHILD_DIR
// with the boot ID in the file KK_RESERVE_CHILD_BOOT, and "sends" each by
// appending its fields to KK_RESERVE_CHILD_LOG in one write, as a raw
// socket would put it on the wire.
func reserveChild() {
	bootIDPath = os.Getenv("KK_RESERVE_CHILD_BOOT")
	n, _ := strconv.Atoi(os.Getenv("KK_RESERVE_CHILD_N"))
	log, err := os.OpenFile(os.Getenv("KK_RESERVE_CHILD_LOG"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p, err := Load(os.Getenv("KK_RESERVE_CHILD_DIR"))
	for i := 0; err == nil && i < n; i++ {
		_, err = p.SendKnock(22, knock.Binding{}, func(f knock.Fields) error {
			_, err := log.WriteString(fieldsLine(f))
			return err
		})
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func fieldsLine(f knock.Fields) string {
	return fmt.Sprintf("%04x %08x %08x %04x\n", f.ID, f.Seq, f.Ack, f.Window)
}

// clientProfile makes a client profile (0600 files, counter 0) that runs
// on the boot named by a file it returns with its setter.
func clientProfile(t *testing.T) (p *Profile, setBoot func(string)) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the counter reservation needs Linux's boot ID; elsewhere every knock writes the counter first")
	}
	p, err := GenerateForGroup(t.TempDir(), "client", 666, -1)
	if err != nil {
		t.Fatal(err)
	}
	bootFile := filepath.Join(t.TempDir(), "boot_id")
	setBoot = func(id string) {
		if err := os.WriteFile(bootFile, []byte(id+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	setBoot("11111111-2222-3333-4444-000000000001")
	old := bootIDPath
	bootIDPath = bootFile
	t.Cleanup(func() { bootIDPath = old })
	return p, setBoot
}

// counterFile reads the counter file and fails unless it is in the
// original's format.
func counterFile(t *testing.T, p *Profile) uint64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(p.Dir, CounterFile))
	if err != nil {
		t.Fatal(err)
	}
	if !originalFormat.Match(data) {
		t.Fatalf("the counter file holds %q, not the original's decimal line", data)
	}
	n, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || n > knock.MaxCounter+1 {
		t.Fatalf("the counter file holds %q", data)
	}
	return n
}

// sent records every knock sent, and fails on the second use of a counter.
type sent struct {
	t    *testing.T
	p    *Profile
	seen map[knock.Fields]uint32
	last uint32
}

func newSent(t *testing.T, p *Profile) *sent {
	return &sent{t: t, p: p, seen: map[knock.Fields]uint32{}}
}

func (s *sent) knock() uint32 {
	s.t.Helper()
	var got knock.Fields
	used, err := s.p.SendKnock(22, knock.Binding{}, func(f knock.Fields) error { got = f; return nil })
	if err != nil {
		s.t.Fatal(err)
	}
	s.record(got, used, "kk")
	if c := counterFile(s.t, s.p); uint64(used) >= c {
		s.t.Fatalf("counter %d was sent while the counter file held %d: not durable before the send", used, c)
	}
	return used
}

func (s *sent) record(f knock.Fields, used uint32, who string) {
	s.t.Helper()
	if prev, ok := s.seen[f]; ok {
		s.t.Fatalf("%s sent counter %d, already sent as counter %d", who, used, prev)
	}
	s.seen[f] = used
	s.last = used
}

// TestReserveSteadyStateWritesPerBlock checks the point of the reservation:
// one durable write per ReserveBlock knocks, the counter file always at
// least one past every counter sent, and Counter the exact next counter.
func TestReserveSteadyStateWritesPerBlock(t *testing.T) {
	p, _ := clientProfile(t)
	s := newSent(t, p)
	rec := &countingOps{}
	atomicOps = rec
	defer func() { atomicOps = osFileOps{} }()
	const n = 40
	before := 0 // durable writes between a knock's start and its send
	for i := range n {
		start := rec.renames
		used, err := p.SendKnock(22, knock.Binding{}, func(f knock.Fields) error {
			s.record(f, 0, "kk")
			before += rec.renames - start
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if c, err := p.Counter(); err != nil || c != uint64(used)+1 {
			t.Fatalf("knock %d: Counter = %d, %v after sending counter %d", i, c, err, used)
		}
	}
	// The first knock reserves before its send; every later block is
	// reserved after the send that used up the one before.
	if want := 1 + n/ReserveBlock; rec.renames != want || before != 1 {
		t.Errorf("%d knocks made %d durable writes of the counter file, %d of them before a send; want %d (one per block of %d), 1 before a send",
			n, rec.renames, before, want, ReserveBlock)
	}
}

// TestReserveNoReuseAcrossReboot simulates power cuts: the reservation
// file loses its last writes (it is never synced) while the counter file
// keeps its synced value, and the boot ID changes. No counter may be sent
// twice, and the jump after each reboot skips at most ReserveBlock counters.
// Without the boot ID check the stale reservation hands out counters again.
func TestReserveNoReuseAcrossReboot(t *testing.T) {
	p, setBoot := clientProfile(t)
	s := newSent(t, p)
	reserve := filepath.Join(p.Dir, ReserveFile)
	stale := 0
	for round := range 60 {
		for range rand.IntN(5) {
			s.knock()
		}
		onDisk, _ := os.ReadFile(reserve) // what writeback had flushed at the cut
		for range 1 + rand.IntN(3) {
			s.knock()
		}
		last := s.last
		if err := os.WriteFile(reserve, onDisk, 0o600); err != nil {
			t.Fatal(err)
		}
		if c, err := p.reservedNext(counterFile(t, p)); err == nil && c <= uint64(last) {
			stale++ // this round, only the boot ID stands between the stale record and a reuse
		}
		setBoot(fmt.Sprintf("11111111-2222-3333-4444-%012d", round+2))
		next := s.knock()
		skipped := 0
		for c := last + 1; c < next; c++ {
			if p.encode(c, 22, knock.Binding{}).ID != 0 {
				skipped++
			}
		}
		if skipped > ReserveBlock {
			t.Fatalf("round %d: after the reboot the client went from counter %d to %d, skipping %d > ReserveBlock %d",
				round, last, next, skipped, ReserveBlock)
		}
	}
	if stale < 5 {
		t.Fatalf("only %d of 60 rounds left a stale reservation that looked valid but for the boot ID; the test proves too little", stale)
	}
	t.Logf("60 reboots, %d with a stale reservation only the boot ID refused; last counter %d", stale, s.last)
}

// TestReserveOriginalEditsCounter interleaves kk's knocks with the original
// client's (it reads the counter file, sends that counter and writes the
// next one in place, without a lock) and with hand edits that set the file
// to the same or a higher value. No counter may be sent twice, and the
// file always parses as the original's format.
func TestReserveOriginalEditsCounter(t *testing.T) {
	p, _ := clientProfile(t)
	s := newSent(t, p)
	path := filepath.Join(p.Dir, CounterFile)
	originals := 0
	for range 200 {
		for range rand.IntN(4) {
			s.knock()
		}
		v := counterFile(t, p)
		if rand.IntN(2) == 0 {
			// The original client: send counter v, store v+1 in place.
			s.record(p.encode(uint32(v), 22, knock.Binding{}), uint32(v), "the original client")
			if err := os.WriteFile(path, []byte(strconv.FormatUint(v+1, 10)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			originals++
		} else {
			// A hand edit: the same value again, or a higher one.
			if err := os.WriteFile(path, []byte(strconv.FormatUint(v+uint64(rand.IntN(3)), 10)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		counterFile(t, p)
	}
	t.Logf("%d knocks, %d of them by the original client", len(s.seen), originals)
}

// TestReserveDamagedRecord checks that a torn, edited or foreign
// reservation is not trusted: the next knock starts at the counter file.
func TestReserveDamagedRecord(t *testing.T) {
	p, _ := clientProfile(t)
	s := newSent(t, p)
	reserve := filepath.Join(p.Dir, ReserveFile)
	for i, damage := range []func([]byte) []byte{
		func(b []byte) []byte { return b[:len(b)/2] },                                             // torn
		func(b []byte) []byte { return []byte(strings.Replace(string(b), "next=", "next=0", 1)) }, // edited
		func(b []byte) []byte { return nil },                                                      // emptied
		func(b []byte) []byte { b[len(b)-1] = 'x'; return b },                                     // no newline
	} {
		s.knock()
		b, err := os.ReadFile(reserve)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(reserve, damage(b), 0o600); err != nil {
			t.Fatal(err)
		}
		high := counterFile(t, p)
		if next := s.knock(); uint64(next) < high {
			t.Fatalf("damage %d: the knock used counter %d below the counter file's %d", i, next, high)
		}
	}
}

// TestReserveFileRefused checks that the reservation file is held to the
// profile's rules: a symlink or a file open to others is refused by name,
// and nothing is sent.
func TestReserveFileRefused(t *testing.T) {
	p, _ := clientProfile(t)
	reserve := filepath.Join(p.Dir, ReserveFile)
	sendFails := func(f knock.Fields) error { t.Fatal("a knock was sent"); return nil }
	if err := os.Symlink(filepath.Join(t.TempDir(), "elsewhere"), reserve); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SendKnock(22, knock.Binding{}, sendFails); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), ReserveFile) {
		t.Fatalf("symlinked reservation: err = %v, want ErrUnsafe naming %s", err, ReserveFile)
	}
	os.Remove(reserve)
	if err := os.WriteFile(reserve, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(reserve, 0o644)
	if _, err := p.SendKnock(22, knock.Binding{}, sendFails); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("reservation open to others: err = %v, want ErrUnsafe with the chmod", err)
	}
}

// TestReserveNoReuseAcrossSIGKILL kills a client that keeps knocking with
// SIGKILL at random points, reserveKills times. After each kill the
// counter file must be in the original's format and above every counter
// sent; over all kills no counter may be sent twice.
func TestReserveNoReuseAcrossSIGKILL(t *testing.T) {
	p, _ := clientProfile(t)
	log := filepath.Join(t.TempDir(), "wire")
	// The kills are spread over a child's start and its first knocks. A
	// start is timed here, with one knock: on a loaded machine, or under
	// -race, it can take longer than the 12 ms the kills used to be spread
	// over, and kills that all land before the first knock test nothing.
	t0 := time.Now()
	if err := reserveCmd(p, log, 1).Run(); err != nil {
		t.Fatalf("a child sending one knock: %v", err)
	}
	spread := time.Since(t0) + 12*time.Millisecond
	for i := range reserveKills {
		cmd := reserveCmd(p, log, 1_000_000)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(rand.N(spread))
		cmd.Process.Kill()
		cmd.Wait()
		high := counterFile(t, p)
		if i%10 == 0 || i == reserveKills-1 {
			checkWire(t, p, log, high)
		}
	}
	n := checkWire(t, p, log, counterFile(t, p))
	if n < reserveKills {
		t.Fatalf("only %d knocks in %d runs: the kills landed too early to test anything", n, reserveKills)
	}
	t.Logf("%d kills, %d knocks sent, none twice; counter file %d", reserveKills, n, counterFile(t, p))
}

// TestReserveTwoClients runs two clients at once on one profile: no
// counter may be sent twice.
func TestReserveTwoClients(t *testing.T) {
	p, _ := clientProfile(t)
	log := filepath.Join(t.TempDir(), "wire")
	const each = 300
	a, b := reserveCmd(p, log, each), reserveCmd(p, log, each)
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := b.Wait(); err != nil {
		t.Fatal(err)
	}
	if n := checkWire(t, p, log, counterFile(t, p)); n != 2*each {
		t.Fatalf("%d knocks on the wire, want %d", n, 2*each)
	}
	if c, err := p.Counter(); err != nil || c < 2*each {
		t.Fatalf("Counter = %d, %v after %d knocks", c, err, 2*each)
	}
}

// countingOps makes the real calls and counts the renames, one per durable
// write of the counter file.
type countingOps struct {
	osFileOps
	renames int
}

func (c *countingOps) rename(oldpath, newpath string) error {
	c.renames++
	return c.osFileOps.rename(oldpath, newpath)
}

func reserveCmd(p *Profile, log string, n int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "KK_RESERVE_CHILD_DIR="+p.Dir, "KK_RESERVE_CHILD_BOOT="+bootIDPath,
		"KK_RESERVE_CHILD_LOG="+log, "KK_RESERVE_CHILD_N="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	return cmd
}

// checkWire checks the knocks in log: each a counter below high, none
// twice. It returns how many there are.
func checkWire(t *testing.T, p *Profile, log string, high uint64) int {
	t.Helper()
	byFields := map[string]uint64{}
	for c := uint64(0); c < high; c++ {
		byFields[fieldsLine(p.encode(uint32(c), 22, knock.Binding{}))] = c
	}
	f, err := os.Open(log)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	seen := map[uint64]bool{}
	lines := bufio.NewScanner(f)
	for lines.Scan() {
		c, ok := byFields[lines.Text()+"\n"]
		switch {
		case !ok:
			t.Fatalf("a knock on the wire (%s) is no counter below the counter file's %d: sent before it was durable", lines.Text(), high)
		case seen[c]:
			t.Fatalf("counter %d was sent twice", c)
		}
		seen[c] = true
	}
	return len(seen)
}

// TestReserveFallbackWithoutBootID checks the fallback where no boot ID can
// be read (as on other systems): every knock stores counter+1 durably
// before its send, and no reservation is kept.
func TestReserveFallbackWithoutBootID(t *testing.T) {
	p, _ := clientProfile(t)
	bootIDPath = filepath.Join(t.TempDir(), "no-boot-id")
	rec := &countingOps{}
	atomicOps = rec
	defer func() { atomicOps = osFileOps{} }()
	for i := range 10 {
		start := rec.renames
		used, err := p.SendKnock(22, knock.Binding{}, func(knock.Fields) error {
			if rec.renames != start+1 {
				t.Fatalf("knock %d: %d durable writes before the send, want 1", i, rec.renames-start)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if c := counterFile(t, p); c != uint64(used)+1 {
			t.Fatalf("knock %d: counter file %d after sending counter %d, want %d", i, c, used, used+1)
		}
	}
	if _, err := os.Lstat(filepath.Join(p.Dir, ReserveFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a reservation file was made without a boot ID: %v", err)
	}
}
