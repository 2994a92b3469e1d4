package sdlog

import (
	"bytes"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// isJournal reports whether w is an *os.File whose device and inode are the
// ones JOURNAL_STREAM names. Any doubt (unset, malformed, fstat failing)
// means no.
func isJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	dev, ino, ok := journalStream()
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && uint64(st.Dev) == dev && uint64(st.Ino) == ino
}

// journalStream parses JOURNAL_STREAM, "DEV:INODE" in decimal.
func journalStream() (dev, ino uint64, ok bool) {
	d, i, ok := strings.Cut(os.Getenv("JOURNAL_STREAM"), ":")
	if !ok {
		return 0, 0, false
	}
	dev, err := strconv.ParseUint(d, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	ino, err = strconv.ParseUint(i, 10, 64)
	return dev, ino, err == nil
}

// A prefixWriter puts prefix at the start of each Write and after every
// newline inside it, so no line reaches journald without a priority, and
// passes the result on in one Write. Writers sharing mu never interleave.
type prefixWriter struct {
	mu     *sync.Mutex
	w      io.Writer
	prefix string
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	body, nl := bytes.CutSuffix(b, []byte("\n"))
	line := make([]byte, 0, len(p.prefix)+len(b))
	line = append(line, p.prefix...)
	line = append(line, bytes.ReplaceAll(body, []byte("\n"), []byte("\n"+p.prefix))...)
	if nl {
		line = append(line, '\n')
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.w.Write(line); err != nil {
		return 0, err
	}
	return len(b), nil
}
