package sdlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// journalFile returns a temp file and sets JOURNAL_STREAM to its device and
// inode, so the file stands in for the journal stream.
func journalFile(t *testing.T) *os.File {
	t.Helper()
	f := tempFile(t, "journal")
	t.Setenv("JOURNAL_STREAM", devIno(t, f))
	return f
}

func tempFile(t *testing.T, name string) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func devIno(t *testing.T, f *os.File) string {
	t.Helper()
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

func contents(t *testing.T, f *os.File) string {
	t.Helper()
	b, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// opts enables every level and drops the time, so lines can be compared whole.
var opts = &slog.HandlerOptions{
	Level: slog.LevelDebug - 8,
	ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	},
}

func TestPrefixByLevel(t *testing.T) {
	tests := []struct {
		name  string
		level slog.Level
		want  string
	}{
		{"error", slog.LevelError, "<3>level=ERROR msg=m\n"},
		{"above error", slog.LevelError + 4, "<3>level=ERROR+4 msg=m\n"},
		{"warn", slog.LevelWarn, "<4>level=WARN msg=m\n"},
		{"between warn and error", slog.LevelWarn + 2, "<4>level=WARN+2 msg=m\n"},
		{"info", slog.LevelInfo, "<6>level=INFO msg=m\n"},
		{"between info and warn", slog.LevelInfo + 2, "<6>level=INFO+2 msg=m\n"},
		{"debug", slog.LevelDebug, "<7>level=DEBUG msg=m\n"},
		{"below debug", slog.LevelDebug - 4, "<7>level=DEBUG-4 msg=m\n"},
		{"between debug and info", slog.LevelDebug + 2, "<7>level=DEBUG+2 msg=m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := journalFile(t)
			slog.New(NewHandler(f, opts)).Log(context.Background(), tt.level, "m")
			if got := contents(t, f); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNoPrefix checks that anything but the journal stream reads exactly as
// slog.NewTextHandler writes it.
func TestNoPrefix(t *testing.T) {
	tests := []struct {
		name   string
		stream func(t *testing.T, f *os.File) string // JOURNAL_STREAM, "" to unset
		buffer bool                                  // log to a bytes.Buffer, not f
	}{
		{"unset", func(*testing.T, *os.File) string { return "" }, false},
		{"another file", func(t *testing.T, _ *os.File) string { return devIno(t, tempFile(t, "other")) }, false},
		{"same device, other inode", func(t *testing.T, f *os.File) string {
			dev, _, _ := strings.Cut(devIno(t, f), ":")
			return dev + ":1"
		}, false},
		{"malformed", func(*testing.T, *os.File) string { return "journal" }, false},
		{"trailing junk", func(t *testing.T, f *os.File) string { return devIno(t, f) + "x" }, false},
		{"not a file", func(t *testing.T, f *os.File) string { return devIno(t, f) }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tempFile(t, "stderr")
			if s := tt.stream(t, f); s != "" {
				t.Setenv("JOURNAL_STREAM", s)
			} else {
				unsetenv(t, "JOURNAL_STREAM")
			}
			var buf bytes.Buffer
			var w io.Writer = f
			if tt.buffer {
				w = &buf
			}
			logAll(slog.New(NewHandler(w, opts)))
			if !tt.buffer {
				buf.WriteString(contents(t, f))
			}
			var want bytes.Buffer
			logAll(slog.New(slog.NewTextHandler(&want, opts)))
			if buf.String() != want.String() {
				t.Errorf("got\n%s\nwant\n%s", buf.String(), want.String())
			}
		})
	}
}

func unsetenv(t *testing.T, key string) {
	t.Helper()
	t.Setenv(key, "") // restores the old value after the test
	os.Unsetenv(key)
}

func logAll(l *slog.Logger) {
	l.Error("e", "k", 1)
	l.Warn("w")
	l.Info("i")
	l.Debug("d")
}

func TestAttrsAndGroups(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"with", func(l *slog.Logger) { l.With("a", 1).Error("m", "b", 2) }, "<3>level=ERROR msg=m a=1 b=2\n"},
		{"group", func(l *slog.Logger) { l.WithGroup("g").Warn("m", "b", 2) }, "<4>level=WARN msg=m g.b=2\n"},
		{"with then group", func(l *slog.Logger) { l.With("a", 1).WithGroup("g").Info("m", "b", 2) }, "<6>level=INFO msg=m a=1 g.b=2\n"},
		{"group then with", func(l *slog.Logger) { l.WithGroup("g").With("a", 1).Debug("m", "b", 2) }, "<7>level=DEBUG msg=m g.a=1 g.b=2\n"},
		{"empty group", func(l *slog.Logger) { l.WithGroup("").Error("m", "b", 2) }, "<3>level=ERROR msg=m b=2\n"},
		{"siblings do not share", func(l *slog.Logger) {
			l.With("a", 1)
			l.With("c", 3).Warn("m")
		}, "<4>level=WARN msg=m c=3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := journalFile(t)
			tt.log(slog.New(NewHandler(f, opts)))
			if got := contents(t, f); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

type stringer string

func (s stringer) String() string { return string(s) }

// TestNewlinesStayOnOneLine checks that a newline anywhere in a record cannot
// start a line journald would file without a priority.
func TestNewlinesStayOnOneLine(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"message", func(l *slog.Logger) { l.Error("a\nb") }, `<3>level=ERROR msg="a\nb"` + "\n"},
		{"value", func(l *slog.Logger) { l.Error("m", "k", "a\nb") }, `<3>level=ERROR msg=m k="a\nb"` + "\n"},
		{"key", func(l *slog.Logger) { l.Error("m", "k\nk", 1) }, `<3>level=ERROR msg=m "k\nk"=1` + "\n"},
		{"error", func(l *slog.Logger) { l.Error("m", "err", errors.New("a\nb")) }, `<3>level=ERROR msg=m err="a\nb"` + "\n"},
		{"stringer", func(l *slog.Logger) { l.Error("m", "k", stringer("a\r\nb")) }, `<3>level=ERROR msg=m k="a\r\nb"` + "\n"},
		{"group", func(l *slog.Logger) { l.WithGroup("g\nh").Error("m", "k", 1) }, `<3>level=ERROR msg=m "g\nh.k"=1` + "\n"},
		{"with", func(l *slog.Logger) { l.With("k", "a\nb").Error("m") }, `<3>level=ERROR msg=m k="a\nb"` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := journalFile(t)
			tt.log(slog.New(NewHandler(f, opts)))
			if got := contents(t, f); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestPrefixWriter covers what slog never writes: several lines in one Write.
func TestPrefixWriter(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"one line", "a\n", "<3>a\n"},
		{"two lines", "a\nb\n", "<3>a\n<3>b\n"},
		{"no final newline", "a\nb", "<3>a\n<3>b"},
		{"empty line", "a\n\nb\n", "<3>a\n<3>\n<3>b\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			w := &prefixWriter{mu: new(sync.Mutex), w: &buf, prefix: "<3>"}
			n, err := w.Write([]byte(tt.in))
			if err != nil || n != len(tt.in) {
				t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(tt.in))
			}
			if buf.String() != tt.want {
				t.Errorf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}

func TestWriter(t *testing.T) {
	tests := []struct {
		name    string
		journal bool
		level   slog.Level
		want    string
	}{
		{"journal error", true, slog.LevelError, "<3>kk: failed\n<3>usage\n"},
		{"journal info", true, slog.LevelInfo, "<6>kk: failed\n<6>usage\n"},
		{"not journal", false, slog.LevelError, "kk: failed\nusage\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tempFile(t, "stderr")
			if tt.journal {
				f = journalFile(t)
			}
			fmt.Fprintf(Writer(f, tt.level), "kk: %s\n%s\n", "failed", "usage")
			if got := contents(t, f); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestEnabledPassesThrough(t *testing.T) {
	f := journalFile(t)
	h := NewHandler(f, &slog.HandlerOptions{Level: slog.LevelWarn})
	for level, want := range map[slog.Level]bool{
		slog.LevelDebug: false, slog.LevelInfo: false, slog.LevelWarn: true, slog.LevelError: true,
	} {
		if got := h.Enabled(context.Background(), level); got != want {
			t.Errorf("Enabled(%v) = %v, want %v", level, got, want)
		}
	}
	slog.New(h).Info("dropped")
	if got := contents(t, f); got != "" {
		t.Errorf("disabled record written: %q", got)
	}
}

// TestConcurrentRecordsKeepTheirPrefix logs from many goroutines at mixed
// levels; every line must be whole and carry its own level's prefix.
func TestConcurrentRecordsKeepTheirPrefix(t *testing.T) {
	f := journalFile(t)
	l := slog.New(NewHandler(f, opts)).With("a", strings.Repeat("x", 200))
	levels := []slog.Level{slog.LevelError, slog.LevelWarn, slog.LevelInfo, slog.LevelDebug}
	const perGoroutine = 200
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range perGoroutine {
				l.Log(context.Background(), levels[(g+i)%len(levels)], "m", "i", i)
			}
		})
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(contents(t, f), "\n"), "\n")
	if len(lines) != 8*perGoroutine {
		t.Fatalf("%d lines, want %d", len(lines), 8*perGoroutine)
	}
	want := map[string]string{"ERROR": "<3>", "WARN": "<4>", "INFO": "<6>", "DEBUG": "<7>"}
	for _, line := range lines {
		prefix, rest, _ := strings.Cut(line, "level=")
		level, _, _ := strings.Cut(rest, " ")
		if want[level] == "" || prefix != want[level] {
			t.Fatalf("line %q: prefix %q for level %q", line, prefix, level)
		}
	}
}
