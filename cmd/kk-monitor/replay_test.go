package main

import (
	"bufio"
	"cmp"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/pkg/kernlog"
	"github.com/kk-project/kk/pkg/profile"
)

// replaySrc is the source address of valid knock i in a replay log.
func replaySrc(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
}

// writeReplayLog writes a kern.log of n lines: 1% garbage knocks to the
// profiles' knock ports, valid knocks (each from replaySrc(i), sealed with
// its profile's next counter) spread evenly, and noise for the rest: LOG
// lines for other ports, protocols and prefixes, and other kernel messages.
func writeReplayLog(t testing.TB, path string, profiles []*profile.Profile, n, valid int) {
	t.Helper()
	f, err := os.Create(path)
	must(t, err)
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	ts := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	every := n / valid
	for i := 0; i < n; i++ {
		var line string
		switch {
		case i%every == every/2 && i/every < valid:
			k := i / every
			p := profiles[k%len(profiles)]
			line = knockLine(p, uint32(k/len(profiles)), 22, replaySrc(k))
		case i%100 == 7:
			line = garbageKnock(rng, ts, profiles[rng.IntN(len(profiles))].KnockPort)
		default:
			line = noiseLine(rng, ts, i)
		}
		w.WriteString(line)
		w.WriteByte('\n')
	}
	must(t, w.Flush())
	must(t, f.Close())
}

func garbageKnock(rng *rand.Rand, ts time.Time, port uint16) string {
	return kernlog.FormatSyslog(ts, "kkhost", "REJECT ", kernlog.Packet{
		Src: netip.AddrFrom4([4]byte{203, 0, 113, byte(rng.IntN(250) + 1)}), DstPort: port,
		ID: uint16(rng.Uint32()), Seq: rng.Uint32(), Ack: rng.Uint32(), Window: uint16(rng.Uint32())})
}

// noiseLine returns one of several kinds of line that are not knocks.
func noiseLine(rng *rand.Rand, ts time.Time, i int) string {
	src := netip.AddrFrom4([4]byte{192, 0, 2, byte(rng.IntN(250) + 1)})
	pkt := kernlog.Packet{Src: src, DstPort: uint16(rng.IntN(1000) + 1), ID: uint16(i), Seq: uint32(i), Ack: 0, Window: 64240}
	switch i % 5 {
	case 0, 1:
		return kernlog.FormatSyslog(ts, "kkhost", "REJECT ", pkt) // another port
	case 2:
		return kernlog.FormatSyslog(ts, "kkhost", "DROP ", pkt) // another prefix
	case 3:
		return strings.Replace(kernlog.FormatSyslog(ts, "kkhost", "REJECT ", pkt), "PROTO=TCP", "PROTO=UDP", 1)
	}
	return fmt.Sprintf("%s kkhost kernel: [%6d.%06d] e1000e: eth0 NIC Link is Up 1000 Mbps Full Duplex, Flow Control: None",
		ts.Format(time.Stamp), i/1000, i%1000)
}

// makeProfiles creates n profiles with knock ports 4000, 4001, ...
func makeProfiles(t testing.TB, s *setup, n int) []*profile.Profile {
	t.Helper()
	var ps []*profile.Profile
	for i := 0; i < n; i++ {
		p, err := profile.Generate(s.profiles, fmt.Sprintf("p%03d", i), 4000+i)
		must(t, err)
		ps = append(ps, s.serverProfile(p))
	}
	return ps
}

// serverProfile loads p as kk-monitor does, with its counter in s.state.
func (s *setup) serverProfile(p *profile.Profile) *profile.Profile {
	s.t.Helper()
	sp, err := profile.LoadServer(p.Dir, s.state)
	must(s.t, err)
	return sp
}

// resetCounters puts every profile's state counter back to 0 for another
// replay, as kk-monitor's first start would have left it: the one-time
// take-over of a profile's counter file and the creation of its counter
// record (fsync'd writes per profile, which a later start finds done) are
// not part of a replay's start-up.
func resetCounters(t testing.TB, s *setup, ps []*profile.Profile) {
	t.Helper()
	for _, p := range ps {
		dir := filepath.Join(s.state, p.Name)
		must(t, os.MkdirAll(dir, 0o700))
		must(t, os.WriteFile(filepath.Join(dir, profile.CounterFile), []byte("0\n"), 0o600))
		if err := os.Remove(filepath.Join(dir, profile.RecordFile)); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		must(t, p.PrepareRecord())
	}
}

// A replayResult is what one replay run reported.
type replayResult struct {
	summary map[string]float64 // the summary line's fields
	wall    time.Duration
	maxRSS  int64 // bytes
}

// replay runs kk-monitor --from-start --exit-at-eof over the setup's log.
func (s *setup) replay(t testing.TB) replayResult {
	cmd := exec.Command(binary, "--config", s.config, "--profiles", s.profiles, "--state", s.state, "--log", s.logPath,
		"--socket", s.sock, "--allow-root", "--from-start", "--exit-at-eof")
	if os.Getenv("KK_REPLAY_STDERR") != "" {
		cmd.Stderr = os.Stderr
	}
	start := time.Now()
	out, err := cmd.Output()
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	r := replayResult{summary: map[string]float64{}, wall: wall}
	for _, kv := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(kv, "=")
		r.summary[k], _ = strconv.ParseFloat(v, 64)
	}
	// The child's own VmHWM: rusage's maxrss can include the forking parent.
	r.maxRSS = int64(r.summary["max_rss_kb"]) * 1024
	return r
}

func TestReplayFindsEveryValidKnock(t *testing.T) {
	s := newSetup(t)
	ps := makeProfiles(t, s, 3)
	writeReplayLog(t, s.logPath, ps, 20000, 50)
	r := s.replay(t)
	if r.summary["lines"] != 20000 || r.summary["opened"] != 50 || r.summary["accepted"] != 50 {
		t.Fatalf("summary %v, want 20000 lines, 50 accepted and opened", r.summary)
	}
	for i := 0; i < 50; i++ {
		if n := s.opens(replaySrc(i)); n != 1 {
			t.Errorf("valid knock %d opened %d times", i, n)
		}
	}
	if r.summary["refused"] < 150 {
		t.Errorf("only %v garbage knocks refused", r.summary["refused"])
	}
}

// BenchmarkReplay replays a generated 1,000,000-line kern.log through the
// kk-monitor binary (real tail, parse and verify, opens over gRPC to a fake
// firewall) and reports lines/s, wall-clock lines/s including start-up, and
// the peak RSS, with 1 and with 100 profiles.
func BenchmarkReplay(b *testing.B) {
	for _, np := range []int{1, 100} {
		b.Run(fmt.Sprintf("profiles=%d", np), func(b *testing.B) {
			benchReplay(b, newSetup(b), np)
		})
	}
}

func benchReplay(b *testing.B, s *setup, np int) {
	ps := makeProfiles(b, s, np)
	writeReplayLog(b, s.logPath, ps, 1_000_000, 50)
	resetCounters(b, s, ps)
	var runs []replayResult
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		resetCounters(b, s, ps)
		b.StartTimer()
		r := s.replay(b)
		if r.summary["opened"] != 50 {
			b.Fatalf("found %v of 50 valid knocks: %v", r.summary["opened"], r.summary)
		}
		runs = append(runs, r)
	}
	// The median run by wall-clock time: on a shared machine single runs
	// vary by a third, and the last one is no more telling than any other.
	slices.SortFunc(runs, func(a, b replayResult) int { return cmp.Compare(a.wall, b.wall) })
	med := runs[(len(runs)-1)/2]
	b.ReportMetric(med.summary["lines_per_second"], "lines/s")
	b.ReportMetric(1e6/med.wall.Seconds(), "wall-lines/s")
	b.ReportMetric(float64(med.maxRSS)/(1<<20), "maxRSS-MB")
	b.ReportMetric(med.summary["opened"], "valid-found")
}

// BenchmarkIdleRSS starts kk-monitor following an empty log with 1 and with
// 100 profiles and reports its resident set (VmRSS) once it has settled:
// profiles loaded, start-up memory released (a second after start), and
// two seconds more of idling. Verifiers are built on a profile's first
// knock, so this is the cost of profiles that are configured but quiet;
// BenchmarkReplay reports the peak with every verifier built.
func BenchmarkIdleRSS(b *testing.B) {
	for _, np := range []int{1, 100} {
		b.Run(fmt.Sprintf("profiles=%d", np), func(b *testing.B) {
			s := newSetup(b)
			makeProfiles(b, s, np)
			var rss float64
			for i := 0; i < b.N; i++ {
				cmd, logs := s.start()
				waitUntil(b, "profiles loaded", 30*time.Second, func() bool { return strings.Contains(logs(), "configuration loaded") })
				time.Sleep(3 * time.Second)
				rss = readRSS(b, cmd.Process.Pid)
				cmd.Process.Kill()
				cmd.Wait()
			}
			b.ReportMetric(rss, "RSS-MB")
		})
	}
}

// BenchmarkIdleRSSAfterKnocks is BenchmarkIdleRSS for a monitor that has
// served knocks, which map the gRPC client's code and allocate: it knocks
// 10 times on one profile, then reports the RSS right after the last
// opening, and again after 25 s of quiet (the release comes one to two
// quietPeriods after the last knock).
func BenchmarkIdleRSSAfterKnocks(b *testing.B) {
	s := newSetup(b)
	ps := makeProfiles(b, s, 1)
	var busy, quiet float64
	var counter uint32
	for i := 0; i < b.N; i++ {
		cmd, logs := s.start()
		waitUntil(b, "profiles loaded", 30*time.Second, func() bool { return strings.Contains(logs(), "configuration loaded") })
		for k := range 10 {
			s.knockUntilOpen(ps[0], &counter, netip.AddrFrom4([4]byte{198, 51, 100, byte(k + 1)}))
		}
		busy = readRSS(b, cmd.Process.Pid)
		time.Sleep(2*quietPeriod + 5*time.Second)
		quiet = readRSS(b, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
	}
	b.ReportMetric(busy, "busy-RSS-MB")
	b.ReportMetric(quiet, "RSS-MB")
}

// readRSS returns the VmRSS of process pid, in MiB.
func readRSS(b *testing.B, pid int) float64 {
	b.Helper()
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	must(b, err)
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			must(b, err)
			return kb / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
