// Package sdlog gives slog records their syslog priority in the systemd
// journal.
//
// A service's stderr under systemd is a stream to journald, which files every
// line at the unit's default priority, info, unless the line starts with a
// "<N>" prefix (sd-daemon(3); parsed while the unit keeps the default
// SyslogLevelPrefix=yes). Without it `journalctl -p err` shows none of kk's
// errors. So when the output is that stream, each line gets the prefix for
// its record's level:
//
//	level >= slog.LevelError  <3>  err
//	level >= slog.LevelWarn   <4>  warning
//	level >= slog.LevelInfo   <6>  info
//	otherwise                 <7>  debug
//
// followed by slog's usual text format.
//
// The stream is recognised the way systemd.exec(5) documents: systemd sets
// JOURNAL_STREAM to "DEV:INODE" of the stream it connected, and the output is
// that stream if fstat of the *os.File gives the same device and inode. The
// check is per file rather than "JOURNAL_STREAM is set" because the variable
// is inherited by children whose stderr was redirected, and a terminal, a
// file, a pipe or a writer that is not an *os.File must read exactly as
// slog.NewTextHandler writes it, with no prefix.
package sdlog

import (
	"context"
	"io"
	"log/slog"
	"sync"
)

// New returns a logger that writes slog's text format to w, each line
// prefixed with its priority when w is the journal stream.
func New(w io.Writer) *slog.Logger {
	return slog.New(NewHandler(w, nil))
}

// NewHandler returns a handler that writes slog's text format to w with opts,
// as slog.NewTextHandler does. If w is an *os.File that is the journal stream
// named by JOURNAL_STREAM, each record's line starts with "<N>", N being the
// syslog priority of its level; otherwise the handler is a plain
// *slog.TextHandler. The handler is safe for concurrent use and writes each
// record with a single Write.
func NewHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	if !isJournal(w) {
		return slog.NewTextHandler(w, opts)
	}
	var h handler
	mu := new(sync.Mutex)
	for i, p := range prefixes {
		h.text[i] = slog.NewTextHandler(&prefixWriter{mu: mu, w: w, prefix: p}, opts)
	}
	return h
}

// Writer returns w itself, or, if w is the journal stream, a writer that puts
// the prefix for level at the start of every line. It is for the lines a
// binary prints without slog, such as the error it exits with. Each Write is
// taken to begin a line.
func Writer(w io.Writer, level slog.Level) io.Writer {
	if !isJournal(w) {
		return w
	}
	return &prefixWriter{mu: new(sync.Mutex), w: w, prefix: prefixes[class(level)]}
}

// prefixes are indexed by class.
var prefixes = [...]string{"<3>", "<4>", "<6>", "<7>"}

// class returns the index in prefixes of the priority for level.
func class(level slog.Level) int {
	switch {
	case level >= slog.LevelError:
		return 0
	case level >= slog.LevelWarn:
		return 1
	case level >= slog.LevelInfo:
		return 2
	default:
		return 3
	}
}

// A handler holds one text handler per priority, each writing through a
// prefixWriter with that priority's prefix, so the prefix needs no state
// passed from Handle to Write. The four share options, attributes and groups.
type handler struct {
	text [len(prefixes)]slog.Handler
}

func (h handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.text[0].Enabled(ctx, level)
}

func (h handler) Handle(ctx context.Context, r slog.Record) error {
	return h.text[class(r.Level)].Handle(ctx, r)
}

func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i := range h.text {
		h.text[i] = h.text[i].WithAttrs(attrs)
	}
	return h
}

func (h handler) WithGroup(name string) slog.Handler {
	for i := range h.text {
		h.text[i] = h.text[i].WithGroup(name)
	}
	return h
}
